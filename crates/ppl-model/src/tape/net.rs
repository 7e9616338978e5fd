//! Nets on the tape: a `net f = mlp(...)` called in an ordinary model (`y ~ Normal(f(x)[.., 1],
//! sigma)`) is one tape node, batched over the rows of its input, whose forward and reverse
//! passes are `ppl_nn::Mlp`'s (nalgebra gemm), so every engine that reads the log density and
//! its gradient (MAP, NUTS, ADVI, Laplace) trains or samples the weights like any other unknown.
//!
//! A net's weights are unconstrained coordinates of the position, after the variables'. They are
//! stored *scaled*: layer `l`'s weights and biases are `c_l u` for position coordinates `u`, with
//! `c_l = sqrt(6 / (fan_in + fan_out)) / 2`. The engines' uniform(-2, 2) starts (Stan's `init =
//! 2`) are then exactly Glorot-uniform weights (Glorot and Bengio 2010), and a unit step in `u`
//! moves every layer by the same relative amount; the map is linear with a constant Jacobian, so
//! it changes neither a mode nor a posterior shape beyond that constant.
//!
//! The generic evaluator (the forward-mode oracle, `let`s per draw, the exact Hessian) runs the
//! same net with plain loops over any scalar type ([`forward_generic`]): the reference the node
//! is tested against.

use nalgebra::DMatrix;
use ppl_ir::Model;
use ppl_nn::{Activation, Forward, Mlp};
use ppl_syntax::Span;
use rand::RngExt;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

use super::array::Array;
use super::error::TapeError;
use super::numerics::Real;

/// Where one net's weights live in the position vector.
#[derive(Clone, Debug, PartialEq)]
pub struct NetEntry {
    /// Index into `Model::nets`.
    pub net: usize,
    pub name: String,
    /// First coordinate in the position vector.
    pub offset: usize,
    /// Number of weights and biases (`ppl_nn::Mlp::parameter_count`).
    pub len: usize,
    /// Layer sizes, input first.
    pub sizes: Vec<usize>,
    pub activation: Activation,
    /// The scale `c_l` of each coordinate (see the module docs), one per weight.
    pub scales: Vec<f64>,
}

/// A net's concrete shape and weights, as the generic evaluator reads them.
#[derive(Clone, Debug, PartialEq)]
pub struct NetWeights<T> {
    pub sizes: Vec<usize>,
    pub activation: Activation,
    /// In `ppl_nn::Mlp`'s layout: per layer the column-major `fan_in × fan_out` weights, then the
    /// biases.
    pub weights: Vec<T>,
}

/// The activation a declared net names (`act = leaky_relu(0.2)` carries its slope).
pub fn activation_of(net: &ppl_ir::Net) -> Result<Activation, TapeError> {
    let named = Activation::from_name(&net.activation).ok_or_else(|| TapeError::Unsupported {
        what: format!(
            "the activation `{}` of net `{}`, which nets do not support",
            net.activation, net.name
        ),
        span: net.span,
    })?;
    Ok(match (named, net.activation_slope) {
        (Activation::LeakyRelu, Some(slope)) => Activation::LeakyReluSlope(slope),
        (named, _) => named,
    })
}

/// The entries of every net of `model`, placed from `offset` on; returns them and the offset
/// after the last.
pub fn net_entries(
    model: &Model,
    dims: &[usize],
    mut offset: usize,
) -> Result<(Vec<NetEntry>, usize), TapeError> {
    let mut entries = Vec::with_capacity(model.nets.len());
    for (index, net) in model.nets.iter().enumerate() {
        let sizes: Vec<usize> = net
            .sizes
            .iter()
            .map(|s| usize::try_from(s.evaluate(dims)).unwrap_or(0))
            .collect();
        if sizes.len() < 2 || sizes.contains(&0) {
            return Err(TapeError::ShapeMismatch {
                detail: format!(
                    "net `{}` has layer sizes {sizes:?}: it needs at least two, all positive",
                    net.name
                ),
                span: net.span,
            });
        }
        let activation = activation_of(net)?;
        let mut scales = Vec::with_capacity(Mlp::<f64>::parameter_count(&sizes));
        for pair in sizes.windows(2) {
            let limit = (6.0 / (pair[0] + pair[1]) as f64).sqrt();
            scales.extend(std::iter::repeat_n(
                limit / 2.0,
                pair[0] * pair[1] + pair[1],
            ));
        }
        let len = scales.len();
        entries.push(NetEntry {
            net: index,
            name: net.name.clone(),
            offset,
            len,
            sizes,
            activation,
            scales,
        });
        offset += len;
    }
    Ok((entries, offset))
}

impl NetEntry {
    /// The weights at `position` (the whole position vector).
    pub fn weights<T: Real>(&self, position: &[T]) -> Vec<T> {
        position[self.offset..self.offset + self.len]
            .iter()
            .zip(&self.scales)
            .map(|(&u, &c)| u * T::from(c))
            .collect()
    }

    /// Deterministic Glorot-uniform starting coordinates (uniform(-2, 2) in `u`), for a position
    /// built from given values (initial values), where the engines draw nothing for the nets:
    /// zero weights would leave every hidden unit the same and their gradients zero.
    pub fn default_coordinates(&self) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(0x6e65_7400 + self.net as u64);
        (0..self.len)
            .map(|_| {
                let u: f64 = rng.random();
                4.0 * u - 2.0
            })
            .collect()
    }
}

