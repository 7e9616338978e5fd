//! `ppl run MODEL`: parse the flags into the planner's settings, load and bind, let the planner
//! pick the method (LANGUAGE.md §6) and say why, fit, and render the report as a table or one
//! JSON object. Every decision is made in `ppl-planner`; this module only translates.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Arg, ArgAction, ArgMatches, Args, ValueEnum};
use ppl_ir::Method;
use ppl_planner::{FitControl, FitOptions, Progress, SETTINGS, Setting, Settings};
use ppl_syntax::codes;
use serde_json::json;

use crate::frontend::{
    CommandError, Exit, LoadedModel, load_and_bind, load_model, parse_numbers, parse_set,
};
use crate::output::table;

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
    /// Inference method; `auto` inspects the model and says why it picked one (`ppl help methods`) [default: auto, or the model's `infer`].
    #[arg(long, value_parser = method_parser())]
    pub method: Option<Method>,
    /// Override a constant: `--set K=3`.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
    /// Directory for the outputs (summary.json, estimates, draws).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// EM: also report each point's component probabilities (written to OUT/responsibilities.csv).
    #[arg(long)]
    pub responsibilities: bool,
    /// Samplers: relabel each draw by ordering the vector unknown PARAM (`mu[1] < mu[2] < ...`),
    /// the same permutation applied to every component-indexed unknown and to the labels `z`;
    /// the cure when the summary warns (W0014) that a mixture's chains switched labels. Declaring
    /// `mu: ordered[K]` in the model does the same inside it.
    #[arg(long, value_name = "PARAM")]
    pub relabel: Option<String>,
    /// No progress bars (they are shown only when stderr is a terminal anyway).
    #[arg(short, long)]
    pub quiet: bool,
    /// List data keys the model does not use, and every rule's verdict on the model.
    #[arg(short, long)]
    pub verbose: bool,
    /// Also draw the pictures that fit the run (trace, rank, density, pair, forest,
    /// autocorrelation; the objective; a ppc with `--predict`; a generative model's samples) into
    /// OUT/plots.
    #[arg(long, requires = "out")]
    pub plot: bool,
    /// The quantiles of the summary table and JSON, e.g. `0.025,0.5,0.975` [default: 0.05,0.5,0.95].
    #[arg(long, value_name = "P,P,...")]
    pub quantiles: Option<String>,
    #[command(flatten)]
    pub settings: SettingFlags,
}

/// `--method`: one of `ppl_ir::Method::ALL`, listed in the help and the error.
fn method_parser() -> impl TypedValueParser<Value = Method> {
    PossibleValuesParser::new(Method::ALL.map(|m| m.name()))
        .map(|name: String| Method::from_name(&name).unwrap_or(Method::Auto))
}

/// The flags of every setting in `ppl_planner::SETTINGS`, generated from that one table.
#[derive(Clone, Debug, Default)]
pub struct SettingFlags {
    pub values: Vec<(Setting, f64)>,
    /// The settings given as text (`--save 'mu,beta*'`).
    pub texts: Vec<(Setting, String)>,
}

impl SettingFlags {
    #[cfg(test)]
    pub fn get(&self, setting: Setting) -> Option<f64> {
        self.values
            .iter()
            .find(|(s, _)| *s == setting)
            .map(|(_, v)| *v)
    }
}

impl clap::FromArgMatches for SettingFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = SettingFlags::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for def in SETTINGS {
            if def.kind == ppl_planner::settings::SettingKind::Patterns {
                if let Some(text) = matches.get_one::<String>(def.key) {
                    self.texts.retain(|(s, _)| *s != def.setting);
                    self.texts.push((def.setting, text.clone()));
                }
                continue;
            }
            let value = match def.kind {
                ppl_planner::settings::SettingKind::Switch => {
                    matches.get_flag(def.key).then_some(1.0)
                }
                ppl_planner::settings::SettingKind::Choice(names) => matches
                    .get_one::<String>(def.key)
                    .and_then(|name| names.iter().position(|n| n == name))
                    .map(|position| position as f64),
                _ => matches.get_one::<f64>(def.key).copied(),
            };
            if let Some(value) = value {
                self.values.retain(|(s, _)| *s != def.setting);
                self.values.push((def.setting, value));
            }
        }
        Ok(())
    }
}

