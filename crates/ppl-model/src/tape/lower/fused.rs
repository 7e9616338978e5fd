//! The fused nodes of summed-out latents, built over the per-state nodes the general lowering
//! made: a plate's parts read out of each state's potential (`Op::SummedPlate`), a chain's
//! transitions recognised as the same at every step (`Op::ChainForward` with one states² node),
//! and which nodes are left only for recovery once the fused nodes are on the density's path.

use super::super::array::BroadcastPlan;
use super::super::functions::BinaryFn;
use super::super::graph::{NodeId, Op};
use super::super::summed::{ChainWork, PlatePart, PlateWork};
use super::{Builder, Program};

/// The nodes an op reads; `None` for an op this pass does not know (then every node stays on
/// the density's path).
fn op_inputs(op: &Op) -> Option<Vec<NodeId>> {
    Some(match op {
        Op::Constant | Op::Input => Vec::new(),
        Op::Unary { arg, .. }
        | Op::Gather { source: arg, .. }
        | Op::SumGroups { arg, .. }
        | Op::LogSumExp { arg }
        | Op::ThresholdSums { arg, .. }
        | Op::CategoricalPick { probs: arg, .. } => vec![*arg],
        Op::Binary { lhs, rhs, .. } | Op::MatMul { lhs, rhs, .. } => vec![*lhs, *rhs],
        Op::Select {
            cond,
            then,
            otherwise,
            ..
        } => vec![*cond, *then, *otherwise],
        Op::Assemble { table } => table.iter().map(|&(node, _)| node).collect(),
        Op::LinearScan { initial, a, b, .. } => vec![initial.0, *a, *b],
        Op::ScalarDensity { inputs, .. }
        | Op::DistFunction { inputs, .. }
        | Op::EventDensity { inputs, .. } => inputs.clone(),
        Op::ChainForward {
            initial,
            transitions,
            emissions,
            ..
        } => initial
            .iter()
            .chain(transitions)
            .chain(emissions)
            .copied()
            .collect(),
        Op::SummedPlate { plate } => plate.inputs(),
        Op::Call { args, .. } => args.clone(),
        Op::Glm(node) => [Some(node.design), Some(node.outcome), node.intercept]
            .into_iter()
            .flatten()
            .chain([node.coefficients])
            .chain(node.scale)
            .collect(),
        // Ops added later are unknown here until listed: the pass then keeps every node.
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

/// Which nodes the log density does not read (see `Program::recovery_only`); empty when all
/// are read or an op is not known to `op_inputs`.
pub(super) fn recovery_only(program: &Program) -> Vec<bool> {
    let count = program.ops.len();
    let mut live = vec![false; count];
    let roots = program
        .terms
        .iter()
        .map(|&(_, node)| node)
        .chain(program.bound_jacobians.iter().map(|&(_, node)| node))
        .chain(program.variable_nodes.iter().copied())
        .chain(program.inputs.iter().copied());
    for node in roots {
        if let Some(slot) = live.get_mut(node) {
            *slot = true;
        }
    }
    for index in (0..count).rev() {
        if !live[index] {
            continue;
        }
        let Some(inputs) = op_inputs(&program.ops[index]) else {
            return Vec::new();
        };
        for input in inputs {
            if let Some(slot) = live.get_mut(input) {
                *slot = true;
            }
        }
    }
    if live.iter().all(|&l| l) {
        return Vec::new();
    }
    live.iter().map(|&l| !l).collect()
}

impl Builder<'_> {
    /// `Σ_i log Σ_k exp(per_state[k][i])` as one `SummedPlate` node, its parts read out of
    /// the per-state nodes (which stay on the tape for recovery).
    pub(super) fn summed_plate(&mut self, per_state: &[NodeId], elements: usize) -> NodeId {
        let parts = per_state
            .iter()
            .map(|&node| {
                let mut parts = Vec::new();
                self.plate_parts(node, elements, &mut parts);
                parts
            })
            .collect();
        let plate = PlateWork::new(parts, elements);
        self.computed(Op::SummedPlate { plate }, Vec::new())
    }

    /// The parts whose elementwise sum is `node` (of `elements` values).
    fn plate_parts(&self, node: NodeId, elements: usize, out: &mut Vec<PlatePart>) {
        let len = |n: NodeId| self.program.infos[n].len;
        match &self.program.ops[node] {
            Op::Binary {
                function: BinaryFn::Add,
                lhs,
                rhs,
                read_lhs: BroadcastPlan::Identity,
                read_rhs: BroadcastPlan::Identity,
                ..
            } if len(*lhs) == elements && len(*rhs) == elements => {
                self.plate_parts(*lhs, elements, out);
                self.plate_parts(*rhs, elements, out);
            }
            Op::Assemble { table }
                if table.len() == elements
                    && table.first().is_some_and(|&(source, _)| {
                        len(source) == elements
                            && table
                                .iter()
                                .enumerate()
                                .all(|(i, &(n, element))| n == source && element == i)
                    }) =>
            {
                self.plate_parts(table[0].0, elements, out);
            }
            Op::ScalarDensity {
                kind,
                inputs,
                plans,
                count,
                partials,
                elementwise: true,
            } if *count == elements => out.push(PlatePart::Density {
                kind: *kind,
                inputs: inputs.clone(),
                plans: plans.clone(),
                partials: partials
                    .iter()
                    .map(|p| {
                        if p.is_empty() {
                            Vec::new()
                        } else {
                            vec![0.0; elements]
                        }
                    })
                    .collect(),
            }),
            Op::CategoricalPick {
                probs,
                picks,
                rows,
                events,
                valid,
            } if picks.len() == elements => out.push(PlatePart::Pick {
                probs: *probs,
                picks: picks.clone(),
                rows: rows.clone(),
                events: *events,
                valid: valid.clone(),
                logs: if len(*probs) < elements {
                    vec![0.0; len(*probs)]
                } else {
                    Vec::new()
                },
            }),
            Op::Constant if self.node_values(node).iter().all(|&v| v == 0.0) => {}
            _ => out.push(PlatePart::Values { node }),
        }
    }

    fn node_values(&self, node: NodeId) -> &[f64] {
        let info = self.program.infos[node];
        &self.program.values[info.start..info.start + info.len]
    }

    /// The chain's fused forward node. When every ordered pair's transition log-potential is
    /// the same at every step (`theta[z[t - 1]]` with `theta` not varying with t), the
    /// transitions become one node of states² values, read once per evaluation.
    pub(super) fn chain_forward(
        &mut self,
        initial: Vec<NodeId>,
        transitions: &[NodeId],
        emissions: Vec<NodeId>,
        states: usize,
        steps: usize,
    ) -> NodeId {
        let (transitions, homogeneous) = match self.homogeneous_transitions(transitions, steps) {
            Some(node) => (vec![node], true),
            None => (transitions.to_vec(), false),
        };
        let op = Op::ChainForward {
            initial,
            transitions,
            homogeneous,
            emissions,
            work: Box::new(ChainWork::new(states, steps, homogeneous)),
        };
        self.computed(op, Vec::new())
    }

    /// One node of states² transition log-potentials when they do not vary with the step:
    /// every step of each pair picks the same probability (`Op::CategoricalPick`s of one
    /// probabilities node), or reads the same constant.
    fn homogeneous_transitions(&mut self, transitions: &[NodeId], steps: usize) -> Option<NodeId> {
        if steps < 2 {
            return None;
        }
        // Each pair's transition node is an `Assemble` of elements of per-state nodes.
        let mut picks = Vec::with_capacity(transitions.len());
        let mut constants = Vec::with_capacity(transitions.len());
        let mut probabilities: Option<(NodeId, usize)> = None;
        for &node in transitions {
            let Op::Assemble { table } = &self.program.ops[node] else {
                return None;
            };
            let mut seen: Option<(usize, usize)> = None;
            let mut constant: Option<f64> = None;
            for &(source, element) in table {
                match &self.program.ops[source] {
                    Op::CategoricalPick {
                        probs,
                        picks: chosen,
                        rows,
                        events,
                        ..
                    } => {
                        if probabilities.is_some_and(|p| p != (*probs, *events)) {
                            return None;
                        }
                        probabilities = Some((*probs, *events));
                        let here = (*chosen.get(element)?, *rows.get(element)?);
                        if seen.is_some_and(|s| s != here) {
                            return None;
                        }
                        seen = Some(here);
                    }
                    Op::Constant => {
                        let value = *self.node_values(source).get(element)?;
                        if constant.is_some_and(|c| c.to_bits() != value.to_bits()) {
                            return None;
                        }
                        constant = Some(value);
                    }
                    _ => return None,
                }
            }
            match (seen, constant) {
                (Some(pick), None) => picks.push(pick),
                (None, Some(value)) => constants.push(value),
                _ => return None,
            }
        }
        if constants.len() == transitions.len() {
            return Some(self.constant(super::Array::new(vec![constants.len()], constants)));
        }
        let (probs, events) = probabilities?;
        if picks.len() != transitions.len() {
            return None;
        }
        let op = Op::CategoricalPick {
            probs,
            picks: picks.iter().map(|&(pick, _)| pick).collect(),
            rows: picks.iter().map(|&(_, row)| row).collect(),
            events,
            valid: vec![false; self.program.infos[probs].len / events],
        };
        Some(self.computed(op, vec![transitions.len()]))
    }

    /// A scalar density's input that is a gather (`mu[z]`) read through: the density reads
    /// the gather's source with the composed plan, and the gather leaves the density's path.
    /// A gather that reads one element for every batch element (`mu[z]` with `z` fixed at a
    /// state) becomes a one-element gather read as a scalar.
    pub(super) fn read_through_gather(
        &mut self,
        node: NodeId,
        plan: BroadcastPlan,
        count: usize,
    ) -> (NodeId, BroadcastPlan) {
        let composed: Vec<usize> = match &self.program.ops[node] {
            Op::Gather { table, .. } if !self.is_constant(node) => {
                (0..count).map(|i| table[plan.at(i)]).collect()
            }
            _ => return (node, plan),
        };
        let Op::Gather { source, .. } = self.program.ops[node] else {
            return (node, plan);
        };
        match composed.first() {
            Some(&first) if composed.iter().all(|&i| i == first) => {
                let one = self.computed(
                    Op::Gather {
                        source,
                        table: vec![first],
                    },
                    vec![1],
                );
                (one, BroadcastPlan::Scalar)
            }
            _ => (source, BroadcastPlan::Table(composed)),
        }
    }
}
