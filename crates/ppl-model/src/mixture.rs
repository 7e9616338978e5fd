//! Recognising a finite mixture in a model (LANGUAGE.md §6 rule 4) and translating between the
//! model's variables and the EM engine's `MixtureProblem` / `EmFit`.
//!
//! The recognised shape: one `latent z: int[N] in 1..K`, `z ~ Categorical(w)` with `param w:
//! simplex[K]`, and observed variables each `~` a family whose arguments are params gathered by `z`
//! (`mu[z]`, `Sigma[z]`). Anything else is "not a mixture EM can fit in closed form", with the
//! reason, so `auto` can say why it chose something else.

use ppl_dist::DistKind;
use ppl_infer::em::{BlockEstimates, ComponentFamily, EmFit, EmissionBlock, MixtureProblem};
use ppl_ir::{Constraint, ElemType, Expr, ExprKind, IndexExpr, Model, Role, TermKind, VarId};

use ppl_syntax::Span;

use crate::BoundData;
use crate::names::element_names;

/// How each model variable maps onto the EM problem.
#[derive(Clone, Debug, PartialEq)]
pub struct MixtureSpec {
    pub assignment: VarId,
    pub weights: VarId,
    pub components: usize,
    pub blocks: Vec<BlockSpec>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BlockSpec {
    pub observed: VarId,
    pub family: ComponentFamily,
    /// The params gathered by the assignment, in the distribution's argument order.
    pub params: Vec<VarId>,
}

/// Why a model is not a mixture EM fits in closed form, with the statement or declaration
/// responsible when there is one.
#[derive(Clone, Debug, PartialEq)]
pub struct NotAMixture {
    pub reason: String,
    pub span: Option<Span>,
}

impl NotAMixture {
    fn at(span: Span, reason: impl Into<String>) -> Self {
        NotAMixture {
            reason: reason.into(),
            span: Some(span),
        }
    }

