//! The `build` pipeline: module specs in, one object file out.
//!
//! Data flows one way: specs (from the command line or a manifest) are
//! loaded into bytecode, checked against the interpreter's rules, laid out as
//! a table ([`crate::format`]), wrapped in an object ([`crate::objwrite`]) and
//! written atomically ([`crate::output`]).

use std::collections::{BTreeSet, HashMap};
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use crate::cache::{Cache, KeyBuilder};
use crate::cpython::{self, compile::Interpreter};
use crate::format::{self, Blob, Module, Tag, TagKind};
use crate::objwrite::{self, Placement};
use crate::target::Target;
use crate::tree;

pub use crate::spec::{AliasSpec, DataSpec, ModuleSpec, TreeSpec};

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
    /// Interpreter that compiles `.py` sources and whose magic tags the table.
    pub python: Option<PathBuf>,
    /// `compile(optimize=N)`, as `compileall -o N`.
    pub optimize: u8,
    pub trees: Vec<TreeSpec>,
    /// Directories of installed distributions: modules, package data and
    /// metadata (see [`cpython::site`]).
    pub site_packages: Vec<PathBuf>,
    /// Freeze the interpreter's standard library.
    pub stdlib: bool,
    /// Apply [`cpython::stdlib::DEFAULT_EXCLUDES`] to the standard library.
    pub default_excludes: bool,
    /// Globs excluded from every tree and the standard library.
    pub excludes: Vec<String>,
    /// Globs kept even when an exclude matches.
    pub includes: Vec<String>,
    /// `co_filename` rewriting, OLD (absolute) to NEW; the last match wins.
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
            python: None,
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
    let interp = match &opts.python {
        Some(p) => {
            let i = Interpreter::query_cached(p, cache.as_ref())?;
            // A new interpreter at that path rebuilds.
            deps.extend(cpython::compile::locate(p));
            Some(i)
        }
        None => None,
    };
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    let (specs, data) = gather(opts, interp.as_ref(), &mut deps, &mut warnings, &mut notes)?;
    check_output_not_input(&opts.output, &specs)?;
    if let Some(dep) = &opts.depfile {
        check_output_not_input(dep, &specs)?;
        let same = |p: &Path| {
            std::fs::canonicalize(p)
                .or_else(|_| std::path::absolute(p).map(|a| lexical_normal(&a)))
                .ok()
        };
        if same(dep) == same(&opts.output) {
            bail!("--depfile {}: the same file as the output", dep.display());
        }
    }
    let mut stats = (0, 0);
    let loaded = load_modules(
        opts,
        &specs,
        interp.as_ref(),
        cache.as_ref(),
        &mut deps,
        &mut stats,
    )?;
    flush_cache(opts, cache.as_ref());
    let tag = resolve_tag(opts, interp.as_ref(), &loaded)?;

    let mut modules: Vec<Module> = loaded.into_iter().map(|l| l.module).collect();
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
    if tag.kind == TagKind::Cpython {
        // Aliases are left out: a module may place one under a plain module,
        // as CPython's `os` does with `os.path` (it fills sys.modules itself).
        cpython::names::check_package_structure(
            modules
                .iter()
                .filter(|m| m.origin.is_none())
                .map(|m| (m.name.as_str(), m.package)),
        )?;
    }
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
        compiled: stats.0,
        cached: stats.1,
        warnings,
        notes,
    })
}

/// A spec plus where it came from, for messages about duplicates.
struct Gathered {
    spec: ModuleSpec,
    origin: Option<String>,
}

