//! Expectation-maximisation for finite mixtures with closed-form M-steps.
//!
//! The engine sees a [`MixtureProblem`]: `n` rows, `K` components and one or more
//! [`EmissionBlock`]s, each an observed variable that every component emits with its own
//! parameters. Blocks are conditionally independent given the component, so a component's
//! log-density of a row is the sum over blocks. It knows nothing of syntax or IR: the model layer
//! recognises a mixture and builds the problem.
//!
//! # Algorithm
//! * **Initialisation**: k-means++ seeding (Arthur & Vassilvitskii 2007) in its greedy form, as
//!   scikit-learn uses it (the best of `2 + ⌊ln K⌋` candidates per new centre), and up to
//!   [`LLOYD_ITERATIONS`] Lloyd iterations (until no label changes) on standardised features,
//!   then two M-steps from the hard assignments (the second only re-centres the covariance
//!   sums, see below). Features are the columns of the Normal, MvNormal, Poisson and Exponential
//!   blocks, each standardised; a problem with none of those clusters the raw 0/1 Bernoulli
//!   columns and one-hot Categorical columns instead.
//! * **EM** (Dempster, Laird & Rubin 1977): one pass over the data per iteration computes the
//!   responsibilities and, in the same cache-resident chunk, the sufficient statistics; the
//!   M-step is closed-form for every family. The pass runs on rayon over fixed chunks of
//!   [`CHUNK_ROWS`] rows whose partial sums are added in chunk order, so a seed gives the
//!   same bits whatever the number of threads. The pass that evaluates the objective at θₜ also
//!   gathers the statistics for θₜ₊₁; the run stops when the objective per point changed by
//!   less than `tolerance` and returns θₜ, whose objective is the one reported.
//!   [`EmFit::iterations`] counts M-steps after the initialisation (scikit-learn's `n_iter_`
//!   counts E-steps including the one that detects convergence, one more than ours).
//! * **Restarts**: `restarts` independent initialisations with seeds derived from `seed`; the
//!   highest final objective wins (the first one on ties).
//!
//! # The objective and the regulariser
//! Like scikit-learn, the M-step adds `covariance_regularisation` (λ) to every Normal variance
//! and MvNormal covariance diagonal, and (our choice) λ to every Exponential component's mean.
//! Those updates are the exact maximisers of the expected complete-data log-likelihood when each
//! component density is multiplied by a penalty factor: `exp(-λ/2 · tr Σ⁻¹)` for Normal and
//! MvNormal, `exp(-λ · rate)` for Exponential. The engine therefore runs EM on the *penalised*
//! likelihood `Σᵢ ln Σₖ πₖ fₖ(xᵢ) penaltyₖ`; by the usual Jensen argument (Neal & Hinton 1998) it
//! can never decrease, and it is bounded above, so a component cannot collapse onto one point.
//! [`EmFit::trace`] and [`EmFit::objective`] report the penalised value;
//! [`EmFit::log_likelihood`], the BIC and the responsibilities use the plain likelihood of the
//! final parameters (what scikit-learn's `score` reports). Each pass gets the plain value at
//! almost no cost from the penalised responsibilities (see `pass::normalise_rows`). With
//! λ = 1e-6 the two differ by a few parts in a million per point. Should rounding ever make the objective go down (only possible at
//! convergence), the run stops and returns the previous, better parameters.
//!
//! # Degenerate components
//! A component whose total responsibility falls below [`DEAD_COMPONENT_MASS`] keeps its previous
//! parameters (a generalised EM step: its term of the expected log-likelihood is unchanged, so
//! the objective still cannot decrease) and its weight goes to its tiny or zero mass. A cluster
//! left empty by k-means (for instance `K` greater than the number of distinct rows) starts from
//! the estimates of the whole data set with weight zero. The same "keep the previous parameters"
//! rule applies when an update is not usable (a singular covariance with λ = 0, an infinite
//! Exponential rate); McLachlan & Peel (2000) discuss both remedies, regularising and
//! re-seeding; re-seeding would break monotonicity, so it is not done. Nothing produces NaN.
//!
//! # Output
//! Components are sorted by the first block's leading parameter (mean, first mean coordinate,
//! rate, or probability of the first dimension / first level), so label switching between seeds
//! does not change the output. BIC = −2 ln L + p ln n with the plain log-likelihood.

