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
    /// `M⁻¹ = diag(scale) (I + Σⱼ (valuesⱼ − 1) vⱼ vⱼᵀ) diag(scale)`: a diagonal with a
    /// correction in a few orthonormal directions `vⱼ` (row `j` of `vectors`, `dim` long).
    LowRank {
        scale: Vec<f64>,
        values: Vec<f64>,
        vectors: Vec<f64>,
    },
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
    /// The metric as a [`LowRankMetric`], which the gradient-informed warmup can replace.
    fn as_low_rank_mut(&mut self) -> Option<&mut LowRankMetric> {
        None
    }
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

/// A diagonal metric with a low-rank correction (the form of nutpie's low-rank modified mass
/// matrix, Seyboldt et al. 2024): `M⁻¹ = D (I + V (Λ − I) Vᵀ) D` with `D = diag(scale)`, `V`
/// orthonormal columns and `Λ` their variances in the scaled space. With no directions it is the
/// diagonal `scale²`; with `dim` directions it is a dense metric. Applying it costs
/// `O(dim · rank)`.
#[derive(Clone, Debug)]
pub struct LowRankMetric {
    scale: Vec<f64>,
    /// Row `j` is the direction `vⱼ` (unit length, orthogonal to the others).
    vectors: Vec<f64>,
    values: Vec<f64>,
    /// One number per direction, reused by every product (no allocation per leapfrog).
    projections: std::cell::RefCell<Vec<f64>>,
}

