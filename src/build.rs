//! The `build` pipeline: module specs in, one object file out.
//!
//! Data flows one way: specs (from the command line or a manifest) are
//! loaded into bytecode, checked against the interpreter's rules, laid out as
//! a table ([`crate::format`]), wrapped in an object ([`crate::objwrite`]) and
//! written atomically ([`crate::output`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cpython;
use crate::format::{self, Module, Tag, TagKind};
use crate::objwrite::{self, Placement};
use crate::target::Target;

/// One module to freeze, before its bytes are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSpec {
    pub name: String,
    pub package: bool,
    pub path: PathBuf,
}

/// A module frozen under `name` from the bytecode of module `origin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasSpec {
    pub name: String,
    pub origin: String,
}

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub output: PathBuf,
    pub target: Target,
    pub placement: Placement,
    pub modules: Vec<ModuleSpec>,
    pub aliases: Vec<AliasSpec>,
    /// What the bytecode is for; `None` infers CPython from `.pyc` inputs or `tag`.
    pub interp: Option<TagKind>,
    /// The interpreter tag (`--magic`/`--tag`); must agree with `.pyc` headers.
    pub tag: Option<u32>,
    pub depfile: Option<PathBuf>,
}

/// What a build wrote.
#[derive(Debug)]
pub struct Summary {
    pub modules: usize,
    pub table_size: usize,
    pub object_size: usize,
    pub tag: Tag,
}

/// Run a build from start to finish.
pub fn build(opts: &BuildOptions) -> Result<Summary> {
    check_output_not_input(opts)?;
    let mut deps: BTreeSet<PathBuf> = BTreeSet::new();
    let loaded = load_modules(opts, &mut deps)?;
    let tag = resolve_tag(opts, &loaded)?;

    let mut modules: Vec<Module> = loaded.into_iter().map(|l| l.module).collect();
    for a in &opts.aliases {
        let Some(origin) = modules.iter().find(|m| m.name == a.origin) else {
            bail!(
                "--alias {}={}: no module `{}` is being frozen",
                a.name,
                a.origin,
                a.origin
            );
        };
        let m = Module {
            name: a.name.clone(),
            data: origin.data.clone(),
            package: origin.package,
            origin: Some(a.origin.clone()),
        };
        modules.push(m);
    }
    if tag.kind == TagKind::Cpython {
        for m in &modules {
            if let Err(why) = cpython::names::check_module_name(&m.name) {
                bail!("invalid module name {:?}: {why}", m.name);
            }
        }
        cpython::names::check_package_structure(
            modules.iter().map(|m| (m.name.as_str(), m.package)),
        )?;
    }
    let table = format::write_table(&modules, tag, opts.target.endian)?;
    let obj = objwrite::write_object(&opts.target, &opts.placement, &table)
        .with_context(|| format!("{}: cannot write the object", opts.output.display()))?;
    crate::output::write_atomic(&opts.output, &obj)?;
    if let Some(dep) = &opts.depfile {
        crate::output::write_atomic(dep, depfile(&opts.output, &deps).as_bytes())?;
    }
    Ok(Summary {
        modules: modules.len(),
        table_size: table.len(),
        object_size: obj.len(),
        tag,
    })
}

struct Loaded {
    module: Module,
    path: PathBuf,
    /// The `.pyc` magic, for `.pyc` inputs.
    pyc_tag: Option<u32>,
}

fn load_modules(opts: &BuildOptions, deps: &mut BTreeSet<PathBuf>) -> Result<Vec<Loaded>> {
    let mut out = Vec::with_capacity(opts.modules.len());
    for spec in &opts.modules {
        let p = &spec.path;
        let bytes = read_input(p)?;
        deps.insert(p.clone());
        let is_pyc = p.extension().is_some_and(|e| e == "pyc");
        if p.extension().is_some_and(|e| e == "py") {
            bail!(
                "{}: Python source needs an interpreter to compile it (--python PATH)",
                p.display()
            );
        }
        let (data, pyc_tag) = if is_pyc {
            let pyc = cpython::pyc::parse(&bytes).with_context(|| p.display().to_string())?;
            (pyc.code.to_vec(), Some(pyc.tag))
        } else {
            (bytes, None)
        };
        out.push(Loaded {
            module: Module {
                name: spec.name.clone(),
                data,
                package: spec.package,
                origin: None,
            },
            path: p.clone(),
            pyc_tag,
        });
    }
    Ok(out)
}

