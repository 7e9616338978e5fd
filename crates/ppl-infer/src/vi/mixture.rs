//! One ELBO, two ways of maximising it: EM and the ELBO engine on a finite mixture of univariate
//! Normals (the seeds' equivalence; Neal and Hinton 1998, Kingma and Welling 2014).
//!
//! For data `x`, assignments `z` and parameters θ = (weights, means, sds), and any guide `q(z)`
//! that factorises over rows,
//!
//! ```text
//! ELBO(q, θ) = Σ_n Σ_k q_nk [log w_k + log N(x_n | μ_k, σ_k)] − Σ_n Σ_k q_nk log q_nk
//!            = log p(x | θ) − KL(q ‖ p(z | x, θ)),
//! ```
//!
//! so it equals the log-likelihood exactly when `q` is the posterior of `z` ([`exact_posterior`],
//! the E-step). [`MixtureElbo`] computes that one function, and the two maximisers below only
//! differ in how θ moves with `q` held at the exact posterior:
//!
//! - [`coordinate_ascent`] (EM): θ jumps to the ELBO's maximiser in θ for that `q`, in closed form
//!   ([`MixtureElbo::maximise_parameters`], the M-step);
//! - [`gradient_ascent`] (the ELBO engine): L-BFGS over unconstrained θ on the function
//!   `θ ↦ ELBO(q*(θ), θ)`, with the ELBO's gradient in θ at `q` fixed. By the envelope argument
//!   (`∂ELBO/∂q = 0` at the exact posterior) that is the gradient of the log-likelihood
//!   (Fisher's identity), so no separate likelihood is ever written.
//!
//! [`exact_posterior`]: MixtureElbo::exact_posterior

use crate::density::{LogDensity, LogDensityError};
use crate::optimize::{OptimizeError, OptimizeSettings, maximize};

/// `log(2π)`.
const LOG_TWO_PI: f64 = 1.8378770664093453;

/// The parameters θ of a univariate Normal mixture, on the constrained scale.
#[derive(Clone, Debug, PartialEq)]
pub struct MixtureParameters {
    pub weights: Vec<f64>,
    pub means: Vec<f64>,
    pub sds: Vec<f64>,
}

impl MixtureParameters {
    /// The unconstrained vector `[logits 2..K (the first is 0), means, log sds]`.
    pub fn unconstrained(&self) -> Vec<f64> {
        let first = self.weights[0].ln();
        let mut position: Vec<f64> = self.weights[1..].iter().map(|w| w.ln() - first).collect();
        position.extend_from_slice(&self.means);
        position.extend(self.sds.iter().map(|s| s.ln()));
        position
    }

    /// The inverse of [`unconstrained`](Self::unconstrained) for `components` components.
    pub fn from_unconstrained(position: &[f64], components: usize) -> MixtureParameters {
        let k = components;
        let logits: Vec<f64> = std::iter::once(0.0)
            .chain(position[..k - 1].iter().copied())
            .collect();
        let largest = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exponentials: Vec<f64> = logits.iter().map(|a| (a - largest).exp()).collect();
        let total: f64 = exponentials.iter().sum();
        MixtureParameters {
            weights: exponentials.iter().map(|e| e / total).collect(),
            means: position[k - 1..2 * k - 1].to_vec(),
            sds: position[2 * k - 1..3 * k - 1]
                .iter()
                .map(|s| s.exp())
                .collect(),
        }
    }
}

/// The ELBO of a `components`-component univariate Normal mixture over the data `x`, with a
/// guide `q` given as `n × K` row-major membership probabilities.
#[derive(Clone, Debug)]
pub struct MixtureElbo<'a> {
    pub x: &'a [f64],
    pub components: usize,
}

impl<'a> MixtureElbo<'a> {
    /// `log w_k + log N(x_n | μ_k, σ_k)` for every row and component, row-major.
    fn joint_log_densities(&self, theta: &MixtureParameters) -> Vec<f64> {
        let k = self.components;
        let mut joint = Vec::with_capacity(self.x.len() * k);
        for &x in self.x {
            for c in 0..k {
                let z = (x - theta.means[c]) / theta.sds[c];
                joint.push(theta.weights[c].ln() - 0.5 * (LOG_TWO_PI + z * z) - theta.sds[c].ln());
            }
        }
        joint
    }

    /// `ELBO(q, θ)`: the expected joint log density under `q` plus the entropy of `q`.
    pub fn elbo(&self, q: &[f64], theta: &MixtureParameters) -> f64 {
        let joint = self.joint_log_densities(theta);
        q.iter()
            .zip(&joint)
            .map(|(&q, &j)| if q > 0.0 { q * (j - q.ln()) } else { 0.0 })
            .sum()
    }

    /// The E-step: the guide that makes the ELBO tight at θ, `q_nk = p(z_n = k | x_n, θ)`.
    pub fn exact_posterior(&self, theta: &MixtureParameters) -> Vec<f64> {
        let k = self.components;
        let mut q = self.joint_log_densities(theta);
        for row in q.chunks_exact_mut(k) {
            let largest = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            row.iter_mut().for_each(|v| *v = (*v - largest).exp());
            let total: f64 = row.iter().sum();
            row.iter_mut().for_each(|v| *v /= total);
        }
        q
    }

