//! The AST pretty-printer: writes a [`File`] back as `.hgl` text.
//!
//! **Invariant** (tested on every example and standard-library module, and on generated
//! trees): `parse(print(ast))` equals `ast` up to spans, for every tree the parser produces.
//! The printer adds parentheses only where precedence requires them; [`needs_parens`] is the
//! single rule for that, so trees that already carry the required [`ExprKind::Paren`] nodes
//! (all parsed trees) print without extra ones. Comments are not in the AST and are lost.
//!
//! Layout: four-space indentation, one statement per line, a blank line between items (uses
//! stay together), everything else on one line.

use std::fmt::Write as _;

use crate::ast::{
    Arg, BinaryOp, Block, DimExpr, DimOp, Expr, ExprKind, File, FnDef, IndexItem, Item, ModelDef, ModelMember, Param,
    Section, Stmt, TypeExpr, UnaryOp, Use, UseSource,
};

const INDENT: &str = "    ";
/// Binding strength of unary `-` and `!` (see parse/expr.rs).
const PREFIX_PRECEDENCE: u8 = 6;

/// Which operand of a binary operator a child expression is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

/// Whether `child` must be parenthesised as the `side` operand of `parent` (a binary operator,
/// or `None` for the operand of a unary operator).
pub fn needs_parens(parent: Option<BinaryOp>, side: Side, child: &Expr) -> bool {
    match (&child.kind, parent) {
        // An `if ... then ... else` would swallow whatever follows it.
        (ExprKind::IfElse { .. }, _) => true,
        (ExprKind::Binary { op, .. }, None) => op.precedence() < PREFIX_PRECEDENCE,
        (ExprKind::Binary { op, .. }, Some(p)) => {
            let (c, pp) = (op.precedence(), p.precedence());
            let right_assoc = p == BinaryOp::Pow;
            c < pp || (c == pp && (side == Side::Right) != right_assoc)
        }
        // `(-x) ** 2`: unary binds looser than `**` on its left.
        (ExprKind::Unary { .. }, Some(p)) => side == Side::Left && p.precedence() > PREFIX_PRECEDENCE,
        // Negative literals (never produced by the parser) print as `-n`.
        (ExprKind::Int(v), Some(BinaryOp::Pow)) => *v < 0 && side == Side::Left,
        _ => false,
    }
}

/// Whether `base` must be parenthesised before `.field` or `[index]`.
pub fn needs_parens_as_postfix_base(base: &Expr) -> bool {
    match &base.kind {
        ExprKind::Binary { .. } | ExprKind::Unary { .. } | ExprKind::IfElse { .. } => true,
        ExprKind::Int(v) => *v < 0,
        ExprKind::Float { value, .. } => *value < 0.0,
        _ => false,
    }
}

/// Prints a whole file.
pub fn print_file(file: &File) -> String {
    let mut p = Printer { out: String::new(), indent: 0 };
    let mut prev_use = false;
    for (i, item) in file.items.iter().enumerate() {
        let is_use = matches!(item, Item::Use(_));
        if i > 0 && !(is_use && prev_use) {
            p.out.push('\n');
        }
        prev_use = is_use;
        match item {
            Item::Use(u) => p.use_item(u),
            Item::Fn(f) => p.fn_item(f),
            Item::Model(m) => p.model(m),
        }
    }
    p.out
}

/// Prints one expression.
pub fn print_expr(expr: &Expr) -> String {
    let mut p = Printer { out: String::new(), indent: 0 };
    p.expr(expr);
    p.out
}

/// Prints one type.
pub fn print_type(ty: &TypeExpr) -> String {
    let mut p = Printer { out: String::new(), indent: 0 };
    p.type_expr(ty);
    p.out
}

struct Printer {
    out: String,
    indent: usize,
}

impl Printer {
    fn line_start(&mut self) {
        for _ in 0..self.indent {
            self.out.push_str(INDENT);
        }
    }

