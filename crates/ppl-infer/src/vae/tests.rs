//! The VAE engine against closed forms: the ELBO of a linear-Gaussian VAE, its gradient against
//! finite differences, and training on data with a known low-dimensional structure.

use nalgebra::{DMatrix, DVector};
use ppl_nn::{Activation, Mlp};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

use super::*;

fn linear_problem(data: DMatrix<f32>, sigma: f64, holdout: usize) -> VaeProblem {
    let width = data.ncols();
    VaeProblem {
        data,
        encoder: NetShape {
            sizes: vec![width, 4],
            activation: Activation::Identity,
        },
        decoder: NetShape {
            sizes: vec![2, width],
            activation: Activation::Identity,
        },
        latent: 2,
        log_scale_factor: 0.5,
        likelihood: VaeLikelihood::Normal { sigma },
        holdout,
    }
}

fn some_rows(n: usize, width: usize) -> DMatrix<f32> {
    DMatrix::from_fn(n, width, |i, j| {
        (((i * 5 + j * 3) % 7) as f32 - 3.0) * 0.4 + (i as f32 * 0.3).sin()
    })
}

/// The ELBO of one row in closed form for a one-layer (linear) encoder and decoder:
/// E_q‖x − zW − b‖² = ‖x − μW − b‖² + Σ_j s_j² ‖W_j‖², and the Gaussian KL.
fn linear_elbo(encoder: &Mlp<f32>, decoder: &Mlp<f32>, x: &[f64], sigma: f64) -> (f64, f64) {
    let (we, be) = encoder.layer(0).unwrap();
    let (wd, bd) = decoder.layer(0).unwrap();
    let d = x.len();
    let h: Vec<f64> = (0..4)
        .map(|k| f64::from(be[k]) + (0..d).map(|i| x[i] * f64::from(we[(i, k)])).sum::<f64>())
        .collect();
    let (mu, log_s) = ([h[0], h[1]], [0.5 * h[2], 0.5 * h[3]]);
    let mut squared = 0.0;
    for i in 0..d {
        let mean = f64::from(bd[i]) + (0..2).map(|j| mu[j] * f64::from(wd[(j, i)])).sum::<f64>();
        squared += (x[i] - mean).powi(2);
    }
    for j in 0..2 {
        let row_norm: f64 = (0..d).map(|i| f64::from(wd[(j, i)]).powi(2)).sum();
        squared += (2.0 * log_s[j]).exp() * row_norm;
    }
    let expected_log_lik =
        -0.5 * squared / (sigma * sigma) - d as f64 * (sigma.ln() + HALF_LOG_TWO_PI);
    let kl: f64 = (0..2)
        .map(|j| 0.5 * (mu[j] * mu[j] + (2.0 * log_s[j]).exp() - 1.0) - log_s[j])
        .sum();
    // The exact log p(x) = log N(x; b, WᵀW + σ²I), for the IWAE bound's ceiling.
    let cov = DMatrix::from_fn(d, d, |a, b| {
        (0..2)
            .map(|j| f64::from(wd[(j, a)]) * f64::from(wd[(j, b)]))
            .sum::<f64>()
            + if a == b { sigma * sigma } else { 0.0 }
    });
    let chol = cov.cholesky().unwrap();
    let r = DVector::from_fn(d, |i, _| x[i] - f64::from(bd[i]));
    let solved = chol.solve(&r);
    let log_det: f64 = chol.l().diagonal().iter().map(|v| 2.0 * v.ln()).sum();
    let log_marginal = -0.5 * (r.dot(&solved) + log_det) - d as f64 * HALF_LOG_TWO_PI;
    (expected_log_lik - kl, log_marginal)
}

#[test]
fn linear_gaussian_elbo_matches_its_closed_form_and_iwae_lies_between_it_and_log_p() {
    let data = some_rows(6, 3);
    let problem = linear_problem(data.clone(), 0.7, 0);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let encoder = Mlp::<f32>::new(&[3, 4], Activation::Identity, &mut rng).unwrap();
    let decoder = Mlp::<f32>::new(&[2, 3], Activation::Identity, &mut rng).unwrap();
    let samples = 4000;
    let found = bounds(&problem, &encoder, &decoder, &data, samples, &mut rng).unwrap();
    let (mut exact_elbo, mut exact_log_p) = (0.0, 0.0);
    for i in 0..data.nrows() {
        let x: Vec<f64> = data.row(i).iter().map(|&v| f64::from(v)).collect();
        let (elbo, log_p) = linear_elbo(&encoder, &decoder, &x, 0.7);
        exact_elbo += elbo / data.nrows() as f64;
        exact_log_p += log_p / data.nrows() as f64;
    }
    assert!(
        (found.elbo - exact_elbo).abs() < 4.0 * found.elbo_mcse + 1e-4,
        "ELBO {} vs closed form {exact_elbo} (mcse {})",
        found.elbo,
        found.elbo_mcse
    );
    assert!(
        found.iwae > exact_elbo,
        "IWAE {} below the ELBO {exact_elbo}",
        found.iwae
    );
    assert!(exact_elbo < exact_log_p);
}

