//! Built-in operations: the expansion table, one rule per built-in.
//!
//! The front end's table (`hg_dsl::builtins::OPS`) says what a built-in's parameters are called,
//! in which order, and what a left-out one means; `RULES` says what IR a call emits. A call is
//! bound once, generically, against the front end's entry (`args::bind`), then dispatched by
//! name to its rule, which reads its arguments by position in that entry. The rules live in one
//! small module per family, so this file answers "which function expands which built-in".
//!
//! Argument conventions (documented for users in docs/language.md):
//! - reductions `sum mean max min (x, axis = all, keepdims = false)`, `argmax argmin (x, axis = -1, keepdims = false)`;
//! - `conv2d(x, w, stride = 1, padding = 0, groups = 1)`, `conv_transpose2d(x, w, stride = 1,
//!   padding = 0, output_padding = 0, groups = 1)`, `avg_pool2d/max_pool2d(x, kernel, stride = kernel, padding = 0)`;
//! - `reshape(x, shape)` (one entry may be -1), `transpose(x, perm)`, `broadcast_to(x, shape)`,
//!   `concat(list, axis = 0)`, `stack(list, axis = 0)`, `split(x, n_or_sizes, axis = -1)` (a tuple),
//!   `slice(x, start, end, axis = -1, step = 1)`, `flatten(x, start = 1)`, `pad(x, pads, value = 0)`
//!   (pairs `[before, after]` for the last `len(pads)` axes);
//! - `gather(x, idx, axis)` / `scatter_add(x, idx, values, axis)` (torch semantics),
//!   `embedding(table, idx)`, `topk(x, k, axis = -1)` → `{values, indices}`, `one_hot(idx, n)`;
//! - `zeros/ones(shape, dtype = f32)`, `full(shape, value, dtype = f32)`, `normal(shape, mean = 0, std = 1)`,
//!   `uniform(shape, lo = 0, hi = 1)`, `bernoulli(shape, p)`;
//! - `shape(x)`, `dim(x, axis)`, `len(list)`, `range(n)`, `enumerate(list)`; `identity(x)`.

mod args;
mod compile_time;
mod constant;
mod elementwise;
mod gradient;
mod index;
mod initializer;
mod linalg;
mod random;
mod reduce;
mod shape;

pub use args::normalize_axis;
pub use initializer::eval_initializer;
pub(crate) use shape::reshape_to;

use super::ctx::{Ctx, EResult};
use super::error::{ExpandError, codes};
use super::eval::ArgValue;
use super::value::{Callable, Value};
use args::BoundArgs;
use compile_time as ct;
use elementwise as ew;
use hg_dsl::ast::Span;
use hg_dsl::builtins::{BuiltinDef, BuiltinKind};
use hg_ir::{DType, Init, ValueId};

/// Expands one call of a built-in whose arguments are bound; `span` is the whole call.
type ExpandFn = fn(&mut Ctx, &BoundArgs, Span) -> EResult<Value>;

/// The expansion table: every operation of the front end's table, and nothing else (a test
/// checks both directions).
static RULES: &[(&str, ExpandFn)] = &[
    // Elementwise.
    ("exp", ew::exp),
    ("log", ew::log),
    ("sqrt", ew::sqrt),
    ("rsqrt", ew::rsqrt),
    ("abs", ew::abs),
    ("neg", ew::neg),
    ("sign", ew::sign),
    ("tanh", ew::tanh),
    ("sigmoid", ew::sigmoid),
    ("relu", ew::relu),
    ("gelu", ew::gelu),
    ("softplus", ew::softplus),
    ("sin", ew::sin),
    ("cos", ew::cos),
    ("floor", ew::floor),
    ("round", ew::round),
    ("identity", ew::identity),
    ("maximum", ew::maximum),
    ("minimum", ew::minimum),
    ("where", ew::select),
    ("clamp", ew::clamp),
    ("cast", ew::cast),
    // Gradient control.
    ("stop_gradient", ew::stop_gradient),
    ("train_step", random::train_step),
    ("straight_through", ew::straight_through),
    ("grad", gradient::grad),
    // Reductions.
    ("sum", reduce::sum),
    ("mean", reduce::mean),
    ("max", reduce::max),
    ("min", reduce::min),
    ("argmax", reduce::argmax),
    ("argmin", reduce::argmin),
    // Linear algebra, convolution, pooling.
    ("matmul", linalg::matmul),
    ("conv2d", linalg::conv2d),
    ("conv_transpose2d", linalg::conv_transpose2d),
    ("avg_pool2d", linalg::avg_pool2d),
    ("max_pool2d", linalg::max_pool2d),
    // Shape.
    ("reshape", shape::reshape),
    ("flatten", shape::flatten),
    ("transpose", shape::transpose),
    ("broadcast_to", shape::broadcast_to),
    ("concat", shape::concat),
    ("stack", shape::stack),
    ("split", shape::split),
    ("slice", shape::slice),
    ("pad", shape::pad),
    // Indexing.
    ("one_hot", index::one_hot),
    ("gather", index::gather),
    ("scatter_add", index::scatter_add),
    ("embedding", index::embedding),
    ("topk", index::topk),
    // Constants and randomness.
    ("zeros", constant::zeros),
    ("ones", constant::ones),
    ("full", constant::full),
    ("normal", random::normal),
    ("uniform", random::uniform),
    ("bernoulli", random::bernoulli),
    // Compile-time sizes and lists.
    ("shape", ct::shape),
    ("dim", ct::dim),
    ("len", ct::len),
    ("range", ct::range),
    ("enumerate", ct::enumerate),
];

