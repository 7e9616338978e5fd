//! Builtins that build arrays from sizes (ones, zeros, fill), read sizes (rows, cols), move
//! elements (transpose, reverse, diag, cbind, rbind, fill: one gather on the tape, whose reverse
//! rule is a scatter-add) or sum along one axis of a matrix (rowsum, colsum, colmean).

use ppl_ir::{Builtin, Expr};
use ppl_syntax::Span;

use super::{Definition, require_rank};
use crate::tape::array::Array;
use crate::tape::error::TapeError;
use crate::tape::graph::{NodeId, Op};
use crate::tape::lower::Builder;
use crate::tape::numerics::Real;

fn int_argument<T: Real>(value: &Array<T>, span: Span) -> Result<usize, TapeError> {
    let n = value.values.first().map(|v| v.re().round()).unwrap_or(-1.0);
    if value.len() != 1 || n < 0.0 {
        return Err(TapeError::ShapeMismatch {
            detail: "expected a non-negative int size".into(),
            span,
        });
    }
    Ok(n as usize)
}

/// The number of elements of `shape`, refused beyond `ppl_ir::MAX_ELEMENTS` (sizes computed at
/// run time from dimensions escape the checker's limit).
fn allocation(shape: &[usize], span: Span) -> Result<usize, TapeError> {
    let count = ppl_ir::element_count(shape.iter().map(|&n| i64::try_from(n).unwrap_or(i64::MAX)));
    if count > ppl_ir::MAX_ELEMENTS {
        return Err(TapeError::ShapeMismatch {
            detail: format!(
                "a value of {count} elements, beyond the limit of {}",
                ppl_ir::MAX_ELEMENTS
            ),
            span,
        });
    }
    // Within the limit, so it fits in usize.
    Ok(usize::try_from(count).unwrap_or(0))
}

/// An array of the sizes given, every element `fill`.
fn constant_array<T: Real>(
    args: &[Array<T>],
    fill: f64,
    span: Span,
) -> Result<Array<T>, TapeError> {
    let shape = args
        .iter()
        .map(|a| int_argument(a, span))
        .collect::<Result<Vec<_>, _>>()?;
    let count = allocation(&shape, span)?;
    Ok(Array::new(shape, vec![T::from(fill); count]))
}

pub(crate) struct Ones;

impl Definition for Ones {
    const CASES: &'static [&'static str] = &[];

    fn value<T: Real>(&self, args: &[Array<T>], span: Span) -> Result<Array<T>, TapeError> {
        constant_array(args, 1.0, span)
    }
}

pub(crate) struct Zeros;

impl Definition for Zeros {
    const CASES: &'static [&'static str] = &[];

    fn value<T: Real>(&self, args: &[Array<T>], span: Span) -> Result<Array<T>, TapeError> {
        constant_array(args, 0.0, span)
    }
}

/// A builtin that only moves elements becomes one gather (see `Builder::rearrangement`).
macro_rules! rearranging {
    () => {
        fn lower(
            &self,
            builder: &mut Builder<'_>,
            function: Builtin,
            args: &[Expr],
            span: Span,
        ) -> Result<NodeId, TapeError> {
            builder.rearrangement(function, args, span)
        }
    };
}

pub(crate) struct Fill;

impl Definition for Fill {
    const CASES: &'static [&'static str] = &["fill(3, v) * M[1, 1]", "fill(2, a)"];

    fn value<T: Real>(&self, args: &[Array<T>], span: Span) -> Result<Array<T>, TapeError> {
        let n = int_argument(&args[0], span)?;
        let value = &args[1];
        let mut shape = vec![n];
        shape.extend(&value.shape);
        allocation(&shape, span)?;
        let values = (0..n).flat_map(|_| value.values.iter().copied()).collect();
        Ok(Array::new(shape, values))
    }

    rearranging!();
}

/// `rows(x)` / `cols(x)`: a size, constant on the tape whatever `x` depends on.
fn axis_length<T: Real>(
    function: &str,
    x: &Array<T>,
    axis: usize,
    span: Span,
) -> Result<Array<T>, TapeError> {
    match x.shape.get(axis) {
        Some(&n) => Ok(Array::scalar(T::from(n as f64))),
        None => Err(TapeError::ShapeMismatch {
            detail: format!("`{function}` of shape {:?}", x.shape),
            span,
        }),
    }
}

