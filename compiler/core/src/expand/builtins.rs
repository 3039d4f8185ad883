//! Built-in operations: each call of a built-in becomes primitive IR nodes.
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
//! - `shape(x)`, `dim(x, axis)`, `len(list)`; `identity(x)`.

use super::ctx::{Ctx, EResult, Stop};
use super::error::{ExpandError, codes};
use super::eval::{ArgValue, as_tensor, dim_of, eval_binary, eval_expr, place_args, slice_bounds};
use super::value::{Callable, Value};
use hg_dsl::ast::{BinaryOp as AstBin, Expr, ExprKind, IndexItem, Span};
use hg_dsl::builtins::{BuiltinDef, BuiltinKind, ParamDefault};
use hg_dsl::parse::parse_expr;
use hg_ir::{BinaryOp, DType, Dim, Init, Op, PoolKind, ReduceOp, TensorType, UnaryOp, ValueId};

const UNARY: &[(&str, UnaryOp)] = &[
    ("exp", UnaryOp::Exp),
    ("log", UnaryOp::Log),
    ("sqrt", UnaryOp::Sqrt),
    ("rsqrt", UnaryOp::Rsqrt),
    ("abs", UnaryOp::Abs),
    ("neg", UnaryOp::Neg),
    ("sign", UnaryOp::Sign),
    ("tanh", UnaryOp::Tanh),
    ("sigmoid", UnaryOp::Sigmoid),
    ("relu", UnaryOp::Relu),
    ("gelu", UnaryOp::Gelu),
    ("softplus", UnaryOp::Softplus),
    ("sin", UnaryOp::Sin),
    ("cos", UnaryOp::Cos),
    ("floor", UnaryOp::Floor),
    ("round", UnaryOp::Round),
];

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
            let slots = bind(ctx, def, vals, e.span)?;
            let mut nums = Vec::new();
            for s in slots {
                nums.push(number(ctx, &s, e.span)?);
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

type Slot = Option<(Value, Span)>;

/// Binds call arguments to a built-in's parameters, as the front end's table declares them
/// (names, order, required or default). Defaults are Hourglass literals in the table; they are
/// evaluated here, so the table is the one place that says what a left-out argument means.
fn bind(ctx: &mut Ctx, def: &BuiltinDef, args: Vec<ArgValue>, span: Span) -> EResult<Vec<Slot>> {
    let fname = def.name;
    let names: Vec<&str> = def.params.iter().map(|p| p.name).collect();
    let mut slots: Vec<Slot> =
        place_args(ctx, fname, &names, args, None)?.into_iter().map(|a| a.map(|a| (a.value, a.span))).collect();
    for (i, p) in def.params.iter().enumerate() {
        if slots[i].is_some() {
            continue;
        }
        match p.default {
            ParamDefault::Required => {
                return Err(ctx.error(ExpandError::new(
                    codes::BAD_ARGUMENT,
                    span,
                    format!("missing argument `{}` of `{fname}`", names[i]),
                )));
            }
            ParamDefault::Absent(_) => {}
            ParamDefault::Value(src) => {
                let expr = parse_expr(span.file, src).map_err(|_| {
                    ctx.error(ExpandError::new(
                        codes::BAD_ARGUMENT,
                        span,
                        format!("internal error: default `{src}` of `{fname}` does not parse"),
                    ))
                })?;
                slots[i] = Some((eval_expr(ctx, &expr)?, span));
            }
        }
    }
    Ok(slots)
}

/// The table entry of a built-in operation.
fn op_def(ctx: &mut Ctx, name: &str, span: Span) -> EResult<&'static BuiltinDef> {
    hg_dsl::builtins::lookup(name)
        .filter(|d| matches!(d.kind, BuiltinKind::Op(_)))
        .ok_or_else(|| ctx.error(ExpandError::new(codes::UNKNOWN_NAME, span, format!("unknown function `{name}`"))))
}

/// Slot `i`, or an absent argument when the table declares fewer parameters.
fn sl(slots: &[Slot], i: usize) -> &Slot {
    const NONE: &Slot = &None;
    slots.get(i).unwrap_or(NONE)
}

/// A required argument (the table marks it so, and `bind` checked it is there).
fn req<'s>(ctx: &mut Ctx, slot: &'s Slot, span: Span) -> EResult<(&'s Value, Span)> {
    match slot {
        Some((v, s)) => Ok((v, *s)),
        None => Err(ctx.error(ExpandError::new(codes::BAD_ARGUMENT, span, "a required argument is missing"))),
    }
}

fn tensor(ctx: &mut Ctx, slot: &Slot) -> EResult<ValueId> {
    let (v, s) = req(ctx, slot, Span::default())?;
    match v {
        Value::Tensor(t) => Ok(*t),
        other => {
            Err(ctx.error(ExpandError::new(codes::WRONG_KIND, s, format!("expected a tensor, found {}", other.kind()))))
        }
    }
}

fn number(ctx: &mut Ctx, slot: &Slot, span: Span) -> EResult<f64> {
    match slot {
        Some((v, s)) => v.as_f64().ok_or_else(|| {
            ctx.error(ExpandError::new(codes::WRONG_KIND, *s, format!("expected a number, found {}", v.kind())))
        }),
        None => Err(ctx.error(ExpandError::new(codes::BAD_ARGUMENT, span, "missing number"))),
    }
}

