//! Writing outputs atomically: a temporary file in the destination directory,
//! renamed over the target. A build killed at any moment leaves the old file
//! or the new one, never a truncated object that links and crashes later.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tempfile::NamedTempFile;

/// Write `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    stage(path, bytes)?.commit()
}

/// An output written in full to a temporary file beside its destination,
/// not yet renamed into place. Dropping it removes the temporary file, so a
/// build that stages several outputs and fails before committing them all
/// leaves every destination untouched.
pub struct Staged {
    tmp: NamedTempFile,
    path: PathBuf,
}

impl Staged {
    /// Rename the finished file over the destination.
    pub fn commit(self) -> Result<()> {
        let path = self.path;
        self.tmp
            .persist(&path)
            .map_err(|e| e.error)
            .with_context(|| {
                format!(
                    "{}: cannot rename the finished output into place",
                    path.display()
                )
            })?;
        Ok(())
    }
}

/// Write `bytes` to a temporary file in `path`'s directory.
pub fn stage(path: &Path, bytes: &[u8]) -> Result<Staged> {
    stage_with(path, |w| Ok(w.write_all(bytes)?))
}

/// Like [`stage`], with the contents streamed by `fill`, so a large output
/// never has to exist in memory as one buffer.
pub fn stage_with<F>(path: &Path, fill: F) -> Result<Staged>
where
    F: FnOnce(&mut dyn Write) -> Result<()>,
{
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        bail!(
            "{}: output directory {} does not exist",
            path.display(),
            dir.display()
        );
    }
    if path.is_dir() {
        bail!("{}: output path is a directory", path.display());
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".objfreeze-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| {
            format!(
                "{}: cannot create a temporary file in {}",
                path.display(),
                dir.display()
            )
        })?;
    {
        let tmp_name = tmp.path().display().to_string();
        let mut w = std::io::BufWriter::with_capacity(1 << 16, tmp.as_file_mut());
        fill(&mut w)
            .and_then(|()| Ok(w.flush()?))
            .with_context(|| format!("{tmp_name}: cannot write"))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // tempfile creates 0600; objects are ordinary build outputs.
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(Staged {
        tmp,
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_refuses_missing_dir() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.o");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert!(write_atomic(&d.path().join("no/such/x.o"), b"1").is_err());
        // No temporary files left behind.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
