//! The shared first half of every subcommand: read the model file, parse, check, load and bind the
//! data, and the error value that carries diagnostics to the edge.

use std::path::Path;

use ppl_syntax::{Diagnostic, codes};

/// Exit statuses (LANGUAGE.md §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    InferenceFailed = 1,
    Usage = 2,
    ModelOrData = 3,
}

/// A failed command: diagnostics on the model text (or none), how to exit, and whether the
/// caller asked for JSON.
#[derive(Debug)]
pub struct CommandError {
    pub diagnostics: Vec<Diagnostic>,
    pub source: String,
    pub file_name: String,
    pub exit: Exit,
    pub json: bool,
}

impl CommandError {
    pub fn new(diagnostics: Vec<Diagnostic>, loaded: Option<&LoadedModel>, exit: Exit) -> Self {
        CommandError {
            diagnostics,
            source: loaded.map(|l| l.source.clone()).unwrap_or_default(),
            file_name: loaded.map(|l| l.file_name.clone()).unwrap_or_default(),
            exit,
            json: false,
        }
    }

    pub fn message(code: &'static str, message: impl Into<String>, exit: Exit) -> Self {
        CommandError::new(vec![Diagnostic::unplaced(code, message)], None, exit)
    }

    /// An output file or directory that cannot be written (a usage problem: the path given).
    pub fn cannot_write(path: &Path, error: &std::io::Error) -> Self {
        CommandError::message(
            codes::OUTPUT_UNWRITABLE,
            format!("cannot write `{}`: {error}", path.display()),
            Exit::Usage,
        )
    }

    pub fn json(mut self, json: bool) -> Self {
        self.json = json;
        self
    }

    /// Renders the error: ariadne reports on stderr, or one JSON object on stdout.
    pub fn report(&self) {
        if self.json {
            let first = self
                .diagnostics
                .iter()
                .find(|d| d.is_error())
                .or(self.diagnostics.first());
            if let Some(first) = first {
                println!("{}", crate::render::error_json(first, &self.source));
            }
        }
        crate::render::write_all(&self.diagnostics, &self.file_name, &self.source);
    }
}

pub use ppl_planner::LoadedModel;

impl CommandError {
    /// A library error, rendered on the model's text when there is one.
    pub fn from_fit(error: ppl_planner::FitError, loaded: Option<&LoadedModel>) -> Self {
        let exit = match error.kind {
            ppl_planner::FailureKind::InferenceFailed => Exit::InferenceFailed,
            ppl_planner::FailureKind::Usage => Exit::Usage,
            ppl_planner::FailureKind::ModelOrData => Exit::ModelOrData,
        };
        CommandError::new(error.diagnostics, loaded, exit)
    }
}

/// Reads, parses and checks a model file; its errors are rendered on its text.
pub fn load_model(path: &Path, sets: &[(String, f64)]) -> Result<LoadedModel, CommandError> {
    match ppl_planner::load_model(path, sets) {
        Ok(loaded) => Ok(loaded),
        Err(error) => {
            // Model errors point into the text: read it again for the report (a file that could
            // not be read has no text, and its error has no span).
            let bytes = std::fs::read(path).unwrap_or_default();
            let (loaded, _) =
                ppl_planner::check_model_bytes(&bytes, path, &path.display().to_string(), sets);
            Err(CommandError::from_fit(error, Some(&loaded)))
        }
    }
}

/// Loads the data named by `--data` or by the model's `data "..."` (relative to the model file)
/// and binds it. `dim_overrides` set dimensions directly (for `simulate`).
pub fn load_and_bind(
    loaded: &LoadedModel,
    data_flag: Option<&Path>,
    dim_overrides: &[(String, f64)],
) -> Result<ppl_planner::BoundModel, CommandError> {
    let source = match data_flag {
        Some(path) => ppl_planner::DataSource::File(path),
        None => ppl_planner::DataSource::ModelDefault,
    };
    ppl_planner::bind(loaded, source, dim_overrides)
        .map_err(|error| CommandError::from_fit(error, Some(loaded)))
}

/// Parses `--set NAME=VALUE` into (name, text); the value is interpreted by the caller.
pub fn parse_set(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`--set {text}` must be NAME=VALUE"))?;
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("`{name}` is not a name"));
    }
    Ok((name.to_string(), value.trim().to_string()))
}

/// Parses a `--set` value: a number or a (nested) list of numbers, e.g. `[-1, 1]`.
pub fn parse_numbers(text: &str) -> Result<Vec<f64>, String> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|_| format!("`{text}` is not a number or a list of numbers like `[-1, 1]`"))?;
    let mut out = Vec::new();
    fn flatten(value: &serde_json::Value, out: &mut Vec<f64>) -> bool {
        match value {
            serde_json::Value::Number(n) => n.as_f64().map(|v| out.push(v)).is_some(),
            serde_json::Value::Array(items) => items.iter().all(|i| flatten(i, out)),
            _ => false,
        }
    }
    if !flatten(&value, &mut out) {
        return Err(format!("`{text}` is not a number or a list of numbers"));
    }
    Ok(out)
}
