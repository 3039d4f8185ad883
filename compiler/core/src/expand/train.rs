//! The `train { ... }` block: training defaults that the command line may override.

use super::ctx::{Ctx, EResult, Frame, ParamTable, ProgramView};
use super::error::{ExpandError, codes};
use super::eval::eval_expr;
use super::value::Value;
use hg_dsl::ast::{ExprKind, FileId, ModelDef, ModelMember, Span};

#[derive(Clone, Debug, PartialEq)]
pub enum OptimizerSpec {
    Sgd { lr: f64, momentum: f64, nesterov: bool, weight_decay: f64 },
    Adam { lr: f64, beta1: f64, beta2: f64, eps: f64, weight_decay: f64 },
    AdamW { lr: f64, beta1: f64, beta2: f64, eps: f64, weight_decay: f64 },
}

impl OptimizerSpec {
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerSpec::Sgd { lr, .. } | OptimizerSpec::Adam { lr, .. } | OptimizerSpec::AdamW { lr, .. } => *lr,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ScheduleSpec {
    Constant,
    Cosine { warmup: u64 },
    Linear { warmup: u64 },
}

/// Training defaults of a model (each overridable from the command line). A setting the `train`
/// block does not write keeps the value of [`TrainDefaults::default`]: adam(lr = 1e-3), a
/// constant schedule, no clipping; batch, length and seed are left to the runtime (batch 64,
/// seed 0, and the length must be given).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainDefaults {
    pub optimizer: OptimizerSpec,
    /// The optimizer of the critic's parameters (two-player training); `None`: `optimizer`.
    pub critic_optimizer: Option<OptimizerSpec>,
    /// Two-player training: whether the critic steps after the model, on a second forward pass
    /// (`players = alternating`), instead of beside it (`simultaneous`, the default).
    pub alternating: bool,
    pub batch: Option<u64>,
    pub epochs: Option<u64>,
    pub steps: Option<u64>,
    pub schedule: ScheduleSpec,
    pub clip_grad_norm: Option<f64>,
    pub seed: Option<u64>,
    /// The settings the model's `train` block writes, in order; `None` when the model has no
    /// `train` block.
    pub written: Option<Vec<String>>,
}

impl Default for TrainDefaults {
    fn default() -> Self {
        TrainDefaults {
            optimizer: OptimizerSpec::Adam { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 },
            critic_optimizer: None,
            alternating: false,
            batch: None,
            epochs: None,
            steps: None,
            schedule: ScheduleSpec::Constant,
            clip_grad_norm: None,
            seed: None,
            written: None,
        }
    }
}

/// Evaluates the model's `train` block (hyperparameters are in scope).
pub fn eval_train_block(
    program: &dyn ProgramView,
    file: FileId,
    model: &ModelDef,
    overrides: &[(String, Value)],
) -> (TrainDefaults, Vec<ExpandError>) {
    let mut params = ParamTable::default();
    let mut ctx = Ctx::new(program, "train_settings", (true, true), &mut params);
    ctx.frames.push(Frame::new(file, String::new()));
    let mut out = TrainDefaults::default();
    for h in &model.hparams {
        let v = match overrides.iter().find(|(n, _)| *n == h.name.name) {
            Some((_, v)) => Some(v.clone()),
            None => h.default.as_ref().and_then(|d| eval_expr(&mut ctx, d).ok()),
        };
        if let Some(v) = v {
            ctx.bind(&h.name.name, v, h.name.span);
        }
    }
    for m in &model.members {
        let ModelMember::Train(block) = m else { continue };
        let written = out.written.get_or_insert_with(Vec::new);
        written.extend(block.settings.iter().map(|s| s.key.name.clone()));
        for s in &block.settings {
            let _ = apply_setting(&mut ctx, &mut out, &s.key.name, &s.value, s.span);
        }
    }
    let errors = std::mem::take(&mut ctx.errors);
    (out, errors)
}

