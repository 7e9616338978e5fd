//! Euclidean metrics: the Gaussian momentum distribution `p ~ N(0, M)` and the kinetic energy
//! `½ pᵀ M⁻¹ p`. Following Stan, a metric is stored as the *inverse* mass matrix `M⁻¹`, which
//! warmup estimates as the posterior (co)variance.

use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

use crate::mcmc::adapt::{WelfordCovariance, WelfordVariance};

/// Why an adapted metric was rejected.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum MetricError {
    #[error("the estimated inverse metric has a non-finite or non-positive entry")]
    NotPositiveFinite,
    #[error("the estimated dense inverse metric is not positive definite")]
    NotPositiveDefinite,
}

/// The inverse metric a chain ended warmup with, for reporting (CmdStan writes it into the CSV
/// header) and for restarting a run.
#[derive(Clone, Debug, PartialEq)]
pub enum AdaptedMetric {
    /// The diagonal of `M⁻¹`.
    Diagonal(Vec<f64>),
    /// `M⁻¹`, `dim × dim`, row-major.
    Dense { dim: usize, inverse_mass: Vec<f64> },
}

/// A Euclidean metric; generic so that the leapfrog loop is monomorphised.
pub trait Metric: Clone + Send {
    /// Accumulates warmup positions into the estimate the metric is adapted from.
    type Estimator: MetricEstimator;

    fn dim(&self) -> usize;
    /// Writes `M⁻¹ p` into `velocity`.
    fn velocity(&self, momentum: &[f64], velocity: &mut [f64]);
    /// Draws `p ~ N(0, M)` into `momentum`.
    fn sample_momentum<R: Rng + ?Sized>(&self, rng: &mut R, momentum: &mut [f64]);
    /// A fresh estimator for this metric's shape.
    fn estimator(&self) -> Self::Estimator;
    /// Replaces `M⁻¹` by the estimator's regularised estimate (Stan's shrinkage towards a small
    /// multiple of the identity). On error the metric is left unchanged.
    fn adapt_from(&mut self, estimator: &Self::Estimator) -> Result<(), MetricError>;
    fn to_adapted(&self) -> AdaptedMetric;
}

/// Collects warmup positions within one adaptation window.
pub trait MetricEstimator: Send {
    fn add_sample(&mut self, position: &[f64]);
    fn num_samples(&self) -> usize;
    fn restart(&mut self);
}

/// `M⁻¹ = diag(inverse_mass)`.
#[derive(Clone, Debug, PartialEq)]
pub struct DiagonalMetric {
    inverse_mass: Vec<f64>,
    /// `1 / sqrt(inverse_mass)`: the momentum's standard deviations.
    momentum_scale: Vec<f64>,
}

impl DiagonalMetric {
    pub fn identity(dim: usize) -> Self {
        DiagonalMetric {
            inverse_mass: vec![1.0; dim],
            momentum_scale: vec![1.0; dim],
        }
    }

    /// A metric with the given diagonal of `M⁻¹`; every entry must be positive and finite.
    pub fn from_inverse_mass(inverse_mass: Vec<f64>) -> Result<Self, MetricError> {
        if inverse_mass.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(MetricError::NotPositiveFinite);
        }
        let momentum_scale = inverse_mass.iter().map(|v| 1.0 / v.sqrt()).collect();
        Ok(DiagonalMetric {
            inverse_mass,
            momentum_scale,
        })
    }

    pub fn inverse_mass(&self) -> &[f64] {
        &self.inverse_mass
    }
}

impl Metric for DiagonalMetric {
    type Estimator = WelfordVariance;

    fn dim(&self) -> usize {
        self.inverse_mass.len()
    }

    #[inline]
    fn velocity(&self, momentum: &[f64], velocity: &mut [f64]) {
        for ((v, p), m) in velocity.iter_mut().zip(momentum).zip(&self.inverse_mass) {
            *v = p * m;
        }
    }

    fn sample_momentum<R: Rng + ?Sized>(&self, rng: &mut R, momentum: &mut [f64]) {
        for (p, scale) in momentum.iter_mut().zip(&self.momentum_scale) {
            let z: f64 = rng.sample(StandardNormal);
            *p = z * scale;
        }
    }

    fn estimator(&self) -> WelfordVariance {
        WelfordVariance::new(self.dim())
    }

    fn adapt_from(&mut self, estimator: &WelfordVariance) -> Result<(), MetricError> {
        *self = DiagonalMetric::from_inverse_mass(estimator.regularized_variance())?;
        Ok(())
    }

    fn to_adapted(&self) -> AdaptedMetric {
        AdaptedMetric::Diagonal(self.inverse_mass.clone())
    }
}

/// A full `M⁻¹`, with its Cholesky factor for drawing momenta.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseMetric {
    dim: usize,
    /// `M⁻¹`, row-major.
    inverse_mass: Vec<f64>,
    /// Lower-triangular `L` with `L Lᵀ = M⁻¹`, row-major.
    cholesky_lower: Vec<f64>,
}

