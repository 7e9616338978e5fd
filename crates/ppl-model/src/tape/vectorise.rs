//! Loop vectorisation (LANGUAGE.md §7: "loops vectorised"): a term inside `for n in a..b` whose
//! loop variable appears only as an index that adds one leading axis, as in Stan's idiomatic
//! `for (n in 1:N) y[n] ~ normal(mu[g[n]], sigma)`, is rewritten to the one statement
//! `y[a:b] ~ Normal(mu[g[a:b]], sigma)`. The tape then has one node with a tight loop instead of
//! one set of nodes per iteration.
//!
//! The rewrite is exact only when every subexpression that depends on `n` gains the new axis in
//! front and broadcasting still lines up, so it is refused (the term stays a loop) unless:
//! - `n` is used only inside index positions, at most one per indexing, with only single indices
//!   before it (so the new axis lands in front), and never as a bare value (`n * 2` stays a
//!   loop; `x[n - 1]` becomes a shifted slice);
//! - at every elementwise operation, the operands that depend on `n` all have the same rank and
//!   the others no larger rank (NumPy aligns trailing axes);
//! - only elementwise functions, arithmetic, `if` and indexing see `n`-dependent values;
//! - the `~` target (or the `factor`) depends on `n`, so the loop adds distinct terms;
//! - the loop's length is an affine size.

use ppl_ir::{
    BinaryOp, ElemType, Expr, ExprKind, IndexExpr, LoopId, Model, Size, Term, TermKind, ValueType,
};

/// The model with every loop that can be vectorised rewritten; the log density is unchanged.
pub fn vectorise_loops(model: &Model) -> Model {
    let mut out = model.clone();
    for term in &mut out.terms {
        while let Some(&innermost) = term.loops.last() {
            match vectorise_term(model, term, innermost) {
                Some(kind) => {
                    term.kind = kind;
                    term.loops.pop();
                }
                None => break,
            }
        }
    }
    out
}

fn vectorise_term(model: &Model, term: &Term, loop_id: LoopId) -> Option<TermKind> {
    let loop_var = &model.loop_vars[loop_id.0];
    let length = affine_size(&loop_var.high)?
        .add(&affine_size(&loop_var.low)?, -1)
        .add(&Size::constant(1), 1);
    let rewriter = Rewriter {
        model,
        loop_id,
        low: &loop_var.low,
        high: &loop_var.high,
        length,
    };
    match &term.kind {
        TermKind::Tilde {
            target,
            distribution,
            args,
        } => {
            let (target, target_depends) = rewriter.expr(target)?;
            if !target_depends {
                return None;
            }
            let family = distribution.family();
            let target_batch = target.ty.shape.len() - 1 - family.variate_rank;
            let mut new_args = Vec::with_capacity(args.len());
            for (arg, spec) in args.iter().zip(distribution.parameterisation().params) {
                let original_batch = arg.ty.shape.len().checked_sub(spec.rank)?;
                let (arg, depends) = rewriter.expr(arg)?;
                let fits = if depends {
                    original_batch == target_batch
                } else {
                    original_batch <= target_batch
                };
                if !fits {
                    return None;
                }
                new_args.push(arg);
            }
            Some(TermKind::Tilde {
                target,
                distribution: *distribution,
                args: new_args,
            })
        }
        TermKind::Factor(value) => {
            let (value, depends) = rewriter.expr(value)?;
            depends.then_some(TermKind::Factor(value))
        }
        TermKind::Energy(value) => {
            let (value, depends) = rewriter.expr(value)?;
            depends.then_some(TermKind::Energy(value))
        }
    }
}

