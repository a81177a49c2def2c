//! Shared by the integration tests: the binary, temp dirs, tools that may be
//! missing (skip with a reason, except on CI where a missing tool fails), and
//! real `.pyc` files from the installed CPythons.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The objfreeze binary cargo built for this test run.
pub fn objfreeze() -> Command {
    Command::new(env!("CARGO_BIN_EXE_objfreeze"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Is `tool` on PATH (or an existing path)? If not: on CI, fail; elsewhere,
/// print why the test is skipped and return false.
pub fn have(tool: &str) -> bool {
    let found = if tool.contains('/') {
        Path::new(tool).exists()
    } else {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
    };
    if !found {
        if on_ci() {
            panic!(
                "{tool} is required on CI (CI=true) but not installed; .ci/run should install it"
            );
        }
        eprintln!("SKIP: {tool} not found; install it to run this test (see .ci/run)");
    }
    found
}

/// All of `tools` present (each missing one is reported).
pub fn have_all(tools: &[&str]) -> bool {
    // Not `all`: every missing tool should be reported, not just the first.
    tools.iter().filter(|t| !have(t)).count() == 0
}

/// Run, and panic with the command's output if it fails.
#[track_caller]
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

pub fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(run(cmd).stdout).unwrap()
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("objfreeze-test-")
        .tempdir()
        .unwrap()
}

/// An installed CPython by minor version ("3.11"), from /root/.pyenv.
pub fn pyenv_python(minor: &str) -> Option<PathBuf> {
    let root = Path::new("/root/.pyenv/versions");
    let dir = std::fs::read_dir(root).ok()?.flatten().find(|e| {
        let n = e.file_name().to_string_lossy().to_string();
        n == minor || n.starts_with(&format!("{minor}."))
    })?;
    let p = dir.path().join("bin").join(format!("python{minor}"));
    p.exists().then_some(p)
}

/// Like [`pyenv_python`], but a missing interpreter skips (or fails on CI).
pub fn need_python(minor: &str) -> Option<PathBuf> {
    let p = pyenv_python(minor);
    if p.is_none() {
        if on_ci() {
            panic!("CPython {minor} is required on CI under /root/.pyenv/versions");
        }
        eprintln!("SKIP: CPython {minor} not installed under /root/.pyenv/versions");
    }
    p
}

/// `n` real top-level stdlib modules compiled by `python` into `dir`, plus
/// the `json` package with its submodules decoder, encoder and scanner, as `-m/-p NAME=FILE` arguments.
pub fn stdlib_pycs(python: &Path, dir: &Path, n: usize) -> Vec<String> {
    let script = r#"
import sys, os, py_compile, importlib.util, sysconfig
out, n = sys.argv[1], int(sys.argv[2])
lib = sysconfig.get_paths()["stdlib"]
names = sorted(f[:-3] for f in os.listdir(lib) if f.endswith(".py") and f[:-3].isidentifier())[:n]
def comp(name, src, pkg):
    dst = os.path.join(out, name + ".pyc")
    py_compile.compile(src, cfile=dst, dfile=src, doraise=True)
    print(("-p" if pkg else "-m") + "\t" + name + "=" + dst)
for name in names:
    comp(name, os.path.join(lib, name + ".py"), False)
comp("json", os.path.join(lib, "json", "__init__.py"), True)
for sub in ("decoder", "encoder", "scanner"):
    comp("json." + sub, os.path.join(lib, "json", sub + ".py"), False)
"#;
    let out = stdout(
        Command::new(python)
            .arg("-c")
            .arg(script)
            .arg(dir)
            .arg(n.to_string()),
    );
    out.lines()
        .flat_map(|l| l.split('\t').map(str::to_string).collect::<Vec<_>>())
        .collect()
}

/// tests/cpython/deep_check.py's report: every module no import has run
/// yet runs the very bytecode (`_co_code_adaptive`: inline-cache counters,
/// 3.12's superinstructions) that compile() gives in the same interpreter.
pub fn assert_quickened_as_compiled(what: &str, r: &serde_json::Value) {
    let fresh = r["fresh"].as_u64().unwrap();
    assert!(fresh > 300, "{what}: only {fresh} modules not run yet: {r}");
    assert_eq!(
        r["adaptive_equal"].as_u64(),
        Some(fresh),
        "{what}: quickened bytecode differs from compile()'s: {}",
        r["adaptive_mismatched"]
    );
}

/// `objfreeze inspect --json` of a file, parsed.
pub fn inspect_json(path: &Path) -> serde_json::Value {
    let s = stdout(objfreeze().arg("inspect").arg("--json").arg(path));
    serde_json::from_str(&s).unwrap()
}

/// The table symbols `objfreeze inspect` finds in a file, in order.
pub fn table_symbols(path: &Path) -> Vec<String> {
    inspect_json(path)["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["symbol"].as_str().unwrap().to_string())
        .collect()
}

/// Where an installed CPython keeps what a relink needs.
pub struct Install {
    pub python: PathBuf,
    /// `lib/python3.X`
    pub stdlib: PathBuf,
    /// `lib/python3.X/config-3.X-*`: the generated Makefile, python.o, libpython3.X.a.
    pub config: PathBuf,
    /// `include/python3.X`
    pub include: PathBuf,
}

/// The pyenv CPython `minor` ("3.11") and its build leftovers; skips (or
/// fails on CI) like [`need_python`].
pub fn need_install(minor: &str) -> Option<Install> {
    let python = need_python(minor)?;
    let prefix = python.parent()?.parent()?.to_path_buf();
    let stdlib = prefix.join("lib").join(format!("python{minor}"));
    let config = std::fs::read_dir(&stdlib).ok().and_then(|d| {
        d.flatten().map(|e| e.path()).find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&format!("config-{minor}")))
        })
    });
    let include = prefix.join("include").join(format!("python{minor}"));
    let Some(config) = config.filter(|_| include.join("Python.h").is_file()) else {
        let why = format!(
            "{} has no {}/config-{minor}-* directory or no {}/Python.h (a CPython built \
             from source and installed, as pyenv does, has both)",
            python.display(),
            stdlib.display(),
            include.display()
        );
        if on_ci() {
            panic!("required on CI (CI=true): {why}");
        }
        eprintln!("SKIP: {why}");
        return None;
    };
    Some(Install {
        python,
        stdlib,
        config,
        include,
    })
}
