//! Statistical and behavioural tests of the samplers on hand-written densities. Tolerances come
//! from Monte Carlo standard errors computed by our own diagnostics; seeds are fixed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::hmc::PhasePoint;
use super::hmc::integrator::{Integrator, Leapfrog, evaluate};
use super::hmc::metric::{DiagonalMetric, Metric};
use super::test_densities::*;
use super::*;
use crate::density::{LogDensity, LogDensityError};
use crate::diagnostics;

fn settings(kernel: Kernel, warmup: usize, draws: usize, seed: u64) -> SamplerSettings {
    SamplerSettings {
        kernel,
        num_warmup: warmup,
        num_draws: draws,
        seed,
        ..SamplerSettings::default()
    }
}

fn coordinate_chains(outputs: &[ChainOutput], coordinate: usize) -> Vec<Vec<f64>> {
    outputs.iter().map(|o| o.coordinate(coordinate)).collect()
}

/// Checks E[x] and E[x²] of one coordinate against the truth within 4 Monte Carlo standard
/// errors of each (as estimated from the draws themselves).
fn assert_moments(label: &str, chains: &[Vec<f64>], mean: f64, sd: f64) {
    let refs: Vec<&[f64]> = chains.iter().map(Vec::as_slice).collect();
    let estimate = diagnostics::mean_sd(&refs).0;
    let mcse = diagnostics::mcse_mean(&refs);
    assert!(
        (estimate - mean).abs() < 4.0 * mcse,
        "{label}: mean {estimate} vs {mean}, MCSE {mcse}"
    );
    let squares: Vec<Vec<f64>> = chains
        .iter()
        .map(|c| c.iter().map(|x| x * x).collect())
        .collect();
    let square_refs: Vec<&[f64]> = squares.iter().map(Vec::as_slice).collect();
    let second = diagnostics::mean_sd(&square_refs).0;
    let second_mcse = diagnostics::mcse_mean(&square_refs);
    let true_second = sd * sd + mean * mean;
    assert!(
        (second - true_second).abs() < 4.0 * second_mcse,
        "{label}: E[x²] {second} vs {true_second}, MCSE {second_mcse}"
    );
    let rhat = diagnostics::rhat(&refs);
    assert!(rhat < 1.05, "{label}: R-hat {rhat}");
}

#[test]
fn leapfrog_energy_error_is_second_order() {
    let mut density = IndependentNormal {
        means: vec![0.0, 1.0, -2.0],
        sds: vec![1.0, 0.5, 2.0],
    };
    let metric = DiagonalMetric::identity(3);
    let max_error = |step_size: f64, density: &mut IndependentNormal| {
        let mut point = PhasePoint::new(3);
        point.position.copy_from_slice(&[0.3, 0.2, 1.0]);
        point.momentum.copy_from_slice(&[1.0, -0.5, 0.7]);
        point.log_density = evaluate(density, &point.position.clone(), &mut point.gradient);
        point.refresh_kinetic(&metric);
        let initial = point.energy();
        let steps = (2.0 / step_size).round() as usize;
        let mut worst: f64 = 0.0;
        for _ in 0..steps {
            Leapfrog.step(density, &metric, &mut point, step_size);
            worst = worst.max((point.energy() - initial).abs());
        }
        worst
    };
    let coarse = max_error(0.1, &mut density);
    let fine = max_error(0.05, &mut density);
    let ratio = coarse / fine;
    assert!(coarse < 0.1, "energy error {coarse}");
    assert!(
        (3.5..4.5).contains(&ratio),
        "halving ε cut the error by {ratio}, not ~4"
    );
}

