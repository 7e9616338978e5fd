//! `ppl-bench nuts`: one model sampled by NUTS (4 chains x 1000 warmup + 1000 draws) in ppl,
//! Stan and NumPyro in the same run, seed by seed, with the tools interleaved so that machine
//! load falls on all of them alike.
//!
//! What is timed, per tool:
//! - ppl: the whole `ppl run MODEL --format json` process, as a user runs it (start, parse,
//!   data load, warmup + sampling, summary, output) = all-in; its own `seconds` = sampling with
//!   warmup.
//! - Stan (`nuts_stan.py`): its `wall_s` = cached model lookup + sampling (the C++ compile is
//!   reported apart, see `--fresh`); `sample_s` = sampling with warmup, including PyStan's
//!   transfer of the draws.
//! - NumPyro (`nuts_numpyro.py --chain-method parallel`): its `wall_s` = `mcmc.run` including
//!   the JIT compile; it has no separate sampling-only time.
//!
//! For the peers the process time (Python start and imports) is also recorded but is not the
//! headline figure, which errs in the peers' favour. The min bulk ESS is taken over the sampled
//! parameters only (ppl: the model's `latent`s, not the `let`s that derive from them), as the
//! peers do.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::error::BenchError;
use crate::peers::{
    NO_PEER, PeerOptions, Peers, ScratchDir, models_dir, ppl_binary, workspace_root,
};
use crate::process::{load_average, run_timed_json};
use crate::stats::{median, ratio, round};

pub const USAGE: &str = "ppl-bench nuts --model eight_schools|logreg|std_normal [--seed S] \
     [--repeat R] [--fresh] [--no-peer] [--ppl PATH] [--peers DIR] [--peer-python PATH]";

/// The logistic-regression data set of the peers (`make_logreg_data.py`).
const LOGREG_DATA: &str = "data/logreg_n5000_d20.csv";

/// A Stan run whose `compile_s` exceeds this had to compile (a cache hit takes ~0.02 s).
const STAN_CACHE_MISS_SECONDS: f64 = 2.0;

/// The models that all three tools implement with the same priors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchModel {
    EightSchools,
    Logreg,
    StdNormal,
}

impl BenchModel {
    fn from_name(name: &str) -> Option<BenchModel> {
        match name {
            "eight_schools" => Some(BenchModel::EightSchools),
            "logreg" => Some(BenchModel::Logreg),
            "std_normal" => Some(BenchModel::StdNormal),
            _ => None,
        }
    }

    /// The name the peer scripts use.
    fn name(self) -> &'static str {
        match self {
            BenchModel::EightSchools => "eight_schools",
            BenchModel::Logreg => "logreg",
            BenchModel::StdNormal => "std_normal",
        }
    }

    fn model_file(self) -> PathBuf {
        match self {
            // The shipped example (non-centred, same priors as the peers), with its own data.
            BenchModel::EightSchools => {
                workspace_root().join("examples/eight_schools_noncentered.model")
            }
            BenchModel::Logreg => models_dir().join("logreg.model"),
            BenchModel::StdNormal => models_dir().join("std_normal.model"),
        }
    }

    /// A scalar parameter whose posterior mean is reported by every tool, as a sanity check.
    fn watched_parameter(self) -> Option<&'static str> {
        match self {
            BenchModel::EightSchools => Some("tau"),
            BenchModel::Logreg => Some("alpha"),
            BenchModel::StdNormal => None,
        }
    }

    /// Stan's compile time (stanc + g++) as measured in the peers' README, for when `--fresh`
    /// does not re-measure it.
    fn documented_stan_compile_s(self) -> f64 {
        match self {
            BenchModel::EightSchools => 39.8,
            BenchModel::Logreg => 34.6,
            BenchModel::StdNormal => 29.9,
        }
    }
}

/// The options of `ppl-bench nuts`.
pub struct NutsCommand {
    model: BenchModel,
    seed: u64,
    repeat: usize,
    fresh: bool,
    ppl: Option<PathBuf>,
    peers: PeerOptions,
}

