//! The tape's nodes and its two passes. Every node is array-valued and owns a fixed range of one
//! value buffer and one adjoint buffer, plus whatever scratch its backward rule needs (local
//! partials stored by the forward pass), all allocated when the tape is built. A node's inputs
//! always come before it, so the forward pass runs in order and the reverse pass backwards.
//!
//! Elementwise kernels store their local partials during the forward pass (closed forms, or one
//! dual evaluation per element); structural nodes have hand-written backward rules: gather is a
//! scatter-add, broadcast a sum-reduce, `@` two products, the multivariate densities use
//! ppl-dist's gradients.

use num_dual::Dual64;
use ppl_dist::DistKind;
use ppl_syntax::Span;

use super::array::{Array, BroadcastPlan};
use super::functions::{BinaryFn, UnaryFn};

/// Index of a node in the tape.
pub(crate) type NodeId = usize;

/// What a node computes from earlier nodes.
#[derive(Clone)]
pub(crate) enum Op {
    /// Values fixed when the tape was built (data, and subexpressions of data only).
    Constant,
    /// A `net` applied to each row of `input` (`[.., in]` → `[.., out]`), its weights read from
    /// `weights` (an input node written from the position): one gemm per layer forward, and
    /// `ppl_nn::Mlp::backward` in reverse.
    NetCall {
        weights: NodeId,
        input: NodeId,
        node: Box<super::net::NetNode>,
    },
    /// The constrained value of a sampled unknown; written by the tape before the forward pass.
    Input,
    Unary {
        function: UnaryFn,
        arg: NodeId,
        derivative: Vec<f64>,
    },
    Binary {
        function: BinaryFn,
        lhs: NodeId,
        rhs: NodeId,
        read_lhs: BroadcastPlan,
        read_rhs: BroadcastPlan,
        partial_lhs: Vec<f64>,
        partial_rhs: Vec<f64>,
    },
    /// Elementwise `if cond then a else b`; no gradient flows into the condition.
    Select {
        cond: NodeId,
        then: NodeId,
        otherwise: NodeId,
        read_cond: BroadcastPlan,
        read_then: BroadcastPlan,
        read_otherwise: BroadcastPlan,
    },
    /// `lhs` as rows × inner, `rhs` as inner × columns (vectors as one row or one column).
    MatMul {
        lhs: NodeId,
        rhs: NodeId,
        rows: usize,
        inner: usize,
        columns: usize,
    },
    /// Output element `i` is element `table[i]` of `source` (indexing, transposes, broadcasts).
    Gather {
        source: NodeId,
        table: Vec<usize>,
    },
    /// Output element `i` is element `table[i].1` of node `table[i].0` (stacking, binding).
    Assemble {
        table: Vec<(NodeId, usize)>,
    },
    /// A first-order linear recursion, `x[i] = a[i] + b[i] x[i - 1]` for i = 0..len, with
    /// `x[-1]` element `initial.1` of node `initial.0`; `a` and `b` hold one value per step, or
    /// one value for every step (`a_scalar`, `b_scalar`). The pieces of a recursive `let` that
    /// are affine in the previous element (ARMA errors, GARCH variances) become one such node:
    /// one tight loop forward and one backward, whatever the number of steps.
    LinearScan {
        initial: (NodeId, usize),
        a: NodeId,
        b: NodeId,
        a_scalar: bool,
        b_scalar: bool,
    },
    /// Output element `groups[i]` sums input element `i` (sum, rowsum, colsum).
    SumGroups {
        arg: NodeId,
        groups: Vec<usize>,
    },
    /// A builtin with its own reverse rule (`super::builtins`): `arrays` and `gradients` hold
    /// one copy of each argument's values and gradient, reused on every pass.
    Call {
        function: ppl_ir::Builtin,
        args: Vec<NodeId>,
        arrays: Vec<Array<f64>>,
        gradients: Vec<Vec<f64>>,
    },
    LogSumExp {
        arg: NodeId,
    },
    /// `Σ log p` of a scalar distribution over a broadcast batch of `count` elements: one node
    /// with one tight loop. `inputs[0]` is the variate; `partials[k]` holds ∂/∂input k per element
    /// (empty for inputs that need no gradient).
    ScalarDensity {
        kind: DistKind,
        inputs: Vec<NodeId>,
        plans: Vec<BroadcastPlan>,
        count: usize,
        partials: Vec<Vec<f64>>,
        /// One log density per batch element instead of their sum (the terms of a
        /// marginalised discrete latent, summed per element over its states).
        elementwise: bool,
    },
    /// `logpdf` / `logcdf` / `logccdf` of a scalar distribution, elementwise over `count`
    /// broadcast elements; `inputs[0]` is the variate. `partials[k]` holds ∂/∂input k per element
    /// (empty for inputs that need no gradient), each from one dual evaluation.
    DistFunction {
        function: ppl_ir::DistFunction,
        kind: DistKind,
        inputs: Vec<NodeId>,
        plans: Vec<BroadcastPlan>,
        count: usize,
        partials: Vec<Vec<f64>>,
        /// One element's inputs.
        point: Vec<f64>,
    },
    /// `Σ log p` of a multivariate distribution over a batch: `plans[k]` maps a batch element to
    /// the event index of input k, whose events have `event_lens[k]` elements.
    EventDensity {
        kind: DistKind,
        inputs: Vec<NodeId>,
        plans: Vec<BroadcastPlan>,
        event_lens: Vec<usize>,
        count: usize,
        /// Per-input scratch for one event's values and gradient.
        scratch_values: Vec<Vec<f64>>,
        scratch_gradients: Vec<Vec<f64>>,
        /// One log density per batch element instead of their sum.
        elementwise: bool,
    },
    /// `log Categorical(k_i | p_i)` per element for known categories: element `i` is the log of
    /// element `picks[i]` of `probs` (`usize::MAX` for a category out of range, -inf), whose
    /// row of `events` values starting at `rows[i]` must be a simplex (else -inf, as the
    /// density). The terms of a summed-out latent fix its value per state, so each element's
    /// density is one logarithm, with the simplex checked once per distinct row.
    CategoricalPick {
        probs: NodeId,
        picks: Vec<usize>,
        rows: Vec<usize>,
        events: usize,
        /// Whether each row (by `rows[i] / events`) is a simplex at the last forward pass.
        valid: Vec<bool>,
    },
    /// Output element `k` (one per state of a summed-out scalar) is the sum of the input
    /// elements `i` with `first_state[i] <= k`: a bucket per state, then a running sum, so the
    /// log-potentials of every state of a change point cost O(elements + states), not their
    /// product. An element with `first_state[i]` at or past the output length adds nothing.
    ThresholdSums {
        arg: NodeId,
        first_state: Vec<usize>,
    },
    /// The forward algorithm of a first-order chain (the log of the sum over every path of
    /// initial + transition + emission log-potentials) by the scaled recursion in probability space: one exponential per log-potential read, one
    /// logarithm per step, no logarithm or exponential in the reverse pass, which is the
    /// scaled backward recursion (`super::summed`). `transitions` holds a node per ordered pair
    /// `from * states + to` with one value per step 2..=steps, or, for a time-homogeneous chain
    /// (`homogeneous`), one node of states² values read at every step.
    ChainForward {
        initial: Vec<NodeId>,
        transitions: Vec<NodeId>,
        homogeneous: bool,
        emissions: Vec<NodeId>,
        work: Box<super::summed::ChainWork>,
    },
    /// `Σ_i log Σ_k exp(potential_k[i])` of a discrete latent summed out per element, with each
    /// state's potential assembled inside the node from its parts (elementwise scalar densities
    /// evaluated here, categorical picks, or other nodes' values): no node per part and state
    /// on the log density's path. Reverse rule: each part's partials weighted by the state's
    /// responsibility.
    SummedPlate {
        plate: super::summed::PlateWork,
    },
    /// `Σ log p(y | a + X b [, s])` of a GLM over a data design matrix in one pass (see
    /// `super::glm`).
    Glm(Box<super::glm::GlmNode>),
}

