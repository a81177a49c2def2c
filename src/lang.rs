//! What the interpreter-neutral core asks of the interpreter a table is
//! for: how its sources lie in a tree, which module names it accepts, how
//! its tag reads in a report, and what file a module goes back out as. One
//! implementation per [`TagKind`]; [`crate::langs::of`] picks it. The core
//! (build, tree, report, extract) goes through this trait only.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;

use crate::build::BuildOptions;
use crate::cache::Cache;
use crate::format::TagKind;
use crate::frontend::{self, Frontend};
use crate::tree::Layout;

pub trait Lang: Sync {
    fn kind(&self) -> TagKind;
    /// The interpreter's name in messages.
    fn display_name(&self) -> &'static str;
    /// The front end that reads (and compiles) this build's inputs.
    fn frontend(
        &self,
        _opts: &BuildOptions,
        _cache: Option<&Cache>,
        _deps: &mut BTreeSet<PathBuf>,
    ) -> Result<Box<dyn Frontend>> {
        Ok(Box::new(frontend::Raw(self.kind())))
    }
    /// Is `path` one of this interpreter's own input files (by its name)?
    fn claims(&self, _path: &Path) -> bool {
        false
    }
    /// The warning for names [`Lang::plain_name`] refuses.
    fn odd_names(&self, odd: &[&str]) -> String {
        format!(
            "{} module name{} only reachable by a by-string import, kept: {}",
            odd.len(),
            if odd.len() == 1 { " is" } else { "s are" },
            odd.join(", ")
        )
    }
    /// How a directory of sources maps to module names (`--tree`).
    fn layout(&self) -> &'static Layout;
    /// Why `name` cannot name a module, if it cannot.
    fn check_name(&self, name: &str) -> Result<(), String>;
    /// Can an ordinary import statement name it? (Else the build warns:
    /// only a by-string import reaches it.)
    fn plain_name(&self, name: &str) -> bool;
    /// The interpreter and tag in words, for `inspect`.
    fn describe_tag(&self, tag: u32) -> String {
        format!("{} (tag {tag:#x})", self.kind().name())
    }
    /// Fields about the tag added to `inspect --json`'s table object.
    fn tag_fields(&self, _tag: u32) -> Vec<(&'static str, Value)> {
        Vec::new()
    }
    /// The interpreter's own file for a module (extension, bytes), which
    /// it loads directly; `None` if it has none beyond the raw bytes.
    fn native_file(&self, _tag: u32, _data: &[u8]) -> Option<(&'static str, Vec<u8>)> {
        None
    }
}

/// Names any interpreter's loader could use: dotted, no empty component,
/// no path separator or whitespace.
pub fn check_dotted_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.bytes().any(|b| b == 0) {
        return Err("it contains a NUL byte".into());
    }
    for part in name.split('.') {
        if part.is_empty() {
            return Err(if name.starts_with('.') {
                "it starts with a dot (relative names cannot be frozen)".into()
            } else {
                "it has an empty component (`..` or a trailing dot)".into()
            });
        }
        if part.contains(['/', '\\']) || part.chars().any(char::is_whitespace) {
            return Err(format!("`{part}` holds a path separator or whitespace"));
        }
    }
    Ok(())
}

/// Lua 5.x: `require("a.b")` finds `a/b.lua` or `a/b/init.lua`; a table holds
/// `luac` chunks.
pub struct Lua;

const LUA_LAYOUT: Layout = Layout {
    ext: "luac",
    init: "init",
    skip_dirs: &[],
};

impl Lang for Lua {
    fn kind(&self) -> TagKind {
        TagKind::Lua
    }
    fn display_name(&self) -> &'static str {
        "Lua"
    }
    fn layout(&self) -> &'static Layout {
        &LUA_LAYOUT
    }
    fn check_name(&self, name: &str) -> Result<(), String> {
        check_dotted_name(name)
    }
    fn plain_name(&self, _name: &str) -> bool {
        // require takes any string.
        true
    }
}

/// No interpreter recorded: raw blobs under dotted names.
pub struct Raw;

const RAW_LAYOUT: Layout = Layout {
    ext: "bin",
    init: "init",
    skip_dirs: &[],
};

impl Lang for Raw {
    fn kind(&self) -> TagKind {
        TagKind::None
    }
    fn display_name(&self) -> &'static str {
        "raw"
    }
    fn layout(&self) -> &'static Layout {
        &RAW_LAYOUT
    }
    fn check_name(&self, name: &str) -> Result<(), String> {
        check_dotted_name(name)
    }
    fn plain_name(&self, _name: &str) -> bool {
        true
    }
}
