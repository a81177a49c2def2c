//! The drop-in `frozen.c` for CPython forks (cbindings/cpython/fork/),
//! linked in place of the archive's `frozen.o` for CPython 3.11, 3.12 and
//! 3.13: the result passes CPython's own `test_frozen` and `test_importlib`
//! like the stock archive relinked the same way, and answers every frozen
//! module question identically with `-X frozen_modules` unset, on and off.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const VERSIONS: [&str; 3] = ["3.11", "3.12", "3.13"];

/// Compiles the modules CPython 3.11-3.13 freeze into .pyc files, with the
/// code filenames CPython gives them (`<frozen ORIGIN>`: import.c strips
/// frames of `<frozen importlib._bootstrap>` from tracebacks), and prints
/// one line per table: its name, then the `objfreeze build` arguments.
const COMPILE: &str = r#"
import os, sys, py_compile, sysconfig
out, fixtures = sys.argv[1], sys.argv[2]
lib = sysconfig.get_paths()["stdlib"]
def mod(name, rel, pkg=False, base=lib, origin=None):
    # objfreeze takes a package from a file named __init__.
    dst = os.path.join(out, name, "__init__.pyc") if pkg else os.path.join(out, name + ".pyc")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    py_compile.compile(os.path.join(base, rel), cfile=dst,
                       dfile="<frozen %s>" % (origin or name), doraise=True)
    if origin:
        return ["--alias", "%s=%s:%s" % (name, origin, dst)]
    return ["-p" if pkg else "-m", "%s=%s" % (name, dst)]
boot = (mod("_frozen_importlib", "importlib/_bootstrap.py", origin="importlib._bootstrap")
        + mod("_frozen_importlib_external", "importlib/_bootstrap_external.py",
              origin="importlib._bootstrap_external")
        + mod("zipimport", "zipimport.py"))
std = []
for n in ["abc", "codecs", "io", "_collections_abc", "_sitebuiltins", "genericpath", "ntpath",
          "posixpath", "os", "site", "stat", "importlib.util", "importlib.machinery", "runpy"]:
    std += mod(n, n.replace(".", "/") + ".py")
std += mod("os.path", "posixpath.py", origin="posixpath")
test = (mod("__hello__", "__hello__.py") + ["--alias", "__hello_alias__=__hello__"]
        + mod("__phello_alias__", "__hello__.py", pkg=True, origin="__hello__")
        + mod("__phello_alias__.spam", "__hello__.py", origin="__hello__")
        + mod("__phello__", "__phello__/__init__.py", pkg=True)
        + mod("__phello__.__init__", "__phello__/__init__.py", origin="__phello__")
        + mod("__phello__.spam", "__phello__/spam.py")
        + mod("__phello__.ham", "__phello__/ham/__init__.py", pkg=True, base=fixtures)
        + mod("__phello__.ham.__init__", "__phello__/ham/__init__.py", base=fixtures,
              origin="__phello__.ham")
        + mod("__phello__.ham.eggs", "__phello__/ham/eggs.py", base=fixtures)
        + mod("__hello_only__", "frozen_only.py", base=fixtures,
              origin=os.path.join(fixtures, "frozen_only.py")))
for name, args in [("bootstrap", boot), ("stdlib", std), ("test", test)]:
    print("\t".join([name] + args))
"#;

/// What an interpreter says about its frozen modules: the names, and for
/// each module CPython freezes, its spec and the loader state that carries
/// `origname` and `filename` (the origin records).
const PROBE: &str = r#"
import sys, _imp, importlib.machinery
names = ["_frozen_importlib", "_frozen_importlib_external", "zipimport", "os", "os.path",
         "posixpath", "site", "importlib.util", "__hello__", "__hello_alias__",
         "__phello_alias__", "__phello_alias__.spam", "__phello__", "__phello__.__init__",
         "__phello__.ham", "__phello__.ham.__init__", "__phello__.ham.eggs",
         "__phello__.spam", "__hello_only__", "json", "no_such_module"]
print("frozen_modules", sys._xoptions.get("frozen_modules"))
print("names", sorted(_imp._frozen_module_names()))
import os, __hello__
print("os", os.__spec__.origin, getattr(os, "__file__", None), os.__spec__.loader_state)
print("hello", __hello__.__spec__.origin, __hello__.__spec__.loader_state)
for n in names:
    s = importlib.machinery.FrozenImporter.find_spec(n)
    if s is None:
        print(n, None)
        continue
    st = s.loader_state
    print(n, s.origin, s.submodule_search_locations, st.origname, st.filename,
          _imp.is_frozen(n), _imp.is_frozen_package(n))
