//! Ops whose result type is an attribute: sources (`input param const full dim_value iota`),
//! random draws, and `reshape`, `broadcast_to`, `conv2d_weight_grad`.
//!
//! The caller declares the type; here it is required and checked as far as the op allows.
//! Other ops return `None` so the generic rules apply.

use super::{InferError, check_axis, check_value, fail, linalg, operand_list, shape};
use crate::op::Op;
use crate::types::TensorType;

/// `Some(type)` for attribute-typed ops (after checking), `None` for every other op.
pub(super) fn attribute_type(
    op: &Op,
    operands: &[&TensorType],
    given: Option<&TensorType>,
) -> Result<Option<TensorType>, InferError> {
    if !is_attribute_typed(op) {
        return Ok(None);
    }
    let Some(t) = given else {
        return fail(op, format!("result type must be declared{}", operand_list(operands)));
    };
    if t.shape.iter().any(|d| d.as_const().is_some_and(|n| n < 0)) {
        return fail(op, format!("declared type {t} has a negative dimension"));
    }
    match op {
        Op::Const { value } => {
            if t.rank() != 0 {
                return fail(op, format!("must be a scalar, declared {t}"));
            }
            check_value(op, *value, t.dtype)?;
        }
        Op::Full { value } => check_value(op, *value, t.dtype)?,
        Op::DimValue { .. } if t.rank() != 0 || !(t.dtype.is_int() || t.dtype.is_float()) => {
            return fail(op, format!("must be an integer or float scalar, declared {t}"));
        }
        Op::Iota { axis } => {
            if !t.dtype.is_int() {
                return fail(op, format!("must have an integer dtype, declared {t}"));
            }
            check_axis(op, *axis, t)?;
        }
        Op::RandomNormal { .. } => {
            need_float(op, t)?;
            random_operands(op, operands)?;
        }
        Op::RandomUniform { lo, hi, .. } => {
            need_float(op, t)?;
            random_operands(op, operands)?;
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return fail(op, format!("bounds lo={lo:?}, hi={hi:?} must be finite with lo < hi"));
            }
        }
        Op::Bernoulli { p, .. } => {
            need_float(op, t)?;
            random_operands(op, operands)?;
            if !(0.0..=1.0).contains(p) {
                return fail(op, format!("probability p={p:?} must be between 0 and 1"));
            }
        }
        Op::Reshape => shape::reshape(op, operands[0], t)?,
        Op::BroadcastTo => shape::broadcast_to(op, operands[0], t)?,
        Op::Conv2dWeightGrad { stride, padding, groups } => {
            linalg::conv2d_weight_grad(op, operands[0], operands[1], t, *stride, *padding, *groups)?
        }
        // `input` and `param` take any type.
        _ => {}
    }
    Ok(Some(t.clone()))
}

/// Ops whose result type cannot be computed from their operands alone.
pub fn is_attribute_typed(op: &Op) -> bool {
    matches!(
        op,
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
            | Op::Conv2dWeightGrad { .. }
    )
}

/// The `(seed, step, offset)` operands of a random draw: i64 scalars.
fn random_operands(op: &Op, operands: &[&TensorType]) -> Result<(), InferError> {
    const ROLES: [&str; 3] = ["seed", "step", "offset"];
    if operands.len() != ROLES.len() {
        return fail(op, format!("takes 3 operands (seed, step, offset){}", operand_list(operands)));
    }
    for (role, t) in ROLES.iter().zip(operands) {
        if t.rank() != 0 || t.dtype != crate::DType::I64 {
            return fail(op, format!("the {role} operand must be an i64 scalar, it is {t}"));
        }
    }
    Ok(())
}

