//! The Laplace approximation: a Gaussian N(mode, (−H)⁻¹) at the mode of the log density on the
//! unconstrained space, with `H` its Hessian there (Tierney and Kadane 1986; Stan's `laplace`
//! method). The mode comes from the L-BFGS engine ([`crate::optimize`]); the Hessian from the
//! density through [`HessianDensity`], whose default is central finite differences of the gradient
//! and which a model can override with an exact (forward-over-reverse) Hessian. Draws come back
//! unconstrained, with `log p − log q` for each and the PSIS k̂ of those ratios, so the caller can
//! push them through the constraints, summarise them like a sampler's, and say when the Gaussian
//! is a poor fit.
//!
//! The log density given should include the log-Jacobians of the constraining transforms: the
//! approximation is of the density of the unconstrained parameters.

use std::sync::atomic::{AtomicBool, Ordering};

use nalgebra::{DMatrix, DVector};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

use crate::density::{LogDensity, LogDensityError};
use crate::optimize::{
    DEFAULT_HESSIAN_STEP, OptimizeError, OptimizeResult, OptimizeSettings, RandomStarts,
    hessian_by_differences, maximize_from_random_starts_until, maximize_until,
};
use crate::psis::psis;

/// A log density that can also give its Hessian. Implement it with an empty body to take the
/// finite-difference default, or override [`HessianDensity::hessian`] with an exact one.
pub trait HessianDensity: LogDensity {
    /// The Hessian of the log density at `position`, row-major `dim × dim`.
    fn hessian(&mut self, position: &[f64]) -> Result<Vec<f64>, OptimizeError> {
        hessian_by_differences(self, position, DEFAULT_HESSIAN_STEP)
    }
}

/// Gives any [`LogDensity`] the finite-difference Hessian.
#[derive(Clone, Debug)]
pub struct FiniteDifferenceHessian<D>(pub D);

impl<D: LogDensity> LogDensity for FiniteDifferenceHessian<D> {
    fn dim(&self) -> usize {
        self.0.dim()
    }

    fn log_density_and_gradient(
        &mut self,
        position: &[f64],
        gradient: &mut [f64],
    ) -> Result<f64, LogDensityError> {
        self.0.log_density_and_gradient(position, gradient)
    }

    fn log_density(&mut self, position: &[f64]) -> Result<f64, LogDensityError> {
        self.0.log_density(position)
    }
}

impl<D: LogDensity> HessianDensity for FiniteDifferenceHessian<D> {}

/// Configuration of [`laplace`].
#[derive(Clone, Debug, PartialEq)]
pub struct LaplaceSettings {
    /// The L-BFGS settings for finding the mode. The default is Stan's optimiser with the
    /// relative tests tightened (`tol_rel_obj` 10, `tol_rel_grad` 100 epsilons): the Hessian and
    /// the centre of the draws need the mode itself, not a point where the log density has
    /// stopped improving to six digits.
    pub optimize: OptimizeSettings,
    /// Where the optimiser starts; `None` uses `random_starts`.
    pub initial: Option<Vec<f64>>,
    /// Random starts when `initial` is `None` (the best converged run is kept).
    pub random_starts: RandomStarts,
    /// Draws from the approximation (Stan's `draws`, 1000).
    pub num_draws: usize,
    /// Seeds the draws (the random starts have their own seed).
    pub seed: u64,
}

impl Default for LaplaceSettings {
    fn default() -> Self {
        LaplaceSettings {
            optimize: OptimizeSettings {
                tol_rel_obj: 10.0,
                tol_rel_grad: 100.0,
                ..OptimizeSettings::default()
            },
            initial: None,
            random_starts: RandomStarts::default(),
            num_draws: 1000,
            seed: 0,
        }
    }
}

/// The outcome of [`laplace`].
#[derive(Clone, Debug, PartialEq)]
pub struct LaplaceFit {
    /// The optimiser's run; its `position` is the mode and `converged` says whether it was found.
    pub optimization: OptimizeResult,
    /// The Hessian of the log density at the mode, row-major.
    pub hessian: Vec<f64>,
    /// `(−H)⁻¹`, row-major: the approximation's covariance.
    pub covariance: Vec<f64>,
    /// Draws, unconstrained, row-major `num_draws × dim`.
    pub draws: Vec<f64>,
    /// `log p − log q` per draw (`-∞` where the density is not finite).
    pub log_ratios: Vec<f64>,
    /// The PSIS k̂ of the ratios (above 0.7: the Gaussian is a poor fit); `NaN` if PSIS could not
    /// run.
    pub pareto_k: f64,
    /// Whether a stop request ended the drawing early (`draws` holds those made before it).
    pub interrupted: bool,
}

