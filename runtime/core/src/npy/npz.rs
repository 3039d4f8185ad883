//! `.npz` archives: a zip file of `.npy` members, one per named array (`numpy.savez` stores
//! them, `numpy.savez_compressed` deflates them).
//!
//! **Invariant**: a member's declared size is checked against what its compressed bytes could
//! possibly expand to before any buffer is sized from it, and the bytes actually read must match
//! the declared size, so a lying archive cannot trigger a huge allocation.

use super::{FileDType, encode_npy, read_npy_bytes_with_dtype};
use crate::fsutil::{IoError, atomic_write, lowercase_first, read_file};
use hg_exec::tensor::Tensor;
use std::collections::BTreeSet;
use std::io::{Cursor, Read, Write};
use std::path::Path;
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

/// deflate cannot expand data by more than this factor (1032:1 is its theoretical maximum).
const MAX_DEFLATE_RATIO: u64 = 1032;
/// Never reserve more than this up front; larger members grow their buffer as bytes arrive.
const MAX_RESERVE: u64 = 1 << 26;

/// Reads every array of an `.npz` file, in archive order, named without the `.npy` suffix.
pub fn read_npz(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>, IoError> {
    Ok(read_npz_with_dtypes(path)?.into_iter().map(|(name, t, _)| (name, t)).collect())
}

/// Reads every array of an `.npz` file like [`read_npz`], each with the element type its member
/// stores.
pub fn read_npz_with_dtypes(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor, FileDType)>, IoError> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    read_npz_bytes_with_dtypes(&bytes, &path.display().to_string())
}

/// Parses the bytes of an `.npz` file; `origin` names it in errors.
pub fn read_npz_bytes(bytes: &[u8], origin: &str) -> Result<Vec<(String, Tensor)>, IoError> {
    Ok(read_npz_bytes_with_dtypes(bytes, origin)?.into_iter().map(|(name, t, _)| (name, t)).collect())
}

fn read_npz_bytes_with_dtypes(bytes: &[u8], origin: &str) -> Result<Vec<(String, Tensor, FileDType)>, IoError> {
    let bad = |problem: String| IoError::malformed(origin, problem);
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| bad(format!("not a valid npz (zip) archive: {}", lowercase_first(&e.to_string()))))?;
    let mut seen = BTreeSet::new();
    let mut arrays = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let mut member = archive
            .by_index(index)
            .map_err(|e| bad(format!("cannot open archive member {index}: {}", lowercase_first(&e.to_string()))))?;
        if member.is_dir() {
            continue;
        }
        let member_name = member
            .name()
            .map_err(|e| bad(format!("archive member {index} has a bad name: {}", lowercase_first(&e.to_string()))))?
            .into_owned();
        let method = member.compression();
        let declared = member.size();
        let compressed = member.compressed_size();
        let limit = match method {
            CompressionMethod::Stored => compressed,
            CompressionMethod::Deflated => compressed.saturating_mul(MAX_DEFLATE_RATIO).saturating_add(1024),
            other => {
                return Err(bad(format!(
                    "member `{member_name}` uses compression {other}; only stored and deflated members are supported"
                )));
            }
        };
        if compressed > bytes.len() as u64 || declared > limit {
            return Err(bad(format!(
                "member `{member_name}` declares {declared} bytes from {compressed} compressed bytes, which is impossible"
            )));
        }
        let mut data = Vec::with_capacity(declared.min(MAX_RESERVE) as usize);
        // One byte more than declared detects members that expand past their declared size.
        (&mut member)
            .take(declared.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|e| bad(format!("member `{member_name}` is corrupt: {}", lowercase_first(&e.to_string()))))?;
        if data.len() as u64 != declared {
            return Err(bad(format!(
                "member `{member_name}` holds {} bytes but its header declares {declared}",
                data.len()
            )));
        }
        let name = member_name.strip_suffix(".npy").unwrap_or(&member_name).to_string();
        if !seen.insert(name.clone()) {
            return Err(bad(format!("array `{name}` appears twice")));
        }
        let (tensor, dtype) = read_npy_bytes_with_dtype(&data, &format!("{origin}/{member_name}"))?;
        arrays.push((name, tensor, dtype));
    }
    Ok(arrays)
}

/// Writes named arrays to an `.npz` file with stored (uncompressed) members, like `numpy.savez`.
pub fn write_npz(path: impl AsRef<Path>, arrays: &[(String, Tensor)]) -> Result<(), IoError> {
    write_archive(path.as_ref(), arrays, CompressionMethod::Stored)
}

/// Writes named arrays to an `.npz` file with deflated members, like `numpy.savez_compressed`.
pub fn write_npz_compressed(path: impl AsRef<Path>, arrays: &[(String, Tensor)]) -> Result<(), IoError> {
    write_archive(path.as_ref(), arrays, CompressionMethod::Deflated)
}

