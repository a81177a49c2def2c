//! Real CPython source trees built with objfreeze in their build: 3.11.2 and
//! 3.13.5 (Debian's pristine upstream tarballs) and 3.14.7, each built stock,
//! with the one include line of make/cpython.mk (objfreeze), and with the
//! whole standard library frozen (stdlib), by scripts/cpython-build.sh. The
//! builds are cached under target/cpython by tarball digest; the first run
//! takes ~7 minutes per version on two cores, later runs seconds.
//!
//! CPython's whole regression suite, stock against objfreeze, is
//! scripts/cpython-regrtest.sh (about half an hour per version here); set
//! OBJFREEZE_FULL_REGRTEST=1 to have `full_regression_suite_same_as_stock`
//! run it. The suite runs the four test files that exercise the import
//! system and startup on every build.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const VERSIONS: [&str; 3] = ["3.11.2", "3.13.5", "3.14.7"];

/// The import-system and startup tests the issue names; each must pass on
/// every build.
const NAMED_TESTS: [&str; 4] = [
    "test_frozen",
    "test_importlib",
    "test_cmd_line",
    "test_embed",
];

/// What the frozen python imports for the startup measurements.
const IMPORT_HEAVY: &str = "import json, argparse, asyncio, email.parser, http.client, typing, \
    dataclasses, subprocess, logging, pathlib, re, tempfile, zipfile, decimal, unittest";

struct Build {
    /// The install prefix.
    prefix: PathBuf,
    /// The built tree (the build directory: CPython builds in-tree).
    src: PathBuf,
    /// prefix/bin/python3.X
    python: PathBuf,
}

/// Tools every source build needs; skip (or fail on CI) without them.
fn can_build() -> bool {
    have_all(&["gcc", "make", "apt-get", "strace"])
}

/// scripts/cpython-build.sh VERSION VARIANT: the cached build, built first
/// if needed. One build at a time per tree (the script locks).
fn build(version: &str, variant: &str) -> Build {
    let out = run(Command::new(repo().join("scripts/cpython-build.sh"))
        .args([version, variant])
        .env("OBJFREEZE", env!("CARGO_BIN_EXE_objfreeze")));
    let text = String::from_utf8_lossy(&out.stdout);
    let prefix = PathBuf::from(text.lines().last().expect("a prefix").trim());
    let minor = &version[..version.rfind('.').unwrap()];
    Build {
        src: prefix.parent().unwrap().join("src"),
        python: prefix.join("bin").join(format!("python{minor}")),
        prefix,
    }
}

fn py(python: &Path, args: &[&str]) -> String {
    stdout(
        Command::new(python)
            .args(args)
            .env_remove("PYTHONPATH")
            .env_remove("PYTHONHOME"),
    )
}

/// What the frozen importer holds and how it serves each module, with the
/// build's own paths replaced by PREFIX/SRC so two builds compare.
const PROBE: &str = r#"
import sys, _imp, importlib.machinery as m
print("frozen_modules", sys._xoptions.get("frozen_modules"))
names = sorted(_imp._frozen_module_names())
print("names", names)
for n in names + ["no_such_module", "json"]:
    s = m.FrozenImporter.find_spec(n)
    if s is None:
        print(n, None)
        continue
    st = s.loader_state
    print(n, s.origin, s.submodule_search_locations, st.origname, st.filename,
          _imp.is_frozen(n), _imp.is_frozen_package(n))
import os, __hello__
print("os", os.__spec__.origin, os.__file__, type(os.__loader__).__name__)
print("hello", __hello__.__spec__.origin, __hello__.__spec__.loader_state)
"#;

fn probe(b: &Build, xopt: Option<&str>) -> String {
    let mut args = vec![];
    if let Some(x) = xopt {
        args.extend(["-X", x]);
    }
    args.extend(["-I", "-c", PROBE]);
    py(&b.python, &args).replace(&b.prefix.display().to_string(), "PREFIX")
}