impl clap::Args for SettingFlags {
    fn augment_args(mut command: clap::Command) -> clap::Command {
        for def in SETTINGS {
            // clap keeps flag names for the life of the process; the table holds the `infer`
            // spelling, so the kebab-case one is made once here.
            let long: &'static str = Box::leak(def.setting.flag().into_boxed_str());
            let help = format!("{} [default: {}]", def.help, def.default_text());
            let arg = Arg::new(def.key).long(long).help(help);
            let arg = match def.kind {
                ppl_planner::settings::SettingKind::Switch => arg.action(ArgAction::SetTrue),
                ppl_planner::settings::SettingKind::Patterns => arg.value_name("PATTERNS"),
                ppl_planner::settings::SettingKind::Choice(names) => arg
                    .value_name("NAME")
                    .value_parser(clap::builder::PossibleValuesParser::new(
                        names.iter().copied(),
                    )),
                _ => arg
                    .value_name(
                        if matches!(def.kind, ppl_planner::settings::SettingKind::Whole { .. }) {
                            "N"
                        } else {
                            "X"
                        },
                    )
                    .value_parser(clap::value_parser!(f64)),
            };
            command = command.arg(arg);
        }
        command
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

/// The settings of one run: the flags first, then the model's `infer` statement, then defaults.
pub(crate) fn resolve_settings(
    args: &RunArgs,
    loaded: &LoadedModel,
) -> Result<Settings, CommandError> {
    let mut settings = Settings::default();
    if let Some(method) = args.method {
        settings = settings.with_method(method);
    }
    for (setting, value) in &args.settings.values {
        settings.set(*setting, *value).map_err(|message| {
            CommandError::message(
                codes::BAD_SETTING,
                format!("--{}: {message}", setting.flag()),
                Exit::Usage,
            )
        })?;
    }
    for (setting, text) in &args.settings.texts {
        settings.set_text(*setting, text).map_err(|message| {
            CommandError::message(
                codes::BAD_SETTING,
                format!("--{}: {message}", setting.flag()),
                Exit::Usage,
            )
        })?;
    }
    settings
        .with_model(loaded.model.infer.as_ref())
        .map_err(|diagnostics| CommandError::new(diagnostics, Some(loaded), Exit::ModelOrData))
}

pub fn run(args: RunArgs) -> Result<(), CommandError> {
    let json = args.format == Format::Json;
    run_inner(&args).map_err(|e| e.json(json))
}

fn run_inner(args: &RunArgs) -> Result<(), CommandError> {
    let started = Instant::now();
    install_interrupt_handler();
    let sets = parse_const_sets(&args.sets)?;
    let loaded = load_model(&args.model, &sets)?;
    check_sets(&loaded, &sets)?;
    crate::render::write_all(&loaded.warnings, &loaded.file_name, &loaded.source);
    let fitted = fit(args, &loaded, started)?;
    let report = fitted.report;
    match args.format {
        Format::Json => println!("{}", report.to_json()),
        Format::Table => print!("{}", table(&report)),
    }
    if args.plot
        && let Some(out) = &args.out
    {
        draw_default_set(out, &fitted.observed)?;
    }
    if report.diagnostics.get("interrupted") == Some(&json!(true)) {
        // Everything drawn so far is written and summarised; the exit status still says the run
        // did not finish.
        eprintln!("interrupted: the draws so far are saved and summarised");
        return Err(CommandError::new(Vec::new(), None, Exit::InferenceFailed));
    }
    Ok(())
}

/// `--plot`: the default pictures of the run in `out`, and on stderr where they are (stdout
/// stays the report's, which may be JSON).
pub(crate) fn draw_default_set(
    out: &std::path::Path,
    observed: &[ppl_plot::Observed],
) -> Result<(), CommandError> {
    let ppl_plot::PictureSet { written, failed } =
        ppl_plot::default_set(out, observed).map_err(crate::commands::plot::plot_error)?;
    let names: Vec<String> = written
        .iter()
        .filter_map(|p| p.path.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    eprintln!(
        "wrote {} picture{} into {}: {}",
        written.len(),
        if written.len() == 1 { "" } else { "s" },
        out.join(ppl_plot::PLOTS_FOLDER).display(),
        names.join(", ")
    );
    for (kind, error) in failed {
        eprintln!("note: no {} plot: {error}", kind.name());
    }
    Ok(())
}

/// What a fit leaves behind: the report, the draws (MCMC), the data it was bound to, and the
/// observed variables' values (for a posterior predictive picture).
pub(crate) struct Fitted {
    pub report: ppl_planner::RunReport,
    pub draws: Option<ppl_planner::Draws>,
    pub data: Option<ppl_data::DataSet>,
    pub observed: Vec<ppl_plot::Observed>,
}

/// Everything `ppl run` does after loading the model (`args.model` is not read): bind the data,
/// plan, fit, and write `--out`. The REPL's `:run` calls this with a model built from its text.
pub(crate) fn fit(
    args: &RunArgs,
    loaded: &LoadedModel,
    started: Instant,
) -> Result<Fitted, CommandError> {
    let quantiles = args
        .quantiles
        .as_deref()
        .map(ppl_planner::draws::parse_quantiles)
        .transpose()
        .map_err(|m| CommandError::message(codes::BAD_SETTING, m, Exit::Usage))?;
    let settings = resolve_settings(args, loaded)?;
    let bound = load_and_bind(loaded, args.data.as_deref(), &[])?;
    if args.verbose && !bound.bound.unused_keys.is_empty() {
        eprintln!(
            "note: data keys not used by the model: {}",
            bound.bound.unused_keys.join(", ")
        );
    }
    let fit_error = |e| CommandError::from_fit(e, Some(loaded));
    let plan = ppl_planner::plan(loaded, &bound.bound, &settings).map_err(fit_error)?;
    if args.verbose {
        for verdict in &plan.verdicts {
            eprintln!("note: {}", verdict.describe());
        }
    }
    // Installed again for the REPL; `ppl run` installed it before loading, so that a Ctrl-C
    // that comes early still ends in a written (if empty) result. The flag is cleared after
    // each fit, not before, so that such an early Ctrl-C is not forgotten.
    install_interrupt_handler();
    let monitor = show_progress;
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr()) && !args.quiet;
    let options = FitOptions {
        out: args.out.as_deref(),
        keep_responsibilities: args.responsibilities,
        relabel: args.relabel.as_deref(),
        control: FitControl {
            stop: Some(&STOP),
            monitor: if terminal { Some(&monitor) } else { None },
        },
    };
    let fitted = ppl_planner::fit(loaded, &bound, plan, &settings, &options);
    // A later Ctrl-C at the REPL prompt must not count as the second one of this run.
    STOP.store(false, Ordering::SeqCst);
    let fitted = fitted.map_err(fit_error)?;
    if let Some(out) = &args.out {
        // `ppl simulate OUT --data new.csv` draws posterior predictive data with this model.
        let path = out.join(crate::commands::simulate::SAVED_MODEL);
        std::fs::create_dir_all(out)
            .and_then(|()| crate::output::write_atomically(&path, loaded.source.as_bytes()))
            .map_err(|e| CommandError::cannot_write(&path, &e))?;
    }
    let mut report = fitted.report;
    if let Some(probabilities) = &quantiles {
        match &fitted.draws {
            Some(draws) => {
                report.quantiles = Some(ppl_planner::draws::quantile_table(
                    &draws.columns,
                    &draws.chains,
                    probabilities,
                ));
                if let Some(out) = &args.out {
                    report
                        .write_summary(out)
                        .map_err(|e| CommandError::cannot_write(out, &e))?;
                }
            }
            None => eprintln!(
                "note: --quantiles applies to posterior draws; {} keeps none here",
                report.method
            ),
        }
    }
    report.total_seconds = started.elapsed().as_secs_f64();
    Ok(Fitted {
        report,
        draws: fitted.draws,
        observed: crate::commands::plot::observed_data(&loaded.model, &bound.bound),
        data: bound.data,
    })
}

/// Makes the first Ctrl-C or SIGTERM set `STOP` instead of ending the process, so that a run
/// keeps, writes and summarises what it has drawn (and the REPL survives a Ctrl-C during a fit).
/// A second one while the flag is still set means "now": the process exits at once with 130,
/// the shell's status for a SIGINT death. Every output file is written atomically, so even then
/// each completed file is valid. Installing the handler again is harmless.
pub fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        // The engines look at the flag between steps; say why the run is ending.
        eprintln!("\nstopping: saving what was drawn so far (interrupt again to quit at once)");
    });
}

