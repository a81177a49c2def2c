//! Python module names: dotted identifiers, and the package structure they imply.

use std::collections::HashMap;

use anyhow::{bail, Result};

/// Is `name` a dotted Python module name (`a`, `a.b_c`, `_x.y2`)?
/// Returns why not. Python's rules are the core's dotted-name rules: not
/// every importable name is an identifier (the stdlib has
/// `_sysconfigdata__linux_x86_64-linux-gnu`), so only what no import could
/// name is refused.
pub fn check_module_name(name: &str) -> Result<(), String> {
    crate::lang::check_dotted_name(name)
}

/// `str.isidentifier()`, approximated: a letter or `_`, then letters, digits or `_`.
pub fn is_identifier(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f == '_' || f.is_alphabetic())
        && c.all(|ch| ch == '_' || ch.is_alphanumeric())
}

/// Every parent of a frozen module that is itself frozen must be a package:
/// `a.b` under a plain module `a` could never be imported.
pub fn check_package_structure<'a>(
    modules: impl IntoIterator<Item = (&'a str, bool)>,
) -> Result<()> {
    let all: HashMap<&str, bool> = modules.into_iter().collect();
    let mut names: Vec<&&str> = all.keys().collect();
    names.sort();
    for name in names {
        let mut parent = *name;
        while let Some((p, _)) = parent.rsplit_once('.') {
            if all.get(p) == Some(&false) {
                bail!("`{p}` is given as a module, but `{name}` needs it to be a package (use -p, or an __init__.py)");
            }
            parent = p;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "a.b", "_frozen_importlib", "é.x2"] {
            assert!(check_module_name(ok).is_ok(), "{ok}");
        }
        assert!(check_module_name("_sysconfigdata__linux_x86_64-linux-gnu").is_ok());
        for bad in ["", ".a", "a..b", "a.", "a/b", "a b", "a\0b"] {
            assert!(check_module_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn structure() {
        assert!(check_package_structure([("a", true), ("a.b", false)]).is_ok());
        assert!(check_package_structure([("a", false), ("a.b", false)]).is_err());
        assert!(check_package_structure([("x.y", false)]).is_ok());
    }
}
