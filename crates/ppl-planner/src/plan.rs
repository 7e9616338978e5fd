//! The planner: LANGUAGE.md §6 as an ordered list of rules over an analysis of the bound model.
//! Each rule answers *applies, because …* or *does not apply, because …*, with the statement it
//! is about; the first rule that applies (or the one `--method` names) becomes a [`Plan`]: the
//! engine, the reason in plain words, and how each unknown is handled.
//!
//! Adding an engine: give its rule a real check in [`evaluate_rules`], its driver a module in
//! `drivers/`, and its settings entries in `settings.rs`.

use ppl_infer::mcmc::{Kernel, TrajectoryLength};
use ppl_ir::{Constraint, ElemType, Feature, Method, Model, Role, TermKind, Variable};
use ppl_model::BoundData;
use ppl_model::generative::gan::{self, GanSpec};
use ppl_model::generative::rbm::{self, RbmSpec};
use ppl_model::generative::vae::{self as vae_form, VaeSpec};
use ppl_model::gibbs::GibbsModel;
use ppl_model::marginal;
use ppl_model::mixture::{self, MixtureSpec};
use ppl_model::posterior::Posterior;
use ppl_syntax::diagnostic::{backticked, backticked_preview};
use ppl_syntax::{Diagnostic, Span, codes};

use crate::drivers::mcmc::Sampler;
use crate::error::{FailureKind, FitError};
use crate::load::LoadedModel;
use crate::settings::{Origin, Setting, Settings};

/// The rules of LANGUAGE.md §6, in the order they are tried.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// 1. an `Implicit` statement and a `critic` → adversarial training.
    Adversarial,
    /// 2. an `energy` over bool latents → contrastive divergence.
    ContrastiveDivergence,
    /// 3. `guide` statements → the ELBO; params with continuous latents → variational EM.
    Variational,
    /// 4. params with finite discrete latents → EM.
    ExpectationMaximisation,
    /// 5. continuous latents → NUTS (discrete ones marginalised where the structure allows).
    Hamiltonian,
    /// 6. only params → MAP / maximum likelihood by L-BFGS.
    Optimisation,
    /// 7. a log density that is not differentiable → Metropolis.
    Metropolis,
}

impl Rule {
    pub const ALL: [Rule; 7] = [
        Rule::Adversarial,
        Rule::ContrastiveDivergence,
        Rule::Variational,
        Rule::ExpectationMaximisation,
        Rule::Hamiltonian,
        Rule::Optimisation,
        Rule::Metropolis,
    ];

    /// Its number in LANGUAGE.md §6.
    pub fn number(self) -> usize {
        Rule::ALL.iter().position(|r| *r == self).unwrap_or(0) + 1
    }

    pub fn title(self) -> &'static str {
        match self {
            Rule::Adversarial => "adversarial training (an `Implicit` statement and a `critic`)",
            Rule::ContrastiveDivergence => "contrastive divergence (an `energy` over bool latents)",
            Rule::Variational => {
                "variational inference (`guide` statements, or params beside continuous latents)"
            }
            Rule::ExpectationMaximisation => "EM (params with finite discrete latents)",
            Rule::Hamiltonian => "NUTS (continuous latents)",
            Rule::Optimisation => "MAP / maximum likelihood (only params)",
            Rule::Metropolis => "Metropolis (a log density that is not differentiable)",
        }
    }
}

/// One rule's answer for one model.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub rule: Rule,
    pub applies: bool,
    /// The reason, in plain words, for either answer.
    pub because: String,
    /// The statement or declaration the reason is about, when there is one.
    pub span: Option<Span>,
    /// How close the model came to this rule when it does not apply: 0 unrelated, 1 the model
    /// has some of what the rule needs, 2 it has the shape and one specific thing fails. The
    /// error for a model no rule fits names the closest rule.
    pub closeness: u8,
}

impl Verdict {
    fn applies(rule: Rule, because: impl Into<String>) -> Self {
        Verdict {
            rule,
            applies: true,
            because: because.into(),
            span: None,
            closeness: 3,
        }
    }

    fn fails(rule: Rule, closeness: u8, because: impl Into<String>, span: Option<Span>) -> Self {
        Verdict {
            rule,
            applies: false,
            because: because.into(),
            span,
            closeness,
        }
    }

    /// `rule 4 (EM ...) does not apply: ...`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "rule {} ({}) {}: {}",
            self.rule.number(),
            self.rule.title(),
            if self.applies {
                "applies"
            } else {
                "does not apply"
            },
            self.because
        )
    }
}

/// The engine a plan runs, with what it needs from the analysis.
pub enum Engine {
    Em(MixtureSpec),
    Rbm(Box<RbmSpec>),
    Gan(Box<GanSpec>),
    Mcmc(Box<Posterior>, Sampler),
    Map(Box<Posterior>),
    Advi(Box<Posterior>, ppl_infer::GuideFamily),
    Laplace(Box<Posterior>),
    /// Variational EM (rule 3 without a guide): the tape leaves the params' Jacobians out.
    VariationalEm(Box<Posterior>),
    /// A recognised variational autoencoder (rule 3 with an amortised guide).
    Vae(Box<VaeSpec>),
    Gibbs(Box<GibbsModel>),
    /// Rule 7: random-walk Metropolis on the joint density of a model with an unbounded `int`,
    /// integer steps on the discrete coordinates.
    IntegerMetropolis(Box<GibbsModel>),
}

/// What the planner decided, and why.
pub struct Plan {
    /// The method that runs (never `auto`).
    pub method: Method,
    pub engine: Engine,
    /// Why, in plain words (printed by `ppl run` and in the JSON `reason`).
    pub reason: String,
    /// How each unknown is handled, in declaration order (the JSON `plan`).
    pub unknowns: Vec<(String, String)>,
    /// Every rule's verdict, in order.
    pub verdicts: Vec<Verdict>,
}

/// The unknowns of a model, by kind: what the rules look at.
pub struct Analysis<'a> {
    pub continuous_latents: Vec<&'a Variable>,
    pub continuous_params: Vec<&'a Variable>,
    /// Finite discrete unknowns (`int ... in a..b`, `bool`).
    pub finite_discrete: Vec<&'a Variable>,
    /// Discrete unknowns with unbounded support (`int` with no bound or an open one).
    pub unbounded_discrete: Vec<&'a Variable>,
    pub guides: Vec<Span>,
    pub energy: Vec<Span>,
    /// The declared nets' names: their weights are continuous params (LANGUAGE.md §2).
    pub nets: Vec<&'a str>,
}

