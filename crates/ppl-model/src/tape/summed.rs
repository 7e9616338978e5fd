//! The fused nodes that sum a discrete latent out of the log density, with their work buffers:
//! a first-order chain by the scaled forward recursion (`Op::ChainForward`), and a plate by one
//! log-sum-exp per element over state potentials assembled inside the node (`Op::SummedPlate`).
//!
//! Both exist for speed: the per-state nodes they replace stay on the tape for recovery (read by
//! `Tape::summed_potentials` after a full pass), but the log density and its gradient only run
//! these nodes. The chain works in probability space, each potential shifted by its maximum so
//! that every factor is at most one, and each step's forward message normalised (Rabiner's
//! scaling); a step whose normaliser falls below `SMALLEST_SCALE` would lose precision, and that
//! evaluation is redone in log space. The reverse rules need only the marginals: the derivative
//! of log Z by a log-potential is that potential's posterior probability (a state, or a pair of
//! neighbouring states), which the scaled backward recursion gives with no logarithm.

use ppl_dist::DistKind;

use super::array::BroadcastPlan;
use super::graph::{NodeId, NodeInfo, scalar_density_forward};

/// A step's normaliser below this is redone in log space (the products inside it could have
/// reached the subnormal range).
const SMALLEST_SCALE: f64 = 1e-280;

/// Buffers of a chain's forward algorithm, allocated when the tape is built.
#[derive(Clone, Debug)]
pub(crate) struct ChainWork {
    states: usize,
    steps: usize,
    homogeneous: bool,
    log_initial: Vec<f64>,
    /// steps × states.
    log_emissions: Vec<f64>,
    /// One states × states block per step 2..=steps, or one block in all when homogeneous.
    log_transitions: Vec<f64>,
    emission_probabilities: Vec<f64>,
    transition_probabilities: Vec<f64>,
    initial_probabilities: Vec<f64>,
    /// Normalised forward messages (scaled), or log forward messages (log space), steps × states.
    alpha: Vec<f64>,
    beta: Vec<f64>,
    scales: Vec<f64>,
    /// P(z_t = k | all), steps × states, after a pass with marginals.
    posterior: Vec<f64>,
    /// P(z_{t-1} = j, z_t = k | all) per step 2..=steps as `log_transitions`, summed over the
    /// steps when homogeneous.
    pairs: Vec<f64>,
    scratch: Vec<f64>,
}

impl ChainWork {
    pub fn new(states: usize, steps: usize, homogeneous: bool) -> ChainWork {
        let blocks = if homogeneous {
            1
        } else {
            steps.saturating_sub(1)
        };
        let cells = steps * states;
        ChainWork {
            states,
            steps,
            homogeneous,
            log_initial: vec![0.0; states],
            log_emissions: vec![0.0; cells],
            log_transitions: vec![0.0; blocks * states * states],
            emission_probabilities: vec![0.0; cells],
            transition_probabilities: vec![0.0; blocks * states * states],
            initial_probabilities: vec![0.0; states],
            alpha: vec![0.0; cells],
            beta: vec![0.0; cells],
            scales: vec![0.0; steps],
            posterior: vec![0.0; cells],
            pairs: vec![0.0; blocks * states * states],
            scratch: vec![0.0; states],
        }
    }

