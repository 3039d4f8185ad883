//! Evaluation of statements and expressions: compile-time values are folded, tensor
//! operations become IR nodes, `fn` calls are inlined with their own parameters.

use super::builtins;
use super::ctx::{Ctx, EResult, Frame, MAX_CALL_DEPTH, Stop};
use super::error::{ExpandError, codes};
use super::types::{SigBindings, bind_signature, check_return, eval_tensor_type};
use super::value::{Callable, Value};
use hg_dsl::ast::{self, BinaryOp as AstBin, Expr, ExprKind, Span, Stmt, UnaryOp as AstUn};
use hg_ir::{BinaryOp, DType, Dim, Op, TensorType, UnaryOp, ValueId};

/// What a block evaluation ended with.
pub enum Flow {
    Next,
    Return(Value, Span),
}

/// Statements that model sections may contain beyond plain `fn` statements are handled by the
/// caller through this hook (latent/prior/output).
pub trait SectionHook {
    fn special(&mut self, ctx: &mut Ctx, stmt: &Stmt) -> EResult<bool>;
}

pub struct NoHook;
impl SectionHook for NoHook {
    fn special(&mut self, _ctx: &mut Ctx, _stmt: &Stmt) -> EResult<bool> {
        Ok(false)
    }
}

pub fn eval_block(ctx: &mut Ctx, block: &ast::Block, hook: &mut dyn SectionHook, in_repeat: bool) -> Flow {
    for stmt in &block.stmts {
        match eval_stmt(ctx, stmt, hook, in_repeat) {
            Ok(Flow::Next) => {}
            Ok(ret @ Flow::Return(..)) => return ret,
            Err(Stop) => {
                for name in stmt_targets(stmt) {
                    ctx.poison(&name);
                }
                if let Stmt::Return { .. } = stmt {
                    return Flow::Return(Value::Bool(false), stmt.span()).poisoned();
                }
            }
        }
    }
    Flow::Next
}

impl Flow {
    /// A return whose value failed: callers see `Stop`.
    fn poisoned(self) -> Flow {
        match self {
            Flow::Return(_, span) => Flow::Return(Value::Tuple(vec![Value::Str(POISON.to_string())]), span),
            f => f,
        }
    }
}

/// Sentinel carried by a failed `return` so the caller stops without a second error.
const POISON: &str = "\u{0}poison";

pub fn is_poison(v: &Value) -> bool {
    matches!(v, Value::Tuple(items) if matches!(items.as_slice(), [Value::Str(s)] if s == POISON))
}

fn stmt_targets(stmt: &Stmt) -> Vec<String> {
    match stmt {
        Stmt::Let { targets, .. } => targets.iter().map(|t| t.name.clone()).collect(),
        Stmt::Param { name, .. } | Stmt::Latent { name, .. } | Stmt::Prior { name, .. } | Stmt::Output { name, .. } => {
            vec![name.name.clone()]
        }
        Stmt::Update { .. } => Vec::new(),
        // A failed `if` or `repeat` poisons whatever its blocks would have bound.
        Stmt::If { then_block, else_block, .. } => then_block
            .stmts
            .iter()
            .chain(else_block.iter().flat_map(|b| b.stmts.iter()))
            .flat_map(stmt_targets)
            .collect(),
        Stmt::Repeat { body, .. } | Stmt::For { body, .. } => body.stmts.iter().flat_map(stmt_targets).collect(),
        Stmt::Return { .. } => Vec::new(),
    }
}

fn set_stmt_name(ctx: &mut Ctx, name: &str) {
    let frame = ctx.frame();
    frame.stmt_name = name.to_string();
    frame.stmt_calls = 0;
}

/// Binds a `for` loop's names to one item: the item itself for one name, its parts for several.
fn bind_loop_vars(ctx: &mut Ctx, vars: &[ast::Ident], item: Value, iter: &Expr, index: usize) -> EResult<()> {
    if let [var] = vars {
        ctx.bind(&var.name, item, var.span);
        return Ok(());
    }
    let names = vars[0].span.to(vars[vars.len() - 1].span);
    let parts = match item {
        Value::Tuple(parts) | Value::List(parts) if parts.len() == vars.len() => parts,
        Value::Tuple(parts) | Value::List(parts) => {
            return Err(ctx.error(
                ExpandError::new(
                    codes::UNPACK,
                    names,
                    format!("expected {} values to unpack, found {} in item {index}", vars.len(), parts.len()),
                )
                .label_primary(format!("{} names here", vars.len()))
                .with_label(iter.span, format!("item {index} of this has {} values", parts.len())),
            ));
        }
        other => {
            return Err(ctx.error(
                ExpandError::new(
                    codes::UNPACK,
                    names,
                    format!("cannot unpack {} into {} names", other.kind(), vars.len()),
                )
                .label_primary(format!("{} names here", vars.len()))
                .with_label(iter.span, format!("item {index} of this is {}", other.kind()))
                .with_help("loop over `enumerate(xs)` to get `(index, item)` pairs"),
            ));
        }
    };
    for (v, part) in vars.iter().zip(parts) {
        ctx.bind(&v.name, part, v.span);
    }
    Ok(())
}