mod families;
mod init;
mod pass;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};

use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

pub use init::LLOYD_ITERATIONS;
pub use pass::CHUNK_ROWS;

use families::BlockParams;
use pass::{Parameters, ResponsibilityMode};

/// Total responsibility below which a component's parameters are frozen (see the module docs).
pub const DEAD_COMPONENT_MASS: f64 = 1e-12;

/// The distribution every component uses for one emission block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComponentFamily {
    /// Univariate normal; the block must have `dim == 1` (several independent normal variables
    /// are several blocks).
    Normal,
    /// Multivariate normal with a full covariance matrix, `dim >= 1`.
    MvNormal,
    /// Poisson counts (non-negative integers), `dim == 1`.
    Poisson,
    /// Independent Bernoulli variables, one probability per dimension; values 0 or 1, `dim >= 1`.
    Bernoulli,
    /// Categorical with values `1..=levels`, `dim == 1`.
    Categorical {
        /// Number of categories (at least 1).
        levels: usize,
    },
    /// Exponential with a rate per component; values `>= 0`, `dim == 1`.
    Exponential,
}

impl ComponentFamily {
    /// A short lowercase name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            ComponentFamily::Normal => "normal",
            ComponentFamily::MvNormal => "multivariate normal",
            ComponentFamily::Poisson => "poisson",
            ComponentFamily::Bernoulli => "bernoulli",
            ComponentFamily::Categorical { .. } => "categorical",
            ComponentFamily::Exponential => "exponential",
        }
    }
}

/// One observed variable emitted by each component: `n` rows of `dim` values, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct EmissionBlock {
    /// The variable's name, used in error messages.
    pub name: String,
    /// The family every component uses for this variable.
    pub family: ComponentFamily,
    /// Values per row.
    pub dim: usize,
    /// `n * dim` values, row-major.
    pub values: Vec<f64>,
}

/// A finite mixture to fit: `n` rows, `components` components, the emission blocks.
#[derive(Clone, Debug, PartialEq)]
pub struct MixtureProblem {
    /// Number of rows (data points).
    pub n: usize,
    /// Number of mixture components `K`.
    pub components: usize,
    /// The observed variables; each holds `n * dim` values.
    pub blocks: Vec<EmissionBlock>,
}

/// How EM runs.
#[derive(Clone, Debug, PartialEq)]
pub struct EmSettings {
    /// Independent initialisations; the best final objective wins. At least 1.
    pub restarts: usize,
    /// Maximum number of M-steps per restart (0 returns the initialisation).
    pub max_iterations: usize,
    /// Convergence when the objective per point changes by less than this between iterations.
    pub tolerance: f64,
    /// λ added to Normal variances, MvNormal covariance diagonals and Exponential means at each
    /// M-step (scikit-learn's `reg_covar`); see the module docs for the objective it implies.
    pub covariance_regularisation: f64,
    /// Seed of the initialisation; restart `r` uses a seed derived from it and `r`.
    pub seed: u64,
    /// Return the `n x K` posterior membership probabilities of the final fit.
    pub keep_responsibilities: bool,
}

impl Default for EmSettings {
    fn default() -> Self {
        EmSettings {
            restarts: 1,
            max_iterations: 1000,
            tolerance: 1e-8,
            covariance_regularisation: 1e-6,
            seed: 0,
            keep_responsibilities: false,
        }
    }
}

/// The fitted parameters of one block, one entry per component (in the sorted component order).
#[derive(Clone, Debug, PartialEq)]
pub enum BlockEstimates {
    /// Means and standard deviations.
    Normal { means: Vec<f64>, sds: Vec<f64> },
    /// Mean vectors and covariance matrices (`dim * dim`, row-major).
    MvNormal {
        means: Vec<Vec<f64>>,
        covariances: Vec<Vec<f64>>,
    },
    /// Rates.
    Poisson { rates: Vec<f64> },
    /// Success probabilities, `K x dim`.
    Bernoulli { probabilities: Vec<Vec<f64>> },
    /// Probabilities of levels `1..=levels`, `K x levels`.
    Categorical { probabilities: Vec<Vec<f64>> },
    /// Rates.
    Exponential { rates: Vec<f64> },
}

