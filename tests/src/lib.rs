//! Hourglass end-to-end tests, and the helpers they share.
//!
//! Golden files: a test renders some output and compares it with a sidecar file next to its
//! input. `UPDATE_EXPECT=1 cargo test -p hg-tests` rewrites the sidecars instead; review the
//! diff before committing it.

use std::path::Path;

pub mod cli;

/// Whether golden files should be rewritten rather than compared.
pub fn updating() -> bool {
    std::env::var_os("UPDATE_EXPECT").is_some_and(|v| v != "0")
}

/// Compares `actual` with the contents of `expect_path` (a missing file counts as empty), or
/// rewrites the file when [`updating`]. Returns a description of the mismatch, if any.
pub fn check_expect(expect_path: &Path, actual: &str) -> Result<(), String> {
    let expected = std::fs::read_to_string(expect_path).unwrap_or_default();
    if expected == actual {
        return Ok(());
    }
    if updating() {
        return std::fs::write(expect_path, actual).map_err(|e| format!("cannot write {}: {e}", expect_path.display()));
    }
    Err(format!(
        "{} differs (rerun with UPDATE_EXPECT=1 to accept):\n--- expected\n{expected}\n--- actual\n{actual}",
        expect_path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_contents_pass_and_different_ones_fail() {
        let dir = std::env::temp_dir().join(format!("hg-tests-expect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("x.stderr");
        std::fs::write(&file, "abc").expect("write");
        assert!(check_expect(&file, "abc").is_ok());
        if !updating() {
            assert!(check_expect(&file, "abd").is_err());
            // A missing sidecar is an empty expectation.
            assert!(check_expect(&dir.join("missing.stderr"), "").is_ok());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
