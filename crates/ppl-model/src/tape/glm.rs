//! The fused generalised linear model likelihood: `Σ_i log p(y_i | a + X_i · b [, s])` over a data
//! design matrix X (N × D, row-major) as one tape node, for the normal identity link, the
//! Bernoulli logit link and the Poisson log link.
//!
//! The unfused tape builds a matrix-vector product, an add, and a density node, each with its own
//! N-element buffers, and its reverse pass reads X a second time for `Xᵀ r`. Here the forward pass
//! with partials makes one sweep over the rows: the linear predictor of row i, the slope
//! `r_i = ∂ log p_i / ∂ η_i`, and the accumulation `g += r_i X_i` while the row is still in the
//! cache. The sum's gradient by b is then `g` whatever the node's adjoint, so the reverse pass only
//! scales three stored sums (by b, by a, and by s): X is read once per gradient evaluation.
//!
//! The lowering (`lower/glm.rs`) checks the data once when the tape is built (finite normal
//! outcomes, 0/1 for Bernoulli, non-negative integer counts for Poisson) and falls back to the
//! unfused nodes otherwise, so the loop here has no per-element support checks.
//!
//! The rows are summed in fixed blocks of `BLOCK_ROWS`, combined in block order, so that the
//! blocks can run on rayon's pool (Stan's `reduce_sum`) when cores outnumber the evaluations in
//! flight, and the numbers are the same whatever the thread count.

use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::graph::{NodeId, NodeInfo};

/// The likelihood and link of a fused GLM node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GlmFamily {
    /// `y ~ Normal(η, s)`.
    NormalIdentity,
    /// `y ~ Bernoulli(logit = η)`.
    BernoulliLogit,
    /// `y ~ Poisson(log_rate = η)`.
    PoissonLog,
}

/// The fused node's inputs and what its forward pass keeps for the reverse pass.
#[derive(Clone)]
pub(crate) struct GlmNode {
    pub family: GlmFamily,
    /// The design matrix, a constant node of `rows × columns` values in row-major order.
    pub design: NodeId,
    /// The outcomes, a constant node of `rows` values.
    pub outcome: NodeId,
    /// The intercept `a` (one value), if the linear predictor has one.
    pub intercept: Option<NodeId>,
    /// The coefficients `b` (`columns` values).
    pub coefficients: NodeId,
    /// The normal's standard deviation `s` (one value); `None` for the other families.
    pub scale: Option<NodeId>,
    pub rows: usize,
    pub columns: usize,
    /// The part of the log density that does not depend on the unknowns: `-N ln √(2π)` for the
    /// normal, `-Σ ln y_i!` for the Poisson, 0 for the Bernoulli.
    pub constant: f64,
    /// `Σ_i r_i X_i` at the last forward pass with partials: the gradient by the coefficients.
    pub coefficient_gradient: Vec<f64>,
    /// `Σ_i r_i`: the gradient by the intercept.
    pub intercept_gradient: f64,
    /// The gradient by the normal's scale.
    pub scale_gradient: f64,
    /// Each block's partial sums (`block_scratch`), kept between evaluations.
    pub blocks: Vec<BlockSums>,
}

/// A dot product with four running sums (lane `k` takes the products at positions `k mod 4`),
/// combined as `(s0 + s1) + (s2 + s3)`, then the products past the last whole four in order.
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut sums = [0.0; 4];
    let mut left = a.chunks_exact(4);
    let mut right = b.chunks_exact(4);
    for (x, y) in (&mut left).zip(&mut right) {
        for lane in 0..4 {
            sums[lane] += x[lane] * y[lane];
        }
    }
    let mut total = (sums[0] + sums[1]) + (sums[2] + sums[3]);
    for (x, y) in left.remainder().iter().zip(right.remainder()) {
        total += x * y;
    }
    total
}

/// `dot(row, b)` for four rows at once, each summed exactly as `dot` sums it: the same bits, but
/// with four rows' running sums in flight together, so the processor overlaps their additions
/// instead of waiting on one row's chain.
#[inline(always)]
fn dot_four(rows: [&[f64]; 4], b: &[f64]) -> [f64; 4] {
    let mut sums = [[0.0; 4]; 4];
    let whole = b.len() / 4 * 4;
    for ((((b4, x0), x1), x2), x3) in b[..whole]
        .chunks_exact(4)
        .zip(rows[0][..whole].chunks_exact(4))
        .zip(rows[1][..whole].chunks_exact(4))
        .zip(rows[2][..whole].chunks_exact(4))
        .zip(rows[3][..whole].chunks_exact(4))
    {
        // One row's four lanes together, so that they become one 256-bit vector operation.
        for (lanes, x) in sums.iter_mut().zip([x0, x1, x2, x3]) {
            for lane in 0..4 {
                lanes[lane] += x[lane] * b4[lane];
            }
        }
    }
    let mut totals = [0.0; 4];
    for (row, (total, lanes)) in totals.iter_mut().zip(&sums).enumerate() {
        *total = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
        for (x, y) in rows[row][whole..].iter().zip(&b[whole..]) {
            *total += x * y;
        }
    }
    totals
}

