//! What can go wrong when drawing a picture of a run, as values with stable codes (the E09xx range
//! of `ppl_syntax::codes`) and the kind of failure the command line turns into an exit status.

use std::path::PathBuf;

use ppl_syntax::codes;

/// Whose fault a failure is: the command line's (exit 2), the run's files (exit 3), or the drawing
/// itself (exit 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlotFailure {
    Usage,
    RunFiles,
    Drawing,
}

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("cannot read `{path}`: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error(
        "no draws in `{path}`: a plot of this kind needs the chain CSV files of a sampling run (files whose first column is lp__)"
    )]
    NoDraws { path: PathBuf },
    #[error("`{first}` and `{other}` have different columns: they are not chains of one model")]
    ChainsDisagree { first: PathBuf, other: PathBuf },
    #[error("no variable `{name}` in the draws; the run has {available}")]
    UnknownVariable { name: String, available: String },
    #[error("{message}")]
    VariableCount { message: String },
    #[error("{message}")]
    InputMissing { message: String },
    #[error("`{path}` must end in .png or .svg: the extension picks the picture's format")]
    OutputFormat { path: PathBuf },
    #[error("cannot write `{path}`: {reason}")]
    Unwritable { path: PathBuf, reason: String },
    #[error("a picture of {width}x{height} pixels is {why}")]
    BadSize {
        width: u32,
        height: u32,
        why: &'static str,
    },
    #[error("the picture could not be drawn: {0}")]
    Drawing(String),
}

impl PlotError {
    /// The diagnostic code (`ppl_syntax::codes`).
    pub fn code(&self) -> &'static str {
        match self {
            PlotError::Unreadable { .. }
            | PlotError::NoDraws { .. }
            | PlotError::ChainsDisagree { .. } => codes::NO_DRAWS,
            PlotError::UnknownVariable { .. } => codes::UNKNOWN_PLOT_VARIABLE,
            PlotError::VariableCount { .. } => codes::PLOT_VARIABLE_COUNT,
            PlotError::InputMissing { .. } => codes::PLOT_INPUT_MISSING,
            PlotError::OutputFormat { .. } => codes::OUTPUT_FORMAT,
            PlotError::Unwritable { .. } => codes::OUTPUT_UNWRITABLE,
            PlotError::BadSize { .. } => codes::BAD_PICTURE_SIZE,
            PlotError::Drawing(_) => codes::DRAWING_FAILED,
        }
    }

    pub fn failure(&self) -> PlotFailure {
        match self {
            PlotError::Unreadable { .. }
            | PlotError::NoDraws { .. }
            | PlotError::ChainsDisagree { .. }
            | PlotError::InputMissing { .. } => PlotFailure::RunFiles,
            PlotError::UnknownVariable { .. }
            | PlotError::VariableCount { .. }
            | PlotError::OutputFormat { .. }
            | PlotError::Unwritable { .. }
            | PlotError::BadSize { .. } => PlotFailure::Usage,
            PlotError::Drawing(_) => PlotFailure::Drawing,
        }
    }
}

/// Turns a plotters error (whatever its backend) into ours.
pub(crate) fn drawing<E: std::error::Error + Send + Sync>(
    error: plotters::drawing::DrawingAreaErrorKind<E>,
) -> PlotError {
    PlotError::Drawing(error.to_string())
}
