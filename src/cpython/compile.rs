//! Compiling Python sources with a chosen interpreter.
//!
//! Bytecode must come from exactly the target's Python version, so objfreeze
//! never compiles by itself: it asks the interpreter. One short query learns
//! the interpreter's magic, version and standard library (remembered in the
//! cache for a binary that has not changed); then, only if some
//! source is not already cached, a few long-lived worker processes compile
//! sources the way importlib does (`compile(source_bytes, co_filename,
//! 'exec', dont_inherit=True, optimize=N)`, then `marshal.dumps`).
//!
//! Worker protocol (all integers little-endian u32), over the worker's pipes:
//! - worker -> us, once: `OFZW`, then the 4 magic bytes;
//! - us -> worker, per source: filename length, filename (file system
//!   encoding), source length, source bytes;
//! - worker -> us, per source: a status byte (0 ok, 1 syntax error, 2 other
//!   error), payload length, payload (marshal data, or the error as
//!   `line NUL column NUL message NUL text` / `message`).
//!
//! The worker stops at end of input.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context, Result};

use crate::cache::{Cache, KeyBuilder};

/// Runs in the worker. Written for every CPython from 3.6 on: no f-strings
/// with `=`, no walrus, nothing newer than 3.6's standard library.
const WORKER: &str = r#"
import sys, marshal
# importlib.util.MAGIC_NUMBER is this module's, already loaded at startup.
MAGIC = sys.modules["_frozen_importlib_external"].MAGIC_NUMBER
def main():
    optimize = int(sys.argv[1])
    rd = sys.stdin.buffer
    wr = sys.stdout.buffer
    def read_exact(n):
        chunks = []
        while n:
            b = rd.read(n)
            if not b:
                return None
            chunks.append(b)
            n -= len(b)
        return b"".join(chunks)
    def u32(b):
        return int.from_bytes(b, "little")
    def send(status, payload):
        wr.write(bytes([status]) + len(payload).to_bytes(4, "little") + payload)
        wr.flush()
    enc = sys.getfilesystemencoding()
    wr.write(b"OFZW" + MAGIC)
    wr.flush()
    while True:
        head = read_exact(4)
        if head is None:
            return
        name = read_exact(u32(head))
        src = read_exact(u32(read_exact(4)))
        filename = name.decode(enc, "surrogateescape")
        try:
            code = compile(src, filename, "exec", dont_inherit=True, optimize=optimize)
        except SyntaxError as e:
            text = e.text or ""
            if isinstance(text, bytes):
                text = text.decode("utf-8", "replace")
            parts = [str(e.lineno or 0), str(e.offset or 0), str(e.msg), text.rstrip("\n")]
            send(1, "\0".join(parts).encode("utf-8", "backslashreplace"))
            continue
        except Exception as e:
            send(2, ("%s: %s" % (type(e).__name__, e)).encode("utf-8", "backslashreplace"))
            continue
        data = marshal.dumps(code)
        # marshal marks objects shared by reference count: drop this code
        # before compiling the next source, as a fresh process would.
        del code, src
        send(0, data)
main()
"#;

/// Identifies the worker script, for cache keys: a changed worker may
/// compile differently, so it must not reuse what the old one cached.
pub fn worker_id() -> [u8; 32] {
    *blake3::hash(WORKER.as_bytes()).as_bytes()
}

/// Asks the interpreter what it is. Prints the magic in hex, the version,
/// the implementation, then the standard library directory.
const QUERY: &str = r#"
import sys
# importlib.util.MAGIC_NUMBER, without importing importlib.util.
magic = sys.modules["_frozen_importlib_external"].MAGIC_NUMBER
d = getattr(sys, "_stdlib_dir", None)
if not d:
    import sysconfig
    d = sysconfig.get_paths()["stdlib"]
v = sys.version_info
sys.stdout.write("%s\n%d.%d.%d\n%s\n%s\n" % (magic.hex(), v[0], v[1], v[2], sys.implementation.name, d))
"#;

/// What a Python interpreter told us about itself.
#[derive(Debug, Clone)]
pub struct Interpreter {
    pub path: PathBuf,
    /// `importlib.util.MAGIC_NUMBER` as the table's interpreter tag.
    pub tag: u32,
    /// `major.minor.micro`.
    pub version: String,
    pub stdlib: PathBuf,
}