    fn use_item(&mut self, u: &Use) {
        self.out.push_str("use ");
        match &u.source {
            UseSource::Std(path) => {
                let segs: Vec<&str> = path.iter().map(|s| s.name.as_str()).collect();
                self.out.push_str(&segs.join("."));
            }
            UseSource::File { path, .. } => self.out.push_str(path),
        }
        self.out.push('.');
        match u.names.as_slice() {
            [one] => self.out.push_str(&one.name),
            names => {
                let names: Vec<&str> = names.iter().map(|n| n.name.as_str()).collect();
                let _ = write!(self.out, "{{{}}}", names.join(", "));
            }
        }
        self.out.push('\n');
    }

    fn params(&mut self, params: &[Param]) {
        self.out.push('(');
        for (i, param) in params.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.out.push_str(&param.name.name);
            if let Some(ty) = &param.ty {
                self.out.push_str(": ");
                self.type_expr(ty);
            }
            if let Some(d) = &param.default {
                self.out.push_str(" = ");
                self.expr(d);
            }
        }
        self.out.push(')');
    }

    fn fn_item(&mut self, f: &FnDef) {
        let _ = write!(self.out, "fn {}", f.name.name);
        self.params(&f.params);
        if let Some(ret) = &f.ret {
            self.out.push_str(" -> ");
            self.type_expr(ret);
        }
        self.out.push(' ');
        self.block(&f.body);
        self.out.push('\n');
    }

    fn model(&mut self, m: &ModelDef) {
        let _ = write!(self.out, "model {}", m.name.name);
        self.params(&m.hparams);
        self.out.push_str(" {\n");
        self.indent += 1;
        for member in &m.members {
            self.line_start();
            match member {
                ModelMember::Input { name, ty, condition, .. } => {
                    let keyword = if *condition { "condition" } else { "input" };
                    let _ = write!(self.out, "{keyword} {}: ", name.name);
                    self.type_expr(ty);
                }
                ModelMember::Section(s) => self.section(s),
                ModelMember::Loss { player, value, .. } => {
                    match player {
                        Some(p) => {
                            let _ = write!(self.out, "loss {} = ", p.name);
                        }
                        None => self.out.push_str("loss = "),
                    }
                    self.expr(value);
                }
                ModelMember::Metric { name, value, .. } => {
                    let _ = write!(self.out, "metric {} = ", name.name);
                    self.expr(value);
                }
                ModelMember::Picture { name, value, .. } => {
                    let _ = write!(self.out, "picture {} = ", name.name);
                    self.expr(value);
                }
                ModelMember::Binding { name, value, .. } => {
                    let _ = write!(self.out, "{} = ", name.name);
                    self.expr(value);
                }
                ModelMember::Train(t) => {
                    self.out.push_str("train {\n");
                    self.indent += 1;
                    for s in &t.settings {
                        self.line_start();
                        let _ = write!(self.out, "{} = ", s.key.name);
                        self.expr(&s.value);
                        self.out.push('\n');
                    }
                    self.indent -= 1;
                    self.line_start();
                    self.out.push('}');
                }
            }
            self.out.push('\n');
        }
        self.indent -= 1;
        self.out.push_str("}\n");
    }

    fn section(&mut self, s: &Section) {
        self.out.push_str(s.kind.keyword());
        if !s.skips.is_empty() {
            let names: Vec<&str> = s.skips.iter().map(|n| n.name.as_str()).collect();
            let _ = write!(self.out, "({})", names.join(", "));
        }
        self.out.push(' ');
        self.block(&s.body);
    }

    /// `{`, the statements on their own lines, `}` (no newline after).
    fn block(&mut self, b: &Block) {
        if b.stmts.is_empty() {
            self.out.push_str("{\n");
            self.line_start();
            self.out.push('}');
            return;
        }
        self.out.push_str("{\n");
        self.indent += 1;
        for stmt in &b.stmts {
            self.line_start();
            self.stmt(stmt);
            self.out.push('\n');
        }
        self.indent -= 1;
        self.line_start();
        self.out.push('}');
    }

    fn stmt(&mut self, s: &Stmt) {
        match s {
            Stmt::Let { targets, value, .. } => {
                let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
                let _ = write!(self.out, "{} = ", names.join(", "));
                self.expr(value);
            }
            Stmt::Param { name, ty, init, buffer, .. } => {
                let keyword = if *buffer { "buffer" } else { "param" };
                let _ = write!(self.out, "{keyword} {}: ", name.name);
                self.type_expr(ty);
                self.out.push_str(" = ");
                self.expr(init);
            }
            Stmt::Repeat { count, body, .. } => {
                self.out.push_str("repeat ");
                self.expr(count);
                self.out.push(' ');
                self.block(body);
            }
            Stmt::For { vars, iter, body, .. } => {
                let names: Vec<&str> = vars.iter().map(|v| v.name.as_str()).collect();
                let _ = write!(self.out, "for {} in ", names.join(", "));
                self.expr(iter);
                self.out.push(' ');
                self.block(body);
            }
            Stmt::If { cond, then_block, else_block, .. } => {
                self.out.push_str("if ");
                self.expr(cond);
                self.out.push(' ');
                self.block(then_block);
                if let Some(e) = else_block {
                    self.out.push_str(" else ");
                    match e.stmts.as_slice() {
                        [nested @ Stmt::If { .. }] => self.stmt(nested),
                        _ => self.block(e),
                    }
                }
            }
            Stmt::Return { value, .. } => {
                self.out.push_str("return ");
                self.expr(value);
            }
            Stmt::Latent { name, value, .. } => {
                let _ = write!(self.out, "latent {} = ", name.name);
                self.expr(value);
            }
            Stmt::Prior { name, value, .. } => {
                let _ = write!(self.out, "prior {} = ", name.name);
                self.expr(value);
            }
            Stmt::Output { name, value, .. } => {
                let _ = write!(self.out, "output {} = ", name.name);
                self.expr(value);
            }
            Stmt::Update { name, value, .. } => {
                let _ = write!(self.out, "update {} = ", name.name);
                self.expr(value);
            }
        }
    }

    fn type_expr(&mut self, ty: &TypeExpr) {
        match ty {
            TypeExpr::Named(id) => self.out.push_str(&id.name),
            TypeExpr::Tensor { dtype, dims, .. } => {
                if let Some(d) = dtype {
                    self.out.push_str(&d.name);
                }
                self.out.push('[');
                for (i, dim) in dims.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.dim(dim);
                }
                self.out.push(']');
            }
        }
    }

    fn dim(&mut self, d: &DimExpr) {
        let prec = |op: DimOp| match op {
            DimOp::Add | DimOp::Sub => 1,
            DimOp::Mul | DimOp::Div => 2,
        };
        match d {
            DimExpr::Int { value, .. } => {
                let _ = write!(self.out, "{value}");
            }
            DimExpr::Name(id) => self.out.push_str(&id.name),
            DimExpr::Ellipsis(_) => self.out.push_str("..."),
            DimExpr::Binary { op, lhs, rhs, .. } => {
                let wrap = |child: &DimExpr, right: bool| match child {
                    DimExpr::Binary { op: c, .. } => prec(*c) < prec(*op) || (right && prec(*c) == prec(*op)),
                    DimExpr::Int { value, .. } => *value < 0,
                    _ => false,
                };
                self.dim_operand(lhs, wrap(lhs, false));
                let sym = match op {
                    DimOp::Add => " + ",
                    DimOp::Sub => " - ",
                    DimOp::Mul => " * ",
                    DimOp::Div => " / ",
                };
                self.out.push_str(sym);
                self.dim_operand(rhs, wrap(rhs, true));
            }
        }
    }

    fn dim_operand(&mut self, d: &DimExpr, parens: bool) {
        if parens {
            self.out.push('(');
        }
        self.dim(d);
        if parens {
            self.out.push(')');
        }
    }

    fn operand(&mut self, e: &Expr, parens: bool) {
        if parens {
            self.out.push('(');
        }
        self.expr(e);
        if parens {
            self.out.push(')');
        }
    }

    fn list(&mut self, items: &[Expr]) {
        for (i, e) in items.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.expr(e);
        }
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Int(v) => {
                let _ = write!(self.out, "{v}");
            }
            ExprKind::Float { value, text } => {
                if text.parse::<f64>().is_ok_and(|v| v == *value) && text.starts_with(|c: char| c.is_ascii_digit()) {
                    self.out.push_str(text);
                } else {
                    let _ = write!(self.out, "{value:?}");
                }
            }
            ExprKind::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            ExprKind::Str(s) => {
                self.out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => self.out.push_str("\\\""),
                        '\\' => self.out.push_str("\\\\"),
                        '\n' => self.out.push_str("\\n"),
                        '\t' => self.out.push_str("\\t"),
                        c => self.out.push(c),
                    }
                }
                self.out.push('"');
            }
            ExprKind::Training => self.out.push_str("training"),
            ExprKind::Sampling => self.out.push_str("sampling"),
            ExprKind::Name(id) => self.out.push_str(&id.name),
            ExprKind::List(items) => {
                self.out.push('[');
                self.list(items);
                self.out.push(']');
            }
            ExprKind::Tuple(items) => {
                self.out.push('(');
                self.list(items);
                if items.len() == 1 {
                    self.out.push(',');
                }
                self.out.push(')');
            }
            ExprKind::Paren(inner) => {
                self.out.push('(');
                self.expr(inner);
                self.out.push(')');
            }
            ExprKind::Record(fields) => {
                if fields.is_empty() {
                    self.out.push_str("{}");
                    return;
                }
                self.out.push_str("{ ");
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    let _ = write!(self.out, "{}: ", k.name);
                    self.expr(v);
                }
                self.out.push_str(" }");
            }
            ExprKind::Unary { op, operand } => {
                self.out.push(match op {
                    UnaryOp::Neg => '-',
                    UnaryOp::Not => '!',
                });
                self.operand(operand, needs_parens(None, Side::Right, operand));
            }
            ExprKind::Binary { op, lhs, rhs } => {
                self.operand(lhs, needs_parens(Some(*op), Side::Left, lhs));
                let _ = write!(self.out, " {} ", op.symbol());
                self.operand(rhs, needs_parens(Some(*op), Side::Right, rhs));
            }
            ExprKind::Call { callee, args } => {
                self.out.push_str(&callee.name);
                self.out.push('(');
                for (i, Arg { name, value, .. }) in args.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    if let Some(n) = name {
                        let _ = write!(self.out, "{} = ", n.name);
                    }
                    self.expr(value);
                }
                self.out.push(')');
            }
            ExprKind::Field { base, field } => {
                self.operand(base, needs_parens_as_postfix_base(base));
                let _ = write!(self.out, ".{}", field.name);
            }
            ExprKind::Index { base, indices } => {
                self.operand(base, needs_parens_as_postfix_base(base));
                self.out.push('[');
                for (i, item) in indices.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    match item {
                        IndexItem::Index(e) => self.expr(e),
                        IndexItem::Ellipsis(_) => self.out.push_str("..."),
                        IndexItem::Slice { start, end, step, .. } => {
                            if let Some(s) = start {
                                self.expr(s);
                            }
                            self.out.push(':');
                            if let Some(e) = end {
                                self.expr(e);
                            }
                            if let Some(s) = step {
                                self.out.push(':');
                                self.expr(s);
                            }
                        }
                    }
                }
                self.out.push(']');
            }
            ExprKind::IfElse { cond, then_expr, else_expr } => {
                self.out.push_str("if ");
                self.expr(cond);
                self.out.push_str(" then ");
                self.expr(then_expr);
                self.out.push_str(" else ");
                self.expr(else_expr);
            }
        }
    }
}
