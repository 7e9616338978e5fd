//! Initialisation: k-means++ seeding and Lloyd iterations on standardised features.
//!
//! Seeding is the greedy k-means++ of Arthur & Vassilvitskii (2007): each new centre is the best
//! (lowest resulting potential) of `2 + ⌊ln K⌋` candidates drawn with probability proportional to
//! the squared distance to the nearest chosen centre. Lloyd iterations follow until no label
//! changes or [`LLOYD_ITERATIONS`] are done. All passes run over the fixed chunks of
//! [`CHUNK_ROWS`] rows with partial sums added in chunk order, so the labels depend on the seed
//! only, not on the number of threads.

use rand::{Rng, RngExt};
use rayon::prelude::*;

use super::families::BlockData;
use super::pass::{CHUNK_ROWS, Problem};

/// At most this many Lloyd iterations after seeding.
pub const LLOYD_ITERATIONS: usize = 20;

/// The rows as points for k-means: `n x dim`, row-major.
pub struct Features {
    values: Vec<f64>,
    dim: usize,
    n: usize,
}

/// Where a feature column comes from.
enum Column<'a> {
    /// Column `offset` of a row-major block with `stride` values per row.
    Numeric {
        values: &'a [f64],
        stride: usize,
        offset: usize,
    },
    /// 1 where the categorical code equals `level`.
    Indicator { codes: &'a [u32], level: u32 },
}

impl Features {
    /// The columns of the Normal, MvNormal, Poisson and Exponential blocks, each standardised
    /// (a constant column is only centred); if there are none, the Bernoulli columns as they are
    /// and the Categorical blocks one-hot encoded.
    pub(crate) fn from_problem(problem: &Problem<'_>) -> Features {
        let mut continuous = Vec::new();
        let mut discrete = Vec::new();
        for block in &problem.blocks {
            match &block.data {
                BlockData::Normal(values)
                | BlockData::Poisson(values)
                | BlockData::Exponential(values) => continuous.push(Column::Numeric {
                    values,
                    stride: 1,
                    offset: 0,
                }),
                BlockData::MvNormal { values, dim } => {
                    continuous.extend((0..*dim).map(|offset| Column::Numeric {
                        values,
                        stride: *dim,
                        offset,
                    }))
                }
                BlockData::Bernoulli { values, dim } => {
                    discrete.extend((0..*dim).map(|offset| Column::Numeric {
                        values,
                        stride: *dim,
                        offset,
                    }))
                }
                BlockData::Categorical { codes, levels } => discrete
                    .extend((0..*levels as u32).map(|level| Column::Indicator { codes, level })),
            }
        }
        let standardise = !continuous.is_empty();
        let columns = if standardise { continuous } else { discrete };
        let n = problem.n;
        let dim = columns.len();
        let mut values = vec![0.0; n * dim];
        if dim == 0 {
            return Features { values, dim, n };
        }
        values
            .par_chunks_mut(CHUNK_ROWS * dim)
            .enumerate()
            .for_each(|(chunk, block)| {
                let start = chunk * CHUNK_ROWS;
                for (j, column) in columns.iter().enumerate() {
                    let rows = block.chunks_exact_mut(dim);
                    match column {
                        Column::Numeric {
                            values: source,
                            stride,
                            offset,
                        } => {
                            let source = source[start * stride..].chunks_exact(*stride);
                            for (row, source_row) in rows.zip(source) {
                                row[j] = source_row[*offset];
                            }
                        }
                        Column::Indicator { codes, level } => {
                            for (row, &code) in rows.zip(&codes[start..]) {
                                row[j] = f64::from(u8::from(code == *level));
                            }
                        }
                    }
                }
            });
        if standardise {
            let sums = column_sums(&values, dim, |_, value| value);
            let centres: Vec<f64> = sums.iter().map(|s| s / n as f64).collect();
            let squares = column_sums(&values, dim, |j, value| (value - centres[j]).powi(2));
            let scales: Vec<f64> = squares
                .iter()
                .map(|s| {
                    let variance = s / n as f64;
                    if variance > 0.0 && variance.is_finite() {
                        variance.sqrt()
                    } else {
                        1.0
                    }
                })
                .collect();
            values.par_chunks_mut(CHUNK_ROWS * dim).for_each(|block| {
                for row in block.chunks_exact_mut(dim) {
                    for ((value, centre), scale) in row.iter_mut().zip(&centres).zip(&scales) {
                        *value = (*value - centre) / scale;
                    }
                }
            });
        }
        Features { values, dim, n }
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }

