//! Model structure, the `train` block, and `return` placement in `fn`s.
//!
//! A model declares its hyperparameters, one or more `input`s, then the sections `encoder`,
//! `bottleneck` and `decoder` in this order, a `loss`, optional `metric`s and an optional
//! `train` block. Names resolve in this order whatever the member order: hyperparameters, the
//! batch `B`, inputs, the sections (in canonical order, so a misordered model reports the order
//! and not a cascade of unknown names), then `loss` and `metric`s, which see every binding.
//! `train` values see only the hyperparameters.

use std::collections::{HashMap, HashSet};

use super::args::{Signature, check_args};
use super::body::{Checker, DecoderAccess, Place};
use super::scope::{BindingKind, Scopes};
use super::types::TypeSite;
use crate::ast::{
    Block, Expr, ExprKind, FnDef, Ident, ModelDef, ModelMember, Param, Section, SectionKind, Span, Stmt, TrainBlock,
    TypeExpr, UnaryOp,
};
use crate::builtins::{self, BuiltinDef, TrainValue};
use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::suggest;

/// The kind of a literal expression (`int`, `float`, ...), looking through `-` and parentheses.
pub(crate) fn literal_kind(e: &Expr) -> Option<&'static str> {
    match &e.kind {
        ExprKind::Int(_) => Some("int"),
        ExprKind::Float { .. } => Some("float"),
        ExprKind::Bool(_) => Some("bool"),
        ExprKind::Str(_) => Some("str"),
        ExprKind::List(_) => Some("list"),
        ExprKind::Tuple(_) => Some("tuple"),
        ExprKind::Paren(inner) => literal_kind(inner),
        ExprKind::Unary { op: UnaryOp::Neg, operand } => {
            literal_kind(operand).filter(|k| matches!(*k, "int" | "float"))
        }
        _ => None,
    }
}

/// Whether a value of literal kind `kind` fits the compile-time type `ty`.
pub(crate) fn fits(ty: &str, kind: &str) -> bool {
    ty == kind || (ty == "float" && kind == "int")
}

/// A literal kind in prose: "an integer", "a float", ...
pub(crate) fn prose(kind: &str) -> &'static str {
    match kind {
        "int" => "an integer",
        "float" => "a float",
        "bool" => "a boolean",
        "str" => "a string",
        "list" => "a list",
        "tuple" => "a tuple",
        _ => "a value",
    }
}

/// "an optimizer", "a schedule".
fn a_or_an(word: &str) -> String {
    let an = word.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {word}", if an { "an" } else { "a" })
}

/// The hyperparameter's declared compile-time type name, if it has one.
pub(crate) fn declared_type(p: &Param) -> Option<&str> {
    match &p.ty {
        Some(TypeExpr::Named(id)) => Some(id.name.as_str()),
        _ => None,
    }
}

fn section_rank(k: SectionKind) -> u8 {
    match k {
        SectionKind::Encoder => 0,
        SectionKind::Bottleneck => 1,
        SectionKind::Decoder => 2,
        SectionKind::Critic => 3,
    }
}

/// The names a section's statements bind (nested blocks included), in order.
fn block_bindings(block: &Block, kind: SectionKind, out: &mut Vec<(String, Span, SectionKind)>) {
    for stmt in &block.stmts {
        match stmt {
            Stmt::Let { targets, .. } => out.extend(targets.iter().map(|t| (t.name.clone(), t.span, kind))),
            Stmt::Param { name, .. } | Stmt::Latent { name, .. } | Stmt::Output { name, .. } => {
                out.push((name.name.clone(), name.span, kind));
            }
            Stmt::Repeat { body, .. } | Stmt::For { body, .. } => block_bindings(body, kind, out),
            Stmt::If { then_block, else_block, .. } => {
                block_bindings(then_block, kind, out);
                if let Some(b) = else_block {
                    block_bindings(b, kind, out);
                }
            }
            Stmt::Prior { .. } | Stmt::Return { .. } | Stmt::Update { .. } => {}
        }
    }
}

