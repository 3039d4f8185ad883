//! Indexing ops: `gather`, `scatter_add` (take-along-axis, as `torch.gather`), `topk_indices`,
//! `one_hot`.
//!
//! Off the indexed axis, an index tensor may be smaller than the data (as in PyTorch): a
//! dimension pair passes when it is equal, or when both are constants with `idx <= x`. Any
//! other pair (say `D` against `B`) cannot be proved in bounds and is an error.

use super::{InferError, check_axis, fail, is_numeric};
use crate::dim::Dim;
use crate::op::Op;
use crate::types::TensorType;
use hg_abi::DType;

pub(super) fn gather(op: &Op, axis: usize, x: &TensorType, idx: &TensorType) -> Result<TensorType, InferError> {
    check_take_along(op, axis, x, idx)?;
    Ok(TensorType::new(x.dtype, idx.shape.clone()))
}

pub(super) fn scatter_add(
    op: &Op,
    axis: usize,
    x: &TensorType,
    idx: &TensorType,
    v: &TensorType,
) -> Result<TensorType, InferError> {
    if !is_numeric(x.dtype) {
        return fail(op, format!("needs a numeric operand, found {x}"));
    }
    check_take_along(op, axis, x, idx)?;
    if v.dtype != x.dtype || v.shape != idx.shape {
        return fail(op, format!("values {v} must have the dtype of {x} and the shape of {idx}"));
    }
    Ok(x.clone())
}

/// Shared checks of `gather(x, idx)` and `scatter_add(x, idx, _)`.
fn check_take_along(op: &Op, axis: usize, x: &TensorType, idx: &TensorType) -> Result<(), InferError> {
    if !idx.dtype.is_int() {
        return fail(op, format!("indices must be integers, found {idx}"));
    }
    if idx.rank() != x.rank() {
        return fail(op, format!("indices {idx} must have the rank of {x}"));
    }
    check_axis(op, axis, x)?;
    for (i, (a, b)) in idx.shape.iter().zip(&x.shape).enumerate() {
        if i == axis || a == b {
            continue;
        }
        let fits = matches!((a.as_const(), b.as_const()), (Some(a), Some(b)) if a <= b);
        if !fits {
            return fail(op, format!("indices {idx} exceed {x} on axis {i} ({a} vs {b})"));
        }
    }
    Ok(())
}

pub(super) fn topk_indices(op: &Op, k: usize, axis: usize, x: &TensorType) -> Result<TensorType, InferError> {
    if !is_numeric(x.dtype) {
        return fail(op, format!("needs a numeric operand, found {x}"));
    }
    check_axis(op, axis, x)?;
    let size = &x.shape[axis];
    let fits = k >= 1 && size.as_const().is_some_and(|n| i64::try_from(k).is_ok_and(|k| k <= n));
    if !fits {
        return fail(op, format!("k={k} must be between 1 and the size {size} of axis {axis} of {x}"));
    }
    let mut shape = x.shape.clone();
    shape[axis] = Dim::constant(k as i64);
    Ok(TensorType::new(DType::I64, shape))
}

pub(super) fn one_hot(op: &Op, n: usize, idx: &TensorType) -> Result<TensorType, InferError> {
    if !idx.dtype.is_int() {
        return fail(op, format!("indices must be integers, found {idx}"));
    }
    let Some(n) = i64::try_from(n).ok().filter(|&n| n >= 1) else {
        return fail(op, format!("n={n} must be at least 1"));
    };
    let mut shape = idx.shape.clone();
    shape.push(Dim::constant(n));
    Ok(TensorType::new(DType::F32, shape))
}

#[cfg(test)]
mod tests {
    use super::super::infer_type;
    use super::super::test_util::ty;
    use crate::op::Op;

    fn run(op: &Op, tys: &[&str]) -> Result<String, String> {
        let tys: Vec<_> = tys.iter().map(|s| ty(s)).collect();
        let refs: Vec<_> = tys.iter().collect();
        infer_type(op, &refs, None).map(|t| t.to_string()).map_err(|e| e.message)
    }

