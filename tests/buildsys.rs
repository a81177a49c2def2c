//! Build-system integration: the make fragment driving a small project, and
//! every example under `examples/` built and run with `make -C examples/NAME run`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

use common::{have_all, objfreeze, repo, tempdir};

fn bin() -> String {
    objfreeze().get_program().to_string_lossy().into_owned()
}

/// `make ARGS` in `dir` with the test's objfreeze; stdout+stderr, and whether it succeeded.
fn make(dir: &Path, args: &[&str]) -> (bool, String) {
    let out: Output = Command::new("make")
        .current_dir(dir)
        .arg(format!("OBJFREEZE={}", bin()))
        .args(args)
        .output()
        .expect("run make");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[track_caller]
fn make_ok(dir: &Path, args: &[&str]) -> String {
    let (ok, text) = make(dir, args);
    assert!(ok, "make {args:?} in {} failed:\n{text}", dir.display());
    text
}

fn mtime(p: &Path) -> SystemTime {
    fs::metadata(p).unwrap().modified().unwrap()
}

fn write(p: &Path, s: &str) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, s).unwrap();
}

fn module_sizes(obj: &Path) -> Vec<(String, u64)> {
    let j = common::inspect_json(obj);
    j["tables"][0]["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["size"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// A small project: two package trees frozen through make/objfreeze.mk into
/// two objects, linked into a C program that lists every linked module.
#[test]
fn make_fragment_builds_rebuilds_and_runs_parallel() {
    if !have_all(&["make", "cc"]) {
        return;
    }
    let Some(python) = common::need_python("3.11") else {
        return;
    };
    let tmp = tempdir();
    let d = tmp.path();
    write(&d.join("src/app/__init__.py"), "from . import core\n");
    write(
        &d.join("src/app/core.py"),
        "from .util import twice\nVALUE = twice(21)\n",
    );
    write(
        &d.join("src/app/util.py"),
        "def twice(x):\n    return 2 * x\n",
    );
    write(&d.join("src/tools/__init__.py"), "");
    write(
        &d.join("src/tools/cli.py"),
        "import sys\ndef main():\n    print(sys.argv)\n",
    );
    write(&d.join("extra/extra.py"), "EXTRA = True\n");
    let manifest = format!(
        "python = \"{}\"\nsymbol = \"extra_modules\"\n[[module]]\nname = \"extra\"\npath = \"extra/extra.py\"\n",
        python.display()
    );
    write(&d.join("extra.toml"), &manifest);
    write(
        &d.join("main.c"),
        r#"#include <stdio.h>
#include "objfreeze.h"
int main(void) {
    const objfreeze_table *t = NULL;
    int tables = 0;
    while ((t = objfreeze_linked_next(t)) != NULL) {
        uint32_t i;
        tables++;
        for (i = 0; i < objfreeze_count(t); i++) {
            const objfreeze_entry *e = objfreeze_entry_at(t, i);
            printf("%s %u\n", objfreeze_entry_name(t, e), (unsigned)objfreeze_entry_size(e));
        }
    }
    printf("tables %d\n", tables);
    return objfreeze_linked_find("app.core", NULL) && objfreeze_linked_find("tools.cli", NULL) ? 0 : 1;
}
"#,
    );
    write(
        &d.join("Makefile"),
        &format!(
            r#"include {root}/make/objfreeze.mk
OBJFREEZE_PYTHON := {python}
OBJFREEZE_CACHE_DIR := cache
$(eval $(call objfreeze_object,out/app.o,--tree src/app --symbol app_modules))
$(eval $(call objfreeze_object,out/tools.o,--tree src/tools --symbol tools_modules))
# This one takes its interpreter and symbol from the manifest.
OBJFREEZE_PYTHON :=
$(eval $(call objfreeze_object,out/extra.o,--manifest extra.toml))

all: prog
prog: main.c out/app.o out/tools.o out/extra.o
	$(CC) -Wall -I{root}/cbindings -o $@ main.c out/app.o out/tools.o out/extra.o
clean:
	rm -f prog $(OBJFREEZE_CLEAN_FILES)
.PHONY: all clean
"#,
            root = repo().display(),
            python = python.display()
        ),
    );
    let (app, tools, prog) = (d.join("out/app.o"), d.join("out/tools.o"), d.join("prog"));

    // 1. It builds both objects, and the program finds every module.
    let out = make_ok(d, &["-f", "Makefile"]);
    for o in ["app", "tools", "extra"] {
        assert!(out.contains(&format!("build -o out/{o}.o")), "{out}");
    }
    let listing = common::stdout(&mut Command::new(&prog));
    for m in [
        "app ",
        "app.core ",
        "app.util ",
        "tools ",
        "tools.cli ",
        "extra ",
        "tables 3",
    ] {
        assert!(
            listing.contains(m),
            "{m:?} not in program output:\n{listing}"
        );
    }
    assert!(d.join("out/app.o.d").exists(), "no depfile");
    let dep = fs::read_to_string(d.join("out/app.o.d")).unwrap();
    assert!(
        dep.contains("util.py") && !dep.contains("cli.py"),
        "depfile:\n{dep}"
    );

    // 2. A second make has nothing to do.
    let out = make_ok(d, &["-f", "Makefile"]);
    assert!(
        out.contains("Nothing to be done for 'all'"),
        "second make:\n{out}"
    );
    assert!(
        !out.contains("objfreeze build") && !out.contains(&bin()),
        "second make ran the tool:\n{out}"
    );

    // 3. Touching one source rebuilds its object (and the program), nothing else.
    let (t_app, t_tools) = (mtime(&app), mtime(&tools));
    std::thread::sleep(std::time::Duration::from_millis(20));
    common::run(Command::new("touch").arg(d.join("src/app/util.py")));
    let out = make_ok(d, &["-f", "Makefile"]);
    assert!(
        out.contains("build -o out/app.o"),
        "touch did not rebuild app.o:\n{out}"
    );
    assert!(
        !out.contains("-o out/tools.o"),
        "touching app/util.py rebuilt tools.o:\n{out}"
    );
    assert!(out.contains("-o prog"), "prog not relinked:\n{out}");
    assert!(mtime(&app) > t_app && mtime(&tools) == t_tools);
    let out = make_ok(d, &["-f", "Makefile"]);
    assert!(
        out.contains("Nothing to be done"),
        "make after the rebuild:\n{out}"
    );

    // The manifest is an input too.
    std::thread::sleep(std::time::Duration::from_millis(20));
    common::run(Command::new("touch").arg(d.join("extra.toml")));
    let out = make_ok(d, &["-f", "Makefile"]);
    assert!(
        out.contains("build -o out/extra.o"),
        "manifest touched:\n{out}"
    );
    assert!(
        !out.contains("-o out/app.o") && !out.contains("-o out/tools.o"),
        "{out}"
    );

    // 4. Editing it changes the frozen bytecode of that module only.
    let before = module_sizes(&app);
    std::thread::sleep(std::time::Duration::from_millis(20));
    write(
        &d.join("src/app/util.py"),
        "def twice(x):\n    return 2 * x\n\ndef thrice(x):\n    return 3 * x\n",
    );
    let out = make_ok(d, &["-f", "Makefile"]);
    assert!(
        out.contains("build -o out/app.o") && !out.contains("-o out/tools.o"),
        "{out}"
    );
    let after = module_sizes(&app);
    for ((n0, s0), (n1, s1)) in before.iter().zip(&after) {
        assert_eq!(n0, n1);
        assert_eq!(s0 != s1, n0 == "app.util", "{n0}: {s0} -> {s1}");
    }

    // 5. Changing a setting (the target) rebuilds, as does changing it back.
    let out = make_ok(
        d,
        &[
            "-f",
            "Makefile",
            "out/app.o",
            "OBJFREEZE_TARGET=aarch64-unknown-linux-gnu",
        ],
    );
    assert!(out.contains("--target aarch64-unknown-linux-gnu"), "{out}");
    assert_eq!(
        &fs::read(&app).unwrap()[18..20],
        &[0xb7, 0],
        "not an aarch64 ELF (e_machine 183)"
    );
    let out = make_ok(d, &["-f", "Makefile"]);
    assert!(
        out.contains("build -o out/app.o") && !out.contains("--target"),
        "{out}"
    );

    // 6. make -j4 from clean: no warnings, the same bytes as a serial build.
    let extra = d.join("out/extra.o");
    let serial: Vec<Vec<u8>> = [&app, &tools, &extra]
        .iter()
        .map(|p| fs::read(p).unwrap())
        .collect();
    make_ok(d, &["-f", "Makefile", "clean"]);
    assert!(!app.exists() && !d.join("out/app.o.d").exists());
    // A cold cache too: the parallel builds fill one cache directory at once.
    fs::remove_dir_all(d.join("cache")).unwrap();
    let out = make_ok(d, &["-f", "Makefile", "-j4"]);
    assert!(!out.to_lowercase().contains("warning"), "make -j4:\n{out}");
    let parallel: Vec<Vec<u8>> = [&app, &tools, &extra]
        .iter()
        .map(|p| fs::read(p).unwrap())
        .collect();
    assert!(serial == parallel, "make -j4 wrote different objects");
    common::run(&mut Command::new(&prog));
    let out = make_ok(d, &["-f", "Makefile", "-j4"]);
    assert!(
        out.contains("Nothing to be done"),
        "second make -j4:\n{out}"
    );
}

/// Examples with their own test below; every other one runs in `other_examples_run`.
const EXAMPLES_WITH_OWN_TEST: &[&str] = &["lua", "cross-aarch64"];

fn examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(repo().join("examples"))
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| p.join("Makefile").is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The tools an example lists in its REQUIRES file (one per line, `#` comments).
fn example_requires(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("REQUIRES"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// `make -C examples/NAME run`; None when a required tool is missing (skipped;
/// on CI a missing tool fails). Panics if the example fails.
fn run_example(dir: &Path) -> Option<String> {
    let req = example_requires(dir);
    let mut tools = vec!["make"];
    tools.extend(req.iter().map(String::as_str));
    if !have_all(&tools) {
        eprintln!("SKIP: example {}", dir.display());
        return None;
    }
    let out = Command::new("make")
        .arg("-C")
        .arg(dir)
        .arg("run")
        .arg(format!("OBJFREEZE={}", bin()))
        .output()
        .expect("run make");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "make -C {} run failed:\n{text}",
        dir.display()
    );
    eprintln!("---- make -C {} run\n{text}", dir.display());
    Some(text)
}

#[test]
fn other_examples_run() {
    for dir in examples() {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        if EXAMPLES_WITH_OWN_TEST.contains(&name.as_str()) {
            continue;
        }
        run_example(&dir);
    }
}

#[test]
fn every_example_is_run_by_a_test() {
    // The generic test covers any example; the ones named here must exist.
    let names: Vec<String> = examples()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    for n in EXAMPLES_WITH_OWN_TEST {
        assert!(names.iter().any(|x| x == n), "examples/{n} is missing");
    }
}

#[test]
fn lua_example_requires_modules_from_the_table() {
    let Some(out) = run_example(&repo().join("examples/lua")) else {
        return;
    };
    for want in [
        "interpreter lua (tag 0x54), 4 modules",
        "tables installed: 1",
        "hello, world, from mymod",
        "geometry.vector: (3, 4) has length 5.0",
        "mymod            loaded from objfreeze table",
        "geometry.vector  loaded from objfreeze table",
        "geometry         loaded from objfreeze table",
        "error raised in mymod: src/mymod.lua:9: mymod.fail was called",
        "2nd place looked: no module 'nosuchmod' in objfreeze tables",
        "module sources under src/ opened or stat'ed: 0 (strace)",
        "OK: require(\"mymod\")",
    ] {
        assert!(
            out.contains(want),
            "{want:?} not in the Lua example's output:\n{out}"
        );
    }
}

#[test]
fn cross_aarch64_example_imports_stdlib_from_the_section_under_qemu() {
    let Some(out) = run_example(&repo().join("examples/cross-aarch64")) else {
        return;
    };
    let frozen = out
        .split_once("== frozen python")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no frozen python run in:\n{out}"));
    for want in [
        "running on aarch64 Python 3.11",
        "json            loader=objfreeze.FrozenSourceLoader\n",
        "origin=/usr/lib/python3.11/json/__init__.py __file__=/usr/lib/python3.11/json/__init__.py",
        "asyncio         loader=objfreeze.FrozenSourceLoader\n",
        "asyncio.events  loader=objfreeze.FrozenSourceLoader\n",
        "asyncio.run(main()) -> {\"asyncio\": \"ran\", \"json\": \"encoded\"}",
        "file syscalls on stdlib .pyc files: 0;",
        "File \"/usr/lib/python3.11/json/decoder.py\", line",
        "obj, end = self.scan_once(s, idx)",
        "OK: the aarch64 python imported json and asyncio",
    ] {
        assert!(
            frozen.contains(want),
            "{want:?} not in the frozen run:\n{out}"
        );
    }
    assert!(
        out.contains("ELF 64-bit LSB relocatable, ARM aarch64"),
        "{out}"
    );
    let stock = out.split("== stock python").nth(1).unwrap();
    assert!(
        stock.contains("json            loader=_frozen_importlib_external.SourceFileLoader"),
        "{stock}"
    );
}
