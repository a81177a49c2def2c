//! CPython integration, against the real interpreters under /root/.pyenv:
//! the stock-embedding glue (cbindings/cpython) in an embedding program,
//! shared and static, 3.8-3.13; a 3.12 table refused by a 3.11 program; the
//! frozen python of examples/frozen-python for every version (no stdlib
//! .py/.pyc opened or statted, real __file__, tracebacks with source lines,
//! its executable replaced on disk while it runs); and CPython's own
//! regression tests, frozen against stock.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;

const VERSIONS: [&str; 6] = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"];

/// Versions whose frozen python comes deep-frozen too (examples/frozen-python
/// builds out/python-deep for 3.12-3.14).
const DEEP_VERSIONS: [&str; 2] = ["3.12", "3.13"];

const IMPORT_HEAVY: &str = "import json, argparse, asyncio, email.parser, http.client, typing, \
     dataclasses, subprocess, logging, pathlib, re, tempfile, zipfile, decimal, unittest";

/// The regression tests compared, frozen against stock.
const REGRTESTS: [&str; 14] = [
    "test_importlib",
    "test_bdb",
    "test_builtin",
    "test_frozen",
    "test_inspect",
    "test_traceback",
    "test_runpy",
    "test_pkgutil",
    "test_site",
    "test_zipimport",
    "test_linecache",
    "test_json",
    "test_pydoc",
    "test_sysconfig",
];

/// Test cases left out of the comparison, each for a reason that is the
/// point of the frozen python (README.md, "Regression tests"). This one
/// counts sys.path_hooks calls while importing `random`, which the frozen
/// python finds in its table without searching sys.path.
const REGRTEST_IGNORE: [&str; 1] = ["test_parallel_path_hooks"];

/// One make at a time: tests share the per-version build directories.
static BUILD: Mutex<()> = Mutex::new(());

struct Pythons {
    version: String,
    frozen: PathBuf,
    relinked_stock: PathBuf,
    /// The same table deep-frozen (3.12+: static code objects).
    deep: Option<PathBuf>,
    stdlib_dir: String,
}

fn py_out(py: &Path, code: &str) -> String {
    stdout(Command::new(py).args(["-I", "-S", "-c", code]))
        .trim()
        .to_string()
}

/// examples/frozen-python built for `minor` (make: a no-op when up to date).
fn frozen_python(minor: &str) -> Option<Pythons> {
    let python = need_python(minor)?;
    if !have_all(&["make", "cc"]) {
        return None;
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("frozen-python")
        .join(minor);
    {
        let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
        run(Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(repo().join("examples/frozen-python"))
            .arg(format!("PYTHON={}", python.display()))
            .arg(format!("OUT={}", out.display()))
            .arg(format!("OBJFREEZE={}", env!("CARGO_BIN_EXE_objfreeze"))));
    }
    let stdlib_dir = py_out(
        &python,
        "import sysconfig; print(sysconfig.get_paths()['stdlib'])",
    );
    let deep = out.join("python-deep");
    Some(Pythons {
        version: minor.to_string(),
        frozen: out.join("python"),
        relinked_stock: out.join("python-stock"),
        deep: DEEP_VERSIONS.contains(&minor).then(|| {
            assert!(deep.exists(), "{}: not built", deep.display());
            deep
        }),
        stdlib_dir,
    })
}

/// Every file syscall of `py -I -S -c code` (strace -f -e trace=file).
fn strace_files(py: &Path, code: &str, dir: &Path) -> String {
    let log = dir.join("strace.log");
    run(Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=file", "-o"])
        .arg(&log)
        .arg(py)
        .args(["-I", "-S", "-c", code]));
    std::fs::read_to_string(&log).unwrap()
}

/// The lines of an strace log naming a `.py`/`.pyc` file under `dir`.
fn stdlib_source_lines<'a>(log: &'a str, dir: &str) -> Vec<&'a str> {
    let prefix = format!("\"{dir}/");
    log.lines()
        .filter(|l| {
            l.split('"').enumerate().any(|(i, s)| {
                i % 2 == 1 && (s.ends_with(".py") || s.ends_with(".pyc")) && l.contains(&prefix)
            })
        })
        .collect()
}

