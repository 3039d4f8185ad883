//! Ancestral sampling: what `sample` evaluates so the priors can read other latents and
//! bottleneck values.
//!
//! `sample` runs no encoder. A prior may still read a latent (drawn first, from its own prior)
//! and a bottleneck value computed only from latents, parameters, conditions and compile-time
//! values, as a hierarchical VAE's top-down prior p(z1 | z2) reads a network of z2. So the
//! priors are drawn in dependency order: before a prior is evaluated, the latents it reads are
//! drawn and the top-level bottleneck statements it needs are evaluated, each once, under the
//! same names as in `train` (so their parameters are the same tensors). A statement that
//! depends on an input or the encoder cannot run; a prior reading it is E0320 naming the value
//! it depends on, and priors that read each other in a circle are E0324.

use super::ctx::{Ctx, EResult, Stop};
use super::error::{ExpandError, codes};
use super::eval::{NoHook, eval_stmt};
use hg_dsl::ast::{Block, DimExpr, Expr, ExprKind, Ident, Span, Stmt, TypeExpr};
use std::collections::HashMap;

/// Appends the names an expression reads, in source order. Expressions bind no names, so
/// every name they mention is read.
pub fn expr_reads(e: &Expr, out: &mut Vec<Ident>) {
    match &e.kind {
        ExprKind::Name(id) => out.push(id.clone()),
        ExprKind::Call { callee, .. } => out.push(callee.clone()),
        _ => {}
    }
    for child in e.children() {
        expr_reads(child, out);
    }
}

/// Where a bottleneck value comes from, as far as `sample` is concerned.
#[derive(Clone)]
enum Origin {
    /// A top-level statement (`name = ...`, `param ...`) `sample` may evaluate.
    Statement(usize),
    /// A latent: drawn from its prior.
    Latent,
    /// Bound inside a `for`, `repeat` or `if` of the bottleneck: not evaluated by `sample`.
    Nested(Span),
}

/// A value a prior cannot have, and why: the name it depends on, where that is bound and in
/// which part of the model (`encoder`, `bottleneck`, `model inputs`).
#[derive(Clone, Debug)]
pub struct Blocker {
    pub name: String,
    pub span: Span,
    pub place: &'static str,
}

/// The bottleneck as `sample` sees it: which statement binds each name, which latents have
/// priors, and what each statement reads.
pub struct Bottleneck<'m> {
    stmts: Vec<&'m Stmt>,
    reads: Vec<Vec<Ident>>,
    origins: HashMap<String, Origin>,
    priors: Vec<(&'m Ident, &'m Expr, Span)>,
    /// Names of the model's inputs (conditions excepted) and of the encoder, with their place.
    outside: &'m HashMap<String, (Span, &'static str)>,
    /// Every bottleneck value that depends on an input or the encoder, with its blocker: what
    /// a prior may not read (computed once, in [`Bottleneck::new`]).
    pub blocked: HashMap<String, Blocker>,
}

