//! A latent Gaussian process with a Poisson likelihood (posteriordb's `gp_pois_regr`, issue 10):
//! `examples/gp_pois_regr.model`, written as its Stan code, sampled by NUTS must show no more than
//! a handful of divergences and match posteriordb's reference posterior (`tests/reference/
//! gp_pois_regr.json`: 10,000 draws of rstan, with their provenance): every mean within 0.1
//! reference sd plus 4 Monte Carlo standard errors of this run. Kept cheap: 2 chains of 400
//! warmup + 500 draws.

mod common;

use std::process::Command;

#[test]
fn gp_poisson_regression_matches_the_posteriordb_reference() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("tests/reference/gp_pois_regr.json")).unwrap(),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ppl"))
        .current_dir(root)
        .env("NO_COLOR", "1")
        .args([
            "run",
            "examples/gp_pois_regr.model",
            "--seed",
            "3",
            "--chains",
            "2",
            "--warmup",
            "400",
            "--draws",
            "500",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["method"], "nuts");
    let divergences = report["diagnostics"]["divergences"].as_u64().unwrap();
    assert!(divergences <= 5, "{divergences} divergent transitions");
    let expected = reference["summary"].as_object().unwrap();
    assert_eq!(expected.len(), 13);
    let failures = common::reference_mismatches("gp_pois_regr", &report, expected, None);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
