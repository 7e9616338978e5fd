//! NUTS against posteriors known in closed form. Each model is written in the ppl language, its
//! data fixed here, compiled to a tape and sampled with NUTS at Stan's defaults (4 chains, 1000
//! warmup + 1000 draws, a fixed seed). Every posterior mean and sd (and, for the regression, every
//! covariance) must lie within 4 Monte Carlo standard errors of the exact value:
//!
//! - the mean's MCSE is `ppl_infer::diagnostics::mcse_mean` of the draws;
//! - the sd's comes from the delta method: the variance is the mean of the centred squares
//!   `(x - x̄)²`, whose MCSE is again `mcse_mean`, and `sd = sqrt(var)` gives
//!   `mcse(sd) ≈ mcse(var) / (2 sd)`;
//! - a covariance is the mean of the centred products, with their `mcse_mean`.
//!
//! The eight-schools pair goes through the binary, as a user would see it: the centred form must
//! report divergences and advise a non-centred form, the non-centred form (almost) none.

mod common;

use std::path::Path;

use nalgebra::{DMatrix, DVector};
use ppl_infer::diagnostics::{mcse_mean, mean_sd};
use ppl_infer::mcmc::RunControl;
use ppl_infer::{SamplerSettings, sample_chains};
use ppl_model::posterior::Posterior;

/// How many Monte Carlo standard errors an estimate may be from the exact value.
const TOLERANCE_MCSE: f64 = 4.0;

/// Text → parse → check → data → bind → posterior, failing the test on any error.
fn posterior(source: &str, data_json: &str) -> Posterior {
    let (program, diagnostics) = ppl_syntax::parse(source);
    let errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "parse errors: {errors:#?}");
    let (model, diagnostics) =
        ppl_ir::check(&program, source, &ppl_ir::check::CheckOptions::default());
    let errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "check errors: {errors:#?}");
    let data = ppl_data::DataSet::from_json_str(data_json, Path::new("test.json"))
        .expect("the test's data parses");
    let bound = ppl_model::bind(&model, Some(&data), &[]).expect("the test's data binds");
    Posterior::new(&model, &bound, source).expect("the tape builds")
}

/// The constrained draws: `[column][chain][draw]`, columns as in `Posterior::columns`.
struct Draws {
    names: Vec<String>,
    values: Vec<Vec<Vec<f64>>>,
    divergences: usize,
}

impl Draws {
    fn column(&self, name: &str) -> &[Vec<f64>] {
        let index = self
            .names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("no column `{name}` in {:?}", self.names));
        &self.values[index]
    }
}

/// NUTS at the defaults (4 chains, 1000 + 1000) with `seed`.
fn sample(posterior: &Posterior, seed: u64) -> Draws {
    let settings = SamplerSettings {
        seed,
        ..SamplerSettings::default()
    };
    let outputs = sample_chains(&posterior.tape, &settings, &RunControl::default())
        .expect("the sampler runs");
    let names: Vec<String> = posterior
        .columns
        .iter()
        .map(|c| c.display.clone())
        .collect();
    let mut values = vec![vec![Vec::new(); outputs.len()]; names.len()];
    let mut divergences = 0;
    for (chain, output) in outputs.iter().enumerate() {
        divergences += output.divergences;
        for draw in 0..output.num_draws() {
            let row = posterior
                .row(output.draw(draw))
                .expect("a draw maps to its output row");
            for (column, value) in row.into_iter().enumerate() {
                values[column][chain].push(value);
            }
        }
    }
    Draws {
        names,
        values,
        divergences,
    }
}

fn as_slices(chains: &[Vec<f64>]) -> Vec<&[f64]> {
    chains.iter().map(|c| c.as_slice()).collect()
}

/// Mean and sd of the draws with their MCSEs (the sd's by the delta method, see the module doc).
struct MomentEstimate {
    mean: f64,
    mean_mcse: f64,
    sd: f64,
    sd_mcse: f64,
}

fn moments(chains: &[Vec<f64>]) -> MomentEstimate {
    let slices = as_slices(chains);
    let (mean, _) = mean_sd(&slices);
    let mean_mcse = mcse_mean(&slices);
    let squares: Vec<Vec<f64>> = chains
        .iter()
        .map(|c| c.iter().map(|x| (x - mean).powi(2)).collect())
        .collect();
    let square_slices = as_slices(&squares);
    let (variance, _) = mean_sd(&square_slices);
    let sd = variance.sqrt();
    let sd_mcse = mcse_mean(&square_slices) / (2.0 * sd);
    MomentEstimate {
        mean,
        mean_mcse,
        sd,
        sd_mcse,
    }
}

