//! `--site-packages` with real wheels from PyPI: pure-Python distributions
//! with package data and entry points, installed by pip into a directory,
//! frozen into a table linked beside the stdlib table of the frozen python
//! (examples/frozen-python), then the directory DELETED. The frozen python
//! must still import every package, run its real behaviour, read its data
//! files through importlib.resources and pkgutil.get_data, and see the
//! frozen distributions' metadata and entry points first, ahead of another
//! version of the same distribution on sys.path.
//!
//! Wheels are downloaded once into target/ (pip download); without network
//! the test skips with the reason, except on CI.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Distribution, version, wheel file name prefix.
const WHEELS: [(&str, &str); 7] = [
    ("attrs", "23.2.0"),
    ("packaging", "24.0"),
    ("pyparsing", "3.1.2"),
    ("idna", "3.7"),
    ("certifi", "2024.2.2"),
    ("tzdata", "2024.1"),
    ("Pygments", "2.17.2"),
];

/// Another attrs, put first on sys.path at run time: the frozen one must win.
const OTHER_ATTRS: (&str, &str) = ("attrs", "23.1.0");

const VERSIONS: [&str; 6] = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"];

fn wheel_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("wheels")
}

/// The wheel file of `dist==version` in the cache, downloading it if missing.
/// `None` (skip) when pip cannot fetch it, except on CI.
fn wheel(pip_python: &Path, dist: &str, version: &str) -> Option<PathBuf> {
    let dir = wheel_dir();
    let stem = format!("{}-{version}-", dist.to_lowercase());
    let find = || {
        std::fs::read_dir(&dir).ok()?.flatten().find_map(|e| {
            let n = e.file_name().to_string_lossy().to_lowercase();
            (n.starts_with(&stem) && n.ends_with(".whl")).then(|| e.path())
        })
    };
    if let Some(w) = find() {
        return Some(w);
    }
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(pip_python)
        .args([
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary",
            ":all:",
        ])
        .args(["--disable-pip-version-check", "-d"])
        .arg(&dir)
        .arg(format!("{dist}=={version}"))
        .output()
        .unwrap();
    match find() {
        Some(w) if out.status.success() => Some(w),
        _ => {
            let why = format!(
                "cannot download {dist}=={version} from PyPI: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            if on_ci() {
                panic!("{why}");
            }
            eprintln!("SKIP: {why}");
            None
        }
    }
}

/// `pip install --target DIR` of local wheels only.
fn install(python: &Path, wheels: &[PathBuf], dir: &Path) {
    run(Command::new(python)
        .args(["-m", "pip", "install", "-q", "--no-deps", "--no-index"])
        .args(["--disable-pip-version-check", "--no-compile", "--target"])
        .arg(dir)
        .args(wheels));
}

/// examples/frozen-python for `minor`, in the directory tests/cpython.rs uses
/// (make: a no-op when it is up to date). Its output directory.
fn frozen_python(python: &Path, minor: &str) -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("frozen-python")
        .join(minor);
    run(Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(repo().join("examples/frozen-python"))
        .arg(format!("PYTHON={}", python.display()))
        .arg(format!("OUT={}", out.display()))
        .arg(format!("OBJFREEZE={}", env!("CARGO_BIN_EXE_objfreeze"))));
    out
}

/// python.o + tables + the glue + libpython, as examples/frozen-python links.
fn link(python: &Path, fp: &Path, tables: &[PathBuf], exe: &Path) {
    let cfg = |code: &str| {
        stdout(Command::new(python).args(["-c", code]))
            .trim()
            .to_string()
    };
    let libpl = cfg("import sysconfig; print(sysconfig.get_config_var('LIBPL'))");
    let library = cfg("import sysconfig; print(sysconfig.get_config_var('LIBRARY'))");
    let libs =
        cfg("import sysconfig; v = sysconfig.get_config_var; print(v('LIBS'), v('SYSLIBS'))");
    run(Command::new("cc")
        .arg("-Wl,--export-dynamic")
        .arg("-o")
        .arg(exe)
        .arg(Path::new(&libpl).join("python.o"))
        .args(tables)
        .arg(fp.join("objfreeze_cpython_auto.o"))
        .arg("-Wl,--whole-archive")
        .arg(Path::new(&libpl).join(library))
        .arg("-Wl,--no-whole-archive")
        .args(libs.split_whitespace()));
}

