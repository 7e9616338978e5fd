//! A model as the Gibbs sampler sees it (`ppl_infer::ConditionalModel`): the discrete unknowns'
//! full conditionals by enumeration, the continuous blocks whose full conditional is conjugate,
//! and the joint log density with the discrete values fixed.
//!
//! Discrete unknowns are updated in blocks. When every one of them could be summed out of the
//! tape (`crate::marginal`), they are conditionally independent given the continuous unknowns
//! (no statement reads two of them), so one block draws them all from the summed tape's
//! per-state potentials: each element of a plate at once, a chain by forward-filtering
//! backward-sampling, a scalar over its support. Otherwise each element is its own block, its
//! conditional enumerated over its support with the generic evaluator on the statements that
//! read it (single-site Gibbs: correct for any coupling, slower).
//!
//! Conjugate blocks are recognised in the IR: a continuous unknown `θ` (a whole variable) whose
//! prior statement has constant arguments and whose every other statement is a likelihood of the
//! matching family in which `θ` appears only in the conjugate argument:
//!
//! | prior of `θ`                         | likelihood statements          | full conditional |
//! |--------------------------------------|--------------------------------|------------------|
//! | `Gamma(a, b)` or `Exponential(b)`, `θ: positive` | `y ~ Poisson(c · θ or not θ)` | Gamma |
//! | `Normal(m, s)`, `θ: real`            | `y ~ Normal(a · θ + b, σ)`, `σ` without `θ` | Normal |
//! | `InvGamma(a, b)`, `θ: positive`      | `y ~ Normal(μ, sqrt(θ))`, `μ` without `θ` | InvGamma (normal–inverse-gamma) |
//! | `Gamma(a, b)`, `θ: positive`         | `y ~ Normal(μ, 1 / sqrt(θ))`, `μ` without `θ` | Gamma (normal–gamma, precision) |
//! | `Beta(a, b)` or none, `θ: unit`      | `y ~ Bernoulli(θ)`, `y ~ Binomial(n, θ)` | Beta |
//! | `Dirichlet(α)` or none, `θ: simplex[K]` or `simplex[R, K]` | `y ~ Categorical(θ or a row of θ)` | Dirichlet per row |
//!
//! `θ` is scalar for all but the Dirichlet. With a normal–normal mean and a variance (or
//! precision) block the pair is the normal–inverse-gamma model, drawn as two exact blocks. Which observations read `θ`, and with which coefficient, is
//! found each sweep by evaluating the statement's arguments at two or three probe values of `θ`
//! with everything else at its current value (so `if t < s then early else late`, `mu[z]` and
//! `theta[z[t - 1]]` are handled as the discrete values select); an observation whose argument
//! is not of the recognised form at these values leaves the block to the random walk that sweep.

use std::ops::Range;
use std::sync::Arc;

use ppl_dist::DistKind;
use ppl_infer::{ConditionalModel, ConjugatePosterior, LogDensityError};
use ppl_ir::{Constraint, ElemType, Expr, ExprKind, Model, Role, TermKind, VarId};
use ppl_syntax::Diagnostic;
use rand::{Rng, RngExt};

use crate::BoundData;
use crate::marginal::{self, Decision, SummedLatent};
use crate::posterior::{
    OutputColumn, PosteriorOptions, push_columns, statement_label, tape_diagnostic,
};
use crate::tape::{Array, Bindings, Evaluator, ObservationPlate, ParameterLayout, Tape, TapeError};

/// Every variable's value for the generic evaluator, by `VarId`.
type VariableValues = Vec<Option<Array<f64>>>;
/// Per iteration of the likelihood statements: the target and the arguments.
type Observations = Vec<(Array<f64>, Vec<Array<f64>>)>;

/// Most states a single-site update enumerates per element.
pub const SINGLE_SITE_STATE_CAP: usize = marginal::SCALAR_STATE_CAP;

/// A discrete unknown: where its values sit in the discrete state.
#[derive(Clone, Debug, PartialEq)]
pub struct DiscreteUnknown {
    pub var: VarId,
    pub name: String,
    /// The least value (`i64` range clamped to ±2^52 when unbounded below).
    pub low: i64,
    /// The number of values; 0 when the support is unbounded.
    pub states: usize,
    /// The greatest value (clamped to 2^52 when unbounded above).
    pub high: i64,
    /// An `int` with unbounded support: moved by a random walk on the integers, not enumerated.
    pub unbounded: bool,
    pub shape: Vec<usize>,
    pub elements: usize,
    /// Offset of its first element in the discrete state.
    pub offset: usize,
    /// The statements that read it (indices in the model's terms).
    pub terms: Vec<usize>,
}

/// The conjugate families recognised (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConjugateFamily {
    GammaPoisson,
    NormalNormal,
    BetaBinomial,
    DirichletCategorical,
    /// A normal's variance with an inverse-gamma prior.
    NormalInverseGamma,
    /// A normal's precision with a gamma prior.
    NormalGamma,
}

impl ConjugateFamily {
    /// How the planner names the pattern.
    pub fn describe(self) -> &'static str {
        match self {
            ConjugateFamily::GammaPoisson => "gamma–Poisson",
            ConjugateFamily::NormalNormal => "normal–normal",
            ConjugateFamily::BetaBinomial => "beta–binomial",
            ConjugateFamily::DirichletCategorical => "Dirichlet–categorical",
            ConjugateFamily::NormalInverseGamma => "normal–inverse-gamma",
            ConjugateFamily::NormalGamma => "normal–gamma (precision)",
        }
    }
}

/// A continuous unknown with a conjugate full conditional.
#[derive(Clone, Debug, PartialEq)]
pub struct ConjugateBlock {
    pub var: VarId,
    pub name: String,
    pub family: ConjugateFamily,
    /// Index of its entry in the layout.
    entry: usize,
    /// The prior's constant parameters: (a, b) for gamma and beta, (m, s) for normal, α (one per
    /// category, or per row and category) for Dirichlet.
    prior: Vec<f64>,
    /// The likelihood statements.
    likelihood: Vec<usize>,
}

/// The model for `ppl_infer::sample_chains_gibbs`.
#[derive(Clone)]
pub struct GibbsModel {
    model: Arc<Model>,
    dims: Arc<Vec<usize>>,
    /// Data values, by variable (the unknowns are `None`).
    data: Arc<Vec<Option<Array<f64>>>>,
    layout: ParameterLayout,
    pub discrete: Vec<DiscreteUnknown>,
    /// Every discrete unknown summed out on one tape: one block draws them all.
    summed: Option<Tape>,
    /// The data with some value of each discrete unknown, and the continuous unknowns: what a
    /// tape with the discrete values fixed is built from.
    bindings: Arc<Bindings>,
    continuous_vars: Arc<Vec<VarId>>,
    /// The tape of the joint density at the discrete values it was built for (rebuilt when
    /// they change, at most once per sweep): NUTS' gradients with the discrete values fixed.
    fixed: Option<(Vec<i64>, Tape)>,
    pub conjugate: Vec<ConjugateBlock>,
    /// The continuous unknowns' columns, then the discrete ones', then the `let`s.
    pub columns: Vec<OutputColumn>,
    labels: Vec<String>,
    /// Whether the density is differentiable in the continuous unknowns (no comparison or
    /// `if` condition reads one): then NUTS moves the non-conjugate continuous block.
    differentiable: bool,
    /// Per discrete unknown, the random walk that moves it when its support is unbounded.
    walks: Vec<Option<IntegerWalk>>,
    /// The Bayesian-workflow columns asked for (`--log-lik`, `--predict`), as under NUTS.
    workflow: Option<Arc<Workflow>>,
}

/// What the workflow columns of a Gibbs draw are computed from.
struct Workflow {
    plate: ObservationPlate,
    options: PosteriorOptions,
    /// The joint density's tape with the discrete unknowns as data, overridden per draw.
    tape: Tape,
    /// A discrete unknown with one element per observation (a mixture's `z`): `log_lik[n]` is
    /// then the marginal over `z[n]`, as under NUTS, from the summed tape.
    per_observation: Option<SummedLatent>,
    /// The number of columns before the workflow ones.
    base_columns: usize,
}