fn int(ctx: &mut Ctx, slot: &Slot, default: i64) -> EResult<i64> {
    match slot {
        None => Ok(default),
        Some((Value::Int(n), _)) => Ok(*n),
        Some((v, s)) => {
            Err(ctx.error(ExpandError::new(codes::WRONG_KIND, *s, format!("expected an int, found {}", v.kind()))))
        }
    }
}

fn usize_arg(ctx: &mut Ctx, slot: &Slot, default: i64, what: &str) -> EResult<usize> {
    let n = int(ctx, slot, default)?;
    usize::try_from(n).map_err(|_| {
        let span = slot.as_ref().map(|(_, s)| *s).unwrap_or_default();
        ctx.error(ExpandError::new(codes::BAD_ARGUMENT, span, format!("{what} must be non-negative, found {n}")))
    })
}

fn boolean(ctx: &mut Ctx, slot: &Slot, default: bool) -> EResult<bool> {
    match slot {
        None => Ok(default),
        Some((Value::Bool(b), _)) => Ok(*b),
        Some((v, s)) => {
            Err(ctx.error(ExpandError::new(codes::WRONG_KIND, *s, format!("expected a bool, found {}", v.kind()))))
        }
    }
}

/// An int or a pair `(a, b)` / `[a, b]`, for strides and paddings.
fn pair(ctx: &mut Ctx, slot: &Slot, default: usize, what: &str) -> EResult<[usize; 2]> {
    match slot {
        None => Ok([default, default]),
        Some((Value::List(items) | Value::Tuple(items), s)) if items.len() == 2 => {
            let a = usize_arg(ctx, &Some((items[0].clone(), *s)), 0, what)?;
            let b = usize_arg(ctx, &Some((items[1].clone(), *s)), 0, what)?;
            Ok([a, b])
        }
        Some(_) => {
            let n = usize_arg(ctx, slot, 0, what)?;
            Ok([n, n])
        }
    }
}

pub fn normalize_axis(ctx: &mut Ctx, axis: i64, rank: usize, span: Span) -> EResult<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(ctx.error(ExpandError::new(
            codes::BAD_AXIS,
            span,
            format!("axis {axis} is out of range for a tensor of rank {rank}"),
        )));
    }
    Ok(a as usize)
}

/// A list of axes (`[0, -1]`), each normalised against `rank`.
fn axis_list(ctx: &mut Ctx, items: &[Value], rank: usize, span: Span, what: &str) -> EResult<Vec<usize>> {
    let mut out = Vec::with_capacity(items.len());
    for it in items {
        match it {
            Value::Int(a) => out.push(normalize_axis(ctx, *a, rank, span)?),
            other => {
                return Err(ctx.error(ExpandError::new(
                    codes::WRONG_KIND,
                    span,
                    format!("{what} must be ints, found {}", other.kind()),
                )));
            }
        }
    }
    Ok(out)
}

/// The size of `axis` of `x`, which an operation needs to be fixed (not the batch).
fn fixed_axis_len(ctx: &mut Ctx, x: ValueId, axis: usize, what: &str, span: Span) -> EResult<i64> {
    match ctx.ty(x).shape[axis].as_const() {
        Some(n) => Ok(n),
        None => Err(ctx.error(ExpandError::new(
            codes::BAD_AXIS,
            span,
            format!("{what} needs an axis of fixed size (not the batch)"),
        ))),
    }
}

fn axis_arg(ctx: &mut Ctx, slot: &Slot, default: i64, rank: usize, span: Span) -> EResult<usize> {
    let a = int(ctx, slot, default)?;
    let s = slot.as_ref().map(|(_, s)| *s).unwrap_or(span);
    normalize_axis(ctx, a, rank, s)
}

/// A shape given as a list of dimensions (ints, `B`, expressions) or as `shape(x)`.
fn shape_arg(ctx: &mut Ctx, slot: &Slot) -> EResult<Vec<Dim>> {
    let (v, s) = req(ctx, slot, Span::default())?;
    match v {
        Value::List(items) | Value::Tuple(items) => {
            let items = items.clone();
            let mut out = Vec::with_capacity(items.len());
            for it in &items {
                let d = dim_of(ctx, it, s)?;
                if let Some(n) = d.as_const()
                    && n < 0
                {
                    return Err(ctx.error(ExpandError::new(
                        codes::BAD_DIMENSION,
                        s,
                        format!("negative dimension {n} in shape"),
                    )));
                }
                out.push(d);
            }
            Ok(out)
        }
        Value::Int(_) | Value::Dim(_) => Ok(vec![dim_of(ctx, v, s)?]),
        other => Err(ctx.error(ExpandError::new(
            codes::WRONG_KIND,
            s,
            format!("expected a shape (a list of dimensions), found {}", other.kind()),
        ))),
    }
}

fn dtype_arg(ctx: &mut Ctx, slot: &Slot, default: DType) -> EResult<DType> {
    match slot {
        None => Ok(default),
        Some((Value::DType(d), _)) => Ok(*d),
        Some((v, s)) => {
            Err(ctx.error(ExpandError::new(codes::WRONG_KIND, *s, format!("expected a dtype, found {}", v.kind()))))
        }
    }
}

