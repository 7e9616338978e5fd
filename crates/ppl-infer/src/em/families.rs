//! The component families: checked data per block, the parameters of all `K` components, the
//! E-step kernels (log-densities added into a `rows x K` buffer), the sufficient statistics and
//! the closed-form M-steps.
//!
//! Normal and MvNormal statistics are accumulated around the previous means (a shift), so the
//! covariance `Σ r (x−μ)(x−μ)ᵀ = Σ r (x−s)(x−s)ᵀ − N (μ−s)(μ−s)ᵀ` loses no digits to
//! cancellation when the data sit far from the origin. The multivariate normal kernels are
//! specialised for dimensions 1 to 4 through const generics and read each row once per component
//! from a cache-resident chunk.

use std::cell::RefCell;

use nalgebra::DMatrix;

use super::{BlockEstimates, ComponentFamily, DEAD_COMPONENT_MASS, EmError, EmissionBlock};

const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// The observed values of one block, checked, in the form the kernels read.
pub(crate) enum BlockData<'a> {
    Normal(&'a [f64]),
    MvNormal {
        values: &'a [f64],
        dim: usize,
    },
    Poisson(&'a [f64]),
    Bernoulli {
        values: &'a [f64],
        dim: usize,
    },
    /// Zero-based level codes.
    Categorical {
        codes: Vec<u32>,
        levels: usize,
    },
    Exponential(&'a [f64]),
}

/// One emission block ready for the passes.
pub(crate) struct PreparedBlock<'a> {
    pub data: BlockData<'a>,
    /// Σ over rows of the log-density terms no component changes (−ln x! for Poisson).
    pub row_constant_total: f64,
}

impl<'a> PreparedBlock<'a> {
    /// Checks the shape and the support of the values.
    pub fn prepare(block: &'a EmissionBlock, n: usize) -> Result<PreparedBlock<'a>, EmError> {
        let family = block.family;
        let single = !matches!(
            family,
            ComponentFamily::MvNormal | ComponentFamily::Bernoulli
        );
        if single && block.dim != 1 {
            return Err(EmError::Dimension {
                block: block.name.clone(),
                family: family.name(),
                requirement: "dim 1 (use one block per variable)",
                found: block.dim,
            });
        }
        if block.dim == 0 {
            return Err(EmError::Dimension {
                block: block.name.clone(),
                family: family.name(),
                requirement: "dim at least 1",
                found: 0,
            });
        }
        let expected = n.saturating_mul(block.dim);
        if block.values.len() != expected {
            return Err(EmError::ValueCount {
                block: block.name.clone(),
                n,
                dim: block.dim,
                expected,
                found: block.values.len(),
            });
        }
        let invalid = |index: usize, value: f64, expected: &'static str| EmError::InvalidValue {
            block: block.name.clone(),
            row: index / block.dim,
            value,
            expected,
        };
        let check = |accept: &dyn Fn(f64) -> bool, expected: &'static str| match block
            .values
            .iter()
            .position(|&x| !accept(x))
        {
            Some(index) => Err(invalid(index, block.values[index], expected)),
            None => Ok(()),
        };
        let values = block.values.as_slice();
        let mut row_constant_total = 0.0;
        let data = match family {
            ComponentFamily::Normal => {
                check(&|x| x.is_finite(), "a finite number")?;
                BlockData::Normal(values)
            }
            ComponentFamily::MvNormal => {
                check(&|x| x.is_finite(), "a finite number")?;
                BlockData::MvNormal {
                    values,
                    dim: block.dim,
                }
            }
            ComponentFamily::Poisson => {
                check(
                    &|x| x.is_finite() && x >= 0.0 && x.fract() == 0.0,
                    "a non-negative integer count",
                )?;
                row_constant_total = -ln_factorial_sum(values);
                BlockData::Poisson(values)
            }
            ComponentFamily::Bernoulli => {
                check(&|x| x == 0.0 || x == 1.0, "0 or 1")?;
                BlockData::Bernoulli {
                    values,
                    dim: block.dim,
                }
            }
            ComponentFamily::Categorical { levels } => {
                if levels == 0 || levels > u32::MAX as usize {
                    return Err(EmError::NoLevels {
                        block: block.name.clone(),
                    });
                }
                let top = levels as f64;
                check(
                    &|x| x.fract() == 0.0 && (1.0..=top).contains(&x),
                    "a level between 1 and the number of levels",
                )?;
                BlockData::Categorical {
                    codes: values.iter().map(|&x| x as u32 - 1).collect(),
                    levels,
                }
            }
            ComponentFamily::Exponential => {
                check(&|x| x.is_finite() && x >= 0.0, "a finite number >= 0")?;
                BlockData::Exponential(values)
            }
        };
        Ok(PreparedBlock {
            data,
            row_constant_total,
        })
    }

    /// Length of this block's slice of the flat statistics vector.
    pub fn statistics_len(&self, k: usize) -> usize {
        k * match &self.data {
            BlockData::Normal(_) => 2,
            BlockData::MvNormal { dim, .. } => dim + dim * dim,
            BlockData::Poisson(_) | BlockData::Exponential(_) => 1,
            BlockData::Bernoulli { dim, .. } => *dim,
            BlockData::Categorical { levels, .. } => *levels,
        }
    }

    /// Free parameters of this block over `k` components.
    pub fn parameter_count(&self, k: usize) -> usize {
        k * match &self.data {
            BlockData::Normal(_) => 2,
            BlockData::MvNormal { dim, .. } => dim + dim * (dim + 1) / 2,
            BlockData::Poisson(_) | BlockData::Exponential(_) => 1,
            BlockData::Bernoulli { dim, .. } => *dim,
            BlockData::Categorical { levels, .. } => levels - 1,
        }
    }

    /// Valid placeholder parameters (standard values) that the first M-step replaces.
    pub fn neutral_parameters(&self, k: usize) -> BlockParams {
        match &self.data {
            BlockData::Normal(_) => BlockParams::Normal {
                means: vec![0.0; k],
                variances: vec![1.0; k],
            },
            BlockData::MvNormal { dim, .. } => {
                let d = *dim;
                let identity: Vec<f64> = (0..d * d)
                    .map(|i| if i / d == i % d { 1.0 } else { 0.0 })
                    .collect();
                BlockParams::MvNormal {
                    dim: d,
                    means: vec![0.0; k * d],
                    covariances: identity.repeat(k),
                    inverse_cholesky: identity.repeat(k),
                    log_determinants: vec![0.0; k],
                }
            }
            BlockData::Poisson(_) => BlockParams::Poisson {
                rates: vec![1.0; k],
            },
            BlockData::Bernoulli { dim, .. } => BlockParams::Bernoulli {
                dim: *dim,
                probabilities: vec![0.5; k * dim],
            },
            BlockData::Categorical { levels, .. } => BlockParams::Categorical {
                levels: *levels,
                probabilities: vec![1.0 / *levels as f64; k * levels],
            },
            BlockData::Exponential(_) => BlockParams::Exponential {
                rates: vec![1.0; k],
            },
        }
    }
}

/// The parameters of one block for all `K` components (component-major flat vectors).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum BlockParams {
    Normal {
        means: Vec<f64>,
        variances: Vec<f64>,
    },
    MvNormal {
        dim: usize,
        means: Vec<f64>,
        covariances: Vec<f64>,
        /// `L⁻¹` with `Σ = L Lᵀ`, row-major lower triangular, per component.
        inverse_cholesky: Vec<f64>,
        log_determinants: Vec<f64>,
    },
    Poisson {
        rates: Vec<f64>,
    },
    Bernoulli {
        dim: usize,
        probabilities: Vec<f64>,
    },
    Categorical {
        levels: usize,
        probabilities: Vec<f64>,
    },
    Exponential {
        rates: Vec<f64>,
    },
}

