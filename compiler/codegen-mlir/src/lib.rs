//! Hourglass code generator through MLIR: lowers the kernel IR to MLIR (`scf`, `arith`,
//! `math`, `memref`; [`kernel`], written as MLIR text), then either
//! - for the CPU ([`cpu`], `--backend mlir-cpu`): MLIR's conversion passes to the `llvm`
//!   dialect, translation to LLVM IR, and the LLVM backend's O3, object emission and loader, so
//!   the lowering is checked bit for bit against the reference evaluator without a GPU; or
//! - for NVIDIA GPUs ([`gpu`]): the same loop bodies in `gpu.func` kernels (a parallel loop's
//!   iterations spread over the grid's threads), lowered in-process through NVVM and LLVM's
//!   NVPTX backend to PTX text for a chosen [`Chip`] ([`lower`]). No CUDA toolkit or GPU is
//!   needed to generate PTX.
//!
//! [`affine_relu`] is the hand-built kernel that first proved the GPU toolchain; [`context`]
//! registers dialects, passes and translations and captures diagnostics.
//!
//! Invariants: MLIR (and the LLVM inside it) is linked statically, so this crate adds no
//! run-time library dependency; one PTX text is generated per chip because PTX made for a newer
//! chip is refused by the assembler for an older one; generated kernels call runtime functions
//! only on the CPU: on the GPU, `sin`, `cos`, `pow`, f64 math and the logarithm and cosine of
//! normal draws are libdevice's, read from a CUDA toolkit or PyPI wheel when PTX is generated
//! ([`libdevice`]) and compiled into the PTX, so running it needs only the driver.

pub mod affine_relu;
pub mod chip;
pub mod context;
pub mod cpu;
mod error;
pub mod gpu;
pub mod kernel;
#[cfg(test)]
mod lib_tests;
pub mod libdevice;
pub mod lower;
mod ops;
pub mod ptxas;
#[cfg(test)]
mod tests;

pub use affine_relu::{affine_relu_mlir, affine_relu_ptx};
pub use chip::Chip;
pub use error::CodegenError;
pub use libdevice::Libdevice;
