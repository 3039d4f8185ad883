//! Reductions: `sum mean max min` over a set of axes, `argmax`/`argmin` along one axis, and
//! `topk_indices`.
//!
//! NaN behaves as in PyTorch: `max`/`min` of a slice holding NaN is NaN, `argmax`/`argmin`
//! return the index of the first NaN, and `topk` ranks NaN above every number. Ties go to the
//! lowest index. `sum` over nothing is 0 and `mean` over nothing is NaN; `max`, `min`, `argmax`
//! and `argmin` over an empty axis are errors (PyTorch refuses them too).

use super::buf::{
    Buf, KernelResult, broadcast_map, check_axis, fmt_shape, split_at_axis, try_filled, try_vec, try_zeroed,
};
use hg_ir::ReduceOp;
use std::cmp::Ordering;

/// Shape of a reduction's result: reduced axes dropped, or kept with size 1.
fn reduced_shape(shape: &[usize], axes: &[usize], keepdims: bool) -> Vec<usize> {
    let mut out = Vec::with_capacity(shape.len());
    for (d, &n) in shape.iter().enumerate() {
        if !axes.contains(&d) {
            out.push(n);
        } else if keepdims {
            out.push(1);
        }
    }
    out
}

pub fn reduce(op: ReduceOp, x: &Buf, axes: &[usize], keepdims: bool) -> KernelResult {
    for (i, &a) in axes.iter().enumerate() {
        check_axis(a, x.rank())?;
        if axes[..i].contains(&a) {
            return Err(format!("axis {a} is listed twice"));
        }
    }
    let kept = reduced_shape(&x.shape, axes, true);
    let count: usize = axes.iter().map(|&a| x.shape[a]).product();
    let n_out: usize = kept.iter().product();
    if count == 0 && n_out > 0 && matches!(op, ReduceOp::Max | ReduceOp::Min) {
        return Err(format!("`{}` over an empty axis of a tensor of shape {}", op.name(), fmt_shape(&x.shape)));
    }
    // Each input element lands in the output slot that broadcasting the kept-dims result back
    // to the input's shape would read it from.
    let slot = broadcast_map(&kept, &x.shape)?;
    let mut acc = match op {
        ReduceOp::Sum | ReduceOp::Mean => try_zeroed(n_out)?,
        ReduceOp::Max => try_filled(n_out, f64::NEG_INFINITY)?,
        ReduceOp::Min => try_filled(n_out, f64::INFINITY)?,
    };
    match op {
        ReduceOp::Sum | ReduceOp::Mean => {
            for (&s, &v) in slot.iter().zip(&x.data) {
                acc[s] += v;
            }
        }
        ReduceOp::Max | ReduceOp::Min => {
            let better = |v: f64, a: f64| if op == ReduceOp::Max { v > a } else { v < a };
            for (&s, &v) in slot.iter().zip(&x.data) {
                if !acc[s].is_nan() && (v.is_nan() || better(v, acc[s])) {
                    acc[s] = v;
                }
            }
        }
    }
    if op == ReduceOp::Mean {
        let c = count as f64;
        acc.iter_mut().for_each(|a| *a /= c);
    }
    Ok(Buf::new(reduced_shape(&x.shape, axes, keepdims), acc))
}

/// Index of the first maximum (`max`) or minimum along `axis`.
pub fn arg_reduce(x: &Buf, max: bool, axis: usize, keepdims: bool) -> KernelResult {
    check_axis(axis, x.rank())?;
    let (outer, n, inner) = split_at_axis(&x.shape, axis);
    if n == 0 && outer * inner > 0 {
        let name = if max { "argmax" } else { "argmin" };
        return Err(format!("`{name}` over the empty axis {axis} of a tensor of shape {}", fmt_shape(&x.shape)));
    }
    let mut out = try_vec(outer * inner)?;
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| x.data[(o * n + j) * inner + i];
            let mut best = 0;
            for j in 1..n {
                let (v, b) = (at(j), at(best));
                if b.is_nan() {
                    break;
                }
                if v.is_nan() || (max && v > b) || (!max && v < b) {
                    best = j;
                }
            }
            out.push(best as f64);
        }
    }
    Ok(Buf::new(reduced_shape(&x.shape, &[axis], keepdims), out))
}

/// Order for `topk`: larger first, NaN above everything; equal values compare equal so a
/// stable sort keeps the lower index first.
fn descending(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
    }
}