/// Per-pass constants of one block's E-step (log-normalisers with the penalty folded in).
pub(crate) struct Kernel<'p> {
    params: &'p BlockParams,
    /// One additive constant per component.
    constants: Vec<f64>,
    /// The log penalty factor of each component (included in `constants`; ≤ 0).
    pub penalties: Vec<f64>,
    /// Family-specific precomputed values (half precisions, log-probabilities, log-rates).
    auxiliary: Vec<f64>,
}

impl BlockParams {
    /// Precomputes the E-step constants; `penalty` is λ for the penalised objective, 0 for the
    /// plain likelihood.
    pub fn kernel(&self, penalty: f64) -> Kernel<'_> {
        let (constants, auxiliary) = match self {
            BlockParams::Normal { variances, .. } => (
                variances
                    .iter()
                    .map(|v| -0.5 * (LN_2PI + v.ln()) - 0.5 * penalty / v)
                    .collect(),
                variances.iter().map(|v| 0.5 / v).collect(),
            ),
            BlockParams::MvNormal {
                dim,
                inverse_cholesky,
                log_determinants,
                ..
            } => {
                let d = *dim;
                let constants = log_determinants
                    .iter()
                    .zip(inverse_cholesky.chunks_exact(d * d))
                    .map(|(log_det, inverse)| {
                        let trace_precision: f64 = inverse.iter().map(|x| x * x).sum();
                        -0.5 * (d as f64 * LN_2PI + log_det) - 0.5 * penalty * trace_precision
                    })
                    .collect();
                (constants, Vec::new())
            }
            BlockParams::Poisson { rates } => (
                rates.iter().map(|r| -r).collect(),
                rates.iter().map(|r| r.ln()).collect(),
            ),
            BlockParams::Bernoulli { probabilities, .. } => (
                Vec::new(),
                probabilities
                    .iter()
                    .flat_map(|p| [p.ln(), (1.0 - p).ln()])
                    .collect(),
            ),
            BlockParams::Categorical { probabilities, .. } => {
                (Vec::new(), probabilities.iter().map(|p| p.ln()).collect())
            }
            BlockParams::Exponential { rates } => (
                rates.iter().map(|r| r.ln() - penalty * r).collect(),
                rates.clone(),
            ),
        };
        let penalties = match self {
            BlockParams::Normal { variances, .. } => {
                variances.iter().map(|v| -0.5 * penalty / v).collect()
            }
            BlockParams::MvNormal {
                dim,
                inverse_cholesky,
                ..
            } => inverse_cholesky
                .chunks_exact(dim * dim)
                .map(|inverse| -0.5 * penalty * inverse.iter().map(|x| x * x).sum::<f64>())
                .collect(),
            BlockParams::Exponential { rates } => rates.iter().map(|r| -penalty * r).collect(),
            _ => vec![0.0; component_count(self)],
        };
        Kernel {
            params: self,
            constants,
            penalties,
            auxiliary,
        }
    }

    /// The closed-form M-step of this block. Components with mass at most
    /// [`DEAD_COMPONENT_MASS`], or whose update is not usable, keep their previous values.
    pub fn m_step(&self, statistics: &[f64], masses: &[f64], regularisation: f64) -> BlockParams {
        let alive = |c: usize| masses[c] > DEAD_COMPONENT_MASS;
        match self {
            BlockParams::Normal { means, variances } => {
                let mut means = means.clone();
                let mut variances = variances.clone();
                for (c, mass) in masses.iter().copied().enumerate() {
                    if !alive(c) {
                        continue;
                    }
                    let shift_to_mean = statistics[2 * c] / mass;
                    let scatter =
                        (statistics[2 * c + 1] - mass * shift_to_mean * shift_to_mean).max(0.0);
                    let variance = scatter / mass + regularisation;
                    let mean = means[c] + shift_to_mean;
                    if variance > 0.0 && variance.is_finite() && mean.is_finite() {
                        means[c] = mean;
                        variances[c] = variance;
                    }
                }
                BlockParams::Normal { means, variances }
            }
            BlockParams::MvNormal {
                dim,
                means,
                covariances,
                inverse_cholesky,
                log_determinants,
            } => {
                let d = *dim;
                let mut means = means.clone();
                let mut covariances = covariances.clone();
                let mut inverse_cholesky = inverse_cholesky.clone();
                let mut log_determinants = log_determinants.clone();
                let stride = d + d * d;
                for (c, mass) in masses.iter().copied().enumerate() {
                    if !alive(c) {
                        continue;
                    }
                    let sums = &statistics[c * stride..(c + 1) * stride];
                    let (first, second) = sums.split_at(d);
                    let shift_to_mean: Vec<f64> = first.iter().map(|s| s / mass).collect();
                    let mut covariance = vec![0.0; d * d];
                    for a in 0..d {
                        for b in a..d {
                            let scatter =
                                second[a * d + b] - mass * shift_to_mean[a] * shift_to_mean[b];
                            let mut value = scatter / mass;
                            if a == b {
                                value = value.max(0.0) + regularisation;
                            }
                            covariance[a * d + b] = value;
                            covariance[b * d + a] = value;
                        }
                    }
                    let mean: Vec<f64> = (0..d)
                        .map(|j| means[c * d + j] + shift_to_mean[j])
                        .collect();
                    if !mean.iter().all(|x| x.is_finite()) {
                        continue;
                    }
                    if let Some((inverse, log_det)) = factorise(&covariance, d) {
                        means[c * d..(c + 1) * d].copy_from_slice(&mean);
                        covariances[c * d * d..(c + 1) * d * d].copy_from_slice(&covariance);
                        inverse_cholesky[c * d * d..(c + 1) * d * d].copy_from_slice(&inverse);
                        log_determinants[c] = log_det;
                    }
                }
                BlockParams::MvNormal {
                    dim: d,
                    means,
                    covariances,
                    inverse_cholesky,
                    log_determinants,
                }
            }
            BlockParams::Poisson { rates } => {
                let mut rates = rates.clone();
                for (c, mass) in masses.iter().copied().enumerate() {
                    let rate = statistics[c] / mass;
                    if alive(c) && rate.is_finite() && rate >= 0.0 {
                        rates[c] = rate;
                    }
                }
                BlockParams::Poisson { rates }
            }
            BlockParams::Bernoulli { dim, probabilities } => {
                let d = *dim;
                let mut probabilities = probabilities.clone();
                for (c, mass) in masses.iter().copied().enumerate() {
                    if !alive(c) {
                        continue;
                    }
                    for j in 0..d {
                        let p = statistics[c * d + j] / mass;
                        if p.is_finite() {
                            probabilities[c * d + j] = p.clamp(0.0, 1.0);
                        }
                    }
                }
                BlockParams::Bernoulli {
                    dim: d,
                    probabilities,
                }
            }
            BlockParams::Categorical {
                levels,
                probabilities,
            } => {
                let l = *levels;
                let mut probabilities = probabilities.clone();
                for c in 0..masses.len() {
                    let counts = &statistics[c * l..(c + 1) * l];
                    let total: f64 = counts.iter().sum();
                    if !(alive(c) && total > 0.0 && total.is_finite()) {
                        continue;
                    }
                    for (p, count) in probabilities[c * l..(c + 1) * l].iter_mut().zip(counts) {
                        *p = count / total;
                    }
                }
                BlockParams::Categorical {
                    levels: l,
                    probabilities,
                }
            }
            BlockParams::Exponential { rates } => {
                let mut rates = rates.clone();
                for (c, mass) in masses.iter().copied().enumerate() {
                    let mean = statistics[c] / mass + regularisation;
                    if alive(c) && mean > 0.0 && mean.is_finite() {
                        rates[c] = 1.0 / mean;
                    }
                }
                BlockParams::Exponential { rates }
            }
        }
    }

    /// The same parameters with component `order[j]` moved to position `j`.
    pub fn permuted(&self, order: &[usize]) -> BlockParams {
        fn pick(values: &[f64], order: &[usize], width: usize) -> Vec<f64> {
            order
                .iter()
                .flat_map(|&c| values[c * width..(c + 1) * width].iter().copied())
                .collect()
        }
        match self {
            BlockParams::Normal { means, variances } => BlockParams::Normal {
                means: pick(means, order, 1),
                variances: pick(variances, order, 1),
            },
            BlockParams::MvNormal {
                dim,
                means,
                covariances,
                inverse_cholesky,
                log_determinants,
            } => BlockParams::MvNormal {
                dim: *dim,
                means: pick(means, order, *dim),
                covariances: pick(covariances, order, dim * dim),
                inverse_cholesky: pick(inverse_cholesky, order, dim * dim),
                log_determinants: pick(log_determinants, order, 1),
            },
            BlockParams::Poisson { rates } => BlockParams::Poisson {
                rates: pick(rates, order, 1),
            },
            BlockParams::Bernoulli { dim, probabilities } => BlockParams::Bernoulli {
                dim: *dim,
                probabilities: pick(probabilities, order, *dim),
            },
            BlockParams::Categorical {
                levels,
                probabilities,
            } => BlockParams::Categorical {
                levels: *levels,
                probabilities: pick(probabilities, order, *levels),
            },
            BlockParams::Exponential { rates } => BlockParams::Exponential {
                rates: pick(rates, order, 1),
            },
        }
    }

    /// The leading parameter of component `c`, by which components are sorted.
    pub fn sort_key(&self, c: usize) -> f64 {
        match self {
            BlockParams::Normal { means, .. } => means[c],
            BlockParams::MvNormal { dim, means, .. } => means[c * dim],
            BlockParams::Poisson { rates } | BlockParams::Exponential { rates } => rates[c],
            BlockParams::Bernoulli { dim, probabilities } => probabilities[c * dim],
            BlockParams::Categorical {
                levels,
                probabilities,
            } => probabilities[c * levels],
        }
    }

    /// The public form of the estimates.
    pub fn estimates(&self) -> BlockEstimates {
        fn rows(values: &[f64], width: usize) -> Vec<Vec<f64>> {
            values.chunks_exact(width).map(<[f64]>::to_vec).collect()
        }
        match self {
            BlockParams::Normal { means, variances } => BlockEstimates::Normal {
                means: means.clone(),
                sds: variances.iter().map(|v| v.sqrt()).collect(),
            },
            BlockParams::MvNormal {
                dim,
                means,
                covariances,
                ..
            } => BlockEstimates::MvNormal {
                means: rows(means, *dim),
                covariances: rows(covariances, dim * dim),
            },
            BlockParams::Poisson { rates } => BlockEstimates::Poisson {
                rates: rates.clone(),
            },
            BlockParams::Bernoulli { dim, probabilities } => BlockEstimates::Bernoulli {
                probabilities: rows(probabilities, *dim),
            },
            BlockParams::Categorical {
                levels,
                probabilities,
            } => BlockEstimates::Categorical {
                probabilities: rows(probabilities, *levels),
            },
            BlockParams::Exponential { rates } => BlockEstimates::Exponential {
                rates: rates.clone(),
            },
        }
    }
}

