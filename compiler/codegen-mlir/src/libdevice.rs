//! Finding libdevice, NVIDIA's LLVM bitcode library of math functions (`__nv_sin`, `__nv_log`,
//! ...), which GPU kernels link for the functions that are neither a PTX instruction nor
//! written inline: `sin`, `cos` and `pow`, the f64 math the graph keeps in f64, and the
//! logarithm and cosine of normal draws.
//!
//! It is read when PTX is generated (by `hgc`), never at run time: the PTX holds the functions
//! it uses, so a machine that runs it needs only the driver. Where it is looked for, in order:
//! 1. `HG_LIBDEVICE`: the path of `libdevice.10.bc` (an error if it is not a file);
//! 2. `CUDA_HOME`, `CUDA_PATH`, then `/usr/local/cuda`: a CUDA toolkit's
//!    `nvvm/libdevice/libdevice.10.bc`;
//! 3. the Python environment in `VIRTUAL_ENV`, then the workspace's `.venv` (what
//!    `scripts/setup.sh` installs): PyPI's `nvidia-cuda-nvcc-cu12` wheel.
//!
//! Without it, kernels that need one of these functions have no GPU form; the error says how
//! to get it.

use std::path::{Path, PathBuf};

/// The file name of libdevice in a CUDA toolkit.
const FILE: &str = "libdevice.10.bc";

/// What to do when libdevice is missing, for messages.
pub const HOW_TO_GET: &str = "install the CUDA toolkit, or `pip install nvidia-cuda-nvcc-cu12`, or set \
                              HG_LIBDEVICE to the path of libdevice.10.bc";

/// The path of a libdevice bitcode file, checked to exist and to be usable in a pass option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Libdevice(PathBuf);

impl Libdevice {
    /// `path` as libdevice: it must be a file, and its name must not hold the characters that
    /// separate pass options (`,`, `{`, `}`, spaces), since it is handed to MLIR in one.
    pub fn at(path: impl Into<PathBuf>) -> Result<Libdevice, String> {
        let path = path.into();
        if !path.is_file() {
            return Err(format!("libdevice `{}` is not a file", path.display()));
        }
        let text = path.to_str().ok_or_else(|| format!("libdevice `{}`: the path is not UTF-8", path.display()))?;
        if text.contains([',', '{', '}', ' ', '"', '\'']) {
            return Err(format!(
                "libdevice `{text}`: the path holds a comma, brace, quote or space, which MLIR's pass options \
                 cannot carry; copy the file to a plain path and set HG_LIBDEVICE to it"
            ));
        }
        Ok(Libdevice(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Looks for libdevice as the module doc says: `Ok(None)` when there is none, an error
    /// when `HG_LIBDEVICE` names something unusable.
    pub fn find() -> Result<Option<Libdevice>, String> {
        if let Some(path) = std::env::var_os("HG_LIBDEVICE") {
            return Libdevice::at(PathBuf::from(path)).map(Some).map_err(|e| format!("HG_LIBDEVICE: {e}"));
        }
        let toolkits = ["CUDA_HOME", "CUDA_PATH"]
            .into_iter()
            .filter_map(std::env::var_os)
            .map(PathBuf::from)
            .chain([PathBuf::from("/usr/local/cuda")]);
        let in_toolkits = toolkits.map(|dir| dir.join("nvvm/libdevice").join(FILE));
        let venvs = std::env::var_os("VIRTUAL_ENV")
            .map(PathBuf::from)
            .into_iter()
            .chain([Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv")]);
        let in_venvs = venvs.flat_map(|venv| {
            let lib = venv.join("lib");
            std::fs::read_dir(lib)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|entry| entry.file_name().to_string_lossy().starts_with("python3"))
                .map(|entry| entry.path().join("site-packages/nvidia/cuda_nvcc/nvvm/libdevice").join(FILE))
                .collect::<Vec<_>>()
        });
        Ok(in_toolkits.chain(in_venvs).find_map(|path| Libdevice::at(path).ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_or_an_unusable_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join(FILE);
        assert!(Libdevice::at(&missing).unwrap_err().contains("is not a file"));
        let odd = dir.path().join("a,b.bc");
        std::fs::write(&odd, b"BC").unwrap();
        assert!(Libdevice::at(&odd).unwrap_err().contains("comma"));
        let plain = dir.path().join(FILE);
        std::fs::write(&plain, b"BC").unwrap();
        assert_eq!(Libdevice::at(&plain).unwrap().path(), plain);
    }
}
