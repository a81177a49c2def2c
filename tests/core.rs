//! The core: the C header agrees with the Rust layout, a native program finds
//! every module through the header, builds are deterministic, and extracted
//! `.pyc` files load in the interpreter they came from.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use objfreeze::format::{self, Field};

fn compile_c(cc: &str, lang_cxx: bool, src: &Path, extra: &[&Path], out: &Path) {
    let mut cmd = Command::new(cc);
    if lang_cxx {
        cmd.args(["-x", "c++", "-std=c++11"]);
    } else {
        cmd.arg("-std=c99");
    }
    cmd.args(["-Wall", "-Wextra", "-pedantic", "-Werror", "-O3", "-I"])
        .arg(repo().join("cbindings"))
        .arg(src);
    if lang_cxx {
        cmd.args(["-x", "none"]);
    }
    cmd.args(extra).arg("-o").arg(out);
    run(&mut cmd);
}

fn check_fields(printed: &BTreeMap<(String, String), (usize, usize)>, rec: &str, fields: &[Field]) {
    let n = printed.keys().filter(|(r, _)| r == rec).count();
    assert_eq!(
        n,
        fields.len(),
        "{rec}: C has {n} fields, Rust {}",
        fields.len()
    );
    for f in fields {
        let got = printed.get(&(rec.to_string(), f.name.to_string()));
        assert_eq!(
            got,
            Some(&(f.offset, f.size)),
            "{rec}.{}: C says {got:?}, Rust says ({}, {})",
            f.name,
            f.offset,
            f.size
        );
    }
}

