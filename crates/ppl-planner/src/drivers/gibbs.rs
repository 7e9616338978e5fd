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
//!
//! The same driver runs rule 7's random-walk Metropolis on a model with an unbounded `int`
//! ([`JointKernel::Metropolis`]): the Gibbs model's joint density
//! (`ppl_model::gibbs::JointDensity`) moved whole, integer steps on the discrete coordinates,
//! so its draws, columns and summary are the same as a Gibbs run's.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use ppl_infer::GibbsSettings;
use ppl_infer::mcmc::{DrawEvent, RunControl, SamplerSettings};
use ppl_model::gibbs::{GibbsModel, JointDensity};
use ppl_syntax::codes;
use serde_json::json;

use super::mcmc::{
    Draws, McmcOptions, Progress, WarningContext, record_sampled_extremes, warnings,
};
use crate::FitControl;
use crate::draws::{ChainWriter, sampler_totals, summarise};
use crate::error::{FailureKind, FitError};
use crate::report::{RunReport, number};

/// How the driver moves the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JointKernel {
    /// Gibbs sweeps over the model's blocks.
    Gibbs,
    /// Random-walk Metropolis on the joint density, integer steps on the discrete coordinates.
    Metropolis,
}

/// The chains either kernel returns, as far as the report needs them.
enum Sampled {
    Gibbs(Vec<ppl_infer::GibbsChain>),
    Metropolis(Vec<ppl_infer::RandomWalkChain>),
}

impl Sampled {
    fn outputs(&self) -> Vec<&ppl_infer::ChainOutput> {
        match self {
            Sampled::Gibbs(chains) => chains.iter().map(|c| &c.output).collect(),
            Sampled::Metropolis(chains) => chains.iter().map(|c| &c.output).collect(),
        }
    }
}

