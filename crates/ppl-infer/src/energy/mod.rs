//! Energy models: the restricted Boltzmann machine (RBM) with binary visible and hidden units,
//! trained by persistent contrastive divergence, scored by its exact pseudo-log-likelihood and by
//! an annealed-importance-sampling estimate of its log-likelihood.
//!
//! The engine sees an [`RbmProblem`] (0/1 rows and the number of hidden units), never the syntax or
//! the IR: the model layer recognises the bilinear energy
//! `E(v, h) = −(v·W·h + v·b + h·c)` and builds the problem.
//!
//! * [`Rbm`] holds the parameters in `f64` and is the reference arithmetic: the block-Gibbs
//!   conditionals p(h=1|v) = σ(c + vW) and p(v=1|h) = σ(b + Wh), the free energy
//!   F(v) = −v·b − Σⱼ softplus(cⱼ + (vW)ⱼ), the exact pseudo-log-likelihood
//!   Σᵢ log p(vᵢ | v₋ᵢ) = Σᵢ log σ(F(v with bit i flipped) − F(v)) over all D bits, and Gibbs
//!   chains for sampling.
//! * [`fit_rbm`] trains by PCD-k (Tieleman 2008) on minibatches reshuffled every epoch, with
//!   momentum and weight decay as in Hinton's practical guide (2010); see `pcd.rs`.
//! * [`ais_log_partition`] estimates log Z by annealed importance sampling from the base-rate RBM
//!   (Salakhutdinov & Murray 2008); see `ais.rs`.

mod ais;
mod fast;
mod pcd;
#[cfg(test)]
mod tests;

pub use ais::{AisEstimate, AisSettings, ais_log_partition};
pub use pcd::{CdFit, CdSettings, fit_rbm};

use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, RngExt};

/// What an RBM is trained on: `rows` binary rows of `visible` values (row-major, each 0 or 1).
#[derive(Clone, Copy, Debug)]
pub struct RbmProblem<'a> {
    pub data: &'a [f64],
    pub rows: usize,
    pub visible: usize,
    pub hidden: usize,
}

/// Why an RBM cannot be trained or scored.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EnergyError {
    #[error("there are no rows to train on")]
    NoRows,
    #[error("the RBM needs at least one visible and one hidden unit")]
    NoUnits,
    #[error("the data has {got} values, not {rows} rows of {visible}")]
    WrongLength {
        got: usize,
        rows: usize,
        visible: usize,
    },
    #[error("row {row}, column {column} is {value}, not 0 or 1")]
    NotBinary {
        row: usize,
        column: usize,
        value: f64,
    },
    #[error(
        "training diverged at epoch {epoch}: a weight is no longer finite (lower the learning rate)"
    )]
    Diverged { epoch: usize },
}

impl RbmProblem<'_> {
    pub(crate) fn validate(&self) -> Result<(), EnergyError> {
        if self.rows == 0 {
            return Err(EnergyError::NoRows);
        }
        if self.visible == 0 || self.hidden == 0 {
            return Err(EnergyError::NoUnits);
        }
        if self.data.len() != self.rows.saturating_mul(self.visible) {
            return Err(EnergyError::WrongLength {
                got: self.data.len(),
                rows: self.rows,
                visible: self.visible,
            });
        }
        if let Some(position) = self.data.iter().position(|&x| x != 0.0 && x != 1.0) {
            return Err(EnergyError::NotBinary {
                row: position / self.visible,
                column: position % self.visible,
                value: self.data[position],
            });
        }
        Ok(())
    }
}

/// The parameters of a binary RBM with energy E(v, h) = −(v·W·h + v·b + h·c).
#[derive(Clone, Debug, PartialEq)]
pub struct Rbm {
    pub visible: usize,
    pub hidden: usize,
    /// `visible × hidden`, row-major: `weights[i * hidden + j]` couples visible `i` and hidden `j`.
    pub weights: Vec<f64>,
    pub visible_bias: Vec<f64>,
    pub hidden_bias: Vec<f64>,
}

/// log(1 + eˣ) without overflow.
pub fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// 1 / (1 + e⁻ˣ).
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

impl Rbm {
    /// All parameters zero: every configuration equally likely.
    pub fn zeros(visible: usize, hidden: usize) -> Rbm {
        Rbm {
            visible,
            hidden,
            weights: vec![0.0; visible * hidden],
            visible_bias: vec![0.0; visible],
            hidden_bias: vec![0.0; hidden],
        }
    }

    /// cⱼ + (vW)ⱼ for every hidden unit: the input each hidden unit receives from `v`.
    pub fn hidden_input(&self, v: &[f64]) -> Vec<f64> {
        let mut input = self.hidden_bias.clone();
        for (i, &vi) in v.iter().enumerate().take(self.visible) {
            if vi != 0.0 {
                let row = &self.weights[i * self.hidden..(i + 1) * self.hidden];
                for (a, w) in input.iter_mut().zip(row) {
                    *a += vi * w;
                }
            }
        }
        input
    }

