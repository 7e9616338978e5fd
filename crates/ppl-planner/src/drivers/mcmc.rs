//! The MCMC driver (NUTS and static HMC): chains in parallel with draws streamed to
//! CmdStan-layout files, a stop flag that keeps what was drawn, progress counters for a caller
//! to display, and the summary and plain-words warnings of LANGUAGE.md §8.

use std::path::Path;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use ppl_infer::mcmc::{DrawEvent, Kernel, RunControl, SamplerSettings};
use ppl_model::posterior::Posterior;
use ppl_syntax::codes;
use ppl_syntax::diagnostic::{backticked, backticked_preview};
use serde_json::json;

use crate::FitControl;
use crate::draws::{ChainWriter, sampler_totals, summarise};
use crate::error::{FailureKind, FitError};
use crate::report::{RunReport, number};

/// What the sampler needs from the settings.
pub struct McmcOptions<'a> {
    pub sampler: Sampler,
    pub chains: usize,
    pub warmup: usize,
    pub draws: usize,
    pub seed: u64,
    pub chain_id: u64,
    pub max_depth: u32,
    pub target_accept: f64,
    /// The metric asked for (`--metric`, `--dense`).
    pub metric: ppl_infer::mcmc::MetricKind,
    pub out: Option<&'a Path>,
    pub model_name: String,
    /// Initial values the model gives (`latent v: real = 1.5`), if any.
    pub initial: Option<ppl_model::posterior::InitialValues>,
    /// Latents whose prior scale depends on other unknowns: the usual cure for divergences is a
    /// non-centred form of these.
    pub centred: Vec<String>,
    /// `--relabel PARAM`: each draw relabelled by ordering PARAM before it is written.
    pub relabel: Option<ppl_model::relabel::Relabeller>,
    /// `--save`: the columns written (and kept in memory), after relabelling; `None` for all.
    pub save: Option<crate::selection::Selection>,
}

/// Which transition the chains make.
#[derive(Copy, Clone, Debug)]
pub enum Sampler {
    /// NUTS or static HMC.
    Hamiltonian(Kernel),
    /// Random-walk Metropolis with adapted proposal scales (no gradients).
    RandomWalk,
}

impl Sampler {
    pub fn name(self) -> &'static str {
        match self {
            Sampler::Hamiltonian(Kernel::Nuts) => "nuts",
            Sampler::Hamiltonian(Kernel::StaticHmc(_)) => "hmc",
            Sampler::RandomWalk => "metropolis",
        }
    }
}

/// How far each chain has got, for a caller that shows progress (the CLI's progress line).
pub struct Progress<'a> {
    /// Iterations done per chain, warmup included.
    pub iterations: &'a [AtomicUsize],
    /// Iterations each chain will do in all.
    pub total_per_chain: usize,
    /// Warmup iterations each chain does first.
    pub warmup_per_chain: usize,
    /// Divergent transitions so far per chain (after warmup).
    pub divergences: &'a [AtomicUsize],
    /// Set when sampling has ended.
    pub done: &'a AtomicBool,
}

/// The post-warmup draws of a run, as summarised: `columns` are the sampler columns then the
/// output columns (CSV names), and each chain is a list of rows in that order. The REPL
/// evaluates expressions over these.
#[derive(Clone, Debug)]
pub struct Draws {
    pub columns: Vec<String>,
    pub chains: Vec<Vec<Vec<f64>>>,
}