/// The random walk on the integers that moves each element of an unbounded `int` unknown
/// within Gibbs: a step uniform in `{±1, …, ±m}` with `m = max(1, round(√3 s))`, symmetric, so
/// accepted with probability `min(1, p(z' | rest) / p(z | rest))`. During warmup `log s`
/// follows the Robbins–Monro rule toward 0.44 acceptance (one coordinate; Roberts and
/// Rosenthal 2001); [`ConditionalModel::end_warmup`] freezes it at the mean of the second half
/// of its warmup values, so the sampling phase is a valid Metropolis-within-Gibbs chain.
#[derive(Clone, Debug, PartialEq)]
struct IntegerWalk {
    log_scale: f64,
    adapting: bool,
    steps: usize,
    history: Vec<f64>,
}

impl Default for IntegerWalk {
    fn default() -> Self {
        IntegerWalk {
            log_scale: 1.0f64.ln(),
            adapting: true,
            steps: 0,
            history: Vec::new(),
        }
    }
}

impl IntegerWalk {
    /// The largest step.
    fn max_step(&self) -> u64 {
        (3f64.sqrt() * self.log_scale.exp())
            .round()
            .clamp(1.0, 1e12) as u64
    }

    fn learn(&mut self, acceptance: f64) {
        if !self.adapting {
            return;
        }
        self.steps += 1;
        let gain = ((10 + self.steps) as f64).powf(-0.6);
        self.log_scale = (self.log_scale + gain * (acceptance - 0.44)).clamp(-5.0, 25.0);
        self.history.push(self.log_scale);
    }

    fn freeze(&mut self) {
        if self.adapting && !self.history.is_empty() {
            let tail = &self.history[self.history.len() / 2..];
            self.log_scale = tail.iter().sum::<f64>() / tail.len() as f64;
        }
        self.adapting = false;
        self.history = Vec::new();
    }
}

/// Integers beyond ±2^52 are not all representable in a draw (an `f64`).
const LARGEST_EXACT_INTEGER: i64 = 1 << 52;

/// `(low, high)` of an `int` unknown whose support has no finite bound on some side (`int`, or
/// `int in (0, inf)`), clamped to ±2^52; `None` for a finite support (or `bool`, or a bound
/// from the data).
fn unbounded_support(variable: &ppl_ir::Variable) -> Option<(i64, i64)> {
    if variable.ty.elem != ElemType::Int || variable.data_bound.is_some() {
        return None;
    }
    let (low, high) = match variable.constraint {
        Constraint::Bounded { low, high, open } => {
            if low.is_finite() && high.is_finite() {
                return None;
            }
            let low = if !low.is_finite() {
                -LARGEST_EXACT_INTEGER
            } else if open {
                low.floor() as i64 + 1
            } else {
                low.ceil() as i64
            };
            let high = if !high.is_finite() {
                LARGEST_EXACT_INTEGER
            } else if open {
                high.ceil() as i64 - 1
            } else {
                high.floor() as i64
            };
            (low, high)
        }
        _ => (-LARGEST_EXACT_INTEGER, LARGEST_EXACT_INTEGER),
    };
    Some((
        low.max(-LARGEST_EXACT_INTEGER),
        high.min(LARGEST_EXACT_INTEGER),
    ))
}

fn density_error(error: TapeError) -> LogDensityError {
    LogDensityError::NotFinite {
        term: Some(error.to_string()),
        term_index: None,
    }
}

impl GibbsModel {
    /// Builds the Gibbs view of a model bound to data. Errors (E0705) for a discrete unknown
    /// without a finite support or with more states than `SINGLE_SITE_STATE_CAP`.
    pub fn new(model: &Model, bound: &BoundData, source: &str) -> Result<GibbsModel, Diagnostic> {
        // The summed block is analysed on the model as written, as NUTS' tape is: a chain's
        // `for t in 2..T { z[t] ~ Categorical(theta[z[t - 1]]) }` is recognised there, and
        // vectorising it first would leave it to single-site updates (O(T²) per sweep).
        let original = model;
        let vectorised = crate::tape::vectorise_loops(model);
        let model = &vectorised;
        let continuous: Vec<VarId> = model
            .unknowns()
            .filter(|v| v.ty.elem == ElemType::Real)
            .map(|v| v.id)
            .collect();
        let mut bindings = Bindings::new(model, bound.dims.clone());
        for (index, values) in bound.observed.iter().enumerate() {
            if let Some(values) = values {
                bindings.set(VarId(index), values.clone());
            }
        }
        let labels: Vec<String> = model
            .terms
            .iter()
            .map(|t| statement_label(source, t.span))
            .collect();
        let mut discrete = Vec::new();
        let mut offset = 0;
        for variable in model.unknowns().filter(|v| v.ty.elem != ElemType::Real) {
            let (low, states, high, unbounded) = match unbounded_support(variable) {
                Some((low, high)) => (low, 0, high, true),
                None => {
                    let (low, states) = marginal::support(model, variable.id, &bound.dims)
                        .map_err(|reason| {
                            Diagnostic::error(
                                ppl_syntax::codes::UNSUPPORTED,
                                variable.span,
                                format!("Gibbs cannot enumerate `{}`: {reason}", variable.name),
                            )
                            .with_label("here")
                        })?;
                    (low, states, low + states as i64 - 1, false)
                }
            };
            if states > SINGLE_SITE_STATE_CAP {
                return Err(Diagnostic::error(
                    ppl_syntax::codes::UNSUPPORTED,
                    variable.span,
                    format!(
                        "`{}` has {states} values, over the cap of {SINGLE_SITE_STATE_CAP} for \
                         enumerating its full conditional",
                        variable.name
                    ),
                )
                .with_label("here"));
            }
            let shape = bindings.shape(model, variable.id);
            let elements: usize = shape.iter().product();
            let terms = model
                .terms
                .iter()
                .enumerate()
                .filter(|(_, t)| term_mentions(model, &t.kind, variable.id))
                .map(|(i, _)| i)
                .collect();
            discrete.push(DiscreteUnknown {
                var: variable.id,
                name: variable.name.clone(),
                low,
                states,
                high,
                unbounded,
                shape,
                elements,
                offset,
                terms,
            });
            offset += elements;
        }
        for unknown in &discrete {
            bindings.set(
                unknown.var,
                vec![unknown.low.max(0).min(unknown.high) as f64; unknown.elements],
            );
        }
        let any_unbounded = discrete.iter().any(|d| d.unbounded);
        let walks = discrete
            .iter()
            .map(|d| d.unbounded.then(IntegerWalk::default))
            .collect();
        let summed_latents: Option<Vec<SummedLatent>> = marginal::analyse(original, &bound.dims)
            .into_iter()
            .map(|decision| match decision {
                Decision::Summed(latent) => Some(latent),
                Decision::Refused(_) => None,
            })
            .collect();
        let summed = match summed_latents {
            Some(latents) if !latents.is_empty() && !any_unbounded => Some(
                Tape::with_summed(
                    original,
                    &bindings,
                    &continuous,
                    original
                        .terms
                        .iter()
                        .map(|t| statement_label(source, t.span))
                        .collect(),
                    &latents,
                )
                .map_err(|e| tape_diagnostic(&e))?,
            ),
            _ => None,
        };
        let layout =
            ParameterLayout::new(model, &bindings, &continuous).map_err(|e| tape_diagnostic(&e))?;
        let mut data_bindings = Bindings::new(model, bound.dims.clone());
        for (index, values) in bound.observed.iter().enumerate() {
            if let Some(values) = values {
                data_bindings.set(VarId(index), values.clone());
            }
        }
        let data = data_bindings
            .arrays::<f64>(model)
            .map_err(|e| tape_diagnostic(&e))?;
        let conjugate = layout
            .entries
            .iter()
            .enumerate()
            .filter_map(|(index, entry)| recognise_conjugate(model, index, entry.var, &entry.shape))
            .collect();
        let mut gibbs = GibbsModel {
            model: Arc::new(model.clone()),
            dims: Arc::new(bound.dims.clone()),
            data: Arc::new(data),
            layout,
            discrete,
            summed,
            bindings: Arc::new(bindings.clone()),
            continuous_vars: Arc::new(continuous.clone()),
            fixed: None,
            conjugate,
            columns: Vec::new(),
            labels,
            differentiable: !steps_in_continuous(model, &continuous),
            walks,
            workflow: None,
        };
        let mut columns = Vec::new();
        for entry in &gibbs.layout.entries {
            push_columns(&mut columns, &entry.name, &entry.shape, false);
        }
        for unknown in &gibbs.discrete {
            push_columns(&mut columns, &unknown.name, &unknown.shape, false);
        }
        let mut probe = vec![0.0; gibbs.layout.dim];
        probe.extend(gibbs.default_discrete().iter().map(|&v| v as f64));
        if let Ok(lets) = gibbs.lets(&probe) {
            for (name, array) in lets {
                push_columns(&mut columns, &name, &array.shape, true);
            }
        }
        gibbs.columns = columns;
        Ok(gibbs)
    }