/// Every module to freeze, from the command line, trees, the standard
/// library and aliases with their own source; names checked, no duplicates.
fn gather(
    opts: &BuildOptions,
    interp: Option<&Interpreter>,
    deps: &mut BTreeSet<PathBuf>,
    warnings: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<(Vec<Gathered>, Vec<DataSpec>)> {
    let mut out: Vec<Gathered> = opts
        .modules
        .iter()
        .map(|m| Gathered {
            spec: m.clone(),
            origin: None,
        })
        .collect();
    // Names and tree layout follow the interpreter the table is for; when
    // that is only known from the inputs, CPython's (what `.py`/`.pyc`
    // inputs and --magic make it).
    let lang = crate::langs::of(opts.interp.unwrap_or(TagKind::Cpython));
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
    if !opts.site_packages.is_empty() {
        let filter = tree::Filter::new(&opts.excludes, &opts.includes)?;
        let mut said = cpython::site::Said::default();
        for dir in &opts.site_packages {
            cpython::site::walk(dir, &filter, &mut walked, &mut said)?;
        }
        warnings.extend(said.warnings);
        notes.extend(said.notes);
    }
    let stdlib_from = out.len() + walked.modules.len();
    if opts.stdlib {
        let Some(i) = interp else {
            bail!("--stdlib needs --python PATH: the standard library of which interpreter?");
        };
        let mut ex = opts.excludes.clone();
        if opts.default_excludes {
            ex.extend(cpython::stdlib::default_excludes());
        }
        let filter = tree::Filter::new(&ex, &opts.includes)?;
        tree::walk(
            &i.stdlib,
            None,
            &cpython::stdlib::LAYOUT,
            &filter,
            &mut walked,
        )
        .with_context(|| format!("the standard library of {}", i.path.display()))?;
    }
    let stdlib_count = out.len() + walked.modules.len() - stdlib_from;
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
            let package = p.file_stem().is_some_and(|s| s == "__init__");
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
            // The standard library's own odd names (`_sysconfigdata_*`) are
            // imported by name string and need no warning on every build.
            if (stdlib_from..stdlib_from + stdlib_count).contains(&k) {
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
    let say = |odd: &[&str]| {
        format!(
            "{} module name{} not a Python identifier, kept (only importlib.import_module can name {}): {}",
            odd.len(),
            if odd.len() == 1 { " is" } else { "s are" },
            if odd.len() == 1 { "it" } else { "them" },
            odd.join(", ")
        )
    };
    if !odd.is_empty() {
        warnings.push(say(&odd));
    }
    if !odd_stdlib.is_empty() {
        notes.push(say(&odd_stdlib));
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

struct Loaded {
    module: Module,
    path: PathBuf,
    /// The `.pyc` magic, for `.pyc` inputs.
    pyc_tag: Option<u32>,
}

/// `co_filename` for a source: its absolute path, rewritten by the last
/// matching `--prefix-map`.
pub fn co_filename(path: &Path, prefix_map: &[(PathBuf, PathBuf)]) -> Result<PathBuf> {
    let abs = std::path::absolute(path)
        .with_context(|| format!("{}: cannot make the path absolute", path.display()))?;
    // `.` and `..` dropped as os.path.abspath does, so one file spelled two
    // ways (from two working directories) gives the same bytecode.
    let abs = lexical_normal(&abs);
    for (old, new) in prefix_map.iter().rev() {
        if let Ok(rest) = abs.strip_prefix(lexical_normal(old)) {
            return Ok(if rest.as_os_str().is_empty() {
                new.clone()
            } else {
                new.join(rest)
            });
        }
    }
    Ok(abs)
}

/// `p` without `.` components and with each `..` taking out its parent.
fn lexical_normal(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                // `..` above the root is the root.
                if !out.pop() && !out.has_root() {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Refuse, before reading anything, inputs that cannot fit in one table.
/// A lower bound from file sizes: bytecode files whose sizes differ cannot
/// share a blob, so distinct sizes add up (a `.pyc` loses a header of 12 or
/// 16 bytes, so only sizes more than 4 apart are counted as distinct).
fn check_size_from_metadata(specs: &[Gathered]) -> Result<Vec<u64>> {
    let mut sizes: Vec<(u64, &Path)> = Vec::new();
    // Each spec's file size (0 for sources and unreadable files), which
    // sizes the buffers the files are read into.
    let mut lens = Vec::with_capacity(specs.len());
    let mut fixed = u64::from(format::HEADER_SIZE);
    for g in specs {
        fixed += u64::from(format::ENTRY_SIZE) + g.spec.name.len() as u64 + 1;
        let p = g.spec.path.as_path();
        let ext = p.extension().and_then(|e| e.to_str());
        // Sources compile to an unknown size; unreadable files fail later
        // with their own message.
        let Some(len) = (ext != Some("py"))
            .then(|| std::fs::metadata(p).ok().filter(|m| m.is_file()))
            .flatten()
            .map(|m| m.len())
        else {
            lens.push(0);
            continue;
        };
        lens.push(len);
        let header = if ext == Some("pyc") { 16 } else { 0 };
        sizes.push((len.saturating_sub(header), p));
    }
    sizes.sort_unstable_by_key(|s| std::cmp::Reverse(s.0));
    let mut total = fixed;
    let mut last: Option<u64> = None;
    let mut counted = Vec::new();
    for (len, p) in &sizes {
        if last.map_or(true, |l| l > len + 4) {
            total += len;
            last = Some(*len);
            counted.push(p.display().to_string());
        }
    }
    if total > u64::from(u32::MAX) {
        counted.truncate(3);
        bail!(
            "the table would be at least {total} bytes, over the format's limit of {} bytes (offsets are 32-bit); the largest inputs: {}",
            u32::MAX,
            counted.join(", ")
        );
    }
    Ok(lens)
}

/// One module's bytes, read and looked up, before compiling.
struct Prepared {
    data: Vec<u8>,
    /// Where a bytecode file's data went in its thread's shared buffer
    /// (then `data` is empty).
    in_buffer: Option<std::ops::Range<usize>>,
    /// The same, once the buffer is shared.
    shared: Option<Blob>,
    pyc_tag: Option<u32>,
    /// A source the cache did not have, with its cache key.
    compile: Option<(cpython::compile::Job, [u8; 32])>,
    cached: bool,
}

/// Read one module's file: a `.pyc` checked and stripped, raw bytecode as
/// is, a source looked up in the cache by its key.
fn prepare(
    opts: &BuildOptions,
    g: &Gathered,
    interp: Option<&Interpreter>,
    cache: Option<&Cache>,
    worker: &[u8; 32],
    buffer: &mut Vec<u8>,
) -> Result<Prepared> {
    let p = &g.spec.path;
    let ext = p.extension().and_then(|e| e.to_str());
    if ext != Some("py") {
        // Bytecode goes into the shared buffer, a `.pyc` without its header.
        let mut code = read_input_into(p, buffer)?;
        let mut pyc_tag = None;
        if ext == Some("pyc") {
            let pyc = cpython::pyc::parse(&buffer[code.clone()])
                .with_context(|| p.display().to_string())?;
            pyc_tag = Some(pyc.tag);
            code.start = code.end - pyc.code.len();
        }
        return Ok(Prepared {
            data: Vec::new(),
            in_buffer: Some(code),
            shared: None,
            pyc_tag,
            compile: None,
            cached: false,
        });
    }
    // An empty source is a valid module (many an `__init__.py` is empty).
    let bytes = read_source(p)?;
    let ready = |data, pyc_tag| Prepared {
        data,
        in_buffer: None,
        shared: None,
        pyc_tag,
        compile: None,
        cached: false,
    };
    Ok(match ext {
        Some("py") => {
            let Some(i) = interp else {
                bail!(
                    "{}: Python source needs an interpreter to compile it (--python PATH)",
                    p.display()
                );
            };
            let co = co_filename(p, &opts.prefix_map)?;
            let key = KeyBuilder::new("cpython")
                .field(worker)
                .field(&i.tag.to_le_bytes())
                .field(i.version.as_bytes())
                .field(&[opts.optimize])
                .field(co.as_os_str().as_encoded_bytes())
                .field(&bytes)
                .finish();
            // Looked up at once, so a hit's source is freed straight away.
            let hit = cache.and_then(|c| c.get(&key));
            match hit.filter(|d| cpython::pyc::check_code_object(d).is_ok()) {
                Some(data) => Prepared {
                    cached: true,
                    ..ready(data, None)
                },
                None => {
                    let job = cpython::compile::Job {
                        path: p.clone(),
                        co_filename: co,
                        source: bytes,
                    };
                    Prepared {
                        compile: Some((job, key)),
                        ..ready(Vec::new(), None)
                    }
                }
            }
        }
        _ => unreachable!("bytecode files are read above"),
    })
}

fn load_modules(
    opts: &BuildOptions,
    specs: &[Gathered],
    interp: Option<&Interpreter>,
    cache: Option<&Cache>,
    deps: &mut BTreeSet<PathBuf>,
    stats: &mut (usize, usize),
) -> Result<Vec<Loaded>> {
    let lens = check_size_from_metadata(specs)?;
    let worker = cpython::compile::worker_id();
    // Reading, hashing and looking up hundreds of files is most of a warm
    // build: spread it over the CPUs, in order-keeping chunks.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = specs.len().div_ceil(threads).max(64);
    // Each thread reads its bytecode files into one buffer, sized from the
    // stats above and offered huge pages: one allocation for a whole stdlib
    // rather than one per file, page-faulted in a few 2 MiB steps.
    let prepared: Vec<Result<Prepared>> = std::thread::scope(|s| {
        let handles: Vec<_> = specs
            .chunks(chunk)
            .zip(lens.chunks(chunk))
            .map(|(part, part_lens)| {
                let worker = &worker;
                s.spawn(move || {
                    let room = part_lens.iter().sum::<u64>().min(u64::from(u32::MAX));
                    // One spare byte: each read reserves one past its file, to see the end.
                    let mut buffer = crate::buffer::large_buffer(room as usize + 1);
                    let preps = part
                        .iter()
                        .map(|g| prepare(opts, g, interp, cache, worker, &mut buffer))
                        .collect::<Vec<_>>();
                    (std::sync::Arc::new(buffer), preps)
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                let (buffer, preps) = h.join().expect("no panic while reading inputs");
                preps.into_iter().map(move |p| {
                    p.map(|mut p| {
                        if let Some(r) = p.in_buffer.take() {
                            p.shared = Some(Blob::shared(buffer.clone(), r));
                        }
                        p
                    })
                })
            })
            .collect()
    });
    let mut out = Vec::with_capacity(specs.len());
    // Sources to compile: (index into `out`, job, cache key).
    let mut jobs: Vec<(usize, cpython::compile::Job, [u8; 32])> = Vec::new();
    for (g, prep) in specs.iter().zip(prepared) {
        let prep = prep?;
        // Only a depfile reads them; a sorted set of paths is not free.
        if opts.depfile.is_some() {
            deps.insert(g.spec.path.clone());
        }
        stats.1 += usize::from(prep.cached);
        if let Some((job, key)) = prep.compile {
            jobs.push((out.len(), job, key));
        }
        out.push(Loaded {
            module: Module {
                name: g.spec.name.clone(),
                data: prep.shared.unwrap_or_else(|| prep.data.into()),
                package: g.spec.package,
                origin: g.origin.clone(),
                data_file: false,
            },
            path: g.spec.path.clone(),
            pyc_tag: prep.pyc_tag,
        });
    }
    if let (Some(i), false) = (interp, jobs.is_empty()) {
        compile_sources(opts, i, &mut out, jobs, cache, stats)?;
    }
    Ok(out)
}

/// Compile the sources the cache did not have, with the interpreter's
/// workers, and cache what they give.
fn compile_sources(
    opts: &BuildOptions,
    interp: &Interpreter,
    out: &mut [Loaded],
    misses: Vec<(usize, cpython::compile::Job, [u8; 32])>,
    cache: Option<&Cache>,
    stats: &mut (usize, usize),
) -> Result<()> {
    let workers = match opts.jobs {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let bar = if opts.progress && misses.len() >= 100 && std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(misses.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("compiling {bar:40} {pos}/{len} {elapsed}")
                .expect("valid template"),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let (places, job_list): (Vec<(usize, [u8; 32])>, Vec<cpython::compile::Job>) = misses
        .into_iter()
        .map(|(idx, job, key)| ((idx, key), job))
        .unzip();
    let done = |i: usize, r: &cpython::compile::Compiled| {
        bar.inc(1);
        if let (Some(c), Ok(data)) = (cache, r) {
            if cpython::pyc::check_code_object(data).is_ok() {
                c.put(&places[i].1, data);
            }
        }
    };
    let results = cpython::compile::compile_all(interp, opts.optimize, &job_list, workers, &done);
    bar.finish_and_clear();
    // What did compile is kept even if another source failed.
    flush_cache(opts, cache);
    let results = results?;
    let mut errors = Vec::new();
    for ((idx, _), r) in places.iter().zip(results) {
        match r {
            Some(Ok(data)) => {
                cpython::pyc::check_code_object(&data)
                    .with_context(|| out[*idx].path.display().to_string())?;
                out[*idx].module.data = data.into();
                stats.0 += 1;
            }
            Some(Err(e)) => errors.push(e),
            None => {}
        }
    }
    if let Some(first) = errors.first() {
        let more = match errors.len() {
            1 => String::new(),
            n => format!(
                "\n(and {} more source{} with errors)",
                n - 1,
                if n == 2 { "" } else { "s" }
            ),
        };
        return Err(anyhow!("{first}{more}"));
    }
    Ok(())
}

/// Write what the cache gained; failing to only costs the next build time.
fn flush_cache(opts: &BuildOptions, cache: Option<&Cache>) {
    if let (Some(c), Some(d)) = (cache, &opts.cache_dir) {
        if let Err(e) = c.flush() {
            eprintln!(
                "objfreeze: warning: {}: cannot write to the bytecode cache: {e}",
                d.display()
            );
        }
    }
}

/// Read one input file, with errors that name it.
pub fn read_input(p: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    read_input_into(p, &mut bytes)?;
    Ok(bytes)
}

/// Like [`read_input`], appending the file to `buf`; returns where it went.
/// On error `buf` may hold part of the file past its old length.
pub fn read_input_into(p: &Path, buf: &mut Vec<u8>) -> Result<std::ops::Range<usize>> {
    // Read at most one byte past the format's limit: a huge file (or an
    // endless one, like /dev/zero) is refused without being held in memory.
    let limit = u64::from(u32::MAX);
    let cannot = || format!("{}: cannot read", p.display());
    let too_big = || {
        anyhow::anyhow!(
            "{}: larger than {limit} bytes, the most a table can hold (offsets are 32-bit)",
            p.display()
        )
    };
    let is_dir = || anyhow::anyhow!("{}: is a directory, expected a bytecode file", p.display());
    // One open and one fstat per input: the directory check uses the open
    // file's metadata (where opening a directory fails, the error path checks).
    let file = match std::fs::File::open(p) {
        Ok(f) => f,
        Err(_) if p.is_dir() => return Err(is_dir()),
        Err(e) => return Err(e).with_context(cannot),
    };
    let meta = file.metadata().with_context(cannot)?;
    if meta.is_dir() {
        return Err(is_dir());
    }
    if meta.len() > limit {
        return Err(too_big());
    }
    // Room made up front: the file is read in one go, never regrown and copied.
    let start = buf.len();
    buf.reserve(meta.len() as usize + 1);
    file.take(limit + 1).read_to_end(buf).with_context(cannot)?;
    let len = buf.len() - start;
    if len as u64 > limit {
        return Err(too_big());
    }
    if len == 0 {
        bail!("{}: file is empty", p.display());
    }
    Ok(start..buf.len())
}

/// Read a source file, with errors that name it.
fn read_source(p: &Path) -> Result<Vec<u8>> {
    if p.is_dir() {
        bail!(
            "{}: is a directory, expected a Python source file",
            p.display()
        );
    }
    std::fs::read(p).with_context(|| format!("{}: cannot read", p.display()))
}

/// The table's interpreter tag: every `.pyc` must agree, with each other and
/// with `--magic`; raw inputs for CPython must hold code objects.
fn resolve_tag(
    opts: &BuildOptions,
    interp: Option<&Interpreter>,
    loaded: &[Loaded],
) -> Result<Tag> {
    let mut first: Option<(u32, &Path)> = interp.map(|i| (i.tag, i.path.as_path()));
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
            "{}: gives CPython bytecode, but --interp {} was given",
            p.display(),
            kind.name()
        );
    }
    let value = match (opts.tag, first) {
        (Some(m), Some((t, p))) if m != t => bail!(
            "--magic {} does not match {}, whose magic is {} ({})",
            // As the user wrote it: the number, without the `\r\n` half.
            if m >> 16 == 0x0a0d { m & 0xffff } else { m },
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
            if interp.is_some() && l.path.extension().is_some_and(|e| e == "py") {
                continue;
            }
            cpython::pyc::check_code_object(&l.module.data)
                .with_context(|| l.path.display().to_string())?;
        }
    }
    Ok(Tag { kind, value })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_maps_last_match_wins_by_component() {
        let maps = vec![
            (PathBuf::from("/b/src"), PathBuf::from("/opt/one")),
            (PathBuf::from("/b/src/app"), PathBuf::from("/opt/two")),
            (PathBuf::from("/b/s"), PathBuf::from("/never")),
        ];
        let co = |p: &str| co_filename(Path::new(p), &maps).unwrap();
        assert_eq!(co("/b/src/app/m.py"), Path::new("/opt/two/m.py"));
        assert_eq!(co("/b/src/lib/m.py"), Path::new("/opt/one/lib/m.py"));
        // `/b/s` is not a leading component of `/b/src...` nor of `/b/sx`.
        assert_eq!(co("/b/sx/m.py"), Path::new("/b/sx/m.py"));
        // Without maps: the absolute path.
        let rel = co_filename(Path::new("x/m.py"), &[]).unwrap();
        assert_eq!(rel, std::env::current_dir().unwrap().join("x/m.py"));
    }
}
