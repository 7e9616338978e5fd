//! Each sampler against its own log density, with fixed seeds.
//!
//! * continuous scalars: Kolmogorov–Smirnov against the CDF obtained by integrating the density
//!   numerically (Gauss–Legendre between consecutive sorted draws, after mapping the support onto
//!   (0, 1) so that the integrand is bounded);
//! * discrete: Pearson chi-square on the pmf, bins with expected count >= 5, critical value from
//!   the Wilson–Hilferty approximation of the quantile;
//! * multivariate: moments within 5 standard errors (estimated from the draws), plus KS on a
//!   marginal with a known density where there is one.
//!
//! Levels: each KS and chi-square check runs at 5e-5, so a test function holding up to 20 such
//! checks fails with probability below 1e-3 (Bonferroni) when the samplers are right; 5 standard
//! errors is 6e-7 per moment. A wrong sampler (rate used as scale, a wrong shape) gives statistics
//! tens of times above these critical values.

use ppl_dist::{DistKind, event_log_density, sample, sample_multinomial};
use rand::SeedableRng;
use rand::rngs::StdRng;

const DRAWS: usize = 20_000;

fn draws(kind: DistKind, params: &[&[f64]], size: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..DRAWS)
        .map(|_| {
            let mut out = vec![0.0; size];
            sample(kind, params, &mut rng, &mut out).expect("valid parameters");
            out
        })
        .collect()
}

#[derive(Clone, Copy)]
enum Domain {
    Real,
    Positive,
    Interval(f64, f64),
}

/// Maps u in (0,1) to x in the domain: u → t = centre + scale·tan(π(u - ½)) → x; returns x and dx/du.
fn from_unit(domain: Domain, centre: f64, scale: f64, u: f64) -> (f64, f64) {
    let angle = std::f64::consts::PI * (u - 0.5);
    let t = centre + scale * angle.tan();
    let dt_du = scale * std::f64::consts::PI / angle.cos().powi(2);
    match domain {
        Domain::Real => (t, dt_du),
        Domain::Positive => (t.exp(), t.exp() * dt_du),
        Domain::Interval(a, b) => {
            let s = 1.0 / (1.0 + (-t).exp());
            (a + (b - a) * s, (b - a) * s * (1.0 - s) * dt_du)
        }
    }
}

fn to_unit(domain: Domain, centre: f64, scale: f64, x: f64) -> f64 {
    let t = match domain {
        Domain::Real => x,
        Domain::Positive => x.ln(),
        Domain::Interval(a, b) => {
            let s = (x - a) / (b - a);
            (s / (1.0 - s)).ln()
        }
    };
    0.5 + ((t - centre) / scale).atan() / std::f64::consts::PI
}

/// Five-point Gauss–Legendre on [a, b].
fn gauss_legendre(f: &dyn Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    const NODES: [f64; 5] = [
        0.0,
        0.538_469_310_105_683,
        -0.538_469_310_105_683,
        0.906_179_845_938_664,
        -0.906_179_845_938_664,
    ];
    const WEIGHTS: [f64; 5] = [
        0.568_888_888_888_889,
        0.478_628_670_499_366,
        0.478_628_670_499_366,
        0.236_926_885_056_189,
        0.236_926_885_056_189,
    ];
    let (mid, half) = (0.5 * (a + b), 0.5 * (b - a));
    NODES
        .iter()
        .zip(WEIGHTS)
        .map(|(n, w)| w * f(mid + half * n))
        .sum::<f64>()
        * half
}

fn integrate(f: &dyn Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    let pieces = ((b - a) / 1e-3).ceil().max(1.0) as usize;
    let width = (b - a) / pieces as f64;
    (0..pieces)
        .map(|k| gauss_legendre(f, a + k as f64 * width, a + (k + 1) as f64 * width))
        .sum()
}

