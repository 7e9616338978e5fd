//! `ppl compare DIR1 DIR2 ...`: ranks runs of models fitted to the same observations by their
//! PSIS-LOO elpd (`ppl_infer::loo_compare`), with each one's difference from the best and the
//! standard error of that paired difference.

use std::path::PathBuf;

use clap::Args;
use ppl_syntax::codes;

use crate::commands::loo::{k_counts, loo_of_run};
use crate::commands::run::Format;
use crate::frontend::{CommandError, Exit};

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Output directories of `ppl run --log-lik --out DIR`, one per model.
    #[arg(required = true, num_args = 2..)]
    pub dirs: Vec<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

pub fn run(args: CompareArgs) -> Result<(), CommandError> {
    let json = args.format == Format::Json;
    compare(&args).map_err(|e| e.json(json))
}

fn compare(args: &CompareArgs) -> Result<(), CommandError> {
    let mut results = Vec::with_capacity(args.dirs.len());
    for dir in &args.dirs {
        results.push(loo_of_run(
            dir,
            crate::commands::loo::RelativeEfficiency::FromChains,
        )?);
    }
    let references: Vec<&ppl_infer::LooResult> = results.iter().collect();
    let ranking = ppl_infer::loo_compare(&references).map_err(|error| {
        CommandError::message(codes::UNSUPPORTED, error.to_string(), Exit::ModelOrData)
    })?;
    let name = |index: usize| args.dirs[index].display().to_string();
    match args.format {
        Format::Json => {
            let rows: Vec<serde_json::Value> = ranking
                .iter()
                .enumerate()
                .map(|(rank, row)| {
                    let result = &results[row.model];
                    let (good, bad, very_bad) = k_counts(result);
                    serde_json::json!({
                        "rank": rank + 1,
                        "run": name(row.model),
                        "elpd_loo": row.elpd_loo,
                        "se": result.standard_error,
                        "p_loo": result.p_loo,
                        "elpd_diff": row.elpd_difference,
                        "dse": row.difference_standard_error,
                        "pareto_k_counts": {"good": good, "bad": bad, "very_bad": very_bad},
                    })
                })
                .collect();
            println!("{}", serde_json::json!({ "models": rows }));
        }
        Format::Table => {
            let width = args
                .dirs
                .iter()
                .map(|d| d.display().to_string().chars().count())
                .max()
                .unwrap_or(0)
                .max(3);
            println!(
                "{:<width$}  {:>10} {:>7} {:>8} {:>10} {:>7}  k̂ bad",
                "run", "elpd_loo", "se", "p_loo", "elpd_diff", "dse"
            );
            for row in &ranking {
                let result = &results[row.model];
                let (_, bad, very_bad) = k_counts(result);
                println!(
                    "{:<width$}  {:>10.2} {:>7.2} {:>8.2} {:>10.2} {:>7.2}  {}",
                    name(row.model),
                    row.elpd_loo,
                    result.standard_error,
                    result.p_loo,
                    row.elpd_difference,
                    row.difference_standard_error,
                    bad + very_bad
                );
            }
            if let Some(runner_up) = ranking.get(1)
                && runner_up.elpd_difference < 2.0 * runner_up.difference_standard_error
            {
                println!(
                    "\nthe difference between the first two is within two standard errors: the data do not clearly prefer one"
                );
            }
        }
    }
    Ok(())
}
