//! Gather, scatter-add and index checks along the middle axis of `[outer, axis, inner]`.

use hg_abi::plan::LibCall;

use super::zero_of;
use crate::CodegenError;
use crate::kernel::Emitter;

/// Work item `i` of an indexing call.
pub(super) fn item(e: &mut Emitter, call: &LibCall, i: &str) -> Result<(), CodegenError> {
    match *call {
        // args (x, idx, y): item i is y[i] = x[o, idx[i], i mod inner].
        LibCall::Gather { axis, idx_axis, inner, .. } => {
            let (axis, idx_axis, inner) = (e.size(axis), e.size(idx_axis), e.size(inner));
            let row = e.mul(&idx_axis, &inner);
            let o = e.div(i, &row);
            let ii = e.rem(i, &inner);
            let t = e.load(1, i)?;
            let ok = e.in_range(&t, &axis);
            let ty = e.memory(0)?;
            let value = e.if_else(
                &ok,
                &[ty],
                |e| {
                    let oa = e.mul(&o, &axis);
                    let row = e.add(&oa, &t);
                    let at = e.mul(&row, &inner);
                    let at = e.add(&at, &ii);
                    Ok(vec![e.load(0, &at)?])
                },
                |e| {
                    e.flag(i);
                    Ok(vec![zero_of(e, ty)])
                },
            )?;
            e.store(2, i, &value[0])
        }
        // args (x, idx, v, y): item i is y[i] = x[i] + Σ_j v[o, j, ii] over idx[o, j, ii] == a,
        // summed in f64 in j order from x[i], as the CPU library does; the items with a == 0
        // check the indices of their column.
        LibCall::ScatterAdd { axis, idx_axis, inner, .. } => {
            let (axis, idx_axis, inner) = (e.size(axis), e.size(idx_axis), e.size(inner));
            let plane = e.mul(&axis, &inner);
            let o = e.div(i, &plane);
            let a = e.div(i, &inner);
            let a = e.rem(&a, &axis);
            let ii = e.rem(i, &inner);
            let zero = e.c64(0);
            let checks = e.op(format!("arith.cmpi eq, {a}, {zero} : i64"));
            let x = e.load(0, i)?;
            let start = e.op(format!("arith.extf {x} : f32 to f64"));
            let oj = e.mul(&o, &idx_axis);
            let sum = e.for_n(&idx_axis, vec![(start, "f64")], |e, j, acc| {
                let row = e.add(&oj, j);
                let p = e.mul(&row, &inner);
                let p = e.add(&p, &ii);
                let t = e.load(1, &p)?;
                let ok = e.in_range(&t, &axis);
                let bad = e.not(&ok);
                let report = e.arith("andi", &checks, &bad, "i1");
                e.when(&report, |e| {
                    e.flag(&p);
                    Ok(())
                })?;
                let hit = e.op(format!("arith.cmpi eq, {t}, {a} : i64"));
                let v = e.load(2, &p)?;
                let v = e.op(format!("arith.extf {v} : f32 to f64"));
                let added = e.arith("addf", &acc[0], &v, "f64");
                Ok(vec![e.select(&hit, &added, &acc[0], "f64")])
            })?;
            let y = e.op(format!("arith.truncf {} : f64 to f32", sum[0]));
            e.store(3, i, &y)
        }
        // args (idx): item i checks idx[i] against 0..n.
        LibCall::CheckIndices { n, .. } => {
            let n = e.c64(n);
            let t = e.load(0, i)?;
            let ok = e.in_range(&t, &n);
            let bad = e.not(&ok);
            e.when(&bad, |e| {
                e.flag(i);
                Ok(())
            })
        }
        _ => Err(e.unsupported("is not an indexing call".into())),
    }
}