pub fn eval_stmt(ctx: &mut Ctx, stmt: &Stmt, hook: &mut dyn SectionHook, in_repeat: bool) -> EResult<Flow> {
    if hook.special(ctx, stmt)? {
        return Ok(Flow::Next);
    }
    match stmt {
        Stmt::Let { targets, value, span } => {
            ctx.frame().name_statement(&targets[0].name);
            let v = eval_expr(ctx, value)?;
            if targets.len() == 1 {
                bind_target(ctx, &targets[0], v, in_repeat);
            } else {
                let items = match v {
                    Value::Tuple(items) | Value::List(items) => items,
                    other => {
                        return Err(ctx.error(
                            ExpandError::new(
                                codes::UNPACK,
                                *span,
                                format!("cannot unpack {} into {} names", other.kind(), targets.len()),
                            )
                            .label_primary("this value is not a tuple"),
                        ));
                    }
                };
                if items.len() != targets.len() {
                    return Err(ctx.error(
                        ExpandError::new(
                            codes::UNPACK,
                            *span,
                            format!("expected {} values to unpack, found {}", targets.len(), items.len()),
                        )
                        .label_primary(format!("{} names here", targets.len()))
                        .with_label(value.span, format!("this gives {} values", items.len())),
                    ));
                }
                for (t, v) in targets.iter().zip(items) {
                    bind_target(ctx, t, v, in_repeat);
                }
            }
            Ok(Flow::Next)
        }
        Stmt::Param { name, ty, init, span, buffer } => {
            let t = eval_tensor_type(ctx, ty, None)?;
            let what = if *buffer { "buffer" } else { "parameter" };
            if t.shape.iter().any(|d| !d.is_const()) {
                return Err(ctx.error(
                    ExpandError::new(
                        codes::BAD_DIMENSION,
                        ty.span(),
                        format!("{what} `{}` has a run-time dimension: {t}", name.name),
                    )
                    .with_help(format!("{what}s have fixed shapes; the batch `B` cannot appear in them")),
                ));
            }
            let init = builtins::eval_initializer(ctx, init)?;
            let path = ctx.param_path(&name.name);
            let v = declare_param(ctx, &path, t, init, *span, name, !buffer)?;
            ctx.bind(&name.name, Value::Tensor(v), name.span);
            Ok(Flow::Next)
        }
        Stmt::Update { name, value, span } => {
            // Only the train step replaces buffers; other entries read them as they are.
            if !ctx.training {
                return Ok(Flow::Next);
            }
            ctx.frame().name_statement(&format!("{}.update", name.name));
            let v = eval_expr(ctx, value)?;
            super::buffers::record_update(ctx, name, v, value.span, *span)?;
            Ok(Flow::Next)
        }
        Stmt::Repeat { count, body, .. } => {
            set_stmt_name(ctx, "repeat");
            let n = eval_expr(ctx, count)?;
            let n = match n {
                Value::Int(n) if n >= 0 => n,
                other => {
                    return Err(ctx.error(ExpandError::new(
                        codes::WRONG_KIND,
                        count.span,
                        format!("`repeat` needs a non-negative compile-time int, found {}", other.kind()),
                    )));
                }
            };
            for _ in 0..n {
                ctx.frame().scopes.push(Default::default());
                let flow = eval_block(ctx, body, hook, true);
                ctx.frame().scopes.pop();
                if let Flow::Return(v, s) = flow {
                    return Ok(Flow::Return(v, s));
                }
            }
            Ok(Flow::Next)
        }
        Stmt::For { vars, iter, body, .. } => {
            set_stmt_name(ctx, "for");
            let items = match eval_expr(ctx, iter)? {
                Value::List(items) | Value::Tuple(items) => items,
                other => {
                    let mut e = ExpandError::new(
                        codes::WRONG_KIND,
                        iter.span,
                        format!("`for` needs a compile-time list or tuple, found {}", other.kind()),
                    );
                    e = match other {
                        Value::Int(n) if n >= 0 => e.with_help(format!("loop over `range({n})` to count from 0")),
                        Value::Tensor(_) => e.with_help(
                            "the loop is unrolled at compile time; it cannot run over the values of a tensor",
                        ),
                        _ => e,
                    };
                    return Err(ctx.error(e));
                }
            };
            let outer_scopes = ctx.frame_ref().scopes.len();
            for (index, item) in items.into_iter().enumerate() {
                ctx.frame().scopes.push(Default::default());
                ctx.frame().loops.push(super::ctx::LoopLevel { index, outer_scopes });
                let bound = bind_loop_vars(ctx, vars, item, iter, index);
                let flow = if bound.is_ok() { eval_block(ctx, body, hook, true) } else { Flow::Next };
                ctx.frame().loops.pop();
                ctx.frame().scopes.pop();
                bound?;
                if let Flow::Return(v, s) = flow {
                    return Ok(Flow::Return(v, s));
                }
            }
            Ok(Flow::Next)
        }
        Stmt::If { cond, then_block, else_block, .. } => {
            let c = eval_expr(ctx, cond)?;
            let take_then = match c {
                Value::Bool(b) => b,
                Value::Tensor(_) => {
                    return Err(ctx.error(
                        ExpandError::new(
                            codes::NOT_COMPILE_TIME,
                            cond.span,
                            "`if` needs a compile-time condition, found a tensor",
                        )
                        .with_help("select between tensors element by element with `where(cond, a, b)`"),
                    ));
                }
                other => {
                    return Err(ctx.error(ExpandError::new(
                        codes::WRONG_KIND,
                        cond.span,
                        format!("`if` needs a bool, found {}", other.kind()),
                    )));
                }
            };
            let block = if take_then { Some(then_block) } else { else_block.as_ref() };
            if let Some(block) = block {
                // `if` blocks bind into the enclosing scope: names defined in both branches are
                // visible after the statement.
                let flow = eval_block(ctx, block, hook, in_repeat);
                if let Flow::Return(v, s) = flow {
                    return Ok(Flow::Return(v, s));
                }
            }
            Ok(Flow::Next)
        }
        Stmt::Return { value, span } => {
            ctx.frame().name_statement("out");
            let v = eval_expr(ctx, value)?;
            Ok(Flow::Return(v, *span))
        }
        Stmt::Latent { span, .. } | Stmt::Prior { span, .. } | Stmt::Output { span, .. } => Err(ctx.error(
            ExpandError::new(codes::MODEL_INCOMPLETE, *span, "`latent`, `prior` and `output` belong in model sections"),
        )),
    }
}

