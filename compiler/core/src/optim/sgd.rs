//! `torch.optim.SGD` (dampening 0): coupled weight decay, optional (Nesterov) momentum.

use crate::autodiff::{AutodiffError, Emit};
use hg_ir::ValueId;

/// State slots per parameter (prefixes of `state:<slot>.<param>`).
pub(crate) fn slots(momentum: f64) -> &'static [&'static str] {
    if momentum != 0.0 { &["sgd.momentum"] } else { &[] }
}

/// The new parameter and new state (in [`slots`] order). `lr` has the parameter's dtype.
pub(crate) fn update(
    e: &mut Emit,
    (momentum, nesterov, weight_decay): (f64, bool, f64),
    p: ValueId,
    g: ValueId,
    state: &[ValueId],
    lr: ValueId,
) -> Result<(ValueId, Vec<ValueId>), AutodiffError> {
    let mut d = g;
    if weight_decay != 0.0 {
        let wp = e.scale(p, weight_decay)?;
        d = e.add(d, wp)?;
    }
    let mut new_state = Vec::new();
    if momentum != 0.0 {
        let prev = e.scale(state[0], momentum)?;
        let buf = e.add(prev, d)?;
        new_state.push(buf);
        d = if nesterov {
            let mb = e.scale(buf, momentum)?;
            e.add(d, mb)?
        } else {
            buf
        };
    }
    let step = e.mul(lr, d)?;
    Ok((e.sub(p, step)?, new_state))
}
