//! Buffers: non-trainable state (`buffer m: f32[C] = zeros`) that every entry reads like a
//! parameter and the train step replaces by the value of its `update m = expr`.
//!
//! Reads in a step see the value the buffer had before the step; the update is what the next
//! step reads (as a running statistic's update in PyTorch's `BatchNorm`). The train forward
//! function returns each update as `update:PATH`, which the train step turns into the buffer's
//! new value (`param:PATH`) beside the optimizer's new parameters, so checkpoints, resumption
//! and every backend's in-place commit treat buffers as they treat parameters. Updates are
//! evaluated in the train step only; `eval`, `encode` and the others never change state.

use super::ctx::{Ctx, EResult};
use super::error::{ExpandError, codes};
use super::value::Value;
use hg_dsl::ast::{Ident, Span};
use hg_ir::Op;

/// Prefix of the train forward function's outputs that hold a buffer's value after the step:
/// `update:encoder.bn.mean`.
pub const UPDATE_PREFIX: &str = "update:";

/// Records `update name = v`: checks that `name` is a buffer (the front end already did, but a
/// `fn` argument may hold a buffer of the caller), that `v` has the buffer's type, and that
/// nothing else updates the buffer in this step.
pub fn record_update(ctx: &mut Ctx, name: &Ident, v: Value, value_span: Span, span: Span) -> EResult<()> {
    let target = ctx.lookup(&name.name).map(|b| b.value.clone());
    let path = match target {
        Some(Value::Tensor(t)) => match ctx.f.op(t) {
            Op::Param { name: path } if ctx.params.index.get(path).is_some_and(|&i| !ctx.params.decls[i].trainable) => {
                Some((path.clone(), t))
            }
            _ => None,
        },
        _ => None,
    };
    let Some((path, buffer)) = path else {
        return Err(ctx.error(
            ExpandError::new(codes::BAD_UPDATE, name.span, format!("`update {0}`: `{0}` is not a buffer", name.name))
                .with_help("`update` sets the value a `buffer` declared in the same body has after the train step"),
        ));
    };
    let Value::Tensor(new) = v else {
        return Err(ctx.error(ExpandError::new(
            codes::BAD_UPDATE,
            value_span,
            format!("the update of buffer `{}` must be a tensor, found {}", name.name, v.kind()),
        )));
    };
    let (want, got) = (ctx.ty(buffer).clone(), ctx.ty(new).clone());
    if want != got {
        return Err(ctx.error(
            ExpandError::new(
                codes::BAD_UPDATE,
                value_span,
                format!("the update of buffer `{}` is {got}, but the buffer is {want}", name.name),
            )
            .label_primary(format!("this is {got}"))
            .with_help("an update replaces the buffer's value: give it the buffer's shape and dtype"),
        ));
    }
    if let Some((_, _, first)) = ctx.updates.iter().find(|(p, _, _)| *p == path) {
        let first = *first;
        if first == span {
            return Err(ctx.error(
                ExpandError::new(
                    codes::BAD_UPDATE,
                    span,
                    format!("`update {}` runs once per iteration of its loop: buffer `{path}` would get several values in one train step", name.name),
                )
                .label_primary("in a loop body")
                .with_help("compute the buffer's new value in the loop's carried state and update it once, after the loop"),
            ));
        }
        return Err(ctx.error(
            ExpandError::new(codes::BAD_UPDATE, span, format!("buffer `{path}` is updated twice in one train step"))
                .label_primary("updated again here")
                .with_label(first, "first updated here")
                .with_help(
                    "a buffer has one value after the step: combine the updates into one expression (a `repeat` or \
                     `for` body runs its `update` once per iteration)",
                ),
        ));
    }
    ctx.updates.push((path, new, span));
    Ok(())
}
