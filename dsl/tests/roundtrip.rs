//! The printer's contract: `parse(print(ast)) == ast` up to spans, on every example and
//! standard-library file, and on generated trees.
//!
//! Generated trees are first *canonicalized*: parentheses are added exactly where the printer
//! needs them ([`needs_parens`]), as the parser would have recorded them.

use hg_dsl::ast::*;
use hg_dsl::parse::parse_file;
use hg_dsl::print::{Side, needs_parens, needs_parens_as_postfix_base, print_file};
use hg_dsl::spans::erase_spans;
use proptest::prelude::*;

fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn round_trip(mut file: File) -> Result<(), String> {
    let printed = print_file(&file);
    let parsed = parse_file(FileId(0), &printed);
    if !parsed.diagnostics.is_empty() {
        return Err(format!("printed text does not parse:\n{printed}\n{:#?}", parsed.diagnostics));
    }
    let mut again = parsed.file;
    erase_spans(&mut file);
    erase_spans(&mut again);
    if file != again {
        return Err(format!("round trip changed the tree; printed:\n{printed}"));
    }
    if print_file(&again) != printed {
        return Err("printing is not a fixpoint".to_string());
    }
    Ok(())
}

#[test]
fn examples_and_standard_library_round_trip() {
    let mut dirs = vec![repo().join("stdlib/std")];
    for entry in std::fs::read_dir(repo().join("examples")).expect("examples folder").filter_map(Result::ok) {
        if entry.path().is_dir() {
            dirs.push(entry.path());
        }
    }
    let mut files = Vec::new();
    for dir in dirs {
        for entry in std::fs::read_dir(dir).expect("folder exists").filter_map(Result::ok) {
            if entry.path().extension().is_some_and(|e| e == "hgl") {
                files.push(entry.path());
            }
        }
    }
    assert!(files.len() >= 4, "{files:?}");
    for path in files {
        let src = std::fs::read_to_string(&path).expect("readable");
        let parsed = parse_file(FileId(0), &src);
        assert!(parsed.diagnostics.is_empty(), "{}: {:#?}", path.display(), parsed.diagnostics);
        if let Err(e) = round_trip(parsed.file) {
            panic!("{}: {e}", path.display());
        }
    }
}

// ---- generated trees ------------------------------------------------------------------------

fn sp() -> Span {
    Span::default()
}

fn id(name: &str) -> Ident {
    Ident { name: name.to_string(), span: sp() }
}

fn ex(kind: ExprKind) -> Expr {
    Expr { kind, span: sp() }
}

fn paren(e: Expr) -> Box<Expr> {
    Box::new(ex(ExprKind::Paren(Box::new(e))))
}

/// Adds the parentheses the printer would write, bottom-up.
fn canon(e: Expr) -> Expr {
    let kind = match e.kind {
        ExprKind::Binary { op, lhs, rhs } => {
            let (lhs, rhs) = (canon(*lhs), canon(*rhs));
            let lhs = if needs_parens(Some(op), Side::Left, &lhs) { paren(lhs) } else { Box::new(lhs) };
            let rhs = if needs_parens(Some(op), Side::Right, &rhs) { paren(rhs) } else { Box::new(rhs) };
            ExprKind::Binary { op, lhs, rhs }
        }
        ExprKind::Unary { op, operand } => {
            let operand = canon(*operand);
            let operand = if needs_parens(None, Side::Right, &operand) { paren(operand) } else { Box::new(operand) };
            ExprKind::Unary { op, operand }
        }
        ExprKind::Field { base, field } => {
            let base = canon(*base);
            let base = if needs_parens_as_postfix_base(&base) { paren(base) } else { Box::new(base) };
            ExprKind::Field { base, field }
        }
        ExprKind::Index { base, indices } => {
            let base = canon(*base);
            let base = if needs_parens_as_postfix_base(&base) { paren(base) } else { Box::new(base) };
            let indices = indices
                .into_iter()
                .map(|i| match i {
                    IndexItem::Index(e) => IndexItem::Index(canon(e)),
                    IndexItem::Slice { start, end, step, span } => {
                        IndexItem::Slice { start: start.map(canon), end: end.map(canon), step: step.map(canon), span }
                    }
                    other => other,
                })
                .collect();
            ExprKind::Index { base, indices }
        }
        ExprKind::List(items) => ExprKind::List(items.into_iter().map(canon).collect()),
        ExprKind::Tuple(items) => ExprKind::Tuple(items.into_iter().map(canon).collect()),
        ExprKind::Paren(inner) => ExprKind::Paren(Box::new(canon(*inner))),
        ExprKind::Record(fields) => ExprKind::Record(fields.into_iter().map(|(k, v)| (k, canon(v))).collect()),
        ExprKind::Call { callee, args } => {
            ExprKind::Call { callee, args: args.into_iter().map(|a| Arg { value: canon(a.value), ..a }).collect() }
        }
        ExprKind::IfElse { cond, then_expr, else_expr } => ExprKind::IfElse {
            cond: Box::new(canon(*cond)),
            then_expr: Box::new(canon(*then_expr)),
            else_expr: Box::new(canon(*else_expr)),
        },
        other => other,
    };
    Expr { kind, span: e.span }
}