impl Kernel<'_> {
    /// Adds every component's log-density of rows `start..start + rows` into `buffer`
    /// (`rows x K`, row-major).
    pub fn add_log_densities(
        &self,
        block: &PreparedBlock<'_>,
        start: usize,
        rows: usize,
        buffer: &mut [f64],
    ) {
        let k = component_count(self.params);
        match (&block.data, self.params) {
            (BlockData::Normal(values), BlockParams::Normal { means, .. }) => {
                let values = &values[start..start + rows];
                for c in 0..k {
                    let (mean, half_precision, constant) =
                        (means[c], self.auxiliary[c], self.constants[c]);
                    for (row, &x) in buffer.chunks_exact_mut(k).zip(values) {
                        let deviation = x - mean;
                        row[c] += constant - half_precision * deviation * deviation;
                    }
                }
            }
            (
                BlockData::MvNormal { values, dim },
                BlockParams::MvNormal {
                    means,
                    inverse_cholesky,
                    ..
                },
            ) => {
                let d = *dim;
                let values = &values[start * d..(start + rows) * d];
                let inputs = MvInputs {
                    values,
                    means,
                    inverse_cholesky,
                    constants: &self.constants,
                    k,
                };
                match d {
                    1 => mv_log_densities::<1>(&inputs, buffer),
                    2 => mv_log_densities::<2>(&inputs, buffer),
                    3 => mv_log_densities::<3>(&inputs, buffer),
                    4 => mv_log_densities::<4>(&inputs, buffer),
                    _ => mv_log_densities_any(&inputs, d, buffer),
                }
            }
            (BlockData::Poisson(values), BlockParams::Poisson { .. }) => {
                let values = &values[start..start + rows];
                for c in 0..k {
                    let (log_rate, constant) = (self.auxiliary[c], self.constants[c]);
                    for (row, &x) in buffer.chunks_exact_mut(k).zip(values) {
                        // x ln λ with the convention 0 · ln 0 = 0.
                        let count_term = if x > 0.0 { x * log_rate } else { 0.0 };
                        row[c] += constant + count_term;
                    }
                }
            }
            (BlockData::Bernoulli { values, dim }, BlockParams::Bernoulli { .. }) => {
                let d = *dim;
                let values = &values[start * d..(start + rows) * d];
                for c in 0..k {
                    let logs = &self.auxiliary[c * 2 * d..(c + 1) * 2 * d];
                    for (row, x) in buffer.chunks_exact_mut(k).zip(values.chunks_exact(d)) {
                        let mut sum = 0.0;
                        for (&value, pair) in x.iter().zip(logs.chunks_exact(2)) {
                            sum += if value == 1.0 { pair[0] } else { pair[1] };
                        }
                        row[c] += sum;
                    }
                }
            }
            (BlockData::Categorical { codes, levels }, BlockParams::Categorical { .. }) => {
                let codes = &codes[start..start + rows];
                for c in 0..k {
                    let logs = &self.auxiliary[c * levels..(c + 1) * levels];
                    for (row, &code) in buffer.chunks_exact_mut(k).zip(codes) {
                        row[c] += logs[code as usize];
                    }
                }
            }
            (BlockData::Exponential(values), BlockParams::Exponential { .. }) => {
                let values = &values[start..start + rows];
                for c in 0..k {
                    let (rate, constant) = (self.auxiliary[c], self.constants[c]);
                    for (row, &x) in buffer.chunks_exact_mut(k).zip(values) {
                        row[c] += constant - rate * x;
                    }
                }
            }
            _ => debug_assert!(false, "block data and parameters of different families"),
        }
    }

    /// Adds this chunk's sufficient statistics, weighted by `responsibilities` (`rows x K`),
    /// into `statistics` (this block's slice).
    pub fn accumulate(
        &self,
        block: &PreparedBlock<'_>,
        start: usize,
        rows: usize,
        responsibilities: &[f64],
        statistics: &mut [f64],
    ) {
        let k = component_count(self.params);
        match (&block.data, self.params) {
            (BlockData::Normal(values), BlockParams::Normal { means, .. }) => {
                let values = &values[start..start + rows];
                for c in 0..k {
                    let shift = means[c];
                    let (mut first, mut second) = (0.0, 0.0);
                    for (row, &x) in responsibilities.chunks_exact(k).zip(values) {
                        let weighted = row[c] * (x - shift);
                        first += weighted;
                        second += weighted * (x - shift);
                    }
                    statistics[2 * c] += first;
                    statistics[2 * c + 1] += second;
                }
            }
            (BlockData::MvNormal { values, dim }, BlockParams::MvNormal { means, .. }) => {
                let d = *dim;
                let values = &values[start * d..(start + rows) * d];
                match d {
                    1 => mv_accumulate::<1>(values, means, responsibilities, k, statistics),
                    2 => mv_accumulate::<2>(values, means, responsibilities, k, statistics),
                    3 => mv_accumulate::<3>(values, means, responsibilities, k, statistics),
                    4 => mv_accumulate::<4>(values, means, responsibilities, k, statistics),
                    _ => mv_accumulate_any(values, d, means, responsibilities, k, statistics),
                }
            }
            (BlockData::Poisson(values), _) | (BlockData::Exponential(values), _) => {
                let values = &values[start..start + rows];
                for (c, total) in statistics.iter_mut().enumerate().take(k) {
                    let mut sum = 0.0;
                    for (row, &x) in responsibilities.chunks_exact(k).zip(values) {
                        sum += row[c] * x;
                    }
                    *total += sum;
                }
            }
            (BlockData::Bernoulli { values, dim }, _) => {
                let d = *dim;
                let values = &values[start * d..(start + rows) * d];
                for (row, x) in responsibilities.chunks_exact(k).zip(values.chunks_exact(d)) {
                    for (c, &r) in row.iter().enumerate() {
                        for (total, &value) in statistics[c * d..(c + 1) * d].iter_mut().zip(x) {
                            *total += r * value;
                        }
                    }
                }
            }
            (BlockData::Categorical { codes, levels }, _) => {
                let codes = &codes[start..start + rows];
                for (row, &code) in responsibilities.chunks_exact(k).zip(codes) {
                    for (c, &r) in row.iter().enumerate() {
                        statistics[c * levels + code as usize] += r;
                    }
                }
            }
            _ => debug_assert!(false, "block data and parameters of different families"),
        }
    }
}

