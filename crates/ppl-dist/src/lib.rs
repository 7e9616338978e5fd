//! Probability distributions, constraint transforms and special functions: the numerical
//! vocabulary shared by the model layer and the engines. Knows nothing of syntax or the IR.

pub mod catalog;

pub use catalog::{DistKind, Family, ParamSpec, Parameterisation, Support, families, family};
