//! make/objfreeze.m4 in CPython 3.14.7's real configure.ac.
//!
//! scripts/cpython-configure-tree.sh prepares the tree once per tarball
//! digest (the macro and `OBJFREEZE_CHECK` after --enable-optimizations,
//! AC_PREREQ lowered to Debian 12's autoconf 2.71, the Makefile.pre.in block
//! after LIBRARY_OBJS, `autoconf -I make/`). Every configure run here is out
//! of tree (`mkdir b && ../src/configure`), so that one clean source serves
//! them all; they check what the generated Makefile substitutes. One PGO
//! build (`--enable-optimizations`, CPython's profile-opt) then runs end to
//! end, cached by the same script; the first run takes tens of minutes on
//! two cores, later runs seconds.
//!
//! The `--with-objfreeze=PATH` forms that do not need a real tree (relative
//! path, program name, errors) run against the toy tests/autoconf/configure.ac,
//! whose configure takes a second.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// Where the tarball is, as scripts/cpython-build.sh looks for it.
fn tarball() -> PathBuf {
    repo().join("../shared/cpython-src/Python-3.14.7.tar.xz")
}

/// Tools and the tarball the real-tree tests need: skip with a reason, or
/// fail on CI.
fn can_configure() -> bool {
    if !have_all(&["autoconf", "gcc", "make", "xz", "flock"]) {
        return false;
    }
    let t = tarball();
    if !t.is_file() {
        let why = format!("{}: CPython 3.14.7 tarball not found", t.display());
        if on_ci() {
            panic!("required on CI (CI=true): {why}");
        }
        eprintln!("SKIP: {why}");
        return false;
    }
    true
}

fn script(mode: &str) -> PathBuf {
    let out = run(
        Command::new(repo().join("scripts/cpython-configure-tree.sh"))
            .arg(mode)
            .arg(tarball())
            .env("OBJFREEZE", env!("CARGO_BIN_EXE_objfreeze")),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(text.lines().last().expect("a path on stdout").trim())
}

/// A PATH with the usual system directories only: no objfreeze on it
/// (checked, so a system-wide install cannot make "absent" cases pass or
/// fail by accident).
fn path_without_tool() -> String {
    let p = "/usr/local/bin:/usr/bin:/bin";
    for d in p.split(':') {
        assert!(
            !Path::new(d).join("objfreeze").exists(),
            "{d}/objfreeze exists: the tool-absent cases need a PATH without it"
        );
    }
    p.to_string()
}

/// A directory holding `name` as a symlink to the tool cargo built (an
/// installed tool would be reached the same way); the macro must follow it
/// back to this tree's make/.
fn tool_dir(dir: &Path, name: &str) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_objfreeze"), bin.join(name)).unwrap();
    bin
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
}

/// The objfreeze variables as the generated Makefile holds them.
#[derive(Debug, PartialEq, Clone)]
struct Subst {
    with: String,
    tool: String,
    mk: String,
    target: String,
}

fn makefile_subst(makefile: &str) -> Subst {
    let var = |name: &str| {
        let mut found = makefile.lines().filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim_end() == name && !k.contains(' ')).then(|| v.trim().to_string())
        });
        let v = found
            .next()
            .unwrap_or_else(|| panic!("{name} not in the generated Makefile"));
        assert!(found.next().is_none(), "{name} assigned twice");
        v
    };
    Subst {
        with: var("WITH_OBJFREEZE"),
        tool: var("OBJFREEZE"),
        mk: var("OBJFREEZE_MK"),
        target: var("OBJFREEZE_TARGET"),
    }
}

fn make(d: &Path) -> Command {
    let mut c = Command::new("make");
    c.current_dir(d)
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL");
    c
}

/// LIBRARY_OBJS as make expands it from the generated Makefile: with
/// objfreeze on, cpython.mk was included and swapped Python/frozen.o out.
fn library_objs(build: &Path) -> Vec<String> {
    let printer = build.join("print-objfreeze.mk");
    std::fs::write(&printer, "print-%: ; @echo $($*)\n").unwrap();
    let out = stdout(
        make(build)
            .args(["-s", "-o", "Makefile", "-f", "Makefile", "-f"])
            .arg(&printer)
            .arg("print-LIBRARY_OBJS"),
    );
    out.split_whitespace().map(str::to_string).collect()
}

