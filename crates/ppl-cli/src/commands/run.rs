//! `ppl run MODEL`: load, bind, pick the inference method (LANGUAGE.md §6) and say why, fit, and
//! report as a table or one JSON object.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};
use ppl_infer::mcmc::{Kernel, TrajectoryLength};
use ppl_ir::{ElemType, Model, Role};
use ppl_model::BoundData;
use ppl_model::mixture::{self, MixtureSpec};
use ppl_model::posterior::Posterior;
use ppl_syntax::{Diagnostic, codes};
use serde_json::json;

use crate::frontend::{
    CommandError, Exit, LoadedModel, load_and_bind, load_model, parse_numbers, parse_set,
};
use crate::output::RunReport;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    Auto,
    Em,
    Nuts,
    Hmc,
    Gibbs,
    Metropolis,
    Advi,
    Vae,
    Map,
    Laplace,
    Cd,
    Gan,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The model file.
    pub model: PathBuf,
    /// Data file (CSV with a header, or Stan-style JSON); overrides the model's `data "..."`.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Inference method; `auto` inspects the model and says why it picked one [default: auto, or the model's `infer`].
    #[arg(long, value_enum)]
    pub method: Option<MethodArg>,
    /// Number of chains (MCMC) [default: 4].
    #[arg(long)]
    pub chains: Option<usize>,
    /// Warmup iterations per chain (MCMC) [default: 1000].
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Post-warmup draws per chain (MCMC) [default: 1000].
    #[arg(long)]
    pub draws: Option<usize>,
    /// Random seed: the same seed gives the same numbers, whatever the thread count [default: 1].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override a constant: `--set K=3`.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
    /// Directory for the outputs (summary.json, estimates, draws).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// EM and MAP: independent starts (k-means++ for EM, random for MAP); the best wins [default: 1].
    #[arg(long)]
    pub restarts: Option<usize>,
    /// EM and MAP: maximum iterations per start [default: 1000].
    #[arg(long = "max-iters")]
    pub max_iters: Option<usize>,
    /// EM: convergence tolerance on the change of the mean log-likelihood per point [default: 1e-8].
    #[arg(long)]
    pub tol: Option<f64>,
    /// EM: added to variances and covariance diagonals at each M-step (as scikit-learn's reg_covar) [default: 1e-6].
    #[arg(long = "reg-covar")]
    pub reg_covar: Option<f64>,
    /// EM: also report each point's component probabilities (written to OUT/responsibilities.csv).
    #[arg(long)]
    pub responsibilities: bool,
    /// MCMC: the chain id of the first chain (`--chain-id 5` gives chains 5, 6, ...), so that
    /// chains run on many machines have distinct random streams and files; merge with `ppl summary`
    /// [default: 1].
    #[arg(long = "chain-id")]
    pub chain_id: Option<u64>,
    /// NUTS: the maximum tree depth (at most 2^depth leapfrog steps per draw) [default: 10].
    #[arg(long = "max-depth")]
    pub max_depth: Option<u32>,
    /// MCMC: the target acceptance statistic of step-size adaptation (Stan's adapt_delta) [default: 0.8].
    #[arg(long = "adapt-delta")]
    pub adapt_delta: Option<f64>,
    /// MCMC: adapt a dense mass matrix (full covariance) instead of a diagonal one.
    #[arg(long)]
    pub dense: bool,
    /// List data keys the model does not use.
    #[arg(short, long)]
    pub verbose: bool,
}

/// The settings of one run, from (first wins) the command-line flags, the model's `infer`
/// statement, and the defaults.
pub(crate) struct RunSettings {
    pub method: MethodArg,
    pub chains: usize,
    pub warmup: usize,
    pub draws: usize,
    pub seed: u64,
    pub restarts: usize,
    pub max_iters: usize,
    pub tol: f64,
    pub reg_covar: f64,
    pub chain_id: u64,
    pub max_depth: u32,
    pub adapt_delta: f64,
    pub dense: bool,
    /// Set when the method came from the model's `infer` statement, for the reason.
    pub method_from_model: bool,
}

/// The keys `infer METHOD(key = value)` accepts.
const INFER_KEYS: &[&str] = &[
    "chains",
    "warmup",
    "draws",
    "seed",
    "restarts",
    "max_iters",
    "tol",
    "reg_covar",
    "chain_id",
    "max_depth",
    "adapt_delta",
    "dense",
];

