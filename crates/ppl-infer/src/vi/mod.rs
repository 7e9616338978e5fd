//! The ELBO engine: automatic differentiation variational inference (ADVI; Kucukelbir, Tran,
//! Ranganath, Gelman and Blei 2017, JMLR 18(14)) with a Gaussian guide on the unconstrained space.
//!
//! The guide ([`GaussianGuide`]) is mean-field (a mean and log-sd per coordinate) or full-rank (a
//! mean and a Cholesky factor with positive diagonal). Each iteration estimates the ELBO's gradient
//! by the reparameterisation `z = mean + L·ε`, `ε ~ N(0, I)`, from `elbo_samples` draws and the
//! target's gradient, with the guide's entropy analytic, and moves the guide by an
//! [`Optimiser`] (Adam with a decaying step size). Without a fixed learning rate, a short trial run
//! from the start picks the best of a few candidates, as Stan's `adapt_engaged` step-size search.
//! Every `evaluation_interval` iterations the ELBO is estimated afresh from
//! `elbo_evaluation_samples` draws; its relative changes fill a circular buffer of
//! `max(2, max_iterations / evaluation_interval / 10)` entries, and the run stops when their mean or
//! median falls below `tol_rel_obj` (Stan's rule), or at `max_iterations`. The fit then returns
//! `num_draws` draws from the guide (unconstrained) with the PSIS k̂ of `log p − log q` over them:
//! above 0.7 the approximation should not be trusted (Yao, Vehtari, Simpson and Gelman 2018).
//!
//! Everything is deterministic given `seed`. [`GaussianGuide::elbo_gradient`] takes the density at
//! each call, so a caller can drive the optimiser itself with a minibatch density.

pub mod guide;
pub mod mixture;
pub mod optimiser;

use std::sync::atomic::{AtomicBool, Ordering};

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use crate::density::{LogDensity, LogDensityError};
use crate::psis::psis;
pub use guide::{GaussianGuide, GuideFamily};
pub use optimiser::{Adam, Optimiser};

/// Configuration of [`fit_variational`]. `Default` follows Stan's ADVI defaults where they apply.
#[derive(Clone, Debug, PartialEq)]
pub struct VariationalSettings {
    /// Mean-field or full-rank guide.
    pub family: GuideFamily,
    /// Draws per gradient estimate (`--elbo-samples`; Stan's `grad_samples`, 1).
    pub elbo_samples: usize,
    /// Draws per ELBO estimate at each evaluation (Stan's `elbo_samples`, 100).
    pub elbo_evaluation_samples: usize,
    /// Iterations between ELBO evaluations (Stan's `eval_elbo`, 100).
    pub evaluation_interval: usize,
    /// The iteration cap.
    pub max_iterations: usize,
    /// Converged when the mean or median relative ELBO change in the buffer is below this.
    pub tol_rel_obj: f64,
    /// Adam's initial step size; `None` chooses among `learning_rate_candidates` by a trial run.
    pub learning_rate: Option<f64>,
    /// Candidates tried in order when `learning_rate` is `None`.
    pub learning_rate_candidates: Vec<f64>,
    /// Iterations of each trial run (Stan's `adapt_iter`, 50).
    pub adaptation_iterations: usize,
    /// The learning rate falls as `1/sqrt(1 + t / learning_rate_decay_steps)`.
    pub learning_rate_decay_steps: f64,
    /// Evaluate and return the average of the iterates over each evaluation window instead of the
    /// last iterate.
    pub average_iterates: bool,
    /// Draws returned from the fitted guide (Stan's `output_samples`, 1000).
    pub num_draws: usize,
    /// The starting mean; `None` draws it uniformly from `(-init_radius, init_radius)` until the
    /// log density is finite, as the samplers do.
    pub initial_mean: Option<Vec<f64>>,
    pub init_radius: f64,
    /// With an `initial_mean`, also try a random start (as without one) and keep whichever gives
    /// the higher ELBO after the learning-rate trial runs: a mode is a poor start where the
    /// density is unbounded (a funnel's neck), and the ELBO itself says so.
    pub compare_random_start: bool,
    /// Coordinates held as points (no spread) in a mean-field guide: the params of variational
    /// EM, which maximise the same ELBO as the guide over the latents. Empty: none.
    pub point_coordinates: Vec<bool>,
    /// Consecutive iterations whose gradient is not finite before the run gives up.
    pub max_failed_iterations: usize,
    pub seed: u64,
}