    #[test]
    fn gather_rules() {
        let g = Op::Gather { axis: 0 };
        assert_eq!(run(&g, &["f32[512, 32]", "i64[B, 32]"]).unwrap(), "f32[B, 32]");
        assert_eq!(run(&g, &["f32[512, 32]", "i32[B, 8]"]).unwrap(), "f32[B, 8]");
        assert_eq!(run(&Op::Gather { axis: 1 }, &["f32[B, 10]", "i64[B, 3]"]).unwrap(), "f32[B, 3]");
        assert_eq!(
            run(&g, &["f32[512, 32]", "f32[B, 32]"]).unwrap_err(),
            "gather: indices must be integers, found f32[B, 32]"
        );
        assert_eq!(
            run(&g, &["f32[512, 32]", "i64[B]"]).unwrap_err(),
            "gather: indices i64[B] must have the rank of f32[512, 32]"
        );
        assert_eq!(
            run(&g, &["f32[512, 32]", "i64[B, 33]"]).unwrap_err(),
            "gather: indices i64[B, 33] exceed f32[512, 32] on axis 1 (33 vs 32)"
        );
        assert!(run(&Op::Gather { axis: 0 }, &["f32[B, 32]", "i64[B, D]"]).is_err());
        assert_eq!(
            run(&Op::Gather { axis: 2 }, &["f32[4, 4]", "i64[4, 4]"]).unwrap_err(),
            "gather: axis 2 out of range for f32[4, 4]"
        );
    }

    #[test]
    fn scatter_add_rules() {
        let s = Op::ScatterAdd { axis: 0 };
        assert_eq!(run(&s, &["f32[512, 32]", "i64[B, 32]", "f32[B, 32]"]).unwrap(), "f32[512, 32]");
        assert_eq!(
            run(&s, &["f32[512, 32]", "i64[B, 32]", "f32[B, 31]"]).unwrap_err(),
            "scatter_add: values f32[B, 31] must have the dtype of f32[512, 32] and the shape of i64[B, 32]"
        );
        assert!(run(&s, &["f32[512, 32]", "i64[B, 32]", "f64[B, 32]"]).is_err());
        assert!(run(&s, &["bool[512, 32]", "i64[B, 32]", "bool[B, 32]"]).is_err());
        assert!(run(&s, &["f32[512, 32]", "bool[B, 32]", "f32[B, 32]"]).is_err());
    }

    #[test]
    fn topk_rules() {
        assert_eq!(run(&Op::TopKIndices { k: 3, axis: 1 }, &["f32[B, 10]"]).unwrap(), "i64[B, 3]");
        assert_eq!(
            run(&Op::TopKIndices { k: 11, axis: 1 }, &["f32[B, 10]"]).unwrap_err(),
            "topk_indices: k=11 must be between 1 and the size 10 of axis 1 of f32[B, 10]"
        );
        assert!(run(&Op::TopKIndices { k: 0, axis: 1 }, &["f32[B, 10]"]).is_err());
        assert!(run(&Op::TopKIndices { k: 1, axis: 0 }, &["f32[B, 10]"]).is_err());
        assert!(run(&Op::TopKIndices { k: 1, axis: 2 }, &["f32[B, 10]"]).is_err());
        assert!(run(&Op::TopKIndices { k: 1, axis: 0 }, &["bool[10]"]).is_err());
    }

    #[test]
    fn one_hot_rules() {
        assert_eq!(run(&Op::OneHot { n: 10 }, &["i64[B]"]).unwrap(), "f32[B, 10]");
        assert_eq!(run(&Op::OneHot { n: 4 }, &["i32[]"]).unwrap(), "f32[4]");
        assert_eq!(
            run(&Op::OneHot { n: 10 }, &["f32[B]"]).unwrap_err(),
            "one_hot: indices must be integers, found f32[B]"
        );
        assert_eq!(run(&Op::OneHot { n: 0 }, &["i64[B]"]).unwrap_err(), "one_hot: n=0 must be at least 1");
    }
}
