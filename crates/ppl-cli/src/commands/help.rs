//! `ppl help TOPIC`: the settings (from the planner's one table), the inference methods and the
//! rules that pick them, or a command's own `--help`.

use clap::Args;
use ppl_ir::Method;

use crate::frontend::{CommandError, Exit};

#[derive(Args, Debug)]
pub struct HelpArgs {
    /// `settings`, `methods`, a method (`nuts`, `em`, ...), or a command (`run`, `check`, ...).
    pub topic: Option<String>,
}

pub fn run(args: HelpArgs, mut command: clap::Command) -> Result<(), CommandError> {
    let Some(topic) = args.topic else {
        let _ = command.print_long_help();
        return Ok(());
    };
    if topic == "settings" {
        print!("{}", ppl_planner::settings::help_text());
        return Ok(());
    }
    if topic == "methods" {
        print!("{}", methods_text());
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
    let mut topics = vec!["settings", "methods"];
    topics.extend(Method::ALL.iter().map(|m| m.name()));
    topics.extend(["run", "check", "simulate", "summary", "repl"]);
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
    out
}
