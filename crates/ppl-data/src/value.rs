//! One named array from a data file, with enough provenance to say where each element came from.
//!
//! Values are stored flat in row-major order as `f64`. Cells that are not finite numbers are stored as
//! NaN and the first such cell is remembered as a [`CellProblem`]; whether each element was *written*
//! as an integer is summarised by the first element that was not. The model layer decides what is an
//! error (a column it never reads may hold anything), and [`DataValue::locate`] turns a flat index
//! back into a row and column (CSV) or an index path (JSON) for its diagnostic.

use std::fmt;
use std::sync::Arc;

/// Why one cell or element is not a finite number. Its value is stored as NaN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CellProblem {
    /// An empty (or all-blank) CSV cell.
    Empty,
    /// A conventional missing-value marker: `NA`, `N/A`, `NULL`, `null`, `None` in CSV, or JSON
    /// `null`. Holds the text as written.
    Missing(String),
    /// Text that is not a number at all. Holds the text (trimmed, cut to 40 characters).
    NotANumber(String),
    /// A NaN written explicitly (`nan`, `NaN`, JSON `"NaN"`). Holds the text as written.
    NaN(String),
    /// An infinite value (`inf`, `-Infinity`, JSON `"-Inf"`, or a number too large for `f64` such as
    /// `1e999`). Holds the text as written.
    Infinite(String),
    /// A Parquet or Arrow column whose type holds no numbers (a date, a struct, a dictionary of
    /// categories). Holds the type's name.
    UnsupportedType(String),
}

impl CellProblem {
    /// Whether the cell is there but of a type that holds no numbers, rather than a number that is
    /// missing or not finite: the model layer gives it its own code.
    pub fn is_unsupported_type(&self) -> bool {
        matches!(self, CellProblem::UnsupportedType(_))
    }
}

impl fmt::Display for CellProblem {
    /// Reads as a noun phrase: "x has {problem} at {location}".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CellProblem::Empty => write!(f, "an empty cell"),
            CellProblem::Missing(text) => write!(f, "a missing value (`{text}`)"),
            CellProblem::NotANumber(text) => write!(f, "`{text}`, which is not a number"),
            CellProblem::NaN(text) => write!(f, "a NaN (`{text}`)"),
            CellProblem::Infinite(text) => write!(f, "an infinite value (`{text}`)"),
            CellProblem::UnsupportedType(type_name) => {
                write!(f, "a value of type {type_name}, which holds no number")
            }
        }
    }
}

/// Where an element of a [`DataValue`] is in its file. Displays as
/// ``row 17 (line 18), column `x[2]` `` for CSV, ``row 17, column `x` (double)`` for Parquet and
/// Arrow, and `` `y[3, 2]` `` for JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A CSV cell.
    CsvCell {
        /// 1-based data row (the header is not a row).
        row: usize,
        /// 1-based line of the file where that row starts.
        line: u64,
        /// The header text of the cell's column, as written (trimmed): `x`, `x[2]`, `x.2.1`.
        column: String,
    },
    /// A cell of a Parquet or Arrow file, which has no lines.
    TableCell {
        /// 1-based row.
        row: usize,
        /// The column's name; an element of a fixed-size list column `x` is named `x[2]`.
        column: String,
        /// The column's type as the file declares it (`double`, `int64`), since in a typed file
        /// the type, not the spelling, says whether a value is an integer.
        column_type: String,
    },
    /// An element of a JSON key.
    JsonElement {
        key: String,
        /// 1-based index path; empty for a scalar key.
        index: Vec<usize>,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::CsvCell { row, line, column } => {
                write!(f, "row {row} (line {line}), column `{column}`")
            }
            Location::TableCell {
                row,
                column,
                column_type,
            } => write!(f, "row {row}, column `{column}` ({column_type})"),
            Location::JsonElement { key, index } => write!(f, "`{}`", format_index(key, index)),
        }
    }
}

/// `y` for an empty index, else `y[3, 2]`.
pub(crate) fn format_index(key: &str, index: &[usize]) -> String {
    if index.is_empty() {
        return key.to_string();
    }
    let parts: Vec<String> = index.iter().map(usize::to_string).collect();
    format!("{key}[{}]", parts.join(", "))
}

/// The file line on which each CSV data row starts. Almost always rows are consecutive lines, so the
/// per-row table is only built when a quoted field spans lines or blank lines were skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RowLines {
    /// Row `r` (0-based) starts on line `first + r`.
    Consecutive { first: u64 },
    /// Row `r` (0-based) starts on line `lines[r]`.
    Listed(Vec<u64>),
}