fn component_count(params: &BlockParams) -> usize {
    match params {
        BlockParams::Normal { means, .. } => means.len(),
        BlockParams::MvNormal {
            log_determinants, ..
        } => log_determinants.len(),
        BlockParams::Poisson { rates } | BlockParams::Exponential { rates } => rates.len(),
        BlockParams::Bernoulli { dim, probabilities } => probabilities.len() / dim,
        BlockParams::Categorical {
            levels,
            probabilities,
        } => probabilities.len() / levels,
    }
}

/// What the multivariate normal E-step kernels read.
struct MvInputs<'v> {
    values: &'v [f64],
    means: &'v [f64],
    inverse_cholesky: &'v [f64],
    constants: &'v [f64],
    k: usize,
}

/// `row[c] += constant_c − ½ |L_c⁻¹ (x − μ_c)|²` for a compile-time dimension.
fn mv_log_densities<const D: usize>(inputs: &MvInputs<'_>, buffer: &mut [f64]) {
    let k = inputs.k;
    for c in 0..k {
        let mean: [f64; D] = std::array::from_fn(|j| inputs.means[c * D + j]);
        let inverse: [[f64; D]; D] = std::array::from_fn(|a| {
            std::array::from_fn(|b| inputs.inverse_cholesky[(c * D + a) * D + b])
        });
        let constant = inputs.constants[c];
        for (row, x) in buffer
            .chunks_exact_mut(k)
            .zip(inputs.values.chunks_exact(D))
        {
            let deviation: [f64; D] = std::array::from_fn(|j| x[j] - mean[j]);
            let mut squared = 0.0;
            for (a, inverse_row) in inverse.iter().enumerate() {
                let z: f64 = inverse_row[..=a]
                    .iter()
                    .zip(&deviation)
                    .map(|(l, v)| l * v)
                    .sum();
                squared += z * z;
            }
            row[c] += constant - 0.5 * squared;
        }
    }
}

