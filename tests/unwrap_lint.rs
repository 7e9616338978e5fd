//! The unwrap lint: no `.unwrap()` or `.expect(` in the crates' non-test sources except the ones
//! listed in `ALLOWED`, each with the reason it cannot fail. User input must never reach a
//! panic (ARCHITECTURE.md: "no input makes ppl panic"); an error is a value with a code instead.
//!
//! Test code is skipped: files named `tests.rs`, `testing.rs`, `test_*.rs` or `*_tests.rs` (all compiled under
//! `#[cfg(test)]`) and everything after a file's first `#[cfg(test)]`; so are comment lines
//! (doc examples may unwrap).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `(file, count, why none of them can fail)`. Lower a count when you remove one; a new one
/// needs an entry here with its reason, or better, an error value.
const ALLOWED: &[(&str, usize, &str)] = &[
    (
        "crates/ppl-dist/src/catalog.rs",
        2,
        "looks a DistKind up in the catalogue, which has one row for every DistKind (a unit test enumerates them)",
    ),
    (
        "crates/ppl-ir/src/check/statements.rs",
        4,
        "keyword arguments: filtered to named ones, and a parameterisation is chosen only when it has every keyword, just above",
    ),
    (
        "crates/ppl-model/src/tape/density.rs",
        2,
        "`bound above`: the slot is filled a few lines earlier in the same function",
    ),
    (
        "crates/ppl-model/src/tape/eval.rs",
        3,
        "memoised `let`s and loop values computed just above",
    ),
    (
        "crates/ppl-model/src/tape/graph.rs",
        4,
        "a distribution node's operands always start with the variate (built so by lowering)",
    ),
    (
        "crates/ppl-model/src/tape/lower.rs",
        1,
        "`depends()` has just said the variable is sampled",
    ),
    (
        "crates/ppl-syntax/src/parser.rs",
        19,
        "walks pest's parse tree after a successful parse: the grammar fixes the children of every rule (the fuzz harness feeds it millions of inputs)",
    ),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn is_test_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name == "tests.rs"
        || name == "testing.rs"
        || name.starts_with("test_")
        || name.ends_with("_tests.rs")
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") && !is_test_file(&path) {
            out.push(path);
        }
    }
}

/// `.unwrap()` and `.expect(` outside comments, before the first `#[cfg(test)]`.
fn count_panicking_calls(text: &str) -> usize {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    code.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .map(|line| line.matches(".unwrap()").count() + line.matches(".expect(").count())
        .sum()
}

#[test]
fn no_unwrap_or_expect_outside_the_allow_list() {
    let mut files = Vec::new();
    let crates = std::fs::read_dir(root().join("crates")).expect("crates/");
    for krate in crates.flatten() {
        sources(&krate.path().join("src"), &mut files);
    }
    sources(&root().join("src"), &mut files);
    assert!(files.len() > 50, "found only {} source files", files.len());
    let allowed: BTreeMap<&str, usize> = ALLOWED.iter().map(|(f, n, _)| (*f, *n)).collect();
    let mut problems = Vec::new();
    let mut seen = BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable source");
        let count = count_panicking_calls(&text);
        let relative = file
            .strip_prefix(root())
            .unwrap_or(file)
            .to_string_lossy()
            .replace('\\', "/");
        let limit = allowed.get(relative.as_str()).copied().unwrap_or(0);
        if count > limit {
            problems.push(format!(
                "{relative}: {count} unwrap/expect, {limit} allowed: return an error value (with a code) instead, or add the file to ALLOWED in tests/unwrap_lint.rs with the reason it cannot fail"
            ));
        }
        seen.insert(relative, count);
    }
    for (file, limit, _) in ALLOWED {
        let count = seen.get(*file).copied().unwrap_or(0);
        if count < *limit {
            problems.push(format!(
                "{file}: ALLOWED says {limit} but there are {count}: lower the count in tests/unwrap_lint.rs"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
