//! One pass over the data: responsibilities and sufficient statistics, chunk by chunk.
//!
//! The rows are cut into fixed chunks of [`CHUNK_ROWS`]; each chunk fills a `rows x K` buffer
//! with log-weights plus every block's log-densities, normalises it row by row into
//! responsibilities (adding the row's log-sum-exp to the log-likelihood), and accumulates every
//! block's sufficient statistics from it while the chunk is still in cache. Chunks run on rayon
//! and their partial sums are added in chunk order, so the result does not depend on the number
//! of threads. The row normalisation is specialised for small `K` and uses an inlined `exp`
//! (within 2 ulp of the library's, tested), the largest cost of a pass otherwise.

use rayon::prelude::*;

use super::families::{BlockParams, PreparedBlock};
use super::{EmError, MixtureProblem};

/// Rows per chunk: the chunk's values and its `rows x K` buffer stay in L2 cache.
pub const CHUNK_ROWS: usize = 4096;

/// A validated problem.
pub(crate) struct Problem<'a> {
    pub n: usize,
    pub components: usize,
    pub blocks: Vec<PreparedBlock<'a>>,
    /// The sum over rows and blocks of the log-density terms that no component changes
    /// (−ln x! for Poisson); added to every total log-likelihood.
    pub row_constant_total: f64,
}

/// Mixture weights and every block's parameters, for all components.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Parameters {
    pub weights: Vec<f64>,
    pub blocks: Vec<BlockParams>,
}

impl Parameters {
    /// The same parameters with component `order[j]` moved to position `j`.
    pub fn permuted(&self, order: &[usize]) -> Parameters {
        Parameters {
            weights: order.iter().map(|&c| self.weights[c]).collect(),
            blocks: self.blocks.iter().map(|b| b.permuted(order)).collect(),
        }
    }
}

/// Where a pass takes its responsibilities from.
#[derive(Clone, Copy)]
pub(crate) enum ResponsibilityMode<'l> {
    /// The posterior under the current parameters (the E-step).
    Posterior,
    /// One-hot from k-means labels.
    Hard(&'l [u32]),
    /// `1/K` everywhere: every component sees the whole data set.
    Uniform,
}

/// What a pass returns.
pub(crate) struct Sums {
    /// Σ over rows of the log-sum-exp (Posterior mode only; 0 otherwise), without the row
    /// constants: the penalised log-likelihood.
    pub log_likelihood: f64,
    /// The same without the penalty factors: the plain log-likelihood.
    pub plain_log_likelihood: f64,
    /// Total responsibility of each component.
    pub masses: Vec<f64>,
    /// Every block's sufficient statistics, flat.
    pub statistics: Vec<f64>,
    /// `n x K` responsibilities, when kept.
    pub responsibilities: Option<Vec<f64>>,
}

