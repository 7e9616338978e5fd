//! Tests of the EM engine: parameter recovery per family (tolerances from the standard errors
//! implied by `n`), the monotone penalised objective, ordering, restarts, reproducibility,
//! degenerate inputs, and agreement with scikit-learn on Old Faithful.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Exp, Normal, Poisson};

use super::*;

/// Standard errors allowed between an estimate and the truth.
const Z: f64 = 5.0;

fn rng(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

fn draw_labels(rng: &mut Xoshiro256PlusPlus, weights: &[f64], n: usize) -> Vec<usize> {
    (0..n)
        .map(|_| {
            let u: f64 = rng.random();
            let mut cumulative = 0.0;
            for (c, w) in weights.iter().enumerate() {
                cumulative += w;
                if u < cumulative {
                    return c;
                }
            }
            weights.len() - 1
        })
        .collect()
}

fn block(name: &str, family: ComponentFamily, dim: usize, values: Vec<f64>) -> EmissionBlock {
    EmissionBlock {
        name: name.into(),
        family,
        dim,
        values,
    }
}

fn normal_values(
    rng: &mut Xoshiro256PlusPlus,
    labels: &[usize],
    means: &[f64],
    sds: &[f64],
) -> Vec<f64> {
    labels
        .iter()
        .map(|&c| Normal::new(means[c], sds[c]).unwrap().sample(rng))
        .collect()
}

fn assert_within(name: &str, estimate: f64, truth: f64, standard_error: f64) {
    assert!(
        (estimate - truth).abs() <= Z * standard_error,
        "{name}: estimate {estimate}, truth {truth}, {Z} standard errors = {}",
        Z * standard_error
    );
}

fn assert_weights(fit: &EmFit, weights: &[f64], n: usize) {
    for (c, (&w, &truth)) in fit.weights.iter().zip(weights).enumerate() {
        assert_within(
            &format!("weight {c}"),
            w,
            truth,
            (truth * (1.0 - truth) / n as f64).sqrt(),
        );
    }
}

fn fit_default(problem: &MixtureProblem) -> EmFit {
    fit_mixture(problem, &EmSettings::default()).expect("the fit succeeds")
}

#[test]
fn normal_recovers_parameters() {
    let (n, weights, means, sds) = (20_000, [0.4, 0.6], [-2.0, 3.0], [1.0, 0.5]);
    let mut rng = rng(1);
    let labels = draw_labels(&mut rng, &weights, n);
    let values = normal_values(&mut rng, &labels, &means, &sds);
    let problem = MixtureProblem {
        n,
        components: 2,
        blocks: vec![block("y", ComponentFamily::Normal, 1, values)],
    };
    let fit = fit_default(&problem);
    assert!(fit.converged);
    assert_weights(&fit, &weights, n);
    let BlockEstimates::Normal { means: m, sds: s } = &fit.blocks[0] else {
        panic!("normal estimates expected")
    };
    for c in 0..2 {
        let count = n as f64 * weights[c];
        assert_within("mean", m[c], means[c], sds[c] / count.sqrt());
        assert_within("sd", s[c], sds[c], sds[c] / (2.0 * count).sqrt());
    }
}

/// Draws from N(mean, L Lᵀ) in two dimensions.
fn mvnormal_values(
    rng: &mut Xoshiro256PlusPlus,
    labels: &[usize],
    means: &[[f64; 2]],
    covariances: &[[f64; 4]],
) -> Vec<f64> {
    let standard = Normal::new(0.0, 1.0).unwrap();
    let mut values = Vec::with_capacity(labels.len() * 2);
    for &c in labels {
        let s = covariances[c];
        let l00 = s[0].sqrt();
        let l10 = s[2] / l00;
        let l11 = (s[3] - l10 * l10).sqrt();
        let (z0, z1): (f64, f64) = (standard.sample(rng), standard.sample(rng));
        values.push(means[c][0] + l00 * z0);
        values.push(means[c][1] + l10 * z0 + l11 * z1);
    }
    values
}

#[test]
fn mvnormal_recovers_parameters() {
    let n = 30_000;
    let weights = [0.25, 0.35, 0.4];
    let means = [[-6.0, 0.0], [0.0, 6.0], [6.0, 0.0]];
    let covariances = [
        [1.0, 0.5, 0.5, 2.0],
        [0.5, -0.2, -0.2, 0.5],
        [2.0, 0.0, 0.0, 0.3],
    ];
    let mut rng = rng(2);
    let labels = draw_labels(&mut rng, &weights, n);
    let values = mvnormal_values(&mut rng, &labels, &means, &covariances);
    let problem = MixtureProblem {
        n,
        components: 3,
        blocks: vec![block("x", ComponentFamily::MvNormal, 2, values)],
    };
    let fit = fit_default(&problem);
    assert!(fit.converged);
    assert_weights(&fit, &weights, n);
    let BlockEstimates::MvNormal {
        means: m,
        covariances: s,
    } = &fit.blocks[0]
    else {
        panic!("multivariate normal estimates expected")
    };
    for c in 0..3 {
        let count = n as f64 * weights[c];
        let truth = covariances[c];
        for a in 0..2 {
            assert_within("mean", m[c][a], means[c][a], (truth[3 * a] / count).sqrt());
            for b in 0..2 {
                // Var(S_ab) ≈ (Σ_aa Σ_bb + Σ_ab²) / n for normal data.
                let se = ((truth[3 * a] * truth[3 * b] + truth[2 * a + b].powi(2)) / count).sqrt();
                assert_within("covariance", s[c][2 * a + b], truth[2 * a + b], se);
            }
        }
    }
    assert_eq!(fit.parameter_count, 2 + 3 * (2 + 3));
}

#[test]
fn poisson_recovers_parameters() {
    let (n, weights, rates) = (20_000, [0.5, 0.5], [2.0, 15.0]);
    let mut rng = rng(3);
    let labels = draw_labels(&mut rng, &weights, n);
    let values = labels
        .iter()
        .map(|&c| Poisson::new(rates[c]).unwrap().sample(&mut rng))
        .collect();
    let problem = MixtureProblem {
        n,
        components: 2,
        blocks: vec![block("count", ComponentFamily::Poisson, 1, values)],
    };
    let fit = fit_default(&problem);
    assert_weights(&fit, &weights, n);
    let BlockEstimates::Poisson { rates: r } = &fit.blocks[0] else {
        panic!("poisson estimates expected")
    };
    for c in 0..2 {
        assert_within(
            "rate",
            r[c],
            rates[c],
            (rates[c] / (n as f64 * weights[c])).sqrt(),
        );
    }
}

#[test]
fn bernoulli_recovers_parameters() {
    let n = 20_000;
    let weights = [0.3, 0.7];
    let first = [0.9, 0.8, 0.9, 0.8, 0.1, 0.2, 0.1, 0.2];
    let second: Vec<f64> = first.iter().rev().copied().collect();
    let probabilities = [first.to_vec(), second];
    let mut rng = rng(4);
    let labels = draw_labels(&mut rng, &weights, n);
    let values = labels
        .iter()
        .flat_map(|&c| probabilities[c].clone())
        .map(|p| f64::from(u8::from(rng.random::<f64>() < p)))
        .collect();
    let problem = MixtureProblem {
        n,
        components: 2,
        blocks: vec![block("bits", ComponentFamily::Bernoulli, 8, values)],
    };
    let fit = fit_default(&problem);
    // Sorted by the first dimension's probability: 0.2 (second) before 0.9 (first).
    let truth = [&probabilities[1], &probabilities[0]];
    let truth_weights = [weights[1], weights[0]];
    assert_weights(&fit, &truth_weights, n);
    let BlockEstimates::Bernoulli { probabilities: p } = &fit.blocks[0] else {
        panic!("bernoulli estimates expected")
    };
    for c in 0..2 {
        for j in 0..8 {
            let q = truth[c][j];
            let se = (q * (1.0 - q) / (n as f64 * truth_weights[c])).sqrt();
            assert_within("probability", p[c][j], q, se);
        }
    }
}

#[test]
fn categorical_with_normal_recovers_parameters() {
    let n = 20_000;
    let weights = [0.45, 0.55];
    let levels = [[0.7, 0.1, 0.1, 0.1], [0.1, 0.2, 0.3, 0.4]];
    let mut rng = rng(5);
    let labels = draw_labels(&mut rng, &weights, n);
    let y = normal_values(&mut rng, &labels, &[-4.0, 4.0], &[1.0, 1.0]);
    let codes = labels
        .iter()
        .map(|&c| draw_labels(&mut rng, &levels[c], 1)[0] as f64 + 1.0)
        .collect();
    let problem = MixtureProblem {
        n,
        components: 2,
        blocks: vec![
            block("y", ComponentFamily::Normal, 1, y),
            block(
                "level",
                ComponentFamily::Categorical { levels: 4 },
                1,
                codes,
            ),
        ],
    };
    let fit = fit_default(&problem);
    assert_weights(&fit, &weights, n);
    let BlockEstimates::Categorical { probabilities: p } = &fit.blocks[1] else {
        panic!("categorical estimates expected")
    };
    for c in 0..2 {
        for l in 0..4 {
            let q = levels[c][l];
            let se = (q * (1.0 - q) / (n as f64 * weights[c])).sqrt();
            assert_within("level probability", p[c][l], q, se);
        }
    }
    assert_eq!(fit.parameter_count, 1 + 2 * 2 + 2 * 3);
}

#[test]
fn exponential_with_normal_recovers_parameters() {
    let (n, weights, rates) = (20_000, [0.6, 0.4], [0.5, 5.0]);
    let mut rng = rng(6);
    let labels = draw_labels(&mut rng, &weights, n);
    let y = normal_values(&mut rng, &labels, &[-4.0, 4.0], &[1.0, 1.0]);
    let times = labels
        .iter()
        .map(|&c| Exp::new(rates[c]).unwrap().sample(&mut rng))
        .collect();
    let problem = MixtureProblem {
        n,
        components: 2,
        blocks: vec![
            block("y", ComponentFamily::Normal, 1, y),
            block("time", ComponentFamily::Exponential, 1, times),
        ],
    };
    let fit = fit_default(&problem);
    assert_weights(&fit, &weights, n);
    let BlockEstimates::Exponential { rates: r } = &fit.blocks[1] else {
        panic!("exponential estimates expected")
    };
    for c in 0..2 {
        assert_within(
            "rate",
            r[c],
            rates[c],
            rates[c] / (n as f64 * weights[c]).sqrt(),
        );
    }
}

/// A random problem: random families, a random number of components, data from a random
/// mixture that may not match the model.
fn random_problem(seed: u64) -> (MixtureProblem, f64) {
    let mut rng = rng(1000 + seed);
    let n = rng.random_range(40..250);
    let components = rng.random_range(1..5);
    let truth_components = rng.random_range(1..5);
    let weights = vec![1.0 / truth_components as f64; truth_components];
    let labels = draw_labels(&mut rng, &weights, n);
    let mut blocks = Vec::new();
    let block_count = rng.random_range(1..4);
    for b in 0..block_count {
        let name = format!("b{b}");
        match rng.random_range(0..6) {
            0 => {
                let means: Vec<f64> = (0..truth_components)
                    .map(|_| rng.random_range(-5.0..5.0))
                    .collect();
                let sds: Vec<f64> = (0..truth_components)
                    .map(|_| rng.random_range(0.2..2.0))
                    .collect();
                let values = normal_values(&mut rng, &labels, &means, &sds);
                blocks.push(block(&name, ComponentFamily::Normal, 1, values));
            }
            1 => {
                let dim = rng.random_range(1..9);
                let values = (0..n * dim)
                    .map(|i| rng.random_range(-1.0..1.0) + 3.0 * labels[i / dim] as f64)
                    .collect();
                blocks.push(block(&name, ComponentFamily::MvNormal, dim, values));
            }
            2 => {
                let values = labels
                    .iter()
                    .map(|&c| Poisson::new(1.0 + 4.0 * c as f64).unwrap().sample(&mut rng))
                    .collect();
                blocks.push(block(&name, ComponentFamily::Poisson, 1, values));
            }
            3 => {
                let dim = rng.random_range(1..6);
                let values = (0..n * dim)
                    .map(|i| {
                        let p = if labels[i / dim].is_multiple_of(2) {
                            0.2
                        } else {
                            0.7
                        };
                        f64::from(u8::from(rng.random::<f64>() < p))
                    })
                    .collect();
                blocks.push(block(&name, ComponentFamily::Bernoulli, dim, values));
            }
            4 => {
                let levels = rng.random_range(1..5);
                let values = labels
                    .iter()
                    .map(|&c| ((c + rng.random_range(0..2)) % levels + 1) as f64)
                    .collect();
                blocks.push(block(
                    &name,
                    ComponentFamily::Categorical { levels },
                    1,
                    values,
                ));
            }
            _ => {
                let values = labels
                    .iter()
                    .map(|&c| Exp::new(0.5 + c as f64).unwrap().sample(&mut rng))
                    .collect();
                blocks.push(block(&name, ComponentFamily::Exponential, 1, values));
            }
        }
    }
    let regularisation = [1e-6, 1e-2, 0.5][rng.random_range(0..3)];
    (
        MixtureProblem {
            n,
            components: components.min(n),
            blocks,
        },
        regularisation,
    )
}

#[test]
fn objective_never_decreases_on_random_problems() {
    let mut iterations = 0;
    for seed in 0..50 {
        let (problem, regularisation) = random_problem(seed);
        let settings = EmSettings {
            max_iterations: 120,
            tolerance: 0.0,
            covariance_regularisation: regularisation,
            seed,
            ..EmSettings::default()
        };
        let fit = fit_mixture(&problem, &settings).expect("the fit succeeds");
        iterations += fit.iterations;
        for pair in fit.trace.windows(2) {
            assert!(
                pair[1] >= pair[0] - 1e-9 * pair[0].abs(),
                "seed {seed}: the objective went from {} to {} (trace {:?})",
                pair[0],
                pair[1],
                fit.trace
            );
        }
        assert!(fit.objective.is_finite() && fit.log_likelihood.is_finite());
        assert!(fit.weights.iter().all(|w| w.is_finite() && *w >= 0.0));
        let total: f64 = fit.weights.iter().sum();
        assert!((total - 1.0).abs() < 1e-12);
    }
    // The test means something only if EM actually moved.
    eprintln!("{iterations} EM iterations in all");
    assert!(iterations > 500, "only {iterations} iterations in all");
}

/// The reported plain log-likelihood equals a direct computation from the returned estimates,
/// including the −ln x! of Poisson and every family at once.
#[test]
fn log_likelihood_matches_a_direct_computation() {
    let (n, weights) = (500, [0.5, 0.5]);
    let mut rng = rng(7);
    let labels = draw_labels(&mut rng, &weights, n);
    let y = normal_values(&mut rng, &labels, &[-2.0, 2.0], &[1.0, 1.0]);
    let xy = mvnormal_values(
        &mut rng,
        &labels,
        &[[0.0, 0.0], [2.0, 1.0]],
        &[[1.0, 0.3, 0.3, 1.0]; 2],
    );
    let counts: Vec<f64> = labels
        .iter()
        .map(|&c| Poisson::new(2.0 + 3.0 * c as f64).unwrap().sample(&mut rng))
        .collect();
    let bits: Vec<f64> = labels
        .iter()
        .map(|&c| f64::from(u8::from(rng.random::<f64>() < 0.3 + 0.4 * c as f64)))
        .collect();
    let levels: Vec<f64> = labels
        .iter()
        .map(|&c| (c + rng.random_range(0..2) + 1) as f64)
        .collect();
    let times: Vec<f64> = labels
        .iter()
        .map(|&c| Exp::new(1.0 + c as f64).unwrap().sample(&mut rng))
        .collect();
    let problem = MixtureProblem {
        n,
        components: 2,
        blocks: vec![
            block("y", ComponentFamily::Normal, 1, y.clone()),
            block("xy", ComponentFamily::MvNormal, 2, xy.clone()),
            block("count", ComponentFamily::Poisson, 1, counts.clone()),
            block("bit", ComponentFamily::Bernoulli, 1, bits.clone()),
            block(
                "level",
                ComponentFamily::Categorical { levels: 3 },
                1,
                levels.clone(),
            ),
            block("time", ComponentFamily::Exponential, 1, times.clone()),
        ],
    };
    let settings = EmSettings {
        keep_responsibilities: true,
        ..EmSettings::default()
    };
    let fit = fit_mixture(&problem, &settings).unwrap();
    let [
        BlockEstimates::Normal { means, sds },
        BlockEstimates::MvNormal {
            means: mv_means,
            covariances,
        },
        BlockEstimates::Poisson { rates: poisson },
        BlockEstimates::Bernoulli {
            probabilities: bernoulli,
        },
        BlockEstimates::Categorical {
            probabilities: categorical,
        },
        BlockEstimates::Exponential { rates: exponential },
    ] = fit.blocks.as_slice()
    else {
        panic!("estimates in block order expected")
    };
    let ln_factorial = |x: f64| (2..=x as u32).map(|i| (i as f64).ln()).sum::<f64>();
    let mut total = 0.0;
    let responsibilities = fit.responsibilities.as_ref().unwrap();
    for i in 0..n {
        let joint: Vec<f64> = (0..2)
            .map(|c| {
                let z = (y[i] - means[c]) / sds[c];
                let normal = -0.5 * z * z - sds[c].ln() - 0.5 * (2.0 * std::f64::consts::PI).ln();
                let s = &covariances[c];
                let det = s[0] * s[3] - s[1] * s[2];
                let (d0, d1) = (xy[2 * i] - mv_means[c][0], xy[2 * i + 1] - mv_means[c][1]);
                let quadratic = (s[3] * d0 * d0 - 2.0 * s[1] * d0 * d1 + s[0] * d1 * d1) / det;
                let mv = -0.5 * quadratic - 0.5 * det.ln() - (2.0 * std::f64::consts::PI).ln();
                let pois = counts[i] * poisson[c].ln() - poisson[c] - ln_factorial(counts[i]);
                let p = bernoulli[c][0];
                let bern = if bits[i] == 1.0 {
                    p.ln()
                } else {
                    (1.0 - p).ln()
                };
                let cat = categorical[c][levels[i] as usize - 1].ln();
                let expo = exponential[c].ln() - exponential[c] * times[i];
                fit.weights[c].ln() + normal + mv + pois + bern + cat + expo
            })
            .collect();
        let max = joint[0].max(joint[1]);
        let log_sum = max + joint.iter().map(|j| (j - max).exp()).sum::<f64>().ln();
        total += log_sum;
        for c in 0..2 {
            let expected = (joint[c] - log_sum).exp();
            assert!((responsibilities[2 * i + c] - expected).abs() < 1e-9);
        }
    }
    assert!(
        (fit.log_likelihood - total).abs() < 1e-8 * total.abs(),
        "reported {}, direct {total}",
        fit.log_likelihood
    );
    // The penalty only lowers the objective, by a few λ-sized terms per point.
    assert!(fit.objective <= fit.log_likelihood + 1e-6 * n as f64);
    let p = 1 + 2 * (2 + 5 + 1 + 1 + 2 + 1);
    assert_eq!(fit.parameter_count, p);
    assert!((fit.bic - (-2.0 * fit.log_likelihood + p as f64 * (n as f64).ln())).abs() < 1e-9);
}

#[test]
fn components_come_out_in_a_stable_order() {
    let (n, weights) = (3_000, [0.3, 0.3, 0.4]);
    let mut rng = rng(8);
    let labels = draw_labels(&mut rng, &weights, n);
    let values = normal_values(&mut rng, &labels, &[5.0, -5.0, 0.0], &[1.0, 1.0, 1.0]);
    let problem = MixtureProblem {
        n,
        components: 3,
        blocks: vec![block("y", ComponentFamily::Normal, 1, values)],
    };
    let fits: Vec<EmFit> = (0..6)
        .map(|seed| {
            fit_mixture(
                &problem,
                &EmSettings {
                    seed,
                    ..EmSettings::default()
                },
            )
            .unwrap()
        })
        .collect();
    for fit in &fits {
        let BlockEstimates::Normal { means, .. } = &fit.blocks[0] else {
            panic!("normal estimates expected")
        };
        assert!(means.windows(2).all(|p| p[0] < p[1]), "means {means:?}");
        assert!((means[0] + 5.0).abs() < 0.2 && (means[2] - 5.0).abs() < 0.2);
        for (a, b) in fit.weights.iter().zip(&fits[0].weights) {
            assert!((a - b).abs() < 1e-6);
        }
    }
}

#[test]
fn restarts_keep_the_best() {
    // Five overlapping clusters and only three M-steps: restarts end at different values.
    let n = 2_000;
    let mut rng = rng(9);
    let labels = draw_labels(&mut rng, &[0.2; 5], n);
    let values = normal_values(&mut rng, &labels, &[0.0, 2.0, 4.0, 6.0, 8.0], &[1.0; 5]);
    let problem = MixtureProblem {
        n,
        components: 5,
        blocks: vec![block("y", ComponentFamily::Normal, 1, values)],
    };
    let settings = EmSettings {
        restarts: 8,
        max_iterations: 3,
        ..EmSettings::default()
    };
    let fit = fit_mixture(&problem, &settings).unwrap();
    assert_eq!(fit.restarts.len(), 8);
    let best = fit
        .restarts
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(fit.objective, best);
    assert_eq!(fit.trace.last().copied(), Some(best));
    let distinct = fit
        .restarts
        .iter()
        .filter(|&&r| (r - best).abs() > 1e-6)
        .count();
    assert!(distinct > 0, "all restarts ended equal: {:?}", fit.restarts);
    // Restart 0 of a run is the single-restart run with the same seed.
    let single = fit_mixture(
        &problem,
        &EmSettings {
            restarts: 1,
            ..settings
        },
    )
    .unwrap();
    assert_eq!(single.restarts[0], fit.restarts[0]);
}

#[test]
fn a_seed_gives_the_same_bits_whatever_the_thread_count() {
    // Three chunks of rows, overlapping clusters so that EM runs a while.
    let (n, weights) = (3 * CHUNK_ROWS - 100, [0.5, 0.5]);
    let mut rng = rng(10);
    let labels = draw_labels(&mut rng, &weights, n);
    let values = mvnormal_values(
        &mut rng,
        &labels,
        &[[0.0, 0.0], [1.5, 1.0]],
        &[[1.0, 0.2, 0.2, 1.0]; 2],
    );
    let problem = MixtureProblem {
        n,
        components: 2,
        blocks: vec![block("x", ComponentFamily::MvNormal, 2, values)],
    };
    let settings = EmSettings {
        restarts: 2,
        max_iterations: 25,
        keep_responsibilities: true,
        seed: 42,
        ..EmSettings::default()
    };
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| fit_mixture(&problem, &settings).unwrap())
    };
    let one = run(1);
    assert!(one.iterations > 3);
    assert_eq!(one, run(3));
    assert_eq!(one, fit_mixture(&problem, &settings).unwrap());
}