fn bind_target(ctx: &mut Ctx, target: &ast::Ident, v: Value, in_repeat: bool) {
    if in_repeat && ctx.lookup(&target.name).is_some() && ctx.assign_carried(&target.name, v.clone(), target.span) {
        return;
    }
    ctx.bind(&target.name, v, target.span);
}

/// Declares (or, inside `repeat` and in a later entry point, re-uses) a parameter and returns
/// its node. `span` is the `param` statement, `name` its name.
pub fn declare_param(
    ctx: &mut Ctx,
    path: &str,
    ty: TensorType,
    init: hg_ir::Init,
    span: Span,
    name: &ast::Ident,
    trainable: bool,
) -> EResult<ValueId> {
    let site: Vec<Span> = ctx.call_stack.iter().map(|(_, _, call)| *call).chain([span]).collect();
    if let Some(&idx) = ctx.params.index.get(path) {
        if let Some(first) = ctx.params.sites.get(path)
            && *first != site
        {
            let first = first.clone();
            return Err(path_collision(ctx, path, &first, &site, name));
        }
        let existing = ctx.params.decls[idx].clone();
        if existing.ty != ty {
            return Err(ctx.error(
                ExpandError::new(
                    codes::PARAM_CONFLICT,
                    span,
                    format!("parameter `{path}` is declared as {ty} here but as {} elsewhere", existing.ty),
                )
                .with_label(super::ctx::ast_span(existing.span), "first declared here"),
            ));
        }
    } else {
        ctx.params.sites.insert(path.to_string(), site);
        ctx.params.index.insert(path.to_string(), ctx.params.decls.len());
        ctx.params.decls.push(hg_ir::ParamDecl {
            name: path.to_string(),
            ty: ty.clone(),
            init,
            span: super::ctx::node_span(span),
            trainable,
        });
    }
    if let Some(&v) = ctx.param_nodes.get(path) {
        return Ok(v);
    }
    let v = ctx.add_with_type(Op::Param { name: path.to_string() }, &[], ty, span)?;
    ctx.param_nodes.insert(path.to_string(), v);
    Ok(v)
}

/// The error for a second place declaring a parameter path: points at the first call site (or
/// `param` statement) where the two ways to the path part, for both.
fn path_collision(ctx: &mut Ctx, path: &str, first: &[Span], again: &[Span], name: &ast::Ident) -> Stop {
    let k = first.iter().zip(again).position(|(a, b)| a != b).unwrap_or(first.len().min(again.len()));
    let at = |sites: &[Span]| sites.get(k).or(sites.last()).copied().unwrap_or(name.span);
    let (here, there) = (at(again), at(first));
    let is_param = |sites: &[Span]| k + 1 >= sites.len();
    let what = |sites: &[Span]| if is_param(sites) { "`param` statement" } else { "call" };
    // A segment of digits comes from a `for` iteration.
    let in_loop = path.split('.').any(|seg| seg.bytes().all(|b| b.is_ascii_digit()));
    let help = if in_loop {
        "in a `for` body, a statement that updates a name bound before the loop is named by the iteration \
         index alone (`0`, `1`, ...), so two such statements, or two such loops in one body, take the same \
         paths: bind the layer to a new name inside the loop (`t = Linear(h, n)` then `h = t` gives `0.t.w`), \
         or move one loop into a `fn` and bind its result (`h2 = Stack(h)`)"
    } else {
        "parameters are named by the bindings that lead to them; bind one of these results to a different name \
         so that the two paths differ"
    };
    ctx.error(
        ExpandError::new(codes::PARAM_PATH_TAKEN, here, format!("two different places declare the parameter `{path}`"))
            .label_primary(format!("this {} declares `{path}` again", what(again)))
            .with_label(there, format!("this {} declared `{path}` first", what(first)))
            .with_help(help),
    )
}

