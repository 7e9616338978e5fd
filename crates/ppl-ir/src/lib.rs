//! The checked model: names resolved, types, constraints and symbolic shapes known, distributions
//! resolved to a parameterisation. `check` turns a syntax tree into a `Model` plus diagnostics;
//! `Model` prints itself (`ppl check --ir`) for snapshot tests.

pub mod builtins;
pub mod library;
pub mod method;
pub mod model;

pub use builtins::Builtin;
pub use method::Method;
pub use model::*;

pub mod check;
pub use check::{CheckOptions, check};
pub mod printer;
