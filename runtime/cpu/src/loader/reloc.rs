//! The x86-64 relocations the loader applies: which ELF types it takes, and the value each
//! writes, computed in `i128` and checked against its field so nothing is ever truncated.
//!
//! Symbols beyond ±2 GiB of the code are reached through the region's GOT and stubs; choosing
//! between a direct target, a GOT slot and a stub is the caller's job. Here the target is just
//! an address.

use object::elf;

/// A relocation type the loader applies, grouped by the formula it computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `R_X86_64_NONE`: nothing to write.
    None,
    /// `S + A`, 64 bits.
    Abs64,
    /// `S + A`, zero-extended 32 bits.
    Abs32,
    /// `S + A`, sign-extended 32 bits.
    Abs32S,
    /// `S + A - P`, signed 32 bits: data references and, by some producers, calls.
    Pc32,
    /// `L + A - P`, signed 32 bits: a call or jump, which may go through a stub.
    Plt32,
    /// `G + GOT + A - P`, signed 32 bits: the address of the symbol's GOT slot.
    GotPc32,
    /// `S + A - P`, 64 bits.
    Pc64,
}

impl Kind {
    /// The kind of an ELF relocation type, or `None` when the loader does not apply it.
    pub(crate) fn of(r_type: u32) -> Option<Kind> {
        Some(match r_type {
            elf::R_X86_64_NONE => Kind::None,
            elf::R_X86_64_64 => Kind::Abs64,
            elf::R_X86_64_32 => Kind::Abs32,
            elf::R_X86_64_32S => Kind::Abs32S,
            elf::R_X86_64_PC32 => Kind::Pc32,
            elf::R_X86_64_PLT32 => Kind::Plt32,
            // Without relaxation every GOTPCREL variant is the same load through a GOT slot.
            elf::R_X86_64_GOTPCREL
            | elf::R_X86_64_GOTPCRELX
            | elf::R_X86_64_REX_GOTPCRELX
            | elf::R_X86_64_CODE_4_GOTPCRELX
            | elf::R_X86_64_CODE_5_GOTPCRELX
            | elf::R_X86_64_CODE_6_GOTPCRELX => Kind::GotPc32,
            elf::R_X86_64_PC64 => Kind::Pc64,
            _ => return None,
        })
    }

    /// How many bytes the relocation writes at its offset.
    pub(crate) fn width(self) -> u64 {
        match self {
            Kind::None => 0,
            Kind::Abs64 | Kind::Pc64 => 8,
            Kind::Abs32 | Kind::Abs32S | Kind::Pc32 | Kind::Plt32 | Kind::GotPc32 => 4,
        }
    }

    pub(crate) fn uses_got(self) -> bool {
        self == Kind::GotPc32
    }
}

/// A computed value that does not fit the field it would be written to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Overflow {
    pub value: i128,
    pub field: &'static str,
}

/// The little-endian bytes `kind` writes for a target address (the symbol, its GOT slot or
/// its stub), an addend and the address of the patched field.
pub(crate) fn encode(kind: Kind, target: u64, addend: i64, site: u64) -> Result<Vec<u8>, Overflow> {
    let absolute = i128::from(target) + i128::from(addend);
    let relative = absolute - i128::from(site);
    match kind {
        Kind::None => Ok(Vec::new()),
        // A 64-bit field holds any address, and a negative value as its two's complement.
        Kind::Abs64 => fit::<u64>(absolute, "64 bits")
            .or_else(|_| fit::<i64>(absolute, "64 bits").map(|v| v as u64))
            .map(|v| v.to_le_bytes().to_vec()),
        Kind::Abs32 => fit::<u32>(absolute, "32 bits unsigned").map(|v| v.to_le_bytes().to_vec()),
        Kind::Abs32S => fit::<i32>(absolute, "32 bits signed").map(|v| v.to_le_bytes().to_vec()),
        Kind::Pc32 | Kind::Plt32 | Kind::GotPc32 => {
            fit::<i32>(relative, "32 bits signed").map(|v| v.to_le_bytes().to_vec())
        }
        Kind::Pc64 => fit::<i64>(relative, "64 bits signed").map(|v| v.to_le_bytes().to_vec()),
    }
}