    /// Adds the Bayesian-workflow columns of `options` after the `let`s, as
    /// `Posterior::new_with` does under NUTS: `log_lik[n]` per element of the observed
    /// variables' plate, then `y_rep[...]` per observed variable. `log_lik[n]` is the likelihood
    /// of observation `n` given every unknown (the discrete ones at the draw's values), except
    /// for a discrete unknown with one element per observation (a mixture's assignment), over
    /// which it is the marginal, as under NUTS. Errors (E0705) as NUTS': no single plate, or
    /// per-observation discrete unknowns that cannot be summed out one element at a time.
    pub fn with_workflow(mut self, options: &PosteriorOptions) -> Result<GibbsModel, Diagnostic> {
        if !options.log_lik && !options.predict {
            return Ok(self);
        }
        let tape = Tape::new(
            &self.model,
            &self.bindings,
            &self.continuous_vars,
            self.labels.clone(),
        )
        .map_err(|e| tape_diagnostic(&e))?;
        let plate = tape
            .observation_plate()
            .map_err(|error| match error.span() {
                Some(span) => {
                    Diagnostic::error(ppl_syntax::codes::UNSUPPORTED, span, error.to_string())
                        .with_label("here")
                }
                None => Diagnostic::unplaced(ppl_syntax::codes::UNSUPPORTED, error.to_string()),
            })?;
        let per_observation: Vec<&DiscreteUnknown> = self
            .discrete
            .iter()
            .filter(|d| d.elements == plate.observations && plate.observations > 1)
            .collect();
        let mut marginal_latent = None;
        if options.log_lik && !per_observation.is_empty() {
            let summable = match (per_observation.as_slice(), self.summed.is_some()) {
                ([unknown], true) if self.discrete.len() == 1 => {
                    marginal::analyse(&self.model, &self.dims)
                        .into_iter()
                        .find_map(|decision| match decision {
                            Decision::Summed(latent)
                                if latent.var == unknown.var
                                    && latent.structure == marginal::Structure::Plate =>
                            {
                                Some(latent)
                            }
                            _ => None,
                        })
                }
                _ => None,
            };
            let Some(latent) = summable else {
                let unknown = per_observation[0];
                let span = self.model.variables[unknown.var.0].span;
                return Err(Diagnostic::error(
                    ppl_syntax::codes::UNSUPPORTED,
                    span,
                    format!(
                        "pointwise log-likelihood (`--log-lik`) needs the discrete unknowns with one element per observation to be one array summed out per element; not computed for `{}`",
                        unknown.name
                    ),
                )
                .with_label("one element per observation"));
            };
            marginal_latent = Some(latent);
        }
        let base_columns = self.columns.len();
        if options.log_lik {
            push_columns(&mut self.columns, "log_lik", &[plate.observations], true);
        }
        if options.predict {
            for &id in &plate.observed {
                let shape = tape.observed_shape(id);
                let name = format!("{}_rep", self.model.variables[id.0].name);
                push_columns(&mut self.columns, &name, &shape, true);
            }
        }
        self.workflow = Some(Arc::new(Workflow {
            plate,
            options: *options,
            tape,
            per_observation: marginal_latent,
            base_columns,
        }));
        Ok(self)
    }

    /// Whether the rows carry `y_rep` columns, which need a random stream
    /// ([`GibbsModel::complete_row`]).
    pub fn predicts(&self) -> bool {
        self.workflow.as_ref().is_some_and(|w| w.options.predict)
    }

    /// The output row of a draw with its workflow columns: `row`'s, then `log_lik[n]` at this
    /// draw and `y_rep` drawn with `rng` from the likelihood at this draw's unknowns.
    pub fn complete_row<R: Rng + ?Sized>(
        &self,
        position: &[f64],
        rng: &mut R,
    ) -> Result<Vec<f64>, TapeError> {
        let mut row = self.row(position)?;
        let Some(workflow) = &self.workflow else {
            return Ok(row);
        };
        row.truncate(workflow.base_columns);
        let (continuous, discrete) = self.split(position);
        let fixed: Vec<(VarId, Vec<f64>)> = self
            .discrete
            .iter()
            .map(|unknown| {
                let values = discrete
                    .get(unknown.offset..unknown.offset + unknown.elements)
                    .unwrap_or(&[])
                    .iter()
                    .map(|&v| v as f64)
                    .collect();
                (unknown.var, values)
            })
            .collect();
        if workflow.options.log_lik {
            let pointwise = match (&workflow.per_observation, &self.summed) {
                (Some(latent), Some(summed)) => {
                    summed.marginal_pointwise_log_likelihood(&workflow.plate, latent, continuous)?
                }
                _ => workflow
                    .tape
                    .pointwise_log_likelihood(&workflow.plate, continuous, &fixed)?,
            };
            row.extend(pointwise);
        }
        if workflow.options.predict {
            for replicate in
                workflow
                    .tape
                    .posterior_predictive(&workflow.plate, continuous, &fixed, rng)?
            {
                row.extend_from_slice(&replicate.values);
            }
        }
        row.resize(self.columns.len(), f64::NAN);
        Ok(row)
    }

    /// The continuous unknowns' layout (their unconstrained coordinates come first in a draw).
    pub fn layout(&self) -> &ParameterLayout {
        &self.layout
    }

    /// Whether all discrete unknowns are drawn in one block from the summed tape.
    pub fn blocked(&self) -> bool {
        self.summed.is_some()
    }

    /// Whether the density is differentiable in the continuous unknowns, so NUTS (rather than
    /// the random walk) can move those without a conjugate conditional.
    pub fn is_differentiable(&self) -> bool {
        self.differentiable
    }

    /// A tape of the joint density with the discrete unknowns bound to `discrete`, kept until
    /// they change; `None` when the model cannot be lowered that way (forward mode then).
    fn fixed_tape(&mut self, discrete: &[i64]) -> Option<&mut Tape> {
        let current = matches!(&self.fixed, Some((values, _)) if values == discrete);
        if !current {
            let mut bindings = (*self.bindings).clone();
            for unknown in &self.discrete {
                let values = discrete.get(unknown.offset..unknown.offset + unknown.elements)?;
                bindings.set(unknown.var, values.iter().map(|&v| v as f64).collect());
            }
            let tape = Tape::new(
                &self.model,
                &bindings,
                &self.continuous_vars,
                self.labels.clone(),
            )
            .ok()?;
            self.fixed = Some((discrete.to_vec(), tape));
        }
        self.fixed.as_mut().map(|(_, tape)| tape)
    }

