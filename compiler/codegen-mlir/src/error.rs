//! The error type of the MLIR code generator. Lowering failures carry every diagnostic MLIR
//! emitted, so a broken kernel can be debugged from the error alone.

use crate::Chip;

/// Everything that can go wrong while building or lowering an MLIR kernel module.
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    /// An operation, type or attribute could not be built (a bug in this crate, reported
    /// rather than panicking).
    #[error("cannot build MLIR {what}: {message}")]
    Build {
        /// What was being built, e.g. ``operation `gpu.func` `` or ``type `memref<?xf32>` ``.
        what: String,
        /// melior's or MLIR's message.
        message: String,
    },
    /// The module built for a kernel does not verify (a bug in this crate).
    #[error("generated MLIR module `{module}` does not verify: {diagnostics}")]
    InvalidModule {
        /// Name of the `gpu.module`.
        module: String,
        /// MLIR's diagnostics, one per line.
        diagnostics: String,
    },
    /// The pass pipeline text was rejected.
    #[error("invalid MLIR pass pipeline `{pipeline}`: {message}")]
    Pipeline {
        /// The pipeline text.
        pipeline: String,
        /// MLIR's message.
        message: String,
    },
    /// A pass failed while lowering to PTX.
    #[error("lowering to PTX for {chip} failed: {diagnostics}")]
    Lowering {
        /// The chip being targeted.
        chip: Chip,
        /// MLIR's diagnostics, one per line.
        diagnostics: String,
    },
    /// The pipeline ran but left no serialised object for the chip.
    #[error("lowering for {chip} produced no `gpu.binary` with a PTX object")]
    NoBinary {
        /// The chip being targeted.
        chip: Chip,
    },
    /// The serialised object is not UTF-8 text, so it is not PTX.
    #[error("the object produced for {chip} is not PTX text")]
    NotPtx {
        /// The chip being targeted.
        chip: Chip,
    },
    /// A kernel failed verification (a bug in the lowering that produced it).
    #[error(transparent)]
    Verify(#[from] hg_kernel::VerifyError),
    /// A kernel construct this code generator does not lower.
    #[error("cannot compile with MLIR: {0}")]
    Unsupported(String),
    /// A pass failed while lowering the kernels for the CPU.
    #[error("lowering the MLIR kernels for the CPU failed: {diagnostics}")]
    CpuLowering {
        /// MLIR's diagnostics, one per line.
        diagnostics: String,
    },
    /// The LLVM backend failed to optimise, emit or load the translated kernels.
    #[error(transparent)]
    Llvm(#[from] hg_codegen_llvm::CodegenError),
}
