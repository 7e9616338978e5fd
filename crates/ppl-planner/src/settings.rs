//! Every run setting, defined once: its key, type, default, bounds, help and the methods that
//! read it. The command-line flags (`--max-iters`), the `infer` keys (`max_iters`), `ppl check`'s
//! validation and the help all come from this table, as ripgrep defines each flag once.

use ppl_ir::{InferRequest, Method};
use ppl_syntax::{Diagnostic, codes};

/// A run setting. The closed set of what `--flags` and `infer` keys can change.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Setting {
    Chains,
    Warmup,
    Draws,
    Seed,
    ChainId,
    MaxDepth,
    AdaptDelta,
    Dense,
    Restarts,
    MaxIters,
    Tol,
    RegCovar,
    Epochs,
    BatchSize,
    LearningRate,
    Steps,
    Beta1,
    ElboSamples,
    FullRank,
    TolRelObj,
    LogLik,
    Predict,
    Holdout,
    IwaeSamples,
    GibbsSteps,
    Momentum,
    WeightDecay,
    Metric,
    Save,
}

/// The type and bounds of a setting's value.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum SettingKind {
    /// A whole number in `min..=max`.
    Whole { min: u64, max: u64 },
    /// A real number strictly above `above` (or at it, when `inclusive`) and strictly below
    /// `below`.
    Real {
        above: f64,
        inclusive: bool,
        below: f64,
    },
    /// On or off: a bare flag, or `infer nuts(dense = 1)`.
    Switch,
    /// One of the names (`--metric low-rank`); stored as the name's index, which is also how an
    /// `infer` statement gives it (`infer nuts(metric = 2)`).
    Choice(&'static [&'static str]),
    /// Comma-separated names or globs (`--save 'mu,beta*'`), kept as text beside the numbers
    /// ([`Settings::text`]); the number is unused. Given only as a flag or through the API.
    Patterns,
}

/// The one definition of a setting.
#[derive(Clone, Debug)]
pub struct SettingDef {
    pub setting: Setting,
    /// The `infer` key; the flag is the same with `-` for `_` (`max_iters` → `--max-iters`).
    pub key: &'static str,
    pub kind: SettingKind,
    pub default: f64,
    pub help: &'static str,
    /// The methods that read it (for the help, and to warn about a setting the method ignores).
    pub methods: &'static [Method],
}

const SAMPLERS: &[Method] = &[Method::Nuts, Method::Hmc];
const CHAINED: &[Method] = &[Method::Nuts, Method::Hmc, Method::Gibbs, Method::Metropolis];
const DRAWN: &[Method] = &[
    Method::Nuts,
    Method::Hmc,
    Method::Gibbs,
    Method::Metropolis,
    Method::Advi,
    Method::Laplace,
];
const OPTIMISERS: &[Method] = &[Method::Em, Method::Map, Method::Laplace, Method::Advi];
const SEEDED: &[Method] = &[
    Method::Em,
    Method::Map,
    Method::Nuts,
    Method::Hmc,
    Method::Gibbs,
    Method::Metropolis,
    Method::Advi,
    Method::Laplace,
    Method::Vae,
    Method::Cd,
    Method::Gan,
];
const TRAINED: &[Method] = &[Method::Advi, Method::Vae, Method::Cd, Method::Gan];
/// The methods that write draws or point estimates of named unknowns: the drawn ones and the
/// two that write only point estimates.
const SAVED: &[Method] = &{
    let mut saved = [Method::Map; DRAWN.len() + 2];
    let mut index = 0;
    while index < DRAWN.len() {
        saved[index] = DRAWN[index];
        index += 1;
    }
    saved[DRAWN.len()] = Method::Map;
    saved[DRAWN.len() + 1] = Method::Em;
    saved
};
/// Minibatch training: the VAE, CD and GAN engines.
const TRAINED_LATER: &[Method] = &[Method::Vae, Method::Cd, Method::Gan];

