//! The inference methods of LANGUAGE.md §6, named once: the checker reads them for `infer`
//! statements, the planner for its rules and the command line for `--method`.

use std::fmt;

/// An inference method, as `--method` and `infer` spell it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// Pick from the model (LANGUAGE.md §6), and say why.
    Auto,
    Em,
    Nuts,
    Hmc,
    Gibbs,
    Metropolis,
    Advi,
    Vae,
    Map,
    Laplace,
    Cd,
    Gan,
}

impl Method {
    /// Every method, in the order the help lists them.
    pub const ALL: [Method; 12] = [
        Method::Auto,
        Method::Em,
        Method::Nuts,
        Method::Hmc,
        Method::Gibbs,
        Method::Metropolis,
        Method::Advi,
        Method::Vae,
        Method::Map,
        Method::Laplace,
        Method::Cd,
        Method::Gan,
    ];

    /// The name used on the command line, in `infer` and in the JSON `method` field.
    pub fn name(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Em => "em",
            Method::Nuts => "nuts",
            Method::Hmc => "hmc",
            Method::Gibbs => "gibbs",
            Method::Metropolis => "metropolis",
            Method::Advi => "advi",
            Method::Vae => "vae",
            Method::Map => "map",
            Method::Laplace => "laplace",
            Method::Cd => "cd",
            Method::Gan => "gan",
        }
    }

    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }

    /// One line on what the method does, for help texts.
    pub fn description(self) -> &'static str {
        match self {
            Method::Auto => "inspect the model, pick a method and say why (LANGUAGE.md §6)",
            Method::Em => "expectation-maximisation for finite mixtures with closed-form M-steps",
            Method::Nuts => "the no-U-turn sampler (HMC with adaptive path length)",
            Method::Hmc => "static Hamiltonian Monte Carlo (fixed integration time)",
            Method::Gibbs => "Gibbs sampling of discrete unknowns from their full conditionals",
            Method::Metropolis => "random-walk Metropolis with adapted proposal scales",
            Method::Advi => "automatic differentiation variational inference (Gaussian guide)",
            Method::Vae => "amortised variational inference with guide networks (a VAE)",
            Method::Map => "the posterior mode (MAP) or maximum likelihood, by L-BFGS",
            Method::Laplace => "a Gaussian at the posterior mode, with draws",
            Method::Cd => "persistent contrastive divergence for energy models (RBM)",
            Method::Gan => "adversarial training of an implicit model with a critic",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
