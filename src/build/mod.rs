//! The `build` pipeline: module specs in, one object file out.
//!
//! Data flows one way: specs (from the command line or a manifest) are
//! loaded into bytecode, checked against the interpreter's rules, laid out as
//! a table ([`crate::format`]), wrapped in an object ([`crate::objwrite`]) and
//! written atomically ([`crate::output`]).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cache::Cache;
use crate::format::{self, Module, Tag, TagKind};
use crate::frontend::{Said, Stats};
use crate::objwrite::{self, Placement};
use crate::spec::Gathered;
use crate::target::Target;
use crate::tree;

pub mod input;

pub use crate::spec::{AliasSpec, DataSpec, ModuleSpec, TreeSpec};
pub use input::{read_input, read_input_into};
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub output: PathBuf,
    pub target: Target,
    pub placement: Placement,
    pub modules: Vec<ModuleSpec>,
    pub aliases: Vec<AliasSpec>,
    /// What the bytecode is for; `None` lets the default front end infer it
    /// from the inputs (see [`crate::langs::DEFAULT`]).
    pub interp: Option<TagKind>,
    /// The interpreter tag (`--magic`/`--tag`); must agree with what inputs say.
    pub tag: Option<u32>,
    pub depfile: Option<PathBuf>,
    /// The interpreter that compiles sources (and whose tag the table gets).
    pub compiler: Option<PathBuf>,
    /// `compile(optimize=N)`, as `compileall -o N`.
    pub optimize: u8,
    pub trees: Vec<TreeSpec>,
    /// Directories of installed distributions: modules, package data and
    /// metadata (walked by the front end).
    pub site_packages: Vec<PathBuf>,
    /// Freeze the interpreter's standard library.
    pub stdlib: bool,
    /// Apply the front end's default excludes to the standard library.
    pub default_excludes: bool,
    /// Globs excluded from every tree and the standard library.
    pub excludes: Vec<String>,
    /// Globs kept even when an exclude matches.
    pub includes: Vec<String>,
    /// Rewriting of the source paths compiled code records, OLD (absolute)
    /// to NEW; the last match wins.
    pub prefix_map: Vec<(PathBuf, PathBuf)>,
    /// Bytecode cache; `None` compiles everything.
    pub cache_dir: Option<PathBuf>,
    /// Compiler worker processes; 0 means one per CPU.
    pub jobs: usize,
    /// Show a progress bar when stderr is a terminal and the work is long.
    pub progress: bool,
    /// Other files the build read (a manifest), for the depfile.
    pub extra_deps: Vec<PathBuf>,
}

impl BuildOptions {
    /// Options that freeze nothing yet: no modules, no interpreter, no cache.
    pub fn new(output: PathBuf, target: Target, placement: Placement) -> Self {
        BuildOptions {
            output,
            target,
            placement,
            modules: Vec::new(),
            aliases: Vec::new(),
            interp: None,
            tag: None,
            depfile: None,
            compiler: None,
            optimize: 0,
            trees: Vec::new(),
            site_packages: Vec::new(),
            stdlib: false,
            default_excludes: true,
            excludes: Vec::new(),
            includes: Vec::new(),
            prefix_map: Vec::new(),
            cache_dir: None,
            jobs: 0,
            progress: false,
            extra_deps: Vec::new(),
        }
    }
}

/// What a build wrote.
#[derive(Debug)]
pub struct Summary {
    /// Entries in the table: modules and data files.
    pub modules: usize,
    /// Of those, data files.
    pub data_files: usize,
    pub table_size: usize,
    pub object_size: usize,
    pub tag: Tag,
    /// Sources compiled by the interpreter in this build.
    pub compiled: usize,
    /// Sources whose bytecode came from the cache.
    pub cached: usize,
    /// Things worth saying that did not stop the build.
    pub warnings: Vec<String>,
    /// Things worth saying when asked for detail.
    pub notes: Vec<String>,
}

