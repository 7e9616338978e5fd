//! Discrete latents summed out of the tape (LANGUAGE.md §6 rule 5) against independent answers:
//! brute-force enumeration of the discrete states, closed forms (the conjugate change point),
//! finite differences for gradients, and NUTS on the marginal density with MCSE-based
//! tolerances.

use std::path::Path;
use std::time::Instant;

use ppl_infer::diagnostics::{mcse_mean, mean_sd};
use ppl_infer::mcmc::RunControl;
use ppl_infer::{LogDensity, SamplerSettings, sample_chains};
use ppl_model::marginal::{Decision, Structure, analyse};
use ppl_model::posterior::Posterior;
use rand::SeedableRng;

/// How many Monte Carlo standard errors an estimate may be from the exact value.
const TOLERANCE_MCSE: f64 = 4.0;

fn checked(source: &str) -> ppl_ir::Model {
    let (program, diagnostics) = ppl_syntax::parse(source);
    let errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "parse errors: {errors:#?}");
    let (model, diagnostics) =
        ppl_ir::check(&program, source, &ppl_ir::check::CheckOptions::default());
    let errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "check errors: {errors:#?}");
    model
}

/// A model and its data (JSON text) → the posterior with its discrete latents summed out.
fn posterior_json(source: &str, data_json: &str) -> (ppl_ir::Model, Posterior) {
    let model = checked(source);
    let data = ppl_data::DataSet::from_json_str(data_json, Path::new("test.json"))
        .expect("the test's data parses");
    let bound = ppl_model::bind(&model, Some(&data), &[]).expect("the test's data binds");
    let posterior = Posterior::new(&model, &bound, source).expect("the tape builds");
    (model, posterior)
}

/// An example file with its data file.
fn example(name: &str, data: &str) -> (ppl_ir::Model, ppl_model::BoundData, Posterior) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(root.join("examples").join(name)).expect("example");
    let model = checked(&source);
    let data = ppl_data::DataSet::load(&root.join("examples/data").join(data)).expect("data loads");
    let bound = ppl_model::bind(&model, Some(&data), &[]).expect("data binds");
    let posterior = Posterior::new(&model, &bound, &source).expect("the tape builds");
    (model, bound, posterior)
}

/// Central differences of the tape's log density, against its reverse-mode gradient.
fn assert_gradient_matches_differences(posterior: &Posterior, position: &[f64]) {
    let mut tape = posterior.tape.clone();
    let mut gradient = vec![0.0; position.len()];
    tape.log_density_and_gradient(position, &mut gradient)
        .expect("finite at the test point");
    for i in 0..position.len() {
        let step = 1e-5;
        let mut up = position.to_vec();
        up[i] += step;
        let mut down = position.to_vec();
        down[i] -= step;
        let difference = (tape.log_density(&up).expect("finite")
            - tape.log_density(&down).expect("finite"))
            / (2.0 * step);
        assert!(
            (difference - gradient[i]).abs() < 1e-5 * (1.0 + difference.abs()),
            "coordinate {i}: reverse mode {} but differences {difference}",
            gradient[i]
        );
    }
}

#[test]
fn the_examples_are_summed_out_with_the_expected_structure() {
    for (file, data, name, structure) in [
        (
            "coal_changepoint.model",
            "coal_disasters.csv",
            "s",
            Structure::Scalar,
        ),
        ("bayes_mixture.model", "gmm.csv", "z", Structure::Plate),
        ("zip.model", "zip.csv", "structural", Structure::Plate),
        ("hmm.model", "hmm.csv", "z", Structure::Chain),
    ] {
        let (model, bound, posterior) = example(file, data);
        let decisions = analyse(&model, &bound.dims);
        assert_eq!(decisions.len(), 1, "{file}");
        let Decision::Summed(latent) = &decisions[0] else {
            panic!("{file}: {:?}", decisions[0]);
        };
        assert_eq!(
            (latent.name.as_str(), latent.structure),
            (name, structure),
            "{file}"
        );
        let dim = posterior.tape.layout().dim;
        let position: Vec<f64> = (0..dim).map(|i| 0.1 * (i as f64 % 3.0) - 0.1).collect();
        assert_gradient_matches_differences(&posterior, &position);
        assert!(
            posterior
                .columns
                .iter()
                .any(|c| c.display.starts_with(name)),
            "{file}: no `{name}` column in {:?}",
            posterior.columns
        );
    }
}

