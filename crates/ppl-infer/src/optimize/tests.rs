//! The optimiser on hand-written log densities with known maxima.

use super::*;
use rand_distr::StandardNormal;

/// A log density given by a closure, counting the points where it was not finite.
#[derive(Clone)]
struct FnDensity<F> {
    dim: usize,
    function: F,
    non_finite: usize,
}

fn density<F>(dim: usize, function: F) -> FnDensity<F>
where
    F: FnMut(&[f64], &mut [f64]) -> Result<f64, LogDensityError> + Clone + Send,
{
    FnDensity {
        dim,
        function,
        non_finite: 0,
    }
}

impl<F> LogDensity for FnDensity<F>
where
    F: FnMut(&[f64], &mut [f64]) -> Result<f64, LogDensityError> + Clone + Send,
{
    fn dim(&self) -> usize {
        self.dim
    }

    fn log_density_and_gradient(
        &mut self,
        position: &[f64],
        gradient: &mut [f64],
    ) -> Result<f64, LogDensityError> {
        let result = (self.function)(position, gradient);
        if !matches!(result, Ok(v) if v.is_finite()) {
            self.non_finite += 1;
        }
        result
    }
}

/// `-(x - mean)' A (x - mean) / 2` for a symmetric positive definite row-major `A`.
fn quadratic(
    precision: Vec<f64>,
    mean: Vec<f64>,
) -> impl FnMut(&[f64], &mut [f64]) -> Result<f64, LogDensityError> + Clone + Send {
    move |x, gradient| {
        let dim = mean.len();
        let centred: Vec<f64> = x.iter().zip(&mean).map(|(x, m)| x - m).collect();
        let mut value = 0.0;
        for i in 0..dim {
            let row = &precision[i * dim..(i + 1) * dim];
            gradient[i] = -dot(row, &centred);
            value += 0.5 * centred[i] * gradient[i];
        }
        Ok(value)
    }
}

fn assert_monotone(result: &OptimizeResult) {
    assert_eq!(result.trace.len(), result.iterations + 1);
    for pair in result.trace.windows(2) {
        assert!(pair[1] >= pair[0], "the log density decreased: {pair:?}");
    }
    assert_eq!(result.trace.last(), Some(&result.log_density));
}

/// How far from the mode Stan's relative-gradient test may stop, in the coordinates of a density
/// whose negative Hessian has smallest eigenvalue `curvature`: `g' H g < tol |f|` with
/// `H ≈ (-Hessian)^{-1}` allows `|Δx| ≈ sqrt(tol |f| / curvature)`; the factor 2 allows for the
/// L-BFGS approximation of `H`.
fn relative_gradient_reach(result: &OptimizeResult, curvature: f64) -> f64 {
    let tolerance = OptimizeSettings::default().tol_rel_grad * f64::EPSILON;
    2.0 * (tolerance * result.log_density.abs().max(1.0) / curvature).sqrt()
}

fn max_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

/// A 5-dimensional quadratic whose Hessian has condition number about 60 (a scaled
/// Kac–Murdock–Szegő matrix).
fn kms_precision(scales: &[f64]) -> Vec<f64> {
    let dim = scales.len();
    let mut precision = vec![0.0; dim * dim];
    for i in 0..dim {
        for j in 0..dim {
            let correlation = 0.5_f64.powi((i as i32 - j as i32).abs());
            precision[i * dim + j] = correlation * (scales[i] * scales[j]).sqrt();
        }
    }
    precision
}

