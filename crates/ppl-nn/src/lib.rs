//! Hand-written dense neural networks for the generative engines (VAE, GAN): a multi-layer
//! perceptron whose weights live in one flat parameter vector, a batched forward pass that keeps
//! what the backward pass needs, reverse-mode gradients of the parameters and of the input, and
//! an Adam optimiser over such flat vectors.
//!
//! The matrix work goes through `nalgebra`'s `DMatrix` gemm, which hands every product with all
//! sides above five to `matrixmultiply`; transposed operands are copied first (cheap beside the
//! product). Everything is generic over the scalar (`f32` or `f64`): the engines train in
//! `f32` for speed, the tests check gradients in `f64` against finite differences.
//!
//! A typical training step:
//! ```
//! use nalgebra::DMatrix;
//! use ppl_nn::{Activation, Adam, Mlp};
//! use rand::SeedableRng;
//!
//! let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(1);
//! let mut net = Mlp::<f64>::new(&[3, 8, 1], Activation::Tanh, &mut rng).unwrap();
//! let mut adam = Adam::new(1e-2, net.parameters().len());
//! let input = DMatrix::from_fn(4, 3, |i, j| (i + j) as f64 / 4.0);
//! let forward = net.forward(&input).unwrap();
//! // d(loss)/d(output) for loss = sum(output^2) / 2:
//! let output_gradient = forward.output().clone();
//! let mut gradient = vec![0.0; net.parameters().len()];
//! net.backward(&forward, &output_gradient, &mut gradient, false).unwrap();
//! adam.descend(net.parameters_mut(), &gradient);
//! ```

mod activation;
mod adam;
mod mlp;

#[cfg(test)]
mod tests;

pub use activation::{Activation, LEAKY_RELU_SLOPE};
pub use adam::Adam;
pub use mlp::{Forward, Mlp, NnError, Scalar};