impl Default for VariationalSettings {
    fn default() -> Self {
        VariationalSettings {
            family: GuideFamily::MeanField,
            elbo_samples: 1,
            elbo_evaluation_samples: 100,
            evaluation_interval: 100,
            max_iterations: 10_000,
            tol_rel_obj: 0.01,
            learning_rate: None,
            learning_rate_candidates: vec![1.0, 0.3, 0.1, 0.03, 0.01],
            adaptation_iterations: 50,
            learning_rate_decay_steps: 100.0,
            average_iterates: true,
            num_draws: 1000,
            initial_mean: None,
            init_radius: 2.0,
            compare_random_start: false,
            point_coordinates: Vec::new(),
            max_failed_iterations: 50,
            seed: 0,
        }
    }
}

/// One ELBO evaluation in the trace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ElboEvaluation {
    /// Iterations done when it was taken.
    pub iteration: usize,
    pub elbo: f64,
    /// `|(elbo − previous) / elbo|`; `None` for the first evaluation.
    pub relative_change: Option<f64>,
}

/// The outcome of [`fit_variational`].
#[derive(Clone, Debug, PartialEq)]
pub struct VariationalFit {
    /// The fitted guide (its mean, covariance and Cholesky factor are methods).
    pub guide: GaussianGuide,
    /// The ELBO estimate at every evaluation, in order: the objective trace.
    pub trace: Vec<ElboEvaluation>,
    /// The last ELBO estimate (of the density as given, e.g. the whole data set).
    pub elbo: f64,
    pub iterations: usize,
    /// Whether the relative-change rule stopped the run (not the cap or an interrupt).
    pub converged: bool,
    /// True if the stop flag ended the run early.
    pub interrupted: bool,
    /// The initial step size used (given or chosen).
    pub learning_rate: f64,
    /// Draws from the guide, unconstrained, row-major `num_draws × dim`.
    pub draws: Vec<f64>,
    /// `log p(z) − log q(z)` per draw (`-∞` where the density is not finite).
    pub log_ratios: Vec<f64>,
    /// The PSIS k̂ of those ratios; `NaN` if PSIS could not run (e.g. fewer than two draws).
    pub pareto_k: f64,
}

impl VariationalFit {
    /// Draw `index` (unconstrained).
    pub fn draw(&self, index: usize) -> &[f64] {
        let dim = self.guide.dim;
        &self.draws[index * dim..(index + 1) * dim]
    }
}

/// Why a variational fit could not run.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum VariationalError {
    #[error("invalid variational settings: {0}")]
    Settings(&'static str),
    #[error("the initial mean has {got} entries, the model has {expected}")]
    InitialMeanLength { got: usize, expected: usize },
    #[error("the log density is not finite at the initial mean: {0}")]
    InitialMean(LogDensityError),
    #[error(
        "no initial value with a finite log density after {attempts} attempts (last: {last_error})"
    )]
    Initialization {
        attempts: usize,
        last_error: LogDensityError,
    },
    #[error("no candidate learning rate gave a finite ELBO in the trial runs")]
    NoLearningRate,
    #[error(
        "the ELBO gradient was not finite for {iterations} iterations in a row (at iteration {at})"
    )]
    NotFinite { iterations: usize, at: usize },
}

fn validate(settings: &VariationalSettings) -> Result<(), VariationalError> {
    let problem = if settings.elbo_samples == 0 {
        "elbo_samples must be at least 1"
    } else if settings.elbo_evaluation_samples == 0 {
        "elbo_evaluation_samples must be at least 1"
    } else if settings.evaluation_interval == 0 {
        "evaluation_interval must be at least 1"
    } else if settings.tol_rel_obj.is_nan() || settings.tol_rel_obj < 0.0 {
        "tol_rel_obj must be non-negative"
    } else if settings
        .learning_rate
        .is_some_and(|rate| !(rate > 0.0 && rate.is_finite()))
    {
        "learning_rate must be positive and finite"
    } else if settings.learning_rate.is_none()
        && (settings.learning_rate_candidates.is_empty()
            || settings
                .learning_rate_candidates
                .iter()
                .any(|rate| !(*rate > 0.0 && rate.is_finite())))
    {
        "learning_rate_candidates must be positive, finite and not empty"
    } else if settings.learning_rate_decay_steps.is_nan()
        || settings.learning_rate_decay_steps <= 0.0
    {
        "learning_rate_decay_steps must be positive"
    } else if !(settings.init_radius >= 0.0 && settings.init_radius.is_finite()) {
        "init_radius must be non-negative and finite"
    } else {
        return Ok(());
    };
    Err(VariationalError::Settings(problem))
}

