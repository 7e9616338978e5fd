//! The model's log density with gradients. The checked IR, bound to data (`Bindings`), is
//! evaluated two ways: a generic evaluator over any scalar type (the reference semantics and the
//! forward-mode test oracle), and a tape of array-valued nodes with a forward and a reverse pass
//! (the fast path the engines use, through `ppl_infer::LogDensity`).

mod array;
mod density;
mod error;
mod eval;
mod functions;
mod graph;
mod layout;
mod lower;
mod numerics;
mod transform;

pub use array::Array;
pub use density::Tape;
pub use error::TapeError;
pub use layout::{
    Bindings, Draw, ParameterEntry, ParameterLayout, log_density_oracle, oracle_gradient,
};

#[cfg(test)]
mod tests;
