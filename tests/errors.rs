//! The catalogue of broken models and bad data in `tests/errors/`: each file's first line says
//! which error code it must produce and on which text (`# expect: E0201 at `sigam``). The binary
//! must exit with status 3, the JSON error must carry that code with a span on exactly that text,
//! and the rendered report must match the golden `.stderr` file next to the model (written and
//! refreshed only with `UPDATE_EXPECT=1`: a missing golden file fails).

mod common;

use std::path::{Path, PathBuf};

use common::ppl_command as ppl;

struct Expectation {
    code: String,
    text: String,
}

fn expectation(source: &str, path: &Path) -> Expectation {
    let first = source.lines().next().unwrap_or("");
    let rest = first.strip_prefix("# expect: ").unwrap_or_else(|| {
        panic!(
            "{}: first line must be `# expect: CODE at `text``",
            path.display()
        )
    });
    let (code, text) = rest.split_once(" at ").expect("`CODE at `text``");
    Expectation {
        code: code.trim().to_string(),
        text: text
            .trim()
            .trim_start_matches('`')
            .trim_end_matches('`')
            .to_string(),
    }
}

/// The bytes as text with each byte of an invalid UTF-8 sequence replaced by `?`.
fn display_text(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        out.extend(std::iter::repeat_n('?', chunk.invalid().len()));
    }
    out
}

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/errors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/errors exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.extension().is_some_and(|e| e == "model"))
        .collect();
    files.sort();
    files
}

#[test]
fn catalogue_has_at_least_a_hundred_cases() {
    assert!(cases().len() >= 100, "only {} cases", cases().len());
}

#[test]
fn every_broken_model_gives_its_code_span_and_exit_status() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    for path in cases() {
        // Read as bytes: one case is deliberately not UTF-8. Spans are byte offsets, so each
        // invalid byte is shown as one `?`, as ppl shows it.
        let source = display_text(&std::fs::read(&path).expect("readable model"));
        let expected = expectation(&source, &path);
        let output = ppl()
            .args(["run", "--format", "json"])
            .arg(&path)
            .output()
            .expect("ppl runs");
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if output.status.code() != Some(3) {
            failures.push(format!(
                "{name}: exit status {:?}, expected 3",
                output.status.code()
            ));
            continue;
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let json: serde_json::Value = match serde_json::from_str(stdout.trim()) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!(
                    "{name}: stdout is not one JSON object ({e}): {stdout}"
                ));
                continue;
            }
        };
        let error = &json["error"];
        if error["code"] != expected.code.as_str() {
            failures.push(format!(
                "{name}: code {}, expected {}",
                error["code"], expected.code
            ));
            continue;
        }
        let span = error["span"].as_array().map(|s| {
            (
                s[0].as_u64().unwrap_or(0) as usize,
                s[1].as_u64().unwrap_or(0) as usize,
            )
        });
        let pointed = span
            .and_then(|(a, b)| source.get(a..b))
            .unwrap_or("<no span>");
        if pointed != expected.text {
            failures.push(format!(
                "{name}: span covers `{pointed}`, expected `{}`",
                expected.text
            ));
            continue;
        }
        let stderr =
            String::from_utf8_lossy(&output.stderr).replace(env!("CARGO_MANIFEST_DIR"), "$ROOT");
        let golden = path.with_extension("stderr");
        if update {
            std::fs::write(&golden, stderr.as_bytes()).expect("write golden file");
        } else if !golden.exists() {
            failures.push(format!(
                "{name}: no golden file {} (UPDATE_EXPECT=1 writes it)",
                golden.display()
            ));
        } else {
            let expected_text = std::fs::read_to_string(&golden).expect("golden file");
            if expected_text != stderr {
                failures.push(format!(
                    "{name}: rendered report differs from {} (UPDATE_EXPECT=1 to refresh)\n--- expected\n{expected_text}\n--- got\n{stderr}",
                    golden.display()
                ));
            }
        }
        if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
            failures.push(format!("{name}: panicked"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `(label, model, data, extra flags, code, exit status)`.
type NumericalCase<'a> = (
    &'a str,
    &'a Path,
    Option<&'a Path>,
    &'a [&'a str],
    &'a str,
    i32,
);

