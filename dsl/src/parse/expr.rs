//! Builds expression and dimension trees from the grammar's flat operator sequences.
//!
//! The grammar parses `expr` as a flat list: prefix operators, operands, postfix operators and
//! infix operators. This module assembles the tree by shunting-yard precedence climbing with
//! explicit stacks, so a 100,000-term chain costs no native stack. Precedence, loosest first:
//! `||`, `&&`, comparisons, `+ -`, `* / @`, unary `- !`, `**` (right-associative, so
//! `-x ** 2` is `-(x ** 2)` and `2 ** -1` is `2 ** (-1)`), then postfix `.field` and `[index]`.
//!
//! **Invariant**: no tree this module returns is deeper than [`MAX_EXPR_DEPTH`]; a deeper one is
//! refused with a located error, so every recursive walk over the AST (printing, resolving,
//! dropping, later stages) is bounded.

use pest::iterators::Pair;

use super::grammar::Rule;
use super::literal;
use super::lower::{Dropped, Lower, Lowerer};
use crate::ast::{Arg, BinaryOp, DimExpr, DimOp, Expr, ExprKind, IndexItem, Span, UnaryOp};
use crate::codes;
use crate::diagnostic::Diagnostic;

/// How deep an expression or dimension tree may be.
pub const MAX_EXPR_DEPTH: usize = 256;

/// Binding strength of unary `-` and `!`: between `* / @` and `**`.
const PREFIX_PRECEDENCE: u8 = 6;

/// An expression with its tree depth (a leaf has depth 1).
pub(crate) struct Built {
    pub expr: Expr,
    pub depth: usize,
}

enum Pending {
    Prefix(UnaryOp, Span),
    Infix(BinaryOp),
}

impl Pending {
    fn precedence(&self) -> u8 {
        match self {
            Pending::Prefix(..) => PREFIX_PRECEDENCE,
            Pending::Infix(op) => op.precedence(),
        }
    }
}

fn infix_op(rule: Rule) -> Option<BinaryOp> {
    Some(match rule {
        Rule::or => BinaryOp::Or,
        Rule::and => BinaryOp::And,
        Rule::eq => BinaryOp::Eq,
        Rule::ne => BinaryOp::Ne,
        Rule::le => BinaryOp::Le,
        Rule::ge => BinaryOp::Ge,
        Rule::lt => BinaryOp::Lt,
        Rule::gt => BinaryOp::Gt,
        Rule::add => BinaryOp::Add,
        Rule::sub => BinaryOp::Sub,
        Rule::pow => BinaryOp::Pow,
        Rule::mul => BinaryOp::Mul,
        Rule::div => BinaryOp::Div,
        Rule::matmul => BinaryOp::MatMul,
        _ => return None,
    })
}

/// The part of a too-deep node to underline: the operand that continues the chain past the
/// limit (the whole node may span thousands of characters).
fn focus(kind: &ExprKind, span: Span) -> Option<Span> {
    match kind {
        ExprKind::Binary { lhs, rhs, .. } => {
            // Left-deep chains grow at the right operand, right-deep ones at the left.
            let left_deeper = matches!(lhs.kind, ExprKind::Binary { .. } | ExprKind::Unary { .. });
            Some(if left_deeper { rhs.span } else { lhs.span })
        }
        ExprKind::Unary { operand, .. } => Some(Span { end: operand.span.start, ..span }),
        ExprKind::Field { field, .. } => Some(field.span),
        _ => None,
    }
}

fn dim_op(rule: Rule) -> Option<DimOp> {
    Some(match rule {
        Rule::add => DimOp::Add,
        Rule::sub => DimOp::Sub,
        Rule::mul => DimOp::Mul,
        Rule::div => DimOp::Div,
        _ => return None,
    })
}

fn dim_precedence(op: DimOp) -> u8 {
    match op {
        DimOp::Add | DimOp::Sub => 1,
        DimOp::Mul | DimOp::Div => 2,
    }
}

impl Lowerer {
    pub(crate) fn expr(&mut self, pair: Pair<'_, Rule>) -> Lower<Expr> {
        Ok(self.expr_built(pair)?.expr)
    }

    /// Makes a node of the given depth, refusing trees deeper than [`MAX_EXPR_DEPTH`].
    fn node(&mut self, kind: ExprKind, span: Span, depth: usize) -> Lower<Built> {
        if depth > MAX_EXPR_DEPTH {
            let focus = focus(&kind, span).unwrap_or(span);
            self.too_deep(focus);
            return Err(Dropped);
        }
        Ok(Built { expr: Expr { kind, span }, depth })
    }

