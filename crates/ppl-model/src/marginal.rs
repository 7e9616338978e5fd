//! Automatic marginalisation of finite discrete unknowns (LANGUAGE.md §6 rule 5): which
//! discrete latents can be summed out of the log density and how, and their recovery from one
//! draw of the continuous unknowns.
//!
//! Enumeration is a transformation of the model, not a sampler (STYLE.md habit 15): `analyse`
//! decides, per discrete unknown, one of three structures the tape knows how to sum —
//! a small-support scalar (one log-sum-exp over its states), elements independent across a plate
//! (a log-sum-exp per element, one array node per state), or a first-order chain (the forward
//! algorithm) — or says why it cannot. The tape (`Tape::with_summed`) then lowers the terms that
//! mention the latent once per state; the engines see the continuous unknowns only. Recovery is
//! a separate pass over the same per-state log-potentials: exact conditionals for scalars and
//! plates, forward–backward smoothing and forward-filtering backward-sampling for chains.
//!
//! Never the K^N joint sum: a latent whose terms couple its elements other than as a chain is
//! refused, and supports are capped (`SCALAR_STATE_CAP`, `ELEMENT_STATE_CAP`, `CHAIN_STATE_CAP`).

use std::fmt;

use ppl_ir::{
    Constraint, ElemType, Expr, ExprKind, IndexExpr, LoopId, Model, Role, TermKind, VarId,
};
use ppl_syntax::Span;
use rand::{Rng, RngExt};

/// Most states a scalar latent may have when summed out.
pub const SCALAR_STATE_CAP: usize = 10_000;
/// Most states per element of a plate latent.
pub const ELEMENT_STATE_CAP: usize = 1_000;
/// Most states of a chain (the forward algorithm costs steps × states²).
pub const CHAIN_STATE_CAP: usize = 100;

/// How a discrete latent is summed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Structure {
    /// A scalar with a small support: one log-sum-exp over its states.
    Scalar,
    /// An array whose elements appear in separate terms (or separate elements of one vectorised
    /// term): a log-sum-exp per element.
    Plate,
    /// `z[t]` depends on `z[t - 1]` only: the forward algorithm.
    Chain,
}

/// A term owned by a summed-out latent and how its batch elements line up with the latent's
/// elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnedTerm {
    /// Index in `model.terms`.
    pub term: usize,
    /// The latent's element (0-based) that the term's first batch element reads.
    pub first_element: usize,
    /// The term is a loop whose iterations each read one element: one log-density term per
    /// iteration of this loop.
    pub per_iteration: Option<LoopId>,
    /// The term must cover every element (the whole latent, or a chain's transitions).
    pub covers_all: bool,
}

/// A discrete latent the tape sums out.
#[derive(Clone, Debug, PartialEq)]
pub struct SummedLatent {
    pub var: VarId,
    pub name: String,
    /// The value of the first state; the states are `low, low + 1, …`.
    pub low: i64,
    pub states: usize,
    /// Number of elements (1 for a scalar; the steps of a chain).
    pub elements: usize,
    /// The latent's bound shape.
    pub shape: Vec<usize>,
    pub structure: Structure,
    /// Terms that read one element (or, for a scalar, any term that mentions the latent).
    pub unary_terms: Vec<OwnedTerm>,
    /// A chain's terms that read elements t - 1 and t (into steps 2..=T).
    pub transition_terms: Vec<OwnedTerm>,
    /// The declaration.
    pub span: Span,
}

impl SummedLatent {
    /// Every term lowered per state for this latent.
    pub fn owned_terms(&self) -> Vec<usize> {
        self.unary_terms
            .iter()
            .chain(&self.transition_terms)
            .map(|t| t.term)
            .collect()
    }

    /// How many states the tape enumerates for one evaluation (states × elements, or
    /// states² × steps for a chain), to report.
    pub fn enumerated(&self) -> usize {
        match self.structure {
            Structure::Scalar => self.states,
            Structure::Plate => self.states * self.elements,
            Structure::Chain => self.states * self.states * self.elements,
        }
    }
}

