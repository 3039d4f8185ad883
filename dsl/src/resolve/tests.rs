//! Resolver tests through the public API, with an in-memory loader.

use super::*;
use crate::codes;
use crate::source::MemoryLoader;

const NN: &str = "fn Linear(x: [..., I], out: int) -> [..., out] {
    param w: f32[I, out] = glorot_uniform
    param b: f32[out] = zeros
    return x @ w + b
}
fn Mlp(x, sizes: list, act = relu) {
    h = Linear(x, sizes[0])
    return if len(sizes) == 1 then h else Mlp(act(h), sizes[1:], act = act)
}
";

const MODEL: &str = "use std.nn.{Linear, Mlp}

model Ae(latent: int = 8, hidden: int = 64, act: fn = relu) {
    input x: f32[B, 784]
    encoder {
        h = Mlp(x, [hidden, latent], act = act)
    }
    bottleneck {
        latent z = h
        prior z = normal([B, latent])
    }
    decoder {
        output y = Linear(z, 784)
    }
    loss = mean((y - x) ** 2)
    train {
        optimizer = adam(lr = 1e-3)
        batch = 32
        epochs = 2
    }
}
";

fn loader() -> MemoryLoader {
    MemoryLoader::new().with_std("std.nn", NN)
}

fn run(src: &str, options: &CheckOptions) -> (SourceDb, Program, Vec<Diagnostic>) {
    let mut db = SourceDb::new();
    let root = db.add_text("main.hgl", "main.hgl", src);
    let (program, diags) = check(&mut db, &loader(), root, options);
    (db, program, diags)
}

fn codes_of(src: &str) -> Vec<&'static str> {
    run(src, &CheckOptions::default()).2.iter().map(|d| d.code).collect()
}

/// `MODEL` with one line replaced.
fn model_with(from: &str, to: &str) -> String {
    assert!(MODEL.contains(from), "{from}");
    MODEL.replacen(from, to, 1)
}

#[test]
fn clean_model_resolves_and_selects() {
    let (_, program, diags) = run(MODEL, &CheckOptions::default());
    assert!(diags.is_empty(), "{diags:#?}");
    let root = program.root;
    let Some(Symbol::Fn { file, index }) = program.lookup(root, "Mlp") else { panic!("Mlp is a fn") };
    assert_ne!(file, root);
    assert_eq!(program.fn_def(file, index).map(|f| f.name.name.as_str()), Some("Mlp"));
    assert!(matches!(program.lookup(root, "relu"), Some(Symbol::Builtin(d)) if d.name == "relu"));
    assert!(program.lookup(root, "Ae").is_none());
    assert!(program.lookup(root, "nothing").is_none());
    let (model, sel) = program.selected_model().expect("one model");
    assert_eq!(model.name.name, "Ae");
    let values: Vec<(&str, bool)> = sel.hparams.iter().map(|h| (h.name.name.as_str(), h.overridden)).collect();
    assert_eq!(values, [("latent", false), ("hidden", false), ("act", false)]);
    assert_eq!(program.files().count(), 2);
}

#[test]
fn overrides_replace_defaults() {
    let options = CheckOptions { model: Some("Ae".into()), overrides: vec!["latent=16".into(), "act=gelu".into()] };
    let (db, program, diags) = run(MODEL, &options);
    assert!(diags.is_empty(), "{diags:#?}");
    let (_, sel) = program.selected_model().expect("selected");
    assert!(matches!(sel.hparams[0].value.kind, crate::ast::ExprKind::Int(16)));
    assert!(sel.hparams[0].overridden);
    // The value's span points into the `--set` text.
    let span = sel.hparams[0].value.span;
    assert_eq!(db.file(span.file).slice(span), "16");
    assert!(matches!(&sel.hparams[2].value.kind, crate::ast::ExprKind::Name(n) if n.name == "gelu"));
}

#[test]
fn bad_overrides() {
    let bad = |set: &str| {
        let options = CheckOptions { model: None, overrides: vec![set.to_string()] };
        run(MODEL, &options).2.iter().map(|d| d.code).collect::<Vec<_>>()
    };
    assert_eq!(bad("latnt=3"), [codes::E0220]);
    assert_eq!(bad("latent=abc"), [codes::E0221]);
    assert_eq!(bad("latent=1.5"), [codes::E0221]);
    assert_eq!(bad("latent"), [codes::E0221]);
    assert_eq!(bad("latent="), [codes::E0221]);
    assert_eq!(bad("latent=1 +"), [codes::E0221]);
    assert_eq!(bad("latent=1+2"), [codes::E0221]);
    assert_eq!(bad("latent=99999999999999999999"), [codes::E0005]);
}

