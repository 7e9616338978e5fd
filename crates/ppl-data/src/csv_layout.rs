//! The CSV layout: a header row, then one row per observation.
//!
//! A plain column `x` becomes a value of shape `[rows]`. Indexed columns `x[1]`..`x[D]` (or Stan's
//! `x.1`..`x.D`) become one value `x` of shape `[rows, D]`; `x[i,j]` / `x.i.j` give `[rows, I, J]`, and
//! so on. Indexed columns may come in any order and may mix the two spellings, but must form a
//! complete block starting at 1. A comma inside `x[i,j]` splits an unquoted CSV field, so that form
//! must be quoted (`"x[1,2]"`); an unclosed bracket in the header is reported as such.
//!
//! Cells are read tolerantly (see [`crate::number`]); only the table's structure can fail the load:
//! an empty file, a row with the wrong number of fields, duplicate or inconsistent column names.
//! Quoted fields (also spanning lines), CRLF and a UTF-8 byte-order mark are handled. Blank lines are
//! skipped, except in a one-column file, where a blank line is an empty cell and so still a row
//! (trailing blank lines at the end of the file are not rows). Every row's starting line is kept for
//! [`DataValue::locate`](crate::DataValue::locate).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;
use std::sync::Arc;

use crate::error::DataError;
use crate::number::parse_cell;
use crate::plain_rows::{NeedsGeneralReader, RowSink, read_plain_rows};
use crate::value::{DataValue, Origin, RowLines, ValueBuilder};
use rayon::prelude::*;

/// The values of a table (a CSV, Parquet or Arrow file) in header order, and its number of data rows.
pub(crate) struct Table {
    pub(crate) values: Vec<DataValue>,
    pub(crate) rows: usize,
}

/// How a header cell names its column.
#[derive(Debug, PartialEq, Eq)]
enum ColumnName<'a> {
    Plain(&'a str),
    /// `base[1,2]` or `base.1.2`; `brackets` records the spelling, to name missing columns alike.
    Indexed {
        base: &'a str,
        indices: Vec<usize>,
        brackets: bool,
    },
}

/// Splits `x[1, 2]` / `x.1.2` into base name and 1-based indices; anything else (including
/// `sepal.length` or `x[a]`) is a plain column name. An index of 0 is returned as is, to be rejected
/// with a precise message.
fn parse_column_name(text: &str) -> ColumnName<'_> {
    let identifier_end = text
        .char_indices()
        .find(|&(position, c)| {
            !(c.is_ascii_alphabetic() || c == '_' || (position > 0 && c.is_ascii_digit()))
        })
        .map_or(text.len(), |(position, _)| position);
    if identifier_end == 0 || identifier_end == text.len() {
        return ColumnName::Plain(text);
    }
    let (base, rest) = text.split_at(identifier_end);
    let parse_indices = |parts: &mut dyn Iterator<Item = &str>| -> Option<Vec<usize>> {
        parts
            .map(|part| {
                let part = part.trim();
                if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
                    part.parse::<usize>().ok()
                } else {
                    None
                }
            })
            .collect()
    };
    let parsed = if let Some(inside) = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        parse_indices(&mut inside.split(',')).map(|indices| (indices, true))
    } else if let Some(dotted) = rest.strip_prefix('.') {
        parse_indices(&mut dotted.split('.')).map(|indices| (indices, false))
    } else {
        None
    };
    match parsed {
        Some((indices, brackets)) => ColumnName::Indexed {
            base,
            indices,
            brackets,
        },
        None => ColumnName::Plain(text),
    }
}

fn spell_column(base: &str, indices: &[usize], brackets: bool) -> String {
    let parts: Vec<String> = indices.iter().map(usize::to_string).collect();
    if brackets {
        format!("{base}[{}]", parts.join(","))
    } else {
        format!("{base}.{}", parts.join("."))
    }
}