fn python_command(python: &Path) -> Command {
    let mut c = Command::new(python);
    // Without site: faster, and nothing from site-packages runs. The hash seed
    // is fixed because set and frozenset constants are marshalled in hash
    // order; other PYTHON* settings must not change what is compiled.
    c.args(["-S", "-s", "-B"]);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PYTHON") {
            c.env_remove(k);
        }
    }
    c.env("PYTHONHASHSEED", "0");
    c
}

/// Writes `text` as `name` into `dir`, for the interpreter to run as a
/// script file. A file, not `-c`: CPython's own build interpreter
/// (`_bootstrap_python`, what a source build freezes with) runs only files.
fn script_file(dir: &tempfile::TempDir, name: &str, text: &str) -> Result<PathBuf> {
    let p = dir.path().join(name);
    std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
    Ok(p)
}

/// A private directory for the scripts of one query or one compile run,
/// removed when it drops.
fn script_dir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("objfreeze-py.")
        .tempdir()
        .context("cannot create a temporary directory for the Python worker script")
}

/// The file `python` names: itself if it holds a path separator, else the
/// first executable of that name on `PATH`.
pub fn locate(python: &Path) -> Option<PathBuf> {
    if python.components().count() > 1 {
        return python.is_file().then(|| python.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(python))
        .find(|p| p.is_file())
}

/// What identifies an interpreter binary: its resolved path, size, inode
/// and times, as ccache's `compiler_check = mtime` does. `None` for a
/// script (pyenv's shims, wrappers): it may run a different Python each time.
fn identity(python: &Path) -> Option<[u8; 32]> {
    let real = std::fs::canonicalize(locate(python)?).ok()?;
    let meta = std::fs::metadata(&real).ok()?;
    let mut head = [0u8; 2];
    std::fs::File::open(&real)
        .ok()?
        .read_exact(&mut head)
        .ok()?;
    if &head == b"#!" {
        return None;
    }
    let mut k = KeyBuilder::new("cpython interpreter");
    k.field(real.as_os_str().as_encoded_bytes());
    k.field(&meta.len().to_le_bytes());
    let mtime = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    k.field(&mtime.as_nanos().to_le_bytes());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        k.field(&meta.ino().to_le_bytes());
        k.field(&meta.dev().to_le_bytes());
        k.field(&meta.ctime().to_le_bytes());
        k.field(&meta.ctime_nsec().to_le_bytes());
    }
    Some(k.finish())
}

impl Interpreter {
    /// Like [`Interpreter::query`], but an interpreter binary's answer is
    /// kept in `cache`, so a rebuild where nothing changed starts no Python.
    pub fn query_cached(python: &Path, cache: Option<&Cache>) -> Result<Interpreter> {
        let (Some(cache), Some(id)) = (cache, identity(python)) else {
            return Interpreter::query(python);
        };
        if let Some(i) = cache.get(&id).and_then(|b| Interpreter::parse(python, &b)) {
            return Ok(i);
        }
        let i = Interpreter::query(python)?;
        if let Some(stdlib) = i.stdlib.to_str() {
            let text = format!("{:08x}\n{}\n{stdlib}", i.tag, i.version);
            cache.put(&id, text.as_bytes());
        }
        Ok(i)
    }

    fn parse(python: &Path, bytes: &[u8]) -> Option<Interpreter> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut l = text.splitn(3, '\n');
        let tag = u32::from_str_radix(l.next()?, 16).ok()?;
        Some(Interpreter {
            path: python.to_path_buf(),
            tag,
            version: l.next()?.to_string(),
            stdlib: PathBuf::from(l.next()?),
        })
    }

    /// Run `python` once to learn its magic, version and standard library.
    pub fn query(python: &Path) -> Result<Interpreter> {
        let dir = script_dir()?;
        let child = python_command(python)
            .arg(script_file(&dir, "query.py", QUERY)?)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| anyhow!("--python {}: cannot run it: {e}", python.display()))?;
        let out = output_within(child, QUERY_TIMEOUT)
            .map_err(|e| anyhow!("--python {}: {e}", python.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        if !out.status.success() || lines.len() != 4 {
            bail!(
                "--python {}: not a working Python 3.6 or newer ({}){}",
                python.display(),
                out.status,
                match String::from_utf8_lossy(&out.stderr).trim() {
                    "" => String::new(),
                    e => format!(":\n{e}"),
                }
            );
        }
        let magic = (0..lines[0].len())
            .step_by(2)
            .map(|i| u8::from_str_radix(lines[0].get(i..i + 2).unwrap_or("x"), 16))
            .collect::<Result<Vec<u8>, _>>()
            .ok()
            .and_then(|v| <[u8; 4]>::try_from(v).ok())
            .ok_or_else(|| anyhow!("--python {}: odd magic {:?}", python.display(), lines[0]))?;
        if lines[2] != "cpython" {
            bail!(
                "--python {}: is {} {}, but objfreeze freezes CPython bytecode",
                python.display(),
                lines[2],
                lines[1]
            );
        }
        Ok(Interpreter {
            path: python.to_path_buf(),
            tag: super::pyc::tag_of_magic(magic),
            version: lines[1].to_string(),
            stdlib: PathBuf::from(lines[3]),
        })
    }
}

