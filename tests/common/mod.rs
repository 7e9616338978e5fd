//! What the end-to-end tests share: the repository root, the `ppl` binary run as a user runs it
//! (from the root, without colours), and a fresh scratch directory per test. A test file takes it
//! with `mod common;`; not every file uses every helper.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root: examples and data paths in the tests are relative to it.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `ppl` binary without colours in its reports, for a test to add arguments to.
pub fn ppl_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ppl"));
    command.env("NO_COLOR", "1");
    command
}

/// Runs `ppl ARGS` from the repository root and returns its output.
pub fn ppl(args: &[&str]) -> Output {
    ppl_command()
        .args(args)
        .current_dir(root())
        .output()
        .expect("ppl runs")
}

/// An empty directory of its own for one test: `tag` and the process id keep tests that run at
/// once apart, and whatever an earlier run left there is removed.
pub fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ppl-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}
