//! Tensor types written in the source: evaluating them (model inputs, `param` declarations)
//! and matching them against values (`fn` signatures bind dimension names on first use).

use super::ctx::{Ctx, EResult, Stop};
use super::error::{ExpandError, codes};
use super::value::Value;
use hg_dsl::ast::{self, DimExpr, DimOp, Span, TypeExpr};
use hg_ir::{DType, Dim, TensorType, ValueId};
use std::collections::BTreeMap;

/// Dimension names bound while matching one call's signature; `...` binds a pack.
#[derive(Default, Debug)]
pub struct SigBindings {
    pub dims: BTreeMap<String, Dim>,
    /// Where each dimension name was bound: the argument that fixed it.
    pub bound_at: BTreeMap<String, Span>,
    pub pack: Option<Vec<Dim>>,
    /// The argument that fixed `pack`: its parameter's name, span and type.
    pub pack_from: Option<(String, Span, TensorType)>,
    /// The tensor arguments matched so far, to trace a mismatch back (see [`super::rank`]).
    pub values: Vec<ValueId>,
}

fn dtype_of(ctx: &mut Ctx, dtype: &Option<ast::Ident>) -> EResult<DType> {
    match dtype {
        None => Ok(DType::F32),
        Some(id) => DType::from_name(&id.name).ok_or_else(|| {
            ctx.error(
                ExpandError::new(codes::WRONG_KIND, id.span, format!("unknown dtype `{}`", id.name))
                    .with_help("dtypes are f32 f64 f16 bf16 i32 i64 bool"),
            )
        }),
    }
}

/// Evaluates a dimension expression to a [`Dim`]; names come from `sig` (signature bindings)
/// or the scope (hyperparameters, `B`).
fn eval_dim(ctx: &mut Ctx, d: &DimExpr, sig: Option<&SigBindings>) -> EResult<Dim> {
    match d {
        DimExpr::Int { value, .. } => Ok(Dim::constant(*value)),
        DimExpr::Name(id) => {
            if let Some(d) = sig.and_then(|s| s.dims.get(&id.name)) {
                return Ok(d.clone());
            }
            match ctx.lookup(&id.name).map(|b| b.value.clone()) {
                Some(v) => v.as_dim().ok_or_else(|| {
                    ctx.error(ExpandError::new(
                        codes::BAD_DIMENSION,
                        id.span,
                        format!("`{}` is {}, not a dimension", id.name, v.kind()),
                    ))
                }),
                None => Err(ctx.error(ExpandError::new(
                    codes::BAD_DIMENSION,
                    id.span,
                    format!("unknown dimension `{}`", id.name),
                ))),
            }
        }
        DimExpr::Ellipsis(span) => {
            Err(ctx.error(ExpandError::new(codes::BAD_DIMENSION, *span, "`...` is only allowed in `fn` signatures")))
        }
        DimExpr::Binary { op, lhs, rhs, span } => {
            let a = eval_dim(ctx, lhs, sig)?;
            let b = eval_dim(ctx, rhs, sig)?;
            let r = match op {
                DimOp::Add => a.checked_add(&b),
                DimOp::Sub => a.checked_sub(&b),
                DimOp::Mul => a.checked_mul(&b),
                DimOp::Div => match a.div_exact(&b) {
                    Some(q) => Some(q),
                    None => {
                        return Err(ctx.error(
                            ExpandError::new(
                                codes::BAD_DIMENSION,
                                *span,
                                format!("`{a} / {b}` is not an exact division"),
                            )
                            .with_help("the checker must prove every division exact"),
                        ));
                    }
                },
            };
            r.ok_or_else(|| ctx.error(ExpandError::new(codes::BAD_DIMENSION, *span, "dimension overflow")))
        }
    }
}

/// Evaluates a tensor type with every name bound (model inputs, parameters).
pub fn eval_tensor_type(ctx: &mut Ctx, ty: &TypeExpr, sig: Option<&SigBindings>) -> EResult<TensorType> {
    match ty {
        TypeExpr::Tensor { dtype, dims, .. } => {
            let dtype = dtype_of(ctx, dtype)?;
            let mut shape = Vec::with_capacity(dims.len());
            for d in dims {
                if let (DimExpr::Ellipsis(_), Some(pack)) = (d, sig.and_then(|s| s.pack.as_ref())) {
                    shape.extend(pack.iter().cloned());
                    continue;
                }
                let dim = eval_dim(ctx, d, sig)?;
                if let Some(n) = dim.as_const()
                    && n < 0
                {
                    return Err(ctx.error(ExpandError::new(
                        codes::BAD_DIMENSION,
                        d.span(),
                        format!("dimension is negative: {n}"),
                    )));
                }
                shape.push(dim);
            }
            Ok(TensorType::new(dtype, shape))
        }
        TypeExpr::Named(id) => Err(ctx.error(ExpandError::new(
            codes::WRONG_KIND,
            id.span,
            format!("expected a tensor type, found `{}`", id.name),
        ))),
    }
}

