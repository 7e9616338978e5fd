//! Gibbs sampling for models with discrete unknowns: each sweep draws the discrete blocks from
//! their full conditionals, then the continuous blocks whose full conditional is a known family
//! (conjugacy) exactly, then moves the remaining continuous coordinates on their conditional
//! density: by one NUTS transition when the model gives the conditional's gradient
//! (NUTS-within-Gibbs), by random-walk Metropolis steps otherwise (Metropolis-within-Gibbs), so
//! no model falls through.
//!
//! The engine never sees the model: it asks a [`ConditionalModel`] for the full conditionals
//! (the discrete ones as a draw, the conjugate ones as the parameters of a [`ConjugatePosterior`])
//! and for the joint log density. Each step leaves the joint posterior invariant: a block drawn
//! from its exact conditional is a Gibbs step, and a symmetric random walk accepted with
//! probability `min(1, p(θ' | rest) / p(θ | rest))` is a Metropolis step on the same
//! conditional (Gelman et al., *Bayesian Data Analysis*, 3rd ed., §11.1–11.3). Whether a
//! conjugate block is drawn exactly or moved by the random walk may depend on the other blocks'
//! current values (the model says per sweep), never on the block's own value, so the kernel stays
//! valid.
//!
//! When the model can also sum the discrete unknowns out
//! ([`ConditionalModel::marginal_log_density`]), the random walk targets that marginal and the
//! discrete blocks are drawn right after it: the pair is a draw from the joint conditional of
//! the two (a partially collapsed Gibbs sampler; van Dyk and Park 2008, JASA 103:790), so the
//! continuous unknowns are not held back by the current discrete values.
//!
//! The random walk's scale follows the Robbins–Monro rule of [`super::metropolis`] during warmup
//! (toward 0.234 acceptance, 0.44 for one coordinate) and its per-coordinate shape is the
//! standard deviation in each slow warmup window; both freeze after warmup. NUTS on the block
//! adapts as Stan does, on the block alone: the step size by dual averaging toward
//! `target_accept`, the diagonal metric from the same warmup windows, the initial step size by
//! the doubling heuristic after each window. A NUTS transition leaves the block's conditional
//! invariant whatever the other blocks' values are, so the sweep stays a valid Gibbs kernel
//! (Hoffman and Gelman 2014; the within-Gibbs use as in PyMC's compound steps).
//!
//! Draws reach the caller as for HMC ([`DrawEvent`]): the position is the continuous
//! coordinates (unconstrained) followed by the discrete values as numbers; the statistics carry
//! `lp` (the joint log density), `accept_stat` (the mean acceptance probability of the sweep's
//! random-walk steps, 1 when every continuous block was drawn exactly; with NUTS the
//! transition's acceptance statistic), `step_size` (the random walk's overall scale, or NUTS'
//! step size), `n_leapfrog` (the number of random-walk steps, or NUTS' leapfrog steps) and
//! `tree_depth` (NUTS' tree depth, else 0).

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::time::Instant;

use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};

use super::SamplerSettings;
use super::adapt::{DualAveraging, WelfordVariance, WindowSchedule, initial_step_size};
use super::chains::{ChainOutput, DrawEvent, DrawStats, RunControl, SamplerError, chain_rng};
use super::hmc::integrator::Leapfrog;
use super::hmc::metric::{AdaptedMetric, DiagonalMetric, MetricEstimator};
use super::hmc::nuts::Nuts;
use super::hmc::{ChainState, Kernel, PhasePoint, TransitionStats};
use crate::density::{LogDensity, LogDensityError};

/// The full conditional of a continuous block that has a closed form, on the constrained scale.
/// Vectors hold one entry per element of the block (elements independent given the rest).
#[derive(Clone, Debug, PartialEq)]
pub enum ConjugatePosterior {
    /// `Gamma(shape, rate)` per element (gamma–Poisson, gamma–exponential, a normal's
    /// precision).
    Gamma { shape: Vec<f64>, rate: Vec<f64> },
    /// `InvGamma(shape, scale)` per element (a normal's variance: normal–inverse-gamma).
    InverseGamma { shape: Vec<f64>, scale: Vec<f64> },
    /// `Normal(mean, sd)` per element (normal–normal with known scale).
    Normal { mean: Vec<f64>, sd: Vec<f64> },
    /// `Beta(a, b)` per element (beta–Bernoulli, beta–binomial).
    Beta { a: Vec<f64>, b: Vec<f64> },
    /// One `Dirichlet` per row of `categories` concentrations, row-major (Dirichlet–categorical).
    Dirichlet {
        concentrations: Vec<f64>,
        categories: usize,
    },
}