    /// Reads the log-potentials from the value buffer and returns log Z (with the marginals for
    /// the reverse pass when `with_partials`).
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &mut self,
        initial: &[NodeId],
        transitions: &[NodeId],
        homogeneous: bool,
        emissions: &[NodeId],
        nodes: &[NodeInfo],
        values: &[f64],
        with_partials: bool,
    ) -> f64 {
        let states = self.states;
        let read = |id: NodeId| &values[nodes[id].start..nodes[id].start + nodes[id].len];
        for (slot, &node) in self.log_initial.iter_mut().zip(initial) {
            *slot = read(node).first().copied().unwrap_or(f64::NAN);
        }
        for (k, &node) in emissions.iter().enumerate() {
            for (t, &value) in read(node).iter().enumerate().take(self.steps) {
                self.log_emissions[t * states + k] = value;
            }
        }
        if homogeneous {
            if let Some(&node) = transitions.first() {
                for (slot, &value) in self.log_transitions.iter_mut().zip(read(node)) {
                    *slot = value;
                }
            }
        } else {
            let block = states * states;
            for (pair, &node) in transitions.iter().enumerate() {
                for (t, &value) in read(node).iter().enumerate() {
                    if let Some(slot) = self.log_transitions.get_mut(t * block + pair) {
                        *slot = value;
                    }
                }
            }
        }
        self.log_total(with_partials)
    }

    /// Adds the adjoint `scale` of log Z times each potential's marginal to the potentials'
    /// adjoints.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        initial: &[NodeId],
        transitions: &[NodeId],
        homogeneous: bool,
        emissions: &[NodeId],
        nodes: &[NodeInfo],
        scale: f64,
        adjoints: &mut [f64],
    ) {
        let states = self.states;
        let wants = |id: NodeId| nodes[id].needs_gradient;
        if self.steps == 0 {
            return;
        }
        for (k, &node) in initial.iter().enumerate() {
            if wants(node) {
                adjoints[nodes[node].start] += scale * self.posterior[k];
            }
        }
        for (k, &node) in emissions.iter().enumerate() {
            if !wants(node) {
                continue;
            }
            let start = nodes[node].start;
            for t in 0..self.steps.min(nodes[node].len) {
                adjoints[start + t] += scale * self.posterior[t * states + k];
            }
        }
        if homogeneous {
            if let Some(&node) = transitions.first()
                && wants(node)
            {
                let start = nodes[node].start;
                for (pair, &p) in self.pairs.iter().enumerate().take(nodes[node].len) {
                    adjoints[start + pair] += scale * p;
                }
            }
            return;
        }
        let block = states * states;
        for (pair, &node) in transitions.iter().enumerate() {
            if !wants(node) {
                continue;
            }
            let start = nodes[node].start;
            for t in 0..nodes[node].len.min(self.steps.saturating_sub(1)) {
                adjoints[start + t] += scale * self.pairs[t * block + pair];
            }
        }
    }

    /// log Z from the log-potentials in the buffers: scaled, or in log space when a step's
    /// normaliser underflows.
    pub fn log_total(&mut self, with_marginals: bool) -> f64 {
        if self.steps == 0 {
            return 0.0;
        }
        match self.scaled(with_marginals) {
            Some(value) => value,
            None => self.in_log_space(with_marginals),
        }
    }

    /// The transition block into step `t` (1-based steps 2..: `t` ≥ 1, 0-based).
    fn block(&self, t: usize) -> usize {
        if self.homogeneous {
            0
        } else {
            (t - 1) * self.states * self.states
        }
    }

    /// The scaled recursion; `None` when a normaliser is too small to trust.
    fn scaled(&mut self, with_marginals: bool) -> Option<f64> {
        let (states, steps) = (self.states, self.steps);
        let mut shift = exp_shifted(&self.log_initial, &mut self.initial_probabilities);
        for (logs, probabilities) in self
            .log_emissions
            .chunks(states)
            .zip(self.emission_probabilities.chunks_mut(states))
        {
            shift += exp_shifted(logs, probabilities);
        }
        let block = states * states;
        let transition_shift = self
            .log_transitions
            .chunks(block)
            .zip(self.transition_probabilities.chunks_mut(block))
            .map(|(logs, probabilities)| exp_shifted(logs, probabilities))
            .sum::<f64>();
        shift += if self.homogeneous {
            transition_shift * (steps - 1) as f64
        } else {
            transition_shift
        };
        if !shift.is_finite() {
            // -inf: some step has no possible state (or no possible transition); NaN: a NaN
            // potential. Either way the sum is that.
            return Some(if shift.is_nan() { f64::NAN } else { shift });
        }
        // Forward: alpha_t ∝ (alpha_{t-1} A_t) ∘ e_t, normalised, the normaliser kept.
        let mut log_scales = 0.0;
        let mut product = 1.0;
        for t in 0..steps {
            let row = t * states;
            if t == 0 {
                for k in 0..states {
                    self.alpha[k] = self.initial_probabilities[k] * self.emission_probabilities[k];
                }
            } else {
                let a = self.block(t);
                let (before, current) = self.alpha.split_at_mut(row);
                let previous = &before[row - states..];
                for (k, slot) in current[..states].iter_mut().enumerate() {
                    let mut sum = 0.0;
                    for (j, &p) in previous.iter().enumerate() {
                        sum += p * self.transition_probabilities[a + j * states + k];
                    }
                    *slot = sum * self.emission_probabilities[row + k];
                }
            }
            let scale: f64 = self.alpha[row..row + states].iter().sum();
            if scale.is_nan() || scale < SMALLEST_SCALE || scale.is_infinite() {
                return None;
            }
            let inverse = 1.0 / scale;
            for value in &mut self.alpha[row..row + states] {
                *value *= inverse;
            }
            self.scales[t] = scale;
            // Logarithms in batches: the running product stays within (1e-200, 1e200).
            product *= scale;
            if !(1e-200..=1e200).contains(&product) {
                log_scales += product.ln();
                product = 1.0;
            }
        }
        let log_total = shift + log_scales + product.ln();
        if with_marginals {
            self.scaled_marginals();
        }
        Some(log_total)
    }

    /// The scaled backward recursion and the marginals it gives with the forward messages.
    fn scaled_marginals(&mut self) {
        let (states, steps) = (self.states, self.steps);
        let block = states * states;
        let last = (steps - 1) * states;
        self.beta[last..last + states].fill(1.0);
        self.pairs.fill(0.0);
        for t in (1..steps).rev() {
            // weight_k = e_t[k] beta_t[k] / c_t, shared by beta_{t-1} and the pairs into t.
            let row = t * states;
            let inverse = 1.0 / self.scales[t];
            for k in 0..states {
                self.scratch[k] =
                    self.emission_probabilities[row + k] * self.beta[row + k] * inverse;
            }
            let a = self.block(t);
            let pair_base = if self.homogeneous { 0 } else { (t - 1) * block };
            for j in 0..states {
                let from = self.alpha[row - states + j];
                let mut sum = 0.0;
                for k in 0..states {
                    let link = self.transition_probabilities[a + j * states + k] * self.scratch[k];
                    sum += link;
                    self.pairs[pair_base + j * states + k] += from * link;
                }
                self.beta[row - states + j] = sum;
            }
        }
        for ((posterior, &alpha), &beta) in
            self.posterior.iter_mut().zip(&self.alpha).zip(&self.beta)
        {
            *posterior = alpha * beta;
        }
    }

    /// The forward–backward recursions in log space (the scaled ones' fallback).
    fn in_log_space(&mut self, with_marginals: bool) -> f64 {
        let (states, steps) = (self.states, self.steps);
        let log_sum_exp = ppl_dist::special::log_sum_exp;
        for k in 0..states {
            self.alpha[k] = self.log_initial[k] + self.log_emissions[k];
        }
        for t in 1..steps {
            let a = self.block(t);
            for k in 0..states {
                for j in 0..states {
                    self.scratch[j] =
                        self.alpha[(t - 1) * states + j] + self.log_transitions[a + j * states + k];
                }
                self.alpha[t * states + k] =
                    log_sum_exp(&self.scratch) + self.log_emissions[t * states + k];
            }
        }
        let last = (steps - 1) * states;
        let log_total = log_sum_exp(&self.alpha[last..last + states]);
        if !with_marginals {
            return log_total;
        }
        if !log_total.is_finite() {
            self.posterior.fill(0.0);
            self.pairs.fill(0.0);
            return log_total;
        }
        let block = states * states;
        self.beta[last..last + states].fill(0.0);
        self.pairs.fill(0.0);
        for t in (1..steps).rev() {
            let a = self.block(t);
            let pair_base = if self.homogeneous { 0 } else { (t - 1) * block };
            for j in 0..states {
                for k in 0..states {
                    let link = self.log_transitions[a + j * states + k]
                        + self.log_emissions[t * states + k]
                        + self.beta[t * states + k];
                    self.scratch[k] = link;
                    self.pairs[pair_base + j * states + k] +=
                        (self.alpha[(t - 1) * states + j] + link - log_total).exp();
                }
                self.beta[(t - 1) * states + j] = log_sum_exp(&self.scratch);
            }
        }
        for ((posterior, &alpha), &beta) in
            self.posterior.iter_mut().zip(&self.alpha).zip(&self.beta)
        {
            *posterior = (alpha + beta - log_total).exp();
        }
        log_total
    }
}

