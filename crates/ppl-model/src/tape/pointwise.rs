//! The per-observation quantities of the Bayesian workflow, evaluated at one draw: the pointwise
//! log-likelihood that PSIS-LOO needs, and posterior predictive replicates of the observed data.
//!
//! Observations are the elements of the leading (plate) axis of the observed variables that
//! have a distribution. Every such variable must have the same leading length `N` (a scalar
//! observed variable counts as `N = 1`): `log_lik[n]` is then the sum, over every observed
//! variable and every likelihood term, of the log density of the terms' elements that fall on
//! plate element `n`, summed over event axes (LANGUAGE.md §8). Models whose observed variables
//! have different leading lengths have no single plate and are refused with a message naming the
//! lengths, rather than given a split that LOO would misread.

use ppl_ir::{Expr, ExprKind, IndexExpr, Model, Role, TermKind, VarId};
use ppl_syntax::Span;
use rand::Rng;

use super::array::{Array, BroadcastPlan};
use super::density::Tape;
use super::error::TapeError;
use super::eval::{Evaluator, event_ranks, tilde_log_densities};
use super::layout::bound_evaluator;

/// The observed variables with a distribution and their common plate length.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservationPlate {
    /// Observed variables that are the target of some `~`, in declaration order.
    pub observed: Vec<VarId>,
    /// The common leading-axis length: the number of `log_lik` columns.
    pub observations: usize,
}

/// The variable a `~` target names, when it is observed.
fn observed_root(model: &Model, target: &Expr) -> Option<VarId> {
    let id = crate::posterior::root_variable(target)?;
    (model.variables[id.0].role == Role::Observed).then_some(id)
}

impl Tape {
    /// The shape of variable `id` under this tape's data dimensions.
    pub fn observed_shape(&self, id: VarId) -> Vec<usize> {
        self.bindings.shape(&self.model, id)
    }

    /// The observed variables that have a distribution and their common plate length, or an
    /// `Unsupported` error when there are none or their leading lengths differ.
    pub fn observation_plate(&self) -> Result<ObservationPlate, TapeError> {
        let model = &*self.model;
        let mut observed: Vec<VarId> = Vec::new();
        let mut first_span = None;
        for term in &model.terms {
            if let TermKind::Tilde { target, .. } = &term.kind
                && let Some(id) = observed_root(model, target)
                && !observed.contains(&id)
            {
                observed.push(id);
                first_span.get_or_insert(term.span);
            }
        }
        observed.sort_by_key(|v| v.0);
        let span = first_span.unwrap_or_default();
        let lengths: Vec<(VarId, usize)> = observed
            .iter()
            .map(|&id| {
                let shape = self.bindings.shape(model, id);
                (id, shape.first().copied().unwrap_or(1))
            })
            .collect();
        let Some(&(_, observations)) = lengths.first() else {
            return Err(TapeError::Unsupported {
                what: "pointwise log-likelihood of a model with no observed variable that has a distribution".into(),
                span,
            });
        };
        if let Some((other, length)) = lengths.iter().find(|(_, l)| *l != observations) {
            return Err(TapeError::Unsupported {
                what: format!(
                    "pointwise log-likelihood needs one plate: `{}` has {} elements on its first axis but `{}` has {}",
                    model.variables[observed[0].0].name,
                    observations,
                    model.variables[other.0].name,
                    length
                ),
                span,
            });
        }
        Ok(ObservationPlate {
            observed,
            observations,
        })
    }

