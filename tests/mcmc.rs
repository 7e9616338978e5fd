//! NUTS through the binary: reproducibility across thread counts, initialisation failure pointing
//! at the statement, Ctrl-C leaving complete files, and `ppl summary` merging runs.

mod common;

use std::process::{Command, Stdio};

use common::root;

fn ppl() -> Command {
    let mut command = common::ppl_command();
    command.current_dir(root());
    command
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ppl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn same_seed_same_draws_whatever_the_thread_count() {
    let run = |threads: &str| {
        let output = ppl()
            .args([
                "run",
                "examples/eight_schools_noncentered.model",
                "--format",
                "json",
                "--seed",
                "11",
                "--draws",
                "300",
                "--warmup",
                "300",
            ])
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0));
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        json["summary"].clone()
    };
    assert_eq!(run("1"), run("2"));
}

#[test]
fn an_impossible_model_names_the_statement_with_no_finite_start() {
    let dir = temp_dir("bad-init");
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("bad.model");
    std::fs::write(
        &model,
        "latent x: real\nlatent s: real\nx ~ Normal(0, 1)\ns ~ Normal(x, -1)\n",
    )
    .unwrap();
    let output = ppl()
        .args(["run", "--format", "json"])
        .arg(&model)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // A negative scale makes the statement −∞ at every start: E0704's specific form.
    assert_eq!(json["error"]["code"], "E0740");
    assert_eq!(json["error"]["line"], 4);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn draws_files_match_the_summary_and_merge_across_runs() {
    let (a, b) = (temp_dir("merge-a"), temp_dir("merge-b"));
    for (dir, chain_id) in [(&a, "1"), (&b, "3")] {
        let output = ppl()
            .args([
                "run",
                "examples/eight_schools_noncentered.model",
                "--chains",
                "2",
                "--seed",
                "5",
                "--chain-id",
                chain_id,
                "--out",
            ])
            .arg(dir)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    for dir in [&a, &b] {
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
                .unwrap();
        assert!(summary["summary"]["mu"]["mean"].is_number());
    }
    assert!(b.join("chain-3.csv").exists() && b.join("chain-4.csv").exists());
    let merged = ppl()
        .args(["summary", "--format", "json"])
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    assert_eq!(
        merged.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&merged.stderr)
    );
    let merged: serde_json::Value = serde_json::from_slice(&merged.stdout).unwrap();
    assert_eq!(merged["diagnostics"]["chains"], 4);
    assert_eq!(merged["diagnostics"]["draws"], 4000);
    // The same directory twice is the same chains twice: refused.
    let twice = ppl().args(["summary"]).arg(&a).arg(&a).output().unwrap();
    assert_eq!(twice.status.code(), Some(3));
    // A single run's summary recomputed from its files equals the one it printed.
    let again = ppl()
        .args(["summary", "--format", "json"])
        .arg(&a)
        .output()
        .unwrap();
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("summary.json")).unwrap()).unwrap();
    assert_eq!(again["summary"], original["summary"]);
    std::fs::remove_dir_all(&a).ok();
    std::fs::remove_dir_all(&b).ok();
}

#[test]
#[cfg(unix)]
fn ctrl_c_keeps_complete_draws_and_a_summary() {
    let dir = temp_dir("interrupt");
    let child = ppl()
        .args([
            "run",
            "examples/eight_schools_noncentered.model",
            "--draws",
            "2000000",
            "--format",
            "json",
            "--out",
        ])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until draws are being written, then interrupt.
    let started = std::time::Instant::now();
    while !dir.join("chain-1.csv").exists()
        || std::fs::metadata(dir.join("chain-1.csv")).unwrap().len() < 20_000
    {
        assert!(started.elapsed().as_secs() < 60, "no draws written");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["diagnostics"]["interrupted"], true);
    let draws = json["diagnostics"]["draws"].as_u64().unwrap();
    assert!(draws > 0 && draws < 4 * 2_000_000);
    // Every line of every chain file is complete, and the files hold exactly the summarised draws.
    let mut rows = 0;
    for chain in 1..=4 {
        let text = std::fs::read_to_string(dir.join(format!("chain-{chain}.csv"))).unwrap();
        let mut lines = text.lines().filter(|l| !l.starts_with('#'));
        let width = lines.next().unwrap().split(',').count();
        for line in lines {
            assert_eq!(
                line.split(',').count(),
                width,
                "incomplete line in chain {chain}"
            );
            rows += 1;
        }
    }
    assert_eq!(rows as u64, draws);
    assert!(dir.join("summary.json").exists());
    std::fs::remove_dir_all(&dir).ok();
}

/// The scale-out recipe of the README (`scripts/scale-out/run-chains.sh`, which the SLURM and
/// GNU parallel recipes call per task), run locally as two "machines" of two chains each: the
/// merged summary equals the one of a single four-chain run with the same seed.
#[test]
fn the_scale_out_recipe_merges_to_the_single_run() {
    let out = temp_dir("scale-out");
    for machine in ["0", "1"] {
        let status = Command::new("bash")
            .current_dir(root())
            .env("PPL", env!("CARGO_BIN_EXE_ppl"))
            .args([
                "scripts/scale-out/run-chains.sh",
                "examples/eight_schools_noncentered.model",
            ])
            .arg(&out)
            .args([machine, "2", "11"])
            .status()
            .unwrap();
        assert!(status.success(), "machine {machine}: {status}");
    }
    let single = out.join("single");
    let status = ppl()
        .args([
            "run",
            "examples/eight_schools_noncentered.model",
            "--seed",
            "11",
            "--chains",
            "4",
            "--quiet",
            "--out",
        ])
        .arg(&single)
        .status()
        .unwrap();
    assert!(status.success());
    let summary = |dirs: &[std::path::PathBuf]| {
        let output = ppl()
            .args(["summary", "--format", "json"])
            .args(dirs)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    let merged = summary(&[out.join("machine-0"), out.join("machine-1")]);
    assert_eq!(merged["diagnostics"]["chains"], 4);
    assert_eq!(merged, summary(&[single]));
    std::fs::remove_dir_all(&out).ok();
}