thread_local! {
    /// Per-thread matrices of the general-dimension kernels, reused across chunks: allocating
    /// them per chunk costs page faults that serialise the threads.
    static MATRICES: RefCell<[DMatrix<f64>; 3]> =
        RefCell::new(std::array::from_fn(|_| DMatrix::zeros(0, 0)));
}

/// Resizes (without reallocating once large enough) and returns the thread's matrices.
fn with_matrices<T>(
    shapes: [(usize, usize); 3],
    work: impl FnOnce(&mut [DMatrix<f64>; 3]) -> T,
) -> T {
    MATRICES.with(|cell| {
        let mut matrices = cell.borrow_mut();
        for (matrix, &(rows, columns)) in matrices.iter_mut().zip(&shapes) {
            if matrix.shape() != (rows, columns) {
                // Every kernel overwrites all entries, so stale values do not matter.
                let mut storage: Vec<f64> =
                    std::mem::replace(matrix, DMatrix::zeros(0, 0)).data.into();
                storage.resize(rows * columns, 0.0);
                *matrix = DMatrix::from_vec(rows, columns, storage);
            }
        }
        work(&mut matrices)
    })
}

/// The same for any dimension. Deviations are the columns of a `d x rows` matrix (the same
/// memory order as the rows), so that whitening is one matrix product per component: nalgebra
/// hands it to matrixmultiply's SIMD kernels once every side exceeds 5.
fn mv_log_densities_any(inputs: &MvInputs<'_>, d: usize, buffer: &mut [f64]) {
    let k = inputs.k;
    let rows = inputs.values.len() / d;
    with_matrices(
        [(d, rows), (d, rows), (d, d)],
        |[deviations, whitened, inverse]| {
            for c in 0..k {
                let mean = &inputs.means[c * d..(c + 1) * d];
                // The row-major L⁻¹ read column-major is L⁻ᵀ; transpose it back.
                inverse.copy_from_slice(&inputs.inverse_cholesky[c * d * d..(c + 1) * d * d]);
                inverse.transpose_mut();
                let constant = inputs.constants[c];
                for (deviation, x) in deviations
                    .as_mut_slice()
                    .chunks_exact_mut(d)
                    .zip(inputs.values.chunks_exact(d))
                {
                    for ((dev, &value), &m) in deviation.iter_mut().zip(x).zip(mean) {
                        *dev = value - m;
                    }
                }
                whitened.gemm(1.0, inverse, deviations, 0.0);
                for (row, z) in buffer
                    .chunks_exact_mut(k)
                    .zip(whitened.as_slice().chunks_exact(d))
                {
                    let squared: f64 = z.iter().map(|v| v * v).sum();
                    row[c] += constant - 0.5 * squared;
                }
            }
        },
    )
}