impl<'a> Analysis<'a> {
    pub fn of(model: &'a Model) -> Self {
        let mut analysis = Analysis {
            continuous_latents: Vec::new(),
            continuous_params: Vec::new(),
            finite_discrete: Vec::new(),
            unbounded_discrete: Vec::new(),
            guides: model.guides.iter().map(|g| g.span).collect(),
            energy: model
                .terms
                .iter()
                .filter(|t| matches!(t.kind, TermKind::Energy(_)))
                .map(|t| t.span)
                .collect(),
            nets: model.nets.iter().map(|n| n.name.as_str()).collect(),
        };
        for variable in model.unknowns() {
            match (variable.ty.elem, variable.role) {
                (ElemType::Real, Role::Latent) => analysis.continuous_latents.push(variable),
                (ElemType::Real, _) => analysis.continuous_params.push(variable),
                (ElemType::Bool, _) => analysis.finite_discrete.push(variable),
                (ElemType::Int, _) => match variable.constraint {
                    Constraint::Bounded { low, high, .. }
                        if low.is_finite() && high.is_finite() =>
                    {
                        analysis.finite_discrete.push(variable)
                    }
                    // `int in 1..T` with `T` from the data: finite once the data is bound.
                    _ if variable.data_bound.is_some() => analysis.finite_discrete.push(variable),
                    _ => analysis.unbounded_discrete.push(variable),
                },
            }
        }
        analysis
    }

    fn has_latent(&self) -> bool {
        !self.continuous_latents.is_empty()
            || self
                .finite_discrete
                .iter()
                .chain(&self.unbounded_discrete)
                .any(|v| v.role == Role::Latent)
    }

    /// Whether the model has continuous params, declared or a net's weights.
    fn has_continuous_params(&self) -> bool {
        !self.continuous_params.is_empty() || !self.nets.is_empty()
    }

    /// The continuous params for messages: the declared ones, then the nets' weights.
    fn params_preview(&self) -> String {
        let declared = preview(&self.continuous_params);
        let nets: Vec<String> = self
            .nets
            .iter()
            .map(|n| format!("the weights of net `{n}`"))
            .collect();
        [declared]
            .into_iter()
            .chain(nets)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn continuous(&self) -> Vec<&'a Variable> {
        self.continuous_latents
            .iter()
            .chain(&self.continuous_params)
            .copied()
            .collect()
    }
}

/// Every rule's verdict on the model, in order.
pub fn evaluate_rules(model: &Model, bound: &BoundData) -> Vec<Verdict> {
    let analysis = Analysis::of(model);
    let mut verdicts = Vec::new();

    // 1. Adversarial training.
    verdicts.push(if model.implicits.is_empty() {
        Verdict::fails(Rule::Adversarial, 0, "no `Implicit` statement", None)
    } else {
        match gan::recognise(model, bound) {
            Ok(spec) => Verdict::applies(Rule::Adversarial, gan_reason(model, &spec)),
            Err(not) => Verdict::fails(
                Rule::Adversarial,
                if model.critics.is_empty() { 1 } else { 2 },
                not.reason,
                not.span,
            ),
        }
    });

    // 2. Contrastive divergence.
    verdicts.push(match analysis.energy.first() {
        Some(span) => match rbm::recognise(model, bound) {
            Ok(spec) => Verdict::applies(Rule::ContrastiveDivergence, cd_reason(model, &spec)),
            Err(not) => Verdict::fails(
                Rule::ContrastiveDivergence,
                2,
                not.reason,
                not.span.or(Some(*span)),
            ),
        },
        None => Verdict::fails(
            Rule::ContrastiveDivergence,
            0,
            "no `energy` statement",
            None,
        ),
    });

    // 3. Variational inference.
    verdicts.push(if !analysis.guides.is_empty() {
        match vae_form::recognise(model, bound) {
            Ok(spec) => Verdict::applies(Rule::Variational, vae_reason(model, &spec)),
            Err(not) => Verdict::fails(
                Rule::Variational,
                2,
                format!(
                    "the model has `guide` statements but is not the VAE form the ELBO engine runs here: {}",
                    not.reason
                ),
                not.span.or(analysis.guides.first().copied()),
            ),
        }
    } else if analysis.has_continuous_params() && !analysis.continuous_latents.is_empty() {
        let hamiltonian = hamiltonian_verdict(&analysis, model, bound, true);
        if hamiltonian.applies {
            Verdict::applies(Rule::Variational, variational_em_reason(&analysis))
        } else {
            Verdict::fails(
                Rule::Variational,
                1,
                format!(
                    "params ({}) beside continuous latents call for variational EM, but its ELBO needs a differentiable log density: {}",
                    analysis.params_preview(),
                    hamiltonian.because
                ),
                hamiltonian
                    .span
                    .or(analysis.continuous_params.first().map(|v| v.span)),
            )
        }
    } else {
        Verdict::fails(
            Rule::Variational,
            0,
            "no `guide` statements, and no params beside continuous latents",
            None,
        )
    });

    // 4. EM.
    let params = analysis.continuous_params.len()
        + analysis
            .finite_discrete
            .iter()
            .filter(|v| v.role == Role::Param)
            .count();
    verdicts.push(if analysis.finite_discrete.is_empty() {
        Verdict::fails(
            Rule::ExpectationMaximisation,
            0,
            "there is no finite discrete latent variable",
            None,
        )
    } else if params == 0 {
        Verdict::fails(
            Rule::ExpectationMaximisation,
            1,
            "EM point-estimates params, and the model has none",
            analysis.finite_discrete.first().map(|v| v.span),
        )
    } else {
        match mixture::recognise(model, bound) {
            Ok(spec) => Verdict::applies(Rule::ExpectationMaximisation, em_reason(model, &spec)),
            Err(not) => Verdict::fails(Rule::ExpectationMaximisation, 2, not.reason, not.span),
        }
    });

    // 5. NUTS, or Gibbs when a discrete latent cannot be summed out.
    let hamiltonian = hamiltonian_verdict(&analysis, model, bound, false);
    verdicts.push(match gibbs_fallback(&analysis, model, bound) {
        Some(because) if !hamiltonian.applies => Verdict::applies(Rule::Hamiltonian, because),
        _ => hamiltonian,
    });

    // 6. MAP.
    verdicts.push(if analysis.has_latent() {
        let latent = analysis
            .continuous_latents
            .iter()
            .chain(&analysis.finite_discrete)
            .chain(&analysis.unbounded_discrete)
            .find(|v| v.role == Role::Latent);
        Verdict::fails(
            Rule::Optimisation,
            0,
            format!(
                "the model has latents ({}), whose posterior is inferred rather than point-estimated",
                latent.map(|v| format!("`{}`", v.name)).unwrap_or_default()
            ),
            latent.map(|v| v.span),
        )
    } else if let Some(discrete) = analysis
        .finite_discrete
        .iter()
        .chain(&analysis.unbounded_discrete)
        .next()
    {
        Verdict::fails(
            Rule::Optimisation,
            2,
            format!(
                "the param `{}` is discrete, and L-BFGS needs continuous params",
                discrete.name
            ),
            Some(discrete.span),
        )
    } else if !analysis.has_continuous_params() {
        Verdict::fails(Rule::Optimisation, 0, "the model has no params", None)
    } else {
        Verdict::applies(
            Rule::Optimisation,
            format!(
                "the model has only params ({}), no latents, so they are point-estimated: L-BFGS finds the {} (the mode on the constrained scale)",
                analysis.params_preview(),
                if ppl_model::posterior::has_prior(model) {
                    "MAP estimate"
                } else {
                    "maximum-likelihood estimate"
                }
            ),
        )
    });

    // 7. Metropolis.
    verdicts.push(match analysis.unbounded_discrete.first() {
        Some(variable) => match model.variables.iter().find(|v| v.role == Role::Param) {
            Some(param) => Verdict::fails(
                Rule::Metropolis,
                2,
                format!(
                    "`{}` is an int with unbounded support, which Metropolis samples, but the param `{}` is a point estimate a sampler cannot give; declare it `latent`",
                    variable.name, param.name
                ),
                Some(param.span),
            ),
            None => Verdict::applies(Rule::Metropolis, integer_metropolis_reason(&analysis)),
        },
        None => Verdict::fails(
            Rule::Metropolis,
            0,
            "the log density is differentiable in every unknown",
            None,
        ),
    });
    verdicts
}