/// The table. Adding a setting is one entry here and one variant of [`Setting`].
pub const SETTINGS: &[SettingDef] = &[
    SettingDef {
        setting: Setting::Chains,
        key: "chains",
        kind: SettingKind::Whole { min: 1, max: 1024 },
        default: 4.0,
        help: "Number of chains, run in parallel",
        methods: CHAINED,
    },
    SettingDef {
        setting: Setting::Warmup,
        key: "warmup",
        kind: SettingKind::Whole {
            min: 0,
            max: 100_000_000,
        },
        default: 1000.0,
        help: "Warmup (adaptation) iterations per chain, not kept; a maximum under the gradient-informed metrics (auto, diag, low-rank), whose warmup ends once the metric and step size settle",
        methods: CHAINED,
    },
    SettingDef {
        setting: Setting::Draws,
        key: "draws",
        kind: SettingKind::Whole {
            min: 1,
            max: 100_000_000,
        },
        default: 1000.0,
        help: "Post-warmup draws kept per chain (ADVI and Laplace: draws from the approximation)",
        methods: DRAWN,
    },
    SettingDef {
        setting: Setting::Seed,
        key: "seed",
        kind: SettingKind::Whole {
            min: 0,
            max: u64::MAX,
        },
        default: 1.0,
        help: "Random seed: the same seed gives the same numbers, whatever the thread count",
        methods: SEEDED,
    },
    SettingDef {
        setting: Setting::ChainId,
        key: "chain_id",
        kind: SettingKind::Whole {
            min: 1,
            max: 1 << 40,
        },
        default: 1.0,
        help: "The id of the first chain (`--chain-id 5` gives chains 5, 6, ...), so that chains run on many machines have distinct random streams and files; merge them with `ppl summary`",
        methods: CHAINED,
    },
    SettingDef {
        setting: Setting::MaxDepth,
        key: "max_depth",
        kind: SettingKind::Whole { min: 1, max: 30 },
        default: 10.0,
        help: "NUTS: the maximum tree depth (at most 2^depth leapfrog steps per draw)",
        methods: &[Method::Nuts],
    },
    SettingDef {
        setting: Setting::AdaptDelta,
        key: "adapt_delta",
        kind: SettingKind::Real {
            above: 0.0,
            inclusive: false,
            below: 1.0,
        },
        default: 0.8,
        help: "The target acceptance statistic of step-size adaptation (Stan's adapt_delta)",
        methods: SAMPLERS,
    },
    SettingDef {
        setting: Setting::Dense,
        key: "dense",
        kind: SettingKind::Switch,
        default: 0.0,
        help: "Adapt a dense mass matrix (full covariance) instead of a diagonal one (the same as --metric dense)",
        methods: SAMPLERS,
    },
    SettingDef {
        setting: Setting::Metric,
        key: "metric",
        kind: SettingKind::Choice(&ppl_infer::mcmc::MetricKind::NAMES),
        default: 0.0,
        help: "The mass matrix: auto (learnt from draws and gradients: a diagonal, corrected where it is wrong, densely for a small model unless the posterior is curved; warmup ends once it settles, so --warmup is a maximum), diag, low-rank (nutpie's), dense or stan (Stan's windowed diagonal)",
        methods: SAMPLERS,
    },
    SettingDef {
        setting: Setting::Restarts,
        key: "restarts",
        kind: SettingKind::Whole {
            min: 1,
            max: 100_000,
        },
        default: 1.0,
        help: "Independent starts (k-means++ for EM, random for MAP); the best wins",
        methods: OPTIMISERS,
    },
    SettingDef {
        setting: Setting::MaxIters,
        key: "max_iters",
        kind: SettingKind::Whole {
            min: 1,
            max: 100_000_000,
        },
        default: 1000.0,
        help: "Maximum iterations per start (ADVI: Adam steps)",
        methods: OPTIMISERS,
    },
    SettingDef {
        setting: Setting::Tol,
        key: "tol",
        kind: SettingKind::Real {
            above: 0.0,
            inclusive: false,
            below: f64::INFINITY,
        },
        default: 1e-8,
        help: "EM: convergence tolerance on the change of the mean log-likelihood per point",
        methods: &[Method::Em],
    },
    SettingDef {
        setting: Setting::RegCovar,
        key: "reg_covar",
        kind: SettingKind::Real {
            above: 0.0,
            inclusive: true,
            below: f64::INFINITY,
        },
        default: 1e-6,
        help: "EM: added to variances and covariance diagonals at each M-step (scikit-learn's reg_covar)",
        methods: &[Method::Em],
    },
    SettingDef {
        setting: Setting::Epochs,
        key: "epochs",
        kind: SettingKind::Whole {
            min: 1,
            max: 10_000_000,
        },
        default: 200.0,
        help: "Passes over the data (stochastic optimisation)",
        methods: TRAINED_LATER,
    },
    SettingDef {
        setting: Setting::BatchSize,
        key: "batch_size",
        kind: SettingKind::Whole {
            min: 1,
            max: 100_000_000,
        },
        default: 100.0,
        help: "Minibatch size over the plate; the likelihood is scaled by N/B",
        methods: TRAINED_LATER,
    },
    SettingDef {
        setting: Setting::LearningRate,
        key: "lr",
        kind: SettingKind::Real {
            above: 0.0,
            inclusive: false,
            below: f64::INFINITY,
        },
        default: 1e-3,
        help: "Adam's learning rate (ADVI: chosen by short trial runs unless given)",
        methods: TRAINED,
    },
    SettingDef {
        setting: Setting::Steps,
        key: "steps",
        kind: SettingKind::Whole {
            min: 1,
            max: 100_000_000,
        },
        default: 5000.0,
        help: "GAN: training steps (one critic and one generator update each); when given, it replaces --epochs",
        methods: &[Method::Gan],
    },
    SettingDef {
        setting: Setting::Beta1,
        key: "beta1",
        kind: SettingKind::Real {
            above: 0.0,
            inclusive: true,
            below: 1.0,
        },
        default: 0.5,
        help: "GAN: Adam's first-moment decay for both nets (0.5, as in DCGAN, steadies the alternating updates)",
        methods: &[Method::Gan],
    },
    SettingDef {
        setting: Setting::ElboSamples,
        key: "elbo_samples",
        kind: SettingKind::Whole {
            min: 1,
            max: 100_000,
        },
        default: 1.0,
        help: "Monte-Carlo draws from the guide per ELBO gradient",
        methods: &[Method::Advi, Method::Vae],
    },
    SettingDef {
        setting: Setting::FullRank,
        key: "full_rank",
        kind: SettingKind::Switch,
        default: 0.0,
        help: "ADVI: a full-rank Gaussian guide (correlations) instead of mean-field",
        methods: &[Method::Advi],
    },
    SettingDef {
        setting: Setting::TolRelObj,
        key: "tol_rel_obj",
        kind: SettingKind::Real {
            above: 0.0,
            inclusive: false,
            below: f64::INFINITY,
        },
        default: 1e-4,
        help: "ADVI: stop when the mean or median relative change of the ELBO falls below this (Stan's tol_rel_obj, whose default 0.01 stops long before the guide's spread has settled)",
        methods: &[Method::Advi],
    },
    SettingDef {
        setting: Setting::LogLik,
        key: "log_lik",
        kind: SettingKind::Switch,
        default: 0.0,
        help: "Add pointwise log-likelihood columns `log_lik[n]` to the draws, for `ppl loo` and `ppl compare`",
        methods: DRAWN,
    },
    SettingDef {
        setting: Setting::Predict,
        key: "predict",
        kind: SettingKind::Switch,
        default: 0.0,
        help: "Add posterior predictive columns `y_rep[...]` for every observed `y`, drawn per draw",
        methods: DRAWN,
    },
    SettingDef {
        setting: Setting::Holdout,
        key: "holdout",
        kind: SettingKind::Whole {
            min: 0,
            max: 100_000_000,
        },
        default: 0.0,
        help: "VAE: the last rows of the data, never trained on, on which the test ELBO and IWAE bound are reported",
        methods: &[Method::Vae],
    },
    SettingDef {
        setting: Setting::IwaeSamples,
        key: "iwae_samples",
        kind: SettingKind::Whole {
            min: 1,
            max: 1_000_000,
        },
        default: 100.0,
        help: "VAE: draws K of the importance-weighted bound (IWAE-K) and of the reported ELBOs",
        methods: &[Method::Vae],
    },
    SettingDef {
        setting: Setting::GibbsSteps,
        key: "k",
        kind: SettingKind::Whole {
            min: 1,
            max: 10_000,
        },
        default: 1.0,
        help: "CD: block-Gibbs sweeps of the persistent chains per update (PCD-k)",
        methods: &[Method::Cd],
    },
    SettingDef {
        setting: Setting::Momentum,
        key: "momentum",
        kind: SettingKind::Real {
            above: 0.0,
            inclusive: true,
            below: 1.0,
        },
        default: 0.0,
        help: "CD: classical momentum of the parameter updates (0 is plain stochastic gradient, as scikit-learn's BernoulliRBM)",
        methods: &[Method::Cd],
    },
    SettingDef {
        setting: Setting::WeightDecay,
        key: "weight_decay",
        kind: SettingKind::Real {
            above: 0.0,
            inclusive: true,
            below: f64::INFINITY,
        },
        default: 0.0,
        help: "CD: L2 weight decay on the coupling weights (not the biases)",
        methods: &[Method::Cd],
    },
    SettingDef {
        setting: Setting::Save,
        key: "save",
        kind: SettingKind::Patterns,
        default: 0.0,
        help: "The unknowns and `let`s written to the draws, summary and estimates: comma-separated names or globs (`mu,sigma,beta*`); lp__, the sampler columns and the --log-lik/--predict columns are always written. Unset, every unknown and every `let` that depends on one is written, except a `local let`",
        methods: SAVED,
    },
];

