//! Rendering diagnostics for people (ariadne reports on the model text) and for programs (the
//! `{"error": ...}` JSON object). The only place in ppl that formats a diagnostic.

use std::io::{IsTerminal, Write};

use ariadne::{CharSet, Color, Config, IndexType, Label, Report, ReportKind, Source};
use ppl_syntax::{Diagnostic, Severity};

/// Colour only when stderr is a terminal and `NO_COLOR` is unset (ariadne colours by default).
pub fn use_colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Writes one diagnostic to `out` as an ariadne report on `source` (named `file_name`).
pub fn write_diagnostic(
    out: &mut dyn Write,
    diagnostic: &Diagnostic,
    file_name: &str,
    source: &str,
    colour: bool,
) {
    let kind = match diagnostic.severity {
        Severity::Error => ReportKind::Error,
        Severity::Warning => ReportKind::Warning,
        Severity::Note => ReportKind::Advice,
    };
    let Some(span) = diagnostic.span else {
        let mut text = format!(
            "{}[{}]: {}\n",
            match diagnostic.severity {
                Severity::Error => "Error",
                Severity::Warning => "Warning",
                Severity::Note => "Note",
            },
            diagnostic.code,
            diagnostic.message
        );
        if let Some(hint) = &diagnostic.hint {
            text.push_str(&format!("  help: {hint}\n"));
        }
        let _ = out.write_all(text.as_bytes());
        return;
    };
    // Clamp spans so that a span past the end (e.g. "expected `)`" at end of file) still renders,
    // and widen them to character boundaries: ariadne slices the text at these offsets.
    let clamp = |s: ppl_syntax::Span| {
        let start = floor_boundary(source, s.start);
        let end = ceil_boundary(source, s.end.max(start));
        (file_name.to_string(), start..end)
    };
    let config = Config::default()
        .with_color(colour)
        .with_index_type(IndexType::Byte)
        .with_char_set(CharSet::Ascii);
    let primary_colour = if diagnostic.is_error() {
        Color::Red
    } else {
        Color::Yellow
    };
    let label_text = if diagnostic.label.is_empty() {
        diagnostic.message.clone()
    } else {
        diagnostic.label.clone()
    };
    let mut report = Report::build(kind, clamp(span))
        .with_config(config)
        .with_code(diagnostic.code)
        .with_message(&diagnostic.message)
        .with_label(
            Label::new(clamp(span))
                .with_message(label_text)
                .with_color(primary_colour),
        );
    for secondary in &diagnostic.secondary {
        report = report.with_label(
            Label::new(clamp(secondary.span))
                .with_message(&secondary.message)
                .with_color(Color::Blue),
        );
    }
    if let Some(hint) = &diagnostic.hint {
        report = report.with_help(hint);
    }
    let _ = report
        .finish()
        .write((file_name.to_string(), Source::from(source)), out);
}

/// The largest character boundary of `source` at or before `offset` (clamped to its length).
fn floor_boundary(source: &str, offset: usize) -> usize {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The smallest character boundary of `source` at or after `offset` (clamped to its length).
fn ceil_boundary(source: &str, offset: usize) -> usize {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset += 1;
    }
    offset
}

/// Writes every diagnostic, errors and warnings, in source order.
pub fn write_all(diagnostics: &[Diagnostic], file_name: &str, source: &str) {
    let colour = use_colour();
    let mut sorted: Vec<&Diagnostic> = diagnostics.iter().collect();
    sorted.sort_by_key(|d| (d.span.map(|s| s.start).unwrap_or(0), d.severity));
    let stderr = std::io::stderr();
    let mut out = stderr.lock();
    for diagnostic in sorted {
        write_diagnostic(&mut out, diagnostic, file_name, source, colour);
    }
}

/// The `{"error": {...}}` object `--format json` prints on failure.
pub fn error_json(diagnostic: &Diagnostic, source: &str) -> serde_json::Value {
    let mut error = serde_json::json!({
        "code": diagnostic.code,
        "message": diagnostic.message,
    });
    if let Some(span) = diagnostic.span {
        let (line, column) = line_column(source, span.start);
        error["line"] = line.into();
        error["column"] = column.into();
        error["span"] = serde_json::json!([span.start, span.end]);
    }
    if let Some(hint) = &diagnostic.hint {
        error["hint"] = hint.clone().into();
    }
    serde_json::json!({ "error": error })
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = floor_boundary(source, offset);
    let before = source.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}
