//! Reads a relocatable x86-64 ELF object into the plain lists the loader works from: the
//! sections to load, every symbol and the relocations of loaded sections.
//!
//! Parsing goes through `object`'s bounds-checked readers; everything they do not check (a
//! symbol's value inside its section, alignments, indices between tables) is checked here, so
//! the later stages only do arithmetic on consistent numbers. Nothing here touches memory.

use super::error::{LoadError, malformed};
use object::LittleEndian as Le;
use object::elf;
use object::read::elf::{FileHeader, Rela, SectionHeader, SectionTable, Sym, SymbolTable};

type Header = elf::FileHeader64<Le>;
type Table<'data> = SectionTable<'data, Header, &'data [u8]>;
type Symtab<'data> = SymbolTable<'data, Header, &'data [u8]>;

/// Positions in `e_ident`.
const EI_CLASS: usize = 4;
const EI_DATA: usize = 5;

/// The largest section alignment taken: the region is over-allocated by the alignment, so an
/// absurd one would reserve absurd memory.
const MAX_ALIGN: u64 = 1 << 20;

/// How a loaded section is protected once relocated; the region holds one segment per access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Execute,
    Read,
    Write,
}

/// A section with `SHF_ALLOC`: it is copied (or zeroed) into the region.
pub(crate) struct Section<'data> {
    pub name: String,
    pub access: Access,
    /// A power of two, at most [`MAX_ALIGN`].
    pub align: u64,
    pub size: u64,
    /// The file bytes, `size` long; `None` for `SHT_NOBITS` (zeroes).
    pub bytes: Option<&'data [u8]>,
}

/// Where a symbol's address comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// At `value` bytes into the loaded section `section` (an index into `Object::sections`),
    /// at most its size.
    Section {
        section: usize,
        value: u64,
    },
    Absolute(u64),
    /// Resolved by the caller; a weak one may stay unresolved and be 0.
    Undefined {
        weak: bool,
    },
    /// Defined in a section that is not loaded (debug information): no address.
    Unloaded {
        section: String,
    },
}

pub(crate) struct Symbol {
    /// The symbol's name, or its section's for a section symbol; lossy UTF-8.
    pub name: String,
    pub place: Place,
    pub is_function: bool,
    /// Defined, and global or weak: what `LoadedObject::symbol` finds first.
    pub is_global: bool,
}

/// One `Elf64_Rela` entry of a loaded section.
pub(crate) struct Relocation {
    /// Index into `Object::sections` of the section it patches.
    pub section: usize,
    pub offset: u64,
    pub r_type: u32,
    /// Index into `Object::symbols`; 0 is the null symbol, address 0.
    pub symbol: usize,
    pub addend: i64,
}

pub(crate) struct Object<'data> {
    pub sections: Vec<Section<'data>>,
    /// The symbol table by ELF index; entry 0 is the null symbol even without a table.
    pub symbols: Vec<Symbol>,
    pub relocations: Vec<Relocation>,
}

/// Parses and checks `bytes` (see the module docs).
pub(crate) fn parse(bytes: &[u8]) -> Result<Object<'_>, LoadError> {
    let header = parse_header(bytes)?;
    let table = header.sections(Le, bytes).map_err(|e| bad("the section headers", e))?;
    let (sections, loaded) = parse_sections(&table, bytes)?;
    let symtab = table.symbols(Le, bytes, elf::SHT_SYMTAB).map_err(|e| bad("the symbol table", e))?;
    let symbols = parse_symbols(&table, &symtab, &loaded, &sections)?;
    let relocations = parse_relocations(&table, &symtab, bytes, &loaded)?;
    Ok(Object { sections, symbols, relocations })
}

/// A located `Malformed` from `object`'s message ("Invalid ELF section size or offset").
fn bad(what: &str, e: object::read::Error) -> LoadError {
    let message = e.to_string();
    let mut chars = message.chars();
    let first = chars.next().map(|c| c.to_lowercase().collect::<String>()).unwrap_or_default();
    LoadError::Malformed(format!("{what}: {first}{}", chars.as_str()))
}

fn parse_header(bytes: &[u8]) -> Result<&Header, LoadError> {
    let format = |what: String| Err(LoadError::Format(what));
    if !bytes.starts_with(&elf::ELFMAG) {
        return format("the file does not start with the ELF magic number".into());
    }
    match bytes.get(EI_CLASS) {
        Some(&elf::ELFCLASS64) => {}
        Some(&elf::ELFCLASS32) => return format("a 32-bit ELF file".into()),
        _ => return format("an ELF file of unknown class".into()),
    }
    if bytes.get(EI_DATA) != Some(&elf::ELFDATA2LSB) {
        return format("not a little-endian ELF file".into());
    }
    let header = Header::parse(bytes).map_err(|e| bad("the file header", e))?;
    let machine = header.e_machine(Le);
    if machine != elf::EM_X86_64 {
        return format(format!("the machine is {machine}, not x86-64 ({})", elf::EM_X86_64));
    }
    let e_type = header.e_type(Le);
    if e_type != elf::ET_REL {
        return format(format!("the file type is {e_type}, not ET_REL ({})", elf::ET_REL));
    }
    Ok(header)
}

