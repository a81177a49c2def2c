//! What a build is asked to freeze, before anything is read: the specs the
//! command line and a manifest produce and the tree walkers add to. A leaf
//! module: it depends on nothing else in the crate, so `build`, `tree`,
//! `manifest` and the interpreter modules all use it without a cycle.

use std::path::PathBuf;

/// One module to freeze, before its bytes are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSpec {
    pub name: String,
    pub package: bool,
    pub path: PathBuf,
}

/// A module frozen under `name` from the bytecode of module `origin`: the
/// origin's own if it is being frozen, else compiled from `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasSpec {
    pub name: String,
    pub origin: String,
    pub path: Option<PathBuf>,
}

/// A directory of sources to walk (see [`crate::tree`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeSpec {
    pub path: PathBuf,
    /// Dotted name to put the tree's modules under.
    pub prefix: Option<String>,
    /// Globs excluded from this tree only.
    pub exclude: Vec<String>,
}

/// A module spec as the build gathered it, with the origin name of an
/// alias that has its own source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gathered {
    pub spec: ModuleSpec,
    pub origin: Option<String>,
}

/// A data file to store as is (a [`crate::format::FLAG_DATA`] entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSpec {
    /// `/` and the file's path below the import root: `/pkg/data/x.txt`.
    pub name: String,
    pub path: PathBuf,
}
