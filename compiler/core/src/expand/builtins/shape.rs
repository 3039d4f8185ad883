//! Shape built-ins: `reshape`, `flatten`, `transpose`, `broadcast_to`, `concat`, `stack`,
//! `split`, `slice`, `pad`. Most are one IR node; `flatten` and `stack` are reshapes (plus a
//! concat), `split` is one slice per part.

use super::args::{BoundArgs, axis_list, fixed_axis_len, pair};
use crate::expand::ctx::{Ctx, EResult, Stop};
use crate::expand::error::{ExpandError, codes};
use crate::expand::eval::{as_tensor, dim_of};
use crate::expand::value::Value;
use hg_dsl::ast::Span;
use hg_ir::{DType, Dim, Op, TensorType, ValueId};

/// A `Reshape` to `shape`, or no node when `x` already has it.
pub(crate) fn reshape_to(ctx: &mut Ctx, x: ValueId, shape: Vec<Dim>, span: Span) -> EResult<ValueId> {
    if ctx.ty(x).shape == shape {
        return Ok(x);
    }
    let ty = TensorType::new(ctx.ty(x).dtype, shape);
    ctx.add_with_type(Op::Reshape, &[x], ty, span)
}

fn elements(shape: &[Dim]) -> EResult<Dim> {
    shape.iter().try_fold(Dim::constant(1), |acc, d| acc.checked_mul(d)).ok_or(Stop)
}

/// `Reshape` to the given shape, one `-1` entry standing for what the others leave.
pub(super) fn reshape(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let x = a.tensor(ctx, 0)?;
    let (sv, sspan) = a.req(ctx, 1, span)?;
    let dims = reshape_dims(ctx, sv, sspan)?;
    let total = elements(&ctx.ty(x).shape)?;
    let known = dims.iter().flatten().try_fold(Dim::constant(1), |acc, d| acc.checked_mul(d)).ok_or(Stop)?;
    let shape: Vec<Dim> = if dims.iter().any(|d| d.is_none()) {
        let Some(rest) = total.div_exact(&known) else {
            let xt = ctx.ty(x).to_string();
            let e = ExpandError::new(
                codes::RESHAPE_SIZE,
                sspan,
                format!("cannot reshape {xt}: {total} elements are not a multiple of {known}"),
            )
            .with_label(ctx.def_span(x), format!("this is {xt}"));
            let e = ctx.explain_rank(e, &[x]);
            return Err(ctx.error(e));
        };
        dims.into_iter().map(|d| d.unwrap_or_else(|| rest.clone())).collect()
    } else {
        dims.into_iter().flatten().collect()
    };
    let new_total = elements(&shape)?;
    if new_total != total {
        let xt = ctx.ty(x).to_string();
        let e = ExpandError::new(
            codes::RESHAPE_SIZE,
            span,
            format!("cannot reshape {xt} ({total} elements) to {new_total} elements"),
        )
        .with_label(ctx.def_span(x), format!("this is {xt}"));
        let e = ctx.explain_rank(e, &[x]);
        return Err(ctx.error(e));
    }
    Ok(Value::Tensor(reshape_to(ctx, x, shape, span)?))
}

/// The entries of a reshape's shape list, `None` for the one `-1`.
fn reshape_dims(ctx: &mut Ctx, sv: &Value, sspan: Span) -> EResult<Vec<Option<Dim>>> {
    let items = match sv {
        Value::List(items) | Value::Tuple(items) => items,
        other => {
            return Err(ctx.error(ExpandError::new(
                codes::WRONG_KIND,
                sspan,
                format!("expected a shape list, found {}", other.kind()),
            )));
        }
    };
    let mut dims: Vec<Option<Dim>> = Vec::new();
    for it in items {
        match it {
            Value::Int(-1) => dims.push(None),
            other => dims.push(Some(dim_of(ctx, other, sspan)?)),
        }
    }
    if dims.iter().filter(|d| d.is_none()).count() > 1 {
        return Err(ctx.error(ExpandError::new(
            codes::RESHAPE_SIZE,
            sspan,
            "at most one dimension of a reshape may be -1",
        )));
    }
    Ok(dims)
}

