//! The C runtime under AddressSanitizer and UBSan, against thousands of
//! corrupted tables, with the Rust parser as the oracle: `objfreeze_check`
//! must accept exactly the tables `format::Table::parse` accepts (in the
//! host's byte order), and walking an accepted table must read the same
//! names, data, flags and origins, and nothing outside the table.
//!
//! OBJFREEZE_SANITIZE_TABLES sets how many corrupted tables to try (default
//! 6000), OBJFREEZE_SANITIZE_SEED the seed.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use objfreeze::format::{
    ent, hdr, write_table, Endian, Module, Table, Tag, TagKind, ENTRY_SIZE, HEADER_SIZE,
};

/// splitmix64: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

fn module(name: &str, data: &[u8], package: bool, origin: Option<&str>) -> Module {
    Module {
        name: name.into(),
        data: data.to_vec().into(),
        package,
        origin: origin.map(str::to_string),
        // `/`-named entries are data files (format::FLAG_DATA).
        data_file: name.starts_with('/'),
    }
}

/// Sound tables to corrupt: empty, one module, packages and aliases, names
/// that share prefixes or use high bytes, empty and shared blobs, both byte
/// orders (the C side reads only the host's).
fn bases() -> Vec<(Vec<u8>, Endian)> {
    let cpy = Tag {
        kind: TagKind::Cpython,
        value: 0x0a0d_0da7,
    };
    let sets: Vec<Vec<Module>> = vec![
        vec![],
        vec![module("a", b"\xe3one", false, None)],
        vec![
            module("a", b"\xe3aaaa", true, None),
            module("a.b", b"\xe3bb", false, None),
            module("ab", b"\xe3bb", false, None),
            module("_alias", b"\xe3aaaa", false, Some("a")),
            module("z\u{e9}", b"", false, None),
            module("/a/data.txt", b"data", false, None),
            module("/a/sub/x", b"", false, None),
        ],
        (0..40)
            .map(|i| {
                let data = vec![i as u8; (i * 7) % 50];
                let origin = (i % 9 == 0).then(|| format!("origin{}", i % 2));
                module(&format!("m{i:02}.x"), &data, i % 5 == 0, origin.as_deref())
            })
            .collect(),
    ];
    let mut v = Vec::new();
    for s in &sets {
        for e in [Endian::Little, Endian::Big] {
            v.push((write_table(s, cpy, e).unwrap(), e));
        }
    }
    v
}

const INTERESTING: &[u32] = &[
    0,
    1,
    2,
    3,
    4,
    15,
    16,
    31,
    32,
    95,
    96,
    97,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fff0,
    0xffff_ffff,
];

fn put(b: &mut [u8], at: usize, v: u32, e: Endian) {
    let a = match e {
        Endian::Little => v.to_le_bytes(),
        Endian::Big => v.to_be_bytes(),
    };
    if at + 4 <= b.len() {
        b[at..at + 4].copy_from_slice(&a);
    }
}

/// A value near, or far from, `old`.
fn nudge(r: &mut Rng, old: u32, total: u32) -> u32 {
    match r.below(6) {
        0 => *r.pick(INTERESTING),
        1 => old.wrapping_add(1 + r.below(32) as u32),
        2 => old.wrapping_sub(1 + r.below(32) as u32),
        3 => total.wrapping_add(r.below(64) as u32).wrapping_sub(32),
        4 => r.next() as u32,
        _ => old ^ (1 << r.below(32)),
    }
}

/// The kinds of damage, by name, for the summary.
const KINDS: &[&str] = &[
    "bit flip",
    "byte flip in header",
    "header field",
    "entry field",
    "truncated",
    "trailing bytes",
    "entries swapped (unsorted)",
    "entry duplicated",
    "NUL after a name overwritten",
    "NUL inside a name",
    "name length off",
    "count changed",
    "offset into another region",
    "flags",
    "total size",
];

