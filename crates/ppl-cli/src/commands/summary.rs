//! `ppl summary DIR-or-CSV...`: merges chains written by one or many runs (for example chains run
//! on different machines with `--chain-id`) and prints the same diagnostics as `ppl run`.

use std::path::{Path, PathBuf};

use clap::Args;
use ppl_syntax::codes;

use crate::commands::run::Format;
use crate::frontend::{CommandError, Exit};
use crate::output::table;
use ppl_planner::RunReport;
use ppl_planner::draws::{ChainFile, sampler_totals, summarise};

#[derive(Args, Debug)]
pub struct SummaryArgs {
    /// Output directories of `ppl run --out` and/or draws CSV files.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// The quantiles of the table and JSON, e.g. `0.025,0.5,0.975` [default: 0.05,0.5,0.95].
    #[arg(long, value_name = "P,P,...")]
    pub quantiles: Option<String>,
}

pub fn run(args: SummaryArgs) -> Result<(), CommandError> {
    let json = args.format == Format::Json;
    summary(&args).map_err(|e| e.json(json))
}

fn summary(args: &SummaryArgs) -> Result<(), CommandError> {
    let fail = |message: String| {
        CommandError::message(codes::DRAWS_FILE_MALFORMED, message, Exit::ModelOrData)
    };
    let quantiles = args
        .quantiles
        .as_deref()
        .map(ppl_planner::draws::parse_quantiles)
        .transpose()
        .map_err(|m| CommandError::message(codes::BAD_SETTING, m, Exit::Usage))?;
    let mut files = Vec::new();
    for input in &args.inputs {
        files.extend(
            ppl_planner::draws::draw_files(input)
                .map_err(|e| fail(format!("cannot read `{}`: {e}", input.display())))?,
        );
    }
    if files.is_empty()
        && let [input] = args.inputs.as_slice()
        && input.is_dir()
        && input.join("summary.json").is_file()
    {
        return saved_summary(&input.join("summary.json"), args.format);
    }
    if files.is_empty() {
        return Err(fail(
            "no draws files (CSV files whose first column is lp__) in the given paths".into(),
        ));
    }
    let mut chains: Vec<ChainFile> = Vec::new();
    for file in &files {
        chains.push(ChainFile::read(file).map_err(fail)?);
    }
    let columns = chains[0].columns.clone();
    if let Some(other) = chains.iter().find(|c| c.columns != columns) {
        return Err(fail(format!(
            "`{}` and `{}` have different columns: they are not chains of one model",
            chains[0].path.display(),
            other.path.display()
        )));
    }
    let mut ids: Vec<u64> = chains.iter().filter_map(|c| c.chain_id).collect();
    ids.sort_unstable();
    if let Some(pair) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(fail(format!(
            "chain id {} appears twice: give each run its own `--chain-id` so that chains are independent",
            pair[0]
        )));
    }
    // The sampler that wrote the files decides what their sampler columns mean: a random-walk
    // or Gibbs chain has no step size, tree depth or energy worth a diagnostic.
    let method = files
        .iter()
        .find_map(|file| sampler_of(file))
        .unwrap_or_else(|| "nuts".to_string());
    let hamiltonian = !matches!(method.as_str(), "gibbs" | "metropolis");
    let max_depth = if hamiltonian {
        chains
            .iter()
            .filter_map(|c| c.max_depth)
            .max()
            .unwrap_or(10)
    } else {
        u32::MAX
    };
    let rows: Vec<Vec<Vec<f64>>> = chains.iter().map(|c| c.rows.clone()).collect();
    let mut totals = sampler_totals(&rows, max_depth);
    if !hamiltonian {
        totals.ebfmi.clear();
    }
    let mut report = RunReport {
        method: method.clone(),
        reason: format!(
            "the draws of {} chain{} read from {} file{} and merged (the method is the one named in the files)",
            chains.len(),
            plural(chains.len()),
            files.len(),
            plural(files.len())
        ),
        summary: summarise(&columns, &rows),
        ..RunReport::default()
    };
    report.quantiles = quantiles
        .map(|probabilities| ppl_planner::draws::quantile_table(&columns, &rows, &probabilities));
    report.notes.push(format!("{} draws in all", totals.draws));
    totals.describe(&mut report);
    let chain_ids: Vec<u64> = chains
        .iter()
        .enumerate()
        .map(|(index, chain)| chain.chain_id.unwrap_or(index as u64 + 1))
        .collect();
    let details = ppl_planner::draws::chain_details(&rows, max_depth);
    if hamiltonian {
        ppl_planner::draws::describe_chains(&details, &chain_ids, &mut report);
    } else {
        let mut per_chain = Vec::new();
        for (detail, chain_id) in details.iter().zip(&chain_ids) {
            report.notes.push(format!(
                "chain {chain_id}: mean lp__ {}",
                crate::output::format_number(detail.mean_lp)
            ));
            per_chain.push(serde_json::json!({
                "chain_id": chain_id,
                "mean_lp": ppl_planner::report::number(detail.mean_lp),
            }));
        }
        report
            .diagnostics
            .insert("per_chain".into(), serde_json::Value::Array(per_chain));
    }
    report.warnings = ppl_planner::drivers::mcmc::warnings(
        &report,
        &totals,
        &ppl_planner::drivers::mcmc::WarningContext {
            chains: chains.len(),
            max_depth,
            centred: &[],
        },
    );
    match args.format {
        Format::Json => println!("{}", report.to_json()),
        Format::Table => print!("{}", table(&report)),
    }
    Ok(())
}

/// The output directory of a method without draws files (EM, MAP, ADVI): its `summary.json`,
/// shown as `ppl run` showed it.
fn saved_summary(path: &Path, format: Format) -> Result<(), CommandError> {
    let fail = |message: String| {
        CommandError::message(codes::SUMMARY_FILE_MALFORMED, message, Exit::ModelOrData)
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| fail(format!("cannot read `{}`: {e}", path.display())))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| fail(format!("`{}` is not JSON: {e}", path.display())))?;
    let report = RunReport::from_json(&value).ok_or_else(|| {
        fail(format!(
            "`{}` is not a ppl summary (no \"method\" field)",
            path.display()
        ))
    })?;
    match format {
        Format::Json => println!("{value}"),
        Format::Table => print!("{}", table(&report)),
    }
    Ok(())
}

/// The sampler named in a draws file's `# method = sample (NAME)` comment (`nuts`, `hmc`,
/// `gibbs`, `metropolis`), if it has one.
fn sampler_of(path: &Path) -> Option<String> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).ok()?;
    std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .take_while(|line| line.starts_with('#') || line.trim().is_empty())
        .find_map(|line| {
            let name = line
                .trim_start_matches('#')
                .trim()
                .strip_prefix("method = sample (")?
                .strip_suffix(')')?
                .trim()
                .to_ascii_lowercase();
            matches!(name.as_str(), "nuts" | "hmc" | "gibbs" | "metropolis").then_some(name)
        })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
