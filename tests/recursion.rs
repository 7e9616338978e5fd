//! Recursive indexed definitions (LANGUAGE.md §3, issue 10): `let e[1] = ...` then `for t in 2..T
//! { let e[t] = ... e[t - 1] ... }`. An ARMA(1,1) model over 200 points written with the
//! recursion has the log density of a hand-written loop in this file (an independent reference)
//! and of the same model unrolled by hand into one `let` per step; its tape gradient agrees with
//! central differences and with the forward-mode oracle; NUTS recovers the parameters of simulated
//! data; the coded errors (E0408-E0410) point at the offending text.

mod common;

use ppl_infer::LogDensity;
use ppl_ir::VarId;
use ppl_model::tape::{Bindings, Tape, oracle_gradient};
use rand::SeedableRng;
use rand_distr::Distribution;

use common::scratch;

/// ARMA(1,1) data: y[t] = mu + phi y[t-1] + theta e[t-1] + e[t], e ~ Normal(0, sigma).
fn arma_data(length: usize, truth: [f64; 4], seed: u64) -> Vec<f64> {
    let [mu, phi, theta, sigma] = truth;
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(seed);
    let noise = rand_distr::Normal::new(0.0, sigma).unwrap();
    let mut y = Vec::with_capacity(length);
    let mut previous_noise = 0.0;
    let mut previous = mu / (1.0 - phi);
    for _ in 0..length {
        let e: f64 = noise.sample(&mut rng);
        let value = mu + phi * previous + theta * previous_noise + e;
        y.push(value);
        previous = value;
        previous_noise = e;
    }
    y
}

fn inline(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v:.12}")).collect();
    format!("[{}]", items.join(", "))
}

/// The recursive ARMA(1,1) model with flat priors, so its log density is the likelihood alone.
fn recursive_model(y: &[f64]) -> String {
    format!(
        "observed y: real[T] = {}\n\
         latent mu: real\nlatent phi: real\nlatent theta: real\nlatent sigma: real\n\
         let err[1] = y[1] - mu - phi * mu\n\
         for t in 2..T {{\n  let err[t] = y[t] - mu - phi * y[t - 1] - theta * err[t - 1]\n}}\n\
         err ~ Normal(0, sigma)\n",
        inline(y)
    )
}

/// The same model unrolled by hand: one named `let` per step.
fn unrolled_model(y: &[f64]) -> String {
    let mut source = format!(
        "observed y: real[{}] = {}\n\
         latent mu: real\nlatent phi: real\nlatent theta: real\nlatent sigma: real\n\
         let e1 = y[1] - mu - phi * mu\n",
        y.len(),
        inline(y)
    );
    for t in 2..=y.len() {
        source.push_str(&format!(
            "let e{t} = y[{t}] - mu - phi * y[{}] - theta * e{}\n",
            t - 1,
            t - 1
        ));
    }
    let names: Vec<String> = (1..=y.len()).map(|t| format!("e{t}")).collect();
    source.push_str(&format!(
        "let err = [{}]\nerr ~ Normal(0, sigma)\n",
        names.join(", ")
    ));
    source
}

/// The log likelihood written directly: the reference.
fn reference_log_density(y: &[f64], [mu, phi, theta, sigma]: [f64; 4]) -> f64 {
    let mut total = 0.0;
    let mut previous_error = 0.0;
    for t in 0..y.len() {
        let error = if t == 0 {
            y[0] - mu - phi * mu
        } else {
            y[t] - mu - phi * y[t - 1] - theta * previous_error
        };
        total += -0.5 * (2.0 * std::f64::consts::PI).ln()
            - sigma.ln()
            - error * error / (2.0 * sigma * sigma);
        previous_error = error;
    }
    total
}

fn checked(source: &str) -> (ppl_ir::Model, Vec<ppl_syntax::Diagnostic>) {
    let (program, diagnostics) = ppl_syntax::parse(source);
    assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
    ppl_ir::check(&program, source, &Default::default())
}

/// The model's tape over its four unknowns, and what the oracle needs.
fn tape(source: &str) -> (Tape, ppl_ir::Model, Bindings) {
    let (model, diagnostics) = checked(source);
    assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
    let bound = ppl_model::bind(&model, None, &[]).unwrap();
    let mut bindings = Bindings::new(&model, bound.dims.clone());
    for (index, values) in bound.observed.iter().enumerate() {
        if let Some(values) = values {
            bindings.set(VarId(index), values.clone());
        }
    }
    let sampled: Vec<VarId> = ["mu", "phi", "theta", "sigma"]
        .iter()
        .map(|name| model.variable(name).unwrap().id)
        .collect();
    let tape = Tape::new(&model, &bindings, &sampled, Vec::new()).unwrap();
    (tape, model, bindings)
}

