//! The one place that maps a tag kind to its [`Lang`]: the registry of
//! interpreters, and so the only core file naming the interpreter modules.

use crate::format::TagKind;
use crate::lang::{Lang, Lua, Raw};

pub fn of(kind: TagKind) -> &'static dyn Lang {
    match kind {
        TagKind::Cpython => &crate::cpython::lang::CPython,
        TagKind::Lua => &Lua,
        TagKind::None => &Raw,
    }
}