/// Rule 5's second half: a discrete latent with finite support that cannot be summed out of
/// the log density, and nothing with unbounded support, makes Gibbs the plan (discrete unknowns
/// from their full conditionals, conjugate or random-walk steps for the continuous ones). The
/// reason, or `None` when the model needs no Gibbs.
pub fn gibbs_fallback(analysis: &Analysis<'_>, model: &Model, bound: &BoundData) -> Option<String> {
    // `param`s are point estimates: Gibbs would sample them as if they were latents, so a model
    // with params (an energy model that is not an RBM, say) is not sent here.
    if model.variables.iter().any(|v| v.role == Role::Param)
        || !analysis.unbounded_discrete.is_empty()
        || !analysis
            .finite_discrete
            .iter()
            .any(|v| v.role == Role::Latent)
    {
        return None;
    }
    let refusal = marginal::analyse(model, &bound.dims)
        .into_iter()
        .find_map(|decision| match decision {
            marginal::Decision::Refused(refusal) => Some(refusal),
            marginal::Decision::Summed(_) => None,
        })?;
    Some(format!(
        "the discrete `{}` cannot be summed out of the log density ({}), so Gibbs draws the discrete unknowns from their full conditionals by enumeration, with conjugate draws or random-walk Metropolis-within-Gibbs for the continuous ones",
        refusal.name, refusal.reason
    ))
}

/// Rule 5, for `auto` (which needs continuous latents) or forced (any continuous unknown).
/// Finite discrete unknowns must be summable out of the log density (`ppl_model::marginal`).
fn hamiltonian_verdict(
    analysis: &Analysis<'_>,
    model: &Model,
    bound: &BoundData,
    forced: bool,
) -> Verdict {
    let continuous = analysis.continuous();
    if let Some(unbounded) = analysis.unbounded_discrete.first() {
        return Verdict::fails(
            Rule::Hamiltonian,
            if continuous.is_empty() { 1 } else { 2 },
            format!(
                "`{}` is an int with unbounded support, which cannot be summed out",
                unbounded.name
            ),
            Some(unbounded.span),
        );
    }
    let mut summed = Vec::new();
    if !analysis.finite_discrete.is_empty() {
        for decision in marginal::analyse(model, &bound.dims) {
            match decision {
                marginal::Decision::Summed(latent) => summed.push(latent),
                marginal::Decision::Refused(refusal) => {
                    return Verdict::fails(
                        Rule::Hamiltonian,
                        if continuous.is_empty() { 1 } else { 2 },
                        format!(
                            "the discrete `{}` cannot be summed out of the log density: {}",
                            refusal.name, refusal.reason
                        ),
                        Some(refusal.span),
                    );
                }
            }
        }
    }
    if continuous.is_empty() && analysis.nets.is_empty() {
        return Verdict::fails(
            Rule::Hamiltonian,
            if summed.is_empty() { 0 } else { 1 },
            if summed.is_empty() {
                "the model has no unknowns".to_string()
            } else {
                "every unknown is discrete: there is nothing continuous left to sample once they are summed out".to_string()
            },
            None,
        );
    }
    if !forced && analysis.continuous_latents.is_empty() {
        return Verdict::fails(
            Rule::Hamiltonian,
            0,
            "the model has no latents: its params are point-estimated (rule 6)",
            None,
        );
    }
    let mut because = format!(
        "every continuous unknown ({}) has a differentiable log density",
        preview(&continuous)
    );
    if !summed.is_empty() {
        let accounts: Vec<String> = summed.iter().map(|s| s.to_string()).collect();
        because.push_str(&format!(
            ", and the discrete ones are summed out: {}",
            accounts.join("; ")
        ));
    }
    Verdict::applies(Rule::Hamiltonian, because)
}

