//! The Laplace driver: the posterior mode in the unconstrained space (with the constraints'
//! Jacobians, so the Gaussian approximates the density the samplers see), the curvature there,
//! and draws from N(mode, (−H)⁻¹) pushed through the constraints and summarised like a sampler's.
//! The Hessian is exact where `drivers::curvature` can give it, finite differences otherwise.

use std::sync::atomic::AtomicBool;

use ppl_infer::{LaplaceError, LaplaceSettings, OptimizeResult, OptimizeSettings};
use ppl_ir::Model;
use ppl_model::posterior::Posterior;
use ppl_syntax::codes;
use serde_json::json;

use crate::drivers::approximation::{pareto_k_warning, summarise_draws};
use crate::drivers::curvature::Curvature;
use crate::error::{FailureKind, FitError};
use crate::report::{RunReport, format_number, number};
use crate::settings::{Setting, Settings};

pub fn run(
    posterior: &Posterior,
    model: &Model,
    settings: &Settings,
    stop: Option<&AtomicBool>,
) -> Result<RunReport, FitError> {
    let seed = settings.whole(Setting::Seed);
    let defaults = LaplaceSettings::default();
    let initial = posterior
        .initial_values(model)
        .map_err(|d| FitError::one(d, FailureKind::ModelOrData))?
        .filter(|i| i.fixed.iter().all(|f| *f))
        .map(|i| i.position);
    let laplace_settings = LaplaceSettings {
        optimize: OptimizeSettings {
            max_iterations: settings.count(Setting::MaxIters),
            ..defaults.optimize
        },
        initial,
        num_draws: settings.count(Setting::Draws),
        seed,
        ..defaults
    };
    let started = std::time::Instant::now();
    let mut density = Curvature::new(posterior.tape.clone());
    let fit = match ppl_infer::laplace_until(&mut density, &laplace_settings, stop) {
        Err(LaplaceError::Interrupted { optimization }) => {
            return interrupted_before_the_mode(posterior, &optimization, started);
        }
        other => other,
    };
    let fit = fit.map_err(|error| {
        let hint = match error {
            LaplaceError::NotPositiveDefinite { .. } => {
                "; the mode is flat or a saddle in some direction (an improper or unidentified posterior?): try NUTS"
            }
            _ => "",
        };
        // A start with no finite log density is E0704 (or its cause), as for the samplers.
        let start_failure = match &error {
            LaplaceError::Optimize(
                ppl_infer::OptimizeError::InvalidStart { error: last_error }
                | ppl_infer::OptimizeError::NoValidStart { last_error, .. },
            ) => Some(last_error),
            _ => None,
        };
        let failure = FitError::message(
            if start_failure.is_some() {
                codes::NO_START
            } else {
                codes::METHOD_NOT_APPLICABLE
            },
            format!("the Laplace approximation failed: {error}{hint}"),
            FailureKind::InferenceFailed,
        )
        .at_term(start_failure.and_then(crate::error::term_of));
        crate::drivers::nonfinite::explain_failed_start(failure, &posterior.tape, seed)
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let (summary, _) = summarise_draws(posterior, &fit.draws, seed);
    let optimisation = &fit.optimization;
    let mut report = RunReport {
        method: "laplace".into(),
        seconds,
        summary,
        objective: optimisation.trace.clone(),
        objective_name: "log posterior density on the unconstrained scale (up to a constant)"
            .into(),
        ..RunReport::default()
    };
    report.notes.push(format!(
        "L-BFGS {} after {} iterations ({}); Hessian {}; {} draws from N(mode, (-H)^-1)",
        if optimisation.converged {
            "converged"
        } else {
            "did NOT converge"
        },
        optimisation.iterations,
        optimisation.stop,
        density
            .source
            .as_ref()
            .map_or_else(|| "not computed".into(), |s| s.describe()),
        laplace_settings.num_draws
    ));
    report.notes.push(format!(
        "Pareto k-hat {} ({})",
        format_number(fit.pareto_k),
        if fit.pareto_k <= 0.7 {
            "at most 0.7: the Gaussian is close enough to the posterior for its draws to be trusted"
        } else {
            "above 0.7: the Gaussian is far from the posterior"
        }
    ));
    report
        .warnings
        .extend(pareto_k_warning(fit.pareto_k, "Laplace approximation"));
    report
        .diagnostics
        .insert("pareto_k".into(), number(fit.pareto_k));
    report.diagnostics.insert(
        "log_density_at_mode".into(),
        number(optimisation.log_density),
    );
    report
        .diagnostics
        .insert("converged".into(), json!(optimisation.converged));
    if fit.interrupted {
        report.notes.push(format!(
            "INTERRUPTED: {} of {} draws made",
            fit.log_ratios.len(),
            laplace_settings.num_draws
        ));
        report.diagnostics.insert("interrupted".into(), json!(true));
    }
    Ok(report)
}

/// The report of a run stopped before the mode was found: no approximation, only the point the
/// optimiser reached (on the constrained scale), marked partial.
fn interrupted_before_the_mode(
    posterior: &Posterior,
    optimisation: &OptimizeResult,
    started: std::time::Instant,
) -> Result<RunReport, FitError> {
    let row = posterior.row(&optimisation.position).map_err(|e| {
        FitError::message(
            codes::UNSUPPORTED,
            e.to_string(),
            FailureKind::InferenceFailed,
        )
    })?;
    let mut report = RunReport {
        method: "laplace".into(),
        seconds: started.elapsed().as_secs_f64(),
        estimates: posterior
            .columns
            .iter()
            .map(|c| c.display.clone())
            .zip(row.iter().copied())
            .collect(),
        objective: optimisation.trace.clone(),
        objective_name: "log posterior density on the unconstrained scale (up to a constant)"
            .into(),
        ..RunReport::default()
    };
    report.notes.push(format!(
        "INTERRUPTED after {} L-BFGS iterations, before the mode was found: the estimates are the point reached, with no Gaussian approximation",
        optimisation.iterations
    ));
    report.diagnostics.insert("interrupted".into(), json!(true));
    Ok(report)
}
