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
/// `ESS / S` of the draws (1 if unknown or independent).
pub fn loo(
    log_likelihood: &[f64],
    draws: usize,
    observations: usize,
    relative_efficiency: f64,
) -> Result<LooResult, LooError> {
    if draws < 2 || observations == 0 {
        return Err(LooError::TooSmall);
    }
    if log_likelihood.len() != draws * observations {
        return Err(LooError::Shape {
            got: log_likelihood.len(),
            draws,
            observations,
        });
    }
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
        let smoothed = psis(&ratios, relative_efficiency).map_err(|error| LooError::Psis {
            observation: n,
            error,
        })?;
        let weighted: Vec<f64> = smoothed
            .log_weights
            .iter()
            .zip(&column)
            .map(|(w, l)| w + l)
            .collect();
        pointwise.push(log_sum_exp(&weighted));
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
