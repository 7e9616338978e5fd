//! Nets in ordinary models (LANGUAGE.md §2: a net's weights are params): a regression through an
//! MLP fitted by maximum likelihood recovers the function the data were simulated from
//! (`examples/data/scripts/net_regression.py`: sin(2x) + x/2, noise sd 0.1), and the recognised
//! VAE's IR is what it was before nets went on the tape. The node's gradient is checked against
//! finite differences and forward mode in `ppl-model` (`tape/net_tests.rs`).

mod common;
use common::{ppl_command, root, scratch};

/// The example data: (x, y) rows.
fn regression_data() -> Vec<(f64, f64)> {
    let text = std::fs::read_to_string(root().join("examples/data/net_regression.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let (x, y) = line.split_once(',').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect()
}

#[test]
fn a_net_regression_by_maximum_likelihood_recovers_the_simulated_function() {
    let dir = scratch("nets-regression");
    let data = root().join("examples/data/net_regression.csv");
    let model = dir.join("fit.model");
    // The example with the fitted function recorded at every x.
    std::fs::write(
        &model,
        format!(
            "data \"{}\"\nobserved x: real[N, 1]\nobserved y: real[N]\nparam sigma: positive\n\
             net f = mlp(1, 16, 1, act = tanh)\nlet fit = f(x)[.., 1]\ny ~ Normal(fit, sigma)\n",
            data.display()
        ),
    )
    .unwrap();
    let output = ppl_command()
        .args([
            "run",
            "--format",
            "json",
            "--seed",
            "3",
            "--max-iters",
            "3000",
        ])
        .arg(&model)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["method"], "map");
    let estimates = &report["estimates"];
    let rows = regression_data();
    // The fit against the function the data were drawn from, at the data's x.
    let mut squares = 0.0;
    for (n, (x, _)) in rows.iter().enumerate() {
        let fitted = estimates[format!("fit[{}]", n + 1)]
            .as_f64()
            .unwrap_or_else(|| panic!("no fit[{}] in {estimates}", n + 1));
        let truth = (2.0 * x).sin() + 0.5 * x;
        squares += (fitted - truth).powi(2);
    }
    let rmse = (squares / rows.len() as f64).sqrt();
    // A least-squares fit with p = 49 free weights to n = 200 points with noise sd 0.1 is off the
    // truth by about 0.1 sqrt(p / n) = 0.05 in root mean square; a straight line (the best a
    // net stuck at its start could do) is off by about 0.6.
    assert!(
        rmse < 0.07,
        "root mean square error {rmse} from sin(2x) + x/2"
    );
    // The MLE of the noise sd is sqrt(RSS / n): below 0.1 by the fitted degrees of freedom, with
    // a standard error 0.1 / sqrt(2n) = 0.005.
    let sigma = estimates["sigma"].as_f64().unwrap();
    assert!((0.08..0.115).contains(&sigma), "sigma {sigma}");
    // The weights are params but no output columns (LANGUAGE.md §8).
    let names: Vec<&String> = estimates.as_object().unwrap().keys().collect();
    assert_eq!(names.len(), 1 + rows.len(), "{names:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_example_runs_by_map_and_names_the_net() {
    let output = ppl_command()
        .args(["run", "--format", "json", "--max-iters", "200"])
        .arg(root().join("examples/net_regression.model"))
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["method"], "map");
    let reason = report["reason"].as_str().unwrap();
    assert!(reason.contains("the weights of net `f`"), "{reason}");
}

#[test]
fn the_vae_ir_is_unchanged() {
    let output = ppl_command()
        .args(["check", "--ir"])
        .arg(root().join("examples/vae_digits.model"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let ir = String::from_utf8_lossy(&output.stdout);
    let golden = root().join("tests/golden/vae_digits.ir");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&golden, ir.as_bytes()).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&golden).unwrap(),
        ir,
        "UPDATE_EXPECT=1 to refresh"
    );
}