pub fn eval_expr(ctx: &mut Ctx, e: &Expr) -> EResult<Value> {
    match &e.kind {
        ExprKind::Int(n) => Ok(Value::Int(*n)),
        ExprKind::Float { value, .. } => Ok(Value::Float(*value)),
        ExprKind::Bool(b) => Ok(Value::Bool(*b)),
        ExprKind::Str(s) => Ok(Value::Str(s.clone())),
        ExprKind::Training => Ok(Value::Bool(ctx.training)),
        ExprKind::Sampling => Ok(Value::Bool(ctx.sampling)),
        ExprKind::Name(id) => eval_name(ctx, id),
        ExprKind::List(items) => Ok(Value::List(items.iter().map(|i| eval_expr(ctx, i)).collect::<EResult<_>>()?)),
        ExprKind::Tuple(items) => Ok(Value::Tuple(items.iter().map(|i| eval_expr(ctx, i)).collect::<EResult<_>>()?)),
        ExprKind::Paren(inner) => eval_expr(ctx, inner),
        ExprKind::Record(fields) => {
            let mut out = Vec::with_capacity(fields.len());
            for (name, value) in fields {
                out.push((name.name.clone(), eval_expr(ctx, value)?));
            }
            Ok(Value::Record(out))
        }
        ExprKind::Unary { op, operand } => {
            let v = eval_expr(ctx, operand)?;
            eval_unary(ctx, *op, v, operand.span, e.span)
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let a = eval_expr(ctx, lhs)?;
            let b = eval_expr(ctx, rhs)?;
            eval_binary(ctx, *op, (a, lhs.span), (b, rhs.span), e.span)
        }
        ExprKind::Call { callee, args } => eval_call(ctx, callee, args, e.span),
        ExprKind::Field { base, field } => {
            let v = eval_expr(ctx, base)?;
            match v {
                Value::Record(fields) => match fields.iter().find(|(n, _)| *n == field.name) {
                    Some((_, v)) => Ok(v.clone()),
                    None => {
                        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
                        Err(ctx.error(
                            ExpandError::new(
                                codes::NO_FIELD,
                                field.span,
                                format!("record has no field `{}`", field.name),
                            )
                            .with_label(base.span, "this record")
                            .with_help(format!("its fields are: {}", names.join(", "))),
                        ))
                    }
                },
                other => Err(ctx.error(
                    ExpandError::new(
                        codes::NO_FIELD,
                        field.span,
                        format!("cannot read field `{}` of {}", field.name, other.kind()),
                    )
                    .with_label(base.span, format!("this is {}", other.kind()))
                    .with_help("fields exist on records, such as the result of a bottleneck: `g.z`"),
                )),
            }
        }
        ExprKind::Index { base, indices } => {
            let v = eval_expr(ctx, base)?;
            super::index::eval_index(ctx, v, base.span, indices, e.span)
        }
        ExprKind::IfElse { cond, then_expr, else_expr } => match eval_expr(ctx, cond)? {
            Value::Bool(true) => eval_expr(ctx, then_expr),
            Value::Bool(false) => eval_expr(ctx, else_expr),
            Value::Tensor(_) => Err(ctx.error(
                ExpandError::new(
                    codes::NOT_COMPILE_TIME,
                    cond.span,
                    "`if ... then ... else` needs a compile-time condition, found a tensor",
                )
                .with_help("select between tensors element by element with `where(cond, a, b)`"),
            )),
            other => Err(ctx.error(ExpandError::new(
                codes::WRONG_KIND,
                cond.span,
                format!("condition must be a bool, found {}", other.kind()),
            ))),
        },
    }
}

fn eval_name(ctx: &mut Ctx, id: &ast::Ident) -> EResult<Value> {
    if let Some(b) = ctx.lookup(&id.name) {
        return Ok(b.value.clone());
    }
    if ctx.is_poisoned(&id.name) {
        return Err(Stop);
    }
    if let Some((span, section)) = ctx.frame_ref().hidden.get(&id.name).copied() {
        return Err(ctx.error(
            ExpandError::new(
                codes::DECODER_READS_ENCODER,
                id.span,
                format!("the decoder reads `{}`, which is bound in the {section}", id.name),
            )
            .label_primary("read here")
            .with_label(span, format!("bound in the {section} here"))
            .with_help(format!(
                "the decoder may read only latents; make `{0}` a latent, or declare `decoder({0}) {{ ... }}` (then the model has no standalone `decode`)",
                id.name
            )),
        ));
    }
    let file = ctx.frame_ref().file;
    if let Some((f, item)) = ctx.program.lookup_fn(file, &id.name) {
        return Ok(Value::Func(Callable::User { file: f, item, name: id.name.clone() }));
    }
    if let Some(v) = builtins::builtin_value(&id.name) {
        return Ok(v);
    }
    // A prior reading a value of the model's sections or inputs: say why it cannot.
    if ctx.frames.len() == 1
        && let Some(prior) = &ctx.prior
        && let Some(&(span, place)) = prior.hidden.get(&id.name)
    {
        let bound = if place == "model inputs" {
            format!("`{}` is a model input", id.name)
        } else {
            format!("`{}` is bound here, in the `{place}`", id.name)
        };
        let what =
            if place == "model inputs" { "a model input".to_string() } else { format!("a value of the `{place}`") };
        let help = hg_dsl::resolve::prior_rule(&prior.latent, prior.shape.as_deref());
        // A bottleneck value computed from an input or the encoder: name what it depends on.
        let via = prior.blocked.get(&id.name).filter(|b| b.name != id.name).cloned();
        let message = match &via {
            Some(b) => {
                let root = if b.place == "model inputs" {
                    "a model input".to_string()
                } else {
                    format!("a value of the `{}`", b.place)
                };
                format!("the prior of `{}` reads `{}`, which depends on `{}`, {root}", prior.latent, id.name, b.name)
            }
            None => format!("the prior of `{}` reads `{}`, {what}", prior.latent, id.name),
        };
        let mut e = ExpandError::new(codes::UNKNOWN_NAME, id.span, message)
            .label_primary("read in the prior")
            .with_label(span, bound);
        if let Some(b) = via {
            let place =
                if b.place == "model inputs" { "a model input".to_string() } else { format!("in the `{}`", b.place) };
            e = e.with_label(b.span, format!("`{}` is bound here, {place}", b.name));
        }
        return Err(ctx.error(e.with_help(help)));
    }
    Err(ctx.error(ExpandError::new(codes::UNKNOWN_NAME, id.span, format!("unknown name `{}`", id.name))))
}

