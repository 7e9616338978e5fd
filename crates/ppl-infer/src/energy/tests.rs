//! The RBM engine against brute-force enumeration of every joint state of a tiny RBM
//! (D = 4 visible, H = 3 hidden: 2⁷ states), computed here from the energy alone.

// The reference sums are written index by index, as in their formulas.
#![allow(clippy::needless_range_loop)]

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use super::*;

const D: usize = 4;
const H: usize = 3;

fn tiny() -> Rbm {
    Rbm {
        visible: D,
        hidden: H,
        weights: vec![
            1.2, -0.7, 0.3, //
            -0.4, 0.9, -1.1, //
            0.8, 0.2, -0.6, //
            -1.3, 0.5, 1.0,
        ],
        visible_bias: vec![0.3, -0.5, 0.1, -0.2],
        hidden_bias: vec![-0.3, 0.4, 0.2],
    }
}

fn bits(state: usize, count: usize) -> Vec<f64> {
    (0..count).map(|i| ((state >> i) & 1) as f64).collect()
}

/// E(v, h) = −(Σᵢⱼ vᵢ Wᵢⱼ hⱼ + Σᵢ vᵢ bᵢ + Σⱼ hⱼ cⱼ), straight from the definition.
fn energy(rbm: &Rbm, v: &[f64], h: &[f64]) -> f64 {
    let mut e = 0.0;
    for i in 0..rbm.visible {
        for j in 0..rbm.hidden {
            e -= v[i] * rbm.weights[i * rbm.hidden + j] * h[j];
        }
        e -= v[i] * rbm.visible_bias[i];
    }
    for j in 0..rbm.hidden {
        e -= h[j] * rbm.hidden_bias[j];
    }
    e
}

/// log Σₕ e^{−E(v,h)} by enumeration.
fn log_marginal(rbm: &Rbm, v: &[f64]) -> f64 {
    let terms: Vec<f64> = (0..1 << rbm.hidden)
        .map(|s| -energy(rbm, v, &bits(s, rbm.hidden)))
        .collect();
    log_sum_exp(&terms)
}

fn log_sum_exp(terms: &[f64]) -> f64 {
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln()
}

fn exact_log_partition(rbm: &Rbm) -> f64 {
    let terms: Vec<f64> = (0..1 << rbm.visible)
        .map(|s| log_marginal(rbm, &bits(s, rbm.visible)))
        .collect();
    log_sum_exp(&terms)
}

#[test]
fn block_gibbs_conditionals_match_enumeration() {
    let rbm = tiny();
    for s in 0..1 << D {
        let v = bits(s, D);
        let probabilities = rbm.hidden_probabilities(&v);
        for j in 0..H {
            // p(hⱼ = 1 | v) = Σ_{h: hⱼ=1} e^{−E} / Σₕ e^{−E}.
            let on: Vec<f64> = (0..1 << H)
                .filter(|t| (t >> j) & 1 == 1)
                .map(|t| -energy(&rbm, &v, &bits(t, H)))
                .collect();
            let exact = (log_sum_exp(&on) - log_marginal(&rbm, &v)).exp();
            assert!((probabilities[j] - exact).abs() < 1e-12);
        }
    }
    for t in 0..1 << H {
        let h = bits(t, H);
        let probabilities = rbm.visible_probabilities(&h);
        let all: Vec<f64> = (0..1 << D)
            .map(|s| -energy(&rbm, &bits(s, D), &h))
            .collect();
        for i in 0..D {
            let on: Vec<f64> = (0..1 << D)
                .filter(|s| (s >> i) & 1 == 1)
                .map(|s| -energy(&rbm, &bits(s, D), &h))
                .collect();
            let exact = (log_sum_exp(&on) - log_sum_exp(&all)).exp();
            assert!((probabilities[i] - exact).abs() < 1e-12);
        }
    }
}

#[test]
fn free_energy_and_energy_match_enumeration() {
    let rbm = tiny();
    for s in 0..1 << D {
        let v = bits(s, D);
        assert!((rbm.free_energy(&v) + log_marginal(&rbm, &v)).abs() < 1e-12);
        for t in 0..1 << H {
            let h = bits(t, H);
            assert!((rbm.energy(&v, &h) - energy(&rbm, &v, &h)).abs() < 1e-12);
        }
    }
}