/// The random stream `stream` of `seed`: 0 for initialisation, 1 for the main run, 2 for the
/// output draws, 3 + c for the trial run of candidate `c`.
fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Fits a Gaussian guide to `density` by maximising the ELBO. `stop`, when set, ends the run at the
/// next iteration with what it has (`interrupted`).
pub fn fit_variational<D: LogDensity>(
    density: &D,
    settings: &VariationalSettings,
    stop: Option<&AtomicBool>,
) -> Result<VariationalFit, VariationalError> {
    validate(settings)?;
    let mut density = density.clone();
    let dim = density.dim();
    if !settings.point_coordinates.is_empty() && settings.point_coordinates.len() != dim {
        return Err(VariationalError::Settings(
            "point_coordinates must be empty or have one entry per coordinate",
        ));
    }
    let given_mean = initial_mean(&mut density, settings)?;
    let compare = settings.compare_random_start && settings.initial_mean.is_some();
    let (mut initial_mean, mut learning_rate) = match settings.learning_rate {
        Some(rate) if !compare => (given_mean, Some((rate, f64::NAN))),
        _ => match choose_learning_rate(&mut density, settings, &given_mean) {
            Ok(chosen) => (given_mean, Some(chosen)),
            Err(error) if !compare => return Err(error),
            Err(_) => (given_mean, None),
        },
    };
    if compare {
        let random_settings = VariationalSettings {
            initial_mean: None,
            ..settings.clone()
        };
        let random_mean = self::initial_mean(&mut density, &random_settings)?;
        if let Ok((rate, elbo)) = choose_learning_rate(&mut density, settings, &random_mean)
            && learning_rate.is_none_or(|(_, best)| elbo > best)
        {
            initial_mean = random_mean;
            learning_rate = Some((rate, elbo));
        }
    }
    let Some((learning_rate, _)) = learning_rate else {
        return Err(VariationalError::NoLearningRate);
    };

    let mut rng = stream(settings.seed, 1);
    let mut guide = new_guide(settings, &initial_mean);
    let mut optimiser = Adam::new(learning_rate, settings.learning_rate_decay_steps);
    let mut gradient = vec![0.0; guide.parameters.len()];
    let mut window_sum = vec![0.0; guide.parameters.len()];
    let mut window_count = 0usize;
    let mut averaged = guide.clone();
    let buffer_size = ((settings.max_iterations / settings.evaluation_interval) / 10).max(2);
    let mut relative_changes: Vec<f64> = Vec::with_capacity(buffer_size);
    let mut next_slot = 0;
    let mut trace: Vec<ElboEvaluation> = Vec::new();
    let mut failures = 0;
    let mut converged = false;
    let mut interrupted = false;
    let mut iterations = 0;
    while iterations < settings.max_iterations {
        if stop.is_some_and(|flag| flag.load(Ordering::Relaxed)) {
            interrupted = true;
            break;
        }
        iterations += 1;
        match guide.elbo_gradient(&mut density, &mut rng, settings.elbo_samples, &mut gradient) {
            Ok(_) => {
                failures = 0;
                optimiser.step(&mut guide.parameters, &gradient);
                for (sum, p) in window_sum.iter_mut().zip(&guide.parameters) {
                    *sum += p;
                }
                window_count += 1;
            }
            Err(_) => {
                failures += 1;
                if failures >= settings.max_failed_iterations.max(1) {
                    return Err(VariationalError::NotFinite {
                        iterations: failures,
                        at: iterations,
                    });
                }
            }
        }
        if iterations % settings.evaluation_interval == 0 {
            if settings.average_iterates && window_count > 0 {
                for (a, sum) in averaged.parameters.iter_mut().zip(&window_sum) {
                    *a = sum / window_count as f64;
                }
            } else {
                averaged.parameters.copy_from_slice(&guide.parameters);
            }
            window_sum.iter_mut().for_each(|sum| *sum = 0.0);
            window_count = 0;
            let elbo =
                averaged.estimate_elbo(&mut density, &mut rng, settings.elbo_evaluation_samples);
            let relative_change = trace
                .last()
                .map(|previous| ((elbo - previous.elbo) / elbo).abs())
                .filter(|change| !change.is_nan());
            trace.push(ElboEvaluation {
                iteration: iterations,
                elbo,
                relative_change,
            });
            if let Some(change) = relative_change {
                if relative_changes.len() < buffer_size {
                    relative_changes.push(change);
                } else {
                    relative_changes[next_slot] = change;
                }
                next_slot = (next_slot + 1) % buffer_size;
                let mean = relative_changes.iter().sum::<f64>() / relative_changes.len() as f64;
                if mean < settings.tol_rel_obj || median(&relative_changes) < settings.tol_rel_obj {
                    converged = true;
                    break;
                }
            }
        }
    }
    let mut draw_rng = stream(settings.seed, 2);
    let ended_at_evaluation = trace
        .last()
        .is_some_and(|last| last.iteration == iterations);
    if settings.average_iterates {
        if window_count > 0 {
            for (a, sum) in averaged.parameters.iter_mut().zip(&window_sum) {
                *a = sum / window_count as f64;
            }
            guide = averaged;
        } else if ended_at_evaluation {
            guide = averaged;
        }
    }
    let elbo = match trace.last() {
        Some(last) if ended_at_evaluation => last.elbo,
        _ => guide.estimate_elbo(
            &mut density,
            &mut draw_rng,
            settings.elbo_evaluation_samples,
        ),
    };
    let (draws, log_ratios) =
        draw_from_guide(&guide, &mut density, settings.num_draws, &mut draw_rng);
    let pareto_k = psis(&log_ratios, 1.0)
        .map(|result| result.pareto_k)
        .unwrap_or(f64::NAN);
    debug_assert_eq!(draws.len(), settings.num_draws * dim);
    Ok(VariationalFit {
        guide,
        trace,
        elbo,
        iterations,
        converged,
        interrupted,
        learning_rate,
        draws,
        log_ratios,
        pareto_k,
    })
}

