//! Random-walk Metropolis: a gradient-free kernel for log densities that are not differentiable,
//! such as those with integer unknowns of unbounded support (a Poisson-distributed count). It runs
//! under the same chain machinery as HMC (seeds per chain, [`RunControl`]'s stop flag, progress,
//! and draw sink, [`ChainOutput`] for the diagnostics), calling only `log_density`.
//!
//! Proposals move every coordinate at once: a continuous coordinate by `N(0, σ_i²)`, an integer
//! coordinate (a [`RandomWalkSettings::integer_coordinates`] mask) by a uniformly chosen step in
//! `{±1, …, ±m_i}` with `m_i = max(1, round(√3 σ_i))`, the integer step with standard deviation
//! about `σ_i`. Both are symmetric, so the acceptance probability is `min(1, p(y)/p(x))`. The
//! scales are `σ_i = s · shape_i`: during warmup the overall scale `s` follows a Robbins–Monro
//! rule on `log s`, `log s += t^(-0.6) (α_t − target)`, toward the acceptance rate that is optimal
//! for Gaussian targets (0.234; 0.44 in one dimension; Roberts, Gelman and Gilks 1997; Roberts
//! and Rosenthal 2001), and `shape_i` is the standard deviation of coordinate `i` in each slow
//! warmup window (Stan's windows, diagonal). Everything is frozen after warmup, so the sampling
//! phase is a valid Metropolis chain.

use std::sync::atomic::Ordering;
use std::time::Instant;

use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

use super::SamplerSettings;
use super::adapt::{WelfordVariance, WindowSchedule};
use super::chains::{
    ChainOutput, DrawEvent, DrawStats, RunControl, SamplerError, chain_rng, check_settings,
    run_chains_in_parallel,
};
use super::hmc::metric::{AdaptedMetric, MetricEstimator};
use crate::density::{LogDensity, LogDensityError};

/// The random-walk kernel's own settings; the run's size, seed, chains, initialisation and warmup
/// windows come from [`SamplerSettings`] as for HMC.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RandomWalkSettings {
    /// Which coordinates take integer values (`true`): they get integer steps and integer initial
    /// values. Empty means all continuous; otherwise one entry per coordinate.
    pub integer_coordinates: Vec<bool>,
    /// The acceptance rate the scale adapts toward; `None` is 0.234, or 0.44 in one dimension.
    pub target_accept: Option<f64>,
    /// The overall proposal scale `s` at the start of warmup (and throughout without adaptation);
    /// `None` is `2.38 / sqrt(dim)`, optimal for a standard normal target.
    pub initial_scale: Option<f64>,
}

/// The mean of the second half of `values` (all of them when there are fewer than two).
fn averaged_second_half(values: &[f64]) -> f64 {
    let tail = &values[values.len() / 2..];
    tail.iter().sum::<f64>() / tail.len().max(1) as f64
}

/// One random-walk chain: the common chain output plus what only this kernel has.
#[derive(Clone, Debug, PartialEq)]
pub struct RandomWalkChain {
    /// Draws and per-draw statistics (`accept_stat` is the acceptance probability,
    /// `step_size` the overall scale `s`, leapfrog fields zero); `metric` holds the adapted
    /// `shape_i²`.
    pub output: ChainOutput,
    /// The fraction of post-warmup proposals accepted.
    pub acceptance_rate: f64,
    /// The frozen per-coordinate proposal scales `σ_i` (for integer coordinates, the step
    /// standard deviation the largest step `m_i` derives from).
    pub proposal_scales: Vec<f64>,
    /// The frozen largest integer step `m_i`; 0 for continuous coordinates.
    pub max_integer_steps: Vec<u64>,
}