#[test]
fn finds_the_exact_maximum_of_a_quadratic_in_few_iterations() {
    let mean = vec![1.0, -2.0, 0.5, 3.0, -1.0];
    let precision = kms_precision(&[1.0, 2.0, 5.0, 10.0, 20.0]);
    let mut target = density(5, quadratic(precision, mean.clone()));
    let result = maximize(&mut target, &[0.0; 5], &OptimizeSettings::default()).unwrap();
    eprintln!(
        "quadratic: {} iterations, {} evaluations, stop: {:?}, |g| = {:.2e}",
        result.iterations, result.evaluations, result.stop, result.gradient_norm
    );
    assert!(result.converged, "{:?}", result.stop);
    assert!(result.iterations <= 15, "{} iterations", result.iterations);
    // The value at the optimum is 0; |Δx| is bounded by the final gradient over the smallest
    // eigenvalue (> 0.3 here).
    assert!(max_distance(&result.position, &mean) < 1e-5);
    assert!(result.log_density > -1e-10 && result.log_density <= 0.0);
    assert_monotone(&result);

    // With a tight gradient tolerance only, it reaches the optimum to rounding.
    let tight = OptimizeSettings {
        tol_obj: 0.0,
        tol_rel_obj: 0.0,
        tol_rel_grad: 0.0,
        tol_param: 0.0,
        tol_grad: 1e-12,
        ..OptimizeSettings::default()
    };
    let result = maximize(&mut target, &[0.0; 5], &tight).unwrap();
    eprintln!(
        "quadratic, tol_grad 1e-12: {} iterations",
        result.iterations
    );
    assert_eq!(result.stop, StopReason::AbsoluteGradient);
    assert!(max_distance(&result.position, &mean) < 1e-11);
    // scipy's L-BFGS-B (maxcor 10, gtol 1e-12) takes 21 iterations on this problem too;
    // steepest ascent would need hundreds.
    assert!(result.iterations <= 25, "{} iterations", result.iterations);
}

fn rosenbrock() -> impl FnMut(&[f64], &mut [f64]) -> Result<f64, LogDensityError> + Clone + Send {
    |x: &[f64], gradient: &mut [f64]| {
        let (a, b) = (1.0 - x[0], x[1] - x[0] * x[0]);
        gradient[0] = 2.0 * a + 400.0 * x[0] * b;
        gradient[1] = -200.0 * b;
        Ok(-(a * a + 100.0 * b * b))
    }
}

#[test]
fn solves_the_rosenbrock_function_from_the_classic_start() {
    let mut target = density(2, rosenbrock());
    let result = maximize(&mut target, &[-1.2, 1.0], &OptimizeSettings::default()).unwrap();
    eprintln!(
        "rosenbrock: {} iterations, {} evaluations, stop: {:?}, |g| = {:.2e}, x = {:?}",
        result.iterations, result.evaluations, result.stop, result.gradient_norm, result.position
    );
    assert!(result.converged, "{:?}", result.stop);
    // The negative Hessian at (1, 1) has smallest eigenvalue 0.4.
    let reach = relative_gradient_reach(&result, 0.4);
    assert!(
        max_distance(&result.position, &[1.0, 1.0]) < reach,
        "{:?}, reach {reach:e}",
        result.position
    );
    assert!(result.log_density > -1e-9);
    assert!(result.iterations < 100, "{} iterations", result.iterations);
    assert_monotone(&result);
}

#[test]
fn stops_unconverged_after_the_iteration_limit() {
    let mut target = density(2, rosenbrock());
    let settings = OptimizeSettings {
        max_iterations: 3,
        ..OptimizeSettings::default()
    };
    let result = maximize(&mut target, &[-1.2, 1.0], &settings).unwrap();
    assert_eq!(result.stop, StopReason::MaxIterations);
    assert!(!result.converged);
    assert_eq!(result.iterations, 3);
    assert_monotone(&result);
    assert!(result.log_density > result.trace[0]);
}

#[test]
fn a_kink_at_the_maximum_ends_in_a_failed_line_search_not_a_panic() {
    // -|x|: the slope is ±1 everywhere, so no step meets the curvature condition.
    let mut target = density(1, |x: &[f64], gradient: &mut [f64]| {
        gradient[0] = -x[0].signum();
        Ok(-x[0].abs())
    });
    let result = maximize(&mut target, &[1.0], &OptimizeSettings::default()).unwrap();
    assert_eq!(result.stop, StopReason::LineSearchFailed);
    assert!(!result.converged);
    assert_eq!(result.position, vec![1.0]);
    assert!(result.evaluations <= 1 + OptimizeSettings::default().max_line_search_evaluations);
}

/// Simulated logistic-regression data: rows of `[1, x1, x2, x3]` and 0/1 outcomes.
fn logistic_data(n: usize, coefficients: &[f64], seed: u64) -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows = Vec::with_capacity(n);
    let mut outcomes = Vec::with_capacity(n);
    for _ in 0..n {
        let mut row = vec![1.0];
        row.extend((1..coefficients.len()).map(|_| rng.sample::<f64, _>(StandardNormal)));
        let probability = 1.0 / (1.0 + (-dot(&row, coefficients)).exp());
        outcomes.push(if rng.random::<f64>() < probability {
            1.0
        } else {
            0.0
        });
        rows.push(row);
    }
    (rows, outcomes)
}