impl ConjugatePosterior {
    /// One draw, flat row-major, or `None` when a parameter is not valid (not finite, not
    /// positive where it must be).
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<Vec<f64>> {
        match self {
            ConjugatePosterior::Gamma { shape, rate } => shape
                .iter()
                .zip(rate)
                .map(|(&shape, &rate)| Some(standard_gamma(shape, rng)? / positive(rate)?))
                .collect(),
            ConjugatePosterior::InverseGamma { shape, scale } => shape
                .iter()
                .zip(scale)
                .map(|(&shape, &scale)| {
                    let value = positive(scale)? / standard_gamma(shape, rng)?;
                    value.is_finite().then_some(value)
                })
                .collect(),
            ConjugatePosterior::Normal { mean, sd } => mean
                .iter()
                .zip(sd)
                .map(|(&mean, &sd)| {
                    let z: f64 = rng.sample(StandardNormal);
                    let value = mean + positive(sd)? * z;
                    value.is_finite().then_some(value)
                })
                .collect(),
            ConjugatePosterior::Beta { a, b } => a
                .iter()
                .zip(b)
                .map(|(&a, &b)| {
                    let x = standard_gamma(a, rng)?;
                    let y = standard_gamma(b, rng)?;
                    let value = x / (x + y);
                    // Both gammas can underflow to 0 for tiny shapes; the mean is the fair choice.
                    Some(if value.is_finite() {
                        value
                    } else {
                        a / (a + b)
                    })
                })
                .collect(),
            ConjugatePosterior::Dirichlet {
                concentrations,
                categories,
            } => {
                if *categories == 0 || !concentrations.len().is_multiple_of(*categories) {
                    return None;
                }
                let mut out = Vec::with_capacity(concentrations.len());
                for row in concentrations.chunks(*categories) {
                    let draws: Option<Vec<f64>> =
                        row.iter().map(|&a| standard_gamma(a, rng)).collect();
                    let draws = draws?;
                    let total: f64 = draws.iter().sum();
                    if total > 0.0 && total.is_finite() {
                        out.extend(draws.iter().map(|g| g / total));
                    } else {
                        let alpha: f64 = row.iter().sum();
                        out.extend(row.iter().map(|a| a / alpha));
                    }
                }
                Some(out)
            }
        }
    }
}

fn positive(x: f64) -> Option<f64> {
    (x > 0.0 && x.is_finite()).then_some(x)
}

/// A `Gamma(shape, 1)` variate by Marsaglia and Tsang (2000); shapes below 1 by the boost
/// `G(a) = G(a + 1) · U^(1/a)`. `None` for a shape that is not positive and finite.
pub fn standard_gamma<R: Rng + ?Sized>(shape: f64, rng: &mut R) -> Option<f64> {
    let shape = positive(shape)?;
    if shape < 1.0 {
        let boosted = standard_gamma(shape + 1.0, rng)?;
        let u: f64 = rng.random::<f64>();
        return Some(boosted * u.powf(1.0 / shape));
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x: f64 = rng.sample(StandardNormal);
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u: f64 = rng.random::<f64>();
        if u < 1.0 - 0.0331 * x.powi(4) || u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
            return Some(d * v);
        }
    }
}