impl LowRankMetric {
    pub fn identity(dim: usize) -> Self {
        LowRankMetric {
            scale: vec![1.0; dim],
            vectors: Vec::new(),
            values: Vec::new(),
            projections: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// A metric from its parts; `vectors` holds `values.len()` rows of `scale.len()` entries.
    pub fn from_parts(
        scale: Vec<f64>,
        values: Vec<f64>,
        vectors: Vec<f64>,
    ) -> Result<Self, MetricError> {
        let finite_positive = |v: &f64| v.is_finite() && *v > 0.0;
        if !scale.iter().all(finite_positive)
            || !values.iter().all(finite_positive)
            || vectors.len() != values.len() * scale.len()
            || !vectors.iter().all(|v| v.is_finite())
        {
            return Err(MetricError::NotPositiveFinite);
        }
        let rank = values.len();
        Ok(LowRankMetric {
            scale,
            vectors,
            values,
            projections: std::cell::RefCell::new(vec![0.0; rank]),
        })
    }

    /// The diagonal `1/sqrt|g|` of a gradient (nutpie's first guess before any draw): a
    /// coordinate whose gradient is large is taken to be narrow. Zero or non-finite gradients
    /// keep the scale 1.
    pub fn from_gradient(gradient: &[f64]) -> Self {
        let scale = gradient
            .iter()
            .map(|g| {
                let magnitude = g.abs();
                if magnitude.is_finite() && magnitude > 0.0 {
                    magnitude.sqrt().recip().clamp(1e-10, 1e10)
                } else {
                    1.0
                }
            })
            .collect();
        LowRankMetric {
            scale,
            ..LowRankMetric::identity(0)
        }
    }

    pub fn scale(&self) -> &[f64] {
        &self.scale
    }

    pub fn values(&self) -> &[f64] {
        &self.values
    }

    pub fn rank(&self) -> usize {
        self.values.len()
    }

    /// Row `j` of `V`.
    fn direction(&self, j: usize) -> &[f64] {
        let dim = self.scale.len();
        &self.vectors[j * dim..(j + 1) * dim]
    }

    /// `x ← x + V diag(factor(λ)) Vᵀ x`, in place.
    fn correct_in_place(&self, x: &mut [f64], factor: impl Fn(f64) -> f64) {
        if self.values.is_empty() {
            return;
        }
        let mut projections = self.projections.borrow_mut();
        projections.resize(self.values.len(), 0.0);
        for (j, projection) in projections.iter_mut().enumerate() {
            *projection = factor(self.values[j]) * super::dot(self.direction(j), x);
        }
        for (j, projection) in projections.iter().enumerate() {
            for (entry, v) in x.iter_mut().zip(self.direction(j)) {
                *entry += projection * v;
            }
        }
    }

    /// The diagonal of `M⁻¹` (the marginal variances the metric assumes).
    pub fn inverse_mass_diagonal(&self) -> Vec<f64> {
        self.diagonal_with(|lambda| lambda - 1.0, |s| s * s)
    }

    /// The diagonal of `M` (the conditional precisions the metric assumes).
    pub fn mass_diagonal(&self) -> Vec<f64> {
        self.diagonal_with(|lambda| lambda.recip() - 1.0, |s| (s * s).recip())
    }

    fn diagonal_with(&self, factor: impl Fn(f64) -> f64, outer: impl Fn(f64) -> f64) -> Vec<f64> {
        (0..self.scale.len())
            .map(|i| {
                let inner: f64 = (0..self.values.len())
                    .map(|j| factor(self.values[j]) * self.direction(j)[i].powi(2))
                    .sum();
                outer(self.scale[i]) * (1.0 + inner)
            })
            .collect()
    }
}

impl Metric for LowRankMetric {
    type Estimator = WelfordVariance;

    fn dim(&self) -> usize {
        self.scale.len()
    }

    #[inline]
    fn velocity(&self, momentum: &[f64], velocity: &mut [f64]) {
        for ((v, p), s) in velocity.iter_mut().zip(momentum).zip(&self.scale) {
            *v = p * s;
        }
        self.correct_in_place(velocity, |lambda| lambda - 1.0);
        for (v, s) in velocity.iter_mut().zip(&self.scale) {
            *v *= s;
        }
    }

    fn sample_momentum<R: Rng + ?Sized>(&self, rng: &mut R, momentum: &mut [f64]) {
        // p = D⁻¹ (I + V (Λ^{-1/2} − I) Vᵀ) z has covariance D⁻¹ (I + V (Λ⁻¹ − I) Vᵀ) D⁻¹ = M.
        for p in momentum.iter_mut() {
            *p = rng.sample(StandardNormal);
        }
        self.correct_in_place(momentum, |lambda| lambda.sqrt().recip() - 1.0);
        for (p, s) in momentum.iter_mut().zip(&self.scale) {
            *p /= s;
        }
    }

    fn estimator(&self) -> WelfordVariance {
        WelfordVariance::new(self.dim())
    }

    /// From a window of positions alone (Stan's way) only the diagonal can be estimated.
    fn adapt_from(&mut self, estimator: &WelfordVariance) -> Result<(), MetricError> {
        let scale = estimator
            .regularized_variance()
            .iter()
            .map(|v| v.sqrt())
            .collect();
        *self = LowRankMetric::from_parts(scale, Vec::new(), Vec::new())?;
        Ok(())
    }

    fn as_low_rank_mut(&mut self) -> Option<&mut LowRankMetric> {
        Some(self)
    }

    fn to_adapted(&self) -> AdaptedMetric {
        if self.values.is_empty() {
            AdaptedMetric::Diagonal(self.scale.iter().map(|s| s * s).collect())
        } else {
            AdaptedMetric::LowRank {
                scale: self.scale.clone(),
                values: self.values.clone(),
                vectors: self.vectors.clone(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn low_rank_metric_agrees_with_its_dense_matrix() {
        // scale (2, 0.5, 1), one direction (1, 1, 0)/√2 with λ = 9.
        let r = std::f64::consts::FRAC_1_SQRT_2;
        let metric =
            LowRankMetric::from_parts(vec![2.0, 0.5, 1.0], vec![9.0], vec![r, r, 0.0]).unwrap();
        // M⁻¹ = D (I + 8 v vᵀ) D, v vᵀ = [[.5,.5,0],[.5,.5,0],[0,0,0]].
        let inner = [[5.0, 4.0, 0.0], [4.0, 5.0, 0.0], [0.0, 0.0, 1.0]];
        let d = [2.0, 0.5, 1.0];
        let inverse_mass: Vec<f64> = (0..3)
            .flat_map(|i| (0..3).map(move |j| d[i] * inner[i][j] * d[j]))
            .collect();
        let p = [0.3, -1.2, 0.7];
        let mut velocity = [0.0; 3];
        metric.velocity(&p, &mut velocity);
        for i in 0..3 {
            let expected: f64 = (0..3).map(|j| inverse_mass[i * 3 + j] * p[j]).sum();
            assert!((velocity[i] - expected).abs() < 1e-12);
            assert!((metric.inverse_mass_diagonal()[i] - inverse_mass[i * 4]).abs() < 1e-12);
        }
        // The momentum's covariance is M = (M⁻¹)⁻¹: check Cov(p) M⁻¹ ≈ I by sampling.
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(5);
        let draws = 200_000;
        let mut second = [[0.0; 3]; 3];
        let mut p = [0.0; 3];
        for _ in 0..draws {
            metric.sample_momentum(&mut rng, &mut p);
            for i in 0..3 {
                for j in 0..3 {
                    second[i][j] += p[i] * p[j] / draws as f64;
                }
            }
        }
        for (i, row) in second.iter().enumerate() {
            for j in 0..3 {
                let product: f64 = (0..3).map(|k| row[k] * inverse_mass[k * 3 + j]).sum();
                let identity = if i == j { 1.0 } else { 0.0 };
                // Each entry is a sum of three second moments, each with a relative standard
                // error of about sqrt(2 / 200 000) = 0.3%.
                assert!((product - identity).abs() < 0.03, "{i},{j}: {product}");
            }
        }
        // The mass diagonal is that of the inverse.
        let dense = nalgebra::DMatrix::from_row_slice(3, 3, &inverse_mass);
        let mass = dense.try_inverse().unwrap();
        for (i, m) in metric.mass_diagonal().iter().enumerate() {
            assert!((m - mass[(i, i)]).abs() < 1e-10);
        }
    }

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
