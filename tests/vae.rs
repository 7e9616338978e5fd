//! The VAE as a user meets it: `auto` recognises the canonical form (rule 3) and trains it, the
//! ELBO rises over the epochs, the held-out IWAE bound is at least the held-out ELBO (up to its
//! Monte-Carlo error), `ppl sample` reloads the saved nets and writes a CSV and pictures of sane
//! size, and forms the recogniser refuses get its reason on the statement responsible.

mod common;
use common::{ppl, root, scratch};

#[test]
fn a_small_vae_trains_reports_its_bounds_and_samples() {
    let out = scratch("vae-small");
    let out_text = out.to_str().unwrap();
    let output = ppl(&[
        "run",
        "tests/vae/small.model",
        "--epochs",
        "30",
        "--holdout",
        "297",
        "--iwae-samples",
        "50",
        "--format",
        "json",
        "--out",
        out_text,
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(json["method"], "vae");
    assert!(
        json["reason"]
            .as_str()
            .unwrap()
            .contains("variational autoencoder")
    );
    let objective: Vec<f64> = json["objective"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(objective.len(), 30);
    // 64 Bernoulli pixels near p = 1/2 at the start cost about 64 log 2 ≈ 44 nats; a trained
    // 2-D code explains much of a digit.
    assert!(objective[0] < -35.0, "{objective:?}");
    assert!(objective[29] > objective[0] + 10.0, "{objective:?}");
    let test = &json["diagnostics"]["test"];
    let (elbo, mcse, iwae) = (
        test["elbo"].as_f64().unwrap(),
        test["elbo_mcse"].as_f64().unwrap(),
        test["iwae"].as_f64().unwrap(),
    );
    assert!(
        iwae >= elbo - 3.0 * mcse,
        "IWAE {iwae} below ELBO {elbo} ± {mcse}"
    );
    assert!(elbo < 0.0 && iwae < 0.0);
    assert_eq!(json["diagnostics"]["holdout"], 297);
    assert!(out.join("generator.json").exists());

    let stem = out.join("digits");
    let stem_text = stem.to_str().unwrap();
    let sample = ppl(&["sample", out_text, "--n", "16", "--out", stem_text]);
    assert!(
        sample.status.success(),
        "{}",
        String::from_utf8_lossy(&sample.stderr)
    );
    let csv = std::fs::read_to_string(out.join("digits.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 17);
    assert!(lines[0].starts_with("x.1,x.2,") && lines[0].ends_with(",x.64"));
    for line in &lines[1..] {
        let values: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        assert_eq!(values.len(), 64);
        assert!(
            values.iter().all(|p| (0.0..=1.0).contains(p)),
            "pixel probabilities"
        );
    }
    for picture in ["digits.png", "digits_reconstructions.png"] {
        let size = std::fs::metadata(out.join(picture)).unwrap().len();
        assert!(
            (1_000..5_000_000).contains(&size),
            "{picture}: {size} bytes"
        );
    }
    // Reloading is deterministic for a seed.
    let again = out.join("again");
    ppl(&[
        "sample",
        out_text,
        "--n",
        "16",
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read_to_string(out.join("again.csv")).unwrap(), csv);
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn sample_without_a_generator_is_a_coded_error() {
    let out = scratch("vae-empty");
    std::fs::create_dir_all(&out).unwrap();
    let output = ppl(&[
        "sample",
        out.to_str().unwrap(),
        "--out",
        out.join("f").to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("E0909"));
    std::fs::remove_dir_all(&out).ok();
}

/// (exit status, code, the text the error's span covers, message).
fn failure(model_path: &str) -> (Option<i32>, String, String, String) {
    let output = ppl(&["run", model_path, "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    let error = &json["error"];
    let source = std::fs::read_to_string(root().join(model_path)).unwrap();
    let pointed = error["span"]
        .as_array()
        .and_then(|s| source.get(s[0].as_u64()? as usize..s[1].as_u64()? as usize))
        .unwrap_or("<no span>")
        .to_string();
    (
        output.status.code(),
        error["code"].as_str().unwrap_or("").to_string(),
        pointed,
        error["message"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn a_guide_on_the_wrong_columns_gets_rule_3s_reason_on_the_guide() {
    let (status, code, pointed, message) = failure("tests/vae/guide_columns.model");
    assert_eq!((status, code.as_str()), (Some(1), "E0706"), "{message}");
    assert_eq!(
        pointed,
        "guide z ~ Normal(h[.., 1:2], exp(0.5 * h[.., 2:3]))"
    );
    assert!(
        message.contains("rule 3") && message.contains("columns 3:4"),
        "{message}"
    );
}

#[test]
fn a_forced_vae_whose_guide_sd_is_not_exp_names_the_sd() {
    let (status, code, pointed, message) = failure("tests/vae/guide_scale_not_exp.model");
    assert_eq!((status, code.as_str()), (Some(1), "E0701"), "{message}");
    assert_eq!(pointed, "h[.., 3:4]");
    assert!(message.contains("exp(c * h"), "{message}");
}