#[test]
fn identical_points_give_finite_estimates() {
    let problem = MixtureProblem {
        n: 50,
        components: 2,
        blocks: vec![block("y", ComponentFamily::Normal, 1, vec![3.0; 50])],
    };
    let fit = fit_default(&problem);
    let BlockEstimates::Normal { means, sds } = &fit.blocks[0] else {
        panic!("normal estimates expected")
    };
    assert!(means.iter().all(|&m| m == 3.0));
    assert!(sds.iter().all(|&s| s > 0.0 && s.is_finite()));
    assert!(fit.log_likelihood.is_finite() && fit.weights.iter().all(|w| w.is_finite()));

    let problem = MixtureProblem {
        n: 40,
        components: 3,
        blocks: vec![block(
            "x",
            ComponentFamily::MvNormal,
            2,
            [1.0, -2.0].repeat(40),
        )],
    };
    let fit = fit_default(&problem);
    // The regulariser alone sets the covariance: λ I.
    let BlockEstimates::MvNormal { covariances, .. } = &fit.blocks[0] else {
        panic!("multivariate normal estimates expected")
    };
    for covariance in covariances {
        assert!((covariance[0] - 1e-6).abs() < 1e-12 && covariance[1].abs() < 1e-12);
    }
    assert!(fit.log_likelihood.is_finite());

    // Without a regulariser there is no usable variance: still no NaN and no panic.
    let problem = MixtureProblem {
        n: 10,
        components: 2,
        blocks: vec![block("y", ComponentFamily::Normal, 1, vec![1.0; 10])],
    };
    let settings = EmSettings {
        covariance_regularisation: 0.0,
        ..EmSettings::default()
    };
    if let Ok(fit) = fit_mixture(&problem, &settings) {
        assert!(fit.log_likelihood.is_finite());
    }
}

