//! Every target `objfreeze targets` lists, proven with that target's own
//! toolchain. For each: `objfreeze build` from real CPython 3.11 `.pyc`
//! files; `llvm-readobj` (not our goblin reader) shows zero relocations, a
//! read-only allocated section and a global symbol; `inspect --json` lists
//! every module and `verify` passes. Then `tests/c/listing.c`, which uses only
//! `cbindings/objfreeze.h`, is compiled and linked by the target's compiler
//! and linker (which must print nothing: no warnings), and run natively, under
//! qemu-user or under wine; its listing must equal what `inspect --json` says,
//! with each module's checksum taken from the source `.pyc`. Targets with no
//! runner here are linked, and the linked image is inspected.
//!
//! The `linked_*` tests link three tables (`stdlib`, `app`, `plugins`) with
//! zero padding between them into a program that finds them all through
//! `objfreeze_linked_next`/`objfreeze_linked_find` without naming them.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use common::*;

// ---- inputs, built once per test process -----------------------------------

/// A module as built from its source `.pyc`: what every listing must show.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Module {
    name: String,
    size: u32,
    package: bool,
    /// FNV-1a of the module's bytecode, as listing.c computes it.
    sum: u32,
}

struct Inputs {
    /// `-m`/`-p` `NAME=FILE` pairs.
    pairs: Vec<(String, String)>,
    modules: BTreeMap<String, Module>,
}

impl Inputs {
    fn args(&self, pick: impl Fn(&str) -> bool) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(_, nf)| pick(nf.split_once('=').unwrap().0))
            .flat_map(|(f, nf)| [f.clone(), nf.clone()])
            .collect()
    }
    fn all(&self) -> Vec<String> {
        self.args(|_| true)
    }
}

fn fnv1a(data: &[u8]) -> u32 {
    data.iter().fold(2_166_136_261u32, |h, &b| {
        (h ^ b as u32).wrapping_mul(16_777_619)
    })
}

fn scratch() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("targets")
}

/// 32 stdlib modules plus `json` and `json.decoder`, compiled by CPython 3.11.
fn inputs() -> Option<&'static Inputs> {
    static INPUTS: OnceLock<Option<Inputs>> = OnceLock::new();
    INPUTS
        .get_or_init(|| {
            let py = need_python("3.11")?;
            let dir = scratch().join("pyc");
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            let args = stdlib_pycs(&py, &dir, 32);
            let mut pairs = Vec::new();
            let mut modules = BTreeMap::new();
            for p in args.chunks(2) {
                let (name, file) = p[1].split_once('=').unwrap();
                let data = fs::read(file).unwrap()[16..].to_vec();
                modules.insert(
                    name.to_string(),
                    Module {
                        name: name.to_string(),
                        size: data.len() as u32,
                        package: p[0] == "-p",
                        sum: fnv1a(&data),
                    },
                );
                pairs.push((p[0].clone(), p[1].clone()));
            }
            assert!(modules.len() >= 30, "only {} modules", modules.len());
            Some(Inputs { pairs, modules })
        })
        .as_ref()
}

/// A fresh directory for one test.
fn workdir(name: &str) -> PathBuf {
    let d = scratch().join(name);
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn cdir() -> PathBuf {
    repo().join("tests/c")
}

fn listing_c() -> PathBuf {
    cdir().join("listing.c")
}

fn include() -> String {
    format!("-I{}", repo().join("cbindings").display())
}

const CFLAGS: &[&str] = &["-std=c99", "-O2", "-Wall", "-Wextra", "-pedantic"];
/// The same, compiling a `.c` file as C++.
const CXXFLAGS: &[&str] = &[
    "-x",
    "c++",
    "-std=c++11",
    "-O2",
    "-Wall",
    "-Wextra",
    "-pedantic",
];

fn second_tu_c() -> PathBuf {
    cdir().join("second_tu.c")
}

// ---- running tools ---------------------------------------------------------

/// Run a compiler or linker: it must succeed and print nothing (a warning
/// about our objects, or in our C, fails the test).
#[track_caller]
fn quiet(cmd: &mut Command) {
    let out = run(cmd);
    let err = String::from_utf8_lossy(&out.stderr);
    let so = String::from_utf8_lossy(&out.stdout);
    assert!(
        err.trim().is_empty() && so.trim().is_empty(),
        "{cmd:?} printed:\n{so}{err}"
    );
}

fn wine_prefix() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wineprefix")
}

/// Run a Windows program under wine and return what it printed. Wine's exit
/// code says nothing about the program's, so callers check the output.
/// One wine at a time: the first run creates the prefix.
fn wine(exe: &Path) -> String {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    fs::create_dir_all(wine_prefix()).unwrap();
    let out = Command::new("wine")
        .arg(exe)
        .env("WINEPREFIX", wine_prefix())
        .env("WINEDEBUG", "-all")
        .output()
        .unwrap_or_else(|e| panic!("cannot run wine: {e}"));
    // msvcrt's text-mode stdout writes CRLF.
    String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n")
}

fn run_program(runner: &[&str], exe: &Path) -> String {
    let mut cmd = match runner.split_first() {
        None => Command::new(exe),
        Some((r, rest)) => {
            let mut c = Command::new(r);
            c.args(rest).arg(exe);
            c
        }
    };
    stdout(&mut cmd)
}

// ---- objects and what inspect says about them --------------------------------

/// One table as `objfreeze inspect --json` reports it.
#[derive(Clone, Debug)]
struct TableInfo {
    section: String,
    tag: u64,
    size: u64,
    digest: String,
    modules: Vec<Module>,
}

/// Build a table object for `target`; `pick` chooses the modules.
fn build_obj(
    dir: &Path,
    file: &str,
    target: &str,
    symbol: Option<&str>,
    args: &[String],
) -> PathBuf {
    let out = dir.join(file);
    let mut cmd = objfreeze();
    cmd.arg("build")
        .arg("-o")
        .arg(&out)
        .arg("--target")
        .arg(target);
    if let Some(s) = symbol {
        cmd.arg("--symbol").arg(s);
    }
    run(cmd.args(args));
    out
}

