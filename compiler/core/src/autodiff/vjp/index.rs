//! Gradients of `gather` and `scatter_add` (take-along-axis, as `torch.gather` and
//! `torch.scatter_add`): each is the other's adjoint. Indices get no gradient.

use crate::autodiff::AutodiffError;
use crate::autodiff::emit::Emit;
use crate::autodiff::rules::{Grads, VjpArgs};
use hg_ir::Op;

/// `out = gather(x, idx)`: every read of `x` sends its cotangent back with a scatter-add into
/// zeros, so an index read twice accumulates.
pub(crate) fn gather(e: &mut Emit, a: &VjpArgs) -> Result<Grads, AutodiffError> {
    let &Op::Gather { axis } = a.op else {
        return Err(e.error("gather rule applied to another op"));
    };
    let (x, idx) = (a.x(0), a.x(1));
    let zeros = e.full(0.0, e.ty(x))?;
    Ok(vec![Some(e.op(Op::ScatterAdd { axis }, &[zeros, idx, a.g])?), None])
}

/// `out = scatter_add(x, idx, v)`: `x` passes through; `v[i]` was added at `idx[i]`, so its
/// gradient reads the cotangent there.
pub(crate) fn scatter_add(e: &mut Emit, a: &VjpArgs) -> Result<Grads, AutodiffError> {
    let &Op::ScatterAdd { axis } = a.op else {
        return Err(e.error("scatter_add rule applied to another op"));
    };
    let gv = if a.needs[2] { Some(e.op(Op::Gather { axis }, &[a.g, a.x(1)])?) } else { None };
    Ok(vec![a.needs[0].then_some(a.g), None, gv])
}
