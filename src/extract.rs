//! `extract`: write modules back out of a table as files, laid out as an
//! importable tree (the interpreter's [`crate::lang::Lang::layout`]), raw
//! or as the interpreter's own files ([`crate::lang::Lang::native_file`]);
//! data entries go back under their own paths, as they were.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::format::{Entry, Table};

/// Where a module's file goes under `dir`; a data entry goes back under
/// its own path (`/pkg/data.txt` is `dir/pkg/data.txt`).
pub fn module_path(dir: &Path, e: &Entry<'_>, init: &str, ext: &str) -> Result<PathBuf> {
    let name = std::str::from_utf8(e.name)
        .with_context(|| format!("module name {:?} is not UTF-8", e.name_lossy()))?;
    let mut p = dir.to_path_buf();
    if e.is_data() {
        let rel = name.strip_prefix('/').unwrap_or(name);
        for part in rel.split('/') {
            // Refuse anything that could escape `dir` or name no file.
            if part.is_empty() || part == "." || part == ".." || part.contains('\\') {
                bail!("data entry {name:?} cannot be mapped to a path");
            }
            p.push(part);
        }
        return Ok(p);
    }
    let parts: Vec<&str> = name.split('.').collect();
    for part in &parts {
        // Names come from a file we did not write: refuse anything that could escape `dir`.
        if part.is_empty() || *part == ".." || part.contains(['/', '\\']) {
            bail!("module name {name:?} cannot be mapped to a path");
        }
        p.push(part);
    }
    if e.package() {
        p.push(format!("{init}.{ext}"));
    } else {
        p.set_extension(ext);
    }
    Ok(p)
}

/// Write the selected modules (all when `only` is empty) of `table` under
/// `dir`, as the interpreter's own files when `native` (else raw `.bin`).
/// Returns the files written.
pub fn extract(
    table: &Table<'_>,
    dir: &Path,
    only: &[String],
    native: bool,
    seen: &mut HashSet<PathBuf>,
) -> Result<Vec<PathBuf>> {
    let lang = crate::langs::of(table.tag.kind);
    // The extension native files take, from the interpreter itself.
    let native_ext = lang.native_file(table.tag.value, &[]).map(|(ext, _)| ext);
    if native && native_ext.is_none() {
        bail!(
            "this table's interpreter ({}) has no file format of its own; only raw .bin files can be written",
            table.tag.kind.name()
        );
    }
    let ext = native_ext.filter(|_| native).unwrap_or("bin");
    let init = lang.layout().init;
    let mut written = Vec::new();
    let selected: Vec<Entry> = if only.is_empty() {
        table.entries().collect()
    } else {
        let mut v = Vec::new();
        for n in only {
            match table.find(n.as_bytes()) {
                Some(e) => v.push(e),
                None => continue,
            }
        }
        v
    };
    for e in selected {
        let path = module_path(dir, &e, init, ext)?;
        if !seen.insert(path.clone()) {
            bail!(
                "{}: written twice (the module is in more than one table; pick one with --table)",
                path.display()
            );
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("{}: cannot create directory", parent.display()))?;
        }
        let bytes = match lang.native_file(table.tag.value, e.data) {
            Some((_, b)) if native && !e.is_data() => b,
            _ => e.data.to_vec(),
        };
        crate::output::write_atomic(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}
