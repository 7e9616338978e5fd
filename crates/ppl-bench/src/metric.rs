//! `ppl-bench metric`: the NUTS metric suite. Each case (a posterior of known difficulty for a
//! metric: a banana, a funnel, an unscaled regression, an isotropic normal, correlated and
//! logistic regressions) is sampled in process under each `--metric` asked for, over several
//! seeds, and scored by **gradient evaluations per minimum bulk ESS** (warmup included), the
//! measure that does not depend on the machine or its load. Bulk ESS is rank-based, so the
//! unconstrained coordinates the sampler returns give the same figure as the constrained ones.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ppl_infer::mcmc::{MetricKind, RunControl, SamplerSettings};
use serde_json::{Value, json};

use crate::error::BenchError;
use crate::gradient::build_tape;
use crate::peers::{ScratchDir, models_dir, workspace_root};
use crate::process::load_average;
use crate::stats::{median, round};

pub const USAGE: &str = "ppl-bench metric [--cases banana,eight_schools_centered,...] \
     [--metrics auto,stan] [--seeds 0,1,2] [--chains 4] [--warmup 1000] [--draws 1000] \
     [--data-dir DIR] [--logreg-data FILE.csv]";

/// Where a case's model and data come from.
enum CaseSource {
    /// A model of this crate's own (`crates/ppl-bench/models`), without data.
    Own(&'static str),
    /// A posteriordb posterior: its model in `models/posteriordb`, its data in posteriordb's
    /// export (`--data-dir`).
    Posteriordb {
        model: &'static str,
        data: &'static str,
    },
    /// The peers' logistic regression, its matrix columns renamed for ppl.
    PeerLogreg,
}

/// The suite's cases, in the order they are run.
const CASES: [(&str, CaseSource); 8] = [
    ("banana", CaseSource::Own("banana.model")),
    (
        "eight_schools_centered",
        CaseSource::Posteriordb {
            model: "eight_schools_centered.model",
            data: "eight_schools-eight_schools_centered.json",
        },
    ),
    (
        "eight_schools_noncentered",
        CaseSource::Posteriordb {
            model: "eight_schools_noncentered.model",
            data: "eight_schools-eight_schools_noncentered.json",
        },
    ),
    (
        "earnings",
        CaseSource::Posteriordb {
            model: "log10earn_height.model",
            data: "earnings-log10earn_height.json",
        },
    ),
    (
        "kidiq",
        CaseSource::Posteriordb {
            model: "kidscore_momiq.model",
            data: "kidiq-kidscore_momiq.json",
        },
    ),
    ("std_normal", CaseSource::Own("std_normal.model")),
    ("logreg", CaseSource::PeerLogreg),
    (
        "diamonds",
        CaseSource::Posteriordb {
            model: "diamonds.model",
            data: "diamonds-diamonds.json",
        },
    ),
];

/// The source of the case called `name`, if there is one.
fn case_source(name: &str) -> Option<&'static CaseSource> {
    CASES
        .iter()
        .find(|(case, _)| *case == name)
        .map(|(_, source)| source)
}

pub struct MetricCommand {
    cases: Vec<String>,
    metrics: Vec<MetricKind>,
    seeds: Vec<u64>,
    chains: usize,
    warmup: usize,
    draws: usize,
    data_dir: Option<PathBuf>,
    logreg_data: Option<PathBuf>,
}

fn list<T>(
    value: &str,
    parse: impl Fn(&str) -> Option<T>,
    flag: &str,
) -> Result<Vec<T>, BenchError> {
    value
        .split(',')
        .map(|item| {
            parse(item.trim())
                .ok_or_else(|| BenchError::Usage(format!("`{flag}`: cannot read `{item}`")))
        })
        .collect()
}

