//! The seam to ppl-dist's numerics: the scalar trait, log densities lifted to any first-order dual,
//! and the constraint transforms. Everything this module's callers need from ppl-dist goes
//! through here, so an API change there is absorbed in one place.

use ppl_dist::DistKind;
use ppl_dist::transform::Constraint as Transform;
use ppl_ir::Constraint;
use ppl_syntax::Span;

use super::error::TapeError;

pub use ppl_dist::Real;

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

/// How a variable's constraint is applied: the transform, the size `n` of one object as ppl-dist
/// counts it, and the number of objects (elementwise constraints are one object of every element).
struct Objects {
    transform: Transform,
    n: usize,
    count: usize,
}

impl Objects {
    fn of(constraint: &Constraint, shape: &[usize]) -> Objects {
        let total: usize = shape.iter().product();
        let last = shape.last().copied().unwrap_or(1);
        let transform = match *constraint {
            Constraint::None => Transform::Real,
            Constraint::Bounded { low, high, .. } => match (low.is_finite(), high.is_finite()) {
                (false, false) => Transform::Real,
                (true, false) => Transform::LowerBound(low),
                (false, true) => Transform::UpperBound(high),
                (true, true) => Transform::Interval(low, high),
            },
            Constraint::Simplex => Transform::Simplex,
            Constraint::Ordered => Transform::Ordered,
            Constraint::PositiveOrdered => Transform::PositiveOrdered,
            Constraint::CorrCholesky => Transform::CorrCholesky,
            Constraint::Cov => Transform::Cov,
        };
        let (n, count) = match constraint.object_rank() {
            0 => (total, usize::from(total > 0)),
            _ => {
                let per_object = transform.constrained_len(last);
                (last, total.checked_div(per_object).unwrap_or(0))
            }
        };
        Objects {
            transform,
            n,
            count,
        }
    }

    fn free_len(&self) -> usize {
        self.transform.unconstrained_len(self.n)
    }

    fn value_len(&self) -> usize {
        self.transform.constrained_len(self.n)
    }
}

/// Number of unconstrained coordinates of a variable of this constrained shape.
pub(crate) fn unconstrained_len(constraint: &Constraint, shape: &[usize]) -> usize {
    let objects = Objects::of(constraint, shape);
    objects.count * objects.free_len()
}

/// Checks that the transform exists for this shape (valid bounds, non-empty simplexes), so that
/// evaluation cannot fail later.
pub(crate) fn check_constraint(
    constraint: &Constraint,
    shape: &[usize],
    name: &str,
) -> Result<(), TapeError> {
    let objects = Objects::of(constraint, shape);
    if objects.count == 0 {
        return Ok(());
    }
    let free = vec![0.0; objects.free_len()];
    let mut values = vec![0.0; objects.value_len()];
    objects
        .transform
        .constrain(objects.n, &free, &mut values)
        .map(|_| ())
        .map_err(|error| TapeError::Constraint {
            variable: name.to_string(),
            detail: error.to_string(),
        })
}

/// Constrains a whole variable from its free coordinates, on any scalar type; returns the values
/// and log |J|. NaN values if the transform refuses (excluded by `check_constraint`).
pub(crate) fn constrain<T: Real>(
    constraint: &Constraint,
    shape: &[usize],
    free: &[T],
) -> (Vec<T>, T) {
    let objects = Objects::of(constraint, shape);
    let (free_len, value_len) = (objects.free_len(), objects.value_len());
    let mut values = vec![T::from(0.0); objects.count * value_len];
    let mut log_jacobian = T::from(0.0);
    for index in 0..objects.count {
        let outcome = objects.transform.constrain_generic(
            objects.n,
            &free[index * free_len..(index + 1) * free_len],
            &mut values[index * value_len..(index + 1) * value_len],
        );
        log_jacobian += outcome.unwrap_or(T::from(f64::NAN));
    }
    (values, log_jacobian)
}

/// `constrain` on `f64` into a caller's buffer; returns log |J|.
pub(crate) fn constrain_into(
    constraint: &Constraint,
    shape: &[usize],
    free: &[f64],
    out: &mut [f64],
) -> f64 {
    let objects = Objects::of(constraint, shape);
    let (free_len, value_len) = (objects.free_len(), objects.value_len());
    let mut log_jacobian = 0.0;
    for index in 0..objects.count {
        log_jacobian += objects
            .transform
            .constrain(
                objects.n,
                &free[index * free_len..(index + 1) * free_len],
                &mut out[index * value_len..(index + 1) * value_len],
            )
            .unwrap_or(f64::NAN);
    }
    log_jacobian
}

/// The reverse rule of the transforms: adds `∂/∂u [Σ adjoint · x(u) + log |J(u)|]` to `gradient`.
pub(crate) fn constrain_gradient(
    constraint: &Constraint,
    shape: &[usize],
    free: &[f64],
    adjoint: &[f64],
    gradient: &mut [f64],
) {
    let objects = Objects::of(constraint, shape);
    let (free_len, value_len) = (objects.free_len(), objects.value_len());
    for index in 0..objects.count {
        let free_range = index * free_len..(index + 1) * free_len;
        let outcome = objects.transform.constrain_gradient(
            objects.n,
            &free[free_range.clone()],
            &adjoint[index * value_len..(index + 1) * value_len],
            &mut gradient[free_range.clone()],
        );
        if outcome.is_err() {
            gradient[free_range].fill(f64::NAN);
        }
    }
}

/// The free coordinates of constrained values; an error if they violate the constraint.
pub(crate) fn unconstrain(
    constraint: &Constraint,
    shape: &[usize],
    values: &[f64],
    name: &str,
) -> Result<Vec<f64>, TapeError> {
    let objects = Objects::of(constraint, shape);
    let (free_len, value_len) = (objects.free_len(), objects.value_len());
    let mut free = vec![0.0; objects.count * free_len];
    for index in 0..objects.count {
        objects
            .transform
            .unconstrain(
                objects.n,
                &values[index * value_len..(index + 1) * value_len],
                &mut free[index * free_len..(index + 1) * free_len],
            )
            .map_err(|error| TapeError::Constraint {
                variable: name.to_string(),
                detail: error.to_string(),
            })?;
    }
    Ok(free)
}