    fn too_deep(&mut self, span: Span) {
        self.diags.push(
            Diagnostic::error(
                codes::E0008,
                format!("expression nested too deeply (more than {MAX_EXPR_DEPTH} levels)"),
            )
            .primary(span, "this expression is too deep")
            .help("split it into several bindings"),
        );
    }

    fn malformed(&mut self, span: Span) -> Dropped {
        self.diags.push(Diagnostic::error(codes::E0001, "malformed expression").primary(span, "cannot be read"));
        Dropped
    }

    pub(crate) fn expr_built(&mut self, pair: Pair<'_, Rule>) -> Lower<Built> {
        let whole = self.span(&pair);
        let mut operands: Vec<Built> = Vec::new();
        let mut ops: Vec<Pending> = Vec::new();
        for part in pair.into_inner() {
            let rule = part.as_rule();
            match rule {
                Rule::neg => ops.push(Pending::Prefix(UnaryOp::Neg, self.span(&part))),
                Rule::not => ops.push(Pending::Prefix(UnaryOp::Not, self.span(&part))),
                Rule::field | Rule::index => {
                    let base = operands.pop().ok_or_else(|| self.malformed(whole))?;
                    let built = self.postfix(base, part)?;
                    operands.push(built);
                }
                _ => match infix_op(rule) {
                    Some(op) => {
                        while let Some(top) = ops.last() {
                            let (top_prec, prec) = (top.precedence(), op.precedence());
                            let right_assoc = op == BinaryOp::Pow;
                            if top_prec > prec || (top_prec == prec && !right_assoc) {
                                self.reduce(&mut operands, &mut ops, whole)?;
                            } else {
                                break;
                            }
                        }
                        ops.push(Pending::Infix(op));
                    }
                    None => {
                        let built = self.primary(part)?;
                        operands.push(built);
                    }
                },
            }
        }
        while !ops.is_empty() {
            self.reduce(&mut operands, &mut ops, whole)?;
        }
        match (operands.pop(), operands.is_empty()) {
            (Some(built), true) => Ok(built),
            _ => Err(self.malformed(whole)),
        }
    }

    fn reduce(&mut self, operands: &mut Vec<Built>, ops: &mut Vec<Pending>, whole: Span) -> Lower<()> {
        let op = ops.pop().ok_or_else(|| self.malformed(whole))?;
        let built = match op {
            Pending::Prefix(op, op_span) => {
                let operand = operands.pop().ok_or_else(|| self.malformed(whole))?;
                let span = op_span.to(operand.expr.span);
                let depth = operand.depth + 1;
                self.node(ExprKind::Unary { op, operand: Box::new(operand.expr) }, span, depth)?
            }
            Pending::Infix(op) => {
                let rhs = operands.pop().ok_or_else(|| self.malformed(whole))?;
                let lhs = operands.pop().ok_or_else(|| self.malformed(whole))?;
                let span = lhs.expr.span.to(rhs.expr.span);
                let depth = lhs.depth.max(rhs.depth) + 1;
                self.node(ExprKind::Binary { op, lhs: Box::new(lhs.expr), rhs: Box::new(rhs.expr) }, span, depth)?
            }
        };
        operands.push(built);
        Ok(())
    }