impl fmt::Display for SummedLatent {
    /// The planner's one-line account: "`s` (112 states) summed out as a scalar".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let high = self.low + self.states as i64 - 1;
        match self.structure {
            Structure::Scalar => write!(
                f,
                "`{}` summed out over its {} values {}..{} (one log-sum-exp)",
                self.name, self.states, self.low, high
            ),
            Structure::Plate => write!(
                f,
                "`{}` summed out per element ({} elements independent given the rest, {} values \
                 {}..{} each)",
                self.name, self.elements, self.states, self.low, high
            ),
            Structure::Chain => write!(
                f,
                "`{}` summed out as a first-order chain by the forward algorithm ({} steps, {} \
                 states {}..{})",
                self.name, self.elements, self.states, self.low, high
            ),
        }
    }
}

/// A discrete unknown that cannot be summed out, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub var: VarId,
    pub name: String,
    pub reason: String,
    /// The statement (or declaration) responsible.
    pub span: Span,
    /// The refusal is the support cap (the planner should warn, naming the variable).
    pub over_cap: bool,
}

/// The decision for one discrete unknown.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Summed(SummedLatent),
    Refused(Refusal),
}

/// Decides, for every discrete unknown (`int`, `bool`; latent or param) of a model bound to data
/// (`dims`), how it can be summed out. Continuous unknowns are not listed.
pub fn analyse(model: &Model, dims: &[usize]) -> Vec<Decision> {
    let discrete: Vec<VarId> = model
        .unknowns()
        .filter(|v| v.ty.elem != ElemType::Real)
        .map(|v| v.id)
        .collect();
    discrete
        .iter()
        .map(|&var| match decide(model, dims, var, &discrete) {
            Ok(summed) => Decision::Summed(summed),
            Err(refusal) => Decision::Refused(refusal),
        })
        .collect()
}