/// Plans the fit: the first rule that applies for `auto`, or the method the settings name.
pub fn plan(
    loaded: &LoadedModel,
    bound: &BoundData,
    settings: &Settings,
) -> Result<Plan, FitError> {
    let model = &loaded.model;
    let verdicts = evaluate_rules(model, bound);
    let analysis = Analysis::of(model);
    let verdict = |rule: Rule| verdicts.iter().find(|v| v.rule == rule).cloned();
    let method = settings.method;
    let asked = || asked(settings, method);
    let metric = crate::settings::metric_kind(settings);
    let posterior = || -> Result<Box<Posterior>, FitError> {
        let options = ppl_model::posterior::PosteriorOptions {
            log_lik: settings.switch(Setting::LogLik),
            predict: settings.switch(Setting::Predict),
        };
        Posterior::new_with(model, bound, &loaded.source, &options)
            .map(Box::new)
            .map_err(|d| FitError::one(d, FailureKind::ModelOrData))
    };
    let (engine, reason, method) = match method {
        Method::Auto => {
            // A form with no engine yet, which no rule fits either, is named first: it is the
            // statement the user must change.
            // `guide` statements ask for the ELBO: when rule 3 refuses them, say why instead of
            // sampling the model with its guides ignored (a VAE's nets under NUTS never ends).
            let guides_refused = !analysis.guides.is_empty()
                && !verdict(Rule::Variational).is_some_and(|v| v.applies);
            let first = verdicts
                .iter()
                .find(|v| v.applies)
                .filter(|_| !guides_refused);
            match first.map(|v| v.rule) {
                Some(Rule::Variational)
                    if analysis.guides.is_empty() && only_nets_unsupported(model) =>
                {
                    let mut posterior = posterior()?;
                    let params: Vec<ppl_ir::VarId> = analysis
                        .continuous_params
                        .iter()
                        .chain(&analysis.finite_discrete)
                        .filter(|v| v.role == Role::Param)
                        .map(|v| v.id)
                        .collect();
                    posterior.tape = posterior.tape.clone().without_jacobian_of(&params);
                    (
                        Engine::VariationalEm(posterior),
                        variational_em_reason(&analysis),
                        Method::Advi,
                    )
                }
                Some(Rule::Variational) if only_nets_unsupported(model) => {
                    let spec = vae_spec(loaded, bound, None)?;
                    let reason = vae_reason(model, &spec);
                    (Engine::Vae(Box::new(spec)), reason, Method::Vae)
                }
                Some(Rule::ContrastiveDivergence) if model.unsupported.is_empty() => {
                    let spec = rbm_spec(model, bound)?;
                    let reason = cd_reason(model, &spec);
                    (Engine::Rbm(Box::new(spec)), reason, Method::Cd)
                }
                Some(Rule::Adversarial) if only_adversarial_forms(model) => {
                    let spec = gan_spec(model, bound)?;
                    let reason = gan_reason(model, &spec);
                    (Engine::Gan(Box::new(spec)), reason, Method::Gan)
                }
                Some(Rule::ExpectationMaximisation) if model.unsupported.is_empty() => {
                    let spec = em_spec(model, bound)?;
                    let reason = em_reason(model, &spec);
                    (Engine::Em(spec), reason, Method::Em)
                }
                Some(Rule::Hamiltonian)
                    if model.unsupported.is_empty()
                        && let Some(reason) = gibbs_fallback(&analysis, model, bound) =>
                {
                    (
                        Engine::Gibbs(gibbs_model(loaded, bound, settings)?),
                        reason,
                        Method::Gibbs,
                    )
                }
                Some(Rule::Hamiltonian) if only_nets_unsupported(model) => {
                    let reason = nuts_reason(&analysis, metric, false);
                    let reason = match verdict(Rule::Hamiltonian) {
                        Some(v) if v.because.contains("summed out") => format!(
                            "{reason}; {}",
                            v.because
                                .split_once(", and ")
                                .map(|(_, summed)| summed)
                                .unwrap_or("")
                        ),
                        _ => reason,
                    };
                    (
                        Engine::Mcmc(posterior()?, Sampler::Hamiltonian(Kernel::Nuts)),
                        reason,
                        Method::Nuts,
                    )
                }
                Some(Rule::Optimisation) if only_nets_unsupported(model) => {
                    let reason = verdict(Rule::Optimisation)
                        .map(|v| v.because)
                        .unwrap_or_default();
                    (Engine::Map(posterior()?), reason, Method::Map)
                }
                Some(Rule::Metropolis) if model.unsupported.is_empty() => (
                    Engine::IntegerMetropolis(gibbs_model(loaded, bound, settings)?),
                    integer_metropolis_reason(&analysis),
                    Method::Metropolis,
                ),
                _ => return Err(no_rule_fits(loaded, &verdicts)),
            }
        }
        Method::Vae => {
            if !only_nets_unsupported(model) {
                unsupported_forms(loaded)?;
            }
            let spec = vae_spec(loaded, bound, Some(method))?;
            let reason = format!("{}; {}", asked(), vae_reason(model, &spec));
            (Engine::Vae(Box::new(spec)), reason, Method::Vae)
        }
        Method::Cd => match verdict(Rule::ContrastiveDivergence) {
            Some(v) if v.applies => {
                unsupported_forms(loaded)?;
                let spec = rbm_spec(model, bound)?;
                let reason = format!("{}; {}", asked(), cd_reason(model, &spec));
                (Engine::Rbm(Box::new(spec)), reason, Method::Cd)
            }
            other => return Err(not_applicable(loaded, method, other.as_ref())),
        },
        Method::Gan => match verdict(Rule::Adversarial) {
            Some(v) if v.applies && only_adversarial_forms(model) => {
                let spec = gan_spec(model, bound)?;
                let reason = format!("{}; {}", asked(), gan_reason(model, &spec));
                (Engine::Gan(Box::new(spec)), reason, Method::Gan)
            }
            Some(v) if v.applies => return Err(no_rule_fits(loaded, &verdicts)),
            other => return Err(not_applicable(loaded, method, other.as_ref())),
        },
        Method::Em => match verdict(Rule::ExpectationMaximisation) {
            Some(v) if v.applies => {
                let spec = em_spec(model, bound)?;
                let reason = format!("{}; {}", asked(), em_reason(model, &spec));
                (Engine::Em(spec), reason, Method::Em)
            }
            other => return Err(not_applicable(loaded, method, other.as_ref())),
        },
        Method::Nuts | Method::Hmc => {
            let v = hamiltonian_verdict(&analysis, model, bound, true);
            if !v.applies {
                return Err(not_applicable(loaded, method, Some(&v)));
            }
            unsupported_forms(loaded)?;
            let names = preview(&analysis.continuous());
            let kernel = if method == Method::Nuts {
                Kernel::Nuts
            } else {
                // Stan's default integration time 2π is a full period on a unit-scale Gaussian,
                // which after metric adaptation sends a trajectory back near its start; a
                // quarter period gives nearly independent draws there.
                Kernel::StaticHmc(TrajectoryLength::IntegrationTime(
                    std::f64::consts::FRAC_PI_2,
                ))
            };
            let reason = format!("{}; continuous unknowns: {names}", asked());
            (
                Engine::Mcmc(posterior()?, Sampler::Hamiltonian(kernel)),
                reason,
                method,
            )
        }
        Method::Map => {
            if let Some(discrete) = analysis
                .finite_discrete
                .iter()
                .chain(&analysis.unbounded_discrete)
                .next()
            {
                let v = Verdict::fails(
                    Rule::Optimisation,
                    2,
                    format!(
                        "the discrete unknown `{}` cannot be optimised by L-BFGS",
                        discrete.name
                    ),
                    Some(discrete.span),
                );
                return Err(not_applicable(loaded, method, Some(&v)));
            }
            if analysis.continuous().is_empty() && analysis.nets.is_empty() {
                let v = Verdict::fails(Rule::Optimisation, 0, "the model has no unknowns", None);
                return Err(not_applicable(loaded, method, Some(&v)));
            }
            unsupported_forms(loaded)?;
            let reason = format!(
                "{}; L-BFGS finds the mode of the {} on the constrained scale",
                asked(),
                if ppl_model::posterior::has_prior(model) {
                    "posterior"
                } else {
                    "likelihood"
                }
            );
            (Engine::Map(posterior()?), reason, Method::Map)
        }
        Method::Metropolis if !analysis.unbounded_discrete.is_empty() => {
            match verdict(Rule::Metropolis) {
                Some(v) if v.applies => {}
                other => return Err(not_applicable(loaded, method, other.as_ref())),
            }
            unsupported_forms(loaded)?;
            (
                Engine::IntegerMetropolis(gibbs_model(loaded, bound, settings)?),
                format!("{}; {}", asked(), integer_metropolis_reason(&analysis)),
                method,
            )
        }
        Method::Metropolis | Method::Advi | Method::Laplace => {
            // Any model NUTS could sample (discrete unknowns summed out) suits these too: they
            // see the same log density, without its gradient (Metropolis) or through a Gaussian.
            let v = hamiltonian_verdict(&analysis, model, bound, true);
            if !v.applies {
                let rule = if method == Method::Metropolis {
                    Rule::Metropolis
                } else {
                    Rule::Hamiltonian
                };
                let v = Verdict { rule, ..v };
                return Err(not_applicable(loaded, method, Some(&v)));
            }
            unsupported_forms(loaded)?;
            let names = preview(&analysis.continuous());
            let posterior = posterior()?;
            match method {
                Method::Metropolis => (
                    Engine::Mcmc(posterior, Sampler::RandomWalk),
                    format!(
                        "{}; random-walk Metropolis over the unconstrained space of {names}, proposal scales adapted in warmup toward 0.234 acceptance (0.44 in one dimension)",
                        asked()
                    ),
                    method,
                ),
                Method::Advi => {
                    let full_rank = settings.switch(Setting::FullRank);
                    (
                        Engine::Advi(
                            posterior,
                            if full_rank {
                                ppl_infer::GuideFamily::FullRank
                            } else {
                                ppl_infer::GuideFamily::MeanField
                            },
                        ),
                        format!(
                            "{}; a {} Gaussian guide over the unconstrained space of {names} maximises the ELBO (reparameterised gradients, Adam); its draws are summarised like a sampler's, and Pareto k-hat says whether to trust them",
                            asked(),
                            if full_rank { "full-rank" } else { "mean-field" }
                        ),
                        method,
                    )
                }
                _ => (
                    Engine::Laplace(posterior),
                    format!(
                        "{}; the posterior mode of {names} by L-BFGS and a Gaussian with the inverse curvature there, in the unconstrained space; its draws are pushed through the constraints",
                        asked()
                    ),
                    method,
                ),
            }
        }
        Method::Gibbs => {
            if model.unknowns().next().is_none() {
                let v = Verdict::fails(Rule::Hamiltonian, 0, "the model has no unknowns", None);
                return Err(not_applicable(loaded, method, Some(&v)));
            }
            unsupported_forms(loaded)?;
            let gibbs = gibbs_model(loaded, bound, settings)?;
            let reason = format!("{}; {}", asked(), gibbs_reason(&gibbs));
            (Engine::Gibbs(gibbs), reason, method)
        }
    };
    let unknowns = unknown_plan(model, &engine, method);
    Ok(Plan {
        method,
        engine,
        reason,
        unknowns,
        verdicts,
    })
}

