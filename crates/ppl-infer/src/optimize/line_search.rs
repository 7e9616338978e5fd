//! A line search for the strong Wolfe conditions: bracketing then zoom with safeguarded cubic
//! interpolation (Nocedal & Wright, Algorithms 3.5 and 3.6).
//!
//! The function is minimised. A trial point where it is not finite (or cannot be evaluated) is
//! "too far": the search never extrapolates past it and shrinks back towards the last finite
//! point, so a log density that is `-inf` in a region makes the step shorter, never a crash.

/// A function to minimise; `None` marks a point where its value or gradient is not finite.
pub(crate) trait Minimand {
    fn evaluate(&mut self, position: &[f64], gradient: &mut [f64]) -> Option<f64>;
}

/// The constants of the strong Wolfe conditions and the search's budget.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WolfeConditions {
    /// `c1`: `phi(a) <= phi(0) + c1 a phi'(0)`.
    pub sufficient_decrease: f64,
    /// `c2`: `|phi'(a)| <= c2 |phi'(0)|`.
    pub curvature: f64,
    /// Function evaluations one search may spend, finite or not.
    pub max_evaluations: usize,
}

/// The accepted point of a successful search.
#[derive(Clone, Debug)]
pub(crate) struct LinePoint {
    pub position: Vec<f64>,
    pub value: f64,
    pub gradient: Vec<f64>,
}

/// Why no step satisfying the strong Wolfe conditions was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LineSearchFailure {
    /// The direction does not go downhill (`phi'(0) >= 0`) or the inputs are not finite.
    NotADescentDirection,
    /// The evaluation budget ran out.
    EvaluationBudget,
    /// The bracket (or the step back from non-finite points) became narrower than rounding.
    IntervalCollapsed,
}

/// `phi(a) = f(origin + a direction)` at one finite trial step.
#[derive(Clone, Copy, Debug)]
struct Sample {
    step: f64,
    value: f64,
    slope: f64,
}

/// The upper end of the zoom interval: a finite sample, or a step known to be non-finite
/// (about which only "too far" is known).
#[derive(Clone, Copy, Debug)]
enum FarEnd {
    Finite(Sample),
    NotFinite(f64),
}

impl FarEnd {
    fn step(&self) -> f64 {
        match self {
            FarEnd::Finite(sample) => sample.step,
            FarEnd::NotFinite(step) => *step,
        }
    }
}

/// The line through `origin` along `direction`, with scratch space and the evaluation budget.
struct Line<'a, M: Minimand> {
    objective: &'a mut M,
    origin: &'a [f64],
    direction: &'a [f64],
    position: Vec<f64>,
    gradient: Vec<f64>,
    evaluations_left: usize,
    origin_size: f64,
    direction_size: f64,
}

impl<M: Minimand> Line<'_, M> {
    /// Evaluates `phi` at `step`; `Ok(None)` if it is not finite there.
    fn sample(&mut self, step: f64) -> Result<Option<Sample>, LineSearchFailure> {
        if self.evaluations_left == 0 {
            return Err(LineSearchFailure::EvaluationBudget);
        }
        self.evaluations_left -= 1;
        for ((x, o), d) in self
            .position
            .iter_mut()
            .zip(self.origin)
            .zip(self.direction)
        {
            *x = o + step * d;
        }
        let value = match self.objective.evaluate(&self.position, &mut self.gradient) {
            Some(value) if value.is_finite() => value,
            _ => return Ok(None),
        };
        let slope = super::lbfgs::dot(&self.gradient, self.direction);
        if !slope.is_finite() {
            return Ok(None);
        }
        Ok(Some(Sample { step, value, slope }))
    }

    /// Whether moving by `width` along the line changes the position by no more than rounding.
    fn is_negligible(&self, width: f64) -> bool {
        width.abs() * self.direction_size <= f64::EPSILON * (1.0 + self.origin_size)
    }

    fn accept(&self, sample: Sample) -> LinePoint {
        debug_assert!(sample.step > 0.0);
        LinePoint {
            position: self.position.clone(),
            value: sample.value,
            gradient: self.gradient.clone(),
        }
    }
}

/// How much longer each bracketing trial step is than the previous one.
const EXPANSION: f64 = 4.0;
/// A zoom trial stays this fraction of the interval away from both ends, which guarantees the
/// interval shrinks geometrically even when the cubic model is poor.
const INTERPOLATION_MARGIN: f64 = 0.1;