/// Failures that only show when the model runs or that need a generated input (too large to
/// commit): each gives its code and the documented exit status (LANGUAGE.md §8: 1 inference
/// failed, 2 usage, 3 model or data), never a panic.
#[test]
fn numerical_and_file_failures_give_their_code_and_exit_status() {
    let dir = std::env::temp_dir().join(format!("ppl-errors-generated-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write case");
        path
    };
    let scalar = write("y.json", "{\"y\": 2}");
    let negative_infinity = write(
        "negative_infinity.model",
        "observed y: real\nlatent mu: real\nmu ~ Normal(0, 1)\ny ~ Uniform(mu + 10, mu + 11)\n",
    );
    let nan = write(
        "nan.model",
        "observed y: real\nlatent mu: real\nmu ~ Normal(0, 1)\ny ~ Normal(mu, log(-1 - mu * mu))\n",
    );
    let counts = write("count.json", "{\"y\": 3}");
    let overflow = write(
        "exp_overflow.model",
        "observed y: int\nlatent b: real\nb ~ Normal(0, 1)\ny ~ Poisson(exp(1000 + b))\n",
    );
    let vector = write(
        "vector.model",
        "observed y: real[N]\nlatent mu: real\nmu ~ Normal(0, 1)\ny ~ Normal(mu, 1)\n",
    );
    let mut long_line = String::with_capacity(100_000_010);
    long_line.push_str("y\n");
    long_line.extend(std::iter::repeat_n('1', 100_000_000));
    long_line.push('\n');
    let long = write("long_line.csv", &long_line);
    drop(long_line);
    let directory = dir.join("a_directory.model");
    std::fs::create_dir_all(&directory).expect("directory");
    // The start failures by each engine that searches for a start: NUTS (the default), L-BFGS
    // (MAP, Laplace) and ADVI.
    let cases: [NumericalCase; 8] = [
        (
            "log density -inf everywhere",
            &negative_infinity,
            Some(&scalar),
            &[],
            "E0740",
            1,
        ),
        (
            "log density -inf everywhere, ADVI",
            &negative_infinity,
            Some(&scalar),
            &["--method", "advi"],
            "E0740",
            1,
        ),
        (
            "log density NaN everywhere",
            &nan,
            Some(&scalar),
            &[],
            "E0741",
            1,
        ),
        (
            "log density NaN everywhere, Laplace",
            &nan,
            Some(&scalar),
            &["--method", "laplace"],
            "E0741",
            1,
        ),
        ("overflow in exp", &overflow, Some(&counts), &[], "E0742", 1),
        (
            "overflow in exp, MAP",
            &overflow,
            Some(&counts),
            &["--method", "map"],
            "E0742",
            1,
        ),
        (
            "a 100 MB number in a data line",
            &vector,
            Some(&long),
            &[],
            "E0605",
            3,
        ),
        (
            "a directory given as the model",
            &directory,
            None,
            &[],
            "E0111",
            2,
        ),
    ];
    let mut failures = Vec::new();
    for (label, model, data, extra, code, status) in cases {
        let mut command = ppl();
        command
            .args(["run", "--quiet", "--format", "json"])
            .arg(model)
            .args(extra);
        if let Some(data) = data {
            command.arg("--data").arg(data);
        }
        let output = command.output().expect("ppl runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let json: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_default();
        if output.status.code() != Some(status) || json["error"]["code"] != code {
            failures.push(format!(
                "{label}: exit {:?} and {stdout}, expected exit {status} and {code}",
                output.status.code()
            ));
        }
        if stderr.contains("panicked") {
            failures.push(format!("{label}: panicked"));
        }
        // The overflow is shown on the `exp` call itself, not on the whole statement.
        if code == "E0742" {
            let text = std::fs::read_to_string(model).unwrap_or_default();
            let pointed = json["error"]["span"].as_array().and_then(|s| {
                text.get(s[0].as_u64()? as usize..s[1].as_u64()? as usize)
                    .map(str::to_string)
            });
            if pointed.as_deref() != Some("exp(1000 + b)") {
                failures.push(format!("{label}: span covers {pointed:?}"));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The cases listed at the top of issue 11 that are not model text: a flag beyond its bound and a
/// draws file without the sampler columns given to `ppl summary` (the model-text ones are files
/// in this directory). Each gives its code and the documented exit status, never a panic.
#[test]
fn listed_command_line_cases_give_their_code_and_exit_status() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("examples/eight_schools_noncentered.model");
    let draws = root.join("tests/errors/data/draws_without_sampler_columns.csv");
    let model = model.to_string_lossy();
    let draws = draws.to_string_lossy();
    let cases: [(&str, Vec<&str>, &str, i32); 4] = [
        (
            "--draws 100000000000",
            vec!["run", &model, "--draws", "100000000000"],
            "E0702",
            2,
        ),
        (
            "--chains 1e30",
            vec!["run", &model, "--chains", "1e30"],
            "E0702",
            2,
        ),
        (
            "draws memory cap",
            vec!["run", &model, "--draws", "100000000", "--chains", "1024"],
            "E0407",
            2,
        ),
        (
            "summary of a CSV without the sampler columns",
            vec!["summary", &draws],
            "E0708",
            3,
        ),
    ];
    let mut failures = Vec::new();
    for (label, args, code, status) in cases {
        let output = ppl()
            .args(&args)
            .args(["--format", "json"])
            .output()
            .expect("ppl runs");
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        if output.status.code() != Some(status) || json["error"]["code"] != code {
            failures.push(format!(
                "{label}: exit {:?} and {}, expected exit {status} and {code}",
                output.status.code(),
                String::from_utf8_lossy(&output.stdout)
            ));
        }
        if String::from_utf8_lossy(&output.stderr).contains("panicked") {
            failures.push(format!("{label}: panicked"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
