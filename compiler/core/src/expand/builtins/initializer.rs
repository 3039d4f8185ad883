//! Parameter initializers (`param w: T = init`), a namespace of their own: `normal(std)` here is
//! not the random op `normal(shape)`. Bound against the front end's initializer table.

use super::args::bind;
use crate::expand::ctx::{Ctx, EResult, Stop};
use crate::expand::error::{ExpandError, codes};
use crate::expand::eval::{ArgValue, eval_expr};
use crate::expand::value::Value;
use hg_dsl::ast::{Expr, ExprKind, Span};
use hg_ir::Init;

/// Evaluates the initializer of a `param` statement.
pub fn eval_initializer(ctx: &mut Ctx, e: &Expr) -> EResult<Init> {
    let bad = |ctx: &mut Ctx, span: Span| {
        ctx.error(
            ExpandError::new(codes::WRONG_KIND, span, "expected an initializer")
                .with_help("initializers are zeros, ones, normal(std), uniform(lo, hi), glorot_uniform, he_normal"),
        )
    };
    match &e.kind {
        ExprKind::Name(id) => match id.name.as_str() {
            "zeros" => Ok(Init::Zeros),
            "ones" => Ok(Init::Ones),
            "glorot_uniform" => Ok(Init::GlorotUniform),
            "he_normal" => Ok(Init::HeNormal),
            _ => match eval_expr(ctx, e)? {
                Value::Init(i) => Ok(i),
                _ => Err(bad(ctx, e.span)),
            },
        },
        ExprKind::Call { callee, args } if matches!(callee.name.as_str(), "normal" | "uniform") => {
            let mut vals = Vec::new();
            for a in args {
                vals.push(ArgValue { name: a.name.clone(), value: eval_expr(ctx, &a.value)?, span: a.value.span });
            }
            let def = hg_dsl::builtins::initializer(&callee.name).ok_or(Stop)?;
            let bound = bind(ctx, def, vals, e.span)?;
            let mut nums = Vec::new();
            for i in 0..def.params.len() {
                nums.push(bound.number(ctx, i, e.span)?);
            }
            if callee.name == "normal" {
                if nums[0] < 0.0 {
                    return Err(ctx.error(ExpandError::new(codes::BAD_ARGUMENT, e.span, "normal(std) needs std >= 0")));
                }
                Ok(Init::Normal { std: nums[0] })
            } else {
                Ok(Init::Uniform { lo: nums[0], hi: nums[1] })
            }
        }
        _ => match eval_expr(ctx, e)? {
            Value::Init(i) => Ok(i),
            _ => Err(bad(ctx, e.span)),
        },
    }
}