/// KS statistic of `values` against `density` (a normalised density on the domain), checking on
/// the way that the density integrates to one.
fn ks_statistic(values: &[f64], domain: Domain, density: &dyn Fn(f64) -> f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    // Centre and scale of the mapping from the draws, so the integrand is spread over (0, 1).
    let map = |x: f64| match domain {
        Domain::Real => x,
        Domain::Positive => x.ln(),
        Domain::Interval(a, b) => ((x - a) / (b - x)).ln(),
    };
    let centre = map(sorted[sorted.len() / 2]);
    let spread = map(sorted[3 * sorted.len() / 4]) - map(sorted[sorted.len() / 4]);
    let scale = if spread > 0.0 { spread } else { 1.0 };
    let integrand = |u: f64| {
        let (x, jacobian) = from_unit(domain, centre, scale, u);
        let value = density(x) * jacobian;
        if value.is_finite() { value } else { 0.0 }
    };
    let total = integrate(&integrand, 0.0, 1.0);
    assert!((total - 1.0).abs() < 1e-6, "density integrates to {total}");
    let n = sorted.len() as f64;
    let mut cdf = 0.0;
    let mut previous = 0.0;
    let mut statistic: f64 = 0.0;
    for (i, &x) in sorted.iter().enumerate() {
        let u = to_unit(domain, centre, scale, x).clamp(0.0, 1.0);
        cdf += integrate(&integrand, previous, u);
        previous = u;
        statistic = statistic
            .max((i as f64 + 1.0) / n - cdf)
            .max(cdf - i as f64 / n);
    }
    statistic
}

/// P(√n D > t) ≈ 2 exp(-2t²) = 5e-5 for the Kolmogorov distribution.
const KS_CRITICAL: f64 = 2.302;

fn scalar_density(kind: DistKind, params: &[f64]) -> impl Fn(f64) -> f64 + use<> {
    let params: Vec<Vec<f64>> = params.iter().map(|&p| vec![p]).collect();
    move |x: f64| {
        let slices: Vec<&[f64]> = params.iter().map(|p| p.as_slice()).collect();
        event_log_density(kind, &[x], &slices).unwrap().exp()
    }
}

