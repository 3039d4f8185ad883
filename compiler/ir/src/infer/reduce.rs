//! Reductions (`sum mean max min`) and arg-reductions (`argmax argmin`).
//!
//! Axes are already normalised by expansion; here they are only checked (in range, no
//! repeats). An axis of constant size 0 cannot be reduced: `max` and `argmax` have no answer
//! and `mean` would divide by zero, so the error is raised for every reduction alike.

use super::{InferError, check_axis, fail, is_numeric};
use crate::dim::Dim;
use crate::op::{Op, ReduceOp};
use crate::types::TensorType;
use hg_abi::DType;

pub(super) fn reduce(
    op: &Op,
    r: ReduceOp,
    axes: &[usize],
    keepdims: bool,
    x: &TensorType,
) -> Result<TensorType, InferError> {
    let ok = match r {
        ReduceOp::Sum | ReduceOp::Mean => x.dtype.is_float(),
        ReduceOp::Max | ReduceOp::Min => is_numeric(x.dtype),
    };
    if !ok {
        let needs = if matches!(r, ReduceOp::Sum | ReduceOp::Mean) { "float" } else { "numeric" };
        return fail(op, format!("needs a {needs} operand, found {x}"));
    }
    let mut reduced = vec![false; x.rank()];
    for &axis in axes {
        check_axis(op, axis, x)?;
        if reduced[axis] {
            return fail(op, format!("axis {axis} listed twice for {x}"));
        }
        reduced[axis] = true;
        check_non_empty(op, axis, x)?;
    }
    Ok(TensorType::new(x.dtype, keep_or_drop(x, &reduced, keepdims)))
}

pub(super) fn arg_reduce(op: &Op, axis: usize, keepdims: bool, x: &TensorType) -> Result<TensorType, InferError> {
    if !is_numeric(x.dtype) {
        return fail(op, format!("needs a numeric operand, found {x}"));
    }
    check_axis(op, axis, x)?;
    check_non_empty(op, axis, x)?;
    let mut reduced = vec![false; x.rank()];
    reduced[axis] = true;
    Ok(TensorType::new(DType::I64, keep_or_drop(x, &reduced, keepdims)))
}

fn check_non_empty(op: &Op, axis: usize, x: &TensorType) -> Result<(), InferError> {
    if x.shape[axis].as_const() == Some(0) {
        return fail(op, format!("empty reduction: axis {axis} of {x} has size 0"));
    }
    Ok(())
}

fn keep_or_drop(x: &TensorType, reduced: &[bool], keepdims: bool) -> Vec<Dim> {
    x.shape
        .iter()
        .zip(reduced)
        .filter_map(|(d, &r)| match (r, keepdims) {
            (false, _) => Some(d.clone()),
            (true, true) => Some(Dim::constant(1)),
            (true, false) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::infer_type;
    use super::super::test_util::ty;
    use crate::op::{Op, ReduceOp};

    fn red(r: ReduceOp, axes: &[usize], keepdims: bool, x: &str) -> Result<String, String> {
        let op = Op::Reduce { op: r, axes: axes.to_vec(), keepdims };
        infer_type(&op, &[&ty(x)], None).map(|t| t.to_string()).map_err(|e| e.message)
    }

    fn arg(max: bool, axis: usize, keepdims: bool, x: &str) -> Result<String, String> {
        infer_type(&Op::ArgReduce { max, axis, keepdims }, &[&ty(x)], None)
            .map(|t| t.to_string())
            .map_err(|e| e.message)
    }

    #[test]
    fn reduce_shapes() {
        assert_eq!(red(ReduceOp::Sum, &[1], false, "f32[B, 10]").unwrap(), "f32[B]");
        assert_eq!(red(ReduceOp::Mean, &[0, 2], true, "f32[B, 10, 3]").unwrap(), "f32[1, 10, 1]");
        assert_eq!(red(ReduceOp::Max, &[0, 1], false, "i32[B, 10]").unwrap(), "i32[]");
        assert_eq!(red(ReduceOp::Min, &[], false, "f32[B]").unwrap(), "f32[B]");
    }

    #[test]
    fn reduce_errors() {
        assert_eq!(
            red(ReduceOp::Sum, &[2], false, "f32[B, 10]").unwrap_err(),
            "sum: axis 2 out of range for f32[B, 10]"
        );
        assert_eq!(
            red(ReduceOp::Sum, &[1, 1], false, "f32[B, 10]").unwrap_err(),
            "sum: axis 1 listed twice for f32[B, 10]"
        );
        assert_eq!(
            red(ReduceOp::Mean, &[0], false, "i32[B]").unwrap_err(),
            "mean: needs a float operand, found i32[B]"
        );
        assert_eq!(
            red(ReduceOp::Max, &[0], false, "bool[B]").unwrap_err(),
            "max: needs a numeric operand, found bool[B]"
        );
        assert_eq!(
            red(ReduceOp::Max, &[1], false, "f32[B, 0]").unwrap_err(),
            "max: empty reduction: axis 1 of f32[B, 0] has size 0"
        );
    }

    #[test]
    fn arg_reduce_gives_i64() {
        assert_eq!(arg(true, 1, false, "f32[B, 10]").unwrap(), "i64[B]");
        assert_eq!(arg(false, 0, true, "i32[B, 10]").unwrap(), "i64[1, 10]");
        assert_eq!(arg(true, 2, false, "f32[B, 10]").unwrap_err(), "argmax: axis 2 out of range for f32[B, 10]");
        assert_eq!(arg(false, 0, false, "f32[0]").unwrap_err(), "argmin: empty reduction: axis 0 of f32[0] has size 0");
        assert_eq!(arg(true, 0, false, "bool[3]").unwrap_err(), "argmax: needs a numeric operand, found bool[3]");
    }
}
