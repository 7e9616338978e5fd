//! Tests of the marginalisation analysis, the summed tape and recovery. Every exact value is
//! computed here by hand: brute-force enumeration of the discrete states over log densities
//! written out in the test (normal, categorical), never by the tape itself.

use std::path::Path;

use ppl_infer::LogDensity;
use rand::SeedableRng;

use super::*;
use crate::posterior::Posterior;

fn model_and_dims(source: &str, data_json: &str) -> (Model, crate::BoundData) {
    let (program, diagnostics) = ppl_syntax::parse(source);
    assert!(
        diagnostics.iter().all(|d| !d.is_error()),
        "parse: {diagnostics:#?}"
    );
    let (model, diagnostics) = ppl_ir::check(&program, source, &Default::default());
    assert!(
        diagnostics.iter().all(|d| !d.is_error()),
        "check: {diagnostics:#?}"
    );
    let data = ppl_data::DataSet::from_json_str(data_json, Path::new("test.json"))
        .expect("test data parses");
    let bound = crate::bind(&model, Some(&data), &[]).expect("test data binds");
    (model, bound)
}

fn posterior(source: &str, data_json: &str) -> Posterior {
    let (model, bound) = model_and_dims(source, data_json);
    Posterior::new(&model, &bound, source).expect("the tape builds")
}

fn refusal(source: &str, data_json: &str) -> Refusal {
    let (model, bound) = model_and_dims(source, data_json);
    let refused: Vec<Refusal> = analyse(&model, &bound.dims)
        .into_iter()
        .filter_map(|d| match d {
            Decision::Refused(r) => Some(r),
            Decision::Summed(_) => None,
        })
        .collect();
    assert_eq!(refused.len(), 1, "expected one refusal");
    refused[0].clone()
}

fn normal_log_density(x: f64, mu: f64, sigma: f64) -> f64 {
    let z = (x - mu) / sigma;
    -0.5 * z * z - sigma.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
}

fn log_sum_exp(values: &[f64]) -> f64 {
    let top = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    top + values.iter().map(|v| (v - top).exp()).sum::<f64>().ln()
}

/// Every path of `steps` states out of `states`, as 0-based indices.
fn all_paths(states: usize, steps: usize) -> Vec<Vec<usize>> {
    let mut paths = vec![Vec::new()];
    for _ in 0..steps {
        paths = paths
            .into_iter()
            .flat_map(|p| {
                (0..states).map(move |k| {
                    let mut next = p.clone();
                    next.push(k);
                    next
                })
            })
            .collect();
    }
    paths
}

/// A chain with known potentials and one continuous unknown, a shift `m` of the emission means.
const HMM: &str = "
observed y: real[T]
observed initial: simplex[K]
observed theta: simplex[K, K]
observed mu: real[K]
latent m: real
latent z: int[T] in 1..K

m ~ Normal(0, 1)
z[1] ~ Categorical(initial)
for t in 2..T {
    z[t] ~ Categorical(theta[z[t - 1]])
}
y ~ Normal(mu[z] + m, 0.8)
";

struct HmmCase {
    y: Vec<f64>,
    initial: Vec<f64>,
    theta: Vec<Vec<f64>>,
    mu: Vec<f64>,
}

impl HmmCase {
    fn json(&self) -> String {
        format!(
            r#"{{"y": {:?}, "initial": {:?}, "theta": {:?}, "mu": {:?}}}"#,
            self.y, self.initial, self.theta, self.mu
        )
    }

    /// log p(path, y | m), written out.
    fn path_log_density(&self, path: &[usize], m: f64) -> f64 {
        let mut total = self.initial[path[0]].ln();
        for t in 1..path.len() {
            total += self.theta[path[t - 1]][path[t]].ln();
        }
        for (t, &k) in path.iter().enumerate() {
            total += normal_log_density(self.y[t], self.mu[k] + m, 0.8);
        }
        total
    }

