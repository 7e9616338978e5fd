//! Symplectic integrators of Hamilton's equations. The leapfrog (velocity Verlet) is the only one
//! needed: it is reversible and volume preserving, and its energy error is O(ε²) over a fixed
//! integration time.

use super::PhasePoint;
use super::metric::Metric;
use crate::density::LogDensity;

/// Advances a phase-space point by one step of size `step_size` (negative: backwards in time).
pub trait Integrator: Send {
    /// After the call `point` is fully updated (position, momentum, velocity, gradient, log density,
    /// kinetic energy). If the log density could not be evaluated, `point.log_density` is `-∞`
    /// (so its energy is `+∞`) and the caller treats the step as a divergence.
    fn step<D: LogDensity, M: Metric>(
        &mut self,
        density: &mut D,
        metric: &M,
        point: &mut PhasePoint,
        step_size: f64,
    );
}

/// The leapfrog: half a momentum step, a full position step, half a momentum step.
#[derive(Clone, Copy, Debug, Default)]
pub struct Leapfrog;

impl Integrator for Leapfrog {
    #[inline]
    fn step<D: LogDensity, M: Metric>(
        &mut self,
        density: &mut D,
        metric: &M,
        point: &mut PhasePoint,
        step_size: f64,
    ) {
        let half = 0.5 * step_size;
        // The gradient of the potential is minus the gradient of the log density.
        for (p, g) in point.momentum.iter_mut().zip(&point.gradient) {
            *p += half * g;
        }
        metric.velocity(&point.momentum, &mut point.velocity);
        for (q, v) in point.position.iter_mut().zip(&point.velocity) {
            *q += step_size * v;
        }
        point.log_density = evaluate(density, &point.position, &mut point.gradient);
        for (p, g) in point.momentum.iter_mut().zip(&point.gradient) {
            *p += half * g;
        }
        point.refresh_kinetic(metric);
    }
}

/// The log density at `position` with its gradient; any failure (an `Err`, NaN, `+∞`) becomes
/// `-∞`, which the kernels read as "outside the typical set".
#[inline]
pub fn evaluate<D: LogDensity>(density: &mut D, position: &[f64], gradient: &mut [f64]) -> f64 {
    match density.log_density_and_gradient(position, gradient) {
        Ok(value) if value.is_finite() => value,
        _ => f64::NEG_INFINITY,
    }
}