impl DenseMetric {
    pub fn identity(dim: usize) -> Self {
        let mut identity = vec![0.0; dim * dim];
        for i in 0..dim {
            identity[i * dim + i] = 1.0;
        }
        DenseMetric {
            dim,
            inverse_mass: identity.clone(),
            cholesky_lower: identity,
        }
    }

    /// A metric with the given `M⁻¹` (row-major, symmetric positive definite).
    pub fn from_inverse_mass(dim: usize, inverse_mass: Vec<f64>) -> Result<Self, MetricError> {
        if inverse_mass.len() != dim * dim || inverse_mass.iter().any(|v| !v.is_finite()) {
            return Err(MetricError::NotPositiveFinite);
        }
        let matrix = nalgebra::DMatrix::from_row_slice(dim, dim, &inverse_mass);
        let cholesky = matrix.cholesky().ok_or(MetricError::NotPositiveDefinite)?;
        let lower = cholesky.l();
        let mut cholesky_lower = vec![0.0; dim * dim];
        for i in 0..dim {
            for j in 0..=i {
                cholesky_lower[i * dim + j] = lower[(i, j)];
            }
        }
        Ok(DenseMetric {
            dim,
            inverse_mass,
            cholesky_lower,
        })
    }
}

impl Metric for DenseMetric {
    type Estimator = WelfordCovariance;

    fn dim(&self) -> usize {
        self.dim
    }

    #[inline]
    fn velocity(&self, momentum: &[f64], velocity: &mut [f64]) {
        for (v, row) in velocity
            .iter_mut()
            .zip(self.inverse_mass.chunks_exact(self.dim))
        {
            *v = super::dot(row, momentum);
        }
    }

    fn sample_momentum<R: Rng + ?Sized>(&self, rng: &mut R, momentum: &mut [f64]) {
        for p in momentum.iter_mut() {
            *p = rng.sample(StandardNormal);
        }
        // p = L⁻ᵀ z has covariance (L Lᵀ)⁻¹ = M. Back substitution on Lᵀ, in place: entry i
        // needs only the entries after it, which are already final.
        let n = self.dim;
        for i in (0..n).rev() {
            let later: f64 = (i + 1..n)
                .map(|j| self.cholesky_lower[j * n + i] * momentum[j])
                .sum();
            momentum[i] = (momentum[i] - later) / self.cholesky_lower[i * n + i];
        }
    }

    fn estimator(&self) -> WelfordCovariance {
        WelfordCovariance::new(self.dim)
    }

    fn adapt_from(&mut self, estimator: &WelfordCovariance) -> Result<(), MetricError> {
        *self = DenseMetric::from_inverse_mass(self.dim, estimator.regularized_covariance())?;
        Ok(())
    }

    fn to_adapted(&self) -> AdaptedMetric {
        AdaptedMetric::Dense {
            dim: self.dim,
            inverse_mass: self.inverse_mass.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn dense_momentum_has_covariance_equal_to_the_mass_matrix() {
        // M⁻¹ = [[2, 0.6], [0.6, 0.5]]  ⇒  M = [[0.6098, -0.7317], [-0.7317, 2.4390]].
        let metric = DenseMetric::from_inverse_mass(2, vec![2.0, 0.6, 0.6, 0.5]).unwrap();
        let determinant = 2.0 * 0.5 - 0.6 * 0.6;
        let mass = [0.5 / determinant, -0.6 / determinant, 2.0 / determinant];
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(3);
        let draws = 200_000;
        let (mut s00, mut s01, mut s11) = (0.0, 0.0, 0.0);
        let mut p = [0.0; 2];
        for _ in 0..draws {
            metric.sample_momentum(&mut rng, &mut p);
            s00 += p[0] * p[0];
            s01 += p[0] * p[1];
            s11 += p[1] * p[1];
        }
        let n = draws as f64;
        // Standard error of a sample second moment of a Gaussian: sqrt((σᵢᵢσⱼⱼ + σᵢⱼ²) / n).
        let se = |sii: f64, sjj: f64, sij: f64| ((sii * sjj + sij * sij) / n).sqrt();
        assert!((s00 / n - mass[0]).abs() < 5.0 * se(mass[0], mass[0], mass[0]));
        assert!((s01 / n - mass[1]).abs() < 5.0 * se(mass[0], mass[2], mass[1]));
        assert!((s11 / n - mass[2]).abs() < 5.0 * se(mass[2], mass[2], mass[2]));
        let mut velocity = [0.0; 2];
        metric.velocity(&[1.0, 2.0], &mut velocity);
        assert_eq!(velocity, [2.0 + 1.2, 0.6 + 1.0]);
    }

    #[test]
    fn invalid_metrics_are_rejected() {
        assert!(DiagonalMetric::from_inverse_mass(vec![1.0, 0.0]).is_err());
        assert!(DiagonalMetric::from_inverse_mass(vec![1.0, f64::NAN]).is_err());
        assert_eq!(
            DenseMetric::from_inverse_mass(2, vec![1.0, 2.0, 2.0, 1.0]),
            Err(MetricError::NotPositiveDefinite)
        );
    }
}
