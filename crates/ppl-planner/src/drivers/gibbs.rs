//! The Gibbs driver: `ppl_infer::sample_chains_gibbs` on the model's conditionals
//! (`ppl_model::gibbs::GibbsModel`), chains in parallel with draws streamed to CmdStan-layout
//! files, and the same summary and warnings as the other samplers.
//!
//! The sampler columns keep CmdStan's names so every reader of draws files works. With
//! NUTS-within-Gibbs they are NUTS' own for the non-conjugate block (`accept_stat__`,
//! `stepsize__`, `treedepth__`, `n_leapfrog__`, `divergent__`); with the random walk
//! `accept_stat__` is the mean acceptance of the sweep's random-walk steps (1 when every
//! continuous block was drawn exactly), `stepsize__` the random walk's scale, `n_leapfrog__` the
//! number of random-walk steps, and `treedepth__`, `divergent__` are 0. The per-chain lines give
//! neither E-BFMI nor a random walk's scale, which say nothing about a Gibbs sweep.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use ppl_infer::GibbsSettings;
use ppl_infer::mcmc::{DrawEvent, RunControl, SamplerSettings};
use ppl_model::gibbs::GibbsModel;
use ppl_syntax::codes;
use serde_json::json;

use super::mcmc::{
    Draws, McmcOptions, Progress, WarningContext, record_sampled_extremes, warnings,
};
use crate::FitControl;
use crate::draws::{ChainWriter, sampler_totals, summarise};
use crate::error::{FailureKind, FitError};
use crate::report::{RunReport, number};

