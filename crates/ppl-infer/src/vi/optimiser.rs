//! Stochastic-gradient optimisers for the ELBO engine, behind the [`Optimiser`] seam so that the
//! VAE and GAN engines can reuse them on minibatch gradients.

/// A first-order optimiser that *ascends* a noisy objective.
pub trait Optimiser: Send {
    /// Forgets the moment estimates and the step count (e.g. when a new learning rate is tried).
    fn reset(&mut self);
    /// Moves `parameters` one step along the gradient estimate `gradient` (same length).
    fn step(&mut self, parameters: &mut [f64], gradient: &[f64]);
    /// The step size the next call of [`Optimiser::step`] will use, after the schedule.
    fn current_learning_rate(&self) -> f64;
}

/// Adam (Kingma and Ba 2015) with bias-corrected moments, and a learning rate that decays as
/// `learning_rate / sqrt(1 + t / decay_steps)` so that the iterates settle as the gradient noise
/// stops averaging out (a Robbins–Monro condition, as Stan's ADVI step-size sequence).
#[derive(Clone, Debug)]
pub struct Adam {
    /// The step size at the first iteration.
    pub learning_rate: f64,
    /// Decay rate of the first-moment (mean) estimate.
    pub beta1: f64,
    /// Decay rate of the second-moment (uncentred variance) estimate.
    pub beta2: f64,
    /// Added to the root second moment to avoid dividing by zero.
    pub epsilon: f64,
    /// Iterations over which the learning rate falls by a factor `sqrt(2)`; `f64::INFINITY`
    /// keeps it constant.
    pub decay_steps: f64,
    first_moment: Vec<f64>,
    second_moment: Vec<f64>,
    steps: u64,
}

impl Adam {
    /// Adam with the usual moment rates (0.9, 0.999), epsilon 1e-8, and the given schedule.
    pub fn new(learning_rate: f64, decay_steps: f64) -> Self {
        Adam {
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            decay_steps,
            first_moment: Vec::new(),
            second_moment: Vec::new(),
            steps: 0,
        }
    }
}

impl Optimiser for Adam {
    fn reset(&mut self) {
        self.first_moment.clear();
        self.second_moment.clear();
        self.steps = 0;
    }

    fn current_learning_rate(&self) -> f64 {
        self.learning_rate / (1.0 + self.steps as f64 / self.decay_steps).sqrt()
    }

    fn step(&mut self, parameters: &mut [f64], gradient: &[f64]) {
        if self.first_moment.len() != parameters.len() {
            self.first_moment = vec![0.0; parameters.len()];
            self.second_moment = vec![0.0; parameters.len()];
        }
        let rate = self.current_learning_rate();
        self.steps += 1;
        let power = i32::try_from(self.steps).unwrap_or(i32::MAX);
        let first_correction = 1.0 - self.beta1.powi(power);
        let second_correction = 1.0 - self.beta2.powi(power);
        for (((parameter, g), m), v) in parameters
            .iter_mut()
            .zip(gradient)
            .zip(&mut self.first_moment)
            .zip(&mut self.second_moment)
        {
            *m = self.beta1 * *m + (1.0 - self.beta1) * g;
            *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
            let m_hat = *m / first_correction;
            let v_hat = *v / second_correction;
            *parameter += rate * m_hat / (v_hat.sqrt() + self.epsilon);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_climbs_a_quadratic() {
        // f(x) = -(x - 3)^2 / 2, gradient 3 - x.
        let mut adam = Adam::new(0.1, f64::INFINITY);
        let mut x = [0.0];
        for _ in 0..2000 {
            let g = [3.0 - x[0]];
            adam.step(&mut x, &g);
        }
        assert!((x[0] - 3.0).abs() < 1e-3, "{}", x[0]);
    }

    #[test]
    fn schedule_decays_as_inverse_square_root() {
        let mut adam = Adam::new(1.0, 10.0);
        let mut x = [0.0];
        for _ in 0..30 {
            adam.step(&mut x, &[1.0]);
        }
        assert!((adam.current_learning_rate() - 0.5).abs() < 1e-12);
    }
}
