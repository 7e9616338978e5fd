//! `ppl simulate MODEL [--set ...] [--n N] [--data F] --out data.csv`: draws a data set from the
//! model (prior predictive) with some unknowns fixed by `--set`, the rest drawn from their priors
//! and covariates read from `--data`. `ppl simulate DIR --data new.csv --out rep.csv`: posterior
//! predictive draws for new covariates from a fitted run (the model saved in `DIR/model.model`
//! by `ppl run --out DIR`, or `--model`), one replicate per saved draw or `--n` of them.

use std::path::{Path, PathBuf};

use clap::Args;
use ppl_syntax::codes;

use crate::frontend::{CommandError, Exit, load_model, parse_numbers, parse_set};

/// The copy of the model `ppl run --out DIR` saves beside the draws.
pub const SAVED_MODEL: &str = "model.model";

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// The model file, or the output directory of a fitted run (posterior predictive).
    pub model: PathBuf,
    /// Fix an unknown or a dimension: `--set 'mu=[-1,1]'`, `--set N=500`.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
    /// Number of data points: the length of the observed variables' first dimension (from a fitted
    /// run: the number of replicates, default one per saved draw).
    #[arg(long)]
    pub n: Option<usize>,
    /// Covariates: a data file holding the observed variables that have no distribution.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// With a run directory: the model file, when the directory has no saved `model.model`.
    #[arg(long = "model", value_name = "FILE")]
    pub model_file: Option<PathBuf>,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The CSV file to write (columns named as the observed variables; from a fitted run
    /// `y_rep[1]`, ... one row per replicate).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: SimulateArgs) -> Result<(), CommandError> {
    let mut sets = Vec::new();
    for set in &args.sets {
        let (name, value) =
            parse_set(set).map_err(|m| CommandError::message(codes::BAD_SET, m, Exit::Usage))?;
        let numbers = parse_numbers(&value)
            .map_err(|m| CommandError::message(codes::BAD_SET, m, Exit::Usage))?;
        sets.push((name, numbers));
    }
    let fitted_run = args.model.is_dir().then(|| args.model.clone());
    let model_path = match (&fitted_run, &args.model_file) {
        (_, Some(file)) => file.clone(),
        (Some(dir), None) => dir.join(SAVED_MODEL),
        (None, None) => args.model.clone(),
    };
    if fitted_run.is_some() && !model_path.is_file() {
        return Err(CommandError::message(
            codes::NO_DRAWS,
            format!(
                "`{}` has no saved model ({SAVED_MODEL}): pass the model file with `--model FILE`",
                args.model.display()
            ),
            Exit::Usage,
        ));
    }
    let loaded = load_model(&model_path, &[])?;
    // An unknown fixed by `--set`, or taken from the fitted draws, is not drawn from its prior:
    // its flat prior does not matter here.
    let fixed_spans: Vec<ppl_syntax::Span> = loaded
        .model
        .variables
        .iter()
        .filter(|v| fitted_run.is_some() || sets.iter().any(|(name, _)| *name == v.name))
        .map(|v| v.name_span)
        .collect();
    let warnings: Vec<ppl_syntax::Diagnostic> = loaded
        .warnings
        .iter()
        .filter(|w| {
            !(w.code == codes::IMPROPER_PRIOR && w.span.is_some_and(|s| fixed_spans.contains(&s)))
        })
        .cloned()
        .collect();
    crate::render::write_all(&warnings, &loaded.file_name, &loaded.source);
    let data = match &args.data {
        Some(path) => Some(
            ppl_planner::load::read_data_file(path)
                .map_err(|error| CommandError::from_fit(error, Some(&loaded)))?,
        ),
        None => None,
    };
    let request = ppl_model::simulate::SimulationRequest {
        fixed: sets,
        n: args.n,
        seed: args.seed,
    };
    let model_error =
        |diagnostics| CommandError::new(diagnostics, Some(&loaded), Exit::ModelOrData);
    let table = match &fitted_run {
        None => ppl_model::simulate::simulate_with_data(&loaded.model, &request, data.as_ref())
            .map_err(model_error)?,
        Some(dir) => {
            let (columns, rows) = fitted_draws(dir)?;
            let draws = ppl_model::simulate::FittedDraws {
                columns: &columns,
                rows: &rows,
            };
            ppl_model::simulate::simulate_predictive(&loaded.model, &request, data.as_ref(), draws)
                .map_err(model_error)?
        }
    };
    crate::output::write_atomically(&args.out, table.to_csv().as_bytes())
        .map_err(|e| CommandError::cannot_write(&args.out, &e))?;
    eprintln!("wrote {} rows to {}", table.rows, args.out.display());
    Ok(())
}

/// Every chain's draws of a run directory, chain after chain.
fn fitted_draws(dir: &Path) -> Result<(Vec<String>, Vec<Vec<f64>>), CommandError> {
    let chains = crate::commands::loo::read_chains(dir)?;
    let columns = chains
        .first()
        .map(|c| c.columns.clone())
        .unwrap_or_default();
    let rows = chains.into_iter().flat_map(|c| c.rows).collect();
    Ok((columns, rows))
}
