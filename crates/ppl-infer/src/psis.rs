//! Pareto-smoothed importance sampling (PSIS; Vehtari, Simpson, Gelman, Yao and Gabry 2024, JMLR
//! 25(72)): stabilised importance weights and the shape estimate k̂ that says whether they can be
//! trusted. One vector of log importance ratios in, smoothed normalised log weights and k̂ out; it
//! serves the ADVI diagnostic (ratios log p − log q over draws from the guide) and PSIS-LOO
//! (ratios −log p(y_n | θ) over posterior draws).
//!
//! The rules are those of the `loo` R package and ArviZ's `psislw`, so k̂ agrees with them: the
//! tail is the largest `M = ceil(min(S/5, 3·sqrt(S/r_eff)))` ratios; a generalized Pareto
//! distribution is fitted to their excesses over the cutoff by Zhang and Stephens' (2009)
//! empirical-Bayes method, with the weak prior of `loo` (k̂ shrunk towards 0.5 as if by 10
//! pseudo-observations); the tail is replaced by the fitted quantiles at `(i − 1/2)/M`, and no
//! smoothed weight may exceed the largest raw weight. Fewer than five tail ratios leave the weights
//! unsmoothed and k̂ infinite. Read k̂ as: below 0.7 (for S ≳ 2000; `min(1 − 1/log10 S, 0.7)` in
//! general) the estimate is reliable; above, not.

/// Smoothed weights and the tail-shape estimate of one PSIS run.
#[derive(Clone, Debug, PartialEq)]
pub struct PsisResult {
    /// Log weights normalised to sum to one (`logsumexp = 0`), in the order of the input.
    pub log_weights: Vec<f64>,
    /// The generalized-Pareto shape k̂ of the upper tail; `+∞` when the tail was too short to fit.
    pub pareto_k: f64,
    /// The number of ratios in the fitted tail.
    pub tail_length: usize,
}

/// Why PSIS could not run on a vector of log ratios.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PsisError {
    #[error("PSIS needs at least two log ratios, got {0}")]
    TooFew(usize),
    #[error("log ratio {index} is {value}: log ratios must be finite or -inf")]
    NotFinite { index: usize, value: f64 },
    #[error("every log ratio is -inf: no draw has positive weight")]
    AllZero,
    #[error("the relative efficiency must be positive and finite, got {0}")]
    RelativeEfficiency(f64),
}

/// Pareto-smoothes the importance ratios `exp(log_ratios)`. `relative_efficiency` is `ESS / S` of
/// the draws (1 for independent draws, as from a variational guide); it only sets the tail length.
pub fn psis(log_ratios: &[f64], relative_efficiency: f64) -> Result<PsisResult, PsisError> {
    let size = log_ratios.len();
    if size < 2 {
        return Err(PsisError::TooFew(size));
    }
    if !(relative_efficiency > 0.0 && relative_efficiency.is_finite()) {
        return Err(PsisError::RelativeEfficiency(relative_efficiency));
    }
    if let Some((index, &value)) = log_ratios
        .iter()
        .enumerate()
        .find(|(_, v)| v.is_nan() || **v == f64::INFINITY)
    {
        return Err(PsisError::NotFinite { index, value });
    }
    let max = log_ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return Err(PsisError::AllZero);
    }
    // Shifting by the maximum makes the largest raw weight 1, the truncation point.
    let mut log_weights: Vec<f64> = log_ratios.iter().map(|x| x - max).collect();
    let sample_size = size as f64;
    let tail_target = (sample_size / 5.0)
        .min(3.0 * (sample_size / relative_efficiency).sqrt())
        .ceil() as usize;
    let mut order: Vec<usize> = (0..size).collect();
    order.sort_by(|&a, &b| log_weights[a].total_cmp(&log_weights[b]));
    // The cutoff is the largest ratio below the tail; ratios tied with it stay in the body.
    let cutoff_position = size.saturating_sub(tail_target + 1);
    let cutoff = log_weights[order[cutoff_position]].max(f64::MIN_POSITIVE.ln());
    let tail: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&index| log_weights[index] > cutoff)
        .collect();
    let tail_length = tail.len();
    let mut pareto_k = f64::INFINITY;
    if tail_length > 4 {
        let exp_cutoff = cutoff.exp();
        let excesses: Vec<f64> = tail
            .iter()
            .map(|&index| log_weights[index].exp() - exp_cutoff)
            .collect();
        let (shape, scale) = fit_generalized_pareto(&excesses);
        pareto_k = shape;
        if shape.is_finite() {
            for (rank, &index) in tail.iter().enumerate() {
                let probability = (rank as f64 + 0.5) / tail_length as f64;
                let smoothed = generalized_pareto_quantile(probability, shape, scale);
                log_weights[index] = (smoothed + exp_cutoff).ln().min(0.0);
            }
        }
    }
    let normaliser = log_sum_exp(&log_weights);
    for w in log_weights.iter_mut() {
        *w -= normaliser;
    }
    Ok(PsisResult {
        log_weights,
        pareto_k,
        tail_length,
    })
}

