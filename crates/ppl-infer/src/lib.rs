//! The inference engines. They see a `LogDensity` (or, for EM, a `MixtureProblem`), never the
//! syntax or the IR, so each is tested on hand-written densities.
//!
//! - **NUTS and static HMC** ([`mcmc`], [`sample_chains`]): Stan's samplers and warmup.
//! - **Random-walk Metropolis** ([`sample_chains_random_walk`]): gradient-free, for densities with
//!   integer unknowns (a mask of integer coordinates gets symmetric steps ±1..±m). The proposal
//!   scale follows a Robbins–Monro rule on its log toward 0.234 acceptance (0.44 in one
//!   dimension; Roberts, Gelman and Gilks 1997), its per-coordinate shape is the warmup windows'
//!   standard deviations, and both freeze after warmup. Same chains, seeds, sink and diagnostics as
//!   HMC; the acceptance rate is reported per chain.
//! - **Gibbs** ([`sample_chains_gibbs`]): discrete blocks drawn from their full conditionals,
//!   continuous blocks drawn exactly where conjugate and moved by adapted random-walk Metropolis
//!   otherwise; it sees a [`ConditionalModel`], never the IR.
//! - **The ELBO engine / ADVI** ([`vi`], [`fit_variational`]): a mean-field or full-rank Gaussian
//!   guide on the unconstrained space fitted by reparameterised stochastic gradients and Adam
//!   (Kucukelbir et al. 2017), stopped by Stan's rule on the ELBO's relative change; draws from the
//!   guide with the PSIS k̂ of `log p − log q`.
//! - **PSIS** ([`psis()`]): Pareto-smoothed importance weights and k̂ (Vehtari et al. 2024), as
//!   `loo`/ArviZ compute them; for ADVI and Laplace diagnostics and for PSIS-LOO.
//! - **Laplace** ([`laplace()`]): the mode by L-BFGS and N(mode, (−H)⁻¹) with `H` the Hessian from
//!   [`HessianDensity`] (finite differences unless the density supplies an exact one); draws and
//!   k̂ as for ADVI, and an error when −H is not positive definite.
//! - **PSIS-LOO** ([`loo()`], [`loo_compare`]): elpd_loo, its SE, p_loo and k̂ per observation
//!   from a draws × observations log-likelihood matrix, and the paired model comparison.
//! - **MAP / MLE** ([`optimize`]) and **EM** for finite mixtures ([`em`]).
//! - **Energy models** ([`energy`]): a binary RBM trained by persistent contrastive divergence,
//!   its exact pseudo-log-likelihood and an AIS estimate of its log-likelihood.
//! - **Adversarial training** ([`adversarial`], [`train_gan`]): a generator and a critic net
//!   trained in alternation with the non-saturating losses and Adam (a GAN).

pub mod adversarial;
pub mod density;
pub mod diagnostics;
pub mod em;
pub mod energy;
pub mod laplace;
pub mod loo;
pub mod mcmc;
pub mod optimize;
pub mod psis;
pub mod vae;
pub mod vi;

pub use adversarial::{
    AdversarialError, AdversarialFit, AdversarialSettings, EpochLosses, NetDesign, train_gan,
};
pub use density::{LogDensity, LogDensityError};
pub use em::{
    BlockEstimates, ComponentFamily, EmError, EmFit, EmSettings, EmissionBlock, MixtureProblem,
    fit_mixture, fit_mixture_until,
};
pub use laplace::laplace_until;
pub use laplace::{
    FiniteDifferenceHessian, HessianDensity, LaplaceError, LaplaceFit, LaplaceSettings, laplace,
};
pub use loo::{
    LooComparison, LooError, LooResult, loo, loo_compare, loo_with_relative_efficiencies,
    relative_efficiencies,
};
pub use mcmc::{
    ChainOutput, ConditionalModel, ConjugatePosterior, GibbsChain, GibbsSettings,
    MAX_STORED_DRAW_VALUES, RandomWalkChain, RandomWalkSettings, SamplerError, SamplerSettings,
    check_draws_fit, sample_chains, sample_chains_gibbs, sample_chains_random_walk, uses_nuts,
};
pub use optimize::{
    DEFAULT_HESSIAN_STEP, MultiStartResult, OptimizeError, OptimizeResult, OptimizeSettings,
    RandomStarts, StopReason, hessian_by_differences, maximize, maximize_from_random_starts,
    standard_errors,
};
pub use optimize::{maximize_from_random_starts_until, maximize_until};
pub use psis::{PsisError, PsisResult, psis};
pub use vi::{
    Adam, ElboEvaluation, GaussianGuide, GuideFamily, Optimiser, Plateau, VariationalError,
    VariationalFit, VariationalSettings, elbo_plateau, fit_variational,
};