#[test]
fn model_selection() {
    let two = format!("{MODEL}\nmodel Other() {{\n}}\n");
    let (_, program, diags) = run(&two, &CheckOptions::default());
    assert!(program.model.is_none());
    assert!(diags.iter().any(|d| d.code == codes::E0219), "{diags:#?}");
    let (_, program, diags) = run(&two, &CheckOptions { model: Some("Ae".into()), overrides: vec![] });
    assert!(program.model.is_some());
    assert!(diags.iter().all(|d| d.code != codes::E0219));
    let (_, _, diags) = run(MODEL, &CheckOptions { model: Some("Vae".into()), overrides: vec![] });
    assert_eq!(diags.iter().map(|d| d.code).collect::<Vec<_>>(), [codes::E0218]);
    let (_, _, diags) = run(NN, &CheckOptions { model: None, overrides: vec!["a=1".into()] });
    assert_eq!(diags.iter().map(|d| d.code).collect::<Vec<_>>(), [codes::E0223]);
}

#[test]
fn library_files_check_clean() {
    assert!(codes_of(NN).is_empty());
}

#[test]
fn unknown_names_and_suggestions() {
    let src = "use std.nn.{Linear}\nfn f(x) {\n hidden = Lineer(x, 3)\n return hiden\n}";
    let (_, _, diags) = run(src, &CheckOptions::default());
    let got: Vec<(&str, Option<&str>)> = diags.iter().map(|d| (d.code, d.help.as_deref())).collect();
    assert_eq!(got, [(codes::E0102, Some("did you mean `Linear`?")), (codes::E0101, Some("did you mean `hidden`?"))]);
    let (_, _, diags) = run("fn f(x) {\n return Mlp(x, [1])\n}", &CheckOptions::default());
    assert_eq!(diags[0].help.as_deref(), Some("`Mlp` is defined in `std.nn`; import it with `use std.nn.Mlp`"));
    let (_, _, diags) = run("fn f(x) {\n return normal([B, 4])\n}", &CheckOptions::default());
    assert!(diags[0].help.as_deref().is_some_and(|h| h.contains("bound in models only")));
}

#[test]
fn imports() {
    assert_eq!(codes_of("use std.nm.{Linear}"), [codes::E0103]);
    assert_eq!(codes_of("use std.nn.{Lin}"), [codes::E0105]);
    assert_eq!(codes_of("use ./nope.hgl.{A}"), [codes::E0104]);
    assert_eq!(codes_of("use std.nn.{Linear}\nfn Linear() { return 1 }"), [codes::E0107]);
    // Importing the same name twice from the same place is harmless.
    assert!(codes_of("use std.nn.{Linear}\nuse std.nn.Linear").is_empty());
}

#[test]
fn import_cycles_between_files_terminate() {
    let loader = MemoryLoader::new()
        .with_file("a.hgl", "use ./b.hgl.{B}\nfn A(x) { return x }\n")
        .with_file("b.hgl", "use ./a.hgl.{A}\nfn B(x) { return A(x) }\n");
    let mut db = SourceDb::new();
    let root = db.add_text("a.hgl", "a.hgl", "use ./b.hgl.{B}\nfn A(x) { return x }\n");
    let (program, diags) = check(&mut db, &loader, root, &CheckOptions::default());
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(program.files().count(), 2);
    assert_eq!(db.len(), 2);
}

#[test]
fn rebinding_and_carried_state() {
    assert_eq!(codes_of("fn f(x) {\n y = x\n y = x\n return y\n}"), [codes::E0106]);
    assert!(codes_of("fn f(x, n: int) {\n s = x\n repeat n {\n  t = s * 2\n  s = t\n }\n return s\n}").is_empty());
    // Loop locals do not leak.
    assert_eq!(codes_of("fn f(x) {\n repeat 2 {\n  t = x\n }\n return t\n}"), [codes::E0101]);
    // Assigned twice in one iteration.
    assert_eq!(codes_of("fn f(x) {\n s = x\n repeat 2 {\n  s = s\n  s = s\n }\n return s\n}"), [codes::E0106]);
    // Constants are not loop state.
    assert_eq!(codes_of("fn f(x, n: int) {\n repeat 2 {\n  n = 1\n }\n return x\n}"), [] as [&str; 0]);
    let (_, _, diags) = run(
        "model M(n: int = 1) {\n input x: f32[B, 2]\n encoder {\n repeat 2 { n = 1 }\n }\n}",
        &CheckOptions::default(),
    );
    assert!(diags.iter().any(|d| d.code == codes::E0118), "{diags:#?}");
}

