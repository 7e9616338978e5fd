//! `ppl-bench em`: a full-covariance Gaussian mixture fitted by `ppl_infer::em` in process (fit
//! only, load excluded), optionally the whole `ppl run MODEL` on the same data (all-in: process
//! start, parse, data load, EM, output), and scikit-learn's `gmm_sklearn.py --threads 1` on the
//! same file.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ppl_infer::em::{ComponentFamily, EmSettings, EmissionBlock, MixtureProblem, fit_mixture};
use serde_json::{Value, json};

use crate::convert::copy_csv_with_matrix_header;
use crate::error::BenchError;
use crate::peers::{NO_PEER, PeerOptions, Peers, ScratchDir, ppl_binary};
use crate::process::{load_average, run_timed_json};
use crate::stats::{median, ratio, round};

pub const USAGE: &str = "ppl-bench em --data FILE.csv --k K [--seed S] [--restarts R] [--tol T] \
     [--max-iter M] [--reg LAMBDA] [--threads N] [--repeat R] [--model FILE.model] [--ppl PATH] \
     [--peers DIR] [--peer-python PATH] [--no-peer]";

/// The options of `ppl-bench em`.
pub struct EmCommand {
    data: PathBuf,
    components: usize,
    seed: u64,
    restarts: usize,
    tolerance: f64,
    max_iterations: usize,
    regularisation: f64,
    threads: Option<usize>,
    repeat: usize,
    /// A ppl model for the same data, run whole as `ppl run` (matrix columns `x[1]..x[D]`).
    model: Option<PathBuf>,
    ppl: Option<PathBuf>,
    peers: PeerOptions,
}

impl EmCommand {
    pub fn parse(arguments: &[String]) -> Result<EmCommand, BenchError> {
        let mut command = EmCommand {
            data: PathBuf::new(),
            components: 0,
            seed: 0,
            restarts: 1,
            // The baseline script's tolerance, so that both stop by the same rule.
            tolerance: 1e-6,
            max_iterations: 500,
            regularisation: 1e-6,
            threads: None,
            repeat: 3,
            model: None,
            ppl: None,
            peers: PeerOptions::default(),
        };
        let (switches, pairs) = crate::args::split(arguments, &[NO_PEER])?;
        command.peers = PeerOptions::from_switches(&switches);
        for pair in pairs {
            match pair.flag {
                "--data" => command.data = pair.path(),
                "--k" => command.components = pair.parse()?,
                "--seed" => command.seed = pair.parse()?,
                "--restarts" => command.restarts = pair.parse()?,
                "--tol" => command.tolerance = pair.parse()?,
                "--max-iter" => command.max_iterations = pair.parse()?,
                "--reg" => command.regularisation = pair.parse()?,
                "--threads" => command.threads = Some(pair.parse()?),
                "--repeat" => command.repeat = pair.parse::<usize>()?.max(1),
                "--model" => command.model = Some(pair.path()),
                "--ppl" => command.ppl = Some(pair.path()),
                _ if command.peers.read(&pair) => {}
                _ => return Err(pair.unknown()),
            }
        }
        if command.data.as_os_str().is_empty() || command.components == 0 {
            return Err(BenchError::Usage(
                "`--data FILE` and `--k K` (K >= 1) are required".into(),
            ));
        }
        Ok(command)
    }

    /// The same command with its file paths made absolute, since the child processes run in a
    /// scratch folder.
    fn with_absolute_paths(mut self) -> Result<EmCommand, BenchError> {
        self.data = absolute(&self.data)?;
        if let Some(model) = &self.model {
            self.model = Some(absolute(model)?);
        }
        Ok(self)
    }

    pub fn run(self) -> Result<Value, BenchError> {
        let command = self.with_absolute_paths()?;
        command.run_with_absolute_paths()
    }

