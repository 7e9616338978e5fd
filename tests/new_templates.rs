//! `ppl new NAME --template T` writes a model and data that run as they are and recover what the
//! data were simulated from; it never overwrites a file.

use std::path::Path;
use std::process::Command;

fn ppl(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ppl"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("ppl runs")
}

#[test]
fn every_template_runs_and_recovers_its_simulation() {
    let dir = std::env::temp_dir().join(format!("ppl-new-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for template in ["regression", "mixture", "hierarchical"] {
        let name = format!("t_{template}");
        let output = ppl(&dir, &["new", &name, "--template", template]);
        assert_eq!(output.status.code(), Some(0), "{template}: {output:?}");
        let model = format!("{name}.model");
        let output = ppl(&dir, &["run", &model, "--format", "json"]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{template}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        match template {
            "regression" => {
                // Simulated with alpha = 1, beta = 2, sigma = 0.5 from 100 points.
                let summary = &json["summary"];
                for (name, truth) in [("alpha", 1.0), ("beta", 2.0), ("sigma", 0.5)] {
                    let mean = summary[name]["mean"].as_f64().unwrap();
                    let sd = summary[name]["sd"].as_f64().unwrap();
                    assert!((mean - truth).abs() < 4.0 * sd, "{name}: {mean} ± {sd}");
                    assert!(summary[name]["rhat"].as_f64().unwrap() < 1.01);
                }
            }
            "mixture" => {
                // Weights 0.4 / 0.6, means -1 and 1.5, from 300 points.
                let estimates = &json["estimates"];
                let mu1 = estimates["mu[1]"].as_f64().unwrap();
                let mu2 = estimates["mu[2]"].as_f64().unwrap();
                let (low, high) = if mu1 < mu2 { (mu1, mu2) } else { (mu2, mu1) };
                assert!(
                    (low + 1.0).abs() < 0.25 && (high - 1.5).abs() < 0.25,
                    "{low}, {high}"
                );
            }
            _ => {
                assert!(json["diagnostics"]["max_rhat"].as_f64().unwrap() < 1.01);
                assert_eq!(json["diagnostics"]["divergences"].as_u64(), Some(0));
            }
        }
    }
    let again = ppl(&dir, &["new", "t_regression"]);
    assert_eq!(again.status.code(), Some(2), "must not overwrite");
    std::fs::remove_dir_all(&dir).unwrap();
}
