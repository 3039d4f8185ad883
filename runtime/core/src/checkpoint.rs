//! Checkpoints and weight files: named tensors plus string metadata in the safetensors format.
//!
//! Tensor names are stored verbatim (`param:encoder.mu.w`, `state:adam.m.encoder.mu.w`), so a
//! checkpoint maps one-to-one onto the tensors an entry point reads and writes. Each runtime
//! dtype has its safetensors twin (f16/bf16 are narrowed from their widened in-memory form on
//! save and widened again on load). Files from other tools may also hold `I8 I16 U8 U16` (loaded
//! as i32) and `U32 U64` (loaded as i64, when every value fits).
//!
//! **Invariant**: saving goes through [`atomic_write`], so a crash mid-save leaves the previous
//! checkpoint intact; loading validates the header, offsets and lengths against the file size
//! before touching the data, and every error names the file.

use crate::fsutil::{IoError, atomic_write, lowercase_first, read_file};
use hg_abi::DType;
use hg_exec::NamedTensors;
use hg_exec::tensor::{Tensor, TensorData};
use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// String metadata stored in a safetensors header (`__metadata__`).
pub type Metadata = BTreeMap<String, String>;

/// Saves named tensors and string metadata atomically.
pub fn save_safetensors(
    path: impl AsRef<Path>,
    tensors: &BTreeMap<String, Tensor>,
    metadata: &BTreeMap<String, String>,
) -> Result<(), IoError> {
    let path = path.as_ref();
    let bytes = safetensors_bytes(tensors, metadata, &path.display().to_string())?;
    atomic_write(path, &bytes)
}

/// Named tensors and string metadata as the bytes of a safetensors file (`origin` names the
/// destination in errors).
pub fn safetensors_bytes(
    tensors: &BTreeMap<String, Tensor>,
    metadata: &BTreeMap<String, String>,
    origin: &str,
) -> Result<Vec<u8>, IoError> {
    let encoded: Vec<(&str, Dtype, Vec<u8>, &[usize])> = tensors
        .iter()
        .map(|(name, t)| {
            let (dtype, bytes) = encode(t);
            (name.as_str(), dtype, bytes, t.shape())
        })
        .collect();
    let fail = |e: SafeTensorError| {
        IoError::unsupported(origin, format!("cannot encode safetensors: {}", lowercase_first(&e.to_string())))
    };
    let views = encoded
        .iter()
        .map(|(name, dtype, bytes, shape)| Ok((*name, TensorView::new(*dtype, shape.to_vec(), bytes)?)))
        .collect::<Result<Vec<_>, SafeTensorError>>()
        .map_err(fail)?;
    let info: HashMap<String, String> = metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    safetensors::serialize(views, (!info.is_empty()).then_some(info)).map_err(fail)
}

/// Loads every tensor and the metadata of a safetensors file.
pub fn load_safetensors(path: impl AsRef<Path>) -> Result<(NamedTensors, Metadata), IoError> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    load_safetensors_bytes(&bytes, &path.display().to_string())
}

/// Only the string metadata of a safetensors file, validated like [`load_safetensors`] but
/// without decoding any tensor (to read a checkpoint's counters and run record first).
pub fn load_safetensors_metadata(path: impl AsRef<Path>) -> Result<Metadata, IoError> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    let bad = |problem: String| IoError::malformed(path.display().to_string(), problem);
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(describe(&e, bytes.len())))?;
    Ok(header.metadata().iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// Like [`load_safetensors`], with the element type each tensor has in the file (`u8`), which
/// can be narrower than the tensor it is read into (i32), for reports about the file.
pub fn load_safetensors_with_dtypes(
    path: impl AsRef<Path>,
) -> Result<(NamedTensors, Metadata, BTreeMap<String, &'static str>), IoError> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    let origin = path.display().to_string();
    let (tensors, metadata) = load_safetensors_bytes(&bytes, &origin)?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| IoError::malformed(&origin, describe(&e, bytes.len())))?;
    let dtypes = file.iter().map(|(name, view)| (name.to_string(), dtype_name(view.dtype()))).collect();
    Ok((tensors, metadata, dtypes))
}

/// A safetensors element type in the runtime's spelling, by bits (`U8` is `u8`).
fn dtype_name(dtype: Dtype) -> &'static str {
    match dtype {
        Dtype::BOOL => "bool",
        Dtype::U8 => "u8",
        Dtype::I8 => "i8",
        Dtype::I16 => "i16",
        Dtype::U16 => "u16",
        Dtype::F16 => "f16",
        Dtype::BF16 => "bf16",
        Dtype::I32 => "i32",
        Dtype::U32 => "u32",
        Dtype::F32 => "f32",
        Dtype::F64 => "f64",
        Dtype::I64 => "i64",
        Dtype::U64 => "u64",
        _ => "?",
    }
}

