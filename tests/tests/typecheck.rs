//! Golden diagnostics for type and shape errors: every `typecheck/*.hgl` is checked like
//! `hgc check` does (front end, then expansion with type and shape checking), and the rendered
//! diagnostics (plain style) must equal the sidecar `*.stderr`.
//!
//! Conventions, as in the front end's `diagnostics/` suite: a fixture may start with
//! `// args: --model NAME --set name=value ...`; `UPDATE_EXPECT=1` regenerates the sidecars.
//! Each fixture holds one mistake, and by its name:
//! - `ok_*` must check clean;
//! - every other fixture must report at least one error of the middle end (`E03xx`, `E04xx`):
//!   a fixture the front end already rejects is in the wrong suite;
//! - `both_*` fixtures involve two places (two operands, an argument and its declaration, a
//!   latent and its prior): every error must label a second place besides the primary one;
//! - `train_*` fixtures check clean and fail only when the train step is built (gradients),
//!   as `hgc run ... train` and `hgc ir --stage train` do; their sidecar holds that error.

use std::path::{Path, PathBuf};

use hg_core::pipeline::{optimizer_config, with_train_step};
use hg_dsl::Diagnostic;
use hg_tests::check_expect;
use hgc::cli::SpecArgs;
use hgc::compile::{Checked, check_spec};
use hgc::render::{Style, render};

/// The fixture folder, relative to the package root (the working directory of cargo's tests),
/// so rendered file names read `typecheck/NAME.hgl` on every machine.
const DIR: &str = "typecheck";

fn fixtures() -> Vec<String> {
    assert!(Path::new(DIR).is_dir(), "run from the hg-tests package root (cargo does this), so that `{DIR}/` is found");
    let mut names: Vec<String> = std::fs::read_dir(DIR)
        .expect("typecheck folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "hgl"))
        .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string))
        .collect();
    names.sort();
    names
}

/// The `hgc check` arguments for a fixture: its path and a leading `// args:` line.
fn spec_args(name: &str) -> SpecArgs {
    let file = PathBuf::from(DIR).join(name);
    let src = std::fs::read_to_string(&file).expect("fixture is UTF-8 text");
    let mut spec = SpecArgs { file, model: None, set: Vec::new() };
    let Some(args) = src.lines().next().and_then(|l| l.strip_prefix("// args:")) else { return spec };
    let mut words = args.split_whitespace();
    while let Some(flag) = words.next() {
        match (flag, words.next()) {
            ("--model", Some(v)) => spec.model = Some(v.to_string()),
            ("--set", Some(v)) => spec.set.push(v.to_string()),
            (other, _) => panic!("{name}: unknown fixture flag `{other}`"),
        }
    }
    spec
}

fn check(name: &str) -> Checked {
    check_spec(&spec_args(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn is_middle_end(d: &Diagnostic) -> bool {
    d.code.starts_with("E03") || d.code.starts_with("E04")
}

/// Problems with the labels of a `both_*` fixture's errors: each needs a second place.
fn missing_second_place(name: &str, diagnostics: &[Diagnostic]) -> Vec<String> {
    diagnostics
        .iter()
        .filter(|d| d.is_error())
        .filter(|d| !d.labels.iter().any(|l| !l.primary && !l.span.is_empty() && !l.message.is_empty()))
        .map(|d| format!("{name}: [{}] `{}` labels only one place", d.code, d.message))
        .collect()
}

#[test]
fn golden_type_and_shape_errors() {
    let names: Vec<String> = fixtures().into_iter().filter(|n| !n.starts_with("train_")).collect();
    assert!(names.len() >= 36, "only {} fixtures", names.len());
    let mut failures = Vec::new();
    for name in &names {
        let checked = check(name);
        let rendered = render(&checked.front.db, &checked.diagnostics, Style::Plain);
        let errors: Vec<&Diagnostic> = checked.diagnostics.iter().filter(|d| d.is_error()).collect();
        if name.starts_with("ok_") {
            if !errors.is_empty() {
                failures.push(format!("{name}: expected no errors, got:\n{rendered}"));
            }
        } else if !errors.iter().any(|d| is_middle_end(d)) {
            failures.push(format!("{name}: expected a type or shape error (E03xx/E04xx), got:\n{rendered}"));
        }
        if name.starts_with("both_") {
            failures.extend(missing_second_place(name, &checked.diagnostics));
        }
        let sidecar = Path::new(DIR).join(name).with_extension("stderr");
        if let Err(e) = check_expect(&sidecar, &rendered) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{} golden failure(s):\n\n{}", failures.len(), failures.join("\n\n"));
}

/// Errors that only building the train step finds (a parameter without a gradient path):
/// the spec checks clean, and `with_train_step` reports a located `E04xx` error.
#[test]
fn golden_train_step_errors() {
    let names: Vec<String> = fixtures().into_iter().filter(|n| n.starts_with("train_")).collect();
    assert!(!names.is_empty(), "no train_* fixtures");
    let mut failures = Vec::new();
    for name in &names {
        let checked = check(name);
        let mut rendered = render(&checked.front.db, &checked.diagnostics, Style::Plain);
        if checked.has_errors() {
            failures.push(format!("{name}: must check clean, got:\n{rendered}"));
            continue;
        }
        let Some(model) = &checked.model else {
            failures.push(format!("{name}: defines no model"));
            continue;
        };
        match with_train_step(model, &optimizer_config(&model.train_defaults)) {
            Ok(_) => failures.push(format!("{name}: the train step was built, expected an error")),
            Err(d) => {
                if !is_middle_end(&d) {
                    failures.push(format!("{name}: expected an E04xx error, got {}", d.code));
                }
                if d.primary_span().is_none() {
                    failures.push(format!("{name}: the train-step error has no location"));
                }
                rendered.push_str(&render(&checked.front.db, std::slice::from_ref(&d), Style::Plain));
            }
        }
        let sidecar = Path::new(DIR).join(name).with_extension("stderr");
        if let Err(e) = check_expect(&sidecar, &rendered) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{} golden failure(s):\n\n{}", failures.len(), failures.join("\n\n"));
}
