//! Lowers pest's parse tree of a whole file to the [`crate::ast`].
//!
//! Lowering can still find errors the grammar cannot express (a too-large integer, a bad
//! escape, `...` in the wrong place, a too-deep expression). Such an error drops the smallest
//! enclosing statement, member or item from the AST, and records the names it would have bound
//! as *poisoned*, so that name resolution does not report them again as unknown.
//!
//! The recursion here follows bracket nesting, which the layout pass bounds; operator chains
//! are built iteratively in `expr.rs`.

use pest::iterators::Pair;

use super::grammar::Rule;
use crate::ast::{
    Block, DimExpr, File, FileId, FnDef, Ident, Item, ModelDef, ModelMember, Param, Section, SectionKind, Span, Stmt,
    TrainBlock, TrainSetting, TypeExpr, Use, UseSource,
};
use crate::codes;
use crate::diagnostic::Diagnostic;

/// Marker: a diagnostic has been pushed and the enclosing statement or item is dropped.
#[derive(Debug)]
pub(crate) struct Dropped;

pub(crate) type Lower<T> = Result<T, Dropped>;

pub(crate) struct Lowerer {
    pub file: FileId,
    pub diags: Vec<Diagnostic>,
    pub poisoned: Vec<String>,
}

impl Lowerer {
    pub(crate) fn new(file: FileId) -> Lowerer {
        Lowerer { file, diags: Vec::new(), poisoned: Vec::new() }
    }

