//! Constraint transforms: maps from unconstrained reals onto each constrained type, with the log
//! absolute Jacobian determinant the sampler adds to the log density, their inverses, and
//! hand-written reverse rules. They follow the Stan Reference Manual, "Constraint Transforms":
//!
//! | constraint | n means | unconstrained | constrained | map, log-Jacobian |
//! |---|---|---|---|---|
//! | `Real` | count | n | n | identity, 0 |
//! | `LowerBound(a)` | count | n | n | `a + e^u`, `Σ u` |
//! | `UpperBound(b)` | count | n | n | `b - e^u`, `Σ u` |
//! | `Interval(a, b)` | count | n | n | `a + (b-a) logistic(u)`, `Σ ln(b-a) + ln s + ln(1-s)` |
//! | `Ordered` | length | n | n | `x_1 = u_1`, `x_k = x_{k-1} + e^(u_k)`, `Σ_{k>1} u_k` |
//! | `PositiveOrdered` | length | n | n | as `Ordered` with `x_1 = e^(u_1)`, `Σ u_k` |
//! | `Simplex` | K | K - 1 | K | isometric log-ratio (below) |
//! | `CorrCholesky` | K | K(K-1)/2 | K×K | canonical partial correlations `tanh(u)` |
//! | `Cov` | K | K(K+1)/2 | K×K | `Σ = L Lᵀ`, L lower with `L_ii = e^(u_ii)` |
//!
//! Matrices are flat row-major. Simplex uses the isometric log-ratio transform (Stan ≥ 2.36):
//! `x = softmax(V u)` with V the K×(K-1) orthonormal Helmert basis of the sum-zero subspace
//! (column j: j ones, then -j, scaled by `1/√(j(j+1))`), whose log-Jacobian onto the first K-1
//! coordinates is `Σ_k ln x_k + ½ ln K`. `CorrCholesky` reads its K(K-1)/2 values row by row over
//! the strictly lower triangle (`L_ij = z_ij √(1 - Σ_{m<j} L_im²)`); `Cov` reads K(K+1)/2 values
//! row by row over the lower triangle with the diagonal on the log scale. As in the manual,
//! the Jacobian of the non-square maps is taken onto the free coordinates: the first K-1 simplex
//! entries, the strictly lower entries of the correlation Cholesky factor, and the lower triangle
//! (with diagonal) of the covariance matrix.

use crate::density::CONSTRAINT_TOLERANCE;
use crate::special::Real;
use nalgebra::DMatrix;
use std::f64::consts::LN_2;
use thiserror::Error;

/// The constrained types of the language (LANGUAGE.md §3); `positive` and `unit` are
/// [`Constraint::POSITIVE`] and [`Constraint::UNIT`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Constraint {
    Real,
    LowerBound(f64),
    UpperBound(f64),
    Interval(f64, f64),
    Simplex,
    Ordered,
    PositiveOrdered,
    CorrCholesky,
    Cov,
}

#[derive(Clone, Debug, Error, PartialEq)]
pub enum TransformError {
    #[error("{what} has length {found}, expected {expected}")]
    Length {
        what: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("{0:?} has invalid bounds (they must be finite, lower < upper)")]
    InvalidBounds(Constraint),
    #[error("a {constraint:?} of size 0 does not exist")]
    EmptySize { constraint: Constraint },
    #[error("the value is not a {constraint:?}: {reason}")]
    OutsideConstraint {
        constraint: Constraint,
        reason: &'static str,
    },
}

fn length(what: &'static str, expected: usize, found: usize) -> Result<(), TransformError> {
    if expected == found {
        Ok(())
    } else {
        Err(TransformError::Length {
            what,
            expected,
            found,
        })
    }
}

/// `ln(1 - tanh(u)²) = 2 (ln 2 - |u| - ln(1 + e^(-2|u|)))`, without cancellation for large |u|.
fn log_sech_squared<D: Real>(u: D) -> D {
    let magnitude = u.abs();
    ((magnitude * -2.0).exp().ln_1p() + magnitude - LN_2) * -2.0
}

