//! `ppl repl` (LANGUAGE.md §9): a model built line by line. Each input is a `:command`, an
//! expression over the last fit, or a declaration or statement appended to the model text when
//! the whole text still parses and checks (so the model is always valid). `:run` goes through the
//! same pipeline as `ppl run` (`commands::run::fit`). On a terminal, input is highlighted and
//! history persists; with stdin piped it reads plain lines, so it can be scripted.

mod commands;
mod highlight;
mod query;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Parser};
use ppl_data::DataSet;
use ppl_ir::CheckOptions;
use ppl_syntax::Diagnostic;
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{Config, Editor};

use crate::commands::run::{Fitted, RunArgs, check_sets, fit, parse_const_sets};
use crate::frontend::{CommandError, Exit, LoadedModel};
use commands::ReplCommand;
use highlight::ReplHelper;
use ppl_planner::RunReport;
use query::FitValues;

#[derive(Args, Debug)]
pub struct ReplArgs {
    /// A model file to start from (as `:load FILE`).
    pub model: Option<PathBuf>,
}

/// Whether the loop goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

/// The name diagnostics give a model typed at the prompt.
const TYPED_MODEL: &str = "<repl>";

/// The last fit and everything needed to evaluate expressions over it, kept as it was even when
/// the model changes afterwards.
struct LastRun {
    source: String,
    sets: Vec<(String, f64)>,
    data: Option<DataSet>,
    report: RunReport,
    values: FitValues,
    /// The draws as pictures see them (sampling methods), the observed data for a ppc, and
    /// the run's `--out`, where `:plot` writes (else a scratch folder).
    pictures: ppl_plot::RunOutput,
    observed: Vec<ppl_plot::Observed>,
    out: Option<PathBuf>,
}

/// The REPL's state: the model text, where it came from, the data file, and the last fit.
struct Session {
    source: String,
    /// The file the model was loaded from; its `data "..."` resolves relative to it.
    path: Option<PathBuf>,
    data: Option<PathBuf>,
    last_run: Option<LastRun>,
}

/// Runs the REPL until `:quit` or end of input.
pub fn run(args: ReplArgs) -> Result<(), CommandError> {
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        crate::commands::run::install_interrupt_handler();
    }
    let colour =
        interactive && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let config = Config::builder().auto_add_history(false).build();
    let mut editor: Editor<ReplHelper, FileHistory> =
        Editor::with_config(config).map_err(|error| {
            CommandError::message(
                ppl_syntax::codes::UNSUPPORTED,
                format!("cannot start the line editor: {error}"),
                Exit::Usage,
            )
        })?;
    let names = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    editor.set_helper(Some(ReplHelper {
        colour,
        names: names.clone(),
    }));
    let history = history_path();
    if interactive {
        if let Some(path) = &history {
            let _ = editor.load_history(path);
        }
        println!(
            "ppl repl: type declarations and statements, `:help` for the commands, Ctrl-D to leave"
        );
    }
    let mut session = Session::new();
    if let Some(path) = &args.model {
        session.load(path);
    }
    // The lines of a statement still open (a bracket, a trailing operator): each further line is
    // read under the continuation prompt, and the whole statement becomes one history entry.
    let mut pending = String::new();
    loop {
        let prompt = match (interactive, pending.is_empty()) {
            (false, _) => "",
            (true, true) => PROMPT,
            (true, false) => CONTINUATION_PROMPT,
        };
        match editor.readline(prompt) {
            Ok(line) => {
                let Some(entry) = gather(&mut pending, line) else {
                    continue;
                };
                if interactive && !entry.trim().is_empty() {
                    let _ = editor.add_history_entry(entry.as_str());
                    if let Some(path) = &history {
                        let _ = editor.save_history(path);
                    }
                }
                let flow = session.handle(&entry);
                *names.borrow_mut() = session.declared_names();
                let _ = std::io::stdout().flush();
                if flow == Flow::Quit {
                    break;
                }
            }
            // Ctrl-C drops the statement being typed, as in a shell.
            Err(ReadlineError::Interrupted) => {
                if !pending.is_empty() {
                    pending.clear();
                    eprintln!("{DROPPED}");
                }
            }
            Err(ReadlineError::Eof) => break,
            Err(error) => {
                eprintln!("error: cannot read input: {error}");
                break;
            }
        }
    }
    Ok(())
}