/// Damage `t` once in a way picked by `kind`.
fn corrupt(r: &mut Rng, t: &mut Vec<u8>, e: Endian, kind: usize) {
    let rd = |b: &[u8], at: usize| -> u32 {
        if at + 4 > b.len() {
            return 0;
        }
        let a: [u8; 4] = b[at..at + 4].try_into().unwrap();
        match e {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        }
    };
    let len = t.len();
    if len < HEADER_SIZE as usize {
        // Already cut short: only grow it again, or damage what is left.
        match r.below(2) {
            0 => t.push(r.next() as u8),
            _ if len > 0 => t[r.below(len)] ^= 0xff,
            _ => {}
        }
        return;
    }
    let total = rd(t, hdr::TOTAL_SIZE);
    // Entries that lie inside the bytes, whatever the (maybe damaged) count says.
    let count = (rd(t, hdr::COUNT) as usize)
        .min(len.saturating_sub(HEADER_SIZE as usize) / ENTRY_SIZE as usize);
    let entry = |r: &mut Rng| HEADER_SIZE as usize + r.below(count.max(1)) * ENTRY_SIZE as usize;
    let names_off = rd(t, hdr::NAMES_OFFSET) as usize;
    let names_end = names_off + rd(t, hdr::NAMES_SIZE) as usize;
    match kind {
        0 => {
            let i = r.below(len);
            t[i] ^= 1 << r.below(8);
        }
        1 => {
            let i = r.below(HEADER_SIZE as usize);
            t[i] = r.next() as u8;
        }
        2 => {
            let at = 8 + 4 * r.below(14);
            let v = nudge(r, rd(t, at), total);
            put(t, at, v, e);
        }
        3 if count > 0 => {
            let at = entry(r) + 4 * r.below(8);
            let v = nudge(r, rd(t, at), total);
            put(t, at, v, e);
        }
        4 => t.truncate(r.below(len)),
        5 => {
            let n = 1 + r.below(64);
            t.extend((0..n).map(|_| r.next() as u8));
        }
        6 if count > 1 => {
            let (a, b) = (entry(r), entry(r));
            for k in 0..ENTRY_SIZE as usize {
                t.swap(a + k, b + k);
            }
        }
        7 if count > 1 => {
            let (a, b) = (entry(r), entry(r));
            let src = t[a..a + ENTRY_SIZE as usize].to_vec();
            t[b..b + ENTRY_SIZE as usize].copy_from_slice(&src);
        }
        8 if names_end > names_off && names_end <= len => {
            // Any NUL in the names region, so a name runs on into the next.
            let nuls: Vec<usize> = (names_off..names_end).filter(|&i| t[i] == 0).collect();
            if let Some(&i) = nuls.get(r.below(nuls.len())) {
                t[i] = b'A' + r.below(26) as u8;
            }
        }
        9 if names_end > names_off && names_end <= len => {
            let i = names_off + r.below(names_end - names_off);
            t[i] = 0;
        }
        10 if count > 0 => {
            let at = entry(r)
                + if r.below(2) == 0 {
                    ent::NAME_LEN
                } else {
                    ent::ORIGIN_LEN
                };
            let old = rd(t, at);
            let v = match r.below(3) {
                0 => 0,
                1 => old.wrapping_add(1),
                _ => old.wrapping_sub(1),
            };
            put(t, at, v, e);
        }
        11 => {
            let v = match r.below(4) {
                0 => count as u32 + 1,
                1 => (count as u32).wrapping_sub(1),
                2 => *r.pick(INTERESTING),
                _ => total.wrapping_sub(HEADER_SIZE) / ENTRY_SIZE + r.below(3) as u32,
            };
            put(t, hdr::COUNT, v, e);
        }
        12 => {
            // Point a field at the start, middle or end of some region.
            let regions = [
                0u32,
                HEADER_SIZE,
                names_off as u32,
                names_end as u32,
                rd(t, hdr::DATA_OFFSET),
                rd(t, hdr::DATA_OFFSET).wrapping_add(rd(t, hdr::DATA_SIZE)),
                total,
                total.wrapping_sub(1),
            ];
            let v = r
                .pick(&regions)
                .wrapping_add(r.below(3) as u32)
                .wrapping_sub(1);
            let at = if count > 0 && r.below(2) == 0 {
                entry(r) + *r.pick(&[ent::NAME_OFFSET, ent::DATA_OFFSET, ent::ORIGIN_OFFSET])
            } else {
                *r.pick(&[hdr::INDEX_OFFSET, hdr::NAMES_OFFSET, hdr::DATA_OFFSET])
            };
            put(t, at, v, e);
        }
        13 if count > 0 => {
            let at = entry(r) + ent::FLAGS;
            let v = match r.below(3) {
                0 => 2,
                1 => 1 << r.below(32),
                _ => rd(t, at) ^ 2,
            };
            put(t, at, v, e);
        }
        14 => {
            let v = match r.below(3) {
                0 => total.wrapping_add(1 + r.below(15) as u32),
                1 => total.wrapping_add(16 * (1 + r.below(4) as u32)),
                _ => total.wrapping_sub(16),
            };
            put(t, hdr::TOTAL_SIZE, v, e);
        }
        _ => {
            let i = r.below(len);
            t[i] ^= 0xff;
        }
    }
}

const FNV_OFFSET: u64 = 14_695_981_039_346_656_037;

fn fnv(mut h: u64, b: &[u8]) -> u64 {
    for &x in b {
        h ^= x as u64;
        h = h.wrapping_mul(1_099_511_628_211);
    }
    h
}

