//! The Gibbs engine on hand-written conditional models with exact answers.

use std::ops::Range;

use rand::{Rng, RngExt};

use super::*;
use crate::diagnostics::{ess_mean, mcse_mean};
use crate::mcmc::SamplerSettings;

/// `z ~ Bernoulli(0.3)`, `x | z ~ Normal(2 z, 1)`, and an observation `y = 1 ~ Normal(x, 1)`:
/// the exact posterior is a two-component mixture. `p(z = 1 | y)` ∝ 0.3 N(1; 2, √2), and
/// `E[x | y] = Σ_z p(z | y) (2 z + 1) / 2`.
#[derive(Clone)]
struct Toy {
    /// Let the engine draw `x` exactly (normal–normal) instead of by the random walk.
    conjugate: bool,
    /// Offer the marginal density of `x` (z summed out): partially collapsed Gibbs.
    collapsed: bool,
    /// Offer the gradient in `x`: NUTS-within-Gibbs.
    differentiable: bool,
}

const PRIOR_ONE: f64 = 0.3;

impl Toy {
    fn log_joint(x: f64, z: i64) -> f64 {
        let prior = if z == 1 { PRIOR_ONE } else { 1.0 - PRIOR_ONE };
        let mean = 2.0 * z as f64;
        prior.ln() - 0.5 * (x - mean).powi(2) - 0.5 * (1.0 - x).powi(2)
    }

    fn exact() -> (f64, f64) {
        // Marginal of y given z: Normal(2 z, sqrt(2)).
        let weight = |z: i64| {
            let prior = if z == 1 { PRIOR_ONE } else { 1.0 - PRIOR_ONE };
            prior * (-(1.0 - 2.0 * z as f64).powi(2) / 4.0).exp()
        };
        let p_one = weight(1) / (weight(0) + weight(1));
        let mean_x = (1.0 - p_one) * 0.5 + p_one * 1.5;
        (p_one, mean_x)
    }
}

impl ConditionalModel for Toy {
    fn continuous_dim(&self) -> usize {
        1
    }
    fn discrete_dim(&self) -> usize {
        1
    }
    fn default_discrete(&self) -> Vec<i64> {
        vec![0]
    }
    fn discrete_blocks(&self) -> usize {
        1
    }
    fn draw_discrete_block<R: Rng + ?Sized>(
        &mut self,
        _block: usize,
        continuous: &[f64],
        discrete: &mut [i64],
        rng: &mut R,
    ) -> Result<(), LogDensityError> {
        let (l0, l1) = (
            Toy::log_joint(continuous[0], 0),
            Toy::log_joint(continuous[0], 1),
        );
        let p_one = 1.0 / (1.0 + (l0 - l1).exp());
        discrete[0] = i64::from(rng.random::<f64>() < p_one);
        Ok(())
    }
    fn conjugate_blocks(&self) -> usize {
        usize::from(self.conjugate)
    }
    fn conjugate_coordinates(&self, _block: usize) -> Range<usize> {
        0..1
    }
    fn conjugate_posterior(
        &mut self,
        _block: usize,
        _continuous: &[f64],
        discrete: &[i64],
    ) -> Result<Option<ConjugatePosterior>, LogDensityError> {
        // Prior N(2z, 1) times likelihood N(1; x, 1): N((2z + 1) / 2, 1/√2).
        Ok(Some(ConjugatePosterior::Normal {
            mean: vec![(2.0 * discrete[0] as f64 + 1.0) / 2.0],
            sd: vec![0.5f64.sqrt()],
        }))
    }
    fn set_conjugate(
        &mut self,
        _block: usize,
        constrained: &[f64],
        continuous: &mut [f64],
    ) -> Result<(), LogDensityError> {
        continuous[0] = constrained[0];
        Ok(())
    }
    fn log_density(
        &mut self,
        continuous: &[f64],
        discrete: &[i64],
    ) -> Result<f64, LogDensityError> {
        Ok(Toy::log_joint(continuous[0], discrete[0]))
    }
    fn sums_out_discrete(&self) -> bool {
        self.collapsed
    }
    fn marginal_log_density(&mut self, continuous: &[f64]) -> Option<Result<f64, LogDensityError>> {
        self.collapsed.then(|| {
            let (l0, l1) = (
                Toy::log_joint(continuous[0], 0),
                Toy::log_joint(continuous[0], 1),
            );
            Ok(l0.max(l1) + (1.0 + (-(l0 - l1).abs()).exp()).ln())
        })
    }
    fn differentiable(&self) -> bool {
        self.differentiable
    }
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
        let x = continuous[0];
        // d/dx of log_joint: -(x - 2z) + (1 - x).
        let slope = |z: i64| -(x - 2.0 * z as f64) + (1.0 - x);
        if marginal {
            let (l0, l1) = (Toy::log_joint(x, 0), Toy::log_joint(x, 1));
            let p_one = 1.0 / (1.0 + (l0 - l1).exp());
            gradient[0] = (1.0 - p_one) * slope(0) + p_one * slope(1);
            return self.marginal_log_density(continuous);
        }
        gradient[0] = slope(discrete[0]);
        Some(Ok(Toy::log_joint(x, discrete[0])))
    }
}

