//! Walking a directory of sources into module specs: paths become dotted
//! names, a directory holding an init file (the layout's, see [`Layout`]) is a package,
//! and exclude/include globs prune what is not wanted.
//!
//! Glob rules: a pattern without `/` matches a file or directory name at any
//! depth (`tests`, `test_*`); a pattern with `/` matches the whole path
//! relative to the tree's root (`lib2to3/tests`, `*/tests`, `**/data`).
//! Files match with or without their extension. An include pattern wins
//! over every exclude pattern.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::spec::{DataSpec, ModuleSpec};

/// How an interpreter lays modules out on disk.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Source file extension, without the dot.
    pub ext: &'static str,
    /// Stem of the file that makes a directory a package.
    pub init: &'static str,
    /// Directory names never walked (caches).
    pub skip_dirs: &'static [&'static str],
}

/// Exclude/include globs, compiled.
#[derive(Debug, Clone)]
pub struct Filter {
    exclude_name: GlobSet,
    exclude_path: GlobSet,
    include_name: GlobSet,
    include_path: GlobSet,
}

fn globset(pats: &[String], with_slash: bool, what: &str) -> Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for p in pats {
        let p = p.trim_end_matches('/');
        if p.contains('/') != with_slash {
            continue;
        }
        let g = GlobBuilder::new(p.trim_start_matches('/'))
            .literal_separator(true)
            .build()
            .map_err(|e| anyhow!("{what} {p:?}: bad glob: {e}"))?;
        b.add(g);
    }
    Ok(b.build()?)
}

impl Filter {
    pub fn new(exclude: &[String], include: &[String]) -> Result<Filter> {
        Ok(Filter {
            exclude_name: globset(exclude, false, "--exclude")?,
            exclude_path: globset(exclude, true, "--exclude")?,
            include_name: globset(include, false, "--include")?,
            include_path: globset(include, true, "--include")?,
        })
    }

    /// Is the entry at `rel` (relative to the tree root, `/`-separated) pruned?
    /// `stem` is its name without the source extension, for files.
    pub fn excluded(&self, rel: &str, stem: Option<&str>) -> bool {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        let rel_stem = stem.map(|s| format!("{}{s}", &rel[..rel.len() - name.len()]));
        let hit = |names: &GlobSet, paths: &GlobSet| {
            names.is_match(name)
                || paths.is_match(rel)
                || stem.is_some_and(|s| names.is_match(s))
                || rel_stem.as_deref().is_some_and(|r| paths.is_match(r))
        };
        hit(&self.exclude_name, &self.exclude_path) && !hit(&self.include_name, &self.include_path)
    }
}

/// What walking a tree found.
#[derive(Debug, Default)]
pub struct Walked {
    pub modules: Vec<ModuleSpec>,
    /// Data files found beside the modules (by walkers that collect them).
    pub data: Vec<DataSpec>,
    /// Every directory walked (a new file there changes its mtime; make
    /// rebuilds when a depfile lists it).
    pub dirs: Vec<PathBuf>,
}

/// Walk `root` into module specs named under `prefix` (if any).
///
/// If `root` itself holds an init file it is a package, named `prefix` or
/// else the directory's own name; otherwise its entries are top-level
/// modules (under `prefix`). Below the root, only directories with an init
/// file are descended into: a plain directory is not a package, and frozen
/// modules cannot be namespace packages.
pub fn walk(
    root: &Path,
    prefix: Option<&str>,
    layout: &Layout,
    filter: &Filter,
    out: &mut Walked,
) -> Result<()> {
    let meta = std::fs::metadata(root)
        .with_context(|| format!("--tree {}: cannot read", root.display()))?;
    if !meta.is_dir() {
        bail!("--tree {}: not a directory", root.display());
    }
    let init = format!("{}.{}", layout.init, layout.ext);
    if root.join(&init).is_file() {
        let name = match prefix {
            Some(p) => p.to_string(),
            None => {
                let abs = std::path::absolute(root)?;
                let base = abs
                    .file_name()
                    .ok_or_else(|| anyhow!("--tree {}: a package needs a name", root.display()))?;
                base.to_string_lossy().into_owned()
            }
        };
        walk_dir(root, "", Some(&name), layout, filter, out)
    } else {
        walk_dir(root, "", prefix, layout, filter, out)
    }
}