/// A name's columns as gathered from the header, before shape checking.
struct ColumnGroup {
    name: String,
    /// (indices, 0-based header position, header text); a plain column has no indices.
    columns: Vec<(Vec<usize>, usize, String)>,
    plain: bool,
    brackets: bool,
}

/// A name's columns once checked: its trailing shape, and for each of its elements in row-major
/// order the header position feeding it.
pub(crate) struct PlannedValue {
    pub(crate) name: String,
    trailing_shape: Vec<usize>,
    pub(crate) column_texts: Vec<String>,
    pub(crate) builder: ValueBuilder,
}

/// Where one header column's cells go: which value, and which element of that value's row.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Slot {
    pub(crate) value: usize,
    pub(crate) offset: usize,
}

/// The values a header defines, and the slot of each header column.
pub(crate) struct ColumnPlan {
    pub(crate) values: Vec<PlannedValue>,
    pub(crate) slots: Vec<Slot>,
}

/// Groups and checks the header, giving each header column its slot.
pub(crate) fn plan_columns(header: &[String], path: &Path) -> Result<ColumnPlan, DataError> {
    let mut groups: Vec<ColumnGroup> = Vec::new();
    let mut group_of_name: HashMap<&str, usize> = HashMap::new();
    for (position, text) in header.iter().enumerate() {
        if text.contains('[') && !text.contains(']') {
            return Err(DataError::BadColumnName {
                path: path.to_path_buf(),
                column: text.clone(),
                message: "the bracket is not closed; if a comma split `x[i,j]` in two, \
                          quote the name (\"x[i,j]\") or write `x.i.j`"
                    .into(),
            });
        }
        let (base, indices, brackets) = match parse_column_name(text) {
            ColumnName::Plain(name) => (name, None, true),
            ColumnName::Indexed {
                base,
                indices,
                brackets,
            } => (base, Some(indices), brackets),
        };
        if let Some(indices) = &indices
            && indices.contains(&0)
        {
            return Err(DataError::BadColumnName {
                path: path.to_path_buf(),
                column: text.clone(),
                message: "column indices start at 1".into(),
            });
        }
        let group_index = match group_of_name.entry(base) {
            Entry::Occupied(entry) => *entry.get(),
            Entry::Vacant(entry) => {
                groups.push(ColumnGroup {
                    name: base.to_string(),
                    columns: Vec::new(),
                    plain: indices.is_none(),
                    brackets,
                });
                *entry.insert(groups.len() - 1)
            }
        };
        let group = &mut groups[group_index];
        let (first_indices, first_position, first_text) = match group.columns.first() {
            Some(first) => first.clone(),
            None => {
                group
                    .columns
                    .push((indices.unwrap_or_default(), position, text.clone()));
                continue;
            }
        };
        let duplicate = |first: &str, first_position: usize| DataError::DuplicateColumn {
            path: path.to_path_buf(),
            first: first.to_string(),
            first_position: first_position + 1,
            second: text.clone(),
            second_position: position + 1,
        };
        match (&indices, group.plain) {
            (None, true) => return Err(duplicate(&first_text, first_position)),
            (None, false) | (Some(_), true) => {
                return Err(DataError::BadColumnName {
                    path: path.to_path_buf(),
                    column: text.clone(),
                    message: format!(
                        "`{}` is both a plain column and indexed columns (see column `{first_text}`)",
                        group.name
                    ),
                });
            }
            (Some(indices), false) => {
                if indices.len() != first_indices.len() {
                    return Err(DataError::BadColumnName {
                        path: path.to_path_buf(),
                        column: text.clone(),
                        message: format!(
                            "has {} indices, but column `{first_text}` has {}",
                            indices.len(),
                            first_indices.len()
                        ),
                    });
                }
                if let Some((_, earlier_position, earlier_text)) =
                    group.columns.iter().find(|(seen, _, _)| seen == indices)
                {
                    return Err(duplicate(earlier_text, *earlier_position));
                }
                group
                    .columns
                    .push((indices.clone(), position, text.clone()));
            }
        }
    }

    let mut slots = vec![Slot::default(); header.len()];
    let mut values = Vec::with_capacity(groups.len());
    for (value_index, group) in groups.into_iter().enumerate() {
        let rank = group.columns[0].0.len();
        let trailing_shape: Vec<usize> = (0..rank)
            .map(|axis| {
                group
                    .columns
                    .iter()
                    .map(|(indices, _, _)| indices[axis])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let width = trailing_shape
            .iter()
            .try_fold(1usize, |product, &size| product.checked_mul(size));
        if width != Some(group.columns.len()) {
            // Indices are distinct and within the block, so fewer columns than the block holds means
            // a gap; walking the block in order finds the first one within `columns.len() + 1` steps.
            let missing = first_missing(&trailing_shape, &group.columns);
            return Err(DataError::IncompleteColumns {
                path: path.to_path_buf(),
                missing: spell_column(&group.name, &missing, group.brackets),
                name: group.name,
            });
        }
        let mut column_texts = vec![String::new(); group.columns.len()];
        for (indices, position, text) in group.columns {
            let offset = indices
                .iter()
                .zip(&trailing_shape)
                .fold(0, |offset, (&index, &size)| offset * size + (index - 1));
            slots[position] = Slot {
                value: value_index,
                offset,
            };
            column_texts[offset] = text;
        }
        values.push(PlannedValue {
            name: group.name,
            trailing_shape,
            column_texts,
            builder: ValueBuilder::default(),
        });
    }
    Ok(ColumnPlan { values, slots })
}

/// The first index tuple (row-major) of the block `shape` that no column provides.
fn first_missing(shape: &[usize], columns: &[(Vec<usize>, usize, String)]) -> Vec<usize> {
    let present: std::collections::HashSet<&[usize]> = columns
        .iter()
        .map(|(indices, _, _)| indices.as_slice())
        .collect();
    let mut candidate = vec![1; shape.len()];
    loop {
        if !present.contains(candidate.as_slice()) {
            return candidate;
        }
        // Odometer increment, last axis fastest.
        let mut axis = shape.len();
        loop {
            if axis == 0 {
                // Every tuple present: unreachable when called on an incomplete block.
                return candidate;
            }
            axis -= 1;
            if candidate[axis] < shape[axis] {
                candidate[axis] += 1;
                break;
            }
            candidate[axis] = 1;
        }
    }
}

/// The line where a record's first field is, and the blank lines skipped before it. The csv crate
/// reports the position where it started looking: before any blank lines it skipped, and sometimes
/// on the `\n` of the previous record's `\r\n`.
fn record_start(bytes: &[u8], position: &csv::Position) -> (u64, Vec<u64>) {
    let mut line = position.line();
    let mut blank_lines = Vec::new();
    let start = usize::try_from(position.byte()).unwrap_or(usize::MAX);
    let mut at_line_start = start == 0 || bytes.get(start - 1) == Some(&b'\n');
    for &byte in bytes.get(start..).unwrap_or_default() {
        match byte {
            b'\n' => {
                if at_line_start {
                    blank_lines.push(line);
                }
                line += 1;
                at_line_start = true;
            }
            b'\r' => {}
            _ => break,
        }
    }
    (line, blank_lines)
}

/// The values being filled row by row.
struct TableBuilder {
    values: Vec<PlannedValue>,
    /// Elements per row of each value.
    widths: Vec<usize>,
    slots: Vec<Slot>,
    rows: usize,
    row_lines: RowLines,
}

impl TableBuilder {
    /// Adds one row starting on `line`; `fields` are in header order.
    fn add_row<'a>(&mut self, line: u64, fields: impl Iterator<Item = &'a [u8]>) {
        self.start_row(line);
        let rows = self.rows - 1;
        for (field, slot) in fields.zip(&self.slots) {
            let width = self.widths[slot.value];
            self.values[slot.value]
                .builder
                .set(rows * width + slot.offset, parse_cell(field));
        }
    }

    /// Records that row number `rows` (the rows before it already recorded) starts on `line`.
    fn push_row_line(&mut self, rows: usize, line: u64) {
        match &mut self.row_lines {
            RowLines::Consecutive { first } if rows == 0 => *first = line,
            RowLines::Consecutive { first } if *first + rows as u64 == line => {}
            RowLines::Consecutive { first } => {
                let mut listed: Vec<u64> = (*first..*first + rows as u64).collect();
                listed.push(line);
                self.row_lines = RowLines::Listed(listed);
            }
            RowLines::Listed(listed) => listed.push(line),
        }
    }

    /// A builder with the same columns and no rows, for one piece of the body.
    fn empty_like(&self) -> TableBuilder {
        TableBuilder {
            values: self
                .values
                .iter()
                .map(|value| PlannedValue {
                    name: value.name.clone(),
                    trailing_shape: value.trailing_shape.clone(),
                    column_texts: value.column_texts.clone(),
                    builder: ValueBuilder::default(),
                })
                .collect(),
            widths: self.widths.clone(),
            slots: self.slots.clone(),
            rows: 0,
            row_lines: RowLines::Consecutive { first: 0 },
        }
    }

    /// Appends the rows of `piece`, whose line numbers count from `line_offset`: afterwards this
    /// builder is what reading the piece's rows after its own would have made.
    fn append(&mut self, piece: TableBuilder, line_offset: u64) {
        let contiguous = match (&self.row_lines, &piece.row_lines) {
            (_, _) if piece.rows == 0 => true,
            (RowLines::Consecutive { .. }, RowLines::Consecutive { first }) if self.rows == 0 => {
                self.row_lines = RowLines::Consecutive {
                    first: first + line_offset,
                };
                true
            }
            (RowLines::Consecutive { first }, RowLines::Consecutive { first: next }) => {
                *first + self.rows as u64 == next + line_offset
            }
            _ => false,
        };
        if !contiguous {
            for row in 0..piece.rows {
                self.push_row_line(self.rows + row, piece.row_lines.line_of(row) + line_offset);
            }
        }
        for (value, piece_value) in self.values.iter_mut().zip(piece.values) {
            value.builder.append(piece_value.builder);
        }
        self.rows += piece.rows;
    }

    /// Forgets every row, for a second reading of the body.
    fn clear_rows(&mut self) {
        for value in &mut self.values {
            value.builder = ValueBuilder::default();
        }
        self.rows = 0;
        self.row_lines = RowLines::Consecutive { first: 0 };
    }

    /// The flat index in its value of field `field` of the current (last) row.
    #[inline]
    fn element_of(&self, field: usize) -> Option<(usize, usize)> {
        let slot = self.slots.get(field)?;
        let width = self.widths[slot.value];
        Some((slot.value, (self.rows - 1) * width + slot.offset))
    }
}

impl RowSink for TableBuilder {
    fn fields_per_row(&self) -> usize {
        self.slots.len()
    }

    /// Records the row's line and makes room for its elements (NaN until set).
    fn start_row(&mut self, line: u64) {
        self.push_row_line(self.rows, line);
        for (value, &width) in self.values.iter_mut().zip(&self.widths) {
            let length = value.builder.values.len();
            value.builder.values.resize(length + width, f64::NAN);
        }
        self.rows += 1;
    }

    #[inline]
    fn number(&mut self, field: usize, value: f64, integer: bool) {
        if let Some((value_index, flat_index)) = self.element_of(field) {
            self.values[value_index]
                .builder
                .set_number(flat_index, value, integer);
        }
    }

    fn text(&mut self, field: usize, text: &[u8]) {
        if let Some((value_index, flat_index)) = self.element_of(field) {
            self.values[value_index]
                .builder
                .set(flat_index, parse_cell(text));
        }
    }
}

/// Reads a whole CSV text (already known to be UTF-8, BOM removed).
pub(crate) fn read_csv(bytes: &[u8], path: &Path) -> Result<Table, DataError> {
    read_csv_with(bytes, path, Reader::PlainFirst)
}

/// Which reader reads the rows: the plain one where it can (and the general one where it gives
/// up), or the general one only (the reference the plain one is tested against).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reader {
    PlainFirst,
    /// The plain reader on this many pieces of the body (tests; `PlainFirst` picks the count).
    #[cfg_attr(not(test), allow(dead_code))]
    PlainInPieces(usize),
    #[cfg_attr(not(test), allow(dead_code))]
    GeneralOnly,
}

