//! What each distribution is called in the language, which parameterisations it has, its
//! argument names and ranks, and its support: the table the checker resolves `Dist(args)` against.
//! Names and parameter orders follow Stan's functions reference (LANGUAGE.md §4).

/// One parameterisation of one distribution: the closed set the numerical kernels implement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DistKind {
    Normal,
    HalfNormal,
    LogNormal,
    StudentT,
    Cauchy,
    HalfCauchy,
    Laplace,
    Exponential,
    Gamma,
    InvGamma,
    Beta,
    Uniform,
    Weibull,
    Bernoulli,
    BernoulliLogit,
    Binomial,
    BinomialLogit,
    Poisson,
    PoissonLog,
    NegBinomial,
    Categorical,
    CategoricalLogits,
    Dirichlet,
    Multinomial,
    MvNormalCov,
    MvNormalCholesky,
    LkjCholesky,
}

/// Where a distribution puts its mass; the checker compares it with the variate's declared type
/// and the data loader checks observed values against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Support {
    /// All reals.
    Real,
    /// `x > 0`.
    Positive,
    /// `x >= 0` (Exponential, HalfNormal, HalfCauchy).
    NonNegative,
    /// `0 < x < 1`.
    Unit,
    /// `lower <= x <= upper`, from the first two parameters (Uniform).
    ParameterInterval,
    /// `{0, 1}`; bool or int variates.
    Binary,
    /// `{0, 1, 2, ...}`.
    Count,
    /// `{0, ..., n}` with `n` the first parameter (Binomial).
    CountUpToFirstParameter,
    /// `{1, ..., K}` with K the length of the probability vector.
    Category,
    /// A real vector (MvNormal).
    RealVector,
    /// A simplex (Dirichlet).
    Simplex,
    /// A vector of counts (Multinomial).
    CountVector,
    /// A Cholesky factor of a correlation matrix (LKJCholesky).
    CholeskyCorrelation,
}

impl Support {
    /// The support in words, for help texts.
    pub fn describe(self) -> &'static str {
        match self {
            Support::Real => "real",
            Support::Positive => "x > 0",
            Support::NonNegative => "x >= 0",
            Support::Unit => "0 < x < 1",
            Support::ParameterInterval => "lower <= x <= upper",
            Support::Binary => "0 or 1 (int or bool)",
            Support::Count => "0, 1, 2, ... (int)",
            Support::CountUpToFirstParameter => "0, ..., n (int)",
            Support::Category => "1, ..., K (int)",
            Support::RealVector => "a real vector",
            Support::Simplex => "a simplex",
            Support::CountVector => "a vector of counts summing to n",
            Support::CholeskyCorrelation => "a Cholesky factor of a correlation matrix",
        }
    }

    /// Whether variates are integers (int or bool).
    pub fn is_discrete(self) -> bool {
        matches!(
            self,
            Support::Binary
                | Support::Count
                | Support::CountUpToFirstParameter
                | Support::Category
                | Support::CountVector
        )
    }
}

/// One parameter: its primary name, other accepted keyword spellings, and its event rank (0 a
/// scalar, 1 a vector, 2 a matrix), beyond which axes are batch axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub rank: usize,
    /// Whether the parameter must be an int (Binomial's `n`).
    pub integer: bool,
}