impl Setting {
    pub fn def(self) -> &'static SettingDef {
        // Every variant has exactly one entry (a test checks it), so the search cannot fail;
        // the fallback keeps this total without a panic path.
        SETTINGS
            .iter()
            .find(|d| d.setting == self)
            .unwrap_or(&SETTINGS[0])
    }

    pub fn from_key(key: &str) -> Option<Setting> {
        SETTINGS.iter().find(|d| d.key == key).map(|d| d.setting)
    }

    /// The command-line flag without its dashes: `max-iters`.
    pub fn flag(self) -> String {
        self.def().key.replace('_', "-")
    }
}

impl SettingDef {
    /// The default as a user would write it.
    pub fn default_text(&self) -> String {
        match self.kind {
            SettingKind::Switch => (if self.default != 0.0 { "on" } else { "off" }).into(),
            SettingKind::Patterns => "all".into(),
            SettingKind::Choice(names) => names
                .get(self.default as usize)
                .copied()
                .unwrap_or_default()
                .into(),
            SettingKind::Whole { .. } => format!("{}", self.default as u64),
            SettingKind::Real { .. } if self.default != 0.0 && self.default.abs() < 1e-3 => {
                format!("{:e}", self.default)
            }
            SettingKind::Real { .. } => format!("{}", self.default),
        }
    }

