//! `ppl repl` driven through a pipe (LANGUAGE.md §9): scripts of declarations, statements,
//! commands and expressions, checked on what the REPL prints.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Outcome {
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Pipes `script` into `ppl repl` run in `directory`.
fn repl_in(directory: &Path, script: &str) -> Outcome {
    let history = std::env::temp_dir().join(format!("ppl-repl-test-{}", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_ppl"))
        .arg("repl")
        .current_dir(directory)
        .env("NO_COLOR", "1")
        .env("PPL_HISTORY", &history)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ppl starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("script written");
    let output = child.wait_with_output().expect("ppl finishes");
    Outcome {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        code: output.status.code(),
    }
}

fn repl(script: &str) -> Outcome {
    repl_in(&root(), script)
}

/// The numbers of the summary-table row (or estimate row) named `name`.
fn table_row(stdout: &str, name: &str) -> Vec<f64> {
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row `{name}` in\n{stdout}"))
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().expect("a number"))
        .collect()
}

/// `(value, mcse)` from each `VALUE  (MCSE X)` line, in order.
fn values_with_mcse(stdout: &str) -> Vec<(f64, f64)> {
    stdout
        .lines()
        .filter_map(|l| {
            let (value, rest) = l.split_once("  (MCSE ")?;
            let mcse = rest.strip_suffix(')')?;
            Some((value.trim().parse().ok()?, mcse.parse().ok()?))
        })
        .collect()
}

/// examples/gmm.model without its comments and its `data` line, one line per statement.
fn gmm_lines() -> String {
    let text = std::fs::read_to_string(root().join("examples/gmm.model")).unwrap();
    text.lines()
        .map(|l| l.split('#').next().unwrap().trim_end())
        .filter(|l| !l.is_empty() && !l.starts_with("data"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn the_gmm_built_line_by_line_runs_em_and_answers_at_the_estimates() {
    let script = format!(
        "{}:data examples/data/gmm.csv\n:run\nmu[2] - mu[1]\nmean(w)\n",
        gmm_lines()
    );
    let out = repl(&script);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("method: em"), "{}", out.stdout);
    let mu = [
        table_row(&out.stdout, "mu[1]")[0],
        table_row(&out.stdout, "mu[2]")[0],
    ];
    let w1 = table_row(&out.stdout, "w[1]")[0];
    assert!(mu[0] < 0.0 && mu[1] > 0.0, "{mu:?}");
    let after_table: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("time:"))
        .skip(1)
        .collect();
    // The difference of two 4-decimal estimates agrees with the printed one to rounding.
    let difference: f64 = after_table[0].parse().expect("a value");
    assert!(
        (difference - (mu[1] - mu[0])).abs() < 2e-4,
        "{after_table:?}"
    );
    assert_eq!(after_table[1], "(at the point estimates of the last run)");
    assert!(after_table[2].starts_with("w[1]"), "{after_table:?}");
    let printed_w1: f64 = after_table[2]
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!((printed_w1 - w1).abs() < 1e-9);
}

#[test]
fn a_bad_line_is_refused_with_its_code_and_the_model_stays_usable() {
    let out = repl(
        "latent mu: real\nmu ~ Normal(0, sigma)\nmu ~ Normal(1, 2) +\n  0\nmu ~ Normal(1, 2)\n:show\n:check\n",
    );
    assert_eq!(out.code, Some(0));
    assert!(out.stderr.contains("E0201"), "{}", out.stderr);
    assert!(
        out.stderr.contains("`sigma` is not declared"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("not added"), "{}", out.stderr);
    // `mu ~ Normal(1, 2) + 0` continues on the next line and is refused as a whole (E0102 or
    // another syntax code), without eating the following lines.
    assert_eq!(
        out.stdout,
        "latent mu: real\nmu ~ Normal(1, 2)\nok (0 observed, 1 latent, 0 param, 1 term)\n"
    );
}

#[test]
fn an_open_bracket_continues_the_input() {
    let out = repl("latent mu: real[2]\nmu ~ Normal(\n  [0, 1],\n  2\n)\n:show\n:check\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "latent mu: real[2]\nmu ~ Normal(\n  [0, 1],\n  2\n)\nok (0 observed, 1 latent, 0 param, 1 term)\n"
    );
    assert_eq!(out.stderr, "");
}

#[test]
fn load_resolves_the_models_data_relative_to_its_file() {
    // Run from tests/, so that `data "data/gmm.csv"` works only relative to the model file.
    let out = repl_in(
        &root().join("tests"),
        ":load ../examples/gmm.model\n:show\n:run\n:summary\n",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("loaded ../examples/gmm.model (9 statements)")
    );
    assert!(out.stdout.contains("x ~ Normal(mu[z], sigma[z])"));
    assert_eq!(
        out.stdout.matches("method: em").count(),
        2,
        "{}",
        out.stdout
    );
}

#[test]
fn commands_that_cannot_run_explain_themselves_and_never_exit() {
    let out = repl(":sumary\n:summary\nmean(mu)\n:plot mu\n:load no/such.model\n:help\n");
    assert_eq!(out.code, Some(0));
    assert!(
        out.stderr
            .contains("unknown command `:sumary` (did you mean `:summary`?)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(":load, :data, :show, :check, :run"));
    assert!(out.stderr.contains("no run yet"));
    assert!(
        out.stderr
            .contains("after `:run`, expressions are evaluated")
    );
    assert!(
        out.stderr
            .contains("no run yet: `:run` fits the model, then `:plot VAR`")
    );
    assert!(out.stderr.contains("cannot read `no/such.model`"));
    assert!(out.stdout.contains(":quit"), "{}", out.stdout);
}

#[test]
fn after_nuts_expressions_are_reduced_over_the_draws() {
    let out = repl(
        "latent mu: real\nmu ~ Normal(1, 2)\n:run nuts --seed 3\nmean(mu)\nprob(mu > 1)\nsd(mu)\nquantile(mu, 0.05)\nmu\nprob(mu)\n:quit\nmean(mu)\n",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("method: nuts"), "{}", out.stdout);
    let row = table_row(&out.stdout, "mu");
    let (mean, sd, q5) = (row[0], row[1], row[2]);
    let reduced = values_with_mcse(&out.stdout);
    assert_eq!(reduced.len(), 2, "{}", out.stdout);
    let (mean_mu, mcse_mu) = reduced[0];
    assert!(
        (mean_mu - 1.0).abs() < 4.0 * mcse_mu,
        "mean(mu) = {mean_mu} (MCSE {mcse_mu}), expected 1"
    );
    assert!((mean_mu - mean).abs() < 1e-4, "same draws as the table");
    let (prob, mcse_prob) = reduced[1];
    assert!(
        (prob - 0.5).abs() < 4.0 * mcse_prob,
        "prob(mu > 1) = {prob} (MCSE {mcse_prob}), expected 0.5"
    );
    let plain: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("time:"))
        .filter(|l| !l.contains("MCSE") && !l.starts_with('(') && !l.starts_with("time:"))
        .collect();
    assert_eq!(plain.len(), 3, "{plain:?}");
    assert!(
        (plain[0].parse::<f64>().unwrap() - sd).abs() < 1e-4,
        "{plain:?}"
    );
    assert!(
        (plain[1].parse::<f64>().unwrap() - q5).abs() < 1e-4,
        "{plain:?}"
    );
    assert!(
        plain[2].starts_with(&format!("mean {mean:.4}  sd {sd:.4}")),
        "{plain:?}"
    );
    assert!(
        out.stderr.contains("`prob(...)` takes a condition"),
        "{}",
        out.stderr
    );
    // Nothing after `:quit` runs.
    assert_eq!(
        out.stdout.matches("4000 draws").count(),
        5,
        "{}",
        out.stdout
    );
}

/// The session driven by hand in tmux (continuation lines, an empty line and a `:command`
/// abandoning unfinished statements, `:reset` then `:show`), piped; its transcript is kept in
/// tests/golden/repl_session.txt (`UPDATE_EXPECT=1` refreshes it).
#[test]
fn the_tmux_session_piped_keeps_its_transcript() {
    let script = "latent mu: real\nmu ~ Normal(\n  0,\n  1)\nlatent sd: positive\nsd ~ HalfNormal(\n\nsd ~ Exponential(\n:show\nsd ~ HalfNormal(\n2)\n:show\n:reset\n:show\n";
    let out = repl(script);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let transcript = format!(
        "--- stdin ---\n{script}--- stdout ---\n{}--- stderr ---\n{}",
        out.stdout, out.stderr
    );
    let golden = root().join("tests/golden/repl_session.txt");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&golden, &transcript).unwrap();
    }
    let expected = std::fs::read_to_string(&golden)
        .unwrap_or_else(|_| panic!("no golden {} (UPDATE_EXPECT=1 writes it)", golden.display()));
    assert_eq!(transcript, expected, "UPDATE_EXPECT=1 to refresh");
}

#[test]
fn plot_after_a_run_writes_a_picture_and_says_where() {
    let dir = std::env::temp_dir().join(format!("ppl-repl-plot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let script = format!(
        "latent mu: real\nmu ~ Normal(1, 2)\n:run nuts --seed 3 --draws 200 --out {}\n:plot mu\n:plot mu density\n:plot sigma\n",
        dir.display()
    );
    let out = repl(&script);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for name in ["trace-mu.png", "density-mu.png"] {
        let path = dir.join("plots").join(name);
        assert!(
            out.stdout.contains(&format!("wrote {}", path.display())),
            "{}",
            out.stdout
        );
        assert!(std::fs::metadata(&path).is_ok_and(|m| m.len() > 2_000));
    }
    assert!(out.stderr.contains("no variable `sigma`"), "{}", out.stderr);
    std::fs::remove_dir_all(&dir).ok();
}
