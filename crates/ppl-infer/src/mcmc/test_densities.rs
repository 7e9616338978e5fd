//! Hand-written log densities with known moments, for testing the samplers without a model.

use crate::density::{LogDensity, LogDensityError};

/// Independent normals with the given means and standard deviations.
#[derive(Clone, Debug)]
pub struct IndependentNormal {
    pub means: Vec<f64>,
    pub sds: Vec<f64>,
}

impl IndependentNormal {
    pub fn standard(dim: usize) -> Self {
        IndependentNormal {
            means: vec![0.0; dim],
            sds: vec![1.0; dim],
        }
    }
}

impl LogDensity for IndependentNormal {
    fn dim(&self) -> usize {
        self.means.len()
    }

    fn log_density_and_gradient(
        &mut self,
        position: &[f64],
        gradient: &mut [f64],
    ) -> Result<f64, LogDensityError> {
        let mut value = 0.0;
        for (((x, m), s), g) in position
            .iter()
            .zip(&self.means)
            .zip(&self.sds)
            .zip(gradient)
        {
            let z = (x - m) / s;
            value -= 0.5 * z * z;
            *g = -z / s;
        }
        Ok(value)
    }
}

/// A bivariate normal with standard deviations `sds` and correlation `correlation`.
#[derive(Clone, Debug)]
pub struct CorrelatedNormal {
    pub means: [f64; 2],
    pub sds: [f64; 2],
    pub correlation: f64,
}

impl LogDensity for CorrelatedNormal {
    fn dim(&self) -> usize {
        2
    }

    fn log_density_and_gradient(
        &mut self,
        position: &[f64],
        gradient: &mut [f64],
    ) -> Result<f64, LogDensityError> {
        let z0 = (position[0] - self.means[0]) / self.sds[0];
        let z1 = (position[1] - self.means[1]) / self.sds[1];
        let r = self.correlation;
        let scale = 1.0 / (1.0 - r * r);
        let value = -0.5 * scale * (z0 * z0 - 2.0 * r * z0 * z1 + z1 * z1);
        gradient[0] = -scale * (z0 - r * z1) / self.sds[0];
        gradient[1] = -scale * (z1 - r * z0) / self.sds[1];
        Ok(value)
    }
}

/// Neal's funnel, centred: `v ~ N(0, 3)`, `x_i ~ N(0, exp(v/2))`. Hard by design: NUTS
/// diverges in the neck.
#[derive(Clone, Debug)]
pub struct Funnel {
    pub dim: usize,
}

impl LogDensity for Funnel {
    fn dim(&self) -> usize {
        self.dim
    }

    fn log_density_and_gradient(
        &mut self,
        position: &[f64],
        gradient: &mut [f64],
    ) -> Result<f64, LogDensityError> {
        let v = position[0];
        let n = (self.dim - 1) as f64;
        let precision = (-v).exp();
        let sum_squares: f64 = position[1..].iter().map(|x| x * x).sum();
        let value = -v * v / 18.0 - 0.5 * n * v - 0.5 * precision * sum_squares;
        gradient[0] = -v / 9.0 - 0.5 * n + 0.5 * precision * sum_squares;
        for (g, x) in gradient[1..].iter_mut().zip(&position[1..]) {
            *g = -precision * x;
        }
        Ok(value)
    }
}

/// `y_i ~ N(mu, sigma)` with known `sigma` and prior `mu ~ N(prior_mean, prior_sd)`: the
/// posterior of `mu` is normal with known mean and sd.
#[derive(Clone, Debug)]
pub struct NormalNormal {
    pub data: Vec<f64>,
    pub sigma: f64,
    pub prior_mean: f64,
    pub prior_sd: f64,
}

