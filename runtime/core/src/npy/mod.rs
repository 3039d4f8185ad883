//! numpy's `.npy` and `.npz` files, the interchange format for data sets and model outputs.
//!
//! Reading accepts format versions 1.0, 2.0 and 3.0, either byte order, and the dtypes `f2 f4
//! f8 i1 i2 i4 i8 u1 u2 u4 u8 b1` in C order. Narrow integers widen to the smallest runtime type
//! that holds every value (`i1 i2 i4 u1 u2` → i32, `i8 u4` → i64, `u8` → i64 when each value
//! fits); `f2` becomes an f16 tensor (kept widened in memory). The `_with_dtype(s)` readers
//! also return the [`FileDType`] the file stores, so messages about a user's file name the type
//! it has (`u8`), not the one it was widened to. Writing produces little-endian version 1.0
//! files (2.0 when the header is too long), exactly as `numpy.save` would.
//!
//! **Invariant**: every length read from a file is checked against the bytes actually present
//! before anything is sliced or allocated, so a corrupt or hostile file yields an [`IoError`]
//! naming the file, never a panic or a huge allocation.

mod header;
mod npz;

pub use header::FileDType;
pub use npz::{read_npz, read_npz_bytes, read_npz_with_dtypes, write_npz, write_npz_compressed};

use crate::fsutil::{IoError, atomic_write, read_file};
use header::{format_header, parse_header};
use hg_abi::DType;
use hg_exec::tensor::{Tensor, TensorData, num_elements};
use std::path::Path;

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// numpy aligns the start of the array data to this many bytes.
const ALIGN: usize = 64;

/// Reads one `.npy` file.
pub fn read_npy(path: impl AsRef<Path>) -> Result<Tensor, IoError> {
    read_npy_with_dtype(path).map(|(t, _)| t)
}

/// Reads one `.npy` file, with the element type the file stores.
pub fn read_npy_with_dtype(path: impl AsRef<Path>) -> Result<(Tensor, FileDType), IoError> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    read_npy_bytes_with_dtype(&bytes, &path.display().to_string())
}

/// Parses the bytes of an `.npy` file; `origin` names it in errors.
pub fn read_npy_bytes(bytes: &[u8], origin: &str) -> Result<Tensor, IoError> {
    read_npy_bytes_with_dtype(bytes, origin).map(|(t, _)| t)
}

