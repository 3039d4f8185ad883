//! The driver: runs the compiler stages on a file and returns their results and diagnostics.
//!
//! [`FsLoader`] gives the front end its sources: standard-library modules from `hg-stdlib`
//! (embedded in the binary), and relative `use ./file.hgl` imports from disk, resolved against
//! the importing file's real path. Display names stay relative to what the user typed, so
//! diagnostics print `examples/vae/blocks.hgl`, not an absolute path.

use std::fmt;
use std::path::{Path, PathBuf};

use hg_dsl::resolve::{CheckOptions, Program};
use hg_dsl::source::{LoadedFile, Loader, SourceDb, SourceFile, normalize_path};
use hg_dsl::{Diagnostic, FileId};

/// Key prefix of standard-library files in the source database.
const STD_KEY: &str = "std:";

/// Loads standard-library modules from `hg-stdlib` and relative imports from disk.
#[derive(Clone, Copy, Debug, Default)]
pub struct FsLoader;

impl Loader for FsLoader {
    fn load_std(&self, path: &[&str]) -> Option<LoadedFile> {
        let text = hg_stdlib::module_source(path)?;
        Some(LoadedFile {
            key: format!("{STD_KEY}{}", path.join(".")),
            name: format!("{}.hgl", path.join("/")),
            bytes: text.as_bytes().to_vec(),
        })
    }

    fn load_relative(&self, importer: &SourceFile, path: &str) -> Result<LoadedFile, String> {
        if importer.key.starts_with(STD_KEY) {
            return Err("the standard library cannot import files".to_string());
        }
        let dir = Path::new(&importer.key).parent().unwrap_or(Path::new("."));
        let full = dir.join(path);
        let bytes = std::fs::read(&full).map_err(|e| io_reason(&e))?;
        let key = std::fs::canonicalize(&full).unwrap_or(full).to_string_lossy().into_owned();
        let display_dir = importer.name.rsplit_once('/').map_or("", |(d, _)| d);
        Ok(LoadedFile { key, name: normalize_path(display_dir, path), bytes })
    }

    fn std_modules(&self) -> Vec<String> {
        hg_stdlib::modules().iter().map(|(name, _)| name.to_string()).collect()
    }
}

/// A short, lowercase reason for an IO failure.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "it is a directory".to_string(),
        _ => e.to_string().to_lowercase(),
    }
}

/// The root file could not be read at all.
#[derive(Debug)]
pub struct ReadError {
    pub path: PathBuf,
    pub reason: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot read `{}`: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for ReadError {}

/// Everything `hgc check` produces.
pub struct CheckOutput {
    pub db: SourceDb,
    pub root: FileId,
    pub program: Program,
    /// Sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

impl CheckOutput {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Adds the file at `path` to a new database, showing it as `display_name` (default: the
/// path as given).
pub fn load_root(path: &Path, display_name: Option<&str>) -> Result<(SourceDb, FileId), ReadError> {
    let bytes = std::fs::read(path).map_err(|e| ReadError { path: path.to_path_buf(), reason: io_reason(&e) })?;
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()).to_string_lossy().into_owned();
    let name = display_name.map_or_else(|| path.to_string_lossy().into_owned(), str::to_string);
    let mut db = SourceDb::new();
    let root = db.add_bytes(key, name, bytes);
    Ok((db, root))
}

/// `hgc check`: parses and checks `path` and its imports.
pub fn check_path(path: &Path, display_name: Option<&str>, options: &CheckOptions) -> Result<CheckOutput, ReadError> {
    let (mut db, root) = load_root(path, display_name)?;
    let (program, diagnostics) = hg_dsl::check(&mut db, &FsLoader, root, options);
    Ok(CheckOutput { db, root, program, diagnostics })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_modules_load_from_the_embedded_library() {
        let loaded = FsLoader.load_std(&["std", "nn"]).expect("std.nn exists");
        assert_eq!(loaded.name, "std/nn.hgl");
        assert!(FsLoader.load_std(&["std", "nope"]).is_none());
        assert!(FsLoader.std_modules().contains(&"std.nn".to_string()));
    }

    #[test]
    fn relative_imports_read_from_disk_with_display_names() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("lib")).expect("mkdir");
        std::fs::write(dir.path().join("lib/blocks.hgl"), "fn Res(x) { return x }\n").expect("write");
        let main = dir.path().join("main.hgl");
        std::fs::write(&main, "use ./lib/blocks.hgl.{Res}\nuse ./missing.hgl.{X}\n").expect("write");
        let out = check_path(&main, Some("proj/main.hgl"), &CheckOptions::default()).expect("readable");
        let names: Vec<&str> = out.db.files().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["proj/main.hgl", "proj/lib/blocks.hgl"]);
        let messages: Vec<&str> = out.diagnostics.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages, ["cannot import `./missing.hgl`: no such file"]);
    }

    #[test]
    fn unreadable_root_is_an_error_not_a_panic() {
        let err = check_path(Path::new("/nonexistent/x.hgl"), None, &CheckOptions::default()).err().expect("error");
        assert_eq!(err.reason, "no such file");
    }
}
