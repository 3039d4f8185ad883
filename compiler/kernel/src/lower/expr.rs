//! A graph value at a multi-index, as kernel IR: a load when it is stored, otherwise its
//! computation from its operands at the indices the op maps to (broadcasting, transposes,
//! slices and unit reshapes are index arithmetic, so they cost nothing).

use super::builder::{KernelBuilder, MemoKey};
use super::shape::{self, constant};
use super::{LowerError, Lowering, Repr};
use crate::ir::{Expr, Index, Scalar, Val};
use hg_abi::plan::{Affine, RandomKind};
use hg_ir::{BinaryOp, Op, ValueId};

/// The kernel value of `v` at `idx` (one index per axis of `v`).
pub fn value_at(lw: &Lowering, kb: &mut KernelBuilder, v: ValueId, idx: &[Index]) -> Result<Val, LowerError> {
    let key = MemoKey::Node(v.index() as u32, idx.to_vec());
    if let Some(val) = kb.lookup(&key) {
        return Ok(val);
    }
    let val = compute(lw, kb, v, idx)?;
    kb.remember(key, val);
    Ok(val)
}

fn compute(lw: &Lowering, kb: &mut KernelBuilder, v: ValueId, idx: &[Index]) -> Result<Val, LowerError> {
    if let Some(Repr::Strided { buf, strides, offset }) = lw.reprs.get(&v) {
        let decl = &lw.buffers[buf.0 as usize];
        let ty = lw.scalar(v)?;
        let arg = kb.arg(*buf, ty, decl.len, false);
        let index = shape::flatten(idx, strides, *offset)?;
        return Ok(kb.let_(ty, Expr::Load { arg, index }));
    }
    if let Some(Repr::InlineStored { buf }) = lw.reprs.get(&v) {
        let val = compute_inline(lw, kb, v, idx)?;
        let decl = &lw.buffers[buf.0 as usize];
        let arg = kb.arg(*buf, lw.scalar(v)?, decl.len, true);
        let index = shape::flatten(idx, &shape::row_major(&lw.shape(v)?)?, Affine::ZERO)?;
        kb.push(crate::ir::Stmt::Store { arg, index, value: val });
        return Ok(val);
    }
    compute_inline(lw, kb, v, idx)
}

