//! Indexing built-ins: `one_hot`, `gather`, `scatter_add`, `embedding`, `topk`.

use super::args::BoundArgs;
use super::shape::reshape_to;
use crate::expand::ctx::{Ctx, EResult, Stop};
use crate::expand::error::{ExpandError, codes};
use crate::expand::value::Value;
use hg_dsl::ast::Span;
use hg_ir::{Dim, Op, TensorType};

/// `OneHot { n }`.
pub(super) fn one_hot(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let x = a.tensor(ctx, 0)?;
    let n = a.usize(ctx, 1, 0, "n")?;
    Ok(Value::Tensor(ctx.add(Op::OneHot { n }, &[x], span)?))
}

/// `Gather { axis }`.
pub(super) fn gather(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let (x, idx) = (a.tensor(ctx, 0)?, a.tensor(ctx, 1)?);
    let rank = ctx.ty(x).rank();
    let axis = a.axis(ctx, 2, 0, rank, span)?;
    Ok(Value::Tensor(ctx.add(Op::Gather { axis }, &[x, idx], span)?))
}

/// `ScatterAdd { axis }`.
pub(super) fn scatter_add(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let (x, idx, v) = (a.tensor(ctx, 0)?, a.tensor(ctx, 1)?, a.tensor(ctx, 2)?);
    let rank = ctx.ty(x).rank();
    let axis = a.axis(ctx, 3, 0, rank, span)?;
    Ok(Value::Tensor(ctx.add(Op::ScatterAdd { axis }, &[x, idx, v], span)?))
}

/// `embedding(table [V, D], idx int[...])` → `[..., D]`: the indices flattened and broadcast to
/// `[n, D]`, a `Gather` on axis 0, reshaped back.
pub(super) fn embedding(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let (table, idx) = (a.tensor(ctx, 0)?, a.tensor(ctx, 1)?);
    let tt = ctx.ty(table).clone();
    if tt.rank() != 2 {
        return Err(ctx.error(
            ExpandError::new(
                codes::TYPE_MISMATCH,
                span,
                format!("embedding: the table must be [rows, dim], found {tt}"),
            )
            .with_label(ctx.def_span(table), format!("this is {tt}")),
        ));
    }
    let it = ctx.ty(idx).clone();
    if !it.dtype.is_int() {
        return Err(ctx.error(
            ExpandError::new(codes::TYPE_MISMATCH, span, format!("embedding: indices must be integers, found {it}"))
                .with_label(ctx.def_span(idx), format!("this is {it}")),
        ));
    }
    let n = it.shape.iter().try_fold(Dim::constant(1), |acc, d| acc.checked_mul(d)).ok_or(Stop)?;
    let d = tt.shape[1].clone();
    let col = reshape_to(ctx, idx, vec![n.clone(), Dim::constant(1)], span)?;
    let wide = ctx.add_with_type(Op::BroadcastTo, &[col], TensorType::new(it.dtype, vec![n, d.clone()]), span)?;
    let rows = ctx.add(Op::Gather { axis: 0 }, &[table, wide], span)?;
    let mut shape = it.shape.clone();
    shape.push(d);
    Ok(Value::Tensor(reshape_to(ctx, rows, shape, span)?))
}

/// `TopKIndices { k, axis }`, then a `Gather` of the values: the record `{values, indices}`.
pub(super) fn topk(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let x = a.tensor(ctx, 0)?;
    let rank = ctx.ty(x).rank();
    let axis = a.axis(ctx, 2, -1, rank, span)?;
    let k = a.usize(ctx, 1, 0, "k")?;
    let indices = ctx.add(Op::TopKIndices { k, axis }, &[x], span)?;
    let values = ctx.add(Op::Gather { axis }, &[x, indices], span)?;
    Ok(Value::Record(vec![("values".into(), Value::Tensor(values)), ("indices".into(), Value::Tensor(indices))]))
}
