//! The first half of every fit: read a model (from a file or from text), parse, check, then load
//! the data (a file, or arrays a program already holds) and bind it.

use std::path::{Path, PathBuf};

use ppl_data::{DataError, DataSet};
use ppl_ir::{CheckOptions, Model};
use ppl_model::BoundData;
use ppl_syntax::{Diagnostic, Span, codes};

use crate::error::{FailureKind, FitError};

/// A parsed and checked model, with the text its spans point into.
#[derive(Clone, Debug)]
pub struct LoadedModel {
    /// Where the model came from; a `data "..."` statement is relative to its folder.
    pub path: PathBuf,
    /// The name diagnostics show (`examples/gmm.model`, `<repl>`).
    pub file_name: String,
    pub source: String,
    pub model: Model,
    /// Warnings from parsing and checking (errors make loading fail).
    pub warnings: Vec<Diagnostic>,
}

impl LoadedModel {
    /// The model's short name (the file stem), for output files.
    pub fn name(&self) -> String {
        self.path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default()
    }
}

/// Reads, parses and checks a model file. `const_overrides` are `--set K=3`.
pub fn load_model(path: &Path, const_overrides: &[(String, f64)]) -> Result<LoadedModel, FitError> {
    let unreadable = |reason: String| {
        FitError::message(
            codes::MODEL_UNREADABLE,
            format!("cannot read the model file `{}`: {reason}", path.display()),
            FailureKind::Usage,
        )
    };
    // Checked first: reading a directory fails with an OS message that does not say so.
    if path.is_dir() {
        return Err(unreadable("it is a directory".into()));
    }
    let bytes = std::fs::read(path).map_err(|error| unreadable(error.to_string()))?;
    parse_model_bytes(&bytes, path, &path.display().to_string(), const_overrides)
}

/// Parses and checks a model given as text. `path` only locates a `data "..."` statement.
pub fn parse_model(
    source: &str,
    path: &Path,
    file_name: &str,
    const_overrides: &[(String, f64)],
) -> Result<LoadedModel, FitError> {
    parse_model_bytes(source.as_bytes(), path, file_name, const_overrides)
}

fn parse_model_bytes(
    bytes: &[u8],
    path: &Path,
    file_name: &str,
    const_overrides: &[(String, f64)],
) -> Result<LoadedModel, FitError> {
    let (loaded, diagnostics) = check_model_bytes(bytes, path, file_name, const_overrides);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(FitError::new(diagnostics, FailureKind::ModelOrData));
    }
    Ok(LoadedModel {
        warnings: diagnostics,
        ..loaded
    })
}

/// Parses and checks, returning the model however far checking got and every diagnostic
/// (including the checks of the model's `infer` settings). `ppl check` and the REPL use this.
pub fn check_model_bytes(
    bytes: &[u8],
    path: &Path,
    file_name: &str,
    const_overrides: &[(String, f64)],
) -> (LoadedModel, Vec<Diagnostic>) {
    let (program, mut diagnostics) = ppl_syntax::parse_bytes(bytes);
    // Byte offsets in diagnostics are offsets into `bytes`: the displayed text keeps them valid.
    let source = ppl_syntax::display_source(bytes);
    let options = CheckOptions {
        const_overrides: const_overrides.to_vec(),
    };
    let (model, check_diagnostics) = ppl_ir::check(&program, &source, &options);
    diagnostics.extend(check_diagnostics);
    if let Some(infer) = &model.infer {
        diagnostics.extend(crate::settings::check_infer(infer));
    }
    let loaded = LoadedModel {
        path: path.to_path_buf(),
        file_name: file_name.to_string(),
        source,
        model,
        warnings: Vec::new(),
    };
    (loaded, diagnostics)
}

/// Where a fit's data comes from.
#[derive(Clone, Debug, Default)]
pub enum DataSource<'a> {
    /// The model's `data "..."` statement, if it has one (relative to the model file).
    #[default]
    ModelDefault,
    /// A CSV or Stan-JSON file (`--data`), overriding the model's.
    File(&'a Path),
    /// Arrays already in memory (`ppl_data::DataSet::from_json_str`, or built by a program).
    InMemory(DataSet),
}

/// A model bound to its data: dimensions and observed values, every data check passed.
#[derive(Clone, Debug)]
pub struct BoundModel {
    pub bound: BoundData,
    /// The data set, kept for queries over the fit (the REPL).
    pub data: Option<DataSet>,
}

/// Loads the data and binds it. `dim_overrides` set dimensions directly (for `simulate`).
pub fn bind(
    loaded: &LoadedModel,
    source: DataSource<'_>,
    dim_overrides: &[(String, f64)],
) -> Result<BoundModel, FitError> {
    let model = &loaded.model;
    let needs = ppl_model::needs_data(model);
    let data = match source {
        DataSource::InMemory(data) => Some(data),
        DataSource::File(path) => Some(load_data(path, None)?),
        DataSource::ModelDefault => match &model.data_file {
            Some((file, span)) if needs => {
                let base = loaded.path.parent().unwrap_or(Path::new("."));
                Some(load_data(&base.join(file), Some(*span))?)
            }
            _ => None,
        },
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
        return Err(FitError::one(diagnostic, FailureKind::ModelOrData));
    }
    let bound = ppl_model::bind(model, data.as_ref(), dim_overrides)
        .map_err(|diagnostics| FitError::new(diagnostics, FailureKind::ModelOrData))?;
    Ok(BoundModel { bound, data })
}

/// Reads a data file named on the command line (`ppl simulate --data F`), with the same errors as
/// [`bind`]'s.
pub fn read_data_file(path: &Path) -> Result<DataSet, FitError> {
    load_data(path, None)
}

fn load_data(path: &Path, span: Option<Span>) -> Result<DataSet, FitError> {
    DataSet::load(path)
        .map_err(|error| FitError::one(data_error(&error, span), FailureKind::ModelOrData))
}

/// A data file that cannot be loaded at all, pointed at the `data` statement when the model named it.
fn data_error(error: &DataError, span: Option<Span>) -> Diagnostic {
    let code = match error {
        DataError::Unreadable { .. } | DataError::NotAFile { .. } => codes::DATA_UNREADABLE,
        DataError::UnsupportedCompression { .. } => codes::DATA_COMPRESSION,
        _ => codes::DATA_MALFORMED,
    };
    let message = error.to_string();
    let diagnostic = match span {
        Some(span) => Diagnostic::error(code, span, message).with_label("the data file named here"),
        None => Diagnostic::unplaced(code, message),
    };
    match error {
        DataError::UnsupportedCompression { .. } => diagnostic.with_hint(
            "write it uncompressed or with Snappy or LZ4, e.g. in pyarrow              `pq.write_table(table, path, compression=\"snappy\")` or              `feather.write_feather(table, path, compression=\"lz4\")`",
        ),
        _ => diagnostic,
    }
}
