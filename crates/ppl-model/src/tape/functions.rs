//! The elementwise kernels of the language (unary builtins, arithmetic, comparisons), each
//! written once generically over the scalar type, plus closed-form local derivatives on `f64` that
//! the tape's forward pass stores for its reverse pass.

use num_dual::Dual64;
use ppl_ir::BinaryOp;

use super::numerics::Real;

/// An elementwise function of one argument.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum UnaryFn {
    Neg,
    Exp,
    Log,
    Log10,
    Log1p,
    Expm1,
    Sqrt,
    Square,
    Abs,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    Logit,
    Softplus,
    Relu,
    /// The slope for negative arguments.
    LeakyRelu(f64),
    Lgamma,
    Digamma,
}

impl UnaryFn {
    pub(crate) fn apply<T: Real>(self, x: T) -> T {
        match self {
            UnaryFn::Neg => -x,
            UnaryFn::Exp => x.exp(),
            UnaryFn::Log => x.ln(),
            UnaryFn::Log10 => x.log10(),
            UnaryFn::Log1p => x.ln_1p(),
            UnaryFn::Expm1 => x.exp_m1(),
            UnaryFn::Sqrt => x.sqrt(),
            UnaryFn::Square => x * x,
            UnaryFn::Abs => {
                if x.re() < 0.0 {
                    -x
                } else {
                    x
                }
            }
            UnaryFn::Sin => x.sin(),
            UnaryFn::Cos => x.cos(),
            UnaryFn::Tanh => x.tanh(),
            UnaryFn::Sigmoid => {
                // Written so that neither branch overflows.
                if x.re() >= 0.0 {
                    (T::from(1.0) + (-x).exp()).recip()
                } else {
                    let e = x.exp();
                    e / (T::from(1.0) + e)
                }
            }
            UnaryFn::Logit => (x / (T::from(1.0) - x)).ln(),
            UnaryFn::Softplus => x.log1p_exp(),
            UnaryFn::Relu => {
                if x.re() > 0.0 {
                    x
                } else {
                    x * 0.0
                }
            }
            UnaryFn::LeakyRelu(slope) => {
                if x.re() > 0.0 {
                    x
                } else {
                    x * slope
                }
            }
            UnaryFn::Lgamma => x.ln_gamma(),
            UnaryFn::Digamma => x.digamma(),
        }
    }

    /// The value and first derivative at `x`: closed forms for the cheap functions, one dual
    /// evaluation for the rest.
    #[inline]
    pub(crate) fn value_and_derivative(self, x: f64) -> (f64, f64) {
        match self {
            UnaryFn::Neg => (-x, -1.0),
            UnaryFn::Exp => {
                let e = x.exp();
                (e, e)
            }
            UnaryFn::Log => (x.ln(), 1.0 / x),
            UnaryFn::Square => (x * x, 2.0 * x),
            UnaryFn::Sqrt => {
                let s = x.sqrt();
                (s, 0.5 / s)
            }
            UnaryFn::Tanh => {
                let t = x.tanh();
                (t, 1.0 - t * t)
            }
            UnaryFn::Sigmoid => {
                let s = UnaryFn::Sigmoid.apply(x);
                (s, s * (1.0 - s))
            }
            _ => {
                let dual = self.apply(Dual64::from(x).derivative());
                (dual.re, dual.eps)
            }
        }
    }
}

