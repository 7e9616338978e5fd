//! Checking `let e[i] = ...`: an array defined element by element across statements and loop
//! iterations (LANGUAGE.md §3), such as ARMA errors or GARCH variances. Each statement is one
//! piece of one `Let` whose value is an `ExprKind::Recurrence`; inside a piece, `e[t - 1]` reads an
//! earlier element (`ExprKind::Element`).
//!
//! Rules checked here, where sizes allow it at compile time (the evaluator checks again per
//! element once the data is bound):
//! - a piece's index is a constant, or its loop variable plus a constant, and the piece sits in
//!   at most one loop, so each iteration defines exactly one element;
//! - the pieces, in the order written, define elements 1, 2, ... with no gap and no overlap; the
//!   array's length is where the last piece ends;
//! - a piece reads only elements before its own, and only one element at a time; once `e` is
//!   used anywhere else, no piece can be added.

use ppl_syntax::{self as syntax, Diagnostic, Span, codes};

use super::{Checked, Checker, Symbol};
use crate::model::*;

/// A piece's index as `loop variable + offset` (or just `offset`).
struct Affine {
    var: Option<LoopId>,
    offset: Size,
}

impl Checker<'_> {
    /// `let name[index] = value` inside `loops`.
    pub(super) fn let_element(
        &mut self,
        name: &syntax::Ident,
        index: &syntax::Expr,
        value: &syntax::Expr,
        local: bool,
        loops: &[LoopId],
        span: Span,
    ) -> Checked<()> {
        let existing = match self.scope.get(&name.name).copied() {
            Some(Symbol::Let(id))
                if matches!(
                    self.model.lets[id.0].value.kind,
                    ExprKind::Recurrence { .. }
                ) =>
            {
                Some(id)
            }
            // Anything else of that name: `declare` below reports it.
            _ => None,
        };
        if let Some(id) = existing
            && self.sealed_recurrences.contains(&id)
        {
            let first_use = self.first_recurrence_use.get(&id).copied();
            let mut diagnostic = Diagnostic::error(
                codes::ELEMENT_USED_EARLY,
                span,
                format!(
                    "an element of `{}` is defined after `{}` was used",
                    name.name, name.name
                ),
            )
            .with_label("defined too late")
            .with_hint("define every element before the statements that use the array");
            if let Some(first_use) = first_use {
                diagnostic = diagnostic.with_secondary(first_use, "used here");
            }
            return Err(self.report(diagnostic));
        }
        if let Some(id) = existing
            && self.model.lets[id.0].local != local
        {
            let first = &self.model.lets[id.0];
            let spelling = |local: bool| if local { "`local let`" } else { "`let`" };
            return Err(self.report(
                Diagnostic::error(
                    codes::LOCAL_DISAGREES,
                    span,
                    format!(
                        "the elements of `{}` are defined with {} here and with {} before: one array is either saved or not",
                        name.name,
                        spelling(local),
                        spelling(first.local)
                    ),
                )
                .with_label(format!("{} here", spelling(local)))
                .with_secondary(first.span, format!("{} here", spelling(first.local)))
                .with_hint(format!(
                    "write every piece of `{}` as {}",
                    name.name,
                    if first.local { "`local let`" } else { "`let`" }
                )),
            ));
        }
        let index_expr = self.int_scalar(index, "an element index")?;
        let (loop_var, low, high) = self.piece_extent(&index_expr, loops, index.span)?;
        let own = affine(&index_expr).unwrap_or(Affine {
            var: loop_var,
            offset: Size::constant(0),
        });

        // Where this piece must start: just after the elements defined so far.
        let next = match existing {
            Some(id) => self.model.lets[id.0]
                .value
                .ty
                .shape
                .first()
                .cloned()
                .unwrap_or_default()
                .add(&Size::constant(1), 1),
            None => Size::constant(1),
        };
        let start_gap = low.add(&next, -1);
        if let Some(gap) = start_gap.as_constant()
            && gap != 0
        {
            let expected = display(&next, &self.model.dims);
            let found = display(&low, &self.model.dims);
            let message = if gap > 0 {
                format!(
                    "elements of `{}` are left undefined: this defines from {found}, the next undefined element is {expected}",
                    name.name
                )
            } else {
                format!(
                    "an element of `{}` is defined twice: this defines from {found}, elements before {expected} are already defined",
                    name.name
                )
            };
            return Err(self.report(
                Diagnostic::error(codes::ELEMENT_DEFINITION, index.span, message)
                    .with_label(format!("expected the element {expected} here"))
                    .with_hint("define the elements in order, each once: `let e[1] = ...` then `for t in 2..T { let e[t] = ... }`"),
            ));
        } else if start_gap.as_constant().is_none() {
            let expected = display(&next, &self.model.dims);
            return Err(self.report(
                Diagnostic::error(
                    codes::ELEMENT_DEFINITION,
                    index.span,
                    format!(
                        "cannot tell that this piece of `{}` starts at element {expected}, just after the ones defined before",
                        name.name
                    ),
                )
                .with_label("starts elsewhere, or at a size that depends on the data")
                .with_hint("start the loop right after the last element defined (`for t in 2..T` after `let e[1]`)"),
            ));
        }

        // The value, with the array's own earlier elements readable.
        let saved_defining = self.defining_recurrence;
        self.defining_recurrence = existing;
        let checked = self.expr(value);
        self.defining_recurrence = saved_defining;
        let checked = checked?;
        let checked = match existing {
            Some(id) => self.earlier_elements(id, &name.name, checked, &own, &low)?,
            None => checked,
        };

        let piece = RecurrencePiece {
            loop_var,
            index: index_expr,
            value: checked,
            span,
        };
        match existing {
            Some(id) => self.extend_recurrence(id, &name.name, piece, high),
            None => self.start_recurrence(name, piece, high, local, span),
        }
    }

    /// Which loop variable the piece runs over and the first and last element it defines.
    fn piece_extent(
        &mut self,
        index: &Expr,
        loops: &[LoopId],
        span: Span,
    ) -> Checked<(Option<LoopId>, Size, Size)> {
        let affine = affine(index);
        let form_error = |checker: &mut Self, label: &str| {
            checker.report(
                Diagnostic::error(
                    codes::ELEMENT_INDEX_FORM,
                    span,
                    "an element `let` is indexed by a constant or by its loop variable plus a constant",
                )
                .with_label(label.to_string())
                .with_hint("write `let e[1] = ...` or, directly in `for t in 2..T { }`, `let e[t] = ...`"),
            )
        };
        match (loops, affine) {
            ([], Some(Affine { var: None, offset })) => Ok((None, offset.clone(), offset)),
            (
                [only],
                Some(Affine {
                    var: Some(var),
                    offset,
                }),
            ) if *only == var => {
                let loop_var = &self.model.loop_vars[var.0];
                let bounds =
                    Self::size_of_checked(&loop_var.low).zip(Self::size_of_checked(&loop_var.high));
                match bounds {
                    Some((low, high)) => Ok((Some(var), low.add(&offset, 1), high.add(&offset, 1))),
                    None => Err(form_error(
                        self,
                        "the loop's bounds are not sizes of constants and dimensions",
                    )),
                }
            }
            ([_, _, ..], _) => Err(form_error(
                self,
                "inside nested loops, each element would be defined more than once",
            )),
            ([_], _) => Err(form_error(
                self,
                "expected the loop variable plus a constant",
            )),
            ([], _) => Err(form_error(self, "expected a constant")),
        }
    }

    /// Turns the piece's readings of its own array into `Element`s, refusing the whole array and
    /// elements that are not defined yet.
    fn earlier_elements(
        &mut self,
        id: LetId,
        name: &str,
        value: Expr,
        own: &Affine,
        piece_low: &Size,
    ) -> Checked<Expr> {
        let mut problem: Option<Diagnostic> = None;
        let rewritten = rewrite(value, &mut |expr| {
            if problem.is_some() {
                return expr;
            }
            match expr.kind {
                ExprKind::Index { base, indices } if matches!(base.kind, ExprKind::Let(of) if of == id) =>
                {
                    let [IndexExpr::Single(index)] = indices.as_slice() else {
                        problem = Some(whole_use(name, expr.span));
                        return Expr {
                            kind: ExprKind::Index { base, indices },
                            ..expr
                        };
                    };
                    if let Some(diagnostic) = not_earlier(name, index, own, piece_low) {
                        problem = Some(diagnostic);
                    }
                    Expr {
                        kind: ExprKind::Element {
                            of: id,
                            index: Box::new(index.clone()),
                        },
                        ..expr
                    }
                }
                ExprKind::Let(of) if of == id => {
                    problem = Some(whole_use(name, expr.span));
                    expr
                }
                _ => expr,
            }
        });
        match problem {
            Some(diagnostic) => Err(self.report(diagnostic)),
            None => Ok(rewritten),
        }
    }

    fn start_recurrence(
        &mut self,
        name: &syntax::Ident,
        piece: RecurrencePiece,
        high: Size,
        local: bool,
        span: Span,
    ) -> Checked<()> {
        let id = LetId(self.model.lets.len());
        if let Err(reported) = self.declare(&name.name, name.span, Symbol::Let(id)) {
            self.failed_declaration(&name.name);
            return Err(reported);
        }
        let depends_on_unknowns = self.depends_on_unknowns_of(&piece.value);
        let mut shape = vec![high];
        shape.extend(piece.value.ty.shape.iter().cloned());
        let ty = ValueType {
            elem: piece.value.ty.elem,
            shape,
        };
        self.let_depths.push(1);
        self.model.lets.push(Let {
            id,
            name: name.name.clone(),
            value: Expr {
                kind: ExprKind::Recurrence {
                    of: id,
                    pieces: vec![piece],
                },
                ty,
                span,
            },
            depends_on_unknowns,
            local,
            loops: Vec::new(),
            span,
        });
        Ok(())
    }

    fn extend_recurrence(
        &mut self,
        id: LetId,
        name: &str,
        piece: RecurrencePiece,
        high: Size,
    ) -> Checked<()> {
        let depends = self.depends_on_unknowns_of(&piece.value);
        let definition = &self.model.lets[id.0];
        let element_shape = &definition.value.ty.shape[1..];
        if piece.value.ty.shape.as_slice() != element_shape {
            let expected = super::shapes::display_shape(element_shape, &self.model.dims);
            let found = super::shapes::display_shape(&piece.value.ty.shape, &self.model.dims);
            let first = definition.span;
            return Err(self.report(
                Diagnostic::error(
                    codes::SHAPE_MISMATCH,
                    piece.value.span,
                    format!("the elements of `{name}` have the shape {expected}, this one {found}"),
                )
                .with_label(format!("of shape {found}"))
                .with_secondary(first, "the first element defined here"),
            ));
        }
        let definition = &mut self.model.lets[id.0];
        definition.depends_on_unknowns |= depends;
        // Int elements followed by real ones make a real array.
        definition.value.ty.elem = definition.value.ty.elem.max(piece.value.ty.elem);
        if let Some(length) = definition.value.ty.shape.first_mut() {
            *length = high;
        }
        if let ExprKind::Recurrence { pieces, .. } = &mut definition.value.kind {
            pieces.push(piece);
        }
        Ok(())
    }

    /// Called for every use of a `let` by name: a recursive `let` used outside its own pieces
    /// is complete from then on.
    pub(super) fn note_let_use(&mut self, id: LetId, span: Span) {
        if self.defining_recurrence == Some(id) {
            return;
        }
        if matches!(
            self.model.lets.get(id.0).map(|l| &l.value.kind),
            Some(ExprKind::Recurrence { .. })
        ) && self.sealed_recurrences.insert(id)
        {
            self.first_recurrence_use.insert(id, span);
        }
    }

    pub(super) fn depends_on_unknowns_of(&self, expr: &Expr) -> bool {
        let mut found = false;
        super::statements::visit(expr, &mut |e| match &e.kind {
            ExprKind::Variable(id) => found |= self.model.variables[id.0].role != Role::Observed,
            ExprKind::Let(id) => found |= self.model.lets[id.0].depends_on_unknowns,
            ExprKind::NetCall { .. } => found = true,
            _ => {}
        });
        found
    }
}