/// Each version's objfreeze build holds the three tables, compiled by the
/// tree's own interpreter, and its frozen importer serves exactly what the
/// stock build's does, module by module, with frozen modules on and off.
#[test]
fn objfreeze_build_serves_what_stock_serves() {
    if !can_build() {
        return;
    }
    for v in VERSIONS {
        let stock = build(v, "stock");
        let ofz = build(v, "objfreeze");
        let symbols = table_symbols(&ofz.python);
        assert_eq!(
            symbols,
            [
                "objfreeze_cpython_bootstrap",
                "objfreeze_cpython_test",
                "objfreeze_cpython_stdlib"
            ],
            "{v}"
        );
        assert!(
            table_symbols(&stock.python).is_empty(),
            "{v}: the stock build has no objfreeze table"
        );
        // The C arrays are gone: stock frozen.o pulls in one _Py_M__*
        // array per frozen module, the drop-in none. (_Py_M__getpath is
        // getpath.c's own, not a frozen module.)
        let arrays = |b: &Build| -> Vec<String> {
            stdout(Command::new("nm").arg(&b.python))
                .lines()
                .filter_map(|l| l.split_whitespace().nth(2))
                .filter(|s| s.starts_with("_Py_M__") && *s != "_Py_M__getpath")
                .map(str::to_string)
                .collect()
        };
        assert_eq!(
            arrays(&ofz),
            Vec::<String>::new(),
            "{v}: stock frozen arrays linked"
        );
        // 3.11's stock frozen.c points at deep-frozen code objects instead
        // (code NULL), so only later versions link the arrays.
        if !v.starts_with("3.11.") {
            assert!(
                arrays(&stock)
                    .iter()
                    .any(|s| s == "_Py_M__importlib__bootstrap"),
                "{v}: stock python should hold the frozen arrays"
            );
        }
        for x in [None, Some("frozen_modules=on"), Some("frozen_modules=off")] {
            let (a, b) = (probe(&stock, x), probe(&ofz, x));
            assert_eq!(a, b, "{v} {x:?}: frozen importer differs from stock");
        }
        eprintln!(
            "{v}: objfreeze build: {} frozen modules, same as stock",
            py(
                &ofz.python,
                &["-c", "import _imp; print(len(_imp._frozen_module_names()))"]
            )
            .trim()
        );
    }
}

/// Run regrtest files with a fresh HOME and temp dir; (passed, test cases
/// run, output).
fn regrtest(python: &Path, tests: &[&str], xopts: &[&str]) -> (bool, u64, String) {
    let home = tempdir();
    let mut cmd = Command::new(python);
    for x in xopts {
        cmd.args(["-X", x]);
    }
    // 3.11.2's regrtest prints no test-case totals; -v makes unittest's
    // `Ran N tests` lines appear.
    let verbose = python.to_string_lossy().contains("/3.11.");
    cmd.args(["-m", "test"])
        .args(verbose.then_some("-v"))
        .args(tests)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LANG", "C.UTF-8")
        .env("HOME", home.path())
        .env("TMPDIR", home.path())
        .current_dir(home.path());
    let o = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    let ran = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Total tests: run="))
        .and_then(|r| {
            r.replace(',', "")
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .map(str::to_string)
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            text.lines()
                .filter_map(|l| l.trim().strip_prefix("Ran "))
                .filter_map(|r| r.split(' ').next()?.parse::<u64>().ok())
                .sum()
        });
    (o.status.success(), ran, text)
}

