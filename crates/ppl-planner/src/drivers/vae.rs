//! The VAE driver: the recognised spec and the settings → `ppl_infer::vae::fit_vae`; the ELBO
//! per row per epoch is the objective trace, the train and held-out bounds are diagnostics, and
//! the trained nets are saved as `OUT/generator.json` for `ppl sample`.

use ppl_infer::vae::{Bounds, VaeSettings, fit_vae};
use ppl_model::generative::vae::{VaeSpec, problem};
use ppl_syntax::codes;
use serde_json::json;

use crate::FitOptions;
use crate::error::{FailureKind, FitError};
use crate::generative::GENERATOR_FILE;
use crate::generative::vae::SavedVae;
use crate::report::{RunReport, format_number, number, write_atomically};
use crate::settings::{Setting, Settings};

pub fn run(
    spec: &VaeSpec,
    settings: &Settings,
    options: &FitOptions<'_>,
) -> Result<RunReport, FitError> {
    let holdout = settings.count(Setting::Holdout);
    if holdout >= spec.rows {
        return Err(FitError::message(
            codes::BAD_SETTING,
            format!(
                "--holdout {holdout} leaves none of the {} rows to train on",
                spec.rows
            ),
            FailureKind::Usage,
        ));
    }
    let vae_settings = VaeSettings {
        epochs: settings.count(Setting::Epochs),
        batch_size: settings.count(Setting::BatchSize),
        learning_rate: settings.get(Setting::LearningRate),
        elbo_samples: settings.count(Setting::ElboSamples),
        iwae_samples: settings.count(Setting::IwaeSamples),
        seed: settings.whole(Setting::Seed),
    };
    let started = std::time::Instant::now();
    let fit =
        fit_vae(&problem(spec, holdout), &vae_settings, options.control.stop).map_err(|error| {
            FitError::message(
                codes::METHOD_NOT_APPLICABLE,
                format!("VAE training failed: {error}"),
                FailureKind::InferenceFailed,
            )
        })?;
    let seconds = started.elapsed().as_secs_f64();
    let mut report = RunReport {
        method: "vae".into(),
        seconds,
        objective: fit.trace.clone(),
        objective_name: "ELBO per row (nats), mean over each epoch's minibatches".into(),
        ..RunReport::default()
    };
    let k = vae_settings.iwae_samples;
    let describe = |what: &str, bounds: &Bounds| {
        format!(
            "{what}: ELBO {} ± {} (Monte Carlo standard error), IWAE-{k} bound {}, in nats per row",
            format_number(bounds.elbo),
            format_number(bounds.elbo_mcse),
            format_number(bounds.iwae)
        )
    };
    report.notes.push(format!(
        "{} {} epochs over {} rows (batch {}, Adam learning rate {}, {} ELBO draw{} per row) in {:.2} s",
        if fit.interrupted { "INTERRUPTED after" } else { "trained" },
        fit.epochs,
        spec.rows - holdout,
        vae_settings.batch_size,
        format_number(vae_settings.learning_rate),
        vae_settings.elbo_samples,
        if vae_settings.elbo_samples == 1 { "" } else { "s" },
        fit.training_seconds
    ));
    if let (ppl_infer::vae::VaeLikelihood::LearnedNormal { .. }, Some(sigma)) =
        (spec.likelihood, fit.sigma)
    {
        report.notes.push(format!(
            "the Normal likelihood's sd is a param, learned with the nets on the same ELBO: {}",
            format_number(sigma)
        ));
        report.diagnostics.insert("sigma".into(), number(sigma));
    }
    report.notes.push(describe("training rows", &fit.train));
    match &fit.test {
        Some(test) => report
            .notes
            .push(describe(&format!("the {holdout} held-out rows"), test)),
        None => report
            .notes
            .push("no held-out rows (--holdout 0): no test bound".to_string()),
    }
    let bounds_json = |bounds: &Bounds| json!({"elbo": number(bounds.elbo), "elbo_mcse": number(bounds.elbo_mcse), "iwae": number(bounds.iwae)});
    let diagnostics = &mut report.diagnostics;
    diagnostics.insert("train".into(), bounds_json(&fit.train));
    diagnostics.insert(
        "test".into(),
        fit.test
            .as_ref()
            .map_or(serde_json::Value::Null, bounds_json),
    );
    diagnostics.insert("iwae_samples".into(), json!(k));
    diagnostics.insert("epochs".into(), json!(fit.epochs));
    diagnostics.insert("holdout".into(), json!(holdout));
    diagnostics.insert("training_seconds".into(), number(fit.training_seconds));
    diagnostics.insert("interrupted".into(), json!(fit.interrupted));
    if let Some(dir) = options.out {
        let saved = SavedVae::new(spec, &fit, holdout);
        let text = serde_json::to_string(&saved).map_err(|error| {
            FitError::message(
                codes::OUTPUT_UNWRITABLE,
                format!("cannot encode the trained VAE: {error}"),
                FailureKind::Usage,
            )
        })?;
        std::fs::create_dir_all(dir)
            .and_then(|_| write_atomically(&dir.join(GENERATOR_FILE), text.as_bytes()))
            .map_err(|error| FitError::cannot_write(dir, &error))?;
        report.notes.push(format!(
            "the trained nets are in {}: `ppl sample {}` draws new rows from them",
            dir.join(GENERATOR_FILE).display(),
            dir.display()
        ));
    } else {
        report
            .notes
            .push("give --out DIR to save the trained nets for `ppl sample DIR`".into());
    }
    Ok(report)
}