/// What a Gibbs sampler needs from a model: full conditionals and the joint log density. The
/// continuous coordinates are unconstrained (as for [`crate::LogDensity`]); the discrete ones
/// are integer values.
pub trait ConditionalModel: Clone + Send {
    fn continuous_dim(&self) -> usize;
    fn discrete_dim(&self) -> usize;
    /// Valid discrete values to start from (the sampler then draws them from their conditionals).
    fn default_discrete(&self) -> Vec<i64>;
    /// Number of discrete blocks, updated in order each sweep.
    fn discrete_blocks(&self) -> usize;
    /// Overwrites block `block` of `discrete` with a draw from its full conditional given
    /// `continuous` and the other blocks.
    fn draw_discrete_block<R: Rng + ?Sized>(
        &mut self,
        block: usize,
        continuous: &[f64],
        discrete: &mut [i64],
        rng: &mut R,
    ) -> Result<(), LogDensityError>;
    /// Number of continuous blocks that may have a closed-form full conditional.
    fn conjugate_blocks(&self) -> usize;
    /// The continuous coordinates block `block` occupies.
    fn conjugate_coordinates(&self, block: usize) -> Range<usize>;
    /// The block's full conditional given the rest, or `None` when, at these values of the
    /// other blocks, it is not of the recognised form (the random walk moves it this sweep).
    fn conjugate_posterior(
        &mut self,
        block: usize,
        continuous: &[f64],
        discrete: &[i64],
    ) -> Result<Option<ConjugatePosterior>, LogDensityError>;
    /// Writes the block's constrained values (`ConjugatePosterior::draw`) into `continuous`.
    fn set_conjugate(
        &mut self,
        block: usize,
        constrained: &[f64],
        continuous: &mut [f64],
    ) -> Result<(), LogDensityError>;
    /// The joint log density (unconstrained continuous coordinates, the constraints'
    /// log-Jacobians included), up to a constant.
    fn log_density(&mut self, continuous: &[f64], discrete: &[i64])
    -> Result<f64, LogDensityError>;
    /// The log density of the continuous coordinates with every discrete unknown summed out,
    /// when the model can compute it. Then the random walk targets this marginal and the
    /// discrete blocks are drawn right after it (partially collapsed Gibbs), which mixes far
    /// better when the discrete and continuous unknowns are strongly coupled.
    fn marginal_log_density(
        &mut self,
        _continuous: &[f64],
    ) -> Option<Result<f64, LogDensityError>> {
        None
    }
    /// Called once when warmup ends (at the start when there is none or adaptation is off):
    /// a model that adapts its own discrete moves (a random walk on unbounded integers) freezes
    /// them here, so the sampling phase is a fixed, valid kernel.
    fn end_warmup(&mut self) {}
    /// Whether `marginal_log_density` gives a value.
    fn sums_out_discrete(&self) -> bool {
        false
    }
    /// Whether `log_density_gradient` gives the gradient (the density is differentiable in the
    /// continuous coordinates): then NUTS moves the non-conjugate continuous block.
    fn differentiable(&self) -> bool {
        false
    }
    /// The joint log density given `discrete` (or, with `marginal`, the marginal with the
    /// discrete unknowns summed out) and its gradient in every continuous coordinate, written
    /// into `gradient`; `None` when the model has no gradient.
    fn log_density_gradient(
        &mut self,
        _continuous: &[f64],
        _discrete: &[i64],
        _marginal: bool,
        _gradient: &mut [f64],
    ) -> Option<Result<f64, LogDensityError>> {
        None
    }
}

/// The Gibbs sampler's own settings; size, seed, chains, initialisation and warmup windows come
/// from [`SamplerSettings`].
#[derive(Clone, Debug, PartialEq)]
pub struct GibbsSettings {
    /// Random-walk steps on the continuous coordinates without a closed-form conditional, per
    /// sweep.
    pub random_walk_steps: usize,
    /// Move the continuous coordinates without a closed-form conditional by NUTS when the
    /// model is differentiable ([`ConditionalModel::differentiable`]); `false` keeps the
    /// random walk for every model.
    pub nuts: bool,
}

impl Default for GibbsSettings {
    fn default() -> Self {
        GibbsSettings {
            random_walk_steps: 5,
            nuts: true,
        }
    }
}

/// Whether a Gibbs run moves its non-conjugate continuous block by NUTS.
pub fn uses_nuts<M: ConditionalModel>(model: &M, gibbs: &GibbsSettings) -> bool {
    gibbs.nuts && model.differentiable() && model.continuous_dim() > 0
}

/// One Gibbs chain.
#[derive(Clone, Debug, PartialEq)]
pub struct GibbsChain {
    /// Draws (continuous then discrete coordinates) and per-draw statistics.
    pub output: ChainOutput,
    /// The fraction of post-warmup random-walk proposals accepted (NaN when there were none).
    pub acceptance_rate: f64,
    /// Post-warmup sweeps in which each conjugate block was drawn exactly (the others moved by
    /// the random walk).
    pub conjugate_draws: Vec<usize>,
    /// NUTS' step size after warmup, when NUTS moved the non-conjugate block (else NaN).
    pub nuts_step_size: f64,
    /// Post-warmup NUTS transitions that diverged.
    pub nuts_divergences: usize,
}

