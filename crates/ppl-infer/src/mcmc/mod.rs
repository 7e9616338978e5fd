//! MCMC on a [`LogDensity`](crate::LogDensity), run as parallel chains: NUTS and static HMC with
//! Stan's warmup adaptation, and gradient-free random-walk Metropolis.
//!
//! - [`hmc`]: the phase space, metrics, the leapfrog integrator and the two kernels;
//! - [`adapt`]: step-size dual averaging, the initial step-size heuristic, metric windows;
//! - [`fisher`]: the default warmup, which learns the metric from draws and gradients (a
//!   diagonal with a low-rank correction) and stops when it has settled;
//! - [`metropolis`]: random-walk Metropolis with integer coordinates, its scale adapted toward
//!   0.234 acceptance, [`sample_chains_random_walk`];
//! - [`gibbs`]: Gibbs sampling of discrete unknowns from their full conditionals, conjugate
//!   draws and random-walk Metropolis-within-Gibbs for the continuous ones, [`sample_chains_gibbs`];
//! - [`chains`]: initialisation, the warmup/sampling loop of one chain, and [`sample_chains`];
//! - [`stuck`]: the end-of-warmup check across chains that warms a chain up again from another's
//!   position when its log density lies far below theirs.
//!
//! Everything is configured by [`SamplerSettings`]; what a run needs from its caller at run time
//! (initial values, a stop flag, progress counters, a draw sink) is in [`RunControl`].

pub mod adapt;
pub mod chains;
pub mod fisher;
pub mod gibbs;
pub mod hmc;
pub mod metropolis;
pub mod stuck;

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

/// Which metric the chains adapt, and how (`--metric`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MetricKind {
    /// Draws and gradients decide: a diagonal, corrected in the directions where it is wrong
    /// (all of them for a small model, i.e. dense), with warmup ending once it has settled.
    #[default]
    Auto,
    /// The Fisher diagonal alone, same warmup.
    Diagonal,
    /// nutpie's low-rank modified mass matrix (eigenvalue cutoff 100 whatever the window).
    LowRank,
    /// Stan's windowed dense covariance.
    Dense,
    /// Stan's windowed diagonal variance (ppl's default before the gradient-informed warmup).
    Stan,
}

impl MetricKind {
    pub const NAMES: [&'static str; 5] = ["auto", "diag", "low-rank", "dense", "stan"];

    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Auto => "auto",
            MetricKind::Diagonal => "diag",
            MetricKind::LowRank => "low-rank",
            MetricKind::Dense => "dense",
            MetricKind::Stan => "stan",
        }
    }

    pub fn from_name(name: &str) -> Option<MetricKind> {
        match name {
            "auto" => Some(MetricKind::Auto),
            "diag" | "diagonal" => Some(MetricKind::Diagonal),
            "low-rank" | "low_rank" => Some(MetricKind::LowRank),
            "dense" => Some(MetricKind::Dense),
            "stan" => Some(MetricKind::Stan),
            _ => None,
        }
    }

    /// Whether warmup learns from gradients ([`fisher`]) rather than Stan's windows.
    pub fn uses_gradients(self) -> bool {
        matches!(
            self,
            MetricKind::Auto | MetricKind::Diagonal | MetricKind::LowRank
        )
    }
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
    /// The metric and its adaptation.
    pub metric: MetricKind,
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
            metric: MetricKind::Auto,
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
