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

/// The benchmark HMM's form (`crates/ppl-bench/models/discrete_hmm.model`, with a sampled noise
/// scale as `examples/hmm.model`): sampled transition rows, ordered means. The transitions are
/// the same at every step, so the tape reads them once (`Op::ChainForward`, homogeneous).
const SAMPLED_HMM: &str = "
const K = 2
observed y: real[T]
latent theta: simplex[K, K]
latent mu: ordered[K]
latent sigma: positive
latent z: int[T] in 1..K

theta[1] ~ Dirichlet([1.0, 1.0])
theta[2] ~ Dirichlet([2.0, 1.0])
mu ~ Normal([3.0, 10.0], 4)
sigma ~ HalfNormal(2)
z[1] ~ Categorical([0.4, 0.6])
for t in 2..T {
    z[t] ~ Categorical(theta[z[t - 1]])
}
y ~ Normal(mu[z], sigma)
";

/// log p(y, unknowns) of `SAMPLED_HMM` at an unconstrained position, the path enumerated, the
/// transforms' Jacobians written out (simplex rows by the stick-breaking logistic of one
/// coordinate, ordered by exp of the increment, positive by exp).
fn sampled_hmm_exact(y: &[f64], u: &[f64]) -> f64 {
    let logistic = |v: f64| 1.0 / (1.0 + (-v).exp());
    // A 2-simplex from one coordinate by the isometric log-ratio transform: softmax of
    // (v, -v)/√2, log-Jacobian ln p + ln(1 - p) + ½ ln 2.
    let row = |v: f64| {
        let p = logistic(std::f64::consts::SQRT_2 * v);
        ([p, 1.0 - p], (p * (1.0 - p)).ln() + 0.5 * 2f64.ln())
    };
    let (row1, jac1) = row(u[0]);
    let (row2, jac2) = row(u[1]);
    let theta = [row1, row2];
    let mu = [u[2], u[2] + u[3].exp()];
    let sigma = u[4].exp();
    let jacobian = jac1 + jac2 + u[3] + u[4];
    let log_beta = |a: f64, b: f64| {
        ppl_dist::special::ln_gamma(a) + ppl_dist::special::ln_gamma(b)
            - ppl_dist::special::ln_gamma(a + b)
    };
    let prior = -log_beta(1.0, 1.0) + (2.0 - 1.0) * theta[1][0].ln() - log_beta(2.0, 1.0)
        + normal_log_density(mu[0], 3.0, 4.0)
        + normal_log_density(mu[1], 10.0, 4.0)
        + normal_log_density(sigma, 0.0, 2.0)
        + 2f64.ln();
    let paths = all_paths(2, y.len());
    let joint: Vec<f64> = paths
        .iter()
        .map(|p| {
            let mut value = [0.4f64, 0.6][p[0]].ln();
            for t in 1..p.len() {
                value += theta[p[t - 1]][p[t]].ln();
            }
            value
                + p.iter()
                    .zip(y)
                    .map(|(&k, &yt)| normal_log_density(yt, mu[k], sigma))
                    .sum::<f64>()
        })
        .collect();
    prior + jacobian + log_sum_exp(&joint)
}

