//! Output selection end to end: a `local let` is used like a `let` but never written, the same
//! seed gives the same draws of the unknowns with or without `local`, `--save` globs choose the
//! written columns, a pattern that matches nothing is E0613 (exit 2), and a large saved `let`
//! gets the note N0002.

mod common;

use std::path::Path;

use common::{ppl_command as ppl, scratch};

/// An MA(1)-style recursion over 120 points; `local` is spliced in or not.
fn model(local: &str) -> String {
    let y: Vec<String> = (0..120)
        .map(|t| format!("{:.3}", ((t * 37 % 17) as f64 - 8.0) / 6.0))
        .collect();
    format!(
        "observed y: real[T] = [{}]\nlatent mu: real\nlatent theta: real in (-1, 1)\nlatent sigma: positive\nmu ~ Normal(0, 10)\nsigma ~ Normal(0, 2)\n{local}let err[1] = y[1] - mu\nfor t in 2..T {{\n  {local}let err[t] = y[t] - mu - theta * err[t - 1]\n}}\nlet mu2 = mu * 2\nerr ~ Normal(0, sigma)\n",
        y.join(", ")
    )
}

fn run(dir: &Path, source: &str, extra: &[&str]) -> std::process::Output {
    let path = dir.join("m.model");
    std::fs::write(&path, source).expect("write model");
    ppl()
        .arg("run")
        .arg(&path)
        .args([
            "--draws", "100", "--warmup", "100", "--chains", "1", "--out",
        ])
        .arg(dir.join("out"))
        .args(extra)
        .output()
        .expect("ppl runs")
}

fn header_and_rows(dir: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(dir.join("out/chain-1.csv")).expect("draws file");
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header = lines
        .next()
        .expect("header")
        .split(',')
        .map(String::from)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    (header, rows)
}

#[test]
fn a_local_let_is_not_written_and_leaves_the_draws_unchanged() {
    let with = scratch("local");
    let without = scratch("saved");
    let output = run(&with, &model("local "), &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = run(&without, &model(""), &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("[N0002] `err` writes 120 columns"),
        "{stdout}"
    );
    let (local_header, local_rows) = header_and_rows(&with);
    let (saved_header, saved_rows) = header_and_rows(&without);
    assert!(!local_header.iter().any(|c| c.starts_with("err")));
    assert!(local_header.contains(&"mu2".to_string()));
    assert_eq!(
        saved_header
            .iter()
            .filter(|c| c.starts_with("err."))
            .count(),
        120
    );
    // The same seed gives the same unknowns, column for column.
    for name in ["lp__", "mu", "theta", "sigma"] {
        let a = local_header.iter().position(|c| c == name).unwrap();
        let b = saved_header.iter().position(|c| c == name).unwrap();
        for (x, y) in local_rows.iter().zip(&saved_rows) {
            assert_eq!(x[a], y[b], "{name}");
        }
    }
    let summary = std::fs::read_to_string(with.join("out/summary.json")).unwrap();
    assert!(!summary.contains("\"err"), "{summary}");
}

#[test]
fn save_globs_choose_the_written_columns() {
    let dir = scratch("globs");
    let output = run(&dir, &model(""), &["--save", "mu*, s?gma"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (header, _) = header_and_rows(&dir);
    let names: Vec<&str> = header.iter().skip(7).map(String::as_str).collect();
    assert_eq!(names, ["mu", "sigma", "mu2"]);
    assert_eq!(header[0], "lp__");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/summary.json")).unwrap())
            .unwrap();
    let rows: Vec<&String> = summary["summary"].as_object().unwrap().keys().collect();
    assert!(rows.iter().all(|n| !n.starts_with("theta")), "{rows:?}");
    assert!(rows.iter().any(|n| *n == "mu2"), "{rows:?}");
}

#[test]
fn a_save_pattern_that_matches_nothing_is_e0613() {
    let dir = scratch("nomatch");
    let output = run(&dir, &model("local "), &["--save", "mu,bogus*"]);
    assert_eq!(output.status.code(), Some(2));
    // The error line only: the warnings before it name the scratch path.
    let stderr = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|l| l.starts_with("Error"))
        .collect::<Vec<_>>()
        .join("\n");
    let golden =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/errors/data/save_no_match.stderr");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&golden, stderr.as_bytes()).expect("write golden");
    }
    assert_eq!(stderr, std::fs::read_to_string(&golden).expect("golden"));
}

#[test]
fn pieces_that_disagree_on_local_are_e0113() {
    let dir = scratch("disagree");
    let source = model("local ").replacen("local let err[1]", "let err[1]", 1);
    let output = run(&dir, &source, &["--format", "json"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stdout).contains("E0113"));
}