impl<'m> Bottleneck<'m> {
    /// `outside` lists the names no prior may read: the plain inputs and the encoder's values.
    pub fn new(body: &'m Block, outside: &'m HashMap<String, (Span, &'static str)>) -> Bottleneck<'m> {
        let mut b = Bottleneck {
            stmts: Vec::new(),
            reads: Vec::new(),
            origins: HashMap::new(),
            priors: Vec::new(),
            outside,
            blocked: HashMap::new(),
        };
        for stmt in &body.stmts {
            match stmt {
                Stmt::Let { targets, value, .. } => {
                    let mut reads = Vec::new();
                    expr_reads(value, &mut reads);
                    b.add(targets.iter().map(|t| t.name.clone()).collect(), stmt, reads);
                }
                Stmt::Param { name, ty, init, .. } => {
                    let mut reads = Vec::new();
                    expr_reads(init, &mut reads);
                    type_reads(ty, &mut reads);
                    b.add(vec![name.name.clone()], stmt, reads);
                }
                Stmt::Latent { name, .. } => {
                    b.origins.insert(name.name.clone(), Origin::Latent);
                }
                Stmt::Prior { name, value, span } => b.priors.push((name, value, *span)),
                Stmt::For { body, .. } | Stmt::Repeat { body, .. } => b.nested(body),
                Stmt::If { then_block, else_block, .. } => {
                    b.nested(then_block);
                    if let Some(e) = else_block {
                        b.nested(e);
                    }
                }
                Stmt::Output { .. } | Stmt::Return { .. } | Stmt::Update { .. } => {}
            }
        }
        b.blocked = b.origins.keys().filter_map(|n| b.blocker(n).map(|x| (n.clone(), x))).collect();
        b
    }

    fn add(&mut self, names: Vec<String>, stmt: &'m Stmt, reads: Vec<Ident>) {
        let index = self.stmts.len();
        self.stmts.push(stmt);
        self.reads.push(reads);
        for n in names {
            self.origins.insert(n, Origin::Statement(index));
        }
    }

    fn nested(&mut self, block: &'m Block) {
        let mut names = HashMap::new();
        super::model::block_bindings(block, "bottleneck", &mut names);
        for (name, (span, _)) in names {
            self.origins.entry(name).or_insert(Origin::Nested(span));
        }
    }

    /// The `prior` statements, in source order.
    pub fn priors(&self) -> impl Iterator<Item = (&'m Ident, &'m Expr, Span)> + '_ {
        self.priors.iter().copied()
    }

    /// Why `sample` cannot compute the bottleneck value `name`, if it cannot: the first input
    /// or encoder value it depends on (through other bottleneck statements).
    fn blocker(&self, name: &str) -> Option<Blocker> {
        self.blocker_in(name, &mut Vec::new())
    }

    fn blocker_in(&self, name: &str, seen: &mut Vec<usize>) -> Option<Blocker> {
        match self.origins.get(name) {
            Some(Origin::Latent) => None,
            Some(Origin::Nested(span)) => Some(Blocker { name: name.to_string(), span: *span, place: "bottleneck" }),
            Some(Origin::Statement(i)) => {
                if seen.contains(i) {
                    return None;
                }
                seen.push(*i);
                self.reads[*i].iter().find_map(|id| self.blocker_in(&id.name, seen))
            }
            None => self.outside.get(name).map(|&(span, place)| Blocker { name: name.to_string(), span, place }),
        }
    }
}

/// Appends the names a type annotation's dimensions read (`f32[latent]`).
fn type_reads(ty: &TypeExpr, out: &mut Vec<Ident>) {
    fn dim_reads(d: &DimExpr, out: &mut Vec<Ident>) {
        match d {
            DimExpr::Name(id) => out.push(id.clone()),
            DimExpr::Binary { lhs, rhs, .. } => {
                dim_reads(lhs, out);
                dim_reads(rhs, out);
            }
            DimExpr::Int { .. } | DimExpr::Ellipsis(_) => {}
        }
    }
    if let TypeExpr::Tensor { dims, .. } = ty {
        dims.iter().for_each(|d| dim_reads(d, out));
    }
}

/// Draws the latents from their priors in dependency order, evaluating the bottleneck
/// statements each prior needs first. `draw` evaluates one prior's expression (its checks
/// against the latent included) once the names it reads are bound.
pub struct Ancestral<'b, 'm> {
    pub bottleneck: &'b Bottleneck<'m>,
    done: Vec<bool>,
    drawn: HashMap<String, hg_ir::ValueId>,
    /// Latents whose prior is being evaluated, outermost first (for the cycle error).
    drawing: Vec<(String, Span)>,
    /// A prior read a latent without a prior, so not every latent can be drawn.
    pub undrawable: bool,
}

/// Evaluates one prior's expression, the names it reads bound; returns the latent's value.
pub type DrawPrior<'a> = dyn FnMut(&mut Ctx, &Ident, &Expr, Span) -> EResult<hg_ir::ValueId> + 'a;

impl<'b, 'm> Ancestral<'b, 'm> {
    pub fn new(bottleneck: &'b Bottleneck<'m>) -> Self {
        Ancestral {
            bottleneck,
            done: vec![false; bottleneck.stmts.len()],
            drawn: HashMap::new(),
            drawing: Vec::new(),
            undrawable: false,
        }
    }

