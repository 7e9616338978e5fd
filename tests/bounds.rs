//! Bounds that use earlier unknowns (LANGUAGE.md §2, issue 10): `latent b: real in (0, 1 - a)`
//! is transformed per draw, `b = low + (high - low) logistic(u)` (or `low + exp(u)`, `high -
//! exp(u)` for one finite end), with `log(high - low)` added to log |J| and the gradient flowing
//! into the bound's ends. Checked against:
//! - a log density written out by hand in this file (transforms, Jacobians, densities) and its
//!   central finite differences;
//! - the uniform distribution on the triangle 0 < b < 1 - a, whose marginals are both Beta(1, 2)
//!   (mean 1/3, sd 1/sqrt(18)), sampled by NUTS; means and sds within 4 MCSE;
//! - a MAP mode inside the bound, known from the priors alone;
//! - `ppl simulate` drawing the truncated prior: every draw inside its bound;
//! - the coded errors for a bound on a later or its own unknown;
//! - an observed variable's bound of data (`observed y: real[N] in (0, hi)`), checked against the
//!   data once: a value on or past its own element's end is E0607 at its cell, and a bound that
//!   reads an unknown is refused (E0306).

mod common;

use std::path::Path;

use ppl_infer::LogDensity;
use ppl_infer::diagnostics::{mcse_mean, mean_sd};
use ppl_infer::mcmc::RunControl;
use ppl_infer::{SamplerSettings, sample_chains};
use ppl_ir::VarId;
use ppl_model::posterior::Posterior;
use ppl_model::tape::{Bindings, Tape, oracle_gradient};

use common::{ppl, scratch};

fn checked(source: &str) -> (ppl_ir::Model, Vec<ppl_syntax::Diagnostic>) {
    let (program, diagnostics) = ppl_syntax::parse(source);
    assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
    ppl_ir::check(&program, source, &Default::default())
}

/// Every kind of expression bound: both ends from unknowns, a vector under scalar ends, one
/// finite end each way.
const EVERY_FORM: &str = "latent a: unit\n\
    latent b: real in (0.1 * a, 1 - a)\n\
    latent c: real[3] in (a, a + b)\n\
    latent d: real in (b, inf)\n\
    latent e: real in (-inf, a)\n\
    a ~ Beta(2, 3)\n\
    b ~ Normal(0.3, 0.2)\n\
    c ~ Normal(0.5, 1)\n\
    d ~ Normal(1, 1)\n\
    e ~ Normal(0, 1)\n";

fn logistic(u: f64) -> f64 {
    1.0 / (1.0 + (-u).exp())
}

fn normal_log_pdf(x: f64, mean: f64, sd: f64) -> f64 {
    -0.5 * (2.0 * std::f64::consts::PI).ln() - sd.ln() - (x - mean).powi(2) / (2.0 * sd * sd)
}

/// The constrained values and the log density of `EVERY_FORM` at an unconstrained position,
/// written out by hand: the reference.
fn every_form_by_hand(u: &[f64; 7]) -> (Vec<f64>, f64) {
    let mut log_jacobian = 0.0;
    let a = logistic(u[0]);
    log_jacobian += a.ln() + (1.0 - a).ln();
    let (low, high) = (0.1 * a, 1.0 - a);
    let v = logistic(u[1]);
    let b = low + (high - low) * v;
    log_jacobian += (high - low).ln() + v.ln() + (1.0 - v).ln();
    let mut c = [0.0; 3];
    for k in 0..3 {
        let v = logistic(u[2 + k]);
        c[k] = a + b * v;
        log_jacobian += b.ln() + v.ln() + (1.0 - v).ln();
    }
    let d = b + u[5].exp();
    let e = a - u[6].exp();
    log_jacobian += u[5] + u[6];
    let beta_2_3 = 12f64.ln() + a.ln() + 2.0 * (1.0 - a).ln();
    let density = beta_2_3
        + normal_log_pdf(b, 0.3, 0.2)
        + c.iter().map(|&x| normal_log_pdf(x, 0.5, 1.0)).sum::<f64>()
        + normal_log_pdf(d, 1.0, 1.0)
        + normal_log_pdf(e, 0.0, 1.0);
    (vec![a, b, c[0], c[1], c[2], d, e], density + log_jacobian)
}

