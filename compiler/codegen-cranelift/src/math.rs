//! Inline f32 transcendental functions: `exp`, `log`, `sigmoid`, `tanh`, `softplus` and `gelu`
//! as the instruction sequences of [`hg_kernel::fastmath`], which is written once over the
//! lane-wise operations of its [`Arith`] trait: [`Lanes`] implements each operation as one
//! Cranelift instruction on `f32x4`/`i32x4` values (`fma` where the evaluator uses `mul_add`,
//! `bitselect` on an `fcmp` mask for a select, `bitcast`, integer adds and shifts for the
//! exponent bits), so generated code computes bit for bit what the evaluator computes.
//!
//! Vector loops ([`crate::simd`]) apply the sequence to four lanes; scalar code splats its
//! value, runs the same sequence and takes lane 0, so it is branch-free too (a scalar `select`
//! of floats is a branch on x86-64) and the scalar and vector results of an element agree.
//!
//! The native ISA lowers `fma` to one FMA instruction on hosts that have it (x86-64 since
//! Haswell); elsewhere Cranelift calls the C library's `fmaf` per lane, correctly rounded but
//! slow.

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::types::{F32X4, I32, I32X4};
use cranelift_codegen::ir::{Endianness, InstBuilder, MemFlagsData, Value};
use cranelift_frontend::FunctionBuilder;
use hg_kernel::fastmath::{self, Arith};
use hg_kernel::ir::UnaryOp;

/// [`Arith`] as Cranelift instructions on four lanes: `F` is an `f32x4`, `I` an `i32x4`, `M` an
/// `i32x4` mask (all ones where true, as `fcmp` gives it).
pub(crate) struct Lanes<'a, 'b> {
    pub(crate) b: &'a mut FunctionBuilder<'b>,
}

fn little() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

impl Arith for Lanes<'_, '_> {
    type F = Value;
    type I = Value;
    type M = Value;

    fn f(&mut self, x: f32) -> Value {
        let c = self.b.ins().f32const(x);
        self.b.ins().splat(F32X4, c)
    }
    fn i(&mut self, x: i32) -> Value {
        let c = self.b.ins().iconst(I32, i64::from(x));
        self.b.ins().splat(I32X4, c)
    }
    fn add(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fadd(a, b)
    }
    fn sub(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fsub(a, b)
    }
    fn mul(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fmul(a, b)
    }
    fn div(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fdiv(a, b)
    }
    fn fma(&mut self, a: Value, b: Value, c: Value) -> Value {
        self.b.ins().fma(a, b, c)
    }
    fn neg(&mut self, a: Value) -> Value {
        self.b.ins().fneg(a)
    }
    fn abs(&mut self, a: Value) -> Value {
        self.b.ins().fabs(a)
    }
    fn lt(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fcmp(FloatCC::LessThan, a, b)
    }
    fn gt(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fcmp(FloatCC::GreaterThan, a, b)
    }
    fn ge(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, a, b)
    }
    fn eq(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fcmp(FloatCC::Equal, a, b)
    }
    fn not_lt(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fcmp(FloatCC::UnorderedOrGreaterThanOrEqual, a, b)
    }
    fn select(&mut self, m: Value, a: Value, b: Value) -> Value {
        let m = self.b.ins().bitcast(F32X4, little(), m);
        self.b.ins().bitselect(m, a, b)
    }
    fn bitcast_i(&mut self, a: Value) -> Value {
        self.b.ins().bitcast(I32X4, little(), a)
    }
    fn bitcast_f(&mut self, a: Value) -> Value {
        self.b.ins().bitcast(F32X4, little(), a)
    }
    fn iadd(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().iadd(a, b)
    }
    fn isub(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().isub(a, b)
    }
    fn and(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().band(a, b)
    }
    fn or(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().bor(a, b)
    }
    fn shl(&mut self, a: Value, n: u32) -> Value {
        let n = self.b.ins().iconst(I32, i64::from(n));
        self.b.ins().ishl(a, n)
    }
    fn sar(&mut self, a: Value, n: u32) -> Value {
        let n = self.b.ins().iconst(I32, i64::from(n));
        self.b.ins().sshr(a, n)
    }
    fn to_float(&mut self, a: Value) -> Value {
        self.b.ins().fcvt_from_sint(F32X4, a)
    }
}

/// Whether `op` on f32 is emitted inline by this module.
pub(crate) fn inline(op: UnaryOp) -> bool {
    fastmath::approximates(op)
}

/// `op` on the four lanes of the `f32x4` value `x`, if it is one of the inline functions.
pub(crate) fn unary_f32x4(b: &mut FunctionBuilder<'_>, op: UnaryOp, x: Value) -> Option<Value> {
    fastmath::unary(&mut Lanes { b }, op, x)
}

/// `op` on the `f32` value `x`, if it is one of the inline functions (the vector sequence on a
/// splat, lane 0 of the result).
pub(crate) fn unary_f32(b: &mut FunctionBuilder<'_>, op: UnaryOp, x: Value) -> Option<Value> {
    if !inline(op) {
        return None;
    }
    let lanes = b.ins().splat(F32X4, x);
    let y = unary_f32x4(b, op, lanes)?;
    Some(b.ins().extractlane(y, 0))
}