fn display(size: &Size, dims: &[Dim]) -> String {
    super::shapes::display_size(size, dims)
}

fn whole_use(name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        codes::ELEMENT_USED_EARLY,
        span,
        format!("`{name}` is used whole while its elements are still being defined"),
    )
    .with_label("read one earlier element instead")
    .with_hint(format!("e.g. `{name}[t - 1]`"))
}

/// A diagnostic when the element `index` reads may not be defined before the one the piece
/// defines (`own`, first defined at `piece_low`), or lies before the array's start. Positions
/// that cannot be compared at compile time are left to the evaluator.
fn not_earlier(name: &str, index: &Expr, own: &Affine, piece_low: &Size) -> Option<Diagnostic> {
    let read = affine(index)?;
    // The first element read, and how far before the element defined it is.
    let (first_read, gap) = match (read.var, own.var) {
        (Some(a), Some(b)) if a == b => (
            piece_low.add(&own.offset, -1).add(&read.offset, 1),
            own.offset.add(&read.offset, -1),
        ),
        (None, _) => (read.offset.clone(), piece_low.add(&read.offset, -1)),
        _ => return None,
    };
    if first_read.as_constant().is_some_and(|first| first < 1) {
        return Some(
            Diagnostic::error(
                codes::ELEMENT_DEFINITION,
                index.span,
                format!("this reads an element of `{name}` before its first (elements start at 1)"),
            )
            .with_label("outside the array"),
        );
    }
    gap.as_constant().is_some_and(|gap| gap < 1).then(|| {
        Diagnostic::error(
            codes::ELEMENT_USED_EARLY,
            index.span,
            format!("this reads an element of `{name}` that is not defined yet"),
        )
        .with_label("not defined before this one")
        .with_hint(format!(
            "a piece may read only earlier elements, such as `{name}[t - 1]`"
        ))
    })
}

