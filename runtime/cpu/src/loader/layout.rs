//! Where everything goes in the one region: offsets only, decided before the region exists.
//!
//! The region is three page-aligned segments, one per protection: code and stubs (read and
//! execute), read-only data and the GOT (read), writable data (read and write). Sections keep
//! their file order inside a segment. One region keeps every 32-bit PC-relative reference
//! between sections, and to the GOT and stubs, in range.

use super::elf::{Access, Object, Place};
use super::error::LoadError;
use super::reloc::Kind;
use std::collections::BTreeMap;
use std::ops::Range;

/// `jmp *[rip + 0]` followed by the 8-byte target; padded with `int3` to 16 bytes.
pub(crate) const STUB_SIZE: u64 = 16;
pub(crate) const GOT_SLOT_SIZE: u64 = 8;

pub(crate) struct Layout {
    /// Bytes to map, a multiple of the page size.
    pub size: u64,
    /// The alignment of the region's start: the page size or a larger section alignment.
    pub align: u64,
    /// Offset of each loaded section, by index into `Object::sections`.
    pub sections: Vec<u64>,
    /// Page-aligned ranges to protect once relocated.
    pub segments: Vec<(Range<u64>, Access)>,
    /// Offset of the GOT slot of each symbol (by symbol index) that a GOTPCREL names.
    pub got: BTreeMap<usize, u64>,
    /// Offset of the stub of each external symbol a call may need to reach from afar.
    pub stubs: BTreeMap<usize, u64>,
}

/// Lays out `object`'s sections, one GOT slot per symbol a GOT relocation names and one stub
/// per external symbol a call names (used only when the symbol is out of direct reach). `kinds` are the relocations' kinds, in order.
pub(crate) fn plan(object: &Object<'_>, kinds: &[Kind], page: u64) -> Result<Layout, LoadError> {
    let mut got = BTreeMap::new();
    let mut stubs = BTreeMap::new();
    for (relocation, &kind) in object.relocations.iter().zip(kinds) {
        let symbol = &object.symbols[relocation.symbol];
        if kind.uses_got() {
            got.insert(relocation.symbol, 0);
        } else if needs_stub(kind) && is_external(&symbol.place) {
            stubs.insert(relocation.symbol, 0);
        }
    }

    let too_big = || LoadError::Malformed("the sections' total size overflows".into());
    let mut sections = vec![0; object.sections.len()];
    let mut segments = Vec::new();
    let mut cursor = 0u64;
    for access in [Access::Execute, Access::Read, Access::Write] {
        let start = cursor;
        for (i, section) in object.sections.iter().enumerate() {
            if section.access == access {
                sections[i] = align_up(cursor, section.align).ok_or_else(too_big)?;
                cursor = sections[i].checked_add(section.size).ok_or_else(too_big)?;
            }
        }
        let table = match access {
            Access::Execute => Some((&mut stubs, STUB_SIZE)),
            Access::Read => Some((&mut got, GOT_SLOT_SIZE)),
            Access::Write => None,
        };
        if let Some((table, entry)) = table {
            cursor = align_up(cursor, entry).ok_or_else(too_big)?;
            for offset in table.values_mut() {
                *offset = cursor;
                cursor = cursor.checked_add(entry).ok_or_else(too_big)?;
            }
        }
        cursor = align_up(cursor, page).ok_or_else(too_big)?;
        if cursor > start {
            segments.push((start..cursor, access));
        }
    }
    let align = object.sections.iter().map(|s| s.align).fold(page, u64::max);
    // An empty object still maps one page, so the region is never a zero-length mapping.
    let size = cursor.max(page);
    Ok(Layout { size, align, sections, segments, got, stubs })
}

/// Whether a relocation of `kind` to a far symbol may go through a stub: calls (PLT32) only.
/// A PC32 may be a data access, which a stub would silently redirect, so it must fit or fail;
/// producers mark calls PLT32 (LLVM, Cranelift, GNU as since 2.31).
pub(crate) fn needs_stub(kind: Kind) -> bool {
    kind == Kind::Plt32
}

/// Whether a symbol's address lies outside the region, so that it may be out of 32-bit reach.
pub(crate) fn is_external(place: &Place) -> bool {
    matches!(place, Place::Undefined { .. } | Place::Absolute(_))
}

fn align_up(value: u64, align: u64) -> Option<u64> {
    debug_assert!(align.is_power_of_two());
    Some(value.checked_add(align - 1)? & !(align - 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::elf::{Relocation, Section, Symbol};

    fn section(name: &str, access: Access, align: u64, size: u64) -> Section<'static> {
        Section { name: name.into(), access, align, size, bytes: None }
    }

    fn symbol(place: Place) -> Symbol {
        Symbol { name: "f".into(), place, is_function: false, is_global: true }
    }

    fn relocation(symbol: usize) -> Relocation {
        Relocation { section: 0, offset: 0, r_type: 0, symbol, addend: 0 }
    }

    #[test]
    fn segments_are_page_aligned_by_access_with_stubs_after_code_and_got_after_rodata() {
        let object = Object {
            sections: vec![
                section(".data", Access::Write, 8, 12),
                section(".text", Access::Execute, 16, 100),
                section(".rodata", Access::Read, 32, 5000),
                section(".text.f", Access::Execute, 64, 1),
            ],
            symbols: vec![
                symbol(Place::Absolute(0)),
                symbol(Place::Undefined { weak: false }),
                symbol(Place::Section { section: 0, value: 0 }),
            ],
            relocations: vec![relocation(1), relocation(2), relocation(1), relocation(2)],
        };
        let kinds = [Kind::Plt32, Kind::Plt32, Kind::GotPc32, Kind::GotPc32];
        let layout = plan(&object, &kinds, 4096).unwrap();
        assert_eq!(layout.sections, [3 * 4096, 0, 4096, 128]);
        // A call to a symbol of the object needs no stub; every GOT reference gets a slot.
        assert_eq!(layout.stubs.into_iter().collect::<Vec<_>>(), [(1, 144)]);
        assert_eq!(layout.got.into_iter().collect::<Vec<_>>(), [(1, 4096 + 5000), (2, 4096 + 5008)]);
        let segments =
            [(0..4096, Access::Execute), (4096..3 * 4096, Access::Read), (3 * 4096..4 * 4096, Access::Write)];
        assert_eq!(layout.segments, segments);
        assert_eq!((layout.size, layout.align), (4 * 4096, 4096));
    }

    #[test]
    fn sizes_that_overflow_are_errors() {
        let object = Object {
            sections: vec![section(".bss", Access::Write, 1, u64::MAX - 10), section(".bss.x", Access::Write, 16, 1)],
            symbols: vec![symbol(Place::Absolute(0))],
            relocations: vec![],
        };
        assert!(matches!(plan(&object, &[], 4096), Err(LoadError::Malformed(_))));
    }
}
