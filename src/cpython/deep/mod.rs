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
use emit::{Emitter, Target};
use format::Kind;
use layout::Layout;

/// The blob, ready to be placed as it is.
pub struct Blob {
    pub bytes: Vec<u8>,
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
    /// Pointer slots, made addresses at first import.
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

    // Header and records first; the objects after, moved up by `base`.
    let (nfix, nrel) = (e.fixups.len(), e.relocs.len());
    let modules_at = format::HEADER_SIZE;
    let fixups_at = modules_at + modules.len() * format::MODULE_SIZE;
    let relocs_at = fixups_at + nfix * format::FIXUP_SIZE;
    let base = (relocs_at + nrel * format::RELOC_SIZE).next_multiple_of(format::OBJECT_ALIGN);
    let total = base as u64 + e.bytes.len() as u64;
    if total > u32::MAX as u64 {
        bail!("{total} bytes of objects: a deep-frozen blob is limited to 4 GiB");
    }
    let en = l.endian;
    let mut out = Vec::with_capacity(total as usize);
    let put = |out: &mut Vec<u8>, v: usize| {
        out.extend_from_slice(&match en {
            Endian::Little => (v as u32).to_le_bytes(),
            Endian::Big => (v as u32).to_be_bytes(),
        })
    };
    out.extend_from_slice(format::MAGIC);
    // In format::HEADER_WORDS order.
    for v in [
        format::VERSION as usize,
        l.get("version_hex") as usize,
        modules.len(),
        nfix,
        nrel,
        modules_at,
        fixups_at,
        relocs_at,
        total as usize,
        0,
    ] {
        put(&mut out, v);
    }
    out.extend_from_slice(&table.digest());
    for (data_offset, p) in &modules {
        // In format::MODULE_WORDS order.
        for v in [
            *data_offset as usize,
            base + p.code as usize,
            p.first_fixup,
            p.fixups,
            p.first_reloc,
            p.relocs,
            0,
            0,
        ] {
            put(&mut out, v);
        }
    }
    for f in &e.fixups {
        put(&mut out, base + f.slot as usize);
        let target = match f.kind {
            Kind::Copy => (f.target as usize) << 4,
            _ => base + f.target as usize,
        };
        put(&mut out, target | f.kind as usize);
    }
    for r in &e.relocs {
        put(
            &mut out,
            (base + r.slot as usize) | matches!(r.target, Target::Ext(..)) as usize,
        );
    }
    out.resize(base, 0);
    out.extend_from_slice(&e.bytes);
    // The slots' contents: what the runtime relocates at first import.
    let ptr = l.at("pointer_size");
    for r in &e.relocs {
        let v = match r.target {
            Target::Own(at) => base as u64 + at,
            Target::Ext(i, off) => {
                if off >= format::EXTERN_OFFSET_LIMIT {
                    bail!(
                        "offset {off} into {} is too large for a pointer slot",
                        format::EXTERNS[i]
                    );
                }
                ((i as u64) << 24) | off
            }
        };
        let at = base + r.slot as usize;
        let b = &mut out[at..at + ptr];
        match en {
            Endian::Little => b.copy_from_slice(&v.to_le_bytes()[..ptr]),
            Endian::Big => b.copy_from_slice(&v.to_be_bytes()[8 - ptr..]),
        }
    }
    report.fixups = nfix;
    report.relocs = nrel;
    report.bytes = out.len();
    Ok(Blob { bytes: out, report })
}
