//! ppl as a library: load and bind a model, plan its inference (LANGUAGE.md §6), fit it, and
//! read the draws and estimates. The `ppl` command line and its REPL are thin layers over this
//! crate: they parse flags into [`Settings`] and render the [`RunReport`].
//!
//! ```
//! use ppl_planner::{DataSource, FitOptions, Settings, Setting};
//!
//! let source = "
//! observed y: real[N]
//! latent mu: real
//! mu ~ Normal(0, 10)
//! y ~ Normal(mu, 1)
//! ";
//! let model = ppl_planner::parse_model(source, "inline.model".as_ref(), "inline.model", &[])?;
//! let data = ppl_data::DataSet::from_json_str(r#"{"y": [0.8, 1.3, 0.9, 1.6]}"#, "y.json".as_ref())
//!     .expect("valid JSON");
//! let bound = ppl_planner::bind(&model, DataSource::InMemory(data), &[])?;
//! let mut settings = Settings::default();
//! settings.set(Setting::Draws, 500.0).expect("in bounds");
//! settings.set(Setting::Chains, 2.0).expect("in bounds");
//! let plan = ppl_planner::plan(&model, &bound.bound, &settings)?;
//! assert_eq!(plan.method.name(), "nuts");
//! let fitted = ppl_planner::fit(&model, &bound, plan, &settings, &FitOptions::default())?;
//! let mu = fitted.report.summary.iter().find(|row| row.name == "mu").expect("mu is summarised");
//! // The exact posterior mean is 4.6 / (4 + 0.01) ≈ 1.147.
//! assert!((mu.stats.mean - 1.147).abs() < 0.1);
//! # Ok::<(), ppl_planner::FitError>(())
//! ```

pub mod draws;
pub mod drivers;
pub mod error;
pub mod generative;
pub mod load;
pub mod plan;
pub mod report;
pub mod selection;
pub mod settings;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

pub use drivers::mcmc::{Draws, Progress};
pub use error::{FailureKind, FitError};
pub use load::{
    BoundModel, DataSource, LoadedModel, bind, check_model_bytes, load_model, parse_model,
};
pub use plan::{Engine, Plan, Rule, Verdict, evaluate_rules, plan};
pub use report::{RunReport, SummaryRow};
pub use settings::{Origin, SETTINGS, Setting, SettingDef, Settings};

/// How a caller watches and stops a fit.
#[derive(Clone, Copy, Default)]
pub struct FitControl<'a> {
    /// Set to stop early (Ctrl-C): what was drawn so far is kept, written and summarised.
    pub stop: Option<&'a AtomicBool>,
    /// Called once on its own thread while chains run, to show their progress.
    pub monitor: Option<&'a (dyn Fn(&Progress<'_>) + Sync)>,
}

/// What a fit writes and keeps beyond its report.
#[derive(Clone, Copy, Default)]
pub struct FitOptions<'a> {
    /// The output directory: draws files (CmdStan layout), `summary.json`, responsibilities.
    pub out: Option<&'a Path>,
    /// EM: keep each point's component probabilities (written to `OUT/responsibilities.csv`).
    pub keep_responsibilities: bool,
    pub control: FitControl<'a>,
    /// `--relabel PARAM`: sampled draws relabelled by ordering the vector unknown PARAM, the
    /// same permutation applied to every component-indexed unknown and to the labels
    /// (`ppl_model::relabel`).
    pub relabel: Option<&'a str>,
}

/// What a fit leaves behind.
pub struct Fitted {
    pub report: RunReport,
    /// The post-warmup draws (sampling methods).
    pub draws: Option<Draws>,
}

