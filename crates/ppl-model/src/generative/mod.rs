//! Recognising the generative models of LANGUAGE.md §6 rules 1–3 in the IR, by structure (a
//! library model inlined under a prefix has other names), for engines that never see the IR.

pub mod rbm;