#[test]
fn every_kernel_recovers_known_moments() {
    let static_hmc = Kernel::StaticHmc(TrajectoryLength::IntegrationTime(1.7));
    let cases: Vec<(&str, Kernel, bool)> = vec![
        ("nuts diagonal", Kernel::Nuts, false),
        ("nuts dense", Kernel::Nuts, true),
        ("static hmc diagonal", static_hmc, false),
        ("static hmc dense", static_hmc, true),
    ];
    for (seed, (label, kernel, dense)) in cases.into_iter().enumerate() {
        let run = |density: &dyn Fn(&SamplerSettings) -> Vec<ChainOutput>| {
            // 4 × 2000 draws: enough for the MCSE of E[x²] (a skewed quantity) to be itself
            // reliable, so that a 4-MCSE band means what it says.
            let mut s = settings(kernel, 500, 2000, 100 + seed as u64);
            s.metric = if dense {
                MetricKind::Dense
            } else {
                MetricKind::Auto
            };
            density(&s)
        };
        // Independent normals, d = 10, with varied scales.
        let iid = IndependentNormal {
            means: (0..10).map(|i| i as f64 - 4.0).collect(),
            sds: (0..10).map(|i| 0.5 + 0.3 * i as f64).collect(),
        };
        let outputs = run(&|s| sample_chains(&iid, s, &RunControl::default()).unwrap());
        for i in 0..10 {
            let label = format!("{label}, iid normal, coordinate {i}");
            assert_moments(
                &label,
                &coordinate_chains(&outputs, i),
                iid.means[i],
                iid.sds[i],
            );
        }
        // Strongly correlated, badly scaled 2-d normal.
        let correlated = CorrelatedNormal {
            means: [1.0, -1.0],
            sds: [3.0, 0.3],
            correlation: 0.9,
        };
        let outputs = run(&|s| sample_chains(&correlated, s, &RunControl::default()).unwrap());
        for i in 0..2 {
            let label = format!("{label}, correlated normal, coordinate {i}");
            let chains = coordinate_chains(&outputs, i);
            assert_moments(&label, &chains, correlated.means[i], correlated.sds[i]);
        }
        // Conjugate normal-normal posterior.
        let conjugate = NormalNormal {
            data: vec![2.1, 1.4, 3.3, 2.8, 1.9, 2.5, 0.7],
            sigma: 1.5,
            prior_mean: 0.0,
            prior_sd: 2.0,
        };
        let (mean, sd) = conjugate.posterior();
        let outputs = run(&|s| sample_chains(&conjugate, s, &RunControl::default()).unwrap());
        assert_moments(
            &format!("{label}, normal-normal"),
            &coordinate_chains(&outputs, 0),
            mean,
            sd,
        );
    }
}

#[test]
fn nuts_recovers_the_banana() {
    // Stan's windowed metric, which this test was calibrated with. The banana is hard for every
    // metric: over 4 × 3000 draws at seed 7, E[x1²] comes out 12.6 (Stan's metric) and 11.2
    // (Fisher diagonal) against 19, with divergences in the arms, so the 4 × 1000 run passes
    // only by the width of its MCSE. The default once took a dense metric here, following the
    // tilt of whichever arm a window saw (several times slower than Stan's variances); its
    // linearity check now sees the curve and keeps the Fisher diagonal, level with Stan's
    // metric in median over seeds 0–9 (`ppl-bench metric --cases banana`, BENCHMARKS.md), but
    // at this seed x0's R-hat is 1.11 under it, so the test stays on Stan's metric.
    let banana = Banana { curvature: 0.03 };
    let mut s = settings(Kernel::Nuts, 1000, 1000, 7);
    s.metric = MetricKind::Stan;
    let outputs = sample_chains(&banana, &s, &RunControl::default()).unwrap();
    assert_moments("banana x0", &coordinate_chains(&outputs, 0), 0.0, 10.0);
    let sd1 = (2.0e4 * 0.03_f64.powi(2) + 1.0).sqrt();
    assert_moments("banana x1", &coordinate_chains(&outputs, 1), 0.0, sd1);
}

