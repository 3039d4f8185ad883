//! `hgc check` as a user runs it: exit status, and diagnostics on stderr with file:line:col.

use std::path::PathBuf;
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn hgc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hgc")).args(args).current_dir(repo()).output().expect("hgc runs")
}

#[test]
fn clean_spec_exits_zero_silently() {
    let out = hgc(&["check", "examples/vae/vae.hgl"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty());
}

#[test]
fn errors_exit_one_with_located_diagnostics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("bad.hgl");
    std::fs::write(&file, "fn F(x) {\n    y = x * hiden\n    return y\n}\n").expect("write");
    let out = hgc(&["check", file.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("E0101"), "{stderr}");
    assert!(stderr.contains("unknown name `hiden`"), "{stderr}");
    assert!(stderr.contains("bad.hgl:2:13"), "{stderr}");
    assert!(stderr.contains("has 1 error"), "{stderr}");
}

#[test]
fn model_and_set_flags_reach_the_checker() {
    let out = hgc(&["check", "examples/vae/vae.hgl", "--model", "Vae", "--set", "latent=64", "--set", "hidden=256"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = hgc(&["check", "examples/vae/vae.hgl", "--set", "latnt=64"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("E0220") && stderr.contains("did you mean `latent`?"), "{stderr}");
}

#[test]
fn unreadable_file_is_reported() {
    let out = hgc(&["check", "no/such/file.hgl"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read `no/such/file.hgl`: no such file"));
}
