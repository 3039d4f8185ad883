//! Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017) from the files of the Debian package
//! `dataset-fashion-mnist`, which `scripts/setup.sh` installs.
//!
//! The data set has arrays `image` (f32 `[N, 28, 28]`, pixel bytes scaled to `[0, 1]`; a
//! documented layout, so it also feeds `[B, 784]` and `[B, 1, 28, 28]` inputs, with a note) and
//! `label` (i64 `[N]`, class 0..9, see [`FASHION_MNIST_CLASSES`]). The directory defaults to
//! [`FASHION_MNIST_DIR`] and can be moved with the environment variable
//! [`FASHION_MNIST_DIR_VAR`]; each file is read gzip-compressed (`*.gz`) or plain.

use super::idx::read_idx_u8;
use super::{DataError, Dataset, Source};
use crate::fsutil::IoError;
use hg_exec::tensor::Tensor;
use std::path::{Path, PathBuf};

/// Where the Debian package puts the files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";
/// Environment variable that overrides [`FASHION_MNIST_DIR`].
pub const FASHION_MNIST_DIR_VAR: &str = "HG_FASHION_MNIST_DIR";
/// Class names by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] =
    ["t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"];

/// Which part of a data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }

    /// `train`, or `test` (also spelled `t10k`, the file prefix).
    pub fn parse(s: &str) -> Option<Split> {
        match s {
            "train" => Some(Split::Train),
            "test" | "t10k" => Some(Split::Test),
            _ => None,
        }
    }

    fn file_prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
}

/// The directory the files are read from: `$HG_FASHION_MNIST_DIR` or the package's directory.
pub fn fashion_mnist_dir() -> PathBuf {
    match std::env::var_os(FASHION_MNIST_DIR_VAR) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(FASHION_MNIST_DIR),
    }
}

/// Loads a split of Fashion-MNIST, only the first `limit` examples when given.
pub fn fashion_mnist(split: Split, limit: Option<usize>) -> Result<Dataset, DataError> {
    fashion_mnist_from_dir(&fashion_mnist_dir(), split, limit)
}

