//! Hourglass CPU code generator through Cranelift: compiles kernel IR to machine code in memory
//! (JIT) in milliseconds, for `hgc run` and the test suite.
//!
//! [`compile`] verifies a list of [`hg_kernel::ir::Kernel`]s and lowers each to a Cranelift
//! function with the [`hg_abi::plan::KernelFn`] C ABI ([`kernel`]; innermost loops of pure f32
//! arithmetic also get an `f32x4` version, [`simd`]), all in one JIT module for the host CPU
//! ([`jit`]). `exp`, `log`, `sigmoid`, `tanh`, `softplus` and `gelu` are emitted inline, as
//! the f32 approximations of `hg_kernel::fastmath` ([`math`]); the other math without a
//! Cranelift instruction (`sin`, `cos`, `pow`, random draws, f64 functions) calls the scalar
//! functions of [`runtime`].
//! Generated code computes bit for bit what the reference evaluator `hg_kernel::eval` computes.
//!
//! Invariant: no public safe function can make generated code touch memory outside the buffers
//! it was given: kernels are verified (every access proved in bounds for every batch size)
//! before they are compiled, and [`CompiledKernels::run`] checks the buffers against the
//! kernel's arguments before it calls it. The raw entry points
//! ([`CompiledKernels::functions`]) are for executors that make the same checks.

mod error;
pub mod jit;
pub mod kernel;
pub mod math;
pub mod object;
pub mod runtime;
pub mod simd;

pub use error::CodegenError;
pub use kernel::{CodeOwner, CompiledKernels, compile};
pub use object::compile_object;