/// Σ r (x − s) and the upper triangle of Σ r (x − s)(x − s)ᵀ per component, s the component's
/// previous mean; the lower triangle is left at zero (the M-step reads the upper one).
fn mv_accumulate<const D: usize>(
    values: &[f64],
    means: &[f64],
    responsibilities: &[f64],
    k: usize,
    statistics: &mut [f64],
) {
    let stride = D + D * D;
    for c in 0..k {
        let shift: [f64; D] = std::array::from_fn(|j| means[c * D + j]);
        let mut first = [0.0; D];
        let mut second = [[0.0; D]; D];
        for (row, x) in responsibilities.chunks_exact(k).zip(values.chunks_exact(D)) {
            let r = row[c];
            if r == 0.0 {
                // Most rows of a hard (k-means) assignment: nothing to add.
                continue;
            }
            let deviation: [f64; D] = std::array::from_fn(|j| x[j] - shift[j]);
            for a in 0..D {
                let weighted = r * deviation[a];
                first[a] += weighted;
                for b in a..D {
                    second[a][b] += weighted * deviation[b];
                }
            }
        }
        let out = &mut statistics[c * stride..(c + 1) * stride];
        for a in 0..D {
            out[a] += first[a];
            for b in a..D {
                out[D + a * D + b] += second[a][b];
            }
        }
    }
}

