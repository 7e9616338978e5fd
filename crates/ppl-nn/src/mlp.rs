//! The multi-layer perceptron: dense layers with one activation between them and a linear last
//! layer, weights in one flat vector, a batched forward pass over the rows of a matrix and its
//! reverse-mode gradient.

use nalgebra::{DMatrix, DMatrixView, DMatrixViewMut};
use rand::{Rng, RngExt};

use crate::activation::Activation;

/// The scalar a net computes in: `f32` or `f64`.
pub trait Scalar: nalgebra::RealField + Copy {}
impl<T: nalgebra::RealField + Copy> Scalar for T {}

/// Why a net could not be built or evaluated: sizes that do not describe a net, or matrices
/// whose shapes do not fit it. Engines check shapes when they build their nets, so these reach
/// a user only through a saved file that was edited by hand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NnError {
    /// Fewer than two sizes, or a zero size.
    #[error("a net needs at least an input and an output size, all positive; got {0:?}")]
    BadSizes(Vec<usize>),
    /// A parameter vector of the wrong length for the sizes.
    #[error("a net with sizes {sizes:?} has {expected} parameters, got {found}")]
    ParameterCount {
        /// The layer sizes.
        sizes: Vec<usize>,
        /// What the sizes need.
        expected: usize,
        /// What was given.
        found: usize,
    },
    /// A matrix with the wrong shape for this net.
    #[error("{what}: expected {expected:?}, got {found:?}")]
    Shape {
        /// Which matrix.
        what: &'static str,
        /// The (rows, columns) the net needs.
        expected: (usize, usize),
        /// The (rows, columns) given.
        found: (usize, usize),
    },
}

/// A multi-layer perceptron `sizes[0] → sizes[1] → … → sizes[L]`: layer `l` computes
/// `x W_l + b_l`, every layer but the last followed by `activation`.
///
/// Layer `l`'s weights `W_l` (`sizes[l] × sizes[l+1]`, column-major) and then its bias `b_l`
/// lie consecutively in one flat parameter vector, so an optimiser sees one slice.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp<T: Scalar = f64> {
    sizes: Vec<usize>,
    activation: Activation,
    parameters: Vec<T>,
}

/// What a forward pass computed over a batch: the output, and the layer inputs and hidden
/// pre-activations that [`Mlp::backward`] needs.
#[derive(Clone, Debug)]
pub struct Forward<T: Scalar = f64> {
    /// `layer_inputs[l]` is the `[B, sizes[l]]` input of layer `l`.
    layer_inputs: Vec<DMatrix<T>>,
    /// `pre_activations[l]` is layer `l`'s `x W + b` for the hidden layers.
    pre_activations: Vec<DMatrix<T>>,
    output: DMatrix<T>,
}

impl<T: Scalar> Forward<T> {
    /// The `[B, out]` output of the net (the last layer is linear).
    pub fn output(&self) -> &DMatrix<T> {
        &self.output
    }

    /// The output, giving up what the backward pass needed.
    pub fn into_output(self) -> DMatrix<T> {
        self.output
    }
}

impl<T: Scalar> Mlp<T> {
    /// The number of parameters (weights and biases) of a net with these layer sizes.
    pub fn parameter_count(sizes: &[usize]) -> usize {
        sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum()
    }

    /// A net with Glorot-uniform weights (uniform on `±sqrt(6 / (in + out))`, Glorot and Bengio
    /// 2010) drawn from `rng`, and zero biases.
    pub fn new<R: Rng + ?Sized>(
        sizes: &[usize],
        activation: Activation,
        rng: &mut R,
    ) -> Result<Self, NnError> {
        check_sizes(sizes)?;
        let mut parameters = Vec::with_capacity(Self::parameter_count(sizes));
        for pair in sizes.windows(2) {
            let (fan_in, fan_out) = (pair[0], pair[1]);
            let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
            for _ in 0..fan_in * fan_out {
                let u: f64 = rng.random();
                parameters.push(nalgebra::convert(limit * (2.0 * u - 1.0)));
            }
            parameters.extend(std::iter::repeat_n(T::zero(), fan_out));
        }
        Ok(Mlp {
            sizes: sizes.to_vec(),
            activation,
            parameters,
        })
    }

