//! A content-addressed bytecode cache: compiled bytecode stored under the
//! blake3 hash of everything that determines it, so a rebuild where nothing
//! changed compiles nothing.
//!
//! Entries live at `DIR/v2/ab/cdef...` (the key in hex, split so no
//! directory grows huge). Writes go through a temporary file and a rename,
//! so concurrent builds sharing a cache never see half an entry. Each entry
//! starts with its own key and its data's length: a file that is not what
//! its name says (copied around, truncated by a full disk) is a miss.
//! The data is not hashed again on reading: that would cost a warm build as
//! much as hashing every source.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The key of one cached compile. Callers feed every input that determines
/// the output, each length-prefixed so fields cannot run together.
pub struct KeyBuilder(blake3::Hasher);

impl KeyBuilder {
    pub fn new(domain: &str) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(b"objfreeze cache v2\0");
        let mut k = KeyBuilder(h);
        k.field(domain.as_bytes());
        k
    }
    pub fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }
    pub fn finish(&self) -> [u8; 32] {
        *self.0.finalize().as_bytes()
    }
}

/// Entry header: the key, then the data's length.
const HEAD: usize = 40;

pub struct Cache {
    dir: PathBuf,
    /// Did the cache exist when opened? If not, every lookup misses
    /// without asking the file system.
    existed: bool,
    /// Subdirectories known to exist, and whether the tag is written:
    /// creating files is what a cold build's cache costs, so no call more.
    made: std::sync::Mutex<(bool, std::collections::HashSet<PathBuf>)>,
}

/// The default cache directory: `$XDG_CACHE_HOME/objfreeze`, else
/// `~/.cache/objfreeze` (`~/Library/Caches/objfreeze` on macOS,
/// `%LOCALAPPDATA%\objfreeze` on Windows).
pub fn default_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if cfg!(windows) {
        return env("LOCALAPPDATA").map(|d| d.join("objfreeze"));
    }
    if let Some(x) = env("XDG_CACHE_HOME").filter(|p| p.is_absolute()) {
        return Some(x.join("objfreeze"));
    }
    let home = env("HOME")?;
    Some(if cfg!(target_os = "macos") {
        home.join("Library/Caches/objfreeze")
    } else {
        home.join(".cache/objfreeze")
    })
}

impl Cache {
    pub fn new(dir: &Path) -> Cache {
        let dir = dir.join("v2");
        Cache {
            existed: dir.is_dir(),
            dir,
            made: Default::default(),
        }
    }

    fn path(&self, key: &[u8; 32]) -> PathBuf {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(&hex[..2]).join(&hex[2..])
    }

    /// Mark the directory as a cache (https://bford.info/cachedir/), so
    /// backup tools skip it.
    fn tag(&self) -> std::io::Result<()> {
        let Some(top) = self.dir.parent() else {
            return Ok(());
        };
        let tag = top.join("CACHEDIR.TAG");
        if !tag.exists() {
            std::fs::create_dir_all(top)?;
            std::fs::write(
                &tag,
                "Signature: 8a477f597d28d172789f06886806bc55
# objfreeze's bytecode cache; safe to delete.
",
            )?;
        }
        Ok(())
    }

    /// The cached data for `key`, if present and intact.
    pub fn get(&self, key: &[u8; 32]) -> Option<Vec<u8>> {
        if !self.existed {
            return None;
        }
        let mut bytes = std::fs::read(self.path(key)).ok()?;
        if bytes.len() < HEAD || bytes[..32] != key[..] {
            return None;
        }
        let len = u64::from_le_bytes(bytes[32..HEAD].try_into().unwrap());
        if len != (bytes.len() - HEAD) as u64 {
            return None;
        }
        bytes.drain(..HEAD);
        Some(bytes)
    }

    /// Store `data` under `key`. A cache that cannot be written only costs
    /// time, so failures are returned for the caller to warn about, once.
    pub fn put(&self, key: &[u8; 32], data: &[u8]) -> std::io::Result<()> {
        let path = self.path(key);
        let dir = path.parent().expect("has a parent");
        {
            let mut made = self.made.lock().unwrap();
            if !made.0 {
                self.tag()?;
                made.0 = true;
            }
            if !made.1.contains(dir) {
                std::fs::create_dir_all(dir)?;
                made.1.insert(dir.to_path_buf());
            }
        }
        let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
        tmp.write_all(key)?;
        tmp.write_all(&(data.len() as u64).to_le_bytes())?;
        tmp.write_all(data)?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::new(d.path());
        let k = KeyBuilder::new("t").field(b"a").field(b"bc").finish();
        let k2 = KeyBuilder::new("t").field(b"ab").field(b"c").finish();
        assert_ne!(k, k2, "fields must not run together");
        assert!(c.get(&k).is_none());
        c.put(&k, b"data").unwrap();
        // A cache missing when opened stays empty for that build.
        assert!(c.get(&k).is_none());
        let c = Cache::new(d.path());
        assert_eq!(c.get(&k).unwrap(), b"data");
        assert!(d.path().join("CACHEDIR.TAG").is_file());
        let p = c.path(&k);
        let b = std::fs::read(&p).unwrap();
        std::fs::write(&p, &b[..b.len() - 1]).unwrap();
        assert!(c.get(&k).is_none(), "truncated");
        let p2 = c.path(&k2);
        std::fs::create_dir_all(p2.parent().unwrap()).unwrap();
        std::fs::write(&p2, &b).unwrap();
        assert!(c.get(&k2).is_none(), "another key's entry");
    }
}
