//! Artifacts appended to a runner executable, which makes a standalone program: the runner
//! reads its own file at start-up and finds the artifact through a fixed-size trailer at the
//! very end, so it needs no second file and no change to the executable's format.
//!
//! ```text
//! executable | artifact | artifact length (u64 LE) | b"HGXTRAIL"
//! ```

use super::ArtifactError;

/// The last bytes of an executable that carries an artifact.
pub const TRAILER_MAGIC: [u8; 8] = *b"HGXTRAIL";

/// Bytes of the trailer: the artifact's length and [`TRAILER_MAGIC`]. A runner that does not
/// want to read its whole file can read this many bytes from the end first.
pub const TRAILER_LEN: usize = 8 + TRAILER_MAGIC.len();

/// `exe` with `artifact` and the trailer appended.
pub fn append_to_executable(exe: &[u8], artifact: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(exe.len() + artifact.len() + TRAILER_LEN);
    out.extend_from_slice(exe);
    out.extend_from_slice(artifact);
    out.extend_from_slice(&(artifact.len() as u64).to_le_bytes());
    out.extend_from_slice(&TRAILER_MAGIC);
    out
}

/// The artifact appended to an executable's bytes: `None` when the file ends without a
/// trailer (a plain runner), an error when the trailer declares more bytes than precede it.
/// The artifact itself is checked by [`super::Artifact::from_bytes`].
pub fn find_appended(file: &[u8]) -> Result<Option<&[u8]>, ArtifactError> {
    let Some(trailer_start) = file.len().checked_sub(TRAILER_LEN) else { return Ok(None) };
    let (before, trailer) = file.split_at(trailer_start);
    if trailer[8..] != TRAILER_MAGIC {
        return Ok(None);
    }
    let declared = u64::from_le_bytes(super::format::le_bytes(&trailer[..8]));
    match usize::try_from(declared) {
        Ok(len) if len <= before.len() => Ok(Some(&before[before.len() - len..])),
        _ => Err(ArtifactError::BadTrailer { declared, available: before.len() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::{Artifact, Section};

    #[test]
    fn appended_artifact_round_trips() {
        let mut artifact = Artifact::new(serde_json::json!({"model": "vae"}));
        artifact.sections.push(Section { name: "weights".into(), bytes: vec![7; 100] });
        let exe = b"\x7fELF pretend runner".repeat(50);
        let file = append_to_executable(&exe, &artifact.to_bytes().unwrap());
        let found = find_appended(&file).unwrap().expect("a trailer");
        assert_eq!(Artifact::from_bytes(found).unwrap(), artifact);
        assert_eq!(file[..exe.len()], exe[..]);
        // An empty executable still works: the artifact starts the file.
        let bare = append_to_executable(&[], b"xyz");
        assert_eq!(find_appended(&bare).unwrap(), Some(&b"xyz"[..]));
    }

    #[test]
    fn plain_runner_has_no_artifact() {
        assert_eq!(find_appended(b""), Ok(None));
        assert_eq!(find_appended(b"HGXTRAIL"), Ok(None));
        assert_eq!(find_appended(&b"\x7fELF plain runner binary".repeat(10)), Ok(None));
    }

    #[test]
    fn trailer_declaring_too_much_is_an_error() {
        let mut file = append_to_executable(b"runner", b"artifact");
        let too_long = (file.len() as u64).to_le_bytes();
        let at = file.len() - TRAILER_LEN;
        file[at..at + 8].copy_from_slice(&too_long);
        let err = find_appended(&file).unwrap_err();
        assert_eq!(err, ArtifactError::BadTrailer { declared: file.len() as u64, available: 14 });
        file[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(find_appended(&file), Err(ArtifactError::BadTrailer { declared: u64::MAX, .. })));
    }
}
