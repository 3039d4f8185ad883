//! Parser tests: constructs, precedence, recovery and robustness on hostile input.

use super::*;
use crate::ast::{BinaryOp, ExprKind, Item, ModelMember, Stmt, UnaryOp};
use crate::codes;
use crate::print::{print_expr, print_file};
use crate::spans::erase_spans;

const VAE: &str = include_str!("../../../examples/vae/vae.hgl");

fn parse_ok(src: &str) -> File {
    let parsed = parse_file(FileId(0), src);
    assert!(parsed.diagnostics.is_empty(), "unexpected diagnostics for {src:?}: {:#?}", parsed.diagnostics);
    parsed.file
}

fn codes_of(src: &str) -> Vec<&'static str> {
    parse_file(FileId(0), src).diagnostics.iter().map(|d| d.code).collect()
}

/// The expression bound by the first statement of the first fn.
fn first_expr(src: &str) -> Expr {
    let file = parse_ok(src);
    let Some(Item::Fn(f)) = file.items.into_iter().next() else { panic!("no fn in {src:?}") };
    match f.body.stmts.into_iter().next() {
        Some(Stmt::Let { value, .. }) | Some(Stmt::Return { value, .. }) => value,
        other => panic!("unexpected {other:?}"),
    }
}

fn expr_text(e: &str) -> String {
    print_expr(&first_expr(&format!("fn f() {{ return {e} }}")))
}

fn roundtrip(src: &str) {
    let mut first = parse_ok(src);
    let printed = print_file(&first);
    let mut second = parse_ok(&printed);
    erase_spans(&mut first);
    erase_spans(&mut second);
    assert_eq!(first, second, "round trip changed the tree; printed:\n{printed}");
    assert_eq!(print_file(&second), printed, "printing is not a fixpoint");
}

#[test]
fn parses_the_vae_example() {
    let file = parse_ok(VAE);
    assert_eq!(file.items.len(), 4);
    let Item::Model(m) = &file.items[3] else { panic!("model expected") };
    assert_eq!(m.name.name, "Vae");
    assert_eq!(m.hparams.len(), 2);
    assert_eq!(m.hparams[0].name.name, "latent");
    assert_eq!(m.members.len(), 7);
    assert!(matches!(&m.members[6], ModelMember::Train(t) if t.settings.len() == 3));
    let ModelMember::Section(bottleneck) = &m.members[2] else { panic!("section expected") };
    assert!(matches!(&bottleneck.body.stmts[1], Stmt::Latent { name, .. } if name.name == "z"));
    assert!(matches!(&bottleneck.body.stmts[2], Stmt::Prior { .. }));
}

#[test]
fn round_trips_the_vae_example() {
    roundtrip(VAE);
}

#[test]
fn precedence_and_associativity() {
    let cases = [
        ("-x ** 2", "-x ** 2"),
        ("a + b * c", "a + b * c"),
        ("a - b - c", "a - b - c"),
        ("2 ** -1", "2 ** -1"),
        ("a ** b ** c", "a ** b ** c"),
        ("!a && b || c", "!a && b || c"),
        ("a == b + 1", "a == b + 1"),
        ("a @ b * c", "a @ b * c"),
    ];
    for (src, printed) in cases {
        assert_eq!(expr_text(src), printed);
    }
    // Shapes, not just text.
    let e = first_expr("fn f() { return -x ** 2 }");
    let ExprKind::Unary { op: UnaryOp::Neg, operand } = e.kind else { panic!("unary at the top") };
    assert!(matches!(operand.kind, ExprKind::Binary { op: BinaryOp::Pow, .. }));
    let e = first_expr("fn f() { return a - b - c }");
    let ExprKind::Binary { lhs, .. } = e.kind else { panic!("binary") };
    assert!(matches!(lhs.kind, ExprKind::Binary { op: BinaryOp::Sub, .. }));
    let e = first_expr("fn f() { return a ** b ** c }");
    let ExprKind::Binary { rhs, .. } = e.kind else { panic!("binary") };
    assert!(matches!(rhs.kind, ExprKind::Binary { op: BinaryOp::Pow, .. }));
    let e = first_expr("fn f() { return -a * b }");
    let ExprKind::Binary { op: BinaryOp::Mul, lhs, .. } = e.kind else { panic!("mul at the top") };
    assert!(matches!(lhs.kind, ExprKind::Unary { .. }));
}

#[test]
fn postfix_slices_records_and_if_expressions() {
    let src = r#"
fn f(x: [..., I], n: int = 3, act = relu) -> [..., I] {
    a, b = split(x, 2, axis = -1)
    y = x[:, 0:16][..., -1].z
    s = x[::2, 1:, :n:1]
    r = { z: a, loss: b, }
    t = (1, 2.5, "s\"q")
    u = (a,)
    v = if training then a else b
    w = [1, 2,
         3]
    param p: f32[I, n * 2 + 1] = normal(0.02)
    repeat n {
        a = act(a)
    }
    if training {
        q = a
    } else if n > 2 {
        q = b
    } else {
        q = a
    }
    return a
}
"#;
    roundtrip(src);
    let file = parse_ok(src);
    let Item::Fn(f) = &file.items[0] else { panic!() };
    assert_eq!(f.body.stmts.len(), 12);
    assert!(matches!(&f.body.stmts[0], Stmt::Let { targets, .. } if targets.len() == 2));
    let Stmt::If { else_block: Some(e), .. } = &f.body.stmts[10] else { panic!("if expected") };
    assert!(matches!(&e.stmts[..], [Stmt::If { .. }]));
}

