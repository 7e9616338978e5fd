//! Where things are: the workspace, the `ppl` binary beside this one, and the peer baselines in
//! `shared/peers` (found relative to the workspace, never at a fixed absolute path).

use std::path::{Path, PathBuf};

use crate::args::FlagValue;
use crate::error::BenchError;

/// The workspace root: this crate lives in `<root>/crates/ppl-bench`.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The benchmark's own model files (`crates/ppl-bench/models`).
pub fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

/// The peers folder: `--peers DIR` if given, else `../shared/peers` next to the workspace.
pub fn peers_dir(explicit: Option<&Path>) -> PathBuf {
    match explicit {
        Some(dir) => dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()),
        None => {
            let dir = workspace_root().join("../shared/peers");
            dir.canonicalize().unwrap_or(dir)
        }
    }
}

/// The peers' Python and scripts, when their virtual environment is installed.
pub struct Peers {
    pub dir: PathBuf,
    pub python: PathBuf,
}

impl Peers {
    /// The peers in `dir` with `python` (default: the peers' `.venv`), or the reason they cannot
    /// run, which the caller reports before benchmarking ppl alone.
    pub fn locate(dir: &Path, python: Option<&Path>) -> Result<Peers, String> {
        // Absolute but not canonical: a virtual environment's `python` is a symlink whose
        // target would run without the environment's packages.
        let python = python
            .map(|path| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
            .unwrap_or_else(|| dir.join(".venv/bin/python"));
        if !python.exists() {
            return Err(format!(
                "the peers' Python {} is missing (run `bash setup.sh` in {})",
                python.display(),
                dir.display()
            ));
        }
        Ok(Peers {
            dir: dir.to_path_buf(),
            python,
        })
    }

    /// The path of one peer script, checked to exist.
    pub fn script(&self, name: &str) -> Result<PathBuf, BenchError> {
        let path = self.dir.join(name);
        if path.exists() {
            Ok(path)
        } else {
            Err(BenchError::Process {
                program: name.to_string(),
                message: format!("not found in {}", self.dir.display()),
            })
        }
    }
}

/// The switch that skips the peers, for [`crate::args::split`].
pub const NO_PEER: &str = "--no-peer";

/// The peer flags of every subcommand that times a peer: `--peers DIR`, `--peer-python PATH` and
/// the switch `--no-peer`, with their defaults written once.
#[derive(Default)]
pub struct PeerOptions {
    dir: Option<PathBuf>,
    python: Option<PathBuf>,
    /// `--no-peer`: time ppl alone.
    pub skip: bool,
}

impl PeerOptions {
    /// The options with `--no-peer` set when it is among `switches`; the flags with values come
    /// through [`PeerOptions::read`].
    pub fn from_switches(switches: &[&str]) -> PeerOptions {
        PeerOptions {
            skip: switches.contains(&NO_PEER),
            ..PeerOptions::default()
        }
    }

    /// Takes `pair` when it is one of the peer flags; false for any other flag.
    pub fn read(&mut self, pair: &FlagValue<'_>) -> bool {
        match pair.flag {
            "--peers" => self.dir = Some(pair.path()),
            "--peer-python" => self.python = Some(pair.path()),
            _ => return false,
        }
        true
    }

    /// The peers folder ([`peers_dir`]).
    pub fn folder(&self) -> PathBuf {
        peers_dir(self.dir.as_deref())
    }

    /// The peers, whether or not `--no-peer` was given (a data generator needs only their
    /// Python), or why they cannot run.
    pub fn locate_even_if_skipped(&self) -> Result<Peers, String> {
        Peers::locate(&self.folder(), self.python.as_deref())
    }

    /// The peers to time, or why there are none: `--no-peer`, or what is missing.
    pub fn locate(&self) -> Result<Peers, String> {
        if self.skip {
            Err(NO_PEER.to_string())
        } else {
            self.locate_even_if_skipped()
        }
    }
}

/// The `ppl` binary: `--ppl PATH` if given, else the one built next to this executable (both are
/// in `target/release` after `cargo build --release`).
pub fn ppl_binary(explicit: Option<&Path>) -> Result<PathBuf, BenchError> {
    let path = match explicit {
        Some(path) => path.canonicalize().unwrap_or_else(|_| path.to_path_buf()),
        None => {
            let me = std::env::current_exe().map_err(BenchError::io("current executable"))?;
            me.with_file_name(format!("ppl{}", std::env::consts::EXE_SUFFIX))
        }
    };
    if path.exists() {
        Ok(path)
    } else {
        Err(BenchError::Usage(format!(
            "the `ppl` binary {} does not exist: run `cargo build --release` (or pass --ppl PATH)",
            path.display()
        )))
    }
}

/// A scratch folder for converted data and the peers' build leftovers, removed on drop.
pub struct ScratchDir {
    pub path: PathBuf,
}

impl ScratchDir {
    pub fn new() -> Result<ScratchDir, BenchError> {
        let path = std::env::temp_dir().join(format!("ppl-bench-{}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(BenchError::io(&path))?;
        Ok(ScratchDir { path })
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Best effort: a leftover temp folder is harmless.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_models_and_the_peers_are_found_relative_to_the_workspace() {
        assert!(models_dir().join("logreg.model").exists());
        assert!(workspace_root().join("Cargo.toml").exists());
        assert!(peers_dir(None).ends_with("shared/peers"));
        let explicit = Path::new("/somewhere/else");
        assert_eq!(peers_dir(Some(explicit)), explicit);
    }

    #[test]
    fn a_missing_python_is_a_reason_not_a_crash() {
        let missing = Path::new("/nonexistent/python3");
        let reason = Peers::locate(Path::new("/nonexistent"), Some(missing))
            .err()
            .expect("a missing interpreter is reported");
        assert!(reason.contains("missing"));
    }

    #[test]
    fn the_peer_flags_are_read_once_for_every_subcommand() {
        let mut options = PeerOptions::from_switches(&[NO_PEER]);
        assert!(options.skip);
        assert_eq!(options.locate().err().as_deref(), Some(NO_PEER));
        let dir = FlagValue {
            flag: "--peers",
            value: "/somewhere/else",
        };
        let other = FlagValue {
            flag: "--seed",
            value: "3",
        };
        assert!(options.read(&dir));
        assert!(!options.read(&other));
        assert_eq!(options.folder(), Path::new("/somewhere/else"));
        assert!(!PeerOptions::from_switches(&[]).skip);
    }
}