/// Runs the plan's engine with the settings, writes the outputs to `options.out`, and reports.
pub fn fit(
    loaded: &LoadedModel,
    bound: &BoundModel,
    plan: Plan,
    settings: &Settings,
    options: &FitOptions<'_>,
) -> Result<Fitted, FitError> {
    let started = Instant::now();
    // A `--save` pattern that matches nothing is refused before any work is done.
    let save = selection::Selection::from_settings(&loaded.model, settings)?;
    let mut draws = None;
    let kernel = match &plan.engine {
        Engine::IntegerMetropolis(_) => drivers::gibbs::JointKernel::Metropolis,
        _ => drivers::gibbs::JointKernel::Gibbs,
    };
    let mut report = match plan.engine {
        Engine::Em(spec) => drivers::em::run(options, settings, loaded, &bound.bound, &spec)?,
        Engine::Vae(spec) => drivers::vae::run(&spec, settings, options)?,
        Engine::Rbm(spec) => drivers::rbm::run(options, settings, loaded, &spec)?,
        Engine::Gan(spec) => drivers::gan::run(&spec, settings, options)?,
        Engine::Advi(posterior, family) => {
            drivers::variational::run(&posterior, family, settings, &options.control)
                .map_err(|e| place_on_term(e, loaded))?
        }
        Engine::VariationalEm(posterior) => {
            drivers::variational::run_em(&posterior, &loaded.model, settings, &options.control)
                .map_err(|e| place_on_term(e, loaded))?
        }
        Engine::Laplace(posterior) => {
            drivers::laplace::run(&posterior, &loaded.model, settings, options.control.stop)
                .map_err(|e| place_on_term(e, loaded))?
        }
        Engine::Map(posterior) => {
            let map_options = drivers::map::MapOptions {
                restarts: settings.count(Setting::Restarts),
                seed: settings.whole(Setting::Seed),
                max_iterations: settings.count(Setting::MaxIters),
                stop: options.control.stop,
            };
            drivers::map::run(&posterior, &loaded.model, &map_options)
                .map_err(|e| place_on_term(e, loaded))?
        }
        Engine::Gibbs(gibbs) | Engine::IntegerMetropolis(gibbs) => {
            let gibbs_options = drivers::mcmc::McmcOptions {
                sampler: drivers::mcmc::Sampler::RandomWalk,
                chains: settings.count(Setting::Chains),
                warmup: settings.count(Setting::Warmup),
                draws: settings.count(Setting::Draws),
                seed: settings.whole(Setting::Seed),
                chain_id: settings.whole(Setting::ChainId).saturating_sub(1),
                max_depth: settings.whole(Setting::MaxDepth) as u32,
                target_accept: settings.get(Setting::AdaptDelta),
                metric: ppl_infer::mcmc::MetricKind::Stan,
                out: options.out,
                model_name: loaded.name(),
                centred: Vec::new(),
                initial: None,
                relabel: relabeller(loaded, bound, &gibbs.columns, options.relabel)?,
                save: save.clone(),
            };
            let (mut report, gibbs_draws) =
                drivers::gibbs::run(&gibbs, kernel, &gibbs_options, &options.control)
                    .map_err(|e| place_on_term(e, loaded))?;
            draws = Some(gibbs_draws);
            relabel_note(gibbs_options.relabel.as_ref(), options.relabel, &mut report);
            report
        }
        Engine::Mcmc(posterior, sampler) => {
            let mut mcmc_options =
                mcmc_options(loaded, &posterior, sampler, settings, options.out)?;
            mcmc_options.relabel = relabeller(loaded, bound, &posterior.columns, options.relabel)?;
            mcmc_options.save = save.clone();
            let (mut report, mcmc_draws) =
                drivers::mcmc::run(&posterior, &mcmc_options, &options.control)
                    .map_err(|e| place_on_term(e, loaded))?;
            draws = Some(mcmc_draws);
            relabel_note(mcmc_options.relabel.as_ref(), options.relabel, &mut report);
            report
        }
    };
    // The engines without a draws file summarised every column: what is not saved goes now.
    if draws.is_none()
        && let Some(save) = &save
    {
        save.apply_to_report(&mut report);
    }
    let written: Vec<String> = match &draws {
        Some(draws) => draws.columns.clone(),
        None => report
            .summary
            .iter()
            .map(|r| r.name.clone())
            .chain(report.estimates.iter().map(|(name, _)| name.clone()))
            .collect(),
    };
    report
        .notes
        .extend(selection::large_let_notes(&loaded.model, &written));
    report.reason = plan.reason;
    report.plan = plan.unknowns;
    report.total_seconds = started.elapsed().as_secs_f64();
    if let Some(dir) = options.out {
        std::fs::create_dir_all(dir)
            .and_then(|_| report.write_summary(dir))
            .map_err(|e| FitError::cannot_write(dir, &e))?;
    }
    Ok(Fitted { report, draws })
}

