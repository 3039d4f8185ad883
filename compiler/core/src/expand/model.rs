//! Expansion of a `model` into one IR function per entry point.
//!
//! Each entry point is expanded on its own, with `training` fixed (`true` for `train` and
//! `eval`), so `if training` is resolved per entry. All entries share one parameter table:
//! a parameter has the same path, type and initializer wherever it is read.
//!
//! Steps for one entry:
//! 1. bind hyperparameters (defaults, then `--set` overrides) and the batch dimension `B`;
//! 2. declare the inputs the entry reads (model inputs, latents for `decode`, `batch` for `sample`);
//! 3. evaluate the sections it needs; the decoder sees only latents, parameters, constants and
//!    hyperparameters (encoder names are "hidden" so reading one is a located error);
//! 4. set the outputs, and check them (scalar loss and metrics, prior shape = latent shape).

use super::ancestral::{Ancestral, Bottleneck};
use super::ctx::{Ctx, EResult, Frame, ParamTable, PriorReads, ProgramView, Stop};
use super::error::{ExpandError, codes};
use super::eval::{Flow, SectionHook, eval_block, eval_expr};
use super::rank::RankNote;
use super::types::eval_tensor_type;
use super::value::Value;
use hg_abi::names;
use hg_dsl::ast::{Block, Expr, FileId, Ident, ModelDef, ModelMember, SectionKind, Span, Stmt};
use hg_ir::{DType, Dim, Module, TensorType, ValueId};
use std::collections::HashMap;

/// Refuses a model input or latent named like a scalar the runtime passes to every entry
/// (`seed`, `step`, `batch`, ...): the two would be one entry input.
fn refuse_runtime_name(ctx: &mut Ctx, name: &str, span: Span, what: &str) -> EResult<()> {
    if !names::RUNTIME_SCALARS.contains(&name) {
        return Ok(());
    }
    let listed = names::RUNTIME_SCALARS.map(|n| format!("`{n}`")).join(", ");
    Err(ctx.error(
        ExpandError::new(
            codes::RESERVED_NAME,
            span,
            format!("{what} cannot be called `{name}`: the runtime passes an input of that name to the entry points"),
        )
        .label_primary("reserved name")
        .with_help(format!("rename it; the runtime's names are {listed}")),
    ))
}

/// The IR function of the training-mode forward pass (loss and metrics).
pub const TRAIN_FORWARD: &str = "train_forward";

/// The entry points a model can have, in a fixed order.
pub const ENTRIES: [&str; 6] = ["encode", "decode", "reconstruct", "sample", "train", "eval"];

/// A latent as `encode` found it: name, type, declaration, and the product its surprising
/// axes come from, if any (see [`super::rank`]).
type LatentType = (String, TensorType, Span, Option<RankNote>);

/// The result of expanding a model.
pub struct Expanded {
    pub module: Module,
    /// Entry points that could not be derived, with the reason.
    pub missing: Vec<(String, String)>,
    pub errors: Vec<ExpandError>,
    pub latents: Vec<String>,
    pub outputs: Vec<String>,
    pub metrics: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Entry {
    Encode,
    Decode,
    Reconstruct,
    Sample,
    Train,
    Eval,
}

impl Entry {
    fn name(self) -> &'static str {
        match self {
            Entry::Encode => "encode",
            Entry::Decode => "decode",
            Entry::Reconstruct => "reconstruct",
            Entry::Sample => "sample",
            Entry::Train => "train",
            Entry::Eval => "eval",
        }
    }
    /// Name of the IR function: the training forward pass is `train_forward`, kept apart from
    /// the `train` step the pipeline builds from it (`pipeline::with_train_step`).
    fn function_name(self) -> &'static str {
        match self {
            Entry::Train => TRAIN_FORWARD,
            other => other.name(),
        }
    }
    /// `training` is true in the train step only, as `model.train()` in PyTorch: dropout on.
    /// `eval` computes the test loss as `model.eval()` would, dropout off.
    fn training(self) -> bool {
        matches!(self, Entry::Train)
    }
    /// `sampling` is true where a loss is computed (`train` and `eval`): a stochastic
    /// bottleneck draws, so a VAE's test loss is the −ELBO estimated on a sample, keyed by
    /// the seed, and a masked autoencoder's test loss is over masked patches as it is trained.
    fn sampling(self) -> bool {
        matches!(self, Entry::Train | Entry::Eval)
    }
}

