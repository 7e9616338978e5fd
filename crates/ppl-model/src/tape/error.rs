//! The errors of binding, lowering and evaluating a model, each with the span of the offending
//! expression where there is one.

use ppl_syntax::Span;

/// Why a model could not be bound into a tape, or an expression could not be evaluated.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TapeError {
    /// A 1-based index outside `1..=length`.
    #[error("index {index} is out of range 1..{length}")]
    IndexOutOfRange {
        index: i64,
        length: usize,
        span: Span,
    },
    /// Shapes that do not fit together (broadcasting, `@`, stacking, arguments).
    #[error("shape mismatch: {detail}")]
    ShapeMismatch { detail: String, span: Span },
    /// A value that is needed but not known: an observed variable without data, an unknown that is
    /// neither sampled nor fixed, a loop variable outside its loop.
    #[error("no value for {what}")]
    Unbound { what: String, span: Span },
    /// A construct this layer does not evaluate (e.g. calls of nets).
    #[error("not supported here: {what}")]
    Unsupported { what: String, span: Span },
    /// An element of a recursive `let` (`let e[t] = ...`) defined twice, never defined, outside
    /// the array, or read before it is defined; `code` is the diagnostic code from
    /// `ppl_syntax::codes`.
    #[error("{detail}")]
    Element {
        code: &'static str,
        detail: String,
        span: Span,
    },
    /// A cdf term whose shape parameter depends on an unknown: the cdf has no derivative in it
    /// here (`ppl_dist::parameters_without_derivative`), so no gradient is offered rather than a
    /// wrong one.
    #[error("{detail}")]
    NoDerivative { detail: String, span: Span },
    /// A binding or position of the wrong length.
    #[error("{what} has {found} values where {expected} are needed")]
    WrongLength {
        what: String,
        expected: usize,
        found: usize,
    },
    /// A constraint that cannot be applied (invalid bounds, an empty simplex), or a value that
    /// violates its variable's constraint (e.g. an initial value).
    #[error("`{variable}`: {detail}")]
    Constraint { variable: String, detail: String },
    /// An unknown listed as sampled twice, or an observed variable listed as sampled.
    #[error("cannot sample {what}")]
    NotSampleable { what: String },
}

impl TapeError {
    /// The span of the offending expression, when the error has one.
    pub fn span(&self) -> Option<Span> {
        match self {
            TapeError::IndexOutOfRange { span, .. }
            | TapeError::ShapeMismatch { span, .. }
            | TapeError::Unbound { span, .. }
            | TapeError::Unsupported { span, .. }
            | TapeError::Element { span, .. }
            | TapeError::NoDerivative { span, .. } => Some(*span),
            TapeError::WrongLength { .. }
            | TapeError::NotSampleable { .. }
            | TapeError::Constraint { .. } => None,
        }
    }
}