const POINTS: [[f64; 7]; 3] = [
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [-1.2, 0.7, 2.1, -0.4, 0.3, -1.5, 0.8],
    [1.7, -2.2, -1.0, 1.4, -0.6, 0.9, -2.0],
];

#[test]
fn every_bound_form_has_the_hand_written_density_and_its_gradient() {
    let (model, diagnostics) = checked(EVERY_FORM);
    assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
    let bound = ppl_model::bind(&model, None, &[]).unwrap();
    let bindings = Bindings::new(&model, bound.dims.clone());
    let sampled: Vec<VarId> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|name| model.variable(name).unwrap().id)
        .collect();
    let mut tape = Tape::new(&model, &bindings, &sampled, Vec::new()).unwrap();
    assert!(tape.fallback_terms().is_empty());
    assert_eq!(tape.dim(), 7);
    let layout = tape.layout().clone();
    for point in POINTS {
        let (values, expected) = every_form_by_hand(&point);
        let mut gradient = [0.0; 7];
        let value = tape
            .log_density_and_gradient(&point, &mut gradient)
            .unwrap();
        assert!(
            (value - expected).abs() <= 1e-12 * expected.abs().max(1.0),
            "at {point:?}: tape {value} vs by hand {expected}"
        );
        let (oracle_value, oracle) = oracle_gradient(&model, &bindings, &layout, &point).unwrap();
        assert!((oracle_value - expected).abs() <= 1e-12 * expected.abs().max(1.0));
        for i in 0..7 {
            let h = 1e-6;
            let (mut up, mut down) = (point, point);
            up[i] += h;
            down[i] -= h;
            let difference = (every_form_by_hand(&up).1 - every_form_by_hand(&down).1) / (2.0 * h);
            let scale = difference.abs().max(1.0);
            assert!(
                (gradient[i] - difference).abs() <= 1e-6 * scale,
                "at {point:?}, d/du{i}: tape {} vs finite differences {difference}",
                gradient[i]
            );
            assert!(
                (gradient[i] - oracle[i]).abs() <= 1e-9 * scale,
                "at {point:?}, d/du{i}: tape {} vs oracle {}",
                gradient[i],
                oracle[i]
            );
        }
        // The output values are the bounded ones, and they map back to the position.
        let draw = tape.constrain(&point).unwrap();
        let flat: Vec<f64> = draw
            .variables
            .iter()
            .flat_map(|(_, array)| array.values.clone())
            .collect();
        for (got, want) in flat.iter().zip(&values) {
            assert!((got - want).abs() <= 1e-12, "{flat:?} vs {values:?}");
        }
        let per_entry: Vec<Vec<f64>> = draw
            .variables
            .iter()
            .map(|(_, array)| array.values.clone())
            .collect();
        let back = tape.unconstrain(&per_entry).unwrap();
        for (got, want) in back.iter().zip(&point) {
            assert!((got - want).abs() <= 1e-9, "{back:?} vs {point:?}");
        }
    }
    // A value outside its bound at the given earlier values is refused, not mapped.
    let outside = vec![
        vec![0.5],
        vec![0.6],
        vec![0.6, 0.6, 0.6],
        vec![1.0],
        vec![0.0],
    ];
    assert!(tape.unconstrain(&outside).is_err());
}

/// The constrained draws of column `name`: `[chain][draw]`.
fn column(posterior: &Posterior, outputs: &[ppl_infer::ChainOutput], name: &str) -> Vec<Vec<f64>> {
    let index = posterior
        .columns
        .iter()
        .position(|c| c.display == name)
        .unwrap();
    outputs
        .iter()
        .map(|output| {
            (0..output.num_draws())
                .map(|d| posterior.row(output.draw(d)).unwrap()[index])
                .collect()
        })
        .collect()
}

