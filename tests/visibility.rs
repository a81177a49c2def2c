//! The table symbol is hidden by default: two shared libraries, each
//! linking its own table under the same (default) symbol, loaded into one
//! program, each find their own modules. With `--visibility default` the
//! symbol is exported and the first library's table interposes: the second
//! library's lookups read it. The linker-collected walk (objfreeze.h's
//! objfreeze_linked_*) still finds each library's table from inside it.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// One library: lookups through the named symbol and through the walk.
const LIB: &str = r#"
#include <stdio.h>
#include "objfreeze.h"
OBJFREEZE_DECLARE_TABLE(objfreeze_modules);
#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
/* "<data of name>" from the table the symbol names, "-" if absent. */
void CAT(lookup_, WHICH)(const char *name, char *out, size_t len) {
    const objfreeze_entry *e = objfreeze_find(&objfreeze_modules, name);
    if (e == NULL) snprintf(out, len, "-");
    else snprintf(out, len, "%.*s", (int)objfreeze_entry_size(e),
                  (const char *)objfreeze_entry_data(&objfreeze_modules, e));
}
/* Tables the walk finds from inside this library. */
int CAT(walk_, WHICH)(void) {
    const objfreeze_table *t = NULL;
    int n = 0;
    while ((t = objfreeze_linked_next(t)) != NULL) n++;
    return n;
}
"#;

const MAIN: &str = r#"
#include <stdio.h>
#include <stddef.h>
void lookup_a(const char *, char *, size_t);
void lookup_b(const char *, char *, size_t);
int walk_a(void);
int walk_b(void);
int main(void) {
    char r[4][32];
    lookup_a("shared", r[0], 32);
    lookup_b("shared", r[1], 32);
    lookup_a("only_a", r[2], 32);
    lookup_b("only_b", r[3], 32);
    printf("%s %s %s %s walk %d %d\n", r[0], r[1], r[2], r[3], walk_a(), walk_b());
    return 0;
}
"#;

fn build(dir: &Path, extra: &[&str]) -> String {
    for w in ["a", "b"] {
        let data = dir.join(format!("{w}.txt"));
        std::fs::write(&data, w).unwrap();
        let own = dir.join(format!("only_{w}.txt"));
        std::fs::write(&own, format!("own-{w}")).unwrap();
        let table = dir.join(format!("table_{w}.o"));
        run(objfreeze()
            .args(["build", "-o"])
            .arg(&table)
            .arg("-m")
            .arg(format!("shared={}", data.display()))
            .arg("-m")
            .arg(format!("only_{w}={}", own.display()))
            .args(extra));
        let src = dir.join("lib.c");
        std::fs::write(&src, LIB).unwrap();
        run(Command::new("cc")
            .args([
                "-std=c99",
                "-Wall",
                "-Wextra",
                "-pedantic",
                "-Werror",
                "-fPIC",
                "-shared",
            ])
            .arg(format!("-DWHICH={w}"))
            .arg("-I")
            .arg(repo().join("cbindings"))
            .arg("-o")
            .arg(dir.join(format!("lib{w}.so")))
            .arg(&src)
            .arg(&table));
    }
    let main = dir.join("main.c");
    std::fs::write(&main, MAIN).unwrap();
    let exe = dir.join("main");
    run(Command::new("cc")
        .arg("-o")
        .arg(&exe)
        .arg(&main)
        .arg(format!("-L{}", dir.display()))
        .arg(format!("-Wl,-rpath,{}", dir.display()))
        .args(["-la", "-lb"]));
    stdout(&mut Command::new(&exe)).trim().to_string()
}

#[test]
fn two_shared_libraries_each_read_their_own_table() {
    if !have("cc") {
        return;
    }
    let tmp = tempdir();
    assert_eq!(build(tmp.path(), &[]), "a b own-a own-b walk 1 1");
    // The symbol is still there for inspect, and still global to the link.
    let j = inspect_json(&tmp.path().join("liba.so"));
    let syms = j["tables"][0]["symbols"].as_array().unwrap();
    assert!(syms.iter().any(|s| s == "objfreeze_modules"), "{syms:?}");
    // Exported, the first library's table wins in the second one too.
    let tmp = tempdir();
    assert_eq!(
        build(tmp.path(), &["--visibility", "default"]),
        "a a own-a - walk 1 1"
    );
}

#[test]
fn visibility_is_checked() {
    let tmp = tempdir();
    let f = tmp.path().join("x.txt");
    std::fs::write(&f, "x").unwrap();
    let out = objfreeze()
        .args(["build", "--visibility", "protected", "-o"])
        .arg(tmp.path().join("x.o"))
        .arg("-m")
        .arg(format!("x={}", f.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--visibility \"protected\": expected hidden or default"),
        "{err}"
    );
    assert!(!tmp.path().join("x.o").exists());
}

/// `--writable` (ELF): the table's section is writable data, and the same
/// lookups and the same walk find it; other formats refuse it by name.
#[test]
fn writable_tables_read_the_same() {
    if !have_all(&["cc", "readelf"]) {
        return;
    }
    let tmp = tempdir();
    assert_eq!(
        build(tmp.path(), &["--writable"]),
        "a b own-a own-b walk 1 1"
    );
    let sections = stdout(
        Command::new("readelf")
            .arg("-SW")
            .arg(tmp.path().join("table_a.o")),
    );
    let line = sections
        .lines()
        .find(|l| l.contains(" objfreeze "))
        .unwrap_or_else(|| panic!("{sections}"));
    assert!(line.contains(" WAR ") || line.contains(" WA"), "{line}");
    // Page-aligned and whole pages: it may be the last data before .bss.
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols.last(), Some(&"4096"), "{line}");
    let size_at = cols.iter().position(|c| *c == "PROGBITS").unwrap() + 3;
    assert_eq!(
        u64::from_str_radix(cols[size_at], 16).unwrap() % 4096,
        0,
        "{line}"
    );
    let lib = stdout(
        Command::new("readelf")
            .arg("-SW")
            .arg(tmp.path().join("liba.so")),
    );
    let line = lib.lines().find(|l| l.contains(" objfreeze ")).unwrap();
    assert!(line.contains(" WA"), "{line}");
    let f = tmp.path().join("x.txt");
    std::fs::write(&f, "x").unwrap();
    for triple in ["x86_64-apple-darwin", "x86_64-pc-windows-msvc"] {
        let out = objfreeze()
            .args(["build", "--writable", "--target", triple, "-o"])
            .arg(tmp.path().join("x.o"))
            .arg("-m")
            .arg(format!("x={}", f.display()))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{triple}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--writable: ELF only"), "{err}");
        assert!(!tmp.path().join("x.o").exists());
    }
}
