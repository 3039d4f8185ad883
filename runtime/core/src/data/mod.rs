//! Data sets: named arrays that share their first (example) axis, where they come from
//! (Fashion-MNIST, the `shapes` scene generator, `.npy`/`.npz` files), how they are matched to
//! a model's inputs, and how they are cut into (shuffled) batches.
//!
//! **Invariant**: a [`Dataset`] built through [`Dataset::new`] has at least one axis on every
//! array, and every array has exactly `len` rows along it; batching and fitting rely on this.
//!
//! Each array may carry a [`Source`]: the file it was read from (with the element type the file
//! stores, which messages name), or the documented layout of a built-in data set, the only
//! arrays [`fit_to_inputs`] may reshape (see `fit.rs` for the rules).

mod batch;
mod fashion_mnist;
mod fit;
mod idx;
mod shapes;

pub use batch::{BatchConfig, BatchIter};
pub use fashion_mnist::{
    FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, FASHION_MNIST_DIR_VAR, Split, fashion_mnist, fashion_mnist_dir,
    fashion_mnist_from_dir,
};
pub use fit::{fit_notes, fit_to_inputs};
pub use shapes::{SHAPES_DEFAULT_SIZE, shapes};

use crate::fsutil::IoError;
use crate::npy::{FileDType, read_npy_with_dtype, read_npz_with_dtypes};
use hg_exec::tensor::Tensor;
use std::collections::BTreeMap;
use std::path::Path;

/// What went wrong loading data or matching it to a model. Messages are lowercase and
/// complete, and name the file or array concerned.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    Io(#[from] IoError),
    /// A built-in data set's files are not installed.
    #[error(
        "fashion-mnist data not found: {path} does not exist; run scripts/setup.sh (it installs the Debian package dataset-fashion-mnist) or set HG_FASHION_MNIST_DIR to a directory holding the idx files"
    )]
    FashionMnistMissing { path: String },
    /// The arrays of a data set disagree with each other or with the model.
    #[error("{0}")]
    Mismatch(String),
}

/// Named arrays whose first axis indexes examples.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub arrays: Vec<(String, Tensor)>,
    /// Number of examples (the common length of every array's first axis).
    pub len: usize,
    /// Where arrays come from, by array name; an array without an entry was built in code and
    /// is named `data array "NAME"` in messages.
    pub sources: BTreeMap<String, Source>,
}

/// Where an array of a [`Dataset`] comes from: what messages call it, and how freely it may be
/// fitted to a model input.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// A file the user named. It must match the input's shape but for the number of examples,
    /// and its dtype convert without loss of meaning.
    File {
        /// The file as given (`x.npy`, `data.npz`).
        path: String,
        /// The array's name inside an `.npz` archive.
        member: Option<String>,
        /// The element type the file stores (`u8` for a file read into an i32 tensor).
        dtype: FileDType,
    },
    /// An array of a built-in data set with a documented layout: it may be reshaped to any
    /// input with as many values per example, and each such adaptation is said in a note
    /// (`fashion-mnist images [60000, 28, 28] u8 are fed to x: f32[B, 784] as values in
    /// [0, 1], flattened`).
    Documented {
        /// The data set as the command line names it (`fashion-mnist`).
        dataset: String,
        /// What an example is, plural (`images`).
        noun: String,
        /// The element type the data set stores (`u8`: Fashion-MNIST's pixel bytes).
        stored: String,
        /// What the values mean as loaded (`values in [0, 1]`).
        values: String,
    },
}

impl Source {
    /// A file read by this runtime: the file `path`, or the `member` array of the archive.
    pub fn file(path: impl Into<String>, member: Option<String>, dtype: FileDType) -> Source {
        Source::File { path: path.into(), member, dtype }
    }
}

impl Dataset {
    /// Checks that names are unique and every array has the same number of examples.
    pub fn new(arrays: Vec<(String, Tensor)>) -> Result<Dataset, DataError> {
        let mut len = None;
        for (i, (name, t)) in arrays.iter().enumerate() {
            if arrays[..i].iter().any(|(other, _)| other == name) {
                return Err(DataError::Mismatch(format!("data array \"{name}\" appears twice")));
            }
            let Some(&n) = t.shape().first() else {
                return Err(DataError::Mismatch(format!(
                    "data array \"{name}\" is a scalar ({t}); data arrays need a first axis of examples"
                )));
            };
            match len {
                None => len = Some((name, n)),
                Some((first, m)) if m != n => {
                    return Err(DataError::Mismatch(format!(
                        "data arrays disagree on the number of examples: \"{first}\" has {m}, \"{name}\" has {n}"
                    )));
                }
                Some(_) => {}
            }
        }
        let len = len.map_or(0, |(_, n)| n);
        Ok(Dataset { arrays, len, sources: BTreeMap::new() })
    }