/// test_frozen, test_importlib, test_cmd_line and test_embed pass on the
/// stock and the objfreeze build of every version (run from each build
/// directory, where test_embed finds Programs/_testembed), with the same
/// number of test cases run.
#[test]
fn named_regression_tests_pass() {
    if !can_build() {
        return;
    }
    for v in VERSIONS {
        let stock = build(v, "stock");
        let ofz = build(v, "objfreeze");
        let (s, o) = std::thread::scope(|sc| {
            let s = sc.spawn(|| regrtest(&stock.src.join("python"), &NAMED_TESTS, &[]));
            let o = sc.spawn(|| regrtest(&ofz.src.join("python"), &NAMED_TESTS, &[]));
            (s.join().unwrap(), o.join().unwrap())
        });
        eprintln!(
            "{v}: stock ran {} ok={}, objfreeze ran {} ok={}",
            s.1, s.0, o.1, o.0
        );
        assert!(s.0 && s.1 > 0, "{v} stock:\n{}", s.2);
        assert!(o.0 && o.1 > 0, "{v} objfreeze:\n{}", o.2);
        assert_eq!(s.1, o.1, "{v}: different number of test cases run");
    }
}

/// Files under `stdlib` (but the prefix landmark getpath probes, stock
/// too) that the command stat()s, opens or reads, by strace.
fn stdlib_file_syscalls(python: &Path, stdlib: &Path, code: &str) -> Vec<String> {
    let dir = tempdir();
    let log = dir.path().join("strace");
    run(Command::new("strace")
        .args(["-f", "-e", "trace=%file", "-o"])
        .arg(&log)
        .arg(python)
        .args(["-I", "-c", code]));
    let lib = stdlib.display().to_string();
    std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter(|l| l.contains(&lib) && (l.contains(".py\"") || l.contains(".pyc\"")))
        .filter(|l| !l.contains(&format!("{lib}/os.py")))
        .map(str::to_string)
        .collect()
}