/// Whether an ELBO trace has stopped improving, judged against its own Monte-Carlo noise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plateau {
    /// The evaluations judged (the last half of the trace, at least 4).
    pub evaluations: usize,
    /// The least-squares trend over them, in nats per evaluation.
    pub slope: f64,
    /// The trend's standard error.
    pub slope_se: f64,
    /// The residual sd about the trend: the noise of one ELBO estimate.
    pub noise_sd: f64,
}

impl Plateau {
    /// The ELBO is flat within its noise: the trend is within two standard errors of zero, or
    /// climbs less over the window than one estimate's noise.
    pub fn is_flat(&self) -> bool {
        self.slope.abs() <= 2.0 * self.slope_se
            || self.slope * self.evaluations as f64 <= self.noise_sd
    }
}

/// The trend of the last half of `trace` (at least four evaluations; `None` with fewer). A run
/// that hits `max_iterations` with a flat trend did not fail to converge: the relative-change
/// rule asked for a precision below the noise of the ELBO estimate (`tol_rel_obj` against a
/// noise of `noise_sd / |elbo|`), and more iterations would not change the fit.
pub fn elbo_plateau(trace: &[ElboEvaluation]) -> Option<Plateau> {
    let count = (trace.len() / 2).max(4);
    if trace.len() < count {
        return None;
    }
    let window = &trace[trace.len() - count..];
    let n = count as f64;
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = window.iter().map(|e| e.elbo).sum::<f64>() / n;
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (i, e) in window.iter().enumerate() {
        let dx = i as f64 - mean_x;
        sxx += dx * dx;
        sxy += dx * (e.elbo - mean_y);
    }
    let slope = sxy / sxx;
    let residual: f64 = window
        .iter()
        .enumerate()
        .map(|(i, e)| (e.elbo - mean_y - slope * (i as f64 - mean_x)).powi(2))
        .sum();
    let noise_sd = (residual / (n - 2.0)).sqrt();
    let plateau = Plateau {
        evaluations: count,
        slope,
        slope_se: noise_sd / sxx.sqrt(),
        noise_sd,
    };
    (slope.is_finite() && noise_sd.is_finite()).then_some(plateau)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        0.5 * (sorted[middle - 1] + sorted[middle])
    } else {
        sorted[middle]
    }
}