fn eval_call(ctx: &mut Ctx, callee: &ast::Ident, args: &[ast::Arg], span: Span) -> EResult<Value> {
    // A local binding holding a function (`act`) takes precedence over global names.
    let target = match ctx.lookup(&callee.name).map(|b| b.value.clone()) {
        Some(Value::Func(c)) => c,
        Some(other) => {
            return Err(ctx.error(ExpandError::new(
                codes::WRONG_KIND,
                callee.span,
                format!("`{}` is {}, not a function", callee.name, other.kind()),
            )));
        }
        None => {
            let file = ctx.frame_ref().file;
            match ctx.program.lookup_fn(file, &callee.name) {
                Some((f, item)) => Callable::User { file: f, item, name: callee.name.clone() },
                None => Callable::Builtin(callee.name.clone()),
            }
        }
    };
    // The path segment for parameters created by this call: the statement's name for its
    // first `fn` call, then `name_1`, `name_2`, ... (built-ins own no parameters).
    let segment = if matches!(target, Callable::User { .. }) {
        let frame = ctx.frame();
        let seg = if frame.stmt_calls == 0 {
            frame.stmt_name.clone()
        } else {
            format!("{}_{}", frame.stmt_name, frame.stmt_calls)
        };
        frame.stmt_calls += 1;
        seg
    } else {
        String::new()
    };
    let mut values = Vec::with_capacity(args.len());
    for a in args {
        values.push(ArgValue { name: a.name.clone(), value: eval_expr(ctx, &a.value)?, span: a.value.span });
    }
    call_value(ctx, &target, values, span, callee.span, &segment)
}

/// Places call arguments into parameter slots: positional ones in order, then keyword ones by
/// name. `defined` is where the callee is declared, for a second label (user functions).
pub fn place_args(
    ctx: &mut Ctx,
    fname: &str,
    names: &[&str],
    args: Vec<ArgValue>,
    defined: Option<Span>,
) -> EResult<Vec<Option<ArgValue>>> {
    let with_def = |e: ExpandError| match defined {
        Some(d) => e.with_label(d, "defined here"),
        None => e,
    };
    let mut slots: Vec<Option<ArgValue>> = vec![None; names.len()];
    let mut positional = 0;
    for a in args {
        let idx = match &a.name {
            None => {
                let i = positional;
                positional += 1;
                if i >= names.len() {
                    let e = ExpandError::new(
                        codes::BAD_ARGUMENT,
                        a.span,
                        format!("`{fname}` takes at most {} arguments ({})", names.len(), names.join(", ")),
                    );
                    return Err(ctx.error(with_def(e)));
                }
                i
            }
            Some(k) => match names.iter().position(|n| *n == k.name) {
                Some(i) => i,
                None => {
                    let help = hg_dsl::suggest::pytorch_keyword(&k.name, names, "...")
                        .unwrap_or_else(|| format!("its parameters are: {}", names.join(", ")));
                    let e = ExpandError::new(
                        codes::BAD_ARGUMENT,
                        k.span,
                        format!("`{fname}` has no parameter `{}`", k.name),
                    )
                    .with_help(help);
                    return Err(ctx.error(with_def(e)));
                }
            },
        };
        if slots[idx].is_some() {
            let e = ExpandError::new(codes::BAD_ARGUMENT, a.span, format!("argument `{}` given twice", names[idx]));
            return Err(ctx.error(e));
        }
        slots[idx] = Some(a);
    }
    Ok(slots)
}

/// An evaluated call argument.
#[derive(Clone, Debug)]
pub struct ArgValue {
    pub name: Option<ast::Ident>,
    pub value: Value,
    pub span: Span,
}

pub fn call_value(
    ctx: &mut Ctx,
    target: &Callable,
    args: Vec<ArgValue>,
    span: Span,
    callee_span: Span,
    segment: &str,
) -> EResult<Value> {
    match target {
        Callable::Builtin(name) => builtins::call_builtin(ctx, name, args, span, callee_span),
        Callable::User { file, item, name } => call_user(ctx, *file, *item, name, args, span, segment),
    }
}