/// The tables `inspect --json` finds in `file`; each module's size and
/// package flag must match its source, whose checksum it takes.
fn tables(file: &Path, inputs: &Inputs) -> Vec<TableInfo> {
    let j = inspect_json(file);
    let mut out = Vec::new();
    for t in j["tables"].as_array().expect("tables") {
        assert!(t["error"].is_null(), "{}: {t}", file.display());
        assert_eq!(t["digest_ok"], true, "{}", file.display());
        let mut modules = Vec::new();
        for m in t["modules"].as_array().unwrap() {
            let name = m["name"].as_str().unwrap();
            let src = &inputs.modules[name];
            assert_eq!(m["size"].as_u64(), Some(src.size as u64), "{name}");
            assert_eq!(m["package"].as_bool(), Some(src.package), "{name}");
            modules.push(src.clone());
        }
        assert_eq!(t["count"].as_u64(), Some(modules.len() as u64));
        out.push(TableInfo {
            section: t["section"].as_str().unwrap().to_string(),
            tag: t["tag"].as_u64().unwrap(),
            size: t["size"].as_u64().unwrap(),
            digest: t["digest"].as_str().unwrap().to_string(),
            modules,
        });
    }
    out
}

fn one_table(file: &Path, inputs: &Inputs) -> TableInfo {
    let t = tables(file, inputs);
    assert_eq!(t.len(), 1, "{}: {t:?}", file.display());
    t.into_iter().next().unwrap()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fmt {
    Elf,
    MachO,
    Coff,
}

/// llvm-readobj's `Section {`/`Symbol {` blocks (two-space indented).
fn blocks<'a>(text: &'a str, head: &str) -> Vec<&'a str> {
    let mut v = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(head) {
        let b = &rest[i..];
        let end = b.find("\n  }").unwrap_or(b.len());
        v.push(&b[..end]);
        rest = &b[end..];
    }
    v
}

/// What llvm-readobj, independent of our reader, says about a fresh object:
/// 0 relocations; the table section allocated, neither writable nor
/// executable; the symbol global (and, on ELF, sized). Then `inspect --json`
/// lists every input module and `verify` passes.
fn check_object(obj: &Path, fmt: Fmt, symbol: &str, inputs: &Inputs) -> TableInfo {
    let info = one_table(obj, inputs);
    let section = match fmt {
        Fmt::Elf => "objfreeze",
        Fmt::MachO => "__TEXT,__objfreeze",
        Fmt::Coff => ".objfrz$m",
    };
    assert_eq!(info.section, section, "{}", obj.display());
    let names: Vec<&str> = info.modules.iter().map(|m| m.name.as_str()).collect();
    let want: Vec<&str> = inputs.modules.keys().map(String::as_str).collect();
    assert_eq!(names, want, "inspect must list every module, sorted");
    run(objfreeze().arg("verify").arg(obj));

    let out = stdout(
        Command::new("llvm-readobj")
            .args(["--sections", "--symbols", "--relocations"])
            .arg(obj),
    );
    let rel = out
        .split("Relocations [")
        .nth(1)
        .expect("relocations block");
    assert!(
        rel.split(']').next().unwrap().trim().is_empty(),
        "{}: relocations:\n{out}",
        obj.display()
    );
    let sections = blocks(&out, "Section {");
    let name = match fmt {
        Fmt::Elf => "Name: objfreeze (",
        Fmt::MachO => "Name: __objfreeze (",
        Fmt::Coff => "Name: .objfrz$m (",
    };
    let sec = sections
        .iter()
        .find(|b| b.contains(name))
        .unwrap_or_else(|| panic!("no table section in:\n{out}"));
    let has = |b: &str, w: &str| b.contains(w);
    match fmt {
        Fmt::Elf => {
            assert!(
                has(sec, "Type: SHT_PROGBITS") && has(sec, "SHF_ALLOC"),
                "{sec}"
            );
            assert!(
                !has(sec, "SHF_WRITE") && !has(sec, "SHF_EXECINSTR"),
                "{sec}"
            );
            assert!(has(sec, &format!("Size: {}\n", info.size)), "{sec}");
            assert!(!out.contains("SHT_REL"), "relocation section in {out}");
            let stack = sections
                .iter()
                .find(|b| b.contains("Name: .note.GNU-stack ("))
                .expect(".note.GNU-stack");
            assert!(!has(stack, "SHF_EXECINSTR"), "{stack}");
        }
        Fmt::MachO => {
            // the platform load command, without which ld64 warns
            let lc = stdout(
                Command::new("llvm-objdump")
                    .args(["--macho", "--private-headers"])
                    .arg(obj),
            );
            assert!(
                lc.contains("cmd LC_BUILD_VERSION") && lc.contains("platform macos"),
                "{lc}"
            );
            assert!(
                has(sec, "Segment: __TEXT (") && has(sec, "Type: Regular"),
                "{sec}"
            );
            assert!(!has(sec, "Instructions"), "{sec}");
            assert!(has(sec, &format!("Size: {:#X}\n", info.size)), "{sec}");
        }
        Fmt::Coff => {
            assert!(
                has(sec, "IMAGE_SCN_CNT_INITIALIZED_DATA") && has(sec, "IMAGE_SCN_MEM_READ"),
                "{sec}"
            );
            for bad in [
                "MEM_WRITE",
                "MEM_EXECUTE",
                "CNT_CODE",
                "LNK_REMOVE",
                "DISCARDABLE",
                "LNK_INFO",
            ] {
                assert!(!has(sec, bad), "{bad} in {sec}");
            }
            assert!(has(sec, &format!("RawDataSize: {}\n", info.size)), "{sec}");
        }
    }
    if fmt != Fmt::Elf {
        for s in &sections {
            assert!(has(s, "RelocationCount: 0\n"), "{s}");
        }
    }
    let syms = blocks(&out, "Symbol {");
    let sym = syms
        .iter()
        .find(|b| {
            b.contains(&format!("Name: {symbol} (")) || b.contains(&format!("Name: {symbol}\n"))
        })
        .unwrap_or_else(|| panic!("no symbol {symbol} in:\n{out}"));
    match fmt {
        Fmt::Elf => {
            assert!(
                has(sym, "Binding: Global") && has(sym, "Type: Object"),
                "{sym}"
            );
            assert!(has(sym, &format!("Size: {}\n", info.size)), "{sym}");
            assert!(has(sym, "Section: objfreeze ("), "{sym}");
        }
        Fmt::MachO => {
            assert!(
                has(sym, "\n    Extern\n") && has(sym, "Section: __objfreeze ("),
                "{sym}"
            );
        }
        Fmt::Coff => {
            assert!(
                has(sym, "StorageClass: External") && has(sym, "Section: .objfrz$m ("),
                "{sym}"
            );
        }
    }
    info
}

