//! Matrix builtins: the Cholesky factor (its own reverse rule, Murray 2016) and the
//! squared-exponential covariance (elementwise nodes on the tape).

use ppl_ir::{Builtin, Expr};
use ppl_syntax::Span;

use super::{Definition, require_rank};
use crate::tape::array::Array;
use crate::tape::error::TapeError;
use crate::tape::functions::{BinaryFn, UnaryFn};
use crate::tape::graph::{NodeId, Op};
use crate::tape::lower::Builder;
use crate::tape::numerics::Real;

/// The lower Cholesky factor of a symmetric matrix (its lower triangle is read) into a buffer of
/// n × n values; NaN entries when the matrix is not positive definite, which makes the log
/// density non-finite.
pub(crate) fn cholesky_into<T: Real>(matrix: &[T], n: usize, factor: &mut [T]) {
    factor.fill(T::from(0.0));
    for j in 0..n {
        let mut diagonal = matrix[j * n + j];
        for k in 0..j {
            diagonal -= factor[j * n + k] * factor[j * n + k];
        }
        if diagonal.re() <= 0.0 || diagonal.re().is_nan() {
            factor.fill(T::from(f64::NAN));
            return;
        }
        let pivot = diagonal.sqrt();
        factor[j * n + j] = pivot;
        for i in j + 1..n {
            let mut entry = matrix[i * n + j];
            for k in 0..j {
                entry -= factor[i * n + k] * factor[j * n + k];
            }
            factor[i * n + j] = entry / pivot;
        }
    }
}

pub(crate) struct Cholesky;

impl Definition for Cholesky {
    const CASES: &'static [&'static str] =
        &["cholesky(a * M)", "cholesky(a * M + diag(exp(v))) @ v"];

    fn value<T: Real>(&self, args: &[Array<T>], span: Span) -> Result<Array<T>, TapeError> {
        let x = &args[0];
        require_rank(x, 2, "`cholesky`", span)?;
        let n = x.shape[0];
        if x.shape[1] != n {
            return Err(TapeError::ShapeMismatch {
                detail: "`cholesky` needs a square matrix".into(),
                span,
            });
        }
        let mut factor = vec![T::from(0.0); n * n];
        cholesky_into(&x.values, n, &mut factor);
        Ok(Array::new(x.shape.clone(), factor))
    }

    /// Reverse rule of `L = chol(A)` with A read from its lower triangle (Murray 2016,
    /// "Differentiation of the Cholesky decomposition"): with Φ taking the lower triangle and
    /// halving the diagonal, S = L⁻ᵀ Φ(Lᵀ L̄) L⁻¹ and the symmetric gradient is (S + Sᵀ)/2; an
    /// off-diagonal lower entry stands for both of its symmetric positions.
    fn reverse(
        &self,
        args: &[Array<f64>],
        factor: &[f64],
        adjoint: &[f64],
        gradients: &mut [Vec<f64>],
        _: Span,
    ) {
        let n = args[0].shape.first().copied().unwrap_or(0);
        if factor.iter().any(|v| !v.is_finite()) {
            return;
        }
        // P = Φ(Lᵀ L̄), starting from zeros: the solves below need its upper triangle zero.
        let mut p = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let mut sum = 0.0;
                for k in i..n {
                    sum += factor[k * n + i] * adjoint[k * n + j];
                }
                p[i * n + j] = if i == j { 0.5 * sum } else { sum };
            }
        }
        // Sᵀ = L⁻ᵀ (L⁻ᵀ P)ᵀ, by two triangular solves.
        let solve_upper = |matrix: &mut [f64]| {
            // Overwrites each column c of `matrix` with L⁻ᵀ c.
            for column in 0..n {
                for i in (0..n).rev() {
                    let mut value = matrix[i * n + column];
                    for k in i + 1..n {
                        value -= factor[k * n + i] * matrix[k * n + column];
                    }
                    matrix[i * n + column] = value / factor[i * n + i];
                }
            }
        };
        solve_upper(&mut p);
        let mut s = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                s[i * n + j] = p[j * n + i];
            }
        }
        solve_upper(&mut s);
        let target = &mut gradients[0];
        for i in 0..n {
            for j in 0..=i {
                let symmetric = 0.5 * (s[i * n + j] + s[j * n + i]);
                target[i * n + j] += if i == j { symmetric } else { 2.0 * symmetric };
            }
        }
    }
}