/// Run a build from start to finish.
pub fn build(opts: &BuildOptions) -> Result<Summary> {
    if opts.optimize > 2 {
        bail!("--optimize {}: expected 0, 1 or 2", opts.optimize);
    }
    let mut deps: BTreeSet<PathBuf> = opts.extra_deps.iter().cloned().collect();
    let cache = opts.cache_dir.as_deref().map(Cache::new);
    // Names, tree layout and inputs follow the interpreter the table is
    // for; when only the inputs will tell, the default front end's.
    let lang = crate::langs::of(opts.interp.unwrap_or(crate::langs::DEFAULT));
    let frontend = lang.frontend(opts, cache.as_ref(), &mut deps)?;
    let mut said = Said::default();
    let (specs, data) = gather(opts, lang, frontend.as_ref(), &mut deps, &mut said)?;
    let Said { warnings, notes } = said;
    check_output_not_input(&opts.output, &specs)?;
    if let Some(dep) = &opts.depfile {
        check_output_not_input(dep, &specs)?;
        let same = |p: &Path| {
            std::fs::canonicalize(p)
                .or_else(|_| std::path::absolute(p).map(|a| input::lexical_normal(&a)))
                .ok()
        };
        if same(dep) == same(&opts.output) {
            bail!("--depfile {}: the same file as the output", dep.display());
        }
    }
    let mut stats = Stats::default();
    let (mut modules, tag) = frontend.load(opts, &specs, cache.as_ref(), &mut deps, &mut stats)?;
    flush_cache(opts, cache.as_ref());

    for a in opts.aliases.iter().filter(|a| a.path.is_none()) {
        let Some(origin) = modules.iter().find(|m| m.name == a.origin) else {
            bail!(
                "--alias {}={}: no module `{}` is being frozen (give its source as {}={}:FILE)",
                a.name,
                a.origin,
                a.origin,
                a.name,
                a.origin
            );
        };
        let m = Module {
            name: a.name.clone(),
            data: origin.data.clone(),
            package: origin.package,
            origin: Some(a.origin.clone()),
            data_file: false,
        };
        modules.push(m);
    }
    frontend.check_modules(&modules)?;
    let data_files = data.len();
    modules.extend(load_data(opts, &data, &mut deps)?);
    let table = format::write_table(&modules, tag, opts.target.endian)?;
    // Streamed straight into the output file: the table is the only full
    // copy of the bytecode held besides the inputs.
    let mut object_size = 0;
    // Stage every output before renaming any, so a failure leaves none written.
    let staged_obj = crate::output::stage_with(&opts.output, |w| {
        let mut w = CountingWriter { inner: w, count: 0 };
        objwrite::write_object_to(&opts.target, &opts.placement, &table, &mut w)
            .with_context(|| format!("{}: cannot write the object", opts.output.display()))?;
        object_size = w.count;
        Ok(())
    })?;
    let staged_dep = match &opts.depfile {
        Some(dep) => Some(crate::output::stage(
            dep,
            depfile(&opts.output, &deps).as_bytes(),
        )?),
        None => None,
    };
    staged_obj.commit()?;
    if let Some(d) = staged_dep {
        d.commit()?;
    }
    Ok(Summary {
        modules: modules.len(),
        data_files,
        table_size: table.len(),
        object_size,
        tag,
        compiled: stats.compiled,
        cached: stats.cached,
        warnings,
        notes,
    })
}

