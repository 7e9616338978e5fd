//! The VAE engine: amortised variational inference (Kingma and Welling 2014, "Auto-encoding
//! variational Bayes") for a latent-variable model whose likelihood and guide are nets.
//!
//! The model, per data row `x` (`D` values) with latent `z` (`L` values):
//! `z ~ N(0, I)`, `x ~ p(x | decoder(z))` (Bernoulli with logits, or Normal with a fixed or a
//! learned `σ`: a learned `σ` is one more parameter of the ELBO, moved by its own Adam on
//! `log σ` with the gradient `Σ (r² − 1)` over the standardised residuals `r`);
//! the guide `q(z | x) = N(μ, diag(s²))` with `h = encoder(x)`, `μ = h[.., 1:L]` and
//! `log s = c · h[.., L+1:2L]` (`c = ½` when the encoder outputs a log-variance).
//!
//! Training maximises the ELBO `E_q[log p(x|z)] − KL(q(z|x) ‖ N(0, I))` with the KL in closed form
//! and the expectation by `elbo_samples` reparameterised draws `z = μ + s ε`, over minibatches of
//! the training rows reshuffled every epoch from the seed. The gradient is that of the mean ELBO
//! over the minibatch (the N/B-scaled sum has the same direction, and Adam is invariant to its
//! scale). The last `holdout` rows are never trained on: the test ELBO and the importance-weighted
//! bound of Burda et al. (2016), `log (1/K) Σ_k p(x, z_k) / q(z_k | x)` with `z_k ~ q`, are
//! reported on them. Nets compute in `f32` (1.7× faster than `f64` here); sums are in `f64`.
//!
//! The engine sees plain matrices and net sizes ([`VaeProblem`]), never the IR.

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};

use nalgebra::DMatrix;
use ppl_nn::{Activation, Adam, Mlp, NnError};
use rand::rngs::ChaCha8Rng;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::StandardNormal;

/// `log(2π) / 2`.
const HALF_LOG_TWO_PI: f64 = 0.918_938_533_204_672_8;

/// How the decoder's output parameterises the distribution of a data row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum VaeLikelihood {
    /// `x ~ Bernoulli(logit = decoder(z))`, `x` in {0, 1}.
    BernoulliLogit,
    /// `x ~ Normal(decoder(z), sigma)` with a fixed `sigma`.
    Normal {
        /// The observation noise.
        sigma: f64,
    },
    /// `x ~ Normal(decoder(z), sigma)` with `sigma` a `param`: one noise sd for every value,
    /// trained with the nets from `initial_sigma`.
    LearnedNormal { initial_sigma: f64 },
}

impl VaeLikelihood {
    /// The noise sd before training (`None` for Bernoulli).
    fn initial_sigma(self) -> Option<f64> {
        match self {
            VaeLikelihood::BernoulliLogit => None,
            VaeLikelihood::Normal { sigma } => Some(sigma),
            VaeLikelihood::LearnedNormal { initial_sigma } => Some(initial_sigma),
        }
    }
}

/// A net's shape: layer sizes (input first) and hidden activation.
#[derive(Clone, Debug, PartialEq)]
pub struct NetShape {
    /// Layer sizes, input first.
    pub sizes: Vec<usize>,
    /// The hidden-layer activation.
    pub activation: Activation,
}

/// What the VAE engine fits: the data and the two nets.
#[derive(Clone, Debug)]
pub struct VaeProblem {
    /// The data, one row per plate element (`[N, D]`).
    pub data: DMatrix<f32>,
    /// `D → … → 2L`: the guide's mean and scale parameter.
    pub encoder: NetShape,
    /// `L → … → D`: the likelihood's parameter.
    pub decoder: NetShape,
    /// The latent size `L`.
    pub latent: usize,
    /// `c` in `log s = c · h[.., L+1:2L]`.
    pub log_scale_factor: f64,
    pub likelihood: VaeLikelihood,
    /// The last `holdout` rows are held out for the test bounds.
    pub holdout: usize,
}

/// How to train.
#[derive(Clone, Debug)]
pub struct VaeSettings {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Reparameterised draws per row in each gradient.
    pub elbo_samples: usize,
    /// `K` of the importance-weighted bound (and the draws of the reported ELBOs).
    pub iwae_samples: usize,
    pub seed: u64,
}

impl Default for VaeSettings {
    fn default() -> Self {
        VaeSettings {
            epochs: 200,
            batch_size: 100,
            learning_rate: 1e-3,
            elbo_samples: 1,
            iwae_samples: 100,
            seed: 1,
        }
    }
}