fn need_float(op: &Op, t: &TensorType) -> Result<(), InferError> {
    if !t.dtype.is_float() {
        return fail(op, format!("must have a float dtype, declared {t}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::infer_type;
    use super::super::test_util::ty;
    use crate::dim::Dim;
    use crate::op::Op;

    fn src(op: &Op, given: Option<&str>) -> Result<String, String> {
        let given = given.map(ty);
        infer_type(op, &[], given.as_ref()).map(|t| t.to_string()).map_err(|e| e.message)
    }

    #[test]
    fn sources_need_a_declared_type() {
        let ops = [
            Op::Input { name: "x".into() },
            Op::Param { name: "w".into() },
            Op::Const { value: 1.0 },
            Op::Full { value: 1.0 },
            Op::DimValue { dim: Dim::batch() },
            Op::Iota { axis: 0 },
        ];
        for op in &ops {
            let err = src(op, None).unwrap_err();
            assert_eq!(err, format!("{}: result type must be declared", op.mnemonic()));
        }
        assert_eq!(src(&Op::Input { name: "x".into() }, Some("f32[B, 784]")).unwrap(), "f32[B, 784]");
        assert_eq!(src(&Op::Param { name: "w".into() }, Some("bf16[3]")).unwrap(), "bf16[3]");
        assert_eq!(
            src(&Op::Input { name: "x".into() }, Some("f32[B, -3]")).unwrap_err(),
            "input: declared type f32[B, -3] has a negative dimension"
        );
    }

    #[test]
    fn const_and_full() {
        assert_eq!(src(&Op::Const { value: 2.5 }, Some("f32[]")).unwrap(), "f32[]");
        assert_eq!(
            src(&Op::Const { value: 2.5 }, Some("f32[3]")).unwrap_err(),
            "const: must be a scalar, declared f32[3]"
        );
        assert_eq!(
            src(&Op::Const { value: 2.5 }, Some("i64[]")).unwrap_err(),
            "const: value 2.5 is not representable in i64"
        );
        assert_eq!(src(&Op::Full { value: 1.0 }, Some("bool[B, 2]")).unwrap(), "bool[B, 2]");
        assert!(src(&Op::Full { value: -1.0 }, Some("bool[B, 2]")).is_err());
    }

    #[test]
    fn dim_value_and_iota() {
        let dv = Op::DimValue { dim: Dim::batch() };
        assert_eq!(src(&dv, Some("i64[]")).unwrap(), "i64[]");
        assert_eq!(src(&dv, Some("f32[]")).unwrap(), "f32[]");
        assert_eq!(
            src(&dv, Some("bool[]")).unwrap_err(),
            "dim_value: must be an integer or float scalar, declared bool[]"
        );
        assert!(src(&dv, Some("i64[1]")).is_err());
        assert_eq!(src(&Op::Iota { axis: 1 }, Some("i64[B, 10]")).unwrap(), "i64[B, 10]");
        assert_eq!(
            src(&Op::Iota { axis: 1 }, Some("f32[B, 10]")).unwrap_err(),
            "iota: must have an integer dtype, declared f32[B, 10]"
        );
        assert_eq!(
            src(&Op::Iota { axis: 2 }, Some("i32[B, 10]")).unwrap_err(),
            "iota: axis 2 out of range for i32[B, 10]"
        );
    }

    /// A random op with its `(seed, step, offset)` operands.
    fn rnd(op: &Op, given: &str) -> Result<String, String> {
        let key = ty("i64[]");
        infer_type(op, &[&key, &key, &key], Some(&ty(given))).map(|t| t.to_string()).map_err(|e| e.message)
    }

    #[test]
    fn random_ops() {
        assert_eq!(rnd(&Op::RandomNormal { site: 1 }, "f32[B, 32]").unwrap(), "f32[B, 32]");
        assert_eq!(
            rnd(&Op::RandomNormal { site: 1 }, "i32[B, 32]").unwrap_err(),
            "random_normal: must have a float dtype, declared i32[B, 32]"
        );
        let u = Op::RandomUniform { site: 2, lo: 1.0, hi: 1.0 };
        assert_eq!(rnd(&u, "f32[3]").unwrap_err(), "random_uniform: bounds lo=1.0, hi=1.0 must be finite with lo < hi");
        let b = Op::Bernoulli { site: 3, p: 1.5 };
        assert_eq!(rnd(&b, "f32[3]").unwrap_err(), "bernoulli: probability p=1.5 must be between 0 and 1");
        assert!(rnd(&Op::Bernoulli { site: 3, p: 1.0 }, "f32[3]").is_ok());
        assert!(rnd(&Op::Bernoulli { site: 3, p: f64::NAN }, "f32[3]").is_err());
        // The key and counter operands are i64 scalars, all three of them.
        assert_eq!(
            src(&Op::RandomNormal { site: 1 }, Some("f32[3]")).unwrap_err(),
            "random_normal: expected 3 operands, found 0"
        );
        let (seed, step, offset) = (ty("i32[]"), ty("i64[]"), ty("i64[]"));
        assert_eq!(
            infer_type(&Op::RandomNormal { site: 1 }, &[&seed, &step, &offset], Some(&ty("f32[3]")))
                .unwrap_err()
                .message,
            "random_normal: the seed operand must be an i64 scalar, it is i32[]"
        );
    }
}
