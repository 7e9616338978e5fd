//! Constraint transforms from the unconstrained space, as Stan defines them (Stan reference
//! manual, "Constraint transforms"): `exp`/scaled logistic for bounds, stick-breaking for
//! simplexes, exp-increments for ordered vectors, tanh canonical partial correlations for
//! correlation Cholesky factors, and a Cholesky factor with log-diagonal for covariances. Each
//! returns the constrained values and log |J|, generically over the scalar type; the reverse
//! rules the tape needs come from `Dual64` evaluations of the same code (one per free coordinate
//! of an object) or closed forms for the elementwise bounds.

use num_dual::Dual64;
use ppl_ir::Constraint;

use super::numerics::Real;

/// Number of constrained values of one object and of its free coordinates.
fn object_sizes(constraint: &Constraint, shape: &[usize]) -> (usize, usize) {
    let last = shape.last().copied().unwrap_or(1);
    match constraint {
        Constraint::None | Constraint::Bounded { .. } => (1, 1),
        Constraint::Ordered | Constraint::PositiveOrdered => (last, last),
        Constraint::Simplex => (last, last.saturating_sub(1)),
        Constraint::CorrCholesky => (last * last, last * last.saturating_sub(1) / 2),
        Constraint::Cov => (last * last, last * (last + 1) / 2),
    }
}

/// Free coordinates of a whole variable of this constrained shape.
pub(crate) fn unconstrained_len(constraint: &Constraint, shape: &[usize]) -> usize {
    let total: usize = shape.iter().product();
    let (object, free) = object_sizes(constraint, shape);
    if object == 0 {
        0
    } else {
        total / object * free
    }
}

/// Constrains a whole variable: its free coordinates to constrained values, plus log |J|.
pub(crate) fn constrain<T: Real>(
    constraint: &Constraint,
    shape: &[usize],
    free: &[T],
) -> (Vec<T>, T) {
    let total: usize = shape.iter().product();
    let (object, free_len) = object_sizes(constraint, shape);
    let side = shape.last().copied().unwrap_or(1);
    let mut values = Vec::with_capacity(total);
    let mut log_jacobian = T::from(0.0);
    let objects = if object == 0 { 0 } else { total / object };
    for index in 0..objects {
        let u = &free[index * free_len..(index + 1) * free_len];
        log_jacobian += constrain_object(constraint, side, u, &mut values);
    }
    (values, log_jacobian)
}

/// Constrains one object, appending its values; returns its log |J|.
fn constrain_object<T: Real>(constraint: &Constraint, side: usize, u: &[T], out: &mut Vec<T>) -> T {
    let zero = T::from(0.0);
    match constraint {
        Constraint::None => {
            out.push(u[0]);
            zero
        }
        Constraint::Bounded { low, high, .. } => {
            let (value, log_jacobian) = bounded(*low, *high, u[0]);
            out.push(value);
            log_jacobian
        }
        Constraint::Ordered | Constraint::PositiveOrdered => {
            let mut log_jacobian = zero;
            let mut previous = zero;
            for (k, &v) in u.iter().enumerate() {
                let value = if k == 0 && *constraint == Constraint::Ordered {
                    v
                } else {
                    log_jacobian += v;
                    previous + v.exp()
                };
                out.push(value);
                previous = value;
            }
            log_jacobian
        }
        Constraint::Simplex => {
            let mut log_jacobian = zero;
            let mut remaining = T::from(1.0);
            for (k, &v) in u.iter().enumerate() {
                let shift = ((side - 1 - k) as f64).ln();
                let z = (v - shift).sigmoid_of();
                let value = remaining * z;
                log_jacobian += z.ln() + (T::from(1.0) - z).ln() + remaining.ln();
                out.push(value);
                remaining -= value;
            }
            out.push(remaining);
            log_jacobian
        }
        Constraint::CorrCholesky => {
            let start = out.len();
            out.extend(std::iter::repeat_n(zero, side * side));
            let mut log_jacobian = zero;
            let mut next = 0;
            out[start] = T::from(1.0);
            for i in 1..side {
                let mut sum_squares = zero;
                for j in 0..i {
                    let z = u[next].tanh();
                    next += 1;
                    log_jacobian += (T::from(1.0) - z * z).ln();
                    let value = if j == 0 {
                        z
                    } else {
                        log_jacobian += (T::from(1.0) - sum_squares).ln() * 0.5;
                        z * (T::from(1.0) - sum_squares).sqrt()
                    };
                    out[start + i * side + j] = value;
                    sum_squares += value * value;
                }
                out[start + i * side + i] = (T::from(1.0) - sum_squares).sqrt();
            }
            log_jacobian
        }
        Constraint::Cov => {
            let mut factor = vec![zero; side * side];
            let mut log_jacobian = T::from(side as f64 * std::f64::consts::LN_2);
            let mut next = 0;
            for i in 0..side {
                for j in 0..i {
                    factor[i * side + j] = u[next];
                    next += 1;
                }
                factor[i * side + i] = u[next].exp();
                log_jacobian += u[next] * (side - i + 1) as f64;
                next += 1;
            }
            for i in 0..side {
                for j in 0..side {
                    let mut sum = zero;
                    for k in 0..=i.min(j) {
                        sum += factor[i * side + k] * factor[j * side + k];
                    }
                    out.push(sum);
                }
            }
            log_jacobian
        }
    }
}