    /// The joint log density with the discrete values fixed and its gradient by forward mode:
    /// one `Dual64` evaluation per continuous coordinate (the discrete values change every
    /// sweep, so there is no tape to keep for them).
    fn joint_gradient(
        &self,
        continuous: &[f64],
        discrete: &[i64],
        gradient: &mut [f64],
    ) -> Result<f64, TapeError> {
        use num_dual::Dual64;
        let (fixed, _) = self.variables(continuous, discrete)?;
        let base: Vec<Option<Array<Dual64>>> = fixed
            .iter()
            .map(|value| value.as_ref().map(|a| a.map(|v| Dual64::from(*v))))
            .collect();
        let mut value = f64::NEG_INFINITY;
        for (coordinate, slot) in gradient.iter_mut().enumerate().take(continuous.len()) {
            let seeded: Vec<Dual64> = continuous
                .iter()
                .enumerate()
                .map(|(i, &x)| {
                    let dual = Dual64::from(x);
                    if i == coordinate {
                        dual.derivative()
                    } else {
                        dual
                    }
                })
                .collect();
            let (constrained, log_jacobian) = self.layout.constrain(&seeded)?;
            let mut variables = base.clone();
            for (entry, array) in self.layout.entries.iter().zip(constrained) {
                variables[entry.var.0] = Some(array);
            }
            let mut evaluator = Evaluator::new(&self.model, &self.dims, variables);
            let total = evaluator.log_density()? + log_jacobian;
            value = total.re;
            *slot = total.eps;
        }
        Ok(value)
    }

    /// The variable values for the evaluator at this state.
    fn variables(
        &self,
        continuous: &[f64],
        discrete: &[i64],
    ) -> Result<(VariableValues, f64), TapeError> {
        let mut variables = (*self.data).clone();
        let (constrained, log_jacobian) = self.layout.constrain(continuous)?;
        for (entry, value) in self.layout.entries.iter().zip(constrained) {
            variables[entry.var.0] = Some(value);
        }
        for unknown in &self.discrete {
            let values = discrete
                .get(unknown.offset..unknown.offset + unknown.elements)
                .ok_or_else(|| TapeError::WrongLength {
                    what: "the discrete state".into(),
                    expected: unknown.offset + unknown.elements,
                    found: discrete.len(),
                })?;
            variables[unknown.var.0] = Some(Array::new(
                unknown.shape.clone(),
                values.iter().map(|&v| v as f64).collect(),
            ));
        }
        Ok((variables, log_jacobian))
    }

    /// The `let`s that depend on unknowns at a draw (continuous then discrete coordinates).
    fn lets(&self, position: &[f64]) -> Result<Vec<(String, Array<f64>)>, TapeError> {
        let (continuous, discrete) = self.split(position);
        let (variables, _) = self.variables(continuous, &discrete)?;
        let mut evaluator = Evaluator::new(&self.model, &self.dims, variables);
        let mut out = Vec::new();
        for definition in self.model.lets.iter().filter(|l| l.is_output()) {
            out.push((definition.name.clone(), evaluator.full_let(definition.id)?));
        }
        Ok(out)
    }