const POINTS: [[f64; 4]; 3] = [
    [0.5, 0.6, 0.3, 0.8],
    [-0.2, 0.1, -0.7, 1.3],
    [1.1, -0.4, 0.9, 0.5],
];

#[test]
fn recursive_arma_has_the_hand_written_log_density_and_its_gradient() {
    let y = arma_data(200, [0.5, 0.6, 0.3, 0.8], 7);
    let (mut tape, model, bindings) = tape(&recursive_model(&y));
    assert!(tape.fallback_terms().is_empty());
    // The loop piece is affine in the previous error: one scan node, not nodes per element.
    assert!(tape.node_count() < 40, "{} nodes", tape.node_count());
    let layout = tape.layout().clone();
    for point in POINTS {
        let expected = reference_log_density(&y, point);
        let mut gradient = [0.0; 4];
        let value = tape
            .log_density_and_gradient(&point, &mut gradient)
            .unwrap();
        assert!(
            (value - expected).abs() <= 1e-10 * expected.abs(),
            "at {point:?}: {value} vs {expected}"
        );
        let (_, oracle) = oracle_gradient(&model, &bindings, &layout, &point).unwrap();
        for i in 0..4 {
            let h = 1e-6;
            let mut up = point;
            let mut down = point;
            up[i] += h;
            down[i] -= h;
            let difference =
                (reference_log_density(&y, up) - reference_log_density(&y, down)) / (2.0 * h);
            let scale = difference.abs().max(1.0);
            assert!(
                (gradient[i] - difference).abs() <= 1e-6 * scale,
                "at {point:?}, d/d{i}: tape {} vs finite differences {difference}",
                gradient[i]
            );
            assert!(
                (gradient[i] - oracle[i]).abs() <= 1e-9 * scale,
                "at {point:?}, d/d{i}: tape {} vs oracle {}",
                gradient[i],
                oracle[i]
            );
        }
    }
}

#[test]
fn recursive_arma_matches_the_model_unrolled_by_hand() {
    let y = arma_data(40, [0.5, 0.6, 0.3, 0.8], 3);
    let (mut recursive, ..) = tape(&recursive_model(&y));
    let (mut unrolled, ..) = tape(&unrolled_model(&y));
    for point in POINTS {
        let mut g1 = [0.0; 4];
        let mut g2 = [0.0; 4];
        let v1 = recursive.log_density_and_gradient(&point, &mut g1).unwrap();
        let v2 = unrolled.log_density_and_gradient(&point, &mut g2).unwrap();
        assert!((v1 - v2).abs() <= 1e-12 * v2.abs(), "{v1} vs {v2}");
        for i in 0..4 {
            assert!(
                (g1[i] - g2[i]).abs() <= 1e-10 * g2[i].abs().max(1.0),
                "d/d{i}: {} vs {}",
                g1[i],
                g2[i]
            );
        }
    }
}

/// Elements may be arrays: a two-dimensional linear recursion s[t] = rho s[t-1] + c, whose closed
/// form is s[t] = rho^(t-1) s1 + c (1 - rho^(t-1)) / (1 - rho).
#[test]
fn elements_may_be_vectors() {
    let source = "const T = 6\nobserved c: real[2] = [1.0, -2.0]\nlatent rho: real\n\
                  latent s1: real[2]\nlatent mu: real\nlatent sigma: real\n\
                  let s[1] = s1\nfor t in 2..T {\n  let s[t] = rho * s[t - 1] + c\n}\n\
                  factor -sum(s * s)\n";
    let (model, diagnostics) = checked(source);
    assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
    let bound = ppl_model::bind(&model, None, &[]).unwrap();
    let mut bindings = Bindings::new(&model, bound.dims.clone());
    for (index, values) in bound.observed.iter().enumerate() {
        if let Some(values) = values {
            bindings.set(VarId(index), values.clone());
        }
    }
    let sampled = vec![
        model.variable("rho").unwrap().id,
        model.variable("s1").unwrap().id,
    ];
    let mut tape = Tape::new(&model, &bindings, &sampled, Vec::new()).unwrap();
    let (rho, s1, c) = (0.7, [0.3, -1.2], [1.0, -2.0]);
    let mut expected = 0.0;
    for t in 1..=6 {
        let power = f64::powi(rho, t - 1);
        for k in 0..2 {
            let value = power * s1[k] + c[k] * (1.0 - power) / (1.0 - rho);
            expected -= value * value;
        }
    }
    let value = tape.log_density(&[rho, s1[0], s1[1]]).unwrap();
    assert!(
        (value - expected).abs() <= 1e-12 * expected.abs(),
        "{value} vs {expected}"
    );
}