#[test]
fn exact_pseudo_log_likelihood_matches_enumeration() {
    let rbm = tiny();
    let mut data = Vec::new();
    let mut expected = 0.0;
    for s in 0..1 << D {
        let v = bits(s, D);
        for i in 0..D {
            // p(vᵢ | v₋ᵢ) = p(v) / (p(v) + p(v with bit i flipped)).
            let mut flipped = v.clone();
            flipped[i] = 1.0 - flipped[i];
            let own = log_marginal(&rbm, &v);
            let other = log_marginal(&rbm, &flipped);
            expected += own - log_sum_exp(&[own, other]);
        }
        data.extend(v);
    }
    expected /= (1 << D) as f64;
    assert!((rbm.pseudo_log_likelihood(&data) - expected).abs() < 1e-12);
}

#[test]
fn the_training_pseudo_likelihood_in_f32_agrees_with_f64() {
    let data = sample_exactly(&tiny(), 300, 11);
    let problem = RbmProblem {
        data: &data,
        rows: 300,
        visible: D,
        hidden: H,
    };
    let settings = CdSettings {
        epochs: 3,
        ais: AisSettings {
            runs: 0,
            ..AisSettings::default()
        },
        ..CdSettings::default()
    };
    let fit = fit_rbm(&problem, &settings, None).expect("trains");
    let last = *fit.trace.last().expect("a trace");
    assert!(
        (last - fit.pseudo_log_likelihood).abs() < 1e-4,
        "{last} vs {}",
        fit.pseudo_log_likelihood
    );
}

#[test]
fn ais_log_partition_agrees_with_enumeration_within_its_standard_error() {
    let rbm = tiny();
    let exact = exact_log_partition(&rbm);
    let base = vec![0.2, -0.3, 0.0, 0.1];
    for seed in [1, 2, 3] {
        let estimate = ais_log_partition(
            &rbm,
            &base,
            &AisSettings {
                runs: 100,
                temperatures: 1000,
                seed,
            },
        );
        // Four standard errors: a normal deviate beyond that has probability 6e-5.
        let tolerance = 4.0 * estimate.standard_error;
        assert!(
            (estimate.log_partition - exact).abs() < tolerance,
            "seed {seed}: AIS {} ± {} vs exact {exact}",
            estimate.log_partition,
            estimate.standard_error
        );
        assert!(estimate.standard_error > 0.0 && estimate.standard_error < 0.05);
    }
}

/// `rows` exact draws from the RBM's visible marginal, by inverting its cumulative distribution
/// over the 2^D states.
fn sample_exactly(rbm: &Rbm, rows: usize, seed: u64) -> Vec<f64> {
    let log_z = exact_log_partition(rbm);
    let probabilities: Vec<f64> = (0..1 << rbm.visible)
        .map(|s| (log_marginal(rbm, &bits(s, rbm.visible)) - log_z).exp())
        .collect();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut data = Vec::with_capacity(rows * rbm.visible);
    for _ in 0..rows {
        let u: f64 = rng.random();
        let mut cumulative = 0.0;
        let mut state = probabilities.len() - 1;
        for (s, p) in probabilities.iter().enumerate() {
            cumulative += p;
            if u < cumulative {
                state = s;
                break;
            }
        }
        data.extend(bits(state, rbm.visible));
    }
    data
}

fn exact_mean_log_likelihood(rbm: &Rbm, data: &[f64]) -> f64 {
    let log_z = exact_log_partition(rbm);
    let rows = data.len() / rbm.visible;
    data.chunks_exact(rbm.visible)
        .map(|v| log_marginal(rbm, v) - log_z)
        .sum::<f64>()
        / rows as f64
}

