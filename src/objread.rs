//! Reading tables back out of whatever a user hands us: relocatable objects,
//! static archives (`.a`, `.lib`), executables and shared libraries, in ELF,
//! Mach-O (thin or fat) or PE/COFF, parsed with `goblin`; or a bare table.
//!
//! Tables are found by their magic in every section with file contents, not
//! by symbol name, so stripped and linked binaries are read as well as
//! objects. Symbols, where present, name what was found.

use anyhow::{Context, Result};
use goblin::mach::{Mach, SingleArch};
use goblin::Object;

use crate::format::{self, FormatError, Table, MAGIC};

/// Nesting limit for archives inside fat files inside archives.
const MAX_DEPTH: u32 = 4;

/// One table found in a file.
#[derive(Debug)]
pub struct Found<'a> {
    /// Where in the file: archive member and/or fat slice, empty for plain files.
    pub member: Option<String>,
    /// File format of the containing object (`elf`, `macho`, `coff`, `pe`, `raw`).
    pub container: &'static str,
    pub section: String,
    /// Offset of the table within its section.
    pub offset: u64,
    /// Global symbols placed exactly at the table, if any.
    pub symbols: Vec<String>,
    /// The checked table, or why the bytes that carry the magic are not one.
    pub table: Result<Table<'a>, FormatError>,
}

/// A loaded section: its name, bytes, and the address its symbols are relative to.
struct Sect<'a> {
    name: String,
    data: &'a [u8],
    addr: u64,
}

/// A symbol: its name, 0-based section index, and address.
struct Sym {
    name: String,
    section: usize,
    addr: u64,
}

/// Find every table in `bytes` (the contents of `path`).
pub fn find_tables<'a>(path: &str, bytes: &'a [u8]) -> Result<Vec<Found<'a>>> {
    let mut out = Vec::new();
    scan(bytes, None, 0, &mut |container, sects, syms, member| {
        scan_sections(container, sects, syms, member, &mut out)
    })
    .with_context(|| format!("{path}: cannot read as an object, archive or executable"))?;
    Ok(out)
}

/// Every place in `bytes` (the contents of `path`) where a section's
/// contents hold `marker` at an 8-byte aligned offset: the rest of that
/// section from the marker on. For self-describing records a compiler wrote,
/// such as a layout probe, found the same way in any object format.
pub fn find_marker<'a>(path: &str, bytes: &'a [u8], marker: &[u8]) -> Result<Vec<&'a [u8]>> {
    let mut out = Vec::new();
    let finder = memchr::memmem::Finder::new(marker);
    scan(bytes, None, 0, &mut |_, sects, _, _| {
        for s in sects {
            out.extend(
                finder
                    .find_iter(s.data)
                    .filter(|off| off % 8 == 0)
                    .map(|off| &s.data[off..]),
            );
        }
    })
    .with_context(|| format!("{path}: cannot read as an object, archive or executable"))?;
    Ok(out)
}

/// What [`scan`] hands each object it finds: container kind, sections,
/// symbols, and where in the file it was.
type Visit<'v, 'a> = dyn FnMut(&'static str, &[Sect<'a>], &[Sym], Option<String>) + 'v;