/// What listing.c must print: the table at `symbol` (if any) read directly,
/// then every linked table in link order.
/// With `second`, listing.c was built with -DSECOND_TU.
fn expected_listing(
    direct: Option<(&str, &TableInfo)>,
    linked: &[&TableInfo],
    second: bool,
) -> String {
    let mut s = String::new();
    if let Some((sym, t)) = direct {
        s += &format!(
            "table {sym} check=0 count={} tag={:x}\n",
            t.modules.len(),
            t.tag
        );
        for m in &t.modules {
            s += &format!(
                "module {} size={} pkg={} sum={:x} find=ok\n",
                m.name, m.size, m.package as u8, m.sum
            );
        }
        s += &format!("absent probes={} found=0\n", 2 * t.modules.len() + 4);
    }
    for (i, t) in linked.iter().enumerate() {
        s += &format!("linked {i} check=0 count={}\n", t.modules.len());
        for m in &t.modules {
            let first = linked
                .iter()
                .position(|u| u.modules.iter().any(|x| x.name == m.name))
                .unwrap();
            s += &format!(
                "lmodule {i} {} size={} pkg={} sum={:x} first={first}\n",
                m.name, m.size, m.package as u8, m.sum
            );
        }
    }
    s += &format!("lfind-absent null=1\nlinked-tables {}\n", linked.len());
    if second {
        s += &format!("second-tu {}\n", linked.len());
    }
    s += "end\n";
    s
}

#[track_caller]
fn assert_listing(got: &str, want: &str, what: &str) {
    if got != want {
        let diff: Vec<String> = got
            .lines()
            .zip(want.lines())
            .filter(|(g, w)| g != w)
            .take(5)
            .map(|(g, w)| format!("  got:  {g}\n  want: {w}"))
            .collect();
        panic!(
            "{what}: listing differs ({} lines, want {}):\n{}\n--- full output\n{got}",
            got.lines().count(),
            want.lines().count(),
            diff.join("\n")
        );
    }
}

const SYM: &str = "objfreeze_modules";

// ---- ELF -------------------------------------------------------------------

/// Build, check, link listing.c with `cc`, run it under `runner`, compare.
fn elf_target(triple: &str, cc: &str, runner: &[&str]) {
    let mut tools = vec![cc, "llvm-readobj"];
    tools.extend(runner.first().copied());
    if !have_all(&tools) {
        return;
    }
    let Some(inputs) = inputs() else { return };
    let dir = workdir(triple);
    let obj = build_obj(&dir, "table.o", triple, None, &inputs.all());
    let info = check_object(&obj, Fmt::Elf, SYM, inputs);
    let exe = dir.join("listing");
    quiet(
        Command::new(cc)
            .args(CFLAGS)
            .arg(include())
            .arg(format!("-DTABLE={SYM}"))
            .arg(listing_c())
            .arg(&obj)
            .arg("-o")
            .arg(&exe),
    );
    let want = expected_listing(Some((SYM, &info)), &[&info], false);
    assert_listing(&run_program(runner, &exe), &want, triple);
}

fn qemu(arch: &str, sysroot: &str) -> [String; 3] {
    [
        format!("qemu-{arch}"),
        "-L".into(),
        format!("/usr/{sysroot}"),
    ]
}

fn elf_qemu(triple: &str, gnu: &str, qemu_arch: &str) {
    let q = qemu(qemu_arch, gnu);
    let r: Vec<&str> = q.iter().map(String::as_str).collect();
    elf_target(triple, &format!("{gnu}-gcc"), &r);
}

#[test]
fn elf_x86_64_native_gnu_ld_and_lld_pie_nopie_gc_sections() {
    if !have_all(&["gcc", "clang", "ld.lld", "llvm-readobj"]) {
        return;
    }
    let Some(inputs) = inputs() else { return };
    let triple = "x86_64-unknown-linux-gnu";
    let dir = workdir(triple);
    let obj = build_obj(&dir, "table.o", triple, None, &inputs.all());
    let info = check_object(&obj, Fmt::Elf, SYM, inputs);
    let want = expected_listing(Some((SYM, &info)), &[&info], false);
    for cc in ["gcc", "clang"] {
        for ld in ["bfd", "lld"] {
            for pie in ["-pie", "-no-pie"] {
                for gc in [false, true] {
                    let what = format!("{cc} -fuse-ld={ld} {pie} gc-sections={gc}");
                    let exe = dir.join(format!("listing-{cc}-{ld}{pie}-{gc}"));
                    let mut cmd = Command::new(cc);
                    cmd.args(CFLAGS)
                        .arg(include())
                        .arg(format!("-fuse-ld={ld}"))
                        .arg(pie);
                    if gc {
                        cmd.args(GC);
                    }
                    cmd.arg(format!("-DTABLE={SYM}"))
                        .arg(listing_c())
                        .arg(&obj)
                        .arg("-o")
                        .arg(&exe);
                    quiet(&mut cmd);
                    assert_listing(&stdout(&mut Command::new(&exe)), &want, &what);
                }
            }
        }
    }
}