/// Whether the printed expression starts with `{` (which cannot begin an `if` or `repeat`
/// head, where `{` opens the block).
fn starts_with_brace(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Record(_) => true,
        ExprKind::Binary { lhs, .. } => starts_with_brace(lhs),
        ExprKind::Field { base, .. } | ExprKind::Index { base, .. } => starts_with_brace(base),
        _ => false,
    }
}

fn head(e: Expr) -> Expr {
    let e = canon(e);
    if starts_with_brace(&e) { ex(ExprKind::Paren(Box::new(e))) } else { e }
}

// `in` is a keyword only inside `for`, so it is generated as a name too.
const NAMES: &[&str] = &["a", "b", "x", "h", "latent", "loss", "w1", "_t", "input", "in"];
const WORDS: &[&str] = &["z", "kl", "loss", "if", "model", "codes"];

fn name() -> impl Strategy<Value = Ident> {
    prop::sample::select(NAMES).prop_map(id)
}

fn word() -> impl Strategy<Value = Ident> {
    prop::sample::select(WORDS).prop_map(id)
}

fn binary_op() -> impl Strategy<Value = BinaryOp> {
    prop::sample::select(vec![
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::MatMul,
        BinaryOp::Pow,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
        BinaryOp::And,
        BinaryOp::Or,
    ])
}

fn expr() -> BoxedStrategy<Expr> {
    let leaf = prop_oneof![
        (0i64..100_000).prop_map(|v| ex(ExprKind::Int(v))),
        prop::sample::select(vec!["0.5", "1e-3", "2.5E+4", "3.0", "0.001"])
            .prop_map(|t| ex(ExprKind::Float { value: t.parse().expect("valid float"), text: t.to_string() })),
        any::<bool>().prop_map(|b| ex(ExprKind::Bool(b))),
        "[a-z \"\\\\]{0,4}".prop_map(|s| ex(ExprKind::Str(s))),
        Just(ex(ExprKind::Training)),
        Just(ex(ExprKind::Sampling)),
        name().prop_map(|n| ex(ExprKind::Name(n))),
    ];
    leaf.prop_recursive(5, 48, 4, |inner| {
        let index_item = prop_oneof![
            inner.clone().prop_map(IndexItem::Index),
            Just(IndexItem::Ellipsis(sp())),
            (prop::option::of(inner.clone()), prop::option::of(inner.clone()), prop::option::of(inner.clone()))
                .prop_map(|(start, end, step)| IndexItem::Slice { start, end, step, span: sp() }),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(|v| ex(ExprKind::List(v))),
            prop::collection::vec(inner.clone(), 0..3).prop_map(|v| ex(ExprKind::Tuple(v))),
            inner.clone().prop_map(|e| ex(ExprKind::Paren(Box::new(e)))),
            prop::collection::vec((word(), inner.clone()), 0..3).prop_map(|f| ex(ExprKind::Record(f))),
            (any::<bool>(), inner.clone()).prop_map(|(neg, e)| ex(ExprKind::Unary {
                op: if neg { UnaryOp::Neg } else { UnaryOp::Not },
                operand: Box::new(e)
            })),
            (binary_op(), inner.clone(), inner.clone()).prop_map(|(op, l, r)| ex(ExprKind::Binary {
                op,
                lhs: Box::new(l),
                rhs: Box::new(r)
            })),
            (name(), prop::collection::vec((prop::option::of(name()), inner.clone()), 0..3)).prop_map(
                |(callee, mut args)| {
                    // Positional arguments first.
                    args.sort_by_key(|(n, _)| n.is_some());
                    let args = args.into_iter().map(|(name, value)| Arg { name, value, span: sp() }).collect();
                    ex(ExprKind::Call { callee, args })
                }
            ),
            (inner.clone(), word()).prop_map(|(b, field)| ex(ExprKind::Field { base: Box::new(b), field })),
            (inner.clone(), prop::collection::vec(index_item, 1..3))
                .prop_map(|(b, indices)| ex(ExprKind::Index { base: Box::new(b), indices })),
            (inner.clone(), inner.clone(), inner).prop_map(|(c, t, e)| ex(ExprKind::IfElse {
                cond: Box::new(c),
                then_expr: Box::new(t),
                else_expr: Box::new(e)
            })),
        ]
    })
    .boxed()
}

