//! The fast path for a summed-out scalar whose terms read it only through one comparison with
//! something known (`count ~ Poisson(if [t for t in 1..T] < s then early else late)`): a change
//! point. Each element of such a term takes one of two values as `s` runs over its states, and
//! switches once, because a comparison with a fixed number is monotone in `s`. So the tape
//! lowers the term twice (at the first and the last state), finds each element's switching
//! state once when it is built, and gets every state's sum from one bucketed running sum
//! (`Op::ThresholdSums`): O(elements + states) per evaluation instead of O(elements × states).
//! Terms outside this shape keep the general per-state lowering.

use ppl_ir::{BinaryOp, Expr, ExprKind, LoopId, TermKind};

use super::super::array::Array;
use super::super::error::TapeError;
use super::super::functions::BinaryFn;
use super::super::graph::{NodeId, Op};
use super::Builder;
use crate::marginal::{OwnedTerm, SummedLatent};

impl Builder<'_> {
    /// The per-state log-potentials (shape `[states]`) of `owned` by the threshold scheme, or
    /// `None` (with nothing left on the tape) when the term is not of that shape.
    pub(super) fn threshold_term(
        &mut self,
        latent: &SummedLatent,
        owned: &OwnedTerm,
    ) -> Option<NodeId> {
        let comparison = self.single_comparison(latent, owned.term)?;
        let mark = self.program.ops.len();
        let outcome = self.threshold_nodes(latent, owned.term, &comparison);
        if outcome.is_none() {
            self.truncate(mark);
        }
        outcome
    }

    /// The one comparison through which the term reads the latent, when the latent appears
    /// exactly once, directly as an operand of `<`, `<=`, `>` or `>=` whose other side depends
    /// on no sampled unknown, and not through a `let`.
    fn single_comparison(&mut self, latent: &SummedLatent, term: usize) -> Option<Expr> {
        let model = self.model;
        let TermKind::Tilde { target, args, .. } = &model.terms[term].kind else {
            return None;
        };
        let mut readings = 0;
        let mut through_let = false;
        let mut comparisons = Vec::new();
        for expr in std::iter::once(target).chain(args) {
            ppl_ir::check::visit(expr, &mut |e| match &e.kind {
                ExprKind::Variable(v) if *v == latent.var => readings += 1,
                ExprKind::Let(l) => {
                    through_let |= model
                        .lets
                        .get(l.0)
                        .is_none_or(|d| crate::marginal::mentions(model, &d.value, latent.var))
                }
                ExprKind::Binary {
                    op: BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge,
                    lhs,
                    rhs,
                } => {
                    let is_latent =
                        |x: &Expr| matches!(x.kind, ExprKind::Variable(v) if v == latent.var);
                    let other = match (is_latent(lhs), is_latent(rhs)) {
                        (true, false) => rhs,
                        (false, true) => lhs,
                        _ => return,
                    };
                    comparisons.push((e.clone(), (**other).clone()));
                }
                _ => {}
            });
        }
        if through_let || readings != 1 {
            return None;
        }
        let [(comparison, other)] = comparisons.as_slice() else {
            return None;
        };
        if self.depends(other) || crate::marginal::mentions(self.model, other, latent.var) {
            return None;
        }
        Some(comparison.clone())
    }

    /// The comparison's value at every loop iteration of the term, in the order
    /// `lower_term_nodes` visits them, with the latent fixed as it is now.
    fn comparison_per_iteration(
        &mut self,
        comparison: &Expr,
        loops: &[LoopId],
        out: &mut Vec<Array<f64>>,
    ) -> Result<(), TapeError> {
        let Some((&first, rest)) = loops.split_first() else {
            out.push(self.evaluator.eval(comparison)?);
            return Ok(());
        };
        let (low, high) = self.evaluator.loop_bounds(first)?;
        let saved = self.evaluator.loops[first.0];
        let mut outcome = Ok(());
        for value in low..=high {
            self.evaluator.loops[first.0] = Some(value);
            outcome = self.comparison_per_iteration(comparison, rest, out);
            if outcome.is_err() {
                break;
            }
        }
        self.evaluator.loops[first.0] = saved;
        outcome
    }

    /// The comparison's outcome for every element of the term (as the elementwise lowering
    /// lays them out, `lengths` per iteration) with the latent at `state`.
    fn outcomes_at(
        &mut self,
        latent: &SummedLatent,
        state: f64,
        term: usize,
        comparison: &Expr,
        lengths: &[usize],
    ) -> Option<Vec<bool>> {
        self.fix_latent(latent, vec![state]);
        let loops = self.model.terms[term].loops.clone();
        let mut per_iteration = Vec::new();
        self.comparison_per_iteration(comparison, &loops, &mut per_iteration)
            .ok()?;
        if per_iteration.len() != lengths.len() {
            return None;
        }
        let mut outcomes = Vec::with_capacity(lengths.iter().sum());
        for (values, &length) in per_iteration.iter().zip(lengths) {
            match values.values.len() {
                1 => outcomes.extend(std::iter::repeat_n(values.values[0] != 0.0, length)),
                n if n == length => outcomes.extend(values.values.iter().map(|&v| v != 0.0)),
                _ => return None,
            }
        }
        Some(outcomes)
    }

    fn threshold_nodes(
        &mut self,
        latent: &SummedLatent,
        term: usize,
        comparison: &Expr,
    ) -> Option<NodeId> {
        let states = latent.states;
        if states < 2 {
            return None;
        }
        let value = |k: usize| (latent.low + k as i64) as f64;
        let span = self.model.terms[term].span;
        let loops = self.model.terms[term].loops.clone();
        let mut lowered = Vec::new();
        for state in [0, states - 1] {
            self.fix_latent(latent, vec![value(state)]);
            let mut nodes = Vec::new();
            self.lower_term_nodes(term, &loops, true, &mut nodes).ok()?;
            lowered.push(nodes);
        }
        let lengths: Vec<usize> = lowered[0].iter().map(|&n| self.len(n)).collect();
        let high_lengths: Vec<usize> = lowered[1].iter().map(|&n| self.len(n)).collect();
        if lengths != high_lengths {
            return None;
        }
        let elements: usize = lengths.iter().sum();
        // Each element's first state with the last state's outcome; `states` when it never
        // changes. A comparison with a known number is monotone in the latent, so once an
        // element has switched it stays switched; anything else (a NaN) leaves the fast path.
        let last = self.outcomes_at(latent, value(states - 1), term, comparison, &lengths)?;
        let mut first_state = vec![0; elements];
        let mut switched = vec![true; elements];
        for k in (0..states - 1).rev() {
            let outcomes = self.outcomes_at(latent, value(k), term, comparison, &lengths)?;
            for i in 0..elements {
                let same = outcomes[i] == last[i];
                if same && !switched[i] {
                    return None;
                }
                if !same && switched[i] {
                    switched[i] = false;
                    first_state[i] = k + 1;
                }
            }
        }
        for (state, never) in first_state.iter_mut().zip(&switched) {
            if *never {
                // The same outcome at every state: the element's value is in the base sum.
                *state = states;
            }
        }
        let flatten = |builder: &mut Self, nodes: &[NodeId]| {
            let table = nodes
                .iter()
                .flat_map(|&n| (0..builder.len(n)).map(move |e| (n, e)))
                .collect();
            builder.computed(Op::Assemble { table }, vec![elements])
        };
        let at_low = flatten(self, &lowered[0]);
        let at_high = flatten(self, &lowered[1]);
        let difference = self.binary(BinaryFn::Sub, at_high, at_low, span).ok()?;
        let switched_sums = self.computed(
            Op::ThresholdSums {
                arg: difference,
                first_state,
            },
            vec![states],
        );
        let base = self.sum_all(at_low);
        let total = self.binary(BinaryFn::Add, switched_sums, base, span).ok()?;
        Some(total)
    }
}
