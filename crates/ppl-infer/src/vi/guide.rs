//! The Gaussian guide q(z) = N(mean, L Lᵀ) on the unconstrained space, its analytic entropy, and
//! the reparameterised Monte-Carlo estimate of the ELBO and its gradient.
//!
//! Parameters live in one flat vector, so any [`Optimiser`](super::Optimiser) can move them:
//! mean-field is `[mean (d), log sd (d)]`; full-rank is `[mean (d), L row by row (d(d+1)/2)]` with
//! the diagonal of `L` stored as its logarithm, which keeps it positive and `L` a valid Cholesky
//! factor.
//!
//! Coordinates marked as points ([`GaussianGuide::with_points`]) have no spread: their draw is the
//! mean, they add nothing to the entropy, and only their mean moves. That is variational EM's
//! guide (LANGUAGE.md §6 rule 3): the params are point estimates that maximise the same ELBO as
//! the mean-field Gaussian over the latents.

use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

use crate::density::{LogDensity, LogDensityError};

/// The covariance structure of the Gaussian guide.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GuideFamily {
    /// Independent coordinates: a mean and a log standard deviation each (Kucukelbir et al.'s
    /// mean-field ADVI).
    #[default]
    MeanField,
    /// A full covariance through its Cholesky factor (full-rank ADVI).
    FullRank,
}

/// A Gaussian guide over `dim` unconstrained coordinates.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianGuide {
    pub family: GuideFamily,
    pub dim: usize,
    /// The flat parameter vector described in the module docs.
    pub parameters: Vec<f64>,
    /// Per coordinate, whether it is a point (zero spread); empty when none is.
    pub points: Vec<bool>,
}

/// `log(2π)`.
const LOG_TWO_PI: f64 = 1.8378770664093453;

impl GaussianGuide {
    /// The guide N(mean, I): every log scale zero.
    pub fn standard(family: GuideFamily, mean: &[f64]) -> Self {
        let dim = mean.len();
        let mut parameters = mean.to_vec();
        match family {
            GuideFamily::MeanField => parameters.extend(std::iter::repeat_n(0.0, dim)),
            GuideFamily::FullRank => {
                parameters.extend(std::iter::repeat_n(0.0, dim * (dim + 1) / 2))
            }
        }
        GaussianGuide {
            family,
            dim,
            parameters,
            points: Vec::new(),
        }
    }

    /// The same guide with the coordinates where `points` is true held at their mean (a
    /// point estimate inside the ELBO). Only a mean-field guide has independent coordinates to
    /// hold: a full-rank guide is returned unchanged.
    pub fn with_points(mut self, points: &[bool]) -> Self {
        if self.family == GuideFamily::MeanField && points.len() == self.dim {
            self.points = points.to_vec();
        }
        self
    }

    /// Whether coordinate `index` is a point.
    pub fn is_point(&self, index: usize) -> bool {
        self.points.get(index).copied().unwrap_or(false)
    }

    /// The number of coordinates with a spread.
    fn spread_dim(&self) -> usize {
        (0..self.dim).filter(|&i| !self.is_point(i)).count()
    }

    pub fn mean(&self) -> &[f64] {
        &self.parameters[..self.dim]
    }

    /// Offset of `L[row][column]` (column ≤ row) in the full-rank parameter vector.
    fn factor_index(&self, row: usize, column: usize) -> usize {
        self.dim + row * (row + 1) / 2 + column
    }

    /// The Cholesky factor `L` of the covariance, row-major `dim × dim` (diagonal for mean-field).
    pub fn cholesky_factor(&self) -> Vec<f64> {
        let dim = self.dim;
        let mut factor = vec![0.0; dim * dim];
        for row in 0..dim {
            match self.family {
                GuideFamily::MeanField if self.is_point(row) => {}
                GuideFamily::MeanField => {
                    factor[row * dim + row] = self.parameters[dim + row].exp();
                }
                GuideFamily::FullRank => {
                    for column in 0..row {
                        factor[row * dim + column] =
                            self.parameters[self.factor_index(row, column)];
                    }
                    factor[row * dim + row] = self.parameters[self.factor_index(row, row)].exp();
                }
            }
        }
        factor
    }

    /// The covariance `L Lᵀ`, row-major.
    pub fn covariance(&self) -> Vec<f64> {
        let dim = self.dim;
        let factor = self.cholesky_factor();
        let mut covariance = vec![0.0; dim * dim];
        for i in 0..dim {
            for j in 0..dim {
                covariance[i * dim + j] = (0..=i.min(j))
                    .map(|k| factor[i * dim + k] * factor[j * dim + k])
                    .sum();
            }
        }
        covariance
    }

    /// The sum of the log diagonal of `L`: `log det L`.
    fn log_determinant(&self) -> f64 {
        (0..self.dim)
            .filter(|&i| !self.is_point(i))
            .map(|i| match self.family {
                GuideFamily::MeanField => self.parameters[self.dim + i],
                GuideFamily::FullRank => self.parameters[self.factor_index(i, i)],
            })
            .sum()
    }