    /// p(hⱼ = 1 | v) = σ(cⱼ + (vW)ⱼ).
    pub fn hidden_probabilities(&self, v: &[f64]) -> Vec<f64> {
        self.hidden_input(v).into_iter().map(sigmoid).collect()
    }

    /// p(vᵢ = 1 | h) = σ(bᵢ + (Wh)ᵢ).
    pub fn visible_probabilities(&self, h: &[f64]) -> Vec<f64> {
        (0..self.visible)
            .map(|i| {
                let row = &self.weights[i * self.hidden..(i + 1) * self.hidden];
                let input: f64 = row.iter().zip(h).map(|(w, h)| w * h).sum();
                sigmoid(self.visible_bias[i] + input)
            })
            .collect()
    }

    /// The energy of one joint configuration.
    pub fn energy(&self, v: &[f64], h: &[f64]) -> f64 {
        let input = self.hidden_input(v);
        let visible: f64 = v.iter().zip(&self.visible_bias).map(|(v, b)| v * b).sum();
        let hidden: f64 = h.iter().zip(&input).map(|(h, a)| h * a).sum();
        -(visible + hidden)
    }

    /// F(v) = −log Σₕ e^{−E(v,h)} = −v·b − Σⱼ softplus(cⱼ + (vW)ⱼ).
    pub fn free_energy(&self, v: &[f64]) -> f64 {
        let visible: f64 = v.iter().zip(&self.visible_bias).map(|(v, b)| v * b).sum();
        let hidden: f64 = self.hidden_input(v).into_iter().map(softplus).sum();
        -visible - hidden
    }

    /// Σᵢ log p(vᵢ | v₋ᵢ) for one row, over all its bits (not scikit-learn's one random bit).
    pub fn row_pseudo_log_likelihood(&self, v: &[f64]) -> f64 {
        let input = self.hidden_input(v);
        let base: f64 = input.iter().map(|&a| softplus(a)).sum();
        let mut total = 0.0;
        let rows = self.weights.chunks_exact(self.hidden.max(1));
        for ((vi, row), bias) in v.iter().zip(rows).zip(&self.visible_bias) {
            // Flipping bit i adds s·Wᵢ to the hidden inputs and s·bᵢ to v·b, s = ±1.
            let s = 1.0 - 2.0 * vi;
            let flipped: f64 = input
                .iter()
                .zip(row)
                .map(|(a, w)| softplus(a + s * w))
                .sum();
            // F(v⁽ⁱ⁾) − F(v) = −s·bᵢ − (flipped − base); log p(vᵢ|v₋ᵢ) = log σ of it.
            let gap = -s * bias - (flipped - base);
            total -= softplus(-gap);
        }
        total
    }

    /// The mean over rows of [`Rbm::row_pseudo_log_likelihood`] (`data` row-major, `visible`
    /// values a row).
    pub fn pseudo_log_likelihood(&self, data: &[f64]) -> f64 {
        let rows = data.len() / self.visible.max(1);
        if rows == 0 {
            return f64::NAN;
        }
        let total: f64 = data
            .chunks_exact(self.visible)
            .map(|row| self.row_pseudo_log_likelihood(row))
            .sum();
        total / rows as f64
    }

    /// The mean of −F(v) over rows: the log-likelihood per row up to −log Z.
    pub fn mean_negative_free_energy(&self, data: &[f64]) -> f64 {
        let rows = data.len() / self.visible.max(1);
        if rows == 0 {
            return f64::NAN;
        }
        let total: f64 = data
            .chunks_exact(self.visible)
            .map(|row| -self.free_energy(row))
            .sum();
        total / rows as f64
    }

    /// `chains` independent block-Gibbs chains from uniformly random visible states, each run
    /// `sweeps` sweeps (h | v, then v | h). Returns, per chain, p(v = 1 | h) at the last sweep:
    /// the visible probabilities given the chain's final hidden state (row-major,
    /// `chains × visible`), which shows a sample's picture without the salt-and-pepper of one
    /// Bernoulli draw.
    pub fn sample_visible_probabilities(
        &self,
        chains: usize,
        sweeps: usize,
        seed: u64,
    ) -> Vec<f64> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut out = Vec::with_capacity(chains * self.visible);
        for _ in 0..chains {
            let mut v: Vec<f64> = (0..self.visible)
                .map(|_| f64::from(u8::from(rng.random::<bool>())))
                .collect();
            let mut probabilities = vec![0.0; self.visible];
            for sweep in 0..sweeps.max(1) {
                let h = bernoulli(&self.hidden_probabilities(&v), &mut rng);
                probabilities = self.visible_probabilities(&h);
                if sweep + 1 < sweeps {
                    v = bernoulli(&probabilities, &mut rng);
                }
            }
            out.extend(probabilities);
        }
        out
    }
}

fn bernoulli(probabilities: &[f64], rng: &mut impl Rng) -> Vec<f64> {
    probabilities
        .iter()
        .map(|&p| f64::from(u8::from(rng.random::<f64>() < p)))
        .collect()
}
