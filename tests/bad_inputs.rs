//! Bad inputs to `objfreeze build`, one case each. Every case must fail with
//! a non-zero exit and a message naming the file or field and the problem,
//! must create no output when there was none, and must leave an existing
//! output byte-identical (and no stray temporary file beside it).

mod common;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use objfreeze::cpython::pyc::to_pyc;

/// 3.11's magic, as the table tag.
const MAGIC_311: u32 = 0x0a0d_0da7;
const MAGIC_312: u32 = 0x0a0d_0dcb;

/// Bytes that stand in for a previous build's object.
const OLD_OUTPUT: &[u8] = b"previous output: must survive a failed build byte for byte";

struct Case {
    name: &'static str,
    /// Arguments after `build`; `{in}` and `{out}` are replaced by the input
    /// directory and the output path.
    args: Vec<OsString>,
    /// Every one of these must appear in stderr.
    expect: Vec<String>,
    /// Where the output goes, if not `out/x.o` in a fresh directory.
    output: Option<PathBuf>,
    /// The output path already holds an input: the "previous output" is that input.
    output_is_input: bool,
}

fn case(name: &'static str, args: &[&str], expect: &[&str]) -> Case {
    Case {
        name,
        args: args.iter().map(OsString::from).collect(),
        expect: expect.iter().map(|s| s.to_string()).collect(),
        output: None,
        output_is_input: false,
    }
}

fn write(p: &Path, bytes: &[u8]) {
    std::fs::write(p, bytes).unwrap();
}

/// Every file under `dir` with its bytes, sorted.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            // The sparse 4 GiB input is compared by size alone.
            let b = match std::fs::metadata(&p) {
                Ok(m) if m.is_file() && m.len() < 1 << 20 => std::fs::read(&p).unwrap(),
                Ok(m) => m.len().to_le_bytes().to_vec(),
                Err(_) => Vec::new(),
            };
            (p, b)
        })
        .collect();
    v.sort();
    v
}