const PROMPT: &str = "ppl> ";
/// Shown while a statement is unfinished; as wide as the prompt, so continued lines align.
const CONTINUATION_PROMPT: &str = " ..> ";
const DROPPED: &str = "(the unfinished statement is dropped)";

/// Adds one line read to the statement being gathered in `pending`, and returns the input to
/// handle once it is complete. An empty line under an unfinished statement drops it (the way out
/// of an unbalanced bracket, also in scripts); a `:command` on a fresh line drops it and acts.
fn gather(pending: &mut String, line: String) -> Option<String> {
    if !pending.is_empty() {
        if line.trim().is_empty() {
            pending.clear();
            eprintln!("{DROPPED}");
            return None;
        }
        if commands::is_command(line.trim()) {
            pending.clear();
            eprintln!("{DROPPED}");
            return Some(line);
        }
        pending.push('\n');
        pending.push_str(&line);
    } else {
        *pending = line;
    }
    if highlight::needs_more(pending) {
        None
    } else {
        Some(std::mem::take(pending))
    }
}

/// `$PPL_HISTORY`, else `~/.ppl_history`.
fn history_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PPL_HISTORY") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME").map(|home| Path::new(&home).join(".ppl_history"))
}

/// Prints a plain error message (not tied to the model text) on stderr.
fn complain(message: impl std::fmt::Display) {
    eprintln!("error: {message}");
}

impl Session {
    fn new() -> Session {
        Session {
            source: String::new(),
            path: None,
            data: None,
            last_run: None,
        }
    }

    fn file_name(&self) -> String {
        self.path
            .as_ref()
            .map_or(TYPED_MODEL.to_string(), |p| p.display().to_string())
    }

    /// Parses and checks `source` as this session's model would be.
    fn check(&self, source: &str, sets: &[(String, f64)]) -> LoadedModel {
        let (program, mut diagnostics) = ppl_syntax::parse(source);
        let options = CheckOptions {
            const_overrides: sets.to_vec(),
        };
        let (model, check_diagnostics) = ppl_ir::check(&program, source, &options);
        diagnostics.extend(check_diagnostics);
        LoadedModel {
            // A typed model has no file: its data file is relative to the working directory.
            path: self.path.clone().unwrap_or_else(|| PathBuf::from("repl")),
            file_name: self.file_name(),
            source: source.to_string(),
            model,
            warnings: diagnostics,
        }
    }

