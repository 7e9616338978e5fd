//! The one error a library call returns: diagnostics (with spans on the model text where the
//! problem has a place there) and what kind of failure it is, which the CLI maps to an exit
//! status. Rendering happens once, at the edge.

use ppl_syntax::Diagnostic;

/// What kind of failure, for the exit status (LANGUAGE.md §8: 1 inference failed, 2 usage, 3
/// model or data error).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The fit ran and failed, or no method can fit the model.
    InferenceFailed,
    /// An impossible setting, a path that cannot be written.
    Usage,
    /// The model text or the data is wrong.
    ModelOrData,
}

/// A failed library call.
#[derive(Clone, Debug)]
pub struct FitError {
    pub diagnostics: Vec<Diagnostic>,
    pub kind: FailureKind,
    /// The model term (index in `Model::terms`) whose log density was not finite, when an
    /// engine said so: the error is then shown on that statement's text.
    pub term: Option<usize>,
}

impl FitError {
    pub fn new(diagnostics: Vec<Diagnostic>, kind: FailureKind) -> Self {
        FitError {
            diagnostics,
            kind,
            term: None,
        }
    }

    /// Names the model term the failure is about (from `LogDensityError::NotFinite`).
    pub fn at_term(mut self, term: Option<usize>) -> Self {
        self.term = term;
        self
    }

    pub fn one(diagnostic: Diagnostic, kind: FailureKind) -> Self {
        FitError::new(vec![diagnostic], kind)
    }

    /// A problem with no place in the model text.
    pub fn message(code: &'static str, message: impl Into<String>, kind: FailureKind) -> Self {
        FitError::one(Diagnostic::unplaced(code, message), kind)
    }

    /// An output file or directory that cannot be written.
    pub fn cannot_write(path: &std::path::Path, error: &std::io::Error) -> Self {
        FitError::message(
            ppl_syntax::codes::OUTPUT_UNWRITABLE,
            format!("cannot write `{}`: {error}", path.display()),
            FailureKind::Usage,
        )
    }
}

impl std::fmt::Display for FitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let messages: Vec<String> = self
            .diagnostics
            .iter()
            .map(|d| format!("[{}] {}", d.code, d.message))
            .collect();
        f.write_str(&messages.join("; "))
    }
}

impl std::error::Error for FitError {}

/// The model term a log-density error names, if any.
pub fn term_of(error: &ppl_infer::LogDensityError) -> Option<usize> {
    match error {
        ppl_infer::LogDensityError::NotFinite { term_index, .. } => *term_index,
    }
}