    fn chunk(&self, chunk: usize) -> &[f64] {
        let start = chunk * CHUNK_ROWS * self.dim;
        let end = ((chunk + 1) * CHUNK_ROWS).min(self.n) * self.dim;
        &self.values[start..end]
    }

    fn chunk_count(&self) -> usize {
        self.n.div_ceil(CHUNK_ROWS)
    }
}

/// Σ over rows of `term(column, value)` per column of a row-major matrix, by fixed chunks added
/// in order.
fn column_sums(values: &[f64], dim: usize, term: impl Fn(usize, f64) -> f64 + Sync) -> Vec<f64> {
    let partials: Vec<Vec<f64>> = values
        .par_chunks(CHUNK_ROWS * dim)
        .map(|block| {
            let mut sums = vec![0.0; dim];
            for row in block.chunks_exact(dim) {
                for (j, (sum, &value)) in sums.iter_mut().zip(row).enumerate() {
                    *sum += term(j, value);
                }
            }
            sums
        })
        .collect();
    let mut totals = vec![0.0; dim];
    for partial in partials {
        for (total, value) in totals.iter_mut().zip(partial) {
            *total += value;
        }
    }
    totals
}

/// k-means++ seeding and Lloyd iterations; returns each row's cluster (`0..k`). Clusters may
/// come out empty when there are fewer distinct rows than `k`.
pub fn kmeans_labels<R: Rng>(features: &Features, k: usize, rng: &mut R) -> Vec<u32> {
    if features.dim == 0 {
        // Nothing to cluster on: spread rows evenly (cannot happen for a validated problem,
        // which always has at least one column).
        return (0..features.n).map(|i| (i % k) as u32).collect();
    }
    let centres = seed_centres(features, k, rng);
    lloyd(features, centres, k)
}

/// Squared Euclidean distance; the common small dimensions are written out so that the hot
/// loops of k-means do not pay for a loop per point.
#[inline(always)]
fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    let square = |i: usize| (a[i] - b[i]) * (a[i] - b[i]);
    match (a.len(), b.len()) {
        (1, 1) => square(0),
        (2, 2) => square(0) + square(1),
        (3, 3) => square(0) + square(1) + square(2),
        (4, 4) => square(0) + square(1) + square(2) + square(3),
        _ => a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum(),
    }
}

fn seed_centres<R: Rng>(features: &Features, k: usize, rng: &mut R) -> Vec<f64> {
    let n = features.n;
    let dim = features.dim;
    let trials = 2 + (k as f64).ln().floor() as usize;
    let mut centres = Vec::with_capacity(k * dim);
    let first = rng.random_range(0..n);
    centres.extend_from_slice(features.row(first));
    let mut closest = vec![0.0; n];
    closest
        .par_chunks_mut(CHUNK_ROWS)
        .enumerate()
        .for_each(|(chunk, distances)| {
            for (d, x) in distances
                .iter_mut()
                .zip(features.chunk(chunk).chunks_exact(dim))
            {
                *d = squared_distance(x, &centres[..dim]);
            }
        });
    for _ in 1..k {
        let chunk_sums: Vec<f64> = closest
            .par_chunks(CHUNK_ROWS)
            .map(|c| c.iter().sum::<f64>())
            .collect();
        let total: f64 = chunk_sums.iter().sum();
        let mut best: Option<(f64, usize)> = None;
        for _ in 0..trials {
            let candidate = if total > 0.0 && total.is_finite() {
                let target = rng.random::<f64>() * total;
                sample_index(&closest, &chunk_sums, target)
            } else {
                rng.random_range(0..n)
            };
            let centre = features.row(candidate);
            let potential: f64 = (0..features.chunk_count())
                .into_par_iter()
                .map(|chunk| {
                    features
                        .chunk(chunk)
                        .chunks_exact(dim)
                        .zip(&closest[chunk * CHUNK_ROWS..])
                        .map(|(x, &d)| d.min(squared_distance(x, centre)))
                        .sum::<f64>()
                })
                .collect::<Vec<f64>>()
                .iter()
                .sum();
            if best.is_none_or(|(p, _)| potential < p) {
                best = Some((potential, candidate));
            }
        }
        let chosen = best.map_or(0, |(_, index)| index);
        let centre = features.row(chosen).to_vec();
        closest
            .par_chunks_mut(CHUNK_ROWS)
            .enumerate()
            .for_each(|(chunk, distances)| {
                for (d, x) in distances
                    .iter_mut()
                    .zip(features.chunk(chunk).chunks_exact(dim))
                {
                    *d = d.min(squared_distance(x, &centre));
                }
            });
        centres.extend_from_slice(&centre);
    }
    centres
}

