//! Python-aware inputs: sources compiled by real interpreters, whole trees and
//! standard libraries, the bytecode cache, depfiles driving real make, and
//! the errors bad inputs must give.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// Checks, in the interpreter that built the table, every extracted `.pyc`
/// under OUT against that interpreter's own compile() of the source under
/// ROOT: importlib's sourceless loader accepts it, the code objects are
/// equal, and every nested co_filename is the
/// expected run-time path (ROOT rewritten to RUNROOT). Prints the count,
/// and how many are byte-identical to py_compile's output.
/// Written for Python 3.6 and later.
const CHECK: &str = r#"
import sys, os, types, py_compile
from importlib.machinery import SourcelessFileLoader
out, root, runroot = sys.argv[1], sys.argv[2], sys.argv[3]
tmp = out + ".check.pyc"
def codes(c):
    yield c
    for k in c.co_consts:
        if isinstance(k, types.CodeType):
            for x in codes(k):
                yield x
n = same = 0
for dirpath, dirs, files in os.walk(out):
    dirs.sort()
    for f in sorted(files):
        pyc = os.path.join(dirpath, f)
        rel = os.path.relpath(pyc, out)[:-1]
        name = rel[:-3].replace(os.sep, ".")
        if name.endswith(".__init__"):
            name = name[:-9]
        src = os.path.join(root, rel)
        want = os.path.join(runroot, rel)
        # Bytes first, while nothing else compiled is alive. They are only
        # counted: marshal flags objects as shared by their reference count,
        # which depends on what else the compiling process holds (modules
        # loaded, interned strings), so even py_compile and compileall can
        # differ in those flags. The code objects must be equal.
        with open(pyc, "rb") as fh:
            data = fh.read()
        py_compile.compile(src, tmp, dfile=want, doraise=True)
        with open(tmp, "rb") as fh:
            cached = fh.read()
        hlen = 16 if sys.version_info >= (3, 7) else 12
        same += data[hlen:] == cached[hlen:]
        code = SourcelessFileLoader(name, pyc).get_code(name)
        with open(src, "rb") as fh:
            ref = compile(fh.read(), src, "exec", dont_inherit=True)
        assert code == ref, name
        bad = [c.co_name for c in codes(code) if c.co_filename != want]
        assert not bad, (name, want, code.co_filename, bad[:3])
        del code, ref
        n += 1
print(n, same)
"#;

/// The standard library's modules after the default excludes, counted
/// independently of objfreeze's walker: regular packages only, no tests,
/// no GUI, no site-packages, no import fixtures.
const COUNT: &str = r#"
import os, sys, sysconfig
lib = getattr(sys, "_stdlib_dir", None) or sysconfig.get_paths()["stdlib"]
skip = {"test", "tests", "idle_test", "idlelib", "tkinter", "turtledemo", "ensurepip", "site-packages", "__pycache__"}
def fixture(n):
    return n.startswith("__hello__") or n.startswith("__phello__")
n = 0
for dirpath, dirs, files in os.walk(lib):
    if dirpath != lib and not os.path.isfile(os.path.join(dirpath, "__init__.py")):
        dirs[:] = []
        continue
    dirs[:] = [d for d in dirs if d not in skip and not fixture(d)]
    n += len([f for f in files if f.endswith(".py") and not fixture(f)])
print(lib)
print(n)
"#;

fn python_magic(py: &Path) -> u32 {
    let s = stdout(Command::new(py).args([
        "-c",
        "import importlib.util,sys; sys.stdout.write(str(int.from_bytes(importlib.util.MAGIC_NUMBER[:2], 'little')))",
    ]));
    s.trim().parse().unwrap()
}

fn modules_of(obj: &Path) -> Vec<serde_json::Value> {
    let j = inspect_json(obj);
    let t = &j["tables"][0];
    t["modules"].as_array().unwrap().clone()
}

fn names_of(obj: &Path) -> BTreeSet<String> {
    modules_of(obj)
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect()
}

/// Extract every module of `obj` as .pyc into `out` and check them in `py`.
fn check_extracted(py: &Path, obj: &Path, out: &Path, root: &Path, runroot: &Path) -> usize {
    let (n, same) = check_pycs(py, obj, &[], out, root, runroot);
    eprintln!(
        "{}: {n} modules equal to its compile(), {same} byte-identical to py_compile",
        py.display()
    );
    n
}

