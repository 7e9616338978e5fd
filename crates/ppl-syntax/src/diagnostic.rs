//! The one diagnostic type of ppl. Every phase (parse, check, data, inference settings) reports with
//! it; only the CLI renders it (with `ariadne`), so the library crates never touch the terminal.

use std::fmt::{Display, Write};

use crate::ast::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    /// Information that needs no action (a declared name shadowing a built-in function).
    Note,
}

/// A secondary pointer into the text: "declared here", "this bracket is never closed".
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// `E0xxx` for errors, `W0xxx` for warnings; the table is `crate::codes`.
    pub code: &'static str,
    pub message: String,
    /// Where the problem is. `None` only for problems with no place in the model text (e.g. a data
    /// file that cannot be opened when the model names none).
    pub span: Option<Span>,
    /// What to write on the primary span; the message is used when empty.
    pub label: String,
    pub secondary: Vec<Label>,
    /// "did you mean `sigma`?", "`Normal` takes (mu, sigma)".
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span: Some(span),
            label: String::new(),
            secondary: Vec::new(),
            hint: None,
        }
    }
    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message)
        }
    }
    pub fn note(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Note,
            ..Diagnostic::error(code, span, message)
        }
    }
    /// A problem with no place in the model text.
    pub fn unplaced(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            span: None,
            ..Diagnostic::error(code, Span::default(), message)
        }
    }
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The closest of `candidates` to `name` by edit distance, if it is close enough to be a plausible
/// typo: used for "did you mean …?" hints everywhere.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, c)| *d <= limit || c.eq_ignore_ascii_case(name))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Names as every message quotes a list of them: each in backticks, joined by commas
/// (`` `mu`, `sigma` ``).
pub fn backticked<T: Display>(names: impl IntoIterator<Item = T>) -> String {
    let mut list = String::new();
    for (index, name) in names.into_iter().enumerate() {
        if index > 0 {
            list.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = write!(list, "`{name}`");
    }
    list
}

/// The first `shown` names as [`backticked`] quotes them, then how many more there are
/// (`` `a`, `b` and 3 more ``), for lists that may be long.
pub fn backticked_preview<T: Display>(
    names: impl IntoIterator<Item = T, IntoIter: ExactSizeIterator>,
    shown: usize,
) -> String {
    let names = names.into_iter();
    let total = names.len();
    let list = backticked(names.take(shown));
    if total > shown {
        format!("{list} and {} more", total - shown)
    } else {
        list
    }
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and transpositions of
/// neighbours (`sigam` is one step from `sigma`), ignoring ASCII case.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    let mut table = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in table.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in table[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[i - 1][j] + 1)
                .min(table[i][j - 1] + 1)
                .min(table[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[i - 2][j - 2] + 1);
            }
            table[i][j] = best;
        }
    }
    table[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_and_rejects_strangers() {
        assert_eq!(closest("sigam", ["sigma", "mu", "w"]), Some("sigma"));
        assert_eq!(closest("Normall", ["Normal", "Poisson"]), Some("Normal"));
        assert_eq!(closest("xyz", ["sigma", "mu"]), None);
    }

    #[test]
    fn names_are_quoted_and_long_lists_cut() {
        assert_eq!(backticked(["mu", "sigma"]), "`mu`, `sigma`");
        assert_eq!(backticked(Vec::<String>::new()), "");
        assert_eq!(backticked_preview(["a", "b"], 2), "`a`, `b`");
        assert_eq!(
            backticked_preview(["a", "b", "c", "d"], 2),
            "`a`, `b` and 2 more"
        );
    }
}
