//! Parquet and Arrow IPC (Feather v2) data files: typed columns read into the same named arrays
//! as a CSV file's.
//!
//! Each column is a column of the table, named as in CSV: `x` gives shape `[rows]`, and columns
//! `x[1]`..`x[D]` (or `x.1`..`x.D`) one value `x` of shape `[rows, D]`. A fixed-size list column
//! `x` (pyarrow's `pa.list_(pa.float64(), D)`) is the same as the columns `x[1]`..`x[D]`.
//!
//! The file's types decide, not the spelling: integer and boolean columns hold integers (a bool is
//! 0/1), floating-point and decimal columns hold reals (so a whole `2.0` in a `double` column is a
//! real, as `2.0` in a CSV file is). Text columns are read cell by cell as CSV cells are. As for
//! CSV, a cell that is not a finite number (a null, a NaN, an infinity, a date) is recorded on the
//! value and only becomes an error if the model reads it; only a file that cannot be read at all
//! is a [`DataError`]. The compression codecs read are the pure-Rust ones pyarrow uses by default:
//! Snappy (Parquet) and LZ4 (Feather); ZSTD, gzip and Brotli are refused with
//! [`DataError::UnsupportedCompression`].

use std::io::Cursor;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowPrimitiveType, Decimal128Type, Float16Type, Float32Type, Float64Type, Int8Type, Int16Type,
    Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{ArrowError, DataType, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;

use crate::csv_layout::{ColumnPlan, Table, finish_table, plan_columns};
use crate::error::DataError;
use crate::number::parse_cell;
use crate::value::{Cell, CellProblem, Origin};

/// The two columnar formats, for messages.
#[derive(Debug, Clone, Copy)]
enum Columnar {
    Parquet,
    Arrow,
}

impl Columnar {
    fn name(self) -> &'static str {
        match self {
            Columnar::Parquet => "Parquet",
            Columnar::Arrow => "Arrow",
        }
    }
}

/// Reads a whole Parquet file.
pub(crate) fn read_parquet(bytes: &[u8], path: &Path) -> Result<Table, DataError> {
    let malformed = |message: String| malformed(Columnar::Parquet, path, message);
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(bytes))
        .map_err(|error| malformed(error.to_string()))?;
    // Said before reading, by name and column, rather than as the reader's "disabled feature".
    for row_group in builder.metadata().row_groups() {
        for column in row_group.columns() {
            let codec = column.compression();
            if !matches!(
                codec,
                Compression::UNCOMPRESSED
                    | Compression::SNAPPY
                    | Compression::LZ4
                    | Compression::LZ4_RAW
            ) {
                return Err(DataError::UnsupportedCompression {
                    path: path.to_path_buf(),
                    format: Columnar::Parquet.name(),
                    codec: codec_name(&format!("{codec:?}")),
                    column: Some(column.column_path().string()),
                });
            }
        }
    }
    let schema = builder.schema().clone();
    let reader = builder
        .build()
        .map_err(|error| malformed(error.to_string()))?;
    let batches = reader
        .collect::<Result<Vec<RecordBatch>, ArrowError>>()
        .map_err(|error| arrow_error(Columnar::Parquet, path, error))?;
    read_batches(&schema, &batches, path)
}

/// Reads a whole Arrow IPC file (Feather v2, `ARROW1` magic) or stream.
pub(crate) fn read_arrow_ipc(bytes: &[u8], path: &Path) -> Result<Table, DataError> {
    let error = |error| arrow_error(Columnar::Arrow, path, error);
    let (schema, batches) = if bytes.starts_with(ARROW_FILE_MAGIC) {
        let reader =
            arrow_ipc::reader::FileReader::try_new(Cursor::new(bytes), None).map_err(error)?;
        let schema = reader.schema();
        let batches = reader
            .collect::<Result<Vec<RecordBatch>, ArrowError>>()
            .map_err(error)?;
        (schema, batches)
    } else {
        let reader =
            arrow_ipc::reader::StreamReader::try_new(Cursor::new(bytes), None).map_err(error)?;
        let schema = reader.schema();
        let batches = reader
            .collect::<Result<Vec<RecordBatch>, ArrowError>>()
            .map_err(error)?;
        (schema, batches)
    };
    read_batches(&schema, &batches, path)
}

/// The first bytes of an Arrow IPC file.
pub(crate) const ARROW_FILE_MAGIC: &[u8] = b"ARROW1";
/// The first bytes of a Parquet file.
pub(crate) const PARQUET_MAGIC: &[u8] = b"PAR1";
/// The first bytes of an Arrow IPC stream: the continuation marker of its first message.
pub(crate) const ARROW_STREAM_MARKER: &[u8] = &[0xFF, 0xFF, 0xFF, 0xFF];

fn malformed(format: Columnar, path: &Path, message: String) -> DataError {
    DataError::MalformedTable {
        path: path.to_path_buf(),
        format: format.name(),
        message,
    }
}

