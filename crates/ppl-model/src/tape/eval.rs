//! The generic evaluator: runs any IR expression and the whole log density on arrays of any
//! scalar type (`f64` for values, num-dual duals for derivatives). It is the reference semantics
//! of the language's expressions, the test oracle for the tape's gradients, and the tape's way to
//! fold data-only subexpressions at build time.

use ppl_dist::DistKind;
use std::collections::HashMap;

use ppl_ir::{
    DistFunction, Expr, ExprKind, IndexExpr, LetId, LoopId, Model, RecurrencePiece, Term, TermKind,
};
use ppl_syntax::Span;

use super::array::{Array, BroadcastPlan, broadcast_shapes, strides};
pub(crate) use super::builtins::call_builtin;
use super::error::TapeError;
use super::functions::BinaryFn;
use super::numerics::{self, Real};

/// One evaluated index position, 1-based as written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum IndexValue {
    Single(i64),
    Gather { shape: Vec<usize>, values: Vec<i64> },
    Slice(i64, i64),
    All,
}

/// The shape of `base[indices]` and, for each of its elements, the flat position it reads in
/// `base` (orthogonal indexing: each gathered axis is replaced by its index array's shape).
pub(crate) fn index_plan(
    base_shape: &[usize],
    indices: &[(IndexValue, Span)],
    span: Span,
) -> Result<(Vec<usize>, Vec<usize>), TapeError> {
    if indices.len() > base_shape.len() {
        return Err(TapeError::ShapeMismatch {
            detail: format!(
                "{} indices into a value with {} axes",
                indices.len(),
                base_shape.len()
            ),
            span,
        });
    }
    let base_strides = strides(base_shape);
    let mut shape = Vec::new();
    let mut sources = vec![0usize];
    for (axis, &length) in base_shape.iter().enumerate() {
        let checked = |index: i64, span: Span| -> Result<usize, TapeError> {
            if index < 1 || index as usize > length {
                Err(TapeError::IndexOutOfRange {
                    index,
                    length,
                    span,
                })
            } else {
                Ok(index as usize - 1)
            }
        };
        let positions: Vec<usize> = match indices.get(axis) {
            None | Some((IndexValue::All, _)) => {
                shape.push(length);
                (0..length).collect()
            }
            Some((IndexValue::Single(index), span)) => vec![checked(*index, *span)?],
            Some((IndexValue::Gather { shape: s, values }, span)) => {
                shape.extend_from_slice(s);
                values
                    .iter()
                    .map(|&v| checked(v, *span))
                    .collect::<Result<_, _>>()?
            }
            Some((IndexValue::Slice(low, high), span)) => {
                if high < low {
                    shape.push(0);
                    Vec::new()
                } else {
                    checked(*low, *span)?;
                    checked(*high, *span)?;
                    shape.push((high - low + 1) as usize);
                    ((*low as usize - 1)..(*high as usize)).collect()
                }
            }
        };
        let stride = base_strides[axis];
        sources = sources
            .iter()
            .flat_map(|&offset| positions.iter().map(move |&p| offset + p * stride))
            .collect();
    }
    Ok((shape, sources))
}

/// The output shape of `a @ b` for shapes (n,k)@(k,m), (n,k)@(k), (k)@(k,m) and (k)@(k).
pub(crate) fn matmul_shape(a: &[usize], b: &[usize], span: Span) -> Result<Vec<usize>, TapeError> {
    let mismatch = || TapeError::ShapeMismatch {
        detail: format!("cannot multiply {a:?} @ {b:?}"),
        span,
    };
    let (inner_a, inner_b, out) = match (a, b) {
        ([n, k], [k2, m]) => (*k, *k2, vec![*n, *m]),
        ([n, k], [k2]) => (*k, *k2, vec![*n]),
        ([k], [k2, m]) => (*k, *k2, vec![*m]),
        ([k], [k2]) => (*k, *k2, vec![]),
        _ => return Err(mismatch()),
    };
    if inner_a != inner_b {
        return Err(mismatch());
    }
    Ok(out)
}