fn scan<'a>(
    bytes: &'a [u8],
    member: Option<String>,
    depth: u32,
    out: &mut Visit<'_, 'a>,
) -> Result<()> {
    if depth > MAX_DEPTH {
        anyhow::bail!("containers nested more than {MAX_DEPTH} deep");
    }
    if bytes.starts_with(&MAGIC) {
        out(
            "raw",
            &[Sect {
                name: String::new(),
                data: bytes,
                addr: 0,
            }],
            &[],
            member,
        );
        return Ok(());
    }
    match Object::parse(bytes)? {
        Object::Elf(elf) => {
            let mut sects = Vec::new();
            for sh in &elf.section_headers {
                let name = elf.shdr_strtab.get_at(sh.sh_name).unwrap_or("").to_string();
                let data = if sh.sh_type == goblin::elf::section_header::SHT_NOBITS {
                    &[][..]
                } else {
                    slice(bytes, sh.sh_offset, sh.sh_size)
                        .with_context(|| format!("ELF section {name}"))?
                };
                sects.push(Sect {
                    name,
                    data,
                    addr: sh.sh_addr,
                });
            }
            let mut syms = Vec::new();
            for (tab, strs) in [(&elf.syms, &elf.strtab), (&elf.dynsyms, &elf.dynstrtab)] {
                for s in tab.iter() {
                    if s.st_shndx == 0 || s.st_shndx >= sects.len() {
                        continue;
                    }
                    let name = strs.get_at(s.st_name).unwrap_or("");
                    if !name.is_empty() {
                        syms.push(Sym {
                            name: name.to_string(),
                            section: s.st_shndx,
                            addr: s.st_value,
                        });
                    }
                }
            }
            out("elf", &sects, &syms, member);
        }
        Object::Mach(Mach::Binary(m)) => scan_macho(bytes, &m, member, out)?,
        Object::Mach(Mach::Fat(fat)) => {
            for (i, arch) in fat.iter_arches().enumerate() {
                let arch = arch?;
                let label = join(&member, cpu_name(arch.cputype));
                match fat.get(i)? {
                    SingleArch::MachO(m) => scan_macho(arch.slice(bytes), &m, Some(label), out)?,
                    SingleArch::Archive(_) => scan(arch.slice(bytes), Some(label), depth + 1, out)?,
                }
            }
        }
        Object::COFF(coff) => {
            let strings = coff.strings;
            let sects: Vec<Sect> = coff
                .sections
                .iter()
                .map(|s| {
                    // Names over 8 bytes live in the string table; goblin
                    // resolves them into real_name.
                    let name = s
                        .real_name
                        .clone()
                        .unwrap_or_else(|| s.name().unwrap_or("").to_string());
                    let data = slice(
                        bytes,
                        s.pointer_to_raw_data as u64,
                        s.size_of_raw_data as u64,
                    )
                    .unwrap_or(&[]);
                    Sect {
                        name,
                        data,
                        addr: 0,
                    }
                })
                .collect();
            let syms = coff_symbols(coff.symbols.as_ref(), strings.as_ref());
            out("coff", &sects, &syms, member);
        }
        Object::PE(pe) => {
            let sects: Vec<Sect> = pe
                .sections
                .iter()
                .map(|s| {
                    let name = s
                        .real_name
                        .clone()
                        .unwrap_or_else(|| s.name().unwrap_or("").to_string());
                    let size = s
                        .size_of_raw_data
                        .min(s.virtual_size.max(s.size_of_raw_data));
                    let data =
                        slice(bytes, s.pointer_to_raw_data as u64, size as u64).unwrap_or(&[]);
                    Sect {
                        name,
                        data,
                        addr: 0,
                    }
                })
                .collect();
            // mingw keeps a COFF symbol table in images; values are section-relative.
            let ch = &pe.header.coff_header;
            let table = ch.symbols(bytes).ok().flatten();
            let strings = ch.strings(bytes).ok().flatten();
            let syms = coff_symbols(table.as_ref(), strings.as_ref());
            out("pe", &sects, &syms, member);
        }
        Object::Archive(ar) => {
            for i in 0..ar.len() {
                let Some(m) = ar.get_at(i) else { continue };
                let name = m.extended_name().to_string();
                // Symbol indexes and long-name tables are not objects.
                if name.is_empty()
                    || name == "/"
                    || name == "//"
                    || name.starts_with("__.SYMDEF")
                    || name == "/SYM64/"
                {
                    continue;
                }
                let data = slice(bytes, m.offset, m.size() as u64)
                    .with_context(|| format!("archive member {name}"))?;
                let label = join(&member, &name);
                // A member we cannot parse (an import stub, a text file) holds no table.
                let _ = scan(data, Some(label), depth + 1, out);
            }
        }
        Object::Unknown(magic) => anyhow::bail!("unrecognised file (magic {magic:#x})"),
        _ => anyhow::bail!("unsupported file kind"),
    }
    Ok(())
}

