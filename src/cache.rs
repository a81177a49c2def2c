//! A content-addressed bytecode cache: compiled bytecode stored under the
//! blake3 hash of everything that determines it, so a rebuild where nothing
//! changed compiles nothing.
//!
//! Entries are kept in packs, `DIR/v3/*.pack`: each build that compiled
//! something adds one pack holding what it compiled. Creating a file costs
//! far more than writing one (half a millisecond a file on some disks, more
//! than compiling a small module), so a cold build writes one file, not one
//! per module. A pack is written to a temporary name and renamed, and never
//! changed after: concurrent builds sharing a cache never see half a pack.
//! When a build finds many packs, it merges them into its own.
//!
//! Pack layout (little-endian): `OFZPACK1`, entry count (u32), 0 (u32),
//! then per entry, sorted by key: key (32 bytes), offset (u64), length
//! (u64); then the data. A pack that does not parse is ignored.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The key of one cached compile. Callers feed every input that determines
/// the output, each length-prefixed so fields cannot run together.
pub struct KeyBuilder(blake3::Hasher);

impl KeyBuilder {
    pub fn new(domain: &str) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(b"objfreeze cache v3\0");
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

const MAGIC: &[u8; 8] = b"OFZPACK1";
const HEADER: usize = 16;
const ENTRY: usize = 48;
/// This many packs or more, and the next pack written merges them all.
const MERGE_AT: usize = 16;

/// Where an entry's data lies: pack number, offset, length.
type Place = (usize, u64, u64);

#[derive(Default)]
struct Packs {
    files: Vec<(PathBuf, File)>,
    index: HashMap<[u8; 32], Place>,
}

pub struct Cache {
    dir: PathBuf,
    /// The packs present when first looked at, loaded on first use and
    /// then read without a lock (lookups run on several threads).
    packs: OnceLock<Packs>,
    /// Entries added by this build, written as one pack by [`Cache::flush`].
    new: Mutex<Vec<([u8; 32], Vec<u8>)>>,
}

/// A pack's index, checked against its size.
fn read_index(f: &mut File) -> Option<Vec<([u8; 32], u64, u64)>> {
    let size = f.metadata().ok()?.len();
    let mut head = [0u8; HEADER];
    f.read_exact(&mut head).ok()?;
    if &head[..8] != MAGIC {
        return None;
    }
    let count = u32::from_le_bytes(head[8..12].try_into().unwrap()) as u64;
    let data_start = HEADER as u64 + count.checked_mul(ENTRY as u64)?;
    if data_start > size {
        return None;
    }
    let mut raw = vec![0u8; count as usize * ENTRY];
    f.read_exact(&mut raw).ok()?;
    let mut out = Vec::with_capacity(count as usize);
    for e in raw.chunks_exact(ENTRY) {
        let key: [u8; 32] = e[..32].try_into().unwrap();
        let off = u64::from_le_bytes(e[32..40].try_into().unwrap());
        let len = u64::from_le_bytes(e[40..48].try_into().unwrap());
        if off < data_start || off.checked_add(len)? > size {
            return None;
        }
        out.push((key, off, len));
    }
    Some(out)
}

#[cfg(unix)]
fn read_at(f: &File, off: u64, len: u64) -> Option<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; usize::try_from(len).ok()?];
    f.read_exact_at(&mut buf, off).ok()?;
    Some(buf)
}

#[cfg(not(unix))]
fn read_at(mut f: &File, off: u64, len: u64) -> Option<Vec<u8>> {
    use std::io::Seek;
    let mut buf = vec![0u8; usize::try_from(len).ok()?];
    f.seek(std::io::SeekFrom::Start(off)).ok()?;
    f.read_exact(&mut buf).ok()?;
    Some(buf)
}

impl Cache {
    pub fn new(dir: &Path) -> Cache {
        Cache {
            dir: dir.join("v3"),
            packs: OnceLock::new(),
            new: Mutex::new(Vec::new()),
        }
    }