/// Per chain, per draw: the output row (recovered latents included) and each summed latent's
/// per-element probabilities (flattened), from NUTS at the defaults with `seed`.
struct Run {
    columns: Vec<String>,
    /// `[chain][draw]` rows.
    rows: Vec<Vec<Vec<f64>>>,
    /// `[chain][draw]` probabilities of the first summed latent.
    probabilities: Vec<Vec<Vec<f64>>>,
    seconds: f64,
    divergences: usize,
}

impl Run {
    fn column(&self, name: &str) -> Vec<Vec<f64>> {
        let index = self
            .columns
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("no column `{name}` in {:?}", self.columns));
        self.rows
            .iter()
            .map(|chain| chain.iter().map(|row| row[index]).collect())
            .collect()
    }

    fn probability(&self, element_state: usize) -> Vec<Vec<f64>> {
        self.probabilities
            .iter()
            .map(|chain| chain.iter().map(|p| p[element_state]).collect())
            .collect()
    }
}

fn run(posterior: &Posterior, seed: u64) -> Run {
    let settings = SamplerSettings {
        seed,
        ..SamplerSettings::default()
    };
    let start = Instant::now();
    let outputs = sample_chains(&posterior.tape, &settings, &RunControl::default())
        .expect("the sampler runs");
    let seconds = start.elapsed().as_secs_f64();
    let mut rows = Vec::new();
    let mut probabilities = Vec::new();
    let mut divergences = 0;
    for (chain, output) in outputs.iter().enumerate() {
        divergences += output.divergences;
        let mut own = posterior.clone();
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(seed ^ (chain as u64 + 1));
        let mut chain_rows = Vec::new();
        let mut chain_probabilities = Vec::new();
        for draw in 0..output.num_draws() {
            let position = output.draw(draw);
            chain_rows.push(
                own.complete_draw(position, &mut rng)
                    .expect("a draw completes"),
            );
            let states = own.state_probabilities(position).expect("probabilities");
            chain_probabilities.push(states[0].probabilities.clone());
        }
        rows.push(chain_rows);
        probabilities.push(chain_probabilities);
    }
    Run {
        columns: posterior
            .columns
            .iter()
            .map(|c| c.display.clone())
            .collect(),
        rows,
        probabilities,
        seconds,
        divergences,
    }
}

fn estimate(chains: &[Vec<f64>]) -> (f64, f64) {
    let slices: Vec<&[f64]> = chains.iter().map(|c| c.as_slice()).collect();
    (mean_sd(&slices).0, mcse_mean(&slices))
}

fn assert_within_mcse(what: &str, chains: &[Vec<f64>], exact: f64) {
    let (mean, mcse) = estimate(chains);
    assert!(
        (mean - exact).abs() < TOLERANCE_MCSE * mcse.max(1e-12),
        "{what}: estimate {mean} ± {mcse} (MCSE) but exact {exact}"
    );
}

fn ln_gamma_integer(n: u64) -> f64 {
    (1..n).map(|k| (k as f64).ln()).sum()
}