/// Rule 7's reason: a model with an unbounded `int` unknown.
fn integer_metropolis_reason(analysis: &Analysis<'_>) -> String {
    let mut everything: Vec<&Variable> = analysis.continuous();
    everything.extend(&analysis.finite_discrete);
    everything.extend(&analysis.unbounded_discrete);
    format!(
        "{} an int with unbounded support: its log density cannot be summed over nor differentiated, so random-walk Metropolis moves every unknown ({}) at once, integer steps uniform in ±1..±m on the discrete ones and Gaussian steps on the unconstrained continuous ones, the scales adapted in warmup toward 0.234 acceptance (0.44 in one dimension)",
        backticked(analysis.unbounded_discrete.iter().map(|v| &v.name))
            + if analysis.unbounded_discrete.len() == 1 {
                " is"
            } else {
                " are"
            },
        preview(&everything)
    )
}

/// Rule 3's reason for variational EM.
fn variational_em_reason(analysis: &Analysis<'_>) -> String {
    format!(
        "params ({}) beside continuous latents ({}) and no guide: variational EM, a mean-field Gaussian guide over the latents while the params, as points, maximise the same ELBO (reparameterised gradients, Adam)",
        analysis.params_preview(),
        preview(&analysis.continuous_latents)
    )
}

/// The model's only forms without a general engine are its `net`s, which the VAE engine and
/// the tape run.
fn only_nets_unsupported(model: &Model) -> bool {
    model.unsupported.iter().all(|u| u.feature == Feature::Net)
}

/// The recognised VAE, or (forced or not) rule 3's reason why the model is not one.
fn vae_spec(
    loaded: &LoadedModel,
    bound: &BoundData,
    forced: Option<Method>,
) -> Result<VaeSpec, FitError> {
    vae_form::recognise(&loaded.model, bound).map_err(|not| {
        let verdict = Verdict::fails(Rule::Variational, 2, not.reason, not.span);
        match forced {
            Some(method) => not_applicable(loaded, method, Some(&verdict)),
            None => no_rule_fits(loaded, std::slice::from_ref(&verdict)),
        }
    })
}

