//! The seam between a model and the gradient-based engines.

/// A log density on an unconstrained `dim()`-dimensional space, with its gradient.
///
/// Implementations keep their own scratch space (hence `&mut self`); an engine that runs chains
/// in parallel clones the density once per chain.
pub trait LogDensity: Clone + Send {
    fn dim(&self) -> usize;
    /// Writes the gradient at `position` into `gradient` (length `dim()`) and returns the log
    /// density. A non-finite value is reported as `Ok(f64::NEG_INFINITY)` or an `Err`; engines
    /// treat both as "outside the typical set" (a divergence in HMC, a rejection in Metropolis),
    /// never as a crash.
    fn log_density_and_gradient(
        &mut self,
        position: &[f64],
        gradient: &mut [f64],
    ) -> Result<f64, LogDensityError>;

    /// The log density alone; the default computes and drops the gradient.
    fn log_density(&mut self, position: &[f64]) -> Result<f64, LogDensityError> {
        let mut gradient = vec![0.0; self.dim()];
        self.log_density_and_gradient(position, &mut gradient)
    }
}

/// Why a log density could not be evaluated at a point.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LogDensityError {
    /// The value or gradient is NaN or infinite; `term` says which statement in words, and
    /// `term_index` which term of the model (by its index), when known, so a caller can point
    /// at the statement's text without matching words.
    #[error("the log density is not finite{}", term.as_ref().map(|t| format!(" (at {t})")).unwrap_or_default())]
    NotFinite {
        term: Option<String>,
        term_index: Option<usize>,
    },
}