pub fn run(
    posterior: &Posterior,
    options: &McmcOptions<'_>,
    control: &FitControl<'_>,
) -> Result<(RunReport, Draws), FitError> {
    let local_stop = AtomicBool::new(false);
    let stop = control.stop.unwrap_or(&local_stop);
    let settings = SamplerSettings {
        kernel: match options.sampler {
            Sampler::Hamiltonian(kernel) => kernel,
            Sampler::RandomWalk => Kernel::Nuts,
        },
        num_warmup: options.warmup,
        num_draws: options.draws,
        num_chains: options.chains,
        seed: options.seed,
        chain_id_offset: options.chain_id,
        max_depth: options.max_depth,
        target_accept: options.target_accept,
        metric: options.metric,
        ..SamplerSettings::default()
    };
    let io_error = |e: std::io::Error, path: &Path| FitError::cannot_write(path, &e);
    let (written, save_mask) = written_columns(&posterior.columns, options.save.as_ref());
    let column_names: Vec<String> = written.iter().map(|c| c.csv.clone()).collect();
    let mut writers = Vec::new();
    if let Some(dir) = options.out {
        std::fs::create_dir_all(dir).map_err(|e| io_error(e, dir))?;
        for index in 0..options.chains {
            let id = options.chain_id + index as u64 + 1;
            let path = dir.join(format!("chain-{id}.csv"));
            let comments = vec![
                format!("model = {}", options.model_name),
                format!("method = sample ({})", options.sampler.name()),
                format!("num_samples = {}", options.draws),
                format!("num_warmup = {}", options.warmup),
                format!("max_depth = {}", options.max_depth),
                format!("delta = {}", options.target_accept),
                format!(
                    "metric = {}",
                    match options.metric {
                        ppl_infer::mcmc::MetricKind::Dense => "dense_e",
                        ppl_infer::mcmc::MetricKind::Stan => "diag_e",
                        other => other.name(),
                    }
                ),
                format!("chain_id = {id}"),
                format!("seed = {}", options.seed),
            ];
            let writer = ChainWriter::create(&path, &comments, &column_names)
                .map_err(|e| io_error(e, &path))?;
            writers.push(Mutex::new(Some(writer)));
        }
    }
    // The rows kept in memory are exactly the rows written, so the summary is computed from the
    // values in the files.
    let rows: Vec<Mutex<Vec<Vec<f64>>>> = (0..options.chains)
        .map(|_| Mutex::new(Vec::new()))
        .collect();
    let write_failure: Mutex<Option<String>> = Mutex::new(None);
    let divergences: Vec<AtomicUsize> = (0..options.chains).map(|_| AtomicUsize::new(0)).collect();
    // Summed-out discrete latents are drawn per draw from their conditionals, each chain with
    // its own copy of the posterior and its own random stream, so the draws do not depend on
    // thread scheduling.
    // Posterior predictive replicates need the random stream too.
    let predicts = posterior
        .workflow
        .as_ref()
        .is_some_and(|w| w.options.predict);
    let completers: Vec<Mutex<(Posterior, rand::rngs::ChaCha8Rng)>> =
        if posterior.summed.is_empty() && !predicts {
            Vec::new()
        } else {
            (0..options.chains)
                .map(|chain| {
                    Mutex::new((
                        posterior.clone(),
                        ppl_infer::mcmc::chains::chain_rng(
                            options.seed ^ 0xd15c_4e7e,
                            options.chain_id + chain as u64,
                        ),
                    ))
                })
                .collect()
        };
    let sink = |event: &DrawEvent<'_>| {
        if event.warmup {
            return;
        }
        if event.stats.divergent
            && let Some(count) = divergences.get(event.chain_index)
        {
            count.fetch_add(1, Ordering::Relaxed);
        }
        let values = match completers.get(event.chain_index) {
            Some(completer) => {
                let Ok(mut guard) = completer.lock() else {
                    return;
                };
                let (own, rng) = &mut *guard;
                own.complete_draw(event.position, rng).ok()
            }
            None => posterior.row(event.position).ok(),
        };
        let Some(mut values) = values else {
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
            if s.divergent { 1.0 } else { 0.0 },
            s.energy,
        ];
        if let Some(writer) = writers.get(event.chain_index)
            && let Some(writer) = writer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_mut()
            && let Err(error) = writer.write_draw(&sampler, &values)
        {
            *write_failure.lock().unwrap_or_else(PoisonError::into_inner) =
                Some(format!("{}: {error}", writer.path.display()));
            stop.store(true, Ordering::SeqCst);
        }
        let mut row = sampler.to_vec();
        row.extend(values);
        rows[event.chain_index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(row);
    };
    let progress: Vec<AtomicUsize> = (0..options.chains).map(|_| AtomicUsize::new(0)).collect();
    // Coordinates the model gives an initial value keep it; the others start uniform in (-2, 2)
    // on the unconstrained scale, as Stan does, from a stream of their own.
    let initial: Vec<Option<Vec<f64>>> = (0..options.chains)
        .map(|chain| {
            options.initial.as_ref().map(|init| {
                use rand::RngExt;
                let mut rng = ppl_infer::mcmc::chains::chain_rng(
                    options.seed ^ 0x5eed_1417,
                    options.chain_id + chain as u64,
                );
                init.position
                    .iter()
                    .zip(&init.fixed)
                    .map(|(value, fixed)| {
                        if *fixed {
                            *value
                        } else {
                            rng.random_range(-2.0..2.0)
                        }
                    })
                    .collect()
            })
        })
        .collect();
    let run_control = RunControl {
        initial_positions: &initial,
        stop: Some(stop),
        progress: Some(&progress),
        draw_sink: Some(&sink),
    };
    let started = Instant::now();
    let done = AtomicBool::new(false);
    let total = options.warmup + options.draws;
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
        let result = match options.sampler {
            Sampler::Hamiltonian(_) => {
                ppl_infer::sample_chains(&posterior.tape, &settings, &run_control)
                    .map(|outputs| (outputs, Vec::new()))
            }
            Sampler::RandomWalk => {
                let walk = ppl_infer::RandomWalkSettings::default();
                ppl_infer::sample_chains_random_walk(
                    &posterior.tape,
                    &settings,
                    &walk,
                    &run_control,
                )
                .map(|chains| {
                    let acceptance = chains.iter().map(|c| c.acceptance_rate).collect();
                    (chains.into_iter().map(|c| c.output).collect(), acceptance)
                })
            }
        };
        done.store(true, Ordering::SeqCst);
        result
    });
    let seconds = started.elapsed().as_secs_f64();
    let (outputs, acceptance): (Vec<ppl_infer::ChainOutput>, Vec<f64>) =
        result.map_err(|error| {
            super::nonfinite::explain_failed_start(
                sampler_error(&error),
                &posterior.tape,
                options.seed,
            )
        })?;
    if let Some(failure) = write_failure
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    {
        return Err(FitError::message(
            codes::OUTPUT_UNWRITABLE,
            format!("cannot write draws: {failure}"),
            FailureKind::Usage,
        ));
    }
    let interrupted = outputs.iter().any(|o| o.interrupted);
    for (writer, output) in writers.iter().zip(&outputs) {
        if let Some(writer) = writer.lock().unwrap_or_else(PoisonError::into_inner).take() {
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
        .map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
        .collect();
    let mut columns: Vec<String> = crate::draws::SAMPLER_COLUMNS
        .iter()
        .map(|s| s.to_string())
        .collect();
    columns.extend(column_names);
    let summary = summarise(&columns, &chains);
    let mut totals = sampler_totals(&chains, options.max_depth);
    // E-BFMI is a property of the momentum resampling: a random walk has none.
    let random_walk = matches!(options.sampler, Sampler::RandomWalk);
    if random_walk {
        totals.ebfmi.clear();
    }
    let mut report = RunReport {
        method: options.sampler.name().into(),
        seconds,
        summary,
        ..RunReport::default()
    };
    report.notes.push(format!(
        "{} chain{} x ({} warmup + {} draws), seed {}{}",
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
    let step_sizes: Vec<f64> = outputs.iter().map(|o| o.step_size).collect();
    if !random_walk {
        describe_adaptation(&mut report, &outputs, options);
    }
    if !acceptance.is_empty() {
        report.notes.push(format!(
            "random-walk Metropolis: acceptance rate per chain {} (the scale was adapted toward {})",
            acceptance
                .iter()
                .map(|a| format!("{a:.3}"))
                .collect::<Vec<_>>()
                .join(", "),
            if posterior.tape.layout().dim == 1 { "0.44" } else { "0.234" }
        ));
        report.diagnostics.insert(
            "acceptance_rate".into(),
            json!(acceptance.iter().map(|v| number(*v)).collect::<Vec<_>>()),
        );
    }
    totals.describe(&mut report);
    let mut details = crate::draws::chain_details(&chains, options.max_depth);
    if random_walk {
        details.iter_mut().for_each(|d| d.ebfmi = f64::NAN);
    }
    let chain_ids: Vec<u64> = (0..options.chains as u64)
        .map(|index| options.chain_id + index + 1)
        .collect();
    crate::draws::describe_chains(&details, &chain_ids, &mut report);
    report.diagnostics.insert(
        "step_size".into(),
        json!(step_sizes.iter().map(|v| number(*v)).collect::<Vec<_>>()),
    );
    report.diagnostics.insert(
        "warmup_divergences".into(),
        json!(outputs.iter().map(|o| o.warmup_divergences).sum::<usize>()),
    );
    report
        .diagnostics
        .insert("interrupted".into(), json!(interrupted));
    record_sampled_extremes(&mut report, &written);
    let switched =
        label_switching_warnings(&written, &chains, &report.summary, options.relabel.as_ref());
    report.warnings = warnings(
        &report,
        &totals,
        &WarningContext {
            chains: options.chains,
            max_depth: options.max_depth,
            centred: &options.centred,
        },
    );
    report.warnings.extend(switched);
    let metric_failures: usize = outputs.iter().map(|o| o.metric_failures).sum();
    if metric_failures > 0 {
        report.warnings.push(format!(
            "{metric_failures} warmup window{} could not update the metric (the estimated covariance was not positive definite); the previous metric was kept: the posterior may be degenerate or too few warmup draws fell in a window, consider more --warmup or a diagonal metric",
            if metric_failures == 1 { "" } else { "s" }
        ));
    }
    for output in &outputs {
        if let Some(source) = output.restarted_from {
            report.warnings.push(format!(
                "{}: chain {} ended warmup where the log density lay far below chain {source}'s (a region with no posterior mass: a crevice or a minor mode), so it was warmed up again from chain {source}'s position; the posterior may have local modes that trap a chain",
                codes::CHAIN_RESTARTED,
                output.chain_id
            ));
        }
    }
    if let Some(dir) = options.out {
        report
            .notes
            .push(format!("draws: {}", dir.join("chain-*.csv").display()));
    }
    Ok((report, Draws { columns, chains }))
}

/// The metric each chain ended warmup with, in words and JSON: which form, why, how long warmup
/// ran and how many gradients each phase cost.
fn describe_adaptation(
    report: &mut RunReport,
    outputs: &[ppl_infer::ChainOutput],
    options: &McmcOptions<'_>,
) {
    use ppl_infer::mcmc::{AdaptedMetric, MetricKind};
    let forms: Vec<(&str, usize, usize)> = outputs
        .iter()
        .map(|o| match &o.metric {
            AdaptedMetric::Diagonal(v) => ("diagonal", 0, v.len()),
            AdaptedMetric::Dense { dim, .. } => ("dense", *dim, *dim),
            AdaptedMetric::LowRank { scale, values, .. } if values.len() == scale.len() => {
                ("dense", values.len(), scale.len())
            }
            AdaptedMetric::LowRank { scale, values, .. } => ("low-rank", values.len(), scale.len()),
        })
        .collect();
    let Some(&(first_form, _, dim)) = forms.first() else {
        return;
    };
    let form = if forms.iter().all(|f| f.0 == first_form) {
        first_form
    } else {
        "mixed"
    };
    let ranks: Vec<usize> = forms.iter().map(|f| f.1).collect();
    // The linearity check of each chain's last window: above the limit the posterior is curved
    // and the small-model dense correction was withheld.
    let nonlinearity: Vec<f64> = outputs
        .iter()
        .filter_map(|o| o.warmup_nonlinearity)
        .collect();
    let limit = ppl_infer::mcmc::fisher::FisherSettings::default().max_nonlinearity;
    let curved = nonlinearity.iter().any(|share| *share > limit);
    let percent = |share: f64| format!("{:.0}%", 100.0 * share);
    let why = match options.metric {
        MetricKind::Auto if curved && form != "dense" => format!(
            "the posterior is curved: a linear fit of the gradients on the last warmup window's draws leaves {}–{} of their variance unexplained (0% for a Gaussian, {} allowed), so a window's covariance describes only where the chain was; only directions off by more than 100x were corrected ({} of {dim} per chain)",
            percent(nonlinearity.iter().copied().fold(f64::INFINITY, f64::min)),
            percent(nonlinearity.iter().copied().fold(0.0, f64::max)),
            percent(limit),
            ranks.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", ")
        ),
        MetricKind::Auto => match form {
            "diagonal" => "the draws and gradients of the last warmup window agree with a diagonal in every direction".to_string(),
            "dense" => format!("a small model ({dim} dimensions, at least two warmup draws per dimension): every direction where the diagonal was off by more than 25% was corrected"),
            _ => format!(
                "the diagonal was corrected in the directions where the draws and gradients disagree with it ({} of {dim} per chain)",
                ranks.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", ")
            ),
        },
        MetricKind::Diagonal => "asked for (--metric diag): the Fisher diagonal from draws and gradients".into(),
        MetricKind::LowRank => format!(
            "asked for (--metric low-rank): directions corrected per chain {}",
            ranks.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", ")
        ),
        MetricKind::Dense => "asked for (--metric dense or --dense): Stan's windowed covariance".into(),
        MetricKind::Stan => "asked for (--metric stan): Stan's windowed variances".into(),
    };
    report.notes.push(format!("metric: {form}: {why}"));
    let warmups: Vec<usize> = outputs.iter().map(|o| o.warmup_iterations).collect();
    let settled = outputs.iter().all(|o| o.warmup_settled);
    let warmup_gradients: u64 = outputs.iter().map(|o| o.warmup_gradients).sum();
    let sampling_gradients: u64 = outputs.iter().map(|o| o.sampling_gradients).sum();
    report.notes.push(format!(
        "warmup: {} iterations per chain{}; gradient evaluations: {warmup_gradients} in warmup, {sampling_gradients} in sampling",
        warmups
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        if settled && warmups.iter().any(|w| *w < options.warmup) {
            format!(
                " (the metric and step size settled; under a gradient-informed metric --warmup {} is a maximum)",
                options.warmup
            )
        } else {
            String::new()
        }
    ));
    report.diagnostics.insert(
        "metric".into(),
        json!({
            "asked": options.metric.name(),
            "form": form,
            "corrected_directions": ranks,
            "reason": why,
        }),
    );
    report
        .diagnostics
        .insert("warmup_iterations".into(), json!(warmups));
    report.diagnostics.insert(
        "gradient_evaluations".into(),
        json!({"warmup": warmup_gradients, "sampling": sampling_gradients}),
    );
}

