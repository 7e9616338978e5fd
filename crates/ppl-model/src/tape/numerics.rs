//! The seam to ppl-dist's numerics: the scalar trait, log densities lifted to any first-order dual,
//! and the constraint transforms. Everything this module's callers need from ppl-dist goes
//! through here, so an API change there is absorbed in one place.

use ppl_dist::DistKind;
use ppl_syntax::Span;

use super::error::TapeError;

pub use ppl_dist::Real;

// Stand-in until ppl-dist's constraint transforms land: see `transform`.
pub(crate) use super::transform::{
    constrain, constrain_gradient, constrain_into, unconstrain, unconstrained_len,
};

/// `log p(x | params)` of a scalar kind, on any scalar type.
pub(crate) fn scalar_log_density<T: Real>(
    kind: DistKind,
    x: T,
    params: &[T],
    _span: Span,
) -> Result<T, TapeError> {
    Ok(ppl_dist::scalar_log_density(kind, x, params))
}

/// `log p(x | params)` of one event of a multivariate kind. ppl-dist computes these on `f64` with
/// hand-written gradients; a first-order dual result is assembled from the value and the
/// gradient (exact for first-order duals; higher-order duals are refused).
pub(crate) fn event_log_density<T: Real>(
    kind: DistKind,
    variate: &[T],
    params: &[&[T]],
    span: Span,
) -> Result<T, TapeError> {
    let shape_error = |error: ppl_dist::ShapeError| TapeError::ShapeMismatch {
        detail: error.to_string(),
        span,
    };
    let variate_values: Vec<f64> = variate.iter().map(|v| v.re()).collect();
    let param_values: Vec<Vec<f64>> = params
        .iter()
        .map(|p| p.iter().map(|v| v.re()).collect())
        .collect();
    let param_refs: Vec<&[f64]> = param_values.iter().map(|p| p.as_slice()).collect();
    if T::NDERIV == 0 {
        let value =
            ppl_dist::event_log_density(kind, &variate_values, &param_refs).map_err(shape_error)?;
        return Ok(T::from(value));
    }
    if T::NDERIV > 1 {
        return Err(TapeError::Unsupported {
            what: format!("second derivatives of {kind:?}"),
            span,
        });
    }
    let mut variate_gradient = vec![0.0; variate.len()];
    let mut param_gradients: Vec<Vec<f64>> = params.iter().map(|p| vec![0.0; p.len()]).collect();
    let mut gradient_refs: Vec<&mut [f64]> = param_gradients
        .iter_mut()
        .map(|g| g.as_mut_slice())
        .collect();
    let value = ppl_dist::event_log_density_gradient(
        kind,
        &variate_values,
        &param_refs,
        &mut variate_gradient,
        &mut gradient_refs,
    )
    .map_err(shape_error)?;
    if !value.is_finite() {
        return Ok(T::from(value));
    }
    // First order: f(x0 + h) = f(x0) + Σ ∂f/∂x_i h_i, with h_i the infinitesimal part of x_i.
    let mut result = T::from(value);
    let inputs = variate.iter().zip(&variate_gradient).chain(
        params
            .iter()
            .zip(&param_gradients)
            .flat_map(|(p, g)| p.iter().zip(g)),
    );
    for (input, partial) in inputs {
        if *partial != 0.0 {
            result += (*input - input.re()) * *partial;
        }
    }
    Ok(result)
}

/// `ln Σ e^(x_i)` on any scalar type; `-inf` for no values.
pub(crate) fn log_sum_exp<T: Real>(values: &[T]) -> T {
    ppl_dist::special::log_sum_exp_generic(values)
}