#[test]
fn for_loops_bind_their_variables_and_carry_state() {
    let ok =
        "fn f(x, sizes: list) {\n h = x\n for i, s in enumerate(sizes) {\n  t = h * s + i\n  h = t\n }\n return h\n}";
    assert!(codes_of(ok).is_empty(), "{:?}", codes_of(ok));
    // Loop variables and locals do not leak.
    assert_eq!(codes_of("fn f(x) {\n for i in range(2) {\n  t = x\n }\n return i\n}"), [codes::E0101]);
    // A loop variable cannot be assigned, in the body or a nested loop.
    assert_eq!(codes_of("fn f(x) {\n for i in range(2) {\n  i = 1\n }\n return x\n}"), [codes::E0106]);
    assert_eq!(
        codes_of("fn f(x) {\n for i in range(2) {\n  repeat 2 {\n   i = 1\n  }\n }\n return x\n}"),
        [codes::E0118]
    );
    // Nor shadow a name bound before the loop, nor repeat itself.
    assert_eq!(codes_of("fn f(x) {\n for x in range(2) {\n }\n return x\n}"), [codes::E0106]);
    assert_eq!(codes_of("fn f(x) {\n for a, a in [(1, 2)] {\n }\n return x\n}"), [codes::E0106]);
    // Carried state is updated once per iteration; constants are not loop state.
    assert_eq!(codes_of("fn f(x) {\n h = x\n for i in [1] {\n  h = h\n  h = h\n }\n return h\n}"), [codes::E0106]);
    assert_eq!(codes_of("fn f(x: [D]) {\n for i in [1] {\n  D = 2\n }\n return x\n}"), [codes::E0118]);
    // No `return` inside the loop.
    let (_, _, diags) = run("fn f(x) {\n for i in [1] {\n  return x\n }\n return x\n}", &CheckOptions::default());
    assert_eq!(diags.iter().map(|d| d.code).collect::<Vec<_>>(), [codes::E0209]);
    assert_eq!(diags[0].message, "`return` inside `for`");
    // The loop's variable and the new built-ins are known names.
    let (_, _, diags) =
        run("fn f(x) {\n for i in range(2) {\n  for j in rnge(i) {\n  }\n }\n return x\n}", &CheckOptions::default());
    assert_eq!(diags.iter().map(|d| d.code).collect::<Vec<_>>(), [codes::E0102]);
    assert!(diags[0].help.as_deref().unwrap_or("").contains("`range`"), "{diags:#?}");
}

#[test]
fn if_branches() {
    assert!(codes_of("fn f(x) {\n if training {\n  y = x\n } else {\n  y = -x\n }\n return y\n}").is_empty());
    let (_, _, diags) = run("fn f(x) {\n if training {\n  y = x\n }\n return y\n}", &CheckOptions::default());
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].labels.len(), 2, "points at the branch binding");
}

#[test]
fn arguments_of_user_fns() {
    let base = "use std.nn.{Linear}\nfn f(x) {\n return CALL\n}";
    let with = |call: &str| codes_of(&base.replace("CALL", call));
    assert!(with("Linear(x, 3)").is_empty());
    assert!(with("Linear(x, out = 3)").is_empty());
    assert_eq!(with("Linear(x)"), [codes::E0113]);
    assert_eq!(with("Linear(x, 3, 4)"), [codes::E0112]);
    // The misspelled `out` is reported once, by the E0109 that names it; an unrelated name
    // leaves `out` missing too.
    assert_eq!(with("Linear(x, outt = 3)"), [codes::E0109]);
    assert_eq!(with("Linear(x, out_features = 3)"), [codes::E0109]);
    assert_eq!(with("Linear(x, width = 3)"), [codes::E0113, codes::E0109]);
    assert_eq!(with("Linear(x, 3, out = 4)"), [codes::E0110]);
    assert_eq!(with("Linear(x = x, 3)"), [codes::E0111]);
    assert_eq!(with("sum(x, axes = 1)"), [codes::E0109]);
    assert_eq!(with("f32(x)"), [codes::E0117]);
}

#[test]
fn model_structure() {
    assert_eq!(
        codes_of(&model_with("        latent z = h\n", "        zz = h\n        latent z = h\n")),
        [] as [&str; 0]
    );
    let no_latent = model_with("        latent z = h\n        prior z = normal([B, latent])\n", "        z = h\n");
    // Without the latent, the decoder's read of `z` is a read of an encoder value.
    assert_eq!(codes_of(&no_latent), [codes::E0204, codes::E0211]);
    assert_eq!(
        codes_of(&model_with("        h = Mlp", "        latent q = h0\n        h = Mlp")),
        [codes::E0205, codes::E0101]
    );
    assert_eq!(codes_of(&model_with("output y =", "y =")), [codes::E0204]);
    assert_eq!(codes_of(&model_with("prior z =", "prior w =")), [codes::E0207]);
    assert_eq!(codes_of(&model_with("Linear(z, 784)", "Linear(h, 784)")), [codes::E0211]);
    assert!(codes_of(&model_with("Linear(z, 784)", "Linear(h, 784)").replace("decoder {", "decoder(h) {")).is_empty());
    assert!(
        codes_of(&model_with("Linear(z, 784)", "Linear(h, 784)").replace("decoder {", "decoder(skip) {")).is_empty()
    );
    assert_eq!(codes_of(&model_with("decoder {", "decoder(q) {")), [codes::E0212]);
    assert_eq!(codes_of(&model_with("    loss = mean((y - x) ** 2)\n", "")), [codes::E0204]);
    let swapped =
        MODEL.replace("encoder {", "TMP {").replace("bottleneck {", "encoder {").replace("TMP {", "bottleneck {");
    assert!(codes_of(&swapped).contains(&codes::E0202));
}