/// A size from an int expression of constants and dimensions.
fn affine_size(expr: &Expr) -> Option<Size> {
    match &expr.kind {
        ExprKind::Literal(v) if v.fract() == 0.0 => Some(Size::constant(*v as i64)),
        ExprKind::Dim(d) => Some(Size::dim(*d)),
        ExprKind::Neg(inner) => Some(affine_size(inner)?.scale(-1)),
        ExprKind::Binary { op, lhs, rhs } => {
            let (a, b) = (affine_size(lhs)?, affine_size(rhs)?);
            match op {
                BinaryOp::Add => Some(a.add(&b, 1)),
                BinaryOp::Sub => Some(a.add(&b, -1)),
                BinaryOp::Mul => match (a.as_constant(), b.as_constant()) {
                    (Some(c), _) => Some(b.scale(c)),
                    (_, Some(c)) => Some(a.scale(c)),
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    }
}

/// `bound + shift` as an int expression.
fn shifted(bound: &Expr, shift: i64) -> Expr {
    if shift == 0 {
        return bound.clone();
    }
    let int = ValueType {
        elem: ElemType::Int,
        shape: Vec::new(),
    };
    Expr {
        kind: ExprKind::Binary {
            op: BinaryOp::Add,
            lhs: Box::new(bound.clone()),
            rhs: Box::new(Expr {
                kind: ExprKind::Literal(shift as f64),
                ty: int.clone(),
                span: bound.span,
            }),
        },
        ty: int,
        span: bound.span,
    }
}

/// `expr`, which may use loop variable `loop_id`, as one array over the loop's iterations (the
/// loop axis in front), and whether it uses the loop variable at all; `None` when that rewrite
/// would not be exact (see the module doc). Used for the pieces of a recursive `let`.
pub(crate) fn over_loop(model: &Model, expr: &Expr, loop_id: LoopId) -> Option<(Expr, bool)> {
    let loop_var = &model.loop_vars[loop_id.0];
    let length = affine_size(&loop_var.high)?
        .add(&affine_size(&loop_var.low)?, -1)
        .add(&Size::constant(1), 1);
    let rewriter = Rewriter {
        model,
        loop_id,
        low: &loop_var.low,
        high: &loop_var.high,
        length,
    };
    rewriter.expr(expr)
}

struct Rewriter<'a> {
    model: &'a Model,
    loop_id: LoopId,
    low: &'a Expr,
    high: &'a Expr,
    length: Size,
}

impl Rewriter<'_> {
    /// The expression with the loop variable's axis made explicit in front, and whether it
    /// depends on the loop variable at all; `None` when the rewrite would not be exact.
    fn expr(&self, expr: &Expr) -> Option<(Expr, bool)> {
        if !self.mentions(expr) {
            return Some((expr.clone(), false));
        }
        let kind = match &expr.kind {
            ExprKind::Neg(inner) => {
                let (inner, _) = self.expr(inner)?;
                ExprKind::Neg(Box::new(inner))
            }
            ExprKind::Binary { op, lhs, rhs } if *op != BinaryOp::MatMul => {
                let [lhs, rhs] = self.elementwise([lhs, rhs])?;
                ExprKind::Binary {
                    op: *op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                }
            }
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                let [cond, then, otherwise] = self.elementwise([cond, then, otherwise])?;
                ExprKind::If {
                    cond: Box::new(cond),
                    then: Box::new(then),
                    otherwise: Box::new(otherwise),
                }
            }
            ExprKind::Call { function, args } if function.is_elementwise() => {
                let rewritten = self.elementwise_list(args)?;
                ExprKind::Call {
                    function: *function,
                    args: rewritten,
                }
            }
            ExprKind::Index { base, indices } => self.index(base, indices)?,
            // A bare loop variable, a let computed per iteration, a reduction or anything else
            // that sees the loop variable: keep the loop.
            _ => return None,
        };
        Some((
            Expr {
                kind,
                ty: self.with_axis(&expr.ty),
                span: expr.span,
            },
            true,
        ))
    }

    fn with_axis(&self, ty: &ValueType) -> ValueType {
        let mut shape = vec![self.length.clone()];
        shape.extend(ty.shape.iter().cloned());
        ValueType {
            elem: ty.elem,
            shape,
        }
    }

    fn elementwise<const K: usize>(&self, operands: [&Expr; K]) -> Option<[Expr; K]> {
        let list: Vec<Expr> = operands.iter().map(|e| (*e).clone()).collect();
        let rewritten = self.elementwise_list(&list)?;
        rewritten.try_into().ok()
    }

    /// Operands of one elementwise operation: those that depend on the loop variable must share
    /// one rank and the others be no larger, so the new leading axis broadcasts correctly.
    fn elementwise_list(&self, operands: &[Expr]) -> Option<Vec<Expr>> {
        let mut out = Vec::with_capacity(operands.len());
        let mut dependent_rank: Option<usize> = None;
        let mut other_rank = 0;
        for operand in operands {
            let rank = operand.ty.shape.len();
            let (rewritten, depends) = self.expr(operand)?;
            if depends {
                if dependent_rank.is_some_and(|r| r != rank) {
                    return None;
                }
                dependent_rank = Some(rank);
            } else {
                other_rank = other_rank.max(rank);
            }
            out.push(rewritten);
        }
        match dependent_rank {
            Some(rank) if other_rank <= rank => Some(out),
            _ => None,
        }
    }

    /// `x[n]` becomes the slice `x[a:b]`; `mu[g[n]]` the gather `mu[g[a:b]]`. One index position
    /// may depend on the loop variable, with only single indices before it.
    fn index(&self, base: &Expr, indices: &[IndexExpr]) -> Option<ExprKind> {
        if self.mentions(base) {
            return None;
        }
        let mut rewritten = Vec::with_capacity(indices.len());
        let mut found = false;
        for index in indices {
            let depends = match index {
                IndexExpr::Single(e) | IndexExpr::Gather(e) => self.mentions(e),
                IndexExpr::Slice { low, high } => self.mentions(low) || self.mentions(high),
                IndexExpr::All => false,
            };
            if !depends {
                if found || matches!(index, IndexExpr::Single(_)) {
                    rewritten.push(index.clone());
                    continue;
                }
                // An axis kept before the loop variable's index would come before the new axis.
                return None;
            }
            if found {
                return None;
            }
            found = true;
            match index {
                IndexExpr::Single(e) if matches!(e.kind, ExprKind::LoopVar(id) if id == self.loop_id) => {
                    rewritten.push(IndexExpr::Slice {
                        low: self.low.clone(),
                        high: self.high.clone(),
                    })
                }
                // `x[n - 1]`, `x[n + 2]`: the slice shifted by the constant.
                IndexExpr::Single(e) if self.shift(e).is_some() => {
                    let shift = self.shift(e).unwrap_or(0);
                    rewritten.push(IndexExpr::Slice {
                        low: shifted(self.low, shift),
                        high: shifted(self.high, shift),
                    })
                }
                IndexExpr::Single(e) | IndexExpr::Gather(e) => {
                    let (e, _) = self.expr(e)?;
                    if e.ty.elem == ElemType::Real {
                        return None;
                    }
                    rewritten.push(IndexExpr::Gather(e));
                }
                _ => return None,
            }
        }
        Some(ExprKind::Index {
            base: Box::new(base.clone()),
            indices: rewritten,
        })
    }

    /// `c` when `expr` is the loop variable plus or minus the int literal `c`.
    fn shift(&self, expr: &Expr) -> Option<i64> {
        let ExprKind::Binary { op, lhs, rhs } = &expr.kind else {
            return None;
        };
        let is_var = |e: &Expr| matches!(e.kind, ExprKind::LoopVar(id) if id == self.loop_id);
        let literal = |e: &Expr| match e.kind {
            ExprKind::Literal(v) if e.ty.elem != ElemType::Real && v.fract() == 0.0 => {
                Some(v as i64)
            }
            _ => None,
        };
        match op {
            BinaryOp::Add if is_var(lhs) => literal(rhs),
            BinaryOp::Add if is_var(rhs) => literal(lhs),
            BinaryOp::Sub if is_var(lhs) => literal(rhs).map(|c| -c),
            _ => None,
        }
    }

    /// Whether the loop variable occurs in `expr`, directly or through a `let` computed inside
    /// the loop.
    fn mentions(&self, expr: &Expr) -> bool {
        let mut found = false;
        ppl_ir::check::visit(expr, &mut |e| match &e.kind {
            ExprKind::LoopVar(id) => found |= *id == self.loop_id,
            ExprKind::Let(id) => found |= self.model.lets[id.0].loops.contains(&self.loop_id),
            _ => {}
        });
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tape::{Bindings, Tape, oracle_gradient};
    use ppl_infer::LogDensity;
    use ppl_ir::VarId;

    fn checked(source: &str) -> Model {
        let (program, diagnostics) = ppl_syntax::parse(source);
        assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
        let (model, diagnostics) = ppl_ir::check(&program, source, &Default::default());
        assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
        model
    }

    fn loops_left(source: &str) -> Vec<usize> {
        vectorise_loops(&checked(source))
            .terms
            .iter()
            .map(|t| t.loops.len())
            .collect()
    }

    const HEADER: &str = "const K = 3\nobserved y: real[N]\nobserved X: real[N, 2]\nobserved g: int[N] in 1..K\nlatent mu: real[K]\nlatent beta: real[2]\nlatent sigma: positive\n";

    #[test]
    fn elementwise_loops_become_array_statements() {
        let cases = [
            ("for n in 1..N { y[n] ~ Normal(mu[g[n]], sigma) }", vec![0]),
            (
                "for n in 1..N { y[n] ~ Normal(mu[g[n]] + exp(-X[n, 1]) * 2, sigma) }",
                vec![0],
            ),
            ("for n in 1..N { X[n] ~ Normal(beta, sigma) }", vec![0]),
            (
                "for n in 2..N { y[n] ~ Normal(if g[n] > 1 then mu[1] else mu[2], sigma) }",
                vec![0],
            ),
            ("for n in 1..N { factor -square(y[n] - mu[1]) }", vec![0]),
            // A shifted index is a shifted slice: `y[2:N] ~ Normal(y[1:N - 1], sigma)`.
            ("for n in 2..N { y[n] ~ Normal(y[n - 1], sigma) }", vec![0]),
            (
                "for n in 1..N { for j in 1..2 { X[n, j] ~ Normal(beta[j], sigma) } }",
                vec![0],
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(loops_left(&format!("{HEADER}{body}\n")), expected, "{body}");
        }
    }

    #[test]
    fn loops_that_are_not_elementwise_stay_loops() {
        let cases = [
            "for n in 2..N { y[n] ~ Normal(y[n - 1] * n, sigma) }",
            "for n in 1..N { y[n] ~ Normal(mu[1] * n, sigma) }",
            "for n in 1..N { mu ~ Normal(0, 1) }",
            "for n in 1..N { y[n] ~ Normal(X[n] @ beta, sigma) }",
            "for n in 1..N { y[n] ~ Normal(sum(X[n]), sigma) }",
            "for n in 1..N { y[n] ~ Normal(X[n], sigma) }",
            "for n in 1..2 { beta[n] ~ Normal(X[.., n], 1) }",
        ];
        for body in cases {
            let source = format!("{HEADER}{body}\n");
            let (program, _) = ppl_syntax::parse(&source);
            let (model, diagnostics) = ppl_ir::check(&program, &source, &Default::default());
            if diagnostics.iter().any(|d| d.is_error()) {
                continue; // not a valid model: nothing to vectorise
            }
            assert_eq!(
                vectorise_loops(&model)
                    .terms
                    .iter()
                    .map(|t| t.loops.len())
                    .collect::<Vec<_>>(),
                model
                    .terms
                    .iter()
                    .map(|t| t.loops.len())
                    .collect::<Vec<_>>(),
                "{body}"
            );
        }
    }

    #[test]
    fn vectorised_tape_has_the_oracle_density_and_gradient() {
        let source = format!(
            "{HEADER}mu ~ Normal(0, 5)\nbeta ~ Normal(0, 1)\nsigma ~ Exponential(1)\nfor n in 1..N {{ y[n] ~ Normal(mu[g[n]] + X[n, 1] * beta[1], sigma) }}\nfor n in 1..N {{ for j in 1..2 {{ X[n, j] ~ Normal(beta[j], sigma) }} }}\nfor n in 2..N {{ y[n] ~ Normal(y[n - 1] + mu[1], sigma) }}\n"
        );
        let model = checked(&source);
        let n = 7;
        let mut bindings = Bindings::new(&model, vec![n]);
        let y: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin()).collect();
        let x: Vec<f64> = (0..2 * n).map(|i| (i as f64 * 0.3).cos()).collect();
        let g: Vec<f64> = (0..n).map(|i| (i % 3 + 1) as f64).collect();
        for (name, values) in [("y", y), ("X", x), ("g", g)] {
            bindings.set(model.variable(name).unwrap().id, values);
        }
        let sampled: Vec<VarId> = model.unknowns().map(|v| v.id).collect();
        let mut tape = Tape::new(&model, &bindings, &sampled, Vec::new()).unwrap();
        let position: Vec<f64> = (0..tape.dim()).map(|i| 0.3 - 0.1 * i as f64).collect();
        let mut gradient = vec![0.0; tape.dim()];
        let value = tape
            .log_density_and_gradient(&position, &mut gradient)
            .unwrap();
        let (expected, expected_gradient) =
            oracle_gradient(&model, &bindings, tape.layout(), &position).unwrap();
        assert!(
            (value - expected).abs() < 1e-10 * expected.abs().max(1.0),
            "{value} vs {expected}"
        );
        for (a, b) in gradient.iter().zip(&expected_gradient) {
            assert!((a - b).abs() < 1e-9 * b.abs().max(1.0), "{a} vs {b}");
        }
    }
}