    fn unplaced(reason: impl Into<String>) -> Self {
        NotAMixture {
            reason: reason.into(),
            span: None,
        }
    }
}

impl std::fmt::Display for NotAMixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Recognises the mixture, or says why the model is not one EM fits in closed form.
pub fn recognise(model: &Model, bound: &BoundData) -> Result<MixtureSpec, NotAMixture> {
    let discrete: Vec<&ppl_ir::Variable> = model
        .unknowns()
        .filter(|v| v.ty.elem != ElemType::Real)
        .collect();
    let [assignment] = discrete.as_slice() else {
        return Err(match discrete.as_slice() {
            [] => NotAMixture::unplaced("there is no discrete latent variable"),
            [_, second, ..] => {
                NotAMixture::at(second.span, "more than one discrete latent variable")
            }
            _ => NotAMixture::unplaced("more than one discrete latent variable"),
        });
    };
    if assignment.ty.shape.len() != 1 {
        return Err(NotAMixture::at(
            assignment.span,
            format!("`{}` is not a vector of assignments", assignment.name),
        ));
    }
    if let Some(latent) = model
        .unknowns()
        .find(|v| v.role == Role::Latent && v.ty.elem == ElemType::Real)
    {
        return Err(NotAMixture::at(
            latent.span,
            format!(
                "the model also has the continuous latent variable `{}`",
                latent.name
            ),
        ));
    }
    let mut weights = None;
    let mut blocks = Vec::new();
    for term in &model.terms {
        if !term.loops.is_empty() {
            return Err(NotAMixture::at(
                term.span,
                "a `~` statement inside a `for` loop",
            ));
        }
        let TermKind::Tilde {
            target,
            distribution,
            args,
        } = &term.kind
        else {
            return Err(NotAMixture::at(term.span, "a `factor` or `energy` term"));
        };
        let ExprKind::Variable(target_id) = target.kind else {
            return Err(NotAMixture::at(
                term.span,
                "a `~` statement on part of a variable",
            ));
        };
        if target_id == assignment.id {
            let (
                DistKind::Categorical,
                [
                    Expr {
                        kind: ExprKind::Variable(w),
                        ..
                    },
                ],
            ) = (distribution, args.as_slice())
            else {
                return Err(NotAMixture::at(
                    term.span,
                    format!(
                        "`{}` is not `~ Categorical(w)` with a simplex param `w`",
                        assignment.name
                    ),
                ));
            };
            let w_var = &model.variables[w.0];
            if w_var.role != Role::Param || w_var.constraint != Constraint::Simplex {
                return Err(NotAMixture::at(
                    w_var.span,
                    format!("the weights `{}` are not a `param` simplex", w_var.name),
                ));
            }
            weights = Some(*w);
            continue;
        }
        let target_var = &model.variables[target_id.0];
        if target_var.role != Role::Observed {
            return Err(NotAMixture::at(
                term.span,
                format!(
                    "`{}` has a prior: EM here fits maximum likelihood only",
                    target_var.name
                ),
            ));
        }
        let family = match distribution {
            DistKind::Normal => ComponentFamily::Normal,
            DistKind::MvNormalCov => ComponentFamily::MvNormal,
            DistKind::Poisson => ComponentFamily::Poisson,
            DistKind::Bernoulli => ComponentFamily::Bernoulli,
            DistKind::Exponential => ComponentFamily::Exponential,
            DistKind::Categorical => {
                let levels = args[0]
                    .ty
                    .shape
                    .last()
                    .map(|s| s.evaluate(&bound.dims).max(0) as usize)
                    .unwrap_or(0);
                ComponentFamily::Categorical { levels }
            }
            other => {
                return Err(NotAMixture::at(
                    term.span,
                    format!("`{}` has no closed-form M-step here", other.family().name),
                ));
            }
        };
        let mut params = Vec::new();
        for arg in args {
            let Some(param) = gathered_param(arg, assignment.id) else {
                return Err(NotAMixture::at(
                    arg.span,
                    format!(
                        "an argument of `{}`'s distribution is not a param indexed by `{}`",
                        target_var.name, assignment.name
                    ),
                ));
            };
            if model.variables[param.0].role != Role::Param {
                return Err(NotAMixture::at(
                    arg.span,
                    format!("`{}` is not a param", model.variables[param.0].name),
                ));
            }
            params.push(param);
        }
        let rank_ok = match family {
            ComponentFamily::Normal
            | ComponentFamily::Poisson
            | ComponentFamily::Exponential
            | ComponentFamily::Categorical { .. } => target_var.ty.shape.len() == 1,
            ComponentFamily::MvNormal | ComponentFamily::Bernoulli => {
                (1..=2).contains(&target_var.ty.shape.len())
            }
        };
        if !rank_ok {
            return Err(NotAMixture::at(
                term.span,
                format!("`{}` has a shape this EM does not handle", target_var.name),
            ));
        }
        blocks.push(BlockSpec {
            observed: target_id,
            family,
            params,
        });
    }
    let Some(weights) = weights else {
        return Err(NotAMixture::at(
            assignment.span,
            format!("`{}` has no `~ Categorical(w)` statement", assignment.name),
        ));
    };
    if blocks.is_empty() {
        return Err(NotAMixture::at(
            assignment.span,
            "no observed variable depends on the assignment",
        ));
    }
    let components = model.variables[weights.0]
        .ty
        .shape
        .last()
        .map(|s| s.evaluate(&bound.dims).max(0) as usize)
        .unwrap_or(0);
    // Every param must be used by the mixture, or its estimate would be silently missing.
    for variable in model.unknowns() {
        let used = variable.id == weights
            || variable.id == assignment.id
            || blocks.iter().any(|b| b.params.contains(&variable.id));
        if !used {
            return Err(NotAMixture::at(
                variable.span,
                format!("`{}` is not part of the mixture", variable.name),
            ));
        }
    }
    Ok(MixtureSpec {
        assignment: assignment.id,
        weights,
        components,
        blocks,
    })
}

/// `mu[z]` with `mu` a variable and `z` the assignment.
fn gathered_param(expr: &Expr, assignment: VarId) -> Option<VarId> {
    let ExprKind::Index { base, indices } = &expr.kind else {
        return None;
    };
    let ExprKind::Variable(param) = base.kind else {
        return None;
    };
    match indices.as_slice() {
        [
            IndexExpr::Gather(Expr {
                kind: ExprKind::Variable(z),
                ..
            }),
        ] if *z == assignment => Some(param),
        _ => None,
    }
}

/// The EM problem for the bound data.
pub fn problem(model: &Model, bound: &BoundData, spec: &MixtureSpec) -> MixtureProblem {
    let n = bound.shape(&model.variables[spec.assignment.0].ty.shape)[0];
    let blocks = spec
        .blocks
        .iter()
        .map(|block| {
            let variable = &model.variables[block.observed.0];
            let shape = bound.shape(&variable.ty.shape);
            let dim = shape.get(1).copied().unwrap_or(1);
            EmissionBlock {
                name: variable.name.clone(),
                family: block.family,
                dim,
                values: bound.observed[block.observed.0].clone().unwrap_or_default(),
            }
        })
        .collect();
    MixtureProblem {
        n,
        components: spec.components,
        blocks,
    }
}

/// The fitted params under their model names, in Stan's display form (`mu[1]`, `Sigma[2,1,2]`).
pub fn estimates(model: &Model, spec: &MixtureSpec, fit: &EmFit) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let weights_name = &model.variables[spec.weights.0].name;
    for (k, w) in fit.weights.iter().enumerate() {
        out.push((format!("{weights_name}[{}]", k + 1), *w));
    }
    for (block, estimates) in spec.blocks.iter().zip(&fit.blocks) {
        let columns: Vec<Vec<f64>> = match estimates {
            BlockEstimates::Normal { means, sds } => vec![means.clone(), sds.clone()],
            BlockEstimates::MvNormal { means, covariances } => {
                vec![means.concat(), covariances.concat()]
            }
            BlockEstimates::Poisson { rates } | BlockEstimates::Exponential { rates } => {
                vec![rates.clone()]
            }
            BlockEstimates::Bernoulli { probabilities }
            | BlockEstimates::Categorical { probabilities } => {
                vec![probabilities.concat()]
            }
        };
        for (param, values) in block.params.iter().zip(columns) {
            let variable = &model.variables[param.0];
            for (name, value) in element_names(
                &variable.name,
                values.len(),
                &shape_of(variable, values.len(), spec.components),
            )
            .into_iter()
            .zip(values)
            {
                out.push((name, value));
            }
        }
    }
    out
}

/// The concrete shape of a param from its value count: `[K]`, `[K, D]` or `[K, D, D]`.
fn shape_of(variable: &ppl_ir::Variable, count: usize, components: usize) -> Vec<usize> {
    let per_component = count / components.max(1);
    match variable.ty.shape.len() {
        1 => vec![components],
        2 => vec![components, per_component],
        _ => {
            let d = (per_component as f64).sqrt().round() as usize;
            vec![components, d, d]
        }
    }
}