impl LaplaceFit {
    pub fn mode(&self) -> &[f64] {
        &self.optimization.position
    }

    /// Draw `index` (unconstrained).
    pub fn draw(&self, index: usize) -> &[f64] {
        let dim = self.optimization.position.len();
        &self.draws[index * dim..(index + 1) * dim]
    }
}

/// Why a Laplace approximation could not be built.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LaplaceError {
    #[error("finding the mode: {0}")]
    Optimize(OptimizeError),
    #[error("computing the Hessian at the mode: {0}")]
    Hessian(OptimizeError),
    #[error("the Hessian at the mode has {got} entries, expected {expected}")]
    HessianSize { got: usize, expected: usize },
    #[error(
        "the negative Hessian at the mode is not positive definite (smallest eigenvalue \
         {smallest_eigenvalue:e}): the mode is flat or a saddle in some direction, so there is \
         no Gaussian approximation"
    )]
    NotPositiveDefinite { smallest_eigenvalue: f64 },
    /// A stop request came while the mode was being searched for: there is no approximation,
    /// only the point the optimiser had reached.
    #[error("interrupted while finding the mode")]
    Interrupted { optimization: Box<OptimizeResult> },
}

/// `log(2π)`.
const LOG_TWO_PI: f64 = 1.8378770664093453;

/// Finds the mode, the Hessian there, and draws from N(mode, (−H)⁻¹).
pub fn laplace<D: HessianDensity>(
    density: &mut D,
    settings: &LaplaceSettings,
) -> Result<LaplaceFit, LaplaceError> {
    laplace_until(density, settings, None)
}