fn read_csv_with(bytes: &[u8], path: &Path, rows_reader: Reader) -> Result<Table, DataError> {
    let malformed = |error: csv::Error| {
        let line = error
            .position()
            .map_or(1, |position| record_start(bytes, position).0);
        let message = match error.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!(
                "this row has {len} field{}, but the header has {expected_len}",
                if *len == 1 { "" } else { "s" }
            ),
            _ => error.to_string(),
        };
        DataError::MalformedCsv {
            path: path.to_path_buf(),
            line,
            message,
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let header_record = reader.byte_headers().map_err(malformed)?.clone();
    if header_record.is_empty() {
        return Err(DataError::MalformedCsv {
            path: path.to_path_buf(),
            line: 1,
            message: "the file is empty: expected a header row of column names".into(),
        });
    }
    let header: Vec<String> = header_record
        .iter()
        .map(|field| String::from_utf8_lossy(field).trim().to_string())
        .collect();
    let ColumnPlan { values, slots } = plan_columns(&header, path)?;

    let mut table = TableBuilder {
        widths: values
            .iter()
            .map(|value| value.column_texts.len())
            .collect(),
        values,
        slots,
        rows: 0,
        row_lines: RowLines::Consecutive { first: 0 },
    };
    // With one column, a blank line is an empty cell (pandas writes a missing value that way), so it
    // must count as a row; with more columns it is just skipped, as the csv crate does.
    let blank_lines_are_rows = header.len() == 1;
    // After the header the reader stands at the start of the body, except that it may stand on the
    // `\n` of the header's `\r\n`, still counting the header's line (see `record_start`).
    let mut body_start = usize::try_from(reader.position().byte()).unwrap_or(usize::MAX);
    let mut body_line = reader.position().line();
    if body_start > 0
        && bytes.get(body_start - 1) == Some(&b'\r')
        && bytes.get(body_start) == Some(&b'\n')
    {
        body_start += 1;
        body_line += 1;
    }
    let pieces = match rows_reader {
        Reader::PlainFirst
            if bytes.len() - body_start.min(bytes.len()) >= PARALLEL_BODY_BYTES
                && !blank_lines_are_rows =>
        {
            Some(rayon::current_num_threads())
        }
        Reader::PlainFirst => Some(1),
        Reader::PlainInPieces(count) => Some(count),
        Reader::GeneralOnly => None,
    };
    if let Some(pieces) = pieces
        && let Some(body) = bytes.get(body_start..)
        && read_plain_pieces(body, body_line, blank_lines_are_rows, pieces, &mut table).is_ok()
    {
        return Ok(finish_csv(table));
    }
    table.clear_rows();
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record).map_err(malformed)? {
        let Some(position) = record.position() else {
            table.add_row(0, record.iter());
            continue;
        };
        let (line, blank_lines) = record_start(bytes, position);
        if blank_lines_are_rows {
            for blank_line in blank_lines {
                table.add_row(blank_line, std::iter::once(&b""[..]));
            }
        }
        table.add_row(line, record.iter());
    }
    Ok(finish_csv(table))
}

