//! The container's round trip, and its refusal of every damaged file: truncations, flipped
//! and inserted bytes (caught by the checksum), and files with a valid checksum whose contents
//! lie (huge lengths, duplicate or non-UTF-8 names, another format version).

use super::*;
use proptest::prelude::*;
use serde_json::json;

fn section(name: &str, bytes: &[u8]) -> Section {
    Section { name: name.to_string(), bytes: bytes.to_vec() }
}

fn sample() -> Artifact {
    let mut artifact = Artifact::new(json!({"model": "vae", "hyper": {"latent": 16}, "spec": "model vae { ... }"}));
    artifact.sections = vec![
        section("kernels/x86-64-v3", &[0x7f, b'E', b'L', b'F', 1, 2, 3]),
        section("kernels/x86-64-v4", b""),
        section("weights", &[0; 33]),
        section("données/画像 🙂", b"unicode names are fine"),
    ];
    artifact
}

/// A file whose body is written by hand, sealed with a correct checksum so that reading gets
/// past it to the lie inside.
struct Body(Vec<u8>);

impl Body {
    /// The magic number and a format version.
    fn start(version: u32) -> Body {
        let mut body = Body(MAGIC.to_vec());
        body.0.extend_from_slice(&version.to_le_bytes());
        body
    }

    /// The whole frame before the header.
    fn new(version: u32, producer: &str) -> Body {
        Body::start(version).prefixed(producer.as_bytes())
    }

    fn u64(mut self, n: u64) -> Body {
        self.0.extend_from_slice(&n.to_le_bytes());
        self
    }

    fn prefixed(self, bytes: &[u8]) -> Body {
        let mut body = self.u64(bytes.len() as u64);
        body.0.extend_from_slice(bytes);
        body
    }

    fn sealed(mut self) -> Vec<u8> {
        let checksum = crc32fast::hash(&self.0);
        self.0.extend_from_slice(&checksum.to_le_bytes());
        self.0
    }
}

#[test]
fn round_trip() {
    let artifact = sample();
    let bytes = artifact.to_bytes().unwrap();
    assert_eq!(Artifact::from_bytes(&bytes).unwrap(), artifact);
    assert_eq!(artifact.producer, HOURGLASS_VERSION);
    assert_eq!(artifact.section("weights").unwrap().bytes.len(), 33);
    assert!(artifact.section("kernels/generic").is_none());

    for header in [json!(null), json!([]), json!("text"), json!({"deep": [[[1.5, -2]]]})] {
        let empty = Artifact::new(header);
        assert_eq!(Artifact::from_bytes(&empty.to_bytes().unwrap()).unwrap(), empty);
    }
}

#[test]
fn layout_is_as_documented() {
    let mut artifact = Artifact::new(json!(1));
    artifact.producer = "0.1.0".into();
    artifact.sections.push(section("w", b"ab"));
    let expected = Body::new(1, "0.1.0").prefixed(b"1").u64(1).prefixed(b"w").prefixed(b"ab").sealed();
    assert_eq!(artifact.to_bytes().unwrap(), expected);
}

#[test]
fn every_prefix_is_an_error() {
    let bytes = sample().to_bytes().unwrap();
    for len in 0..bytes.len() {
        let err = Artifact::from_bytes(&bytes[..len]).unwrap_err();
        // Too short to hold the frame: said so; longer: the checksum no longer matches.
        match len {
            0..12 => assert!(matches!(err, ArtifactError::Truncated { .. }), "{len}: {err}"),
            _ => assert!(matches!(err, ArtifactError::ChecksumMismatch { .. }), "{len}: {err}"),
        }
    }
    assert_eq!(
        Artifact::from_bytes(b"").unwrap_err().to_string(),
        "artifact truncated at byte 0 while reading the magic number: it needs 4 bytes, 0 remain"
    );
    assert_eq!(
        Artifact::from_bytes(b"HGX\0\x01\0").unwrap_err().to_string(),
        "artifact truncated at byte 4 while reading the format version: it needs 4 bytes, 2 remain"
    );
    assert_eq!(
        Artifact::from_bytes(b"HGX\0\x01\0\0\0\0\0").unwrap_err().to_string(),
        "artifact truncated at byte 8 while reading the checksum: it needs 4 bytes, 2 remain"
    );
}

#[test]
fn wrong_magic_is_not_an_artifact() {
    for bytes in [&b"\x7fELF\x02\x01\x01\0\0\0\0\0"[..], b"PK\x03\x04", b"HGY\0 and more", b"{}"] {
        assert_eq!(Artifact::from_bytes(bytes), Err(ArtifactError::NotAnArtifact), "{bytes:?}");
    }
    assert_eq!(ArtifactError::NotAnArtifact.to_string(), "not an Hourglass artifact: it does not start with `HGX\\0`");
}

#[test]
fn other_format_version_names_its_producer() {
    // Only the frame is read: the rest is whatever version 2 holds.
    let future = Body::new(2, "0.9.0").u64(u64::MAX).sealed();
    let err = Artifact::from_bytes(&future).unwrap_err();
    assert_eq!(err, ArtifactError::UnsupportedVersion { found: 2, producer: "0.9.0".into() });
    assert_eq!(
        err.to_string(),
        format!(
            "artifact format version 2 is not supported (this runtime, Hourglass {HOURGLASS_VERSION}, reads \
             version 1); the artifact was built by Hourglass 0.9.0"
        )
    );
}

