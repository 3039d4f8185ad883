//! Shape ops: `reshape`, `broadcast_to` (result type declared), `transpose`, `concat`,
//! `slice`, `pad`.
//!
//! `slice` bounds are constants, so only axes of constant size can be sliced: for an axis of
//! size `B`, `end <= B` cannot be proved, and a slice that means "the whole axis" is no slice.

use super::{InferError, check_axis, check_value, fail, is_one};
use crate::dim::Dim;
use crate::op::Op;
use crate::types::TensorType;

/// `reshape`: the declared type keeps the dtype and the element count.
pub(super) fn reshape(op: &Op, x: &TensorType, to: &TensorType) -> Result<(), InferError> {
    if x.dtype != to.dtype {
        return fail(op, format!("cannot change dtype: {x} to {to}"));
    }
    let (a, b) = (element_count(op, x)?, element_count(op, to)?);
    if a != b {
        return fail(op, format!("element counts differ: {x} has {a}, {to} has {b}"));
    }
    Ok(())
}

/// `broadcast_to`: the operand broadcasts numpy-style to the declared type.
pub(super) fn broadcast_to(op: &Op, x: &TensorType, to: &TensorType) -> Result<(), InferError> {
    if x.dtype != to.dtype {
        return fail(op, format!("cannot change dtype: {x} to {to}"));
    }
    if x.rank() > to.rank() {
        return fail(op, format!("{x} has more axes than {to}"));
    }
    let lead = to.rank() - x.rank();
    for (i, d) in x.shape.iter().enumerate() {
        let t = &to.shape[lead + i];
        if d != t && !is_one(d) {
            return fail(op, format!("{x} cannot broadcast to {to} (axis {}: {d} vs {t})", lead + i));
        }
    }
    Ok(())
}

fn element_count(op: &Op, t: &TensorType) -> Result<Dim, InferError> {
    let mut n = Dim::constant(1);
    for d in &t.shape {
        n = n
            .checked_mul(d)
            .ok_or_else(|| InferError { message: format!("{}: element count of {t} overflows", op.mnemonic()) })?;
    }
    Ok(n)
}

pub(super) fn transpose(op: &Op, perm: &[usize], x: &TensorType) -> Result<TensorType, InferError> {
    let mut seen = vec![false; x.rank()];
    let valid = perm.len() == x.rank() && perm.iter().all(|&p| p < x.rank() && !std::mem::replace(&mut seen[p], true));
    if !valid {
        return fail(op, format!("perm {perm:?} is not a permutation of the {} axes of {x}", x.rank()));
    }
    Ok(TensorType::new(x.dtype, perm.iter().map(|&p| x.shape[p].clone()).collect()))
}

pub(super) fn concat(op: &Op, axis: usize, xs: &[&TensorType]) -> Result<TensorType, InferError> {
    let first = xs[0];
    check_axis(op, axis, first)?;
    let mut total = first.shape[axis].clone();
    for x in &xs[1..] {
        if x.dtype != first.dtype || x.rank() != first.rank() {
            return fail(op, format!("operands {first} and {x} differ in dtype or rank"));
        }
        for (i, (a, b)) in first.shape.iter().zip(&x.shape).enumerate() {
            if i != axis && a != b {
                return fail(op, format!("operands {first} and {x} differ off axis {axis} (axis {i}: {a} vs {b})"));
            }
        }
        total = total
            .checked_add(&x.shape[axis])
            .ok_or_else(|| InferError { message: format!("{}: concatenated size overflows", op.mnemonic()) })?;
    }
    let mut shape = first.shape.clone();
    shape[axis] = total;
    Ok(TensorType::new(first.dtype, shape))
}

pub(super) fn slice(
    op: &Op,
    axis: usize,
    start: usize,
    end: usize,
    step: usize,
    x: &TensorType,
) -> Result<TensorType, InferError> {
    check_axis(op, axis, x)?;
    if step == 0 {
        return fail(op, "step must be at least 1");
    }
    let Some(size) = x.shape[axis].as_const() else {
        return fail(
            op,
            format!("axis {axis} of {x} has symbolic size {}; only constant-size axes can be sliced", x.shape[axis]),
        );
    };
    let in_range = start <= end && i64::try_from(end).is_ok_and(|e| e <= size);
    if !in_range {
        return fail(op, format!("range {start}..{end} out of bounds for axis {axis} of {x}"));
    }
    let len = (end - start).div_ceil(step);
    let mut shape = x.shape.clone();
    shape[axis] = Dim::constant(len as i64);
    Ok(TensorType::new(x.dtype, shape))
}