struct Case {
    name: &'static str,
    args: Vec<String>,
    path: String,
}

struct Ran {
    ok: bool,
    output: String,
    build: PathBuf,
    seconds: f64,
}

fn configure(src: &Path, top: &Path, case: &Case) -> Ran {
    let build = top.join(case.name);
    std::fs::create_dir_all(&build).unwrap();
    let t = std::time::Instant::now();
    let o = Command::new(src.join("configure"))
        .args(&case.args)
        .env("PATH", &case.path)
        .env_remove("OBJFREEZE")
        .env_remove("OBJFREEZE_MAKEDIR")
        .env_remove("CONFIG_SITE")
        .current_dir(&build)
        .output()
        .unwrap();
    Ran {
        ok: o.status.success(),
        output: text(&o),
        build,
        seconds: t.elapsed().as_secs_f64(),
    }
}

#[test]
fn real_configure_ac_with_objfreeze_switch() {
    if !can_configure() {
        return;
    }
    let src = script("tree");
    let help = stdout(Command::new(src.join("configure")).arg("--help"));
    assert!(
        help.contains("--with-objfreeze[=yes|no|auto|PATH]"),
        "configure --help does not offer the option:\n{help}"
    );
    let dir = tempdir();
    let bin = tool_dir(dir.path(), "objfreeze");
    let without = path_without_tool();
    let with_tool = format!("{}:{without}", bin.display());
    let exe = env!("CARGO_BIN_EXE_objfreeze");
    let mk = repo().join("make/cpython.mk").canonicalize().unwrap();
    let mk = mk.display().to_string();
    let case = |name, args: &[&str], path: &str| Case {
        name,
        args: args.iter().map(|s| s.to_string()).collect(),
        path: path.to_string(),
    };
    let cases = [
        case("opt-tool", &["--enable-optimizations"], &with_tool),
        case(
            "opt-no",
            &["--enable-optimizations", "--with-objfreeze=no"],
            &with_tool,
        ),
        case("path", &[&format!("--with-objfreeze={exe}")], &without),
        case("plain", &[], &with_tool),
        case("yes-absent", &["--with-objfreeze=yes"], &without),
        case("opt-absent", &["--enable-optimizations"], &without),
    ];

    // Two at a time: each configure takes most of a minute on this machine.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(c) = cases.get(i) else { break };
                let r = configure(&src, dir.path(), c);
                results.lock().unwrap().push((i, r));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);

    let on = |tool: &str| Subst {
        with: "yes".into(),
        tool: tool.into(),
        mk: mk.clone(),
        target: String::new(),
    };
    let off = Subst {
        with: "no".into(),
        tool: String::new(),
        mk: String::new(),
        target: String::new(),
    };
    let linked_tool = bin.join("objfreeze").display().to_string();
    for (i, r) in &results {
        let c = &cases[*i];
        let what = format!("configure {:?} ({}, {:.0} s)", c.args, c.name, r.seconds);
        let decided = r
            .output
            .lines()
            .filter(|l| l.contains("objfreeze"))
            .collect::<Vec<_>>()
            .join("\n");
        if c.name == "yes-absent" {
            assert!(!r.ok, "{what}: should fail without the tool:\n{decided}");
            assert!(
                r.output.contains(
                    "configure: error: --with-objfreeze=yes: objfreeze was not found on PATH"
                ),
                "{what}: no clear message:\n{}",
                r.output
            );
            eprintln!("{what}: failed as it should:\n{decided}");
            continue;
        }
        assert!(r.ok, "{what} failed:\n{}", r.output);
        let makefile = std::fs::read_to_string(r.build.join("Makefile")).unwrap();
        let got = makefile_subst(&makefile);
        let want = match c.name {
            "opt-tool" => on(&linked_tool),
            "path" => on(exe),
            "opt-no" | "plain" | "opt-absent" => off.clone(),
            other => unreachable!("{other}"),
        };
        assert_eq!(got, want, "{what}:\n{decided}");
        // The switch only decides objfreeze: --enable-optimizations still
        // selects CPython's PGO build in every case that gave it.
        let pgo = makefile
            .lines()
            .any(|l| l.starts_with("all:") && l.split_whitespace().nth(1) == Some("profile-opt"));
        assert_eq!(
            pgo,
            c.args.iter().any(|a| a == "--enable-optimizations"),
            "{what}: the default make target does not follow --enable-optimizations"
        );
        let objs = library_objs(&r.build);
        let has = |o: &str| objs.iter().any(|x| x == o);
        if got.with == "yes" {
            assert!(
                has("Python/objfreeze/frozen.o") && !has("Python/frozen.o"),
                "{what}: cpython.mk not included: LIBRARY_OBJS = {objs:?}"
            );
        } else {
            assert!(
                has("Python/frozen.o") && !objs.iter().any(|o| o.contains("objfreeze")),
                "{what}: LIBRARY_OBJS = {objs:?}"
            );
        }
        if c.name == "opt-absent" {
            assert!(
                r.output
                    .contains("not using objfreeze: objfreeze was not found on PATH"),
                "{what}: no notice why objfreeze is off:\n{decided}"
            );
        }
        eprintln!("{what}: {got:?}\n{decided}");
    }
}

