//! make/cpython.mk against the real Makefiles the installed CPythons 3.11,
//! 3.12 and 3.13 were built with (lib/python3.X/config-3.X-*/Makefile), and
//! make/objfreeze.m4 through autoconf.
//!
//! No CPython source tree is at hand, so each test builds the next best
//! thing: a build directory holding the generated Makefile with the one
//! line a fork adds (`include .../cpython.mk` after LIBRARY_OBJS), the
//! installed headers as Include/, the objects of the installed libpython at
//! the paths LIBRARY_OBJS names, and Lib/. Then CPython's own rules run:
//! `python` (static: LINK_PYTHON_OBJS=$(LIBRARY_OBJS), as configure writes
//! for --disable-shared) and libpython3.X.so with a python linked to it.
//! Prebuilt objects, and the few source-tree headers an installation lacks,
//! are passed to make with -o (assumed up to date): their sources are not here.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

struct Cpython {
    /// The build interpreter (PYTHON_FOR_FREEZE), of the same version.
    python: PathBuf,
    /// config-3.X-*: the generated Makefile and python.o.
    config: PathBuf,
    include: PathBuf,
    pyconfig: PathBuf,
    stdlib: PathBuf,
    /// The library whose objects stand in for a build's.
    archive: PathBuf,
    /// The Makefile's srcdir is `..` (a separate build directory).
    srcdir_up: bool,
}

fn cpython(minor: &'static str) -> Option<Cpython> {
    let Install {
        python,
        stdlib,
        config,
        include,
    } = need_install(minor)?;
    Some(Cpython {
        python,
        archive: config.join(format!("libpython{minor}.a")),
        config,
        pyconfig: include.join("pyconfig.h"),
        include,
        stdlib,
        srcdir_up: false,
    })
}

fn sysconfig_var(py: &Cpython, name: &str) -> String {
    let code = format!("import sysconfig; print(sysconfig.get_config_var({name:?}) or '')");
    let out = stdout(Command::new(&py.python).args(["-I", "-c", &code]));
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The generated Makefile with the include line a fork adds to
/// Makefile.pre.in right after LIBRARY_OBJS.
fn makefile_with_fragment(py: &Cpython) -> String {
    let text = std::fs::read_to_string(py.config.join("Makefile")).unwrap();
    let include = format!("include {}", repo().join("make/cpython.mk").display());
    let mut out = String::new();
    let mut in_objs = false;
    let mut done = false;
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if line.starts_with("LIBRARY_OBJS=") {
            in_objs = true;
        }
        if in_objs && !line.ends_with('\\') {
            out.push_str(&include);
            out.push('\n');
            in_objs = false;
            done = true;
        }
    }
    assert!(done, "{}: no LIBRARY_OBJS definition", py.config.display());
    out
}

fn symlink(src: &Path, dst: &Path) {
    std::os::unix::fs::symlink(src, dst).unwrap_or_else(|e| panic!("{}: {e}", dst.display()));
}

/// The source and build directories under `src`, as described at the top
/// of this file; returns the build directory.
fn build_dir(py: &Cpython, src: &Path) -> PathBuf {
    let build = if py.srcdir_up {
        src.join("build")
    } else {
        src.to_path_buf()
    };
    std::fs::create_dir_all(build.join("Programs")).unwrap();
    symlink(&py.include, &src.join("Include"));
    symlink(&py.pyconfig, &build.join("pyconfig.h"));
    std::fs::copy(py.config.join("python.o"), build.join("Programs/python.o")).unwrap();
    std::fs::write(build.join("Makefile"), makefile_with_fragment(py)).unwrap();

    // Lib/: the installed stdlib, plus the test fixtures a source tree has
    // and an installation lacks (__phello__.ham, Tools/freeze/flag.py).
    let lib = src.join("Lib");
    std::fs::create_dir_all(lib.join("__phello__/ham")).unwrap();
    for e in std::fs::read_dir(&py.stdlib).unwrap().flatten() {
        if e.file_name() != "__phello__" {
            symlink(&e.path(), &lib.join(e.file_name()));
        }
    }
    for f in ["__init__.py", "spam.py"] {
        std::fs::copy(
            py.stdlib.join("__phello__").join(f),
            lib.join("__phello__").join(f),
        )
        .unwrap();
    }
    let fx = repo().join("tests/fixtures/cpython-test-modules");
    for f in ["__init__.py", "eggs.py"] {
        std::fs::copy(
            fx.join("__phello__/ham").join(f),
            lib.join("__phello__/ham").join(f),
        )
        .unwrap();
    }
    std::fs::create_dir_all(src.join("Tools/freeze")).unwrap();
    std::fs::copy(fx.join("frozen_only.py"), src.join("Tools/freeze/flag.py")).unwrap();
    build
}