fn call_user(
    ctx: &mut Ctx,
    file: ast::FileId,
    item: usize,
    name: &str,
    args: Vec<ArgValue>,
    span: Span,
    segment: &str,
) -> EResult<Value> {
    let program = ctx.program;
    let def = match program.file(file).items.get(item) {
        Some(ast::Item::Fn(def)) => def,
        _ => return Err(ctx.error(ExpandError::new(codes::UNKNOWN_NAME, span, format!("`{name}` is not a function")))),
    };
    if ctx.call_depth >= MAX_CALL_DEPTH {
        // Name the function that recurses: the one most often on the call stack.
        let mut counts: std::collections::HashMap<&str, (usize, Span, Span)> = std::collections::HashMap::new();
        for (n, def_span, call_span) in &ctx.call_stack {
            let e = counts.entry(n.as_str()).or_insert((0, *def_span, *call_span));
            e.0 += 1;
            e.2 = *call_span;
        }
        let (rec, (times, rec_def, rec_call)) = counts
            .iter()
            .max_by_key(|(n, (c, _, _))| (*c, std::cmp::Reverse(**n)))
            .map(|(n, v)| (n.to_string(), *v))
            .unwrap_or((name.to_string(), (0, def.name.span, span)));
        return Err(ctx.error(
            ExpandError::new(
                codes::RECURSION_LIMIT,
                rec_call,
                format!("`{rec}` calls itself {times} times without reaching its base case (calls nest deeper than {MAX_CALL_DEPTH} levels)"),
            )
            .label_primary("this recursive call")
            .with_label(rec_def, "defined here")
            .with_help("a recursive function must reach its base case at compile time: check the argument that should shrink"),
        ));
    }
    // Bind arguments to parameters: positional, then keywords, then defaults.
    let names: Vec<&str> = def.params.iter().map(|p| p.name.name.as_str()).collect();
    let slots = place_args(ctx, name, &names, args, Some(def.name.span))?;
    let caller_prefix = ctx.frame_ref().prefix.clone();
    let prefix = match (caller_prefix.is_empty(), segment.is_empty()) {
        (true, _) => segment.to_string(),
        (false, true) => caller_prefix,
        (false, false) => format!("{caller_prefix}.{segment}"),
    };
    // Evaluate defaults and check types inside the callee's frame (defaults may use earlier params).
    let frame = Frame::new(file, prefix);
    let mut sig = SigBindings::default();
    let errors_before = ctx.errors.len();
    ctx.frames.push(frame);
    ctx.call_depth += 1;
    ctx.call_stack.push((name.to_string(), def.name.span, span));
    let result = (|| {
        for (p, slot) in def.params.iter().zip(slots) {
            let (value, vspan) = match slot {
                Some(a) => (a.value, a.span),
                None => match &p.default {
                    Some(d) => (eval_expr(ctx, d)?, d.span),
                    None => {
                        return Err(ctx.error(
                            ExpandError::new(
                                codes::BAD_ARGUMENT,
                                span,
                                format!("missing argument `{}` of `{name}`", p.name.name),
                            )
                            .with_label(p.name.span, "parameter declared here"),
                        ));
                    }
                },
            };
            if let Some(ty) = &p.ty {
                bind_signature(ctx, &mut sig, ty, &value, vspan, &p.name)?;
            }
            ctx.bind(&p.name.name, value, p.name.span);
        }
        for (dim_name, d) in &sig.dims {
            if ctx.lookup(dim_name).is_none() {
                ctx.bind(dim_name, Value::from_dim(d.clone()), def.name.span);
            }
        }
        let flow = eval_block(ctx, &def.body, &mut NoHook, false);
        match flow {
            Flow::Return(v, rspan) => {
                if is_poison(&v) {
                    return Err(Stop);
                }
                if let Some(ret) = &def.ret {
                    check_return(ctx, &mut sig, ret, &v, rspan, &def.name)?;
                }
                Ok(v)
            }
            Flow::Next => {
                if !ctx.errors.is_empty() {
                    return Err(Stop);
                }
                Err(ctx.error(
                    ExpandError::new(codes::NO_RETURN, def.body.span, format!("`{name}` ends without `return`"))
                        .with_label(span, "called here"),
                ))
            }
        }
    })();
    ctx.call_depth -= 1;
    ctx.call_stack.pop();
    ctx.frames.pop();
    // Errors found inside the callee also point at this call, so the user sees which call of a
    // shared function failed (the innermost call site is added first).
    for e in ctx.errors[errors_before..].iter_mut() {
        if !e.labels.iter().any(|(s, _)| *s == span) && e.primary != span && e.labels.len() < 8 {
            e.labels.push((span, format!("in this call of `{name}`")));
        }
    }
    result
}