/// One source to compile.
#[derive(Debug, Clone)]
pub struct Job {
    /// Where the source was read (for messages).
    pub path: PathBuf,
    /// What the code object's `co_filename` will be.
    pub co_filename: PathBuf,
    pub source: Vec<u8>,
}

/// Why a source did not compile.
#[derive(Debug, Clone)]
pub struct CompileError {
    pub path: PathBuf,
    pub line: u32,
    pub message: String,
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
        } else {
            write!(f, "{}: {}", self.path.display(), self.message)
        }
    }
}

struct Worker {
    child: Child,
    to: BufWriter<ChildStdin>,
    from: BufReader<ChildStdout>,
}

impl Worker {
    fn start(interp: &Interpreter, script: &Path, optimize: u8) -> Result<Worker> {
        let mut child = python_command(&interp.path)
            .arg(script)
            .arg(optimize.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| {
                anyhow!(
                    "--python {}: cannot start a compiler worker: {e}",
                    interp.path.display()
                )
            })?;
        let to = BufWriter::new(child.stdin.take().expect("piped"));
        let mut from = BufReader::new(child.stdout.take().expect("piped"));
        let mut hello = [0u8; 8];
        from.read_exact(&mut hello).with_context(|| {
            format!(
                "--python {}: the compiler worker did not start",
                interp.path.display()
            )
        })?;
        let tag = super::pyc::tag_of_magic(hello[4..].try_into().unwrap());
        if &hello[..4] != b"OFZW" || tag != interp.tag {
            bail!(
                "--python {}: the compiler worker answered oddly (magic changed while building?)",
                interp.path.display()
            );
        }
        Ok(Worker { child, to, from })
    }

    /// Compile one source: Ok(Ok(marshal)) or Ok(Err(compile error)).
    /// Hand the worker one source; [`Worker::receive`] gets the outcome.
    fn send(&mut self, job: &Job) -> std::io::Result<()> {
        let name = path_bytes(&job.co_filename);
        self.to.write_all(&(name.len() as u32).to_le_bytes())?;
        self.to.write_all(&name)?;
        self.to
            .write_all(&(job.source.len() as u32).to_le_bytes())?;
        self.to.write_all(&job.source)?;
        self.to.flush()
    }

    /// The outcome of the source last sent: Ok(Ok(marshal)) or Ok(Err(compile error)).
    fn receive(&mut self, job: &Job) -> std::io::Result<Result<Vec<u8>, CompileError>> {
        let mut head = [0u8; 5];
        self.from.read_exact(&mut head)?;
        let len = u32::from_le_bytes(head[1..].try_into().unwrap()) as usize;
        let mut payload = vec![0u8; len];
        self.from.read_exact(&mut payload)?;
        Ok(match head[0] {
            0 => Ok(payload),
            1 => {
                let text = String::from_utf8_lossy(&payload);
                let mut f = text.split('\0');
                let line = f.next().and_then(|s| s.parse().ok()).unwrap_or(0);
                let col: u32 = f.next().and_then(|s| s.parse().ok()).unwrap_or(0);
                let msg = f.next().unwrap_or("").to_string();
                let src = f.next().unwrap_or("");
                let mut message = format!("SyntaxError: {msg}");
                if !src.trim().is_empty() {
                    message.push_str(&format!("\n    {}", src.trim_end()));
                    if col > 0 {
                        // Python's offset counts from the start of the raw line.
                        let lead = src.len() - src.trim_start().len();
                        let caret = (col as usize).saturating_sub(1).saturating_sub(lead);
                        message.push_str(&format!("\n    {}^", " ".repeat(caret)));
                    }
                }
                Err(CompileError {
                    path: job.path.clone(),
                    line,
                    message,
                })
            }
            _ => Err(CompileError {
                path: job.path.clone(),
                line: 0,
                message: String::from_utf8_lossy(&payload).into_owned(),
            }),
        })
    }