/// `count` draws from the guide with `log p − log q` for each.
fn draw_from_guide<D: LogDensity>(
    guide: &GaussianGuide,
    density: &mut D,
    count: usize,
    rng: &mut ChaCha8Rng,
) -> (Vec<f64>, Vec<f64>) {
    let dim = guide.dim;
    let mut draws = vec![0.0; count * dim];
    let mut log_ratios = Vec::with_capacity(count);
    let mut noise = vec![0.0; dim];
    for point in draws.chunks_exact_mut(dim.max(1)).take(count) {
        let log_q = guide.sample(rng, &mut noise, &mut point[..dim]);
        let log_p = match density.log_density(&point[..dim]) {
            Ok(value) if value.is_finite() => value,
            _ => f64::NEG_INFINITY,
        };
        log_ratios.push(log_p - log_q);
    }
    // A zero-dimensional guide has one (empty) draw per requested draw.
    while log_ratios.len() < count {
        log_ratios.push(density.log_density(&[]).unwrap_or(f64::NEG_INFINITY));
    }
    (draws, log_ratios)
}

fn initial_mean<D: LogDensity>(
    density: &mut D,
    settings: &VariationalSettings,
) -> Result<Vec<f64>, VariationalError> {
    let dim = density.dim();
    if let Some(mean) = &settings.initial_mean {
        if mean.len() != dim {
            return Err(VariationalError::InitialMeanLength {
                got: mean.len(),
                expected: dim,
            });
        }
        return match density.log_density(mean) {
            Ok(value) if value.is_finite() => Ok(mean.clone()),
            Ok(_) => Err(VariationalError::InitialMean(LogDensityError::NotFinite {
                term: None,
                term_index: None,
            })),
            Err(error) => Err(VariationalError::InitialMean(error)),
        };
    }
    let mut rng = stream(settings.seed, 0);
    let attempts = 100;
    let mut last_error = LogDensityError::NotFinite {
        term: None,
        term_index: None,
    };
    let mut mean = vec![0.0; dim];
    for _ in 0..attempts {
        for x in mean.iter_mut() {
            *x = settings.init_radius * (2.0 * rng.random::<f64>() - 1.0);
        }
        match density.log_density(&mean) {
            Ok(value) if value.is_finite() => return Ok(mean),
            Ok(_) => {
                last_error = LogDensityError::NotFinite {
                    term: None,
                    term_index: None,
                }
            }
            Err(error) => last_error = error,
        }
    }
    Err(VariationalError::Initialization {
        attempts,
        last_error,
    })
}

/// The guide of `settings`' family at `mean` with unit scales, its points held.
fn new_guide(settings: &VariationalSettings, mean: &[f64]) -> GaussianGuide {
    GaussianGuide::standard(settings.family, mean).with_points(&settings.point_coordinates)
}

/// Runs `adaptation_iterations` steps from the start with each candidate (or with the given
/// learning rate alone) and keeps the one whose final ELBO estimate is highest: the rate and that
/// ELBO.
fn choose_learning_rate<D: LogDensity>(
    density: &mut D,
    settings: &VariationalSettings,
    initial_mean: &[f64],
) -> Result<(f64, f64), VariationalError> {
    let given = settings.learning_rate.map(|rate| vec![rate]);
    let candidates = given
        .as_deref()
        .unwrap_or(&settings.learning_rate_candidates);
    let mut best: Option<(f64, f64)> = None;
    for (index, &candidate) in candidates.iter().enumerate() {
        let mut rng = stream(settings.seed, 3 + index as u64);
        let mut guide = new_guide(settings, initial_mean);
        let mut optimiser = Adam::new(candidate, settings.learning_rate_decay_steps);
        let mut gradient = vec![0.0; guide.parameters.len()];
        let mut failed = false;
        for _ in 0..settings.adaptation_iterations {
            match guide.elbo_gradient(density, &mut rng, settings.elbo_samples, &mut gradient) {
                Ok(_) => optimiser.step(&mut guide.parameters, &gradient),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if failed || guide.parameters.iter().any(|p| !p.is_finite()) {
            continue;
        }
        let elbo = guide.estimate_elbo(density, &mut rng, settings.elbo_evaluation_samples);
        if elbo.is_finite() && best.is_none_or(|(_, best_elbo)| elbo > best_elbo) {
            best = Some((candidate, elbo));
        }
    }
    best.ok_or(VariationalError::NoLearningRate)
}

#[cfg(test)]
mod mixture_tests;
#[cfg(test)]
mod tests;
