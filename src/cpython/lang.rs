//! CPython as the core sees it ([`crate::lang::Lang`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;

use super::frontend::CPythonFrontend;
use super::{names, pyc, stdlib};
use crate::build::BuildOptions;
use crate::cache::Cache;
use crate::format::TagKind;
use crate::frontend::Frontend;
use crate::lang::Lang;
use crate::tree::Layout;

pub struct CPython;

impl Lang for CPython {
    fn kind(&self) -> TagKind {
        TagKind::Cpython
    }
    fn display_name(&self) -> &'static str {
        "CPython"
    }
    fn frontend(
        &self,
        opts: &BuildOptions,
        cache: Option<&Cache>,
        deps: &mut BTreeSet<PathBuf>,
    ) -> Result<Box<dyn Frontend>> {
        Ok(Box::new(CPythonFrontend::new(opts, cache, deps)?))
    }
    fn claims(&self, path: &Path) -> bool {
        path.extension().is_some_and(|e| e == "py" || e == "pyc")
    }
    fn odd_names(&self, odd: &[&str]) -> String {
        format!(
            "{} module name{} not a Python identifier, kept (only importlib.import_module can name {}): {}",
            odd.len(),
            if odd.len() == 1 { " is" } else { "s are" },
            if odd.len() == 1 { "it" } else { "them" },
            odd.join(", ")
        )
    }
    fn layout(&self) -> &'static Layout {
        &stdlib::LAYOUT
    }
    fn check_name(&self, name: &str) -> Result<(), String> {
        names::check_module_name(name)
    }
    fn plain_name(&self, name: &str) -> bool {
        name.split('.').all(names::is_identifier)
    }
    fn describe_tag(&self, tag: u32) -> String {
        match pyc::python_version(tag) {
            Some(v) => format!("CPython {v} (magic {})", tag & 0xffff),
            None => format!("CPython (magic {})", tag & 0xffff),
        }
    }
    fn tag_fields(&self, tag: u32) -> Vec<(&'static str, Value)> {
        vec![
            ("python_magic", Value::from(tag & 0xffff)),
            (
                "python_version",
                pyc::python_version(tag).map_or(Value::Null, Value::from),
            ),
        ]
    }
    fn native_file(&self, tag: u32, data: &[u8]) -> Option<(&'static str, Vec<u8>)> {
        Some(("pyc", pyc::to_pyc(tag, data)))
    }
}