    fn primary(&mut self, pair: Pair<'_, Rule>) -> Lower<Built> {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::number => {
                let kind = self.number(&pair)?;
                self.node(kind, span, 1)
            }
            Rule::string => {
                let text = pair.as_str();
                match literal::string(text) {
                    Ok(s) => self.node(ExprKind::Str(s), span, 1),
                    Err(e) => {
                        self.literal_error(span, e);
                        Err(Dropped)
                    }
                }
            }
            Rule::bool_lit => self.node(ExprKind::Bool(pair.as_str() == "true"), span, 1),
            Rule::training => self.node(ExprKind::Training, span, 1),
            Rule::sampling => self.node(ExprKind::Sampling, span, 1),
            Rule::name => {
                let id = self.ident(&pair);
                self.node(ExprKind::Name(id), span, 1)
            }
            Rule::call => {
                let mut inner = pair.into_inner();
                let callee = match inner.next() {
                    Some(p) => self.ident(&p),
                    None => return Err(self.malformed(span)),
                };
                let mut args = Vec::new();
                let mut depth = 1;
                for arg in inner {
                    let arg_span = self.span(&arg);
                    let mut name = None;
                    let mut value = None;
                    for part in arg.into_inner() {
                        match part.as_rule() {
                            Rule::kwarg_name => {
                                name = part.into_inner().next().map(|n| self.ident(&n));
                            }
                            _ => value = Some(self.expr_built(part)?),
                        }
                    }
                    let value = value.ok_or_else(|| self.malformed(arg_span))?;
                    depth = depth.max(value.depth + 1);
                    args.push(Arg { name, value: value.expr, span: arg_span });
                }
                self.node(ExprKind::Call { callee, args }, span, depth)
            }
            Rule::paren => {
                let mut items = Vec::new();
                let mut trailing = false;
                let mut depth = 1;
                for part in pair.into_inner() {
                    if part.as_rule() == Rule::trailing_comma {
                        trailing = true;
                    } else {
                        let b = self.expr_built(part)?;
                        depth = depth.max(b.depth + 1);
                        items.push(b.expr);
                    }
                }
                if items.len() == 1 && !trailing {
                    let inner = items.pop().map(Box::new).ok_or_else(|| self.malformed(span))?;
                    self.node(ExprKind::Paren(inner), span, depth)
                } else {
                    self.node(ExprKind::Tuple(items), span, depth)
                }
            }
            Rule::list => {
                let mut items = Vec::new();
                let mut depth = 1;
                for part in pair.into_inner() {
                    let b = self.expr_built(part)?;
                    depth = depth.max(b.depth + 1);
                    items.push(b.expr);
                }
                self.node(ExprKind::List(items), span, depth)
            }
            Rule::record => {
                let mut fields = Vec::new();
                let mut depth = 1;
                for field in pair.into_inner() {
                    let field_span = self.span(&field);
                    let mut inner = field.into_inner();
                    let (Some(key), Some(value)) = (inner.next(), inner.next()) else {
                        return Err(self.malformed(field_span));
                    };
                    let key = self.ident(&key);
                    let b = self.expr_built(value)?;
                    depth = depth.max(b.depth + 1);
                    fields.push((key, b.expr));
                }
                self.node(ExprKind::Record(fields), span, depth)
            }
            Rule::if_expr => {
                let mut parts = pair.into_inner().filter(|p| p.as_rule() == Rule::expr);
                let (Some(c), Some(t), Some(e)) = (parts.next(), parts.next(), parts.next()) else {
                    return Err(self.malformed(span));
                };
                let (c, t, e) = (self.expr_built(c)?, self.expr_built(t)?, self.expr_built(e)?);
                let depth = c.depth.max(t.depth).max(e.depth) + 1;
                let kind = ExprKind::IfElse {
                    cond: Box::new(c.expr),
                    then_expr: Box::new(t.expr),
                    else_expr: Box::new(e.expr),
                };
                self.node(kind, span, depth)
            }
            _ => Err(self.malformed(span)),
        }
    }

    fn postfix(&mut self, base: Built, pair: Pair<'_, Rule>) -> Lower<Built> {
        let op_span = self.span(&pair);
        let span = base.expr.span.to(op_span);
        match pair.as_rule() {
            Rule::field => {
                let field = match pair.into_inner().next() {
                    Some(w) => self.ident(&w),
                    None => return Err(self.malformed(op_span)),
                };
                self.node(ExprKind::Field { base: Box::new(base.expr), field }, span, base.depth + 1)
            }
            _ => {
                let mut indices = Vec::new();
                let mut depth = base.depth + 1;
                for item in pair.into_inner() {
                    let (index, d) = self.index_item(item)?;
                    depth = depth.max(d + 1);
                    indices.push(index);
                }
                self.node(ExprKind::Index { base: Box::new(base.expr), indices }, span, depth)
            }
        }
    }

    /// One item of `x[...]` and its depth.
    fn index_item(&mut self, item: Pair<'_, Rule>) -> Lower<(IndexItem, usize)> {
        let span = self.span(&item);
        let mut start = None;
        let mut tail = None;
        for part in item.into_inner() {
            match part.as_rule() {
                Rule::ellipsis => return Ok((IndexItem::Ellipsis(span), 1)),
                Rule::slice_tail => tail = Some(part),
                _ => start = Some(self.expr_built(part)?),
            }
        }
        let Some(tail) = tail else {
            let start = start.ok_or_else(|| self.malformed(span))?;
            return Ok((IndexItem::Index(start.expr), start.depth));
        };
        let mut depth = start.as_ref().map_or(1, |s| s.depth);
        let mut end = None;
        let mut step = None;
        for part in tail.into_inner() {
            let rule = part.as_rule();
            let Some(e) = part.into_inner().next() else { continue };
            let b = self.expr_built(e)?;
            depth = depth.max(b.depth);
            if rule == Rule::slice_end {
                end = Some(b.expr);
            } else {
                step = Some(b.expr);
            }
        }
        Ok((IndexItem::Slice { start: start.map(|s| s.expr), end, step, span }, depth))
    }

    fn number(&mut self, pair: &Pair<'_, Rule>) -> Lower<ExprKind> {
        let span = self.span(pair);
        match literal::number(pair.as_str()) {
            Ok(literal::Number::Int(v)) => Ok(ExprKind::Int(v)),
            Ok(literal::Number::Float(v)) => Ok(ExprKind::Float { value: v, text: pair.as_str().to_string() }),
            Err(e) => {
                self.literal_error(span, e);
                Err(Dropped)
            }
        }
    }

    pub(crate) fn literal_error(&mut self, span: Span, e: literal::LiteralError) {
        let at = Span { file: span.file, start: span.start + e.range.0 as u32, end: span.start + e.range.1 as u32 };
        let d = Diagnostic::error(e.code, e.message).primary(at, e.label).maybe_help(e.help);
        self.diags.push(d);
    }

    /// A dimension expression (`B`, `784`, `H / 2`, `(C + 1) * 4`, `...`) and its depth.
    pub(crate) fn dim(&mut self, pair: Pair<'_, Rule>) -> Lower<(DimExpr, usize)> {
        let whole = self.span(&pair);
        let mut operands: Vec<(DimExpr, usize)> = Vec::new();
        let mut ops: Vec<DimOp> = Vec::new();
        for part in pair.into_inner() {
            if let Some(op) = dim_op(part.as_rule()) {
                while ops.last().is_some_and(|top| dim_precedence(*top) >= dim_precedence(op)) {
                    self.reduce_dim(&mut operands, &mut ops, whole)?;
                }
                ops.push(op);
                continue;
            }
            let span = self.span(&part);
            let atom = match part.as_rule() {
                Rule::ellipsis => (DimExpr::Ellipsis(span), 1),
                Rule::name => (DimExpr::Name(self.ident(&part)), 1),
                Rule::number => match self.number(&part)? {
                    ExprKind::Int(value) => (DimExpr::Int { value, span }, 1),
                    _ => {
                        self.diags.push(
                            Diagnostic::error(codes::E0012, format!("dimension `{}` is not an integer", part.as_str()))
                                .primary(span, "expected an integer")
                                .help("tensor dimensions are whole numbers"),
                        );
                        return Err(Dropped);
                    }
                },
                Rule::dim_paren => match part.into_inner().next() {
                    Some(inner) => self.dim(inner)?,
                    None => return Err(self.malformed(span)),
                },
                _ => return Err(self.malformed(span)),
            };
            operands.push(atom);
        }
        while !ops.is_empty() {
            self.reduce_dim(&mut operands, &mut ops, whole)?;
        }
        match (operands.pop(), operands.is_empty()) {
            (Some(d), true) => Ok(d),
            _ => Err(self.malformed(whole)),
        }
    }

    fn reduce_dim(&mut self, operands: &mut Vec<(DimExpr, usize)>, ops: &mut Vec<DimOp>, whole: Span) -> Lower<()> {
        let (Some(op), Some((rhs, rd)), Some((lhs, ld))) = (ops.pop(), operands.pop(), operands.pop()) else {
            return Err(self.malformed(whole));
        };
        for side in [&lhs, &rhs] {
            if let DimExpr::Ellipsis(span) = side {
                self.diags.push(
                    Diagnostic::error(codes::E0010, "`...` cannot take part in dimension arithmetic")
                        .primary(*span, "`...` stands for any number of dimensions"),
                );
                return Err(Dropped);
            }
        }
        let span = lhs.span().to(rhs.span());
        let depth = ld.max(rd) + 1;
        if depth > MAX_EXPR_DEPTH {
            self.too_deep(span);
            return Err(Dropped);
        }
        operands.push((DimExpr::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs), span }, depth));
        Ok(())
    }
}