/// Searches along `direction` from `origin` (where the function is `origin_value` with gradient
/// `origin_gradient`) for a step satisfying the strong Wolfe conditions, trying `initial_step`
/// first.
pub(crate) fn strong_wolfe_search<M: Minimand>(
    objective: &mut M,
    origin: &[f64],
    origin_value: f64,
    origin_gradient: &[f64],
    direction: &[f64],
    initial_step: f64,
    conditions: &WolfeConditions,
) -> Result<LinePoint, LineSearchFailure> {
    let origin_slope = super::lbfgs::dot(origin_gradient, direction);
    let downhill = origin_slope < 0.0 && origin_slope.is_finite();
    if !downhill || !origin_value.is_finite() {
        return Err(LineSearchFailure::NotADescentDirection);
    }
    let max_abs = |v: &[f64]| v.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    let mut line = Line {
        objective,
        origin,
        direction,
        position: vec![0.0; origin.len()],
        gradient: vec![0.0; origin.len()],
        evaluations_left: conditions.max_evaluations,
        origin_size: max_abs(origin),
        direction_size: max_abs(direction),
    };
    let origin_sample = Sample {
        step: 0.0,
        value: origin_value,
        slope: origin_slope,
    };
    let wolfe = Wolfe {
        origin: origin_sample,
        sufficient_decrease: conditions.sufficient_decrease,
        curvature: conditions.curvature,
    };

    let mut previous = origin_sample;
    // The shortest step known to be non-finite: the search never goes past it.
    let mut ceiling = f64::INFINITY;
    let mut step = if initial_step.is_finite() && initial_step > 0.0 {
        initial_step
    } else {
        1.0
    };
    loop {
        if line.is_negligible(step - previous.step) {
            return Err(LineSearchFailure::IntervalCollapsed);
        }
        let Some(current) = line.sample(step)? else {
            ceiling = step;
            step = previous.step + 0.5 * (step - previous.step);
            continue;
        };
        if !wolfe.decreases_enough(current) || current.value >= previous.value {
            return zoom(&mut line, &wolfe, previous, FarEnd::Finite(current));
        }
        if wolfe.is_flat_enough(current) {
            return Ok(line.accept(current));
        }
        if current.slope >= 0.0 {
            return zoom(&mut line, &wolfe, current, FarEnd::Finite(previous));
        }
        previous = current;
        step = (step * EXPANSION).min(0.5 * (step + ceiling));
    }
}

/// The two strong Wolfe tests relative to the line's origin.
struct Wolfe {
    origin: Sample,
    sufficient_decrease: f64,
    curvature: f64,
}

impl Wolfe {
    fn decreases_enough(&self, sample: Sample) -> bool {
        sample.value
            <= self.origin.value + self.sufficient_decrease * sample.step * self.origin.slope
    }

    fn is_flat_enough(&self, sample: Sample) -> bool {
        sample.slope.abs() <= -self.curvature * self.origin.slope
    }
}

/// N&W Algorithm 3.6. Invariants: `low` is the best sample found that decreases enough, the
/// interval between `low` and `high` contains strong Wolfe steps, and `phi'(low)` points from
/// `low` towards `high`.
fn zoom<M: Minimand>(
    line: &mut Line<'_, M>,
    wolfe: &Wolfe,
    mut low: Sample,
    mut high: FarEnd,
) -> Result<LinePoint, LineSearchFailure> {
    loop {
        let width = high.step() - low.step;
        if line.is_negligible(width) {
            return Err(LineSearchFailure::IntervalCollapsed);
        }
        let trial_step = match high {
            FarEnd::Finite(high) => safeguarded_cubic_minimizer(low, high),
            FarEnd::NotFinite(step) => 0.5 * (low.step + step),
        };
        let Some(trial) = line.sample(trial_step)? else {
            high = FarEnd::NotFinite(trial_step);
            continue;
        };
        if !wolfe.decreases_enough(trial) || trial.value >= low.value {
            high = FarEnd::Finite(trial);
            continue;
        }
        if wolfe.is_flat_enough(trial) {
            return Ok(line.accept(trial));
        }
        if trial.slope * (high.step() - low.step) >= 0.0 {
            high = FarEnd::Finite(low);
        }
        low = trial;
    }
}

