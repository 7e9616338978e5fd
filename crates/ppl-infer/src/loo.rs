//! PSIS-LOO (Vehtari, Gelman and Gabry 2017, Statistics and Computing 27): the expected log
//! pointwise predictive density for new data, estimated by leave-one-out cross-validation with
//! Pareto-smoothed importance weights from one posterior sample, and the comparison of models by
//! it. Computed as ArviZ's `loo` and `compare` (and R's `loo` and `loo_compare`) do:
//!
//! - for each observation `n`, PSIS on the ratios `−log p(y_n | θ_s)` gives smoothed normalised
//!   weights `w_s` and k̂_n; `elpd_loo,n = log Σ_s w_s p(y_n | θ_s)`;
//! - `elpd_loo = Σ_n elpd_loo,n`, its standard error `sqrt(N · var_n(elpd_loo,n))`;
//! - `p_loo = lppd − elpd_loo`, with `lppd = Σ_n log(mean_s p(y_n | θ_s))`;
//! - k̂_n above `min(1 − 1/log10 S, 0.7)` marks an observation whose estimate is unreliable.
//!
//! The relative efficiency `r_eff,n` of each observation is, as R's `loo::relative_eff` computes
//! it, the ESS of `p(y_n | θ_s)` over the chains (whole chains, Stan 2.18's estimator) divided
//! by `S` ([`relative_efficiencies`]). It sets PSIS's tail length and the Monte Carlo standard
//! error of `elpd_loo`: per observation `Var(Σ_s w_s p_s) ≈ Σ_s w_s² (p_s − E_n)² / r_eff,n`, and
//! by the delta method `Var(log E_n) ≈ that / E_n²`; `mcse_elpd_loo = sqrt(Σ_n Var(log E_n))`. (R's
//! `loo` turns the same variance into the MCSE through a log-normal simulation; the delta method
//! is its deterministic limit.)

use crate::psis::{PsisError, log_sum_exp, psis};

/// The PSIS-LOO estimate for one model.
#[derive(Clone, Debug, PartialEq)]
pub struct LooResult {
    /// `elpd_loo`, the sum of the pointwise values.
    pub elpd_loo: f64,
    /// Its standard error.
    pub standard_error: f64,
    /// The effective number of parameters, `lppd − elpd_loo`.
    pub p_loo: f64,
    /// `elpd_loo,n` per observation.
    pub pointwise: Vec<f64>,
    /// k̂ per observation.
    pub pareto_k: Vec<f64>,
    /// The reliability threshold `min(1 − 1/log10 S, 0.7)` for this sample size.
    pub k_threshold: f64,
    /// Observations with k̂ above `k_threshold`.
    pub count_above_threshold: usize,
    /// Observations with k̂ above 1 (the estimate is then not even consistent).
    pub count_above_one: usize,
    /// The Monte Carlo standard error of `elpd_loo` (module doc).
    pub mcse_elpd_loo: f64,
    /// `r_eff` per observation, as used.
    pub relative_efficiency: Vec<f64>,
}

/// Why PSIS-LOO could not be computed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LooError {
    #[error(
        "the log-likelihood matrix has {got} entries, expected {draws} draws × {observations} observations"
    )]
    Shape {
        got: usize,
        draws: usize,
        observations: usize,
    },
    #[error("PSIS-LOO needs at least two draws and one observation")]
    TooSmall,
    #[error("observation {observation}: {error}")]
    Psis {
        observation: usize,
        error: PsisError,
    },
    #[error("models to compare must have the same observations: {first} and {second} given")]
    DifferentObservations { first: usize, second: usize },
    #[error("no models to compare")]
    NoModels,
}

/// PSIS-LOO from a `draws × observations` row-major matrix of pointwise log-likelihoods,
/// `log p(y_n | θ_s)` at `log_likelihood[s * observations + n]`. `relative_efficiency` is
/// `ESS / S` of the draws (1 if unknown or independent), the same for every observation.
pub fn loo(
    log_likelihood: &[f64],
    draws: usize,
    observations: usize,
    relative_efficiency: f64,
) -> Result<LooResult, LooError> {
    loo_with_relative_efficiencies(
        log_likelihood,
        draws,
        observations,
        &vec![relative_efficiency; observations],
    )
}

