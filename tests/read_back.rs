//! The commands a newcomer meets around a run: `ppl summary` of a run's draws names the method
//! that wrote them and shows only the diagnostics that method has (a random-walk chain has no
//! step size or energy), and `ppl help` reads as the commands' own `--help` does.

mod common;
use common::{ppl, scratch};

#[test]
fn the_summary_of_metropolis_draws_is_not_called_nuts() {
    let out = scratch("read-back-metropolis");
    let run = ppl(&[
        "run",
        "examples/unknown_trials.model",
        "--warmup",
        "300",
        "--draws",
        "300",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summary = ppl(&["summary", out.to_str().unwrap(), "--format", "json"]);
    assert!(
        summary.status.success(),
        "{}",
        String::from_utf8_lossy(&summary.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&summary.stdout).unwrap();
    assert_eq!(json["method"], "metropolis");
    for chain in json["diagnostics"]["per_chain"].as_array().unwrap() {
        assert!(chain["mean_lp"].is_number());
        assert!(chain.get("ebfmi").is_none() && chain.get("mean_step_size").is_none());
    }
    let warnings = json["diagnostics"]["warnings"].to_string();
    assert!(!warnings.contains("E-BFMI"), "{warnings}");
    // Nothing ran, so the table has no time line.
    let table = ppl(&["summary", out.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.starts_with("method: metropolis\n"), "{text}");
    assert!(!text.contains("time:"), "{text}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn help_on_a_command_names_it_in_full_and_lists_every_command() {
    let help = ppl(&["help", "run"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("Usage: ppl run [OPTIONS] <MODEL>"));
    let unknown = ppl(&["help", "plto"]);
    assert_eq!(unknown.status.code(), Some(2));
    let message = String::from_utf8_lossy(&unknown.stderr);
    assert!(message.contains("did you mean `plot`?"), "{message}");
    for command in ["sample", "loo", "compare", "new"] {
        assert!(message.contains(command), "{command}: {message}");
    }
}