fn apply_setting(
    ctx: &mut Ctx,
    out: &mut TrainDefaults,
    key: &str,
    value: &hg_dsl::ast::Expr,
    span: Span,
) -> EResult<()> {
    match key {
        "optimizer" => out.optimizer = eval_optimizer(ctx, value)?,
        "critic_optimizer" => out.critic_optimizer = Some(eval_optimizer(ctx, value)?),
        "schedule" => out.schedule = eval_schedule(ctx, value)?,
        "players" => out.alternating = eval_player_order(ctx, value)?,
        "batch" => out.batch = Some(positive(ctx, value)?),
        "epochs" => out.epochs = Some(positive(ctx, value)?),
        "steps" => out.steps = Some(positive(ctx, value)?),
        "seed" => out.seed = Some(non_negative(ctx, value)?),
        "clip_grad_norm" => {
            let v = eval_expr(ctx, value)?;
            match v.as_f64() {
                Some(x) if x > 0.0 => out.clip_grad_norm = Some(x),
                _ => {
                    return Err(ctx.error(ExpandError::new(
                        codes::BAD_ARGUMENT,
                        value.span,
                        "`clip_grad_norm` must be a positive number",
                    )));
                }
            }
        }
        _ => {
            return Err(ctx.error(ExpandError::new(
                codes::BAD_ARGUMENT,
                span,
                format!("unknown train setting `{key}`"),
            )));
        }
    }
    Ok(())
}

fn positive(ctx: &mut Ctx, e: &hg_dsl::ast::Expr) -> EResult<u64> {
    match eval_expr(ctx, e)? {
        Value::Int(n) if n > 0 => Ok(n as u64),
        other => Err(ctx.error(ExpandError::new(
            codes::BAD_ARGUMENT,
            e.span,
            format!("expected a positive int, found {}", describe(&other)),
        ))),
    }
}

fn non_negative(ctx: &mut Ctx, e: &hg_dsl::ast::Expr) -> EResult<u64> {
    match eval_expr(ctx, e)? {
        Value::Int(n) if n >= 0 => Ok(n as u64),
        other => Err(ctx.error(ExpandError::new(
            codes::BAD_ARGUMENT,
            e.span,
            format!("expected a non-negative int, found {}", describe(&other)),
        ))),
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Int(n) => n.to_string(),
        Value::Float(x) => format!("{x}"),
        other => other.kind().to_string(),
    }
}

/// An evaluated argument of a settings call, with where it was written.
type SettingArg = Option<(Value, Span)>;

/// Keyword/positional arguments of a settings call, evaluated to numbers or bools.
fn call_args(ctx: &mut Ctx, e: &hg_dsl::ast::Expr, names: &[&str]) -> EResult<(String, Vec<SettingArg>)> {
    let (callee, args) = match &e.kind {
        ExprKind::Call { callee, args } => (callee, args),
        ExprKind::Name(id) => (id, &Vec::new()),
        _ => {
            return Err(ctx.error(ExpandError::new(
                codes::WRONG_KIND,
                e.span,
                "expected a call like `adam(lr = 1e-3)`",
            )));
        }
    };
    let mut slots: Vec<Option<(Value, Span)>> = vec![None; names.len()];
    for (i, a) in args.iter().enumerate() {
        let idx = match &a.name {
            Some(k) => names.iter().position(|n| *n == k.name),
            None => (i < names.len()).then_some(i),
        };
        let Some(idx) = idx else {
            return Err(ctx.error(
                ExpandError::new(codes::BAD_ARGUMENT, a.span, format!("`{}` takes no such argument", callee.name))
                    .with_help(format!("its arguments are: {}", names.join(", "))),
            ));
        };
        slots[idx] = Some((eval_expr(ctx, &a.value)?, a.value.span));
    }
    Ok((callee.name.clone(), slots))
}

fn num(ctx: &mut Ctx, slot: &Option<(Value, Span)>, default: f64) -> EResult<f64> {
    match slot {
        None => Ok(default),
        Some((v, s)) => v.as_f64().ok_or_else(|| {
            ctx.error(ExpandError::new(codes::WRONG_KIND, *s, format!("expected a number, found {}", v.kind())))
        }),
    }
}

fn betas(ctx: &mut Ctx, slot: &Option<(Value, Span)>) -> EResult<(f64, f64)> {
    match slot {
        None => Ok((0.9, 0.999)),
        Some((Value::Tuple(items) | Value::List(items), s)) if items.len() == 2 => {
            match (items[0].as_f64(), items[1].as_f64()) {
                (Some(a), Some(b)) => Ok((a, b)),
                _ => Err(ctx.error(ExpandError::new(codes::WRONG_KIND, *s, "betas must be two numbers"))),
            }
        }
        Some((_, s)) => Err(ctx.error(ExpandError::new(codes::WRONG_KIND, *s, "betas must be a pair `(0.9, 0.999)`"))),
    }
}