    fn handle(&mut self, line: &str) -> Flow {
        // A `:command` typed on a fresh line under an unfinished statement abandons the statement.
        let line = match line.trim_end().rsplit_once('\n') {
            Some((unfinished, last)) if commands::is_command(last.trim()) => {
                if !unfinished.trim().is_empty() {
                    eprintln!("(the unfinished statement above is dropped)");
                }
                last
            }
            _ => line,
        };
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return Flow::Continue;
        }
        if commands::is_command(trimmed) {
            return match commands::parse(trimmed) {
                Ok(command) => self.command(command),
                Err(error) => {
                    complain(error);
                    Flow::Continue
                }
            };
        }
        match expression(line) {
            Some(expr) => self.evaluate(line, &expr),
            None => self.add(line),
        }
        Flow::Continue
    }

    /// Every name the model declares, for Tab completion.
    fn declared_names(&self) -> Vec<String> {
        let loaded = self.check(&self.source, &[]);
        let model = &loaded.model;
        model
            .variables
            .iter()
            .map(|v| v.name.clone())
            .chain(model.lets.iter().map(|l| l.name.clone()))
            .chain(model.constants.iter().map(|c| c.name.clone()))
            .chain(model.dims.iter().map(|d| d.name.clone()))
            .collect()
    }

    /// Appends a declaration or statement if the whole model still checks.
    fn add(&mut self, line: &str) {
        let mut candidate = self.source.clone();
        if !candidate.is_empty() && !candidate.ends_with('\n') {
            candidate.push('\n');
        }
        candidate.push_str(line.trim_end());
        candidate.push('\n');
        let loaded = self.check(&candidate, &[]);
        let errors: Vec<Diagnostic> = loaded
            .warnings
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect();
        if errors.is_empty() {
            self.source = candidate;
        } else {
            crate::render::write_all(&errors, &loaded.file_name, &candidate);
            eprintln!("(not added: the model is unchanged)");
        }
    }

    fn command(&mut self, command: ReplCommand) -> Flow {
        match command {
            ReplCommand::Load(path) => self.load(&path),
            ReplCommand::Data(path) => match DataSet::load(&path) {
                Ok(data) => {
                    let names: Vec<&str> = data.names().collect();
                    println!("data: {} ({})", path.display(), names.join(", "));
                    self.data = Some(path);
                }
                Err(error) => complain(format!("{error} (the data file is unchanged)")),
            },
            ReplCommand::Show => {
                if self.source.is_empty() {
                    println!("(the model is empty)");
                } else {
                    print!("{}", self.source);
                }
            }
            ReplCommand::Check { ir } => self.check_command(ir),
            ReplCommand::Run(words) => self.run(&words),
            ReplCommand::Summary => match &self.last_run {
                Some(run) => print!("{}", crate::output::table(&run.report)),
                None => complain("no run yet: `:run` fits the model"),
            },
            ReplCommand::Plot(words) => self.plot(&words),
            ReplCommand::Reset => {
                *self = Session::new();
                println!("reset: the model, the data file and the last run are forgotten");
            }
            ReplCommand::Help => print!("{}", commands::help()),
            ReplCommand::Quit => return Flow::Quit,
        }
        Flow::Continue
    }

    /// `:load FILE`: replaces the model when the file checks.
    fn load(&mut self, path: &Path) {
        let text = match std::fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(_) => {
                    complain(format!("`{}` is not UTF-8 text", path.display()));
                    return;
                }
            },
            Err(error) => {
                complain(format!("cannot read `{}`: {error}", path.display()));
                return;
            }
        };
        let mut candidate = Session::new();
        candidate.path = Some(path.to_path_buf());
        let loaded = candidate.check(&text, &[]);
        let errors: Vec<Diagnostic> = loaded
            .warnings
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect();
        if !errors.is_empty() {
            crate::render::write_all(&errors, &loaded.file_name, &text);
            eprintln!("(not loaded: the model is unchanged)");
            return;
        }
        if let Some(data) = self.data.take() {
            println!(
                "note: `:data {}` no longer applies; the loaded model's own `data` does",
                data.display()
            );
        }
        self.source = text;
        self.path = Some(path.to_path_buf());
        let statements = ppl_syntax::parse(&self.source).0.statements.len();
        println!(
            "loaded {} ({statements} statement{})",
            path.display(),
            if statements == 1 { "" } else { "s" }
        );
    }

    fn check_command(&self, ir: bool) {
        let loaded = self.check(&self.source, &[]);
        crate::render::write_all(&loaded.warnings, &loaded.file_name, &self.source);
        if loaded.warnings.iter().any(Diagnostic::is_error) {
            return;
        }
        if ir {
            print!("{}", ppl_ir::printer::print(&loaded.model));
            return;
        }
        let model = &loaded.model;
        let count = |role| model.variables.iter().filter(|v| v.role == role).count();
        println!(
            "ok ({} observed, {} latent, {} param, {} term{})",
            count(ppl_ir::Role::Observed),
            count(ppl_ir::Role::Latent),
            count(ppl_ir::Role::Param),
            model.terms.len(),
            if model.terms.len() == 1 { "" } else { "s" },
        );
    }

    /// `:run [method] [flags]`: the flags of `ppl run`, the model from the session.
    fn run(&mut self, words: &[String]) {
        let args = match run_args(words) {
            Ok(args) => args,
            Err(message) => {
                eprint!("{message}");
                return;
            }
        };
        let mut args = args;
        if args.data.is_none() {
            args.data = self.data.clone();
        }
        let started = Instant::now();
        let sets = match parse_const_sets(&args.sets) {
            Ok(sets) => sets,
            Err(error) => return error.report(),
        };
        let loaded = self.check(&self.source, &sets);
        if loaded.warnings.iter().any(Diagnostic::is_error) {
            // Only a `--set` can make a valid model fail here (e.g. a negative size).
            crate::render::write_all(&loaded.warnings, &loaded.file_name, &loaded.source);
            return;
        }
        if let Err(error) = check_sets(&loaded, &sets) {
            return error.report();
        }
        crate::render::write_all(&loaded.warnings, &loaded.file_name, &loaded.source);
        let fitted = match fit(&args, &loaded, started) {
            Ok(fitted) => fitted,
            Err(error) => return error.report(),
        };
        let Fitted {
            report,
            draws,
            data,
            observed,
        } = fitted;
        match args.format {
            crate::commands::run::Format::Json => println!("{}", report.to_json()),
            crate::commands::run::Format::Table => print!("{}", crate::output::table(&report)),
        }
        if args.plot
            && let Some(out) = &args.out
            && let Err(error) = crate::commands::run::draw_default_set(out, &observed)
        {
            error.report();
        }
        let unknowns: Vec<String> = loaded.model.unknowns().map(|v| v.name.clone()).collect();
        let mut pictures = match &draws {
            Some(draws) => ppl_plot::RunOutput::from_draws(&draws.columns, &draws.chains),
            None => ppl_plot::RunOutput::default(),
        };
        pictures.method = Some(report.method.clone());
        pictures.objective = report.objective.clone();
        let values = match draws {
            Some(draws) => FitValues::from_draws(&unknowns, &draws.columns, draws.chains),
            None => FitValues::from_estimates(&unknowns, &report.estimates),
        };
        self.last_run = Some(LastRun {
            source: loaded.source,
            sets,
            data,
            report,
            values,
            pictures,
            observed,
            out: args.out.clone(),
        });
    }

    /// `:plot VAR... [KIND]` (or a kind alone): one picture of the last fit, written into the
    /// run's `--out` (or a scratch folder), and where it went.
    fn plot(&self, words: &str) {
        let Some(run) = &self.last_run else {
            return complain("no run yet: `:run` fits the model, then `:plot VAR` draws it");
        };
        let mut variables: Vec<String> = words.split_whitespace().map(str::to_string).collect();
        let kind = match variables
            .last()
            .and_then(|w| ppl_plot::PlotKind::from_name(w))
        {
            Some(kind) => {
                variables.pop();
                kind
            }
            None => ppl_plot::PlotKind::Trace,
        };
        let folder = match &run.out {
            Some(out) => out.join(ppl_plot::PLOTS_FOLDER),
            None => std::env::temp_dir().join(format!("ppl-repl-{}", std::process::id())),
        };
        if let Err(error) = std::fs::create_dir_all(&folder) {
            return complain(format!("cannot create `{}`: {error}", folder.display()));
        }
        let stem: String = std::iter::once(kind.name().to_string())
            .chain(variables.iter().cloned())
            .collect::<Vec<_>>()
            .join("-")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut request = ppl_plot::PlotRequest::new(kind, folder.join(format!("{stem}.png")));
        request.variables = variables;
        request.observed = run.observed.clone();
        let mut pictures = run.pictures.clone();
        if kind == ppl_plot::PlotKind::Samples {
            match &run.out {
                Some(out) => pictures.path = out.clone(),
                None => {
                    return complain(
                        "a generative model's samples are read from its output directory: `:run --out DIR` first",
                    );
                }
            }
        }
        match ppl_plot::plot(&pictures, &request) {
            Ok(picture) => println!(
                "wrote {} ({}x{}): {} of {}",
                picture.path.display(),
                picture.width,
                picture.height,
                kind.name(),
                picture.variables.join(", ")
            ),
            Err(error) => complain(format!("{error} [{}]", error.code())),
        }
    }

    /// An expression over the last fit.
    fn evaluate(&self, input: &str, expr: &ppl_syntax::Expr) {
        let Some(run) = &self.last_run else {
            complain(
                "that is an expression: after `:run`, expressions are evaluated over the fit (e.g. `mean(mu)`); declarations and statements build the model",
            );
            return;
        };
        let request = match query::request(expr) {
            Ok(request) => request,
            Err(message) => return complain(message),
        };
        match query::evaluate(
            input,
            &request,
            &run.source,
            &run.sets,
            run.data.as_ref(),
            &run.values,
        ) {
            Ok(text) => print!("{text}"),
            Err(query::QueryFailure::Message(message)) => complain(message),
            Err(query::QueryFailure::Diagnostics {
                diagnostics,
                source,
                file_name,
            }) => crate::render::write_all(&diagnostics, &file_name, &source),
        }
    }
}

