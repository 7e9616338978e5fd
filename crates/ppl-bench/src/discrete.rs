//! `ppl-bench discrete`: models with a discrete latent, ppl with no hand marginalisation (NUTS
//! on the automatically summed density, and Gibbs) against `discrete_numpyro.py` (NUTS with the
//! latent summed out by hand) on the same data in the same run.
//!
//! The data: for `coal` the disasters CSV both read; for `hmm` and `mixture` the peer script
//! simulates it (`--write-data`) and ppl reads that file. The models are the peer's: `coal` is
//! `examples/coal_changepoint.model`, the others are `crates/ppl-bench/models/discrete_*.model`,
//! written to match the script's priors. ESS is the smallest bulk ESS over the continuous
//! parameters; ppl's time is the whole `ppl run` process, NumPyro's is `mcmc.run` with its JIT
//! (its process time, Python start and imports included, is reported beside it).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::error::BenchError;
use crate::nuts::extreme_over;
use crate::peers::{
    NO_PEER, PeerOptions, Peers, ScratchDir, models_dir, ppl_binary, workspace_root,
};
use crate::process::{load_average, run_timed_json};
use crate::stats::{ratio, round};

pub const USAGE: &str = "ppl-bench discrete --model coal|hmm|mixture [--seed S] \
     [--methods nuts,gibbs] [--no-peer] [--ppl PATH] [--peers DIR] [--peer-python PATH]";

pub struct DiscreteCommand {
    model: String,
    seed: u64,
    methods: Vec<String>,
    ppl: Option<PathBuf>,
    peers: PeerOptions,
}

impl DiscreteCommand {
    pub fn parse(arguments: &[String]) -> Result<DiscreteCommand, BenchError> {
        let mut command = DiscreteCommand {
            model: String::new(),
            seed: 0,
            methods: vec!["nuts".into(), "gibbs".into()],
            ppl: None,
            peers: PeerOptions::default(),
        };
        let (switches, pairs) = crate::args::split(arguments, &[NO_PEER])?;
        command.peers = PeerOptions::from_switches(&switches);
        for pair in pairs {
            match pair.flag {
                "--model" => command.model = pair.value.to_string(),
                "--seed" => command.seed = pair.parse()?,
                "--methods" => {
                    command.methods = pair
                        .value
                        .split(',')
                        .map(|m| m.trim().to_string())
                        .collect()
                }
                "--ppl" => command.ppl = Some(pair.path()),
                _ if command.peers.read(&pair) => {}
                _ => return Err(pair.unknown()),
            }
        }
        if !["coal", "hmm", "mixture"].contains(&command.model.as_str()) {
            return Err(BenchError::Usage(format!(
                "`--model coal|hmm|mixture` is required\n{USAGE}"
            )));
        }
        Ok(command)
    }

    /// The model file and the continuous parameters whose bulk ESS is compared.
    fn model_file(&self) -> (PathBuf, Vec<String>) {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        match self.model.as_str() {
            "coal" => (
                workspace_root().join("examples/coal_changepoint.model"),
                names(&["early", "late"]),
            ),
            "hmm" => (
                models_dir().join("discrete_hmm.model"),
                names(&["theta", "mu"]),
            ),
            _ => (
                models_dir().join("discrete_mixture.model"),
                names(&["w", "mu", "sigma"]),
            ),
        }
    }

    pub fn run(&self) -> Result<Value, BenchError> {
        let ppl = ppl_binary(self.ppl.as_deref())?;
        let scratch = ScratchDir::new()?;
        let peers = self.peers.locate();
        let data = match (self.model.as_str(), &peers) {
            ("coal", _) => workspace_root().join("examples/data/coal_disasters.csv"),
            (_, Ok(peers)) => self.write_peer_data(peers, &scratch.path)?,
            (_, Err(reason)) => {
                return Err(BenchError::Usage(format!(
                    "the {} data is simulated by the peer script, which cannot run: {reason}",
                    self.model
                )));
            }
        };
        let (model_file, continuous) = self.model_file();
        let mut runs = serde_json::Map::new();
        for method in &self.methods {
            eprintln!("ppl-bench: ppl {method} on {}", self.model);
            let run = self.run_ppl(&ppl, &model_file, &data, method, &continuous, &scratch.path)?;
            runs.insert(format!("ppl_{method}"), run);
        }
        let mut report = json!({
            "task": "discrete",
            "model": self.model,
            "model_file": model_file.display().to_string(),
            "data": data.display().to_string(),
            "seed": self.seed,
            "continuous": continuous,
            "load_average_before": load_average(),
        });
        match &peers {
            Ok(peers) => {
                eprintln!("ppl-bench: NumPyro on {}", self.model);
                let peer = self.run_peer(peers, &data, &scratch.path)?;
                for (name, run) in &runs {
                    report[format!("{name}_vs_numpyro_ess_per_s")] =
                        json!(ratio(run["ess_per_s"].as_f64(), peer["ess_per_s"].as_f64()));
                }
                report["numpyro"] = peer;
            }
            Err(reason) => report["numpyro_skipped"] = json!(reason),
        }
        for (name, run) in runs {
            report[name] = run;
        }
        report["load_average_after"] = json!(load_average());
        report["definitions"] = json!({
            "min_ess_bulk": "smallest bulk ESS over the continuous parameters",
            "wall_s": "ppl: the whole `ppl run` process; numpyro: mcmc.run incl. JIT",
            "ratios": "ppl ESS/s over NumPyro's: > 1 means ppl is ahead",
        });
        Ok(report)
    }

