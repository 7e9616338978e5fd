//! Warmup adaptation, as Stan does it: dual averaging of the step size (Hoffman & Gelman 2014,
//! §3.2), the initial step-size heuristic, and windowed estimation of the metric (Stan Reference
//! Manual, "MCMC Sampling": a fast initial buffer, slow windows doubling in length, a fast
//! terminal buffer), with the estimate shrunk towards a small multiple of the identity.

use std::cmp::Ordering;

use rand::Rng;

use super::hmc::integrator::{Integrator, evaluate};
use super::hmc::metric::{Metric, MetricEstimator};
use super::hmc::{ChainState, PhasePoint};
use crate::density::LogDensity;

/// Constants of the dual-averaging step-size adaptation (Stan's defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DualAveragingSettings {
    /// Regularisation scale γ.
    pub gamma: f64,
    /// Iteration offset t₀, damping the first iterations.
    pub t0: f64,
    /// Decay exponent κ of the averaging weights.
    pub kappa: f64,
}

impl Default for DualAveragingSettings {
    fn default() -> Self {
        DualAveragingSettings {
            gamma: 0.05,
            t0: 10.0,
            kappa: 0.75,
        }
    }
}

/// Nesterov dual averaging of `log(step size)` towards a target acceptance statistic.
#[derive(Clone, Debug)]
pub struct DualAveraging {
    settings: DualAveragingSettings,
    target_accept: f64,
    /// The point log step sizes are shrunk towards: `log(10 ε₀)`.
    mu: f64,
    counter: f64,
    mean_error: f64,
    averaged_log_step: f64,
}

impl DualAveraging {
    pub fn new(settings: DualAveragingSettings, target_accept: f64, mu: f64) -> Self {
        DualAveraging {
            settings,
            target_accept,
            mu,
            counter: 0.0,
            mean_error: 0.0,
            averaged_log_step: 0.0,
        }
    }

    pub fn set_mu(&mut self, mu: f64) {
        self.mu = mu;
    }

    /// Forgets the history (at the start of every metric window).
    pub fn restart(&mut self) {
        self.counter = 0.0;
        self.mean_error = 0.0;
        self.averaged_log_step = 0.0;
    }

    /// Feeds one acceptance statistic and returns the next step size to try.
    pub fn learn(&mut self, accept_stat: f64) -> f64 {
        self.counter += 1.0;
        let accept_stat = if accept_stat.is_nan() {
            0.0
        } else {
            accept_stat.min(1.0)
        };
        let DualAveragingSettings { gamma, t0, kappa } = self.settings;
        let eta = 1.0 / (self.counter + t0);
        self.mean_error = (1.0 - eta) * self.mean_error + eta * (self.target_accept - accept_stat);
        let log_step = self.mu - self.mean_error * self.counter.sqrt() / gamma;
        let weight = self.counter.powf(-kappa);
        self.averaged_log_step = (1.0 - weight) * self.averaged_log_step + weight * log_step;
        log_step.exp()
    }

    /// The step size to sample with once warmup ends: the averaged iterate. `None` if nothing
    /// was learnt since the last restart (Stan would then fall back to a step size of 1; we
    /// keep the current one).
    pub fn final_step_size(&self) -> Option<f64> {
        (self.counter > 0.0).then(|| self.averaged_log_step.exp())
    }
}

/// Lengths of the warmup phases for the metric (Stan's defaults 75 / 25 / 50).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowSettings {
    /// Fast initial buffer: only the step size adapts.
    pub init_buffer: usize,
    /// First slow window; each next one is twice as long.
    pub base_window: usize,
    /// Fast terminal buffer: the step size settles for the final metric.
    pub term_buffer: usize,
}

impl Default for WindowSettings {
    fn default() -> Self {
        WindowSettings {
            init_buffer: 75,
            base_window: 25,
            term_buffer: 50,
        }
    }
}