    /// The data set with `source` recorded for array `name`.
    pub fn with_source(mut self, name: &str, source: Source) -> Dataset {
        self.sources.insert(name.to_string(), source);
        self
    }

    /// Where array `name` comes from, when known.
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.get(name)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.arrays.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    pub fn names(&self) -> Vec<&str> {
        self.arrays.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The first `n` examples (all of them when `n >= len`).
    pub fn take(&self, n: usize) -> Dataset {
        let n = n.min(self.len);
        let arrays = self.arrays.iter().map(|(name, t)| (name.clone(), t.slice_rows(0, n))).collect();
        Dataset { arrays, len: n, sources: self.sources.clone() }
    }
}

/// Loads a data set from files: each `.npz` contributes its arrays by name, each `.npy` one
/// array named after the file stem (`train_x.npy` → `train_x`). Every array records its file.
pub fn from_npy_files<P: AsRef<Path>>(paths: &[P]) -> Result<Dataset, DataError> {
    let mut arrays = Vec::new();
    let mut sources = Vec::new();
    for path in paths {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("npz") => {
                for (name, t, dtype) in read_npz_with_dtypes(path)? {
                    sources.push((name.clone(), Source::file(&shown, Some(name.clone()), dtype)));
                    arrays.push((name, t));
                }
            }
            Some("npy") => {
                let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                let (t, dtype) = read_npy_with_dtype(path)?;
                sources.push((stem.clone(), Source::file(&shown, None, dtype)));
                arrays.push((stem, t));
            }
            _ => {
                return Err(IoError::malformed(
                    path.display().to_string(),
                    "unknown data file type (expected a .npy or .npz file)",
                )
                .into());
            }
        }
    }
    let mut ds = Dataset::new(arrays)?;
    ds.sources.extend(sources);
    Ok(ds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy::{write_npy, write_npz};

    #[test]
    fn datasets_check_their_arrays() {
        let a = Tensor::from_f32(vec![3, 2], vec![0.0; 6]).unwrap();
        let b = Tensor::from_i64(vec![3], vec![1, 2, 3]).unwrap();
        let ds = Dataset::new(vec![("a".into(), a.clone()), ("b".into(), b.clone())]).unwrap();
        assert_eq!((ds.len(), ds.names()), (3, vec!["a", "b"]));
        assert_eq!(ds.take(2).get("b").unwrap().to_f64_vec(), vec![1.0, 2.0]);
        assert_eq!(ds.take(10).len, 3);
        let short = Tensor::from_i64(vec![2], vec![1, 2]).unwrap();
        let e = Dataset::new(vec![("a".into(), a.clone()), ("c".into(), short)]).unwrap_err().to_string();
        assert_eq!(e, "data arrays disagree on the number of examples: \"a\" has 3, \"c\" has 2");
        let e = Dataset::new(vec![("a".into(), a.clone()), ("a".into(), a)]).unwrap_err().to_string();
        assert!(e.contains("appears twice"));
        let e = Dataset::new(vec![("s".into(), Tensor::scalar_f32(1.0))]).unwrap_err().to_string();
        assert!(e.contains("scalar"));
    }

    #[test]
    fn loads_npy_and_npz_files() {
        let dir = tempfile::tempdir().unwrap();
        let x = Tensor::from_f32(vec![4, 2], (0..8).map(|i| i as f32).collect()).unwrap();
        let y = Tensor::from_i64(vec![4], vec![0, 1, 0, 1]).unwrap();
        write_npy(dir.path().join("train_x.npy"), &x).unwrap();
        write_npz(dir.path().join("extra.npz"), &[("label".into(), y.clone())]).unwrap();
        let ds = from_npy_files(&[dir.path().join("train_x.npy"), dir.path().join("extra.npz")]).unwrap();
        assert_eq!(ds.names(), vec!["train_x", "label"]);
        assert_eq!(ds.get("label"), Some(&y));
        let npy_path = dir.path().join("train_x.npy").display().to_string();
        let npz_path = dir.path().join("extra.npz").display().to_string();
        assert_eq!(ds.source("train_x"), Some(&Source::file(npy_path, None, FileDType::F32)));
        assert_eq!(ds.source("label"), Some(&Source::file(npz_path, Some("label".into()), FileDType::I64)));
        assert_eq!(ds.take(2).sources, ds.sources);
        let e = from_npy_files(&[dir.path().join("data.csv")]).unwrap_err().to_string();
        assert!(e.contains("data.csv") && e.contains("unknown data file type"), "{e}");
    }
}
