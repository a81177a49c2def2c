//! CPython 3.14.7 cross-built for aarch64 and riscv64 by
//! scripts/cpython-cross.sh (--with-build-python: the native stock build of
//! the same tarball), with the whole standard library in objfreeze tables for
//! the target and every extension module built in, linked statically; run
//! under qemu-user with PYTHONHOME an empty tree (and a directory that does
//! not exist): `import json, asyncio, decimal` works and the trace shows no
//! .py, .pyc or .so file opened. The aarch64 build also has its tables
//! deep-frozen (static code objects). The builds are cached under
//! target/cpython/3.14.7-DIGEST/cross-[deep-]TRIPLE; the first run takes several
//! minutes per triple on two cores, later runs seconds.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Instant;

use common::*;

const VERSION: &str = "3.14.7";
const MINOR: &str = "3.14";

/// One build at a time: each already runs make -j2 on a 2-core machine.
static BUILD: Mutex<()> = Mutex::new(());

/// What the target runs, and (for the result lines) the build python too:
/// `key=value` lines. `kinds` says how each imported module was loaded.
const SCRIPT: &str = r#"
import sys, os, json, asyncio, decimal
import _frozen_importlib
async def coro():
    await asyncio.sleep(0.01)
    return sum(i * i for i in range(100))
print("json=" + json.dumps({"x": [1, 2.5, None, "\u00e9"], "n": {"a": True}}, sort_keys=True))
print("asyncio=" + repr(asyncio.run(coro())))
print("decimal=" + str(decimal.Decimal(1) / 7))
print("decimal_impl=" + ("_decimal" if "_decimal" in sys.modules else "_pydecimal"))
print("c_json=" + str(json.decoder.c_scanstring is not None))
print("machine=" + os.uname().machine)
print("json_file=" + json.__file__)
print("json_origin=" + str(json.__spec__.origin))
print("decimal_loader=" + repr(decimal.__loader__))
print("prefix=" + sys.prefix)
print("path_existing=" + repr([p for p in sys.path if os.path.exists(p)]))
def kind(name, m):
    if name in sys.builtin_module_names:
        return "builtin"
    if name == "__main__":
        return "main"
    if getattr(m, "__loader__", None) is _frozen_importlib.FrozenImporter:
        # The name it was found by: os.path and collections.abc are entries
        # their parents put in sys.modules for posixpath, _collections_abc
        # (whose __name__ is collections.abc).
        return "frozen/" + m.__spec__.name
    return "other:" + repr(getattr(m, "__file__", None))
print("kinds=" + " ".join(f"{n}:{kind(n, m)}" for n, m in sorted(sys.modules.items())))
"#;

struct Target {
    triple: &'static str,
    qemu: &'static str,
    /// os.uname().machine under qemu.
    machine: &'static str,
    /// readelf -h's Machine line.
    elf_machine: &'static str,
    /// Tables deep-frozen too (OBJFREEZE_CROSS_DEEP=1). aarch64 is built
    /// that way only, so one cross tree serves both its tests and the
    /// example; riscv64 keeps the marshal-only build.
    deep: bool,
}

const AARCH64: Target = Target {
    triple: "aarch64-linux-gnu",
    qemu: "qemu-aarch64",
    machine: "aarch64",
    elf_machine: "AArch64",
    deep: true,
};
const RISCV64: Target = Target {
    triple: "riscv64-linux-gnu",
    qemu: "qemu-riscv64",
    machine: "riscv64",
    elf_machine: "RISC-V",
    deep: false,
};

fn tarball() -> PathBuf {
    repo().join("../shared/cpython-src/Python-3.14.7.tar.xz")
}

fn can_cross(t: &Target) -> bool {
    let cc = format!("{}-gcc", t.triple);
    let tar = tarball();
    have_all(&["gcc", "make", "readelf", &cc, t.qemu, tar.to_str().unwrap()])
}

