//! Reproducible output: the same inputs give byte-identical objects across
//! runs, input orders, working directories, output names, input mtimes,
//! PYTHONHASHSEED values, SOURCE_DATE_EPOCH set or not, worker counts, and a
//! cold or warm compile cache, for every target.

mod common;

use std::path::{Path, PathBuf};

use objfreeze::cpython::pyc::to_pyc;
use objfreeze::target::SUPPORTED;

const MAGIC_311: u32 = 0x0a0d_0da7;

/// One way of running the same build.
struct Variant {
    what: &'static str,
    cwd: PathBuf,
    /// Module arguments, as they are spelled from `cwd`.
    args: Vec<String>,
    env: Vec<(&'static str, &'static str)>,
}

/// Run `objfreeze build ARGS -o OUT` in `cwd` with `env` (and every
/// variable we vary removed unless set), returning the object's bytes.
fn build(v: &Variant, extra: &[&str], out: &Path) -> Vec<u8> {
    let mut c = common::objfreeze();
    c.current_dir(&v.cwd)
        .env_remove("PYTHONHASHSEED")
        .env_remove("SOURCE_DATE_EPOCH")
        .envs(v.env.iter().copied())
        .arg("build")
        .args(extra)
        .args(&v.args)
        .arg("-o")
        .arg(out);
    common::run(&mut c);
    std::fs::read(out).unwrap()
}

fn set_mtime(p: &Path, secs: u64) {
    let f = std::fs::File::options().write(true).open(p).unwrap();
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .unwrap();
}

/// Every variant of one build must give the bytes of the first.
fn check_all(label: &str, variants: &[Variant], extra: &[&str], outdir: &Path) -> usize {
    let base = build(&variants[0], extra, &outdir.join("base.o"));
    for (i, v) in variants.iter().enumerate().skip(1) {
        let out = outdir.join(format!("variant{i}.o"));
        let got = build(v, extra, &out);
        assert!(
            got == base,
            "{label}: `{}` changed the object ({} vs {} bytes)",
            v.what,
            got.len(),
            base.len()
        );
    }
    variants.len()
}

/// Module arguments for inputs named relative to `root`, spelled from `cwd`.
fn spell(mods: &[(&str, &str, &str)], prefix: &str) -> Vec<String> {
    mods.iter()
        .flat_map(|(flag, name, file)| [flag.to_string(), format!("{name}={prefix}{file}")])
        .collect()
}

fn variants(root: &Path, mods: &[(&str, &str, &str)]) -> Vec<Variant> {
    let rev: Vec<_> = mods.iter().rev().copied().collect();
    let mut shuffled = mods.to_vec();
    shuffled.rotate_left(mods.len() / 2);
    let abs = format!("{}/", root.join("in").display());
    let v = |what, cwd: PathBuf, args, env: &[(&'static str, &'static str)]| Variant {
        what,
        cwd,
        args,
        env: env.to_vec(),
    };
    vec![
        v("baseline", root.to_path_buf(), spell(mods, "in/"), &[]),
        v("second run", root.to_path_buf(), spell(mods, "in/"), &[]),
        v(
            "reversed order",
            root.to_path_buf(),
            spell(&rev, "in/"),
            &[],
        ),
        v(
            "rotated order",
            root.to_path_buf(),
            spell(&shuffled, "in/"),
            &[],
        ),
        v("cwd = input dir", root.join("in"), spell(mods, ""), &[]),
        v(
            "cwd = sub dir, ../ paths",
            root.join("sub"),
            spell(mods, "../in/"),
            &[],
        ),
        v(
            "cwd = /, absolute paths",
            PathBuf::from("/"),
            spell(mods, &abs),
            &[],
        ),
        v(
            "PYTHONHASHSEED=0",
            root.to_path_buf(),
            spell(mods, "in/"),
            &[("PYTHONHASHSEED", "0")],
        ),
        v(
            "PYTHONHASHSEED=1",
            root.to_path_buf(),
            spell(mods, "in/"),
            &[("PYTHONHASHSEED", "1")],
        ),
        v(
            "PYTHONHASHSEED=4294967295",
            root.to_path_buf(),
            spell(mods, "in/"),
            &[("PYTHONHASHSEED", "4294967295")],
        ),
        v(
            "PYTHONHASHSEED=random",
            root.to_path_buf(),
            spell(mods, "in/"),
            &[("PYTHONHASHSEED", "random")],
        ),
        v(
            "SOURCE_DATE_EPOCH=0",
            root.to_path_buf(),
            spell(mods, "in/"),
            &[("SOURCE_DATE_EPOCH", "0")],
        ),
        v(
            "SOURCE_DATE_EPOCH=1700000000",
            root.to_path_buf(),
            spell(mods, "in/"),
            &[("SOURCE_DATE_EPOCH", "1700000000")],
        ),
        v(
            "TZ and locale",
            root.to_path_buf(),
            spell(mods, "in/"),
            &[("TZ", "Asia/Kolkata"), ("LC_ALL", "C.UTF-8")],
        ),
    ]
}