/// Bodies of at least this many bytes are read in pieces on rayon's pool: below it, handing out
/// the pieces costs more than it saves.
const PARALLEL_BODY_BYTES: usize = 1 << 20;

/// The plain reader over `body` cut into `pieces` pieces at line breaks, read in parallel and
/// appended in order: the same rows, values, flags and lines as one reading of the whole body
/// (each piece starts at the start of a line, so no row or line break is split), whatever the
/// number of pieces. Blank lines that are rows (one-column files) need the rows after them, so
/// those files are read in one piece.
fn read_plain_pieces(
    body: &[u8],
    body_line: u64,
    blank_lines_are_rows: bool,
    pieces: usize,
    table: &mut TableBuilder,
) -> Result<(), NeedsGeneralReader> {
    if pieces <= 1 || blank_lines_are_rows {
        return read_plain_rows(body, body_line, blank_lines_are_rows, table);
    }
    let mut starts = vec![0];
    for piece in 1..pieces {
        let target = body.len() * piece / pieces;
        let from = target.max(starts.last().copied().unwrap_or(0));
        if let Some(at) = body
            .get(from..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        {
            let start = from + at + 1;
            if start < body.len() && starts.last() != Some(&start) {
                starts.push(start);
            }
        }
    }
    let ends = starts.iter().skip(1).copied().chain([body.len()]);
    let ranges: Vec<(usize, usize)> = starts.iter().copied().zip(ends).collect();
    let read: Vec<Result<(TableBuilder, u64), NeedsGeneralReader>> = ranges
        .par_iter()
        .map(|&(start, end)| {
            let piece = &body[start..end];
            let mut part = table.empty_like();
            read_plain_rows(piece, 0, false, &mut part)?;
            let line_breaks = piece.iter().filter(|&&byte| byte == b'\n').count() as u64;
            Ok((part, line_breaks))
        })
        .collect();
    let mut line = body_line;
    for result in read {
        let (part, line_breaks) = result?;
        table.append(part, line);
        line += line_breaks;
    }
    Ok(())
}

fn finish_csv(table: TableBuilder) -> Table {
    let TableBuilder {
        values,
        rows,
        row_lines,
        ..
    } = table;
    let lines = Arc::new(row_lines);
    finish_table(values, rows, |columns| Origin::Csv {
        columns,
        lines: Arc::clone(&lines),
    })
}

/// The planned values, filled with `rows` rows, as a [`Table`]; `origin` gets each value's column
/// header texts.
pub(crate) fn finish_table(
    values: Vec<PlannedValue>,
    rows: usize,
    mut origin: impl FnMut(Vec<String>) -> Origin,
) -> Table {
    let values = values
        .into_iter()
        .map(|value| {
            let mut shape = Vec::with_capacity(1 + value.trailing_shape.len());
            shape.push(rows);
            shape.extend(&value.trailing_shape);
            value
                .builder
                .finish(value.name, shape, origin(value.column_texts))
        })
        .collect();
    Table { values, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names() {
        assert_eq!(parse_column_name("x"), ColumnName::Plain("x"));
        assert_eq!(
            parse_column_name("x[2]"),
            ColumnName::Indexed {
                base: "x",
                indices: vec![2],
                brackets: true
            }
        );
        assert_eq!(
            parse_column_name("theta_1[1, 3]"),
            ColumnName::Indexed {
                base: "theta_1",
                indices: vec![1, 3],
                brackets: true
            }
        );
        assert_eq!(
            parse_column_name("x.2.1"),
            ColumnName::Indexed {
                base: "x",
                indices: vec![2, 1],
                brackets: false
            }
        );
        // Not indexed: R-style dotted names, non-numeric indices, odd punctuation.
        assert_eq!(
            parse_column_name("sepal.length"),
            ColumnName::Plain("sepal.length")
        );
        assert_eq!(parse_column_name("x[a]"), ColumnName::Plain("x[a]"));
        assert_eq!(parse_column_name("x[]"), ColumnName::Plain("x[]"));
        assert_eq!(parse_column_name("x.1."), ColumnName::Plain("x.1."));
        assert_eq!(parse_column_name("1x[1]"), ColumnName::Plain("1x[1]"));
        assert_eq!(parse_column_name(""), ColumnName::Plain(""));
        assert_eq!(parse_column_name("x y"), ColumnName::Plain("x y"));
    }

    /// The plain reader gives what the general reader gives, locations and problems included, on
    /// generated files mixing numbers of every form, bad cells, blank lines, CRLF, a missing final
    /// line break, quotes and a lone `\r` (where the plain reader hands over to the general one).
    #[test]
    fn the_plain_reader_agrees_with_the_general_reader() {
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        let cells = [
            "1",
            "-2",
            "+3",
            "0.5",
            "-.25",
            "1e3",
            "2.5E-2",
            "12345678901234567890",
            "1e400",
            "",
            " ",
            " 4 ",
            "NA",
            "nan",
            "-inf",
            "abc",
            "3.",
            "0.1",
            "7",
            "00",
        ];
        let path = Path::new("t.csv");
        for case in 0..3000 {
            let columns = 1 + next(3) as usize;
            let header: Vec<String> = (1..=columns).map(|c| format!("x[{c}]")).collect();
            let mut text = header.join(",");
            text.push_str(if next(2) == 0 { "\n" } else { "\r\n" });
            for _ in 0..next(6) {
                let fields = if next(40) == 0 { columns + 1 } else { columns };
                let row: Vec<&str> = (0..fields)
                    .map(|_| cells[next(cells.len() as u64) as usize])
                    .collect();
                text.push_str(&row.join(","));
                text.push_str(match next(30) {
                    0 => "\r",
                    1 => "\n\n",
                    2 => "\"q\"\n",
                    3..8 => "\r\n",
                    _ => "\n",
                });
            }
            if next(3) == 0 {
                text.pop();
            }
            let readers = [
                Reader::PlainFirst,
                Reader::PlainInPieces(2),
                Reader::PlainInPieces(3),
                Reader::PlainInPieces(7),
            ];
            for reader in readers {
                let plain = read_csv_with(text.as_bytes(), path, reader);
                let general = read_csv_with(text.as_bytes(), path, Reader::GeneralOnly);
                match (plain, general) {
                    (Ok(plain), Ok(general)) => {
                        assert_eq!(plain.rows, general.rows, "case {case}: {text:?}");
                        for (a, b) in plain.values.iter().zip(&general.values) {
                            assert_eq!(a.shape, b.shape, "case {case}: {text:?}");
                            let same = a
                                .values
                                .iter()
                                .zip(&b.values)
                                .all(|(x, y)| x.to_bits() == y.to_bits());
                            assert!(same, "case {case}: {text:?}");
                            assert_eq!(a.first_non_finite(), b.first_non_finite(), "{text:?}");
                            assert_eq!(a.non_finite_count(), b.non_finite_count(), "{text:?}");
                            assert_eq!(a.first_non_integer(), b.first_non_integer(), "{text:?}");
                            for index in 0..a.values.len() {
                                assert_eq!(a.locate(index), b.locate(index), "{text:?}");
                            }
                        }
                    }
                    (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{text:?}"),
                    (a, b) => panic!(
                        "case {case}, {reader:?}: {text:?}: plain {:?}, general {:?}",
                        a.map(|t| t.rows),
                        b.map(|t| t.rows)
                    ),
                }
            }
        }
    }

    #[test]
    fn first_missing_walks_row_major() {
        let columns = |tuples: &[&[usize]]| -> Vec<(Vec<usize>, usize, String)> {
            tuples
                .iter()
                .map(|t| (t.to_vec(), 0, String::new()))
                .collect()
        };
        assert_eq!(
            first_missing(&[2, 2], &columns(&[&[1, 1], &[1, 2], &[2, 2]])),
            vec![2, 1]
        );
        assert_eq!(first_missing(&[3], &columns(&[&[3]])), vec![1]);
        // A huge index with few columns stops early instead of walking the whole block.
        assert_eq!(
            first_missing(&[1_000_000_000], &columns(&[&[1], &[1_000_000_000]])),
            vec![2]
        );
    }
}