impl NutsCommand {
    pub fn parse(arguments: &[String]) -> Result<NutsCommand, BenchError> {
        let mut model = None;
        let mut command = NutsCommand {
            model: BenchModel::EightSchools,
            seed: 0,
            repeat: 3,
            fresh: false,
            ppl: None,
            peers: PeerOptions::default(),
        };
        let (switches, pairs) = crate::args::split(arguments, &[NO_PEER, "--fresh"])?;
        command.peers = PeerOptions::from_switches(&switches);
        command.fresh = switches.contains(&"--fresh");
        for pair in pairs {
            match pair.flag {
                "--model" => {
                    model =
                        Some(BenchModel::from_name(pair.value).ok_or_else(|| pair.unreadable())?)
                }
                "--seed" => command.seed = pair.parse()?,
                "--repeat" => command.repeat = pair.parse::<usize>()?.max(1),
                "--ppl" => command.ppl = Some(pair.path()),
                _ if command.peers.read(&pair) => {}
                _ => return Err(pair.unknown()),
            }
        }
        command.model = model.ok_or_else(|| {
            BenchError::Usage("`--model eight_schools|logreg|std_normal` is required".into())
        })?;
        Ok(command)
    }

    pub fn run(&self) -> Result<Value, BenchError> {
        let ppl = ppl_binary(self.ppl.as_deref())?;
        let model_file = self.model.model_file();
        let model_text =
            std::fs::read_to_string(&model_file).map_err(BenchError::io(&model_file))?;
        let sampled = latent_names(&model_text);
        let peers_folder = self.peers.folder();
        let peers = self.peers.locate();
        if let Err(reason) = &peers {
            eprintln!("ppl-bench: {reason}; timing ppl only");
        }
        let peers = peers.as_ref();
        let scratch = ScratchDir::new()?;
        let peer_data = match self.model {
            BenchModel::Logreg => {
                // The data generator needs only the peers' Python, even with --no-peer.
                let generator = self.peers.locate_even_if_skipped().ok();
                Some(ensure_logreg_data(&peers_folder, generator.as_ref())?)
            }
            _ => None,
        };
        let ppl_data = match &peer_data {
            Some(csv) => {
                let converted = scratch.path.join("logreg.csv");
                crate::convert::copy_csv_with_matrix_header(csv, &converted, "x", "X")?;
                Some(converted)
            }
            None => None,
        };

        let load_before = load_average();
        let mut ppl_runs = ToolRuns::default();
        let mut stan_runs = ToolRuns::default();
        let mut numpyro_runs = ToolRuns::default();
        let mut stan_compile = Value::Null;
        let mut stan_compile_s = None;
        if let (Ok(peers), true) = (peers, self.fresh) {
            eprintln!("ppl-bench: Stan --fresh (full C++ compile into an empty cache)");
            match self.run_stan(peers, peer_data.as_deref(), self.seed, true, &scratch.path) {
                Ok(run) => {
                    stan_compile_s = run.compile_s;
                    stan_compile =
                        json!({"seconds": run.compile_s, "source": "measured now (--fresh)"});
                }
                Err(error) => stan_compile = json!({"error": error.to_string()}),
            }
        }
        for seed in self.seed..self.seed + self.repeat as u64 {
            eprintln!("ppl-bench: {} seed {seed}: ppl", self.model.name());
            let run = self.run_ppl(
                &ppl,
                &model_file,
                ppl_data.as_deref(),
                seed,
                &sampled,
                &scratch.path,
            )?;
            ppl_runs.runs.push(run);
            let Ok(peers) = peers else { continue };
            eprintln!("ppl-bench: {} seed {seed}: Stan", self.model.name());
            let mut stan = self.run_stan(peers, peer_data.as_deref(), seed, false, &scratch.path);
            if let Ok(run) = &stan
                && run.compile_s.is_some_and(|c| c > STAN_CACHE_MISS_SECONDS)
            {
                // The model was not in httpstan's cache: keep the compile time as a first-build
                // measurement and sample again with the now cached model.
                if stan_compile_s.is_none() {
                    stan_compile_s = run.compile_s;
                    stan_compile = json!({"seconds": run.compile_s,
                        "source": "measured now (first build into the default cache)"});
                }
                stan = self.run_stan(peers, peer_data.as_deref(), seed, false, &scratch.path);
            }
            stan_runs.record(seed, stan);
            eprintln!("ppl-bench: {} seed {seed}: NumPyro", self.model.name());
            let numpyro = self.run_numpyro(peers, peer_data.as_deref(), seed, &scratch.path);
            numpyro_runs.record(seed, numpyro);
        }
        if stan_compile.is_null() && peers.is_ok() {
            stan_compile_s = Some(self.model.documented_stan_compile_s());
            stan_compile = json!({"seconds": stan_compile_s,
                "source": "peers README (not re-measured; pass --fresh to measure)"});
        }

        let ppl_summary = ppl_runs.summary();
        let stan_summary = stan_runs.summary();
        let numpyro_summary = numpyro_runs.summary();
        let mut report = json!({
            "task": "nuts",
            "model": self.model.name(),
            "model_file": model_file.display().to_string(),
            "sampled_parameters": sampled,
            "seeds": (self.seed..self.seed + self.repeat as u64).collect::<Vec<_>>(),
            "settings": "4 chains x (1000 warmup + 1000 draws), every tool",
            "load_average_before": load_before,
            "load_average_after": load_average(),
            "ppl": ppl_runs.to_json(&ppl_summary),
        });
        match peers {
            Ok(_) => {
                report["stan"] = stan_runs.to_json(&stan_summary);
                report["stan"]["compile"] = stan_compile;
                report["numpyro"] = numpyro_runs.to_json(&numpyro_summary);
                report["ratios"] = ratios(
                    &ppl_summary,
                    &stan_summary,
                    &numpyro_summary,
                    stan_compile_s,
                );
            }
            Err(reason) => report["peers_skipped"] = json!(reason),
        }
        report["definitions"] = json!({
            "all_in_s": "ppl: wall time of the whole `ppl run` process; stan: wall_s = cached-model lookup + sample_s; numpyro: wall_s = mcmc.run incl. JIT",
            "sampling_s": "ppl: its `seconds` (warmup + sampling); stan: sample_s (incl. draw transfer); numpyro: none",
            "process_s": "wall time of the whole child process (for the peers: incl. Python start and imports)",
            "ess_per_s": "min bulk ESS / all_in_s (median over seeds)",
            "ess_per_s_sampling": "min bulk ESS / sampling_s",
            "ratios": "ours / theirs for ESS/s, theirs / ours for seconds: > 1 means ppl is better",
        });
        Ok(report)
    }