/// `v` computed from its operands at `idx`.
fn compute_inline(lw: &Lowering, kb: &mut KernelBuilder, v: ValueId, idx: &[Index]) -> Result<Val, LowerError> {
    let f = lw.f;
    let ty = lw.scalar(v)?;
    let ops = f.operands(v);
    let out_shape = lw.shape(v)?;
    let operand = |k: usize| -> Result<ValueId, LowerError> {
        ops.get(k).copied().ok_or_else(|| LowerError::Malformed(format!("{v} lacks operand {k}")))
    };
    match f.op(v) {
        Op::Const { value } | Op::Full { value } => Ok(kb.constant(ty, *value)),
        Op::DimValue { dim } => {
            let a = shape::quadratic(dim)?;
            let x = kb.quadratic_value(a);
            Ok(cast(kb, x, ty))
        }
        Op::Iota { axis } => {
            let i = idx.get(*axis).ok_or_else(|| lw.unsupported(v, "axis out of range"))?;
            let x = kb.index_value(i);
            Ok(cast(kb, x, ty))
        }
        Op::Unary(u) => {
            let x = operand(0)?;
            let a = broadcast_operand(lw, kb, x, &out_shape, idx)?;
            Ok(kb.let_(ty, Expr::Unary(*u, a)))
        }
        Op::Binary(BinaryOp::Pow) if ty == Scalar::F32 && small_power(f, operand(1)?).is_some() => {
            let n = small_power(f, operand(1)?).unwrap_or(1);
            let x = broadcast_operand(lw, kb, operand(0)?, &out_shape, idx)?;
            Ok(power(kb, x, n))
        }
        Op::Binary(b) => {
            let (x, y) = (operand(0)?, operand(1)?);
            let a = broadcast_operand(lw, kb, x, &out_shape, idx)?;
            let c = broadcast_operand(lw, kb, y, &out_shape, idx)?;
            Ok(kb.let_(ty, Expr::Binary(*b, a, c)))
        }
        Op::Where => {
            let c = broadcast_operand(lw, kb, operand(0)?, &out_shape, idx)?;
            let a = broadcast_operand(lw, kb, operand(1)?, &out_shape, idx)?;
            let b = broadcast_operand(lw, kb, operand(2)?, &out_shape, idx)?;
            Ok(kb.let_(ty, Expr::Select(c, a, b)))
        }
        Op::Cast { .. } => {
            let a = broadcast_operand(lw, kb, operand(0)?, &out_shape, idx)?;
            Ok(cast(kb, a, ty))
        }
        Op::OneHot { .. } => {
            let (last, rest) = idx.split_last().ok_or_else(|| lw.unsupported(v, "one_hot of a scalar shape"))?;
            let class = value_at(lw, kb, operand(0)?, rest)?;
            let class = cast(kb, class, Scalar::I64);
            let j = kb.index_value(last);
            let hit = kb.let_(Scalar::Bool, Expr::Binary(BinaryOp::Eq, class, j));
            let one = kb.constant(ty, 1.0);
            let zero = kb.constant(ty, 0.0);
            Ok(kb.let_(ty, Expr::Select(hit, one, zero)))
        }
        Op::RandomNormal { .. } | Op::RandomUniform { .. } | Op::Bernoulli { .. } => {
            let (kind, site) = random_kind(f.op(v)).ok_or_else(|| lw.unsupported(v, "is not a random draw"))?;
            let seed = value_at(lw, kb, operand(0)?, &[])?;
            let step = value_at(lw, kb, operand(1)?, &[])?;
            let offset = value_at(lw, kb, operand(2)?, &[])?;
            // Element `i` (row-major) of the draw is element `offset + i` of the stream.
            let flat = shape::flatten(idx, &shape::row_major(&out_shape)?, Affine::ZERO)?;
            let i = kb.index_value(&flat);
            let counter = kb.let_(Scalar::I64, Expr::Binary(BinaryOp::Add, offset, i));
            Ok(kb.let_(ty, Expr::Random { kind, site, seed, step, counter }))
        }
        Op::StopGradient | Op::StraightThrough => value_at(lw, kb, operand(0)?, idx),
        Op::Transpose { perm } => {
            let mut src = vec![constant(Affine::ZERO); perm.len()];
            for (k, &p) in perm.iter().enumerate() {
                src[p] = idx[k].clone();
            }
            value_at(lw, kb, operand(0)?, &src)
        }
        Op::BroadcastTo => broadcast_operand(lw, kb, operand(0)?, &out_shape, idx),
        Op::Slice { axis, start, step, .. } => {
            let mut src = idx.to_vec();
            let i = src.get(*axis).ok_or_else(|| lw.unsupported(v, "axis out of range"))?.clone();
            src[*axis] = shape::add(
                &shape::scale(&i, Affine::constant(*step as i64))?,
                &constant(Affine::constant(*start as i64)),
            )?;
            value_at(lw, kb, operand(0)?, &src)
        }
        Op::Reshape => {
            // Only unit-axis reshapes are computed inline (`classify`): map the other axes in order.
            // Any other reshape reads its operand laid out in memory (`kernels::lower_value`).
            if !super::classify::is_unit_reshape(f, v) {
                return Err(lw.unsupported(v, "reshape is not a unit-axis change"));
            }
            let x = operand(0)?;
            let src_shape = lw.shape(x)?;
            let kept: Vec<&Index> =
                out_shape.iter().zip(idx).filter(|(d, _)| !shape::is_unit(**d)).map(|(_, i)| i).collect();
            let mut it = kept.into_iter();
            let mut src = Vec::with_capacity(src_shape.len());
            for d in &src_shape {
                if shape::is_unit(*d) {
                    src.push(constant(Affine::ZERO));
                } else {
                    src.push(it.next().ok_or_else(|| lw.unsupported(v, "reshape is not a unit-axis change"))?.clone());
                }
            }
            value_at(lw, kb, x, &src)
        }
        Op::Input { .. } | Op::Param { .. } => Err(LowerError::Malformed(format!("source {v} has no buffer"))),
        _ => Err(lw.unsupported(v, "is computed by its own step and must be stored")),
    }
}

