//! The one error type of `ppl-bench`: everything that stops a benchmark run, as a value that
//! `main` prints on stderr and as `{"error": ...}` on stdout.

use std::path::PathBuf;

use thiserror::Error;

/// Why a benchmark could not run (a peer that fails is recorded in the report instead).
#[derive(Debug, Error)]
pub enum BenchError {
    /// The command line is wrong; the message says how.
    #[error("{0}")]
    Usage(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A data file has content the benchmark cannot use.
    #[error("{path}: {message}")]
    Data { path: PathBuf, message: String },
    /// A child process could not start, failed, or printed no usable JSON.
    #[error("`{program}`: {message}")]
    Process { program: String, message: String },
    /// The engine itself returned an error.
    #[error("{0}")]
    Engine(String),
}

impl BenchError {
    /// An [`BenchError::Io`] for `path`, for use with `map_err`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BenchError {
        let path = path.into();
        move |source| BenchError::Io { path, source }
    }
}
