//! Type inference for one primitive: the dtype and symbolic shape of a node from its operands.
//!
//! [`infer_type`] is the single entry point; the rules live in one submodule per op family
//! (`elementwise`, `reduce`, `linalg`, `shape`, `index`, `source`). Every rule is pure and
//! total: bad operands give an [`InferError`] whose message is lowercase, starts with the op's
//! mnemonic and shows the operand types, never a panic.
//!
//! **Invariant**: symbolic dimensions are compared by their normal forms ([`Dim`] equality),
//! so `2*B` and `B + B` are the same size; a constraint that cannot be proved for every value
//! of the symbols (say `k <= B`) is an error, never an assumption.

mod elementwise;
mod index;
mod linalg;
mod reduce;
mod shape;
mod source;

pub use source::is_attribute_typed;

use crate::dim::Dim;
use crate::op::Op;
use crate::types::TensorType;
use hg_abi::DType;
use std::fmt;

/// Why an op cannot be applied to its operands. Spans are added by the caller.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct InferError {
    pub message: String,
}

/// The result type of `op` applied to `operands`.
///
/// `given` is the type the caller declares for the result. It is required for the ops whose
/// type is an attribute and checked against the inferred type for every other op.
///
/// Algorithm:
/// 1. Check the operand count against [`Op::arity`] (`concat` needs at least one).
/// 2. Ops whose result type is an attribute take it from `given` (an error if absent), after
///    checking what can be checked: no negative constant dimension, and per op
///    - `input`, `param`: any type;
///    - `const`: a scalar; `const`/`full`: the value is representable in the dtype (integral
///      and in range for integers, 0 or 1 for `bool`; floats take any value, NaN and ±inf
///      included);
///    - `dim_value`: an integer or float scalar; `iota`: an integer dtype and `axis < rank`;
///    - `random_normal`, `random_uniform`, `bernoulli`: a float dtype; `lo < hi` (finite) and
///      `0 <= p <= 1`;
///    - `reshape`: same dtype and equal element counts (products of symbolic dimensions);
///    - `broadcast_to`: same dtype and the operand broadcasts numpy-style to the result;
///    - `conv2d_weight_grad`: a rank-4 weight type such that `conv2d(x, weight)` has the type
///      of `grad_out`.
/// 3. Every other op computes its result from the operands:
///    - elementwise unary: same type; `not` needs `bool`; `neg`, `abs`, `sign` need a numeric
///      (integer or float) dtype; all others need a float dtype;
///    - elementwise binary: same dtype on both sides, numpy broadcasting of the shapes (axes
///      aligned on the right; equal dimensions, or one of them the constant 1); `add`, `sub`,
///      `mul`, `maximum`, `minimum` need numeric operands, `div` and `pow` float ones; `eq`
///      and `ne` take any dtype, `lt le gt ge` numeric ones, and all comparisons give
///      `bool`; `and`, `or` need `bool`;
///    - `where(c, a, b)`: `c` is `bool`, `a` and `b` share a dtype, all three broadcast;
///    - `cast`: the operand's shape with dtype `to`;
///    - reductions (`sum mean max min`): axes in range and distinct (an empty list reduces
///      nothing, as in numpy); `sum`/`mean` need floats, `max`/`min` numbers; reducing an
///      axis of constant size 0 is an "empty reduction" error; `keepdims` keeps size-1 axes;
///    - `argmax`/`argmin`: one axis, numeric operand, non-empty axis, `i64` result;
///    - `matmul`: numeric operands of one dtype; rank-1 operands follow numpy; the inner
///      dimensions are equal; leading (batch) axes broadcast;
///    - `conv2d`, `conv_transpose2d`, `avg_pool2d`, `max_pool2d`: NCHW float operands with
///      constant spatial sizes (symbolic `N` and channel counts are fine), stride and groups
///      at least 1. `conv2d(x [N, C, H, W], w [O, C/g, KH, KW])` needs `g` to divide `C` and
///      `O` and gives `[N, O, (H + 2p - KH)/s + 1, ...]` (floor, `H + 2p >= KH`);
///      `conv_transpose2d(x [N, C, H, W], w [C, O/g, KH, KW])` needs `g` to divide `C` and
///      `output_padding < stride`, and gives `[N, O, (H - 1)s - 2p + KH + output_padding,
///      ...]` (at least 1); pools keep `[N, C]`, need `padding <= kernel / 2` and give
///      `(H + 2p - K)/s + 1`;
///    - `max_pool2d_grad(x, g)`: `g` has the type of `max_pool2d(x)`; the result is `x`'s type;
///    - `transpose`: `perm` is a permutation of `0..rank`;
///    - `concat`: same dtype and rank, equal dimensions except along `axis`, which add up;
///    - `slice`: `axis < rank`, `step >= 1`, `start <= end <= size`; the sliced axis must have
///      a constant size (start and end are constants, so a symbolic axis cannot be bounded);
///      the result size is `ceil((end - start) / step)`;
///    - `pad`: one `(before, after)` pair per axis, the value representable in the dtype;
///    - `gather(x, idx)`: integer `idx` of `x`'s rank, off-axis dimensions equal or both
///      constant with `idx <= x`; result `x`'s dtype with `idx`'s shape;
///    - `scatter_add(x, idx, v)`: numeric `x`, `idx` as for `gather`, `v` with `x`'s dtype and
///      `idx`'s shape; result `x`'s type;
///    - `topk_indices`: numeric operand, `1 <= k <= size` of a constant-size axis; `i64` with
///      that axis of size `k`; `one_hot(idx, n)`: integer `idx`, `n >= 1`, `f32` with a new
///      last axis of size `n`;
///    - `stop_gradient`: the operand's type; `straight_through(f, b)`: `f` and `b` have one
///      type, which is the result.
/// 4. If `given` is present it must equal the inferred type.
pub fn infer_type(op: &Op, operands: &[&TensorType], given: Option<&TensorType>) -> Result<TensorType, InferError> {
    check_arity(op, operands)?;
    if let Some(ty) = source::attribute_type(op, operands, given)? {
        return Ok(ty);
    }
    let inferred = match op {
        Op::Unary(u) => elementwise::unary(op, *u, operands[0])?,
        Op::Binary(b) => elementwise::binary(op, *b, operands[0], operands[1])?,
        Op::Where => elementwise::select(op, operands[0], operands[1], operands[2])?,
        Op::Cast { to } => operands[0].with_dtype(*to),
        Op::Reduce { op: r, axes, keepdims } => reduce::reduce(op, *r, axes, *keepdims, operands[0])?,
        Op::ArgReduce { axis, keepdims, .. } => reduce::arg_reduce(op, *axis, *keepdims, operands[0])?,
        Op::MatMul => linalg::matmul(op, operands[0], operands[1])?,
        Op::Conv2d { stride, padding, groups } => {
            linalg::conv2d(op, operands[0], operands[1], *stride, *padding, *groups)?
        }
        Op::ConvTranspose2d { stride, padding, output_padding, groups } => {
            linalg::conv_transpose2d(op, operands[0], operands[1], *stride, *padding, *output_padding, *groups)?
        }
        Op::Pool2d { kernel, stride, padding, .. } => linalg::pool2d(op, operands[0], *kernel, *stride, *padding)?,
        Op::MaxPool2dGrad { kernel, stride, padding } => {
            linalg::max_pool2d_grad(op, operands[0], operands[1], *kernel, *stride, *padding)?
        }
        Op::Transpose { perm } => shape::transpose(op, perm, operands[0])?,
        Op::Concat { axis } => shape::concat(op, *axis, operands)?,
        Op::Slice { axis, start, end, step } => shape::slice(op, *axis, *start, *end, *step, operands[0])?,
        Op::Pad { pads, value } => shape::pad(op, pads, *value, operands[0])?,
        Op::Gather { axis } => index::gather(op, *axis, operands[0], operands[1])?,
        Op::ScatterAdd { axis } => index::scatter_add(op, *axis, operands[0], operands[1], operands[2])?,
        Op::TopKIndices { k, axis } => index::topk_indices(op, *k, *axis, operands[0])?,
        Op::OneHot { n } => index::one_hot(op, *n, operands[0])?,
        Op::StopGradient => operands[0].clone(),
        Op::StraightThrough => {
            if operands[0] != operands[1] {
                return fail(op, format!("operand types differ: {} and {}", operands[0], operands[1]));
            }
            operands[0].clone()
        }
        // Attribute-typed ops were answered by `source::attribute_type`.
        Op::Input { .. }
        | Op::Param { .. }
        | Op::Const { .. }
        | Op::Full { .. }
        | Op::DimValue { .. }
        | Op::Iota { .. }
        | Op::RandomNormal { .. }
        | Op::RandomUniform { .. }
        | Op::Bernoulli { .. }
        | Op::Reshape
        | Op::BroadcastTo
        | Op::Conv2dWeightGrad { .. } => unreachable_attribute_op(op)?,
    };
    match given {
        Some(g) if *g != inferred => {
            fail(op, format!("declared type {g} differs from inferred type {inferred}{}", operand_list(operands)))
        }
        _ => Ok(inferred),
    }
}