    fn split<'p>(&self, position: &'p [f64]) -> (&'p [f64], Vec<i64>) {
        let dim = self.layout.dim.min(position.len());
        let (continuous, discrete) = position.split_at(dim);
        (continuous, discrete.iter().map(|&v| v as i64).collect())
    }

    /// The output row of a draw (continuous coordinates then discrete values), in `columns`
    /// order.
    pub fn row(&self, position: &[f64]) -> Result<Vec<f64>, TapeError> {
        let (continuous, discrete) = self.split(position);
        let (constrained, _) = self.layout.constrain(continuous)?;
        let mut row = Vec::with_capacity(self.columns.len());
        for value in constrained {
            row.extend_from_slice(&value.values);
        }
        row.extend(discrete.iter().map(|&v| v as f64));
        for (_, value) in self.lets(position)? {
            row.extend_from_slice(&value.values);
        }
        row.resize(self.columns.len(), f64::NAN);
        Ok(row)
    }

    /// Whether every discrete value lies in its unknown's support.
    fn in_support(&self, discrete: &[i64]) -> bool {
        self.discrete.iter().all(|unknown| {
            discrete
                .get(unknown.offset..unknown.offset + unknown.elements)
                .is_some_and(|values| {
                    values
                        .iter()
                        .all(|v| (unknown.low..=unknown.high).contains(v))
                })
        })
    }

    /// Whether any discrete unknown has unbounded support.
    pub fn has_unbounded(&self) -> bool {
        self.discrete.iter().any(|d| d.unbounded)
    }

    /// Each walk's frozen (or current) largest integer step, by unbounded unknown's name.
    pub fn integer_steps(&self) -> Vec<(String, u64)> {
        self.discrete
            .iter()
            .zip(&self.walks)
            .filter_map(|(d, w)| w.as_ref().map(|w| (d.name.clone(), w.max_step())))
            .collect()
    }

    /// One random-walk Metropolis step on element `element` (position `slot` of the discrete
    /// state) of the unbounded `unknown`, on its full conditional: only the statements that read
    /// it change with it. Returns the acceptance probability, for the walk's adaptation.
    fn integer_walk_step<R: Rng + ?Sized>(
        &self,
        unknown: &DiscreteUnknown,
        element: usize,
        slot: usize,
        evaluator: &mut Evaluator<'_, f64>,
        discrete: &mut [i64],
        rng: &mut R,
    ) -> f64 {
        let max_step = self
            .discrete
            .iter()
            .position(|d| d.var == unknown.var)
            .and_then(|i| self.walks.get(i))
            .and_then(|w| w.as_ref())
            .map_or(1, IntegerWalk::max_step);
        let Some(&current) = discrete.get(slot) else {
            return 0.0;
        };
        let at = |value: i64, evaluator: &mut Evaluator<'_, f64>| -> f64 {
            if !(unknown.low..=unknown.high).contains(&value) {
                return f64::NEG_INFINITY;
            }
            if let Some(Some(array)) = evaluator.variables.get_mut(unknown.var.0)
                && let Some(cell) = array.values.get_mut(element)
            {
                *cell = value as f64;
            }
            evaluator.forget_lets();
            match self.terms_value(evaluator, &unknown.terms) {
                Ok(v) if !v.is_nan() => v,
                _ => f64::NEG_INFINITY,
            }
        };
        let before = at(current, evaluator);
        let magnitude = rng.random_range(1..=max_step) as i64;
        let proposed = if rng.random::<bool>() {
            current.saturating_add(magnitude)
        } else {
            current.saturating_sub(magnitude)
        };
        let after = at(proposed, evaluator);
        let acceptance = if !after.is_finite() {
            0.0
        } else if after >= before {
            1.0
        } else {
            (after - before).exp()
        };
        if acceptance > 0.0 && (acceptance >= 1.0 || rng.random::<f64>() < acceptance) {
            discrete[slot] = proposed;
        }
        acceptance
    }

    /// The sum of the given terms at this state.
    fn terms_value(
        &self,
        evaluator: &mut Evaluator<'_, f64>,
        terms: &[usize],
    ) -> Result<f64, LogDensityError> {
        let mut total = 0.0;
        for &index in terms {
            let term = &self.model.terms[index];
            let value = evaluator
                .term(term)
                .map_err(|error| LogDensityError::NotFinite {
                    term: Some(format!("{}: {error}", self.label(index))),
                    term_index: Some(index),
                })?;
            total += value;
        }
        Ok(total)
    }

    fn label(&self, term: usize) -> String {
        self.labels
            .get(term)
            .cloned()
            .unwrap_or_else(|| format!("term {}", term + 1))
    }

    /// Each likelihood statement's observations per iteration: the target and the arguments,
    /// with `θ` (conjugate block `block`) set to `probe`.
    fn probe(
        &self,
        block: &ConjugateBlock,
        variables: &[Option<Array<f64>>],
        probe: &[f64],
    ) -> Result<Observations, TapeError> {
        let mut variables = variables.to_vec();
        let shape = self.layout.entries[block.entry].shape.clone();
        variables[block.var.0] = Some(Array::new(shape, probe.to_vec()));
        let mut evaluator = Evaluator::new(&self.model, &self.dims, variables);
        let mut out = Vec::new();
        for &index in &block.likelihood {
            let term = &self.model.terms[index];
            let TermKind::Tilde { target, args, .. } = &term.kind else {
                continue;
            };
            evaluator.for_each_iteration(&term.loops, &mut |e| {
                let target = e.eval(target)?;
                let args = args.iter().map(|a| e.eval(a)).collect::<Result<_, _>>()?;
                out.push((target, args));
                Ok(())
            })?;
        }
        Ok(out)
    }

    /// The full conditional of a conjugate block at this state, or `None` when an observation is
    /// not of the recognised form here.
    fn conditional(
        &self,
        block: &ConjugateBlock,
        continuous: &[f64],
        discrete: &[i64],
    ) -> Result<Option<ConjugatePosterior>, TapeError> {
        let (variables, _) = self.variables(continuous, discrete)?;
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()));
        match block.family {
            ConjugateFamily::GammaPoisson => {
                let (mut shape, mut rate) = (block.prior[0], block.prior[1]);
                let one = self.probe(block, &variables, &[1.0])?;
                let two = self.probe(block, &variables, &[2.0])?;
                for ((y, at_one), (_, at_two)) in one.iter().zip(&two) {
                    let (Some(r1), Some(r2)) = (at_one.first(), at_two.first()) else {
                        return Ok(None);
                    };
                    let Some(pairs) = broadcast(y, r1, r2) else {
                        return Ok(None);
                    };
                    for (y, r1, r2) in pairs {
                        if close(r1, r2) {
                            continue;
                        }
                        if !(close(r2, 2.0 * r1) && r1 >= 0.0) {
                            return Ok(None);
                        }
                        shape += y;
                        rate += r1;
                    }
                }
                Ok(Some(ConjugatePosterior::Gamma {
                    shape: vec![shape],
                    rate: vec![rate],
                }))
            }
            ConjugateFamily::NormalNormal => {
                let (mean, sd) = (block.prior[0], block.prior[1]);
                let mut precision = 1.0 / (sd * sd);
                let mut weighted = mean * precision;
                let zero = self.probe(block, &variables, &[0.0])?;
                let one = self.probe(block, &variables, &[1.0])?;
                let two = self.probe(block, &variables, &[2.0])?;
                for (((y, at_zero), (_, at_one)), (_, at_two)) in zero.iter().zip(&one).zip(&two) {
                    let ([m0, s0], [m1, s1], [m2, _]) =
                        (at_zero.as_slice(), at_one.as_slice(), at_two.as_slice())
                    else {
                        return Ok(None);
                    };
                    let (Some(means), Some(scales)) =
                        (broadcast3(y, m0, m1, m2), broadcast(y, s0, s1))
                    else {
                        return Ok(None);
                    };
                    for ((y, m0, m1, m2), (_, s0, s1)) in means.into_iter().zip(scales) {
                        let slope = m1 - m0;
                        if !close(m2 - m0, 2.0 * slope)
                            || !close(s0, s1)
                            || s0.is_nan()
                            || s0 <= 0.0
                        {
                            return Ok(None);
                        }
                        if slope == 0.0 {
                            continue;
                        }
                        precision += slope * slope / (s0 * s0);
                        weighted += slope * (y - m0) / (s0 * s0);
                    }
                }
                Ok(Some(ConjugatePosterior::Normal {
                    mean: vec![weighted / precision],
                    sd: vec![precision.sqrt().recip()],
                }))
            }
            ConjugateFamily::NormalInverseGamma | ConjugateFamily::NormalGamma => {
                // The scale at θ = 1 and θ = 4: sqrt(θ) gives 1 and 2 (a variance), 1/sqrt(θ)
                // gives 1 and 1/2 (a precision); an observation the scale does not vary with
                // does not read θ.
                let variance = block.family == ConjugateFamily::NormalInverseGamma;
                let (mut shape, mut rate) = (block.prior[0], block.prior[1]);
                let one = self.probe(block, &variables, &[1.0])?;
                let four = self.probe(block, &variables, &[4.0])?;
                for ((y, at_one), (_, at_four)) in one.iter().zip(&four) {
                    let ([m1, s1], [m4, s4]) = (at_one.as_slice(), at_four.as_slice()) else {
                        return Ok(None);
                    };
                    let (Some(means), Some(scales)) = (broadcast(y, m1, m4), broadcast(y, s1, s4))
                    else {
                        return Ok(None);
                    };
                    for ((y, m1, m4), (_, s1, s4)) in means.into_iter().zip(scales) {
                        if close(s1, s4) {
                            continue;
                        }
                        let ratio = if variance { 2.0 } else { 0.5 };
                        if !(close(m1, m4) && close(s4, ratio * s1) && s1 > 0.0) {
                            return Ok(None);
                        }
                        // s(θ) = c·sqrt(θ) (or c/sqrt(θ)): the observation's variance is c²θ
                        // (or c²/θ), so it adds 1/2 to the shape and (y - μ)²/(2c²) to the
                        // scale (or rate).
                        shape += 0.5;
                        rate += 0.5 * (y - m1).powi(2) / (s1 * s1);
                    }
                }
                Ok(Some(if variance {
                    ConjugatePosterior::InverseGamma {
                        shape: vec![shape],
                        scale: vec![rate],
                    }
                } else {
                    ConjugatePosterior::Gamma {
                        shape: vec![shape],
                        rate: vec![rate],
                    }
                }))
            }
            ConjugateFamily::BetaBinomial => {
                let (mut a, mut b) = (block.prior[0], block.prior[1]);
                let (p1, p2) = (0.25, 0.5);
                let first = self.probe(block, &variables, &[p1])?;
                let second = self.probe(block, &variables, &[p2])?;
                for ((y, at_first), (_, at_second)) in first.iter().zip(&second) {
                    // Bernoulli(p) or Binomial(n, p): the probability is the last argument.
                    let (Some(q1), Some(q2)) = (at_first.last(), at_second.last()) else {
                        return Ok(None);
                    };
                    let trials = if at_first.len() == 2 {
                        at_first.first()
                    } else {
                        None
                    };
                    let Some(pairs) = broadcast(y, q1, q2) else {
                        return Ok(None);
                    };
                    let trials: Vec<f64> = match trials {
                        None => vec![1.0; pairs.len()],
                        Some(n) if n.len() == 1 => vec![n.values[0]; pairs.len()],
                        Some(n) if n.len() == pairs.len() => n.values.clone(),
                        Some(_) => return Ok(None),
                    };
                    for ((y, q1, q2), n) in pairs.into_iter().zip(trials) {
                        if close(q1, q2) {
                            continue;
                        }
                        if !(close(q1, p1) && close(q2, p2)) {
                            return Ok(None);
                        }
                        a += y;
                        b += n - y;
                    }
                }
                Ok(Some(ConjugatePosterior::Beta {
                    a: vec![a],
                    b: vec![b],
                }))
            }
            ConjugateFamily::DirichletCategorical => {
                let shape = &self.layout.entries[block.entry].shape;
                let categories = *shape.last().unwrap_or(&0);
                let rows = shape.iter().product::<usize>() / categories.max(1);
                // Rows that differ from each other under both probes, so a row of the
                // argument identifies the row of θ it is.
                let probe_values = |reversed: bool| -> Vec<f64> {
                    let mut values = Vec::with_capacity(rows * categories);
                    for row in 0..rows {
                        let weights: Vec<f64> = (0..categories)
                            .map(|k| {
                                let k = if reversed { categories - 1 - k } else { k };
                                (row * categories + k + 1) as f64
                            })
                            .collect();
                        let total: f64 = weights.iter().sum();
                        values.extend(weights.iter().map(|w| w / total));
                    }
                    values
                };
                let (first_values, second_values) = (probe_values(false), probe_values(true));
                let first = self.probe(block, &variables, &first_values)?;
                let second = self.probe(block, &variables, &second_values)?;
                let mut concentrations = if block.prior.len() == categories {
                    block.prior.repeat(rows)
                } else {
                    block.prior.clone()
                };
                for ((y, at_first), (_, at_second)) in first.iter().zip(&second) {
                    let (Some(p1), Some(p2)) = (at_first.first(), at_second.first()) else {
                        return Ok(None);
                    };
                    if p1.len() != p2.len() || !p1.len().is_multiple_of(categories.max(1)) {
                        return Ok(None);
                    }
                    let argument_rows = p1.len() / categories.max(1);
                    let observations = y.len().max(argument_rows);
                    if !(argument_rows == 1 || argument_rows == observations)
                        || !(y.len() == 1 || y.len() == observations)
                    {
                        return Ok(None);
                    }
                    for n in 0..observations {
                        let r = if argument_rows == 1 { 0 } else { n };
                        let row1 = &p1.values[r * categories..(r + 1) * categories];
                        let row2 = &p2.values[r * categories..(r + 1) * categories];
                        if row1.iter().zip(row2).all(|(a, b)| close(*a, *b)) {
                            continue;
                        }
                        let matched = (0..rows).find(|&j| {
                            let slice = j * categories..(j + 1) * categories;
                            row1.iter()
                                .zip(&first_values[slice.clone()])
                                .all(|(a, b)| close(*a, *b))
                                && row2
                                    .iter()
                                    .zip(&second_values[slice])
                                    .all(|(a, b)| close(*a, *b))
                        });
                        let Some(j) = matched else {
                            return Ok(None);
                        };
                        let value = y.values[if y.len() == 1 { 0 } else { n }];
                        if value.fract() != 0.0 || value < 1.0 || value > categories as f64 {
                            return Ok(None);
                        }
                        concentrations[j * categories + value as usize - 1] += 1.0;
                    }
                }
                Ok(Some(ConjugatePosterior::Dirichlet {
                    concentrations,
                    categories,
                }))
            }
        }
    }
}

