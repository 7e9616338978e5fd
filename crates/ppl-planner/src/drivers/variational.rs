//! The ADVI driver: a Gaussian guide fitted by the ELBO engine (`ppl_infer::vi`) on the model's
//! unconstrained log density; the ELBO trace is the objective, the guide's draws are summarised
//! like a sampler's, and PSIS's Pareto k-hat says how far to trust them.

use ppl_infer::{GuideFamily, VariationalSettings};
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
    let given = |setting| settings.origin(setting) != Origin::Default;
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
        elbo_samples: settings.count(Setting::ElboSamples),
        max_iterations: if given(Setting::MaxIters) {
            settings.count(Setting::MaxIters)
        } else {
            DEFAULT_ITERATIONS
        },
        tol_rel_obj: settings.get(Setting::TolRelObj),
        learning_rate: given(Setting::LearningRate).then(|| settings.get(Setting::LearningRate)),
        num_draws: settings.count(Setting::Draws),
        seed,
        ..VariationalSettings::default()
    };
    let started = std::time::Instant::now();
    let fit = ppl_infer::fit_variational(&posterior.tape, &variational, control.stop).map_err(
        |error| {
            FitError::message(
                codes::METHOD_NOT_APPLICABLE,
                format!("ADVI failed: {error}"),
                FailureKind::InferenceFailed,
            )
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
    report.notes.push(format!(
        "{} after {} iterations (relative ELBO change below {}), Adam learning rate {}; {} draws from the guide",
        if fit.interrupted {
            "INTERRUPTED"
        } else if fit.converged {
            "converged"
        } else {
            "did NOT converge"
        },
        fit.iterations,
        settings.get(Setting::TolRelObj),
        format_number(fit.learning_rate),
        variational.num_draws
    ));
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
    if !fit.converged && !fit.interrupted {
        report.warnings.push(format!(
            "ADVI stopped at {} iterations before the ELBO settled: raise --max-iters",
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
    report
        .diagnostics
        .insert("learning_rate".into(), number(fit.learning_rate));
    report
        .diagnostics
        .insert("interrupted".into(), json!(fit.interrupted));
    report.diagnostics.insert(
        "guide".into(),
        json!(match family {
            GuideFamily::MeanField => "mean-field",
            GuideFamily::FullRank => "full-rank",
        }),
    );
    Ok(report)
}
