//! `x[...]` on lists and tensors: integer indices, Python-style slices and `...`.
//!
//! On a tensor this emits `Slice` nodes (and one `Reshape` dropping the indexed axes); on a
//! compile-time list it folds. Indexing with a tensor is the built-in `gather`, not this.

use super::builtins::{label_operand, reshape_to};
use super::ctx::{Ctx, EResult};
use super::error::{ExpandError, codes};
use super::eval::eval_expr;
use super::value::Value;
use hg_dsl::ast::{Expr, IndexItem, Span};
use hg_ir::{Dim, Op, ValueId};

fn normalize_index(ctx: &mut Ctx, i: i64, len: i64, span: Span) -> EResult<i64> {
    let j = if i < 0 { i + len } else { i };
    if j < 0 || j >= len {
        return Err(ctx.error(ExpandError::new(
            codes::INDEX_RANGE,
            span,
            format!("index {i} is out of range for length {len}"),
        )));
    }
    Ok(j)
}

/// `v[...]`: an item or a sub-list of a compile-time list, or slices of a tensor.
pub fn eval_index(ctx: &mut Ctx, v: Value, base_span: Span, indices: &[IndexItem], span: Span) -> EResult<Value> {
    match v {
        Value::List(items) | Value::Tuple(items) => index_list(ctx, items, indices, span),
        Value::Tensor(t) => {
            let errors_before = ctx.errors.len();
            let r = index_tensor(ctx, t, base_span, indices, span);
            label_operand(ctx, errors_before, t, base_span);
            r
        }
        other => Err(ctx.error(
            ExpandError::new(codes::WRONG_KIND, span, format!("cannot index {}", other.kind()))
                .with_label(base_span, "this value"),
        )),
    }
}

/// One index or slice of a compile-time list, folded.
fn index_list(ctx: &mut Ctx, items: Vec<Value>, indices: &[IndexItem], span: Span) -> EResult<Value> {
    if indices.len() != 1 {
        return Err(ctx.error(ExpandError::new(codes::INDEX_RANGE, span, "lists take exactly one index or slice")));
    }
    let len = items.len() as i64;
    match &indices[0] {
        IndexItem::Index(e) => {
            let i = match eval_expr(ctx, e)? {
                Value::Int(i) => i,
                other => {
                    return Err(ctx.error(ExpandError::new(
                        codes::WRONG_KIND,
                        e.span,
                        format!("list index must be an int, found {}", other.kind()),
                    )));
                }
            };
            let j = normalize_index(ctx, i, len, e.span)?;
            Ok(items[j as usize].clone())
        }
        IndexItem::Slice { start, end, step, span: sspan } => {
            let (s, e, st) = slice_bounds(ctx, start, end, step, len, *sspan)?;
            Ok(Value::List(
                items.into_iter().skip(s as usize).take((e - s).max(0) as usize).step_by(st as usize).collect(),
            ))
        }
        IndexItem::Ellipsis(s) => Err(ctx.error(ExpandError::new(codes::INDEX_RANGE, *s, "`...` cannot index a list"))),
    }
}

/// Evaluates `start:end:step` for an axis of constant length, clamping like Python.
fn slice_bounds(
    ctx: &mut Ctx,
    start: &Option<Expr>,
    end: &Option<Expr>,
    step: &Option<Expr>,
    len: i64,
    span: Span,
) -> EResult<(i64, i64, i64)> {
    let int_of = |ctx: &mut Ctx, e: &Option<Expr>| -> EResult<Option<i64>> {
        match e {
            None => Ok(None),
            Some(e) => match eval_expr(ctx, e)? {
                Value::Int(i) => Ok(Some(i)),
                other => Err(ctx.error(ExpandError::new(
                    codes::WRONG_KIND,
                    e.span,
                    format!("slice bounds must be ints, found {}", other.kind()),
                ))),
            },
        }
    };
    let st = int_of(ctx, step)?.unwrap_or(1);
    if st <= 0 {
        return Err(ctx.error(ExpandError::new(codes::INDEX_RANGE, span, "slice step must be positive")));
    }
    let clamp = |i: i64| if i < 0 { (i + len).max(0) } else { i.min(len) };
    let s = int_of(ctx, start)?.map(clamp).unwrap_or(0);
    let e = int_of(ctx, end)?.map(clamp).unwrap_or(len);
    Ok((s, e.max(s), st))
}