impl RunSettings {
    fn resolve(args: &RunArgs, loaded: &LoadedModel) -> Result<RunSettings, CommandError> {
        let infer = loaded.model.infer.as_ref();
        let setting = |key: &str| {
            infer.and_then(|i| i.settings.iter().find(|(k, _)| k == key).map(|(_, v)| *v))
        };
        if let Some(infer) = infer {
            for (key, value) in &infer.settings {
                let integer = !matches!(key.as_str(), "tol" | "reg_covar" | "adapt_delta");
                let problem = if !INFER_KEYS.contains(&key.as_str()) {
                    let hint =
                        match ppl_syntax::diagnostic::closest(key, INFER_KEYS.iter().copied()) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!("settings: {}", INFER_KEYS.join(", ")),
                        };
                    Some((format!("`infer` has no setting `{key}`"), hint))
                } else if integer && (value.fract() != 0.0 || *value < 0.0) {
                    Some((
                        format!("`{key}` must be a whole number, not {value}"),
                        "e.g. `chains = 4`".to_string(),
                    ))
                } else {
                    None
                };
                if let Some((message, hint)) = problem {
                    let diagnostic = Diagnostic::error(codes::BAD_SETTING, infer.span, message)
                        .with_label("in this `infer` statement")
                        .with_hint(hint);
                    return Err(CommandError::new(
                        vec![diagnostic],
                        Some(loaded),
                        Exit::ModelOrData,
                    ));
                }
            }
        }
        let model_method = infer.and_then(|i| MethodArg::from_str(&i.method, true).ok());
        let method_from_model =
            args.method.is_none() && model_method.is_some_and(|m| m != MethodArg::Auto);
        Ok(RunSettings {
            method: args.method.or(model_method).unwrap_or(MethodArg::Auto),
            chains: layered(args.chains, setting("chains"), 4),
            warmup: layered(args.warmup, setting("warmup"), 1000),
            draws: layered(args.draws, setting("draws"), 1000),
            seed: layered(args.seed, setting("seed"), 1),
            restarts: layered(args.restarts, setting("restarts"), 1),
            max_iters: layered(args.max_iters, setting("max_iters"), 1000),
            tol: layered(args.tol, setting("tol"), 1e-8),
            reg_covar: layered(args.reg_covar, setting("reg_covar"), 1e-6),
            chain_id: layered(args.chain_id, setting("chain_id"), 1),
            max_depth: layered(args.max_depth, setting("max_depth"), 10),
            adapt_delta: layered(args.adapt_delta, setting("adapt_delta"), 0.8),
            dense: args.dense || setting("dense").is_some_and(|v| v != 0.0),
            method_from_model,
        })
    }
}

/// A setting's value from, first to last: the flag, the model's `infer` statement, the default.
fn layered<T: FromSetting>(flag: Option<T>, from_model: Option<f64>, default: T) -> T {
    flag.or(from_model.map(T::from_setting)).unwrap_or(default)
}

/// Reading an `infer` setting (a number, already checked to be whole where it must be).
trait FromSetting: Copy {
    fn from_setting(value: f64) -> Self;
}

impl FromSetting for usize {
    fn from_setting(value: f64) -> Self {
        value as usize
    }
}

impl FromSetting for u64 {
    fn from_setting(value: f64) -> Self {
        value as u64
    }
}

impl FromSetting for u32 {
    fn from_setting(value: f64) -> Self {
        value as u32
    }
}

impl FromSetting for f64 {
    fn from_setting(value: f64) -> Self {
        value
    }
}

/// What `auto` picked, with its reason.
enum Plan {
    Em(MixtureSpec),
    Mcmc(Box<Posterior>, Kernel),
    Map(Box<Posterior>),
}

pub fn run(args: RunArgs) -> Result<(), CommandError> {
    let json = args.format == Format::Json;
    run_inner(&args).map_err(|e| e.json(json))
}

fn run_inner(args: &RunArgs) -> Result<(), CommandError> {
    let started = Instant::now();
    let sets = parse_const_sets(&args.sets)?;
    let loaded = load_model(&args.model, &sets)?;
    check_sets(&loaded, &sets)?;
    crate::render::write_all(&loaded.warnings, &loaded.file_name, &loaded.source);
    let report = fit(args, &loaded, started)?.report;
    match args.format {
        Format::Json => println!("{}", report.to_json()),
        Format::Table => print!("{}", report.to_table()),
    }
    if report.diagnostics.get("interrupted") == Some(&json!(true)) {
        // Everything drawn so far is written and summarised; the exit status still says the run
        // did not finish.
        eprintln!("interrupted: the draws so far are saved and summarised");
        return Err(CommandError::new(Vec::new(), None, Exit::InferenceFailed));
    }
    Ok(())
}