fn eval_unary(ctx: &mut Ctx, op: AstUn, v: Value, operand_span: Span, span: Span) -> EResult<Value> {
    match (op, v) {
        (AstUn::Neg, Value::Int(n)) => n
            .checked_neg()
            .map(Value::Int)
            .ok_or_else(|| ctx.error(ExpandError::new(codes::BAD_ARGUMENT, span, "integer overflow"))),
        (AstUn::Neg, Value::Float(x)) => Ok(Value::Float(-x)),
        (AstUn::Neg, Value::Dim(d)) => Ok(Value::from_dim(d.checked_neg().ok_or(Stop)?)),
        (AstUn::Neg, Value::Tensor(t)) => Ok(Value::Tensor(ctx.add(Op::Unary(UnaryOp::Neg), &[t], span)?)),
        (AstUn::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
        (AstUn::Not, Value::Tensor(t)) => Ok(Value::Tensor(ctx.add(Op::Unary(UnaryOp::Not), &[t], span)?)),
        (op, v) => Err(ctx.error(
            ExpandError::new(
                codes::WRONG_KIND,
                span,
                format!("cannot apply `{}` to {}", if op == AstUn::Neg { "-" } else { "!" }, v.kind()),
            )
            .with_label(operand_span, "this value"),
        )),
    }
}

/// Turns a compile-time number into a scalar constant of `dtype`.
pub fn constant(ctx: &mut Ctx, value: f64, dtype: DType, span: Span) -> EResult<ValueId> {
    ctx.add_with_type(Op::Const { value }, &[], TensorType::scalar(dtype), span)
}

/// The value as a tensor: tensors as they are, numbers as constants of `dtype`.
pub fn as_tensor(ctx: &mut Ctx, v: &Value, dtype: DType, span: Span) -> EResult<ValueId> {
    match v {
        Value::Tensor(t) => Ok(*t),
        Value::Int(n) => constant(ctx, *n as f64, dtype, span),
        Value::Float(x) => constant(ctx, *x, dtype, span),
        Value::Bool(b) => constant(ctx, if *b { 1.0 } else { 0.0 }, DType::Bool, span),
        Value::Dim(d) => ctx.add_with_type(Op::DimValue { dim: d.clone() }, &[], TensorType::scalar(dtype), span),
        other => Err(ctx.error(ExpandError::new(
            codes::WRONG_KIND,
            span,
            format!("expected a tensor or a number, found {}", other.kind()),
        ))),
    }
}

fn fold_int(ctx: &mut Ctx, op: AstBin, a: i64, b: i64, span: Span) -> EResult<Value> {
    let overflow = |ctx: &mut Ctx| {
        ctx.error(ExpandError::new(codes::BAD_ARGUMENT, span, "integer overflow in a compile-time expression"))
    };
    Ok(match op {
        AstBin::Add => Value::Int(a.checked_add(b).ok_or_else(|| overflow(ctx))?),
        AstBin::Sub => Value::Int(a.checked_sub(b).ok_or_else(|| overflow(ctx))?),
        AstBin::Mul => Value::Int(a.checked_mul(b).ok_or_else(|| overflow(ctx))?),
        AstBin::Div => {
            if b == 0 {
                return Err(ctx.error(ExpandError::new(
                    codes::BAD_ARGUMENT,
                    span,
                    "division by zero in a compile-time expression",
                )));
            }
            // Exact integer division stays an int (sizes like `hidden / 2`); otherwise a float.
            if a % b == 0 { Value::Int(a / b) } else { Value::Float(a as f64 / b as f64) }
        }
        AstBin::Pow => {
            if b >= 0 {
                match u32::try_from(b).ok().and_then(|e| a.checked_pow(e)) {
                    Some(v) => Value::Int(v),
                    None => return Err(overflow(ctx)),
                }
            } else {
                Value::Float((a as f64).powf(b as f64))
            }
        }
        AstBin::Eq => Value::Bool(a == b),
        AstBin::Ne => Value::Bool(a != b),
        AstBin::Lt => Value::Bool(a < b),
        AstBin::Le => Value::Bool(a <= b),
        AstBin::Gt => Value::Bool(a > b),
        AstBin::Ge => Value::Bool(a >= b),
        AstBin::MatMul | AstBin::And | AstBin::Or => return Err(Stop),
    })
}

fn fold_float(op: AstBin, a: f64, b: f64) -> Option<Value> {
    Some(match op {
        AstBin::Add => Value::Float(a + b),
        AstBin::Sub => Value::Float(a - b),
        AstBin::Mul => Value::Float(a * b),
        AstBin::Div => Value::Float(a / b),
        AstBin::Pow => Value::Float(a.powf(b)),
        AstBin::Eq => Value::Bool(a == b),
        AstBin::Ne => Value::Bool(a != b),
        AstBin::Lt => Value::Bool(a < b),
        AstBin::Le => Value::Bool(a <= b),
        AstBin::Gt => Value::Bool(a > b),
        AstBin::Ge => Value::Bool(a >= b),
        AstBin::MatMul | AstBin::And | AstBin::Or => return None,
    })
}

fn ir_binary(op: AstBin) -> Option<BinaryOp> {
    Some(match op {
        AstBin::Add => BinaryOp::Add,
        AstBin::Sub => BinaryOp::Sub,
        AstBin::Mul => BinaryOp::Mul,
        AstBin::Div => BinaryOp::Div,
        AstBin::Pow => BinaryOp::Pow,
        AstBin::Eq => BinaryOp::Eq,
        AstBin::Ne => BinaryOp::Ne,
        AstBin::Lt => BinaryOp::Lt,
        AstBin::Le => BinaryOp::Le,
        AstBin::Gt => BinaryOp::Gt,
        AstBin::Ge => BinaryOp::Ge,
        AstBin::And => BinaryOp::And,
        AstBin::Or => BinaryOp::Or,
        AstBin::MatMul => return None,
    })
}

pub fn eval_binary(
    ctx: &mut Ctx,
    op: AstBin,
    (a, aspan): (Value, Span),
    (b, bspan): (Value, Span),
    span: Span,
) -> EResult<Value> {
    use Value::*;
    match (&a, &b) {
        (Int(x), Int(y)) if !matches!(op, AstBin::MatMul | AstBin::And | AstBin::Or) => {
            return fold_int(ctx, op, *x, *y, span);
        }
        (Int(_) | Float(_), Int(_) | Float(_)) if !matches!(op, AstBin::MatMul | AstBin::And | AstBin::Or) => {
            let (x, y) = (a.as_f64().ok_or(Stop)?, b.as_f64().ok_or(Stop)?);
            return fold_float(op, x, y).ok_or(Stop);
        }
        (Bool(x), Bool(y)) => match op {
            AstBin::And => return Ok(Bool(*x && *y)),
            AstBin::Or => return Ok(Bool(*x || *y)),
            AstBin::Eq => return Ok(Bool(x == y)),
            AstBin::Ne => return Ok(Bool(x != y)),
            _ => {}
        },
        (Dim(_), Int(_) | Dim(_)) | (Int(_), Dim(_)) => {
            let (x, y) = (a.as_dim().ok_or(Stop)?, b.as_dim().ok_or(Stop)?);
            let r = match op {
                AstBin::Add => x.checked_add(&y),
                AstBin::Sub => x.checked_sub(&y),
                AstBin::Mul => x.checked_mul(&y),
                AstBin::Div => match x.div_exact(&y) {
                    Some(q) => Some(q),
                    None => {
                        return Err(ctx.error(
                            ExpandError::new(
                                codes::BAD_DIMENSION,
                                span,
                                format!("`{x} / {y}` is not an exact division"),
                            )
                            .with_help("dimensions must divide exactly for every batch size"),
                        ));
                    }
                },
                AstBin::Eq => return Ok(Bool(x == y)),
                AstBin::Ne => return Ok(Bool(x != y)),
                _ => {
                    return Err(ctx.error(ExpandError::new(
                        codes::WRONG_KIND,
                        span,
                        format!("`{}` is not defined on dimensions", op.symbol()),
                    )));
                }
            };
            return r
                .map(Value::from_dim)
                .ok_or_else(|| ctx.error(ExpandError::new(codes::BAD_DIMENSION, span, "dimension overflow")));
        }
        _ => {}
    }
    // Tensor operations: at least one side is a tensor (or a symbolic dimension used as a value).
    let (ta, tb) = (matches!(a, Tensor(_)), matches!(b, Tensor(_)));
    if !ta && !tb {
        return Err(ctx.error(
            ExpandError::new(
                codes::WRONG_KIND,
                span,
                format!("cannot apply `{}` to {} and {}", op.symbol(), a.kind(), b.kind()),
            )
            .with_label(aspan, a.kind())
            .with_label(bspan, b.kind()),
        ));
    }
    let dtype = match (&a, &b) {
        (Tensor(t), _) => ctx.ty(*t).dtype,
        (_, Tensor(t)) => ctx.ty(*t).dtype,
        _ => hg_ir::DType::F32,
    };
    for (v, s) in [(&a, aspan), (&b, bspan)] {
        if !matches!(v, Tensor(_) | Int(_) | Float(_) | Bool(_) | Dim(_)) {
            return Err(ctx.error(
                ExpandError::new(
                    codes::WRONG_KIND,
                    s,
                    format!("cannot use {} in `{}` with a tensor", v.kind(), op.symbol()),
                )
                .label_primary("this operand"),
            ));
        }
        if let Float(_) = v
            && !dtype.is_float()
        {
            let mut e = ExpandError::new(
                codes::TYPE_MISMATCH,
                s,
                format!("a float literal cannot be combined with an {dtype} tensor"),
            )
            .label_primary("this float")
            .with_help("convert the tensor first: `cast(..., f32)`");
            let (other, other_span) = if matches!(a, Tensor(_)) { (&a, aspan) } else { (&b, bspan) };
            if let Tensor(t) = other {
                e = e.with_label(other_span, format!("this is {}", ctx.ty(*t)));
            }
            return Err(ctx.error(e));
        }
    }
    let x = as_tensor(ctx, &a, dtype, aspan)?;
    let y = as_tensor(ctx, &b, dtype, bspan)?;
    let v = match ir_binary(op) {
        Some(bop) => ctx.add(Op::Binary(bop), &[x, y], span)?,
        None => ctx.add(Op::MatMul, &[x, y], span)?,
    };
    Ok(Tensor(v))
}

/// Resolves a dimension-valued value, for shapes given as lists.
pub fn dim_of(ctx: &mut Ctx, v: &Value, span: Span) -> EResult<Dim> {
    match v.as_dim() {
        Some(d) => Ok(d),
        None => {
            let mut e = ExpandError::new(codes::WRONG_KIND, span, format!("expected a dimension, found {}", v.kind()));
            if let Value::Float(x) = v {
                e = e.with_help(format!(
                    "dimensions are ints; this value is {x}, perhaps from `/` of ints that do not divide exactly"
                ));
            }
            Err(ctx.error(e))
        }
    }
}
