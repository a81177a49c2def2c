//! Deep freezing: a CPython table's modules as static code objects.
//!
//! A table keeps the modules' marshal data; deep freezing adds, beside it,
//! the same modules already unmarshalled: code, str, bytes, tuple, int,
//! float and complex objects laid out as C structures of one CPython build
//! ([`layout`], read from a probe compiled for that build), in a writable
//! data section ([`emit`]), with an index keyed by the module's offset in the
//! table ([`format`]). The fork's runtime (`objfreeze_deep.h`) hands import
//! the static code object and runs the module's fixups at its first import.
//! A module the writer cannot lay out stays marshalled, and says why.

pub mod emit;
pub mod format;
pub mod layout;

use anyhow::{bail, Result};

use crate::cpython::{marshal, pyc};
use crate::format::{Endian, Table, TagKind};
use emit::{Emitter, Reloc, Target};
use layout::Layout;

/// The blob and the relocations it needs, with offsets from its start.
pub struct Blob {
    pub bytes: Vec<u8>,
    /// Slots pointing into the blob itself: `Target::Own(offset)`.
    pub relocs: Vec<Reloc>,
    pub report: Report,
}

/// What went in, for the user.
#[derive(Debug, Default)]
pub struct Report {
    pub modules: usize,
    pub frozen: usize,
    /// Modules left marshalled, and why.
    pub skipped: Vec<(String, String)>,
    pub fixups: usize,
    pub relocs: usize,
    pub bytes: usize,
    /// Set when the whole build is unsupported (every module stays marshalled).
    pub unsupported: Option<String>,
}

/// Lay out every module of `table` for the build `l` describes.
pub fn build(table: &Table, l: &Layout) -> Result<Blob> {
    if table.tag.kind != TagKind::Cpython {
        bail!(
            "not a CPython table (interpreter {})",
            table.tag.kind.name()
        );
    }
    let tag_version = pyc::python_version(table.tag.value).unwrap_or("unknown");
    let probe_version = l.version();
    let mut report = Report::default();
    let mut e = Emitter::new(l);
    let mut modules = Vec::new();
    if let Some(why) = l.unsupported() {
        report.unsupported = Some(why);
    } else {
        if !probe_version.starts_with(&format!("{tag_version}.")) {
            bail!("the table holds CPython {tag_version} bytecode but the layout probe is of CPython {probe_version}");
        }
        if table.endian != l.endian {
            bail!(
                "the table is {} but the layout probe is {}",
                table.endian.name(),
                l.endian.name()
            );
        }
        let mut seen = std::collections::HashSet::new();
        for entry in table.entries().filter(|e| !e.is_data()) {
            // Aliases share their origin's bytes: one layout serves both.
            if !seen.insert(entry.data_offset) {
                continue;
            }
            report.modules += 1;
            let placed = marshal::read(entry.data).and_then(|g| e.module(&g));
            match placed {
                Ok(p) => modules.push((entry.data_offset, p)),
                Err(why) => report
                    .skipped
                    .push((entry.name_lossy(), format!("{why:#}"))),
            }
        }
    }
    report.frozen = modules.len();
    modules.sort_by_key(|m| m.0);

    // Header, module records and fixups first; the objects after, moved up by `base`.
    let nfix = e.fixups.len();
    let base =
        (format::HEADER_SIZE + modules.len() * format::MODULE_SIZE + nfix * format::FIXUP_SIZE)
            .next_multiple_of(format::OBJECT_ALIGN) as u64;
    let total = base + e.bytes.len() as u64;
    if total > u32::MAX as u64 {
        bail!("{total} bytes of objects: a deep-frozen blob is limited to 4 GiB");
    }
    let mut out = Vec::with_capacity(total as usize);
    let en = l.endian;
    let u32b = |v: u64| -> [u8; 4] {
        match en {
            Endian::Little => (v as u32).to_le_bytes(),
            Endian::Big => (v as u32).to_be_bytes(),
        }
    };
    out.extend_from_slice(format::MAGIC);
    let modules_at = format::HEADER_SIZE as u64;
    let fixups_at = modules_at + (modules.len() * format::MODULE_SIZE) as u64;
    for v in [
        format::VERSION as u64,
        l.get("version_hex"),
        modules.len() as u64,
        nfix as u64,
        modules_at,
        fixups_at,
        total,
        0,
    ] {
        out.extend_from_slice(&u32b(v));
    }
    out.extend_from_slice(&table.digest());
    for (data_offset, p) in &modules {
        for v in [
            data_offset.to_owned() as u64,
            base + p.code,
            p.first_fixup as u64,
            p.fixups as u64,
            0,
            0,
        ] {
            out.extend_from_slice(&u32b(v));
        }
    }
    for f in &e.fixups {
        out.extend_from_slice(&u32b(base + f.slot));
        out.extend_from_slice(&u32b((base + f.target) | f.kind as u64));
    }
    out.resize(base as usize, 0);
    out.extend_from_slice(&e.bytes);
    let relocs: Vec<Reloc> = e
        .relocs
        .into_iter()
        .map(|r| Reloc {
            slot: base + r.slot,
            target: match r.target {
                Target::Own(at) => Target::Own(base + at),
                ext => ext,
            },
        })
        .collect();
    report.fixups = nfix;
    report.relocs = relocs.len();
    report.bytes = out.len();
    Ok(Blob {
        bytes: out,
        relocs,
        report,
    })
}
