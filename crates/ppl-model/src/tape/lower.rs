//! Lowering the IR, bound to data, into tape nodes. Any subexpression that does not depend on a
//! sampled unknown is evaluated here once by the generic evaluator and becomes a constant node.
//! Loops and comprehensions are unrolled: each iteration's nodes are built with the loop
//! variables fixed, so their indices become static gathers (the interpretation overhead of a loop
//! is therefore paid per iteration and node; vectorised statements are one node per operation).

use std::collections::HashMap;

use ppl_dist::DistKind;
use ppl_ir::{Builtin, Expr, ExprKind, LetId, LoopId, Model, TermKind};
use ppl_syntax::Span;

use super::array::{Array, BroadcastPlan};
use super::error::TapeError;
use super::eval::{
    Evaluator, batch_shape, broadcast_or_error, call_builtin, event_ranks, index_plan,
    matmul_shape, recurrence_length, tilde_log_densities, tilde_log_density, undefined_element,
};
use super::functions::{BinaryFn, UnaryFn};
use super::graph::{NodeId, NodeInfo, Op};
use super::layout::{Bindings, ParameterLayout};
use super::net::{NetEntry, NetNode, input_rows};
use crate::marginal::{OwnedTerm, Structure, SummedLatent};

mod fused;
mod glm;
mod threshold;

/// The nodes of a tape, their buffers, and which nodes are the terms.
#[derive(Clone)]
pub(crate) struct Program {
    pub ops: Vec<Op>,
    pub infos: Vec<NodeInfo>,
    pub shapes: Vec<Vec<usize>>,
    /// Initial contents of the value buffer (the constants' values are final).
    pub values: Vec<f64>,
    /// The input node of each layout entry.
    pub inputs: Vec<NodeId>,
    /// The input node of each net's weights, by layout net entry.
    pub net_inputs: Vec<NodeId>,
    /// The node holding each layout entry's value as the model reads it: its input, or for
    /// an expression bound the input mapped to the bound.
    pub variable_nodes: Vec<NodeId>,
    /// The log |J| of each expression bound's affine map (scalar nodes), by layout entry.
    pub bound_jacobians: Vec<(usize, NodeId)>,
    /// Scalar nodes whose values sum to the log density (without the Jacobians), with the index
    /// of the model term each comes from.
    pub terms: Vec<(usize, NodeId)>,
    /// Terms the tape cannot lower; evaluated by the generic evaluator (see `Tape`).
    pub fallback_terms: Vec<usize>,
    /// The nodes of each discrete latent summed out, in the order they were given.
    pub summed: Vec<SummedNodes>,
    /// Nodes the log density does not read (a summed latent's per-state nodes, replaced on the
    /// density's path by a fused node): skipped by its passes, run only to recover the
    /// latents. Empty when every node is on the path.
    pub recovery_only: Vec<bool>,
}

/// Where a summed-out latent's per-state log-potentials live on the tape (read back after a
/// forward pass to recover the latent).
#[derive(Clone, Debug)]
pub(crate) enum SummedNodes {
    /// One array over the states: the log joint of the terms with the latent at each state.
    Scalar { per_state: NodeId },
    /// One array per state, one element per plate element.
    Plate { per_state: Vec<NodeId> },
    /// Per state an array of unary log-potentials over the steps, and per ordered pair
    /// `from * states + to` the transition log-potentials into steps 2..=T.
    Chain {
        emissions: Vec<NodeId>,
        transitions: Vec<NodeId>,
    },
}

pub(crate) struct Builder<'a> {
    model: &'a Model,
    evaluator: Evaluator<'a, f64>,
    /// Layout entry of each variable that is sampled.
    sampled: Vec<Option<usize>>,
    depends_on_sampled_let: Vec<Option<bool>>,
    program: Program,
    /// Nodes of `let`s already lowered, by id and the values of their loop variables.
    let_nodes: HashMap<(LetId, Vec<i64>), NodeId>,
    /// Where the elements built so far of each recursive `let` being lowered live: a node and
    /// the offset of the element in it (several elements share one `LinearScan` node).
    recurrence_nodes: HashMap<LetId, Vec<Option<(NodeId, usize)>>>,
    /// The discrete latents to sum out, and which terms they own (lowered per state).
    summed: &'a [SummedLatent],
    owned_terms: Vec<bool>,
    /// The nets' places in the position (`layout.nets`).
    nets: Vec<NetEntry>,
}

/// `c` when `index` is loop variable `var` plus or minus the int literal `c` (0 for `var`).
fn loop_offset(index: &Expr, var: LoopId) -> Option<i64> {
    let is_var = |e: &Expr| matches!(e.kind, ExprKind::LoopVar(id) if id == var);
    let literal = |e: &Expr| match e.kind {
        ExprKind::Literal(v) if v.fract() == 0.0 => Some(v as i64),
        _ => None,
    };
    match &index.kind {
        ExprKind::LoopVar(id) if *id == var => Some(0),
        ExprKind::Binary { op, lhs, rhs } => match op {
            ppl_syntax::BinaryOp::Add if is_var(lhs) => literal(rhs),
            ppl_syntax::BinaryOp::Add if is_var(rhs) => literal(lhs),
            ppl_syntax::BinaryOp::Sub if is_var(lhs) => literal(rhs).map(|c| -c),
            _ => None,
        },
        _ => None,
    }
}

/// Whether `expr` reads an element of recursive `let` `of`.
fn reads_elements(expr: &Expr, of: LetId) -> bool {
    let mut found = false;
    ppl_ir::check::visit(expr, &mut |e| {
        found |= matches!(e.kind, ExprKind::Element { of: o, .. } if o == of)
    });
    found
}