fn dim() -> BoxedStrategy<DimExpr> {
    let leaf =
        prop_oneof![(0i64..1000).prop_map(|value| DimExpr::Int { value, span: sp() }), name().prop_map(DimExpr::Name),];
    leaf.prop_recursive(3, 8, 2, |inner| {
        (prop::sample::select(vec![DimOp::Add, DimOp::Sub, DimOp::Mul, DimOp::Div]), inner.clone(), inner)
            .prop_map(|(op, l, r)| DimExpr::Binary { op, lhs: Box::new(l), rhs: Box::new(r), span: sp() })
    })
    .boxed()
}

fn tensor_type() -> impl Strategy<Value = TypeExpr> {
    (
        prop::option::of(prop::sample::select(vec!["f32", "i64", "bool"])),
        any::<bool>(),
        prop::collection::vec(dim(), 0..3),
    )
        .prop_map(|(dtype, ellipsis, mut dims)| {
            if ellipsis {
                dims.insert(0, DimExpr::Ellipsis(sp()));
            }
            TypeExpr::Tensor { dtype: dtype.map(id), dims, span: sp() }
        })
}

fn type_expr() -> impl Strategy<Value = TypeExpr> {
    prop_oneof![
        tensor_type(),
        prop::sample::select(vec!["int", "float", "fn", "list"]).prop_map(|n| TypeExpr::Named(id(n)))
    ]
}

fn block(stmt: BoxedStrategy<Stmt>) -> impl Strategy<Value = Block> {
    prop::collection::vec(stmt, 0..3).prop_map(|stmts| Block { stmts, span: sp() })
}

fn stmt() -> BoxedStrategy<Stmt> {
    let simple = prop_oneof![
        (prop::collection::vec(name(), 1..3), expr()).prop_map(|(targets, v)| Stmt::Let {
            targets,
            value: canon(v),
            span: sp()
        }),
        (name(), tensor_type(), expr(), any::<bool>()).prop_map(|(name, ty, init, buffer)| Stmt::Param {
            name,
            ty,
            init: canon(init),
            span: sp(),
            buffer
        }),
        expr().prop_map(|v| Stmt::Return { value: canon(v), span: sp() }),
        (name(), expr()).prop_map(|(name, v)| Stmt::Latent { name, value: canon(v), span: sp() }),
        (name(), expr()).prop_map(|(name, v)| Stmt::Prior { name, value: canon(v), span: sp() }),
        (name(), expr()).prop_map(|(name, v)| Stmt::Output { name, value: canon(v), span: sp() }),
        (name(), expr()).prop_map(|(name, v)| Stmt::Update { name, value: canon(v), span: sp() }),
    ];
    simple
        .prop_recursive(2, 12, 3, |inner| {
            prop_oneof![
                (expr(), block(inner.clone())).prop_map(|(c, body)| Stmt::Repeat { count: head(c), body, span: sp() }),
                (prop::collection::vec(name(), 1..3), expr(), block(inner.clone()))
                    .prop_map(|(vars, iter, body)| Stmt::For { vars, iter: head(iter), body, span: sp() }),
                (expr(), block(inner.clone()), prop::option::of(block(inner))).prop_map(
                    |(c, then_block, else_block)| Stmt::If { cond: head(c), then_block, else_block, span: sp() }
                ),
            ]
        })
        .boxed()
}