/// Parses the bytes of a safetensors file; `origin` names it in errors.
pub fn load_safetensors_bytes(bytes: &[u8], origin: &str) -> Result<(NamedTensors, Metadata), IoError> {
    let bad = |problem: String| IoError::malformed(origin, problem);
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(describe(&e, bytes.len())))?;
    let file = SafeTensors::deserialize(bytes).map_err(|e| bad(describe(&e, bytes.len())))?;
    let metadata: BTreeMap<String, String> =
        header.metadata().iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut tensors = BTreeMap::new();
    for (name, view) in file.iter() {
        let tensor = decode(view.dtype(), view.shape().to_vec(), view.data())
            .map_err(|problem| bad(format!("tensor `{name}`: {problem}")))?;
        tensors.insert(name.to_string(), tensor);
    }
    Ok((tensors, metadata))
}

/// A lowercase, specific description of what the safetensors parser rejected.
fn describe(e: &SafeTensorError, file_len: usize) -> String {
    match e {
        SafeTensorError::HeaderTooSmall => {
            format!("not a safetensors file: {file_len} bytes is too short for the 8-byte header length")
        }
        SafeTensorError::HeaderTooLarge => "not a safetensors file: the header length exceeds 100 MB".into(),
        SafeTensorError::InvalidHeaderLength => {
            format!("not a safetensors file: the header length points past the end of the file ({file_len} bytes)")
        }
        SafeTensorError::InvalidHeader(_) => "the header is not valid utf-8".into(),
        SafeTensorError::InvalidHeaderStart => "the header does not start with '{'".into(),
        SafeTensorError::InvalidHeaderDeserialization(e) => format!("the header is not valid safetensors json: {e}"),
        SafeTensorError::MetadataIncompleteBuffer => {
            format!(
                "the tensor data does not match the file length ({file_len} bytes): the file is truncated or has extra bytes"
            )
        }
        SafeTensorError::InvalidOffset(name) => format!("tensor `{name}` has invalid data offsets"),
        SafeTensorError::TensorInvalidInfo => "a tensor's shape does not match the length of its data".into(),
        SafeTensorError::ValidationOverflow => "a tensor's shape is too large (its size overflows)".into(),
        other => format!("invalid safetensors file: {}", lowercase_first(&other.to_string())),
    }
}