/// Reads node `id`'s values from the part of the buffer before the node being computed.
macro_rules! slice {
    ($buffer:expr, $nodes:expr, $id:expr) => {{
        let node = &$nodes[$id];
        &$buffer[node.start..node.start + node.len]
    }};
}

/// Runs node `index` forward. `before` holds the values of every earlier node, `output` this
/// node's values. With `with_partials`, the local partials for the reverse pass are stored too.
pub(crate) fn forward_node(
    op: &mut Op,
    nodes: &[NodeInfo],
    before: &[f64],
    output: &mut [f64],
    with_partials: bool,
) {
    match op {
        Op::Constant | Op::Input => {}
        Op::NetCall {
            weights,
            input,
            node,
        } => {
            let w = slice!(before, nodes, *weights);
            let x = slice!(before, nodes, *input);
            node.forward(w, x, output, with_partials);
        }
        Op::Unary {
            function,
            arg,
            derivative,
        } => {
            let x = slice!(before, nodes, *arg);
            if with_partials {
                for ((out, d), &v) in output.iter_mut().zip(derivative.iter_mut()).zip(x) {
                    (*out, *d) = function.value_and_derivative(v);
                }
            } else {
                for (out, &v) in output.iter_mut().zip(x) {
                    *out = function.apply(v);
                }
            }
        }
        Op::Binary {
            function,
            lhs,
            rhs,
            read_lhs,
            read_rhs,
            partial_lhs,
            partial_rhs,
        } => {
            let a = slice!(before, nodes, *lhs);
            let b = slice!(before, nodes, *rhs);
            match (*function, &*read_lhs, &*read_rhs, with_partials) {
                // The common cases get loops the compiler can vectorise.
                (BinaryFn::Add, BroadcastPlan::Identity, BroadcastPlan::Identity, false) => {
                    for ((out, x), y) in output.iter_mut().zip(a).zip(b) {
                        *out = x + y;
                    }
                }
                (BinaryFn::Mul, BroadcastPlan::Scalar, BroadcastPlan::Identity, false) => {
                    let x = a[0];
                    for (out, y) in output.iter_mut().zip(b) {
                        *out = x * y;
                    }
                }
                (_, _, _, true) => {
                    for (i, out) in output.iter_mut().enumerate() {
                        let (value, da, db) =
                            function.value_and_partials(a[read_lhs.at(i)], b[read_rhs.at(i)]);
                        *out = value;
                        if let Some(slot) = partial_lhs.get_mut(i) {
                            *slot = da;
                        }
                        if let Some(slot) = partial_rhs.get_mut(i) {
                            *slot = db;
                        }
                    }
                }
                (_, _, _, false) => {
                    for (i, out) in output.iter_mut().enumerate() {
                        *out = function.apply(a[read_lhs.at(i)], b[read_rhs.at(i)]);
                    }
                }
            }
        }
        Op::Select {
            cond,
            then,
            otherwise,
            read_cond,
            read_then,
            read_otherwise,
        } => {
            let c = slice!(before, nodes, *cond);
            let a = slice!(before, nodes, *then);
            let b = slice!(before, nodes, *otherwise);
            for (i, out) in output.iter_mut().enumerate() {
                *out = if c[read_cond.at(i)] != 0.0 {
                    a[read_then.at(i)]
                } else {
                    b[read_otherwise.at(i)]
                };
            }
        }
        Op::MatMul {
            lhs,
            rhs,
            rows,
            inner,
            columns,
        } => {
            let a = slice!(before, nodes, *lhs);
            let b = slice!(before, nodes, *rhs);
            if *columns == 1 {
                for (i, out) in output.iter_mut().enumerate() {
                    *out = dot(&a[i * *inner..(i + 1) * *inner], b);
                }
            } else {
                output.fill(0.0);
                for i in 0..*rows {
                    let out_row = &mut output[i * *columns..(i + 1) * *columns];
                    for k in 0..*inner {
                        let left = a[i * *inner + k];
                        let b_row = &b[k * *columns..(k + 1) * *columns];
                        for (out, right) in out_row.iter_mut().zip(b_row) {
                            *out += left * right;
                        }
                    }
                }
            }
        }
        Op::Gather { source, table } => {
            let x = slice!(before, nodes, *source);
            for (out, &from) in output.iter_mut().zip(table.iter()) {
                *out = x[from];
            }
        }
        Op::Assemble { table } => {
            for (out, &(node, element)) in output.iter_mut().zip(table.iter()) {
                *out = before[nodes[node].start + element];
            }
        }
        Op::LinearScan {
            initial,
            a,
            b,
            a_scalar,
            b_scalar,
        } => {
            let a_values = slice!(before, nodes, *a);
            let b_values = slice!(before, nodes, *b);
            let mut previous = before[nodes[initial.0].start + initial.1];
            for (i, out) in output.iter_mut().enumerate() {
                let a_i = a_values[if *a_scalar { 0 } else { i }];
                let b_i = b_values[if *b_scalar { 0 } else { i }];
                previous = a_i + b_i * previous;
                *out = previous;
            }
        }
        Op::SumGroups { arg, groups } => {
            let x = slice!(before, nodes, *arg);
            output.fill(0.0);
            if output.len() == 1 {
                output[0] = x.iter().sum();
            } else {
                for (&v, &group) in x.iter().zip(groups.iter()) {
                    output[group] += v;
                }
            }
        }
        Op::Call {
            function,
            args,
            arrays,
            ..
        } => {
            for (array, &id) in arrays.iter_mut().zip(args.iter()) {
                array.values.copy_from_slice(slice!(before, nodes, id));
            }
            match super::builtins::call_builtin(*function, arrays, Span::default()) {
                Ok(value) if value.len() == output.len() => output.copy_from_slice(&value.values),
                _ => output.fill(f64::NAN),
            }
        }
        Op::LogSumExp { arg } => {
            output[0] = ppl_dist::special::log_sum_exp(slice!(before, nodes, *arg));
        }
        Op::ScalarDensity {
            kind,
            inputs,
            plans,
            count,
            partials,
            elementwise,
        } => {
            let total = scalar_density_forward(
                *kind,
                inputs,
                plans,
                *count,
                partials,
                nodes,
                before,
                with_partials,
                if *elementwise {
                    Some(&mut *output)
                } else {
                    None
                },
            );
            if !*elementwise {
                output[0] = total;
            }
        }
        Op::DistFunction {
            function,
            kind,
            inputs,
            plans,
            count,
            partials,
            point,
        } => {
            for (element, out) in output.iter_mut().enumerate().take(*count) {
                for (k, &id) in inputs.iter().enumerate() {
                    point[k] = slice!(before, nodes, id)[plans[k].at(element)];
                }
                let (variate, params) = point.split_first().expect("a variate");
                *out = super::eval::dist_function_value(*function, *kind, *variate, params);
                if !with_partials {
                    continue;
                }
                for (k, partial) in partials.iter_mut().enumerate() {
                    if partial.is_empty() {
                        continue;
                    }
                    // A fixed-size dual point: every kind here has at most three parameters.
                    let mut dual = [Dual64::from(0.0); 4];
                    for (slot, &value) in dual.iter_mut().zip(point.iter()) {
                        *slot = Dual64::from(value);
                    }
                    dual[k] = Dual64::new(point[k], 1.0);
                    let used = &dual[..point.len()];
                    let value =
                        super::eval::dist_function_value(*function, *kind, used[0], &used[1..]);
                    partial[element] = value.eps;
                }
            }
        }
        Op::EventDensity {
            kind,
            inputs,
            plans,
            event_lens,
            count,
            scratch_values,
            elementwise,
            ..
        } => {
            let mut total = 0.0;
            // The output is one element per batch element, or one sum.
            #[allow(clippy::needless_range_loop)]
            for element in 0..*count {
                fill_event(
                    inputs,
                    plans,
                    event_lens,
                    element,
                    nodes,
                    before,
                    scratch_values,
                );
                let (variate, params) = scratch_values.split_first().expect("a variate");
                let refs = event_params(params);
                let value = ppl_dist::event_log_density(*kind, variate, &refs[..params.len()])
                    .unwrap_or(f64::NAN);
                if *elementwise {
                    output[element] = value;
                }
                total += value;
            }
            if !*elementwise {
                output[0] = total;
            }
        }
        Op::CategoricalPick {
            probs,
            picks,
            rows,
            events,
            valid,
        } => {
            let p = slice!(before, nodes, *probs);
            for (r, ok) in valid.iter_mut().enumerate() {
                let row = &p[r * *events..(r + 1) * *events];
                let sum: f64 = row.iter().sum();
                *ok = row.iter().all(|v| (0.0..=1.0).contains(v))
                    && (sum - 1.0).abs() <= ppl_dist::density::CONSTRAINT_TOLERANCE;
            }
            for ((out, &pick), &row) in output.iter_mut().zip(picks.iter()).zip(rows.iter()) {
                *out = if pick != usize::MAX && valid[row / *events] {
                    p[pick].ln()
                } else {
                    f64::NEG_INFINITY
                };
            }
        }
        Op::ThresholdSums { arg, first_state } => {
            let x = slice!(before, nodes, *arg);
            output.fill(0.0);
            for (&value, &state) in x.iter().zip(first_state.iter()) {
                if let Some(slot) = output.get_mut(state) {
                    *slot += value;
                }
            }
            let mut running = 0.0;
            for out in output.iter_mut() {
                running += *out;
                *out = running;
            }
        }
        Op::ChainForward {
            initial,
            transitions,
            homogeneous,
            emissions,
            work,
        } => {
            output[0] = work.forward(
                initial,
                transitions,
                *homogeneous,
                emissions,
                nodes,
                before,
                with_partials,
            );
        }
        Op::SummedPlate { plate } => {
            output[0] = plate.forward(nodes, before, with_partials);
        }
        Op::Glm(node) => {
            output[0] = node.forward(nodes, before, with_partials);
        }
    }
}