/// Set by the Ctrl-C handler; the engines check it.
static STOP: AtomicBool = AtomicBool::new(false);

/// One progress bar per chain on stderr (only on a terminal, never with `--quiet`): iterations,
/// whether it is still warming up, divergences so far, iterations per second and time left.
fn show_progress(progress: &Progress<'_>) {
    use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
    let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
    let style =
        ProgressStyle::with_template("chain {prefix:>2} [{bar:30}] {pos:>6}/{len} {msg} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    let chains: Vec<ProgressBar> = (0..progress.iterations.len())
        .map(|chain| {
            let bar = bars.add(ProgressBar::new(progress.total_per_chain as u64));
            bar.set_style(style.clone());
            bar.set_prefix(format!("{}", chain + 1));
            bar
        })
        .collect();
    let started = Instant::now();
    loop {
        let finished = progress.done.load(Ordering::SeqCst);
        let seconds = started.elapsed().as_secs_f64().max(1e-3);
        for (chain, bar) in chains.iter().enumerate() {
            let done = progress.iterations[chain].load(Ordering::Relaxed);
            let divergent = progress.divergences[chain].load(Ordering::Relaxed);
            bar.set_position(done as u64);
            let phase = if done < progress.warmup_per_chain {
                "warmup  "
            } else {
                "sampling"
            };
            bar.set_message(format!(
                "{phase} {:>7.0} it/s {divergent:>4} divergent",
                done as f64 / seconds
            ));
        }
        if finished {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for bar in &chains {
        bar.finish_and_clear();
    }
    let _ = bars.clear();
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
