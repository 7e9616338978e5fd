//! What the end-to-end tests share: the repository root, the `ppl` binary run as a user runs it
//! (from the root, without colours), and a fresh scratch directory per test. A test file takes it
//! with `mod common;`; not every file uses every helper.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root: examples and data paths in the tests are relative to it.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `ppl` binary without colours in its reports, for a test to add arguments to.
pub fn ppl_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ppl"));
    command.env("NO_COLOR", "1");
    command
}

/// Runs `ppl ARGS` from the repository root and returns its output.
pub fn ppl(args: &[&str]) -> Output {
    ppl_command()
        .args(args)
        .current_dir(root())
        .output()
        .expect("ppl runs")
}

/// The report of a `ppl ... --format json` run that must succeed: a nonzero exit fails the test
/// with `context` and ppl's stderr; stdout is one JSON object.
pub fn json_report(output: &Output, context: &str) -> serde_json::Value {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{context}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON object on stdout")
}

/// An empty directory of its own for one test: `tag` and the process id keep tests that run at
/// once apart, and whatever an earlier run left there is removed.
pub fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ppl-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The parameters of a `--format json` report whose posterior mean misses a reference mean by more
/// than 0.1 reference sd + 4 MCSE (the run's), or, with `max_rhat`, whose R-hat exceeds it; one
/// line each, prefixed by `label`. `expected` maps each name to `{"mean", "sd"}`.
pub fn reference_mismatches(
    label: &str,
    report: &serde_json::Value,
    expected: &serde_json::Map<String, serde_json::Value>,
    max_rhat: Option<f64>,
) -> Vec<String> {
    let mut failures = Vec::new();
    for (name, moments) in expected {
        let (mean, sd) = (
            moments["mean"].as_f64().unwrap(),
            moments["sd"].as_f64().unwrap(),
        );
        let summary = &report["summary"][name.as_str()];
        let estimate = summary["mean"].as_f64().unwrap();
        let mcse = summary["mcse_mean"].as_f64().unwrap();
        let rhat = summary["rhat"].as_f64().unwrap_or(f64::NAN);
        let tolerance = 0.1 * sd + 4.0 * mcse;
        println!(
            "{label} {name:<9} {estimate:>12.6} vs {mean:>12.6}  tolerance {tolerance:.6}  R-hat {rhat:.3}"
        );
        if (estimate - mean).abs() > tolerance {
            failures.push(format!(
                "{label} {name}: {estimate} vs reference {mean} (tolerance {tolerance})"
            ));
        }
        if max_rhat.is_some_and(|limit| rhat.is_nan() || rhat > limit) {
            failures.push(format!("{label} {name}: R-hat {rhat}"));
        }
    }
    failures
}
