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
