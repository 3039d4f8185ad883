//! Gradients of elementwise ops (unary, binary with numpy broadcasting, `where`, `cast`) and of
//! `straight_through`.
//!
//! Binary rules compute each operand's gradient at the broadcast result shape, then sum it back
//! to the operand's shape (`Emit::sum_to`). Conventions at kinks follow PyTorch: `relu'(0) = 0`,
//! `abs'(0) = 0`, ties of `maximum`/`minimum` split the gradient in half, and `pow` masks the
//! `0 * inf` cases exactly as `torch.pow`'s backward does.

use super::first;
use crate::autodiff::AutodiffError;
use crate::autodiff::emit::Emit;
use crate::autodiff::rules::{Grads, VjpArgs};
use hg_ir::{BinaryOp, Op, UnaryOp, ValueId};

type R = Result<Grads, AutodiffError>;

pub(crate) fn neg(e: &mut Emit, a: &VjpArgs) -> R {
    Ok(first(Some(e.neg(a.g)?)))
}

/// `d exp(x) = exp(x)`: reuses the forward value.
pub(crate) fn exp(e: &mut Emit, a: &VjpArgs) -> R {
    Ok(first(Some(e.mul(a.g, a.out)?)))
}

pub(crate) fn log(e: &mut Emit, a: &VjpArgs) -> R {
    Ok(first(Some(e.div(a.g, a.x(0))?)))
}

/// `d sqrt(x) = 0.5 / sqrt(x)`.
pub(crate) fn sqrt(e: &mut Emit, a: &VjpArgs) -> R {
    let q = e.div(a.g, a.out)?;
    Ok(first(Some(e.scale(q, 0.5)?)))
}

/// `d x^(-1/2) = -0.5 x^(-3/2) = -0.5 y^3`.
pub(crate) fn rsqrt(e: &mut Emit, a: &VjpArgs) -> R {
    let y2 = e.mul(a.out, a.out)?;
    let y3 = e.mul(y2, a.out)?;
    let t = e.mul(a.g, y3)?;
    Ok(first(Some(e.scale(t, -0.5)?)))
}

/// `d |x| = sign(x)`, which is 0 at 0 as in PyTorch.
pub(crate) fn abs(e: &mut Emit, a: &VjpArgs) -> R {
    let s = e.unary(UnaryOp::Sign, a.x(0))?;
    Ok(first(Some(e.mul(a.g, s)?)))
}

/// `d tanh(x) = 1 - y^2`.
pub(crate) fn tanh(e: &mut Emit, a: &VjpArgs) -> R {
    let one = e.scalar(1.0, e.dtype(a.out))?;
    let y2 = e.mul(a.out, a.out)?;
    let d = e.sub(one, y2)?;
    Ok(first(Some(e.mul(a.g, d)?)))
}

/// `d sigmoid(x) = y (1 - y)`.
pub(crate) fn sigmoid(e: &mut Emit, a: &VjpArgs) -> R {
    let one = e.scalar(1.0, e.dtype(a.out))?;
    let c = e.sub(one, a.out)?;
    let d = e.mul(a.out, c)?;
    Ok(first(Some(e.mul(a.g, d)?)))
}

/// `relu'(x) = [x > 0]`.
pub(crate) fn relu(e: &mut Emit, a: &VjpArgs) -> R {
    let zero = e.scalar(0.0, e.dtype(a.g))?;
    let pos = e.binary(BinaryOp::Gt, a.x(0), zero)?;
    Ok(first(Some(e.select(pos, a.g, zero)?)))
}

/// Exact (erf) GELU, `y = x Φ(x)`: `y' = Φ(x) + x φ(x)` with `φ(x) = exp(-x²/2) / sqrt(2π)`.
/// The op set has no `erf`, so `Φ(x)` is recovered as `y / x`, which is exact to rounding
/// for every `x ≠ 0` (y is computed as `x Φ(x)`); at `x = 0`, `Φ = 1/2`. The division reads a
/// safe denominator so the unselected branch never holds a NaN.
pub(crate) fn gelu(e: &mut Emit, a: &VjpArgs) -> R {
    let x = a.x(0);
    let dt = e.dtype(x);
    let zero = e.scalar(0.0, dt)?;
    let one = e.scalar(1.0, dt)?;
    let half = e.scalar(0.5, dt)?;
    let is_zero = e.binary(BinaryOp::Eq, x, zero)?;
    let safe_x = e.select(is_zero, one, x)?;
    let ratio = e.div(a.out, safe_x)?;
    let cdf = e.select(is_zero, half, ratio)?;
    let x2 = e.mul(x, x)?;
    let expo = e.scale(x2, -0.5)?;
    let ex = e.unary(UnaryOp::Exp, expo)?;
    let pdf = e.scale(ex, 1.0 / (2.0 * std::f64::consts::PI).sqrt())?;
    let xpdf = e.mul(x, pdf)?;
    let d = e.add(cdf, xpdf)?;
    Ok(first(Some(e.mul(a.g, d)?)))
}

/// `d softplus(x) = sigmoid(x)`.
pub(crate) fn softplus(e: &mut Emit, a: &VjpArgs) -> R {
    let s = e.unary(UnaryOp::Sigmoid, a.x(0))?;
    Ok(first(Some(e.mul(a.g, s)?)))
}

pub(crate) fn sin(e: &mut Emit, a: &VjpArgs) -> R {
    let c = e.unary(UnaryOp::Cos, a.x(0))?;
    Ok(first(Some(e.mul(a.g, c)?)))
}

pub(crate) fn cos(e: &mut Emit, a: &VjpArgs) -> R {
    let s = e.unary(UnaryOp::Sin, a.x(0))?;
    let t = e.mul(a.g, s)?;
    Ok(first(Some(e.neg(t)?)))
}

