//! The ADVI driver: a Gaussian guide fitted by the ELBO engine (`ppl_infer::vi`) on the model's
//! unconstrained log density; the ELBO trace is the objective, the guide's draws are summarised
//! like a sampler's, and PSIS's Pareto k-hat says how far to trust them. Variational EM
//! (LANGUAGE.md §6 rule 3, params beside continuous latents) is the same engine with the params'
//! coordinates held as points of the guide: they maximise the same ELBO as the latents' mean-field
//! Gaussian, on the density without the params' Jacobians (their MLE or MAP on the constrained
//! scale).

use ppl_infer::{GuideFamily, VariationalSettings};
use ppl_ir::{Model, Role};
use ppl_model::posterior::Posterior;
use ppl_syntax::codes;
use serde_json::json;

use crate::FitControl;
use crate::drivers::approximation::{pareto_k_warning, summarise_draws};
use crate::error::{FailureKind, FitError};
use crate::report::{RunReport, format_number, number};
use crate::settings::{Origin, Setting, Settings};

/// Stan's ADVI runs up to 10,000 iterations; `--max-iters` overrides.
const DEFAULT_ITERATIONS: usize = 10_000;

pub fn run(
    posterior: &Posterior,
    family: GuideFamily,
    settings: &Settings,
    control: &FitControl<'_>,
) -> Result<RunReport, FitError> {
    let seed = settings.whole(Setting::Seed);
    // The guide starts at the posterior mode on the unconstrained scale (L-BFGS, a few ms): the
    // ELBO's noisy gradient then only has to fit the spread, where from a random start it can
    // stall far from the mass on badly scaled models (Stan's ADVI starts at random).
    let initial_mean = {
        let mut tape = posterior.tape.clone();
        let starts = ppl_infer::RandomStarts {
            runs: 1,
            seed,
            ..ppl_infer::RandomStarts::default()
        };
        ppl_infer::maximize_from_random_starts(
            &mut tape,
            &ppl_infer::OptimizeSettings::default(),
            &starts,
        )
        .ok()
        .map(|result| result.best().position.clone())
        .filter(|position| position.iter().all(|x| x.is_finite()))
    };
    let variational = VariationalSettings {
        initial_mean,
        family,
        // The mode is no start where the density has none (a funnel's neck): a random start
        // competes with it on the trial runs' ELBO.
        compare_random_start: true,
        ..engine_settings(settings)
    };
    fit_and_report(posterior, variational, None, settings, control)
}

/// Variational EM: a mean-field guide over the latents, the params' coordinates held as points.
/// `posterior`'s tape must leave the params' Jacobians out (see `plan`).
pub fn run_em(
    posterior: &Posterior,
    model: &Model,
    settings: &Settings,
    control: &FitControl<'_>,
) -> Result<RunReport, FitError> {
    let layout = posterior.tape.layout();
    let mut points = vec![false; layout.dim];
    let mut names = Vec::new();
    for entry in &layout.entries {
        if model
            .variables
            .get(entry.var.0)
            .is_some_and(|v| v.role == Role::Param)
        {
            points[entry.offset..entry.offset + entry.len].fill(true);
            names.push(format!("`{}`", entry.name));
        }
    }
    // A net's weights are params (LANGUAGE.md §2): points, as the declared ones.
    for net in &layout.nets {
        points[net.offset..net.offset + net.len].fill(true);
        names.push(format!("the weights of net `{}`", net.name));
    }
    // A random start: the joint mode over params and latents is often at a boundary (a scale
    // param at zero with every latent at its mean), where the ELBO is worst.
    let variational = VariationalSettings {
        family: GuideFamily::MeanField,
        point_coordinates: points,
        ..engine_settings(settings)
    };
    fit_and_report(posterior, variational, Some(&names), settings, control)
}

/// The settings shared by ADVI and variational EM, from the settings table.
fn engine_settings(settings: &Settings) -> VariationalSettings {
    let given = |setting| settings.origin(setting) != Origin::Default;
    VariationalSettings {
        elbo_samples: settings.count(Setting::ElboSamples),
        max_iterations: if given(Setting::MaxIters) {
            settings.count(Setting::MaxIters)
        } else {
            DEFAULT_ITERATIONS
        },
        tol_rel_obj: settings.get(Setting::TolRelObj),
        learning_rate: given(Setting::LearningRate).then(|| settings.get(Setting::LearningRate)),
        num_draws: settings.count(Setting::Draws),
        seed: settings.whole(Setting::Seed),
        ..VariationalSettings::default()
    }
}

