//! Elementwise rules: unary ops, binary ops with numpy broadcasting, and `where`.
//!
//! Broadcasting aligns axes on the right; two dimensions combine when they are equal (as
//! normal forms) or one is the constant 1. A symbolic dimension never broadcasts against a
//! different one, even if the symbols could be 1 at run time.

use super::{InferError, fail, is_numeric, is_one, same_dtype};
use crate::op::{BinaryOp, Op, UnaryOp};
use crate::types::{Shape, TensorType};
use hg_abi::DType;

pub(super) fn unary(op: &Op, u: UnaryOp, x: &TensorType) -> Result<TensorType, InferError> {
    let (ok, needs) = match u {
        UnaryOp::Not => (x.dtype == DType::Bool, "a bool"),
        UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign => (is_numeric(x.dtype), "a numeric"),
        _ => (x.dtype.is_float(), "a float"),
    };
    if !ok {
        return fail(op, format!("needs {needs} operand, found {x}"));
    }
    Ok(x.clone())
}

pub(super) fn binary(op: &Op, b: BinaryOp, x: &TensorType, y: &TensorType) -> Result<TensorType, InferError> {
    same_dtype(op, x, y)?;
    let d = x.dtype;
    let (ok, needs) = match b {
        BinaryOp::And | BinaryOp::Or => (d == DType::Bool, "bool"),
        BinaryOp::Eq | BinaryOp::Ne => (true, ""),
        BinaryOp::Div | BinaryOp::Pow => (d.is_float(), "float"),
        _ => (is_numeric(d), "numeric"),
    };
    if !ok {
        return fail(op, format!("needs {needs} operands, found {x} and {y}"));
    }
    let shape = broadcast(op, &[x, y])?;
    let dtype = if b.is_comparison() { DType::Bool } else { d };
    Ok(TensorType::new(dtype, shape))
}

/// `where(cond, a, b)`.
pub(super) fn select(op: &Op, c: &TensorType, a: &TensorType, b: &TensorType) -> Result<TensorType, InferError> {
    if c.dtype != DType::Bool {
        return fail(op, format!("condition must be bool, found {c}"));
    }
    same_dtype(op, a, b)?;
    let shape = broadcast(op, &[c, a, b])?;
    Ok(TensorType::new(a.dtype, shape))
}

