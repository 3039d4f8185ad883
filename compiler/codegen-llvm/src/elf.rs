//! Test support: the shared libraries an ELF executable asks the dynamic loader for (its
//! `DT_NEEDED` entries), read straight from the file so the check needs no external tool.
//!
//! Only 64-bit little-endian ELF is understood, which covers the x86-64 and AArch64 hosts we
//! build on; anything else is an error, never a silent empty list. Every read is bounds checked.

/// The `DT_NEEDED` names of the ELF image `bytes`, in file order.
pub fn needed_libraries(bytes: &[u8]) -> Result<Vec<String>, String> {
    if bytes.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err("not an ELF file".into());
    }
    if bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
        return Err("only 64-bit little-endian ELF is supported".into());
    }
    let section_table = read_u64(bytes, 0x28)? as usize;
    let section_size = read_u16(bytes, 0x3a)? as usize;
    let section_count = read_u16(bytes, 0x3c)? as usize;
    let section = |index: usize| -> Result<Section, String> {
        let base = section_table + index * section_size;
        Ok(Section {
            kind: read_u32(bytes, base + 4)?,
            offset: read_u64(bytes, base + 24)? as usize,
            size: read_u64(bytes, base + 32)? as usize,
            link: read_u32(bytes, base + 40)? as usize,
        })
    };

    const SHT_DYNAMIC: u32 = 6;
    const DT_NULL: u64 = 0;
    const DT_NEEDED: u64 = 1;
    let mut needed = Vec::new();
    for index in 0..section_count {
        let dynamic = section(index)?;
        if dynamic.kind != SHT_DYNAMIC {
            continue;
        }
        let strings = section(dynamic.link)?;
        for entry in (dynamic.offset..dynamic.offset + dynamic.size).step_by(16) {
            let tag = read_u64(bytes, entry)?;
            if tag == DT_NULL {
                break;
            }
            if tag == DT_NEEDED {
                let start = strings.offset + read_u64(bytes, entry + 8)? as usize;
                let tail = bytes.get(start..).ok_or("string offset out of range")?;
                let end = tail.iter().position(|&b| b == 0).ok_or("unterminated string")?;
                needed.push(String::from_utf8_lossy(&tail[..end]).into_owned());
            }
        }
    }
    Ok(needed)
}

struct Section {
    kind: u32,
    offset: usize,
    size: usize,
    link: usize,
}

fn read<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N], String> {
    at.checked_add(N)
        .and_then(|end| bytes.get(at..end))
        .and_then(|slice| slice.try_into().ok())
        .ok_or_else(|| format!("ELF read of {N} bytes at {at:#x} is out of range"))
}

fn read_u16(bytes: &[u8], at: usize) -> Result<u16, String> {
    read(bytes, at).map(u16::from_le_bytes)
}

fn read_u32(bytes: &[u8], at: usize) -> Result<u32, String> {
    read(bytes, at).map(u32::from_le_bytes)
}

fn read_u64(bytes: &[u8], at: usize) -> Result<u64, String> {
    read(bytes, at).map(u64::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::needed_libraries;

    #[test]
    fn rejects_non_elf_and_truncated_input() {
        assert_eq!(needed_libraries(b"#!/bin/sh\n").unwrap_err(), "not an ELF file");
        let truncated = b"\x7fELF\x02\x01\x01\x00";
        assert!(needed_libraries(truncated).unwrap_err().contains("out of range"));
    }
}
