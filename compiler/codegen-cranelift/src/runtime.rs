//! The runtime functions generated kernels call ([`hg_exec::kernel_fns`]: `sin`, `cos`, `pow`,
//! f64 math and Philox draws), as Cranelift signatures. (`exp`, `log`, `tanh`, `sigmoid`,
//! `gelu` and `softplus` on f32 are inline code, [`crate::math`].)

use cranelift_codegen::ir::types::{F32, F64, I32, I64};
use cranelift_codegen::ir::{AbiParam, Signature, Type};
use hg_exec::kernel_fns::CType;
pub use hg_exec::kernel_fns::{RuntimeFn, all, binary, binary_f64_fn, random, unary, unary_f64_fn};

fn clif(t: CType) -> Type {
    match t {
        CType::F32 => F32,
        CType::F64 => F64,
        CType::I32 => I32,
        CType::I64 => I64,
    }
}

/// The Cranelift signature of `f` under the calling convention of `base` (the module's
/// default).
pub fn signature(f: &RuntimeFn, mut base: Signature) -> Signature {
    base.params.extend(f.params.iter().map(|&t| AbiParam::new(clif(t))));
    base.returns.push(AbiParam::new(clif(f.result)));
    base
}