#[test]
fn with_the_exact_posterior_as_guide_elbo_and_iwae_equal_log_p() {
    // A decoder with orthogonal rows has a diagonal Gaussian posterior, which a linear encoder
    // represents exactly: then log p(x, z) − log q(z | x) = log p(x) for every z.
    let sigma = 0.6;
    let w = [[1.0, 0.5, 0.0], [-0.5, 1.0, 0.8]];
    let b = [0.2, -0.1, 0.3];
    let mut decoder_parameters = vec![0.0f32; 9];
    for j in 0..2 {
        for i in 0..3 {
            decoder_parameters[j + 2 * i] = w[j][i] as f32;
        }
    }
    for i in 0..3 {
        decoder_parameters[6 + i] = b[i] as f32;
    }
    let mut encoder_parameters = vec![0.0f32; 16];
    for j in 0..2 {
        let norm: f64 = w[j].iter().map(|v| v * v).sum();
        let posterior_variance = 1.0 / (1.0 + norm / (sigma * sigma));
        for i in 0..3 {
            encoder_parameters[i + 3 * j] = (posterior_variance * w[j][i] / (sigma * sigma)) as f32;
        }
        let offset: f64 = (0..3).map(|i| w[j][i] * b[i]).sum();
        encoder_parameters[12 + j] = (-posterior_variance * offset / (sigma * sigma)) as f32;
        encoder_parameters[14 + j] = posterior_variance.ln() as f32;
    }
    let encoder = Mlp::from_parameters(&[3, 4], Activation::Identity, encoder_parameters).unwrap();
    let decoder = Mlp::from_parameters(&[2, 3], Activation::Identity, decoder_parameters).unwrap();
    let data = some_rows(5, 3);
    let problem = linear_problem(data.clone(), sigma, 0);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let found = bounds(&problem, &encoder, &decoder, &data, 200, &mut rng).unwrap();
    let exact_log_p: f64 = (0..data.nrows())
        .map(|i| {
            let x: Vec<f64> = data.row(i).iter().map(|&v| f64::from(v)).collect();
            linear_elbo(&encoder, &decoder, &x, sigma).1
        })
        .sum::<f64>()
        / data.nrows() as f64;
    // The ELBO estimate (reconstruction by Monte Carlo, KL analytic) is noisy; the importance
    // weights are constant, so the IWAE bound is exact up to f32 rounding.
    assert!(
        (found.elbo - exact_log_p).abs() < 4.0 * found.elbo_mcse,
        "{found:?} vs {exact_log_p}"
    );
    assert!(
        (found.iwae - exact_log_p).abs() < 1e-4,
        "{found:?} vs {exact_log_p}"
    );
}

/// The minibatch ELBO estimate with the noise fixed by a seed, as a function of the parameters.
fn elbo_at(
    problem: &VaeProblem,
    encoder: &Mlp<f32>,
    decoder: &Mlp<f32>,
    batch: &DMatrix<f32>,
) -> (f64, Vec<f32>, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let mut ge = vec![0.0; encoder.parameters().len()];
    let mut gd = vec![0.0; decoder.parameters().len()];
    let sigma = problem.likelihood.initial_sigma().unwrap_or(1.0);
    let total = elbo_step(
        problem,
        encoder,
        decoder,
        batch,
        2,
        &mut rng,
        &mut ge,
        &mut gd,
        (sigma, &mut 0.0),
    )
    .unwrap();
    (total / batch.nrows() as f64, ge, gd)
}