    fn paths(&self) -> Vec<Vec<usize>> {
        all_paths(self.mu.len(), self.y.len())
    }

    /// log p(y, m) by enumerating every path.
    fn brute_force(&self, m: f64) -> f64 {
        let joint: Vec<f64> = self
            .paths()
            .iter()
            .map(|p| self.path_log_density(p, m))
            .collect();
        normal_log_density(m, 0.0, 1.0) + log_sum_exp(&joint)
    }

    /// P(z[t] = k | y, m), row-major steps × states, by enumeration.
    fn smoothing(&self, m: f64) -> Vec<f64> {
        let states = self.mu.len();
        let paths = self.paths();
        let joint: Vec<f64> = paths.iter().map(|p| self.path_log_density(p, m)).collect();
        let total = log_sum_exp(&joint);
        let mut out = vec![0.0; self.y.len() * states];
        for (path, log_p) in paths.iter().zip(&joint) {
            for (t, &k) in path.iter().enumerate() {
                out[t * states + k] += (log_p - total).exp();
            }
        }
        out
    }
}

fn two_state_case() -> HmmCase {
    HmmCase {
        y: vec![-1.2, -0.4, 1.9, 0.3, 1.1, -0.8],
        initial: vec![0.3, 0.7],
        theta: vec![vec![0.8, 0.2], vec![0.35, 0.65]],
        mu: vec![-1.0, 1.5],
    }
}

fn three_state_case() -> HmmCase {
    HmmCase {
        y: vec![0.2, 2.4, 2.0, -1.5, 0.1],
        initial: vec![0.2, 0.5, 0.3],
        theta: vec![
            vec![0.6, 0.3, 0.1],
            vec![0.25, 0.5, 0.25],
            vec![0.1, 0.2, 0.7],
        ],
        mu: vec![-1.0, 0.0, 2.0],
    }
}

#[test]
fn the_forward_algorithm_equals_the_sum_over_every_path() {
    for case in [two_state_case(), three_state_case()] {
        let mut posterior = posterior(HMM, &case.json());
        assert_eq!(posterior.summed[0].structure, Structure::Chain);
        for m in [-0.7, 0.0, 0.45] {
            let value = posterior.tape.log_density(&[m]).expect("finite");
            let exact = case.brute_force(m);
            assert!((value - exact).abs() < 1e-10, "m = {m}: {value} vs {exact}");
            // The reverse rule (forward–backward) against differences of the brute-force sum.
            let mut gradient = [0.0];
            posterior
                .tape
                .log_density_and_gradient(&[m], &mut gradient)
                .expect("finite");
            let step = 1e-6;
            let difference =
                (case.brute_force(m + step) - case.brute_force(m - step)) / (2.0 * step);
            assert!(
                (gradient[0] - difference).abs() < 1e-6,
                "m = {m}: gradient {} vs differences {difference}",
                gradient[0]
            );
        }
    }
}

#[test]
fn recovered_chain_probabilities_are_the_smoothing_marginals() {
    for case in [two_state_case(), three_state_case()] {
        let mut posterior = posterior(HMM, &case.json());
        let m = 0.3;
        let recovered = posterior.state_probabilities(&[m]).expect("finite");
        let exact = case.smoothing(m);
        assert_eq!(recovered[0].probabilities.len(), exact.len());
        for (r, e) in recovered[0].probabilities.iter().zip(&exact) {
            assert!((r - e).abs() < 1e-10, "{r} vs {e}");
        }
        // Forward-filtering backward-sampling: whole paths drawn with the exact path
        // probabilities. Each path's frequency is within 4 binomial sds of its probability.
        let paths = case.paths();
        let joint: Vec<f64> = paths.iter().map(|p| case.path_log_density(p, m)).collect();
        let total = log_sum_exp(&joint);
        let draws = 20_000;
        let mut counts = vec![0usize; paths.len()];
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(11);
        let columns = posterior.columns.len();
        for _ in 0..draws {
            let row = posterior.complete_draw(&[m], &mut rng).expect("a draw");
            assert_eq!(row.len(), columns);
            let path: Vec<usize> = row[1..1 + case.y.len()]
                .iter()
                .map(|&v| v as usize - 1)
                .collect();
            let index = paths.iter().position(|p| *p == path).expect("a valid path");
            counts[index] += 1;
        }
        for (count, log_p) in counts.iter().zip(&joint) {
            let p = (log_p - total).exp();
            let sd = (draws as f64 * p * (1.0 - p)).sqrt();
            assert!(
                (*count as f64 - draws as f64 * p).abs() <= 4.0 * sd + 1.0,
                "a path drawn {count} times where {} are expected",
                draws as f64 * p
            );
        }
    }
}