/// `Reshape` merging the axes from `start` on.
pub(super) fn flatten(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let x = a.tensor(ctx, 0)?;
    let t = ctx.ty(x).clone();
    let start = a.axis(ctx, 1, 1, t.rank().max(1), span)?;
    let rest = elements(&t.shape[start..])?;
    let mut shape = t.shape[..start].to_vec();
    shape.push(rest);
    Ok(Value::Tensor(reshape_to(ctx, x, shape, span)?))
}

/// `Transpose { perm }`, the axes reversed when `perm` is left out.
pub(super) fn transpose(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let x = a.tensor(ctx, 0)?;
    let rank = ctx.ty(x).rank();
    let perm: Vec<usize> = match a.slot(1) {
        None => (0..rank).rev().collect(),
        Some((Value::List(items) | Value::Tuple(items), ps)) => axis_list(ctx, items, rank, *ps, "perm entries")?,
        Some((v, ps)) => {
            return Err(ctx.error(ExpandError::new(
                codes::WRONG_KIND,
                *ps,
                format!("perm must be a list of ints, found {}", v.kind()),
            )));
        }
    };
    Ok(Value::Tensor(ctx.add(Op::Transpose { perm }, &[x], span)?))
}

/// `BroadcastTo` of a tensor, or of a number made an f32 constant.
pub(super) fn broadcast_to(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let (v, vs) = a.req(ctx, 0, span)?;
    let shape = a.shape(ctx, 1)?;
    let dtype = match v {
        Value::Tensor(t) => ctx.ty(*t).dtype,
        _ => DType::F32,
    };
    let x = as_tensor(ctx, v, dtype, vs)?;
    let ty = TensorType::new(dtype, shape);
    Ok(Value::Tensor(ctx.add_with_type(Op::BroadcastTo, &[x], ty, span)?))
}

/// `Concat { axis }`, or the tensor itself for a list of one.
pub(super) fn concat(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let xs = a.tensors(ctx, 0)?;
    let rank = ctx.ty(xs[0]).rank();
    let axis = a.axis(ctx, 1, 0, rank, span)?;
    if xs.len() == 1 {
        return Ok(Value::Tensor(xs[0]));
    }
    Ok(Value::Tensor(ctx.add(Op::Concat { axis }, &xs, span)?))
}

/// A `Reshape` inserting the new axis into each tensor, then `Concat` along it.
pub(super) fn stack(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let xs = a.tensors(ctx, 0)?;
    let rank = ctx.ty(xs[0]).rank();
    let axis = a.axis(ctx, 1, 0, rank + 1, span)?;
    let mut expanded = Vec::with_capacity(xs.len());
    for x in xs {
        let mut shape = ctx.ty(x).shape.clone();
        shape.insert(axis, Dim::constant(1));
        expanded.push(reshape_to(ctx, x, shape, span)?);
    }
    if expanded.len() == 1 {
        return Ok(Value::Tensor(expanded[0]));
    }
    Ok(Value::Tensor(ctx.add(Op::Concat { axis }, &expanded, span)?))
}

/// A tuple of `Slice` nodes, one per part.
pub(super) fn split(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let x = a.tensor(ctx, 0)?;
    let rank = ctx.ty(x).rank();
    let axis = a.axis(ctx, 2, -1, rank, span)?;
    let len = fixed_axis_len(ctx, x, axis, "split", span)?;
    let (pv, ps) = a.req(ctx, 1, span)?;
    let sizes = split_sizes(ctx, pv, ps, len)?;
    let mut parts = Vec::new();
    let mut start = 0usize;
    for n in sizes {
        let end = start + n as usize;
        parts.push(Value::Tensor(ctx.add(Op::Slice { axis, start, end, step: 1 }, &[x], span)?));
        start = end;
    }
    Ok(Value::Tuple(parts))
}