/// `probabilities = exp(logs - max)`; returns the max (-inf when every log is -inf, NaN when one
/// is NaN).
fn exp_shifted(logs: &[f64], probabilities: &mut [f64]) -> f64 {
    let mut top = f64::NEG_INFINITY;
    for &value in logs {
        if value.is_nan() {
            return f64::NAN;
        }
        top = top.max(value);
    }
    if top == f64::NEG_INFINITY {
        return top;
    }
    for (p, &value) in probabilities.iter_mut().zip(logs) {
        *p = if value == top {
            1.0
        } else {
            (value - top).exp()
        };
    }
    top
}

/// One part of a state's per-element log-potential in a `SummedPlate`.
#[derive(Clone, Debug)]
pub(crate) enum PlatePart {
    /// An elementwise scalar density over the plate, evaluated by the node.
    Density {
        kind: DistKind,
        inputs: Vec<NodeId>,
        plans: Vec<BroadcastPlan>,
        /// ∂/∂input k per element (empty for inputs that need no gradient).
        partials: Vec<Vec<f64>>,
    },
    /// `log probs[picks[i]]` per element, -inf for an invalid category or a row (of `events`
    /// values from `rows[i]`) that is not a simplex, as `Op::CategoricalPick`.
    Pick {
        probs: NodeId,
        picks: Vec<usize>,
        rows: Vec<usize>,
        events: usize,
        valid: Vec<bool>,
        /// `ln probs[j]` for every j, when there are fewer probabilities than elements.
        logs: Vec<f64>,
    },
    /// Another node's values, one per element.
    Values { node: NodeId },
}