/// An elementwise function of two broadcast arguments.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum BinaryFn {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Min,
    Max,
    /// log(e^a + e^b), the two-argument `log_sum_exp`.
    LogSumExp,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl BinaryFn {
    /// The elementwise function of a binary operator; `None` for `@`.
    pub(crate) fn of_operator(op: BinaryOp) -> Option<BinaryFn> {
        Some(match op {
            BinaryOp::Add => BinaryFn::Add,
            BinaryOp::Sub => BinaryFn::Sub,
            BinaryOp::Mul => BinaryFn::Mul,
            BinaryOp::Div => BinaryFn::Div,
            BinaryOp::Pow => BinaryFn::Pow,
            BinaryOp::Lt => BinaryFn::Lt,
            BinaryOp::Le => BinaryFn::Le,
            BinaryOp::Gt => BinaryFn::Gt,
            BinaryOp::Ge => BinaryFn::Ge,
            BinaryOp::Eq => BinaryFn::Eq,
            BinaryOp::Ne => BinaryFn::Ne,
            BinaryOp::MatMul => return None,
        })
    }

    pub(crate) fn apply<T: Real>(self, a: T, b: T) -> T {
        let truth = |holds: bool| T::from(if holds { 1.0 } else { 0.0 });
        match self {
            BinaryFn::Add => a + b,
            BinaryFn::Sub => a - b,
            BinaryFn::Mul => a * b,
            BinaryFn::Div => a / b,
            BinaryFn::Pow => power(a, b),
            BinaryFn::Min => {
                if b.re() < a.re() {
                    b
                } else {
                    a
                }
            }
            BinaryFn::Max => {
                if b.re() > a.re() {
                    b
                } else {
                    a
                }
            }
            BinaryFn::LogSumExp => {
                // Shifted by the larger argument so that neither exponential overflows; two -inf
                // arguments give -inf, not NaN (a log density of an impossible pair of branches).
                let high = if b.re() > a.re() { b } else { a };
                if high.re() == f64::NEG_INFINITY || high.re() == f64::INFINITY {
                    return high;
                }
                high + ((a - high).exp() + (b - high).exp()).ln()
            }
            BinaryFn::Lt => truth(a.re() < b.re()),
            BinaryFn::Le => truth(a.re() <= b.re()),
            BinaryFn::Gt => truth(a.re() > b.re()),
            BinaryFn::Ge => truth(a.re() >= b.re()),
            BinaryFn::Eq => truth(a.re() == b.re()),
            BinaryFn::Ne => truth(a.re() != b.re()),
        }
    }

    /// Value and partial derivatives with respect to both arguments.
    #[inline]
    pub(crate) fn value_and_partials(self, a: f64, b: f64) -> (f64, f64, f64) {
        match self {
            BinaryFn::Add => (a + b, 1.0, 1.0),
            BinaryFn::Sub => (a - b, 1.0, -1.0),
            BinaryFn::Mul => (a * b, b, a),
            BinaryFn::Div => {
                let q = a / b;
                (q, 1.0 / b, -q / b)
            }
            BinaryFn::Pow => {
                let value = power(a, b);
                let da = if b == 0.0 { 0.0 } else { b * power(a, b - 1.0) };
                let db = if a > 0.0 { value * a.ln() } else { 0.0 };
                (value, da, db)
            }
            BinaryFn::Min => {
                if b < a {
                    (b, 0.0, 1.0)
                } else {
                    (a, 1.0, 0.0)
                }
            }
            BinaryFn::Max => {
                if b > a {
                    (b, 0.0, 1.0)
                } else {
                    (a, 1.0, 0.0)
                }
            }
            BinaryFn::LogSumExp => {
                let value = self.apply(a, b);
                if !value.is_finite() {
                    return (value, 0.0, 0.0);
                }
                // ∂/∂a = e^(a - value), the weight of a in the sum.
                (value, (a - value).exp(), (b - value).exp())
            }
            _ => (self.apply(a, b), 0.0, 0.0),
        }
    }
}

/// `a^b`: through logarithms for a positive base (so the exponent may carry derivatives), by
/// repeated multiplication for an integer exponent (so a negative base works, as written math
/// expects: `(-2)^2 = 4`).
fn power<T: Real>(a: T, b: T) -> T {
    let exponent = b.re();
    if a.re() > 0.0 {
        return a.powd(b);
    }
    if exponent == exponent.round() && exponent.abs() < i32::MAX as f64 {
        return a.powi(exponent as i32);
    }
    a.powd(b)
}
