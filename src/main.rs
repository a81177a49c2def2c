//! The `objfreeze` command line.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use objfreeze::build::{AliasSpec, BuildOptions, ModuleSpec, TreeSpec};
use objfreeze::format::TagKind;
use objfreeze::manifest::{parse_prefix_map, Manifest};
use objfreeze::objwrite::{Placement, Visibility};
use objfreeze::report::{render_text, FileReport, TableReport};
use objfreeze::target::{Target, SUPPORTED};
use objfreeze::{build, extract, objread};

/// Freeze interpreter bytecode into linkable object files.
///
/// objfreeze writes bytecode (CPython .pyc or marshal data, Lua chunks, ...)
/// into a read-only section of an ELF, Mach-O or COFF object, behind a sorted
/// index reached through one global symbol. The index holds offsets, not
/// pointers: the object has no relocations, and its pages stay clean and
/// shared. C code reads it with cbindings/objfreeze.h.
#[derive(Parser)]
#[command(name = "objfreeze", version, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Build(Box<BuildArgs>),
    Inspect(InspectArgs),
    Verify(VerifyArgs),
    Extract(ExtractArgs),
    CpythonDeep(DeepArgs),
    Targets,
}

/// Deep-freeze a CPython table: its modules as static code objects.
///
/// Examples:
///   cc -c $(PY_CORE_CFLAGS) cbindings/cpython/fork/objfreeze_layout.c -o layout.o
///   objfreeze cpython-deep --layout layout.o stdlib.o -o stdlib-deep.o \
///       --first codecs,encodings,encodings.aliases,encodings.utf_8,io,abc,os
///
/// Reads the one table in TABLE (an object objfreeze build wrote) and writes,
/// for the CPython build the layout probe was compiled for, every module's
/// code, str, bytes, tuple, int, float and complex constants as the C
/// structures that build uses, into a writable data section under the
/// symbol TABLE_SYMBOL_deep. The fork's frozen.c (-DOBJFREEZE_DEEP) serves
/// imports from them; what only the running interpreter can do (interning,
/// frozensets, code versions, quickening) happens at each module's first
/// import. Modules that cannot be laid out stay marshalled, and are listed.
/// A build the writer does not know (another CPython version, a debug or
/// free-threaded build) gets an empty blob and a warning: every module then
/// stays marshalled, as without deep freezing.
#[derive(Args)]
#[command(verbatim_doc_comment)]
struct DeepArgs {
    /// Object holding the table (output of `objfreeze build`).
    table: PathBuf,
    /// The layout probe (cbindings/cpython/fork/objfreeze_layout.c) compiled
    /// with the CPython build's compiler and core CFLAGS.
    #[arg(long, value_name = "OBJ")]
    layout: PathBuf,
    /// Object file to write (atomically).
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// Target triple of the build. Default: the host.
    #[arg(long, value_name = "TRIPLE")]
    target: Option<String>,
    /// Symbol of the blob. Default: the table's symbol with `_deep` appended.
    #[arg(long, value_name = "NAME")]
    symbol: Option<String>,
    /// Lay these modules out first, in this order (repeatable, or
    /// comma-separated): the ones every start imports, so that a cold start
    /// reads them from few pages of the file.
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    first: Vec<String>,
    /// Print the modules left marshalled and why.
    #[arg(long, short)]
    verbose: bool,
}

