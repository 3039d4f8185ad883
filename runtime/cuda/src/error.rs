//! The one error type of the CUDA executor: a complete, user-facing message.

/// What went wrong, said for the user.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CudaError(pub String);

impl CudaError {
    pub fn new(message: impl Into<String>) -> CudaError {
        CudaError(message.into())
    }

    /// A driver call that failed while doing `what`.
    pub fn driver(what: &str, e: cudarc::driver::DriverError) -> CudaError {
        CudaError(format!("CUDA driver error while {what}: {e}"))
    }
}

impl From<hg_cpu::CpuError> for CudaError {
    fn from(e: hg_cpu::CpuError) -> CudaError {
        CudaError(e.0)
    }
}

macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::CudaError::new(format!($($arg)*)))
    };
}
pub(crate) use bail;
