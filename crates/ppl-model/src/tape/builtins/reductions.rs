//! Builtins that reduce an array (sum, mean, sd, prod, dot, log_sum_exp, min, max, quantile) or
//! normalise along its last axis (softmax, log_softmax).

use ppl_ir::{Builtin, Expr};
use ppl_syntax::Span;

use super::Definition;
use crate::tape::array::Array;
use crate::tape::error::TapeError;
use crate::tape::eval::elementwise_binary;
use crate::tape::functions::{BinaryFn, UnaryFn};
use crate::tape::graph::{NodeId, Op};
use crate::tape::lower::Builder;
use crate::tape::numerics::{self, Real};

fn total<T: Real>(x: &Array<T>) -> T {
    x.values.iter().fold(T::from(0.0), |s, v| s + *v)
}

fn empty(function: &str, span: Span) -> TapeError {
    TapeError::ShapeMismatch {
        detail: format!("`{function}` of an empty array"),
        span,
    }
}

pub(crate) struct Sum;

impl Definition for Sum {
    const CASES: &'static [&'static str] = &["sum(v * x)", "sum(a * M)"];

    fn value<T: Real>(&self, args: &[Array<T>], _: Span) -> Result<Array<T>, TapeError> {
        Ok(Array::scalar(total(&args[0])))
    }

    fn lower(
        &self,
        b: &mut Builder<'_>,
        _: Builtin,
        args: &[Expr],
        _: Span,
    ) -> Result<NodeId, TapeError> {
        let x = b.lower(&args[0])?;
        let groups = vec![0; b.len(x)];
        Ok(b.computed(Op::SumGroups { arg: x, groups }, Vec::new()))
    }
}

pub(crate) struct Mean;

impl Definition for Mean {
    const CASES: &'static [&'static str] = &["mean(v * a)"];

    fn value<T: Real>(&self, args: &[Array<T>], _: Span) -> Result<Array<T>, TapeError> {
        Ok(Array::scalar(total(&args[0]) / args[0].len() as f64))
    }

    fn lower(
        &self,
        b: &mut Builder<'_>,
        _: Builtin,
        args: &[Expr],
        span: Span,
    ) -> Result<NodeId, TapeError> {
        let x = b.lower(&args[0])?;
        let n = b.len(x) as f64;
        let sum = b.sum_all(x);
        b.scale(sum, 1.0 / n, span)
    }
}

pub(crate) struct Sd;

impl Definition for Sd {
    const CASES: &'static [&'static str] = &["sd(cbind(exp(v), x))", "sd(rbind(v * a, x))"];

    fn value<T: Real>(&self, args: &[Array<T>], _: Span) -> Result<Array<T>, TapeError> {
        let x = &args[0];
        let n = x.len() as f64;
        let mean = total(x) / n;
        let squares = x
            .values
            .iter()
            .fold(T::from(0.0), |s, v| s + (*v - mean) * (*v - mean));
        Ok(Array::scalar((squares / (n - 1.0)).sqrt()))
    }

    fn lower(
        &self,
        b: &mut Builder<'_>,
        _: Builtin,
        args: &[Expr],
        span: Span,
    ) -> Result<NodeId, TapeError> {
        let x = b.lower(&args[0])?;
        let n = b.len(x) as f64;
        let sum = b.sum_all(x);
        let mean = b.scale(sum, 1.0 / n, span)?;
        let centred = b.binary(BinaryFn::Sub, x, mean, span)?;
        let squares = b.unary(UnaryFn::Square, centred);
        let total = b.sum_all(squares);
        let variance = b.scale(total, 1.0 / (n - 1.0), span)?;
        Ok(b.unary(UnaryFn::Sqrt, variance))
    }
}

pub(crate) struct Prod;

impl Definition for Prod {
    const CASES: &'static [&'static str] = &["prod(v)", "prod(a + x)"];

    fn value<T: Real>(&self, args: &[Array<T>], _: Span) -> Result<Array<T>, TapeError> {
        Ok(Array::scalar(
            args[0].values.iter().fold(T::from(1.0), |p, v| p * *v),
        ))
    }

    fn reverse(
        &self,
        args: &[Array<f64>],
        _: &[f64],
        adjoint: &[f64],
        gradients: &mut [Vec<f64>],
        _: Span,
    ) {
        // ∂/∂x_i is the product of the others: by division unless zeros are present.
        let x = &args[0].values;
        let zeros = x.iter().filter(|&&v| v == 0.0).count();
        let nonzero_product: f64 = x.iter().filter(|&&v| v != 0.0).product();
        for (slot, &v) in gradients[0].iter_mut().zip(x) {
            let others = match (zeros, v == 0.0) {
                (0, _) => nonzero_product / v,
                (1, true) => nonzero_product,
                _ => 0.0,
            };
            *slot += adjoint[0] * others;
        }
    }
}