fn vae_reason(model: &Model, spec: &VaeSpec) -> String {
    let z = &model.variables[spec.latent_variable.0].name;
    let net = |index: usize| {
        model
            .nets
            .get(index)
            .map(|n| n.name.as_str())
            .unwrap_or("?")
    };
    format!(
        "`{z}` has an amortised guide from the net `{}` and the likelihood of `{}` goes through the net `{}`: a variational autoencoder, trained on the ELBO (reparameterised draws, analytic KL, Adam over minibatches)",
        net(spec.encoder_net),
        spec.data_name,
        net(spec.decoder_net)
    )
}

fn rbm_spec(model: &Model, bound: &BoundData) -> Result<RbmSpec, FitError> {
    rbm::recognise(model, bound).map_err(|not| {
        FitError::message(
            codes::METHOD_NOT_APPLICABLE,
            not.reason,
            FailureKind::InferenceFailed,
        )
    })
}

/// Whether every form with no log density is one adversarial training runs (the recogniser has
/// checked that every net is the generator or the critic).
fn only_adversarial_forms(model: &Model) -> bool {
    model.unsupported.iter().all(|u| {
        matches!(
            u.feature,
            Feature::Implicit | Feature::Critic | Feature::Net
        )
    })
}

fn gan_spec(model: &Model, bound: &BoundData) -> Result<GanSpec, FitError> {
    gan::recognise(model, bound).map_err(|not| {
        FitError::message(
            codes::METHOD_NOT_APPLICABLE,
            not.reason,
            FailureKind::InferenceFailed,
        )
    })
}

fn cd_reason(model: &Model, spec: &RbmSpec) -> String {
    format!(
        "the `energy` is bilinear in the data `{}` ({} binary units) and the bool latent `{}` ({} units), an RBM: PCD-k trains `{}`, `{}` and `{}` with block-Gibbs chains (p(h=1|v) = σ(c + vW), p(v=1|h) = σ(b + Wh)), the hidden units summed out of the free energy",
        spec.visible_name,
        spec.visible,
        model.variables[spec.hidden_var.0].name,
        spec.hidden,
        model.variables[spec.weights.0].name,
        model.variables[spec.visible_bias.0].name,
        model.variables[spec.hidden_bias.0].name,
    )
}

fn gibbs_model(
    loaded: &LoadedModel,
    bound: &BoundData,
    settings: &Settings,
) -> Result<Box<GibbsModel>, FitError> {
    let options = ppl_model::posterior::PosteriorOptions {
        log_lik: settings.switch(Setting::LogLik),
        predict: settings.switch(Setting::Predict),
    };
    GibbsModel::new(&loaded.model, bound, &loaded.source)
        .and_then(|gibbs| gibbs.with_workflow(&options))
        .map(Box::new)
        .map_err(|d| FitError::one(d, FailureKind::ModelOrData))
}

