//! The learning-rate schedule as graph arithmetic on the `step`, `base_lr` and `total_steps`
//! inputs (formulas in the module doc of [`crate::optim`]). Everything is f32; `Where` picks
//! the warmup or decay branch, and both branches stay finite for every step (the decay's
//! divisor is at least 1), so no NaN hides in the branch not taken.

use super::Schedule;
use crate::autodiff::{AutodiffError, Emit};
use hg_ir::{BinaryOp, DType, UnaryOp, ValueId};

/// The learning rate for this step (f32 scalar).
pub(crate) fn scheduled_lr(
    e: &mut Emit,
    schedule: Schedule,
    step: ValueId,
    base_lr: ValueId,
    total_steps: ValueId,
) -> Result<ValueId, AutodiffError> {
    let (warmup, cosine) = match schedule {
        Schedule::Constant => return Ok(base_lr),
        Schedule::Linear { warmup } => (warmup as f64, false),
        Schedule::Cosine { warmup } => (warmup as f64, true),
    };
    let f32_ = DType::F32;
    let step_f = e.cast(step, f32_)?;
    let total_f = e.cast(total_steps, f32_)?;
    let w = e.scalar(warmup, f32_)?;
    let one = e.scalar(1.0, f32_)?;
    let zero = e.scalar(0.0, f32_)?;

    // progress = clamp((step - w) / max(1, T - w), 0, 1)
    let decay_len = e.sub(total_f, w)?;
    let decay_len = e.binary(BinaryOp::Maximum, decay_len, one)?;
    let since = e.sub(step_f, w)?;
    let progress = e.div(since, decay_len)?;
    let progress = e.binary(BinaryOp::Maximum, progress, zero)?;
    let progress = e.binary(BinaryOp::Minimum, progress, one)?;
    let decay = if cosine {
        let angle = e.scale(progress, std::f64::consts::PI)?;
        let c = e.unary(UnaryOp::Cos, angle)?;
        let c1 = e.add(one, c)?;
        e.scale(c1, 0.5)?
    } else {
        e.sub(one, progress)?
    };
    let factor = if warmup > 0.0 {
        let next = e.add(step_f, one)?;
        let warm = e.div(next, w)?;
        let warming = e.binary(BinaryOp::Lt, step_f, w)?;
        e.select(warming, warm, decay)?
    } else {
        decay
    };
    e.mul(base_lr, factor)
}