/// `(y, a, b)` per observation when `a` and `b` broadcast against `y` (same length, or one
/// value).
fn broadcast(y: &Array<f64>, a: &Array<f64>, b: &Array<f64>) -> Option<Vec<(f64, f64, f64)>> {
    let n = y.len().max(a.len()).max(b.len());
    let at = |x: &Array<f64>, i: usize| -> Option<f64> {
        match x.len() {
            1 => Some(x.values[0]),
            len if len == n => Some(x.values[i]),
            _ => None,
        }
    };
    (0..n)
        .map(|i| Some((at(y, i)?, at(a, i)?, at(b, i)?)))
        .collect()
}

fn broadcast3(
    y: &Array<f64>,
    a: &Array<f64>,
    b: &Array<f64>,
    c: &Array<f64>,
) -> Option<Vec<(f64, f64, f64, f64)>> {
    let first = broadcast(y, a, b)?;
    let second = broadcast(y, a, c)?;
    if first.len() != second.len() {
        return None;
    }
    Some(
        first
            .into_iter()
            .zip(second)
            .map(|((y, a, b), (_, _, c))| (y, a, b, c))
            .collect(),
    )
}

fn term_mentions(model: &Model, kind: &TermKind, var: VarId) -> bool {
    let roots: Vec<&Expr> = match kind {
        TermKind::Tilde { target, args, .. } => std::iter::once(target).chain(args).collect(),
        TermKind::Factor(expr) | TermKind::Energy(expr) => vec![expr],
    };
    roots.into_iter().any(|e| marginal::mentions(model, e, var))
}

/// Whether a comparison or an `if` condition reads one of the continuous unknowns `continuous`
/// anywhere in the model: the density then jumps where the gradient cannot see it.
fn steps_in_continuous(model: &Model, continuous: &[VarId]) -> bool {
    let mut roots: Vec<&Expr> = model.lets.iter().map(|l| &l.value).collect();
    for term in &model.terms {
        match &term.kind {
            TermKind::Tilde { target, args, .. } => {
                roots.push(target);
                roots.extend(args);
            }
            TermKind::Factor(expr) | TermKind::Energy(expr) => roots.push(expr),
        }
    }
    let reads_continuous = |e: &Expr| continuous.iter().any(|&v| marginal::mentions(model, e, v));
    let mut found = false;
    for root in roots {
        ppl_ir::check::visit(root, &mut |e| match &e.kind {
            ExprKind::If { cond, .. } => found |= reads_continuous(cond),
            ExprKind::Binary { op, .. }
                if matches!(op.symbol(), "<" | "<=" | ">" | ">=" | "==" | "!=") =>
            {
                found |= reads_continuous(e)
            }
            _ => {}
        });
    }
    found
}

/// Whether `expr` reads any unknown (directly or through `let`s).
fn mentions_unknown(model: &Model, expr: &Expr) -> bool {
    model
        .unknowns()
        .any(|v| v.role != Role::Observed && marginal::mentions(model, expr, v.id))
}

fn constant_values(model: &Model, expr: &Expr) -> Option<Vec<f64>> {
    if mentions_unknown(model, expr) {
        return None;
    }
    let mut found_data = false;
    ppl_ir::check::visit(expr, &mut |e| {
        if matches!(
            e.kind,
            ExprKind::Variable(_) | ExprKind::Let(_) | ExprKind::Dim(_)
        ) {
            found_data = true;
        }
    });
    if found_data {
        return None;
    }
    crate::bind::literal_values(expr)
}

/// Recognises the conjugate pattern of the sampled unknown `var` (layout entry `entry`).
fn recognise_conjugate(
    model: &Model,
    entry: usize,
    var: VarId,
    shape: &[usize],
) -> Option<ConjugateBlock> {
    let variable = &model.variables[var.0];
    // A bound evaluated per draw truncates the full conditional: no closed-form block.
    if variable.expression_bound.is_some() {
        return None;
    }
    let mut prior = None;
    let mut likelihood = Vec::new();
    for (index, term) in model.terms.iter().enumerate() {
        if !term_mentions(model, &term.kind, var) {
            continue;
        }
        let TermKind::Tilde {
            target,
            distribution,
            args,
        } = &term.kind
        else {
            return None;
        };
        if matches!(target.kind, ExprKind::Variable(v) if v == var) {
            if prior.is_some() || !term.loops.is_empty() {
                return None;
            }
            let values: Option<Vec<Vec<f64>>> =
                args.iter().map(|a| constant_values(model, a)).collect();
            prior = Some((*distribution, values?));
            continue;
        }
        if marginal::mentions(model, target, var) {
            return None;
        }
        likelihood.push((index, *distribution, args));
    }
    let scalar = shape.is_empty();
    let positive = matches!(variable.constraint, Constraint::Bounded { low, high, .. }
        if low == 0.0 && high == f64::INFINITY);
    let unit = matches!(variable.constraint, Constraint::Bounded { low, high, .. }
        if low == 0.0 && high == 1.0);
    let one = |values: &[Vec<f64>], i: usize| -> Option<f64> {
        match values.get(i).map(|v| v.as_slice()) {
            Some([x]) => Some(*x),
            _ => None,
        }
    };
    let all_normal = !likelihood.is_empty()
        && likelihood
            .iter()
            .all(|(_, distribution, _)| *distribution == DistKind::Normal);
    let (family, prior_values) = match (&prior, &variable.constraint) {
        (Some((DistKind::Gamma, v)), _) if scalar && positive && all_normal => {
            (ConjugateFamily::NormalGamma, vec![one(v, 0)?, one(v, 1)?])
        }
        (Some((DistKind::InvGamma, v)), _) if scalar && positive && all_normal => (
            ConjugateFamily::NormalInverseGamma,
            vec![one(v, 0)?, one(v, 1)?],
        ),
        (Some((DistKind::Gamma, v)), _) if scalar && positive => {
            (ConjugateFamily::GammaPoisson, vec![one(v, 0)?, one(v, 1)?])
        }
        (Some((DistKind::Exponential, v)), _) if scalar && positive => {
            (ConjugateFamily::GammaPoisson, vec![1.0, one(v, 0)?])
        }
        (Some((DistKind::Normal, v)), Constraint::None) if scalar => {
            (ConjugateFamily::NormalNormal, vec![one(v, 0)?, one(v, 1)?])
        }
        (Some((DistKind::Beta, v)), _) if scalar && unit => {
            (ConjugateFamily::BetaBinomial, vec![one(v, 0)?, one(v, 1)?])
        }
        (None, _) if scalar && unit => (ConjugateFamily::BetaBinomial, vec![1.0, 1.0]),
        (Some((DistKind::Dirichlet, v)), Constraint::Simplex) => {
            let alpha = v.first()?.clone();
            let categories = *shape.last()?;
            let total: usize = shape.iter().product();
            if alpha.len() != categories && alpha.len() != total {
                return None;
            }
            (ConjugateFamily::DirichletCategorical, alpha)
        }
        (None, Constraint::Simplex) if !shape.is_empty() && shape.len() <= 2 => (
            ConjugateFamily::DirichletCategorical,
            vec![1.0; *shape.last()?],
        ),
        _ => return None,
    };
    if prior_values.iter().any(|v| !(v.is_finite() && *v > 0.0))
        && family != ConjugateFamily::NormalNormal
    {
        return None;
    }
    if family == ConjugateFamily::NormalNormal
        && !(prior_values[1].is_finite() && prior_values[1] > 0.0)
    {
        return None;
    }
    let mut terms = Vec::new();
    for (index, distribution, args) in likelihood {
        let ok = match family {
            ConjugateFamily::GammaPoisson => distribution == DistKind::Poisson,
            ConjugateFamily::NormalNormal => {
                distribution == DistKind::Normal
                    && args
                        .get(1)
                        .is_some_and(|a| !marginal::mentions(model, a, var))
            }
            ConjugateFamily::BetaBinomial => match distribution {
                DistKind::Bernoulli => true,
                DistKind::Binomial => args
                    .first()
                    .is_some_and(|a| !marginal::mentions(model, a, var)),
                _ => false,
            },
            ConjugateFamily::DirichletCategorical => distribution == DistKind::Categorical,
            ConjugateFamily::NormalInverseGamma | ConjugateFamily::NormalGamma => {
                distribution == DistKind::Normal
                    && args
                        .first()
                        .is_some_and(|a| !marginal::mentions(model, a, var))
            }
        };
        if !ok {
            return None;
        }
        terms.push(index);
    }
    Some(ConjugateBlock {
        var,
        name: variable.name.clone(),
        family,
        entry,
        prior: prior_values,
        likelihood: terms,
    })
}

