//! `ppl-bench rbm`: the RBM engine (`ppl_infer::energy`) in process on the 8x8 digits binarised
//! at pixel > 7 (64 hidden units, 20 epochs, batch 10, learning rate 0.06: scikit-learn's
//! settings), against `rbm_sklearn.py` in the same session. Timed twice: the updates alone (what
//! scikit-learn's `fit` time covers), best and median of `--repeat`; then once with the per-epoch
//! exact pseudo-likelihood trace and the AIS estimate, each timed on its own.

use std::path::PathBuf;
use std::time::Instant;

use ppl_infer::energy::{AisSettings, CdSettings, RbmProblem, fit_rbm};
use serde_json::{Value, json};

use crate::em::load_numeric_csv;
use crate::error::BenchError;
use crate::peers::{NO_PEER, PeerOptions, Peers, ScratchDir};
use crate::process::{load_average, run_timed_json};
use crate::stats::{median, ratio, round};

pub const USAGE: &str = "ppl-bench rbm --data digits.csv [--seed S] [--repeat R] [--momentum M] \
     [--k K] [--lr LR] [--epochs E] [--peers DIR] [--peer-python PATH] [--no-peer] \
     [--samples-png FILE]";

pub struct RbmCommand {
    data: PathBuf,
    seed: u64,
    repeat: usize,
    momentum: f64,
    gibbs_steps: usize,
    learning_rate: f64,
    epochs: usize,
    peers: PeerOptions,
    /// Where to draw 64 samples of the trained RBM as an 8 × 8 grid of pictures.
    samples_png: Option<PathBuf>,
}

impl RbmCommand {
    pub fn parse(arguments: &[String]) -> Result<RbmCommand, BenchError> {
        let mut command = RbmCommand {
            data: PathBuf::new(),
            seed: 0,
            repeat: 5,
            momentum: 0.0,
            gibbs_steps: 1,
            learning_rate: 0.06,
            epochs: 20,
            peers: PeerOptions::default(),
            samples_png: None,
        };
        let (switches, pairs) = crate::args::split(arguments, &[NO_PEER])?;
        command.peers = PeerOptions::from_switches(&switches);
        for pair in pairs {
            match pair.flag {
                "--data" => command.data = pair.path(),
                "--seed" => command.seed = pair.parse()?,
                "--repeat" => command.repeat = pair.parse::<usize>()?.max(1),
                "--momentum" => command.momentum = pair.parse()?,
                "--k" => command.gibbs_steps = pair.parse()?,
                "--lr" => command.learning_rate = pair.parse()?,
                "--epochs" => command.epochs = pair.parse()?,
                "--samples-png" => command.samples_png = Some(pair.path()),
                _ if command.peers.read(&pair) => {}
                _ => return Err(pair.unknown()),
            }
        }
        if command.data.as_os_str().is_empty() {
            return Err(BenchError::Usage("`--data FILE` is required".into()));
        }
        Ok(command)
    }