fn decide(
    model: &Model,
    dims: &[usize],
    var: VarId,
    discrete: &[VarId],
) -> Result<SummedLatent, Refusal> {
    let variable = &model.variables[var.0];
    let refuse = |reason: String, span: Span, over_cap: bool| Refusal {
        var,
        name: variable.name.clone(),
        reason,
        span,
        over_cap,
    };
    let (low, states) =
        support(model, var, dims).map_err(|reason| refuse(reason, variable.span, false))?;
    let shape: Vec<usize> = variable
        .ty
        .shape
        .iter()
        .map(|s| s.evaluate(dims).max(0) as usize)
        .collect();
    let elements: usize = shape.iter().product();
    let mut owned = Vec::new();
    for (index, term) in model.terms.iter().enumerate() {
        if !term_mentions(model, &term.kind, var) {
            continue;
        }
        if let Some(other) = discrete
            .iter()
            .find(|&&o| o != var && term_mentions(model, &term.kind, o))
        {
            return Err(refuse(
                format!(
                    "this statement couples `{}` with the discrete `{}`; only one discrete \
                     unknown per statement can be summed out",
                    variable.name, model.variables[other.0].name
                ),
                term.span,
                false,
            ));
        }
        owned.push(index);
    }
    let base = SummedLatent {
        var,
        name: variable.name.clone(),
        low,
        states,
        elements,
        shape: shape.clone(),
        structure: Structure::Scalar,
        unary_terms: Vec::new(),
        transition_terms: Vec::new(),
        span: variable.span,
    };
    if shape.is_empty() {
        if states > SCALAR_STATE_CAP {
            return Err(refuse(
                format!(
                    "`{}` has {states} values, over the cap of {SCALAR_STATE_CAP} for summing \
                     out a scalar",
                    variable.name
                ),
                variable.span,
                true,
            ));
        }
        return Ok(SummedLatent {
            unary_terms: owned
                .iter()
                .map(|&term| OwnedTerm {
                    term,
                    first_element: 0,
                    per_iteration: None,
                    covers_all: false,
                })
                .collect(),
            ..base
        });
    }
    if shape.len() != 1 {
        return Err(refuse(
            format!(
                "`{}` has {} axes; only scalars and one-axis arrays are summed out",
                variable.name,
                shape.len()
            ),
            variable.span,
            false,
        ));
    }
    let mut unary_terms = Vec::new();
    let mut transition_terms = Vec::new();
    for &index in &owned {
        let term = &model.terms[index];
        let mut found = Vec::new();
        let mut through_let = None;
        for (expr, whole_allowed) in term_roots(&term.kind) {
            occurrences(
                model,
                expr,
                var,
                whole_allowed,
                &mut found,
                &mut through_let,
            );
        }
        if let Some(name) = through_let {
            return Err(refuse(
                format!(
                    "`{}` is read through `let {name}` here; write the expression in the \
                     statement to sum `{}` out",
                    variable.name, variable.name
                ),
                term.span,
                false,
            ));
        }
        found.sort_by_key(|o| format!("{o:?}"));
        found.dedup();
        let not_elementwise = |what: &str| {
            refuse(
                format!(
                    "this statement {what}, so the elements of `{}` are not independent given \
                     the rest (only `{}`, `{}[n]` in a loop over n, `{}[1]` and \
                     `{}[t - 1]` → `{}[t]` chains are summed out)",
                    variable.name,
                    variable.name,
                    variable.name,
                    variable.name,
                    variable.name,
                    variable.name
                ),
                term.span,
                false,
            )
        };
        match found.as_slice() {
            [Occurrence::Whole] => {
                if !term.loops.is_empty() {
                    return Err(not_elementwise("reads all of it inside a loop"));
                }
                unary_terms.push(OwnedTerm {
                    term: index,
                    first_element: 0,
                    per_iteration: None,
                    covers_all: true,
                });
            }
            [Occurrence::Constant(c)] => {
                if !term.loops.is_empty() || *c < 1 || *c as usize > elements {
                    return Err(not_elementwise("reads a fixed element inside a loop"));
                }
                unary_terms.push(OwnedTerm {
                    term: index,
                    first_element: *c as usize - 1,
                    per_iteration: None,
                    covers_all: false,
                });
            }
            [
                Occurrence::Loop {
                    var: loop_var,
                    shift,
                },
            ] => {
                let first = loop_first_element(model, &term.loops, *loop_var, *shift)
                    .ok_or_else(|| not_elementwise("indexes it by a loop it is not alone in"))?;
                unary_terms.push(OwnedTerm {
                    term: index,
                    first_element: first,
                    per_iteration: Some(*loop_var),
                    covers_all: false,
                });
            }
            [
                Occurrence::Loop {
                    var: first_var,
                    shift: -1,
                },
                Occurrence::Loop {
                    var: second_var,
                    shift: 0,
                },
            ] if first_var == second_var => {
                // `z[t] ~ f(z[t - 1])` for t in 2..T: the transitions of a chain.
                if loop_first_element(model, &term.loops, *first_var, 0) != Some(1) {
                    return Err(not_elementwise(
                        "links neighbours but its loop does not start at 2",
                    ));
                }
                transition_terms.push(OwnedTerm {
                    term: index,
                    first_element: 0,
                    per_iteration: Some(*first_var),
                    covers_all: true,
                });
            }
            [] | [Occurrence::Other(_), ..] | [_, ..] => {
                let span = found
                    .iter()
                    .find_map(|o| match o {
                        Occurrence::Other(span) => Some(*span),
                        _ => None,
                    })
                    .unwrap_or(term.span);
                return Err(Refusal {
                    span,
                    ..not_elementwise("reads it in a way that couples its elements")
                });
            }
        }
    }
    let structure = if transition_terms.is_empty() {
        Structure::Plate
    } else {
        Structure::Chain
    };
    let cap = match structure {
        Structure::Chain => CHAIN_STATE_CAP,
        _ => ELEMENT_STATE_CAP,
    };
    if states > cap {
        return Err(refuse(
            format!(
                "each element of `{}` has {states} values, over the cap of {cap} for summing \
                 out {}",
                variable.name,
                if structure == Structure::Chain {
                    "a chain"
                } else {
                    "a plate"
                }
            ),
            variable.span,
            true,
        ));
    }
    Ok(SummedLatent {
        structure,
        unary_terms,
        transition_terms,
        ..base
    })
}

