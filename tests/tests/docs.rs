//! The language reference lists every builtin with its current signature, so the docs cannot
//! drift from `dsl/src/builtins.rs`.

use hg_dsl::builtins::{INITIALIZERS, OPS, OPTIMIZERS, SCHEDULES, TRAIN_KEYS};

#[test]
fn language_reference_lists_every_builtin() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/language.md");
    let doc = std::fs::read_to_string(path).expect("docs/language.md");
    let mut missing = Vec::new();
    for def in OPS.iter().chain(INITIALIZERS).chain(OPTIMIZERS).chain(SCHEDULES) {
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