/// Like [`check_extracted`], for the modules `only` (all if empty).
fn check_pycs(
    py: &Path,
    obj: &Path,
    only: &[&str],
    out: &Path,
    root: &Path,
    runroot: &Path,
) -> (usize, usize) {
    let mut ex = objfreeze();
    ex.arg("extract").arg(obj).arg("-o").arg(out).arg("--pyc");
    for m in only {
        ex.args(["-m", m]);
    }
    run(&mut ex);
    let n = stdout(
        Command::new(py)
            .env("PYTHONHASHSEED", "0")
            .args(["-S", "-c", CHECK])
            .arg(out)
            .arg(root)
            .arg(runroot),
    );
    let mut f = n.split_whitespace().map(|x| x.parse().unwrap());
    (f.next().unwrap(), f.next().unwrap())
}

/// `objfreeze build --stdlib` for every CPython 3.8-3.13: the right magic,
/// exactly the modules the stdlib has after the default excludes, and every
/// one of them loadable by that interpreter and equal to its own compile().
#[test]
fn stdlib_for_each_python() {
    let d = tempdir();
    let cache = d.path().join("cache");
    for minor in ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"] {
        let Some(py) = need_python(minor) else {
            continue;
        };
        let obj = d.path().join(format!("stdlib{minor}.o"));
        let args = format!(
            "build --stdlib --python {} -o {} --cache-dir {}",
            py.display(),
            obj.display(),
            cache.display()
        );
        if minor == "3.11" && have("script") {
            // On a terminal, a long compile shows a progress bar.
            let cmd = format!("{} {args}", env!("CARGO_BIN_EXE_objfreeze"));
            let o = run(Command::new("script").args(["-qec", &cmd, "/dev/null"]));
            let tty = String::from_utf8_lossy(&o.stdout);
            assert!(
                tty.contains("compiling") && tty.contains("/6"),
                "no progress bar: {tty}"
            );
        } else {
            // Otherwise a build says nothing.
            let o = run(objfreeze().args(args.split(' ')));
            assert_eq!(String::from_utf8_lossy(&o.stderr), "", "{minor}");
        }
        let j = inspect_json(&obj);
        let t = &j["tables"][0];
        assert_eq!(
            t["python_magic"].as_u64().unwrap(),
            python_magic(&py) as u64,
            "{minor}: {t}"
        );
        let counted = stdout(Command::new(&py).args(["-S", "-c", COUNT]));
        let mut lines = counted.lines();
        let lib = PathBuf::from(lines.next().unwrap());
        let want: usize = lines.next().unwrap().parse().unwrap();
        let names = names_of(&obj);
        assert_eq!(names.len(), want, "{minor}: module count");
        for m in [
            "os",
            "json",
            "json.decoder",
            "importlib._bootstrap",
            "encodings.utf_8",
        ] {
            assert!(names.contains(m), "{minor}: {m} missing");
        }
        assert!(
            names.iter().any(|n| n.starts_with("_sysconfigdata_")),
            "{minor}: sysconfig needs its _sysconfigdata module"
        );
        for m in ["test", "tkinter", "idlelib", "ensurepip", "unittest.test"] {
            assert!(!names.contains(m), "{minor}: {m} should be excluded");
        }
        let out = d.path().join(format!("x{minor}"));
        let n = check_extracted(&py, &obj, &out, &lib, &lib);
        assert_eq!(n, want, "{minor}: modules checked");
        eprintln!("{minor}: {n} stdlib modules frozen and checked");
    }
}

/// Python 3.6 and 3.7 workers (the worker script must stay old-syntax).
#[test]
fn old_pythons_compile_a_tree() {
    for minor in ["3.6", "3.7"] {
        let Some(py) = need_python(minor) else {
            continue;
        };
        let d = tempdir();
        let src = d.path().join("src");
        write_tree(&src);
        let obj = d.path().join("app.o");
        run(objfreeze()
            .args(["build", "--no-cache", "--exclude", "tests", "--python"])
            .arg(&py)
            .arg("--tree")
            .arg(src.join("app"))
            .arg("-o")
            .arg(&obj));
        let n = check_extracted(&py, &obj, &d.path().join("x"), &src, &src);
        assert_eq!(n, 4, "{minor}");
    }
}