    fn run_ppl(
        &self,
        ppl: &Path,
        model_file: &Path,
        data: Option<&Path>,
        seed: u64,
        sampled: &[String],
        working_dir: &Path,
    ) -> Result<ToolRun, BenchError> {
        let mut arguments = vec!["run".to_string(), model_file.display().to_string()];
        if let Some(data) = data {
            arguments.extend(["--data".into(), data.display().to_string()]);
        }
        arguments.extend([
            "--format".into(),
            "json".into(),
            "--seed".into(),
            seed.to_string(),
        ]);
        let load = load_average().map(|l| l[0]);
        let run = run_timed_json(ppl, &arguments, working_dir)?;
        let summary = run.value["summary"]
            .as_object()
            .ok_or_else(|| BenchError::Process {
                program: "ppl".into(),
                message: "its JSON has no `summary` object (not sampled by NUTS?)".into(),
            })?;
        let min_ess_bulk =
            extreme_over(summary, sampled, "ess_bulk", f64::min).ok_or_else(|| {
                BenchError::Process {
                    program: "ppl".into(),
                    message: format!("no bulk ESS for the sampled parameters {sampled:?}"),
                }
            })?;
        Ok(ToolRun {
            seed,
            min_ess_bulk,
            all_in_s: run.process_seconds,
            sampling_s: run.value["seconds"].as_f64(),
            process_s: run.process_seconds,
            compile_s: None,
            self_reported_total_s: run.value["total_seconds"].as_f64(),
            divergences: run.value["diagnostics"]["divergences"].as_u64(),
            max_rhat: extreme_over(summary, sampled, "rhat", f64::max),
            watched_mean: self
                .model
                .watched_parameter()
                .and_then(|name| summary.get(name)?["mean"].as_f64()),
            load_1min: load,
        })
    }

    fn run_stan(
        &self,
        peers: &Peers,
        data: Option<&Path>,
        seed: u64,
        fresh: bool,
        working_dir: &Path,
    ) -> Result<ToolRun, BenchError> {
        let mut arguments = self.peer_arguments(peers, "nuts_stan.py", data, seed)?;
        if fresh {
            arguments.push("--fresh".into());
        }
        let load = load_average().map(|l| l[0]);
        let run = run_timed_json(&peers.python, &arguments, working_dir)?;
        Ok(self.peer_run(seed, &run.value, run.process_seconds, load, true))
    }

