//! The elementwise activations a `net` may use between its dense layers, with the derivatives
//! the backward pass needs, evaluated from the pre-activation.

use crate::mlp::Scalar;

/// The slope of `leaky_relu` for negative inputs: the default of the language's `leaky_relu`
/// builtin (`crates/ppl-ir/src/builtins.rs`), so that a net means the same as the expression.
/// (The JAX GAN peer uses 0.2; a net says so with [`Activation::LeakyReluSlope`], the
/// language's `act = leaky_relu(0.2)`.)
pub const LEAKY_RELU_SLOPE: f64 = 0.01;

/// An activation applied elementwise to the hidden layers of an [`crate::Mlp`] (the last layer
/// is always linear).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// `x` if `x > 0`, else [`LEAKY_RELU_SLOPE`]` * x`.
    LeakyRelu,
    /// `x` if `x > 0`, else `slope * x`: `leaky_relu` with its slope given
    /// (`act = leaky_relu(0.2)`), as GAN critics use it (Radford et al. 2016).
    LeakyReluSlope(f64),
    /// `tanh(x)`.
    Tanh,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// `log(1 + exp(x))`, computed without overflow.
    Softplus,
    /// `x`: a purely linear net.
    Identity,
}

impl Activation {
    /// Every activation, for tests and for parsing.
    pub const ALL: [Activation; 6] = [
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Softplus,
        Activation::Identity,
    ];

    /// The name the language uses (`act = relu`), also the name saved in `generator.json`.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::LeakyRelu | Activation::LeakyReluSlope(_) => "leaky_relu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Softplus => "softplus",
            Activation::Identity => "identity",
        }
    }

    /// The activation the language calls `name`, if any.
    pub fn from_name(name: &str) -> Option<Activation> {
        Activation::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The slope for negative inputs of a leaky ReLU, `None` for the other activations.
    pub fn leaky_slope(self) -> Option<f64> {
        match self {
            Activation::LeakyRelu => Some(LEAKY_RELU_SLOPE),
            Activation::LeakyReluSlope(slope) => Some(slope),
            _ => None,
        }
    }

    /// The activation at pre-activation `x`.
    #[inline]
    pub fn apply<T: Scalar>(self, x: T) -> T {
        let zero = T::zero();
        let one = T::one();
        match self {
            Activation::Relu => {
                if x > zero {
                    x
                } else {
                    zero
                }
            }
            Activation::LeakyRelu => {
                if x > zero {
                    x
                } else {
                    x * nalgebra::convert::<f64, T>(LEAKY_RELU_SLOPE)
                }
            }
            Activation::LeakyReluSlope(slope) => {
                if x > zero {
                    x
                } else {
                    x * nalgebra::convert::<f64, T>(slope)
                }
            }
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => one / (one + (-x).exp()),
            // log(1 + e^x) = max(x, 0) + log(1 + e^-|x|): no overflow for large |x|.
            Activation::Softplus => x.max(zero) + (-x.abs()).exp().ln_1p(),
            Activation::Identity => x,
        }
    }

    /// The derivative of the activation at pre-activation `x`.
    #[inline]
    pub fn derivative<T: Scalar>(self, x: T) -> T {
        let zero = T::zero();
        let one = T::one();
        match self {
            Activation::Relu => {
                if x > zero {
                    one
                } else {
                    zero
                }
            }
            Activation::LeakyRelu => {
                if x > zero {
                    one
                } else {
                    nalgebra::convert::<f64, T>(LEAKY_RELU_SLOPE)
                }
            }
            Activation::LeakyReluSlope(slope) => {
                if x > zero {
                    one
                } else {
                    nalgebra::convert::<f64, T>(slope)
                }
            }
            Activation::Tanh => {
                let t = x.tanh();
                one - t * t
            }
            Activation::Sigmoid | Activation::Softplus => {
                // softplus' = sigmoid; sigmoid' = s (1 - s).
                let s = one / (one + (-x).exp());
                if self == Activation::Softplus {
                    s
                } else {
                    s * (one - s)
                }
            }
            Activation::Identity => one,
        }
    }
}
