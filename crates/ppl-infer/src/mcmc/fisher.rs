//! Warmup that learns the metric from draws *and* gradients (the Fisher-divergence estimate of
//! Seyboldt et al. 2024, as nutpie does it, written here from the paper's description):
//!
//! - the diagonal `σᵢ = sqrt(sd(xᵢ) / sd(∂ᵢ log p))`, exact for any Gaussian after a handful of
//!   draws, where Stan's variance estimate needs hundreds;
//! - optionally a low-rank correction: in the span of the window's scaled draws and gradients,
//!   the SPD matrix `Σ` with `Σ Cov(g) Σ = Cov(x)` (their geometric mean, which minimises the
//!   Fisher divergence of a Gaussian approximation), kept only in the directions whose eigenvalue
//!   leaves `[1/c, c]` — the directions where the diagonal is most wrong;
//! - estimated from the last one or two windows of draws, updated every few iterations rather
//!   than at Stan's doubling windows, and switched to a fresh window every 10 draws early on and
//!   every `8%` of the warmup later;
//! - the small-model (dense) correction only where the window looks Gaussian: for a Gaussian the
//!   gradient is an affine function of the position, so the share of the gradients' variance a
//!   linear fit on the draws leaves unexplained ([`FisherEstimate::nonlinearity`]) is 0. On a
//!   curved posterior (a banana, a funnel) it is large, a window's covariance describes only the
//!   part of the curve the chain was in, and the dense estimate follows that local tilt: there
//!   only directions off by nutpie's factor 100 are corrected;
//! - adaptation stops once two successive late windows give the same metric (every marginal
//!   variance and conditional precision within a factor of 2) and the step size has settled
//!   (within 30%); a final window then tunes the step size alone;
//! - a collapsed step size (below [`COLLAPSED_STEP_SIZE`] in the metric's units, where a metric
//!   that fits makes the posterior's scale about 1) says the metric does not describe where the
//!   chain is: typically a chain far out in a tail whose log density changes by orders of
//!   magnitude within a window (arma11 outside its invertible region), where a window of nearly
//!   identical draws gives a metric that pins the chain in place and then looks "settled". While
//!   the step is collapsed no window is kept, no metric is learnt and warmup cannot settle; a
//!   metric learnt from windows is dropped for the gradient guess at the current point, with
//!   which the chain rolls down the tail as under a fixed metric, and adaptation starts afresh
//!   once the step size has recovered.

use std::collections::VecDeque;

use nalgebra::{DMatrix, SymmetricEigen};

use super::hmc::metric::LowRankMetric;

/// Whether the correction is computed, and how it is regularised.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FisherSettings {
    /// Estimate the low-rank correction (else the diagonal alone).
    pub low_rank: bool,
    /// Ridge added to both scaled covariances before their geometric mean: directions seen in
    /// the draws but not in the gradients (or the reverse) get a bounded eigenvalue instead of an
    /// infinite one.
    pub gamma: f64,
    /// A direction is corrected when its eigenvalue is above `c` or below `1/c`. With fewer
    /// draws than dimensions, a direction seen in the draws but not in the gradients gets an
    /// eigenvalue near `sqrt(1/(n γ))` from the ridge alone (35 for 80 draws), so `c` must stay
    /// above that: nutpie's 100.
    pub eigenvalue_cutoff: f64,
    /// The cutoff when the window holds at least twice as many draws as dimensions: every
    /// direction is then seen by both covariances, and for a Gaussian target the geometric
    /// mean is exact whatever the draws, so a direction is corrected as soon as the diagonal is
    /// off by `c` (a dense metric for small models). `None`: always `eigenvalue_cutoff`.
    pub well_determined_cutoff: Option<f64>,
    /// `well_determined_cutoff` applies only when a linear fit of the (scaled) gradients on the
    /// draws leaves at most this share of their variance unexplained: 0 for any Gaussian.
    pub max_nonlinearity: f64,
}

impl Default for FisherSettings {
    fn default() -> Self {
        FisherSettings {
            low_rank: true,
            gamma: 1e-5,
            eigenvalue_cutoff: 100.0,
            well_determined_cutoff: Some(1.25),
            max_nonlinearity: 0.25,
        }
    }
}

