//! The Laplace driver: the posterior mode in the unconstrained space (with the constraints'
//! Jacobians, so the Gaussian approximates the density the samplers see), the curvature there,
//! and draws from N(mode, (−H)⁻¹) pushed through the constraints and summarised like a sampler's.
//! The Hessian is exact where `drivers::curvature` can give it, finite differences otherwise.

use ppl_infer::{LaplaceError, LaplaceSettings, OptimizeSettings};
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
    let fit = ppl_infer::laplace(&mut density, &laplace_settings).map_err(|error| {
        let hint = match error {
            LaplaceError::NotPositiveDefinite { .. } => {
                "; the mode is flat or a saddle in some direction (an improper or unidentified posterior?): try NUTS"
            }
            _ => "",
        };
        FitError::message(
            codes::METHOD_NOT_APPLICABLE,
            format!("the Laplace approximation failed: {error}{hint}"),
            FailureKind::InferenceFailed,
        )
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
    Ok(report)
}
