//! Reading and writing whole files, and [`IoError`], the error every file format of the runtime
//! returns.
//!
//! **Invariant**: a file written through [`atomic_write`] is either absent, its old contents, or
//! its complete new contents, even if the process dies mid-write: the bytes go to a temporary
//! file in the same directory (so the rename cannot cross file systems), are flushed to disk,
//! and only then renamed over the target. Every [`IoError`] names the file it is about.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What went wrong reading or writing a file. Messages are lowercase, complete, and name the
/// file.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The operating system refused to read the file.
    #[error("cannot read {path}: {}", os_message(source))]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    /// The operating system refused to write the file (or its temporary sibling).
    #[error("cannot write {path}: {}", os_message(source))]
    Write {
        path: String,
        #[source]
        source: io::Error,
    },
    /// The file was read but its contents are not what the format requires.
    #[error("{path}: {problem}")]
    Malformed { path: String, problem: String },
    /// The value cannot be stored in the requested format.
    #[error("cannot write {path}: {problem}")]
    Unsupported { path: String, problem: String },
}

impl IoError {
    pub fn malformed(path: impl Into<String>, problem: impl Into<String>) -> IoError {
        IoError::Malformed { path: path.into(), problem: problem.into() }
    }

    pub fn unsupported(path: impl Into<String>, problem: impl Into<String>) -> IoError {
        IoError::Unsupported { path: path.into(), problem: problem.into() }
    }

    pub fn read(path: &Path, source: io::Error) -> IoError {
        IoError::Read { path: path.display().to_string(), source }
    }

    pub fn write(path: &Path, source: io::Error) -> IoError {
        IoError::Write { path: path.display().to_string(), source }
    }
}

/// The operating system's message, lowercased like ours ("no such file or directory (os error 2)").
fn os_message(e: &io::Error) -> String {
    lowercase_first(&e.to_string())
}

/// A message from another library with a lowercase first letter, so that it reads as part of
/// our own lowercase message.
pub(crate) fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Reads a whole file.
pub fn read_file(path: &Path) -> Result<Vec<u8>, IoError> {
    fs::read(path).map_err(|e| IoError::read(path, e))
}

/// Distinguishes temporary files of concurrent writers within one process; the process id
/// distinguishes processes.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically: temporary file in the same directory, fsync, rename,
/// then a best-effort fsync of the directory so the rename itself is durable.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    let file_name = path.file_name().ok_or_else(|| IoError::Write {
        path: path.display().to_string(),
        source: io::Error::other("the path names no file"),
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (tmp_path, mut file) = create_temp(&dir, &file_name.to_string_lossy()).map_err(|e| IoError::write(path, e))?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written.and_then(|()| fs::rename(&tmp_path, path)) {
        // The temporary file is garbage now; failing to remove it changes nothing for the caller.
        let _ = fs::remove_file(&tmp_path);
        return Err(IoError::write(path, e));
    }
    // Some file systems cannot fsync a directory; the data itself is already safe then.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Creates a fresh hidden temporary file next to the target. `create_new` guarantees we never
/// clobber another writer's file; on a name clash the next counter value is tried.
fn create_temp(dir: &Path, file_name: &str) -> io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{file_name}.{pid}.{n}.tmp"));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        atomic_write(&path, b"first").unwrap();
        atomic_write(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.bin")]);
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir").join("x.bin");
        let err = atomic_write(&missing, b"x").unwrap_err().to_string();
        assert!(err.starts_with("cannot write "), "{err}");
        assert!(err.contains("x.bin"), "{err}");
        assert!(err.contains("no such file"), "{err}");
        let err = read_file(&dir.path().join("absent.npy")).unwrap_err().to_string();
        assert!(err.contains("absent.npy") && err.starts_with("cannot read"), "{err}");
    }
}
