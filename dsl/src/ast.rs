//! The abstract syntax tree of a `.hgl` file: what was written, with byte spans.
//!
//! **Invariant**: every node that a diagnostic may point at carries a [`Span`] into the source
//! file it came from ([`FileId`]). The tree is plain data; the parser builds it, the resolver
//! reads it, the pretty-printer writes it back as text that parses to the same tree.

use std::fmt;

/// Index of a source file in the [`crate::source::SourceDb`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A byte range in one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span { file, start: start as u32, end: end as u32 }
    }

    /// The smallest span covering both (same file assumed).
    pub fn to(self, other: Span) -> Span {
        Span { file: self.file, start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(self) -> bool {
        self.end == self.start
    }
}

/// A name with the place it was written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// One parsed file.
#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub id: FileId,
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Use(Use),
    Fn(FnDef),
    Model(ModelDef),
}

/// `use std.nn.{Linear, Mlp}`, `use std.loss.mse`, `use ./blocks.hgl.{Res}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Use {
    pub source: UseSource,
    /// The imported names (a single `use std.loss.mse` imports `[mse]`).
    pub names: Vec<Ident>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum UseSource {
    /// `std.nn`: module path segments, starting with `std`.
    Std(Vec<Ident>),
    /// `./blocks.hgl` or `../lib/x.hgl`: a path relative to the importing file.
    File { path: String, span: Span },
}

/// `fn Name(params) -> type { body }`.
#[derive(Clone, Debug, PartialEq)]
pub struct FnDef {
    pub name: Ident,
    pub params: Vec<Param>,
    pub ret: Option<TypeExpr>,
    pub body: Block,
    pub span: Span,
}

/// A `fn` argument or model hyperparameter: `x: [..., I]`, `out: int`, `beta: float = 0.25`,
/// `act = relu`.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: Option<TypeExpr>,
    pub default: Option<Expr>,
    pub span: Span,
}