/// The header's structs and constants, as gcc, clang and g++ see them, equal
/// the Rust definition in src/format.rs.
#[test]
fn c_header_layout_matches_rust() {
    let d = tempdir();
    let mut compilers = vec![("gcc", false), ("g++", true)];
    if have("clang") {
        compilers.push(("clang", false));
        compilers.push(("clang++", true));
    }
    for (cc, cxx) in compilers {
        let exe = d.path().join(format!("layout-{cc}"));
        compile_c(cc, cxx, &repo().join("tests/c/layout.c"), &[], &exe);
        let out = stdout(&mut Command::new(&exe));
        let mut fields = BTreeMap::new();
        let mut consts = BTreeMap::new();
        for line in out.lines() {
            let w: Vec<&str> = line.split(' ').collect();
            match w[..] {
                ["sizeof", rec, n] => {
                    consts.insert(format!("sizeof {rec}"), n.parse::<u32>().unwrap());
                }
                ["const", name, v] => {
                    consts.insert(name.to_string(), v.parse::<u32>().unwrap());
                }
                [rec, f, off, size] => {
                    fields.insert(
                        (rec.to_string(), f.to_string()),
                        (off.parse().unwrap(), size.parse().unwrap()),
                    );
                }
                _ => panic!("{cc}: unexpected line {line:?}"),
            }
        }
        check_fields(&fields, "header", format::HEADER_FIELDS);
        check_fields(&fields, "entry", format::ENTRY_FIELDS);
        let expect = [
            ("sizeof header", format::HEADER_SIZE),
            ("sizeof entry", format::ENTRY_SIZE),
            ("VERSION", format::VERSION),
            ("HEADER_SIZE", format::HEADER_SIZE),
            ("ENTRY_SIZE", format::ENTRY_SIZE),
            ("ALIGN", format::ALIGN),
            ("FLAG_PACKAGE", format::FLAG_PACKAGE),
            ("FLAG_ALIAS", format::FLAG_ALIAS),
            ("FLAG_DATA", format::FLAG_DATA),
            ("TAG_NONE", format::TagKind::None.code()),
            ("TAG_CPYTHON", format::TagKind::Cpython.code()),
            ("TAG_LUA", format::TagKind::Lua.code()),
        ];
        for (k, v) in expect {
            assert_eq!(consts.get(k), Some(&v), "{cc}: {k}");
        }
        assert_eq!(
            consts.len(),
            expect.len(),
            "{cc}: unexpected constants {consts:?}"
        );
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    /// `-m/-p NAME=FILE` arguments.
    args: Vec<String>,
    python: PathBuf,
}

fn fixture(n: usize) -> Option<Fixture> {
    let python = need_python("3.11")?;
    let d = tempdir();
    let dir = d.path().to_path_buf();
    let args = stdlib_pycs(&python, &dir, n);
    Some(Fixture {
        _dir: d,
        dir,
        args,
        python,
    })
}

fn pairs(args: &[String]) -> Vec<(String, PathBuf, bool)> {
    args.chunks(2)
        .map(|c| {
            let (n, f) = c[1].split_once('=').unwrap();
            (n.to_string(), PathBuf::from(f), c[0] == "-p")
        })
        .collect()
}

fn fnv1a(b: &[u8]) -> u32 {
    b.iter()
        .fold(2166136261u32, |h, &x| (h ^ x as u32).wrapping_mul(16777619))
}

/// gcc links the object with a C program that uses only the header; it finds
/// every module with the right size and bytes, and misses what is absent.
#[test]
fn native_program_finds_every_module() {
    let Some(fx) = fixture(40) else { return };
    let obj = fx.dir.join("table.o");
    run(objfreeze().arg("build").arg("-o").arg(&obj).args(&fx.args));
    let exe = fx.dir.join("lookup");
    compile_c(
        "gcc",
        false,
        &repo().join("tests/c/native_lookup.c"),
        &[&obj],
        &exe,
    );
    // At -O3 gcc sees a declared table as one header; the header must keep
    // -Warray-bounds quiet about reading past it (a regression seen once).
    let src = repo().join("tests/c/native_lookup.c");
    compile_c("g++", true, &src, &[&obj], &fx.dir.join("lookup-cxx"));
    if have("clang") {
        compile_c("clang", false, &src, &[&obj], &fx.dir.join("lookup-clang"));
    }
    let probes = [
        "",
        "no_such_module",
        "json.a",
        "json.decoder.x",
        "zzzz",
        "JSON",
        " json",
    ];
    let out = stdout(Command::new(&exe).args(probes));

    let mut expect: Vec<(String, String)> = pairs(&fx.args)
        .into_iter()
        .map(|(name, file, pkg)| {
            let bytes = std::fs::read(&file).unwrap();
            let code = &bytes[16..];
            let line = format!("{name} {} {} {:08x}", code.len(), pkg as i32, fnv1a(code));
            (name, line)
        })
        .collect();
    expect.sort();
    let mut lines: Vec<&str> = out.lines().collect();
    let misses = lines.split_off(expect.len());
    assert!(expect.len() >= 32, "a real fixture has 30+ modules");
    for ((_, want), got) in expect.iter().zip(&lines) {
        assert_eq!(want, got);
    }
    assert_eq!(misses.len(), probes.len(), "{out}");
    for m in misses {
        assert!(
            m.ends_with(" null"),
            "a probe that must miss was found: {m}"
        );
    }
}

fn build_bytes(args: &[String], target: &str, cwd: &Path, out: &Path) -> Vec<u8> {
    run(objfreeze()
        .current_dir(cwd)
        .arg("build")
        .arg("--target")
        .arg(target)
        .arg("-o")
        .arg(out)
        .args(args));
    std::fs::read(out).unwrap()
}

/// The same inputs in any order, from any directory, give identical objects.
#[test]
fn builds_are_deterministic() {
    let Some(fx) = fixture(30) else { return };
    let mut chunks: Vec<Vec<String>> = fx.args.chunks(2).map(|c| c.to_vec()).collect();
    let forward: Vec<String> = chunks.concat();
    // A fixed shuffle: reverse, then interleave halves.
    chunks.reverse();
    let (a, b) = chunks.split_at(chunks.len() / 2);
    let mut shuffled = Vec::new();
    for i in 0..a.len().max(b.len()) {
        for half in [b, a] {
            if let Some(c) = half.get(i) {
                shuffled.extend(c.iter().cloned());
            }
        }
    }
    assert_ne!(forward, shuffled);
    let other_cwd = tempdir();
    for target in [
        "x86_64-unknown-linux-gnu",
        "s390x-unknown-linux-gnu",
        "aarch64-apple-darwin",
        "x86_64-pc-windows-msvc",
    ] {
        let one = build_bytes(&forward, target, &fx.dir, &fx.dir.join("one.o"));
        let two = build_bytes(&shuffled, target, other_cwd.path(), &fx.dir.join("two.o"));
        assert!(one == two, "{target}: shuffled inputs changed the object");
    }
}

/// `extract --pyc` gives files the interpreter imports, holding the same code.
#[test]
fn extracted_pyc_files_load() {
    let Some(fx) = fixture(35) else { return };
    let obj = fx.dir.join("t.o");
    run(objfreeze().arg("build").arg("-o").arg(&obj).args(&fx.args));
    let out = fx.dir.join("extracted");
    run(objfreeze()
        .arg("extract")
        .arg(&obj)
        .arg("-o")
        .arg(&out)
        .arg("--pyc"));
    let mut checks = String::new();
    for (name, file, pkg) in pairs(&fx.args) {
        let rel = name.replace('.', "/");
        let p = if pkg {
            out.join(rel).join("__init__.pyc")
        } else {
            out.join(format!("{rel}.pyc"))
        };
        checks.push_str(&format!(
            "check({:?}, {:?})\n",
            p.to_str().unwrap(),
            file.to_str().unwrap()
        ));
    }
    let script = format!(
        r#"
import marshal, sys, importlib.util
def check(extracted, original):
    e = open(extracted, "rb").read(); o = open(original, "rb").read()
    assert e[:4] == importlib.util.MAGIC_NUMBER, extracted
    assert marshal.loads(e[16:]) == marshal.loads(o[16:]), extracted
{checks}
sys.path.insert(0, {out:?})
import json.decoder
assert json.decoder.__file__.startswith({out:?}), json.decoder.__file__
print("ok", json.decoder.JSONDecoder().decode('[1, 2]'))
"#,
        out = out.to_str().unwrap()
    );
    let s = stdout(Command::new(&fx.python).args(["-I", "-S", "-c", &script]));
    assert_eq!(s.trim(), "ok [1, 2]");

    // One module only, raw.
    let raw = fx.dir.join("raw");
    run(objfreeze()
        .arg("extract")
        .arg(&obj)
        .arg("-o")
        .arg(&raw)
        .args(["--module", "json.decoder"]));
    let files: Vec<_> = walk(&raw);
    assert_eq!(files, vec![raw.join("json/decoder.bin")]);
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(d).unwrap().flatten() {
        if e.path().is_dir() {
            v.extend(walk(&e.path()));
        } else {
            v.push(e.path());
        }
    }
    v.sort();
    v
}

/// inspect --json lists every module; verify passes, and fails once a byte
/// of bytecode is changed.
#[test]
fn inspect_and_verify() {
    let Some(fx) = fixture(30) else { return };
    let obj = fx.dir.join("t.o");
    run(objfreeze().arg("build").arg("-o").arg(&obj).args(&fx.args));
    let j = inspect_json(&obj);
    let t = &j["tables"][0];
    assert_eq!(j["tables"].as_array().unwrap().len(), 1);
    assert_eq!(t["symbol"], "objfreeze_modules");
    assert_eq!(t["section"], "objfreeze");
    assert_eq!(t["python_version"], "3.11");
    assert_eq!(t["digest_ok"], true);
    let names: Vec<&str> = t["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    let mut want: Vec<String> = pairs(&fx.args).into_iter().map(|p| p.0).collect();
    want.sort();
    assert_eq!(names, want);
    run(objfreeze().arg("verify").arg(&obj));

    // Corrupt one byte inside the last module's bytecode.
    let mut bytes = std::fs::read(&obj).unwrap();
    let at = bytes.windows(8).position(|w| w == format::MAGIC).unwrap();
    let last = t["modules"].as_array().unwrap().last().unwrap();
    let off = at + last["offset"].as_u64().unwrap() as usize + 3;
    bytes[off] ^= 0x40;
    let bad = fx.dir.join("bad.o");
    std::fs::write(&bad, &bytes).unwrap();
    let out = objfreeze().arg("verify").arg(&bad).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("digest mismatch"));
}

/// The deep-frozen blob's records and constants, as gcc and clang see
/// cbindings/cpython/fork/objfreeze_deep.h, equal src/cpython/deep/format.rs.
#[test]
fn deep_header_layout_matches_rust() {
    use objfreeze::cpython::deep::format as deep;
    let d = tempdir();
    let mut compilers = vec!["gcc"];
    if have("clang") {
        compilers.push("clang");
    }
    let include = PathBuf::from(format!(
        "-I{}",
        repo().join("cbindings/cpython/fork").display()
    ));
    for cc in compilers {
        let exe = d.path().join(format!("deep-layout-{cc}"));
        compile_c(
            cc,
            false,
            &repo().join("tests/c/deep_layout.c"),
            &[&include],
            &exe,
        );
        let out = stdout(&mut Command::new(&exe));
        let mut printed = BTreeMap::new();
        let mut lines = Vec::new();
        for line in out.lines() {
            let w: Vec<&str> = line.split(' ').collect();
            match w[..] {
                [rec, f, off, size] if !["sizeof"].contains(&rec) => {
                    printed.insert(
                        (rec.to_string(), f.to_string()),
                        (
                            off.parse::<usize>().unwrap(),
                            size.parse::<usize>().unwrap(),
                        ),
                    );
                }
                _ => lines.push(line.to_string()),
            }
        }
        // Every u32 field where the Rust word list puts it, then the digest.
        let words = |rec: &str, names: &[&str], start: usize| {
            for (i, n) in names.iter().enumerate() {
                assert_eq!(
                    printed.get(&(rec.to_string(), n.to_string())),
                    Some(&(start + 4 * i, 4)),
                    "{cc}: {rec}.{n}"
                );
            }
        };
        words("header", deep::HEADER_WORDS, 8);
        words("module", deep::MODULE_WORDS, 0);
        words("fixup", deep::FIXUP_WORDS, 0);
        assert_eq!(printed[&("header".into(), "magic".into())], (0, 8));
        assert_eq!(
            printed[&("header".into(), "table_digest".into())],
            (deep::DIGEST_AT, 32)
        );
        assert_eq!(
            printed.len(),
            deep::HEADER_WORDS.len() + 2 + deep::MODULE_WORDS.len() + deep::FIXUP_WORDS.len()
        );
        let mut want = vec![
            format!("sizeof header {}", deep::HEADER_SIZE),
            format!("sizeof module {}", deep::MODULE_SIZE),
            format!("sizeof fixup {}", deep::FIXUP_SIZE),
            format!("magic {}", String::from_utf8_lossy(&deep::MAGIC[..7])),
            format!("const VERSION {}", deep::VERSION),
            format!("const KIND_MASK {}", deep::OBJECT_ALIGN - 1),
        ];
        want.extend(
            deep::KINDS
                .iter()
                .map(|(n, k)| format!("kind {n} {}", *k as u32)),
        );
        want.extend(deep::STATES.iter().map(|(n, v)| format!("state {n} {v}")));
        want.extend(
            deep::EXTERNS
                .iter()
                .enumerate()
                .map(|(i, s)| format!("extern {i} {s}")),
        );
        want.push(format!("externs {}", deep::EXTERNS.len()));
        assert_eq!(lines, want, "{cc}");
    }
}

/// The deep layout's import scan (what a module's first import reads with
/// it), on bytecode real interpreters wrote: every form of import at the top
/// level, one inside a function (left out), one of a module that does not
/// exist, and one whose name index needs EXTENDED_ARG.
#[test]
fn deep_import_scan_reads_real_bytecode() {
    use objfreeze::cpython::{deep::order, marshal};
    const SCRIPT: &str = r#"
import dis, marshal, sys
src = """
import os.path
from . import sibling
from .sub import thing
from email import parser, nothere
import json as j
def f():
    import csv
try:
    import missing_mod
except ImportError:
    pass
""" + "".join(f"v{i} = {i}\n" for i in range(300)) + "import zipfile\n"
m = dis.opmap
print(m["IMPORT_NAME"], m["IMPORT_FROM"], m["EXTENDED_ARG"], m["CACHE"])
print(marshal.dumps(compile(src, "pkg/mod.py", "exec")).hex())
"#;
    // Every module the scan may name; all but csv (imported in a function)
    // are found, in bytecode order.
    let found_all = [
        "os",
        "os.path",
        "pkg",
        "pkg.sibling",
        "pkg.sub",
        "email",
        "email.parser",
        "json",
        "zipfile",
    ];
    let known = |n: &str| n == "csv" || found_all.contains(&n);
    for minor in ["3.12", "3.13"] {
        let Some(py) = need_python(minor) else {
            continue;
        };
        let out = stdout(Command::new(&py).args(["-c", SCRIPT]));
        let mut lines = out.lines();
        let ops: Vec<u8> = lines
            .next()
            .unwrap()
            .split(' ')
            .map(|v| v.parse().unwrap())
            .collect();
        let hex = lines.next().unwrap();
        let data: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let g = marshal::read(&data).unwrap();
        let ops = order::Ops {
            import_name: ops[0],
            import_from: ops[1],
            extended_arg: ops[2],
            cache: ops[3],
        };
        let found = order::imports(&g, &ops, "pkg.mod", false, known);
        assert_eq!(found, found_all, "{minor}");
    }
}
