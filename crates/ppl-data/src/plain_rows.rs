//! The rows of a CSV file without quotes, read in one pass over the bytes: each number is parsed
//! as its field is scanned, and stored straight into its value.
//!
//! This is the common case of a numeric data file (a million rows of `-0.97123,1.0456`), and the
//! general reader (the csv crate's state machine, then a second scan per record for its line, then
//! the cell parser) costs several times more per cell. Anything this reader does not handle
//! exactly as the general reader does — a quote, a lone `\r`, a row with the wrong number of
//! fields — makes it give up, and the caller reads the whole body again with the general reader,
//! which also words the error. So its results, locations included, are the general reader's by
//! construction on the files it accepts (`tests/csv.rs` compares the two on generated files).
//!
//! Numbers are parsed with Clinger's fast path: up to 19 significant digits and a decimal exponent
//! within ±22 give a mantissa that is exact in an `f64` times or over an exact power of ten, so one
//! rounding gives the correctly rounded value, equal to Rust's parser. Everything else (more
//! digits, large exponents, `NA`, `inf`, spaces) is handed over as text for the general cell
//! parser (`number::parse_cell`).

/// Exact powers of ten in `f64`: 10^22 is the largest with an exact representation.
const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Largest mantissa exact in an `f64`.
const MAX_EXACT_MANTISSA: u64 = 1 << 53;

/// What the rows are stored into: one call per row, then one per field in header order.
pub(crate) trait RowSink {
    /// The number of fields a row must have.
    fn fields_per_row(&self) -> usize;
    /// Starts a row whose first field is on `line`.
    fn start_row(&mut self, line: u64);
    /// Stores the `field`-th field of the current row, already parsed as a number.
    fn number(&mut self, field: usize, value: f64, integer: bool);
    /// Stores the `field`-th field of the current row from its text.
    fn text(&mut self, field: usize, text: &[u8]);
}

/// Why the plain reader gave up; the caller then uses the general reader.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NeedsGeneralReader;

/// Reads every row of `body`, whose first byte is on line `first_line`. With `blank_lines_are_rows`
/// (a one-column file) a blank line followed by a row is an empty cell; otherwise blank lines are
/// skipped. Rows already stored when it gives up must be discarded by the caller.
pub(crate) fn read_plain_rows(
    body: &[u8],
    first_line: u64,
    blank_lines_are_rows: bool,
    sink: &mut impl RowSink,
) -> Result<(), NeedsGeneralReader> {
    let fields_per_row = sink.fields_per_row();
    let mut position = 0;
    let mut line = first_line;
    // Blank lines count as rows only once a record follows them: trailing blank lines end the file.
    let mut blank_lines_pending: Vec<u64> = Vec::new();
    while position < body.len() {
        if let Some(length) = line_break_at(body, position)? {
            if blank_lines_are_rows {
                blank_lines_pending.push(line);
            }
            position += length;
            line += 1;
            continue;
        }
        for blank_line in blank_lines_pending.drain(..) {
            sink.start_row(blank_line);
            sink.text(0, b"");
        }
        sink.start_row(line);
        let mut field = 0;
        loop {
            if field == fields_per_row {
                return Err(NeedsGeneralReader);
            }
            let rest = &body[position..];
            let end = match scan_number(rest) {
                Some((value, integer, length)) if is_field_end(rest, length) => {
                    sink.number(field, value, integer);
                    length
                }
                _ => {
                    let length = field_length(rest)?;
                    sink.text(field, &rest[..length]);
                    length
                }
            };
            position += end;
            field += 1;
            if position >= body.len() {
                break;
            }
            if body[position] == b',' {
                position += 1;
                // A comma at the very end leaves one more, empty, field.
                if position == body.len() {
                    if field == fields_per_row {
                        return Err(NeedsGeneralReader);
                    }
                    sink.text(field, b"");
                    field += 1;
                    break;
                }
                continue;
            }
            match line_break_at(body, position)? {
                Some(length) => {
                    position += length;
                    break;
                }
                None => return Err(NeedsGeneralReader),
            }
        }
        if field != fields_per_row {
            return Err(NeedsGeneralReader);
        }
        line += 1;
    }
    Ok(())
}

/// The length of the line break at `position` (`\n` or `\r\n`), `None` if there is none, or
/// [`NeedsGeneralReader`] for a lone `\r`, which the csv crate also takes as a line break.
fn line_break_at(body: &[u8], position: usize) -> Result<Option<usize>, NeedsGeneralReader> {
    match body.get(position) {
        Some(b'\n') => Ok(Some(1)),
        Some(b'\r') if body.get(position + 1) == Some(&b'\n') => Ok(Some(2)),
        Some(b'\r') => Err(NeedsGeneralReader),
        _ => Ok(None),
    }
}

