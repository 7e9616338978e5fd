//! Models in every form LANGUAGE.md shows (`tests/check/*.model`) pass `ppl check`, and their IR
//! (`ppl check --ir`) matches the golden `.ir` file beside them (created when missing, refreshed
//! with `UPDATE_EXPECT=1`; a missing one fails).

use std::path::Path;
use std::process::Command;

#[test]
fn every_language_form_checks_and_prints_its_ir() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(root.join("tests/check"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "model"))
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    for path in files {
        let output = Command::new(env!("CARGO_BIN_EXE_ppl"))
            .args(["check", "--ir"])
            .arg(&path)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if output.status.code() != Some(0) {
            failures.push(format!(
                "{name}: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
            continue;
        }
        let ir = String::from_utf8_lossy(&output.stdout).to_string();
        let golden = path.with_extension("ir");
        if update {
            std::fs::write(&golden, &ir).unwrap();
        } else if !golden.exists() {
            failures.push(format!(
                "{name}: no golden file {} (UPDATE_EXPECT=1 writes it)",
                golden.display()
            ));
        } else if std::fs::read_to_string(&golden).unwrap() != ir {
            failures.push(format!(
                "{name}: IR differs from {} (UPDATE_EXPECT=1 to refresh)\n{ir}",
                golden.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_unconstrained_scale_is_warned_about_and_a_positive_one_is_not() {
    let dir = std::env::temp_dir().join(format!("ppl-w4-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let check = |declaration: &str| {
        let model = dir.join("scale.model");
        std::fs::write(&model, format!("observed y: real[3] = [1, 2, 3]\nlatent s: {declaration}\ns ~ Normal(0, 1)\ny ~ Normal(0, s)\n")).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_ppl"))
            .arg("check")
            .arg(&model)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0));
        String::from_utf8_lossy(&output.stderr).to_string()
    };
    assert!(check("real").contains("W0004"));
    assert!(!check("positive").contains("W0004"));
    std::fs::remove_dir_all(&dir).ok();
}