fn check_frozen_python(p: &Pythons, tmp: &Path) {
    let v = &p.version;
    // 1. The import-heavy command reads no stdlib source or bytecode...
    let frozen_log = strace_files(&p.frozen, IMPORT_HEAVY, tmp);
    let touched = stdlib_source_lines(&frozen_log, &p.stdlib_dir);
    assert!(
        touched.is_empty(),
        "{v}: the frozen python opened or statted stdlib .py/.pyc files:\n{}",
        touched.join("\n")
    );
    // ...where the same link without a table reads hundreds (so the check can fail).
    let stock_log = strace_files(&p.relinked_stock, IMPORT_HEAVY, tmp);
    let stock_touched = stdlib_source_lines(&stock_log, &p.stdlib_dir).len();
    assert!(
        stock_touched > 100,
        "{v}: stock touched only {stock_touched} stdlib files?"
    );
    eprintln!(
        "{v}: import-heavy command: frozen {} file syscalls (0 on stdlib .py/.pyc), stock {} ({stock_touched} on stdlib .py/.pyc)",
        frozen_log.lines().count(),
        stock_log.lines().count()
    );

    // 2. Modules behave as stock: real __file__, spec, __path__, source.
    let facts = py_out(
        &p.frozen,
        &format!(
            "{IMPORT_HEAVY}\nimport inspect, sys, importlib.machinery as m\n\
             print(json.__file__)\n\
             print(json.__spec__.origin == json.__file__, json.__spec__.has_location)\n\
             print(json.__path__)\n\
             print(type(json.__loader__).__name__, isinstance(json.__loader__, m.SourceFileLoader))\n\
             print(inspect.getsource(json.dumps).splitlines()[0])\n\
             print(email.parser.__file__)\n\
             import json.tool; print(json.tool.__file__)"
        ),
    );
    let sd = &p.stdlib_dir;
    let expected = format!(
        "{sd}/json/__init__.py\nTrue True\n['{sd}/json']\nFrozenSourceLoader True\n\
         def dumps(obj, *, skipkeys=False, ensure_ascii=True, check_circular=True,\n\
         {sd}/email/parser.py\n{sd}/json/tool.py"
    );
    assert_eq!(facts, expected, "{v}: module attributes");

    // 3. A traceback raised inside frozen stdlib code shows the source
    //    lines, exactly as the stock python prints it.
    let code = "import json; json.loads('{broken')";
    let tb = |py: &Path| {
        let o = Command::new(py)
            .args(["-I", "-S", "-c", code])
            .output()
            .unwrap();
        assert!(!o.status.success());
        String::from_utf8(o.stderr).unwrap()
    };
    let (frozen_tb, stock_tb) = (tb(&p.frozen), tb(&p.relinked_stock));
    assert!(
        frozen_tb.contains(&format!("File \"{sd}/json/decoder.py\", line"))
            && frozen_tb.contains("    obj, end = self.scan_once(s, idx)"),
        "{v}: traceback without source lines:\n{frozen_tb}"
    );
    assert_eq!(frozen_tb, stock_tb, "{v}: traceback differs from stock");

    // 4. Plain startup is not slower: callgrind's instruction count for
    //    `-I -S -c pass` (stable on a busy machine, unlike wall time).
    if have("valgrind") {
        let instr = |py: &Path| -> u64 {
            let o = Command::new("valgrind")
                .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
                .arg(py)
                .args(["-I", "-S", "-c", "pass"])
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            err.lines()
                .find_map(|l| l.split("Collected :").nth(1))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or_else(|| panic!("no callgrind count:\n{err}"))
        };
        let (f, s) = (instr(&p.frozen), instr(&p.relinked_stock));
        eprintln!(
            "{v}: -c pass: frozen {f} instructions, stock {s} ({:.2}x)",
            f as f64 / s as f64
        );
        assert!(
            f <= s,
            "{v}: -c pass runs {f} instructions frozen, {s} stock"
        );
    }
}