/// scripts/cpython-cross.sh: the cached executable, built first if needed.
fn cross_build(t: &Target) -> PathBuf {
    let _one = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let start = Instant::now();
    let out = run(Command::new(repo().join("scripts/cpython-cross.sh"))
        .args([VERSION, t.triple])
        .env("OBJFREEZE", env!("CARGO_BIN_EXE_objfreeze"))
        .env("OBJFREEZE_CROSS_DEEP", if t.deep { "1" } else { "" }));
    let exe = PathBuf::from(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .expect("cpython-cross.sh printed no path")
            .trim(),
    );
    let size = fs::metadata(&exe)
        .unwrap_or_else(|e| panic!("{}: {e}", exe.display()))
        .len();
    eprintln!(
        "{}: cpython-cross.sh {VERSION} {} took {:.1} s; {} is {size} bytes ({:.1} MiB)",
        t.triple,
        t.triple,
        start.elapsed().as_secs_f64(),
        exe.display(),
        size as f64 / 1048576.0
    );
    exe
}

/// The native build python the cross build used (the script built it).
fn build_python() -> PathBuf {
    let out = run(Command::new(repo().join("scripts/cpython-build.sh"))
        .args([VERSION, "stock"])
        .env("OBJFREEZE", env!("CARGO_BIN_EXE_objfreeze")));
    let prefix = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("a prefix")
        .trim()
        .to_string();
    Path::new(&prefix).join(format!("bin/python{MINOR}"))
}