/// Matches an argument against a parameter's declared type, binding dimension names.
pub fn bind_signature(
    ctx: &mut Ctx,
    sig: &mut SigBindings,
    ty: &TypeExpr,
    value: &Value,
    vspan: Span,
    pname: &ast::Ident,
) -> EResult<()> {
    match ty {
        TypeExpr::Named(kind) => {
            let ok = match (kind.name.as_str(), value) {
                ("int", Value::Int(_) | Value::Dim(_)) => true,
                ("float", Value::Float(_) | Value::Int(_)) => true,
                ("bool", Value::Bool(_)) => true,
                ("list", Value::List(_)) => true,
                ("tuple", Value::Tuple(_)) => true,
                ("str", Value::Str(_)) => true,
                ("fn", Value::Func(_)) => true,
                ("dtype", Value::DType(_)) => true,
                ("int" | "float" | "bool" | "list" | "tuple" | "str" | "fn" | "dtype", _) => false,
                _ => {
                    return Err(ctx.error(ExpandError::new(
                        codes::WRONG_KIND,
                        kind.span,
                        format!("unknown type `{}`", kind.name),
                    )));
                }
            };
            if !ok {
                return Err(ctx.error(
                    ExpandError::new(
                        codes::SIGNATURE_MISMATCH,
                        vspan,
                        format!("`{}` expects {}, found {}", pname.name, kind.name, value.kind()),
                    )
                    .with_label(kind.span, "declared here"),
                ));
            }
            Ok(())
        }
        TypeExpr::Tensor { dtype, dims, span } => {
            let (id, t) = match value {
                Value::Tensor(t) => (*t, ctx.ty(*t).clone()),
                other => {
                    return Err(ctx.error(
                        ExpandError::new(
                            codes::SIGNATURE_MISMATCH,
                            vspan,
                            format!("`{}` expects a tensor, found {}", pname.name, other.kind()),
                        )
                        .with_label(*span, "declared here"),
                    ));
                }
            };
            let want_dtype = dtype_of(ctx, dtype)?;
            let error = |why: String| {
                ExpandError::new(
                    codes::SIGNATURE_MISMATCH,
                    vspan,
                    format!("argument `{}` is {t}, which does not match the signature: {why}", pname.name),
                )
                .label_primary(format!("this is {t}"))
                .with_label(*span, "declared here")
            };
            if want_dtype != t.dtype {
                let e = error(format!("expected dtype {want_dtype}"))
                    .with_help(format!("convert the argument with `cast(..., {want_dtype})`"));
                return Err(ctx.error(e));
            }
            // A shape mismatch may come from a product that kept surprising axes.
            let traced: Vec<ValueId> = sig.values.iter().copied().chain([id]).collect();
            let mismatch = |ctx: &mut Ctx, why: String| {
                let e = ctx.explain_rank(error(why), &traced);
                ctx.error(e)
            };
            match_dims(ctx, sig, dims, (&pname.name, &t), vspan, &mismatch)?;
            sig.values.push(id);
            Ok(())
        }
    }
}