/// What a fit leaves behind: the report, the draws (MCMC) and the data it was bound to.
pub(crate) struct Fitted {
    pub report: RunReport,
    pub draws: Option<crate::mcmc::Draws>,
    pub data: Option<ppl_data::DataSet>,
}

/// Everything `ppl run` does after loading the model (`args.model` is not read): bind the data,
/// choose, fit, and write `--out`. The REPL's `:run` calls this with a model built from its text.
pub(crate) fn fit(
    args: &RunArgs,
    loaded: &LoadedModel,
    started: Instant,
) -> Result<Fitted, CommandError> {
    let settings = &RunSettings::resolve(args, loaded)?;
    validate_settings(settings)?;
    let (bound, data) = load_and_bind(loaded, args.data.as_deref(), &[])?;
    if args.verbose && !bound.unused_keys.is_empty() {
        eprintln!(
            "note: data keys not used by the model: {}",
            bound.unused_keys.join(", ")
        );
    }
    let (plan, reason) = choose(loaded, &bound, settings)?;
    let mut draws = None;
    let mut report = match plan {
        Plan::Em(spec) => crate::em::run_em(args, settings, loaded, &bound, &spec)?,
        Plan::Map(posterior) => {
            let options = crate::map::MapOptions {
                restarts: settings.restarts,
                seed: settings.seed,
                max_iterations: settings.max_iters,
            };
            crate::map::run(&posterior, &loaded.model, &options)
                .map_err(|e| place_on_term(e, loaded))?
        }
        Plan::Mcmc(posterior, kernel) => {
            let options = crate::mcmc::McmcOptions {
                kernel,
                chains: settings.chains,
                warmup: settings.warmup,
                draws: settings.draws,
                seed: settings.seed,
                chain_id: settings.chain_id.saturating_sub(1),
                max_depth: settings.max_depth,
                target_accept: settings.adapt_delta,
                dense: settings.dense,
                out: args.out.as_deref(),
                model_name: loaded
                    .path
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_default(),
                centred: ppl_model::posterior::centred_latents(&loaded.model),
                initial: posterior
                    .initial_values(&loaded.model)
                    .map_err(|d| CommandError::new(vec![d], Some(loaded), Exit::ModelOrData))?,
            };
            let (report, mcmc_draws) =
                crate::mcmc::run(&posterior, &options).map_err(|e| place_on_term(e, loaded))?;
            draws = Some(mcmc_draws);
            report
        }
    };
    report.reason = reason;
    report.total_seconds = started.elapsed().as_secs_f64();
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir)
            .and_then(|_| report.write_summary(dir))
            .map_err(|e| CommandError::cannot_write(dir, &e))?;
    }
    Ok(Fitted {
        report,
        draws,
        data,
    })
}

pub(crate) fn parse_const_sets(sets: &[String]) -> Result<Vec<(String, f64)>, CommandError> {
    let mut out = Vec::new();
    for set in sets {
        let (name, value) =
            parse_set(set).map_err(|m| CommandError::message(codes::BAD_SET, m, Exit::Usage))?;
        let numbers = parse_numbers(&value)
            .map_err(|m| CommandError::message(codes::BAD_SET, m, Exit::Usage))?;
        let [number] = numbers.as_slice() else {
            return Err(CommandError::message(
                codes::BAD_SET,
                format!("`--set {name}=...` for `run` overrides a constant and takes one number"),
                Exit::Usage,
            ));
        };
        out.push((name, *number));
    }
    Ok(out)
}

pub(crate) fn check_sets(loaded: &LoadedModel, sets: &[(String, f64)]) -> Result<(), CommandError> {
    for (name, _) in sets {
        if !loaded.model.constants.iter().any(|c| &c.name == name) {
            let names: Vec<&str> = loaded
                .model
                .constants
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            let hint = match names.as_slice() {
                [] => "the model has no `const` to override".to_string(),
                _ => format!("its constants are: {}", names.join(", ")),
            };
            return Err(CommandError::message(
                codes::BAD_SET,
                format!("`--set {name}=...`: the model has no constant `{name}` ({hint})"),
                Exit::Usage,
            ));
        }
    }
    Ok(())
}