fn eval_optimizer(ctx: &mut Ctx, e: &hg_dsl::ast::Expr) -> EResult<OptimizerSpec> {
    let name = match &e.kind {
        ExprKind::Call { callee, .. } | ExprKind::Name(callee) => callee.name.clone(),
        _ => String::new(),
    };
    match name.as_str() {
        "sgd" => {
            let (_, s) = call_args(ctx, e, &["lr", "momentum", "nesterov", "weight_decay"])?;
            let nesterov = match &s[2] {
                None => false,
                Some((Value::Bool(b), _)) => *b,
                Some((_, sp)) => return Err(ctx.error(ExpandError::new(codes::WRONG_KIND, *sp, "nesterov must be a bool"))),
            };
            Ok(OptimizerSpec::Sgd { lr: num(ctx, &s[0], 1e-2)?, momentum: num(ctx, &s[1], 0.0)?, nesterov, weight_decay: num(ctx, &s[3], 0.0)? })
        }
        "adam" | "adamw" => {
            let (_, s) = call_args(ctx, e, &["lr", "betas", "eps", "weight_decay"])?;
            let (beta1, beta2) = betas(ctx, &s[1])?;
            let lr = num(ctx, &s[0], 1e-3)?;
            let eps = num(ctx, &s[2], 1e-8)?;
            if name == "adam" {
                Ok(OptimizerSpec::Adam { lr, beta1, beta2, eps, weight_decay: num(ctx, &s[3], 0.0)? })
            } else {
                Ok(OptimizerSpec::AdamW { lr, beta1, beta2, eps, weight_decay: num(ctx, &s[3], 0.01)? })
            }
        }
        _ => Err(ctx.error(
            ExpandError::new(codes::BAD_ARGUMENT, e.span, "unknown optimizer").with_help("optimizers are sgd(lr, momentum, nesterov, weight_decay), adam(lr, betas, eps, weight_decay), adamw(lr, betas, eps, weight_decay)"),
        )),
    }
}

/// `players = simultaneous | alternating`: whether the critic steps after the model.
/// The orders are the front end's table (`hg_dsl::builtins::PLAYER_ORDERS`), which the resolver
/// has checked the name against.
fn eval_player_order(ctx: &mut Ctx, e: &hg_dsl::ast::Expr) -> EResult<bool> {
    match &e.kind {
        ExprKind::Name(id) if hg_dsl::builtins::PLAYER_ORDERS.iter().any(|d| d.name == id.name) => {
            Ok(id.name == "alternating")
        }
        _ => Err(ctx.error(
            ExpandError::new(codes::BAD_ARGUMENT, e.span, "unknown player order")
                .with_help("`players` is `simultaneous` or `alternating`"),
        )),
    }
}

fn eval_schedule(ctx: &mut Ctx, e: &hg_dsl::ast::Expr) -> EResult<ScheduleSpec> {
    let name = match &e.kind {
        ExprKind::Call { callee, .. } | ExprKind::Name(callee) => callee.name.clone(),
        _ => String::new(),
    };
    let warmup = |ctx: &mut Ctx| -> EResult<u64> {
        let (_, s) = call_args(ctx, e, &["warmup"])?;
        match &s[0] {
            None => Ok(0),
            Some((Value::Int(n), _)) if *n >= 0 => Ok(*n as u64),
            Some((_, sp)) => {
                Err(ctx.error(ExpandError::new(codes::WRONG_KIND, *sp, "warmup must be a non-negative int (steps)")))
            }
        }
    };
    match name.as_str() {
        "constant" => Ok(ScheduleSpec::Constant),
        "cosine" => Ok(ScheduleSpec::Cosine { warmup: warmup(ctx)? }),
        "linear" => Ok(ScheduleSpec::Linear { warmup: warmup(ctx)? }),
        _ => Err(ctx.error(
            ExpandError::new(codes::BAD_ARGUMENT, e.span, "unknown schedule")
                .with_help("schedules are constant, cosine(warmup), linear(warmup)"),
        )),
    }
}