/// .pyc and raw inputs, every target.
#[test]
fn bytecode_inputs_are_reproducible() {
    let d = common::tempdir();
    let root = d.path();
    for sub in ["in", "sub", "out"] {
        std::fs::create_dir(root.join(sub)).unwrap();
    }
    let files = [
        ("a.pyc", &b"\xe3module a"[..]),
        ("p.pyc", b"\xe3package p"),
        ("p_s.pyc", b"\xe3p.s"),
        ("p_t.pyc", b"\xe3p.s"), // same bytecode as p.s: stored once
        ("z.pyc", b"\xe3z"),
    ];
    for (f, code) in files {
        std::fs::write(root.join("in").join(f), to_pyc(MAGIC_311, code)).unwrap();
    }
    let mods = [
        ("-m", "a", "a.pyc"),
        ("-p", "p", "p.pyc"),
        ("-m", "p.s", "p_s.pyc"),
        ("-m", "p.t", "p_t.pyc"),
        ("-m", "z", "z.pyc"),
    ];
    let mut vs = variants(root, &mods);
    let mut n = 0;
    for t in SUPPORTED {
        n += check_all(
            t,
            &vs[..3],
            &["--target", t, "--alias", "q=a"],
            &root.join("out"),
        );
    }
    // The whole matrix on the host target, then again after the inputs'
    // mtimes change (a .pyc's recorded mtime is header, not bytecode).
    n += check_all("host", &vs, &["--alias", "q=a"], &root.join("out"));
    for (f, _) in files {
        set_mtime(&root.join("in").join(f), 86_400);
    }
    vs.truncate(2);
    n += check_all(
        "host, inputs touched",
        &vs,
        &["--alias", "q=a"],
        &root.join("out"),
    );
    println!(
        "{n} builds of .pyc inputs byte-identical ({} targets)",
        SUPPORTED.len()
    );
}

/// Python sources compiled by objfreeze: up to 3.10, set constants are
/// marshalled in hash order, so this is where PYTHONHASHSEED could leak in;
/// paths are recorded as co_filename, so this is where the working directory
/// could.
#[test]
fn python_sources_are_reproducible() {
    for minor in ["3.10", "3.11"] {
        if let Some(py) = common::need_python(minor) {
            python_sources(minor, &py);
        }
    }
}

fn python_sources(minor: &str, py: &Path) {
    let d = common::tempdir();
    let root = d.path();
    for sub in ["in/pkg", "sub", "out", "cache"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    let src = |f: &str, text: &str| std::fs::write(root.join("in").join(f), text).unwrap();
    src(
        "pkg/__init__.py",
        "WORDS = {'alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'}\n\
         def f(x):\n    return x in {'one', 'two', 'three', 'four', 'five'}\n",
    );
    src(
        "pkg/m.py",
        "import sys\nS = frozenset(['q', 'r', 's', 't'])\n\
         def g(k):\n    return {'a': 1, 'b': 2}.get(k, k in {'x', 'y', 'z'})\n\
         class C:\n    \"\"\"doc\"\"\"\n    def h(self):\n        return 'interned_name_' + __name__\n",
    );
    for i in 0..12 {
        src(
            &format!("mod{i}.py"),
            &format!(
                "K{i} = {{'k{i}a', 'k{i}b', 'k{i}c'}}\nimport pkg\nV = pkg.f('one') and {i}\n"
            ),
        );
    }
    let mut mods: Vec<(&str, String, String)> = vec![
        ("-p", "pkg".into(), "pkg/__init__.py".into()),
        ("-m", "pkg.m".into(), "pkg/m.py".into()),
    ];
    for i in 0..12 {
        mods.push(("-m", format!("mod{i}"), format!("mod{i}.py")));
    }
    let mods_ref: Vec<(&str, &str, &str)> = mods
        .iter()
        .map(|(f, n, p)| (*f, n.as_str(), p.as_str()))
        .collect();
    let vs = variants(root, &mods_ref);
    // co_filename records the source's absolute path: map the project's
    // directory, as a reproducible build does.
    let map = format!("--prefix-map={}=/src", root.join("in").display());
    let py = py.display().to_string();
    let mut n = check_all(
        &format!("{minor} -j1"),
        &vs,
        &["--no-cache", "-j", "1", "--python", &py, &map],
        &root.join("out"),
    );
    // Worker counts split the modules differently between processes.
    n += check_all(
        &format!("{minor} -j3"),
        &vs[..3],
        &["--no-cache", "-j", "3", "--python", &py, &map],
        &root.join("out"),
    );
    // Cold cache, then warm cache, must match the uncached build.
    let base = build(
        &vs[0],
        &["--no-cache", "--python", &py, &map],
        &root.join("out/nocache.o"),
    );
    let cache = format!("--cache-dir={}", root.join("cache").display());
    for run in ["cold cache", "warm cache"] {
        let got = build(
            &vs[0],
            &[&cache, "--python", &py, &map],
            &root.join("out/cached.o"),
        );
        assert!(got == base, "{run} changed the object");
        n += 1;
    }
    // The same project copied elsewhere, built with its own prefix map.
    let copy = root.join("elsewhere/deeper");
    std::fs::create_dir_all(copy.join("in/pkg")).unwrap();
    for (_, _, f) in &mods_ref {
        std::fs::copy(root.join("in").join(f), copy.join("in").join(f)).unwrap();
    }
    let v = Variant {
        what: "project copied to another directory",
        cwd: copy.clone(),
        args: spell(&mods_ref, "in/"),
        env: vec![],
    };
    let map2 = format!("--prefix-map={}=/src", copy.join("in").display());
    let got = build(
        &v,
        &["--no-cache", "--python", &py, &map2],
        &root.join("out/copy.o"),
    );
    assert!(got == base, "a copy of the project built elsewhere differs");
    n += 1;
    println!("{n} builds compiling Python sources with CPython {minor} byte-identical");
}