#[test]
fn elf_i686_qemu() {
    elf_qemu("i686-unknown-linux-gnu", "i686-linux-gnu", "i386");
}

#[test]
fn elf_aarch64_qemu() {
    elf_qemu("aarch64-unknown-linux-gnu", "aarch64-linux-gnu", "aarch64");
}

#[test]
fn elf_armv7hf_qemu() {
    elf_qemu(
        "armv7-unknown-linux-gnueabihf",
        "arm-linux-gnueabihf",
        "arm",
    );
}

#[test]
fn elf_riscv64_qemu() {
    elf_qemu(
        "riscv64gc-unknown-linux-gnu",
        "riscv64-linux-gnu",
        "riscv64",
    );
}

/// Big-endian: the C program reads the header and index natively.
#[test]
fn elf_s390x_qemu_big_endian() {
    elf_qemu("s390x-unknown-linux-gnu", "s390x-linux-gnu", "s390x");
}

#[test]
fn elf_ppc64le_qemu() {
    elf_qemu(
        "powerpc64le-unknown-linux-gnu",
        "powerpc64le-linux-gnu",
        "ppc64le",
    );
}

// ---- COFF ------------------------------------------------------------------

/// An MSVC-style Windows toolchain: clang for the C, lld-link against
/// import libraries made from our .def files, no C runtime.
struct Msvc {
    clang_target: &'static str,
    machine: &'static str,
    dlltool_machine: &'static str,
    kernel32_def: &'static str,
}

const MSVC_X64: Msvc = Msvc {
    clang_target: "x86_64-pc-windows-msvc",
    machine: "x64",
    dlltool_machine: "i386:x86-64",
    kernel32_def: "kernel32.def",
};
const MSVC_X86: Msvc = Msvc {
    clang_target: "i686-pc-windows-msvc",
    machine: "x86",
    dlltool_machine: "i386",
    kernel32_def: "kernel32-i386.def",
};
const MSVC_ARM64: Msvc = Msvc {
    clang_target: "aarch64-pc-windows-msvc",
    machine: "arm64",
    dlltool_machine: "arm64",
    kernel32_def: "kernel32.def",
};

fn msvc_tools() -> bool {
    have_all(&["clang", "lld-link", "llvm-dlltool", "llvm-readobj"])
}

impl Msvc {
    /// Compile listing.c (with `-DTABLE=` when `table` is set; with
    /// second_tu.c compiled as C++ when `second` is) and link it with `objs`
    /// (tables, padding) into `exe`.
    fn link(&self, dir: &Path, table: bool, second: bool, objs: &[&Path], exe: &Path) {
        let mut libs = Vec::new();
        for def in [self.kernel32_def, "ntdll.def"] {
            let lib = dir.join(def.replace(".def", ".lib"));
            let mut cmd = Command::new("llvm-dlltool");
            cmd.args(["-m", self.dlltool_machine, "-d"])
                .arg(cdir().join(def))
                .arg("-l")
                .arg(&lib);
            if self.machine == "x86" {
                cmd.arg("-k");
            }
            quiet(&mut cmd);
            libs.push(lib);
        }
        let main = exe.with_extension("main.obj");
        let mut cc = Command::new("clang");
        cc.arg(format!("--target={}", self.clang_target))
            .arg("-ffreestanding")
            .args(CFLAGS)
            .arg(include())
            .arg(format!("-I{}", cdir().join("sdkstub").display()))
            .arg("-DLISTING_NOCRT");
        if table {
            cc.arg(format!("-DTABLE={SYM}"));
        }
        let mut mains = vec![main.clone()];
        if second {
            cc.arg("-DSECOND_TU");
            let obj = exe.with_extension("second.obj");
            quiet(
                Command::new("clang")
                    .arg(format!("--target={}", self.clang_target))
                    .arg("-ffreestanding")
                    .args(CXXFLAGS)
                    .arg(include())
                    .arg(format!("-I{}", cdir().join("sdkstub").display()))
                    .arg("-c")
                    .arg(second_tu_c())
                    .arg("-o")
                    .arg(&obj),
            );
            mains.push(obj);
        }
        quiet(cc.arg("-c").arg(listing_c()).arg("-o").arg(&main));
        quiet(
            Command::new("lld-link")
                // /opt:ref (lld-link's default without /debug) collects
                // unreferenced COMDATs; tables are not COMDAT, so they stay
                .args(["/nologo", "/subsystem:console", "/nodefaultlib", "/opt:ref"])
                .arg(format!("/machine:{}", self.machine))
                .arg(format!("/out:{}", exe.display()))
                .args(&mains)
                .args(objs)
                .args(&libs),
        );
    }

    fn compile_pad(&self, dir: &Path) -> PathBuf {
        let pad = dir.join("pad.obj");
        quiet(
            Command::new("clang")
                .arg(format!("--target={}", self.clang_target))
                .args(CFLAGS)
                .arg("-c")
                .arg(cdir().join("pad.c"))
                .arg("-o")
                .arg(&pad),
        );
        pad
    }
}

/// With `second`, second_tu.c is compiled as C beside listing.c.
fn mingw_link(cc: &str, extra: &[&str], table: bool, second: bool, objs: &[&Path], exe: &Path) {
    let mut cmd = Command::new(cc);
    cmd.args(CFLAGS).arg(include()).args(extra);
    if table {
        cmd.arg(format!("-DTABLE={SYM}"));
    }
    if second {
        cmd.arg("-DSECOND_TU").arg(second_tu_c());
    }
    quiet(cmd.arg(listing_c()).args(objs).arg("-o").arg(exe));
}

