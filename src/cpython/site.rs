//! `--site-packages DIR`: an installed set of distributions (what `pip
//! install --target DIR` or a virtualenv's `site-packages` holds) frozen
//! whole: every importable module and package, each package's data files,
//! and every `*.dist-info` / `*.egg-info` directory's files, so
//! `importlib.resources` and `importlib.metadata` work with DIR gone.
//!
//! Data entries are named `/` + their path below DIR (`/certifi/cacert.pem`,
//! `/attrs-23.2.0.dist-info/METADATA`); for a package that is also
//! `/` + the package's dotted name with `/` for `.` + the file's path in it,
//! which is how the C glue finds a package's files.
//!
//! What cannot be frozen is left out and said: extension modules (`.so`,
//! `.pyd`: the loader needs a file to `dlopen`), `.pth` files (run by
//! `site` at startup from a directory on `sys.path`), directories without
//! an `__init__.py` (namespace packages, a `bin/` of scripts), and
//! sourceless `.pyc` files outside `__pycache__`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::stdlib::LAYOUT;
use crate::frontend::Said;
use crate::spec::DataSpec;
use crate::tree::{self, Filter, Walked};

/// File endings of extension modules, which a table cannot hold.
const EXTENSIONS: &[&str] = &[".so", ".pyd", ".dylib", ".dll"];

fn is_extension(name: &str) -> bool {
    EXTENSIONS.iter().any(|e| name.ends_with(e))
}

fn is_metadata_dir(name: &str) -> bool {
    name.ends_with(".dist-info") || name.ends_with(".egg-info")
}