fn make(d: &Path) -> Command {
    let mut c = Command::new("make");
    c.current_dir(d)
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL");
    c
}

/// A Makefile variable's value, as make expands it.
fn make_var(d: &Path, var: &str) -> Vec<String> {
    let printer = d.join("print.mk");
    std::fs::write(&printer, "print-%: ; @echo $($*)\n").unwrap();
    let out = stdout(
        make(d)
            .args(["-s", "-o", "Makefile", "-f", "Makefile", "-f"])
            .arg(&printer)
            .arg(format!("print-{var}")),
    );
    out.split_whitespace().map(str::to_string).collect()
}

/// Put the installed archive's objects where LIBRARY_OBJS names them; return
/// the `-o` arguments for them and for the headers the tree would have.
fn place_objects(py: &Cpython, d: &Path) -> Vec<String> {
    let ar = d.join(".ar");
    std::fs::create_dir_all(&ar).unwrap();
    run(Command::new("ar")
        .arg("x")
        .arg(&py.archive)
        .current_dir(&ar));
    let mut old = vec![
        "-o".to_string(),
        "Makefile".into(),
        "-o".into(),
        "Programs/python.o".into(),
    ];
    let objs = make_var(d, "LIBRARY_OBJS");
    assert!(
        objs.iter().any(|o| o == "Python/objfreeze/frozen.o"),
        "fragment not in LIBRARY_OBJS: {objs:?}"
    );
    assert!(
        !objs.iter().any(|o| o == "Python/frozen.o"),
        "Python/frozen.o still in LIBRARY_OBJS"
    );
    for o in objs.iter().filter(|o| !o.starts_with("Python/objfreeze/")) {
        let base = Path::new(o).file_name().unwrap();
        let dst = d.join(o);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(ar.join(base), &dst)
            .unwrap_or_else(|e| panic!("{o} (from the archive's {base:?}): {e}"));
        old.extend(["-o".to_string(), o.clone()]);
    }
    for h in make_var(d, "PYTHON_HEADERS") {
        if !d.join(&h).exists() {
            old.extend(["-o".to_string(), h]);
        }
    }
    old
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
}

#[track_caller]
fn make_ok(d: &Path, old: &[String], args: &[String]) -> String {
    let o = make(d).args(old).args(args).output().unwrap();
    let t = text(&o);
    assert!(o.status.success(), "make {args:?} failed:\n{t}");
    t
}