/// Write an object file holding one table of modules.
///
/// Examples:
///   objfreeze build --python python3.11 --stdlib -o stdlib.o
///   objfreeze build --python python3.11 --tree src/app -o app.o --depfile app.d
///   objfreeze build --python python3.11 --site-packages venv/lib/python3.11/site-packages \
///       --symbol site_modules -o site.o
///   objfreeze build -o app.o -p app=app/__pycache__/__init__.cpython-311.pyc \
///       -m app.main=app/__pycache__/main.cpython-311.pyc
///
/// .py sources are compiled by the --python interpreter (in a few worker
/// processes, through a bytecode cache), whose magic number becomes the
/// table's interpreter tag. .pyc inputs have their header checked and
/// stripped; every magic must agree. Other files are taken as raw bytecode.
#[derive(Args)]
#[command(verbatim_doc_comment)]
struct BuildArgs {
    /// Object file to write (atomically: a failed build leaves any old one untouched).
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// Target triple, as rustc/clang spell it (see `objfreeze targets`). Default: the host.
    #[arg(long, value_name = "TRIPLE")]
    target: Option<String>,
    /// C name of the table's global symbol (the platform's `_` prefix is added for Mach-O and i686 Windows).
    #[arg(long, value_name = "NAME")]
    symbol: Option<String>,
    /// Section name. Defaults let the linker collect every table: `objfreeze` (ELF),
    /// `__TEXT,__objfreeze` (Mach-O), `.objfrz$m` (COFF).
    #[arg(long, value_name = "NAME")]
    section: Option<String>,
    /// Whether the table symbol is exported: `hidden` (default: global to the link,
    /// not in a shared library's dynamic symbol table, so two libraries with a
    /// table under the same symbol each read their own) or `default` (exported;
    /// the first definition loaded wins for every library).
    #[arg(long, value_name = "hidden|default")]
    visibility: Option<String>,
    /// ELF only: put the table in a writable section (still never written) rather
    /// than read-only, page-aligned and padded to whole pages. The linker then
    /// places it with the program's data, after the code, rather than between code
    /// and data. For a deep-frozen build (`objfreeze cpython-deep`), whose code
    /// never reads the table's bytecode: a cold start then reads code and data
    /// without megabytes of bytecode between them. Pages nobody writes stay clean
    /// and shared.
    #[arg(long)]
    writable: bool,
    /// Add a module: NAME=FILE (.py, .pyc or raw bytecode). Repeatable.
    #[arg(short = 'm', long = "module", value_name = "NAME=FILE")]
    modules: Vec<OsString>,
    /// Add a package whose __init__ is FILE (.py, .pyc or raw bytecode). Repeatable.
    #[arg(short = 'p', long = "package", value_name = "NAME=FILE")]
    packages: Vec<OsString>,
    /// Freeze module NAME with the bytecode of module ORIGIN, recording ORIGIN
    /// (CPython freezes importlib._bootstrap as _frozen_importlib). ORIGIN must be
    /// frozen too, unless its source is given as NAME=ORIGIN:FILE. Repeatable.
    #[arg(long = "alias", value_name = "NAME=ORIGIN[:FILE]")]
    aliases: Vec<String>,
    /// Compile .py sources with this Python (3.6 or newer); its bytecode magic
    /// becomes the table's interpreter tag.
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
    /// Optimization level for compiling, as `compileall -o`: 0, 1 (no asserts) or 2 (no docstrings).
    #[arg(short = 'O', long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=2))]
    optimize: Option<u8>,
    /// Freeze every module under DIR: DIR/pkg/__init__.py is package `pkg`, DIR/pkg/m.py
    /// is `pkg.m`. If DIR itself has an __init__.py it is a package named after DIR.
    /// Repeatable.
    #[arg(long = "tree", value_name = "DIR")]
    trees: Vec<PathBuf>,
    /// Freeze a directory of installed distributions (a site-packages, or what
    /// `pip install --target DIR` made): every module and package in it, each
    /// package's data files and every *.dist-info directory, as data entries the
    /// CPython glue serves to importlib.resources, pkgutil.get_data and
    /// importlib.metadata. Extension modules (.so, .pyd) and .pth files cannot be
    /// frozen and are left out with a warning or note. Repeatable.
    #[arg(long = "site-packages", value_name = "DIR")]
    site_packages: Vec<PathBuf>,
    /// Freeze the --python interpreter's standard library, minus test suites, idlelib,
    /// tkinter, turtledemo, ensurepip, site-packages and import test fixtures.
    #[arg(long)]
    stdlib: bool,
    /// Do not apply the default --stdlib excludes.
    #[arg(long)]
    no_default_excludes: bool,
    /// Leave out files and directories matching GLOB from trees and the stdlib. Without a
    /// `/` it matches a name at any depth (`tests`, `test_*`); with one, the path from the
    /// tree's root (`lib2to3/tests`). Files match with or without `.py`. Repeatable.
    #[arg(long = "exclude", value_name = "GLOB")]
    excludes: Vec<String>,
    /// Keep what GLOB matches even if an exclude (or a default one) matches it. Repeatable.
    #[arg(long = "include", value_name = "GLOB")]
    includes: Vec<String>,
    /// Rewrite the start of source paths recorded as co_filename (by default the
    /// source's absolute path), as gcc's -ffile-prefix-map. The last match wins.
    #[arg(long = "prefix-map", value_name = "OLD=NEW")]
    prefix_maps: Vec<String>,
    /// Read trees, modules, packages, aliases, excludes and options from a TOML
    /// manifest (see "Manifest" in README.md). Command-line options add to its
    /// lists and override its settings.
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// Bytecode cache directory. Default: $XDG_CACHE_HOME/objfreeze or ~/.cache/objfreeze.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile everything; neither read nor write the cache.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// Compiler worker processes. Default: one per CPU.
    #[arg(short, long, value_name = "N")]
    jobs: Option<usize>,
    /// Print no warnings and no progress bar.
    #[arg(short, long)]
    quiet: bool,
    /// Say what was built: modules, sources compiled and taken from the cache.
    #[arg(short, long)]
    verbose: bool,
    /// CPython bytecode magic (e.g. 3495, or the full 0x0a0d0da7) for raw marshal inputs.
    #[arg(long, value_name = "N", value_parser = parse_magic)]
    magic: Option<u32>,
    /// What the bytecode is for: cpython, lua or none. Default: cpython if any .pyc or --magic is given.
    #[arg(long, value_name = "KIND", value_parser = parse_interp)]
    interp: Option<TagKind>,
    /// Interpreter tag for non-CPython tables (e.g. 0x54 for Lua 5.4).
    #[arg(long, value_name = "N", value_parser = parse_u32, conflicts_with = "magic")]
    tag: Option<u32>,
    /// Write a make rule listing every file read (as gcc -MD -MF).
    #[arg(long, value_name = "FILE")]
    depfile: Option<PathBuf>,
}

