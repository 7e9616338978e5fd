//! The regularised incomplete gamma and beta functions in log space, on f64: the cdfs of Gamma,
//! InvGamma, Poisson (gamma), Beta, StudentT, Binomial and NegBinomial (beta). Each returns both
//! tails, the smaller one computed directly (a series or a continued fraction whose terms keep
//! full relative precision far into the tail) and the other as log(1 − e^small), so neither tail
//! cancels. The continued fractions are evaluated by the modified Lentz method (Press et al.,
//! Numerical Recipes, 3rd ed., §6.2 and §6.4; Lentz 1976).

use crate::special::{ln_beta, ln_gamma};

/// Below this a Lentz denominator is replaced, so that no step divides by zero.
const TINY: f64 = 1e-300;
/// Relative size of the last term or factor at which a series or continued fraction stops.
const EPSILON: f64 = 1e-16;
/// Iterations allowed; large arguments need O(√a) of them.
const MAX_ITERATIONS: usize = 1_000_000;

/// log(1 − e^a) for a ≤ 0.
pub(crate) fn log1m_exp(a: f64) -> f64 {
    if a > -std::f64::consts::LN_2 {
        (-a.exp_m1()).ln()
    } else {
        (-a.exp()).ln_1p()
    }
}

/// (log P(a, z), log Q(a, z)): the lower and upper regularised incomplete gamma functions,
/// P(a, z) = γ(a, z) / Γ(a), for a > 0 and z ≥ 0; NaN otherwise.
pub fn log_gamma_p_q(a: f64, z: f64) -> (f64, f64) {
    if !(a > 0.0) || !(z >= 0.0) || a.is_infinite() {
        return (f64::NAN, f64::NAN);
    }
    if z == 0.0 {
        return (f64::NEG_INFINITY, 0.0);
    }
    if z == f64::INFINITY {
        return (0.0, f64::NEG_INFINITY);
    }
    // log(z^a e^(−z) / Γ(a)).
    let prefix = a * z.ln() - z - ln_gamma(a);
    if z < a + 1.0 {
        // P = z^a e^(−z) / Γ(a + 1) · Σ_n z^n / ((a + 1) ⋯ (a + n)): positive terms.
        let mut term = 1.0 / a;
        let mut sum = term;
        for n in 1..MAX_ITERATIONS {
            term *= z / (a + n as f64);
            sum += term;
            if term < sum * EPSILON {
                break;
            }
        }
        let log_p = prefix + sum.ln();
        (log_p, log1m_exp(log_p))
    } else {
        // Q = z^a e^(−z) / Γ(a) · 1/(z + 1 − a − 1·(1 − a)/(z + 3 − a − 2·(2 − a)/(z + 5 − a − ⋯))).
        let mut b = z + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..MAX_ITERATIONS {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < TINY {
                d = TINY;
            }
            c = b + an / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < EPSILON {
                break;
            }
        }
        let log_q = prefix + h.ln();
        (log1m_exp(log_q), log_q)
    }
}

/// The continued fraction of I_x(a, b) (Numerical Recipes `betacf`), for x < (a + 1)/(a + b + 2).
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (sum, up, down) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - sum * x / up);
    let mut h = d;
    for m in 1..MAX_ITERATIONS {
        let m = m as f64;
        let twice = 2.0 * m;
        let even = m * (b - m) * x / ((down + twice) * (a + twice));
        d = 1.0 / guard(1.0 + even * d);
        c = guard(1.0 + even / c);
        h *= d * c;
        let odd = -(a + m) * (sum + m) * x / ((a + twice) * (up + twice));
        d = 1.0 / guard(1.0 + odd * d);
        c = guard(1.0 + odd / c);
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < EPSILON {
            break;
        }
    }
    h
}

/// (log I_x(a, b), log(1 − I_x(a, b))): the regularised incomplete beta function and its
/// complement, for a, b > 0 and x in [0, 1], with `y` = 1 − x given by the caller (computed
/// without cancellation where x is near 1); NaN otherwise.
pub fn log_beta_i(a: f64, b: f64, x: f64, y: f64) -> (f64, f64) {
    if !(a > 0.0 && b > 0.0 && x >= 0.0 && y >= 0.0) || a.is_infinite() || b.is_infinite() {
        return (f64::NAN, f64::NAN);
    }
    if x == 0.0 {
        return (f64::NEG_INFINITY, 0.0);
    }
    if y == 0.0 {
        return (0.0, f64::NEG_INFINITY);
    }
    // log(x^a y^b / B(a, b)).
    let prefix = a * x.ln() + b * y.ln() - ln_beta(a, b);
    if x < (a + 1.0) / (a + b + 2.0) {
        let log_i = prefix + beta_fraction(a, b, x).ln() - a.ln();
        (log_i, log1m_exp(log_i))
    } else {
        let log_complement = prefix + beta_fraction(b, a, y).ln() - b.ln();
        (log1m_exp(log_complement), log_complement)
    }
}
