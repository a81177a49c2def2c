//! Writing a table into a relocatable object with the `object` crate: one
//! read-only section, one global sized data symbol, zero relocations.

use anyhow::{bail, Result};
use object::write::{Object, SectionId, StandardSegment, Symbol, SymbolSection};
use object::{
    elf, macho, pe, BinaryFormat, SectionFlags, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
};

use crate::format::{Endian, ALIGN};
use crate::target::Target;

/// Whether the table symbol is seen outside the linked program or library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Global to the link, not exported from a shared library or
    /// executable: ELF STV_HIDDEN, Mach-O private extern. Two shared
    /// libraries with a table under the same symbol each keep their own
    /// (an exported one would interpose: both would read the first
    /// library's table). COFF exports nothing without dllexport anyway.
    Hidden,
    /// Exported (ELF STV_DEFAULT, Mach-O extern): other modules of the
    /// process can look the table up by name, and the first definition
    /// loaded wins for every reference.
    Default,
}

impl Visibility {
    pub fn parse(s: &str) -> Result<Visibility> {
        match s {
            "hidden" => Ok(Visibility::Hidden),
            "default" => Ok(Visibility::Default),
            _ => bail!("--visibility {s:?}: expected hidden or default"),
        }
    }
}

/// Where the table goes in the object.
#[derive(Debug, Clone)]
pub struct Placement {
    /// C name of the global symbol (the platform's underscore is added).
    pub symbol: String,
    /// Section name: `NAME` (ELF, COFF) or `SEGMENT,SECTION` (Mach-O).
    pub section: String,
    /// Hidden by default.
    pub visibility: Visibility,
    /// A writable section (ELF only; `--writable`).
    pub writable: bool,
}

impl Placement {
    pub fn new(target: &Target, symbol: Option<&str>, section: Option<&str>) -> Result<Placement> {
        let p = Placement {
            symbol: symbol.unwrap_or(crate::target::DEFAULT_SYMBOL).to_string(),
            section: section.unwrap_or(target.default_section()).to_string(),
            visibility: Visibility::Hidden,
            writable: false,
        };
        p.check(target)?;
        Ok(p)
    }

    /// Place the table in a writable section: ELF only, since the Mach-O and
    /// COFF walks of linked tables look in the read-only section.
    pub fn set_writable(&mut self, target: &Target) -> Result<()> {
        if target.format != BinaryFormat::Elf {
            bail!(
                "--writable: ELF only (the target {} is {:?})",
                target.triple,
                target.format
            );
        }
        self.writable = true;
        Ok(())
    }

    fn check(&self, target: &Target) -> Result<()> {
        if !is_c_identifier(&self.symbol) {
            bail!(
                "--symbol {:?}: a table symbol must be a C identifier ([A-Za-z_][A-Za-z0-9_]*), since C code declares it",
                self.symbol
            );
        }
        let s = &self.section;
        if s.is_empty() || s.bytes().any(|b| b == 0 || b.is_ascii_whitespace()) {
            bail!("--section {s:?}: a section name must be non-empty, without spaces or NUL");
        }
        match target.format {
            BinaryFormat::MachO => {
                let Some((seg, sect)) = s.split_once(',') else {
                    bail!("--section {s:?}: Mach-O sections are named SEGMENT,SECTION (e.g. __TEXT,__objfreeze)");
                };
                for (what, v) in [("segment", seg), ("section", sect)] {
                    if v.is_empty() || v.len() > 16 || v.contains(',') {
                        bail!(
                            "--section {s:?}: the Mach-O {what} name {v:?} must be 1 to 16 bytes"
                        );
                    }
                }
            }
            BinaryFormat::Elf if s.contains(',') => {
                bail!("--section {s:?}: `,` is Mach-O syntax; ELF section names are one word")
            }
            _ => {}
        }
        Ok(())
    }
}

pub fn is_c_identifier(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c == b'_' || c.is_ascii_alphabetic())
        && b.all(|c| c == b'_' || c.is_ascii_alphanumeric())
}

/// Write `table` (already laid out in the target's byte order) into an object.
pub fn write_object(target: &Target, place: &Placement, table: &[u8]) -> Result<Vec<u8>> {
    Ok(object_for(target, place, table).write()?)
}