/// A linked PE image holds the table unchanged in a read-only `.objfrz`
/// section (the `$a`/`$m`/`$z` parts merged).
/// Returns the section's VirtualSize.
fn check_pe_image(exe: &Path, tables_want: &[&TableInfo], inputs: &Inputs) -> u64 {
    let got = tables(exe, inputs);
    let mut digests: Vec<&str> = got.iter().map(|t| t.digest.as_str()).collect();
    let mut want: Vec<&str> = tables_want.iter().map(|t| t.digest.as_str()).collect();
    digests.sort();
    want.sort();
    assert_eq!(digests, want, "{}", exe.display());
    let out = stdout(Command::new("llvm-readobj").arg("--sections").arg(exe));
    let secs = blocks(&out, "Section {");
    let sec = secs
        .iter()
        .find(|b| b.contains("Name: .objfrz ("))
        .unwrap_or_else(|| panic!("no .objfrz section in {}:\n{out}", exe.display()));
    assert!(sec.contains("IMAGE_SCN_MEM_READ"), "{sec}");
    assert!(
        !sec.contains("MEM_WRITE") && !sec.contains("MEM_EXECUTE"),
        "{sec}"
    );
    let vsize = sec
        .lines()
        .find_map(|l| l.trim().strip_prefix("VirtualSize: 0x"))
        .unwrap();
    u64::from_str_radix(vsize, 16).unwrap()
}

fn coff_object(triple: &str, inputs: &Inputs, underscore: bool) -> (PathBuf, PathBuf, TableInfo) {
    let dir = workdir(triple);
    let obj = build_obj(&dir, "table.obj", triple, None, &inputs.all());
    let sym = if underscore {
        format!("_{SYM}")
    } else {
        SYM.to_string()
    };
    let info = check_object(&obj, Fmt::Coff, &sym, inputs);
    (dir, obj, info)
}

#[test]
fn coff_x86_64_mingw_gnu_ld_and_lld_wine() {
    let cc = "x86_64-w64-mingw32-gcc";
    if !have_all(&[cc, "ld.lld", "wine", "llvm-readobj"]) {
        return;
    }
    let Some(inputs) = inputs() else { return };
    let (dir, obj, info) = coff_object("x86_64-pc-windows-gnu", inputs, false);
    let want = expected_listing(Some((SYM, &info)), &[&info], false);
    for (name, extra) in [("bfd", &[][..]), ("lld", &["-fuse-ld=lld"][..])] {
        let exe = dir.join(format!("listing-{name}.exe"));
        mingw_link(cc, extra, true, false, &[&obj], &exe);
        check_pe_image(&exe, &[&info], inputs);
        assert_listing(&wine(&exe), &want, &format!("mingw {name}"));
    }
}

#[test]
fn coff_x86_64_msvc_lld_link_wine() {
    if !msvc_tools() || !have("wine") {
        return;
    }
    let Some(inputs) = inputs() else { return };
    let (dir, obj, info) = coff_object("x86_64-pc-windows-msvc", inputs, false);
    let exe = dir.join("listing.exe");
    MSVC_X64.link(&dir, true, false, &[&obj], &exe);
    check_pe_image(&exe, &[&info], inputs);
    let want = expected_listing(Some((SYM, &info)), &[&info], false);
    assert_listing(&wine(&exe), &want, "msvc x86_64");
}

/// No 32-bit wine here: linked, and the image inspected.
#[test]
fn coff_i686_mingw_link() {
    let cc = "i686-w64-mingw32-gcc";
    if !have_all(&[cc, "llvm-readobj"]) {
        return;
    }
    let Some(inputs) = inputs() else { return };
    let (dir, obj, info) = coff_object("i686-pc-windows-gnu", inputs, true);
    let exe = dir.join("listing.exe");
    mingw_link(cc, &[], true, false, &[&obj], &exe);
    check_pe_image(&exe, &[&info], inputs);
}

#[test]
fn coff_i686_msvc_lld_link() {
    if !msvc_tools() {
        return;
    }
    let Some(inputs) = inputs() else { return };
    let (dir, obj, info) = coff_object("i686-pc-windows-msvc", inputs, true);
    let exe = dir.join("listing.exe");
    MSVC_X86.link(&dir, true, false, &[&obj], &exe);
    check_pe_image(&exe, &[&info], inputs);
}

#[test]
fn coff_aarch64_msvc_lld_link() {
    if !msvc_tools() {
        return;
    }
    let Some(inputs) = inputs() else { return };
    let (dir, obj, info) = coff_object("aarch64-pc-windows-msvc", inputs, false);
    let exe = dir.join("listing.exe");
    MSVC_ARM64.link(&dir, true, false, &[&obj], &exe);
    check_pe_image(&exe, &[&info], inputs);
}

// ---- Mach-O ----------------------------------------------------------------

struct Mac {
    triple: &'static str,
    clang_target: &'static str,
    arch: &'static str,
    version: &'static str,
}

/// 10.9: the deployment target of CPython's macOS installers; our objects
/// must not be "newer than the target minimum".
const MAC_X64: Mac = Mac {
    triple: "x86_64-apple-darwin",
    clang_target: "x86_64-apple-macos10.9",
    arch: "x86_64",
    version: "10.9",
};
const MAC_ARM64: Mac = Mac {
    triple: "aarch64-apple-darwin",
    clang_target: "arm64-apple-macos11",
    arch: "arm64",
    version: "11.0",
};

const LD64: &str = "ld64.lld-14";

fn macho_tools() -> bool {
    have_all(&["clang", LD64, "llvm-objdump", "llvm-nm", "llvm-readobj"])
}

impl Mac {
    fn compile(&self, src: &Path, table: bool, out: &Path) {
        self.compile_with(CFLAGS, src, table, out)
    }