/// Binds, plans and fits in one call.
pub fn run(
    loaded: &LoadedModel,
    data: DataSource<'_>,
    settings: &Settings,
    options: &FitOptions<'_>,
) -> Result<(BoundModel, Fitted), FitError> {
    let bound = bind(loaded, data, &[])?;
    let plan = plan(loaded, &bound.bound, settings)?;
    let fitted = fit(loaded, &bound, plan, settings, options)?;
    Ok((bound, fitted))
}

fn mcmc_options<'a>(
    loaded: &LoadedModel,
    posterior: &ppl_model::posterior::Posterior,
    sampler: drivers::mcmc::Sampler,
    settings: &Settings,
    out: Option<&'a Path>,
) -> Result<drivers::mcmc::McmcOptions<'a>, FitError> {
    Ok(drivers::mcmc::McmcOptions {
        sampler,
        chains: settings.count(Setting::Chains),
        warmup: settings.count(Setting::Warmup),
        draws: settings.count(Setting::Draws),
        seed: settings.whole(Setting::Seed),
        chain_id: settings.whole(Setting::ChainId).saturating_sub(1),
        max_depth: settings.whole(Setting::MaxDepth) as u32,
        target_accept: settings.get(Setting::AdaptDelta),
        metric: settings::metric_kind(settings),
        out,
        model_name: loaded.name(),
        centred: ppl_model::posterior::centred_latents(&loaded.model),
        initial: posterior
            .initial_values(&loaded.model)
            .map_err(|d| FitError::one(d, FailureKind::ModelOrData))?,
        relabel: None,
        save: None,
    })
}

/// Says what `--relabel` did.
fn relabel_note(
    relabeller: Option<&ppl_model::relabel::Relabeller>,
    param: Option<&str>,
    report: &mut RunReport,
) {
    if let (Some(relabeller), Some(param)) = (relabeller, param) {
        report.notes.push(format!(
            "relabelled: each draw's components put in increasing order of `{param}`, the same permutation applied to {}",
            relabeller.names.join(", ")
        ));
    }
}

/// The relabeller `--relabel PARAM` asks for, or E0715 when PARAM is no real vector unknown.
fn relabeller(
    loaded: &LoadedModel,
    bound: &BoundModel,
    columns: &[ppl_model::posterior::OutputColumn],
    param: Option<&str>,
) -> Result<Option<ppl_model::relabel::Relabeller>, FitError> {
    let Some(param) = param else {
        return Ok(None);
    };
    ppl_model::relabel::Relabeller::new(&loaded.model, &bound.bound.dims, columns, param)
        .map(Some)
        .map_err(|message| {
            FitError::message(ppl_syntax::codes::BAD_RELABEL, message, FailureKind::Usage)
        })
}

/// An engine error about one term of the model is pointed at that statement's text.
fn place_on_term(mut error: FitError, loaded: &LoadedModel) -> FitError {
    let Some(term) = error.term.and_then(|index| loaded.model.terms.get(index)) else {
        return error;
    };
    for diagnostic in &mut error.diagnostics {
        if diagnostic.span.is_none() {
            diagnostic.span = Some(term.span);
            diagnostic.label = "the log density of this statement is not finite".into();
        }
    }
    error
}
