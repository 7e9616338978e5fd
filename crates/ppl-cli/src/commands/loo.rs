//! `ppl loo DIR`: PSIS-LOO (`ppl_infer::loo`) from the `log_lik.n` columns of a run's draws
//! files, written by `ppl run --log-lik`. The draws of every chain are pooled; the relative
//! efficiency of each observation is the ESS of its likelihood over the chains divided by the
//! draws, as R's `loo::relative_eff` computes it (`--reff 1` takes it as 1, as `az.loo` does for
//! draws without chain structure). It sets PSIS's tail length and the MCSE of `elpd_loo`.

use std::path::{Path, PathBuf};

use clap::Args;
use ppl_infer::LooResult;
use ppl_planner::draws::ChainFile;
use ppl_syntax::codes;

use crate::commands::run::Format;
use crate::frontend::{CommandError, Exit};

#[derive(Args, Debug)]
pub struct LooArgs {
    /// The output directory of `ppl run --log-lik --out DIR` (or one draws CSV file).
    pub dir: PathBuf,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// The relative efficiency: `ess` (per observation, from the chains) or a number in (0, 1].
    #[arg(long, default_value = "ess", value_name = "ess|X")]
    pub reff: String,
}

/// Where the relative efficiency of PSIS-LOO comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RelativeEfficiency {
    /// Per observation, from the chains' ESS.
    FromChains,
    /// The same number for every observation.
    Fixed(f64),
}

impl RelativeEfficiency {
    pub fn parse(text: &str) -> Result<RelativeEfficiency, CommandError> {
        if text == "ess" {
            return Ok(RelativeEfficiency::FromChains);
        }
        match text.parse::<f64>() {
            Ok(x) if x > 0.0 && x <= 1.0 => Ok(RelativeEfficiency::Fixed(x)),
            _ => Err(CommandError::message(
                codes::BAD_SETTING,
                format!("`--reff {text}`: expected `ess` or a number in (0, 1]"),
                Exit::Usage,
            )),
        }
    }
}

/// How many of the worst observations (by k̂) the table lists.
const WORST_SHOWN: usize = 5;

pub fn run(args: LooArgs) -> Result<(), CommandError> {
    let json = args.format == Format::Json;
    let result = RelativeEfficiency::parse(&args.reff)
        .and_then(|reff| loo_of_run(&args.dir, reff))
        .map_err(|e| e.json(json))?;
    match args.format {
        Format::Json => println!("{}", to_json(&result)),
        Format::Table => print!("{}", table(&result)),
    }
    Ok(())
}

/// Reads every draws file of `path` (a run directory or one CSV file), pools their rows and
/// returns PSIS-LOO of the `log_lik.n` columns. Errors: E0901 when there are no draws files or
/// they are not chains of one model, E0708 when a file is malformed, E0705 when the draws have
/// no `log_lik` columns (rerun with `--log-lik`) or PSIS fails.
pub fn loo_of_run(path: &Path, reff: RelativeEfficiency) -> Result<LooResult, CommandError> {
    let chains = read_chains(path)?;
    let columns = &chains[0].columns;
    let log_lik: Vec<usize> = columns
        .iter()
        .enumerate()
        .filter(|(_, name)| name.starts_with("log_lik.") || name.as_str() == "log_lik")
        .map(|(index, _)| index)
        .collect();
    if log_lik.is_empty() {
        return Err(CommandError::message(
            codes::UNSUPPORTED,
            format!(
                "the draws in `{}` have no log_lik columns: rerun with --log-lik",
                path.display()
            ),
            Exit::ModelOrData,
        ));
    }
    let mut matrix = Vec::new();
    let mut draws = 0;
    for chain in &chains {
        for row in &chain.rows {
            for &index in &log_lik {
                matrix.push(row.get(index).copied().unwrap_or(f64::NAN));
            }
            draws += 1;
        }
    }
    if let Some(position) = matrix.iter().position(|v| !v.is_finite()) {
        return Err(CommandError::message(
            codes::DRAWS_FILE_MALFORMED,
            format!(
                "draw {} has a non-finite {}: PSIS-LOO needs every pointwise log-likelihood finite",
                position / log_lik.len() + 1,
                columns[log_lik[position % log_lik.len()]]
            ),
            Exit::ModelOrData,
        ));
    }
    let observations = log_lik.len();
    let efficiencies = match reff {
        RelativeEfficiency::Fixed(x) => vec![x; observations],
        RelativeEfficiency::FromChains => {
            let lengths: Vec<usize> = chains.iter().map(|c| c.rows.len()).collect();
            ppl_infer::relative_efficiencies(&matrix, &lengths, observations)
        }
    };
    ppl_infer::loo_with_relative_efficiencies(&matrix, draws, observations, &efficiencies).map_err(
        |error| {
            CommandError::message(
                codes::UNSUPPORTED,
                format!("PSIS-LOO of `{}`: {error}", path.display()),
                Exit::ModelOrData,
            )
        },
    )
}