/// `log(1 + e^t)` without overflow.
fn softplus(t: f64) -> f64 {
    t.max(0.0) + (-t.abs()).exp().ln_1p()
}

#[test]
fn matches_newtons_method_on_a_logistic_regression_likelihood() {
    let (rows, outcomes) = logistic_data(400, &[-0.5, 1.0, -1.5, 0.7], 11);
    let dim = 4;
    let log_likelihood = {
        let (rows, outcomes) = (rows.clone(), outcomes.clone());
        move |beta: &[f64], gradient: &mut [f64]| {
            gradient.fill(0.0);
            let mut value = 0.0;
            for (row, y) in rows.iter().zip(&outcomes) {
                let eta = dot(row, beta);
                value += y * eta - softplus(eta);
                let residual = y - 1.0 / (1.0 + (-eta).exp());
                for (g, x) in gradient.iter_mut().zip(row) {
                    *g += residual * x;
                }
            }
            Ok(value)
        }
    };

    // Newton's method: beta += (X' W X)^{-1} X' (y - p), to convergence.
    let mut newton = vec![0.0; dim];
    for _ in 0..50 {
        let mut information = DMatrix::<f64>::zeros(dim, dim);
        let mut score = nalgebra::DVector::<f64>::zeros(dim);
        for (row, y) in rows.iter().zip(&outcomes) {
            let p = 1.0 / (1.0 + (-dot(row, &newton)).exp());
            for i in 0..dim {
                score[i] += (y - p) * row[i];
                for j in 0..dim {
                    information[(i, j)] += p * (1.0 - p) * row[i] * row[j];
                }
            }
        }
        let step = information.cholesky().unwrap().solve(&score);
        for (b, s) in newton.iter_mut().zip(step.iter()) {
            *b += s;
        }
        if step.amax() < 1e-14 {
            break;
        }
    }

    let mut target = density(dim, log_likelihood);
    let result = maximize(&mut target, &[0.0; 4], &OptimizeSettings::default()).unwrap();
    eprintln!(
        "logistic: {} iterations, {} evaluations, stop: {:?}, |g| = {:.2e}, max |Δβ| = {:.1e}",
        result.iterations,
        result.evaluations,
        result.stop,
        result.gradient_norm,
        max_distance(&result.position, &newton)
    );
    assert!(result.converged, "{:?}", result.stop);
    // The standard errors are about 0.1-0.2; the stopping rules leave errors far below 1e-4.
    assert!(
        max_distance(&result.position, &newton) < 1e-4,
        "{:?} vs {newton:?}",
        result.position
    );
    assert!(result.iterations <= 40, "{} iterations", result.iterations);
    assert_monotone(&result);
}

/// `sum(log x_i - rate x_i)` (Gamma(2, rate) up to a constant; mode 1 / rate), which is not
/// finite for `x_i <= 0`, reported either as `Ok(-inf)` or as an error.
fn gamma_log_density(
    rate: f64,
    as_error: bool,
) -> impl FnMut(&[f64], &mut [f64]) -> Result<f64, LogDensityError> + Clone + Send {
    move |x: &[f64], gradient: &mut [f64]| {
        if x.iter().any(|x| *x <= 0.0) {
            return if as_error {
                Err(LogDensityError::NotFinite {
                    term: Some("x".into()),
                    term_index: None,
                })
            } else {
                gradient.fill(f64::NAN);
                Ok(f64::NEG_INFINITY)
            };
        }
        let mut value = 0.0;
        for (x, g) in x.iter().zip(gradient.iter_mut()) {
            value += x.ln() - rate * x;
            *g = 1.0 / x - rate;
        }
        Ok(value)
    }
}

