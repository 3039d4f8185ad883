//! Property tests: the front end never panics, every diagnostic points inside its file, and
//! whatever parses cleanly round-trips through the printer.
//!
//! Inputs are random bytes and "token soups": random sequences of the language's tokens, which
//! reach much deeper into the grammar than random bytes do.

use hg_dsl::ast::FileId;
use hg_dsl::parse::parse_file;
use hg_dsl::print::print_file;
use hg_dsl::resolve::CheckOptions;
use hg_dsl::spans::erase_spans;
use hg_dsl::{Diagnostic, MemoryLoader, SourceDb, check};
use proptest::prelude::*;

const NN: &str = "fn Linear(x: [..., I], out: int) -> [..., out] {\n    param w: f32[I, out] = glorot_uniform\n    return x @ w\n}\n";

const TOKENS: &[&str] = &[
    "use",
    "fn",
    "model",
    "param",
    "input",
    "output",
    "latent",
    "prior",
    "encoder",
    "bottleneck",
    "decoder(skip)",
    "decoder",
    "loss",
    "metric",
    "train",
    "return",
    "repeat",
    "for",
    "in",
    "if",
    "then",
    "else",
    "training",
    "true",
    "false",
    "x",
    "h",
    "z",
    "B",
    "Linear",
    "sum",
    "relu",
    "adam",
    "lr",
    "batch",
    "std.nn.{Linear}",
    "./a.hgl",
    "f32",
    "int",
    "[",
    "]",
    "(",
    ")",
    "{",
    "}",
    ",",
    ";",
    ":",
    ".",
    "...",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "**",
    "/",
    "@",
    "!",
    "&&",
    "||",
    "->",
    "0",
    "3",
    "784",
    "1e-3",
    "0.5",
    "99999999999999999999",
    "1e",
    "\"s\"",
    "\"open",
    "// c",
    "\n",
    "\n",
    "\n",
    "$",
    "é",
];

/// Checks `bytes` as a root file; returns the database and diagnostics.
fn check_bytes(bytes: Vec<u8>) -> (SourceDb, Vec<Diagnostic>) {
    let loader = MemoryLoader::new().with_std("std.nn", NN).with_file("a.hgl", "fn A(x) { return x }\n");
    let mut db = SourceDb::new();
    let root = db.add_bytes("main.hgl", "main.hgl", bytes);
    let options = CheckOptions { model: None, overrides: vec!["latent=3".to_string()] };
    let (_, diags) = check(&mut db, &loader, root, &options);
    (db, diags)
}

/// Every label lies inside its file, on character boundaries.
fn assert_spans_valid(db: &SourceDb, diags: &[Diagnostic]) {
    for d in diags {
        assert!(!d.message.is_empty());
        for label in &d.labels {
            let file = db.get(label.span.file).expect("label file exists");
            let (start, end) = (label.span.start as usize, label.span.end as usize);
            assert!(start <= end && end <= file.text.len(), "{d:?} out of bounds");
            assert!(file.text.is_char_boundary(start) && file.text.is_char_boundary(end), "{d:?} splits a character");
        }
    }
}

/// If `src` parses without errors, printing and parsing again gives the same tree.
fn assert_round_trip(src: &str) {
    let first = parse_file(FileId(0), src);
    if !first.diagnostics.is_empty() {
        return;
    }
    let printed = print_file(&first.file);
    let second = parse_file(FileId(0), &printed);
    assert!(second.diagnostics.is_empty(), "printed text does not parse:\n{printed}\n{:#?}", second.diagnostics);
    let (mut a, mut b) = (first.file, second.file);
    erase_spans(&mut a);
    erase_spans(&mut b);
    assert_eq!(a, b, "round trip changed the tree of:\n{src}\nprinted:\n{printed}");
}

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::sample::select(TOKENS), prop::bool::ANY), 0..120).prop_map(|toks| {
        let mut s = String::new();
        for (tok, glue) in toks {
            s.push_str(tok);
            if !glue {
                s.push(' ');
            }
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let (db, diags) = check_bytes(bytes);
        assert_spans_valid(&db, &diags);
    }

    #[test]
    fn token_soups_never_panic_and_round_trip(src in token_soup()) {
        let (db, diags) = check_bytes(src.clone().into_bytes());
        assert_spans_valid(&db, &diags);
        assert_round_trip(&src);
    }

    #[test]
    fn mutated_examples_never_panic(cut in 0usize..2000, len in 0usize..40, insert in prop::sample::select(TOKENS)) {
        let src = include_str!("../../examples/vae/vae.hgl");
        let cut = cut.min(src.len());
        let end = (cut + len).min(src.len());
        let (cut, end) = (floor_boundary(src, cut), floor_boundary(src, end));
        let mutated = format!("{}{}{}", &src[..cut], insert, &src[end..]);
        let (db, diags) = check_bytes(mutated.clone().into_bytes());
        assert_spans_valid(&db, &diags);
        assert_round_trip(&mutated);
    }
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[test]
fn hostile_inputs_never_panic() {
    let inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"(".repeat(10_000),
        b"[".repeat(10_000),
        b"{".repeat(10_000),
        b"}".repeat(10_000),
        format!("fn f(a) {{ return a{} }}", " + a".repeat(100_000)).into_bytes(),
        format!("fn f(a) {{ return {}a }}", "!".repeat(50_000)).into_bytes(),
        format!("fn f(a) {{ return {}a{} }}", "if a then ".repeat(2_000), " else a".repeat(2_000)).into_bytes(),
        format!("model M() {{ {} }}", "encoder { ".repeat(5_000)).into_bytes(),
        (0..=255u8).cycle().take(5_000).collect(),
        b"\xff\xfe\x00\x01fn".to_vec(),
    ];
    for bytes in inputs {
        let (db, diags) = check_bytes(bytes);
        assert_spans_valid(&db, &diags);
    }
}
