//! Recognising the generative models of LANGUAGE.md §6 rules 1–3 (GAN, RBM, VAE) in the IR, by
//! structure rather than by names, so that a library model inlined under a prefix is found too.

pub mod gan;