#[test]
fn empty_components_get_zero_weight_not_nan() {
    // Two distinct rows, three components: k-means leaves one cluster empty.
    let values: Vec<f64> = (0..30)
        .map(|i| if i % 2 == 0 { 0.0 } else { 10.0 })
        .collect();
    let problem = MixtureProblem {
        n: 30,
        components: 3,
        blocks: vec![block("y", ComponentFamily::Normal, 1, values)],
    };
    let fit = fit_default(&problem);
    assert!(fit.weights.contains(&0.0), "weights {:?}", fit.weights);
    assert!(fit.weights.iter().all(|w| w.is_finite()));
    assert!(fit.log_likelihood.is_finite());
    // K = n: every row its own component.
    let problem = MixtureProblem {
        n: 3,
        components: 3,
        blocks: vec![block("y", ComponentFamily::Normal, 1, vec![0.0, 1.0, 5.0])],
    };
    let fit = fit_default(&problem);
    assert!(fit.log_likelihood.is_finite());
    // Bernoulli columns that never vary.
    let problem = MixtureProblem {
        n: 20,
        components: 2,
        blocks: vec![block("bits", ComponentFamily::Bernoulli, 3, vec![0.0; 60])],
    };
    let fit = fit_default(&problem);
    assert!(fit.log_likelihood.is_finite() && fit.log_likelihood.abs() < 1e-9);
}