/// The result of [`fit_mixture`].
#[derive(Clone, Debug, PartialEq)]
pub struct EmFit {
    /// Mixture weights, summing to 1, in the sorted component order.
    pub weights: Vec<f64>,
    /// Estimates per block, in the problem's block order.
    pub blocks: Vec<BlockEstimates>,
    /// Plain (unpenalised) total log-likelihood of the data at the returned parameters.
    pub log_likelihood: f64,
    /// The penalised total log-likelihood EM maximised, at the returned parameters.
    pub objective: f64,
    /// The penalised objective at the initialisation and after every M-step of the best restart.
    pub trace: Vec<f64>,
    /// M-steps performed by the best restart.
    pub iterations: usize,
    /// Whether the best restart met the tolerance before `max_iterations`.
    pub converged: bool,
    /// Final objective of each restart, in restart order (`-inf` for a restart that failed).
    pub restarts: Vec<f64>,
    /// −2 · log_likelihood + parameter_count · ln n.
    pub bic: f64,
    /// Free parameters: `K − 1` weights plus each block's.
    pub parameter_count: usize,
    /// `n x K` row-major posterior membership probabilities, when asked for.
    pub responsibilities: Option<Vec<f64>>,
    /// True if a stop request ended the fit early: the estimates are those of the last
    /// completed iteration, and restarts not begun were skipped.
    pub interrupted: bool,
}

/// Why a mixture could not be fitted.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EmError {
    #[error("a mixture needs at least one component")]
    NoComponents,
    #[error("a mixture needs at least one data row")]
    NoData,
    #[error("{components} components cannot be fitted to {n} data rows")]
    TooManyComponents { components: usize, n: usize },
    #[error("a mixture needs at least one emission block")]
    NoBlocks,
    #[error("block `{block}`: expected {expected} values ({n} rows x dim {dim}), found {found}")]
    ValueCount {
        block: String,
        n: usize,
        dim: usize,
        expected: usize,
        found: usize,
    },
    #[error("block `{block}`: a {family} block needs {requirement}, found dim {found}")]
    Dimension {
        block: String,
        family: &'static str,
        requirement: &'static str,
        found: usize,
    },
    #[error("block `{block}`: a categorical block needs at least one level")]
    NoLevels { block: String },
    #[error("block `{block}`, row {row}: {value} is not {expected}")]
    InvalidValue {
        block: String,
        row: usize,
        value: f64,
        expected: &'static str,
    },
    #[error("invalid setting `{setting}`: {reason}")]
    InvalidSettings {
        setting: &'static str,
        reason: &'static str,
    },
    #[error("the objective became {value} in restart {restart} at iteration {iteration}")]
    NotFinite {
        restart: usize,
        iteration: usize,
        value: f64,
    },
}

/// Fits the mixture by EM from k-means++ initialisations; see the module docs.
pub fn fit_mixture(problem: &MixtureProblem, settings: &EmSettings) -> Result<EmFit, EmError> {
    fit_mixture_until(problem, settings, None)
}

