//! log Z of an RBM by annealed importance sampling (Neal 2001; Salakhutdinov & Murray 2008).
//!
//! The path runs from the base-rate model p₀(v) ∝ exp(v·b_A) (hidden units disconnected, b_A the
//! logits of the data's bit frequencies; Z₀ = 2^H Πᵢ (1 + e^{b_A,i})) to the RBM, through
//! log p*_β(v) = (1−β)·v·b_A + β·v·b + Σⱼ softplus(β·(cⱼ + (vW)ⱼ)), the visible marginal of the
//! joint with energy −(1−β)·v·b_A − β·(v·b + h·c + vWh). Each run draws v₀ exactly from p₀, and
//! for k = 1..K adds log p*_{βₖ}(v) − log p*_{βₖ₋₁}(v) to its log weight, then moves v by one
//! block-Gibbs sweep that leaves p_{βₖ} invariant. The mean weight is an unbiased estimate of
//! Z/Z₀; log Z is estimated by log Z₀ + log mean w, with the delta-method standard error
//! sd(w) / (mean(w)·√M). As with any AIS, log Ẑ is biased low by about half its variance, and a
//! schedule too short biases it further low; the standard error does not see the latter.
//!
//! The β schedule spends 10% of the K steps on [0, 0.5], 30% on [0.5, 0.9] and 60% on [0.9, 1],
//! the proportions of Salakhutdinov & Murray's 500/4,000/10,000. Runs go in fixed groups, each
//! with its own random stream from the seed, on rayon, so the result does not depend on the
//! thread count.

use nalgebra::DMatrix;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, RngExt, SeedableRng};
use rayon::prelude::*;

use super::{Rbm, sigmoid, softplus};

/// Runs per rayon task (each with its own random stream).
const RUNS_PER_GROUP: usize = 25;

#[derive(Clone, Debug)]
pub struct AisSettings {
    /// Independent annealing runs M (0 skips the estimate).
    pub runs: usize,
    /// Intermediate distributions K.
    pub temperatures: usize,
    pub seed: u64,
}

impl Default for AisSettings {
    fn default() -> Self {
        AisSettings {
            runs: 100,
            temperatures: 1000,
            seed: 1,
        }
    }
}

/// The estimate of log Z.
#[derive(Clone, Debug, PartialEq)]
pub struct AisEstimate {
    pub log_partition: f64,
    /// Delta-method standard error of `log_partition` over the runs.
    pub standard_error: f64,
    /// The base model's exact log Z₀.
    pub base_log_partition: f64,
    /// Mean −F(v) over the training rows minus log Z (filled in by the trainer; NaN otherwise).
    pub log_likelihood_per_row: f64,
    pub runs: usize,
    pub temperatures: usize,
}

/// Visible biases of the base-rate model: logits of the bit frequencies of `data` (rows of
/// `visible`), each frequency pulled toward ½ by one pseudo-row on and one off so that a column
/// always on or off keeps a finite bias.
pub fn base_rate_bias(data: &[f64], visible: usize) -> Vec<f64> {
    let rows = data.len() / visible.max(1);
    (0..visible)
        .map(|i| {
            let on: f64 = data.chunks_exact(visible).map(|row| row[i]).sum();
            let p = (on + 1.0) / (rows as f64 + 2.0);
            (p / (1.0 - p)).ln()
        })
        .collect()
}

/// The inverse temperatures β₀ = 0 < β₁ < … < β_K = 1.
fn schedule(temperatures: usize) -> Vec<f64> {
    let k = temperatures.max(3);
    let first = (k / 10).max(1);
    let second = ((3 * k) / 10).max(1);
    let third = k - first - second;
    let mut betas = Vec::with_capacity(k + 1);
    betas.push(0.0);
    for s in 1..=first {
        betas.push(0.5 * s as f64 / first as f64);
    }
    for s in 1..=second {
        betas.push(0.5 + 0.4 * s as f64 / second as f64);
    }
    for s in 1..=third {
        betas.push(0.9 + 0.1 * s as f64 / third as f64);
    }
    if let Some(last) = betas.last_mut() {
        *last = 1.0;
    }
    betas
}

