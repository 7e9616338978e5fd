//! The GAN driver: a recognised implicit model (`ppl_model::generative::gan`) trained by the
//! adversarial engine (`ppl_infer::adversarial`). The objective trace is the generator's loss
//! per epoch (LANGUAGE.md §8), the critic's is in the diagnostics, and the trained nets are
//! saved as `OUT/generator.json` for `ppl sample`.

use ppl_infer::adversarial::{self, AdversarialSettings, NetDesign};
use ppl_model::generative::gan::{GanNet, GanSpec};
use ppl_syntax::codes;
use serde_json::json;

use crate::FitOptions;
use crate::error::{FailureKind, FitError};
use crate::generative::gan::saved_json;
use crate::report::{RunReport, format_number, number, write_atomically};
use crate::settings::{Origin, Setting, Settings};

/// The steps and epochs the settings ask for: `--steps` when given, else `--epochs` passes of
/// ⌈N/B⌉ steps.
pub fn schedule(rows: usize, settings: &Settings) -> (usize, usize) {
    let batch = settings.count(Setting::BatchSize).max(1);
    let steps_per_epoch = rows.div_ceil(batch).max(1);
    let steps = if settings.origin(Setting::Steps) != Origin::Default {
        settings.count(Setting::Steps)
    } else {
        settings
            .count(Setting::Epochs)
            .saturating_mul(steps_per_epoch)
    };
    (steps, steps_per_epoch)
}

pub fn run(
    spec: &GanSpec,
    settings: &Settings,
    options: &FitOptions<'_>,
) -> Result<RunReport, FitError> {
    let (steps, steps_per_epoch) = schedule(spec.rows, settings);
    let training = AdversarialSettings {
        steps,
        steps_per_epoch,
        batch_size: settings.count(Setting::BatchSize),
        learning_rate: settings.get(Setting::LearningRate),
        beta1: settings.get(Setting::Beta1),
        seed: settings.whole(Setting::Seed),
        ..AdversarialSettings::default()
    };
    let started = std::time::Instant::now();
    let fit = adversarial::train_gan(
        &spec.data,
        spec.columns,
        &design(&spec.generator),
        &design(&spec.critic),
        &training,
        options.control.stop,
    )
    .map_err(|error| {
        FitError::message(
            codes::METHOD_NOT_APPLICABLE,
            format!("adversarial training failed: {error}"),
            FailureKind::InferenceFailed,
        )
    })?;
    let seconds = started.elapsed().as_secs_f64();

    let mut report = RunReport {
        method: "gan".into(),
        seconds,
        objective: fit.trace.iter().map(|e| e.generator).collect(),
        objective_name: "generator loss (non-saturating, mean per epoch)".into(),
        ..RunReport::default()
    };
    let last = fit.trace.last().copied();
    report.notes.push(format!(
        "{} {} steps ({} epochs of {steps_per_epoch} steps), batch {}, Adam learning rate {}, beta1 {}",
        if fit.interrupted { "INTERRUPTED after" } else { "trained" },
        fit.steps,
        fit.trace.len(),
        training.batch_size,
        format_number(training.learning_rate),
        format_number(training.beta1),
    ));
    if let Some(last) = last {
        report.notes.push(format!(
            "last epoch: critic loss {}, generator loss {} (at the equilibrium where the critic cannot tell: 2 log 2 = 1.386 and log 2 = 0.693)",
            format_number(last.critic),
            format_number(last.generator)
        ));
    }
    let critic_trace: Vec<_> = fit.trace.iter().map(|e| number(e.critic)).collect();
    report
        .diagnostics
        .insert("critic_loss".into(), json!(critic_trace));
    report.diagnostics.insert("steps".into(), json!(fit.steps));
    report
        .diagnostics
        .insert("epochs".into(), json!(fit.trace.len()));
    report
        .diagnostics
        .insert("interrupted".into(), json!(fit.interrupted));
    if let Some(dir) = options.out {
        let saved = saved_json(&fit.generator, &fit.critic, &spec.column_names, &spec.data);
        let path = dir.join("generator.json");
        std::fs::create_dir_all(dir)
            .and_then(|()| write_atomically(&path, serde_json::to_string(&saved)?.as_bytes()))
            .map_err(|e| FitError::cannot_write(&path, &e))?;
        report.notes.push(format!(
            "the trained generator is saved in {}: `ppl sample {}` draws new rows",
            path.display(),
            dir.display()
        ));
    } else {
        report
            .notes
            .push("give --out DIR to save the trained generator for `ppl sample DIR`".into());
    }
    Ok(report)
}

fn design(net: &GanNet) -> NetDesign {
    NetDesign {
        sizes: net.sizes.clone(),
        activation: net.activation,
    }
}
