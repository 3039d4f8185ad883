//! The IDX format of the MNIST family: a 4-byte magic (`0 0 type ndim`), `ndim` big-endian u32
//! dimensions, then the elements in row-major order, usually gzip-compressed.
//!
//! Only unsigned-byte elements (type 0x08) are read, which is all the MNIST-style sets use.
//! **Invariant**: the buffer grows only as decompressed bytes actually arrive, so a header that
//! claims huge dimensions costs nothing until the data is really there; a short file is an
//! error naming the file and how many bytes were missing.

use crate::fsutil::IoError;
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// The dimensions and elements of an IDX file, possibly cut to its first `limit` rows.
#[derive(Debug, PartialEq)]
pub(crate) struct IdxBytes {
    /// Dimensions with the first one cut to the rows read.
    pub dims: Vec<usize>,
    /// The first dimension as the file declares it.
    pub declared_rows: usize,
    pub data: Vec<u8>,
}

/// Reads an IDX file of unsigned bytes (gzip-compressed or plain), at most `limit` rows.
pub(crate) fn read_idx_u8(path: &Path, limit: Option<usize>) -> Result<IdxBytes, IoError> {
    let file = File::open(path).map_err(|e| IoError::read(path, e))?;
    let mut reader = BufReader::new(file);
    let head = reader.fill_buf().map_err(|e| IoError::read(path, e))?;
    let gzipped = head.starts_with(&[0x1f, 0x8b]);
    let mut reader: Box<dyn Read> = if gzipped { Box::new(MultiGzDecoder::new(reader)) } else { Box::new(reader) };
    parse(&mut reader, limit, &path.display().to_string())
}

fn parse(reader: &mut dyn Read, limit: Option<usize>, origin: &str) -> Result<IdxBytes, IoError> {
    let bad = |problem: String| IoError::malformed(origin, problem);
    let stream_error = |e: io::Error, what: &str| match e.kind() {
        io::ErrorKind::UnexpectedEof => bad(format!("file ends inside the {what}")),
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => {
            bad(format!("corrupt gzip data in the {what}: {}", crate::fsutil::lowercase_first(&e.to_string())))
        }
        _ => IoError::Read { path: origin.to_string(), source: e },
    };
    let mut magic = [0u8; 4];
    reader.read_exact(&mut magic).map_err(|e| stream_error(e, "idx header"))?;
    if magic[0] != 0 || magic[1] != 0 {
        return Err(bad(format!(
            "not an idx file (magic bytes {:02x} {:02x} {:02x} {:02x}; an idx file starts with 00 00)",
            magic[0], magic[1], magic[2], magic[3]
        )));
    }
    if magic[2] != 0x08 {
        return Err(bad(format!("idx element type 0x{:02x} is not supported (only 0x08, unsigned bytes)", magic[2])));
    }
    let ndim = usize::from(magic[3]);
    if ndim == 0 {
        return Err(bad("idx file has no dimensions".into()));
    }
    let mut dims = Vec::with_capacity(ndim);
    for _ in 0..ndim {
        let mut d = [0u8; 4];
        reader.read_exact(&mut d).map_err(|e| stream_error(e, "idx dimensions"))?;
        dims.push(u32::from_be_bytes(d) as usize);
    }
    let declared_rows = dims[0];
    if let Some(limit) = limit {
        dims[0] = dims[0].min(limit);
    }
    let needed = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad(format!("idx dimensions {dims:?} are too large")))?;
    let mut data = Vec::new();
    Read::take(&mut *reader, needed as u64).read_to_end(&mut data).map_err(|e| stream_error(e, "idx data"))?;
    if data.len() != needed {
        return Err(bad(format!(
            "file is truncated: dimensions {dims:?} need {needed} data bytes but the file holds {}",
            data.len()
        )));
    }
    // After a full read, one more read must hit the end: that also makes the gzip decoder check
    // its crc and length trailer, which catches corruption that still inflates.
    if dims[0] == declared_rows {
        let mut extra = [0u8; 1];
        match reader.read(&mut extra) {
            Ok(0) => {}
            Ok(_) => return Err(bad(format!("file has unexpected bytes after the {needed} data bytes"))),
            Err(e) => return Err(stream_error(e, "idx data")),
        }
    }
    Ok(IdxBytes { dims, declared_rows, data })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    /// An IDX file of unsigned bytes, gzip-compressed when `gz` is set.
    pub(crate) fn idx_file(dims: &[u32], data: &[u8], gz: bool) -> Vec<u8> {
        let mut raw = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            raw.extend_from_slice(&d.to_be_bytes());
        }
        raw.extend_from_slice(data);
        if !gz {
            return raw;
        }
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(&raw).unwrap();
        enc.finish().unwrap()
    }

    fn read(bytes: &[u8], limit: Option<usize>) -> Result<IdxBytes, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x-idx.gz");
        std::fs::write(&path, bytes).unwrap();
        read_idx_u8(&path, limit).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_plain_and_gzipped_files_with_limits() {
        let data: Vec<u8> = (0..24).collect();
        for gz in [false, true] {
            let file = idx_file(&[3, 2, 4], &data, gz);
            let all = read(&file, None).unwrap();
            assert_eq!(all, IdxBytes { dims: vec![3, 2, 4], declared_rows: 3, data: data.clone() });
            let two = read(&file, Some(2)).unwrap();
            assert_eq!((two.dims, two.declared_rows, two.data), (vec![2, 2, 4], 3, data[..16].to_vec()));
        }
    }

    #[test]
    fn corrupt_files_are_reported() {
        let file = idx_file(&[3, 2, 4], &(0..24).collect::<Vec<u8>>(), true);
        for cut in [0, 5, 12, file.len() - 9] {
            let e = read(&file[..cut], None).unwrap_err();
            assert!(e.contains("x-idx.gz: "), "{e}");
        }
        let e = read(&idx_file(&[3, 2, 4], &[0; 10], false), None).unwrap_err();
        assert!(e.contains("need 24 data bytes but the file holds 10"), "{e}");
        let e = read(&idx_file(&[u32::MAX, u32::MAX, u32::MAX], &[0; 10], true), None).unwrap_err();
        assert!(e.contains("too large"), "{e}");
        let e = read(&idx_file(&[4_000_000, 4_000], &[0; 10], true), None).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
        let mut long = idx_file(&[2], &[1, 2], false);
        long.push(3);
        assert!(read(&long, None).unwrap_err().contains("unexpected bytes after the 2 data bytes"));
        assert_eq!(read(&long, Some(1)).unwrap().data, vec![1]);
        let e = read(b"\x01\x02\x08\x01abcd", None).unwrap_err();
        assert!(e.contains("not an idx file"), "{e}");
        let e = read(b"\x00\x00\x0d\x01\x00\x00\x00\x01abcd", None).unwrap_err();
        assert!(e.contains("element type 0x0d"), "{e}");
        let mut broken = file.clone();
        for b in &mut broken[12..20] {
            *b ^= 0xff;
        }
        assert!(read(&broken, None).unwrap_err().contains("x-idx.gz: "));
        let e = read_idx_u8(Path::new("missing-idx.gz"), None).unwrap_err().to_string();
        assert!(e.starts_with("cannot read missing-idx.gz"), "{e}");
    }
}