    /// A net with the given parameters (laid out as described on [`Mlp`]), e.g. reloaded from
    /// a saved file.
    pub fn from_parameters(
        sizes: &[usize],
        activation: Activation,
        parameters: Vec<T>,
    ) -> Result<Self, NnError> {
        check_sizes(sizes)?;
        let expected = Self::parameter_count(sizes);
        if parameters.len() != expected {
            return Err(NnError::ParameterCount {
                sizes: sizes.to_vec(),
                expected,
                found: parameters.len(),
            });
        }
        Ok(Mlp {
            sizes: sizes.to_vec(),
            activation,
            parameters,
        })
    }

    /// The layer sizes, input first.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// The width of the input.
    pub fn input_size(&self) -> usize {
        self.sizes[0]
    }

    /// The width of the output.
    pub fn output_size(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    /// The hidden-layer activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// All weights and biases, in the layout described on [`Mlp`].
    pub fn parameters(&self) -> &[T] {
        &self.parameters
    }

    /// All weights and biases, for an optimiser to update in place.
    pub fn parameters_mut(&mut self) -> &mut [T] {
        &mut self.parameters
    }

    /// Layer `layer`'s weight matrix `[sizes[layer], sizes[layer + 1]]` and bias; `None` past
    /// the last layer.
    pub fn layer(&self, layer: usize) -> Option<(DMatrixView<'_, T>, &[T])> {
        let (offset, fan_in, fan_out) = self.layer_shape(layer)?;
        let weights = &self.parameters[offset..offset + fan_in * fan_out];
        let bias = &self.parameters[offset + fan_in * fan_out..offset + fan_in * fan_out + fan_out];
        Some((DMatrixView::from_slice(weights, fan_in, fan_out), bias))
    }

    /// (offset in the parameter vector, fan-in, fan-out) of a layer.
    fn layer_shape(&self, layer: usize) -> Option<(usize, usize, usize)> {
        if layer + 1 >= self.sizes.len() {
            return None;
        }
        let offset = Self::parameter_count(&self.sizes[..=layer]);
        Some((offset, self.sizes[layer], self.sizes[layer + 1]))
    }

    /// The net applied to every row of `input` (`[B, sizes[0]]`), keeping what
    /// [`Mlp::backward`] needs.
    pub fn forward(&self, input: &DMatrix<T>) -> Result<Forward<T>, NnError> {
        let batch = input.nrows();
        if input.ncols() != self.input_size() {
            return Err(NnError::Shape {
                what: "net input",
                expected: (batch, self.input_size()),
                found: input.shape(),
            });
        }
        let layers = self.sizes.len() - 1;
        let mut layer_inputs = Vec::with_capacity(layers);
        let mut pre_activations = Vec::with_capacity(layers - 1);
        let mut current = input.clone();
        let mut offset = 0;
        for layer in 0..layers {
            let (fan_in, fan_out) = (self.sizes[layer], self.sizes[layer + 1]);
            let weights = DMatrixView::from_slice(
                &self.parameters[offset..offset + fan_in * fan_out],
                fan_in,
                fan_out,
            );
            let bias =
                &self.parameters[offset + fan_in * fan_out..offset + fan_in * fan_out + fan_out];
            offset += fan_in * fan_out + fan_out;
            let mut pre = DMatrix::from_fn(batch, fan_out, |_, j| bias[j]);
            pre.gemm(T::one(), &current, &weights, T::one());
            if layer + 1 == layers {
                layer_inputs.push(current);
                return Ok(Forward {
                    layer_inputs,
                    pre_activations,
                    output: pre,
                });
            }
            let activation = self.activation;
            let activated = pre.map(|x| activation.apply(x));
            layer_inputs.push(std::mem::replace(&mut current, activated));
            pre_activations.push(pre);
        }
        // `sizes` has at least two entries, so the loop returned.
        Err(NnError::BadSizes(self.sizes.clone()))
    }

    /// Reverse mode through a forward pass: given `output_gradient = ∂L/∂output` (`[B, out]`),
    /// *adds* `∂L/∂parameters` into `parameter_gradient` (so several passes can accumulate;
    /// zero it first for a fresh gradient) and, if `want_input_gradient`, returns `∂L/∂input`.
    pub fn backward(
        &self,
        forward: &Forward<T>,
        output_gradient: &DMatrix<T>,
        parameter_gradient: &mut [T],
        want_input_gradient: bool,
    ) -> Result<Option<DMatrix<T>>, NnError> {
        if output_gradient.shape() != forward.output.shape() {
            return Err(NnError::Shape {
                what: "gradient of the net output",
                expected: forward.output.shape(),
                found: output_gradient.shape(),
            });
        }
        if parameter_gradient.len() != self.parameters.len() {
            return Err(NnError::ParameterCount {
                sizes: self.sizes.clone(),
                expected: self.parameters.len(),
                found: parameter_gradient.len(),
            });
        }
        let layers = self.sizes.len() - 1;
        if forward.layer_inputs.len() != layers || forward.pre_activations.len() + 1 != layers {
            return Err(NnError::Shape {
                what: "forward pass of another net",
                expected: (layers, layers - 1),
                found: (forward.layer_inputs.len(), forward.pre_activations.len()),
            });
        }
        let batch = output_gradient.nrows();
        // The gradient with respect to the current layer's pre-activation.
        let mut delta = output_gradient.clone();
        let mut end = self.parameters.len();
        for layer in (0..layers).rev() {
            let (fan_in, fan_out) = (self.sizes[layer], self.sizes[layer + 1]);
            let offset = end - fan_in * fan_out - fan_out;
            end = offset;
            let input = &forward.layer_inputs[layer];
            if input.shape() != (batch, fan_in) {
                return Err(NnError::Shape {
                    what: "layer input of the forward pass",
                    expected: (batch, fan_in),
                    found: input.shape(),
                });
            }
            // ∂W = inputᵀ δ. The transpose is materialised (a copy of B·in numbers beside the
            // B·in·out product) because nalgebra's small-matrix gemm path corrupts memory when
            // given a transposed strided view (seen with nalgebra 0.35).
            let input_transposed = input.transpose();
            let (weight_gradient, bias_gradient) = parameter_gradient
                [offset..offset + fan_in * fan_out + fan_out]
                .split_at_mut(fan_in * fan_out);
            let mut weight_gradient = DMatrixViewMut::from_slice(weight_gradient, fan_in, fan_out);
            weight_gradient.gemm(T::one(), &input_transposed, &delta, T::one());
            for (j, b) in bias_gradient.iter_mut().enumerate() {
                *b += delta.column(j).sum();
            }
            if layer == 0 && !want_input_gradient {
                return Ok(None);
            }
            // ∂input = δ Wᵀ, again with a materialised transpose.
            let weights_transposed = DMatrixView::from_slice(
                &self.parameters[offset..offset + fan_in * fan_out],
                fan_in,
                fan_out,
            )
            .transpose();
            let mut input_gradient = DMatrix::zeros(batch, fan_in);
            input_gradient.gemm(T::one(), &delta, &weights_transposed, T::zero());
            if layer == 0 {
                return Ok(Some(input_gradient));
            }
            let activation = self.activation;
            input_gradient.zip_apply(&forward.pre_activations[layer - 1], |g, z| {
                *g *= activation.derivative(z)
            });
            delta = input_gradient;
        }
        Ok(None)
    }
}

fn check_sizes(sizes: &[usize]) -> Result<(), NnError> {
    if sizes.len() < 2 || sizes.contains(&0) {
        return Err(NnError::BadSizes(sizes.to_vec()));
    }
    Ok(())
}
