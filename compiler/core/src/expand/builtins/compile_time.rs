//! Built-ins that fold to compile-time values and emit no IR: `shape`, `dim`, `len`.

use super::args::BoundArgs;
use crate::expand::ctx::{Ctx, EResult};
use crate::expand::error::{ExpandError, codes};
use crate::expand::value::Value;
use hg_dsl::ast::Span;

/// No node: the shape of `x` as a list (ints, and dimensions for the batch).
pub(super) fn shape(ctx: &mut Ctx, a: &BoundArgs, _span: Span) -> EResult<Value> {
    let x = a.tensor(ctx, 0)?;
    Ok(Value::List(ctx.ty(x).shape.iter().cloned().map(Value::from_dim).collect()))
}

/// No node: one size of `x`.
pub(super) fn dim(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let x = a.tensor(ctx, 0)?;
    let rank = ctx.ty(x).rank();
    let axis = a.axis(ctx, 1, 0, rank, span)?;
    Ok(Value::from_dim(ctx.ty(x).shape[axis].clone()))
}

/// No node: the number of items of a list or tuple.
pub(super) fn len(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    match a.req(ctx, 0, span)? {
        (Value::List(items) | Value::Tuple(items), _) => Ok(Value::Int(items.len() as i64)),
        (v, vs) => {
            Err(ctx.error(ExpandError::new(codes::WRONG_KIND, vs, format!("`len` expects a list, found {}", v.kind()))))
        }
    }
}
