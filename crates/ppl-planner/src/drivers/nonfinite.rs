//! Gives a failed start its cause: when no initial point has a finite log density and the
//! engine named the statement, the statement is evaluated again at a few points of the same
//! initialisation box, and a log density that is −∞ everywhere (E0740), NaN everywhere (E0741) or
//! an `exp` that overflows everywhere (E0742) replaces the general E0704 with its own message
//! and hint.

use ppl_model::tape::{NonFinite, Tape};
use ppl_syntax::{Diagnostic, codes};

use crate::error::FitError;

/// Points examined, uniform in (-2, 2) on the unconstrained scale as the engines' starts are.
const POINTS: usize = 16;

/// `error` with its E0704 diagnostic replaced by the specific one, when one cause holds at every
/// point examined; otherwise `error` unchanged.
pub(crate) fn explain_failed_start(mut error: FitError, tape: &Tape, seed: u64) -> FitError {
    let Some(term) = error.term else {
        return error;
    };
    let Some(first) = error.diagnostics.first() else {
        return error;
    };
    if first.code != codes::NO_START {
        return error;
    }
    let dim = tape.layout().dim;
    let mut state = seed ^ 0x5DEE_CE66_D1CE_4E5B;
    let mut uniform = || {
        // SplitMix64: the points only need to be spread and the same on every run.
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    let positions: Vec<Vec<f64>> = (0..POINTS)
        .map(|_| (0..dim).map(|_| 4.0 * uniform() - 2.0).collect())
        .collect();
    let Some(cause) = tape.non_finite_cause(term, &positions) else {
        return error;
    };
    let diagnostic = match cause {
        NonFinite::ExpOverflow { span, argument } => Diagnostic::error(
            codes::EXP_OVERFLOW,
            span,
            format!(
                "`exp` overflows at every initial point tried: its argument reaches {argument:.4e}, past 709.78 (the logarithm of the largest double)"
            ),
        )
        .with_label("this is +∞")
        .with_hint(
            "keep the argument on a sensible scale: standardise the covariates, give the coefficients priors of that scale, or stay on the log scale (log_sum_exp instead of log(sum(exp(...))))",
        ),
        NonFinite::NegativeInfinity => Diagnostic::unplaced(
            codes::LOG_DENSITY_NEG_INFINITE,
            "the log density of this statement is −∞ at every initial point tried: a value lies outside its distribution's support, or a parameter outside its range (a scale ≤ 0)",
        )
        .with_hint(
            "compare the data with the distribution's support and bounds (an observation outside a Uniform's range, a negative count, a probability of exactly 0 or 1), and check that scales are positive",
        ),
        NonFinite::NotANumber => Diagnostic::unplaced(
            codes::LOG_DENSITY_NAN,
            "the log density of this statement is NaN at every initial point tried: an operation has no value there",
        )
        .with_hint(
            "look for log or sqrt of a value that can be negative, 0/0, ∞ − ∞, or a scale computed from an expression that can be ≤ 0",
        ),
    };
    error.diagnostics[0] = diagnostic;
    error
}