    /// What values are allowed, for messages and help.
    pub fn bounds_text(&self) -> String {
        match self.kind {
            SettingKind::Switch => "on or off (1 or 0)".into(),
            SettingKind::Patterns => "comma-separated names or globs, given as a flag".into(),
            SettingKind::Choice(names) => format!(
                "one of {} (in an `infer` statement, its position from 0)",
                names.join(", ")
            ),
            SettingKind::Whole { min, max } if max == u64::MAX => {
                format!("a whole number of at least {min}")
            }
            SettingKind::Whole { min, max } => format!("a whole number from {min} to {max}"),
            SettingKind::Real {
                above,
                inclusive,
                below,
            } => {
                let low = if inclusive {
                    format!("at least {above}")
                } else {
                    format!("above {above}")
                };
                if below.is_finite() {
                    format!("a number {low} and below {below}")
                } else {
                    format!("a number {low}")
                }
            }
        }
    }

    /// Checks a value against the type and bounds; the error says what is allowed.
    pub fn validate(&self, value: f64) -> Result<f64, String> {
        if self.kind == SettingKind::Patterns {
            // Only the default (unset) is a number: the patterns themselves are text.
            return if value == self.default {
                Ok(value)
            } else {
                Err(format!(
                    "`{}` takes names, not a number: give them as a flag (`--{} 'mu,beta*'`)",
                    self.key,
                    self.setting.flag()
                ))
            };
        }
        let ok = match self.kind {
            SettingKind::Patterns => false,
            SettingKind::Switch => value == 0.0 || value == 1.0,
            SettingKind::Choice(names) => {
                value.fract() == 0.0 && value >= 0.0 && value < names.len() as f64
            }
            SettingKind::Whole { min, max } => {
                value.fract() == 0.0 && value >= min as f64 && value <= max as f64
            }
            SettingKind::Real {
                above,
                inclusive,
                below,
            } => {
                value.is_finite()
                    && (value > above || (inclusive && value == above))
                    && value < below
            }
        };
        if ok {
            Ok(value)
        } else {
            Err(format!(
                "`{}` must be {}, not {value}",
                self.key,
                self.bounds_text()
            ))
        }
    }
}