/// List the tables in an object, archive, executable or shared library.
#[derive(Args)]
struct InspectArgs {
    /// ELF, Mach-O (thin or fat) or PE/COFF file, or a static archive (.a, .lib).
    file: PathBuf,
    /// Print JSON: {"file":..., "tables":[{"symbol":..., "modules":[...]}, ...]}.
    #[arg(long)]
    json: bool,
    /// Print only the table summaries, not every module.
    #[arg(long, short)]
    summary: bool,
}

/// Check every table in a file: bounds, order, digest. Exit 0 only if all are sound.
#[derive(Args)]
struct VerifyArgs {
    file: PathBuf,
}

/// Write modules back out as files: PKG/__init__.EXT and PKG/MOD.EXT under DIR.
#[derive(Args)]
struct ExtractArgs {
    file: PathBuf,
    /// Directory to write into (created if missing).
    #[arg(short, long, value_name = "DIR")]
    output: PathBuf,
    /// Only this module (repeatable). Default: every module.
    #[arg(long = "module", short = 'm', value_name = "NAME")]
    modules: Vec<String>,
    /// Write .pyc files with the table's magic, which CPython imports or runs directly; default is raw .bin.
    #[arg(long)]
    pyc: bool,
    /// Only the table at this symbol, when the file holds several.
    #[arg(long, value_name = "SYMBOL")]
    table: Option<String>,
}