/// Rows and input width of a net's input of shape `shape` (`[.., in]`, or a scalar for a net
/// with one input); the output has shape `[.., out]`.
pub fn input_rows(
    shape: &[usize],
    sizes: &[usize],
    name: &str,
    span: Span,
) -> Result<(usize, Vec<usize>), TapeError> {
    let width = sizes[0];
    let out = sizes[sizes.len() - 1];
    let (last, leading) = match shape.split_last() {
        Some((&last, leading)) => (last, leading.to_vec()),
        None => (1, Vec::new()),
    };
    if last != width {
        return Err(TapeError::ShapeMismatch {
            detail: format!(
                "net `{name}` takes rows of {width} values, but its input has shape {shape:?} (the last axis is the row)"
            ),
            span,
        });
    }
    let rows = leading.iter().product();
    let mut output_shape = leading;
    output_shape.push(out);
    Ok((rows, output_shape))
}

/// The net applied to each row of `input` with plain loops, on any scalar type.
pub fn forward_generic<T: Real>(
    net: &NetWeights<T>,
    name: &str,
    input: &Array<T>,
    span: Span,
) -> Result<Array<T>, TapeError> {
    let (rows, output_shape) = input_rows(&input.shape, &net.sizes, name, span)?;
    let layers = net.sizes.len() - 1;
    let mut output = Vec::with_capacity(output_shape.iter().product());
    for row in 0..rows {
        let mut current: Vec<T> =
            input.values[row * net.sizes[0]..(row + 1) * net.sizes[0]].to_vec();
        let mut offset = 0;
        for layer in 0..layers {
            let (fan_in, fan_out) = (net.sizes[layer], net.sizes[layer + 1]);
            let weights = &net.weights[offset..offset + fan_in * fan_out];
            let bias = &net.weights[offset + fan_in * fan_out..offset + fan_in * fan_out + fan_out];
            offset += fan_in * fan_out + fan_out;
            let mut next = Vec::with_capacity(fan_out);
            for (j, &b) in bias.iter().enumerate() {
                let mut sum = b;
                for (i, &x) in current.iter().enumerate() {
                    sum += x * weights[i + j * fan_in];
                }
                next.push(if layer + 1 == layers {
                    sum
                } else {
                    activate(net.activation, sum)
                });
            }
            current = next;
        }
        output.extend(current);
    }
    Ok(Array::new(output_shape, output))
}

/// An activation on any scalar type (`ppl_nn::Activation::apply` needs a nalgebra scalar).
fn activate<T: Real>(activation: Activation, x: T) -> T {
    let zero = T::from(0.0);
    match activation {
        Activation::Relu => {
            if x.value() > 0.0 {
                x
            } else {
                zero
            }
        }
        Activation::LeakyRelu | Activation::LeakyReluSlope(_) => {
            if x.value() > 0.0 {
                x
            } else {
                x * T::from(activation.leaky_slope().unwrap_or(ppl_nn::LEAKY_RELU_SLOPE))
            }
        }
        Activation::Tanh => x.tanh(),
        Activation::Sigmoid => (T::from(1.0) + (-x).exp()).recip(),
        Activation::Softplus => x.log1p_exp(),
        Activation::Identity => x,
    }
}

/// The tape node's state: the net (its parameters overwritten by each forward pass), the batch,
/// and the forward pass kept for the reverse one.
#[derive(Clone)]
pub(crate) struct NetNode {
    pub net: Mlp<f64>,
    pub rows: usize,
    pub forward: Option<Forward<f64>>,
    /// The parameters' gradient of the last reverse pass.
    pub parameter_gradient: Vec<f64>,
}

impl NetNode {
    pub fn new(entry: &NetEntry, rows: usize) -> Result<NetNode, TapeError> {
        let parameters = vec![0.0; entry.len];
        let net =
            Mlp::from_parameters(&entry.sizes, entry.activation, parameters).map_err(|e| {
                TapeError::ShapeMismatch {
                    detail: format!("net `{}`: {e}", entry.name),
                    span: Span::default(),
                }
            })?;
        Ok(NetNode {
            net,
            rows,
            forward: None,
            parameter_gradient: vec![0.0; entry.len],
        })
    }

    /// Runs the net on `input` (row-major rows) with `weights`, writing the row-major output.
    pub fn forward(&mut self, weights: &[f64], input: &[f64], output: &mut [f64], keep: bool) {
        self.net.parameters_mut().copy_from_slice(weights);
        let width = self.net.input_size();
        let matrix = DMatrix::from_row_slice(self.rows, width, input);
        // Shapes were checked when the node was built, so the net accepts its input.
        let Ok(forward) = self.net.forward(&matrix) else {
            output.fill(f64::NAN);
            return;
        };
        let result = forward.output();
        let out = result.ncols();
        for (row, values) in output.chunks_mut(out).enumerate() {
            for (j, value) in values.iter_mut().enumerate() {
                *value = result[(row, j)];
            }
        }
        self.forward = keep.then_some(forward);
    }

    /// The reverse pass from the output's row-major adjoint: the weights' gradient into
    /// `parameter_gradient`, and the input's (row-major) when `input_adjoint` is given.
    pub fn backward(&mut self, adjoint: &[f64], input_adjoint: Option<&mut [f64]>) {
        self.parameter_gradient.fill(0.0);
        let Some(forward) = &self.forward else {
            return;
        };
        let out = self.net.output_size();
        let output_gradient = DMatrix::from_row_slice(self.rows, out, adjoint);
        let wants_input = input_adjoint.is_some();
        let Ok(gradient) = self.net.backward(
            forward,
            &output_gradient,
            &mut self.parameter_gradient,
            wants_input,
        ) else {
            self.parameter_gradient.fill(f64::NAN);
            return;
        };
        if let (Some(target), Some(gradient)) = (input_adjoint, gradient) {
            let width = gradient.ncols();
            for (row, values) in target.chunks_mut(width).enumerate() {
                for (j, value) in values.iter_mut().enumerate() {
                    *value += gradient[(row, j)];
                }
            }
        }
    }
}
