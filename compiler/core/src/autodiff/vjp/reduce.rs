//! Gradients of `sum`, `mean`, `max` and `min` over a list of axes.
//!
//! The cotangent is first given the `keepdims` shape (size 1 on the reduced axes), so it
//! broadcasts against the operand. `max`/`min` route the gradient to every position equal to
//! the extremum and split it evenly among ties, as PyTorch's `amax`/`amin` do (not to one
//! arg-max index as `torch.max(dim)` does); a tie-free input gets the same numbers either way.

use super::first;
use crate::autodiff::AutodiffError;
use crate::autodiff::emit::{Emit, product};
use crate::autodiff::rules::{Grads, VjpArgs};
use hg_ir::{BinaryOp, Dim, Op, ReduceOp};

pub(crate) fn reduce(e: &mut Emit, a: &VjpArgs) -> Result<Grads, AutodiffError> {
    let Op::Reduce { op, axes, .. } = a.op else {
        return Err(e.error("reduce rule applied to another op"));
    };
    let x = a.x(0);
    let x_shape = e.shape(x);
    let keep_shape: Vec<Dim> =
        x_shape.iter().enumerate().map(|(i, d)| if axes.contains(&i) { Dim::constant(1) } else { d.clone() }).collect();
    // Reshape is a no-op when the forward kept its dimensions.
    let g_keep = e.reshape(a.g, keep_shape.clone())?;
    let dt = e.dtype(a.g);
    let grad = match op {
        ReduceOp::Sum => e.broadcast_to(g_keep, x_shape)?,
        ReduceOp::Mean => {
            let reduced: Vec<Dim> = axes.iter().map(|&i| x_shape[i].clone()).collect();
            let count = product(&reduced).ok_or_else(|| e.error("element count overflows"))?;
            let scaled = match count.as_const() {
                Some(n) => e.scale(g_keep, 1.0 / n as f64)?,
                None => {
                    let n = e.dim_value(count, dt)?;
                    e.div(g_keep, n)?
                }
            };
            e.broadcast_to(scaled, x_shape)?
        }
        ReduceOp::Max | ReduceOp::Min => {
            let y_keep = e.reshape(a.out, keep_shape)?;
            let hit = e.binary(BinaryOp::Eq, x, y_keep)?;
            let mask = e.cast(hit, dt)?;
            let ties = e.sum(mask, axes.clone(), true)?;
            let share = e.div(g_keep, ties)?;
            e.mul(mask, share)?
        }
    };
    Ok(first(Some(grad)))
}