pub fn run(
    model: &GibbsModel,
    options: &McmcOptions<'_>,
    control: &FitControl<'_>,
) -> Result<(RunReport, Draws), FitError> {
    let local_stop = AtomicBool::new(false);
    let stop = control.stop.unwrap_or(&local_stop);
    let settings = SamplerSettings {
        num_warmup: options.warmup,
        num_draws: options.draws,
        num_chains: options.chains,
        seed: options.seed,
        chain_id_offset: options.chain_id,
        max_depth: if options.max_depth > 0 {
            options.max_depth
        } else {
            SamplerSettings::default().max_depth
        },
        target_accept: if options.target_accept > 0.0 && options.target_accept < 1.0 {
            options.target_accept
        } else {
            SamplerSettings::default().target_accept
        },
        ..SamplerSettings::default()
    };
    let io_error = |e: std::io::Error, path: &std::path::Path| FitError::cannot_write(path, &e);
    let column_names: Vec<String> = model.columns.iter().map(|c| c.csv.clone()).collect();
    let mut writers = Vec::new();
    if let Some(dir) = options.out {
        std::fs::create_dir_all(dir).map_err(|e| io_error(e, dir))?;
        for index in 0..options.chains {
            let id = options.chain_id + index as u64 + 1;
            let path = dir.join(format!("chain-{id}.csv"));
            let comments = vec![
                format!("model = {}", options.model_name),
                "method = sample (gibbs)".to_string(),
                format!("num_samples = {}", options.draws),
                format!("num_warmup = {}", options.warmup),
                format!("chain_id = {id}"),
                format!("seed = {}", options.seed),
            ];
            let writer = ChainWriter::create(&path, &comments, &column_names)
                .map_err(|e| io_error(e, &path))?;
            writers.push(Mutex::new(Some(writer)));
        }
    }
    let rows: Vec<Mutex<Vec<Vec<f64>>>> = (0..options.chains)
        .map(|_| Mutex::new(Vec::new()))
        .collect();
    let write_failure: Mutex<Option<String>> = Mutex::new(None);
    let divergences: Vec<AtomicUsize> = (0..options.chains).map(|_| AtomicUsize::new(0)).collect();
    let sink = |event: &DrawEvent<'_>| {
        if event.warmup {
            return;
        }
        let Ok(values) = model.row(event.position) else {
            return;
        };
        let s = event.stats;
        let sampler = [
            s.lp,
            s.accept_stat,
            s.step_size,
            f64::from(s.tree_depth),
            f64::from(s.n_leapfrog),
            f64::from(u8::from(s.divergent)),
            s.energy,
        ];
        if let Some(writer) = writers.get(event.chain_index)
            && let Ok(mut guard) = writer.lock()
            && let Some(writer) = guard.as_mut()
            && let Err(error) = writer.write_draw(&sampler, &values)
        {
            if let Ok(mut failure) = write_failure.lock() {
                *failure = Some(format!("{}: {error}", writer.path.display()));
            }
            stop.store(true, Ordering::SeqCst);
        }
        let mut row = sampler.to_vec();
        row.extend(values);
        if let Some(Ok(mut chain)) = rows.get(event.chain_index).map(|m| m.lock()) {
            chain.push(row);
        }
    };
    let progress: Vec<AtomicUsize> = (0..options.chains).map(|_| AtomicUsize::new(0)).collect();
    let initial: Vec<Option<Vec<f64>>> = vec![None; options.chains];
    let run_control = RunControl {
        initial_positions: &initial,
        stop: Some(stop),
        progress: Some(&progress),
        draw_sink: Some(&sink),
    };
    let started = Instant::now();
    let done = AtomicBool::new(false);
    let total = options.warmup + options.draws;
    let gibbs = GibbsSettings::default();
    let nuts = ppl_infer::uses_nuts(model, &gibbs);
    let result = std::thread::scope(|scope| {
        if let Some(monitor) = control.monitor {
            let progress = Progress {
                iterations: &progress,
                total_per_chain: total,
                warmup_per_chain: options.warmup,
                divergences: &divergences,
                done: &done,
            };
            scope.spawn(move || monitor(&progress));
        }
        let result = ppl_infer::sample_chains_gibbs(model, &settings, &gibbs, &run_control);
        done.store(true, Ordering::SeqCst);
        result
    });
    let seconds = started.elapsed().as_secs_f64();
    let chains_out = result.map_err(|error| super::mcmc::sampler_error(&error))?;
    if let Some(failure) = write_failure.lock().ok().and_then(|mut f| f.take()) {
        return Err(FitError::message(
            codes::OUTPUT_UNWRITABLE,
            format!("cannot write draws: {failure}"),
            FailureKind::Usage,
        ));
    }
    let interrupted = chains_out.iter().any(|c| c.output.interrupted);
    for (writer, chain) in writers.iter().zip(&chains_out) {
        let taken = writer.lock().ok().and_then(|mut w| w.take());
        if let Some(writer) = taken {
            let path = writer.path.clone();
            let output = &chain.output;
            let comments = vec![
                String::new(),
                format!(
                    " Elapsed Time: {:.3} seconds (Warm-up)",
                    output.warmup_seconds
                ),
                format!(
                    "               {:.3} seconds (Sampling)",
                    output.sampling_seconds
                ),
                format!(
                    "               {:.3} seconds (Total)",
                    output.warmup_seconds + output.sampling_seconds
                ),
            ];
            writer.finish(&comments).map_err(|e| io_error(e, &path))?;
        }
    }
    let chains: Vec<Vec<Vec<f64>>> = rows
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_default())
        .collect();
    let mut columns: Vec<String> = crate::draws::SAMPLER_COLUMNS
        .iter()
        .map(|s| s.to_string())
        .collect();
    columns.extend(column_names);
    let summary = summarise(&columns, &chains);
    let mut totals = sampler_totals(&chains, u32::MAX);
    totals.ebfmi.clear();
    let mut report = RunReport {
        method: "gibbs".into(),
        seconds,
        summary,
        ..RunReport::default()
    };
    report.notes.push(format!(
        "{} chain{} x ({} warmup + {} draws) Gibbs sweeps, seed {}{}",
        options.chains,
        if options.chains == 1 { "" } else { "s" },
        options.warmup,
        options.draws,
        options.seed,
        if interrupted {
            "; INTERRUPTED: the summary uses the draws so far"
        } else {
            ""
        }
    ));
    let blocks = if model.blocked() {
        "all discrete unknowns drawn in one block per sweep (elementwise, or a chain by forward-filtering backward-sampling)".to_string()
    } else {
        "discrete unknowns drawn one element at a time (single-site)".to_string()
    };
    report.notes.push(format!("Gibbs: {blocks}"));
    for (index, block) in model.conjugate.iter().enumerate() {
        let exact: usize = chains_out
            .iter()
            .map(|c| c.conjugate_draws.get(index).copied().unwrap_or(0))
            .sum();
        let sweeps: usize = chains_out.iter().map(|c| c.output.stats.len()).sum();
        report.notes.push(format!(
            "Gibbs: `{}` drawn from its {} full conditional in {exact} of {sweeps} sweeps",
            block.name,
            block.family.describe()
        ));
    }
    if nuts {
        let divergences: usize = chains_out.iter().map(|c| c.nuts_divergences).sum();
        report.notes.push(format!(
            "Gibbs: NUTS-within-Gibbs for the other continuous coordinates, step size per chain {}, {divergences} divergent",
            chains_out
                .iter()
                .map(|c| format!("{:.3}", c.nuts_step_size))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let acceptance: Vec<f64> = chains_out.iter().map(|c| c.acceptance_rate).collect();
    if acceptance.iter().any(|a| a.is_finite()) {
        report.notes.push(format!(
            "Gibbs: random-walk Metropolis for the other continuous coordinates, acceptance per chain {}",
            acceptance
                .iter()
                .map(|a| format!("{a:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    report.diagnostics.insert(
        "acceptance_rate".into(),
        json!(acceptance.iter().map(|v| number(*v)).collect::<Vec<_>>()),
    );
    totals.describe(&mut report);
    let details = crate::draws::chain_details(&chains, u32::MAX);
    let chain_ids: Vec<u64> = (0..options.chains as u64)
        .map(|index| options.chain_id + index + 1)
        .collect();
    describe_chains(&details, &chain_ids, nuts, &mut report);
    report
        .diagnostics
        .insert("interrupted".into(), json!(interrupted));
    record_sampled_extremes(&mut report, &model.columns);
    report.warnings = warnings(
        &report,
        &totals,
        &WarningContext {
            chains: options.chains,
            max_depth: u32::MAX,
            centred: &[],
        },
    );
    if let Some(dir) = options.out {
        report
            .notes
            .push(format!("draws: {}", dir.join("chain-*.csv").display()));
    }
    Ok((report, Draws { columns, chains }))
}

/// One line per chain for the table and a `per_chain` array for the JSON: the mean `lp__`, and
/// with NUTS-within-Gibbs its step size and divergences. No E-BFMI and no random-walk scale:
/// neither means anything for a Gibbs sweep.
fn describe_chains(
    details: &[crate::draws::ChainDetail],
    chain_ids: &[u64],
    nuts: bool,
    report: &mut RunReport,
) {
    use crate::report::format_number;
    let mut per_chain = Vec::new();
    for (index, detail) in details.iter().enumerate() {
        let chain_id = chain_ids.get(index).copied().unwrap_or(index as u64 + 1);
        let line = if nuts {
            format!(
                "chain {chain_id}: mean lp__ {}, NUTS step size {}, {} divergent",
                format_number(detail.mean_lp),
                format_number(detail.mean_step_size),
                detail.divergences
            )
        } else {
            format!(
                "chain {chain_id}: mean lp__ {}",
                format_number(detail.mean_lp)
            )
        };
        report.notes.push(line);
        let mut entry = json!({ "chain_id": chain_id, "mean_lp": number(detail.mean_lp) });
        if nuts {
            entry["mean_step_size"] = json!(number(detail.mean_step_size));
            entry["divergences"] = json!(detail.divergences);
        }
        per_chain.push(entry);
    }
    report
        .diagnostics
        .insert("per_chain".into(), serde_json::Value::Array(per_chain));
}
