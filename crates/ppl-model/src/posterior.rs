//! A model's posterior as the gradient-based engines see it: the tape over every continuous
//! unknown, and the mapping from an unconstrained draw to the named output columns (the unknowns
//! on their constrained scale, then the `let`s that depend on them, as Stan's generated
//! quantities).
//!
//! Finite discrete unknowns are summed out of the tape (`crate::marginal`) and recovered per
//! draw by `complete_draw`; their columns follow the continuous unknowns'.

use ppl_ir::{ElemType, Model, VarId};
use ppl_syntax::diagnostic::backticked;
use ppl_syntax::{Diagnostic, Span, codes};

use ppl_infer::LogDensityError;
use rand::Rng;

use crate::BoundData;
use crate::marginal::{self, Decision, StatePotentials, SummedLatent};
use crate::names::{column_names, element_names};
use crate::tape::{Bindings, ObservationPlate, Tape, TapeError};

/// One output column of a draw.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputColumn {
    /// Stan's display form: `theta[1,2]`.
    pub display: String,
    /// CmdStan's CSV form: `theta.1.2`.
    pub csv: String,
    /// A `let` recorded per draw (Stan's generated quantities), not a sampled unknown.
    pub generated: bool,
}

/// The posterior of a model bound to data.
#[derive(Clone)]
pub struct Posterior {
    pub tape: Tape,
    /// The continuous unknowns' columns, then the summed-out latents' (recovered per draw),
    /// then the `let`s.
    pub columns: Vec<OutputColumn>,
    pub sampled: Vec<VarId>,
    /// The discrete latents summed out of the tape, in column order.
    pub summed: Vec<SummedLatent>,
    /// The workflow columns asked for by `new_with`, after the `let`s: `log_lik[n]`, then
    /// `y_rep[...]` per observed variable.
    pub workflow: Option<WorkflowColumns>,
}

/// Which Bayesian-workflow columns a posterior's rows carry (LANGUAGE.md §8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PosteriorOptions {
    /// `log_lik[n]`: the pointwise log-likelihood of each plate element (`--log-lik`).
    pub log_lik: bool,
    /// `y_rep[...]`: a posterior predictive replicate of each observed `y` (`--predict`).
    pub predict: bool,
}

/// The plate the workflow columns are computed over, and which of them are present.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkflowColumns {
    pub plate: ObservationPlate,
    pub options: PosteriorOptions,
    /// The number of columns before the workflow ones.
    pub base_columns: usize,
}