    fn finish(mut self) {
        drop(self.to);
        let _ = self.child.wait();
    }
}

#[cfg(unix)]
fn path_bytes(p: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn path_bytes(p: &Path) -> Vec<u8> {
    p.to_string_lossy().into_owned().into_bytes()
}

/// Marshal data of a compiled source, or why it did not compile.
pub type Compiled = Result<Vec<u8>, CompileError>;

/// What became of one source: compiled or not, or `None` if it was skipped
/// after another source failed.
pub type Outcome = Option<Compiled>;

/// Compile `jobs` with up to `workers` worker processes. `done` is called
/// with each outcome as it arrives, on a worker's thread, while that worker
/// already compiles its next source (so slow work there, like writing a
/// cache entry, overlaps compiling). Every source is attempted unless one
/// fails, in which case the rest are skipped; the result holds each job's
/// outcome, `None` for skipped ones. Errors are only for broken workers.
pub fn compile_all(
    interp: &Interpreter,
    optimize: u8,
    jobs: &[Job],
    workers: usize,
    done: &(dyn Fn(usize, &Compiled) + Sync),
) -> Result<Vec<Outcome>> {
    let n = workers.clamp(1, jobs.len().max(1));
    let dir = script_dir()?;
    let script = script_file(&dir, "worker.py", WORKER)?;
    // Biggest sources first, so no worker is left with a long one at the end.
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(jobs[i].source.len()));
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let take = || {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        order.get(next.fetch_add(1, Ordering::Relaxed)).copied()
    };
    let results: Mutex<Vec<Outcome>> = Mutex::new(vec![None; jobs.len()]);
    let broken: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| {
                let mut w = match Worker::start(interp, &script, optimize) {
                    Ok(w) => w,
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        broken.lock().unwrap().get_or_insert(e);
                        return;
                    }
                };
                let died = |w: &mut Worker, i: usize, e: std::io::Error| {
                    stop.store(true, Ordering::Relaxed);
                    broken.lock().unwrap().get_or_insert(anyhow!(
                        "--python {}: a compiler worker died while compiling {}: {e}",
                        interp.path.display(),
                        jobs[i].path.display()
                    ));
                    let _ = w.child.kill();
                    let _ = w.child.wait();
                };
                let mut inflight = take();
                if let Some(i) = inflight {
                    if let Err(e) = w.send(&jobs[i]) {
                        return died(&mut w, i, e);
                    }
                }
                while let Some(i) = inflight {
                    let r = match w.receive(&jobs[i]) {
                        Ok(r) => r,
                        Err(e) => return died(&mut w, i, e),
                    };
                    if r.is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    // The next source goes out before this one's outcome is handled.
                    inflight = take();
                    if let Some(k) = inflight {
                        if let Err(e) = w.send(&jobs[k]) {
                            return died(&mut w, k, e);
                        }
                    }
                    done(i, &r);
                    results.lock().unwrap()[i] = Some(r);
                }
                w.finish();
            });
        }
    });
    if let Some(e) = broken.into_inner().unwrap() {
        return Err(e);
    }
    Ok(results.into_inner().unwrap())
}

/// How long a Python may take to answer the first question; something that
/// starts but never answers must not hang the build.
const QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// `Child::wait_with_output`, giving up (and killing the child) after `limit`.
fn output_within(
    mut child: std::process::Child,
    limit: std::time::Duration,
) -> Result<std::process::Output> {
    use std::io::Read;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "did not answer within {} s; is it a Python?",
                limit.as_secs()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    Ok(std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::Duration;

    #[test]
    fn a_silent_program_times_out() {
        let child = Command::new("sleep")
            .arg("30")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let e = output_within(child, Duration::from_millis(200)).unwrap_err();
        assert!(e.to_string().contains("did not answer"), "{e}");
        let child = Command::new("echo")
            .arg("hi")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = output_within(child, Duration::from_secs(30)).unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"hi\n");
    }
}