fn write(p: &Path, text: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A small package: app, app.util, app.sub, app.sub.deep; tests excluded.
fn write_tree(src: &Path) {
    write(
        &src.join("app/__init__.py"),
        "# -*- coding: latin-1 -*-\nNAME = '\u{e9}t\u{e9}'\n",
    );
    // PEP 263: the bytes are latin-1; the compiler must decode them so.
    let mut latin = b"# -*- coding: latin-1 -*-\nNAME = '".to_vec();
    latin.extend_from_slice(&[0xe9, b't', 0xe9]);
    latin.extend_from_slice(b"'\nS = {'a', 'b', 'c', 'd'}\n");
    std::fs::write(src.join("app/__init__.py"), latin).unwrap();
    write(
        &src.join("app/util.py"),
        "def twice(x):\n    \"\"\"Doubles.\"\"\"\n    assert x is not None\n    return 2 * x\n\nclass K:\n    def m(self):\n        return [i for i in range(3)]\n",
    );
    write(&src.join("app/sub/__init__.py"), "");
    write(
        &src.join("app/sub/deep.py"),
        "from .. import util\nVALUE = util.twice(21)\n",
    );
    write(&src.join("app/tests/__init__.py"), "");
    write(&src.join("app/tests/test_x.py"), "import app\n");
    write(&src.join("app/__pycache__/junk.py"), "this is not python\n");
    write(&src.join("app/notes.txt"), "not a module\n");
}

fn python311() -> Option<PathBuf> {
    need_python("3.11")
}

fn build_cmd(py: &Path) -> Command {
    let mut c = objfreeze();
    c.arg("build").arg("--python").arg(py);
    c
}

/// Trees, excludes, aliases, prefix maps and the manifest, checked by
/// loading what was frozen into the interpreter.
#[test]
fn tree_alias_prefix_map_and_manifest() {
    let Some(py) = python311() else { return };
    let d = tempdir();
    let src = d.path().join("src");
    write_tree(&src);
    let cache = d.path().join("cache");
    let obj = d.path().join("app.o");
    run(build_cmd(&py)
        .arg("--tree")
        .arg(src.join("app"))
        .args(["--exclude", "tests", "--alias", "_app_util=app.util"])
        .arg("--prefix-map")
        .arg(format!("{}=/opt/site", src.display()))
        .arg("--cache-dir")
        .arg(&cache)
        .arg("-o")
        .arg(&obj));
    let mods = modules_of(&obj);
    let names: Vec<&str> = mods.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["_app_util", "app", "app.sub", "app.sub.deep", "app.util"]
    );
    let alias = &mods[0];
    assert_eq!(alias["origin"], "app.util", "{alias}");
    assert_eq!(alias["size"], mods[4]["size"]);
    // co_filename is the run-time path under the mapped prefix.
    let out = d.path().join("x");
    let (n, _) = check_pycs(
        &py,
        &obj,
        &["app", "app.util", "app.sub.deep"],
        &out,
        &src,
        Path::new("/opt/site"),
    );
    assert_eq!(n, 3);
    // Without a prefix map, inspect.getsource finds the source at run time,
    // and the latin-1 source decoded per PEP 263.
    let obj2 = d.path().join("plain.o");
    run(build_cmd(&py)
        .arg("--tree")
        .arg(src.join("app"))
        .args(["--exclude", "tests", "--no-cache", "-o"])
        .arg(&obj2));
    let out2 = d.path().join("y");
    run(objfreeze()
        .arg("extract")
        .arg(&obj2)
        .arg("-o")
        .arg(&out2)
        .arg("--pyc"));
    let script = r#"
import sys, inspect
sys.path.insert(0, sys.argv[1])
import app, app.util, app.sub.deep
assert app.NAME == "\u00e9t\u00e9", ascii(app.NAME)
assert app.sub.deep.VALUE == 42
assert inspect.getsource(app.util.twice).startswith("def twice(x):")
assert app.util.__file__.endswith(".pyc")
print("ok")
"#;
    assert_eq!(
        stdout(
            Command::new(&py)
                .args(["-S", "-B", "-c", script])
                .arg(&out2)
        )
        .trim(),
        "ok"
    );
    // -O 2 strips docstrings and asserts, as compileall -o 2 does; the cache
    // keeps the levels apart.
    let obj_o2 = d.path().join("o2.o");
    run(build_cmd(&py)
        .arg("--tree")
        .arg(src.join("app"))
        .args(["--exclude", "tests", "-O", "2", "--cache-dir"])
        .arg(&cache)
        .arg("-o")
        .arg(&obj_o2));
    let out3 = d.path().join("z");
    run(objfreeze()
        .arg("extract")
        .arg(&obj_o2)
        .arg("-o")
        .arg(&out3)
        .arg("--pyc"));
    let script = r#"
import sys
sys.path.insert(0, sys.argv[1])
import app.util
assert app.util.twice.__doc__ is None
try:
    app.util.twice(None)
except TypeError:
    print("no assert")
"#;
    assert_eq!(
        stdout(
            Command::new(&py)
                .args(["-S", "-B", "-c", script])
                .arg(&out3)
        )
        .trim(),
        "no assert"
    );
    // The same build from a manifest gives the same bytes; unknown keys fail.
    let man = d.path().join("app.toml");
    write(
        &man,
        &format!(
            "python = {:?}\nexclude = [\"tests\"]\nprefix-map = [\"src=/opt/site\"]\ncache-dir = \"cache\"\n\
             [[tree]]\npath = \"src/app\"\n[[alias]]\nname = \"_app_util\"\norigin = \"app.util\"\n",
            py.display().to_string()
        ),
    );
    let obj3 = d.path().join("man.o");
    let o = run(objfreeze()
        .args(["build", "-v", "--manifest"])
        .arg(&man)
        .arg("-o")
        .arg(&obj3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("0 sources compiled, 4 from cache"), "{err}");
    assert_eq!(std::fs::read(&obj).unwrap(), std::fs::read(&obj3).unwrap());
    write(&man, "[[trees]]\npath = \"src\"\n");
    let o = fails(
        objfreeze()
            .args(["build", "--manifest"])
            .arg(&man)
            .arg("-o")
            .arg(&obj3),
    );
    assert!(o.contains("unknown field `trees`"), "{o}");
    // An alias compiled from its own source when its origin is not frozen.
    let obj4 = d.path().join("alias.o");
    run(build_cmd(&py)
        .arg("--no-cache")
        .arg("--alias")
        .arg(format!(
            "_frozen_util=app.util:{}",
            src.join("app/util.py").display()
        ))
        .arg("-o")
        .arg(&obj4));
    let m = modules_of(&obj4);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["name"], "_frozen_util");
    assert_eq!(m[0]["origin"], "app.util");
}

