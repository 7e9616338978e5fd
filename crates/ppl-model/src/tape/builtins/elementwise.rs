//! The elementwise builtins: each is one of the tape's elementwise kernels (`UnaryFn`,
//! `BinaryFn`, shared with the operators), applied element by element in the evaluator and as one
//! `Op::Unary` / `Op::Binary` node on the tape, whose reverse rule is the kernel's local
//! derivative.

use ppl_ir::{Builtin, Expr};
use ppl_syntax::Span;

use super::Definition;
use crate::tape::array::Array;
use crate::tape::error::TapeError;
use crate::tape::eval::elementwise_binary;
use crate::tape::functions::{BinaryFn, UnaryFn};
use crate::tape::graph::NodeId;
use crate::tape::lower::Builder;
use crate::tape::numerics::Real;

/// A one-argument builtin that is the kernel `$kernel`.
macro_rules! unary {
    ($($(#[$doc:meta])* $name:ident => $kernel:expr, $cases:expr;)*) => {$(
        $(#[$doc])*
        pub(crate) struct $name;

        impl Definition for $name {
            const CASES: &'static [&'static str] = $cases;

            fn value<T: Real>(&self, args: &[Array<T>], _: Span) -> Result<Array<T>, TapeError> {
                Ok(args[0].map(|v| $kernel.apply(*v)))
            }

            fn lower(
                &self,
                builder: &mut Builder<'_>,
                _: Builtin,
                args: &[Expr],
                _: Span,
            ) -> Result<NodeId, TapeError> {
                let x = builder.lower(&args[0])?;
                Ok(builder.unary($kernel, x))
            }
        }
    )*};
}

unary! {
    Exp => UnaryFn::Exp, &["exp(v)", "exp(a * x)"];
    Log => UnaryFn::Log, &["log(a + exp(v))"];
    Log10 => UnaryFn::Log10, &["log10(1 + exp(v))"];
    Log1p => UnaryFn::Log1p, &["log1p(exp(v))"];
    Expm1 => UnaryFn::Expm1, &["expm1(v)"];
    Sqrt => UnaryFn::Sqrt, &["sqrt(a + exp(v))"];
    Square => UnaryFn::Square, &["square(v)", "square(a)"];
    Abs => UnaryFn::Abs, &["abs(v)"];
    Sin => UnaryFn::Sin, &["sin(v)"];
    Cos => UnaryFn::Cos, &["cos(a * v)"];
    Tanh => UnaryFn::Tanh, &["tanh(v)"];
    Sigmoid => UnaryFn::Sigmoid, &["sigmoid(3 * v)"];
    Logit => UnaryFn::Logit, &["logit(sigmoid(v))"];
    Softplus => UnaryFn::Softplus, &["softplus(2 * v)"];
    Relu => UnaryFn::Relu, &["relu(v) * v"];
    Lgamma => UnaryFn::Lgamma, &["lgamma(a + exp(v))"];
    Digamma => UnaryFn::Digamma, &["digamma(a + exp(v))"];
}

/// `leaky_relu(x, slope)`: the slope, 0.01 by default, must not depend on an unknown (it is a
/// setting of the kernel, not an argument of the derivative).
pub(crate) struct LeakyRelu;

fn slope<T: Real>(args: &[Array<T>]) -> f64 {
    args.get(1)
        .and_then(|s| s.values.first())
        .map_or(0.01, |v| v.re())
}

impl Definition for LeakyRelu {
    const CASES: &'static [&'static str] = &["leaky_relu(v)", "leaky_relu(v, 0.2)"];

    fn value<T: Real>(&self, args: &[Array<T>], _: Span) -> Result<Array<T>, TapeError> {
        let kernel = UnaryFn::LeakyRelu(slope(args));
        Ok(args[0].map(|v| kernel.apply(*v)))
    }

    fn lower(
        &self,
        builder: &mut Builder<'_>,
        _: Builtin,
        args: &[Expr],
        span: Span,
    ) -> Result<NodeId, TapeError> {
        let slope = match args.get(1) {
            Some(s) if builder.depends(s) => {
                return Err(TapeError::Unsupported {
                    what: "a `leaky_relu` slope that depends on an unknown".into(),
                    span,
                });
            }
            Some(s) => slope(&[Array::scalar(0.0), builder.evaluate(s)?]),
            None => 0.01,
        };
        let x = builder.lower(&args[0])?;
        Ok(builder.unary(UnaryFn::LeakyRelu(slope), x))
    }
}

/// `pow(x, y)`, the kernel of `^`, broadcasting.
pub(crate) struct Pow;

impl Definition for Pow {
    const CASES: &'static [&'static str] = &["pow(a + exp(v), v)", "pow(v, 3)", "pow(a, x)"];

    fn value<T: Real>(&self, args: &[Array<T>], span: Span) -> Result<Array<T>, TapeError> {
        elementwise_binary(BinaryFn::Pow, &args[0], &args[1], span)
    }

    fn lower(
        &self,
        builder: &mut Builder<'_>,
        _: Builtin,
        args: &[Expr],
        span: Span,
    ) -> Result<NodeId, TapeError> {
        let (a, b) = (builder.lower(&args[0])?, builder.lower(&args[1])?);
        builder.binary(BinaryFn::Pow, a, b, span)
    }
}