/// Applies `f` to build each needed operand's gradient at the result shape, then sums it back
/// to that operand's shape.
fn per_operand(e: &mut Emit, a: &VjpArgs, mut f: impl FnMut(&mut Emit, usize) -> Result<ValueId, AutodiffError>) -> R {
    let mut out = Vec::with_capacity(a.operands.len());
    for (i, &x) in a.operands.iter().enumerate() {
        if !a.needs[i] {
            out.push(None);
            continue;
        }
        let g = f(e, i)?;
        let shape = e.shape(x);
        out.push(Some(e.sum_to(g, &shape)?));
    }
    Ok(out)
}

pub(crate) fn add(e: &mut Emit, a: &VjpArgs) -> R {
    per_operand(e, a, |_, _| Ok(a.g))
}

pub(crate) fn sub(e: &mut Emit, a: &VjpArgs) -> R {
    per_operand(e, a, |e, i| if i == 0 { Ok(a.g) } else { e.neg(a.g) })
}

pub(crate) fn mul(e: &mut Emit, a: &VjpArgs) -> R {
    per_operand(e, a, |e, i| e.mul(a.g, a.x(1 - i)))
}

/// `d(a/b)/da = 1/b`, `d(a/b)/db = -a/b² = -y/b`.
pub(crate) fn div(e: &mut Emit, a: &VjpArgs) -> R {
    per_operand(e, a, |e, i| {
        if i == 0 {
            e.div(a.g, a.x(1))
        } else {
            let q = e.div(a.out, a.x(1))?;
            let t = e.mul(a.g, q)?;
            e.neg(t)
        }
    })
}

/// As `torch.pow`: `d/da = b a^(b-1)`, zero where `b == 0`; `d/db = y ln a`, zero where
/// `a == 0` and `b >= 0`. A constant non-zero exponent (the common `x ** 2`) needs no mask.
pub(crate) fn pow(e: &mut Emit, a: &VjpArgs) -> R {
    let (base, expo) = (a.x(0), a.x(1));
    let dt = e.dtype(a.g);
    let const_expo = match e.f.op(expo) {
        Op::Const { value } => Some(*value),
        _ => None,
    };
    per_operand(e, a, |e, i| {
        let zero = e.scalar(0.0, dt)?;
        if i == 0 {
            let expo_m1 = match const_expo {
                Some(c) => e.scalar(c - 1.0, dt)?,
                None => {
                    let one = e.scalar(1.0, dt)?;
                    e.sub(expo, one)?
                }
            };
            let p = e.binary(BinaryOp::Pow, base, expo_m1)?;
            let d = e.mul(expo, p)?;
            let t = e.mul(a.g, d)?;
            if const_expo.is_some_and(|c| c != 0.0) {
                return Ok(t);
            }
            let expo_zero = e.binary(BinaryOp::Eq, expo, zero)?;
            e.select(expo_zero, zero, t)
        } else {
            let ln = e.unary(UnaryOp::Log, base)?;
            let d = e.mul(a.out, ln)?;
            let t = e.mul(a.g, d)?;
            let base_zero = e.binary(BinaryOp::Eq, base, zero)?;
            let expo_nonneg = e.binary(BinaryOp::Ge, expo, zero)?;
            let mask = e.binary(BinaryOp::And, base_zero, expo_nonneg)?;
            e.select(mask, zero, t)
        }
    })
}

/// As `torch.maximum`/`torch.minimum`: the winner takes the gradient, ties split it in half.
fn extremum(e: &mut Emit, a: &VjpArgs, wins: BinaryOp) -> R {
    let dt = e.dtype(a.g);
    per_operand(e, a, |e, i| {
        let (me, other) = (a.x(i), a.x(1 - i));
        let one = e.scalar(1.0, dt)?;
        let half = e.scalar(0.5, dt)?;
        let zero = e.scalar(0.0, dt)?;
        let win = e.binary(wins, me, other)?;
        let tie = e.binary(BinaryOp::Eq, me, other)?;
        let tie_w = e.select(tie, half, zero)?;
        let w = e.select(win, one, tie_w)?;
        e.mul(a.g, w)
    })
}

pub(crate) fn maximum(e: &mut Emit, a: &VjpArgs) -> R {
    extremum(e, a, BinaryOp::Gt)
}

pub(crate) fn minimum(e: &mut Emit, a: &VjpArgs) -> R {
    extremum(e, a, BinaryOp::Lt)
}

/// `where(c, a, b)`: the gradient goes to `a` where `c` holds and to `b` elsewhere; `c` gets
/// none (the table blocks position 0).
pub(crate) fn select(e: &mut Emit, a: &VjpArgs) -> R {
    let zero = e.scalar(0.0, e.dtype(a.g))?;
    let cond = a.x(0);
    per_operand(e, a, |e, i| match i {
        1 => e.select(cond, a.g, zero),
        _ => e.select(cond, zero, a.g),
    })
}

/// A float-to-float cast passes the gradient through, cast back to the operand's dtype. (Casts
/// from or to non-float dtypes never get here: only float values carry cotangents.)
pub(crate) fn cast(e: &mut Emit, a: &VjpArgs) -> R {
    let to = e.dtype(a.x(0));
    Ok(first(Some(e.cast(a.g, to)?)))
}

/// `straight_through(forward, backward)`: the value is `forward`'s, the gradient is
/// `backward`'s (both have one type).
pub(crate) fn straight_through(_e: &mut Emit, a: &VjpArgs) -> R {
    Ok(vec![None, Some(a.g)])
}
