//! The fused generalised linear model likelihood: `Σ_i log p(y_i | a + X_i · b [, s])` over a data
//! design matrix X (N × D, row-major) as one tape node, for the normal identity link, the
//! Bernoulli logit link and the Poisson log link.
//!
//! The unfused tape builds a matrix-vector product, an add, and a density node, each with its own
//! N-element buffers, and its reverse pass reads X a second time for `Xᵀ r`. Here the forward pass
//! with partials makes one sweep over the rows: the linear predictor of row i, the slope
//! `r_i = ∂ log p_i / ∂ η_i`, and the accumulation `g += r_i X_i` while the row is still in the
//! cache. The sum's gradient by b is then `g` whatever the node's adjoint, so the reverse pass only
//! scales three stored sums (by b, by a, and by s): X is read once per gradient evaluation.
//!
//! The lowering (`lower/glm.rs`) checks the data once when the tape is built (finite normal
//! outcomes, 0/1 for Bernoulli, non-negative integer counts for Poisson) and falls back to the
//! unfused nodes otherwise, so the loop here has no per-element support checks.

use super::graph::{NodeId, NodeInfo};

/// The likelihood and link of a fused GLM node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GlmFamily {
    /// `y ~ Normal(η, s)`.
    NormalIdentity,
    /// `y ~ Bernoulli(logit = η)`.
    BernoulliLogit,
    /// `y ~ Poisson(log_rate = η)`.
    PoissonLog,
}

/// The fused node's inputs and what its forward pass keeps for the reverse pass.
#[derive(Clone)]
pub(crate) struct GlmNode {
    pub family: GlmFamily,
    /// The design matrix, a constant node of `rows × columns` values in row-major order.
    pub design: NodeId,
    /// The outcomes, a constant node of `rows` values.
    pub outcome: NodeId,
    /// The intercept `a` (one value), if the linear predictor has one.
    pub intercept: Option<NodeId>,
    /// The coefficients `b` (`columns` values).
    pub coefficients: NodeId,
    /// The normal's standard deviation `s` (one value); `None` for the other families.
    pub scale: Option<NodeId>,
    pub rows: usize,
    pub columns: usize,
    /// The part of the log density that does not depend on the unknowns: `-N ln √(2π)` for the
    /// normal, `-Σ ln y_i!` for the Poisson, 0 for the Bernoulli.
    pub constant: f64,
    /// `Σ_i r_i X_i` at the last forward pass with partials: the gradient by the coefficients.
    pub coefficient_gradient: Vec<f64>,
    /// `Σ_i r_i`: the gradient by the intercept.
    pub intercept_gradient: f64,
    /// The gradient by the normal's scale.
    pub scale_gradient: f64,
}

/// A dot product with four running sums, which the compiler can vectorise.
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut sums = [0.0; 4];
    let mut left = a.chunks_exact(4);
    let mut right = b.chunks_exact(4);
    for (x, y) in (&mut left).zip(&mut right) {
        for lane in 0..4 {
            sums[lane] += x[lane] * y[lane];
        }
    }
    let mut total = (sums[0] + sums[1]) + (sums[2] + sums[3]);
    for (x, y) in left.remainder().iter().zip(right.remainder()) {
        total += x * y;
    }
    total
}

/// `target += scale * row`.
#[inline]
fn axpy(target: &mut [f64], scale: f64, row: &[f64]) {
    for (t, x) in target.iter_mut().zip(row) {
        *t += scale * x;
    }
}

/// `(log(1 + e^η), sigmoid(η))` from one exponential of `-|η|`, which never overflows.
#[inline]
fn softplus_and_sigmoid(eta: f64) -> (f64, f64) {
    let small = (-eta.abs()).exp();
    let softplus = eta.max(0.0) + small.ln_1p();
    let sigmoid = if eta >= 0.0 {
        1.0 / (1.0 + small)
    } else {
        small / (1.0 + small)
    };
    (softplus, sigmoid)
}