/// Runs `settings.num_chains` random-walk Metropolis chains in parallel, in chain order.
pub fn sample_chains_random_walk<D: LogDensity>(
    density: &D,
    settings: &SamplerSettings,
    walk: &RandomWalkSettings,
    control: &RunControl<'_>,
) -> Result<Vec<RandomWalkChain>, SamplerError> {
    check_settings(settings, control)?;
    let dim = density.dim();
    super::chains::check_draws_fit(settings.num_chains, settings.num_draws, dim)?;
    if !walk.integer_coordinates.is_empty() && walk.integer_coordinates.len() != dim {
        return Err(SamplerError::Settings(format!(
            "the integer-coordinate mask has {} entries, the model has {dim} coordinates",
            walk.integer_coordinates.len()
        )));
    }
    if walk
        .target_accept
        .is_some_and(|target| !(target > 0.0 && target < 1.0))
    {
        return Err(SamplerError::Settings(
            "the random-walk target acceptance must lie strictly between 0 and 1".to_string(),
        ));
    }
    if walk
        .initial_scale
        .is_some_and(|scale| !(scale > 0.0 && scale.is_finite()))
    {
        return Err(SamplerError::Settings(
            "the random-walk initial scale must be positive and finite".to_string(),
        ));
    }
    run_chains_in_parallel(density, settings.num_chains, |density, index| {
        RandomWalk::new(density, settings, walk, control, index).run()
    })
}

struct RandomWalk<'a, 'c, D> {
    density: D,
    settings: &'a SamplerSettings,
    control: &'a RunControl<'c>,
    index: usize,
    chain_id: u64,
    is_integer: Vec<bool>,
    target_accept: f64,
    log_scale: f64,
    shape: Vec<f64>,
}

impl<'a, 'c, D: LogDensity> RandomWalk<'a, 'c, D> {
    fn new(
        density: D,
        settings: &'a SamplerSettings,
        walk: &RandomWalkSettings,
        control: &'a RunControl<'c>,
        index: usize,
    ) -> Self {
        let dim = density.dim();
        let is_integer = if walk.integer_coordinates.is_empty() {
            vec![false; dim]
        } else {
            walk.integer_coordinates.clone()
        };
        let target_accept = walk
            .target_accept
            .unwrap_or(if dim == 1 { 0.44 } else { 0.234 });
        let initial_scale = walk
            .initial_scale
            .unwrap_or(2.38 / (dim.max(1) as f64).sqrt());
        RandomWalk {
            density,
            settings,
            control,
            index,
            chain_id: settings.chain_id_offset.wrapping_add(index as u64),
            is_integer,
            target_accept,
            log_scale: initial_scale.ln(),
            shape: vec![1.0; dim],
        }
    }

    fn scales(&self) -> Vec<f64> {
        let scale = self.log_scale.exp();
        self.shape.iter().map(|s| scale * s).collect()
    }

    fn max_steps(&self, scales: &[f64]) -> Vec<u64> {
        scales
            .iter()
            .zip(&self.is_integer)
            .map(|(sigma, &integer)| {
                if integer {
                    // Capped so that a runaway scale cannot overflow a step.
                    (3f64.sqrt() * sigma).round().clamp(1.0, 1e15) as u64
                } else {
                    0
                }
            })
            .collect()
    }