/// `(estimate - exact) / mcse`, printed so the test log keeps every z-score.
fn z_score(label: &str, estimate: f64, mcse: f64, exact: f64) -> f64 {
    let z = (estimate - exact) / mcse;
    println!(
        "{label:<28} estimate {estimate:>10.5}  exact {exact:>10.5}  mcse {mcse:.5}  z {z:+.2}"
    );
    z
}

/// A NaN z-score (an MCSE of zero or NaN) fails too.
fn within_tolerance(z: f64) -> bool {
    z.abs() < TOLERANCE_MCSE
}

/// Checks the mean and the sd of column `name` against the exact values; returns failures.
fn check_moments(draws: &Draws, name: &str, exact_mean: f64, exact_sd: f64) -> Vec<String> {
    let estimate = moments(draws.column(name));
    let mut failures = Vec::new();
    let z = z_score(
        &format!("{name} mean"),
        estimate.mean,
        estimate.mean_mcse,
        exact_mean,
    );
    if !within_tolerance(z) {
        failures.push(format!("{name}: mean z = {z:.2}"));
    }
    let z = z_score(
        &format!("{name} sd"),
        estimate.sd,
        estimate.sd_mcse,
        exact_sd,
    );
    if !within_tolerance(z) {
        failures.push(format!("{name}: sd z = {z:.2}"));
    }
    failures
}

/// Checks the covariance of two columns: the mean of the centred products and its MCSE.
fn check_covariance(draws: &Draws, first: &str, second: &str, exact: f64) -> Vec<String> {
    let (a, b) = (draws.column(first), draws.column(second));
    let (mean_a, _) = mean_sd(&as_slices(a));
    let (mean_b, _) = mean_sd(&as_slices(b));
    let products: Vec<Vec<f64>> = a
        .iter()
        .zip(b)
        .map(|(ca, cb)| {
            ca.iter()
                .zip(cb)
                .map(|(x, y)| (x - mean_a) * (y - mean_b))
                .collect()
        })
        .collect();
    let slices = as_slices(&products);
    let (covariance, _) = mean_sd(&slices);
    let z = z_score(
        &format!("cov({first}, {second})"),
        covariance,
        mcse_mean(&slices),
        exact,
    );
    if within_tolerance(z) {
        Vec::new()
    } else {
        vec![format!("cov({first}, {second}): z = {z:.2}")]
    }
}

fn assert_no_failures(failures: Vec<String>, draws: &Draws) {
    assert_eq!(
        draws.divergences, 0,
        "a conjugate posterior gave divergences"
    );
    assert!(
        failures.is_empty(),
        "beyond {TOLERANCE_MCSE} MCSE: {failures:#?}"
    );
}

#[test]
fn normal_mean_with_known_variance() {
    let source = "
observed y: real[N]
latent mu: real
mu ~ Normal(1, 2)
y ~ Normal(mu, 1.5)
";
    let y = [2.1, 3.4, 0.7, 2.9, 4.2, 1.8, 2.5, 3.3, 1.1, 2.6];
    let data = format!("{{\"y\": {y:?}}}");
    let draws = sample(&posterior(source, &data), 11);
    let (prior_mean, prior_sd, noise_sd) = (1.0, 2.0, 1.5);
    let precision = 1.0 / (prior_sd * prior_sd) + y.len() as f64 / (noise_sd * noise_sd);
    let mean = (prior_mean / (prior_sd * prior_sd) + y.iter().sum::<f64>() / (noise_sd * noise_sd))
        / precision;
    let failures = check_moments(&draws, "mu", mean, precision.sqrt().recip());
    assert_no_failures(failures, &draws);
}

/// Mean and sd of Beta(a, b).
fn beta_moments(a: f64, b: f64) -> (f64, f64) {
    let total = a + b;
    (a / total, (a * b / (total * total * (total + 1.0))).sqrt())
}

#[test]
fn beta_binomial() {
    // Two groups whose totals are 7 successes in 20 trials: the posterior is the one of a single
    // k = 7, n = 20 (see `beta_binomial_with_scalar_counts` for why they are arrays).
    let source = "
observed trials: int[G]
observed successes: int[G]
latent p: unit
p ~ Beta(2, 3)
successes ~ Binomial(trials, p)
";
    let data = r#"{"trials": [8, 12], "successes": [3, 4]}"#;
    let draws = sample(&posterior(source, data), 12);
    // Beta(2 + 7, 3 + 13).
    let (mean, sd) = beta_moments(9.0, 16.0);
    assert_no_failures(check_moments(&draws, "p", mean, sd), &draws);
}