/// The reader's error, except a ZSTD-compressed Arrow file, which is a codec this build leaves out
/// rather than a broken file.
fn arrow_error(format: Columnar, path: &Path, error: ArrowError) -> DataError {
    let message = error.to_string();
    if message.contains("requires the zstd feature") {
        return DataError::UnsupportedCompression {
            path: path.to_path_buf(),
            format: format.name(),
            codec: "ZSTD".into(),
            column: None,
        };
    }
    malformed(format, path, message)
}

/// `ZSTD(ZstdLevel(1))` → `ZSTD`.
fn codec_name(debug: &str) -> String {
    debug.split('(').next().unwrap_or(debug).to_string()
}

/// Where one table column of the plan comes from: a field, and an element of it if the field is a
/// fixed-size list.
#[derive(Debug, Clone, Copy)]
struct Source {
    field: usize,
    element: Option<usize>,
}

/// The schema's fields as table columns (a fixed-size list of width D as D columns), grouped and
/// checked as a CSV header, and filled from every batch.
fn read_batches(schema: &Schema, batches: &[RecordBatch], path: &Path) -> Result<Table, DataError> {
    let mut header = Vec::new();
    let mut sources = Vec::new();
    let mut types = Vec::new();
    for (field_index, field) in schema.fields().iter().enumerate() {
        match field.data_type() {
            DataType::FixedSizeList(inner, width) if is_flat(inner.data_type()) => {
                for element in 0..usize::try_from(*width).unwrap_or(0) {
                    header.push(format!("{}[{}]", field.name(), element + 1));
                    sources.push(Source {
                        field: field_index,
                        element: Some(element),
                    });
                    types.push(type_name(inner.data_type()));
                }
            }
            data_type => {
                header.push(field.name().clone());
                sources.push(Source {
                    field: field_index,
                    element: None,
                });
                types.push(type_name(data_type));
            }
        }
    }
    let ColumnPlan { mut values, slots } = plan_columns(&header, path)?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let widths: Vec<usize> = values
        .iter()
        .map(|value| value.column_texts.len())
        .collect();
    for (value, &width) in values.iter_mut().zip(&widths) {
        value.builder.values = vec![f64::NAN; rows.saturating_mul(width)];
    }
    // The type of each element of each value, in the value's element order, for its locations.
    let mut value_types: Vec<Vec<String>> = widths
        .iter()
        .map(|&width| vec![String::new(); width])
        .collect();
    for (slot, type_text) in slots.iter().zip(&types) {
        if let Some(entry) = value_types
            .get_mut(slot.value)
            .and_then(|types| types.get_mut(slot.offset))
        {
            entry.clone_from(type_text);
        }
    }

    let mut first_row = 0;
    for batch in batches {
        let mut cells_of_field: Vec<Option<Vec<Cell>>> = vec![None; batch.num_columns()];
        for (source, slot) in sources.iter().zip(&slots) {
            let Some(array) = batch.columns().get(source.field) else {
                continue;
            };
            let width = widths[slot.value];
            let builder = &mut values[slot.value].builder;
            match source.element {
                None => {
                    let cells = cells_of_field[source.field]
                        .get_or_insert_with(|| column_cells(array.as_ref()));
                    for (row, cell) in cells.drain(..).enumerate() {
                        builder.set((first_row + row) * width + slot.offset, cell);
                    }
                }
                Some(element) => {
                    let Some(list) = array.as_fixed_size_list_opt() else {
                        continue;
                    };
                    let cells = cells_of_field[source.field]
                        .get_or_insert_with(|| column_cells(list.values().as_ref()));
                    for row in 0..list.len() {
                        let cell = if list.is_null(row) {
                            null_cell()
                        } else {
                            cells
                                .get(list.value_offset_at(row) + element)
                                .cloned()
                                .unwrap_or_else(null_cell)
                        };
                        builder.set((first_row + row) * width + slot.offset, cell);
                    }
                }
            }
        }
        first_row += batch.num_rows();
    }
    let mut value_types = value_types.into_iter();
    Ok(finish_table(values, rows, |columns| Origin::Table {
        columns,
        types: value_types.next().unwrap_or_default(),
    }))
}

/// Whether a fixed-size list of this element type is read as columns (a list of lists is not).
fn is_flat(data_type: &DataType) -> bool {
    !matches!(
        data_type,
        DataType::FixedSizeList(..)
            | DataType::List(_)
            | DataType::LargeList(_)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::Struct(_)
            | DataType::Map(..)
            | DataType::Union(..)
    )
}

/// A column type as pyarrow prints it (`double`, `int64`, `bool`, `string`), else Arrow's name.
fn type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Float64 => "double".into(),
        DataType::Float32 => "float".into(),
        DataType::Float16 => "halffloat".into(),
        DataType::Int8 => "int8".into(),
        DataType::Int16 => "int16".into(),
        DataType::Int32 => "int32".into(),
        DataType::Int64 => "int64".into(),
        DataType::UInt8 => "uint8".into(),
        DataType::UInt16 => "uint16".into(),
        DataType::UInt32 => "uint32".into(),
        DataType::UInt64 => "uint64".into(),
        DataType::Boolean => "bool".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Null => "null".into(),
        DataType::Date32 => "date32".into(),
        DataType::Date64 => "date64".into(),
        DataType::Decimal128(precision, scale) => format!("decimal128({precision}, {scale})"),
        other => other.to_string(),
    }
}