/// Four `axpy`s in row order, with each element of `target` loaded and stored once: the same
/// additions in the same order as four calls, so the same bits.
#[inline(always)]
fn axpy_four(target: &mut [f64], scales: [f64; 4], rows: [&[f64]; 4]) {
    for ((((t, x0), x1), x2), x3) in target
        .iter_mut()
        .zip(rows[0])
        .zip(rows[1])
        .zip(rows[2])
        .zip(rows[3])
    {
        *t = (((*t + scales[0] * x0) + scales[1] * x1) + scales[2] * x2) + scales[3] * x3;
    }
}

/// `target += scale * row`.
#[inline(always)]
fn axpy(target: &mut [f64], scale: f64, row: &[f64]) {
    for (t, x) in target.iter_mut().zip(row) {
        *t += scale * x;
    }
}

/// `ln(1 + t)` for `t` in `[0, 1]`, to a few ulps, from one `ln`: `u = 1 + t` is rounded, but
/// `ln(u) · t / (u - 1)` corrects for exactly that rounding (Goldberg 1991, Theorem 4), and
/// `(u - 1)` is exact here. glibc's `log1p` costs about three times its `ln`, and it was half of
/// a logistic regression's gradient.
#[inline]
pub(crate) fn ln_1p_unit(t: f64) -> f64 {
    let u = 1.0 + t;
    if u == 1.0 {
        t
    } else {
        u.ln() * (t / (u - 1.0))
    }
}

/// `(log(1 + e^η), sigmoid(η))` from one exponential of `-|η|`, which never overflows.
#[inline]
fn softplus_and_sigmoid(eta: f64) -> (f64, f64) {
    let small = (-eta.abs()).exp();
    let softplus = eta.max(0.0) + ln_1p_unit(small);
    let sigmoid = if eta >= 0.0 {
        1.0 / (1.0 + small)
    } else {
        small / (1.0 + small)
    };
    (softplus, sigmoid)
}

/// The rows of one block: a fixed number, never derived from the thread count, so the blocks'
/// partial sums, and their combination in block order, are the same on one thread or many.
pub(crate) const BLOCK_ROWS: usize = 512;

/// Below this many design-matrix cells (rows × columns) the blocks are evaluated on the calling
/// thread: handing blocks to the pool costs a few microseconds, more than it saves on small data.
const PARALLEL_CELLS: usize = 40_000;

/// How many threads are inside a fused GLM evaluation right now. When as many evaluations run as
/// the pool has threads (say four chains on two cores) the cores are already busy and blocks stay
/// on the calling thread; with fewer (one chain on two cores) the blocks go to rayon's pool. Which
/// path runs changes only the speed: the numbers are the same block sums in the same order.
static EVALUATIONS_RUNNING: AtomicUsize = AtomicUsize::new(0);

/// One block's share of the sums: the log density's variable part and, with partials, the slope
/// sums (for the normal, `total` holds the sum of squared residuals).
#[derive(Clone, Debug, Default)]
pub(crate) struct BlockSums {
    total: f64,
    slope_sum: f64,
    coefficient_gradient: Vec<f64>,
}

/// The inputs a block reads, shared by every block of one evaluation.
struct Inputs<'a> {
    family: GlmFamily,
    design: &'a [f64],
    outcome: &'a [f64],
    coefficients: &'a [f64],
    intercept: f64,
    columns: usize,
}

