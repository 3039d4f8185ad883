//! Expansion tests over small specs, with a minimal program view (one file plus the standard
//! library, names looked up in the file first, then in every stdlib module).

use super::*;
use hg_dsl::ast::{self, FileId, Item};
use hg_dsl::parse::parse_file;

pub struct TestProgram {
    pub files: Vec<ast::File>,
}

impl TestProgram {
    pub fn new(src: &str) -> TestProgram {
        let mut files = Vec::new();
        let main = parse_file(FileId(0), src);
        assert!(main.diagnostics.is_empty(), "test spec does not parse: {:?}", main.diagnostics);
        files.push(main.file);
        for (i, (_, text)) in hg_stdlib::modules().iter().enumerate() {
            let p = parse_file(FileId(i as u32 + 1), text);
            assert!(p.diagnostics.is_empty(), "stdlib does not parse: {:?}", p.diagnostics);
            files.push(p.file);
        }
        TestProgram { files }
    }

    pub fn model(&self) -> &ast::ModelDef {
        self.files[0].items.iter().find_map(|i| if let Item::Model(m) = i { Some(m) } else { None }).expect("a model")
    }
}

impl ProgramView for TestProgram {
    fn file(&self, id: FileId) -> &ast::File {
        &self.files[id.0 as usize]
    }
    fn lookup_fn(&self, file: FileId, name: &str) -> Option<(FileId, usize)> {
        let find = |f: &ast::File| f.items.iter().position(|i| matches!(i, Item::Fn(d) if d.name.name == name));
        if let Some(i) = find(&self.files[file.0 as usize]) {
            return Some((file, i));
        }
        self.files.iter().enumerate().skip(1).find_map(|(fi, f)| find(f).map(|i| (FileId(fi as u32), i)))
    }
}

pub fn expand(src: &str) -> Expanded {
    let p = TestProgram::new(src);
    expand_model(&p, FileId(0), p.model(), &[])
}

#[test]
fn vae_example_expands_to_all_entries() {
    let e = expand(include_str!("../../../../examples/vae/vae.hgl"));
    assert!(e.errors.is_empty(), "{:#?}", e.errors);
    let names: Vec<&str> = e.module.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["encode", "reconstruct", "decode", "sample", "train_forward", "eval"]);
    assert_eq!(e.latents, ["z"]);
    assert_eq!(e.outputs, ["x_hat"]);
    assert_eq!(e.metrics, ["kl"]);
    let p: Vec<&str> = e.module.params.iter().map(|p| p.name.as_str()).collect();
    assert!(p.contains(&"encoder.mu.w"), "{p:?}");
    let encode = e.module.function("encode").unwrap();
    assert_eq!(encode.ty(encode.output("z").unwrap()).to_string(), "f32[B, 32]");
    let sample = e.module.function("sample").unwrap();
    assert_eq!(sample.ty(sample.output("x_hat").unwrap()).to_string(), "f32[B, 784]");
}

#[test]
fn matmul_mismatch_names_both_operands() {
    let e = expand(
        "model M() {\n  input x: f32[B, 784]\n  encoder {\n    param w: f32[512, 256] = zeros\n    h = x @ w\n  }\n  bottleneck { latent z = h }\n  decoder { output y = z }\n  loss = mean(y)\n}\n",
    );
    assert_eq!(e.errors.len(), 1, "{:#?}", e.errors);
    let err = &e.errors[0];
    assert_eq!(err.code, error::codes::TYPE_MISMATCH);
    assert!(err.message.contains("f32[B, 784]") && err.message.contains("f32[512, 256]"), "{}", err.message);
    assert_eq!(err.labels.len(), 2);
}

#[test]
fn decoder_reading_encoder_value_is_an_error() {
    let e = expand(
        "model M() {\n  input x: f32[B, 4]\n  encoder { h = x * 2.0 }\n  bottleneck { latent z = h }\n  decoder { output y = z + h }\n  loss = mean(y)\n}\n",
    );
    assert!(e.errors.iter().any(|e| e.code == error::codes::DECODER_READS_ENCODER), "{:#?}", e.errors);
}

#[test]
fn non_scalar_loss_suggests_mean() {
    let e = expand(
        "model M() {\n  input x: f32[B, 4]\n  encoder { h = x }\n  bottleneck { latent z = h }\n  decoder { output y = z }\n  loss = y\n}\n",
    );
    let err = e.errors.iter().find(|e| e.code == error::codes::LOSS_NOT_SCALAR).expect("loss error");
    assert!(err.help.as_deref().unwrap_or("").contains("mean"));
}