/// The first state and the number of states of a discrete unknown once data is bound.
pub(crate) fn support(model: &Model, var: VarId, dims: &[usize]) -> Result<(i64, usize), String> {
    let variable = &model.variables[var.0];
    if variable.ty.elem == ElemType::Bool {
        return Ok((0, 2));
    }
    let (low, high) = match (&variable.data_bound, &variable.constraint) {
        (Some((low, high)), _) => (low.evaluate(dims), high.evaluate(dims)),
        (None, Constraint::Bounded { low, high, open }) if low.is_finite() && high.is_finite() => {
            let (low, high) = if *open {
                (low.floor() as i64 + 1, high.ceil() as i64 - 1)
            } else {
                (low.ceil() as i64, high.floor() as i64)
            };
            (low, high)
        }
        _ => {
            return Err(format!(
                "`{}` has no finite support to sum over; declare it `int in a..b`",
                variable.name
            ));
        }
    };
    if high < low {
        return Err(format!(
            "`{}` has an empty support {low}..{high} with this data",
            variable.name
        ));
    }
    Ok((low, (high - low + 1) as usize))
}

/// Where a statement reads a plate or chain latent.
#[derive(Clone, Debug, PartialEq)]
enum Occurrence {
    /// The whole array, elementwise (a `~` target, a gather index, arithmetic on it).
    Whole,
    /// A fixed element, 1-based.
    Constant(i64),
    /// Element `loop variable + shift`.
    Loop { var: LoopId, shift: i64 },
    /// Any other reading (a slice, a reduction, an index computed otherwise).
    Other(Span),
}

/// The expressions of a term, with whether a whole-array reading is elementwise there.
fn term_roots(kind: &TermKind) -> Vec<(&Expr, bool)> {
    match kind {
        TermKind::Tilde { target, args, .. } => std::iter::once((target, true))
            .chain(args.iter().map(|a| (a, true)))
            .collect(),
        TermKind::Factor(expr) | TermKind::Energy(expr) => vec![(expr, false)],
    }
}

fn term_mentions(model: &Model, kind: &TermKind, var: VarId) -> bool {
    term_roots(kind)
        .into_iter()
        .any(|(e, _)| mentions(model, e, var))
}

/// Whether `expr` reads `var`, directly or through `let`s.
pub(crate) fn mentions(model: &Model, expr: &Expr, var: VarId) -> bool {
    let mut found = false;
    ppl_ir::check::visit(expr, &mut |e| match &e.kind {
        ExprKind::Variable(v) => found |= *v == var,
        ExprKind::Let(l) => {
            if let Some(definition) = model.lets.get(l.0) {
                found |= mentions(model, &definition.value, var);
            }
        }
        _ => {}
    });
    found
}

