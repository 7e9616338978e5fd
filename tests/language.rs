//! The language forms of issue 10, each through the binary on a model in `tests/language/`,
//! checked against the same model written the long way or against an exact answer.

mod common;

use common::root;

/// `ppl run ARGS --format json`: the parsed report, after asserting a zero exit status.
fn run_json(args: &[&str]) -> serde_json::Value {
    let output = common::ppl_command()
        .current_dir(root())
        .arg("run")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// `x ~ MvNormal(...)` on `let x = cbind(eruptions, waiting)` is an ordinary likelihood term, so
/// the Old Faithful mixture fits by EM to the same estimates as `examples/faithful.model`, whose
/// data file names the matrix's columns `x[1]`, `x[2]`.
#[test]
fn a_tilde_on_a_let_of_data_fits_the_faithful_mixture_by_em() {
    let long = run_json(&["examples/faithful.model", "--seed", "5"]);
    let short = run_json(&["tests/language/faithful_let.model", "--seed", "5"]);
    assert_eq!(short["method"], "em", "{short}");
    let (long, short) = (&long["estimates"], &short["estimates"]);
    let long = long.as_object().unwrap();
    assert_eq!(long.len(), 14);
    for (name, value) in long {
        let expected = value.as_f64().unwrap();
        let found = short[name].as_f64().unwrap_or(f64::NAN);
        assert!(
            (found - expected).abs() <= 1e-8 * expected.abs().max(1.0),
            "{name}: {found} vs {expected}"
        );
    }
}

/// A declared name may shadow a built-in function: a note (N0001), not an error; the name is the
/// variable and a call still reaches the function. A distribution's name stays reserved (E0206).
#[test]
fn a_declared_name_may_shadow_a_builtin_function_with_a_note() {
    let source = "observed y: real[3] = [0.5, -1.0, 2.0]\nlatent sd: positive\n\
                  sd ~ HalfNormal(1)\ny ~ Normal(0, sd)\nlet spread = sd(y) * sd\n";
    let (program, diagnostics) = ppl_syntax::parse(source);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let (model, diagnostics) = ppl_ir::check(&program, source, &Default::default());
    assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
    let note = diagnostics
        .iter()
        .find(|d| d.code == "N0001")
        .expect("a shadowing note");
    assert_eq!(note.severity, ppl_syntax::Severity::Note);
    assert_eq!(
        &source[note.span.unwrap().start..note.span.unwrap().end],
        "sd"
    );
    assert!(model.variable("sd").is_some());
    let spread = model.lets.iter().find(|l| l.name == "spread").unwrap();
    assert!(matches!(
        &spread.value.kind,
        ppl_ir::ExprKind::Binary { lhs, .. }
            if matches!(lhs.kind, ppl_ir::ExprKind::Call { function: ppl_ir::Builtin::Sd, .. })
    ));
}

/// `observed y: real[N] = [1.2, 0.8]` binds N from the list, with no data file; the conjugate
/// posterior is Normal(Σy / (n + 1), 1 / (n + 1)).
#[test]
fn inline_data_binds_a_symbolic_size() {
    let report = run_json(&["tests/language/inline_sized.model", "--seed", "2"]);
    let mu = &report["summary"]["mu"];
    let (mean, sd, mcse) = (
        mu["mean"].as_f64().unwrap(),
        mu["sd"].as_f64().unwrap(),
        mu["mcse_mean"].as_f64().unwrap(),
    );
    let exact_mean = 2.0 / 3.0;
    assert!(
        (mean - exact_mean).abs() < 4.0 * mcse,
        "mean {mean} vs {exact_mean} (MCSE {mcse})"
    );
    assert!((sd - (1.0f64 / 3.0).sqrt()).abs() < 0.05, "sd {sd}");
}

/// A bool column written `1.0`/`0.0`/`1`/`0` loads; the MLE of a Bernoulli p is the share of 1s
/// (5 of 8); a 2 in a bool column is still a data error (E0607).
#[test]
fn bool_data_given_as_zero_and_one() {
    let report = run_json(&["tests/language/bool_flags.model"]);
    let p = report["estimates"]["p"].as_f64().unwrap();
    assert!((p - 5.0 / 8.0).abs() < 1e-6, "p {p}");
    let dir = std::env::temp_dir().join(format!("ppl-bool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bad.csv"), "b\n1\n2\n").unwrap();
    let output = common::ppl_command()
        .current_dir(root())
        .args([
            "run",
            "tests/language/bool_flags.model",
            "--format",
            "json",
            "--data",
        ])
        .arg(dir.join("bad.csv"))
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(output.status.code(), Some(3));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["error"]["code"], "E0607", "{json}");
}