    fn compile_with(&self, flags: &[&str], src: &Path, table: bool, out: &Path) {
        let mut cc = Command::new("clang");
        cc.arg(format!("--target={}", self.clang_target))
            .arg("-ffreestanding")
            .args(flags)
            .arg(include())
            .arg(format!("-I{}", cdir().join("sdkstub").display()));
        if table {
            cc.arg(format!("-DTABLE={SYM}"));
        }
        quiet(cc.arg("-c").arg(src).arg("-o").arg(out));
    }

    /// Link an executable against the libSystem stub: no output allowed.
    fn link(&self, objs: &[&Path], dead_strip: bool, exe: &Path) {
        let mut cmd = Command::new(LD64);
        cmd.args([
            "-arch",
            self.arch,
            "-platform_version",
            "macos",
            self.version,
            self.version,
        ]);
        if dead_strip {
            cmd.arg("-dead_strip");
        }
        cmd.args(objs)
            .arg(format!("-L{}", cdir().display()))
            .arg("-lSystem")
            .arg("-o")
            .arg(exe);
        quiet(&mut cmd);
    }
}

/// The `__TEXT,__objfreeze` section of a linked Mach-O image: its size from
/// `llvm-objdump --macho -h`, its bytes from `llvm-objdump -s`.
fn macho_section(exe: &Path) -> (u64, Vec<u8>) {
    let h = stdout(
        Command::new("llvm-objdump")
            .args(["--macho", "-h"])
            .arg(exe),
    );
    let line = h
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("__objfreeze"))
        .unwrap_or_else(|| panic!("no __objfreeze section in {}:\n{h}", exe.display()));
    let size = u64::from_str_radix(line.split_whitespace().nth(2).unwrap(), 16).unwrap();
    let s = stdout(
        Command::new("llvm-objdump")
            .args(["-s", "-j", "__objfreeze"])
            .arg(exe),
    );
    let mut bytes = Vec::new();
    for l in s.lines().filter(|l| l.starts_with(' ')) {
        // " ADDR w0 w1 w2 w3  ascii": the hex is the 35 columns after ADDR.
        let (_, after) = l.trim_start().split_once(' ').unwrap();
        for w in after[..after.len().min(35)].split_whitespace() {
            for i in (0..w.len()).step_by(2) {
                bytes.push(u8::from_str_radix(&w[i..i + 2], 16).unwrap());
            }
        }
    }
    assert_eq!(
        bytes.len() as u64,
        size,
        "section dump of {}",
        exe.display()
    );
    (size, bytes)
}

/// Tables in a section's bytes, walked as the header does: magic at a
/// 4-byte boundary, then skip total_size; anything else is padding and must
/// be zero. Returns (offset, total_size, digest hex) per table.
fn walk_section(bytes: &[u8]) -> Vec<(usize, u64, String)> {
    let mut out = Vec::new();
    let mut p = 0;
    while p + 96 <= bytes.len() {
        if &bytes[p..p + 8] == b"OBJFREEZ" {
            let total = u32::from_le_bytes(bytes[p + 44..p + 48].try_into().unwrap()) as usize;
            let digest: String = bytes[p + 64..p + 96]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            out.push((p, total as u64, digest));
            p += total;
        } else {
            assert_eq!(&bytes[p..p + 4], &[0; 4], "non-zero padding at {p:#x}");
            p += 4;
        }
    }
    out
}

fn macho_target(mac: &Mac) {
    if !macho_tools() {
        return;
    }
    let Some(inputs) = inputs() else { return };
    let dir = workdir(mac.triple);
    let obj = build_obj(&dir, "table.o", mac.triple, None, &inputs.all());
    let info = check_object(&obj, Fmt::MachO, &format!("_{SYM}"), inputs);
    let main = dir.join("listing.o");
    mac.compile(&listing_c(), true, &main);
    for dead_strip in [false, true] {
        let exe = dir.join(format!("listing-{dead_strip}"));
        mac.link(&[&main, &obj], dead_strip, &exe);
        let (size, bytes) = macho_section(&exe);
        assert_eq!(size, info.size);
        assert_eq!(
            walk_section(&bytes),
            vec![(0, info.size, info.digest.clone())]
        );
        let nm = stdout(Command::new("llvm-nm").arg("-m").arg(&exe));
        // Hidden by default (private extern): kept in the link, not exported.
        assert!(
            nm.contains(&format!(
                "(__TEXT,__objfreeze) non-external (was a private external) _{SYM}\n"
            )),
            "{nm}"
        );
        let got = tables(&exe, inputs);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].digest, info.digest);
        let lc = stdout(
            Command::new("llvm-objdump")
                .args(["--macho", "--private-headers"])
                .arg(&exe),
        );
        assert!(
            lc.contains("LC_BUILD_VERSION") || lc.contains("LC_VERSION_MIN"),
            "{lc}"
        );
    }
}

#[test]
fn macho_x86_64_ld64_lld_link() {
    macho_target(&MAC_X64);
}

#[test]
fn macho_aarch64_ld64_lld_link() {
    macho_target(&MAC_ARM64);
}

// ---- linker-collected tables ---------------------------------------------

