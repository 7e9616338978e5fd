//! The EM driver: the mixture the model layer recognised goes to `ppl_infer::em`, and the fit
//! comes back as named estimates, the objective trace, BIC and, on request, each point's
//! component probabilities (`OUT/responsibilities.csv`).

use std::time::Instant;

use ppl_model::BoundData;
use ppl_model::mixture::{self, MixtureSpec};
use ppl_syntax::codes;
use serde_json::json;

use crate::FitOptions;
use crate::error::{FailureKind, FitError};
use crate::load::LoadedModel;
use crate::report::{RunReport, format_number};
use crate::settings::{Setting, Settings};

pub(crate) fn run(
    options: &FitOptions<'_>,
    settings: &Settings,
    loaded: &LoadedModel,
    bound: &BoundData,
    spec: &MixtureSpec,
) -> Result<RunReport, FitError> {
    let model = &loaded.model;
    let restarts = settings.count(Setting::Restarts);
    let max_iters = settings.count(Setting::MaxIters);
    let tol = settings.get(Setting::Tol);
    let reg_covar = settings.get(Setting::RegCovar);
    let problem = mixture::problem(model, bound, spec);
    let em_settings = ppl_infer::em::EmSettings {
        restarts,
        max_iterations: max_iters,
        tolerance: tol,
        covariance_regularisation: reg_covar,
        seed: settings.whole(Setting::Seed),
        keep_responsibilities: options.keep_responsibilities,
    };
    let started = Instant::now();
    let stop = options.control.stop;
    let fit = ppl_infer::em::fit_mixture_until(&problem, &em_settings, stop).map_err(|error| {
        FitError::message(
            codes::METHOD_NOT_APPLICABLE,
            format!("EM failed: {error}"),
            FailureKind::InferenceFailed,
        )
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let n = problem.n as f64;
    let mut report = RunReport {
        method: "em".into(),
        seconds,
        estimates: mixture::estimates(model, spec, &fit),
        objective: fit.trace.clone(),
        // The trace is the objective EM maximised, which includes the --reg-covar penalty; it is
        // called penalised only where the penalty shows at the precision printed.
        objective_name: if format_number(fit.objective) != format_number(fit.log_likelihood) {
            format!(
                "log-likelihood penalised by --reg-covar (unpenalised: {})",
                format_number(fit.log_likelihood)
            )
        } else {
            "log-likelihood".into()
        },
        ..RunReport::default()
    };
    report.notes.push(format!(
        "{} after {} iteration{} (tolerance {:e} on the mean log-likelihood per point); best of {} start{}",
        if fit.converged { "converged" } else { "did NOT converge" },
        fit.iterations,
        if fit.iterations == 1 { "" } else { "s" },
        tol,
        restarts,
        if restarts == 1 { "" } else { "s" },
    ));
    report.notes.push(format!(
        "log-likelihood per point {}, BIC {}",
        format_number(fit.log_likelihood / n),
        format_number(fit.bic)
    ));
    report
        .warnings
        .extend(collapsed_components(&fit, problem.n, reg_covar));
    if fit.interrupted {
        report
            .notes
            .push("INTERRUPTED: the estimates are those of the last completed iteration".into());
        // Only an interrupted fit carries the key, so complete runs' JSON is unchanged.
        report.diagnostics.insert("interrupted".into(), json!(true));
    } else if !fit.converged {
        report.warnings.push(format!(
            "EM stopped at --max-iters {} before converging: raise --max-iters or loosen --tol",
            max_iters
        ));
    }
    report.diagnostics.insert(
        "log_likelihood".into(),
        crate::report::number(fit.log_likelihood),
    );
    report.diagnostics.insert(
        "log_likelihood_per_point".into(),
        crate::report::number(fit.log_likelihood / n),
    );
    report
        .diagnostics
        .insert("bic".into(), crate::report::number(fit.bic));
    report
        .diagnostics
        .insert("iterations".into(), json!(fit.iterations));
    report
        .diagnostics
        .insert("converged".into(), json!(fit.converged));
    report.diagnostics.insert(
        "restarts".into(),
        json!(
            fit.restarts
                .iter()
                .map(|v| crate::report::number(*v))
                .collect::<Vec<_>>()
        ),
    );
    report
        .diagnostics
        .insert("parameter_count".into(), json!(fit.parameter_count));
    if let (Some(responsibilities), Some(dir)) = (&fit.responsibilities, options.out) {
        let k = spec.components;
        let mut text = (1..=k)
            .map(|c| format!("component.{c}"))
            .collect::<Vec<_>>()
            .join(",");
        text.push('\n');
        for row in responsibilities.chunks(k) {
            let cells: Vec<String> = row.iter().map(|v| format!("{v}")).collect();
            text.push_str(&cells.join(","));
            text.push('\n');
        }
        std::fs::create_dir_all(dir)
            .and_then(|_| {
                crate::report::write_atomically(&dir.join("responsibilities.csv"), text.as_bytes())
            })
            .map_err(|e| FitError::cannot_write(dir, &e))?;
    } else if options.keep_responsibilities {
        report
            .warnings
            .push("--responsibilities writes OUT/responsibilities.csv: give --out DIR".into());
    }
    Ok(report)
}

/// Components that collapsed: fewer than two points' worth of weight, or a variance at the
/// --reg-covar floor. There the likelihood is unbounded, so the fit is a degenerate optimum, not
/// an estimate.
fn collapsed_components(fit: &ppl_infer::EmFit, n: usize, reg_covar: f64) -> Vec<String> {
    use ppl_infer::BlockEstimates;
    let floor = 10.0 * reg_covar.max(1e-12);
    let mut out = Vec::new();
    for (k, weight) in fit.weights.iter().enumerate() {
        let points = weight * n as f64;
        let smallest_variance = fit
            .blocks
            .iter()
            .filter_map(|block| match block {
                BlockEstimates::Normal { sds, .. } => sds.get(k).map(|s| s * s),
                BlockEstimates::MvNormal { covariances, .. } => covariances.get(k).map(|c| {
                    let dim = (c.len() as f64).sqrt() as usize;
                    (0..dim)
                        .map(|i| c[i * dim + i])
                        .fold(f64::INFINITY, f64::min)
                }),
                _ => None,
            })
            .fold(f64::INFINITY, f64::min);
        if points < 2.0 || smallest_variance <= floor {
            out.push(format!(
                "[{}] component {} has collapsed (about {:.1} points, smallest variance {}): the likelihood is unbounded there, so this is a degenerate optimum; try more --restarts, fewer components, or priors with --method nuts",
                codes::EM_COMPONENT_COLLAPSED,
                k + 1,
                points,
                format_number(smallest_variance)
            ));
        } else if let Some((smallest, largest)) = covariance_spread(fit, k)
            && smallest <= floor.max(1e-10 * largest)
        {
            // The component's points span fewer dimensions than the covariance has: only the
            // regularisation keeps it invertible, and its density along the flat direction is
            // what the regularisation makes it.
            out.push(format!(
                "[{}] component {}'s covariance is singular (eigenvalues from {} to {}): its points lie in a lower-dimensional subspace (collinear or constant columns); drop or combine those columns, or raise --reg-covar",
                codes::EM_SINGULAR_COVARIANCE,
                k + 1,
                format_number(smallest),
                format_number(largest)
            ));
        }
    }
    out
}

/// The smallest and largest eigenvalue over component `k`'s full covariances, if it has any.
fn covariance_spread(fit: &ppl_infer::EmFit, k: usize) -> Option<(f64, f64)> {
    use ppl_infer::BlockEstimates;
    let mut spread: Option<(f64, f64)> = None;
    for block in &fit.blocks {
        let BlockEstimates::MvNormal { covariances, .. } = block else {
            continue;
        };
        let Some(covariance) = covariances.get(k) else {
            continue;
        };
        let dim = (covariance.len() as f64).sqrt() as usize;
        if dim * dim != covariance.len() || covariance.iter().any(|x| !x.is_finite()) {
            continue;
        }
        let eigenvalues =
            nalgebra::DMatrix::from_row_slice(dim, dim, covariance).symmetric_eigenvalues();
        let smallest = eigenvalues.iter().copied().fold(f64::INFINITY, f64::min);
        let largest = eigenvalues
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        spread = Some(match spread {
            Some((low, high)) => (low.min(smallest), high.max(largest)),
            None => (smallest, largest),
        });
    }
    spread
}
