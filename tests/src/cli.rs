//! Running the `hgc` binary of this build from end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (tests run there, so spec paths are the README's).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// The `hgc` binary of this build (built by `cargo test --workspace`; built here otherwise).
pub fn hgc() -> PathBuf {
    binary("hgc")
}

/// The `hgrun` binary of this build, the runner of standalone executables, next to `hgc`.
pub fn hgrun() -> PathBuf {
    binary("hgrun")
}

fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(|d| d.parent()).expect("target/<profile>");
    let bin = profile_dir.join(name);
    if !bin.exists() {
        let status =
            Command::new(env!("CARGO")).args(["build", "-p", name]).current_dir(root()).status().expect("cargo build");
        assert!(status.success(), "building {name} failed");
    }
    bin
}

/// Runs `hgc ARGS` in the workspace root.
pub fn run(args: &[&str]) -> Output {
    Command::new(hgc()).args(args).current_dir(root()).output().expect("hgc runs")
}

/// Runs `hgc ARGS` and asserts it succeeded, showing its output when it did not.
pub fn ok(args: &[&str]) -> Output {
    let out = run(args);
    assert!(
        out.status.success(),
        "hgc {} failed:\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `hgc ARGS`, asserts it failed with status 1, and returns its standard error.
pub fn fails(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "hgc {} should fail:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The records of a run's `metrics.jsonl` (none when the file does not exist yet), as JSON.
pub fn metrics(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("metrics line is JSON"))
        .collect()
}
