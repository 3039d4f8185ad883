//! The one error type of the CPU executor: a complete, user-facing message.

/// A geometry that does not fit its buffers, an out-of-range index, a plan that breaks the
/// executor's contract, or an allocation that failed. The message names what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CpuError(pub String);

impl CpuError {
    pub fn new(message: impl Into<String>) -> CpuError {
        CpuError(message.into())
    }
}

/// `Err(CpuError)` from a format string.
macro_rules! bail {
    ($($t:tt)*) => {
        return Err($crate::error::CpuError::new(format!($($t)*)))
    };
}
pub(crate) use bail;

/// `a * b * ...` of sizes, or an error naming `what` on overflow.
pub(crate) fn product(dims: &[usize], what: &str) -> Result<usize, CpuError> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| CpuError::new(format!("{what}: the size {dims:?} overflows")))
}

/// Checks that a slice holds at least `need` elements.
pub(crate) fn fits(what: &str, len: usize, need: usize) -> Result<(), CpuError> {
    if len < need {
        bail!("{what} has {len} elements, the geometry needs {need}");
    }
    Ok(())
}
