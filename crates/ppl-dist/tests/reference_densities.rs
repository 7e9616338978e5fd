//! Every kind's log density against the committed reference values in
//! `reference/densities.json` (scipy.stats, or Stan's formula for LKJCholesky; see
//! `reference/make_reference.py`), to 1e-10 relative or 1e-12 absolute.

use ppl_dist::{DistKind, event_log_density};
use serde_json::Value;

fn kind_named(name: &str) -> DistKind {
    DistKind::ALL
        .into_iter()
        .find(|kind| format!("{kind:?}") == name)
        .unwrap_or_else(|| panic!("unknown kind {name}"))
}

fn number(value: &Value) -> f64 {
    match value {
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        Value::String(s) if s == "inf" => f64::INFINITY,
        other => other.as_f64().expect("a number"),
    }
}

fn numbers(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(number)
        .collect()
}

#[test]
fn every_kind_agrees_with_the_reference() {
    let text = include_str!("reference/densities.json");
    let data: Value = serde_json::from_str(text).expect("valid json");
    let cases = data["cases"].as_array().expect("cases");
    let mut seen = std::collections::HashSet::new();
    let mut failures = Vec::new();
    for case in cases {
        let kind = kind_named(case["kind"].as_str().unwrap());
        seen.insert(kind);
        let variate = numbers(&case["variate"]);
        let params: Vec<Vec<f64>> = case["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(numbers)
            .collect();
        let param_slices: Vec<&[f64]> = params.iter().map(|p| p.as_slice()).collect();
        let expected = number(&case["logp"]);
        let got = event_log_density(kind, &variate, &param_slices).expect("shapes are valid");
        let ok = if expected.is_finite() {
            (got - expected).abs() <= (1e-10 * expected.abs()).max(1e-12)
        } else {
            got == expected
        };
        if !ok {
            failures.push(format!(
                "{kind:?} x={variate:?} params={params:?}: got {got:e}, expected {expected:e}"
            ));
        }
    }
    for kind in DistKind::ALL {
        assert!(seen.contains(&kind), "no reference cases for {kind:?}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases disagree:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
