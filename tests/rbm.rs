//! The RBM end to end: `ppl run` on the canonical form (LANGUAGE.md §6 rule 2) over a subset
//! of the digits trains by PCD, reports the pseudo-likelihood trace and the AIS estimate, and
//! saves `generator.json`; an energy that is not bilinear is refused with the recogniser's reason
//! on the term responsible.

mod common;
use common::{ppl, root, scratch};

#[test]
fn the_digits_rbm_trains_reports_and_saves_its_generator() {
    let dir = scratch("rbm-digits");
    // The first 300 rows of the digits.
    let text = std::fs::read_to_string(root().join("examples/data/digits.csv")).expect("digits");
    let subset: Vec<&str> = text.lines().take(301).collect();
    let data = dir.join("digits300.csv");
    std::fs::write(&data, subset.join("\n") + "\n").expect("writes");
    let out = dir.join("out");
    let output = ppl(&[
        "run",
        "examples/rbm_digits.model",
        "--data",
        data.to_str().expect("utf-8 path"),
        "--epochs",
        "3",
        "--out",
        out.to_str().expect("utf-8 path"),
        "--format",
        "json",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["method"], "cd");
    assert!(
        report["reason"]
            .as_str()
            .is_some_and(|r| r.contains("bilinear")),
        "{report}"
    );
    let trace: Vec<f64> = report["objective"]
        .as_array()
        .expect("a trace")
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .collect();
    assert_eq!(trace.len(), 3, "{report}");
    // A pseudo-log-likelihood per row of 64 bits lies between 64·log ½ and 0, and training
    // from independent bits does better than a fair coin per bit.
    assert!(
        trace.iter().all(|&p| p < 0.0 && p > 64.0 * 0.5f64.ln()),
        "{trace:?}"
    );
    let diagnostics = &report["diagnostics"];
    let se = diagnostics["ais_log_z_se"]
        .as_f64()
        .expect("an AIS standard error");
    assert!(se > 0.0 && se.is_finite());
    let loglik = diagnostics["ais_loglik_per_row"]
        .as_f64()
        .expect("AIS log-likelihood");
    // The log-likelihood of 64 bits cannot exceed the pseudo-likelihood bound's scale by much:
    // it is negative and above 64·log ½ for any model better than coins.
    assert!(loglik < 0.0, "{loglik}");
    assert_eq!(
        report["plan"]["h"]
            .as_str()
            .map(|s| s.contains("summed out")),
        Some(true)
    );

    let generator: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("generator.json")).expect("generator.json written"),
    )
    .expect("JSON");
    assert_eq!(generator["kind"], "rbm");
    assert_eq!(generator["visible"], 64);
    assert_eq!(generator["hidden"], 64);
    assert_eq!(generator["image"], serde_json::json!([8, 8]));
    assert_eq!(generator["columns"][0], "pixel.1");
    assert_eq!(generator["weights"].as_array().map(Vec::len), Some(64 * 64));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_energy_that_is_not_bilinear_is_refused_on_its_term() {
    let model = "tests/planner/energy_not_bilinear.model";
    let source = std::fs::read_to_string(root().join(model)).expect("model");
    for extra in [&[][..], &["--method", "cd"][..]] {
        let mut args = vec!["run", model, "--format", "json"];
        args.extend_from_slice(extra);
        let output = ppl(&args);
        assert_eq!(output.status.code(), Some(1));
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
        let error = &json["error"];
        let code = error["code"].as_str().unwrap_or("");
        assert_eq!(
            code,
            if extra.is_empty() { "E0706" } else { "E0701" },
            "{json}"
        );
        let message = error["message"].as_str().unwrap_or("");
        assert!(
            message.contains("rule 2") && message.contains("couples a layer with itself"),
            "{message}"
        );
        let span = error["span"].as_array().expect("a span");
        let pointed =
            &source[span[0].as_u64().unwrap_or(0) as usize..span[1].as_u64().unwrap_or(0) as usize];
        assert_eq!(pointed, "h @ V * h");
    }
}