/// The `SHF_ALLOC` sections, and for each ELF section index its position among them.
fn parse_sections<'data>(
    table: &Table<'data>,
    bytes: &'data [u8],
) -> Result<(Vec<Section<'data>>, Vec<Option<usize>>), LoadError> {
    let mut sections = Vec::new();
    let mut loaded = vec![None; table.len()];
    for (index, header) in table.enumerate() {
        let flags = header.sh_flags(Le);
        if flags & u64::from(elf::SHF_ALLOC) == 0 {
            continue;
        }
        let name = section_name(table, header);
        if flags & u64::from(elf::SHF_TLS) != 0 {
            return Err(LoadError::Unsupported(format!("section `{name}` holds thread-local storage")));
        }
        let align = match header.sh_addralign(Le) {
            0 => 1,
            a if a.is_power_of_two() && a <= MAX_ALIGN => a,
            a => malformed!("section `{name}` has alignment {a}: not a power of two up to 1 MiB"),
        };
        let size = header.sh_size(Le);
        let bytes = if header.sh_type(Le) == elf::SHT_NOBITS {
            None
        } else {
            Some(header.data(Le, bytes).map_err(|e| bad(&format!("section `{name}`"), e))?)
        };
        let access = if flags & u64::from(elf::SHF_EXECINSTR) != 0 {
            Access::Execute
        } else if flags & u64::from(elf::SHF_WRITE) != 0 {
            Access::Write
        } else {
            Access::Read
        };
        loaded[index.0] = Some(sections.len());
        sections.push(Section { name, access, align, size, bytes });
    }
    Ok((sections, loaded))
}

fn section_name(table: &Table<'_>, header: &elf::SectionHeader64<Le>) -> String {
    match table.section_name(Le, header) {
        Ok(name) => String::from_utf8_lossy(name).into_owned(),
        Err(_) => format!("#{}", header.sh_name(Le)),
    }
}

fn parse_symbols(
    table: &Table<'_>,
    symtab: &Symtab<'_>,
    loaded: &[Option<usize>],
    sections: &[Section<'_>],
) -> Result<Vec<Symbol>, LoadError> {
    let null = Symbol { name: String::new(), place: Place::Absolute(0), is_function: false, is_global: false };
    let mut symbols = vec![null];
    for (index, sym) in symtab.enumerate().skip(1) {
        let name = symtab.symbol_name(Le, sym).map_err(|e| bad(&format!("symbol {}", index.0), e))?;
        let mut name = String::from_utf8_lossy(name).into_owned();
        let section = symtab.symbol_section(Le, sym, index).map_err(|e| bad(&format!("symbol `{name}`"), e))?;
        let place = match (sym.st_shndx(Le), section) {
            (elf::SHN_ABS, _) => Place::Absolute(sym.st_value(Le)),
            (elf::SHN_COMMON, _) => {
                return Err(LoadError::Unsupported(format!("`{name}` is a common symbol (compile with -fno-common)")));
            }
            (_, None) => Place::Undefined { weak: sym.st_bind() == elf::STB_WEAK },
            (_, Some(section)) => {
                let header = table.section(section).map_err(|e| bad(&format!("the section of symbol `{name}`"), e))?;
                if sym.st_type() == elf::STT_SECTION {
                    name = section_name(table, header);
                }
                match loaded.get(section.0).copied().flatten() {
                    None => Place::Unloaded { section: section_name(table, header) },
                    Some(loaded) => {
                        let value = sym.st_value(Le);
                        let target = &sections[loaded];
                        if value > target.size {
                            malformed!(
                                "symbol `{name}` at offset {value:#x} is past the end of section \
                                 `{}` ({:#x} bytes)",
                                target.name,
                                target.size
                            );
                        }
                        Place::Section { section: loaded, value }
                    }
                }
            }
        };
        let is_defined = matches!(place, Place::Section { .. } | Place::Absolute(_));
        symbols.push(Symbol {
            name,
            place,
            is_function: sym.st_type() == elf::STT_FUNC,
            is_global: is_defined && !sym.is_local(),
        });
    }
    Ok(symbols)
}

fn parse_relocations(
    table: &Table<'_>,
    symtab: &Symtab<'_>,
    bytes: &[u8],
    loaded: &[Option<usize>],
) -> Result<Vec<Relocation>, LoadError> {
    let mut relocations = Vec::new();
    for header in table.iter() {
        let sh_type = header.sh_type(Le);
        if !matches!(sh_type, elf::SHT_RELA | elf::SHT_REL | elf::SHT_CREL) {
            continue;
        }
        // Relocations of sections that are not loaded (debug information) are not applied.
        let Some(section) = loaded.get(header.sh_info(Le) as usize).copied().flatten() else {
            continue;
        };
        let name = section_name(table, header);
        if sh_type != elf::SHT_RELA {
            return Err(LoadError::Unsupported(format!("relocation section `{name}` is not of type SHT_RELA")));
        }
        if header.link(Le) != symtab.section() {
            malformed!("relocation section `{name}` does not link to the symbol table");
        }
        let entries: &[elf::Rela64<Le>] =
            header.data_as_array(Le, bytes).map_err(|e| bad(&format!("section `{name}`"), e))?;
        for (i, rela) in entries.iter().enumerate() {
            let symbol = rela.r_sym(Le, false) as usize;
            if symbol >= symtab.len().max(1) {
                malformed!("entry {i} of `{name}` names symbol {symbol}, past the symbol table");
            }
            relocations.push(Relocation {
                section,
                offset: rela.r_offset(Le),
                r_type: rela.r_type(Le, false),
                symbol,
                addend: rela.r_addend(Le),
            });
        }
    }
    Ok(relocations)
}
