//! Inline f32 transcendental functions (`exp`, `log`, `sigmoid`, `tanh`, `softplus`, `gelu`) as
//! LLVM IR: the sequences of [`hg_kernel::fastmath`], written once over its [`Arith`] trait,
//! here as scalar instructions (`llvm.fma.f32` where the evaluator uses `mul_add`, `select` on an
//! `fcmp`, bitcasts and integer shifts for the exponent bits). No fast-math flags are set, so
//! LLVM neither contracts nor reorders them: generated code computes bit for bit what the
//! evaluator computes, and the loop vectoriser widens the branch-free sequence as it is.

use hg_kernel::fastmath::{self, Arith};
use hg_kernel::ir::UnaryOp;
use inkwell::FloatPredicate;
use inkwell::builder::{Builder, BuilderError};
use inkwell::context::Context;
use inkwell::intrinsics::Intrinsic;
use inkwell::module::Module;
use inkwell::values::{FloatValue, IntValue};

/// [`Arith`] as LLVM instructions on one lane: `F` an `f32`, `I` an `i32`, `M` an `i1`.
///
/// `Arith` cannot fail, so the first builder error is kept and reported by [`unary_f32`].
pub(crate) struct Scalar<'a, 'ctx> {
    pub(crate) cx: &'ctx Context,
    pub(crate) module: &'a Module<'ctx>,
    pub(crate) b: &'a Builder<'ctx>,
    pub(crate) error: Option<BuilderError>,
}

impl<'ctx> Scalar<'_, 'ctx> {
    fn float(&mut self, r: Result<FloatValue<'ctx>, BuilderError>) -> FloatValue<'ctx> {
        r.unwrap_or_else(|e| {
            self.error.get_or_insert(e);
            self.cx.f32_type().get_undef()
        })
    }

    fn int(&mut self, r: Result<IntValue<'ctx>, BuilderError>, bits: u32) -> IntValue<'ctx> {
        r.unwrap_or_else(|e| {
            self.error.get_or_insert(e);
            if bits == 1 { self.cx.bool_type().get_undef() } else { self.cx.i32_type().get_undef() }
        })
    }

    fn compare(&mut self, p: FloatPredicate, a: FloatValue<'ctx>, b: FloatValue<'ctx>) -> IntValue<'ctx> {
        let r = self.b.build_float_compare(p, a, b, "");
        self.int(r, 1)
    }

    /// `llvm.fma.f32(a, b, c)`.
    fn fused(
        &mut self,
        a: FloatValue<'ctx>,
        b: FloatValue<'ctx>,
        c: FloatValue<'ctx>,
    ) -> Result<FloatValue<'ctx>, BuilderError> {
        let f32_type = self.cx.f32_type();
        let decl = Intrinsic::find("llvm.fma")
            .and_then(|i| i.get_declaration(self.module, &[f32_type.into()]))
            .ok_or(BuilderError::UnsetPosition)?;
        let call = self.b.build_call(decl, &[a.into(), b.into(), c.into()], "")?;
        Ok(call.try_as_basic_value().basic().map_or_else(|| f32_type.get_undef(), |v| v.into_float_value()))
    }
}