#[test]
fn dense_metric_learns_the_covariance() {
    let correlated = CorrelatedNormal {
        means: [0.0, 0.0],
        sds: [2.0, 0.5],
        correlation: 0.95,
    };
    let mut s = settings(Kernel::Nuts, 1000, 200, 11);
    s.metric = MetricKind::Dense;
    s.num_chains = 1;
    let output = &sample_chains(&correlated, &s, &RunControl::default()).unwrap()[0];
    let AdaptedMetric::Dense { dim, inverse_mass } = &output.metric else {
        panic!("expected a dense metric");
    };
    assert_eq!(*dim, 2);
    // Warmup draws are autocorrelated, so the overall scale of the estimate wanders (±25% over
    // seeds); its shape, which is what the metric is for, is estimated much better.
    let correlation = inverse_mass[1] / (inverse_mass[0] * inverse_mass[3]).sqrt();
    assert!((correlation - 0.95).abs() < 0.02, "{inverse_mass:?}");
    let variance_ratio = inverse_mass[0] / inverse_mass[3];
    assert!(
        (variance_ratio / 16.0 - 1.0).abs() < 0.15,
        "{inverse_mass:?}"
    );
    assert_eq!(inverse_mass[1], inverse_mass[2]);
}

#[test]
fn step_size_adaptation_reaches_the_target_acceptance() {
    let density = IndependentNormal {
        means: vec![0.0; 10],
        sds: (0..10).map(|i| 1.0 + i as f64).collect(),
    };
    for target in [0.6, 0.8, 0.95] {
        let mut s = settings(Kernel::Nuts, 1000, 500, 3);
        s.metric = MetricKind::Stan;
        s.target_accept = target;
        s.num_chains = 2;
        // The terminal buffer (last 50 warmup iterations) is where dual averaging settles.
        let terminal = std::sync::Mutex::new(Vec::new());
        let sink = |event: &DrawEvent<'_>| {
            if event.warmup && event.iteration >= 950 {
                terminal.lock().unwrap().push(event.stats.accept_stat);
            }
        };
        let control = RunControl {
            draw_sink: Some(&sink),
            ..RunControl::default()
        };
        let outputs = sample_chains(&density, &s, &control).unwrap();
        let terminal = terminal.into_inner().unwrap();
        assert_eq!(terminal.len(), 100);
        let terminal_mean = terminal.iter().sum::<f64>() / terminal.len() as f64;
        assert!(
            (terminal_mean - target).abs() < 0.05,
            "target {target}: terminal-buffer accept_stat {terminal_mean}"
        );
        let stats: Vec<f64> = outputs
            .iter()
            .flat_map(|o| o.stats.iter().map(|d| d.accept_stat))
            .collect();
        let mean = stats.iter().sum::<f64>() / stats.len() as f64;
        // Sampling uses the averaged iterate exp(x̄), which is smaller than the last iterates:
        // as in Stan, acceptance then lands at or somewhat above the target.
        assert!(
            mean > target - 0.05 && mean < target + 0.15,
            "target {target}: mean accept_stat {mean}"
        );
        if let AdaptedMetric::Diagonal(inverse_mass) = &outputs[0].metric {
            // The windowed variance estimate follows the true variances (1..10)².
            for (i, v) in inverse_mass.iter().enumerate() {
                let truth = (1.0 + i as f64).powi(2);
                assert!(
                    (v / truth - 1.0).abs() < 0.3,
                    "variance {i}: {v} vs {truth}"
                );
            }
        }
    }
}

#[test]
fn divergences_are_found_in_the_funnel_and_not_in_a_normal() {
    let funnel = Funnel { dim: 10 };
    let s = settings(Kernel::Nuts, 500, 500, 5);
    let outputs = sample_chains(&funnel, &s, &RunControl::default()).unwrap();
    let divergences: usize = outputs.iter().map(|o| o.divergences).sum();
    let flagged: usize = outputs
        .iter()
        .map(|o| o.stats.iter().filter(|d| d.divergent).count())
        .sum();
    assert!(divergences > 0, "the centred funnel should diverge");
    assert_eq!(divergences, flagged);

    let normal = IndependentNormal::standard(10);
    let outputs = sample_chains(&normal, &s, &RunControl::default()).unwrap();
    assert_eq!(outputs.iter().map(|o| o.divergences).sum::<usize>(), 0);
}