#[test]
fn bad_inputs_are_errors() {
    let normal = |values: Vec<f64>| block("y", ComponentFamily::Normal, 1, values);
    let problem = |n, components, blocks| MixtureProblem {
        n,
        components,
        blocks,
    };
    let settings = EmSettings::default();
    let error = |p: MixtureProblem| fit_mixture(&p, &settings).unwrap_err();
    assert_eq!(
        error(problem(2, 3, vec![normal(vec![1.0, 2.0])])),
        EmError::TooManyComponents {
            components: 3,
            n: 2
        }
    );
    assert_eq!(
        error(problem(2, 0, vec![normal(vec![1.0, 2.0])])),
        EmError::NoComponents
    );
    assert_eq!(error(problem(0, 1, vec![normal(vec![])])), EmError::NoData);
    assert_eq!(error(problem(2, 1, vec![])), EmError::NoBlocks);
    assert!(matches!(
        error(problem(3, 1, vec![normal(vec![1.0, 2.0])])),
        EmError::ValueCount {
            expected: 3,
            found: 2,
            ..
        }
    ));
    assert!(matches!(
        error(problem(
            2,
            1,
            vec![block("x", ComponentFamily::MvNormal, 2, vec![1.0; 3])]
        )),
        EmError::ValueCount {
            expected: 4,
            found: 3,
            ..
        }
    ));
    assert!(matches!(
        error(problem(
            2,
            1,
            vec![block("y", ComponentFamily::Normal, 2, vec![1.0; 4])]
        )),
        EmError::Dimension { found: 2, .. }
    ));
    assert!(matches!(
        error(problem(
            2,
            1,
            vec![block("x", ComponentFamily::MvNormal, 0, vec![])]
        )),
        EmError::Dimension { found: 0, .. }
    ));
    assert!(matches!(
        error(problem(2, 1, vec![normal(vec![1.0, f64::NAN])])),
        EmError::InvalidValue { row: 1, .. }
    ));
    let invalid = [
        (ComponentFamily::Bernoulli, 2.0),
        (ComponentFamily::Categorical { levels: 3 }, 0.0),
        (ComponentFamily::Categorical { levels: 3 }, 4.0),
        (ComponentFamily::Categorical { levels: 3 }, 1.5),
        (ComponentFamily::Poisson, 1.5),
        (ComponentFamily::Poisson, -1.0),
        (ComponentFamily::Exponential, -1.0),
        (ComponentFamily::Exponential, f64::INFINITY),
    ];
    for (family, value) in invalid {
        assert!(
            matches!(
                error(problem(2, 1, vec![block("v", family, 1, vec![1.0, value])])),
                EmError::InvalidValue { row: 1, .. }
            ),
            "{family:?} accepted {value}"
        );
    }
    assert!(matches!(
        error(problem(
            2,
            1,
            vec![block(
                "v",
                ComponentFamily::Categorical { levels: 0 },
                1,
                vec![1.0; 2]
            )]
        )),
        EmError::NoLevels { .. }
    ));
    let good = problem(2, 1, vec![normal(vec![1.0, 2.0])]);
    for bad in [
        EmSettings {
            restarts: 0,
            ..EmSettings::default()
        },
        EmSettings {
            tolerance: -1.0,
            ..EmSettings::default()
        },
        EmSettings {
            tolerance: f64::NAN,
            ..EmSettings::default()
        },
        EmSettings {
            covariance_regularisation: -1e-6,
            ..EmSettings::default()
        },
    ] {
        assert!(matches!(
            fit_mixture(&good, &bad),
            Err(EmError::InvalidSettings { .. })
        ));
    }
    // Zero iterations return the initialisation, still a valid fit.
    let fit = fit_mixture(
        &good,
        &EmSettings {
            max_iterations: 0,
            ..EmSettings::default()
        },
    )
    .unwrap();
    assert_eq!((fit.iterations, fit.trace.len()), (0, 1));
}