/// The same for any dimension: Σ r (x−s)(x−s)ᵀ = Dᵀ (R D) with D the `rows x d` deviations,
/// one matrix product per component as in the E-step (`deviations` holds Dᵀ, `weighted` R D).
fn mv_accumulate_any(
    values: &[f64],
    d: usize,
    means: &[f64],
    responsibilities: &[f64],
    k: usize,
    statistics: &mut [f64],
) {
    let stride = d + d * d;
    let rows = values.len() / d;
    with_matrices(
        [(d, rows), (rows, d), (d, d)],
        |[deviations, weighted, second]| {
            for c in 0..k {
                let shift = &means[c * d..(c + 1) * d];
                let out = &mut statistics[c * stride..(c + 1) * stride];
                for (deviation, x) in deviations
                    .as_mut_slice()
                    .chunks_exact_mut(d)
                    .zip(values.chunks_exact(d))
                {
                    for ((dev, &value), &s) in deviation.iter_mut().zip(x).zip(shift) {
                        *dev = value - s;
                    }
                }
                for (j, mut column) in weighted.column_iter_mut().enumerate() {
                    let column = column.as_mut_slice();
                    for ((w, deviation), row) in column
                        .iter_mut()
                        .zip(deviations.as_slice().chunks_exact(d))
                        .zip(responsibilities.chunks_exact(k))
                    {
                        *w = row[c] * deviation[j];
                    }
                    out[j] += column.iter().sum::<f64>();
                }
                second.gemm(1.0, deviations, weighted, 0.0);
                for a in 0..d {
                    for b in 0..d {
                        out[d + a * d + b] += second[(a, b)];
                    }
                }
            }
        },
    )
}