/// Whether a block (or a nested one) holds a statement matching `pred`.
fn contains(block: &Block, pred: &dyn Fn(&Stmt) -> bool) -> bool {
    block.stmts.iter().any(|s| {
        pred(s)
            || match s {
                Stmt::Repeat { body, .. } | Stmt::For { body, .. } => contains(body, pred),
                Stmt::If { then_block, else_block, .. } => {
                    contains(then_block, pred) || else_block.as_ref().is_some_and(|b| contains(b, pred))
                }
                _ => false,
            }
    })
}

impl Checker<'_> {
    pub(crate) fn check_model(&mut self, m: &ModelDef) {
        self.place = Place::ModelTop;
        let hparams = self.hparams(&m.hparams);
        if self.scopes.lookup("B").is_none() {
            let b = Ident { name: "B".to_string(), span: m.name.span };
            self.bind(&b, BindingKind::Batch);
        }
        for member in &m.members {
            if let ModelMember::Input { name, ty, condition, .. } = member {
                self.check_type(ty, TypeSite::Input);
                self.bind(name, if *condition { BindingKind::Condition } else { BindingKind::Input });
            }
        }
        self.member_order(m);

        let mut sections: Vec<&Section> = m
            .members
            .iter()
            .filter_map(|mm| match mm {
                ModelMember::Section(s) => Some(s),
                _ => None,
            })
            .collect();
        sections.sort_by_key(|s| section_rank(s.kind));
        let mut bound_in: Vec<(String, Span, SectionKind)> = Vec::new();
        for s in &sections {
            block_bindings(&s.body, s.kind, &mut bound_in);
        }
        for s in &sections {
            self.later.clear();
            self.below.clear();
            for (name, span, kind) in &bound_in {
                if section_rank(*kind) > section_rank(s.kind) {
                    self.later.entry(name.clone()).or_insert((*span, *kind));
                } else if *kind == s.kind {
                    self.below.entry(name.clone()).or_insert(*span);
                }
            }
            self.check_section(s);
        }
        self.later.clear();
        self.below.clear();
        self.place = Place::ModelTop;
        self.check_priors();
        // Members dropped by the parser would be reported again as missing.
        if self.parsed().complete {
            self.required_members(m, &sections);
        }

        // Model-level bindings, the loss and metrics, in order: each reads what comes before.
        // Pictures are outputs of `eval` only, so nothing reads them; their names are their own.
        let mut pictures: HashMap<&str, Span> = HashMap::new();
        for member in &m.members {
            match member {
                ModelMember::Loss { value, .. } => self.expr(value),
                ModelMember::Picture { name, value, .. } => {
                    self.expr(value);
                    if let Some(first) = pictures.insert(&name.name, name.span) {
                        self.diags.push(
                            Diagnostic::error(codes::E0106, format!("picture `{}` is declared twice", name.name))
                                .primary(name.span, "declared again here")
                                .secondary(first, "first declared here")
                                .help("every picture is drawn under its own name; choose a new one"),
                        );
                    }
                }
                ModelMember::Metric { name, value, .. } => {
                    self.expr(value);
                    // `metric rec = rec` reports a model-level binding under its own name.
                    let reports_binding = m
                        .members
                        .iter()
                        .any(|mm| matches!(mm, ModelMember::Binding { name: b, .. } if b.name == name.name))
                        && matches!(self.scopes.lookup(&name.name), Some(b) if b.kind == BindingKind::Let);
                    if !reports_binding {
                        self.bind(name, BindingKind::Metric);
                    }
                }
                ModelMember::Binding { name, value, .. } => {
                    self.expr(value);
                    self.bind(name, BindingKind::Let);
                }
                _ => {}
            }
        }
        for member in &m.members {
            if let ModelMember::Train(t) = member {
                self.train(t, &hparams);
            }
        }
    }

    /// Binds the hyperparameters; returns those bound, for the `train` block's scope.
    fn hparams(&mut self, params: &[Param]) -> Vec<Ident> {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut bound = Vec::new();
        for p in params {
            if let Some(first) = seen.get(p.name.name.as_str()) {
                self.diags.push(
                    Diagnostic::error(codes::E0201, format!("hyperparameter `{}` is declared twice", p.name.name))
                        .primary(p.name.span, "declared again here")
                        .secondary(*first, "first declared here"),
                );
                continue;
            }
            seen.insert(&p.name.name, p.name.span);
            if let Some(ty) = &p.ty {
                self.check_type(ty, TypeSite::Hparam);
            }
            if let Some(d) = &p.default {
                self.expr(d);
                if let (Some(ty), Some(kind)) = (declared_type(p), literal_kind(d))
                    && crate::builtins::TYPE_NAMES.contains(&ty)
                    && !fits(ty, kind)
                {
                    let ty_span = p.ty.as_ref().map_or(p.name.span, TypeExpr::span);
                    self.diags.push(
                        Diagnostic::error(
                            codes::E0221,
                            format!("the default of `{}` is {}, but its type is `{ty}`", p.name.name, prose(kind)),
                        )
                        .primary(d.span, prose(kind))
                        .secondary(ty_span, "declared type"),
                    );
                }
            }
            self.bind(&p.name, BindingKind::Hparam);
            bound.push(p.name.clone());
        }
        bound
    }

    /// Section order, duplicate sections and members, inputs before sections.
    fn member_order(&mut self, m: &ModelDef) {
        let mut seen: HashMap<SectionKind, Span> = HashMap::new();
        let mut last: Option<(SectionKind, Span)> = None;
        let mut first_section: Option<Span> = None;
        let mut loss: Option<Span> = None;
        let mut critic_loss: Option<Span> = None;
        let mut train: Option<Span> = None;
        for member in &m.members {
            match member {
                ModelMember::Input { span, name, condition, .. } => {
                    if let Some(first) = first_section {
                        let what = if *condition { "condition" } else { "input" };
                        self.diags.push(
                            Diagnostic::error(codes::E0202, format!("{what} `{}` comes after a section", name.name))
                                .primary(*span, "declared here")
                                .secondary(first, "the first section")
                                .help("declare inputs and conditions before the `encoder`"),
                        );
                    }
                }
                ModelMember::Section(s) => {
                    first_section.get_or_insert(s.head_span);
                    if let Some(first) = seen.get(&s.kind) {
                        self.diags.push(
                            Diagnostic::error(
                                codes::E0203,
                                format!("the model has two `{}` sections", s.kind.keyword()),
                            )
                            .primary(s.head_span, "second one here")
                            .secondary(*first, "first one here")
                            .help("merge them into one section"),
                        );
                        continue;
                    }
                    seen.insert(s.kind, s.head_span);
                    match last {
                        Some((prev, prev_span)) if section_rank(prev) > section_rank(s.kind) => {
                            self.diags.push(
                                Diagnostic::error(
                                    codes::E0202,
                                    format!("`{}` must come before `{}`", s.kind.keyword(), prev.keyword()),
                                )
                                .primary(s.head_span, "out of order")
                                .secondary(prev_span, format!("`{}` is here", prev.keyword()))
                                .help("sections come in the order `encoder`, `bottleneck`, `decoder`, `critic`"),
                            );
                        }
                        _ => last = Some((s.kind, s.head_span)),
                    }
                }
                ModelMember::Loss { player: None, span, .. } => Self::once(self.diags, &mut loss, *span, "loss"),
                ModelMember::Loss { player: Some(p), span, .. } => {
                    if p.name == "critic" {
                        Self::once(self.diags, &mut critic_loss, *span, "loss critic");
                    } else {
                        self.diags.push(
                            Diagnostic::error(codes::E0229, format!("`loss {}`: no player is called `{}`", p.name, p.name))
                                .primary(p.span, "not a player")
                                .help(
                                    "a model has one `loss`, which trains every parameter outside the `critic` section; \
                                     with a `critic { ... }` section, `loss critic = ...` trains the critic's parameters",
                                ),
                        );
                    }
                }
                ModelMember::Train(t) => Self::once(self.diags, &mut train, t.span, "train"),
                ModelMember::Metric { .. } | ModelMember::Picture { .. } => {}
                ModelMember::Binding { name, span, .. } => {
                    let decoder = m
                        .members
                        .iter()
                        .position(|mm| matches!(mm, ModelMember::Section(s) if s.kind == SectionKind::Decoder));
                    let here = m.members.iter().position(|mm| std::ptr::eq(mm, member));
                    if let (Some(decoder), Some(here)) = (decoder, here)
                        && here < decoder
                    {
                        self.diags.push(
                            Diagnostic::error(
                                codes::E0202,
                                format!("model-level binding `{}` comes before the decoder", name.name),
                            )
                            .primary(*span, "bound here, between the model's members")
                            .help(
                                "statements of a section go inside it (`encoder { ... }`); a binding at model \
                                 level, which the loss and metrics read, comes after the `decoder`",
                            ),
                        );
                    }
                }
            }
        }
        // Two-player training needs both halves: the critic's parameters and their loss.
        match (seen.get(&SectionKind::Critic), critic_loss) {
            (Some(&section), None) => self.diags.push(
                Diagnostic::error(codes::E0229, "the `critic` section has no loss")
                    .primary(section, "its parameters would never be trained")
                    .help("give the critic its own loss, as `loss critic = hinge_d(real, fake)` (std.loss)"),
            ),
            (None, Some(span)) => self.diags.push(
                Diagnostic::error(codes::E0229, "`loss critic` without a `critic` section")
                    .primary(span, "no parameters for it to train")
                    .help(
                        "declare the second player after the decoder, as `critic { ... }`; its parameters are \
                         trained by `loss critic`, all others by `loss`",
                    ),
            ),
            _ => {}
        }
        // `players` and `critic_optimizer` say how the two players train: alone they mean nothing.
        if !seen.contains_key(&SectionKind::Critic) {
            let settings = m.members.iter().filter_map(|mm| match mm {
                ModelMember::Train(t) => Some(&t.settings),
                _ => None,
            });
            for s in settings.flatten().filter(|s| matches!(s.key.name.as_str(), "players" | "critic_optimizer")) {
                self.diags.push(
                    Diagnostic::error(codes::E0229, format!("`{}` without a `critic` section", s.key.name))
                        .primary(s.key.span, "this model has one player")
                        .help("two-player training needs a `critic { ... }` section and its `loss critic`"),
                );
            }
        }
    }

    fn once(diags: &mut Vec<Diagnostic>, slot: &mut Option<Span>, span: Span, what: &str) {
        match slot {
            Some(first) => diags.push(
                Diagnostic::error(codes::E0203, format!("the model has two `{what}` members"))
                    .primary(span, "second one here")
                    .secondary(*first, "first one here"),
            ),
            None => *slot = Some(span),
        }
    }

    fn check_section(&mut self, s: &Section) {
        if s.kind != SectionKind::Decoder && !s.skips.is_empty() {
            self.diags.push(
                Diagnostic::error(codes::E0212, format!("the `{}` section cannot take a skip list", s.kind.keyword()))
                    .primary(s.head_span, "skip list here")
                    .help("only `decoder(...)` lists the encoder values it reads"),
            );
        }
        self.place = Place::Section(s.kind);
        if s.kind == SectionKind::Decoder {
            self.decoder = Some(self.decoder_access(&s.skips));
        }
        self.block(&s.body);
        self.decoder = None;
    }

    fn decoder_access(&mut self, skips: &[Ident]) -> DecoderAccess {
        if skips.is_empty() {
            return DecoderAccess::LatentsOnly;
        }
        if skips.iter().any(|s| s.name == "skip") && self.scopes.lookup("skip").is_none() {
            return DecoderAccess::All;
        }
        let mut names = HashSet::new();
        for skip in skips {
            let binding = self.scopes.lookup(&skip.name).cloned();
            let encoder_side = binding.as_ref().is_some_and(|b| {
                matches!(b.section, Some(SectionKind::Encoder | SectionKind::Bottleneck))
                    || b.kind == BindingKind::Input
            });
            if encoder_side {
                names.insert(skip.name.clone());
                continue;
            }
            if binding.is_none() && self.is_poisoned(&skip.name) {
                continue;
            }
            let (message, help) = match binding {
                Some(b) => (
                    format!("`{}` is {}, not an encoder value", skip.name, b.kind.describe()),
                    "skips name encoder or bottleneck values; latents, conditions, parameters and hyperparameters are \
                     always visible"
                        .to_string(),
                ),
                None => (
                    format!("unknown skip `{}`", skip.name),
                    self.unknown_help(&skip.name, false).unwrap_or_else(|| {
                        "a skip names a value of the encoder or bottleneck; `skip` allows all".to_string()
                    }),
                ),
            };
            self.diags.push(
                Diagnostic::error(codes::E0212, message).primary(skip.span, "in the decoder's skip list").help(help),
            );
        }
        DecoderAccess::Names(names)
    }

    fn check_priors(&mut self) {
        let mut seen: HashMap<String, Span> = HashMap::new();
        for prior in std::mem::take(&mut self.priors) {
            match self.scopes.lookup(&prior.name) {
                Some(b) if b.kind == BindingKind::Latent => {}
                _ if self.is_poisoned(&prior.name) => continue,
                other => {
                    let help = match other {
                        Some(b) => format!("`{}` is {}; a prior describes a latent", prior.name, b.kind.describe()),
                        None => "declare the latent first: `latent z = ...`, then `prior z = ...`".to_string(),
                    };
                    self.diags.push(
                        Diagnostic::error(codes::E0207, format!("prior for `{}`, which is not a latent", prior.name))
                            .primary(prior.span, "no latent of this name")
                            .help(help),
                    );
                    continue;
                }
            }
            if let Some(first) = seen.get(&prior.name) {
                self.diags.push(
                    Diagnostic::error(codes::E0203, format!("latent `{}` has two priors", prior.name))
                        .primary(prior.span, "second prior")
                        .secondary(*first, "first prior"),
                );
            } else {
                seen.insert(prior.name.clone(), prior.span);
            }
        }
    }

    fn required_members(&mut self, m: &ModelDef, sections: &[&Section]) {
        let mut missing: Vec<&str> = Vec::new();
        if !m.members.iter().any(|mm| matches!(mm, ModelMember::Input { .. })) {
            missing.push("input");
        }
        for (kind, what) in [
            (SectionKind::Encoder, "encoder"),
            (SectionKind::Bottleneck, "bottleneck"),
            (SectionKind::Decoder, "decoder"),
        ] {
            if !sections.iter().any(|s| s.kind == kind) {
                missing.push(what);
            }
        }
        if !m.members.iter().any(|mm| matches!(mm, ModelMember::Loss { player: None, .. })) {
            missing.push("loss");
        }
        if !missing.is_empty() {
            let list = suggest::join_or(&missing);
            self.diags.push(
                Diagnostic::error(codes::E0204, format!("model `{}` has no {list}", m.name.name))
                    .primary(m.name.span, "incomplete model")
                    .help(
                        "a model declares `input x: f32[B, ...]`, then `encoder { ... }`, \
                         `bottleneck { latent z = ... }` and `decoder { output y = ... }`, and `loss = ...`",
                    ),
            );
        }
        let latent = |s: &Stmt| matches!(s, Stmt::Latent { .. });
        let output = |s: &Stmt| matches!(s, Stmt::Output { .. });
        for s in sections {
            let (found, message, help) = match s.kind {
                SectionKind::Bottleneck => (
                    contains(&s.body, &latent),
                    "the bottleneck declares no latent",
                    "declare one with `latent z = ...`",
                ),
                SectionKind::Decoder => (
                    contains(&s.body, &output),
                    "the decoder declares no output",
                    "declare one with `output x_hat = ...`",
                ),
                SectionKind::Encoder | SectionKind::Critic => continue,
            };
            if !found {
                self.diags
                    .push(Diagnostic::error(codes::E0204, message).primary(s.head_span, "in this section").help(help));
            }
        }
    }

    /// The `train` block: known keys, each once, values of the right kind.
    fn train(&mut self, t: &TrainBlock, hparams: &[Ident]) {
        // Train values see only the hyperparameters.
        let saved = std::mem::replace(&mut self.scopes, Scopes::new());
        let saved_hidden = std::mem::take(&mut self.hidden);
        for h in hparams {
            self.bind(h, BindingKind::Hparam);
        }
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for s in &t.settings {
            let Some(key) = builtins::train_key(&s.key.name) else {
                let help = if s.key.name == "lr" || s.key.name == "learning_rate" {
                    "the learning rate is an argument of the optimizer: `optimizer = adam(lr = 1e-3)`".to_string()
                } else {
                    suggest::did_you_mean(&s.key.name, builtins::TRAIN_KEYS.iter().map(|k| k.name)).unwrap_or_else(
                        || {
                            let keys: Vec<&str> = builtins::TRAIN_KEYS.iter().map(|k| k.name).collect();
                            format!("the settings are {}", suggest::join_and(&keys))
                        },
                    )
                };
                self.diags.push(
                    Diagnostic::error(codes::E0213, format!("unknown train setting `{}`", s.key.name))
                        .primary(s.key.span, "not a setting")
                        .help(help),
                );
                continue;
            };
            if let Some(first) = seen.get(key.name) {
                self.diags.push(
                    Diagnostic::error(codes::E0203, format!("`{}` is set twice", key.name))
                        .primary(s.key.span, "set again here")
                        .secondary(*first, "first set here"),
                );
                continue;
            }
            seen.insert(key.name, s.key.span);
            match key.value {
                TrainValue::Optimizer => {
                    self.train_call(&s.value, builtins::OPTIMIZERS, ("optimizer", "optimizer"), codes::E0214)
                }
                TrainValue::Schedule => {
                    self.train_call(&s.value, builtins::SCHEDULES, ("schedule", "schedule"), codes::E0215)
                }
                TrainValue::PlayerOrder => {
                    let what = (s.key.name.as_str(), "player order");
                    self.train_call(&s.value, builtins::PLAYER_ORDERS, what, codes::E0216)
                }
                TrainValue::PositiveInt | TrainValue::Int | TrainValue::PositiveNumber => {
                    self.train_number(&s.key, &s.value, key.value);
                    self.expr(&s.value);
                }
            }
        }
        if let (Some(epochs), Some(steps)) = (seen.get("epochs"), seen.get("steps")) {
            self.diags.push(
                Diagnostic::error(codes::E0217, "both `epochs` and `steps` are set")
                    .primary(if steps.start > epochs.start { *steps } else { *epochs }, "one of them must go")
                    .secondary(if steps.start > epochs.start { *epochs } else { *steps }, "also set here")
                    .help("training runs either for a number of epochs or for a number of steps"),
            );
        }
        self.scopes = saved;
        self.hidden = saved_hidden;
    }

    /// A setting whose value names an entry of `table`; `(key, what)`: the setting and what its
    /// entries are called.
    fn train_call(
        &mut self,
        value: &Expr,
        table: &'static [BuiltinDef],
        (key, what): (&str, &str),
        code: &'static str,
    ) {
        let (name, args): (&Ident, &[crate::ast::Arg]) = match &value.kind {
            ExprKind::Name(id) => (id, &[]),
            ExprKind::Call { callee, args } => (callee, args),
            _ => {
                let example = match what {
                    "optimizer" => "adam(lr = 1e-3)",
                    "schedule" => "cosine(warmup = 100)",
                    _ => "alternating",
                };
                self.diags.push(
                    Diagnostic::error(codes::E0216, format!("`{key}` must name {}", a_or_an(what)))
                        .primary(value.span, format!("not {}", a_or_an(what)))
                        .help(format!("for example `{key} = {example}`")),
                );
                return;
            }
        };
        let Some(def) = table.iter().find(|d| d.name == name.name) else {
            let names = table.iter().map(|d| d.name);
            let help = suggest::did_you_mean(&name.name, names).unwrap_or_else(|| {
                let names: Vec<&str> = table.iter().map(|d| d.name).collect();
                format!("the {what}s are {}", suggest::join_and(&names))
            });
            self.diags.push(
                Diagnostic::error(code, format!("unknown {what} `{}`", name.name))
                    .primary(name.span, format!("not {}", a_or_an(what)))
                    .help(help),
            );
            return;
        };
        let sig = Signature::of_builtin(format!("the {what} `{}`", def.name), def);
        check_args(&sig, name, value.span, args, self.diags);
        for a in args {
            self.expr(&a.value);
        }
    }

    fn train_number(&mut self, key: &Ident, value: &Expr, want: TrainValue) {
        let Some(kind) = literal_kind(value) else { return };
        let (ok, expected) = match want {
            TrainValue::PositiveInt => (kind == "int", "a positive integer"),
            TrainValue::Int => (kind == "int", "an integer"),
            _ => (matches!(kind, "int" | "float"), "a positive number"),
        };
        let negative = matches!(&value.kind, ExprKind::Unary { op: UnaryOp::Neg, .. })
            || matches!(value.kind, ExprKind::Int(0))
            || matches!(&value.kind, ExprKind::Float { value, .. } if *value <= 0.0);
        let positive_wanted = want != TrainValue::Int;
        if !ok || (positive_wanted && negative) {
            let found = if ok { "a value that is not positive" } else { prose(kind) };
            self.diags.push(
                Diagnostic::error(codes::E0216, format!("`{}` must be {expected}", key.name))
                    .primary(value.span, format!("found {found}")),
            );
        }
    }
}