/// The general-dimension kernels (a loop for d = 5, matrix products for d ≥ 6) against a direct
/// computation of the log-likelihood from the estimates, and the means against the truth.
#[test]
fn higher_dimensions_match_a_direct_computation() {
    for d in [5, 7] {
        let (n, weights) = (3_000, [0.4, 0.6]);
        let mut rng = rng(20 + d as u64);
        let labels = draw_labels(&mut rng, &weights, n);
        let standard = Normal::new(0.0, 1.0).unwrap();
        // Component c: mean 4c in every coordinate, covariance with a common factor.
        let values: Vec<f64> = labels
            .iter()
            .flat_map(|&c| {
                let common: f64 = standard.sample(&mut rng);
                (0..d)
                    .map(|_| 4.0 * c as f64 + 0.6 * common + 0.8 * standard.sample(&mut rng))
                    .collect::<Vec<_>>()
            })
            .collect();
        let problem = MixtureProblem {
            n,
            components: 2,
            blocks: vec![block("x", ComponentFamily::MvNormal, d, values.clone())],
        };
        let fit = fit_default(&problem);
        let BlockEstimates::MvNormal { means, covariances } = &fit.blocks[0] else {
            panic!("multivariate normal estimates expected")
        };
        let mut total = 0.0;
        let factors: Vec<_> = covariances
            .iter()
            .map(|s| {
                nalgebra::DMatrix::from_row_slice(d, d, s)
                    .cholesky()
                    .unwrap()
            })
            .collect();
        for x in values.chunks_exact(d) {
            let joint: Vec<f64> = (0..2)
                .map(|c| {
                    let deviation = nalgebra::DVector::from_iterator(
                        d,
                        x.iter().zip(&means[c]).map(|(v, m)| v - m),
                    );
                    let z = factors[c].l().solve_lower_triangular(&deviation).unwrap();
                    let log_det: f64 =
                        2.0 * (0..d).map(|i| factors[c].l()[(i, i)].ln()).sum::<f64>();
                    fit.weights[c].ln()
                        - 0.5 * (z.norm_squared() + log_det)
                        - 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln()
                })
                .collect();
            let max = joint[0].max(joint[1]);
            total += max + joint.iter().map(|j| (j - max).exp()).sum::<f64>().ln();
        }
        assert!(
            (fit.log_likelihood - total).abs() < 1e-9 * total.abs(),
            "d = {d}: reported {}, direct {total}",
            fit.log_likelihood
        );
        for c in 0..2 {
            // Variance of a coordinate: 0.36 + 0.64 = 1.
            let se = (1.0 / (n as f64 * weights[c])).sqrt();
            for &m in &means[c] {
                assert_within("mean", m, 4.0 * c as f64, se);
            }
            assert_within(
                "variance",
                covariances[c][0],
                1.0,
                (2.0 / (n as f64 * weights[c])).sqrt(),
            );
            assert_within(
                "covariance",
                covariances[c][1],
                0.36,
                (1.36 / (n as f64 * weights[c])).sqrt(),
            );
        }
    }
}