pub(crate) struct Dot;

impl Definition for Dot {
    const CASES: &'static [&'static str] = &["dot(v, x)", "dot(v, v)"];

    fn value<T: Real>(&self, args: &[Array<T>], span: Span) -> Result<Array<T>, TapeError> {
        let (x, y) = (&args[0], &args[1]);
        if x.shape != y.shape || x.rank() != 1 {
            return Err(TapeError::ShapeMismatch {
                detail: "`dot` needs two vectors of one length".into(),
                span,
            });
        }
        Ok(Array::scalar(
            x.values
                .iter()
                .zip(&y.values)
                .fold(T::from(0.0), |s, (a, b)| s + *a * *b),
        ))
    }

    fn lower(
        &self,
        b: &mut Builder<'_>,
        _: Builtin,
        args: &[Expr],
        span: Span,
    ) -> Result<NodeId, TapeError> {
        let (x, y) = (b.lower(&args[0])?, b.lower(&args[1])?);
        if b.shape(x) != b.shape(y) || b.shape(x).len() != 1 {
            return Err(TapeError::ShapeMismatch {
                detail: "`dot` needs two vectors of one length".into(),
                span,
            });
        }
        let product = b.binary(BinaryFn::Mul, x, y, span)?;
        Ok(b.sum_all(product))
    }
}

/// Softmax or log-softmax over rows along the last axis.
fn softmax<T: Real>(
    x: &Array<T>,
    log: bool,
    function: &str,
    span: Span,
) -> Result<Array<T>, TapeError> {
    let Some(&last) = x.shape.last() else {
        return Err(TapeError::ShapeMismatch {
            detail: format!("`{function}` needs a vector"),
            span,
        });
    };
    let mut values = Vec::with_capacity(x.len());
    for row in x.values.chunks(last.max(1)) {
        let normaliser = numerics::log_sum_exp(row);
        for v in row {
            let log_p = *v - normaliser;
            values.push(if log { log_p } else { log_p.exp() });
        }
    }
    Ok(Array::new(x.shape.clone(), values))
}

/// The reverse rule of softmax (or log-softmax) rows of length `row` from the output.
fn softmax_reverse(output: &[f64], adjoint: &[f64], row: usize, log: bool, gradient: &mut [f64]) {
    for ((out_row, adjoint_row), target) in output
        .chunks(row)
        .zip(adjoint.chunks(row))
        .zip(gradient.chunks_mut(row))
    {
        if log {
            // y = x - lse(x): x̄_i = ȳ_i - softmax_i Σ ȳ
            let total: f64 = adjoint_row.iter().sum();
            for ((t, y), a) in target.iter_mut().zip(out_row).zip(adjoint_row) {
                *t += a - y.exp() * total;
            }
        } else {
            // y = softmax(x): x̄_i = y_i (ȳ_i - Σ_j ȳ_j y_j)
            let inner: f64 = out_row.iter().zip(adjoint_row).map(|(y, a)| y * a).sum();
            for ((t, y), a) in target.iter_mut().zip(out_row).zip(adjoint_row) {
                *t += y * (a - inner);
            }
        }
    }
}

/// `softmax` and `log_softmax`: one definition, the log a const parameter.
pub(crate) struct SoftmaxOf<const LOG: bool>;

// Named like the other definitions (`definitions::Softmax` in the dispatch table is a value).
#[allow(non_upper_case_globals)]
pub(crate) const Softmax: SoftmaxOf<false> = SoftmaxOf;
#[allow(non_upper_case_globals)]
pub(crate) const LogSoftmax: SoftmaxOf<true> = SoftmaxOf;

impl<const LOG: bool> Definition for SoftmaxOf<LOG> {
    const CASES: &'static [&'static str] = if LOG {
        &["log_softmax(v) * x", "log_softmax(a * M)"]
    } else {
        &["softmax(v) * x", "softmax(a * M)"]
    };

    fn value<T: Real>(&self, args: &[Array<T>], span: Span) -> Result<Array<T>, TapeError> {
        softmax(
            &args[0],
            LOG,
            if LOG { "log_softmax" } else { "softmax" },
            span,
        )
    }

    fn reverse(
        &self,
        args: &[Array<f64>],
        output: &[f64],
        adjoint: &[f64],
        gradients: &mut [Vec<f64>],
        _: Span,
    ) {
        let row = args[0].shape.last().copied().unwrap_or(1).max(1);
        softmax_reverse(output, adjoint, row, LOG, &mut gradients[0]);
    }
}

/// `log_sum_exp(x)` over all elements, or of two arrays elementwise.
pub(crate) struct LogSumExp;

