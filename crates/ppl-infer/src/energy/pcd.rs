//! Training an RBM by persistent contrastive divergence (PCD-k, Tieleman 2008).
//!
//! Each epoch visits the rows in a fresh random order (from the seed) in minibatches of
//! `batch_size`. For a minibatch V the gradient of the mean log-likelihood is estimated as
//! ⟨v hᵀ⟩_data − ⟨v hᵀ⟩_model: the data term uses p(h=1|v) of the batch rows, the model term the
//! `batch_size` persistent chains after `k` more block-Gibbs sweeps (v | h, then h | v), with
//! p(h=1|v) of their new visible states. The step is classical momentum,
//! Δ ← m·Δ + lr·(g − λ·W), W ← W + Δ, with weight decay λ on W only (Hinton 2010, §§9–10).
//! Initialisation follows the same guide: W ~ N(0, 0.01²), hidden biases 0, visible biases
//! log(pᵢ / (1 − pᵢ)) from the proportion of rows with bit i on, and the chains start from the
//! hidden states of random data rows.
//!
//! The arithmetic is `f32` through nalgebra's `gemm` (matrixmultiply); batches are stored with
//! rows as samples, and the small batch matrices are transposed rather than the weights. The
//! objective trace is the exact pseudo-log-likelihood per row (all D bit flips, not
//! scikit-learn's one random bit) after every epoch, in `f32` with `f64` sums, on rayon over
//! fixed chunks of rows added in chunk order, so the numbers do not depend on the thread count.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use nalgebra::DMatrix;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use super::ais::{AisEstimate, AisSettings, ais_log_partition, base_rate_bias};
use super::{EnergyError, Rbm, RbmProblem, fast};

/// Rows per rayon task when the pseudo-likelihood is evaluated.
const PLL_CHUNK_ROWS: usize = 64;

/// How to train.
#[derive(Clone, Debug)]
pub struct CdSettings {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    /// k: Gibbs sweeps of the persistent chains per update.
    pub gibbs_steps: usize,
    pub seed: u64,
    /// Evaluate the exact pseudo-log-likelihood after every epoch (the objective trace).
    pub trace: bool,
    /// The log-likelihood estimate at the end; `runs = 0` skips it.
    pub ais: AisSettings,
}

impl Default for CdSettings {
    fn default() -> Self {
        CdSettings {
            epochs: 20,
            batch_size: 10,
            learning_rate: 0.06,
            momentum: 0.0,
            weight_decay: 0.0,
            gibbs_steps: 1,
            seed: 1,
            trace: true,
            ais: AisSettings::default(),
        }
    }
}

/// A trained RBM and how it scores.
#[derive(Clone, Debug)]
pub struct CdFit {
    pub rbm: Rbm,
    /// The exact pseudo-log-likelihood per row after each epoch (empty when not traced).
    pub trace: Vec<f64>,
    /// The exact pseudo-log-likelihood per row of the final parameters, in `f64`.
    pub pseudo_log_likelihood: f64,
    /// log Z and the log-likelihood per row by AIS, when asked for.
    pub ais: Option<AisEstimate>,
    /// The mean of −F(v) over the rows (log-likelihood per row + log Z).
    pub mean_negative_free_energy: f64,
    pub epochs: usize,
    pub interrupted: bool,
    /// Wall time of the updates alone, of the per-epoch objective, and of AIS.
    pub train_seconds: f64,
    pub objective_seconds: f64,
    pub ais_seconds: f64,
}