    fn run_numpyro(
        &self,
        peers: &Peers,
        data: Option<&Path>,
        seed: u64,
        working_dir: &Path,
    ) -> Result<ToolRun, BenchError> {
        let mut arguments = self.peer_arguments(peers, "nuts_numpyro.py", data, seed)?;
        arguments.extend(["--chain-method".into(), "parallel".into()]);
        let load = load_average().map(|l| l[0]);
        let run = run_timed_json(&peers.python, &arguments, working_dir)?;
        Ok(self.peer_run(seed, &run.value, run.process_seconds, load, false))
    }

    fn peer_arguments(
        &self,
        peers: &Peers,
        script: &str,
        data: Option<&Path>,
        seed: u64,
    ) -> Result<Vec<String>, BenchError> {
        let mut arguments = vec![
            peers.script(script)?.display().to_string(),
            "--model".into(),
            self.model.name().into(),
        ];
        if let Some(data) = data {
            arguments.extend(["--data".into(), data.display().to_string()]);
        }
        arguments.extend(["--seed".into(), seed.to_string()]);
        Ok(arguments)
    }

    /// The figures of a peer script's JSON line (`nuts_stan.py` or `nuts_numpyro.py`).
    fn peer_run(
        &self,
        seed: u64,
        value: &Value,
        process_s: f64,
        load: Option<f64>,
        is_stan: bool,
    ) -> ToolRun {
        ToolRun {
            seed,
            min_ess_bulk: value["min_ess_bulk"].as_f64().unwrap_or(f64::NAN),
            all_in_s: value["wall_s"].as_f64().unwrap_or(f64::NAN),
            sampling_s: if is_stan {
                value["sample_s"].as_f64()
            } else {
                None
            },
            process_s,
            compile_s: value["compile_s"].as_f64(),
            self_reported_total_s: None,
            divergences: value["divergences"].as_u64(),
            max_rhat: value["max_r_hat"].as_f64(),
            watched_mean: self
                .model
                .watched_parameter()
                .and_then(|name| value["params"][name]["mean"].as_f64()),
            load_1min: load,
        }
    }
}

/// The peers' logistic-regression CSV, generated with the peers' Python if it is missing.
fn ensure_logreg_data(peers_folder: &Path, peers: Option<&Peers>) -> Result<PathBuf, BenchError> {
    let csv = peers_folder.join(LOGREG_DATA);
    if csv.exists() {
        return Ok(csv);
    }
    let peers = peers.ok_or_else(|| BenchError::Data {
        path: csv.clone(),
        message: "missing, and the peers' Python is not there to generate it \
                  (make_logreg_data.py --n 5000 --d 20 --seed 0)"
            .into(),
    })?;
    eprintln!("ppl-bench: generating {}", csv.display());
    if let Some(parent) = csv.parent() {
        std::fs::create_dir_all(parent).map_err(BenchError::io(parent))?;
    }
    let arguments: Vec<String> = vec![
        peers.script("make_logreg_data.py")?.display().to_string(),
        "--n".into(),
        "5000".into(),
        "--d".into(),
        "20".into(),
        "--seed".into(),
        "0".into(),
        "--out".into(),
        csv.display().to_string(),
    ];
    run_timed_json(&peers.python, &arguments, peers_folder)?;
    Ok(csv)
}