impl<'ctx> Arith for Scalar<'_, 'ctx> {
    type F = FloatValue<'ctx>;
    type I = IntValue<'ctx>;
    type M = IntValue<'ctx>;

    fn f(&mut self, x: f32) -> Self::F {
        self.cx.f32_type().const_float(f64::from(x))
    }
    fn i(&mut self, x: i32) -> Self::I {
        self.cx.i32_type().const_int(x as i64 as u64, true)
    }
    fn add(&mut self, a: Self::F, b: Self::F) -> Self::F {
        let r = self.b.build_float_add(a, b, "");
        self.float(r)
    }
    fn sub(&mut self, a: Self::F, b: Self::F) -> Self::F {
        let r = self.b.build_float_sub(a, b, "");
        self.float(r)
    }
    fn mul(&mut self, a: Self::F, b: Self::F) -> Self::F {
        let r = self.b.build_float_mul(a, b, "");
        self.float(r)
    }
    fn div(&mut self, a: Self::F, b: Self::F) -> Self::F {
        let r = self.b.build_float_div(a, b, "");
        self.float(r)
    }
    fn fma(&mut self, a: Self::F, b: Self::F, c: Self::F) -> Self::F {
        let r = self.fused(a, b, c);
        self.float(r)
    }
    fn neg(&mut self, a: Self::F) -> Self::F {
        let r = self.b.build_float_neg(a, "");
        self.float(r)
    }
    fn abs(&mut self, a: Self::F) -> Self::F {
        // Clear the sign bit through the integer bits (what `llvm.fabs` lowers to).
        let bits = self.bitcast_i(a);
        let mask = self.i(i32::MAX);
        let cleared = self.and(bits, mask);
        self.bitcast_f(cleared)
    }
    fn lt(&mut self, a: Self::F, b: Self::F) -> Self::M {
        self.compare(FloatPredicate::OLT, a, b)
    }
    fn gt(&mut self, a: Self::F, b: Self::F) -> Self::M {
        self.compare(FloatPredicate::OGT, a, b)
    }
    fn ge(&mut self, a: Self::F, b: Self::F) -> Self::M {
        self.compare(FloatPredicate::OGE, a, b)
    }
    fn eq(&mut self, a: Self::F, b: Self::F) -> Self::M {
        self.compare(FloatPredicate::OEQ, a, b)
    }
    fn not_lt(&mut self, a: Self::F, b: Self::F) -> Self::M {
        self.compare(FloatPredicate::UGE, a, b)
    }
    fn select(&mut self, m: Self::M, a: Self::F, b: Self::F) -> Self::F {
        let r = self.b.build_select(m, a, b, "").map(|v| v.into_float_value());
        self.float(r)
    }
    fn bitcast_i(&mut self, a: Self::F) -> Self::I {
        let r = self.b.build_bit_cast(a, self.cx.i32_type(), "").map(|v| v.into_int_value());
        self.int(r, 32)
    }
    fn bitcast_f(&mut self, a: Self::I) -> Self::F {
        let r = self.b.build_bit_cast(a, self.cx.f32_type(), "").map(|v| v.into_float_value());
        self.float(r)
    }
    fn iadd(&mut self, a: Self::I, b: Self::I) -> Self::I {
        let r = self.b.build_int_add(a, b, "");
        self.int(r, 32)
    }
    fn isub(&mut self, a: Self::I, b: Self::I) -> Self::I {
        let r = self.b.build_int_sub(a, b, "");
        self.int(r, 32)
    }
    fn and(&mut self, a: Self::I, b: Self::I) -> Self::I {
        let r = self.b.build_and(a, b, "");
        self.int(r, 32)
    }
    fn or(&mut self, a: Self::I, b: Self::I) -> Self::I {
        let r = self.b.build_or(a, b, "");
        self.int(r, 32)
    }
    fn shl(&mut self, a: Self::I, n: u32) -> Self::I {
        let n = self.cx.i32_type().const_int(u64::from(n), false);
        let r = self.b.build_left_shift(a, n, "");
        self.int(r, 32)
    }
    fn sar(&mut self, a: Self::I, n: u32) -> Self::I {
        let n = self.cx.i32_type().const_int(u64::from(n), false);
        let r = self.b.build_right_shift(a, n, true, "");
        self.int(r, 32)
    }
    fn to_float(&mut self, a: Self::I) -> Self::F {
        let r = self.b.build_signed_int_to_float(a, self.cx.f32_type(), "");
        self.float(r)
    }
}

/// Whether `op` on f32 is emitted inline by this module.
pub(crate) fn inline(op: UnaryOp) -> bool {
    fastmath::approximates(op)
}

/// `op` on the f32 value `x`, if it is one of the inline functions.
pub(crate) fn unary_f32<'ctx>(
    cx: &'ctx Context,
    module: &Module<'ctx>,
    b: &Builder<'ctx>,
    op: UnaryOp,
    x: FloatValue<'ctx>,
) -> Result<Option<FloatValue<'ctx>>, BuilderError> {
    if !inline(op) {
        return Ok(None);
    }
    let mut lanes = Scalar { cx, module, b, error: None };
    let y = fastmath::unary(&mut lanes, op, x);
    match lanes.error {
        Some(e) => Err(e),
        None => Ok(y),
    }
}