pub fn run(
    model: &GibbsModel,
    kernel: JointKernel,
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
    let (written, save_mask) = super::mcmc::written_columns(&model.columns, options.save.as_ref());
    let column_names: Vec<String> = written.iter().map(|c| c.csv.clone()).collect();
    let mut writers = Vec::new();
    if let Some(dir) = options.out {
        std::fs::create_dir_all(dir).map_err(|e| io_error(e, dir))?;
        for index in 0..options.chains {
            let id = options.chain_id + index as u64 + 1;
            let path = dir.join(format!("chain-{id}.csv"));
            let comments = vec![
                format!("model = {}", options.model_name),
                format!(
                    "method = sample ({})",
                    if kernel == JointKernel::Gibbs {
                        "gibbs"
                    } else {
                        "metropolis"
                    }
                ),
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
    // `y_rep` needs a random stream per chain, apart from the sampler's, so the draws are the
    // same with or without `--predict`.
    let replicate_rngs: Vec<Mutex<rand::rngs::ChaCha8Rng>> = (0..options.chains)
        .map(|index| {
            let chain = settings.chain_id_offset.wrapping_add(index as u64);
            Mutex::new(ppl_infer::mcmc::chains::chain_rng(
                settings.seed ^ 0x7265_706c_6963,
                chain,
            ))
        })
        .collect();
    let sink = |event: &DrawEvent<'_>| {
        if event.warmup {
            return;
        }
        let values = match replicate_rngs
            .get(event.chain_index)
            .and_then(|m| m.lock().ok())
        {
            Some(mut rng) => model.complete_row(event.position, &mut *rng),
            None => model.row(event.position),
        };
        let Ok(mut values) = values else {
            return;
        };
        if let Some(relabeller) = &options.relabel {
            relabeller.apply(&mut values);
        }
        if let Some(mask) = &save_mask {
            values = crate::selection::project(&values, mask);
        }
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
    let mut joint = JointDensity {
        model: model.clone(),
    };
    // Metropolis starts each chain where the density is finite: its own uniform draws would
    // put a count near 0, below the data it must reach.
    let initial: Vec<Option<Vec<f64>>> = match kernel {
        JointKernel::Gibbs => vec![None; options.chains],
        JointKernel::Metropolis => (0..options.chains)
            .map(|index| {
                let chain = settings.chain_id_offset.wrapping_add(index as u64);
                let mut rng =
                    ppl_infer::mcmc::chains::chain_rng(settings.seed ^ 0x5eed_1a7e, chain);
                joint.starting_point(settings.init_radius, settings.max_init_attempts, &mut rng)
            })
            .collect(),
    };
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
    let nuts = kernel == JointKernel::Gibbs && ppl_infer::uses_nuts(model, &gibbs);
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
        let result = match kernel {
            JointKernel::Gibbs => {
                ppl_infer::sample_chains_gibbs(model, &settings, &gibbs, &run_control)
                    .map(Sampled::Gibbs)
            }
            JointKernel::Metropolis => {
                let walk = ppl_infer::RandomWalkSettings {
                    integer_coordinates: joint.integer_coordinates(),
                    ..ppl_infer::RandomWalkSettings::default()
                };
                ppl_infer::sample_chains_random_walk(&joint, &settings, &walk, &run_control)
                    .map(Sampled::Metropolis)
            }
        };
        done.store(true, Ordering::SeqCst);
        result
    });
    let seconds = started.elapsed().as_secs_f64();
    let sampled = result.map_err(|error| super::mcmc::sampler_error(&error))?;
    let outputs = sampled.outputs();
    if let Some(failure) = write_failure.lock().ok().and_then(|mut f| f.take()) {
        return Err(FitError::message(
            codes::OUTPUT_UNWRITABLE,
            format!("cannot write draws: {failure}"),
            FailureKind::Usage,
        ));
    }
    let interrupted = outputs.iter().any(|o| o.interrupted);
    for (writer, output) in writers.iter().zip(&outputs) {
        let taken = writer.lock().ok().and_then(|mut w| w.take());
        if let Some(writer) = taken {
            let path = writer.path.clone();
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
        method: match kernel {
            JointKernel::Gibbs => "gibbs",
            JointKernel::Metropolis => "metropolis",
        }
        .into(),
        seconds,
        summary,
        ..RunReport::default()
    };
    report.notes.push(format!(
        "{} chain{} x ({} warmup + {} draws) {}, seed {}{}",
        options.chains,
        if options.chains == 1 { "" } else { "s" },
        options.warmup,
        options.draws,
        match kernel {
            JointKernel::Gibbs => "Gibbs sweeps",
            JointKernel::Metropolis => "random-walk Metropolis steps",
        },
        options.seed,
        if interrupted {
            "; INTERRUPTED: the summary uses the draws so far"
        } else {
            ""
        }
    ));
    // A model whose every continuous block is conjugate has nothing left for NUTS.
    let nuts = nuts
        && match &sampled {
            Sampled::Gibbs(chains_out) => chains_out.iter().any(|c| c.nuts_step_size.is_finite()),
            Sampled::Metropolis(_) => false,
        };
    let acceptance: Vec<f64> = match &sampled {
        Sampled::Gibbs(chains_out) => {
            gibbs_notes(model, chains_out, nuts, &mut report);
            chains_out.iter().map(|c| c.acceptance_rate).collect()
        }
        Sampled::Metropolis(chains_out) => {
            let acceptance: Vec<f64> = chains_out.iter().map(|c| c.acceptance_rate).collect();
            let dim = model.layout().dim + ppl_infer::ConditionalModel::discrete_dim(model);
            report.notes.push(format!(
                "random-walk Metropolis: acceptance rate per chain {} (the scale was adapted toward {}); integer steps on the discrete coordinates, up to ±{} in chain 1",
                acceptance
                    .iter()
                    .map(|a| format!("{a:.3}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if dim == 1 { "0.44" } else { "0.234" },
                chains_out
                    .first()
                    .map(|c| {
                        c.max_integer_steps
                            .iter()
                            .filter(|m| **m > 0)
                            .map(|m| m.to_string())
                            .collect::<Vec<_>>()
                            .join("/")
                    })
                    .unwrap_or_default()
            ));
            acceptance
        }
    };
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
    record_sampled_extremes(&mut report, &written);
    let switched = super::mcmc::label_switching_warnings(
        &written,
        &chains,
        &report.summary,
        options.relabel.as_ref(),
    );
    report.warnings = warnings(
        &report,
        &totals,
        &WarningContext {
            chains: options.chains,
            max_depth: u32::MAX,
            centred: &[],
        },
    );
    report.warnings.extend(switched);
    if let Some(dir) = options.out {
        report
            .notes
            .push(format!("draws: {}", dir.join("chain-*.csv").display()));
    }
    Ok((report, Draws { columns, chains }))
}

/// The Gibbs-only notes: how the discrete and conjugate blocks were drawn, and what moved the
/// rest.
fn gibbs_notes(
    model: &GibbsModel,
    chains_out: &[ppl_infer::GibbsChain],
    nuts: bool,
    report: &mut RunReport,
) {
    let blocks = if model.blocked() {
        "all discrete unknowns drawn in one block per sweep (elementwise, or a chain by forward-filtering backward-sampling)".to_string()
    } else {
        "discrete unknowns drawn one element at a time (single-site)".to_string()
    };
    report.notes.push(format!("Gibbs: {blocks}"));
    for (name, step) in model.integer_steps() {
        report.notes.push(format!(
            "Gibbs: `{name}` (unbounded) moved by a random walk on the integers, steps up to ±{step} after warmup (adapted toward 0.44 acceptance)"
        ));
    }
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