    /// The peer's simulated data set as a CSV in `dir`.
    fn write_peer_data(&self, peers: &Peers, dir: &Path) -> Result<PathBuf, BenchError> {
        let script = peers.script("discrete_numpyro.py")?;
        let csv = dir.join(format!("{}.csv", self.model));
        let arguments = vec![
            script.display().to_string(),
            "--model".into(),
            self.model.clone(),
            "--seed".into(),
            self.seed.to_string(),
            "--write-data".into(),
            csv.display().to_string(),
        ];
        run_timed_json(&peers.python, &arguments, dir)?;
        Ok(csv)
    }

    fn run_ppl(
        &self,
        ppl: &Path,
        model_file: &Path,
        data: &Path,
        method: &str,
        continuous: &[String],
        scratch: &Path,
    ) -> Result<Value, BenchError> {
        let arguments = vec![
            "run".to_string(),
            model_file.display().to_string(),
            "--data".into(),
            data.display().to_string(),
            "--method".into(),
            method.to_string(),
            "--seed".into(),
            self.seed.to_string(),
            "--format".into(),
            "json".into(),
            "--out".into(),
            scratch.join(format!("out-{method}")).display().to_string(),
        ];
        let run = run_timed_json(ppl, &arguments, scratch)?;
        let summary = run.value["summary"]
            .as_object()
            .ok_or_else(|| BenchError::Process {
                program: "ppl".into(),
                message: format!("`--method {method}` printed no `summary` object"),
            })?;
        let min_ess = extreme_over(summary, continuous, "ess_bulk", f64::min).ok_or_else(|| {
            BenchError::Process {
                program: "ppl".into(),
                message: format!("no bulk ESS for {continuous:?}"),
            }
        })?;
        let means: serde_json::Map<String, Value> = summary
            .iter()
            .filter(|(key, _)| {
                continuous.iter().any(|name| {
                    key.strip_prefix(name.as_str())
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('['))
                })
            })
            .map(|(key, row)| (key.clone(), json!({"mean": row["mean"], "sd": row["sd"]})))
            .collect();
        Ok(json!({
            "method": method,
            "min_ess_bulk": round(min_ess),
            "max_r_hat": extreme_over(summary, continuous, "rhat", f64::max),
            "divergences": run.value["diagnostics"]["divergences"],
            "wall_s": round(run.process_seconds),
            "sampling_s": run.value["seconds"],
            "ess_per_s": round(min_ess / run.process_seconds),
            "params": means,
        }))
    }

    fn run_peer(&self, peers: &Peers, data: &Path, scratch: &Path) -> Result<Value, BenchError> {
        let script = peers.script("discrete_numpyro.py")?;
        let mut arguments = vec![
            script.display().to_string(),
            "--model".into(),
            self.model.clone(),
            "--seed".into(),
            self.seed.to_string(),
        ];
        if self.model == "coal" {
            arguments.extend(["--data".into(), data.display().to_string()]);
        }
        let run = run_timed_json(&peers.python, &arguments, scratch)?;
        let mut value = run.value;
        value["process_s"] = json!(round(run.process_seconds));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DiscreteCommand, BenchError> {
        let arguments: Vec<String> = text.split_whitespace().map(String::from).collect();
        DiscreteCommand::parse(&arguments)
    }

    #[test]
    fn the_models_exist_and_bad_flags_are_usage_errors() {
        for model in ["coal", "hmm", "mixture"] {
            let command = parse(&format!("--model {model} --seed 3")).expect("parses");
            assert!(command.model_file().0.exists(), "{model}");
        }
        assert!(parse("--model hmm --methods nuts").is_ok());
        assert!(matches!(parse("--model lda"), Err(BenchError::Usage(_))));
        assert!(matches!(
            parse("--model hmm --seed x"),
            Err(BenchError::Usage(_))
        ));
    }
}
