//! The errors that stop a data file from loading at all.
//!
//! Problems confined to single cells (an empty cell, `NA`, `inf`, text) are *not* errors here: they
//! are recorded on the [`DataValue`](crate::DataValue) so that a column the model never uses cannot
//! fail the load. Everything below is about the file as a whole or its structure, and each variant
//! carries the file path plus whatever says where in the file the problem is (a line, a column name,
//! a JSON key and index path), so the caller can build a precise diagnostic.

use std::path::PathBuf;

use crate::value::format_index;

/// Why a data file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read (missing, no permission, ...).
    #[error("cannot read data file `{}`: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The path names a directory (or another non-regular file), not a data file.
    #[error("data file `{}` is a directory, not a file", path.display())]
    NotAFile { path: PathBuf },

    /// The file is not valid UTF-8; `line` and `column` (1-based, column in bytes) point at the first
    /// invalid byte.
    #[error(
        "data file `{}` is not valid UTF-8: invalid byte at line {line}, column {column}",
        path.display()
    )]
    InvalidUtf8 {
        path: PathBuf,
        line: usize,
        column: usize,
    },

    /// The CSV text cannot be read as a table: no header, a row with the wrong number of fields, ...
    /// `line` is the 1-based line where the offending record starts.
    #[error("data file `{}`, line {line}: {message}", path.display())]
    MalformedCsv {
        path: PathBuf,
        line: u64,
        message: String,
    },

    /// The JSON text is not valid JSON, or not a single object, or has a duplicate key.
    /// `line` and `column` are 1-based, as reported by the JSON parser.
    #[error("data file `{}`, line {line}, column {column}: {message}", path.display())]
    MalformedJson {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    /// A Parquet or Arrow file that its reader cannot read (not such a file, truncated, corrupt).
    /// `format` is `Parquet` or `Arrow`.
    #[error("data file `{}` is not a readable {format} file: {message}", path.display())]
    MalformedTable {
        path: PathBuf,
        format: &'static str,
        message: String,
    },

    /// A Parquet or Arrow file compressed with a codec this build does not read (ZSTD, gzip,
    /// Brotli); `column` names the first such Parquet column.
    #[error(
        "data file `{}` is in {format} format with {codec} compression{}, which ppl does not read",
        path.display(),
        column.as_ref().map(|column| format!(" (column `{column}`)")).unwrap_or_default()
    )]
    UnsupportedCompression {
        path: PathBuf,
        format: &'static str,
        codec: String,
        column: Option<String>,
    },

    /// Two CSV header cells define the same element (`x` twice, or `x[1]` and `x.1`).
    #[error(
        "data file `{}`: column `{second}` (column {second_position}) repeats column `{first}` (column {first_position})",
        path.display()
    )]
    DuplicateColumn {
        path: PathBuf,
        /// Header text of the first occurrence.
        first: String,
        /// 1-based position of the first occurrence in the header.
        first_position: usize,
        /// Header text of the repetition.
        second: String,
        /// 1-based position of the repetition in the header.
        second_position: usize,
    },

    /// The indexed columns of a CSV matrix `x[i]` / `x[i,j]` do not make a complete block:
    /// `missing` is the header text of the first absent column (in row-major order).
    #[error(
        "data file `{}`: the columns of `{name}` are incomplete: column `{missing}` is missing",
        path.display()
    )]
    IncompleteColumns {
        path: PathBuf,
        name: String,
        missing: String,
    },

    /// The CSV header gives one name inconsistent layouts: a plain column and indexed columns, or
    /// indexed columns with different numbers of indices, or an index of 0.
    #[error("data file `{}`: column `{column}`: {message}", path.display())]
    BadColumnName {
        path: PathBuf,
        column: String,
        message: String,
    },

    /// A JSON key's nested arrays are not rectangular. `index` is the 1-based index path of the
    /// offending array or element; `message` names it and the element it disagrees with.
    #[error("data file `{}`: `{key}` is not a rectangular array: {message}", path.display())]
    Ragged {
        path: PathBuf,
        key: String,
        index: Vec<usize>,
        message: String,
    },

    /// A JSON key holds something that is not a number or array of numbers, where that cannot be
    /// deferred: an object (at the top of a key or inside its arrays).
    #[error(
        "data file `{}`: `{}` is {found}, but data values must be numbers or arrays of numbers",
        path.display(),
        format_index(key, index)
    )]
    UnsupportedValue {
        path: PathBuf,
        key: String,
        index: Vec<usize>,
        /// What was found, with an article: "an object".
        found: String,
    },
}

impl DataError {
    /// The data file this error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            DataError::Unreadable { path, .. }
            | DataError::NotAFile { path }
            | DataError::InvalidUtf8 { path, .. }
            | DataError::MalformedCsv { path, .. }
            | DataError::MalformedJson { path, .. }
            | DataError::MalformedTable { path, .. }
            | DataError::UnsupportedCompression { path, .. }
            | DataError::DuplicateColumn { path, .. }
            | DataError::IncompleteColumns { path, .. }
            | DataError::BadColumnName { path, .. }
            | DataError::Ragged { path, .. }
            | DataError::UnsupportedValue { path, .. } => path,
        }
    }
}
