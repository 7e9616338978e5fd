//! Maximisation of a [`LogDensity`] by L-BFGS: the MAP / maximum-likelihood engine for models with
//! parameters and no latents (LANGUAGE.md §6, rule 6), with standard errors from a
//! finite-difference Hessian at the optimum.
//!
//! The engine maximises exactly the function it is given, on the unconstrained scale. Whether that
//! function includes the log-Jacobians of the constraining transforms is the caller's choice: Stan's
//! optimiser leaves them out by default, which yields the mode on the constrained scale (the MLE or
//! MAP estimate users expect); with them, the result is the mode of the density of the
//! unconstrained parameters (what a Laplace approximation on that scale is centred on).
//!
//! - [`maximize`]: one run from a given start; convergence tests and defaults are Stan's.
//! - [`maximize_from_random_starts`]: runs from uniform(-2, 2) starts drawn as Stan's `init`
//!   does, keeping the best.
//! - [`hessian_by_differences`] and [`standard_errors`]: `sqrt(diag(-H^{-1}))` at the optimum.
//!
//! Inside, the negative log density is minimised: [`lbfgs`] holds the inverse-Hessian
//! approximation, [`line_search`] finds strong Wolfe steps and treats non-finite points as too far.

mod lbfgs;
mod line_search;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use nalgebra::DMatrix;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use crate::density::{LogDensity, LogDensityError};
use lbfgs::{LbfgsHistory, dot};
use line_search::{LinePoint, Minimand, WolfeConditions, strong_wolfe_search};

/// Configuration of [`maximize`]. `Default` gives Stan's L-BFGS defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizeSettings {
    /// Curvature pairs kept by L-BFGS (`m`; Stan's `history_size`).
    pub history_size: usize,
    /// Trial step length of a line search along the plain gradient, i.e. of the first iteration
    /// and after the history is reset (Stan's `init_alpha`). Later iterations try 1 first, as the
    /// L-BFGS direction is already scaled.
    pub init_alpha: f64,
    /// `c1` of the strong Wolfe conditions (sufficient increase of the log density).
    pub sufficient_increase: f64,
    /// `c2` of the strong Wolfe conditions (the directional derivative shrinks by this factor).
    pub curvature: f64,
    /// Log-density evaluations one line search may spend before it gives up.
    pub max_line_search_evaluations: usize,
    /// Iterations (accepted steps) before stopping unconverged.
    pub max_iterations: usize,
    /// Converged when the log density changes by less than this in one iteration.
    pub tol_obj: f64,
    /// Converged when `|Δ log density| / max(|previous|, |current|, 1)` is below this many
    /// machine epsilons.
    pub tol_rel_obj: f64,
    /// Converged when the gradient's Euclidean norm is below this.
    pub tol_grad: f64,
    /// Converged when `g' H g / max(|log density|, 1)`, with `H` the L-BFGS approximation of
    /// the inverse negative Hessian, is below this many machine epsilons.
    pub tol_rel_grad: f64,
    /// Converged when the step's Euclidean norm is below this.
    pub tol_param: f64,
}

impl Default for OptimizeSettings {
    fn default() -> Self {
        OptimizeSettings {
            history_size: 10,
            init_alpha: 1e-3,
            sufficient_increase: 1e-4,
            curvature: 0.9,
            max_line_search_evaluations: 60,
            max_iterations: 2000,
            tol_obj: 1e-12,
            tol_rel_obj: 1e4,
            tol_grad: 1e-8,
            tol_rel_grad: 1e7,
            tol_param: 1e-8,
        }
    }
}

impl OptimizeSettings {
    fn validate(&self) -> Result<(), OptimizeError> {
        let reason = if self.history_size == 0 {
            "history_size must be at least 1"
        } else if !(self.init_alpha > 0.0 && self.init_alpha.is_finite()) {
            "init_alpha must be positive and finite"
        } else if !(0.0 < self.sufficient_increase
            && self.sufficient_increase < self.curvature
            && self.curvature < 1.0)
        {
            "the Wolfe constants must satisfy 0 < sufficient_increase < curvature < 1"
        } else if self.max_line_search_evaluations == 0 {
            "max_line_search_evaluations must be at least 1"
        } else if [
            self.tol_obj,
            self.tol_rel_obj,
            self.tol_grad,
            self.tol_rel_grad,
            self.tol_param,
        ]
        .iter()
        .any(|tolerance| tolerance.is_nan() || *tolerance < 0.0)
        {
            "tolerances must be non-negative numbers"
        } else {
            return Ok(());
        };
        Err(OptimizeError::InvalidSettings { reason })
    }
}

