//! Reading one number from the text of a CSV cell or a JSON string, never failing: text that is not a
//! finite number becomes a [`CellProblem`] for the model layer to judge.
//!
//! The common case — plain digits — takes a fast path that avoids the general float parser, because a
//! million-row file is mostly such cells.

use crate::value::{Cell, CellProblem};

/// Longest problem text kept in a [`CellProblem`]; a stray paragraph in a cell should not flood the
/// diagnostic.
const MAX_PROBLEM_TEXT: usize = 40;

/// Parses one CSV cell. Surrounding ASCII whitespace is ignored. An integer is `[+-]?[0-9]+`; anything
/// else Rust's `f64` parser accepts (`1.5`, `.5`, `1.`, `2e-3`) is a real.
pub(crate) fn parse_cell(raw: &[u8]) -> Cell {
    let text = raw.trim_ascii();
    if text.is_empty() {
        return Cell::Problem(CellProblem::Empty);
    }
    let (negative, digits) = match text[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    // Up to 18 decimal digits fit in a u64 without overflow; the u64 → f64 conversion rounds once,
    // so the result is the correctly rounded value.
    if !digits.is_empty() && digits.len() <= 18 && digits.iter().all(u8::is_ascii_digit) {
        let magnitude = digits
            .iter()
            .fold(0u64, |acc, digit| acc * 10 + u64::from(digit - b'0'))
            as f64;
        return Cell::Number {
            value: if negative { -magnitude } else { magnitude },
            integer: true,
        };
    }
    let integer = !digits.is_empty() && digits.iter().all(u8::is_ascii_digit);
    match std::str::from_utf8(text) {
        Ok(text) => classify_text(text, integer),
        Err(_) => Cell::Problem(CellProblem::NotANumber(shorten(&String::from_utf8_lossy(
            text,
        )))),
    }
}

/// Parses a number written as text: a CSV cell that missed the fast path, or a JSON string (where
/// Stan writes `"NaN"`, `"Inf"`, `"-Inf"`). `integer` says whether the text was digits only.
pub(crate) fn classify_text(text: &str, integer: bool) -> Cell {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() => Cell::Number { value, integer },
        Ok(value) if value.is_nan() => Cell::Problem(CellProblem::NaN(shorten(text))),
        Ok(_) => Cell::Problem(CellProblem::Infinite(shorten(text))),
        Err(_) if is_missing_marker(text) => Cell::Problem(CellProblem::Missing(text.to_string())),
        Err(_) if text.trim().is_empty() => Cell::Problem(CellProblem::Empty),
        Err(_) => Cell::Problem(CellProblem::NotANumber(shorten(text))),
    }
}

/// The missing-value spellings of R, pandas and SQL exports.
fn is_missing_marker(text: &str) -> bool {
    matches!(text, "NA" | "N/A" | "NULL" | "null" | "None")
}

/// Cuts problem text to [`MAX_PROBLEM_TEXT`] characters.
pub(crate) fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_PROBLEM_TEXT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(value: f64, integer: bool) -> Cell {
        Cell::Number { value, integer }
    }

    #[test]
    fn integers_take_the_fast_path_and_are_marked_integer() {
        assert_eq!(parse_cell(b"42"), number(42.0, true));
        assert_eq!(parse_cell(b"-7"), number(-7.0, true));
        assert_eq!(parse_cell(b"+3"), number(3.0, true));
        assert_eq!(parse_cell(b"  12 "), number(12.0, true));
        assert_eq!(parse_cell(b"\t0\t"), number(0.0, true));
        // Beyond the fast path's 18 digits: still an integer, value correctly rounded.
        assert_eq!(
            parse_cell(b"12345678901234567890"),
            number(12345678901234567890.0, true)
        );
    }

    #[test]
    fn reals_are_parsed_and_whole_reals_are_not_integers() {
        assert_eq!(parse_cell(b"1.5"), number(1.5, false));
        assert_eq!(parse_cell(b"1.0"), number(1.0, false));
        assert_eq!(parse_cell(b"1e3"), number(1000.0, false));
        assert_eq!(parse_cell(b"-2.5E-1"), number(-0.25, false));
        assert_eq!(parse_cell(b" .5 "), number(0.5, false));
        assert_eq!(parse_cell(b"3.333"), number(3.333, false));
    }

    #[test]
    fn bad_cells_become_problems_not_errors() {
        assert_eq!(parse_cell(b""), Cell::Problem(CellProblem::Empty));
        assert_eq!(parse_cell(b"   "), Cell::Problem(CellProblem::Empty));
        assert_eq!(
            parse_cell(b"NA"),
            Cell::Problem(CellProblem::Missing("NA".into()))
        );
        assert_eq!(
            parse_cell(b"nan"),
            Cell::Problem(CellProblem::NaN("nan".into()))
        );
        assert_eq!(
            parse_cell(b"-inf"),
            Cell::Problem(CellProblem::Infinite("-inf".into()))
        );
        assert_eq!(
            parse_cell(b"1e999"),
            Cell::Problem(CellProblem::Infinite("1e999".into()))
        );
        assert_eq!(
            parse_cell(b" abc "),
            Cell::Problem(CellProblem::NotANumber("abc".into()))
        );
        assert_eq!(
            parse_cell(b"-"),
            Cell::Problem(CellProblem::NotANumber("-".into()))
        );
        assert_eq!(
            parse_cell(b"1,5"),
            Cell::Problem(CellProblem::NotANumber("1,5".into()))
        );
    }

    #[test]
    fn long_problem_text_is_shortened() {
        let long = "x".repeat(100);
        match parse_cell(long.as_bytes()) {
            Cell::Problem(CellProblem::NotANumber(text)) => {
                assert_eq!(text, format!("{}…", "x".repeat(40)))
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn stan_json_strings() {
        assert_eq!(
            classify_text("NaN", false),
            Cell::Problem(CellProblem::NaN("NaN".into()))
        );
        assert_eq!(
            classify_text("Inf", false),
            Cell::Problem(CellProblem::Infinite("Inf".into()))
        );
        assert_eq!(
            classify_text("-Infinity", false),
            Cell::Problem(CellProblem::Infinite("-Infinity".into()))
        );
        assert_eq!(
            classify_text("hello", false),
            Cell::Problem(CellProblem::NotANumber("hello".into()))
        );
    }
}