/// Mean and sd of the draws with their MCSEs (the sd's by the delta method on the centred
/// squares).
fn moments(chains: &[Vec<f64>]) -> (f64, f64, f64, f64) {
    let slices: Vec<&[f64]> = chains.iter().map(|c| c.as_slice()).collect();
    let (mean, _) = mean_sd(&slices);
    let mean_mcse = mcse_mean(&slices);
    let squares: Vec<Vec<f64>> = chains
        .iter()
        .map(|c| c.iter().map(|x| (x - mean).powi(2)).collect())
        .collect();
    let square_slices: Vec<&[f64]> = squares.iter().map(|c| c.as_slice()).collect();
    let (variance, _) = mean_sd(&square_slices);
    let sd = variance.sqrt();
    (mean, mean_mcse, sd, mcse_mean(&square_slices) / (2.0 * sd))
}

#[test]
fn the_uniform_triangle_has_beta_1_2_marginals() {
    let source = "latent a: unit\nlatent b: real in (0, 1 - a)\n";
    let (model, diagnostics) = checked(source);
    // Both ends finite: a proper (uniform) prior, no improper-prior warning.
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let bound = ppl_model::bind(&model, None, &[]).unwrap();
    let posterior = Posterior::new(&model, &bound, source).unwrap();
    let settings = SamplerSettings {
        seed: 11,
        ..SamplerSettings::default()
    };
    let outputs = sample_chains(&posterior.tape, &settings, &RunControl::default()).unwrap();
    let divergences: usize = outputs.iter().map(|o| o.divergences).sum();
    assert_eq!(divergences, 0);
    let (exact_mean, exact_sd) = (1.0 / 3.0, (1.0f64 / 18.0).sqrt());
    for name in ["a", "b"] {
        let draws = column(&posterior, &outputs, name);
        let (mean, mean_mcse, sd, sd_mcse) = moments(&draws);
        assert!(
            (mean - exact_mean).abs() < 4.0 * mean_mcse,
            "{name}: mean {mean} ± {mean_mcse} vs {exact_mean}"
        );
        assert!(
            (sd - exact_sd).abs() < 4.0 * sd_mcse,
            "{name}: sd {sd} ± {sd_mcse} vs {exact_sd}"
        );
        // Every draw of b inside its own draw's bound.
        if name == "b" {
            let a = column(&posterior, &outputs, "a");
            for (a_chain, b_chain) in a.iter().zip(&draws) {
                assert!(
                    a_chain
                        .iter()
                        .zip(b_chain)
                        .all(|(a, b)| 0.0 < *b && *b < 1.0 - a)
                );
            }
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// MAP is the mode on the constrained scale, without any Jacobian (the bound's included): with
/// the mode of the priors inside the bound, it is the priors' means. The plan says how `b` is
/// transformed.
#[test]
fn map_finds_a_mode_inside_an_expression_bound() {
    let dir = scratch("map");
    let model = write(
        &dir,
        "map.model",
        "latent a: unit\nlatent b: real in (0, 1 - a)\na ~ Normal(0.3, 0.1)\nb ~ Normal(0.2, 0.1)\n",
    );
    let output = ppl(&["run", &model, "--method", "map", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // The plan names the transform of an expression bound as of a number bound.
    assert_eq!(
        report["plan"]["b"],
        "L-BFGS mode, on the logit scale between bounds evaluated per draw"
    );
    assert_eq!(report["plan"]["a"], "L-BFGS mode, on the logit scale");
    for (name, mode) in [("a", 0.3), ("b", 0.2)] {
        let estimate = report["estimates"][name].as_f64().unwrap();
        assert!(
            (estimate - mode).abs() < 1e-6,
            "{name}: {estimate} vs {mode}"
        );
    }
}

/// `ppl simulate` draws an unknown's prior truncated to its bound, as Stan's semantics has it:
/// `b ~ Normal(0.5, 1)` under `b in (0, 1 - a)` lands inside every time, so `y - (a + b)` is
/// the noise alone.
#[test]
fn simulate_draws_inside_an_expression_bound() {
    let dir = scratch("simulate");
    let model = write(
        &dir,
        "sim.model",
        "observed y: real[N]\nlatent a: unit\nlatent b: real in (0, 1 - a)\n\
         a ~ Beta(2, 2)\nb ~ Normal(0.5, 1)\ny ~ Normal(a + b, 0.001)\n",
    );
    for seed in 1..=20 {
        let out = dir.join(format!("sim{seed}.csv"));
        let output = ppl(&[
            "simulate",
            &model,
            "--n",
            "3",
            "--seed",
            &seed.to_string(),
            "--out",
            &out.to_string_lossy(),
        ]);
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let text = std::fs::read_to_string(&out).unwrap();
        for line in text.lines().skip(1) {
            let y: f64 = line.trim().parse().unwrap();
            // a + b < 1 whatever a is; a + b > 0.
            assert!(y > -0.01 && y < 1.01, "seed {seed}: y = {y}");
        }
    }
}

#[test]
fn a_bound_on_a_later_or_its_own_unknown_is_refused_with_its_reason() {
    let source = "latent b: real in (0, 1 - a)\nlatent a: unit\nlatent c: real in (0, c)\n\
                  latent d: real in (0, [1.0, 2.0])\n";
    let (_, diagnostics) = checked(source);
    let errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert_eq!(errors[0].code, "E0205");
    assert!(errors[0].message.contains("`a`, declared after it"));
    assert_eq!(errors[1].code, "E0205");
    assert!(errors[1].message.contains("`c` itself"));
    assert_eq!(errors[2].code, "E0305");
}

/// `observed y: real[N] in (0, hi)`: inside, the model fits (MAP: the mean of y, the prior being
/// flat); a value on its row's end is E0607 naming the cell and the bound; a bound reading an
/// unknown is E0306 on that expression.
#[test]
fn an_observed_bound_of_data_is_checked_against_the_data() {
    let dir = scratch("observed");
    let model =
        "observed hi: real[N]\nobserved y: real[N] in (0, hi)\nparam mu: real\ny ~ Normal(mu, 1)\n";
    let inside = write(&dir, "inside.csv", "hi,y\n1,0.5\n3,2.5\n2,1.5\n");
    let on_end = write(&dir, "on_end.csv", "hi,y\n1,0.5\n3,2.5\n2,2\n");
    let model_path = write(&dir, "observed.model", model);
    let output = ppl(&["run", &model_path, "--data", &inside, "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mu = report["estimates"]["mu"].as_f64().unwrap();
    assert!((mu - 1.5).abs() < 1e-6, "mu {mu}");

    let output = ppl(&["run", &model_path, "--data", &on_end, "--format", "json"]);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["error"]["code"], "E0607", "{report}");
    let message = report["error"]["message"].as_str().unwrap();
    assert_eq!(
        message,
        "`y` has 2 at row 3 (line 4), column `y`, outside its bound (0, 2)"
    );

    let reads_unknown = write(
        &dir,
        "unknown.model",
        "param mu: real\nobserved y: real[N] in (0, mu + 3)\ny ~ Normal(mu, 1)\n",
    );
    let output = ppl(&["run", &reads_unknown, "--data", &inside, "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["error"]["code"], "E0306", "{report}");
    let span = report["error"]["span"].as_array().unwrap();
    let source = std::fs::read_to_string(&reads_unknown).unwrap();
    let pointed = &source[span[0].as_u64().unwrap() as usize..span[1].as_u64().unwrap() as usize];
    assert_eq!(pointed, "mu + 3");
}
