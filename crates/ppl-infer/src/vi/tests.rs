//! ADVI on targets with known answers: Gaussians (where the full-rank optimum is the target itself
//! and the mean-field optimum has the precision-diagonal variances), and a funnel (where k̂ must
//! flag the approximation).

use nalgebra::DMatrix;

use super::*;
use crate::density::{LogDensity, LogDensityError};

/// N(mean, covariance) through its precision matrix, plus a constant `offset` (a model's log
/// density is unnormalised, and the relative-change stopping rule needs an ELBO away from zero, as
/// a model with data has).
#[derive(Clone, Debug)]
struct GaussianTarget {
    mean: Vec<f64>,
    precision: Vec<f64>,
    offset: f64,
}

impl GaussianTarget {
    fn new(mean: Vec<f64>, covariance: &DMatrix<f64>) -> Self {
        let precision = covariance.clone().try_inverse().unwrap();
        let dim = mean.len();
        GaussianTarget {
            mean,
            precision: (0..dim * dim)
                .map(|k| precision[(k / dim, k % dim)])
                .collect(),
            offset: 0.0,
        }
    }
}

impl LogDensity for GaussianTarget {
    fn dim(&self) -> usize {
        self.mean.len()
    }

    fn log_density_and_gradient(
        &mut self,
        position: &[f64],
        gradient: &mut [f64],
    ) -> Result<f64, LogDensityError> {
        let dim = self.dim();
        let centred: Vec<f64> = position
            .iter()
            .zip(&self.mean)
            .map(|(x, m)| x - m)
            .collect();
        let mut value = self.offset;
        for i in 0..dim {
            let row: f64 = (0..dim)
                .map(|j| self.precision[i * dim + j] * centred[j])
                .sum();
            gradient[i] = -row;
            value -= 0.5 * centred[i] * row;
        }
        Ok(value)
    }
}

/// Neal's funnel: v ~ N(0, 3²), x_i ~ N(0, exp(v)) for i = 1..dim−1.
#[derive(Clone, Debug)]
struct Funnel {
    dim: usize,
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
        let inverse_variance = (-v).exp();
        let others = (self.dim - 1) as f64;
        let squares: f64 = position[1..].iter().map(|x| x * x).sum();
        gradient[0] = -v / 9.0 - 0.5 * others + 0.5 * squares * inverse_variance;
        for (g, x) in gradient[1..].iter_mut().zip(&position[1..]) {
            *g = -x * inverse_variance;
        }
        Ok(-v * v / 18.0 - 0.5 * others * v - 0.5 * squares * inverse_variance)
    }
}

fn correlated_2d() -> (Vec<f64>, DMatrix<f64>) {
    let sds = [1.0, 2.0];
    let correlation = 0.8;
    let covariance = DMatrix::from_fn(2, 2, |i, j| {
        sds[i] * sds[j] * if i == j { 1.0 } else { correlation }
    });
    (vec![1.0, -2.0], covariance)
}

/// AR(1) correlation 0.6 with standard deviations 0.5..2.3.
fn correlated_10d() -> (Vec<f64>, DMatrix<f64>) {
    let sds: Vec<f64> = (0..10).map(|i| 0.5 + 0.2 * i as f64).collect();
    let covariance = DMatrix::from_fn(10, 10, |i, j| {
        sds[i] * sds[j] * 0.6f64.powi((i as i32 - j as i32).abs())
    });
    let mean = (0..10).map(|i| (i as f64) - 4.5).collect();
    (mean, covariance)
}

/// Settings tight enough that the final iterate's noise, not the stopping rule, limits accuracy.
fn precise(family: GuideFamily, seed: u64) -> VariationalSettings {
    VariationalSettings {
        family,
        elbo_samples: 10,
        max_iterations: 20_000,
        tol_rel_obj: 1e-12,
        learning_rate: Some(0.02),
        learning_rate_decay_steps: 200.0,
        seed,
        ..VariationalSettings::default()
    }
}

const SEEDS: u64 = 6;