/// The minimiser of the cubic matching values and slopes at both ends (N&W eq. 3.59), kept at
/// least [`INTERPOLATION_MARGIN`] of the interval inside it; bisection if the cubic has none.
fn safeguarded_cubic_minimizer(a: Sample, b: Sample) -> f64 {
    let (lower, upper) = (a.step.min(b.step), a.step.max(b.step));
    let margin = INTERPOLATION_MARGIN * (upper - lower);
    let d1 = a.slope + b.slope - 3.0 * (a.value - b.value) / (a.step - b.step);
    let discriminant = d1 * d1 - a.slope * b.slope;
    let midpoint = 0.5 * (lower + upper);
    if discriminant.is_nan() || discriminant < 0.0 {
        return midpoint;
    }
    let d2 = (b.step - a.step).signum() * discriminant.sqrt();
    let candidate =
        b.step - (b.step - a.step) * (b.slope + d2 - d1) / (b.slope - a.slope + 2.0 * d2);
    if candidate.is_finite() {
        candidate.clamp(lower + margin, upper - margin)
    } else {
        midpoint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-dimensional function given by closures, counting evaluations.
    struct OneDimensional<F: FnMut(f64) -> Option<(f64, f64)>> {
        function: F,
        evaluations: usize,
    }

    impl<F: FnMut(f64) -> Option<(f64, f64)>> Minimand for OneDimensional<F> {
        fn evaluate(&mut self, position: &[f64], gradient: &mut [f64]) -> Option<f64> {
            self.evaluations += 1;
            let (value, slope) = (self.function)(position[0])?;
            gradient[0] = slope;
            Some(value)
        }
    }

    const CONDITIONS: WolfeConditions = WolfeConditions {
        sufficient_decrease: 1e-4,
        curvature: 0.9,
        max_evaluations: 60,
    };

    fn search<F: FnMut(f64) -> Option<(f64, f64)>>(
        mut function: F,
        initial_step: f64,
        conditions: &WolfeConditions,
    ) -> (Result<LinePoint, LineSearchFailure>, f64, f64) {
        let (value, slope) = function(0.0).unwrap();
        let mut objective = OneDimensional {
            function,
            evaluations: 0,
        };
        let result = strong_wolfe_search(
            &mut objective,
            &[0.0],
            value,
            &[slope],
            &[1.0],
            initial_step,
            conditions,
        );
        (result, value, slope)
    }

    fn assert_strong_wolfe(
        point: &LinePoint,
        value: f64,
        slope: f64,
        conditions: &WolfeConditions,
    ) {
        assert!(
            point.value <= value + conditions.sufficient_decrease * point.position[0] * slope,
            "no sufficient decrease at step {}",
            point.position[0]
        );
        assert!(
            point.gradient[0].abs() <= conditions.curvature * slope.abs(),
            "curvature condition fails at step {}",
            point.position[0]
        );
    }

    #[test]
    fn finds_strong_wolfe_steps_from_short_and_long_initial_steps() {
        // phi(a) = (a - 3)^2 / 2 + sin(2 a) / 4: a non-quadratic valley.
        let function = |a: f64| {
            Some((
                0.5 * (a - 3.0).powi(2) + 0.25 * (2.0 * a).sin(),
                a - 3.0 + 0.5 * (2.0 * a).cos(),
            ))
        };
        for initial_step in [1e-6, 1e-3, 0.5, 1.0, 7.0, 100.0, 1e6] {
            let (result, value, slope) = search(function, initial_step, &CONDITIONS);
            let point = result.unwrap_or_else(|e| panic!("initial step {initial_step}: {e:?}"));
            assert_strong_wolfe(&point, value, slope, &CONDITIONS);
        }
        // A tight curvature constant forces the zoom to get close to the 1-D minimiser.
        let tight = WolfeConditions {
            curvature: 1e-3,
            ..CONDITIONS
        };
        let (result, value, slope) = search(function, 1.0, &tight);
        assert_strong_wolfe(&result.unwrap(), value, slope, &tight);
    }

    #[test]
    fn steps_back_from_a_region_where_the_function_is_not_finite() {
        // phi(a) = -log(2 - a) - a is finite only for a < 2; its minimiser is a = 1.
        let function = |a: f64| (a < 2.0).then(|| (-(2.0 - a).ln() - a, 1.0 / (2.0 - a) - 1.0));
        for initial_step in [1.9, 2.0, 5.0, 1e3, 1e12] {
            let (result, value, slope) = search(function, initial_step, &CONDITIONS);
            let point = result.unwrap_or_else(|e| panic!("initial step {initial_step}: {e:?}"));
            assert!(point.position[0] < 2.0);
            assert_strong_wolfe(&point, value, slope, &CONDITIONS);
        }
    }

    #[test]
    fn fails_without_panicking_when_nothing_can_be_found() {
        let (result, ..) = search(|a| (a == 0.0).then_some((0.0, -1.0)), 1.0, &CONDITIONS);
        assert!(result.is_err());
        // Uphill direction.
        let (result, ..) = search(|a| Some((a, 1.0)), 1.0, &CONDITIONS);
        assert_eq!(result.unwrap_err(), LineSearchFailure::NotADescentDirection);
        // Unbounded below: the budget runs out while extrapolating.
        let (result, ..) = search(|a| Some((-a, -1.0)), 1.0, &CONDITIONS);
        assert_eq!(result.unwrap_err(), LineSearchFailure::EvaluationBudget);
    }
}