#[test]
fn non_finite_density_in_a_trajectory_is_a_divergence_not_an_error() {
    /// A standard normal truncated to |x| < 1.5 by returning an error outside.
    #[derive(Clone)]
    struct Walled;
    impl LogDensity for Walled {
        fn dim(&self) -> usize {
            1
        }
        fn log_density_and_gradient(
            &mut self,
            position: &[f64],
            gradient: &mut [f64],
        ) -> Result<f64, LogDensityError> {
            if position[0].abs() >= 1.5 {
                return Err(LogDensityError::NotFinite {
                    term: None,
                    term_index: None,
                });
            }
            gradient[0] = -position[0];
            Ok(-0.5 * position[0] * position[0])
        }
    }
    let mut s = settings(Kernel::Nuts, 300, 300, 9);
    s.init_radius = 1.0;
    let outputs = sample_chains(&Walled, &s, &RunControl::default()).unwrap();
    for output in &outputs {
        assert!(output.draws.iter().all(|x| x.abs() < 1.5));
        assert!(output.stats.iter().all(|d| d.lp.is_finite()));
    }
    assert!(outputs.iter().map(|o| o.divergences).sum::<usize>() > 0);
}

#[test]
fn initialization_failure_reports_the_last_error() {
    let error = sample_chains(
        &Nowhere { dim: 3 },
        &SamplerSettings::default(),
        &RunControl::default(),
    )
    .unwrap_err();
    match error {
        SamplerError::Initialization {
            chain_id,
            attempts,
            last_error,
        } => {
            assert_eq!(chain_id, 0);
            assert_eq!(attempts, 100);
            assert_eq!(
                last_error,
                LogDensityError::NotFinite {
                    term: Some("y ~ Normal(mu, -1)".to_string()),
                    term_index: None
                }
            );
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn user_initial_values_are_used_and_checked() {
    let density = IndependentNormal::standard(2);
    let mut s = settings(Kernel::Nuts, 0, 1, 1);
    s.num_chains = 2;
    s.adapt = false;
    let initial = vec![None, Some(vec![0.5])];
    let control = RunControl {
        initial_positions: &initial,
        ..RunControl::default()
    };
    assert!(matches!(
        sample_chains(&density, &s, &control),
        Err(SamplerError::InitialValueLength {
            chain_id: 1,
            got: 1,
            expected: 2
        })
    ));
    let mut rng = chains::chain_rng(1, 0);
    let state =
        chains::initialize(&mut density.clone(), &s, Some(&[0.25, -3.0]), 0, &mut rng).unwrap();
    assert_eq!(state.position, vec![0.25, -3.0]);
    assert_eq!(state.log_density, -0.5 * (0.0625 + 9.0));
    assert_eq!(state.gradient, vec![-0.25, 3.0]);
}

#[test]
fn same_seed_gives_identical_draws_whatever_the_thread_count() {
    let density = CorrelatedNormal {
        means: [0.0, 1.0],
        sds: [1.0, 2.0],
        correlation: 0.5,
    };
    let mut s = settings(Kernel::Nuts, 150, 100, 42);
    s.chain_id_offset = 3;
    let run_with = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| sample_chains(&density, &s, &RunControl::default()).unwrap())
    };
    let one = run_with(1);
    let two = run_with(2);
    let without_timing = |outputs: Vec<ChainOutput>| {
        outputs
            .into_iter()
            .map(|o| ChainOutput {
                warmup_seconds: 0.0,
                sampling_seconds: 0.0,
                ..o
            })
            .collect::<Vec<_>>()
    };
    let (one, two) = (without_timing(one), without_timing(two));
    assert_eq!(one, two);
    // Distinct chains draw from distinct streams, and the chain id offset shifts them.
    assert_ne!(one[0].draws, one[1].draws);
    assert_eq!(one[0].chain_id, 3);
    let mut shifted = s.clone();
    shifted.chain_id_offset = 4;
    let other = sample_chains(&density, &shifted, &RunControl::default()).unwrap();
    assert_eq!(other[0].draws, one[1].draws);
}

#[test]
fn stop_flag_ends_chains_early_with_valid_output() {
    let density = IndependentNormal::standard(3);
    let stop = AtomicBool::new(false);
    let progress: Vec<AtomicUsize> = (0..4).map(|_| AtomicUsize::new(0)).collect();
    let seen = AtomicUsize::new(0);
    let sink = |event: &DrawEvent<'_>| {
        seen.fetch_add(1, Ordering::Relaxed);
        assert_eq!(event.position.len(), 3);
        if event.chain_index == 0 && event.iteration == 250 {
            stop.store(true, Ordering::Relaxed);
        }
    };
    let control = RunControl {
        stop: Some(&stop),
        progress: Some(&progress),
        draw_sink: Some(&sink),
        ..RunControl::default()
    };
    let s = settings(Kernel::Nuts, 200, 100_000, 8);
    let outputs = sample_chains(&density, &s, &control).unwrap();
    let mut total_iterations = 0;
    for (output, counter) in outputs.iter().zip(&progress) {
        assert!(output.interrupted);
        assert!(output.num_draws() < 100_000);
        assert_eq!(output.draws.len(), output.num_draws() * 3);
        assert!(output.draws.iter().all(|x| x.is_finite()));
        let done = counter.load(Ordering::Relaxed);
        // Sampling iterations are numbered after the warmup asked for, even when warmup ended
        // early (so progress jumps to the sampling phase).
        let expected_draws = done.saturating_sub(200);
        assert_eq!(output.num_draws(), expected_draws);
        total_iterations += output.warmup_iterations + expected_draws;
    }
    assert_eq!(outputs[0].num_draws(), 51);
    assert_eq!(seen.load(Ordering::Relaxed), total_iterations);
}

