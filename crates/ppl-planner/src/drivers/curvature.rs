//! The Hessian the Laplace and MAP drivers use: exact (second-order dual numbers through the
//! model, `Tape::exact_hessian`) where it applies, central differences of the reverse-mode
//! gradient where it does not — remembering which, and why, so the run's notes say so.

use ppl_infer::optimize::{DEFAULT_HESSIAN_STEP, OptimizeError, hessian_by_differences};
use ppl_infer::{HessianDensity, LogDensity, LogDensityError};
use ppl_model::tape::Tape;

/// How the last Hessian was computed.
#[derive(Clone, Debug, PartialEq)]
pub enum HessianSource {
    Exact,
    /// Finite differences, because the exact Hessian did not apply (the reason).
    Differences(String),
}

impl HessianSource {
    /// A phrase for the notes: "exact" or "by finite differences of the gradient (why)".
    pub fn describe(&self) -> String {
        match self {
            HessianSource::Exact => "exact (second-order dual numbers)".into(),
            HessianSource::Differences(reason) => {
                format!("by finite differences of the gradient ({reason})")
            }
        }
    }
}

/// A tape whose [`HessianDensity::hessian`] is exact where it can be.
#[derive(Clone)]
pub struct Curvature {
    pub tape: Tape,
    pub source: Option<HessianSource>,
}

impl Curvature {
    pub fn new(tape: Tape) -> Curvature {
        Curvature { tape, source: None }
    }
}

impl LogDensity for Curvature {
    fn dim(&self) -> usize {
        self.tape.dim()
    }

    fn log_density_and_gradient(
        &mut self,
        position: &[f64],
        gradient: &mut [f64],
    ) -> Result<f64, LogDensityError> {
        self.tape.log_density_and_gradient(position, gradient)
    }

    fn log_density(&mut self, position: &[f64]) -> Result<f64, LogDensityError> {
        self.tape.log_density(position)
    }
}

impl HessianDensity for Curvature {
    fn hessian(&mut self, position: &[f64]) -> Result<Vec<f64>, OptimizeError> {
        match self.tape.exact_hessian(position) {
            Ok(hessian) => {
                self.source = Some(HessianSource::Exact);
                Ok(hessian)
            }
            Err(reason) => {
                self.source = Some(HessianSource::Differences(reason.to_string()));
                hessian_by_differences(&mut self.tape, position, DEFAULT_HESSIAN_STEP)
            }
        }
    }
}