#[test]
fn repeat_shares_parameters_and_calls_get_their_own() {
    let e = expand(
        "fn Lin(x: [..., I], o: int) -> [..., o] {\n  param w: f32[I, o] = glorot_uniform\n  return x @ w\n}\nmodel M() {\n  input x: f32[B, 4]\n  encoder {\n    s = x\n    repeat 3 { s = Lin(s, 4) }\n    t = Lin(s, 4)\n  }\n  bottleneck { latent z = t }\n  decoder { output y = z }\n  loss = mean(y * y)\n}\n",
    );
    assert!(e.errors.is_empty(), "{:#?}", e.errors);
    let names: Vec<&str> = e.module.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["encoder.s.w", "encoder.t.w"]);

    // `for` names each iteration's layer by its index instead.
    let e = with_encoder("    s = x\n    for i in range(3) { s = Lin(s, 4) }\n    t = Lin(s, 4)");
    assert!(e.errors.is_empty(), "{:#?}", e.errors);
    assert_eq!(param_names(&e), ["encoder.0.w", "encoder.1.w", "encoder.2.w", "encoder.t.w"]);
}

/// A model whose encoder is `encoder`, with `Lin` (a bias-free linear layer) defined.
fn with_encoder(encoder: &str) -> Expanded {
    expand(&format!(
        "fn Lin(x: [..., I], o: int) -> [..., o] {{\n  param w: f32[I, o] = glorot_uniform\n  return x @ w\n}}\n\
         fn twice(x) {{\n  return x * 2.0\n}}\n\
         model M() {{\n  input x: f32[B, 4]\n  encoder {{\n{encoder}\n  }}\n  bottleneck {{ latent z = t }}\n  \
         decoder {{ output y = z }}\n  loss = mean(y * y)\n}}\n"
    ))
}

fn param_names(e: &Expanded) -> Vec<&str> {
    e.module.params.iter().map(|p| p.name.as_str()).collect()
}

#[test]
fn for_gives_every_iteration_its_own_indexed_parameters() {
    // The statement that updates the carried `s` is named by the index alone, another one
    // `i.name`; a `repeat` inside shares across its own iterations; a call after the loop is
    // its own.
    let e = with_encoder(
        "    s = x\n    for i, n in enumerate([4, 4, 4]) {\n      s = Lin(s, n)\n      side = Lin(s, 2)\n      \
         r = s\n      repeat 2 { r = Lin(r, 4) }\n    }\n    t = Lin(s, 4)",
    );
    assert!(e.errors.is_empty(), "{:#?}", e.errors);
    let mut want = Vec::new();
    for i in 0..3 {
        want.extend([format!("encoder.{i}.w"), format!("encoder.{i}.side.w"), format!("encoder.{i}.r.w")]);
    }
    want.push("encoder.t.w".into());
    assert_eq!(param_names(&e), want);
}

#[test]
fn mlp_layers_are_numbered_whatever_the_activation() {
    for act in ["relu", "gelu", "identity", "twice"] {
        let e = with_encoder(&format!("    t = Mlp(x, [8, 6, 4], act = {act}, last = {act})"));
        assert!(e.errors.is_empty(), "{act}: {:#?}", e.errors);
        assert_eq!(
            param_names(&e),
            ["encoder.t.0.w", "encoder.t.0.b", "encoder.t.1.w", "encoder.t.1.b", "encoder.t.2.w", "encoder.t.2.b"],
            "act = {act}"
        );
    }
    // Nested loops join their indices; a fn called in a loop nests under the index.
    let e = with_encoder(
        "    s = x\n    for i in range(2) {\n      for j in range(2) {\n        s = Lin(s, 4)\n      }\n      \
         m = Mlp(s, [4])\n    }\n    t = s",
    );
    assert!(e.errors.is_empty(), "{:#?}", e.errors);
    assert_eq!(
        param_names(&e),
        [
            "encoder.0.0.w",
            "encoder.0.1.w",
            "encoder.0.m.0.w",
            "encoder.0.m.0.b",
            "encoder.1.0.w",
            "encoder.1.1.w",
            "encoder.1.m.0.w",
            "encoder.1.m.0.b"
        ]
    );
}