fn axis_length_node(
    b: &mut Builder<'_>,
    function: Builtin,
    args: &[Expr],
    axis: usize,
    span: Span,
) -> Result<NodeId, TapeError> {
    let x = b.lower(&args[0])?;
    match b.shape(x).get(axis) {
        Some(&n) => Ok(b.constant(Array::scalar(n as f64))),
        None => Err(TapeError::ShapeMismatch {
            detail: format!("`{}` of a value with too few axes", function.name()),
            span,
        }),
    }
}

pub(crate) struct Rows;

impl Definition for Rows {
    const CASES: &'static [&'static str] = &["a * rows(a * M)"];

    fn value<T: Real>(&self, args: &[Array<T>], span: Span) -> Result<Array<T>, TapeError> {
        axis_length("rows", &args[0], 0, span)
    }

    fn lower(
        &self,
        b: &mut Builder<'_>,
        function: Builtin,
        args: &[Expr],
        span: Span,
    ) -> Result<NodeId, TapeError> {
        axis_length_node(b, function, args, 0, span)
    }
}

pub(crate) struct Cols;

impl Definition for Cols {
    const CASES: &'static [&'static str] = &["a * cols(a * M)"];

    fn value<T: Real>(&self, args: &[Array<T>], span: Span) -> Result<Array<T>, TapeError> {
        axis_length("cols", &args[0], 1, span)
    }

    fn lower(
        &self,
        b: &mut Builder<'_>,
        function: Builtin,
        args: &[Expr],
        span: Span,
    ) -> Result<NodeId, TapeError> {
        axis_length_node(b, function, args, 1, span)
    }
}

pub(crate) struct Transpose;

impl Definition for Transpose {
    const CASES: &'static [&'static str] = &["transpose(M * v) @ sin(v)"];

    fn value<T: Real>(&self, args: &[Array<T>], span: Span) -> Result<Array<T>, TapeError> {
        let x = &args[0];
        require_rank(x, 2, "`transpose`", span)?;
        let (n, m) = (x.shape[0], x.shape[1]);
        let values = (0..m * n).map(|t| x.values[(t % n) * m + t / n]).collect();
        Ok(Array::new(vec![m, n], values))
    }

    rearranging!();
}

/// Sums along one axis of a matrix: one value per row, or per column (scaled by `scale`).
fn matrix_sums<T: Real>(
    x: &Array<T>,
    per_row: bool,
    mean: bool,
    what: &str,
    span: Span,
) -> Result<Array<T>, TapeError> {
    require_rank(x, 2, what, span)?;
    let (n, m) = (x.shape[0], x.shape[1]);
    let zero = T::from(0.0);
    if per_row {
        let values = (0..n)
            .map(|i| {
                x.values[i * m..(i + 1) * m]
                    .iter()
                    .fold(zero, |s, v| s + *v)
            })
            .collect();
        return Ok(Array::new(vec![n], values));
    }
    let scale = if mean { 1.0 / n as f64 } else { 1.0 };
    let values = (0..m)
        .map(|j| (0..n).fold(zero, |s, i| s + x.values[i * m + j]) * scale)
        .collect();
    Ok(Array::new(vec![m], values))
}

/// One `SumGroups` node (and a scaling for the mean).
fn matrix_sums_node(
    b: &mut Builder<'_>,
    function: Builtin,
    args: &[Expr],
    per_row: bool,
    mean: bool,
    span: Span,
) -> Result<NodeId, TapeError> {
    let x = b.lower(&args[0])?;
    let [n, m] = b.shape(x)[..] else {
        return Err(TapeError::ShapeMismatch {
            detail: format!("`{}` needs a matrix", function.name()),
            span,
        });
    };
    let groups = (0..n * m)
        .map(|t| if per_row { t / m } else { t % m })
        .collect();
    let shape = vec![if per_row { n } else { m }];
    let sums = b.computed(Op::SumGroups { arg: x, groups }, shape);
    if mean {
        b.scale(sums, 1.0 / n as f64, span)
    } else {
        Ok(sums)
    }
}

/// `rowsum`, `colsum` and `colmean`: one definition, the axis and the averaging const
/// parameters (a row mean is not a builtin).
pub(crate) struct MatrixSums<const PER_ROW: bool, const MEAN: bool>;

// Named like the other definitions (`definitions::Rowsum` in the dispatch table is a value).
#[allow(non_upper_case_globals)]
pub(crate) const Rowsum: MatrixSums<true, false> = MatrixSums;
#[allow(non_upper_case_globals)]
pub(crate) const Colsum: MatrixSums<false, false> = MatrixSums;
#[allow(non_upper_case_globals)]
pub(crate) const Colmean: MatrixSums<false, true> = MatrixSums;