#[test]
fn pcd_on_data_from_a_known_rbm_raises_the_likelihood() {
    // The tiny RBM with its couplings tripled, so that its bits are far from independent.
    let mut truth = tiny();
    truth.weights.iter_mut().for_each(|w| *w *= 3.0);
    let rows = 2000;
    let data = sample_exactly(&truth, rows, 5);
    let problem = RbmProblem {
        data: &data,
        rows,
        visible: D,
        hidden: H,
    };
    let short = CdSettings {
        epochs: 1,
        learning_rate: 0.02,
        momentum: 0.5,
        ais: AisSettings {
            runs: 0,
            ..AisSettings::default()
        },
        ..CdSettings::default()
    };
    let long = CdSettings {
        epochs: 100,
        ..short.clone()
    };
    let after_one = fit_rbm(&problem, &short, None).expect("trains");
    let after_many = fit_rbm(&problem, &long, None).expect("trains");
    let start = Rbm {
        weights: vec![0.0; D * H],
        visible_bias: ais::base_rate_bias(&data, D),
        ..Rbm::zeros(D, H)
    };
    let start_ll = exact_mean_log_likelihood(&start, &data);
    let one_ll = exact_mean_log_likelihood(&after_one.rbm, &data);
    let many_ll = exact_mean_log_likelihood(&after_many.rbm, &data);
    let truth_ll = exact_mean_log_likelihood(&truth, &data);
    assert!(
        many_ll > one_ll && many_ll > start_ll + 0.02,
        "independent-bits start {start_ll}, 1 epoch {one_ll}, 100 epochs {many_ll}, truth {truth_ll}"
    );
    // Within 0.02 nats per row of the data-generating RBM (the maximum is at or above it).
    assert!(many_ll > truth_ll - 0.02, "{many_ll} vs truth {truth_ll}");
    // The AIS estimate of the trained model's likelihood agrees with the exact value.
    let with_ais = fit_rbm(
        &problem,
        &CdSettings {
            ais: AisSettings {
                runs: 100,
                temperatures: 1000,
                seed: 9,
            },
            ..long
        },
        None,
    )
    .expect("trains");
    let ais = with_ais.ais.expect("AIS ran");
    let exact = exact_mean_log_likelihood(&with_ais.rbm, &data);
    assert!(
        (ais.log_likelihood_per_row - exact).abs() < 4.0 * ais.standard_error,
        "AIS {} ± {} vs exact {exact}",
        ais.log_likelihood_per_row,
        ais.standard_error
    );
}

#[test]
fn same_seed_same_fit_and_bad_input_is_an_error() {
    let data = sample_exactly(&tiny(), 200, 3);
    let problem = RbmProblem {
        data: &data,
        rows: 200,
        visible: D,
        hidden: H,
    };
    let settings = CdSettings {
        epochs: 2,
        ais: AisSettings {
            runs: 30,
            temperatures: 50,
            seed: 4,
        },
        ..CdSettings::default()
    };
    let a = fit_rbm(&problem, &settings, None).expect("trains");
    let b = fit_rbm(&problem, &settings, None).expect("trains");
    assert_eq!(a.rbm, b.rbm);
    assert_eq!(a.trace, b.trace);
    assert_eq!(a.ais, b.ais);
    let mut bad = data.clone();
    bad[5] = 0.5;
    let problem = RbmProblem {
        data: &bad,
        ..problem
    };
    assert!(matches!(
        fit_rbm(&problem, &settings, None),
        Err(EnergyError::NotBinary {
            row: 1,
            column: 1,
            ..
        })
    ));
    let empty = RbmProblem {
        data: &[],
        rows: 0,
        visible: D,
        hidden: H,
    };
    assert_eq!(
        fit_rbm(&empty, &settings, None).err(),
        Some(EnergyError::NoRows)
    );
}

#[test]
fn gibbs_chains_of_a_peaked_rbm_find_its_mode() {
    // Strong biases make v = (1, 0, 1, 0) nearly certain.
    let rbm = Rbm {
        visible_bias: vec![6.0, -6.0, 6.0, -6.0],
        ..Rbm::zeros(D, H)
    };
    let samples = rbm.sample_visible_probabilities(5, 20, 1);
    for row in samples.chunks_exact(D) {
        assert!(row[0] > 0.99 && row[1] < 0.01 && row[2] > 0.99 && row[3] < 0.01);
    }
}