#[test]
fn cpython_fragment_relinks_python_with_cpythons_own_rules() {
    if !have_all(&["make", "gcc", "ar"]) {
        return;
    }
    for minor in ["3.11", "3.12", "3.13"] {
        let Some(py) = cpython(minor) else { continue };
        let dir = tempdir();
        let d = &build_dir(&py, dir.path());
        let old = place_objects(&py, d);
        let common_args = vec![
            format!("PYTHON_FOR_FREEZE={}", py.python.display()),
            "OBJFREEZE_CPYTHON_FREEZE_DEPS=".to_string(),
            format!("OBJFREEZE={}", env!("CARGO_BIN_EXE_objfreeze")),
        ];
        let mut static_args = common_args.clone();
        static_args.extend([
            "-j4".to_string(),
            "LINK_PYTHON_OBJS=$(LIBRARY_OBJS)".into(),
            "LINK_PYTHON_DEPS=$(LIBRARY_OBJS)".into(),
            "python".into(),
        ]);

        // The static python, linked by CPython's $(BUILDPYTHON) rule.
        let out = make_ok(d, &old, &static_args);
        let compiled = out
            .lines()
            .filter(|l| l.contains("cpython-compile.py"))
            .count();
        assert_eq!(compiled, 3 + 15 + 11, "{minor}: modules compiled:\n{out}");
        // frozen.c keeps the deep-frozen startup modules where the Makefile has them.
        let joined = out.replace("\\\n", " ");
        let cc_line = joined
            .lines()
            .find(|l| l.contains("frozen.c"))
            .unwrap_or_else(|| panic!("{minor}: frozen.c not compiled:\n{out}"));
        assert_eq!(
            cc_line.contains("-DOBJFREEZE_DEEPFREEZE"),
            minor != "3.13",
            "{minor}: {cc_line}"
        );
        assert!(
            cc_line.contains("-DPy_BUILD_CORE"),
            "{minor}: not compiled with PY_CORE_CFLAGS: {cc_line}"
        );
        let link = out
            .lines()
            .find(|l| l.contains(" -o python ") && l.contains("Programs/python.o"))
            .unwrap_or_else(|| panic!("{minor}: no link line in\n{out}"));
        let link_n = link.split_whitespace().collect::<Vec<_>>().join(" ");
        for obj in ["frozen", "bootstrap", "stdlib", "test"] {
            assert!(
                link_n.contains(&format!(" Python/objfreeze/{obj}.o")),
                "{minor}: {obj}.o not linked"
            );
        }
        assert!(
            !link_n.contains(" Python/frozen.o"),
            "{minor}: stock frozen.o linked"
        );
        // The flags the interpreter itself reports (sysconfig) are those
        // CPython's rule linked with.
        let linkcc = sysconfig_var(&py, "LINKCC");
        assert!(
            link_n.starts_with(&format!("{linkcc} ")),
            "{minor}: not linked by LINKCC={linkcc:?}"
        );
        for var in ["LINKFORSHARED", "LIBS", "SYSLIBS", "MODLIBS"] {
            let v = sysconfig_var(&py, var);
            assert!(
                link_n.contains(&v),
                "{minor}: link line lacks {var}={v:?}:\n{link_n}"
            );
        }
        let python = d.join("python");
        let probe = "import os, _imp, __hello__; print(os.__spec__.origin, _imp.is_frozen('zipimport'), len(_imp._frozen_module_names()))";
        let said = stdout(Command::new(&python).args(["-I", "-c", probe]));
        assert_eq!(said.trim(), "frozen True 29", "{minor}");
        let off = stdout(Command::new(&python).args([
            "-I",
            "-X",
            "frozen_modules=off",
            "-c",
            "import os; print(os.__spec__.origin)",
        ]));
        assert!(off.trim().ends_with("os.py"), "{minor}: {off}");
        let t = stdout(
            Command::new(&python)
                .args(["-I", "-m", "test", "test_frozen"])
                .current_dir(d),
        );
        assert!(t.contains("Result: SUCCESS"), "{minor}: {t}");
        let inspect = stdout(objfreeze().args(["inspect", "--summary"]).arg(&python));
        for s in [
            "objfreeze_cpython_bootstrap",
            "objfreeze_cpython_stdlib",
            "objfreeze_cpython_test",
        ] {
            assert!(inspect.contains(s), "{minor}: {s} missing:\n{inspect}");
        }
        eprintln!("{minor}: static python linked by CPython's rule, {compiled} modules frozen; test_frozen SUCCESS");

        // Nothing to do the second time.
        let again = make_ok(d, &old, &static_args);
        assert!(
            again.contains("'python' is up to date"),
            "{minor}: second make did work:\n{again}"
        );

        // One source edited: its .pyc, its table and the link, nothing else.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        run(Command::new("touch").arg(d.join("Lib/__phello__/ham/eggs.py")));
        let redo = make_ok(d, &old, &static_args);
        let cmds: Vec<&str> = redo.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(redo.contains("__phello__.ham.eggs.pyc"), "{minor}:\n{redo}");
        assert!(
            redo.contains("-o Python/objfreeze/test.o"),
            "{minor}:\n{redo}"
        );
        for other in [
            "-o Python/objfreeze/stdlib.o",
            "-o Python/objfreeze/bootstrap.o",
            "frozen.c",
        ] {
            assert!(
                !redo.contains(other),
                "{minor}: {other} rebuilt too:\n{redo}"
            );
        }
        assert_eq!(
            cmds.len(),
            3,
            "{minor}: compile, table, link expected:\n{redo}"
        );
        let eggs = stdout(Command::new(&python).args([
            "-I",
            "-c",
            "import __phello__.ham.eggs as e; print(e.__spec__.origin)",
        ]));
        assert_eq!(eggs.trim(), "frozen");
        eprintln!(
            "{minor}: second make: nothing to do; one source touched: {} commands",
            cmds.len()
        );

        // The shared library and a python linked to it, by CPython's rules.
        let mut shared_args = common_args.clone();
        shared_args.extend([
            "BUILDPYTHON=python-shared".to_string(),
            "python-shared".into(),
        ]);
        make_ok(d, &old, &shared_args);
        let so = d.join(format!("libpython{minor}.so.1.0"));
        let inspect = stdout(objfreeze().args(["inspect", "--summary"]).arg(&so));
        assert!(
            inspect.contains("objfreeze_cpython_stdlib"),
            "{minor}: {inspect}"
        );
        let maps = "import os; print(os.__spec__.origin, [l.split()[-1] for l in open('/proc/self/maps') if 'libpython' in l][0])";
        let said = stdout(
            Command::new(d.join("python-shared"))
                .env("LD_LIBRARY_PATH", d)
                .args(["-I", "-c", maps]),
        );
        assert_eq!(said.trim(), format!("frozen {}", so.display()), "{minor}");
        eprintln!("{minor}: shared libpython from LIBRARY_OBJS carries the tables; python-shared runs from it");
    }
}

