//! Top-k and arg-max/min along the middle axis of `[outer, axis, inner]`, one work item per
//! `(outer, inner)` row, in the CPU library's order: larger first, NaN above every number, ties
//! to the lower index; arg-max/min take the first extreme, or the first NaN.

use hg_abi::plan::LibCall;

use crate::CodegenError;
use crate::kernel::Emitter;

/// Work item `i` (row `o = i / inner`, column `i mod inner`) of a selection call: args (x, y).
pub(super) fn item(e: &mut Emitter, call: &LibCall, i: &str) -> Result<(), CodegenError> {
    let (axis, inner) = match *call {
        LibCall::TopK { axis, inner, .. } | LibCall::ArgReduce { axis, inner, .. } => (axis, inner),
        _ => return Err(e.unsupported("is not a selection".into())),
    };
    let ty = e.memory(0)?;
    if ty == "i8" {
        return Err(e.unsupported("ranks f32 or i64 values, not booleans".into()));
    }
    let (axis, inner) = (e.size(axis), e.size(inner));
    let o = e.div(i, &inner);
    let ii = e.rem(i, &inner);
    let oa = e.mul(&o, &axis);
    let base = e.mul(&oa, &inner);
    let base = e.add(&base, &ii);
    match *call {
        LibCall::TopK { k, .. } => top_k(e, ty, k, &axis, &inner, &base, &o, &ii),
        LibCall::ArgReduce { max, .. } => arg_reduce(e, ty, max, &axis, &inner, &base, i),
        _ => Err(e.unsupported("is not a selection".into())),
    }
}

/// Whether `v` is NaN (never, for integers).
fn is_nan(e: &mut Emitter, ty: &str, v: &str) -> String {
    if ty == "f32" { e.op(format!("arith.cmpf uno, {v}, {v} : f32")) } else { e.bool_const(false) }
}

/// Whether `a` ranks strictly above `b`: larger, or NaN over a number.
fn above(e: &mut Emitter, ty: &str, a: &str, b: &str) -> String {
    if ty != "f32" {
        return e.op(format!("arith.cmpi sgt, {a}, {b} : i64"));
    }
    let larger = e.op(format!("arith.cmpf ogt, {a}, {b} : f32"));
    let a_nan = is_nan(e, ty, a);
    let b_nan = is_nan(e, ty, b);
    let b_number = e.not(&b_nan);
    let nan_over = e.arith("andi", &a_nan, &b_number, "i1");
    e.arith("ori", &larger, &nan_over, "i1")
}

/// The element `j` of the row at `base` with stride `inner`.
fn element(e: &mut Emitter, base: &str, inner: &str, j: &str) -> Result<String, CodegenError> {
    let at = e.mul(j, inner);
    let at = e.add(base, &at);
    e.load(0, &at)
}

