//! The core is interpreter-neutral: what is specific to CPython lives under
//! src/cpython/, reached through the `Lang` trait (src/lang.rs) and the one
//! registry that maps tag kinds to implementations (src/langs.rs).
//!
//! The rule this test holds: no file in src/ outside src/cpython/ mentions
//! CPython's words (below) before its `#[cfg(test)]` unit tests, except
//! - src/langs.rs, the registry (it names the cpython module);
//! - src/format.rs, the on-disk format, whose tag kind codes name the
//!   interpreters they stand for (tag_kind 1 is CPython, in the spec);
//! - src/main.rs and src/manifest.rs, the command line and the manifest
//!   schema, whose user-facing options name what they are for
//!   (`--python`, `--pyc`, `python = ...`) and whose help gives examples;
//! - src/lib.rs, whose crate documentation lists the modules.

mod common;

const WORDS: [&str; 6] = [
    "cpython",
    "python",
    ".pyc",
    "__pycache__",
    "__init__",
    "marshal",
];

const EXEMPT: [&str; 5] = ["langs.rs", "format.rs", "main.rs", "manifest.rs", "lib.rs"];

#[test]
fn core_modules_name_no_interpreter() {
    let src = common::repo().join("src");
    let mut hits = Vec::new();
    let mut checked = 0;
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                if rel != "cpython" {
                    stack.push(p);
                }
                continue;
            }
            if !rel.ends_with(".rs") || EXEMPT.contains(&rel.as_str()) {
                continue;
            }
            checked += 1;
            let text = std::fs::read_to_string(&p).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            for (n, line) in code.lines().enumerate() {
                let low = line.to_lowercase();
                for w in WORDS {
                    if low.contains(w) {
                        hits.push(format!("src/{rel}:{}: {w}: {}", n + 1, line.trim()));
                    }
                }
            }
        }
    }
    // build, tree, report, extract, objread, objwrite, ... : the core is there.
    assert!(
        checked >= 12,
        "only {checked} core files found under {}",
        src.display()
    );
    assert!(
        hits.is_empty(),
        "interpreter words in the core:\n{}",
        hits.join("\n")
    );
}
