//! Running chains: Stan-style initialisation, the warmup and sampling loop of one chain, and
//! [`sample_chains`], which runs them in parallel (one rayon task per chain).
//!
//! Each chain draws from its own ChaCha8 stream, numbered `chain_id_offset + chain index`, so a
//! seed gives bit-identical draws whatever the number of threads.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;

use super::adapt::{DualAveraging, StepSizeError, WindowSchedule, initial_step_size};
use super::fisher::{FisherAdaptation, FisherSettings, WarmupEvent};
use super::hmc::integrator::Leapfrog;
use super::hmc::metric::{
    AdaptedMetric, DenseMetric, DiagonalMetric, LowRankMetric, Metric, MetricError, MetricEstimator,
};
use super::hmc::nuts::Nuts;
use super::hmc::static_hmc::StaticHmc;
use super::hmc::{ChainState, PhasePoint};
use super::stuck::{SUMMARY_ITERATIONS, WarmupBoard, WarmupSummary};
use super::{Kernel, MetricKind, SamplerSettings};
use crate::density::{LogDensity, LogDensityError};

/// Stan's sampler columns for one draw (`lp__` and the `__` statistics).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DrawStats {
    /// `lp__`: the log density at the draw.
    pub lp: f64,
    pub accept_stat: f64,
    pub step_size: f64,
    pub tree_depth: u32,
    pub n_leapfrog: u32,
    pub divergent: bool,
    pub energy: f64,
}

/// One iteration as the draw sink sees it (called on the chain's own thread).
#[derive(Clone, Copy, Debug)]
pub struct DrawEvent<'a> {
    /// The chain's global id: `chain_id_offset + index`.
    pub chain_id: u64,
    /// Index of the chain within this run (0-based).
    pub chain_index: usize,
    /// 0-based over warmup then draws.
    pub iteration: usize,
    pub warmup: bool,
    /// The position on the unconstrained space.
    pub position: &'a [f64],
    pub stats: &'a DrawStats,
}

/// Per-run inputs that are not configuration: all optional, `Default` is "none".
#[derive(Clone, Copy, Default)]
pub struct RunControl<'a> {
    /// Initial unconstrained positions by chain index; a missing or `None` entry means a random
    /// initialisation.
    pub initial_positions: &'a [Option<Vec<f64>>],
    /// Checked every iteration; when set, each chain stops and returns what it has, marked
    /// `interrupted`.
    pub stop: Option<&'a AtomicBool>,
    /// Iterations completed (warmup included), by chain index; needs one counter per chain.
    pub progress: Option<&'a [AtomicUsize]>,
    /// Called for every iteration (warmup and draws), e.g. to stream draws to files.
    pub draw_sink: Option<&'a (dyn Fn(&DrawEvent<'_>) + Sync)>,
}

/// What one chain produced.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainOutput {
    pub chain_id: u64,
    pub dim: usize,
    /// Post-warmup draws, unconstrained, row-major: draw `i` is `draws[i*dim..(i+1)*dim]`.
    pub draws: Vec<f64>,
    /// One entry per post-warmup draw.
    pub stats: Vec<DrawStats>,
    /// The step size used after warmup.
    pub step_size: f64,
    /// The inverse metric used after warmup.
    pub metric: AdaptedMetric,
    /// Post-warmup divergent transitions.
    pub divergences: usize,
    /// Post-warmup draws whose tree reached the maximum depth.
    pub max_depth_hits: usize,
    pub warmup_divergences: usize,
    /// True if the stop flag ended the chain early.
    pub interrupted: bool,
    /// Warmup windows whose metric estimate could not be used (e.g. a dense estimate that is
    /// not positive definite); the previous metric was kept for each.
    pub metric_failures: usize,
    pub warmup_seconds: f64,
    pub sampling_seconds: f64,
    /// Warmup iterations actually run: fewer than asked when the gradient-informed warmup saw
    /// its metric and step size settle.
    pub warmup_iterations: usize,
    /// True when warmup ended because the metric and step size settled.
    pub warmup_settled: bool,
    /// The gradient-informed warmup's last linearity check: the share of the gradients'
    /// variance a linear fit on the draws left unexplained (0 for a Gaussian). Above
    /// [`FisherSettings::max_nonlinearity`] the small-model dense correction was not used.
    pub warmup_nonlinearity: Option<f64>,
    /// Log-density gradient evaluations during initialisation and warmup (step-size searches
    /// included), and during sampling.
    pub warmup_gradients: u64,
    pub sampling_gradients: u64,
    /// The chain whose end-of-warmup position this chain was warmed up again from, because its
    /// own log density lay far below that chain's ([`super::stuck`]); `warmup_iterations` and
    /// `warmup_gradients` count both warmups.
    pub restarted_from: Option<u64>,
}