fn fit<T: TryFrom<i128>>(value: i128, field: &'static str) -> Result<T, Overflow> {
    T::try_from(value).map_err(|_| Overflow { value, field })
}

/// `R_X86_64_*` name of a relocation type for messages, or its number when unknown.
pub(crate) fn type_name(r_type: u32) -> String {
    const NAMES: &[&str] = &[
        "NONE",
        "64",
        "PC32",
        "GOT32",
        "PLT32",
        "COPY",
        "GLOB_DAT",
        "JUMP_SLOT",
        "RELATIVE",
        "GOTPCREL",
        "32",
        "32S",
        "16",
        "PC16",
        "8",
        "PC8",
        "DTPMOD64",
        "DTPOFF64",
        "TPOFF64",
        "TLSGD",
        "TLSLD",
        "DTPOFF32",
        "GOTTPOFF",
        "TPOFF32",
        "PC64",
        "GOTOFF64",
        "GOTPC32",
        "GOT64",
        "GOTPCREL64",
        "GOTPC64",
        "GOTPLT64",
        "PLTOFF64",
        "SIZE32",
        "SIZE64",
        "GOTPC32_TLSDESC",
        "TLSDESC_CALL",
        "TLSDESC",
        "IRELATIVE",
        "RELATIVE64",
        "",
        "",
        "GOTPCRELX",
        "REX_GOTPCRELX",
        "CODE_4_GOTPCRELX",
        "CODE_4_GOTTPOFF",
        "CODE_4_GOTPC32_TLSDESC",
        "CODE_5_GOTPCRELX",
        "CODE_5_GOTTPOFF",
        "CODE_5_GOTPC32_TLSDESC",
        "CODE_6_GOTPCRELX",
        "CODE_6_GOTTPOFF",
        "CODE_6_GOTPC32_TLSDESC",
    ];
    match usize::try_from(r_type).ok().and_then(|i| NAMES.get(i)) {
        Some(name) if !name.is_empty() => format!("R_X86_64_{name}"),
        _ => format!("of type {r_type}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_values_are_target_plus_addend_minus_site() {
        let bytes = encode(Kind::Pc32, 0x1000, -4, 0x2000).unwrap();
        assert_eq!(bytes, (-0x1004i32).to_le_bytes());
        let bytes = encode(Kind::Pc64, 0x7fff_0000_0000, 0, 0x1000).unwrap();
        assert_eq!(bytes, 0x7ffe_ffff_f000i64.to_le_bytes());
    }

    #[test]
    fn values_that_do_not_fit_are_overflows_never_truncations() {
        let far = encode(Kind::Plt32, 0x7f00_0000_0000, -4, 0x5555_0000_0000);
        assert_eq!(far.unwrap_err().field, "32 bits signed");
        assert!(encode(Kind::Abs32, 0x1_0000_0000, 0, 0).is_err());
        assert!(encode(Kind::Abs32, 0, -1, 0).is_err());
        assert_eq!(encode(Kind::Abs32, 0xffff_ffff, 0, 0).unwrap(), [0xff; 4]);
        assert!(encode(Kind::Abs32S, 0x8000_0000, 0, 0).is_err());
        assert_eq!(encode(Kind::Abs32S, 0, -1, 0).unwrap(), [0xff; 4]);
        assert!(encode(Kind::Abs64, u64::MAX, 1, 0).is_err());
        assert_eq!(encode(Kind::Abs64, 0, -1, 0).unwrap(), [0xff; 8]);
        let e = encode(Kind::Pc32, 0, i64::MIN, u64::MAX).unwrap_err();
        assert_eq!(e.value, i128::from(i64::MIN) - i128::from(u64::MAX));
    }

    #[test]
    fn names_every_gotpcrel_variant_and_numbers_unknown_types() {
        assert_eq!(type_name(elf::R_X86_64_REX_GOTPCRELX), "R_X86_64_REX_GOTPCRELX");
        assert_eq!(type_name(elf::R_X86_64_TPOFF32), "R_X86_64_TPOFF32");
        assert_eq!(type_name(39), "of type 39");
        assert_eq!(type_name(u32::MAX), "of type 4294967295");
        for r_type in [9, 41, 42, 43, 46, 49] {
            assert_eq!(Kind::of(r_type), Some(Kind::GotPc32), "{}", type_name(r_type));
        }
    }
}