impl ParamSpec {
    pub fn answers_to(&self, keyword: &str) -> bool {
        self.name == keyword || self.aliases.contains(&keyword)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Parameterisation {
    pub kind: DistKind,
    pub params: &'static [ParamSpec],
}

/// A distribution as the language names it (`Bernoulli`), with its parameterisations: the first is
/// the one positional arguments select; a keyword (`logit = eta`) selects the one that has it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Family {
    pub name: &'static str,
    pub parameterisations: &'static [Parameterisation],
    pub support: Support,
    /// Rank of one variate (0 scalar, 1 vector, 2 matrix).
    pub variate_rank: usize,
}

const fn p(name: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        aliases: &[],
        rank: 0,
        integer: false,
    }
}
const fn pa(name: &'static str, aliases: &'static [&'static str], rank: usize) -> ParamSpec {
    ParamSpec {
        name,
        aliases,
        rank,
        integer: false,
    }
}

macro_rules! one {
    ($kind:ident, [$($param:expr),*]) => {
        &[Parameterisation { kind: DistKind::$kind, params: &[$($param),*] }]
    };
}

static FAMILIES: &[Family] = &[
    Family {
        name: "Normal",
        parameterisations: one!(Normal, [p("mu"), p("sigma")]),
        support: Support::Real,
        variate_rank: 0,
    },
    Family {
        name: "HalfNormal",
        parameterisations: one!(HalfNormal, [p("sigma")]),
        support: Support::NonNegative,
        variate_rank: 0,
    },
    Family {
        name: "LogNormal",
        parameterisations: one!(LogNormal, [p("mu"), p("sigma")]),
        support: Support::Positive,
        variate_rank: 0,
    },
    Family {
        name: "StudentT",
        parameterisations: one!(StudentT, [p("nu"), p("mu"), p("sigma")]),
        support: Support::Real,
        variate_rank: 0,
    },
    Family {
        name: "Cauchy",
        parameterisations: one!(Cauchy, [p("mu"), p("sigma")]),
        support: Support::Real,
        variate_rank: 0,
    },
    Family {
        name: "HalfCauchy",
        parameterisations: one!(HalfCauchy, [p("sigma")]),
        support: Support::NonNegative,
        variate_rank: 0,
    },
    Family {
        name: "Laplace",
        parameterisations: one!(Laplace, [p("mu"), p("sigma")]),
        support: Support::Real,
        variate_rank: 0,
    },
    Family {
        name: "Exponential",
        parameterisations: one!(Exponential, [p("rate")]),
        support: Support::NonNegative,
        variate_rank: 0,
    },
    Family {
        name: "Gamma",
        parameterisations: one!(Gamma, [p("shape"), p("rate")]),
        support: Support::Positive,
        variate_rank: 0,
    },
    Family {
        name: "InvGamma",
        parameterisations: one!(InvGamma, [p("shape"), p("scale")]),
        support: Support::Positive,
        variate_rank: 0,
    },
    Family {
        name: "Beta",
        parameterisations: one!(Beta, [p("alpha"), p("beta")]),
        support: Support::Unit,
        variate_rank: 0,
    },
    Family {
        name: "Uniform",
        parameterisations: one!(Uniform, [p("lower"), p("upper")]),
        support: Support::ParameterInterval,
        variate_rank: 0,
    },
    Family {
        name: "Weibull",
        parameterisations: one!(Weibull, [p("shape"), p("scale")]),
        support: Support::NonNegative,
        variate_rank: 0,
    },
    Family {
        name: "Bernoulli",
        parameterisations: &[
            Parameterisation {
                kind: DistKind::Bernoulli,
                params: &[pa("p", &["theta", "prob", "probs"], 0)],
            },
            Parameterisation {
                kind: DistKind::BernoulliLogit,
                params: &[pa("logit", &["logits"], 0)],
            },
        ],
        support: Support::Binary,
        variate_rank: 0,
    },
    Family {
        name: "Binomial",
        parameterisations: &[
            Parameterisation {
                kind: DistKind::Binomial,
                params: &[
                    ParamSpec {
                        name: "n",
                        aliases: &[],
                        rank: 0,
                        integer: true,
                    },
                    pa("p", &["theta", "prob", "probs"], 0),
                ],
            },
            Parameterisation {
                kind: DistKind::BinomialLogit,
                params: &[
                    ParamSpec {
                        name: "n",
                        aliases: &[],
                        rank: 0,
                        integer: true,
                    },
                    pa("logit", &["logits"], 0),
                ],
            },
        ],
        support: Support::CountUpToFirstParameter,
        variate_rank: 0,
    },
    Family {
        name: "Poisson",
        parameterisations: &[
            Parameterisation {
                kind: DistKind::Poisson,
                params: &[pa("lambda", &["rate"], 0)],
            },
            Parameterisation {
                kind: DistKind::PoissonLog,
                params: &[pa("log_rate", &["log_lambda"], 0)],
            },
        ],
        support: Support::Count,
        variate_rank: 0,
    },
    Family {
        name: "NegBinomial",
        parameterisations: one!(NegBinomial, [p("mu"), p("phi")]),
        support: Support::Count,
        variate_rank: 0,
    },
    Family {
        name: "Categorical",
        parameterisations: &[
            Parameterisation {
                kind: DistKind::Categorical,
                params: &[pa("p", &["theta", "prob", "probs"], 1)],
            },
            Parameterisation {
                kind: DistKind::CategoricalLogits,
                params: &[pa("logits", &["logit"], 1)],
            },
        ],
        support: Support::Category,
        variate_rank: 0,
    },
    Family {
        name: "Dirichlet",
        parameterisations: one!(Dirichlet, [pa("alpha", &[], 1)]),
        support: Support::Simplex,
        variate_rank: 1,
    },
    Family {
        name: "Multinomial",
        parameterisations: one!(Multinomial, [pa("p", &["theta", "prob", "probs"], 1)]),
        support: Support::CountVector,
        variate_rank: 1,
    },
    Family {
        name: "MvNormal",
        parameterisations: &[
            Parameterisation {
                kind: DistKind::MvNormalCov,
                params: &[pa("mu", &[], 1), pa("cov", &["Sigma"], 2)],
            },
            Parameterisation {
                kind: DistKind::MvNormalCholesky,
                params: &[pa("mu", &[], 1), pa("chol", &["L"], 2)],
            },
        ],
        support: Support::RealVector,
        variate_rank: 1,
    },
    Family {
        name: "LKJCholesky",
        parameterisations: one!(LkjCholesky, [p("eta")]),
        support: Support::CholeskyCorrelation,
        variate_rank: 2,
    },
];

/// Every distribution the language knows.
pub fn families() -> &'static [Family] {
    FAMILIES
}