    pub fn run(self) -> Result<Value, BenchError> {
        let load_before = load_average();
        let table = load_numeric_csv(&self.data)?;
        // The pixel columns, binarised as scikit-learn's script does (> 7 of 16).
        let pixels: Vec<usize> = (0..table.columns.len())
            .filter(|&c| table.columns[c].starts_with("pixel") || table.columns[c].starts_with('p'))
            .filter(|&c| table.columns[c] != "label")
            .collect();
        let width = table.columns.len();
        let visible = pixels.len();
        let data: Vec<f64> = table
            .values
            .chunks_exact(width)
            .flat_map(|row| {
                pixels
                    .iter()
                    .map(move |&c| f64::from(u8::from(row[c] > 7.0)))
            })
            .collect();
        let problem = RbmProblem {
            data: &data,
            rows: table.rows,
            visible,
            hidden: 64,
        };
        let settings = CdSettings {
            epochs: self.epochs,
            batch_size: 10,
            learning_rate: self.learning_rate,
            momentum: self.momentum,
            weight_decay: 0.0,
            gibbs_steps: self.gibbs_steps,
            seed: self.seed,
            trace: false,
            ais: AisSettings {
                runs: 0,
                ..AisSettings::default()
            },
        };
        // The updates alone (as scikit-learn's fit), and the whole call, which adds the final
        // exact pseudo-likelihood in f64.
        let mut times = Vec::with_capacity(self.repeat);
        let mut call_times = Vec::with_capacity(self.repeat);
        for _ in 0..self.repeat {
            let started = Instant::now();
            let fit = fit_rbm(&problem, &settings, None)
                .map_err(|e| BenchError::Engine(e.to_string()))?;
            call_times.push(started.elapsed().as_secs_f64());
            times.push(fit.train_seconds);
        }
        let full = CdSettings {
            trace: true,
            ais: AisSettings {
                seed: self.seed,
                ..AisSettings::default()
            },
            ..settings
        };
        let started = Instant::now();
        let fit = fit_rbm(&problem, &full, None).map_err(|e| BenchError::Engine(e.to_string()))?;
        let full_s = started.elapsed().as_secs_f64();
        let best = times.iter().copied().fold(f64::INFINITY, f64::min);
        let ais = fit.ais.as_ref();
        let ppl = json!({
            "pseudo_loglik_exact_per_sample": fit.pseudo_log_likelihood,
            "trace": fit.trace,
            "ais_loglik_per_sample": ais.map(|a| a.log_likelihood_per_row),
            "ais_log_z": ais.map(|a| a.log_partition),
            "ais_log_z_se": ais.map(|a| a.standard_error),
            "ais_runs": ais.map(|a| a.runs),
            "ais_temperatures": ais.map(|a| a.temperatures),
            "wall_s": round(best),
            "wall_s_median": median(times.iter().copied()).map(round),
            "repeats": self.repeat,
            "call_s_median": median(call_times.iter().copied()).map(round),
            "with_trace_and_ais_s": round(full_s),
            "train_s": round(fit.train_seconds),
            "objective_s": round(fit.objective_seconds),
            "ais_s": round(fit.ais_seconds),
            "threads": rayon::current_num_threads(),
        });
        if let Some(path) = &self.samples_png {
            let started = Instant::now();
            let samples = fit.rbm.sample_visible_probabilities(64, 1000, self.seed);
            write_grid(path, &samples, 8).map_err(|e| BenchError::Engine(e.to_string()))?;
            eprintln!(
                "ppl-bench: 64 samples (1000 Gibbs sweeps each) in {:.2} s, drawn to {}",
                started.elapsed().as_secs_f64(),
                path.display()
            );
        }
        let (peer, peer_note) = match self.peers.locate() {
            Ok(peers) => (Some(self.run_peer(&peers)?), None),
            Err(reason) => (None, Some(reason)),
        };
        let mut report = json!({
            "task": "rbm",
            "data": self.data.display().to_string(),
            "n": table.rows, "d": visible, "hidden": 64, "epochs": self.epochs,
            "batch_size": 10, "lr": self.learning_rate, "momentum": self.momentum,
            "k": self.gibbs_steps, "seed": self.seed,
            "load_average_before": load_before,
            "ppl": ppl,
            "sklearn": peer.clone().unwrap_or(Value::Null),
        });
        if let Some(note) = peer_note {
            report["sklearn_skipped"] = json!(note);
        }
        if let Some(peer) = peer {
            report["speedup_vs_sklearn"] = json!(ratio(peer["wall_s"].as_f64(), Some(best)));
            report["pll_minus_sklearn_exact"] = json!(
                peer["pseudo_loglik_exact_per_sample"]
                    .as_f64()
                    .map(|theirs| fit.pseudo_log_likelihood - theirs)
            );
        }
        report["load_average_after"] = json!(load_average());
        Ok(report)
    }

    /// scikit-learn on its own copy of the digits (`load_digits`, the same 1,797 rows).
    fn run_peer(&self, peers: &Peers) -> Result<Value, BenchError> {
        eprintln!("ppl-bench: running scikit-learn's BernoulliRBM");
        let script = peers.script("rbm_sklearn.py")?;
        let arguments = vec![
            script.display().to_string(),
            "--seed".into(),
            self.seed.to_string(),
            "--learning-rate".into(),
            self.learning_rate.to_string(),
            "--n-iter".into(),
            self.epochs.to_string(),
        ];
        let scratch = ScratchDir::new()?;
        let run = run_timed_json(&peers.python, &arguments, &scratch.path)?;
        let mut value = run.value;
        value["process_s"] = json!(round(run.process_seconds));
        Ok(value)
    }
}

/// Square pictures of `side × side` probabilities (one a row of `values`), 8 a row, each pixel
/// 4 × 4 grey levels (white = 1), one-pixel mid-grey gaps, as an 8-bit greyscale PNG.
fn write_grid(path: &std::path::Path, values: &[f64], side: usize) -> std::io::Result<()> {
    const SCALE: usize = 4;
    const PER_ROW: usize = 8;
    let pictures = values.len() / (side * side);
    let rows = pictures.div_ceil(PER_ROW);
    let cell = side * SCALE + 1;
    let (width, height) = (PER_ROW * cell + 1, rows * cell + 1);
    let mut pixels = vec![128u8; width * height];
    for (index, picture) in values.chunks_exact(side * side).enumerate() {
        let (top, left) = ((index / PER_ROW) * cell + 1, (index % PER_ROW) * cell + 1);
        for (k, &p) in picture.iter().enumerate() {
            let grey = (p.clamp(0.0, 1.0) * 255.0).round() as u8;
            for dy in 0..SCALE {
                for dx in 0..SCALE {
                    let y = top + (k / side) * SCALE + dy;
                    let x = left + (k % side) * SCALE + dx;
                    pixels[y * width + x] = grey;
                }
            }
        }
    }
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, width as u32, height as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(std::io::Error::other)?;
    writer
        .write_image_data(&pixels)
        .map_err(std::io::Error::other)?;
    Ok(())
}