/// Zhang and Stephens' (2009) estimate of the generalized Pareto shape and scale from sorted
/// positive excesses, with `loo`'s weak prior on the shape. Returns `(k, sigma)`.
///
/// The profile likelihood of `b = -k/sigma` is evaluated on a grid of `30 + sqrt(n)` points
/// placed by the quantiles of the data, and `b` is its likelihood-weighted mean.
fn fit_generalized_pareto(sorted_excesses: &[f64]) -> (f64, f64) {
    const PRIOR_SCALE_FACTOR: f64 = 3.0;
    const PRIOR_SHAPE_WEIGHT: f64 = 10.0;
    let n = sorted_excesses.len();
    let count = n as f64;
    let grid_size = 30 + (count.sqrt() as usize);
    let quartile = sorted_excesses[((count / 4.0 + 0.5) as usize).saturating_sub(1)];
    let largest = sorted_excesses[n - 1];
    let grid: Vec<f64> = (1..=grid_size)
        .map(|j| {
            let point = 1.0 - (grid_size as f64 / (j as f64 - 0.5)).sqrt();
            point / (PRIOR_SCALE_FACTOR * quartile) + 1.0 / largest
        })
        .collect();
    let profile = |b: f64| -> f64 {
        sorted_excesses
            .iter()
            .map(|x| (-b * x).ln_1p())
            .sum::<f64>()
            / count
    };
    let log_likelihoods: Vec<f64> = grid
        .iter()
        .map(|&b| {
            let k = profile(b);
            count * ((-(b / k)).ln() - k - 1.0)
        })
        .collect();
    // weight_i = 1 / Σ_j exp(L_j − L_i): normalised likelihoods without overflow.
    let mut weights: Vec<f64> = log_likelihoods
        .iter()
        .map(|li| {
            1.0 / log_likelihoods
                .iter()
                .map(|lj| (lj - li).exp())
                .sum::<f64>()
        })
        .collect();
    let negligible = 10.0 * f64::EPSILON;
    for w in weights.iter_mut() {
        // NaN weights (grid points outside the support) are dropped too.
        if w.is_nan() || *w < negligible {
            *w = 0.0;
        }
    }
    let total: f64 = weights.iter().sum();
    let b_posterior: f64 = grid.iter().zip(&weights).map(|(b, w)| b * w / total).sum();
    let k = profile(b_posterior);
    let sigma = -k / b_posterior;
    let k_with_prior = (count * k + PRIOR_SHAPE_WEIGHT * 0.5) / (count + PRIOR_SHAPE_WEIGHT);
    (k_with_prior, sigma)
}

/// The generalized Pareto quantile at `probability` in (0, 1), shape `k`, scale `sigma`.
fn generalized_pareto_quantile(probability: f64, k: f64, sigma: f64) -> f64 {
    if sigma.is_nan() || sigma <= 0.0 {
        return f64::NAN;
    }
    let quantile = if k.abs() < f64::EPSILON {
        -(-probability).ln_1p()
    } else {
        (-k * (-probability).ln_1p()).exp_m1() / k
    };
    sigma * quantile
}