/// Like [`write_object`], streaming the object into `w`. The table is
/// borrowed, not copied, so a large table is never held twice.
pub fn write_object_to(
    target: &Target,
    place: &Placement,
    table: &[u8],
    w: &mut dyn std::io::Write,
) -> Result<()> {
    object_for(target, place, table)
        .write_stream(w)
        .map_err(|e| anyhow::anyhow!("{e}"))
}

fn object_for<'a>(target: &Target, place: &Placement, table: &'a [u8]) -> Object<'a> {
    let mut obj = new_object(target);
    let (segment, name) = match place.section.split_once(',') {
        Some((seg, sect)) if target.format == BinaryFormat::MachO => {
            (seg.as_bytes().to_vec(), sect.as_bytes().to_vec())
        }
        _ => (
            obj.segment_name(StandardSegment::Data).to_vec(),
            place.section.as_bytes().to_vec(),
        ),
    };
    let kind = if place.writable {
        SectionKind::Data
    } else {
        SectionKind::ReadOnlyData
    };
    let section = obj.add_section(segment, name, kind);
    let write = if place.writable {
        elf::SHF_WRITE
    } else {
        elf::SectionFlags(0)
    };
    obj.section_mut(section).flags = match target.format {
        // SHF_GNU_RETAIN: --gc-sections keeps tables nobody names, so the
        // linker-collected walk still finds them.
        BinaryFormat::Elf => SectionFlags::Elf {
            sh_type: elf::SHT_PROGBITS,
            sh_flags: elf::SHF_ALLOC | elf::SHF_GNU_RETAIN | write,
        },
        // S_ATTR_NO_DEAD_STRIP: the same under ld64's -dead_strip.
        BinaryFormat::MachO => SectionFlags::MachO {
            flags: macho::S_REGULAR | macho::S_ATTR_NO_DEAD_STRIP,
            reserved2: 0,
        },
        BinaryFormat::Coff => SectionFlags::Coff {
            characteristics: pe::IMAGE_SCN_CNT_INITIALIZED_DATA | pe::IMAGE_SCN_MEM_READ,
        },
        _ => SectionFlags::None,
    };
    if place.writable {
        // A writable table may be the last data before .bss: see
        // set_whole_pages. The symbol's size stays the table's; the linked
        // walk steps over the zeros.
        set_whole_pages(&mut obj, section, table, target.elf_page());
    } else {
        obj.set_section_data(section, table, ALIGN as u64);
    }
    obj.add_symbol(Symbol {
        name: place.symbol.as_bytes().to_vec(),
        value: 0,
        size: table.len() as u64,
        kind: SymbolKind::Data,
        scope: match place.visibility {
            Visibility::Hidden => SymbolScope::Linkage,
            Visibility::Default => SymbolScope::Dynamic,
        },
        weak: false,
        section: SymbolSection::Section(section),
        flags: SymbolFlags::None,
    });
    obj
}

/// `data` as the section's contents, aligned to `page` and followed by zeros
/// up to a whole number of pages; returns the padded length. Data that may
/// come last with file bytes before .bss must end on a page: the kernel
/// zeroes the rest of a partial last page at exec, and that write faults in
/// the file around it, as far as the disk's read-ahead goes.
fn set_whole_pages<'a>(obj: &mut Object<'a>, section: SectionId, data: &'a [u8], page: u64) -> u64 {
    obj.set_section_data(section, data, page);
    let padded = (data.len() as u64).next_multiple_of(page);
    obj.append_section_data(section, &vec![0; (padded - data.len() as u64) as usize], 1);
    padded
}