/// The `k` best of the row kept sorted in two private arrays (values, indices): an element
/// that ranks above the k-th best (or any, while fewer than k are kept) is inserted by shifting
/// the worse ones right, so most elements cost one comparison. Equal values keep index order,
/// since a later element never ranks above an equal one.
#[allow(clippy::too_many_arguments)]
fn top_k(
    e: &mut Emitter,
    ty: &'static str,
    k: usize,
    axis: &str,
    inner: &str,
    base: &str,
    o: &str,
    ii: &str,
) -> Result<(), CodegenError> {
    if k == 0 {
        return Ok(());
    }
    // Private arrays at the top of the function, not inside the loop over work items.
    let (values, indices) = (e.fresh(), e.fresh());
    e.prelude.push(format!("{values} = memref.alloca() : memref<{k}x{ty}>"));
    e.prelude.push(format!("{indices} = memref.alloca() : memref<{k}xi64>"));
    let kk = e.c64(k);
    let last = e.c64(k - 1);
    let zero = e.c64(0);
    let last_index = e.op(format!("arith.index_cast {last} : i64 to index"));
    // Defined contents before the first comparison with the k-th slot.
    let first = element(e, base, inner, &zero)?;
    e.for_n(&kk, Vec::new(), |e, r, _| {
        let r = e.op(format!("arith.index_cast {r} : i64 to index"));
        e.line(format!("memref.store {first}, {values}[{r}] : memref<{k}x{ty}>"));
        Ok(Vec::new())
    })?;
    e.for_n(axis, vec![(zero.clone(), "i64")], |e, j, count| {
        let count = count[0].clone();
        let v = element(e, base, inner, j)?;
        let full = e.op(format!("arith.cmpi eq, {count}, {kk} : i64"));
        let worst = e.op(format!("memref.load {values}[{last_index}] : memref<{k}x{ty}>"));
        let beats = above(e, ty, &v, &worst);
        let room = e.not(&full);
        let enters = e.arith("ori", &room, &beats, "i1");
        let next = e.if_else(
            &enters,
            &["i64"],
            |e| {
                let one = e.c64(1);
                let grown = e.add(&count, &one);
                let slots = e.op(format!("arith.minsi {grown}, {kk} : i64"));
                let no = e.bool_const(false);
                // Slot p: empty (p == count) takes the carried element; otherwise the carried
                // element goes in when shifting has begun or it ranks above the slot's.
                e.for_n(&slots, vec![(v.clone(), ty), (j.to_string(), "i64"), (no, "i1")], |e, p, carry| {
                    let (cv, ci, shifting) = (&carry[0], &carry[1], &carry[2]);
                    let pi = e.op(format!("arith.index_cast {p} : i64 to index"));
                    let empty = e.op(format!("arith.cmpi eq, {p}, {count} : i64"));
                    let sv = e.op(format!("memref.load {values}[{pi}] : memref<{k}x{ty}>"));
                    let si = e.op(format!("memref.load {indices}[{pi}] : memref<{k}xi64>"));
                    let wins = above(e, ty, cv, &sv);
                    let swap = e.arith("ori", shifting, &wins, "i1");
                    let put = e.arith("ori", &swap, &empty, "i1");
                    e.when(&put, |e| {
                        e.line(format!("memref.store {cv}, {values}[{pi}] : memref<{k}x{ty}>"));
                        e.line(format!("memref.store {ci}, {indices}[{pi}] : memref<{k}xi64>"));
                        Ok(())
                    })?;
                    let nv = e.select(&swap, &sv, cv, ty);
                    let ni = e.select(&swap, &si, ci, "i64");
                    Ok(vec![nv, ni, swap])
                })?;
                Ok(vec![slots])
            },
            |_| Ok(vec![count.clone()]),
        )?;
        Ok(next)
    })?;
    // y[o, r, ii] = indices[r].
    let ok = e.mul(o, &kk);
    e.for_n(&kk, Vec::new(), |e, r, _| {
        let ri = e.op(format!("arith.index_cast {r} : i64 to index"));
        let index = e.op(format!("memref.load {indices}[{ri}] : memref<{k}xi64>"));
        let row = e.add(&ok, r);
        let at = e.mul(&row, inner);
        let at = e.add(&at, ii);
        e.store(1, &at, &index)?;
        Ok(Vec::new())
    })?;
    Ok(())
}

/// The first extreme of the row, or its first NaN: `(best, value, done)` carried, `done` once
/// a NaN is found.
fn arg_reduce(
    e: &mut Emitter,
    ty: &'static str,
    max: bool,
    axis: &str,
    inner: &str,
    base: &str,
    i: &str,
) -> Result<(), CodegenError> {
    let zero = e.c64(0);
    let one = e.c64(1);
    let first = element(e, base, inner, &zero)?;
    let done = is_nan(e, ty, &first);
    let range = crate::kernel::Range { start: one.clone(), end: axis.to_string(), step: one };
    let found = e.for_range(&range, vec![(zero, "i64"), (first, ty), (done, "i1")], |e, j, carry| {
        let (best, value, done) = (&carry[0], &carry[1], &carry[2]);
        let v = element(e, base, inner, j)?;
        let nan = is_nan(e, ty, &v);
        let better = match (ty, max) {
            ("f32", true) => e.op(format!("arith.cmpf ogt, {v}, {value} : f32")),
            ("f32", false) => e.op(format!("arith.cmpf olt, {v}, {value} : f32")),
            (_, true) => e.op(format!("arith.cmpi sgt, {v}, {value} : i64")),
            (_, false) => e.op(format!("arith.cmpi slt, {v}, {value} : i64")),
        };
        let either = e.arith("ori", &nan, &better, "i1");
        let open = e.not(done);
        let take = e.arith("andi", &open, &either, "i1");
        let best = e.select(&take, j, best, "i64");
        let value = e.select(&take, &v, value, ty);
        let done = e.arith("ori", done, &nan, "i1");
        Ok(vec![best, value, done])
    })?;
    e.store(1, i, &found[0])
}
