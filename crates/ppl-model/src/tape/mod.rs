//! The model's log density with gradients. The checked IR, bound to data (`Bindings`), is
//! evaluated two ways: a generic evaluator over any scalar type (the reference semantics and the
//! forward-mode test oracle, `log_density_oracle` / `oracle_gradient`), and a `Tape` of
//! array-valued nodes with a forward and a reverse pass (the fast path the engines use, through
//! `ppl_infer::LogDensity`).
//!
//! Semantics decided here (LANGUAGE.md leaves them open):
//! - Indexing is orthogonal: each index position selects along its own axis, a gathered axis is
//!   replaced by the index array's shape, and trailing axes without an index are kept whole.
//! - A `let` declared inside loops stores its value with the loop axes first. A reference whose
//!   type has the rank of one iteration, made while its loop variables are bound, reads the
//!   current iteration; any other reference reads the whole array.
//! - A `~` with arguments of several batch shapes sums over their NumPy broadcast (the variate
//!   included), with event ranks from the catalogue's `ParamSpec::rank`.
//! - Unknowns come from an unconstrained position through ppl-dist's transforms, adding log |J|
//!   (as Stan); the flat order of the position follows `ParameterLayout`.
//!
//! The tape unrolls loops and comprehensions when it is built (one set of nodes per iteration,
//! indices by loop variables becoming static gathers); vectorised statements are one node per
//! operation with a tight loop inside. Terms it cannot express fall back to the generic
//! evaluator (see `Tape`).

mod array;
mod builtins;
mod density;
mod error;
mod eval;
mod functions;
mod glm;
mod graph;
mod hessian;
mod layout;
mod lower;
mod net;
mod nonfinite;
mod numerics;
mod pointwise;
mod summed;
mod vectorise;

pub use array::Array;
pub use builtins::gradient_cases;
pub use density::Tape;
pub use error::TapeError;
pub(crate) use eval::Evaluator;
pub(crate) use eval::index_plan;
pub use hessian::{EXACT_HESSIAN_MAX_DIM, ExactHessianUnavailable};
pub use layout::{
    Bindings, Draw, ParameterEntry, ParameterLayout, log_density_oracle, oracle_gradient,
};
pub use nonfinite::NonFinite;
pub use pointwise::ObservationPlate;
pub use vectorise::vectorise_loops;

#[cfg(test)]
mod net_tests;
#[cfg(test)]
mod tests;