fn settings(seed: u64) -> SamplerSettings {
    SamplerSettings {
        num_warmup: 500,
        num_draws: 4000,
        num_chains: 4,
        seed,
        ..SamplerSettings::default()
    }
}

fn coordinate(chains: &[GibbsChain], index: usize) -> Vec<Vec<f64>> {
    chains.iter().map(|c| c.output.coordinate(index)).collect()
}

fn check_within_mcse(chains: &[Vec<f64>], exact: f64, what: &str) {
    let slices: Vec<&[f64]> = chains.iter().map(|c| c.as_slice()).collect();
    let all: Vec<f64> = chains.iter().flatten().copied().collect();
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    let mcse = mcse_mean(&slices);
    assert!(
        (mean - exact).abs() < 4.0 * mcse,
        "{what}: {mean} vs exact {exact} (MCSE {mcse}, ESS {})",
        ess_mean(&slices)
    );
}

#[test]
fn random_walk_within_gibbs_matches_the_exact_mixture() {
    let chains = sample_chains_gibbs(
        &Toy {
            conjugate: false,
            collapsed: false,
            differentiable: false,
        },
        &settings(11),
        &GibbsSettings::default(),
        &RunControl::default(),
    )
    .expect("runs");
    let (p_one, mean_x) = Toy::exact();
    check_within_mcse(&coordinate(&chains, 0), mean_x, "E[x]");
    check_within_mcse(&coordinate(&chains, 1), p_one, "P(z = 1)");
    let rate = chains[0].acceptance_rate;
    assert!(rate > 0.2 && rate < 0.7, "acceptance {rate}");
}

#[test]
fn partially_collapsed_gibbs_matches_the_exact_mixture() {
    let chains = sample_chains_gibbs(
        &Toy {
            conjugate: false,
            collapsed: true,
            differentiable: false,
        },
        &settings(13),
        &GibbsSettings::default(),
        &RunControl::default(),
    )
    .expect("runs");
    let (p_one, mean_x) = Toy::exact();
    check_within_mcse(&coordinate(&chains, 0), mean_x, "E[x]");
    check_within_mcse(&coordinate(&chains, 1), p_one, "P(z = 1)");
}

#[test]
fn conjugate_within_gibbs_matches_the_exact_mixture_and_draws_every_sweep() {
    let chains = sample_chains_gibbs(
        &Toy {
            conjugate: true,
            collapsed: false,
            differentiable: false,
        },
        &settings(12),
        &GibbsSettings::default(),
        &RunControl::default(),
    )
    .expect("runs");
    let (p_one, mean_x) = Toy::exact();
    check_within_mcse(&coordinate(&chains, 0), mean_x, "E[x]");
    check_within_mcse(&coordinate(&chains, 1), p_one, "P(z = 1)");
    assert!(chains.iter().all(|c| c.conjugate_draws == vec![4000]));
    assert!(chains[0].acceptance_rate.is_nan());
}

#[test]
fn same_seed_same_draws() {
    let run = || {
        sample_chains_gibbs(
            &Toy {
                conjugate: false,
                collapsed: false,
                differentiable: false,
            },
            &SamplerSettings {
                num_warmup: 50,
                num_draws: 50,
                num_chains: 3,
                seed: 5,
                ..SamplerSettings::default()
            },
            &GibbsSettings::default(),
            &RunControl::default(),
        )
        .expect("runs")
    };
    let (a, b) = (run(), run());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.output.draws, y.output.draws);
    }
}

