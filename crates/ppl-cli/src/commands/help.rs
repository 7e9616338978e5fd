//! `ppl help TOPIC`: the settings (from the planner's one table), the inference methods and the
//! rules that pick them, or a command's own `--help`.

use clap::Args;
use ppl_ir::Method;

use crate::frontend::{CommandError, Exit};

#[derive(Args, Debug)]
pub struct HelpArgs {
    /// `settings`, `methods`, `distributions`, `functions`, `library`, a method (`nuts`, `em`,
    /// ...), or a command (`run`, `check`, ...).
    pub topic: Option<String>,
}

pub fn run(args: HelpArgs, mut command: clap::Command) -> Result<(), CommandError> {
    // Built, a subcommand knows its full name: `ppl help run` prints `Usage: ppl run ...` as
    // `ppl run --help` does, not `Usage: run ...`.
    command.build();
    let Some(topic) = args.topic else {
        let _ = command.print_long_help();
        return Ok(());
    };
    if topic == "settings" {
        print!("{}", ppl_planner::settings::help_text());
        return Ok(());
    }
    if topic == "distributions" {
        print!("{}", distributions_text());
        return Ok(());
    }
    if topic == "functions" {
        print!("{}", functions_text());
        return Ok(());
    }
    if topic == "methods" {
        print!("{}", methods_text());
        return Ok(());
    }
    if topic == "library" {
        print!("{}", library_text());
        return Ok(());
    }
    if let Some(method) = Method::from_name(&topic) {
        print!("{}", method_text(method));
        return Ok(());
    }
    if let Some(sub) = command.find_subcommand_mut(&topic) {
        let _ = sub.print_long_help();
        return Ok(());
    }
    let mut topics = vec![
        "settings",
        "methods",
        "distributions",
        "functions",
        "library",
    ];
    topics.extend(Method::ALL.iter().map(|m| m.name()));
    let commands: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_string())
        .collect();
    topics.extend(commands.iter().map(String::as_str));
    let hint = match ppl_syntax::diagnostic::closest(&topic, topics.iter().copied()) {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    };
    Err(CommandError::message(
        ppl_syntax::codes::USAGE,
        format!(
            "no help topic `{topic}`{hint}; topics: {}",
            topics.join(", ")
        ),
        Exit::Usage,
    ))
}

/// Every distribution of the catalogue the checker resolves against, with its forms.
fn distributions_text() -> String {
    let mut out = String::from(
        "Distributions (`y ~ Name(args)`; parameters in order, or by keyword `name = value`).\nA keyword selects the parameterisation that has it; the first form is the positional one.\n\n",
    );
    for family in ppl_dist::catalog::families() {
        let forms: Vec<String> = family
            .parameterisations
            .iter()
            .map(|form| {
                let params: Vec<String> = form
                    .params
                    .iter()
                    .map(|p| {
                        let mut text = p.name.to_string();
                        if !p.aliases.is_empty() {
                            text.push_str(&format!(" (or {})", p.aliases.join(", ")));
                        }
                        match p.rank {
                            1 => text.push_str(": vector"),
                            2 => text.push_str(": matrix"),
                            _ => {}
                        }
                        text
                    })
                    .collect();
                format!("{}({})", family.name, params.join(", "))
            })
            .collect();
        // Forms too long for the column put the support on a line of its own, so that every
        // `support:` stands in one column.
        let forms = forms.join("  |  ");
        let support = family.support.describe();
        if forms.chars().count() <= 40 {
            out.push_str(&format!("  {forms:<40} support: {support}\n"));
        } else {
            out.push_str(&format!("  {forms}\n  {:<40} support: {support}\n", ""));
        }
    }
    out
}