    fn evaluator_at<'a>(
        &'a self,
        position: &[f64],
        fixed: &'a [(VarId, Vec<f64>)],
        bindings: &'a mut Option<super::layout::Bindings>,
    ) -> Result<Evaluator<'a, f64>, TapeError> {
        let chosen: &super::layout::Bindings = if fixed.is_empty() {
            &self.bindings
        } else {
            let mut copy = (*self.bindings).clone();
            for (var, values) in fixed {
                copy.set(*var, values.clone());
            }
            bindings.insert(copy)
        };
        Ok(bound_evaluator(&self.model, chosen, &self.layout, position)?.0)
    }

    /// `log p(y_n | θ)` for each plate element `n` of `plate` at the unconstrained `position`,
    /// with the unknowns outside the position (recovered discrete latents) set to `fixed`.
    pub fn pointwise_log_likelihood(
        &self,
        plate: &ObservationPlate,
        position: &[f64],
        fixed: &[(VarId, Vec<f64>)],
    ) -> Result<Vec<f64>, TapeError> {
        self.pointwise_terms(plate, position, fixed, None)
    }

    /// The marginal `log p(y_n | θ) = log Σ_k p(z_n = k | θ) p(y_n | z_n = k, θ)` per plate
    /// element, with the discrete `latent` (summed out per element, `Structure::Plate`, one
    /// element per observation) summed out: each state's joint contribution of the latent's
    /// own terms and the likelihood, per element, combined by a log-sum-exp.
    pub fn marginal_pointwise_log_likelihood(
        &self,
        plate: &ObservationPlate,
        latent: &crate::marginal::SummedLatent,
        position: &[f64],
    ) -> Result<Vec<f64>, TapeError> {
        let mut per_state = Vec::with_capacity(latent.states);
        for state in 0..latent.states {
            let value = (latent.low + state as i64) as f64;
            let fixed = [(latent.var, vec![value; latent.elements])];
            per_state.push(self.pointwise_terms(plate, position, &fixed, Some(latent.var))?);
        }
        Ok((0..plate.observations)
            .map(|n| {
                let largest = per_state
                    .iter()
                    .map(|s| s[n])
                    .fold(f64::NEG_INFINITY, f64::max);
                if largest == f64::NEG_INFINITY {
                    return largest;
                }
                largest
                    + per_state
                        .iter()
                        .map(|s| (s[n] - largest).exp())
                        .sum::<f64>()
                        .ln()
            })
            .collect())
    }

    /// The per-plate-element sum of the observed variables' terms and, when `latent` is given,
    /// of that latent's own `~` terms.
    fn pointwise_terms(
        &self,
        plate: &ObservationPlate,
        position: &[f64],
        fixed: &[(VarId, Vec<f64>)],
        latent: Option<VarId>,
    ) -> Result<Vec<f64>, TapeError> {
        let model = &*self.model;
        let mut storage = None;
        let mut evaluator = self.evaluator_at(position, fixed, &mut storage)?;
        let mut out = vec![0.0; plate.observations];
        for term in &model.terms {
            let TermKind::Tilde {
                target,
                distribution,
                args,
            } = &term.kind
            else {
                continue;
            };
            let counted = observed_root(model, target).is_some()
                || (latent.is_some() && crate::posterior::root_variable(target) == latent);
            if !counted {
                continue;
            }
            let span = term.span;
            evaluator.for_each_iteration(&term.loops, &mut |evaluator| {
                let variate = evaluator.eval(target)?;
                let args = args
                    .iter()
                    .map(|a| evaluator.eval(a))
                    .collect::<Result<Vec<_>, _>>()?;
                let densities = tilde_log_densities(*distribution, &variate, &args, span)?;
                let placement = plate_placement(evaluator, target, plate.observations, span)?;
                for (element, density) in densities.iter().enumerate() {
                    let n = placement.element(element, densities.len(), span)?;
                    out[n] += density;
                }
                Ok(())
            })?;
        }
        Ok(out)
    }

    /// One posterior predictive replicate of every observed variable of `plate`, drawn from its
    /// likelihood at `position` (unconstrained) with `fixed` unknowns set, in `plate.observed`
    /// order, each with the variable's shape. Elements no `~` covers are NaN.
    pub fn posterior_predictive<R: Rng + ?Sized>(
        &self,
        plate: &ObservationPlate,
        position: &[f64],
        fixed: &[(VarId, Vec<f64>)],
        rng: &mut R,
    ) -> Result<Vec<Array<f64>>, TapeError> {
        let model = &*self.model;
        let mut storage = None;
        let mut evaluator = self.evaluator_at(position, fixed, &mut storage)?;
        let mut replicates: Vec<Array<f64>> = plate
            .observed
            .iter()
            .map(|&id| {
                let shape = self.bindings.shape(model, id);
                let count = shape.iter().product();
                Array::new(shape, vec![f64::NAN; count])
            })
            .collect();
        for term in &model.terms {
            let TermKind::Tilde {
                target,
                distribution,
                args,
            } = &term.kind
            else {
                continue;
            };
            let Some(root) = observed_root(model, target) else {
                continue;
            };
            let Some(slot) = plate.observed.iter().position(|&v| v == root) else {
                continue;
            };
            let span = term.span;
            let kind = *distribution;
            evaluator.for_each_iteration(&term.loops, &mut |evaluator| {
                let variate = evaluator.eval(target)?;
                let args = args
                    .iter()
                    .map(|a| evaluator.eval(a))
                    .collect::<Result<Vec<_>, _>>()?;
                let offsets = target_offsets(evaluator, target, &replicates[slot].shape, span)?;
                let drawn = draw_like(kind, &variate, &args, rng, span)?;
                if drawn.len() != offsets.len() {
                    return Err(TapeError::Unsupported {
                        what: "a replicate of a `~` whose parameters broadcast beyond its variate"
                            .into(),
                        span,
                    });
                }
                for (offset, value) in offsets.into_iter().zip(drawn) {
                    replicates[slot].values[offset] = value;
                }
                Ok(())
            })?;
        }
        Ok(replicates)
    }
}