/// [`fit_mixture`] that ends early, keeping the best iterate so far, once `stop` is set
/// (Ctrl-C): it is looked at before every E-step and every restart.
pub fn fit_mixture_until(
    problem: &MixtureProblem,
    settings: &EmSettings,
    stop: Option<&AtomicBool>,
) -> Result<EmFit, EmError> {
    validate_settings(settings)?;
    let stopped = || stop.is_some_and(|flag| flag.load(Ordering::Relaxed));
    let prepared = pass::Problem::prepare(problem)?;
    let features = init::Features::from_problem(&prepared);
    // Computed only if some k-means cluster comes out empty.
    let global = std::cell::OnceCell::new();

    let mut restart_objectives = Vec::with_capacity(settings.restarts);
    let mut best: Option<RestartOutcome> = None;
    let mut first_error = None;
    let mut interrupted = false;
    for restart in 0..settings.restarts {
        // The first restart always runs: a partial fit still needs something to report.
        if restart > 0 && stopped() {
            interrupted = true;
            break;
        }
        let seed = derive_seed(settings.seed, restart as u64);
        let run = run_restart(
            &prepared, &features, &global, settings, restart, seed, &stopped,
        );
        match run {
            Ok(outcome) => {
                interrupted |= outcome.interrupted;
                restart_objectives.push(outcome.objective);
                if best
                    .as_ref()
                    .is_none_or(|b| outcome.objective > b.objective)
                {
                    best = Some(outcome);
                }
            }
            Err(error) => {
                restart_objectives.push(f64::NEG_INFINITY);
                first_error.get_or_insert(error);
            }
        }
    }
    let Some(best) = best else {
        return Err(first_error.unwrap_or(EmError::NoData));
    };
    let mut fit = finish(&prepared, best, restart_objectives, settings);
    fit.interrupted = interrupted;
    Ok(fit)
}

/// The state a restart ends in.
struct RestartOutcome {
    parameters: Parameters,
    /// Penalised and plain log-likelihood at `parameters`.
    objective: f64,
    log_likelihood: f64,
    trace: Vec<f64>,
    iterations: usize,
    converged: bool,
    interrupted: bool,
}

fn validate_settings(settings: &EmSettings) -> Result<(), EmError> {
    if settings.restarts == 0 {
        return Err(EmError::InvalidSettings {
            setting: "restarts",
            reason: "at least one restart is needed",
        });
    }
    if !(settings.tolerance >= 0.0 && settings.tolerance.is_finite()) {
        return Err(EmError::InvalidSettings {
            setting: "tolerance",
            reason: "must be finite and non-negative",
        });
    }
    let lambda = settings.covariance_regularisation;
    if !(lambda >= 0.0 && lambda.is_finite()) {
        return Err(EmError::InvalidSettings {
            setting: "covariance_regularisation",
            reason: "must be finite and non-negative",
        });
    }
    Ok(())
}

/// Every component set to the estimates of the whole data set: the fallback for clusters that
/// k-means leaves empty. Two one-component M-steps (the second shifted by the first's means, see
/// `initial_parameters`), then copied to all `K` components.
fn global_parameters(problem: &pass::Problem<'_>, regularisation: f64) -> Parameters {
    let mut parameters = Parameters {
        weights: vec![1.0],
        blocks: problem
            .blocks
            .iter()
            .map(|block| block.neutral_parameters(1))
            .collect(),
    };
    for _ in 0..2 {
        let sums = pass::run(problem, &parameters, 0.0, ResponsibilityMode::Uniform, true);
        parameters = problem.m_step(&parameters, &sums, regularisation);
    }
    let k = problem.components;
    let mut everywhere = parameters.permuted(&vec![0; k]);
    everywhere.weights = vec![1.0 / k as f64; k];
    everywhere
}

/// k-means labels, then two M-steps from the hard assignments. Normal statistics are taken
/// around the previous means, so the first M-step (around the neutral means, 0) gets the means
/// right and the second, around those, the covariances without cancellation. A cluster left
/// empty starts from the whole data set's estimates with weight zero.
fn initial_parameters(
    problem: &pass::Problem<'_>,
    features: &init::Features,
    global: &std::cell::OnceCell<Parameters>,
    regularisation: f64,
    seed: u64,
) -> Parameters {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let k = problem.components;
    let labels = init::kmeans_labels(features, k, &mut rng);
    let mut counts = vec![0_usize; k];
    for &label in &labels {
        counts[label as usize] += 1;
    }
    let mut parameters = if counts.contains(&0) {
        global
            .get_or_init(|| global_parameters(problem, regularisation))
            .clone()
    } else {
        Parameters {
            weights: vec![1.0 / k as f64; k],
            blocks: problem
                .blocks
                .iter()
                .map(|block| block.neutral_parameters(k))
                .collect(),
        }
    };
    for _ in 0..2 {
        let sums = pass::run(
            problem,
            &parameters,
            0.0,
            ResponsibilityMode::Hard(&labels),
            true,
        );
        parameters = problem.m_step(&parameters, &sums, regularisation);
    }
    parameters
}