fn param() -> impl Strategy<Value = Param> {
    (name(), prop::option::of(type_expr()), prop::option::of(expr())).prop_map(|(name, ty, default)| Param {
        name,
        ty,
        default: default.map(canon),
        span: sp(),
    })
}

fn member() -> impl Strategy<Value = ModelMember> {
    prop_oneof![
        (name(), tensor_type(), any::<bool>()).prop_map(|(name, ty, condition)| ModelMember::Input {
            name,
            ty,
            span: sp(),
            condition
        }),
        (
            prop::sample::select(vec![
                SectionKind::Encoder,
                SectionKind::Bottleneck,
                SectionKind::Decoder,
                SectionKind::Critic
            ]),
            prop::collection::vec(name(), 0..2),
            block(stmt())
        )
            .prop_map(|(kind, skips, body)| ModelMember::Section(Section {
                kind,
                skips,
                body,
                head_span: sp(),
                span: sp()
            })),
        (expr(), prop::option::of(name())).prop_map(|(v, player)| ModelMember::Loss {
            player,
            value: canon(v),
            span: sp()
        }),
        (name(), expr()).prop_map(|(name, v)| ModelMember::Metric { name, value: canon(v), span: sp() }),
        (name(), expr()).prop_map(|(name, v)| ModelMember::Picture { name, value: canon(v), span: sp() }),
        // `loss = ...` is the loss member, never a binding named `loss`.
        (name().prop_filter("the loss member", |n| n.name != "loss"), expr())
            .prop_map(|(name, v)| ModelMember::Binding { name, value: canon(v), span: sp() }),
        prop::collection::vec((name(), expr()), 0..3).prop_map(|s| ModelMember::Train(TrainBlock {
            settings: s.into_iter().map(|(key, v)| TrainSetting { key, value: canon(v), span: sp() }).collect(),
            span: sp()
        })),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        (prop::collection::vec(name(), 1..3), prop::collection::vec(name(), 1..3))
            .prop_map(|(path, names)| Item::Use(Use { source: UseSource::Std(path), names, span: sp() })),
        prop::collection::vec(name(), 1..3).prop_map(|names| Item::Use(Use {
            source: UseSource::File { path: "../lib/blocks-2.hgl".to_string(), span: sp() },
            names,
            span: sp()
        })),
        (name(), prop::collection::vec(param(), 0..3), prop::option::of(type_expr()), block(stmt()))
            .prop_map(|(name, params, ret, body)| Item::Fn(FnDef { name, params, ret, body, span: sp() })),
        (name(), prop::collection::vec(param(), 0..3), prop::collection::vec(member(), 0..4))
            .prop_map(|(name, hparams, members)| Item::Model(ModelDef { name, hparams, members, span: sp() })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn generated_files_round_trip(items in prop::collection::vec(item(), 0..4)) {
        let file = File { id: FileId(0), items };
        if let Err(e) = round_trip(file) {
            panic!("{e}");
        }
    }

    #[test]
    fn generated_expressions_round_trip(e in expr()) {
        let body = Block { stmts: vec![Stmt::Return { value: canon(e), span: sp() }], span: sp() };
        let f = FnDef { name: id("f"), params: vec![], ret: None, body, span: sp() };
        if let Err(e) = round_trip(File { id: FileId(0), items: vec![Item::Fn(f)] }) {
            panic!("{e}");
        }
    }
}
