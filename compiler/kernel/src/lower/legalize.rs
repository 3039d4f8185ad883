//! Rewrites that bring indexing ops to the forms the library kernels take.
//!
//! `gather` and `scatter_add` follow `torch.gather`/`torch.scatter_add`: the indices (and
//! `scatter_add`'s values, which have their shape) may be smaller than the operand on the axes
//! other than the indexed one. The library kernels take operands of the indices' extent,
//! so:
//!
//! | from | to |
//! | --- | --- |
//! | `gather(x, idx)` | `gather(x[:i0, :i1, ...], idx)` (slices on the other axes) |
//! | `scatter_add(x, idx, v)` | `x + pad(scatter_add(zeros, idx, v))` |
//!
//! Both compute what the interpreter computes (the scatter adds its sum to `x` in another
//! order: rounding only). Extents must be fixed where they differ (not the batch size).

use hg_ir::{BinaryOp, DType, Function, NodeSpan, Op, TensorType, ValueId};

/// `x` sliced to `extent` on every axis but `axis` where it is larger; `None` when a differing
/// extent is not a fixed number.
fn sliced(f: &mut Function, x: ValueId, extent: &[hg_ir::Dim], axis: usize, span: NodeSpan) -> Option<ValueId> {
    let mut x = x;
    for (k, want) in extent.iter().enumerate() {
        if k == axis || f.ty(x).shape.get(k) == Some(want) {
            continue;
        }
        let end = usize::try_from(want.as_const()?).ok()?;
        x = f.add(Op::Slice { axis: k, start: 0, end, step: 1 }, &[x], span).ok()?;
    }
    Some(x)
}

/// Whether indices of shape `idx` differ from an operand of shape `x` on an axis other than
/// `axis` (then they are smaller there: the type checker allows nothing else).
pub fn differs_outside<T: PartialEq>(x: &[T], idx: &[T], axis: usize) -> bool {
    x.iter().zip(idx).enumerate().any(|(k, (a, b))| k != axis && a != b)
}

/// Whether `v` is a `gather` or `scatter_add` that [`legalize`] rewrites.
fn needs_slicing(f: &Function, v: ValueId) -> bool {
    match f.op(v) {
        Op::Gather { axis } | Op::ScatterAdd { axis } => {
            let ops = f.operands(v);
            ops.len() >= 2 && differs_outside(&f.ty(ops[0]).shape, &f.ty(ops[1]).shape, *axis)
        }
        _ => false,
    }
}

/// The rewritten form of an indexing node that [`needs_slicing`], or `None` when it cannot be
/// rewritten (an extent that depends on the batch size: the lowering then reports it).
fn legalize(f: &mut Function, v: ValueId) -> Option<ValueId> {
    let span = f.node(v).span;
    match *f.op(v) {
        Op::Gather { axis } => {
            let [x, idx] = f.operands(v)[..] else { return None };
            let extent = f.ty(idx).shape.clone();
            let x = sliced(f, x, &extent, axis, span)?;
            f.add(Op::Gather { axis }, &[x, idx], span).ok()
        }
        Op::ScatterAdd { axis } => {
            let [x, idx, vals] = f.operands(v)[..] else { return None };
            let extent = f.ty(idx).shape.clone();
            let xs = f.ty(x).shape.clone();
            let mut inner = extent.clone();
            inner[axis] = xs[axis].clone();
            let mut pads = Vec::with_capacity(xs.len());
            for (full, part) in xs.iter().zip(&inner) {
                let after = full.as_const()?.checked_sub(part.as_const()?)?;
                pads.push((0, usize::try_from(after).ok()?));
            }
            let zeros = f.add_typed(Op::Full { value: 0.0 }, &[], TensorType::new(DType::F32, inner), span);
            let part = f.add(Op::ScatterAdd { axis }, &[zeros, idx, vals], span).ok()?;
            let padded = f.add(Op::Pad { pads, value: 0.0 }, &[part], span).ok()?;
            f.add(Op::Binary(BinaryOp::Add), &[x, padded], span).ok()
        }
        _ => None,
    }
}

/// Applies the table to a copy of `f`; `None` when every indexing op is already legal.
pub fn rewrite(f: &Function) -> Option<Function> {
    let todo: Vec<ValueId> = f.values().filter(|&v| needs_slicing(f, v)).collect();
    if todo.is_empty() {
        return None;
    }
    let mut g = f.clone();
    let mut changed = false;
    for v in todo {
        if let Some(new) = legalize(&mut g, v) {
            g.replace_all_uses(v, new);
            changed = true;
        }
    }
    if !changed {
        return None;
    }
    hg_ir::passes::eliminate_dead_values(&mut g);
    Some(g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hg_core::interp::{Precision, RunContext, run_function};
    use hg_ir::read_function;

    #[test]
    fn smaller_indices_read_and_write_only_their_extent() {
        let f = read_function(
            r#"
fn f(x: f32[4, 5], i: i64[3, 2], v: f32[3, 2]) -> (g: f32[3, 2], s: f32[4, 5], t: f32[3, 5]) {
  %0 = input "x" : f32[4, 5]
  %1 = input "i" : i64[3, 2]
  %2 = input "v" : f32[3, 2]
  %3 = gather %0, %1 {axis=1} : f32[3, 2]
  %4 = scatter_add %0, %1, %2 {axis=1} : f32[4, 5]
  %5 = slice %0 {axis=0, start=0, end=3, step=1} : f32[3, 5]
  %6 = scatter_add %5, %1, %2 {axis=1} : f32[3, 5]
  return g=%3, s=%4, t=%6
}
"#,
        )
        .unwrap();
        let g = rewrite(&f).expect("rewritten");
        // The lowering applies it: the function compiles.
        crate::lower_function(&f, &[]).unwrap();
        hg_ir::verify_function(&g).unwrap();
        let mut inputs = hg_core::interp::NamedTensors::new();
        let t = |shape: Vec<usize>, n: usize| {
            hg_exec::Tensor::from_f32(shape, (0..n).map(|k| k as f32 * 0.5 - 3.0).collect()).unwrap()
        };
        inputs.insert("x".into(), t(vec![4, 5], 20));
        inputs.insert("v".into(), t(vec![3, 2], 6));
        inputs.insert("i".into(), hg_exec::Tensor::from_i64(vec![3, 2], vec![4, 0, 1, 1, 3, 2]).unwrap());
        let ctx = RunContext::new(Precision::F64);
        let (want, got) = (run_function(&f, &inputs, &ctx).unwrap(), run_function(&g, &inputs, &ctx).unwrap());
        for name in ["g", "s", "t"] {
            assert_eq!(want[name].to_f64_vec(), got[name].to_f64_vec(), "{name}");
        }
        // Every indexing op now has operands of its indices' extent.
        for v in g.values() {
            if let Op::Gather { axis } | Op::ScatterAdd { axis } = *g.op(v) {
                let ops = g.operands(v);
                let (x, i) = (&g.ty(ops[0]).shape, &g.ty(ops[1]).shape);
                assert!(x.iter().zip(i).enumerate().all(|(k, (a, b))| k == axis || a == b), "{g}");
            }
        }
    }
}
