//! Helpers of the kernel tests: the shared test support of `hg_kernel::testing`, and the
//! comparison of Cranelift's code with the reference evaluator.

#![allow(dead_code)]

use hg_codegen_cranelift::{CompiledKernels, compile};
use hg_kernel::ir::Kernel;
pub use hg_kernel::testing::*;

/// Compiles `kernel`, and for every batch size runs it and the evaluator on the same random
/// buffers and compares every buffer bit for bit; a parallel kernel also runs in two halves.
/// Returns the compiled kernels for further checks.
pub fn check(kernel: &Kernel, batches: &[i64]) -> CompiledKernels {
    hg_kernel::verify(kernel).unwrap_or_else(|e| panic!("{e}\n{kernel}"));
    let compiled = compile(std::slice::from_ref(kernel)).unwrap_or_else(|e| panic!("{e}\n{kernel}"));
    check_against_evaluator(kernel, batches, &mut |bufs, batch, lo, hi| compiled.run(0, bufs, batch, lo, hi).unwrap());
    compiled
}
