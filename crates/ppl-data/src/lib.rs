//! Loading a data file (CSV, Stan-style JSON, Parquet or Arrow IPC) into named numeric arrays.
//!
//! This crate knows nothing of models. It reads the file's structure strictly (a malformed table,
//! ragged JSON, duplicate names are [`DataError`]s with a line or key) and its cells tolerantly: an
//! empty cell, `NA`, `inf` or stray text is recorded on the [`DataValue`] rather than failing, since a
//! column the model never reads must not stop it. The model layer then asks for names with
//! [`DataSet::get`], checks types, shapes, bounds and supports, and uses
//! [`DataValue::first_non_finite`], [`DataValue::first_non_integer`] and [`DataValue::locate`] to say
//! exactly where in the data a problem is.
//!
//! Layouts (see the language spec, §2 "Declarations"):
//! - **CSV** with a header row: plain column `x` → shape `[rows]`; columns `x[1]`..`x[D]` or
//!   `x.1`..`x.D` → `x` of shape `[rows, D]`; `x[i,j]` / `x.i.j` → `[rows, I, J]`. Details in
//!   the `csv_layout` module.
//! - **JSON**: one object of numbers and rectangular nested arrays, as Stan's JSON data; details in
//!   the `json_layout` module.
//! - **Parquet** and **Arrow IPC** (Feather v2): typed columns named as CSV columns, a fixed-size
//!   list column `x` standing for `x[1]`..`x[D]`; details in the `columnar` module.
//!
//! The crate also holds [`atomic_file`], the all-or-nothing file writer the CLI uses for its outputs.

pub mod atomic_file;
mod columnar;
mod csv_layout;
mod error;
mod json_layout;
mod number;
mod plain_rows;
mod value;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use error::DataError;
pub use value::{CellProblem, DataValue, Location};

/// The data file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFormat {
    Csv,
    Json,
    Parquet,
    /// Arrow IPC: a Feather v2 / `.arrow` file or an IPC stream.
    Arrow,
}

impl DataFormat {
    /// The format a path's extension implies (any case): `.json` is JSON, `.csv` is CSV,
    /// `.parquet` / `.pq` Parquet, `.arrow` / `.feather` / `.ipc` / `.arrows` Arrow; anything else
    /// is undecided.
    pub fn from_extension(path: &Path) -> Option<DataFormat> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "json" => Some(DataFormat::Json),
            "csv" => Some(DataFormat::Csv),
            "parquet" | "pq" => Some(DataFormat::Parquet),
            "arrow" | "feather" | "ipc" | "arrows" => Some(DataFormat::Arrow),
            _ => None,
        }
    }

    /// Guesses from the content: Parquet and Arrow files start with their magic bytes, JSON data is
    /// an object, so it starts with `{`; anything else is CSV.
    pub fn sniff(bytes: &[u8]) -> DataFormat {
        if bytes.starts_with(columnar::PARQUET_MAGIC) {
            return DataFormat::Parquet;
        }
        if bytes.starts_with(columnar::ARROW_FILE_MAGIC)
            || bytes.starts_with(columnar::ARROW_STREAM_MARKER)
        {
            return DataFormat::Arrow;
        }
        let start = strip_bom(bytes).trim_ascii_start();
        if start.first() == Some(&b'{') {
            DataFormat::Json
        } else {
            DataFormat::Csv
        }
    }
}

/// All named values of one data file, in file order.
#[derive(Debug, Clone)]
pub struct DataSet {
    /// The file it was read from (for `from_*_str`, the path given, used in messages).
    pub path: PathBuf,
    pub format: DataFormat,
    values: Vec<DataValue>,
    position_of: HashMap<String, usize>,
    rows: Option<usize>,
}