/// `1 / (1 + e^-u)` without overflow on either side.
fn logistic<D: Real>(u: D) -> D {
    if u.value() >= 0.0 {
        ((-u).exp() + 1.0).recip()
    } else {
        let e = u.exp();
        e / (e + 1.0)
    }
}

impl Constraint {
    pub const POSITIVE: Constraint = Constraint::LowerBound(0.0);
    pub const UNIT: Constraint = Constraint::Interval(0.0, 1.0);

    /// Number of unconstrained reals for one object of size `n`.
    pub fn unconstrained_len(&self, n: usize) -> usize {
        match self {
            Constraint::Simplex => n.saturating_sub(1),
            Constraint::CorrCholesky => n * n.saturating_sub(1) / 2,
            Constraint::Cov => n * (n + 1) / 2,
            _ => n,
        }
    }

    /// Number of constrained values (flat, row-major for matrices) for one object of size `n`.
    pub fn constrained_len(&self, n: usize) -> usize {
        match self {
            Constraint::CorrCholesky | Constraint::Cov => n * n,
            _ => n,
        }
    }

    fn check(
        &self,
        n: usize,
        unconstrained: usize,
        constrained: usize,
    ) -> Result<(), TransformError> {
        match *self {
            Constraint::LowerBound(a) | Constraint::UpperBound(a) if !a.is_finite() => {
                return Err(TransformError::InvalidBounds(*self));
            }
            Constraint::Interval(a, b) if !(a.is_finite() && b.is_finite() && a < b) => {
                return Err(TransformError::InvalidBounds(*self));
            }
            Constraint::Simplex if n == 0 => {
                return Err(TransformError::EmptySize { constraint: *self });
            }
            _ => {}
        }
        length("unconstrained", self.unconstrained_len(n), unconstrained)?;
        length("constrained", self.constrained_len(n), constrained)
    }

    /// Maps `unconstrained` onto `constrained` and returns `ln |J|`.
    pub fn constrain(
        &self,
        n: usize,
        unconstrained: &[f64],
        constrained: &mut [f64],
    ) -> Result<f64, TransformError> {
        self.constrain_generic(n, unconstrained, constrained)
    }

    /// [`Constraint::constrain`] for any [`Real`]: with duals it is the forward-mode oracle for
    /// the reverse rule.
    pub fn constrain_generic<D: Real>(
        &self,
        n: usize,
        unconstrained: &[D],
        constrained: &mut [D],
    ) -> Result<D, TransformError> {
        self.check(n, unconstrained.len(), constrained.len())?;
        let u = unconstrained;
        let x = constrained;
        let mut log_jacobian = D::constant(0.0);
        match *self {
            Constraint::Real => x.copy_from_slice(u),
            Constraint::LowerBound(a) => {
                for (xi, &ui) in x.iter_mut().zip(u) {
                    *xi = ui.exp() + a;
                    log_jacobian += ui;
                }
            }
            Constraint::UpperBound(b) => {
                for (xi, &ui) in x.iter_mut().zip(u) {
                    *xi = -ui.exp() + b;
                    log_jacobian += ui;
                }
            }
            Constraint::Interval(a, b) => {
                let width = b - a;
                for (xi, &ui) in x.iter_mut().zip(u) {
                    *xi = logistic(ui) * width + a;
                    log_jacobian += -ui.log1p_exp() - (-ui).log1p_exp() + width.ln();
                }
            }
            Constraint::Ordered | Constraint::PositiveOrdered => {
                for k in 0..n {
                    if k == 0 {
                        if *self == Constraint::Ordered {
                            x[0] = u[0];
                        } else {
                            x[0] = u[0].exp();
                            log_jacobian += u[0];
                        }
                    } else {
                        x[k] = x[k - 1] + u[k].exp();
                        log_jacobian += u[k];
                    }
                }
            }
            Constraint::Simplex => {
                helmert_apply(u, x);
                let normaliser = crate::special::log_sum_exp_generic(x);
                for xi in x.iter_mut() {
                    let log_xi = *xi - normaliser;
                    log_jacobian += log_xi;
                    *xi = log_xi.exp();
                }
                log_jacobian += 0.5 * (n as f64).ln();
            }
            Constraint::CorrCholesky => {
                let mut next = 0;
                for i in 0..n {
                    let mut log_remaining = D::constant(0.0); // ln(1 - Σ_{m<j} L_im²)
                    for j in 0..n {
                        x[i * n + j] = D::constant(0.0);
                        if j < i {
                            let z = u[next].tanh();
                            let log_sech2 = log_sech_squared(u[next]);
                            next += 1;
                            x[i * n + j] = z * (log_remaining * 0.5).exp();
                            log_jacobian += log_sech2 + log_remaining * 0.5;
                            log_remaining += log_sech2;
                        }
                    }
                    x[i * n + i] = (log_remaining * 0.5).exp();
                }
            }
            Constraint::Cov => {
                // Build L row-major, then Σ = L Lᵀ.
                let mut lower = vec![D::constant(0.0); n * n];
                let mut next = 0;
                for i in 0..n {
                    for j in 0..=i {
                        if j == i {
                            lower[i * n + i] = u[next].exp();
                            log_jacobian += u[next] * (n - i + 1) as f64;
                        } else {
                            lower[i * n + j] = u[next];
                        }
                        next += 1;
                    }
                }
                log_jacobian += n as f64 * LN_2;
                for i in 0..n {
                    for j in 0..=i {
                        let mut sum = D::constant(0.0);
                        for m in 0..=j {
                            sum += lower[i * n + m] * lower[j * n + m];
                        }
                        x[i * n + j] = sum;
                        x[j * n + i] = sum;
                    }
                }
            }
        }
        Ok(log_jacobian)
    }

