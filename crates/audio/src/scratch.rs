//! Private scratch directories, removed when dropped.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Distinguishes scratch names made by this process.
static NEXT_SCRATCH_NUMBER: AtomicU64 = AtomicU64::new(0);

/// A name unlikely to collide with any other process or call: process id, a process-wide counter
/// and the sub-second clock.
pub(crate) fn unique_name(prefix: &str) -> String {
    let number = NEXT_SCRATCH_NUMBER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{number}-{nanos:08x}", std::process::id())
}

/// A freshly created, empty directory that is deleted (with its contents) on drop.
#[derive(Debug)]
pub(crate) struct ScratchDirectory {
    path: PathBuf,
}

impl ScratchDirectory {
    /// Creates a new directory named after `prefix` inside `parent`, which must exist.
    pub(crate) fn create(parent: &Path, prefix: &str) -> io::Result<Self> {
        loop {
            let path = parent.join(unique_name(prefix));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(error) => return Err(error),
            }
        }
    }

    /// Creates a new directory in the system's temporary directory.
    pub(crate) fn in_temporary_directory(prefix: &str) -> io::Result<Self> {
        Self::create(&std::env::temp_dir(), prefix)
    }

    /// Where the directory is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDirectory {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), %error, "could not remove scratch directory");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_directory_is_created_empty_and_removed_on_drop() {
        let scratch = ScratchDirectory::in_temporary_directory("warbler-scratch-test").unwrap();
        let path = scratch.path().to_path_buf();
        assert!(path.is_dir());
        assert_eq!(std::fs::read_dir(&path).unwrap().count(), 0);
        std::fs::write(path.join("file"), b"contents").unwrap();
        let other = ScratchDirectory::in_temporary_directory("warbler-scratch-test").unwrap();
        assert_ne!(other.path(), path);
        drop(scratch);
        assert!(!path.exists());
    }
}
