//! `torch.optim.Adam` (coupled L2 weight decay) and `torch.optim.AdamW` (decoupled), amsgrad
//! off, written in the same order of operations as PyTorch's single-tensor implementation so
//! f32 results agree to rounding. As in PyTorch, the bias corrections and the step size are
//! scalars computed in f64 (`1 - beta^t` cancels badly in f32 for small `t`) and rounded once
//! to the parameter's dtype where they meet the tensors.

use crate::autodiff::{AutodiffError, Emit};
use hg_ir::{BinaryOp, DType, UnaryOp, ValueId};

pub(crate) const SLOTS: &[&str] = &["adam.m", "adam.v"];

pub(crate) struct AdamParams {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub decoupled: bool,
}

/// The new parameter and new `[m, v]`. `lr` and `t` (`step + 1`) are scalars of the
/// parameter's dtype.
pub(crate) fn update(
    e: &mut Emit,
    h: &AdamParams,
    p: ValueId,
    g: ValueId,
    state: &[ValueId],
    lr: ValueId,
    t: ValueId,
) -> Result<(ValueId, Vec<ValueId>), AutodiffError> {
    let dt = e.dtype(p);
    let one = e.scalar(1.0, dt)?;
    let (mut p, mut g) = (p, g);
    if h.weight_decay != 0.0 {
        if h.decoupled {
            // param.mul_(1 - lr * weight_decay)
            let lw = e.scale(lr, h.weight_decay)?;
            let keep = e.sub(one, lw)?;
            p = e.mul(p, keep)?;
        } else {
            let wp = e.scale(p, h.weight_decay)?;
            g = e.add(g, wp)?;
        }
    }
    let (m, v) = (state[0], state[1]);
    // exp_avg.lerp_(grad, 1 - beta1)
    let gm = e.sub(g, m)?;
    let gm = e.scale(gm, 1.0 - h.beta1)?;
    let m = e.add(m, gm)?;
    // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value = 1 - beta2)
    let vb = e.scale(v, h.beta2)?;
    let gg = e.mul(g, g)?;
    let gg = e.scale(gg, 1.0 - h.beta2)?;
    let v = e.add(vb, gg)?;
    // bias corrections with t = step + 1, in f64 like PyTorch's Python floats
    let (t64, lr64) = (e.cast(t, DType::F64)?, e.cast(lr, DType::F64)?);
    let one64 = e.scalar(1.0, DType::F64)?;
    let b1 = e.scalar(h.beta1, DType::F64)?;
    let b2 = e.scalar(h.beta2, DType::F64)?;
    let b1t = e.binary(BinaryOp::Pow, b1, t64)?;
    let b2t = e.binary(BinaryOp::Pow, b2, t64)?;
    let bc1 = e.sub(one64, b1t)?;
    let bc2 = e.sub(one64, b2t)?;
    let step_size = e.div(lr64, bc1)?;
    let step_size = e.cast(step_size, dt)?;
    let bc2_sqrt = e.unary(UnaryOp::Sqrt, bc2)?;
    let bc2_sqrt = e.cast(bc2_sqrt, dt)?;
    // denom = exp_avg_sq.sqrt() / bias_correction2_sqrt + eps
    let sv = e.unary(UnaryOp::Sqrt, v)?;
    let denom = e.div(sv, bc2_sqrt)?;
    let eps = e.scalar(h.eps, dt)?;
    let denom = e.add(denom, eps)?;
    // param.addcdiv_(exp_avg, denom, value = -step_size)
    let ratio = e.div(m, denom)?;
    let delta = e.mul(step_size, ratio)?;
    Ok((e.sub(p, delta)?, vec![m, v]))
}
