//! `grad(y, x)`: a gradient as a value of the model, for losses that weigh their terms by
//! gradient norms (VQGAN's adaptive adversarial weight).

use super::args::BoundArgs;
use crate::autodiff::{AutodiffError, differentiate};
use crate::expand::ctx::{Ctx, EResult};
use crate::expand::error::{ExpandError, codes};
use crate::expand::value::Value;
use hg_dsl::ast::Span;
use hg_ir::Op;

/// The gradient of the scalar `y` with respect to `x`, built by reverse-mode differentiation of
/// the nodes between them, then cut off with `stop_gradient`: the train step differentiates the
/// loss once, never through this gradient (no second derivatives). Where `x` does not reach `y`
/// the gradient is zeros.
pub(super) fn grad(ctx: &mut Ctx, a: &BoundArgs, span: Span) -> EResult<Value> {
    let (y, x) = (a.tensor(ctx, 0)?, a.tensor(ctx, 1)?);
    let ty = ctx.ty(y).clone();
    if ty.rank() != 0 || !ty.dtype.is_float() {
        return Err(ctx.error(
            ExpandError::new(codes::BAD_GRADIENT, span, format!("`grad` differentiates a float scalar, found {ty}"))
                .with_help("reduce it first, for example `grad(mean(err), w)`"),
        ));
    }
    let g = match differentiate(&mut ctx.f, y, &[x]) {
        Ok(result) => result.grads[0],
        Err(e) => {
            let why = match e {
                AutodiffError::Blocked { what, op, reason, .. } => {
                    format!("{what} reaches the differentiated value only through `{op}` ({reason})")
                }
                other => other.to_string(),
            };
            return Err(ctx.error(
                ExpandError::new(codes::BAD_GRADIENT, span, format!("`grad` cannot differentiate: {why}"))
                    .with_help("the gradient flows back through differentiable operations only"),
            ));
        }
    };
    Ok(Value::Tensor(ctx.add(Op::StopGradient, &[g], span)?))
}