/// What the harness must print for `bytes`, by the Rust parser.
fn oracle(bytes: &[u8]) -> String {
    let host = if cfg!(target_endian = "little") {
        Endian::Little
    } else {
        Endian::Big
    };
    match Table::parse(bytes) {
        Ok(t) if t.endian == host => {
            let mut h = FNV_OFFSET;
            for e in t.entries() {
                h = fnv(h, e.name);
                h = fnv(h, &[0]);
                h = fnv(h, e.data);
                h = fnv(h, &e.flags.to_ne_bytes());
                if let Some(o) = e.origin {
                    h = fnv(h, o);
                    h = fnv(h, &[0]);
                }
            }
            format!("accept {} {h:016x}", t.count)
        }
        _ => "reject".into(),
    }
}

fn compile(cc: &str, out: &Path) {
    let src = common::repo().join("tests/c/sanitize_harness.c");
    common::run(
        Command::new(cc)
            .args([
                "-std=c99",
                "-Wall",
                "-Wextra",
                "-pedantic",
                "-Werror",
                "-g",
                "-O1",
                "-fno-omit-frame-pointer",
                "-fsanitize=address,undefined",
                "-fno-sanitize-recover=all",
            ])
            .arg("-I")
            .arg(common::repo().join("cbindings"))
            .arg(&src)
            .arg("-o")
            .arg(out),
    );
}

#[test]
fn c_runtime_under_sanitizers_agrees_with_rust_parser() {
    if !common::have_all(&["gcc", "clang"]) {
        return;
    }
    let n: usize = std::env::var("OBJFREEZE_SANITIZE_TABLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6000);
    let seed: u64 = std::env::var("OBJFREEZE_SANITIZE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x0b1f_2ee2);
    let dir = common::tempdir();
    let mut r = Rng(seed);
    let bases = bases();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut expect = Vec::new();
    let mut kinds_used = vec![0usize; KINDS.len()];
    let mut list = String::new();
    // The sound tables themselves, then the corrupted ones.
    let mut tables: Vec<Vec<u8>> = bases.iter().map(|(b, _)| b.clone()).collect();
    for _ in 0..n {
        let (base, e) = r.pick(&bases);
        let mut t = base.clone();
        for _ in 0..1 + r.below(3) {
            let kind = r.below(KINDS.len());
            kinds_used[kind] += 1;
            corrupt(&mut r, &mut t, *e, kind);
        }
        tables.push(t);
    }
    for (i, t) in tables.iter().enumerate() {
        let p = dir.path().join(format!("t{i:05}.bin"));
        std::fs::write(&p, t).unwrap();
        writeln!(list, "{}", p.display()).unwrap();
        expect.push(oracle(t));
        files.push(p);
    }
    let list_path = dir.path().join("list.txt");
    std::fs::write(&list_path, &list).unwrap();
    let accepted = expect.iter().filter(|e| e.starts_with("accept")).count();
    let base_le = bases.iter().filter(|(_, e)| *e == Endian::Little).count();
    // Sanity of the corpus itself: the sound little-endian bases are
    // accepted and most corrupted tables are not.
    assert!(accepted >= base_le, "{accepted} accepted");
    assert!(
        accepted < tables.len() / 2,
        "{accepted} of {} accepted",
        tables.len()
    );

    for cc in ["gcc", "clang"] {
        let exe = dir.path().join(format!("harness-{cc}"));
        compile(cc, &exe);
        let out = Command::new(&exe)
            .arg(&list_path)
            .env(
                "ASAN_OPTIONS",
                "detect_leaks=1:abort_on_error=0:halt_on_error=1",
            )
            .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{cc} harness failed ({}):\n{stderr}",
            out.status
        );
        assert!(stderr.is_empty(), "{cc} harness wrote to stderr:\n{stderr}");
        let got: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
        assert_eq!(got.len(), expect.len(), "{cc}: one line per table");
        let mut disagree = Vec::new();
        for (i, (g, e)) in got.iter().zip(&expect).enumerate() {
            if g != e {
                disagree.push(format!(
                    "{}: C says {g:?}, Rust says {e:?}",
                    files[i].display()
                ));
            }
        }
        assert!(
            disagree.is_empty(),
            "{cc}: {} of {} tables disagree; first ones:\n{}",
            disagree.len(),
            tables.len(),
            disagree[..disagree.len().min(10)].join("\n")
        );
        println!(
            "{cc} -fsanitize=address,undefined: {} tables ({} corrupted), {accepted} accepted and walked, {} rejected, all agree with Table::parse",
            tables.len(),
            n,
            tables.len() - accepted
        );
    }
    let mut s = String::from("damage applied:");
    for (k, c) in KINDS.iter().zip(&kinds_used) {
        write!(s, " {k}={c};").unwrap();
    }
    println!("{s}");
}