#[test]
fn for_loops_parse_print_and_keep_in_a_name() {
    let src = r#"
fn f(x: [..., I], sizes: list, in: int = 2) {
    h = x
    for i in range(in) {
        h = h * 2.0
    }
    for i, size in enumerate(sizes) {
        for j in [1, 2] {
            h = h + i * j
        }
    }
    in_too = in + 1
    for a, b in [(1, 2), (3, 4)] {
        h = h + a
    }
    return h
}
"#;
    roundtrip(src);
    let file = parse_ok(src);
    let Item::Fn(f) = &file.items[0] else { panic!() };
    assert_eq!(f.params[2].name.name, "in", "`in` is no reserved word");
    let Stmt::For { vars, iter, body, .. } = &f.body.stmts[2] else { panic!("for expected") };
    assert_eq!(vars.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["i", "size"]);
    assert!(matches!(&iter.kind, ExprKind::Call { callee, .. } if callee.name == "enumerate"));
    assert!(matches!(&body.stmts[..], [Stmt::For { .. }]));
    let printed = print_file(&file);
    assert!(printed.contains("    for i, size in enumerate(sizes) {\n        for j in [1, 2] {\n"), "{printed}");
    // `for` is reserved.
    assert_eq!(codes_of("fn f(x) {\n for = 1\n return x\n}"), [codes::E0001]);
    // A `for` needs names, `in` and a list before its block.
    assert_eq!(codes_of("fn f(x) {\n for i range(2) {\n }\n return x\n}"), [codes::E0001]);
    assert_eq!(codes_of("fn f(x) {\n for i in {\n }\n return x\n}"), [codes::E0001]);
    assert_eq!(codes_of("fn f(x) {\n for in [1] {\n }\n return x\n}"), [codes::E0001]);
}

#[test]
fn uses_and_models() {
    let src = "use std.nn.{Linear, Mlp}\nuse std.loss.mse\nuse ./blocks.hgl.{Res}\nuse ../lib/x-y.hgl.Z\n\nmodel M {\n  input x: [B, 4]\n  decoder(skip) {\n    output y = x\n  }\n}\n";
    roundtrip(src);
    let file = parse_ok(src);
    let Item::Use(u) = &file.items[1] else { panic!() };
    assert!(matches!(&u.source, crate::ast::UseSource::Std(p) if p.len() == 2));
    assert_eq!(u.names[0].name, "mse");
    let Item::Use(u) = &file.items[3] else { panic!() };
    assert!(matches!(&u.source, crate::ast::UseSource::File { path, .. } if path == "../lib/x-y.hgl"));
}

#[test]
fn contextual_keywords_are_names_elsewhere() {
    roundtrip(
        "fn f(latent, loss) {\n latent2 = latent\n loss = loss + 1\n output = 2\n return { loss: loss, train: 1 }.loss\n}",
    );
}

#[test]
fn continuation_lines_and_semicolons() {
    let e = first_expr("fn f() {\n d = a - b\n     + c\n}");
    assert_eq!(print_expr(&e), "a - b + c");
    let file = parse_ok("fn f() { a = 1; b = 2; return a }");
    let Item::Fn(f) = &file.items[0] else { panic!() };
    assert_eq!(f.body.stmts.len(), 3);
}

#[test]
fn empty_and_comment_only_files() {
    assert!(parse_ok("").items.is_empty());
    assert!(parse_ok("\n\n// just a comment\n   \n").items.is_empty());
}

#[test]
fn reports_syntax_errors_in_words() {
    let d = &parse_file(FileId(0), "fn f(x) {\n a = f(x, )\n b = (x +)\n}").diagnostics;
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].message, "expected an expression, found `)`");
}

#[test]
fn recovers_at_statement_boundaries() {
    let parsed =
        parse_file(FileId(0), "fn f(x) {\n a = x + * 2\n b = 1\n c = (2 3)\n return b\n}\nfn g() { return 1 }");
    let messages: Vec<&str> = parsed.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(messages, ["expected an expression, found `*`", "expected an operator, `,` or `)`, found `3`"]);
    assert_eq!(parsed.file.items.len(), 2);
    let Item::Fn(f) = &parsed.file.items[0] else { panic!() };
    assert_eq!(f.body.stmts.len(), 2);
    assert!(parsed.poisoned.contains(&"a".to_string()) && parsed.poisoned.contains(&"c".to_string()));
}

#[test]
fn unbalanced_brackets_report_one_error() {
    let parsed = parse_file(FileId(0), "fn f(x) {\n a = (x\n b = 1\n}\nfn g() { return 1 }");
    assert_eq!(parsed.diagnostics.len(), 1, "{:#?}", parsed.diagnostics);
}