fn validate_settings(settings: &RunSettings) -> Result<(), CommandError> {
    let problems = [
        (settings.chains == 0, "`--chains` must be at least 1"),
        (settings.draws == 0, "`--draws` must be at least 1"),
        (settings.restarts == 0, "`--restarts` must be at least 1"),
        (
            !(settings.adapt_delta > 0.0 && settings.adapt_delta < 1.0),
            "`--adapt-delta` must lie strictly between 0 and 1",
        ),
        (
            settings.max_depth == 0 || settings.max_depth > 30,
            "`--max-depth` must be between 1 and 30",
        ),
        (
            !(settings.tol > 0.0 && settings.tol.is_finite()),
            "`--tol` must be a positive number",
        ),
        (
            !(settings.reg_covar >= 0.0 && settings.reg_covar.is_finite()),
            "`--reg-covar` must be 0 or more",
        ),
    ];
    match problems.iter().find(|(bad, _)| *bad) {
        Some((_, message)) => Err(CommandError::message(
            codes::BAD_SETTING,
            *message,
            Exit::Usage,
        )),
        None => Ok(()),
    }
}

/// LANGUAGE.md §6: inspect the model and pick, with the reason in plain words.
fn choose(
    loaded: &LoadedModel,
    bound: &BoundData,
    settings: &RunSettings,
) -> Result<(Plan, String), CommandError> {
    let method = settings.method;
    let model = &loaded.model;
    if let Some((what, span)) = model.unsupported.first() {
        let diagnostic = Diagnostic::error(
            codes::UNSUPPORTED,
            *span,
            format!("{what} parses and checks, but no inference engine in this version runs it"),
        )
        .with_label("not runnable yet")
        .with_hint("`ppl check` validates it; EM runs finite mixtures and NUTS continuous models");
        return Err(CommandError::new(
            vec![diagnostic],
            Some(loaded),
            Exit::InferenceFailed,
        ));
    }
    let mixture = mixture::recognise(model, bound);
    let discrete: Vec<&str> = model
        .unknowns()
        .filter(|v| v.ty.elem != ElemType::Real)
        .map(|v| v.name.as_str())
        .collect();
    let continuous: Vec<&str> = model
        .unknowns()
        .filter(|v| v.ty.elem == ElemType::Real)
        .map(|v| v.name.as_str())
        .collect();
    let has_latent = model.unknowns().any(|v| v.role == Role::Latent);
    // The tape over every continuous unknown, for the gradient-based methods.
    let posterior = || -> Result<Posterior, CommandError> {
        if let Some(name) = discrete.first() {
            let why = format!(
                "the discrete unknown `{name}` would need marginalisation or Gibbs steps, which this version does not do (EM does not apply: {})",
                mixture.as_ref().err().map(String::as_str).unwrap_or("")
            );
            return Err(no_engine(loaded, &why));
        }
        if continuous.is_empty() {
            return Err(no_engine(loaded, "the model has no unknowns"));
        }
        Posterior::new(model, bound, &loaded.source)
            .map_err(|d| CommandError::new(vec![d], Some(loaded), Exit::ModelOrData))
    };
    let has_param = model.unknowns().any(|v| v.role == Role::Param);
    let mcmc = |kernel: Kernel| -> Result<(Plan, String), CommandError> {
        let posterior = posterior()?;
        let names = preview_names(&continuous);
        let reason = match kernel {
            Kernel::Nuts if method == MethodArg::Nuts => {
                format!("{}; continuous unknowns: {names}", asked(settings, "nuts"))
            }
            Kernel::Nuts => format!(
                "every unknown ({names}) is continuous and the log density is differentiable, so NUTS samples the posterior (Stan's adaptation: dual-averaging step size, windowed {} mass matrix){}",
                if settings.dense { "dense" } else { "diagonal" },
                if has_param {
                    "; the params are sampled like latents (variational EM for params with latents is not in this version)"
                } else {
                    ""
                }
            ),
            Kernel::StaticHmc(_) => {
                format!("{}; continuous unknowns: {names}", asked(settings, "hmc"))
            }
        };
        Ok((Plan::Mcmc(Box::new(posterior), kernel), reason))
    };
    match method {
        MethodArg::Auto => match mixture {
            Ok(spec) => {
                let reason = em_reason(model, &spec);
                Ok((Plan::Em(spec), reason))
            }
            Err(_) if discrete.is_empty() && has_latent => mcmc(Kernel::Nuts),
            Err(_) if discrete.is_empty() && !continuous.is_empty() => {
                let reason = format!(
                    "the model has only params ({}), no latents, so they are point-estimated: L-BFGS finds the {} (the mode on the constrained scale)",
                    preview_names(&continuous),
                    if ppl_model::posterior::has_prior(model) {
                        "MAP estimate"
                    } else {
                        "maximum-likelihood estimate"
                    }
                );
                Ok((Plan::Map(Box::new(posterior()?)), reason))
            }
            Err(why) => Err(no_engine(loaded, &why)),
        },
        MethodArg::Em => match mixture {
            Ok(spec) => {
                let reason = format!("{}; {}", asked(settings, "em"), em_reason(model, &spec));
                Ok((Plan::Em(spec), reason))
            }
            Err(why) => Err(not_applicable(loaded, "em", &why)),
        },
        MethodArg::Map => {
            let reason = format!(
                "{}; L-BFGS finds the mode of the {} on the constrained scale",
                asked(settings, "map"),
                if ppl_model::posterior::has_prior(model) {
                    "posterior"
                } else {
                    "likelihood"
                }
            );
            Ok((Plan::Map(Box::new(posterior()?)), reason))
        }
        MethodArg::Nuts => mcmc(Kernel::Nuts),
        // Stan's default integration time 2π is a full period on a unit-scale Gaussian, which after
        // metric adaptation sends a trajectory back near its start; a quarter period gives nearly
        // independent draws there.
        MethodArg::Hmc => mcmc(Kernel::StaticHmc(TrajectoryLength::IntegrationTime(
            std::f64::consts::FRAC_PI_2,
        ))),
        other => {
            let name = format!("{other:?}").to_lowercase();
            Err(not_applicable(
                loaded,
                &name,
                "this method is not implemented in this version",
            ))
        }
    }
}