/// The sizes of the parts: `n` equal ones, or the list given, which must add up to `len`.
fn split_sizes(ctx: &mut Ctx, pv: &Value, ps: Span, len: i64) -> EResult<Vec<i64>> {
    match pv {
        Value::Int(n) if *n > 0 && len % n == 0 => Ok(vec![len / n; *n as usize]),
        Value::Int(n) => Err(ctx.error(ExpandError::new(
            codes::BAD_ARGUMENT,
            ps,
            format!("cannot split an axis of size {len} into {n} equal parts"),
        ))),
        Value::List(items) => {
            let mut out = Vec::new();
            for it in items {
                match it {
                    Value::Int(n) if *n >= 0 => out.push(*n),
                    _ => {
                        return Err(ctx.error(ExpandError::new(
                            codes::BAD_ARGUMENT,
                            ps,
                            "split sizes must be non-negative ints",
                        )));
                    }
                }
            }
            if out.iter().sum::<i64>() != len {
                return Err(ctx.error(ExpandError::new(
                    codes::BAD_ARGUMENT,
                    ps,
                    format!("split sizes add up to {}, but the axis has size {len}", out.iter().sum::<i64>()),
                )));
            }
            Ok(out)
        }
        other => Err(ctx.error(ExpandError::new(
            codes::WRONG_KIND,
            ps,
            format!("expected a number of parts or a list of sizes, found {}", other.kind()),
        ))),
    }
}

/// `Slice { axis, start, end, step }`, the bounds clamped like Python's.
pub(super) fn slice(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let x = a.tensor(ctx, 0)?;
    let rank = ctx.ty(x).rank();
    let axis = a.axis(ctx, 3, -1, rank, span)?;
    let len = fixed_axis_len(ctx, x, axis, "slice", span)?;
    let (start, end, st) = (a.int(ctx, 1, 0)?, a.int(ctx, 2, len)?, a.int(ctx, 4, 1)?);
    let clamp = |i: i64| if i < 0 { (i + len).max(0) } else { i.min(len) };
    let (lo, hi) = (clamp(start), clamp(end).max(clamp(start)));
    if st <= 0 {
        return Err(ctx.error(ExpandError::new(codes::INDEX_RANGE, span, "slice step must be positive")));
    }
    if lo == hi {
        return Err(ctx.error(ExpandError::new(
            codes::INDEX_RANGE,
            span,
            format!("slice {start}:{end} of an axis of size {len} is empty"),
        )));
    }
    Ok(Value::Tensor(ctx.add(
        Op::Slice { axis, start: lo as usize, end: hi as usize, step: st as usize },
        &[x],
        span,
    )?))
}

/// `Pad { pads, value }`, the pairs applying to the last axes.
pub(super) fn pad(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let x = a.tensor(ctx, 0)?;
    let rank = ctx.ty(x).rank();
    let (pv, ps) = a.req(ctx, 1, span)?;
    let items = match pv {
        Value::List(items) | Value::Tuple(items) => items,
        other => {
            return Err(ctx.error(ExpandError::new(
                codes::WRONG_KIND,
                ps,
                format!("pads must be a list of [before, after] pairs, found {}", other.kind()),
            )));
        }
    };
    if items.len() > rank {
        return Err(ctx.error(ExpandError::new(
            codes::BAD_ARGUMENT,
            ps,
            format!("{} pad pairs for a tensor of rank {rank}", items.len()),
        )));
    }
    let mut pads = vec![(0usize, 0usize); rank];
    let first = rank - items.len();
    for (i, it) in items.iter().enumerate() {
        let p = pair(ctx, &Some((it.clone(), ps)), 0, "padding")?;
        pads[first + i] = (p[0], p[1]);
    }
    let value = if a.given(2) { a.number(ctx, 2, span)? } else { 0.0 };
    Ok(Value::Tensor(ctx.add(Op::Pad { pads, value }, &[x], span)?))
}