/// A step size below this, in the units of a gradient-informed metric (where a metric that fits
/// makes the posterior's scale about 1 and a healthy step is 0.1–1 even in 10⁶ dimensions),
/// means the metric does not fit where the chain is; see the module doc.
pub const COLLAPSED_STEP_SIZE: f64 = 1e-4;

/// The metric estimated from a window of draws and their gradients, or `None` with fewer than
/// three draws or a numerical failure (the caller keeps its metric).
pub fn estimate_metric(
    draws: &[&[f64]],
    gradients: &[&[f64]],
    settings: &FisherSettings,
) -> Option<LowRankMetric> {
    estimate_metric_and_fit(draws, gradients, settings).map(|estimate| estimate.metric)
}

/// A window's metric and what the window said about the posterior's shape.
#[derive(Clone, Debug)]
pub struct FisherEstimate {
    pub metric: LowRankMetric,
    /// The share of the scaled gradients' variance that a linear fit on the draws leaves
    /// unexplained (0 for a Gaussian, near 1 when the gradient is no affine function of the
    /// position); `None` when the window was too short to fit (fewer than two draws per
    /// dimension) or the fit failed.
    pub nonlinearity: Option<f64>,
    /// Whether every direction off by more than `well_determined_cutoff` was corrected (the
    /// dense metric of a small, Gaussian-looking window).
    pub well_determined: bool,
}

/// [`estimate_metric`] with the window's linearity check (see [`FisherEstimate`]).
pub fn estimate_metric_and_fit(
    draws: &[&[f64]],
    gradients: &[&[f64]],
    settings: &FisherSettings,
) -> Option<FisherEstimate> {
    let count = draws.len();
    let dim = draws.first()?.len();
    if count < 3 || gradients.len() != count {
        return None;
    }
    let n = count as f64;
    let mut draw_mean = vec![0.0; dim];
    let mut gradient_mean = vec![0.0; dim];
    for (x, g) in draws.iter().zip(gradients) {
        for i in 0..dim {
            draw_mean[i] += x[i] / n;
            gradient_mean[i] += g[i] / n;
        }
    }
    let mut draw_squares = vec![0.0; dim];
    let mut gradient_squares = vec![0.0; dim];
    for (x, g) in draws.iter().zip(gradients) {
        for i in 0..dim {
            draw_squares[i] += (x[i] - draw_mean[i]).powi(2);
            gradient_squares[i] += (g[i] - gradient_mean[i]).powi(2);
        }
    }
    let scale: Vec<f64> = (0..dim)
        .map(|i| {
            let fisher = (draw_squares[i] / gradient_squares[i]).sqrt().sqrt();
            let plain = (draw_squares[i] / (n - 1.0)).sqrt();
            // A coordinate the gradient never moved (or that never moved): fall back on its
            // spread, then on 1.
            let chosen = if fisher.is_finite() && fisher > 0.0 {
                fisher
            } else if plain.is_finite() && plain > 0.0 {
                plain
            } else {
                1.0
            };
            chosen.clamp(1e-10, 1e10)
        })
        .collect();
    if !settings.low_rank {
        return LowRankMetric::from_parts(scale, Vec::new(), Vec::new())
            .ok()
            .map(|metric| FisherEstimate {
                metric,
                nonlinearity: None,
                well_determined: false,
            });
    }

    let nonlinearity = if count >= 2 * dim {
        unexplained_gradient_share(draws, gradients, &draw_mean, &gradient_mean, &scale)
    } else {
        None
    };
    // Scaled, centred columns; the 1/n makes the ridge γ comparable across window sizes.
    let scaled_draws = DMatrix::from_fn(dim, count, |i, k| {
        (draws[k][i] - draw_mean[i]) / (scale[i] * n)
    });
    let scaled_gradients = DMatrix::from_fn(dim, count, |i, k| {
        (gradients[k][i] - gradient_mean[i]) * scale[i] / n
    });
    // Below 2n dimensions the span is (generically) everything: work in the whole space, which
    // makes the estimate a dense metric for small models.
    let basis = if dim > 2 * count {
        let mut both = DMatrix::zeros(dim, 2 * count);
        both.columns_mut(0, count).copy_from(&scaled_draws);
        both.columns_mut(count, count).copy_from(&scaled_gradients);
        Some(both.qr().q())
    } else {
        None
    };
    let (projected_draws, projected_gradients) = match &basis {
        Some(q) => (
            q.transpose() * &scaled_draws,
            q.transpose() * &scaled_gradients,
        ),
        None => (scaled_draws, scaled_gradients),
    };
    let ridge = |m: &DMatrix<f64>| {
        let mut covariance = (m * m.transpose()) / settings.gamma;
        for i in 0..covariance.nrows() {
            covariance[(i, i)] += 1.0;
        }
        covariance
    };
    let mean = geometric_mean(&ridge(&projected_draws), &ridge(&projected_gradients))?;
    let eigen = SymmetricEigen::new(mean);
    let (cutoff, well_determined) = match (settings.well_determined_cutoff, nonlinearity) {
        (Some(cutoff), Some(share)) if share <= settings.max_nonlinearity => (cutoff, true),
        _ => (settings.eigenvalue_cutoff, false),
    };
    let mut values = Vec::new();
    let mut vectors = Vec::new();
    for (j, &value) in eigen.eigenvalues.iter().enumerate() {
        if value > cutoff || value < cutoff.recip() {
            let inner = eigen.eigenvectors.column(j);
            let direction = match &basis {
                Some(q) => q * inner,
                None => inner.into_owned(),
            };
            values.push(value);
            vectors.extend(direction.iter().copied());
        }
    }
    LowRankMetric::from_parts(scale, values, vectors)
        .ok()
        .map(|metric| FisherEstimate {
            metric,
            nonlinearity,
            well_determined,
        })
}