/// A logistic that does not overflow, on any scalar type.
trait Sigmoid {
    fn sigmoid_of(self) -> Self;
}

impl<T: Real> Sigmoid for T {
    fn sigmoid_of(self) -> T {
        if self.re() >= 0.0 {
            (T::from(1.0) + (-self).exp()).recip()
        } else {
            let e = self.exp();
            e / (T::from(1.0) + e)
        }
    }
}

/// `x` in `[low, high]` from `u`, and log |dx/du|.
fn bounded<T: Real>(low: f64, high: f64, u: T) -> (T, T) {
    match (low.is_finite(), high.is_finite()) {
        (false, false) => (u, T::from(0.0)),
        (true, false) => (u.exp() + low, u),
        (false, true) => (-u.exp() + high, u),
        (true, true) => {
            let width = high - low;
            let log_jacobian = -u.log1p_exp() - (-u).log1p_exp() + width.ln();
            (u.sigmoid_of() * width + low, log_jacobian)
        }
    }
}

/// The free coordinates of constrained values (the inverse of `constrain`).
pub(crate) fn unconstrain(constraint: &Constraint, shape: &[usize], values: &[f64]) -> Vec<f64> {
    let (object, _) = object_sizes(constraint, shape);
    let side = shape.last().copied().unwrap_or(1);
    let mut free = Vec::new();
    if object == 0 {
        return free;
    }
    for x in values.chunks(object) {
        match constraint {
            Constraint::None => free.push(x[0]),
            Constraint::Bounded { low, high, .. } => {
                free.push(match (low.is_finite(), high.is_finite()) {
                    (false, false) => x[0],
                    (true, false) => (x[0] - low).ln(),
                    (false, true) => (high - x[0]).ln(),
                    (true, true) => {
                        let p = (x[0] - low) / (high - low);
                        (p / (1.0 - p)).ln()
                    }
                })
            }
            Constraint::Ordered | Constraint::PositiveOrdered => {
                for k in 0..x.len() {
                    free.push(match (k, constraint) {
                        (0, Constraint::Ordered) => x[0],
                        (0, _) => x[0].ln(),
                        _ => (x[k] - x[k - 1]).ln(),
                    });
                }
            }
            Constraint::Simplex => {
                let mut remaining = 1.0;
                for k in 0..side.saturating_sub(1) {
                    let z = x[k] / remaining;
                    free.push((z / (1.0 - z)).ln() + ((side - 1 - k) as f64).ln());
                    remaining -= x[k];
                }
            }
            Constraint::CorrCholesky => {
                for i in 1..side {
                    let mut sum_squares: f64 = 0.0;
                    for j in 0..i {
                        let value = x[i * side + j];
                        let z = if j == 0 {
                            value
                        } else {
                            value / (1.0 - sum_squares).sqrt()
                        };
                        free.push(z.atanh());
                        sum_squares += value * value;
                    }
                }
            }
            Constraint::Cov => {
                let factor = super::eval::cholesky(x, side);
                for i in 0..side {
                    for j in 0..i {
                        free.push(factor[i * side + j]);
                    }
                    free.push(factor[i * side + i].ln());
                }
            }
        }
    }
    free
}