#[test]
fn static_hmc_uses_the_requested_number_of_steps() {
    let density = IndependentNormal::standard(4);
    let mut s = settings(Kernel::StaticHmc(TrajectoryLength::Steps(7)), 100, 50, 2);
    s.num_chains = 1;
    let outputs = sample_chains(&density, &s, &RunControl::default()).unwrap();
    assert!(
        outputs[0]
            .stats
            .iter()
            .all(|d| d.n_leapfrog == 7 && d.tree_depth == 0)
    );
}

#[test]
fn tree_depth_hits_are_counted() {
    // Scales 1 and 1000 with a unit metric: the step size is set by the narrow coordinate and
    // the wide one needs thousands of steps to turn, so depth-3 trees always hit the limit.
    let density = IndependentNormal {
        means: vec![0.0, 0.0],
        sds: vec![1.0, 1000.0],
    };
    let mut s = settings(Kernel::Nuts, 0, 50, 4);
    s.num_chains = 1;
    s.max_depth = 3;
    let outputs = sample_chains(&density, &s, &RunControl::default()).unwrap();
    let output = &outputs[0];
    assert_eq!(
        output.max_depth_hits,
        output.stats.iter().filter(|d| d.tree_depth == 3).count()
    );
    assert!(output.max_depth_hits > 25, "{} hits", output.max_depth_hits);
    assert!(
        output
            .stats
            .iter()
            .all(|d| d.tree_depth <= 3 && d.n_leapfrog <= 8)
    );
}