fn null_cell() -> Cell {
    Cell::Problem(CellProblem::Missing("null".into()))
}

/// A floating-point value as a cell: a real, or a NaN or infinity recorded as such.
fn real_cell(value: f64) -> Cell {
    if value.is_finite() {
        Cell::Number {
            value,
            integer: false,
        }
    } else if value.is_nan() {
        Cell::Problem(CellProblem::NaN("NaN".into()))
    } else if value > 0.0 {
        Cell::Problem(CellProblem::Infinite("inf".into()))
    } else {
        Cell::Problem(CellProblem::Infinite("-inf".into()))
    }
}

fn integer_cell(value: f64) -> Cell {
    Cell::Number {
        value,
        integer: true,
    }
}

/// Every element of a primitive array as a cell (a null as a missing value).
fn primitive_cells<T: ArrowPrimitiveType>(
    array: &dyn Array,
    convert: impl Fn(T::Native) -> Cell,
) -> Option<Vec<Cell>> {
    let array = array.as_primitive_opt::<T>()?;
    Some(
        (0..array.len())
            .map(|index| {
                if array.is_null(index) {
                    null_cell()
                } else {
                    convert(array.value(index))
                }
            })
            .collect(),
    )
}

/// Every element of a flat array as a cell. A type that holds no numbers gives every element the
/// [`CellProblem::UnsupportedType`] problem (nulls stay missing values).
fn column_cells(array: &dyn Array) -> Vec<Cell> {
    let cells = match array.data_type() {
        DataType::Float64 => primitive_cells::<Float64Type>(array, real_cell),
        DataType::Float32 => primitive_cells::<Float32Type>(array, |v| real_cell(f64::from(v))),
        DataType::Float16 => primitive_cells::<Float16Type>(array, |v| real_cell(v.to_f64())),
        DataType::Int8 => primitive_cells::<Int8Type>(array, |v| integer_cell(f64::from(v))),
        DataType::Int16 => primitive_cells::<Int16Type>(array, |v| integer_cell(f64::from(v))),
        DataType::Int32 => primitive_cells::<Int32Type>(array, |v| integer_cell(f64::from(v))),
        // Beyond ±2^53 the value is rounded, as for CSV integers.
        DataType::Int64 => primitive_cells::<Int64Type>(array, |v| integer_cell(v as f64)),
        DataType::UInt8 => primitive_cells::<UInt8Type>(array, |v| integer_cell(f64::from(v))),
        DataType::UInt16 => primitive_cells::<UInt16Type>(array, |v| integer_cell(f64::from(v))),
        DataType::UInt32 => primitive_cells::<UInt32Type>(array, |v| integer_cell(f64::from(v))),
        DataType::UInt64 => primitive_cells::<UInt64Type>(array, |v| integer_cell(v as f64)),
        DataType::Decimal128(_, scale) => {
            let scale = i32::from(*scale);
            primitive_cells::<Decimal128Type>(array, |v| {
                let value = v as f64 / 10f64.powi(scale);
                if scale <= 0 {
                    integer_cell(value)
                } else {
                    real_cell(value)
                }
            })
        }
        DataType::Boolean => array.as_boolean_opt().map(|array| {
            (0..array.len())
                .map(|index| {
                    if array.is_null(index) {
                        null_cell()
                    } else {
                        integer_cell(f64::from(u8::from(array.value(index))))
                    }
                })
                .collect()
        }),
        DataType::Utf8 => array.as_string_opt::<i32>().map(|array| {
            (0..array.len())
                .map(|index| text_cell(array.is_null(index), array.value(index)))
                .collect()
        }),
        DataType::LargeUtf8 => array.as_string_opt::<i64>().map(|array| {
            (0..array.len())
                .map(|index| text_cell(array.is_null(index), array.value(index)))
                .collect()
        }),
        DataType::Utf8View => array.as_string_view_opt().map(|array| {
            (0..array.len())
                .map(|index| text_cell(array.is_null(index), array.value(index)))
                .collect()
        }),
        DataType::Null => Some(vec![null_cell(); array.len()]),
        _ => None,
    };
    cells.unwrap_or_else(|| {
        let problem = CellProblem::UnsupportedType(type_name(array.data_type()));
        (0..array.len())
            .map(|index| {
                if array.is_null(index) {
                    null_cell()
                } else {
                    Cell::Problem(problem.clone())
                }
            })
            .collect()
    })
}

/// A text cell, read as a CSV cell is.
fn text_cell(is_null: bool, text: &str) -> Cell {
    if is_null {
        null_cell()
    } else {
        parse_cell(text.as_bytes())
    }
}
