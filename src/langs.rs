//! The one place that maps a tag kind to its [`Lang`]: the registry of
//! interpreters, and so the only core file naming the interpreter modules.

use crate::format::TagKind;
use crate::lang::{Lang, Lua, Raw};

/// The interpreter assumed until the inputs say otherwise (`.py`, `.pyc`
/// and `--magic` inputs make a table CPython's; with none, the table's kind
/// is none).
pub const DEFAULT: TagKind = TagKind::Cpython;

pub fn all() -> [&'static dyn Lang; 3] {
    [&crate::cpython::lang::CPython, &Lua, &Raw]
}

pub fn of(kind: TagKind) -> &'static dyn Lang {
    match kind {
        TagKind::Cpython => &crate::cpython::lang::CPython,
        TagKind::Lua => &Lua,
        TagKind::None => &Raw,
    }
}
