//! Interrupting a run: `ppl run` is sent SIGINT at a random (seeded) moment while NUTS samples,
//! while EM iterates and while ADVI climbs the ELBO, 20 times each, and while L-BFGS climbs to a
//! MAP estimate or to Laplace's mode (then draws from the Gaussian), 10 times each; `ppl summary`
//! must read the output directory every time. The first SIGINT stops the run and saves what it has (exit 1,
//! the summary marked partial); two in a row end the process at once with 130.
//!
//! Each run is cut within a second, so the whole file costs about a minute of wall time at most.

#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// SplitMix64: the delays are random but the same on every run of the test.
struct Random(u64);

impl Random {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn start_run(arguments: &[&str], out: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ppl"))
        .current_dir(root())
        .arg("run")
        .args(arguments)
        .args(["--quiet", "--out"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ppl")
}

fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -INT failed");
}

/// Runs `arguments` 20 times, each interrupted after a seeded delay, and reads each directory
/// back with `ppl summary`.
fn interrupt_twenty_times(label: &str, arguments: &[&str], seed: u64) {
    interrupt_repeatedly(label, arguments, seed, 20);
}

/// Runs `arguments` `times` times, each interrupted after a seeded delay, and reads each
/// directory back with `ppl summary`.
fn interrupt_repeatedly(label: &str, arguments: &[&str], seed: u64, times: usize) {
    let mut random = Random(seed);
    let scratch =
        std::env::temp_dir().join(format!("ppl-interrupts-{label}-{}", std::process::id()));
    for attempt in 0..times {
        let out = scratch.join(format!("run-{attempt}"));
        let _ = std::fs::remove_dir_all(&out);
        // Past the process start-up (the handler is installed before the model is read), and
        // anywhere from loading to deep in the run.
        let delay = 0.15 + 0.45 * random.uniform();
        let mut child = start_run(arguments, &out);
        std::thread::sleep(Duration::from_secs_f64(delay));
        interrupt(&child);
        let status = child.wait().expect("wait for ppl");
        assert!(
            matches!(status.code(), Some(0) | Some(1)),
            "{label} #{attempt}: interrupted after {delay:.3} s, ppl ended with {status:?}"
        );
        let summary = Command::new(env!("CARGO_BIN_EXE_ppl"))
            .args(["summary", "--format", "json"])
            .arg(&out)
            .output()
            .expect("run ppl summary");
        assert!(
            summary.status.success(),
            "{label} #{attempt}: interrupted after {delay:.3} s, `ppl summary` failed: {}",
            String::from_utf8_lossy(&summary.stderr)
        );
        let json: serde_json::Value =
            serde_json::from_slice(&summary.stdout).expect("ppl summary --format json");
        if status.code() == Some(1) {
            // Draws files are summarised afresh (no mark); a saved summary keeps its mark.
            let saved = std::fs::read_to_string(out.join("summary.json")).expect("summary.json");
            let saved: serde_json::Value = serde_json::from_str(&saved).expect("JSON");
            assert_eq!(
                saved["partial"], true,
                "{label} #{attempt}: not marked partial"
            );
            assert!(json.is_object());
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn nuts_interrupted_at_random_moments_leaves_a_readable_directory() {
    interrupt_twenty_times(
        "nuts",
        &[
            "examples/eight_schools_noncentered.model",
            "--method",
            "nuts",
            "--draws",
            "1000000",
        ],
        11,
    );
}

#[test]
fn em_interrupted_at_random_moments_leaves_a_readable_directory() {
    interrupt_twenty_times(
        "em",
        &[
            "examples/gmm.model",
            "--method",
            "em",
            "--restarts",
            "100000",
            "--tol",
            "1e-300",
        ],
        12,
    );
}

#[test]
fn advi_interrupted_at_random_moments_leaves_a_readable_directory() {
    interrupt_twenty_times(
        "advi",
        &[
            "examples/eight_schools_noncentered.model",
            "--method",
            "advi",
            "--max-iters",
            "100000000",
        ],
        13,
    );
}

#[test]
fn map_interrupted_at_random_moments_leaves_a_readable_directory() {
    // 100,000 random starts of L-BFGS: the stop flag is checked between its iterations and
    // between starts, and the best run so far is reported.
    interrupt_repeatedly(
        "map",
        &[
            "examples/regression_mle.model",
            "--method",
            "map",
            "--restarts",
            "100000",
        ],
        14,
        10,
    );
}

#[test]
fn laplace_interrupted_at_random_moments_leaves_a_readable_directory() {
    // Stopped while L-BFGS looks for the mode (the point reached is reported) or while drawing
    // from the Gaussian (the draws so far are summarised).
    interrupt_repeatedly(
        "laplace",
        &[
            "examples/eight_schools_noncentered.model",
            "--method",
            "laplace",
            "--draws",
            "20000",
        ],
        15,
        10,
    );
}

#[test]
fn a_second_interrupt_ends_the_process_at_once_with_130() {
    let out = std::env::temp_dir().join(format!("ppl-interrupts-twice-{}", std::process::id()));
    let mut child = start_run(
        &[
            "examples/eight_schools_noncentered.model",
            "--method",
            "nuts",
            "--draws",
            "1000000",
        ],
        &out,
    );
    std::thread::sleep(Duration::from_millis(400));
    interrupt(&child);
    // Two signals sent back to back can merge into one while the first is still pending; a
    // short pause lets the first be delivered (the run then takes far longer than this to stop
    // and save).
    std::thread::sleep(Duration::from_millis(30));
    interrupt(&child);
    let status = child.wait().expect("wait for ppl");
    assert_eq!(status.code(), Some(130), "{status:?}");
    let _ = std::fs::remove_dir_all(&out);
}