fn is_root() -> bool {
    // SAFETY-free check: root can read a file with mode 000.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// The inputs every case draws on.
fn inputs(dir: &Path) {
    let code = b"\xe3\x00\x00\x00\x00marshal";
    write(&dir.join("a.pyc"), &to_pyc(MAGIC_311, code));
    write(&dir.join("p.pyc"), &to_pyc(MAGIC_311, code));
    write(&dir.join("b312.pyc"), &to_pyc(MAGIC_312, code));
    write(&dir.join("empty.pyc"), b"");
    write(&dir.join("short.pyc"), &to_pyc(MAGIC_311, code)[..3]);
    write(&dir.join("header-only.pyc"), &to_pyc(MAGIC_311, b""));
    write(
        &dir.join("badmagic.pyc"),
        b"\x7fELF\x02\x01\x01\x00rest of an ELF file",
    );
    let mut flags = to_pyc(MAGIC_311, code);
    flags[4] = 0x10;
    write(&dir.join("badflags.pyc"), &flags);
    let mut notcode = to_pyc(MAGIC_311, code);
    notcode[16] = b'N';
    write(&dir.join("notcode.pyc"), &notcode);
    write(&dir.join("list.marshal"), b"[\x00\x00\x00\x00");
    write(&dir.join("raw.bin"), b"\xe3raw code");
    std::fs::create_dir(dir.join("adir")).unwrap();
    // A socket: even root cannot open(2) it for reading.
    let sock = std::os::unix::net::UnixListener::bind(dir.join("socket.pyc")).unwrap();
    std::mem::forget(sock);
    write(&dir.join("mode000.pyc"), &to_pyc(MAGIC_311, code));
    std::fs::set_permissions(
        dir.join("mode000.pyc"),
        std::os::unix::fs::PermissionsExt::from_mode(0o000),
    )
    .unwrap();
    // One byte over the format's 4 GiB limit, without using the disk.
    let f = std::fs::File::create(dir.join("huge.bin")).unwrap();
    f.set_len(u64::from(u32::MAX) + 1).unwrap();
    // Two inputs that fit alone but not together (sizes differ, so they
    // cannot share storage).
    for (f, len) in [("half1.bin", 0x8100_0000u64), ("half2.bin", 0x8100_0100)] {
        std::fs::File::create(dir.join(f))
            .unwrap()
            .set_len(len)
            .unwrap();
    }
    std::os::unix::fs::symlink(dir.join("a.pyc"), dir.join("link-to-a.pyc")).unwrap();
}

fn cases(input: &Path, scratch: &Path) -> Vec<Case> {
    let i = |f: &str| input.join(f).display().to_string();
    let a = format!("a={}", i("a.pyc"));
    let mut v = vec![
        case(
            "missing input",
            &["-m", &format!("a={}", i("missing.pyc"))],
            &[&i("missing.pyc"), "cannot read", "No such file"],
        ),
        case(
            "unreadable input (socket)",
            &["-m", &format!("a={}", i("socket.pyc"))],
            &[&i("socket.pyc"), "cannot read"],
        ),
        case(
            "empty input",
            &["-m", &format!("a={}", i("empty.pyc"))],
            &[&i("empty.pyc"), "empty"],
        ),
        case(
            "directory as input",
            &["-m", &format!("a={}", i("adir"))],
            &[&i("adir"), "is a directory"],
        ),
        case(
            "truncated .pyc (3 bytes)",
            &["-m", &format!("a={}", i("short.pyc"))],
            &[&i("short.pyc"), "truncated .pyc"],
        ),
        case(
            ".pyc with only a header",
            &["-m", &format!("a={}", i("header-only.pyc"))],
            &[&i("header-only.pyc"), "truncated .pyc"],
        ),
        case(
            ".pyc with bad magic",
            &["-m", &format!("a={}", i("badmagic.pyc"))],
            &[&i("badmagic.pyc"), "bad magic"],
        ),
        case(
            ".pyc with undefined flags",
            &["-m", &format!("a={}", i("badflags.pyc"))],
            &[&i("badflags.pyc"), "flags 0x10"],
        ),
        case(
            ".pyc whose marshal data is not a code object",
            &["-m", &format!("a={}", i("notcode.pyc"))],
            &[&i("notcode.pyc"), "code object"],
        ),
        case(
            "raw marshal that is not a code object",
            &["--magic", "3495", "-m", &format!("a={}", i("list.marshal"))],
            &[&i("list.marshal"), "code object", "0x5b"],
        ),
        case(
            "mixed magics",
            &["-m", &a, "-m", &format!("b={}", i("b312.pyc"))],
            &[&i("b312.pyc"), &i("a.pyc"), "3.12", "3.11", "differs"],
        ),
        case(
            "--magic disagrees with a .pyc",
            &["--magic", "3531", "-m", &a],
            &["--magic 3531", &i("a.pyc"), "does not match"],
        ),
        case(
            ".pyc given with --interp lua",
            &["--interp", "lua", "-m", &a],
            &[&i("a.pyc"), "--interp lua"],
        ),
        case(
            "duplicate module name",
            &["-m", &a, "-m", &format!("a={}", i("p.pyc"))],
            &["`a`", "given twice", &i("a.pyc"), &i("p.pyc")],
        ),
        case(
            "alias duplicates a module",
            &[
                "-m",
                &a,
                "-p",
                &format!("p={}", i("p.pyc")),
                "--alias",
                "a=p",
            ],
            &["`a`", "given twice", &i("a.pyc"), "--alias"],
        ),
        case(
            "alias of a module not frozen",
            &["-m", &a, "--alias", "b=nothere"],
            &["--alias b=nothere", "no module `nothere`"],
        ),
        case(
            "module used as a package",
            &["-m", &a, "-m", &format!("a.b={}", i("p.pyc"))],
            &["`a`", "`a.b`", "package"],
        ),
        case(
            "empty module name",
            &["-m", &format!("={}", i("a.pyc"))],
            &["module name \"\"", "empty"],
        ),
        case(
            "name with a leading dot",
            &["-m", &format!(".a={}", i("a.pyc"))],
            &["\".a\"", "starts with a dot"],
        ),
        case(
            "name with an empty component",
            &["-m", &format!("a..b={}", i("a.pyc"))],
            &["\"a..b\"", "empty component"],
        ),
        case(
            "name with a trailing dot",
            &["-m", &format!("a.={}", i("a.pyc"))],
            &["\"a.\"", "empty component"],
        ),
        case(
            "name with a path separator",
            &["-m", &format!("a/b={}", i("a.pyc"))],
            &["\"a/b\"", "path separator"],
        ),
        case(
            "name with a space",
            &["-m", &format!("a b={}", i("a.pyc"))],
            &["\"a b\"", "whitespace"],
        ),
        case(
            "--module without =",
            &["-m", &i("a.pyc")],
            &["--module", &i("a.pyc"), "expected NAME=FILE"],
        ),
        case(
            "--package without a file",
            &["-p", "pkg="],
            &["--package", "pkg=", "expected NAME=FILE"],
        ),
        case(
            "unknown target",
            &["--target", "vax-dec-vms", "-m", &a],
            &["unknown target `vax-dec-vms`", "x86_64-unknown-linux-gnu"],
        ),
        case(
            "target triple without an OS",
            &["--target", "x86_64", "-m", &a],
            &["unknown target `x86_64`"],
        ),
        case(
            "Mach-O section name over 16 bytes",
            &[
                "--target",
                "aarch64-apple-darwin",
                "--section",
                "__TEXT,__objfreeze_too_long",
                "-m",
                &a,
            ],
            &["--section", "__objfreeze_too_long", "1 to 16 bytes"],
        ),
        case(
            "Mach-O segment name over 16 bytes",
            &[
                "--target",
                "x86_64-apple-darwin",
                "--section",
                "__TEXT_SEGMENT_LONG,__x",
                "-m",
                &a,
            ],
            &[
                "--section",
                "segment",
                "__TEXT_SEGMENT_LONG",
                "1 to 16 bytes",
            ],
        ),
        case(
            "Mach-O section without a segment",
            &[
                "--target",
                "aarch64-apple-darwin",
                "--section",
                "__objfreeze",
                "-m",
                &a,
            ],
            &["--section \"__objfreeze\"", "SEGMENT,SECTION"],
        ),
        case(
            "ELF section in Mach-O syntax",
            &[
                "--target",
                "aarch64-linux-gnu",
                "--section",
                "__TEXT,__x",
                "-m",
                &a,
            ],
            &["--section \"__TEXT,__x\"", "ELF"],
        ),
        case(
            "section name with a space",
            &["--section", "my section", "-m", &a],
            &["--section \"my section\"", "without spaces"],
        ),
        case(
            "empty section name",
            &["--section", "", "-m", &a],
            &["--section \"\"", "non-empty"],
        ),
        case(
            "symbol that is not a C identifier",
            &["--symbol", "9lives", "-m", &a],
            &["--symbol \"9lives\"", "C identifier"],
        ),
        case(
            "symbol with a dash",
            &["--symbol", "my-table", "-m", &a],
            &["--symbol \"my-table\"", "C identifier"],
        ),
        case(
            "bad --magic value",
            &["--magic", "three", "-m", &a],
            &["--magic", "three", "not a 32-bit number"],
        ),
        case(
            "unknown --interp",
            &["--interp", "perl", "-m", &a],
            &["--interp", "perl", "cpython, lua or none"],
        ),
        case(
            "input over the format's 4 GiB limit",
            &["-m", &format!("big={}", i("huge.bin"))],
            &[&i("huge.bin"), "4294967295", "32-bit"],
        ),
        case(
            "inputs together over the format's 4 GiB limit",
            &[
                "-m",
                &format!("h1={}", i("half1.bin")),
                "-m",
                &format!("h2={}", i("half2.bin")),
            ],
            &[
                "at least 4328522150 bytes",
                "4294967295",
                &i("half1.bin"),
                &i("half2.bin"),
            ],
        ),
        case(
            "depfile that is an input",
            &["-m", &a, "--depfile", &i("a.pyc")],
            &[&i("a.pyc"), "overwrite an input"],
        ),
        case(
            "depfile in a missing directory",
            &[
                "-m",
                &a,
                "--depfile",
                &scratch.join("nodir/x.d").display().to_string(),
            ],
            &["nodir/x.d", "does not exist"],
        ),
    ];
    if !is_root() {
        v.push(case(
            "unreadable input (mode 000)",
            &["-m", &format!("a={}", i("mode000.pyc"))],
            &[&i("mode000.pyc"), "cannot read", "ermission denied"],
        ));
    }
    let mut c = case(
        "non-UTF-8 module name",
        &[],
        &["--module", "not valid UTF-8"],
    );
    let mut arg = b"caf\xe9=".to_vec();
    arg.extend_from_slice(i("a.pyc").as_bytes());
    c.args = vec!["-m".into(), OsString::from_vec(arg)];
    v.push(c);

    if let Some(py) = common::need_python("3.11") {
        v.extend(python_cases(input, &py));
    }
    v.extend(manifest_cases(input));

    let mut c = case(
        "output in a missing directory",
        &["-m", &a],
        &["no/such/dir/x.o", "output directory", "does not exist"],
    );
    c.output = Some(scratch.join("no/such/dir/x.o"));
    v.push(c);
    let mut c = case(
        "output is a directory",
        &["-m", &a],
        &["output path is a directory"],
    );
    c.output = Some(input.join("adir"));
    v.push(c);
    let mut c = case(
        "output file name too long",
        &["-m", &a],
        &["cannot rename", "too long"],
    );
    c.output = Some(scratch.join(format!("{}.o", "x".repeat(300))));
    v.push(c);
    let mut c = if is_root() {
        // Root writes anywhere a mode allows; /proc takes no new files.
        let mut c = case(
            "output directory not writable",
            &["-m", &a],
            &[
                "/proc/objfreeze-test.o",
                "cannot create a temporary file in /proc",
            ],
        );
        c.output = Some("/proc/objfreeze-test.o".into());
        c
    } else {
        let ro = scratch.join("readonly");
        std::fs::create_dir_all(&ro).unwrap();
        std::fs::set_permissions(&ro, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
        let mut c = case(
            "output directory not writable",
            &["-m", &a],
            &[
                "readonly/x.o",
                "cannot create a temporary file",
                "ermission denied",
            ],
        );
        c.output = Some(ro.join("x.o"));
        c
    };
    c.output_is_input = false;
    v.push(c);
    let mut c = case(
        "depfile equal to the output",
        &[
            "-m",
            &a,
            "--depfile",
            &scratch.join("same.o").display().to_string(),
        ],
        &["--depfile", "same.o", "the same file as the output"],
    );
    c.output = Some(scratch.join("same.o"));
    v.push(c);
    let mut c = case(
        "output equal to an input",
        &["-m", &a],
        &[&i("a.pyc"), "overwrite an input"],
    );
    c.output = Some(input.join("a.pyc"));
    c.output_is_input = true;
    v.push(c);
    let mut c = case(
        "output equal to an input, spelled differently",
        &["-m", &a],
        &["adir/../a.pyc", "overwrite an input"],
    );
    c.output = Some(input.join("adir/../a.pyc"));
    c.output_is_input = true;
    v.push(c);
    let mut c = case(
        "output is a symlink to an input",
        &["-m", &a],
        &["link-to-a.pyc", "overwrite an input"],
    );
    c.output = Some(input.join("link-to-a.pyc"));
    c.output_is_input = true;
    v.push(c);
    v
}

/// Sources, interpreters and manifests: the cases that need `--python`.
fn python_cases(input: &Path, py: &Path) -> Vec<Case> {
    let i = |f: &str| input.join(f).display().to_string();
    write(&input.join("ok.py"), b"x = 1\n");
    write(&input.join("syntax.py"), b"x = 1\ndef f(:\n    pass\n");
    write(&input.join("latin1.py"), b"s = '\xe9'\n");
    // Is Python for the interpreter query; as the compiler worker (run as
    // a script named worker.py), greets like one (3.11's magic) and dies
    // partway through reading its first source: a crash mid-compile.
    let crash = input.join("crashing-python");
    write(
        &crash,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in */worker.py) printf 'OFZW\\247\\015\\015\\012'; head -c 3 >/dev/null; kill -9 $$;; esac; done\nexec '{}' \"$@\"\n",
            py.display()
        )
        .as_bytes(),
    );
    // Runs, succeeds, but is no Python.
    let fake = input.join("fake-python");
    write(&fake, b"#!/bin/sh\necho 'Python 3.11.7 (pretend)'\n");
    for f in [&crash, &fake] {
        std::fs::set_permissions(f, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let py = py.display().to_string();
    let ok = format!("a={}", i("ok.py"));
    vec![
        case(
            "Python syntax error",
            &[
                "--no-cache",
                "--python",
                &py,
                "-m",
                &format!("s={}", i("syntax.py")),
            ],
            &[&format!("{}:2: SyntaxError", i("syntax.py")), "def f(:"],
        ),
        case(
            "source not in its declared encoding",
            &[
                "--no-cache",
                "--python",
                &py,
                "-m",
                &format!("l={}", i("latin1.py")),
            ],
            &[&i("latin1.py"), "SyntaxError", "utf-8"],
        ),
        case(
            ".py without --python",
            &["-m", &ok],
            &[&i("ok.py"), "--python"],
        ),
        case(
            "--python that does not exist",
            &["--no-cache", "--python", &i("no-python"), "-m", &ok],
            &[&format!("--python {}", i("no-python")), "cannot run"],
        ),
        case(
            "--python that is not Python (exits 1)",
            &["--no-cache", "--python", "/bin/false", "-m", &ok],
            &["--python /bin/false", "not a working Python"],
        ),
        case(
            "--python that is not Python (prints nonsense)",
            &["--no-cache", "--python", &i("fake-python"), "-m", &ok],
            &[
                &format!("--python {}", i("fake-python")),
                "not a working Python",
            ],
        ),
        case(
            "--python that crashes mid-compile",
            &["--no-cache", "--python", &i("crashing-python"), "-m", &ok],
            &[&i("crashing-python")],
        ),
        case(
            "--stdlib without --python",
            &["--stdlib"],
            &["--stdlib needs --python"],
        ),
    ]
}

fn manifest_cases(input: &Path) -> Vec<Case> {
    let i = |f: &str| input.join(f).display().to_string();
    let m = |file: &str, text: &str| {
        write(&input.join(file), text.as_bytes());
        i(file)
    };
    let pyc = i("a.pyc");
    vec![
        case(
            "manifest with an unknown key",
            &[
                "--manifest",
                &m(
                    "unknown.toml",
                    &format!("pyhton = \"python3\"\n[[module]]\nname = \"a\"\npath = \"{pyc}\"\n"),
                ),
            ],
            &[&i("unknown.toml"), "unknown field", "pyhton"],
        ),
        case(
            "manifest with an unknown key in a table",
            &[
                "--manifest",
                &m(
                    "unknown2.toml",
                    &format!("[[module]]\nname = \"a\"\npath = \"{pyc}\"\npackge = true\n"),
                ),
            ],
            &[&i("unknown2.toml"), "unknown field", "packge"],
        ),
        case(
            "manifest with a wrong type",
            &["--manifest", &m("type.toml", "optimize = \"two\"\n")],
            &[&i("type.toml"), "optimize", "invalid type"],
        ),
        case(
            "manifest with a string where a list goes",
            &["--manifest", &m("type2.toml", "module = \"a\"\n")],
            &[&i("type2.toml"), "module", "invalid type"],
        ),
        case(
            "manifest that is not TOML",
            &["--manifest", &m("garbage.toml", "this is [not toml\n")],
            &[&i("garbage.toml"), "not a valid manifest"],
        ),
        case(
            "manifest that does not exist",
            &["--manifest", &i("none.toml")],
            &[&format!("--manifest {}", i("none.toml")), "cannot read"],
        ),
        case(
            "manifest module name with a NUL",
            &[
                "--manifest",
                &m(
                    "nul.toml",
                    &format!("[[module]]\nname = \"a\\u0000b\"\npath = \"{pyc}\"\n"),
                ),
            ],
            &["\"a\\0b\"", "NUL"],
        ),
        case(
            "manifest module whose file is missing",
            &[
                "--manifest",
                &m(
                    "missing.toml",
                    "[[module]]\nname = \"a\"\npath = \"nothere.pyc\"\n",
                ),
            ],
            &[&i("nothere.pyc"), "cannot read"],
        ),
    ]
}

#[test]
fn bad_input_matrix() {
    let root = common::tempdir();
    let input = root.path().join("in");
    let scratch = root.path().join("scratch");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::create_dir_all(&scratch).unwrap();
    inputs(&input);
    let all = cases(&input, &scratch);
    let input_snapshot = snapshot(&input);
    let mut failures = Vec::new();
    for (n, c) in all.iter().enumerate() {
        // Twice: with no previous output, and over a previous output.
        for previous in [false, true] {
            let (out, outdir) = match &c.output {
                Some(o) => (o.clone(), None),
                None => {
                    let d = root.path().join(format!("out-{n}-{previous}"));
                    std::fs::create_dir(&d).unwrap();
                    (d.join("x.o"), Some(d))
                }
            };
            if previous && outdir.is_some() {
                write(&out, OLD_OUTPUT);
            }
            if !previous && c.output.is_some() {
                // Custom outputs are set up once; run them in one pass.
                continue;
            }
            let before = outdir.as_deref().map(snapshot);
            let res = common::objfreeze()
                .arg("build")
                .arg("-o")
                .arg(&out)
                .args(&c.args)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&res.stderr).into_owned();
            let mut why = Vec::new();
            if res.status.success() || res.status.code().is_none() {
                why.push(format!("exit status {}", res.status));
            }
            if err.contains("panicked") {
                why.push("panicked".into());
            }
            for e in &c.expect {
                if !err.contains(e.as_str()) {
                    why.push(format!("stderr lacks {e:?}"));
                }
            }
            if let (Some(d), Some(b)) = (&outdir, &before) {
                if &snapshot(d) != b {
                    why.push(format!(
                        "output directory changed (previous output: {previous})"
                    ));
                }
                if !previous && out.exists() {
                    why.push("an output was created".into());
                }
            }
            if c.output.is_some() && !c.output_is_input && !out.is_dir() && out.exists() {
                why.push("an output was created".into());
            }
            if previous {
                println!("{:<48} {}", c.name, err.lines().next().unwrap_or(""));
            }
            if !why.is_empty() {
                failures.push(format!(
                    "[{}] {} ({}):\n    stderr: {}",
                    c.name,
                    why.join("; "),
                    if previous {
                        "over an old output"
                    } else {
                        "no old output"
                    },
                    err.trim()
                ));
            }
        }
    }
    // Inputs, including any that were named as the output, are untouched.
    assert!(snapshot(&input) == input_snapshot, "an input was changed");
    assert!(
        std::fs::read_dir(&scratch).unwrap().next().is_none(),
        "files left in {}",
        scratch.display()
    );
    println!("{} bad-input cases checked", all.len());
    assert!(all.len() >= 20);
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

/// Names the command line cannot carry (a NUL byte) reach the table writer
/// through the library; the build must refuse them before writing anything.
#[test]
fn nul_in_name_refused_by_library() {
    use objfreeze::build::{build, BuildOptions, ModuleSpec};
    use objfreeze::format::TagKind;
    use objfreeze::objwrite::Placement;
    use objfreeze::target::Target;
    let d = common::tempdir();
    let input = d.path().join("a.pyc");
    write(&input, &to_pyc(MAGIC_311, b"\xe3code"));
    let out = d.path().join("x.o");
    write(&out, OLD_OUTPUT);
    for interp in [Some(TagKind::Cpython), Some(TagKind::None)] {
        let target = Target::host();
        let placement = Placement::new(&target, None, None).unwrap();
        let mut opts = BuildOptions::new(out.clone(), target, placement);
        opts.modules = vec![ModuleSpec {
            name: "a\0b".into(),
            package: false,
            path: input.clone(),
        }];
        opts.interp = interp;
        if interp == Some(TagKind::None) {
            // .pyc inputs imply CPython; give the raw bytes instead.
            let raw = d.path().join("a.bin");
            write(&raw, b"raw");
            let mut o = opts.clone();
            o.modules[0].path = raw;
            let e = format!("{:#}", build(&o).unwrap_err());
            assert!(e.contains("\"a\\0b\"") && e.contains("NUL"), "{e}");
        } else {
            let e = format!("{:#}", build(&opts).unwrap_err());
            assert!(e.contains("\"a\\0b\"") && e.contains("NUL"), "{e}");
        }
        assert_eq!(std::fs::read(&out).unwrap(), OLD_OUTPUT);
    }
    // Only the input(s) and the old output.
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 3);
}

/// The reading commands on files that are missing, not objects, hold no
/// table, or hold a damaged one: a message naming the file and the problem,
/// exit 1, and `extract` writes nothing.
#[test]
fn reading_commands_refuse_bad_files() {
    let d = common::tempdir();
    let dir = d.path();
    let good = dir.join("good.o");
    write(&dir.join("a.pyc"), &to_pyc(MAGIC_311, b"\xe3module a code"));
    common::run(
        common::objfreeze()
            .args(["build", "-o"])
            .arg(&good)
            .arg("-m")
            .arg(format!("a={}", dir.join("a.pyc").display())),
    );
    let obj = std::fs::read(&good).unwrap();
    let at = obj.windows(8).position(|w| w == b"OBJFREEZ").unwrap();
    // A byte of bytecode changed: structure sound, digest wrong.
    let mut data = obj.clone();
    let code_at = at + data[at..].windows(6).position(|w| w == b"module").unwrap();
    data[code_at] ^= 0x20;
    write(&dir.join("digest.o"), &data);
    // The entry's name length made to run past the names region.
    let mut index = obj.clone();
    index[at + 96 + 4] = 0xff;
    write(&dir.join("index.o"), &index);
    write(&dir.join("empty.o"), b"");
    write(&dir.join("text.o"), b"just some text, not an object file\n");
    write(&dir.join("short.o"), &obj[..obj.len() / 3]);
    std::fs::create_dir(dir.join("adir")).unwrap();
    let c = dir.join("plain.c");
    write(&c, b"int x = 1;\n");
    let plain = dir.join("plain.o");
    let have_cc = common::have("cc");
    if have_cc {
        common::run(
            std::process::Command::new("cc")
                .arg("-c")
                .arg(&c)
                .arg("-o")
                .arg(&plain),
        );
    }
    let p = |f: &str| dir.join(f).display().to_string();
    let mut cases: Vec<(&str, Vec<String>, Vec<String>)> = Vec::new();
    for cmd in ["inspect", "verify"] {
        cases.push((
            cmd,
            vec![p("missing.o")],
            vec![p("missing.o"), "cannot read".into()],
        ));
        cases.push((
            cmd,
            vec![p("adir")],
            vec![p("adir"), "is a directory".into()],
        ));
        cases.push((
            cmd,
            vec![p("empty.o")],
            vec![p("empty.o"), "cannot read as an object".into()],
        ));
        cases.push((
            cmd,
            vec![p("text.o")],
            vec![p("text.o"), "unrecognised file".into()],
        ));
    }
    cases.push((
        "verify",
        vec![p("digest.o")],
        vec![
            p("digest.o"),
            "digest mismatch".into(),
            "1 of 1 tables unsound".into(),
        ],
    ));
    cases.push((
        "verify",
        vec![p("index.o")],
        vec![
            p("index.o"),
            "entry 0: name".into(),
            "outside the names region".into(),
        ],
    ));
    cases.push(("verify", vec![p("short.o")], vec![p("short.o")]));
    if have_cc {
        cases.push((
            "verify",
            vec![p("plain.o")],
            vec![p("plain.o"), "no tables found".into()],
        ));
    }
    let out = dir.join("extracted");
    let o = out.display().to_string();
    cases.push((
        "extract",
        vec![p("index.o"), "-o".into(), o.clone()],
        vec![p("index.o"), "unsound".into()],
    ));
    cases.push((
        "extract",
        vec![p("text.o"), "-o".into(), o.clone()],
        vec![p("text.o"), "unrecognised file".into()],
    ));
    cases.push((
        "extract",
        vec![
            p("good.o"),
            "-o".into(),
            o.clone(),
            "-m".into(),
            "nothere".into(),
        ],
        vec![p("good.o"), "no module `nothere`".into()],
    ));
    let mut failures = Vec::new();
    for (cmd, args, expect) in &cases {
        let r = common::objfreeze().arg(cmd).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&r.stderr);
        println!(
            "{cmd} {:<40} {}",
            args[0].rsplit('/').next().unwrap(),
            err.lines().next().unwrap_or("")
        );
        let mut why = Vec::new();
        if r.status.code() != Some(1) {
            why.push(format!("exit {}", r.status));
        }
        for e in expect {
            if !err.contains(e.as_str()) && !String::from_utf8_lossy(&r.stdout).contains(e.as_str())
            {
                why.push(format!("output lacks {e:?}"));
            }
        }
        if *cmd == "extract" && out.exists() && std::fs::read_dir(&out).unwrap().next().is_some() {
            why.push("extract wrote files".into());
        }
        if !why.is_empty() {
            failures.push(format!(
                "{cmd} {args:?}: {}\n    {}",
                why.join("; "),
                err.trim()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