/// The index where the running sum of `weights` passes `target`, found chunk by chunk; rounding
/// past the end falls back to the last index with positive weight.
fn sample_index(weights: &[f64], chunk_sums: &[f64], target: f64) -> usize {
    let mut running = 0.0;
    let mut last_positive = 0;
    for (chunk, &sum) in chunk_sums.iter().enumerate() {
        if sum <= 0.0 {
            continue;
        }
        let start = chunk * CHUNK_ROWS;
        if running + sum <= target {
            running += sum;
            last_positive = start
                + weights[start..]
                    .iter()
                    .take(CHUNK_ROWS)
                    .rposition(|&w| w > 0.0)
                    .unwrap_or(0);
            continue;
        }
        for (i, &w) in weights[start..].iter().take(CHUNK_ROWS).enumerate() {
            if w > 0.0 {
                last_positive = start + i;
                running += w;
                if running > target {
                    return start + i;
                }
            }
        }
    }
    last_positive
}

/// Lloyd iterations from `centres`; stops when no label changes.
fn lloyd(features: &Features, mut centres: Vec<f64>, k: usize) -> Vec<u32> {
    let dim = features.dim;
    let mut labels = vec![u32::MAX; features.n];
    for _ in 0..LLOYD_ITERATIONS {
        let partials: Vec<(usize, Vec<f64>)> = labels
            .par_chunks_mut(CHUNK_ROWS)
            .enumerate()
            .map(|(chunk, labels)| {
                // Per cluster: dim coordinate sums, then the count.
                let mut sums = vec![0.0; k * (dim + 1)];
                let mut changes = 0;
                for (label, x) in labels
                    .iter_mut()
                    .zip(features.chunk(chunk).chunks_exact(dim))
                {
                    let mut nearest = 0;
                    let mut nearest_distance = f64::INFINITY;
                    for (c, centre) in centres.chunks_exact(dim).enumerate() {
                        let distance = squared_distance(x, centre);
                        if distance < nearest_distance {
                            nearest = c;
                            nearest_distance = distance;
                        }
                    }
                    if *label != nearest as u32 {
                        *label = nearest as u32;
                        changes += 1;
                    }
                    let slot = &mut sums[nearest * (dim + 1)..(nearest + 1) * (dim + 1)];
                    for (s, v) in slot.iter_mut().zip(x) {
                        *s += v;
                    }
                    slot[dim] += 1.0;
                }
                (changes, sums)
            })
            .collect();
        let mut changes = 0;
        let mut sums = vec![0.0; k * (dim + 1)];
        for (chunk_changes, chunk_sums) in partials {
            changes += chunk_changes;
            for (total, value) in sums.iter_mut().zip(&chunk_sums) {
                *total += value;
            }
        }
        if changes == 0 {
            break;
        }
        for (centre, slot) in centres
            .chunks_exact_mut(dim)
            .zip(sums.chunks_exact(dim + 1))
        {
            let count = slot[dim];
            if count > 0.0 {
                for (c, s) in centre.iter_mut().zip(slot) {
                    *c = s / count;
                }
            }
        }
    }
    labels
}
