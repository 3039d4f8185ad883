//! Elementwise kernels: unary math, broadcasting binary ops, `where` and `cast`.
//!
//! Semantics follow PyTorch where numpy and PyTorch differ: `maximum`/`minimum` propagate NaN,
//! `round` rounds half to even, `softplus` is `log1p(exp(x))` with PyTorch's threshold (`x` for
//! `x > 20`), `gelu` is the exact erf form (computed as `x/2 · erfc(-x/√2)`, which equals
//! `x/2 · (1 + erf(x/√2))` but keeps its relative accuracy for very negative `x`). `sign` and
//! `relu` return NaN for NaN. Comparisons give 1.0 or 0.0 (NaN compares unequal to everything).
//! Integer operands are exact values in f64; the evaluator truncates and range-checks the
//! result, so integer `div` truncates toward zero, and division by zero is an error.

use super::buf::{Buf, KernelResult, broadcast_map, broadcast_shapes, num_elements};
use hg_ir::scalar::{bool_value, unary as unary_scalar_impl};
use hg_ir::{BinaryOp, UnaryOp};

/// A unary op on one value (`hg_ir::scalar::unary`, shared with every backend).
pub fn unary_scalar(op: UnaryOp, x: f64) -> f64 {
    unary_scalar_impl(op, x)
}

pub fn unary(op: UnaryOp, x: &Buf) -> KernelResult {
    Buf::collect(x.shape.clone(), x.data.iter().map(|&v| unary_scalar(op, v)))
}

pub fn binary_scalar(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Maximum => {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.max(b)
            }
        }
        BinaryOp::Minimum => {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.min(b)
            }
        }
        BinaryOp::Eq => bool_value(a == b),
        BinaryOp::Ne => bool_value(a != b),
        BinaryOp::Lt => bool_value(a < b),
        BinaryOp::Le => bool_value(a <= b),
        BinaryOp::Gt => bool_value(a > b),
        BinaryOp::Ge => bool_value(a >= b),
        BinaryOp::And => bool_value(a != 0.0 && b != 0.0),
        BinaryOp::Or => bool_value(a != 0.0 || b != 0.0),
    }
}

/// `a op b` with numpy broadcasting. `integer` says the operands are integers, for which
/// division by zero and negative powers are errors (as in PyTorch) instead of inf/NaN.
pub fn binary(op: BinaryOp, a: &Buf, b: &Buf, integer: bool) -> KernelResult {
    if integer {
        match op {
            BinaryOp::Div if b.data.contains(&0.0) => return Err("integer division by zero".into()),
            BinaryOp::Pow if b.data.iter().any(|&e| e < 0.0) => {
                return Err("integers cannot be raised to negative powers".into());
            }
            _ => {}
        }
    }
    let shape = broadcast_shapes(&a.shape, &b.shape)?;
    if a.shape == b.shape {
        Buf::collect(shape, a.data.iter().zip(&b.data).map(|(&x, &y)| binary_scalar(op, x, y)))
    } else if b.len() == 1 && b.rank() <= a.rank() {
        let y = b.data[0];
        Buf::collect(shape, a.data.iter().map(|&x| binary_scalar(op, x, y)))
    } else if a.len() == 1 && a.rank() <= b.rank() {
        let x = a.data[0];
        Buf::collect(shape, b.data.iter().map(|&y| binary_scalar(op, x, y)))
    } else {
        num_elements(&shape)?;
        let ma = broadcast_map(&a.shape, &shape)?;
        let mb = broadcast_map(&b.shape, &shape)?;
        Buf::collect(shape, ma.iter().zip(&mb).map(|(&i, &j)| binary_scalar(op, a.data[i], b.data[j])))
    }
}