impl<const PER_ROW: bool, const MEAN: bool> Definition for MatrixSums<PER_ROW, MEAN> {
    const CASES: &'static [&'static str] = match (PER_ROW, MEAN) {
        (true, _) => &["rowsum(M * v)"],
        (false, false) => &["colsum(M * v) * x"],
        (false, true) => &["colmean(M * v) * x"],
    };

    fn value<T: Real>(&self, args: &[Array<T>], span: Span) -> Result<Array<T>, TapeError> {
        let what = match (PER_ROW, MEAN) {
            (true, _) => "`rowsum`",
            (false, false) => "`colsum`",
            (false, true) => "`colmean`",
        };
        matrix_sums(&args[0], PER_ROW, MEAN, what, span)
    }

    fn lower(
        &self,
        b: &mut Builder<'_>,
        function: Builtin,
        args: &[Expr],
        span: Span,
    ) -> Result<NodeId, TapeError> {
        matrix_sums_node(b, function, args, PER_ROW, MEAN, span)
    }
}

/// `cbind`/`rbind`: vectors become columns (rows), matrices contribute their columns (rows).
fn bind<T: Real>(columns: bool, args: &[Array<T>], span: Span) -> Result<Array<T>, TapeError> {
    // Work in rbind orientation: a list of rows of one common width.
    let mut width: Option<usize> = None;
    let mut blocks: Vec<(usize, Vec<T>)> = Vec::new();
    for arg in args {
        let (rows, row_len, values) = match (arg.rank(), columns) {
            (1, _) => (1, arg.len(), arg.values.clone()),
            (2, false) => (arg.shape[0], arg.shape[1], arg.values.clone()),
            (2, true) => {
                let (n, m) = (arg.shape[0], arg.shape[1]);
                let values = (0..m * n)
                    .map(|t| arg.values[(t % n) * m + t / n])
                    .collect();
                (m, n, values)
            }
            _ => {
                return Err(TapeError::ShapeMismatch {
                    detail: format!("cannot bind a value of shape {:?}", arg.shape),
                    span,
                });
            }
        };
        if *width.get_or_insert(row_len) != row_len {
            return Err(TapeError::ShapeMismatch {
                detail: "bound pieces differ in length".into(),
                span,
            });
        }
        blocks.push((rows, values));
    }
    let width = width.unwrap_or(0);
    let rows: usize = blocks.iter().map(|b| b.0).sum();
    let stacked: Vec<T> = blocks.into_iter().flat_map(|b| b.1).collect();
    if !columns {
        return Ok(Array::new(vec![rows, width], stacked));
    }
    let values = (0..rows * width)
        .map(|t| stacked[(t % rows) * width + t / rows])
        .collect();
    Ok(Array::new(vec![width, rows], values))
}

pub(crate) struct Cbind;

impl Definition for Cbind {
    const CASES: &'static [&'static str] = &["cbind(v, x, a * M) * a"];

    fn value<T: Real>(&self, args: &[Array<T>], span: Span) -> Result<Array<T>, TapeError> {
        bind(true, args, span)
    }

    rearranging!();
}

pub(crate) struct Rbind;

impl Definition for Rbind {
    const CASES: &'static [&'static str] = &["rbind(v, x, a * M) * a"];

    fn value<T: Real>(&self, args: &[Array<T>], span: Span) -> Result<Array<T>, TapeError> {
        bind(false, args, span)
    }

    rearranging!();
}

pub(crate) struct Reverse;

impl Definition for Reverse {
    const CASES: &'static [&'static str] = &["reverse(v) * x"];

    fn value<T: Real>(&self, args: &[Array<T>], _: Span) -> Result<Array<T>, TapeError> {
        let x = &args[0];
        let Some(&first) = x.shape.first() else {
            return Ok(x.clone());
        };
        let size = x.len() / first.max(1);
        let values = (0..first)
            .rev()
            .flat_map(|i| x.values[i * size..(i + 1) * size].iter().copied())
            .collect();
        Ok(Array::new(x.shape.clone(), values))
    }

    rearranging!();
}

pub(crate) struct Diag;

impl Definition for Diag {
    const CASES: &'static [&'static str] = &["diag(v) @ M @ sin(v)"];

    fn value<T: Real>(&self, args: &[Array<T>], span: Span) -> Result<Array<T>, TapeError> {
        let x = &args[0];
        require_rank(x, 1, "`diag`", span)?;
        let n = x.len();
        let mut values = vec![T::from(0.0); n * n];
        for i in 0..n {
            values[i * n + i] = x.values[i];
        }
        Ok(Array::new(vec![n, n], values))
    }

    rearranging!();
}
