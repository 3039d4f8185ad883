//! An in-memory loader of relocatable x86-64 ELF objects (`ET_REL`), the form the compiler
//! emits kernel code in (LLVM's target machine, `cranelift-object`): standalone executables
//! and portable artifacts carry objects and load them at start-up, without a system linker.
//!
//! Loading is one step per module: read and check the ELF ([`elf`]); lay the loaded sections,
//! a GOT and call stubs out in one region ([`layout`]); map it read-write ([`memory`]); copy
//! the sections in and apply the relocations ([`reloc`]); then protect code read-execute and
//! data read-only or read-write. Memory is never writable and executable at once.
//!
//! Symbols farther than ±2 GiB from the region (the host's functions, typically) are reached
//! through the GOT, for GOTPCREL loads (never relaxed into direct references), or through a
//! 14-byte stub `jmp *[rip]; .quad target`, for calls. Thread-local storage, common symbols
//! and constructors (`.init_array`, loaded but not run) are outside what kernels need.
//!
//! **Invariant**: no input makes the loader panic or write outside the region. Every offset,
//! size, index and addend is checked, and a value that does not fit its field is an error.

mod elf;
mod error;
mod layout;
mod memory;
mod reloc;
mod symbols;

// The tests call the code they load.
#[cfg(all(test, target_arch = "x86_64", target_os = "linux"))]
mod tests;

pub use error::LoadError;
pub use symbols::runtime_symbol;

use elf::{Object, Place};
use layout::Layout;
use memory::Region;
use reloc::Kind;
use std::collections::HashMap;

/// A loaded object: its code and data in one region that lives as long as this value.
pub struct LoadedObject {
    region: Region,
    /// Defined global symbols and local functions, by name, as addresses.
    symbols: HashMap<String, u64>,
}

impl LoadedObject {
    /// Loads `bytes` (an ELF64 x86-64 relocatable object, `ET_REL`), resolving undefined
    /// symbols with `resolve`. An undefined symbol `resolve` does not know is an error unless
    /// it is weak, which makes it 0.
    pub fn load(bytes: &[u8], resolve: &dyn Fn(&str) -> Option<usize>) -> Result<LoadedObject, LoadError> {
        if !memory::HOST_SUPPORTED {
            return Err(LoadError::UnsupportedHost);
        }
        let object = elf::parse(bytes)?;
        let kinds = object.relocations.iter().map(|r| check_relocation(&object, r)).collect::<Result<Vec<_>, _>>()?;
        let layout = layout::plan(&object, &kinds, memory::page_size())?;
        let mut region = Region::map(layout.size, layout.align)?;
        let mut addresses =
            Addresses { object: &object, layout: &layout, base: region.base(), resolve, resolved: HashMap::new() };
        fill(region.bytes_mut(), &mut addresses, &kinds)?;
        for (range, access) in &layout.segments {
            region.protect(range.clone(), *access)?;
        }
        let mut symbols = HashMap::new();
        for symbol in &object.symbols {
            let exported = symbol.is_global || (symbol.is_function && matches!(symbol.place, Place::Section { .. }));
            // Globals win over local functions of the same name.
            if exported && !symbol.name.is_empty() && (symbol.is_global || !symbols.contains_key(&symbol.name)) {
                symbols.insert(symbol.name.clone(), addresses.defined(&symbol.place).unwrap_or(0));
            }
        }
        Ok(LoadedObject { region, symbols })
    }

    /// Address of a defined global symbol, or of a local function. It is valid while `self`
    /// is alive; calling it as a function is the caller's claim that it is one, of that type.
    pub fn symbol(&self, name: &str) -> Option<*const u8> {
        self.symbols.get(name).map(|&address| address as usize as *const u8)
    }
}

impl std::fmt::Debug for LoadedObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedObject").field("base", &self.region.base()).field("symbols", &self.symbols.len()).finish()
    }
}

/// The kind of a relocation, once its type is known and its field lies inside its section.
fn check_relocation(object: &Object<'_>, relocation: &elf::Relocation) -> Result<Kind, LoadError> {
    let section = &object.sections[relocation.section];
    let offset = relocation.offset;
    let Some(kind) = Kind::of(relocation.r_type) else {
        let kind = reloc::type_name(relocation.r_type);
        return Err(LoadError::UnsupportedRelocation { kind, section: section.name.clone(), offset });
    };
    if offset.checked_add(kind.width()).is_none_or(|end| end > section.size) {
        return Err(LoadError::Malformed(format!(
            "relocation {} at offset {offset:#x} is past the end of section `{}` ({:#x} bytes)",
            reloc::type_name(relocation.r_type),
            section.name,
            section.size
        )));
    }
    Ok(kind)
}