/// Run in the frozen python with the site-packages directory gone. Prints
/// one `key=value` line per fact; argv: the deleted directory, the
/// directory holding the other attrs.
const CHECKS: &str = r#"
import sys, os, hashlib, pkgutil
gone, other = sys.argv[1], sys.argv[2]
sys.path.insert(0, other)          # another attrs, first on sys.path
import importlib.metadata as md
import importlib.resources as res
def say(k, v): print("%s=%s" % (k, v))
say("gone", not os.path.exists(gone))
for d in ["attrs", "packaging", "pyparsing", "idna", "certifi", "tzdata", "Pygments"]:
    say("version." + d, md.version(d))
say("distribution.type", type(md.distribution("attrs")).__name__)

import attr, attrs
say("attr.version", attr.__version__)
say("attr.from_table", attr.__file__.startswith(gone))
@attrs.define
class P:
    x: int
    y: int = 2
say("attrs.asdict", attrs.asdict(P(1)))

from packaging.version import Version
from packaging.specifiers import SpecifierSet
from packaging.requirements import Requirement
say("packaging", (Version("1.0rc1") < Version("1.0"), "1.5" in SpecifierSet(">=1.0,<2"),
                  Requirement('idna>=3; python_version>"3"').name))

import pyparsing as pp
say("pyparsing", (pp.Word(pp.alphas) + "=" + pp.Word(pp.nums)).parse_string("x = 12").as_list())

import idna
say("idna", (idna.encode("ドメイン.テスト").decode(), idna.decode("xn--eckwd4c7c.xn--zckzah")))

import certifi
pem = certifi.contents().encode("ascii")
say("certifi.contents", hashlib.sha256(pem).hexdigest())
with open(certifi.where(), "rb") as f:
    # This machine's interpreters may append a local CA to the copy
    # where() writes; certifi's own bundle must come first, whole.
    say("certifi.where", hashlib.sha256(f.read()[:len(pem)]).hexdigest())
say("pkgutil.get_data", hashlib.sha256(pkgutil.get_data("certifi", "cacert.pem")).hexdigest())
say("loader.get_data", hashlib.sha256(certifi.__loader__.get_data(
    os.path.join(os.path.dirname(certifi.__file__), "cacert.pem"))).hexdigest())
# 3.9's files() asks no loader (it is always the source directory's
# pathlib.Path): there only the reader-based functions below reach the table.
if sys.version_info >= (3, 10):
    root = res.files("certifi")
    say("files.type", type(root).__name__)
    say("files.iterdir", sorted(p.name for p in root.iterdir()))
    say("files.read_bytes", hashlib.sha256((root / "cacert.pem").read_bytes()).hexdigest())
    say("files.read_text", len(root.joinpath("cacert.pem").read_text(encoding="ascii")) == len(pem))
    say("files.is", ((root / "cacert.pem").is_file(), (root / "cacert.pem").is_dir(), root.is_dir(),
                     (root / "missing").is_file()))
    with (root / "py.typed").open("rb") as f:
        say("files.open", f.read())
    say("pyparsing.iterdir", sorted(p.name for p in res.files("pyparsing").iterdir()))
    say("tzdata.zones", res.files("tzdata").joinpath("zones").read_text().count("\n") > 400)
else:
    say("files.iterdir", sorted(res.contents("certifi")))
    say("files.read_bytes", hashlib.sha256(res.read_binary("certifi", "cacert.pem")).hexdigest())
say("is_resource", (res.is_resource("certifi", "cacert.pem"), res.is_resource("certifi", "nope")))