pub(super) fn pad(op: &Op, pads: &[(usize, usize)], value: f64, x: &TensorType) -> Result<TensorType, InferError> {
    if pads.len() != x.rank() {
        return fail(op, format!("{} (before, after) pairs given for the {} axes of {x}", pads.len(), x.rank()));
    }
    check_value(op, value, x.dtype)?;
    let mut shape = Vec::with_capacity(x.rank());
    for (d, &(before, after)) in x.shape.iter().zip(pads) {
        let grown = i64::try_from(before)
            .ok()
            .and_then(|b| i64::try_from(after).ok().and_then(|a| a.checked_add(b)))
            .and_then(|n| d.checked_add(&Dim::constant(n)));
        shape.push(grown.ok_or_else(|| InferError { message: format!("{}: padded size overflows", op.mnemonic()) })?);
    }
    Ok(TensorType::new(x.dtype, shape))
}

#[cfg(test)]
mod tests {
    use super::super::infer_type;
    use super::super::test_util::ty;
    use crate::op::Op;

    fn run(op: &Op, tys: &[&str], given: Option<&str>) -> Result<String, String> {
        let tys: Vec<_> = tys.iter().map(|s| ty(s)).collect();
        let refs: Vec<_> = tys.iter().collect();
        let given = given.map(ty);
        infer_type(op, &refs, given.as_ref()).map(|t| t.to_string()).map_err(|e| e.message)
    }

    #[test]
    fn reshape_checks_symbolic_counts() {
        assert_eq!(run(&Op::Reshape, &["f32[B, 28, 28]"], Some("f32[B, 784]")).unwrap(), "f32[B, 784]");
        assert_eq!(run(&Op::Reshape, &["f32[B, 4]"], Some("f32[2*B, 2]")).unwrap(), "f32[2*B, 2]");
        assert_eq!(run(&Op::Reshape, &["f32[B, 4]"], Some("f32[2, 2, B]")).unwrap(), "f32[2, 2, B]");
        assert_eq!(
            run(&Op::Reshape, &["f32[B, 4]"], Some("f32[B, 5]")).unwrap_err(),
            "reshape: element counts differ: f32[B, 4] has 4*B, f32[B, 5] has 5*B"
        );
        assert_eq!(
            run(&Op::Reshape, &["f32[B, 4]"], Some("i32[B, 4]")).unwrap_err(),
            "reshape: cannot change dtype: f32[B, 4] to i32[B, 4]"
        );
        assert_eq!(
            run(&Op::Reshape, &["f32[B, 4]"], None).unwrap_err(),
            "reshape: result type must be declared (operands f32[B, 4])"
        );
        assert_eq!(
            run(&Op::Reshape, &["f32[4]"], Some("f32[-1, -4]")).unwrap_err(),
            "reshape: declared type f32[-1, -4] has a negative dimension"
        );
    }

    #[test]
    fn broadcast_to_rules() {
        assert_eq!(run(&Op::BroadcastTo, &["f32[1, 10]"], Some("f32[B, 10]")).unwrap(), "f32[B, 10]");
        assert_eq!(run(&Op::BroadcastTo, &["f32[]"], Some("f32[B, 3]")).unwrap(), "f32[B, 3]");
        assert_eq!(
            run(&Op::BroadcastTo, &["f32[B, 3]"], Some("f32[B, 4]")).unwrap_err(),
            "broadcast_to: f32[B, 3] cannot broadcast to f32[B, 4] (axis 1: 3 vs 4)"
        );
        assert_eq!(
            run(&Op::BroadcastTo, &["f32[2, 3]"], Some("f32[3]")).unwrap_err(),
            "broadcast_to: f32[2, 3] has more axes than f32[3]"
        );
        assert!(run(&Op::BroadcastTo, &["f32[3]"], Some("f64[3]")).is_err());
    }