/// Parameters with the penalised and plain log-likelihoods a pass found for them.
struct Evaluated {
    parameters: Parameters,
    objective: f64,
    log_likelihood: f64,
}

fn run_restart(
    problem: &pass::Problem<'_>,
    features: &init::Features,
    global: &std::cell::OnceCell<Parameters>,
    settings: &EmSettings,
    restart: usize,
    seed: u64,
    stopped: &dyn Fn() -> bool,
) -> Result<RestartOutcome, EmError> {
    let regularisation = settings.covariance_regularisation;
    let n = problem.n as f64;
    let mut parameters = initial_parameters(problem, features, global, regularisation, seed);
    let mut previous: Option<Evaluated> = None;
    let mut trace: Vec<f64> = Vec::new();
    let mut iterations = 0;
    let mut converged = false;
    let mut interrupted = false;
    let best = loop {
        // Stopping before the E-step of the initialisation would leave nothing to report.
        let stop_now = previous.is_some() && stopped();
        interrupted |= stop_now;
        let more = iterations < settings.max_iterations && !stop_now;
        // The E-step of `parameters`, fused with the statistics of the next M-step.
        let sums = pass::run(
            problem,
            &parameters,
            regularisation,
            ResponsibilityMode::Posterior,
            more,
        );
        let current = Evaluated {
            objective: sums.log_likelihood + problem.row_constant_total,
            log_likelihood: sums.plain_log_likelihood + problem.row_constant_total,
            parameters,
        };
        if !current.objective.is_finite() || !current.log_likelihood.is_finite() {
            return Err(EmError::NotFinite {
                restart,
                iteration: iterations,
                value: current.objective,
            });
        }
        trace.push(current.objective);
        if let Some(last) = previous.take() {
            let change = (current.objective - last.objective) / n;
            if current.objective < last.objective {
                // Only rounding can do this (EM is monotone): keep the better parameters.
                converged = change.abs() < settings.tolerance;
                break last;
            }
            if change < settings.tolerance {
                converged = true;
                break current;
            }
        }
        if !more {
            break current;
        }
        parameters = problem.m_step(&current.parameters, &sums, regularisation);
        previous = Some(current);
        iterations += 1;
    };
    Ok(RestartOutcome {
        parameters: best.parameters,
        objective: best.objective,
        log_likelihood: best.log_likelihood,
        trace,
        iterations,
        converged,
        interrupted,
    })
}

/// Sorted components, BIC, and the plain responsibilities if asked for.
fn finish(
    problem: &pass::Problem<'_>,
    best: RestartOutcome,
    restarts: Vec<f64>,
    settings: &EmSettings,
) -> EmFit {
    let k = problem.components;
    let order = component_order(&best.parameters.blocks[0], k);
    let parameters = best.parameters.permuted(&order);
    let responsibilities = if settings.keep_responsibilities {
        pass::run_keeping(problem, &parameters).responsibilities
    } else {
        None
    };
    let parameter_count = (k - 1)
        + problem
            .blocks
            .iter()
            .map(|block| block.parameter_count(k))
            .sum::<usize>();
    let bic = -2.0 * best.log_likelihood + parameter_count as f64 * (problem.n as f64).ln();
    EmFit {
        weights: parameters.weights.clone(),
        blocks: parameters
            .blocks
            .iter()
            .map(BlockParams::estimates)
            .collect(),
        log_likelihood: best.log_likelihood,
        objective: best.objective,
        trace: best.trace,
        iterations: best.iterations,
        converged: best.converged,
        restarts,
        bic,
        parameter_count,
        responsibilities,
        interrupted: false,
    }
}

/// Components sorted by the leading parameter of `block`; ties keep their index order.
fn component_order(block: &BlockParams, k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| block.sort_key(a).total_cmp(&block.sort_key(b)));
    order
}

/// A well-mixed seed per restart (SplitMix64 finaliser over seed and restart index).
fn derive_seed(seed: u64, restart: u64) -> u64 {
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    mix(seed ^ mix(restart))
}