/// Trains an RBM on the problem's rows. `stop`, when set, ends training after the current epoch.
pub fn fit_rbm(
    problem: &RbmProblem<'_>,
    settings: &CdSettings,
    stop: Option<&AtomicBool>,
) -> Result<CdFit, EnergyError> {
    problem.validate()?;
    let (rows, d, h) = (problem.rows, problem.visible, problem.hidden);
    let data: Vec<f32> = problem.data.iter().map(|&x| x as f32).collect();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(settings.seed);
    let base_bias = base_rate_bias(problem.data, d);
    let mut trainer = Trainer::new(d, h, settings, &base_bias, &mut rng);
    trainer.start_chains(&data, rows, &mut rng);

    let mut order: Vec<usize> = (0..rows).collect();
    let mut trace = Vec::new();
    let mut train_seconds = 0.0;
    let mut objective_seconds = 0.0;
    let mut epochs = 0;
    let mut interrupted = false;
    let batch = settings.batch_size.max(1);
    for epoch in 0..settings.epochs {
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            interrupted = true;
            break;
        }
        let started = Instant::now();
        shuffle(&mut order, &mut rng);
        for chunk in order.chunks(batch) {
            trainer.update(&data, chunk, &mut rng);
        }
        train_seconds += started.elapsed().as_secs_f64();
        if !trainer.is_finite() {
            return Err(EnergyError::Diverged { epoch: epoch + 1 });
        }
        epochs += 1;
        if settings.trace {
            let started = Instant::now();
            trace.push(trainer.pseudo_log_likelihood(&data, rows));
            objective_seconds += started.elapsed().as_secs_f64();
        }
    }
    let rbm = trainer.to_rbm();
    let pseudo_log_likelihood = rbm.pseudo_log_likelihood(problem.data);
    let mean_negative_free_energy = rbm.mean_negative_free_energy(problem.data);
    let started = Instant::now();
    let ais = (settings.ais.runs > 0).then(|| {
        let mut estimate = ais_log_partition(&rbm, &base_bias, &settings.ais);
        estimate.log_likelihood_per_row = mean_negative_free_energy - estimate.log_partition;
        estimate
    });
    let ais_seconds = started.elapsed().as_secs_f64();
    Ok(CdFit {
        rbm,
        trace,
        pseudo_log_likelihood,
        ais,
        mean_negative_free_energy,
        epochs,
        interrupted,
        train_seconds,
        objective_seconds,
        ais_seconds,
    })
}

/// Fisher–Yates.
fn shuffle(order: &mut [usize], rng: &mut impl Rng) {
    for i in (1..order.len()).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
}

