//! The language forms of issue 10, each through the binary on a model in `tests/language/`,
//! checked against the same model written the long way or against an exact answer.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `ppl run ARGS --format json`: the parsed report, after asserting a zero exit status.
fn run_json(args: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_ppl"))
        .current_dir(root())
        .env("NO_COLOR", "1")
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