try:
    import __phello__.ham.eggs as eggs
    print("eggs", eggs.__spec__.origin, eggs.__file__)
except ImportError as e:  # frozen only, so absent with frozen_modules=off
    print("eggs", e)
"#;

struct Cpython {
    minor: &'static str,
    python: PathBuf,
    config: PathBuf,
    include: PathBuf,
}

fn cpython(minor: &'static str) -> Option<Cpython> {
    let i = need_install(minor)?;
    Some(Cpython {
        minor,
        python: i.python,
        config: i.config,
        include: i.include,
    })
}

fn fork_dir() -> PathBuf {
    repo().join("cbindings/cpython/fork")
}

fn fixtures() -> PathBuf {
    repo().join("tests/fixtures/cpython-test-modules")
}

/// The three tables for `py`, written by `objfreeze build` into `dir`.
fn build_tables(py: &Cpython, dir: &Path) -> Vec<PathBuf> {
    let pyc = dir.join(format!("pyc{}", py.minor));
    std::fs::create_dir_all(&pyc).unwrap();
    let lines = stdout(
        Command::new(&py.python)
            .args(["-I", "-c", COMPILE])
            .arg(&pyc)
            .arg(fixtures()),
    );
    let mut objs = Vec::new();
    for line in lines.lines() {
        let mut f = line.split('\t');
        let name = f.next().unwrap();
        let out = dir.join(format!("{name}{}.o", py.minor));
        run(objfreeze()
            .arg("build")
            .arg("-o")
            .arg(&out)
            .arg("--symbol")
            .arg(format!("objfreeze_cpython_{name}"))
            .args(f));
        objs.push(out);
    }
    assert_eq!(objs.len(), 3, "bootstrap, stdlib and test tables");
    objs
}

/// frozen.c compiled against `py`'s headers, warning-free under `cc`.
fn compile_frozen_c(py: &Cpython, cc: &str, out: &Path, extra: &[&str]) {
    run(Command::new(cc)
        .args([
            "-std=c11",
            "-O2",
            "-Wall",
            "-Wextra",
            "-pedantic",
            "-Werror",
        ])
        .args(["-Wstrict-prototypes", "-Wmissing-prototypes"])
        .args(extra)
        .arg(format!("-I{}", py.include.display()))
        .arg(format!("-I{}", py.include.join("internal").display()))
        .arg(format!("-I{}", repo().join("cbindings").display()))
        .arg(format!("-I{}", fork_dir().display()))
        .arg("-c")
        .arg(fork_dir().join("frozen.c"))
        .arg("-o")
        .arg(out));
}

/// The installed static libpython with its `frozen.o` taken out.
fn archive_without_frozen(py: &Cpython, dir: &Path) -> PathBuf {
    let a = dir.join(format!("libpython{}-nofrozen.a", py.minor));
    std::fs::copy(py.config.join(format!("libpython{}.a", py.minor)), &a).unwrap();
    run(Command::new("ar").arg("d").arg(&a).arg("frozen.o"));
    a
}

/// Link python.o + `objs` + `archive` as CPython links a static python:
/// every library object (--whole-archive, like the Makefile's LIBRARY_OBJS,
/// so lib-dynload extensions find every symbol) and exported symbols.
fn link_python(py: &Cpython, out: &Path, objs: &[PathBuf], archive: &Path) {
    run(Command::new("gcc")
        .args(["-Xlinker", "-export-dynamic", "-o"])
        .arg(out)
        .arg(py.config.join("python.o"))
        .args(objs)
        .arg("-Wl,--whole-archive")
        .arg(archive)
        .arg("-Wl,--no-whole-archive")
        .args(["-ldl", "-lm", "-lpthread", "-lutil"]));
}

/// `python -m test TESTS`: (succeeded, the "Total tests: ..." line).
fn regrtest(python: &Path, cwd: &Path, tests: &[&str]) -> (bool, String, String) {
    let out = Command::new(python)
        .args(["-I", "-m", "test"])
        .args(tests)
        .current_dir(cwd)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let total = text
        .lines()
        .find(|l| l.starts_with("Total tests:"))
        .unwrap_or("no total line")
        .to_string();
    (
        out.status.success() && text.contains("Result: SUCCESS"),
        total,
        text,
    )
}

fn probe(python: &Path, xopt: Option<&str>) -> String {
    let mut c = Command::new(python);
    c.arg("-I");
    if let Some(x) = xopt {
        c.args(["-X", x]);
    }
    stdout(c.args(["-c", PROBE]))
}

