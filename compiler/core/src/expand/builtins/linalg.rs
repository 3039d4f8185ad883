//! Linear algebra, convolution and pooling: `matmul`, `conv2d`, `conv_transpose2d`,
//! `avg_pool2d`, `max_pool2d`.

use super::args::BoundArgs;
use crate::expand::ctx::{Ctx, EResult};
use crate::expand::eval::eval_binary;
use crate::expand::value::Value;
use hg_dsl::ast::{BinaryOp as AstBin, Span};
use hg_ir::{Op, PoolKind};

/// `MatMul`, exactly as the `@` operator (same coercions and messages).
pub(super) fn matmul(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let (x, y) = (a.req(ctx, 0, span)?, a.req(ctx, 1, span)?);
    eval_binary(ctx, AstBin::MatMul, (x.0.clone(), x.1), (y.0.clone(), y.1), span)
}

/// `Conv2d { stride, padding, groups }`.
pub(super) fn conv2d(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let (x, w) = (a.tensor(ctx, 0)?, a.tensor(ctx, 1)?);
    let stride = a.pair(ctx, 2, 1, "stride")?;
    let padding = a.pair(ctx, 3, 0, "padding")?;
    let groups = a.usize(ctx, 4, 1, "groups")?;
    Ok(Value::Tensor(ctx.add(Op::Conv2d { stride, padding, groups }, &[x, w], span)?))
}

/// `ConvTranspose2d { stride, padding, output_padding, groups }`.
pub(super) fn conv_transpose2d(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let (x, w) = (a.tensor(ctx, 0)?, a.tensor(ctx, 1)?);
    let stride = a.pair(ctx, 2, 1, "stride")?;
    let padding = a.pair(ctx, 3, 0, "padding")?;
    let output_padding = a.pair(ctx, 4, 0, "output_padding")?;
    let groups = a.usize(ctx, 5, 1, "groups")?;
    Ok(Value::Tensor(ctx.add(Op::ConvTranspose2d { stride, padding, output_padding, groups }, &[x, w], span)?))
}

/// `Pool2d { Avg }`.
pub(super) fn avg_pool2d(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    pool2d(ctx, PoolKind::Avg, a, span)
}

/// `Pool2d { Max }`.
pub(super) fn max_pool2d(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    pool2d(ctx, PoolKind::Max, a, span)
}

/// The stride defaults to the kernel (non-overlapping windows), which the front end's table
/// cannot write as a literal.
fn pool2d(ctx: &mut Ctx, kind: PoolKind, a: &BoundArgs, span: Span) -> EResult<Value> {
    let x = a.tensor(ctx, 0)?;
    let kernel = a.pair(ctx, 1, 1, "kernel")?;
    let stride = if a.given(2) { a.pair(ctx, 2, 1, "stride")? } else { kernel };
    let padding = a.pair(ctx, 3, 0, "padding")?;
    Ok(Value::Tensor(ctx.add(Op::Pool2d { kind, kernel, stride, padding }, &[x], span)?))
}
