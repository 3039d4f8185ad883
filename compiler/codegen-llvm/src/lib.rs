//! Hourglass CPU code generator through LLVM: lowers kernel IR to LLVM IR with inkwell
//! ([`kernel`], inline f32 math in `math`), optimises it at O3 for the target CPU and emits one
//! relocatable object for all kernels of a program ([`object`]). [`jit`] loads that object into
//! this process with the runtime's loader (`hg_cpu::loader`), the same way standalone
//! executables load it, for `hgc run --backend llvm`. Generated code computes bit for bit what
//! the reference evaluator computes (no fast-math flags; the same inline approximations).
//!
//! [`affine_relu`] is the hand-built kernel that first proved the toolchain (an object linked by
//! a C toolchain into an executable that needs no `libLLVM`); [`target`] owns the target
//! machine, the optimisation pipeline and object emission.
//!
//! Invariants: LLVM is linked statically (inkwell's `force-static`), so there is one LLVM in
//! any binary that also links MLIR, and neither the compiler nor the executables built from
//! its objects load `libLLVM` at run time. Objects are position independent so they link into
//! the PIE executables that C compilers produce by default.

pub mod affine_relu;
#[cfg(test)]
mod elf;
mod error;
pub mod jit;
pub mod kernel;
mod math;
pub mod object;
pub mod target;
#[cfg(test)]
mod tests;

pub use affine_relu::{affine_relu_ir, emit_affine_relu_object};
pub use error::CodegenError;
pub use jit::{CodeOwner, CompiledKernels, compile};
pub use object::{KernelObject, compile_kernels, kernels_ir};
pub use target::{HostTarget, ObjectInfo};