#[test]
fn elbo_gradient_matches_finite_differences() {
    for likelihood in [
        VaeLikelihood::Normal { sigma: 0.8 },
        VaeLikelihood::BernoulliLogit,
    ] {
        let mut data = some_rows(5, 3);
        if likelihood == VaeLikelihood::BernoulliLogit {
            data = data.map(|v| if v > 0.0 { 1.0 } else { 0.0 });
        }
        let mut problem = linear_problem(data.clone(), 0.8, 0);
        problem.likelihood = likelihood;
        problem.encoder.sizes = vec![3, 5, 4];
        problem.decoder.sizes = vec![2, 5, 3];
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let mut encoder = Mlp::<f32>::new(&[3, 5, 4], Activation::Tanh, &mut rng).unwrap();
        let mut decoder = Mlp::<f32>::new(&[2, 5, 3], Activation::Tanh, &mut rng).unwrap();
        let (_, ge, gd) = elbo_at(&problem, &encoder, &decoder, &data);
        let h = 1e-2f32;
        for which in 0..2 {
            let count = if which == 0 { ge.len() } else { gd.len() };
            for k in 0..count {
                let net = if which == 0 {
                    &mut encoder
                } else {
                    &mut decoder
                };
                let original = net.parameters()[k];
                net.parameters_mut()[k] = original + h;
                let up = elbo_at(&problem, &encoder, &decoder, &data).0;
                let net = if which == 0 {
                    &mut encoder
                } else {
                    &mut decoder
                };
                net.parameters_mut()[k] = original - h;
                let down = elbo_at(&problem, &encoder, &decoder, &data).0;
                let net = if which == 0 {
                    &mut encoder
                } else {
                    &mut decoder
                };
                net.parameters_mut()[k] = original;
                let numeric = (up - down) / (2.0 * f64::from(h));
                let analytic = f64::from(if which == 0 { ge[k] } else { gd[k] });
                // f32 arithmetic: central differences with h = 1e-2 are good to ~1e-3.
                assert!(
                    (numeric - analytic).abs() < 5e-3 * (1.0 + numeric.abs()),
                    "{likelihood:?} {} parameter {k}: analytic {analytic}, numeric {numeric}",
                    if which == 0 { "encoder" } else { "decoder" }
                );
            }
        }
    }
}

#[test]
fn training_raises_the_elbo_and_is_deterministic() {
    // Binary rows generated from two prototypes with flips: a 2-D code explains them.
    let prototypes = [
        [1.0f32, 1.0, 0.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0, 1.0, 0.0, 1.0],
    ];
    let data = DMatrix::from_fn(200, 6, |i, j| {
        let flip = (i * 7 + j * 13) % 11 == 0;
        let v = prototypes[i % 2][j];
        if flip { 1.0 - v } else { v }
    });
    let problem = VaeProblem {
        data,
        encoder: NetShape {
            sizes: vec![6, 16, 4],
            activation: Activation::Relu,
        },
        decoder: NetShape {
            sizes: vec![2, 16, 6],
            activation: Activation::Relu,
        },
        latent: 2,
        log_scale_factor: 0.5,
        likelihood: VaeLikelihood::BernoulliLogit,
        holdout: 40,
    };
    let settings = VaeSettings {
        epochs: 60,
        batch_size: 20,
        learning_rate: 1e-2,
        iwae_samples: 50,
        ..VaeSettings::default()
    };
    let fit = fit_vae(&problem, &settings, None).unwrap();
    assert_eq!(fit.trace.len(), 60);
    // At Glorot init the logits are near 0: about −6 log 2 ≈ −4.2 nats per row.
    assert!(fit.trace[0] < -3.0, "{:?}", &fit.trace[..3]);
    assert!(
        fit.trace[59] > fit.trace[0] + 1.5,
        "{} -> {}",
        fit.trace[0],
        fit.trace[59]
    );
    let test = fit.test.unwrap();
    assert!(test.iwae >= test.elbo - 3.0 * test.elbo_mcse, "{test:?}");
    let again = fit_vae(&problem, &settings, None).unwrap();
    assert_eq!(again.trace, fit.trace);
    assert_eq!(again.encoder, fit.encoder);
}

#[test]
fn problems_that_do_not_fit_are_errors() {
    let mut problem = linear_problem(some_rows(4, 3), 1.0, 4);
    assert!(fit_vae(&problem, &VaeSettings::default(), None).is_err());
    problem.holdout = 0;
    problem.decoder.sizes = vec![2, 4];
    assert!(fit_vae(&problem, &VaeSettings::default(), None).is_err());
}