/// Runs the engine and reports: `point_params` names the params held as points (variational EM).
fn fit_and_report(
    posterior: &Posterior,
    variational: VariationalSettings,
    point_params: Option<&[String]>,
    settings: &Settings,
    control: &FitControl<'_>,
) -> Result<RunReport, FitError> {
    let seed = variational.seed;
    let family = variational.family;
    let started = std::time::Instant::now();
    let fit = ppl_infer::fit_variational(&posterior.tape, &variational, control.stop).map_err(
        |error| {
            // A start with no finite log density is E0704 (or its cause), as for the samplers.
            let start_failure = match &error {
                ppl_infer::VariationalError::Initialization { last_error, .. }
                | ppl_infer::VariationalError::InitialMean(last_error) => Some(last_error),
                _ => None,
            };
            let failure = FitError::message(
                if start_failure.is_some() {
                    codes::NO_START
                } else {
                    codes::METHOD_NOT_APPLICABLE
                },
                format!(
                    "{} failed: {error}",
                    if point_params.is_some() {
                        "variational EM"
                    } else {
                        "ADVI"
                    }
                ),
                FailureKind::InferenceFailed,
            )
            .at_term(start_failure.and_then(crate::error::term_of));
            super::nonfinite::explain_failed_start(failure, &posterior.tape, seed)
        },
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let (summary, _) = summarise_draws(posterior, &fit.draws, seed);
    let mut report = RunReport {
        method: "advi".into(),
        seconds,
        summary,
        objective: fit.trace.iter().map(|e| e.elbo).collect(),
        objective_name: "ELBO (evidence lower bound, nats)".into(),
        ..RunReport::default()
    };
    // At the cap, the trace says whether the ELBO was still climbing or had settled within the
    // noise of its estimate (then the relative-change rule asked for more than the noise allows,
    // and more iterations would not change the fit).
    let plateau = (!fit.converged && !fit.interrupted)
        .then(|| ppl_infer::elbo_plateau(&fit.trace))
        .flatten();
    let settled = plateau.is_some_and(|p| p.is_flat());
    let tolerance = settings.get(Setting::TolRelObj);
    report.notes.push(match plateau {
        _ if fit.interrupted => format!(
            "INTERRUPTED after {} iterations",
            fit.iterations
        ),
        _ if fit.converged => format!(
            "converged after {} iterations (relative ELBO change below {tolerance})",
            fit.iterations
        ),
        Some(plateau) if settled => format!(
            "settled at the cap of {} iterations: over the last {} evaluations the ELBO's trend is {} ± {} nats per evaluation, flat within its estimate noise (sd {} nats, {} of the ELBO), which keeps its relative change above --tol-rel-obj {tolerance}; more iterations would not change the fit",
            fit.iterations,
            plateau.evaluations,
            format_number(plateau.slope),
            format_number(plateau.slope_se),
            format_number(plateau.noise_sd),
            format_number(plateau.noise_sd / fit.elbo.abs().max(f64::MIN_POSITIVE)),
        ),
        Some(_) => format!(
            "did NOT converge after {} iterations: the ELBO was still climbing",
            fit.iterations
        ),
        None => format!(
            "did NOT converge after {} iterations (relative ELBO change above {tolerance})",
            fit.iterations
        ),
    });
    report.notes.push(format!(
        "Adam learning rate {}; {} draws from the guide",
        format_number(fit.learning_rate),
        variational.num_draws
    ));
    if let Some(names) = point_params {
        report.notes.push(format!(
            "variational EM: the params ({}) are point estimates that maximise the ELBO with the latents' mean-field Gaussian guide; their sd is 0",
            names.join(", ")
        ));
    }
    report.notes.push(format!(
        "ELBO {}; Pareto k-hat {} ({})",
        format_number(fit.elbo),
        format_number(fit.pareto_k),
        if fit.pareto_k <= 0.7 {
            "at most 0.7: the guide is close enough to the posterior for its draws to be trusted"
        } else {
            "above 0.7: the guide is far from the posterior"
        }
    ));
    if !fit.converged && !fit.interrupted && !settled {
        report.warnings.push(format!(
            "ADVI stopped at {} iterations while the ELBO was still climbing: raise --max-iters",
            fit.iterations
        ));
    }
    report
        .warnings
        .extend(pareto_k_warning(fit.pareto_k, "variational approximation"));
    report.diagnostics.insert("elbo".into(), number(fit.elbo));
    report
        .diagnostics
        .insert("pareto_k".into(), number(fit.pareto_k));
    report
        .diagnostics
        .insert("iterations".into(), json!(fit.iterations));
    report
        .diagnostics
        .insert("converged".into(), json!(fit.converged));
    report.diagnostics.insert(
        "stopped_by".into(),
        json!(if fit.interrupted {
            "interrupt"
        } else if fit.converged {
            "relative change"
        } else if settled {
            "iteration cap, ELBO flat within its noise"
        } else {
            "iteration cap"
        }),
    );
    report
        .diagnostics
        .insert("learning_rate".into(), number(fit.learning_rate));
    report
        .diagnostics
        .insert("interrupted".into(), json!(fit.interrupted));
    report.diagnostics.insert(
        "guide".into(),
        json!(match (family, point_params) {
            (_, Some(_)) => "mean-field, params as points (variational EM)",
            (GuideFamily::MeanField, None) => "mean-field",
            (GuideFamily::FullRank, None) => "full-rank",
        }),
    );
    Ok(report)
}