fn parse_u32(s: &str) -> Result<u32, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("{s:?} is not a 32-bit number: {e}"))
}

/// A bare magic number (3495) is completed with the `\r\n` CPython puts after it.
fn parse_magic(s: &str) -> Result<u32, String> {
    let v = parse_u32(s)?;
    Ok(if v <= 0xffff { 0x0a0d_0000 | v } else { v })
}

fn parse_interp(s: &str) -> Result<TagKind, String> {
    match s {
        "cpython" | "python" => Ok(TagKind::Cpython),
        "lua" => Ok(TagKind::Lua),
        "none" => Ok(TagKind::None),
        _ => Err(format!(
            "unknown interpreter {s:?}; expected cpython, lua or none"
        )),
    }
}

fn split_pair<'a>(flag: &str, s: &'a str) -> Result<(&'a str, &'a str)> {
    match s.split_once('=') {
        Some((a, b)) if !b.is_empty() => Ok((a, b)),
        _ => bail!("{flag} {s:?}: expected NAME=VALUE"),
    }
}

/// NAME=FILE, where FILE may be any path the OS allows but NAME must be UTF-8.
fn split_name_path(flag: &str, s: &OsStr) -> Result<(String, PathBuf)> {
    let b = s.as_encoded_bytes();
    let Some(eq) = b
        .iter()
        .position(|&c| c == b'=')
        .filter(|&i| i + 1 < b.len())
    else {
        bail!("{flag} {s:?}: expected NAME=FILE");
    };
    let Ok(name) = std::str::from_utf8(&b[..eq]) else {
        bail!(
            "{flag} {s:?}: the module name {:?} is not valid UTF-8",
            String::from_utf8_lossy(&b[..eq])
        );
    };
    // SAFETY: both halves were split at an ASCII `=`, which the encoded-bytes
    // contract allows.
    let file = unsafe { OsStr::from_encoded_bytes_unchecked(&b[eq + 1..]) };
    Ok((name.to_string(), PathBuf::from(file)))
}

fn cmd_build(a: BuildArgs) -> Result<()> {
    let m = match &a.manifest {
        Some(p) => Manifest::load(p)?,
        None => Manifest::default(),
    };
    let target = match a.target.as_ref().or(m.target.as_ref()) {
        Some(t) => Target::parse(t)?,
        None => Target::host(),
    };
    let placement = Placement::new(
        &target,
        a.symbol.as_deref().or(m.symbol.as_deref()),
        a.section.as_deref().or(m.section.as_deref()),
    )?;
    let mut placement = placement;
    if let Some(v) = a.visibility.as_deref().or(m.visibility.as_deref()) {
        placement.visibility = Visibility::parse(v)?;
    }
    if a.writable {
        placement.set_writable(&target)?;
    }
    let mut opts = BuildOptions::new(a.output, target, placement);
    opts.modules = m.modules;
    for (flag, list, package) in [
        ("--module", &a.modules, false),
        ("--package", &a.packages, true),
    ] {
        for s in list {
            let (name, file) = split_name_path(flag, s)?;
            opts.modules.push(ModuleSpec {
                name,
                package,
                path: file,
            });
        }
    }
    opts.aliases = m.aliases;
    for s in &a.aliases {
        let (name, origin) = split_pair("--alias", s)?;
        let (origin, path) = match origin.split_once(':') {
            Some((o, f)) if !f.is_empty() => (o, Some(PathBuf::from(f))),
            Some(_) => bail!("--alias {s:?}: expected NAME=ORIGIN or NAME=ORIGIN:FILE"),
            None => (origin, None),
        };
        opts.aliases.push(AliasSpec {
            name: name.into(),
            origin: origin.into(),
            path,
        });
    }
    opts.interp = a.interp.or(a.tag.map(|_| TagKind::None));
    opts.tag = a.magic.or(a.tag);
    opts.depfile = a.depfile;
    opts.compiler = a.python.or(m.python);
    opts.optimize = a.optimize.or(m.optimize).unwrap_or(0);
    opts.trees = m.trees;
    opts.trees.extend(a.trees.into_iter().map(|path| TreeSpec {
        path,
        prefix: None,
        exclude: Vec::new(),
    }));
    opts.site_packages = m.site_packages;
    opts.site_packages.extend(a.site_packages);
    opts.stdlib = a.stdlib || m.stdlib.unwrap_or(false);
    opts.default_excludes = !a.no_default_excludes && m.default_excludes.unwrap_or(true);
    opts.excludes = m.exclude;
    opts.excludes.extend(a.excludes);
    opts.includes = m.include;
    opts.includes.extend(a.includes);
    opts.prefix_map = m.prefix_map;
    for s in &a.prefix_maps {
        opts.prefix_map
            .push(parse_prefix_map(s, Path::new(".")).context("--prefix-map")?);
    }
    opts.cache_dir = if a.no_cache {
        None
    } else {
        a.cache_dir
            .or(m.cache_dir)
            .or_else(objfreeze::cache::default_dir)
    };
    opts.jobs = a.jobs.unwrap_or(0);
    opts.progress = !a.quiet;
    opts.extra_deps.extend(a.manifest);
    let sum = build::build(&opts)?;
    if !a.quiet {
        for w in &sum.warnings {
            eprintln!("objfreeze: warning: {w}");
        }
    }
    if a.verbose {
        for n in &sum.notes {
            eprintln!("objfreeze: note: {n}");
        }
        eprintln!(
            "objfreeze: {}: {} modules, {} data files, table {} bytes, object {} bytes; {} sources compiled, {} from cache",
            opts.output.display(),
            sum.modules - sum.data_files,
            sum.data_files,
            sum.table_size,
            sum.object_size,
            sum.compiled,
            sum.cached
        );
    }
    Ok(())
}