/// The share of the scaled gradients' total variance that their least-squares fit on the
/// scaled draws leaves unexplained: `tr(C_gg − C_gx C_xx⁻¹ C_xg) / tr(C_gg)`, with draws
/// scaled by `1/scale` and gradients by `scale` (so that every coordinate counts alike). For a
/// Gaussian posterior the gradient is exactly affine in the position and the share is 0
/// whatever the window; on the banana it is above 0.9. `None` if `C_xx` cannot be factorised.
fn unexplained_gradient_share(
    draws: &[&[f64]],
    gradients: &[&[f64]],
    draw_mean: &[f64],
    gradient_mean: &[f64],
    scale: &[f64],
) -> Option<f64> {
    let count = draws.len();
    let dim = scale.len();
    let positions = DMatrix::from_fn(count, dim, |k, i| (draws[k][i] - draw_mean[i]) / scale[i]);
    let slopes = DMatrix::from_fn(count, dim, |k, i| {
        (gradients[k][i] - gradient_mean[i]) * scale[i]
    });
    let mut position_covariance = positions.transpose() * &positions;
    // A ridge far below the data's own scale keeps a coordinate that never moved from making
    // the factorisation fail.
    let ridge = 1e-10 * (position_covariance.trace() / dim as f64).max(f64::MIN_POSITIVE);
    for i in 0..dim {
        position_covariance[(i, i)] += ridge;
    }
    let cross = positions.transpose() * &slopes;
    let total: f64 = slopes.iter().map(|v| v * v).sum();
    let cholesky = position_covariance.cholesky()?;
    let solved = cholesky.solve(&cross);
    let explained: f64 = cross.iter().zip(solved.iter()).map(|(a, b)| a * b).sum();
    let share = ((total - explained) / total).clamp(0.0, 1.0);
    share.is_finite().then_some(share)
}

/// The SPD solution `Σ` of `Σ B Σ = A`: `B^{-1/2} (B^{1/2} A B^{1/2})^{1/2} B^{-1/2}`.
pub fn geometric_mean(a: &DMatrix<f64>, b: &DMatrix<f64>) -> Option<DMatrix<f64>> {
    let b_eigen = SymmetricEigen::new(b.clone());
    if b_eigen
        .eigenvalues
        .iter()
        .any(|v| !(v.is_finite() && *v > 0.0))
    {
        return None;
    }
    let power = |eigen: &SymmetricEigen<f64, nalgebra::Dyn>, f: &dyn Fn(f64) -> f64| {
        let u = &eigen.eigenvectors;
        let diagonal = DMatrix::from_diagonal(&eigen.eigenvalues.map(f));
        u * diagonal * u.transpose()
    };
    let b_half = power(&b_eigen, &|v| v.sqrt());
    let b_minus_half = power(&b_eigen, &|v| v.sqrt().recip());
    let middle = &b_half * a * &b_half;
    let middle = (&middle + middle.transpose()) * 0.5;
    let middle_eigen = SymmetricEigen::new(middle);
    if middle_eigen.eigenvalues.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let middle_half = power(&middle_eigen, &|v| v.max(0.0).sqrt());
    let mean = &b_minus_half * middle_half * &b_minus_half;
    let mean = (&mean + mean.transpose()) * 0.5;
    mean.iter().all(|v| v.is_finite()).then_some(mean)
}

