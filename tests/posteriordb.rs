//! posteriordb posteriors beyond `tests/gp.rs`'s, written in the language as a statistician
//! would (`crates/ppl-bench/models/posteriordb/`): ARMA(1,1) and GARCH(1,1) as recursions over
//! time (GARCH with a bound that depends on an unknown), a normal mixture whose label is summed
//! out, and two regressions with strongly correlated coefficients. Each is sampled by NUTS and
//! must match posteriordb's reference draws (`tests/reference/posteriordb_more.json`, 10 000
//! rstan draws each, made by `tests/reference/posteriordb_more.py` with its provenance; the data
//! beside it in `tests/reference/posteriordb/`): every mean within 0.1 reference sd plus 4 Monte
//! Carlo standard errors of this run, and R-hat below 1.05 (a chain stuck away from the others
//! has so large an MCSE that the means alone would pass it). Kept cheap: 4 chains x 500 draws.

mod common;

use std::path::Path;
use std::process::Command;

/// Runs `model` on `posterior`'s data and checks it against the reference; `extra` pins
/// settings where the default is known to fail (each use says why).
fn check_against_reference(model: &str, posterior: &str, extra: &[&str]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("tests/reference/posteriordb_more.json")).unwrap(),
    )
    .unwrap();
    let model_path = format!("crates/ppl-bench/models/posteriordb/{model}.model");
    let data_path = format!("tests/reference/posteriordb/{posterior}.json");
    let mut args = vec![
        "run",
        model_path.as_str(),
        "--data",
        data_path.as_str(),
        "--seed",
        "11",
        "--draws",
        "500",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let output = Command::new(env!("CARGO_BIN_EXE_ppl"))
        .current_dir(root)
        .env("NO_COLOR", "1")
        .args(&args)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["method"], "nuts", "{posterior}");
    let expected = reference["posteriors"][posterior].as_object().unwrap();
    assert!(!expected.is_empty());
    let failures = common::reference_mismatches(posterior, &report, expected, Some(1.05));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn arma11_recursion_matches_the_posteriordb_reference() {
    // Started outside the invertible region (|theta| > 1), a chain can be trapped under the
    // default metric in a narrow crevice (log density -236 or -726 against +65 at the mode);
    // the end-of-warmup check across chains (`ppl-infer/src/mcmc/stuck.rs`) warms it up again
    // from a healthy chain's position. Without it, seeds 1, 2 and 4 left 1-2 chains of 4 there.
    check_against_reference("arma11", "arma-arma11", &[]);
}

#[test]
fn garch11_bound_on_an_unknown_matches_the_posteriordb_reference() {
    check_against_reference("garch11", "garch-garch11", &[]);
}

#[test]
fn summed_out_mixture_matches_the_posteriordb_reference() {
    check_against_reference(
        "low_dim_gauss_mix",
        "low_dim_gauss_mix-low_dim_gauss_mix",
        &[],
    );
}

#[test]
fn correlated_regressions_match_the_posteriordb_reference() {
    check_against_reference("kilpisjarvi", "kilpisjarvi_mod-kilpisjarvi", &[]);
    check_against_reference("blr", "sblrc-blr", &[]);
}