if sys.version_info >= (3, 9):
    import zoneinfo, datetime
    zoneinfo.reset_tzpath([])      # no system zoneinfo: only tzdata's
    ny = zoneinfo.ZoneInfo("America/New_York")
    say("zoneinfo", (str(datetime.datetime(2024, 1, 1, tzinfo=ny).utcoffset()),
                     str(datetime.datetime(2024, 7, 1, tzinfo=ny).utcoffset())))
    say("zoneinfo.available", len(zoneinfo.available_timezones()) > 400)

eps = md.entry_points()
scripts = eps.select(group="console_scripts") if hasattr(eps, "select") else eps["console_scripts"]
ep = [e for e in scripts if e.name == "pygmentize"][0]
say("entry_point", ep.value)
import pygments.cmdline
say("entry_point.load", ep.load() is pygments.cmdline.main)
from pygments import highlight
from pygments.lexers import get_lexer_by_name
from pygments.formatters import HtmlFormatter
say("pygments", (get_lexer_by_name("python").name,
                 '<span class="k">def</span>' in highlight("def f(): pass", get_lexer_by_name("python"), HtmlFormatter())))

files = md.files("idna")
meta = [p for p in files if p.name == "METADATA"][0]
say("metadata.files", meta.read_text().startswith("Metadata-Version"))
say("metadata.requires", md.requires("attrs") is not None)
frozen = sorted(d.metadata["Name"] for d in md.distributions() if type(d).__name__ == "TableDistribution")
say("distributions", frozen)
"#;