/// The numpy broadcast of several shapes.
pub(crate) fn broadcast(op: &Op, tys: &[&TensorType]) -> Result<Shape, InferError> {
    let rank = tys.iter().map(|t| t.rank()).max().unwrap_or(0);
    let mut out = Shape::with_capacity(rank);
    for axis in 0..rank {
        let mut cur: Option<&crate::dim::Dim> = None;
        for t in tys {
            // Axis `axis` of the result is axis `axis - (rank - t.rank())` of `t`, if any.
            let Some(i) = (axis + t.rank()).checked_sub(rank) else {
                continue;
            };
            let d = &t.shape[i];
            match cur {
                None => cur = Some(d),
                Some(c) if c == d || is_one(d) => {}
                Some(c) if is_one(c) => cur = Some(d),
                Some(c) => {
                    let names: Vec<String> = tys.iter().map(|t| t.to_string()).collect();
                    let list = match names.split_last() {
                        Some((last, rest)) if !rest.is_empty() => {
                            format!("{} and {last}", rest.join(", "))
                        }
                        _ => names.join(""),
                    };
                    return fail(op, format!("shapes {list} do not broadcast (axis {axis}: {c} vs {d})"));
                }
            }
        }
        out.push(cur.cloned().unwrap_or_else(|| crate::dim::Dim::constant(1)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::infer_type;
    use super::super::test_util::ty;
    use crate::op::{BinaryOp, Op, UnaryOp};

    fn bin(b: BinaryOp, x: &str, y: &str) -> Result<String, String> {
        infer_type(&Op::Binary(b), &[&ty(x), &ty(y)], None).map(|t| t.to_string()).map_err(|e| e.message)
    }

    fn un(u: UnaryOp, x: &str) -> Result<String, String> {
        infer_type(&Op::Unary(u), &[&ty(x)], None).map(|t| t.to_string()).map_err(|e| e.message)
    }

    #[test]
    fn binary_broadcasts_symbolic_shapes() {
        assert_eq!(bin(BinaryOp::Add, "f32[B, 10]", "f32[10]").unwrap(), "f32[B, 10]");
        assert_eq!(bin(BinaryOp::Mul, "f32[B, 1]", "f32[1, 7]").unwrap(), "f32[B, 7]");
        assert_eq!(bin(BinaryOp::Sub, "f32[]", "f32[B, 2*B]").unwrap(), "f32[B, 2*B]");
        assert_eq!(bin(BinaryOp::Add, "f32[1]", "f32[B]").unwrap(), "f32[B]");
        assert_eq!(bin(BinaryOp::Add, "i32[B]", "i32[B]").unwrap(), "i32[B]");
        assert_eq!(
            bin(BinaryOp::Add, "f32[B, 10]", "f32[B, 12]").unwrap_err(),
            "add: shapes f32[B, 10] and f32[B, 12] do not broadcast (axis 1: 10 vs 12)"
        );
        assert_eq!(
            bin(BinaryOp::Add, "f32[B]", "f32[D]").unwrap_err(),
            "add: shapes f32[B] and f32[D] do not broadcast (axis 0: B vs D)"
        );
    }

    #[test]
    fn binary_dtype_rules() {
        assert_eq!(
            bin(BinaryOp::Add, "f32[B]", "i32[B]").unwrap_err(),
            "add: operand dtypes differ: f32[B] and i32[B]"
        );
        assert_eq!(
            bin(BinaryOp::Div, "i32[B]", "i32[B]").unwrap_err(),
            "div: needs float operands, found i32[B] and i32[B]"
        );
        assert!(bin(BinaryOp::Pow, "f64[3]", "f64[]").is_ok());
        assert!(bin(BinaryOp::Maximum, "i64[3]", "i64[]").is_ok());
        assert!(bin(BinaryOp::Minimum, "bool[3]", "bool[]").is_err());
        assert_eq!(bin(BinaryOp::Lt, "f32[B, 3]", "f32[]").unwrap(), "bool[B, 3]");
        assert_eq!(bin(BinaryOp::Eq, "bool[3]", "bool[3]").unwrap(), "bool[3]");
        assert_eq!(
            bin(BinaryOp::Ge, "bool[3]", "bool[3]").unwrap_err(),
            "ge: needs numeric operands, found bool[3] and bool[3]"
        );
        assert_eq!(bin(BinaryOp::And, "bool[B]", "bool[]").unwrap(), "bool[B]");
        assert_eq!(
            bin(BinaryOp::Or, "f32[B]", "f32[B]").unwrap_err(),
            "or: needs bool operands, found f32[B] and f32[B]"
        );
    }

    #[test]
    fn unary_dtype_rules() {
        for u in UnaryOp::ALL {
            let float = un(u, "f32[B, 3]");
            let int = un(u, "i32[B, 3]");
            let boolean = un(u, "bool[B, 3]");
            match u {
                UnaryOp::Not => {
                    assert_eq!(boolean.unwrap(), "bool[B, 3]");
                    assert_eq!(float.unwrap_err(), "not: needs a bool operand, found f32[B, 3]");
                    assert!(int.is_err());
                }
                UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign => {
                    assert_eq!(float.unwrap(), "f32[B, 3]");
                    assert_eq!(int.unwrap(), "i32[B, 3]");
                    assert!(boolean.is_err(), "{u:?}");
                }
                _ => {
                    assert_eq!(float.unwrap(), "f32[B, 3]");
                    let msg = int.unwrap_err();
                    assert_eq!(msg, format!("{}: needs a float operand, found i32[B, 3]", u.name()));
                    assert!(boolean.is_err());
                }
            }
        }
    }

    #[test]
    fn where_broadcasts_all_three() {
        let r = infer_type(&Op::Where, &[&ty("bool[B, 1]"), &ty("f32[1, 5]"), &ty("f32[]")], None).unwrap();
        assert_eq!(r.to_string(), "f32[B, 5]");
        let err = infer_type(&Op::Where, &[&ty("f32[B]"), &ty("f32[B]"), &ty("f32[B]")], None).unwrap_err();
        assert_eq!(err.message, "where: condition must be bool, found f32[B]");
        let err = infer_type(&Op::Where, &[&ty("bool[B]"), &ty("f32[B]"), &ty("f64[B]")], None).unwrap_err();
        assert_eq!(err.message, "where: operand dtypes differ: f32[B] and f64[B]");
        let err = infer_type(&Op::Where, &[&ty("bool[3]"), &ty("f32[4]"), &ty("f32[4]")], None).unwrap_err();
        assert_eq!(err.message, "where: shapes bool[3], f32[4] and f32[4] do not broadcast (axis 0: 3 vs 4)");
    }
}
