//! The portable artifact `hgc build` writes (`NAME.hgx`, or appended to a runner executable):
//! one file holding everything a runtime without the compiler needs to run a model.
//!
//! An artifact is a JSON header (typed by its producer: model name, spec, hyperparameters,
//! manifest, plans, training defaults) and named binary sections: one relocatable kernel
//! object per CPU level (`kernels/x86-64-v3`, see [`kernel_section_name`]) and optionally the
//! trained weights as safetensors bytes ([`WEIGHTS_SECTION`]). The byte layout, all integers
//! little-endian:
//!
//! ```text
//! magic             4 bytes  b"HGX\0"
//! format version    u32      FORMAT_VERSION
//! producer          u64 length, UTF-8   the Hourglass version that wrote the file
//! header            u64 length, UTF-8 JSON
//! section count     u64
//! per section       u64 length, UTF-8 name; u64 length, bytes
//! checksum          u32      CRC-32 of every byte before it
//! ```
//!
//! **Invariant**: the frame (magic, format version, producer, trailing checksum) is the same
//! in every format version, so a runtime checks the checksum first (corruption is reported as
//! corruption, not as whatever field it happened to hit) and names the Hourglass version that
//! wrote an artifact it cannot read.
//!
//! **Invariant**: reading never trusts a length: each is checked against the bytes that remain
//! before anything is sliced or allocated, so a damaged or hostile file is an
//! [`ArtifactError`], never a panic or an allocation larger than the file.

mod appended;
mod error;
mod format;
mod kernels;
#[cfg(test)]
mod tests;

pub use appended::{TRAILER_LEN, TRAILER_MAGIC, append_to_executable, find_appended};
pub use error::{ArtifactError, Field};
pub use kernels::{kernel_section_name, ptx_section_name};

/// The first bytes of every artifact.
pub const MAGIC: [u8; 4] = *b"HGX\0";

/// The layout this crate writes and the only one it reads. Bump it on any change after the
/// frame; old runtimes then say which Hourglass built the file instead of misreading it.
pub const FORMAT_VERSION: u32 = 1;

/// The version of Hourglass this crate belongs to, recorded as an artifact's producer.
pub const HOURGLASS_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The section holding trained weights, as safetensors bytes.
pub const WEIGHTS_SECTION: &str = "weights";

/// A compiled model: the producer's JSON header and its binary sections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// The Hourglass version that wrote the artifact ([`HOURGLASS_VERSION`] for a new one).
    pub producer: String,
    pub header: serde_json::Value,
    /// In the order they are written; names are unique.
    pub sections: Vec<Section>,
}

/// One named blob of an artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub bytes: Vec<u8>,
}

impl Artifact {
    /// An artifact with no sections yet, produced by this version of Hourglass.
    pub fn new(header: serde_json::Value) -> Artifact {
        Artifact { producer: HOURGLASS_VERSION.to_string(), header, sections: Vec::new() }
    }

    /// The section called `name`, if there is one.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }
}