/// A `let`'s whole value and the bounds of its loops.
type LetValue<T> = (Array<T>, Vec<(i64, i64)>);

/// Evaluates expressions and log-density terms of one model with one set of variable values.
pub(crate) struct Evaluator<'a, T> {
    pub model: &'a Model,
    pub dims: &'a [usize],
    /// Values by `VarId`: data, fixed unknowns and the constrained sampled unknowns.
    pub variables: Vec<Option<Array<T>>>,
    /// Current values of the loop and comprehension variables, by `LoopId`.
    pub loops: Vec<Option<i64>>,
    /// Full values of the `let`s computed so far (with their loop axes first), and those loops'
    /// bounds.
    lets: Vec<Option<LetValue<T>>>,
    /// The elements defined so far of each recursive `let` being evaluated (1-based index - 1).
    elements: HashMap<LetId, Vec<Option<Array<T>>>>,
    /// Each net's weights, by net index, when they are known (`None`, or missing: a call of
    /// that net cannot be evaluated here).
    pub nets: Vec<Option<super::net::NetWeights<T>>>,
}

impl<'a, T: Real> Evaluator<'a, T> {
    /// Forgets the `let` values computed so far (a fixed variable they may read has changed).
    pub fn forget_lets(&mut self) {
        self.lets.iter_mut().for_each(|l| *l = None);
    }