/// Parses the bytes of an `.npy` file into the tensor and the element type the file stores.
pub fn read_npy_bytes_with_dtype(bytes: &[u8], origin: &str) -> Result<(Tensor, FileDType), IoError> {
    let bad = |problem: String| IoError::malformed(origin, problem);
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("not an npy file (it does not start with the bytes \\x93NUMPY)".into()));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (header_len, header_start) = match major {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 => {
            let len = bytes.get(8..12).ok_or_else(|| bad("file ends inside the header length".into()))?;
            let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]);
            (usize::try_from(len).map_err(|_| bad("header length does not fit in memory".into()))?, 12)
        }
        _ => return Err(bad(format!("unsupported npy format version {major}.{minor} (supported: 1.0, 2.0, 3.0)"))),
    };
    let header_end = header_start + header_len;
    let header_bytes = bytes.get(header_start..header_end).ok_or_else(|| {
        bad(format!("header of {header_len} bytes runs past the end of the file ({} bytes)", bytes.len()))
    })?;
    // Versions 1 and 2 store the header in latin-1, version 3 in utf-8.
    let text: String = if major == 3 {
        std::str::from_utf8(header_bytes).map_err(|_| bad("header is not valid utf-8".into()))?.to_string()
    } else {
        header_bytes.iter().map(|&b| char::from(b)).collect()
    };
    let header = parse_header(&text).map_err(bad)?;
    if header.fortran_order {
        return Err(bad(
            "array is stored in fortran (column-major) order, which is not supported; save it in C order".into()
        ));
    }
    let shape = header.shape;
    let count = num_elements(&shape).ok_or_else(|| bad(format!("shape {shape:?} has too many elements")))?;
    let size = header.descr.kind.size();
    let n_bytes = count.checked_mul(size).ok_or_else(|| bad(format!("shape {shape:?} has too many elements")))?;
    let data = &bytes[header_end..];
    if data.len() < n_bytes {
        return Err(bad(format!(
            "file is truncated: shape {shape:?} needs {n_bytes} bytes of data but only {} follow the header",
            data.len()
        )));
    }
    if data.len() > n_bytes {
        return Err(bad(format!(
            "file has {} unexpected bytes after the data of shape {shape:?}",
            data.len() - n_bytes
        )));
    }
    let big = header.descr.big_endian;
    let stored = header.descr.kind;
    let (dtype, values) = match stored {
        FileDType::F16 => (DType::F16, TensorData::F32(decode(data, big, |b| half::f16::from_le_bytes(b).to_f32()))),
        FileDType::F32 => (DType::F32, TensorData::F32(decode(data, big, f32::from_le_bytes))),
        FileDType::F64 => (DType::F64, TensorData::F64(decode(data, big, f64::from_le_bytes))),
        FileDType::I8 => (DType::I32, TensorData::I32(decode(data, big, |b: [u8; 1]| i32::from(b[0] as i8)))),
        FileDType::I16 => (DType::I32, TensorData::I32(decode(data, big, |b| i32::from(i16::from_le_bytes(b))))),
        FileDType::I32 => (DType::I32, TensorData::I32(decode(data, big, i32::from_le_bytes))),
        FileDType::I64 => (DType::I64, TensorData::I64(decode(data, big, i64::from_le_bytes))),
        FileDType::U8 => (DType::I32, TensorData::I32(decode(data, big, |b: [u8; 1]| i32::from(b[0])))),
        FileDType::U16 => (DType::I32, TensorData::I32(decode(data, big, |b| i32::from(u16::from_le_bytes(b))))),
        FileDType::U32 => (DType::I64, TensorData::I64(decode(data, big, |b| i64::from(u32::from_le_bytes(b))))),
        FileDType::U64 => {
            let wide = decode(data, big, u64::from_le_bytes);
            let values = wide
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    i64::try_from(v).map_err(|_| bad(format!("u64 element {i} has value {v}, which does not fit i64")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            (DType::I64, TensorData::I64(values))
        }
        FileDType::Bool => (DType::Bool, TensorData::Bool(data.iter().map(|&b| b != 0).collect())),
    };
    let tensor = Tensor::new(dtype, shape, values).map_err(|e| bad(e.to_string()))?;
    Ok((tensor, stored))
}

/// Decodes fixed-size elements; `from_le` reads one element from little-endian bytes, and
/// big-endian elements are byte-reversed first.
fn decode<const N: usize, T>(data: &[u8], big_endian: bool, from_le: impl Fn([u8; N]) -> T) -> Vec<T> {
    data.chunks_exact(N)
        .map(|chunk| {
            let mut b = [0u8; N];
            b.copy_from_slice(chunk);
            if big_endian {
                b.reverse();
            }
            from_le(b)
        })
        .collect()
}

/// Encodes a tensor as the bytes of an `.npy` file. bf16 tensors are written as `<f4` (numpy has
/// no bf16 type; widening is exact), f16 tensors as `<f2`.
pub fn encode_npy(t: &Tensor) -> Vec<u8> {
    let (descr, payload): (&str, Vec<u8>) = match (t.dtype(), t.data()) {
        (DType::F16, TensorData::F32(v)) => {
            ("<f2", v.iter().flat_map(|&x| half::f16::from_f32(x).to_le_bytes()).collect())
        }
        (_, TensorData::F32(v)) => ("<f4", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        (_, TensorData::F64(v)) => ("<f8", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        (_, TensorData::I32(v)) => ("<i4", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        (_, TensorData::I64(v)) => ("<i8", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        (_, TensorData::Bool(v)) => ("|b1", v.iter().map(|&x| u8::from(x)).collect()),
    };
    let mut header = format_header(descr, t.shape());
    // Version 1.0 has a 16-bit header length; longer headers (huge ranks) need version 2.0.
    let (version, preamble) =
        if header.len() + 1 + 10 + ALIGN <= usize::from(u16::MAX) { (1u8, 10) } else { (2u8, 12) };
    let unpadded = preamble + header.len() + 1;
    header.push_str(&" ".repeat((ALIGN - unpadded % ALIGN) % ALIGN));
    header.push('\n');
    let mut out = Vec::with_capacity(preamble + header.len() + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Writes a tensor to an `.npy` file atomically.
pub fn write_npy(path: impl AsRef<Path>, t: &Tensor) -> Result<(), IoError> {
    atomic_write(path.as_ref(), &encode_npy(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds an npy file by hand, the way another writer might.
    fn npy(version: u8, header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[version, 0]);
        if version == 1 {
            out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn hdr(descr: &str, shape: &str) -> String {
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n")
    }

    fn all_dtypes() -> Vec<Tensor> {
        vec![
            Tensor::from_f32(vec![2, 3], vec![0.5, -1.0, 2.25, f32::MAX, f32::MIN_POSITIVE, -0.0]).unwrap(),
            Tensor::from_f64(vec![3], vec![1e-300, -2.5, std::f64::consts::PI]).unwrap(),
            Tensor::new(DType::I32, vec![2, 2], TensorData::I32(vec![i32::MIN, -1, 0, i32::MAX])).unwrap(),
            Tensor::from_i64(vec![], vec![i64::MIN]).unwrap(),
            Tensor::new(DType::Bool, vec![4], TensorData::Bool(vec![true, false, false, true])).unwrap(),
            Tensor::new(DType::F16, vec![3], TensorData::F32(vec![1.5, -65504.0, 0.000_061_035_156])).unwrap(),
            Tensor::from_f32(vec![0, 5], vec![]).unwrap(),
        ]
    }

    #[test]
    fn round_trips_every_dtype_through_files() {
        let dir = tempfile::tempdir().unwrap();
        for (i, t) in all_dtypes().into_iter().enumerate() {
            let path = dir.path().join(format!("t{i}.npy"));
            write_npy(&path, &t).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(bytes[..6], MAGIC[..]);
            let data_start = 10 + usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
            assert_eq!(data_start % ALIGN, 0, "data is 64-byte aligned");
            assert_eq!(read_npy(&path).unwrap(), t);
        }
    }

    #[test]
    fn bf16_is_written_as_f32() {
        let t = Tensor::new(DType::BF16, vec![2], TensorData::F32(vec![1.0, -3.0])).unwrap();
        let back = read_npy_bytes(&encode_npy(&t), "x.npy").unwrap();
        assert_eq!(back, Tensor::from_f32(vec![2], vec![1.0, -3.0]).unwrap());
    }

    #[test]
    fn reads_other_versions_byte_orders_and_narrow_types() {
        let be = npy(2, &hdr(">f4", "(2,)"), &[0x3f, 0x80, 0, 0, 0xc0, 0x00, 0, 0]);
        assert_eq!(read_npy_bytes(&be, "be.npy").unwrap().to_f64_vec(), vec![1.0, -2.0]);
        let v3 = npy(3, &hdr("<i2", "(2,)"), &[0xff, 0xff, 0x02, 0x01]);
        let t = read_npy_bytes(&v3, "v3.npy").unwrap();
        assert_eq!((t.dtype(), t.to_f64_vec()), (DType::I32, vec![-1.0, 258.0]));
        let cases: [(&str, &[u8], DType, Vec<f64>); 7] = [
            ("|i1", &[0x80, 0x7f], DType::I32, vec![-128.0, 127.0]),
            ("|u1", &[0xff, 0x00], DType::I32, vec![255.0, 0.0]),
            (">u2", &[0xff, 0xfe, 0, 1], DType::I32, vec![65534.0, 1.0]),
            ("<u4", &[0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0], DType::I64, vec![4294967295.0, 1.0]),
            (
                ">i8",
                &[0, 0, 0, 0, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe],
                DType::I64,
                vec![256.0, -2.0],
            ),
            ("<u8", &[7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], DType::I64, vec![7.0, 0.0]),
            ("<f2", &[0x00, 0x3c, 0x00, 0xc0], DType::F16, vec![1.0, -2.0]),
        ];
        for (descr, data, dtype, want) in cases {
            let t = read_npy_bytes(&npy(1, &hdr(descr, "(2,)"), data), "n.npy").unwrap();
            assert_eq!((t.dtype(), t.to_f64_vec()), (dtype, want), "{descr}");
        }
        let b = read_npy_bytes(&npy(1, &hdr("|b1", "(1, 3)"), &[1, 0, 1]), "b.npy").unwrap();
        assert_eq!((b.dtype(), b.shape()), (DType::Bool, &[1usize, 3][..]));
    }

    #[test]
    fn readers_report_the_dtype_the_file_stores() {
        let cases = [
            ("|u1", FileDType::U8, DType::I32),
            ("|i1", FileDType::I8, DType::I32),
            ("<u2", FileDType::U16, DType::I32),
            ("<i2", FileDType::I16, DType::I32),
            ("<u4", FileDType::U32, DType::I64),
            ("<u8", FileDType::U64, DType::I64),
            ("<f2", FileDType::F16, DType::F16),
            ("|b1", FileDType::Bool, DType::Bool),
        ];
        for (descr, stored, widened) in cases {
            let size = usize::from(descr.as_bytes()[2] - b'0');
            let (t, dtype) =
                read_npy_bytes_with_dtype(&npy(1, &hdr(descr, "(2,)"), &vec![0; 2 * size]), "n.npy").unwrap();
            assert_eq!((dtype, t.dtype()), (stored, widened), "{descr}");
        }
        assert_eq!(FileDType::U8.to_string(), "u8");
        assert!(FileDType::U16.is_int() && !FileDType::F16.is_int() && !FileDType::Bool.is_int());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.npy");
        write_npy(&path, &Tensor::from_f64(vec![1], vec![0.5]).unwrap()).unwrap();
        assert_eq!(read_npy_with_dtype(&path).unwrap().1, FileDType::F64);
        let archive = dir.path().join("a.npz");
        write_npz(&archive, &[("m".into(), Tensor::from_i64(vec![1], vec![3]).unwrap())]).unwrap();
        let read = read_npz_with_dtypes(&archive).unwrap();
        assert_eq!((read[0].0.as_str(), read[0].2), ("m", FileDType::I64));
    }

    #[test]
    fn corrupt_files_give_specific_errors() {
        let good = encode_npy(&Tensor::from_f32(vec![4], vec![1.0; 4]).unwrap());
        let err = |bytes: &[u8]| read_npy_bytes(bytes, "bad.npy").unwrap_err().to_string();
        assert!(err(b"").contains("not an npy file"));
        assert!(err(b"PK\x03\x04 zip file, not npy").contains("not an npy file"));
        let mut v9 = good.clone();
        v9[6] = 9;
        assert!(err(&v9).contains("unsupported npy format version 9.0"));
        // Header length pointing past the end of the file.
        let mut long = good[..20].to_vec();
        long[8] = 0xff;
        long[9] = 0xff;
        assert!(err(&long).contains("header of 65535 bytes runs past the end of the file (20 bytes)"));
        // Every truncation point fails cleanly.
        for cut in 0..good.len() {
            let e = err(&good[..cut]);
            assert!(e.starts_with("bad.npy: "), "{e}");
        }
        assert!(err(&good[..good.len() - 3]).contains("needs 16 bytes of data but only 13"));
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(err(&trailing).contains("1 unexpected bytes"));
        // A shape whose byte size overflows is rejected before any allocation.
        let huge = npy(1, &hdr("<f8", "(4611686018427387904, 4)"), &[]);
        assert!(err(&huge).contains("too many elements"));
        let big = npy(1, &hdr("<f8", "(1000000000000,)"), &[0; 8]);
        assert!(err(&big).contains("file is truncated"));
        let fortran = npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }\n", &[0; 16]);
        assert!(err(&fortran).contains("fortran (column-major) order"));
        let object = npy(1, &hdr("|O", "(1,)"), &[0; 8]);
        assert!(err(&object).contains("object arrays"));
        let u8_big = npy(1, &hdr("<u8", "(1,)"), &[0xff; 8]);
        assert!(err(&u8_big).contains("does not fit i64"));
        let v3_latin = npy(3, "{'descr': '\u{e9}'}", &[]);
        let mut bad_utf8 = v3_latin.clone();
        bad_utf8[12 + 11] = 0xff;
        assert!(err(&bad_utf8).contains("not valid utf-8"));
    }

    #[test]
    fn write_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("out.npy");
        let e = write_npy(&path, &Tensor::scalar_f32(1.0)).unwrap_err().to_string();
        assert!(e.contains("out.npy"), "{e}");
    }
}