#[test]
fn checksum_is_checked_before_the_contents() {
    let mut bytes = sample().to_bytes().unwrap();
    // The first byte of the header length: unchecked, it would read as a huge length.
    let at = 4 + 4 + 8 + HOURGLASS_VERSION.len() + 7;
    bytes[at] ^= 0x80;
    let err = Artifact::from_bytes(&bytes).unwrap_err();
    assert!(matches!(err, ArtifactError::ChecksumMismatch { .. }), "{err}");
    assert!(err.to_string().starts_with("artifact corrupted or truncated: checksum mismatch (CRC-32 stored 0x"));
}

#[test]
fn huge_lengths_are_errors_not_allocations() {
    let huge_header = Body::new(1, "0.1.0").u64(1 << 60).sealed();
    assert_eq!(
        Artifact::from_bytes(&huge_header),
        Err(ArtifactError::Truncated { field: Field::Header, offset: 29, needed: 1 << 60, available: 0 })
    );
    let huge_producer = Body::start(1).u64(u64::MAX).sealed();
    assert!(matches!(
        Artifact::from_bytes(&huge_producer),
        Err(ArtifactError::Truncated { field: Field::Producer, needed: u64::MAX, .. })
    ));
    let huge_count = Body::new(1, "0.1.0").prefixed(b"{}").u64(u64::MAX).sealed();
    assert!(matches!(
        Artifact::from_bytes(&huge_count),
        Err(ArtifactError::Truncated { field: Field::SectionNameLength(0), .. })
    ));
    let huge_section = Body::new(1, "0.1.0").prefixed(b"{}").u64(2).prefixed(b"a").prefixed(b"").prefixed(b"b");
    let huge_section = huge_section.u64(u64::MAX).sealed();
    let err = Artifact::from_bytes(&huge_section).unwrap_err();
    assert!(matches!(err, ArtifactError::Truncated { field: Field::SectionBytes(1), .. }), "{err}");
    assert!(
        err.to_string().contains("while reading the bytes of section 1: it needs 18446744073709551615 bytes, 0 remain")
    );
}

#[test]
fn contents_that_lie_under_a_valid_checksum() {
    let frame = || Body::new(1, "0.1.0");
    let check = |bytes: Vec<u8>, expected: ArtifactError| assert_eq!(Artifact::from_bytes(&bytes), Err(expected));

    let duplicate = frame().prefixed(b"{}").u64(2).prefixed(b"w").prefixed(b"1").prefixed(b"w").prefixed(b"2");
    check(duplicate.sealed(), ArtifactError::DuplicateSection("w".into()));
    let not_utf8 = frame().prefixed(b"{}").u64(1).prefixed(b"\xff\xfe").prefixed(b"");
    check(not_utf8.sealed(), ArtifactError::NotUtf8 { field: Field::SectionName(0), offset: 47 });
    let trailing = frame().prefixed(b"{}").u64(0).u64(0);
    check(trailing.sealed(), ArtifactError::TrailingBytes(8));
    check(Body::start(1).prefixed(b"\xc3").sealed(), ArtifactError::NotUtf8 { field: Field::Producer, offset: 16 });

    let bad_json = frame().prefixed(b"{\"model\": ").u64(0).sealed();
    let err = Artifact::from_bytes(&bad_json).unwrap_err();
    assert!(matches!(err, ArtifactError::InvalidHeader(_)));
    assert!(err.to_string().starts_with("invalid artifact header JSON: EOF while parsing"), "{err}");
}

/// One way a file can change in transit.
#[derive(Clone, Debug)]
enum Damage {
    /// XOR one byte with a nonzero mask.
    Flip {
        at: usize,
        mask: u8,
    },
    Truncate {
        len: usize,
    },
    Insert {
        at: usize,
        byte: u8,
    },
    Remove {
        at: usize,
    },
}

impl Damage {
    fn apply(&self, bytes: &mut Vec<u8>) {
        let n = bytes.len();
        match *self {
            Damage::Insert { at, byte } => bytes.insert(at % (n + 1), byte),
            _ if n == 0 => {}
            Damage::Flip { at, mask } => bytes[at % n] ^= mask,
            Damage::Truncate { len } => bytes.truncate(len % n),
            Damage::Remove { at } => {
                bytes.remove(at % n);
            }
        }
    }
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, mask)| Damage::Flip { at, mask }),
        any::<usize>().prop_map(|len| Damage::Truncate { len }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Damage::Insert { at, byte }),
        any::<usize>().prop_map(|at| Damage::Remove { at }),
    ]
}

proptest! {
    /// A changed file never panics and never reads as valid: a flipped byte is an error burst
    /// CRC-32 always detects; a file of another length passes only by a 2^-32 accident.
    #[test]
    fn damaged_files_are_rejected(damages in prop::collection::vec(damage(), 1..4)) {
        let original = sample().to_bytes().unwrap();
        let mut bytes = original.clone();
        for d in &damages {
            d.apply(&mut bytes);
        }
        let result = Artifact::from_bytes(&bytes);
        if bytes == original {
            prop_assert!(result.is_ok());
        } else {
            prop_assert!(result.is_err(), "{damages:?} read as valid");
        }
    }

    /// Arbitrary bytes behind a valid magic number and checksum exercise every length check.
    #[test]
    fn sealed_noise_never_panics(version in 0..3u32, noise in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut body = Body::start(version);
        body.0.extend_from_slice(&noise);
        let _ = Artifact::from_bytes(&body.sealed());
    }
}

#[test]
fn duplicate_sections_are_refused_when_written() {
    let mut artifact = Artifact::new(serde_json::json!({}));
    for _ in 0..2 {
        artifact.sections.push(Section { name: "weights".into(), bytes: vec![1] });
    }
    assert_eq!(artifact.to_bytes(), Err(ArtifactError::DuplicateSection("weights".into())));
}