/// Collects `latent`, `prior` and `output` statements while a section is evaluated.
struct Collect<'m> {
    entry: Entry,
    latents: Vec<(String, ValueId, Span)>,
    outputs: Vec<(String, ValueId, Span)>,
    priors: &'m HashMap<String, (ValueId, Span)>,
}

impl SectionHook for Collect<'_> {
    fn special(&mut self, ctx: &mut Ctx, stmt: &Stmt) -> EResult<bool> {
        match stmt {
            Stmt::Latent { name, value, span } | Stmt::Output { name, value, span } => {
                let is_latent = matches!(stmt, Stmt::Latent { .. });
                ctx.frame().name_statement(&name.name);
                // In `sample`, latents come from the prior instead of the encoder.
                let v = if is_latent && self.entry == Entry::Sample {
                    match self.priors.get(&name.name) {
                        Some((v, _)) => Value::Tensor(*v),
                        None => return Err(Stop),
                    }
                } else {
                    eval_expr(ctx, value)?
                };
                let Value::Tensor(t) = v else {
                    return Err(ctx.error(ExpandError::new(
                        codes::WRONG_KIND,
                        value.span,
                        format!("`{}` must be a tensor, found {}", name.name, v.kind()),
                    )));
                };
                ctx.bind(&name.name, Value::Tensor(t), name.span);
                let list = if is_latent { &mut self.latents } else { &mut self.outputs };
                list.push((name.name.clone(), t, *span));
                Ok(true)
            }
            Stmt::Prior { .. } => Ok(true),
            _ => Ok(false),
        }
    }
}

/// Expands a model. `overrides` are `--set` values already parsed to compile-time values.
pub fn expand_model(
    program: &dyn ProgramView,
    file: FileId,
    model: &ModelDef,
    overrides: &[(String, Value)],
) -> Expanded {
    let mut params = ParamTable::default();
    let mut out = Expanded {
        module: Module { model: model.name.name.clone(), ..Module::default() },
        missing: Vec::new(),
        errors: Vec::new(),
        latents: Vec::new(),
        outputs: Vec::new(),
        metrics: Vec::new(),
    };
    let has_loss = model.members.iter().any(|m| matches!(m, ModelMember::Loss { .. }));
    let decoder = model.members.iter().find_map(|m| match m {
        ModelMember::Section(s) if s.kind == SectionKind::Decoder => Some(s),
        _ => None,
    });
    let skips = decoder.map(|d| !d.skips.is_empty()).unwrap_or(false);

    // Latent types come from `encode`; `decode` and `sample` need them.
    let mut latent_types: Vec<LatentType> = Vec::new();
    for entry in [Entry::Encode, Entry::Reconstruct, Entry::Decode, Entry::Sample, Entry::Train, Entry::Eval] {
        if matches!(entry, Entry::Train | Entry::Eval) && !has_loss {
            out.missing.push((entry.name().into(), "the model has no `loss`".into()));
            continue;
        }
        if matches!(entry, Entry::Decode | Entry::Sample) && skips {
            out.missing.push((
                entry.name().into(),
                "the decoder reads encoder values (`decoder(...)` skip connections)".into(),
            ));
            continue;
        }
        if matches!(entry, Entry::Decode | Entry::Sample | Entry::Reconstruct) && decoder.is_none() {
            out.missing.push((entry.name().into(), "the model has no `decoder`".into()));
            continue;
        }
        if matches!(entry, Entry::Decode | Entry::Sample) && latent_types.is_empty() {
            out.missing.push((entry.name().into(), "the model declares no `latent`".into()));
            continue;
        }
        let mut ctx = Ctx::new(program, entry.function_name(), (entry.training(), entry.sampling()), &mut params);
        let result = expand_entry(&mut ctx, entry, file, model, overrides, &mut latent_types, &mut out);
        let errors = std::mem::take(&mut ctx.errors);
        let f = std::mem::take(&mut ctx.f);
        drop(ctx);
        let had_errors = !errors.is_empty();
        out.errors.extend(errors);
        match result {
            // A reason is only true when the entry itself had no errors.
            Ok(Some(why)) if !had_errors => out.missing.push((entry.name().into(), why)),
            Ok(None) if !had_errors => out.module.functions.push(f),
            _ => {}
        }
    }
    dedup_errors(&mut out.errors);
    out.module.params = params.decls;
    out
}