/// A recursion that is not affine in the previous element is built element by element:
/// e[t] = tanh(e[t - 1]) * w + y[t], against the same loop written here, value and gradient.
#[test]
fn a_nonlinear_recursion_has_the_hand_written_density_and_gradient() {
    let y = arma_data(30, [0.5, 0.6, 0.3, 0.8], 5);
    let source = format!(
        "observed y: real[T] = {}
latent w: real
latent e1: real
latent mu: real
latent sigma: real
         let e[1] = e1
for t in 2..T {{
  let e[t] = tanh(e[t - 1]) * w + y[t]
}}
         factor -sum(e * e) / 2
",
        inline(&y)
    );
    let reference = |w: f64, e1: f64| {
        let mut e = e1;
        let mut total = -e * e / 2.0;
        for value in &y[1..] {
            e = e.tanh() * w + value;
            total -= e * e / 2.0;
        }
        total
    };
    let (model, diagnostics) = checked(&source);
    assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
    let bound = ppl_model::bind(&model, None, &[]).unwrap();
    let mut bindings = Bindings::new(&model, bound.dims.clone());
    for (index, values) in bound.observed.iter().enumerate() {
        if let Some(values) = values {
            bindings.set(VarId(index), values.clone());
        }
    }
    let sampled = vec![
        model.variable("w").unwrap().id,
        model.variable("e1").unwrap().id,
    ];
    let mut tape = Tape::new(&model, &bindings, &sampled, Vec::new()).unwrap();
    for (w, e1) in [(0.4, -0.3), (-1.2, 0.8)] {
        let mut gradient = [0.0; 2];
        let value = tape
            .log_density_and_gradient(&[w, e1], &mut gradient)
            .unwrap();
        let expected = reference(w, e1);
        assert!(
            (value - expected).abs() <= 1e-11 * expected.abs(),
            "{value} vs {expected}"
        );
        let h = 1e-6;
        let dw = (reference(w + h, e1) - reference(w - h, e1)) / (2.0 * h);
        let de = (reference(w, e1 + h) - reference(w, e1 - h)) / (2.0 * h);
        assert!(
            (gradient[0] - dw).abs() <= 1e-6 * dw.abs().max(1.0),
            "{} vs {dw}",
            gradient[0]
        );
        assert!(
            (gradient[1] - de).abs() <= 1e-6 * de.abs().max(1.0),
            "{} vs {de}",
            gradient[1]
        );
    }
}

/// Each mistake is a coded error on the offending text.
#[test]
fn mistakes_in_a_recursion_are_coded_errors_with_spans() {
    let head = "observed y: real[T]\nlatent a: real\n";
    let cases = [
        // a gap: element 2 is never defined
        (
            "let e[1] = a\nfor t in 3..T {\n  let e[t] = e[t - 1]\n}\n",
            "E0408",
            "t",
        ),
        // element 1 twice
        ("let e[1] = a\nlet e[1] = 2 * a\n", "E0408", "1"),
        // the loop starts before the elements defined so far end
        (
            "let e[1] = a\nfor t in 1..T {\n  let e[t] = a\n}\n",
            "E0408",
            "t",
        ),
        // an element read before it is defined
        (
            "let e[1] = a\nfor t in 2..T {\n  let e[t] = e[t + 1]\n}\n",
            "E0410",
            "t + 1",
        ),
        // an element before the first
        (
            "let e[1] = a\nfor t in 2..T {\n  let e[t] = e[t - 2]\n}\n",
            "E0408",
            "t - 2",
        ),
        // the whole array inside its own definition
        (
            "let e[1] = a\nfor t in 2..T {\n  let e[t] = sum(e)\n}\n",
            "E0410",
            "e",
        ),
        // more elements after the array was used
        (
            "let e[1] = a\nfactor e[1]\nlet e[2] = a\n",
            "E0410",
            "let e[2] = a",
        ),
        // an index that is not the loop variable plus a constant
        ("for t in 1..T {\n  let e[2 * t] = a\n}\n", "E0409", "2 * t"),
        // nested loops would define each element several times
        (
            "for t in 1..T {\n  for k in 1..3 {\n    let e[t] = a\n  }\n}\n",
            "E0409",
            "t",
        ),
    ];
    for (body, code, text) in cases {
        let source = format!("{head}{body}");
        let (_, diagnostics) = checked(&source);
        let error = diagnostics
            .iter()
            .find(|d| d.is_error())
            .unwrap_or_else(|| panic!("no error for:\n{source}"));
        assert_eq!(error.code, code, "{source}\n{error:?}");
        assert_eq!(
            &source[error.span.unwrap().range()],
            text,
            "{source}\n{error:?}"
        );
    }
}