/// A `SummedPlate`'s parts per state and its buffers.
#[derive(Clone, Debug)]
pub(crate) struct PlateWork {
    parts: Vec<Vec<PlatePart>>,
    elements: usize,
    /// Per state, the per-element log-potentials; after a pass with partials, the
    /// responsibilities P(z_i = k | rest).
    potentials: Vec<Vec<f64>>,
    scratch: Vec<f64>,
}

impl PlateWork {
    pub fn new(parts: Vec<Vec<PlatePart>>, elements: usize) -> PlateWork {
        let states = parts.len();
        PlateWork {
            parts,
            elements,
            potentials: vec![vec![0.0; elements]; states],
            scratch: vec![0.0; elements],
        }
    }

    /// Every node the parts read.
    pub fn inputs(&self) -> Vec<NodeId> {
        let mut out = Vec::new();
        for part in self.parts.iter().flatten() {
            match part {
                PlatePart::Density { inputs, .. } => out.extend(inputs),
                PlatePart::Pick { probs, .. } => out.push(*probs),
                PlatePart::Values { node } => out.push(*node),
            }
        }
        out
    }

    pub fn forward(&mut self, nodes: &[NodeInfo], values: &[f64], with_partials: bool) -> f64 {
        let elements = self.elements;
        let read = |id: NodeId| &values[nodes[id].start..nodes[id].start + nodes[id].len];
        for (parts, potential) in self.parts.iter_mut().zip(self.potentials.iter_mut()) {
            potential.fill(0.0);
            for part in parts.iter_mut() {
                match part {
                    PlatePart::Density {
                        kind,
                        inputs,
                        plans,
                        partials,
                    } => {
                        scalar_density_forward(
                            *kind,
                            inputs,
                            plans,
                            elements,
                            partials,
                            nodes,
                            values,
                            with_partials,
                            Some(&mut self.scratch),
                        );
                        for (p, &value) in potential.iter_mut().zip(&self.scratch) {
                            *p += value;
                        }
                    }
                    PlatePart::Pick {
                        probs,
                        picks,
                        rows,
                        events,
                        valid,
                        logs,
                    } => {
                        let p = read(*probs);
                        let events = *events;
                        for (r, ok) in valid.iter_mut().enumerate() {
                            let row = &p[r * events..(r + 1) * events];
                            let sum: f64 = row.iter().sum();
                            *ok = row.iter().all(|v| (0.0..=1.0).contains(v))
                                && (sum - 1.0).abs() <= ppl_dist::density::CONSTRAINT_TOLERANCE;
                        }
                        let tabulated = !logs.is_empty();
                        if tabulated {
                            for (log, &value) in logs.iter_mut().zip(p) {
                                *log = value.ln();
                            }
                        }
                        for ((slot, &pick), &row) in potential.iter_mut().zip(&*picks).zip(&*rows) {
                            *slot += if pick != usize::MAX && valid[row / events] {
                                if tabulated { logs[pick] } else { p[pick].ln() }
                            } else {
                                f64::NEG_INFINITY
                            };
                        }
                    }
                    PlatePart::Values { node } => {
                        for (slot, &value) in potential.iter_mut().zip(read(*node)) {
                            *slot += value;
                        }
                    }
                }
            }
        }
        let mut total = 0.0;
        for i in 0..elements {
            let top = self
                .potentials
                .iter()
                .map(|p| p[i])
                .fold(f64::NEG_INFINITY, f64::max);
            if top == f64::NEG_INFINITY || self.potentials.iter().any(|p| p[i].is_nan()) {
                total += if top == f64::NEG_INFINITY {
                    top
                } else {
                    f64::NAN
                };
                continue;
            }
            let mut sum = 0.0;
            for potential in &mut self.potentials {
                let weight = if potential[i] == top {
                    1.0
                } else {
                    (potential[i] - top).exp()
                };
                potential[i] = weight;
                sum += weight;
            }
            total += top + sum.ln();
            let inverse = 1.0 / sum;
            for potential in &mut self.potentials {
                potential[i] *= inverse;
            }
        }
        total
    }

