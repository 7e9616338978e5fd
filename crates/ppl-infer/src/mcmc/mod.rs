//! MCMC on a [`LogDensity`](crate::LogDensity), run as parallel chains: NUTS and static HMC with
//! Stan's warmup adaptation, and gradient-free random-walk Metropolis.
//!
//! - [`hmc`]: the phase space, metrics, the leapfrog integrator and the two kernels;
//! - [`adapt`]: step-size dual averaging, the initial step-size heuristic, metric windows;
//! - [`metropolis`]: random-walk Metropolis with integer coordinates, its scale adapted toward
//!   0.234 acceptance, [`sample_chains_random_walk`];
//! - [`gibbs`]: Gibbs sampling of discrete unknowns from their full conditionals, conjugate
//!   draws and random-walk Metropolis-within-Gibbs for the continuous ones, [`sample_chains_gibbs`];
//! - [`chains`]: initialisation, the warmup/sampling loop of one chain, and [`sample_chains`].
//!
//! Everything is configured by [`SamplerSettings`]; what a run needs from its caller at run time
//! (initial values, a stop flag, progress counters, a draw sink) is in [`RunControl`].

pub mod adapt;
pub mod chains;
pub mod gibbs;
pub mod hmc;
pub mod metropolis;

pub use adapt::{DualAveragingSettings, StepSizeError, WindowSettings};
pub use chains::{
    ChainOutput, DrawEvent, DrawStats, MAX_STORED_DRAW_VALUES, RunControl, SamplerError,
    check_draws_fit, sample_chains,
};
pub use gibbs::{
    ConditionalModel, ConjugatePosterior, GibbsChain, GibbsSettings, sample_chains_gibbs, uses_nuts,
};
pub use hmc::metric::{AdaptedMetric, MetricError};
pub use hmc::static_hmc::TrajectoryLength;
pub use metropolis::{RandomWalkChain, RandomWalkSettings, sample_chains_random_walk};

/// Which HMC kernel moves the chains.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Kernel {
    /// The No-U-Turn sampler (Stan's default).
    #[default]
    Nuts,
    /// Fixed-length HMC with a Metropolis correction (`--method hmc`).
    StaticHmc(TrajectoryLength),
}

/// Configuration of a sampling run. `Default` gives Stan's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerSettings {
    pub kernel: Kernel,
    /// Warmup (adaptation) iterations per chain; their draws are not kept.
    pub num_warmup: usize,
    /// Post-warmup draws per chain.
    pub num_draws: usize,
    pub num_chains: usize,
    /// Master seed; chain `i` uses the stream `chain_id_offset + i` of a ChaCha8 generator
    /// seeded with it, so results do not depend on threads or scheduling.
    pub seed: u64,
    /// Added to the chain index to pick the random stream (`--chain-id`): chains of one run
    /// split across machines stay independent.
    pub chain_id_offset: u64,
    /// NUTS: at most `2^max_depth` leapfrog steps per draw.
    pub max_depth: u32,
    /// The average acceptance statistic dual averaging aims at (Stan's `adapt_delta`).
    pub target_accept: f64,
    /// Estimate a dense inverse metric (full covariance) instead of a diagonal one.
    pub dense_metric: bool,
    /// Adapt the step size and metric during warmup; without it the step size comes from the
    /// heuristic alone and the metric stays the identity.
    pub adapt: bool,
    /// Where the step-size search starts; also sets dual averaging's shrinkage point
    /// `mu = log(10 · initial_step_size)`, as in Stan.
    pub initial_step_size: f64,
    /// An energy error above this marks a divergence (Stan: 1000).
    pub max_energy_error: f64,
    /// Half-width of the uniform box initial positions are drawn from (Stan: 2).
    pub init_radius: f64,
    /// Random initialisations tried per chain before giving up (Stan: 100).
    pub max_init_attempts: usize,
    pub dual_averaging: DualAveragingSettings,
    pub windows: WindowSettings,
}

impl Default for SamplerSettings {
    fn default() -> Self {
        SamplerSettings {
            kernel: Kernel::Nuts,
            num_warmup: 1000,
            num_draws: 1000,
            num_chains: 4,
            seed: 0,
            chain_id_offset: 0,
            max_depth: 10,
            target_accept: 0.8,
            dense_metric: false,
            adapt: true,
            initial_step_size: 1.0,
            max_energy_error: 1000.0,
            init_radius: 2.0,
            max_init_attempts: 100,
            dual_averaging: DualAveragingSettings::default(),
            windows: WindowSettings::default(),
        }
    }
}

#[cfg(test)]
pub(crate) mod test_densities;
#[cfg(test)]
mod tests;