fn rule(name: &str) -> Option<ExpandFn> {
    RULES.iter().find(|(n, _)| *n == name).map(|&(_, f)| f)
}

/// Names that evaluate to a compile-time value on their own.
pub fn builtin_value(name: &str) -> Option<Value> {
    if let Some(d) = DType::from_name(name) {
        return Some(Value::DType(d));
    }
    match name {
        "glorot_uniform" => return Some(Value::Init(Init::GlorotUniform)),
        "he_normal" => return Some(Value::Init(Init::HeNormal)),
        _ => {}
    }
    hg_dsl::builtins::lookup(name)
        .filter(|d| matches!(d.kind, BuiltinKind::Op(_)))
        .map(|d| Value::Func(Callable::Builtin(d.name.to_string())))
}

pub fn call_builtin(ctx: &mut Ctx, name: &str, args: Vec<ArgValue>, span: Span, callee_span: Span) -> EResult<Value> {
    // Errors about an argument (an axis, a size, an index) also show the tensor it applies to.
    let first_tensor = match args.first() {
        Some(ArgValue { value: Value::Tensor(t), span: arg_span, .. }) => Some((*t, *arg_span)),
        _ => None,
    };
    let errors_before = ctx.errors.len();
    let result = expand_builtin(ctx, name, args, span, callee_span);
    if let Some((t, arg_span)) = first_tensor {
        label_operand(ctx, errors_before, t, arg_span);
    }
    result
}

/// Adds "this is T" at `at` (where the tensor `t` is written) to the errors since `from` that
/// name no second place.
pub fn label_operand(ctx: &mut Ctx, from: usize, t: ValueId, at: Span) {
    let (def, ty) = (at, ctx.ty(t).to_string());
    for e in ctx.errors[from..].iter_mut() {
        if e.labels.is_empty() && def != e.primary && !def.is_empty() {
            e.labels.push((def, format!("this is {ty}")));
        }
    }
}

fn expand_builtin(ctx: &mut Ctx, name: &str, args: Vec<ArgValue>, span: Span, callee_span: Span) -> EResult<Value> {
    let def = op_def(ctx, name, callee_span)?;
    let Some(expand) = rule(name) else {
        return Err(ctx.error(ExpandError::new(
            codes::UNKNOWN_NAME,
            callee_span,
            format!("`{name}` is not an operation"),
        )));
    };
    let args = args::bind(ctx, def, args, span)?;
    expand(ctx, &args, span)
}

/// The table entry of a built-in operation.
fn op_def(ctx: &mut Ctx, name: &str, span: Span) -> EResult<&'static BuiltinDef> {
    hg_dsl::builtins::lookup(name)
        .filter(|d| matches!(d.kind, BuiltinKind::Op(_)))
        .ok_or_else(|| ctx.error(ExpandError::new(codes::UNKNOWN_NAME, span, format!("unknown function `{name}`"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A built-in added to the language without an expansion fails here, not in a user's hands.
    #[test]
    fn every_operation_of_the_front_end_table_has_exactly_one_rule_and_vice_versa() {
        for def in hg_dsl::builtins::OPS.iter().filter(|d| matches!(d.kind, BuiltinKind::Op(_))) {
            let n = RULES.iter().filter(|(name, _)| *name == def.name).count();
            assert_eq!(n, 1, "`{}` is in the front end's table with {n} expansion rules", def.name);
        }
        for (name, _) in RULES {
            let def = hg_dsl::builtins::lookup(name);
            assert!(
                def.is_some_and(|d| matches!(d.kind, BuiltinKind::Op(_))),
                "`{name}` has an expansion rule but is no operation of the front end's table"
            );
        }
    }
}