/// Where the elements of one evaluated `~` fall on the plate.
enum Placement {
    /// Every element belongs to plate element `n` (`y[n] ~ ...`).
    One(usize),
    /// The elements cover plate elements `start ..` in row-major order, the plate axis outermost.
    Range { start: usize, length: usize },
}

impl Placement {
    fn element(&self, element: usize, total: usize, span: Span) -> Result<usize, TapeError> {
        match *self {
            Placement::One(n) => Ok(n),
            Placement::Range { start, length } => {
                if length == 0 || !total.is_multiple_of(length) {
                    return Err(TapeError::Unsupported {
                        what: format!(
                            "pointwise log-likelihood of a `~` with {total} elements over {length} observations"
                        ),
                        span,
                    });
                }
                Ok(start + element / (total / length))
            }
        }
    }
}

fn plate_placement(
    evaluator: &mut Evaluator<'_, f64>,
    target: &Expr,
    observations: usize,
    span: Span,
) -> Result<Placement, TapeError> {
    let in_range = |low: i64, high: i64| -> Result<(usize, usize), TapeError> {
        if low < 1 || high < low || high as usize > observations {
            return Err(TapeError::IndexOutOfRange {
                index: if low < 1 { low } else { high },
                length: observations,
                span,
            });
        }
        Ok(((low - 1) as usize, (high - low + 1) as usize))
    };
    match &target.kind {
        ExprKind::Variable(_) => Ok(Placement::Range {
            start: 0,
            length: observations,
        }),
        ExprKind::Index { base, indices } if matches!(base.kind, ExprKind::Variable(_)) => {
            match indices.first() {
                Some(IndexExpr::Single(index)) => {
                    let n = evaluator.eval_int(index)?;
                    Ok(Placement::One(in_range(n, n)?.0))
                }
                Some(IndexExpr::Slice { low, high }) => {
                    let low = evaluator.eval_int(low)?;
                    let high = evaluator.eval_int(high)?;
                    let (start, length) = in_range(low, high)?;
                    Ok(Placement::Range { start, length })
                }
                Some(IndexExpr::All) | None => Ok(Placement::Range {
                    start: 0,
                    length: observations,
                }),
                Some(IndexExpr::Gather(_)) => Err(TapeError::Unsupported {
                    what: "pointwise log-likelihood of a `~` on gathered elements".into(),
                    span,
                }),
            }
        }
        _ => Err(TapeError::Unsupported {
            what: "pointwise log-likelihood of this `~` target".into(),
            span,
        }),
    }
}