/// The relative efficiency of every observation (module doc) from the same matrix, whose draws
/// are `chain_lengths[0]` draws of the first chain, then the second chain's, and so on. Chains of
/// unequal length are cut to the shortest, as the ESS needs; an observation whose ESS cannot be
/// estimated (fewer than four draws per chain) gets 1.
pub fn relative_efficiencies(
    log_likelihood: &[f64],
    chain_lengths: &[usize],
    observations: usize,
) -> Vec<f64> {
    let draws: usize = chain_lengths.iter().sum();
    if log_likelihood.len() != draws * observations || draws == 0 {
        return vec![1.0; observations];
    }
    let mut efficiencies = Vec::with_capacity(observations);
    for n in 0..observations {
        let column: Vec<f64> = (0..draws)
            .map(|s| log_likelihood[s * observations + n])
            .collect();
        // The likelihood scaled by its largest value: the ESS does not change with the scale,
        // and exp of a very negative log-likelihood would underflow to 0.
        let max = column.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let likelihood: Vec<f64> = column.iter().map(|l| (l - max).exp()).collect();
        let mut chains = Vec::with_capacity(chain_lengths.len());
        let mut start = 0;
        for &length in chain_lengths {
            chains.push(&likelihood[start..start + length]);
            start += length;
        }
        let ess = crate::diagnostics::ess_whole_chains(&chains);
        let used = chain_lengths.iter().copied().min().unwrap_or(0) * chain_lengths.len();
        let efficiency = ess / used as f64;
        efficiencies.push(if efficiency.is_finite() && efficiency > 0.0 {
            efficiency
        } else {
            1.0
        });
    }
    efficiencies
}

/// PSIS-LOO with one relative efficiency per observation (see [`relative_efficiencies`]).
pub fn loo_with_relative_efficiencies(
    log_likelihood: &[f64],
    draws: usize,
    observations: usize,
    relative_efficiency: &[f64],
) -> Result<LooResult, LooError> {
    if draws < 2 || observations == 0 {
        return Err(LooError::TooSmall);
    }
    if log_likelihood.len() != draws * observations || relative_efficiency.len() != observations {
        return Err(LooError::Shape {
            got: log_likelihood.len(),
            draws,
            observations,
        });
    }
    let mut variance_of_logs = 0.0;
    let k_threshold = (1.0 - 1.0 / (draws as f64).log10()).min(0.7);
    let mut pointwise = Vec::with_capacity(observations);
    let mut pareto_k = Vec::with_capacity(observations);
    let mut lppd = 0.0;
    let mut column = vec![0.0; draws];
    let mut ratios = vec![0.0; draws];
    for n in 0..observations {
        for s in 0..draws {
            column[s] = log_likelihood[s * observations + n];
            ratios[s] = -column[s];
        }
        let smoothed = psis(&ratios, relative_efficiency[n]).map_err(|error| LooError::Psis {
            observation: n,
            error,
        })?;
        let weighted: Vec<f64> = smoothed
            .log_weights
            .iter()
            .zip(&column)
            .map(|(w, l)| w + l)
            .collect();
        let elpd_n = log_sum_exp(&weighted);
        // Σ_s w_s² (p_s / E_n − 1)², in logs so that tiny likelihoods do not underflow.
        let relative_variance: f64 = smoothed
            .log_weights
            .iter()
            .zip(&column)
            .map(|(w, l)| (2.0 * w).exp() * ((l - elpd_n).exp() - 1.0).powi(2))
            .sum();
        variance_of_logs += relative_variance / relative_efficiency[n];
        pointwise.push(elpd_n);
        pareto_k.push(smoothed.pareto_k);
        lppd += log_sum_exp(&column) - (draws as f64).ln();
    }
    let elpd_loo: f64 = pointwise.iter().sum();
    let standard_error = (observations as f64 * population_variance(&pointwise)).sqrt();
    Ok(LooResult {
        elpd_loo,
        standard_error,
        p_loo: lppd - elpd_loo,
        count_above_threshold: pareto_k.iter().filter(|k| **k > k_threshold).count(),
        count_above_one: pareto_k.iter().filter(|k| **k > 1.0).count(),
        pointwise,
        pareto_k,
        k_threshold,
        mcse_elpd_loo: variance_of_logs.sqrt(),
        relative_efficiency: relative_efficiency.to_vec(),
    })
}

