//! The shared first half of every subcommand: read the model file, parse, check, load and bind the
//! data, and the error value that carries diagnostics to the edge.

use std::path::{Path, PathBuf};

use ppl_data::{DataError, DataSet};
use ppl_ir::{CheckOptions, Model};
use ppl_model::BoundData;
use ppl_syntax::{Diagnostic, Span, codes};

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

/// A parsed and checked model.
pub struct LoadedModel {
    pub path: PathBuf,
    pub file_name: String,
    pub source: String,
    pub model: Model,
    pub warnings: Vec<Diagnostic>,
}

/// Reads, parses and checks a model file.
pub fn load_model(path: &Path, sets: &[(String, f64)]) -> Result<LoadedModel, CommandError> {
    let unreadable = |reason: String| {
        CommandError::message(
            codes::MODEL_UNREADABLE,
            format!("cannot read the model file `{}`: {reason}", path.display()),
            Exit::Usage,
        )
    };
    // Checked first: reading a directory fails with an OS message that does not say so.
    if path.is_dir() {
        return Err(unreadable("it is a directory".into()));
    }
    let bytes = std::fs::read(path).map_err(|error| unreadable(error.to_string()))?;
    let (program, mut diagnostics) = ppl_syntax::parse_bytes(&bytes);
    // Byte offsets in diagnostics are offsets into `bytes`: the displayed text keeps them valid.
    let source = ppl_syntax::display_source(&bytes);
    let options = CheckOptions {
        const_overrides: sets.to_vec(),
    };
    let (model, check_diagnostics) = ppl_ir::check(&program, &source, &options);
    diagnostics.extend(check_diagnostics);
    let loaded = LoadedModel {
        path: path.to_path_buf(),
        file_name: path.display().to_string(),
        source,
        model,
        warnings: Vec::new(),
    };
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(CommandError::new(
            diagnostics,
            Some(&loaded),
            Exit::ModelOrData,
        ));
    }
    Ok(LoadedModel {
        warnings: diagnostics,
        ..loaded
    })
}

/// Loads the data named by `--data` or by the model's `data "..."` (relative to the model file)
/// and binds it. `dim_overrides` set dimensions directly (for `simulate`).
pub fn load_and_bind(
    loaded: &LoadedModel,
    data_flag: Option<&Path>,
    dim_overrides: &[(String, f64)],
) -> Result<(BoundData, Option<DataSet>), CommandError> {
    let model = &loaded.model;
    let (path, span) = match (data_flag, &model.data_file) {
        (Some(flag), _) => (Some(flag.to_path_buf()), None),
        (None, Some((file, span))) => {
            let base = loaded.path.parent().unwrap_or(Path::new("."));
            (Some(base.join(file)), Some(*span))
        }
        (None, None) => (None, None),
    };
    let needs = ppl_model::needs_data(model);
    let data = match path {
        Some(path) if needs || data_flag.is_some() => match DataSet::load(&path) {
            Ok(data) => Some(data),
            Err(error) => {
                return Err(CommandError::new(
                    vec![data_error(&error, span)],
                    Some(loaded),
                    Exit::ModelOrData,
                ));
            }
        },
        _ => None,
    };
    if needs && data.is_none() && dim_overrides.is_empty() {
        let first = model
            .variables
            .iter()
            .find(|v| v.role == ppl_ir::Role::Observed && v.init.is_none());
        let span = first
            .map(|v| v.name_span)
            .or(model.dims.first().map(|d| d.span))
            .unwrap_or_default();
        let diagnostic = Diagnostic::error(
            codes::NO_DATA_FILE,
            span,
            "the model has observed data but no data file",
        )
        .with_label("observed here")
        .with_hint("add `data \"file.csv\"` to the model or pass `--data FILE`");
        return Err(CommandError::new(
            vec![diagnostic],
            Some(loaded),
            Exit::ModelOrData,
        ));
    }
    let bound = ppl_model::bind(model, data.as_ref(), dim_overrides)
        .map_err(|diagnostics| CommandError::new(diagnostics, Some(loaded), Exit::ModelOrData))?;
    Ok((bound, data))
}

/// A data file that cannot be loaded at all, pointed at the `data` statement when the model named it.
fn data_error(error: &DataError, span: Option<Span>) -> Diagnostic {
    let code = match error {
        DataError::Unreadable { .. } | DataError::NotAFile { .. } => codes::DATA_UNREADABLE,
        _ => codes::DATA_MALFORMED,
    };
    let message = error.to_string();
    match span {
        Some(span) => Diagnostic::error(code, span, message).with_label("the data file named here"),
        None => Diagnostic::unplaced(code, message),
    }
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