/// A uniform f32 in [0, 1) from 24 random bits.
#[inline(always)]
fn uniform(rng: &mut impl Rng) -> f32 {
    (rng.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// The state of training: parameters, their velocities, the persistent chains and scratch space.
struct Trainer {
    visible: usize,
    hidden: usize,
    learning_rate: f32,
    momentum: f32,
    weight_decay: f32,
    gibbs_steps: usize,
    /// visible × hidden.
    weights: DMatrix<f32>,
    visible_bias: Vec<f32>,
    hidden_bias: Vec<f32>,
    weights_velocity: DMatrix<f32>,
    visible_velocity: Vec<f32>,
    hidden_velocity: Vec<f32>,
    /// The chains' hidden states, hidden × chains (transposed, as W·Hᵀ needs them).
    chain_hidden_t: DMatrix<f32>,
    /// The chains' visible states and p(h|v), chains × visible / chains × hidden, and transposed.
    chain_visible: DMatrix<f32>,
    chain_visible_t: DMatrix<f32>,
    chain_hidden_probabilities: DMatrix<f32>,
    gradient: DMatrix<f32>,
    batch: BatchScratch,
}

/// The positive phase's matrices for one batch size.
struct BatchScratch {
    size: usize,
    /// rows × visible, and visible × rows.
    visible: DMatrix<f32>,
    visible_t: DMatrix<f32>,
    /// rows × hidden: p(h = 1 | v).
    hidden_probabilities: DMatrix<f32>,
}

impl BatchScratch {
    fn new(size: usize, visible: usize, hidden: usize) -> Self {
        BatchScratch {
            size,
            visible: DMatrix::zeros(size, visible),
            visible_t: DMatrix::zeros(visible, size),
            hidden_probabilities: DMatrix::zeros(size, hidden),
        }
    }
}

impl Trainer {
    fn new(
        visible: usize,
        hidden: usize,
        settings: &CdSettings,
        base_bias: &[f64],
        rng: &mut impl Rng,
    ) -> Self {
        let chains = settings.batch_size.max(1);
        let weights = DMatrix::from_fn(visible, hidden, |_, _| {
            let z: f32 = StandardNormal.sample(rng);
            0.01 * z
        });
        Trainer {
            visible,
            hidden,
            learning_rate: settings.learning_rate as f32,
            momentum: settings.momentum as f32,
            weight_decay: settings.weight_decay as f32,
            gibbs_steps: settings.gibbs_steps.max(1),
            weights,
            visible_bias: base_bias.iter().map(|&b| b as f32).collect(),
            hidden_bias: vec![0.0; hidden],
            weights_velocity: DMatrix::zeros(visible, hidden),
            visible_velocity: vec![0.0; visible],
            hidden_velocity: vec![0.0; hidden],
            chain_hidden_t: DMatrix::zeros(hidden, chains),
            chain_visible: DMatrix::zeros(chains, visible),
            chain_visible_t: DMatrix::zeros(visible, chains),
            chain_hidden_probabilities: DMatrix::zeros(chains, hidden),
            gradient: DMatrix::zeros(visible, hidden),
            batch: BatchScratch::new(chains, visible, hidden),
        }
    }

    /// Each persistent chain starts at a hidden state drawn given a random data row.
    fn start_chains(&mut self, data: &[f32], rows: usize, rng: &mut impl Rng) {
        let chains = self.chain_hidden_t.ncols();
        for m in 0..chains {
            let row = rng.random_range(0..rows);
            let v = &data[row * self.visible..(row + 1) * self.visible];
            for j in 0..self.hidden {
                let input: f32 = self.hidden_bias[j]
                    + v.iter()
                        .zip(self.weights.column(j).iter())
                        .map(|(v, w)| v * w)
                        .sum::<f32>();
                self.chain_hidden_t[(j, m)] =
                    f32::from(u8::from(uniform(rng) < fast::sigmoid(input)));
            }
        }
    }

    /// One PCD-k update from the rows `rows` of `data`.
    fn update(&mut self, data: &[f32], rows: &[usize], rng: &mut impl Rng) {
        let (d, h) = (self.visible, self.hidden);
        let size = rows.len();
        if self.batch.size != size {
            self.batch = BatchScratch::new(size, d, h);
        }
        // Positive phase: the batch, and p(h | v) for it.
        let batch = &mut self.batch;
        {
            let visible = batch.visible.as_mut_slice();
            let visible_t = batch.visible_t.as_mut_slice();
            for (r, &row) in rows.iter().enumerate() {
                let source = &data[row * d..(row + 1) * d];
                visible_t[r * d..(r + 1) * d].copy_from_slice(source);
                for (i, &x) in source.iter().enumerate() {
                    visible[r + i * size] = x;
                }
            }
        }
        batch
            .hidden_probabilities
            .gemm(1.0, &batch.visible, &self.weights, 0.0);
        add_columns_and_squash(&mut batch.hidden_probabilities, &self.hidden_bias);

        // Negative phase: k sweeps of the persistent chains.
        let chains = self.chain_hidden_t.ncols();
        for _ in 0..self.gibbs_steps {
            // p(v | h)ᵀ = σ(b + W·Hᵀ), visible × chains, sampled in place.
            self.chain_visible_t
                .gemm(1.0, &self.weights, &self.chain_hidden_t, 0.0);
            for column in 0..chains {
                let values = &mut self.chain_visible_t.as_mut_slice()[column * d..(column + 1) * d];
                for (x, b) in values.iter_mut().zip(&self.visible_bias) {
                    *x = fast::sigmoid(*x + b);
                }
                for x in values.iter_mut() {
                    *x = f32::from(u8::from(uniform(rng) < *x));
                }
            }
            self.chain_visible_t.transpose_to(&mut self.chain_visible);
            self.chain_hidden_probabilities
                .gemm(1.0, &self.chain_visible, &self.weights, 0.0);
            add_columns_and_squash(&mut self.chain_hidden_probabilities, &self.hidden_bias);
            for j in 0..h {
                for m in 0..chains {
                    let p = self.chain_hidden_probabilities[(m, j)];
                    self.chain_hidden_t[(j, m)] = f32::from(u8::from(uniform(rng) < p));
                }
            }
        }

        // The gradient of the mean log-likelihood: data statistics minus the chains'.
        let positive = 1.0 / size as f32;
        let negative = 1.0 / chains as f32;
        self.gradient
            .gemm(positive, &batch.visible_t, &batch.hidden_probabilities, 0.0);
        self.gradient.gemm(
            -negative,
            &self.chain_visible_t,
            &self.chain_hidden_probabilities,
            1.0,
        );
        let (lr, momentum, decay) = (self.learning_rate, self.momentum, self.weight_decay);
        for ((velocity, w), g) in self
            .weights_velocity
            .as_mut_slice()
            .iter_mut()
            .zip(self.weights.as_mut_slice().iter_mut())
            .zip(self.gradient.as_slice())
        {
            *velocity = momentum * *velocity + lr * (g - decay * *w);
            *w += *velocity;
        }
        for i in 0..d {
            let data_mean: f32 = batch.visible.column(i).sum() * positive;
            let chain_mean: f32 = self.chain_visible.column(i).sum() * negative;
            let velocity = &mut self.visible_velocity[i];
            *velocity = momentum * *velocity + lr * (data_mean - chain_mean);
            self.visible_bias[i] += *velocity;
        }
        for j in 0..h {
            let data_mean: f32 = batch.hidden_probabilities.column(j).sum() * positive;
            let chain_mean: f32 = self.chain_hidden_probabilities.column(j).sum() * negative;
            let velocity = &mut self.hidden_velocity[j];
            *velocity = momentum * *velocity + lr * (data_mean - chain_mean);
            self.hidden_bias[j] += *velocity;
        }
    }

    fn is_finite(&self) -> bool {
        self.weights.iter().all(|w| w.is_finite())
            && self.visible_bias.iter().all(|b| b.is_finite())
            && self.hidden_bias.iter().all(|c| c.is_finite())
    }

    /// The exact pseudo-log-likelihood per row, in `f32` with `f64` sums (see the module doc).
    fn pseudo_log_likelihood(&self, data: &[f32], rows: usize) -> f64 {
        let (d, h) = (self.visible, self.hidden);
        // Row-major weights: row i is visible unit i's couplings, contiguous for the flip loop.
        let mut weights = vec![0.0f32; d * h];
        for i in 0..d {
            for j in 0..h {
                weights[i * h + j] = self.weights[(i, j)];
            }
        }
        let weights = &weights;
        let partial: Vec<f64> = data[..rows * d]
            .par_chunks(PLL_CHUNK_ROWS * d)
            .map(|chunk| {
                let mut input = vec![0.0f32; h];
                let mut total = 0.0f64;
                for v in chunk.chunks_exact(d) {
                    input.copy_from_slice(&self.hidden_bias);
                    for (i, &vi) in v.iter().enumerate() {
                        if vi != 0.0 {
                            for (a, w) in input.iter_mut().zip(&weights[i * h..(i + 1) * h]) {
                                *a += w;
                            }
                        }
                    }
                    let base: f32 = input.iter().map(|&a| fast::softplus(a)).sum();
                    for (i, &vi) in v.iter().enumerate() {
                        let s = 1.0 - 2.0 * vi;
                        let flipped_sum =
                            softplus_sum_shifted(&input, &weights[i * h..(i + 1) * h], s);
                        let gap = -s * self.visible_bias[i] - (flipped_sum - base);
                        total -= f64::from(fast::softplus(-gap));
                    }
                }
                total
            })
            .collect();
        partial.iter().sum::<f64>() / rows as f64
    }

    fn to_rbm(&self) -> Rbm {
        let (d, h) = (self.visible, self.hidden);
        let mut weights = vec![0.0; d * h];
        for i in 0..d {
            for j in 0..h {
                weights[i * h + j] = f64::from(self.weights[(i, j)]);
            }
        }
        Rbm {
            visible: d,
            hidden: h,
            weights,
            visible_bias: self.visible_bias.iter().map(|&b| f64::from(b)).collect(),
            hidden_bias: self.hidden_bias.iter().map(|&c| f64::from(c)).collect(),
        }
    }
}

/// Σⱼ softplus(aⱼ + s·wⱼ), in eight lanes so that the compiler vectorises the sum.
#[inline]
fn softplus_sum_shifted(input: &[f32], weights: &[f32], s: f32) -> f32 {
    let mut lanes = [0.0f32; 8];
    let mut inputs = input.chunks_exact(8);
    let mut rows = weights.chunks_exact(8);
    for (a, w) in (&mut inputs).zip(&mut rows) {
        for lane in 0..8 {
            lanes[lane] += fast::softplus(a[lane] + s * w[lane]);
        }
    }
    let rest: f32 = inputs
        .remainder()
        .iter()
        .zip(rows.remainder())
        .map(|(a, w)| fast::softplus(a + s * w))
        .sum();
    lanes.iter().sum::<f32>() + rest
}

/// Adds `bias[j]` to column j and applies the sigmoid, in place.
fn add_columns_and_squash(matrix: &mut DMatrix<f32>, bias: &[f32]) {
    let rows = matrix.nrows();
    for (column, b) in matrix.as_mut_slice().chunks_exact_mut(rows).zip(bias) {
        for x in column.iter_mut() {
            *x = fast::sigmoid(*x + b);
        }
    }
}