/// Collects how `expr` reads `var`. `whole_allowed`: a bare reading here is elementwise.
fn occurrences(
    model: &Model,
    expr: &Expr,
    var: VarId,
    whole_allowed: bool,
    found: &mut Vec<Occurrence>,
    through_let: &mut Option<String>,
) {
    let mut recurse = |e: &Expr, allowed: bool, found: &mut Vec<Occurrence>| {
        occurrences(model, e, var, allowed, found, through_let)
    };
    match &expr.kind {
        ExprKind::Variable(v) if *v == var => found.push(if whole_allowed {
            Occurrence::Whole
        } else {
            Occurrence::Other(expr.span)
        }),
        ExprKind::Let(l) => {
            if let Some(definition) = model.lets.get(l.0)
                && mentions(model, &definition.value, var)
            {
                *through_let = Some(definition.name.clone());
            }
        }
        ExprKind::Literal(_) | ExprKind::Variable(_) | ExprKind::Dim(_) | ExprKind::LoopVar(_) => {}
        ExprKind::Index { base, indices } => {
            if matches!(base.kind, ExprKind::Variable(v) if v == var) {
                let position = match indices.as_slice() {
                    [IndexExpr::Single(index)] => element_position(index),
                    _ => None,
                };
                found.push(position.unwrap_or(Occurrence::Other(expr.span)));
                for index in indices {
                    index_parts(index, &mut |e| recurse(e, false, found));
                }
                return;
            }
            recurse(base, whole_allowed, found);
            for index in indices {
                match index {
                    IndexExpr::Gather(e) => recurse(e, true, found),
                    other => index_parts(other, &mut |e| recurse(e, false, found)),
                }
            }
        }
        ExprKind::Neg(inner) => recurse(inner, whole_allowed, found),
        ExprKind::Binary { lhs, rhs, op } => {
            let elementwise = whole_allowed && *op != ppl_ir::BinaryOp::MatMul;
            recurse(lhs, elementwise, found);
            recurse(rhs, elementwise, found);
        }
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => {
            recurse(cond, whole_allowed, found);
            recurse(then, whole_allowed, found);
            recurse(otherwise, whole_allowed, found);
        }
        ExprKind::Vector(parts) => parts.iter().for_each(|p| recurse(p, false, found)),
        ExprKind::Comprehension { body, .. } => recurse(body, false, found),
        ExprKind::Range { low, high } => {
            recurse(low, false, found);
            recurse(high, false, found);
        }
        ExprKind::Call { args, .. } | ExprKind::NetCall { args, .. } => {
            args.iter().for_each(|a| recurse(a, false, found))
        }
        // logpdf and friends are elementwise over their batch axes.
        ExprKind::DistFunction { args, variate, .. } => {
            args.iter().for_each(|a| recurse(a, whole_allowed, found));
            recurse(variate, whole_allowed, found);
        }
        // A recursion mixes its elements: no reading inside it is elementwise.
        ExprKind::Recurrence { pieces, .. } => {
            for piece in pieces {
                recurse(&piece.index, false, found);
                recurse(&piece.value, false, found);
            }
        }
        ExprKind::Element { index, .. } => recurse(index, false, found),
    }
}

fn index_parts(index: &IndexExpr, visit: &mut dyn FnMut(&Expr)) {
    match index {
        IndexExpr::Single(e) | IndexExpr::Gather(e) => visit(e),
        IndexExpr::Slice { low, high } => {
            visit(low);
            visit(high);
        }
        IndexExpr::All => {}
    }
}

/// `c`, `t`, `t + c`, `t - c` as an element position.
fn element_position(index: &Expr) -> Option<Occurrence> {
    match &index.kind {
        ExprKind::Literal(value) if value.fract() == 0.0 => {
            Some(Occurrence::Constant(*value as i64))
        }
        ExprKind::LoopVar(var) => Some(Occurrence::Loop {
            var: *var,
            shift: 0,
        }),
        ExprKind::Binary { op, lhs, rhs } => {
            let (ExprKind::LoopVar(var), ExprKind::Literal(value)) = (&lhs.kind, &rhs.kind) else {
                return None;
            };
            if value.fract() != 0.0 {
                return None;
            }
            let shift = match op {
                ppl_ir::BinaryOp::Add => *value as i64,
                ppl_ir::BinaryOp::Sub => -(*value as i64),
                _ => return None,
            };
            Some(Occurrence::Loop { var: *var, shift })
        }
        _ => None,
    }
}

/// The element (0-based) a term's first iteration reads, when the term's only loop is
/// `loop_var` with a literal start.
fn loop_first_element(
    model: &Model,
    loops: &[LoopId],
    loop_var: LoopId,
    shift: i64,
) -> Option<usize> {
    if loops != [loop_var] {
        return None;
    }
    let ExprKind::Literal(low) = model.loop_vars.get(loop_var.0)?.low.kind else {
        return None;
    };
    let first = low as i64 + shift - 1;
    usize::try_from(first).ok()
}

/// Whether a variable is a discrete unknown (the kind `analyse` decides about).
pub fn is_discrete_unknown(model: &Model, var: VarId) -> bool {
    model
        .variables
        .get(var.0)
        .is_some_and(|v| v.role != Role::Observed && v.ty.elem != ElemType::Real)
}

