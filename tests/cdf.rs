//! The log cdfs of Gamma, InvGamma, Beta, StudentT and the discrete kinds (issue 10): values
//! against scipy at 1e-10 relative, tails included (`tests/reference/cdf_scipy.py` made the
//! reference); the coded refusal of a shape parameter that depends on an unknown; and censored
//! and truncated models checked against the same models written the long way, with closed-form
//! tails, and one sampled against its posterior mean by quadrature.

mod common;

use std::path::Path;

use ppl_dist::{DistKind, scalar_log_ccdf, scalar_log_cdf};
use ppl_infer::LogDensity;
use ppl_ir::{ElemType, Model, VarId};
use ppl_model::tape::{Bindings, Tape, TapeError};

fn check_model(source: &str) -> Model {
    let (program, diagnostics) = ppl_syntax::parse(source);
    assert!(
        diagnostics.iter().all(|d| !d.is_error()),
        "{source}: {diagnostics:?}"
    );
    let (model, diagnostics) = ppl_ir::check(&program, source, &Default::default());
    assert!(
        diagnostics.iter().all(|d| !d.is_error()),
        "{source}: {diagnostics:?}"
    );
    model
}

fn kind(name: &str) -> DistKind {
    ppl_dist::family(name).unwrap().parameterisations[0].kind
}

fn close(found: f64, expected: f64, relative: f64) -> bool {
    if expected == f64::NEG_INFINITY {
        return found == expected;
    }
    (found - expected).abs() <= relative * expected.abs() + 1e-300
}

