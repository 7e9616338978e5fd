//! Recognising a finite mixture in a model (LANGUAGE.md §6 rule 4) and translating between the
//! model's variables and the EM engine's `MixtureProblem` / `EmFit`.
//!
//! The recognised shape: one `latent z: int[N] in 1..K`, `z ~ Categorical(w)` with `param w:
//! simplex[K]`, and observed variables each `~` a family whose arguments are params gathered by `z`
//! (`mu[z]`, `Sigma[z]`). A `~` on a `let` of data only (`let x = cbind(eruptions, waiting)`) is
//! an ordinary likelihood term (LANGUAGE.md §3), so such a let is an emission block too, its values
//! computed once here. Anything else is "not a mixture EM can fit in closed form", with the reason,
//! so `auto` can say why it chose something else.

use ppl_dist::DistKind;
use ppl_infer::em::{BlockEstimates, ComponentFamily, EmFit, EmissionBlock, MixtureProblem};
use ppl_ir::{
    Constraint, ElemType, Expr, ExprKind, IndexExpr, LetId, Model, Role, TermKind, VarId,
};

use ppl_syntax::Span;

use crate::BoundData;
use crate::names::element_names;
use crate::tape::{Array, Evaluator};

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
    /// The observed variable under the `~`; for a `~` on a `let` of data, the first observed
    /// variable the let reads (so that code naming blocks by variable still finds one; prefer
    /// [`BlockSpec::name`]).
    pub observed: VarId,
    pub family: ComponentFamily,
    /// The params gathered by the assignment, in the distribution's argument order.
    pub params: Vec<VarId>,
    /// Set when the `~` is on a `let` of data: its values, computed once from the bound data.
    pub derived: Option<DerivedData>,
}

/// The value of a data-only `let` that a mixture's emission is observed on.
#[derive(Clone, Debug, PartialEq)]
pub struct DerivedData {
    pub definition: LetId,
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

impl BlockSpec {
    /// The name written in the model under the `~`: the observed variable's or the let's.
    pub fn name<'m>(&self, model: &'m Model) -> &'m str {
        match &self.derived {
            Some(derived) => &model.lets[derived.definition.0].name,
            None => &model.variables[self.observed.0].name,
        }
    }
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

impl From<String> for NotAMixture {
    fn from(reason: String) -> Self {
        NotAMixture::unplaced(reason)
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
        let (target_id, derived) = match target.kind {
            ExprKind::Variable(id) => (id, None),
            ExprKind::Let(definition) => {
                let (id, derived) = let_of_data(model, bound, definition)
                    .map_err(|reason| NotAMixture::at(term.span, reason))?;
                (id, Some(derived))
            }
            _ => {
                return Err(NotAMixture::at(
                    term.span,
                    "a `~` statement on part of a variable",
                ));
            }
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
        let target_name = match &derived {
            Some(derived) => &model.lets[derived.definition.0].name,
            None => &target_var.name,
        };
        let rank = match &derived {
            Some(derived) => derived.shape.len(),
            None => target_var.ty.shape.len(),
        };
        let rank_ok = match family {
            ComponentFamily::Normal
            | ComponentFamily::Poisson
            | ComponentFamily::Exponential
            | ComponentFamily::Categorical { .. } => rank == 1,
            ComponentFamily::MvNormal | ComponentFamily::Bernoulli => (1..=2).contains(&rank),
        };
        if !rank_ok {
            return Err(NotAMixture::at(
                term.span,
                format!("`{target_name}` has a shape this EM does not handle"),
            ));
        }
        blocks.push(BlockSpec {
            observed: target_id,
            family,
            params,
            derived,
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

/// A `let` under a `~` in a mixture: it must depend on data only and sit outside loops; its value
/// is computed from the bound data. Also returns the first observed variable it reads.
pub(crate) fn let_of_data(
    model: &Model,
    bound: &BoundData,
    definition: LetId,
) -> Result<(VarId, DerivedData), String> {
    let let_ = &model.lets[definition.0];
    if let_.depends_on_unknowns || !let_.loops.is_empty() {
        return Err(format!(
            "`{}` under a `~` is not a let of data outside loops",
            let_.name
        ));
    }
    let Some(observed) = first_observed(model, &let_.value) else {
        return Err(format!("`{}` reads no observed variable", let_.name));
    };
    let variables = model
        .variables
        .iter()
        .map(|variable| {
            bound.observed[variable.id.0]
                .as_ref()
                .map(|values| Array::new(bound.shape(&variable.ty.shape), values.clone()))
        })
        .collect();
    let mut evaluator = Evaluator::<f64>::new(model, &bound.dims, variables);
    let value = evaluator
        .full_let(definition)
        .map_err(|error| format!("`{}` cannot be computed from the data: {error}", let_.name))?;
    if value.values.iter().any(|v| !v.is_finite()) {
        return Err(format!("`{}` has a non-finite value", let_.name));
    }
    Ok((
        observed,
        DerivedData {
            definition,
            shape: value.shape,
            values: value.values,
        },
    ))
}

/// The first observed variable an expression reads, through lets.
fn first_observed(model: &Model, expr: &Expr) -> Option<VarId> {
    let mut found = None;
    ppl_ir::check::visit(expr, &mut |e| {
        if found.is_some() {
            return;
        }
        match &e.kind {
            ExprKind::Variable(id) if model.variables[id.0].role == Role::Observed => {
                found = Some(*id);
            }
            ExprKind::Let(id) => found = first_observed(model, &model.lets[id.0].value),
            _ => {}
        }
    });
    found
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
            let (shape, values) = match &block.derived {
                Some(derived) => (derived.shape.clone(), derived.values.clone()),
                None => (
                    bound.shape(&model.variables[block.observed.0].ty.shape),
                    bound.observed[block.observed.0].clone().unwrap_or_default(),
                ),
            };
            let dim = shape.get(1).copied().unwrap_or(1);
            EmissionBlock {
                name: block.name(model).to_string(),
                family: block.family,
                dim,
                values,
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