fn list_of_tensors(ctx: &mut Ctx, slot: &Slot) -> EResult<Vec<ValueId>> {
    let (v, s) = req(ctx, slot, Span::default())?;
    match v {
        Value::List(items) | Value::Tuple(items) if !items.is_empty() => {
            let items = items.clone();
            items
                .iter()
                .map(|i| match i {
                    Value::Tensor(t) => Ok(*t),
                    other => Err(ctx.error(ExpandError::new(
                        codes::WRONG_KIND,
                        s,
                        format!("expected a list of tensors, found {} in it", other.kind()),
                    ))),
                })
                .collect()
        }
        other => Err(ctx.error(ExpandError::new(
            codes::WRONG_KIND,
            s,
            format!("expected a non-empty list of tensors, found {}", other.kind()),
        ))),
    }
}

fn reshape(ctx: &mut Ctx, x: ValueId, shape: Vec<Dim>, span: Span) -> EResult<ValueId> {
    if ctx.ty(x).shape == shape {
        return Ok(x);
    }
    let ty = TensorType::new(ctx.ty(x).dtype, shape);
    ctx.add_with_type(Op::Reshape, &[x], ty, span)
}

fn reduce(ctx: &mut Ctx, op: ReduceOp, slots: &[Slot], span: Span) -> EResult<Value> {
    let x = tensor(ctx, sl(slots, 0))?;
    let rank = ctx.ty(x).rank();
    let axes: Vec<usize> = match sl(slots, 1) {
        None => (0..rank).collect(),
        Some((Value::Int(a), s)) => vec![normalize_axis(ctx, *a, rank, *s)?],
        Some((Value::List(items) | Value::Tuple(items), s)) => {
            let mut out = axis_list(ctx, items, rank, *s, "axes")?;
            out.sort();
            out.dedup();
            out
        }
        Some((v, s)) => {
            return Err(ctx.error(ExpandError::new(
                codes::WRONG_KIND,
                *s,
                format!("axis must be an int or a list of ints, found {}", v.kind()),
            )));
        }
    };
    let keepdims = boolean(ctx, sl(slots, 2), false)?;
    Ok(Value::Tensor(ctx.add(Op::Reduce { op, axes, keepdims }, &[x], span)?))
}

/// Applies a binary tensor operation with the same coercions as the operators.
fn binary(ctx: &mut Ctx, op: BinaryOp, a: &Slot, b: &Slot, span: Span) -> EResult<Value> {
    let (av, aspan) = req(ctx, a, span)?;
    let (bv, bspan) = req(ctx, b, span)?;
    let dtype = match (av, bv) {
        (Value::Tensor(t), _) | (_, Value::Tensor(t)) => ctx.ty(*t).dtype,
        _ => {
            let (x, y) = (av.as_f64(), bv.as_f64());
            return match (x, y, op) {
                (Some(x), Some(y), BinaryOp::Maximum) => Ok(Value::Float(x.max(y))),
                (Some(x), Some(y), BinaryOp::Minimum) => Ok(Value::Float(x.min(y))),
                _ => Err(ctx.error(ExpandError::new(
                    codes::WRONG_KIND,
                    span,
                    format!("`{}` needs a tensor operand", op.name()),
                ))),
            };
        }
    };
    let x = as_tensor(ctx, av, dtype, aspan)?;
    let y = as_tensor(ctx, bv, dtype, bspan)?;
    Ok(Value::Tensor(ctx.add(Op::Binary(op), &[x, y], span)?))
}

