//! How a build's inputs become table entries, for the interpreter the
//! table is for: the modules the options ask of that interpreter beyond
//! trees and named files (its standard library, installed packages), how
//! each input is read, checked or compiled, and the table's tag. A
//! [`crate::lang::Lang`] makes one per build ([`crate::lang::Lang::frontend`]);
//! [`Raw`] serves interpreters whose bytecode files are taken as they are.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::build::{input, BuildOptions};
use crate::cache::Cache;
use crate::format::{Module, Tag, TagKind};
use crate::spec::Gathered;
use crate::tree::Walked;

/// What gathering said without stopping the build.
#[derive(Debug, Default)]
pub struct Said {
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
}

/// Sources compiled and taken from the cache, for the summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub compiled: usize,
    pub cached: usize,
}

pub trait Frontend {
    /// Walk what `opts` asks of this interpreter beyond trees and named
    /// modules into `out`. Returns the range of `out.modules` that is the
    /// interpreter's own library: odd names there are noted, not warned about.
    fn gather(
        &self,
        opts: &BuildOptions,
        out: &mut Walked,
        said: &mut Said,
    ) -> Result<Range<usize>>;
    /// Read (and compile) every module, in order; the table's tag.
    fn load(
        &self,
        opts: &BuildOptions,
        specs: &[Gathered],
        cache: Option<&Cache>,
        deps: &mut BTreeSet<PathBuf>,
        stats: &mut Stats,
    ) -> Result<(Vec<Module>, Tag)>;
    /// Rules the finished set of modules obeys together.
    fn check_modules(&self, _modules: &[Module]) -> Result<()> {
        Ok(())
    }
}

/// Bytecode files as they are, for an interpreter with no file format of
/// its own to check (Lua chunks, raw blobs): the tag is `--tag`.
pub struct Raw(pub TagKind);

impl Frontend for Raw {
    fn gather(&self, opts: &BuildOptions, out: &mut Walked, _: &mut Said) -> Result<Range<usize>> {
        if opts.stdlib || !opts.site_packages.is_empty() {
            bail!(
                "a standard library or installed packages are frozen for the interpreter that compiles them, not for --interp {}",
                self.0.name()
            );
        }
        if let Some(c) = &opts.compiler {
            bail!(
                "{}: compiles sources for another interpreter's tables, not for --interp {}",
                c.display(),
                self.0.name()
            );
        }
        Ok(out.modules.len()..out.modules.len())
    }

    fn load(
        &self,
        opts: &BuildOptions,
        specs: &[Gathered],
        _: Option<&Cache>,
        deps: &mut BTreeSet<PathBuf>,
        _: &mut Stats,
    ) -> Result<(Vec<Module>, Tag)> {
        let mut out = Vec::with_capacity(specs.len());
        for g in specs {
            let p = &g.spec.path;
            // Another interpreter's own input is a mistake, not raw bytes.
            if let Some(l) = crate::langs::all()
                .into_iter()
                .find(|l| l.kind() != self.0 && l.claims(p))
            {
                bail!(
                    "{}: gives {} bytecode, but --interp {} was given",
                    p.display(),
                    l.display_name(),
                    self.0.name()
                );
            }
            if opts.depfile.is_some() {
                deps.insert(p.clone());
            }
            out.push(Module {
                name: g.spec.name.clone(),
                data: input::read_input(p)?.into(),
                package: g.spec.package,
                origin: g.origin.clone(),
                data_file: false,
            });
        }
        let tag = Tag {
            kind: self.0,
            value: opts.tag.unwrap_or(0),
        };
        Ok((out, tag))
    }
}