#[test]
fn continuous_scalar_samplers_pass_kolmogorov_smirnov() {
    use DistKind::*;
    let cases: &[(DistKind, &[f64], Domain)] = &[
        (Normal, &[1.0, 2.5], Domain::Real),
        (HalfNormal, &[1.7], Domain::Positive),
        (LogNormal, &[0.3, 0.8], Domain::Positive),
        (StudentT, &[1.5, -1.0, 0.5], Domain::Real),
        (StudentT, &[6.0, 2.0, 3.0], Domain::Real),
        (Cauchy, &[0.5, 2.0], Domain::Real),
        (HalfCauchy, &[0.7], Domain::Positive),
        (Laplace, &[-1.0, 0.6], Domain::Real),
        (Exponential, &[2.2], Domain::Positive),
        (Gamma, &[0.4, 3.0], Domain::Positive),
        (Gamma, &[5.0, 0.5], Domain::Positive),
        (InvGamma, &[2.5, 1.5], Domain::Positive),
        (Beta, &[0.5, 0.5], Domain::Interval(0.0, 1.0)),
        (Beta, &[2.0, 7.0], Domain::Interval(0.0, 1.0)),
        (Uniform, &[-2.0, 3.0], Domain::Interval(-2.0, 3.0)),
        (Weibull, &[0.7, 2.0], Domain::Positive),
        (Weibull, &[3.0, 0.5], Domain::Positive),
    ];
    let critical = KS_CRITICAL / (DRAWS as f64).sqrt();
    let mut failures = Vec::new();
    for (seed, (kind, params, domain)) in cases.iter().enumerate() {
        let slices: Vec<&[f64]> = params.iter().map(std::slice::from_ref).collect();
        let values: Vec<f64> = draws(*kind, &slices, 1, 100 + seed as u64)
            .into_iter()
            .map(|v| v[0])
            .collect();
        let statistic = ks_statistic(&values, *domain, &scalar_density(*kind, params));
        if statistic > critical {
            failures.push(format!(
                "{kind:?}{params:?}: D = {statistic:.4} > {critical:.4}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The 1 - 5e-5 quantile of chi-square with `df` degrees of freedom (Wilson–Hilferty).
fn chi_square_critical(df: usize) -> f64 {
    let df = df as f64;
    let z = 3.8906; // the standard normal 1 - 5e-5 quantile
    let c = 2.0 / (9.0 * df);
    df * (1.0 - c + z * c.sqrt()).powi(3)
}

/// Pearson's statistic and degrees of freedom for integer draws against `pmf` over `support`.
fn chi_square(
    values: &[f64],
    support: std::ops::RangeInclusive<i64>,
    pmf: &dyn Fn(i64) -> f64,
) -> (f64, usize) {
    let n = values.len() as f64;
    let mut bins: Vec<(f64, f64)> = Vec::new(); // (expected, observed)
    let mut rest_expected = n;
    let mut rest_observed = n;
    for k in support {
        let expected = n * pmf(k);
        if expected >= 5.0 {
            let observed = values.iter().filter(|&&v| v == k as f64).count() as f64;
            bins.push((expected, observed));
            rest_expected -= expected;
            rest_observed -= observed;
        }
    }
    if rest_expected >= 5.0 {
        bins.push((rest_expected, rest_observed));
    } else if let Some(largest) = bins
        .iter_mut()
        .max_by(|a, b| a.0.partial_cmp(&b.0).unwrap())
    {
        largest.0 += rest_expected;
        largest.1 += rest_observed;
    }
    let statistic = bins.iter().map(|(e, o)| (o - e).powi(2) / e).sum();
    (statistic, bins.len().saturating_sub(1))
}

#[test]
fn discrete_samplers_pass_chi_square() {
    use DistKind::*;
    type DiscreteCase<'a> = (DistKind, &'a [&'a [f64]], std::ops::RangeInclusive<i64>);
    let cases: &[DiscreteCase] = &[
        (Bernoulli, &[&[0.3]], 0..=1),
        (BernoulliLogit, &[&[-0.8]], 0..=1),
        (Binomial, &[&[12.0], &[0.35]], 0..=12),
        (Binomial, &[&[400.0], &[0.02]], 0..=400),
        (BinomialLogit, &[&[20.0], &[1.2]], 0..=20),
        (Poisson, &[&[3.5]], 0..=60),
        (Poisson, &[&[80.0]], 0..=300),
        (PoissonLog, &[&[0.7]], 0..=60),
        (NegBinomial, &[&[4.0], &[1.5]], 0..=300),
        (NegBinomial, &[&[20.0], &[50.0]], 0..=300),
        (Categorical, &[&[0.1, 0.2, 0.05, 0.65]], 1..=4),
        (CategoricalLogits, &[&[0.5, -1.0, 2.0, 0.0, 0.3]], 1..=5),
    ];
    let mut failures = Vec::new();
    for (seed, (kind, params, support)) in cases.iter().enumerate() {
        let values: Vec<f64> = draws(*kind, params, 1, 200 + seed as u64)
            .into_iter()
            .map(|v| v[0])
            .collect();
        let pmf = |k: i64| event_log_density(*kind, &[k as f64], params).unwrap().exp();
        let total: f64 = support.clone().map(pmf).sum();
        assert!((total - 1.0).abs() < 1e-9, "{kind:?} pmf sums to {total}");
        let (statistic, df) = chi_square(&values, support.clone(), &pmf);
        let critical = chi_square_critical(df);
        if statistic > critical {
            failures.push(format!(
                "{kind:?}{params:?}: chi2 = {statistic:.2} > {critical:.2} (df {df})"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Checks that the mean of `statistic` over the draws is within 5 standard errors of `expected`.
fn check_moment(
    label: &str,
    draws: &[Vec<f64>],
    statistic: impl Fn(&[f64]) -> f64,
    expected: f64,
    failures: &mut Vec<String>,
) {
    let values: Vec<f64> = draws.iter().map(|d| statistic(d)).collect();
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let standard_error = (variance / n).sqrt().max(1e-12);
    if (mean - expected).abs() > 5.0 * standard_error {
        failures.push(format!(
            "{label}: mean {mean:.5}, expected {expected:.5} (se {standard_error:.2e})"
        ));
    }
}

#[test]
fn dirichlet_matches_moments_and_beta_marginal() {
    let mut failures = Vec::new();
    for (seed, alpha) in [
        vec![0.3, 1.0, 2.5],
        vec![5.0, 5.0, 5.0, 1.0],
        vec![0.05, 0.1],
    ]
    .into_iter()
    .enumerate()
    {
        let sample = draws(
            DistKind::Dirichlet,
            &[&alpha],
            alpha.len(),
            300 + seed as u64,
        );
        let total: f64 = alpha.iter().sum();
        for i in 0..alpha.len() {
            check_moment(
                &format!("Dirichlet{alpha:?} E x{i}"),
                &sample,
                |x| x[i],
                alpha[i] / total,
                &mut failures,
            );
            for j in 0..alpha.len() {
                let expected = if i == j {
                    alpha[i] * (alpha[i] + 1.0) / (total * (total + 1.0))
                } else {
                    alpha[i] * alpha[j] / (total * (total + 1.0))
                };
                check_moment(
                    &format!("Dirichlet{alpha:?} E x{i}x{j}"),
                    &sample,
                    |x| x[i] * x[j],
                    expected,
                    &mut failures,
                );
            }
        }
        for draw in &sample {
            assert!((draw.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        // x_0 ~ Beta(α_0, Σα - α_0).
        if alpha[0] >= 0.3 {
            let marginal: Vec<f64> = sample.iter().map(|x| x[0]).collect();
            let density = scalar_density(DistKind::Beta, &[alpha[0], total - alpha[0]]);
            let statistic = ks_statistic(&marginal, Domain::Interval(0.0, 1.0), &density);
            if statistic > KS_CRITICAL / (DRAWS as f64).sqrt() {
                failures.push(format!("Dirichlet{alpha:?} marginal KS {statistic}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn multinomial_matches_moments_and_binomial_marginal() {
    let p = [0.2, 0.5, 0.05, 0.25];
    let trials = 30;
    let mut rng = StdRng::seed_from_u64(400);
    let sample: Vec<Vec<f64>> = (0..DRAWS)
        .map(|_| {
            let mut out = vec![0.0; 4];
            sample_multinomial(&p, trials, &mut rng, &mut out).unwrap();
            out
        })
        .collect();
    let mut failures = Vec::new();
    let n = trials as f64;
    for i in 0..4 {
        check_moment(
            &format!("Multinomial E n{i}"),
            &sample,
            |x| x[i],
            n * p[i],
            &mut failures,
        );
        for j in 0..i {
            check_moment(
                &format!("Multinomial E n{i}n{j}"),
                &sample,
                |x| x[i] * x[j],
                n * (n - 1.0) * p[i] * p[j],
                &mut failures,
            );
        }
    }
    for draw in &sample {
        assert_eq!(draw.iter().sum::<f64>(), n);
    }
    let marginal: Vec<f64> = sample.iter().map(|x| x[1]).collect();
    let pmf = |k: i64| {
        event_log_density(DistKind::Binomial, &[k as f64], &[&[n], &[p[1]]])
            .unwrap()
            .exp()
    };
    let (statistic, df) = chi_square(&marginal, 0..=trials as i64, &pmf);
    if statistic > chi_square_critical(df) {
        failures.push(format!("Multinomial marginal chi2 {statistic}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn multivariate_normal_samplers_match_mean_covariance_and_projection() {
    let mu = [1.0, -2.0, 0.5];
    let cov = [2.0, 0.6, -0.3, 0.6, 1.0, 0.2, -0.3, 0.2, 0.5];
    // The Cholesky factor of `cov`, computed by hand.
    let l00 = 2f64.sqrt();
    let l10 = 0.6 / l00;
    let l11 = (1.0 - l10 * l10).sqrt();
    let l20 = -0.3 / l00;
    let l21 = (0.2 - l20 * l10) / l11;
    let l22 = (0.5 - l20 * l20 - l21 * l21).sqrt();
    let lower = [l00, 0.0, 0.0, l10, l11, 0.0, l20, l21, l22];
    let mut failures = Vec::new();
    for (seed, (kind, matrix)) in [
        (DistKind::MvNormalCov, &cov),
        (DistKind::MvNormalCholesky, &lower),
    ]
    .into_iter()
    .enumerate()
    {
        let sample = draws(kind, &[&mu, matrix], 3, 500 + seed as u64);
        for i in 0..3 {
            check_moment(
                &format!("{kind:?} E x{i}"),
                &sample,
                |x| x[i],
                mu[i],
                &mut failures,
            );
            for j in 0..=i {
                check_moment(
                    &format!("{kind:?} cov {i}{j}"),
                    &sample,
                    |x| (x[i] - mu[i]) * (x[j] - mu[j]),
                    cov[i * 3 + j],
                    &mut failures,
                );
            }
        }
        // a·x ~ Normal(a·mu, aᵀ Σ a).
        let a = [0.3, -1.0, 2.0];
        let projection: Vec<f64> = sample
            .iter()
            .map(|x| (0..3).map(|i| a[i] * x[i]).sum())
            .collect();
        let mean: f64 = (0..3).map(|i| a[i] * mu[i]).sum();
        let variance: f64 = (0..3)
            .flat_map(|i| (0..3).map(move |j| (i, j)))
            .map(|(i, j)| a[i] * a[j] * cov[i * 3 + j])
            .sum();
        let statistic = ks_statistic(
            &projection,
            Domain::Real,
            &scalar_density(DistKind::Normal, &[mean, variance.sqrt()]),
        );
        if statistic > KS_CRITICAL / (DRAWS as f64).sqrt() {
            failures.push(format!("{kind:?} projection KS {statistic}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn lkj_cholesky_sampler_matches_its_density_and_moments() {
    let mut failures = Vec::new();
    // K = 2: the free coordinate r = L[1][0] has density exp(lkj(L(r))) on (-1, 1).
    for (seed, eta) in [0.6, 1.0, 4.0].into_iter().enumerate() {
        let sample = draws(DistKind::LkjCholesky, &[&[eta]], 4, 600 + seed as u64);
        let r: Vec<f64> = sample.iter().map(|l| l[2]).collect();
        let density = |r: f64| {
            let lower = [1.0, 0.0, r, (1.0 - r * r).sqrt()];
            event_log_density(DistKind::LkjCholesky, &lower, &[&[eta]])
                .unwrap()
                .exp()
        };
        let statistic = ks_statistic(&r, Domain::Interval(-1.0, 1.0), &density);
        if statistic > KS_CRITICAL / (DRAWS as f64).sqrt() {
            failures.push(format!("LKJ K=2 eta={eta}: KS {statistic}"));
        }
    }
    // K = 4: correlations Ω = L Lᵀ have mean 0 and variance 1 / (2η + K - 1).
    let k = 4;
    for (seed, eta) in [0.8, 3.0].into_iter().enumerate() {
        let sample = draws(DistKind::LkjCholesky, &[&[eta]], k * k, 700 + seed as u64);
        for l in &sample {
            let finite = event_log_density(DistKind::LkjCholesky, l, &[&[eta]]).unwrap();
            assert!(finite.is_finite(), "a draw outside the support: {l:?}");
        }
        for i in 1..k {
            for j in 0..i {
                let correlation =
                    move |l: &[f64]| (0..=j).map(|m| l[i * k + m] * l[j * k + m]).sum::<f64>();
                check_moment(
                    &format!("LKJ eta={eta} E r{i}{j}"),
                    &sample,
                    correlation,
                    0.0,
                    &mut failures,
                );
                let expected = 1.0 / (2.0 * eta + k as f64 - 1.0);
                check_moment(
                    &format!("LKJ eta={eta} E r{i}{j}^2"),
                    &sample,
                    |l| correlation(l).powi(2),
                    expected,
                    &mut failures,
                );
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn invalid_parameters_are_errors() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut out = [0.0];
    assert!(sample(DistKind::Normal, &[&[0.0], &[-1.0]], &mut rng, &mut out).is_err());
    assert!(sample(DistKind::Categorical, &[&[0.5, 0.6]], &mut rng, &mut out).is_err());
    assert!(sample(DistKind::Multinomial, &[&[1.0]], &mut rng, &mut out).is_err());
    let mut pair = [0.0; 2];
    assert!(
        sample(
            DistKind::MvNormalCov,
            &[&[0.0, 0.0], &[1.0, 2.0, 2.0, 1.0]],
            &mut rng,
            &mut pair
        )
        .is_err()
    );
}