/// `log Σ exp(values)`, stable for large and `-∞` entries.
pub(crate) fn log_sum_exp(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY || !max.is_finite() {
        return max;
    }
    max + values.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN: f64 = 0.6180339887498949;

    fn uniform(i: usize) -> f64 {
        let x = (i + 1) as f64 * GOLDEN;
        x - x.floor()
    }

    struct Reference {
        log_ratios: Vec<f64>,
        k: f64,
        picks: [usize; 4],
        log_weights: [f64; 4],
        weighted_index: f64,
    }

    /// The inputs and ArviZ 0.23.4 `psislw` outputs of `psis_testdata/make_psis_reference.py`
    /// (its printout is `psis_testdata/psis_arviz.txt`).
    fn references() -> Vec<Reference> {
        let build = |size: usize, formula: &dyn Fn(usize) -> f64| -> Vec<f64> {
            (0..size).map(formula).collect()
        };
        vec![
            Reference {
                log_ratios: build(1000, &|i| -0.3 * uniform(i).ln()),
                k: 0.29672634063255116,
                picks: [0, 1, 2, 609],
                log_weights: [
                    -7.117776111509369,
                    -6.829049016473607,
                    -7.214828250856603,
                    -5.096686446265325,
                ],
                weighted_index: 499.6422315378491,
            },
            Reference {
                log_ratios: build(1000, &|i| -uniform(i).ln()),
                k: 0.8919384866899642,
                picks: [0, 1, 2, 609],
                log_weights: [
                    -8.456497568455637,
                    -7.494073918336431,
                    -8.780004699613084,
                    -1.7667260577730701,
                ],
                weighted_index: 509.0724002813323,
            },
            Reference {
                log_ratios: build(100, &|i| 2.0 * (i as f64).sin() + 0.1 * i as f64 / 100.0),
                k: -0.5359500265237194,
                picks: [0, 1, 2, 77],
                log_weights: [
                    -5.491930692769836,
                    -3.8079887231540437,
                    -3.689086889423607,
                    -3.415890375608374,
                ],
                weighted_index: 49.573971125873314,
            },
            Reference {
                log_ratios: build(4000, &|i| {
                    -0.6 * uniform(i).ln() + 0.5 * (3.0 * i as f64).sin()
                }),
                k: 0.5301298860769252,
                picks: [0, 1, 2, 1596],
                log_weights: [
                    -8.947564535919359,
                    -8.299550341817902,
                    -9.28137656371329,
                    -4.22233422220695,
                ],
                weighted_index: 1994.0777237097982,
            },
            Reference {
                log_ratios: build(20, &|i| (1.7 * i as f64).cos()),
                k: f64::INFINITY,
                picks: [0, 1, 2, 0],
                log_weights: [
                    -2.2848133506563038,
                    -3.4136578449518282,
                    -4.251611543235764,
                    -2.2848133506563038,
                ],
                weighted_index: 9.461279802093918,
            },
        ]
    }

    #[test]
    fn agrees_with_arviz_psislw() {
        for (case, reference) in references().into_iter().enumerate() {
            let result = psis(&reference.log_ratios, 1.0).unwrap();
            if reference.k.is_finite() {
                assert!(
                    (result.pareto_k - reference.k).abs() < 1e-9,
                    "case {case}: k {} vs {}",
                    result.pareto_k,
                    reference.k
                );
            } else {
                assert_eq!(result.pareto_k, f64::INFINITY, "case {case}");
            }
            for (pick, expected) in reference.picks.iter().zip(reference.log_weights) {
                let got = result.log_weights[*pick];
                assert!(
                    (got - expected).abs() < 1e-9,
                    "case {case}, index {pick}: {got} vs {expected}"
                );
            }
            let weighted_index: f64 = result
                .log_weights
                .iter()
                .enumerate()
                .map(|(i, w)| i as f64 * w.exp())
                .sum();
            assert!(
                (weighted_index - reference.weighted_index).abs() < 1e-7,
                "case {case}: {weighted_index} vs {}",
                reference.weighted_index
            );
        }
    }

    #[test]
    fn weights_are_normalised_and_keep_the_order_of_the_ratios() {
        let log_ratios: Vec<f64> = (0..500).map(|i| -1.2 * uniform(i).ln()).collect();
        let result = psis(&log_ratios, 1.0).unwrap();
        assert!(log_sum_exp(&result.log_weights).abs() < 1e-12);
        let mut order: Vec<usize> = (0..log_ratios.len()).collect();
        order.sort_by(|&a, &b| log_ratios[a].total_cmp(&log_ratios[b]));
        for pair in order.windows(2) {
            assert!(result.log_weights[pair[0]] <= result.log_weights[pair[1]] + 1e-12);
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(psis(&[1.0], 1.0), Err(PsisError::TooFew(1)));
        assert!(matches!(
            psis(&[1.0, f64::NAN, 0.0], 1.0),
            Err(PsisError::NotFinite { index: 1, .. })
        ));
        assert_eq!(
            psis(&[f64::NEG_INFINITY, f64::NEG_INFINITY], 1.0),
            Err(PsisError::AllZero)
        );
        assert!(matches!(
            psis(&[0.0, 1.0], 0.0),
            Err(PsisError::RelativeEfficiency(_))
        ));
        // -inf ratios are zero weights, not errors.
        let result = psis(&[0.0, f64::NEG_INFINITY, 1.0], 1.0).unwrap();
        assert_eq!(result.log_weights[1], f64::NEG_INFINITY);
    }
}
