//! The numbers of each built-in function, defined once: one `Definition` per builtin gives its
//! value on any scalar type (f64 for evaluation; duals for forward mode and hyper-duals for the
//! exact Hessian, so the second-order rule comes from the same generic value), how the tape
//! computes it (by default one `Op::Call` node whose forward pass is that value and whose reverse
//! pass is the definition's reverse rule), and the model-text cases its generated gradient test
//! runs (`tests/matrix_gradients.rs`, over every row of the table).
//!
//! The table of names, arities and shape rules is `ppl_ir::builtins`; [`with_definition`] is
//! generated from that same table, so a row with no definition here does not compile.

use ppl_ir::{Builtin, Expr};
use ppl_syntax::Span;

use super::array::Array;
use super::error::TapeError;
use super::graph::NodeId;
use super::lower::Builder;
use super::numerics::Real;

mod arrays;
mod elementwise;
mod matrices;
mod reductions;

/// One builtin's numbers.
pub(crate) trait Definition {
    /// Expressions its generated gradient test differentiates, over the unknowns `a: positive`
    /// and `v: real[n]` and the data `x: real[n]` and `M` (an n × n positive-definite matrix),
    /// each an expression the test sums. Empty only for a builtin whose value never depends on
    /// an unknown (sizes and constants).
    #[allow(
        dead_code,
        reason = "read through `gradient_cases` by the generated test"
    )]
    const CASES: &'static [&'static str];

    /// The value on evaluated arguments (already counted against the arity).
    fn value<T: Real>(&self, args: &[Array<T>], span: Span) -> Result<Array<T>, TapeError>;

    /// The tape nodes that compute it; by default one `Op::Call` node.
    fn lower(
        &self,
        builder: &mut Builder<'_>,
        function: Builtin,
        args: &[Expr],
        span: Span,
    ) -> Result<NodeId, TapeError> {
        builder.call_node(function, args, span)
    }

    /// The reverse rule of the `Op::Call` node: adds `adjoint`ᵀ ∂output/∂args[k] into
    /// `gradients[k]` (zeroed, each the length of its argument). By default forward mode, one
    /// dual evaluation of `value` per argument element: exact, and cheap for small arguments;
    /// definitions with large arguments write their own.
    fn reverse(
        &self,
        args: &[Array<f64>],
        output: &[f64],
        adjoint: &[f64],
        gradients: &mut [Vec<f64>],
        span: Span,
    ) {
        let _ = output;
        reverse_by_duals(self, args, adjoint, gradients, span);
    }
}

/// The reverse rule by forward mode: for each argument element, one evaluation with that element
/// seeded.
fn reverse_by_duals<D: Definition + ?Sized>(
    definition: &D,
    args: &[Array<f64>],
    adjoint: &[f64],
    gradients: &mut [Vec<f64>],
    span: Span,
) {
    use num_dual::Dual64;
    let mut duals: Vec<Array<Dual64>> = args.iter().map(|a| a.map(|&v| Dual64::from(v))).collect();
    for (k, gradient) in gradients.iter_mut().enumerate() {
        for (element, slot) in gradient.iter_mut().enumerate() {
            duals[k].values[element].eps = 1.0;
            if let Ok(out) = definition.value(&duals, span) {
                *slot += out
                    .values
                    .iter()
                    .zip(adjoint)
                    .map(|(o, a)| o.eps * a)
                    .sum::<f64>();
            }
            duals[k].values[element].eps = 0.0;
        }
    }
}

/// What one pass does with a builtin's definition.
pub(crate) trait Visit {
    type Output;
    fn visit<D: Definition>(self, definition: &D) -> Self::Output;
}

macro_rules! dispatch {
    ($($variant:ident = $name:literal, $min:literal..=$max:literal, $shape:ident, $doc:literal;)*) => {
        /// Runs `visitor` on the definition of `function`.
        pub(crate) fn with_definition<V: Visit>(function: Builtin, visitor: V) -> V::Output {
            match function {
                $(Builtin::$variant => visitor.visit(&definitions::$variant),)*
            }
        }
    };
}

