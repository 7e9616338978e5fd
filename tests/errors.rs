//! The catalogue of broken models and bad data in `tests/errors/`: each file's first line says
//! which error code it must produce and on which text (`# expect: E0201 at `sigam``). The binary
//! must exit with status 3, the JSON error must carry that code with a span on exactly that text,
//! and the rendered report must match the golden `.stderr` file next to the model (written and
//! refreshed only with `UPDATE_EXPECT=1`: a missing golden file fails).

use std::path::{Path, PathBuf};
use std::process::Command;

fn ppl() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ppl"));
    command.env("NO_COLOR", "1");
    command
}

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
fn catalogue_has_at_least_ninety_cases() {
    assert!(cases().len() >= 90, "only {} cases", cases().len());
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