impl ChainOutput {
    pub fn num_draws(&self) -> usize {
        self.stats.len()
    }

    /// Draw `index` (unconstrained).
    pub fn draw(&self, index: usize) -> &[f64] {
        &self.draws[index * self.dim..(index + 1) * self.dim]
    }

    /// All draws of coordinate `coordinate`, in order.
    pub fn coordinate(&self, coordinate: usize) -> Vec<f64> {
        self.draws
            .iter()
            .skip(coordinate)
            .step_by(self.dim.max(1))
            .copied()
            .collect()
    }
}

/// Why a run could not start or continue.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SamplerError {
    #[error(
        "chain {chain_id}: no initial value with a finite log density and gradient after {attempts} attempts (last: {last_error})"
    )]
    Initialization {
        chain_id: u64,
        attempts: usize,
        last_error: LogDensityError,
    },
    #[error(
        "chain {chain_id}: the given initial value has {got} entries, the model has {expected}"
    )]
    InitialValueLength {
        chain_id: u64,
        got: usize,
        expected: usize,
    },
    #[error("chain {chain_id}: the given initial value is not usable: {error}")]
    InitialValue {
        chain_id: u64,
        error: LogDensityError,
    },
    #[error("chain {chain_id}: {error}")]
    StepSize { chain_id: u64, error: StepSizeError },
    #[error("chain {chain_id}: metric adaptation failed: {error}")]
    Metric { chain_id: u64, error: MetricError },
    #[error("invalid sampler settings: {0}")]
    Settings(String),
    /// A Gibbs step could not evaluate a full conditional (its log density is not finite for
    /// every state).
    #[error("chain {chain_id}: a full conditional could not be evaluated: {error}")]
    Conditional {
        chain_id: u64,
        error: LogDensityError,
    },
    #[error(
        "{num_chains} chains of {num_draws} draws of {dim} values would keep more than {limit} numbers in memory: ask for fewer draws (thin them with a larger spacing) or fewer chains"
    )]
    TooManyDraws {
        num_chains: usize,
        num_draws: usize,
        dim: usize,
        limit: usize,
    },
}

/// Runs `settings.num_chains` chains in parallel on the current rayon pool. The result is in
/// chain order; the first failing chain's error is returned if any chain fails.
pub fn sample_chains<D: LogDensity>(
    density: &D,
    settings: &SamplerSettings,
    control: &RunControl<'_>,
) -> Result<Vec<ChainOutput>, SamplerError> {
    check_settings(settings, control)?;
    check_draws_fit(settings.num_chains, settings.num_draws, density.dim())?;
    // The check across chains needs every chain running at once (one thread each, as
    // `run_chains_in_parallel` gives up to 64 chains); it is part of the gradient-informed
    // warmup, and Stan's metric keeps Stan's behaviour.
    let board = (settings.metric.uses_gradients()
        && settings.adapt
        && settings.num_warmup > 0
        && (2..=MAX_THREADED_CHAINS).contains(&settings.num_chains))
    .then(|| WarmupBoard::new(settings.num_chains));
    run_chains_in_parallel(density, settings.num_chains, |density, index| {
        run_chain(density, settings, control, index, board.as_ref())
    })
}

/// Up to this many chains each get a thread of their own; more run on rayon's pool.
const MAX_THREADED_CHAINS: usize = 64;