impl Inputs<'_> {
    /// The sums over rows `first..first + count` into `sums` (its gradient zeroed first). For the
    /// normal the slope is the residual; the precision is applied once, after the blocks.
    ///
    /// On x86-64 processors with AVX2 the same loop runs compiled for AVX2 (a measured 1.5–2x on
    /// diamonds' 24 columns over the SSE2 baseline). The two compilations do the same additions
    /// and multiplications in the same order (Rust never fuses a multiply and an add on its own),
    /// so they give the same bits.
    fn block(&self, first: usize, count: usize, with_partials: bool, sums: &mut BlockSums) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: `block_with_avx2` needs AVX2 and nothing else, and the processor was just
            // found to have it.
            unsafe { self.block_with_avx2(first, count, with_partials, sums) };
            return;
        }
        self.block_rows(first, count, with_partials, sums);
    }

    /// `block_rows` compiled with AVX2 enabled.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn block_with_avx2(
        &self,
        first: usize,
        count: usize,
        with_partials: bool,
        sums: &mut BlockSums,
    ) {
        self.block_rows(first, count, with_partials, sums);
    }

    #[inline(always)]
    fn block_rows(&self, first: usize, count: usize, with_partials: bool, sums: &mut BlockSums) {
        let (a, family) = (self.intercept, self.family);
        // Each row's term of the log density and its slope `∂ log p_i / ∂ η_i`, from the outcome
        // and the row's dot product with the coefficients.
        let term_and_slope = move |y_i: f64, row_dot: f64| match family {
            // With e = y - η: the term is e² (scaled after the blocks) and the slope e.
            GlmFamily::NormalIdentity => {
                let residual = y_i - (a + row_dot);
                (residual * residual, residual)
            }
            // log p = y η - log(1 + e^η), ∂/∂η = y - sigmoid(η).
            GlmFamily::BernoulliLogit => {
                let eta = a + row_dot;
                let (softplus, sigmoid) = softplus_and_sigmoid(eta);
                (y_i * eta - softplus, y_i - sigmoid)
            }
            // log p = y η - e^η - ln y!, ∂/∂η = y - e^η.
            GlmFamily::PoissonLog => {
                let eta = a + row_dot;
                let rate = eta.exp();
                (y_i * eta - rate, y_i - rate)
            }
        };
        let columns = self.columns;
        let x = self
            .design
            .get(first * columns..(first + count) * columns)
            .unwrap_or(&[]);
        let y = self.outcome.get(first..first + count).unwrap_or(&[]);
        let b = self.coefficients.get(..columns).unwrap_or(&[]);
        let gradient = &mut sums.coefficient_gradient;
        gradient.fill(0.0);
        let mut total = 0.0;
        let mut slope_sum = 0.0;
        // Four rows at a time, then the rest one by one; the terms are added in row order.
        let whole_fours = x
            .len()
            .checked_div(columns)
            .map_or(0, |rows| count.min(rows).min(y.len()) / 4);
        for (four_rows, four_outcomes) in x
            .chunks_exact(4 * columns.max(1))
            .zip(y.chunks_exact(4))
            .take(whole_fours)
        {
            let (first_two, last_two) = four_rows.split_at(2 * columns);
            let (row_0, row_1) = first_two.split_at(columns);
            let (row_2, row_3) = last_two.split_at(columns);
            let rows = [row_0, row_1, row_2, row_3];
            let dots = dot_four(rows, b);
            let mut slopes = [0.0; 4];
            for ((slope, &y_i), row_dot) in slopes.iter_mut().zip(four_outcomes).zip(dots) {
                let (term, row_slope) = term_and_slope(y_i, row_dot);
                total += term;
                slope_sum += row_slope;
                *slope = row_slope;
            }
            if with_partials {
                axpy_four(gradient, slopes, rows);
            }
        }
        let done = 4 * whole_fours;
        if columns > 0 {
            let rest = x.get(done * columns..).unwrap_or(&[]).chunks_exact(columns);
            for (row, &y_i) in rest.zip(y.get(done..).unwrap_or(&[])) {
                let (term, slope) = term_and_slope(y_i, dot(row, b));
                total += term;
                slope_sum += slope;
                if with_partials {
                    axpy(gradient, slope, row);
                }
            }
        }
        sums.total = total;
        sums.slope_sum = slope_sum;
    }
}

/// The scratch of one node: one `BlockSums` per block of `BLOCK_ROWS` rows, made when the tape is
/// built so that an evaluation allocates nothing.
pub(crate) fn block_scratch(rows: usize, columns: usize) -> Vec<BlockSums> {
    let blocks = rows.div_ceil(BLOCK_ROWS).max(1);
    vec![
        BlockSums {
            coefficient_gradient: vec![0.0; columns],
            ..BlockSums::default()
        };
        blocks
    ]
}

/// Leaves the running count when an evaluation ends, also by an early return.
struct Running;

