//! The affine-ReLU kernel, `y[i] = max(a * x[i] + b, 0)` over `f32` slices, built directly as
//! Cranelift IR and JIT-compiled for the host CPU.
//!
//! Numerics are the same in all three code generators so their outputs can be compared bit
//! for bit: the product and the sum are rounded separately (no fused multiply-add), and the
//! maximum follows IEEE 754-2019 `maximum` (a NaN input gives NaN, and `+0.0` is greater than
//! `-0.0`, so the result is never `-0.0`).
//!
//! Generated-code ABI (the platform C calling convention):
//! `fn(x: *const f32, y: *mut f32, n: usize, a: f32, b: f32)`; it reads `x[0..n]` and writes
//! `y[0..n]`. Invariant: the only way to call it is [`AffineReluJit::run`], which passes the
//! common length of two slices, so it never touches memory outside them.

use cranelift_codegen::ir::{AbiParam, BlockArg, Function, InstBuilder, MemFlagsData, condcodes::IntCC, types::F32};
use cranelift_codegen::isa::TargetFrontendConfig;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::{Linkage, Module};

use crate::CodegenError;
use crate::jit::{JitCode, new_host_module};

/// Symbol name of the kernel inside its JIT module.
pub const SYMBOL: &str = "hg_affine_relu";

/// The machine-code signature of the kernel; see the module documentation.
type KernelFn = unsafe extern "C" fn(*const f32, *mut f32, usize, f32, f32);

/// A JIT-compiled affine-ReLU kernel, callable through the safe [`AffineReluJit::run`].
///
/// ```
/// let kernel = hg_codegen_cranelift::compile_affine_relu()?;
/// let x = [-2.0_f32, 0.5, 3.0];
/// let mut y = [0.0_f32; 3];
/// kernel.run(&x, &mut y, 2.0, 1.0)?;
/// assert_eq!(y, [0.0, 2.0, 7.0]);
/// # Ok::<(), hg_codegen_cranelift::CodegenError>(())
/// ```
pub struct AffineReluJit {
    kernel: KernelFn,
    clif: String,
    // Owns the executable memory `kernel` points into; dropped after the pointer is unusable.
    _code: JitCode,
}

impl AffineReluJit {
    /// Computes `y[i] = max(a * x[i] + b, 0)` for every `i`.
    ///
    /// Fails with [`CodegenError::LengthMismatch`] (and leaves `y` untouched) when `x` and `y`
    /// have different lengths.
    pub fn run(&self, x: &[f32], y: &mut [f32], a: f32, b: f32) -> Result<(), CodegenError> {
        if x.len() != y.len() {
            return Err(CodegenError::LengthMismatch { left: "x", left_len: x.len(), right: "y", right_len: y.len() });
        }
        // SAFETY: the kernel reads `x[0..n]` and writes `y[0..n]` with `n` the common length
        // checked above, so every access is in bounds; `y` is a unique borrow, so the two
        // ranges cannot overlap. The code stays mapped while `self._code` is alive.
        unsafe { (self.kernel)(x.as_ptr(), y.as_mut_ptr(), x.len(), a, b) };
        Ok(())
    }

    /// The Cranelift IR the kernel was compiled from, in Cranelift's text form.
    pub fn clif(&self) -> &str {
        &self.clif
    }
}

impl std::fmt::Debug for AffineReluJit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AffineReluJit").field("symbol", &SYMBOL).finish_non_exhaustive()
    }
}

/// JIT-compiles the affine-ReLU kernel for the host CPU.
pub fn compile_affine_relu() -> Result<AffineReluJit, CodegenError> {
    let mut module = new_host_module()?;
    let mut ctx = module.make_context();
    build_affine_relu(&mut ctx.func, module.target_config());
    let clif = ctx.func.display().to_string();

    let id = module.declare_function(SYMBOL, Linkage::Export, &ctx.func.signature)?;
    module.define_function(id, &mut ctx)?;
    module.finalize_definitions()?;
    let address = module.get_finalized_function(id);
    // SAFETY: `address` is the entry of the function just defined with the signature built by
    // `build_affine_relu`, which is `KernelFn` under the module's default (C) calling convention.
    let kernel = unsafe { std::mem::transmute::<*const u8, KernelFn>(address) };
    Ok(AffineReluJit { kernel, clif, _code: JitCode::new(module) })
}