/// The per-state log-potentials of one summed-out latent at one position of the continuous
/// unknowns, read back from the tape (`Tape::summed_potentials`).
#[derive(Clone, Debug, PartialEq)]
pub enum StatePotentials {
    /// `log p(state k, rest)` up to a constant, one per state.
    Scalar { log_weights: Vec<f64> },
    /// Row-major elements × states.
    Plate {
        log_weights: Vec<f64>,
        states: usize,
    },
    /// `emissions`: steps × states (the initial distribution folded into step 1);
    /// `transitions`: (steps - 1) × states × states, `[t - 1][from][to]` into step t (0-based).
    Chain {
        emissions: Vec<f64>,
        transitions: Vec<f64>,
        states: usize,
    },
}

impl StatePotentials {
    fn states(&self) -> usize {
        match self {
            StatePotentials::Scalar { log_weights } => log_weights.len(),
            StatePotentials::Plate { states, .. } | StatePotentials::Chain { states, .. } => {
                *states
            }
        }
    }

    /// The posterior probability of each state of each element given the continuous unknowns:
    /// row-major elements × states (smoothing marginals for a chain).
    pub fn marginal_probabilities(&self) -> Vec<f64> {
        match self {
            StatePotentials::Scalar { log_weights } => normalised(log_weights),
            StatePotentials::Plate {
                log_weights,
                states,
            } => log_weights
                .chunks(*states.max(&1))
                .flat_map(normalised)
                .collect(),
            StatePotentials::Chain {
                emissions,
                transitions,
                states,
            } => {
                let chain = Chain::new(emissions, transitions, *states);
                let (alpha, log_total) = chain.forward();
                let beta = chain.backward();
                alpha
                    .iter()
                    .zip(&beta)
                    .map(|(a, b)| (a + b - log_total).exp())
                    .collect()
            }
        }
    }

    /// One draw of the latent's state indices (0-based) from its conditional given the
    /// continuous unknowns: independent per element, or forward-filtering backward-sampling.
    pub fn draw_indices<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<usize> {
        match self {
            StatePotentials::Scalar { log_weights } => {
                vec![draw_index(&normalised(log_weights), rng)]
            }
            StatePotentials::Plate {
                log_weights,
                states,
            } => log_weights
                .chunks(*states.max(&1))
                .map(|row| draw_index(&normalised(row), rng))
                .collect(),
            StatePotentials::Chain {
                emissions,
                transitions,
                states,
            } => {
                let states = *states;
                let chain = Chain::new(emissions, transitions, states);
                let (alpha, _) = chain.forward();
                let steps = chain.steps;
                let mut path = vec![0; steps];
                if steps == 0 {
                    return path;
                }
                path[steps - 1] = draw_index(&normalised(&alpha[(steps - 1) * states..]), rng);
                let mut scratch = vec![0.0; states];
                for t in (0..steps - 1).rev() {
                    let next = path[t + 1];
                    for (j, slot) in scratch.iter_mut().enumerate() {
                        *slot = alpha[t * states + j] + chain.transition(t + 1, j, next);
                    }
                    path[t] = draw_index(&normalised(&scratch), rng);
                }
                path
            }
        }
    }

    /// `log p(indices | continuous unknowns)`: the log conditional probability of one value
    /// of the latent (state indices, 0-based, one per element); `-inf` for an index out of
    /// range.
    pub fn log_probability(&self, indices: &[usize]) -> f64 {
        let pick = |row: &[f64], k: usize| row.get(k).copied().unwrap_or(f64::NEG_INFINITY);
        match self {
            StatePotentials::Scalar { log_weights } => match indices {
                [k] => pick(log_weights, *k) - ppl_dist::special::log_sum_exp(log_weights),
                _ => f64::NEG_INFINITY,
            },
            StatePotentials::Plate {
                log_weights,
                states,
            } => {
                let rows = log_weights.chunks(*states.max(&1));
                if rows.len() != indices.len() {
                    return f64::NEG_INFINITY;
                }
                rows.zip(indices)
                    .map(|(row, &k)| pick(row, k) - ppl_dist::special::log_sum_exp(row))
                    .sum()
            }
            StatePotentials::Chain {
                emissions,
                transitions,
                states,
            } => {
                let chain = Chain::new(emissions, transitions, *states);
                if indices.len() != chain.steps || indices.iter().any(|&k| k >= *states) {
                    return f64::NEG_INFINITY;
                }
                let (_, log_total) = chain.forward();
                let mut value = 0.0;
                for (t, &k) in indices.iter().enumerate() {
                    value += emissions[t * states + k];
                    if t > 0 {
                        value += chain.transition(t, indices[t - 1], k);
                    }
                }
                value - log_total
            }
        }
    }