    /// The entropy of q, `d/2 · (1 + log 2π) + log det L`.
    pub fn entropy(&self) -> f64 {
        0.5 * self.spread_dim() as f64 * (1.0 + LOG_TWO_PI) + self.log_determinant()
    }

    /// `z = mean + L · noise`.
    pub fn transform(&self, noise: &[f64], point: &mut [f64]) {
        let dim = self.dim;
        for row in 0..dim {
            point[row] = self.parameters[row]
                + match self.family {
                    GuideFamily::MeanField => self.parameters[dim + row].exp() * noise[row],
                    GuideFamily::FullRank => {
                        let mut sum =
                            self.parameters[self.factor_index(row, row)].exp() * noise[row];
                        for (column, n) in noise.iter().enumerate().take(row) {
                            sum += self.parameters[self.factor_index(row, column)] * n;
                        }
                        sum
                    }
                };
        }
    }

    /// Draws `z ~ q` into `point`, returning `log q(z)`.
    pub fn sample<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        noise: &mut [f64],
        point: &mut [f64],
    ) -> f64 {
        for (index, n) in noise.iter_mut().enumerate() {
            // A point's noise is drawn all the same, so the stream of the others does not
            // depend on which coordinates are points.
            let value: f64 = rng.sample(StandardNormal);
            *n = if self.is_point(index) { 0.0 } else { value };
        }
        self.transform(noise, point);
        let squared: f64 = noise.iter().map(|n| n * n).sum();
        -0.5 * (self.spread_dim() as f64 * LOG_TWO_PI + squared) - self.log_determinant()
    }

    /// A Monte-Carlo estimate of the ELBO, `E_q[log p(z)] + H[q]`, from `samples` draws. A draw
    /// where the log density is not finite makes the estimate `-∞` (the guide puts mass where the
    /// target has none).
    pub fn estimate_elbo<D: LogDensity, R: Rng + ?Sized>(
        &self,
        density: &mut D,
        rng: &mut R,
        samples: usize,
    ) -> f64 {
        let mut noise = vec![0.0; self.dim];
        let mut point = vec![0.0; self.dim];
        let mut total = 0.0;
        for _ in 0..samples {
            self.sample(rng, &mut noise, &mut point);
            match density.log_density(&point) {
                Ok(value) if value.is_finite() => total += value,
                _ => return f64::NEG_INFINITY,
            }
        }
        total / samples.max(1) as f64 + self.entropy()
    }

    /// One reparameterised estimate of the ELBO's gradient with respect to the parameters, from
    /// `samples` draws, written into `gradient` (length of `parameters`); returns the matching
    /// ELBO estimate. The density is an argument of each call, so a caller may pass a different
    /// (e.g. minibatch, likelihood-scaled) unbiased log density at every step.
    pub fn elbo_gradient<D: LogDensity, R: Rng + ?Sized>(
        &self,
        density: &mut D,
        rng: &mut R,
        samples: usize,
        gradient: &mut [f64],
    ) -> Result<f64, LogDensityError> {
        let dim = self.dim;
        let samples = samples.max(1);
        let mut noise = vec![0.0; dim];
        let mut point = vec![0.0; dim];
        let mut density_gradient = vec![0.0; dim];
        gradient.iter_mut().for_each(|g| *g = 0.0);
        let mut total = 0.0;
        let weight = 1.0 / samples as f64;
        for _ in 0..samples {
            self.sample(rng, &mut noise, &mut point);
            let value = density.log_density_and_gradient(&point, &mut density_gradient)?;
            if !value.is_finite() || density_gradient.iter().any(|g| !g.is_finite()) {
                return Err(LogDensityError::NotFinite {
                    term: None,
                    term_index: None,
                });
            }
            total += value;
            // dz_i/dmean_i = 1; dz_i/dL_ij = noise_j; through the log diagonal, L_ii · noise_i.
            for i in 0..dim {
                let g = density_gradient[i] * weight;
                gradient[i] += g;
                match self.family {
                    GuideFamily::MeanField => {
                        gradient[dim + i] += g * noise[i] * self.parameters[dim + i].exp();
                    }
                    GuideFamily::FullRank => {
                        for (j, n) in noise.iter().enumerate().take(i) {
                            gradient[self.factor_index(i, j)] += g * n;
                        }
                        let diagonal = self.factor_index(i, i);
                        gradient[diagonal] += g * noise[i] * self.parameters[diagonal].exp();
                    }
                }
            }
        }
        // The entropy's gradient: 1 for each log-diagonal entry.
        for i in (0..dim).filter(|&i| !self.is_point(i)) {
            let index = match self.family {
                GuideFamily::MeanField => dim + i,
                GuideFamily::FullRank => self.factor_index(i, i),
            };
            gradient[index] += 1.0;
        }
        Ok(total * weight + self.entropy())
    }
}