/// Copies one batch element's events of every input into the scratch buffers.
fn fill_event(
    inputs: &[NodeId],
    plans: &[BroadcastPlan],
    event_lens: &[usize],
    element: usize,
    nodes: &[NodeInfo],
    values: &[f64],
    scratch: &mut [Vec<f64>],
) {
    for (k, &input) in inputs.iter().enumerate() {
        let start = nodes[input].start + plans[k].at(element) * event_lens[k];
        scratch[k].copy_from_slice(&values[start..start + event_lens[k]]);
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn scalar_density_forward(
    kind: DistKind,
    inputs: &[NodeId],
    plans: &[BroadcastPlan],
    count: usize,
    partials: &mut [Vec<f64>],
    nodes: &[NodeInfo],
    before: &[f64],
    with_partials: bool,
    mut elements: Option<&mut [f64]>,
) -> f64 {
    // Scalar kinds have at most three parameters: fixed-size arrays, no allocation.
    let mut data: [&[f64]; 4] = [&[]; 4];
    let mut wants = [false; 4];
    for (k, &id) in inputs.iter().enumerate() {
        data[k] = slice!(before, nodes, id);
        wants[k] = !partials[k].is_empty();
    }
    let mut total = 0.0;
    if kind == DistKind::Normal {
        // The workhorse gets closed-form partials: with z = (x - mu) / sigma,
        // ∂/∂x = -z/sigma, ∂/∂mu = z/sigma, ∂/∂sigma = (z² - 1)/sigma.
        let (x, mu, sigma) = (data[0], data[1], data[2]);
        let (px, pm, ps) = (&plans[0], &plans[1], &plans[2]);
        let (mut last_sigma, mut inverse, mut log_sigma) = (f64::NAN, f64::NAN, f64::NAN);
        for i in 0..count {
            let s = sigma[ps.at(i)];
            if s <= 0.0 {
                let value = if s.is_nan() {
                    f64::NAN
                } else {
                    f64::NEG_INFINITY
                };
                total += value;
                if let Some(elements) = elements.as_deref_mut() {
                    elements[i] = value;
                }
                continue;
            }
            // A shared sigma (a scalar, or gathered from few components) repeats: reuse its
            // reciprocal and logarithm.
            if s != last_sigma {
                last_sigma = s;
                inverse = 1.0 / s;
                log_sigma = s.ln();
            }
            let z = (x[px.at(i)] - mu[pm.at(i)]) * inverse;
            total += -0.5 * z * z - log_sigma;
            if let Some(elements) = elements.as_deref_mut() {
                elements[i] = -0.5 * z * z - log_sigma - ppl_dist::special::LN_SQRT_2PI;
            }
            if with_partials {
                let slope = z * inverse;
                if wants[0] {
                    partials[0][i] = -slope;
                }
                if wants[1] {
                    partials[1][i] = slope;
                }
                if wants[2] {
                    partials[2][i] = (z * z - 1.0) * inverse;
                }
            }
        }
        return total - count as f64 * ppl_dist::special::LN_SQRT_2PI;
    }
    if let Some(kernel) = glm_kernel(kind) {
        // Bernoulli and Poisson likelihoods of GLMs: closed-form partials, a few flops per point
        // instead of a dual evaluation. The variate is data (an int) and gets no partial.
        let (x, eta) = (data[0], data[1]);
        let (px, pe) = (&plans[0], &plans[1]);
        for i in 0..count {
            let (value, slope) = kernel(x[px.at(i)], eta[pe.at(i)]);
            total += value;
            if let Some(elements) = elements.as_deref_mut() {
                elements[i] = value;
            }
            if with_partials {
                if wants[0] {
                    partials[0][i] = 0.0;
                }
                if wants[1] {
                    partials[1][i] = slope;
                }
            }
        }
        return total;
    }
    let params_count = inputs.len() - 1;
    let mut params = [0.0; 3];
    let mut gradient = [0.0; 3];
    for i in 0..count {
        let x = data[0][plans[0].at(i)];
        for k in 0..params_count {
            params[k] = data[k + 1][plans[k + 1].at(i)];
        }
        if with_partials {
            let mut gradient_x = 0.0;
            gradient[..params_count].fill(0.0);
            let value = ppl_dist::scalar_log_density_gradient(
                kind,
                x,
                &params[..params_count],
                &mut gradient_x,
                &mut gradient[..params_count],
            );
            total += value;
            if let Some(elements) = elements.as_deref_mut() {
                elements[i] = value;
            }
            if wants[0] {
                partials[0][i] = gradient_x;
            }
            for k in 0..params_count {
                if wants[k + 1] {
                    partials[k + 1][i] = gradient[k];
                }
            }
        } else {
            let value = ppl_dist::scalar_log_density(kind, x, &params[..params_count]);
            total += value;
            if let Some(elements) = elements.as_deref_mut() {
                elements[i] = value;
            }
        }
    }
    total
}

/// A dot product with four running sums, which the compiler can vectorise (one running sum must
/// keep the additions in order and cannot).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut sums = [0.0; 4];
    let chunks = a.len() / 4;
    for c in 0..chunks {
        for lane in 0..4 {
            sums[lane] += a[4 * c + lane] * b[4 * c + lane];
        }
    }
    let mut total = (sums[0] + sums[1]) + (sums[2] + sums[3]);
    for i in 4 * chunks..a.len().min(b.len()) {
        total += a[i] * b[i];
    }
    total
}

/// `ln y!` for a count: a table of the same `ln_gamma` values for small counts (the
/// likelihoods of a summed-out latent evaluate the same counts once per state).
fn ln_factorial(y: f64) -> f64 {
    const TABULATED: usize = 1024;
    static TABLE: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    if y >= 0.0 && y < TABULATED as f64 && y.fract() == 0.0 {
        let table = TABLE.get_or_init(|| {
            (0..TABULATED)
                .map(|k| ppl_dist::special::ln_gamma(k as f64 + 1.0))
                .collect()
        });
        if let Some(&value) = table.get(y as usize) {
            return value;
        }
    }
    ppl_dist::special::ln_gamma(y + 1.0)
}

/// `(y, eta) -> (log p(y | eta), d/d eta)`.
type GlmKernel = fn(f64, f64) -> (f64, f64);

/// The one-parameter discrete likelihoods with closed-form log density and derivative in their
/// parameter: `(log p(y | eta), d/d eta)`. Outside the support the value is -inf (slope 0).
fn glm_kernel(kind: DistKind) -> Option<GlmKernel> {
    fn bernoulli_logit(y: f64, eta: f64) -> (f64, f64) {
        if y != 0.0 && y != 1.0 || eta.is_nan() {
            return (
                if eta.is_nan() {
                    f64::NAN
                } else {
                    f64::NEG_INFINITY
                },
                0.0,
            );
        }
        // log p = y * eta - log(1 + e^eta); d/d eta = y - sigmoid(eta). One exponential serves
        // both, taken of -|eta| so that it never overflows.
        let small = (-eta.abs()).exp();
        let log1p_exp = eta.max(0.0) + small.ln_1p();
        let sigmoid = if eta >= 0.0 {
            1.0 / (1.0 + small)
        } else {
            small / (1.0 + small)
        };
        (y * eta - log1p_exp, y - sigmoid)
    }
    fn bernoulli(y: f64, p: f64) -> (f64, f64) {
        if !(0.0..=1.0).contains(&p) || (y != 0.0 && y != 1.0) {
            return (f64::NEG_INFINITY, 0.0);
        }
        if y == 1.0 {
            (p.ln(), 1.0 / p)
        } else {
            ((-p).ln_1p(), -1.0 / (1.0 - p))
        }
    }
    fn poisson_log(y: f64, eta: f64) -> (f64, f64) {
        if y < 0.0 || y.fract() != 0.0 {
            return (f64::NEG_INFINITY, 0.0);
        }
        let rate = eta.exp();
        (y * eta - rate - ln_factorial(y), y - rate)
    }
    fn poisson(y: f64, rate: f64) -> (f64, f64) {
        if y < 0.0 || y.fract() != 0.0 || rate.is_nan() || rate < 0.0 {
            return (
                if rate.is_nan() {
                    f64::NAN
                } else {
                    f64::NEG_INFINITY
                },
                0.0,
            );
        }
        if rate == 0.0 {
            return if y == 0.0 {
                (0.0, -1.0)
            } else {
                (f64::NEG_INFINITY, 0.0)
            };
        }
        (y * rate.ln() - rate - ln_factorial(y), y / rate - 1.0)
    }
    match kind {
        DistKind::BernoulliLogit => Some(bernoulli_logit),
        DistKind::Bernoulli => Some(bernoulli),
        DistKind::PoissonLog => Some(poisson_log),
        DistKind::Poisson => Some(poisson),
        _ => None,
    }
}

/// What the passes need to know of other nodes: where their values live and whether they carry
/// gradients.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NodeInfo {
    pub start: usize,
    pub len: usize,
    pub needs_gradient: bool,
}