/// How Gibbs will update the model, in words.
fn gibbs_reason(gibbs: &GibbsModel) -> String {
    let mut parts = Vec::new();
    if !gibbs.discrete.is_empty() {
        let unbounded: Vec<&str> = gibbs
            .discrete
            .iter()
            .filter(|d| d.unbounded)
            .map(|d| d.name.as_str())
            .collect();
        if unbounded.len() < gibbs.discrete.len() {
            parts.push(if gibbs.blocked() {
                "the discrete unknowns are drawn in one block from their exact conditionals (per element, or a chain by forward-filtering backward-sampling)".to_string()
            } else {
                "each discrete element is drawn from its full conditional by enumeration"
                    .to_string()
            });
        }
        if !unbounded.is_empty() {
            parts.push(format!(
                "{} (unbounded) moved by a random walk on the integers within Gibbs, its step adapted in warmup toward 0.44 acceptance",
                backticked(unbounded.iter())
            ));
        }
    }
    if !gibbs.conjugate.is_empty() {
        parts.push(format!(
            "conjugate draws for {}",
            gibbs
                .conjugate
                .iter()
                .map(|b| format!("`{}` ({})", b.name, b.family.describe()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let conjugate_count: usize = gibbs
        .conjugate
        .iter()
        .map(|b| {
            gibbs
                .layout()
                .entries
                .iter()
                .find(|e| e.var == b.var)
                .map(|e| e.len)
                .unwrap_or(0)
        })
        .sum();
    if gibbs.layout().dim > conjugate_count {
        parts.push(if gibbs.is_differentiable() {
            "NUTS-within-Gibbs for the other continuous unknowns (their conditional is differentiable; step size and diagonal metric adapted in warmup)".into()
        } else {
            "random-walk Metropolis-within-Gibbs for the other continuous unknowns (a comparison or `if` on a continuous unknown makes the density non-differentiable)".into()
        });
    }
    parts.join("; ")
}

fn gan_reason(model: &Model, spec: &GanSpec) -> String {
    format!(
        "`{}` is an implicit push-forward `{}({})` of standard-normal noise with `critic {}`, so the generator and the critic are trained in alternation (non-saturating losses, Adam): {} noise values to {} data values per row, over {} rows",
        model.variables[spec.observed.0].name,
        spec.generator.name,
        model.variables[spec.noise.0].name,
        spec.critic.name,
        spec.generator.sizes.first().copied().unwrap_or(0),
        spec.columns,
        spec.rows
    )
}

fn em_spec(model: &Model, bound: &BoundData) -> Result<MixtureSpec, FitError> {
    mixture::recognise(model, bound).map_err(|not| {
        FitError::message(
            codes::METHOD_NOT_APPLICABLE,
            not.reason,
            FailureKind::InferenceFailed,
        )
    })
}

fn nuts_reason(
    analysis: &Analysis<'_>,
    metric: ppl_infer::mcmc::MetricKind,
    _forced: bool,
) -> String {
    use ppl_infer::mcmc::MetricKind;
    format!(
        "every unknown{} ({}) is continuous and the log density is differentiable, so NUTS samples the posterior (dual-averaging step size; {}){}",
        if analysis.finite_discrete.is_empty() {
            ""
        } else {
            " but the discrete ones"
        },
        preview(&analysis.continuous()),
        match metric {
            MetricKind::Auto =>
                "the mass matrix learnt from draws and gradients, diagonal or corrected where the diagonal is wrong, warmup ending once it settles",
            MetricKind::Diagonal => "a diagonal mass matrix learnt from draws and gradients",
            MetricKind::LowRank => "nutpie's low-rank modified mass matrix",
            MetricKind::Dense => "Stan's windowed dense mass matrix",
            MetricKind::Stan => "Stan's windowed diagonal mass matrix",
        },
        if analysis.continuous_params.is_empty() {
            ""
        } else {
            "; the params are sampled like latents"
        }
    )
}

/// How each unknown is handled, for the plan line and the JSON `plan`.
fn unknown_plan(model: &Model, engine: &Engine, method: Method) -> Vec<(String, String)> {
    model
        .unknowns()
        .map(|variable| {
            let how = match engine {
                Engine::Rbm(spec) if spec.hidden_var == variable.id => {
                    "summed out of the free energy; block Gibbs p(h=1|v) = σ(c + vW) in the chains".to_string()
                }
                Engine::Rbm(_) => "PCD-k gradient steps (point estimate)".to_string(),
                Engine::Gan(spec) if spec.noise == variable.id => format!(
                    "standard-normal noise, drawn afresh for every minibatch and pushed through `{}`",
                    spec.generator.name
                ),
                Engine::Gan(_) => "not trained by the adversarial engine".to_string(),
                Engine::Em(spec) if spec.assignment == variable.id => {
                    format!("EM responsibilities (1..{}), the E-step", spec.components)
                }
                Engine::Em(spec) if spec.weights == variable.id => {
                    "closed-form M-step (mixture weights)".to_string()
                }
                Engine::Em(spec) => {
                    let family = spec
                        .blocks
                        .iter()
                        .find(|b| b.params.contains(&variable.id))
                        .map(|b| b.family.name())
                        .unwrap_or("mixture");
                    format!("closed-form M-step ({family})")
                }
                Engine::Mcmc(posterior, _)
                | Engine::Advi(posterior, _)
                | Engine::Laplace(posterior)
                | Engine::VariationalEm(posterior)
                    if posterior.summed.iter().any(|s| s.var == variable.id) =>
                {
                    let latent = posterior.summed.iter().find(|s| s.var == variable.id);
                    match latent.map(|l| l.structure) {
                        Some(marginal::Structure::Chain) => {
                            "summed out by the forward algorithm, drawn per draw by forward-filtering backward-sampling".to_string()
                        }
                        Some(marginal::Structure::Plate) => {
                            "summed out per element, drawn per draw from its conditional".to_string()
                        }
                        _ => "summed out over its values, drawn per draw from its conditional"
                            .to_string(),
                    }
                }
                Engine::Mcmc(..) => {
                    let scale = transform_name(variable);
                    let sampled = if variable.role == Role::Param {
                        ", sampled like a latent"
                    } else {
                        ""
                    };
                    let sampler = match method {
                        Method::Metropolis => "Metropolis",
                        Method::Hmc => "HMC",
                        _ => "NUTS",
                    };
                    format!("{sampler}{scale}{sampled}")
                }
                Engine::Map(_) => format!("L-BFGS mode{}", transform_name(variable)),
                Engine::Vae(spec) => format!(
                    "Gaussian guide amortised by the encoder net `{}` (VAE)",
                    model.nets.get(spec.encoder_net).map(|n| n.name.as_str()).unwrap_or("?")
                ),
                Engine::Advi(..) => format!(
                    "Gaussian guide (ADVI){}",
                    transform_name(variable)
                ),
                Engine::VariationalEm(..) if variable.role == Role::Param => format!(
                    "point estimate maximising the ELBO (variational EM){}",
                    transform_name(variable)
                ),
                Engine::VariationalEm(..) => format!(
                    "mean-field Gaussian guide (variational EM){}",
                    transform_name(variable)
                ),
                Engine::Laplace(..) => format!(
                    "Gaussian at the mode (Laplace){}",
                    transform_name(variable)
                ),
                Engine::IntegerMetropolis(gibbs) => {
                    if gibbs.discrete.iter().any(|d| d.var == variable.id) {
                        "random-walk Metropolis, integer steps".to_string()
                    } else {
                        format!(
                            "random-walk Metropolis{}",
                            transform_name(variable)
                        )
                    }
                }
                Engine::Gibbs(gibbs) => {
                    if gibbs
                        .discrete
                        .iter()
                        .any(|d| d.var == variable.id && d.unbounded)
                    {
                        "Gibbs: a random walk on the integers (Metropolis-within-Gibbs, step adapted in warmup)".to_string()
                    } else if gibbs.discrete.iter().any(|d| d.var == variable.id) {
                        if gibbs.blocked() {
                            "Gibbs: drawn in one block from its exact conditional".to_string()
                        } else {
                            "Gibbs: each element from its full conditional by enumeration"
                                .to_string()
                        }
                    } else if let Some(block) =
                        gibbs.conjugate.iter().find(|b| b.var == variable.id)
                    {
                        format!("Gibbs: conjugate draw ({})", block.family.describe())
                    } else {
                        format!(
                            "{} within Gibbs{}",
                            if gibbs.is_differentiable() {
                                "NUTS"
                            } else {
                                "random-walk Metropolis"
                            },
                            transform_name(variable)
                        )
                    }
                }
            };
            (variable.name.clone(), how)
        })
        .collect()
}

/// How a constrained unknown reaches the unconstrained space the engines work in.
fn transform_name(variable: &Variable) -> &'static str {
    // A bound of data or earlier unknowns is not a `Constraint` (it is evaluated per draw).
    if let Some(bound) = &variable.expression_bound {
        return match (&bound.low, &bound.high) {
            (Some(_), Some(_)) => ", on the logit scale between bounds evaluated per draw",
            (Some(_), None) | (None, Some(_)) => {
                ", on the log scale from a bound evaluated per draw"
            }
            (None, None) => "",
        };
    }
    match &variable.constraint {
        Constraint::None => "",
        Constraint::Bounded { low, high, .. } if low.is_finite() && high.is_finite() => {
            ", on the logit scale"
        }
        Constraint::Bounded { .. } => ", on the log scale",
        Constraint::Simplex => ", stick-breaking",
        Constraint::Ordered | Constraint::PositiveOrdered => ", on log differences",
        Constraint::CorrCholesky | Constraint::Cov => ", through its Cholesky factor",
    }
}

/// Who asked for a method: the command line (or a program) or the model's `infer` statement.
fn asked(settings: &Settings, method: Method) -> String {
    if settings.method_origin == Origin::Model {
        format!("asked for by the model's `infer {method}(...)`")
    } else {
        format!("asked for with --method {method}")
    }
}

pub(crate) fn em_reason(model: &Model, spec: &MixtureSpec) -> String {
    let z = &model.variables[spec.assignment.0];
    let families: Vec<String> = spec
        .blocks
        .iter()
        .map(|b| {
            format!(
                "`{}` {}",
                model.variables[b.observed.0].name,
                b.family.name()
            )
        })
        .collect();
    format!(
        "`{}` is a discrete latent with finite support (1..{}) and every param has a closed-form M-step ({}), so EM maximises the likelihood directly",
        z.name,
        spec.components,
        families.join(", ")
    )
}

/// `a`, `b`, `c` and 4 more.
fn preview(variables: &[&Variable]) -> String {
    backticked_preview(variables.iter().map(|v| &v.name), 4)
}

/// A form no engine in this version runs (a net, a library model) stops a gradient-based plan.
fn unsupported_forms(loaded: &LoadedModel) -> Result<(), FitError> {
    // An implicit model is named by its `Implicit` statement rather than by its nets; a net
    // alone is no obstacle, as the tape runs it.
    let unsupported = &loaded.model.unsupported;
    let first = unsupported
        .iter()
        .find(|u| matches!(u.feature, Feature::Implicit | Feature::Critic));
    match first {
        Some(item) => Err(FitError::one(
            unsupported_diagnostic(item),
            FailureKind::InferenceFailed,
        )),
        None => Ok(()),
    }
}

fn unsupported_diagnostic(item: &ppl_ir::Unsupported) -> Diagnostic {
    if matches!(item.feature, Feature::Critic | Feature::Implicit) {
        return Diagnostic::error(
            codes::UNSUPPORTED,
            item.span,
            format!(
                "{} has no log density: only adversarial training runs it",
                item.description
            ),
        )
        .with_label("needs adversarial training")
        .with_hint(format!(
            "rule {} of the planner, {}: `--method gan` or `--method auto`",
            Rule::Adversarial.number(),
            Rule::Adversarial.title()
        ));
    }
    let rule = match item.feature {
        Feature::Critic | Feature::Implicit => Rule::Adversarial,
        Feature::Net => Rule::Variational,
    };
    Diagnostic::error(
        codes::UNSUPPORTED,
        item.span,
        format!(
            "{} parses and checks, but no inference engine in this version runs it",
            item.description
        ),
    )
    .with_label("not runnable in this version")
    .with_hint(format!(
        "it belongs to rule {} of the planner, {}; `ppl check` validates it",
        rule.number(),
        rule.title()
    ))
}

/// No rule applies: name the closest one and its exact reason, on its statement.
fn no_rule_fits(loaded: &LoadedModel, verdicts: &[Verdict]) -> FitError {
    // An implicit model is for adversarial training alone: say why that rule refuses it.
    if let Some(v) = verdicts
        .iter()
        .find(|v| v.rule == Rule::Adversarial && !v.applies && v.closeness > 0)
    {
        let message = format!(
            "no inference method fits this model; an `Implicit` model needs rule {}, {}, which does not apply: {}",
            v.rule.number(),
            v.rule.title(),
            v.because
        );
        let diagnostic = match v.span {
            Some(span) => Diagnostic::error(codes::NO_RULE_APPLIES, span, message)
                .with_label("this is what stops it"),
            None => Diagnostic::unplaced(codes::NO_RULE_APPLIES, message),
        };
        return FitError::one(diagnostic, FailureKind::InferenceFailed);
    }
    // A VAE-shaped model (guides and nets) that the recogniser refuses is told why, rather than
    // that nets have no engine.
    let vae_shaped = only_nets_unsupported(&loaded.model)
        && verdicts
            .iter()
            .any(|v| v.rule == Rule::Variational && v.closeness == 2);
    let blocking = loaded
        .model
        .unsupported
        .iter()
        .find(|u| u.feature != Feature::Net);
    if let Some(item) = blocking.filter(|_| !vae_shaped) {
        return FitError::one(unsupported_diagnostic(item), FailureKind::InferenceFailed);
    }
    // The first of the closest verdicts: rules are ordered from the most specific.
    let best = verdicts
        .iter()
        .filter(|v| !v.applies)
        .max_by_key(|v| (v.closeness, std::cmp::Reverse(v.rule.number())));
    let message = match best {
        Some(v) if v.closeness > 0 => format!(
            "no inference method fits this model; the closest is rule {}, {}, which does not apply: {}",
            v.rule.number(),
            v.rule.title(),
            v.because
        ),
        _ => {
            if loaded.model.unknowns().next().is_none() {
                "the model has no unknowns (no `latent` or `param`): there is nothing to infer"
                    .to_string()
            } else {
                "no inference method fits this model".to_string()
            }
        }
    };
    let others: Vec<String> = verdicts
        .iter()
        .filter(|v| Some(*v) != best && v.closeness > 0)
        .map(Verdict::describe)
        .collect();
    let span = best
        .and_then(|v| v.span)
        .or_else(|| loaded.model.terms.first().map(|t| t.span));
    let mut diagnostic = match span {
        Some(span) => Diagnostic::error(codes::NO_RULE_APPLIES, span, message)
            .with_label("this is what stops it"),
        None => Diagnostic::unplaced(codes::NO_RULE_APPLIES, message),
    };
    if !others.is_empty() {
        diagnostic = diagnostic.with_hint(format!("also: {}", others.join("; ")));
    } else if loaded.model.unknowns().next().is_none() {
        diagnostic = diagnostic.with_hint(
            "declare what is unknown with `latent` (posterior inferred) or `param` (point estimate)",
        );
    }
    FitError::one(diagnostic, FailureKind::InferenceFailed)
}

/// A forced method whose rule does not apply.
fn not_applicable(loaded: &LoadedModel, method: Method, verdict: Option<&Verdict>) -> FitError {
    let because = verdict
        .map(|v| {
            format!(
                "rule {} ({}) does not apply: {}",
                v.rule.number(),
                v.rule.title(),
                v.because
            )
        })
        .unwrap_or_else(|| "its rule does not apply".into());
    let message = format!("`--method {method}` cannot fit this model: {because}");
    let span = verdict
        .and_then(|v| v.span)
        .or_else(|| loaded.model.infer.as_ref().map(|i| i.span));
    let diagnostic = match span {
        Some(span) => {
            Diagnostic::error(codes::METHOD_NOT_APPLICABLE, span, message).with_label("this is why")
        }
        None => Diagnostic::unplaced(codes::METHOD_NOT_APPLICABLE, message),
    }
    .with_hint("`--method auto` picks a method that fits, and says why");
    FitError::one(diagnostic, FailureKind::InferenceFailed)
}