/// Which warmup iterations feed the metric estimate and where each window ends (Stan's
/// `windowed_adaptation`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowSchedule {
    /// False when warmup is too short (< 20 iterations) to estimate a metric at all.
    active: bool,
    num_warmup: usize,
    init_buffer: usize,
    term_buffer: usize,
    window_size: usize,
    counter: usize,
    next_window_end: usize,
}

impl WindowSchedule {
    /// Stan's rules: no estimation below 20 warmup iterations; if the three phases do not fit,
    /// 15% / 75% / 10% of the warmup. (Stan forgets to restart the schedule in that case, so
    /// its metric is then never updated — stan-dev/stan#3380; we apply the intended schedule.)
    pub fn new(num_warmup: usize, settings: WindowSettings) -> Self {
        let WindowSettings {
            mut init_buffer,
            mut base_window,
            mut term_buffer,
        } = settings;
        let active = num_warmup >= 20 && base_window > 0;
        if init_buffer + base_window + term_buffer > num_warmup {
            init_buffer = (0.15 * num_warmup as f64) as usize;
            term_buffer = (0.10 * num_warmup as f64) as usize;
            base_window = num_warmup - (init_buffer + term_buffer);
        }
        WindowSchedule {
            active,
            num_warmup,
            init_buffer,
            term_buffer,
            window_size: base_window,
            counter: 0,
            next_window_end: (init_buffer + base_window).saturating_sub(1),
        }
    }

    /// Whether the current warmup iteration's draw feeds the metric estimate.
    pub fn in_window(&self) -> bool {
        self.active
            && self.counter >= self.init_buffer
            && self.counter < self.num_warmup - self.term_buffer
    }

    /// Whether the current iteration closes a slow window (time to update the metric).
    pub fn at_window_end(&self) -> bool {
        self.active && self.counter == self.next_window_end && self.counter != self.num_warmup
    }

    /// Call after the current iteration's draw has been used; when it closed a window, the next
    /// window is doubled, or stretched to the end of the slow phase if the one after it would
    /// not fit.
    pub fn advance(&mut self) {
        if self.at_window_end() {
            let last_slow = self.num_warmup - self.term_buffer - 1;
            if self.next_window_end != last_slow {
                self.window_size *= 2;
                self.next_window_end = self.counter + self.window_size;
                if self.next_window_end != last_slow
                    && self.next_window_end + 2 * self.window_size
                        >= self.num_warmup - self.term_buffer
                {
                    self.next_window_end = last_slow;
                }
            }
        }
        self.counter += 1;
    }
}

/// Welford's running variance of each coordinate.
#[derive(Clone, Debug)]
pub struct WelfordVariance {
    count: usize,
    mean: Vec<f64>,
    sum_squares: Vec<f64>,
}

impl WelfordVariance {
    pub fn new(dim: usize) -> Self {
        WelfordVariance {
            count: 0,
            mean: vec![0.0; dim],
            sum_squares: vec![0.0; dim],
        }
    }

    /// `n/(n+5) var + 1e-3 · 5/(n+5)`: the sample variance (denominator n − 1) shrunk towards
    /// 1e-3 (Stan's `var_adaptation`).
    pub fn regularized_variance(&self) -> Vec<f64> {
        let n = self.count as f64;
        self.sum_squares
            .iter()
            .map(|s| (n / (n + 5.0)) * (s / (n - 1.0)) + 1e-3 * (5.0 / (n + 5.0)))
            .collect()
    }
}

impl MetricEstimator for WelfordVariance {
    fn add_sample(&mut self, position: &[f64]) {
        self.count += 1;
        let n = self.count as f64;
        for ((mean, sum_squares), x) in self
            .mean
            .iter_mut()
            .zip(&mut self.sum_squares)
            .zip(position)
        {
            let delta = x - *mean;
            *mean += delta / n;
            *sum_squares += delta * (x - *mean);
        }
    }

