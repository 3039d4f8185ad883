//! Constant tensors: `zeros`, `ones`, `full`.

use super::args::BoundArgs;
use crate::expand::ctx::{Ctx, EResult};
use crate::expand::value::Value;
use hg_dsl::ast::Span;
use hg_ir::{DType, Op, TensorType};

/// `Full { value: 0 }`.
pub(super) fn zeros(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    filled(ctx, a, 0.0, span)
}

/// `Full { value: 1 }`.
pub(super) fn ones(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    filled(ctx, a, 1.0, span)
}

/// `Full { value }`.
pub(super) fn full(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let shape = a.shape(ctx, 0)?;
    let value = a.number(ctx, 1, span)?;
    let dtype = a.dtype(ctx, 2, DType::F32)?;
    Ok(Value::Tensor(ctx.add_with_type(Op::Full { value }, &[], TensorType::new(dtype, shape), span)?))
}

/// `zeros`/`ones(shape, dtype)`.
fn filled(ctx: &mut Ctx, a: &BoundArgs, value: f64, span: Span) -> EResult<Value> {
    let shape = a.shape(ctx, 0)?;
    let dtype = a.dtype(ctx, 1, DType::F32)?;
    Ok(Value::Tensor(ctx.add_with_type(Op::Full { value }, &[], TensorType::new(dtype, shape), span)?))
}