impl<'a> Problem<'a> {
    /// Checks the problem.
    pub fn prepare(problem: &'a MixtureProblem) -> Result<Problem<'a>, EmError> {
        let k = problem.components;
        if k == 0 {
            return Err(EmError::NoComponents);
        }
        if problem.n == 0 {
            return Err(EmError::NoData);
        }
        if k > problem.n {
            return Err(EmError::TooManyComponents {
                components: k,
                n: problem.n,
            });
        }
        if problem.blocks.is_empty() {
            return Err(EmError::NoBlocks);
        }
        let blocks = problem
            .blocks
            .iter()
            .map(|block| PreparedBlock::prepare(block, problem.n))
            .collect::<Result<Vec<_>, _>>()?;
        let row_constant_total = blocks.iter().map(|b| b.row_constant_total).sum();
        Ok(Problem {
            n: problem.n,
            components: k,
            blocks,
            row_constant_total,
        })
    }

    /// Where each block's statistics start in the flat vector for `k` components, and the
    /// total length.
    fn statistics_layout(&self, k: usize) -> (Vec<usize>, usize) {
        let mut offsets = Vec::with_capacity(self.blocks.len());
        let mut len = 0;
        for block in &self.blocks {
            offsets.push(len);
            len += block.statistics_len(k);
        }
        (offsets, len)
    }

    /// The closed-form M-step from a pass's sums; dead components keep `previous`'s values.
    pub fn m_step(&self, previous: &Parameters, sums: &Sums, regularisation: f64) -> Parameters {
        let total: f64 = sums.masses.iter().sum();
        let weights = if total > 0.0 {
            sums.masses.iter().map(|m| m / total).collect()
        } else {
            previous.weights.clone()
        };
        let k = previous.weights.len();
        let (offsets, _) = self.statistics_layout(k);
        let blocks = previous
            .blocks
            .iter()
            .zip(&self.blocks)
            .zip(offsets)
            .map(|((params, block), offset)| {
                let statistics = &sums.statistics[offset..offset + block.statistics_len(k)];
                params.m_step(statistics, &sums.masses, regularisation)
            })
            .collect();
        Parameters { weights, blocks }
    }
}

/// One pass: responsibilities under `mode`, and (if `accumulate`) the sufficient statistics.
/// `penalty` is λ for the penalised objective, 0 for the plain likelihood. The number of
/// components is that of `parameters` (the whole-data estimates use one).
pub(crate) fn run(
    problem: &Problem<'_>,
    parameters: &Parameters,
    penalty: f64,
    mode: ResponsibilityMode<'_>,
    accumulate: bool,
) -> Sums {
    run_inner(problem, parameters, penalty, mode, accumulate, false)
}

/// A plain-likelihood E-step that keeps the responsibilities.
pub(crate) fn run_keeping(problem: &Problem<'_>, parameters: &Parameters) -> Sums {
    run_inner(
        problem,
        parameters,
        0.0,
        ResponsibilityMode::Posterior,
        false,
        true,
    )
}

fn run_inner(
    problem: &Problem<'_>,
    parameters: &Parameters,
    penalty: f64,
    mode: ResponsibilityMode<'_>,
    accumulate: bool,
    keep: bool,
) -> Sums {
    let k = parameters.weights.len();
    let n = problem.n;
    let kernels: Vec<_> = parameters
        .blocks
        .iter()
        .map(|b| b.kernel(penalty))
        .collect();
    let log_weights: Vec<f64> = parameters.weights.iter().map(|w| w.ln()).collect();
    // e^{−q} − 1 per component, q its total log penalty factor (see `normalise_rows`).
    let unpenalise: Vec<f64> = (0..k)
        .map(|c| {
            (-kernels
                .iter()
                .map(|kernel| kernel.penalties[c])
                .sum::<f64>())
            .exp_m1()
        })
        .collect();
    let (statistics_offsets, statistics_len) = problem.statistics_layout(k);
    let chunk_count = n.div_ceil(CHUNK_ROWS);
    // Penalised and plain log-likelihood, K masses, the statistics.
    let slots = 2 + k + if accumulate { statistics_len } else { 0 };

    let partials: Vec<(Vec<f64>, Option<Vec<f64>>)> = (0..chunk_count)
        .into_par_iter()
        .map_init(
            || vec![0.0; CHUNK_ROWS * k],
            |buffer, chunk| {
                let start = chunk * CHUNK_ROWS;
                let rows = CHUNK_ROWS.min(n - start);
                let buffer = &mut buffer[..rows * k];
                let mut partial = vec![0.0; slots];
                match mode {
                    ResponsibilityMode::Posterior => {
                        for row in buffer.chunks_exact_mut(k) {
                            row.copy_from_slice(&log_weights);
                        }
                        for (block, kernel) in problem.blocks.iter().zip(&kernels) {
                            kernel.add_log_densities(block, start, rows, buffer);
                        }
                        (partial[0], partial[1]) = normalise_rows(buffer, k, &unpenalise);
                    }
                    ResponsibilityMode::Hard(labels) => {
                        buffer.fill(0.0);
                        for (row, &label) in buffer.chunks_exact_mut(k).zip(&labels[start..]) {
                            row[label as usize] = 1.0;
                        }
                    }
                    ResponsibilityMode::Uniform => buffer.fill(1.0 / k as f64),
                }
                if accumulate {
                    let (masses, statistics) = partial[2..].split_at_mut(k);
                    // One component at a time, so that the sum stays in a register.
                    for (c, mass) in masses.iter_mut().enumerate() {
                        *mass += buffer.chunks_exact(k).map(|row| row[c]).sum::<f64>();
                    }
                    for ((block, kernel), &offset) in
                        problem.blocks.iter().zip(&kernels).zip(&statistics_offsets)
                    {
                        let len = block.statistics_len(k);
                        kernel.accumulate(
                            block,
                            start,
                            rows,
                            buffer,
                            &mut statistics[offset..offset + len],
                        );
                    }
                }
                (partial, keep.then(|| buffer.to_vec()))
            },
        )
        .collect();

    let mut totals = vec![0.0; slots];
    let mut responsibilities = keep.then(|| Vec::with_capacity(n * k));
    for (partial, kept) in partials {
        for (total, value) in totals.iter_mut().zip(&partial) {
            *total += value;
        }
        if let (Some(all), Some(kept)) = (responsibilities.as_mut(), kept) {
            all.extend_from_slice(&kept);
        }
    }
    let masses = totals[2..2 + k].to_vec();
    let statistics = if accumulate {
        totals[2 + k..].to_vec()
    } else {
        Vec::new()
    };
    Sums {
        log_likelihood: totals[0],
        plain_log_likelihood: totals[1],
        masses,
        statistics,
        responsibilities,
    }
}

/// Turns each row of penalised log joint densities into responsibilities; returns the sums of
/// the rows' log-sum-exp, penalised and plain. With `rᵢₖ` the penalised responsibilities and
/// `qₖ` the log penalty factors, a row's plain value is its penalised one plus
/// `ln Σₖ rᵢₖ e^{−qₖ} = ln_1p(Σₖ rᵢₖ (e^{−qₖ} − 1))`: exact, and one `ln_1p` per row. A row with
/// no finite entry makes the totals `-inf` and gets zero responsibilities (the caller reports
/// the non-finite objective).
fn normalise_rows(buffer: &mut [f64], k: usize, unpenalise: &[f64]) -> (f64, f64) {
    match k {
        1 => normalise_rows_fixed::<1>(buffer, unpenalise),
        2 => normalise_rows_fixed::<2>(buffer, unpenalise),
        3 => normalise_rows_fixed::<3>(buffer, unpenalise),
        4 => normalise_rows_fixed::<4>(buffer, unpenalise),
        5 => normalise_rows_fixed::<5>(buffer, unpenalise),
        6 => normalise_rows_fixed::<6>(buffer, unpenalise),
        8 => normalise_rows_fixed::<8>(buffer, unpenalise),
        _ => normalise_rows_any(buffer, k, unpenalise),
    }
}

/// [`normalise_rows`] with the row length known at compile time, so a row stays in registers.
fn normalise_rows_fixed<const K: usize>(buffer: &mut [f64], unpenalise: &[f64]) -> (f64, f64) {
    let penalised = unpenalise.iter().any(|&u| u != 0.0);
    let unpenalise: [f64; K] = std::array::from_fn(|c| unpenalise[c]);
    let mut total = 0.0;
    let mut plain_correction = 0.0;
    for row in buffer.chunks_exact_mut(K) {
        let row: &mut [f64; K] = row.try_into().unwrap_or_else(|_| unreachable!());
        let (log_sum, correction) = normalise_row(row, &unpenalise, penalised);
        total += log_sum;
        plain_correction += correction;
    }
    (total, total + plain_correction)
}

fn normalise_rows_any(buffer: &mut [f64], k: usize, unpenalise: &[f64]) -> (f64, f64) {
    let penalised = unpenalise.iter().any(|&u| u != 0.0);
    let mut total = 0.0;
    let mut plain_correction = 0.0;
    for row in buffer.chunks_exact_mut(k) {
        let (log_sum, correction) = normalise_row(row, unpenalise, penalised);
        total += log_sum;
        plain_correction += correction;
    }
    (total, total + plain_correction)
}

/// One row: responsibilities in place; returns its log-sum-exp and the plain correction.
#[inline(always)]
fn normalise_row(row: &mut [f64], unpenalise: &[f64], penalised: bool) -> (f64, f64) {
    let mut max = f64::NEG_INFINITY;
    for &value in row.iter() {
        // `>` and not `f64::max`: a NaN must not be skipped silently.
        if value > max || value.is_nan() {
            max = value;
        }
    }
    if !max.is_finite() {
        row.fill(0.0);
        return (if max.is_nan() { f64::NAN } else { max }, 0.0);
    }
    let mut sum = 0.0;
    for value in row.iter_mut() {
        *value = exp_non_positive(*value - max);
        sum += *value;
    }
    let inverse = 1.0 / sum;
    for value in row.iter_mut() {
        *value *= inverse;
    }
    let correction = if penalised {
        small_ln_1p(row.iter().zip(unpenalise).map(|(r, u)| r * u).sum())
    } else {
        0.0
    };
    (max + sum.ln(), correction)
}

/// `eˣ` for `x ≤ 0` (the only arguments a log-sum-exp produces), inlined: Cody–Waite reduction
/// `x = k ln 2 + r` with `|r| ≤ ln 2 / 2` and the Taylor polynomial of degree 13 (truncation below
/// 5e-18), then the exponent set from `k`. Within 2 ulp of the library `exp` (tested); results
/// under 1e-307 (`x < −708`) are flushed to 0, which changes no responsibility that matters.
#[inline(always)]
fn exp_non_positive(x: f64) -> f64 {
    // ln 2 split so that k · LN2_HIGH is exact for |k| < 2¹¹ (fdlibm's constants).
    const LN2_HIGH: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
    const LN2_LOW: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
    // 1.5 · 2⁵²: adding it rounds to an integer.
    const ROUNDER: f64 = 6_755_399_441_055_744.0;
    if x < -708.0 {
        return 0.0;
    }
    let k = (x * std::f64::consts::LOG2_E + ROUNDER) - ROUNDER;
    let r = (x - k * LN2_HIGH) - k * LN2_LOW;
    let mut polynomial = 1.0 / 6_227_020_800.0;
    for factorial in [
        479_001_600.0,
        39_916_800.0,
        3_628_800.0,
        362_880.0,
        40_320.0,
        5_040.0,
        720.0,
        120.0,
        24.0,
        6.0,
        2.0,
        1.0,
        1.0,
    ] {
        polynomial = polynomial * r + 1.0 / factorial;
    }
    let scale = f64::from_bits(((k as i64 + 1023) as u64) << 52);
    polynomial * scale
}

/// `ln(1 + x)`; the argument is almost always of the order of λ, where three terms of the
/// series are exact to rounding and much cheaper than the library call.
fn small_ln_1p(x: f64) -> f64 {
    if x.abs() < 1e-5 {
        x * (1.0 - x * (0.5 - x * (1.0 / 3.0)))
    } else {
        x.ln_1p()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_non_positive_is_within_two_ulp_of_the_library() {
        let mut worst: f64 = 0.0;
        for i in 0..200_000 {
            let x = -708.0 * (i as f64 / 200_000.0).powi(3);
            let expected = x.exp();
            let relative = (exp_non_positive(x) - expected).abs() / expected;
            worst = worst.max(relative);
        }
        assert!(
            worst <= 2.0 * f64::EPSILON,
            "worst relative error {worst:e}"
        );
        assert_eq!(exp_non_positive(0.0), 1.0);
        assert_eq!(exp_non_positive(-709.0), 0.0);
        assert_eq!(exp_non_positive(f64::NEG_INFINITY), 0.0);
        assert!(exp_non_positive(f64::NAN).is_nan());
    }

    #[test]
    fn rows_normalise_to_one_and_report_their_log_sum_exp() {
        for k in 1..=9 {
            let mut buffer: Vec<f64> = (0..4 * k).map(|i| -((i * 7 % 11) as f64) * 3.0).collect();
            let original = buffer.clone();
            let unpenalise = vec![0.0; k];
            let (total, plain) = normalise_rows(&mut buffer, k, &unpenalise);
            let mut expected = 0.0;
            for (row, values) in buffer.chunks_exact(k).zip(original.chunks_exact(k)) {
                assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-15);
                expected += values.iter().map(|v| v.exp()).sum::<f64>().ln();
            }
            assert!((total - expected).abs() < 1e-12 && total == plain);
        }
    }
}