    fn run_with_absolute_paths(&self) -> Result<Value, BenchError> {
        let load_before = load_average();
        let load_start = Instant::now();
        let table = load_numeric_csv(&self.data)?;
        let load_s = load_start.elapsed().as_secs_f64();
        let n = table.rows;
        let d = table.columns.len();
        let problem = MixtureProblem {
            n,
            components: self.components,
            blocks: vec![EmissionBlock {
                name: "x".into(),
                family: ComponentFamily::MvNormal,
                dim: d,
                values: table.values,
            }],
        };
        let settings = EmSettings {
            restarts: self.restarts,
            max_iterations: self.max_iterations,
            tolerance: self.tolerance,
            covariance_regularisation: self.regularisation,
            seed: self.seed,
            keep_responsibilities: false,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads.unwrap_or(0))
            .build()
            .map_err(|e| BenchError::Engine(e.to_string()))?;
        let threads = pool.current_num_threads();
        let mut times = Vec::with_capacity(self.repeat);
        let mut fit = None;
        for _ in 0..self.repeat {
            let start = Instant::now();
            let result = pool.install(|| fit_mixture(&problem, &settings));
            times.push(start.elapsed().as_secs_f64());
            fit = Some(result.map_err(|e| BenchError::Engine(e.to_string()))?);
        }
        let fit = fit.ok_or_else(|| BenchError::Engine("no fit was run".into()))?;
        times.sort_by(f64::total_cmp);
        let wall_s = times[0];
        let median_s = times[times.len() / 2];
        let loglik_per_point = fit.log_likelihood / n as f64;
        let ppl = json!({
            "loglik_per_point": loglik_per_point,
            "objective_per_point": fit.objective / n as f64,
            "iters": fit.iterations,
            "converged": fit.converged,
            "threads": threads,
            "wall_s": round(wall_s),
            "wall_s_median": round(median_s),
            "repeats": self.repeat,
            "load_s": round(load_s),
            "weights": fit.weights,
        });
        let whole_run = match &self.model {
            Some(model) => Some(self.run_whole_ppl(model)?),
            None => None,
        };
        let (peer, peer_note) = match self.peers.locate() {
            Ok(peers) => (Some(self.run_peer(&peers)?), None),
            Err(reason) => {
                if !self.peers.skip {
                    eprintln!("ppl-bench: {reason}; timing ppl only");
                }
                (None, Some(reason))
            }
        };
        let mut report = json!({
            "task": "em",
            "data": self.data.display().to_string(),
            "n": n, "d": d, "k": self.components, "seed": self.seed,
            "tol": self.tolerance, "restarts": self.restarts,
            "load_average_before": load_before,
            "ppl": ppl,
            "ppl_run": whole_run.clone().unwrap_or(Value::Null),
            "sklearn": peer.clone().unwrap_or(Value::Null),
        });
        if let Some(note) = peer_note {
            report["sklearn_skipped"] = json!(note);
        }
        if let Some(truth) = read_truth(&self.data) {
            report["true_loglik_per_point"] = json!(truth);
        }
        if let Some(peer) = peer {
            let peer_wall = peer["wall_s"].as_f64();
            let peer_loglik = peer["loglik_per_point"].as_f64();
            report["speedup_vs_sklearn"] = json!(ratio(peer_wall, Some(wall_s)));
            report["loglik_per_point_minus_sklearn"] =
                json!(peer_loglik.map(|l| loglik_per_point - l));
            if let Some(run) = &whole_run {
                let run_loglik = run["loglik_per_point"].as_f64();
                report["ppl_run_speedup_vs_sklearn_fit"] =
                    json!(ratio(peer_wall, run["process_s_median"].as_f64()));
                report["ppl_run_speedup_vs_sklearn_process"] = json!(ratio(
                    peer["process_s"].as_f64(),
                    run["process_s_median"].as_f64()
                ));
                report["ppl_run_loglik_relative_difference"] = json!(
                    run_loglik
                        .zip(peer_loglik)
                        .map(|(ours, theirs)| ((ours - theirs) / theirs).abs())
                );
            }
        }
        report["load_average_after"] = json!(load_average());
        Ok(report)
    }

    /// Times the whole `ppl run MODEL --data COPY --format json` process `repeat` times on a copy
    /// of the data whose columns `x0, x1, ...` are renamed `x[1], x[2], ...`.
    fn run_whole_ppl(&self, model: &Path) -> Result<Value, BenchError> {
        let ppl = ppl_binary(self.ppl.as_deref())?;
        let scratch = ScratchDir::new()?;
        let data = scratch.path.join("gmm.csv");
        copy_csv_with_matrix_header(&self.data, &data, "x", "x")?;
        let arguments: Vec<String> = vec![
            "run".into(),
            model.display().to_string(),
            "--data".into(),
            data.display().to_string(),
            "--format".into(),
            "json".into(),
            "--seed".into(),
            self.seed.to_string(),
        ];
        eprintln!("ppl-bench: timing `ppl run {}`", model.display());
        let mut process_times = Vec::new();
        let mut last = None;
        for _ in 0..self.repeat {
            let run = run_timed_json(&ppl, &arguments, &scratch.path)?;
            process_times.push(run.process_seconds);
            last = Some(run.value);
        }
        let value = last.unwrap_or(Value::Null);
        let diagnostics = &value["diagnostics"];
        Ok(json!({
            "command": format!("ppl {}", arguments.join(" ")),
            "method": value["method"],
            "loglik_per_point": diagnostics["log_likelihood_per_point"],
            "iters": diagnostics["iterations"],
            "converged": diagnostics["converged"],
            "process_s": process_times.iter().map(|&t| round(t)).collect::<Vec<_>>(),
            "process_s_median": median(process_times.iter().copied()).map(round),
            "seconds_last": value["seconds"],
            "total_seconds_last": value["total_seconds"],
        }))
    }