/// Every definition under its builtin's name.
mod definitions {
    pub(super) use super::arrays::{
        Cbind, Colmean, Cols, Colsum, Diag, Fill, Ones, Rbind, Reverse, Rows, Rowsum, Transpose,
        Zeros,
    };
    pub(super) use super::elementwise::{
        Abs, Cos, Digamma, Exp, Expm1, LeakyRelu, Lgamma, Log, Log1p, Log10, Logit, Pow, Relu,
        Sigmoid, Sin, Softplus, Sqrt, Square, Tanh,
    };
    pub(super) use super::matrices::{Cholesky, GpExpQuadCov};
    pub(super) use super::reductions::{
        Dot, LogSoftmax, LogSumExp, Max, Mean, Min, Prod, Quantile, Sd, Softmax, Sum,
    };
}

ppl_ir::builtin_table!(dispatch);

/// Applies a builtin to evaluated arguments, on any scalar type.
pub(crate) fn call_builtin<T: Real>(
    function: Builtin,
    args: &[Array<T>],
    span: Span,
) -> Result<Array<T>, TapeError> {
    let (min_args, max_args) = function.arity();
    if args.is_empty() || args.len() < min_args || args.len() > max_args {
        return Err(TapeError::ShapeMismatch {
            detail: format!(
                "`{}` takes {min_args}..{max_args} arguments",
                function.name()
            ),
            span,
        });
    }
    struct Value<'a, T> {
        args: &'a [Array<T>],
        span: Span,
    }
    impl<T: Real> Visit for Value<'_, T> {
        type Output = Result<Array<T>, TapeError>;
        fn visit<D: Definition>(self, definition: &D) -> Self::Output {
            definition.value(self.args, self.span)
        }
    }
    with_definition(function, Value { args, span })
}

/// Lowers a call of a builtin whose value depends on an unknown to tape nodes.
pub(crate) fn lower_call(
    builder: &mut Builder<'_>,
    function: Builtin,
    args: &[Expr],
    span: Span,
) -> Result<NodeId, TapeError> {
    let (min_args, max_args) = function.arity();
    if args.is_empty() || args.len() < min_args || args.len() > max_args {
        return Err(TapeError::ShapeMismatch {
            detail: format!(
                "`{}` takes {min_args}..{max_args} arguments",
                function.name()
            ),
            span,
        });
    }
    struct Lower<'b, 'a> {
        builder: &'b mut Builder<'a>,
        function: Builtin,
        args: &'b [Expr],
        span: Span,
    }
    impl Visit for Lower<'_, '_> {
        type Output = Result<NodeId, TapeError>;
        fn visit<D: Definition>(self, definition: &D) -> Self::Output {
            definition.lower(self.builder, self.function, self.args, self.span)
        }
    }
    with_definition(
        function,
        Lower {
            builder,
            function,
            args,
            span,
        },
    )
}

/// The reverse rule of an `Op::Call` node of `function`.
pub(crate) fn reverse_call(
    function: Builtin,
    args: &[Array<f64>],
    output: &[f64],
    adjoint: &[f64],
    gradients: &mut [Vec<f64>],
) {
    struct Reverse<'a> {
        args: &'a [Array<f64>],
        output: &'a [f64],
        adjoint: &'a [f64],
        gradients: &'a mut [Vec<f64>],
    }
    impl Visit for Reverse<'_> {
        type Output = ();
        fn visit<D: Definition>(self, definition: &D) {
            definition.reverse(
                self.args,
                self.output,
                self.adjoint,
                self.gradients,
                Span::default(),
            );
        }
    }
    with_definition(
        function,
        Reverse {
            args,
            output,
            adjoint,
            gradients,
        },
    );
}

/// The expressions the generated gradient test of `function` differentiates (see
/// [`Definition::CASES`]): `tests/matrix_gradients.rs` runs every builtin's through the tape, the
/// forward-mode oracle, finite differences and the exact Hessian.
pub fn gradient_cases(function: Builtin) -> &'static [&'static str] {
    struct Cases;
    impl Visit for Cases {
        type Output = &'static [&'static str];
        fn visit<D: Definition>(self, _: &D) -> Self::Output {
            D::CASES
        }
    }
    with_definition(function, Cases)
}

/// The error of an argument of the wrong rank.
pub(crate) fn require_rank<T>(
    value: &Array<T>,
    rank: usize,
    what: &str,
    span: Span,
) -> Result<(), TapeError> {
    if value.rank() != rank {
        return Err(TapeError::ShapeMismatch {
            detail: format!("{what} needs {rank} axes, found shape {:?}", value.shape),
            span,
        });
    }
    Ok(())
}