    /// The drawn latents.
    pub fn into_drawn(self) -> HashMap<String, hg_ir::ValueId> {
        self.drawn
    }

    /// Draws the latent `name` (and first whatever its prior reads). A latent without a prior
    /// is left undrawn where the caller asks (it reports it) and an error where a prior reads it.
    pub fn draw(&mut self, ctx: &mut Ctx, name: &str, read: Option<&Ident>, draw_prior: &mut DrawPrior) -> EResult<()> {
        if self.drawn.contains_key(name) {
            return Ok(());
        }
        let Some((latent, value, span)) = self.bottleneck.priors().find(|(n, _, _)| n.name == name) else {
            // A prior needs a latent `sample` cannot draw: the model has no `sample` (the
            // caller says which latent lacks a prior), which is no error in itself.
            if read.is_some() {
                self.undrawable = true;
                return Err(Stop);
            }
            return Ok(());
        };
        if let Some(at) = self.drawing.iter().position(|(n, _)| n == name) {
            return Err(ctx.error(self.cycle_error(at, latent)));
        }
        self.drawing.push((name.to_string(), latent.span));
        let mut reads = Vec::new();
        expr_reads(value, &mut reads);
        let result = self.ensure(ctx, &reads, draw_prior).and_then(|()| draw_prior(ctx, latent, value, span));
        self.drawing.pop();
        let v = result?;
        ctx.bind(name, super::value::Value::Tensor(v), latent.span);
        self.drawn.insert(name.to_string(), v);
        Ok(())
    }

    /// Makes the names in `reads` bound: latents drawn, computable statements evaluated.
    fn ensure(&mut self, ctx: &mut Ctx, reads: &[Ident], draw_prior: &mut DrawPrior) -> EResult<()> {
        for id in reads {
            match self.bottleneck.origins.get(&id.name) {
                Some(Origin::Latent) => self.draw(ctx, &id.name, Some(id), draw_prior)?,
                Some(Origin::Statement(i)) if !self.bottleneck.blocked.contains_key(&id.name) => {
                    let i = *i;
                    if self.done[i] {
                        continue;
                    }
                    self.done[i] = true;
                    let stmt_reads = self.bottleneck.reads[i].clone();
                    self.ensure(ctx, &stmt_reads, draw_prior)?;
                    let prefix = std::mem::replace(&mut ctx.frame().prefix, "bottleneck".into());
                    let result = eval_stmt(ctx, self.bottleneck.stmts[i], &mut NoHook, false);
                    ctx.frame().prefix = prefix;
                    result?;
                }
                // Blocked values stay unbound: reading one is E0320 with its blocker.
                _ => {}
            }
        }
        Ok(())
    }

    /// Priors that read each other in a circle: `drawing[at..]` and back to `latent`.
    fn cycle_error(&self, at: usize, latent: &Ident) -> ExpandError {
        let mut path: Vec<String> = self.drawing[at..].iter().map(|(n, _)| format!("`{n}`")).collect();
        path.push(format!("`{}`", latent.name));
        let mut e = ExpandError::new(
            codes::PRIOR_CYCLE,
            latent.span,
            format!("the priors read each other in a circle: {}", path.join(" → ")),
        )
        .label_primary(format!("the prior of `{}`", latent.name));
        for (n, span) in &self.drawing[at + 1..] {
            e = e.with_label(*span, format!("the prior of `{n}`"));
        }
        e.with_help(
            "`sample` draws each latent from its prior after the latents that prior reads (ancestral sampling), so \
             the priors must form a hierarchy: make one of them read only compile-time values, conditions and \
             parameters",
        )
    }
}