/// With OBJFREEZE_CPYTHON_WHOLE_STDLIB=yes the build imports the standard
/// library from its table: the import-heavy command touches no stdlib .py
/// or .pyc file (stock: hundreds), modules have their real __file__, and
/// tracebacks and inspect find the installed sources.
#[test]
fn whole_stdlib_build_opens_no_stdlib_file() {
    if !can_build() {
        return;
    }
    for v in VERSIONS {
        let stock = build(v, "stock");
        let whole = build(v, "stdlib");
        let minor = &v[..v.rfind('.').unwrap()];
        let lib = |b: &Build| b.prefix.join("lib").join(format!("python{minor}"));
        let frozen = stdlib_file_syscalls(&whole.python, &lib(&whole), IMPORT_HEAVY);
        let stock_n = stdlib_file_syscalls(&stock.python, &lib(&stock), IMPORT_HEAVY).len();
        eprintln!(
            "{v}: import-heavy stdlib .py/.pyc file syscalls: stock {stock_n}, whole-stdlib {}",
            frozen.len()
        );
        assert!(frozen.is_empty(), "{v}: {frozen:#?}");
        assert!(stock_n > 100, "{v}: stock made only {stock_n}");

        let t = inspect_json(&whole.python);
        let stdlib_table = t["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["symbol"] == "objfreeze_cpython_stdlib")
            .unwrap();
        let names: BTreeSet<&str> = stdlib_table["modules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        for m in [
            "json",
            "json.decoder",
            "asyncio.events",
            "email.parser",
            "decimal",
            "encodings.utf_8",
        ] {
            assert!(names.contains(m), "{v}: {m} not in the stdlib table");
        }
        assert!(
            !names.iter().any(|n| n.starts_with("test.")),
            "{v}: test suite frozen"
        );

        let code = "import json, inspect, traceback, sys\n\
            print(getattr(json.__loader__, \"__name__\", type(json.__loader__).__name__), json.__file__)\n\
            print(inspect.getsource(json.dumps).splitlines()[0])\n\
            try:\n    json.loads('{')\n\
            except ValueError:\n    print(' | '.join(traceback.format_exc().splitlines()))\n";
        let out = py(&whole.python, &["-I", "-c", code]);
        let want_file = lib(&whole).join("json/__init__.py");
        let mut l = out.lines();
        assert_eq!(
            l.next().unwrap(),
            format!("FrozenImporter {}", want_file.display()),
            "{v}: {out}"
        );
        assert!(want_file.is_file());
        assert!(l.next().unwrap().starts_with("def dumps("), "{v}: {out}");
        // The frame inside json.decoder shows its file and source line.
        let tb = l.next().unwrap();
        assert!(
            tb.contains("json/decoder.py\", line")
                && tb.contains("in raw_decode")
                && tb.contains("self.scan_once(s, idx)"),
            "{v}: {tb}"
        );
        eprintln!("{v}: {} stdlib modules frozen", names.len());
    }
}

/// Test cases that assume some stdlib module is *not* frozen, so they cannot
/// hold once the whole standard library is: test_isolatedmode shadows
/// `uuid` with a file in the script's directory (FrozenImporter runs before
/// the path finder, as for stock's frozen `os`), test_failure expects
/// FrozenImporter to refuse `importlib`, and test_parallel_path_hooks
/// counts sys.path_hooks calls made while importing `random`, which is
/// found frozen without a path search.
const WHOLE_STDLIB_IGNORE: [&str; 3] = [
    "test.test_cmd_line.CmdLineTest.test_isolatedmode",
    "test.test_importlib.frozen.test_loader.*.test_failure",
    "test.test_importlib.test_threaded_import.ThreadedImportTests.test_parallel_path_hooks",
];

/// The whole stdlib-frozen build passes the import-system tests too, as
/// the stock build does (the named exceptions above are left out of both
/// runs). Both run installed, where frozen modules are on by default and
/// FrozenImporter's __file__ (from sys._stdlib_dir) is the installed path
/// the code objects were compiled with; from a build directory the two
/// differ, and importlib.resources' caller inference, which compares them,
/// would see a foreign frame.
#[test]
fn whole_stdlib_build_passes_named_tests() {
    if !can_build() {
        return;
    }
    let mut tests: Vec<&str> = NAMED_TESTS.to_vec();
    for i in WHOLE_STDLIB_IGNORE {
        tests.extend(["-i", i]);
    }
    for v in VERSIONS {
        let whole = build(v, "stdlib");
        let stock = build(v, "stock");
        both_pass(v, ("whole stdlib", &whole), ("stock", &stock), &tests);
    }
}

/// `tests` pass on both installed builds, with as many test cases run
/// (both run at once, each with a fresh HOME).
fn both_pass(v: &str, (la, a): (&str, &Build), (lb, b): (&str, &Build), tests: &[&str]) {
    let ((aok, aran, atext), (bok, bran, btext)) = std::thread::scope(|sc| {
        let x = sc.spawn(|| regrtest(&a.python, tests, &[]));
        let y = sc.spawn(|| regrtest(&b.python, tests, &[]));
        (x.join().unwrap(), y.join().unwrap())
    });
    eprintln!("{v} installed: {la} ran {aran} ok={aok}, {lb} ran {bran} ok={bok}");
    assert!(bok && bran > 0, "{v} {lb}:\n{btext}");
    assert!(aok && aran > 0, "{v} {la}:\n{atext}");
    assert_eq!(aran, bran, "{v}: different number of test cases run");
}

/// The stock embedding (examples/frozen-python: objfreeze_cpython.c, no
/// source changes) on the source-built 3.14.7, the version no pyenv install
/// here has (tests/cpython.rs runs it on 3.6-3.13).
#[test]
fn frozen_python_example_on_source_builds() {
    if !can_build() {
        return;
    }
    let v = VERSIONS[2];
    let stock = build(v, "stock");
    let out_dir = tempdir();
    let out = run(Command::new("make")
        .args(["-C", "examples/frozen-python", "run"])
        .arg(format!("PYTHON={}", stock.python.display()))
        .arg(format!("OUT={}", out_dir.path().display()))
        .current_dir(repo()));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("0 of them on a .py/.pyc file"),
        "{v}: frozen-python example:\n{text}"
    );
}