fn facts(text: &str) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn check_version(minor: &str, pip_python: &Path) -> bool {
    let Some(python) = need_python(minor) else {
        return false;
    };
    let mut wheels = Vec::new();
    for (d, v) in WHEELS {
        let Some(w) = wheel(pip_python, d, v) else {
            return false;
        };
        wheels.push(w);
    }
    let Some(other) = wheel(pip_python, OTHER_ATTRS.0, OTHER_ATTRS.1) else {
        return false;
    };
    let fp = frozen_python(&python, minor);
    let tmp = tempdir();
    let site = tmp.path().join("site-packages");
    let other_dir = tmp.path().join("other");
    install(&python, &wheels, &site);
    install(&python, &[other], &other_dir);
    let pem = std::fs::read(site.join("certifi/cacert.pem")).unwrap();
    let pem_sha = stdout(
        Command::new(&python)
            .args(["-c", "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())"])
            .arg(site.join("certifi/cacert.pem")),
    );
    let pem_sha = pem_sha.trim();
    assert!(pem.len() > 100_000);

    let table = tmp.path().join("site.o");
    let out = run(objfreeze()
        .args(["build", "-v", "--symbol", "site_modules", "--python"])
        .arg(&python)
        .arg("--site-packages")
        .arg(&site)
        .arg("-o")
        .arg(&table));
    let err = String::from_utf8_lossy(&out.stderr);
    // pip --target puts the console scripts in bin/: said, not frozen.
    assert!(err.contains("left out bin/"), "{err}");
    let j = inspect_json(&table);
    let entries = j["tables"][0]["modules"].as_array().unwrap();
    let data: Vec<&str> = entries
        .iter()
        .filter(|m| m["data"] == true)
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    let modules = entries.len() - data.len();
    for (d, v) in WHEELS {
        let info = format!("/{}-{v}.dist-info/METADATA", d.to_lowercase());
        assert!(
            data.iter().any(|n| n.eq_ignore_ascii_case(&info)),
            "{info} not in {data:?}"
        );
    }
    assert!(data.contains(&"/certifi/cacert.pem"));
    assert!(data.contains(&"/tzdata/zoneinfo/America/New_York"));
    assert!(entries
        .iter()
        .any(|m| m["name"] == "pygments.lexers.python"));

    run(objfreeze().arg("verify").arg(&table));
    // extract writes data files back under their paths, as they were.
    for (dir, pyc) in [("x", false), ("xpyc", true)] {
        let x = tmp.path().join(dir);
        let mut cmd = objfreeze();
        cmd.arg("extract").arg(&table).arg("-o").arg(&x);
        if pyc {
            cmd.arg("--pyc");
        }
        run(&mut cmd);
        assert_eq!(std::fs::read(x.join("certifi/cacert.pem")).unwrap(), pem);
        assert_eq!(
            std::fs::read(x.join("attrs-23.2.0.dist-info/METADATA")).unwrap(),
            std::fs::read(site.join("attrs-23.2.0.dist-info/METADATA")).unwrap()
        );
        let init = if pyc {
            "certifi/__init__.pyc"
        } else {
            "certifi/__init__.bin"
        };
        assert!(x.join(init).is_file(), "{dir}: {init}");
    }
    let exe = tmp.path().join("python");
    link(&python, &fp, &[fp.join("stdlib.o"), table.clone()], &exe);
    // Sources gone: everything below must come from the table.
    std::fs::remove_dir_all(&site).unwrap();
    let script = tmp.path().join("checks.py");
    std::fs::write(&script, CHECKS).unwrap();
    let got = stdout(
        Command::new(&exe)
            .arg("-I")
            .arg("-W")
            .arg("ignore::DeprecationWarning")
            .arg(&script)
            .arg(&site)
            .arg(&other_dir),
    );
    let f = facts(&got);
    let want = |k: &str, v: &str| {
        assert_eq!(f.get(k).map(String::as_str), Some(v), "{minor}: {k}\n{got}");
    };
    want("gone", "True");
    for (d, v) in WHEELS {
        want(&format!("version.{d}"), v);
    }
    want("distribution.type", "TableDistribution");
    want("attr.version", "23.2.0");
    want("attr.from_table", "True");
    want("attrs.asdict", "{'x': 1, 'y': 2}");
    want("packaging", "(True, True, 'idna')");
    want("pyparsing", "['x', '=', '12']");
    want("idna", "('xn--eckwd4c7c.xn--zckzah', 'ドメイン.テスト')");
    for k in [
        "certifi.contents",
        "certifi.where",
        "pkgutil.get_data",
        "loader.get_data",
        "files.read_bytes",
    ] {
        want(k, pem_sha);
    }
    want("files.iterdir", "['cacert.pem', 'py.typed']");
    want("is_resource", "(True, False)");
    if !["3.8", "3.9"].contains(&minor) {
        want("files.type", "TableFile");
        want("files.read_text", "True");
        want("files.is", "(True, False, True, False)");
        want("files.open", "b''");
        want("pyparsing.iterdir", "['diagram', 'py.typed']");
        want("tzdata.zones", "True");
    }
    if minor != "3.8" {
        // zoneinfo (3.9+) reads tzdata's files through importlib.resources.
        want("zoneinfo", "('-1 day, 19:00:00', '-1 day, 20:00:00')");
        want("zoneinfo.available", "True");
    }
    want("entry_point", "pygments.cmdline:main");
    want("entry_point.load", "True");
    want("pygments", "('Python', True)");
    want("metadata.files", "True");
    want("metadata.requires", "True");
    want(
        "distributions",
        "['Pygments', 'attrs', 'certifi', 'idna', 'packaging', 'pyparsing', 'tzdata']",
    );
    eprintln!(
        "{minor}: {modules} modules and {} data files from {} distributions, checked with the sources deleted",
        data.len(),
        WHEELS.len()
    );
    true
}

#[test]
fn real_wheels_with_sources_deleted() {
    if !have_all(&["make", "cc"]) {
        return;
    }
    // Any interpreter with pip downloads the (pure-Python, version-neutral) wheels.
    let Some(pip_python) = need_python("3.11") else {
        return;
    };
    let mut ran = Vec::new();
    for minor in VERSIONS {
        if check_version(minor, &pip_python) {
            ran.push(minor);
        }
    }
    eprintln!("site-packages checked for {ran:?}");
}