/// `source::attribute_type` answers every attribute-typed op; reaching here means the two
/// lists disagree, which is reported rather than panicking.
fn unreachable_attribute_op(op: &Op) -> Result<TensorType, InferError> {
    fail(op, "internal error: result type is an attribute but was not checked")
}

fn check_arity(op: &Op, operands: &[&TensorType]) -> Result<(), InferError> {
    match op.arity() {
        Some(n) if operands.len() != n => {
            fail(op, format!("expected {n} operand{}, found {}{}", plural(n), operands.len(), operand_list(operands)))
        }
        None if operands.is_empty() => fail(op, "expected at least 1 operand, found 0"),
        _ => Ok(()),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `: f32[B], i64[B]` — appended to messages so they show what the op was given.
fn operand_list(operands: &[&TensorType]) -> String {
    if operands.is_empty() {
        return String::new();
    }
    let tys: Vec<String> = operands.iter().map(|t| t.to_string()).collect();
    format!(" (operands {})", tys.join(", "))
}

/// An error whose message starts with the op's mnemonic.
pub(crate) fn fail<T>(op: &Op, message: impl fmt::Display) -> Result<T, InferError> {
    Err(InferError { message: format!("{}: {message}", op.mnemonic()) })
}

pub(crate) fn is_numeric(d: DType) -> bool {
    d.is_float() || d.is_int()
}

/// `axis` is a valid axis of `ty`.
pub(crate) fn check_axis(op: &Op, axis: usize, ty: &TensorType) -> Result<(), InferError> {
    if axis >= ty.rank() {
        return fail(op, format!("axis {axis} out of range for {ty}"));
    }
    Ok(())
}

/// Two operands must share a dtype.
pub(crate) fn same_dtype(op: &Op, a: &TensorType, b: &TensorType) -> Result<(), InferError> {
    if a.dtype != b.dtype {
        return fail(op, format!("operand dtypes differ: {a} and {b}"));
    }
    Ok(())
}

/// A dimension known to be the constant 1.
pub(crate) fn is_one(d: &Dim) -> bool {
    d.as_const() == Some(1)
}

/// Checks that a scalar attribute (`const`, `full`, `pad` value) fits the dtype.
pub(crate) fn check_value(op: &Op, value: f64, dtype: DType) -> Result<(), InferError> {
    let ok = match dtype {
        d if d.is_float() => true,
        DType::Bool => value == 0.0 || value == 1.0,
        DType::I32 => value.fract() == 0.0 && value >= f64::from(i32::MIN) && value <= f64::from(i32::MAX),
        // 2^63 is exactly representable; every integral f64 below it fits an i64.
        _ => value.is_finite() && value.fract() == 0.0 && value >= -(2f64.powi(63)) && value < 2f64.powi(63),
    };
    if !ok {
        return fail(op, format!("value {value:?} is not representable in {dtype}"));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod test_util {
    //! A compact way to write types in tests: `ty("f32[B, 10]")`, `ty("i64[2*B]")`.

    use crate::dim::Dim;
    use crate::types::TensorType;
    use hg_abi::DType;

    pub fn dim(s: &str) -> Dim {
        let mut total = Dim::constant(0);
        for term in s.split('+') {
            let mut prod = Dim::constant(1);
            for factor in term.trim().split('*') {
                let f = factor.trim();
                let d = match f.parse::<i64>() {
                    Ok(n) => Dim::constant(n),
                    Err(_) => Dim::sym(f),
                };
                prod = prod.checked_mul(&d).unwrap();
            }
            total = total.checked_add(&prod).unwrap();
        }
        total
    }

    pub fn ty(s: &str) -> TensorType {
        let (d, rest) = s.split_once('[').unwrap();
        let body = rest.strip_suffix(']').unwrap();
        let shape = if body.trim().is_empty() { Vec::new() } else { body.split(',').map(dim).collect() };
        TensorType::new(DType::from_name(d).unwrap(), shape)
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::ty;
    use super::*;
    use crate::op::{BinaryOp, UnaryOp};

    #[test]
    fn arity_is_checked_first() {
        let a = ty("f32[B]");
        let err = infer_type(&Op::Binary(BinaryOp::Add), &[&a], None).unwrap_err();
        assert_eq!(err.message, "add: expected 2 operands, found 1 (operands f32[B])");
        let err = infer_type(&Op::Unary(UnaryOp::Exp), &[&a, &a], None).unwrap_err();
        assert_eq!(err.message, "exp: expected 1 operand, found 2 (operands f32[B], f32[B])");
        let err = infer_type(&Op::Concat { axis: 0 }, &[], None).unwrap_err();
        assert_eq!(err.message, "concat: expected at least 1 operand, found 0");
    }

    #[test]
    fn given_must_match_inferred() {
        let a = ty("f32[B, 3]");
        let ok = infer_type(&Op::StopGradient, &[&a], Some(&a)).unwrap();
        assert_eq!(ok, a);
        let err = infer_type(&Op::StopGradient, &[&a], Some(&ty("f32[B, 4]"))).unwrap_err();
        assert_eq!(
            err.message,
            "stop_gradient: declared type f32[B, 4] differs from inferred type f32[B, 3] (operands f32[B, 3])"
        );
    }

    #[test]
    fn cast_changes_dtype_only() {
        let a = ty("f32[B, 3]");
        assert_eq!(infer_type(&Op::Cast { to: DType::I64 }, &[&a], None).unwrap(), ty("i64[B, 3]"));
        assert!(infer_type(&Op::Cast { to: DType::I64 }, &[&a], Some(&ty("i32[B, 3]"))).is_err());
    }

    #[test]
    fn stop_gradient_and_straight_through() {
        let a = ty("f32[B, 3]");
        let b = ty("f32[B, 4]");
        assert_eq!(infer_type(&Op::StopGradient, &[&b], None).unwrap(), b);
        assert_eq!(infer_type(&Op::StraightThrough, &[&a, &a], None).unwrap(), a);
        let err = infer_type(&Op::StraightThrough, &[&a, &b], None).unwrap_err();
        assert_eq!(err.message, "straight_through: operand types differ: f32[B, 3] and f32[B, 4]");
    }

    #[test]
    fn values_must_fit_their_dtype() {
        let op = Op::Const { value: 0.0 };
        assert!(check_value(&op, 1.5, DType::F32).is_ok());
        assert!(check_value(&op, f64::NEG_INFINITY, DType::F32).is_ok());
        assert!(check_value(&op, 3.0, DType::I32).is_ok());
        assert!(check_value(&op, 3.5, DType::I32).is_err());
        assert!(check_value(&op, 3e10, DType::I32).is_err());
        assert!(check_value(&op, 3e10, DType::I64).is_ok());
        assert!(check_value(&op, f64::NAN, DType::I64).is_err());
        assert!(check_value(&op, 1.0, DType::Bool).is_ok());
        let err = check_value(&op, 2.0, DType::Bool).unwrap_err();
        assert_eq!(err.message, "const: value 2.0 is not representable in bool");
    }
}
