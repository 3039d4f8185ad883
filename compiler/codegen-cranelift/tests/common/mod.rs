//! Helpers of the kernel tests: the shared test support of `hg_kernel::testing`, and the
//! comparison of Cranelift's code with the reference evaluator.

#![allow(dead_code)]

use hg_codegen_cranelift::{CompiledKernels, compile};
use hg_kernel::eval::eval;
use hg_kernel::ir::Kernel;
pub use hg_kernel::testing::*;

/// Compiles `kernel`, and for every batch size runs it and the evaluator on the same random
/// buffers and compares every buffer bit for bit; a parallel kernel also runs in two halves.
/// Returns the compiled kernels for further checks.
pub fn check(kernel: &Kernel, batches: &[i64]) -> CompiledKernels {
    hg_kernel::verify(kernel).unwrap_or_else(|e| panic!("{e}\n{kernel}"));
    let compiled = compile(std::slice::from_ref(kernel)).unwrap_or_else(|e| panic!("{e}\n{kernel}"));
    for &batch in batches {
        let mut rng = Rng::new(batch as u64 * 7919 + kernel.name.len() as u64);
        let input = buffers(kernel, batch, &mut rng);
        let extent = kernel.parallel_extent().map_or(0, |e| e.eval(batch as usize).unwrap());
        let mut want = input.clone();
        eval(kernel, &mut want, batch, 0, extent).unwrap_or_else(|e| panic!("evaluator: {e}\n{kernel}"));
        let mut got = input.clone();
        compiled.run(0, &mut got, batch, 0, extent).unwrap();
        let context = format!("kernel {} at B = {batch}\n{kernel}", kernel.name);
        assert_same(&got, &want, &context);
        if kernel.parallel {
            let mid = extent / 2;
            let mut halves = input.clone();
            compiled.run(0, &mut halves, batch, mid, extent).unwrap();
            compiled.run(0, &mut halves, batch, 0, mid).unwrap();
            assert_same(&halves, &want, &format!("{context} (two halves)"));
        }
    }
    compiled
}
