//! Hourglass CPU code generator through LLVM: builds kernels as LLVM IR with inkwell, optimises
//! them at O3 for the host CPU and writes relocatable object files that a C toolchain links
//! into standalone executables.
//!
//! Today the crate carries one hand-built kernel, [`affine_relu`] (`y[i] = max(a * x[i] + b, 0)`),
//! which fixes the shape later kernels follow: a module per kernel family that builds IR and
//! documents its C ABI, and a shared [`target`] module that owns the host target machine, the
//! optimisation pipeline and object emission. The lowering from kernel IR will live beside
//! `affine_relu` and reuse `target`.
//!
//! Invariants: LLVM is linked statically (inkwell's `force-static`), so there is one LLVM in
//! any binary that also links MLIR, and neither the compiler nor the executables built from
//! its objects load `libLLVM` at run time. Objects are position independent so they link into
//! the PIE executables that C compilers produce by default.

pub mod affine_relu;
#[cfg(test)]
mod elf;
mod error;
pub mod target;

pub use affine_relu::{affine_relu_ir, emit_affine_relu_object};
pub use error::CodegenError;
pub use target::ObjectInfo;