    fn run(mut self) -> Result<RandomWalkChain, SamplerError> {
        let settings = self.settings;
        let chain_id = self.chain_id;
        let dim = self.density.dim();
        let mut rng = chain_rng(settings.seed, chain_id);
        let (mut position, mut log_density) = self.initialize(&mut rng)?;
        let mut proposal = vec![0.0; dim];
        let mut schedule = WindowSchedule::new(settings.num_warmup, settings.windows);
        let mut estimator = WelfordVariance::new(dim);
        // The Robbins–Monro gain is `(GAIN_OFFSET + t)^(-0.6)`, `t` counting from the last
        // shape update; the frozen scale averages log s over the second half of those iterations
        // (Polyak–Ruppert averaging, as dual averaging keeps x̄): the last iterate still jitters by
        // its gain, and the first half still remembers the start.
        const GAIN_OFFSET: usize = 10;
        let mut log_scales_since_update: Vec<f64> = Vec::new();
        let mut output = ChainOutput {
            chain_id,
            dim,
            draws: Vec::with_capacity(settings.num_draws * dim),
            stats: Vec::with_capacity(settings.num_draws),
            step_size: self.log_scale.exp(),
            metric: AdaptedMetric::Diagonal(self.shape.iter().map(|s| s * s).collect()),
            divergences: 0,
            max_depth_hits: 0,
            warmup_divergences: 0,
            interrupted: false,
            metric_failures: 0,
            warmup_iterations: 0,
            warmup_settled: false,
            warmup_nonlinearity: None,
            warmup_gradients: 0,
            sampling_gradients: 0,
            restarted_from: None,
            warmup_seconds: 0.0,
            sampling_seconds: 0.0,
        };

        let warmup_start = Instant::now();
        let mut scales = self.scales();
        let mut max_steps = self.max_steps(&scales);
        for iteration in 0..settings.num_warmup {
            if self.stopped() {
                output.interrupted = true;
                break;
            }
            let (acceptance, _moved) = self.transition(
                &mut position,
                &mut log_density,
                &mut proposal,
                &scales,
                &max_steps,
                &mut rng,
            );
            self.report(iteration, true, &position, log_density, acceptance);
            if !settings.adapt {
                continue;
            }
            let step = GAIN_OFFSET + log_scales_since_update.len() + 1;
            let gain = (step as f64).powf(-0.6);
            self.log_scale += gain * (acceptance - self.target_accept);
            log_scales_since_update.push(self.log_scale);
            if schedule.in_window() {
                estimator.add_sample(&position);
            }
            if schedule.at_window_end() && estimator.num_samples() >= 2 {
                let variances = estimator.regularized_variance();
                if variances.iter().all(|v| v.is_finite() && *v > 0.0) {
                    let new_shape: Vec<f64> = variances.iter().map(|v| v.sqrt()).collect();
                    // Keep the geometric mean of the proposal scales: the tuned overall size
                    // carries over, and only the proportions between coordinates change.
                    let shift = self
                        .shape
                        .iter()
                        .zip(&new_shape)
                        .map(|(old, new)| (old / new).ln())
                        .sum::<f64>()
                        / dim.max(1) as f64;
                    self.log_scale = averaged_second_half(&log_scales_since_update) + shift;
                    self.shape = new_shape;
                    log_scales_since_update.clear();
                }
                estimator.restart();
            }
            schedule.advance();
            scales = self.scales();
            max_steps = self.max_steps(&scales);
        }
        if settings.adapt && !log_scales_since_update.is_empty() {
            self.log_scale = averaged_second_half(&log_scales_since_update);
        }
        output.warmup_seconds = warmup_start.elapsed().as_secs_f64();
        output.step_size = self.log_scale.exp();
        output.metric = AdaptedMetric::Diagonal(self.shape.iter().map(|s| s * s).collect());
        let scales = self.scales();
        let max_steps = self.max_steps(&scales);
        let mut accepted = 0usize;
        if !output.interrupted {
            let sampling_start = Instant::now();
            for draw in 0..settings.num_draws {
                if self.stopped() {
                    output.interrupted = true;
                    break;
                }
                let (acceptance, moved) = self.transition(
                    &mut position,
                    &mut log_density,
                    &mut proposal,
                    &scales,
                    &max_steps,
                    &mut rng,
                );
                accepted += usize::from(moved);
                let stats = self.report(
                    settings.num_warmup + draw,
                    false,
                    &position,
                    log_density,
                    acceptance,
                );
                output.draws.extend_from_slice(&position);
                output.stats.push(stats);
            }
            output.sampling_seconds = sampling_start.elapsed().as_secs_f64();
        }
        let acceptance_rate = if output.stats.is_empty() {
            f64::NAN
        } else {
            accepted as f64 / output.stats.len() as f64
        };
        Ok(RandomWalkChain {
            output,
            acceptance_rate,
            proposal_scales: scales,
            max_integer_steps: max_steps,
        })
    }

    fn stopped(&self) -> bool {
        self.control
            .stop
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }

    /// The user's value if given (integer coordinates must hold integers), else uniform draws in
    /// `(-init_radius, init_radius)`, rounded on integer coordinates, until the log density is
    /// finite.
    fn initialize<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
    ) -> Result<(Vec<f64>, f64), SamplerError> {
        let chain_id = self.chain_id;
        let dim = self.density.dim();
        let user_value = self
            .control
            .initial_positions
            .get(self.index)
            .and_then(|value| value.as_deref());
        if let Some(value) = user_value {
            if value.len() != dim {
                return Err(SamplerError::InitialValueLength {
                    chain_id,
                    got: value.len(),
                    expected: dim,
                });
            }
            let not_integer = value
                .iter()
                .zip(&self.is_integer)
                .any(|(x, &integer)| integer && x.fract() != 0.0);
            let error = LogDensityError::NotFinite {
                term: None,
                term_index: None,
            };
            if not_integer {
                return Err(SamplerError::InitialValue { chain_id, error });
            }
            return match self.density.log_density(value) {
                Ok(lp) if lp.is_finite() => Ok((value.to_vec(), lp)),
                Ok(_) => Err(SamplerError::InitialValue { chain_id, error }),
                Err(error) => Err(SamplerError::InitialValue { chain_id, error }),
            };
        }
        let attempts = self.settings.max_init_attempts.max(1);
        let mut last_error = LogDensityError::NotFinite {
            term: None,
            term_index: None,
        };
        let mut position = vec![0.0; dim];
        for _ in 0..attempts {
            for (x, &integer) in position.iter_mut().zip(&self.is_integer) {
                *x = self.settings.init_radius * (2.0 * rng.random::<f64>() - 1.0);
                if integer {
                    *x = x.round();
                }
            }
            match self.density.log_density(&position) {
                Ok(lp) if lp.is_finite() => return Ok((position, lp)),
                Ok(_) => {
                    last_error = LogDensityError::NotFinite {
                        term: None,
                        term_index: None,
                    }
                }
                Err(error) => last_error = error,
            }
        }
        Err(SamplerError::Initialization {
            chain_id,
            attempts,
            last_error,
        })
    }

    /// One Metropolis step; returns the acceptance probability and whether the chain moved. A
    /// proposal where the log density is not finite (or an error) is rejected.
    fn transition<R: Rng + ?Sized>(
        &mut self,
        position: &mut [f64],
        log_density: &mut f64,
        proposal: &mut [f64],
        scales: &[f64],
        max_steps: &[u64],
        rng: &mut R,
    ) -> (f64, bool) {
        for i in 0..proposal.len() {
            proposal[i] = if self.is_integer[i] {
                let magnitude = rng.random_range(1..=max_steps[i].max(1)) as f64;
                let sign = if rng.random::<bool>() { 1.0 } else { -1.0 };
                position[i] + sign * magnitude
            } else {
                let z: f64 = rng.sample(StandardNormal);
                position[i] + scales[i] * z
            };
        }
        let proposed = match self.density.log_density(proposal) {
            Ok(lp) if !lp.is_nan() => lp,
            _ => f64::NEG_INFINITY,
        };
        let log_ratio = proposed - *log_density;
        let acceptance = if log_ratio >= 0.0 {
            1.0
        } else {
            log_ratio.exp()
        };
        let moved = proposed.is_finite() && (acceptance >= 1.0 || rng.random::<f64>() < acceptance);
        if moved {
            position.copy_from_slice(proposal);
            *log_density = proposed;
        }
        (
            if proposed.is_finite() {
                acceptance
            } else {
                0.0
            },
            moved,
        )
    }

    fn report(
        &self,
        iteration: usize,
        warmup: bool,
        position: &[f64],
        log_density: f64,
        acceptance: f64,
    ) -> DrawStats {
        let stats = DrawStats {
            lp: log_density,
            accept_stat: acceptance,
            step_size: self.log_scale.exp(),
            tree_depth: 0,
            n_leapfrog: 0,
            divergent: false,
            energy: -log_density,
        };
        if let Some(sink) = self.control.draw_sink {
            sink(&DrawEvent {
                chain_id: self.chain_id,
                chain_index: self.index,
                iteration,
                warmup,
                position,
                stats: &stats,
            });
        }
        if let Some(counters) = self.control.progress {
            counters[self.index].store(iteration + 1, Ordering::Relaxed);
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics;
    use crate::mcmc::test_densities::IndependentNormal;

    fn settings(warmup: usize, draws: usize, seed: u64) -> SamplerSettings {
        SamplerSettings {
            num_warmup: warmup,
            num_draws: draws,
            seed,
            ..SamplerSettings::default()
        }
    }

    fn chains_of(runs: &[RandomWalkChain], coordinate: usize) -> Vec<Vec<f64>> {
        runs.iter()
            .map(|r| r.output.coordinate(coordinate))
            .collect()
    }

    /// `E[f(x)]` within 4 Monte Carlo standard errors (from the draws' own ESS) of `exact`.
    fn assert_expectation(label: &str, chains: &[Vec<f64>], exact: f64) {
        let refs: Vec<&[f64]> = chains.iter().map(Vec::as_slice).collect();
        let estimate = diagnostics::mean_sd(&refs).0;
        let mcse = diagnostics::mcse_mean(&refs);
        assert!(
            (estimate - exact).abs() < 4.0 * mcse,
            "{label}: {estimate} vs {exact}, MCSE {mcse}"
        );
        assert!(diagnostics::rhat(&refs) < 1.01, "{label}: R-hat");
    }

    #[test]
    fn samples_independent_normals_with_different_scales() {
        let density = IndependentNormal {
            means: vec![1.0, -3.0, 0.0, 10.0, 2.0],
            sds: vec![1.0, 0.1, 5.0, 2.0, 0.5],
        };
        let runs = sample_chains_random_walk(
            &density,
            &settings(2000, 5000, 11),
            &RandomWalkSettings::default(),
            &RunControl::default(),
        )
        .unwrap();
        for i in 0..5 {
            let chains = chains_of(&runs, i);
            assert_expectation(&format!("mean {i}"), &chains, density.means[i]);
            let squares: Vec<Vec<f64>> = chains
                .iter()
                .map(|c| c.iter().map(|x| x * x).collect())
                .collect();
            let second_moment = density.sds[i].powi(2) + density.means[i].powi(2);
            assert_expectation(&format!("second moment {i}"), &squares, second_moment);
        }
        for run in &runs {
            // The scales adapt to the coordinates' spreads (2.38/sqrt(5) · sd when tuned).
            let ratio = run.proposal_scales[2] / run.proposal_scales[1];
            assert!((ratio / 50.0 - 1.0).abs() < 0.3, "scale ratio {ratio}");
            assert!(
                (run.acceptance_rate - 0.234).abs() < 0.06,
                "acceptance {}",
                run.acceptance_rate
            );
        }
    }

    /// With Stan's 50-iteration terminal window the frozen scale is still noisy (a chain's
    /// acceptance lands within about ±0.07 of the target); a 300-iteration one settles it.
    #[test]
    fn one_dimension_targets_0_44() {
        let density = IndependentNormal {
            means: vec![0.0],
            sds: vec![3.0],
        };
        let long_terminal_window = SamplerSettings {
            windows: crate::mcmc::WindowSettings {
                term_buffer: 300,
                ..crate::mcmc::WindowSettings::default()
            },
            ..settings(2000, 4000, 5)
        };
        let runs = sample_chains_random_walk(
            &density,
            &long_terminal_window,
            &RandomWalkSettings::default(),
            &RunControl::default(),
        )
        .unwrap();
        for run in &runs {
            assert!(
                (run.acceptance_rate - 0.44).abs() < 0.05,
                "acceptance {}",
                run.acceptance_rate
            );
        }
        assert_expectation("mean", &chains_of(&runs, 0), 0.0);
    }

    /// n ~ Poisson(rate) on 0, 1, 2, …, with a continuous neighbour x ~ N(n, 1).
    #[derive(Clone, Debug)]
    struct PoissonCount {
        rate: f64,
    }

    impl LogDensity for PoissonCount {
        fn dim(&self) -> usize {
            2
        }

        fn log_density_and_gradient(
            &mut self,
            _position: &[f64],
            _gradient: &mut [f64],
        ) -> Result<f64, LogDensityError> {
            // No gradient exists in n: Metropolis must not ask for one.
            Err(LogDensityError::NotFinite {
                term: Some("gradient of a count".to_string()),
                term_index: None,
            })
        }

        fn log_density(&mut self, position: &[f64]) -> Result<f64, LogDensityError> {
            let (n, x) = (position[0], position[1]);
            if n < 0.0 {
                return Ok(f64::NEG_INFINITY);
            }
            Ok(n * self.rate.ln()
                - self.rate
                - ppl_dist::special::ln_gamma(n + 1.0)
                - 0.5 * (x - n).powi(2))
        }
    }

    #[test]
    fn samples_an_unbounded_integer_count() {
        let density = PoissonCount { rate: 30.0 };
        let walk = RandomWalkSettings {
            integer_coordinates: vec![true, false],
            ..RandomWalkSettings::default()
        };
        let runs = sample_chains_random_walk(
            &density,
            &settings(2000, 10_000, 3),
            &walk,
            &RunControl::default(),
        )
        .unwrap();
        for run in &runs {
            assert!(
                run.output
                    .coordinate(0)
                    .iter()
                    .all(|n| n.fract() == 0.0 && *n >= 0.0)
            );
            // sd(n) = sqrt(30) ≈ 5.5: the integer step must have grown beyond ±1.
            assert!(run.max_integer_steps[0] > 1, "{:?}", run.max_integer_steps);
            assert_eq!(run.max_integer_steps[1], 0);
        }
        let counts = chains_of(&runs, 0);
        assert_expectation("E[n]", &counts, 30.0);
        let squares: Vec<Vec<f64>> = counts
            .iter()
            .map(|c| c.iter().map(|n| n * n).collect())
            .collect();
        assert_expectation("E[n²]", &squares, 30.0 + 900.0);
        assert_expectation("E[x]", &chains_of(&runs, 1), 30.0);
    }

    #[test]
    fn the_same_seed_gives_the_same_chains_and_the_sink_sees_every_iteration() {
        let density = IndependentNormal::standard(3);
        let seen = std::sync::atomic::AtomicUsize::new(0);
        let sink = |_: &DrawEvent<'_>| {
            seen.fetch_add(1, Ordering::Relaxed);
        };
        let control = RunControl {
            draw_sink: Some(&sink),
            ..RunControl::default()
        };
        let run = || {
            sample_chains_random_walk(
                &density,
                &settings(200, 300, 8),
                &RandomWalkSettings::default(),
                &control,
            )
            .unwrap()
        };
        let first = run();
        let second = run();
        for (a, b) in first.iter().zip(&second) {
            assert_eq!(a.output.draws, b.output.draws);
            assert_eq!(a.output.stats, b.output.stats);
            assert_eq!(a.proposal_scales, b.proposal_scales);
            assert_eq!(a.acceptance_rate, b.acceptance_rate);
        }
        assert_eq!(seen.load(Ordering::Relaxed), 2 * 4 * 500);
        assert_ne!(first[0].output.draws, first[1].output.draws);
    }

    #[test]
    fn a_stop_flag_interrupts_and_bad_settings_are_errors() {
        let density = IndependentNormal::standard(2);
        let stop = std::sync::atomic::AtomicBool::new(true);
        let control = RunControl {
            stop: Some(&stop),
            ..RunControl::default()
        };
        let runs = sample_chains_random_walk(
            &density,
            &settings(100, 100, 1),
            &RandomWalkSettings::default(),
            &control,
        )
        .unwrap();
        assert!(
            runs.iter()
                .all(|r| r.output.interrupted && r.output.draws.is_empty())
        );
        let bad_mask = RandomWalkSettings {
            integer_coordinates: vec![true],
            ..RandomWalkSettings::default()
        };
        assert!(matches!(
            sample_chains_random_walk(
                &density,
                &settings(10, 10, 1),
                &bad_mask,
                &RunControl::default()
            ),
            Err(SamplerError::Settings(_))
        ));
        let not_integer = [Some(vec![0.5, 0.0])];
        let control = RunControl {
            initial_positions: &not_integer,
            ..RunControl::default()
        };
        let mask = RandomWalkSettings {
            integer_coordinates: vec![true, false],
            ..RandomWalkSettings::default()
        };
        assert!(matches!(
            sample_chains_random_walk(&density, &settings(10, 10, 1), &mask, &control),
            Err(SamplerError::InitialValue { .. })
        ));
    }
}