    fn run_peer(&self, peers: &Peers) -> Result<Value, BenchError> {
        eprintln!("ppl-bench: running the scikit-learn baseline");
        let script = peers.script("gmm_sklearn.py")?;
        let arguments = vec![
            script.display().to_string(),
            "--data".into(),
            self.data.display().to_string(),
            "--k".into(),
            self.components.to_string(),
            "--seed".into(),
            self.seed.to_string(),
            "--threads".into(),
            "1".into(),
        ];
        let scratch = ScratchDir::new()?;
        let run = run_timed_json(&peers.python, &arguments, &scratch.path)?;
        let mut value = run.value;
        value["process_s"] = json!(round(run.process_seconds));
        Ok(value)
    }
}

/// `path` made absolute (it must exist).
fn absolute(path: &Path) -> Result<PathBuf, BenchError> {
    path.canonicalize().map_err(BenchError::io(path))
}

/// The true log-likelihood per point from the `FILE.truth.json` sidecar of `make_gmm_data.py`.
fn read_truth(data: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(data.with_extension("truth.json")).ok()?;
    serde_json::from_str::<Value>(&text).ok()?["true_loglik_per_point"].as_f64()
}

/// A numeric table read from CSV: column names and row-major values.
pub(crate) struct NumericTable {
    pub(crate) columns: Vec<String>,
    pub(crate) rows: usize,
    pub(crate) values: Vec<f64>,
}

/// Reads a CSV with a header line and numeric fields only (no quoting).
pub(crate) fn load_numeric_csv(path: &Path) -> Result<NumericTable, BenchError> {
    let text = std::fs::read_to_string(path).map_err(BenchError::io(path))?;
    let bad = |message: String| BenchError::Data {
        path: path.to_path_buf(),
        message,
    };
    let mut lines = text.lines();
    let header = lines
        .next()
        .ok_or_else(|| bad("the CSV file is empty".into()))?;
    let columns: Vec<String> = header.split(',').map(|c| c.trim().to_string()).collect();
    let mut values = Vec::with_capacity(text.len() / 10);
    let mut rows = 0;
    for (index, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let before = values.len();
        for field in line.split(',') {
            let value: f64 = field
                .trim()
                .parse()
                .map_err(|_| bad(format!("line {}: `{field}` is not a number", index + 2)))?;
            values.push(value);
        }
        if values.len() - before != columns.len() {
            return Err(bad(format!(
                "line {}: {} fields, the header has {}",
                index + 2,
                values.len() - before,
                columns.len()
            )));
        }
        rows += 1;
    }
    Ok(NumericTable {
        columns,
        rows,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arguments(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options_are_read_and_required_ones_checked() {
        let command = EmCommand::parse(&arguments("--data a.csv --k 3 --seed 2 --no-peer"))
            .expect("valid options");
        assert_eq!(command.components, 3);
        assert_eq!(command.seed, 2);
        assert!(command.peers.skip);
        assert!(EmCommand::parse(&arguments("--data a.csv")).is_err());
        assert!(EmCommand::parse(&arguments("--data a.csv --k three")).is_err());
        assert!(EmCommand::parse(&arguments("--data a.csv --k 3 --bogus 1")).is_err());
    }

    #[test]
    fn ragged_or_non_numeric_csv_is_an_error() {
        let dir = std::env::temp_dir().join(format!("ppl-bench-em-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("t.csv");
        std::fs::write(&path, "x0,x1\n1,2\n3,4\n").expect("write");
        let table = load_numeric_csv(&path).expect("a numeric table");
        assert_eq!((table.rows, table.columns.len()), (2, 2));
        assert_eq!(table.values, [1.0, 2.0, 3.0, 4.0]);
        std::fs::write(&path, "x0,x1\n1,2\n3\n").expect("write");
        assert!(load_numeric_csv(&path).is_err());
        std::fs::write(&path, "x0,x1\n1,abc\n").expect("write");
        assert!(load_numeric_csv(&path).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