impl ConditionalModel for GibbsModel {
    fn continuous_dim(&self) -> usize {
        self.layout.dim
    }

    fn discrete_dim(&self) -> usize {
        self.discrete.iter().map(|d| d.elements).sum()
    }

    /// The least value of each finite unknown; for an unbounded one, the first value (from 0
    /// outward: ±1, ±2, ±4, …) at which the statements reading it are finite with the
    /// continuous unknowns at 0 on the unconstrained scale (a count must reach the largest
    /// observation a `Binomial` of it reads, say), so a chain starts where the density is.
    fn default_discrete(&self) -> Vec<i64> {
        let mut values: Vec<i64> = self
            .discrete
            .iter()
            .flat_map(|d| {
                let start = if d.unbounded {
                    0.clamp(d.low, d.high)
                } else {
                    d.low
                };
                std::iter::repeat_n(start, d.elements)
            })
            .collect();
        let continuous = vec![0.0; self.layout.dim];
        for unknown in self.discrete.iter().filter(|d| d.unbounded) {
            let start = 0.clamp(unknown.low, unknown.high);
            let candidates = std::iter::once(start).chain((0..41).flat_map(|power| {
                let step = 1i64 << power;
                [start + step, start - step]
            }));
            for candidate in candidates.filter(|c| (unknown.low..=unknown.high).contains(c)) {
                if let Some(slots) =
                    values.get_mut(unknown.offset..unknown.offset + unknown.elements)
                {
                    slots.fill(candidate);
                }
                let finite = self
                    .variables(&continuous, &values)
                    .is_ok_and(|(variables, _)| {
                        let mut evaluator = Evaluator::new(&self.model, &self.dims, variables);
                        self.terms_value(&mut evaluator, &unknown.terms)
                            .is_ok_and(|v| v.is_finite())
                    });
                if finite {
                    break;
                }
            }
        }
        values
    }

    fn end_warmup(&mut self) {
        for walk in self.walks.iter_mut().flatten() {
            walk.freeze();
        }
    }

    fn discrete_blocks(&self) -> usize {
        if self.summed.is_some() {
            1
        } else {
            self.discrete_dim()
        }
    }

    fn draw_discrete_block<R: Rng + ?Sized>(
        &mut self,
        block: usize,
        continuous: &[f64],
        discrete: &mut [i64],
        rng: &mut R,
    ) -> Result<(), LogDensityError> {
        if let Some(tape) = self.summed.as_mut() {
            let potentials = tape.summed_potentials(continuous)?;
            for (unknown, potential) in self.discrete.iter().zip(&potentials) {
                let indices = potential.draw_indices(rng);
                let slots = discrete
                    .get_mut(unknown.offset..unknown.offset + unknown.elements)
                    .ok_or(LogDensityError::NotFinite {
                        term: Some("the discrete state is too short".into()),
                        term_index: None,
                    })?;
                for (slot, k) in slots.iter_mut().zip(indices) {
                    *slot = unknown.low + k as i64;
                }
            }
            return Ok(());
        }
        // Single site: element `block` of the discrete state.
        let Some(unknown) = self
            .discrete
            .iter()
            .find(|d| (d.offset..d.offset + d.elements).contains(&block))
        else {
            return Ok(());
        };
        let (variables, _) = self
            .variables(continuous, discrete)
            .map_err(density_error)?;
        let element = block - unknown.offset;
        let mut evaluator = Evaluator::new(&self.model, &self.dims, variables);
        if unknown.unbounded {
            let walker = self.discrete.iter().position(|d| d.var == unknown.var);
            let acceptance =
                self.integer_walk_step(unknown, element, block, &mut evaluator, discrete, rng);
            if let Some(Some(walk)) = walker.and_then(|i| self.walks.get_mut(i)) {
                walk.learn(acceptance);
            }
            return Ok(());
        }
        let mut log_weights = Vec::with_capacity(unknown.states);
        for k in 0..unknown.states {
            if let Some(Some(array)) = evaluator.variables.get_mut(unknown.var.0)
                && let Some(slot) = array.values.get_mut(element)
            {
                *slot = (unknown.low + k as i64) as f64;
            }
            evaluator.forget_lets();
            // A state outside a distribution's support has weight zero.
            let value = self
                .terms_value(&mut evaluator, &unknown.terms)
                .unwrap_or(f64::NEG_INFINITY);
            log_weights.push(if value.is_nan() {
                f64::NEG_INFINITY
            } else {
                value
            });
        }
        let potentials = marginal::StatePotentials::Scalar { log_weights };
        if potentials
            .marginal_probabilities()
            .iter()
            .all(|p| *p == 0.0)
        {
            return Err(LogDensityError::NotFinite {
                term: Some(format!(
                    "every value of `{}` has zero probability given the rest",
                    unknown.name
                )),
                term_index: unknown.terms.first().copied(),
            });
        }
        let k = potentials.draw_indices(rng).first().copied().unwrap_or(0);
        if let Some(slot) = discrete.get_mut(block) {
            *slot = unknown.low + k as i64;
        }
        Ok(())
    }

    fn conjugate_blocks(&self) -> usize {
        self.conjugate.len()
    }

    fn conjugate_coordinates(&self, block: usize) -> Range<usize> {
        match self.conjugate.get(block) {
            Some(b) => {
                let entry = &self.layout.entries[b.entry];
                entry.offset..entry.offset + entry.len
            }
            None => 0..0,
        }
    }

    fn conjugate_posterior(
        &mut self,
        block: usize,
        continuous: &[f64],
        discrete: &[i64],
    ) -> Result<Option<ConjugatePosterior>, LogDensityError> {
        let Some(b) = self.conjugate.get(block) else {
            return Ok(None);
        };
        // An evaluation error at a probe value (a rate of 0 where data is positive) means the
        // form is not recognised here; the random walk moves the block.
        Ok(self.conditional(b, continuous, discrete).unwrap_or(None))
    }