/// Which test stopped a run, in the order Stan checks them after each iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The log density changed by less than `tol_obj`.
    AbsoluteObjective,
    /// The gradient norm fell below `tol_grad` (also checked at the start).
    AbsoluteGradient,
    /// The step was shorter than `tol_param`.
    ParameterChange,
    /// `max_iterations` were used up; not converged.
    MaxIterations,
    /// The relative change of the log density fell below `tol_rel_obj` epsilons.
    RelativeObjective,
    /// The relative gradient fell below `tol_rel_grad` epsilons.
    RelativeGradient,
    /// No step satisfying the Wolfe conditions was found, even along the plain gradient; not
    /// converged (Stan's "line search failed to achieve a sufficient decrease").
    LineSearchFailed,
    /// A stop request (Ctrl-C) ended the run between iterations; not converged.
    Interrupted,
}

impl StopReason {
    /// Whether this is one of the convergence tests rather than giving up.
    pub fn is_convergence(self) -> bool {
        !matches!(
            self,
            StopReason::MaxIterations | StopReason::LineSearchFailed | StopReason::Interrupted
        )
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopReason::AbsoluteObjective => "absolute change in the log density below tolerance",
            StopReason::AbsoluteGradient => "gradient norm below tolerance",
            StopReason::ParameterChange => "parameter change below tolerance",
            StopReason::MaxIterations => "maximum number of iterations reached",
            StopReason::RelativeObjective => "relative change in the log density below tolerance",
            StopReason::RelativeGradient => "relative gradient magnitude below tolerance",
            StopReason::LineSearchFailed => "the line search could not increase the log density",
            StopReason::Interrupted => "interrupted",
        })
    }
}

/// The outcome of one run of [`maximize`].
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizeResult {
    /// The final point, on the unconstrained scale.
    pub position: Vec<f64>,
    /// The log density there.
    pub log_density: f64,
    /// The gradient of the log density there.
    pub gradient: Vec<f64>,
    /// Its Euclidean norm.
    pub gradient_norm: f64,
    /// Accepted steps.
    pub iterations: usize,
    /// Calls of `log_density_and_gradient`, including the start and non-finite trial points.
    pub evaluations: usize,
    /// The log density at the start and after each iteration (`iterations + 1` entries); it
    /// never decreases.
    pub trace: Vec<f64>,
    pub stop: StopReason,
    /// `stop.is_convergence()`.
    pub converged: bool,
}

/// Why an optimisation could not start or a Hessian could not be computed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum OptimizeError {
    #[error("invalid optimiser settings: {reason}")]
    InvalidSettings { reason: &'static str },
    #[error("a point has {got} coordinates but the log density has {expected}")]
    WrongLength { got: usize, expected: usize },
    #[error("the log density or its gradient is not finite at the initial point: {error}")]
    InvalidStart { error: LogDensityError },
    #[error(
        "run {run}: no finite log density and gradient at any of {attempts} random initial \
         points (last: {last_error})"
    )]
    NoValidStart {
        run: usize,
        attempts: usize,
        last_error: LogDensityError,
    },
    #[error(
        "the gradient is not finite at a finite-difference step along coordinate {coordinate}: {error}"
    )]
    HessianEvaluation {
        coordinate: usize,
        error: LogDensityError,
    },
}

/// The negative log density, the function the line search and L-BFGS minimise.
struct NegatedDensity<'a, D: LogDensity> {
    density: &'a mut D,
    evaluations: usize,
    last_error: Option<LogDensityError>,
}

impl<D: LogDensity> Minimand for NegatedDensity<'_, D> {
    fn evaluate(&mut self, position: &[f64], gradient: &mut [f64]) -> Option<f64> {
        self.evaluations += 1;
        match evaluate_finite(self.density, position, gradient) {
            Ok(log_density) => {
                for g in gradient.iter_mut() {
                    *g = -*g;
                }
                Some(-log_density)
            }
            Err(error) => {
                self.last_error = Some(error);
                None
            }
        }
    }
}

/// The log density and its gradient, as an error unless both are finite.
fn evaluate_finite<D: LogDensity>(
    density: &mut D,
    position: &[f64],
    gradient: &mut [f64],
) -> Result<f64, LogDensityError> {
    let value = density.log_density_and_gradient(position, gradient)?;
    if value.is_finite() && gradient.iter().all(|g| g.is_finite()) {
        Ok(value)
    } else {
        Err(LogDensityError::NotFinite {
            term: None,
            term_index: None,
        })
    }
}

