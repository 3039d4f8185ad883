//! The body checker: walks `fn` bodies and model sections statement by statement, keeping the
//! local scopes, and checks every name, call and binding.
//!
//! Lookup order for a name: local bindings, then the file scope (own and imported `fn`s), then
//! builtin operations and element types. In a `param` initializer, the initializers
//! (`glorot_uniform`, `normal(std)`, ...) come first. Inside the decoder, names bound by the
//! encoder or bottleneck (other than latents and trainable parameters) are refused unless the
//! decoder declares them as skips.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::args::{Signature, check_args};
use super::load::StdIndex;
use super::scope::{BindError, Binding, BindingKind, FrameKind, Scopes};
use super::{Global, ParsedFile};
use crate::ast::{Arg, Block, Expr, ExprKind, FileId, FnDef, Ident, IndexItem, Item, SectionKind, Span, Stmt};
use crate::builtins::{self, BuiltinKind};
use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::suggest;

/// A call from one `fn` to another, for the recursion check.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallEdge {
    pub caller: (FileId, usize),
    pub callee: (FileId, usize),
    pub span: Span,
    /// Whether the call is inside a branch of an `if`, so compile-time selection may skip it.
    pub conditional: bool,
}

/// Where the statements being checked are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    Fn,
    Section(SectionKind),
    /// `loss`, `metric`, hyperparameter defaults and `train` values.
    ModelTop,
}

/// Which encoder-side values the decoder may read.
#[derive(Clone, Debug)]
pub(crate) enum DecoderAccess {
    LatentsOnly,
    /// `decoder(skip)`: everything.
    All,
    /// `decoder(a, b)`: these names.
    Names(HashSet<String>),
}

pub(crate) struct Checker<'a> {
    pub file: FileId,
    pub files: &'a BTreeMap<FileId, ParsedFile>,
    pub std_index: &'a StdIndex<'a>,
    pub calls: &'a mut Vec<CallEdge>,
    pub diags: &'a mut Vec<Diagnostic>,
    pub scopes: Scopes,
    /// The item index of the `fn` being checked.
    pub caller: Option<usize>,
    pub place: Place,
    pub decoder: Option<DecoderAccess>,
    /// Names bound in only one branch of an `if`, with that binding.
    pub hidden: HashMap<String, Span>,
    /// Encoder values already reported as read by the decoder.
    pub reported_decoder: HashSet<String>,
    /// `fn` parameter names while checking a signature.
    pub sig_params: HashSet<String>,
    /// `prior` statements of the model being checked.
    pub priors: Vec<Ident>,
    /// How many `if` branches enclose the current point.
    pub branch_depth: usize,
    /// Names the model's later sections bind (with the binding and its section), for the
    /// error of a section reading a value that is computed only after it.
    pub later: HashMap<String, (Span, SectionKind)>,
    /// Names the section being checked binds, with where (its first binding): a read above
    /// the binding gets a help saying statements run in order.
    pub below: HashMap<String, Span>,
    /// The latent whose `prior` expression is being checked.
    pub in_prior: Option<String>,
}

pub(crate) fn check_file(
    files: &BTreeMap<FileId, ParsedFile>,
    id: FileId,
    std_index: &StdIndex<'_>,
    calls: &mut Vec<CallEdge>,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(file) = files.get(&id) else { return };
    for (index, item) in file.ast.items.iter().enumerate() {
        match item {
            Item::Fn(f) => {
                let mut c = Checker::new(files, id, std_index, calls, diags, Place::Fn);
                c.check_fn(f, index);
                // A statement dropped by the parser may have been the `return`.
                if file.complete {
                    super::model::check_returns(f, diags);
                }
            }
            Item::Model(m) => {
                let mut c = Checker::new(files, id, std_index, calls, diags, Place::ModelTop);
                c.check_model(m);
            }
            Item::Use(_) => {}
        }
    }
}