/// `where(cond, a, b)`, the three operands broadcast together.
pub fn select(cond: &Buf, a: &Buf, b: &Buf) -> KernelResult {
    let shape = broadcast_shapes(&broadcast_shapes(&cond.shape, &a.shape)?, &b.shape)?;
    num_elements(&shape)?;
    let mc = broadcast_map(&cond.shape, &shape)?;
    let ma = broadcast_map(&a.shape, &shape)?;
    let mb = broadcast_map(&b.shape, &shape)?;
    Buf::collect(shape, (0..mc.len()).map(|i| if cond.data[mc[i]] != 0.0 { a.data[ma[i]] } else { b.data[mb[i]] }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hg_ir::scalar::{gelu, sigmoid, softplus};

    fn buf(shape: &[usize], data: &[f64]) -> Buf {
        Buf::new(shape.to_vec(), data.to_vec())
    }

    #[test]
    fn unary_values() {
        let u = |op, x| unary_scalar(op, x);
        assert_eq!(u(UnaryOp::Neg, 2.0), -2.0);
        assert_eq!(u(UnaryOp::Rsqrt, 4.0), 0.5);
        assert!(u(UnaryOp::Sqrt, -1.0).is_nan());
        assert!(u(UnaryOp::Log, -1.0).is_nan());
        assert_eq!(u(UnaryOp::Log, 0.0), f64::NEG_INFINITY);
        assert_eq!(u(UnaryOp::Abs, -3.5), 3.5);
        assert_eq!(u(UnaryOp::Sign, -3.5), -1.0);
        assert_eq!(u(UnaryOp::Sign, 0.0), 0.0);
        assert_eq!(u(UnaryOp::Sign, 7.0), 1.0);
        assert!(u(UnaryOp::Sign, f64::NAN).is_nan());
        assert_eq!(u(UnaryOp::Relu, -1.0), 0.0);
        assert_eq!(u(UnaryOp::Relu, 2.5), 2.5);
        assert!(u(UnaryOp::Relu, f64::NAN).is_nan());
        assert_eq!(u(UnaryOp::Floor, -1.5), -2.0);
        assert_eq!(u(UnaryOp::Not, 0.0), 1.0);
        assert_eq!(u(UnaryOp::Not, 1.0), 0.0);
        assert_eq!(u(UnaryOp::Exp, 0.0), 1.0);
        assert_eq!(u(UnaryOp::Tanh, 0.0), 0.0);
        assert_eq!(u(UnaryOp::Sin, 0.0), 0.0);
        assert_eq!(u(UnaryOp::Cos, 0.0), 1.0);
    }

    #[test]
    fn round_is_half_to_even() {
        let r: Vec<f64> =
            [0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].iter().map(|&x| unary_scalar(UnaryOp::Round, x)).collect();
        assert_eq!(r, vec![0.0, 2.0, 2.0, -0.0, -2.0, 2.0, 3.0]);
    }

    #[test]
    fn stable_activations_at_extremes() {
        assert_eq!(sigmoid(0.0), 0.5);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert!((sigmoid(-700.0) - (-700.0f64).exp()).abs() < 1e-310);
        assert_eq!(softplus(25.0), 25.0);
        assert_eq!(softplus(-1000.0), 0.0);
        assert!((softplus(0.0) - std::f64::consts::LN_2).abs() < 1e-16);
        assert!((softplus(-40.0) - (-40.0f64).exp()).abs() < 1e-30);
        assert_eq!(gelu(0.0), 0.0);
        assert_eq!(gelu(10.0), 10.0);
        // x · Φ(x) at x = -10 is about -7.6e-23: tiny but not zero. (The rounding of x/√2
        // alone moves the tail by ~1e-14 relative.)
        let g = gelu(-10.0);
        assert!(g < 0.0 && ((g + 7.619853024160593e-23) / g).abs() < 1e-13, "{g}");
        assert!((gelu(1.0) - 0.8413447460685429).abs() < 1e-15);
    }

    #[test]
    fn binary_broadcasts() {
        let a = buf(&[2, 1], &[1.0, 2.0]);
        let b = buf(&[3], &[10.0, 20.0, 30.0]);
        let c = binary(BinaryOp::Add, &a, &b, false).unwrap();
        assert_eq!(c.shape, vec![2, 3]);
        assert_eq!(c.data, vec![11.0, 21.0, 31.0, 12.0, 22.0, 32.0]);
        let s = binary(BinaryOp::Sub, &Buf::scalar(1.0), &b, false).unwrap();
        assert_eq!(s.data, vec![-9.0, -19.0, -29.0]);
        // A size-1 operand of higher rank still broadcasts the result's rank up.
        let one = buf(&[1, 1], &[2.0]);
        let p = binary(BinaryOp::Mul, &b, &one, false).unwrap();
        assert_eq!(p.shape, vec![1, 3]);
        assert_eq!(p.data, vec![20.0, 40.0, 60.0]);
        assert!(binary(BinaryOp::Add, &buf(&[2], &[1.0, 2.0]), &b, false).is_err());
        // An outer sum far beyond the interpreter's size limit is an error, not an abort.
        let col = Buf::new(vec![1 << 17, 1], vec![0.0; 1 << 17]);
        let row = Buf::new(vec![1, 1 << 17], vec![0.0; 1 << 17]);
        assert!(binary(BinaryOp::Add, &col, &row, false).unwrap_err().contains("limit"));
    }

    #[test]
    fn max_min_propagate_nan_and_comparisons_are_bools() {
        let a = buf(&[3], &[1.0, f64::NAN, 3.0]);
        let b = buf(&[3], &[2.0, 0.0, f64::NAN]);
        let mx = binary(BinaryOp::Maximum, &a, &b, false).unwrap();
        assert_eq!(mx.data[0], 2.0);
        assert!(mx.data[1].is_nan() && mx.data[2].is_nan());
        let mn = binary(BinaryOp::Minimum, &a, &b, false).unwrap();
        assert_eq!(mn.data[0], 1.0);
        assert_eq!(binary(BinaryOp::Lt, &a, &b, false).unwrap().data, vec![1.0, 0.0, 0.0]);
        assert_eq!(binary(BinaryOp::Ne, &a, &b, false).unwrap().data, vec![1.0, 1.0, 1.0]);
        assert_eq!(binary(BinaryOp::Ge, &a, &a, false).unwrap().data, vec![1.0, 0.0, 1.0]);
        let t = buf(&[4], &[0.0, 0.0, 1.0, 1.0]);
        let u = buf(&[4], &[0.0, 1.0, 0.0, 1.0]);
        assert_eq!(binary(BinaryOp::And, &t, &u, false).unwrap().data, vec![0.0, 0.0, 0.0, 1.0]);
        assert_eq!(binary(BinaryOp::Or, &t, &u, false).unwrap().data, vec![0.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn pow_and_integer_errors() {
        let a = buf(&[3], &[2.0, 4.0, -8.0]);
        let e = buf(&[3], &[3.0, 0.5, 1.0 / 3.0]);
        let p = binary(BinaryOp::Pow, &a, &e, false).unwrap();
        assert_eq!(p.data[0], 8.0);
        assert_eq!(p.data[1], 2.0);
        assert!(p.data[2].is_nan(), "negative base, fractional power");
        assert!(binary(BinaryOp::Div, &a, &buf(&[1], &[0.0]), true).unwrap_err().contains("division by zero"));
        assert!(binary(BinaryOp::Pow, &a, &buf(&[1], &[-1.0]), true).is_err());
        assert_eq!(binary(BinaryOp::Div, &a, &buf(&[1], &[0.0]), false).unwrap().data[0], f64::INFINITY);
    }

    #[test]
    fn where_broadcasts_all_three() {
        let c = buf(&[2, 1], &[1.0, 0.0]);
        let a = buf(&[3], &[1.0, 2.0, 3.0]);
        let b = Buf::scalar(-1.0);
        let w = select(&c, &a, &b).unwrap();
        assert_eq!(w.shape, vec![2, 3]);
        assert_eq!(w.data, vec![1.0, 2.0, 3.0, -1.0, -1.0, -1.0]);
        assert!(select(&buf(&[2], &[1.0, 0.0]), &a, &b).is_err());
    }
}
