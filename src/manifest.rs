//! `--manifest FILE.toml`: a build described in a file, for builds too long
//! for a command line. The schema is documented in README.md ("Manifest");
//! unknown keys are errors, so a typo never silently drops an input.
//!
//! Relative paths are relative to the manifest's directory, so a manifest
//! means the same wherever make runs from. The NEW side of a prefix map is
//! a run-time path and is kept as written.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::spec::{AliasSpec, ModuleSpec, TreeSpec};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Raw {
    python: Option<PathBuf>,
    optimize: Option<u8>,
    target: Option<String>,
    symbol: Option<String>,
    section: Option<String>,
    visibility: Option<String>,
    stdlib: Option<bool>,
    default_excludes: Option<bool>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    prefix_map: Vec<String>,
    cache_dir: Option<PathBuf>,
    #[serde(default)]
    tree: Vec<RawTree>,
    #[serde(default)]
    site_packages: Vec<PathBuf>,
    #[serde(default)]
    module: Vec<RawModule>,
    #[serde(default)]
    package: Vec<RawPackage>,
    #[serde(default)]
    alias: Vec<RawAlias>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTree {
    path: PathBuf,
    prefix: Option<String>,
    #[serde(default)]
    exclude: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    name: String,
    path: PathBuf,
    #[serde(default)]
    package: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPackage {
    name: String,
    path: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlias {
    name: String,
    origin: String,
    path: Option<PathBuf>,
}

/// A loaded manifest, paths resolved. Scalars the command line also sets
/// are `None` when the manifest leaves them out.
#[derive(Debug, Default)]
pub struct Manifest {
    pub python: Option<PathBuf>,
    pub optimize: Option<u8>,
    pub target: Option<String>,
    pub symbol: Option<String>,
    pub section: Option<String>,
    pub visibility: Option<String>,
    pub stdlib: Option<bool>,
    pub default_excludes: Option<bool>,
    pub exclude: Vec<String>,
    pub include: Vec<String>,
    pub prefix_map: Vec<(PathBuf, PathBuf)>,
    pub cache_dir: Option<PathBuf>,
    pub trees: Vec<TreeSpec>,
    pub site_packages: Vec<PathBuf>,
    pub modules: Vec<ModuleSpec>,
    pub aliases: Vec<AliasSpec>,
}

/// Parse `OLD=NEW`, with OLD made absolute against `base`.
pub fn parse_prefix_map(s: &str, base: &Path) -> Result<(PathBuf, PathBuf)> {
    let Some((old, new)) = s.split_once('=') else {
        bail!("prefix map {s:?}: expected OLD=NEW");
    };
    if old.is_empty() {
        bail!("prefix map {s:?}: OLD is empty");
    }
    let old = std::path::absolute(base.join(old))?;
    Ok((old, PathBuf::from(new)))
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--manifest {}: cannot read", path.display()))?;
        let raw: Raw = toml::from_str(&text)
            .with_context(|| format!("--manifest {}: not a valid manifest", path.display()))?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let at = |p: PathBuf| if p.is_absolute() { p } else { dir.join(p) };
        let mut prefix_map = Vec::new();
        for m in &raw.prefix_map {
            prefix_map.push(
                parse_prefix_map(m, &dir)
                    .with_context(|| format!("--manifest {}", path.display()))?,
            );
        }
        let mut modules: Vec<ModuleSpec> = raw
            .module
            .into_iter()
            .map(|m| ModuleSpec {
                name: m.name,
                package: m.package,
                path: at(m.path),
            })
            .collect();
        modules.extend(raw.package.into_iter().map(|p| ModuleSpec {
            name: p.name,
            package: true,
            path: at(p.path),
        }));
        Ok(Manifest {
            // A bare command name (`python3.11`) is looked up on PATH, not
            // beside the manifest.
            python: raw
                .python
                .map(|p| if p.components().count() > 1 { at(p) } else { p }),
            optimize: raw.optimize,
            target: raw.target,
            symbol: raw.symbol,
            section: raw.section,
            visibility: raw.visibility,
            stdlib: raw.stdlib,
            default_excludes: raw.default_excludes,
            exclude: raw.exclude,
            include: raw.include,
            prefix_map,
            cache_dir: raw.cache_dir.map(at),
            trees: raw
                .tree
                .into_iter()
                .map(|t| TreeSpec {
                    path: at(t.path),
                    prefix: t.prefix,
                    exclude: t.exclude,
                })
                .collect(),
            site_packages: raw.site_packages.into_iter().map(at).collect(),
            modules,
            aliases: raw
                .alias
                .into_iter()
                .map(|a| AliasSpec {
                    name: a.name,
                    origin: a.origin,
                    path: a.path.map(at),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_and_refuses_unknown_keys() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.toml");
        std::fs::write(
            &p,
            r#"
python = "python3.11"
optimize = 1
stdlib = true
exclude = ["tests"]
site-packages = ["vendor/site-packages"]
prefix-map = ["src=/usr/lib/app"]
[[tree]]
path = "src"
prefix = "app"
[[module]]
name = "x"
path = "x.py"
[[package]]
name = "p"
path = "p/__init__.py"
[[alias]]
name = "_y"
origin = "x"
"#,
        )
        .unwrap();
        let m = Manifest::load(&p).unwrap();
        assert_eq!(m.python.as_deref(), Some(Path::new("python3.11")));
        assert_eq!(m.trees[0].path, d.path().join("src"));
        assert_eq!(m.site_packages, [d.path().join("vendor/site-packages")]);
        assert_eq!(m.modules.len(), 2);
        assert!(m.modules[1].package);
        assert_eq!(m.prefix_map[0].0, d.path().join("src"));
        std::fs::write(&p, "trees = []\n").unwrap();
        let e = format!("{:#}", Manifest::load(&p).unwrap_err());
        assert!(e.contains("unknown field `trees`"), "{e}");
    }
}