/// W0014 for each vector unknown whose chains disagree on the labels (see
/// `ppl_model::relabel::label_switching`), and a note of what `--relabel` permuted. `summary`
/// holds the rows summarised from these draws, one per column: their R-hats are reused.
pub(super) fn label_switching_warnings(
    columns: &[ppl_model::posterior::OutputColumn],
    chains: &[Vec<Vec<f64>>],
    summary: &[crate::report::SummaryRow],
    relabel: Option<&ppl_model::relabel::Relabeller>,
) -> Vec<String> {
    let offset = crate::draws::SAMPLER_COLUMNS.len();
    let rhats: Vec<f64> = summary.iter().map(|row| row.stats.rhat).collect();
    ppl_model::relabel::label_switching_given(columns, chains, offset, Some(&rhats))
        .into_iter()
        .map(|(name, before, after)| {
            format!(
                "{}: the chains disagree on the labels of `{name}` (R-hat {before:.2} for its elements, {after:.2} once each draw's elements are sorted): a mixture's components switched labels between chains, so their means mix components. Relabel the draws with `--relabel {name}`{}, or declare `{name}: ordered[K]` in the model",
                codes::LABEL_SWITCHING,
                if relabel.is_some() {
                    " on another parameter"
                } else {
                    ""
                }
            )
        })
        .collect()
}

