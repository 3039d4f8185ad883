//! Gradients of shape ops: each is the op's adjoint, built from shape ops.
//!
//! `reshape` reshapes back, `transpose` applies the inverse permutation, `broadcast_to` sums,
//! `concat` slices, `pad` slices, and `slice` pads with zeros. A strided slice (`step > 1`)
//! first interleaves zeros by padding a new axis of size `step` after each element and merging
//! it (`[n] -> [n, 1] -> [n, step] -> [n * step]`), then trims and pads to the operand's size,
//! so no scatter is needed. Slicing and padding need constant sizes along the axis involved;
//! a symbolic one is reported as unsupported, with the forward op's span.

use super::first;
use crate::autodiff::AutodiffError;
use crate::autodiff::emit::Emit;
use crate::autodiff::rules::{Grads, VjpArgs};
use hg_ir::{Dim, Op, ValueId};

type R = Result<Grads, AutodiffError>;

pub(crate) fn reshape(e: &mut Emit, a: &VjpArgs) -> R {
    let shape = e.shape(a.x(0));
    Ok(first(Some(e.reshape(a.g, shape)?)))
}

pub(crate) fn transpose(e: &mut Emit, a: &VjpArgs) -> R {
    let Op::Transpose { perm } = a.op else {
        return Err(e.error("transpose rule applied to another op"));
    };
    let mut inverse = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inverse[p] = i;
    }
    Ok(first(Some(e.transpose(a.g, inverse)?)))
}

pub(crate) fn broadcast_to(e: &mut Emit, a: &VjpArgs) -> R {
    let shape = e.shape(a.x(0));
    Ok(first(Some(e.sum_to(a.g, &shape)?)))
}

/// The constant size of `axis` of `v`, or an unsupported-op error.
fn const_size(e: &Emit, v: ValueId, axis: usize) -> Result<usize, AutodiffError> {
    e.shape(v)
        .get(axis)
        .and_then(Dim::as_const)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| e.unsupported(format!("axis {axis} of {} has no constant size", e.f.ty(v))))
}

fn slice(e: &mut Emit, v: ValueId, axis: usize, start: usize, end: usize) -> Result<ValueId, AutodiffError> {
    if start == 0 && end == const_size(e, v, axis)? {
        return Ok(v);
    }
    e.op(Op::Slice { axis, start, end, step: 1 }, &[v])
}

fn pad_axis(e: &mut Emit, v: ValueId, axis: usize, before: usize, after: usize) -> Result<ValueId, AutodiffError> {
    if before == 0 && after == 0 {
        return Ok(v);
    }
    let mut pads = vec![(0, 0); e.f.ty(v).rank()];
    pads[axis] = (before, after);
    e.op(Op::Pad { pads, value: 0.0 }, &[v])
}

/// Each operand gets the slice of the cotangent it occupied.
pub(crate) fn concat(e: &mut Emit, a: &VjpArgs) -> R {
    let &Op::Concat { axis } = a.op else {
        return Err(e.error("concat rule applied to another op"));
    };
    // Along the batch axis sizes are symbolic (`concat([x, x_hat], axis = 0)`, a critic judging
    // real and generated images with one network): with every part of one shape, the gradient
    // is [k * n, ...] viewed as [k, n, ...], and part i its row i.
    let first = e.shape(a.x(0));
    let symbolic = first.get(axis).is_some_and(|d| d.as_const().is_none());
    if symbolic && axis == 0 && a.operands.iter().all(|&x| e.shape(x) == first) {
        let k = a.operands.len();
        let mut parts = vec![Dim::from(k as i64)];
        parts.extend(first.iter().cloned());
        let rows = e.reshape(a.g, parts)?;
        let mut out = Vec::with_capacity(k);
        for i in 0..k {
            out.push(if a.needs[i] {
                let row = e.op(Op::Slice { axis: 0, start: i, end: i + 1, step: 1 }, &[rows])?;
                Some(e.reshape(row, first.clone())?)
            } else {
                None
            });
        }
        return Ok(out);
    }
    let mut offset = 0;
    let mut out = Vec::with_capacity(a.operands.len());
    for (i, &x) in a.operands.iter().enumerate() {
        let len = const_size(e, x, axis)?;
        out.push(if a.needs[i] { Some(slice(e, a.g, axis, offset, offset + len)?) } else { None });
        offset += len;
    }
    Ok(out)
}

/// Zeros everywhere the slice did not read.
pub(crate) fn slice_op(e: &mut Emit, a: &VjpArgs) -> R {
    let &Op::Slice { axis, start, step, .. } = a.op else {
        return Err(e.error("slice rule applied to another op"));
    };
    let x = a.x(0);
    let size = const_size(e, x, axis)?;
    let n = const_size(e, a.g, axis)?;
    let mut g = a.g;
    let mut covered = n;
    if step > 1 && n > 0 {
        // [.., n, ..] -> [.., n, 1, ..] -> [.., n, step, ..] (zeros after each element)
        // -> [.., n * step, ..], then drop the zeros past the operand's end.
        let mut shape = e.shape(g);
        shape.insert(axis + 1, Dim::constant(1));
        let expanded = e.reshape(g, shape)?;
        let spread = pad_axis(e, expanded, axis + 1, 0, step - 1)?;
        let mut merged = e.shape(g);
        merged[axis] = Dim::constant((n * step) as i64);
        let merged = e.reshape(spread, merged)?;
        covered = (n * step).min(size - start);
        g = slice(e, merged, axis, 0, covered)?;
    }
    Ok(first(Some(pad_axis(e, g, axis, start, size - start - covered)?)))
}

/// Slices the operand's region back out; the pad value gets no gradient.
pub(crate) fn pad(e: &mut Emit, a: &VjpArgs) -> R {
    let Op::Pad { pads, .. } = a.op else {
        return Err(e.error("pad rule applied to another op"));
    };
    let x = a.x(0);
    let mut g = a.g;
    for (axis, &(before, _)) in pads.iter().enumerate() {
        if pads[axis] == (0, 0) {
            continue;
        }
        let len = const_size(e, x, axis)?;
        g = slice(e, g, axis, before, before + len)?;
    }
    Ok(first(Some(g)))
}