/// A bound on `log p(x)` averaged over rows, in nats per row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    /// The ELBO, its expectation estimated with `iwae_samples` draws per row.
    pub elbo: f64,
    /// The importance-weighted bound with `iwae_samples` draws.
    pub iwae: f64,
    /// The Monte-Carlo standard error of `elbo` for these rows (from the draws).
    pub elbo_mcse: f64,
}

/// A trained VAE.
#[derive(Clone, Debug)]
pub struct VaeFit {
    pub encoder: Mlp<f32>,
    pub decoder: Mlp<f32>,
    /// The mean minibatch ELBO per row over each epoch (the objective trace).
    pub trace: Vec<f64>,
    /// The final nets' bounds on the training rows.
    pub train: Bounds,
    /// The final nets' bounds on the held-out rows, if any.
    pub test: Option<Bounds>,
    pub epochs: usize,
    /// The Normal likelihood's noise sd after training (fixed or learned); `None` for Bernoulli.
    pub sigma: Option<f64>,
    /// Seconds spent in the training loop (evaluation excluded), for the benchmark.
    pub training_seconds: f64,
    pub interrupted: bool,
}

/// Why training could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VaeError {
    #[error("the nets do not fit the data: {0}")]
    Net(#[from] NnError),
    #[error("{0}")]
    Problem(String),
    #[error("the ELBO became {value} at epoch {epoch}: lower the learning rate")]
    NotFinite { epoch: usize, value: f64 },
}

/// The guide's parameters and the reparameterised draws for a batch.
struct Guide {
    mean: DMatrix<f32>,
    log_scale: DMatrix<f32>,
}

impl VaeProblem {
    fn check(&self) -> Result<(), VaeError> {
        let (rows, width) = self.data.shape();
        let fail = |m: String| Err(VaeError::Problem(m));
        if self.encoder.sizes.first() != Some(&width) {
            return fail(format!(
                "the encoder takes {:?} inputs but a row has {width} values",
                self.encoder.sizes.first()
            ));
        }
        if self.encoder.sizes.last() != Some(&(2 * self.latent)) {
            return fail(format!(
                "the encoder must output 2 × {} values (mean and scale)",
                self.latent
            ));
        }
        if self.decoder.sizes.first() != Some(&self.latent)
            || self.decoder.sizes.last() != Some(&width)
        {
            return fail(format!(
                "the decoder must map {} latents to {width} values",
                self.latent
            ));
        }
        if self.holdout >= rows {
            return fail(format!(
                "holding out {} of {rows} rows leaves none to train on",
                self.holdout
            ));
        }
        if let Some(sigma) = self.likelihood.initial_sigma()
            && !(sigma.is_finite() && sigma > 0.0)
        {
            return fail(format!(
                "the Normal likelihood's sigma {sigma} is not positive"
            ));
        }
        if self.data.iter().any(|v| !v.is_finite()) {
            return fail("the data has a non-finite value".into());
        }
        Ok(())
    }

    fn training_rows(&self) -> usize {
        self.data.nrows() - self.holdout
    }

    /// Splits the encoder output into the guide's mean and log scale.
    fn guide(&self, encoded: &DMatrix<f32>) -> Guide {
        let latent = self.latent;
        let factor = self.log_scale_factor as f32;
        Guide {
            mean: encoded.columns(0, latent).into_owned(),
            log_scale: encoded.columns(latent, latent).map(|h| factor * h),
        }
    }