/// A random draw of f32 `shape`, keyed by the entry's seed and step (see [`Ctx::random_operands`]).
fn random(ctx: &mut Ctx, op: Op, shape: Vec<Dim>, span: Span) -> EResult<ValueId> {
    let ty = TensorType::new(DType::F32, shape);
    let operands = ctx.random_operands(&ty, span)?;
    ctx.add_with_type(op, &operands, ty, span)
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
    if let Some(&(_, op)) = UNARY.iter().find(|(n, _)| *n == name) {
        let s = bind(ctx, def, args, span)?;
        let (v, vs) = req(ctx, sl(&s, 0), span)?;
        return match v {
            Value::Tensor(t) => Ok(Value::Tensor(ctx.add(Op::Unary(op), &[*t], span)?)),
            Value::Int(_) | Value::Float(_) if op != UnaryOp::Gelu => {
                Ok(Value::Float(crate::interp::unary_scalar(op, v.as_f64().ok_or(Stop)?)))
            }
            other => Err(ctx.error(ExpandError::new(
                codes::WRONG_KIND,
                vs,
                format!("`{name}` expects a tensor, found {}", other.kind()),
            ))),
        };
    }
    match name {
        "identity" | "stop_gradient" => {
            let s = bind(ctx, def, args, span)?;
            let x = tensor(ctx, sl(&s, 0))?;
            if name == "identity" {
                Ok(Value::Tensor(x))
            } else {
                Ok(Value::Tensor(ctx.add(Op::StopGradient, &[x], span)?))
            }
        }
        "straight_through" => {
            let s = bind(ctx, def, args, span)?;
            let (f, b) = (tensor(ctx, sl(&s, 0))?, tensor(ctx, sl(&s, 1))?);
            Ok(Value::Tensor(ctx.add(Op::StraightThrough, &[f, b], span)?))
        }
        "maximum" | "minimum" => {
            let s = bind(ctx, def, args, span)?;
            let op = if name == "maximum" { BinaryOp::Maximum } else { BinaryOp::Minimum };
            binary(ctx, op, sl(&s, 0), sl(&s, 1), span)
        }
        "matmul" => {
            let s = bind(ctx, def, args, span)?;
            let (a, b) = (req(ctx, sl(&s, 0), span)?, req(ctx, sl(&s, 1), span)?);
            eval_binary(ctx, AstBin::MatMul, (a.0.clone(), a.1), (b.0.clone(), b.1), span)
        }
        "where" => {
            let s = bind(ctx, def, args, span)?;
            let c = tensor(ctx, sl(&s, 0))?;
            let dtype = match (sl(&s, 1), sl(&s, 2)) {
                (Some((Value::Tensor(t), _)), _) | (_, Some((Value::Tensor(t), _))) => ctx.ty(*t).dtype,
                _ => DType::F32,
            };
            let (av, asp) = req(ctx, sl(&s, 1), span)?;
            let a = as_tensor(ctx, &av.clone(), dtype, asp)?;
            let (bv, bsp) = req(ctx, sl(&s, 2), span)?;
            let b = as_tensor(ctx, &bv.clone(), dtype, bsp)?;
            Ok(Value::Tensor(ctx.add(Op::Where, &[c, a, b], span)?))
        }
        "clamp" => {
            let s = bind(ctx, def, args, span)?;
            let lower = binary(ctx, BinaryOp::Maximum, sl(&s, 0), sl(&s, 1), span)?;
            let lower_slot = Some((lower, span));
            binary(ctx, BinaryOp::Minimum, &lower_slot, sl(&s, 2), span)
        }
        "cast" => {
            let s = bind(ctx, def, args, span)?;
            let x = tensor(ctx, sl(&s, 0))?;
            let to = dtype_arg(ctx, sl(&s, 1), DType::F32)?;
            if ctx.ty(x).dtype == to {
                return Ok(Value::Tensor(x));
            }
            Ok(Value::Tensor(ctx.add(Op::Cast { to }, &[x], span)?))
        }
        "sum" | "mean" | "max" | "min" => {
            let s = bind(ctx, def, args, span)?;
            let op = match name {
                "sum" => ReduceOp::Sum,
                "mean" => ReduceOp::Mean,
                "max" => ReduceOp::Max,
                _ => ReduceOp::Min,
            };
            reduce(ctx, op, &s, span)
        }
        "argmax" | "argmin" => {
            let s = bind(ctx, def, args, span)?;
            let x = tensor(ctx, sl(&s, 0))?;
            let rank = ctx.ty(x).rank();
            let axis = axis_arg(ctx, sl(&s, 1), -1, rank, span)?;
            let keepdims = boolean(ctx, sl(&s, 2), false)?;
            Ok(Value::Tensor(ctx.add(Op::ArgReduce { max: name == "argmax", axis, keepdims }, &[x], span)?))
        }
        "conv2d" => {
            let s = bind(ctx, def, args, span)?;
            let (x, w) = (tensor(ctx, sl(&s, 0))?, tensor(ctx, sl(&s, 1))?);
            let stride = pair(ctx, sl(&s, 2), 1, "stride")?;
            let padding = pair(ctx, sl(&s, 3), 0, "padding")?;
            let groups = usize_arg(ctx, sl(&s, 4), 1, "groups")?;
            Ok(Value::Tensor(ctx.add(Op::Conv2d { stride, padding, groups }, &[x, w], span)?))
        }
        "conv_transpose2d" => {
            let s = bind(ctx, def, args, span)?;
            let (x, w) = (tensor(ctx, sl(&s, 0))?, tensor(ctx, sl(&s, 1))?);
            let stride = pair(ctx, sl(&s, 2), 1, "stride")?;
            let padding = pair(ctx, sl(&s, 3), 0, "padding")?;
            let output_padding = pair(ctx, sl(&s, 4), 0, "output_padding")?;
            let groups = usize_arg(ctx, sl(&s, 5), 1, "groups")?;
            Ok(Value::Tensor(ctx.add(
                Op::ConvTranspose2d { stride, padding, output_padding, groups },
                &[x, w],
                span,
            )?))
        }
        "avg_pool2d" | "max_pool2d" => {
            let s = bind(ctx, def, args, span)?;
            let x = tensor(ctx, sl(&s, 0))?;
            let kernel = pair(ctx, sl(&s, 1), 1, "kernel")?;
            let stride = if sl(&s, 2).is_some() { pair(ctx, sl(&s, 2), 1, "stride")? } else { kernel };
            let padding = pair(ctx, sl(&s, 3), 0, "padding")?;
            let kind = if name == "avg_pool2d" { PoolKind::Avg } else { PoolKind::Max };
            Ok(Value::Tensor(ctx.add(Op::Pool2d { kind, kernel, stride, padding }, &[x], span)?))
        }
        "reshape" => {
            let s = bind(ctx, def, args, span)?;
            let x = tensor(ctx, sl(&s, 0))?;
            let (sv, sspan) = req(ctx, sl(&s, 1), span)?;
            let items = match sv {
                Value::List(items) | Value::Tuple(items) => items.clone(),
                other => {
                    return Err(ctx.error(ExpandError::new(
                        codes::WRONG_KIND,
                        sspan,
                        format!("expected a shape list, found {}", other.kind()),
                    )));
                }
            };
            let mut dims: Vec<Option<Dim>> = Vec::new();
            for it in &items {
                match it {
                    Value::Int(-1) => dims.push(None),
                    other => dims.push(Some(dim_of(ctx, other, sspan)?)),
                }
            }
            if dims.iter().filter(|d| d.is_none()).count() > 1 {
                return Err(ctx.error(ExpandError::new(
                    codes::RESHAPE_SIZE,
                    sspan,
                    "at most one dimension of a reshape may be -1",
                )));
            }
            let total = ctx.ty(x).shape.iter().try_fold(Dim::constant(1), |acc, d| acc.checked_mul(d)).ok_or(Stop)?;
            let known = dims.iter().flatten().try_fold(Dim::constant(1), |acc, d| acc.checked_mul(d)).ok_or(Stop)?;
            let shape: Vec<Dim> = if dims.iter().any(|d| d.is_none()) {
                let Some(rest) = total.div_exact(&known) else {
                    let xt = ctx.ty(x).to_string();
                    return Err(ctx.error(
                        ExpandError::new(
                            codes::RESHAPE_SIZE,
                            sspan,
                            format!("cannot reshape {xt}: {total} elements are not a multiple of {known}"),
                        )
                        .with_label(ctx.def_span(x), format!("this is {xt}")),
                    ));
                };
                dims.into_iter().map(|d| d.unwrap_or_else(|| rest.clone())).collect()
            } else {
                dims.into_iter().flatten().collect()
            };
            let new_total = shape.iter().try_fold(Dim::constant(1), |acc, d| acc.checked_mul(d)).ok_or(Stop)?;
            if new_total != total {
                let xt = ctx.ty(x).to_string();
                return Err(ctx.error(
                    ExpandError::new(
                        codes::RESHAPE_SIZE,
                        span,
                        format!("cannot reshape {xt} ({total} elements) to {new_total} elements"),
                    )
                    .with_label(ctx.def_span(x), format!("this is {xt}")),
                ));
            }
            Ok(Value::Tensor(reshape(ctx, x, shape, span)?))
        }
        "flatten" => {
            let s = bind(ctx, def, args, span)?;
            let x = tensor(ctx, sl(&s, 0))?;
            let t = ctx.ty(x).clone();
            let start = axis_arg(ctx, sl(&s, 1), 1, t.rank().max(1), span)?;
            let rest = t.shape[start..].iter().try_fold(Dim::constant(1), |acc, d| acc.checked_mul(d)).ok_or(Stop)?;
            let mut shape = t.shape[..start].to_vec();
            shape.push(rest);
            Ok(Value::Tensor(reshape(ctx, x, shape, span)?))
        }
        "transpose" => {
            let s = bind(ctx, def, args, span)?;
            let x = tensor(ctx, sl(&s, 0))?;
            let rank = ctx.ty(x).rank();
            let perm: Vec<usize> = match sl(&s, 1) {
                None => (0..rank).rev().collect(),
                Some((Value::List(items) | Value::Tuple(items), ps)) => {
                    axis_list(ctx, items, rank, *ps, "perm entries")?
                }
                Some((v, ps)) => {
                    return Err(ctx.error(ExpandError::new(
                        codes::WRONG_KIND,
                        *ps,
                        format!("perm must be a list of ints, found {}", v.kind()),
                    )));
                }
            };
            Ok(Value::Tensor(ctx.add(Op::Transpose { perm }, &[x], span)?))
        }
        "broadcast_to" => {
            let s = bind(ctx, def, args, span)?;
            let (v, vs) = req(ctx, sl(&s, 0), span)?;
            let shape = shape_arg(ctx, sl(&s, 1))?;
            let dtype = match v {
                Value::Tensor(t) => ctx.ty(*t).dtype,
                _ => DType::F32,
            };
            let x = as_tensor(ctx, &v.clone(), dtype, vs)?;
            let ty = TensorType::new(dtype, shape);
            Ok(Value::Tensor(ctx.add_with_type(Op::BroadcastTo, &[x], ty, span)?))
        }
        "concat" => {
            let s = bind(ctx, def, args, span)?;
            let xs = list_of_tensors(ctx, sl(&s, 0))?;
            let rank = ctx.ty(xs[0]).rank();
            let axis = axis_arg(ctx, sl(&s, 1), 0, rank, span)?;
            if xs.len() == 1 {
                return Ok(Value::Tensor(xs[0]));
            }
            Ok(Value::Tensor(ctx.add(Op::Concat { axis }, &xs, span)?))
        }
        "stack" => {
            let s = bind(ctx, def, args, span)?;
            let xs = list_of_tensors(ctx, sl(&s, 0))?;
            let rank = ctx.ty(xs[0]).rank();
            let axis = axis_arg(ctx, sl(&s, 1), 0, rank + 1, span)?;
            let mut expanded = Vec::with_capacity(xs.len());
            for x in xs {
                let mut shape = ctx.ty(x).shape.clone();
                shape.insert(axis, Dim::constant(1));
                expanded.push(reshape(ctx, x, shape, span)?);
            }
            if expanded.len() == 1 {
                return Ok(Value::Tensor(expanded[0]));
            }
            Ok(Value::Tensor(ctx.add(Op::Concat { axis }, &expanded, span)?))
        }
        "split" => {
            let s = bind(ctx, def, args, span)?;
            let x = tensor(ctx, sl(&s, 0))?;
            let rank = ctx.ty(x).rank();
            let axis = axis_arg(ctx, sl(&s, 2), -1, rank, span)?;
            let len = fixed_axis_len(ctx, x, axis, "split", span)?;
            let (pv, ps) = req(ctx, sl(&s, 1), span)?;
            let sizes: Vec<i64> = match pv {
                Value::Int(n) if *n > 0 && len % n == 0 => vec![len / n; *n as usize],
                Value::Int(n) => {
                    return Err(ctx.error(ExpandError::new(
                        codes::BAD_ARGUMENT,
                        ps,
                        format!("cannot split an axis of size {len} into {n} equal parts"),
                    )));
                }
                Value::List(items) => {
                    let mut out = Vec::new();
                    for it in items.clone() {
                        match it {
                            Value::Int(n) if n >= 0 => out.push(n),
                            _ => {
                                return Err(ctx.error(ExpandError::new(
                                    codes::BAD_ARGUMENT,
                                    ps,
                                    "split sizes must be non-negative ints",
                                )));
                            }
                        }
                    }
                    if out.iter().sum::<i64>() != len {
                        return Err(ctx.error(ExpandError::new(
                            codes::BAD_ARGUMENT,
                            ps,
                            format!("split sizes add up to {}, but the axis has size {len}", out.iter().sum::<i64>()),
                        )));
                    }
                    out
                }
                other => {
                    return Err(ctx.error(ExpandError::new(
                        codes::WRONG_KIND,
                        ps,
                        format!("expected a number of parts or a list of sizes, found {}", other.kind()),
                    )));
                }
            };
            let mut parts = Vec::new();
            let mut start = 0usize;
            for n in sizes {
                let end = start + n as usize;
                parts.push(Value::Tensor(ctx.add(Op::Slice { axis, start, end, step: 1 }, &[x], span)?));
                start = end;
            }
            Ok(Value::Tuple(parts))
        }
        "slice" => {
            let s = bind(ctx, def, args, span)?;
            let x = tensor(ctx, sl(&s, 0))?;
            let rank = ctx.ty(x).rank();
            let axis = axis_arg(ctx, sl(&s, 3), -1, rank, span)?;
            let len = fixed_axis_len(ctx, x, axis, "slice", span)?;
            let (a, b, st) = (int(ctx, sl(&s, 1), 0)?, int(ctx, sl(&s, 2), len)?, int(ctx, sl(&s, 4), 1)?);
            let clamp = |i: i64| if i < 0 { (i + len).max(0) } else { i.min(len) };
            let (a0, b0) = (a, b);
            let (a, b) = (clamp(a), clamp(b).max(clamp(a)));
            if st <= 0 {
                return Err(ctx.error(ExpandError::new(codes::INDEX_RANGE, span, "slice step must be positive")));
            }
            if a == b {
                return Err(ctx.error(ExpandError::new(
                    codes::INDEX_RANGE,
                    span,
                    format!("slice {a0}:{b0} of an axis of size {len} is empty"),
                )));
            }
            Ok(Value::Tensor(ctx.add(
                Op::Slice { axis, start: a as usize, end: b as usize, step: st as usize },
                &[x],
                span,
            )?))
        }
        "pad" => {
            let s = bind(ctx, def, args, span)?;
            let x = tensor(ctx, sl(&s, 0))?;
            let rank = ctx.ty(x).rank();
            let (pv, ps) = req(ctx, sl(&s, 1), span)?;
            let items = match pv {
                Value::List(items) | Value::Tuple(items) => items.clone(),
                other => {
                    return Err(ctx.error(ExpandError::new(
                        codes::WRONG_KIND,
                        ps,
                        format!("pads must be a list of [before, after] pairs, found {}", other.kind()),
                    )));
                }
            };
            if items.len() > rank {
                return Err(ctx.error(ExpandError::new(
                    codes::BAD_ARGUMENT,
                    ps,
                    format!("{} pad pairs for a tensor of rank {rank}", items.len()),
                )));
            }
            let mut pads = vec![(0usize, 0usize); rank];
            let first = rank - items.len();
            for (i, it) in items.into_iter().enumerate() {
                let p = pair(ctx, &Some((it, ps)), 0, "padding")?;
                pads[first + i] = (p[0], p[1]);
            }
            let value = match sl(&s, 2) {
                None => 0.0,
                slot => number(ctx, slot, span)?,
            };
            Ok(Value::Tensor(ctx.add(Op::Pad { pads, value }, &[x], span)?))
        }
        "one_hot" => {
            let s = bind(ctx, def, args, span)?;
            let x = tensor(ctx, sl(&s, 0))?;
            let n = usize_arg(ctx, sl(&s, 1), 0, "n")?;
            Ok(Value::Tensor(ctx.add(Op::OneHot { n }, &[x], span)?))
        }
        "gather" => {
            let s = bind(ctx, def, args, span)?;
            let (x, idx) = (tensor(ctx, sl(&s, 0))?, tensor(ctx, sl(&s, 1))?);
            let rank = ctx.ty(x).rank();
            let axis = axis_arg(ctx, sl(&s, 2), 0, rank, span)?;
            Ok(Value::Tensor(ctx.add(Op::Gather { axis }, &[x, idx], span)?))
        }
        "scatter_add" => {
            let s = bind(ctx, def, args, span)?;
            let (x, idx, v) = (tensor(ctx, sl(&s, 0))?, tensor(ctx, sl(&s, 1))?, tensor(ctx, sl(&s, 2))?);
            let rank = ctx.ty(x).rank();
            let axis = axis_arg(ctx, sl(&s, 3), 0, rank, span)?;
            Ok(Value::Tensor(ctx.add(Op::ScatterAdd { axis }, &[x, idx, v], span)?))
        }
        "embedding" => {
            let s = bind(ctx, def, args, span)?;
            let (table, idx) = (tensor(ctx, sl(&s, 0))?, tensor(ctx, sl(&s, 1))?);
            Ok(Value::Tensor(embedding(ctx, table, idx, span)?))
        }
        "topk" => {
            let s = bind(ctx, def, args, span)?;
            let x = tensor(ctx, sl(&s, 0))?;
            let rank = ctx.ty(x).rank();
            let axis = axis_arg(ctx, sl(&s, 2), -1, rank, span)?;
            let k = usize_arg(ctx, sl(&s, 1), 0, "k")?;
            let indices = ctx.add(Op::TopKIndices { k, axis }, &[x], span)?;
            let values = ctx.add(Op::Gather { axis }, &[x, indices], span)?;
            Ok(Value::Record(vec![
                ("values".into(), Value::Tensor(values)),
                ("indices".into(), Value::Tensor(indices)),
            ]))
        }
        "zeros" | "ones" => {
            let s = bind(ctx, def, args, span)?;
            let shape = shape_arg(ctx, sl(&s, 0))?;
            let dtype = dtype_arg(ctx, sl(&s, 1), DType::F32)?;
            let value = if name == "zeros" { 0.0 } else { 1.0 };
            Ok(Value::Tensor(ctx.add_with_type(Op::Full { value }, &[], TensorType::new(dtype, shape), span)?))
        }
        "full" => {
            let s = bind(ctx, def, args, span)?;
            let shape = shape_arg(ctx, sl(&s, 0))?;
            let value = number(ctx, sl(&s, 1), span)?;
            let dtype = dtype_arg(ctx, sl(&s, 2), DType::F32)?;
            Ok(Value::Tensor(ctx.add_with_type(Op::Full { value }, &[], TensorType::new(dtype, shape), span)?))
        }
        "normal" => {
            let s = bind(ctx, def, args, span)?;
            let shape = shape_arg(ctx, sl(&s, 0))?;
            let mean = if sl(&s, 1).is_some() { number(ctx, sl(&s, 1), span)? } else { 0.0 };
            let std = if sl(&s, 2).is_some() { number(ctx, sl(&s, 2), span)? } else { 1.0 };
            let site = ctx.fresh_site();
            let mut z = random(ctx, Op::RandomNormal { site }, shape, span)?;
            if std != 1.0 {
                let c = as_tensor(ctx, &Value::Float(std), DType::F32, span)?;
                z = ctx.add(Op::Binary(BinaryOp::Mul), &[z, c], span)?;
            }
            if mean != 0.0 {
                let c = as_tensor(ctx, &Value::Float(mean), DType::F32, span)?;
                z = ctx.add(Op::Binary(BinaryOp::Add), &[z, c], span)?;
            }
            Ok(Value::Tensor(z))
        }
        "uniform" => {
            let s = bind(ctx, def, args, span)?;
            let shape = shape_arg(ctx, sl(&s, 0))?;
            let lo = if sl(&s, 1).is_some() { number(ctx, sl(&s, 1), span)? } else { 0.0 };
            let hi = if sl(&s, 2).is_some() { number(ctx, sl(&s, 2), span)? } else { 1.0 };
            let site = ctx.fresh_site();
            Ok(Value::Tensor(random(ctx, Op::RandomUniform { site, lo, hi }, shape, span)?))
        }
        "bernoulli" => {
            let s = bind(ctx, def, args, span)?;
            let shape = shape_arg(ctx, sl(&s, 0))?;
            let p = number(ctx, sl(&s, 1), span)?;
            if !(0.0..=1.0).contains(&p) {
                return Err(ctx.error(ExpandError::new(
                    codes::BAD_ARGUMENT,
                    span,
                    format!("bernoulli probability must be in [0, 1], found {p}"),
                )));
            }
            let site = ctx.fresh_site();
            Ok(Value::Tensor(random(ctx, Op::Bernoulli { site, p }, shape, span)?))
        }
        "shape" => {
            let s = bind(ctx, def, args, span)?;
            let x = tensor(ctx, sl(&s, 0))?;
            Ok(Value::List(ctx.ty(x).shape.iter().cloned().map(Value::from_dim).collect()))
        }
        "dim" => {
            let s = bind(ctx, def, args, span)?;
            let x = tensor(ctx, sl(&s, 0))?;
            let rank = ctx.ty(x).rank();
            let axis = axis_arg(ctx, sl(&s, 1), 0, rank, span)?;
            Ok(Value::from_dim(ctx.ty(x).shape[axis].clone()))
        }
        "len" => {
            let s = bind(ctx, def, args, span)?;
            match req(ctx, sl(&s, 0), span)? {
                (Value::List(items) | Value::Tuple(items), _) => Ok(Value::Int(items.len() as i64)),
                (v, vs) => Err(ctx.error(ExpandError::new(
                    codes::WRONG_KIND,
                    vs,
                    format!("`len` expects a list, found {}", v.kind()),
                ))),
            }
        }
        _ => {
            Err(ctx.error(ExpandError::new(codes::UNKNOWN_NAME, callee_span, format!("`{name}` is not an operation"))))
        }
    }
}