    fn set_conjugate(
        &mut self,
        block: usize,
        constrained: &[f64],
        continuous: &mut [f64],
    ) -> Result<(), LogDensityError> {
        let Some(b) = self.conjugate.get(block) else {
            return Ok(());
        };
        let (values, _) = self.layout.constrain(continuous).map_err(density_error)?;
        let mut values: Vec<Vec<f64>> = values.into_iter().map(|a| a.values).collect();
        values[b.entry] = constrained.to_vec();
        match self.layout.unconstrain(&values) {
            Ok(position) if position.len() == continuous.len() => {
                continuous.copy_from_slice(&position);
            }
            // On the constraint's boundary (a rate that underflowed to 0): no unconstrained
            // value; the caller keeps the old one.
            _ => continuous.fill(f64::NAN),
        }
        Ok(())
    }

    fn marginal_log_density(&mut self, continuous: &[f64]) -> Option<Result<f64, LogDensityError>> {
        self.summed
            .as_mut()
            .map(|tape| ppl_infer::LogDensity::log_density(tape, continuous))
    }

    fn sums_out_discrete(&self) -> bool {
        self.summed.is_some()
    }

    fn differentiable(&self) -> bool {
        self.differentiable
    }

    /// With `marginal`, the summed tape's reverse pass; otherwise forward mode over the model
    /// with the discrete values fixed.
    fn log_density_gradient(
        &mut self,
        continuous: &[f64],
        discrete: &[i64],
        marginal: bool,
        gradient: &mut [f64],
    ) -> Option<Result<f64, LogDensityError>> {
        if !self.differentiable {
            return None;
        }
        if marginal {
            let tape = self.summed.as_mut()?;
            return Some(ppl_infer::LogDensity::log_density_and_gradient(
                tape, continuous, gradient,
            ));
        }
        if continuous.is_empty() {
            return Some(self.log_density(continuous, discrete));
        }
        if let Some(tape) = self.fixed_tape(discrete) {
            return Some(ppl_infer::LogDensity::log_density_and_gradient(
                tape, continuous, gradient,
            ));
        }
        Some(
            self.joint_gradient(continuous, discrete, gradient)
                .map_err(density_error),
        )
    }

    /// With the summed tape: `log p(θ, z, y) = log p(θ, y) + log p(z | θ, y)`, the marginal
    /// and the conditional of the discrete values from one forward pass; otherwise the
    /// generic evaluator over every statement.
    fn log_density(
        &mut self,
        continuous: &[f64],
        discrete: &[i64],
    ) -> Result<f64, LogDensityError> {
        if let Some(tape) = self.summed.as_mut() {
            let (marginal, potentials) = tape.log_density_and_potentials(continuous)?;
            let mut value = marginal;
            for (unknown, potential) in self.discrete.iter().zip(&potentials) {
                let indices: Vec<usize> = discrete
                    .get(unknown.offset..unknown.offset + unknown.elements)
                    .unwrap_or(&[])
                    .iter()
                    .map(|&v| usize::try_from(v - unknown.low).unwrap_or(usize::MAX))
                    .collect();
                value += potential.log_probability(&indices);
            }
            return if value.is_finite() {
                Ok(value)
            } else {
                Err(LogDensityError::NotFinite {
                    term: None,
                    term_index: None,
                })
            };
        }
        if !self.in_support(discrete) {
            return Err(LogDensityError::NotFinite {
                term: Some("a discrete value outside its declared bounds".into()),
                term_index: None,
            });
        }
        let (variables, log_jacobian) = self
            .variables(continuous, discrete)
            .map_err(density_error)?;
        let mut evaluator = Evaluator::new(&self.model, &self.dims, variables);
        let terms: Vec<usize> = (0..self.model.terms.len()).collect();
        let value = self.terms_value(&mut evaluator, &terms)? + log_jacobian;
        if value.is_finite() {
            Ok(value)
        } else {
            Err(LogDensityError::NotFinite {
                term: None,
                term_index: None,
            })
        }
    }
}

/// The docs' list of recognised conjugate patterns, one line each (for `ppl help gibbs`).
pub const CONJUGATE_PATTERNS: &[&str] = &[
    "gamma–Poisson: `r ~ Gamma(a, b)` or `Exponential(b)` (r: positive) with `y ~ Poisson(...)` whose rate is r (or c·r) for some observations",
    "normal–normal: `m ~ Normal(m0, s0)` (m: real) with `y ~ Normal(a·m + b, sigma)`, sigma not depending on m",
    "normal–inverse-gamma: `v ~ InvGamma(a, b)` (v: positive) with `y ~ Normal(mu, sqrt(v))` or `Normal(mu, c * sqrt(v))`, mu not depending on v (with a normal–normal `mu`, the pair is drawn as two exact blocks)",
    "normal–gamma: `tau ~ Gamma(a, b)` (tau: positive, a precision) with `y ~ Normal(mu, 1 / sqrt(tau))`, mu not depending on tau",
    "beta–binomial: `p ~ Beta(a, b)` (or no prior, p: unit) with `y ~ Bernoulli(p)` or `y ~ Binomial(n, p)`",
    "Dirichlet–categorical: `w ~ Dirichlet(alpha)` (or no prior, w: simplex[K] or simplex[R, K]) with `z ~ Categorical(w)` or `z[t] ~ Categorical(w[z[t - 1]])`",
];

/// The joint log density of a [`GibbsModel`] as one [`ppl_infer::LogDensity`]: the continuous
/// coordinates (unconstrained) then the discrete values as numbers. Random-walk Metropolis (rule
/// 7) moves it whole, with integer steps on the discrete coordinates
/// ([`JointDensity::integer_coordinates`]); a discrete coordinate that is not an integer, or
/// lies outside its unknown's support, has density zero.
#[derive(Clone)]
pub struct JointDensity {
    pub model: GibbsModel,
}

impl JointDensity {
    /// Which coordinates take integer values: the discrete ones, after the continuous.
    pub fn integer_coordinates(&self) -> Vec<bool> {
        let continuous = self.model.continuous_dim();
        let mut mask = vec![false; continuous];
        mask.resize(continuous + self.model.discrete_dim(), true);
        mask
    }

    /// A starting point for a chain: the continuous coordinates uniform in `(-radius, radius)`,
    /// the discrete ones at [`ConditionalModel::default_discrete`], tried up to `attempts` times
    /// until the density is finite.
    pub fn starting_point<R: Rng + ?Sized>(
        &mut self,
        radius: f64,
        attempts: usize,
        rng: &mut R,
    ) -> Option<Vec<f64>> {
        let discrete: Vec<f64> = self
            .model
            .default_discrete()
            .iter()
            .map(|&v| v as f64)
            .collect();
        for _ in 0..attempts.max(1) {
            let mut position: Vec<f64> = (0..self.model.continuous_dim())
                .map(|_| radius * (2.0 * rng.random::<f64>() - 1.0))
                .collect();
            position.extend_from_slice(&discrete);
            if ppl_infer::LogDensity::log_density(self, &position).is_ok_and(|v| v.is_finite()) {
                return Some(position);
            }
        }
        None
    }
}

impl ppl_infer::LogDensity for JointDensity {
    fn dim(&self) -> usize {
        self.model.continuous_dim() + self.model.discrete_dim()
    }

    /// Random-walk Metropolis asks for the value only; the gradient is NaN (the density is not
    /// differentiable in its integer coordinates), which a gradient-based kernel would reject.
    fn log_density_and_gradient(
        &mut self,
        position: &[f64],
        gradient: &mut [f64],
    ) -> Result<f64, LogDensityError> {
        gradient.fill(f64::NAN);
        self.log_density(position)
    }

    fn log_density(&mut self, position: &[f64]) -> Result<f64, LogDensityError> {
        let continuous_dim = self.model.continuous_dim();
        let (continuous, discrete) = position.split_at(continuous_dim.min(position.len()));
        if discrete.len() != self.model.discrete_dim()
            || discrete
                .iter()
                .any(|v| v.fract() != 0.0 || v.abs() > LARGEST_EXACT_INTEGER as f64)
        {
            return Err(LogDensityError::NotFinite {
                term: Some("a discrete coordinate is not an integer in range".into()),
                term_index: None,
            });
        }
        let discrete: Vec<i64> = discrete.iter().map(|&v| v as i64).collect();
        ConditionalModel::log_density(&mut self.model, continuous, &discrete)
    }
}
