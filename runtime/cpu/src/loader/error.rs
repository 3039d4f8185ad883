//! What can go wrong loading an object: each message says what, and where in the object.

/// Why an object could not be loaded. Malformed input is always one of these, never a panic.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("object loading needs x86-64 Linux")]
    UnsupportedHost,
    /// Not the kind of file the loader takes: not ELF, not 64-bit little-endian, not x86-64,
    /// not relocatable.
    #[error("not a relocatable x86-64 ELF object: {0}")]
    Format(String),
    /// An offset, size, index or name outside the file, or fields that contradict each other.
    #[error("malformed object: {0}")]
    Malformed(String),
    /// A well-formed feature the loader does not implement (thread-local storage, common
    /// symbols, relocations without addends).
    #[error("unsupported object: {0}")]
    Unsupported(String),
    #[error("relocation {kind} in section `{section}` at offset {offset:#x} is not supported")]
    UnsupportedRelocation { kind: String, section: String, offset: u64 },
    /// A relocated value that does not fit its field: never written truncated.
    #[error(
        "relocation {kind} against `{symbol}` in section `{section}` at offset {offset:#x}: \
         the value {} does not fit in {field}",
        signed_hex(*.value)
    )]
    Overflow { kind: String, symbol: String, section: String, offset: u64, value: i128, field: &'static str },
    #[error("undefined symbol `{0}` is not resolved")]
    Unresolved(String),
    /// The operating system refused memory or a protection change.
    #[error("{call} of {size} bytes failed: {reason}")]
    Memory { call: &'static str, size: usize, reason: String },
}

/// `-0x10` rather than the 128-bit two's complement `{:#x}` prints for negative values.
fn signed_hex(value: i128) -> String {
    let sign = if value < 0 { "-" } else { "" };
    format!("{sign}{:#x}", value.unsigned_abs())
}

/// `Err(LoadError::Malformed)` from a format string.
macro_rules! malformed {
    ($($t:tt)*) => {
        return Err($crate::loader::LoadError::Malformed(format!($($t)*)))
    };
}
pub(crate) use malformed;
