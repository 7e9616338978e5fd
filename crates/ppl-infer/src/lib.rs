//! The inference engines. They see a `LogDensity` (or, for EM, a `MixtureProblem`), never the
//! syntax or the IR, so each is tested on hand-written densities.

pub mod density;

pub use density::{LogDensity, LogDensityError};