#[test]
fn log_cdfs_match_scipy_in_both_tails() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/cdf_scipy.json"),
    )
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = json["cases"].as_array().unwrap();
    assert!(cases.len() > 70);
    let mut checked = 0;
    let mut worst: f64 = 0.0;
    for case in cases {
        let name = case["kind"].as_str().unwrap();
        let params: Vec<f64> = case["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_f64().unwrap())
            .collect();
        let x = case["x"].as_f64().unwrap();
        let expected = [case["logcdf"].as_f64(), case["logccdf"].as_f64()];
        // The same numbers through the log and logit forms of the discrete kinds.
        let mut forms = vec![(kind(name), params.clone(), 1e-10)];
        match name {
            "Poisson" => forms.push((DistKind::PoissonLog, vec![params[0].ln()], 1e-9)),
            "Binomial" => {
                let logit = (params[1] / (1.0 - params[1])).ln();
                forms.push((DistKind::BinomialLogit, vec![params[0], logit], 1e-9));
            }
            "Bernoulli" => {
                let logit = (params[0] / (1.0 - params[0])).ln();
                forms.push((DistKind::BernoulliLogit, vec![logit], 1e-9));
            }
            _ => {}
        }
        for (kind, params, relative) in forms {
            let found = [
                scalar_log_cdf(kind, x, &params),
                scalar_log_ccdf(kind, x, &params),
            ];
            for (which, (found, expected)) in
                ["logcdf", "logccdf"].iter().zip(found.iter().zip(expected))
            {
                let expected = expected.unwrap_or(f64::NEG_INFINITY);
                if expected.is_finite() && expected != 0.0 {
                    worst = worst.max(((found - expected) / expected).abs());
                }
                assert!(
                    close(*found, expected, relative),
                    "{which}({kind:?}{params:?}, {x}) = {found}, scipy {expected}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 150, "{checked}");
    println!("{checked} values, largest relative difference from scipy {worst:.1e}");
}

/// Gradients in the variate, rates and probabilities: central differences of the f64 value.
#[test]
fn log_cdf_derivatives_match_finite_differences() {
    use num_dual::Dual64;
    let cases = [
        (DistKind::Gamma, vec![2.5, 1.3], 0.7, vec![1]),
        (DistKind::Gamma, vec![40.0, 2.0], 26.0, vec![1]),
        (DistKind::InvGamma, vec![3.0, 2.0], 0.4, vec![1]),
        (DistKind::Beta, vec![2.0, 3.5], 0.2, vec![]),
        (DistKind::StudentT, vec![4.0, 0.5, 1.5], -3.0, vec![1, 2]),
        (DistKind::StudentT, vec![4.0, 0.5, 1.5], 0.5, vec![1, 2]),
        (DistKind::Poisson, vec![3.2], 4.0, vec![0]),
        (DistKind::PoissonLog, vec![0.4], 1.0, vec![0]),
        (DistKind::Binomial, vec![12.0, 0.35], 5.0, vec![1]),
        (DistKind::BinomialLogit, vec![12.0, -0.3], 2.0, vec![1]),
        (DistKind::NegBinomial, vec![4.0, 2.5], 6.0, vec![0]),
        (DistKind::Bernoulli, vec![0.3], 0.0, vec![0]),
        (DistKind::BernoulliLogit, vec![0.8], 0.0, vec![0]),
    ];
    let continuous = |k: DistKind| !ppl_dist::is_discrete_scalar(k);
    for (kind, params, x, differentiable) in cases {
        for upper in [false, true] {
            let f = |x: f64, params: &[f64]| {
                if upper {
                    scalar_log_ccdf(kind, x, params)
                } else {
                    scalar_log_cdf(kind, x, params)
                }
            };
            let dual = |x: Dual64, params: &[Dual64]| {
                if upper {
                    scalar_log_ccdf(kind, x, params)
                } else {
                    scalar_log_cdf(kind, x, params)
                }
            };
            let h = 1e-6;
            let lifted: Vec<Dual64> = params.iter().map(|&p| Dual64::from(p)).collect();
            if continuous(kind) {
                let exact = dual(Dual64::new(x, 1.0), &lifted).eps;
                let difference = (f(x + h, &params) - f(x - h, &params)) / (2.0 * h);
                assert!(
                    (exact - difference).abs() < 1e-6 * exact.abs().max(1.0),
                    "{kind:?} upper {upper}: d/dx {exact} vs {difference}"
                );
            }
            for &k in &differentiable {
                let mut seeded = lifted.clone();
                seeded[k] = Dual64::new(params[k], 1.0);
                let exact = dual(Dual64::from(x), &seeded).eps;
                let (mut up, mut down) = (params.clone(), params.clone());
                up[k] += h;
                down[k] -= h;
                let difference = (f(x, &up) - f(x, &down)) / (2.0 * h);
                assert!(
                    (exact - difference).abs() < 1e-6 * exact.abs().max(1.0),
                    "{kind:?} upper {upper}: d/dparam {k} {exact} vs {difference}"
                );
            }
        }
    }
}

fn sampled(model: &Model) -> Vec<VarId> {
    model
        .unknowns()
        .filter(|v| v.ty.elem == ElemType::Real)
        .map(|v| v.id)
        .collect()
}

fn tape(model: &Model, data: &[(&str, Vec<f64>)]) -> Result<Tape, TapeError> {
    let mut bindings = Bindings::new(model, Vec::new());
    for (name, values) in data {
        bindings.set(model.variable(name).unwrap().id, values.clone());
    }
    Tape::new(model, &bindings, &sampled(model), Vec::new())
}

#[test]
fn a_shape_parameter_that_depends_on_an_unknown_is_refused_with_a_code() {
    for form in [
        "factor sum(logcdf(Gamma(a, 1), x))",
        "factor sum(logccdf(StudentT(a, 0, 1), x))",
        "x ~ Gamma(a, 2) truncated(0.5, )",
    ] {
        let model = check_model(&format!(
            "observed x: real[3]\nlatent a: positive\na ~ Gamma(2, 1)\n{form}\n"
        ));
        let error = match tape(&model, &[("x", vec![1.0, 2.0, 3.0])]) {
            Err(error) => error,
            Ok(_) => panic!("{form}: built a tape"),
        };
        assert!(
            matches!(error, TapeError::NoDerivative { .. }),
            "{form}: {error}"
        );
        let diagnostic = ppl_model::posterior::tape_diagnostic(&error);
        assert_eq!(diagnostic.code, "E0411", "{form}");
    }
    // The same parameter as data is fine.
    let model = check_model(
        "observed x: real[3]\nobserved s: real\nlatent a: positive\na ~ Gamma(2, 1)\n\
         factor sum(logcdf(Gamma(s, a), x))\n",
    );
    assert!(tape(&model, &[("x", vec![1.0, 2.0, 3.0]), ("s", vec![2.5])]).is_ok());
}

/// Two models with the same density: values and gradients agree at several points.
fn same_density(short: &str, long: &str, data: &[(&str, Vec<f64>)]) {
    let (short_model, long_model) = (check_model(short), check_model(long));
    let mut short_tape = tape(&short_model, data).unwrap();
    let mut long_tape = tape(&long_model, data).unwrap();
    assert!(short_tape.fallback_terms().is_empty() && long_tape.fallback_terms().is_empty());
    let dim = short_tape.dim();
    assert_eq!(dim, long_tape.dim());
    for point in 0..6 {
        let position: Vec<f64> = (0..dim).map(|i| -1.2 + 0.45 * (point + i) as f64).collect();
        let (mut g_short, mut g_long) = (vec![0.0; dim], vec![0.0; dim]);
        let v_short = short_tape
            .log_density_and_gradient(&position, &mut g_short)
            .unwrap();
        let v_long = long_tape
            .log_density_and_gradient(&position, &mut g_long)
            .unwrap();
        assert!(
            (v_short - v_long).abs() <= 1e-10 * v_long.abs().max(1.0),
            "{short}\nat {position:?}: {v_short} vs {v_long}"
        );
        for (a, b) in g_short.iter().zip(&g_long) {
            assert!(
                (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                "{short}\n{g_short:?} vs {g_long:?}"
            );
        }
    }
}

const EVENT_TIMES: [f64; 6] = [0.8, 2.3, 1.1, 3.9, 0.4, 1.7];
const CENSORED_AT: [f64; 4] = [2.0, 3.5, 5.0, 1.2];

/// Right-censored Gamma(3, rate) survival times: the censored ones contribute log P(T > c) =
/// log Q(3, rate c) = −rate c + log(1 + rate c + (rate c)²/2), the closed form for shape 3.
#[test]
fn a_censored_gamma_model_equals_its_closed_form() {
    let head = "observed t: real[6]\nobserved c: real[4]\nlatent rate: positive\n\
                rate ~ Gamma(2, 1)\nt ~ Gamma(3, rate)\n";
    same_density(
        &format!("{head}factor sum(logccdf(Gamma(3, rate), c))\n"),
        &format!("{head}factor sum(-rate * c + log(1 + rate * c + square(rate * c) / 2))\n"),
        &[("t", EVENT_TIMES.to_vec()), ("c", CENSORED_AT.to_vec())],
    );
}

/// `truncated` on Gamma (both ends, P(3, z) = 1 − e^−z (1 + z + z²/2)), on a zero-truncated
/// Poisson (P(Y ≥ 1) = 1 − e^−λ: the lower bound is kept) and on a Binomial from above.
#[test]
fn truncated_gamma_poisson_and_binomial_equal_their_long_forms() {
    let gamma_head = "observed y: real[5]\nlatent rate: positive\nrate ~ Gamma(2, 1)\n";
    let lower_tail = |z: &str| format!("(1 - exp(-{z}) * (1 + {z} + square({z}) / 2))");
    same_density(
        &format!("{gamma_head}y ~ Gamma(3, rate) truncated(0.5, 4)\n"),
        &format!(
            "{gamma_head}y ~ Gamma(3, rate)\nfactor -5 * log({} - {})\n",
            lower_tail("(4 * rate)"),
            lower_tail("(0.5 * rate)")
        ),
        &[("y", vec![0.7, 1.5, 3.2, 2.2, 0.9])],
    );
    let poisson_head = "observed y: int[5]\nlatent lambda: positive\nlambda ~ Gamma(2, 1)\n";
    same_density(
        &format!("{poisson_head}y ~ Poisson(lambda) truncated(1, )\n"),
        &format!("{poisson_head}y ~ Poisson(lambda)\nfactor -5 * log1p(-exp(-lambda))\n"),
        &[("y", vec![1.0, 3.0, 2.0, 1.0, 4.0])],
    );
    // P(Y ≤ 2) for Binomial(4, p) = (1 − p)⁴ + 4p(1 − p)³ + 6p²(1 − p)².
    let binomial_head = "observed y: int[3]\nlatent p: real in (0, 1)\np ~ Beta(2, 2)\n";
    same_density(
        &format!("{binomial_head}y ~ Binomial(4, p) truncated(, 2)\n"),
        &format!(
            "{binomial_head}y ~ Binomial(4, p)\n\
             factor -3 * log((1 - p)^4 + 4 * p * (1 - p)^3 + 6 * p^2 * (1 - p)^2)\n"
        ),
        &[("y", vec![0.0, 2.0, 1.0])],
    );
}

/// The censored model sampled by NUTS through the binary: the posterior of `rate` is
/// one-dimensional, so its mean comes from quadrature of the closed-form density.
#[test]
fn the_censored_model_samples_to_the_quadrature_mean() {
    let log_density = |rate: f64| {
        let mut total = (2.0 - 1.0) * rate.ln() - rate;
        for t in EVENT_TIMES {
            total += 3.0 * rate.ln() - rate * t;
        }
        for c in CENSORED_AT {
            let z = rate * c;
            total += -z + (1.0 + z + z * z / 2.0).ln();
        }
        total
    };
    let (steps, top) = (200_000, 10.0);
    let peak = (1..=steps)
        .map(|k| log_density(top * k as f64 / steps as f64))
        .fold(f64::NEG_INFINITY, f64::max);
    let (mut mass, mut first) = (0.0, 0.0);
    for k in 1..=steps {
        let rate = top * (k as f64 - 0.5) / steps as f64;
        let weight = (log_density(rate) - peak).exp();
        mass += weight;
        first += weight * rate;
    }
    let exact_mean = first / mass;

    let dir = std::env::temp_dir().join(format!("ppl-censored-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("data.json"),
        serde_json::json!({ "t": EVENT_TIMES, "c": CENSORED_AT }).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.join("censored.model"),
        "observed t: real[N]\nobserved c: real[M]\nlatent rate: positive\nrate ~ Gamma(2, 1)\n\
         t ~ Gamma(3, rate)\nfactor sum(logccdf(Gamma(3, rate), c))\n",
    )
    .unwrap();
    let output = common::ppl_command()
        .arg("run")
        .arg(dir.join("censored.model"))
        .arg("--data")
        .arg(dir.join("data.json"))
        .args(["--format", "json", "--seed", "4"])
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let json = common::json_report(&output, "the censored model");
    assert_eq!(
        json["diagnostics"]["divergences"], 0,
        "{}",
        json["diagnostics"]
    );
    let mean = json["summary"]["rate"]["mean"].as_f64().unwrap();
    let mcse = json["summary"]["rate"]["mcse_mean"].as_f64().unwrap();
    assert!(
        (mean - exact_mean).abs() < 4.0 * mcse,
        "mean {mean} vs quadrature {exact_mean} (MCSE {mcse})"
    );
}