/// `embedding(table [V, D], idx int[...])` → `[..., D]`, through `gather` on axis 0.
fn embedding(ctx: &mut Ctx, table: ValueId, idx: ValueId, span: Span) -> EResult<ValueId> {
    let tt = ctx.ty(table).clone();
    if tt.rank() != 2 {
        return Err(ctx.error(
            ExpandError::new(
                codes::TYPE_MISMATCH,
                span,
                format!("embedding: the table must be [rows, dim], found {tt}"),
            )
            .with_label(ctx.def_span(table), format!("this is {tt}")),
        ));
    }
    let it = ctx.ty(idx).clone();
    if !it.dtype.is_int() {
        return Err(ctx.error(
            ExpandError::new(codes::TYPE_MISMATCH, span, format!("embedding: indices must be integers, found {it}"))
                .with_label(ctx.def_span(idx), format!("this is {it}")),
        ));
    }
    let n = it.shape.iter().try_fold(Dim::constant(1), |acc, d| acc.checked_mul(d)).ok_or(Stop)?;
    let d = tt.shape[1].clone();
    let col = reshape(ctx, idx, vec![n.clone(), Dim::constant(1)], span)?;
    let wide = ctx.add_with_type(Op::BroadcastTo, &[col], TensorType::new(it.dtype, vec![n, d.clone()]), span)?;
    let rows = ctx.add(Op::Gather { axis: 0 }, &[table, wide], span)?;
    let mut shape = it.shape.clone();
    shape.push(d);
    reshape(ctx, rows, shape, span)
}