    fn num_samples(&self) -> usize {
        self.count
    }

    fn restart(&mut self) {
        self.count = 0;
        self.mean.fill(0.0);
        self.sum_squares.fill(0.0);
    }
}

/// Welford's running covariance matrix.
#[derive(Clone, Debug)]
pub struct WelfordCovariance {
    dim: usize,
    count: usize,
    mean: Vec<f64>,
    delta: Vec<f64>,
    /// Row-major `dim × dim` sum of centred outer products.
    sum_products: Vec<f64>,
}

impl WelfordCovariance {
    pub fn new(dim: usize) -> Self {
        WelfordCovariance {
            dim,
            count: 0,
            mean: vec![0.0; dim],
            delta: vec![0.0; dim],
            sum_products: vec![0.0; dim * dim],
        }
    }

    /// `n/(n+5) Σ + 1e-3 · 5/(n+5) I`, row-major (Stan's `covar_adaptation`).
    pub fn regularized_covariance(&self) -> Vec<f64> {
        let n = self.count as f64;
        let mut covariance: Vec<f64> = self
            .sum_products
            .iter()
            .map(|s| (n / (n + 5.0)) * (s / (n - 1.0)))
            .collect();
        for i in 0..self.dim {
            covariance[i * self.dim + i] += 1e-3 * (5.0 / (n + 5.0));
        }
        covariance
    }
}

impl MetricEstimator for WelfordCovariance {
    fn add_sample(&mut self, position: &[f64]) {
        self.count += 1;
        let n = self.count as f64;
        for ((delta, mean), x) in self.delta.iter_mut().zip(&mut self.mean).zip(position) {
            *delta = x - *mean;
            *mean += *delta / n;
        }
        // Σ += (x − mean_old)(x − mean_new)ᵀ, with x − mean_new = delta (n − 1)/n.
        let factor = (n - 1.0) / n;
        for (row, delta_i) in self
            .sum_products
            .chunks_exact_mut(self.dim)
            .zip(&self.delta)
        {
            for (entry, delta_j) in row.iter_mut().zip(&self.delta) {
                *entry += delta_i * delta_j * factor;
            }
        }
    }

    fn num_samples(&self) -> usize {
        self.count
    }

    fn restart(&mut self) {
        self.count = 0;
        self.mean.fill(0.0);
        self.sum_products.fill(0.0);
    }
}

/// Why no usable step size was found.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StepSizeError {
    #[error("the step size grew beyond 1e7 while searching: the posterior looks improper")]
    ImproperPosterior,
    #[error("no acceptably small step size exists: the log density may not be continuous")]
    NoSmallStepSize,
}