/// The Old Faithful data and scikit-learn's fit of it (testdata/make_faithful_reference.py).
fn faithful() -> (Vec<f64>, Vec<(String, Vec<f64>)>) {
    let data: Vec<f64> = include_str!("testdata/faithful.csv")
        .lines()
        .skip(1)
        .flat_map(|line| line.split(',').map(|v| v.trim().parse::<f64>().unwrap()))
        .collect();
    let reference = include_str!("testdata/faithful_sklearn.txt")
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let mut fields = line.split_whitespace();
            let key = fields.next().unwrap().to_string();
            (key, fields.map(|v| v.parse().unwrap()).collect())
        })
        .collect();
    (data, reference)
}

#[test]
fn old_faithful_agrees_with_scikit_learn() {
    let (data, reference) = faithful();
    let value = |key: &str| &reference.iter().find(|(k, _)| k == key).unwrap().1;
    let n = data.len() / 2;
    assert_eq!(n, 272);
    let problem = MixtureProblem {
        n,
        components: 2,
        blocks: vec![block("faithful", ComponentFamily::MvNormal, 2, data)],
    };
    let settings = EmSettings {
        restarts: 10,
        max_iterations: 10_000,
        tolerance: 1e-10,
        ..EmSettings::default()
    };
    let fit = fit_mixture(&problem, &settings).unwrap();
    assert!(fit.converged);
    let per_point = fit.log_likelihood / n as f64;
    let difference = per_point - value("loglik_per_point")[0];
    assert!(
        difference.abs() < 1e-4,
        "log-likelihood per point differs by {difference}"
    );
    assert!((fit.bic - value("bic")[0]).abs() < 2.0 * n as f64 * 1e-4);
    for (w, expected) in fit.weights.iter().zip(value("weights")) {
        assert!((w - expected).abs() < 1e-4, "weight {w} vs {expected}");
    }
    let BlockEstimates::MvNormal { means, covariances } = &fit.blocks[0] else {
        panic!("multivariate normal estimates expected")
    };
    for c in 0..2 {
        for (m, expected) in means[c].iter().zip(value(&format!("mean{c}"))) {
            assert!(
                (m - expected).abs() < 1e-4 * expected.abs(),
                "mean {m} vs {expected}"
            );
        }
        for (s, expected) in covariances[c].iter().zip(value(&format!("covariance{c}"))) {
            assert!(
                (s - expected).abs() < 1e-3 * expected.abs(),
                "covariance {s} vs {expected}"
            );
        }
    }
}
