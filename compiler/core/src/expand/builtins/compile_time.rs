//! Built-ins that fold to compile-time values and emit no IR: `shape`, `dim`, `len`, `range`,
//! `enumerate`.

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

/// The most items `range` makes: every item is unrolled into the graph by `for`.
pub(crate) const MAX_RANGE: i64 = 1 << 20;

/// No node: the ints `0..n`.
pub(super) fn range(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    match a.req(ctx, 0, span)? {
        (Value::Int(n), vs) => {
            let n = *n;
            if n < 0 {
                return Err(ctx.error(
                    ExpandError::new(codes::BAD_ARGUMENT, vs, format!("`range` needs a non-negative int, found {n}"))
                        .label_primary("negative"),
                ));
            }
            if n > MAX_RANGE {
                return Err(ctx.error(ExpandError::new(
                    codes::BAD_ARGUMENT,
                    vs,
                    format!("`range({n})` is too long: a compile-time list holds at most {MAX_RANGE} items"),
                )));
            }
            Ok(Value::List((0..n).map(Value::Int).collect()))
        }
        (v, vs) => {
            let mut e = ExpandError::new(
                codes::WRONG_KIND,
                vs,
                format!("`range` needs a compile-time int, found {}", v.kind()),
            );
            if matches!(v, Value::Dim(_)) {
                e = e.with_help("the batch size is known only at run time; loop over a fixed count");
            }
            Err(ctx.error(e))
        }
    }
}

/// No node: `(index, item)` tuples of a list or tuple.
pub(super) fn enumerate(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    match a.req(ctx, 0, span)? {
        (Value::List(items) | Value::Tuple(items), _) => Ok(Value::List(
            items.iter().enumerate().map(|(i, v)| Value::Tuple(vec![Value::Int(i as i64), v.clone()])).collect(),
        )),
        (v, vs) => Err(ctx.error(ExpandError::new(
            codes::WRONG_KIND,
            vs,
            format!("`enumerate` expects a list or tuple, found {}", v.kind()),
        ))),
    }
}
