//! The source database: every file the front end has seen, with its display name and text.
//!
//! The front end does no file IO. A [`Loader`] (implemented by the driver) turns `use` paths
//! into bytes; the database stores them under a loader-chosen `key` (a canonical path, or the
//! dotted module path for the standard library) so a file imported twice, or through a cycle,
//! is read and parsed once.
//!
//! **Invariant**: a [`FileId`] indexes `files`; files are never removed, so ids stay valid.
//! Text is always valid UTF-8: bytes that are not are decoded lossily and the offset of the
//! first bad byte is kept, so the checker reports it instead of parsing the file.

use crate::ast::{FileId, Span};

/// One source file: the text, and how to name it in diagnostics.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub id: FileId,
    /// Identity for de-duplication, chosen by the loader (e.g. a canonical path or `std.nn`).
    pub key: String,
    /// What diagnostics print as the file name (e.g. `examples/vae/vae.hgl`, `std/nn.hgl`).
    pub name: String,
    pub text: String,
    /// Byte offset of the first byte that is not valid UTF-8, if the file was not valid UTF-8.
    pub invalid_utf8_at: Option<usize>,
    /// Byte offset at which each line starts (line 1 starts at 0).
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// 1-based line and column (in characters) of a byte offset; offsets past the end clamp.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let start = self.line_starts[line];
        let column = self.text.get(start..offset).map_or(offset - start, |s| s.chars().count());
        (line + 1, column + 1)
    }

    /// The text of a span, or `""` if the span does not lie on character boundaries.
    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.start as usize..span.end as usize).unwrap_or("")
    }
}

/// All files of one compilation.
#[derive(Clone, Debug, Default)]
pub struct SourceDb {
    files: Vec<SourceFile>,
}

impl SourceDb {
    pub fn new() -> SourceDb {
        SourceDb::default()
    }

    /// Adds a file whose text is already a `String`.
    pub fn add_text(&mut self, key: impl Into<String>, name: impl Into<String>, text: impl Into<String>) -> FileId {
        self.push(key.into(), name.into(), text.into(), None)
    }

    /// Adds a file from raw bytes. Invalid UTF-8 is decoded lossily and remembered in
    /// [`SourceFile::invalid_utf8_at`]; the checker turns it into a located error.
    pub fn add_bytes(&mut self, key: impl Into<String>, name: impl Into<String>, bytes: Vec<u8>) -> FileId {
        match String::from_utf8(bytes) {
            Ok(text) => self.push(key.into(), name.into(), text, None),
            Err(err) => {
                let bad = err.utf8_error().valid_up_to();
                let text = String::from_utf8_lossy(err.as_bytes()).into_owned();
                self.push(key.into(), name.into(), text, Some(bad))
            }
        }
    }

    fn push(&mut self, key: String, name: String, text: String, invalid_utf8_at: Option<usize>) -> FileId {
        let id = FileId(u32::try_from(self.files.len()).expect("fewer than 2^32 source files"));
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        self.files.push(SourceFile { id, key, name, text, invalid_utf8_at, line_starts });
        id
    }

    /// The file with this id. Panics on an id from another database (a caller bug, not input).
    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    /// The file added under `key`, if any.
    pub fn find_key(&self, key: &str) -> Option<FileId> {
        self.files.iter().find(|f| f.key == key).map(|f| f.id)
    }

