//! Hourglass GPU code generator through MLIR: builds kernels as MLIR `gpu.module`s (with the
//! `gpu`, `scf`, `arith` and `memref` dialects) and lowers them in-process, through NVVM and
//! LLVM's NVPTX backend, to PTX text for a chosen NVIDIA [`Chip`]. No CUDA toolkit or GPU is
//! needed to generate PTX.
//!
//! Today the crate carries one hand-built kernel, [`affine_relu`] (`y[i] = max(a * x[i] + b, 0)`),
//! which fixes the shape later kernels follow: a module per kernel family that builds MLIR op
//! by op, a shared [`context`] that registers dialects, passes and translations, and a shared
//! [`lower`] that runs the NVVM pipeline for a chip and extracts the PTX. The lowering from
//! kernel IR will live beside `affine_relu` and reuse the rest.
//!
//! Invariants: MLIR (and the LLVM inside it) is linked statically, so this crate adds no
//! run-time library dependency; one PTX text is generated per chip because PTX made for a newer
//! chip is refused by the assembler for an older one.

pub mod affine_relu;
pub mod chip;
pub mod context;
mod error;
pub mod lower;
mod ops;
#[cfg(test)]
mod ptxas;

pub use affine_relu::{affine_relu_mlir, affine_relu_ptx};
pub use chip::Chip;
pub use error::CodegenError;