/// The names declared `latent` in a model text: the parameters NUTS samples (`let`s that derive
/// from them are summarised by ppl too but are not sampled, so they stay out of the min ESS).
pub fn latent_names(model_text: &str) -> Vec<String> {
    model_text
        .lines()
        .filter_map(|line| {
            let code = line.split('#').next().unwrap_or("");
            let rest = code.trim_start().strip_prefix("latent ")?;
            let name = rest.split(':').next()?.trim();
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

/// The extreme (by `pick`, e.g. `f64::min`) of `field` over the summary rows of the named
/// parameters: a row `name` or any element `name[...]`.
pub fn extreme_over(
    summary: &Map<String, Value>,
    names: &[String],
    field: &str,
    pick: fn(f64, f64) -> f64,
) -> Option<f64> {
    summary
        .iter()
        .filter(|(key, _)| {
            names.iter().any(|name| {
                key.strip_prefix(name.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('['))
            })
        })
        .filter_map(|(_, row)| row[field].as_f64())
        .reduce(pick)
}

/// One tool's figures for one seed.
struct ToolRun {
    seed: u64,
    min_ess_bulk: f64,
    all_in_s: f64,
    sampling_s: Option<f64>,
    process_s: f64,
    compile_s: Option<f64>,
    /// ppl's own `total_seconds` (inside the process, from start of `main`).
    self_reported_total_s: Option<f64>,
    divergences: Option<u64>,
    max_rhat: Option<f64>,
    watched_mean: Option<f64>,
    load_1min: Option<f64>,
}

impl ToolRun {
    fn ess_per_s(&self) -> f64 {
        self.min_ess_bulk / self.all_in_s
    }

    fn ess_per_s_sampling(&self) -> Option<f64> {
        self.sampling_s.map(|s| self.min_ess_bulk / s)
    }

    fn to_json(&self) -> Value {
        json!({
            "seed": self.seed,
            "min_ess_bulk": round(self.min_ess_bulk),
            "all_in_s": round(self.all_in_s),
            "sampling_s": self.sampling_s.map(round),
            "process_s": round(self.process_s),
            "compile_s": self.compile_s,
            "self_reported_total_s": self.self_reported_total_s.map(round),
            "ess_per_s": round(self.ess_per_s()),
            "ess_per_s_sampling": self.ess_per_s_sampling().map(round),
            "divergences": self.divergences,
            "max_rhat": self.max_rhat.map(round),
            "watched_mean": self.watched_mean.map(round),
            "load_1min": self.load_1min,
        })
    }
}

/// The medians over seeds of one tool's figures.
struct ToolSummary {
    min_ess_bulk: Option<f64>,
    all_in_s: Option<f64>,
    sampling_s: Option<f64>,
    process_s: Option<f64>,
    ess_per_s: Option<f64>,
    ess_per_s_sampling: Option<f64>,
    divergences_total: u64,
}

/// One tool's runs over the seeds, and the seeds where it failed.
#[derive(Default)]
struct ToolRuns {
    runs: Vec<ToolRun>,
    failures: Vec<Value>,
}

impl ToolRuns {
    fn record(&mut self, seed: u64, outcome: Result<ToolRun, BenchError>) {
        match outcome {
            Ok(run) => self.runs.push(run),
            Err(error) => {
                eprintln!("ppl-bench: seed {seed}: {error}");
                self.failures
                    .push(json!({"seed": seed, "error": error.to_string()}));
            }
        }
    }

    fn summary(&self) -> ToolSummary {
        let runs = &self.runs;
        ToolSummary {
            min_ess_bulk: median(runs.iter().map(|r| r.min_ess_bulk)),
            all_in_s: median(runs.iter().map(|r| r.all_in_s)),
            sampling_s: median(runs.iter().filter_map(|r| r.sampling_s)),
            process_s: median(runs.iter().map(|r| r.process_s)),
            ess_per_s: median(runs.iter().map(ToolRun::ess_per_s)),
            ess_per_s_sampling: median(runs.iter().filter_map(ToolRun::ess_per_s_sampling)),
            divergences_total: runs.iter().filter_map(|r| r.divergences).sum(),
        }
    }

    fn to_json(&self, summary: &ToolSummary) -> Value {
        json!({
            "median": {
                "min_ess_bulk": summary.min_ess_bulk.map(round),
                "all_in_s": summary.all_in_s.map(round),
                "sampling_s": summary.sampling_s.map(round),
                "process_s": summary.process_s.map(round),
                "ess_per_s": summary.ess_per_s.map(round),
                "ess_per_s_sampling": summary.ess_per_s_sampling.map(round),
                "divergences_total": summary.divergences_total,
            },
            "runs": self.runs.iter().map(ToolRun::to_json).collect::<Vec<_>>(),
            "failures": self.failures,
        })
    }
}

/// ppl against each peer, all oriented so that > 1 means ppl is better.
fn ratios(
    ppl: &ToolSummary,
    stan: &ToolSummary,
    numpyro: &ToolSummary,
    stan_compile_s: Option<f64>,
) -> Value {
    let stan_with_compile = match (stan.min_ess_bulk, stan.sampling_s, stan_compile_s) {
        (Some(ess), Some(sampling), Some(compile)) => Some(ess / (sampling + compile)),
        _ => None,
    };
    json!({
        "ess_per_s_vs_stan": ratio(ppl.ess_per_s, stan.ess_per_s),
        "ess_per_s_vs_numpyro": ratio(ppl.ess_per_s, numpyro.ess_per_s),
        "ess_per_s_sampling_vs_stan": ratio(ppl.ess_per_s_sampling, stan.ess_per_s_sampling),
        "ess_per_s_vs_stan_incl_compile": ratio(ppl.ess_per_s, stan_with_compile),
        "wall_speedup_vs_stan": ratio(stan.all_in_s, ppl.all_in_s),
        "wall_speedup_vs_numpyro": ratio(numpyro.all_in_s, ppl.all_in_s),
        "process_speedup_vs_stan": ratio(stan.process_s, ppl.process_s),
        "process_speedup_vs_numpyro": ratio(numpyro.process_s, ppl.process_s),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latents_are_the_sampled_parameters() {
        let text = "# latent ignored: real\nobserved y: real[J]\nlatent mu: real\n  latent eta : real[J] # effects\nlet theta = mu + eta\n";
        assert_eq!(latent_names(text), ["mu", "eta"]);
    }

    #[test]
    fn the_bench_models_declare_what_the_peers_sample() {
        let names = |model: BenchModel| {
            latent_names(&std::fs::read_to_string(model.model_file()).expect("model file"))
        };
        assert_eq!(names(BenchModel::EightSchools), ["mu", "tau", "eta"]);
        assert_eq!(names(BenchModel::Logreg), ["alpha", "beta"]);
        assert_eq!(names(BenchModel::StdNormal), ["x"]);
    }

    #[test]
    fn the_min_ess_skips_derived_quantities_and_lookalike_names() {
        let summary = json!({
            "mu": {"ess_bulk": 900.0},
            "eta[1]": {"ess_bulk": 800.0},
            "eta[2]": {"ess_bulk": 700.0},
            "theta[1]": {"ess_bulk": 10.0},
            "mu_shift": {"ess_bulk": 5.0},
        });
        let summary = summary.as_object().expect("an object");
        let names = ["mu".to_string(), "eta".to_string()];
        assert_eq!(
            extreme_over(summary, &names, "ess_bulk", f64::min),
            Some(700.0)
        );
        assert_eq!(
            extreme_over(summary, &names, "ess_bulk", f64::max),
            Some(900.0)
        );
        assert_eq!(
            extreme_over(summary, &["tau".into()], "ess_bulk", f64::min),
            None
        );
    }

    #[test]
    fn options_are_read_and_the_model_is_required() {
        let parse = |text: &str| {
            NutsCommand::parse(
                &text
                    .split_whitespace()
                    .map(String::from)
                    .collect::<Vec<_>>(),
            )
        };
        let command = parse("--model logreg --seed 4 --repeat 2 --no-peer --fresh").expect("valid");
        assert_eq!(command.model, BenchModel::Logreg);
        assert_eq!((command.seed, command.repeat), (4, 2));
        assert!(command.peers.skip && command.fresh);
        assert!(parse("--seed 1").is_err());
        assert!(parse("--model funnel").is_err());
        assert!(parse("--model logreg --repeat").is_err());
    }

    #[test]
    fn ratios_say_better_as_greater_than_one() {
        let summary = |ess_per_s: f64, seconds: f64| ToolSummary {
            min_ess_bulk: Some(ess_per_s * seconds),
            all_in_s: Some(seconds),
            sampling_s: Some(seconds),
            process_s: Some(seconds),
            ess_per_s: Some(ess_per_s),
            ess_per_s_sampling: Some(ess_per_s),
            divergences_total: 0,
        };
        let value = ratios(
            &summary(1000.0, 1.0),
            &summary(500.0, 4.0),
            &summary(250.0, 8.0),
            Some(36.0),
        );
        assert_eq!(value["ess_per_s_vs_stan"], 2.0);
        assert_eq!(value["ess_per_s_vs_numpyro"], 4.0);
        assert_eq!(value["wall_speedup_vs_numpyro"], 8.0);
        // Stan with compile: 2000 ESS / (4 + 36) s = 50 ESS/s.
        assert_eq!(value["ess_per_s_vs_stan_incl_compile"], 20.0);
    }
}
