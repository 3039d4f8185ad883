//! Elementwise built-ins and gradient control: unary math, `maximum`/`minimum`/`clamp`,
//! `where`, `cast`, `identity`, `stop_gradient`, `straight_through`.

use super::args::{BoundArgs, Slot, req};
use crate::expand::ctx::{Ctx, EResult, Stop};
use crate::expand::error::{ExpandError, codes};
use crate::expand::eval::as_tensor;
use crate::expand::value::Value;
use hg_dsl::ast::Span;
use hg_ir::{BinaryOp, DType, Op, UnaryOp};

/// `Unary(op)` on a tensor; a number folds to a float at compile time (except `gelu`, whose
/// exact form the scalar folder does not have).
fn unary(ctx: &mut Ctx, op: UnaryOp, a: &BoundArgs, span: Span) -> EResult<Value> {
    let (v, vs) = a.req(ctx, 0, span)?;
    match v {
        Value::Tensor(t) => Ok(Value::Tensor(ctx.add(Op::Unary(op), &[*t], span)?)),
        Value::Int(_) | Value::Float(_) if op != UnaryOp::Gelu => {
            Ok(Value::Float(crate::interp::unary_scalar(op, v.as_f64().ok_or(Stop)?)))
        }
        other => Err(ctx.error(ExpandError::new(
            codes::WRONG_KIND,
            vs,
            format!("`{}` expects a tensor, found {}", a.name(), other.kind()),
        ))),
    }
}

macro_rules! unary_rules {
    ($($name:ident => $op:ident),* $(,)?) => {$(
        #[doc = concat!("`Unary(", stringify!($op), ")`, see [`unary`].")]
        pub(super) fn $name(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
            unary(ctx, UnaryOp::$op, a, span)
        }
    )*};
}

unary_rules! {
    exp => Exp, log => Log, sqrt => Sqrt, rsqrt => Rsqrt, abs => Abs, neg => Neg, sign => Sign,
    tanh => Tanh, sigmoid => Sigmoid, relu => Relu, gelu => Gelu, softplus => Softplus,
    sin => Sin, cos => Cos, floor => Floor, round => Round,
}

/// No node: the tensor itself.
pub(super) fn identity(ctx: &mut Ctx, a: &BoundArgs, _span: Span) -> EResult<Value> {
    Ok(Value::Tensor(a.tensor(ctx, 0)?))
}

/// `StopGradient`.
pub(super) fn stop_gradient(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let x = a.tensor(ctx, 0)?;
    Ok(Value::Tensor(ctx.add(Op::StopGradient, &[x], span)?))
}

/// `StraightThrough(forward, backward)`.
pub(super) fn straight_through(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let (f, b) = (a.tensor(ctx, 0)?, a.tensor(ctx, 1)?);
    Ok(Value::Tensor(ctx.add(Op::StraightThrough, &[f, b], span)?))
}

/// `Binary(Maximum)`, see [`binary`].
pub(super) fn maximum(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    binary(ctx, BinaryOp::Maximum, a.slot(0), a.slot(1), span)
}

/// `Binary(Minimum)`, see [`binary`].
pub(super) fn minimum(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    binary(ctx, BinaryOp::Minimum, a.slot(0), a.slot(1), span)
}

/// `Binary(Maximum)` with `lo`, then `Binary(Minimum)` with `hi`.
pub(super) fn clamp(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let lower = binary(ctx, BinaryOp::Maximum, a.slot(0), a.slot(1), span)?;
    let lower_slot = Some((lower, span));
    binary(ctx, BinaryOp::Minimum, &lower_slot, a.slot(2), span)
}

/// `where`: `Where(cond, a, b)`, numbers becoming constants of the other branch's dtype.
pub(super) fn select(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let c = a.tensor(ctx, 0)?;
    let dtype = match (a.slot(1), a.slot(2)) {
        (Some((Value::Tensor(t), _)), _) | (_, Some((Value::Tensor(t), _))) => ctx.ty(*t).dtype,
        _ => DType::F32,
    };
    let (av, asp) = a.req(ctx, 1, span)?;
    let x = as_tensor(ctx, av, dtype, asp)?;
    let (bv, bsp) = a.req(ctx, 2, span)?;
    let y = as_tensor(ctx, bv, dtype, bsp)?;
    Ok(Value::Tensor(ctx.add(Op::Where, &[c, x, y], span)?))
}

/// `Cast { to }`, or no node when the tensor already has that dtype.
pub(super) fn cast(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let x = a.tensor(ctx, 0)?;
    let to = a.dtype(ctx, 1, DType::F32)?;
    if ctx.ty(x).dtype == to {
        return Ok(Value::Tensor(x));
    }
    Ok(Value::Tensor(ctx.add(Op::Cast { to }, &[x], span)?))
}

/// Applies a binary tensor operation with the same coercions as the operators; two numbers
/// fold at compile time.
fn binary(ctx: &mut Ctx, op: BinaryOp, a: &Slot, b: &Slot, span: Span) -> EResult<Value> {
    let (av, aspan) = req(ctx, a, span)?;
    let (bv, bspan) = req(ctx, b, span)?;
    let dtype = match (av, bv) {
        (Value::Tensor(t), _) | (_, Value::Tensor(t)) => ctx.ty(*t).dtype,
        _ => {
            let (x, y) = (av.as_f64(), bv.as_f64());
            return match (x, y, op) {
                (Some(x), Some(y), BinaryOp::Maximum) => Ok(Value::Float(x.max(y))),
                (Some(x), Some(y), BinaryOp::Minimum) => Ok(Value::Float(x.min(y))),
                _ => Err(ctx.error(ExpandError::new(
                    codes::WRONG_KIND,
                    span,
                    format!("`{}` needs a tensor operand", op.name()),
                ))),
            };
        }
    };
    let x = as_tensor(ctx, av, dtype, aspan)?;
    let y = as_tensor(ctx, bv, dtype, bspan)?;
    Ok(Value::Tensor(ctx.add(Op::Binary(op), &[x, y], span)?))
}
