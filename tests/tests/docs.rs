//! The language reference lists every builtin with its current signature, so the docs cannot
//! drift from `dsl/src/builtins.rs`.

use hg_dsl::builtins::{INITIALIZERS, OPS, OPTIMIZERS, PLAYER_ORDERS, SCHEDULES, TRAIN_KEYS};

#[test]
fn language_reference_lists_every_builtin() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/language.md");
    let doc = std::fs::read_to_string(path).expect("docs/language.md");
    let mut missing = Vec::new();
    for def in OPS.iter().chain(INITIALIZERS).chain(OPTIMIZERS).chain(SCHEDULES).chain(PLAYER_ORDERS) {
        let row = format!("| `{}` | {} |", def.signature(), def.doc);
        if !doc.contains(&row) {
            missing.push(row);
        }
    }
    for key in TRAIN_KEYS {
        let row = format!("| `{}` | {} |", key.name, key.doc);
        if !doc.contains(&row) {
            missing.push(row);
        }
    }
    assert!(missing.is_empty(), "docs/language.md lacks these rows:\n{}", missing.join("\n"));
}

/// The spec on the README's front page compiles as written: it is the first thing a new user
/// copies.
#[test]
fn readme_example_compiles() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let start = readme.find("```hgl\n").expect("the README shows a spec") + "```hgl\n".len();
    let end = start + readme[start..].find("```").expect("the spec block ends");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("readme.hgl");
    std::fs::write(&file, &readme[start..end]).unwrap();
    let args = hgc::cli::SpecArgs { file, model: None, set: Vec::new() };
    let checked = hgc::compile::check_spec(&args).unwrap();
    assert!(!checked.has_errors(), "the README's spec does not compile: {:?}", checked.diagnostics);
    assert!(checked.model.is_some());
}
