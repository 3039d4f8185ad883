//! Reductions: `sum`, `mean`, `max`, `min` over an axis or a list of axes, and `argmax`/`argmin`
//! along one axis.

use super::args::{BoundArgs, axis_list, normalize_axis};
use crate::expand::ctx::{Ctx, EResult};
use crate::expand::error::{ExpandError, codes};
use crate::expand::value::Value;
use hg_dsl::ast::Span;
use hg_ir::{Op, ReduceOp};

/// `Reduce { Sum }`.
pub(super) fn sum(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    reduce(ctx, ReduceOp::Sum, a, span)
}

/// `Reduce { Mean }`.
pub(super) fn mean(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    reduce(ctx, ReduceOp::Mean, a, span)
}

/// `Reduce { Max }`.
pub(super) fn max(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    reduce(ctx, ReduceOp::Max, a, span)
}

/// `Reduce { Min }`.
pub(super) fn min(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    reduce(ctx, ReduceOp::Min, a, span)
}

/// `ArgReduce { max: true }`.
pub(super) fn argmax(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    arg_reduce(ctx, true, a, span)
}

/// `ArgReduce { max: false }`.
pub(super) fn argmin(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    arg_reduce(ctx, false, a, span)
}

/// One `Reduce` node over the given axes (sorted, without repeats), or over all of them when
/// `axis` is left out.
fn reduce(ctx: &mut Ctx, op: ReduceOp, a: &BoundArgs, span: Span) -> EResult<Value> {
    let x = a.tensor(ctx, 0)?;
    let rank = ctx.ty(x).rank();
    let axes: Vec<usize> = match a.slot(1) {
        None => (0..rank).collect(),
        Some((Value::Int(ax), s)) => vec![normalize_axis(ctx, *ax, rank, *s)?],
        Some((Value::List(items) | Value::Tuple(items), s)) => {
            let mut out = axis_list(ctx, items, rank, *s, "axes")?;
            out.sort();
            out.dedup();
            out
        }
        Some((v, s)) => {
            return Err(ctx.error(ExpandError::new(
                codes::WRONG_KIND,
                *s,
                format!("axis must be an int or a list of ints, found {}", v.kind()),
            )));
        }
    };
    let keepdims = a.boolean(ctx, 2, false)?;
    Ok(Value::Tensor(ctx.add(Op::Reduce { op, axes, keepdims }, &[x], span)?))
}

fn arg_reduce(ctx: &mut Ctx, max: bool, a: &BoundArgs, span: Span) -> EResult<Value> {
    let x = a.tensor(ctx, 0)?;
    let rank = ctx.ty(x).rank();
    let axis = a.axis(ctx, 1, -1, rank, span)?;
    let keepdims = a.boolean(ctx, 2, false)?;
    Ok(Value::Tensor(ctx.add(Op::ArgReduce { max, axis, keepdims }, &[x], span)?))
}