/// `x[...]`: integer indices drop an axis, slices keep it, `...` stands for the axes not named.
pub fn index_tensor(ctx: &mut Ctx, x: ValueId, base_span: Span, items: &[IndexItem], span: Span) -> EResult<Value> {
    let rank = ctx.ty(x).rank();
    let n_ellipsis = items.iter().filter(|i| matches!(i, IndexItem::Ellipsis(_))).count();
    if n_ellipsis > 1 {
        return Err(ctx.error(ExpandError::new(codes::INDEX_RANGE, span, "at most one `...` per index")));
    }
    let named = items.len() - n_ellipsis;
    if named > rank {
        let t = ctx.ty(x).to_string();
        return Err(ctx.error(
            ExpandError::new(codes::INDEX_RANGE, span, format!("{named} indices for a tensor of rank {rank}"))
                .with_label(base_span, format!("this is {t}")),
        ));
    }
    let mut axis = 0usize;
    let mut cur = x;
    let mut drop_axes = Vec::new();
    for item in items {
        match item {
            IndexItem::Ellipsis(_) => axis += rank - named,
            IndexItem::Index(e) => {
                let i = match eval_expr(ctx, e)? {
                    Value::Int(i) => i,
                    other => {
                        return Err(ctx.error(
                            ExpandError::new(
                                codes::WRONG_KIND,
                                e.span,
                                format!("tensor indices must be compile-time ints, found {}", other.kind()),
                            )
                            .with_help("use `gather` to index with a tensor"),
                        ));
                    }
                };
                let Some(len) = ctx.ty(cur).shape[axis].as_const() else {
                    return Err(ctx.error(ExpandError::new(
                        codes::INDEX_RANGE,
                        e.span,
                        "cannot index the batch axis with a constant",
                    )));
                };
                let j = if i < 0 { i + len } else { i };
                if j < 0 || j >= len {
                    return Err(ctx.error(ExpandError::new(
                        codes::INDEX_RANGE,
                        e.span,
                        format!("index {i} is out of range for an axis of size {len}"),
                    )));
                }
                cur = ctx.add(Op::Slice { axis, start: j as usize, end: j as usize + 1, step: 1 }, &[cur], span)?;
                drop_axes.push(axis);
                axis += 1;
            }
            IndexItem::Slice { start, end, step, span: sspan } => {
                let full = start.is_none() && end.is_none() && step.is_none();
                if !full {
                    let Some(len) = ctx.ty(cur).shape[axis].as_const() else {
                        return Err(ctx.error(ExpandError::new(
                            codes::INDEX_RANGE,
                            *sspan,
                            "cannot slice the batch axis",
                        )));
                    };
                    let (a, b, st) = slice_bounds(ctx, start, end, step, len, *sspan)?;
                    if a == b {
                        return Err(ctx.error(ExpandError::new(
                            codes::INDEX_RANGE,
                            *sspan,
                            format!("this slice of an axis of size {len} is empty"),
                        )));
                    }
                    if !(a == 0 && b == len && st == 1) {
                        cur = ctx.add(
                            Op::Slice { axis, start: a as usize, end: b as usize, step: st as usize },
                            &[cur],
                            span,
                        )?;
                    }
                }
                axis += 1;
            }
        }
    }
    if !drop_axes.is_empty() {
        let shape: Vec<Dim> = ctx
            .ty(cur)
            .shape
            .iter()
            .enumerate()
            .filter(|(i, _)| !drop_axes.contains(i))
            .map(|(_, d)| d.clone())
            .collect();
        cur = reshape(ctx, cur, shape, span)?;
    }
    Ok(Value::Tensor(cur))
}