/// Read one input file, with errors that name it.
pub fn read_input(p: &Path) -> Result<Vec<u8>> {
    if p.is_dir() {
        bail!("{}: is a directory, expected a bytecode file", p.display());
    }
    let bytes = std::fs::read(p).with_context(|| format!("{}: cannot read", p.display()))?;
    if bytes.is_empty() {
        bail!("{}: file is empty", p.display());
    }
    Ok(bytes)
}

/// The table's interpreter tag: every `.pyc` must agree, with each other and
/// with `--magic`; raw inputs for CPython must hold code objects.
fn resolve_tag(opts: &BuildOptions, loaded: &[Loaded]) -> Result<Tag> {
    let mut first: Option<(u32, &Path)> = None;
    for l in loaded {
        let Some(t) = l.pyc_tag else { continue };
        match first {
            None => first = Some((t, &l.path)),
            Some((t0, p0)) if t0 != t => bail!(
                "{}: bytecode magic {} ({}) differs from {}'s {} ({}): every module in a table must be for one interpreter version",
                l.path.display(),
                t & 0xffff,
                cpython::pyc::python_version(t).unwrap_or("unknown version"),
                p0.display(),
                t0 & 0xffff,
                cpython::pyc::python_version(t0).unwrap_or("unknown version"),
            ),
            _ => {}
        }
    }
    let kind = match opts.interp {
        Some(k) => k,
        None if first.is_some() || opts.tag.is_some() => TagKind::Cpython,
        None => TagKind::None,
    };
    if let (true, Some((_, p))) = (kind != TagKind::Cpython, first) {
        bail!(
            "{}: .pyc inputs are CPython bytecode, but --interp {} was given",
            p.display(),
            kind.name()
        );
    }
    let value = match (opts.tag, first) {
        (Some(m), Some((t, p))) if m != t => bail!(
            "--magic {m} does not match {}, whose magic is {} ({})",
            p.display(),
            t & 0xffff,
            cpython::pyc::python_version(t).unwrap_or("unknown version")
        ),
        (Some(m), _) => m,
        (None, Some((t, _))) => t,
        (None, None) => 0,
    };
    if kind == TagKind::Cpython {
        for l in loaded.iter().filter(|l| l.pyc_tag.is_none()) {
            cpython::pyc::check_code_object(&l.module.data)
                .with_context(|| l.path.display().to_string())?;
        }
    }
    Ok(Tag { kind, value })
}

fn check_output_not_input(opts: &BuildOptions) -> Result<()> {
    let Ok(out) = std::fs::canonicalize(&opts.output) else {
        return Ok(());
    };
    for m in &opts.modules {
        if std::fs::canonicalize(&m.path).is_ok_and(|p| p == out) {
            bail!(
                "{}: the output would overwrite an input",
                opts.output.display()
            );
        }
    }
    Ok(())
}

/// A make rule naming every file the build read, as `gcc -MD` writes.
pub fn depfile(target: &Path, deps: &BTreeSet<PathBuf>) -> String {
    let esc = |p: &Path| {
        p.display()
            .to_string()
            .replace(' ', "\\ ")
            .replace('$', "$$")
            .replace('#', "\\#")
    };
    let mut s = format!("{}:", esc(target));
    for d in deps {
        s.push_str(" \\\n  ");
        s.push_str(&esc(d));
    }
    s.push('\n');
    // Phony targets so a deleted input does not break make.
    for d in deps {
        s.push_str(&format!("{}:\n", esc(d)));
    }
    s
}
