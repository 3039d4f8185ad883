//! Hourglass CPU code generator through Cranelift: compiles kernels to machine code in memory
//! (JIT) in milliseconds, for `hgc run` and the test suite.
//!
//! Today the crate carries one hand-built kernel, [`affine_relu`] (`y[i] = max(a * x[i] + b, 0)`),
//! which fixes the shape later kernels follow: a module per kernel family that builds Cranelift
//! IR, a shared [`jit`] module that owns host-ISA selection, and a safe wrapper whose `run`
//! checks every length before it calls generated code. The lowering from kernel IR will live
//! beside `affine_relu` and reuse the same pieces.
//!
//! Invariant: no public function can make generated code touch memory outside the slices it
//! was given; every precondition a kernel relies on is checked in its safe wrapper.

pub mod affine_relu;
mod error;
pub mod jit;

pub use affine_relu::{AffineReluJit, compile_affine_relu};
pub use error::CodegenError;
