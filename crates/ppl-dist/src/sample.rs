//! Random draws from every [`DistKind`], one event at a time, with `rand_distr` underneath.
//!
//! [`sample`] takes the parameters as in [`crate::density`] (one flat row-major slice per
//! parameter) and writes one variate into `out`, whose length fixes the event size:
//! 1 for scalar kinds and `Categorical`, K for `Dirichlet`, d for `MvNormal`, K×K for
//! `LkjCholesky` (a lower-triangular Cholesky factor of a correlation matrix). Discrete draws
//! are written as integral reals (categories as 1..=K). `Multinomial` needs the number of trials,
//! which is not one of its parameters: use [`sample_multinomial`].
//!
//! Constructions that are not a single `rand_distr` call: NegBinomial as a gamma–Poisson mixture;
//! Laplace as the difference of two exponentials; InvGamma as `scale / Gamma(shape, 1)`;
//! Dirichlet from gammas in log space (`Gamma(α) = Gamma(α + 1) · U^(1/α)`) so small α does not
//! underflow to 0/0; LKJCholesky by the C-vine method of Lewandowski, Kurowicka & Joe (2009),
//! partial correlations `2·Beta(b, b) - 1` with `b = η + (K - 2 - i)/2` in column i.

use crate::catalog::DistKind;
use crate::density::{CONSTRAINT_TOLERANCE, ShapeError, check_event_shapes};
use crate::special::{inv_logit, log_sum_exp};
use nalgebra::DMatrix;
use rand::{Rng, RngExt};
use rand_distr::{
    Beta, Binomial, Cauchy, Distribution, Exp, Exp1, Gamma, LogNormal, Normal, Poisson,
    StandardNormal, StudentT, Weibull,
};
use thiserror::Error;