/// Whether a field ends after `length` bytes of `rest`: at a comma, a line break or the end.
fn is_field_end(rest: &[u8], length: usize) -> bool {
    matches!(rest.get(length), None | Some(b',' | b'\n' | b'\r'))
}

/// The length of the field at the start of `rest`, up to a comma, a line break or the end. A quote
/// anywhere needs the general reader (quoting rules), as does a `\r` not before `\n`.
fn field_length(rest: &[u8]) -> Result<usize, NeedsGeneralReader> {
    for (index, &byte) in rest.iter().enumerate() {
        match byte {
            b',' | b'\n' => return Ok(index),
            b'\r' if rest.get(index + 1) == Some(&b'\n') => return Ok(index),
            b'\r' | b'"' => return Err(NeedsGeneralReader),
            _ => {}
        }
    }
    Ok(rest.len())
}

/// A number at the start of `text` that the fast path gets exactly: `[+-]?digits[.digits][e[+-]digits]`
/// with at least one digit before the exponent. Returns the value, whether it was written as an
/// integer (digits only) and its length; `None` sends the field to the general cell parser.
#[inline]
fn scan_number(text: &[u8]) -> Option<(f64, bool, usize)> {
    let mut index = 0;
    let negative = match text.first() {
        Some(b'-') => {
            index = 1;
            true
        }
        Some(b'+') => {
            index = 1;
            false
        }
        _ => false,
    };
    let mut mantissa: u64 = 0;
    let mut digits = 0usize;
    while let Some(&byte) = text.get(index) {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(digit));
        digits += 1;
        index += 1;
    }
    let mut integer = true;
    let mut exponent: i64 = 0;
    if text.get(index) == Some(&b'.') {
        integer = false;
        index += 1;
        while let Some(&byte) = text.get(index) {
            let digit = byte.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(digit));
            digits += 1;
            exponent -= 1;
            index += 1;
        }
    }
    // 19 decimal digits always fit in a u64; more may have wrapped.
    if digits == 0 || digits > 19 {
        return None;
    }
    if let Some(b'e' | b'E') = text.get(index) {
        integer = false;
        index += 1;
        let negative_exponent = match text.get(index) {
            Some(b'-') => {
                index += 1;
                true
            }
            Some(b'+') => {
                index += 1;
                false
            }
            _ => false,
        };
        let start = index;
        let mut written: i64 = 0;
        while let Some(&byte) = text.get(index) {
            let digit = byte.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            // Beyond four digits the exponent is far outside the fast path anyway.
            if index - start >= 4 {
                return None;
            }
            written = written * 10 + i64::from(digit);
            index += 1;
        }
        if index == start {
            return None;
        }
        exponent += if negative_exponent { -written } else { written };
    }
    if mantissa > MAX_EXACT_MANTISSA {
        return None;
    }
    let magnitude = mantissa as f64;
    let magnitude = if exponent == 0 {
        magnitude
    } else if (1..=22).contains(&exponent) {
        magnitude * POWERS_OF_TEN[exponent as usize]
    } else if (-22..0).contains(&exponent) {
        magnitude / POWERS_OF_TEN[(-exponent) as usize]
    } else {
        return None;
    };
    Some((
        if negative { -magnitude } else { magnitude },
        integer,
        index,
    ))
}