/// One model's row in [`loo_compare`].
#[derive(Clone, Debug, PartialEq)]
pub struct LooComparison {
    /// The model's index in the input.
    pub model: usize,
    pub elpd_loo: f64,
    /// `elpd_loo` of the best model minus this one's (0 for the best).
    pub elpd_difference: f64,
    /// The standard error of that difference, `sqrt(N · var_n(best_n − this_n))` (0 for the
    /// best).
    pub difference_standard_error: f64,
}

/// Ranks models by `elpd_loo`, best first, with each one's difference from the best and its
/// standard error from the pointwise differences (the paired comparison of `loo_compare`).
pub fn loo_compare(models: &[&LooResult]) -> Result<Vec<LooComparison>, LooError> {
    let first = models.first().ok_or(LooError::NoModels)?;
    if let Some(other) = models
        .iter()
        .find(|m| m.pointwise.len() != first.pointwise.len())
    {
        return Err(LooError::DifferentObservations {
            first: first.pointwise.len(),
            second: other.pointwise.len(),
        });
    }
    let mut order: Vec<usize> = (0..models.len()).collect();
    order.sort_by(|&a, &b| models[b].elpd_loo.total_cmp(&models[a].elpd_loo));
    let best = models[order[0]];
    Ok(order
        .into_iter()
        .map(|index| {
            let model = models[index];
            let differences: Vec<f64> = best
                .pointwise
                .iter()
                .zip(&model.pointwise)
                .map(|(b, m)| b - m)
                .collect();
            LooComparison {
                model: index,
                elpd_loo: model.elpd_loo,
                elpd_difference: best.elpd_loo - model.elpd_loo,
                difference_standard_error: (differences.len() as f64
                    * population_variance(&differences))
                .sqrt(),
            }
        })
        .collect())
}

/// The variance with denominator `n` (as `numpy.var`).
fn population_variance(values: &[f64]) -> f64 {
    let count = values.len() as f64;
    let mean = values.iter().sum::<f64>() / count;
    values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / count
}

#[cfg(test)]
mod tests {
    use super::*;

    const DRAWS: usize = 1000;
    const OBSERVATIONS: usize = 20;

    fn y(n: usize) -> f64 {
        if n == 7 {
            8.0
        } else {
            1.0 + 1.5 * (2.1 * n as f64).sin()
        }
    }

    fn normal_log_pdf(x: f64, mu: f64, sigma: f64) -> f64 {
        -0.5 * (2.0 * std::f64::consts::PI).ln() - sigma.ln() - 0.5 * ((x - mu) / sigma).powi(2)
    }

    /// The matrices of `psis_testdata/make_loo_reference.py`.
    fn matrix(fixed_sigma: Option<f64>) -> Vec<f64> {
        let mut out = Vec::with_capacity(DRAWS * OBSERVATIONS);
        for s in 0..DRAWS {
            let mu = 1.0 + 0.3 * (1.3 * s as f64).sin();
            let sigma = fixed_sigma.unwrap_or_else(|| (0.4 + 0.1 * (0.7 * s as f64).cos()).exp());
            for n in 0..OBSERVATIONS {
                out.push(normal_log_pdf(y(n), mu, sigma));
            }
        }
        out
    }

    fn close(got: f64, expected: f64, what: &str) {
        assert!(
            (got - expected).abs() < 1e-8 * expected.abs().max(1.0),
            "{what}: {got} vs {expected}"
        );
    }