/// Fits with `SEEDS` seeds and checks each summary `statistic` of the guide against `exact`: the
/// mean over seeds must be within 4 standard errors (the seeds' spread / sqrt(SEEDS)) of the exact
/// value, and the spread itself small against the statistic's natural `scales` (a standard
/// deviation, a variance), so the test cannot pass by being noisy.
fn check_recovery(
    target: &GaussianTarget,
    family: GuideFamily,
    statistic: &dyn Fn(&GaussianGuide) -> Vec<f64>,
    exact: &[f64],
    scales: &[f64],
    what: &str,
) {
    let estimates: Vec<Vec<f64>> = (0..SEEDS)
        .map(|seed| {
            let fit = fit_variational(target, &precise(family, seed), None).unwrap();
            statistic(&fit.guide)
        })
        .collect();
    let count = SEEDS as f64;
    for (k, &truth) in exact.iter().enumerate() {
        let values: Vec<f64> = estimates.iter().map(|e| e[k]).collect();
        let mean = values.iter().sum::<f64>() / count;
        let spread =
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (count - 1.0)).sqrt();
        let standard_error = spread / count.sqrt();
        assert!(
            (mean - truth).abs() < 4.0 * standard_error.max(1e-6),
            "{what}[{k}]: mean over seeds {mean}, exact {truth}, standard error {standard_error}"
        );
        assert!(
            spread < 0.05 * scales[k],
            "{what}[{k}]: seeds spread {spread} is too wide to test anything"
        );
    }
}

fn flatten(matrix: &DMatrix<f64>) -> Vec<f64> {
    let dim = matrix.nrows();
    (0..dim * dim).map(|k| matrix[(k / dim, k % dim)]).collect()
}

fn standard_deviations(covariance: &DMatrix<f64>) -> Vec<f64> {
    (0..covariance.nrows())
        .map(|i| covariance[(i, i)].sqrt())
        .collect()
}

/// `sd_i · sd_j`: the natural scale of covariance entry (i, j).
fn covariance_scales(covariance: &DMatrix<f64>) -> Vec<f64> {
    let sds = standard_deviations(covariance);
    let dim = sds.len();
    (0..dim * dim)
        .map(|k| sds[k / dim] * sds[k % dim])
        .collect()
}

#[test]
fn full_rank_recovers_a_correlated_2d_gaussian() {
    let (mean, covariance) = correlated_2d();
    let target = GaussianTarget::new(mean.clone(), &covariance);
    check_recovery(
        &target,
        GuideFamily::FullRank,
        &|g| g.mean().to_vec(),
        &mean,
        &standard_deviations(&covariance),
        "mean",
    );
    check_recovery(
        &target,
        GuideFamily::FullRank,
        &|g| g.covariance(),
        &flatten(&covariance),
        &covariance_scales(&covariance),
        "covariance",
    );
}

#[test]
fn full_rank_recovers_a_10d_gaussian() {
    let (mean, covariance) = correlated_10d();
    let target = GaussianTarget::new(mean.clone(), &covariance);
    check_recovery(
        &target,
        GuideFamily::FullRank,
        &|g| g.mean().to_vec(),
        &mean,
        &standard_deviations(&covariance),
        "mean",
    );
    check_recovery(
        &target,
        GuideFamily::FullRank,
        &|g| g.covariance(),
        &flatten(&covariance),
        &covariance_scales(&covariance),
        "covariance",
    );
}

/// The KL(q‖p)-optimal factorised Gaussian for a Gaussian target has the target's mean and the
/// conditional variances `1 / precision_ii` (Bishop 2006, §10.1.2), not the marginal ones.
#[test]
fn mean_field_recovers_the_mean_and_the_conditional_variances() {
    for (mean, covariance) in [correlated_2d(), correlated_10d()] {
        let target = GaussianTarget::new(mean.clone(), &covariance);
        let dim = mean.len();
        let conditional: Vec<f64> = (0..dim)
            .map(|i| 1.0 / target.precision[i * dim + i])
            .collect();
        check_recovery(
            &target,
            GuideFamily::MeanField,
            &|g| g.mean().to_vec(),
            &mean,
            &standard_deviations(&covariance),
            "mean",
        );
        check_recovery(
            &target,
            GuideFamily::MeanField,
            &|g| {
                let covariance = g.covariance();
                (0..g.dim).map(|i| covariance[i * g.dim + i]).collect()
            },
            &conditional,
            &conditional,
            "variance",
        );
    }
}