fn write_archive(path: &Path, arrays: &[(String, Tensor)], method: CompressionMethod) -> Result<(), IoError> {
    let unsupported = |problem: String| IoError::unsupported(path.display().to_string(), problem);
    let mut seen = BTreeSet::new();
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, tensor) in arrays {
        if name.is_empty() {
            return Err(unsupported("an array has an empty name".into()));
        }
        if !seen.insert(name.as_str()) {
            return Err(unsupported(format!("array `{name}` is given twice")));
        }
        let bytes = encode_npy(tensor);
        // Members of 4 GiB and more need zip64 records.
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .large_file(bytes.len() as u64 >= u64::from(u32::MAX));
        let zip_error = |e: &dyn std::fmt::Display| {
            unsupported(format!("cannot add array `{name}`: {}", lowercase_first(&e.to_string())))
        };
        zip.start_file(format!("{name}.npy"), options).map_err(|e| zip_error(&e))?;
        zip.write_all(&bytes).map_err(|e| zip_error(&e))?;
    }
    let bytes = zip
        .finish()
        .map_err(|e| unsupported(format!("cannot finish the archive: {}", lowercase_first(&e.to_string()))))?
        .into_inner();
    atomic_write(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hg_abi::DType;
    use hg_exec::tensor::TensorData;

    fn sample() -> Vec<(String, Tensor)> {
        vec![
            ("image".to_string(), Tensor::from_f32(vec![2, 2, 2], (0..8).map(|i| i as f32 / 8.0).collect()).unwrap()),
            ("label".to_string(), Tensor::from_i64(vec![2], vec![3, 9]).unwrap()),
            ("mask".to_string(), Tensor::new(DType::Bool, vec![2], TensorData::Bool(vec![true, false])).unwrap()),
        ]
    }

    #[test]
    fn stored_and_deflated_archives_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let stored = dir.path().join("s.npz");
        let deflated = dir.path().join("d.npz");
        write_npz(&stored, &sample()).unwrap();
        write_npz_compressed(&deflated, &sample()).unwrap();
        assert_eq!(read_npz(&stored).unwrap(), sample());
        assert_eq!(read_npz(&deflated).unwrap(), sample());
        let raw = std::fs::read(&stored).unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(&raw[..])).unwrap();
        assert_eq!(archive.by_index(0).unwrap().name().unwrap(), "image.npy");
        assert_eq!(archive.by_index(0).unwrap().compression(), CompressionMethod::Stored);
    }

    #[test]
    fn duplicate_names_are_rejected_on_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut arrays = sample();
        arrays.push(arrays[0].clone());
        let e = write_npz(dir.path().join("x.npz"), &arrays).unwrap_err().to_string();
        assert!(e.contains("x.npz") && e.contains("`image` is given twice"), "{e}");
    }

    #[test]
    fn corrupt_archives_give_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.npz");
        write_npz_compressed(&path, &sample()).unwrap();
        let good = std::fs::read(&path).unwrap();
        let err = |bytes: &[u8]| read_npz_bytes(bytes, "data.npz").unwrap_err().to_string();
        assert!(err(b"not a zip at all").contains("not a valid npz (zip) archive"));
        for cut in [0, 10, good.len() / 2, good.len() - 1] {
            assert!(err(&good[..cut]).starts_with("data.npz"), "cut {cut}");
        }
        // Flip bytes inside the first member's compressed data: the crc or inflate must notice.
        let mut flipped = good.clone();
        for b in &mut flipped[40..60] {
            *b ^= 0x5a;
        }
        assert!(err(&flipped).starts_with("data.npz"));
        // An npy member that is itself broken names the member.
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        zip.start_file("x.npy", SimpleFileOptions::default().compression_method(CompressionMethod::Stored)).unwrap();
        zip.write_all(b"\x93NUMPY\x01\x00garbage").unwrap();
        let inner = zip.finish().unwrap().into_inner();
        assert!(err(&inner).starts_with("data.npz/x.npy: "), "{}", err(&inner));
    }

    #[test]
    fn lying_member_sizes_are_caught_before_allocation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.npz");
        write_npz(&path, &sample()[..1]).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        // The central directory's uncompressed size sits 24 bytes after its signature.
        let cd = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        bytes[cd + 24..cd + 28].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        let e = read_npz_bytes(&bytes, "lie.npz").unwrap_err().to_string();
        assert!(e.contains("member `image.npy` declares 2147483647 bytes"), "{e}");
    }

    #[test]
    fn duplicate_names_are_rejected_on_read() {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        let npy = encode_npy(&Tensor::scalar_f32(1.0));
        zip.start_file("a.npy", options).unwrap();
        zip.write_all(&npy).unwrap();
        zip.start_file("a", options).unwrap();
        zip.write_all(&npy).unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let e = read_npz_bytes(&bytes, "dup.npz").unwrap_err().to_string();
        assert!(e.contains("`a` appears twice"), "{e}");
    }
}
