//! The planner as a user meets it: `ppl run` says which rule of LANGUAGE.md §6 it used and how
//! each unknown is handled; a model no rule fits, or a forced method that cannot apply, gets the
//! closest rule's exact reason on the statement responsible; `ppl check` validates `infer`
//! settings; the help lists every setting from the one table.

mod common;

use common::{ppl, root};

/// The JSON error of a failed run: (exit status, code, the text its span covers).
fn failure(model_path: &str, extra: &[&str]) -> (Option<i32>, String, String, String) {
    let mut args = vec!["run", model_path, "--format", "json"];
    args.extend_from_slice(extra);
    let output = ppl(&args);
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON object on stdout");
    let error = &json["error"];
    let source = std::fs::read_to_string(root().join(model_path)).expect("model text");
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
fn the_json_carries_a_plan_per_unknown() {
    let output = ppl(&["run", "examples/gmm.model", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let plan = json["plan"].as_object().expect("plan object");
    let names: Vec<&str> = plan.keys().map(String::as_str).collect();
    assert_eq!(names, ["w", "mu", "sigma", "z"]);
    assert!(plan["z"].as_str().unwrap().contains("EM responsibilities"));
    assert!(plan["mu"].as_str().unwrap().contains("closed-form M-step"));
    let table = ppl(&[
        "run",
        "examples/eight_schools_noncentered.model",
        "--draws",
        "100",
    ]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("plan:   mu, eta: NUTS · tau: NUTS, on the log scale"),
        "{text}"
    );
}

#[test]
fn a_model_with_no_unknowns_is_told_so_on_its_statement() {
    let (status, code, pointed, message) = failure("tests/planner/no_unknowns.model", &[]);
    assert_eq!((status, code.as_str()), (Some(1), "E0706"));
    assert_eq!(pointed, "y ~ Normal(0, 1)");
    assert!(message.contains("no unknowns"), "{message}");
}

#[test]
fn a_gan_with_any_names_is_trained_by_rule_1() {
    let output = ppl(&[
        "run",
        "tests/planner/gan_generic_names.model",
        "--format",
        "json",
        "--steps",
        "20",
    ]);
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["method"], "gan");
    assert!(json["reason"].as_str().unwrap().contains("`gen(eps)`"));
    assert!(json["plan"]["eps"].as_str().unwrap().contains("noise"));
    // 2 rows in batches of 100: one step per epoch, so 20 epochs of losses.
    assert_eq!(json["objective"].as_array().unwrap().len(), 20);
    assert_eq!(
        json["diagnostics"]["critic_loss"].as_array().unwrap().len(),
        20
    );
}

#[test]
fn an_implicit_model_without_a_critic_is_refused_on_its_statement() {
    let (status, code, pointed, message) = failure("tests/planner/gan_no_critic.model", &[]);
    assert_eq!((status, code.as_str()), (Some(1), "E0706"), "{message}");
    assert_eq!(pointed, "x ~ Implicit(gen(eps))");
    assert!(message.contains("needs a `critic NET`"), "{message}");
    let (status, code, _, message) =
        failure("tests/planner/gan_no_critic.model", &["--method", "gan"]);
    assert_eq!((status, code.as_str()), (Some(1), "E0701"), "{message}");
    // A method with a log density cannot run an implicit model at all.
    let (status, code, pointed, message) = failure(
        "tests/planner/gan_generic_names.model",
        &["--method", "nuts"],
    );
    assert_eq!((status, code.as_str()), (Some(1), "E0705"), "{message}");
    assert!(message.contains("no log density"), "{message}");
    assert_eq!(pointed, "x ~ Implicit(gen(eps))");
}

#[test]
fn a_forced_method_whose_rule_fails_says_which_and_why() {
    let (status, code, _, message) = failure(
        "examples/eight_schools_noncentered.model",
        &["--method", "cd"],
    );
    assert_eq!((status, code.as_str()), (Some(1), "E0701"));
    assert!(message.contains("rule 2"), "{message}");
    assert!(message.contains("no `energy` statement"), "{message}");
}

#[test]
fn forcing_em_names_the_failing_rule_and_its_statement() {
    let (status, code, pointed, message) = failure(
        "examples/eight_schools_noncentered.model",
        &["--method", "em"],
    );
    assert_eq!((status, code.as_str()), (Some(1), "E0701"));
    assert!(message.contains("rule 4"), "{message}");
    assert_eq!(pointed, "<no span>", "{message}");
    let (status, code, pointed, message) =
        failure("examples/regression_mle.model", &["--method", "em"]);
    assert_eq!((status, code.as_str()), (Some(1), "E0701"));
    assert!(message.contains("no finite discrete latent"), "{message}");
    let _ = pointed;
}

#[test]
fn check_validates_infer_settings_with_spans() {
    let dir = std::env::temp_dir().join(format!("ppl-planner-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("m.model");
    std::fs::write(
        &model,
        "latent mu: real\nmu ~ Normal(0, 1)\ninfer nuts(chains = 2.5, tol = 1e-3, chain = 2)\n",
    )
    .unwrap();
    let output = ppl(&["check", model.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("`chains` must be a whole number from 1 to 1024, not 2.5"),
        "{stderr}"
    );
    assert!(stderr.contains("W0010"), "a setting nuts ignores: {stderr}");
    assert!(stderr.contains("did you mean `chains`?"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn impossible_flags_are_usage_errors() {
    for flags in [
        ["--chains", "1e30"],
        ["--chains", "0"],
        ["--adapt-delta", "1"],
        ["--max-depth", "31"],
    ] {
        let mut args = vec!["run", "examples/eight_schools_noncentered.model"];
        args.extend(flags);
        let output = ppl(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(stderr.contains("E0702"), "{flags:?}: {stderr}");
    }
}

#[test]
fn help_lists_every_setting_with_its_default() {
    let settings = String::from_utf8_lossy(&ppl(&["help", "settings"]).stdout).to_string();
    let run_help = String::from_utf8_lossy(&ppl(&["run", "--help"]).stdout).to_string();
    for key in [
        "chains",
        "warmup",
        "draws",
        "seed",
        "chain_id",
        "max_depth",
        "adapt_delta",
        "dense",
        "restarts",
        "max_iters",
        "tol",
        "reg_covar",
    ] {
        let flag = format!("--{}", key.replace('_', "-"));
        assert!(settings.contains(&flag), "help settings lacks {flag}");
        assert!(run_help.contains(&flag), "run --help lacks {flag}");
    }
    assert!(settings.contains("default 1000"), "{settings}");
    assert!(run_help.contains("[default: 4]"), "{run_help}");
    let methods = String::from_utf8_lossy(&ppl(&["help", "methods"]).stdout).to_string();
    assert!(methods.contains("4. EM"), "{methods}");
    let nuts = String::from_utf8_lossy(&ppl(&["help", "nuts"]).stdout).to_string();
    assert!(nuts.contains("--max-depth"), "{nuts}");
    assert_eq!(ppl(&["help", "nonsense"]).status.code(), Some(2));
}
