//! The MAP driver: maximum a posteriori or maximum-likelihood estimates (LANGUAGE.md §6 rule 6): L-BFGS on the
//! model's log density without the constraints' Jacobians (the mode on the constrained scale, as
//! Stan's optimizer), from the model's initial values or random starts, with standard errors
//! from the curvature at the mode.

use ppl_infer::HessianDensity;
use std::sync::atomic::AtomicBool;

use ppl_infer::optimize::{
    OptimizeSettings, RandomStarts, StopReason, maximize_from_random_starts_until, maximize_until,
    standard_errors,
};
use ppl_ir::{Constraint, Model};
use ppl_model::posterior::Posterior;
use ppl_syntax::codes;
use serde_json::json;

use crate::drivers::curvature::{Curvature, HessianSource};
use crate::error::{FailureKind, FitError};
use crate::report::{RunReport, format_number, number};

pub struct MapOptions<'a> {
    pub restarts: usize,
    pub seed: u64,
    pub max_iterations: usize,
    /// Checked between L-BFGS iterations: a stop request reports the point reached so far.
    pub stop: Option<&'a AtomicBool>,
}

pub fn run(
    posterior: &Posterior,
    model: &Model,
    options: &MapOptions<'_>,
) -> Result<RunReport, FitError> {
    let mut tape = posterior.tape.clone().without_jacobian();
    // Stan's relative tolerances stop about sqrt(1e-9 |f|) standard errors from the mode, a
    // visible error in the third digit on data sets of a few hundred points; these go to the
    // limit of double precision for a few more iterations.
    let settings = OptimizeSettings {
        max_iterations: options.max_iterations,
        tol_rel_grad: 10.0,
        tol_rel_obj: 10.0,
        ..OptimizeSettings::default()
    };
    let failed = |error: &ppl_infer::OptimizeError| {
        let term = match error {
            ppl_infer::OptimizeError::InvalidStart { error }
            | ppl_infer::OptimizeError::NoValidStart {
                last_error: error, ..
            } => crate::error::term_of(error),
            _ => None,
        };
        let failure = FitError::message(
            codes::NO_START,
            format!("optimisation failed: {error}"),
            FailureKind::InferenceFailed,
        )
        .at_term(term);
        super::nonfinite::explain_failed_start(failure, &posterior.tape, options.seed)
    };
    let started = std::time::Instant::now();
    let initial = posterior
        .initial_values(model)
        .map_err(|d| FitError::one(d, FailureKind::ModelOrData))?;
    let (result, restart_values) = match initial.filter(|i| i.fixed.iter().all(|f| *f)) {
        Some(initial) => {
            let result = maximize_until(&mut tape, &initial.position, &settings, options.stop)
                .map_err(|e| failed(&e))?;
            let value = result.log_density;
            (result, vec![value])
        }
        None => {
            let starts = RandomStarts {
                runs: options.restarts,
                seed: options.seed,
                ..RandomStarts::default()
            };
            let multi =
                maximize_from_random_starts_until(&mut tape, &settings, &starts, options.stop)
                    .map_err(|e| failed(&e))?;
            let values = multi.runs.iter().map(|r| r.log_density).collect();
            (multi.best().clone(), values)
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let row = posterior.row(&result.position).map_err(|e| {
        FitError::message(
            codes::UNSUPPORTED,
            e.to_string(),
            FailureKind::InferenceFailed,
        )
    })?;
    let estimates: Vec<(String, f64)> = posterior
        .columns
        .iter()
        .map(|c| c.display.clone())
        .zip(row.iter().copied())
        .collect();
    let mut curvature = Curvature::new(tape);
    let (errors, no_errors_why) =
        constrained_standard_errors(posterior, &mut curvature, &result.position, &row);
    let has_prior = ppl_model::posterior::has_prior(model);
    let mut report = RunReport {
        method: "map".into(),
        seconds,
        estimates,
        estimate_errors: errors.clone(),
        objective: result.trace.clone(),
        objective_name: if has_prior {
            "log posterior density (up to a constant)".into()
        } else {
            "log-likelihood".into()
        },
        ..RunReport::default()
    };
    report.notes.push(format!(
        "L-BFGS {} after {} iterations ({}); best of {} start{}",
        if result.converged {
            "converged"
        } else {
            "did NOT converge"
        },
        result.iterations,
        result.stop,
        restart_values.len(),
        if restart_values.len() == 1 { "" } else { "s" }
    ));
    report.notes.push(format!(
        "{}: the mode on the constrained scale; standard errors from the curvature there, {}",
        if has_prior {
            "MAP estimate (the priors are included)"
        } else {
            "maximum-likelihood estimate (no priors)"
        },
        match &curvature.source {
            Some(HessianSource::Exact) => "the Hessian exact (second-order dual numbers)".into(),
            Some(source) => format!("the Hessian {}", source.describe()),
            None => "none computed".to_string(),
        }
    ));
    if result.stop == StopReason::Interrupted {
        report
            .notes
            .push("INTERRUPTED: the estimates are those of the last completed iteration".into());
        // Only an interrupted fit carries the key, so complete runs' JSON is unchanged.
        report.diagnostics.insert("interrupted".into(), json!(true));
    } else if !result.converged {
        report.warnings.push(format!(
            "the optimiser stopped without converging ({}): the estimates may not be at the mode; raise --max-iters or check the model",
            result.stop
        ));
    }
    if let Some(why) = no_errors_why {
        report
            .warnings
            .push(format!("no standard errors (`-` in the table): {why}"));
    }
    report.warnings.extend(boundary_warnings(
        posterior,
        &result.position,
        &report.estimates,
    ));
    let distinct: Vec<f64> = restart_values
        .iter()
        .copied()
        .filter(|v| (v - result.log_density).abs() > 1e-6 * result.log_density.abs().max(1.0))
        .collect();
    if !distinct.is_empty() {
        report.warnings.push(format!(
            "{} of {} starts ended at a lower mode (best {}): the density has several modes",
            distinct.len(),
            restart_values.len(),
            format_number(result.log_density)
        ));
    }
    report
        .diagnostics
        .insert("log_density".into(), number(result.log_density));
    report
        .diagnostics
        .insert("converged".into(), json!(result.converged));
    report
        .diagnostics
        .insert("iterations".into(), json!(result.iterations));
    report
        .diagnostics
        .insert("stop".into(), json!(result.stop.to_string()));
    report
        .diagnostics
        .insert("gradient_norm".into(), number(result.gradient_norm));
    report.diagnostics.insert(
        "restarts".into(),
        json!(
            restart_values
                .iter()
                .map(|v| number(*v))
                .collect::<Vec<_>>()
        ),
    );
    let mut standard_errors_json = serde_json::Map::new();
    for ((name, _), error) in report.estimates.iter().zip(&errors) {
        if let Some(error) = error {
            standard_errors_json.insert(name.clone(), number(*error));
        }
    }
    report.diagnostics.insert(
        "standard_errors".into(),
        serde_json::Value::Object(standard_errors_json),
    );
    Ok(report)
}

/// Standard errors of the estimates on their own scale: the unconstrained ones from the inverse
/// curvature, carried through elementwise transforms by the delta method; none for the others
/// (simplexes, matrices, `let`s). With none at all, the second value says why, for the warning
/// that explains the table's dashes.
fn constrained_standard_errors(
    posterior: &Posterior,
    curvature: &mut Curvature,
    position: &[f64],
    row: &[f64],
) -> (Vec<Option<f64>>, Option<&'static str>) {
    let mut out = vec![None; row.len()];
    let dim = position.len();
    let Ok(hessian) = curvature.hessian(position) else {
        return (
            out,
            Some("the Hessian could not be computed at the estimate"),
        );
    };
    let Some(unconstrained) = standard_errors(&hessian, dim) else {
        return (
            out,
            Some(
                "the log density's curvature at the estimate is not that of a maximum (the Hessian is not negative definite): the estimate is flat in some direction, as a net's weights or an unidentified parameter are, or it is not at a mode",
            ),
        );
    };
    // Columns start with the sampled unknowns, in layout order, one column per constrained
    // element; for elementwise constraints that is one column per coordinate.
    let mut column = 0;
    for entry in &posterior.tape.layout().entries {
        let count: usize = entry.shape.iter().product();
        for k in 0..count {
            let x = row[column + k];
            let slope = match entry.constraint {
                // The affine map's slope moves with the bound's ends: no scale is reported.
                _ if entry.expression_bound.is_some() => None,
                Constraint::None => Some(1.0),
                Constraint::Bounded { low, high, .. } if high.is_infinite() && low.is_finite() => {
                    Some(x - low)
                }
                Constraint::Bounded { low, high, .. } if low.is_infinite() && high.is_finite() => {
                    Some(high - x)
                }
                Constraint::Bounded { low, high, .. } if low.is_finite() && high.is_finite() => {
                    Some((x - low) * (high - x) / (high - low))
                }
                _ => None,
            };
            if let Some(slope) = slope
                && count == entry.len
            {
                out[column + k] = Some(slope.abs() * unconstrained[entry.offset + k]);
            }
        }
        column += count;
    }
    (out, None)
}

/// Estimates of elementwise-bounded unknowns that went to a boundary of their support: the
/// unconstrained coordinate is far out (|u| > 9 on the log scale: within about 1e-4 of the
/// bound relative to its scale). At such a mode the density usually grows without bound (a
/// hierarchical scale under MAP), so the "estimate" is degenerate.
fn boundary_warnings(
    posterior: &Posterior,
    position: &[f64],
    estimates: &[(String, f64)],
) -> Vec<String> {
    let mut out = Vec::new();
    let mut column = 0;
    for entry in &posterior.tape.layout().entries {
        let count: usize = entry.shape.iter().product();
        if let Constraint::Bounded { low, high, .. } = entry.constraint
            && count == entry.len
            && entry.expression_bound.is_none()
        {
            for k in 0..count {
                let Some(u) = position.get(entry.offset + k) else {
                    continue;
                };
                let at_low = low.is_finite() && *u < -9.0;
                let at_high = high.is_finite() && *u > 9.0;
                if (at_low || at_high)
                    && let Some((name, value)) = estimates.get(column + k)
                {
                    out.push(format!(
                        "`{name}` = {} sits at the {} of its support ({}): the mode is degenerate there (typical of a hierarchical scale under MAP, whose density grows without bound); `--method nuts` gives its posterior instead",
                        format_number(*value),
                        if at_low { "lower bound" } else { "upper bound" },
                        if at_low { low } else { high }
                    ));
                }
            }
        }
        column += count;
    }
    out
}