fn norm(v: &[f64]) -> f64 {
    dot(v, v).sqrt()
}

/// Maximises `density` by L-BFGS from `start` (unconstrained coordinates).
///
/// Errors only if it cannot start (bad settings, wrong length, a non-finite start); running out
/// of iterations or a failed line search is a result with `converged == false`.
pub fn maximize<D: LogDensity>(
    density: &mut D,
    start: &[f64],
    settings: &OptimizeSettings,
) -> Result<OptimizeResult, OptimizeError> {
    maximize_until(density, start, settings, None)
}

/// [`maximize`], checking `stop` before every iteration: once it is set the run ends with
/// [`StopReason::Interrupted`] at the last accepted point.
pub fn maximize_until<D: LogDensity>(
    density: &mut D,
    start: &[f64],
    settings: &OptimizeSettings,
    stop: Option<&AtomicBool>,
) -> Result<OptimizeResult, OptimizeError> {
    settings.validate()?;
    let dim = density.dim();
    if start.len() != dim {
        return Err(OptimizeError::WrongLength {
            got: start.len(),
            expected: dim,
        });
    }
    let mut objective = NegatedDensity {
        density,
        evaluations: 0,
        last_error: None,
    };
    let mut gradient = vec![0.0; dim];
    let value = if start.iter().all(|x| x.is_finite()) {
        objective.evaluate(start, &mut gradient)
    } else {
        None
    };
    let Some(value) = value else {
        let error = objective
            .last_error
            .take()
            .unwrap_or(LogDensityError::NotFinite {
                term: None,
                term_index: None,
            });
        return Err(OptimizeError::InvalidStart { error });
    };
    let mut run = Run {
        objective,
        settings,
        current: LinePoint {
            position: start.to_vec(),
            value,
            gradient,
        },
        history: LbfgsHistory::new(settings.history_size),
        direction: vec![0.0; dim],
        iterations: 0,
        trace: vec![-value],
        stop,
    };
    let stop = run.iterate();
    let Run {
        objective,
        current,
        iterations,
        trace,
        ..
    } = run;
    let gradient: Vec<f64> = current.gradient.iter().map(|g| -g).collect();
    Ok(OptimizeResult {
        position: current.position,
        log_density: -current.value,
        gradient_norm: norm(&gradient),
        gradient,
        iterations,
        evaluations: objective.evaluations,
        trace,
        stop,
        converged: stop.is_convergence(),
    })
}

/// The state of one minimisation of the negative log density.
struct Run<'a, D: LogDensity> {
    objective: NegatedDensity<'a, D>,
    settings: &'a OptimizeSettings,
    /// The current iterate, with the minimised function's value and gradient.
    current: LinePoint,
    history: LbfgsHistory,
    direction: Vec<f64>,
    iterations: usize,
    trace: Vec<f64>,
    stop: Option<&'a AtomicBool>,
}