/// `L⁻¹` (row-major) and `ln det Σ` of a symmetric matrix, or `None` if it is not positive
/// definite (numerically).
pub(crate) fn factorise(covariance: &[f64], d: usize) -> Option<(Vec<f64>, f64)> {
    let matrix = DMatrix::from_row_slice(d, d, covariance);
    let cholesky = matrix.cholesky()?;
    let lower = cholesky.l();
    let log_det = 2.0 * (0..d).map(|i| lower[(i, i)].ln()).sum::<f64>();
    let inverse = lower.solve_lower_triangular(&DMatrix::identity(d, d))?;
    let mut row_major = vec![0.0; d * d];
    for a in 0..d {
        for b in 0..=a {
            row_major[a * d + b] = inverse[(a, b)];
        }
    }
    (log_det.is_finite() && row_major.iter().all(|x| x.is_finite())).then_some((row_major, log_det))
}

/// Σ ln xᵢ! over non-negative integers: a table below 256, Stirling's series above (its error
/// there is below 1e-16 relative).
fn ln_factorial_sum(values: &[f64]) -> f64 {
    const TABLE_SIZE: usize = 256;
    let mut table = [0.0; TABLE_SIZE];
    for i in 2..TABLE_SIZE {
        table[i] = table[i - 1] + (i as f64).ln();
    }
    values
        .iter()
        .map(|&x| {
            if x < TABLE_SIZE as f64 {
                table[x as usize]
            } else {
                let inverse = 1.0 / x;
                let inverse_squared = inverse * inverse;
                x * x.ln() - x
                    + 0.5 * (2.0 * std::f64::consts::PI * x).ln()
                    + inverse
                        * (1.0 / 12.0 - inverse_squared * (1.0 / 360.0 - inverse_squared / 1260.0))
            }
        })
        .sum()
}
