//! Test support: finding `ptxas`, NVIDIA's PTX assembler, which checks generated PTX without
//! a GPU.
//!
//! `HG_PTXAS` names the binary explicitly; a relative path is taken from the workspace root
//! (tests run in the crate's folder, not where the command was typed). Otherwise the one installed by `scripts/setup.sh`
//! is used: the `nvidia-cuda-nvcc-cu12` wheel in the workspace's `.venv`. A missing assembler
//! is an error with the fix in its message, so the PTX checks fail instead of being skipped.

use std::path::{Path, PathBuf};

/// Path to a `ptxas` binary, or a message saying how to install one.
pub fn find_ptxas() -> Result<PathBuf, String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if let Some(path) = std::env::var_os("HG_PTXAS") {
        let path = workspace.join(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("HG_PTXAS is set to `{}`, which is not a file", path.display()))
        };
    }
    let venv_lib = workspace.join(".venv").join("lib");
    let candidates = std::fs::read_dir(&venv_lib)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("python3"))
        .map(|entry| entry.path().join("site-packages/nvidia/cuda_nvcc/bin/ptxas"));
    candidates.into_iter().find(|path| path.is_file()).ok_or_else(|| {
        "ptxas not found: run scripts/setup.sh (it installs the `nvidia-cuda-nvcc-cu12` wheel \
         into .venv at the workspace root), or set HG_PTXAS to a ptxas binary"
            .to_string()
    })
}

/// Assembles the PTX file `ptx` for `chip` with the assembler at `ptxas`, writing the cubin
/// beside it; `Err` holds the assembler's report.
pub fn assemble(ptxas: &Path, chip: &str, ptx: &Path) -> Result<PathBuf, String> {
    let cubin = ptx.with_extension(format!("{chip}.cubin"));
    let output = std::process::Command::new(ptxas)
        .arg(format!("-arch={chip}"))
        .arg(ptx)
        .arg("-o")
        .arg(&cubin)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", ptxas.display()))?;
    if output.status.success() {
        Ok(cubin)
    } else {
        Err(format!("ptxas -arch={chip} {}: {}", ptx.display(), String::from_utf8_lossy(&output.stderr)))
    }
}