#[test]
fn train_block() {
    assert_eq!(codes_of(&model_with("batch = 32", "bacth = 32")), [codes::E0213]);
    assert_eq!(codes_of(&model_with("adam(lr = 1e-3)", "adamm(lr = 1e-3)")), [codes::E0214]);
    assert_eq!(codes_of(&model_with("adam(lr = 1e-3)", "adam(lr = 1e-3, beta = 0.9)")), [codes::E0109]);
    assert_eq!(codes_of(&model_with("adam(lr = 1e-3)", "adam()")), [codes::E0113]);
    assert_eq!(codes_of(&model_with("batch = 32", "batch = 1.5")), [codes::E0216]);
    assert_eq!(codes_of(&model_with("batch = 32", "batch = 0")), [codes::E0216]);
    assert_eq!(codes_of(&model_with("epochs = 2", "epochs = 2\n        steps = 100")), [codes::E0217]);
    assert_eq!(
        codes_of(&model_with("epochs = 2", "epochs = 2\n        schedule = cosine(warmup = hidden)")),
        [] as [&str; 0]
    );
    assert_eq!(codes_of(&model_with("epochs = 2", "epochs = 2\n        schedule = cosin")), [codes::E0215]);
    // Train values see hyperparameters only.
    assert_eq!(codes_of(&model_with("batch = 32", "batch = h")), [codes::E0101]);
}

#[test]
fn types_and_dims() {
    assert_eq!(codes_of("fn f(x: f33[B]) { return x }"), [codes::E0114]);
    assert_eq!(codes_of("fn f(x: integer) { return x }"), [codes::E0115]);
    assert_eq!(codes_of("fn f(x) -> [K] { return x }"), [codes::E0101]);
    assert_eq!(codes_of("fn f(x) {\n param w: f32[N] = zeros\n return w\n}"), [codes::E0101]);
    assert_eq!(codes_of("fn f(x) {\n param w: int = zeros\n return w\n}"), [codes::E0225]);
    assert_eq!(codes_of("fn f(x) {\n param w: [..., 3] = zeros\n return w\n}"), [codes::E0224]);
    assert_eq!(codes_of("fn f(x) {\n param w: f32[3] = normal\n return w\n}"), [codes::E0113]);
    assert!(
        codes_of("fn f(x: [..., I], n: int) -> [..., n] {\n param w: f32[I, n * 2] = normal(0.02)\n return x\n}")
            .is_empty()
    );
}

#[test]
fn returns() {
    assert_eq!(codes_of("fn f(x) {\n y = x\n}"), [codes::E0210]);
    assert_eq!(codes_of("fn f(x) {\n return x\n y = x\n}"), [codes::E0226]);
    assert!(codes_of("fn f(x) {\n if training {\n  return x\n } else {\n  return -x\n }\n}").is_empty());
    assert_eq!(codes_of("fn f(x) {\n repeat 2 {\n  return x\n }\n return x\n}"), [codes::E0209]);
}

#[test]
fn recursion() {
    assert_eq!(codes_of("fn f(x) { return g(x) }\nfn g(x) { return f(x) }"), [codes::E0116]);
    assert_eq!(codes_of("fn f(x) { return f(x) }"), [codes::E0116]);
    assert!(codes_of("fn f(x, n: int) { return if n == 0 then x else f(x, n - 1) }").is_empty());
}

#[test]
fn syntax_errors_do_not_cascade_into_unknown_names() {
    // `h` is bound by the broken statement; its uses are not reported again.
    let (_, _, diags) = run("fn f(x) {\n h = x +* 2\n return h\n}", &CheckOptions::default());
    assert_eq!(diags.iter().map(|d| d.code).collect::<Vec<_>>(), [codes::E0001]);
}

#[test]
fn invalid_utf8_is_located() {
    let mut db = SourceDb::new();
    let root = db.add_bytes("a.hgl", "a.hgl", b"fn f(x) { return x }\n// \xff\n".to_vec());
    let (_, diags) = check(&mut db, &loader(), root, &CheckOptions::default());
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].code, codes::E0009);
    assert_eq!(diags[0].primary_span().map(|s| s.start), Some(24));
}