/// The coal-mining change point with Exponential(1) = Gamma(1, 1) priors on the rates: given
/// the switch s, each rate integrates in closed form (∫ λ^S e^{-(n+1)λ} dλ = S! / (n+1)^{S+1}),
/// so p(s | y) is exact by summing over the years.
#[test]
fn the_change_point_matches_the_exact_posterior_over_the_years() {
    let (_, _, posterior) = example("coal_changepoint.model", "coal_disasters.csv");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("examples/data/coal_disasters.csv")).unwrap();
    let (years, counts): (Vec<u64>, Vec<u64>) = text
        .lines()
        .skip(1)
        .map(|line| {
            let (year, count) = line.split_once(',').unwrap();
            (
                year.trim().parse::<u64>().unwrap(),
                count.trim().parse::<u64>().unwrap(),
            )
        })
        .unzip();
    let years_count = counts.len();
    let segment =
        |sum: u64, n: usize| ln_gamma_integer(sum + 1) - (sum as f64 + 1.0) * (n as f64 + 1.0).ln();
    let mut log_weights = Vec::new();
    let mut early_means = Vec::new();
    let mut late_means = Vec::new();
    for s in 1..=years_count {
        let before: u64 = counts[..s - 1].iter().sum();
        let after: u64 = counts[s - 1..].iter().sum();
        log_weights.push(segment(before, s - 1) + segment(after, years_count - s + 1));
        early_means.push((before as f64 + 1.0) / (s as f64));
        late_means.push((after as f64 + 1.0) / ((years_count - s + 1) as f64 + 1.0));
    }
    let top = log_weights
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = log_weights.iter().map(|w| (w - top).exp()).sum();
    let exact: Vec<f64> = log_weights
        .iter()
        .map(|w| (w - top).exp() / total)
        .collect();

    let run = run(&posterior, 20261127);
    println!(
        "change point: NUTS 4 × (1000 + 1000) in {:.2} s",
        run.seconds
    );
    assert_eq!(run.divergences, 0);
    // The Rao–Blackwellised marginal of the switch, year by year.
    for (s, &p) in exact.iter().enumerate() {
        if p > 0.005 {
            assert_within_mcse(&format!("P(s = {})", s + 1), &run.probability(s), p);
        }
    }
    let expect = |values: &[f64]| exact.iter().zip(values).map(|(p, v)| p * v).sum::<f64>();
    let early = expect(&early_means);
    let late = expect(&late_means);
    assert_within_mcse("E[early]", &run.column("early"), early);
    assert_within_mcse("E[late]", &run.column("late"), late);
    let year_values: Vec<f64> = years.iter().map(|&y| y as f64).collect();
    assert_within_mcse(
        "E[switch_year]",
        &run.column("switch_year"),
        expect(&year_values),
    );
    // Where it concentrates (Jarrett's data: the rate falls around 1890).
    let in_window: f64 = years
        .iter()
        .zip(&exact)
        .filter(|(y, _)| (1885..=1895).contains(*y))
        .map(|(_, p)| p)
        .sum();
    assert!(in_window > 0.9, "P(1885 ≤ year ≤ 1895) = {in_window}");
    assert!(
        (early - 3.1).abs() < 0.15 && (late - 0.9).abs() < 0.1,
        "{early} {late}"
    );
    // The recovered switch (drawn per draw) agrees with the exact probabilities too.
    let s_column = run.column("s");
    let is_mode: Vec<Vec<f64>> = s_column
        .iter()
        .map(|c| c.iter().map(|&s| f64::from(u8::from(s == 41.0))).collect())
        .collect();
    assert_within_mcse("P(s = 41) by recovered draws", &is_mode, exact[40]);
}

/// A mixture with known weights, sds and second mean: the first mean's exact posterior by
/// quadrature on a fine grid (the per-point sum over components written out).
#[test]
fn a_plate_mixture_matches_the_exact_posterior_of_one_mean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("examples/data/gmm.csv")).unwrap();
    let x: Vec<f64> = text
        .lines()
        .skip(1)
        .take(80)
        .map(|l| l.trim().parse().unwrap())
        .collect();
    let source = "