impl MetricCommand {
    pub fn parse(arguments: &[String]) -> Result<MetricCommand, BenchError> {
        let mut command = MetricCommand {
            cases: CASES.iter().map(|(name, _)| name.to_string()).collect(),
            metrics: vec![MetricKind::Auto, MetricKind::Stan],
            seeds: vec![0, 1, 2],
            chains: 4,
            warmup: 1000,
            draws: 1000,
            data_dir: None,
            logreg_data: None,
        };
        let mut iter = arguments.iter();
        while let Some(flag) = iter.next() {
            let value = iter
                .next()
                .ok_or_else(|| BenchError::Usage(format!("`{flag}` needs a value\n{USAGE}")))?;
            let bad = || BenchError::Usage(format!("`{flag}`: cannot read `{value}`"));
            match flag.as_str() {
                "--cases" => {
                    command.cases = list(value, |c| case_source(c).map(|_| c.to_string()), flag)?
                }
                "--metrics" => command.metrics = list(value, MetricKind::from_name, flag)?,
                "--seeds" => command.seeds = list(value, |s| s.parse().ok(), flag)?,
                "--chains" => command.chains = value.parse().map_err(|_| bad())?,
                "--warmup" => command.warmup = value.parse().map_err(|_| bad())?,
                "--draws" => command.draws = value.parse().map_err(|_| bad())?,
                "--data-dir" => command.data_dir = Some(PathBuf::from(value)),
                "--logreg-data" => command.logreg_data = Some(PathBuf::from(value)),
                _ => {
                    return Err(BenchError::Usage(format!(
                        "unknown option `{flag}`\n{USAGE}"
                    )));
                }
            }
        }
        if command.chains == 0 || command.draws < 10 {
            return Err(BenchError::Usage(
                "`--chains` must be positive and `--draws` at least 10".into(),
            ));
        }
        Ok(command)
    }

    /// posteriordb's data files: `--data-dir`, else `shared/data/posteriordb` beside the
    /// workspace (or beside the folder of worktrees that holds it).
    fn posteriordb_data(&self) -> PathBuf {
        if let Some(dir) = &self.data_dir {
            return dir.clone();
        }
        let root = workspace_root();
        let near = root.join("../shared/data/posteriordb");
        if near.exists() {
            near
        } else {
            root.join("../../shared/data/posteriordb")
        }
    }

    /// The model file and its data (none for a model without observed values).
    fn case_files(
        &self,
        case: &str,
        scratch: &Path,
    ) -> Result<(PathBuf, Option<PathBuf>), BenchError> {
        let source = case_source(case)
            .ok_or_else(|| BenchError::Usage(format!("no metric case `{case}`")))?;
        Ok(match source {
            CaseSource::Own(model) => (models_dir().join(model), None),
            CaseSource::Posteriordb { model, data } => (
                models_dir().join("posteriordb").join(model),
                Some(self.posteriordb_data().join(data)),
            ),
            CaseSource::PeerLogreg => {
                let source = self.logreg_data.clone().unwrap_or_else(|| {
                    workspace_root().join("../shared/peers/data/logreg_n5000_d20.csv")
                });
                let converted = scratch.join("logreg.csv");
                crate::convert::copy_csv_with_matrix_header(&source, &converted, "x", "X")?;
                (models_dir().join("logreg.model"), Some(converted))
            }
        })
    }

    pub fn run(&self) -> Result<Value, BenchError> {
        let scratch = ScratchDir::new()?;
        let mut cases = Vec::new();
        let load_before = load_average();
        for case in &self.cases {
            let (model, data) = self.case_files(case, &scratch.path)?;
            let tape = build_tape(&model, data.as_deref())?;
            let mut by_metric = serde_json::Map::new();
            for &metric in &self.metrics {
                let mut runs = Vec::new();
                for &seed in &self.seeds {
                    eprintln!("ppl-bench: metric {} on {case}, seed {seed}", metric.name());
                    runs.push(self.run_one(&tape, metric, seed)?);
                }
                let middle =
                    |key: &str| median(runs.iter().filter_map(|r| r[key].as_f64())).map(round);
                by_metric.insert(
                    metric.name().to_string(),
                    json!({
                        "median_evals_per_ess": middle("evals_per_ess"),
                        "median_min_ess_bulk": middle("min_ess_bulk"),
                        "median_leapfrogs_per_draw": middle("leapfrogs_per_draw"),
                        "runs": runs,
                    }),
                );
            }
            cases.push(json!({
                "case": case,
                "model": model.display().to_string(),
                "dim": ppl_infer::LogDensity::dim(&tape),
                "metrics": by_metric,
            }));
        }
        Ok(json!({
            "task": "metric",
            "chains": self.chains,
            "warmup": self.warmup,
            "draws": self.draws,
            "seeds": self.seeds,
            "load_average_before": load_before,
            "load_average_after": load_average(),
            "cases": cases,
            "definitions": {
                "evals_per_ess": "gradient evaluations of all chains (initialisation, warmup and sampling) per minimum bulk ESS over the coordinates",
                "sampling_evals_per_ess": "the same with the sampling phase's evaluations only",
                "warmup_used": "warmup iterations each chain ran (the gradient-informed warmup stops once it has settled)",
            },
        }))
    }

