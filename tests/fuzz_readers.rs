//! The readers behind `inspect`, `verify` and `extract`, fed arbitrary and
//! mutated objects, archives, fat files and tables (the in-suite version of
//! the cargo-fuzz targets under fuzz/). No input may panic; every error must
//! name the file; memory use stays bounded by the input's size; and every
//! table the reader accepts must be walkable and searchable.
//!
//! PROPTEST_CASES scales the run (default here: 2000 per property). A long
//! run: `PROPTEST_CASES=200000 cargo test --release --test fuzz_readers`.
//! Inputs that once broke a reader live in tests/fixtures/fuzz-crashers/ and
//! are replayed every run.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use objfreeze::format::{write_table, Endian, Module, Tag, TagKind};
use objfreeze::objwrite::{write_object, Placement};
use objfreeze::report::{render_text, FileReport, TableReport};
use objfreeze::target::{Target, SUPPORTED};
use objfreeze::{extract, objread};
use proptest::prelude::*;

/// Counts live heap bytes and their peak, so a test can bound what one
/// input makes the reader allocate.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new >= l.size() {
                let now = LIVE.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The allocation bound is measured per input; tests run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Most memory one input may make the reader hold at once, beyond what was
/// live before: a fixed allowance plus a multiple of the input's size.
fn allowance(len: usize) -> usize {
    (16 << 20) + 32 * len
}

/// When the input being read started (ms since the first call), 0 if none.
static STARTED: AtomicU64 = AtomicU64::new(0);
static CURRENT: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static CLOCK: OnceLock<Instant> = OnceLock::new();
/// Longest one input may take, even in a debug build on a busy machine.
const STUCK_SECS: u64 = 60;

/// A hang shows no panic: a watchdog saves the input and aborts instead.
fn watchdog() {
    static W: OnceLock<()> = OnceLock::new();
    W.get_or_init(|| {
        std::thread::spawn(|| loop {
            std::thread::sleep(Duration::from_secs(1));
            let s = STARTED.load(Ordering::Relaxed);
            let now = CLOCK.get().unwrap().elapsed().as_millis() as u64;
            if s != 0 && now.saturating_sub(s) > STUCK_SECS * 1000 {
                let p = std::env::temp_dir().join("objfreeze-fuzz-stuck.bin");
                let _ = std::fs::write(&p, &*CURRENT.lock().unwrap());
                eprintln!(
                    "a reader ran {STUCK_SECS}s on one input; saved to {}",
                    p.display()
                );
                std::process::abort();
            }
        });
    });
}

/// Read `bytes` the way the commands do; panics on any broken promise.
fn exercise(bytes: &[u8]) {
    let clock = CLOCK.get_or_init(Instant::now);
    watchdog();
    bytes.clone_into(&mut CURRENT.lock().unwrap());
    STARTED.store(clock.elapsed().as_millis() as u64 + 1, Ordering::Relaxed);
    exercise_inner(bytes);
    STARTED.store(0, Ordering::Relaxed);
}

fn exercise_inner(bytes: &[u8]) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    match objread::find_tables("input.o", bytes) {
        Err(e) => {
            let msg = format!("{e:#}");
            assert!(
                msg.starts_with("input.o: "),
                "error does not name the file: {msg}"
            );
        }
        Ok(found) => {
            let r = FileReport {
                file: "input.o".into(),
                tables: found.iter().map(TableReport::from_found).collect(),
            };
            let _ = render_text(&r, true);
            serde_json::to_string(&r).unwrap();
            for (f, t) in found.iter().zip(&r.tables) {
                match &f.table {
                    Ok(table) => {
                        assert!(t.body.is_some());
                        let mut prev: Option<&[u8]> = None;
                        for e in table.entries() {
                            if let Some(p) = prev {
                                assert!(p < e.name, "unsorted table accepted");
                            }
                            prev = Some(e.name);
                            assert_eq!(table.find(e.name).map(|x| x.name), Some(e.name));
                            let _ = extract::module_path(Path::new("x"), &e, "__init__", "pyc");
                        }
                    }
                    Err(e) => assert!(!e.to_string().is_empty() && t.error.is_some()),
                }
            }
        }
    }
    let used = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    assert!(
        used <= allowance(bytes.len()),
        "{used} bytes allocated for a {}-byte input",
        bytes.len()
    );
}