impl DataSet {
    /// Reads and parses a data file. The format comes from the extension (`.json`, `.csv`,
    /// `.parquet`, `.arrow`, `.feather`; see [`DataFormat::from_extension`]) or, for
    /// any other extension, from the content ([`DataFormat::sniff`]).
    pub fn load(path: &Path) -> Result<DataSet, DataError> {
        let unreadable = |source| DataError::Unreadable {
            path: path.to_path_buf(),
            source,
        };
        // Checked first because opening a directory succeeds on Unix and only the read fails, with
        // a less helpful message.
        let metadata = std::fs::metadata(path).map_err(unreadable)?;
        if metadata.is_dir() {
            return Err(DataError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        let bytes = std::fs::read(path).map_err(unreadable)?;
        let format = DataFormat::from_extension(path).unwrap_or_else(|| DataFormat::sniff(&bytes));
        DataSet::from_bytes(&bytes, path, format)
    }

    /// Parses CSV text; `path` is only used in messages.
    pub fn from_csv_str(text: &str, path: &Path) -> Result<DataSet, DataError> {
        DataSet::from_bytes(text.as_bytes(), path, DataFormat::Csv)
    }

    /// Parses JSON text; `path` is only used in messages.
    pub fn from_json_str(text: &str, path: &Path) -> Result<DataSet, DataError> {
        DataSet::from_bytes(text.as_bytes(), path, DataFormat::Json)
    }

    /// Parses the bytes of a data file in the given format. For the text formats, invalid UTF-8
    /// anywhere is an error (with its line and column) and a leading byte-order mark is ignored.
    pub fn from_bytes(bytes: &[u8], path: &Path, format: DataFormat) -> Result<DataSet, DataError> {
        let (values, rows) = match format {
            DataFormat::Csv => {
                let table = csv_layout::read_csv(utf8_text(bytes, path)?, path)?;
                (table.values, Some(table.rows))
            }
            DataFormat::Json => (json_layout::read_json(utf8_text(bytes, path)?, path)?, None),
            DataFormat::Parquet => {
                let table = columnar::read_parquet(bytes, path)?;
                (table.values, Some(table.rows))
            }
            DataFormat::Arrow => {
                let table = columnar::read_arrow_ipc(bytes, path)?;
                (table.values, Some(table.rows))
            }
        };
        Ok(DataSet::new(path, format, values, rows))
    }

    fn new(
        path: &Path,
        format: DataFormat,
        values: Vec<DataValue>,
        rows: Option<usize>,
    ) -> DataSet {
        let position_of = values
            .iter()
            .enumerate()
            .map(|(position, value)| (value.name.clone(), position))
            .collect();
        DataSet {
            path: path.to_path_buf(),
            format,
            values,
            position_of,
            rows,
        }
    }

    /// The value named `name` (a table's column or column group, or a JSON key).
    pub fn get(&self, name: &str) -> Option<&DataValue> {
        self.position_of
            .get(name)
            .map(|&position| &self.values[position])
    }

    /// The names in file order (for `-v`'s list of unused keys).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.iter().map(|value| value.name.as_str())
    }

    /// The values in file order.
    pub fn values(&self) -> impl Iterator<Item = &DataValue> {
        self.values.iter()
    }

    /// The number of data rows of a CSV, Parquet or Arrow file (the length every column shares);
    /// `None` for JSON.
    pub fn rows(&self) -> Option<usize> {
        self.rows
    }

    /// How many names the file defines.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the file defines no names at all.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// A text file's bytes without a leading byte-order mark, once known to be UTF-8.
fn utf8_text<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a [u8], DataError> {
    let bytes = strip_bom(bytes);
    match std::str::from_utf8(bytes) {
        Ok(_) => Ok(bytes),
        Err(error) => {
            let (line, column) = line_and_column(bytes, error.valid_up_to());
            Err(DataError::InvalidUtf8 {
                path: path.to_path_buf(),
                line,
                column,
            })
        }
    }
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// 1-based line and byte column of `offset` in `bytes`.
fn line_and_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&byte| byte == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map_or(0, |newline| newline + 1);
    (line, offset - line_start + 1)
}
