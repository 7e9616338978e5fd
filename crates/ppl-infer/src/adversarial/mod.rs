//! Adversarial training of an implicit model (a GAN; LANGUAGE.md §6 rule 1): a generator net
//! pushes standard-normal noise forward to data space and a critic net scores real against
//! generated rows (Goodfellow et al. 2014).
//!
//! Each step makes one critic update, on a minibatch of data rows drawn uniformly with
//! replacement and a fresh batch of generated rows, then one generator update on fresh noise
//! against the critic just updated. Both use the non-saturating losses of Goodfellow et al.
//! (section 3): with `d` the critic's logit and `softplus(t) = log(1 + e^t)`,
//!
//! - critic:    `mean softplus(-d(x_real)) + mean softplus(d(G(z)))`
//! - generator: `mean softplus(-d(G(z)))`, which keeps its gradient when the critic wins,
//!
//! each minimised by its own Adam (`ppl_nn::Adam`; the DCGAN setting β1 = 0.5 suits the
//! alternating game). The nets train in `f32`; the losses are averaged over each epoch (⌈N/B⌉
//! steps) into the trace. The engine sees a data matrix and two net designs, never the IR.

use std::sync::atomic::{AtomicBool, Ordering};

use nalgebra::DMatrix;
use ppl_nn::{Activation, Adam, Forward, Mlp, NnError, Scalar};
use rand::rngs::ChaCha8Rng;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::StandardNormal;

#[cfg(test)]
mod tests;

/// The layer sizes (input first) and hidden activation of one net.
#[derive(Clone, Debug, PartialEq)]
pub struct NetDesign {
    pub sizes: Vec<usize>,
    pub activation: Activation,
}

/// How long and how fast to train.
#[derive(Clone, Debug, PartialEq)]
pub struct AdversarialSettings {
    /// Steps in all (one critic and one generator update each).
    pub steps: usize,
    /// Steps averaged into one entry of the loss trace; ⌈N/B⌉ makes an epoch.
    pub steps_per_epoch: usize,
    /// Rows per minibatch, for the data, the generated rows and the noise alike.
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Adam's first-moment decay for both nets.
    pub beta1: f64,
    /// Adam's second-moment decay for both nets.
    pub beta2: f64,
    pub seed: u64,
}

impl Default for AdversarialSettings {
    fn default() -> Self {
        AdversarialSettings {
            steps: 5000,
            steps_per_epoch: 100,
            batch_size: 256,
            learning_rate: 1e-3,
            beta1: 0.5,
            beta2: 0.999,
            seed: 1,
        }
    }
}

/// The two losses averaged over one epoch's steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochLosses {
    /// The critic's loss (at best `2 log 2 ≈ 1.386` when it cannot tell real from generated).
    pub critic: f64,
    /// The generator's non-saturating loss (`log 2 ≈ 0.693` at that equilibrium).
    pub generator: f64,
}

/// The trained nets and the loss trace.
#[derive(Clone, Debug)]
pub struct AdversarialFit {
    pub generator: Mlp<f32>,
    pub critic: Mlp<f32>,
    /// One entry per epoch (a last, shorter epoch included).
    pub trace: Vec<EpochLosses>,
    /// Steps taken (fewer than asked when interrupted).
    pub steps: usize,
    pub interrupted: bool,
}

/// Why training could not run or went wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AdversarialError {
    #[error("the nets do not fit the data: {0}")]
    Net(#[from] NnError),
    #[error("{0}")]
    Design(String),
    #[error(
        "the {which} loss became {value} at step {step}: training diverged (try a smaller --lr)"
    )]
    NotFinite {
        which: &'static str,
        value: f64,
        step: usize,
    },
}