/// Who asked for a method: the command line or the model's `infer` statement.
fn asked(settings: &RunSettings, method: &str) -> String {
    if settings.method_from_model {
        format!("asked for by the model's `infer {method}(...)`")
    } else {
        format!("asked for with --method {method}")
    }
}

/// `a`, `b`, `c` and 4 more.
fn preview_names(names: &[&str]) -> String {
    let shown: Vec<String> = names.iter().take(4).map(|n| format!("`{n}`")).collect();
    if names.len() > 4 {
        format!("{} and {} more", shown.join(", "), names.len() - 4)
    } else {
        shown.join(", ")
    }
}

fn em_reason(model: &Model, spec: &MixtureSpec) -> String {
    let z = &model.variables[spec.assignment.0];
    let families: Vec<String> = spec
        .blocks
        .iter()
        .map(|b| {
            format!(
                "`{}` {}",
                model.variables[b.observed.0].name,
                b.family.name()
            )
        })
        .collect();
    format!(
        "`{}` is a discrete latent with finite support (1..{}) and every param has a closed-form M-step ({}), so EM maximises the likelihood directly",
        z.name,
        spec.components,
        families.join(", ")
    )
}

fn not_applicable(loaded: &LoadedModel, method: &str, why: &str) -> CommandError {
    let span = loaded.model.infer.as_ref().map(|i| i.span);
    let message = format!("`--method {method}` cannot fit this model: {why}");
    let diagnostic = match span {
        Some(span) => Diagnostic::error(codes::METHOD_NOT_APPLICABLE, span, message),
        None => Diagnostic::unplaced(codes::METHOD_NOT_APPLICABLE, message),
    };
    CommandError::new(vec![diagnostic], Some(loaded), Exit::InferenceFailed)
}

fn no_engine(loaded: &LoadedModel, why: &str) -> CommandError {
    let model = &loaded.model;
    let continuous = model
        .unknowns()
        .any(|v| v.ty.elem == ElemType::Real && v.role == Role::Latent);
    let message = if continuous {
        "continuous latent variables need NUTS, which this version does not run yet".to_string()
    } else {
        format!("no inference method in this version fits this model (EM does not apply: {why})")
    };
    CommandError::new(
        vec![Diagnostic::unplaced(codes::UNSUPPORTED, message)],
        Some(loaded),
        Exit::InferenceFailed,
    )
}

/// A sampler error that names a statement (`at line 4: ...`) is pointed at that statement's text.
fn place_on_term(mut error: CommandError, loaded: &LoadedModel) -> CommandError {
    for diagnostic in &mut error.diagnostics {
        if diagnostic.span.is_some() {
            continue;
        }
        let term = loaded.model.terms.iter().find(|t| {
            let label = ppl_model::posterior::statement_label(&loaded.source, t.span);
            diagnostic.message.contains(&label)
        });
        if let Some(term) = term {
            diagnostic.span = Some(term.span);
            diagnostic.label = "the log density of this statement is not finite".into();
        }
    }
    error.source = loaded.source.clone();
    error.file_name = loaded.file_name.clone();
    error
}