/// `return` placement in a `fn`: the body must end with a `return` (or an `if`/`else` whose
/// branches both do), and nothing may follow a `return` in its block.
pub(crate) fn check_returns(f: &FnDef, diags: &mut Vec<Diagnostic>) {
    unreachable_after_return(&f.body, diags);
    // A `return` followed by more statements is reported once, as unreachable code.
    let has_return = f.body.stmts.iter().any(|s| matches!(s, Stmt::Return { .. }));
    if !has_return && !ends_with_return(&f.body) {
        let mut d = Diagnostic::error(codes::E0210, format!("`{}` does not return a value", f.name.name))
            .primary(f.name.span, "this function has no `return` at the end");
        if let Some(last) = f.body.stmts.last() {
            d = d.secondary(last.span(), "the body ends here");
        }
        diags.push(d.help("end the body with `return <value>`"));
    }
}

fn ends_with_return(b: &Block) -> bool {
    match b.stmts.last() {
        Some(Stmt::Return { .. }) => true,
        Some(Stmt::If { then_block, else_block: Some(e), .. }) => ends_with_return(then_block) && ends_with_return(e),
        _ => false,
    }
}

fn unreachable_after_return(b: &Block, diags: &mut Vec<Diagnostic>) {
    for (i, s) in b.stmts.iter().enumerate() {
        match s {
            Stmt::Return { span, .. } => {
                if let Some(next) = b.stmts.get(i + 1) {
                    diags.push(
                        Diagnostic::error(codes::E0226, "statement after `return`")
                            .primary(next.span(), "never reached")
                            .secondary(*span, "the function returns here")
                            .help("move the `return` to the end of the block"),
                    );
                }
                return;
            }
            Stmt::If { then_block, else_block, .. } => {
                unreachable_after_return(then_block, diags);
                if let Some(e) = else_block {
                    unreachable_after_return(e, diags);
                }
            }
            Stmt::Repeat { body, .. } | Stmt::For { body, .. } => unreachable_after_return(body, diags),
            _ => {}
        }
    }
}