fn scan_macho<'a>(
    bytes: &'a [u8],
    m: &goblin::mach::MachO<'a>,
    member: Option<String>,
    out: &mut Visit<'_, 'a>,
) -> Result<()> {
    let mut sects = Vec::new();
    for seg in m.segments.iter() {
        for s in seg.sections()? {
            let (sec, _) = s;
            let name = format!(
                "{},{}",
                sec.segname().unwrap_or(""),
                sec.name().unwrap_or("")
            );
            // Zero-fill sections have no file bytes.
            let zerofill = matches!(sec.flags & 0xff, 0x1 | 0xc | 0x12);
            let data = if zerofill {
                &[][..]
            } else {
                slice(bytes, sec.offset as u64, sec.size).unwrap_or(&[])
            };
            sects.push(Sect {
                name,
                data,
                addr: sec.addr,
            });
        }
    }
    let mut syms = Vec::new();
    // LC_SYMTAB's count is not checked against the file: goblin yields an
    // error per missing symbol, so a damaged count of 2^32 would spin for
    // minutes. No file holds more nlists than it has 12-byte runs.
    for s in m.symbols().take(bytes.len() / 12) {
        let Ok((name, nl)) = s else { continue };
        // n_sect is 1-based; 0 is NO_SECT. Skip stabs.
        if nl.n_sect == 0 || nl.n_type & 0xe0 != 0 || nl.n_sect > sects.len() {
            continue;
        }
        syms.push(Sym {
            name: name.strip_prefix('_').unwrap_or(name).to_string(),
            section: nl.n_sect - 1,
            addr: nl.n_value,
        });
    }
    out("macho", &sects, &syms, member);
    Ok(())
}

fn coff_symbols(
    table: Option<&goblin::pe::symbol::SymbolTable>,
    strings: Option<&goblin::strtab::Strtab>,
) -> Vec<Sym> {
    let (Some(table), Some(strings)) = (table, strings) else {
        return Vec::new();
    };
    let mut syms = Vec::new();
    for (_, name, s) in table.iter() {
        if s.section_number <= 0 {
            continue;
        }
        let name = match name {
            Some(n) => n.to_string(),
            None => coff_long_name(&s, strings).unwrap_or("").to_string(),
        };
        syms.push(Sym {
            name,
            section: s.section_number as usize - 1,
            addr: s.value as u64,
        });
    }
    syms
}

/// A COFF symbol's name from the string table. Not goblin's `Symbol::name`:
/// it subtracts the table's 4-byte length field without checking, which
/// panics (or wraps) on a damaged offset below 4.
fn coff_long_name<'a>(
    s: &goblin::pe::symbol::Symbol,
    strings: &goblin::strtab::Strtab<'a>,
) -> Option<&'a str> {
    let off = u32::from_le_bytes(s.name[4..8].try_into().ok()?);
    strings.get_at(off.checked_sub(4)? as usize)
}

/// Look for the magic at every 4-byte step of every section.
fn scan_sections<'a>(
    container: &'static str,
    sects: &[Sect<'a>],
    syms: &[Sym],
    member: Option<String>,
    out: &mut Vec<Found<'a>>,
) {
    let finder = memchr::memmem::Finder::new(&MAGIC);
    for (i, s) in sects.iter().enumerate() {
        let mut pos = 0usize;
        while let Some(hit) = finder.find(&s.data[pos..]) {
            let off = pos + hit;
            pos = off + 1;
            if off % 4 != 0 || format::sniff(&s.data[off..]).is_none() {
                continue;
            }
            let table = Table::parse(&s.data[off..]);
            let addr = s.addr + off as u64;
            let mut symbols: Vec<String> = syms
                .iter()
                .filter(|y| y.section == i && y.addr == addr)
                // The linker's section bounds (ELF __start_SECTION and
                // __stop_SECTION) name the section, not the table at its start.
                .filter(|y| !y.name.starts_with("__start_") && !y.name.starts_with("__stop_"))
                .map(|y| y.name.clone())
                .collect();
            symbols.sort();
            symbols.dedup();
            if let Ok(t) = &table {
                // Skip past the table: its data may well contain the magic.
                pos = off + t.total_size() as usize;
            }
            out.push(Found {
                member: member.clone(),
                container,
                section: s.name.clone(),
                offset: off as u64,
                symbols,
                table,
            });
        }
    }
}

fn slice(bytes: &[u8], off: u64, len: u64) -> Result<&[u8]> {
    let end = off.checked_add(len).filter(|&e| e <= bytes.len() as u64);
    match end {
        Some(end) => Ok(&bytes[off as usize..end as usize]),
        None => anyhow::bail!(
            "range [{off}, +{len}) runs past the end of the file ({} bytes)",
            bytes.len()
        ),
    }
}

fn join(outer: &Option<String>, inner: &str) -> String {
    match outer {
        Some(o) => format!("{o}({inner})"),
        None => inner.to_string(),
    }
}

fn cpu_name(cputype: u32) -> &'static str {
    match cputype {
        0x0100_0007 => "x86_64",
        0x0100_000c => "arm64",
        7 => "i386",
        12 => "arm",
        _ => "unknown-cpu",
    }
}