/// Trains a generator and a critic on `data` (row-major, `columns` values per row).
pub fn train_gan(
    data: &[f64],
    columns: usize,
    generator_design: &NetDesign,
    critic_design: &NetDesign,
    settings: &AdversarialSettings,
    stop: Option<&AtomicBool>,
) -> Result<AdversarialFit, AdversarialError> {
    if columns == 0 || data.is_empty() || !data.len().is_multiple_of(columns) {
        return Err(AdversarialError::Design(format!(
            "{} data values do not make rows of {columns}",
            data.len()
        )));
    }
    let rows = data.len() / columns;
    if generator_design.sizes.last() != Some(&columns)
        || critic_design.sizes.first() != Some(&columns)
        || critic_design.sizes.last() != Some(&1)
    {
        return Err(AdversarialError::Design(format!(
            "a generator ending in {columns} values and a critic from {columns} values to 1 are needed; got {:?} and {:?}",
            generator_design.sizes, critic_design.sizes
        )));
    }
    if settings.batch_size == 0 || settings.steps_per_epoch == 0 {
        return Err(AdversarialError::Design(
            "the batch size and the steps per epoch must be positive".into(),
        ));
    }
    let data: Vec<f32> = data.iter().map(|&v| v as f32).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let mut generator = Mlp::<f32>::new(
        &generator_design.sizes,
        generator_design.activation,
        &mut rng,
    )?;
    let mut critic = Mlp::<f32>::new(&critic_design.sizes, critic_design.activation, &mut rng)?;
    let adam = |count| {
        let mut adam = Adam::<f32>::new(settings.learning_rate, count);
        adam.beta1 = settings.beta1;
        adam.beta2 = settings.beta2;
        adam
    };
    let mut generator_adam = adam(generator.parameters().len());
    let mut critic_adam = adam(critic.parameters().len());
    let mut generator_gradient = vec![0f32; generator.parameters().len()];
    let mut critic_gradient = vec![0f32; critic.parameters().len()];

    let batch = settings.batch_size;
    let noise_width = generator.input_size();
    let mut trace = Vec::new();
    let (mut epoch_critic, mut epoch_generator, mut epoch_steps) = (0.0, 0.0, 0usize);
    let mut steps = 0;
    let mut interrupted = false;
    while steps < settings.steps {
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            interrupted = true;
            break;
        }
        // The critic: real rows and generated rows stacked into one batch of 2B.
        let noise = standard_normal(batch, noise_width, &mut rng);
        let generated = generator.forward(&noise)?.into_output();
        let mut scored = DMatrix::<f32>::zeros(2 * batch, columns);
        for row in 0..batch {
            let pick = rng.random_range(0..rows);
            for column in 0..columns {
                scored[(row, column)] = data[pick * columns + column];
                scored[(batch + row, column)] = generated[(row, column)];
            }
        }
        let critic_loss = critic_step(&critic, &scored, batch, &mut critic_gradient)?;
        critic_adam.descend(critic.parameters_mut(), &critic_gradient);

        // The generator, on fresh noise, against the updated critic.
        let noise = standard_normal(batch, noise_width, &mut rng);
        let generator_loss = generator_step(
            &generator,
            &critic,
            &noise,
            &mut generator_gradient,
            &mut critic_gradient,
        )?;
        generator_adam.descend(generator.parameters_mut(), &generator_gradient);

        steps += 1;
        for (which, value) in [("critic", critic_loss), ("generator", generator_loss)] {
            if !value.is_finite() {
                return Err(AdversarialError::NotFinite {
                    which,
                    value,
                    step: steps,
                });
            }
        }
        epoch_critic += critic_loss;
        epoch_generator += generator_loss;
        epoch_steps += 1;
        if epoch_steps == settings.steps_per_epoch {
            trace.push(epoch_mean(epoch_critic, epoch_generator, epoch_steps));
            (epoch_critic, epoch_generator, epoch_steps) = (0.0, 0.0, 0);
        }
    }
    if epoch_steps > 0 {
        trace.push(epoch_mean(epoch_critic, epoch_generator, epoch_steps));
    }
    Ok(AdversarialFit {
        generator,
        critic,
        trace,
        steps,
        interrupted,
    })
}