/// Fills `func` (whose signature holds only the calling convention) with the kernel:
///
/// ```text
/// entry(x, y, n, a, b): jump header(0)
/// header(i):            if i < n then body else exit
/// body:                 y[i] = fmax(a * x[i] + b, 0.0); jump header(i + 1)
/// exit:                 return
/// ```
fn build_affine_relu(func: &mut Function, target: TargetFrontendConfig) {
    let ptr = target.pointer_type();
    for ty in [ptr, ptr, ptr, F32, F32] {
        func.signature.params.push(AbiParam::new(ty));
    }

    let mut builder_ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(func, &mut builder_ctx);
    let entry = b.create_block();
    let header = b.create_block();
    let body = b.create_block();
    let exit = b.create_block();

    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let params = b.block_params(entry).to_vec();
    let (x, y, n, scale, shift) = (params[0], params[1], params[2], params[3], params[4]);
    let zero_index = b.ins().iconst(ptr, 0);
    b.ins().jump(header, &[BlockArg::Value(zero_index)]);

    let i = b.append_block_param(header, ptr);
    b.switch_to_block(header);
    let in_bounds = b.ins().icmp(IntCC::UnsignedLessThan, i, n);
    b.ins().brif(in_bounds, body, &[], exit, &[]);

    b.switch_to_block(body);
    let byte_offset = b.ins().imul_imm_s(i, 4);
    let x_addr = b.ins().iadd(x, byte_offset);
    let y_addr = b.ins().iadd(y, byte_offset);
    // Trusted: in bounds and 4-byte aligned, which `run` guarantees through the slices.
    let xv = b.ins().load(F32, MemFlagsData::trusted(), x_addr, 0);
    // Separate multiply and add (not `fma`): the same rounding as the other code generators.
    let product = b.ins().fmul(scale, xv);
    let sum = b.ins().fadd(product, shift);
    let zero = b.ins().f32const(0.0);
    let result = b.ins().fmax(sum, zero);
    b.ins().store(MemFlagsData::trusted(), result, y_addr, 0);
    let next = b.ins().iadd_imm_s(i, 1);
    b.ins().jump(header, &[BlockArg::Value(next)]);

    b.switch_to_block(exit);
    b.ins().return_(&[]);
    b.seal_all_blocks();
    b.finalize(target);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's contract in plain Rust: separate rounding, IEEE `maximum` against zero.
    fn reference(x: &[f32], a: f32, b: f32) -> Vec<f32> {
        x.iter()
            .map(|&v| {
                let s = a * v + b;
                if s.is_nan() || s > 0.0 { s } else { 0.0 }
            })
            .collect()
    }

    /// Deterministic values in [-4, 4): a small LCG keeps the test free of extra crates.
    fn inputs(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 8.0 - 4.0
            })
            .collect()
    }

    /// Bitwise equality, except that any NaN matches any NaN (payloads are not specified).
    fn assert_same(got: &[f32], want: &[f32], context: &str) {
        assert_eq!(got.len(), want.len(), "{context}: length");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            let same = g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan());
            assert!(same, "{context}: y[{i}] = {g:?}, expected {w:?}");
        }
    }

    #[test]
    fn matches_reference_for_several_lengths_and_coefficients() {
        let kernel = compile_affine_relu().expect("compile");
        for n in [0, 1, 2, 3, 17, 1000] {
            let x = inputs(n, n as u64);
            assert!(n < 17 || (x.iter().any(|&v| v < 0.0) && x.iter().any(|&v| v > 0.0)));
            for (a, b) in [(2.0, 1.0), (-1.5, 0.25), (0.5, -3.0), (0.0, -1.0), (1.0, 0.0)] {
                // Pre-fill with a marker so an element the kernel skipped cannot pass.
                let mut y = vec![f32::from_bits(0x7fc0_dead); n];
                kernel.run(&x, &mut y, a, b).expect("run");
                assert_same(&y, &reference(&x, a, b), &format!("n={n} a={a} b={b}"));
            }
        }
    }

    #[test]
    fn special_values_follow_ieee_maximum() {
        let kernel = compile_affine_relu().expect("compile");
        let x = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 0.0, f32::MIN_POSITIVE / 4.0, f32::MAX, -f32::MAX];
        for (a, b) in [(1.0, 0.0), (1.0, -0.0), (-1.0, 0.0), (0.0, 0.0), (2.0, 1.0)] {
            let mut y = [1.0_f32; 8];
            kernel.run(&x, &mut y, a, b).expect("run");
            assert_same(&y, &reference(&x, a, b), &format!("a={a} b={b}"));
            assert!(y[0].is_nan(), "NaN input must give NaN");
            assert!(y.iter().all(|v| v.to_bits() != (-0.0_f32).to_bits()));
        }
    }

    #[test]
    fn length_mismatch_is_an_error_and_leaves_y_untouched() {
        let kernel = compile_affine_relu().expect("compile");
        let mut y = [7.0_f32; 2];
        let error = kernel.run(&[1.0, 2.0, 3.0], &mut y, 1.0, 0.0).unwrap_err();
        assert!(matches!(error, CodegenError::LengthMismatch { left_len: 3, right_len: 2, .. }));
        assert_eq!(error.to_string(), "length mismatch: `x` has 3 elements but `y` has 2");
        assert_eq!(y, [7.0, 7.0]);
    }

    #[test]
    fn clif_text_shows_the_unfused_kernel() {
        let kernel = compile_affine_relu().expect("compile");
        let clif = kernel.clif();
        for needle in ["fmul", "fadd", "fmax", "load.f32", "store"] {
            assert!(clif.contains(needle), "missing `{needle}` in:\n{clif}");
        }
        assert!(!clif.contains("fma "), "kernel must not fuse multiply-add:\n{clif}");
    }
}
