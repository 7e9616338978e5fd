//! Why one term of the log density is not finite at the points an engine tried: −∞ (a value
//! outside a support, an impossible observation), NaN (an operation with no defined value) or an
//! `exp` whose argument is past the largest double's logarithm. The engines only see "not
//! finite"; the planner asks this module afterwards, so that each cause gets its own code and a
//! hint that fits it. The evaluation is the generic evaluator's (the reference semantics), on a
//! few points, so it costs nothing on the fast path.

use ppl_ir::{Builtin, Expr, ExprKind, TermKind};
use ppl_syntax::Span;

use super::density::Tape;
use super::layout::bound_evaluator;

/// `ln(f64::MAX)`: `exp` of anything larger is `+∞`.
const LARGEST_EXP_ARGUMENT: f64 = 709.782712893384;

/// The cause of a non-finite term, when the same cause holds at every point examined.
#[derive(Clone, Debug, PartialEq)]
pub enum NonFinite {
    /// A call `exp(a)` in the term with `a` above `ln(f64::MAX)` (the largest such `a` seen).
    ExpOverflow { span: Span, argument: f64 },
    /// The term is `−∞` at every point.
    NegativeInfinity,
    /// The term is NaN at every point.
    NotANumber,
}

impl Tape {
    /// What makes term `term_index` (an index into the model's terms) non-finite at every one
    /// of `positions` (unconstrained, as the engines use them). `None` when it is finite at one
    /// of them, the causes differ between them, or the term cannot be evaluated apart from the
    /// tape (a summed-out latent, a net).
    pub fn non_finite_cause(&self, term_index: usize, positions: &[Vec<f64>]) -> Option<NonFinite> {
        let term = self.model.terms.get(term_index)?;
        let mut exp_calls = Vec::new();
        for expr in term_expressions(&term.kind) {
            ppl_ir::check::visit(expr, &mut |e| {
                if let ExprKind::Call {
                    function: Builtin::Exp,
                    args,
                } = &e.kind
                    && let Some(argument) = args.first()
                {
                    exp_calls.push((e.span, argument.clone()));
                }
            });
        }
        let mut causes = Vec::with_capacity(positions.len());
        for position in positions {
            let (mut evaluator, _) =
                bound_evaluator::<f64>(&self.model, &self.bindings, &self.layout, position).ok()?;
            let value = evaluator.term(term).ok()?;
            if value.is_finite() {
                return None;
            }
            let mut overflow: Option<(Span, f64)> = None;
            for (span, argument) in &exp_calls {
                let span = *span;
                let mut largest = f64::NEG_INFINITY;
                let evaluated = evaluator.for_each_iteration(&term.loops, &mut |inner| {
                    let values = inner.eval(argument)?;
                    largest = values.values.iter().copied().fold(largest, f64::max);
                    Ok(())
                });
                if evaluated.is_ok()
                    && largest > LARGEST_EXP_ARGUMENT
                    && overflow.is_none_or(|(_, seen)| largest > seen)
                {
                    overflow = Some((span, largest));
                }
            }
            causes.push(match overflow {
                Some((span, argument)) => NonFinite::ExpOverflow { span, argument },
                None if value.is_nan() => NonFinite::NotANumber,
                None if value == f64::NEG_INFINITY => NonFinite::NegativeInfinity,
                None => return None,
            });
        }
        let first = causes.first()?.clone();
        let same = causes.iter().all(|cause| {
            std::mem::discriminant(cause) == std::mem::discriminant(&first)
                && match (cause, &first) {
                    (
                        NonFinite::ExpOverflow { span, .. },
                        NonFinite::ExpOverflow { span: other, .. },
                    ) => span == other,
                    _ => true,
                }
        });
        if !same {
            return None;
        }
        // The largest argument over all points, so the message shows how far past the limit.
        Some(match first {
            NonFinite::ExpOverflow { span, .. } => NonFinite::ExpOverflow {
                span,
                argument: causes
                    .iter()
                    .filter_map(|cause| match cause {
                        NonFinite::ExpOverflow { argument, .. } => Some(*argument),
                        _ => None,
                    })
                    .fold(f64::NEG_INFINITY, f64::max),
            },
            other => other,
        })
    }
}

/// The expressions a term evaluates: the target and arguments of a `~`, or the expression of a
/// `factor` / `energy`.
fn term_expressions(kind: &TermKind) -> Vec<&Expr> {
    match kind {
        TermKind::Tilde { target, args, .. } => std::iter::once(target).chain(args).collect(),
        TermKind::Factor(expr) | TermKind::Energy(expr) => vec![expr],
    }
}