#[test]
fn default_settings_fit_a_gaussian_and_trust_it() {
    let (mean, covariance) = correlated_2d();
    let mut target = GaussianTarget::new(mean.clone(), &covariance);
    target.offset = -100.0;
    let settings = VariationalSettings {
        family: GuideFamily::FullRank,
        ..VariationalSettings::default()
    };
    let fit = fit_variational(&target, &settings, None).unwrap();
    assert!(fit.converged);
    assert_eq!(fit.draws.len(), 1000 * 2);
    assert!(fit.pareto_k < 0.7, "k-hat {}", fit.pareto_k);
    // The ELBO of an exact fit is log Z = log(2π sqrt(det Σ)) for this unnormalised target.
    let log_normaliser =
        target.offset + (2.0 * std::f64::consts::PI).ln() + 0.5 * covariance.determinant().ln();
    let last = fit.trace.last().unwrap();
    assert!(
        (last.elbo - log_normaliser).abs() < 0.2,
        "{} vs {log_normaliser}",
        last.elbo
    );
}

#[test]
fn a_funnel_gets_a_large_pareto_k() {
    let target = Funnel { dim: 10 };
    for family in [GuideFamily::MeanField, GuideFamily::FullRank] {
        let settings = VariationalSettings {
            family,
            num_draws: 4000,
            ..VariationalSettings::default()
        };
        let fit = fit_variational(&target, &settings, None).unwrap();
        assert!(fit.pareto_k > 0.7, "{family:?}: k-hat {}", fit.pareto_k);
    }
}

#[test]
fn the_same_seed_gives_the_same_fit() {
    let (mean, covariance) = correlated_10d();
    let target = GaussianTarget::new(mean, &covariance);
    let settings = VariationalSettings {
        family: GuideFamily::FullRank,
        seed: 42,
        ..VariationalSettings::default()
    };
    let first = fit_variational(&target, &settings, None).unwrap();
    let second = fit_variational(&target, &settings, None).unwrap();
    assert_eq!(first, second);
    let other = fit_variational(
        &target,
        &VariationalSettings {
            seed: 43,
            ..settings
        },
        None,
    )
    .unwrap();
    assert_ne!(first.draws, other.draws);
}

#[test]
fn bad_settings_and_starts_are_errors() {
    let target = Funnel { dim: 3 };
    let settings = VariationalSettings {
        elbo_samples: 0,
        ..VariationalSettings::default()
    };
    assert!(matches!(
        fit_variational(&target, &settings, None),
        Err(VariationalError::Settings(_))
    ));
    let settings = VariationalSettings {
        initial_mean: Some(vec![0.0]),
        ..VariationalSettings::default()
    };
    assert!(matches!(
        fit_variational(&target, &settings, None),
        Err(VariationalError::InitialMeanLength {
            got: 1,
            expected: 3
        })
    ));
}

#[test]
fn the_reparameterised_gradient_matches_finite_differences_of_the_elbo() {
    // With common random numbers, the ELBO estimate is a smooth function of the parameters and
    // its derivative is exactly what `elbo_gradient` returns.
    let (mean, covariance) = correlated_2d();
    let mut target = GaussianTarget::new(mean, &covariance);
    let mut guide = GaussianGuide::standard(GuideFamily::FullRank, &[0.3, -0.2]);
    guide.parameters[3] = 0.4;
    guide.parameters[4] = -0.1;
    let mut gradient = vec![0.0; guide.parameters.len()];
    let value = |guide: &GaussianGuide, target: &mut GaussianTarget| {
        guide.estimate_elbo(target, &mut stream(9, 9), 5)
    };
    let mut scratch = vec![0.0; gradient.len()];
    // Same draws as estimate_elbo with the same stream and sample count.
    let estimate = guide
        .elbo_gradient(&mut target, &mut stream(9, 9), 5, &mut gradient)
        .unwrap();
    assert!((estimate - value(&guide, &mut target)).abs() < 1e-12);
    for k in 0..gradient.len() {
        let step = 1e-6;
        let mut shifted = guide.clone();
        shifted.parameters[k] += step;
        let upper = value(&shifted, &mut target);
        shifted.parameters[k] -= 2.0 * step;
        let lower = value(&shifted, &mut target);
        scratch[k] = (upper - lower) / (2.0 * step);
        assert!(
            (scratch[k] - gradient[k]).abs() < 1e-6,
            "parameter {k}: {} vs {}",
            scratch[k],
            gradient[k]
        );
    }
}