fn load(path: &Path) -> Result<Vec<u8>> {
    if path.is_dir() {
        bail!("{}: is a directory", path.display());
    }
    std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))
}

fn reports(path: &Path, bytes: &[u8]) -> Result<FileReport> {
    let name = path.display().to_string();
    let found = objread::find_tables(&name, bytes)?;
    Ok(FileReport {
        file: name,
        tables: found.iter().map(TableReport::from_found).collect(),
    })
}

fn cmd_inspect(a: InspectArgs) -> Result<()> {
    let bytes = load(&a.file)?;
    let r = reports(&a.file, &bytes)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", render_text(&r, !a.summary));
    }
    Ok(())
}

fn cmd_verify(a: VerifyArgs) -> Result<bool> {
    let bytes = load(&a.file)?;
    let r = reports(&a.file, &bytes)?;
    print!("{}", render_text(&r, false));
    if r.tables.is_empty() {
        eprintln!("objfreeze: {}: no tables found", r.file);
        return Ok(false);
    }
    let bad = r.tables.iter().filter(|t| !t.sound()).count();
    if bad > 0 {
        eprintln!(
            "objfreeze: {}: {bad} of {} tables unsound",
            r.file,
            r.tables.len()
        );
        return Ok(false);
    }
    println!("{}: {} tables sound", r.file, r.tables.len());
    Ok(true)
}