/// What the warnings need to know beyond the draws.
pub struct WarningContext<'a> {
    pub chains: usize,
    pub max_depth: u32,
    /// Latents in centred form (see `ppl_model::posterior::centred_latents`); empty when unknown.
    pub centred: &'a [String],
}

/// Plain-words warnings, as a statistician would want them.
pub fn warnings(
    report: &RunReport,
    totals: &crate::draws::SamplerTotals,
    options: &WarningContext<'_>,
) -> Vec<String> {
    let mut out = Vec::new();
    if totals.divergences > 0 {
        let advice = match options.centred {
            [] => {
                "consider reparameterising, or raising the target acceptance (`--adapt-delta 0.95`)"
                    .to_string()
            }
            names => format!(
                "consider a non-centred form of {} (e.g. `{} = mu + tau * {}_raw` with `{}_raw ~ Normal(0, 1)`), or raise `--adapt-delta`",
                backticked(names),
                names[0],
                names[0],
                names[0]
            ),
        };
        out.push(format!(
            "{} divergent transition{} after warmup: the sampler could not follow the posterior's curvature and the draws may be biased; {advice}",
            totals.divergences,
            if totals.divergences == 1 { "" } else { "s" }
        ));
    }
    if totals.max_depth_hits > 0 {
        out.push(format!(
            "{} transition{} hit the maximum tree depth {}: sampling is slow; a strongly correlated or badly scaled posterior (try `--dense`) or a larger `--max-depth`",
            totals.max_depth_hits,
            if totals.max_depth_hits == 1 { "" } else { "s" },
            options.max_depth
        ));
    }
    // One warning for all the chains below the threshold: the advice is the same for each.
    let low_ebfmi: Vec<(usize, f64)> = totals
        .ebfmi
        .iter()
        .enumerate()
        .filter(|(_, value)| **value < 0.3)
        .map(|(chain, value)| (chain + 1, *value))
        .collect();
    if !low_ebfmi.is_empty() {
        let which = match low_ebfmi.as_slice() {
            [(chain, value)] => format!("chain {chain} has E-BFMI {value:.2}"),
            many => format!(
                "chains {} have E-BFMI {}",
                many.iter()
                    .map(|(chain, _)| chain.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                many.iter()
                    .map(|(_, value)| format!("{value:.2}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        out.push(format!(
            "{which} (below 0.3): the momentum resampling explores the energy poorly; the posterior may have heavy tails, consider reparameterising"
        ));
    }
    let high_rhat: Vec<&str> = report
        .summary
        .iter()
        .filter(|r| r.stats.rhat > 1.01)
        .map(|r| r.name.as_str())
        .collect();
    if !high_rhat.is_empty() {
        out.push(format!(
            "R-hat above 1.01 for {}: {} disagree, so they have not converged; run longer or reparameterise",
            preview(&high_rhat),
            if options.chains > 1 {
                "the chains (split in halves)"
            } else {
                "the two halves of the chain"
            }
        ));
    }
    let low_ess: Vec<&str> = report
        .summary
        .iter()
        .filter(|r| r.stats.ess_bulk < 100.0 * options.chains as f64)
        .map(|r| r.name.as_str())
        .collect();
    if !low_ess.is_empty() {
        out.push(format!(
            "bulk ESS below {} for {}: too few effective draws for reliable means and intervals; run more draws",
            100 * options.chains,
            preview(&low_ess)
        ));
    }
    let low_tail: Vec<&str> = report
        .summary
        .iter()
        .filter(|r| r.stats.ess_tail < 100.0 * options.chains as f64)
        .map(|r| r.name.as_str())
        .collect();
    if !low_tail.is_empty() {
        out.push(format!(
            "tail ESS below {} for {}: too few effective draws in the tails for reliable 5% and 95% quantiles; run more draws",
            100 * options.chains,
            preview(&low_tail)
        ));
    }
    out
}

fn preview(names: &[&str]) -> String {
    backticked_preview(names, 5)
}

pub(crate) fn sampler_error(error: &ppl_infer::SamplerError) -> FitError {
    let code = match error {
        ppl_infer::SamplerError::Initialization { .. }
        | ppl_infer::SamplerError::InitialValue { .. } => codes::NO_START,
        ppl_infer::SamplerError::Settings(_) => codes::BAD_SETTING,
        ppl_infer::SamplerError::TooManyDraws { .. } => codes::TOO_LARGE,
        _ => codes::METHOD_NOT_APPLICABLE,
    };
    // Users count chains from 1, as in the draws file names.
    let message = match error {
        ppl_infer::SamplerError::Initialization {
            chain_id,
            attempts,
            last_error,
        } => format!(
            "chain {}: no initial value with a finite log density after {attempts} attempts: {last_error}",
            chain_id + 1
        ),
        other => other.to_string(),
    };
    let mut diagnostic = ppl_syntax::Diagnostic::unplaced(code, message);
    if code == codes::NO_START {
        diagnostic = diagnostic.with_hint(
            "no starting point in (-2, 2) on the unconstrained scale gives a finite log density: check this statement for impossible values (a scale <= 0, data outside the support)",
        );
    }
    let kind = if code == codes::TOO_LARGE {
        FailureKind::Usage
    } else {
        FailureKind::InferenceFailed
    };
    let term = match error {
        ppl_infer::SamplerError::Initialization { last_error, .. } => {
            crate::error::term_of(last_error)
        }
        _ => None,
    };
    FitError::one(diagnostic, kind).at_term(term)
}

/// The output columns `--save` writes, and the mask that picks them from a full row (`None`
/// when every column is written).
pub(super) fn written_columns(
    columns: &[ppl_model::posterior::OutputColumn],
    save: Option<&crate::selection::Selection>,
) -> (Vec<ppl_model::posterior::OutputColumn>, Option<Vec<bool>>) {
    let Some(save) = save else {
        return (columns.to_vec(), None);
    };
    let mask = save.mask(columns);
    let written = columns
        .iter()
        .zip(&mask)
        .filter(|(_, keep)| **keep)
        .map(|(column, _)| column.clone())
        .collect();
    (written, Some(mask))
}

/// `max_rhat` and `min_ess_bulk` over the sampled unknowns only, as Stan and ArviZ report them: a
/// `let` such as eight schools' `theta` is a function of them.
pub(super) fn record_sampled_extremes(
    report: &mut RunReport,
    columns: &[ppl_model::posterior::OutputColumn],
) {
    let sampled_rows = || {
        report
            .summary
            .iter()
            .zip(columns)
            .filter(|(_, column)| !column.generated)
            .map(|(row, _)| &row.stats)
    };
    let max_rhat = sampled_rows().map(|s| s.rhat).fold(f64::NAN, f64::max);
    let min_ess = sampled_rows().map(|s| s.ess_bulk).fold(f64::NAN, f64::min);
    report
        .diagnostics
        .insert("max_rhat".into(), number(max_rhat));
    report
        .diagnostics
        .insert("min_ess_bulk".into(), number(min_ess));
}