/// The toy configure (tests/autoconf) built with the macro; returns its dir.
fn toy_configure(dir: &Path) -> PathBuf {
    let d = dir.join("toy");
    std::fs::create_dir_all(&d).unwrap();
    for f in ["configure.ac", "vars.mk.in"] {
        std::fs::copy(repo().join("tests/autoconf").join(f), d.join(f)).unwrap();
    }
    run(Command::new("autoconf")
        .arg("-I")
        .arg(repo().join("make"))
        .args(["-o", "configure", "configure.ac"])
        .current_dir(&d));
    d
}

/// (exit ok, vars.mk or configure's output) for one toy run from `cwd`.
fn toy(d: &Path, cwd: &Path, path: &str, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let _ = std::fs::remove_file(cwd.join("vars.mk"));
    let o = Command::new(d.join("configure"))
        .args(args)
        .env("PATH", path)
        .env_remove("OBJFREEZE")
        .env_remove("OBJFREEZE_MAKEDIR")
        .envs(env.iter().copied())
        .current_dir(cwd)
        .output()
        .unwrap();
    if o.status.success() {
        (true, std::fs::read_to_string(cwd.join("vars.mk")).unwrap())
    } else {
        (false, text(&o))
    }
}

#[test]
fn with_objfreeze_path_forms() {
    if !have("autoconf") {
        return;
    }
    let dir = tempdir();
    let d = toy_configure(dir.path());
    let without = path_without_tool();
    let bin = tool_dir(dir.path(), "objfreeze-dev");
    let with_named = format!("{}:{without}", bin.display());
    let mk = repo().join("make/cpython.mk").canonicalize().unwrap();
    let yes = |tool: &Path| {
        format!(
            "WITH_OBJFREEZE=yes\nOBJFREEZE={}\nOBJFREEZE_MK={}\nOBJFREEZE_TARGET=\n",
            tool.display(),
            mk.display()
        )
    };
    let exe = Path::new(env!("CARGO_BIN_EXE_objfreeze"));

    // Absolute path, tool on no PATH.
    let arg = format!("--with-objfreeze={}", exe.display());
    assert_eq!(toy(&d, &d, &without, &[&arg], &[]), (true, yes(exe)));
    // The option names the tool even when OBJFREEZE says otherwise.
    assert_eq!(
        toy(&d, &d, &without, &[&arg], &[("OBJFREEZE", "/bin/false")]),
        (true, yes(exe))
    );
    // A relative path is taken from the directory configure runs in and
    // substituted absolute (make runs from the build directory). A build
    // dir beside the toy source: ../bin/objfreeze-dev from dir/b.
    let b = dir.path().join("b");
    std::fs::create_dir_all(&b).unwrap();
    assert_eq!(
        toy(
            &d,
            &b,
            &without,
            &["--with-objfreeze=../bin/objfreeze-dev"],
            &[]
        ),
        (true, yes(&b.join("../bin/objfreeze-dev")))
    );
    // A program name, found on PATH.
    assert_eq!(
        toy(
            &d,
            &d,
            &with_named,
            &["--with-objfreeze=objfreeze-dev"],
            &[]
        ),
        (true, yes(&bin.join("objfreeze-dev")))
    );
    // Named but missing, or not running: configure fails and says why.
    let (ok, out) = toy(&d, &d, &without, &["--with-objfreeze=objfreeze-dev"], &[]);
    assert!(!ok && out.contains("configure: error: --with-objfreeze=objfreeze-dev: expected yes, no or auto, or the objfreeze tool (a path, or a program on PATH), but there is no program objfreeze-dev on PATH"), "{out}");
    let (ok, out) = toy(
        &d,
        &d,
        &without,
        &["--with-objfreeze=/no/such/objfreeze"],
        &[],
    );
    assert!(
        !ok && out.contains(
            "configure: error: --with-objfreeze=/no/such/objfreeze: /no/such/objfreeze does not run"
        ),
        "{out}"
    );
    // A path to a tool outside any objfreeze tree or install: no cpython.mk
    // beside it, so configure fails unless OBJFREEZE_MAKEDIR says where.
    let lone = dir.path().join("lone");
    std::fs::create_dir_all(&lone).unwrap();
    std::fs::copy(exe, lone.join("objfreeze")).unwrap();
    let arg = format!("--with-objfreeze={}", lone.join("objfreeze").display());
    let (ok, out) = toy(&d, &d, &without, &[&arg], &[]);
    assert!(!ok && out.contains("cpython.mk not found"), "{out}");
    let makedir = repo().join("make");
    let (ok, out) = toy(
        &d,
        &d,
        &without,
        &[&arg],
        &[("OBJFREEZE_MAKEDIR", makedir.to_str().unwrap())],
    );
    assert_eq!((ok, out), (true, yes(&lone.join("objfreeze"))));
    eprintln!("--with-objfreeze=PATH: absolute, relative, over OBJFREEZE, a program name, missing, not running, without cpython.mk: as documented");
}

