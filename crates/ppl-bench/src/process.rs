//! Running a child process the way a user would, timing it from spawn to exit, and reading the
//! JSON object it prints on stdout.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

use crate::error::BenchError;

/// What one timed child process printed, and how long it took from spawn to exit.
pub struct TimedJson {
    pub value: Value,
    pub process_seconds: f64,
}

/// Runs `program args...` in `working_dir` and parses its stdout as one JSON object (or, when it
/// prints other lines too, the last line that starts with `{`). Fails if it exits non-zero.
pub fn run_timed_json(
    program: &Path,
    args: &[String],
    working_dir: &Path,
) -> Result<TimedJson, BenchError> {
    let name = program.display().to_string();
    let start = Instant::now();
    let output = Command::new(program)
        .args(args)
        .current_dir(working_dir)
        .output()
        .map_err(|e| BenchError::Process {
            program: name.clone(),
            message: format!("cannot start: {e}"),
        })?;
    let process_seconds = start.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(BenchError::Process {
            program: name,
            message: format!("{} — {}", output.status, last_lines(&stderr, 8)),
        });
    }
    let value = parse_json_output(&stdout).ok_or_else(|| BenchError::Process {
        program: name,
        message: format!("printed no JSON object: {}", last_lines(&stdout, 3)),
    })?;
    Ok(TimedJson {
        value,
        process_seconds,
    })
}

/// The JSON object in a program's stdout: the whole text, or else its last `{`-line.
pub fn parse_json_output(stdout: &str) -> Option<Value> {
    if let Ok(value @ Value::Object(_)) = serde_json::from_str::<Value>(stdout.trim()) {
        return Some(value);
    }
    stdout
        .lines()
        .rev()
        .filter(|line| line.trim_start().starts_with('{'))
        .find_map(|line| match serde_json::from_str::<Value>(line) {
            Ok(value @ Value::Object(_)) => Some(value),
            _ => None,
        })
}

/// The 1-, 5- and 15-minute load averages, when the system reports them (Linux `/proc/loadavg`).
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_found_after_other_output() {
        let value = parse_json_output("compiling...\n{\"a\": 1}\ndone\n").expect("a JSON line");
        assert_eq!(value["a"], 1);
        assert!(parse_json_output("no json here\n[1, 2]\n").is_none());
        let pretty = parse_json_output("{\n  \"b\": 2\n}\n").expect("a multi-line object");
        assert_eq!(pretty["b"], 2);
    }
}
