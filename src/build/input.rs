//! Reading a build's input files, with bounds and errors that name them;
//! paths normalized without touching the disk.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// `p` without `.` components and with each `..` taking out its parent.
pub fn lexical_normal(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                // `..` above the root is the root.
                if !out.pop() && !out.has_root() {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Read one input file, with errors that name it.
pub fn read_input(p: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    read_input_into(p, &mut bytes)?;
    Ok(bytes)
}

/// Like [`read_input`], appending the file to `buf`; returns where it went.
/// On error `buf` may hold part of the file past its old length.
pub fn read_input_into(p: &Path, buf: &mut Vec<u8>) -> Result<std::ops::Range<usize>> {
    // Read at most one byte past the format's limit: a huge file (or an
    // endless one, like /dev/zero) is refused without being held in memory.
    let limit = u64::from(u32::MAX);
    let cannot = || format!("{}: cannot read", p.display());
    let too_big = || {
        anyhow::anyhow!(
            "{}: larger than {limit} bytes, the most a table can hold (offsets are 32-bit)",
            p.display()
        )
    };
    let is_dir = || anyhow::anyhow!("{}: is a directory, expected a bytecode file", p.display());
    // One open and one fstat per input: the directory check uses the open
    // file's metadata (where opening a directory fails, the error path checks).
    let file = match std::fs::File::open(p) {
        Ok(f) => f,
        Err(_) if p.is_dir() => return Err(is_dir()),
        Err(e) => return Err(e).with_context(cannot),
    };
    let meta = file.metadata().with_context(cannot)?;
    if meta.is_dir() {
        return Err(is_dir());
    }
    if meta.len() > limit {
        return Err(too_big());
    }
    // Room made up front: the file is read in one go, never regrown and copied.
    let start = buf.len();
    buf.reserve(meta.len() as usize + 1);
    file.take(limit + 1).read_to_end(buf).with_context(cannot)?;
    let len = buf.len() - start;
    if len as u64 > limit {
        return Err(too_big());
    }
    if len == 0 {
        bail!("{}: file is empty", p.display());
    }
    Ok(start..buf.len())
}

/// Read a source file, with errors that name it.
pub fn read_source(p: &Path) -> Result<Vec<u8>> {
    if p.is_dir() {
        bail!("{}: is a directory, expected a source file", p.display());
    }
    std::fs::read(p).with_context(|| format!("{}: cannot read", p.display()))
}
