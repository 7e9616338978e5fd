//! Degenerate fits are called what they are: an EM component that collapsed onto a point, a MAP
//! scale at the boundary of its support.

use std::path::Path;
use std::process::Command;

fn ppl(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_ppl"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .env("NO_COLOR", "1")
        .output()
        .expect("ppl runs");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    String::from_utf8_lossy(&output.stdout).to_string()
}

#[test]
fn em_says_when_a_component_collapses() {
    // Two components on three points: one takes a single point and its variance hits the floor.
    let table = ppl(&["run", "tests/warnings/collapse.model"]);
    assert!(
        table.contains("[W0020] component 2 has collapsed"),
        "{table}"
    );
    // A healthy fit says nothing of the kind, and reports one log-likelihood.
    let table = ppl(&["run", "examples/gmm.model"]);
    assert!(!table.contains("collapsed"), "{table}");
    assert_eq!(table.matches("log-likelihood -").count(), 0, "{table}");
}

#[test]
fn em_says_when_a_covariance_is_singular() {
    // The second column is an exact linear function of the first.
    let table = ppl(&["run", "tests/warnings/collinear.model"]);
    assert!(
        table.contains("[W0021] component 1's covariance is singular"),
        "{table}"
    );
    assert!(
        table.contains("[W0021] component 2's covariance is singular"),
        "{table}"
    );
    let table = ppl(&["run", "examples/faithful.model"]);
    assert!(!table.contains("singular"), "{table}");
}

#[test]
fn map_says_when_a_scale_sits_at_its_boundary() {
    let table = ppl(&[
        "run",
        "examples/eight_schools_noncentered.model",
        "--method",
        "map",
    ]);
    assert!(table.contains("`tau` = "), "{table}");
    assert!(table.contains("sits at the lower bound"), "{table}");
    let table = ppl(&["run", "examples/regression_mle.model"]);
    assert!(!table.contains("sits at"), "{table}");
}