/// `constant`, `t`, `t + c`, `c + t`, `t - c` with constants and dimensions for `c`.
fn affine(expr: &Expr) -> Option<Affine> {
    match &expr.kind {
        ExprKind::LoopVar(var) => Some(Affine {
            var: Some(*var),
            offset: Size::constant(0),
        }),
        ExprKind::Binary { op, lhs, rhs } => {
            let sign = match op {
                BinaryOp::Add => 1,
                BinaryOp::Sub => -1,
                _ => return constant_affine(expr),
            };
            let left = affine(lhs)?;
            let right = affine(rhs)?;
            let var = match (left.var, right.var) {
                (Some(v), None) => Some(v),
                (None, Some(v)) if sign == 1 => Some(v),
                (None, None) => None,
                _ => return None,
            };
            Some(Affine {
                var,
                offset: left.offset.add(&right.offset, sign),
            })
        }
        _ => constant_affine(expr),
    }
}

fn constant_affine(expr: &Expr) -> Option<Affine> {
    Checker::size_of_checked(expr).map(|offset| Affine { var: None, offset })
}

/// Rebuilds `expr` bottom-up, passing every node through `f`.
fn rewrite(expr: Expr, f: &mut dyn FnMut(Expr) -> Expr) -> Expr {
    let Expr { kind, ty, span } = expr;
    let mut go = |e: Expr| rewrite(e, f);
    let kind = match kind {
        ExprKind::Vector(items) => ExprKind::Vector(items.into_iter().map(&mut go).collect()),
        ExprKind::Comprehension { body, var } => ExprKind::Comprehension {
            body: Box::new(go(*body)),
            var,
        },
        ExprKind::Neg(inner) => ExprKind::Neg(Box::new(go(*inner))),
        ExprKind::Binary { op, lhs, rhs } => ExprKind::Binary {
            op,
            lhs: Box::new(go(*lhs)),
            rhs: Box::new(go(*rhs)),
        },
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => ExprKind::If {
            cond: Box::new(go(*cond)),
            then: Box::new(go(*then)),
            otherwise: Box::new(go(*otherwise)),
        },
        ExprKind::Range { low, high } => ExprKind::Range {
            low: Box::new(go(*low)),
            high: Box::new(go(*high)),
        },
        ExprKind::Index { base, indices } => {
            // The base is left for `f` to see whole (`e[t - 1]` is one reading of `e`).
            let indices = indices
                .into_iter()
                .map(|index| match index {
                    IndexExpr::Single(e) => IndexExpr::Single(go(e)),
                    IndexExpr::Gather(e) => IndexExpr::Gather(go(e)),
                    IndexExpr::Slice { low, high } => IndexExpr::Slice {
                        low: go(low),
                        high: go(high),
                    },
                    IndexExpr::All => IndexExpr::All,
                })
                .collect();
            let base = match base.kind {
                ExprKind::Let(_) => base,
                _ => Box::new(go(*base)),
            };
            ExprKind::Index { base, indices }
        }
        ExprKind::Call { function, args } => ExprKind::Call {
            function,
            args: args.into_iter().map(&mut go).collect(),
        },
        ExprKind::NetCall { net, args } => ExprKind::NetCall {
            net,
            args: args.into_iter().map(&mut go).collect(),
        },
        ExprKind::DistFunction {
            function,
            distribution,
            args,
            variate,
        } => ExprKind::DistFunction {
            function,
            distribution,
            args: args.into_iter().map(&mut go).collect(),
            variate: Box::new(go(*variate)),
        },
        ExprKind::Element { of, index } => ExprKind::Element {
            of,
            index: Box::new(go(*index)),
        },
        other @ (ExprKind::Literal(_)
        | ExprKind::Variable(_)
        | ExprKind::Let(_)
        | ExprKind::Dim(_)
        | ExprKind::LoopVar(_)
        | ExprKind::Recurrence { .. }) => other,
    };
    f(Expr { kind, ty, span })
}