pub(crate) fn read_chains(path: &Path) -> Result<Vec<ChainFile>, CommandError> {
    let no_draws =
        |message: String| CommandError::message(codes::NO_DRAWS, message, Exit::ModelOrData);
    let files = ppl_planner::draws::draw_files(path)
        .map_err(|e| no_draws(format!("cannot read `{}`: {e}", path.display())))?;
    if files.is_empty() {
        return Err(no_draws(format!(
            "no draws files (CSV files whose first column is lp__) in `{}`",
            path.display()
        )));
    }
    let mut chains = Vec::with_capacity(files.len());
    for file in &files {
        chains.push(ChainFile::read(file).map_err(|message| {
            CommandError::message(codes::DRAWS_FILE_MALFORMED, message, Exit::ModelOrData)
        })?);
    }
    if let Some(other) = chains.iter().find(|c| c.columns != chains[0].columns) {
        return Err(no_draws(format!(
            "`{}` and `{}` have different columns: they are not chains of one model",
            chains[0].path.display(),
            other.path.display()
        )));
    }
    Ok(chains)
}

/// The k̂ bands of Vehtari et al. (2024), as ArviZ and R's `loo` count them: good ≤ the
/// sample-size threshold `min(1 − 1/log10 S, 0.7)` < bad ≤ 1 < very bad.
pub fn k_counts(result: &LooResult) -> (usize, usize, usize) {
    let good = result
        .pareto_k
        .iter()
        .filter(|k| **k <= result.k_threshold)
        .count();
    let very_bad = result.pareto_k.iter().filter(|k| **k > 1.0).count();
    (good, result.pareto_k.len() - good - very_bad, very_bad)
}

/// The observations with the largest k̂ above the threshold, worst first, 1-based.
fn worst(result: &LooResult) -> Vec<(usize, f64)> {
    let mut points: Vec<(usize, f64)> = result
        .pareto_k
        .iter()
        .enumerate()
        .filter(|(_, k)| **k > result.k_threshold)
        .map(|(n, k)| (n + 1, *k))
        .collect();
    points.sort_by(|a, b| b.1.total_cmp(&a.1));
    points.truncate(WORST_SHOWN);
    points
}

pub fn table(result: &LooResult) -> String {
    let (good, bad, very_bad) = k_counts(result);
    let mut out = format!(
        "PSIS-LOO over {} observations\n\n           estimate      SE\nelpd_loo {:>10.2} {:>7.2}\np_loo    {:>10.2}\nlooic    {:>10.2} {:>7.2}\n\nPareto k diagnostic:\n  (-Inf, {threshold:.2}] (good)     {good}\n  ({threshold:.2}, 1]    (bad)      {bad}\n  (1, Inf)     (very bad) {very_bad}\n",
        result.pointwise.len(),
        result.elpd_loo,
        result.standard_error,
        result.p_loo,
        -2.0 * result.elpd_loo,
        2.0 * result.standard_error,
        threshold = result.k_threshold,
    );
    let (low, high) = result
        .relative_efficiency
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
            (lo.min(*r), hi.max(*r))
        });
    out.push_str(&format!(
        "\nMonte Carlo SE of elpd_loo {:.2} (relative efficiency {low:.2} to {high:.2})\n",
        result.mcse_elpd_loo
    ));
    let worst = worst(result);
    if !worst.is_empty() {
        out.push_str("worst observations (k̂): ");
        let listed: Vec<String> = worst.iter().map(|(n, k)| format!("{n} ({k:.2})")).collect();
        out.push_str(&listed.join(", "));
        out.push_str("\nwarning: some k̂ above the threshold: the elpd estimate is unreliable for these observations (moment matching or exact LOO for them is advised)\n");
    }
    out
}

pub fn to_json(result: &LooResult) -> serde_json::Value {
    let (good, bad, very_bad) = k_counts(result);
    serde_json::json!({
        "observations": result.pointwise.len(),
        "elpd_loo": result.elpd_loo,
        "se": result.standard_error,
        "p_loo": result.p_loo,
        "mcse_elpd_loo": result.mcse_elpd_loo,
        "relative_efficiency": result.relative_efficiency,
        "looic": -2.0 * result.elpd_loo,
        "pareto_k": result.pareto_k,
        "pareto_k_threshold": result.k_threshold,
        "pareto_k_counts": {"good": good, "bad": bad, "very_bad": very_bad},
        "worst": worst(result).iter().map(|(n, k)| serde_json::json!({"observation": n, "k": k})).collect::<Vec<_>>(),
        "pointwise_elpd_loo": result.pointwise,
    })
}