/// The mean ELBO of `batch` and its gradient in `log σ` at noise sd `sigma` (fixed draws).
fn elbo_and_sigma_gradient(
    problem: &VaeProblem,
    encoder: &Mlp<f32>,
    decoder: &Mlp<f32>,
    batch: &DMatrix<f32>,
    sigma: f64,
) -> (f64, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let mut ge = vec![0.0; encoder.parameters().len()];
    let mut gd = vec![0.0; decoder.parameters().len()];
    let mut sigma_gradient = 0.0;
    let total = elbo_step(
        problem,
        encoder,
        decoder,
        batch,
        2,
        &mut rng,
        &mut ge,
        &mut gd,
        (sigma, &mut sigma_gradient),
    )
    .unwrap();
    (total / batch.nrows() as f64, sigma_gradient)
}

#[test]
fn the_learned_sigma_gradient_matches_finite_differences() {
    let data = some_rows(5, 3);
    let mut problem = linear_problem(data.clone(), 1.0, 0);
    problem.likelihood = VaeLikelihood::LearnedNormal { initial_sigma: 1.0 };
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let encoder = Mlp::<f32>::new(&[3, 4], Activation::Identity, &mut rng).unwrap();
    let decoder = Mlp::<f32>::new(&[2, 3], Activation::Identity, &mut rng).unwrap();
    for sigma in [0.3, 0.8, 2.0] {
        let (_, analytic) = elbo_and_sigma_gradient(&problem, &encoder, &decoder, &data, sigma);
        let h = 1e-4f64;
        let up = elbo_and_sigma_gradient(&problem, &encoder, &decoder, &data, sigma * h.exp()).0;
        let down =
            elbo_and_sigma_gradient(&problem, &encoder, &decoder, &data, sigma * (-h).exp()).0;
        let numeric = (up - down) / (2.0 * h);
        assert!(
            (numeric - analytic).abs() < 1e-4 * (1.0 + numeric.abs()),
            "sigma {sigma}: analytic {analytic}, numeric {numeric}"
        );
    }
}

#[test]
fn a_learned_sigma_reaches_the_probabilistic_pca_noise_level() {
    // Rows x = W z + noise with z ~ N(0, I₂) and noise sd 0.3 in 6 dimensions. A linear VAE
    // with a Gaussian guide has the optimum of probabilistic PCA (Lucas et al. 2019), whose MLE
    // of σ² is the mean of the 4 smallest eigenvalues of the sample covariance (Tipping and
    // Bishop 1999), computed here by nalgebra's symmetric eigendecomposition.
    let (n, width) = (2000, 6);
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let loadings = DMatrix::from_fn(2, width, |i, j| ((i * 7 + j * 3) % 5) as f32 * 0.5 - 1.0);
    let z = standard_normal_matrix(&mut rng, n, 2);
    let noise = standard_normal_matrix(&mut rng, n, width) * 0.3;
    let data = &z * &loadings + noise;
    let mean = DVector::from_fn(width, |j, _| {
        data.column(j).iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64
    });
    let covariance = DMatrix::from_fn(width, width, |a, b| {
        (0..n)
            .map(|i| (f64::from(data[(i, a)]) - mean[a]) * (f64::from(data[(i, b)]) - mean[b]))
            .sum::<f64>()
            / n as f64
    });
    let mut eigenvalues: Vec<f64> = covariance
        .symmetric_eigen()
        .eigenvalues
        .iter()
        .copied()
        .collect();
    eigenvalues.sort_by(f64::total_cmp);
    let exact = (eigenvalues[..width - 2].iter().sum::<f64>() / (width - 2) as f64).sqrt();
    let mut problem = linear_problem(data, 1.0, 0);
    problem.likelihood = VaeLikelihood::LearnedNormal { initial_sigma: 1.0 };
    let settings = VaeSettings {
        epochs: 60,
        batch_size: 100,
        learning_rate: 1e-2,
        ..VaeSettings::default()
    };
    let fit = fit_vae(&problem, &settings, None).unwrap();
    let learned = fit.sigma.unwrap();
    // The statistical se of σ̂ is about σ / sqrt(2 N (D − L)) = 0.2% of σ; the tolerance, 3%,
    // leaves room for Adam's noise around the optimum at this learning rate.
    println!("learned sigma {learned:.4}, probabilistic PCA MLE {exact:.4}");
    assert!(
        (learned / exact - 1.0).abs() < 0.03,
        "learned {learned} vs {exact}"
    );
}