    fn run_one(
        &self,
        tape: &ppl_model::tape::Tape,
        metric: MetricKind,
        seed: u64,
    ) -> Result<Value, BenchError> {
        let settings = SamplerSettings {
            num_warmup: self.warmup,
            num_draws: self.draws,
            num_chains: self.chains,
            seed,
            metric,
            ..SamplerSettings::default()
        };
        let start = Instant::now();
        let outputs = ppl_infer::sample_chains(tape, &settings, &RunControl::default())
            .map_err(|error| BenchError::Engine(error.to_string()))?;
        let seconds = start.elapsed().as_secs_f64();
        let dim = outputs.first().map_or(0, |o| o.dim);
        let mut min_ess = f64::INFINITY;
        let mut worst = 0;
        for coordinate in 0..dim {
            let chains: Vec<Vec<f64>> = outputs.iter().map(|o| o.coordinate(coordinate)).collect();
            let refs: Vec<&[f64]> = chains.iter().map(Vec::as_slice).collect();
            let ess = ppl_infer::diagnostics::ess_bulk(&refs);
            if ess < min_ess {
                min_ess = ess;
                worst = coordinate;
            }
        }
        let warmup_evals: u64 = outputs.iter().map(|o| o.warmup_gradients).sum();
        let sampling_evals: u64 = outputs.iter().map(|o| o.sampling_gradients).sum();
        let leapfrogs: u64 = outputs
            .iter()
            .flat_map(|o| &o.stats)
            .map(|s| u64::from(s.n_leapfrog))
            .sum();
        let draws: usize = outputs.iter().map(|o| o.num_draws()).sum();
        let divergences: usize = outputs.iter().map(|o| o.divergences).sum();
        let form = |o: &ppl_infer::ChainOutput| match &o.metric {
            ppl_infer::mcmc::AdaptedMetric::Diagonal(_) => "diagonal".to_string(),
            ppl_infer::mcmc::AdaptedMetric::Dense { .. } => "dense".to_string(),
            ppl_infer::mcmc::AdaptedMetric::LowRank { values, .. } => {
                format!("low-rank {}", values.len())
            }
        };
        Ok(json!({
            "seed": seed,
            "min_ess_bulk": round(min_ess),
            "worst_coordinate": worst,
            "evals_per_ess": round((warmup_evals + sampling_evals) as f64 / min_ess),
            "sampling_evals_per_ess": round(sampling_evals as f64 / min_ess),
            "leapfrogs_per_draw": round(leapfrogs as f64 / draws.max(1) as f64),
            "warmup_evals": warmup_evals,
            "sampling_evals": sampling_evals,
            "warmup_used": outputs.iter().map(|o| o.warmup_iterations).collect::<Vec<_>>(),
            "step_sizes": outputs.iter().map(|o| round(o.step_size)).collect::<Vec<_>>(),
            "metric_forms": outputs.iter().map(form).collect::<Vec<_>>(),
            "nonlinearity": outputs
                .iter()
                .map(|o| o.warmup_nonlinearity.map(round))
                .collect::<Vec<_>>(),
            "divergences": divergences,
            "seconds": round(seconds),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arguments(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn every_case_names_a_model_file_that_exists() {
        let command = MetricCommand::parse(&[]).expect("the defaults are valid");
        let scratch = std::env::temp_dir();
        for (name, source) in &CASES {
            if matches!(source, CaseSource::PeerLogreg) {
                continue;
            }
            let (model, data) = command.case_files(name, &scratch).expect("a known case");
            assert!(model.exists(), "{name}: {}", model.display());
            assert_eq!(
                data.is_some(),
                matches!(source, CaseSource::Posteriordb { .. })
            );
        }
    }

    #[test]
    fn cases_are_chosen_by_name() {
        let command = MetricCommand::parse(&arguments("--cases kidiq,banana")).expect("valid");
        assert_eq!(command.cases, ["kidiq", "banana"]);
        assert!(MetricCommand::parse(&arguments("--cases kidiq,bogus")).is_err());
    }
}
