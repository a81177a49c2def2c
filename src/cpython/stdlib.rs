//! The standard library as a tree to freeze, and what is left out of it by
//! default: test suites, GUI and demo packages, the bundled pip installer,
//! and import-system test fixtures. `--no-default-excludes` drops this
//! list; `--include GLOB` brings single entries back.

use crate::tree::Layout;

/// How CPython lays out modules on disk.
pub const LAYOUT: Layout = Layout {
    ext: "py",
    init: "__init__",
    skip_dirs: &["__pycache__"],
};

/// Default excludes for `--stdlib`, in the glob syntax of [`crate::tree`]
/// (no `/`: a name at any depth).
pub const DEFAULT_EXCLUDES: &[&str] = &[
    // Test suites: Lib/test, and the per-package ones (unittest/test,
    // ctypes/test, sqlite3/test, lib2to3/tests, distutils/tests, ...).
    "test",
    "tests",
    "idle_test",
    // GUI and demos: need Tk, or are programs rather than modules.
    "idlelib",
    "tkinter",
    "turtledemo",
    // Bundled pip wheels and their installer.
    "ensurepip",
    // Third-party packages are not the standard library.
    "site-packages",
    // Frozen-import test fixtures (`__hello__`, `__phello__` and, before
    // 3.11, `__phello__.foo.py`).
    "__hello__*",
    "__phello__*",
];

pub fn default_excludes() -> Vec<String> {
    DEFAULT_EXCLUDES.iter().map(|s| s.to_string()).collect()
}