    /// The inverse map. Errors if `constrained` does not satisfy the constraint (within
    /// [`CONSTRAINT_TOLERANCE`] for sums, symmetry and unit rows; bounds are strict, as the
    /// transforms cannot reach them).
    pub fn unconstrain(
        &self,
        n: usize,
        constrained: &[f64],
        unconstrained: &mut [f64],
    ) -> Result<(), TransformError> {
        self.check(n, unconstrained.len(), constrained.len())?;
        let x = constrained;
        let u = unconstrained;
        let outside = |reason: &'static str| TransformError::OutsideConstraint {
            constraint: *self,
            reason,
        };
        if x.iter().any(|v| !v.is_finite()) {
            return Err(outside("values must be finite"));
        }
        match *self {
            Constraint::Real => u.copy_from_slice(x),
            Constraint::LowerBound(a) => {
                for (ui, &xi) in u.iter_mut().zip(x) {
                    if !(xi > a) {
                        return Err(outside("below the lower bound"));
                    }
                    *ui = (xi - a).ln();
                }
            }
            Constraint::UpperBound(b) => {
                for (ui, &xi) in u.iter_mut().zip(x) {
                    if !(xi < b) {
                        return Err(outside("above the upper bound"));
                    }
                    *ui = (b - xi).ln();
                }
            }
            Constraint::Interval(a, b) => {
                for (ui, &xi) in u.iter_mut().zip(x) {
                    if !(xi > a && xi < b) {
                        return Err(outside("outside the interval"));
                    }
                    // logit((x - a)/(b - a)) = ln(x - a) - ln(b - x)
                    *ui = (xi - a).ln() - (b - xi).ln();
                }
            }
            Constraint::Ordered | Constraint::PositiveOrdered => {
                for k in 0..n {
                    if k == 0 {
                        if *self == Constraint::Ordered {
                            u[0] = x[0];
                        } else if x[0] > 0.0 {
                            u[0] = x[0].ln();
                        } else {
                            return Err(outside("the first entry must be positive"));
                        }
                    } else if x[k] > x[k - 1] {
                        u[k] = (x[k] - x[k - 1]).ln();
                    } else {
                        return Err(outside("entries must be strictly increasing"));
                    }
                }
            }
            Constraint::Simplex => {
                let sum: f64 = x.iter().sum();
                if x.iter().any(|&v| !(v > 0.0)) {
                    return Err(outside("entries must be positive"));
                }
                if (sum - 1.0).abs() > CONSTRAINT_TOLERANCE {
                    return Err(outside("entries must sum to one"));
                }
                let logs: Vec<f64> = x.iter().map(|v| v.ln()).collect();
                let mean = logs.iter().sum::<f64>() / n as f64;
                let centred: Vec<f64> = logs.iter().map(|v| v - mean).collect();
                helmert_transpose(&centred, u);
            }
            Constraint::CorrCholesky => {
                let mut next = 0;
                for i in 0..n {
                    if !(x[i * n + i] > 0.0) {
                        return Err(outside("the diagonal must be positive"));
                    }
                    if x[i * n + i + 1..(i + 1) * n]
                        .iter()
                        .any(|v| v.abs() > CONSTRAINT_TOLERANCE)
                    {
                        return Err(outside("the matrix must be lower triangular"));
                    }
                    let norm: f64 = x[i * n..=i * n + i].iter().map(|v| v * v).sum();
                    if (norm - 1.0).abs() > CONSTRAINT_TOLERANCE {
                        return Err(outside("rows must have unit length"));
                    }
                    let mut remaining = 1.0f64;
                    for j in 0..i {
                        let z = x[i * n + j] / remaining.sqrt();
                        if !(z.abs() < 1.0) {
                            return Err(outside("a partial correlation is not in (-1, 1)"));
                        }
                        u[next] = z.atanh();
                        next += 1;
                        remaining -= x[i * n + j] * x[i * n + j];
                    }
                }
            }
            Constraint::Cov => {
                for i in 0..n {
                    for j in 0..i {
                        let (a, b) = (x[i * n + j], x[j * n + i]);
                        if (a - b).abs() > CONSTRAINT_TOLERANCE * a.abs().max(b.abs()).max(1.0) {
                            return Err(outside("the matrix must be symmetric"));
                        }
                    }
                }
                let cholesky = DMatrix::from_row_slice(n, n, x)
                    .cholesky()
                    .ok_or_else(|| outside("the matrix must be positive definite"))?;
                let lower = cholesky.l();
                let mut next = 0;
                for i in 0..n {
                    for j in 0..=i {
                        u[next] = if i == j {
                            lower[(i, i)].ln()
                        } else {
                            lower[(i, j)]
                        };
                        next += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// The reverse rule: ADDS `d/du [g(constrain(u)) + ln|J(u)|]` to `unconstrained_gradient`,
    /// given `constrained_gradient = dg/dx` at `x = constrain(u)` (every flat entry of x an
    /// independent input of g). Returns `ln|J(u)|`.
    pub fn constrain_gradient(
        &self,
        n: usize,
        unconstrained: &[f64],
        constrained_gradient: &[f64],
        unconstrained_gradient: &mut [f64],
    ) -> Result<f64, TransformError> {
        self.check(n, unconstrained.len(), constrained_gradient.len())?;
        length(
            "unconstrained gradient",
            unconstrained.len(),
            unconstrained_gradient.len(),
        )?;
        let mut x = vec![0.0; self.constrained_len(n)];
        let log_jacobian = self.constrain(n, unconstrained, &mut x)?;
        let u = unconstrained;
        let gx = constrained_gradient;
        let gu = unconstrained_gradient;
        match *self {
            Constraint::Real => {
                for (g, add) in gu.iter_mut().zip(gx) {
                    *g += add;
                }
            }
            Constraint::LowerBound(_) | Constraint::UpperBound(_) => {
                let sign = if matches!(self, Constraint::LowerBound(_)) {
                    1.0
                } else {
                    -1.0
                };
                for k in 0..n {
                    gu[k] += sign * gx[k] * u[k].exp() + 1.0;
                }
            }
            Constraint::Interval(a, b) => {
                for k in 0..n {
                    let s = crate::special::inv_logit(u[k]);
                    // ds/du = s(1-s); d/du [ln s + ln(1-s)] = 1 - 2s.
                    let complement = crate::special::inv_logit(-u[k]);
                    gu[k] += gx[k] * (b - a) * s * complement + (complement - s);
                }
            }
            Constraint::Ordered | Constraint::PositiveOrdered => {
                // x_k depends on u_m for every m <= k: suffix sums of dg/dx.
                let mut suffix = 0.0;
                for k in (0..n).rev() {
                    suffix += gx[k];
                    if k == 0 && *self == Constraint::Ordered {
                        gu[0] += suffix;
                    } else {
                        gu[k] += suffix * u[k].exp() + 1.0;
                    }
                }
            }
            Constraint::Simplex => {
                let mean_gradient: f64 = x.iter().zip(gx).map(|(xi, gi)| xi * gi).sum();
                let k_total = n as f64;
                let gz: Vec<f64> = (0..n)
                    .map(|k| x[k] * (gx[k] - mean_gradient) + 1.0 - k_total * x[k])
                    .collect();
                let mut gy = vec![0.0; n - 1];
                helmert_transpose(&gz, &mut gy);
                for (g, add) in gu.iter_mut().zip(gy) {
                    *g += add;
                }
            }
            Constraint::CorrCholesky => {
                let mut start = 0; // index of u_{i,0}
                for i in 1..n {
                    // T_m = Σ_{j=m+1..i} g_ij L_ij, built from the diagonal leftwards.
                    let mut tail = gx[i * n + i] * x[i * n + i];
                    let mut remaining_sqrt = vec![1.0; i];
                    let mut log_remaining = 0.0f64;
                    for m in 0..i {
                        remaining_sqrt[m] = (0.5 * log_remaining).exp();
                        log_remaining += log_sech_squared(u[start + m]);
                    }
                    for m in (0..i).rev() {
                        let z = u[start + m].tanh();
                        let sech2 = log_sech_squared(u[start + m]).exp();
                        gu[start + m] += gx[i * n + m] * sech2 * remaining_sqrt[m]
                            - z * tail
                            - (i + 1 - m) as f64 * z;
                        tail += gx[i * n + m] * x[i * n + m];
                    }
                    start += i;
                }
            }
            Constraint::Cov => {
                // Σ = L Lᵀ: dL = (G + Gᵀ) L, lower triangle.
                let mut lower = vec![0.0; n * n];
                let mut next = 0;
                for i in 0..n {
                    for j in 0..=i {
                        lower[i * n + j] = if i == j { u[next].exp() } else { u[next] };
                        next += 1;
                    }
                }
                let mut next = 0;
                for i in 0..n {
                    for j in 0..=i {
                        let mut d_lower = 0.0;
                        for m in 0..n {
                            d_lower += (gx[i * n + m] + gx[m * n + i]) * lower[m * n + j];
                        }
                        gu[next] += if i == j {
                            d_lower * lower[i * n + i] + (n - i + 1) as f64
                        } else {
                            d_lower
                        };
                        next += 1;
                    }
                }
            }
        }
        Ok(log_jacobian)
    }
}

/// `z = V y` for the K×(K-1) Helmert basis: `z_i = Σ_{j>=i} y_j/√(j(j+1)) - (i-1) y_{i-1}/√((i-1)i)`
/// (1-based), in O(K).
fn helmert_apply<D: Real>(y: &[D], z: &mut [D]) {
    let k_total = z.len();
    let mut suffix = D::constant(0.0);
    for i in (0..k_total).rev() {
        // 1-based column j = i + 1 contributes ones to rows 1..=j, i.e. 0-based rows 0..=i.
        if i < k_total - 1 {
            let j = (i + 1) as f64;
            suffix += y[i] / (j * (j + 1.0)).sqrt();
        }
        z[i] = suffix;
        if i > 0 {
            // 1-based column i (0-based i-1) puts -i at 0-based row i.
            let j = i as f64;
            z[i] -= y[i - 1] * (j / (j + 1.0)).sqrt();
        }
    }
}

/// `y = Vᵀ z` for the Helmert basis: `y_j = (Σ_{i<=j} z_i - j z_{j+1}) / √(j(j+1))` (1-based j).
fn helmert_transpose(z: &[f64], y: &mut [f64]) {
    let mut prefix = 0.0;
    for (index, slot) in y.iter_mut().enumerate() {
        prefix += z[index];
        let j = (index + 1) as f64;
        *slot = (prefix - j * z[index + 1]) / (j * (j + 1.0)).sqrt();
    }
}