observed x: real[N]
latent mu1: real
latent z: int[N] in 1..2
mu1 ~ Normal(0, 3)
z ~ Categorical([0.4, 0.6])
x ~ Normal([mu1, 1.0][z], [0.5, 0.8][z])
";
    let (_, posterior) = posterior_json(source, &format!(r#"{{"x": {x:?}}}"#));
    let normal = |x: f64, mu: f64, sigma: f64| {
        -0.5 * ((x - mu) / sigma).powi(2) - sigma.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
    };
    let first_log = |xi: f64, mu1: f64| 0.4f64.ln() + normal(xi, mu1, 0.5);
    let second_log = |xi: f64| 0.6f64.ln() + normal(xi, 1.0, 0.8);
    let grid: Vec<f64> = (0..=40_000)
        .map(|i| -4.0 + 6.0 * i as f64 / 40_000.0)
        .collect();
    let log_posterior: Vec<f64> = grid
        .iter()
        .map(|&m| {
            normal(m, 0.0, 3.0)
                + x.iter()
                    .map(|&xi| {
                        let (a, b) = (first_log(xi, m), second_log(xi));
                        a.max(b) + ((a - a.max(b)).exp() + (b - a.max(b)).exp()).ln()
                    })
                    .sum::<f64>()
        })
        .collect();
    let top = log_posterior
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = log_posterior.iter().map(|l| (l - top).exp()).collect();
    let total: f64 = weights.iter().sum();
    let mean: f64 = grid.iter().zip(&weights).map(|(m, w)| m * w).sum::<f64>() / total;
    let variance: f64 = grid
        .iter()
        .zip(&weights)
        .map(|(m, w)| (m - mean).powi(2) * w)
        .sum::<f64>()
        / total;
    assert!(weights[0] / total < 1e-12 && weights[grid.len() - 1] / total < 1e-12);
    // P(z[1] = 1 | x), integrating over mu1.
    let responsibility = |m: f64| {
        let (a, b) = (first_log(x[0], m), second_log(x[0]));
        1.0 / (1.0 + (b - a).exp())
    };
    let exact_z1: f64 = grid
        .iter()
        .zip(&weights)
        .map(|(&m, w)| responsibility(m) * w)
        .sum::<f64>()
        / total;

    let run = run(&posterior, 7);
    println!(
        "plate mixture: NUTS 4 × (1000 + 1000) in {:.2} s",
        run.seconds
    );
    let mu1 = run.column("mu1");
    assert_within_mcse("E[mu1]", &mu1, mean);
    let centred: Vec<Vec<f64>> = mu1
        .iter()
        .map(|c| c.iter().map(|m| (m - mean).powi(2)).collect())
        .collect();
    assert_within_mcse("Var[mu1]", &centred, variance);
    assert_within_mcse("P(z[1] = 1)", &run.probability(0), exact_z1);
}

/// The two-state HMM example (300 steps): NUTS with the forward algorithm, paths recovered by
/// FFBS. The data were simulated with known states (the `state` column), which the posterior
/// should mostly recover; FFBS draws and smoothing probabilities must agree.
#[test]
fn the_hidden_markov_model_samples_and_recovers_its_states() {
    let (_, _, posterior) = example("hmm.model", "hmm.csv");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("examples/data/hmm.csv")).unwrap();
    let truth: Vec<usize> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().trim().parse().unwrap())
        .collect();
    let run = run(&posterior, 3);
    println!(
        "HMM (T = 300): NUTS 4 × (1000 + 1000) in {:.2} s",
        run.seconds
    );
    assert_eq!(run.divergences, 0);
    let (mu1, _) = estimate(&run.column("mu[1]"));
    let (mu2, _) = estimate(&run.column("mu[2]"));
    assert!(
        (mu1 + 1.0).abs() < 0.3 && (mu2 - 1.5).abs() < 0.3,
        "{mu1} {mu2}"
    );
    let steps = truth.len();
    let mut agree = 0;
    for (t, &state) in truth.iter().enumerate() {
        let (p_first, _) = estimate(&run.probability(2 * t));
        let mode = if p_first > 0.5 { 1 } else { 2 };
        agree += usize::from(mode == state);
    }
    assert!(
        agree as f64 / steps as f64 > 0.9,
        "{agree} of {steps} states recovered"
    );
    // FFBS draws against the smoothing marginals, at a few steps.
    for t in [0, 57, 150, 299] {
        let drawn = run.column(&format!("z[{}]", t + 1));
        let is_first: Vec<Vec<f64>> = drawn
            .iter()
            .map(|c| c.iter().map(|&z| f64::from(u8::from(z == 1.0))).collect())
            .collect();
        let (smoothed, _) = estimate(&run.probability(2 * t));
        let (mean, _) = estimate(&is_first);
        // The draws are Bernoulli(p_draw) given the continuous part: their average differs
        // from the average of the p's by at most 4 sds of a binomial over 4000 draws.
        let sd = (smoothed * (1.0 - smoothed) / 4000.0).sqrt();
        assert!(
            (mean - smoothed).abs() < 4.0 * sd + 1e-9,
            "step {t}: {mean} vs {smoothed}"
        );
    }
}

#[test]
#[ignore = "timing probe"]
fn gradient_cost_probe() {
    for (file, data) in [
        ("coal_changepoint.model", "coal_disasters.csv"),
        ("hmm.model", "hmm.csv"),
        ("bayes_mixture.model", "gmm.csv"),
    ] {
        let (_, _, posterior) = example(file, data);
        let mut tape = posterior.tape.clone();
        let dim = tape.dim();
        let position = vec![0.1; dim];
        let mut gradient = vec![0.0; dim];
        let start = Instant::now();
        for _ in 0..1000 {
            tape.log_density_and_gradient(&position, &mut gradient)
                .unwrap();
        }
        println!(
            "{file}: {} nodes, fallback {:?}, {:.1} µs per gradient",
            tape.node_count(),
            tape.fallback_terms(),
            start.elapsed().as_secs_f64() * 1000.0
        );
    }
}