/// Every module to freeze, from the command line, trees, the standard
/// library and aliases with their own source; names checked, no duplicates.
fn gather(
    opts: &BuildOptions,
    lang: &dyn crate::lang::Lang,
    frontend: &dyn crate::frontend::Frontend,
    deps: &mut BTreeSet<PathBuf>,
    said: &mut Said,
) -> Result<(Vec<Gathered>, Vec<DataSpec>)> {
    let mut out: Vec<Gathered> = opts
        .modules
        .iter()
        .map(|m| Gathered {
            spec: m.clone(),
            origin: None,
        })
        .collect();
    let mut walked = tree::Walked::default();
    for t in &opts.trees {
        let mut ex = opts.excludes.clone();
        ex.extend(t.exclude.iter().cloned());
        let filter = tree::Filter::new(&ex, &opts.includes)?;
        tree::walk(
            &t.path,
            t.prefix.as_deref(),
            lang.layout(),
            &filter,
            &mut walked,
        )?;
    }
    let own = frontend.gather(opts, &mut walked, said)?;
    let own = out.len() + own.start..out.len() + own.end;
    deps.extend(walked.dirs);
    let data = walked.data;
    out.extend(
        walked
            .modules
            .into_iter()
            .map(|spec| Gathered { spec, origin: None }),
    );
    for a in opts.aliases.iter() {
        if let Some(p) = &a.path {
            let package = p.file_stem().is_some_and(|s| s == lang.layout().init);
            out.push(Gathered {
                spec: ModuleSpec {
                    name: a.name.clone(),
                    package,
                    path: p.clone(),
                },
                origin: Some(a.origin.clone()),
            });
        }
    }
    let mut seen: HashMap<&str, &Path> = HashMap::new();
    let (mut odd, mut odd_stdlib) = (Vec::new(), Vec::new());
    for (k, g) in out.iter().enumerate() {
        let name = g.spec.name.as_str();
        if let Err(why) = lang.check_name(name) {
            bail!(
                "{}: invalid module name {name:?}: {why}",
                g.spec.path.display()
            );
        }
        if let Some(prev) = seen.insert(name, &g.spec.path) {
            bail!(
                "module `{name}` is given twice: by {} and by {}",
                prev.display(),
                g.spec.path.display()
            );
        }
        if !lang.plain_name(name) {
            // The interpreter's own library's odd names are imported by
            // name string and need no warning on every build.
            if own.contains(&k) {
                odd_stdlib.push(name);
            } else {
                odd.push(name);
            }
        }
    }
    for a in opts.aliases.iter().filter(|a| a.path.is_none()) {
        if let Err(why) = lang.check_name(&a.name) {
            bail!("--alias {}: invalid module name: {why}", a.name);
        }
        if let Some(prev) = seen.insert(&a.name, Path::new("--alias")) {
            bail!(
                "module `{}` is given twice: by {} and by --alias",
                a.name,
                prev.display()
            );
        }
    }
    if !odd.is_empty() {
        said.warnings.push(lang.odd_names(&odd));
    }
    if !odd_stdlib.is_empty() {
        said.notes.push(lang.odd_names(&odd_stdlib));
    }
    let mut data_seen: HashMap<&str, &Path> = HashMap::new();
    for d in &data {
        if let Some(prev) = data_seen.insert(&d.name, &d.path) {
            bail!(
                "data file `{}` is given twice: by {} and by {}",
                d.name,
                prev.display(),
                d.path.display()
            );
        }
    }
    Ok((out, data))
}

/// Data files read as they are: any bytes, empty too (`py.typed`).
fn load_data(
    opts: &BuildOptions,
    data: &[DataSpec],
    deps: &mut BTreeSet<PathBuf>,
) -> Result<Vec<Module>> {
    let mut out = Vec::with_capacity(data.len());
    for d in data {
        let bytes = match read_input(&d.path) {
            Ok(b) => b,
            // read_input refuses empty files, which are no bytecode but fine data.
            Err(_) if std::fs::metadata(&d.path).is_ok_and(|m| m.is_file() && m.len() == 0) => {
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        if opts.depfile.is_some() {
            deps.insert(d.path.clone());
        }
        out.push(Module {
            name: d.name.clone(),
            data: bytes.into(),
            package: false,
            origin: None,
            data_file: true,
        });
    }
    Ok(out)
}

/// Write what the cache gained; failing to only costs the next build time.
pub fn flush_cache(opts: &BuildOptions, cache: Option<&Cache>) {
    if let (Some(c), Some(d)) = (cache, &opts.cache_dir) {
        if let Err(e) = c.flush() {
            eprintln!(
                "objfreeze: warning: {}: cannot write to the bytecode cache: {e}",
                d.display()
            );
        }
    }
}

fn check_output_not_input(output: &Path, specs: &[Gathered]) -> Result<()> {
    let Ok(out) = std::fs::canonicalize(output) else {
        return Ok(());
    };
    // Only an input named like the output can be the path the atomic
    // rename replaces; comparing names first spares resolving every path of
    // a large tree.
    let name = out.file_name();
    for g in specs {
        let p = &g.spec.path;
        if p.file_name() == name && std::fs::canonicalize(p).is_ok_and(|p| p == out) {
            bail!("{}: the output would overwrite an input", output.display());
        }
    }
    Ok(())
}

/// Counts what passes through, for the summary's object size.
struct CountingWriter<'a> {
    inner: &'a mut dyn std::io::Write,
    count: usize,
}

impl std::io::Write for CountingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
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