/// Why a posterior draw could not be completed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DrawError {
    #[error(transparent)]
    Density(#[from] LogDensityError),
    #[error(transparent)]
    Tape(#[from] TapeError),
}

/// The per-element marginal probabilities of one summed-out latent at one draw.
#[derive(Clone, Debug, PartialEq)]
pub struct StateProbabilities {
    pub var: VarId,
    pub name: String,
    /// The value of state 0; state k is `low + k`.
    pub low: i64,
    pub states: usize,
    /// Row-major elements × states.
    pub probabilities: Vec<f64>,
}

impl Posterior {
    /// Builds the tape over every continuous unknown (latents and, when asked to sample them,
    /// params), with every finite discrete unknown summed out (`marginal::analyse`). A discrete
    /// unknown that cannot be summed out is an E0705 diagnostic naming it and the reason, at the
    /// responsible statement.
    pub fn new(model: &Model, bound: &BoundData, source: &str) -> Result<Posterior, Diagnostic> {
        let sampled: Vec<VarId> = model
            .unknowns()
            .filter(|v| v.ty.elem == ElemType::Real)
            .map(|v| v.id)
            .collect();
        let mut summed = Vec::new();
        for decision in marginal::analyse(model, &bound.dims) {
            match decision {
                Decision::Summed(latent) => summed.push(latent),
                Decision::Refused(refusal) => return Err(refusal_diagnostic(&refusal)),
            }
        }
        let mut bindings = Bindings::new(model, bound.dims.clone());
        for (index, values) in bound.observed.iter().enumerate() {
            if let Some(values) = values {
                bindings.set(VarId(index), values.clone());
            }
        }
        // Any valid value will do: the tape sets each state in turn, and draws override it.
        for latent in &summed {
            bindings.set(latent.var, vec![latent.low as f64; latent.elements]);
        }
        let labels = model
            .terms
            .iter()
            .map(|t| statement_label(source, t.span))
            .collect();
        let tape = Tape::with_summed(model, &bindings, &sampled, labels, &summed)
            .map_err(|e| tape_diagnostic(&e))?;
        let mut columns = Vec::new();
        for entry in &tape.layout().entries {
            push_columns(&mut columns, &entry.name, &entry.shape, false);
        }
        for latent in &summed {
            push_columns(&mut columns, &latent.name, &latent.shape, false);
        }
        let zero = vec![0.0; tape.layout().dim];
        if let Ok(draw) = tape.constrain(&zero) {
            for (id, value) in &draw.lets {
                push_columns(&mut columns, &model.lets[id.0].name, &value.shape, true);
            }
        }
        Ok(Posterior {
            tape,
            columns,
            sampled,
            summed,
            workflow: None,
        })
    }

    /// As `new`, with the Bayesian-workflow columns of `options` appended after the `let`s:
    /// `log_lik[n]` (CSV `log_lik.n`), one per element of the observed variables' common
    /// leading (plate) axis, then `y_rep[...]` (CSV `y_rep.…`) for each observed `y` with a
    /// distribution, shaped as `y`.
    ///
    /// Errors (E0705, at the first likelihood statement): no observed variable has a
    /// distribution; the observed variables' leading lengths differ (no single plate); or
    /// `log_lik` with summed-out discrete latents other than one per-element array over the
    /// plate (a scalar or a chain, whose marginal does not factor by observation). With one
    /// such array `z`, `log_lik[n]` is the marginal `log Σ_k p(z_n = k | θ) p(y_n | z_n = k, θ)`.
    pub fn new_with(
        model: &Model,
        bound: &BoundData,
        source: &str,
        options: &PosteriorOptions,
    ) -> Result<Posterior, Diagnostic> {
        let mut posterior = Posterior::new(model, bound, source)?;
        if !options.log_lik && !options.predict {
            return Ok(posterior);
        }
        let plate = posterior
            .tape
            .observation_plate()
            .map_err(|error| match error.span() {
                Some(span) => Diagnostic::error(codes::UNSUPPORTED, span, error.to_string())
                    .with_label("here"),
                None => Diagnostic::unplaced(codes::UNSUPPORTED, error.to_string()),
            })?;
        let one_plate_latent = |latent: &SummedLatent| {
            latent.structure == marginal::Structure::Plate && latent.elements == plate.observations
        };
        let marginal_supported = match posterior.summed.as_slice() {
            [] => true,
            [latent] => one_plate_latent(latent),
            _ => false,
        };
        if options.log_lik && !marginal_supported {
            let span = model
                .terms
                .iter()
                .find(|t| {
                    matches!(&t.kind, ppl_ir::TermKind::Tilde { target, .. }
                    if root_variable(target).is_some_and(|v| plate.observed.contains(&v)))
                })
                .map(|t| t.span)
                .unwrap_or_default();
            return Err(Diagnostic::error(
                codes::UNSUPPORTED,
                span,
                format!(
                    "pointwise log-likelihood (`--log-lik`) needs the summed-out discrete unknowns to be one array with one element per observation; not computed for {}",
                    backticked(posterior.summed.iter().map(|l| &l.name))
                ),
            )
            .with_label("this likelihood depends on them"));
        }
        let base_columns = posterior.columns.len();
        if options.log_lik {
            push_columns(
                &mut posterior.columns,
                "log_lik",
                &[plate.observations],
                true,
            );
        }
        if options.predict {
            for &id in &plate.observed {
                let shape = posterior.tape.observed_shape(id);
                let name = format!("{}_rep", model.variables[id.0].name);
                push_columns(&mut posterior.columns, &name, &shape, true);
            }
        }
        posterior.workflow = Some(WorkflowColumns {
            plate,
            options: *options,
            base_columns,
        });
        Ok(posterior)
    }

    /// The output row of one unconstrained position, in `columns` order. The columns of
    /// summed-out latents are NaN here (and `let`s reading them see a placeholder): use
    /// `complete_draw` when `summed` is not empty.
    pub fn row(&self, position: &[f64]) -> Result<Vec<f64>, TapeError> {
        let draw = self.tape.constrain(position)?;
        let fixed: Vec<(VarId, Vec<f64>)> = self
            .summed
            .iter()
            .map(|l| (l.var, vec![f64::NAN; l.elements]))
            .collect();
        let mut row = self.assemble_row(&draw, &fixed);
        if let Some(workflow) = &self.workflow {
            row.truncate(workflow.base_columns);
            if workflow.options.log_lik {
                row.extend(match self.summed.first() {
                    None => self
                        .tape
                        .pointwise_log_likelihood(&workflow.plate, position, &[])?,
                    Some(latent) => self.tape.marginal_pointwise_log_likelihood(
                        &workflow.plate,
                        latent,
                        position,
                    )?,
                });
            }
            row.resize(self.columns.len(), f64::NAN);
        }
        Ok(row)
    }

    /// The output row of one draw with every summed-out latent drawn from its conditional given
    /// the continuous unknowns at `position` (unconstrained), with `rng`: exact per element,
    /// forward-filtering backward-sampling for a chain. Deterministic given the RNG's state;
    /// uses no randomness when nothing is summed out and no `y_rep` columns were asked for.
    /// With `PosteriorOptions::predict`, `y_rep` is drawn after the latents, from the
    /// likelihood at this draw's parameters and latents.
    pub fn complete_draw<R: Rng + ?Sized>(
        &mut self,
        position: &[f64],
        rng: &mut R,
    ) -> Result<Vec<f64>, DrawError> {
        let mut row = self.complete_base(position, rng)?;
        if let Some(workflow) = &self.workflow
            && workflow.options.log_lik
            && let Some(latent) = self.summed.first()
        {
            // `complete_base` recovers the latents without the row's workflow columns.
            let pointwise =
                self.tape
                    .marginal_pointwise_log_likelihood(&workflow.plate, latent, position)?;
            row.resize(self.columns.len(), f64::NAN);
            let start = workflow.base_columns;
            if let Some(slots) = row.get_mut(start..start + pointwise.len()) {
                slots.copy_from_slice(&pointwise);
            }
        }
        if let Some(workflow) = &self.workflow
            && workflow.options.predict
        {
            let fixed = self.fixed_from_row(&row);
            row.truncate(self.columns.len() - self.replicate_columns());
            for replicate in
                self.tape
                    .posterior_predictive(&workflow.plate, position, &fixed, rng)?
            {
                row.extend_from_slice(&replicate.values);
            }
        }
        row.resize(self.columns.len(), f64::NAN);
        Ok(row)
    }

    /// The number of `y_rep` columns.
    fn replicate_columns(&self) -> usize {
        match &self.workflow {
            Some(workflow) if workflow.options.predict => workflow
                .plate
                .observed
                .iter()
                .map(|&id| self.tape.observed_shape(id).iter().product::<usize>())
                .sum(),
            _ => 0,
        }
    }

    /// The summed-out latents' values in a row (their columns follow the continuous ones').
    fn fixed_from_row(&self, row: &[f64]) -> Vec<(VarId, Vec<f64>)> {
        let mut start = self
            .tape
            .layout()
            .entries
            .iter()
            .map(|e| e.shape.iter().product::<usize>())
            .sum::<usize>();
        self.summed
            .iter()
            .map(|latent| {
                let values = row
                    .get(start..start + latent.elements)
                    .unwrap_or(&[])
                    .to_vec();
                start += latent.elements;
                (latent.var, values)
            })
            .collect()
    }

    /// `complete_draw` without the replicates.
    fn complete_base<R: Rng + ?Sized>(
        &mut self,
        position: &[f64],
        rng: &mut R,
    ) -> Result<Vec<f64>, DrawError> {
        if self.summed.is_empty() {
            return Ok(self.row(position)?);
        }
        let potentials = self.tape.summed_potentials(position)?;
        let fixed: Vec<(VarId, Vec<f64>)> = self
            .summed
            .iter()
            .zip(&potentials)
            .map(|(latent, potential)| {
                let values = potential
                    .draw_indices(rng)
                    .into_iter()
                    .map(|k| (latent.low + k as i64) as f64)
                    .collect();
                (latent.var, values)
            })
            .collect();
        let draw = self.tape.constrain_with(position, &fixed)?;
        Ok(self.assemble_row(&draw, &fixed))
    }

    /// Each summed-out latent's per-element marginal probabilities given the continuous
    /// unknowns at `position` (unconstrained); averaged over draws they estimate the posterior
    /// marginals (Rao–Blackwellised).
    pub fn state_probabilities(
        &mut self,
        position: &[f64],
    ) -> Result<Vec<StateProbabilities>, DrawError> {
        let potentials: Vec<StatePotentials> = self.tape.summed_potentials(position)?;
        Ok(self
            .summed
            .iter()
            .zip(&potentials)
            .map(|(latent, potential)| StateProbabilities {
                var: latent.var,
                name: latent.name.clone(),
                low: latent.low,
                states: latent.states,
                probabilities: potential.marginal_probabilities(),
            })
            .collect())
    }

    fn assemble_row(&self, draw: &crate::tape::Draw, fixed: &[(VarId, Vec<f64>)]) -> Vec<f64> {
        let mut row = Vec::with_capacity(self.columns.len());
        for (_, value) in &draw.variables {
            row.extend_from_slice(&value.values);
        }
        for (_, values) in fixed {
            row.extend_from_slice(values);
        }
        for (_, value) in &draw.lets {
            row.extend_from_slice(&value.values);
        }
        // A let whose shape changed with the values cannot happen (shapes are symbolic); pad or
        // cut defensively so every row has one value per column.
        row.resize(self.columns.len(), f64::NAN);
        row
    }
}

/// A discrete unknown that cannot be summed out, as a diagnostic at the responsible statement.
pub fn refusal_diagnostic(refusal: &marginal::Refusal) -> Diagnostic {
    Diagnostic::error(
        codes::UNSUPPORTED,
        refusal.span,
        format!(
            "the discrete `{}` cannot be summed out: {}",
            refusal.name, refusal.reason
        ),
    )
    .with_label("here")
}

pub(crate) fn push_columns(
    columns: &mut Vec<OutputColumn>,
    name: &str,
    shape: &[usize],
    generated: bool,
) {
    let count = shape.iter().product();
    for (display, csv) in element_names(name, count, shape)
        .into_iter()
        .zip(column_names(name, shape))
    {
        columns.push(OutputColumn {
            display,
            csv,
            generated,
        });
    }
}

/// "line 12: `y ~ Normal(mu, sigma)`": how a failing term is named in error messages.
pub fn statement_label(source: &str, span: Span) -> String {
    let text = source.get(span.range()).unwrap_or("").trim();
    let line = source
        .get(..span.start)
        .map(|s| s.matches('\n').count() + 1)
        .unwrap_or(0);
    let first_line = text.lines().next().unwrap_or("");
    format!("line {line}: `{first_line}`")
}

/// A tape that cannot be built (an index out of range in the data, ...) as a diagnostic.
pub fn tape_diagnostic(error: &TapeError) -> Diagnostic {
    if let TapeError::Element { code, detail, span } = error {
        return Diagnostic::error(code, *span, detail.clone()).with_label("here");
    }
    if let TapeError::NoDerivative { detail, span } = error {
        return Diagnostic::error(codes::NO_CDF_DERIVATIVE, *span, detail.clone())
            .with_label("its derivative in this parameter is not available")
            .with_hint("give the parameter as data or a constant, or write the likelihood with `logpdf` terms");
    }
    match error.span() {
        Some(span) => {
            Diagnostic::error(codes::DATA_OUT_OF_BOUNDS, span, error.to_string()).with_label("here")
        }
        None => Diagnostic::unplaced(codes::UNSUPPORTED, error.to_string()),
    }
}

/// Latents in centred form: a `~` whose scale (an argument after the first) depends on other
/// unknowns, as `theta ~ Normal(mu, tau)` with `tau` latent. Divergences in hierarchical models
/// usually come from these, and a non-centred form cures them.
pub fn centred_latents(model: &Model) -> Vec<String> {
    let mut out = Vec::new();
    for term in &model.terms {
        let ppl_ir::TermKind::Tilde { target, args, .. } = &term.kind else {
            continue;
        };
        let ppl_ir::ExprKind::Variable(id) = target.kind else {
            continue;
        };
        let variable = &model.variables[id.0];
        if variable.role != ppl_ir::Role::Latent {
            continue;
        }
        let scale_depends = args.iter().skip(1).any(|arg| {
            let mut found = false;
            ppl_ir::check::visit(arg, &mut |e| match &e.kind {
                ppl_ir::ExprKind::Variable(v) => {
                    found |= model.variables[v.0].role != ppl_ir::Role::Observed
                }
                ppl_ir::ExprKind::Let(l) => found |= model.lets[l.0].depends_on_unknowns,
                _ => {}
            });
            found
        });
        if scale_depends && !out.contains(&variable.name) {
            out.push(variable.name.clone());
        }
    }
    out
}

/// The initial values the model gives its unknowns (`latent v: real[K] = [...]`), on the
/// unconstrained scale: the position, and which coordinates it fixes (the others are drawn at
/// random by the engine, as Stan does for parameters without an init). `None` when no sampled
/// unknown has an init.
#[derive(Clone, Debug, PartialEq)]
pub struct InitialValues {
    pub position: Vec<f64>,
    pub fixed: Vec<bool>,
}

impl Posterior {
    pub fn initial_values(&self, model: &Model) -> Result<Option<InitialValues>, Diagnostic> {
        let layout = self.tape.layout();
        if !layout
            .entries
            .iter()
            .any(|e| model.variables[e.var.0].init.is_some())
        {
            return Ok(None);
        }
        // Valid constrained values for the entries without an init (overwritten by random draws).
        let defaults = self
            .tape
            .constrain(&vec![0.0; layout.dim])
            .map_err(|e| tape_diagnostic(&e))?;
        let mut values = Vec::with_capacity(layout.entries.len());
        let mut fixed = vec![false; layout.dim];
        for (entry, (_, default)) in layout.entries.iter().zip(&defaults.variables) {
            let variable = &model.variables[entry.var.0];
            let count: usize = entry.shape.iter().product();
            match &variable.init {
                None => values.push(default.values.clone()),
                Some(init) => {
                    let Some(mut given) = crate::bind::literal_values(init) else {
                        return Err(Diagnostic::error(
                            codes::NOT_CONSTANT,
                            init.span,
                            "an initial value must be numbers",
                        )
                        .with_label("expected a number or a list of numbers"));
                    };
                    if given.len() == 1 && count != 1 {
                        given = vec![given[0]; count];
                    }
                    if given.len() != count {
                        return Err(Diagnostic::error(
                            codes::DATA_LENGTH,
                            init.span,
                            format!(
                                "`{}` has {count} elements but {} initial values",
                                variable.name,
                                given.len()
                            ),
                        )
                        .with_label(format!("declared as `{}`", variable.declared_as)));
                    }
                    fixed[entry.offset..entry.offset + entry.len].fill(true);
                    values.push(given);
                }
            }
        }
        let position = layout.unconstrain(&values).map_err(|error| {
            let span = layout
                .entries
                .iter()
                .filter_map(|e| model.variables[e.var.0].init.as_ref())
                .map(|i| i.span)
                .next();
            match span {
                Some(span) => Diagnostic::error(
                    codes::DATA_OUT_OF_BOUNDS,
                    span,
                    format!("an initial value is outside its constraint: {error}"),
                )
                .with_label("not a valid value of the declared type"),
                None => tape_diagnostic(&error),
            }
        })?;
        Ok(Some(InitialValues { position, fixed }))
    }
}

/// The variable a `~` target names: `x`, `x[i]`, `x[2:3]`.
pub fn root_variable(target: &ppl_ir::Expr) -> Option<VarId> {
    match &target.kind {
        ppl_ir::ExprKind::Variable(id) => Some(*id),
        ppl_ir::ExprKind::Index { base, .. } => root_variable(base),
        _ => None,
    }
}

/// Whether any unknown has a distribution (a prior): MAP rather than maximum likelihood.
pub fn has_prior(model: &Model) -> bool {
    model.terms.iter().any(|t| match &t.kind {
        ppl_ir::TermKind::Tilde { target, .. } => root_variable(target)
            .is_some_and(|id| model.variables[id.0].role != ppl_ir::Role::Observed),
        _ => false,
    })
}