impl<D: LogDensity> Run<'_, D> {
    fn iterate(&mut self) -> StopReason {
        let settings = self.settings;
        if norm(&self.current.gradient) < settings.tol_grad {
            return StopReason::AbsoluteGradient;
        }
        if settings.max_iterations == 0 {
            return StopReason::MaxIterations;
        }
        loop {
            if self.stop.is_some_and(|stop| stop.load(Ordering::Relaxed)) {
                return StopReason::Interrupted;
            }
            let Some(next) = self.search() else {
                return StopReason::LineSearchFailed;
            };
            self.iterations += 1;
            let step: Vec<f64> = next
                .position
                .iter()
                .zip(&self.current.position)
                .map(|(new, old)| new - old)
                .collect();
            let gradient_change: Vec<f64> = next
                .gradient
                .iter()
                .zip(&self.current.gradient)
                .map(|(new, old)| new - old)
                .collect();
            let step_norm = norm(&step);
            let previous_value = self.current.value;
            self.history.push(step, gradient_change);
            self.current = next;
            self.trace.push(-self.current.value);

            let value = self.current.value;
            let change = (previous_value - value).abs();
            let relative_change = change / previous_value.abs().max(value.abs()).max(1.0);
            // g' H g with the updated approximation, as Stan's relative gradient test.
            self.history
                .descent_direction(&self.current.gradient, &mut self.direction);
            let relative_gradient =
                -dot(&self.direction, &self.current.gradient) / value.abs().max(1.0);
            let epsilon = f64::EPSILON;
            if change < settings.tol_obj {
                return StopReason::AbsoluteObjective;
            } else if norm(&self.current.gradient) < settings.tol_grad {
                return StopReason::AbsoluteGradient;
            } else if step_norm < settings.tol_param {
                return StopReason::ParameterChange;
            } else if self.iterations >= settings.max_iterations {
                return StopReason::MaxIterations;
            } else if relative_change < settings.tol_rel_obj * epsilon {
                return StopReason::RelativeObjective;
            } else if relative_gradient < settings.tol_rel_grad * epsilon {
                return StopReason::RelativeGradient;
            }
        }
    }

    /// One line search along the L-BFGS direction; if it fails, the history is dropped and the
    /// plain gradient is tried (as Stan does). `None` if that fails too.
    fn search(&mut self) -> Option<LinePoint> {
        let conditions = WolfeConditions {
            sufficient_decrease: self.settings.sufficient_increase,
            curvature: self.settings.curvature,
            max_evaluations: self.settings.max_line_search_evaluations,
        };
        loop {
            let steepest = self.history.is_empty();
            self.history
                .descent_direction(&self.current.gradient, &mut self.direction);
            let slope = dot(&self.direction, &self.current.gradient);
            let downhill = slope < 0.0;
            if !steepest && !downhill {
                // Rounding made the approximation indefinite: start it afresh.
                self.history.clear();
                continue;
            }
            let initial_step = if steepest {
                self.settings.init_alpha
            } else {
                1.0
            };
            match strong_wolfe_search(
                &mut self.objective,
                &self.current.position,
                self.current.value,
                &self.current.gradient,
                &self.direction,
                initial_step,
                &conditions,
            ) {
                Ok(point) => return Some(point),
                Err(_) if !steepest => self.history.clear(),
                Err(_) => return None,
            }
        }
    }
}

/// How [`maximize_from_random_starts`] draws its starts.
#[derive(Clone, Debug, PartialEq)]
pub struct RandomStarts {
    /// Independent runs, each from its own start; the best is reported.
    pub runs: usize,
    /// Each unconstrained coordinate starts uniform(-radius, radius) (Stan's `init = 2`).
    pub radius: f64,
    /// Draws tried per run until the log density and gradient are finite.
    pub max_attempts: usize,
    /// Run `i` draws from stream `i` of a ChaCha8 generator seeded with this, so a run's start
    /// does not depend on how many runs there are.
    pub seed: u64,
}

impl Default for RandomStarts {
    fn default() -> Self {
        RandomStarts {
            runs: 1,
            radius: 2.0,
            max_attempts: 100,
            seed: 0,
        }
    }
}

/// All runs of [`maximize_from_random_starts`] and which one is best. Each run's `evaluations`
/// leave out the draws spent finding its start.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiStartResult {
    pub starts: Vec<Vec<f64>>,
    pub runs: Vec<OptimizeResult>,
    /// The index of the highest log density among converged runs, or among all if none
    /// converged.
    pub best: usize,
}

impl MultiStartResult {
    pub fn best(&self) -> &OptimizeResult {
        &self.runs[self.best]
    }
}

/// Maximises `density` from `starts.runs` random starts and reports every run and the best.
pub fn maximize_from_random_starts<D: LogDensity>(
    density: &mut D,
    settings: &OptimizeSettings,
    starts: &RandomStarts,
) -> Result<MultiStartResult, OptimizeError> {
    maximize_from_random_starts_until(density, settings, starts, None)
}

/// [`maximize_from_random_starts`] with a stop flag: each run checks it between iterations, and
/// no further run starts once it is set (the runs so far are kept and the best reported).
pub fn maximize_from_random_starts_until<D: LogDensity>(
    density: &mut D,
    settings: &OptimizeSettings,
    starts: &RandomStarts,
    stop: Option<&AtomicBool>,
) -> Result<MultiStartResult, OptimizeError> {
    settings.validate()?;
    if starts.runs == 0 {
        return Err(OptimizeError::InvalidSettings {
            reason: "at least one run is needed",
        });
    }
    if !(starts.radius >= 0.0 && starts.radius.is_finite()) {
        return Err(OptimizeError::InvalidSettings {
            reason: "the start radius must be non-negative and finite",
        });
    }
    let mut result = MultiStartResult {
        starts: Vec::with_capacity(starts.runs),
        runs: Vec::with_capacity(starts.runs),
        best: 0,
    };
    for run in 0..starts.runs {
        if run > 0 && stop.is_some_and(|stop| stop.load(Ordering::Relaxed)) {
            break;
        }
        let start = random_start(density, starts, run)?;
        result
            .runs
            .push(maximize_until(density, &start, settings, stop)?);
        result.starts.push(start);
    }
    let any_converged = result.runs.iter().any(|r| r.converged);
    let mut best_value = f64::NEG_INFINITY;
    for (index, run) in result.runs.iter().enumerate() {
        if (run.converged || !any_converged) && run.log_density > best_value {
            best_value = run.log_density;
            result.best = index;
        }
    }
    Ok(result)
}