impl NormalNormal {
    /// Posterior mean and standard deviation.
    pub fn posterior(&self) -> (f64, f64) {
        let precision = 1.0 / (self.prior_sd * self.prior_sd)
            + self.data.len() as f64 / (self.sigma * self.sigma);
        let mean = (self.prior_mean / (self.prior_sd * self.prior_sd)
            + self.data.iter().sum::<f64>() / (self.sigma * self.sigma))
            / precision;
        (mean, precision.sqrt().recip())
    }
}

impl LogDensity for NormalNormal {
    fn dim(&self) -> usize {
        1
    }

    fn log_density_and_gradient(
        &mut self,
        position: &[f64],
        gradient: &mut [f64],
    ) -> Result<f64, LogDensityError> {
        let mu = position[0];
        let prior_z = (mu - self.prior_mean) / self.prior_sd;
        let mut value = -0.5 * prior_z * prior_z;
        let mut slope = -prior_z / self.prior_sd;
        for y in &self.data {
            let z = (y - mu) / self.sigma;
            value -= 0.5 * z * z;
            slope += z / self.sigma;
        }
        gradient[0] = slope;
        Ok(value)
    }
}

/// A banana (twisted Gaussian): `x₀ ~ N(0, 10)`, `x₁ | x₀ ~ N(b (x₀² − 100), 1)`. Then
/// `E[x₀] = E[x₁] = 0`, `sd(x₀) = 10`, `var(x₁) = 2·10⁴ b² + 1`.
#[derive(Clone, Debug)]
pub struct Banana {
    pub curvature: f64,
}

impl LogDensity for Banana {
    fn dim(&self) -> usize {
        2
    }

    fn log_density_and_gradient(
        &mut self,
        position: &[f64],
        gradient: &mut [f64],
    ) -> Result<f64, LogDensityError> {
        let (x0, x1) = (position[0], position[1]);
        let b = self.curvature;
        let residual = x1 - b * (x0 * x0 - 100.0);
        gradient[0] = -x0 / 100.0 + residual * 2.0 * b * x0;
        gradient[1] = -residual;
        Ok(-x0 * x0 / 200.0 - 0.5 * residual * residual)
    }
}

/// A density that cannot be evaluated anywhere, naming the statement at fault.
#[derive(Clone, Debug)]
pub struct Nowhere {
    pub dim: usize,
}

impl LogDensity for Nowhere {
    fn dim(&self) -> usize {
        self.dim
    }

    fn log_density_and_gradient(
        &mut self,
        _position: &[f64],
        _gradient: &mut [f64],
    ) -> Result<f64, LogDensityError> {
        Err(LogDensityError::NotFinite {
            term: Some("y ~ Normal(mu, -1)".to_string()),
            term_index: None,
        })
    }
}

/// A multivariate normal given by its covariance (the precision is computed once).
#[derive(Clone, Debug)]
pub struct MultivariateNormal {
    pub mean: Vec<f64>,
    precision: nalgebra::DMatrix<f64>,
}

impl MultivariateNormal {
    pub fn new(mean: Vec<f64>, covariance: nalgebra::DMatrix<f64>) -> Self {
        let precision = covariance.clone().try_inverse().unwrap_or(covariance);
        MultivariateNormal { mean, precision }
    }
}

impl LogDensity for MultivariateNormal {
    fn dim(&self) -> usize {
        self.mean.len()
    }

    fn log_density_and_gradient(
        &mut self,
        position: &[f64],
        gradient: &mut [f64],
    ) -> Result<f64, LogDensityError> {
        let centred: Vec<f64> = position
            .iter()
            .zip(&self.mean)
            .map(|(x, m)| x - m)
            .collect();
        let mut value = 0.0;
        for (i, (slot, offset)) in gradient.iter_mut().zip(&centred).enumerate() {
            let row: f64 = centred
                .iter()
                .enumerate()
                .map(|(j, c)| self.precision[(i, j)] * c)
                .sum();
            *slot = -row;
            value -= 0.5 * offset * row;
        }
        Ok(value)
    }
}