/// Indices of the `k` largest entries along `axis`, largest first.
pub fn topk_indices(x: &Buf, k: usize, axis: usize) -> KernelResult {
    check_axis(axis, x.rank())?;
    let (outer, n, inner) = split_at_axis(&x.shape, axis);
    if k > n {
        return Err(format!("k = {k} is larger than axis {axis} of a tensor of shape {}", fmt_shape(&x.shape)));
    }
    let mut shape = x.shape.clone();
    shape[axis] = k;
    let mut out = try_zeroed(outer * k * inner)?;
    let mut order: Vec<usize> = try_vec(n)?;
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| x.data[(o * n + j) * inner + i];
            order.clear();
            order.extend(0..n);
            order.sort_by(|&p, &q| descending(at(p), at(q)));
            for (r, &j) in order[..k].iter().enumerate() {
                out[(o * k + r) * inner + i] = j as f64;
            }
        }
    }
    Ok(Buf::new(shape, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m23() -> Buf {
        Buf::new(vec![2, 3], vec![1.0, 5.0, 3.0, 4.0, 2.0, 6.0])
    }

    #[test]
    fn sums_and_means_over_axes() {
        let x = m23();
        let s0 = reduce(ReduceOp::Sum, &x, &[0], false).unwrap();
        assert_eq!((s0.shape, s0.data), (vec![3], vec![5.0, 7.0, 9.0]));
        let s1 = reduce(ReduceOp::Sum, &x, &[1], true).unwrap();
        assert_eq!((s1.shape, s1.data), (vec![2, 1], vec![9.0, 12.0]));
        let all = reduce(ReduceOp::Mean, &x, &[0, 1], false).unwrap();
        assert_eq!((all.shape, all.data), (vec![], vec![3.5]));
        let kept = reduce(ReduceOp::Mean, &x, &[1, 0], true).unwrap();
        assert_eq!(kept.shape, vec![1, 1]);
        let none = reduce(ReduceOp::Sum, &x, &[], false).unwrap();
        assert_eq!(none, x);
    }

    #[test]
    fn max_min_and_nan() {
        let x = m23();
        assert_eq!(reduce(ReduceOp::Max, &x, &[1], false).unwrap().data, vec![5.0, 6.0]);
        assert_eq!(reduce(ReduceOp::Min, &x, &[0], false).unwrap().data, vec![1.0, 2.0, 3.0]);
        let y = Buf::new(vec![3], vec![1.0, f64::NAN, 7.0]);
        assert!(reduce(ReduceOp::Max, &y, &[0], false).unwrap().data[0].is_nan());
        assert!(reduce(ReduceOp::Min, &y, &[0], false).unwrap().data[0].is_nan());
        let neg = Buf::new(vec![2], vec![-3.0, -1.0]);
        assert_eq!(reduce(ReduceOp::Max, &neg, &[0], false).unwrap().data, vec![-1.0]);
    }

    #[test]
    fn empty_reductions() {
        let e = Buf::new(vec![2, 0], vec![]);
        assert_eq!(reduce(ReduceOp::Sum, &e, &[1], false).unwrap().data, vec![0.0, 0.0]);
        assert!(reduce(ReduceOp::Mean, &e, &[1], false).unwrap().data[0].is_nan());
        assert!(reduce(ReduceOp::Max, &e, &[1], false).unwrap_err().contains("empty"));
        assert!(arg_reduce(&e, true, 1, false).is_err());
        // Reducing the non-empty axis of an empty tensor is fine: the result is empty.
        assert_eq!(reduce(ReduceOp::Max, &e, &[0], false).unwrap().shape, vec![0]);
    }

    #[test]
    fn bad_axes_are_errors() {
        assert!(reduce(ReduceOp::Sum, &m23(), &[2], false).is_err());
        assert!(reduce(ReduceOp::Sum, &m23(), &[1, 1], false).unwrap_err().contains("twice"));
        assert!(arg_reduce(&m23(), true, 5, false).is_err());
        assert!(topk_indices(&m23(), 4, 1).is_err());
    }

    #[test]
    fn argmax_takes_first_occurrence() {
        let x = Buf::new(vec![2, 4], vec![1.0, 3.0, 3.0, 0.0, 2.0, 2.0, 1.0, 2.0]);
        assert_eq!(arg_reduce(&x, true, 1, false).unwrap().data, vec![1.0, 0.0]);
        assert_eq!(arg_reduce(&x, false, 1, false).unwrap().data, vec![3.0, 2.0]);
        let a0 = arg_reduce(&x, true, 0, true).unwrap();
        assert_eq!((a0.shape, a0.data), (vec![1, 4], vec![1.0, 0.0, 0.0, 1.0]));
        let nan = Buf::new(vec![4], vec![1.0, f64::NAN, 9.0, f64::NAN]);
        assert_eq!(arg_reduce(&nan, true, 0, false).unwrap().data, vec![1.0]);
        assert_eq!(arg_reduce(&nan, false, 0, false).unwrap().data, vec![1.0]);
    }

    #[test]
    fn topk_orders_largest_first_ties_by_index() {
        let x = Buf::new(vec![2, 4], vec![1.0, 3.0, 3.0, 2.0, 0.0, f64::NAN, -1.0, 5.0]);
        let t = topk_indices(&x, 3, 1).unwrap();
        assert_eq!((t.shape, t.data), (vec![2, 3], vec![1.0, 2.0, 3.0, 1.0, 3.0, 0.0]));
        let t0 = topk_indices(&x, 1, 0).unwrap();
        assert_eq!(t0.data, vec![0.0, 1.0, 0.0, 1.0]);
        assert_eq!(topk_indices(&x, 0, 1).unwrap().shape, vec![2, 0]);
    }
}