/// The value and integer flag the general cell parser gives a number field, for the unit tests.
#[cfg(test)]
fn general(text: &[u8]) -> Option<(f64, bool)> {
    match crate::number::parse_cell(text) {
        crate::value::Cell::Number { value, integer } => Some((value, integer)),
        crate::value::Cell::Problem(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path agrees with the general parser bit for bit wherever it answers.
    fn agrees(text: &str) {
        if let Some((value, integer, length)) = scan_number(text.as_bytes())
            && length == text.len()
        {
            let (expected, expected_integer) =
                general(text.as_bytes()).unwrap_or_else(|| panic!("`{text}` is a number"));
            assert_eq!(value.to_bits(), expected.to_bits(), "`{text}`");
            assert_eq!(integer, expected_integer, "`{text}`");
        }
    }

    #[test]
    fn fast_numbers_equal_the_general_parser() {
        for text in [
            "0",
            "-0",
            "+7",
            "42",
            "1.",
            ".5",
            "-.5",
            "+.5",
            "1.5",
            "2.18741241",
            "-0.23163568",
            "17.5349129",
            "1e3",
            "1E-3",
            "-2.5e+1",
            "9007199254740992",
            "9007199254740993",
            "1234567890123456789",
            "0.1",
            "0.3",
            "123.456e-7",
            "1e22",
            "1e-22",
            "4.9e-5",
            "00012",
            "3.141592653589793",
            "2.2250738585072014e-308",
            "0.000",
        ] {
            agrees(text);
        }
    }

    #[test]
    fn fast_numbers_on_many_random_decimals() {
        // A small linear congruential generator: random digits, points and exponents.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state >> 33
        };
        for _ in 0..200_000 {
            let integer_digits = next() % 8;
            let fraction_digits = next() % 12;
            let mut text = String::new();
            if next() % 3 == 0 {
                text.push('-');
            }
            for _ in 0..integer_digits {
                text.push(char::from(b'0' + (next() % 10) as u8));
            }
            if next() % 4 != 0 {
                text.push('.');
                for _ in 0..fraction_digits {
                    text.push(char::from(b'0' + (next() % 10) as u8));
                }
            }
            if next() % 5 == 0 {
                text.push_str(&format!("e{}", next() % 40));
            }
            agrees(&text);
        }
    }

    #[test]
    fn what_the_fast_path_declines() {
        for text in [
            "",
            ".",
            "-",
            "e5",
            "1e",
            "1e+",
            "NA",
            " 1",
            "12345678901234567890",
            "1e99999",
        ] {
            assert!(
                scan_number(text.as_bytes()).is_none_or(|(_, _, length)| length < text.len()),
                "`{text}`"
            );
        }
        // Stops before what cannot continue a number; the caller then reads the field as text.
        assert_eq!(scan_number(b"1.5 "), Some((1.5, false, 3)));
        assert_eq!(scan_number(b"2,3"), Some((2.0, true, 1)));
    }

    /// Rows as (line, fields as text) for the tests.
    #[derive(Default)]
    struct Collect {
        width: usize,
        rows: Vec<(u64, Vec<String>)>,
    }

    impl RowSink for Collect {
        fn fields_per_row(&self) -> usize {
            self.width
        }
        fn start_row(&mut self, line: u64) {
            self.rows.push((line, Vec::new()));
        }
        fn number(&mut self, _field: usize, value: f64, integer: bool) {
            let text = if integer {
                format!("{value}i")
            } else {
                format!("{value}")
            };
            if let Some(row) = self.rows.last_mut() {
                row.1.push(text);
            }
        }
        fn text(&mut self, _field: usize, text: &[u8]) {
            let text = format!("'{}'", String::from_utf8_lossy(text));
            if let Some(row) = self.rows.last_mut() {
                row.1.push(text);
            }
        }
    }

    fn rows(
        body: &str,
        width: usize,
        blank_rows: bool,
    ) -> Result<Vec<(u64, Vec<String>)>, NeedsGeneralReader> {
        let mut sink = Collect {
            width,
            ..Collect::default()
        };
        read_plain_rows(body.as_bytes(), 2, blank_rows, &mut sink).map(|()| sink.rows)
    }

    #[test]
    fn rows_fields_and_lines() {
        let read = rows("1,2.5\r\n\n-3, NA\n4,\n", 2, false).unwrap();
        assert_eq!(
            read,
            vec![
                (2, vec!["1i".into(), "2.5".into()]),
                (4, vec!["-3i".into(), "' NA'".into()]),
                (5, vec!["4i".into(), "''".into()]),
            ]
        );
        // A comma at the end of the file leaves an empty last field.
        assert_eq!(
            rows("1,", 2, false).unwrap(),
            vec![(2, vec!["1i".into(), "''".into()])]
        );
        // Blank lines before a row are rows of one column; trailing ones are not.
        let read = rows("1\n\n2\n\n", 1, true).unwrap();
        assert_eq!(read.len(), 3);
        assert_eq!(read[1], (3, vec!["''".into()]));
    }

    #[test]
    fn gives_up_where_the_general_reader_is_needed() {
        assert_eq!(rows("1,\"2\"\n", 2, false), Err(NeedsGeneralReader));
        assert_eq!(rows("1,2\r3,4\n", 2, false), Err(NeedsGeneralReader));
        assert_eq!(rows("1,2,3\n", 2, false), Err(NeedsGeneralReader));
        assert_eq!(rows("1\n", 2, false), Err(NeedsGeneralReader));
        assert_eq!(rows("1,2,\n", 2, false), Err(NeedsGeneralReader));
    }
}