/// Runs `run(density clone, chain index)` for `num_chains` chains in parallel and returns the
/// results in chain order, or the first failing chain's error. Shared by every kernel.
pub(crate) fn run_chains_in_parallel<D, T, F>(
    density: &D,
    num_chains: usize,
    run: F,
) -> Result<Vec<T>, SamplerError>
where
    D: LogDensity,
    T: Send,
    F: Fn(D, usize) -> Result<T, SamplerError> + Sync,
{
    // Each chain owns a clone (densities keep scratch space), made here so that `D` need not be
    // `Sync`.
    let densities: Vec<D> = (0..num_chains).map(|_| density.clone()).collect();
    let run = &run;
    // One thread per chain (up to a few dozen): with more chains than cores, a pool would run
    // them in waves and leave cores idle at the end; threads share the cores to the last draw.
    // Each chain's stream is its own, so the draws do not depend on how they are scheduled.
    let results: Vec<Result<T, SamplerError>> = if num_chains <= MAX_THREADED_CHAINS {
        std::thread::scope(|scope| {
            let handles: Vec<_> = densities
                .into_iter()
                .enumerate()
                .map(|(index, density)| scope.spawn(move || run(density, index)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        })
    } else {
        densities
            .into_par_iter()
            .enumerate()
            .map(|(index, density)| run(density, index))
            .collect()
    };
    results.into_iter().collect()
}

/// The most numbers the chains may keep in memory together: draws × (dimension + the seven
/// sampler statistics) × chains. 2.5 × 10^8 numbers are 2 GB.
pub const MAX_STORED_DRAW_VALUES: usize = 250_000_000;

/// Refuses a run whose draws would not fit in memory (`MAX_STORED_DRAW_VALUES`), before anything
/// is allocated. Callers may use it to refuse early; `sample_chains` calls it too.
pub fn check_draws_fit(
    num_chains: usize,
    num_draws: usize,
    dim: usize,
) -> Result<(), SamplerError> {
    let values = dim
        .checked_add(7)
        .and_then(|row| row.checked_mul(num_draws))
        .and_then(|per_chain| per_chain.checked_mul(num_chains.max(1)));
    match values {
        Some(values) if values <= MAX_STORED_DRAW_VALUES => Ok(()),
        _ => Err(SamplerError::TooManyDraws {
            num_chains,
            num_draws,
            dim,
            limit: MAX_STORED_DRAW_VALUES,
        }),
    }
}

pub(crate) fn check_settings(
    settings: &SamplerSettings,
    control: &RunControl<'_>,
) -> Result<(), SamplerError> {
    let problem = if !(settings.target_accept > 0.0 && settings.target_accept < 1.0) {
        Some("target_accept must lie strictly between 0 and 1".to_string())
    } else if !(settings.initial_step_size > 0.0 && settings.initial_step_size.is_finite()) {
        Some("initial_step_size must be positive and finite".to_string())
    } else if !(settings.init_radius >= 0.0 && settings.init_radius.is_finite()) {
        Some("init_radius must be non-negative and finite".to_string())
    } else if control
        .progress
        .is_some_and(|counters| counters.len() < settings.num_chains)
    {
        Some("one progress counter per chain is needed".to_string())
    } else {
        None
    };
    match problem {
        Some(message) => Err(SamplerError::Settings(message)),
        None => Ok(()),
    }
}

/// One chain, dispatched once to the monomorphised loop for its metric and kernel.
fn run_chain<D: LogDensity>(
    density: D,
    settings: &SamplerSettings,
    control: &RunControl<'_>,
    index: usize,
    board: Option<&WarmupBoard>,
) -> Result<ChainOutput, SamplerError> {
    let dim = density.dim();
    let max_error = settings.max_energy_error;
    let nuts = || Nuts::new(settings.max_depth, max_error);
    match (settings.kernel, settings.metric) {
        (Kernel::Nuts, MetricKind::Stan) => run_with(
            density,
            DiagonalMetric::identity(dim),
            nuts(),
            settings,
            control,
            index,
            board,
        ),
        (Kernel::Nuts, MetricKind::Dense) => run_with(
            density,
            DenseMetric::identity(dim),
            nuts(),
            settings,
            control,
            index,
            board,
        ),
        (Kernel::Nuts, _) => run_with(
            density,
            LowRankMetric::identity(dim),
            nuts(),
            settings,
            control,
            index,
            board,
        ),
        (Kernel::StaticHmc(length), MetricKind::Stan) => run_with(
            density,
            DiagonalMetric::identity(dim),
            StaticHmc::new(length, max_error),
            settings,
            control,
            index,
            board,
        ),
        (Kernel::StaticHmc(length), MetricKind::Dense) => run_with(
            density,
            DenseMetric::identity(dim),
            StaticHmc::new(length, max_error),
            settings,
            control,
            index,
            board,
        ),
        (Kernel::StaticHmc(length), _) => run_with(
            density,
            LowRankMetric::identity(dim),
            StaticHmc::new(length, max_error),
            settings,
            control,
            index,
            board,
        ),
    }
}

/// One chain with a given metric and kernel (each pair monomorphised once).
fn run_with<D, M, K>(
    density: D,
    metric: M,
    kernel: K,
    settings: &SamplerSettings,
    control: &RunControl<'_>,
    index: usize,
    board: Option<&WarmupBoard>,
) -> Result<ChainOutput, SamplerError>
where
    D: LogDensity,
    M: Metric,
    K: super::hmc::Kernel,
{
    ChainRunner::new(density, metric, kernel, settings, control, index, board).run()
}

/// The random stream of chain `chain_id` under `seed`.
pub fn chain_rng(seed: u64, chain_id: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(chain_id);
    rng
}

/// Finds a starting state: the user's value if given, else uniform(-r, r) draws on the
/// unconstrained space until the log density and its gradient are finite.
pub fn initialize<D: LogDensity, R: rand::Rng + ?Sized>(
    density: &mut D,
    settings: &SamplerSettings,
    user_value: Option<&[f64]>,
    chain_id: u64,
    rng: &mut R,
) -> Result<ChainState, SamplerError> {
    let dim = density.dim();
    let mut state = ChainState {
        position: vec![0.0; dim],
        gradient: vec![0.0; dim],
        log_density: f64::NEG_INFINITY,
    };
    if let Some(value) = user_value {
        if value.len() != dim {
            return Err(SamplerError::InitialValueLength {
                chain_id,
                got: value.len(),
                expected: dim,
            });
        }
        state.position.copy_from_slice(value);
        return match try_point(density, &mut state) {
            Ok(()) => Ok(state),
            Err(error) => Err(SamplerError::InitialValue { chain_id, error }),
        };
    }
    let attempts = settings.max_init_attempts.max(1);
    let mut last_error = LogDensityError::NotFinite {
        term: None,
        term_index: None,
    };
    for _ in 0..attempts {
        for x in state.position.iter_mut() {
            *x = settings.init_radius * (2.0 * rng.random::<f64>() - 1.0);
        }
        match try_point(density, &mut state) {
            Ok(()) => return Ok(state),
            Err(error) => last_error = error,
        }
    }
    Err(SamplerError::Initialization {
        chain_id,
        attempts,
        last_error,
    })
}

/// Evaluates `state.position`; an error unless the value and gradient are finite.
fn try_point<D: LogDensity>(
    density: &mut D,
    state: &mut ChainState,
) -> Result<(), LogDensityError> {
    let value = density.log_density_and_gradient(&state.position, &mut state.gradient)?;
    if value.is_finite() && state.gradient.iter().all(|g| g.is_finite()) {
        state.log_density = value;
        Ok(())
    } else {
        Err(LogDensityError::NotFinite {
            term: None,
            term_index: None,
        })
    }
}

/// A density that counts its gradient evaluations (the cost measure that does not depend on
/// the machine).
#[derive(Clone)]
struct Counted<D> {
    inner: D,
    evaluations: u64,
}

impl<D: LogDensity> LogDensity for Counted<D> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    #[inline]
    fn log_density_and_gradient(
        &mut self,
        position: &[f64],
        gradient: &mut [f64],
    ) -> Result<f64, LogDensityError> {
        self.evaluations += 1;
        self.inner.log_density_and_gradient(position, gradient)
    }
}

/// One chain's moving parts, assembled by generics.
struct ChainRunner<'a, 'c, D, M, K> {
    density: Counted<D>,
    metric: M,
    kernel: K,
    integrator: Leapfrog,
    settings: &'a SamplerSettings,
    control: &'a RunControl<'c>,
    index: usize,
    chain_id: u64,
    board: Option<&'a WarmupBoard>,
    /// The log densities of the last warmup iterations, for the board.
    recent_log_densities: VecDeque<f64>,
}

impl<'a, 'c, D, M, K> ChainRunner<'a, 'c, D, M, K>
where
    D: LogDensity,
    M: Metric,
    K: super::hmc::Kernel,
{
    fn new(
        density: D,
        metric: M,
        kernel: K,
        settings: &'a SamplerSettings,
        control: &'a RunControl<'c>,
        index: usize,
        board: Option<&'a WarmupBoard>,
    ) -> Self {
        ChainRunner {
            density: Counted {
                inner: density,
                evaluations: 0,
            },
            metric,
            kernel,
            integrator: Leapfrog,
            settings,
            control,
            index,
            chain_id: settings.chain_id_offset.wrapping_add(index as u64),
            board,
            recent_log_densities: VecDeque::with_capacity(SUMMARY_ITERATIONS),
        }
    }

    fn stopped(&self) -> bool {
        self.control
            .stop
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }

    fn run(mut self) -> Result<ChainOutput, SamplerError> {
        let settings = self.settings;
        let chain_id = self.chain_id;
        let dim = self.density.dim();
        let mut rng = chain_rng(settings.seed, chain_id);
        // Taken first, so that a chain failing anywhere before its post still releases the rest.
        let ticket = self.board.map(|board| board.ticket(self.index));
        let fresh_metric = self.metric.clone();
        let user_value = self
            .control
            .initial_positions
            .get(self.index)
            .and_then(|value| value.as_deref());
        let mut state = initialize(&mut self.density, settings, user_value, chain_id, &mut rng)?;
        let mut output = ChainOutput {
            chain_id,
            dim,
            draws: Vec::with_capacity(settings.num_draws * dim),
            stats: Vec::with_capacity(settings.num_draws),
            step_size: settings.initial_step_size,
            metric: self.metric.to_adapted(),
            divergences: 0,
            max_depth_hits: 0,
            warmup_divergences: 0,
            interrupted: false,
            metric_failures: 0,
            warmup_seconds: 0.0,
            sampling_seconds: 0.0,
            warmup_iterations: 0,
            warmup_settled: false,
            warmup_nonlinearity: None,
            warmup_gradients: 0,
            sampling_gradients: 0,
            restarted_from: None,
        };

        let warmup_start = Instant::now();
        let mut step_size = if settings.metric.uses_gradients() && settings.adapt {
            self.warmup_from_gradients(&mut state, &mut rng, &mut output)?
        } else {
            self.warmup_in_windows(&mut state, &mut rng, &mut output)?
        };
        if let Some(ticket) = ticket {
            let log_densities: Vec<f64> = self.recent_log_densities.iter().copied().collect();
            let summary = (!output.interrupted)
                .then(|| WarmupSummary::from_log_densities(&log_densities, &state.position))
                .flatten();
            if let Some((source, position)) = ticket.post_and_wait(summary)
                && !self.stopped()
            {
                // Warm up afresh from the healthy chain's position: its metric and step size
                // belong to that chain's stream of draws, this chain learns its own.
                let first_iterations = output.warmup_iterations;
                self.metric = fresh_metric;
                state.position.copy_from_slice(&position);
                try_point(&mut self.density, &mut state)
                    .map_err(|error| SamplerError::InitialValue { chain_id, error })?;
                step_size = self.warmup_from_gradients(&mut state, &mut rng, &mut output)?;
                output.warmup_iterations += first_iterations;
                output.restarted_from = Some(settings.chain_id_offset.wrapping_add(source as u64));
            }
        }
        output.warmup_seconds = warmup_start.elapsed().as_secs_f64();
        output.warmup_gradients = self.density.evaluations;
        output.step_size = step_size;
        output.metric = self.metric.to_adapted();
        if output.interrupted {
            return Ok(output);
        }

        let sampling_start = Instant::now();
        for draw in 0..settings.num_draws {
            if self.stopped() {
                output.interrupted = true;
                break;
            }
            let transition = self.kernel.transition_until(
                &mut self.density,
                &self.metric,
                &mut self.integrator,
                step_size,
                &mut state,
                &mut rng,
                self.control.stop,
            );
            if self.stopped() {
                // Cut short inside its trajectory: not a draw from the kernel, so not kept.
                output.interrupted = true;
                break;
            }
            let stats = self.report(
                settings.num_warmup + draw,
                false,
                &state,
                &transition,
                step_size,
            );
            output.divergences += usize::from(transition.divergent);
            let hit_max_depth = matches!(settings.kernel, Kernel::Nuts)
                && transition.tree_depth >= settings.max_depth;
            output.max_depth_hits += usize::from(hit_max_depth);
            output.draws.extend_from_slice(&state.position);
            output.stats.push(stats);
        }
        output.sampling_seconds = sampling_start.elapsed().as_secs_f64();
        output.sampling_gradients = self.density.evaluations - output.warmup_gradients;
        Ok(output)
    }

    /// One warmup transition; `None` when the stop flag cut it short (the caller stops).
    fn warmup_transition<R: rand::Rng + ?Sized>(
        &mut self,
        iteration: usize,
        step_size: f64,
        state: &mut ChainState,
        rng: &mut R,
        output: &mut ChainOutput,
    ) -> Option<super::hmc::TransitionStats> {
        if self.stopped() {
            output.interrupted = true;
            return None;
        }
        let transition = self.kernel.transition_until(
            &mut self.density,
            &self.metric,
            &mut self.integrator,
            step_size,
            state,
            rng,
            self.control.stop,
        );
        if self.stopped() {
            // Cut short inside its trajectory: not a draw from the kernel, so not kept.
            output.interrupted = true;
            return None;
        }
        output.warmup_divergences += usize::from(transition.divergent);
        output.warmup_iterations = iteration + 1;
        if self.recent_log_densities.len() == SUMMARY_ITERATIONS {
            self.recent_log_densities.pop_front();
        }
        self.recent_log_densities.push_back(state.log_density);
        self.report(iteration, true, state, &transition, step_size);
        Some(transition)
    }

    /// Stan's warmup: dual averaging of the step size, and the metric re-estimated from the
    /// positions of each slow window. Returns the step size to sample with.
    fn warmup_in_windows(
        &mut self,
        state: &mut ChainState,
        rng: &mut ChaCha8Rng,
        output: &mut ChainOutput,
    ) -> Result<f64, SamplerError> {
        let settings = self.settings;
        let chain_id = self.chain_id;
        let step_size_error = |error| SamplerError::StepSize { chain_id, error };
        let mut scratch = PhasePoint::new(state.position.len());
        let mut step_size = initial_step_size(
            &mut self.density,
            &self.metric,
            &mut self.integrator,
            state,
            settings.initial_step_size,
            &mut scratch,
            rng,
        )
        .map_err(step_size_error)?;
        let mut dual_averaging = DualAveraging::new(
            settings.dual_averaging,
            settings.target_accept,
            (10.0 * settings.initial_step_size).ln(),
        );
        let mut schedule = WindowSchedule::new(settings.num_warmup, settings.windows);
        let mut estimator = self.metric.estimator();
        for iteration in 0..settings.num_warmup {
            let Some(transition) = self.warmup_transition(iteration, step_size, state, rng, output)
            else {
                break;
            };
            if !settings.adapt {
                continue;
            }
            step_size = dual_averaging.learn(transition.accept_stat);
            if schedule.in_window() {
                estimator.add_sample(&state.position);
            }
            if schedule.at_window_end() {
                // A failed estimate (a dense covariance that is not positive definite, say)
                // leaves the metric as it was: the run goes on and the driver warns.
                if !adapt_or_keep(&mut self.metric, &estimator) {
                    output.metric_failures += 1;
                }
                estimator.restart();
                step_size = initial_step_size(
                    &mut self.density,
                    &self.metric,
                    &mut self.integrator,
                    state,
                    step_size,
                    &mut scratch,
                    rng,
                )
                .map_err(step_size_error)?;
                dual_averaging.set_mu((10.0 * step_size).ln());
                dual_averaging.restart();
            }
            schedule.advance();
        }
        if settings.adapt
            && settings.num_warmup > 0
            && !output.interrupted
            && let Some(final_step) = dual_averaging.final_step_size()
        {
            step_size = final_step;
        }
        Ok(step_size)
    }

    /// The gradient-informed warmup ([`super::fisher`]): the metric starts from the gradient at
    /// the initial point, follows the draws and gradients of short windows, and is frozen once
    /// it has settled; a final window tunes the step size alone. Returns the step size.
    fn warmup_from_gradients(
        &mut self,
        state: &mut ChainState,
        rng: &mut ChaCha8Rng,
        output: &mut ChainOutput,
    ) -> Result<f64, SamplerError> {
        let settings = self.settings;
        let chain_id = self.chain_id;
        let step_size_error = |error| SamplerError::StepSize { chain_id, error };
        let dim = state.position.len();
        let fisher_settings = FisherSettings {
            low_rank: settings.metric != MetricKind::Diagonal,
            well_determined_cutoff: match settings.metric {
                MetricKind::Auto => FisherSettings::default().well_determined_cutoff,
                _ => None,
            },
            ..FisherSettings::default()
        };
        let mut adaptation = FisherAdaptation::new(settings.num_warmup, dim, fisher_settings);
        if settings.num_warmup > 0
            && let Some(metric) = self.metric.as_low_rank_mut()
        {
            *metric = LowRankMetric::from_gradient(&state.gradient);
        }
        let mut scratch = PhasePoint::new(dim);
        let mut step_size = initial_step_size(
            &mut self.density,
            &self.metric,
            &mut self.integrator,
            state,
            settings.initial_step_size,
            &mut scratch,
            rng,
        )
        .map_err(step_size_error)?;
        let mut dual_averaging = DualAveraging::new(
            settings.dual_averaging,
            settings.target_accept,
            (10.0 * step_size).ln(),
        );
        let mut last_searched = self.metric.as_low_rank_mut().map(|m| m.clone());
        for iteration in 0..settings.num_warmup {
            let Some(transition) = self.warmup_transition(iteration, step_size, state, rng, output)
            else {
                break;
            };
            step_size = dual_averaging.learn(transition.accept_stat);
            let Some(metric) = self.metric.as_low_rank_mut() else {
                continue;
            };
            let event = adaptation.observe(
                &state.position,
                &state.gradient,
                metric,
                step_size,
                dual_averaging.final_step_size(),
            );
            match event {
                WarmupEvent::Nothing => {}
                WarmupEvent::FirstUpdate | WarmupEvent::FinalWindow | WarmupEvent::Restart => {
                    // A new metric needs a new scale of step: search from the current one and
                    // restart the averaging around it, as Stan does after each window.
                    match initial_step_size(
                        &mut self.density,
                        &self.metric,
                        &mut self.integrator,
                        state,
                        step_size,
                        &mut scratch,
                        rng,
                    ) {
                        Ok(found) => {
                            step_size = found;
                            last_searched = self.metric.as_low_rank_mut().map(|m| m.clone());
                        }
                        // A metric estimated from a window in which the chain hardly moved
                        // (a 1-d posterior early in warmup) can make every step look free, so
                        // the search runs off to "improper": that says more about the window
                        // than the posterior. Go back to the last metric a search accepted.
                        Err(error) => {
                            match (last_searched.clone(), self.metric.as_low_rank_mut()) {
                                (Some(good), Some(metric)) => *metric = good,
                                _ => return Err(step_size_error(error)),
                            }
                        }
                    }
                    dual_averaging.set_mu((10.0 * step_size).ln());
                    dual_averaging.restart();
                }
                WarmupEvent::Done => break,
            }
        }
        output.warmup_settled = adaptation.settled;
        output.warmup_nonlinearity = adaptation.nonlinearity;
        if settings.num_warmup > 0
            && !output.interrupted
            && let Some(final_step) = dual_averaging.final_step_size()
        {
            step_size = final_step;
        }
        Ok(step_size)
    }

    /// Builds the draw's statistics, feeds the sink and bumps the progress counter.
    fn report(
        &self,
        iteration: usize,
        warmup: bool,
        state: &ChainState,
        transition: &super::hmc::TransitionStats,
        step_size: f64,
    ) -> DrawStats {
        let stats = DrawStats {
            lp: state.log_density,
            accept_stat: transition.accept_stat,
            step_size,
            tree_depth: transition.tree_depth,
            n_leapfrog: transition.n_leapfrog,
            divergent: transition.divergent,
            energy: transition.energy,
        };
        if let Some(sink) = self.control.draw_sink {
            sink(&DrawEvent {
                chain_id: self.chain_id,
                chain_index: self.index,
                iteration,
                warmup,
                position: &state.position,
                stats: &stats,
            });
        }
        if let Some(counters) = self.control.progress {
            counters[self.index].store(iteration + 1, Ordering::Relaxed);
        }
        stats
    }
}

/// Adapts `metric` from the window's estimate; if the estimate is unusable (a dense covariance
/// that is not finite or not positive definite), the metric stays as it was and `false` says so.
pub(crate) fn adapt_or_keep<M: Metric>(metric: &mut M, estimator: &M::Estimator) -> bool {
    metric.adapt_from(estimator).is_ok()
}
