//! The documents run (issue 10): every model in README.md (the language tour) and in the contract
//! LANGUAGE.md is extracted and checked through the library.
//!
//! - A fenced block whose first line names an example (`# examples/gmm.model — ...`) must be that
//!   file, word for word, and the file must check and run (`ppl run`, cheap: EM on 300 points).
//! - Every inline code span written as a statement (`latent b: real in (0, 1 - a)`, `y ~
//!   Normal(mu, s) truncated(0, )`) must parse as one; spans that elide (`...`, `…`) or use a
//!   metavariable (`TYPE`, `Dist`) are fragments, listed in `FRAGMENTS` with the reason.
//!
//! LANGUAGE.md lives beside the repository (`../shared/spec/`); `PPL_LANGUAGE_MD` names it
//! elsewhere. Where it cannot be found only README.md is checked, and the test says so.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Words that start a statement.
const STATEMENT_STARTS: [&str; 14] = [
    "latent ",
    "observed ",
    "param ",
    "let ",
    "local let ",
    "const ",
    "factor ",
    "data ",
    "net ",
    "infer ",
    "for ",
    "guide ",
    "energy ",
    "critic ",
];

/// Metavariables of the grammar's prose: a span with one is a pattern, not a statement.
const FRAGMENTS: [(&str, &str); 5] = [
    ("TYPE", "a metavariable for any type"),
    ("Dist", "a metavariable for any distribution"),
    ("NAME", "a metavariable for any name"),
    ("METHOD", "a metavariable for any method"),
    ("NET", "a metavariable for any net"),
];

/// Spans that start like a statement and are not one, with the reason.
const NOT_STATEMENTS: [(&str, &str); 1] = [(
    "data const observed latent param let net factor guide energy critic infer model",
    "LANGUAGE.md's list of keywords",
)];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn language_md() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PPL_LANGUAGE_MD") {
        return Some(PathBuf::from(path));
    }
    [
        root().join("../shared/spec/LANGUAGE.md"),
        root().join("../../shared/spec/LANGUAGE.md"),
    ]
    .into_iter()
    .find(|p| p.exists())
}

/// The documents to check, with their text.
fn documents() -> Vec<(String, String)> {
    let mut out = vec![(
        "README.md".to_string(),
        std::fs::read_to_string(root().join("README.md")).unwrap(),
    )];
    match language_md() {
        Some(path) => out.push((
            "LANGUAGE.md".to_string(),
            std::fs::read_to_string(&path).unwrap(),
        )),
        None => println!("LANGUAGE.md not found beside the repository: checking README.md only"),
    }
    out
}

/// Fenced blocks (the text between ``` lines) and the prose outside them.
fn split_fences(text: &str) -> (Vec<String>, String) {
    let mut blocks = Vec::new();
    let mut prose = String::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some(String::new()),
            }
            continue;
        }
        match current.as_mut() {
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {
                prose.push_str(line);
                prose.push('\n');
            }
        }
    }
    (blocks, prose)
}

/// Inline code spans of the prose that are written as statements (a span may wrap a line).
fn inline_statements(prose: &str) -> Vec<String> {
    let mut out = Vec::new();
    for paragraph in prose.split("\n\n") {
        let mut parts = paragraph.split('`');
        parts.next();
        while let (Some(code), Some(_)) = (parts.next(), parts.next()) {
            let code = code.split_whitespace().collect::<Vec<_>>().join(" ");
            let statement =
                STATEMENT_STARTS.iter().any(|s| code.starts_with(s)) || code.contains(" ~ ");
            if statement {
                out.push(code);
            }
        }
    }
    out
}

fn is_fragment(code: &str) -> bool {
    NOT_STATEMENTS.iter().any(|(text, _)| code == *text)
        || code.contains("...")
        || code.contains('…')
        || code
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .any(|word| {
                FRAGMENTS
                    .iter()
                    .any(|(metavariable, _)| word == *metavariable)
            })
}

#[test]
fn every_inline_statement_of_the_documents_parses() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for (name, text) in documents() {
        let (_, prose) = split_fences(&text);
        for code in inline_statements(&prose) {
            if is_fragment(&code) {
                continue;
            }
            checked += 1;
            let (_, diagnostics) = ppl_syntax::parse(&format!("{code}\n"));
            let syntax: Vec<String> = diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| format!("[{}] {}", d.code, d.message))
                .collect();
            if !syntax.is_empty() {
                failures.push(format!("{name}: `{code}`: {}", syntax.join("; ")));
            }
        }
    }
    println!("{checked} inline statements parsed");
    assert!(checked >= 20, "only {checked} inline statements found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_model_block_of_the_documents_is_its_example_and_runs() {
    let mut models = 0;
    let mut failures = Vec::new();
    for (name, text) in documents() {
        let (blocks, _) = split_fences(&text);
        for block in blocks {
            let first = block.lines().next().unwrap_or("");
            let Some(example) = first
                .strip_prefix("# ")
                .and_then(|rest| rest.split_whitespace().next())
                .filter(|path| path.starts_with("examples/") && path.ends_with(".model"))
            else {
                continue;
            };
            models += 1;
            let file = std::fs::read_to_string(root().join(example)).unwrap_or_default();
            if file != block {
                failures.push(format!(
                    "{name}: the block of {example} differs from the file"
                ));
                continue;
            }
            // Checked through the library, as `ppl check` does.
            let (program, diagnostics) = ppl_syntax::parse(&block);
            let (_, more) = ppl_ir::check(&program, &block, &Default::default());
            let errors: Vec<String> = diagnostics
                .iter()
                .chain(&more)
                .filter(|d| d.is_error())
                .map(|d| format!("[{}] {}", d.code, d.message))
                .collect();
            if !errors.is_empty() {
                failures.push(format!("{name}: {example}: {}", errors.join("; ")));
                continue;
            }
            let output = Command::new(env!("CARGO_BIN_EXE_ppl"))
                .current_dir(root())
                .env("NO_COLOR", "1")
                .args(["run", example, "--format", "json"])
                .output()
                .unwrap();
            if output.status.code() != Some(0) {
                failures.push(format!(
                    "{name}: `ppl run {example}`: {}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
        }
    }
    assert!(models >= 1, "no model block found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