    pub(crate) fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.file, s.start(), s.end())
    }

    pub(crate) fn ident(&self, pair: &Pair<'_, Rule>) -> Ident {
        Ident { name: pair.as_str().to_string(), span: self.span(pair) }
    }

    fn malformed_at(&mut self, span: Span) -> Dropped {
        self.diags.push(Diagnostic::error(codes::E0001, "malformed syntax").primary(span, "cannot be read"));
        Dropped
    }

    /// Names bound by a statement or item pair: the first `name` children before `=`.
    fn poison(&mut self, pair: &Pair<'_, Rule>) {
        let names: Vec<String> = pair
            .clone()
            .into_inner()
            .take_while(|p| p.as_rule() != Rule::expr && p.as_rule() != Rule::block)
            .filter(|p| p.as_rule() == Rule::name)
            .map(|p| p.as_str().to_string())
            .collect();
        self.poisoned.extend(names);
    }

    pub(crate) fn file(&mut self, pair: Pair<'_, Rule>) -> File {
        let mut items = Vec::new();
        for item in pair.into_inner() {
            if item.as_rule() == Rule::EOI {
                continue;
            }
            let rule = item.as_rule();
            let lowered = match rule {
                Rule::use_item => self.use_item(item.clone()).map(Item::Use),
                Rule::fn_item => self.fn_item(item.clone()).map(Item::Fn),
                Rule::model_item => self.model_item(item.clone()).map(Item::Model),
                _ => Err(self.malformed_at(self.span(&item))),
            };
            match lowered {
                Ok(i) => items.push(i),
                Err(Dropped) if rule == Rule::use_item => {
                    let words = item.into_inner().flat_map(|p| p.into_inner()).flat_map(|p| {
                        if p.as_rule() == Rule::use_group { p.into_inner().collect::<Vec<_>>() } else { vec![p] }
                    });
                    let names: Vec<String> =
                        words.filter(|p| p.as_rule() == Rule::name).map(|p| p.as_str().to_string()).collect();
                    self.poisoned.extend(names);
                }
                Err(Dropped) => self.poison(&item),
            }
        }
        File { id: self.file, items }
    }

    fn use_item(&mut self, pair: Pair<'_, Rule>) -> Lower<Use> {
        let span = self.span(&pair);
        let Some(source) = pair.into_inner().find(|p| p.as_rule() != Rule::kw_use) else {
            return Err(self.malformed_at(span));
        };
        let mut segments = Vec::new();
        let mut group: Option<Vec<Ident>> = None;
        let mut file_path = None;
        for part in source.clone().into_inner() {
            match part.as_rule() {
                Rule::name => segments.push(self.ident(&part)),
                Rule::use_group => group = Some(part.into_inner().map(|n| self.ident(&n)).collect()),
                Rule::rel_path => file_path = Some((part.as_str().to_string(), self.span(&part))),
                _ => {}
            }
        }
        let (source, names) = match file_path {
            Some((path, path_span)) => {
                let names = group.unwrap_or(segments);
                (UseSource::File { path, span: path_span }, names)
            }
            None => match group {
                Some(names) => (UseSource::Std(segments), names),
                None if segments.len() >= 2 => {
                    let last = segments.pop().into_iter().collect();
                    (UseSource::Std(segments), last)
                }
                None => {
                    let shown = segments.first().map_or(String::new(), |s| s.name.clone());
                    self.diags.push(
                        Diagnostic::error(codes::E0011, format!("`use {shown}` names no item to import"))
                            .primary(span, "expected a module path followed by the names to import")
                            .help(format!("write e.g. `use {shown}.nn.{{Linear}}` or `use {shown}.loss.mse`")),
                    );
                    return Err(Dropped);
                }
            },
        };
        Ok(Use { source, names, span })
    }

    fn fn_item(&mut self, pair: Pair<'_, Rule>) -> Lower<FnDef> {
        let span = self.span(&pair);
        let mut name = None;
        let mut params = Vec::new();
        let mut ret = None;
        let mut body = None;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::name => name = Some(self.ident(&part)),
                Rule::params => params = self.params(part)?,
                Rule::type_expr => ret = Some(self.type_expr(part)?),
                Rule::block => body = Some(self.block(part)),
                _ => {}
            }
        }
        let (Some(name), Some(body)) = (name, body) else { return Err(self.malformed_at(span)) };
        Ok(FnDef { name, params, ret, body, span })
    }

    fn params(&mut self, pair: Pair<'_, Rule>) -> Lower<Vec<Param>> {
        let mut params = Vec::new();
        for p in pair.into_inner() {
            let span = self.span(&p);
            let mut name = None;
            let mut ty = None;
            let mut default = None;
            for part in p.into_inner() {
                match part.as_rule() {
                    Rule::name => name = Some(self.ident(&part)),
                    Rule::type_expr => ty = Some(self.type_expr(part)?),
                    _ => default = Some(self.expr(part)?),
                }
            }
            let name = name.ok_or_else(|| self.malformed_at(span))?;
            params.push(Param { name, ty, default, span });
        }
        Ok(params)
    }

    fn model_item(&mut self, pair: Pair<'_, Rule>) -> Lower<ModelDef> {
        let span = self.span(&pair);
        let mut name = None;
        let mut hparams = Vec::new();
        let mut members = Vec::new();
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::name => name = Some(self.ident(&part)),
                Rule::params => hparams = self.params(part)?,
                Rule::model_body => {
                    for member in part.into_inner() {
                        match self.member(member.clone()) {
                            Ok(m) => members.push(m),
                            Err(Dropped) => self.poison(&member),
                        }
                    }
                }
                _ => {}
            }
        }
        let name = name.ok_or_else(|| self.malformed_at(span))?;
        Ok(ModelDef { name, hparams, members, span })
    }

    fn member(&mut self, pair: Pair<'_, Rule>) -> Lower<ModelMember> {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::input_member | Rule::condition_member => {
                let condition = pair.as_rule() == Rule::condition_member;
                let mut name = None;
                let mut ty = None;
                for part in pair.into_inner() {
                    match part.as_rule() {
                        Rule::name => name = Some(self.ident(&part)),
                        Rule::type_expr => ty = Some(self.type_expr(part)?),
                        _ => {}
                    }
                }
                let (Some(name), Some(ty)) = (name, ty) else { return Err(self.malformed_at(span)) };
                Ok(ModelMember::Input { name, ty, span, condition })
            }
            Rule::section => {
                let mut kind = None;
                let mut skips = Vec::new();
                let mut head_span = span;
                let mut body = None;
                for part in pair.into_inner() {
                    match part.as_rule() {
                        Rule::kw_encoder | Rule::kw_bottleneck | Rule::kw_decoder | Rule::kw_critic => {
                            head_span = self.span(&part);
                            kind = Some(match part.as_rule() {
                                Rule::kw_encoder => SectionKind::Encoder,
                                Rule::kw_bottleneck => SectionKind::Bottleneck,
                                Rule::kw_critic => SectionKind::Critic,
                                _ => SectionKind::Decoder,
                            });
                        }
                        Rule::skip_list => {
                            head_span = head_span.to(self.span(&part));
                            skips = part.into_inner().map(|n| self.ident(&n)).collect();
                        }
                        Rule::block => body = Some(self.block(part)),
                        _ => {}
                    }
                }
                let (Some(kind), Some(body)) = (kind, body) else { return Err(self.malformed_at(span)) };
                Ok(ModelMember::Section(Section { kind, skips, body, head_span, span }))
            }
            Rule::loss_member => {
                let mut player = None;
                let mut value = None;
                for part in pair.into_inner() {
                    match part.as_rule() {
                        Rule::name => player = Some(self.ident(&part)),
                        Rule::expr => value = Some(part),
                        _ => {}
                    }
                }
                let value = value.ok_or_else(|| self.malformed_at(span))?;
                Ok(ModelMember::Loss { player, value: self.expr(value)?, span })
            }
            Rule::metric_member => {
                let (name, value) = self.name_and_expr(pair)?;
                Ok(ModelMember::Metric { name, value, span })
            }
            Rule::picture_member => {
                let (name, value) = self.name_and_expr(pair)?;
                Ok(ModelMember::Picture { name, value, span })
            }
            Rule::model_binding => {
                let (name, value) = self.name_and_expr(pair)?;
                Ok(ModelMember::Binding { name, value, span })
            }
            Rule::train_block => {
                let mut settings = Vec::new();
                for setting in pair.into_inner().filter(|p| p.as_rule() == Rule::train_setting) {
                    let setting_span = self.span(&setting);
                    // A broken setting is dropped; its diagnostic is already out.
                    if let Ok((key, value)) = self.name_and_expr(setting.clone()) {
                        settings.push(TrainSetting { key, value, span: setting_span });
                    }
                }
                Ok(ModelMember::Train(TrainBlock { settings, span }))
            }
            _ => Err(self.malformed_at(span)),
        }
    }

    /// `name = expr` parts of a member or statement (after its keyword).
    fn name_and_expr(&mut self, pair: Pair<'_, Rule>) -> Lower<(Ident, crate::ast::Expr)> {
        let span = self.span(&pair);
        let mut name = None;
        let mut value = None;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::name => name = Some(self.ident(&part)),
                Rule::expr => value = Some(self.expr(part)?),
                _ => {}
            }
        }
        match (name, value) {
            (Some(n), Some(v)) => Ok((n, v)),
            _ => Err(self.malformed_at(span)),
        }
    }

    pub(crate) fn block(&mut self, pair: Pair<'_, Rule>) -> Block {
        let span = self.span(&pair);
        let mut stmts = Vec::new();
        for stmt in pair.into_inner() {
            match self.stmt(stmt.clone()) {
                Ok(s) => stmts.push(s),
                Err(Dropped) => self.poison(&stmt),
            }
        }
        Block { stmts, span }
    }

    fn stmt(&mut self, pair: Pair<'_, Rule>) -> Lower<Stmt> {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::let_stmt => {
                let mut targets = Vec::new();
                let mut value = None;
                for part in pair.into_inner() {
                    match part.as_rule() {
                        Rule::name => targets.push(self.ident(&part)),
                        _ => value = Some(self.expr(part)?),
                    }
                }
                let value = value.ok_or_else(|| self.malformed_at(span))?;
                Ok(Stmt::Let { targets, value, span })
            }
            Rule::param_stmt => {
                let mut name = None;
                let mut ty = None;
                let mut init = None;
                let mut buffer = false;
                for part in pair.into_inner() {
                    match part.as_rule() {
                        Rule::kw_buffer => buffer = true,
                        Rule::name => name = Some(self.ident(&part)),
                        Rule::type_expr => ty = Some(self.type_expr(part)?),
                        Rule::expr => init = Some(self.expr(part)?),
                        _ => {}
                    }
                }
                let (Some(name), Some(ty), Some(init)) = (name, ty, init) else { return Err(self.malformed_at(span)) };
                Ok(Stmt::Param { name, ty, init, span, buffer })
            }
            Rule::repeat_stmt => {
                let mut count = None;
                let mut body = None;
                for part in pair.into_inner() {
                    match part.as_rule() {
                        Rule::expr => count = Some(self.expr(part)?),
                        Rule::block => body = Some(self.block(part)),
                        _ => {}
                    }
                }
                let (Some(count), Some(body)) = (count, body) else { return Err(self.malformed_at(span)) };
                Ok(Stmt::Repeat { count, body, span })
            }
            Rule::for_stmt => {
                let mut vars = Vec::new();
                let mut iter = None;
                let mut body = None;
                for part in pair.into_inner() {
                    match part.as_rule() {
                        Rule::name => vars.push(self.ident(&part)),
                        Rule::expr => iter = Some(self.expr(part)?),
                        Rule::block => body = Some(self.block(part)),
                        _ => {}
                    }
                }
                let (Some(iter), Some(body)) = (iter, body) else { return Err(self.malformed_at(span)) };
                if vars.is_empty() {
                    return Err(self.malformed_at(span));
                }
                Ok(Stmt::For { vars, iter, body, span })
            }
            Rule::if_stmt => {
                let mut cond = None;
                let mut then_block = None;
                let mut else_block = None;
                for part in pair.into_inner() {
                    match part.as_rule() {
                        Rule::expr => cond = Some(self.expr(part)?),
                        Rule::block if then_block.is_none() => then_block = Some(self.block(part)),
                        Rule::block => else_block = Some(self.block(part)),
                        Rule::if_stmt => {
                            // `else if`: a block holding just the nested `if`.
                            let nested_span = self.span(&part);
                            let nested = self.stmt(part)?;
                            else_block = Some(Block { stmts: vec![nested], span: nested_span });
                        }
                        _ => {}
                    }
                }
                let (Some(cond), Some(then_block)) = (cond, then_block) else { return Err(self.malformed_at(span)) };
                Ok(Stmt::If { cond, then_block, else_block, span })
            }
            Rule::return_stmt => {
                let value = pair.into_inner().find(|p| p.as_rule() == Rule::expr);
                let value = value.ok_or_else(|| self.malformed_at(span))?;
                Ok(Stmt::Return { value: self.expr(value)?, span })
            }
            Rule::latent_stmt => {
                let (name, value) = self.name_and_expr(pair)?;
                Ok(Stmt::Latent { name, value, span })
            }
            Rule::prior_stmt => {
                let (name, value) = self.name_and_expr(pair)?;
                Ok(Stmt::Prior { name, value, span })
            }
            Rule::output_stmt => {
                let (name, value) = self.name_and_expr(pair)?;
                Ok(Stmt::Output { name, value, span })
            }
            Rule::update_stmt => {
                let (name, value) = self.name_and_expr(pair)?;
                Ok(Stmt::Update { name, value, span })
            }
            _ => Err(self.malformed_at(span)),
        }
    }

    pub(crate) fn type_expr(&mut self, pair: Pair<'_, Rule>) -> Lower<TypeExpr> {
        let span = self.span(&pair);
        let Some(inner) = pair.into_inner().next() else { return Err(self.malformed_at(span)) };
        match inner.as_rule() {
            Rule::tensor_type => {
                let tspan = self.span(&inner);
                let mut dtype = None;
                let mut dims = Vec::new();
                for part in inner.into_inner() {
                    match part.as_rule() {
                        Rule::name => dtype = Some(self.ident(&part)),
                        _ => {
                            let (dim, _) = self.dim(part)?;
                            if let DimExpr::Ellipsis(at) = dim
                                && !dims.is_empty()
                            {
                                self.diags.push(
                                    Diagnostic::error(codes::E0010, "`...` must be the first dimension")
                                        .primary(at, "`...` after other dimensions")
                                        .help("`...` matches any number of leading dimensions, as in `[..., I]`"),
                                );
                                return Err(Dropped);
                            }
                            dims.push(dim);
                        }
                    }
                }
                Ok(TypeExpr::Tensor { dtype, dims, span: tspan })
            }
            _ => {
                let Some(word) = inner.clone().into_inner().next() else { return Err(self.malformed_at(span)) };
                Ok(TypeExpr::Named(self.ident(&word)))
            }
        }
    }
}
