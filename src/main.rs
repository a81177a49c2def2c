//! The `objfreeze` command line.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use objfreeze::build::{AliasSpec, BuildOptions, ModuleSpec};
use objfreeze::format::TagKind;
use objfreeze::objwrite::Placement;
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
    Build(BuildArgs),
    Inspect(InspectArgs),
    Verify(VerifyArgs),
    Extract(ExtractArgs),
    Targets,
}

/// Write an object file holding one table of modules.
///
/// Example:
///   objfreeze build -o app.o -p app=app/__pycache__/__init__.cpython-311.pyc \
///       -m app.main=app/__pycache__/main.cpython-311.pyc
///
/// .pyc inputs have their header checked and stripped; all must share one
/// magic number, which becomes the table's interpreter tag. Other files are
/// taken as raw bytecode.
#[derive(Args)]
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
    /// Add a module: NAME=FILE (.pyc or raw bytecode). Repeatable.
    #[arg(short = 'm', long = "module", value_name = "NAME=FILE")]
    modules: Vec<String>,
    /// Add a package whose __init__ bytecode is FILE. Repeatable.
    #[arg(short = 'p', long = "package", value_name = "NAME=FILE")]
    packages: Vec<String>,
    /// Freeze module NAME with the bytecode of module ORIGIN, recording ORIGIN. Repeatable.
    #[arg(long = "alias", value_name = "NAME=ORIGIN")]
    aliases: Vec<String>,
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

fn cmd_build(a: BuildArgs) -> Result<()> {
    let target = match &a.target {
        Some(t) => Target::parse(t)?,
        None => Target::host(),
    };
    let placement = Placement::new(&target, a.symbol.as_deref(), a.section.as_deref())?;
    let mut modules = Vec::new();
    for (flag, list, package) in [
        ("--module", &a.modules, false),
        ("--package", &a.packages, true),
    ] {
        for s in list {
            let (name, file) = split_pair(flag, s)?;
            modules.push(ModuleSpec {
                name: name.to_string(),
                package,
                path: PathBuf::from(file),
            });
        }
    }
    let mut aliases = Vec::new();
    for s in &a.aliases {
        let (name, origin) = split_pair("--alias", s)?;
        aliases.push(AliasSpec {
            name: name.into(),
            origin: origin.into(),
        });
    }
    let interp = a.interp.or(a.tag.map(|_| TagKind::None));
    let opts = BuildOptions {
        output: a.output,
        target,
        placement,
        modules,
        aliases,
        interp,
        tag: a.magic.or(a.tag),
        depfile: a.depfile,
    };
    build::build(&opts)?;
    Ok(())
}

fn load(path: &std::path::Path) -> Result<Vec<u8>> {
    if path.is_dir() {
        bail!("{}: is a directory", path.display());
    }
    std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))
}

fn reports(path: &std::path::Path, bytes: &[u8]) -> Result<FileReport> {
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
        n += extract::extract(t, &a.output, &a.modules, a.pyc, &mut seen)?.len();
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Build(a) => cmd_build(a).map(|_| true),
        Cmd::Inspect(a) => cmd_inspect(a).map(|_| true),
        Cmd::Verify(a) => cmd_verify(a),
        Cmd::Extract(a) => cmd_extract(a).map(|_| true),
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
