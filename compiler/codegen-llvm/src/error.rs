//! The error type of the LLVM code generator. Each variant keeps LLVM's own message and, where
//! a file is involved, the path.

use std::path::PathBuf;

/// Everything that can go wrong while building, optimising or emitting LLVM code.
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    /// LLVM has no usable target for the CPU this process runs on.
    #[error("cannot create an LLVM target machine for the host: {0}")]
    HostTarget(String),
    /// The IR builder was misused (a bug in this crate, reported rather than panicking).
    #[error("LLVM IR builder error: {0}")]
    Builder(#[from] inkwell::builder::BuilderError),
    /// The generated module is not valid LLVM IR (a bug in this crate).
    #[error("LLVM rejected the generated IR of `{module}`: {message}")]
    InvalidIr {
        /// Name of the LLVM module.
        module: String,
        /// The verifier's report.
        message: String,
    },
    /// The optimisation pipeline failed.
    #[error("LLVM pass pipeline `{pipeline}` failed: {message}")]
    Passes {
        /// The pipeline in LLVM's textual pass syntax.
        pipeline: String,
        /// LLVM's message.
        message: String,
    },
    /// Writing the object file failed.
    #[error("cannot write object file `{path}`: {message}")]
    Emit {
        /// Where the object was to be written.
        path: PathBuf,
        /// LLVM's or the operating system's message.
        message: String,
    },
    /// A kernel failed verification (a bug in the lowering that produced it).
    #[error(transparent)]
    Verify(#[from] hg_kernel::VerifyError),
    /// A construct of a kernel this code generator does not lower.
    #[error("cannot compile with LLVM: {0}")]
    Unsupported(String),
    /// The compiled object could not be loaded into this process.
    #[error("cannot load the compiled kernels: {0}")]
    Load(String),
    /// A call of a compiled kernel on buffers that do not fit it.
    #[error("{0}")]
    Call(String),
}