/// Loads a split of Fashion-MNIST from the idx files in `dir`.
pub fn fashion_mnist_from_dir(dir: &Path, split: Split, limit: Option<usize>) -> Result<Dataset, DataError> {
    if !dir.is_dir() {
        return Err(DataError::FashionMnistMissing { path: dir.display().to_string() });
    }
    let prefix = split.file_prefix();
    let images_path = locate(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let labels_path = locate(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let images = read_idx_u8(&images_path, limit)?;
    let labels = read_idx_u8(&labels_path, limit)?;
    let shown = |p: &Path| p.display().to_string();
    let [_, rows, cols] = images.dims[..] else {
        return Err(IoError::malformed(
            shown(&images_path),
            format!("images have dimensions {:?} instead of [count, rows, cols]", images.dims),
        )
        .into());
    };
    if labels.dims.len() != 1 {
        return Err(IoError::malformed(
            shown(&labels_path),
            format!("labels have dimensions {:?} instead of [count]", labels.dims),
        )
        .into());
    }
    if images.declared_rows != labels.declared_rows {
        return Err(DataError::Mismatch(format!(
            "{} holds {} images but {} holds {} labels",
            shown(&images_path),
            images.declared_rows,
            shown(&labels_path),
            labels.declared_rows
        )));
    }
    if let Some(i) = labels.data.iter().position(|&l| usize::from(l) >= FASHION_MNIST_CLASSES.len()) {
        return Err(IoError::malformed(
            shown(&labels_path),
            format!("label {i} is {}, outside the classes 0..9", labels.data[i]),
        )
        .into());
    }
    let n = labels.dims[0];
    let pixels = images.data.iter().map(|&b| f32::from(b) / 255.0).collect();
    let image = Tensor::from_f32(vec![n, rows, cols], pixels).map_err(|e| DataError::Mismatch(e.to_string()))?;
    let label = Tensor::from_i64(vec![n], labels.data.iter().map(|&l| i64::from(l)).collect())
        .map_err(|e| DataError::Mismatch(e.to_string()))?;
    let ds = Dataset::new(vec![("image".into(), image), ("label".into(), label)])?;
    Ok(ds.with_source("image", fashion_mnist_images()))
}

/// The documented layout of the `image` array: pixel bytes, scaled to `[0, 1]` when loaded.
fn fashion_mnist_images() -> Source {
    Source::Documented {
        dataset: "fashion-mnist".into(),
        noun: "images".into(),
        stored: "u8".into(),
        values: "values in [0, 1]".into(),
    }
}

/// The gzip-compressed file, or else the plain one; missing both is reported like a missing
/// directory, since both mean the package is not (fully) installed.
fn locate(dir: &Path, base: &str) -> Result<PathBuf, DataError> {
    let gz = dir.join(format!("{base}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    let plain = dir.join(base);
    if plain.is_file() {
        return Ok(plain);
    }
    Err(DataError::FashionMnistMissing { path: gz.display().to_string() })
}

#[cfg(test)]
mod tests {
    use super::super::idx::tests::idx_file;
    use super::*;
    use hg_abi::DType;

    #[test]
    fn reads_a_synthetic_copy() {
        let dir = tempfile::tempdir().unwrap();
        let pixels: Vec<u8> = (0..3 * 4 * 5).map(|i| (i * 4) as u8).collect();
        std::fs::write(dir.path().join("t10k-images-idx3-ubyte.gz"), idx_file(&[3, 4, 5], &pixels, true)).unwrap();
        std::fs::write(dir.path().join("t10k-labels-idx1-ubyte"), idx_file(&[3], &[9, 0, 4], false)).unwrap();
        let ds = fashion_mnist_from_dir(dir.path(), Split::Test, None).unwrap();
        assert_eq!(ds.names(), vec!["image", "label"]);
        let image = ds.get("image").unwrap();
        assert_eq!((image.dtype(), image.shape()), (DType::F32, &[3usize, 4, 5][..]));
        assert_eq!(image.to_f64_vec()[1], f64::from(4.0f32 / 255.0));
        assert_eq!(ds.get("label").unwrap().to_f64_vec(), vec![9.0, 0.0, 4.0]);
        let two = fashion_mnist_from_dir(dir.path(), Split::Test, Some(2)).unwrap();
        assert_eq!((two.len, two.get("image").unwrap().shape()), (2, &[2usize, 4, 5][..]));
        // The train split is absent: the error names the file and says how to install it.
        let e = fashion_mnist_from_dir(dir.path(), Split::Train, None).unwrap_err().to_string();
        assert!(e.contains("train-images-idx3-ubyte.gz") && e.contains("scripts/setup.sh"), "{e}");
    }

    #[test]
    fn inconsistent_files_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: Vec<u8>| std::fs::write(dir.path().join(name), bytes).unwrap();
        write("train-images-idx3-ubyte.gz", idx_file(&[2, 2, 2], &[0; 8], true));
        write("train-labels-idx1-ubyte.gz", idx_file(&[3], &[1, 2, 3], true));
        let e = fashion_mnist_from_dir(dir.path(), Split::Train, Some(1)).unwrap_err().to_string();
        assert!(e.contains("holds 2 images but") && e.contains("holds 3 labels"), "{e}");
        write("train-labels-idx1-ubyte.gz", idx_file(&[2], &[1, 12], true));
        let e = fashion_mnist_from_dir(dir.path(), Split::Train, None).unwrap_err().to_string();
        assert!(e.contains("label 1 is 12"), "{e}");
        write("train-images-idx3-ubyte.gz", idx_file(&[2, 4], &[0; 8], true));
        let e = fashion_mnist_from_dir(dir.path(), Split::Train, None).unwrap_err().to_string();
        assert!(e.contains("instead of [count, rows, cols]"), "{e}");
        let missing = dir.path().join("nothing-here");
        let e = fashion_mnist_from_dir(&missing, Split::Train, None).unwrap_err().to_string();
        assert!(e.contains("nothing-here does not exist") && e.contains("dataset-fashion-mnist"), "{e}");
    }

    /// Reads the installed data set; `scripts/setup.sh` installs it, so its absence is a failure.
    #[test]
    fn reads_the_installed_data_set() {
        let ds = fashion_mnist(Split::Train, Some(100)).unwrap();
        let image = ds.get("image").unwrap();
        assert_eq!(image.shape(), &[100, 28, 28]);
        let values = image.to_f64_vec();
        assert!(values.iter().all(|v| (0.0..=1.0).contains(v)));
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert!((0.15..0.45).contains(&mean), "mean pixel {mean}");
        let labels = ds.get("label").unwrap().to_f64_vec();
        assert_eq!(labels.len(), 100);
        // The published first training labels: ankle boot, t-shirt/top, t-shirt/top, dress.
        assert_eq!(labels[..4], [9.0, 0.0, 0.0, 3.0]);
        let test = fashion_mnist(Split::Test, Some(10)).unwrap();
        assert_eq!(test.get("image").unwrap().shape(), &[10, 28, 28]);
    }
}
