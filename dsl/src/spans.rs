//! Span erasure, for comparing trees "up to spans" (the printer's round-trip property).
//!
//! Recursion follows the tree, whose depth the parser bounds (see `parse/expr.rs`).

use crate::ast::{Block, DimExpr, Expr, ExprKind, File, IndexItem, Item, ModelMember, Span, Stmt, TypeExpr, UseSource};

/// Sets every span in `file` (and its [`crate::ast::FileId`]) to the default.
pub fn erase_spans(file: &mut File) {
    file.id = Default::default();
    for item in &mut file.items {
        match item {
            Item::Use(u) => {
                u.span = Span::default();
                match &mut u.source {
                    UseSource::Std(path) => path.iter_mut().for_each(|s| s.span = Span::default()),
                    UseSource::File { span, .. } => *span = Span::default(),
                }
                u.names.iter_mut().for_each(|n| n.span = Span::default());
            }
            Item::Fn(f) => {
                f.span = Span::default();
                f.name.span = Span::default();
                for p in &mut f.params {
                    erase_param(p);
                }
                if let Some(t) = &mut f.ret {
                    erase_type(t);
                }
                erase_block(&mut f.body);
            }
            Item::Model(m) => {
                m.span = Span::default();
                m.name.span = Span::default();
                for p in &mut m.hparams {
                    erase_param(p);
                }
                for member in &mut m.members {
                    match member {
                        ModelMember::Input { name, ty, span, .. } => {
                            *span = Span::default();
                            name.span = Span::default();
                            erase_type(ty);
                        }
                        ModelMember::Section(s) => {
                            s.span = Span::default();
                            s.head_span = Span::default();
                            s.skips.iter_mut().for_each(|n| n.span = Span::default());
                            erase_block(&mut s.body);
                        }
                        ModelMember::Loss { player, value, span } => {
                            *span = Span::default();
                            if let Some(p) = player {
                                p.span = Span::default();
                            }
                            erase_expr(value);
                        }
                        ModelMember::Metric { name, value, span }
                        | ModelMember::Picture { name, value, span }
                        | ModelMember::Binding { name, value, span } => {
                            *span = Span::default();
                            name.span = Span::default();
                            erase_expr(value);
                        }
                        ModelMember::Train(t) => {
                            t.span = Span::default();
                            for s in &mut t.settings {
                                s.span = Span::default();
                                s.key.span = Span::default();
                                erase_expr(&mut s.value);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn erase_param(p: &mut crate::ast::Param) {
    p.span = Span::default();
    p.name.span = Span::default();
    if let Some(t) = &mut p.ty {
        erase_type(t);
    }
    if let Some(d) = &mut p.default {
        erase_expr(d);
    }
}

fn erase_block(b: &mut Block) {
    b.span = Span::default();
    for s in &mut b.stmts {
        erase_stmt(s);
    }
}

fn erase_stmt(s: &mut Stmt) {
    match s {
        Stmt::Let { targets, value, span } => {
            *span = Span::default();
            targets.iter_mut().for_each(|t| t.span = Span::default());
            erase_expr(value);
        }
        Stmt::Param { name, ty, init, span, .. } => {
            *span = Span::default();
            name.span = Span::default();
            erase_type(ty);
            erase_expr(init);
        }
        Stmt::Repeat { count, body, span } => {
            *span = Span::default();
            erase_expr(count);
            erase_block(body);
        }
        Stmt::For { vars, iter, body, span } => {
            *span = Span::default();
            vars.iter_mut().for_each(|v| v.span = Span::default());
            erase_expr(iter);
            erase_block(body);
        }
        Stmt::If { cond, then_block, else_block, span } => {
            *span = Span::default();
            erase_expr(cond);
            erase_block(then_block);
            if let Some(e) = else_block {
                erase_block(e);
            }
        }
        Stmt::Return { value, span } => {
            *span = Span::default();
            erase_expr(value);
        }
        Stmt::Latent { name, value, span }
        | Stmt::Prior { name, value, span }
        | Stmt::Output { name, value, span }
        | Stmt::Update { name, value, span } => {
            *span = Span::default();
            name.span = Span::default();
            erase_expr(value);
        }
    }
}

/// Erases the spans of a type.
pub fn erase_type(t: &mut TypeExpr) {
    match t {
        TypeExpr::Named(id) => id.span = Span::default(),
        TypeExpr::Tensor { dtype, dims, span } => {
            *span = Span::default();
            if let Some(d) = dtype {
                d.span = Span::default();
            }
            dims.iter_mut().for_each(erase_dim);
        }
    }
}

fn erase_dim(d: &mut DimExpr) {
    match d {
        DimExpr::Int { span, .. } | DimExpr::Ellipsis(span) => *span = Span::default(),
        DimExpr::Name(id) => id.span = Span::default(),
        DimExpr::Binary { lhs, rhs, span, .. } => {
            *span = Span::default();
            erase_dim(lhs);
            erase_dim(rhs);
        }
    }
}

/// Erases the spans of an expression.
pub fn erase_expr(e: &mut Expr) {
    e.span = Span::default();
    match &mut e.kind {
        ExprKind::Int(_)
        | ExprKind::Float { .. }
        | ExprKind::Bool(_)
        | ExprKind::Str(_)
        | ExprKind::Training
        | ExprKind::Sampling => {}
        ExprKind::Name(id) => id.span = Span::default(),
        ExprKind::List(items) | ExprKind::Tuple(items) => items.iter_mut().for_each(erase_expr),
        ExprKind::Paren(inner) => erase_expr(inner),
        ExprKind::Record(fields) => {
            for (k, v) in fields {
                k.span = Span::default();
                erase_expr(v);
            }
        }
        ExprKind::Unary { operand, .. } => erase_expr(operand),
        ExprKind::Binary { lhs, rhs, .. } => {
            erase_expr(lhs);
            erase_expr(rhs);
        }
        ExprKind::Call { callee, args } => {
            callee.span = Span::default();
            for a in args {
                a.span = Span::default();
                if let Some(n) = &mut a.name {
                    n.span = Span::default();
                }
                erase_expr(&mut a.value);
            }
        }
        ExprKind::Field { base, field } => {
            erase_expr(base);
            field.span = Span::default();
        }
        ExprKind::Index { base, indices } => {
            erase_expr(base);
            for i in indices {
                match i {
                    IndexItem::Index(e) => erase_expr(e),
                    IndexItem::Ellipsis(span) => *span = Span::default(),
                    IndexItem::Slice { start, end, step, span } => {
                        *span = Span::default();
                        for e in [start, end, step].into_iter().flatten() {
                            erase_expr(e);
                        }
                    }
                }
            }
        }
        ExprKind::IfElse { cond, then_expr, else_expr } => {
            erase_expr(cond);
            erase_expr(then_expr);
            erase_expr(else_expr);
        }
    }
}