/// CPython's whole suite, stock against objfreeze (scripts/cpython-regrtest.sh):
/// only with OBJFREEZE_FULL_REGRTEST=1 (half an hour per version).
#[test]
fn full_regression_suite_same_as_stock() {
    if std::env::var("OBJFREEZE_FULL_REGRTEST").as_deref() != Ok("1") {
        eprintln!(
            "SKIP: set OBJFREEZE_FULL_REGRTEST=1 for the whole suite (scripts/cpython-regrtest.sh)"
        );
        return;
    }
    if !can_build() {
        return;
    }
    for v in VERSIONS {
        let out = run(Command::new(repo().join("scripts/cpython-regrtest.sh")).arg(v));
        eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    }
}

/// The trees deep freezing knows (variant `deep`: OBJFREEZE_CPYTHON_DEEP=yes
/// on top of the whole stdlib); the tool's own checks use the last.
const DEEP_VERSIONS: [&str; 2] = ["3.13.5", "3.14.7"];
const DEEP_VERSION: &str = DEEP_VERSIONS[1];

/// The module names of the stdlib table linked into `python`.
fn stdlib_table_modules(python: &Path) -> Vec<String> {
    let t = inspect_json(python);
    let table = t["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["symbol"] == "objfreeze_cpython_stdlib")
        .expect("a stdlib table")
        .clone();
    table["modules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| !m["data"].as_bool().unwrap_or(false))
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect()
}

/// A linked program's R_*_RELATIVE count (DT_RELACOUNT), by readelf.
fn relative_relocs(exe: &Path) -> u64 {
    let out = stdout(Command::new("readelf").arg("-d").arg(exe));
    out.lines()
        .find(|l| l.contains("(RELACOUNT)"))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or(0)
}

/// The deep-frozen build serves every stdlib module as a static code object
/// in the executable's data, equal (co_code, constants, names, line table,
/// nested code) to what compile() makes of the installed source, with
/// interned names; a subinterpreter unmarshals instead; the blobs add no
/// relocation to the object or the linked python.
#[test]
fn deep_frozen_build_serves_static_code() {
    if !can_build() {
        return;
    }
    for v in DEEP_VERSIONS {
        let deep = build(v, "deep");
        let whole = build(v, "stdlib");
        let names = stdlib_table_modules(&deep.python);
        let script = repo().join("tests/cpython/deep_check.py");
        let mut args = vec!["-I", script.to_str().unwrap()];
        args.extend(names.iter().map(String::as_str));
        let out = py(&deep.python, &args);
        let r: serde_json::Value =
            serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{v}: {e}: {out}"));
        eprintln!("{v} deep check: {r}");
        let n = names.len() as u64;
        assert!(n > 500, "{v}: only {n} stdlib modules");
        assert_eq!(r["modules"], n, "{v}");
        assert_eq!(
            r["equal"], n,
            "{v}: code objects differ from compile(): {}",
            r["mismatched"]
        );
        assert_eq!(
            r["in_binary"], n,
            "{v}: code objects outside the executable"
        );
        assert_eq!(
            r["not_interned"].as_array().unwrap().len(),
            0,
            "{v}: {}",
            r["not_interned"]
        );
        assert_eq!(r["main_json_dumps"], true, "{v}");
        assert_eq!(r["subinterpreter"], "False [1, \"x\"]", "{v}");
        assert_quickened_as_compiled(v, &r);

        for blob in ["stdlib-deep.o", "bootstrap-deep.o"] {
            let o = deep.src.join("Python/objfreeze").join(blob);
            let text = stdout(Command::new("readelf").arg("-r").arg(&o));
            assert!(
                text.contains("There are no relocations"),
                "{v} {blob}: {text}"
            );
        }
        let (rd, rw) = (
            relative_relocs(&deep.python),
            relative_relocs(&whole.python),
        );
        eprintln!("{v} R_X86_64_RELATIVE: deep {rd}, marshal table {rw}");
        assert!(
            rd < rw + 1000,
            "{v}: deep python has {rd} relative relocations, the marshal build {rw}"
        );
    }
}

/// The deep-frozen build passes the import-system tests and those that
/// look at code objects, tracing, monitoring, the GC and subinterpreters,
/// with as many test cases run as on the same build with marshal data
/// (both installed; WHOLE_STDLIB_IGNORE left out of both).
#[test]
fn deep_frozen_build_passes_named_tests() {
    if !can_build() {
        return;
    }
    let mut tests: Vec<&str> = NAMED_TESTS.to_vec();
    tests.extend([
        "test_code",
        "test_marshal",
        "test_sys_settrace",
        "test_monitoring",
        "test_interpreters",
        "test_gc",
        "test_sys",
    ]);
    for i in WHOLE_STDLIB_IGNORE {
        tests.extend(["-i", i]);
    }
    for v in DEEP_VERSIONS {
        let deep = build(v, "deep");
        let whole = build(v, "stdlib");
        both_pass(v, ("deep", &deep), ("marshal table", &whole), &tests);
    }
}

/// `objfreeze cpython-deep` with the probe compiled for the real tree:
/// deterministic output; a table of another CPython version or an object
/// without a probe is refused (nothing written); a debug build's probe
/// gets a warning and an empty blob (every module stays marshalled).
#[test]
fn deep_tool_checks_its_inputs() {
    if !can_build() {
        return;
    }
    let Some(py313) = need_python("3.13") else {
        return;
    };
    let stock = build(DEEP_VERSION, "stock");
    let whole = build(DEEP_VERSION, "stdlib");
    let d = tempdir();
    let probe = |out: &str, extra: &[&str]| {
        let o = d.path().join(out);
        run(Command::new("gcc")
            .args(["-c", "-std=c11", "-DPy_BUILD_CORE"])
            .args(extra)
            .args([
                "-I",
                "Include",
                "-I",
                "Include/internal",
                "-I",
                "Include/internal/mimalloc",
                "-I",
                ".",
            ])
            .arg(repo().join("cbindings/cpython/fork/objfreeze_layout.c"))
            .arg("-o")
            .arg(&o)
            .current_dir(&stock.src));
        o
    };
    let layout = probe("layout.o", &[]);
    let table = whole.src.join("Python/objfreeze/stdlib.o");
    let deep = |table: &Path, layout: &Path, out: &Path| {
        objfreeze()
            .arg("cpython-deep")
            .arg(table)
            .arg("--layout")
            .arg(layout)
            .arg("-o")
            .arg(out)
            .output()
            .unwrap()
    };
    let (a, b) = (d.path().join("a.o"), d.path().join("b.o"));
    for out in [&a, &b] {
        let o = deep(&table, &layout, out);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let msg = String::from_utf8_lossy(&o.stderr);
        assert!(
            msg.contains("modules deep-frozen for CPython 3.14.7"),
            "{msg}"
        );
    }
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "output differs between runs"
    );

    // A 3.13 table.
    std::fs::write(d.path().join("m.py"), "x = {'a': (1, 2.5, -3j)}\n").unwrap();
    let t313 = d.path().join("t313.o");
    run(objfreeze()
        .args(["build", "--python"])
        .arg(&py313)
        .arg("-m")
        .arg(format!("m={}", d.path().join("m.py").display()))
        .arg("-o")
        .arg(&t313));
    let out = d.path().join("bad.o");
    let o = deep(&t313, &layout, &out);
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && msg.contains("CPython 3.13 bytecode") && msg.contains("3.14.7"),
        "{msg}"
    );
    assert!(!out.exists());
    // No probe in the layout object.
    let o = deep(&table, &t313, &out);
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && msg.contains("no objfreeze layout probe"),
        "{msg}"
    );
    assert!(!out.exists());
    // A debug build's probe: a warning, and no module deep-frozen.
    let debug = probe("debug.o", &["-DPy_DEBUG"]);
    let o = deep(&table, &debug, &out);
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success()
            && msg.contains("a debug build (Py_DEBUG)")
            && msg.contains(" 0 of 0 modules"),
        "{msg}"
    );
    assert!(out.exists());
}