impl Definition for LogSumExp {
    const CASES: &'static [&'static str] =
        &["log_sum_exp(v)", "log_sum_exp(v, x)", "log_sum_exp(a * M)"];

    fn value<T: Real>(&self, args: &[Array<T>], span: Span) -> Result<Array<T>, TapeError> {
        match args {
            [a, b] => elementwise_binary(BinaryFn::LogSumExp, a, b, span),
            _ => Ok(Array::scalar(numerics::log_sum_exp(&args[0].values))),
        }
    }

    fn lower(
        &self,
        b: &mut Builder<'_>,
        _: Builtin,
        args: &[Expr],
        span: Span,
    ) -> Result<NodeId, TapeError> {
        if let [x, y] = args {
            let (x, y) = (b.lower(x)?, b.lower(y)?);
            return b.binary(BinaryFn::LogSumExp, x, y, span);
        }
        let x = b.lower(&args[0])?;
        Ok(b.computed(Op::LogSumExp { arg: x }, Vec::new()))
    }
}

/// The position of the least (or greatest) element, the first on ties.
fn extreme<T: Real>(values: &[T], max: bool) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        let better = if max {
            v.re() > values[best].re()
        } else {
            v.re() < values[best].re()
        };
        if better {
            best = i;
        }
    }
    best
}

/// `min` / `max`: of all elements, or of two arrays elementwise; the gradient goes to the element
/// chosen.
fn extreme_value<T: Real>(args: &[Array<T>], max: bool, span: Span) -> Result<Array<T>, TapeError> {
    let kernel = if max { BinaryFn::Max } else { BinaryFn::Min };
    if let [a, b] = args {
        return elementwise_binary(kernel, a, b, span);
    }
    let values = &args[0].values;
    if values.is_empty() {
        return Err(empty(if max { "max" } else { "min" }, span));
    }
    Ok(Array::scalar(values[extreme(values, max)]))
}

fn extreme_lower(
    b: &mut Builder<'_>,
    function: Builtin,
    args: &[Expr],
    span: Span,
) -> Result<NodeId, TapeError> {
    let kernel = if function == Builtin::Max {
        BinaryFn::Max
    } else {
        BinaryFn::Min
    };
    if let [x, y] = args {
        let (x, y) = (b.lower(x)?, b.lower(y)?);
        return b.binary(kernel, x, y, span);
    }
    b.call_node(function, args, span)
}

fn extreme_reverse(args: &[Array<f64>], adjoint: &[f64], gradients: &mut [Vec<f64>], max: bool) {
    if let (Some(slot), [_]) = (gradients[0].get_mut(extreme(&args[0].values, max)), args) {
        *slot += adjoint[0];
    }
}

/// `min` and `max`: one definition, the direction a const parameter.
pub(crate) struct Extreme<const MAX: bool>;

// Named like the other definitions (`definitions::Min` in the dispatch table is a value).
#[allow(non_upper_case_globals)]
pub(crate) const Min: Extreme<false> = Extreme;
#[allow(non_upper_case_globals)]
pub(crate) const Max: Extreme<true> = Extreme;

impl<const MAX: bool> Definition for Extreme<MAX> {
    const CASES: &'static [&'static str] = if MAX {
        &["max(v)", "max(v, x)"]
    } else {
        &["min(v)", "min(v, x)"]
    };

    fn value<T: Real>(&self, args: &[Array<T>], span: Span) -> Result<Array<T>, TapeError> {
        extreme_value(args, MAX, span)
    }

    fn lower(
        &self,
        b: &mut Builder<'_>,
        function: Builtin,
        args: &[Expr],
        span: Span,
    ) -> Result<NodeId, TapeError> {
        extreme_lower(b, function, args, span)
    }

    fn reverse(
        &self,
        args: &[Array<f64>],
        _: &[f64],
        adjoint: &[f64],
        gradients: &mut [Vec<f64>],
        _: Span,
    ) {
        extreme_reverse(args, adjoint, gradients, MAX);
    }
}

/// `quantile(x, p)`: linear interpolation between order statistics (type 7); the gradient goes
/// to the two order statistics around each quantile (by the default reverse rule).
pub(crate) struct Quantile;

impl Definition for Quantile {
    const CASES: &'static [&'static str] = &["quantile(v, 0.3)", "quantile(v * a, [0.1, 0.9])"];

    fn value<T: Real>(&self, args: &[Array<T>], span: Span) -> Result<Array<T>, TapeError> {
        let mut sorted = args[0].values.clone();
        sorted.sort_by(|a, b| a.re().total_cmp(&b.re()));
        if sorted.is_empty() {
            return Err(empty("quantile", span));
        }
        let last = (sorted.len() - 1) as f64;
        Ok(args[1].map(|p| {
            let position = last * p.re().clamp(0.0, 1.0);
            let low = position.floor() as usize;
            let high = (low + 1).min(sorted.len() - 1);
            let weight = position - low as f64;
            sorted[low] + (sorted[high] - sorted[low]) * weight
        }))
    }
}