/// The flat offsets (row-major in the variable of `shape`) of the elements a `~` target names.
fn target_offsets(
    evaluator: &mut Evaluator<'_, f64>,
    target: &Expr,
    shape: &[usize],
    span: Span,
) -> Result<Vec<usize>, TapeError> {
    let count: usize = shape.iter().product();
    let ExprKind::Index { indices, .. } = &target.kind else {
        return Ok((0..count).collect());
    };
    // Per axis, the 0-based positions picked.
    let mut picked: Vec<Vec<usize>> = Vec::with_capacity(shape.len());
    for (axis, &length) in shape.iter().enumerate() {
        let checked = |index: i64| -> Result<usize, TapeError> {
            if index < 1 || index as usize > length {
                return Err(TapeError::IndexOutOfRange {
                    index,
                    length,
                    span,
                });
            }
            Ok((index - 1) as usize)
        };
        match indices.get(axis) {
            None | Some(IndexExpr::All) => picked.push((0..length).collect()),
            Some(IndexExpr::Single(index)) => {
                picked.push(vec![checked(evaluator.eval_int(index)?)?])
            }
            Some(IndexExpr::Slice { low, high }) => {
                let low = checked(evaluator.eval_int(low)?)?;
                let high = checked(evaluator.eval_int(high)?)?;
                picked.push((low..=high).collect());
            }
            Some(IndexExpr::Gather(index)) => {
                let value = evaluator.eval(index)?;
                let positions = value
                    .values
                    .iter()
                    .map(|v| checked(v.round() as i64))
                    .collect::<Result<Vec<_>, _>>()?;
                picked.push(positions);
            }
        }
    }
    let strides = super::array::strides(shape);
    let mut offsets = vec![0usize];
    for (positions, stride) in picked.iter().zip(&strides) {
        offsets = offsets
            .iter()
            .flat_map(|base| positions.iter().map(move |p| base + p * stride))
            .collect();
    }
    Ok(offsets)
}

/// Draws a variate of the shape of `variate` from `kind` with `args`, element by element of the
/// broadcast batch, with each element's event drawn whole.
fn draw_like<R: Rng + ?Sized>(
    kind: ppl_dist::DistKind,
    variate: &Array<f64>,
    args: &[Array<f64>],
    rng: &mut R,
    span: Span,
) -> Result<Vec<f64>, TapeError> {
    let (variate_rank, param_ranks) = event_ranks(kind);
    let unsupported = |what: String| TapeError::Unsupported { what, span };
    if param_ranks.len() != args.len() || variate.shape.len() < variate_rank {
        return Err(unsupported(format!("{kind:?} with these arguments")));
    }
    let batch = &variate.shape[..variate.shape.len() - variate_rank];
    let event: usize = variate.shape[variate.shape.len() - variate_rank..]
        .iter()
        .product();
    let plans: Vec<(BroadcastPlan, usize)> = args
        .iter()
        .zip(&param_ranks)
        .map(|(arg, &rank)| {
            if arg.shape.len() < rank {
                return Err(unsupported(format!("{kind:?} with these arguments")));
            }
            let own = &arg.shape[..arg.shape.len() - rank];
            if super::array::broadcast_shapes(own, batch).as_deref() != Some(batch) {
                return Err(unsupported(
                    "a replicate of a `~` whose parameters broadcast beyond its variate".into(),
                ));
            }
            let length = arg.shape[arg.shape.len() - rank..].iter().product();
            Ok((BroadcastPlan::new(own, batch), length))
        })
        .collect::<Result<_, _>>()?;
    let total: usize = batch.iter().product();
    let mut out = vec![0.0; total * event];
    for element in 0..total {
        let params: Vec<&[f64]> = args
            .iter()
            .zip(&plans)
            .map(|(arg, (plan, length))| {
                let start = plan.at(element) * length;
                &arg.values[start..start + length]
            })
            .collect();
        ppl_dist::sample(
            kind,
            &params,
            rng,
            &mut out[element * event..(element + 1) * event],
        )
        .map_err(|error| unsupported(format!("a posterior predictive draw: {error}")))?;
    }
    Ok(out)
}