impl Running {
    fn enter() -> (Running, usize) {
        (
            Running,
            EVALUATIONS_RUNNING.fetch_add(1, Ordering::Relaxed) + 1,
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        EVALUATIONS_RUNNING.fetch_sub(1, Ordering::Relaxed);
    }
}

impl GlmNode {
    /// The log density at the values in `before`; with `with_partials`, also the three gradient
    /// sums for the reverse pass.
    pub fn forward(&mut self, nodes: &[NodeInfo], before: &[f64], with_partials: bool) -> f64 {
        let (_running, running) = Running::enter();
        let parallel = self.blocks.len() > 1
            && self.rows * self.columns >= PARALLEL_CELLS
            && running < rayon::current_num_threads();
        self.forward_blocks(nodes, before, with_partials, parallel)
    }

    /// `forward` with the choice of thread made: `parallel` evaluates the blocks on rayon's pool,
    /// otherwise one after the other here. Both give the same bits.
    pub(crate) fn forward_blocks(
        &mut self,
        nodes: &[NodeInfo],
        before: &[f64],
        with_partials: bool,
        parallel: bool,
    ) -> f64 {
        let read = |id: NodeId| {
            let node = &nodes[id];
            &before[node.start..node.start + node.len]
        };
        let scale = match self.family {
            GlmFamily::NormalIdentity => {
                let s = self.scale.map_or(1.0, |id| read(id)[0]);
                if s.is_nan() || s <= 0.0 {
                    // Outside the scale's support: no gradient sums are kept.
                    if with_partials {
                        self.coefficient_gradient.fill(0.0);
                        self.intercept_gradient = 0.0;
                        self.scale_gradient = 0.0;
                    }
                    return if s.is_nan() {
                        f64::NAN
                    } else {
                        f64::NEG_INFINITY
                    };
                }
                s
            }
            _ => 1.0,
        };
        let inputs = Inputs {
            family: self.family,
            design: read(self.design),
            outcome: read(self.outcome),
            coefficients: read(self.coefficients),
            intercept: self.intercept.map_or(0.0, |id| read(id)[0]),
            columns: self.columns,
        };
        let rows = self.rows;
        let evaluate = |(index, sums): (usize, &mut BlockSums)| {
            let first = index * BLOCK_ROWS;
            inputs.block(
                first,
                BLOCK_ROWS.min(rows.saturating_sub(first)),
                with_partials,
                sums,
            );
        };
        if parallel {
            self.blocks.par_iter_mut().enumerate().for_each(evaluate);
        } else {
            self.blocks.iter_mut().enumerate().for_each(evaluate);
        }
        // The blocks' sums in block order: the same additions whichever thread made each block.
        let mut total = 0.0;
        let mut slope_sum = 0.0;
        if with_partials {
            self.coefficient_gradient.fill(0.0);
        }
        for sums in &self.blocks {
            total += sums.total;
            slope_sum += sums.slope_sum;
            if with_partials {
                for (g, block) in self
                    .coefficient_gradient
                    .iter_mut()
                    .zip(&sums.coefficient_gradient)
                {
                    *g += block;
                }
            }
        }
        match self.family {
            GlmFamily::NormalIdentity => {
                // With e_i = y_i - η_i: log p = -Σe²/(2s²) - N ln s + constant,
                // ∂/∂η_i = e_i/s², ∂/∂s = Σe²/s³ - N/s.
                let squares = total;
                let precision = 1.0 / (scale * scale);
                let count = rows as f64;
                if with_partials {
                    self.coefficient_gradient
                        .iter_mut()
                        .for_each(|g| *g *= precision);
                    self.intercept_gradient = slope_sum * precision;
                    self.scale_gradient = (squares * precision - count) / scale;
                }
                -0.5 * squares * precision - count * scale.ln() + self.constant
            }
            _ => {
                if with_partials {
                    self.intercept_gradient = slope_sum;
                    self.scale_gradient = 0.0;
                }
                total + self.constant
            }
        }
    }

    /// Adds `adjoint` times the stored gradient sums to the inputs' adjoints.
    pub fn backward(&self, nodes: &[NodeInfo], adjoint: f64, before_adjoints: &mut [f64]) {
        let node = &nodes[self.coefficients];
        if node.needs_gradient {
            let target = &mut before_adjoints[node.start..node.start + node.len];
            axpy(target, adjoint, &self.coefficient_gradient);
        }
        for (input, gradient) in [
            (self.intercept, self.intercept_gradient),
            (self.scale, self.scale_gradient),
        ] {
            if let Some(id) = input
                && nodes[id].needs_gradient
            {
                before_adjoints[nodes[id].start] += adjoint * gradient;
            }
        }
    }
}

#[cfg(test)]
#[path = "glm_tests.rs"]
mod tests;
