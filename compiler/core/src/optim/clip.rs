//! Global-norm gradient clipping, as `torch.nn.utils.clip_grad_norm_` with the L2 norm: the
//! norm of all gradients taken together, and one scale `min(1, c / (norm + 1e-6))` applied to
//! every gradient (always multiplied, as PyTorch does, so the graph has no branch).

use crate::autodiff::{AutodiffError, Emit};
use hg_ir::{BinaryOp, DType, UnaryOp, ValueId};

/// The clipped gradients, in order.
pub(crate) fn clip_by_global_norm(
    e: &mut Emit,
    grads: &[ValueId],
    max_norm: f64,
) -> Result<Vec<ValueId>, AutodiffError> {
    let mut total: Option<ValueId> = None;
    for &g in grads {
        let sq = e.mul(g, g)?;
        let s = e.sum_all(sq)?;
        let s = e.cast(s, DType::F32)?;
        total = Some(match total {
            Some(t) => e.add(t, s)?,
            None => s,
        });
    }
    let Some(total) = total else {
        return Ok(Vec::new());
    };
    let norm = e.unary(UnaryOp::Sqrt, total)?;
    let eps = e.scalar(1e-6, DType::F32)?;
    let denom = e.add(norm, eps)?;
    let c = e.scalar(max_norm, DType::F32)?;
    let coef = e.div(c, denom)?;
    let one = e.scalar(1.0, DType::F32)?;
    let coef = e.binary(BinaryOp::Minimum, coef, one)?;
    grads
        .iter()
        .map(|&g| {
            let k = e.cast(coef, e.dtype(g))?;
            e.mul(g, k)
        })
        .collect()
}
