//! `ppl simulate MODEL --set ... [--n N] --out data.csv`: draws a data set from the model with
//! some unknowns fixed by `--set` and the rest drawn from their priors.

use std::path::PathBuf;

use clap::Args;
use ppl_syntax::codes;

use crate::frontend::{CommandError, Exit, load_model, parse_numbers, parse_set};

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// The model file.
    pub model: PathBuf,
    /// Fix an unknown or a dimension: `--set 'mu=[-1,1]'`, `--set N=500`.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
    /// Number of data points: the length of the observed variables' first dimension.
    #[arg(long)]
    pub n: Option<usize>,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The CSV file to write (columns named as the observed variables).
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
    let loaded = load_model(&args.model, &[])?;
    crate::render::write_all(&loaded.warnings, &loaded.file_name, &loaded.source);
    let request = ppl_model::simulate::SimulationRequest {
        fixed: sets,
        n: args.n,
        seed: args.seed,
    };
    let table = ppl_model::simulate::simulate(&loaded.model, &request)
        .map_err(|diagnostics| CommandError::new(diagnostics, Some(&loaded), Exit::ModelOrData))?;
    crate::output::write_atomically(&args.out, table.to_csv().as_bytes())
        .map_err(|e| CommandError::cannot_write(&args.out, &e))?;
    eprintln!("wrote {} rows to {}", table.rows, args.out.display());
    Ok(())
}
