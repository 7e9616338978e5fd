//! Static HMC: a fixed-length leapfrog trajectory and a Metropolis accept/reject of its end point
//! (Neal 2011; Stan's `base_static_hmc`). The length is a fixed integration time, so the number
//! of steps follows the adapted step size, or a fixed number of steps.

use rand::{Rng, RngExt};

use super::integrator::Integrator;
use super::metric::Metric;
use super::{ChainState, Kernel, PhasePoint, TransitionStats};
use crate::density::LogDensity;

/// How long each static trajectory is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TrajectoryLength {
    /// Integrate for this time: `max(1, floor(time / step_size))` steps (Stan's default 2π).
    IntegrationTime(f64),
    /// Always this many leapfrog steps.
    Steps(u32),
}

impl Default for TrajectoryLength {
    fn default() -> Self {
        TrajectoryLength::IntegrationTime(2.0 * std::f64::consts::PI)
    }
}

/// Static HMC with Metropolis correction.
#[derive(Clone, Debug)]
pub struct StaticHmc {
    length: TrajectoryLength,
    max_energy_error: f64,
    point: Option<PhasePoint>,
}

impl StaticHmc {
    pub fn new(length: TrajectoryLength, max_energy_error: f64) -> Self {
        StaticHmc {
            length,
            max_energy_error,
            point: None,
        }
    }

    /// The number of leapfrog steps at this step size (capped so that a tiny step size cannot
    /// stall a chain for ever).
    pub fn steps(&self, step_size: f64) -> u32 {
        match self.length {
            TrajectoryLength::Steps(steps) => steps.max(1),
            TrajectoryLength::IntegrationTime(time) => {
                let steps = (time / step_size).floor();
                if steps.is_nan() || steps < 1.0 {
                    1
                } else {
                    steps.min(f64::from(1u32 << 20)) as u32
                }
            }
        }
    }
}

impl Kernel for StaticHmc {
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
        R: Rng + ?Sized,
    {
        let steps = self.steps(step_size);
        let dim = state.position.len();
        let point = self.point.get_or_insert_with(|| PhasePoint::new(dim));
        point.position.copy_from_slice(&state.position);
        point.gradient.copy_from_slice(&state.gradient);
        point.log_density = state.log_density;
        point.resample_momentum(metric, rng);
        let initial_energy = point.energy();

        let mut divergent = false;
        let mut n_leapfrog = 0;
        for _ in 0..steps {
            integrator.step(density, metric, point, step_size);
            n_leapfrog += 1;
            // Stop early: nothing after a divergence can be accepted.
            if point.energy() - initial_energy > self.max_energy_error {
                divergent = true;
                break;
            }
        }
        let final_energy = point.energy();
        let accept_stat = if divergent {
            0.0
        } else {
            (initial_energy - final_energy).exp().min(1.0)
        };
        let energy = if rng.random::<f64>() < accept_stat {
            state.position.copy_from_slice(&point.position);
            state.gradient.copy_from_slice(&point.gradient);
            state.log_density = point.log_density;
            final_energy
        } else {
            initial_energy
        };
        TransitionStats {
            accept_stat,
            tree_depth: 0,
            n_leapfrog,
            divergent,
            energy,
        }
    }
}