/// Draws uniform(-radius, radius) points until the log density and gradient are finite.
fn random_start<D: LogDensity>(
    density: &mut D,
    starts: &RandomStarts,
    run: usize,
) -> Result<Vec<f64>, OptimizeError> {
    let mut rng = ChaCha8Rng::seed_from_u64(starts.seed);
    rng.set_stream(run as u64);
    let dim = density.dim();
    let mut position = vec![0.0; dim];
    let mut gradient = vec![0.0; dim];
    let mut last_error = LogDensityError::NotFinite {
        term: None,
        term_index: None,
    };
    for _ in 0..starts.max_attempts {
        for x in position.iter_mut() {
            *x = starts.radius * (2.0 * rng.random::<f64>() - 1.0);
        }
        match evaluate_finite(density, &position, &mut gradient) {
            Ok(_) => return Ok(position),
            Err(error) => last_error = error,
        }
    }
    Err(OptimizeError::NoValidStart {
        run,
        attempts: starts.max_attempts,
        last_error,
    })
}

/// A finite-difference step for [`hessian_by_differences`]: the cube root of machine epsilon,
/// which balances truncation and rounding error of central differences.
pub const DEFAULT_HESSIAN_STEP: f64 = 6e-6;

/// The Hessian of the log density at `position`, row-major `dim × dim`, by central differences
/// of the gradient with step `step * max(1, |x_j|)` along coordinate `j`, then symmetrised.
pub fn hessian_by_differences<D: LogDensity>(
    density: &mut D,
    position: &[f64],
    step: f64,
) -> Result<Vec<f64>, OptimizeError> {
    let dim = density.dim();
    if position.len() != dim {
        return Err(OptimizeError::WrongLength {
            got: position.len(),
            expected: dim,
        });
    }
    if !(step > 0.0 && step.is_finite()) {
        return Err(OptimizeError::InvalidSettings {
            reason: "the finite-difference step must be positive and finite",
        });
    }
    let mut hessian = vec![0.0; dim * dim];
    let mut shifted = position.to_vec();
    let mut forward = vec![0.0; dim];
    let mut backward = vec![0.0; dim];
    for j in 0..dim {
        let h = step * position[j].abs().max(1.0);
        let fail = |error| OptimizeError::HessianEvaluation {
            coordinate: j,
            error,
        };
        shifted[j] = position[j] + h;
        let upper = shifted[j];
        evaluate_finite(density, &shifted, &mut forward).map_err(fail)?;
        shifted[j] = position[j] - h;
        let lower = shifted[j];
        evaluate_finite(density, &shifted, &mut backward).map_err(fail)?;
        shifted[j] = position[j];
        // The step actually taken, after rounding of position ± h.
        let width = upper - lower;
        for i in 0..dim {
            hessian[i * dim + j] = (forward[i] - backward[i]) / width;
        }
    }
    for i in 0..dim {
        for j in 0..i {
            let mean = 0.5 * (hessian[i * dim + j] + hessian[j * dim + i]);
            hessian[i * dim + j] = mean;
            hessian[j * dim + i] = mean;
        }
    }
    Ok(hessian)
}

/// `sqrt(diag(-H^{-1}))` for a row-major `dim × dim` Hessian of a log density: the standard errors
/// of the normal approximation at a mode. `None` if `H` is not negative definite (or not finite,
/// or of the wrong size).
pub fn standard_errors(hessian: &[f64], dim: usize) -> Option<Vec<f64>> {
    if hessian.len() != dim * dim || hessian.iter().any(|h| !h.is_finite()) {
        return None;
    }
    let negated = DMatrix::from_row_slice(dim, dim, hessian).map(|h| -h);
    let negated = 0.5 * (&negated + negated.transpose());
    let covariance = negated.cholesky()?.inverse();
    let errors: Vec<f64> = covariance.diagonal().iter().map(|v| v.sqrt()).collect();
    errors
        .iter()
        .all(|e| e.is_finite() && *e > 0.0)
        .then_some(errors)
}

#[cfg(test)]
mod tests;