    pub fn backward(&self, nodes: &[NodeInfo], values: &[f64], scale: f64, adjoints: &mut [f64]) {
        let wants = |id: NodeId| nodes[id].needs_gradient;
        for (parts, responsibility) in self.parts.iter().zip(&self.potentials) {
            for part in parts {
                match part {
                    PlatePart::Density {
                        inputs,
                        plans,
                        partials,
                        ..
                    } => {
                        for ((&id, plan), partial) in inputs.iter().zip(plans).zip(partials) {
                            if partial.is_empty() || !wants(id) {
                                continue;
                            }
                            let start = nodes[id].start;
                            match plan {
                                BroadcastPlan::Scalar => {
                                    let sum: f64 = partial
                                        .iter()
                                        .zip(responsibility)
                                        .map(|(p, r)| p * r)
                                        .sum();
                                    adjoints[start] += scale * sum;
                                }
                                _ => {
                                    for (i, (p, r)) in
                                        partial.iter().zip(responsibility).enumerate()
                                    {
                                        adjoints[start + plan.at(i)] += scale * r * p;
                                    }
                                }
                            }
                        }
                    }
                    PlatePart::Pick {
                        probs,
                        picks,
                        rows,
                        events,
                        valid,
                        ..
                    } => {
                        if !wants(*probs) {
                            continue;
                        }
                        let start = nodes[*probs].start;
                        for ((r, &pick), &row) in responsibility.iter().zip(picks).zip(rows) {
                            if pick == usize::MAX || !valid[row / *events] {
                                continue;
                            }
                            let p = values[start + pick];
                            if p > 0.0 {
                                adjoints[start + pick] += scale * r / p;
                            }
                        }
                    }
                    PlatePart::Values { node } => {
                        if !wants(*node) {
                            continue;
                        }
                        let start = nodes[*node].start;
                        for (i, r) in responsibility.iter().enumerate() {
                            adjoints[start + i] += scale * r;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// log Z of a chain by summing over every path (states^steps of them).
    fn brute_force(
        initial: &[f64],
        emissions: &[f64],
        transition: impl Fn(usize, usize, usize) -> f64,
        states: usize,
        steps: usize,
    ) -> f64 {
        let mut terms = Vec::new();
        let paths = states.pow(steps as u32);
        for code in 0..paths {
            let path: Vec<usize> = (0..steps)
                .map(|t| (code / states.pow(t as u32)) % states)
                .collect();
            let mut value = initial[path[0]] + emissions[path[0]];
            for t in 1..steps {
                value += transition(t, path[t - 1], path[t]) + emissions[t * states + path[t]];
            }
            terms.push(value);
        }
        ppl_dist::special::log_sum_exp(&terms)
    }

    fn filled(states: usize, steps: usize, homogeneous: bool, offset: f64) -> ChainWork {
        let mut work = ChainWork::new(states, steps, homogeneous);
        let wave = |i: usize| ((i as f64) * 1.7 + offset).sin() * 2.0 - 1.0;
        for (i, v) in work.log_initial.iter_mut().enumerate() {
            *v = wave(i) - 0.5;
        }
        for (i, v) in work.log_emissions.iter_mut().enumerate() {
            *v = wave(i + 3) * 3.0 - 10.0;
        }
        for (i, v) in work.log_transitions.iter_mut().enumerate() {
            *v = wave(i + 11) - 1.0;
        }
        work
    }

    fn exact(work: &ChainWork) -> f64 {
        let (states, steps) = (work.states, work.steps);
        let block = states * states;
        brute_force(
            &work.log_initial,
            &work.log_emissions,
            |t, j, k| {
                let base = if work.homogeneous { 0 } else { (t - 1) * block };
                work.log_transitions[base + j * states + k]
            },
            states,
            steps,
        )
    }

    #[test]
    fn the_scaled_and_the_log_space_recursions_equal_the_sum_over_paths() {
        for (states, steps, homogeneous) in
            [(2, 6, true), (3, 5, false), (2, 1, false), (3, 4, true)]
        {
            let mut work = filled(states, steps, homogeneous, 0.3);
            let reference = exact(&work);
            let scaled = work.scaled(true).expect("no underflow here");
            let scaled_posterior = work.posterior.clone();
            let scaled_pairs = work.pairs.clone();
            let logged = work.in_log_space(true);
            assert!(
                (scaled - reference).abs() < 1e-10,
                "{scaled} vs {reference}"
            );
            assert!(
                (logged - reference).abs() < 1e-10,
                "{logged} vs {reference}"
            );
            for (a, b) in scaled_posterior.iter().zip(&work.posterior) {
                assert!((a - b).abs() < 1e-12, "posterior {a} vs {b}");
            }
            for (a, b) in scaled_pairs.iter().zip(&work.pairs) {
                assert!((a - b).abs() < 1e-12, "pair {a} vs {b}");
            }
        }
    }

    #[test]
    fn the_marginals_are_the_derivatives_of_log_z_by_central_differences() {
        let step = 1e-6;
        for homogeneous in [true, false] {
            let mut work = filled(3, 5, homogeneous, 1.1);
            work.log_total(true);
            let (posterior, pairs) = (work.posterior.clone(), work.pairs.clone());
            let nudged = |work: &ChainWork, which: usize, index: usize, by: f64| {
                let mut copy = work.clone();
                match which {
                    0 => copy.log_initial[index] += by,
                    1 => copy.log_emissions[index] += by,
                    _ => copy.log_transitions[index] += by,
                }
                exact(&copy)
            };
            let difference = |which: usize, index: usize| {
                (nudged(&work, which, index, step) - nudged(&work, which, index, -step))
                    / (2.0 * step)
            };
            for (k, &p) in posterior.iter().enumerate().take(3) {
                let d = difference(0, k);
                assert!((p - d).abs() < 1e-6, "initial {k}");
            }
            for (index, &p) in posterior.iter().enumerate() {
                let d = difference(1, index);
                assert!((p - d).abs() < 1e-6, "emission {index}: {p} vs {d}");
            }
            for (index, &p) in pairs.iter().enumerate() {
                let d = difference(2, index);
                assert!((p - d).abs() < 1e-6, "transition {index}: {p} vs {d}");
            }
        }
    }

    #[test]
    fn a_normaliser_that_underflows_is_redone_in_log_space() {
        // The only likely state at each step is one the transitions make very unlikely: the
        // scaled normaliser is about 1e-300, below what the scaled path trusts.
        let mut work = ChainWork::new(2, 4, true);
        work.log_initial.copy_from_slice(&[0.0, -800.0]);
        work.log_transitions
            .copy_from_slice(&[-700.0, 0.0, 0.0, -700.0]);
        work.log_emissions
            .copy_from_slice(&[0.0, -800.0, 0.0, -800.0, 0.0, -800.0, 0.0, -800.0]);
        assert!(work.clone().scaled(false).is_none());
        let reference = exact(&work);
        let value = work.log_total(true);
        assert!(
            (value - reference).abs() < 1e-9 * reference.abs(),
            "{value} vs {reference}"
        );
        let total: f64 = work.posterior[..2].iter().sum();
        assert!((total - 1.0).abs() < 1e-12);
    }

    #[test]
    fn an_impossible_step_gives_minus_infinity() {
        let mut work = filled(2, 3, false, 0.0);
        work.log_emissions[2] = f64::NEG_INFINITY;
        work.log_emissions[3] = f64::NEG_INFINITY;
        assert_eq!(work.log_total(true), f64::NEG_INFINITY);
        work.log_emissions[3] = f64::NAN;
        assert!(work.log_total(false).is_nan());
    }
}
