//! objfreeze: freeze interpreter bytecode into linkable object files.
//!
//! Modules, in the order data flows through a build:
//! - [`spec`]: what to freeze (modules, aliases, trees, data files);
//! - [`manifest`]: a build described in a TOML file;
//! - [`build`]: module specs in, bytecode loaded and checked, object out;
//! - [`tree`]: directories of sources walked into module specs;
//! - [`cache`]: compiled bytecode kept by content hash;
//! - [`cpython`]: what is specific to CPython (`.pyc` headers, names, the
//!   standard library, compiling with an interpreter);
//! - [`frontend`]: how inputs are read and compiled for the table's interpreter;
//! - [`lang`]: what the core asks of an interpreter; [`langs`]: which one a tag kind is;
//! - [`format`]: the table layout, its writer and its checking parser;
//! - [`target`]: target triples and what they mean for the object;
//! - [`objwrite`]: the table wrapped in an ELF, Mach-O or COFF object;
//! - [`output`]: atomic writes; [`buffer`]: large buffers offered to huge pages.
//!
//! and back: [`objread`] finds tables in any object, archive or executable,
//! [`report`] describes them, [`extract`] writes modules back out.

pub mod buffer;
pub mod build;
pub mod cache;
pub mod cpython;
pub mod extract;
pub mod format;
pub mod frontend;
pub mod lang;
pub mod langs;
pub mod manifest;
pub mod objread;
pub mod objwrite;
pub mod output;
pub mod report;
pub mod spec;
pub mod target;
pub mod tree;