/// A two-component mixture with known weights, sds and second mean: the first mean is the only
/// continuous unknown.
const MIXTURE: &str = "
observed x: real[N]
observed w: simplex[2]
latent mu1: real
latent z: int[N] in 1..2

mu1 ~ Normal(0, 3)
z ~ Categorical(w)
x ~ Normal([mu1, 2.0][z], [1.0, 0.5][z])
";

#[test]
fn a_plate_is_summed_per_element() {
    let x: [f64; 7] = [-1.3, 0.2, 2.2, 1.7, -0.4, 2.5, 0.9];
    let w: [f64; 2] = [0.35, 0.65];
    let json = format!(r#"{{"x": {x:?}, "w": {w:?}}}"#);
    let mut posterior = posterior(MIXTURE, &json);
    assert_eq!(posterior.summed[0].structure, Structure::Plate);
    let exact = |mu1: f64| {
        normal_log_density(mu1, 0.0, 3.0)
            + x.iter()
                .map(|&xi| {
                    log_sum_exp(&[
                        w[0].ln() + normal_log_density(xi, mu1, 1.0),
                        w[1].ln() + normal_log_density(xi, 2.0, 0.5),
                    ])
                })
                .sum::<f64>()
    };
    for mu1 in [-1.0, 0.3, 1.8] {
        let mut gradient = [0.0];
        let value = posterior
            .tape
            .log_density_and_gradient(&[mu1], &mut gradient)
            .expect("finite");
        assert!((value - exact(mu1)).abs() < 1e-10);
        let step = 1e-6;
        let difference = (exact(mu1 + step) - exact(mu1 - step)) / (2.0 * step);
        assert!((gradient[0] - difference).abs() < 1e-6);
        // Brute force over all 2^7 assignments gives the same per-point probabilities.
        let recovered = posterior.state_probabilities(&[mu1]).expect("finite");
        let paths = all_paths(2, x.len());
        let joint: Vec<f64> = paths
            .iter()
            .map(|p| {
                p.iter()
                    .zip(&x)
                    .map(|(&k, &xi)| {
                        let (mean, sd) = if k == 0 { (mu1, 1.0) } else { (2.0, 0.5) };
                        w[k].ln() + normal_log_density(xi, mean, sd)
                    })
                    .sum()
            })
            .collect();
        let total = log_sum_exp(&joint);
        for n in 0..x.len() {
            let p_first: f64 = paths
                .iter()
                .zip(&joint)
                .filter(|(p, _)| p[n] == 0)
                .map(|(_, j)| (j - total).exp())
                .sum();
            let got = recovered[0].probabilities[2 * n];
            assert!(
                (got - p_first).abs() < 1e-10,
                "point {n}: {got} vs {p_first}"
            );
        }
    }
}

/// A change point with known rates, the scale of both rates a continuous unknown.
const CHANGE: &str = "
observed count: int[T]
latent scale: positive
latent s: int in 2..T - 1

scale ~ Gamma(2, 1)
count ~ Poisson(scale * (if [t for t in 1..T] < s then 3.0 else 1.0))
";

#[test]
fn a_scalar_with_a_data_bound_is_summed_over_its_values() {
    let count = [4.0, 2.0, 5.0, 1.0, 0.0, 2.0, 1.0];
    let json = r#"{"count": [4, 2, 5, 1, 0, 2, 1]}"#;
    let mut posterior = posterior(CHANGE, json);
    let latent = &posterior.summed[0];
    assert_eq!(
        (latent.structure, latent.low, latent.states),
        (Structure::Scalar, 2, 5)
    );
    let log_poisson = |y: f64, rate: f64| y * rate.ln() - rate - ln_factorial(y);
    let per_switch = |scale: f64| -> Vec<f64> {
        (2..=6)
            .map(|s| {
                count
                    .iter()
                    .enumerate()
                    .map(|(i, &y)| {
                        let rate = if (i + 1) < s { 3.0 * scale } else { scale };
                        log_poisson(y, rate)
                    })
                    .sum()
            })
            .collect()
    };
    // Gamma(2, 1) on `scale`, plus log |J| of the log transform (position = log scale).
    let exact = |u: f64| {
        let scale: f64 = u.exp();
        scale.ln() - scale + u + log_sum_exp(&per_switch(scale))
    };
    for u in [-0.5, 0.4, 1.1] {
        let mut gradient = [0.0];
        let value = posterior
            .tape
            .log_density_and_gradient(&[u], &mut gradient)
            .expect("finite");
        assert!((value - exact(u)).abs() < 1e-10, "{value} vs {}", exact(u));
        let step = 1e-6;
        let difference = (exact(u + step) - exact(u - step)) / (2.0 * step);
        assert!((gradient[0] - difference).abs() < 1e-6);
        let weights = per_switch(u.exp());
        let total = log_sum_exp(&weights);
        let recovered = posterior.state_probabilities(&[u]).expect("finite");
        for (got, w) in recovered[0].probabilities.iter().zip(&weights) {
            assert!((got - (w - total).exp()).abs() < 1e-12);
        }
    }
}

/// A chain whose transition rows and mixture-like weights are sampled: the categorical terms
/// of the summed latent take one logarithm per element (`Op::CategoricalPick`, through the
/// gather of `theta`'s rows), and must still differentiate to the enumerated answer.
const SAMPLED_CHAIN: &str = "
observed y: real[T]
latent w: unit
latent stay: unit
latent z: int[T] in 1..2

z[1] ~ Categorical([w, 1 - w])
for t in 2..T {
    z[t] ~ Categorical([[stay, 1 - stay], [1 - stay, stay]][z[t - 1]])
}
y ~ Normal([-1.0, 1.5][z], 1)
";

#[test]
fn sampled_categorical_weights_differentiate_to_the_enumerated_answer() {
    let y = [-0.7, 1.9, 1.1, -1.4, 0.3];
    let json = format!(r#"{{"y": {y:?}}}"#);
    let mut posterior = posterior(SAMPLED_CHAIN, &json);
    assert_eq!(posterior.summed[0].structure, Structure::Chain);
    let means = [-1.0, 1.5];
    let logistic = |u: f64| 1.0 / (1.0 + (-u).exp());
    // Uniform priors on (0, 1) through the logit transform: log |J| = log p + log(1 - p).
    let exact = |u: [f64; 2]| {
        let (w, stay) = (logistic(u[0]), logistic(u[1]));
        let paths = all_paths(2, y.len());
        let joint: Vec<f64> = paths
            .iter()
            .map(|p| {
                let mut value = [w, 1.0 - w][p[0]].ln();
                for t in 1..p.len() {
                    value += if p[t] == p[t - 1] { stay } else { 1.0 - stay }.ln();
                }
                value
                    + p.iter()
                        .zip(&y)
                        .map(|(&k, &yt)| normal_log_density(yt, means[k], 1.0))
                        .sum::<f64>()
            })
            .collect();
        log_sum_exp(&joint) + (w * (1.0 - w)).ln() + (stay * (1.0 - stay)).ln()
    };
    for u in [[0.3, 1.2], [-0.8, -0.1], [1.5, 0.4]] {
        let mut gradient = [0.0; 2];
        let value = posterior
            .tape
            .log_density_and_gradient(&u, &mut gradient)
            .expect("finite");
        assert!((value - exact(u)).abs() < 1e-10, "{value} vs {}", exact(u));
        for axis in 0..2 {
            let step = 1e-6;
            let (mut up, mut down) = (u, u);
            up[axis] += step;
            down[axis] -= step;
            let difference = (exact(up) - exact(down)) / (2.0 * step);
            assert!(
                (gradient[axis] - difference).abs() < 1e-6,
                "axis {axis}: {} vs {difference}",
                gradient[axis]
            );
        }
    }
}

/// A change point in loop form with both rates unknown, the comparison written the other way
/// round, and one term that reads the switch arithmetically (so it stays on the per-state
/// path): the fast path and the general one must add up to the enumerated posterior.
const CHANGE_MIXED: &str = "
observed count: int[T]
observed z: real
latent early: positive
latent late: positive
latent s: int in 1..T

early ~ Exponential(1)
late ~ Exponential(1)
for t in 1..T {
    count[t] ~ Poisson(if s <= t then late else early)
}
z ~ Normal(0.1 * s, 1)
";

#[test]
fn a_change_point_is_summed_by_one_running_sum_that_matches_enumeration() {
    let count = [4.0, 2.0, 5.0, 3.0, 1.0, 0.0, 2.0, 1.0, 0.0];
    let json = r#"{"count": [4, 2, 5, 3, 1, 0, 2, 1, 0], "z": 0.45}"#;
    let mut posterior = posterior(CHANGE_MIXED, json);
    assert_eq!(
        posterior.tape.threshold_terms(),
        1,
        "the loop takes the fast path"
    );
    let log_poisson = |y: f64, rate: f64| y * rate.ln() - rate - ln_factorial(y);
    let per_switch = |early: f64, late: f64| -> Vec<f64> {
        (1..=count.len())
            .map(|s| {
                let counts: f64 = count
                    .iter()
                    .enumerate()
                    .map(|(i, &y)| log_poisson(y, if s <= i + 1 { late } else { early }))
                    .sum();
                counts + normal_log_density(0.45, 0.1 * s as f64, 1.0)
            })
            .collect()
    };
    // Exponential(1) priors and the log transforms' Jacobians (position = log rates).
    let exact = |u: [f64; 2]| {
        let (early, late) = (u[0].exp(), u[1].exp());
        -early - late + u[0] + u[1] + log_sum_exp(&per_switch(early, late))
    };
    for u in [[0.9, -0.2], [1.3, 0.1], [-0.4, 0.7]] {
        let mut gradient = [0.0; 2];
        let value = posterior
            .tape
            .log_density_and_gradient(&u, &mut gradient)
            .expect("finite");
        assert!((value - exact(u)).abs() < 1e-10, "{value} vs {}", exact(u));
        for axis in 0..2 {
            let step = 1e-6;
            let (mut up, mut down) = (u, u);
            up[axis] += step;
            down[axis] -= step;
            let difference = (exact(up) - exact(down)) / (2.0 * step);
            assert!(
                (gradient[axis] - difference).abs() < 1e-6,
                "axis {axis}: {} vs {difference}",
                gradient[axis]
            );
        }
        let weights = per_switch(u[0].exp(), u[1].exp());
        let total = log_sum_exp(&weights);
        let recovered = posterior.state_probabilities(&u).expect("finite");
        for (got, w) in recovered[0].probabilities.iter().zip(&weights) {
            assert!((got - (w - total).exp()).abs() < 1e-12);
        }
    }
}

#[test]
fn a_switch_read_other_than_by_one_comparison_keeps_the_per_state_path() {
    let source = "
observed count: int[T]
latent rate: positive
latent s: int in 1..T
rate ~ Exponential(1)
count ~ Poisson(rate * (1 + 0.1 * s) * (if [t for t in 1..T] < s then 2 else 1))
";
    let posterior = posterior(source, r#"{"count": [1, 2, 0, 3]}"#);
    assert_eq!(posterior.tape.threshold_terms(), 0);
}

fn ln_factorial(y: f64) -> f64 {
    (1..=y as u64).map(|k| (k as f64).ln()).sum()
}

#[test]
fn couplings_that_are_not_a_plate_or_a_chain_are_refused_with_the_statement() {
    let data = r#"{"x": [0.5, 1.5, -0.2]}"#;
    let coupled = "
observed x: real[N]
latent z: int[N] in 1..2
x ~ Normal(sum(z), 1)
";
    let refused = refusal(coupled, data);
    assert_eq!(refused.name, "z");
    assert!(
        refused.reason.contains("not independent"),
        "{}",
        refused.reason
    );
    assert_eq!(&coupled[refused.span.range()], "z");

    let unbounded = "
observed x: real[N]
latent k: int
x ~ Normal(k, 1)
";
    let refused = refusal(unbounded, data);
    assert!(
        refused.reason.contains("no finite support"),
        "{}",
        refused.reason
    );

    let too_many = "
observed x: real[N]
latent k: int in 1..20000
x ~ Normal(k, 1)
";
    let refused = refusal(too_many, data);
    assert!(
        refused.over_cap && refused.reason.contains("10000"),
        "{}",
        refused.reason
    );

    let second_order = "
observed x: real[N]
latent z: int[N] in 1..2
z[1] ~ Categorical([0.5, 0.5])
z[2] ~ Categorical([0.5, 0.5])
for t in 3..N {
    z[t] ~ Categorical(if z[t - 2] == 1 then [0.9, 0.1] else [0.2, 0.8])
}
x ~ Normal(z, 1)
";
    let refused = refusal(second_order, data);
    assert!(
        refused.reason.contains("not independent"),
        "{}",
        refused.reason
    );

    let two = "
observed x: real[N]
latent a: int in 1..3
latent b: bool
x ~ Normal(a + b, 1)
";
    let (model, bound) = model_and_dims(two, data);
    let Err(error) = Posterior::new(&model, &bound, two) else {
        panic!("two discrete unknowns in one statement must be refused");
    };
    assert!(error.message.contains("couples"), "{}", error.message);
}

#[test]
fn a_continuous_only_model_has_nothing_summed() {
    let posterior = posterior(
        "observed x: real[N]\nlatent mu: real\nx ~ Normal(mu, 1)\n",
        r#"{"x": [1.0, 2.0]}"#,
    );
    assert!(posterior.summed.is_empty());
    assert_eq!(posterior.columns.len(), 1);
}

#[test]
fn a_data_bound_is_checked_against_observed_values_and_printed() {
    let source = "
observed x: real[K]
observed y: int[N] in 1..K
";
    let (program, _) = ppl_syntax::parse(source);
    let (model, diagnostics) = ppl_ir::check(&program, source, &Default::default());
    assert!(
        diagnostics.iter().all(|d| !d.is_error()),
        "{diagnostics:#?}"
    );
    assert!(
        ppl_ir::printer::print(&model).contains("in [1, K] (from the data)"),
        "{}",
        ppl_ir::printer::print(&model)
    );
    let data = ppl_data::DataSet::from_json_str(
        r#"{"y": [1, 3, 2], "x": [0.5, 1.5]}"#,
        Path::new("test.json"),
    )
    .expect("parses");
    let Err(errors) = crate::bind(&model, Some(&data), &[]) else {
        panic!("3 > K = 2 must not bind");
    };
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("outside its bound 1..2")),
        "{errors:#?}"
    );
}