/// How far apart two metrics are: the largest factor between their marginal variances or
/// their conditional precisions, as a log.
pub fn metric_distance(old: &LowRankMetric, new: &LowRankMetric) -> f64 {
    let log_ratios = |a: Vec<f64>, b: Vec<f64>| {
        a.iter()
            .zip(&b)
            .map(|(x, y)| (y / x).ln().abs())
            .fold(0.0, f64::max)
    };
    log_ratios(old.inverse_mass_diagonal(), new.inverse_mass_diagonal())
        .max(log_ratios(old.mass_diagonal(), new.mass_diagonal()))
}

/// The phases of a gradient-informed warmup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The metric follows short windows (10 draws).
    Early,
    /// Longer windows; each switch checks whether the metric has settled.
    Late,
    /// The metric is fixed; the step size alone adapts.
    Final,
}

/// What the chain should do after an observation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WarmupEvent {
    Nothing,
    /// The metric changed for the first time (from the gradient guess): find a new step size.
    FirstUpdate,
    /// The metric is now fixed: restart the step size adaptation for the final window.
    FinalWindow,
    /// The step size collapsed under a metric learnt from windows: the metric was replaced by
    /// the gradient guess at the current point; find a new step size.
    Restart,
    /// Warmup is over.
    Done,
}

/// The lengths of the phases for a warmup of at most `num_warmup` iterations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FisherSchedule {
    pub early_end: usize,
    pub early_switch: usize,
    pub late_switch: usize,
    pub final_window: usize,
    /// Recompute the metric every this many iterations (and at every switch): the low-rank
    /// estimate costs `O(d n²)` and the diagonal `O(d n)`.
    pub update_every: usize,
}

impl FisherSchedule {
    pub fn new(num_warmup: usize, dim: usize, low_rank: bool) -> Self {
        let fraction = |f: f64| (f * num_warmup as f64).round() as usize;
        FisherSchedule {
            early_end: fraction(0.1),
            early_switch: fraction(0.01).clamp(5, 10),
            late_switch: fraction(0.08).max(10),
            final_window: fraction(0.1).max(num_warmup.min(20)),
            update_every: if low_rank { (dim / 10).clamp(1, 10) } else { 1 },
        }
    }
}

/// The state of a gradient-informed warmup for one chain.
#[derive(Clone, Debug)]
pub struct FisherAdaptation {
    settings: FisherSettings,
    schedule: FisherSchedule,
    num_warmup: usize,
    draws: VecDeque<Vec<f64>>,
    gradients: VecDeque<Vec<f64>>,
    /// How many of the stored draws belong to the old (foreground) window.
    foreground: usize,
    phase: Phase,
    iteration: usize,
    final_started: usize,
    updated_once: bool,
    last_switch: usize,
    /// The metric and averaged step size at the previous late switch.
    previous: Option<(LowRankMetric, f64)>,
    /// Whether adaptation stopped because the metric settled (rather than at the limit).
    pub settled: bool,
    /// What the last window used for the metric said about linearity (see [`FisherEstimate`]).
    pub nonlinearity: Option<f64>,
    /// Whether the last observed step size was collapsed ([`COLLAPSED_STEP_SIZE`]).
    collapsed: bool,
    /// How many times the step size collapsed under a learnt metric, which was then dropped.
    pub restarts: usize,
}