/// The input as an expression, or `None` for declarations and statements. Braces only ever
/// open a statement block, and `parse_expression` is not asked about them.
fn expression(line: &str) -> Option<ppl_syntax::Expr> {
    let has_block = ppl_syntax::tokens(line)
        .iter()
        .any(|(token, _)| *token == ppl_syntax::Token::LeftBrace);
    if has_block {
        return None;
    }
    ppl_syntax::parse_expression(line).ok()
}

/// Fit the REPL's model as `ppl run` does: a leading word is the method, then the flags of
/// `ppl run` (its MODEL argument is not used: the model is the REPL's).
#[derive(Parser, Debug)]
#[command(
    name = ":run",
    no_binary_name = true,
    override_usage = ":run [METHOD] [OPTIONS]"
)]
struct RunLine {
    #[command(flatten)]
    args: RunArgs,
}

fn run_args(words: &[String]) -> Result<RunArgs, String> {
    // `RunArgs` needs a model path; the REPL's model is its text, so the path is never read.
    let mut argv = vec![TYPED_MODEL.to_string()];
    let mut rest = words;
    if let Some(first) = words.first()
        && !first.starts_with('-')
    {
        argv.push("--method".into());
        argv.push(first.clone());
        rest = &words[1..];
    }
    argv.extend(rest.iter().cloned());
    RunLine::try_parse_from(argv)
        .map(|line| line.args)
        .map_err(|error| {
            let text = error.render().to_string();
            if error.use_stderr() {
                // The first paragraph says what is wrong; clap's usage line would show the
                // placeholder model path.
                let first = text.split("\n\n").next().unwrap_or(&text).trim_end();
                format!("{first}\n  `:run [method] [flags]` takes the flags of `ppl run`, e.g. `:run nuts --draws 500 --seed 2`\n")
            } else {
                text
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppl_ir::Method;

    #[test]
    fn run_words_become_run_flags() {
        let args = run_args(&[]).unwrap();
        assert_eq!(args.method, None);
        let words: Vec<String> = ["nuts", "--draws", "200", "--chains", "2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let args = run_args(&words).unwrap();
        assert_eq!(args.method, Some(Method::Nuts));
        assert_eq!(
            (
                args.settings.get(ppl_planner::Setting::Draws),
                args.settings.get(ppl_planner::Setting::Chains)
            ),
            (Some(200.0), Some(2.0))
        );
        let args = run_args(&["--seed".to_string(), "7".to_string()]).unwrap();
        assert_eq!(
            (args.method, args.settings.get(ppl_planner::Setting::Seed)),
            (None, Some(7.0))
        );
        let error = run_args(&["nutz".to_string()]).unwrap_err();
        assert!(error.contains("nutz"), "{error}");
        assert!(!error.contains("<repl>"), "{error}");
    }

    #[test]
    fn lines_are_added_only_when_the_model_checks() {
        let mut session = Session::new();
        session.handle("latent mu: real");
        session.handle("mu ~ Normal(0, sigma)");
        assert_eq!(session.source, "latent mu: real\n");
        session.handle("mu ~ Normal(1,");
        assert_eq!(session.source, "latent mu: real\n");
        session.handle("mu ~ Normal(1,\n  2)");
        assert_eq!(session.source, "latent mu: real\nmu ~ Normal(1,\n  2)\n");
        session.handle("# a comment");
        session.handle(":reset");
        assert_eq!(session.source, "");
        assert_eq!(session.handle(":quit"), Flow::Quit);
    }

    #[test]
    fn expressions_are_told_from_statements() {
        for statement in [
            "latent mu: real",
            "mu ~ Normal(0, 1)",
            "let a = mu + 1",
            "const K = 2",
            "data \"x.csv\"",
            "for i in 1..N { x[i] ~ Normal(mu, 1) }",
        ] {
            assert!(expression(statement).is_none(), "{statement}");
        }
        for expression in ["mu", "mean(mu[1] - mu[2])", "prob(tau > 5)", "sd(mu) * 2"] {
            assert!(super::expression(expression).is_some(), "{expression}");
        }
    }
}
