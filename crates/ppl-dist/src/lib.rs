//! Probability distributions, constraint transforms and special functions: the numerical
//! vocabulary shared by the model layer and the engines. Knows nothing of syntax or the IR.

// Domain checks are written `!(sigma > 0.0)` on purpose: unlike `sigma <= 0.0` they also reject NaN.
#![allow(
    clippy::neg_cmp_op_on_partial_ord,
    reason = "`!(x > 0.0)` rejects NaN as well as non-positive values"
)]

pub mod catalog;
pub mod cdf;
pub mod density;
pub mod incomplete;
pub mod sample;
pub mod special;
pub mod transform;

pub use catalog::{DistKind, Family, ParamSpec, Parameterisation, Support, families, family};
pub use cdf::{
    KINDS_WITH_CDF, has_cdf, is_discrete_scalar, parameters_without_derivative, scalar_log_ccdf,
    scalar_log_cdf,
};
pub use density::{
    ShapeError, check_event_shapes, event_log_density, event_log_density_gradient,
    scalar_log_density, scalar_log_density_gradient,
};
pub use sample::{SampleError, sample, sample_multinomial};
pub use special::Real;
pub use transform::{Constraint, TransformError};