/// `dir` is a package named `pkg` when `pkg` is given and `dir` has an init
/// file; its other entries are modules under `pkg`.
fn walk_dir(
    dir: &Path,
    rel: &str,
    pkg: Option<&str>,
    layout: &Layout,
    filter: &Filter,
    out: &mut Walked,
) -> Result<()> {
    out.dirs.push(dir.to_path_buf());
    // Name, path, and whether it is a directory (None: a symlink, resolved below).
    let mut entries: Vec<(String, PathBuf, Option<bool>)> = Vec::new();
    let rd = std::fs::read_dir(dir).with_context(|| format!("{}: cannot read", dir.display()))?;
    for e in rd {
        let e = e.with_context(|| format!("{}: cannot read", dir.display()))?;
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            // Not UTF-8: no module name could name it; say so rather than skip it silently.
            bail!(
                "{}: the file name is not UTF-8, so no module name can refer to it (use --exclude)",
                e.path().display()
            );
        };
        // The directory entry's own type costs no system call; only
        // symlinks need a look at what they point to.
        let is_dir = e.file_type().ok().and_then(|t| {
            if t.is_symlink() {
                None
            } else {
                Some(t.is_dir())
            }
        });
        entries.push((name, e.path(), is_dir));
    }
    entries.sort();
    let ext = format!(".{}", layout.ext);
    let init = format!("{}{ext}", layout.init);
    let child_name = |stem: &str| match pkg {
        Some(p) => format!("{p}.{stem}"),
        None => stem.to_string(),
    };
    let mut subpackages = Vec::new();
    let dir_named = |stem: &str| entries.binary_search_by(|e| e.0.as_str().cmp(stem)).is_ok();
    for (name, path, is_dir) in &entries {
        let (name, path) = (name.clone(), path.clone());
        let r = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let is_source = name.ends_with(&ext) && name.len() > ext.len();
        let is_dir = match is_dir {
            Some(d) => *d,
            None => match std::fs::metadata(&path) {
                Ok(m) => m.is_dir(),
                // Only a broken source matters; other odd entries are not ours.
                Err(e) if is_source => {
                    if filter.excluded(&r, Some(&name[..name.len() - ext.len()])) {
                        continue;
                    }
                    return Err(anyhow!(e).context(format!("{}: cannot read", path.display())));
                }
                Err(_) => continue,
            },
        };
        if is_dir {
            if layout.skip_dirs.contains(&name.as_str()) || filter.excluded(&r, None) {
                continue;
            }
            if path.join(&init).is_file() {
                subpackages.push((name, path, r));
            }
            continue;
        }
        if !is_source {
            continue;
        }
        let stem = &name[..name.len() - ext.len()];
        if filter.excluded(&r, Some(stem)) {
            continue;
        }
        if stem == layout.init {
            if rel.is_empty() && pkg.is_none() {
                continue; // unreachable: a root with an init file has a name
            }
            out.modules.push(ModuleSpec {
                name: pkg.expect("a package dir has a name").to_string(),
                package: true,
                path,
            });
            continue;
        }
        if stem.contains('.') {
            bail!(
                "{}: the file name holds a dot, so no import can name module `{}` (use --exclude)",
                path.display(),
                child_name(stem)
            );
        }
        let dir_rel = &r[..r.len() - ext.len()];
        if dir_named(stem)
            && dir.join(stem).join(&init).is_file()
            && !filter.excluded(dir_rel, None)
        {
            bail!(
                "{} and {} both define module `{}`: a module and a package of the same name",
                path.display(),
                dir.join(stem).join(&init).display(),
                child_name(stem)
            );
        }
        out.modules.push(ModuleSpec {
            name: child_name(stem),
            package: false,
            path,
        });
    }
    for (name, path, r) in subpackages {
        let child = child_name(&name);
        walk_dir(&path, &r, Some(&child), layout, filter, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PY: Layout = Layout {
        ext: "py",
        init: "__init__",
        skip_dirs: &["__pycache__"],
    };

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "x = 1\n").unwrap();
    }

    fn names(root: &Path, ex: &[&str], inc: &[&str]) -> Vec<String> {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let f = Filter::new(&s(ex), &s(inc)).unwrap();
        let mut w = Walked::default();
        walk(root, None, &PY, &f, &mut w).unwrap();
        w.modules.sort_by(|a, b| a.name.cmp(&b.name));
        w.modules
            .iter()
            .map(|m| format!("{}{}", m.name, if m.package { "/" } else { "" }))
            .collect()
    }

    #[test]
    fn walks_and_filters() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for f in [
            "top.py",
            "pkg/__init__.py",
            "pkg/a.py",
            "pkg/tests/__init__.py",
            "pkg/tests/t.py",
            "pkg/sub/__init__.py",
            "pkg/sub/b.py",
            "pkg/__pycache__/a.cpython-311.py",
            "plain/c.py",
            "notes.txt",
        ] {
            touch(&r.join(f));
        }
        assert_eq!(
            names(r, &[], &[]),
            [
                "pkg/",
                "pkg.a",
                "pkg.sub/",
                "pkg.sub.b",
                "pkg.tests/",
                "pkg.tests.t",
                "top"
            ]
        );
        assert_eq!(
            names(r, &["tests", "b"], &[]),
            ["pkg/", "pkg.a", "pkg.sub/", "top"]
        );
        assert_eq!(
            names(r, &["pkg/*"], &["pkg/sub"]),
            ["pkg.sub/", "pkg.sub.b", "top"]
        );
        // A package root is named after its directory.
        assert_eq!(names(&r.join("pkg/sub"), &[], &[]), ["sub/", "sub.b"]);
    }

    #[test]
    fn module_and_package_conflict() {
        let d = tempfile::tempdir().unwrap();
        touch(&d.path().join("x.py"));
        touch(&d.path().join("x/__init__.py"));
        let f = Filter::new(&[], &[]).unwrap();
        let e = walk(d.path(), None, &PY, &f, &mut Walked::default()).unwrap_err();
        assert!(e.to_string().contains("both define module `x`"), "{e}");
    }
}