fn encode(t: &Tensor) -> (Dtype, Vec<u8>) {
    match (t.dtype(), t.data()) {
        (DType::F16, TensorData::F32(v)) => {
            (Dtype::F16, v.iter().flat_map(|&x| half::f16::from_f32(x).to_le_bytes()).collect())
        }
        (DType::BF16, TensorData::F32(v)) => {
            (Dtype::BF16, v.iter().flat_map(|&x| half::bf16::from_f32(x).to_le_bytes()).collect())
        }
        (_, TensorData::F32(v)) => (Dtype::F32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        (_, TensorData::F64(v)) => (Dtype::F64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        (_, TensorData::I32(v)) => (Dtype::I32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        (_, TensorData::I64(v)) => (Dtype::I64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        (_, TensorData::Bool(v)) => (Dtype::BOOL, v.iter().map(|&x| u8::from(x)).collect()),
    }
}

/// Decodes little-endian elements of a validated view (its length matches its shape).
fn decode(dtype: Dtype, shape: Vec<usize>, data: &[u8]) -> Result<Tensor, String> {
    fn le<const N: usize, T>(data: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
        data.chunks_exact(N)
            .map(|c| {
                let mut b = [0u8; N];
                b.copy_from_slice(c);
                f(b)
            })
            .collect()
    }
    let (dtype, values) = match dtype {
        Dtype::F32 => (DType::F32, TensorData::F32(le(data, f32::from_le_bytes))),
        Dtype::F64 => (DType::F64, TensorData::F64(le(data, f64::from_le_bytes))),
        Dtype::F16 => (DType::F16, TensorData::F32(le(data, |b| half::f16::from_le_bytes(b).to_f32()))),
        Dtype::BF16 => (DType::BF16, TensorData::F32(le(data, |b| half::bf16::from_le_bytes(b).to_f32()))),
        Dtype::I32 => (DType::I32, TensorData::I32(le(data, i32::from_le_bytes))),
        Dtype::I64 => (DType::I64, TensorData::I64(le(data, i64::from_le_bytes))),
        Dtype::BOOL => (DType::Bool, TensorData::Bool(data.iter().map(|&b| b != 0).collect())),
        Dtype::I8 => (DType::I32, TensorData::I32(data.iter().map(|&b| i32::from(b as i8)).collect())),
        Dtype::U8 => (DType::I32, TensorData::I32(data.iter().map(|&b| i32::from(b)).collect())),
        Dtype::I16 => (DType::I32, TensorData::I32(le(data, |b| i32::from(i16::from_le_bytes(b))))),
        Dtype::U16 => (DType::I32, TensorData::I32(le(data, |b| i32::from(u16::from_le_bytes(b))))),
        Dtype::U32 => (DType::I64, TensorData::I64(le(data, |b| i64::from(u32::from_le_bytes(b))))),
        Dtype::U64 => {
            let values = le(data, u64::from_le_bytes)
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    i64::try_from(v).map_err(|_| format!("U64 element {i} has value {v}, which does not fit i64"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            (DType::I64, TensorData::I64(values))
        }
        other => return Err(format!("dtype {other:?} is not supported")),
    };
    Tensor::new(dtype, shape, values).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (BTreeMap<String, Tensor>, BTreeMap<String, String>) {
        let mut t = BTreeMap::new();
        t.insert(
            "param:encoder.mu.w".to_string(),
            Tensor::from_f32(vec![2, 3], vec![0.5, -1.0, 2.0, 3.5, 0.0, -0.25]).unwrap(),
        );
        t.insert("param:encoder.mu.b".to_string(), Tensor::from_f64(vec![3], vec![1e-9, 2.0, -3.0]).unwrap());
        t.insert("state:adam.m.encoder.mu.w".to_string(), Tensor::from_f32(vec![2, 3], vec![0.0; 6]).unwrap());
        t.insert("state:step".to_string(), Tensor::scalar_i64(1234));
        t.insert("count".to_string(), Tensor::new(DType::I32, vec![2], TensorData::I32(vec![-7, 7])).unwrap());
        t.insert(
            "mask".to_string(),
            Tensor::new(DType::Bool, vec![3], TensorData::Bool(vec![true, false, true])).unwrap(),
        );
        t.insert("half".to_string(), Tensor::new(DType::F16, vec![2], TensorData::F32(vec![1.5, -2.0])).unwrap());
        t.insert("brain".to_string(), Tensor::new(DType::BF16, vec![2], TensorData::F32(vec![0.5, 256.0])).unwrap());
        let mut m = BTreeMap::new();
        m.insert("epoch".to_string(), "3".to_string());
        m.insert("model".to_string(), "vae".to_string());
        (t, m)
    }

    #[test]
    fn round_trips_tensors_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt.safetensors");
        let (t, m) = sample();
        save_safetensors(&path, &t, &m).unwrap();
        let (t2, m2) = load_safetensors(&path).unwrap();
        assert_eq!(t2, t);
        assert_eq!(m2, m);
        // Saving again over the file replaces it.
        save_safetensors(&path, &BTreeMap::new(), &BTreeMap::new()).unwrap();
        assert_eq!(load_safetensors(&path).unwrap(), (BTreeMap::new(), BTreeMap::new()));
    }

    #[test]
    fn truncated_and_garbage_files_give_clean_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt.safetensors");
        let (t, m) = sample();
        save_safetensors(&path, &t, &m).unwrap();
        let good = std::fs::read(&path).unwrap();
        for cut in 0..good.len() {
            let e = load_safetensors_bytes(&good[..cut], "c.safetensors").unwrap_err().to_string();
            assert!(e.starts_with("c.safetensors: "), "cut {cut}: {e}");
        }
        let e = load_safetensors_bytes(&good[..good.len() - 1], "c.safetensors").unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        let e = load_safetensors_bytes(&good[..4], "c.safetensors").unwrap_err().to_string();
        assert!(e.contains("too short"), "{e}");
        let e =
            load_safetensors_bytes(b"\xff\xff\xff\xff\xff\xff\xff\x7fhello", "c.safetensors").unwrap_err().to_string();
        assert!(e.contains("exceeds 100 MB"), "{e}");
        let e = load_safetensors_bytes(b"\x05\0\0\0\0\0\0\0hello", "c.safetensors").unwrap_err().to_string();
        assert!(e.contains("not valid safetensors json"), "{e}");
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        assert!(
            load_safetensors_bytes(&garbage, "g.safetensors").unwrap_err().to_string().starts_with("g.safetensors: ")
        );
        std::fs::write(&path, &good[..good.len() / 2]).unwrap();
        let e = load_safetensors(&path).unwrap_err().to_string();
        assert!(e.contains("ckpt.safetensors"), "{e}");
        let e = load_safetensors(dir.path().join("none.safetensors")).unwrap_err().to_string();
        assert!(e.starts_with("cannot read") && e.contains("none.safetensors"), "{e}");
    }

    #[test]
    fn foreign_integer_dtypes_widen() {
        let data = [0xffu8, 0x01];
        let view = TensorView::new(Dtype::U8, vec![2], &data).unwrap();
        let bytes = safetensors::serialize([("x", view)], None).unwrap();
        let (t, _) = load_safetensors_bytes(&bytes, "f.safetensors").unwrap();
        assert_eq!(t["x"], Tensor::new(DType::I32, vec![2], TensorData::I32(vec![255, 1])).unwrap());
        // The file's own type stays known, for reports about the file.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.safetensors");
        std::fs::write(&path, &bytes).unwrap();
        let (t2, _, dtypes) = load_safetensors_with_dtypes(&path).unwrap();
        assert_eq!((t2, dtypes), (t, [("x".to_string(), "u8")].into()));
        let big = u64::MAX.to_le_bytes();
        let view = TensorView::new(Dtype::U64, vec![1], &big).unwrap();
        let bytes = safetensors::serialize([("y", view)], None).unwrap();
        let e = load_safetensors_bytes(&bytes, "f.safetensors").unwrap_err().to_string();
        assert!(e.contains("tensor `y`") && e.contains("does not fit i64"), "{e}");
    }
}