/// One PGO build of the real tree, objfreeze turned on by
/// --enable-optimizations alone.
#[test]
fn pgo_build_with_objfreeze() {
    // A cold PGO build is about half an hour on two cores, more than the CI
    // budget allows beside the other source builds: opt in with
    // OBJFREEZE_PGO_BUILD=1 (cached afterwards: about a second).
    let cached = repo().join("target/cpython-configure").is_dir()
        && std::fs::read_dir(repo().join("target/cpython-configure"))
            .unwrap()
            .flatten()
            .any(|d| d.path().join("pgo/.seconds").is_file());
    if std::env::var("OBJFREEZE_PGO_BUILD").as_deref() != Ok("1") && !cached {
        eprintln!("SKIP: the PGO build runs with OBJFREEZE_PGO_BUILD=1 (about 30 minutes cold)");
        return;
    }
    if !can_configure() {
        return;
    }
    let t = std::time::Instant::now();
    let b = script("pgo");
    let built_in: u64 = std::fs::read_to_string(b.join(".seconds"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let makefile = std::fs::read_to_string(b.join("Makefile")).unwrap();
    let subst = makefile_subst(&makefile);
    assert_eq!(subst.with, "yes", "{subst:?}");
    let task = makefile
        .lines()
        .find_map(|l| l.strip_prefix("PROFILE_TASK="))
        .expect("PROFILE_TASK in the Makefile")
        .trim()
        .to_string();
    let python = b.join("python");

    // objfreeze: the three tables are in python, and the frozen modules
    // python reports are exactly the modules of those tables.
    let inspect = inspect_json(&python);
    let tables = inspect["tables"].as_array().unwrap();
    let symbols: BTreeSet<&str> = tables
        .iter()
        .map(|t| t["symbol"].as_str().unwrap())
        .collect();
    let want: BTreeSet<&str> = [
        "objfreeze_cpython_bootstrap",
        "objfreeze_cpython_stdlib",
        "objfreeze_cpython_test",
    ]
    .into();
    assert_eq!(symbols, want);
    for t in tables {
        assert_eq!(t["python_version"], "3.14", "{}", t["symbol"]);
        assert_eq!(t["digest_ok"], true, "{}", t["symbol"]);
    }
    let in_tables: BTreeSet<String> = tables
        .iter()
        .flat_map(|t| t["modules"].as_array().unwrap())
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    let said = stdout(Command::new(&python).current_dir(&b).args([
        "-I",
        "-X",
        "frozen_modules=on",
        "-c",
        "import _imp; print('\\n'.join(_imp._frozen_module_names()))",
    ]));
    let frozen: BTreeSet<String> = said.lines().map(str::to_string).collect();
    assert_eq!(
        frozen, in_tables,
        "python's frozen modules are not the tables'"
    );
    assert!(frozen.contains("_frozen_importlib") && frozen.contains("__hello__"));
    // The stock arrays are not linked: libpython's frozen.o was swapped out.
    let nm = stdout(Command::new("nm").arg(&python));
    assert!(
        !nm.contains("_Py_M__importlib__bootstrap"),
        "python links the stock frozen arrays"
    );
    let tf = Command::new(&python)
        .current_dir(&b)
        .args(["-I", "-m", "test", "test_frozen"])
        .output()
        .unwrap();
    let tf_out = text(&tf);
    assert!(
        tf.status.success() && tf_out.contains("Result: SUCCESS"),
        "test_frozen:\n{tf_out}"
    );

    // PGO: CPython's profile-opt ran the instrumented build, the profile
    // task with it, and the rebuild with the profile.
    let log = std::fs::read_to_string(b.join("make.log")).unwrap();
    assert!(
        log.contains("-fprofile-generate") && log.contains("-fprofile-use"),
        "make.log shows no instrumented and profiled compiles"
    );
    assert!(log.contains("Rebuilding with profile guided optimizations:"));
    assert!(
        log.contains(&format!("./python {task}")),
        "the profile task `{task}` did not run"
    );
    // frozen.c itself was profiled: its .gcda was written by the task and
    // read by the compile of the final frozen.o.
    assert!(
        b.join("Python/objfreeze/frozen.gcda").is_file(),
        "no profile for objfreeze's frozen.c"
    );
    // cpython.mk's compile command spans lines (backslash-newline).
    let joined = log.replace("\\\n", " ");
    let frozen_cc = |flag: &str| {
        joined
            .lines()
            .filter(|l| l.contains("fork/frozen.c") && l.contains(flag))
            .count()
    };
    assert_eq!(
        (frozen_cc("-fprofile-generate"), frozen_cc("-fprofile-use")),
        (1, 1),
        "frozen.c not compiled once instrumented and once with the profile"
    );
    let gcda = count_files(&b, "gcda");
    assert!(gcda > 100, "only {gcda} .gcda files in {}", b.display());
    let cfg = stdout(Command::new(&python).current_dir(&b).args([
        "-I",
        "-c",
        "import sysconfig; print(sysconfig.get_config_var('CONFIG_ARGS'))",
    ]));
    assert!(cfg.contains("--enable-optimizations"), "{cfg}");
    eprintln!(
        "PGO build of 3.14.7 with objfreeze: built in {built_in} s (PROFILE_TASK={task}); \
         {} frozen modules from the tables, {gcda} .gcda files, test_frozen SUCCESS; this run {:.0} s",
        frozen.len(),
        t.elapsed().as_secs_f64()
    );
}

fn count_files(dir: &Path, ext: &str) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            n += count_files(&p, ext);
        } else if p.extension().is_some_and(|x| x == ext) {
            n += 1;
        }
    }
    n
}