impl FisherAdaptation {
    pub fn new(num_warmup: usize, dim: usize, settings: FisherSettings) -> Self {
        FisherAdaptation {
            settings,
            schedule: FisherSchedule::new(num_warmup, dim, settings.low_rank),
            num_warmup,
            draws: VecDeque::new(),
            gradients: VecDeque::new(),
            foreground: 0,
            phase: Phase::Early,
            iteration: 0,
            final_started: 0,
            updated_once: false,
            last_switch: 0,
            previous: None,
            settled: false,
            nonlinearity: None,
            collapsed: false,
            restarts: 0,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The metric the current windows give, if they allow one.
    fn estimate(&mut self) -> Option<LowRankMetric> {
        let draws: Vec<&[f64]> = self.draws.iter().map(Vec::as_slice).collect();
        let gradients: Vec<&[f64]> = self.gradients.iter().map(Vec::as_slice).collect();
        let estimate = estimate_metric_and_fit(&draws, &gradients, &self.settings)?;
        self.nonlinearity = estimate.nonlinearity;
        Some(estimate.metric)
    }

    /// Drops the old window; the background becomes the foreground.
    fn switch(&mut self) {
        for _ in 0..self.foreground {
            self.draws.pop_front();
            self.gradients.pop_front();
        }
        self.foreground = self.draws.len();
        self.last_switch = self.iteration;
    }

    /// Feeds the chain's state after one warmup transition; may replace `metric`. `step_size`
    /// is dual averaging's step for the next transition, `averaged_step_size` its average.
    pub fn observe(
        &mut self,
        position: &[f64],
        gradient: &[f64],
        metric: &mut LowRankMetric,
        step_size: f64,
        averaged_step_size: Option<f64>,
    ) -> WarmupEvent {
        self.iteration += 1;
        let schedule = self.schedule;
        if self.phase == Phase::Final {
            return if self.iteration >= self.final_started + schedule.final_window
                || self.iteration >= self.num_warmup
            {
                WarmupEvent::Done
            } else {
                WarmupEvent::Nothing
            };
        }
        let final_start = self.num_warmup.saturating_sub(schedule.final_window);
        // A NaN step counts as collapsed.
        let healthy_step = step_size >= COLLAPSED_STEP_SIZE;
        if !healthy_step {
            return self.observe_collapsed(gradient, metric, final_start);
        }
        self.collapsed = false;
        if position.iter().chain(gradient).all(|v| v.is_finite()) {
            self.draws.push_back(position.to_vec());
            self.gradients.push_back(gradient.to_vec());
        }
        if self.phase == Phase::Early && self.iteration >= schedule.early_end {
            self.phase = Phase::Late;
        }
        let switch_length = match self.phase {
            Phase::Early => schedule.early_switch,
            _ => schedule.late_switch,
        };
        let background = self.draws.len() - self.foreground;
        // No switch that would leave less than a full window before the final phase.
        let switched = background >= switch_length && self.iteration + switch_length <= final_start;
        if switched {
            self.switch();
        }
        let due = switched || self.iteration.is_multiple_of(schedule.update_every);
        let mut event = WarmupEvent::Nothing;
        if due && let Some(estimate) = self.estimate() {
            *metric = estimate;
            if !self.updated_once {
                self.updated_once = true;
                event = WarmupEvent::FirstUpdate;
            }
        }
        if switched && self.phase == Phase::Late {
            let step = averaged_step_size.unwrap_or(f64::NAN);
            if let Some((old_metric, old_step)) = &self.previous {
                let metric_settled = metric_distance(old_metric, metric) < 2f64.ln();
                let step_settled = (step / old_step).ln().abs() < 1.3f64.ln();
                if metric_settled && step_settled {
                    self.settled = true;
                }
            }
            self.previous = Some((metric.clone(), step));
        }
        if self.settled || self.iteration >= final_start {
            return self.enter_final();
        }
        event
    }

    /// A transition whose step size collapsed: nothing from this region is kept (its draws
    /// barely move, and a window of them gives a metric that pins the chain where it is), a
    /// learnt metric is dropped for the gradient guess here, and no settling is declared.
    fn observe_collapsed(
        &mut self,
        gradient: &[f64],
        metric: &mut LowRankMetric,
        final_start: usize,
    ) -> WarmupEvent {
        let entering = !self.collapsed;
        self.collapsed = true;
        self.draws.clear();
        self.gradients.clear();
        self.foreground = 0;
        self.last_switch = self.iteration;
        self.previous = None;
        if self.iteration >= final_start {
            return self.enter_final();
        }
        if entering && self.updated_once && gradient.iter().all(|g| g.is_finite()) {
            // The next learnt metric needs its own step-size search again.
            self.updated_once = false;
            self.restarts += 1;
            *metric = LowRankMetric::from_gradient(gradient);
            return WarmupEvent::Restart;
        }
        WarmupEvent::Nothing
    }

    /// Freezes the metric: the final window tunes the step size alone.
    fn enter_final(&mut self) -> WarmupEvent {
        self.phase = Phase::Final;
        self.final_started = self.iteration;
        self.draws.clear();
        self.gradients.clear();
        if self.iteration >= self.num_warmup {
            WarmupEvent::Done
        } else {
            WarmupEvent::FinalWindow
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    /// Exact draws from N(0, Σ) with their gradients −Σ⁻¹x.
    fn gaussian_window(
        covariance: &DMatrix<f64>,
        count: usize,
        seed: u64,
    ) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let dim = covariance.nrows();
        let lower = covariance.clone().cholesky().unwrap().l();
        let precision = covariance.clone().try_inverse().unwrap();
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(seed);
        let mut draws = Vec::new();
        let mut gradients = Vec::new();
        for _ in 0..count {
            let z = nalgebra::DVector::from_fn(dim, |_, _| StandardNormal.sample(&mut rng));
            let x = &lower * z;
            let g = -(&precision * &x);
            draws.push(x.iter().copied().collect());
            gradients.push(g.iter().copied().collect());
        }
        (draws, gradients)
    }

    fn dense_inverse_mass(metric: &LowRankMetric) -> DMatrix<f64> {
        let dim = metric.dim();
        let mut columns = DMatrix::zeros(dim, dim);
        let mut velocity = vec![0.0; dim];
        for j in 0..dim {
            let mut unit = vec![0.0; dim];
            unit[j] = 1.0;
            metric.velocity(&unit, &mut velocity);
            for i in 0..dim {
                columns[(i, j)] = velocity[i];
            }
        }
        columns
    }

    use super::super::hmc::metric::Metric;

    #[test]
    fn geometric_mean_solves_its_equation() {
        let a = DMatrix::from_row_slice(2, 2, &[4.0, 1.0, 1.0, 3.0]);
        let b = DMatrix::from_row_slice(2, 2, &[2.0, -0.5, -0.5, 1.0]);
        let sigma = geometric_mean(&a, &b).unwrap();
        let residual = &sigma * &b * &sigma - &a;
        assert!(residual.amax() < 1e-12, "{residual}");
        // Diagonal case: sqrt(a/b) entrywise.
        let a = DMatrix::from_diagonal(&nalgebra::DVector::from_vec(vec![1.0, 4.0, 8.0]));
        let b = DMatrix::from_diagonal(&nalgebra::DVector::from_vec(vec![1.0, 1.0, 0.5]));
        let sigma = geometric_mean(&a, &b).unwrap();
        for (i, expected) in [1.0, 2.0, 4.0].iter().enumerate() {
            assert!((sigma[(i, i)] - expected).abs() < 1e-12);
        }
    }

    #[test]
    fn the_fisher_diagonal_is_exact_for_independent_gaussians() {
        // For x ~ N(μ, s²) the gradient is −(x − μ)/s², so sd(x)/sd(g) = s² whatever the draws:
        // five draws suffice.
        let sds = [0.01, 1.0, 30.0];
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(1);
        let (mut draws, mut gradients) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            let x: Vec<f64> = sds
                .iter()
                .map(|s| {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    3.0 + s * z
                })
                .collect();
            gradients.push(
                x.iter()
                    .zip(&sds)
                    .map(|(x, s)| -(x - 3.0) / (s * s))
                    .collect::<Vec<_>>(),
            );
            draws.push(x);
        }
        let draws_ref: Vec<&[f64]> = draws.iter().map(Vec::as_slice).collect();
        let gradients_ref: Vec<&[f64]> = gradients.iter().map(Vec::as_slice).collect();
        let metric =
            estimate_metric(&draws_ref, &gradients_ref, &FisherSettings::default()).unwrap();
        for (s, sd) in metric.scale().iter().zip(&sds) {
            assert!((s / sd - 1.0).abs() < 1e-9, "{s} vs {sd}");
        }
        assert_eq!(
            metric.rank(),
            0,
            "nothing to correct: {:?}",
            metric.values()
        );
    }

    #[test]
    fn the_low_rank_metric_recovers_a_correlated_covariance() {
        // Σ = diag(s) R diag(s) with R = (1−ρ) I + ρ 11ᵀ, ρ = 0.995, in 6 dimensions: one
        // direction has variance 1 + 5ρ ≈ 6 times the scale, five have 1 − ρ = 0.005.
        let dim = 6;
        let rho = 0.995;
        let sds = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0];
        let covariance = DMatrix::from_fn(dim, dim, |i, j| {
            sds[i] * sds[j] * if i == j { 1.0 } else { rho }
        });
        let (draws, gradients) = gaussian_window(&covariance, 40, 7);
        let draws_ref: Vec<&[f64]> = draws.iter().map(Vec::as_slice).collect();
        let gradients_ref: Vec<&[f64]> = gradients.iter().map(Vec::as_slice).collect();
        let metric =
            estimate_metric(&draws_ref, &gradients_ref, &FisherSettings::default()).unwrap();
        assert!(metric.rank() >= 1, "a correction is needed");
        // For Gaussian draws the geometric mean of Cov(x) and Cov(g)⁻¹ is Σ itself in the span,
        // up to the ridge; check Σ^{-1/2} M⁻¹ Σ^{-1/2} ≈ I through its eigenvalues.
        let estimate = dense_inverse_mass(&metric);
        let precision = covariance.clone().try_inverse().unwrap();
        let eigen = SymmetricEigen::new(precision.clone());
        let precision_half = &eigen.eigenvectors
            * DMatrix::from_diagonal(&eigen.eigenvalues.map(f64::sqrt))
            * eigen.eigenvectors.transpose();
        let whitened = &precision_half * estimate * &precision_half;
        let whitened = (&whitened + whitened.transpose()) * 0.5;
        let ratios = SymmetricEigen::new(whitened).eigenvalues;
        // The diagonal metric alone would leave ratios from 0.005·… to 6; the corrected one
        // must bring every direction within a factor 1.5 (the ridge and 40 draws allow that).
        for r in ratios.iter() {
            assert!(*r > 1.0 / 1.5 && *r < 1.5, "ratios {ratios}");
        }
        let diagonal_only = estimate_metric(
            &draws_ref,
            &gradients_ref,
            &FisherSettings {
                low_rank: false,
                ..FisherSettings::default()
            },
        )
        .unwrap();
        let whitened = &precision_half * dense_inverse_mass(&diagonal_only) * &precision_half;
        let spread = SymmetricEigen::new((&whitened + whitened.transpose()) * 0.5).eigenvalues;
        assert!(spread.max() / spread.min() > 100.0, "{spread}");
    }

    #[test]
    fn the_linearity_check_tells_a_gaussian_from_a_banana() {
        // A Gaussian's gradient is affine in the position: nothing is left unexplained, and the
        // small-model (dense) correction applies.
        let covariance = DMatrix::from_row_slice(2, 2, &[100.0, -9.5, -9.5, 1.0]);
        let (draws, gradients) = gaussian_window(&covariance, 80, 5);
        let draws_ref: Vec<&[f64]> = draws.iter().map(Vec::as_slice).collect();
        let gradients_ref: Vec<&[f64]> = gradients.iter().map(Vec::as_slice).collect();
        let estimate =
            estimate_metric_and_fit(&draws_ref, &gradients_ref, &FisherSettings::default())
                .unwrap();
        assert!(estimate.nonlinearity.unwrap() < 1e-6, "{estimate:?}");
        assert!(estimate.well_determined && estimate.metric.rank() >= 1);

        // Exact draws from the banana x0 ~ N(0, 10), x1 | x0 ~ N(b (x0² − 100), 1), b = 0.03.
        // Its gradient (−x0/100 + 2b x0 r, −r) with r = x1 − b (x0² − 100) is far from affine:
        // over the whole density a linear fit explains about 3% of ∂₀'s variance and 5% of ∂₁'s.
        let b = 0.03;
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(9);
        let (mut draws, mut gradients) = (Vec::new(), Vec::new());
        for _ in 0..80 {
            let z0: f64 = StandardNormal.sample(&mut rng);
            let r: f64 = StandardNormal.sample(&mut rng);
            let x0 = 10.0 * z0;
            let x1 = b * (x0 * x0 - 100.0) + r;
            draws.push(vec![x0, x1]);
            gradients.push(vec![-x0 / 100.0 + 2.0 * b * x0 * r, -r]);
        }
        let draws_ref: Vec<&[f64]> = draws.iter().map(Vec::as_slice).collect();
        let gradients_ref: Vec<&[f64]> = gradients.iter().map(Vec::as_slice).collect();
        let estimate =
            estimate_metric_and_fit(&draws_ref, &gradients_ref, &FisherSettings::default())
                .unwrap();
        let share = estimate.nonlinearity.unwrap();
        assert!(share > 0.7, "{share}");
        assert!(!estimate.well_determined);
        // The correlation a window of the curve shows is not taken for a dense metric: only a
        // direction off by 100x would be corrected, and none is.
        assert_eq!(estimate.metric.rank(), 0, "{:?}", estimate.metric.values());
    }

    #[test]
    fn a_collapsed_step_drops_the_learnt_metric_and_learns_nothing() {
        let covariance = DMatrix::from_row_slice(2, 2, &[4.0, 1.0, 1.0, 1.0]);
        let (draws, gradients) = gaussian_window(&covariance, 400, 11);
        let mut adaptation = FisherAdaptation::new(1000, 2, FisherSettings::default());
        let mut metric = LowRankMetric::identity(2);
        let mut events = Vec::new();
        for (x, g) in draws.iter().zip(&gradients).take(30) {
            events.push(adaptation.observe(x, g, &mut metric, 0.5, Some(0.5)));
        }
        assert!(events.contains(&WarmupEvent::FirstUpdate), "{events:?}");
        // The step collapses: the learnt metric gives way to the gradient guess here, once.
        let stuck_gradient = [3e8, -2e2];
        let event = adaptation.observe(&draws[30], &stuck_gradient, &mut metric, 1e-7, Some(1e-7));
        assert_eq!(event, WarmupEvent::Restart);
        let guess = LowRankMetric::from_gradient(&stuck_gradient);
        assert_eq!((metric.scale(), metric.rank()), (guess.scale(), 0));
        assert_eq!(adaptation.restarts, 1);
        // While it stays collapsed nothing is learnt and nothing settles, however long.
        for (x, g) in draws.iter().zip(&gradients).skip(31).take(300) {
            let event = adaptation.observe(x, g, &mut metric, 1e-7, Some(1e-7));
            assert_eq!(event, WarmupEvent::Nothing);
        }
        assert_eq!((metric.scale(), metric.rank()), (guess.scale(), 0));
        assert!(!adaptation.settled);
        // Once the step recovers, windows are kept again and the next metric is a first update.
        let mut recovered = Vec::new();
        for (x, g) in draws.iter().zip(&gradients).skip(331).take(30) {
            recovered.push(adaptation.observe(x, g, &mut metric, 0.5, Some(0.5)));
        }
        assert!(
            recovered.contains(&WarmupEvent::FirstUpdate),
            "{recovered:?}"
        );
        assert_ne!(metric.scale(), guess.scale());
    }

    #[test]
    fn high_dimensional_windows_use_the_span_of_draws_and_gradients() {
        // d = 50 > 2n = 40: the correction lives in the span; an isotropic Gaussian with one
        // direction stretched 100-fold in sd is recovered there.
        let dim = 50;
        let mut covariance = DMatrix::identity(dim, dim);
        let direction =
            nalgebra::DVector::from_fn(dim, |i, _| if i < 10 { 1.0 } else { 0.0 }).normalize();
        covariance += &direction * direction.transpose() * 9999.0;
        let (draws, gradients) = gaussian_window(&covariance, 20, 3);
        let draws_ref: Vec<&[f64]> = draws.iter().map(Vec::as_slice).collect();
        let gradients_ref: Vec<&[f64]> = gradients.iter().map(Vec::as_slice).collect();
        let metric =
            estimate_metric(&draws_ref, &gradients_ref, &FisherSettings::default()).unwrap();
        let estimate = dense_inverse_mass(&metric);
        // Along the stretched direction the variance is 10 000 and the diagonal alone says
        // about 33; with 20 draws in 50 dimensions the ridge on the directions no draw has seen
        // shrinks the estimate (here to about a third), still two orders closer.
        let along = (direction.transpose() * &estimate * &direction)[(0, 0)];
        assert!(along > 2000.0 && along < 20000.0, "{along}");
        assert!(
            metric.rank() >= 1 && metric.rank() < 10,
            "{:?}",
            metric.values()
        );
    }
}
