//! `scalar_log_cdf` and `scalar_log_ccdf` against the committed scipy values in
//! `reference/cdfs.json` (`reference/make_cdf_reference.py`: scipy.stats logcdf / logsf), to
//! 1e-10 relative or 1e-12 absolute, and their dual-number derivatives against central finite
//! differences in the variate and every parameter.

use num_dual::Dual64;
use ppl_dist::{DistKind, has_cdf, scalar_log_ccdf, scalar_log_cdf};
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

struct Case {
    kind: DistKind,
    x: f64,
    params: Vec<f64>,
    log_cdf: f64,
    log_ccdf: f64,
}

fn cases() -> Vec<Case> {
    let data: Value =
        serde_json::from_str(include_str!("reference/cdfs.json")).expect("valid json");
    data["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|case| Case {
            kind: kind_named(case["kind"].as_str().unwrap()),
            x: number(&case["x"]),
            params: case["params"]
                .as_array()
                .unwrap()
                .iter()
                .map(number)
                .collect(),
            log_cdf: number(&case["logcdf"]),
            log_ccdf: number(&case["logccdf"]),
        })
        .collect()
}

fn agrees(got: f64, expected: f64) -> bool {
    if expected.is_finite() {
        (got - expected).abs() <= (1e-10 * expected.abs()).max(1e-12)
    } else {
        got == expected
    }
}

#[test]
fn every_cdf_agrees_with_scipy() {
    let mut failures = Vec::new();
    let mut kinds = std::collections::HashSet::new();
    for case in cases() {
        kinds.insert(case.kind);
        let lower = scalar_log_cdf(case.kind, case.x, &case.params);
        let upper = scalar_log_ccdf(case.kind, case.x, &case.params);
        if !agrees(lower, case.log_cdf) {
            failures.push(format!(
                "logcdf {:?} x={} {:?}: {lower:e} vs {:e}",
                case.kind, case.x, case.params, case.log_cdf
            ));
        }
        if !agrees(upper, case.log_ccdf) {
            failures.push(format!(
                "logccdf {:?} x={} {:?}: {upper:e} vs {:e}",
                case.kind, case.x, case.params, case.log_ccdf
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every kind here has a cdf; the kinds added later (Gamma, Beta, StudentT, the discrete
    // ones) are checked against scipy in the root package's tests/cdf.rs.
    for kind in kinds {
        assert!(has_cdf(kind), "{kind:?}");
    }
}

#[test]
fn cdf_derivatives_match_finite_differences() {
    type Function = fn(DistKind, Dual64, &[Dual64]) -> Dual64;
    type Plain = fn(DistKind, f64, &[f64]) -> f64;
    let functions: [(&str, Function, Plain); 2] = [
        ("logcdf", scalar_log_cdf::<Dual64>, scalar_log_cdf::<f64>),
        ("logccdf", scalar_log_ccdf::<Dual64>, scalar_log_ccdf::<f64>),
    ];
    let mut failures = Vec::new();
    for case in cases() {
        let mut point = vec![case.x];
        point.extend(&case.params);
        for (name, dual_function, plain) in functions {
            let value = plain(case.kind, case.x, &case.params);
            // Derivatives are checked where the function is smooth and not saturated: away from
            // the support's edges and kinks (0 for the half and positive kinds, the Uniform's
            // ends, the Laplace centre), and where the value is not so close to 0 that a finite
            // difference only sees rounding.
            let edge = |v: f64| (v - case.x).abs() < 1e-3;
            let at_kink = match case.kind {
                DistKind::Uniform => edge(case.params[0]) || edge(case.params[1]),
                DistKind::Laplace => edge(case.params[0]),
                _ => case.x.abs() < 1e-3,
            };
            if !value.is_finite() || value > -1e-9 || at_kink {
                continue;
            }
            for k in 0..point.len() {
                let seeded: Vec<Dual64> = point
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| Dual64::new(v, if i == k { 1.0 } else { 0.0 }))
                    .collect();
                let derivative = dual_function(case.kind, seeded[0], &seeded[1..]).eps;
                let h = 1e-6 * point[k].abs().max(1e-2);
                let shifted = |delta: f64| {
                    let mut p = point.clone();
                    p[k] += delta;
                    plain(case.kind, p[0], &p[1..])
                };
                let difference = (shifted(h) - shifted(-h)) / (2.0 * h);
                if (derivative - difference).abs() > 1e-5 * difference.abs().max(1.0) {
                    failures.push(format!(
                        "{name} {:?} x={} {:?} d/d[{k}]: {derivative} vs {difference}",
                        case.kind, case.x, case.params
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
