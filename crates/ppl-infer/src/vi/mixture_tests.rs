//! EM and the ELBO engine on the same mixture (`examples/gmm.model`'s data): one ELBO, tight at
//! the exact posterior, maximised by closed-form M-steps and by L-BFGS on its gradient, and by
//! the production EM engine — the same optimum. The likelihood the test compares against is
//! written here directly, `Σ_n log Σ_k w_k N(x_n | μ_k, σ_k)`, not through the ELBO.

use super::mixture::*;
use crate::em::{BlockEstimates, ComponentFamily, EmSettings, EmissionBlock, MixtureProblem};
use crate::optimize::OptimizeSettings;

fn gmm_data() -> Vec<f64> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data/gmm.csv");
    let text = std::fs::read_to_string(path).expect("examples/data/gmm.csv is in the repository");
    text.lines()
        .skip(1)
        .map(|line| line.trim().parse::<f64>().expect("a number per row"))
        .collect()
}

fn log_likelihood(x: &[f64], theta: &MixtureParameters) -> f64 {
    x.iter()
        .map(|&x| {
            let terms: Vec<f64> = (0..theta.weights.len())
                .map(|k| {
                    let z = (x - theta.means[k]) / theta.sds[k];
                    theta.weights[k].ln()
                        - 0.5 * z * z
                        - theta.sds[k].ln()
                        - 0.5 * (2.0 * std::f64::consts::PI).ln()
                })
                .collect();
            let largest = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            largest + terms.iter().map(|t| (t - largest).exp()).sum::<f64>().ln()
        })
        .sum()
}

/// A deliberately poor shared start: equal weights, means at ±1 around the data mean, the data sd.
fn start(x: &[f64]) -> MixtureParameters {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let sd = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    MixtureParameters {
        weights: vec![0.5, 0.5],
        means: vec![mean - sd, mean + sd],
        sds: vec![sd, sd],
    }
}

#[test]
fn the_elbo_is_the_log_likelihood_at_the_exact_posterior_and_below_it_elsewhere() {
    let x = gmm_data();
    let elbo = MixtureElbo {
        x: &x,
        components: 2,
    };
    let theta = start(&x);
    let exact = elbo.exact_posterior(&theta);
    let reference = log_likelihood(&x, &theta);
    assert!((elbo.elbo(&exact, &theta) - reference).abs() < 1e-9 * reference.abs());
    // Any other guide loses exactly its KL to the posterior: here a uniform guide.
    let uniform = vec![0.5; exact.len()];
    let kl: f64 = uniform
        .iter()
        .zip(&exact)
        .map(|(u, p)| u * (u / p).ln())
        .sum();
    assert!((elbo.elbo(&uniform, &theta) - (reference - kl)).abs() < 1e-8 * reference.abs());
}

#[test]
fn the_elbo_gradient_at_the_exact_posterior_is_the_likelihood_gradient() {
    // Fisher's identity, against central differences of the likelihood written above.
    let x = gmm_data();
    let elbo = MixtureElbo {
        x: &x,
        components: 2,
    };
    let theta = MixtureParameters {
        weights: vec![0.3, 0.7],
        means: vec![-0.5, 2.0],
        sds: vec![0.8, 1.3],
    };
    let position = theta.unconstrained();
    let mut gradient = vec![0.0; position.len()];
    elbo.parameter_gradient(&elbo.exact_posterior(&theta), &theta, &mut gradient);
    let step = 1e-5;
    for i in 0..position.len() {
        let mut up = position.clone();
        let mut down = position.clone();
        up[i] += step;
        down[i] -= step;
        let difference = (log_likelihood(&x, &MixtureParameters::from_unconstrained(&up, 2))
            - log_likelihood(&x, &MixtureParameters::from_unconstrained(&down, 2)))
            / (2.0 * step);
        assert!(
            (gradient[i] - difference).abs() < 1e-5 * (1.0 + difference.abs()),
            "coordinate {i}: {} vs {difference}",
            gradient[i]
        );
    }
}

#[test]
fn em_and_the_elbo_engine_reach_the_same_optimum_on_gmm() {
    let x = gmm_data();
    let elbo = MixtureElbo {
        x: &x,
        components: 2,
    };
    let from = start(&x);
    let em = coordinate_ascent(&elbo, &from, 1e-12, 100_000);
    assert!(em.converged);
    // EM never lowers the ELBO.
    assert!(em.trace.windows(2).all(|w| w[1] >= w[0] - 1e-9));
    let settings = OptimizeSettings {
        tol_rel_grad: 10.0,
        tol_rel_obj: 10.0,
        ..OptimizeSettings::default()
    };
    let engine = gradient_ascent(&elbo, &from, &settings).expect("L-BFGS runs");
    // The production EM engine (k-means start, no variance floor) on the same data.
    let production = crate::em::fit_mixture(
        &MixtureProblem {
            n: x.len(),
            components: 2,
            blocks: vec![EmissionBlock {
                name: "x".into(),
                family: ComponentFamily::Normal,
                dim: 1,
                values: x.clone(),
            }],
        },
        &EmSettings {
            tolerance: 1e-14,
            max_iterations: 100_000,
            covariance_regularisation: 0.0,
            ..EmSettings::default()
        },
    )
    .expect("EM runs");
    let reference_em = log_likelihood(&x, &em.parameters);
    let reference_engine = log_likelihood(&x, &engine.parameters);
    println!(
        "log-likelihood: EM {reference_em:.9}, ELBO engine {reference_engine:.9}, production EM {:.9}",
        production.log_likelihood
    );
    assert!((em.elbo - reference_em).abs() < 1e-9 * reference_em.abs());
    assert!((engine.elbo - reference_engine).abs() < 1e-9 * reference_engine.abs());
    assert!((reference_em - reference_engine).abs() < 1e-6);
    assert!((production.log_likelihood - reference_engine).abs() < 1e-6);
    // The same parameters, component by component in order of the means.
    let sorted = |theta: &MixtureParameters| {
        let mut order: Vec<usize> = (0..2).collect();
        order.sort_by(|&a, &b| theta.means[a].total_cmp(&theta.means[b]));
        order
            .iter()
            .flat_map(|&k| [theta.weights[k], theta.means[k], theta.sds[k]])
            .collect::<Vec<f64>>()
    };
    let BlockEstimates::Normal { means, sds } = &production.blocks[0] else {
        panic!("a Normal block");
    };
    let production_parameters = MixtureParameters {
        weights: production.weights.clone(),
        means: means.clone(),
        sds: sds.clone(),
    };
    for (a, b) in sorted(&em.parameters)
        .iter()
        .zip(sorted(&engine.parameters))
    {
        assert!((a - b).abs() < 1e-4, "EM {a} vs ELBO engine {b}");
    }
    for (a, b) in sorted(&production_parameters)
        .iter()
        .zip(sorted(&engine.parameters))
    {
        assert!((a - b).abs() < 1e-4, "production EM {a} vs ELBO engine {b}");
    }
}