    fn load(&self) -> Packs {
        let mut p = Packs::default();
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return p;
        };
        let mut paths: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|x| x.extension().is_some_and(|e| e == "pack"))
            .collect();
        paths.sort();
        for path in paths {
            // A pack merged away by another build since the listing is just gone.
            let Ok(mut f) = File::open(&path) else {
                continue;
            };
            let Some(entries) = read_index(&mut f) else {
                continue;
            };
            let n = p.files.len();
            for (key, off, len) in entries {
                p.index.insert(key, (n, off, len));
            }
            p.files.push((path, f));
        }
        p
    }

    /// The cached data for `key`, if present.
    pub fn get(&self, key: &[u8; 32]) -> Option<Vec<u8>> {
        let p = self.packs.get_or_init(|| self.load());
        let &(n, off, len) = p.index.get(key)?;
        read_at(&p.files[n].1, off, len)
    }

    /// Keep `data` under `key`; it is written by [`Cache::flush`].
    pub fn put(&self, key: &[u8; 32], data: &[u8]) {
        self.new.lock().unwrap().push((*key, data.to_vec()));
    }

    /// Write what this build added as one pack, merging the packs found at
    /// the start into it when there are many. A cache that cannot be
    /// written only costs time, so the caller may just warn.
    pub fn flush(&self) -> std::io::Result<()> {
        let mut new = std::mem::take(&mut *self.new.lock().unwrap());
        if new.is_empty() {
            return Ok(());
        }
        let p = self.packs.get_or_init(|| self.load());
        let merged: Vec<PathBuf> = if p.files.len() >= MERGE_AT {
            for (key, &(n, off, len)) in &p.index {
                if let Some(d) = read_at(&p.files[n].1, off, len) {
                    new.push((*key, d));
                }
            }
            p.files.iter().map(|f| f.0.clone()).collect()
        } else {
            Vec::new()
        };
        new.sort_by_key(|e| e.0);
        new.dedup_by(|a, b| a.0 == b.0);
        let mut index = Vec::with_capacity(HEADER + new.len() * ENTRY);
        index.extend_from_slice(MAGIC);
        index.extend_from_slice(&(new.len() as u32).to_le_bytes());
        index.extend_from_slice(&0u32.to_le_bytes());
        let mut off = (HEADER + new.len() * ENTRY) as u64;
        for (key, d) in &new {
            index.extend_from_slice(key);
            index.extend_from_slice(&off.to_le_bytes());
            index.extend_from_slice(&(d.len() as u64).to_le_bytes());
            off += d.len() as u64;
        }
        std::fs::create_dir_all(&self.dir)?;
        self.tag()?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.dir)?;
        {
            let mut w = std::io::BufWriter::new(tmp.as_file_mut());
            w.write_all(&index)?;
            for (_, d) in &new {
                w.write_all(d)?;
            }
            w.flush()?;
        }
        let name = blake3::hash(&index).to_hex();
        tmp.persist(self.dir.join(format!("{}.pack", &name[..32])))
            .map_err(|e| e.error)?;
        for m in merged {
            let _ = std::fs::remove_file(m);
        }
        Ok(())
    }

    /// Mark the directory as a cache (https://bford.info/cachedir/), so
    /// backup tools skip it.
    fn tag(&self) -> std::io::Result<()> {
        let Some(top) = self.dir.parent() else {
            return Ok(());
        };
        let tag = top.join("CACHEDIR.TAG");
        if !tag.exists() {
            std::fs::write(
                &tag,
                "Signature: 8a477f597d28d172789f06886806bc55\n# objfreeze's bytecode cache; safe to delete.\n",
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packs(d: &Path) -> usize {
        std::fs::read_dir(d.join("v3"))
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
            .count()
    }

    #[test]
    fn round_trip_damage_and_merge() {
        let d = tempfile::tempdir().unwrap();
        let k = |s: &str| KeyBuilder::new("t").field(s.as_bytes()).finish();
        assert_ne!(
            KeyBuilder::new("t").field(b"a").field(b"bc").finish(),
            KeyBuilder::new("t").field(b"ab").field(b"c").finish(),
            "fields must not run together"
        );
        let c = Cache::new(d.path());
        assert!(c.get(&k("a")).is_none());
        c.put(&k("a"), b"data a");
        c.put(&k("b"), b"");
        c.flush().unwrap();
        assert!(d.path().join("CACHEDIR.TAG").is_file());
        let c = Cache::new(d.path());
        assert_eq!(c.get(&k("a")).unwrap(), b"data a");
        assert_eq!(c.get(&k("b")).unwrap(), b"");
        assert!(c.get(&k("c")).is_none());
        // Nothing new: no pack written.
        c.flush().unwrap();
        assert_eq!(packs(d.path()), 1);
        // A damaged pack is ignored, not trusted.
        let p = std::fs::read_dir(d.path().join("v3"))
            .unwrap()
            .flatten()
            .find(|e| e.path().extension().is_some_and(|x| x == "pack"))
            .unwrap()
            .path();
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
        assert!(Cache::new(d.path()).get(&k("a")).is_none());
        std::fs::write(&p, &bytes).unwrap();
        // Many packs are merged into the next one, keeping every entry.
        for i in 1..MERGE_AT {
            let c = Cache::new(d.path());
            c.put(&k(&i.to_string()), i.to_string().as_bytes());
            c.flush().unwrap();
        }
        assert_eq!(packs(d.path()), MERGE_AT);
        let c = Cache::new(d.path());
        c.put(&k("last"), b"last");
        c.flush().unwrap();
        assert_eq!(packs(d.path()), 1);
        let c = Cache::new(d.path());
        assert_eq!(c.get(&k("a")).unwrap(), b"data a");
        assert_eq!(c.get(&k("7")).unwrap(), b"7");
        assert_eq!(c.get(&k("last")).unwrap(), b"last");
    }
}