/// Variational EM's target: `z_j ~ N(θ, 1)`, `y_j ~ N(z_j, 1)` with `θ` a point. The marginal is
/// `y_j ~ N(θ, 2)`, so the maximiser of the ELBO in θ is the MLE `mean(y)`, and the exact
/// posterior `z_j | y_j, θ ~ N((y_j + θ)/2, 1/2)` is in the mean-field family, so the guide can
/// reach it. Position: `[θ, z_1..z_J]`.
#[derive(Clone, Debug)]
struct RandomEffects {
    y: Vec<f64>,
}

impl LogDensity for RandomEffects {
    fn dim(&self) -> usize {
        self.y.len() + 1
    }

    fn log_density_and_gradient(
        &mut self,
        position: &[f64],
        gradient: &mut [f64],
    ) -> Result<f64, LogDensityError> {
        let theta = position[0];
        let mut value = 0.0;
        gradient[0] = 0.0;
        for (j, &y) in self.y.iter().enumerate() {
            let z = position[j + 1];
            value -= 0.5 * ((z - theta).powi(2) + (y - z).powi(2));
            gradient[0] += z - theta;
            gradient[j + 1] = -(z - theta) + (y - z);
        }
        Ok(value - 100.0)
    }
}

#[test]
fn variational_em_holds_the_params_at_a_point_and_reaches_the_mle() {
    let y: Vec<f64> = (0..20).map(|j| 3.0 + ((j * 7) % 11) as f64 * 0.4).collect();
    let mle = y.iter().sum::<f64>() / y.len() as f64;
    let standard_error = (2.0 / y.len() as f64).sqrt();
    let mut points = vec![false; y.len() + 1];
    points[0] = true;
    let settings = VariationalSettings {
        point_coordinates: points,
        elbo_samples: 4,
        tol_rel_obj: 1e-5,
        seed: 3,
        ..VariationalSettings::default()
    };
    let fit = fit_variational(&RandomEffects { y: y.clone() }, &settings, None).unwrap();
    let theta = fit.guide.mean()[0];
    println!("theta {theta} vs MLE {mle} (se {standard_error})");
    assert!(
        (theta - mle).abs() < 0.05 * standard_error,
        "θ {theta} vs MLE {mle}"
    );
    // The point has no spread in the draws; each z is within 0.25 posterior sd of the exact
    // posterior's mean (Stan's criterion), its sd within 10%.
    assert!((0..fit.draws.len() / fit.guide.dim).all(|d| fit.draw(d)[0] == theta));
    let factor = fit.guide.cholesky_factor();
    let dim = fit.guide.dim;
    assert_eq!(factor[0], 0.0);
    for j in 1..dim {
        let sd = factor[j * dim + j];
        assert!((sd / 0.5f64.sqrt() - 1.0).abs() < 0.1, "sd of z_{j}: {sd}");
        let exact_mean = 0.5 * (y[j - 1] + theta);
        assert!(
            (fit.guide.mean()[j] - exact_mean).abs() < 0.25 * 0.5f64.sqrt(),
            "mean of z_{j}: {} vs {exact_mean} (after {} iterations)",
            fit.guide.mean()[j],
            fit.iterations
        );
    }
}

/// A trace of `count` ELBO values `f(i)`.
fn trace_of(count: usize, f: impl Fn(usize) -> f64) -> Vec<ElboEvaluation> {
    (0..count)
        .map(|i| ElboEvaluation {
            iteration: 100 * (i + 1),
            elbo: f(i),
            relative_change: None,
        })
        .collect()
}

#[test]
fn the_plateau_rule_tells_a_flat_noisy_elbo_from_a_climbing_one() {
    // Noise of sd 1 about a constant (a fixed pseudo-random sequence): flat, whatever the
    // relative changes say about tol_rel_obj.
    let noise = |i: usize| ((i as f64 * 0.618_033_988_75).fract() - 0.5) * 12f64.sqrt();
    let flat = elbo_plateau(&trace_of(100, |i| -50.0 + noise(i))).expect("enough evaluations");
    assert!(flat.is_flat(), "{flat:?}");
    assert!((flat.noise_sd - 1.0).abs() < 0.2, "{flat:?}");
    // The same noise on a climb of 0.5 nats per evaluation: still improving.
    let climbing =
        elbo_plateau(&trace_of(100, |i| -50.0 + 0.5 * i as f64 + noise(i))).expect("enough");
    assert!(!climbing.is_flat(), "{climbing:?}");
    assert!((climbing.slope - 0.5).abs() < 0.05, "{climbing:?}");
    assert!(elbo_plateau(&trace_of(3, noise)).is_none());
}