    /// The M-step: the θ that maximises `ELBO(q, ·)` for this `q`, in closed form (weighted
    /// proportions, means and standard deviations).
    pub fn maximise_parameters(&self, q: &[f64]) -> MixtureParameters {
        let k = self.components;
        let mut mass = vec![0.0; k];
        let mut sums = vec![0.0; k];
        for (&x, row) in self.x.iter().zip(q.chunks_exact(k)) {
            for c in 0..k {
                mass[c] += row[c];
                sums[c] += row[c] * x;
            }
        }
        let means: Vec<f64> = sums.iter().zip(&mass).map(|(s, m)| s / m).collect();
        let mut squares = vec![0.0; k];
        for (&x, row) in self.x.iter().zip(q.chunks_exact(k)) {
            for c in 0..k {
                squares[c] += row[c] * (x - means[c]).powi(2);
            }
        }
        MixtureParameters {
            weights: mass.iter().map(|m| m / self.x.len() as f64).collect(),
            sds: squares
                .iter()
                .zip(&mass)
                .map(|(s, m)| (s / m).sqrt())
                .collect(),
            means,
        }
    }

    /// The gradient of `ELBO(q, θ)` in the unconstrained θ of
    /// [`MixtureParameters::unconstrained`], with `q` held fixed.
    pub fn parameter_gradient(&self, q: &[f64], theta: &MixtureParameters, gradient: &mut [f64]) {
        let k = self.components;
        gradient.fill(0.0);
        for (&x, row) in self.x.iter().zip(q.chunks_exact(k)) {
            // Σ_k q_k log softmax(a)_k has derivative q_j − w_j in a_j (Σ q = 1).
            for c in 1..k {
                gradient[c - 1] += row[c] - theta.weights[c];
            }
            for c in 0..k {
                let precision = theta.sds[c].powi(-2);
                let residual = x - theta.means[c];
                gradient[k - 1 + c] += row[c] * residual * precision;
                gradient[2 * k - 1 + c] += row[c] * (residual * residual * precision - 1.0);
            }
        }
    }
}

/// `θ ↦ ELBO(q*(θ), θ)` over unconstrained θ, its gradient taken at `q` fixed: what the ELBO
/// engine maximises when its guide is the exact posterior.
#[derive(Clone, Debug)]
struct ExactGuideObjective<'a> {
    elbo: MixtureElbo<'a>,
}

impl LogDensity for ExactGuideObjective<'_> {
    fn dim(&self) -> usize {
        3 * self.elbo.components - 1
    }

    fn log_density_and_gradient(
        &mut self,
        position: &[f64],
        gradient: &mut [f64],
    ) -> Result<f64, LogDensityError> {
        let theta = MixtureParameters::from_unconstrained(position, self.elbo.components);
        let q = self.elbo.exact_posterior(&theta);
        self.elbo.parameter_gradient(&q, &theta, gradient);
        let value = self.elbo.elbo(&q, &theta);
        if value.is_finite() && gradient.iter().all(|g| g.is_finite()) {
            Ok(value)
        } else {
            Err(LogDensityError::NotFinite {
                term: None,
                term_index: None,
            })
        }
    }
}

/// A maximiser's answer: θ, the ELBO at the exact posterior (the log-likelihood) per step, and
/// whether it converged.
#[derive(Clone, Debug, PartialEq)]
pub struct MixtureOptimum {
    pub parameters: MixtureParameters,
    pub elbo: f64,
    pub trace: Vec<f64>,
    pub converged: bool,
}

/// EM: alternately the exact posterior of `z` and the closed-form maximiser in θ, until the ELBO
/// rises by less than `tolerance` or after `max_iterations` M-steps.
pub fn coordinate_ascent(
    elbo: &MixtureElbo<'_>,
    start: &MixtureParameters,
    tolerance: f64,
    max_iterations: usize,
) -> MixtureOptimum {
    let mut theta = start.clone();
    let mut q = elbo.exact_posterior(&theta);
    let mut trace = vec![elbo.elbo(&q, &theta)];
    let mut converged = false;
    for _ in 0..max_iterations {
        theta = elbo.maximise_parameters(&q);
        q = elbo.exact_posterior(&theta);
        let value = elbo.elbo(&q, &theta);
        let previous = trace.last().copied().unwrap_or(f64::NEG_INFINITY);
        trace.push(value);
        if (value - previous).abs() < tolerance {
            converged = true;
            break;
        }
    }
    MixtureOptimum {
        parameters: theta,
        elbo: trace.last().copied().unwrap_or(f64::NEG_INFINITY),
        trace,
        converged,
    }
}

/// The ELBO engine with the exact posterior as guide: L-BFGS on θ over `ELBO(q*(θ), θ)`.
pub fn gradient_ascent(
    elbo: &MixtureElbo<'_>,
    start: &MixtureParameters,
    settings: &OptimizeSettings,
) -> Result<MixtureOptimum, OptimizeError> {
    let mut objective = ExactGuideObjective { elbo: elbo.clone() };
    let result = maximize(&mut objective, &start.unconstrained(), settings)?;
    Ok(MixtureOptimum {
        parameters: MixtureParameters::from_unconstrained(&result.position, elbo.components),
        elbo: result.log_density,
        trace: result.trace,
        converged: result.converged,
    })
}
