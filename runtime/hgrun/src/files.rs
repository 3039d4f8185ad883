//! Opens the tensor files `hgrun` understands and presents each one the same way: an ordered
//! list of named arrays plus string metadata.
//!
//! The kind of a file comes from its extension (`.safetensors`, `.npy`, `.npz`, in any case);
//! an `.npy` file holds one array, named after the file's stem as the runtime's data loader
//! names it (`train_x.npy` → `train_x`). Only safetensors files carry metadata.
//!
//! Narrow types of other tools (numpy's `uint8`, safetensors' `U8`) are widened on load (to
//! i32) so the data can be computed with; each array also keeps the element type the file
//! stores, which is what reports about the file name.
//!
//! **Invariant**: all reading goes through the runtime's own readers, which check every length
//! against the bytes present, so a corrupt file is an [`Error`] naming the file, never a panic.

use crate::error::{Error, Result};
use hg_runtime::Tensor;
use hg_runtime::checkpoint::{Metadata, load_safetensors_with_dtypes};
use hg_runtime::npy::{read_npy_with_dtype, read_npz_with_dtypes};
use std::path::Path;

/// The on-disk format of a tensor file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Safetensors,
    Npy,
    Npz,
}

impl Format {
    /// The format an extension names, or an error listing the supported ones.
    pub fn of(path: &Path) -> Result<Format> {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("safetensors") => Ok(Format::Safetensors),
            Some("npy") => Ok(Format::Npy),
            Some("npz") => Ok(Format::Npz),
            _ => Err(Error::new(format!(
                "{}: unknown file type (expected a .safetensors, .npy or .npz file)",
                path.display()
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Safetensors => "safetensors",
            Format::Npy => "npy",
            Format::Npz => "npz",
        }
    }
}

/// A loaded tensor file.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorFile {
    pub format: Format,
    /// Arrays in file order (safetensors: sorted by name, as the runtime loads them).
    pub arrays: Vec<(String, Tensor)>,
    /// The element type each array has in the file (`u8`), parallel to `arrays`; the tensor
    /// may hold it widened (i32).
    pub file_dtypes: Vec<String>,
    pub metadata: Metadata,
}

impl TensorFile {
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.arrays.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// The element type array `i` has in the file, falling back on the tensor's own.
    pub fn file_dtype(&self, i: usize) -> String {
        self.file_dtypes.get(i).cloned().unwrap_or_else(|| self.arrays[i].1.dtype().name().to_string())
    }

    /// `dtype[shape]` of array `i` as the file stores it: `u8[2, 784]`.
    pub fn describe(&self, i: usize) -> String {
        format!("{}{:?}", self.file_dtype(i), self.arrays[i].1.shape())
    }

    /// `name dtype[shape]` of every array, for error messages that list what a file holds.
    pub fn listing(&self) -> String {
        if self.arrays.is_empty() {
            return "no arrays".into();
        }
        (0..self.arrays.len())
            .map(|i| format!("`{}` {}", self.arrays[i].0, self.describe(i)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Reads a `.safetensors`, `.npy` or `.npz` file.
pub fn load(path: &Path) -> Result<TensorFile> {
    let format = Format::of(path)?;
    let (arrays, file_dtypes, metadata) = match format {
        Format::Safetensors => {
            let (tensors, metadata, dtypes) = load_safetensors_with_dtypes(path)?;
            let file_dtypes = tensors.keys().map(|n| dtypes.get(n).copied().unwrap_or("?").to_string()).collect();
            (tensors.into_iter().collect(), file_dtypes, metadata)
        }
        Format::Npy => {
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let (tensor, dtype) = read_npy_with_dtype(path)?;
            (vec![(stem, tensor)], vec![dtype.name().to_string()], Metadata::new())
        }
        Format::Npz => {
            let (arrays, dtypes) =
                read_npz_with_dtypes(path)?.into_iter().map(|(n, t, d)| ((n, t), d.name().to_string())).unzip();
            (arrays, dtypes, Metadata::new())
        }
    };
    Ok(TensorFile { format, arrays, file_dtypes, metadata })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hg_runtime::checkpoint::save_safetensors;
    use hg_runtime::npy::{write_npy, write_npz};
    use std::collections::BTreeMap;

    #[test]
    fn formats_come_from_the_extension() {
        assert_eq!(Format::of(Path::new("a/w.SafeTensors")).unwrap(), Format::Safetensors);
        assert_eq!(Format::of(Path::new("x.npy")).unwrap(), Format::Npy);
        assert_eq!(Format::of(Path::new("x.NPZ")).unwrap(), Format::Npz);
        let e = Format::of(Path::new("data.csv")).unwrap_err().to_string();
        assert_eq!(e, "data.csv: unknown file type (expected a .safetensors, .npy or .npz file)");
        assert!(Format::of(Path::new("noext")).is_err());
    }

    #[test]
    fn every_format_loads_as_named_arrays() {
        let dir = tempfile::tempdir().unwrap();
        let t = Tensor::from_f32(vec![2], vec![1.0, 2.0]).unwrap();
        let st = dir.path().join("w.safetensors");
        let meta: BTreeMap<String, String> = [("k".to_string(), "v".to_string())].into();
        save_safetensors(&st, &[("b".to_string(), t.clone()), ("a".to_string(), t.clone())].into(), &meta).unwrap();
        let f = load(&st).unwrap();
        assert_eq!((f.format, f.arrays.len(), f.metadata), (Format::Safetensors, 2, meta));
        assert_eq!(f.arrays[0].0, "a");

        let npy = dir.path().join("train_x.npy");
        write_npy(&npy, &t).unwrap();
        let f = load(&npy).unwrap();
        assert_eq!(f.arrays, vec![("train_x".to_string(), t.clone())]);
        assert_eq!(f.listing(), "`train_x` f32[2]");

        let npz = dir.path().join("d.npz");
        write_npz(&npz, &[("z".to_string(), t.clone()), ("y".to_string(), t.clone())]).unwrap();
        let f = load(&npz).unwrap();
        assert_eq!(f.arrays.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["z", "y"]);
        assert_eq!(f.get("y"), Some(&t));
        assert_eq!(f.get("x"), None);
    }
}
