//! The byte layout of an artifact (see the module above for the table): writing it, and
//! reading it back without trusting any length in the file.
//!
//! The checksum is CRC-32 (IEEE, through `crc32fast`): it guards against accidental damage
//! (a cut-short copy, a flipped bit), not tampering, and detects every error burst of up to 32
//! bits; `crc32fast` runs at memory speed with the CPU's carry-less multiply, so checking a
//! file of weights costs nothing next to reading it.

use super::{Artifact, ArtifactError, FORMAT_VERSION, Field, MAGIC, Section};
use std::collections::HashSet;

const CHECKSUM_LEN: usize = 4;

impl Artifact {
    /// The artifact's bytes.
    /// Two sections with one name are an error: such a file would not read back.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ArtifactError> {
        let mut names = HashSet::new();
        for section in &self.sections {
            if !names.insert(section.name.as_str()) {
                return Err(ArtifactError::DuplicateSection(section.name.clone()));
            }
        }
        let header = serde_json::to_vec(&self.header).map_err(|e| ArtifactError::InvalidHeader(e.to_string()))?;
        let sections_len: usize = self.sections.iter().map(|s| 16 + s.name.len() + s.bytes.len()).sum();
        let mut out = Vec::with_capacity(40 + self.producer.len() + header.len() + sections_len);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        put_prefixed(&mut out, self.producer.as_bytes());
        put_prefixed(&mut out, &header);
        put_len(&mut out, self.sections.len());
        for section in &self.sections {
            put_prefixed(&mut out, section.name.as_bytes());
            put_prefixed(&mut out, &section.bytes);
        }
        let checksum = crc32fast::hash(&out);
        out.extend_from_slice(&checksum.to_le_bytes());
        Ok(out)
    }

    /// Reads an artifact, checking in this order: the magic number, the checksum, the format
    /// version, then every length and name.
    pub fn from_bytes(bytes: &[u8]) -> Result<Artifact, ArtifactError> {
        if !bytes.starts_with(&MAGIC) {
            return Err(if MAGIC.starts_with(bytes) {
                ArtifactError::Truncated { field: Field::Magic, offset: 0, needed: 4, available: bytes.len() }
            } else {
                ArtifactError::NotAnArtifact
            });
        }
        // The smallest file the frame allows: the magic number, the version and the checksum.
        let version_end = MAGIC.len() + 4;
        if bytes.len() < version_end + CHECKSUM_LEN {
            let (field, offset) = if bytes.len() < version_end {
                (Field::FormatVersion, MAGIC.len())
            } else {
                (Field::Checksum, version_end)
            };
            return Err(ArtifactError::Truncated { field, offset, needed: 4, available: bytes.len() - offset });
        }
        let body_end = bytes.len() - CHECKSUM_LEN;
        let stored = u32::from_le_bytes(le_bytes(&bytes[body_end..]));
        let computed = crc32fast::hash(&bytes[..body_end]);
        if stored != computed {
            return Err(ArtifactError::ChecksumMismatch { stored, computed });
        }

        let mut r = Reader { bytes: &bytes[..body_end], pos: MAGIC.len() };
        let version = r.u32(Field::FormatVersion)?;
        let producer = r.str(Field::ProducerLength, Field::Producer)?.to_string();
        if version != FORMAT_VERSION {
            return Err(ArtifactError::UnsupportedVersion { found: version, producer });
        }
        let header = r.prefixed(Field::HeaderLength, Field::Header)?;
        let header = serde_json::from_slice(header).map_err(|e| ArtifactError::InvalidHeader(e.to_string()))?;
        let n_sections = r.u64(Field::SectionCount)?;
        // No capacity from the count: a section takes at least 16 bytes, so a huge count runs
        // out of file after a few iterations.
        let mut sections = Vec::new();
        let mut names = HashSet::new();
        for section_idx in 0..n_sections {
            let name = r.str(Field::SectionNameLength(section_idx), Field::SectionName(section_idx))?;
            if !names.insert(name) {
                return Err(ArtifactError::DuplicateSection(name.to_string()));
            }
            let bytes = r.prefixed(Field::SectionLength(section_idx), Field::SectionBytes(section_idx))?;
            sections.push(Section { name: name.to_string(), bytes: bytes.to_vec() });
        }
        match r.remaining() {
            0 => Ok(Artifact { producer, header, sections }),
            n => Err(ArtifactError::TrailingBytes(n)),
        }
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&(len as u64).to_le_bytes());
}

fn put_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// A cursor over the checksummed body whose every read is bounds-checked first.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// The next `len` bytes; the length comes from the file, so it is compared with what
    /// remains before it is used as an index.
    fn take(&mut self, len: u64, field: Field) -> Result<&'a [u8], ArtifactError> {
        let available = self.remaining();
        match usize::try_from(len) {
            Ok(len) if len <= available => {
                let taken = &self.bytes[self.pos..self.pos + len];
                self.pos += len;
                Ok(taken)
            }
            _ => Err(ArtifactError::Truncated { field, offset: self.pos, needed: len, available }),
        }
    }

    fn u32(&mut self, field: Field) -> Result<u32, ArtifactError> {
        Ok(u32::from_le_bytes(le_bytes(self.take(4, field)?)))
    }

    fn u64(&mut self, field: Field) -> Result<u64, ArtifactError> {
        Ok(u64::from_le_bytes(le_bytes(self.take(8, field)?)))
    }

    /// A u64 length, then that many bytes.
    fn prefixed(&mut self, length: Field, contents: Field) -> Result<&'a [u8], ArtifactError> {
        let len = self.u64(length)?;
        self.take(len, contents)
    }

    /// A length-prefixed UTF-8 string.
    fn str(&mut self, length: Field, contents: Field) -> Result<&'a str, ArtifactError> {
        let offset = self.pos + 8;
        let bytes = self.prefixed(length, contents)?;
        std::str::from_utf8(bytes).map_err(|_| ArtifactError::NotUtf8 { field: contents, offset })
    }
}

/// The first `N` bytes of `bytes` as an array (callers pass exactly `N`, checked before; a
/// shorter slice would leave zeros, never panic).
pub(super) fn le_bytes<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.iter_mut().zip(bytes).for_each(|(o, b)| *o = *b);
    out
}
