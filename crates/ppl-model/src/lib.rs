//! Runs the checked IR as a log density with gradients and implements the traits the engines ask
//! for.

pub mod bind;
pub mod generative;
pub mod gibbs;
pub mod marginal;
pub mod mixture;
pub mod names;
pub mod posterior;
pub mod query;
pub mod relabel;
pub mod simulate;
pub mod tape;

pub use bind::{BoundData, bind, needs_data};
pub use tape::{Array, TapeError};
