//! The inference engines. They see a `LogDensity` (or, for EM, a `MixtureProblem`), never the
//! syntax or the IR, so each is tested on hand-written densities.

pub mod density;
pub mod diagnostics;
pub mod em;
pub mod laplace;
pub mod mcmc;
pub mod optimize;
pub mod psis;
pub mod vi;

pub use density::{LogDensity, LogDensityError};
pub use em::{
    BlockEstimates, ComponentFamily, EmError, EmFit, EmSettings, EmissionBlock, MixtureProblem,
    fit_mixture,
};
pub use laplace::{
    FiniteDifferenceHessian, HessianDensity, LaplaceError, LaplaceFit, LaplaceSettings, laplace,
};
pub use mcmc::{
    ChainOutput, RandomWalkChain, RandomWalkSettings, SamplerError, SamplerSettings, sample_chains,
    sample_chains_random_walk,
};
pub use optimize::{
    DEFAULT_HESSIAN_STEP, MultiStartResult, OptimizeError, OptimizeResult, OptimizeSettings,
    RandomStarts, StopReason, hessian_by_differences, maximize, maximize_from_random_starts,
    standard_errors,
};
pub use psis::{PsisError, PsisResult, psis};
pub use vi::{
    Adam, ElboEvaluation, GaussianGuide, GuideFamily, Optimiser, VariationalError, VariationalFit,
    VariationalSettings, fit_variational,
};