fn key_values(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One qemu-user syscall line: `PID name(args) = result`.
struct Syscall {
    name: String,
    line: String,
}

fn syscalls(log: &str) -> Vec<Syscall> {
    log.lines()
        .filter_map(|l| {
            let rest = l.split_once(' ')?.1;
            let name = rest.split('(').next()?;
            (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')).then(
                || Syscall {
                    name: name.to_string(),
                    line: l.to_string(),
                },
            )
        })
        .collect()
}

/// The quoted path arguments of a syscall line.
fn paths(line: &str) -> Vec<&str> {
    line.split('"').skip(1).step_by(2).collect()
}

const FILE_SYSCALLS: [&str; 12] = [
    "open",
    "openat",
    "stat",
    "lstat",
    "newfstatat",
    "statx",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "getdents64",
];

fn is_module_file(p: &str) -> bool {
    [".py", ".pyc", ".so"].iter().any(|s| p.ends_with(s))
}

/// Run `exe` under `qemu -strace` with `PYTHONHOME=home` and nothing else in
/// the environment; the trace goes to its own file (-D), not stderr.
fn qemu_run(
    t: &Target,
    exe: &Path,
    home: &Path,
    args: &[&str],
    log: &Path,
) -> (Output, Vec<Syscall>) {
    let out = Command::new(t.qemu)
        .arg("-strace")
        .arg("-D")
        .arg(log)
        .arg(exe)
        .args(args)
        .env_clear()
        .env("PYTHONHOME", home)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", t.qemu));
    let trace = fs::read_to_string(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    (out, syscalls(&trace))
}

/// Every file (not directory) under `dir`, relative to it.
fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            } else {
                found.insert(e.path().strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found
}

fn check_target(t: &Target) {
    if !can_cross(t) {
        return;
    }
    let exe = cross_build(t);
    let build_py = build_python();

    // A static executable for the target (no INTERP: no dynamic loader, no
    // libc from the target filesystem either).
    let hdr = stdout(Command::new("readelf").arg("-h").arg(&exe));
    assert!(
        hdr.lines()
            .any(|l| l.contains("Machine:") && l.contains(t.elf_machine)),
        "{}: not an {} executable:\n{hdr}",
        exe.display(),
        t.elf_machine
    );
    let phdrs = stdout(Command::new("readelf").arg("-lW").arg(&exe));
    assert!(
        !phdrs.contains("INTERP"),
        "{}: dynamically linked:\n{phdrs}",
        exe.display()
    );

    // The three tables, with the build python's bytecode magic; the stdlib
    // table holds one module per .py file objfreeze read (its depfile).
    let magic: u64 = stdout(Command::new(&build_py).args([
        "-I",
        "-c",
        "import importlib.util as u; print(int.from_bytes(u.MAGIC_NUMBER[:2], 'little'))",
    ]))
    .trim()
    .parse()
    .unwrap();
    let inspect = inspect_json(&exe);
    let tables = inspect["tables"].as_array().unwrap();
    let symbols = table_symbols(&exe);
    assert_eq!(
        symbols,
        [
            "objfreeze_cpython_bootstrap",
            "objfreeze_cpython_test",
            "objfreeze_cpython_stdlib"
        ],
        "{}",
        exe.display()
    );
    for tb in tables {
        assert_eq!(
            tb["python_magic"].as_u64(),
            Some(magic),
            "{}: {tb}",
            exe.display()
        );
        assert_eq!(
            tb["digest_ok"].as_bool(),
            Some(true),
            "{}: {}",
            exe.display(),
            tb["symbol"]
        );
    }
    let by_symbol = |sym: &str| {
        tables
            .iter()
            .find(|t| t["symbol"] == sym)
            .unwrap_or_else(|| panic!("{sym} not in {}", exe.display()))
    };
    let stdlib = by_symbol("objfreeze_cpython_stdlib");
    let names: BTreeSet<&str> = stdlib["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    let depfile = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("src/Python/objfreeze/stdlib.o.d");
    let deps =
        fs::read_to_string(&depfile).unwrap_or_else(|e| panic!("{}: {e}", depfile.display()));
    let sources: BTreeSet<&str> = deps
        .split_whitespace()
        .filter(|w| w.ends_with(".py") && w.contains("/Lib/"))
        .collect();
    assert_eq!(
        names.len(),
        sources.len(),
        "{}: the stdlib table's modules against the .py files in {}",
        exe.display(),
        depfile.display()
    );
    eprintln!(
        "{}: tables bootstrap {} / stdlib {} / test {} modules (magic {magic}); stdlib table {} bytes",
        t.triple,
        by_symbol("objfreeze_cpython_bootstrap")["count"],
        stdlib["count"],
        by_symbol("objfreeze_cpython_test")["count"],
        stdlib["size"]
    );

    // The target's filesystem: the executable and an empty lib/python3.14.
    let tmp = tempdir();
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join(format!("lib/python{MINOR}"))).unwrap();
    fs::create_dir_all(root.join("bin")).unwrap();
    let target_exe = root.join(format!("bin/python{MINOR}"));
    fs::copy(&exe, &target_exe).unwrap();
    assert_eq!(
        files_under(&root),
        BTreeSet::from([format!("bin/python{MINOR}")]),
        "{}: the target tree holds more than the executable",
        root.display()
    );

    // The results, computed by the build python on the build machine.
    let expected = key_values(&stdout(Command::new(&build_py).args(["-I", "-c", SCRIPT])));
    let missing_home = tmp.path().join("no-such-home");
    for (label, home) in [
        ("empty stdlib tree", root.clone()),
        ("home that does not exist", missing_home),
    ] {
        let log = tmp
            .path()
            .join(format!("{}.strace", label.replace(' ', "-")));
        let (out, calls) = qemu_run(t, &target_exe, &home, &["-c", SCRIPT], &log);
        let so = String::from_utf8_lossy(&out.stdout);
        let se = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{} ({label}): {} failed ({}):\n{so}\n{se}\ntrace: {}",
            t.triple,
            target_exe.display(),
            out.status,
            log.display()
        );
        let got = key_values(&so);
        eprintln!(
            "{} ({label}, PYTHONHOME={}):\n{so}",
            t.triple,
            home.display()
        );
        if !se.trim().is_empty() {
            eprintln!("{} ({label}) stderr:\n{se}", t.triple);
        }
        for k in ["json", "asyncio", "decimal", "decimal_impl", "c_json"] {
            assert_eq!(
                got.get(k),
                expected.get(k),
                "{} ({label}): {k} differs from the build python's",
                t.triple
            );
        }
        assert_eq!(
            got["decimal_impl"], "_decimal",
            "{}: the C decimal is built in",
            t.triple
        );
        assert_eq!(
            got["machine"], t.machine,
            "{}: not run as {}",
            t.triple, t.machine
        );
        // The empty tree is still empty: sys.path's existing entries (the
        // empty lib/python3.14) hold nothing the run could have read.
        assert_eq!(
            files_under(&root),
            BTreeSet::from([format!("bin/python{MINOR}")]),
            "{}: files appeared under {}",
            t.triple,
            root.display()
        );
        assert!(
            got["decimal_loader"].contains("FrozenImporter"),
            "{}: {}",
            t.triple,
            got["decimal_loader"]
        );
        assert_eq!(got["json_origin"], "frozen", "{} ({label})", t.triple);
        assert!(
            got["json_file"].ends_with(&format!("lib/python{MINOR}/json/__init__.py")),
            "{}: json.__file__ {}",
            t.triple,
            got["json_file"]
        );
        // Every module came from the interpreter itself: built in or frozen,
        // and each frozen one is in the stdlib or bootstrap table.
        let boot: BTreeSet<&str> = tables[0]["modules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        let mut frozen = 0;
        for entry in got["kinds"].split(' ') {
            let (name, kind) = entry.split_once(':').unwrap();
            match kind {
                "builtin" | "main" => {}
                _ if kind.starts_with("frozen/") => {
                    frozen += 1;
                    let own = &kind["frozen/".len()..];
                    assert!(
                        names.contains(own) || boot.contains(own),
                        "{}: {name} ({own}) frozen but in no table",
                        t.triple
                    );
                }
                _ => panic!("{} ({label}): module {name} loaded from {kind}", t.triple),
            }
        }
        assert!(names.contains("asyncio.base_events") && names.contains("_pydecimal"));

        // The trace: no module file opened or looked at, anywhere.
        let file_calls: Vec<&Syscall> = calls
            .iter()
            .filter(|c| FILE_SYSCALLS.contains(&c.name.as_str()))
            .collect();
        let module_files: Vec<&str> = file_calls
            .iter()
            .filter(|c| paths(&c.line).iter().any(|p| is_module_file(p)))
            .map(|c| c.line.as_str())
            .collect();
        assert!(
            module_files.is_empty(),
            "{} ({label}): module files touched ({}):\n{}",
            t.triple,
            log.display(),
            module_files.join("\n")
        );
        let under_home: Vec<&str> = file_calls
            .iter()
            .filter(|c| {
                paths(&c.line)
                    .iter()
                    .any(|p| p.starts_with(home.to_str().unwrap()))
            })
            .map(|c| c.line.as_str())
            .collect();
        let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
        for c in &calls {
            *by_name.entry(c.name.as_str()).or_default() += 1;
        }
        let mut top: Vec<(&str, usize)> = by_name.into_iter().collect();
        top.sort_by_key(|e| std::cmp::Reverse(e.1));
        eprintln!(
            "{} ({label}): {} modules loaded, {frozen} frozen; {} syscalls, {} on files, 0 on .py/.pyc/.so; \
             {} under PYTHONHOME:\n  {}\n  most frequent: {:?}",
            t.triple,
            got["kinds"].split(' ').count(),
            calls.len(),
            file_calls.len(),
            under_home.len(),
            under_home.join("\n  "),
            &top[..top.len().min(10)]
        );
    }

    // The control: with the frozen stdlib turned off the same executable
    // must look for encodings under the empty home and fail, and the trace
    // must show that search (so the count of 0 above measures something).
    let log = tmp.path().join("frozen-off.strace");
    let (out, calls) = qemu_run(
        t,
        &target_exe,
        &root,
        &["-X", "frozen_modules=off", "-c", "pass"],
        &log,
    );
    let se = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{}: started without its frozen stdlib and no stdlib files",
        t.triple
    );
    assert!(
        se.contains("encodings"),
        "{}: unexpected failure without frozen modules:\n{se}",
        t.triple
    );
    let lib = root.join(format!("lib/python{MINOR}"));
    let searched = calls
        .iter()
        .filter(|c| FILE_SYSCALLS.contains(&c.name.as_str()))
        .filter(|c| {
            paths(&c.line)
                .iter()
                .any(|p| p.starts_with(lib.to_str().unwrap()))
        })
        .count();
    assert!(
        searched > 0,
        "{}: the trace {} shows no search of {}",
        t.triple,
        log.display(),
        lib.display()
    );
    eprintln!(
        "{}: control -X frozen_modules=off fails as it must ({searched} file syscalls under {}): {}",
        t.triple,
        lib.display(),
        se.lines().find(|l| l.contains("encodings")).unwrap_or("")
    );
}

#[test]
fn aarch64_static_python_imports_json_asyncio_decimal_with_no_stdlib_files() {
    check_target(&AARCH64);
}

#[test]
fn riscv64_static_python_imports_json_asyncio_decimal_with_no_stdlib_files() {
    check_target(&RISCV64);
}

/// Deep freezing for a cross target: the layout probe compiled by the
/// aarch64 compiler, the blobs written for aarch64 with no relocations, and
/// under qemu, with no stdlib file, json/asyncio/decimal run from static
/// code objects in the executable, with the results the native build python
/// gives.
#[test]
fn aarch64_deep_frozen_python_runs_static_code() {
    let t = &AARCH64;
    if !can_cross(t) {
        return;
    }
    assert!(t.deep);
    let exe = cross_build(t);
    let objs = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("src/Python/objfreeze");
    for blob in ["stdlib-deep.o", "bootstrap-deep.o"] {
        let o = objs.join(blob);
        let hdr = stdout(Command::new("readelf").arg("-h").arg(&o));
        assert!(hdr.contains(t.elf_machine), "{blob}: {hdr}");
        let rel = stdout(Command::new("readelf").arg("-r").arg(&o));
        assert!(rel.contains("There are no relocations"), "{blob}: {rel}");
    }
    let code = format!(
        "{SCRIPT}\nimport os\nexe = os.path.realpath(sys.executable)\na = id(json.dumps.__code__)\n\
         print('static_code=' + str(any(l.split()[-1] == exe and int(l.split('-')[0], 16) <= a < int(l.split()[0].split('-')[1], 16)\n\
         for l in open('/proc/self/maps') if len(l.split()) > 5)))\n"
    );
    let d = tempdir();
    let home = d.path().join("home");
    fs::create_dir_all(&home).unwrap();
    let (out, _) = qemu_run(t, &exe, &home, &["-c", &code], &d.path().join("trace"));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}\n{}",
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    let got = key_values(&text);
    let native = key_values(&stdout(
        Command::new(build_python()).args(["-I", "-c", SCRIPT]),
    ));
    for k in ["json", "asyncio", "decimal", "decimal_impl", "c_json"] {
        assert_eq!(got.get(k), native.get(k), "{k}");
    }
    assert_eq!(got.get("machine").map(String::as_str), Some(t.machine));
    assert_eq!(
        got.get("static_code").map(String::as_str),
        Some("True"),
        "{text}"
    );
}

/// A second run of the script with nothing changed reuses the build: no
/// configure, no make (the test suite relies on this to be fast).
#[test]
fn second_cross_build_reuses_the_tree() {
    if !can_cross(&AARCH64) {
        return;
    }
    let exe = cross_build(&AARCH64);
    let vdir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let before = fs::metadata(vdir.join("make.log"))
        .unwrap()
        .modified()
        .unwrap();
    let exe_time = fs::metadata(&exe).unwrap().modified().unwrap();
    let again = cross_build(&AARCH64);
    assert_eq!(exe, again);
    assert_eq!(
        fs::metadata(vdir.join("make.log"))
            .unwrap()
            .modified()
            .unwrap(),
        before,
        "make ran again"
    );
    assert_eq!(
        fs::metadata(&exe).unwrap().modified().unwrap(),
        exe_time,
        "{} rewritten",
        exe.display()
    );
}