/// The cross build: Debian's arm64 CPython 3.11 (libpython3.11-dev:arm64,
/// whose generated Makefile has CC=aarch64-linux-gnu-gcc and srcdir=..),
/// the modules compiled by the x86_64 /usr/bin/python3.11 of the same
/// version as PYTHON_FOR_FREEZE, the tables written for
/// OBJFREEZE_TARGET=aarch64-unknown-linux-gnu, python linked by CPython's
/// rule with the cross compiler and run under qemu.
#[test]
fn cpython_fragment_cross_builds_an_aarch64_python() {
    let config = PathBuf::from("/usr/lib/python3.11/config-3.11-aarch64-linux-gnu");
    if !have_all(&[
        "make",
        "aarch64-linux-gnu-gcc",
        "qemu-aarch64",
        "/usr/bin/python3.11",
        "/usr/lib/python3.11/config-3.11-aarch64-linux-gnu/Makefile",
    ]) {
        return;
    }
    let py = Cpython {
        python: PathBuf::from("/usr/bin/python3.11"),
        // The PIC objects: Debian's gcc links position-independent executables.
        archive: config.join("libpython3.11-pic.a"),
        config,
        include: PathBuf::from("/usr/include/python3.11"),
        pyconfig: PathBuf::from("/usr/include/aarch64-linux-gnu/python3.11/pyconfig.h"),
        stdlib: PathBuf::from("/usr/lib/python3.11"),
        srcdir_up: true,
    };
    let dir = tempdir();
    let d = &build_dir(&py, dir.path());
    let old = place_objects(&py, d);
    let out = make_ok(
        d,
        &old,
        &[
            "-j4".to_string(),
            format!("PYTHON_FOR_FREEZE={}", py.python.display()),
            "OBJFREEZE_CPYTHON_FREEZE_DEPS=".into(),
            format!("OBJFREEZE={}", env!("CARGO_BIN_EXE_objfreeze")),
            "OBJFREEZE_TARGET=aarch64-unknown-linux-gnu".into(),
            "LINK_PYTHON_OBJS=$(LIBRARY_OBJS)".into(),
            "LINK_PYTHON_DEPS=$(LIBRARY_OBJS)".into(),
            "python".into(),
        ],
    );
    assert!(
        out.contains("aarch64-linux-gnu-gcc -c"),
        "frozen.c not cross-compiled:\n{out}"
    );
    assert!(
        out.contains("--target aarch64-unknown-linux-gnu"),
        "tables not for aarch64:\n{out}"
    );
    // ELF, e_machine EM_AARCH64 (183).
    let exe = std::fs::read(d.join("python")).unwrap();
    assert!(
        exe.starts_with(b"\x7fELF") && exe[18..20] == 183u16.to_le_bytes(),
        "python is not an aarch64 ELF"
    );
    let inspect = stdout(
        objfreeze()
            .args(["inspect", "--summary"])
            .arg(d.join("python")),
    );
    assert_eq!(inspect.matches("CPython 3.11").count(), 3, "{inspect}");
    let qemu = |args: &[&str]| {
        stdout(
            Command::new("qemu-aarch64")
                .args(["-L", "/usr/aarch64-linux-gnu"])
                .arg(d.join("python"))
                .args(args),
        )
    };
    let probe = "import os, _imp, __hello__, importlib.machinery as m; __hello__.main(); \
                 print(os.__spec__.origin, len(_imp._frozen_module_names()), os.uname().machine, \
                 m.FrozenImporter.find_spec('__phello__.__init__').loader_state.origname)";
    let said = qemu(&["-I", "-c", probe]);
    assert_eq!(said, "Hello world!\nfrozen 29 aarch64 <__phello__\n");
    let off = qemu(&[
        "-I",
        "-X",
        "frozen_modules=off",
        "-c",
        "import os; print(os.__spec__.origin)",
    ]);
    assert_eq!(off.trim(), "/usr/lib/python3.11/os.py");
    eprintln!(
        "aarch64 python from Debian's arm64 Makefile + cpython.mk ran under qemu: {}",
        said.lines().last().unwrap()
    );
}