#[test]
fn two_places_on_one_parameter_path_are_an_error() {
    // Two loops that update the same name both name their layers 0 and 1.
    let e = with_encoder(
        "    s = x\n    for i in range(2) {\n      s = Lin(s, 4)\n    }\n    for i in range(2) {\n      s = Lin(s, 4)\n    }\n    t = s",
    );
    let err = e.errors.iter().find(|e| e.code == error::codes::PARAM_PATH_TAKEN).expect("a collision");
    assert_eq!(e.errors.len(), 1, "{:#?}", e.errors);
    assert!(err.message.contains("`encoder.0.w`"), "{}", err.message);
    assert_eq!(err.labels.len(), 1, "both places: {err:#?}");
    assert!(err.primary.start > err.labels[0].0.start, "the second loop's call is the primary place");
    assert!(err.help.as_deref().unwrap_or("").contains("bind the layer to a new name"), "{err:#?}");
    // Two statements updating carried names in one loop body.
    let e = with_encoder(
        "    a = x\n    b = x\n    for i in range(2) {\n      a = Lin(a, 4)\n      b = Lin(b, 4)\n    }\n    t = a + b",
    );
    assert!(e.errors.iter().any(|e| e.code == error::codes::PARAM_PATH_TAKEN), "{:#?}", e.errors);
    // Outside loops too: the second call of `h`'s statement is `h_1`, which a binding may be.
    let e = with_encoder("    h = Lin(Lin(x, 4), 4)\n    h_1 = Lin(x, 4)\n    t = h + h_1");
    let err = e.errors.iter().find(|e| e.code == error::codes::PARAM_PATH_TAKEN).expect("a collision");
    assert!(err.message.contains("`encoder.h_1.w`"), "{}", err.message);
    assert!(err.help.as_deref().unwrap_or("").contains("different name"), "{err:#?}");
}

#[test]
fn for_needs_a_compile_time_list() {
    let code_of = |encoder: &str| with_encoder(encoder).errors.iter().map(|e| e.code).collect::<Vec<_>>();
    assert_eq!(code_of("    t = x\n    for i in 3 {\n    }"), [error::codes::WRONG_KIND]);
    assert_eq!(code_of("    t = x\n    for i in x {\n    }"), [error::codes::WRONG_KIND]);
    assert_eq!(code_of("    t = x\n    for i in range(-1) {\n    }"), [error::codes::BAD_ARGUMENT]);
    assert_eq!(code_of("    t = x\n    for a, b in [1, 2] {\n    }"), [error::codes::UNPACK]);
    assert_eq!(code_of("    t = x\n    for a, b in [(1, 2, 3)] {\n    }"), [error::codes::UNPACK]);
    let e = with_encoder("    t = x\n    for i in 3 {\n    }");
    assert!(e.errors[0].help.as_deref().unwrap_or("").contains("range(3)"), "{:#?}", e.errors);
    // Loops over tuples and empty lists are fine.
    assert!(code_of("    t = x\n    for i in (1, 2.5) {\n      t = t * i\n    }\n    for i in [] {\n    }").is_empty());
}

/// A model whose encoder multiplies `input` by a matrix (`Linear`) and whose prior expects
/// `[B, 8]`: the prior error says where the extra axes were kept, or not.
fn prior_error_after_linear(input: &str, encoder: &str) -> ExpandError {
    let src = format!(
        "use std.nn.Linear\nmodel M() {{\n  input x: {input}\n  encoder {{ {encoder} }}\n  bottleneck {{\n    latent z = h\n    prior z = normal([B, 8])\n  }}\n  decoder {{ output y = z }}\n  loss = mean(y)\n}}\n"
    );
    let e = expand(&src);
    e.errors.iter().find(|e| e.code == error::codes::PRIOR_SHAPE).cloned().expect("a prior error")
}

#[test]
fn a_linear_on_an_image_is_named_by_later_shape_errors() {
    let err = prior_error_after_linear("f32[B, 1, 28, 28]", "h = Linear(x * 2.0, 8)");
    let help = err.help.as_deref().unwrap_or("");
    assert!(help.contains("`Linear` got f32[B, 1, 28, 28]") && help.contains("every pixel"), "{help}");
    assert!(help.contains("f32[B, 784]"), "{help}");
    assert!(err.labels.iter().any(|(_, l)| l.contains("multiplies only the last axis (28)")), "{:?}", err.labels);
}

#[test]
fn a_linear_on_computed_tokens_is_not_blamed() {
    // Tokens the model computes are multiplied per token on purpose: no `flatten` hint.
    let err = prior_error_after_linear("f32[B, 784]", "t = reshape(x, [B, 4, 196])\n    h = Linear(t, 8)");
    assert_eq!(err.help, None);
}
