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
pub mod order;
pub mod quicken;

use anyhow::{bail, Result};

use crate::cpython::{marshal, pyc};
use crate::format::{Table, TagKind};
use emit::Emitter;
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
/// Lay out every module of `table` for the build `l` describes, those
/// named in `first` first.
pub fn build(table: &Table, l: &Layout, first: &[String]) -> Result<Blob> {
    if table.tag.kind != TagKind::Cpython {
        bail!(
            "not a CPython table (interpreter {})",
            table.tag.kind.name()
        );
    }
    let tag_version = pyc::python_version(table.tag.value).unwrap_or("unknown");
    let probe_version = l.version();
    let mut report = Report::default();
    let mut candidates = Vec::new();
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
        // Aliases share their origin's bytes: one layout serves both.
        let mut seen = std::collections::HashSet::new();
        candidates = table
            .entries()
            .filter(|e| !e.is_data() && seen.insert(e.data_offset))
            .collect();
    }
    report.modules = candidates.len();
    // Parsed up front: the layout order needs every module's imports.
    let graphs: Vec<_> = candidates.iter().map(|c| marshal::read(c.data)).collect();
    let names: Vec<String> = candidates.iter().map(|c| c.name_lossy()).collect();
    let by_name = order::index(names.iter().map(String::as_str));
    let ops = order::Ops::of(l);
    let deps: Vec<Vec<usize>> = candidates
        .iter()
        .zip(&graphs)
        .enumerate()
        .map(|(i, (c, g))| match g {
            Ok(g) => order::imports(g, &ops, &names[i], c.package(), |n| by_name.contains_key(n))
                .iter()
                .map(|n| by_name[n.as_str()])
                .filter(|&d| d != i)
                .collect(),
            Err(_) => Vec::new(),
        })
        .collect();
    // Modules named in `first` (what starts every time) laid out first,
    // next to each other: a cold start reads them in one request.
    let first_ix: Vec<usize> = first
        .iter()
        .filter_map(|f| by_name.get(f.as_str()).copied())
        .collect();
    let (layout_order, last) = order::plan(candidates.len(), &first_ix, &deps);
    let records = format::MODULES_AT + candidates.len() * format::MODULE_SIZE;
    let mut e = Emitter::new(l, records.next_multiple_of(format::OBJECT_ALIGN))?;
    let mut placed = Vec::new();
    let mut first_end = 0;
    // The blob's length after each position of the order.
    let mut end_at = Vec::with_capacity(layout_order.len());
    for &i in &layout_order {
        let entry = &candidates[i];
        match graphs[i]
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e:#}"))
            .and_then(|g| e.module(g))
        {
            Ok(p) => {
                if first_ix.contains(&i) {
                    first_end = e.bytes.len();
                }
                placed.push((i, p))
            }
            Err(why) => report
                .skipped
                .push((entry.name_lossy(), format!("{why:#}"))),
        }
        end_at.push(e.bytes.len() as u64);
    }
    // Records sorted by the key the runtime searches.
    let mut modules: Vec<_> = placed
        .into_iter()
        .map(|(i, p)| (candidates[i].data_offset, p, end_at[last[i]]))
        .collect();
    report.frozen = modules.len();
    modules.sort_by_key(|m| m.0);
    let (nfix, nrel): (usize, usize) = modules
        .iter()
        .fold((0, 0), |(f, r), (_, p, _)| (f + p.fixups, r + p.pointers));
    let total = e.bytes.len();
    if total > u32::MAX as usize {
        bail!("{total} bytes: a deep-frozen blob is limited to 4 GiB");
    }
    let en = l.endian;
    let mut head = Vec::with_capacity(records);
    let put = |out: &mut Vec<u8>, v: u64| {
        let mut b = [0u8; 4];
        en.write_uint(&mut b, v);
        out.extend_from_slice(&b)
    };
    head.extend_from_slice(format::MAGIC);
    // In format::HEADER_WORDS order.
    for v in [
        format::VERSION as u64,
        l.get("version_hex"),
        modules.len() as u64,
        nfix as u64,
        nrel as u64,
        format::MODULES_AT as u64,
        total as u64,
        first_end as u64,
        e.strings() as u64,
    ] {
        put(&mut head, v);
    }
    head.extend_from_slice(&table.digest());
    head.resize(format::MODULES_AT, 0);
    for (data_offset, p, reach) in &modules {
        // In format::MODULE_WORDS order.
        for v in [
            *data_offset as u64,
            p.code,
            p.fixups_at,
            p.fixups as u64,
            p.relocs_at,
            p.relocs as u64,
            0,
            p.start,
            *reach,
        ] {
            put(&mut head, v);
        }
    }
    let mut out = e.bytes;
    out[..head.len()].copy_from_slice(&head);
    report.fixups = nfix;
    report.relocs = nrel;
    report.bytes = out.len();
    Ok(Blob { bytes: out, report })
}