    /// Number of states per element.
    pub fn state_count(&self) -> usize {
        self.states()
    }
}

/// A chain's log-potentials with the forward and backward recursions in log space.
struct Chain<'a> {
    emissions: &'a [f64],
    transitions: &'a [f64],
    states: usize,
    steps: usize,
}

impl<'a> Chain<'a> {
    fn new(emissions: &'a [f64], transitions: &'a [f64], states: usize) -> Chain<'a> {
        Chain {
            emissions,
            transitions,
            states,
            steps: emissions.len() / states.max(1),
        }
    }

    fn transition(&self, step: usize, from: usize, to: usize) -> f64 {
        self.transitions[(step - 1) * self.states * self.states + from * self.states + to]
    }

    /// Forward log-messages (steps × states) and log Z.
    fn forward(&self) -> (Vec<f64>, f64) {
        let (states, steps) = (self.states, self.steps);
        let mut alpha = vec![0.0; steps * states];
        if steps == 0 {
            return (alpha, 0.0);
        }
        alpha[..states].copy_from_slice(&self.emissions[..states]);
        let mut scratch = vec![0.0; states];
        for t in 1..steps {
            for k in 0..states {
                for (j, slot) in scratch.iter_mut().enumerate() {
                    *slot = alpha[(t - 1) * states + j] + self.transition(t, j, k);
                }
                alpha[t * states + k] =
                    ppl_dist::special::log_sum_exp(&scratch) + self.emissions[t * states + k];
            }
        }
        let log_total = ppl_dist::special::log_sum_exp(&alpha[(steps - 1) * states..]);
        (alpha, log_total)
    }

    /// Backward log-messages (steps × states).
    fn backward(&self) -> Vec<f64> {
        let (states, steps) = (self.states, self.steps);
        let mut beta = vec![0.0; steps * states];
        let mut scratch = vec![0.0; states];
        for t in (0..steps.saturating_sub(1)).rev() {
            for j in 0..states {
                for (k, slot) in scratch.iter_mut().enumerate() {
                    *slot = self.transition(t + 1, j, k)
                        + self.emissions[(t + 1) * states + k]
                        + beta[(t + 1) * states + k];
                }
                beta[t * states + j] = ppl_dist::special::log_sum_exp(&scratch);
            }
        }
        beta
    }
}

/// Probabilities from log weights (all zero when every weight is -inf or NaN).
fn normalised(log_weights: &[f64]) -> Vec<f64> {
    let top = log_weights
        .iter()
        .copied()
        .filter(|w| !w.is_nan())
        .fold(f64::NEG_INFINITY, f64::max);
    if top == f64::NEG_INFINITY {
        return vec![0.0; log_weights.len()];
    }
    let weights: Vec<f64> = log_weights
        .iter()
        .map(|w| if w.is_nan() { 0.0 } else { (w - top).exp() })
        .collect();
    let total: f64 = weights.iter().sum();
    weights.iter().map(|w| w / total).collect()
}

/// An index drawn with the given probabilities (by inversion; the last index takes rounding).
fn draw_index<R: Rng + ?Sized>(probabilities: &[f64], rng: &mut R) -> usize {
    let u: f64 = rng.random::<f64>();
    let mut cumulative = 0.0;
    for (k, p) in probabilities.iter().enumerate() {
        cumulative += p;
        if u < cumulative {
            return k;
        }
    }
    probabilities.iter().rposition(|&p| p > 0.0).unwrap_or(0)
}

#[cfg(test)]
mod tests;