/// Every built-in function, from the table the checker uses.
fn functions_text() -> String {
    let mut out =
        String::from("Built-in functions (arguments: positional first, then `name = value`):\n\n");
    for builtin in ppl_ir::Builtin::ALL {
        let (low, high) = builtin.arity();
        let arity = if low == high {
            format!("{low}")
        } else {
            format!("{low}-{high}")
        };
        out.push_str(&format!(
            "  {:<16} {:<6} {}\n",
            builtin.name(),
            arity,
            builtin.description()
        ));
    }
    let mut with_cdf: Vec<&str> = ppl_dist::KINDS_WITH_CDF
        .iter()
        .map(|k| k.family().name)
        .collect();
    // A family's forms (Bernoulli's logit form, ...) sit next to each other in the catalogue.
    with_cdf.dedup();
    out.push_str(&format!(
        "\n  {:<16} {:<6} log density of a scalar distribution at x, elementwise\n  {:<16} {:<6} log P(X <= x), log P(X > x), for {}\n",
        "logpdf(D, x)",
        "2",
        "logcdf, logccdf",
        "2",
        with_cdf.join(", ")
    ));
    out.push_str("\nConstants: pi, inf. Arithmetic broadcasts like NumPy over trailing axes.\n");
    out
}

/// The library models, each signature and description read from the shipped file itself.
fn library_text() -> String {
    let mut out = String::from(
        "Library models (LANGUAGE.md §5), used in one line: `x ~ VAE(latent = 2, hidden = [128])`.\nArguments by position or by name; left out, they take the default. Each is an ordinary\nmodel file: copy it (see library/README.md), edit it, and run it as your own model.\n",
    );
    for file in ppl_ir::library::LIBRARY {
        out.push_str(&format!("\n  {}\n    {}\n", file.signature(), file.path));
        for line in file.description() {
            out.push_str(&format!("    {line}\n"));
        }
    }
    out
}

fn methods_text() -> String {
    let mut out = String::from(
        "Inference methods (`ppl run --method NAME`, or `infer NAME(...)` in the model).\n`auto` applies these rules in order and prints which one it used and why:\n\n",
    );
    for rule in ppl_planner::Rule::ALL {
        out.push_str(&format!("  {}. {}\n", rule.number(), rule.title()));
    }
    out.push('\n');
    for method in Method::ALL {
        out.push_str(&format!(
            "  {:<11} {}\n",
            method.name(),
            method.description()
        ));
    }
    out.push_str("\n`ppl help METHOD` lists a method's settings.\n");
    out
}

fn method_text(method: Method) -> String {
    let mut out = format!("{}: {}\n\nSettings:\n", method.name(), method.description());
    let mut any = false;
    for def in ppl_planner::SETTINGS {
        if def.methods.contains(&method) {
            any = true;
            out.push_str(&format!(
                "  --{:<14} default {:<8} {}\n",
                def.setting.flag(),
                def.default_text(),
                def.help
            ));
        }
    }
    if !any {
        out.push_str("  (none)\n");
    }
    if method == Method::Gibbs {
        out.push_str(GIBBS_UPDATES);
        for pattern in ppl_model::gibbs::CONJUGATE_PATTERNS {
            out.push_str(&format!("  - {pattern}\n"));
        }
    }
    out
}

/// How a Gibbs sweep updates a model, for `ppl help gibbs`.
const GIBBS_UPDATES: &str = "
Each sweep:
  - discrete unknowns: when all of them could be summed out (a plate, a small scalar, a
    first-order chain), one block from their exact conditional given the continuous unknowns
    (per element, or the whole chain by forward-filtering backward-sampling), right after
    a move of the continuous unknowns on their marginal (partially collapsed Gibbs);
    otherwise each element from its full conditional by enumeration over its support;
  - continuous unknowns with a conjugate full conditional: an exact draw;
  - the other continuous unknowns: one NUTS transition on their conditional when the density
    is differentiable in them (NUTS within Gibbs: step size by dual averaging, diagonal
    metric from the warmup windows); when a comparison or an `if` condition reads one,
    random-walk Metropolis within Gibbs, the scale adapted in warmup toward 0.234 acceptance
    (0.44 for one coordinate).
`auto` uses Gibbs when a discrete latent cannot be summed out of the log density.

Conjugate patterns recognised (the prior's arguments constant):
";