fn sample_table(endian: Endian) -> Vec<u8> {
    let m = |name: &str, data: &[u8], package, origin: Option<&str>| Module {
        name: name.into(),
        data: data.to_vec().into(),
        package,
        origin: origin.map(str::to_string),
        data_file: name.starts_with('/'),
    };
    let mods = [
        m("a", b"\xe3module a", false, None),
        m("p", b"\xe3package", true, None),
        m("p.s", b"\xe3sub", false, None),
        m("p.t", b"\xe3sub", false, Some("p.s")),
        m("/p/data.txt", b"data", false, None),
    ];
    let tag = Tag {
        kind: TagKind::Cpython,
        value: 0x0a0d_0da7,
    };
    write_table(&mods, tag, endian).unwrap()
}

/// A GNU-style `ar` archive of `members`.
fn archive(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, data) in members {
        let hdr = format!(
            "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            format!("{name}/"),
            0,
            0,
            0,
            644,
            data.len()
        );
        out.extend_from_slice(hdr.as_bytes());
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

/// A fat Mach-O of thin `slices` (cputype, bytes), 4 KiB-aligned.
fn fat(slices: &[(u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xcafe_babe_u32.to_be_bytes());
    out.extend_from_slice(&(slices.len() as u32).to_be_bytes());
    let mut off = 4096u32;
    let mut body = Vec::new();
    for (cpu, s) in slices {
        for v in [*cpu, 0, off, s.len() as u32, 12] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        off += (s.len() as u32).div_ceil(4096) * 4096;
    }
    out.resize(4096, 0);
    for (_, s) in slices {
        body.extend_from_slice(s);
        body.resize(body.len().div_ceil(4096) * 4096, 0);
    }
    out.extend_from_slice(&body);
    out
}

/// Sound inputs of every kind the reader handles.
fn seeds() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    let mut objs = Vec::new();
    for t in SUPPORTED {
        let target = Target::parse(t).unwrap();
        let table = sample_table(target.endian);
        let place = Placement::new(&target, None, None).unwrap();
        let obj = write_object(&target, &place, &table).unwrap();
        objs.push((t.to_string(), obj.clone()));
        v.push(obj);
    }
    v.push(sample_table(Endian::Little));
    v.push(sample_table(Endian::Big));
    let get = |name: &str| objs.iter().find(|(t, _)| t == name).unwrap().1.clone();
    let elf = get("x86_64-unknown-linux-gnu");
    let coff = get("x86_64-pc-windows-msvc");
    v.push(archive(&[
        ("a.o", &elf),
        ("b.obj", &coff),
        ("note.txt", b"not an object"),
    ]));
    v.push(fat(&[
        (0x0100_0007, &get("x86_64-apple-darwin")),
        (0x0100_000c, &get("aarch64-apple-darwin")),
    ]));
    // An archive inside a fat file, inside nothing else.
    v.push(fat(&[(
        0x0100_0007,
        &archive(&[("m.o", &get("x86_64-apple-darwin"))]),
    )]));
    v
}

fn seeds_cached() -> &'static [Vec<u8>] {
    static S: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    S.get_or_init(seeds)
}

/// One change to a seed: where (a fraction of its length) and what.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(f64, u8),
    Set(f64, u8),
    /// A 32-bit field set to an interesting value (in either byte order).
    Word(f64, u32, bool),
    Truncate(f64),
    Insert(f64, Vec<u8>),
    Remove(f64, usize),
    /// A region copied over another (e.g. a header over a header).
    Copy(f64, f64, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let frac = 0.0..1.0f64;
    let word = prop_oneof![
        Just(0u32),
        Just(1),
        Just(0x7fff_ffff),
        Just(0x8000_0000),
        Just(0xffff_ffff),
        Just(0xffff_fff0),
        any::<u32>(),
        0u32..4096,
    ];
    prop_oneof![
        (frac.clone(), 0u8..8).prop_map(|(f, b)| Mutation::Flip(f, 1 << b)),
        (frac.clone(), any::<u8>()).prop_map(|(f, b)| Mutation::Set(f, b)),
        (frac.clone(), word, any::<bool>()).prop_map(|(f, w, be)| Mutation::Word(f, w, be)),
        frac.clone().prop_map(Mutation::Truncate),
        (frac.clone(), prop::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(f, b)| Mutation::Insert(f, b)),
        (frac.clone(), 1usize..256).prop_map(|(f, n)| Mutation::Remove(f, n)),
        (frac.clone(), frac, 1usize..128).prop_map(|(a, b, n)| Mutation::Copy(a, b, n)),
    ]
}