/// `x` read at the index of a result of shape `out_shape` it broadcasts to (numpy rules: axes
/// aligned from the right, size-one axes read index 0).
pub fn broadcast_operand(
    lw: &Lowering,
    kb: &mut KernelBuilder,
    x: ValueId,
    out_shape: &[Affine],
    idx: &[Index],
) -> Result<Val, LowerError> {
    let xs = lw.shape(x)?;
    if xs.len() > out_shape.len() {
        return Err(LowerError::Malformed(format!("{x} has more axes than the value it broadcasts to")));
    }
    let lead = out_shape.len() - xs.len();
    let src: Vec<Index> = xs
        .iter()
        .enumerate()
        .map(|(k, d)| {
            if shape::is_unit(*d) && !shape::is_unit(out_shape[lead + k]) {
                constant(Affine::ZERO)
            } else {
                idx[lead + k].clone()
            }
        })
        .collect();
    value_at(lw, kb, x, &src)
}

pub fn cast(kb: &mut KernelBuilder, x: Val, to: Scalar) -> Val {
    if kb.ty(x) == to { x } else { kb.let_(to, Expr::Cast(to, x)) }
}

pub fn random_kind(op: &Op) -> Option<(RandomKind, u32)> {
    match op {
        Op::RandomNormal { site } => Some((RandomKind::Normal, *site)),
        Op::RandomUniform { site, lo, hi } => Some((RandomKind::Uniform { lo: *lo, hi: *hi }, *site)),
        Op::Bernoulli { site, p } => Some((RandomKind::Bernoulli { p: *p }, *site)),
        _ => None,
    }
}

/// The exponent of `x ** c` when `c` is a constant integer in `-2..=4`: such powers are
/// multiplications (`x ** 2` is the mean-squared losses' square), not a call of `pow`. The
/// interpreter computes `pow` in f64 and rounds once; `x * x` is the same number (the square
/// of an f32 is exact in f64), higher powers differ by rounding only.
fn small_power(f: &hg_ir::Function, c: ValueId) -> Option<i32> {
    match f.op(c) {
        Op::Const { value } | Op::Full { value }
            if f.ty(c).rank() == 0 && value.fract() == 0.0 && (-2.0..=4.0).contains(value) =>
        {
            Some(*value as i32)
        }
        _ => None,
    }
}

/// `x ** n` by multiplications (and one division for negative `n`).
fn power(kb: &mut KernelBuilder, x: Val, n: i32) -> Val {
    let sq = |kb: &mut KernelBuilder, a: Val| kb.let_(Scalar::F32, Expr::Binary(BinaryOp::Mul, a, a));
    let positive = match n.unsigned_abs() {
        0 => return kb.constant(Scalar::F32, 1.0),
        1 => x,
        2 => sq(kb, x),
        3 => {
            let x2 = sq(kb, x);
            kb.let_(Scalar::F32, Expr::Binary(BinaryOp::Mul, x2, x))
        }
        _ => {
            let x2 = sq(kb, x);
            sq(kb, x2)
        }
    };
    if n < 0 {
        let one = kb.constant(Scalar::F32, 1.0);
        kb.let_(Scalar::F32, Expr::Binary(BinaryOp::Div, one, positive))
    } else {
        positive
    }
}