    #[test]
    fn transpose_permutes() {
        let t = Op::Transpose { perm: vec![1, 0, 2] };
        assert_eq!(run(&t, &["f32[B, 3, 4]"], None).unwrap(), "f32[3, B, 4]");
        let bad = Op::Transpose { perm: vec![0, 0, 1] };
        assert_eq!(
            run(&bad, &["f32[B, 3, 4]"], None).unwrap_err(),
            "transpose: perm [0, 0, 1] is not a permutation of the 3 axes of f32[B, 3, 4]"
        );
        assert!(run(&Op::Transpose { perm: vec![1, 0] }, &["f32[B, 3, 4]"], None).is_err());
        assert!(run(&Op::Transpose { perm: vec![0, 3, 1] }, &["f32[B, 3, 4]"], None).is_err());
    }

    #[test]
    fn concat_sums_axis() {
        let c = Op::Concat { axis: 1 };
        assert_eq!(run(&c, &["f32[B, 3]", "f32[B, 4]", "f32[B, D]"], None).unwrap(), "f32[B, D + 7]");
        assert_eq!(run(&Op::Concat { axis: 0 }, &["f32[B, 3]", "f32[B, 3]"], None).unwrap(), "f32[2*B, 3]");
        assert_eq!(run(&c, &["f32[B, 3]"], None).unwrap(), "f32[B, 3]");
        assert_eq!(
            run(&c, &["f32[B, 3]", "f32[2, 3]"], None).unwrap_err(),
            "concat: operands f32[B, 3] and f32[2, 3] differ off axis 1 (axis 0: B vs 2)"
        );
        assert_eq!(
            run(&c, &["f32[B, 3]", "f64[B, 3]"], None).unwrap_err(),
            "concat: operands f32[B, 3] and f64[B, 3] differ in dtype or rank"
        );
        assert_eq!(
            run(&Op::Concat { axis: 2 }, &["f32[B, 3]"], None).unwrap_err(),
            "concat: axis 2 out of range for f32[B, 3]"
        );
    }

    #[test]
    fn slice_rules() {
        let s = Op::Slice { axis: 1, start: 2, end: 9, step: 3 };
        assert_eq!(run(&s, &["f32[B, 10]"], None).unwrap(), "f32[B, 3]");
        let full = Op::Slice { axis: 1, start: 0, end: 10, step: 1 };
        assert_eq!(run(&full, &["f32[B, 10]"], None).unwrap(), "f32[B, 10]");
        let empty = Op::Slice { axis: 1, start: 4, end: 4, step: 1 };
        assert_eq!(run(&empty, &["f32[B, 10]"], None).unwrap(), "f32[B, 0]");
        let sym = Op::Slice { axis: 0, start: 0, end: 4, step: 1 };
        assert_eq!(
            run(&sym, &["f32[B, 10]"], None).unwrap_err(),
            "slice: axis 0 of f32[B, 10] has symbolic size B; only constant-size axes can be sliced"
        );
        let oob = Op::Slice { axis: 1, start: 3, end: 11, step: 1 };
        assert_eq!(
            run(&oob, &["f32[B, 10]"], None).unwrap_err(),
            "slice: range 3..11 out of bounds for axis 1 of f32[B, 10]"
        );
        let rev = Op::Slice { axis: 1, start: 5, end: 3, step: 1 };
        assert!(run(&rev, &["f32[B, 10]"], None).is_err());
        let zero = Op::Slice { axis: 1, start: 0, end: 3, step: 0 };
        assert_eq!(run(&zero, &["f32[B, 10]"], None).unwrap_err(), "slice: step must be at least 1");
    }

    #[test]
    fn pad_rules() {
        let p = Op::Pad { pads: vec![(0, 0), (1, 2)], value: 0.0 };
        assert_eq!(run(&p, &["f32[B, 10]"], None).unwrap(), "f32[B, 13]");
        let p0 = Op::Pad { pads: vec![(1, 1), (0, 0)], value: -1.0 };
        assert_eq!(run(&p0, &["i64[B, 10]"], None).unwrap(), "i64[B + 2, 10]");
        assert_eq!(
            run(&Op::Pad { pads: vec![(1, 1)], value: 0.0 }, &["f32[B, 10]"], None).unwrap_err(),
            "pad: 1 (before, after) pairs given for the 2 axes of f32[B, 10]"
        );
        let frac = Op::Pad { pads: vec![(1, 1)], value: 0.5 };
        assert_eq!(run(&frac, &["i32[3]"], None).unwrap_err(), "pad: value 0.5 is not representable in i32");
    }
}