/// `expr` as `a + b * e[var + previous]`, with neither `a` nor `b` reading `e`: `(a, b)`, either
/// absent when zero; `None` when `expr` is not affine in that one element.
fn linear_form(
    expr: &Expr,
    of: LetId,
    var: LoopId,
    previous: i64,
) -> Option<(Option<Expr>, Option<Expr>)> {
    if !reads_elements(expr, of) {
        return Some((Some(expr.clone()), None));
    }
    let scalar = |kind: ExprKind| Expr {
        kind,
        ty: ppl_ir::ValueType {
            elem: ppl_ir::ElemType::Real,
            shape: Vec::new(),
        },
        span: expr.span,
    };
    let binary = |op: ppl_syntax::BinaryOp, lhs: Expr, rhs: Expr| {
        scalar(ExprKind::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        })
    };
    let combine = |op: ppl_syntax::BinaryOp, x: Option<Expr>, y: Option<Expr>| match (x, y) {
        (Some(x), Some(y)) => Some(binary(op, x, y)),
        (Some(x), None) => Some(x),
        (None, Some(y)) if op == ppl_syntax::BinaryOp::Sub => {
            Some(scalar(ExprKind::Neg(Box::new(y))))
        }
        (None, y) => y,
    };
    match &expr.kind {
        ExprKind::Element { of: o, index } if *o == of => (loop_offset(index, var)
            == Some(previous))
        .then(|| (None, Some(scalar(ExprKind::Literal(1.0))))),
        ExprKind::Neg(inner) => {
            let (a, b) = linear_form(inner, of, var, previous)?;
            let negate = |x: Expr| scalar(ExprKind::Neg(Box::new(x)));
            Some((a.map(negate), b.map(negate)))
        }
        ExprKind::Binary { op, lhs, rhs } if expr.ty.shape.is_empty() => {
            use ppl_syntax::BinaryOp::*;
            match op {
                Add | Sub => {
                    let (a1, b1) = linear_form(lhs, of, var, previous)?;
                    let (a2, b2) = linear_form(rhs, of, var, previous)?;
                    Some((combine(*op, a1, a2), combine(*op, b1, b2)))
                }
                Mul if !reads_elements(lhs, of) => {
                    let (a, b) = linear_form(rhs, of, var, previous)?;
                    let scale = |x: Expr| binary(Mul, (**lhs).clone(), x);
                    Some((a.map(scale), b.map(scale)))
                }
                Mul | Div if !reads_elements(rhs, of) => {
                    let (a, b) = linear_form(lhs, of, var, previous)?;
                    let scale = |x: Expr| binary(*op, x, (**rhs).clone());
                    Some((a.map(scale), b.map(scale)))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn unsupported(what: impl Into<String>, span: Span) -> TapeError {
    TapeError::Unsupported {
        what: what.into(),
        span,
    }
}

impl<'a> Builder<'a> {
    pub fn new(
        model: &'a Model,
        bindings: &'a Bindings,
        layout: &ParameterLayout,
        summed: &'a [SummedLatent],
    ) -> Result<Builder<'a>, TapeError> {
        let mut owned_terms = vec![false; model.terms.len()];
        for latent in summed {
            for term in latent.owned_terms() {
                if let Some(slot) = owned_terms.get_mut(term) {
                    *slot = true;
                }
            }
        }
        let mut variables = bindings.arrays::<f64>(model)?;
        let mut sampled = vec![None; model.variables.len()];
        for (index, entry) in layout.entries.iter().enumerate() {
            sampled[entry.var.0] = Some(index);
            // A sampled unknown's fixed value, if any, must not leak into constants.
            variables[entry.var.0] = None;
        }
        let mut builder = Builder {
            model,
            evaluator: Evaluator::new(model, &bindings.dims, variables),
            sampled,
            depends_on_sampled_let: vec![None; model.lets.len()],
            program: Program {
                ops: Vec::new(),
                infos: Vec::new(),
                shapes: Vec::new(),
                values: Vec::new(),
                inputs: Vec::new(),
                net_inputs: Vec::new(),
                variable_nodes: Vec::new(),
                bound_jacobians: Vec::new(),
                terms: Vec::new(),
                fallback_terms: Vec::new(),
                summed: Vec::new(),
                recovery_only: Vec::new(),
            },
            let_nodes: HashMap::new(),
            recurrence_nodes: HashMap::new(),
            summed,
            owned_terms,
            nets: layout.nets.clone(),
        };
        for entry in &layout.entries {
            let len = entry.shape.iter().product();
            let node = builder.push(Op::Input, entry.shape.clone(), true, vec![0.0; len]);
            builder.program.inputs.push(node);
        }
        for net in &layout.nets {
            let node = builder.push(Op::Input, vec![net.len], true, vec![0.0; net.len]);
            builder.program.net_inputs.push(node);
        }
        builder.program.variable_nodes = builder.program.inputs.clone();
        for index in layout.expression_bounded() {
            builder.lower_expression_bound(&layout.entries[index], index)?;
        }
        Ok(builder)
    }

    /// The nodes of an expression bound: its ends (from earlier unknowns and data), the value
    /// `low + (high - low) v` (or `low + v`, `high - v`) from the standard input `v`, and the
    /// log |J| `Σ log(high - low)` over the elements.
    fn lower_expression_bound(
        &mut self,
        entry: &super::layout::ParameterEntry,
        index: usize,
    ) -> Result<(), TapeError> {
        let Some(bound) = &entry.expression_bound else {
            return Ok(());
        };
        let input = self.program.inputs[index];
        let span = self.model.variables[entry.var.0].span;
        let low = match &bound.low {
            Some(expr) => Some(self.lower(expr)?),
            None => None,
        };
        let high = match &bound.high {
            Some(expr) => Some(self.lower(expr)?),
            None => None,
        };
        let value = match (low, high) {
            (Some(low), Some(high)) => {
                let width = self.binary(BinaryFn::Sub, high, low, span)?;
                let scaled = self.binary(BinaryFn::Mul, width, input, span)?;
                let log_width = self.unary(UnaryFn::Log, width);
                let mut jacobian = self.sum_all(log_width);
                let elements = self.len(input);
                if self.len(width) == 1 && elements != 1 {
                    jacobian = self.scale(jacobian, elements as f64, span)?;
                }
                self.program.bound_jacobians.push((index, jacobian));
                self.binary(BinaryFn::Add, low, scaled, span)?
            }
            (Some(low), None) => self.binary(BinaryFn::Add, low, input, span)?,
            (None, Some(high)) => self.binary(BinaryFn::Sub, high, input, span)?,
            (None, None) => input,
        };
        // The value has the variable's shape (an end broadcast over it).
        let value = if self.shape(value) == entry.shape {
            value
        } else {
            let len: usize = entry.shape.iter().product();
            if self.len(value) != len {
                return Err(TapeError::Constraint {
                    variable: entry.name.clone(),
                    detail: format!("a bound has {} values for {len} elements", self.len(value)),
                });
            }
            self.computed(
                Op::Gather {
                    source: value,
                    table: (0..len).collect(),
                },
                entry.shape.clone(),
            )
        };
        self.program.variable_nodes[index] = value;
        Ok(())
    }

    /// Lowers every term; a term the tape cannot express is left to the generic evaluator.
    pub fn build(mut self) -> Result<Program, TapeError> {
        for (index, term) in self.model.terms.iter().enumerate() {
            if self.owned_terms[index] {
                continue;
            }
            let mark = self.program.ops.len();
            let terms_mark = self.program.terms.len();
            match self.lower_term(index, &term.loops) {
                Ok(()) => {}
                Err(TapeError::Unsupported { .. }) => {
                    self.truncate(mark);
                    self.program.terms.truncate(terms_mark);
                    self.program.fallback_terms.push(index);
                }
                Err(error) => return Err(error),
            }
        }
        for latent in self.summed {
            let saved = self.evaluator.variables[latent.var.0].clone();
            let outcome = self.lower_summed(latent);
            self.evaluator.variables[latent.var.0] = saved;
            self.evaluator.forget_lets();
            self.let_nodes.clear();
            outcome?;
        }
        self.program.recovery_only = fused::recovery_only(&self.program);
        Ok(self.program)
    }

    /// Forgets the nodes from `mark` on (a term that failed to lower half-way).
    fn truncate(&mut self, mark: usize) {
        let end = self.program.infos.get(mark).map(|i| i.start);
        self.program.ops.truncate(mark);
        self.program.infos.truncate(mark);
        self.program.shapes.truncate(mark);
        if let Some(end) = end {
            self.program.values.truncate(end);
        }
        self.let_nodes.retain(|_, node| *node < mark);
    }

    fn push(
        &mut self,
        op: Op,
        shape: Vec<usize>,
        needs_gradient: bool,
        values: Vec<f64>,
    ) -> NodeId {
        let start = self.program.values.len();
        let len = values.len();
        debug_assert_eq!(len, shape.iter().product::<usize>());
        self.program.values.extend(values);
        self.program.infos.push(NodeInfo {
            start,
            len,
            needs_gradient,
        });
        self.program.ops.push(op);
        self.program.shapes.push(shape);
        self.program.ops.len() - 1
    }

    pub(crate) fn computed(&mut self, op: Op, shape: Vec<usize>) -> NodeId {
        let len = shape.iter().product();
        self.push(op, shape, true, vec![0.0; len])
    }

    pub(crate) fn constant(&mut self, value: Array<f64>) -> NodeId {
        self.push(Op::Constant, value.shape, false, value.values)
    }

    pub(crate) fn is_constant(&self, node: NodeId) -> bool {
        !self.program.infos[node].needs_gradient
    }

    pub(crate) fn shape(&self, node: NodeId) -> Vec<usize> {
        self.program.shapes[node].clone()
    }

    pub(crate) fn len(&self, node: NodeId) -> usize {
        self.program.infos[node].len
    }

    fn lower_term(&mut self, index: usize, loops: &[LoopId]) -> Result<(), TapeError> {
        let Some((&first, rest)) = loops.split_first() else {
            let node = match self.glm_term(index)? {
                Some(node) => node,
                None => self.lower_term_body(index)?,
            };
            self.program.terms.push((index, node));
            return Ok(());
        };
        let (low, high) = self.evaluator.loop_bounds(first)?;
        let saved = self.evaluator.loops[first.0];
        let mut outcome = Ok(());
        for value in low..=high {
            self.evaluator.loops[first.0] = Some(value);
            outcome = self.lower_term(index, rest);
            if outcome.is_err() {
                break;
            }
        }
        self.evaluator.loops[first.0] = saved;
        outcome
    }

    fn lower_term_body(&mut self, index: usize) -> Result<NodeId, TapeError> {
        let term = &self.model.terms[index];
        match &term.kind {
            TermKind::Tilde {
                target,
                distribution,
                args,
            } => {
                let depends = self.depends(target) || args.iter().any(|a| self.depends(a));
                if !depends {
                    let variate = self.evaluator.eval(target)?;
                    let values = args
                        .iter()
                        .map(|a| self.evaluator.eval(a))
                        .collect::<Result<Vec<_>, _>>()?;
                    let value = tilde_log_density(*distribution, &variate, &values, term.span)?;
                    return Ok(self.constant(Array::scalar(value)));
                }
                let mut inputs = vec![self.lower(target)?];
                for arg in args {
                    inputs.push(self.lower(arg)?);
                }
                self.density(*distribution, inputs, term.span, false)
            }
            TermKind::Factor(expr) => {
                let node = self.lower(expr)?;
                Ok(self.sum_all(node))
            }
            TermKind::Energy(expr) => {
                let node = self.lower(expr)?;
                let sum = self.sum_all(node);
                Ok(self.unary(UnaryFn::Neg, sum))
            }
        }
    }

    /// Whether an expression depends on a sampled unknown.
    pub(crate) fn depends(&mut self, expr: &Expr) -> bool {
        match &expr.kind {
            ExprKind::Literal(_) | ExprKind::Dim(_) | ExprKind::LoopVar(_) => false,
            ExprKind::Variable(id) => self.sampled[id.0].is_some(),
            ExprKind::Let(id) => {
                if let Some(known) = self.depends_on_sampled_let[id.0] {
                    return known;
                }
                // A recursive `let` reads its own earlier elements: until its pieces are seen,
                // those readings add nothing (each element depends on an unknown only if some
                // piece does).
                self.depends_on_sampled_let[id.0] = Some(false);
                let value = &self.model.lets[id.0].value;
                let answer = self.depends(value);
                self.depends_on_sampled_let[id.0] = Some(answer);
                answer
            }
            ExprKind::Vector(parts) => parts.iter().any(|p| self.depends(p)),
            ExprKind::Comprehension { body, .. } => self.depends(body),
            ExprKind::Neg(inner) => self.depends(inner),
            ExprKind::Binary { lhs, rhs, .. } => self.depends(lhs) || self.depends(rhs),
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => self.depends(cond) || self.depends(then) || self.depends(otherwise),
            ExprKind::Range { low, high } => self.depends(low) || self.depends(high),
            ExprKind::Index { base, indices } => {
                self.depends(base)
                    || indices.iter().any(|index| match index {
                        ppl_ir::IndexExpr::Single(e) | ppl_ir::IndexExpr::Gather(e) => {
                            self.depends(e)
                        }
                        ppl_ir::IndexExpr::Slice { low, high } => {
                            self.depends(low) || self.depends(high)
                        }
                        ppl_ir::IndexExpr::All => false,
                    })
            }
            ExprKind::Call { args, .. } => args.iter().any(|a| self.depends(a)),
            ExprKind::NetCall { .. } => true,
            ExprKind::DistFunction { args, variate, .. } => {
                self.depends(variate) || args.iter().any(|a| self.depends(a))
            }
            ExprKind::Recurrence { pieces, .. } => pieces
                .iter()
                .any(|p| self.depends(&p.index) || self.depends(&p.value)),
            ExprKind::Element { of, index } => {
                let whole = Expr {
                    kind: ExprKind::Let(*of),
                    ty: index.ty.clone(),
                    span: index.span,
                };
                self.depends(&whole) || self.depends(index)
            }
        }
    }

    /// Lowers an expression to a node.
    pub(crate) fn lower(&mut self, expr: &Expr) -> Result<NodeId, TapeError> {
        if !self.depends(expr) {
            let value = self.evaluator.eval(expr)?;
            return Ok(self.constant(value));
        }
        let span = expr.span;
        match &expr.kind {
            ExprKind::Variable(id) => {
                let entry = self.sampled[id.0].expect("depends() says sampled");
                Ok(self.program.variable_nodes[entry])
            }
            ExprKind::Let(id) => self.lower_let(*id, expr),
            ExprKind::Vector(parts) => {
                let nodes = parts
                    .iter()
                    .map(|p| self.lower(p))
                    .collect::<Result<Vec<_>, _>>()?;
                self.stack(nodes, span)
            }
            ExprKind::Comprehension { body, var } => {
                let (low, high) = self.evaluator.loop_bounds(*var)?;
                let saved = self.evaluator.loops[var.0];
                let mut nodes = Vec::new();
                let mut outcome = Ok(());
                for value in low..=high {
                    self.evaluator.loops[var.0] = Some(value);
                    match self.lower(body) {
                        Ok(node) => nodes.push(node),
                        Err(error) => {
                            outcome = Err(error);
                            break;
                        }
                    }
                }
                self.evaluator.loops[var.0] = saved;
                outcome?;
                self.stack(nodes, span)
            }
            ExprKind::Neg(inner) => {
                let node = self.lower(inner)?;
                Ok(self.unary(UnaryFn::Neg, node))
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let a = self.lower(lhs)?;
                let b = self.lower(rhs)?;
                match BinaryFn::of_operator(*op) {
                    Some(function) => self.binary(function, a, b, span),
                    None => self.matmul(a, b, span),
                }
            }
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                let c = self.lower(cond)?;
                let a = self.lower(then)?;
                let b = self.lower(otherwise)?;
                let shape = broadcast_or_error(&self.shape(c), &self.shape(a), span)?;
                let shape = broadcast_or_error(&shape, &self.shape(b), span)?;
                let op = Op::Select {
                    cond: c,
                    then: a,
                    otherwise: b,
                    read_cond: BroadcastPlan::new(&self.shape(c), &shape),
                    read_then: BroadcastPlan::new(&self.shape(a), &shape),
                    read_otherwise: BroadcastPlan::new(&self.shape(b), &shape),
                };
                Ok(self.computed(op, shape))
            }
            ExprKind::Index { base, indices } => {
                let base = self.lower(base)?;
                let mut evaluated = Vec::with_capacity(indices.len());
                for index in indices {
                    let depends = match index {
                        ppl_ir::IndexExpr::Single(e) | ppl_ir::IndexExpr::Gather(e) => {
                            self.depends(e)
                        }
                        ppl_ir::IndexExpr::Slice { low, high } => {
                            self.depends(low) || self.depends(high)
                        }
                        ppl_ir::IndexExpr::All => false,
                    };
                    if depends {
                        return Err(unsupported("an index that depends on an unknown", span));
                    }
                    evaluated.push(self.evaluator.index_value(index, span)?);
                }
                let (shape, table) = index_plan(&self.shape(base), &evaluated, span)?;
                Ok(self.gather(base, shape, table))
            }
            ExprKind::Call { function, args } => {
                super::builtins::lower_call(self, *function, args, span)
            }
            ExprKind::NetCall { net, args } => self.lower_net_call(*net, args, span),
            ExprKind::DistFunction {
                function,
                distribution,
                args,
                variate,
            } => {
                let mut inputs = vec![self.lower(variate)?];
                for arg in args {
                    inputs.push(self.lower(arg)?);
                }
                if *function != ppl_ir::DistFunction::LogPdf {
                    for &k in ppl_dist::parameters_without_derivative(*distribution) {
                        if inputs.get(k + 1).is_some_and(|&n| !self.is_constant(n)) {
                            let parameter = distribution
                                .parameterisation()
                                .params
                                .get(k)
                                .map_or("a shape parameter", |p| p.name);
                            return Err(TapeError::NoDerivative {
                                detail: format!(
                                    "`{}` of `{}` needs its derivative in `{parameter}`, which depends on an unknown; that derivative is not available",
                                    function.name(),
                                    distribution.family().name
                                ),
                                span,
                            });
                        }
                    }
                }
                let mut shape = Vec::new();
                for &input in &inputs {
                    shape = broadcast_or_error(&shape, &self.shape(input), span)?;
                }
                let count = shape.iter().product();
                let plans = inputs
                    .iter()
                    .map(|&n| BroadcastPlan::new(&self.shape(n), &shape))
                    .collect();
                let partials = inputs
                    .iter()
                    .map(|&n| {
                        if self.is_constant(n) {
                            Vec::new()
                        } else {
                            vec![0.0; count]
                        }
                    })
                    .collect();
                let op = Op::DistFunction {
                    function: *function,
                    kind: *distribution,
                    point: vec![0.0; inputs.len()],
                    inputs,
                    plans,
                    count,
                    partials,
                };
                Ok(self.computed(op, shape))
            }
            ExprKind::Recurrence { of, pieces } => self.lower_recurrence(*of, pieces, expr),
            ExprKind::Element { of, index } => {
                let position = self.evaluator.eval_int(index)?;
                let name = &self.model.lets[of.0].name;
                let slot = self.recurrence_nodes.get(of).and_then(|elements| {
                    usize::try_from(position - 1)
                        .ok()
                        .map(|p| (elements.len(), elements.get(p).copied().flatten()))
                });
                match slot {
                    Some((_, Some((node, offset)))) => Ok(self.element_node(node, offset)),
                    Some((length, None)) if position >= 1 && (position as usize) <= length => {
                        Err(TapeError::Element {
                            code: ppl_syntax::codes::ELEMENT_USED_EARLY,
                            detail: format!("`{name}[{position}]` is read before it is defined"),
                            span: index.span,
                        })
                    }
                    _ => Err(TapeError::Element {
                        code: ppl_syntax::codes::ELEMENT_DEFINITION,
                        detail: format!("`{name}[{position}]` is outside the array"),
                        span: index.span,
                    }),
                }
            }
            ExprKind::Literal(_)
            | ExprKind::Dim(_)
            | ExprKind::LoopVar(_)
            | ExprKind::Range { .. } => {
                unreachable!("never depends on an unknown")
            }
        }
    }

    /// A call of a net: one node over all the rows of its input.
    fn lower_net_call(
        &mut self,
        net: usize,
        args: &[Expr],
        span: Span,
    ) -> Result<NodeId, TapeError> {
        let Some(index) = self.nets.iter().position(|n| n.net == net) else {
            return Err(unsupported(
                "a call of a net whose weights are not sampled",
                span,
            ));
        };
        let [arg] = args else {
            return Err(TapeError::ShapeMismatch {
                detail: format!(
                    "net `{}` takes one argument, its input rows",
                    self.nets[index].name
                ),
                span,
            });
        };
        let input = self.lower(arg)?;
        let entry = &self.nets[index];
        let (rows, shape) = input_rows(&self.shape(input), &entry.sizes, &entry.name, span)?;
        let node = NetNode::new(entry, rows)?;
        let op = Op::NetCall {
            weights: self.program.net_inputs[index],
            input,
            node: Box::new(node),
        };
        Ok(self.computed(op, shape))
    }

    /// A recursive `let`: one node (or a few) per element, built in order, each piece's readings
    /// of earlier elements pointing straight at their nodes, so the tape grows linearly with the
    /// number of elements; then the elements assembled into the whole array.
    fn lower_recurrence(
        &mut self,
        of: LetId,
        pieces: &[ppl_ir::RecurrencePiece],
        expr: &Expr,
    ) -> Result<NodeId, TapeError> {
        let length = recurrence_length(expr, self.evaluator.dims)?;
        let saved_nodes = self.recurrence_nodes.insert(of, vec![None; length]);
        let saved_loops = self.evaluator.loops.clone();
        let outcome = self.lower_pieces(of, pieces);
        self.evaluator.loops = saved_loops;
        let elements = match saved_nodes {
            Some(saved) => self.recurrence_nodes.insert(of, saved),
            None => self.recurrence_nodes.remove(&of),
        }
        .unwrap_or_default();
        outcome?;
        let name = &self.model.lets[of.0].name;
        let element_shape: Vec<usize> = expr.ty.shape[1..]
            .iter()
            .map(|s| s.evaluate(self.evaluator.dims).max(0) as usize)
            .collect();
        let element_len: usize = element_shape.iter().product();
        let mut table = Vec::with_capacity(length * element_len);
        for (position, element) in elements.into_iter().enumerate() {
            let Some((node, offset)) = element else {
                return Err(undefined_element(name, position + 1, expr.span));
            };
            // A whole node holds one element; a scan node holds scalar elements side by side.
            let whole = !matches!(self.program.ops[node], Op::LinearScan { .. })
                && self.shape(node) == element_shape;
            if !whole && (element_len != 1 || offset >= self.len(node)) {
                return Err(TapeError::ShapeMismatch {
                    detail: format!("the elements of `{name}` change shape"),
                    span: expr.span,
                });
            }
            table.extend((0..element_len).map(|e| (node, offset + e)));
        }
        let mut shape = vec![length];
        shape.extend(element_shape);
        Ok(self.computed(Op::Assemble { table }, shape))
    }

    /// The node of one element: the node itself, or one element picked from a scan node.
    fn element_node(&mut self, node: NodeId, offset: usize) -> NodeId {
        if !matches!(self.program.ops[node], Op::LinearScan { .. }) {
            return node;
        }
        self.gather(node, Vec::new(), vec![offset])
    }

    /// A loop piece `let e[t] = a_t + b_t * e[t - 1]` (scalar elements, `a` and `b` free of
    /// `e` and elementwise in `t`) as one `LinearScan` node; `Ok(false)` when the piece has
    /// another form (it is then built element by element).
    fn lower_linear_piece(
        &mut self,
        of: LetId,
        piece: &ppl_ir::RecurrencePiece,
        var: LoopId,
        scalar_elements: bool,
    ) -> Result<bool, TapeError> {
        if !scalar_elements {
            return Ok(false);
        }
        let Some(own) = loop_offset(&piece.index, var) else {
            return Ok(false);
        };
        let Some((Some(a), Some(b))) = linear_form(&piece.value, of, var, own - 1) else {
            return Ok(false);
        };
        let (Some((a, _)), Some((b, _))) = (
            super::vectorise::over_loop(self.model, &a, var),
            super::vectorise::over_loop(self.model, &b, var),
        ) else {
            return Ok(false);
        };
        let (low, high) = self.evaluator.loop_bounds(var)?;
        if high < low {
            return Ok(true);
        }
        let steps = (high - low + 1) as usize;
        let name = &self.model.lets[of.0].name;
        let elements = self.recurrence_nodes.get(&of).map_or(0, Vec::len);
        let first = low + own;
        let last = high + own;
        if first < 2 || last as usize > elements {
            return Err(TapeError::Element {
                code: ppl_syntax::codes::ELEMENT_DEFINITION,
                detail: format!(
                    "`{name}[{}]` is outside the array, of length {elements}",
                    if first < 2 { first - 1 } else { last }
                ),
                span: piece.index.span,
            });
        }
        let slots = self.recurrence_nodes.get(&of);
        let initial = slots.and_then(|s| s[(first - 2) as usize]);
        let Some(initial) = initial else {
            return Err(TapeError::Element {
                code: ppl_syntax::codes::ELEMENT_USED_EARLY,
                detail: format!("`{name}[{}]` is read before it is defined", first - 1),
                span: piece.span,
            });
        };
        if let Some(taken) =
            slots.and_then(|s| (first..=last).find(|&p| s[(p - 1) as usize].is_some()))
        {
            return Err(TapeError::Element {
                code: ppl_syntax::codes::ELEMENT_DEFINITION,
                detail: format!("`{name}[{taken}]` is defined twice"),
                span: piece.index.span,
            });
        }
        let a = self.lower(&a)?;
        let b = self.lower(&b)?;
        let fits = |len: usize| len == 1 || len == steps;
        if !fits(self.len(a)) || !fits(self.len(b)) {
            return Err(TapeError::ShapeMismatch {
                detail: format!("a step of `{name}` is not one number"),
                span: piece.value.span,
            });
        }
        let op = Op::LinearScan {
            initial,
            a,
            b,
            a_scalar: self.len(a) == 1,
            b_scalar: self.len(b) == 1,
        };
        let scan = self.computed(op, vec![steps]);
        if let Some(slots) = self.recurrence_nodes.get_mut(&of) {
            for step in 0..steps {
                slots[(first - 1) as usize + step] = Some((scan, step));
            }
        }
        Ok(true)
    }

    fn lower_pieces(
        &mut self,
        of: LetId,
        pieces: &[ppl_ir::RecurrencePiece],
    ) -> Result<(), TapeError> {
        let scalar_elements = self.model.lets[of.0].value.ty.shape.len() == 1;
        for piece in pieces {
            if let Some(var) = piece.loop_var
                && self.lower_linear_piece(of, piece, var, scalar_elements)?
            {
                continue;
            }
            let iterations: Vec<Option<(LoopId, i64)>> = match piece.loop_var {
                Some(var) => {
                    let (low, high) = self.evaluator.loop_bounds(var)?;
                    (low..=high).map(|value| Some((var, value))).collect()
                }
                None => vec![None],
            };
            for iteration in iterations {
                if let Some((var, value)) = iteration {
                    self.evaluator.loops[var.0] = Some(value);
                }
                let position = self.evaluator.eval_int(&piece.index)?;
                let node = self.lower(&piece.value)?;
                let name = &self.model.lets[of.0].name;
                let elements = self.recurrence_nodes.entry(of).or_default();
                let length = elements.len();
                let slot = usize::try_from(position - 1)
                    .ok()
                    .and_then(|p| elements.get_mut(p));
                match slot {
                    Some(slot @ None) => *slot = Some((node, 0)),
                    Some(Some(_)) => {
                        return Err(TapeError::Element {
                            code: ppl_syntax::codes::ELEMENT_DEFINITION,
                            detail: format!("`{name}[{position}]` is defined twice"),
                            span: piece.index.span,
                        });
                    }
                    None => {
                        return Err(TapeError::Element {
                            code: ppl_syntax::codes::ELEMENT_DEFINITION,
                            detail: format!(
                                "`{name}[{position}]` is outside the array, of length {length}"
                            ),
                            span: piece.index.span,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// A `let`: its value for the current loop iteration, or all iterations stacked.
    fn lower_let(&mut self, id: LetId, reference: &Expr) -> Result<NodeId, TapeError> {
        let definition = &self.model.lets[id.0];
        let bound = definition
            .loops
            .iter()
            .all(|l| self.evaluator.loops[l.0].is_some());
        let one_iteration = definition.loops.is_empty()
            || (bound && reference.ty.shape.len() == definition.value.ty.shape.len());
        if one_iteration {
            let key: Vec<i64> = definition
                .loops
                .iter()
                .map(|l| self.evaluator.loops[l.0].unwrap_or(0))
                .collect();
            if let Some(&node) = self.let_nodes.get(&(id, key.clone())) {
                return Ok(node);
            }
            let node = self.lower(&definition.value)?;
            self.let_nodes.insert((id, key), node);
            return Ok(node);
        }
        // Every iteration, stacked with the loop axes first.
        let saved = self.evaluator.loops.clone();
        let mut nodes = Vec::new();
        let mut counts = Vec::new();
        let outcome = self.lower_let_iterations(id, &definition.loops, &mut nodes, &mut counts);
        self.evaluator.loops = saved;
        outcome?;
        let Some(&first) = nodes.first() else {
            return Err(unsupported("a `let` over an empty loop", reference.span));
        };
        let one_shape = self.shape(first);
        if nodes.iter().any(|&n| self.shape(n) != one_shape) {
            return Err(TapeError::ShapeMismatch {
                detail: format!("`let {}` changes shape between iterations", definition.name),
                span: definition.span,
            });
        }
        let mut shape = counts;
        shape.extend(one_shape);
        let table = nodes
            .iter()
            .flat_map(|&n| (0..self.len(n)).map(move |e| (n, e)))
            .collect();
        Ok(self.computed(Op::Assemble { table }, shape))
    }

    fn lower_let_iterations(
        &mut self,
        id: LetId,
        loops: &[LoopId],
        nodes: &mut Vec<NodeId>,
        counts: &mut Vec<usize>,
    ) -> Result<(), TapeError> {
        let Some((&first, rest)) = loops.split_first() else {
            let reference_free = &self.model.lets[id.0].value;
            let node = self.lower_let(id, reference_free)?;
            nodes.push(node);
            return Ok(());
        };
        let (low, high) = self.evaluator.loop_bounds(first)?;
        let depth = self.model.lets[id.0].loops.len() - loops.len();
        let count = (high - low + 1).max(0) as usize;
        if counts.len() == depth {
            counts.push(count);
        } else if counts[depth] != count {
            return Err(unsupported(
                "a `let` inside loops whose bounds change between iterations",
                self.model.lets[id.0].span,
            ));
        }
        for value in low..=high {
            self.evaluator.loops[first.0] = Some(value);
            self.lower_let_iterations(id, rest, nodes, counts)?;
        }
        Ok(())
    }

    pub(crate) fn unary(&mut self, function: UnaryFn, arg: NodeId) -> NodeId {
        let shape = self.shape(arg);
        let len = self.len(arg);
        let op = Op::Unary {
            function,
            arg,
            derivative: vec![0.0; len],
        };
        self.computed(op, shape)
    }

    pub(crate) fn binary(
        &mut self,
        function: BinaryFn,
        a: NodeId,
        b: NodeId,
        span: Span,
    ) -> Result<NodeId, TapeError> {
        let shape = broadcast_or_error(&self.shape(a), &self.shape(b), span)?;
        let len: usize = shape.iter().product();
        let partial = |constant: bool| if constant { Vec::new() } else { vec![0.0; len] };
        let op = Op::Binary {
            function,
            lhs: a,
            rhs: b,
            read_lhs: BroadcastPlan::new(&self.shape(a), &shape),
            read_rhs: BroadcastPlan::new(&self.shape(b), &shape),
            partial_lhs: partial(self.is_constant(a)),
            partial_rhs: partial(self.is_constant(b)),
        };
        Ok(self.computed(op, shape))
    }

    pub(crate) fn scale(
        &mut self,
        node: NodeId,
        factor: f64,
        span: Span,
    ) -> Result<NodeId, TapeError> {
        let constant = self.constant(Array::scalar(factor));
        self.binary(BinaryFn::Mul, constant, node, span)
    }

    fn matmul(&mut self, a: NodeId, b: NodeId, span: Span) -> Result<NodeId, TapeError> {
        let (shape_a, shape_b) = (self.shape(a), self.shape(b));
        let shape = matmul_shape(&shape_a, &shape_b, span)?;
        let (rows, inner) = match shape_a.as_slice() {
            [n, k] => (*n, *k),
            [k] => (1, *k),
            _ => unreachable!("checked by matmul_shape"),
        };
        let columns = if shape_b.len() == 2 { shape_b[1] } else { 1 };
        let op = Op::MatMul {
            lhs: a,
            rhs: b,
            rows,
            inner,
            columns,
        };
        Ok(self.computed(op, shape))
    }

    pub(crate) fn gather(
        &mut self,
        source: NodeId,
        shape: Vec<usize>,
        table: Vec<usize>,
    ) -> NodeId {
        let identity =
            shape == self.shape(source) && table.iter().enumerate().all(|(i, &t)| i == t);
        if identity {
            return source;
        }
        self.computed(Op::Gather { source, table }, shape)
    }

    fn stack(&mut self, nodes: Vec<NodeId>, span: Span) -> Result<NodeId, TapeError> {
        let one_shape = nodes.first().map(|&n| self.shape(n)).unwrap_or_default();
        if nodes.iter().any(|&n| self.shape(n) != one_shape) {
            return Err(TapeError::ShapeMismatch {
                detail: "elements of a vector differ in shape".into(),
                span,
            });
        }
        let mut shape = vec![nodes.len()];
        shape.extend(one_shape);
        let table = nodes
            .iter()
            .flat_map(|&n| (0..self.len(n)).map(move |e| (n, e)))
            .collect();
        Ok(self.computed(Op::Assemble { table }, shape))
    }

    pub(crate) fn sum_all(&mut self, node: NodeId) -> NodeId {
        if self.shape(node).is_empty() {
            return node;
        }
        let groups = vec![0; self.len(node)];
        self.computed(Op::SumGroups { arg: node, groups }, Vec::new())
    }

    /// Builtins that only move elements: the generic builtin is run on the elements' source
    /// numbers (1-based; 0 marks a structural zero), which gives the gather table.
    pub(crate) fn rearrangement(
        &mut self,
        function: Builtin,
        args: &[Expr],
        span: Span,
    ) -> Result<NodeId, TapeError> {
        let mut sources: Vec<NodeId> = Vec::new();
        let mut encoded: Vec<Array<f64>> = Vec::new();
        let mut next = 1.0;
        for (position, arg) in args.iter().enumerate() {
            if function == Builtin::Fill && position == 0 {
                encoded.push(self.evaluator.eval(arg)?);
                continue;
            }
            let node = self.lower(arg)?;
            let len = self.len(node);
            encoded.push(Array::new(
                self.shape(node),
                (0..len).map(|e| next + e as f64).collect(),
            ));
            next += len as f64;
            sources.push(node);
        }
        let placed = call_builtin(function, &encoded, span)?;
        let mut zero: Option<NodeId> = None;
        let mut table = Vec::with_capacity(placed.len());
        for &code in &placed.values {
            if code == 0.0 {
                let node = *zero
                    .get_or_insert_with(|| self.push(Op::Constant, Vec::new(), false, vec![0.0]));
                table.push((node, 0));
                continue;
            }
            let mut remaining = code as usize - 1;
            for &source in &sources {
                let len = self.len(source);
                if remaining < len {
                    table.push((source, remaining));
                    break;
                }
                remaining -= len;
            }
        }
        if let [only] = sources[..]
            && zero.is_none()
        {
            let gather_table = table.iter().map(|&(_, e)| e).collect();
            return Ok(self.gather(only, placed.shape, gather_table));
        }
        Ok(self.computed(Op::Assemble { table }, placed.shape))
    }

    /// One `Op::Call` node for a builtin: its definition's value forward, its reverse rule
    /// backward (`super::builtins`).
    pub(crate) fn call_node(
        &mut self,
        function: Builtin,
        args: &[Expr],
        span: Span,
    ) -> Result<NodeId, TapeError> {
        let nodes = args
            .iter()
            .map(|a| self.lower(a))
            .collect::<Result<Vec<_>, _>>()?;
        let arrays: Vec<Array<f64>> = nodes
            .iter()
            .map(|&n| Array::new(self.shape(n), vec![0.0; self.len(n)]))
            .collect();
        let shape = call_builtin(function, &arrays, span)?.shape;
        let gradients = nodes.iter().map(|&n| vec![0.0; self.len(n)]).collect();
        let op = Op::Call {
            function,
            args: nodes,
            arrays,
            gradients,
        };
        Ok(self.computed(op, shape))
    }

    /// The value of an expression that depends on no unknown.
    pub(crate) fn evaluate(&mut self, expr: &Expr) -> Result<Array<f64>, TapeError> {
        self.evaluator.eval(expr)
    }

    /// The values of a constant node; `None` for a computed one.
    pub(crate) fn constant_values(&self, node: NodeId) -> Option<Vec<f64>> {
        let info = &self.program.infos[node];
        (!info.needs_gradient)
            .then(|| self.program.values[info.start..info.start + info.len].to_vec())
    }

    /// `Σ log p(inputs[0] | inputs[1..])` over the broadcast batch.
    fn density(
        &mut self,
        kind: DistKind,
        inputs: Vec<NodeId>,
        span: Span,
        elementwise: bool,
    ) -> Result<NodeId, TapeError> {
        let (variate_rank, param_ranks) = event_ranks(kind);
        if param_ranks.len() + 1 != inputs.len() {
            return Err(TapeError::ShapeMismatch {
                detail: format!("{kind:?} takes {} arguments", param_ranks.len()),
                span,
            });
        }
        let ranks: Vec<usize> = std::iter::once(variate_rank).chain(param_ranks).collect();
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|&n| self.shape(n)).collect();
        let mut batch: Vec<usize> = Vec::new();
        for (shape, &rank) in shapes.iter().zip(&ranks) {
            let own = batch_shape(shape, rank, "an argument", span)?;
            batch = broadcast_or_error(&batch, own, span)?;
        }
        let count: usize = batch.iter().product();
        let event_lens: Vec<usize> = shapes
            .iter()
            .zip(&ranks)
            .map(|(shape, &rank)| shape[shape.len() - rank..].iter().product())
            .collect();
        let plans: Vec<BroadcastPlan> = shapes
            .iter()
            .zip(&ranks)
            .map(|(shape, &rank)| BroadcastPlan::new(&shape[..shape.len() - rank], &batch))
            .collect();
        if elementwise
            && kind == DistKind::Categorical
            && self.is_constant(inputs[0])
            && let Some(node) = self.categorical_pick(&inputs, &plans, &event_lens, count)
        {
            return Ok(node);
        }
        if kind.is_scalar() {
            let (inputs, plans): (Vec<NodeId>, Vec<BroadcastPlan>) = inputs
                .into_iter()
                .zip(plans)
                .map(|(node, plan)| self.read_through_gather(node, plan, count))
                .unzip();
            let partials = inputs
                .iter()
                .map(|&n| {
                    if self.is_constant(n) {
                        Vec::new()
                    } else {
                        vec![0.0; count]
                    }
                })
                .collect();
            let op = Op::ScalarDensity {
                kind,
                inputs,
                plans,
                count,
                partials,
                elementwise,
            };
            let shape = if elementwise { vec![count] } else { Vec::new() };
            return Ok(self.computed(op, shape));
        }
        ppl_dist::check_event_shapes(kind, event_lens[0], &event_lens[1..]).map_err(|error| {
            TapeError::ShapeMismatch {
                detail: error.to_string(),
                span,
            }
        })?;
        let scratch: Vec<Vec<f64>> = event_lens.iter().map(|&len| vec![0.0; len]).collect();
        let op = Op::EventDensity {
            kind,
            inputs,
            plans,
            event_lens,
            count,
            scratch_values: scratch.clone(),
            scratch_gradients: scratch,
            elementwise,
        };
        let shape = if elementwise { vec![count] } else { Vec::new() };
        Ok(self.computed(op, shape))
    }

    /// Elementwise `log Categorical(k | p)` with the categories `k` known (a summed-out latent
    /// at one state) as one logarithm per element, reading through a gather of whole rows (the
    /// `theta[z[t - 1]]` of a chain) to the rows themselves; `None` when the shapes do not fit.
    fn categorical_pick(
        &mut self,
        inputs: &[NodeId],
        plans: &[BroadcastPlan],
        event_lens: &[usize],
        count: usize,
    ) -> Option<NodeId> {
        let events = *event_lens.get(1)?;
        if events == 0 || event_lens[0] != 1 {
            return None;
        }
        let start = self.program.infos[inputs[0]].start;
        let categories = self.program.values[start..start + self.len(inputs[0])].to_vec();
        // Row starts in the probabilities node, then (through a gather of whole aligned rows)
        // in its source.
        let mut probs = inputs[1];
        let mut rows: Vec<usize> = (0..count).map(|i| plans[1].at(i) * events).collect();
        if let Op::Gather { source, table } = &self.program.ops[probs] {
            let aligned = table.chunks(events).all(|row| {
                row[0].is_multiple_of(events)
                    && row.iter().enumerate().all(|(j, &t)| t == row[0] + j)
            });
            if table.len().is_multiple_of(events) && aligned {
                rows = rows.iter().map(|&r| table[r]).collect();
                probs = *source;
            }
        }
        if !self.len(probs).is_multiple_of(events) {
            return None;
        }
        let picks = (0..count)
            .map(|i| {
                let value = categories[plans[0].at(i)];
                let valid = value.fract() == 0.0 && value >= 1.0 && value <= events as f64;
                if valid {
                    rows[i] + value as usize - 1
                } else {
                    usize::MAX
                }
            })
            .collect();
        let valid = vec![false; self.len(probs) / events];
        let op = Op::CategoricalPick {
            probs,
            picks,
            rows,
            events,
            valid,
        };
        Some(self.computed(op, vec![count]))
    }

    /// Fixes a summed-out latent at `values` for the terms lowered next.
    fn fix_latent(&mut self, latent: &SummedLatent, values: Vec<f64>) {
        self.evaluator.variables[latent.var.0] = Some(Array::new(latent.shape.clone(), values));
        self.evaluator.forget_lets();
        self.let_nodes.clear();
    }

    /// Lowers a term with its loops unrolled, collecting one node per iteration (instead of
    /// recording them as terms): summed over its batch, or one element per batch element.
    fn lower_term_nodes(
        &mut self,
        index: usize,
        loops: &[LoopId],
        elementwise: bool,
        out: &mut Vec<NodeId>,
    ) -> Result<(), TapeError> {
        let Some((&first, rest)) = loops.split_first() else {
            let node = if elementwise {
                self.lower_term_elements(index)?
            } else {
                self.lower_term_body(index)?
            };
            out.push(node);
            return Ok(());
        };
        let (low, high) = self.evaluator.loop_bounds(first)?;
        let saved = self.evaluator.loops[first.0];
        let mut outcome = Ok(());
        for value in low..=high {
            self.evaluator.loops[first.0] = Some(value);
            outcome = self.lower_term_nodes(index, rest, elementwise, out);
            if outcome.is_err() {
                break;
            }
        }
        self.evaluator.loops[first.0] = saved;
        outcome
    }

    /// One log density per batch element of a `~` (the current loop iteration's).
    fn lower_term_elements(&mut self, index: usize) -> Result<NodeId, TapeError> {
        let term = &self.model.terms[index];
        let TermKind::Tilde {
            target,
            distribution,
            args,
        } = &term.kind
        else {
            return Err(unsupported(
                "a `factor` or `energy` with a summed-out discrete latent",
                term.span,
            ));
        };
        let depends = self.depends(target) || args.iter().any(|a| self.depends(a));
        if !depends {
            let variate = self.evaluator.eval(target)?;
            let values = args
                .iter()
                .map(|a| self.evaluator.eval(a))
                .collect::<Result<Vec<_>, _>>()?;
            let values = tilde_log_densities(*distribution, &variate, &values, term.span)?;
            return Ok(self.constant(Array::new(vec![values.len()], values)));
        }
        let mut inputs = vec![self.lower(target)?];
        for arg in args {
            inputs.push(self.lower(arg)?);
        }
        self.density(*distribution, inputs, term.span, true)
    }

    /// The elementwise log densities of `terms`, each placed from its first element on in an
    /// array of `length` elements (zero where a term has none), and added up.
    fn aligned_sum(
        &mut self,
        terms: &[OwnedTerm],
        length: usize,
        name: &str,
    ) -> Result<NodeId, TapeError> {
        let zero = self.constant(Array::new(vec![1], vec![0.0]));
        let mut total: Option<NodeId> = None;
        for owned in terms {
            let (index, offset) = (owned.term, owned.first_element);
            let span = self.model.terms[index].span;
            let mut nodes = Vec::new();
            let loops = self.model.terms[index].loops.clone();
            self.lower_term_nodes(index, &loops, true, &mut nodes)?;
            let covered: usize = nodes.iter().map(|&n| self.len(n)).sum();
            let expected = if owned.covers_all {
                length.saturating_sub(offset)
            } else if let Some(loop_var) = owned.per_iteration {
                let (low, high) = self.evaluator.loop_bounds(loop_var)?;
                usize::try_from(high - low + 1).unwrap_or(0)
            } else {
                1
            };
            if covered != expected {
                return Err(TapeError::ShapeMismatch {
                    detail: format!(
                        "this statement has {covered} log-density terms where {expected} (one \
                         per element of `{name}` it reads) are needed to sum `{name}` out"
                    ),
                    span,
                });
            }
            if offset + covered > length {
                return Err(TapeError::ShapeMismatch {
                    detail: format!(
                        "this statement covers {covered} elements of `{name}` from element {} \
                         on, but `{name}` has {length}",
                        offset + 1
                    ),
                    span,
                });
            }
            let whole = offset == 0 && nodes.len() == 1 && self.len(nodes[0]) == length;
            if whole && total.is_none() {
                // One node over every element needs no placing.
                total = Some(nodes[0]);
                continue;
            }
            let mut table = vec![(zero, 0); length];
            let mut slot = offset;
            for &node in &nodes {
                for element in 0..self.len(node) {
                    table[slot] = (node, element);
                    slot += 1;
                }
            }
            let placed = self.computed(Op::Assemble { table }, vec![length]);
            total = Some(match total {
                None => placed,
                Some(sum) => self.binary(BinaryFn::Add, sum, placed, span)?,
            });
        }
        Ok(match total {
            Some(node) => node,
            None => self.constant(Array::new(vec![length], vec![0.0; length])),
        })
    }

    /// Lowers the terms a discrete latent owns once per state and sums the latent out on the
    /// tape: one log-sum-exp (a scalar), a log-sum-exp per element (a plate), or the forward
    /// algorithm (a chain).
    fn lower_summed(&mut self, latent: &SummedLatent) -> Result<(), TapeError> {
        let label_term = latent.owned_terms().first().copied().unwrap_or(0);
        let states: Vec<f64> = (0..latent.states)
            .map(|k| (latent.low + k as i64) as f64)
            .collect();
        let elements = latent.elements;
        match latent.structure {
            Structure::Scalar => {
                // Terms that read the latent through one comparison (a change point) get all
                // their states from one running sum; the rest are lowered once per state.
                let mut fast = Vec::new();
                let mut general = Vec::new();
                for owned in &latent.unary_terms {
                    match self.threshold_term(latent, owned) {
                        Some(node) => fast.push(node),
                        None => general.push(*owned),
                    }
                }
                let mut per_state = Vec::with_capacity(states.len());
                if !general.is_empty() || fast.is_empty() {
                    for &state in &states {
                        self.fix_latent(latent, vec![state]);
                        let mut nodes = Vec::new();
                        for owned in &general {
                            let loops = self.model.terms[owned.term].loops.clone();
                            self.lower_term_nodes(owned.term, &loops, false, &mut nodes)?;
                        }
                        let mut total = self.constant(Array::scalar(0.0));
                        for node in nodes {
                            total = self.binary(BinaryFn::Add, total, node, latent.span)?;
                        }
                        per_state.push(total);
                    }
                }
                let mut weights = if per_state.is_empty() {
                    None
                } else {
                    Some(self.stack(per_state, latent.span)?)
                };
                for node in fast {
                    weights = Some(match weights {
                        None => node,
                        Some(sum) => self.binary(BinaryFn::Add, sum, node, latent.span)?,
                    });
                }
                let weights = match weights {
                    Some(node) => node,
                    None => self.constant(Array::new(vec![states.len()], vec![0.0; states.len()])),
                };
                let node = self.computed(Op::LogSumExp { arg: weights }, Vec::new());
                self.program.terms.push((label_term, node));
                self.program
                    .summed
                    .push(SummedNodes::Scalar { per_state: weights });
            }
            Structure::Plate => {
                let mut per_state = Vec::with_capacity(states.len());
                for &state in &states {
                    self.fix_latent(latent, vec![state; elements]);
                    let node = self.aligned_sum(&latent.unary_terms, elements, &latent.name)?;
                    per_state.push(node);
                }
                let node = self.summed_plate(&per_state, elements);
                self.program.terms.push((label_term, node));
                self.program.summed.push(SummedNodes::Plate { per_state });
            }
            Structure::Chain => {
                let count = states.len();
                let mut emissions = Vec::with_capacity(count);
                for &state in &states {
                    self.fix_latent(latent, vec![state; elements]);
                    emissions.push(self.aligned_sum(
                        &latent.unary_terms,
                        elements,
                        &latent.name,
                    )?);
                }
                // With the latent alternating a, b, a, b, …, a transition term read at step t
                // (0-based) sees a → b when t is odd and b → a when t is even.
                let steps = elements.saturating_sub(1);
                let transition_terms = &latent.transition_terms;
                let mut alternating = vec![Vec::new(); count * count];
                for a in 0..count {
                    for b in 0..count {
                        let values = (0..elements)
                            .map(|i| if i % 2 == 0 { states[a] } else { states[b] })
                            .collect();
                        self.fix_latent(latent, values);
                        let node = self.aligned_sum(transition_terms, steps, &latent.name)?;
                        alternating[a * count + b] = vec![node];
                    }
                }
                let mut transitions = Vec::with_capacity(count * count);
                for from in 0..count {
                    for to in 0..count {
                        let table = (1..elements)
                            .map(|t| {
                                let pair = if t % 2 == 1 {
                                    from * count + to
                                } else {
                                    to * count + from
                                };
                                (alternating[pair][0], t - 1)
                            })
                            .collect();
                        transitions.push(self.computed(Op::Assemble { table }, vec![steps]));
                    }
                }
                let zero = self.constant(Array::scalar(0.0));
                let node = self.chain_forward(
                    vec![zero; count],
                    &transitions,
                    emissions.clone(),
                    count,
                    elements,
                );
                self.program.terms.push((label_term, node));
                self.program.summed.push(SummedNodes::Chain {
                    emissions,
                    transitions,
                });
            }
        }
        Ok(())
    }
}
