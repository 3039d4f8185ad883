//! Binding a call's arguments to a built-in's parameters, and reading them back as the kinds of
//! value the rules need (tensor, int, axis, shape, ...), each with its own diagnostic.

use crate::expand::ctx::{Ctx, EResult};
use crate::expand::error::{ExpandError, codes};
use crate::expand::eval::{ArgValue, dim_of, eval_expr, place_args};
use crate::expand::value::Value;
use hg_dsl::ast::Span;
use hg_dsl::builtins::{BuiltinDef, ParamDefault};
use hg_dsl::parse::parse_expr;
use hg_ir::{DType, Dim, ValueId};

/// One parameter's value and where it came from (the argument, or the call for a default);
/// `None` for an optional parameter with no default value (`sum`'s `axis`).
pub(crate) type Slot = Option<(Value, Span)>;

/// A call's arguments, bound to the parameters of the built-in's entry in the front end's table,
/// by position in that entry.
pub(crate) struct BoundArgs {
    def: &'static BuiltinDef,
    slots: Vec<Slot>,
}

/// Binds call arguments to a built-in's parameters, as the front end's table declares them
/// (names, order, required or default). Defaults are Hourglass literals in the table; they are
/// evaluated here, so the table is the one place that says what a left-out argument means.
pub(crate) fn bind(ctx: &mut Ctx, def: &'static BuiltinDef, args: Vec<ArgValue>, span: Span) -> EResult<BoundArgs> {
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
    Ok(BoundArgs { def, slots })
}

impl BoundArgs {
    pub fn name(&self) -> &'static str {
        self.def.name
    }

    /// Parameter `i`, or an absent argument when the table declares fewer parameters.
    pub fn slot(&self, i: usize) -> &Slot {
        const NONE: &Slot = &None;
        self.slots.get(i).unwrap_or(NONE)
    }

    pub fn given(&self, i: usize) -> bool {
        self.slot(i).is_some()
    }

    pub fn req(&self, ctx: &mut Ctx, i: usize, span: Span) -> EResult<(&Value, Span)> {
        req(ctx, self.slot(i), span)
    }

    pub fn tensor(&self, ctx: &mut Ctx, i: usize) -> EResult<ValueId> {
        tensor(ctx, self.slot(i))
    }

    pub fn number(&self, ctx: &mut Ctx, i: usize, span: Span) -> EResult<f64> {
        number(ctx, self.slot(i), span)
    }

    pub fn int(&self, ctx: &mut Ctx, i: usize, default: i64) -> EResult<i64> {
        int(ctx, self.slot(i), default)
    }

    pub fn usize(&self, ctx: &mut Ctx, i: usize, default: i64, what: &str) -> EResult<usize> {
        usize_arg(ctx, self.slot(i), default, what)
    }

    pub fn boolean(&self, ctx: &mut Ctx, i: usize, default: bool) -> EResult<bool> {
        boolean(ctx, self.slot(i), default)
    }

    pub fn pair(&self, ctx: &mut Ctx, i: usize, default: usize, what: &str) -> EResult<[usize; 2]> {
        pair(ctx, self.slot(i), default, what)
    }

    /// An axis of a tensor of `rank`, normalised; errors point at the argument, or at the call
    /// when the axis was left out.
    pub fn axis(&self, ctx: &mut Ctx, i: usize, default: i64, rank: usize, span: Span) -> EResult<usize> {
        let slot = self.slot(i);
        let a = int(ctx, slot, default)?;
        let s = slot.as_ref().map(|(_, s)| *s).unwrap_or(span);
        normalize_axis(ctx, a, rank, s)
    }

    pub fn shape(&self, ctx: &mut Ctx, i: usize) -> EResult<Vec<Dim>> {
        shape_arg(ctx, self.slot(i))
    }

    pub fn dtype(&self, ctx: &mut Ctx, i: usize, default: DType) -> EResult<DType> {
        match self.slot(i) {
            None => Ok(default),
            Some((Value::DType(d), _)) => Ok(*d),
            Some((v, s)) => {
                Err(ctx.error(ExpandError::new(codes::WRONG_KIND, *s, format!("expected a dtype, found {}", v.kind()))))
            }
        }
    }

    /// A non-empty list (or tuple) of tensors.
    pub fn tensors(&self, ctx: &mut Ctx, i: usize) -> EResult<Vec<ValueId>> {
        let (v, s) = req(ctx, self.slot(i), Span::default())?;
        match v {
            Value::List(items) | Value::Tuple(items) if !items.is_empty() => items
                .iter()
                .map(|i| match i {
                    Value::Tensor(t) => Ok(*t),
                    other => Err(ctx.error(ExpandError::new(
                        codes::WRONG_KIND,
                        s,
                        format!("expected a list of tensors, found {} in it", other.kind()),
                    ))),
                })
                .collect(),
            other => Err(ctx.error(ExpandError::new(
                codes::WRONG_KIND,
                s,
                format!("expected a non-empty list of tensors, found {}", other.kind()),
            ))),
        }
    }
}

// Readers of one slot. Rules also call them on values they build (the items of a pair, the
// intermediate result of `clamp`), which is why they take a slot and not a position.

/// A required argument (the table marks it so, and `bind` checked it is there).
pub(crate) fn req<'s>(ctx: &mut Ctx, slot: &'s Slot, span: Span) -> EResult<(&'s Value, Span)> {
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

pub(crate) fn number(ctx: &mut Ctx, slot: &Slot, span: Span) -> EResult<f64> {
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
pub(crate) fn pair(ctx: &mut Ctx, slot: &Slot, default: usize, what: &str) -> EResult<[usize; 2]> {
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

/// A shape given as a list of dimensions (ints, `B`, expressions) or as `shape(x)`.
fn shape_arg(ctx: &mut Ctx, slot: &Slot) -> EResult<Vec<Dim>> {
    let (v, s) = req(ctx, slot, Span::default())?;
    match v {
        Value::List(items) | Value::Tuple(items) => {
            let mut out = Vec::with_capacity(items.len());
            for it in items {
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
pub(crate) fn axis_list(ctx: &mut Ctx, items: &[Value], rank: usize, span: Span, what: &str) -> EResult<Vec<usize>> {
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
pub(crate) fn fixed_axis_len(ctx: &mut Ctx, x: ValueId, axis: usize, what: &str, span: Span) -> EResult<i64> {
    match ctx.ty(x).shape[axis].as_const() {
        Some(n) => Ok(n),
        None => Err(ctx.error(ExpandError::new(
            codes::BAD_AXIS,
            span,
            format!("{what} needs an axis of fixed size (not the batch)"),
        ))),
    }
}