/// configure's answer for one combination: (exit ok, vars.mk or stderr).
fn configure(dir: &Path, path: &str, args: &[&str]) -> (bool, String) {
    let _ = std::fs::remove_file(dir.join("vars.mk"));
    let o = Command::new("./configure")
        .arg("-q")
        .args(args)
        .env("PATH", path)
        .env_remove("OBJFREEZE")
        .env_remove("OBJFREEZE_MAKEDIR")
        .current_dir(dir)
        .output()
        .unwrap();
    if o.status.success() {
        (true, std::fs::read_to_string(dir.join("vars.mk")).unwrap())
    } else {
        (false, String::from_utf8_lossy(&o.stderr).to_string())
    }
}

#[test]
fn autoconf_with_objfreeze_switch() {
    if !have("autoconf") {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    for f in ["configure.ac", "vars.mk.in"] {
        std::fs::copy(repo().join("tests/autoconf").join(f), d.join(f)).unwrap();
    }
    run(Command::new("autoconf")
        .arg("-I")
        .arg(repo().join("make"))
        .args(["-o", "configure", "configure.ac"])
        .current_dir(d));

    // The tool on PATH through a symlink, as an installed one would be; the
    // macro follows it back to this tree's make/.
    let bin = d.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    symlink(
        Path::new(env!("CARGO_BIN_EXE_objfreeze")),
        &bin.join("objfreeze"),
    );
    let with_tool = format!("{}:/usr/bin:/bin", bin.display());
    let without = "/usr/bin:/bin";
    let mk = repo().join("make/cpython.mk").canonicalize().unwrap();
    let yes = format!(
        "WITH_OBJFREEZE=yes\nOBJFREEZE={}\nOBJFREEZE_MK={}\nOBJFREEZE_TARGET=\n",
        bin.join("objfreeze").display(),
        mk.display()
    );
    let no = "WITH_OBJFREEZE=no\nOBJFREEZE=\nOBJFREEZE_MK=\nOBJFREEZE_TARGET=\n".to_string();

    let mut checked = 0;
    for opt in [None, Some("--enable-optimizations")] {
        for with in [None, Some("yes"), Some("no"), Some("auto")] {
            for tool in [true, false] {
                let mut args: Vec<String> = opt.iter().map(|s| s.to_string()).collect();
                args.extend(with.map(|w| format!("--with-objfreeze={w}")));
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                let (ok, got) = configure(d, if tool { &with_tool } else { without }, &a);
                // Not given: auto under --enable-optimizations, else no.
                let want = with.unwrap_or(if opt.is_some() { "auto" } else { "no" });
                let case = format!("{args:?}, tool {}", if tool { "present" } else { "absent" });
                match (want, tool) {
                    ("no", _) | ("auto", false) => {
                        assert_eq!((ok, got.as_str()), (true, no.as_str()), "{case}")
                    }
                    ("yes" | "auto", true) => {
                        assert_eq!((ok, got.as_str()), (true, yes.as_str()), "{case}")
                    }
                    ("yes", false) => {
                        assert!(!ok, "{case}: configure should fail");
                        assert!(
                            got.contains("--with-objfreeze=yes: objfreeze was not found"),
                            "{case}: {got}"
                        );
                    }
                    _ => unreachable!(),
                }
                checked += 1;
            }
        }
    }

    // OBJFREEZE=PATH instead of PATH; a cross build writes tables for --host.
    let tool = format!("OBJFREEZE={}", env!("CARGO_BIN_EXE_objfreeze"));
    let (ok, got) = configure(
        d,
        without,
        &[
            "--with-objfreeze",
            &tool,
            "--build=x86_64-pc-linux-gnu",
            "--host=aarch64-unknown-linux-gnu",
        ],
    );
    assert!(ok, "{got}");
    assert!(
        got.contains("WITH_OBJFREEZE=yes\n")
            && got.contains("OBJFREEZE_TARGET=aarch64-unknown-linux-gnu\n"),
        "{got}"
    );
    assert!(
        got.contains(&format!("OBJFREEZE_MK={}\n", mk.display())),
        "{got}"
    );
    // A tool that does not run counts as absent; a bad value is refused.
    let (ok, got) = configure(
        d,
        without,
        &["--with-objfreeze=auto", "OBJFREEZE=/bin/false"],
    );
    assert_eq!((ok, got.as_str()), (true, no.as_str()));
    let (ok, got) = configure(d, without, &["--with-objfreeze=maybe"]);
    assert!(!ok && got.contains("expected yes, no or auto"), "{got}");
    eprintln!("configure: {checked} combinations of --with-objfreeze x --enable-optimizations x tool, plus OBJFREEZE=, cross --host, a broken tool, a bad value: as documented");
}