    /// ArviZ 0.23.4 (`psis_testdata/loo_arviz.txt`).
    #[test]
    fn agrees_with_arviz_loo_and_compare() {
        let a = loo(&matrix(None), DRAWS, OBSERVATIONS, 1.0).unwrap();
        close(a.elpd_loo, -43.63837767047962, "A elpd_loo");
        close(a.standard_error, 11.833021915805416, "A se");
        close(a.p_loo, 2.507563552603031, "A p_loo");
        close(a.pointwise[7], -13.687977197939954, "A loo_i[7]");
        close(a.pareto_k[0], -0.7765108738116544, "A k[0]");
        close(a.pareto_k[7], -0.5380613682917487, "A k[7]");
        assert_eq!(a.count_above_threshold, 0);
        let b = loo(&matrix(Some(2.0)), DRAWS, OBSERVATIONS, 1.0).unwrap();
        close(b.elpd_loo, -41.09891394473065, "B elpd_loo");
        close(b.standard_error, 5.921940998292506, "B se");
        close(b.p_loo, 0.19258182648155753, "B p_loo");
        close(b.pointwise[7], -7.810463694763751, "B loo_i[7]");
        let comparison = loo_compare(&[&a, &b]).unwrap();
        assert_eq!(comparison[0].model, 1);
        assert_eq!(comparison[0].elpd_difference, 0.0);
        assert_eq!(comparison[0].difference_standard_error, 0.0);
        assert_eq!(comparison[1].model, 0);
        close(
            comparison[1].elpd_difference,
            2.5394637257489716,
            "elpd_diff",
        );
        close(
            comparison[1].difference_standard_error,
            5.911347084378424,
            "dse",
        );
    }

    /// The relative efficiency of an AR(1) likelihood is the closed form `(1 − ρ)/(1 + ρ)`. The
    /// tolerance, 20% relative, is four standard deviations of the ESS estimate by Bartlett's
    /// approximation (`sd(τ̂)/τ ≈ sqrt(2 (2M + 1) / S)`, M ≈ 10 lags summed, S = 20 000).
    #[test]
    fn relative_efficiency_of_an_ar1_likelihood_is_the_closed_form() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let (chains, per_chain, observations) = (4, 5000, 2);
        let rhos = [0.0, 0.5];
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(5);
        let mut matrix = vec![0.0; chains * per_chain * observations];
        for (n, rho) in rhos.iter().enumerate() {
            for chain in 0..chains {
                let mut state: f64 = StandardNormal.sample(&mut rng);
                for t in 0..per_chain {
                    let noise: f64 = StandardNormal.sample(&mut rng);
                    state = rho * state + (1.0 - rho * rho).sqrt() * noise;
                    // A likelihood 10 + AR(1): positive, and its log is what `loo` reads.
                    let s = chain * per_chain + t;
                    matrix[s * observations + n] = (10.0 + state).ln();
                }
            }
        }
        let efficiencies = relative_efficiencies(&matrix, &[per_chain; 4], observations);
        for (rho, got) in rhos.iter().zip(&efficiencies) {
            let expected = (1.0 - rho) / (1.0 + rho);
            assert!(
                (got / expected - 1.0).abs() < 0.2,
                "rho {rho}: r_eff {got}, closed form {expected}"
            );
        }
        // A lower relative efficiency makes the MCSE of elpd larger.
        let draws = chains * per_chain;
        let independent = loo(&matrix, draws, observations, 1.0).unwrap();
        let correlated = loo(&matrix, draws, observations, 0.25).unwrap();
        assert!(correlated.mcse_elpd_loo > independent.mcse_elpd_loo);
    }

    /// With every draw giving one observation the same likelihood, the importance-weighted mean
    /// is exact: its Monte Carlo error is 0.
    #[test]
    fn mcse_of_a_constant_likelihood_is_zero() {
        let matrix: Vec<f64> = (0..100)
            .map(|s| if s % 2 == 0 { -1.5 } else { -0.7 })
            .collect();
        let result = loo(&matrix, 50, 2, 1.0).unwrap();
        assert!(
            result.mcse_elpd_loo.abs() < 1e-12,
            "{}",
            result.mcse_elpd_loo
        );
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert_eq!(
            loo(&[0.0; 3], 2, 2, 1.0).unwrap_err(),
            LooError::Shape {
                got: 3,
                draws: 2,
                observations: 2
            }
        );
        assert_eq!(loo(&[], 1, 0, 1.0).unwrap_err(), LooError::TooSmall);
        assert_eq!(loo_compare(&[]).unwrap_err(), LooError::NoModels);
    }
}