/// Reverse rule: adds `∂/∂u [Σ adjoint · x(u) + log |J(u)|]` into `gradient`, per object, from
/// `Dual64` evaluations of the forward transform (closed forms for elementwise constraints).
pub(crate) fn constrain_gradient(
    constraint: &Constraint,
    shape: &[usize],
    free: &[f64],
    adjoint: &[f64],
    gradient: &mut [f64],
) {
    let (object, free_len) = object_sizes(constraint, shape);
    let side = shape.last().copied().unwrap_or(1);
    if object == 0 || free_len == 0 {
        return;
    }
    if let Constraint::None = constraint {
        for (g, a) in gradient.iter_mut().zip(adjoint) {
            *g += a;
        }
        return;
    }
    if let Constraint::Bounded { low, high, .. } = constraint {
        for ((g, a), &u) in gradient.iter_mut().zip(adjoint).zip(free) {
            *g += match (low.is_finite(), high.is_finite()) {
                (false, false) => *a,
                (true, false) => a * u.exp() + 1.0,
                (false, true) => -a * u.exp() + 1.0,
                (true, true) => {
                    let s = u.sigmoid_of();
                    a * (high - low) * s * (1.0 - s) + 1.0 - 2.0 * s
                }
            };
        }
        return;
    }
    let mut scratch = Vec::with_capacity(object);
    for (index, u) in free.chunks(free_len).enumerate() {
        let object_adjoint = &adjoint[index * object..(index + 1) * object];
        for coordinate in 0..free_len {
            let seeded: Vec<Dual64> = u
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    if i == coordinate {
                        Dual64::from(v).derivative()
                    } else {
                        Dual64::from(v)
                    }
                })
                .collect();
            scratch.clear();
            let log_jacobian = constrain_object(constraint, side, &seeded, &mut scratch);
            let mut sum = log_jacobian.eps;
            for (x, a) in scratch.iter().zip(object_adjoint) {
                sum += x.eps * a;
            }
            gradient[index * free_len + coordinate] += sum;
        }
    }
}

/// Constrains a whole variable into `out` without allocating (objects go through `scratch`, whose
/// capacity is kept between calls); returns log |J|.
pub(crate) fn constrain_into(
    constraint: &Constraint,
    shape: &[usize],
    free: &[f64],
    out: &mut [f64],
    scratch: &mut Vec<f64>,
) -> f64 {
    match constraint {
        Constraint::None => {
            out.copy_from_slice(free);
            0.0
        }
        Constraint::Bounded { low, high, .. } => {
            let mut log_jacobian = 0.0;
            for (slot, &u) in out.iter_mut().zip(free) {
                let (value, jacobian) = bounded(*low, *high, u);
                *slot = value;
                log_jacobian += jacobian;
            }
            log_jacobian
        }
        _ => {
            let (object, free_len) = object_sizes(constraint, shape);
            let side = shape.last().copied().unwrap_or(1);
            scratch.clear();
            let mut log_jacobian = 0.0;
            if object > 0 && free_len > 0 {
                for u in free.chunks(free_len) {
                    log_jacobian += constrain_object(constraint, side, u, scratch);
                }
            } else if object > 0 {
                // Objects with no free coordinates (a 1-simplex, a 1×1 correlation factor).
                for _ in 0..out.len() / object {
                    log_jacobian += constrain_object(constraint, side, &[], scratch);
                }
            }
            out.copy_from_slice(scratch);
            log_jacobian
        }
    }
}