#[test]
fn backs_off_from_a_region_where_the_log_density_is_minus_infinity() {
    // A first trial step of 100 along the gradient lands far inside x < 0.
    let settings = OptimizeSettings {
        init_alpha: 100.0,
        ..OptimizeSettings::default()
    };
    for as_error in [false, true] {
        for (rate, start) in [(1.0, [5.0, 0.5, 3.0]), (1000.0, [1.0, 0.5, 2.0])] {
            let mut target = density(3, gamma_log_density(rate, as_error));
            let result = maximize(&mut target, &start, &settings).unwrap();
            eprintln!(
                "gamma rate {rate}: {} iterations, {} evaluations ({} not finite), stop: {:?}",
                result.iterations, result.evaluations, target.non_finite, result.stop
            );
            assert!(target.non_finite > 0, "the -inf region was never hit");
            assert!(result.converged, "{:?}", result.stop);
            let mode = [1.0 / rate; 3];
            // The curvature of log x is 1/x^2 = rate^2 at the mode.
            let reach = relative_gradient_reach(&result, rate * rate);
            assert!(reach < 1e-3 / rate);
            assert!(
                max_distance(&result.position, &mode) < reach,
                "{:?}, reach {reach:e}",
                result.position
            );
            assert_monotone(&result);
        }
    }
}

fn assert_no_valid_start<F>(mut target: FnDensity<F>, expected_non_finite: usize)
where
    F: FnMut(&[f64], &mut [f64]) -> Result<f64, LogDensityError> + Clone + Send,
{
    let settings = OptimizeSettings::default();
    assert!(matches!(
        maximize(&mut target, &[0.5, 0.5], &settings),
        Err(OptimizeError::InvalidStart { .. })
    ));
    let error =
        maximize_from_random_starts(&mut target, &settings, &RandomStarts::default()).unwrap_err();
    assert_eq!(
        error,
        OptimizeError::NoValidStart {
            run: 0,
            attempts: 100,
            last_error: LogDensityError::NotFinite {
                term: None,
                term_index: None,
            }
        }
    );
    assert_eq!(target.non_finite, expected_non_finite);
}

#[test]
fn reports_an_error_when_the_log_density_is_nan_everywhere() {
    let nan_value = density(2, |_: &[f64], gradient: &mut [f64]| {
        gradient.fill(f64::NAN);
        Ok(f64::NAN)
    });
    let nan_gradient = density(2, |_: &[f64], gradient: &mut [f64]| {
        gradient.fill(f64::NAN);
        Ok(0.0)
    });
    let failing = density(2, |_: &[f64], _: &mut [f64]| {
        Err(LogDensityError::NotFinite {
            term: Some("y ~ Normal(mu, sigma)".into()),
            term_index: None,
        })
    });
    let settings = OptimizeSettings::default();
    assert_no_valid_start(nan_value, 101);
    // A finite value with a NaN gradient is not counted by `FnDensity`, but is still refused.
    assert_no_valid_start(nan_gradient, 0);
    let mut target = failing;
    let error =
        maximize_from_random_starts(&mut target, &settings, &RandomStarts::default()).unwrap_err();
    // The last error is passed on, with its term.
    assert!(
        error.to_string().contains("y ~ Normal(mu, sigma)"),
        "{error}"
    );
    assert!(matches!(
        maximize(&mut target, &[0.0, 0.0], &settings),
        Err(OptimizeError::InvalidStart {
            error: LogDensityError::NotFinite {
                term: Some(_),
                term_index: None
            }
        })
    ));
}

#[test]
fn rejects_bad_settings_and_wrong_lengths() {
    let mut target = density(2, rosenbrock());
    let bad = [
        OptimizeSettings {
            history_size: 0,
            ..OptimizeSettings::default()
        },
        OptimizeSettings {
            curvature: 1e-5,
            ..OptimizeSettings::default()
        },
        OptimizeSettings {
            tol_grad: f64::NAN,
            ..OptimizeSettings::default()
        },
        OptimizeSettings {
            init_alpha: 0.0,
            ..OptimizeSettings::default()
        },
    ];
    for settings in &bad {
        assert!(matches!(
            maximize(&mut target, &[0.0, 0.0], settings),
            Err(OptimizeError::InvalidSettings { .. })
        ));
    }
    let settings = OptimizeSettings::default();
    assert_eq!(
        maximize(&mut target, &[0.0], &settings).unwrap_err(),
        OptimizeError::WrongLength {
            got: 1,
            expected: 2
        }
    );
    assert!(matches!(
        maximize(&mut target, &[f64::NAN, 0.0], &settings),
        Err(OptimizeError::InvalidStart { .. })
    ));
    assert!(hessian_by_differences(&mut target, &[0.0], 1e-5).is_err());
    assert!(hessian_by_differences(&mut target, &[0.0, 0.0], -1.0).is_err());
}

