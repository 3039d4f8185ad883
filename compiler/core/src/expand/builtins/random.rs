//! Random tensors: `normal`, `uniform`, `bernoulli`. Each call is its own site, so two calls
//! draw different numbers from the same seed and step.

use super::args::BoundArgs;
use crate::expand::ctx::{Ctx, EResult};
use crate::expand::error::{ExpandError, codes};
use crate::expand::eval::as_tensor;
use crate::expand::value::Value;
use hg_dsl::ast::Span;
use hg_ir::{BinaryOp, DType, Dim, Op, TensorType, ValueId};

/// `RandomNormal`, then a `Mul` by `std` and an `Add` of `mean` unless they are 1 and 0.
pub(super) fn normal(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let shape = a.shape(ctx, 0)?;
    let mean = if a.given(1) { a.number(ctx, 1, span)? } else { 0.0 };
    let std = if a.given(2) { a.number(ctx, 2, span)? } else { 1.0 };
    let site = ctx.fresh_site();
    let mut z = random(ctx, Op::RandomNormal { site }, shape, span)?;
    if std != 1.0 {
        let c = as_tensor(ctx, &Value::Float(std), DType::F32, span)?;
        z = ctx.add(Op::Binary(BinaryOp::Mul), &[z, c], span)?;
    }
    if mean != 0.0 {
        let c = as_tensor(ctx, &Value::Float(mean), DType::F32, span)?;
        z = ctx.add(Op::Binary(BinaryOp::Add), &[z, c], span)?;
    }
    Ok(Value::Tensor(z))
}

/// `RandomUniform { lo, hi }`.
pub(super) fn uniform(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let shape = a.shape(ctx, 0)?;
    let lo = if a.given(1) { a.number(ctx, 1, span)? } else { 0.0 };
    let hi = if a.given(2) { a.number(ctx, 2, span)? } else { 1.0 };
    let site = ctx.fresh_site();
    Ok(Value::Tensor(random(ctx, Op::RandomUniform { site, lo, hi }, shape, span)?))
}

/// `Bernoulli { p }`, with `p` checked to be a probability.
pub(super) fn bernoulli(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let shape = a.shape(ctx, 0)?;
    let p = a.number(ctx, 1, span)?;
    if !(0.0..=1.0).contains(&p) {
        return Err(ctx.error(ExpandError::new(
            codes::BAD_ARGUMENT,
            span,
            format!("bernoulli probability must be in [0, 1], found {p}"),
        )));
    }
    let site = ctx.fresh_site();
    Ok(Value::Tensor(random(ctx, Op::Bernoulli { site, p }, shape, span)?))
}

/// A random draw of f32 `shape`, keyed by the entry's seed and step (see [`Ctx::random_operands`]).
fn random(ctx: &mut Ctx, op: Op, shape: Vec<Dim>, span: Span) -> EResult<ValueId> {
    let ty = TensorType::new(DType::F32, shape);
    let operands = ctx.random_operands(&ty, span)?;
    ctx.add_with_type(op, &operands, ty, span)
}

/// `train_step()`: the entry's `step` input (the optimizer steps taken before this one in the
/// train step, 0 in other entries) as an f32 scalar, to start a loss term late.
pub(super) fn train_step(ctx: &mut Ctx, _a: &BoundArgs, span: Span) -> EResult<Value> {
    let step = ctx.runtime_scalar(hg_abi::names::STEP);
    Ok(Value::Tensor(ctx.add(Op::Cast { to: DType::F32 }, &[step], span)?))
}
