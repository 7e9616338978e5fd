//! `ppl-bench`: timing the engines against the peer baselines in `shared/peers`, one JSON object
//! on stdout per run (progress and errors on stderr).
//!
//! ```text
//! ppl-bench em --data FILE.csv --k K [--seed S] [--restarts R] [--tol T] [--max-iter M]
//!              [--reg LAMBDA] [--threads N] [--repeat R] [--peer-python PATH] [--no-peer]
//! ```
//! `em` loads a CSV (header, all columns numeric), fits a full-covariance Gaussian mixture with
//! `ppl_infer::em` (`--repeat` times; the fastest and median wall times are reported, fit only,
//! load excluded) and, if the peers' Python exists, runs the scikit-learn baseline
//! `gmm_sklearn.py --threads 1` on the same file.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use ppl_infer::em::{ComponentFamily, EmSettings, EmissionBlock, MixtureProblem, fit_mixture};
use serde_json::{Value, json};

const PEER_PYTHON: &str = "/work/shared/peers/.venv/bin/python";
const PEER_GMM_SCRIPT: &str = "/work/shared/peers/gmm_sklearn.py";

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let result = match arguments.first().map(String::as_str) {
        Some("em") => EmCommand::parse(&arguments[1..]).and_then(|command| command.run()),
        _ => Err(
            "usage: ppl-bench em --data FILE.csv --k K [--seed S] [--restarts R] [--tol T] \
             [--max-iter M] [--reg LAMBDA] [--threads N] [--repeat R] [--peer-python PATH] \
             [--no-peer]"
                .to_string(),
        ),
    };
    match result {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("ppl-bench: {message}");
            println!("{}", json!({ "error": message }));
            ExitCode::from(2)
        }
    }
}

/// The options of `ppl-bench em`.
struct EmCommand {
    data: PathBuf,
    components: usize,
    seed: u64,
    restarts: usize,
    tolerance: f64,
    max_iterations: usize,
    regularisation: f64,
    threads: Option<usize>,
    repeat: usize,
    peer_python: Option<PathBuf>,
}

impl EmCommand {
    fn parse(arguments: &[String]) -> Result<EmCommand, String> {
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
            peer_python: Some(PathBuf::from(PEER_PYTHON)),
        };
        let mut iter = arguments.iter();
        while let Some(flag) = iter.next() {
            if flag == "--no-peer" {
                command.peer_python = None;
                continue;
            }
            let value = iter
                .next()
                .ok_or_else(|| format!("`{flag}` needs a value"))?;
            let bad = || format!("`{flag}`: cannot read `{value}`");
            match flag.as_str() {
                "--data" => command.data = PathBuf::from(value),
                "--k" => command.components = value.parse().map_err(|_| bad())?,
                "--seed" => command.seed = value.parse().map_err(|_| bad())?,
                "--restarts" => command.restarts = value.parse().map_err(|_| bad())?,
                "--tol" => command.tolerance = value.parse().map_err(|_| bad())?,
                "--max-iter" => command.max_iterations = value.parse().map_err(|_| bad())?,
                "--reg" => command.regularisation = value.parse().map_err(|_| bad())?,
                "--threads" => command.threads = Some(value.parse().map_err(|_| bad())?),
                "--repeat" => command.repeat = value.parse::<usize>().map_err(|_| bad())?.max(1),
                "--peer-python" => command.peer_python = Some(PathBuf::from(value)),
                _ => return Err(format!("unknown option `{flag}`")),
            }
        }
        if command.data.as_os_str().is_empty() || command.components == 0 {
            return Err("`--data FILE` and `--k K` (K >= 1) are required".into());
        }
        Ok(command)
    }

    fn run(&self) -> Result<Value, String> {
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
            .map_err(|e| e.to_string())?;
        let threads = pool.current_num_threads();
        let mut times = Vec::with_capacity(self.repeat);
        let mut fit = None;
        for _ in 0..self.repeat {
            let start = Instant::now();
            let result = pool.install(|| fit_mixture(&problem, &settings));
            times.push(start.elapsed().as_secs_f64());
            fit = Some(result.map_err(|e| e.to_string())?);
        }
        let fit = fit.ok_or("no fit was run")?;
        times.sort_by(f64::total_cmp);
        let wall_s = times[0];
        let median_s = times[times.len() / 2];
        let ppl = json!({
            "loglik_per_point": fit.log_likelihood / n as f64,
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
        let peer = match &self.peer_python {
            Some(python) if python.exists() => Some(self.run_peer(python)?),
            _ => None,
        };
        let mut report = json!({
            "task": "em",
            "data": self.data.display().to_string(),
            "n": n, "d": d, "k": self.components, "seed": self.seed,
            "tol": self.tolerance, "restarts": self.restarts,
            "ppl": ppl,
            "sklearn": peer.clone().unwrap_or(Value::Null),
        });
        if let Some(truth) = read_truth(&self.data) {
            report["true_loglik_per_point"] = json!(truth);
        }
        if let Some(peer) = peer {
            let peer_wall = peer["wall_s"].as_f64();
            let peer_loglik = peer["loglik_per_point"].as_f64();
            report["speedup_vs_sklearn"] = json!(peer_wall.map(|w| round(w / wall_s)));
            report["loglik_per_point_minus_sklearn"] =
                json!(peer_loglik.map(|l| fit.log_likelihood / n as f64 - l));
        }
        Ok(report)
    }

    fn run_peer(&self, python: &Path) -> Result<Value, String> {
        eprintln!("ppl-bench: running the scikit-learn baseline");
        let output = Command::new(python)
            .arg(PEER_GMM_SCRIPT)
            .args(["--data", &self.data.display().to_string()])
            .args(["--k", &self.components.to_string()])
            .args(["--seed", &self.seed.to_string()])
            .args(["--threads", "1"])
            .output()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        if !output.status.success() {
            return Err(format!(
                "the baseline failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'));
        line.and_then(|l| serde_json::from_str(l).ok())
            .ok_or_else(|| format!("the baseline printed no JSON: {stdout}"))
    }
}

fn round(seconds: f64) -> f64 {
    (seconds * 1e4).round() / 1e4
}

/// The true log-likelihood per point from the `FILE.truth.json` sidecar of `make_gmm_data.py`.
fn read_truth(data: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(data.with_extension("truth.json")).ok()?;
    serde_json::from_str::<Value>(&text).ok()?["true_loglik_per_point"].as_f64()
}

/// A numeric table read from CSV: column names and row-major values.
struct NumericTable {
    columns: Vec<String>,
    rows: usize,
    values: Vec<f64>,
}

/// Reads a CSV with a header line and numeric fields only (no quoting).
fn load_numeric_csv(path: &Path) -> Result<NumericTable, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut lines = text.lines();
    let header = lines.next().ok_or("the CSV file is empty")?;
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
                .map_err(|_| format!("line {}: `{field}` is not a number", index + 2))?;
            values.push(value);
        }
        if values.len() - before != columns.len() {
            return Err(format!(
                "line {}: {} fields, the header has {}",
                index + 2,
                values.len() - before,
                columns.len()
            ));
        }
        rows += 1;
    }
    Ok(NumericTable {
        columns,
        rows,
        values,
    })
}