#[test]
fn drop_in_frozen_c_passes_cpython_frozen_tests() {
    if !have_all(&["gcc", "clang", "ar", "nm"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    for minor in VERSIONS {
        let Some(py) = cpython(minor) else { continue };
        let tables = build_tables(&py, d);

        // Warning-free with both compilers; gcc's object is the one linked.
        let frozen_o = d.join(format!("frozen{minor}.o"));
        compile_frozen_c(&py, "clang", &d.join(format!("frozen{minor}-clang.o")), &[]);
        compile_frozen_c(&py, "gcc", &frozen_o, &[]);

        // In place of the archive's frozen.o, and the stock archive relinked alike.
        let nofrozen = archive_without_frozen(&py, d);
        let fork = d.join(format!("python{minor}-fork"));
        let mut objs = vec![frozen_o.clone()];
        objs.extend(tables.iter().cloned());
        link_python(&py, &fork, &objs, &nofrozen);
        let stock = d.join(format!("python{minor}-stock"));
        link_python(
            &py,
            &stock,
            &[],
            &py.config.join(format!("libpython{minor}.a")),
        );

        // Link order alone also works with the untouched archive: our
        // definitions come first, so the archive's frozen.o is never pulled
        // in (if it were, its symbols would clash and the link would fail).
        let by_order = d.join(format!("python{minor}-order"));
        let mut order = vec![py.config.join("python.o"), frozen_o.clone()];
        order.extend(tables.iter().cloned());
        run(Command::new("gcc")
            .args(["-Xlinker", "-export-dynamic", "-o"])
            .arg(&by_order)
            .args(&order)
            .arg(py.config.join(format!("libpython{minor}.a")))
            .args(["-ldl", "-lm", "-lpthread", "-lutil"]));
        let hello = stdout(Command::new(&by_order).args([
            "-I",
            "-c",
            "import __hello__; __hello__.main()",
        ]));
        assert_eq!(hello, "Hello world!\n");
        let syms = stdout(Command::new("nm").arg(&by_order));
        assert!(
            !syms.contains("_Py_M__zipimport"),
            "{minor}: the archive's frozen.o was linked"
        );

        // The tables are in the executable, sound, where objfreeze finds them.
        let inspect = stdout(objfreeze().arg("inspect").arg("--summary").arg(&fork));
        for t in [
            "objfreeze_cpython_bootstrap",
            "objfreeze_cpython_stdlib",
            "objfreeze_cpython_test",
        ] {
            assert!(inspect.contains(t), "{minor}: {t} not found in\n{inspect}");
        }
        run(objfreeze().arg("verify").arg(&fork));

        // 3.11 and 3.12 also with the deep-frozen startup modules kept.
        let mut variants = vec![("fork", fork.clone())];
        if minor != "3.13" {
            let deep_o = d.join(format!("frozen{minor}-deep.o"));
            let deep_flag = ["-DOBJFREEZE_DEEPFREEZE"];
            compile_frozen_c(
                &py,
                "clang",
                &d.join(format!("frozen{minor}-deep-clang.o")),
                &deep_flag,
            );
            compile_frozen_c(&py, "gcc", &deep_o, &deep_flag);
            let deep = d.join(format!("python{minor}-fork-deepfreeze"));
            let mut objs = vec![deep_o];
            objs.extend(tables.iter().cloned());
            link_python(&py, &deep, &objs, &nofrozen);
            variants.push(("fork+deepfreeze", deep));
        }

        let tests = ["test_frozen", "test_importlib"];
        let (stock_ok, stock_total, _) = regrtest(&stock, d, &tests);
        assert!(stock_ok, "{minor}: stock relink fails {tests:?}");
        for (label, exe) in &variants {
            // Identical answers about frozen modules, whatever -X frozen_modules says.
            for x in [None, Some("frozen_modules=on"), Some("frozen_modules=off")] {
                let (f, s) = (probe(exe, x), probe(&stock, x));
                assert_eq!(f, s, "{minor} {label} {x:?}: differs from the stock python");
                let names = f.lines().nth(1).unwrap();
                if x == Some("frozen_modules=off") {
                    assert!(
                        !names.contains("'os'") && names.contains("'zipimport'"),
                        "{minor}: {names}"
                    );
                    assert!(
                        f.contains("os.py"),
                        "{minor}: os not from source with frozen_modules=off:\n{f}"
                    );
                } else {
                    assert!(
                        names.contains("'os.path'") && names.contains("'__hello_only__'"),
                        "{minor}: {names}"
                    );
                    assert!(f.contains("\nos frozen "), "{minor}: os not frozen:\n{f}");
                }
            }
            eprintln!(
                "{minor} {label}: same answers as stock with -X frozen_modules unset, on, off"
            );

            // CPython's own tests of frozen modules, beside the stock relink.
            let (ok, total, text) = regrtest(exe, d, &tests);
            assert!(ok, "{minor} {label}: fails {tests:?}:\n{text}");
            assert_eq!(total, stock_total, "{minor} {label}: test counts differ");
            eprintln!("{minor} {label}: {tests:?} SUCCESS, {total} (stock relink: {stock_total})");
        }

        // Startup instructions (callgrind is stable on a busy machine).
        if have("valgrind") {
            let count = |exe: &Path| -> f64 {
                let o = Command::new("valgrind")
                    .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
                    .arg(exe)
                    .args(["-I", "-S", "-c", "pass"])
                    .output()
                    .unwrap();
                let e = String::from_utf8_lossy(&o.stderr);
                let n = e
                    .split("Collected : ")
                    .nth(1)
                    .unwrap_or_else(|| panic!("callgrind: {e}"));
                n.split_whitespace().next().unwrap().parse().unwrap()
            };
            let base = count(&stock);
            for (label, exe) in &variants {
                let n = count(exe);
                eprintln!(
                    "{minor} {label}: -I -S -c pass {:.2} M instructions, stock {:.2} M ({:+.1} %)",
                    n / 1e6,
                    base / 1e6,
                    (n / base - 1.0) * 100.0
                );
                // Without deep-freezing, 3.11 and 3.12 unmarshal what stock
                // has as static objects; with it (and on 3.13) no dearer.
                if *label == "fork+deepfreeze" || minor == "3.13" {
                    assert!(
                        n < base * 1.02,
                        "{minor} {label}: startup dearer than stock"
                    );
                }
            }
        }
    }
}

#[test]
fn tables_for_another_version_are_refused() {
    if !have("gcc") {
        return;
    }
    let (Some(py311), Some(py312)) = (cpython("3.11"), cpython("3.12")) else {
        return;
    };
    let dir = tempdir();
    let d = dir.path();
    let tables312 = build_tables(&py312, d);
    let frozen311 = d.join("frozen311.o");
    compile_frozen_c(&py311, "gcc", &frozen311, &[]);
    let exe = d.join("mixed");
    let mut objs = vec![frozen311];
    objs.extend(tables312);
    link_python(&py311, &exe, &objs, &archive_without_frozen(&py311, d));
    let out = Command::new(&exe)
        .args(["-c", "print('ran')"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a 3.11 python with 3.12 tables ran");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ran"));
    assert!(
        err.contains("objfreeze_cpython_bootstrap") && err.contains("3531") && err.contains("3495"),
        "unclear refusal: {err}"
    );
    eprintln!("refused: {}", err.trim());
}

/// The binary-search replacement for import.c's look_up_frozen and
/// resolve_module_alias (look_up_frozen.c) finds exactly what the stock
/// linear scans find, on the drop-in's real sections.
const HARNESS: &str = r#"
#include "Python.h"
#include "pycore_import.h"
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static bool frozen_on = true;
static bool use_frozen(void) { return frozen_on; }
#include "look_up_frozen.c"

/* The stock algorithm, as a reference: scan each section to its sentinel. */
static const struct _frozen *scan(const struct _frozen *p, const char *name) {
    for (; p != NULL && p->name != NULL; p++)
        if (strcmp(p->name, name) == 0) return p;
    return NULL;
}
static const struct _frozen *linear(const char *name) {
    const struct _frozen *p = scan(_PyImport_FrozenBootstrap, name);
    if (p == NULL) p = scan(PyImport_FrozenModules, name);
    if (p == NULL && frozen_on) p = scan(_PyImport_FrozenStdlib, name);
    if (p == NULL && frozen_on) p = scan(_PyImport_FrozenTest, name);
    return p;
}
static bool linear_alias(const char *name, const char **orig) {
    const struct _module_alias *a;
    for (a = _PyImport_FrozenAliases; a->name != NULL; a++)
        if (strcmp(a->name, name) == 0) { *orig = a->orig; return true; }
    return false;
}

static int checked, bad;
static void check(const char *name) {
    const char *o1 = "unset", *o2 = "unset";
    bool a1, a2;
    checked++;
    if (objfreeze_look_up_frozen(name) != linear(name)) {
        printf("lookup differs for %s (frozen %d)\n", name, frozen_on);
        bad++;
    }
    a1 = objfreeze_resolve_module_alias(name, _PyImport_FrozenAliases, &o1);
    a2 = linear_alias(name, &o2);
    if (a1 != a2 || o1 != o2) {
        printf("alias differs for %s\n", name);
        bad++;
    }
}

/* ns per lookup of names that are not frozen (every import of a module
   from disk asks the frozen importer first), linear scan vs binary search. */
static double ns(const struct _frozen *(*f)(const char *)) {
    static const char *names[] = {"app.util", "numpy", "requests.adapters", "yaml"};
    volatile const void *sink = NULL;
    struct timespec a, b;
    int i;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (i = 0; i < 200000; i++) sink = f(names[i % 4]);
    clock_gettime(CLOCK_MONOTONIC, &b);
    (void)sink;
    return ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 200000;
}

int main(void) {
    static const struct _frozen mine[] = {{"os", NULL, 0, 0}, {"zzz_mine", NULL, 0, 0}, {0}};
    const struct _frozen *sections[3];
    const char *misses[] = {"", "a", "os.pat", "os.path.x", "zipimpor", "~", "__phello__.", NULL};
    const char *o = NULL;
    int round, s, i;
    sections[0] = _PyImport_FrozenBootstrap;
    sections[1] = _PyImport_FrozenStdlib;
    sections[2] = _PyImport_FrozenTest;
    for (round = 0; round < 3; round++) {
        frozen_on = round != 1;
        /* Round 2: an embedder's array in front of the stdlib, shadowing os. */
        PyImport_FrozenModules = round == 2 ? mine : NULL;
        for (s = 0; s < 3; s++)
            for (i = 0; sections[s][i].name != NULL; i++) check(sections[s][i].name);
        for (i = 0; misses[i] != NULL; i++) check(misses[i]);
        check("zzz_mine");
    }
    if (objfreeze_look_up_frozen("os") != &mine[0]) { printf("embedder array not preferred\n"); bad++; }
    if (!objfreeze_resolve_module_alias("__phello__.__init__", _PyImport_FrozenAliases, &o) ||
        strcmp(o, "<__phello__") != 0) { printf("origin of __phello__.__init__: %s\n", o); bad++; }
    if (!objfreeze_resolve_module_alias("__hello_only__", _PyImport_FrozenAliases, &o) || o != NULL) {
        printf("__hello_only__ should have no origin\n"); bad++;
    }
    PyImport_FrozenModules = NULL;
    frozen_on = true;
    for (i = 0; _PyImport_FrozenStdlib[i].name != NULL; i++) {}
    printf("stdlib section of %d: a miss costs %.0f ns scanned, %.0f ns searched\n", i,
           ns(linear), ns(objfreeze_look_up_frozen));
    printf("%d lookups checked, %d differences\n", checked, bad);
    return bad != 0;
}
"#;

#[test]
fn binary_search_lookups_match_the_linear_scans() {
    if !have("gcc") {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    for (minor, whole) in [("3.11", false), ("3.13", false), ("3.13", true)] {
        let Some(py) = cpython(minor) else { continue };
        let mut tables = build_tables(&py, d);
        if whole {
            // The whole standard library in the stdlib section.
            let big = d.join("stdlib-whole.o");
            run(objfreeze()
                .args([
                    "build",
                    "-q",
                    "--symbol",
                    "objfreeze_cpython_stdlib",
                    "--stdlib",
                    "--python",
                ])
                .arg(&py.python)
                .arg("-o")
                .arg(&big));
            tables[1] = big;
        }
        let frozen_o = d.join(format!("frozen{minor}.o"));
        compile_frozen_c(&py, "gcc", &frozen_o, &[]);
        let src = d.join("harness.c");
        std::fs::write(&src, HARNESS).unwrap();
        let exe = d.join(format!(
            "harness{minor}{}",
            if whole { "-whole" } else { "" }
        ));
        // No libpython: the lookups need only frozen.c and the tables.
        run(Command::new("gcc")
            .args([
                "-std=c11",
                "-O2",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-Wno-unused-function",
                "-Wno-missing-field-initializers",
            ])
            .arg(format!("-I{}", py.include.display()))
            .arg(format!("-I{}", py.include.join("internal").display()))
            .arg(format!("-I{}", fork_dir().display()))
            .arg("-DPy_BUILD_CORE")
            .arg(&src)
            .arg(&frozen_o)
            .args(&tables)
            .arg("-o")
            .arg(&exe));
        let out = stdout(&mut Command::new(&exe));
        assert!(out.ends_with(", 0 differences\n"), "{minor}: {out}");
        eprintln!("{minor}: {}", out.trim());
    }
}
