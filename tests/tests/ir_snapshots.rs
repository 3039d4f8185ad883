//! Golden files of the IR text form: `hgc ir` of each spec under tests/ir/ at the typed, grad
//! and train stages, and the kernels and fusion groups the CPU backends compile it to, compared
//! with `<spec>.<stage>.ir`, and its manifest (`<spec>.manifest.json`).
//! The training loop's test double in the runtime reads its signatures from such a manifest
//! (runtime/core/src/train/testdata/), so it declares exactly what a real model declares.
//! Regenerate with `UPDATE_EXPECT=1`.

use hg_tests::cli::{hgc, root};
use std::path::PathBuf;
use std::process::Command;

#[test]
fn ir_text_matches_golden_files() {
    let dir = root().join("tests/ir");
    let mut specs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "hgl"))
        .collect();
    specs.sort();
    assert!(specs.len() >= 2);
    specs.push(root().join("runtime/core/src/train/testdata/denoiser.hgl"));
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    for spec in &specs {
        for stage in ["typed", "grad", "train", "manifest", "kernels", "fused"] {
            let rel = spec.strip_prefix(root()).unwrap();
            let out = Command::new(hgc())
                .args(["ir", rel.to_str().unwrap(), "--stage", stage])
                .current_dir(root())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "hgc ir {} --stage {stage}: {}",
                rel.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8(out.stdout).unwrap();
            let golden = match stage {
                "manifest" => spec.with_extension("manifest.json"),
                _ => spec.with_extension(format!("{stage}.ir")),
            };
            if update {
                std::fs::write(&golden, &text).unwrap();
            } else if std::fs::read_to_string(&golden).ok().as_deref() != Some(text.as_str()) {
                failures.push(format!("{} differs (UPDATE_EXPECT=1 regenerates it)", golden.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