/// Writable data under one global symbol, in section `section` (`NAME`, or
/// `SEGMENT,NAME` for Mach-O), aligned to `align` and zero-padded to a
/// multiple of it (the symbol covers the padding): for data the program
/// writes at run time (fixed up in place), which a table never is.
pub fn write_data_object(
    target: &Target,
    symbol: &str,
    visibility: Visibility,
    section: &str,
    data: &[u8],
    align: u64,
) -> Result<Vec<u8>> {
    if !is_c_identifier(symbol) {
        bail!("{symbol:?}: a data symbol must be a C identifier");
    }
    let mut obj = new_object(target);
    let (segment, name) = match section.split_once(',') {
        Some((seg, sect)) => (seg.as_bytes().to_vec(), sect.as_bytes().to_vec()),
        None => (
            obj.segment_name(StandardSegment::Data).to_vec(),
            section.as_bytes().to_vec(),
        ),
    };
    let section = obj.add_section(segment, name, SectionKind::Data);
    let size = set_whole_pages(&mut obj, section, data, align);
    obj.add_symbol(Symbol {
        name: symbol.as_bytes().to_vec(),
        value: 0,
        size,
        kind: SymbolKind::Data,
        scope: match visibility {
            Visibility::Hidden => SymbolScope::Linkage,
            Visibility::Default => SymbolScope::Dynamic,
        },
        weak: false,
        section: SymbolSection::Section(section),
        flags: SymbolFlags::None,
    });
    Ok(obj.write()?)
}

/// An empty object for `target`, with what each format needs to link quietly.
fn new_object<'a>(target: &Target) -> Object<'a> {
    let endian = match target.endian {
        Endian::Little => object::Endianness::Little,
        Endian::Big => object::Endianness::Big,
    };
    let mut obj = Object::new(target.format, target.arch, endian);
    match target.format {
        BinaryFormat::Elf => {
            // An empty .note.GNU-stack: without it ld assumes an executable stack.
            let note = obj.add_section(Vec::new(), b".note.GNU-stack".to_vec(), SectionKind::Other);
            obj.section_mut(note).flags = SectionFlags::Elf {
                sh_type: elf::SHT_PROGBITS,
                sh_flags: elf::SectionFlags(0),
            };
            obj.flags = object::FileFlags::Elf {
                os_abi: elf::ELFOSABI_NONE,
                abi_version: 0,
                e_flags: elf::FileFlags(target.elf_flags),
            };
        }
        BinaryFormat::MachO => {
            // LC_BUILD_VERSION: ld64 warns about objects without a platform,
            // and about objects whose minimum OS is newer than the program's
            // deployment target, so claim the oldest each arch runs: 11.0
            // for arm64, 10.7 for x86_64 (older than most programs' targets).
            let minos = match target.arch {
                object::Architecture::Aarch64 => macho::Version::new(11, 0, 0),
                _ => macho::Version::new(10, 7, 0),
            };
            let mut v = object::write::MachOBuildVersion::default();
            v.platform = macho::PLATFORM_MACOS;
            v.minos = minos;
            v.sdk = minos;
            obj.set_macho_build_version(v);
        }
        BinaryFormat::Coff if target.arch == object::Architecture::I386 => {
            // `@feat.00` bit 0 declares the object safe for /SAFESEH (it has
            // no code, so no exception handlers to register); without it
            // lld-link and link.exe refuse to link an i686 image.
            obj.add_symbol(Symbol {
                name: b"@feat.00".to_vec(),
                value: 1,
                size: 0,
                kind: SymbolKind::Unknown,
                scope: SymbolScope::Compilation,
                weak: false,
                section: SymbolSection::Absolute,
                flags: SymbolFlags::Coff {
                    typ: pe::SymbolType(0),
                    storage_class: pe::IMAGE_SYM_CLASS_STATIC,
                },
            });
        }
        _ => {}
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(is_c_identifier("objfreeze_table"));
        assert!(is_c_identifier("_x9"));
        assert!(!is_c_identifier("9x"));
        assert!(!is_c_identifier("a-b"));
        assert!(!is_c_identifier(""));
    }

    #[test]
    fn macho_names_checked() {
        let t = Target::parse("aarch64-apple-darwin").unwrap();
        assert!(Placement::new(&t, None, Some("__TEXT")).is_err());
        assert!(Placement::new(&t, None, Some("__TEXT,__a_very_long_section_name")).is_err());
        assert!(Placement::new(&t, None, None).is_ok());
        let t = Target::parse("x86_64-linux-gnu").unwrap();
        assert!(Placement::new(&t, Some("not-an-identifier"), None).is_err());
    }
}