/// The log density of a model with only `y ~ Normal(mu, s) truncated(...)` and a flat prior on mu.
fn truncated_normal_tape(bounds: &str) -> ppl_model::tape::Tape {
    let source = format!(
        "observed y: real[4] = [0.1, 0.5, 1.9, 1.2]\nobserved s: real = 0.7\nlatent mu: real\n\
         y ~ Normal(mu, s) truncated({bounds})\n"
    );
    let (program, diagnostics) = ppl_syntax::parse(&source);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let (model, diagnostics) = ppl_ir::check(&program, &source, &Default::default());
    assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
    let bound = ppl_model::bind(&model, None, &[]).unwrap();
    let mut bindings = ppl_model::tape::Bindings::new(&model, bound.dims.clone());
    for (index, values) in bound.observed.iter().enumerate() {
        if let Some(values) = values {
            bindings.set(ppl_ir::VarId(index), values.clone());
        }
    }
    let mu = model.variable("mu").unwrap().id;
    ppl_model::tape::Tape::new(&model, &bindings, &[mu], Vec::new()).unwrap()
}

/// `truncated(lo, hi)`, `truncated(lo, )` and `truncated(, hi)` against scipy.stats.truncnorm
/// (the sum of its logpdf over the four points, computed once and written here), and the tape's
/// gradient against central differences of its own values.
#[test]
fn a_truncated_normal_has_the_closed_form_density() {
    use ppl_infer::LogDensity;
    // scipy 1.17: truncnorm.logpdf(y, (lo - mu) / s, (hi - mu) / s, loc = mu, scale = s).sum()
    let cases = [
        (
            "0, 2",
            [
                (0.3, -4.097103924989636),
                (-1.0, -9.021071429521488),
                (2.5, -8.54715898127204),
            ],
        ),
        (
            "0, ",
            [
                (0.3, -4.142893892709759),
                (-1.0, -9.021547278378506),
                (2.5, -14.299364623431593),
            ],
        ),
        (
            ", 2",
            [
                (0.3, -5.7390301696062656),
                (-1.0, -19.30003833446683),
                (2.5, -8.550149586288732),
            ],
        ),
    ];
    for (bounds, points) in cases {
        let mut tape = truncated_normal_tape(bounds);
        assert!(tape.fallback_terms().is_empty());
        for (mu, expected) in points {
            let mut gradient = [0.0];
            let value = tape.log_density_and_gradient(&[mu], &mut gradient).unwrap();
            assert!(
                (value - expected).abs() < 1e-10 * expected.abs(),
                "truncated({bounds}) at mu = {mu}: {value} vs {expected}"
            );
            let h = 1e-6;
            let difference = (tape.log_density(&[mu + h]).unwrap()
                - tape.log_density(&[mu - h]).unwrap())
                / (2.0 * h);
            assert!(
                (gradient[0] - difference).abs() < 1e-6 * difference.abs().max(1.0),
                "truncated({bounds}) at mu = {mu}: gradient {} vs {difference}",
                gradient[0]
            );
        }
    }
    // A variate outside the interval has zero density.
    let mut tape = truncated_normal_tape("0.2, 2");
    assert!(
        matches!(tape.log_density(&[0.3]), Ok(v) if v == f64::NEG_INFINITY)
            || tape.log_density(&[0.3]).is_err()
    );
}