/// The metric a run asked for: `--metric`, or `--dense` when no metric was named.
pub fn metric_kind(settings: &Settings) -> ppl_infer::mcmc::MetricKind {
    use ppl_infer::mcmc::MetricKind;
    let named = MetricKind::NAMES
        .get(settings.count(Setting::Metric))
        .and_then(|name| MetricKind::from_name(name))
        .unwrap_or_default();
    if settings.switch(Setting::Dense) && settings.origin(Setting::Metric) == Origin::Default {
        MetricKind::Dense
    } else {
        named
    }
}

/// Where a setting's value came from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Default,
    /// The model's `infer` statement.
    Model,
    /// A command-line flag, or a program setting it through the API.
    Given,
}

/// The settings of one run: the method and every [`Setting`], each with where it came from.
#[derive(Clone, Debug)]
pub struct Settings {
    pub method: Method,
    pub method_origin: Origin,
    values: Vec<(f64, Origin)>,
    /// The text of the settings given as text (`SettingKind::Patterns`).
    texts: Vec<(Setting, String)>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            method: Method::Auto,
            method_origin: Origin::Default,
            values: SETTINGS
                .iter()
                .map(|d| (d.default, Origin::Default))
                .collect(),
            texts: Vec::new(),
        }
    }
}

impl Settings {
    fn index(setting: Setting) -> usize {
        SETTINGS
            .iter()
            .position(|d| d.setting == setting)
            .unwrap_or(0)
    }

    /// Sets a value (checked against its bounds), as a flag or a program would.
    pub fn set(&mut self, setting: Setting, value: f64) -> Result<&mut Self, String> {
        let value = setting.def().validate(value)?;
        self.values[Self::index(setting)] = (value, Origin::Given);
        Ok(self)
    }

    /// Sets a text setting (`--save 'mu,beta*'`): the patterns are checked for form here, and
    /// against the model's names when the run starts.
    pub fn set_text(&mut self, setting: Setting, text: &str) -> Result<&mut Self, String> {
        if setting.def().kind != SettingKind::Patterns {
            return Err(format!("`{}` takes a number, not text", setting.def().key));
        }
        crate::selection::parse_patterns(text)?;
        self.texts.retain(|(s, _)| *s != setting);
        self.texts.push((setting, text.to_string()));
        let index = Self::index(setting);
        self.values[index].1 = Origin::Given;
        Ok(self)
    }

    /// The text of a text setting, when one was given.
    pub fn text(&self, setting: Setting) -> Option<&str> {
        self.texts
            .iter()
            .find(|(s, _)| *s == setting)
            .map(|(_, text)| text.as_str())
    }

    pub fn with_method(mut self, method: Method) -> Self {
        self.method = method;
        self.method_origin = Origin::Given;
        self
    }

    pub fn get(&self, setting: Setting) -> f64 {
        self.values[Self::index(setting)].0
    }

    pub fn origin(&self, setting: Setting) -> Origin {
        self.values[Self::index(setting)].1
    }

    /// A whole-number setting (bounds checked on the way in, so it fits).
    pub fn count(&self, setting: Setting) -> usize {
        self.get(setting) as usize
    }

    pub fn whole(&self, setting: Setting) -> u64 {
        self.get(setting) as u64
    }

    pub fn switch(&self, setting: Setting) -> bool {
        self.get(setting) != 0.0
    }