/// Runs `settings.num_chains` Gibbs chains in parallel, in chain order. `initial_positions` in
/// `control` give the continuous coordinates only.
pub fn sample_chains_gibbs<M: ConditionalModel>(
    model: &M,
    settings: &SamplerSettings,
    gibbs: &GibbsSettings,
    control: &RunControl<'_>,
) -> Result<Vec<GibbsChain>, SamplerError> {
    if settings.num_chains == 0 {
        return Err(SamplerError::Settings(
            "at least one chain is needed".to_string(),
        ));
    }
    let dim = model.continuous_dim() + model.discrete_dim();
    super::chains::check_draws_fit(settings.num_chains, settings.num_draws, dim)?;
    if model.default_discrete().len() != model.discrete_dim() {
        return Err(SamplerError::Settings(
            "the model's default discrete state has the wrong length".to_string(),
        ));
    }
    let models: Vec<M> = (0..settings.num_chains).map(|_| model.clone()).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = models
            .into_iter()
            .enumerate()
            .map(|(index, model)| {
                scope.spawn(move || GibbsRunner::new(model, settings, gibbs, control, index).run())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

struct GibbsRunner<'a, 'c, M> {
    /// The model, inside the view NUTS sees of it.
    block: FreeBlock<M>,
    settings: &'a SamplerSettings,
    gibbs: &'a GibbsSettings,
    control: &'a RunControl<'c>,
    index: usize,
    chain_id: u64,
    log_scale: f64,
    shape: Vec<f64>,
    /// NUTS on the non-conjugate block, when the model is differentiable.
    nuts: Option<NutsBlock>,
}

/// The non-conjugate continuous coordinates as a [`LogDensity`] of their own: the other
/// continuous coordinates and the discrete values are held at the sweep's current values.
#[derive(Clone)]
struct FreeBlock<M> {
    model: M,
    /// Every continuous coordinate; the free ones are overwritten per evaluation.
    full: Vec<f64>,
    discrete: Vec<i64>,
    /// Which continuous coordinates the block holds, in order.
    indices: Vec<usize>,
    /// Target the marginal with the discrete unknowns summed out (partially collapsed).
    marginal: bool,
    gradient: Vec<f64>,
}

impl<M: ConditionalModel> LogDensity for FreeBlock<M> {
    fn dim(&self) -> usize {
        self.indices.len()
    }

    fn log_density_and_gradient(
        &mut self,
        position: &[f64],
        gradient: &mut [f64],
    ) -> Result<f64, LogDensityError> {
        for (&i, &x) in self.indices.iter().zip(position) {
            self.full[i] = x;
        }
        let value = self
            .model
            .log_density_gradient(
                &self.full,
                &self.discrete,
                self.marginal,
                &mut self.gradient,
            )
            .unwrap_or(Err(LogDensityError::NotFinite {
                term: Some("the model gives no gradient".into()),
                term_index: None,
            }))?;
        for (slot, &i) in gradient.iter_mut().zip(&self.indices) {
            *slot = self.gradient[i];
        }
        Ok(value)
    }
}

/// NUTS' state on the non-conjugate block: the kernel, its adapted step size and metric.
struct NutsBlock {
    kernel: Nuts,
    metric: DiagonalMetric,
    step_size: f64,
    dual_averaging: DualAveraging,
    /// Whether the step size has been initialised by the heuristic.
    started: bool,
    divergences: usize,
}

/// The state of one chain between steps.
struct State {
    continuous: Vec<f64>,
    discrete: Vec<i64>,
    /// The continuous coordinates outside every conjugate block: the random walk's.
    free: Vec<bool>,
}

impl<'a, 'c, M: ConditionalModel> GibbsRunner<'a, 'c, M> {
    fn new(
        model: M,
        settings: &'a SamplerSettings,
        gibbs: &'a GibbsSettings,
        control: &'a RunControl<'c>,
        index: usize,
    ) -> Self {
        let dim = model.continuous_dim();
        let nuts = uses_nuts(&model, gibbs).then(|| NutsBlock {
            kernel: Nuts::new(settings.max_depth, settings.max_energy_error),
            metric: DiagonalMetric::identity(0),
            step_size: settings.initial_step_size,
            dual_averaging: DualAveraging::new(
                settings.dual_averaging,
                settings.target_accept,
                (10.0 * settings.initial_step_size).ln(),
            ),
            started: false,
            divergences: 0,
        });
        GibbsRunner {
            block: FreeBlock {
                model,
                full: vec![0.0; dim],
                discrete: Vec::new(),
                indices: Vec::new(),
                marginal: false,
                gradient: vec![0.0; dim],
            },
            settings,
            gibbs,
            control,
            index,
            chain_id: settings.chain_id_offset.wrapping_add(index as u64),
            log_scale: (2.38 / (dim.max(1) as f64).sqrt()).ln(),
            shape: vec![1.0; dim],
            nuts,
        }
    }

    fn stopped(&self) -> bool {
        self.control
            .stop
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }

    fn run(mut self) -> Result<GibbsChain, SamplerError> {
        let settings = self.settings;
        let chain_id = self.chain_id;
        let continuous_dim = self.block.model.continuous_dim();
        let dim = continuous_dim + self.block.model.discrete_dim();
        let mut rng = chain_rng(settings.seed, chain_id);
        let mut state = self.initialize(&mut rng)?;
        self.block.indices = (0..continuous_dim).filter(|&i| state.free[i]).collect();
        if self.block.indices.is_empty() {
            self.nuts = None;
        }
        if let Some(nuts) = self.nuts.as_mut() {
            nuts.metric = DiagonalMetric::identity(self.block.indices.len());
        }
        let mut schedule = WindowSchedule::new(settings.num_warmup, settings.windows);
        let mut estimator = WelfordVariance::new(continuous_dim);
        const GAIN_OFFSET: usize = 10;
        let mut adaptation_steps = 0usize;
        let mut log_scales: Vec<f64> = Vec::new();
        let mut output = ChainOutput {
            chain_id,
            dim,
            draws: Vec::with_capacity(settings.num_draws * dim),
            stats: Vec::with_capacity(settings.num_draws),
            step_size: self.log_scale.exp(),
            metric: AdaptedMetric::Diagonal(vec![1.0; continuous_dim]),
            divergences: 0,
            max_depth_hits: 0,
            warmup_divergences: 0,
            interrupted: false,
            metric_failures: 0,
            warmup_iterations: 0,
            warmup_settled: false,
            warmup_nonlinearity: None,
            warmup_gradients: 0,
            sampling_gradients: 0,
            restarted_from: None,
            warmup_seconds: 0.0,
            sampling_seconds: 0.0,
        };
        let mut conjugate_draws = vec![0usize; self.block.model.conjugate_blocks()];
        let mut proposed_total = 0usize;
        let mut accepted_total = 0usize;
        let warmup_start = Instant::now();
        let total = settings.num_warmup + settings.num_draws;
        let mut row = vec![0.0; dim];
        for iteration in 0..total {
            if self.stopped() {
                output.interrupted = true;
                break;
            }
            let warmup = iteration < settings.num_warmup;
            if iteration == settings.num_warmup || (iteration == 0 && !settings.adapt) {
                self.block.model.end_warmup();
            }
            if iteration == settings.num_warmup {
                if settings.adapt && !log_scales.is_empty() {
                    let tail = &log_scales[log_scales.len() / 2..];
                    self.log_scale = tail.iter().sum::<f64>() / tail.len().max(1) as f64;
                }
                if settings.adapt
                    && let Some(nuts) = self.nuts.as_mut()
                    && let Some(step_size) = nuts.dual_averaging.final_step_size()
                {
                    nuts.step_size = step_size;
                }
                output.warmup_seconds = warmup_start.elapsed().as_secs_f64();
            }
            let sweep = self
                .sweep(&mut state, &mut rng)
                .map_err(|error| SamplerError::Conditional { chain_id, error })?;
            if !warmup {
                if let Some(nuts) = self.nuts.as_mut() {
                    nuts.divergences += usize::from(sweep.nuts.is_some_and(|t| t.divergent));
                }
                proposed_total += sweep.proposed;
                accepted_total += sweep.accepted;
                for (count, drawn) in conjugate_draws.iter_mut().zip(&sweep.drawn) {
                    *count += usize::from(*drawn);
                }
            }
            if warmup && settings.adapt {
                if let (Some(nuts), Some(transition)) = (self.nuts.as_mut(), sweep.nuts) {
                    nuts.step_size = nuts.dual_averaging.learn(transition.accept_stat);
                }
                if sweep.proposed > 0 {
                    adaptation_steps += 1;
                    let gain = ((GAIN_OFFSET + adaptation_steps) as f64).powf(-0.6);
                    let free = state.free.iter().filter(|f| **f).count();
                    let target = if free == 1 { 0.44 } else { 0.234 };
                    self.log_scale += gain * (sweep.acceptance - target);
                    log_scales.push(self.log_scale);
                }
                if schedule.in_window() {
                    estimator.add_sample(&state.continuous);
                }
                if schedule.at_window_end() && estimator.num_samples() >= 2 {
                    let variances = estimator.regularized_variance();
                    if variances.iter().all(|v| v.is_finite() && *v > 0.0) {
                        let new_shape: Vec<f64> = variances.iter().map(|v| v.sqrt()).collect();
                        let shift = self
                            .shape
                            .iter()
                            .zip(&new_shape)
                            .map(|(old, new)| (old / new).ln())
                            .sum::<f64>()
                            / continuous_dim.max(1) as f64;
                        if !log_scales.is_empty() {
                            let tail = &log_scales[log_scales.len() / 2..];
                            self.log_scale =
                                tail.iter().sum::<f64>() / tail.len().max(1) as f64 + shift;
                        }
                        self.shape = new_shape;
                        if let Some(nuts) = self.nuts.as_mut() {
                            let block: Vec<f64> =
                                self.block.indices.iter().map(|&i| variances[i]).collect();
                            if let Ok(metric) = DiagonalMetric::from_inverse_mass(block) {
                                nuts.metric = metric;
                                // The next transition restarts the step size from the
                                // heuristic under the new metric, as Stan does.
                                nuts.started = false;
                            }
                        }
                        log_scales.clear();
                        adaptation_steps = 0;
                    }
                    estimator.restart();
                }
                schedule.advance();
            }
            row[..continuous_dim].copy_from_slice(&state.continuous);
            for (slot, value) in row[continuous_dim..].iter_mut().zip(&state.discrete) {
                *slot = *value as f64;
            }
            let stats = match (&self.nuts, sweep.nuts) {
                (Some(nuts), Some(transition)) => DrawStats {
                    lp: sweep.log_density,
                    accept_stat: transition.accept_stat,
                    step_size: nuts.step_size,
                    tree_depth: transition.tree_depth,
                    n_leapfrog: transition.n_leapfrog,
                    divergent: transition.divergent,
                    energy: -sweep.log_density,
                },
                _ => DrawStats {
                    lp: sweep.log_density,
                    accept_stat: sweep.acceptance,
                    step_size: self.log_scale.exp(),
                    tree_depth: 0,
                    n_leapfrog: sweep.proposed as u32,
                    divergent: false,
                    energy: -sweep.log_density,
                },
            };
            if let Some(progress) = self.control.progress.and_then(|p| p.get(self.index)) {
                progress.store(iteration + 1, Ordering::Relaxed);
            }
            if let Some(sink) = self.control.draw_sink {
                sink(&DrawEvent {
                    chain_id,
                    chain_index: self.index,
                    iteration,
                    warmup,
                    position: &row,
                    stats: &stats,
                });
            }
            if !warmup {
                output.draws.extend_from_slice(&row);
                output.stats.push(stats);
            }
        }
        if settings.num_draws == 0 || (output.interrupted && output.stats.is_empty()) {
            output.warmup_seconds = warmup_start.elapsed().as_secs_f64();
        } else {
            output.sampling_seconds =
                (warmup_start.elapsed().as_secs_f64() - output.warmup_seconds).max(0.0);
        }
        output.step_size = self.log_scale.exp();
        output.metric = AdaptedMetric::Diagonal(self.shape.iter().map(|s| s * s).collect());
        if let Some(nuts) = &self.nuts {
            output.divergences = nuts.divergences;
        }
        Ok(GibbsChain {
            nuts_step_size: self.nuts.as_ref().map_or(f64::NAN, |n| n.step_size),
            nuts_divergences: self.nuts.as_ref().map_or(0, |n| n.divergences),
            output,
            acceptance_rate: if proposed_total == 0 {
                f64::NAN
            } else {
                accepted_total as f64 / proposed_total as f64
            },
            conjugate_draws,
        })
    }

    /// Uniform draws in `(-init_radius, init_radius)` for the continuous coordinates (or the
    /// user's), the discrete blocks drawn from their conditionals, until the joint log density is
    /// finite.
    fn initialize<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Result<State, SamplerError> {
        let chain_id = self.chain_id;
        let dim = self.block.model.continuous_dim();
        let user_value = self
            .control
            .initial_positions
            .get(self.index)
            .and_then(|value| value.as_deref());
        if let Some(value) = user_value
            && value.len() != dim
        {
            return Err(SamplerError::InitialValueLength {
                chain_id,
                got: value.len(),
                expected: dim,
            });
        }
        let attempts = self.settings.max_init_attempts.max(1);
        let mut last_error = LogDensityError::NotFinite {
            term: None,
            term_index: None,
        };
        for _ in 0..attempts {
            let continuous: Vec<f64> = match user_value {
                Some(value) => value.to_vec(),
                None => (0..dim)
                    .map(|_| self.settings.init_radius * (2.0 * rng.random::<f64>() - 1.0))
                    .collect(),
            };
            let mut discrete = self.block.model.default_discrete();
            let attempt = (|| {
                for block in 0..self.block.model.discrete_blocks() {
                    self.block
                        .model
                        .draw_discrete_block(block, &continuous, &mut discrete, rng)?;
                }
                self.block.model.log_density(&continuous, &discrete)
            })();
            match attempt {
                Ok(lp) if lp.is_finite() => {
                    let mut free = vec![true; dim];
                    for block in 0..self.block.model.conjugate_blocks() {
                        if let Some(slots) =
                            free.get_mut(self.block.model.conjugate_coordinates(block))
                        {
                            slots.fill(false);
                        }
                    }
                    return Ok(State {
                        continuous,
                        discrete,
                        free,
                    });
                }
                Ok(_) => {}
                Err(error) => last_error = error,
            }
            if user_value.is_some() {
                return Err(SamplerError::InitialValue {
                    chain_id,
                    error: last_error,
                });
            }
        }
        Err(SamplerError::Initialization {
            chain_id,
            attempts,
            last_error,
        })
    }

    /// One sweep. With a marginal density (discrete unknowns summed out): random-walk steps on
    /// the non-conjugate continuous coordinates targeting the marginal, then the discrete blocks
    /// (together a draw of both from their joint conditional: a partially collapsed Gibbs
    /// sampler, van Dyk and Park 2008), then the conjugate blocks. Without one: the discrete
    /// blocks, the conjugate blocks, then the random walk on the conditional density. A
    /// conjugate block whose conditional is not of its form at this state gets random-walk
    /// steps on its conditional instead.
    fn sweep<R: Rng + ?Sized>(
        &mut self,
        state: &mut State,
        rng: &mut R,
    ) -> Result<Sweep, LogDensityError> {
        let mut walk = WalkTally::default();
        let mut nuts = None;
        let collapsed = self.block.model.sums_out_discrete();
        if collapsed {
            nuts = self.move_free(state, true, &mut walk, rng)?;
        }
        for block in 0..self.block.model.discrete_blocks() {
            self.block.model.draw_discrete_block(
                block,
                &state.continuous,
                &mut state.discrete,
                rng,
            )?;
        }
        let mut drawn = vec![false; self.block.model.conjugate_blocks()];
        for (block, was_drawn) in drawn.iter_mut().enumerate() {
            let posterior =
                self.block
                    .model
                    .conjugate_posterior(block, &state.continuous, &state.discrete)?;
            if let Some(values) = posterior.and_then(|p| p.draw(rng)) {
                let mut proposal = state.continuous.clone();
                self.block
                    .model
                    .set_conjugate(block, &values, &mut proposal)?;
                // A draw on the boundary of the constraint (a rate that underflowed to 0) has
                // no unconstrained value: the block is moved by the random walk instead.
                if proposal.iter().all(|x| x.is_finite()) {
                    state.continuous = proposal;
                    *was_drawn = true;
                    continue;
                }
            }
            let mut only_block = vec![false; state.continuous.len()];
            if let Some(slots) = only_block.get_mut(self.block.model.conjugate_coordinates(block)) {
                slots.fill(true);
            }
            let mut ignored = WalkTally::default();
            self.random_walk(state, &only_block, false, &mut ignored, rng)?;
        }
        if !collapsed {
            nuts = self.move_free(state, false, &mut walk, rng)?;
        }
        let log_density = self
            .block
            .model
            .log_density(&state.continuous, &state.discrete)?;
        Ok(Sweep {
            log_density,
            acceptance: if walk.proposed == 0 {
                1.0
            } else {
                walk.acceptance_sum / walk.proposed as f64
            },
            proposed: walk.proposed,
            accepted: walk.accepted,
            drawn,
            nuts,
        })
    }

    /// Moves the non-conjugate continuous coordinates on their conditional (or, with
    /// `marginal`, on the marginal with the discrete unknowns summed out): one NUTS transition
    /// when the model is differentiable, else the random walk.
    fn move_free<R: Rng + ?Sized>(
        &mut self,
        state: &mut State,
        marginal: bool,
        walk: &mut WalkTally,
        rng: &mut R,
    ) -> Result<Option<TransitionStats>, LogDensityError> {
        let Some(nuts) = self.nuts.as_mut() else {
            let free = state.free.clone();
            self.random_walk(state, &free, marginal, walk, rng)?;
            return Ok(None);
        };
        let block = &mut self.block;
        block.full.copy_from_slice(&state.continuous);
        block.discrete.clone_from(&state.discrete);
        block.marginal = marginal;
        let position: Vec<f64> = block.indices.iter().map(|&i| state.continuous[i]).collect();
        let mut gradient = vec![0.0; position.len()];
        let log_density = block.log_density_and_gradient(&position, &mut gradient)?;
        if !log_density.is_finite() || gradient.iter().any(|g| !g.is_finite()) {
            return Err(LogDensityError::NotFinite {
                term: None,
                term_index: None,
            });
        }
        let mut chain = ChainState {
            position,
            gradient,
            log_density,
        };
        if !nuts.started {
            let mut scratch = PhasePoint::new(chain.position.len());
            // A failed search (an improper conditional) keeps the step size it had; NUTS'
            // transitions then report the trouble as divergences.
            if let Ok(step_size) = initial_step_size(
                block,
                &nuts.metric,
                &mut Leapfrog,
                &chain,
                nuts.step_size,
                &mut scratch,
                rng,
            ) {
                nuts.step_size = step_size;
            }
            nuts.dual_averaging.set_mu((10.0 * nuts.step_size).ln());
            nuts.dual_averaging.restart();
            nuts.started = true;
        }
        let transition = nuts.kernel.transition(
            block,
            &nuts.metric,
            &mut Leapfrog,
            nuts.step_size,
            &mut chain,
            rng,
        );
        for (&i, &x) in block.indices.iter().zip(&chain.position) {
            state.continuous[i] = x;
        }
        Ok(Some(transition))
    }

    /// `random_walk_steps` symmetric Gaussian proposals on the coordinates marked in `moves`,
    /// accepted by the marginal (`marginal`) or the conditional density given the discrete
    /// state.
    fn random_walk<R: Rng + ?Sized>(
        &mut self,
        state: &mut State,
        moves: &[bool],
        marginal: bool,
        tally: &mut WalkTally,
        rng: &mut R,
    ) -> Result<(), LogDensityError> {
        if !moves.iter().any(|m| *m) {
            return Ok(());
        }
        let density = |model: &mut M, position: &[f64], discrete: &[i64]| {
            if marginal {
                model
                    .marginal_log_density(position)
                    .unwrap_or(Err(LogDensityError::NotFinite {
                        term: None,
                        term_index: None,
                    }))
            } else {
                model.log_density(position, discrete)
            }
        };
        let mut current = density(&mut self.block.model, &state.continuous, &state.discrete)?;
        let scale = self.log_scale.exp();
        let mut proposal = state.continuous.clone();
        for _ in 0..self.gibbs.random_walk_steps {
            for (i, slot) in proposal.iter_mut().enumerate() {
                *slot = if moves[i] {
                    let z: f64 = StandardNormal.sample(rng);
                    state.continuous[i] + scale * self.shape[i] * z
                } else {
                    state.continuous[i]
                };
            }
            let candidate = match density(&mut self.block.model, &proposal, &state.discrete) {
                Ok(lp) if !lp.is_nan() => lp,
                _ => f64::NEG_INFINITY,
            };
            let log_ratio = candidate - current;
            let acceptance = if !candidate.is_finite() {
                0.0
            } else if log_ratio >= 0.0 {
                1.0
            } else {
                log_ratio.exp()
            };
            tally.proposed += 1;
            tally.acceptance_sum += acceptance;
            if acceptance > 0.0 && (acceptance >= 1.0 || rng.random::<f64>() < acceptance) {
                state.continuous.copy_from_slice(&proposal);
                current = candidate;
                tally.accepted += 1;
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct WalkTally {
    proposed: usize,
    accepted: usize,
    acceptance_sum: f64,
}

struct Sweep {
    log_density: f64,
    acceptance: f64,
    proposed: usize,
    accepted: usize,
    drawn: Vec<bool>,
    /// The NUTS transition of the non-conjugate block, when NUTS moved it.
    nuts: Option<TransitionStats>,
}

#[cfg(test)]
mod tests;