/// Walk `dir` into `out`: modules (as `--tree DIR` finds them), then the
/// data files of every package found and every metadata directory.
pub fn walk(dir: &Path, filter: &Filter, out: &mut Walked, said: &mut Said) -> Result<()> {
    let first_module = out.modules.len();
    if dir.join("__init__.py").is_file() {
        // A package directory given where its parent was meant: its modules
        // would be top-level names.
        anyhow::bail!(
            "--site-packages {}: holds an __init__.py, so it is a package, not a directory of installed packages (give its parent, or use --tree)",
            dir.display()
        );
    }
    tree::walk(dir, None, &LAYOUT, filter, out)
        .with_context(|| format!("--site-packages {}", dir.display()))?;
    let mut skipped_ext = Vec::new();
    let mut left_out = Vec::new();
    // Top level: metadata directories, and what is neither module nor package.
    for (name, path, is_dir) in sorted_entries(dir)? {
        let rel = name.clone();
        if filter.excluded(&rel, None) || LAYOUT.skip_dirs.contains(&name.as_str()) {
            continue;
        }
        if is_dir {
            if is_metadata_dir(&name) {
                data_files(
                    &path,
                    &format!("/{name}"),
                    &rel,
                    filter,
                    out,
                    &mut skipped_ext,
                )?;
            } else if !path.join("__init__.py").is_file() {
                left_out.push(format!("{name}/ (no __init__.py: not a regular package)"));
            }
        } else if name.ends_with(".pth") {
            left_out.push(format!("{name} (.pth files are run by site from sys.path)"));
        } else if is_extension(&name) {
            skipped_ext.push(path);
        } else if !name.ends_with(".py") {
            left_out.push(format!("{name} (not a module)"));
        }
    }
    // Each package's own files that are not its modules.
    let packages: Vec<(String, PathBuf)> = out.modules[first_module..]
        .iter()
        .filter(|m| m.package)
        .map(|m| (m.name.clone(), m.path.parent().unwrap_or(dir).to_path_buf()))
        .collect();
    for (name, pkg_dir) in packages {
        let rel = name.replace('.', "/");
        package_data(
            &pkg_dir,
            &format!("/{rel}"),
            &rel,
            filter,
            out,
            &mut skipped_ext,
        )?;
    }
    if !skipped_ext.is_empty() {
        said.warnings.push(format!(
            "--site-packages {}: {} extension module{} cannot be frozen (the import system loads them from a file) and {} left out: {}",
            dir.display(),
            skipped_ext.len(),
            if skipped_ext.len() == 1 { "" } else { "s" },
            if skipped_ext.len() == 1 { "is" } else { "are" },
            skipped_ext
                .iter()
                .map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !left_out.is_empty() {
        said.notes.push(format!(
            "--site-packages {}: left out {}",
            dir.display(),
            left_out.join(", ")
        ));
    }
    Ok(())
}

/// `(name, path, is_dir)` of `dir`'s entries, sorted by name (the table is
/// sorted anyway; sorted walks keep messages stable).
fn sorted_entries(dir: &Path) -> Result<Vec<(String, PathBuf, bool)>> {
    let mut v = Vec::new();
    let rd = std::fs::read_dir(dir).with_context(|| format!("{}: cannot read", dir.display()))?;
    for e in rd {
        let e = e.with_context(|| format!("{}: cannot read", dir.display()))?;
        let path = e.path();
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            anyhow::bail!(
                "{}: the file name is not UTF-8, so no table entry can be named after it (use --exclude)",
                path.display()
            );
        };
        // Follows symlinks: an installed file may be a link into a store.
        let is_dir = std::fs::metadata(&path)
            .with_context(|| format!("{}: cannot read", path.display()))?
            .is_dir();
        v.push((name, path, is_dir));
    }
    v.sort();
    Ok(v)
}

/// A package directory's data: every file that is not a module source, a
/// sourceless `.pyc` or an extension module, in it and in its
/// subdirectories that are not packages themselves (those have their own turn).
fn package_data(
    dir: &Path,
    name: &str,
    rel: &str,
    filter: &Filter,
    out: &mut Walked,
    skipped_ext: &mut Vec<PathBuf>,
) -> Result<()> {
    walk_data(dir, name, rel, true, filter, out, skipped_ext)
}

/// Every file under `dir` as data (metadata directories, a package's data
/// directories), named `name/...`.
fn data_files(
    dir: &Path,
    name: &str,
    rel: &str,
    filter: &Filter,
    out: &mut Walked,
    skipped_ext: &mut Vec<PathBuf>,
) -> Result<()> {
    out.dirs.push(dir.to_path_buf());
    walk_data(dir, name, rel, false, filter, out, skipped_ext)
}

/// The one walk behind both: `in_package` leaves subpackages and module
/// sources to the module walk; extension modules are never data.
fn walk_data(
    dir: &Path,
    name: &str,
    rel: &str,
    in_package: bool,
    filter: &Filter,
    out: &mut Walked,
    skipped_ext: &mut Vec<PathBuf>,
) -> Result<()> {
    for (entry, path, is_dir) in sorted_entries(dir)? {
        let r = format!("{rel}/{entry}");
        if LAYOUT.skip_dirs.contains(&entry.as_str()) || filter.excluded(&r, None) {
            continue;
        }
        let child = format!("{name}/{entry}");
        if is_dir {
            if !(in_package && path.join("__init__.py").is_file()) {
                data_files(&path, &child, &r, filter, out, skipped_ext)?;
            }
        } else if is_extension(&entry) {
            skipped_ext.push(path);
        } else if !(in_package && (entry.ends_with(".py") || entry.ends_with(".pyc"))) {
            out.data.push(DataSpec { name: child, path });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(p: &Path, s: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, s).unwrap();
    }

    #[test]
    fn modules_data_and_metadata() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for f in [
            "six.py",
            "pkg/__init__.py",
            "pkg/mod.py",
            "pkg/data.txt",
            "pkg/py.typed",
            "pkg/templates/page.html",
            "pkg/sub/__init__.py",
            "pkg/sub/blob.bin",
            "pkg/_speedups.cpython-311-x86_64-linux-gnu.so",
            "pkg/__pycache__/mod.cpython-311.pyc",
            "pkg-1.0.dist-info/METADATA",
            "pkg-1.0.dist-info/licenses/LICENSE",
            "nspkg/thing.py",
            "bin/script",
            "x.pth",
        ] {
            put(&r.join(f), "");
        }
        let mut w = Walked::default();
        let mut said = Said::default();
        walk(r, &Filter::new(&[], &[]).unwrap(), &mut w, &mut said).unwrap();
        let mut mods: Vec<_> = w.modules.iter().map(|m| m.name.as_str()).collect();
        mods.sort();
        assert_eq!(mods, ["pkg", "pkg.mod", "pkg.sub", "six"]);
        let mut data: Vec<_> = w.data.iter().map(|d| d.name.as_str()).collect();
        data.sort();
        assert_eq!(
            data,
            [
                "/pkg-1.0.dist-info/METADATA",
                "/pkg-1.0.dist-info/licenses/LICENSE",
                "/pkg/data.txt",
                "/pkg/py.typed",
                "/pkg/sub/blob.bin",
                "/pkg/templates/page.html",
            ]
        );
        assert_eq!(said.warnings.len(), 1, "{:?}", said.warnings);
        assert!(
            said.warnings[0].contains("pkg/_speedups"),
            "{:?}",
            said.warnings
        );
        let notes = said.notes.join("\n");
        for n in ["bin/", "nspkg/", "x.pth"] {
            assert!(notes.contains(n), "{notes}");
        }
        // Excludes apply to data too.
        let mut w = Walked::default();
        let f = Filter::new(&["templates".into(), "*.dist-info".into()], &[]).unwrap();
        walk(r, &f, &mut w, &mut Said::default()).unwrap();
        assert!(w.data.iter().all(|d| !d.name.contains("templates")));
        assert!(w.data.iter().all(|d| !d.name.contains("dist-info")));
    }
}
