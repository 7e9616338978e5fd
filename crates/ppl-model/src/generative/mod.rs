//! Recognisers for the generative-model forms of the planner's first three rules (the canonical
//! forms agreed for the VAE, the RBM and the GAN), by structure — a library model inlined under a
//! prefix has other names: each reads the IR and returns a plain spec for its engine, or the
//! reason, with a span, why the model is not that form.

pub mod gan;
pub mod rbm;
pub mod vae;