impl GlmNode {
    /// The log density at the values in `before`; with `with_partials`, also the three gradient
    /// sums for the reverse pass.
    pub fn forward(&mut self, nodes: &[NodeInfo], before: &[f64], with_partials: bool) -> f64 {
        let read = |id: NodeId| {
            let node = &nodes[id];
            &before[node.start..node.start + node.len]
        };
        let x = read(self.design);
        let y = read(self.outcome);
        let b = read(self.coefficients);
        let a = self.intercept.map_or(0.0, |id| read(id)[0]);
        let columns = self.columns;
        let rows = x.chunks_exact(columns.max(1)).take(self.rows);
        if with_partials {
            self.coefficient_gradient.fill(0.0);
            self.intercept_gradient = 0.0;
            self.scale_gradient = 0.0;
        }
        let gradient = &mut self.coefficient_gradient;
        match self.family {
            GlmFamily::NormalIdentity => {
                let s = self.scale.map_or(1.0, |id| read(id)[0]);
                if s.is_nan() || s <= 0.0 {
                    // Outside the scale's support (the gradient sums stay zero).
                    return if s.is_nan() {
                        f64::NAN
                    } else {
                        f64::NEG_INFINITY
                    };
                }
                // With e_i = y_i - η_i: log p = -Σe²/(2s²) - N ln s + constant,
                // ∂/∂η_i = e_i/s², ∂/∂s = Σe²/s³ - N/s.
                let mut squares = 0.0;
                let mut residual_sum = 0.0;
                if with_partials {
                    for (row, &y_i) in rows.zip(y) {
                        let residual = y_i - (a + dot(row, b));
                        squares += residual * residual;
                        residual_sum += residual;
                        axpy(gradient, residual, row);
                    }
                } else {
                    for (row, &y_i) in rows.zip(y) {
                        let residual = y_i - (a + dot(row, b));
                        squares += residual * residual;
                    }
                }
                let precision = 1.0 / (s * s);
                let count = self.rows as f64;
                if with_partials {
                    gradient.iter_mut().for_each(|g| *g *= precision);
                    self.intercept_gradient = residual_sum * precision;
                    self.scale_gradient = (squares * precision - count) / s;
                }
                -0.5 * squares * precision - count * s.ln() + self.constant
            }
            GlmFamily::BernoulliLogit => {
                // log p = y η - log(1 + e^η), ∂/∂η = y - sigmoid(η).
                let mut total = 0.0;
                let mut slope_sum = 0.0;
                for (row, &y_i) in rows.zip(y) {
                    let eta = a + dot(row, b);
                    let (softplus, sigmoid) = softplus_and_sigmoid(eta);
                    total += y_i * eta - softplus;
                    if with_partials {
                        let slope = y_i - sigmoid;
                        slope_sum += slope;
                        axpy(gradient, slope, row);
                    }
                }
                self.intercept_gradient = slope_sum;
                total + self.constant
            }
            GlmFamily::PoissonLog => {
                // log p = y η - e^η - ln y!, ∂/∂η = y - e^η.
                let mut total = 0.0;
                let mut slope_sum = 0.0;
                for (row, &y_i) in rows.zip(y) {
                    let eta = a + dot(row, b);
                    let rate = eta.exp();
                    total += y_i * eta - rate;
                    if with_partials {
                        let slope = y_i - rate;
                        slope_sum += slope;
                        axpy(gradient, slope, row);
                    }
                }
                self.intercept_gradient = slope_sum;
                total + self.constant
            }
        }
    }

    /// Adds `adjoint` times the stored gradient sums to the inputs' adjoints.
    pub fn backward(&self, nodes: &[NodeInfo], adjoint: f64, before_adjoints: &mut [f64]) {
        let node = &nodes[self.coefficients];
        if node.needs_gradient {
            let target = &mut before_adjoints[node.start..node.start + node.len];
            axpy(target, adjoint, &self.coefficient_gradient);
        }
        for (input, gradient) in [
            (self.intercept, self.intercept_gradient),
            (self.scale, self.scale_gradient),
        ] {
            if let Some(id) = input
                && nodes[id].needs_gradient
            {
                before_adjoints[nodes[id].start] += adjoint * gradient;
            }
        }
    }
}

#[cfg(test)]
#[path = "glm_tests.rs"]
mod tests;