#[test]
fn literal_errors() {
    assert_eq!(codes_of("fn f() { return 99999999999999999999 }"), [codes::E0005]);
    assert_eq!(codes_of("fn f() { return 1e }"), [codes::E0006]);
    assert_eq!(codes_of("fn f() { return 1e400 }"), [codes::E0007]);
    assert_eq!(codes_of("fn f() { return \"a\\qb\" }"), [codes::E0004]);
    assert_eq!(codes_of("fn f(x: [B, ...]) { return x }"), [codes::E0010]);
    assert_eq!(codes_of("fn f(x: [B, 1.5]) { return x }"), [codes::E0012]);
    assert_eq!(codes_of("use std"), [codes::E0011]);
    // Several bad statements in one file are all reported.
    assert_eq!(codes_of("fn f() {\n a = 1e\n b = 99999999999999999999\n return 1\n}"), [codes::E0006, codes::E0005]);
}

#[test]
fn max_i64_literal_is_accepted() {
    assert!(matches!(first_expr("fn f() { return 9223372036854775807 }").kind, ExprKind::Int(i64::MAX)));
}

#[test]
fn deep_bracket_nesting_is_refused_not_overflowed() {
    for (open, close) in [("(", ")"), ("[", "]"), ("{a: ", "}")] {
        let src =
            format!("fn f() {{ return {}1{} }}\nfn g() {{ return 1 }}", open.repeat(10_000), close.repeat(10_000));
        let parsed = parse_file(FileId(0), &src);
        assert_eq!(parsed.diagnostics.iter().map(|d| d.code).collect::<Vec<_>>(), [codes::E0008]);
        // The other item survives.
        assert_eq!(parsed.file.items.len(), 1);
    }
    let ifs = format!("fn f() {{ return {}1{} }}", "if a then ".repeat(5_000), " else 2".repeat(5_000));
    assert_eq!(codes_of(&ifs), [codes::E0008]);
}

#[test]
fn nesting_just_under_the_limit_parses() {
    // Two levels are taken by the fn body and the call.
    let depth = MAX_NESTING - 2;
    let src = format!("fn f() {{ return g({}1{}) }}", "(".repeat(depth), ")".repeat(depth));
    let parsed = parse_file(FileId(0), &src);
    // The tree is deeper than the bracket count (a paren node per level plus the call), so
    // it may be refused by the expression depth limit, but never by a crash.
    assert!(parsed.diagnostics.iter().all(|d| d.code == codes::E0008));
    let src = format!("fn f() {{ return {}1{} }}", "(".repeat(200), ")".repeat(200));
    assert!(parse_file(FileId(0), &src).diagnostics.is_empty());
}

#[test]
fn long_operator_chains_are_refused_not_overflowed() {
    // The full-size chain once; the other shapes at a size that is still far past the limit
    // (parsing 100,000 terms takes about a second in a debug build).
    let src = format!("fn f(a) {{ return a{} }}", " + a".repeat(100_000));
    assert_eq!(codes_of(&src), [codes::E0008]);
    for op in [" ** ", " && "] {
        let src = format!("fn f(a) {{ return a{} }}", format!("{op}a").repeat(10_000));
        assert_eq!(codes_of(&src), [codes::E0008], "{op}");
    }
    let prefix = format!("fn f(a) {{ return {}a }}", "-".repeat(10_000));
    assert_eq!(codes_of(&prefix), [codes::E0008]);
    let postfix = format!("fn f(a) {{ return a{} }}", ".b".repeat(10_000));
    assert_eq!(codes_of(&postfix), [codes::E0008]);
    let dims = format!("fn f(a: [B{}]) {{ return a }}", " + B".repeat(10_000));
    assert_eq!(codes_of(&dims), [codes::E0008]);
    // A long chain within the limit is fine.
    let ok = format!("fn f(a) {{ return a{} }}", " + a".repeat(MAX_EXPR_DEPTH - 1));
    assert!(codes_of(&ok).is_empty());
}

#[test]
fn garbage_never_panics() {
    let inputs = [
        "\u{0}\u{1}\u{2}".to_string(),
        "}}}}))))]]]]".to_string(),
        "((((((".to_string(),
        "fn".to_string(),
        "model M() { encoder { latent".to_string(),
        "\"unterminated".to_string(),
        "fn f() { return x }}}}} fn g".to_string(),
        "é ü 字 🙂".to_string(),
        "use ./".to_string(),
        (0..=255u8).map(char::from).collect::<String>(),
    ];
    for src in inputs {
        let parsed = parse_file(FileId(0), &src);
        assert!(!parsed.diagnostics.is_empty(), "{src:?} should not parse");
    }
}

#[test]
fn parse_expr_for_overrides() {
    assert!(matches!(parse_expr(FileId(0), "64").map(|e| e.kind), Ok(ExprKind::Int(64))));
    assert!(matches!(parse_expr(FileId(0), "[1, 2]").map(|e| e.kind), Ok(ExprKind::List(_))));
    assert!(parse_expr(FileId(0), "1 2").is_err());
    assert!(parse_expr(FileId(0), "").is_err());
}