    pub fn new(
        model: &'a Model,
        dims: &'a [usize],
        variables: Vec<Option<Array<T>>>,
    ) -> Evaluator<'a, T> {
        Evaluator {
            model,
            dims,
            variables,
            loops: vec![None; model.loop_vars.len()],
            lets: vec![None; model.lets.len()],
            elements: HashMap::new(),
            nets: Vec::new(),
        }
    }

    /// The whole log density: every term, summed (without the constraints' Jacobians).
    pub fn log_density(&mut self) -> Result<T, TapeError> {
        let mut total = T::from(0.0);
        for term in &self.model.terms {
            total += self.term(term)?;
        }
        Ok(total)
    }

    /// One term, summed over every combination of its loop variables.
    pub fn term(&mut self, term: &Term) -> Result<T, TapeError> {
        let mut total = T::from(0.0);
        self.for_each_iteration(&term.loops, &mut |evaluator| {
            total += evaluator.term_body(&term.kind, term.span)?;
            Ok(())
        })?;
        Ok(total)
    }

    /// Runs `body` once per combination of the loop variables' values, outermost first; inner
    /// bounds are evaluated with the outer variables bound.
    pub fn for_each_iteration(
        &mut self,
        loops: &[LoopId],
        body: &mut dyn FnMut(&mut Self) -> Result<(), TapeError>,
    ) -> Result<(), TapeError> {
        let Some((&first, rest)) = loops.split_first() else {
            return body(self);
        };
        let (low, high) = self.loop_bounds(first)?;
        let saved = self.loops[first.0];
        for value in low..=high {
            self.loops[first.0] = Some(value);
            let outcome = self.for_each_iteration(rest, body);
            if outcome.is_err() {
                self.loops[first.0] = saved;
                return outcome;
            }
        }
        self.loops[first.0] = saved;
        Ok(())
    }

    pub fn loop_bounds(&mut self, id: LoopId) -> Result<(i64, i64), TapeError> {
        let loop_var = &self.model.loop_vars[id.0];
        let low = self.eval_int(&loop_var.low)?;
        let high = self.eval_int(&loop_var.high)?;
        Ok((low, high))
    }

    fn term_body(&mut self, kind: &TermKind, span: Span) -> Result<T, TapeError> {
        match kind {
            TermKind::Tilde {
                target,
                distribution,
                args,
            } => {
                let variate = self.eval(target)?;
                let args = args
                    .iter()
                    .map(|a| self.eval(a))
                    .collect::<Result<Vec<_>, _>>()?;
                tilde_log_density(*distribution, &variate, &args, span)
            }
            TermKind::Factor(expr) => Ok(self.eval(expr)?.values.iter().copied().sum()),
            TermKind::Energy(expr) => Ok(-self.eval(expr)?.values.iter().copied().sum::<T>()),
        }
    }

    pub fn eval_int(&mut self, expr: &Expr) -> Result<i64, TapeError> {
        let value = self.eval(expr)?;
        if value.len() != 1 {
            return Err(TapeError::ShapeMismatch {
                detail: format!("expected a scalar int, found shape {:?}", value.shape),
                span: expr.span,
            });
        }
        Ok(value.values[0].re().round() as i64)
    }

    fn eval_ints(&mut self, expr: &Expr) -> Result<(Vec<usize>, Vec<i64>), TapeError> {
        let value = self.eval(expr)?;
        let ints = value.values.iter().map(|v| v.re().round() as i64).collect();
        Ok((value.shape, ints))
    }

    /// The whole value of a `let`, with its loop axes first.
    pub fn full_let(&mut self, id: LetId) -> Result<Array<T>, TapeError> {
        if self.lets[id.0].is_none() {
            let computed = self.compute_let(id)?;
            self.lets[id.0] = Some(computed);
        }
        Ok(self.lets[id.0].as_ref().expect("computed above").0.clone())
    }

    /// The value of a `let`: the current iteration's slice when referenced inside its loops
    /// with the rank of one iteration, the whole array (loop axes first) otherwise.
    pub fn let_value(&mut self, id: LetId, reference: &Expr) -> Result<Array<T>, TapeError> {
        let definition = &self.model.lets[id.0];
        if self.lets[id.0].is_none() {
            let computed = self.compute_let(id)?;
            self.lets[id.0] = Some(computed);
        }
        let (full, bounds) = self.lets[id.0].as_ref().expect("computed above");
        let in_iteration = !definition.loops.is_empty()
            && definition.loops.iter().all(|l| self.loops[l.0].is_some())
            && reference.ty.shape.len() == definition.value.ty.shape.len();
        if !in_iteration {
            return Ok(full.clone());
        }
        let mut iteration = 0usize;
        for (loop_id, &(low, high)) in definition.loops.iter().zip(bounds) {
            let value = self.loops[loop_id.0].expect("checked above");
            if value < low || value > high {
                return Err(TapeError::IndexOutOfRange {
                    index: value,
                    length: (high - low + 1).max(0) as usize,
                    span: reference.span,
                });
            }
            iteration = iteration * (high - low + 1) as usize + (value - low) as usize;
        }
        let one_shape = full.shape[definition.loops.len()..].to_vec();
        let size: usize = one_shape.iter().product();
        let values = full.values[iteration * size..(iteration + 1) * size].to_vec();
        Ok(Array::new(one_shape, values))
    }

    fn compute_let(&mut self, id: LetId) -> Result<LetValue<T>, TapeError> {
        let definition = &self.model.lets[id.0];
        let saved: Vec<Option<i64>> = self.loops.clone();
        let mut bounds: Vec<(i64, i64)> = Vec::new();
        let mut one_shape: Option<Vec<usize>> = None;
        let mut values = Vec::new();
        let outcome = self.for_each_iteration(&definition.loops, &mut |evaluator| {
            // Record each loop's bounds at the first iteration; a ragged loop cannot be stored.
            for (depth, loop_id) in definition.loops.iter().enumerate() {
                let current = evaluator.loop_bounds(*loop_id)?;
                match bounds.get(depth) {
                    None => bounds.push(current),
                    Some(first) if *first != current => {
                        return Err(TapeError::Unsupported {
                            what: format!(
                                "`let {}` inside loops whose bounds change between iterations",
                                definition.name
                            ),
                            span: definition.span,
                        });
                    }
                    Some(_) => {}
                }
            }
            let value = evaluator.eval(&definition.value)?;
            match &one_shape {
                None => one_shape = Some(value.shape.clone()),
                Some(shape) if *shape != value.shape => {
                    return Err(TapeError::ShapeMismatch {
                        detail: format!(
                            "`let {}` changes shape between iterations",
                            definition.name
                        ),
                        span: definition.span,
                    });
                }
                Some(_) => {}
            }
            values.extend(value.values);
            Ok(())
        });
        self.loops = saved;
        outcome?;
        // Loops that ran zero times still have bounds, so the stored shape is right.
        while bounds.len() < definition.loops.len() {
            let loop_id = definition.loops[bounds.len()];
            bounds.push(self.loop_bounds(loop_id).unwrap_or((1, 0)));
        }
        let mut shape: Vec<usize> = bounds
            .iter()
            .map(|(low, high)| (high - low + 1).max(0) as usize)
            .collect();
        shape.extend(one_shape.unwrap_or_default());
        if shape.iter().product::<usize>() != values.len() {
            return Err(TapeError::ShapeMismatch {
                detail: format!("`let {}` has an empty loop", definition.name),
                span: definition.span,
            });
        }
        Ok((Array::new(shape, values), bounds))
    }

    /// Evaluates one expression.
    pub fn eval(&mut self, expr: &Expr) -> Result<Array<T>, TapeError> {
        let span = expr.span;
        match &expr.kind {
            ExprKind::Literal(value) => Ok(Array::scalar(T::from(*value))),
            ExprKind::Variable(id) => match &self.variables[id.0] {
                Some(value) => Ok(value.clone()),
                None => Err(TapeError::Unbound {
                    what: format!("variable `{}`", self.model.variables[id.0].name),
                    span,
                }),
            },
            ExprKind::Let(id) => self.let_value(*id, expr),
            ExprKind::Dim(id) => Ok(Array::scalar(T::from(self.dims[id.0] as f64))),
            ExprKind::LoopVar(id) => match self.loops[id.0] {
                Some(value) => Ok(Array::scalar(T::from(value as f64))),
                None => Err(TapeError::Unbound {
                    what: format!("loop variable `{}`", self.model.loop_vars[id.0].name),
                    span,
                }),
            },
            ExprKind::Vector(elements) => {
                let parts = elements
                    .iter()
                    .map(|e| self.eval(e))
                    .collect::<Result<Vec<_>, _>>()?;
                stack(parts, span)
            }
            ExprKind::Comprehension { body, var } => {
                let (low, high) = self.loop_bounds(*var)?;
                let saved = self.loops[var.0];
                let mut parts = Vec::new();
                for value in low..=high {
                    self.loops[var.0] = Some(value);
                    match self.eval(body) {
                        Ok(part) => parts.push(part),
                        Err(error) => {
                            self.loops[var.0] = saved;
                            return Err(error);
                        }
                    }
                }
                self.loops[var.0] = saved;
                if parts.is_empty() {
                    return Ok(Array::new(vec![0], Vec::new()));
                }
                stack(parts, span)
            }
            ExprKind::Neg(inner) => Ok(self.eval(inner)?.map(|v| -*v)),
            ExprKind::Binary { op, lhs, rhs } => {
                let a = self.eval(lhs)?;
                let b = self.eval(rhs)?;
                match BinaryFn::of_operator(*op) {
                    Some(function) => elementwise_binary(function, &a, &b, span),
                    None => matmul(&a, &b, span),
                }
            }
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                let c = self.eval(cond)?;
                let a = self.eval(then)?;
                let b = self.eval(otherwise)?;
                select(&c, &a, &b, span)
            }
            ExprKind::Range { low, high } => {
                let low = self.eval_int(low)?;
                let high = self.eval_int(high)?;
                let values: Vec<T> = (low..=high).map(|v| T::from(v as f64)).collect();
                Ok(Array::new(vec![values.len()], values))
            }
            ExprKind::Index { base, indices } => {
                let mut evaluated = Vec::with_capacity(indices.len());
                for index in indices {
                    evaluated.push(self.index_value(index, span)?);
                }
                // A variable is read in place: `y[t]` in a loop must not copy all of `y`.
                if let ExprKind::Variable(id) = base.kind
                    && let Some(Some(value)) = self.variables.get(id.0)
                {
                    let (shape, sources) = index_plan(&value.shape, &evaluated, span)?;
                    let values = sources.iter().map(|&s| value.values[s]).collect();
                    return Ok(Array::new(shape, values));
                }
                let base = self.eval(base)?;
                let (shape, sources) = index_plan(&base.shape, &evaluated, span)?;
                let values = sources.iter().map(|&s| base.values[s]).collect();
                Ok(Array::new(shape, values))
            }
            ExprKind::Call { function, args } => {
                let args = args
                    .iter()
                    .map(|a| self.eval(a))
                    .collect::<Result<Vec<_>, _>>()?;
                call_builtin(*function, &args, span)
            }
            ExprKind::DistFunction {
                function,
                distribution,
                args,
                variate,
            } => {
                let x = self.eval(variate)?;
                let args = args
                    .iter()
                    .map(|a| self.eval(a))
                    .collect::<Result<Vec<_>, _>>()?;
                dist_function(*function, *distribution, &x, &args, span)
            }
            ExprKind::NetCall { net, args } => {
                let name = self.model.nets.get(*net).map_or("?", |n| n.name.as_str());
                let [arg] = args.as_slice() else {
                    return Err(TapeError::ShapeMismatch {
                        detail: format!("net `{name}` takes one argument, its input rows"),
                        span,
                    });
                };
                let input = self.eval(arg)?;
                match self.nets.get(*net).and_then(|n| n.as_ref()) {
                    Some(weights) => super::net::forward_generic(weights, name, &input, span),
                    None => Err(TapeError::Unsupported {
                        what: format!("a call of net `{name}` (its weights are not known here)"),
                        span,
                    }),
                }
            }
            ExprKind::Recurrence { of, pieces } => {
                let length = recurrence_length(expr, self.dims)?;
                let element_shape: Vec<usize> = expr.ty.shape[1..]
                    .iter()
                    .map(|s| s.evaluate(self.dims).max(0) as usize)
                    .collect();
                self.elements.insert(*of, vec![None; length]);
                let saved = self.loops.clone();
                let outcome = self.define_elements(*of, pieces);
                self.loops = saved;
                let elements = self.elements.remove(of).unwrap_or_default();
                outcome?;
                let element_len: usize = element_shape.iter().product();
                let mut values = Vec::with_capacity(length * element_len);
                for (position, element) in elements.into_iter().enumerate() {
                    let Some(element) = element else {
                        return Err(undefined_element(
                            &self.model.lets[of.0].name,
                            position + 1,
                            span,
                        ));
                    };
                    if element.values.len() != element_len {
                        return Err(TapeError::ShapeMismatch {
                            detail: format!(
                                "the elements of `{}` change shape",
                                self.model.lets[of.0].name
                            ),
                            span,
                        });
                    }
                    values.extend(element.values);
                }
                let mut shape = vec![length];
                shape.extend(element_shape);
                Ok(Array::new(shape, values))
            }
            ExprKind::Element { of, index } => {
                let position = self.eval_int(index)?;
                let name = &self.model.lets[of.0].name;
                let Some(elements) = self.elements.get(of) else {
                    return Err(TapeError::Unbound {
                        what: format!("`{name}` outside its own definition"),
                        span,
                    });
                };
                let slot = usize::try_from(position - 1)
                    .ok()
                    .and_then(|p| elements.get(p));
                match slot {
                    Some(Some(value)) => Ok(value.clone()),
                    Some(None) => Err(TapeError::Element {
                        code: ppl_syntax::codes::ELEMENT_USED_EARLY,
                        detail: format!("`{name}[{position}]` is read before it is defined"),
                        span: index.span,
                    }),
                    None => Err(TapeError::Element {
                        code: ppl_syntax::codes::ELEMENT_DEFINITION,
                        detail: format!(
                            "`{name}[{position}]` is outside the array, of length {}",
                            elements.len()
                        ),
                        span: index.span,
                    }),
                }
            }
        }
    }

    /// Runs the pieces of recursive `let` `of` in order, storing each element it defines.
    fn define_elements(&mut self, of: LetId, pieces: &[RecurrencePiece]) -> Result<(), TapeError> {
        for piece in pieces {
            let iterations = match piece.loop_var {
                Some(var) => {
                    let (low, high) = self.loop_bounds(var)?;
                    (low..=high).map(|value| Some((var, value))).collect()
                }
                None => vec![None],
            };
            for iteration in iterations {
                if let Some((var, value)) = iteration {
                    self.loops[var.0] = Some(value);
                }
                let position = self.eval_int(&piece.index)?;
                let value = self.eval(&piece.value)?;
                let name = &self.model.lets[of.0].name;
                let elements = self.elements.entry(of).or_default();
                let length = elements.len();
                let slot = usize::try_from(position - 1)
                    .ok()
                    .and_then(|p| elements.get_mut(p));
                match slot {
                    Some(slot @ None) => *slot = Some(value),
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

    pub fn index_value(
        &mut self,
        index: &IndexExpr,
        span: Span,
    ) -> Result<(IndexValue, Span), TapeError> {
        Ok(match index {
            IndexExpr::Single(e) => (IndexValue::Single(self.eval_int(e)?), e.span),
            IndexExpr::Gather(e) => {
                let (shape, values) = self.eval_ints(e)?;
                (IndexValue::Gather { shape, values }, e.span)
            }
            IndexExpr::Slice { low, high } => (
                IndexValue::Slice(self.eval_int(low)?, self.eval_int(high)?),
                low.span.to(high.span),
            ),
            IndexExpr::All => (IndexValue::All, span),
        })
    }
}

/// The number of elements of a recursive `let` once dimensions are bound.
pub(crate) fn recurrence_length(expr: &Expr, dims: &[usize]) -> Result<usize, TapeError> {
    let length = expr.ty.shape.first().map_or(0, |s| s.evaluate(dims));
    if length > ppl_ir::MAX_ELEMENTS {
        return Err(TapeError::ShapeMismatch {
            detail: format!("{length} elements are more than ppl can allocate"),
            span: expr.span,
        });
    }
    Ok(length.max(0) as usize)
}

pub(crate) fn undefined_element(name: &str, position: usize, span: Span) -> TapeError {
    TapeError::Element {
        code: ppl_syntax::codes::ELEMENT_DEFINITION,
        detail: format!("`{name}[{position}]` is never defined"),
        span,
    }
}

/// Stacks equal-shaped arrays along a new leading axis.
pub(crate) fn stack<T: Real>(parts: Vec<Array<T>>, span: Span) -> Result<Array<T>, TapeError> {
    let one_shape = parts.first().map(|p| p.shape.clone()).unwrap_or_default();
    if let Some(odd) = parts.iter().find(|p| p.shape != one_shape) {
        return Err(TapeError::ShapeMismatch {
            detail: format!(
                "cannot stack shapes {one_shape:?} and {:?} in one vector",
                odd.shape
            ),
            span,
        });
    }
    let mut shape = vec![parts.len()];
    shape.extend(one_shape);
    let values = parts.into_iter().flat_map(|p| p.values).collect();
    Ok(Array::new(shape, values))
}

pub(crate) fn broadcast_or_error(
    a: &[usize],
    b: &[usize],
    span: Span,
) -> Result<Vec<usize>, TapeError> {
    broadcast_shapes(a, b).ok_or_else(|| TapeError::ShapeMismatch {
        detail: format!("shapes {a:?} and {b:?} do not broadcast"),
        span,
    })
}

pub(crate) fn elementwise_binary<T: Real>(
    function: BinaryFn,
    a: &Array<T>,
    b: &Array<T>,
    span: Span,
) -> Result<Array<T>, TapeError> {
    let shape = broadcast_or_error(&a.shape, &b.shape, span)?;
    let read_a = BroadcastPlan::new(&a.shape, &shape);
    let read_b = BroadcastPlan::new(&b.shape, &shape);
    let total: usize = shape.iter().product();
    let values = (0..total)
        .map(|i| function.apply(a.values[read_a.at(i)], b.values[read_b.at(i)]))
        .collect();
    Ok(Array::new(shape, values))
}

fn select<T: Real>(
    cond: &Array<T>,
    a: &Array<T>,
    b: &Array<T>,
    span: Span,
) -> Result<Array<T>, TapeError> {
    let shape = broadcast_or_error(&cond.shape, &a.shape, span)?;
    let shape = broadcast_or_error(&shape, &b.shape, span)?;
    let (read_c, read_a, read_b) = (
        BroadcastPlan::new(&cond.shape, &shape),
        BroadcastPlan::new(&a.shape, &shape),
        BroadcastPlan::new(&b.shape, &shape),
    );
    let total: usize = shape.iter().product();
    let values = (0..total)
        .map(|i| {
            if cond.values[read_c.at(i)].re() != 0.0 {
                a.values[read_a.at(i)]
            } else {
                b.values[read_b.at(i)]
            }
        })
        .collect();
    Ok(Array::new(shape, values))
}

pub(crate) fn matmul<T: Real>(
    a: &Array<T>,
    b: &Array<T>,
    span: Span,
) -> Result<Array<T>, TapeError> {
    let shape = matmul_shape(&a.shape, &b.shape, span)?;
    let (rows, inner) = match a.shape.as_slice() {
        [n, k] => (*n, *k),
        [k] => (1, *k),
        _ => unreachable!("checked by matmul_shape"),
    };
    let columns = if b.rank() == 2 { b.shape[1] } else { 1 };
    let mut values = vec![T::from(0.0); rows * columns];
    for i in 0..rows {
        for k in 0..inner {
            let left = a.values[i * inner + k];
            for j in 0..columns {
                values[i * columns + j] += left * b.values[k * columns + j];
            }
        }
    }
    Ok(Array::new(shape, values))
}

/// The batch shape of a value with `event_rank` trailing event axes.
pub(crate) fn batch_shape<'s>(
    shape: &'s [usize],
    event_rank: usize,
    what: &str,
    span: Span,
) -> Result<&'s [usize], TapeError> {
    if shape.len() < event_rank {
        return Err(TapeError::ShapeMismatch {
            detail: format!("{what} needs at least {event_rank} axes, found shape {shape:?}"),
            span,
        });
    }
    Ok(&shape[..shape.len() - event_rank])
}

/// The event ranks of a distribution's variate and parameters, in catalogue order.
pub(crate) fn event_ranks(kind: DistKind) -> (usize, Vec<usize>) {
    let variate = kind.family().variate_rank;
    let params = kind
        .parameterisation()
        .params
        .iter()
        .map(|p| p.rank)
        .collect();
    (variate, params)
}

/// One element of `logpdf` / `logcdf` / `logccdf` of a scalar kind.
pub(crate) fn dist_function_value<T: Real>(
    function: DistFunction,
    kind: DistKind,
    x: T,
    params: &[T],
) -> T {
    match function {
        DistFunction::LogPdf => ppl_dist::scalar_log_density(kind, x, params),
        DistFunction::LogCdf => ppl_dist::scalar_log_cdf(kind, x, params),
        DistFunction::LogCcdf => ppl_dist::scalar_log_ccdf(kind, x, params),
    }
}

/// `logpdf` / `logcdf` / `logccdf` over the broadcast of the variate and the parameters.
pub(crate) fn dist_function<T: Real>(
    function: DistFunction,
    kind: DistKind,
    variate: &Array<T>,
    args: &[Array<T>],
    span: Span,
) -> Result<Array<T>, TapeError> {
    let mut shape = variate.shape.clone();
    for arg in args {
        shape = broadcast_or_error(&shape, &arg.shape, span)?;
    }
    let plans: Vec<BroadcastPlan> = std::iter::once(&variate.shape)
        .chain(args.iter().map(|a| &a.shape))
        .map(|s| BroadcastPlan::new(s, &shape))
        .collect();
    let count: usize = shape.iter().product();
    let mut params = vec![T::from(0.0); args.len()];
    let mut values = Vec::with_capacity(count);
    for element in 0..count {
        for (slot, (arg, plan)) in params.iter_mut().zip(args.iter().zip(&plans[1..])) {
            *slot = arg.values[plan.at(element)];
        }
        let x = variate.values[plans[0].at(element)];
        values.push(dist_function_value(function, kind, x, &params));
    }
    Ok(Array::new(shape, values))
}

/// `Σ log p(variate | args)` over the broadcast batch.
pub(crate) fn tilde_log_density<T: Real>(
    kind: DistKind,
    variate: &Array<T>,
    args: &[Array<T>],
    span: Span,
) -> Result<T, TapeError> {
    let mut sum = T::from(0.0);
    for value in tilde_log_densities(kind, variate, args, span)? {
        sum += value;
    }
    Ok(sum)
}

/// The log density of each element of the broadcast batch of a `~`, in batch order.
pub(crate) fn tilde_log_densities<T: Real>(
    kind: DistKind,
    variate: &Array<T>,
    args: &[Array<T>],
    span: Span,
) -> Result<Vec<T>, TapeError> {
    let (variate_rank, param_ranks) = event_ranks(kind);
    if param_ranks.len() != args.len() {
        return Err(TapeError::ShapeMismatch {
            detail: format!("{:?} takes {} arguments", kind, param_ranks.len()),
            span,
        });
    }
    let mut batch = batch_shape(&variate.shape, variate_rank, "the variate", span)?.to_vec();
    for (arg, &rank) in args.iter().zip(&param_ranks) {
        let arg_batch = batch_shape(&arg.shape, rank, "an argument", span)?;
        batch = broadcast_or_error(&batch, arg_batch, span)?;
    }
    let event_len =
        |shape: &[usize], rank: usize| -> usize { shape[shape.len() - rank..].iter().product() };
    let plans: Vec<(BroadcastPlan, usize)> = std::iter::once((&variate.shape, variate_rank))
        .chain(
            args.iter()
                .map(|a| &a.shape)
                .zip(param_ranks.iter().copied()),
        )
        .map(|(shape, rank)| {
            let own_batch = &shape[..shape.len() - rank];
            (
                BroadcastPlan::new(own_batch, &batch),
                event_len(shape, rank),
            )
        })
        .collect();
    let total: usize = batch.iter().product();
    let scalar = variate_rank == 0 && param_ranks.iter().all(|&r| r == 0);
    let mut values = Vec::with_capacity(total);
    let mut params: Vec<T> = vec![T::from(0.0); args.len()];
    for element in 0..total {
        if scalar {
            let x = variate.values[plans[0].0.at(element)];
            for (slot, (arg, (plan, _))) in params.iter_mut().zip(args.iter().zip(&plans[1..])) {
                *slot = arg.values[plan.at(element)];
            }
            values.push(numerics::scalar_log_density(kind, x, &params, span)?);
        } else {
            let slice = |values: &[T], (plan, len): &(BroadcastPlan, usize)| -> Vec<T> {
                let start = plan.at(element) * len;
                values[start..start + len].to_vec()
            };
            let x = slice(&variate.values, &plans[0]);
            let event_params: Vec<Vec<T>> = args
                .iter()
                .zip(&plans[1..])
                .map(|(arg, plan)| slice(&arg.values, plan))
                .collect();
            let refs: Vec<&[T]> = event_params.iter().map(|p| p.as_slice()).collect();
            values.push(numerics::event_log_density(kind, &x, &refs, span)?);
        }
    }
    Ok(values)
}