/// The three tables: `stdlib` (the first 12 modules), `app` (the next 10,
/// plus one name that `stdlib` has too, which linked_find must take from
/// `stdlib`, the first) and `plugins` (the `json` package and the rest).
fn three_args(inputs: &Inputs) -> [(&'static str, Vec<String>); 3] {
    let names: Vec<&String> = inputs
        .modules
        .keys()
        .filter(|n| !n.starts_with("json"))
        .collect();
    let stdlib: Vec<&String> = names[..12].to_vec();
    let app: Vec<&String> = names[12..22].to_vec();
    let shared = stdlib[0].clone();
    let mut app_args = inputs.args(|n| app.iter().any(|a| *a == n));
    app_args.extend(inputs.args(|n| n == shared));
    [
        ("stdlib", inputs.args(|n| stdlib.iter().any(|a| *a == n))),
        ("app", app_args),
        (
            "plugins",
            inputs.args(|n| n.starts_with("json") || names[22..].iter().any(|a| *a == n)),
        ),
    ]
}

/// Build the three tables for `triple`; returns their objects (in link
/// order) and what inspect says about each.
fn three_tables(
    dir: &Path,
    triple: &str,
    ext: &str,
    inputs: &Inputs,
) -> (Vec<PathBuf>, Vec<TableInfo>) {
    let mut objs = Vec::new();
    let mut infos = Vec::new();
    for (name, args) in three_args(inputs) {
        let obj = build_obj(
            dir,
            &format!("{name}.{ext}"),
            triple,
            Some(&format!("{name}_modules")),
            &args,
        );
        infos.push(one_table(&obj, inputs));
        objs.push(obj);
    }
    (objs, infos)
}

/// stdlib, pad, app, pad, plugins.
fn with_pads<'a>(objs: &'a [PathBuf], pad: &'a Path) -> Vec<&'a Path> {
    vec![&objs[0], pad, &objs[1], pad, &objs[2]]
}

/// `cxx`: compile second_tu.c as C++ with it (else as C with `cc`).
fn linked_elf(triple: &str, cc: &str, cxx: Option<&str>, runner: &[&str], variants: &[&[&str]]) {
    let Some(inputs) = inputs() else { return };
    let dir = workdir(&format!("linked-{triple}"));
    let (objs, infos) = three_tables(&dir, triple, "o", inputs);
    let pad = dir.join("pad.o");
    quiet(
        Command::new(cc)
            .args(CFLAGS)
            .arg("-c")
            .arg(cdir().join("pad.c"))
            .arg("-o")
            .arg(&pad),
    );
    let second = dir.join("second_tu.o");
    let mut c2 = match cxx {
        Some(cxx) => {
            let mut c = Command::new(cxx);
            c.args(CXXFLAGS);
            c
        }
        None => {
            let mut c = Command::new(cc);
            c.args(CFLAGS);
            c
        }
    };
    quiet(
        c2.arg(include())
            .arg("-c")
            .arg(second_tu_c())
            .arg("-o")
            .arg(&second),
    );
    let linked: Vec<&TableInfo> = infos.iter().collect();
    let want = expected_listing(None, &linked, true);
    let want_none = expected_listing(None, &[], true);
    let sum: u64 = infos.iter().map(|t| t.size).sum();
    for (i, flags) in variants.iter().enumerate() {
        let what = format!("{cc} {}", flags.join(" "));
        let exe = dir.join(format!("linked-{i}"));
        quiet(
            Command::new(cc)
                .args(CFLAGS)
                .arg(include())
                .args(*flags)
                .arg("-DSECOND_TU")
                .arg(listing_c())
                .arg(&second)
                .args(with_pads(&objs, &pad))
                .arg("-o")
                .arg(&exe),
        );
        assert_listing(&run_program(runner, &exe), &want, &what);
        // the walk crossed real padding
        let out = stdout(Command::new("llvm-readobj").arg("--sections").arg(&exe));
        let secs = blocks(&out, "Section {");
        let sec = secs
            .iter()
            .find(|b| b.contains("Name: objfreeze ("))
            .expect("objfreeze section");
        let size: u64 = sec
            .lines()
            .find_map(|l| l.trim().strip_prefix("Size: "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            size > sum,
            "{what}: section {size} bytes, tables {sum}: no padding"
        );
        let none = dir.join(format!("none-{i}"));
        quiet(
            Command::new(cc)
                .args(CFLAGS)
                .arg(include())
                .args(*flags)
                .arg("-DSECOND_TU")
                .arg(listing_c())
                .arg(&second)
                .arg("-o")
                .arg(&none),
        );
        assert_listing(
            &run_program(runner, &none),
            &want_none,
            &format!("{what}, no table"),
        );
    }
}

const GC: [&str; 3] = [
    "-ffunction-sections",
    "-fdata-sections",
    "-Wl,--gc-sections",
];

#[test]
fn linked_tables_elf_native() {
    if !have_all(&["gcc", "g++", "ld.lld", "llvm-readobj"]) {
        return;
    }
    let v: Vec<Vec<&str>> = ["-fuse-ld=bfd", "-fuse-ld=lld"]
        .iter()
        .flat_map(|ld| {
            ["-pie", "-no-pie"].iter().map(move |pie| {
                let mut f = vec![*ld, *pie];
                f.extend(GC);
                f
            })
        })
        .collect();
    let v: Vec<&[&str]> = v.iter().map(Vec::as_slice).collect();
    linked_elf("x86_64-unknown-linux-gnu", "gcc", Some("g++"), &[], &v);
}

#[test]
fn linked_tables_elf_aarch64_qemu() {
    let cc = "aarch64-linux-gnu-gcc";
    if !have_all(&[cc, "qemu-aarch64", "llvm-readobj"]) {
        return;
    }
    let q = qemu("aarch64", "aarch64-linux-gnu");
    let r: Vec<&str> = q.iter().map(String::as_str).collect();
    linked_elf(
        "aarch64-unknown-linux-gnu",
        cc,
        None,
        &r,
        &[&GC[..], &[][..]],
    );
}

#[test]
fn linked_tables_coff_wine() {
    let cc = "x86_64-w64-mingw32-gcc";
    if !msvc_tools() || !have_all(&[cc, "wine"]) {
        return;
    }
    let Some(inputs) = inputs() else { return };
    for (kind, triple) in [
        ("mingw", "x86_64-pc-windows-gnu"),
        ("msvc", "x86_64-pc-windows-msvc"),
    ] {
        let dir = workdir(&format!("linked-{triple}"));
        let (objs, infos) = three_tables(&dir, triple, "obj", inputs);
        let linked: Vec<&TableInfo> = infos.iter().collect();
        let exe = dir.join("linked.exe");
        let none = dir.join("none.exe");
        if kind == "mingw" {
            let pad = dir.join("pad.obj");
            quiet(
                Command::new(cc)
                    .args(CFLAGS)
                    .arg("-c")
                    .arg(cdir().join("pad.c"))
                    .arg("-o")
                    .arg(&pad),
            );
            mingw_link(cc, &[], false, true, &with_pads(&objs, &pad), &exe);
            mingw_link(cc, &[], false, true, &[], &none);
        } else {
            let pad = MSVC_X64.compile_pad(&dir);
            MSVC_X64.link(&dir, false, true, &with_pads(&objs, &pad), &exe);
            MSVC_X64.link(&dir, false, true, &[], &none);
        }
        let size = check_pe_image(&exe, &linked, inputs);
        // the walk crossed real padding: more than the tables and the two
        // 16-byte markers
        let sum: u64 = infos.iter().map(|t| t.size).sum();
        assert!(
            size > sum + 32,
            "{kind}: .objfrz {size} bytes, tables {sum}: no padding"
        );
        assert_listing(&wine(&exe), &expected_listing(None, &linked, true), kind);
        assert_listing(
            &wine(&none),
            &expected_listing(None, &[], true),
            &format!("{kind}, no table"),
        );
        if kind == "mingw" {
            // mingw's --gc-sections (GNU ld and lld alike) collects any
            // section nothing refers to, and COFF has no flag to keep one:
            // unnamed tables vanish; naming each with -u keeps them.
            for ld in ["-fuse-ld=bfd", "-fuse-ld=lld"] {
                let gc = dir.join(format!("gc{ld}.exe"));
                let mut flags = vec![ld];
                flags.extend(GC);
                mingw_link(
                    cc,
                    &flags,
                    false,
                    true,
                    &objs.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
                    &gc,
                );
                assert_listing(
                    &wine(&gc),
                    &expected_listing(None, &[], true),
                    &format!("mingw {ld} gc, unnamed"),
                );
                flags.push("-Wl,-u,stdlib_modules,-u,app_modules,-u,plugins_modules");
                mingw_link(
                    cc,
                    &flags,
                    false,
                    true,
                    &objs.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
                    &gc,
                );
                assert_listing(
                    &wine(&gc),
                    &expected_listing(None, &linked, true),
                    &format!("mingw {ld} gc, -u"),
                );
            }
        }
    }
}

/// Nothing runs Mach-O here: link with -dead_strip and nothing naming the
/// tables, then read the section back with llvm-objdump.
#[test]
fn linked_tables_macho_link() {
    if !macho_tools() {
        return;
    }
    let Some(inputs) = inputs() else { return };
    for mac in [&MAC_X64, &MAC_ARM64] {
        let dir = workdir(&format!("linked-{}", mac.triple));
        let (objs, infos) = three_tables(&dir, mac.triple, "o", inputs);
        let pad = dir.join("pad.o");
        mac.compile(&cdir().join("pad.c"), false, &pad);
        let main = dir.join("listing.o");
        let flags: Vec<&str> = CFLAGS.iter().copied().chain(["-DSECOND_TU"]).collect();
        mac.compile_with(&flags, &listing_c(), false, &main);
        let second = dir.join("second_tu.o");
        // no C++ standard library here, and the header needs none
        let cxx: Vec<&str> = CXXFLAGS.iter().copied().chain(["-nostdinc++"]).collect();
        mac.compile_with(&cxx, &second_tu_c(), false, &second);
        let mut all = vec![main.as_path(), second.as_path()];
        all.extend(with_pads(&objs, &pad));
        for dead_strip in [false, true] {
            let exe = dir.join(format!("linked-{dead_strip}"));
            mac.link(&all, dead_strip, &exe);
            let (size, bytes) = macho_section(&exe);
            let walked = walk_section(&bytes);
            let got: Vec<(u64, &str)> = walked.iter().map(|(_, s, d)| (*s, d.as_str())).collect();
            let want: Vec<(u64, &str)> =
                infos.iter().map(|t| (t.size, t.digest.as_str())).collect();
            assert_eq!(got, want, "{}: tables in __objfreeze", exe.display());
            assert!(
                size > want.iter().map(|w| w.0).sum::<u64>(),
                "no padding between tables"
            );
            let nm = stdout(Command::new("llvm-nm").arg("-m").arg(&exe));
            for n in ["stdlib", "app", "plugins"] {
                assert!(
                    nm.contains(&format!(
                        "(__TEXT,__objfreeze) non-external (was a private external) _{n}_modules\n"
                    )),
                    "{nm}"
                );
            }
        }
        // a program that links no table still links: the section is empty
        let none = dir.join("none");
        mac.link(&[&main, &second], true, &none);
        let (size, _) = macho_section(&none);
        assert_eq!(size, 0);
    }
}

// ---- the list itself ------------------------------------------------------

/// Every target `objfreeze targets` prints has its test above.
#[test]
fn every_listed_target_is_tested() {
    let tested = [
        "x86_64-unknown-linux-gnu",
        "i686-unknown-linux-gnu",
        "aarch64-unknown-linux-gnu",
        "armv7-unknown-linux-gnueabihf",
        "riscv64gc-unknown-linux-gnu",
        "s390x-unknown-linux-gnu",
        "powerpc64le-unknown-linux-gnu",
        "x86_64-apple-darwin",
        "aarch64-apple-darwin",
        "x86_64-pc-windows-msvc",
        "x86_64-pc-windows-gnu",
        "i686-pc-windows-msvc",
        "i686-pc-windows-gnu",
        "aarch64-pc-windows-msvc",
    ];
    let out = stdout(objfreeze().arg("targets"));
    let listed: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut a = listed.clone();
    a.sort();
    let mut b = tested.to_vec();
    b.sort();
    assert_eq!(a, b, "objfreeze targets:\n{out}");
}