/// Entries repeat each other's errors; keep the first error at each place (a later one at the
/// same place is the same mistake seen from an entry that knows less, e.g. `decode`).
fn dedup_errors(errors: &mut Vec<ExpandError>) {
    let mut seen = std::collections::HashSet::new();
    errors.retain(|e| seen.insert(e.primary));
}

/// Expands one entry. `Ok(Some(reason))` when the entry does not exist for this model.
fn expand_entry(
    ctx: &mut Ctx,
    entry: Entry,
    file: FileId,
    model: &ModelDef,
    overrides: &[(String, Value)],
    latent_types: &mut Vec<LatentType>,
    out: &mut Expanded,
) -> EResult<Option<String>> {
    ctx.frames.push(Frame::new(file, String::new()));
    bind_hparams(ctx, model, overrides)?;
    let batch = Dim::batch();
    ctx.bind("B", Value::Dim(batch), model.name.span);

    // Model inputs; `decode` and `sample` take the conditions only.
    let reads_inputs = !matches!(entry, Entry::Decode | Entry::Sample);
    for m in &model.members {
        if let ModelMember::Input { name, ty, span, condition } = m {
            if !reads_inputs && !condition {
                continue;
            }
            refuse_runtime_name(ctx, &name.name, name.span, "an input")?;
            let t = eval_tensor_type(ctx, ty, None)?;
            if !t.shape.iter().all(|d| d.is_const() || d.as_batch_multiple().is_some()) {
                return Err(ctx.error(ExpandError::new(
                    codes::BAD_DIMENSION,
                    ty.span(),
                    format!("input `{}` has a dimension that is neither fixed nor a multiple of `B`: {t}", name.name),
                )));
            }
            let v = ctx.f.add_input(&name.name, t, super::ctx::node_span(*span));
            ctx.bind(&name.name, Value::Tensor(v), name.span);
        }
    }
    if entry == Entry::Sample {
        let v = ctx.f.add_input(names::BATCH, TensorType::scalar(DType::I64), super::ctx::node_span(model.name.span));
        let _ = v;
    }

    let mut priors: HashMap<String, (ValueId, Span)> = HashMap::new();
    if entry == Entry::Sample {
        evaluate_priors(ctx, model, latent_types, &mut priors)?;
        if let Some(missing) = latent_types.iter().find(|(n, _, _, _)| !priors.contains_key(n)) {
            return Ok(Some(format!("latent `{}` has no `prior`", missing.0)));
        }
    }
    let mut collect = Collect { entry, latents: Vec::new(), outputs: Vec::new(), priors: &priors };

    // Encoder and bottleneck (not for `decode`/`sample`, which start from latents).
    let mut encoder_names: HashMap<String, (Span, &'static str)> = HashMap::new();
    for m in &model.members {
        let ModelMember::Section(section) = m else { continue };
        match section.kind {
            SectionKind::Encoder | SectionKind::Bottleneck => {
                if matches!(entry, Entry::Decode | Entry::Sample) {
                    continue;
                }
                let before: Vec<String> = ctx.frame_ref().scopes[0].names.keys().cloned().collect();
                ctx.frame().prefix = section.kind.keyword().to_string();
                if let Flow::Return(_, span) = eval_block(ctx, &section.body, &mut collect, false) {
                    return Err(ctx.error(ExpandError::new(
                        codes::NO_RETURN,
                        span,
                        "`return` is only allowed in `fn` bodies",
                    )));
                }
                ctx.frame().prefix = String::new();
                for (name, b) in &ctx.frame_ref().scopes[0].names {
                    if !before.contains(name) && !collect.latents.iter().any(|(l, _, _)| l == name) {
                        encoder_names.insert(name.clone(), (b.span, section.kind.keyword()));
                    }
                }
            }
            SectionKind::Decoder | SectionKind::Critic => {}
        }
    }
    if entry == Entry::Encode {
        if collect.latents.is_empty() {
            return Ok(Some("the model declares no `latent`".into()));
        }
        latent_types.clear();
        for (name, v, span) in &collect.latents {
            let note = ctx.rank_note(&[*v]).cloned();
            latent_types.push((name.clone(), ctx.ty(*v).clone(), *span, note));
            ctx.f.outputs.push((name.clone(), *v));
        }
        out.latents = collect.latents.iter().map(|(n, _, _)| n.clone()).collect();
        return Ok(None);
    }

    // Latents for `decode` are inputs; for `sample` they come from the priors.
    if entry == Entry::Decode {
        for (name, ty, span, note) in latent_types.iter() {
            refuse_runtime_name(ctx, name, *span, "a latent")?;
            let v = ctx.f.add_input(name, ty.clone(), super::ctx::node_span(*span));
            // The latent's surprising axes came from a product in the encoder.
            if let Some(note) = note {
                ctx.rank_notes.insert(v, note.clone());
            }
            collect.latents.push((name.clone(), v, *span));
        }
    }
    if entry == Entry::Sample {
        for (name, _, span, _) in latent_types.iter() {
            if let Some((v, _)) = priors.get(name) {
                collect.latents.push((name.clone(), *v, *span));
            }
        }
    }

    // Decoder: its own frame, seeing hyperparameters, `B`, latents and declared skips only.
    if let Some(section) = model.members.iter().find_map(|m| match m {
        ModelMember::Section(s) if s.kind == SectionKind::Decoder => Some(s),
        _ => None,
    }) {
        let mut frame = Frame::new(file, "decoder".into());
        for (name, b) in ctx.frame_ref().scopes[0].names.iter() {
            let is_hparam = model.hparams.iter().any(|h| h.name.name == *name) || name == "B";
            let is_skip = section.skips.iter().any(|s| s.name == *name);
            if is_hparam || is_skip || is_condition(model, name) {
                frame.scopes[0].names.insert(name.clone(), b.clone());
            }
        }
        for (name, v, span) in &collect.latents {
            frame.scopes[0].names.insert(name.clone(), super::value::Bound { value: Value::Tensor(*v), span: *span });
        }
        for skip in &section.skips {
            if !frame.scopes[0].names.contains_key(&skip.name) && reads_inputs {
                return Err(ctx.error(ExpandError::new(
                    codes::UNKNOWN_NAME,
                    skip.span,
                    format!("skip connection `{}` is not bound by the encoder or bottleneck", skip.name),
                )));
            }
        }
        // Names whose definition failed stay silent in the decoder too (no cascades).
        frame.scopes[0].poisoned = ctx.frame_ref().scopes[0].poisoned.clone();
        frame.hidden = encoder_names.clone();
        if reads_inputs {
            for m in &model.members {
                if let ModelMember::Input { name, condition: false, .. } = m {
                    frame.hidden.insert(name.name.clone(), (name.span, "model inputs"));
                }
            }
        }
        ctx.frames.push(frame);
        let flow = eval_block(ctx, &section.body, &mut collect, false);
        let mut frame = ctx.frames.pop().expect("pushed above");
        let scope = frame.scopes.swap_remove(0);
        if let Flow::Return(_, span) = flow {
            return Err(ctx.error(ExpandError::new(codes::NO_RETURN, span, "`return` is only allowed in `fn` bodies")));
        }
        // The loss and metrics may read decoder values.
        for (name, b) in scope.names {
            ctx.frame().scopes[0].names.entry(name).or_insert(b);
        }
        for p in scope.poisoned {
            ctx.poison(&p);
        }
    }
    out.outputs = collect.outputs.iter().map(|(n, _, _)| n.clone()).collect();

    // The critic (two-player training) judges what the model computed, where a loss is.
    if matches!(entry, Entry::Train | Entry::Eval)
        && let Some(section) = model.members.iter().find_map(|m| match m {
            ModelMember::Section(s) if s.kind == SectionKind::Critic => Some(s),
            _ => None,
        })
    {
        ctx.frame().prefix = section.kind.keyword().to_string();
        let flow = eval_block(ctx, &section.body, &mut collect, false);
        ctx.frame().prefix = String::new();
        if let Flow::Return(_, span) = flow {
            return Err(ctx.error(ExpandError::new(codes::NO_RETURN, span, "`return` is only allowed in `fn` bodies")));
        }
    }

    match entry {
        Entry::Decode | Entry::Reconstruct | Entry::Sample => {
            if collect.outputs.is_empty() {
                return Ok(Some("the decoder declares no `output`".into()));
            }
            for (name, v, _) in &collect.outputs {
                ctx.f.outputs.push((name.clone(), *v));
            }
        }
        Entry::Train | Entry::Eval => {
            add_loss_and_metrics(ctx, model, entry == Entry::Eval, out)?;
            for (path, v, _) in std::mem::take(&mut ctx.updates) {
                ctx.f.outputs.push((format!("{}{path}", super::buffers::UPDATE_PREFIX), v));
            }
        }
        Entry::Encode => {}
    }
    Ok(None)
}

fn bind_hparams(ctx: &mut Ctx, model: &ModelDef, overrides: &[(String, Value)]) -> EResult<()> {
    for h in &model.hparams {
        let value = match overrides.iter().find(|(n, _)| *n == h.name.name) {
            Some((_, v)) => v.clone(),
            None => match &h.default {
                Some(d) => eval_expr(ctx, d)?,
                None => {
                    return Err(ctx.error(
                        ExpandError::new(
                            codes::BAD_ARGUMENT,
                            h.name.span,
                            format!("hyperparameter `{}` has no default and no value", h.name.name),
                        )
                        .with_help(format!("give it one on the command line: --set {}=VALUE", h.name.name)),
                    ));
                }
            },
        };
        if let Some(ty) = &h.ty {
            let mut sig = super::types::SigBindings::default();
            super::types::bind_signature(ctx, &mut sig, ty, &value, h.name.span, &h.name)?;
        }
        ctx.bind(&h.name.name, value, h.name.span);
    }
    Ok(())
}

/// The names a block binds (nested blocks included), with where and in which section.
pub(super) fn block_bindings(block: &Block, section: &'static str, out: &mut HashMap<String, (Span, &'static str)>) {
    for stmt in &block.stmts {
        match stmt {
            Stmt::Let { targets, .. } => {
                for t in targets {
                    out.entry(t.name.clone()).or_insert((t.span, section));
                }
            }
            Stmt::Param { name, .. } | Stmt::Latent { name, .. } | Stmt::Output { name, .. } => {
                out.entry(name.name.clone()).or_insert((name.span, section));
            }
            Stmt::Repeat { body, .. } | Stmt::For { body, .. } => block_bindings(body, section, out),
            Stmt::If { then_block, else_block, .. } => {
                block_bindings(then_block, section, out);
                if let Some(b) = else_block {
                    block_bindings(b, section, out);
                }
            }
            Stmt::Prior { .. } | Stmt::Return { .. } | Stmt::Update { .. } => {}
        }
    }
}