    /// `log p(x | decoded)` per row, in f64, and (optionally) its gradient with respect to the
    /// decoder output, scaled by `weight`. `sigma` is the Normal noise sd now (ignored for
    /// Bernoulli); `sigma_gradient`, when given, receives the gradient in `log σ` (unscaled).
    fn log_likelihood(
        &self,
        rows: &DMatrix<f32>,
        decoded: &DMatrix<f32>,
        gradient: Option<(&mut DMatrix<f32>, f32)>,
        sigma: f64,
        sigma_gradient: Option<&mut f64>,
    ) -> Vec<f64> {
        let mut per_row = vec![0.0f64; rows.nrows()];
        match self.likelihood {
            VaeLikelihood::BernoulliLogit => {
                // For x in {0, 1}: x l − softplus(l) = −softplus((1 − 2x) l), and its derivative
                // x − sigmoid(l); both from one exp(−|l|), in f32 (the hot loop of training).
                let n = rows.nrows();
                let mut gradient = gradient;
                for (index, (&x, &logit)) in rows.iter().zip(decoded.iter()).enumerate() {
                    let e = (-logit.abs()).exp();
                    let signed = if x > 0.5 { -logit } else { logit };
                    // e ≤ 1, so ln(1 + e) has absolute error ~1e-7 without the slow log1p.
                    let loss = signed.max(0.0) + (1.0 + e).ln();
                    per_row[index % n] -= f64::from(loss);
                    if let Some((gradient, weight)) = gradient.as_mut() {
                        let sigmoid = if logit >= 0.0 {
                            1.0 / (1.0 + e)
                        } else {
                            e / (1.0 + e)
                        };
                        gradient[index] = *weight * (x - sigmoid);
                    }
                }
            }
            VaeLikelihood::Normal { .. } | VaeLikelihood::LearnedNormal { .. } => {
                let log_norm = sigma.ln() + HALF_LOG_TWO_PI;
                let mut squares = 0.0;
                for (column, means) in rows.column_iter().zip(decoded.column_iter()) {
                    for ((total, &x), &m) in per_row.iter_mut().zip(column.iter()).zip(means.iter())
                    {
                        let r = (f64::from(x) - f64::from(m)) / sigma;
                        squares += r * r;
                        *total += -0.5 * r * r - log_norm;
                    }
                }
                // ∂/∂log σ of Σ (−r²/2 − log σ) = Σ (r² − 1).
                if let Some(sigma_gradient) = sigma_gradient {
                    *sigma_gradient += squares - rows.len() as f64;
                }
                if let Some((gradient, weight)) = gradient {
                    let precision = (1.0 / (sigma * sigma)) as f32;
                    gradient
                        .zip_zip_apply(rows, decoded, |g, x, m| *g = weight * (x - m) * precision);
                }
            }
        }
        per_row
    }
}

/// `KL(N(μ, s²) ‖ N(0, 1))` summed over the latent coordinates of each row.
fn kl_per_row(guide: &Guide) -> Vec<f64> {
    let mut per_row = vec![0.0f64; guide.mean.nrows()];
    for (means, log_scales) in guide.mean.column_iter().zip(guide.log_scale.column_iter()) {
        for ((total, &m), &log_s) in per_row.iter_mut().zip(means.iter()).zip(log_scales.iter()) {
            let (m, log_s) = (f64::from(m), f64::from(log_s));
            *total += 0.5 * (m * m + (2.0 * log_s).exp() - 1.0) - log_s;
        }
    }
    per_row
}

fn standard_normal_matrix<R: Rng + ?Sized>(rng: &mut R, rows: usize, cols: usize) -> DMatrix<f32> {
    let mut out = DMatrix::zeros(rows, cols);
    for i in 0..rows {
        for j in 0..cols {
            let e: f64 = rng.sample(StandardNormal);
            out[(i, j)] = e as f32;
        }
    }
    out
}