/// The distribution called `name` in the language, if any.
pub fn family(name: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.name == name)
}

impl DistKind {
    /// The family this parameterisation belongs to.
    pub fn family(self) -> &'static Family {
        FAMILIES
            .iter()
            .find(|f| f.parameterisations.iter().any(|p| p.kind == self))
            .expect("every DistKind is in the catalogue")
    }
    /// Whether the variate and every parameter are scalars: the kinds the generic
    /// `density::scalar_log_density` kernel handles.
    pub fn is_scalar(self) -> bool {
        self.family().variate_rank == 0
            && self.parameterisation().params.iter().all(|p| p.rank == 0)
    }
    /// Every kind, in declaration order.
    pub const ALL: [DistKind; 27] = [
        DistKind::Normal,
        DistKind::HalfNormal,
        DistKind::LogNormal,
        DistKind::StudentT,
        DistKind::Cauchy,
        DistKind::HalfCauchy,
        DistKind::Laplace,
        DistKind::Exponential,
        DistKind::Gamma,
        DistKind::InvGamma,
        DistKind::Beta,
        DistKind::Uniform,
        DistKind::Weibull,
        DistKind::Bernoulli,
        DistKind::BernoulliLogit,
        DistKind::Binomial,
        DistKind::BinomialLogit,
        DistKind::Poisson,
        DistKind::PoissonLog,
        DistKind::NegBinomial,
        DistKind::Categorical,
        DistKind::CategoricalLogits,
        DistKind::Dirichlet,
        DistKind::Multinomial,
        DistKind::MvNormalCov,
        DistKind::MvNormalCholesky,
        DistKind::LkjCholesky,
    ];
    pub fn parameterisation(self) -> &'static Parameterisation {
        self.family()
            .parameterisations
            .iter()
            .find(|p| p.kind == self)
            .expect("every DistKind is in the catalogue")
    }
}

impl Family {
    /// A human signature for hints: "`Normal` takes (mu, sigma)".
    pub fn signature(&self) -> String {
        let forms: Vec<String> = self
            .parameterisations
            .iter()
            .map(|p| {
                let names: Vec<&str> = p.params.iter().map(|s| s.name).collect();
                format!("({})", names.join(", "))
            })
            .collect();
        format!("`{}` takes {}", self.name, forms.join(" or "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_in_exactly_one_family() {
        for family in families() {
            for parameterisation in family.parameterisations {
                assert_eq!(parameterisation.kind.family().name, family.name);
            }
        }
        assert_eq!(
            family("Normal").unwrap().signature(),
            "`Normal` takes (mu, sigma)"
        );
        let listed: usize = families().iter().map(|f| f.parameterisations.len()).sum();
        assert_eq!(listed, DistKind::ALL.len());
        for kind in DistKind::ALL {
            assert_eq!(kind.parameterisation().kind, kind);
        }
    }
}