/// Propagates node `op`'s adjoint (`adjoint`) into the adjoints of its inputs (`before_adjoints`),
/// using the values of earlier nodes (`before_values`) and its own (`own_values`).
pub(crate) fn backward_node(
    op: &mut Op,
    nodes: &[NodeInfo],
    before_values: &[f64],
    own_values: &[f64],
    adjoint: &[f64],
    before_adjoints: &mut [f64],
) {
    let wants = |id: NodeId| nodes[id].needs_gradient;
    match op {
        Op::Constant | Op::Input => {}
        Op::NetCall {
            weights,
            input,
            node,
        } => {
            let input_adjoint = if wants(*input) {
                let start = nodes[*input].start;
                Some(&mut before_adjoints[start..start + nodes[*input].len])
            } else {
                None
            };
            node.backward(adjoint, input_adjoint);
            let start = nodes[*weights].start;
            let target = &mut before_adjoints[start..start + nodes[*weights].len];
            for (t, g) in target.iter_mut().zip(&node.parameter_gradient) {
                *t += g;
            }
        }
        Op::Unary {
            arg, derivative, ..
        } => {
            if wants(*arg) {
                let start = nodes[*arg].start;
                let target = &mut before_adjoints[start..start + adjoint.len()];
                for ((t, a), d) in target.iter_mut().zip(adjoint).zip(derivative.iter()) {
                    *t += a * d;
                }
            }
        }
        Op::Binary {
            lhs,
            rhs,
            read_lhs,
            read_rhs,
            partial_lhs,
            partial_rhs,
            ..
        } => {
            for (id, plan, partial) in [
                (*lhs, &*read_lhs, &*partial_lhs),
                (*rhs, &*read_rhs, &*partial_rhs),
            ] {
                if !wants(id) {
                    continue;
                }
                let start = nodes[id].start;
                match plan {
                    BroadcastPlan::Identity => {
                        let target = &mut before_adjoints[start..start + adjoint.len()];
                        for ((t, a), p) in target.iter_mut().zip(adjoint).zip(partial) {
                            *t += a * p;
                        }
                    }
                    _ => {
                        for (i, (a, p)) in adjoint.iter().zip(partial).enumerate() {
                            before_adjoints[start + plan.at(i)] += a * p;
                        }
                    }
                }
            }
        }
        Op::Select {
            cond,
            then,
            otherwise,
            read_cond,
            read_then,
            read_otherwise,
        } => {
            let c_start = nodes[*cond].start;
            for (i, a) in adjoint.iter().enumerate() {
                let chosen = before_values[c_start + read_cond.at(i)] != 0.0;
                let (id, plan) = if chosen {
                    (*then, &*read_then)
                } else {
                    (*otherwise, &*read_otherwise)
                };
                if wants(id) {
                    before_adjoints[nodes[id].start + plan.at(i)] += a;
                }
            }
        }
        Op::MatMul {
            lhs,
            rhs,
            rows,
            inner,
            columns,
        } => {
            let (rows, inner, columns) = (*rows, *inner, *columns);
            let a_start = nodes[*lhs].start;
            let b_start = nodes[*rhs].start;
            if wants(*lhs) && columns == 1 {
                // Ā = c̄ bᵀ, row by row.
                let b = &before_values[b_start..b_start + inner];
                for (i, &scale) in adjoint.iter().enumerate().take(rows) {
                    let target =
                        &mut before_adjoints[a_start + i * inner..a_start + (i + 1) * inner];
                    for (t, v) in target.iter_mut().zip(b) {
                        *t += scale * v;
                    }
                }
            } else if wants(*lhs) {
                // Ā = C̄ Bᵀ
                for i in 0..rows {
                    for k in 0..inner {
                        let mut sum = 0.0;
                        for j in 0..columns {
                            sum +=
                                adjoint[i * columns + j] * before_values[b_start + k * columns + j];
                        }
                        before_adjoints[a_start + i * inner + k] += sum;
                    }
                }
            }
            if wants(*rhs) && columns == 1 {
                // b̄ = Aᵀ c̄, row by row as axpy updates.
                let target = &mut before_adjoints[b_start..b_start + inner];
                for (i, &scale) in adjoint.iter().enumerate().take(rows) {
                    let row = &before_values[a_start + i * inner..a_start + (i + 1) * inner];
                    for (t, a) in target.iter_mut().zip(row) {
                        *t += a * scale;
                    }
                }
            } else if wants(*rhs) {
                // B̄ = Aᵀ C̄
                for i in 0..rows {
                    for k in 0..inner {
                        let left = before_values[a_start + i * inner + k];
                        for j in 0..columns {
                            before_adjoints[b_start + k * columns + j] +=
                                left * adjoint[i * columns + j];
                        }
                    }
                }
            }
        }
        Op::Gather { source, table } => {
            if wants(*source) {
                let start = nodes[*source].start;
                for (a, &from) in adjoint.iter().zip(table.iter()) {
                    before_adjoints[start + from] += a;
                }
            }
        }
        Op::Assemble { table } => {
            for (a, &(node, element)) in adjoint.iter().zip(table.iter()) {
                if wants(node) {
                    before_adjoints[nodes[node].start + element] += a;
                }
            }
        }
        Op::LinearScan {
            initial,
            a,
            b,
            a_scalar,
            b_scalar,
        } => {
            // λ[i] = ∂L/∂x[i] with every later step's dependence on x[i] folded in:
            // λ[i] = adjoint[i] + b[i + 1] λ[i + 1]; then ∂a[i] = λ[i], ∂b[i] = λ[i] x[i - 1],
            // and the initial element receives b[0] λ[0].
            let b_start = nodes[*b].start;
            let a_start = nodes[*a].start;
            let initial_at = nodes[initial.0].start + initial.1;
            let initial_value = before_values[initial_at];
            let (wants_a, wants_b) = (wants(*a), wants(*b));
            let mut carried = 0.0;
            for i in (0..adjoint.len()).rev() {
                let lambda = adjoint[i] + carried;
                let b_i = before_values[b_start + if *b_scalar { 0 } else { i }];
                if wants_a {
                    before_adjoints[a_start + if *a_scalar { 0 } else { i }] += lambda;
                }
                if wants_b {
                    let previous = if i == 0 {
                        initial_value
                    } else {
                        own_values[i - 1]
                    };
                    before_adjoints[b_start + if *b_scalar { 0 } else { i }] += lambda * previous;
                }
                carried = lambda * b_i;
            }
            if wants(initial.0) {
                before_adjoints[initial_at] += carried;
            }
        }
        Op::SumGroups { arg, groups } => {
            if wants(*arg) {
                let start = nodes[*arg].start;
                let len = nodes[*arg].len;
                let target = &mut before_adjoints[start..start + len];
                if adjoint.len() == 1 {
                    for t in target.iter_mut() {
                        *t += adjoint[0];
                    }
                } else {
                    for (t, &group) in target.iter_mut().zip(groups.iter()) {
                        *t += adjoint[group];
                    }
                }
            }
        }
        Op::Call {
            function,
            args,
            arrays,
            gradients,
        } => {
            for (array, &id) in arrays.iter_mut().zip(args.iter()) {
                array
                    .values
                    .copy_from_slice(slice!(before_values, nodes, id));
            }
            for gradient in gradients.iter_mut() {
                gradient.fill(0.0);
            }
            super::builtins::reverse_call(*function, arrays, own_values, adjoint, gradients);
            for (gradient, &id) in gradients.iter().zip(args.iter()) {
                if wants(id) {
                    let start = nodes[id].start;
                    for (target, g) in before_adjoints[start..start + gradient.len()]
                        .iter_mut()
                        .zip(gradient)
                    {
                        *target += g;
                    }
                }
            }
        }
        Op::LogSumExp { arg } => {
            if wants(*arg) {
                let start = nodes[*arg].start;
                let total = own_values[0];
                for i in 0..nodes[*arg].len {
                    before_adjoints[start + i] +=
                        adjoint[0] * (before_values[start + i] - total).exp();
                }
            }
        }
        Op::DistFunction {
            inputs,
            plans,
            count,
            partials,
            ..
        } => {
            for ((&id, plan), partial) in inputs.iter().zip(plans.iter()).zip(partials.iter()) {
                if partial.is_empty() || !wants(id) {
                    continue;
                }
                let start = nodes[id].start;
                for element in 0..*count {
                    before_adjoints[start + plan.at(element)] +=
                        adjoint[element] * partial[element];
                }
            }
        }
        Op::CategoricalPick {
            probs,
            picks,
            rows,
            events,
            valid,
        } => {
            if wants(*probs) {
                let start = nodes[*probs].start;
                for ((a, &pick), &row) in adjoint.iter().zip(picks.iter()).zip(rows.iter()) {
                    if pick == usize::MAX || !valid[row / *events] {
                        continue;
                    }
                    let p = before_values[start + pick];
                    if p > 0.0 {
                        before_adjoints[start + pick] += a / p;
                    }
                }
            }
        }
        Op::ThresholdSums { arg, first_state } => {
            if wants(*arg) {
                // x̄_i = Σ_{k ≥ first_state[i]} ȳ_k: suffix sums of the output's adjoint.
                let mut suffix = vec![0.0; adjoint.len() + 1];
                for k in (0..adjoint.len()).rev() {
                    suffix[k] = suffix[k + 1] + adjoint[k];
                }
                let start = nodes[*arg].start;
                for (i, &state) in first_state.iter().enumerate() {
                    before_adjoints[start + i] += suffix[state.min(adjoint.len())];
                }
            }
        }
        Op::ChainForward {
            initial,
            transitions,
            homogeneous,
            emissions,
            work,
        } => work.backward(
            initial,
            transitions,
            *homogeneous,
            emissions,
            nodes,
            adjoint[0],
            before_adjoints,
        ),
        Op::SummedPlate { plate } => {
            plate.backward(nodes, before_values, adjoint[0], before_adjoints)
        }
        Op::Glm(node) => node.backward(nodes, adjoint[0], before_adjoints),
        Op::ScalarDensity {
            inputs,
            plans,
            count,
            partials,
            elementwise,
            ..
        } => {
            if *elementwise {
                for ((&id, plan), partial) in inputs.iter().zip(plans.iter()).zip(partials.iter()) {
                    if partial.is_empty() {
                        continue;
                    }
                    let start = nodes[id].start;
                    for (i, (p, a)) in partial.iter().zip(adjoint).enumerate() {
                        before_adjoints[start + plan.at(i)] += a * p;
                    }
                }
                return;
            }
            let scale = adjoint[0];
            for ((&id, plan), partial) in inputs.iter().zip(plans.iter()).zip(partials.iter()) {
                if partial.is_empty() {
                    continue;
                }
                let start = nodes[id].start;
                match plan {
                    BroadcastPlan::Identity => {
                        let target = &mut before_adjoints[start..start + *count];
                        for (t, p) in target.iter_mut().zip(partial) {
                            *t += scale * p;
                        }
                    }
                    BroadcastPlan::Scalar => {
                        before_adjoints[start] += scale * partial.iter().sum::<f64>();
                    }
                    BroadcastPlan::Table(table) => {
                        for (&from, p) in table.iter().zip(partial) {
                            before_adjoints[start + from] += scale * p;
                        }
                    }
                }
            }
        }
        Op::EventDensity {
            kind,
            inputs,
            plans,
            event_lens,
            count,
            scratch_values,
            scratch_gradients,
            elementwise,
            ..
        } => {
            for element in 0..*count {
                let scale = if *elementwise {
                    adjoint[element]
                } else {
                    adjoint[0]
                };
                fill_event(
                    inputs,
                    plans,
                    event_lens,
                    element,
                    nodes,
                    before_values,
                    scratch_values,
                );
                for g in scratch_gradients.iter_mut() {
                    g.fill(0.0);
                }
                let (variate, params) = scratch_values.split_first().expect("a variate");
                let refs = event_params(params);
                let (variate_gradient, param_gradients) =
                    scratch_gradients.split_first_mut().expect("a variate");
                let count_params = param_gradients.len();
                let mut gradient_refs = event_gradients(param_gradients);
                let outcome = ppl_dist::event_log_density_gradient(
                    *kind,
                    variate,
                    &refs[..count_params],
                    variate_gradient,
                    &mut gradient_refs[..count_params],
                );
                if outcome.is_err() {
                    continue;
                }
                for (k, &id) in inputs.iter().enumerate() {
                    if !wants(id) {
                        continue;
                    }
                    let start = nodes[id].start + plans[k].at(element) * event_lens[k];
                    for (offset, g) in scratch_gradients[k].iter().enumerate() {
                        before_adjoints[start + offset] += scale * g;
                    }
                }
            }
        }
    }
}

/// One event's parameter slices as a fixed-size array (every event kind has at most two).
fn event_params(params: &[Vec<f64>]) -> [&[f64]; 2] {
    let mut refs: [&[f64]; 2] = [&[]; 2];
    for (slot, p) in refs.iter_mut().zip(params) {
        *slot = p;
    }
    refs
}

/// One event's parameter gradient buffers as a fixed-size array.
fn event_gradients(gradients: &mut [Vec<f64>]) -> [&mut [f64]; 2] {
    let mut iter = gradients.iter_mut();
    let first: &mut [f64] = iter.next().map_or(&mut [], |g| g.as_mut_slice());
    let second: &mut [f64] = iter.next().map_or(&mut [], |g| g.as_mut_slice());
    [first, second]
}