/// Run a build that must fail; return its stderr.
#[track_caller]
fn fails(cmd: &mut Command) -> String {
    let o: Output = cmd.output().unwrap();
    assert!(!o.status.success(), "{cmd:?} should fail");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A warm rebuild compiles nothing and starts no compiler worker (counted
/// by a wrapper around the interpreter); a changed source is recompiled
/// alone; the depfile drives make.
#[test]
fn cache_depfile_and_make() {
    let Some(py) = python311() else { return };
    if !have("make") {
        return;
    }
    let d = tempdir();
    let src = d.path().join("src");
    write_tree(&src);
    // The wrapper logs one line per interpreter start, with its argument
    // count: the query runs with 4 arguments (-S -s -B SCRIPT), a worker
    // with 5 (its optimization level too).
    let log = d.path().join("starts.log");
    let wrapper = d.path().join("python-wrapper");
    write(
        &wrapper,
        &format!(
            "#!/bin/sh\necho \"$#\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            py.display()
        ),
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let obj = d.path().join("app.o");
    let dep = d.path().join("app.d");
    let cache = d.path().join("cache");
    let makefile = d.path().join("Makefile");
    write(
        &makefile,
        &format!(
            "{obj}:\n\t'{bin}' build -v -j 2 --python '{py}' --tree '{src}' --exclude tests --cache-dir '{cache}' --depfile '{dep}' -o '{obj}'\n-include {dep}\n",
            obj = obj.display(),
            bin = env!("CARGO_BIN_EXE_objfreeze"),
            py = wrapper.display(),
            src = src.join("app").display(),
            cache = cache.display(),
            dep = dep.display(),
        ),
    );
    let make = || {
        let o = run(Command::new("make")
            .arg("-f")
            .arg(&makefile)
            .arg("-C")
            .arg(d.path()));
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
    };
    let starts = || -> Vec<String> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let first = make();
    assert!(
        first.contains("4 sources compiled, 0 from cache"),
        "{first}"
    );
    let n0 = starts();
    assert!(n0.iter().filter(|l| *l == "5").count() >= 1, "{n0:?}");
    // The depfile names every source read (and the walked directories).
    let deps = std::fs::read_to_string(&dep).unwrap();
    for f in ["__init__.py", "util.py", "sub/__init__.py", "sub/deep.py"] {
        let p = src.join("app").join(f);
        assert!(
            deps.contains(&p.display().to_string()),
            "{f} not in\n{deps}"
        );
    }
    assert!(!deps.contains("test_x.py"), "{deps}");
    // Nothing touched: make does nothing.
    let again = make();
    assert!(
        again.contains("is up to date") || again.contains("Nothing to be done"),
        "{again}"
    );
    // Touching a source rebuilds; the content is unchanged, so the cache
    // answers and no worker starts.
    let before = starts().len();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let util = src.join("app/util.py");
    std::fs::write(&util, std::fs::read(&util).unwrap()).unwrap();
    let third = make();
    assert!(
        third.contains("0 sources compiled, 4 from cache"),
        "{third}"
    );
    let s = starts();
    assert_eq!(&s[before..], ["4"], "only the query ran, no worker: {s:?}");
    // Changing one source recompiles that one alone.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(
        &util,
        "def twice(x):\n    return x + x\n\nclass K:\n    pass\n",
    )
    .unwrap();
    let fourth = make();
    assert!(
        fourth.contains("1 sources compiled, 3 from cache"),
        "{fourth}"
    );
    // A new module in a tree changes its directory, which the depfile names.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    write(&src.join("app/extra.py"), "X = 1\n");
    let fifth = make();
    assert!(
        fifth.contains("1 sources compiled, 4 from cache"),
        "{fifth}"
    );
    assert!(names_of(&obj).contains("app.extra"));
    // With an interpreter binary (not a script like the wrapper), even its
    // self-description is remembered: a warm build executes no Python at all.
    if have("strace") {
        let build_args = |c: &mut Command| {
            c.arg("build")
                .arg("--python")
                .arg(&py)
                .arg("--tree")
                .arg(src.join("app"))
                .args(["--exclude", "tests", "-v", "--cache-dir"])
                .arg(&cache)
                .arg("-o")
                .arg(&obj);
        };
        let mut plain = objfreeze();
        build_args(&mut plain);
        run(&mut plain);
        let trace = d.path().join("execve.txt");
        let mut traced = Command::new("strace");
        traced
            .args(["-f", "-e", "trace=execve", "-o"])
            .arg(&trace)
            .arg(env!("CARGO_BIN_EXE_objfreeze"));
        build_args(&mut traced);
        let err = String::from_utf8_lossy(&run(&mut traced).stderr).into_owned();
        assert!(err.contains("0 sources compiled, 5 from cache"), "{err}");
        let execs = std::fs::read_to_string(&trace).unwrap();
        let n = execs.lines().filter(|l| l.contains("execve(")).count();
        assert_eq!(n, 1, "only objfreeze itself runs:\n{execs}");
    }
}

/// Every bad input: a clear message naming the problem, a non-zero exit, no
/// output file.
#[test]
fn bad_inputs_fail_cleanly() {
    let Some(py) = python311() else { return };
    let d = tempdir();
    let dir = d.path();
    let out = dir.join("out.o");
    write(&dir.join("ok.py"), "x = 1\n");
    write(&dir.join("bad.py"), "x = 1\ndef f(:\n    pass\n");
    let check = |what: &str, cmd: &mut Command, wants: &[&str]| {
        let err = fails(cmd.arg("-o").arg(&out));
        for w in wants {
            assert!(err.contains(w), "{what}: {w:?} not in:\n{err}");
        }
        assert!(!out.exists(), "{what}: output written");
        eprintln!("{what}: {}", err.trim());
    };
    let bad = dir.join("bad.py");
    check(
        "syntax error",
        build_cmd(&py)
            .arg("--no-cache")
            .arg("-m")
            .arg(format!("b={}", bad.display())),
        &[&format!("{}:2: SyntaxError: ", bad.display()), "def f(:"],
    );
    // A syntax error deep in a tree stops the build the same way.
    write(&dir.join("t/pkg/__init__.py"), "");
    write(&dir.join("t/pkg/broken.py"), "if True:\nprint('x')\n");
    check(
        "syntax error in a tree",
        build_cmd(&py)
            .arg("--no-cache")
            .arg("--tree")
            .arg(dir.join("t")),
        &["pkg/broken.py:2: SyntaxError: expected an indented block"],
    );
    // Unreadable: a dangling symlink in a tree (root reads anything else).
    write(&dir.join("u/pkg/__init__.py"), "");
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("nowhere.py"), dir.join("u/pkg/gone.py")).unwrap();
    check(
        "unreadable file",
        build_cmd(&py).arg("--tree").arg(dir.join("u")),
        &["u/pkg/gone.py: cannot read", "No such file"],
    );
    check(
        "directory as a source",
        build_cmd(&py)
            .arg("-m")
            .arg(format!("d={}", dir.join("u").display())),
        &["is a directory"],
    );
    let ok = dir.join("ok.py").display().to_string();
    check(
        "duplicate module",
        build_cmd(&py).args(["-m", &format!("a={ok}"), "-m", &format!("a={ok}")]),
        &["module `a` is given twice"],
    );
    check(
        "duplicate between a tree and -m",
        build_cmd(&py).arg("--tree").arg(dir.join("t")).args([
            "--exclude",
            "broken",
            "-m",
            &format!("pkg={ok}"),
        ]),
        &["module `pkg` is given twice"],
    );
    write(&dir.join("c/x.py"), "");
    write(&dir.join("c/x/__init__.py"), "");
    check(
        "module vs package in a tree",
        build_cmd(&py).arg("--tree").arg(dir.join("c")),
        &["both define module `x`"],
    );
    check(
        "module vs package on the command line",
        build_cmd(&py).args(["-m", &format!("a={ok}"), "-m", &format!("a.b={ok}")]),
        &["`a` is given as a module, but `a.b` needs it to be a package"],
    );
    if let Some(py10) = need_python("3.10") {
        let pyc = dir.join("old.pyc");
        run(Command::new(&py10)
            .args([
                "-c",
                "import py_compile,sys; py_compile.compile(sys.argv[1], sys.argv[2], doraise=True)",
            ])
            .arg(dir.join("ok.py"))
            .arg(&pyc));
        check(
            "magic mismatch",
            build_cmd(&py)
                .args(["-m", &format!("a={ok}")])
                .arg("-m")
                .arg(format!("o={}", pyc.display())),
            &[
                "old.pyc: bytecode magic 3439 (3.10) differs from",
                "3495 (3.11)",
            ],
        );
    }
    check(
        "invalid module name",
        build_cmd(&py).args(["-m", &format!("a..b={ok}")]),
        &["invalid module name \"a..b\""],
    );
    write(&dir.join("n/my mod.py"), "");
    check(
        "invalid module name in a tree",
        build_cmd(&py).arg("--tree").arg(dir.join("n")),
        &["invalid module name \"my mod\"", "whitespace"],
    );
    write(&dir.join("dot/a.b.py"), "");
    check(
        "dotted file name in a tree",
        build_cmd(&py).arg("--tree").arg(dir.join("dot")),
        &["a.b.py: the file name holds a dot"],
    );
    check(
        "missing interpreter",
        objfreeze()
            .args(["build", "--python", "/nonexistent/python3.99", "-m"])
            .arg(format!("a={ok}")),
        &["--python /nonexistent/python3.99: cannot run it"],
    );
    check(
        "not a python",
        objfreeze()
            .args(["build", "--python", "/bin/false", "-m"])
            .arg(format!("a={ok}")),
        &["--python /bin/false: not a working Python"],
    );
    check(
        "source without an interpreter",
        objfreeze().args(["build", "-m", &format!("a={ok}")]),
        &["needs an interpreter to compile it (--python PATH)"],
    );
    check(
        "stdlib without an interpreter",
        objfreeze().args(["build", "--stdlib"]),
        &["--stdlib needs --python"],
    );
    // A non-identifier name that an import can still reach is kept, with a warning.
    write(&dir.join("w/my-mod.py"), "");
    let o = run(build_cmd(&py)
        .arg("--tree")
        .arg(dir.join("w"))
        .arg("-o")
        .arg(&out));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: 1 module name is not a Python identifier") && err.contains("my-mod"),
        "{err}"
    );
    assert!(names_of(&out).contains("my-mod"));
}
