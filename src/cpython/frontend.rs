//! The CPython front end of a build ([`crate::frontend::Frontend`]): the
//! interpreter given with `--python` queried once, its standard library and
//! installed packages walked, `.pyc` headers checked and stripped, `.py`
//! sources compiled by that interpreter's workers through the bytecode
//! cache, and every magic reconciled into the table's tag.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use super::compile::Interpreter;
use super::{names, stdlib};
use crate::build::input::{lexical_normal, read_input_into, read_source};
use crate::build::{flush_cache, BuildOptions};
use crate::cache::{Cache, KeyBuilder};
use crate::format::{self, Blob, Module, Tag, TagKind};
use crate::frontend::{Frontend, Said, Stats};
use crate::spec::Gathered;
use crate::tree::{self, Walked};

/// CPython's front end; `interp` is the `--python` interpreter, if given.
pub struct CPythonFrontend {
    pub interp: Option<Interpreter>,
}

impl CPythonFrontend {
    /// Query the interpreter `opts` names (through the cache); its path is a dependency.
    pub fn new(
        opts: &BuildOptions,
        cache: Option<&Cache>,
        deps: &mut BTreeSet<PathBuf>,
    ) -> Result<CPythonFrontend> {
        let interp = match &opts.compiler {
            Some(p) => {
                let i = Interpreter::query_cached(p, cache)?;
                // A new interpreter at that path rebuilds.
                deps.extend(super::compile::locate(p));
                Some(i)
            }
            None => None,
        };
        Ok(CPythonFrontend { interp })
    }
}

impl Frontend for CPythonFrontend {
    fn gather(
        &self,
        opts: &BuildOptions,
        walked: &mut Walked,
        said: &mut Said,
    ) -> Result<Range<usize>> {
        if !opts.site_packages.is_empty() {
            let filter = tree::Filter::new(&opts.excludes, &opts.includes)?;
            for dir in &opts.site_packages {
                super::site::walk(dir, &filter, walked, said)?;
            }
        }
        let from = walked.modules.len();
        if opts.stdlib {
            let Some(i) = &self.interp else {
                bail!("--stdlib needs --python PATH: the standard library of which interpreter?");
            };
            let mut ex = opts.excludes.clone();
            if opts.default_excludes {
                ex.extend(stdlib::default_excludes());
            }
            let filter = tree::Filter::new(&ex, &opts.includes)?;
            tree::walk(&i.stdlib, None, &stdlib::LAYOUT, &filter, walked)
                .with_context(|| format!("the standard library of {}", i.path.display()))?;
        }
        Ok(from..walked.modules.len())
    }

    fn load(
        &self,
        opts: &BuildOptions,
        specs: &[Gathered],
        cache: Option<&Cache>,
        deps: &mut BTreeSet<PathBuf>,
        stats: &mut Stats,
    ) -> Result<(Vec<Module>, Tag)> {
        let mut counts = (0, 0);
        let loaded = load_modules(opts, specs, self.interp.as_ref(), cache, deps, &mut counts)?;
        stats.compiled += counts.0;
        stats.cached += counts.1;
        let tag = resolve_tag(opts, self.interp.as_ref(), &loaded)?;
        Ok((loaded.into_iter().map(|l| l.module).collect(), tag))
    }

    fn check_modules(&self, modules: &[Module]) -> Result<()> {
        if modules.iter().any(|m| m.origin.is_none() && !m.data_file) {
            // Aliases are left out: a module may place one under a plain module,
            // as CPython's `os` does with `os.path` (it fills sys.modules itself).
            names::check_package_structure(
                modules
                    .iter()
                    .filter(|m| m.origin.is_none() && !m.data_file)
                    .map(|m| (m.name.as_str(), m.package)),
            )?;
        }
        Ok(())
    }
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
    compile: Option<(super::compile::Job, [u8; 32])>,
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
            let pyc = super::pyc::parse(&buffer[code.clone()])
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
            match hit.filter(|d| super::pyc::check_code_object(d).is_ok()) {
                Some(data) => Prepared {
                    cached: true,
                    ..ready(data, None)
                },
                None => {
                    let job = super::compile::Job {
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
    let worker = super::compile::worker_id();
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
    let mut jobs: Vec<(usize, super::compile::Job, [u8; 32])> = Vec::new();
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
    misses: Vec<(usize, super::compile::Job, [u8; 32])>,
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
    let (places, job_list): (Vec<(usize, [u8; 32])>, Vec<super::compile::Job>) = misses
        .into_iter()
        .map(|(idx, job, key)| ((idx, key), job))
        .unzip();
    let done = |i: usize, r: &super::compile::Compiled| {
        bar.inc(1);
        if let (Some(c), Ok(data)) = (cache, r) {
            if super::pyc::check_code_object(data).is_ok() {
                c.put(&places[i].1, data);
            }
        }
    };
    let results = super::compile::compile_all(interp, opts.optimize, &job_list, workers, &done);
    bar.finish_and_clear();
    // What did compile is kept even if another source failed.
    flush_cache(opts, cache);
    let results = results?;
    let mut errors = Vec::new();
    for ((idx, _), r) in places.iter().zip(results) {
        match r {
            Some(Ok(data)) => {
                super::pyc::check_code_object(&data)
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
                super::pyc::python_version(t).unwrap_or("unknown version"),
                p0.display(),
                t0 & 0xffff,
                super::pyc::python_version(t0).unwrap_or("unknown version"),
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
            super::pyc::python_version(t).unwrap_or("unknown version")
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
            super::pyc::check_code_object(&l.module.data)
                .with_context(|| l.path.display().to_string())?;
        }
    }
    Ok(Tag { kind, value })
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