/// Symbol addresses in the mapped region, resolving each undefined symbol once.
struct Addresses<'a> {
    object: &'a Object<'a>,
    layout: &'a Layout,
    base: u64,
    resolve: &'a dyn Fn(&str) -> Option<usize>,
    resolved: HashMap<usize, u64>,
}

impl Addresses<'_> {
    /// The address of a symbol defined in the object or absolute; `None` otherwise.
    fn defined(&self, place: &Place) -> Option<u64> {
        match *place {
            // In range: the value is inside the section, the section inside the region.
            Place::Section { section, value } => Some(self.base + self.layout.sections[section] + value),
            Place::Absolute(value) => Some(value),
            Place::Undefined { .. } | Place::Unloaded { .. } => None,
        }
    }

    fn of(&mut self, index: usize) -> Result<u64, LoadError> {
        let symbol = &self.object.symbols[index];
        match &symbol.place {
            Place::Section { .. } | Place::Absolute(_) => Ok(self.defined(&symbol.place).unwrap_or_default()),
            Place::Undefined { weak } => {
                if let Some(&address) = self.resolved.get(&index) {
                    return Ok(address);
                }
                let address = match (self.resolve)(&symbol.name) {
                    Some(address) => address as u64,
                    None if *weak => 0,
                    None => return Err(LoadError::Unresolved(symbol.name.clone())),
                };
                self.resolved.insert(index, address);
                Ok(address)
            }
            Place::Unloaded { section } => Err(LoadError::Unsupported(format!(
                "`{}` is defined in section `{section}`, which is not loaded",
                symbol.name
            ))),
        }
    }
}

/// Writes the sections, the GOT, the stubs and the relocated fields into `memory`, the region.
fn fill(memory: &mut [u8], addresses: &mut Addresses<'_>, kinds: &[Kind]) -> Result<(), LoadError> {
    let (object, layout, base) = (addresses.object, addresses.layout, addresses.base);
    for (section, &offset) in object.sections.iter().zip(&layout.sections) {
        if let Some(bytes) = section.bytes {
            write(memory, offset, bytes)?;
        }
    }
    for (&symbol, &offset) in &layout.got {
        write(memory, offset, &addresses.of(symbol)?.to_le_bytes())?;
    }
    for (&symbol, &offset) in &layout.stubs {
        let mut stub = [0xcc; layout::STUB_SIZE as usize];
        stub[..6].copy_from_slice(&[0xff, 0x25, 0, 0, 0, 0]);
        stub[6..14].copy_from_slice(&addresses.of(symbol)?.to_le_bytes());
        write(memory, offset, &stub)?;
    }
    for (relocation, &kind) in object.relocations.iter().zip(kinds) {
        let offset = layout.sections[relocation.section] + relocation.offset;
        let site = base + offset;
        let symbol = &object.symbols[relocation.symbol];
        let target =
            if kind.uses_got() { base + layout.got[&relocation.symbol] } else { addresses.of(relocation.symbol)? };
        let mut value = reloc::encode(kind, target, relocation.addend, site);
        if value.is_err()
            && layout::needs_stub(kind)
            && let Some(&stub) = layout.stubs.get(&relocation.symbol)
        {
            value = reloc::encode(kind, base + stub, relocation.addend, site);
        }
        let value = value.map_err(|overflow| LoadError::Overflow {
            kind: reloc::type_name(relocation.r_type),
            symbol: symbol.name.clone(),
            section: object.sections[relocation.section].name.clone(),
            offset: relocation.offset,
            value: overflow.value,
            field: overflow.field,
        })?;
        write(memory, offset, &value)?;
    }
    Ok(())
}

/// Copies `bytes` to `offset` of the region; the layout keeps it inside, this checks again.
fn write(memory: &mut [u8], offset: u64, bytes: &[u8]) -> Result<(), LoadError> {
    let field = usize::try_from(offset).ok().and_then(|start| memory.get_mut(start..start.checked_add(bytes.len())?));
    let Some(field) = field else {
        return Err(LoadError::Malformed(format!("{} bytes at offset {offset:#x} leave the region", bytes.len())));
    };
    field.copy_from_slice(bytes);
    Ok(())
}