impl RowLines {
    pub(crate) fn line_of(&self, row: usize) -> u64 {
        match self {
            RowLines::Consecutive { first } => first + row as u64,
            RowLines::Listed(lines) => lines.get(row).copied().unwrap_or(0),
        }
    }
}

/// Where a value's elements came from, for [`DataValue::locate`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Origin {
    /// CSV columns; `columns[k]` is the header text of the k-th element of each row (row-major order
    /// over the trailing dimensions), and `lines` is shared by every value of the file.
    Csv {
        columns: Vec<String>,
        lines: Arc<RowLines>,
    },
    /// Parquet or Arrow columns: `columns[k]` is the name of the k-th element of each row (as for
    /// CSV) and `types[k]` its column's type.
    Table {
        columns: Vec<String>,
        types: Vec<String>,
    },
    /// A JSON key (the value's name).
    Json,
}

/// One named array read from a data file.
///
/// `shape` is `[]` for a scalar, `[rows]` for a plain CSV column, `[rows, D]` for CSV columns
/// `x[1]`..`x[D]`, and whatever the nesting gives for JSON. `values` holds the elements in row-major
/// order; elements with a [`CellProblem`] are NaN there.
#[derive(Debug, Clone, PartialEq)]
pub struct DataValue {
    /// The column name (CSV, without indices) or key (JSON).
    pub name: String,
    pub shape: Vec<usize>,
    /// Row-major elements; `values.len()` is the product of `shape`.
    pub values: Vec<f64>,
    pub(crate) origin: Origin,
    pub(crate) first_problem: Option<(usize, CellProblem)>,
    pub(crate) problem_count: usize,
    pub(crate) first_non_integer: Option<usize>,
}

impl DataValue {
    /// The first element (lowest flat index) that is not a finite number, and why. The model layer
    /// calls this for every value it reads: the language requires data to be finite.
    pub fn first_non_finite(&self) -> Option<(usize, CellProblem)> {
        self.first_problem.clone()
    }

    /// How many elements are not finite numbers (the first is [`Self::first_non_finite`]).
    pub fn non_finite_count(&self) -> usize {
        self.problem_count
    }

    /// The first finite element (lowest flat index) that was not *written* as an integer, for use
    /// where the model wants an `int` or `bool`.
    ///
    /// As in Stan, an integer is written with digits only (and an optional sign): `1.0`, `1e3` and
    /// `-2.` are reals even though their values are whole, so `1.0` for an `int` is an error. JSON
    /// `true`/`false` count as the integers 1/0. Non-finite elements are not considered here — check
    /// [`Self::first_non_finite`] first. Values are `f64`, so integers beyond ±2^53 are rounded.
    pub fn first_non_integer(&self) -> Option<usize> {
        self.first_non_integer
    }

    /// Whether this is a single number (a JSON scalar key).
    pub fn is_scalar(&self) -> bool {
        self.shape.is_empty()
    }

    /// Where the element at `flat_index` (row-major) is in the file. An index past the end gives a
    /// location past the end rather than a panic.
    pub fn locate(&self, flat_index: usize) -> Location {
        match &self.origin {
            Origin::Csv { columns, lines } => {
                let width = columns.len().max(1);
                let row = flat_index / width;
                let column = columns
                    .get(flat_index % width)
                    .cloned()
                    .unwrap_or_else(|| self.name.clone());
                Location::CsvCell {
                    row: row + 1,
                    line: lines.line_of(row),
                    column,
                }
            }
            Origin::Table { columns, types } => {
                let width = columns.len().max(1);
                let element = flat_index % width;
                Location::TableCell {
                    row: flat_index / width + 1,
                    column: columns
                        .get(element)
                        .cloned()
                        .unwrap_or_else(|| self.name.clone()),
                    column_type: types.get(element).cloned().unwrap_or_default(),
                }
            }
            Origin::Json => Location::JsonElement {
                key: self.name.clone(),
                index: unravel(flat_index, &self.shape),
            },
        }
    }
}

/// The 1-based index path of a row-major flat index.
fn unravel(mut flat_index: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![1; shape.len()];
    for (axis, &size) in shape.iter().enumerate().rev() {
        if size == 0 {
            continue;
        }
        // The leading axis takes whatever is left, so an out-of-range index stays visible.
        if axis == 0 {
            index[axis] = flat_index + 1;
        } else {
            index[axis] = flat_index % size + 1;
            flat_index /= size;
        }
    }
    index
}

/// Accumulates one value's elements in row-major order and remembers the first problem cells.
/// CSV fills a row of several columns out of order, so elements are `set` at a flat index.
#[derive(Debug, Default)]
pub(crate) struct ValueBuilder {
    pub(crate) values: Vec<f64>,
    first_problem: Option<(usize, CellProblem)>,
    problem_count: usize,
    first_non_integer: Option<usize>,
}

