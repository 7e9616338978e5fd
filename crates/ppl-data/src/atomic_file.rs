//! Writing an output file all-or-nothing: readers of the target path see either the old file or the
//! complete new one, never a half-written one (e.g. after Ctrl-C or a crash mid-run).
//!
//! [`AtomicFile::create`] writes to `<target>.tmp-<pid>` in the same directory (same file system, so
//! the final rename is atomic); [`AtomicFile::commit`] flushes, `fsync`s and renames it over the
//! target. Dropping an `AtomicFile` without committing deletes the temporary file and leaves the
//! target untouched.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// A file being written that replaces `target` only when [`commit`](AtomicFile::commit)ted.
/// Writes are buffered.
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    temporary: PathBuf,
    /// `None` once committed (or after a failed commit), so `Drop` knows what is left to clean up.
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing a replacement for `target`. The temporary file is `<target>.tmp-<pid>`; if that
    /// exists (a second `AtomicFile` for the same target in this process, or a leftover of a crashed
    /// process that had the same pid), `-1`, `-2`, ... is appended. The target itself is not touched.
    pub fn create(target: &Path) -> io::Result<AtomicFile> {
        let file_name = target.file_name().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{}` does not name a file", target.display()),
            )
        })?;
        let base = format!("{}.tmp-{}", file_name.to_string_lossy(), std::process::id());
        let mut attempt = 0u32;
        loop {
            let name = if attempt == 0 {
                base.clone()
            } else {
                format!("{base}-{attempt}")
            };
            let temporary = target.with_file_name(name);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temporary)
            {
                Ok(file) => {
                    return Ok(AtomicFile {
                        target: target.to_path_buf(),
                        temporary,
                        writer: Some(BufWriter::new(file)),
                    });
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists && attempt < 1000 => {
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The path the file will have once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The temporary file being written.
    pub fn temporary_path(&self) -> &Path {
        &self.temporary
    }

    /// Flushes and `fsync`s the data, then renames it over the target. On error the temporary file
    /// is removed and the target is unchanged.
    pub fn commit(mut self) -> io::Result<()> {
        let writer = self
            .writer
            .take()
            .ok_or_else(|| io::Error::other("atomic file already finished"))?;
        let result = (|| {
            let file = writer.into_inner().map_err(|error| error.into_error())?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&self.temporary, &self.target)
        })();
        match result {
            Ok(()) => {
                sync_parent_directory(&self.target);
                Ok(())
            }
            Err(error) => {
                let _ = std::fs::remove_file(&self.temporary);
                Err(error)
            }
        }
    }

    fn writer(&mut self) -> io::Result<&mut BufWriter<File>> {
        self.writer
            .as_mut()
            .ok_or_else(|| io::Error::other("atomic file already finished"))
    }
}

/// Makes the rename itself durable. Best effort: some file systems refuse to sync a directory, and
/// the data is already safely in place as far as readers are concerned.
fn sync_parent_directory(target: &Path) {
    #[cfg(unix)]
    {
        let parent = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        if let Ok(directory) = File::open(parent) {
            let _ = directory.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = target;
}

impl Write for AtomicFile {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        self.writer()?.write(buffer)
    }

    fn write_all(&mut self, buffer: &[u8]) -> io::Result<()> {
        self.writer()?.write_all(buffer)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer()?.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            // Uncommitted: discard. Dropping the writer first closes the file (its buffered data
            // is flushed into the file we are about to delete, which is harmless).
            drop(writer);
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system temp dir, removed at the end of the test.
    struct ScratchDirectory(PathBuf);

    impl ScratchDirectory {
        fn new(label: &str) -> ScratchDirectory {
            let path = std::env::temp_dir()
                .join(format!("ppl-data-atomic-{label}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            ScratchDirectory(path)
        }

        fn entries(&self) -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(&self.0)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
    }

    impl Drop for ScratchDirectory {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn commit_replaces_the_target_and_leaves_no_temporary() {
        let scratch = ScratchDirectory::new("commit");
        let target = scratch.0.join("draws.csv");
        std::fs::write(&target, "old contents").unwrap();
        let mut file = AtomicFile::create(&target).unwrap();
        let temporary = file.temporary_path().to_path_buf();
        assert_eq!(
            temporary.file_name().unwrap().to_string_lossy(),
            format!("draws.csv.tmp-{}", std::process::id())
        );
        writeln!(file, "a,b").unwrap();
        writeln!(file, "1,2").unwrap();
        // Until the commit, the target still has the old contents.
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old contents");
        file.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "a,b\n1,2\n");
        assert_eq!(scratch.entries(), vec!["draws.csv".to_string()]);
    }

    #[test]
    fn dropping_without_commit_deletes_the_temporary_and_keeps_the_target() {
        let scratch = ScratchDirectory::new("drop");
        let target = scratch.0.join("out.csv");
        std::fs::write(&target, "keep me").unwrap();
        {
            let mut file = AtomicFile::create(&target).unwrap();
            file.write_all(b"partial").unwrap();
            assert!(file.temporary_path().exists());
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        assert_eq!(scratch.entries(), vec!["out.csv".to_string()]);
    }

    #[test]
    fn a_new_target_is_created_on_commit_only() {
        let scratch = ScratchDirectory::new("new");
        let target = scratch.0.join("fresh.txt");
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"hello").unwrap();
        assert!(!target.exists());
        file.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "hello");
    }

    #[test]
    fn two_writers_for_one_target_get_distinct_temporaries() {
        let scratch = ScratchDirectory::new("two");
        let target = scratch.0.join("x.csv");
        let first = AtomicFile::create(&target).unwrap();
        let second = AtomicFile::create(&target).unwrap();
        assert_ne!(first.temporary_path(), second.temporary_path());
        drop(first);
        drop(second);
        assert!(scratch.entries().is_empty());
    }

    #[test]
    fn failed_commit_reports_the_error_and_cleans_up() {
        let scratch = ScratchDirectory::new("fail");
        // The target is a non-empty directory, so renaming a file over it fails.
        let target = scratch.0.join("occupied");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("inside"), "x").unwrap();
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"data").unwrap();
        assert!(file.commit().is_err());
        assert_eq!(scratch.entries(), vec!["occupied".to_string()]);
        assert!(target.join("inside").exists());
    }

    #[test]
    fn missing_directory_is_an_error_at_create() {
        let scratch = ScratchDirectory::new("missing");
        let target = scratch.0.join("no-such-dir").join("out.csv");
        let error = AtomicFile::create(&target).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }
}