/// Whether `name` is one of the model's conditions (inputs every entry takes, which the decoder
/// and the priors read).
fn is_condition(model: &ModelDef, name: &str) -> bool {
    model.members.iter().any(|m| matches!(m, ModelMember::Input { name: n, condition: true, .. } if n.name == name))
}

/// What no prior can read: the model's plain inputs and the names its encoder binds.
fn prior_outside(model: &ModelDef) -> HashMap<String, (Span, &'static str)> {
    let mut outside = HashMap::new();
    for m in &model.members {
        match m {
            ModelMember::Input { name, condition: false, .. } => {
                outside.entry(name.name.clone()).or_insert((name.span, "model inputs"));
            }
            ModelMember::Section(s) if s.kind == SectionKind::Encoder => {
                block_bindings(&s.body, s.kind.keyword(), &mut outside);
            }
            _ => {}
        }
    }
    outside
}

/// A shape as a list literal: `[B, 16]`.
fn shape_literal(t: &TensorType) -> String {
    let dims: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

/// Draws every latent from its prior, in dependency order (see [`super::ancestral`]).
fn evaluate_priors(
    ctx: &mut Ctx,
    model: &ModelDef,
    latent_types: &[LatentType],
    priors: &mut HashMap<String, (ValueId, Span)>,
) -> EResult<()> {
    let Some(section) = model.members.iter().find_map(|m| match m {
        ModelMember::Section(s) if s.kind == SectionKind::Bottleneck => Some(s),
        _ => None,
    }) else {
        return Ok(());
    };
    let outside = prior_outside(model);
    let bottleneck = Bottleneck::new(&section.body, &outside);
    let mut hidden = outside.clone();
    let blocked = bottleneck.blocked.clone();
    let mut bound = HashMap::new();
    block_bindings(&section.body, "bottleneck", &mut bound);
    for (name, b) in &blocked {
        if let Some(&at) = bound.get(name) {
            hidden.insert(name.clone(), at);
        } else {
            hidden.insert(name.clone(), (b.span, b.place));
        }
    }
    ctx.prior = Some(PriorReads { latent: String::new(), shape: None, hidden, blocked });
    let mut ancestral = Ancestral::new(&bottleneck);
    let mut spans = HashMap::new();
    let mut draw_prior = |ctx: &mut Ctx, name: &Ident, value: &Expr, span: Span| {
        spans.insert(name.name.clone(), span);
        evaluate_prior(ctx, latent_types, name, value)
    };
    let mut result = Ok(());
    for (name, _, _) in bottleneck.priors() {
        result = ancestral.draw(ctx, &name.name, None, &mut draw_prior);
        if result.is_err() {
            break;
        }
    }
    ctx.prior = None;
    if ancestral.undrawable {
        // Some latent has no prior; the caller names it.
        return Ok(());
    }
    result?;
    for (name, v) in ancestral.into_drawn() {
        let span = spans.get(&name).copied().unwrap_or(section.head_span);
        priors.insert(name, (v, span));
    }
    Ok(())
}

/// Evaluates the prior of the latent `name` (what it reads already bound) and checks it
/// against the latent.
fn evaluate_prior(ctx: &mut Ctx, latent_types: &[LatentType], name: &Ident, value: &Expr) -> EResult<ValueId> {
    let shape = latent_types.iter().find(|(n, _, _, _)| *n == name.name).map(|(_, t, _, _)| shape_literal(t));
    let outer = ctx.prior.as_mut().map(|reads| {
        (std::mem::replace(&mut reads.latent, name.name.clone()), std::mem::replace(&mut reads.shape, shape))
    });
    let saved = (ctx.frame().prefix.clone(), ctx.frame().stmt_name.clone(), ctx.frame().stmt_calls);
    ctx.frame().prefix = "prior".into();
    ctx.frame().stmt_name = name.name.clone();
    ctx.frame().stmt_calls = 0;
    let v = eval_expr(ctx, value);
    (ctx.frame().prefix, ctx.frame().stmt_name, ctx.frame().stmt_calls) = saved;
    if let (Some(reads), Some((latent, shape))) = (ctx.prior.as_mut(), outer) {
        (reads.latent, reads.shape) = (latent, shape);
    }
    let t = match v? {
        Value::Tensor(t) => t,
        other => {
            return Err(ctx.error(ExpandError::new(
                codes::WRONG_KIND,
                value.span,
                format!("prior `{}` must be a tensor, found {}", name.name, other.kind()),
            )));
        }
    };
    match latent_types.iter().find(|(n, _, _, _)| *n == name.name) {
        None => Err(ctx.error(
            ExpandError::new(
                codes::PRIOR_SHAPE,
                name.span,
                format!("`prior {}` has no matching `latent {}`", name.name, name.name),
            )
            .with_help("declare the latent first: `latent NAME = ...`"),
        )),
        Some((_, lt, lspan, note)) if lt != ctx.ty(t) => {
            let pt = ctx.ty(t).to_string();
            let mut e = ExpandError::new(
                codes::PRIOR_SHAPE,
                value.span,
                format!("prior `{}` is {pt} but the latent is {lt}", name.name),
            )
            .label_primary(format!("this is {pt}"))
            .with_label(*lspan, format!("latent declared here as {lt}"));
            // The latent's surprising axes came from a product in the encoder.
            if let Some(note) = note.as_ref().filter(|n| n.carried_by(lt)) {
                e = note.explain(e);
            }
            Err(ctx.error(e))
        }
        Some(_) => Ok(t),
    }
}

/// The loss, the metrics and the model-level bindings, in order; and, in `eval` (`pictures`), the
/// pictures, which a run draws and the train step never computes.
fn add_loss_and_metrics(ctx: &mut Ctx, model: &ModelDef, pictures: bool, out: &mut Expanded) -> EResult<()> {
    let mut metrics = Vec::new();
    for m in &model.members {
        match m {
            ModelMember::Loss { player, value, .. } => {
                ctx.frame().prefix = String::new();
                ctx.frame().stmt_name = if player.is_some() { "critic_loss".into() } else { "loss".into() };
                ctx.frame().stmt_calls = 0;
                let v = eval_expr(ctx, value)?;
                let what = if player.is_some() { "the critic's loss" } else { "loss" };
                let t = scalar_output(ctx, v, value.span, what, codes::LOSS_NOT_SCALAR)?;
                if player.is_some() {
                    // A metric of every step and of `eval`; the train step trains the critic on it.
                    ctx.f.outputs.push((crate::optim::CRITIC_LOSS.to_string(), t));
                    metrics.push(crate::optim::CRITIC_LOSS.trim_start_matches(names::METRIC).to_string());
                } else {
                    ctx.f.outputs.push((names::LOSS.to_string(), t));
                }
            }
            ModelMember::Metric { name, value, .. } => {
                ctx.frame().prefix = "metric".into();
                ctx.frame().stmt_name = name.name.clone();
                ctx.frame().stmt_calls = 0;
                let v = eval_expr(ctx, value)?;
                let t =
                    scalar_output(ctx, v, value.span, &format!("metric `{}`", name.name), codes::METRIC_NOT_SCALAR)?;
                ctx.f.outputs.push((names::metric(&name.name), t));
                metrics.push(name.name.clone());
                // A later metric may read it, as it may read a model-level binding.
                ctx.bind(&name.name, Value::Tensor(t), name.span);
            }
            ModelMember::Picture { name, value, .. } if pictures => {
                ctx.frame().prefix = "picture".into();
                ctx.frame().stmt_name = name.name.clone();
                ctx.frame().stmt_calls = 0;
                let v = eval_expr(ctx, value)?;
                let t = picture_output(ctx, v, value.span, &name.name)?;
                ctx.f.outputs.push((names::picture(&name.name), t));
            }
            ModelMember::Binding { name, value, .. } => {
                ctx.frame().prefix = String::new();
                ctx.frame().stmt_name = name.name.clone();
                ctx.frame().stmt_calls = 0;
                let v = eval_expr(ctx, value)?;
                ctx.bind(&name.name, v, name.span);
            }
            _ => {}
        }
    }
    ctx.frame().prefix = String::new();
    out.metrics = metrics;
    Ok(())
}

/// A picture's value: f32 images, one per example (`[B, ...]`, at least one axis after `B`).
fn picture_output(ctx: &mut Ctx, v: Value, span: Span, name: &str) -> EResult<ValueId> {
    let Value::Tensor(t) = v else {
        return Err(ctx.error(ExpandError::new(
            codes::BAD_PICTURE,
            span,
            format!("picture `{name}` must be a tensor of images, found {}", v.kind()),
        )));
    };
    let ty = ctx.ty(t).clone();
    if ty.shape.len() < 2 || ty.shape[0] != Dim::batch() {
        return Err(ctx.error(
            ExpandError::new(codes::BAD_PICTURE, span, format!("picture `{name}` must be `[B, ...]`, found {ty}"))
                .label_primary(format!("this is {ty}"))
                .with_help("a picture holds one image per example: `[B, C, H, W]`, `[B, H, W]` or `[B, H*W]`"),
        ));
    }
    if ty.dtype != DType::F32 {
        return Err(ctx.error(
            ExpandError::new(codes::BAD_PICTURE, span, format!("picture `{name}` must be f32, found {ty}"))
                .with_help("convert it with `cast(..., f32)`"),
        ));
    }
    Ok(t)
}

fn scalar_output(ctx: &mut Ctx, v: Value, span: Span, what: &str, code: &'static str) -> EResult<ValueId> {
    let t = match v {
        Value::Tensor(t) => t,
        other => {
            return Err(ctx.error(ExpandError::new(
                code,
                span,
                format!("{what} must be a scalar f32 tensor, found {}", other.kind()),
            )));
        }
    };
    let ty = ctx.ty(t).clone();
    if !ty.shape.is_empty() {
        return Err(ctx.error(
            ExpandError::new(code, span, format!("{what} must be a scalar, found {ty}"))
                .label_primary(format!("this is {ty}"))
                .with_help("reduce it to a scalar, for example `mean(...)`"),
        ));
    }
    if ty.dtype != DType::F32 {
        return Err(ctx.error(
            ExpandError::new(code, span, format!("{what} must be f32, found {ty}"))
                .with_help("convert it with `cast(..., f32)`"),
        ));
    }
    Ok(t)
}