/// Trains the VAE; `stop` (Ctrl-C) ends training after the current epoch.
pub fn fit_vae(
    problem: &VaeProblem,
    settings: &VaeSettings,
    stop: Option<&AtomicBool>,
) -> Result<VaeFit, VaeError> {
    problem.check()?;
    if settings.batch_size == 0 || settings.elbo_samples == 0 || settings.iwae_samples == 0 {
        return Err(VaeError::Problem(
            "batch size and sample counts must be positive".into(),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let mut encoder =
        Mlp::<f32>::new(&problem.encoder.sizes, problem.encoder.activation, &mut rng)?;
    let mut decoder =
        Mlp::<f32>::new(&problem.decoder.sizes, problem.decoder.activation, &mut rng)?;
    let mut encoder_adam = Adam::new(settings.learning_rate, encoder.parameters().len());
    let mut decoder_adam = Adam::new(settings.learning_rate, decoder.parameters().len());
    let mut log_sigma = problem
        .likelihood
        .initial_sigma()
        .map(f64::ln)
        .unwrap_or(0.0);
    let learn_sigma = matches!(problem.likelihood, VaeLikelihood::LearnedNormal { .. });
    let mut sigma_adam = Adam::new(settings.learning_rate, 1);
    let mut encoder_gradient = vec![0.0f32; encoder.parameters().len()];
    let mut decoder_gradient = vec![0.0f32; decoder.parameters().len()];
    let training = problem.training_rows();
    let width = problem.data.ncols();
    let mut order: Vec<usize> = (0..training).collect();
    let mut trace = Vec::with_capacity(settings.epochs);
    let mut interrupted = false;
    let started = std::time::Instant::now();
    for epoch in 0..settings.epochs {
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            interrupted = true;
            break;
        }
        shuffle(&mut order, &mut rng);
        let mut epoch_total = 0.0f64;
        for batch_rows in order.chunks(settings.batch_size) {
            let batch = DMatrix::from_fn(batch_rows.len(), width, |i, j| {
                problem.data[(batch_rows[i], j)]
            });
            encoder_gradient.fill(0.0);
            decoder_gradient.fill(0.0);
            let mut sigma_gradient = 0.0;
            epoch_total += elbo_step(
                problem,
                &encoder,
                &decoder,
                &batch,
                settings.elbo_samples,
                &mut rng,
                &mut encoder_gradient,
                &mut decoder_gradient,
                (log_sigma.exp(), &mut sigma_gradient),
            )?;
            encoder_adam.ascend(encoder.parameters_mut(), &encoder_gradient);
            decoder_adam.ascend(decoder.parameters_mut(), &decoder_gradient);
            if learn_sigma {
                let mut parameter = [log_sigma as f32];
                sigma_adam.ascend(&mut parameter, &[sigma_gradient as f32]);
                log_sigma = f64::from(parameter[0]);
            }
        }
        let mean = epoch_total / training as f64;
        if !mean.is_finite() {
            return Err(VaeError::NotFinite {
                epoch: epoch + 1,
                value: mean,
            });
        }
        trace.push(mean);
    }
    let training_seconds = started.elapsed().as_secs_f64();
    // The evaluation draws come from their own stream, so that they do not depend on how many
    // epochs ran.
    let mut evaluation_rng = ChaCha8Rng::seed_from_u64(settings.seed ^ 0x5eed_e7a1_u64);
    let train_rows = problem.data.rows(0, training).into_owned();
    let sigma = log_sigma.exp();
    let train = bounds_at(
        problem,
        sigma,
        &encoder,
        &decoder,
        &train_rows,
        settings.iwae_samples,
        &mut evaluation_rng,
    )?;
    let test = if problem.holdout > 0 {
        let test_rows = problem.data.rows(training, problem.holdout).into_owned();
        Some(bounds_at(
            problem,
            sigma,
            &encoder,
            &decoder,
            &test_rows,
            settings.iwae_samples,
            &mut evaluation_rng,
        )?)
    } else {
        None
    };
    Ok(VaeFit {
        encoder,
        decoder,
        epochs: trace.len(),
        sigma: problem.likelihood.initial_sigma().map(|_| sigma),
        trace,
        train,
        test,
        training_seconds,
        interrupted,
    })
}

/// Fisher–Yates with the engine's own generator (the permutation depends on the seed only).
fn shuffle<R: Rng + ?Sized>(order: &mut [usize], rng: &mut R) {
    for i in (1..order.len()).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
}

/// One minibatch: the summed ELBO estimate of its rows, and the gradient of the *mean* ELBO
/// over the batch added into the two gradient vectors.
#[allow(clippy::too_many_arguments)]
fn elbo_step<R: Rng + ?Sized>(
    problem: &VaeProblem,
    encoder: &Mlp<f32>,
    decoder: &Mlp<f32>,
    batch: &DMatrix<f32>,
    samples: usize,
    rng: &mut R,
    encoder_gradient: &mut [f32],
    decoder_gradient: &mut [f32],
    (sigma, sigma_gradient): (f64, &mut f64),
) -> Result<f64, VaeError> {
    let rows = batch.nrows();
    let latent = problem.latent;
    let encoded = encoder.forward(batch)?;
    let guide = problem.guide(encoded.output());
    let scale = guide.log_scale.map(f32::exp);
    let weight = 1.0 / (rows * samples) as f32;
    let mut mean_gradient = DMatrix::<f32>::zeros(rows, latent);
    let mut log_scale_gradient = DMatrix::<f32>::zeros(rows, latent);
    let mut total = 0.0f64;
    let mut output_gradient = DMatrix::<f32>::zeros(rows, problem.data.ncols());
    for _ in 0..samples {
        let noise = standard_normal_matrix(rng, rows, latent);
        let z = &guide.mean + scale.component_mul(&noise);
        let decoded = decoder.forward(&z)?;
        let mut draw_sigma_gradient = 0.0;
        let log_lik = problem.log_likelihood(
            batch,
            decoded.output(),
            Some((&mut output_gradient, weight)),
            sigma,
            Some(&mut draw_sigma_gradient),
        );
        // The mean ELBO over the batch, as for the nets.
        *sigma_gradient += draw_sigma_gradient * f64::from(weight);
        total += log_lik.iter().sum::<f64>() / samples as f64;
        let z_gradient = decoder
            .backward(&decoded, &output_gradient, decoder_gradient, true)?
            .unwrap_or_else(|| DMatrix::zeros(rows, latent));
        // z = μ + s ε: ∂z/∂μ = 1, ∂z/∂log s = s ε.
        mean_gradient += &z_gradient;
        log_scale_gradient += z_gradient.component_mul(&scale).component_mul(&noise);
    }
    // − KL = −½ Σ (μ² + s² − 1 − 2 log s): ∂/∂μ = −μ, ∂/∂log s = 1 − s².
    let kl_weight = 1.0 / rows as f32;
    total -= kl_per_row(&guide).iter().sum::<f64>();
    mean_gradient -= &guide.mean * kl_weight;
    log_scale_gradient += scale.map(|s| kl_weight * (1.0 - s * s));
    let factor = problem.log_scale_factor as f32;
    let mut encoded_gradient = DMatrix::<f32>::zeros(rows, 2 * latent);
    encoded_gradient
        .columns_mut(0, latent)
        .copy_from(&mean_gradient);
    encoded_gradient
        .columns_mut(latent, latent)
        .copy_from(&(log_scale_gradient * factor));
    encoder.backward(&encoded, &encoded_gradient, encoder_gradient, false)?;
    Ok(total)
}

/// The ELBO and the importance-weighted bound of the given rows, averaged over rows (a Normal
/// likelihood at its initial sd).
pub fn bounds<R: Rng + ?Sized>(
    problem: &VaeProblem,
    encoder: &Mlp<f32>,
    decoder: &Mlp<f32>,
    rows: &DMatrix<f32>,
    samples: usize,
    rng: &mut R,
) -> Result<Bounds, VaeError> {
    let sigma = problem.likelihood.initial_sigma().unwrap_or(1.0);
    bounds_at(problem, sigma, encoder, decoder, rows, samples, rng)
}

/// [`bounds`] with the Normal likelihood's sd `sigma` (a learned one after training).
pub fn bounds_at<R: Rng + ?Sized>(
    problem: &VaeProblem,
    sigma: f64,
    encoder: &Mlp<f32>,
    decoder: &Mlp<f32>,
    rows: &DMatrix<f32>,
    samples: usize,
    rng: &mut R,
) -> Result<Bounds, VaeError> {
    let n = rows.nrows();
    let latent = problem.latent;
    let guide = problem.guide(encoder.forward(rows)?.output());
    let scale = guide.log_scale.map(f32::exp);
    let kl = kl_per_row(&guide);
    let log_scale_sums: Vec<f64> = (0..n)
        .map(|i| guide.log_scale.row(i).iter().map(|&v| f64::from(v)).sum())
        .collect();
    // log w_k per row, and the per-draw ELBO terms for the ELBO's mean and standard error.
    let mut log_weights = vec![Vec::with_capacity(samples); n];
    let mut elbo_terms = vec![0.0; n * samples];
    for draw in 0..samples {
        let noise = standard_normal_matrix(rng, n, latent);
        let z = &guide.mean + scale.component_mul(&noise);
        let log_lik =
            problem.log_likelihood(rows, &decoder.forward(&z)?.into_output(), None, sigma, None);
        for i in 0..n {
            let mut log_prior = 0.0;
            let mut log_guide = -log_scale_sums[i];
            for j in 0..latent {
                let (zij, eij) = (f64::from(z[(i, j)]), f64::from(noise[(i, j)]));
                log_prior -= 0.5 * zij * zij + HALF_LOG_TWO_PI;
                log_guide -= 0.5 * eij * eij + HALF_LOG_TWO_PI;
            }
            log_weights[i].push(log_lik[i] + log_prior - log_guide);
            elbo_terms[i * samples + draw] = log_lik[i] - kl[i];
        }
    }
    let iwae = log_weights
        .iter()
        .map(|w| log_sum_exp(w) - (samples as f64).ln())
        .sum::<f64>()
        / n as f64;
    // The rows are given, so the Monte-Carlo error is that of the draws within each row.
    let mut elbo = 0.0;
    let mut variance_of_mean = 0.0;
    for terms in elbo_terms.chunks(samples) {
        let row_mean = terms.iter().sum::<f64>() / samples as f64;
        let row_variance = terms.iter().map(|t| (t - row_mean).powi(2)).sum::<f64>()
            / (samples as f64 - 1.0).max(1.0);
        elbo += row_mean / n as f64;
        variance_of_mean += row_variance / samples as f64 / (n * n) as f64;
    }
    let elbo_mcse = variance_of_mean.sqrt();
    if !(elbo.is_finite() && iwae.is_finite()) {
        return Err(VaeError::NotFinite {
            epoch: 0,
            value: if elbo.is_finite() { iwae } else { elbo },
        });
    }
    Ok(Bounds {
        elbo,
        iwae,
        elbo_mcse,
    })
}

fn log_sum_exp(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    max + values.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}
