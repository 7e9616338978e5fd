//! One model under every method that applies to it, against the same exact answer: a normal
//! mean with a conjugate prior, whose posterior is exactly normal. Samplers must land within 4
//! Monte-Carlo standard errors; the Laplace approximation and ADVI, exact in family here, within
//! 0.25 posterior sd for the mean (Stan's stat_comp_benchmarks criterion) and 15% for the sd.

mod common;

fn run(method: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "run",
        "tests/kernels/normal_mean.model",
        "--format",
        "json",
        "--method",
        method,
    ];
    args.extend_from_slice(extra);
    common::json_report(&common::ppl(&args), method)
}

#[test]
fn every_method_recovers_the_exact_posterior() {
    let y = [1.2, 0.4, 2.1, 1.7, 0.9, 1.5, 0.3, 1.1];
    let precision = 1.0 / 100.0 + y.len() as f64;
    let exact_mean = y.iter().sum::<f64>() / precision;
    let exact_sd = precision.sqrt().recip();
    for (method, extra, sampler) in [
        ("nuts", &[][..], true),
        ("hmc", &[][..], true),
        ("metropolis", &["--draws", "4000"][..], true),
        // The normal–normal pattern: every sweep draws `mu` from its exact conditional.
        ("gibbs", &[][..], true),
        ("laplace", &["--draws", "4000"][..], false),
        ("advi", &["--draws", "4000"][..], false),
        ("advi", &["--draws", "4000", "--full-rank"][..], false),
    ] {
        let json = run(method, extra);
        assert_eq!(json["method"], method);
        let mu = &json["summary"]["mu"];
        let mean = mu["mean"].as_f64().unwrap();
        let sd = mu["sd"].as_f64().unwrap();
        if sampler {
            let mcse = mu["mcse_mean"].as_f64().unwrap();
            assert!(
                (mean - exact_mean).abs() < 4.0 * mcse,
                "{method}: mean {mean} vs {exact_mean} (mcse {mcse})"
            );
            assert!(mu["rhat"].as_f64().unwrap() < 1.01, "{method}");
        } else {
            assert!(
                (mean - exact_mean).abs() < 0.25 * exact_sd,
                "{method} {extra:?}: mean {mean} vs {exact_mean}"
            );
            let k = json["diagnostics"]["pareto_k"].as_f64().unwrap();
            assert!(k < 0.7, "{method}: k-hat {k}");
        }
        assert!(
            (sd / exact_sd - 1.0).abs() < 0.15,
            "{method} {extra:?}: sd {sd} vs {exact_sd}"
        );
    }
}

#[test]
fn methods_that_cannot_apply_say_why() {
    // Contrastive divergence needs an `energy`: the message names the rule and why it fails.
    let output = common::ppl(&["run", "tests/kernels/normal_mean.model", "--method", "cd"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("rule 2"), "{stderr}");
    assert!(stderr.contains("no `energy` statement"), "{stderr}");
}