/// `x[...]`: integer indices drop an axis, slices keep it, `...` stands for the axes not named.
fn index_tensor(ctx: &mut Ctx, x: ValueId, base_span: Span, items: &[IndexItem], span: Span) -> EResult<Value> {
    let rank = ctx.ty(x).rank();
    let n_ellipsis = items.iter().filter(|i| matches!(i, IndexItem::Ellipsis(_))).count();
    if n_ellipsis > 1 {
        return Err(ctx.error(ExpandError::new(codes::INDEX_RANGE, span, "at most one `...` per index")));
    }
    let named = items.len() - n_ellipsis;
    if named > rank {
        let t = ctx.ty(x).to_string();
        return Err(ctx.error(
            ExpandError::new(codes::INDEX_RANGE, span, format!("{named} indices for a tensor of rank {rank}"))
                .with_label(base_span, format!("this is {t}")),
        ));
    }
    let mut axis = 0usize;
    let mut cur = x;
    let mut drop_axes = Vec::new();
    for item in items {
        match item {
            IndexItem::Ellipsis(_) => axis += rank - named,
            IndexItem::Index(e) => {
                cur = index_axis(ctx, cur, axis, e, span)?;
                drop_axes.push(axis);
                axis += 1;
            }
            IndexItem::Slice { start, end, step, span: sspan } => {
                if start.is_some() || end.is_some() || step.is_some() {
                    cur = slice_axis(ctx, cur, axis, (start, end, step), *sspan, span)?;
                }
                axis += 1;
            }
        }
    }
    if !drop_axes.is_empty() {
        let shape: Vec<Dim> = ctx
            .ty(cur)
            .shape
            .iter()
            .enumerate()
            .filter(|(i, _)| !drop_axes.contains(i))
            .map(|(_, d)| d.clone())
            .collect();
        cur = reshape_to(ctx, cur, shape, span)?;
    }
    Ok(Value::Tensor(cur))
}

/// `x[..., i, ...]`: a `Slice` of length 1 on `axis` (the caller drops the axis afterwards).
fn index_axis(ctx: &mut Ctx, x: ValueId, axis: usize, e: &Expr, span: Span) -> EResult<ValueId> {
    let i = match eval_expr(ctx, e)? {
        Value::Int(i) => i,
        other => {
            return Err(ctx.error(
                ExpandError::new(
                    codes::WRONG_KIND,
                    e.span,
                    format!("tensor indices must be compile-time ints, found {}", other.kind()),
                )
                .with_help("use `gather` to index with a tensor"),
            ));
        }
    };
    let Some(len) = ctx.ty(x).shape[axis].as_const() else {
        return Err(ctx.error(ExpandError::new(
            codes::INDEX_RANGE,
            e.span,
            "cannot index the batch axis with a constant",
        )));
    };
    let j = if i < 0 { i + len } else { i };
    if j < 0 || j >= len {
        return Err(ctx.error(ExpandError::new(
            codes::INDEX_RANGE,
            e.span,
            format!("index {i} is out of range for an axis of size {len}"),
        )));
    }
    ctx.add(Op::Slice { axis, start: j as usize, end: j as usize + 1, step: 1 }, &[x], span)
}

/// `x[..., a:b:s, ...]`: a `Slice` on `axis`, or no node when it keeps the whole axis.
fn slice_axis(
    ctx: &mut Ctx,
    x: ValueId,
    axis: usize,
    (start, end, step): (&Option<Expr>, &Option<Expr>, &Option<Expr>),
    sspan: Span,
    span: Span,
) -> EResult<ValueId> {
    let Some(len) = ctx.ty(x).shape[axis].as_const() else {
        return Err(ctx.error(ExpandError::new(codes::INDEX_RANGE, sspan, "cannot slice the batch axis")));
    };
    let (a, b, st) = slice_bounds(ctx, start, end, step, len, sspan)?;
    if a == b {
        return Err(ctx.error(ExpandError::new(
            codes::INDEX_RANGE,
            sspan,
            format!("this slice of an axis of size {len} is empty"),
        )));
    }
    if a == 0 && b == len && st == 1 {
        return Ok(x);
    }
    ctx.add(Op::Slice { axis, start: a as usize, end: b as usize, step: st as usize }, &[x], span)
}