/// Gamma, beta and Dirichlet draws against their closed-form means and variances, each within
/// 4 standard errors of the sample mean (independent draws).
#[test]
fn conjugate_draws_have_the_closed_form_moments() {
    let mut rng = crate::mcmc::chains::chain_rng(3, 0);
    let n = 40_000;
    let check = |draws: &[f64], mean: f64, variance: f64, what: &str| {
        let m = draws.iter().sum::<f64>() / draws.len() as f64;
        let se = (variance / draws.len() as f64).sqrt();
        assert!((m - mean).abs() < 4.0 * se, "{what}: mean {m} vs {mean}");
        let v = draws.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (draws.len() - 1) as f64;
        // The sample variance's standard error, with a fourth moment bounded by 9 variance².
        let se_v = (8.0 * variance * variance / draws.len() as f64).sqrt();
        assert!(
            (v - variance).abs() < 4.0 * se_v,
            "{what}: variance {v} vs {variance}"
        );
    };
    for (shape, rate) in [(0.3, 2.0), (1.0, 1.0), (7.5, 0.5)] {
        let posterior = ConjugatePosterior::Gamma {
            shape: vec![shape],
            rate: vec![rate],
        };
        let draws: Vec<f64> = (0..n)
            .map(|_| posterior.draw(&mut rng).unwrap()[0])
            .collect();
        check(&draws, shape / rate, shape / (rate * rate), "gamma");
    }
    let (a, b) = (2.0, 5.0);
    let posterior = ConjugatePosterior::Beta {
        a: vec![a],
        b: vec![b],
    };
    let draws: Vec<f64> = (0..n)
        .map(|_| posterior.draw(&mut rng).unwrap()[0])
        .collect();
    check(
        &draws,
        a / (a + b),
        a * b / ((a + b).powi(2) * (a + b + 1.0)),
        "beta",
    );
    let alpha = [1.0, 2.0, 3.0];
    let posterior = ConjugatePosterior::Dirichlet {
        concentrations: alpha.to_vec(),
        categories: 3,
    };
    let draws: Vec<Vec<f64>> = (0..n).map(|_| posterior.draw(&mut rng).unwrap()).collect();
    let total: f64 = alpha.iter().sum();
    for (k, a) in alpha.iter().enumerate() {
        let column: Vec<f64> = draws.iter().map(|d| d[k]).collect();
        let mean = a / total;
        check(
            &column,
            mean,
            mean * (1.0 - mean) / (total + 1.0),
            "dirichlet",
        );
    }
    assert!(
        ConjugatePosterior::Gamma {
            shape: vec![-1.0],
            rate: vec![1.0]
        }
        .draw(&mut rng)
        .is_none()
    );
    let _: f64 = rng.random();
}

/// NUTS-within-Gibbs, plain and partially collapsed, against the exact mixture: the mean and
/// second moment of `x` and `P(z = 1)`; NUTS' step size is adapted and the draws report it.
#[test]
fn nuts_within_gibbs_matches_the_exact_mixture() {
    let (p_one, mean_x) = Toy::exact();
    let second_moment = (1.0 - p_one) * (0.25 + 0.5) + p_one * (2.25 + 0.5);
    for (collapsed, seed) in [(false, 21), (true, 22)] {
        let model = Toy {
            conjugate: false,
            collapsed,
            differentiable: true,
        };
        assert!(uses_nuts(&model, &GibbsSettings::default()));
        let chains = sample_chains_gibbs(
            &model,
            &settings(seed),
            &GibbsSettings::default(),
            &RunControl::default(),
        )
        .expect("runs");
        let x = coordinate(&chains, 0);
        check_within_mcse(&x, mean_x, "E[x]");
        let squares: Vec<Vec<f64>> = x
            .iter()
            .map(|c| c.iter().map(|v| v * v).collect())
            .collect();
        check_within_mcse(&squares, second_moment, "E[x²]");
        check_within_mcse(&coordinate(&chains, 1), p_one, "P(z = 1)");
        for chain in &chains {
            assert!(chain.nuts_step_size > 0.1 && chain.nuts_step_size < 5.0);
            assert!(chain.output.stats.iter().all(|s| s.n_leapfrog >= 1));
        }
    }
}
