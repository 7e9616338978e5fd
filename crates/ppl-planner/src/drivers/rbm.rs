//! The contrastive-divergence driver: the RBM the model layer recognised goes to
//! `ppl_infer::energy::fit_rbm`; the report carries the exact pseudo-log-likelihood per epoch as
//! its objective, the AIS estimate of the log-likelihood with its standard error, and the trained
//! parameters; `OUT/generator.json` keeps them for `ppl sample`.

use ppl_infer::energy::{AisSettings, CdSettings, RbmProblem, fit_rbm};
use ppl_model::generative::rbm::{self, RbmSpec};
use ppl_syntax::codes;
use serde_json::json;

use crate::FitOptions;
use crate::error::{FailureKind, FitError};
use crate::generative::rbm::{SavedRbm, square_image};
use crate::load::LoadedModel;
use crate::report::{RunReport, format_number, number};
use crate::settings::{Origin, Setting, Settings};

/// Without `epochs`, `batch_size` or `lr` given, CD uses scikit-learn's BernoulliRBM scale
/// (its batch 10; 20 epochs; 0.06), not the table's defaults for Adam-trained networks.
const DEFAULT_EPOCHS: usize = 20;
const DEFAULT_BATCH: usize = 10;
const DEFAULT_LEARNING_RATE: f64 = 0.06;
/// More estimates than this are left to `generator.json` rather than printed.
const MAX_REPORTED_ESTIMATES: usize = 200;

pub(crate) fn run(
    options: &FitOptions<'_>,
    settings: &Settings,
    loaded: &LoadedModel,
    spec: &RbmSpec,
) -> Result<RunReport, FitError> {
    let given = |setting| settings.origin(setting) != Origin::Default;
    let seed = settings.whole(Setting::Seed);
    let cd = CdSettings {
        epochs: if given(Setting::Epochs) {
            settings.count(Setting::Epochs)
        } else {
            DEFAULT_EPOCHS
        },
        batch_size: if given(Setting::BatchSize) {
            settings.count(Setting::BatchSize)
        } else {
            DEFAULT_BATCH
        },
        learning_rate: if given(Setting::LearningRate) {
            settings.get(Setting::LearningRate)
        } else {
            DEFAULT_LEARNING_RATE
        },
        momentum: settings.get(Setting::Momentum),
        weight_decay: settings.get(Setting::WeightDecay),
        gibbs_steps: settings.count(Setting::GibbsSteps),
        seed,
        trace: true,
        ais: AisSettings {
            seed,
            ..AisSettings::default()
        },
    };
    let problem = RbmProblem {
        data: &spec.data,
        rows: spec.rows,
        visible: spec.visible,
        hidden: spec.hidden,
    };
    let fit = fit_rbm(&problem, &cd, options.control.stop).map_err(|error| {
        FitError::message(
            codes::METHOD_NOT_APPLICABLE,
            format!("contrastive divergence failed: {error}"),
            FailureKind::InferenceFailed,
        )
    })?;
    let model = &loaded.model;
    let estimates = rbm::estimates(
        model,
        spec,
        &fit.rbm.weights,
        &fit.rbm.visible_bias,
        &fit.rbm.hidden_bias,
    );
    let mut report = RunReport {
        method: "cd".into(),
        seconds: fit.train_seconds + fit.objective_seconds + fit.ais_seconds,
        objective: fit.trace.clone(),
        objective_name: format!(
            "pseudo-log-likelihood per row (exact: all {} bit flips)",
            spec.visible
        ),
        ..RunReport::default()
    };
    let batches = spec.rows.div_ceil(cd.batch_size.max(1));
    report.notes.push(format!(
        "{}PCD-{}: {} epoch{} of {batches} minibatches of {} ({} persistent chains), learning rate {}, momentum {}, weight decay {}",
        if fit.interrupted { "INTERRUPTED: " } else { "" },
        cd.gibbs_steps,
        fit.epochs,
        if fit.epochs == 1 { "" } else { "s" },
        cd.batch_size,
        cd.batch_size,
        format_number(cd.learning_rate),
        format_number(cd.momentum),
        format_number(cd.weight_decay),
    ));
    report.notes.push(format!(
        "pseudo-log-likelihood per row {} (exact, all {} flips; scikit-learn's score_samples estimates it from one random flip)",
        format_number(fit.pseudo_log_likelihood),
        spec.visible
    ));
    if let Some(ais) = &fit.ais {
        report.notes.push(format!(
            "log-likelihood per row by AIS {} ± {} (log Z {} ± {}, {} runs × {} temperatures from the base-rate RBM; the ± is one standard error)",
            format_number(ais.log_likelihood_per_row),
            format_number(ais.standard_error),
            format_number(ais.log_partition),
            format_number(ais.standard_error),
            ais.runs,
            ais.temperatures
        ));
        report
            .diagnostics
            .insert("ais_log_z".into(), number(ais.log_partition));
        report
            .diagnostics
            .insert("ais_log_z_se".into(), number(ais.standard_error));
        report.diagnostics.insert(
            "ais_loglik_per_row".into(),
            number(ais.log_likelihood_per_row),
        );
        report
            .diagnostics
            .insert("ais_runs".into(), json!(ais.runs));
        report
            .diagnostics
            .insert("ais_temperatures".into(), json!(ais.temperatures));
    }
    report.diagnostics.insert(
        "pseudo_loglik_per_row".into(),
        number(fit.pseudo_log_likelihood),
    );
    report
        .diagnostics
        .insert("epochs".into(), json!(fit.epochs));
    report
        .diagnostics
        .insert("interrupted".into(), json!(fit.interrupted));
    report
        .diagnostics
        .insert("train_seconds".into(), number(fit.train_seconds));
    report
        .diagnostics
        .insert("objective_seconds".into(), number(fit.objective_seconds));
    report
        .diagnostics
        .insert("ais_seconds".into(), number(fit.ais_seconds));
    report.diagnostics.insert(
        "units".into(),
        json!({"visible": spec.visible, "hidden": spec.hidden, "rows": spec.rows}),
    );
    if estimates.len() <= MAX_REPORTED_ESTIMATES {
        report.estimates = estimates;
    } else {
        report.notes.push(format!(
            "{} parameter values, not listed here (the saved RBM holds them)",
            estimates.len()
        ));
    }
    match options.out {
        Some(dir) => {
            let saved = SavedRbm {
                rbm: fit.rbm.clone(),
                columns: spec.columns.clone(),
                image: square_image(spec.visible),
            };
            let text = serde_json::to_string(&saved.to_json())
                .map_err(|e| FitError::cannot_write(dir, &std::io::Error::other(e)))?;
            std::fs::create_dir_all(dir)
                .and_then(|_| {
                    crate::report::write_atomically(&dir.join("generator.json"), text.as_bytes())
                })
                .map_err(|e| FitError::cannot_write(dir, &e))?;
            report.notes.push(format!(
                "the trained RBM is in {}: `ppl sample {}` draws new rows from it",
                dir.join("generator.json").display(),
                dir.display()
            ));
        }
        None => report
            .notes
            .push("give --out DIR to save the trained RBM for `ppl sample DIR`".into()),
    }
    Ok(report)
}