/// A recursion of data only is computed once at load; one over unknowns is evaluated by
/// `ppl simulate` as any other `let` (a random walk with drift, fixed by `--set`).
#[test]
fn simulate_evaluates_a_recursion() {
    let dir = scratch("simulate");
    let model = dir.join("walk.model");
    std::fs::write(
        &model,
        "observed y: real[N]\nlatent drift: real\nlatent sigma: positive\n\
         let level[1] = drift\nfor t in 2..N {\n  let level[t] = level[t - 1] + drift\n}\n\
         y ~ Normal(level, sigma)\n",
    )
    .unwrap();
    let out = dir.join("walk.csv");
    let output = common::ppl_command()
        .args([
            "simulate",
            "--n",
            "50",
            "--set",
            "drift=2",
            "--set",
            "sigma=0.001",
        ])
        .arg("--out")
        .arg(&out)
        .arg(&model)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = std::fs::read_to_string(&out).unwrap();
    let values: Vec<f64> = text.lines().skip(1).map(|l| l.parse().unwrap()).collect();
    assert_eq!(values.len(), 50);
    for (t, value) in values.iter().enumerate() {
        // Within 6 sd of the level 2 t.
        assert!(
            (value - 2.0 * (t + 1) as f64).abs() < 0.006,
            "y[{}] = {value}",
            t + 1
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// NUTS on simulated ARMA(1,1) data recovers the parameters: each true value lies within four
/// posterior standard deviations of the posterior mean (the posterior sd, not the Monte Carlo
/// error, is the scale of the question "is the truth plausible under the posterior").
#[test]
fn nuts_recovers_arma_parameters_from_simulated_data() {
    let truth = [0.5, 0.5, 0.3, 0.8];
    let y = arma_data(200, truth, 11);
    let dir = scratch("nuts");
    let mut csv = String::from("y\n");
    for value in &y {
        csv.push_str(&format!("{value}\n"));
    }
    std::fs::write(dir.join("arma.csv"), csv).unwrap();
    let model = dir.join("arma.model");
    std::fs::write(
        &model,
        "data \"arma.csv\"\nobserved y: real[T]\nlatent mu: real\n\
         latent phi: real in (-1, 1)\nlatent theta: real in (-1, 1)\nlatent sigma: positive\n\
         mu ~ Normal(0, 10)\nsigma ~ HalfCauchy(2.5)\n\
         let err[1] = y[1] - mu - phi * mu\n\
         for t in 2..T {\n  let err[t] = y[t] - mu - phi * y[t - 1] - theta * err[t - 1]\n}\n\
         err ~ Normal(0, sigma)\n",
    )
    .unwrap();
    let output = common::ppl_command()
        .args(["run", "--seed", "3", "--format", "json"])
        .arg(&model)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["method"], "nuts");
    for (name, truth) in ["mu", "phi", "theta", "sigma"].iter().zip(truth) {
        let summary = &report["summary"][name];
        let mean = summary["mean"].as_f64().unwrap();
        let sd = summary["sd"].as_f64().unwrap();
        let rhat = summary["rhat"].as_f64().unwrap();
        assert!(rhat < 1.01, "{name}: R-hat {rhat}");
        assert!(
            (mean - truth).abs() < 4.0 * sd,
            "{name}: posterior {mean} ± {sd}, truth {truth}"
        );
    }
}

/// `examples/garch.model`: the variance recursion feeds the likelihood; NUTS covers the values
/// the data were simulated with (examples/data/scripts/garch.py) within four posterior sds.
#[test]
fn garch_example_recovers_its_simulation_parameters() {
    let root = common::root();
    let output = common::ppl_command()
        .current_dir(root)
        .args([
            "run",
            "examples/garch.model",
            "--seed",
            "2",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["method"], "nuts");
    assert_eq!(
        report["diagnostics"]["divergences"].as_u64(),
        Some(0),
        "{report}"
    );
    for (name, truth) in [
        ("mu", 0.1),
        ("alpha0", 0.2),
        ("alpha1", 0.3),
        ("beta1", 0.5),
    ] {
        let summary = &report["summary"][name];
        let mean = summary["mean"].as_f64().unwrap();
        let sd = summary["sd"].as_f64().unwrap();
        let rhat = summary["rhat"].as_f64().unwrap();
        assert!(rhat < 1.01, "{name}: R-hat {rhat}");
        assert!(
            (mean - truth).abs() < 4.0 * sd,
            "{name}: posterior {mean} ± {sd}, truth {truth}"
        );
    }
}
