//! Hamiltonian Monte Carlo: the phase-space state, and the kernels built from a metric
//! ([`metric`]), an integrator ([`integrator`]) and a trajectory rule ([`nuts`], [`static_hmc`]).
//!
//! The pieces are assembled by generics, so the inner loops are monomorphised over the density and
//! the metric: no dynamic dispatch and no allocation per leapfrog step. Numerical failure is data:
//! a non-finite log density during a trajectory is a divergence, never an error (Betancourt 2017,
//! §6.2; Stan's `base_hamiltonian`).

pub mod integrator;
pub mod metric;
pub mod nuts;
pub mod static_hmc;

use rand::Rng;

use crate::density::LogDensity;
use integrator::Integrator;
use metric::Metric;

/// A point in phase space, with everything derived from it cached so that no quantity is
/// computed twice along a trajectory.
#[derive(Clone, Debug)]
pub struct PhasePoint {
    pub position: Vec<f64>,
    pub momentum: Vec<f64>,
    /// `M⁻¹ p`, the time derivative of the position (Stan's `dtau_dp`, "p sharp").
    pub velocity: Vec<f64>,
    /// Gradient of the log density at `position`.
    pub gradient: Vec<f64>,
    /// Log density at `position`; `-∞` when it could not be evaluated.
    pub log_density: f64,
    pub kinetic_energy: f64,
}

impl PhasePoint {
    pub fn new(dim: usize) -> Self {
        PhasePoint {
            position: vec![0.0; dim],
            momentum: vec![0.0; dim],
            velocity: vec![0.0; dim],
            gradient: vec![0.0; dim],
            log_density: f64::NEG_INFINITY,
            kinetic_energy: 0.0,
        }
    }

    /// The Hamiltonian `-log p(q) + K(p)`; NaN is mapped to `+∞` so that it reads as a
    /// divergence.
    pub fn energy(&self) -> f64 {
        let energy = -self.log_density + self.kinetic_energy;
        if energy.is_nan() {
            f64::INFINITY
        } else {
            energy
        }
    }

    /// Copies every field without reallocating.
    pub fn copy_from(&mut self, other: &PhasePoint) {
        self.position.copy_from_slice(&other.position);
        self.momentum.copy_from_slice(&other.momentum);
        self.velocity.copy_from_slice(&other.velocity);
        self.gradient.copy_from_slice(&other.gradient);
        self.log_density = other.log_density;
        self.kinetic_energy = other.kinetic_energy;
    }

    /// Draws a fresh momentum from the metric's Gaussian and updates the cached kinetic terms.
    pub fn resample_momentum<M: Metric, R: Rng + ?Sized>(&mut self, metric: &M, rng: &mut R) {
        metric.sample_momentum(rng, &mut self.momentum);
        self.refresh_kinetic(metric);
    }

    /// Recomputes `velocity` and `kinetic_energy` from `momentum`.
    pub fn refresh_kinetic<M: Metric>(&mut self, metric: &M) {
        metric.velocity(&self.momentum, &mut self.velocity);
        self.kinetic_energy = 0.5 * dot(&self.momentum, &self.velocity);
    }
}

/// The current position of a chain with its log density and gradient: what a transition starts
/// from and returns.
#[derive(Clone, Debug)]
pub struct ChainState {
    pub position: Vec<f64>,
    pub gradient: Vec<f64>,
    pub log_density: f64,
}

/// What one transition reports (Stan's sampler columns, less the step size which the caller
/// knows).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransitionStats {
    /// Average Metropolis acceptance probability over the trajectory (what dual averaging
    /// targets).
    pub accept_stat: f64,
    /// NUTS: the depth of the final tree; static HMC: 0.
    pub tree_depth: u32,
    pub n_leapfrog: u32,
    pub divergent: bool,
    /// The Hamiltonian at the selected point.
    pub energy: f64,
}

/// One Markov transition of an HMC-family kernel. Implementations keep their scratch space
/// between calls.
pub trait Kernel: Send {
    /// Moves `state` to the next draw, with step size `step_size` and metric `metric`.
    fn transition<D, M, I, R>(
        &mut self,
        density: &mut D,
        metric: &M,
        integrator: &mut I,
        step_size: f64,
        state: &mut ChainState,
        rng: &mut R,
    ) -> TransitionStats
    where
        D: LogDensity,
        M: Metric,
        I: Integrator,
        R: Rng + ?Sized;

    /// [`Kernel::transition`] that may end early when `stop` is set; the caller then discards
    /// the result. Kernels whose transitions are short need not look at the flag.
    #[allow(clippy::too_many_arguments)]
    fn transition_until<D, M, I, R>(
        &mut self,
        density: &mut D,
        metric: &M,
        integrator: &mut I,
        step_size: f64,
        state: &mut ChainState,
        rng: &mut R,
        stop: Option<&std::sync::atomic::AtomicBool>,
    ) -> TransitionStats
    where
        D: LogDensity,
        M: Metric,
        I: Integrator,
        R: Rng + ?Sized,
    {
        let _ = stop;
        self.transition(density, metric, integrator, step_size, state, rng)
    }
}

#[inline]
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
