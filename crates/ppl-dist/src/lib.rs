//! Probability distributions, constraint transforms and special functions: the numerical
//! vocabulary shared by the model layer and the engines. Knows nothing of syntax or the IR.

pub mod catalog;
pub mod density;
pub mod sample;
pub mod special;

pub use catalog::{DistKind, Family, ParamSpec, Parameterisation, Support, families, family};
pub use density::{
    ShapeError, check_event_shapes, event_log_density, event_log_density_gradient,
    scalar_log_density, scalar_log_density_gradient,
};
pub use sample::{SampleError, sample, sample_multinomial};
pub use special::Real;