#[test]
fn stops_at_once_at_a_stationary_start_and_in_zero_dimensions() {
    let mut target = density(2, quadratic(vec![1.0, 0.0, 0.0, 1.0], vec![0.3, 0.4]));
    let result = maximize(&mut target, &[0.3, 0.4], &OptimizeSettings::default()).unwrap();
    assert_eq!(result.stop, StopReason::AbsoluteGradient);
    assert_eq!((result.iterations, result.evaluations), (0, 1));
    let mut empty = density(0, |_: &[f64], _: &mut [f64]| Ok(-1.5));
    let result = maximize(&mut empty, &[], &OptimizeSettings::default()).unwrap();
    assert!(result.converged);
    assert_eq!(result.log_density, -1.5);
    assert_eq!(standard_errors(&[], 0), Some(vec![]));
}

#[test]
fn hessian_and_standard_errors_of_a_gaussian_are_exact() {
    let covariance =
        DMatrix::from_row_slice(3, 3, &[2.0, 0.6, -0.3, 0.6, 1.0, 0.2, -0.3, 0.2, 0.5]);
    let precision = covariance.clone().try_inverse().unwrap();
    let mean = vec![0.7, -1.1, 2.5];
    let precision_rows: Vec<f64> = precision.transpose().iter().copied().collect();
    let mut target = density(3, quadratic(precision_rows.clone(), mean.clone()));
    let result = maximize(&mut target, &[0.0; 3], &OptimizeSettings::default()).unwrap();
    assert!(result.converged);

    let hessian =
        hessian_by_differences(&mut target, &result.position, DEFAULT_HESSIAN_STEP).unwrap();
    // The gradient is linear, so central differences are exact up to rounding.
    for (h, p) in hessian.iter().zip(&precision_rows) {
        assert!((h + p).abs() < 1e-8 * p.abs().max(1.0), "{h} vs {}", -p);
    }
    let errors = standard_errors(&hessian, 3).unwrap();
    for (i, e) in errors.iter().enumerate() {
        let exact = covariance[(i, i)].sqrt();
        assert!((e - exact).abs() < 1e-8, "{e} vs {exact}");
    }

    // A curved log density: for the Gamma(2, 1) kernel log x - x, the second derivative at the
    // mode x = 1 is -1/x^2 = -1; at x = 4 it is -1/16.
    let mut gamma = density(3, gamma_log_density(1.0, false));
    let hessian =
        hessian_by_differences(&mut gamma, &[1.0, 4.0, 0.5], DEFAULT_HESSIAN_STEP).unwrap();
    let expected = [-1.0, 0.0, 0.0, 0.0, -1.0 / 16.0, 0.0, 0.0, 0.0, -4.0];
    for (h, e) in hessian.iter().zip(&expected) {
        assert!((h - e).abs() < 1e-7 * e.abs().max(1.0), "{hessian:?}");
    }
}

#[test]
fn standard_errors_need_a_negative_definite_hessian() {
    assert_eq!(standard_errors(&[-1.0, 0.0, 0.0, 1.0], 2), None);
    assert_eq!(standard_errors(&[-1.0, 0.0, 0.0, 0.0], 2), None);
    assert_eq!(standard_errors(&[-1.0, 2.0, 2.0, -1.0], 2), None);
    assert_eq!(standard_errors(&[-1.0, f64::NAN, f64::NAN, -1.0], 2), None);
    assert_eq!(standard_errors(&[-1.0, 0.0, 0.0], 2), None);
    let errors = standard_errors(&[-4.0, 0.0, 0.0, -0.25], 2).unwrap();
    assert!((errors[0] - 0.5).abs() < 1e-15 && (errors[1] - 2.0).abs() < 1e-15);
    // A Hessian at a point that is not finite cannot be computed.
    let mut gamma = density(1, gamma_log_density(1.0, true));
    assert!(matches!(
        hessian_by_differences(&mut gamma, &[1e-9], DEFAULT_HESSIAN_STEP),
        Err(OptimizeError::HessianEvaluation { coordinate: 0, .. })
    ));
}