    pub fn files(&self) -> impl Iterator<Item = &SourceFile> {
        self.files.iter()
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// A file produced by a [`Loader`].
#[derive(Clone, Debug)]
pub struct LoadedFile {
    /// Identity for de-duplication (see [`SourceFile::key`]).
    pub key: String,
    /// Display name for diagnostics.
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Where `use` finds its modules; implemented by the driver (standard library embedded in the
/// compiler, relative files from disk) and by [`MemoryLoader`] in tests.
pub trait Loader {
    /// The standard-library module at `path` (e.g. `["std", "nn"]`), or `None` if there is none.
    fn load_std(&self, path: &[&str]) -> Option<LoadedFile>;

    /// The file at `path` (as written, e.g. `./blocks.hgl`) relative to `importer`, or a short
    /// reason it cannot be read (e.g. `no such file`).
    fn load_relative(&self, importer: &SourceFile, path: &str) -> Result<LoadedFile, String>;

    /// Dotted paths of every standard-library module, used to suggest a missing `use`.
    fn std_modules(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A [`Loader`] over in-memory texts: standard-library modules by dotted path, and relative
/// files by their path with `./` segments removed (`./a/b.hgl` is `a/b.hgl`), all relative to
/// one root folder. Used by tests and tools that have no file system.
#[derive(Clone, Debug, Default)]
pub struct MemoryLoader {
    std: Vec<(String, String)>,
    files: Vec<(String, Vec<u8>)>,
}

impl MemoryLoader {
    pub fn new() -> MemoryLoader {
        MemoryLoader::default()
    }

    /// Adds a standard-library module, e.g. `with_std("std.nn", "fn Linear(...) ...")`.
    pub fn with_std(mut self, dotted: &str, text: &str) -> MemoryLoader {
        self.std.push((dotted.to_string(), text.to_string()));
        self
    }

    /// Adds a file at a root-relative path, e.g. `with_file("blocks.hgl", b"...")`.
    pub fn with_file(mut self, path: &str, bytes: impl Into<Vec<u8>>) -> MemoryLoader {
        self.files.push((normalize_path("", path), bytes.into()));
        self
    }
}

impl Loader for MemoryLoader {
    fn load_std(&self, path: &[&str]) -> Option<LoadedFile> {
        let dotted = path.join(".");
        self.std.iter().find(|(name, _)| *name == dotted).map(|(name, text)| LoadedFile {
            key: name.clone(),
            name: format!("{}.hgl", name.replace('.', "/")),
            bytes: text.clone().into_bytes(),
        })
    }

    fn load_relative(&self, importer: &SourceFile, path: &str) -> Result<LoadedFile, String> {
        let dir = importer.key.rsplit_once('/').map_or("", |(dir, _)| dir);
        let key = normalize_path(dir, path);
        self.files
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(name, bytes)| LoadedFile { key: name.clone(), name: name.clone(), bytes: bytes.clone() })
            .ok_or_else(|| "no such file".to_string())
    }

    fn std_modules(&self) -> Vec<String> {
        self.std.iter().map(|(name, _)| name.clone()).collect()
    }
}

/// Joins `path` onto the folder `dir` and removes `.` and `..` segments lexically
/// (`..` above the root is kept, so it cannot alias another file).
pub fn normalize_path(dir: &str, path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in dir.split('/').chain(path.split('/')) {
        match seg {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            _ => parts.push(seg),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_lines_and_characters() {
        let mut db = SourceDb::new();
        let id = db.add_text("a", "a.hgl", "ab\nçd\n");
        let f = db.file(id);
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(2), (1, 3));
        assert_eq!(f.line_col(3), (2, 1));
        // `ç` is two bytes but one column.
        assert_eq!(f.line_col(5), (2, 2));
        assert_eq!(f.line_col(100), (3, 1));
    }

    #[test]
    fn invalid_utf8_keeps_offset_of_first_bad_byte() {
        let mut db = SourceDb::new();
        let id = db.add_bytes("a", "a.hgl", b"ok\n\xff\xfe".to_vec());
        assert_eq!(db.file(id).invalid_utf8_at, Some(3));
        assert!(db.file(id).text.starts_with("ok\n"));
    }

    #[test]
    fn normalize_path_removes_dot_segments() {
        assert_eq!(normalize_path("a/b", "./c.hgl"), "a/b/c.hgl");
        assert_eq!(normalize_path("a/b", "../c.hgl"), "a/c.hgl");
        assert_eq!(normalize_path("", "../../c.hgl"), "../../c.hgl");
    }

    #[test]
    fn memory_loader_resolves_relative_to_importer() {
        let loader = MemoryLoader::new().with_file("lib/x.hgl", "fn A() { return 1 }");
        let mut db = SourceDb::new();
        let root = db.add_text("lib/main.hgl", "main.hgl", "");
        let loaded = loader.load_relative(db.file(root), "./x.hgl").expect("found");
        assert_eq!(loaded.key, "lib/x.hgl");
        assert!(loader.load_relative(db.file(root), "./y.hgl").is_err());
    }
}