    /// Fills what was not given from the model's `infer` statement: its method (unless one was
    /// given) and its settings. Keys and values are validated with spans on the model text.
    pub fn with_model(mut self, infer: Option<&InferRequest>) -> Result<Self, Vec<Diagnostic>> {
        let Some(infer) = infer else {
            return Ok(self);
        };
        let diagnostics = check_infer(infer);
        if diagnostics.iter().any(Diagnostic::is_error) {
            return Err(diagnostics);
        }
        if self.method_origin != Origin::Given && infer.method != Method::Auto {
            self.method = infer.method;
            self.method_origin = Origin::Model;
        }
        for item in &infer.settings {
            if let Some(setting) = Setting::from_key(&item.key) {
                let slot = &mut self.values[Self::index(setting)];
                if slot.1 != Origin::Given {
                    *slot = (item.value, Origin::Model);
                }
            }
        }
        Ok(self)
    }
}

/// Validates an `infer` statement's keys and values: an unknown key, a value of the wrong type
/// or out of bounds is an error on its text; a key the named method does not read is a warning.
pub fn check_infer(infer: &InferRequest) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for item in &infer.settings {
        let Some(setting) = Setting::from_key(&item.key) else {
            let keys = SETTINGS.iter().map(|d| d.key);
            let hint = match ppl_syntax::diagnostic::closest(&item.key, keys.clone()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "the settings are: {} (`ppl help settings`)",
                    keys.collect::<Vec<_>>().join(", ")
                ),
            };
            out.push(
                Diagnostic::error(
                    codes::BAD_SETTING,
                    item.key_span,
                    format!("`infer` has no setting `{}`", item.key),
                )
                .with_label("unknown setting")
                .with_hint(hint),
            );
            continue;
        };
        let def = setting.def();
        if let Err(message) = def.validate(item.value) {
            out.push(
                Diagnostic::error(codes::BAD_SETTING, item.value_span, message)
                    .with_label("not allowed here")
                    .with_hint(format!("{}: {}", def.key, def.help)),
            );
            continue;
        }
        if infer.method != Method::Auto && !def.methods.contains(&infer.method) {
            out.push(
                Diagnostic::warning(
                    codes::SETTING_IGNORED,
                    item.key_span,
                    format!(
                        "`{}` does not apply to {}: it is ignored",
                        def.key, infer.method
                    ),
                )
                .with_label("ignored")
                .with_hint(format!(
                    "`{}` is read by {}",
                    def.key,
                    def.methods
                        .iter()
                        .map(|m| m.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
        }
    }
    out
}

/// `ppl help settings`: every setting with its flag, default, bounds and methods.
pub fn help_text() -> String {
    let mut out = String::from(
        "Settings: a flag of `ppl run` (`--max-iters 500`) or a key of the model's `infer` statement\n(`infer em(max_iters = 500)`); a flag overrides the model, which overrides the default.\n\n",
    );
    for def in SETTINGS {
        out.push_str(&format!(
            "  --{:<14} {:<12} default {}; {}\n  {:16} {:<12} {}. Methods: {}\n\n",
            def.setting.flag(),
            def.key,
            def.default_text(),
            def.bounds_text(),
            "",
            "",
            def.help,
            def.methods
                .iter()
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_defined_once() {
        for (index, def) in SETTINGS.iter().enumerate() {
            assert_eq!(Settings::index(def.setting), index, "{}", def.key);
            assert_eq!(Setting::from_key(def.key), Some(def.setting));
            assert!(def.validate(def.default).is_ok(), "default of {}", def.key);
        }
    }

    #[test]
    fn bounds_are_enforced() {
        let mut settings = Settings::default();
        assert!(settings.set(Setting::Chains, 0.0).is_err());
        assert!(settings.set(Setting::Chains, 1e30).is_err());
        assert!(settings.set(Setting::Chains, 2.5).is_err());
        assert!(settings.set(Setting::AdaptDelta, 1.0).is_err());
        assert!(settings.set(Setting::RegCovar, 0.0).is_ok());
        assert!(settings.set(Setting::Tol, 0.0).is_err());
        settings.set(Setting::Chains, 2.0).unwrap();
        assert_eq!(settings.count(Setting::Chains), 2);
        assert_eq!(settings.origin(Setting::Chains), Origin::Given);
        assert_eq!(settings.count(Setting::Draws), 1000);
    }
}
