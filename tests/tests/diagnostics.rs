//! Golden diagnostics: every `diagnostics/*.hgl` is checked like `hgc check` would, and the
//! rendered diagnostics (plain style: ASCII, no colour) must equal the sidecar `*.stderr`.
//!
//! A fixture may start with `// args: --model NAME --set name=value ...` to pass options.
//! Files under `diagnostics/lib/` are only imported by fixtures. Fixtures named `ok_*` must
//! check clean; all others must report at least one error. Run with `UPDATE_EXPECT=1` to
//! regenerate the sidecars.
//!
//! Also here: the shipped examples and standard-library modules check clean, and every
//! diagnostic code is documented in docs/errors.md and exercised by some fixture.

use std::path::{Path, PathBuf};

use hg_dsl::resolve::CheckOptions;
use hg_tests::check_expect;
use hgc::render::{Style, render};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("diagnostics"))
        .expect("diagnostics folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "hgl"))
        .collect();
    files.sort();
    files
}

/// Options from a leading `// args:` line.
fn options(src: &str) -> CheckOptions {
    let mut opts = CheckOptions::default();
    let Some(args) = src.lines().next().and_then(|l| l.strip_prefix("// args:")) else { return opts };
    let mut words = args.split_whitespace();
    while let Some(flag) = words.next() {
        match (flag, words.next()) {
            ("--model", Some(v)) => opts.model = Some(v.to_string()),
            ("--set", Some(v)) => opts.overrides.push(v.to_string()),
            (other, _) => panic!("unknown fixture flag `{other}`"),
        }
    }
    opts
}

/// Checks one file as `hgc check` does and renders its diagnostics.
fn run(path: &Path, display: &str, opts: &CheckOptions) -> (String, usize) {
    let out = hgc::driver::check_path(path, Some(display), opts).expect("fixture readable");
    let errors = out.diagnostics.iter().filter(|d| d.is_error()).count();
    (render(&out.db, &out.diagnostics, Style::Plain), errors)
}

#[test]
fn golden_diagnostics() {
    let mut failures = Vec::new();
    let fixtures = fixtures();
    assert!(fixtures.len() >= 45, "only {} fixtures", fixtures.len());
    for path in &fixtures {
        let name = path.file_name().and_then(|n| n.to_str()).expect("utf-8 name");
        let src = String::from_utf8_lossy(&std::fs::read(path).expect("read fixture")).into_owned();
        let (rendered, errors) = run(path, &format!("diagnostics/{name}"), &options(&src));
        let expect_ok = name.starts_with("ok_");
        if expect_ok && errors > 0 {
            failures.push(format!("{name}: expected no errors, got:\n{rendered}"));
        } else if !expect_ok && errors == 0 {
            failures.push(format!("{name}: expected errors, got none"));
        }
        if let Err(e) = check_expect(&path.with_extension("stderr"), &rendered) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{} golden failure(s):\n\n{}", failures.len(), failures.join("\n\n"));
}

#[test]
fn examples_and_standard_library_check_clean() {
    let repo = root().join("..");
    let mut checked = 0;
    // Every example's folder, and the specs of the speed benchmark.
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(repo.join("examples"))
        .expect("examples folder")
        .filter_map(|e| Some(e.ok()?.path()))
        .collect();
    dirs.push(repo.join("bench/models"));
    for dir in dirs {
        for file in std::fs::read_dir(dir).into_iter().flatten().filter_map(Result::ok) {
            let path = file.path();
            if path.extension().is_some_and(|e| e == "hgl") {
                let (rendered, _) = run(&path, &path.display().to_string(), &CheckOptions::default());
                assert_eq!(rendered, "", "{}", path.display());
                checked += 1;
            }
        }
    }
    assert!(checked >= 5);
    for (module, _) in hg_stdlib::modules() {
        let path = repo.join("stdlib").join(format!("{}.hgl", module.replace('.', "/")));
        let (rendered, _) = run(&path, module, &CheckOptions::default());
        assert_eq!(rendered, "", "{module}");
    }
}

#[test]
fn every_code_is_documented_and_exercised() {
    let docs = std::fs::read_to_string(root().join("../docs/errors.md")).expect("docs/errors.md");
    let mut goldens = String::new();
    for path in fixtures() {
        goldens.push_str(&std::fs::read_to_string(path.with_extension("stderr")).unwrap_or_default());
    }
    let mut missing = Vec::new();
    for (code, title) in hg_dsl::codes::ALL {
        if !docs.contains(&format!("## {code}")) {
            missing.push(format!("{code} ({title}) is not documented in docs/errors.md"));
        }
        if !goldens.contains(code) {
            missing.push(format!("{code} ({title}) has no golden fixture"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