impl<'a> Checker<'a> {
    pub(crate) fn new(
        files: &'a BTreeMap<FileId, ParsedFile>,
        file: FileId,
        std_index: &'a StdIndex<'a>,
        calls: &'a mut Vec<CallEdge>,
        diags: &'a mut Vec<Diagnostic>,
        place: Place,
    ) -> Checker<'a> {
        Checker {
            file,
            files,
            std_index,
            calls,
            diags,
            scopes: Scopes::new(),
            caller: None,
            place,
            decoder: None,
            hidden: HashMap::new(),
            reported_decoder: HashSet::new(),
            sig_params: HashSet::new(),
            priors: Vec::new(),
            branch_depth: 0,
            later: HashMap::new(),
            below: HashMap::new(),
            in_prior: None,
        }
    }

    pub(crate) fn parsed(&self) -> &'a ParsedFile {
        &self.files[&self.file]
    }

    pub(crate) fn is_poisoned(&self, name: &str) -> bool {
        self.parsed().poisoned.contains(name)
    }

    pub(crate) fn global(&self, name: &str) -> Option<Global> {
        self.parsed().scope.get(name).map(|e| e.target)
    }

    fn current_section(&self) -> Option<SectionKind> {
        match self.place {
            Place::Section(k) => Some(k),
            _ => None,
        }
    }

    /// Binds `id`, reporting a rebinding.
    pub(crate) fn bind(&mut self, id: &Ident, kind: BindingKind) {
        let binding = Binding { span: id.span, kind, section: self.current_section() };
        match self.scopes.bind(&id.name, binding) {
            Ok(()) => {
                self.hidden.remove(&id.name);
            }
            Err(BindError::Rebound(earlier)) => {
                let help = match (earlier.kind, kind, self.scopes.innermost_loop()) {
                    (BindingKind::LoopVar, _, _) => {
                        "a loop variable takes the next item in every iteration and cannot be assigned; bind a new name"
                    }
                    (_, BindingKind::LoopVar, _) => {
                        "a loop variable is a new name; choose one not bound before the loop"
                    }
                    (_, _, Some(FrameKind::For)) => {
                        "a `for` body may update a name bound before the loop, but only once per iteration"
                    }
                    (_, _, Some(_)) => {
                        "a `repeat` body may update a name bound before the loop, but only once per iteration"
                    }
                    (_, _, None) => "every name is bound once; choose a new name",
                };
                self.diags.push(
                    Diagnostic::error(codes::E0106, format!("`{}` is bound twice", id.name))
                        .primary(id.span, "bound again here")
                        .secondary(earlier.span, format!("first bound here, as {}", earlier.kind.describe()))
                        .help(help),
                );
            }
            Err(BindError::Constant(earlier)) => {
                self.diags.push(
                    Diagnostic::error(
                        codes::E0118,
                        format!("cannot assign to `{}`, which is {}", id.name, earlier.kind.describe()),
                    )
                    .primary(id.span, "assigned here")
                    .secondary(earlier.span, "declared here")
                    .help("compile-time constants cannot be loop state; bind a new name"),
                );
            }
        }
    }

    pub(crate) fn check_fn(&mut self, f: &FnDef, index: usize) {
        self.caller = Some(index);
        self.place = Place::Fn;
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for p in &f.params {
            if let Some(first) = seen.get(p.name.name.as_str()) {
                self.diags.push(
                    Diagnostic::error(codes::E0108, format!("parameter `{}` is declared twice", p.name.name))
                        .primary(p.name.span, "declared again here")
                        .secondary(*first, "first declared here"),
                );
            } else {
                seen.insert(&p.name.name, p.name.span);
            }
        }
        self.sig_params = f.params.iter().map(|p| p.name.name.clone()).collect();
        let mut bound: HashSet<&str> = HashSet::new();
        for p in &f.params {
            if let Some(ty) = &p.ty {
                self.check_type(ty, super::types::TypeSite::Signature);
            }
            if let Some(d) = &p.default {
                self.expr(d);
            }
            if bound.insert(&p.name.name) && self.scopes.lookup(&p.name.name).is_none() {
                self.bind(&p.name, BindingKind::Param);
            }
        }
        self.sig_params.clear();
        if let Some(ret) = &f.ret {
            self.check_type(ret, super::types::TypeSite::Return);
        }
        self.block(&f.body);
    }

    pub(crate) fn block(&mut self, b: &Block) {
        for stmt in &b.stmts {
            self.stmt(stmt);
        }
    }

    fn nested_block(&mut self, b: &Block, kind: FrameKind) -> Vec<(String, Binding)> {
        self.scopes.push(kind);
        self.block(b);
        self.scopes.pop()
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match stmt {
            Stmt::Let { targets, value, .. } => {
                self.expr(value);
                let mut seen: HashSet<&str> = HashSet::new();
                for t in targets {
                    if !seen.insert(&t.name) {
                        self.diags.push(
                            Diagnostic::error(codes::E0106, format!("`{}` is bound twice", t.name))
                                .primary(t.span, "bound again in the same statement"),
                        );
                        continue;
                    }
                    self.bind(t, BindingKind::Let);
                }
            }
            Stmt::Param { name, ty, init, buffer, .. } => {
                self.check_type(ty, super::types::TypeSite::Body);
                self.initializer(init);
                self.bind(name, if *buffer { BindingKind::Buffer } else { BindingKind::TrainParam });
            }
            Stmt::Update { name, value, .. } => {
                self.expr(value);
                self.check_update_target(name);
            }
            Stmt::Repeat { count, body, .. } => {
                self.expr(count);
                self.nested_block(body, FrameKind::Repeat);
            }
            Stmt::For { vars, iter, body, .. } => {
                self.expr(iter);
                self.scopes.push(FrameKind::For);
                for v in vars {
                    self.bind(v, BindingKind::LoopVar);
                }
                self.block(body);
                self.scopes.pop();
            }
            Stmt::If { cond, then_block, else_block, .. } => {
                self.expr(cond);
                self.branch_depth += 1;
                let then_bound = self.nested_block(then_block, FrameKind::Branch);
                let else_bound = match else_block {
                    Some(b) => self.nested_block(b, FrameKind::Branch),
                    None => Vec::new(),
                };
                self.branch_depth -= 1;
                let else_names: HashSet<&str> = else_bound.iter().map(|(n, _)| n.as_str()).collect();
                for (name, binding) in &then_bound {
                    if else_names.contains(name.as_str()) {
                        let kind = if binding.kind == BindingKind::Carried { BindingKind::Let } else { binding.kind };
                        let id = Ident { name: name.clone(), span: binding.span };
                        self.bind(&id, kind);
                    } else {
                        self.hidden.insert(name.clone(), binding.span);
                    }
                }
                let then_names: HashSet<&str> = then_bound.iter().map(|(n, _)| n.as_str()).collect();
                for (name, binding) in &else_bound {
                    if !then_names.contains(name.as_str()) {
                        self.hidden.insert(name.clone(), binding.span);
                    }
                }
            }
            Stmt::Return { value, span } => {
                if self.place != Place::Fn {
                    self.diags.push(
                        Diagnostic::error(codes::E0209, "`return` outside a `fn`")
                            .primary(*span, "not allowed in a model section")
                            .help("sections bind values by name; use `output name = ...` in the decoder"),
                    );
                } else if let Some(kind) = self.scopes.innermost_loop() {
                    let word = if kind == FrameKind::For { "for" } else { "repeat" };
                    self.diags.push(
                        Diagnostic::error(codes::E0209, format!("`return` inside `{word}`"))
                            .primary(*span, "the loop is unrolled; it cannot return")
                            .help("update a name bound before the loop, and return it after the loop"),
                    );
                }
                self.expr(value);
            }
            Stmt::Latent { name, value, span } => {
                self.expr(value);
                let ok = self.place == Place::Section(SectionKind::Bottleneck);
                if !ok {
                    let label = match self.place {
                        Place::Fn => "a `fn` cannot declare latents".to_string(),
                        Place::Section(k) => format!("this is the `{}` section", k.keyword()),
                        Place::ModelTop => "outside any section".to_string(),
                    };
                    self.diags.push(
                        Diagnostic::error(
                            codes::E0205,
                            format!("latent `{}` is declared outside the `bottleneck`", name.name),
                        )
                        .primary(*span, label)
                        .help("declare latents in the model's `bottleneck { ... }` section"),
                    );
                }
                self.bind(name, if ok { BindingKind::Latent } else { BindingKind::Let });
            }
            Stmt::Prior { name, value, span } => {
                self.in_prior = Some(name.name.clone());
                self.expr(value);
                self.in_prior = None;
                if self.place == Place::Section(SectionKind::Bottleneck) {
                    self.priors.push(name.clone());
                } else {
                    self.diags.push(
                        Diagnostic::error(
                            codes::E0206,
                            format!("prior of `{}` is declared outside the `bottleneck`", name.name),
                        )
                        .primary(*span, "not in the bottleneck")
                        .help("declare priors next to their latents, in the model's `bottleneck { ... }` section"),
                    );
                }
            }
            Stmt::Output { name, value, span } => {
                self.expr(value);
                let ok = self.place == Place::Section(SectionKind::Decoder);
                if !ok {
                    self.diags.push(
                        Diagnostic::error(
                            codes::E0208,
                            format!("output `{}` is declared outside the `decoder`", name.name),
                        )
                        .primary(*span, "not in the decoder")
                        .help("declare outputs in the model's `decoder { ... }` section"),
                    );
                }
                self.bind(name, if ok { BindingKind::Output } else { BindingKind::Let });
            }
        }
    }

    /// A `param` initializer: an initializer name or call, or any expression.
    fn initializer(&mut self, init: &Expr) {
        match &init.kind {
            ExprKind::Name(id) => {
                if let Some(def) = builtins::initializer(&id.name) {
                    let sig = Signature::of_builtin(format!("the initializer `{}`", id.name), def);
                    check_args(&sig, id, init.span, &[], self.diags);
                    return;
                }
            }
            ExprKind::Call { callee, args } => {
                if let Some(def) = builtins::initializer(&callee.name) {
                    let sig = Signature::of_builtin(format!("the initializer `{}`", callee.name), def);
                    check_args(&sig, callee, init.span, args, self.diags);
                    self.args(args);
                    return;
                }
            }
            _ => {}
        }
        self.expr(init);
    }

    fn args(&mut self, args: &[Arg]) {
        for a in args {
            self.expr(&a.value);
        }
    }

    /// Checks every name in an expression. Recursion depth is bounded by the parser.
    pub(crate) fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Int(_)
            | ExprKind::Float { .. }
            | ExprKind::Bool(_)
            | ExprKind::Str(_)
            | ExprKind::Training
            | ExprKind::Sampling => {}
            ExprKind::Name(id) => self.use_name(id),
            ExprKind::List(items) | ExprKind::Tuple(items) => items.iter().for_each(|i| self.expr(i)),
            ExprKind::Paren(inner) => self.expr(inner),
            ExprKind::Record(fields) => fields.iter().for_each(|(_, v)| self.expr(v)),
            ExprKind::Unary { operand, .. } => self.expr(operand),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            ExprKind::Call { callee, args } => self.call(callee, args, e.span),
            ExprKind::Field { base, .. } => self.expr(base),
            ExprKind::Index { base, indices } => {
                self.expr(base);
                for item in indices {
                    match item {
                        IndexItem::Index(i) => self.expr(i),
                        IndexItem::Ellipsis(_) => {}
                        IndexItem::Slice { start, end, step, .. } => {
                            for part in [start, end, step].into_iter().flatten() {
                                self.expr(part);
                            }
                        }
                    }
                }
            }
            ExprKind::IfElse { cond, then_expr, else_expr } => {
                self.expr(cond);
                self.branch_depth += 1;
                self.expr(then_expr);
                self.expr(else_expr);
                self.branch_depth -= 1;
            }
        }
    }

    fn use_name(&mut self, id: &Ident) {
        if let Some(b) = self.scopes.lookup(&id.name).cloned() {
            self.check_decoder_read(id, &b);
            return;
        }
        match self.global(&id.name) {
            Some(Global::Fn { .. }) => return,
            Some(Global::Model { .. }) => {
                self.diags.push(
                    Diagnostic::error(codes::E0117, format!("`{}` is a model, not a value", id.name))
                        .primary(id.span, "a model cannot be used in an expression"),
                );
                return;
            }
            None => {}
        }
        if builtins::lookup(&id.name).is_some() || self.is_poisoned(&id.name) {
            return;
        }
        let mut d = Diagnostic::error(codes::E0101, format!("unknown name `{}`", id.name))
            .primary(id.span, "not found in this scope");
        if let Some(span) = self.hidden.get(&id.name) {
            d = d
                .secondary(*span, "bound only inside one branch of an `if`")
                .help("bind it in both branches (or before the `if`) to use it after the `if`");
        } else if let (Some(&(span, section)), Place::Section(here)) = (self.later.get(&id.name), self.place) {
            d = self.reads_later_section(id, span, here, section);
        } else if let Some(&span) = self.below.get(&id.name).filter(|s| s.start > id.span.start) {
            let what = match &self.in_prior {
                Some(latent) => format!("the prior of `{latent}`"),
                None => "this statement".to_string(),
            };
            d = d.secondary(span, format!("`{}` is bound here, below", id.name)).help(format!(
                "statements run in order, so `{}` does not exist yet where it is read: move {what} below the \
                 statement that binds it",
                id.name
            ));
        } else {
            d = d.maybe_help(self.unknown_help(&id.name, false));
        }
        self.diags.push(d);
    }

    /// Refuses `update NAME = ...` where `NAME` is not a buffer of this body: only a `buffer`
    /// has a value the train step replaces.
    fn check_update_target(&mut self, name: &Ident) {
        let found = self.scopes.lookup(&name.name).map(|b| (b.kind, b.span));
        let (label, secondary) = match found {
            Some((BindingKind::Buffer, _)) => return,
            Some((kind, span)) => (
                format!("`{}` is {}", name.name, kind.describe()),
                Some((span, format!("`{}` is bound here", name.name))),
            ),
            None if self.is_poisoned(&name.name) => return,
            None => (format!("`{}` is not bound here", name.name), None),
        };
        let mut d = Diagnostic::error(codes::E0228, format!("`update {}`: `{}` is not a buffer", name.name, name.name))
            .primary(name.span, label)
            .help(format!(
                "`update` sets the value a `buffer` has after the train step; declare the state in this body first, \
                 as in `buffer {}: f32[C] = zeros`, or bind a new name with `{} = ...`",
                name.name, name.name
            ));
        if let Some((span, text)) = secondary {
            d = d.secondary(span, text);
        }
        self.diags.push(d);
    }

    /// The error for a section (or a `prior`) reading a name that only a later section binds:
    /// sections run in order, so the value does not exist yet (the mirror of E0211).
    fn reads_later_section(&self, id: &Ident, bound: Span, here: SectionKind, there: SectionKind) -> Diagnostic {
        let (here, there) = (here.keyword(), there.keyword());
        let place = format!("`{}` is bound here, in the `{there}`", id.name);
        if let Some(latent) = &self.in_prior {
            return Diagnostic::error(
                codes::E0101,
                format!("the prior of `{latent}` reads `{}`, a value of the `{there}`", id.name),
            )
            .primary(id.span, "read in the prior")
            .secondary(bound, place)
            .help(super::prior_rule(latent, None));
        }
        Diagnostic::error(codes::E0101, format!("the {here} reads `{}`, a value of the {there}", id.name))
            .primary(id.span, format!("read in the {here}"))
            .secondary(bound, place)
            .help(format!(
                "sections run in the order `encoder`, `bottleneck`, `decoder`, and each reads only what earlier ones \
                 bound: the {here} cannot read the {there}; compute `{}` in the {here} (or before), or move this \
                 statement to the {there}",
                id.name
            ))
    }

    /// Refuses a decoder read of an encoder-side value (see the module docs).
    fn check_decoder_read(&mut self, id: &Ident, b: &Binding) {
        let Some(access) = &self.decoder else { return };
        let encoder_side =
            matches!(b.section, Some(SectionKind::Encoder | SectionKind::Bottleneck)) || b.kind == BindingKind::Input;
        let readable = matches!(
            b.kind,
            BindingKind::Latent
                | BindingKind::Condition
                | BindingKind::TrainParam
                | BindingKind::Buffer
                | BindingKind::LoopVar
                | BindingKind::Hparam
                | BindingKind::Batch
                | BindingKind::DimVar
        );
        let allowed = match access {
            DecoderAccess::All => true,
            DecoderAccess::Names(names) => names.contains(&id.name),
            DecoderAccess::LatentsOnly => false,
        };
        if !encoder_side || readable || allowed || !self.reported_decoder.insert(id.name.clone()) {
            return;
        }
        let place = match (b.kind, b.section) {
            (BindingKind::Input, _) => format!("`{}` is a model input", id.name),
            (_, Some(k)) => format!("`{}` is bound here, in the `{}`", id.name, k.keyword()),
            _ => format!("`{}` is bound here", id.name),
        };
        self.diags.push(
            Diagnostic::error(codes::E0211, format!("the decoder reads `{}`, a value of the encoder side", id.name))
                .primary(id.span, "read in the decoder")
                .secondary(b.span, place)
                .help(if b.kind == BindingKind::Input {
                    format!(
                        "the decoder may read only latents, conditions, parameters and constants: declare `{0}` as \
                         `condition {0}: ...` (a class label, a mask) so the decoder, the priors, `decode` and \
                         `sample` read it too, or allow this skip connection with `decoder({0}) {{ ... }}`",
                        id.name
                    )
                } else {
                    format!(
                        "the decoder may read only latents, conditions, parameters and constants: declare a latent in \
                         the `bottleneck`, or allow this skip connection with `decoder({}) {{ ... }}`",
                        id.name
                    )
                }),
        );
    }

    fn call(&mut self, callee: &Ident, args: &[Arg], span: Span) {
        if let Some(b) = self.scopes.lookup(&callee.name).cloned() {
            // A function-valued parameter or binding: its signature is known only at expansion.
            self.check_decoder_read(callee, &b);
            self.args(args);
            return;
        }
        match self.global(&callee.name) {
            Some(Global::Fn { file, index }) => {
                if let Some(Item::Fn(f)) = self.files.get(&file).and_then(|pf| pf.ast.items.get(index)) {
                    let sig = Signature::of_fn(&f.name.name, &f.params);
                    check_args(&sig, callee, span, args, self.diags);
                }
                if let Some(caller) = self.caller {
                    self.calls.push(CallEdge {
                        caller: (self.file, caller),
                        callee: (file, index),
                        span: callee.span,
                        conditional: self.branch_depth > 0,
                    });
                }
                self.args(args);
                return;
            }
            Some(Global::Model { .. }) => {
                self.diags.push(
                    Diagnostic::error(codes::E0117, format!("`{}` is a model, not a function", callee.name))
                        .primary(callee.span, "models cannot be called")
                        .help("move the reusable part into a `fn`"),
                );
                self.args(args);
                return;
            }
            None => {}
        }
        match builtins::lookup(&callee.name) {
            Some(def) if def.kind == BuiltinKind::Dtype => {
                self.diags.push(
                    Diagnostic::error(codes::E0117, format!("`{}` is an element type, not a function", callee.name))
                        .primary(callee.span, "not callable")
                        .help(format!("convert with `cast(x, {})`", callee.name)),
                );
            }
            Some(def) => {
                let sig = Signature::of_builtin(format!("`{}`", callee.name), def);
                check_args(&sig, callee, span, args, self.diags);
            }
            None if self.is_poisoned(&callee.name) => {}
            None => {
                let d = Diagnostic::error(codes::E0102, format!("unknown function `{}`", callee.name))
                    .primary(callee.span, "not found in this scope")
                    .maybe_help(self.unknown_help(&callee.name, true));
                self.diags.push(d);
            }
        }
        self.args(args);
    }

    /// Help for an unknown name: a missing import, a builtin of another namespace, or a
    /// similar known name.
    pub(crate) fn unknown_help(&self, name: &str, callable: bool) -> Option<String> {
        if name == "B" && self.place == Place::Fn {
            return Some(
                "the batch `B` is bound in models only; in a `fn`, name the dimension in a parameter type \
                 (`x: [B, D]`) or take it from an argument with `dim(x, 0)`"
                    .to_string(),
            );
        }
        if let Some(module) = self.std_index.module_of(name) {
            return Some(format!("`{name}` is defined in `{module}`; import it with `use {module}.{name}`"));
        }
        if builtins::initializer(name).is_some() && builtins::lookup(name).is_none() {
            return Some(format!(
                "`{name}` is an initializer: it can only initialize a parameter, as in `param w: f32[I, O] = {name}`"
            ));
        }
        if builtins::optimizer(name).is_some() {
            return Some(format!(
                "`{name}` is an optimizer: set it in the `train` block, as in `optimizer = {name}(lr = 1e-3)`"
            ));
        }
        if builtins::schedule(name).is_some() {
            return Some(format!(
                "`{name}` is a learning-rate schedule: set it in the `train` block, as in `schedule = {name}`"
            ));
        }
        let locals: Vec<&str> = self.scopes.names().collect();
        let globals = self.parsed().scope.names().filter(|(_, e)| !callable || matches!(e.target, Global::Fn { .. }));
        let builtin_names = builtins::OPS.iter().filter(|d| !callable || d.kind != BuiltinKind::Dtype).map(|d| d.name);
        let candidates = locals.into_iter().chain(globals.map(|(n, _)| n)).chain(builtin_names);
        suggest::did_you_mean(name, candidates)
    }
}