/// `cargo test -p ppl-infer --release -- --ignored --nocapture benchmark`: 100-d standard
/// normal, 4 chains × (1000 warmup + 1000 draws); prints wall time and min bulk ESS/s.
#[test]
#[ignore]
fn benchmark_standard_normal_100d() {
    let density = IndependentNormal::standard(100);
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let warmup_leapfrogs = AtomicUsize::new(0);
        let sink = |event: &DrawEvent<'_>| {
            if event.warmup {
                warmup_leapfrogs.fetch_add(event.stats.n_leapfrog as usize, Ordering::Relaxed);
            }
        };
        let control = RunControl {
            draw_sink: Some(&sink),
            ..RunControl::default()
        };
        let start = std::time::Instant::now();
        let outputs = pool
            .install(|| sample_chains(&density, &settings(Kernel::Nuts, 1000, 1000, 1), &control))
            .unwrap();
        let wall = start.elapsed().as_secs_f64();
        let min_ess = (0..100)
            .map(|i| {
                let chains = coordinate_chains(&outputs, i);
                let refs: Vec<&[f64]> = chains.iter().map(Vec::as_slice).collect();
                diagnostics::ess_bulk(&refs)
            })
            .fold(f64::INFINITY, f64::min);
        let leapfrogs: u64 = outputs
            .iter()
            .flat_map(|o| o.stats.iter().map(|d| u64::from(d.n_leapfrog)))
            .sum();
        println!(
            "threads {threads}: wall {wall:.3} s, min bulk ESS {min_ess:.0}, {:.0} ESS/s, step sizes {:?}, leapfrogs/draw {:.1}",
            min_ess / wall,
            outputs.iter().map(|o| o.step_size).collect::<Vec<_>>(),
            leapfrogs as f64 / 4000.0
        );
        println!(
            "  warmup leapfrogs/iteration {:.1}; per chain warmup/sampling seconds {:?}",
            warmup_leapfrogs.load(Ordering::Relaxed) as f64 / 4000.0,
            outputs
                .iter()
                .map(|o| (o.warmup_seconds, o.sampling_seconds))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn metric_trait_is_usable_generically() {
    fn kinetic<M: Metric>(metric: &M, momentum: &[f64]) -> f64 {
        let mut velocity = vec![0.0; momentum.len()];
        metric.velocity(momentum, &mut velocity);
        0.5 * momentum
            .iter()
            .zip(&velocity)
            .map(|(p, v)| p * v)
            .sum::<f64>()
    }
    let metric = DiagonalMetric::from_inverse_mass(vec![4.0, 1.0]).unwrap();
    assert_eq!(kinetic(&metric, &[1.0, 2.0]), 0.5 * (4.0 + 4.0));
}

#[test]
fn draws_that_cannot_fit_in_memory_are_refused_before_allocating() {
    let density = IndependentNormal::standard(3);
    let mut request = settings(Kernel::Nuts, 10, 100_000_000_000, 1);
    request.num_chains = 4;
    let error = sample_chains(&density, &request, &RunControl::default()).unwrap_err();
    assert!(
        matches!(
            error,
            SamplerError::TooManyDraws {
                num_draws: 100_000_000_000,
                dim: 3,
                ..
            }
        ),
        "{error}"
    );
    // Overflowing products are refused, not wrapped.
    assert!(check_draws_fit(usize::MAX, usize::MAX, usize::MAX).is_err());
    assert!(check_draws_fit(4, 1000, 10).is_ok());
}

#[test]
fn nan_gradient_at_a_finite_density_is_a_divergence() {
    /// A standard normal whose gradient is NaN (its density still finite) for |x| ≥ 1.5: the
    /// NaN reaches the momentum and the energy, and every comparison with NaN is false, so
    /// without an explicit check the trajectory would go on through it.
    #[derive(Clone)]
    struct NanGradient;
    impl LogDensity for NanGradient {
        fn dim(&self) -> usize {
            1
        }
        fn log_density_and_gradient(
            &mut self,
            position: &[f64],
            gradient: &mut [f64],
        ) -> Result<f64, LogDensityError> {
            gradient[0] = if position[0].abs() >= 1.5 {
                f64::NAN
            } else {
                -position[0]
            };
            Ok(-0.5 * position[0] * position[0])
        }
    }
    let mut s = settings(Kernel::Nuts, 300, 300, 9);
    s.init_radius = 1.0;
    let outputs = sample_chains(&NanGradient, &s, &RunControl::default()).unwrap();
    for output in &outputs {
        assert!(output.draws.iter().all(|x| x.abs() < 1.5));
        assert!(output.stats.iter().all(|d| d.energy.is_finite()));
    }
    assert!(outputs.iter().map(|o| o.divergences).sum::<usize>() > 0);
}

#[test]
fn a_dense_metric_that_cannot_be_estimated_keeps_the_previous_one() {
    use super::hmc::metric::{DenseMetric, MetricEstimator};
    // Positions of ±1e200 overflow the covariance estimate to +inf: not a usable metric. The
    // chain's step must keep the metric it had and report the failure, not end the run.
    let mut metric = DenseMetric::from_inverse_mass(2, vec![2.0, 0.5, 0.5, 1.0]).unwrap();
    let before = metric.clone();
    let mut estimator = metric.estimator();
    for sign in [1.0, -1.0, 1.0, -1.0, 1.0, -1.0] {
        estimator.add_sample(&[sign * 1e200, 0.0]);
    }
    assert!(!super::chains::adapt_or_keep(&mut metric, &estimator));
    assert_eq!(metric, before);
    // A usable estimate is taken.
    let mut estimator = metric.estimator();
    for (a, b) in [(0.0, 1.0), (1.0, 0.5), (-1.0, 2.0), (0.5, -1.0), (2.0, 0.0)] {
        estimator.add_sample(&[a, b]);
    }
    assert!(super::chains::adapt_or_keep(&mut metric, &estimator));
    assert_ne!(metric, before);
}

#[test]
fn the_default_metric_learns_a_correlated_covariance_and_stops_warmup_early() {
    // 5-d normal with sds 0.1 … 10 and correlations 0.9^|i−j|: the diagonal alone would leave
    // a condition number in the hundreds.
    let dim = 5;
    let sds = [0.1, 0.5, 1.0, 3.0, 10.0];
    let covariance = nalgebra::DMatrix::from_fn(dim, dim, |i, j| {
        sds[i] * sds[j] * 0.9_f64.powi((i as i32 - j as i32).abs())
    });
    let means = vec![1.0, -2.0, 0.0, 5.0, 3.0];
    let density = MultivariateNormal::new(means.clone(), covariance.clone());
    let s = settings(Kernel::Nuts, 1000, 1000, 21);
    let outputs = sample_chains(&density, &s, &RunControl::default()).unwrap();
    let precision = covariance.clone().try_inverse().unwrap();
    let eigen = nalgebra::SymmetricEigen::new(precision);
    let precision_half = &eigen.eigenvectors
        * nalgebra::DMatrix::from_diagonal(&eigen.eigenvalues.map(f64::sqrt))
        * eigen.eigenvectors.transpose();
    for output in &outputs {
        assert!(output.warmup_settled, "warmup should settle on a Gaussian");
        assert!(
            output.warmup_iterations < 600,
            "{}",
            output.warmup_iterations
        );
        // The gradients counted during sampling are the leapfrog steps taken.
        let leapfrogs: u64 = output.stats.iter().map(|d| u64::from(d.n_leapfrog)).sum();
        assert_eq!(output.sampling_gradients, leapfrogs);
        let AdaptedMetric::LowRank {
            scale,
            values,
            vectors,
        } = &output.metric
        else {
            panic!("expected a corrected metric, got {:?}", output.metric);
        };
        let metric = super::hmc::metric::LowRankMetric::from_parts(
            scale.clone(),
            values.clone(),
            vectors.clone(),
        )
        .unwrap();
        let mut inverse_mass = nalgebra::DMatrix::zeros(dim, dim);
        let mut column = vec![0.0; dim];
        for j in 0..dim {
            let mut unit = vec![0.0; dim];
            unit[j] = 1.0;
            metric.velocity(&unit, &mut column);
            for i in 0..dim {
                inverse_mass[(i, j)] = column[i];
            }
        }
        // Σ^{-1/2} M⁻¹ Σ^{-1/2} = I for the exact metric. For a Gaussian the Fisher estimate is
        // exact up to the ridge whatever the window, and with 2d draws or more every direction
        // off by more than the cutoff 1.25 is corrected.
        let whitened = &precision_half * inverse_mass * &precision_half;
        let ratios =
            nalgebra::SymmetricEigen::new((&whitened + whitened.transpose()) * 0.5).eigenvalues;
        for r in ratios.iter() {
            assert!(
                *r > 1.0 / 1.26 && *r < 1.26,
                "chain {}: {ratios}",
                output.chain_id
            );
        }
    }
    for i in 0..dim {
        assert_moments(
            &format!("correlated normal, coordinate {i}"),
            &coordinate_chains(&outputs, i),
            means[i],
            sds[i],
        );
    }
}