#[derive(Clone, Debug, Error, PartialEq)]
pub enum SampleError {
    #[error(transparent)]
    Shape(#[from] ShapeError),
    #[error("{kind:?}: the parameters are outside their domain")]
    InvalidParameters { kind: DistKind },
    #[error("Multinomial draws need the number of trials: call `sample_multinomial`")]
    TrialsRequired,
}

fn invalid(kind: DistKind) -> SampleError {
    SampleError::InvalidParameters { kind }
}

/// Draws one variate of `kind` into `out` (length = event size, see the module docs).
pub fn sample<R: Rng + ?Sized>(
    kind: DistKind,
    params: &[&[f64]],
    rng: &mut R,
    out: &mut [f64],
) -> Result<(), SampleError> {
    if kind == DistKind::Multinomial {
        return Err(SampleError::TrialsRequired);
    }
    let lens: Vec<usize> = params.iter().map(|p| p.len()).collect();
    let variate_len = match kind {
        DistKind::Categorical | DistKind::CategoricalLogits => 1,
        _ => out.len(),
    };
    check_event_shapes(kind, variate_len, &lens)?;
    if out.len() != variate_len {
        return Err(ShapeError::Length {
            kind,
            what: "output",
            expected: variate_len,
            found: out.len(),
        }
        .into());
    }
    if params.iter().any(|p| p.iter().any(|v| !v.is_finite())) {
        return Err(invalid(kind));
    }
    if kind.is_scalar() {
        let scalars: Vec<f64> = params.iter().map(|p| p[0]).collect();
        out[0] = sample_scalar(kind, &scalars, rng)?;
        return Ok(());
    }
    match kind {
        DistKind::Categorical => {
            if !is_simplex(params[0]) {
                return Err(invalid(kind));
            }
            out[0] = draw_category(params[0], rng) as f64;
        }
        DistKind::CategoricalLogits => {
            let normaliser = log_sum_exp(params[0]);
            let p: Vec<f64> = params[0].iter().map(|l| (l - normaliser).exp()).collect();
            out[0] = draw_category(&p, rng) as f64;
        }
        DistKind::Dirichlet => sample_dirichlet(params[0], rng, out)?,
        DistKind::MvNormalCov => {
            let n = out.len();
            let matrix = DMatrix::from_row_slice(n, n, params[1]);
            if (0..n).any(|i| {
                (0..i).any(|j| {
                    let (a, b) = (params[1][i * n + j], params[1][j * n + i]);
                    (a - b).abs() > CONSTRAINT_TOLERANCE * a.abs().max(b.abs()).max(1.0)
                })
            }) {
                return Err(invalid(kind));
            }
            let cholesky = matrix.cholesky().ok_or(invalid(kind))?;
            let lower = cholesky.l();
            let flat: Vec<f64> = (0..n * n).map(|k| lower[(k / n, k % n)]).collect();
            sample_mv_normal_cholesky(params[0], &flat, rng, out);
        }
        DistKind::MvNormalCholesky => {
            let n = out.len();
            if (0..n).any(|i| !(params[1][i * n + i] > 0.0)) {
                return Err(invalid(kind));
            }
            sample_mv_normal_cholesky(params[0], params[1], rng, out);
        }
        DistKind::LkjCholesky => {
            let eta = params[0][0];
            if !(eta > 0.0) {
                return Err(invalid(kind));
            }
            sample_lkj_cholesky(eta, rng, out)?;
        }
        _ => unreachable!("scalar kinds and Multinomial are handled above"),
    }
    Ok(())
}

/// Draws `trials` categorical outcomes with probabilities `p` and writes the K counts to `out`.
pub fn sample_multinomial<R: Rng + ?Sized>(
    p: &[f64],
    trials: u64,
    rng: &mut R,
    out: &mut [f64],
) -> Result<(), SampleError> {
    let kind = DistKind::Multinomial;
    check_event_shapes(kind, out.len(), &[p.len()])?;
    if !is_simplex(p) {
        return Err(invalid(kind));
    }
    // Sequential conditional binomials: count_i ~ Binomial(remaining, p_i / remaining mass).
    let mut remaining_trials = trials;
    let mut remaining_mass = 1.0;
    for (count, &pi) in out.iter_mut().zip(p) {
        let drawn = if remaining_trials == 0 || pi <= 0.0 {
            0
        } else if pi >= remaining_mass {
            remaining_trials
        } else {
            let conditional = (pi / remaining_mass).clamp(0.0, 1.0);
            Binomial::new(remaining_trials, conditional)
                .map_err(|_| invalid(kind))?
                .sample(rng)
        };
        *count = drawn as f64;
        remaining_trials -= drawn;
        remaining_mass -= pi;
    }
    // Rounding in the remaining mass may leave trials over: give them to the last positive cell.
    if remaining_trials > 0
        && let Some(last) = p.iter().rposition(|&pi| pi > 0.0)
    {
        out[last] += remaining_trials as f64;
    }
    Ok(())
}

fn is_simplex(p: &[f64]) -> bool {
    let sum: f64 = p.iter().sum();
    p.iter().all(|&v| (0.0..=1.0).contains(&v)) && (sum - 1.0).abs() <= CONSTRAINT_TOLERANCE
}

/// A category in 1..=K by inverting the cumulative distribution.
fn draw_category<R: Rng + ?Sized>(p: &[f64], rng: &mut R) -> usize {
    let total: f64 = p.iter().sum();
    let target = rng.random::<f64>() * total;
    let mut cumulative = 0.0;
    for (index, &pi) in p.iter().enumerate() {
        cumulative += pi;
        if target < cumulative && pi > 0.0 {
            return index + 1;
        }
    }
    // Only reachable through rounding: the last category with mass.
    p.iter().rposition(|&pi| pi > 0.0).unwrap_or(0) + 1
}

fn sample_scalar<R: Rng + ?Sized>(
    kind: DistKind,
    params: &[f64],
    rng: &mut R,
) -> Result<f64, SampleError> {
    let bad = || invalid(kind);
    let positive = |v: f64| if v > 0.0 { Ok(v) } else { Err(bad()) };
    let probability = |v: f64| {
        if (0.0..=1.0).contains(&v) {
            Ok(v)
        } else {
            Err(bad())
        }
    };
    let count = |v: f64| {
        if v >= 0.0 && v == v.floor() && v < 2f64.powi(63) {
            Ok(v as u64)
        } else {
            Err(bad())
        }
    };
    let standard_normal = |rng: &mut R| -> f64 { StandardNormal.sample(rng) };
    Ok(match kind {
        DistKind::Normal => Normal::new(params[0], positive(params[1])?)
            .map_err(|_| bad())?
            .sample(rng),
        DistKind::HalfNormal => (positive(params[0])? * standard_normal(rng)).abs(),
        DistKind::LogNormal => LogNormal::new(params[0], positive(params[1])?)
            .map_err(|_| bad())?
            .sample(rng),
        DistKind::StudentT => {
            let t: f64 = StudentT::new(positive(params[0])?)
                .map_err(|_| bad())?
                .sample(rng);
            params[1] + positive(params[2])? * t
        }
        DistKind::Cauchy => Cauchy::new(params[0], positive(params[1])?)
            .map_err(|_| bad())?
            .sample(rng),
        DistKind::HalfCauchy => {
            let c: f64 = Cauchy::new(0.0, positive(params[0])?)
                .map_err(|_| bad())?
                .sample(rng);
            c.abs()
        }
        DistKind::Laplace => {
            let scale = positive(params[1])?;
            let (a, b): (f64, f64) = (Exp1.sample(rng), Exp1.sample(rng));
            params[0] + scale * (a - b)
        }
        DistKind::Exponential => Exp::new(positive(params[0])?)
            .map_err(|_| bad())?
            .sample(rng),
        DistKind::Gamma => Gamma::new(positive(params[0])?, 1.0 / positive(params[1])?)
            .map_err(|_| bad())?
            .sample(rng),
        DistKind::InvGamma => {
            let g: f64 = Gamma::new(positive(params[0])?, 1.0)
                .map_err(|_| bad())?
                .sample(rng);
            positive(params[1])? / g
        }
        DistKind::Beta => Beta::new(positive(params[0])?, positive(params[1])?)
            .map_err(|_| bad())?
            .sample(rng),
        DistKind::Uniform => {
            let (lower, upper) = (params[0], params[1]);
            if !(lower < upper) {
                return Err(bad());
            }
            lower + (upper - lower) * rng.random::<f64>()
        }
        DistKind::Weibull => Weibull::new(positive(params[1])?, positive(params[0])?)
            .map_err(|_| bad())?
            .sample(rng),
        DistKind::Bernoulli => f64::from(rng.random::<f64>() < probability(params[0])?),
        DistKind::BernoulliLogit => f64::from(rng.random::<f64>() < inv_logit(params[0])),
        DistKind::Binomial | DistKind::BinomialLogit => {
            let n = count(params[0])?;
            let p = if kind == DistKind::Binomial {
                probability(params[1])?
            } else {
                inv_logit(params[1])
            };
            Binomial::new(n, p).map_err(|_| bad())?.sample(rng) as f64
        }
        DistKind::Poisson => {
            if !(params[0] >= 0.0) {
                return Err(bad());
            }
            poisson(params[0], rng).ok_or_else(bad)?
        }
        DistKind::PoissonLog => poisson(params[0].exp(), rng).ok_or_else(bad)?,
        DistKind::NegBinomial => {
            let (mean, phi) = (positive(params[0])?, positive(params[1])?);
            let rate: f64 = Gamma::new(phi, mean / phi).map_err(|_| bad())?.sample(rng);
            poisson(rate, rng).ok_or_else(bad)?
        }
        _ => return Err(bad()),
    })
}

/// A Poisson draw, 0 for a zero rate; `None` when the rate is beyond what `rand_distr` supports.
fn poisson<R: Rng + ?Sized>(rate: f64, rng: &mut R) -> Option<f64> {
    if rate == 0.0 {
        return Some(0.0);
    }
    Poisson::new(rate).ok().map(|d| d.sample(rng))
}

fn sample_dirichlet<R: Rng + ?Sized>(
    alpha: &[f64],
    rng: &mut R,
    out: &mut [f64],
) -> Result<(), SampleError> {
    let kind = DistKind::Dirichlet;
    if alpha.iter().any(|&a| !(a > 0.0)) {
        return Err(invalid(kind));
    }
    for (slot, &a) in out.iter_mut().zip(alpha) {
        // log Gamma(a) = log Gamma(a + 1) + log(U) / a: exact, and no underflow for tiny a.
        let g: f64 = Gamma::new(a + 1.0, 1.0)
            .map_err(|_| invalid(kind))?
            .sample(rng);
        let u: f64 = 1.0 - rng.random::<f64>(); // in (0, 1]
        *slot = g.ln() + u.ln() / a;
    }
    let normaliser = log_sum_exp(out);
    for slot in out.iter_mut() {
        *slot = (*slot - normaliser).exp();
    }
    Ok(())
}

fn sample_mv_normal_cholesky<R: Rng + ?Sized>(
    mu: &[f64],
    lower: &[f64],
    rng: &mut R,
    out: &mut [f64],
) {
    let n = out.len();
    let z: Vec<f64> = (0..n).map(|_| StandardNormal.sample(rng)).collect();
    for i in 0..n {
        out[i] = mu[i] + (0..=i).map(|j| lower[i * n + j] * z[j]).sum::<f64>();
    }
}

fn sample_lkj_cholesky<R: Rng + ?Sized>(
    eta: f64,
    rng: &mut R,
    out: &mut [f64],
) -> Result<(), SampleError> {
    let kind = DistKind::LkjCholesky;
    let n = (out.len() as f64).sqrt().round() as usize;
    out.fill(0.0);
    // Row i holds partial correlations z_ij (j < i) turned into a unit row: L_ij = z_ij times the
    // length left after the earlier entries, L_ii the final remainder.
    let mut remaining = vec![1.0f64; n]; // 1 - Σ_{m<j} L_im², per row
    for col in 0..n {
        let shape = eta + (n as f64 - 2.0 - col as f64) / 2.0;
        for row in col + 1..n {
            let beta: f64 = Beta::new(shape, shape)
                .map_err(|_| invalid(kind))?
                .sample(rng);
            let partial = 2.0 * beta - 1.0;
            let entry = partial * remaining[row].sqrt();
            out[row * n + col] = entry;
            remaining[row] *= 1.0 - partial * partial;
        }
        out[col * n + col] = remaining[col].sqrt();
    }
    Ok(())
}