/// `model Name(hyperparameters) { members }`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelDef {
    pub name: Ident,
    pub hparams: Vec<Param>,
    pub members: Vec<ModelMember>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ModelMember {
    /// `input x: f32[B, 784]`, or with `condition`, `condition label: i64[B]`: an input the
    /// decoder and the priors may read too, so `decode` and `sample` take it as well.
    Input { name: Ident, ty: TypeExpr, span: Span, condition: bool },
    /// `encoder { ... }`, `bottleneck { ... }`, `decoder(skip) { ... }`
    Section(Section),
    /// `loss = expr`
    /// `loss = expr`, or `loss critic = expr`: the loss of the critic's parameters (two-player
    /// training), `player` naming the section whose parameters it trains.
    Loss { player: Option<Ident>, value: Expr, span: Span },
    /// `metric kl = expr`
    Metric { name: Ident, value: Expr, span: Span },
    /// `picture masked = expr`: a batch of images `eval` returns as `picture:masked` and a
    /// run draws beside each input in `reconstructions.png` (what a masked autoencoder saw).
    Picture { name: Ident, value: Expr, span: Span },
    /// `rec = expr` after the sections: a helper value that later bindings, the loss and the
    /// metrics read (evaluated where the loss is: `train` and `eval`).
    Binding { name: Ident, value: Expr, span: Span },
    /// `train { key = value ... }`
    Train(TrainBlock),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SectionKind {
    Encoder,
    Bottleneck,
    Decoder,
    /// The second player of two-player training (a GAN's discriminator): its parameters are
    /// trained by `loss critic`, every other parameter by `loss`.
    Critic,
}

impl SectionKind {
    pub fn keyword(self) -> &'static str {
        match self {
            SectionKind::Encoder => "encoder",
            SectionKind::Bottleneck => "bottleneck",
            SectionKind::Decoder => "decoder",
            SectionKind::Critic => "critic",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    pub kind: SectionKind,
    /// `decoder(skip, other) { ... }`: encoder values the decoder may read (no standalone `decode`).
    pub skips: Vec<Ident>,
    pub body: Block,
    /// Span of the keyword (and skip list), for "section here" labels.
    pub head_span: Span,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrainBlock {
    pub settings: Vec<TrainSetting>,
    pub span: Span,
}

/// `optimizer = adam(lr = 1e-3)`: known keys are checked by the resolver, not the grammar.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSetting {
    pub key: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `name = expr` or `a, b = expr`
    Let { targets: Vec<Ident>, value: Expr, span: Span },
    /// `param w: f32[I, O] = glorot_uniform`, or with `buffer: true`, `buffer m: f32[C] = zeros`
    /// (state the train step sets with `update`, not trained)
    Param { name: Ident, ty: TypeExpr, init: Expr, span: Span, buffer: bool },
    /// `repeat n { ... }`
    Repeat { count: Expr, body: Block, span: Span },
    /// `for i in xs { ... }` or `for i, x in enumerate(xs) { ... }` (unrolled over a
    /// compile-time list or tuple; several names unpack each item)
    For { vars: Vec<Ident>, iter: Expr, body: Block, span: Span },
    /// `if cond { ... } else { ... }` (compile-time condition; `else if` nests in `else_block`)
    If { cond: Expr, then_block: Block, else_block: Option<Block>, span: Span },
    /// `return expr`
    Return { value: Expr, span: Span },
    /// `latent z = expr` (bottleneck)
    Latent { name: Ident, value: Expr, span: Span },
    /// `prior z = expr` (bottleneck)
    Prior { name: Ident, value: Expr, span: Span },
    /// `output x_hat = expr` (decoder)
    Output { name: Ident, value: Expr, span: Span },
    /// `update m = expr`: the value the buffer `m` has after the train step
    Update { name: Ident, value: Expr, span: Span },
}

impl Stmt {
    pub fn span(&self) -> Span {
        match self {
            Stmt::Let { span, .. }
            | Stmt::Param { span, .. }
            | Stmt::Repeat { span, .. }
            | Stmt::For { span, .. }
            | Stmt::If { span, .. }
            | Stmt::Return { span, .. }
            | Stmt::Latent { span, .. }
            | Stmt::Prior { span, .. }
            | Stmt::Output { span, .. }
            | Stmt::Update { span, .. } => *span,
        }
    }
}

/// A type annotation: a tensor type, or a compile-time type name (`int float bool list tuple fn str`).
#[derive(Clone, Debug, PartialEq)]
pub enum TypeExpr {
    /// `f32[B, 784]`; `dtype` is `None` for a bare `[...]` (meaning f32).
    Tensor { dtype: Option<Ident>, dims: Vec<DimExpr>, span: Span },
    /// `int`, `float`, `bool`, `list`, `tuple`, `fn`, `str`
    Named(Ident),
}

impl TypeExpr {
    pub fn span(&self) -> Span {
        match self {
            TypeExpr::Tensor { span, .. } => *span,
            TypeExpr::Named(id) => id.span,
        }
    }
}

/// A dimension in a tensor type.
#[derive(Clone, Debug, PartialEq)]
pub enum DimExpr {
    /// `784`
    Int { value: i64, span: Span },
    /// `B`, `latent`, `I`
    Name(Ident),
    /// `...` (only as the first dimension in `fn` signatures)
    Ellipsis(Span),
    /// `H / 2`, `C * 4`, `N - k`, `a + b`
    Binary { op: DimOp, lhs: Box<DimExpr>, rhs: Box<DimExpr>, span: Span },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DimOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl DimExpr {
    pub fn span(&self) -> Span {
        match self {
            DimExpr::Int { span, .. } | DimExpr::Ellipsis(span) | DimExpr::Binary { span, .. } => *span,
            DimExpr::Name(id) => id.span,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

impl Expr {
    /// The expressions directly inside this one, in source order (arguments, operands, list
    /// items, index bounds), for passes that walk every sub-expression the same way.
    pub fn children(&self) -> Vec<&Expr> {
        match &self.kind {
            ExprKind::Int(_)
            | ExprKind::Float { .. }
            | ExprKind::Bool(_)
            | ExprKind::Str(_)
            | ExprKind::Training
            | ExprKind::Sampling
            | ExprKind::Name(_) => Vec::new(),
            ExprKind::List(items) | ExprKind::Tuple(items) => items.iter().collect(),
            ExprKind::Paren(inner) | ExprKind::Unary { operand: inner, .. } | ExprKind::Field { base: inner, .. } => {
                vec![inner]
            }
            ExprKind::Record(fields) => fields.iter().map(|(_, v)| v).collect(),
            ExprKind::Binary { lhs, rhs, .. } => vec![lhs, rhs],
            ExprKind::Call { args, .. } => args.iter().map(|a| &a.value).collect(),
            ExprKind::Index { base, indices } => {
                let mut out = vec![base.as_ref()];
                for item in indices {
                    match item {
                        IndexItem::Index(e) => out.push(e),
                        IndexItem::Slice { start, end, step, .. } => {
                            out.extend([start, end, step].into_iter().flatten())
                        }
                        IndexItem::Ellipsis(_) => {}
                    }
                }
                out
            }
            ExprKind::IfElse { cond, then_expr, else_expr } => vec![cond, then_expr, else_expr],
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// Integer literal (fits i64; larger literals are a diagnostic).
    Int(i64),
    /// Float literal, with its source text so printing round-trips exactly.
    Float {
        value: f64,
        text: String,
    },
    Bool(bool),
    Str(String),
    /// The keyword `training`.
    Training,
    /// The keyword `sampling`.
    Sampling,
    Name(Ident),
    /// `[a, b, c]`
    List(Vec<Expr>),
    /// `(a, b)`; a parenthesised single expression is `Paren`.
    Tuple(Vec<Expr>),
    /// `(e)`, kept so the printer can reproduce the source's grouping.
    Paren(Box<Expr>),
    /// `{ z: zq, loss: l }`
    Record(Vec<(Ident, Expr)>),
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `f(x, 2, axis = -1)`: positional arguments first, then keyword arguments.
    Call {
        callee: Ident,
        args: Vec<Arg>,
    },
    /// `g.z`
    Field {
        base: Box<Expr>,
        field: Ident,
    },
    /// `x[:, 0:16]`, `x[..., -1]`
    Index {
        base: Box<Expr>,
        indices: Vec<IndexItem>,
    },
    /// `if c then a else b`
    IfElse {
        cond: Box<Expr>,
        then_expr: Box<Expr>,
        else_expr: Box<Expr>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    /// `Some` for keyword arguments.
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum IndexItem {
    /// `3`, `-1`, `i`
    Index(Expr),
    /// `a:b`, `:b`, `a:`, `:`, `a:b:s`
    Slice { start: Option<Expr>, end: Option<Expr>, step: Option<Expr>, span: Span },
    /// `...`
    Ellipsis(Span),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    MatMul,
    Pow,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::MatMul => "@",
            BinaryOp::Pow => "**",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
        }
    }

    /// Binding strength; higher binds tighter. `**` is right-associative, the rest left.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::MatMul => 5,
            BinaryOp::Pow => 7,
        }
    }
}
