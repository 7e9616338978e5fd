//! Every model in `examples/` runs through the binary as a user would run it: exit status 0, one
//! JSON object with `--format json`; EM fits match a golden table in `tests/golden/` (timings
//! removed; written and refreshed only with `UPDATE_EXPECT=1`; a missing one fails) and sampled models converge.

mod common;

use std::path::PathBuf;

use common::{ppl, root};

fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "model"))
        .collect();
    files.sort();
    files
}

fn run_json(model: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["run", model, "--format", "json"];
    args.extend_from_slice(extra);
    common::json_report(&ppl(&args), model)
}

#[test]
fn every_example_runs_and_matches_its_golden_table() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    for path in examples() {
        // These need NUTS with their discrete latents summed out (issue 7): the library side is
        // in ppl-model (`Posterior::new`, `complete_draw`) and tested in tests/marginalise.rs;
        // remove this skip once `ppl run` routes them there.
        let relative = path
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .to_string();
        let output = ppl(&["run", &relative]);
        if output.status.code() != Some(0) {
            failures.push(format!(
                "{relative}: exit {:?}\n{}",
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            ));
            continue;
        }
        // Sampled output depends on every last bit of floating point (a different libm on another
        // CPU changes the trajectories), so only the deterministic fits (EM, MAP) have golden tables; the
        // sampled examples are checked by `sampled_examples_converge`.
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        if !stdout.starts_with("method: em") && !stdout.starts_with("method: map") {
            continue;
        }
        let table: String = stdout
            .lines()
            .filter(|l| !l.starts_with("time:"))
            .map(|l| format!("{l}\n"))
            .collect();
        let golden = root()
            .join("tests/golden")
            .join(path.file_stem().unwrap())
            .with_extension("txt");
        if update {
            std::fs::write(&golden, &table).unwrap();
        } else if !golden.exists() {
            failures.push(format!(
                "{relative}: no golden file {} (UPDATE_EXPECT=1 writes it)",
                golden.display()
            ));
        } else if std::fs::read_to_string(&golden).unwrap() != table {
            failures.push(format!(
                "{relative}: output differs from {} (UPDATE_EXPECT=1 to refresh)\n{table}",
                golden.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn json_output_has_the_documented_fields() {
    let json = run_json("examples/gmm.model", &[]);
    for key in [
        "method",
        "reason",
        "seconds",
        "total_seconds",
        "summary",
        "estimates",
        "objective",
        "diagnostics",
    ] {
        assert!(json.get(key).is_some(), "missing `{key}` in {json}");
    }
    assert_eq!(json["method"], "em");
    assert!(json["estimates"]["mu[1]"].is_number());
    assert!(json["estimates"]["sigma[2]"].is_number());
}

#[test]
fn em_objective_never_decreases_on_the_examples() {
    for model in [
        "examples/gmm.model",
        "examples/faithful.model",
        "examples/poisson_mixture.model",
    ] {
        let json = run_json(model, &[]);
        let trace: Vec<f64> = json["objective"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!(trace.len() >= 2, "{model}: trace {trace:?}");
        for pair in trace.windows(2) {
            assert!(
                pair[1] >= pair[0] - 1e-9 * pair[0].abs(),
                "{model}: objective fell: {pair:?}"
            );
        }
    }
}

#[test]
fn same_seed_gives_identical_output() {
    let a = run_json(
        "examples/faithful.model",
        &["--restarts", "3", "--seed", "7"],
    );
    let b = run_json(
        "examples/faithful.model",
        &["--restarts", "3", "--seed", "7"],
    );
    assert_eq!(a["estimates"], b["estimates"]);
    assert_eq!(a["objective"], b["objective"]);
}

#[test]
fn check_prints_the_ir() {
    let output = ppl(&["check", "--ir", "examples/gmm.model"]);
    assert_eq!(output.status.code(), Some(0));
    let ir = String::from_utf8_lossy(&output.stdout);
    let golden = root().join("tests/golden/gmm.ir");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&golden, ir.as_bytes()).unwrap();
    } else {
        assert!(
            golden.exists(),
            "no golden file {} (UPDATE_EXPECT=1 writes it)",
            golden.display()
        );
        assert_eq!(
            std::fs::read_to_string(&golden).unwrap(),
            ir,
            "UPDATE_EXPECT=1 to refresh"
        );
    }
    assert!(
        ir.contains("x ~ Normal(mu[gather z], sigma[gather z])"),
        "{ir}"
    );
}

#[test]
fn usage_errors_exit_with_status_two() {
    assert_eq!(ppl(&["run"]).status.code(), Some(2));
    assert_eq!(
        ppl(&["run", "examples/gmm.model", "--restarts", "0"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        ppl(&["run", "examples/gmm.model", "--set", "Q=3"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(ppl(&["run", "no/such/file.model"]).status.code(), Some(2));
}

#[test]
fn old_faithful_matches_scikit_learn() {
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/reference/faithful_sklearn.json")).unwrap(),
    )
    .unwrap();
    let expected = reference["loglik_per_point"].as_f64().unwrap();
    let json = run_json("examples/faithful.model", &["--restarts", "10"]);
    let ours = json["diagnostics"]["log_likelihood_per_point"]
        .as_f64()
        .unwrap();
    // Both run EM to a tolerance far below this on the same data and `reg_covar`: the optimum's
    // log-likelihood agrees to about 1e-10 per point (measured), so 1e-8 is a real check.
    assert!(
        (ours - expected).abs() < 1e-8,
        "ours {ours}, scikit-learn {expected}"
    );
    // Same optimum, same labelling (components sorted by first mean coordinate).
    let means = reference["means"].as_array().unwrap();
    let mut sklearn_first: Vec<f64> = means.iter().map(|m| m[0].as_f64().unwrap()).collect();
    sklearn_first.sort_by(f64::total_cmp);
    for (k, expected) in sklearn_first.iter().enumerate() {
        let ours = json["estimates"][format!("mu[{},1]", k + 1)]
            .as_f64()
            .unwrap();
        assert!(
            (ours - expected).abs() < 1e-3,
            "mu[{},1]: ours {ours}, scikit-learn {expected}",
            k + 1
        );
    }
}

#[test]
fn gmm_data_is_exactly_what_simulate_writes() {
    let out = std::env::temp_dir().join(format!("ppl-gmm-{}.csv", std::process::id()));
    let output = ppl(&[
        "simulate",
        "examples/gmm.model",
        "--set",
        "w=[0.4,0.6]",
        "--set",
        "mu=[-1,1]",
        "--set",
        "sigma=[0.5,0.8]",
        "--n",
        "1000",
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let written = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_file(&out).ok();
    assert_eq!(
        written,
        std::fs::read_to_string(root().join("examples/data/gmm.csv")).unwrap()
    );
}

/// The GMM estimates on the example file are close to the truth, where "close" is measured by
/// the spread of the same estimator over data sets simulated from the truth: the fitted values
/// must lie within 4 of those standard deviations of the true values, and the estimator's mean
/// over replications within 4 standard errors (no bias).
#[test]
fn gmm_estimates_recover_the_truth() {
    let truth = [
        ("w[1]", 0.4),
        ("w[2]", 0.6),
        ("mu[1]", -1.0),
        ("mu[2]", 1.0),
        ("sigma[1]", 0.5),
        ("sigma[2]", 0.8),
    ];
    let replications = 40;
    let mut estimates: Vec<Vec<f64>> = vec![Vec::new(); truth.len()];
    let dir = std::env::temp_dir().join(format!("ppl-gmm-reps-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for seed in 100..100 + replications {
        let file = dir.join(format!("{seed}.csv"));
        let file = file.to_str().unwrap();
        let seed = seed.to_string();
        let output = ppl(&[
            "simulate",
            "examples/gmm.model",
            "--set",
            "w=[0.4,0.6]",
            "--set",
            "mu=[-1,1]",
            "--set",
            "sigma=[0.5,0.8]",
            "--n",
            "1000",
            "--seed",
            &seed,
            "--out",
            file,
        ]);
        assert_eq!(output.status.code(), Some(0));
        let json = run_json("examples/gmm.model", &["--data", file, "--restarts", "3"]);
        for (k, (name, _)) in truth.iter().enumerate() {
            estimates[k].push(json["estimates"][*name].as_f64().unwrap());
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    let fitted = run_json("examples/gmm.model", &["--restarts", "3"]);
    for (k, (name, true_value)) in truth.iter().enumerate() {
        let values = &estimates[k];
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
            / (values.len() - 1) as f64)
            .sqrt();
        let standard_error = sd / (values.len() as f64).sqrt();
        assert!(
            (mean - true_value).abs() < 4.0 * standard_error + 1e-3 * sd,
            "{name}: mean estimate {mean} vs truth {true_value} (se {standard_error})"
        );
        let ours = fitted["estimates"][*name].as_f64().unwrap();
        assert!(
            (ours - true_value).abs() < 4.0 * sd,
            "{name}: {ours} vs truth {true_value} (sd {sd})"
        );
    }
}

#[test]
fn sampled_examples_converge() {
    for model in [
        "examples/eight_schools_noncentered.model",
        "examples/linear_regression.model",
        "examples/logistic_regression.model",
        "examples/gp_regression.model",
    ] {
        let json = run_json(model, &[]);
        assert_eq!(json["method"], "nuts", "{model}");
        assert!(
            json["reason"].as_str().unwrap().contains("continuous"),
            "{model}"
        );
        let summary = json["summary"].as_object().unwrap();
        assert!(!summary.is_empty());
        for (name, row) in summary {
            let rhat = row["rhat"].as_f64().unwrap();
            let ess = row["ess_bulk"].as_f64().unwrap();
            assert!(rhat < 1.01, "{model}: {name} R-hat {rhat}");
            assert!(ess > 400.0, "{model}: {name} bulk ESS {ess}");
        }
    }
}

#[test]
fn centred_eight_schools_reports_divergences_and_the_cure() {
    let json = run_json("examples/eight_schools_centered.model", &[]);
    assert!(json["diagnostics"]["divergences"].as_u64().unwrap() > 0);
    let warnings = json["diagnostics"]["warnings"].to_string();
    assert!(
        warnings.contains("non-centred form of `theta`"),
        "{warnings}"
    );
    let json = run_json("examples/eight_schools_noncentered.model", &[]);
    let divergences = json["diagnostics"]["divergences"].as_u64().unwrap();
    assert!(divergences <= 4, "non-centred: {divergences} divergences");
}

/// Maximum likelihood for a linear regression is least squares: the estimates and standard errors
/// must equal the closed form (normal equations, sigma^2 = RSS / N, the inverse observed
/// information) to optimiser precision.
#[test]
fn regression_mle_equals_least_squares() {
    let data: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("examples/data/kidiq.json")).unwrap(),
    )
    .unwrap();
    let y: Vec<f64> = data["kid_score"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let x: Vec<f64> = data["mom_iq"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v.as_f64().unwrap() - 100.0) / 15.0)
        .collect();
    let n = y.len() as f64;
    let (mean_x, mean_y) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxx: f64 = x.iter().map(|v| (v - mean_x).powi(2)).sum();
    let sxy: f64 = x
        .iter()
        .zip(&y)
        .map(|(a, b)| (a - mean_x) * (b - mean_y))
        .sum();
    let beta = sxy / sxx;
    let alpha = mean_y - beta * mean_x;
    let rss: f64 = x
        .iter()
        .zip(&y)
        .map(|(a, b)| (b - alpha - beta * a).powi(2))
        .sum();
    let sigma = (rss / n).sqrt();
    let se_beta = sigma / sxx.sqrt();
    let json = run_json("examples/regression_mle.model", &[]);
    assert_eq!(json["method"], "map");
    let estimate = |name: &str| json["estimates"][name].as_f64().unwrap();
    for (name, expected) in [("alpha", alpha), ("beta", beta), ("sigma", sigma)] {
        assert!(
            (estimate(name) - expected).abs() < 1e-6 * expected.abs().max(1.0),
            "{name}: {} vs {expected}",
            estimate(name)
        );
    }
    // The observed information at the mode: X'X / sigma^2 for (alpha, beta) and 2N / sigma^2 for
    // sigma (block-diagonal at the MLE). The Hessian is exact (dual numbers), so the standard
    // errors agree to the optimiser's precision, as the estimates do.
    let se_alpha = sigma * (1.0 / n + mean_x * mean_x / sxx).sqrt();
    let se_sigma = sigma / (2.0 * n).sqrt();
    for (name, expected) in [("alpha", se_alpha), ("beta", se_beta), ("sigma", se_sigma)] {
        let se = json["diagnostics"]["standard_errors"][name]
            .as_f64()
            .unwrap();
        assert!(
            (se - expected).abs() < 1e-6 * expected,
            "se({name}) {se} vs {expected}"
        );
    }
}

#[test]
fn static_hmc_converges_on_a_regression() {
    let json = run_json("examples/linear_regression.model", &["--method", "hmc"]);
    assert_eq!(json["method"], "hmc");
    for (name, row) in json["summary"].as_object().unwrap() {
        assert!(row["rhat"].as_f64().unwrap() < 1.01, "{name}: {row}");
        assert!(row["ess_bulk"].as_f64().unwrap() > 400.0, "{name}: {row}");
    }
}

/// The gmm example against scikit-learn's GaussianMixture on the same data (its script and
/// output are `tests/reference/gmm_sklearn.*`). Run to a tight tolerance, both find the same
/// optimum: the log-likelihood per point agrees to 2e-13 and the estimates to 4e-7 (measured).
/// At the default tolerance (the golden table's run) EM stops 3.6e-8 per point short of it, and
/// the estimates are within 4e-4 of the optimum: the golden's fourth decimal is checked here.
#[test]
fn gmm_matches_scikit_learn() {
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/reference/gmm_sklearn.json")).unwrap(),
    )
    .unwrap();
    let expected_per_point = reference["loglik_per_point"].as_f64().unwrap();
    let list = |key: &str| -> Vec<f64> {
        reference[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let (weights, means, sds) = (list("weights"), list("means"), list("sds"));
    let check = |json: &serde_json::Value, per_point_tolerance: f64, tolerance: f64| {
        let ours = json["diagnostics"]["log_likelihood_per_point"]
            .as_f64()
            .unwrap();
        assert!(
            (ours - expected_per_point).abs() < per_point_tolerance,
            "log-likelihood per point: ours {ours}, scikit-learn {expected_per_point}"
        );
        for k in 0..2 {
            for (name, expected) in [("w", weights[k]), ("mu", means[k]), ("sigma", sds[k])] {
                let key = format!("{name}[{}]", k + 1);
                let value = json["estimates"][&key].as_f64().unwrap();
                assert!(
                    (value - expected).abs() < tolerance,
                    "{key}: ours {value}, scikit-learn {expected}"
                );
            }
        }
    };
    let tight = run_json(
        "examples/gmm.model",
        &["--tol", "1e-14", "--max-iters", "100000"],
    );
    check(&tight, 1e-11, 2e-6);
    let default = run_json("examples/gmm.model", &[]);
    check(&default, 1e-7, 1e-3);
}

/// The coal-mining change point as `ppl run` samples it (NUTS with the switch summed out, then
/// recovered per draw) against the exact posterior: with Exponential(1) priors each rate
/// integrates in closed form, so p(s | y) is a sum over the years, and the posterior means of
/// `s`, `early` and `late` follow. Each must be within 4 Monte Carlo standard errors (the run's
/// own `mcse_mean`; measured: 0.8, 0.9 and 0.01 SE with the default seed).
#[test]
fn coal_change_point_matches_the_exact_posterior() {
    let text = std::fs::read_to_string(root().join("examples/data/coal_disasters.csv")).unwrap();
    let counts: Vec<f64> = text
        .lines()
        .skip(1)
        .map(|line| line.split(',').nth(1).unwrap().trim().parse().unwrap())
        .collect();
    let years = counts.len();
    fn ln_gamma_of_count_plus_one(count: f64) -> f64 {
        (1..=count as u64).map(|k| (k as f64).ln()).sum()
    }
    // ∫ λ^c e^{-(n+1) λ} dλ = c! / (n+1)^{c+1} for a segment of n years with c disasters.
    let segment =
        |sum: f64, n: usize| ln_gamma_of_count_plus_one(sum) - (sum + 1.0) * (n as f64 + 1.0).ln();
    let mut log_weights = Vec::new();
    let mut early = Vec::new();
    let mut late = Vec::new();
    for s in 1..=years {
        let before: f64 = counts[..s - 1].iter().sum();
        let after: f64 = counts[s - 1..].iter().sum();
        log_weights.push(segment(before, s - 1) + segment(after, years - s + 1));
        early.push((before + 1.0) / s as f64);
        late.push((after + 1.0) / (years - s + 2) as f64);
    }
    let top = log_weights
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = log_weights.iter().map(|w| (w - top).exp()).sum();
    let probability: Vec<f64> = log_weights
        .iter()
        .map(|w| (w - top).exp() / total)
        .collect();
    let expect =
        |values: &[f64]| -> f64 { probability.iter().zip(values).map(|(p, v)| p * v).sum() };
    let switch: Vec<f64> = (1..=years).map(|s| s as f64).collect();
    let json = run_json("examples/coal_changepoint.model", &[]);
    for (name, exact) in [
        ("s", expect(&switch)),
        ("early", expect(&early)),
        ("late", expect(&late)),
    ] {
        let row = &json["summary"][name];
        let mean = row["mean"].as_f64().unwrap();
        let mcse = row["mcse_mean"].as_f64().unwrap();
        assert!(
            (mean - exact).abs() < 4.0 * mcse,
            "{name}: posterior mean {mean} ± {mcse}, exact {exact}"
        );
    }
}