fn apply(b: &mut Vec<u8>, m: &Mutation) {
    let at = |f: f64, len: usize| ((f * len as f64) as usize).min(len.saturating_sub(1));
    let len = b.len();
    if len == 0 {
        return;
    }
    match m {
        Mutation::Flip(f, x) => b[at(*f, len)] ^= x,
        Mutation::Set(f, x) => b[at(*f, len)] = *x,
        Mutation::Word(f, w, be) => {
            // Fields sit at 4-byte boundaries in every format we read.
            let i = at(*f, len) & !3;
            let bytes = if *be {
                w.to_be_bytes()
            } else {
                w.to_le_bytes()
            };
            let n = bytes.len().min(len - i);
            b[i..i + n].copy_from_slice(&bytes[..n]);
        }
        Mutation::Truncate(f) => b.truncate(at(*f, len)),
        Mutation::Insert(f, x) => {
            let i = at(*f, len);
            b.splice(i..i, x.iter().copied());
        }
        Mutation::Remove(f, n) => {
            let i = at(*f, len);
            b.drain(i..(i + n).min(len));
        }
        Mutation::Copy(from, to, n) => {
            let (s, d) = (at(*from, len), at(*to, len));
            let n = (*n).min(len - s).min(len - d);
            b.copy_within(s..s + n, d);
        }
    }
}

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cases(2000))]

    /// Seeds of every kind, each damaged a few times.
    #[test]
    fn mutated_objects_archives_and_tables(
        seed in any::<prop::sample::Index>(),
        muts in prop::collection::vec(mutation(), 1..6),
    ) {
        let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let seeds = seeds_cached();
        let mut b = seed.get(seeds).clone();
        for m in &muts {
            apply(&mut b, m);
        }
        exercise(&b);
    }

    /// Arbitrary bytes, some starting with a format's magic and some
    /// carrying the table magic at a 4-byte boundary.
    #[test]
    fn arbitrary_bytes(
        prefix in prop_oneof![
            Just(&b""[..]),
            Just(&b"\x7fELF\x02\x01\x01\0"[..]),
            Just(&b"\x7fELF\x01\x02\x01\0"[..]),
            Just(&b"!<arch>\n"[..]),
            Just(&b"\xca\xfe\xba\xbe"[..]),
            Just(&b"\xcf\xfa\xed\xfe"[..]),
            Just(&b"MZ"[..]),
            Just(&b"\x64\x86"[..]),
            Just(&b"OBJFREEZ"[..]),
        ],
        body in prop::collection::vec(any::<u8>(), 0..4096),
        magic_at in prop::option::of(0usize..1024),
    ) {
        let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let mut b = prefix.to_vec();
        b.extend_from_slice(&body);
        if let Some(i) = magic_at {
            let i = (i * 4).min(b.len());
            b.splice(i..i, *b"OBJFREEZ");
        }
        exercise(&b);
    }
}

/// Every seed reads back with its table intact (so the mutations start from
/// inputs that exercise the whole reader, not its first error).
#[test]
fn seeds_are_sound() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for (i, s) in seeds_cached().iter().enumerate() {
        let found = objread::find_tables("seed", s).unwrap_or_else(|e| panic!("seed {i}: {e:#}"));
        assert!(!found.is_empty(), "seed {i}: no table");
        for f in &found {
            let t = f.table.as_ref().unwrap_or_else(|e| panic!("seed {i}: {e}"));
            assert!(t.digest_ok() && t.count == 5, "seed {i}");
        }
        exercise(s);
    }
}

/// Inputs that once made a reader panic, hang or allocate without bound.
#[test]
fn fuzz_crashers_stay_fixed() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = common::repo().join("tests/fixtures/fuzz-crashers");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        let t = std::time::Instant::now();
        exercise(&bytes);
        assert!(
            t.elapsed().as_secs() < 10,
            "{}: took {:?}",
            p.display(),
            t.elapsed()
        );
        n += 1;
    }
    assert!(n > 0, "no inputs in {}", dir.display());
    println!("{n} saved inputs replayed");
}