/// Stan's heuristic for a starting step size: from `step_size`, double or halve until one
/// leapfrog step from `state` (with fresh momenta) crosses an acceptance probability of 0.8.
pub fn initial_step_size<D, M, I, R>(
    density: &mut D,
    metric: &M,
    integrator: &mut I,
    state: &ChainState,
    step_size: f64,
    scratch: &mut PhasePoint,
    rng: &mut R,
) -> Result<f64, StepSizeError>
where
    D: LogDensity,
    M: Metric,
    I: Integrator,
    R: Rng + ?Sized,
{
    if step_size == 0.0 || step_size > 1e7 || step_size.is_nan() {
        return Ok(step_size);
    }
    let mut step_size = step_size;
    let log_threshold = 0.8_f64.ln();
    let mut one_step = |step: f64, rng: &mut R| {
        scratch.position.copy_from_slice(&state.position);
        scratch.log_density = evaluate(density, &state.position, &mut scratch.gradient);
        scratch.resample_momentum(metric, rng);
        let initial = scratch.energy();
        integrator.step(density, metric, scratch, step);
        initial - scratch.energy()
    };
    let direction_up = one_step(step_size, rng) > log_threshold;
    loop {
        let energy_change = one_step(step_size, rng);
        // NaN (a failed step) ends the search in either direction, as in Stan.
        let still_above = energy_change.partial_cmp(&log_threshold) == Some(Ordering::Greater);
        let still_below = energy_change.partial_cmp(&log_threshold) == Some(Ordering::Less);
        if (direction_up && !still_above) || (!direction_up && !still_below) {
            break;
        }
        step_size = if direction_up {
            2.0 * step_size
        } else {
            0.5 * step_size
        };
        if step_size > 1e7 {
            return Err(StepSizeError::ImproperPosterior);
        }
        if step_size == 0.0 {
            return Err(StepSizeError::NoSmallStepSize);
        }
    }
    Ok(step_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The windows a schedule closes, as (first, last) iterations of each slow window.
    fn window_ends(num_warmup: usize) -> Vec<usize> {
        let mut schedule = WindowSchedule::new(num_warmup, WindowSettings::default());
        let mut ends = Vec::new();
        for _ in 0..num_warmup {
            if schedule.at_window_end() {
                ends.push(schedule.counter);
            }
            schedule.advance();
        }
        ends
    }

    #[test]
    fn default_windows_match_stan() {
        // Stan with 1000 warmup: slow windows 75–99, 100–149, 150–249, 250–449, 450–949.
        assert_eq!(window_ends(1000), vec![99, 149, 249, 449, 949]);
        // 2000: ... 450–949 would leave 950–1949 (1000 < 2×500 ... ) so the last stretches.
        assert_eq!(window_ends(2000), vec![99, 149, 249, 449, 849, 1949]);
        // Short warmup: 15% / 75% / 10% of 100 is 15 / 75 / 10, one slow window.
        assert_eq!(window_ends(100), vec![89]);
        // Too short for any metric estimation.
        assert_eq!(window_ends(19), Vec::<usize>::new());
    }

    #[test]
    fn dual_averaging_moves_towards_the_target() {
        let mut adaptation = DualAveraging::new(DualAveragingSettings::default(), 0.8, 10f64.ln());
        let low = adaptation.learn(0.2);
        adaptation.restart();
        let high = adaptation.learn(1.0);
        assert!(low < high);
        // First step from a restart: x = mu - (0.8 - a)·1/γ·(1/11).
        let expected = (10f64.ln() - (0.8 - 1.0) / 11.0 / 0.05).exp();
        assert!((high - expected).abs() < 1e-12);
        assert!((adaptation.final_step_size().unwrap() - expected).abs() < 1e-12);
    }

    #[test]
    fn welford_estimators_agree_with_two_pass_formulas() {
        let points = [[1.0, 2.0], [2.0, 0.5], [4.0, 1.0], [-1.0, 3.0]];
        let mut variance = WelfordVariance::new(2);
        let mut covariance = WelfordCovariance::new(2);
        for p in &points {
            variance.add_sample(p);
            covariance.add_sample(p);
        }
        let n = points.len() as f64;
        let mean: Vec<f64> = (0..2)
            .map(|j| points.iter().map(|p| p[j]).sum::<f64>() / n)
            .collect();
        let cov = |i: usize, j: usize| {
            points
                .iter()
                .map(|p| (p[i] - mean[i]) * (p[j] - mean[j]))
                .sum::<f64>()
                / (n - 1.0)
        };
        let shrink = n / (n + 5.0);
        let jitter = 1e-3 * 5.0 / (n + 5.0);
        let v = variance.regularized_variance();
        let c = covariance.regularized_covariance();
        assert!((v[0] - (shrink * cov(0, 0) + jitter)).abs() < 1e-12);
        assert!((v[1] - (shrink * cov(1, 1) + jitter)).abs() < 1e-12);
        assert!((c[1] - shrink * cov(0, 1)).abs() < 1e-12);
        assert!((c[2] - shrink * cov(1, 0)).abs() < 1e-12);
        assert!((c[3] - v[1]).abs() < 1e-12);
    }
}
