//! `ppl-bench gradient`: the cost of one log-density-and-gradient evaluation of a model bound to
//! its data, in process (the tape the NUTS driver uses), at a fixed position near the origin of
//! the unconstrained space. Repeated evaluations at one point measure the kernel, not the
//! sampler: what a leapfrog step costs apart from NUTS's own bookkeeping.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ppl_infer::LogDensity;
use serde_json::{Value, json};

use crate::error::BenchError;
use crate::stats::round;

pub const USAGE: &str = "ppl-bench gradient --model FILE.model --data FILE [--evals N]";

pub struct GradientCommand {
    model: PathBuf,
    data: PathBuf,
    evals: usize,
}

impl GradientCommand {
    pub fn parse(arguments: &[String]) -> Result<GradientCommand, BenchError> {
        let usage = || BenchError::Usage(format!("usage: {USAGE}"));
        let (mut model, mut data, mut evals) = (None, None, 2000);
        let mut rest = arguments.iter();
        while let Some(flag) = rest.next() {
            let value = rest.next().ok_or_else(usage)?;
            match flag.as_str() {
                "--model" => model = Some(PathBuf::from(value)),
                "--data" => data = Some(PathBuf::from(value)),
                "--evals" => evals = value.parse().map_err(|_| usage())?,
                _ => return Err(usage()),
            }
        }
        Ok(GradientCommand {
            model: model.ok_or_else(usage)?,
            data: data.ok_or_else(usage)?,
            evals: evals.max(1),
        })
    }

    pub fn run(&self) -> Result<Value, BenchError> {
        let mut tape = build_tape(&self.model, Some(&self.data))?;
        let dim = tape.dim();
        let position: Vec<f64> = (0..dim).map(|i| 0.01 * ((i % 7) as f64 - 3.0)).collect();
        let mut gradient = vec![0.0; dim];
        // Warm the caches and the branch predictors before timing.
        for _ in 0..self.evals.min(50) {
            let _ = tape.log_density_and_gradient(&position, &mut gradient);
        }
        let start = Instant::now();
        let mut checksum = 0.0;
        for _ in 0..self.evals {
            checksum += tape
                .log_density_and_gradient(&position, &mut gradient)
                .map_err(|error| BenchError::Engine(error.to_string()))?;
        }
        let seconds = start.elapsed().as_secs_f64();
        Ok(json!({
            "model": self.model.display().to_string(),
            "dim": dim,
            "nodes": tape.node_count(),
            "evals": self.evals,
            "microseconds_per_gradient": round(1e6 * seconds / self.evals as f64),
            "log_density": checksum / self.evals as f64,
            "load": crate::process::load_average(),
        }))
    }
}

/// The model's log density on the unconstrained space, bound to its data (none for a model
/// without observed values), as the NUTS driver builds it.
pub(crate) fn build_tape(
    model: &Path,
    data: Option<&Path>,
) -> Result<ppl_model::tape::Tape, BenchError> {
    let source = std::fs::read_to_string(model).map_err(BenchError::io(model))?;
    let (program, diagnostics) = ppl_syntax::parse(&source);
    let (checked, more) = ppl_ir::check(&program, &source, &Default::default());
    if let Some(error) = diagnostics.iter().chain(&more).find(|d| d.is_error()) {
        return Err(BenchError::Engine(format!(
            "{}: {}",
            model.display(),
            error.message
        )));
    }
    let data_set = match data {
        Some(data) => Some(
            ppl_data::DataSet::load(data).map_err(|error| BenchError::Data {
                path: data.to_path_buf(),
                message: error.to_string(),
            })?,
        ),
        None => None,
    };
    let bound =
        ppl_model::bind(&checked, data_set.as_ref(), &[]).map_err(|errors| BenchError::Data {
            path: data.unwrap_or(model).to_path_buf(),
            message: errors
                .first()
                .map_or_else(String::new, |error| error.message.clone()),
        })?;
    ppl_model::posterior::Posterior::new(&checked, &bound, &source)
        .map(|posterior| posterior.tape)
        .map_err(|error| BenchError::Engine(error.message))
}