/// [`laplace`] with a stop flag, checked between optimiser iterations and between draws: a stop
/// during the mode search is [`LaplaceError::Interrupted`]; during the draws, the fit keeps the
/// draws made so far and says `interrupted`.
pub fn laplace_until<D: HessianDensity>(
    density: &mut D,
    settings: &LaplaceSettings,
    stop: Option<&AtomicBool>,
) -> Result<LaplaceFit, LaplaceError> {
    let stopped = || stop.is_some_and(|stop| stop.load(Ordering::Relaxed));
    let optimization = match &settings.initial {
        Some(start) => maximize_until(density, start, &settings.optimize, stop),
        None => maximize_from_random_starts_until(
            density,
            &settings.optimize,
            &settings.random_starts,
            stop,
        )
        .map(|result| result.best().clone()),
    }
    .map_err(LaplaceError::Optimize)?;
    if stopped() {
        return Err(LaplaceError::Interrupted {
            optimization: Box::new(optimization),
        });
    }
    let dim = density.dim();
    let mode = optimization.position.clone();
    let hessian = density.hessian(&mode).map_err(LaplaceError::Hessian)?;
    if hessian.len() != dim * dim {
        return Err(LaplaceError::HessianSize {
            got: hessian.len(),
            expected: dim * dim,
        });
    }
    let negated = DMatrix::from_row_slice(dim, dim, &hessian).map(|h| -h);
    let negated = 0.5 * (&negated + negated.transpose());
    let not_positive_definite = |matrix: &DMatrix<f64>| LaplaceError::NotPositiveDefinite {
        smallest_eigenvalue: if matrix.iter().all(|x| x.is_finite()) {
            matrix
                .clone()
                .symmetric_eigenvalues()
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min)
        } else {
            f64::NAN
        },
    };
    if negated.iter().any(|x| !x.is_finite()) {
        return Err(not_positive_definite(&negated));
    }
    let cholesky = negated
        .clone()
        .cholesky()
        .ok_or_else(|| not_positive_definite(&negated))?;
    let covariance_matrix = cholesky.inverse();
    let covariance: Vec<f64> = (0..dim * dim)
        .map(|k| covariance_matrix[(k / dim, k % dim)])
        .collect();
    // With −H = L Lᵀ, x = mode + L⁻ᵀ ε has covariance L⁻ᵀ L⁻¹ = (−H)⁻¹.
    let lower = cholesky.l();
    let upper = lower.transpose();
    let log_determinant: f64 = (0..dim).map(|i| lower[(i, i)].ln()).sum();
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let mut draws = Vec::with_capacity(settings.num_draws * dim);
    let mut log_ratios = Vec::with_capacity(settings.num_draws);
    let mut interrupted = false;
    for _ in 0..settings.num_draws {
        if stopped() {
            interrupted = true;
            break;
        }
        let noise = DVector::from_fn(dim, |_, _| rng.sample::<f64, _>(StandardNormal));
        let offset = upper
            .solve_upper_triangular(&noise)
            .ok_or_else(|| not_positive_definite(&negated))?;
        let point: Vec<f64> = mode.iter().zip(offset.iter()).map(|(m, o)| m + o).collect();
        let log_q = -0.5 * (dim as f64 * LOG_TWO_PI + noise.norm_squared()) + log_determinant;
        let log_p = match density.log_density(&point) {
            Ok(value) if value.is_finite() => value,
            _ => f64::NEG_INFINITY,
        };
        log_ratios.push(log_p - log_q);
        draws.extend_from_slice(&point);
    }
    let pareto_k = psis(&log_ratios, 1.0)
        .map(|result| result.pareto_k)
        .unwrap_or(f64::NAN);
    Ok(LaplaceFit {
        optimization,
        hessian,
        covariance,
        draws,
        log_ratios,
        pareto_k,
        interrupted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// N(mean, Σ) with Σ = [[1, 0.8·2], [0.8·2, 4]], written through its precision.
    #[derive(Clone, Debug)]
    struct Gaussian2d;

    const MEAN: [f64; 2] = [1.0, -2.0];
    const COVARIANCE: [f64; 4] = [1.0, 1.6, 1.6, 4.0];

    fn precision() -> [f64; 4] {
        let det = COVARIANCE[0] * COVARIANCE[3] - COVARIANCE[1] * COVARIANCE[2];
        [
            COVARIANCE[3] / det,
            -COVARIANCE[1] / det,
            -COVARIANCE[2] / det,
            COVARIANCE[0] / det,
        ]
    }

    impl LogDensity for Gaussian2d {
        fn dim(&self) -> usize {
            2
        }

        fn log_density_and_gradient(
            &mut self,
            position: &[f64],
            gradient: &mut [f64],
        ) -> Result<f64, LogDensityError> {
            let p = precision();
            let c = [position[0] - MEAN[0], position[1] - MEAN[1]];
            gradient[0] = -(p[0] * c[0] + p[1] * c[1]);
            gradient[1] = -(p[2] * c[0] + p[3] * c[1]);
            Ok(0.5 * (c[0] * gradient[0] + c[1] * gradient[1]))
        }
    }

    #[test]
    fn a_stop_request_ends_the_mode_search_or_the_draws() {
        let mut density = FiniteDifferenceHessian(Gaussian2d);
        let settings = LaplaceSettings {
            initial: Some(vec![0.0, 0.0]),
            num_draws: 100,
            ..LaplaceSettings::default()
        };
        let stop = AtomicBool::new(true);
        match laplace_until(&mut density, &settings, Some(&stop)) {
            Err(LaplaceError::Interrupted { optimization }) => {
                assert_eq!(optimization.position, vec![0.0, 0.0]);
            }
            other => panic!("{other:?}"),
        }
        stop.store(false, Ordering::Relaxed);
        let fit = laplace_until(&mut density, &settings, Some(&stop)).unwrap();
        assert!(!fit.interrupted);
        assert_eq!(fit.log_ratios.len(), 100);
    }

    #[test]
    fn a_gaussian_is_its_own_laplace_approximation() {
        let mut density = FiniteDifferenceHessian(Gaussian2d);
        let settings = LaplaceSettings {
            num_draws: 4000,
            seed: 3,
            ..LaplaceSettings::default()
        };
        let fit = laplace(&mut density, &settings).unwrap();
        assert!(fit.optimization.converged);
        for (m, exact) in fit.mode().iter().zip(MEAN) {
            assert!((m - exact).abs() < 1e-6, "{m} vs {exact}");
        }
        for (c, exact) in fit.covariance.iter().zip(COVARIANCE) {
            assert!((c - exact).abs() < 1e-5, "{c} vs {exact}");
        }
        // The draws: sample mean within 4 Monte Carlo standard errors sqrt(Σ_ii / S).
        let count = settings.num_draws as f64;
        for i in 0..2 {
            let mean: f64 = (0..settings.num_draws).map(|s| fit.draw(s)[i]).sum::<f64>() / count;
            let standard_error = (COVARIANCE[i * 3] / count).sqrt();
            assert!((mean - MEAN[i]).abs() < 4.0 * standard_error);
        }
        // The sample covariance: the standard error of s_ij is sqrt((Σ_ij² + Σ_ii Σ_jj) / S).
        let sample_covariance = |i: usize, j: usize| -> f64 {
            let mean =
                |k: usize| (0..settings.num_draws).map(|s| fit.draw(s)[k]).sum::<f64>() / count;
            let (mi, mj) = (mean(i), mean(j));
            (0..settings.num_draws)
                .map(|s| (fit.draw(s)[i] - mi) * (fit.draw(s)[j] - mj))
                .sum::<f64>()
                / (count - 1.0)
        };
        for (i, j) in [(0, 0), (0, 1), (1, 1)] {
            let exact = COVARIANCE[i * 2 + j];
            let standard_error =
                ((exact * exact + COVARIANCE[i * 3] * COVARIANCE[j * 3]) / count).sqrt();
            let got = sample_covariance(i, j);
            assert!(
                (got - exact).abs() < 4.0 * standard_error,
                "({i},{j}): {got} vs {exact}"
            );
        }
        // An exact fit: every log ratio is the log normalising constant.
        assert!(fit.pareto_k < 0.5, "k-hat {}", fit.pareto_k);
    }

    /// λ ~ Gamma(a, b), y_i ~ Poisson(λ), in u = log λ with the Jacobian: the posterior density of
    /// u is ∝ exp((a + Σy) u − (b + n) e^u).
    #[derive(Clone, Debug)]
    struct GammaPoissonLog {
        shape: f64,
        rate: f64,
        sum: f64,
        count: f64,
    }

    impl LogDensity for GammaPoissonLog {
        fn dim(&self) -> usize {
            1
        }

        fn log_density_and_gradient(
            &mut self,
            position: &[f64],
            gradient: &mut [f64],
        ) -> Result<f64, LogDensityError> {
            let u = position[0];
            let a = self.shape + self.sum;
            let b = self.rate + self.count;
            gradient[0] = a - b * u.exp();
            Ok(a * u - b * u.exp())
        }
    }

    impl HessianDensity for GammaPoissonLog {}

    #[test]
    fn a_gamma_poisson_posterior_in_log_space_has_the_known_mode_and_curvature() {
        let y = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        let mut density = GammaPoissonLog {
            shape: 2.0,
            rate: 0.5,
            sum: y.iter().sum(),
            count: y.len() as f64,
        };
        let fit = laplace(&mut density, &LaplaceSettings::default()).unwrap();
        // d/du = 0 at e^u = (a + Σy)/(b + n); there d²/du² = −(a + Σy).
        let posterior_shape: f64 = 2.0 + 31.0;
        let posterior_rate: f64 = 0.5 + 8.0;
        let mode = (posterior_shape / posterior_rate).ln();
        assert!(
            (fit.mode()[0] - mode).abs() < 1e-6,
            "{} vs {mode}",
            fit.mode()[0]
        );
        let variance = 1.0 / posterior_shape;
        assert!(
            (fit.covariance[0] - variance).abs() < 1e-6 * variance.max(1.0),
            "{} vs {variance}",
            fit.covariance[0]
        );
        assert_eq!(fit.draws.len(), 1000);
    }

    /// −x² − y⁴: the mode is at the origin but flat along y. The exact Hessian shows it.
    #[derive(Clone, Debug)]
    struct FlatDirection;

    impl LogDensity for FlatDirection {
        fn dim(&self) -> usize {
            2
        }

        fn log_density_and_gradient(
            &mut self,
            position: &[f64],
            gradient: &mut [f64],
        ) -> Result<f64, LogDensityError> {
            let (x, y) = (position[0], position[1]);
            gradient[0] = -2.0 * x;
            gradient[1] = -4.0 * y * y * y;
            Ok(-x * x - y.powi(4))
        }
    }

    impl HessianDensity for FlatDirection {
        fn hessian(&mut self, position: &[f64]) -> Result<Vec<f64>, OptimizeError> {
            Ok(vec![-2.0, 0.0, 0.0, -12.0 * position[1] * position[1]])
        }
    }

    #[test]
    fn a_flat_mode_is_a_clear_error() {
        let settings = LaplaceSettings {
            initial: Some(vec![0.0, 0.0]),
            ..LaplaceSettings::default()
        };
        match laplace(&mut FlatDirection, &settings) {
            Err(LaplaceError::NotPositiveDefinite {
                smallest_eigenvalue,
            }) => {
                assert!(smallest_eigenvalue.abs() < 1e-12);
            }
            other => panic!("expected NotPositiveDefinite, got {other:?}"),
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_draws() {
        let settings = LaplaceSettings::default();
        let first = laplace(&mut FiniteDifferenceHessian(Gaussian2d), &settings).unwrap();
        let second = laplace(&mut FiniteDifferenceHessian(Gaussian2d), &settings).unwrap();
        assert_eq!(first, second);
    }
}