/// Estimates log Z of `rbm` by AIS from the base-rate model with visible biases `base_bias`.
pub fn ais_log_partition(rbm: &Rbm, base_bias: &[f64], settings: &AisSettings) -> AisEstimate {
    let (d, h) = (rbm.visible, rbm.hidden);
    let base_log_partition =
        base_bias.iter().map(|&b| softplus(b)).sum::<f64>() + h as f64 * std::f64::consts::LN_2;
    let betas = schedule(settings.temperatures);
    let runs = settings.runs.max(1);
    let weights = DMatrix::from_row_slice(d, h, &rbm.weights);
    let weights_t = weights.transpose();
    let groups: Vec<(usize, usize)> = (0..runs)
        .step_by(RUNS_PER_GROUP)
        .map(|start| (start, (start + RUNS_PER_GROUP).min(runs)))
        .collect();
    let log_weights: Vec<f64> = groups
        .par_iter()
        .enumerate()
        .flat_map_iter(|(group, &(start, end))| {
            let seed = settings
                .seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(group as u64 + 1);
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            anneal(
                rbm,
                base_bias,
                &weights,
                &weights_t,
                &betas,
                end - start,
                &mut rng,
            )
        })
        .collect();
    let max = log_weights
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let scaled: Vec<f64> = log_weights.iter().map(|w| (w - max).exp()).collect();
    let mean = scaled.iter().sum::<f64>() / runs as f64;
    let variance = if runs > 1 {
        scaled.iter().map(|w| (w - mean).powi(2)).sum::<f64>() / (runs - 1) as f64
    } else {
        f64::NAN
    };
    AisEstimate {
        log_partition: base_log_partition + max + mean.ln(),
        standard_error: variance.sqrt() / (mean * (runs as f64).sqrt()),
        base_log_partition,
        log_likelihood_per_row: f64::NAN,
        runs,
        temperatures: betas.len() - 1,
    }
}

/// `runs` annealing runs together (rows of the matrices); their log weights.
fn anneal(
    rbm: &Rbm,
    base_bias: &[f64],
    weights: &DMatrix<f64>,
    weights_t: &DMatrix<f64>,
    betas: &[f64],
    runs: usize,
    rng: &mut impl Rng,
) -> Vec<f64> {
    let (d, h) = (rbm.visible, rbm.hidden);
    // v₀ from the base model, exactly.
    let mut visible = DMatrix::from_fn(runs, d, |_, i| {
        f64::from(u8::from(rng.random::<f64>() < sigmoid(base_bias[i])))
    });
    let mut input = DMatrix::<f64>::zeros(runs, h);
    let mut hidden = DMatrix::<f64>::zeros(runs, h);
    let mut visible_input = DMatrix::<f64>::zeros(runs, d);
    let bias_gap: Vec<f64> = rbm
        .visible_bias
        .iter()
        .zip(base_bias)
        .map(|(b, a)| b - a)
        .collect();
    let mut log_weights = vec![0.0; runs];
    for k in 1..betas.len() {
        let (previous, beta) = (betas[k - 1], betas[k]);
        // The hidden inputs c + vW at β = 1 for the current states.
        input.gemm(1.0, &visible, weights, 0.0);
        for (j, c) in rbm.hidden_bias.iter().enumerate() {
            input.column_mut(j).add_scalar_mut(*c);
        }
        for (m, log_weight) in log_weights.iter_mut().enumerate() {
            let linear: f64 = (0..d).map(|i| visible[(m, i)] * bias_gap[i]).sum();
            let hidden_terms: f64 = (0..h)
                .map(|j| {
                    let a = input[(m, j)];
                    softplus(beta * a) - softplus(previous * a)
                })
                .sum();
            *log_weight += (beta - previous) * linear + hidden_terms;
        }
        if k + 1 == betas.len() {
            break;
        }
        // One sweep leaving p_β invariant: h | v, then v | h.
        for x in hidden.iter_mut().zip(input.iter()) {
            *x.0 = f64::from(u8::from(rng.random::<f64>() < sigmoid(beta * x.1)));
        }
        visible_input.gemm(1.0, &hidden, weights_t, 0.0);
        for i in 0..d {
            let bias = (1.0 - beta) * base_bias[i] + beta * rbm.visible_bias[i];
            for m in 0..runs {
                let p = sigmoid(bias + beta * visible_input[(m, i)]);
                visible[(m, i)] = f64::from(u8::from(rng.random::<f64>() < p));
            }
        }
    }
    log_weights
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_schedule_rises_from_zero_to_one() {
        for k in [3, 10, 1000, 1001] {
            let betas = super::schedule(k);
            assert_eq!(betas.len(), k + 1);
            assert_eq!(betas[0], 0.0);
            assert_eq!(betas[k], 1.0);
            assert!(betas.windows(2).all(|w| w[1] > w[0]));
        }
    }
}
