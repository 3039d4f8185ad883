//! Why an artifact could not be read or run here. Each message names what was wrong and
//! where (a byte offset, a section, a version), so a user can tell a truncated download from
//! a file of another Hourglass or a build for another CPU.

use super::{FORMAT_VERSION, HOURGLASS_VERSION};
use crate::cpu::CpuLevel;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArtifactError {
    #[error("not an Hourglass artifact: it does not start with `HGX\\0`")]
    NotAnArtifact,
    #[error(
        "artifact format version {found} is not supported (this runtime, Hourglass {HOURGLASS_VERSION}, \
         reads version {FORMAT_VERSION}); the artifact was built by Hourglass {producer}"
    )]
    UnsupportedVersion { found: u32, producer: String },
    #[error("artifact truncated at byte {offset} while reading {field}: it needs {needed} bytes, {available} remain")]
    Truncated { field: Field, offset: usize, needed: u64, available: usize },
    #[error(
        "artifact corrupted or truncated: checksum mismatch (CRC-32 stored {stored:#010x}, computed {computed:#010x})"
    )]
    ChecksumMismatch { stored: u32, computed: u32 },
    #[error("{field} at byte {offset} is not valid UTF-8")]
    NotUtf8 { field: Field, offset: usize },
    #[error("invalid artifact header JSON: {0}")]
    InvalidHeader(String),
    #[error("duplicate artifact section `{0}`")]
    DuplicateSection(String),
    #[error("{0} unexpected bytes after the last artifact section")]
    TrailingBytes(usize),
    #[error(
        "the artifact appended to this executable is damaged: its trailer declares {declared} bytes, \
         but only {available} precede the trailer"
    )]
    BadTrailer { declared: u64, available: usize },
    #[error(
        "this build needs {needed} ({}: {}), which this CPU ({cpu}) lacks",
        needed.summary(),
        missing.join(", ")
    )]
    CpuUnsupported { needed: CpuLevel, missing: Vec<&'static str>, cpu: String },
    #[error("this build runs on x86-64 CPUs, and this machine is {arch}")]
    NotX86_64 { arch: &'static str },
    #[error("the artifact holds no kernel section (`kernels/<level>`) this runtime knows; its sections: {}", sections.join(", "))]
    NoKernels { sections: Vec<String> },
}

/// The part of an artifact being read when it ran out or held invalid text; sections are
/// numbered from 0 in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Magic,
    FormatVersion,
    ProducerLength,
    Producer,
    HeaderLength,
    Header,
    SectionCount,
    SectionNameLength(u64),
    SectionName(u64),
    SectionLength(u64),
    SectionBytes(u64),
    Checksum,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Magic => f.write_str("the magic number"),
            Field::FormatVersion => f.write_str("the format version"),
            Field::ProducerLength => f.write_str("the length of the producer version"),
            Field::Producer => f.write_str("the producer version"),
            Field::HeaderLength => f.write_str("the length of the header"),
            Field::Header => f.write_str("the header"),
            Field::SectionCount => f.write_str("the section count"),
            Field::SectionNameLength(i) => write!(f, "the length of the name of section {i}"),
            Field::SectionName(i) => write!(f, "the name of section {i}"),
            Field::SectionLength(i) => write!(f, "the length of section {i}"),
            Field::SectionBytes(i) => write!(f, "the bytes of section {i}"),
            Field::Checksum => f.write_str("the checksum"),
        }
    }
}