/// `log(0.3 N(x; -1.5, 0.3) + 0.7 N(x; 1.5, 0.3))`: two well separated modes, the higher at 1.5.
fn bimodal() -> impl FnMut(&[f64], &mut [f64]) -> Result<f64, LogDensityError> + Clone + Send {
    |x: &[f64], gradient: &mut [f64]| {
        let sd = 0.3;
        let components = [(0.3_f64, -1.5), (0.7_f64, 1.5)].map(|(weight, mean)| {
            let z = (x[0] - mean) / sd;
            (weight.ln() - 0.5 * z * z, -z / sd)
        });
        let top = components[0].0.max(components[1].0);
        let weights = components.map(|(log, _)| (log - top).exp());
        let total: f64 = weights.iter().sum();
        gradient[0] = (weights[0] * components[0].1 + weights[1] * components[1].1) / total;
        Ok(top + total.ln())
    }
}

#[test]
fn random_starts_find_the_higher_mode_reproducibly() {
    let mut target = density(1, bimodal());
    let starts = RandomStarts {
        runs: 8,
        seed: 5,
        ..RandomStarts::default()
    };
    let settings = OptimizeSettings::default();
    let result = maximize_from_random_starts(&mut target, &settings, &starts).unwrap();
    let ends: Vec<f64> = result.runs.iter().map(|r| r.position[0]).collect();
    eprintln!("bimodal ends: {ends:?}");
    assert!(result.runs.iter().all(|r| r.converged));
    assert!(result.starts.iter().all(|s| s[0].abs() < 2.0));
    // Both basins were reached, so choosing the best is tested.
    assert!(ends.iter().any(|x| (x + 1.5).abs() < 1e-3));
    assert!((result.best().position[0] - 1.5).abs() < 1e-3);
    assert!(
        result.best().log_density
            >= result
                .runs
                .iter()
                .map(|r| r.log_density)
                .fold(f64::MIN, f64::max)
    );

    let again = maximize_from_random_starts(&mut target, &settings, &starts).unwrap();
    assert_eq!(again, result);
    // A run's start depends on the seed and its index, not on the number of runs.
    let fewer = RandomStarts { runs: 3, ..starts };
    let fewer = maximize_from_random_starts(&mut target, &settings, &fewer).unwrap();
    assert_eq!(fewer.starts[..], result.starts[..3]);

    // Starts are redrawn until finite: only x > 0 is allowed, half of the uniform(-2, 2) box.
    let mut gamma = density(1, gamma_log_density(1.0, true));
    let result = maximize_from_random_starts(&mut gamma, &settings, &starts).unwrap();
    assert!(gamma.non_finite > 0);
    assert!(result.starts.iter().all(|s| s[0] > 0.0));
    for run in &result.runs {
        assert!((run.position[0] - 1.0).abs() < relative_gradient_reach(run, 1.0));
    }
}

#[test]
fn a_stop_request_ends_the_run_at_the_last_accepted_point() {
    let stop = AtomicBool::new(true);
    let mut target = density(2, rosenbrock());
    let result = maximize_until(
        &mut target,
        &[-1.2, 1.0],
        &OptimizeSettings::default(),
        Some(&stop),
    )
    .unwrap();
    assert_eq!(result.stop, StopReason::Interrupted);
    assert!(!result.converged);
    assert_eq!(
        (result.iterations, result.position.clone()),
        (0, vec![-1.2, 1.0])
    );
    // With random starts, the first run is made (and stopped at once) and no other begins.
    let starts = RandomStarts {
        runs: 5,
        ..RandomStarts::default()
    };
    let multi = maximize_from_random_starts_until(
        &mut target,
        &OptimizeSettings::default(),
        &starts,
        Some(&stop),
    )
    .unwrap();
    assert_eq!(multi.runs.len(), 1);
    assert_eq!(multi.best().stop, StopReason::Interrupted);
    // Unset, the same call runs to convergence.
    stop.store(false, Ordering::Relaxed);
    let result = maximize_until(
        &mut target,
        &[-1.2, 1.0],
        &OptimizeSettings::default(),
        Some(&stop),
    )
    .unwrap();
    assert!(result.converged, "{:?}", result.stop);
}