/// One parsed cell or JSON scalar.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Number { value: f64, integer: bool },
    Problem(CellProblem),
}

impl ValueBuilder {
    /// Stores `cell` at `flat_index`, which must already exist in `values`.
    pub(crate) fn set(&mut self, flat_index: usize, cell: Cell) {
        match cell {
            Cell::Number { value, integer } => {
                self.values[flat_index] = value;
                if !integer
                    && self
                        .first_non_integer
                        .is_none_or(|first| flat_index < first)
                {
                    self.first_non_integer = Some(flat_index);
                }
            }
            Cell::Problem(problem) => {
                self.values[flat_index] = f64::NAN;
                self.problem_count += 1;
                if self
                    .first_problem
                    .as_ref()
                    .is_none_or(|(first, _)| flat_index < *first)
                {
                    self.first_problem = Some((flat_index, problem));
                }
            }
        }
    }

    /// Stores a finite number at `flat_index`, which must already exist in `values`: [`Self::set`]
    /// for the common case, without building a [`Cell`].
    #[inline]
    pub(crate) fn set_number(&mut self, flat_index: usize, value: f64, integer: bool) {
        if let Some(slot) = self.values.get_mut(flat_index) {
            *slot = value;
        }
        if !integer
            && self
                .first_non_integer
                .is_none_or(|first| flat_index < first)
        {
            self.first_non_integer = Some(flat_index);
        }
    }

    /// Appends the elements of `later`, read after this builder's: the first problem and first
    /// non-integer stay this builder's where it has one, and are `later`'s shifted otherwise.
    pub(crate) fn append(&mut self, later: ValueBuilder) {
        let offset = self.values.len();
        if self.first_problem.is_none() {
            self.first_problem = later
                .first_problem
                .map(|(index, problem)| (index + offset, problem));
        }
        self.problem_count += later.problem_count;
        if self.first_non_integer.is_none() {
            self.first_non_integer = later.first_non_integer.map(|index| index + offset);
        }
        if self.values.is_empty() {
            self.values = later.values;
        } else {
            self.values.extend_from_slice(&later.values);
        }
    }

    /// Appends `cell` as the next element.
    pub(crate) fn push(&mut self, cell: Cell) {
        self.values.push(f64::NAN);
        self.set(self.values.len() - 1, cell);
    }

    pub(crate) fn finish(self, name: String, shape: Vec<usize>, origin: Origin) -> DataValue {
        DataValue {
            name,
            shape,
            values: self.values,
            origin,
            first_problem: self.first_problem,
            problem_count: self.problem_count,
            first_non_integer: self.first_non_integer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unravel_is_row_major_and_one_based() {
        assert_eq!(unravel(0, &[3, 2]), vec![1, 1]);
        assert_eq!(unravel(1, &[3, 2]), vec![1, 2]);
        assert_eq!(unravel(5, &[3, 2]), vec![3, 2]);
        assert_eq!(unravel(0, &[]), Vec::<usize>::new());
        // Past the end: the leading index runs on instead of wrapping.
        assert_eq!(unravel(6, &[3, 2]), vec![4, 1]);
    }

    #[test]
    fn locations_display_as_documented() {
        let csv = Location::CsvCell {
            row: 17,
            line: 18,
            column: "x[2]".into(),
        };
        assert_eq!(csv.to_string(), "row 17 (line 18), column `x[2]`");
        let json = Location::JsonElement {
            key: "y".into(),
            index: vec![3, 2],
        };
        assert_eq!(json.to_string(), "`y[3, 2]`");
        let scalar = Location::JsonElement {
            key: "J".into(),
            index: vec![],
        };
        assert_eq!(scalar.to_string(), "`J`");
    }

    #[test]
    fn builder_keeps_the_lowest_index_problem_even_if_set_out_of_order() {
        let mut builder = ValueBuilder {
            values: vec![0.0; 4],
            ..ValueBuilder::default()
        };
        builder.set(3, Cell::Problem(CellProblem::Empty));
        builder.set(1, Cell::Problem(CellProblem::NotANumber("abc".into())));
        builder.set(
            2,
            Cell::Number {
                value: 1.5,
                integer: false,
            },
        );
        builder.set(
            0,
            Cell::Number {
                value: 2.0,
                integer: true,
            },
        );
        let value = builder.finish("x".into(), vec![4], Origin::Json);
        assert_eq!(
            value.first_non_finite(),
            Some((1, CellProblem::NotANumber("abc".into())))
        );
        assert_eq!(value.non_finite_count(), 2);
        assert_eq!(value.first_non_integer(), Some(2));
        assert!(value.values[1].is_nan() && value.values[3].is_nan());
    }
}