/// `alpha² exp(-|x_i - x_j|² / (2 rho²))` for points `x` of shape [N] or [N, D].
pub(crate) struct GpExpQuadCov;

fn points_shape(shape: &[usize], span: Span) -> Result<(usize, usize), TapeError> {
    match shape {
        [n] => Ok((*n, 1)),
        [n, d] => Ok((*n, *d)),
        _ => Err(TapeError::ShapeMismatch {
            detail: "`gp_exp_quad_cov` needs points of shape [N] or [N, D]".into(),
            span,
        }),
    }
}

fn scalars_error(span: Span) -> TapeError {
    TapeError::ShapeMismatch {
        detail: "`gp_exp_quad_cov` needs scalar alpha and rho".into(),
        span,
    }
}

impl Definition for GpExpQuadCov {
    const CASES: &'static [&'static str] = &[
        "gp_exp_quad_cov(x, a, 1.5) @ v",
        "gp_exp_quad_cov(v, 1.2, a) @ x",
    ];

    fn value<T: Real>(&self, args: &[Array<T>], span: Span) -> Result<Array<T>, TapeError> {
        let (x, alpha, rho) = (&args[0], &args[1], &args[2]);
        let (n, d) = points_shape(&x.shape, span)?;
        if alpha.len() != 1 || rho.len() != 1 {
            return Err(scalars_error(span));
        }
        let variance = alpha.values[0] * alpha.values[0];
        let inverse = (rho.values[0] * rho.values[0] * 2.0).recip();
        let mut values = vec![T::from(0.0); n * n];
        for i in 0..n {
            for j in 0..n {
                let mut squared = T::from(0.0);
                for k in 0..d {
                    let difference = x.values[i * d + k] - x.values[j * d + k];
                    squared += difference * difference;
                }
                values[i * n + j] = variance * (-squared * inverse).exp();
            }
        }
        Ok(Array::new(vec![n, n], values))
    }

    /// Elementwise nodes; the squared distances are a constant when the points are data.
    fn lower(
        &self,
        b: &mut Builder<'_>,
        _: Builtin,
        args: &[Expr],
        span: Span,
    ) -> Result<NodeId, TapeError> {
        let points = b.lower(&args[0])?;
        let (n, d) = points_shape(&b.shape(points), span)?;
        let squared_distances = match b.constant_values(points) {
            Some(x) => {
                let mut values = vec![0.0; n * n];
                for i in 0..n {
                    for j in 0..n {
                        values[i * n + j] =
                            (0..d).map(|k| (x[i * d + k] - x[j * d + k]).powi(2)).sum();
                    }
                }
                b.constant(Array::new(vec![n, n], values))
            }
            None => {
                let first = (0..n * n * d).map(|t| (t / (n * d)) * d + t % d).collect();
                let second = (0..n * n * d).map(|t| ((t / d) % n) * d + t % d).collect();
                let left = b.gather(points, vec![n, n, d], first);
                let right = b.gather(points, vec![n, n, d], second);
                let difference = b.binary(BinaryFn::Sub, left, right, span)?;
                let squares = b.unary(UnaryFn::Square, difference);
                let groups = (0..n * n * d).map(|t| t / d).collect();
                b.computed(
                    Op::SumGroups {
                        arg: squares,
                        groups,
                    },
                    vec![n, n],
                )
            }
        };
        let alpha = b.lower(&args[1])?;
        let rho = b.lower(&args[2])?;
        if b.len(alpha) != 1 || b.len(rho) != 1 {
            return Err(scalars_error(span));
        }
        let variance = b.unary(UnaryFn::Square, alpha);
        let rho_squared = b.unary(UnaryFn::Square, rho);
        let denominator = b.scale(rho_squared, 2.0, span)?;
        let ratio = b.binary(BinaryFn::Div, squared_distances, denominator, span)?;
        let negated = b.unary(UnaryFn::Neg, ratio);
        let kernel = b.unary(UnaryFn::Exp, negated);
        b.binary(BinaryFn::Mul, variance, kernel, span)
    }
}