/// Matches `value` (named `value.0`: a parameter, or the return value) of type `value.1`,
/// written at `at`, against the declared dimensions `dims`.
fn match_dims(
    ctx: &mut Ctx,
    sig: &mut SigBindings,
    dims: &[DimExpr],
    value: (&str, &TensorType),
    at: Span,
    mismatch: &dyn Fn(&mut Ctx, String) -> Stop,
) -> EResult<()> {
    let shape = &value.1.shape;
    let has_pack = matches!(dims.first(), Some(DimExpr::Ellipsis(_)));
    let fixed = if has_pack { &dims[1..] } else { dims };
    if dims.iter().skip(1).any(|d| matches!(d, DimExpr::Ellipsis(_))) {
        return Err(mismatch(ctx, "`...` may only be the first dimension".into()));
    }
    if (!has_pack && shape.len() != fixed.len()) || (has_pack && shape.len() < fixed.len()) {
        return Err(mismatch(ctx, format!("expected rank {}{}", if has_pack { "at least " } else { "" }, fixed.len())));
    }
    let split = shape.len() - fixed.len();
    if has_pack {
        let pack = shape[..split].to_vec();
        match &sig.pack {
            Some(there) if *there != pack => {
                let from =
                    sig.pack_from.as_ref().map_or_else(|| "an earlier argument".to_string(), |f| format!("`{}`", f.0));
                let stop = mismatch(ctx, pack_difference(there, &pack, &from));
                // Show the argument that fixed `...`, with its type.
                if let Some((_, first, ty)) = &sig.pack_from
                    && let Some(last) = ctx.errors.last_mut()
                    && *first != last.primary
                {
                    let fixed = if ty.shape == *there {
                        format!("this is {ty}, which fixed `...`")
                    } else {
                        format!("this is {ty}: it fixed `...` = {}", dims_list(there))
                    };
                    last.labels.push((*first, fixed));
                }
                return Err(stop);
            }
            Some(_) => {}
            None => {
                sig.pack = Some(pack);
                sig.pack_from = Some((value.0.to_string(), at, value.1.clone()));
            }
        }
    }
    for (d, actual) in fixed.iter().zip(&shape[split..]) {
        match d {
            DimExpr::Name(id) if !sig.dims.contains_key(&id.name) && ctx.lookup(&id.name).is_none() => {
                sig.dims.insert(id.name.clone(), actual.clone());
                sig.bound_at.insert(id.name.clone(), at);
            }
            _ => {
                let want = eval_dim(ctx, d, Some(sig))?;
                if want != *actual {
                    let why = match d {
                        DimExpr::Int { .. } => format!("expected size {want}, found {actual}"),
                        _ => format!("dimension `{}` is {want} there, but {actual} here", dim_text(d)),
                    };
                    let stop = mismatch(ctx, why);
                    // Show the argument that fixed the dimension first.
                    if let DimExpr::Name(id) = d
                        && let Some(&first) = sig.bound_at.get(&id.name)
                        && let Some(last) = ctx.errors.last_mut()
                        && first != last.primary
                    {
                        last.labels.push((first, format!("this fixed `{}` = {want}", id.name)));
                    }
                    return Err(stop);
                }
            }
        }
    }
    Ok(())
}

/// `[B, 1, 28, 28]`.
fn dims_list(dims: &[Dim]) -> String {
    let dims: Vec<String> = dims.iter().map(Dim::to_string).collect();
    format!("[{}]", dims.join(", "))
}

/// Why the leading dimensions `...` of an argument (`here`) differ from those an earlier
/// argument (`from`) fixed (`there`): both lists, and the first axis that differs.
fn pack_difference(there: &[Dim], here: &[Dim], from: &str) -> String {
    let both = format!("`...` is {} from {from}, but {} here", dims_list(there), dims_list(here));
    if there.len() != here.len() {
        return format!("{both} ({} axes there, {} here)", there.len(), here.len());
    }
    match there.iter().zip(here).position(|(a, b)| a != b) {
        Some(i) => format!("{both} (axis {i}: {} there, {} here)", there[i], here[i]),
        None => both,
    }
}

fn dim_text(d: &DimExpr) -> String {
    match d {
        DimExpr::Int { value, .. } => value.to_string(),
        DimExpr::Name(id) => id.name.clone(),
        DimExpr::Ellipsis(_) => "...".into(),
        DimExpr::Binary { op, lhs, rhs, .. } => {
            let o = match op {
                DimOp::Add => "+",
                DimOp::Sub => "-",
                DimOp::Mul => "*",
                DimOp::Div => "/",
            };
            format!("{} {o} {}", dim_text(lhs), dim_text(rhs))
        }
    }
}

/// Checks a returned value against the declared return type.
pub fn check_return(
    ctx: &mut Ctx,
    sig: &mut SigBindings,
    ret: &TypeExpr,
    v: &Value,
    rspan: Span,
    fname: &ast::Ident,
) -> EResult<()> {
    match (ret, v) {
        (TypeExpr::Tensor { dtype, dims, span }, Value::Tensor(id)) => {
            let t = ctx.ty(*id).clone();
            let want = dtype_of(ctx, dtype)?;
            let error = |why: String| {
                ExpandError::new(
                    codes::RETURN_MISMATCH,
                    rspan,
                    format!("`{}` returns {t}, but its signature says otherwise: {why}", fname.name),
                )
                .with_label(*span, "return type declared here")
            };
            if want != t.dtype {
                return Err(ctx.error(error(format!("expected dtype {want}"))));
            }
            let traced: Vec<ValueId> = sig.values.iter().copied().chain([*id]).collect();
            let fail = |ctx: &mut Ctx, why: String| {
                let e = ctx.explain_rank(error(why), &traced);
                ctx.error(e)
            };
            match_dims(ctx, sig, dims, ("the return value", &t), rspan, &fail)
        }
        (TypeExpr::Tensor { span, .. }, other) => Err(ctx.error(
            ExpandError::new(
                codes::RETURN_MISMATCH,
                rspan,
                format!("`{}` returns {}, but its signature declares a tensor", fname.name, other.kind()),
            )
            .with_label(*span, "return type declared here"),
        )),
        (TypeExpr::Named(_), _) => Ok(()),
    }
}