/// The literal form with scalar counts: a scalar `observed k: int` is also a dimension, and as
/// data it can stand on the left of `~`.
#[test]
fn beta_binomial_with_scalar_counts() {
    let source = "
observed n: int
observed k: int
latent p: unit
p ~ Beta(2, 3)
k ~ Binomial(n, p)
";
    let draws = sample(&posterior(source, r#"{"n": 20, "k": 7}"#), 12);
    let (mean, sd) = beta_moments(9.0, 16.0);
    assert_no_failures(check_moments(&draws, "p", mean, sd), &draws);
}

#[test]
fn gamma_poisson() {
    let source = "
observed y: int[N]
latent lambda: positive
lambda ~ Gamma(3, 0.5)
y ~ Poisson(lambda)
";
    let y = [4, 7, 3, 5, 6, 2, 5, 8];
    let draws = sample(&posterior(source, &format!("{{\"y\": {y:?}}}")), 13);
    // Gamma(shape 3 + Σy, rate 0.5 + N).
    let shape = 3.0 + y.iter().sum::<i32>() as f64;
    let rate = 0.5 + y.len() as f64;
    let failures = check_moments(&draws, "lambda", shape / rate, shape.sqrt() / rate);
    assert_no_failures(failures, &draws);
}

#[test]
fn linear_regression_with_a_conjugate_prior() {
    let source = "
observed x: real[N, 2]
observed y: real[N]
latent alpha: real
latent beta: real[2]
alpha ~ Normal(0, 10)
beta ~ Normal(0, 2)
y ~ Normal(alpha + x @ beta, 0.8)
";
    let x = [
        [0.3, -1.2],
        [1.5, 0.4],
        [-0.7, 0.9],
        [2.1, -0.3],
        [-1.4, -1.1],
        [0.8, 1.7],
        [0.1, 0.2],
        [-2.0, 0.6],
        [1.1, -1.8],
        [0.5, 1.3],
        [-0.2, -0.5],
        [1.9, 1.0],
    ];
    let y = [1.9, 3.9, 0.2, 4.6, -0.9, 2.2, 1.7, -1.6, 4.5, 1.4, 1.1, 3.8];
    let data = format!(
        "{{\"x\": [{}], \"y\": {y:?}}}",
        x.iter()
            .map(|r| format!("{r:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let draws = sample(&posterior(source, &data), 14);

    // Coefficients (alpha, beta1, beta2) on the design [1, x1, x2]: precision
    // XᵀX / σ² + diag(prior precisions), mean = precision⁻¹ Xᵀy / σ² (the prior means are 0).
    let noise_variance = 0.8_f64 * 0.8;
    let design = DMatrix::from_fn(x.len(), 3, |r, c| if c == 0 { 1.0 } else { x[r][c - 1] });
    let response = DVector::from_column_slice(&y);
    let prior_precision = DMatrix::from_diagonal(&DVector::from_column_slice(&[
        1.0 / 100.0,
        1.0 / 4.0,
        1.0 / 4.0,
    ]));
    let precision = design.transpose() * &design / noise_variance + prior_precision;
    let covariance = precision
        .try_inverse()
        .expect("the precision is invertible");
    let mean = &covariance * design.transpose() * response / noise_variance;

    let names = ["alpha", "beta[1]", "beta[2]"];
    let mut failures = Vec::new();
    for (i, name) in names.iter().enumerate() {
        failures.extend(check_moments(
            &draws,
            name,
            mean[i],
            covariance[(i, i)].sqrt(),
        ));
    }
    for i in 0..3 {
        for j in i + 1..3 {
            failures.extend(check_covariance(
                &draws,
                names[i],
                names[j],
                covariance[(i, j)],
            ));
        }
    }
    assert_no_failures(failures, &draws);
}

/// Mean and sd of each component of Dirichlet(alpha).
fn dirichlet_moments(alpha: &[f64]) -> Vec<(f64, f64)> {
    let total: f64 = alpha.iter().sum();
    alpha
        .iter()
        .map(|a| {
            (
                a / total,
                (a * (total - a) / (total * total * (total + 1.0))).sqrt(),
            )
        })
        .collect()
}

#[test]
fn dirichlet_categorical() {
    let source = "
observed y: int[N] in 1..3
latent theta: simplex[3]
theta ~ Dirichlet([1.5, 2, 3])
y ~ Categorical(theta)
";
    let y: [usize; 15] = [1, 3, 3, 2, 3, 1, 3, 2, 3, 3, 1, 2, 3, 3, 2];
    let draws = sample(&posterior(source, &format!("{{\"y\": {y:?}}}")), 15);
    let mut alpha = [1.5, 2.0, 3.0];
    for category in y {
        alpha[category - 1] += 1.0;
    }
    let mut failures = Vec::new();
    for (k, (mean, sd)) in dirichlet_moments(&alpha).into_iter().enumerate() {
        failures.extend(check_moments(
            &draws,
            &format!("theta[{}]", k + 1),
            mean,
            sd,
        ));
    }
    assert_no_failures(failures, &draws);
}

#[test]
fn dirichlet_multinomial() {
    let source = "
observed counts: int[4]
latent theta: simplex[4]
theta ~ Dirichlet([1, 1, 2, 0.5])
counts ~ Multinomial(theta)
";
    let draws = sample(&posterior(source, r#"{"counts": [12, 3, 20, 1]}"#), 16);
    let alpha = [1.0 + 12.0, 1.0 + 3.0, 2.0 + 20.0, 0.5 + 1.0];
    let mut failures = Vec::new();
    for (k, (mean, sd)) in dirichlet_moments(&alpha).into_iter().enumerate() {
        failures.extend(check_moments(
            &draws,
            &format!("theta[{}]", k + 1),
            mean,
            sd,
        ));
    }
    assert_no_failures(failures, &draws);
}

// ---------------------------------------------------------------------------------------------
// Eight schools through the binary.

const EIGHT_SCHOOLS_DATA: &str =
    r#"{"J": 8, "y": [28, 8, -3, 7, -1, 1, 18, 12], "sigma": [15, 10, 16, 11, 9, 11, 10, 18]}"#;

const EIGHT_SCHOOLS_CENTRED: &str = "
observed J: int
observed y: real[J]
observed sigma: positive[J]
latent mu: real
latent tau: positive
latent theta: real[J]
mu ~ Normal(0, 5)
tau ~ Cauchy(0, 5)
theta ~ Normal(mu, tau)
y ~ Normal(theta, sigma)
";

const EIGHT_SCHOOLS_NONCENTRED: &str = "
observed J: int
observed y: real[J]
observed sigma: positive[J]
latent mu: real
latent tau: positive
latent eta: real[J]
let theta = mu + tau * eta
mu ~ Normal(0, 5)
tau ~ Cauchy(0, 5)
eta ~ Normal(0, 1)
y ~ Normal(theta, sigma)
";

/// `ppl run MODEL --data DATA --format json --seed SEED` on a model written to a scratch file.
fn run_json(name: &str, source: &str, data: &str, seed: u64) -> serde_json::Value {
    let dir = common::scratch(name);
    let model = dir.join(format!("{name}.model"));
    let data_path = dir.join(format!("{name}.json"));
    std::fs::write(&model, source).expect("model written");
    std::fs::write(&data_path, data).expect("data written");
    let output = common::ppl_command()
        .arg("run")
        .arg(&model)
        .arg("--data")
        .arg(&data_path)
        .args(["--format", "json", "--seed", &seed.to_string()])
        .output()
        .expect("ppl runs");
    let _ = std::fs::remove_dir_all(&dir);
    common::json_report(&output, name)
}

fn divergences(report: &serde_json::Value) -> u64 {
    report["diagnostics"]["divergences"]
        .as_u64()
        .expect("diagnostics.divergences is a count")
}

#[test]
fn eight_schools_centred_reports_divergences_and_advises_a_non_centred_form() {
    let report = run_json("centred", EIGHT_SCHOOLS_CENTRED, EIGHT_SCHOOLS_DATA, 1);
    assert_eq!(report["method"], "nuts");
    let count = divergences(&report);
    println!("eight schools, centred, seed 1: {count} divergences");
    assert!(
        count > 0,
        "the centred funnel gave no divergences: {report}"
    );
    let warnings = report["diagnostics"]["warnings"]
        .as_array()
        .expect("diagnostics.warnings is a list");
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .is_some_and(|w| w.contains("non-centred") && w.contains("theta"))),
        "no warning advises a non-centred form of theta: {warnings:?}"
    );
}

/// At the default target acceptance 0.8 the non-centred posterior still has a rare divergence
/// in the far tail of tau for some seeds (Stan too); more than 0.5% of the 4000 draws (20) would
/// mean the sampler is not following a benign geometry.
const NONCENTRED_MAX_DIVERGENCES: u64 = 20;

#[test]
fn eight_schools_noncentred_has_almost_no_divergences() {
    let report = run_json(
        "noncentred",
        EIGHT_SCHOOLS_NONCENTRED,
        EIGHT_SCHOOLS_DATA,
        1,
    );
    let count = divergences(&report);
    println!("eight schools, non-centred, seed 1: {count} divergences");
    assert!(
        count <= NONCENTRED_MAX_DIVERGENCES,
        "{count} divergences (at most {NONCENTRED_MAX_DIVERGENCES} expected): {report}"
    );
}