/// bpo-19081: replace the running python's executable on disk (a new file
/// renamed over it, as a package upgrade does); the process then imports
/// a module it had not imported yet, from its table.
fn check_executable_replaced(p: &Pythons, tmp: &Path) {
    let v = &p.version;
    let exe = tmp.join("python");
    std::fs::copy(&p.frozen, &exe).unwrap();
    let ready = tmp.join("ready");
    let go = tmp.join("go");
    let script = format!(
        "import os, sys, time\n\
         assert 'decimal' not in sys.modules\n\
         open({ready:?}, 'w').close()\n\
         while not os.path.exists({go:?}): time.sleep(0.01)\n\
         import decimal, json.tool\n\
         print(type(decimal.__loader__).__name__, decimal.__file__)\n\
         print(decimal.Decimal('1.1') + decimal.Decimal('2.2'))"
    );
    let child = Command::new(&exe)
        .args(["-I", "-S", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !ready.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{v}: child never got ready"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // A different executable (the stock one), written beside and renamed over.
    let new = tmp.join("python.new");
    std::fs::copy(&p.relinked_stock, &new).unwrap();
    std::fs::rename(&new, &exe).unwrap();
    std::fs::write(&go, b"").unwrap();
    let out: Output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{v}: import after the executable was replaced failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.trim(),
        format!("FrozenSourceLoader {}/decimal.py\n3.3", p.stdlib_dir),
        "{v}"
    );
}

#[test]
fn frozen_python_every_version() {
    if !have("strace") {
        return;
    }
    for v in VERSIONS {
        let Some(p) = frozen_python(v) else { continue };
        let tmp = tempdir();
        check_frozen_python(&p, tmp.path());
        check_executable_replaced(&p, tmp.path());
    }
}

// ---- the embedding program --------------------------------------------------

struct Embed {
    include: String,
    libpl: String,
    library: String,
    libdir: String,
    libs: String,
    ldversion: String,
}

fn embed_config(python: &Path) -> Embed {
    let s = stdout(Command::new(python).args([
        "-I",
        "-c",
        "import sysconfig as s; v = s.get_config_var\n\
         print(s.get_paths()['include']); print(v('LIBPL')); print(v('LIBRARY')); print(v('LIBDIR'))\n\
         print(' '.join(str(v(n) or '') for n in ('LIBS', 'MODLIBS', 'SYSLIBS'))); print(v('LDVERSION'))",
    ]));
    let l: Vec<&str> = s.lines().collect();
    Embed {
        include: l[0].into(),
        libpl: l[1].into(),
        library: l[2].into(),
        libdir: l[3].into(),
        libs: l[4].into(),
        ldversion: l[5].into(),
    }
}

/// The app package fixture as a table with symbol `app_modules`.
fn app_table(python: &Path, out: &Path) {
    app_table_with(python, out, &[]);
}

fn app_table_with(python: &Path, out: &Path, extra: &[&str]) {
    let app = repo().join("tests/cpython/app");
    let a = |rel: &str| app.join(rel).display().to_string();
    run(objfreeze()
        .arg("build")
        .args(extra)
        .arg("--python")
        .arg(python)
        .args(["--symbol", "app_modules", "-o"])
        .arg(out)
        .args(["-p", &format!("app={}", a("__init__.py"))])
        .args(["-m", &format!("app.core={}", a("core.py"))])
        .args(["-p", &format!("app.sub={}", a("sub/__init__.py"))])
        .args(["-m", &format!("app.sub.helper={}", a("sub/helper.py"))]));
}

/// Link tests/cpython/embed.c + the glue + `table` against `python`'s
/// libpython, shared or static.
fn link_embed(python: &Path, table: &Path, shared: bool, out: &Path) {
    let c = embed_config(python);
    let dir = out.parent().unwrap();
    let tag = if shared { "shared" } else { "static" };
    let mut objs = vec![];
    for src in [
        "tests/cpython/embed.c",
        "cbindings/cpython/objfreeze_cpython.c",
    ] {
        let o = dir.join(format!(
            "{}-{tag}.o",
            Path::new(src).file_stem().unwrap().to_string_lossy()
        ));
        run(Command::new("cc")
            .args([
                "-std=c99",
                "-Wall",
                "-Wextra",
                "-pedantic",
                "-Werror",
                "-O1",
                "-c",
            ])
            .arg(format!("-I{}", c.include))
            .arg(format!("-I{}", repo().join("cbindings/cpython").display()))
            .arg(repo().join(src))
            .arg("-o")
            .arg(&o));
        objs.push(o);
    }
    let mut cmd = Command::new("cc");
    cmd.arg("-o").arg(out).args(&objs).arg(table);
    if shared {
        cmd.arg(format!("-L{}", c.libdir))
            .arg(format!("-Wl,-rpath,{}", c.libdir))
            .arg(format!("-lpython{}", c.ldversion));
    } else {
        cmd.arg("-Wl,--export-dynamic")
            .arg("-Wl,--whole-archive")
            .arg(Path::new(&c.libpl).join(&c.library))
            .arg("-Wl,--no-whole-archive");
    }
    cmd.args(c.libs.split_whitespace());
    run(&mut cmd);
}

const APP_SCRIPT: &str = r#"
import sys, inspect, traceback
import app, app.sub.helper, app.on_disk
print(app.greet("embed"), app.sub.helper.answer(), app.on_disk.WHERE)
print(type(app.__loader__).__name__, type(app.sub.helper.__loader__).__name__, type(app.on_disk.__loader__).__name__)
print(app.__file__ == app.__spec__.origin, app.__path__ == [app.__file__.rsplit("/", 1)[0]])
print(inspect.getsource(app.core.greet).splitlines()[0])
try:
    app.core.fail()
except ValueError:
    tb = traceback.format_exc()
print('raise ValueError("raised in app.core")' in tb)
"#;

#[test]
fn embedding_program_every_version() {
    if !have("cc") {
        return;
    }
    let tmp = tempdir();
    let app_dir = repo().join("tests/cpython/app");
    for v in VERSIONS {
        let Some(python) = need_python(v) else {
            continue;
        };
        let d = tmp.path().join(v);
        std::fs::create_dir_all(&d).unwrap();
        let table = d.join("app.o");
        app_table(&python, &table);
        for shared in [true, false] {
            let exe = d.join(if shared {
                "embed-shared"
            } else {
                "embed-static"
            });
            link_embed(&python, &table, shared, &exe);
            let got = stdout(Command::new(&exe).arg(APP_SCRIPT));
            let expected = "installed 4 modules\nhello, embed hello, sub! disk\n\
                 FrozenSourceLoader FrozenSourceLoader SourceFileLoader\nTrue True\n\
                 def greet(who):\nTrue\n";
            assert_eq!(got, expected, "{v} {}", exe.display());
            // The file was read from the table: its source path is the fixture's.
            let file = stdout(Command::new(&exe).arg("import app.core; print(app.core.__file__)"));
            assert!(
                file.ends_with(&format!("{}/core.py\n", app_dir.display())),
                "{file}"
            );
        }
    }
}

/// The flags: OBJFREEZE_CPYTHON_NO_FINDER leaves table modules to the
/// interpreter's FrozenImporter (3.8-3.10: no __file__, empty __path__;
/// 3.11+: a path under sys._stdlib_dir, wrong for an application);
/// OBJFREEZE_CPYTHON_SHADOW puts table modules before the interpreter's own
/// frozen ones (3.11+: `os` comes from the table).
#[test]
fn embedding_flags() {
    if !have("cc") {
        return;
    }
    let tmp = tempdir();
    for v in ["3.8", "3.11"] {
        let Some(python) = need_python(v) else {
            continue;
        };
        let Some(p) = frozen_python(v) else { continue };
        let d = tmp.path().join(v);
        std::fs::create_dir_all(&d).unwrap();
        let table = d.join("app.o");
        app_table(&python, &table);
        // Both tables linked: `linked` installs every one.
        let both = d.join("both.o");
        run(Command::new("ld")
            .arg("-r")
            .arg("-o")
            .arg(&both)
            .arg(&table)
            .arg(p.frozen.parent().unwrap().join("stdlib.o")));
        let exe = d.join("embed");
        link_embed(&python, &both, false, &exe);
        let plain = stdout(Command::new(&exe).args([
            "import sys, app.sub.helper\n\
             ln = lambda l: l.__name__ if isinstance(l, type) else type(l).__name__\n\
             print(app.sub.helper.answer(), ln(app.__loader__), app.__spec__.origin)\n\
             print(repr(getattr(app, '__file__', None)), app.__path__)",
            "2",
        ]));
        let stdlib_dir = &p.stdlib_dir;
        let expected = if v == "3.8" {
            "hello, sub! FrozenImporter frozen\nNone []\n".to_string()
        } else {
            format!(
                "hello, sub! FrozenImporter frozen\n'{stdlib_dir}/app/__init__.py' ['{stdlib_dir}/app']\n"
            )
        };
        assert_eq!(
            plain,
            format!("installed 4 modules\n{expected}"),
            "{v} NO_FINDER"
        );
        let os_loader = |flags: &str| {
            stdout(Command::new(&exe).args([
                "import os, json\n\
                 ln = lambda l: l.__name__ if isinstance(l, type) else type(l).__name__\n\
                 print(ln(os.__loader__), ln(json.__loader__))",
                flags,
                "linked",
            ]))
        };
        let (default, shadow) = (os_loader("0"), os_loader("1"));
        // A relative co_filename (here by --prefix-map): a spec without
        // location, as FrozenImporter gives, still loaded from the table.
        let rel = d.join("rel.o");
        let map = format!("{}/=", repo().join("tests/cpython").display());
        app_table_with(&python, &rel, &["--prefix-map", &map]);
        let rel_exe = d.join("embed-rel");
        link_embed(&python, &rel, false, &rel_exe);
        let got = stdout(Command::new(&rel_exe).arg(
            "import app.sub.helper\n\
             print(app.sub.helper.answer(), type(app.__loader__).__name__, app.__spec__.origin, \
             getattr(app, '__file__', None), app.__path__, app.core.fail.__code__.co_filename)",
        ));
        assert_eq!(
            got, "installed 4 modules\nhello, sub! FrozenSourceLoader None None [] app/core.py\n",
            "{v} relative co_filename"
        );
        let own = if v == "3.8" {
            "FrozenSourceLoader"
        } else {
            "FrozenImporter"
        };
        assert!(
            default.ends_with(&format!("\n{own} FrozenSourceLoader\n")),
            "{v}: {default}"
        );
        assert!(
            shadow.ends_with("\nFrozenSourceLoader FrozenSourceLoader\n"),
            "{v}: {shadow}"
        );
    }
}

/// A table for another interpreter is refused, with a message, before any
/// frozen module runs: by the embedding program's call, and by the frozen
/// python's constructor.
#[test]
fn table_for_another_version_is_refused() {
    let (Some(py311), Some(py312)) = (need_python("3.11"), need_python("3.12")) else {
        return;
    };
    if !have("cc") {
        return;
    }
    let tmp = tempdir();
    let table = tmp.path().join("app312.o");
    app_table(&py312, &table);
    let expect = "its bytecode is for Python 3.12 (magic 3531), but this interpreter is Python 3.11 (magic 3495)";
    for shared in [true, false] {
        let exe = tmp.path().join(format!("embed-{shared}"));
        link_embed(&py311, &table, shared, &exe);
        let o = Command::new(&exe).arg("print('ran')").output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{err}");
        assert!(
            err.contains(expect) && err.contains("(first: app)"),
            "{err}"
        );
        assert!(!String::from_utf8_lossy(&o.stdout).contains("ran"));
    }
    // The frozen python: python.o + the 3.12 table + the auto object + 3.11 libpython.
    let Some(p) = frozen_python("3.11") else {
        return;
    };
    let exe = tmp.path().join("python-mixed");
    link_python(&py311, &[table], &p, &exe);
    assert_refused(&exe, expect);
}

/// `exe` stops before running anything: exit status 1 and `expect` on stderr.
fn assert_refused(exe: &Path, expect: &str) {
    let o = Command::new(exe)
        .args(["-c", "print('ran')"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(expect), "{expect}: {err}");
}

/// python.o + `tables` + the frozen python's auto object + libpython.
fn link_python(python: &Path, tables: &[PathBuf], p: &Pythons, exe: &Path) {
    let c = embed_config(python);
    let mut cmd = Command::new("cc");
    cmd.arg("-Wl,--export-dynamic")
        .arg("-o")
        .arg(exe)
        .arg(Path::new(&c.libpl).join("python.o"))
        .args(tables)
        .arg(p.frozen.parent().unwrap().join("objfreeze_cpython_auto.o"))
        .arg("-Wl,--whole-archive")
        .arg(Path::new(&c.libpl).join(&c.library))
        .arg("-Wl,--no-whole-archive")
        .args(c.libs.split_whitespace());
    run(&mut cmd);
}

/// Two tables in one python (stdlib and an application), found by the
/// constructor without naming them: both serve imports.
#[test]
fn frozen_python_with_an_app_table() {
    let Some(py) = need_python("3.11") else {
        return;
    };
    let Some(p) = frozen_python("3.11") else {
        return;
    };
    let tmp = tempdir();
    let app = tmp.path().join("app.o");
    app_table(&py, &app);
    let exe = tmp.path().join("python");
    let stdlib = p.frozen.parent().unwrap().join("stdlib.o");
    link_python(&py, &[stdlib, app], &p, &exe);
    let got = py_out(
        &exe,
        "import sys, json, app.sub.helper\n\
         print(sys.meta_path[1])\n\
         print(app.sub.helper.answer(), type(app.__loader__).__name__, type(json.__loader__).__name__)",
    );
    // Every module of both tables is served, except the names the
    // interpreter freezes itself (3.11: its bootstrap, stdlib and test sets).
    let names = table_names(&p);
    let own = py_out(
        &p.relinked_stock,
        "import _imp; print(' '.join(_imp._frozen_module_names()))",
    );
    let own: Vec<&str> = own
        .split(' ')
        .chain([
            "_frozen_importlib",
            "_frozen_importlib_external",
            "zipimport",
        ])
        .collect();
    let served = names.iter().filter(|n| !own.contains(&n.as_str())).count() + 4;
    assert!(
        got.starts_with(&format!(
            "<objfreeze.TableFinder: {served} modules from 2 tables>\n"
        )),
        "{got} (expected {served} modules)"
    );
    assert!(
        got.ends_with("hello, sub! FrozenSourceLoader FrozenSourceLoader"),
        "{got}"
    );
}

// ---- CPython's regression tests ------------------------------------------------

/// Run the regression tests one file at a time; the outcome of each.
///
/// Each run gets a fresh, empty HOME and the same environment otherwise:
/// test_site's setUpModule creates ~/.local/lib/python3.X/site-packages, so
/// a shared HOME would let whichever interpreter runs first change what the
/// other sees. A file whose output shows no test run counts as a failure of
/// the harness, not as a pass.
fn regrtest(py: &Path, version: &str) -> Vec<(String, bool, String)> {
    // Before 3.11 regrtest prints no test-case totals; -v makes unittest's
    // `Ran N tests` appear.
    let verbose = matches!(version, "3.8" | "3.9" | "3.10");
    REGRTESTS
        .iter()
        .map(|t| {
            let home = tempdir();
            let mut cmd = Command::new(py);
            cmd.args(["-m", "test", t])
                .args(verbose.then_some("-v"))
                .env_clear()
                .env("HOME", home.path())
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("LANG", "C.UTF-8")
                .env("TMPDIR", home.path())
                .current_dir(home.path());
            for i in REGRTEST_IGNORE {
                cmd.args(["-i", i]);
            }
            let o = cmd.output().unwrap();
            let text = String::from_utf8_lossy(&o.stdout).to_string()
                + &String::from_utf8_lossy(&o.stderr);
            let ran = regrtest_ran(&text);
            assert!(
                ran > 0,
                "{} -m test {t}: no test ran (HOME={})\n{text}",
                py.display(),
                home.path().display()
            );
            let summary = text
                .lines()
                .filter(|l| {
                    l.starts_with("Total tests:") || l.contains(" test OK") || l.contains("failed")
                })
                .collect::<Vec<_>>()
                .join(" | ");
            (
                t.to_string(),
                o.status.success(),
                if o.status.success() { summary } else { text },
            )
        })
        .collect()
}

/// How many test cases a regrtest run reports: `Total tests: run=N` (3.11+),
/// or unittest's `Ran N tests` lines (every version) summed.
fn regrtest_ran(text: &str) -> u64 {
    if let Some(n) = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Total tests: run="))
        .map(|r| r.replace(',', ""))
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
    {
        return n;
    }
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Ran "))
        .filter_map(|r| r.split(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Frozen and relinked-stock pythons give the same result for each test
/// file. Versions: OBJFREEZE_REGRTEST_VERSIONS (comma-separated, or `all`),
/// default 3.11 and 3.13 to keep the suite short.
#[test]
fn regression_tests_same_as_stock() {
    let wanted =
        std::env::var("OBJFREEZE_REGRTEST_VERSIONS").unwrap_or_else(|_| "3.11,3.13".into());
    let versions: Vec<&str> = if wanted == "all" {
        VERSIONS.to_vec()
    } else {
        wanted.split(',').map(str::trim).collect()
    };
    for v in versions {
        let Some(p) = frozen_python(v) else { continue };
        let (frozen, stock, deep) = std::thread::scope(|s| {
            let f = s.spawn(|| regrtest(&p.frozen, v));
            let st = s.spawn(|| regrtest(&p.relinked_stock, v));
            let d = s.spawn(|| p.deep.as_ref().map(|d| regrtest(d, v)));
            (f.join().unwrap(), st.join().unwrap(), d.join().unwrap())
        });
        for (i, ((name, ok_f, out_f), (_, ok_s, out_s))) in frozen.iter().zip(&stock).enumerate() {
            eprintln!(
                "{v} {name}: frozen {} stock {}",
                if *ok_f { "OK" } else { "FAILED" },
                if *ok_s { "OK" } else { "FAILED" }
            );
            assert_eq!(
                ok_f, ok_s,
                "{v} {name}: frozen and stock differ\n--- frozen\n{out_f}\n--- stock\n{out_s}"
            );
            if let Some(deep) = &deep {
                let (_, ok_d, out_d) = &deep[i];
                eprintln!("{v} {name}: deep {}", if *ok_d { "OK" } else { "FAILED" });
                assert_eq!(
                    ok_d, ok_s,
                    "{v} {name}: deep-frozen and stock differ\n--- deep\n{out_d}\n--- stock\n{out_s}"
                );
            }
        }
    }
}

// ---- deep freezing in a stock CPython -----------------------------------------

/// The module names in the frozen python's stdlib table.
fn table_names(p: &Pythons) -> Vec<String> {
    module_names(&p.frozen.parent().unwrap().join("stdlib.o"))
}

/// The module names in the first table of object `obj`.
fn module_names(obj: &Path) -> Vec<String> {
    inspect_json(obj)["tables"][0]["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect()
}

/// tests/cpython/deep_check.py --finder on every module of the frozen
/// python's table, run by `py`: its JSON report.
fn deep_check(py: &Path, p: &Pythons) -> serde_json::Value {
    let names = table_names(p);
    let out = stdout(
        Command::new(py)
            .arg(repo().join("tests/cpython/deep_check.py"))
            .arg("--finder")
            .args(&names),
    );
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Deep freezing with no CPython source change (3.12, 3.13: python.o +
/// table + blob + the two runtime objects + libpython3.X.a): every module
/// the table serves is imported as the static code object in the
/// executable's data, equal to what compile() makes of its source, with
/// interned names; a subinterpreter gets heap code; code watchers are told
/// of them; the blob has no relocations. The table python, checked the same way, has no static code
/// (so the check can fail).
#[test]
fn deep_frozen_python_serves_static_code() {
    for v in DEEP_VERSIONS {
        let Some(p) = frozen_python(v) else { continue };
        let deep = p.deep.as_ref().unwrap();
        let r = deep_check(deep, &p);
        eprintln!("{v} deep: {r}");
        let n = r["modules"].as_u64().unwrap();
        assert!(n > 500, "{v}: only {n} modules checked: {r}");
        assert_eq!(r["equal"].as_u64(), Some(n), "{v}: {r}");
        assert_eq!(r["in_binary"].as_u64(), Some(n), "{v}: {r}");
        assert_eq!(r["not_interned"].as_array().unwrap().len(), 0, "{v}: {r}");
        assert_eq!(r["main_json_dumps"], true, "{v}: {r}");
        assert!(
            r["subinterpreter"]
                .as_str()
                .unwrap()
                .starts_with("False [1, \"x\"]"),
            "{v}: {r}"
        );
        assert_quickened_as_compiled(v, &r);
        let table = deep_check(&p.frozen, &p);
        assert_eq!(
            table["equal"].as_u64(),
            Some(n),
            "{v} table python: {table}"
        );
        assert_eq!(
            table["in_binary"].as_u64(),
            Some(0),
            "{v} table python: {table}"
        );
        // A str interned by a C module before the static one is fixed up is
        // the one the code gets (the constants are one object, either order).
        for order in [
            "_decimal as C, _pydecimal as P",
            "_pydecimal as P, _decimal as C",
        ] {
            let same = py_out(
                deep,
                &format!("import {order}; print(C.ROUND_UP is P.ROUND_UP)"),
            );
            assert_eq!(same, "True", "{v}: import {order}");
        }
        // Code watchers hear of the static code objects as of unmarshalled ones.
        let watch = "import _testcapi\nw = _testcapi.add_code_watcher(0)\n\
                     n = _testcapi.get_code_watcher_num_created_events(w)\nimport colorsys\n\
                     print(_testcapi.get_code_watcher_num_created_events(w) - n)";
        let events = py_out(deep, watch);
        assert_eq!(
            events,
            py_out(&p.relinked_stock, watch),
            "{v}: code watcher events"
        );
        assert_ne!(events, "0", "{v}: no code watcher event");
        let blob = deep.parent().unwrap().join("stdlib-deep.o");
        let rel = stdout(Command::new("readelf").arg("-r").arg(&blob));
        assert!(rel.contains("There are no relocations"), "{v}: {rel}");
        if v == "3.12" {
            check_deepfreeze_replaced(&p);
        }
    }
}

/// 3.12: python-deep links libpython without CPython's deepfreeze.o, whose
/// static code objects are all readied at every start. The interpreter's
/// own frozen modules (importlib's bootstrap, codecs, io, os, site, ...)
/// are then served from objfreeze's deep blob: the static code objects lie
/// in section objfreeze_deep, equal to what compile() makes of the source
/// with the `<frozen ORIGIN>` filename CPython gives them. The table python
/// keeps deepfreeze.o (so the check can fail).
fn check_deepfreeze_replaced(p: &Pythons) {
    let deep = p.deep.as_ref().unwrap();
    let deepfreeze = |exe: &Path| {
        stdout(Command::new("nm").arg(exe))
            .lines()
            .any(|l| l.ends_with(" importlib__bootstrap_toplevel"))
    };
    assert!(
        deepfreeze(&p.frozen),
        "the table python has no deepfreeze.o"
    );
    assert!(
        !deepfreeze(deep),
        "python-deep links CPython's deepfreeze.o"
    );
    // Those with an installed source (not __hello_only__, nor __phello__.ham):
    // the table make/cpython-frozen.py filled.
    let names = module_names(&deep.parent().unwrap().join("frozen-rw.o"));
    assert!(names.len() >= 18, "frozen modules with a source: {names:?}");
    let out = stdout(
        Command::new(deep)
            .arg(repo().join("tests/cpython/deep_check.py"))
            .args(&names),
    );
    let r: serde_json::Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    eprintln!("3.12 frozen modules in python-deep: {r}");
    let n = names.len() as u64;
    assert_eq!(r["modules"].as_u64(), Some(n), "{r}");
    assert_eq!(r["equal"].as_u64(), Some(n), "{r}");
    let blob = section(deep, "objfreeze_deep");
    for name in &names {
        let at = r["exe_offsets"][name].as_u64().unwrap();
        assert!(
            blob.contains(&at),
            "{name}: code at {at:#x}, not in objfreeze_deep {blob:x?}"
        );
    }
    // import.c hides importlib's frames from tracebacks by this filename.
    let filename = py_out(
        deep,
        "import _imp; print(_imp.get_frozen_object('_frozen_importlib').co_filename)",
    );
    assert_eq!(filename, "<frozen importlib._bootstrap>");
}

/// A blob that serves none of the linked tables stops the python before
/// Py_Initialize, naming the problem; so does one linked without its runtime.
#[test]
fn deep_frozen_blob_for_another_table_is_refused() {
    let v = DEEP_VERSIONS[0];
    let Some(py) = need_python(v) else { return };
    let Some(p) = frozen_python(v) else { return };
    let out = p.frozen.parent().unwrap();
    let tmp = tempdir();
    let app = tmp.path().join("app.o");
    app_table(&py, &app);
    let app_deep = tmp.path().join("app-deep.o");
    run(Command::new(env!("CARGO_BIN_EXE_objfreeze"))
        .arg("cpython-deep")
        .arg("--layout")
        .arg(out.join("layout.o"))
        .arg(&app)
        .arg("-o")
        .arg(&app_deep));
    let runtime = out.join("objfreeze_cpython_deep.o");
    for (objs, expect) in [
        (
            vec![out.join("stdlib.o"), app_deep.clone(), runtime],
            "serves no linked table",
        ),
        (
            vec![out.join("stdlib.o"), out.join("stdlib-deep.o")],
            "the deep runtime is not linked",
        ),
    ] {
        let exe = tmp.path().join("python-bad");
        link_python(&py, &objs, &p, &exe);
        assert_refused(&exe, expect);
    }
}

/// The page-rounded file sizes of `exe`'s read-only PT_LOAD segments
/// (readelf -lW).
fn read_only_segments(exe: &Path) -> Vec<u64> {
    let text = stdout(Command::new("readelf").arg("-lW").arg(exe));
    text.lines()
        .filter(|l| l.trim_start().starts_with("LOAD"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // LOAD Offset VirtAddr PhysAddr FileSiz MemSiz Flg... Align
            let filesz = u64::from_str_radix(f[4].trim_start_matches("0x"), 16).ok()?;
            let flags = f[6..f.len() - 1].concat();
            (!flags.contains('W') && filesz > 0).then_some(filesz)
        })
        .collect()
}

/// The address range of `exe`'s section `name` (readelf -SW), empty if none.
fn section(exe: &Path, name: &str) -> std::ops::Range<u64> {
    let text = stdout(Command::new("readelf").arg("-SW").arg(exe));
    text.lines()
        .filter_map(|l| {
            // [Nr] Name Type Address Off Size ...
            let f: Vec<&str> = l.split(']').nth(1)?.split_whitespace().collect();
            let hex = |s: &str| u64::from_str_radix(s, 16).ok();
            (f.first() == Some(&name)).then(|| Some(hex(f[2])?..hex(f[2])? + hex(f[4])?))?
        })
        .next()
        .unwrap_or(0..0)
}

/// The size of `exe`'s section `name`, 0 if none.
fn section_size(exe: &Path, name: &str) -> u64 {
    let r = section(exe, name);
    r.end - r.start
}

/// The read-ahead of the disk holding a file, set for as long as this
/// lives (root); None where the file's device has no queue to set (a
/// virtual file system), and the reason is printed.
struct ReadAhead {
    file: PathBuf,
    was: String,
}

impl ReadAhead {
    fn set(on: &Path, kb: u32) -> Option<ReadAhead> {
        use std::os::unix::fs::MetadataExt;
        let dev = std::fs::metadata(on).unwrap().dev();
        let (major, minor) = (
            (dev >> 8) & 0xfff | (dev >> 32) & !0xfff,
            (dev & 0xff) | ((dev >> 12) & !0xff),
        );
        let base = PathBuf::from(format!("/sys/dev/block/{major}:{minor}"));
        let file = [
            base.join("queue/read_ahead_kb"),
            base.join("../queue/read_ahead_kb"),
        ]
        .into_iter()
        .find(|f| f.is_file());
        let Some(file) = file else {
            eprintln!(
                "NOTE: {}: no block device queue under {}",
                on.display(),
                base.display()
            );
            return None;
        };
        let was = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, kb.to_string()).unwrap();
        Some(ReadAhead { file, was })
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.file, self.was.trim());
    }
}

/// A stock embedding starts as a fork does: before main, MADV_WILLNEED for
/// the read-only segments of the executable, so a cold start reads them in
/// a few large reads. The tables' section is left out: in the table python
/// it lies in a read-only segment, and that segment is asked for around it;
/// the deep python's tables are writable, so its read-only segments are
/// asked for whole. Looked at in pieces of 128 KB (the kernel reads no more
/// of one request on many disks), each asked for only if `mincore` finds a
/// page of it not cached: after the page cache is dropped that depends on
/// how much exec's own read-ahead brought in; on a warm cache nothing is.
#[test]
fn stock_embedding_prefetches_read_only_segments() {
    if !have_all(&["strace", "readelf"]) {
        return;
    }
    if std::fs::write("/proc/sys/vm/drop_caches", "3").is_err() {
        let why = "dropping the page cache needs root (/proc/sys/vm/drop_caches)";
        if on_ci() {
            panic!("required on CI (CI=true): {why}");
        }
        eprintln!("SKIP: {why}");
        return;
    }
    let Some(p) = frozen_python("3.12") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let page = 4096;
    for py in [&p.frozen, p.deep.as_ref().unwrap()] {
        let tables = section_size(py, "objfreeze");
        let tables_read_only = py == &p.frozen;
        let total: u64 = read_only_segments(py)
            .iter()
            .map(|s| s.next_multiple_of(page))
            .sum();
        let expect = if tables_read_only {
            total - tables
        } else {
            total
        };
        for cold in [true, false] {
            // Cold with the kernel's default read-ahead, 128 KB: exec's own
            // read-around then leaves most of the segments to the prefetch.
            let ra = cold.then(|| ReadAhead::set(py, 128));
            if cold {
                run(Command::new("sh").args(["-c", "sync; echo 3 > /proc/sys/vm/drop_caches"]));
            }
            let log = tmp.path().join("madvise.log");
            run(Command::new("strace")
                .args(["-qq", "-s", "64", "-e", "trace=madvise,mincore", "-o"])
                .arg(&log)
                .arg(py)
                .args(["-I", "-S", "-c", "pass"]));
            let log = std::fs::read_to_string(&log).unwrap();
            let fail = |why: &str| {
                panic!(
                    "{} ({}): {why}; read-only segments {total}, tables {tables}:\n{log}",
                    py.display(),
                    if cold { "cold" } else { "warm" }
                )
            };
            // The prefetch comes first, before the tables are advised:
            // each piece looked at, then asked for if not all cached.
            let lines: Vec<&str> = log
                .lines()
                .take_while(|l| l.starts_with("mincore(") || l.contains("MADV_WILLNEED"))
                .collect();
            let args = |l: &str| -> (String, u64) {
                let mut a = l.split_once('(').unwrap().1.split(", ");
                (
                    a.next().unwrap().to_string(),
                    a.next().unwrap().parse().unwrap(),
                )
            };
            let (mut looked, mut asked, mut k) = (0, 0, 0);
            while k < lines.len() {
                let l = lines[k];
                if !l.starts_with("mincore(") {
                    fail(&format!("a MADV_WILLNEED with no mincore before it: {l}"));
                }
                let (at, n) = args(l);
                if n > 128 << 10 {
                    fail(&format!("a piece of {n} bytes"));
                }
                looked += n;
                let uncached = l.contains("[0") || l.contains(" 0,") || l.contains(" 0]");
                let next = lines.get(k + 1).filter(|n| n.contains("MADV_WILLNEED"));
                match (uncached, next) {
                    (true, Some(w)) if args(w) == (at.clone(), n) => {
                        asked += n;
                        k += 2;
                    }
                    (false, None) => k += 1,
                    _ => fail(&format!("piece {at}: not cached {uncached}, then {next:?}")),
                }
            }
            if tables <= 1 << 20 || looked + 2 * page < expect || looked > expect + 2 * page {
                fail(&format!("looked at {looked} bytes"));
            }
            if !cold && asked != 0 {
                fail(&format!("asked for {asked} bytes on a warm cache"));
            }
            if cold && ra.flatten().is_some() && asked < expect / 2 {
                fail(&format!("asked for {asked} bytes on a cold cache"));
            }
        }
    }
}