/// `count` rows of the generator's output, each from fresh standard-normal noise.
pub fn generate<T: Scalar, R: Rng + ?Sized>(
    generator: &Mlp<T>,
    count: usize,
    rng: &mut R,
) -> Result<DMatrix<T>, NnError>
where
    StandardNormal: rand_distr::Distribution<T>,
{
    let noise = standard_normal(count, generator.input_size(), rng);
    Ok(generator.forward(&noise)?.into_output())
}

fn epoch_mean(critic: f64, generator: f64, steps: usize) -> EpochLosses {
    EpochLosses {
        critic: critic / steps as f64,
        generator: generator / steps as f64,
    }
}

fn standard_normal<T: Scalar, R: Rng + ?Sized>(
    rows: usize,
    columns: usize,
    rng: &mut R,
) -> DMatrix<T>
where
    StandardNormal: rand_distr::Distribution<T>,
{
    DMatrix::from_fn(rows, columns, |_, _| rng.sample(StandardNormal))
}

/// The critic's loss on `scored` (the first `real_rows` rows real, the rest generated) and its
/// gradient with respect to the critic's parameters, written into `gradient`.
pub fn critic_step<T: Scalar>(
    critic: &Mlp<T>,
    scored: &DMatrix<T>,
    real_rows: usize,
    gradient: &mut [T],
) -> Result<f64, NnError> {
    let forward = critic.forward(scored)?;
    let logits = forward.output();
    let generated_rows = scored.nrows().saturating_sub(real_rows);
    let mut loss = 0.0;
    // d/dd softplus(-d) = -sigmoid(-d); d/dd softplus(d) = sigmoid(d); each mean over its rows.
    let output_gradient = DMatrix::from_fn(scored.nrows(), 1, |row, _| {
        let logit: f64 = nalgebra::try_convert(logits[(row, 0)]).unwrap_or(f64::NAN);
        let (sign, weight) = if row < real_rows {
            (-1.0, 1.0 / real_rows as f64)
        } else {
            (1.0, 1.0 / generated_rows as f64)
        };
        loss += weight * softplus(sign * logit);
        nalgebra::convert::<f64, T>(sign * weight * sigmoid(sign * logit))
    });
    gradient.fill(T::zero());
    critic.backward(&forward, &output_gradient, gradient, false)?;
    Ok(loss)
}

/// The generator's non-saturating loss on `noise` and its gradient with respect to the
/// generator's parameters, written into `gradient`; `critic_scratch` (the critic's parameter
/// count) receives the critic's gradient, which this step does not use.
pub fn generator_step<T: Scalar>(
    generator: &Mlp<T>,
    critic: &Mlp<T>,
    noise: &DMatrix<T>,
    gradient: &mut [T],
    critic_scratch: &mut [T],
) -> Result<f64, NnError> {
    let generated: Forward<T> = generator.forward(noise)?;
    let scored = critic.forward(generated.output())?;
    let logits = scored.output();
    let rows = noise.nrows();
    let mut loss = 0.0;
    let output_gradient = DMatrix::from_fn(rows, 1, |row, _| {
        let logit: f64 = nalgebra::try_convert(logits[(row, 0)]).unwrap_or(f64::NAN);
        loss += softplus(-logit) / rows as f64;
        nalgebra::convert::<f64, T>(-sigmoid(-logit) / rows as f64)
    });
    critic_scratch.fill(T::zero());
    let Some(row_gradient) = critic.backward(&scored, &output_gradient, critic_scratch, true)?
    else {
        return Ok(f64::NAN);
    };
    gradient.fill(T::zero());
    generator.backward(&generated, &row_gradient, gradient, false)?;
    Ok(loss)
}

/// `log(1 + e^t)` without overflow.
fn softplus(t: f64) -> f64 {
    t.max(0.0) + (-t.abs()).exp().ln_1p()
}

fn sigmoid(t: f64) -> f64 {
    if t >= 0.0 {
        1.0 / (1.0 + (-t).exp())
    } else {
        let e = t.exp();
        e / (1.0 + e)
    }
}
