//! Adam over a flat parameter vector, in the net's own scalar type.
//!
//! `ppl-infer` has an f64 Adam for ADVI (`ppl_infer::vi::Adam`, an ascent step with a decaying
//! rate); it cannot be reused here because `ppl-infer` depends on this crate (its VAE and GAN
//! engines train these nets) and because the nets train in `f32`. This one is the plain Adam of
//! Kingma and Ba (2015) with a constant rate, as the VAE and GAN papers use it.

use crate::mlp::Scalar;

/// Adam with bias-corrected moment estimates and a constant learning rate.
#[derive(Clone, Debug)]
pub struct Adam<T: Scalar> {
    /// The step size.
    pub learning_rate: f64,
    /// Decay rate of the first-moment (mean) estimate, 0.9 by default.
    pub beta1: f64,
    /// Decay rate of the second-moment estimate, 0.999 by default.
    pub beta2: f64,
    /// Added to the root second moment so that a zero gradient does not divide by zero.
    pub epsilon: f64,
    first_moment: Vec<T>,
    second_moment: Vec<T>,
    steps: u64,
}

impl<T: Scalar> Adam<T> {
    /// Adam for `parameter_count` parameters with the usual moment rates (0.9, 0.999) and
    /// epsilon 1e-8.
    pub fn new(learning_rate: f64, parameter_count: usize) -> Self {
        Adam {
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            first_moment: vec![T::zero(); parameter_count],
            second_moment: vec![T::zero(); parameter_count],
            steps: 0,
        }
    }

    /// How many steps have been taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// One step *down* the gradient `gradient` of a loss (same length as `parameters`). To
    /// climb an objective, pass its negated gradient or use [`Adam::ascend`].
    pub fn descend(&mut self, parameters: &mut [T], gradient: &[T]) {
        self.step(parameters, gradient, -1.0);
    }

    /// One step *up* the gradient `gradient` of an objective.
    pub fn ascend(&mut self, parameters: &mut [T], gradient: &[T]) {
        self.step(parameters, gradient, 1.0);
    }

    fn step(&mut self, parameters: &mut [T], gradient: &[T], direction: f64) {
        if self.first_moment.len() != parameters.len() {
            self.first_moment = vec![T::zero(); parameters.len()];
            self.second_moment = vec![T::zero(); parameters.len()];
        }
        self.steps += 1;
        let power = i32::try_from(self.steps).unwrap_or(i32::MAX);
        // Fold the bias corrections into the rate and epsilon (the form of Kingma and Ba's
        // section 2), so the inner loop does one division.
        let first_correction = 1.0 - self.beta1.powi(power);
        let second_correction = 1.0 - self.beta2.powi(power);
        let rate = direction * self.learning_rate * second_correction.sqrt() / first_correction;
        let rate: T = nalgebra::convert(rate);
        let epsilon: T = nalgebra::convert(self.epsilon * second_correction.sqrt());
        let beta1: T = nalgebra::convert(self.beta1);
        let beta2: T = nalgebra::convert(self.beta2);
        let one = T::one();
        for (((parameter, &g), m), v) in parameters
            .iter_mut()
            .zip(gradient)
            .zip(&mut self.first_moment)
            .zip(&mut self.second_moment)
        {
            *m = beta1 * *m + (one - beta1) * g;
            *v = beta2 * *v + (one - beta2) * g * g;
            *parameter += rate * *m / (v.sqrt() + epsilon);
        }
    }
}
