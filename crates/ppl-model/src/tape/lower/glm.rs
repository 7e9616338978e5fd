//! Recognising a GLM likelihood over a data design matrix when lowering a `~`, so that it becomes
//! one fused node (`Op::Glm`, see `tape/glm.rs`) instead of a product, an add and a density:
//!
//! ```text
//! y ~ Normal(a + X @ b, s)          y ~ Bernoulli(logit = a + X @ b)    y ~ Poisson(log_rate = a + X @ b)
//! ```
//!
//! with `X` anything that does not depend on an unknown (data, or a `let` of data such as the
//! centred columns brms writes), `b` a vector of unknowns, the intercept `a` optional and scalar
//! (on either side of the `+`), `s` scalar, and `y` data. The linear predictor may be a `let`
//! outside loops. Anything else, including outcomes the fused loop does not check (a non-finite
//! normal outcome, a Bernoulli outcome other than 0/1, a count that is not a non-negative
//! integer), keeps the unfused lowering, which gives the same density.

use ppl_dist::DistKind;
use ppl_ir::{BinaryOp, Expr, ExprKind, TermKind};

use super::super::error::TapeError;
use super::super::glm::{GlmFamily, GlmNode};
use super::super::graph::{NodeId, Op};
use super::Builder;

/// The parts of `a + X @ b`.
struct LinearPredictor<'a> {
    intercept: Option<&'a Expr>,
    design: &'a Expr,
    coefficients: &'a Expr,
}

impl<'a> Builder<'a> {
    /// The fused node of term `index` when it is a GLM likelihood of the shapes above, or `None`
    /// (with nothing left on the tape) when it is not.
    pub(super) fn glm_term(&mut self, index: usize) -> Result<Option<NodeId>, TapeError> {
        let model = self.model;
        let term = &model.terms[index];
        let TermKind::Tilde {
            target,
            distribution,
            args,
        } = &term.kind
        else {
            return Ok(None);
        };
        if !term.loops.is_empty() {
            return Ok(None);
        }
        let (family, linear, scale) = match (distribution, args.as_slice()) {
            (DistKind::Normal, [mean, scale]) => (GlmFamily::NormalIdentity, mean, Some(scale)),
            (DistKind::BernoulliLogit, [logit]) => (GlmFamily::BernoulliLogit, logit, None),
            (DistKind::PoissonLog, [log_rate]) => (GlmFamily::PoissonLog, log_rate, None),
            _ => return Ok(None),
        };
        let Some(predictor) = self.linear_predictor(linear) else {
            return Ok(None);
        };
        if self.depends(target) || self.depends(predictor.design) {
            return Ok(None);
        }
        let mark = self.program.ops.len();
        let outcome = self.glm_nodes(family, target, &predictor, scale);
        match outcome {
            Ok(Some(node)) => Ok(Some(node)),
            Ok(None) => {
                self.truncate(mark);
                Ok(None)
            }
            Err(error) => {
                self.truncate(mark);
                Err(error)
            }
        }
    }

    /// `a + X @ b`, `X @ b + a` or `X @ b`, looking through `let`s declared outside loops, with
    /// `b` depending on an unknown.
    fn linear_predictor(&mut self, expr: &'a Expr) -> Option<LinearPredictor<'a>> {
        let model = self.model;
        let expr = unwrap_let(model, expr);
        let product = |e: &'a Expr| match &unwrap_let(model, e).kind {
            ExprKind::Binary {
                op: BinaryOp::MatMul,
                lhs,
                rhs,
            } => Some((&**lhs, &**rhs)),
            _ => None,
        };
        let (intercept, (design, coefficients)) = match &expr.kind {
            ExprKind::Binary {
                op: BinaryOp::Add,
                lhs,
                rhs,
            } => match (product(lhs), product(rhs)) {
                (Some(parts), _) => (Some(&**rhs), parts),
                (None, Some(parts)) => (Some(&**lhs), parts),
                (None, None) => return None,
            },
            _ => (None, product(expr)?),
        };
        if !self.depends(coefficients) {
            return None;
        }
        Some(LinearPredictor {
            intercept,
            design,
            coefficients,
        })
    }

    /// The fused node, or `None` when the shapes or the data do not fit it.
    fn glm_nodes(
        &mut self,
        family: GlmFamily,
        target: &Expr,
        predictor: &LinearPredictor<'_>,
        scale: Option<&Expr>,
    ) -> Result<Option<NodeId>, TapeError> {
        let design_values = self.evaluator.eval(predictor.design)?;
        let [rows, columns] = design_values.shape[..] else {
            return Ok(None);
        };
        let outcome_values = self.evaluator.eval(target)?;
        if outcome_values.shape != [rows] || rows == 0 || columns == 0 {
            return Ok(None);
        }
        let outcomes_fit = outcome_values.values.iter().all(|&y| match family {
            GlmFamily::NormalIdentity => y.is_finite(),
            GlmFamily::BernoulliLogit => y == 0.0 || y == 1.0,
            GlmFamily::PoissonLog => y >= 0.0 && y.is_finite() && y.fract() == 0.0,
        });
        if !outcomes_fit || design_values.values.iter().any(|x| !x.is_finite()) {
            return Ok(None);
        }
        let constant = match family {
            GlmFamily::NormalIdentity => -(rows as f64) * ppl_dist::special::LN_SQRT_2PI,
            GlmFamily::BernoulliLogit => 0.0,
            GlmFamily::PoissonLog => -outcome_values
                .values
                .iter()
                .map(|&y| ppl_dist::special::ln_gamma(y + 1.0))
                .sum::<f64>(),
        };
        let coefficients = self.lower(predictor.coefficients)?;
        if self.len(coefficients) != columns || self.shape(coefficients).len() != 1 {
            return Ok(None);
        }
        let intercept = match predictor.intercept {
            Some(expr) => {
                let node = self.lower(expr)?;
                if self.len(node) != 1 {
                    return Ok(None);
                }
                Some(node)
            }
            None => None,
        };
        let scale = match scale {
            Some(expr) => {
                let node = self.lower(expr)?;
                if self.len(node) != 1 {
                    return Ok(None);
                }
                Some(node)
            }
            None => None,
        };
        let design = self.constant(design_values);
        let outcome = self.constant(outcome_values);
        let node = GlmNode {
            family,
            design,
            outcome,
            intercept,
            coefficients,
            scale,
            rows,
            columns,
            constant,
            coefficient_gradient: vec![0.0; columns],
            intercept_gradient: 0.0,
            scale_gradient: 0.0,
            blocks: super::super::glm::block_scratch(rows, columns),
        };
        Ok(Some(self.computed(Op::Glm(Box::new(node)), Vec::new())))
    }
}

/// The value of a `let` declared outside loops (and not recursive), else the expression itself.
fn unwrap_let<'a>(model: &'a ppl_ir::Model, expr: &'a Expr) -> &'a Expr {
    match &expr.kind {
        ExprKind::Let(id) => match model.lets.get(id.0) {
            Some(definition)
                if definition.loops.is_empty()
                    && !matches!(definition.value.kind, ExprKind::Recurrence { .. }) =>
            {
                &definition.value
            }
            _ => expr,
        },
        _ => expr,
    }
}