#[test]
fn the_scaled_forward_node_of_a_sampled_hmm_matches_enumeration_and_differences() {
    let y = [2.1, 3.4, 9.2, 10.8, 9.7, 2.5, 3.0];
    let json = format!(r#"{{"y": {y:?}}}"#);
    let mut posterior = posterior(SAMPLED_HMM, &json);
    assert_eq!(posterior.summed[0].structure, Structure::Chain);
    let (homogeneous, per_step, plates, recovery_only) = posterior.tape.fused_nodes();
    assert_eq!((homogeneous, per_step, plates), (1, 0, 0));
    assert!(
        recovery_only > 0,
        "the per-step transition nodes leave the density's path"
    );
    assert_eq!(posterior.tape.layout().dim, 5);
    for u in [
        [0.3, -1.2, 2.5, 1.9, 0.1],
        [2.0, 1.0, 3.1, 2.0, -0.4],
        [-0.5, 0.2, 1.0, 0.5, 0.6],
    ] {
        let mut gradient = [0.0; 5];
        let value = posterior
            .tape
            .log_density_and_gradient(&u, &mut gradient)
            .expect("finite");
        let exact = sampled_hmm_exact(&y, &u);
        assert!((value - exact).abs() < 1e-9, "{value} vs {exact}");
        for axis in 0..5 {
            let step = 1e-6;
            let (mut up, mut down) = (u, u);
            up[axis] += step;
            down[axis] -= step;
            let difference =
                (sampled_hmm_exact(&y, &up) - sampled_hmm_exact(&y, &down)) / (2.0 * step);
            assert!(
                (gradient[axis] - difference).abs() < 1e-5 * (1.0 + difference.abs()),
                "axis {axis}: {} vs {difference}",
                gradient[axis]
            );
        }
        // Recovery still reads the per-step nodes: the smoothing marginals by enumeration.
        let recovered = posterior.state_probabilities(&u).expect("finite");
        let paths = all_paths(2, y.len());
        let log_joint: Vec<f64> = paths.iter().map(|p| path_weight(&y, &u, p)).collect();
        let total = log_sum_exp(&log_joint);
        for t in 0..y.len() {
            let p_first: f64 = paths
                .iter()
                .zip(&log_joint)
                .filter(|(p, _)| p[t] == 0)
                .map(|(_, j)| (j - total).exp())
                .sum();
            let got = recovered[0].probabilities[2 * t];
            assert!(
                (got - p_first).abs() < 1e-10,
                "step {t}: {got} vs {p_first}"
            );
        }
    }
}

/// log p(path, y | continuous) of `SAMPLED_HMM` (no priors, no Jacobians).
fn path_weight(y: &[f64], u: &[f64], path: &[usize]) -> f64 {
    let logistic = |v: f64| 1.0 / (1.0 + (-v).exp());
    let p = |v: f64| logistic(std::f64::consts::SQRT_2 * v);
    let theta = [[p(u[0]), 1.0 - p(u[0])], [p(u[1]), 1.0 - p(u[1])]];
    let mu = [u[2], u[2] + u[3].exp()];
    let sigma = u[4].exp();
    let mut value = [0.4f64, 0.6][path[0]].ln();
    for t in 1..path.len() {
        value += theta[path[t - 1]][path[t]].ln();
    }
    value
        + path
            .iter()
            .zip(y)
            .map(|(&k, &yt)| normal_log_density(yt, mu[k], sigma))
            .sum::<f64>()
}

/// Transitions that change with the step (a sampled scale times a covariate): the chain keeps
/// one transition node per pair and step.
const VARYING_CHAIN: &str = "
observed y: real[T]
observed x: real[T]
latent a: unit
latent z: int[T] in 1..2

for t in 2..T {
    z[t] ~ Categorical([[a * x[t], 1 - a * x[t]], [0.3, 0.7]][z[t - 1]])
}
y ~ Normal([-1.0, 1.5][z], 1)
";

#[test]
fn transitions_that_vary_with_the_step_match_enumeration() {
    let y = [-0.7, 1.9, 1.1, -1.4, 0.3];
    let x = [0.5, 0.9, 0.2, 0.7, 0.4];
    let json = format!(r#"{{"y": {y:?}, "x": {x:?}}}"#);
    let mut posterior = posterior(VARYING_CHAIN, &json);
    let (homogeneous, per_step, _, _) = posterior.tape.fused_nodes();
    assert_eq!((homogeneous, per_step), (0, 1));
    let means = [-1.0, 1.5];
    let logistic = |u: f64| 1.0 / (1.0 + (-u).exp());
    let exact = |u: f64| {
        let a = logistic(u);
        let joint: Vec<f64> = all_paths(2, y.len())
            .iter()
            .map(|p| {
                let mut value = 0.0;
                for t in 1..p.len() {
                    let stay = a * x[t];
                    let row = if p[t - 1] == 0 {
                        [stay, 1.0 - stay]
                    } else {
                        [0.3, 0.7]
                    };
                    value += row[p[t]].ln();
                }
                value
                    + p.iter()
                        .zip(&y)
                        .map(|(&k, &yt)| normal_log_density(yt, means[k], 1.0))
                        .sum::<f64>()
            })
            .collect();
        log_sum_exp(&joint) + (a * (1.0 - a)).ln()
    };
    for u in [0.4, -1.3, 2.2] {
        let mut gradient = [0.0];
        let value = posterior
            .tape
            .log_density_and_gradient(&[u], &mut gradient)
            .expect("finite");
        assert!((value - exact(u)).abs() < 1e-10, "{value} vs {}", exact(u));
        let step = 1e-6;
        let difference = (exact(u + step) - exact(u - step)) / (2.0 * step);
        assert!(
            (gradient[0] - difference).abs() < 1e-6,
            "{} vs {difference}",
            gradient[0]
        );
    }
}

/// The benchmark mixture's form (`crates/ppl-bench/models/discrete_mixture.model`): a sampled
/// weight, ordered means, a scale per component; summed by one fused node.
const SAMPLED_MIXTURE: &str = "
const K = 2
observed y: real[N]
latent w: unit
latent mu: ordered[K]
latent sigma: positive[K]
latent z: int[N] in 1..K

w ~ Beta(5, 5)
mu ~ Normal(0, 2)
sigma ~ HalfNormal(2)
z ~ Categorical([w, 1 - w])
y ~ Normal(mu[z], sigma[z])
";

#[test]
fn the_fused_plate_of_a_sampled_mixture_matches_enumeration_and_differences() {
    let y = [-1.3, 0.2, 2.2, 1.7, -0.4, 2.5, 0.9, -2.0];
    let json = format!(r#"{{"y": {y:?}}}"#);
    let mut posterior = posterior(SAMPLED_MIXTURE, &json);
    assert_eq!(posterior.summed[0].structure, Structure::Plate);
    let (_, _, plates, recovery_only) = posterior.tape.fused_nodes();
    assert_eq!(plates, 1);
    assert!(
        recovery_only > 0,
        "the per-state nodes leave the density's path"
    );
    let logistic = |v: f64| 1.0 / (1.0 + (-v).exp());
    // Every assignment enumerated (2^8), not per point: independent of the per-point sum.
    let exact = |u: &[f64; 5]| {
        let w = logistic(u[0]);
        let mu = [u[1], u[1] + u[2].exp()];
        let sigma = [u[3].exp(), u[4].exp()];
        let jacobian = (w * (1.0 - w)).ln() + u[2] + u[3] + u[4];
        let log_beta_55 =
            2.0 * ppl_dist::special::ln_gamma(5.0) - ppl_dist::special::ln_gamma(10.0);
        let prior = 4.0 * w.ln() + 4.0 * (1.0 - w).ln() - log_beta_55
            + normal_log_density(mu[0], 0.0, 2.0)
            + normal_log_density(mu[1], 0.0, 2.0)
            + sigma
                .iter()
                .map(|&s| normal_log_density(s, 0.0, 2.0) + 2f64.ln())
                .sum::<f64>();
        let joint: Vec<f64> = all_paths(2, y.len())
            .iter()
            .map(|p| {
                p.iter()
                    .zip(&y)
                    .map(|(&k, &yk)| [w, 1.0 - w][k].ln() + normal_log_density(yk, mu[k], sigma[k]))
                    .sum()
            })
            .collect();
        prior + jacobian + log_sum_exp(&joint)
    };
    for u in [
        [0.3, -1.0, 0.7, -0.5, -0.2],
        [-1.1, 0.4, -0.3, 0.2, 0.5],
        [2.0, -2.5, 1.5, 0.9, -1.0],
    ] {
        let mut gradient = [0.0; 5];
        let value = posterior
            .tape
            .log_density_and_gradient(&u, &mut gradient)
            .expect("finite");
        assert!((value - exact(&u)).abs() < 1e-9, "{value} vs {}", exact(&u));
        for axis in 0..5 {
            let step = 1e-6;
            let (mut up, mut down) = (u, u);
            up[axis] += step;
            down[axis] -= step;
            let difference = (exact(&up) - exact(&down)) / (2.0 * step);
            assert!(
                (gradient[axis] - difference).abs() < 1e-5 * (1.0 + difference.abs()),
                "axis {axis}: {} vs {difference}",
                gradient[axis]
            );
        }
        // The log density alone (no partials) agrees with the pass with partials.
        let alone = posterior.tape.log_density(&u).expect("finite");
        assert!((alone - value).abs() < 1e-12);
    }
}
