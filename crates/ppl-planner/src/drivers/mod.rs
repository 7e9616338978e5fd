//! One driver per engine: each turns a plan and the settings into calls of `ppl-infer` and the
//! engine's result into a [`crate::RunReport`].

pub mod approximation;
pub mod curvature;
pub mod em;
pub mod gan;
pub mod gibbs;
pub mod laplace;
pub mod map;
pub mod mcmc;
pub mod nonfinite;
pub mod rbm;
pub mod vae;
pub mod variational;