fn cmd_extract(a: ExtractArgs) -> Result<()> {
    let bytes = load(&a.file)?;
    let name = a.file.display().to_string();
    let found = objread::find_tables(&name, &bytes)?;
    let mut seen = HashSet::new();
    let mut n = 0;
    let mut matched = 0;
    for f in &found {
        if let Some(want) = &a.table {
            if !f.symbols.iter().any(|s| s == want) {
                continue;
            }
        }
        matched += 1;
        let t = f
            .table
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{name}: table in {} is unsound: {e}", f.section))?;
        std::fs::create_dir_all(&a.output)
            .with_context(|| format!("{}: cannot create", a.output.display()))?;
        n += extract::extract(t, &a.output, &a.modules, a.pyc, &mut seen)
            .with_context(|| if a.pyc { "--pyc" } else { "extract" })?
            .len();
    }
    if matched == 0 {
        match &a.table {
            Some(t) => bail!("{name}: no table at symbol {t}"),
            None => bail!("{name}: no objfreeze tables"),
        }
    }
    for m in &a.modules {
        if !found
            .iter()
            .filter_map(|f| f.table.as_ref().ok())
            .any(|t| t.find(m.as_bytes()).is_some())
        {
            bail!("{name}: no module `{m}` in any table");
        }
    }
    eprintln!("objfreeze: wrote {n} files under {}", a.output.display());
    Ok(())
}

fn cmd_deep(a: DeepArgs) -> Result<()> {
    use objfreeze::cpython::deep;
    let name = a.table.display().to_string();
    let bytes = load(&a.table)?;
    let found = objread::find_tables(&name, &bytes)?;
    let [f] = found.as_slice() else {
        bail!(
            "{name}: {} tables in it; cpython-deep takes an object with one",
            found.len()
        );
    };
    let table = f
        .table
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{name}: the table is unsound: {e}"))?;
    let symbol = match (&a.symbol, f.symbols.first()) {
        (Some(s), _) => s.clone(),
        (None, Some(t)) => deep::format::blob_symbol(t),
        (None, None) => bail!("{name}: the table has no symbol; name the blob with --symbol"),
    };
    let lname = a.layout.display().to_string();
    let layout = deep::layout::Layout::read(&lname, &load(&a.layout)?)?;
    let target = match &a.target {
        Some(t) => Target::parse(t)?,
        None => Target::host(),
    };
    if layout.get("pointer_size") != target.arch.address_size().map_or(0, |s| s.bytes() as u64) {
        bail!(
            "{lname}: the probe has {}-byte pointers, the target {} does not",
            layout.get("pointer_size"),
            target.triple
        );
    }
    let blob =
        deep::build(table, &layout, &a.first).with_context(|| format!("{name} with {lname}"))?;
    let obj = objfreeze::objwrite::write_data_object(
        &target,
        &symbol,
        Visibility::Hidden,
        deep::format::section(target.format),
        &blob.bytes,
        deep::format::page(&target),
    )?;
    objfreeze::output::write_atomic(&a.output, &obj)?;
    let r = &blob.report;
    if let Some(why) = &r.unsupported {
        eprintln!("objfreeze: warning: {lname}: not deep-freezing for {why}; the modules of {name} stay marshalled");
    }
    if a.verbose {
        for (m, why) in &r.skipped {
            eprintln!("objfreeze: {m}: stays marshalled: {why}");
        }
    }
    eprintln!(
        "objfreeze: {}: {} of {} modules deep-frozen for CPython {} ({} bytes, {} pointers, {} fixups){}",
        a.output.display(),
        r.frozen,
        r.modules,
        layout.version(),
        r.bytes,
        r.relocs,
        r.fixups,
        if r.skipped.is_empty() || a.verbose { String::new() } else { format!("; {} stay marshalled (-v says why)", r.skipped.len()) }
    );
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Build(a) => cmd_build(*a).map(|_| true),
        Cmd::Inspect(a) => cmd_inspect(a).map(|_| true),
        Cmd::Verify(a) => cmd_verify(a),
        Cmd::Extract(a) => cmd_extract(a).map(|_| true),
        Cmd::CpythonDeep(a) => cmd_deep(a).map(|_| true),
        Cmd::Targets => {
            for t in SUPPORTED {
                let tg = Target::parse(t).expect("supported");
                println!(
                    "{t:<32} {:<6} {:<7} section {}",
                    tg.format_name(),
                    tg.endian.name(),
                    tg.default_section()
                );
            }
            Ok(true)
        }
    };
    match r {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("objfreeze: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
