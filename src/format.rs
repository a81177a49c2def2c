//! The table format: its layout (defined here once for Rust, and once in
//! `cbindings/objfreeze.h` for C), a writer that lays a table out, and a
//! parser that checks one.
//!
//! A table is one contiguous blob. Every reference inside it is an offset from
//! the table's first byte, so the object holding it needs no relocations.
//! All integers are in the target's byte order.
//!
//! ```text
//! +----------------+ 0
//! | header (96 B)  |  magic, version, sizes, counts, interpreter tag, digest
//! +----------------+ index_offset
//! | index          |  count x 32-byte entries, sorted by name (byte order)
//! +----------------+ names_offset
//! | names          |  NUL-terminated module names, then origin names
//! +----------------+ data_offset (16-aligned)
//! | data           |  bytecode blobs, each 16-aligned
//! +----------------+ total_size (16-aligned; tables laid end to end walk)
//! ```

use std::collections::HashMap;
use std::fmt;

/// The first eight bytes of every table.
pub const MAGIC: [u8; 8] = *b"OBJFREEZ";
/// The layout version this crate writes and reads.
pub const VERSION: u32 = 1;
/// Size of the header in bytes.
pub const HEADER_SIZE: u32 = 96;
/// Size of one index entry in bytes.
pub const ENTRY_SIZE: u32 = 32;
/// Alignment of the table, of the data region and of every blob in it.
pub const ALIGN: u32 = 16;

/// Entry flag: the module is a package (has `__path__`).
pub const FLAG_PACKAGE: u32 = 1;
/// Entry flag: the module was frozen from another module's source; the
/// entry's origin fields name that module.
pub const FLAG_ALIAS: u32 = 2;
/// Entry flag: the entry is a data file (package data, distribution
/// metadata), not a module. Its name is its path below the import root with
/// a leading `/` (`/pkg/data/file.txt`): no module name starts with `/`, so
/// data and modules never collide, and since `/` sorts before letters,
/// digits and `_`, every data entry sits in one block before the modules,
/// each directory's files in one run, found by the same binary search.
pub const FLAG_DATA: u32 = 4;
/// Every flag bit this version defines; others must be zero.
pub const KNOWN_FLAGS: u32 = FLAG_PACKAGE | FLAG_ALIAS | FLAG_DATA;

/// What the interpreter tag means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TagKind {
    /// No interpreter recorded; `tag` is 0.
    None,
    /// CPython: `tag` is the bytecode magic, the first four bytes of a `.pyc`
    /// read as a little-endian integer (what `PyImport_GetMagicNumber` returns).
    Cpython,
    /// Lua: `tag` is the `luac` format version byte (0x54 for Lua 5.4).
    Lua,
}

impl TagKind {
    pub fn code(self) -> u32 {
        match self {
            TagKind::None => 0,
            TagKind::Cpython => 1,
            TagKind::Lua => 2,
        }
    }
    pub fn from_code(code: u32) -> Option<TagKind> {
        Some(match code {
            0 => TagKind::None,
            1 => TagKind::Cpython,
            2 => TagKind::Lua,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            TagKind::None => "none",
            TagKind::Cpython => "cpython",
            TagKind::Lua => "lua",
        }
    }
}

/// One field of a fixed-size record: where it is and how wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub offset: usize,
    pub size: usize,
}

const fn field(name: &'static str, offset: usize, size: usize) -> Field {
    Field { name, offset, size }
}

/// Header field offsets.
pub mod hdr {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 8;
    pub const HEADER_SIZE: usize = 12;
    pub const ENTRY_SIZE: usize = 16;
    pub const COUNT: usize = 20;
    pub const INDEX_OFFSET: usize = 24;
    pub const NAMES_OFFSET: usize = 28;
    pub const NAMES_SIZE: usize = 32;
    pub const DATA_OFFSET: usize = 36;
    pub const DATA_SIZE: usize = 40;
    pub const TOTAL_SIZE: usize = 44;
    pub const TAG_KIND: usize = 48;
    pub const TAG: usize = 52;
    pub const FLAGS: usize = 56;
    pub const RESERVED: usize = 60;
    pub const DIGEST: usize = 64;
}

/// Index entry field offsets.
pub mod ent {
    pub const NAME_OFFSET: usize = 0;
    pub const NAME_LEN: usize = 4;
    pub const DATA_OFFSET: usize = 8;
    pub const DATA_SIZE: usize = 12;
    pub const FLAGS: usize = 16;
    pub const ORIGIN_OFFSET: usize = 20;
    pub const ORIGIN_LEN: usize = 24;
    pub const RESERVED: usize = 28;
}

/// The header, field by field, in the order and with the names of
/// `struct objfreeze_table` in `cbindings/objfreeze.h`.
pub const HEADER_FIELDS: &[Field] = &[
    field("magic", hdr::MAGIC, 8),
    field("version", hdr::VERSION, 4),
    field("header_size", hdr::HEADER_SIZE, 4),
    field("entry_size", hdr::ENTRY_SIZE, 4),
    field("count", hdr::COUNT, 4),
    field("index_offset", hdr::INDEX_OFFSET, 4),
    field("names_offset", hdr::NAMES_OFFSET, 4),
    field("names_size", hdr::NAMES_SIZE, 4),
    field("data_offset", hdr::DATA_OFFSET, 4),
    field("data_size", hdr::DATA_SIZE, 4),
    field("total_size", hdr::TOTAL_SIZE, 4),
    field("tag_kind", hdr::TAG_KIND, 4),
    field("tag", hdr::TAG, 4),
    field("flags", hdr::FLAGS, 4),
    field("reserved", hdr::RESERVED, 4),
    field("digest", hdr::DIGEST, 32),
];

/// An index entry, field by field, as `struct objfreeze_entry`.
pub const ENTRY_FIELDS: &[Field] = &[
    field("name_offset", ent::NAME_OFFSET, 4),
    field("name_len", ent::NAME_LEN, 4),
    field("data_offset", ent::DATA_OFFSET, 4),
    field("data_size", ent::DATA_SIZE, 4),
    field("flags", ent::FLAGS, 4),
    field("origin_offset", ent::ORIGIN_OFFSET, 4),
    field("origin_len", ent::ORIGIN_LEN, 4),
    field("reserved", ent::RESERVED, 4),
];

/// Byte order of the integers in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Endian {
    Little,
    Big,
}

impl Endian {
    pub fn read_u32(self, b: &[u8], at: usize) -> u32 {
        let a: [u8; 4] = b[at..at + 4].try_into().unwrap();
        match self {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        }
    }
    /// An unsigned integer of `b.len()` (at most 8) bytes.
    pub fn read_uint(self, b: &[u8]) -> u64 {
        let mut a = [0u8; 8];
        match self {
            Endian::Little => {
                a[..b.len()].copy_from_slice(b);
                u64::from_le_bytes(a)
            }
            Endian::Big => {
                a[8 - b.len()..].copy_from_slice(b);
                u64::from_be_bytes(a)
            }
        }
    }
    /// `v`, truncated to `b.len()` (at most 8) bytes, into `b`.
    pub fn write_uint(self, b: &mut [u8], v: u64) {
        let n = b.len();
        match self {
            Endian::Little => b.copy_from_slice(&v.to_le_bytes()[..n]),
            Endian::Big => b.copy_from_slice(&v.to_be_bytes()[8 - n..]),
        }
    }
    fn put_u32(self, b: &mut [u8], at: usize, v: u32) {
        let a = match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        };
        b[at..at + 4].copy_from_slice(&a);
    }
    pub fn name(self) -> &'static str {
        match self {
            Endian::Little => "little",
            Endian::Big => "big",
        }
    }
}

/// One module to put in a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Dotted module name; any bytes but NUL.
    pub name: String,
    /// The bytecode (for CPython: marshal data of a code object, no `.pyc` header).
    pub data: Blob,
    pub package: bool,
    /// For an alias: the name of the module whose source this was frozen from.
    pub origin: Option<String>,
    /// A data file ([`FLAG_DATA`]): `name` is `/` and its path, `data` its bytes.
    pub data_file: bool,
}

/// A module's bytes: its own, or a range of a buffer shared with other
/// modules (a build reads all its input files into one buffer, so a large
/// stdlib is not allocated, and page-faulted in, file by file).
#[derive(Clone)]
pub struct Blob(BlobBytes);

#[derive(Clone)]
enum BlobBytes {
    Owned(Vec<u8>),
    Shared(std::sync::Arc<Vec<u8>>, std::ops::Range<usize>),
}

impl Blob {
    /// `range` of `buf`; panics if it is out of bounds.
    pub fn shared(buf: std::sync::Arc<Vec<u8>>, range: std::ops::Range<usize>) -> Blob {
        assert!(range.start <= range.end && range.end <= buf.len());
        Blob(BlobBytes::Shared(buf, range))
    }
}

impl std::ops::Deref for Blob {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            BlobBytes::Owned(v) => v,
            BlobBytes::Shared(b, r) => &b[r.clone()],
        }
    }
}

impl From<Vec<u8>> for Blob {
    fn from(v: Vec<u8>) -> Blob {
        Blob(BlobBytes::Owned(v))
    }
}

impl PartialEq for Blob {
    fn eq(&self, other: &Blob) -> bool {
        **self == **other
    }
}

impl Eq for Blob {}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob({} bytes)", self.len())
    }
}

/// What a table says about the interpreter its bytecode is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    pub kind: TagKind,
    pub value: u32,
}

impl Tag {
    pub const NONE: Tag = Tag {
        kind: TagKind::None,
        value: 0,
    };
}

/// Why a set of modules cannot become a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    DuplicateName(String),
    InvalidName {
        name: String,
        why: &'static str,
    },
    /// A data entry and a package or alias at once, or a data name without its `/`.
    BadDataEntry(String),
    TooLarge {
        what: &'static str,
        size: u64,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::DuplicateName(n) => write!(f, "module `{n}` is given more than once"),
            BuildError::InvalidName { name, why } => write!(f, "invalid module name {name:?}: {why}"),
            BuildError::BadDataEntry(n) => write!(f, "data entry {n:?}: a data entry's name starts with `/` and it is neither a package nor an alias"),
            BuildError::TooLarge { what, size } => write!(
                f,
                "the table's {what} would be {size} bytes, over the format's limit of {} bytes (offsets are 32-bit)",
                u32::MAX
            ),
        }
    }
}

impl std::error::Error for BuildError {}

/// A blob as a map key, hashed by its length and ends only: hashing whole
/// blobs (megabytes of bytecode) cost more than the rest of a build, while
/// blobs that share length and ends are almost always the same blob, which
/// equality then checks in full.
#[derive(PartialEq, Eq)]
struct BlobKey<'a>(&'a [u8]);

impl std::hash::Hash for BlobKey<'_> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let b = self.0;
        let n = b.len().min(32);
        b.len().hash(h);
        b[..n].hash(h);
        b[b.len() - n..].hash(h);
    }
}

fn align_up(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}

/// Lay `modules` out as one table, sorted by name, in `endian` byte order.
///
/// Identical blobs are stored once. The result's length is a multiple of
/// [`ALIGN`], so tables can be laid end to end.
pub fn write_table(modules: &[Module], tag: Tag, endian: Endian) -> Result<Vec<u8>, BuildError> {
    let mut order: Vec<&Module> = modules.iter().collect();
    order.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    for w in order.windows(2) {
        if w[0].name == w[1].name {
            return Err(BuildError::DuplicateName(w[0].name.clone()));
        }
    }
    for m in &order {
        check_name_bytes(&m.name)?;
        if m.data_file && (!m.name.starts_with('/') || m.package || m.origin.is_some()) {
            return Err(BuildError::BadDataEntry(m.name.clone()));
        }
        if let Some(o) = &m.origin {
            check_name_bytes(o)?;
        }
    }
    let count = order.len() as u64;
    let index_offset = HEADER_SIZE as u64;
    let names_offset = index_offset + count * ENTRY_SIZE as u64;

    // Names: every module name, then each distinct origin name.
    let mut names: Vec<u8> = Vec::new();
    let mut name_at = Vec::with_capacity(order.len());
    for m in &order {
        name_at.push(names_offset + names.len() as u64);
        names.extend_from_slice(m.name.as_bytes());
        names.push(0);
    }
    let mut origin_at: HashMap<&str, u64> = HashMap::new();
    for m in &order {
        if let Some(o) = &m.origin {
            if !origin_at.contains_key(o.as_str()) {
                origin_at.insert(o, names_offset + names.len() as u64);
                names.extend_from_slice(o.as_bytes());
                names.push(0);
            }
        }
    }
    let data_offset = align_up(names_offset + names.len() as u64, ALIGN as u64);

    // Data: each distinct blob once, aligned.
    let mut blob_at: HashMap<BlobKey, u64> = HashMap::new();
    let mut blobs: Vec<&[u8]> = Vec::new();
    let mut data_len: u64 = 0;
    let mut entry_data = Vec::with_capacity(order.len());
    for m in &order {
        let at = *blob_at.entry(BlobKey(&m.data)).or_insert_with(|| {
            let at = align_up(data_len, ALIGN as u64);
            data_len = at + m.data.len() as u64;
            blobs.push(&m.data);
            at
        });
        entry_data.push(data_offset + at);
    }
    let data_size = data_len;
    let total = align_up(data_offset + data_size, ALIGN as u64);
    if total > u32::MAX as u64 {
        return Err(BuildError::TooLarge {
            what: "total size",
            size: total,
        });
    }

    let mut out = crate::buffer::zeroed(total as usize);
    out[hdr::MAGIC..hdr::MAGIC + 8].copy_from_slice(&MAGIC);
    let e = endian;
    e.put_u32(&mut out, hdr::VERSION, VERSION);
    e.put_u32(&mut out, hdr::HEADER_SIZE, HEADER_SIZE);
    e.put_u32(&mut out, hdr::ENTRY_SIZE, ENTRY_SIZE);
    e.put_u32(&mut out, hdr::COUNT, count as u32);
    e.put_u32(&mut out, hdr::INDEX_OFFSET, index_offset as u32);
    e.put_u32(&mut out, hdr::NAMES_OFFSET, names_offset as u32);
    e.put_u32(&mut out, hdr::NAMES_SIZE, names.len() as u32);
    e.put_u32(&mut out, hdr::DATA_OFFSET, data_offset as u32);
    e.put_u32(&mut out, hdr::DATA_SIZE, data_size as u32);
    e.put_u32(&mut out, hdr::TOTAL_SIZE, total as u32);
    e.put_u32(&mut out, hdr::TAG_KIND, tag.kind.code());
    e.put_u32(&mut out, hdr::TAG, tag.value);

    for (i, m) in order.iter().enumerate() {
        let at = (index_offset + i as u64 * ENTRY_SIZE as u64) as usize;
        let mut flags = 0;
        if m.package {
            flags |= FLAG_PACKAGE;
        }
        if m.data_file {
            flags |= FLAG_DATA;
        }
        let (o_off, o_len) = match &m.origin {
            Some(o) => {
                flags |= FLAG_ALIAS;
                (origin_at[o.as_str()] as u32, o.len() as u32)
            }
            None => (0, 0),
        };
        e.put_u32(&mut out, at + ent::NAME_OFFSET, name_at[i] as u32);
        e.put_u32(&mut out, at + ent::NAME_LEN, m.name.len() as u32);
        e.put_u32(&mut out, at + ent::DATA_OFFSET, entry_data[i] as u32);
        e.put_u32(&mut out, at + ent::DATA_SIZE, m.data.len() as u32);
        e.put_u32(&mut out, at + ent::FLAGS, flags);
        e.put_u32(&mut out, at + ent::ORIGIN_OFFSET, o_off);
        e.put_u32(&mut out, at + ent::ORIGIN_LEN, o_len);
    }
    let n = names_offset as usize;
    out[n..n + names.len()].copy_from_slice(&names);
    let mut at = data_offset;
    for b in blobs {
        at = align_up(at, ALIGN as u64);
        out[at as usize..at as usize + b.len()].copy_from_slice(b);
        at += b.len() as u64;
    }
    let digest = blake3::hash(&out[HEADER_SIZE as usize..]);
    out[hdr::DIGEST..hdr::DIGEST + 32].copy_from_slice(digest.as_bytes());
    Ok(out)
}

/// The rules every name in a table obeys, whatever the interpreter: C reads
/// names with `strcmp`, so no NUL inside and none empty.
fn check_name_bytes(name: &str) -> Result<(), BuildError> {
    let bad = |why| {
        Err(BuildError::InvalidName {
            name: name.to_string(),
            why,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.bytes().any(|b| b == 0) {
        return bad("it contains a NUL byte");
    }
    Ok(())
}

/// Why bytes are not a sound table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError(pub String);

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FormatError {}

macro_rules! bail_fmt {
    ($($t:tt)*) => { return Err(FormatError(format!($($t)*))) };
}

/// Does `bytes` start with something that claims to be a table? Returns the
/// byte order its header is written in. Used to tell a damaged table from
/// bytes that merely contain the magic.
pub fn sniff(bytes: &[u8]) -> Option<Endian> {
    if bytes.len() < HEADER_SIZE as usize || bytes[..8] != MAGIC {
        return None;
    }
    [Endian::Little, Endian::Big].into_iter().find(|e| {
        e.read_u32(bytes, hdr::VERSION) == VERSION
            && e.read_u32(bytes, hdr::HEADER_SIZE) == HEADER_SIZE
    })
}

/// A checked table: every offset is in bounds, names are NUL-terminated and
/// sorted. The digest is checked separately ([`Table::digest_ok`]).
#[derive(Debug, Clone, Copy)]
pub struct Table<'a> {
    bytes: &'a [u8],
    pub endian: Endian,
    pub count: u32,
    pub tag: Tag,
    /// The raw tag kind code, kept even when this version does not know it.
    pub tag_kind_code: u32,
}

/// One module as read back from a table.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub name: &'a [u8],
    pub data: &'a [u8],
    pub flags: u32,
    pub origin: Option<&'a [u8]>,
    /// Offset of the blob from the table start.
    pub data_offset: u32,
}

impl Entry<'_> {
    pub fn package(&self) -> bool {
        self.flags & FLAG_PACKAGE != 0
    }
    /// A data file ([`FLAG_DATA`]) rather than a module.
    pub fn is_data(&self) -> bool {
        self.flags & FLAG_DATA != 0
    }
    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(self.name).into_owned()
    }
}

impl<'a> Table<'a> {
    /// Check the table at the start of `bytes`. `bytes` may run on past the
    /// table; the table's own `total_size` says where it ends.
    pub fn parse(bytes: &'a [u8]) -> Result<Table<'a>, FormatError> {
        if bytes.len() < HEADER_SIZE as usize {
            bail_fmt!(
                "truncated: {} bytes, a table header alone is {HEADER_SIZE}",
                bytes.len()
            );
        }
        if bytes[..8] != MAGIC {
            bail_fmt!("bad magic {:02x?}, expected \"OBJFREEZ\"", &bytes[..8]);
        }
        let Some(e) = sniff(bytes) else {
            bail_fmt!(
                "unsupported version or header size (this objfreeze reads version {VERSION})"
            );
        };
        let r = |at| e.read_u32(bytes, at) as u64;
        if r(hdr::ENTRY_SIZE) != ENTRY_SIZE as u64 {
            bail_fmt!("entry size {} is not {ENTRY_SIZE}", r(hdr::ENTRY_SIZE));
        }
        let total = r(hdr::TOTAL_SIZE);
        if total > bytes.len() as u64 {
            bail_fmt!(
                "total size {total} runs past the {} bytes available",
                bytes.len()
            );
        }
        if total < HEADER_SIZE as u64 || total % ALIGN as u64 != 0 {
            bail_fmt!("total size {total} is not a multiple of {ALIGN} at least the header's size");
        }
        let count = r(hdr::COUNT);
        let (io, no, ns, dof, ds) = (
            r(hdr::INDEX_OFFSET),
            r(hdr::NAMES_OFFSET),
            r(hdr::NAMES_SIZE),
            r(hdr::DATA_OFFSET),
            r(hdr::DATA_SIZE),
        );
        if io < HEADER_SIZE as u64 || io % 4 != 0 || io + count * ENTRY_SIZE as u64 > total {
            bail_fmt!("index ({count} entries at offset {io}) lies outside the table");
        }
        if no < io + count * ENTRY_SIZE as u64 || no + ns > total {
            bail_fmt!("names region [{no}, +{ns}) lies outside the table or overlaps the index");
        }
        if dof < no + ns || dof + ds > total {
            bail_fmt!("data region [{dof}, +{ds}) lies outside the table or overlaps the names");
        }
        if e.read_u32(bytes, hdr::FLAGS) != 0 {
            bail_fmt!(
                "header flags {:#x} are not defined in version {VERSION}",
                r(hdr::FLAGS)
            );
        }
        let tag_kind_code = r(hdr::TAG_KIND) as u32;
        let tag = Tag {
            kind: TagKind::from_code(tag_kind_code).unwrap_or(TagKind::None),
            value: r(hdr::TAG) as u32,
        };
        let t = Table {
            bytes: &bytes[..total as usize],
            endian: e,
            count: count as u32,
            tag,
            tag_kind_code,
        };
        let names = no..no + ns;
        let data = dof..dof + ds;
        let string_at = |off: u64, len: u64, what: &str, i: u64| -> Result<&'a [u8], FormatError> {
            if off < names.start || off + len + 1 > names.end {
                bail_fmt!("entry {i}: {what} [{off}, +{len}] lies outside the names region");
            }
            let s = &t.bytes[off as usize..(off + len) as usize];
            if t.bytes[(off + len) as usize] != 0 {
                bail_fmt!("entry {i}: {what} is not NUL-terminated");
            }
            if len == 0 || memchr::memchr(0, s).is_some() {
                bail_fmt!("entry {i}: {what} is empty or holds a NUL byte");
            }
            Ok(s)
        };
        let mut prev: Option<&[u8]> = None;
        for i in 0..count {
            let at = (io + i * ENTRY_SIZE as u64) as usize;
            let f = |o| e.read_u32(t.bytes, at + o) as u64;
            let name = string_at(f(ent::NAME_OFFSET), f(ent::NAME_LEN), "name", i)?;
            if let Some(p) = prev {
                if p >= name {
                    bail_fmt!(
                        "entry {i}: {:?} is not after {:?}: the index must be sorted and unique",
                        String::from_utf8_lossy(name),
                        String::from_utf8_lossy(p)
                    );
                }
            }
            prev = Some(name);
            let (d, s) = (f(ent::DATA_OFFSET), f(ent::DATA_SIZE));
            if d < data.start || d + s > data.end {
                bail_fmt!("entry {i}: data [{d}, +{s}) lies outside the data region");
            }
            let flags = f(ent::FLAGS);
            if flags & !(KNOWN_FLAGS as u64) != 0 {
                bail_fmt!("entry {i}: unknown flags {flags:#x}");
            }
            if flags & FLAG_ALIAS as u64 != 0 {
                string_at(f(ent::ORIGIN_OFFSET), f(ent::ORIGIN_LEN), "origin", i)?;
            }
            if flags & FLAG_DATA as u64 != 0
                && (name[0] != b'/' || flags & (FLAG_PACKAGE | FLAG_ALIAS) as u64 != 0)
            {
                bail_fmt!(
                    "entry {i}: data entry {:?} must start with `/` and be neither package nor alias",
                    String::from_utf8_lossy(name)
                );
            }
        }
        Ok(t)
    }

    /// The table's bytes, exactly `total_size` long.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn total_size(&self) -> u32 {
        self.bytes.len() as u32
    }

    pub fn digest(&self) -> [u8; 32] {
        self.bytes[hdr::DIGEST..hdr::DIGEST + 32]
            .try_into()
            .unwrap()
    }

    /// Does the stored digest match the bytes after the header?
    pub fn digest_ok(&self) -> bool {
        blake3::hash(&self.bytes[HEADER_SIZE as usize..]).as_bytes() == &self.digest()
    }

    pub fn entry(&self, i: u32) -> Entry<'a> {
        assert!(i < self.count);
        let e = self.endian;
        let b = self.bytes;
        let at = (e.read_u32(b, hdr::INDEX_OFFSET) + i * ENTRY_SIZE) as usize;
        let f = |o| e.read_u32(b, at + o) as usize;
        let flags = f(ent::FLAGS) as u32;
        let origin = (flags & FLAG_ALIAS != 0)
            .then(|| &b[f(ent::ORIGIN_OFFSET)..f(ent::ORIGIN_OFFSET) + f(ent::ORIGIN_LEN)]);
        Entry {
            name: &b[f(ent::NAME_OFFSET)..f(ent::NAME_OFFSET) + f(ent::NAME_LEN)],
            data: &b[f(ent::DATA_OFFSET)..f(ent::DATA_OFFSET) + f(ent::DATA_SIZE)],
            flags,
            origin,
            data_offset: f(ent::DATA_OFFSET) as u32,
        }
    }

    pub fn entries(&self) -> impl Iterator<Item = Entry<'a>> + '_ {
        (0..self.count).map(|i| self.entry(i))
    }

    /// Binary search by name, as `objfreeze_find` does in C.
    pub fn find(&self, name: &[u8]) -> Option<Entry<'a>> {
        let (mut lo, mut hi) = (0u32, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let e = self.entry(mid);
            match e.name.cmp(name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(e),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, data: &[u8], package: bool) -> Module {
        Module {
            name: name.into(),
            data: data.to_vec().into(),
            package,
            origin: None,
            data_file: false,
        }
    }

    #[test]
    fn round_trip_both_orders() {
        let mods = vec![
            m("b", b"bee", false),
            m("a", b"ay", true),
            m("a.c", b"bee", false),
            Module {
                data_file: true,
                ..m("/a/c.txt", b"text", false)
            },
            Module {
                origin: Some("orig.mod".into()),
                ..m("_alias", b"x", false)
            },
        ];
        for endian in [Endian::Little, Endian::Big] {
            let tag = Tag {
                kind: TagKind::Cpython,
                value: 0x0a0d0da7,
            };
            let bytes = write_table(&mods, tag, endian).unwrap();
            assert_eq!(bytes.len() % ALIGN as usize, 0);
            let t = Table::parse(&bytes).unwrap();
            assert!(t.digest_ok());
            assert_eq!(t.endian, endian);
            assert_eq!(t.tag, tag);
            let names: Vec<_> = t.entries().map(|e| e.name_lossy()).collect();
            assert_eq!(names, ["/a/c.txt", "_alias", "a", "a.c", "b"]);
            assert!(t.find(b"/a/c.txt").unwrap().is_data());
            assert!(!t.find(b"a.c").unwrap().is_data());
            assert_eq!(t.find(b"a.c").unwrap().data, b"bee");
            assert!(t.find(b"a").unwrap().package());
            assert_eq!(t.find(b"_alias").unwrap().origin, Some(&b"orig.mod"[..]));
            assert!(t.find(b"a.b").is_none());
            assert!(t.find(b"").is_none());
            // Identical blobs are stored once.
            assert_eq!(
                t.find(b"b").unwrap().data_offset,
                t.find(b"a.c").unwrap().data_offset
            );
            for e in t.entries() {
                assert_eq!(e.data_offset % ALIGN, 0);
            }
        }
    }

    #[test]
    fn duplicate_and_bad_names_are_refused() {
        let dup = [m("x", b"1", false), m("x", b"2", false)];
        assert!(matches!(
            write_table(&dup, Tag::NONE, Endian::Little),
            Err(BuildError::DuplicateName(_))
        ));
        assert!(write_table(&[m("", b"1", false)], Tag::NONE, Endian::Little).is_err());
        assert!(write_table(&[m("a\0b", b"1", false)], Tag::NONE, Endian::Little).is_err());
        let data = |name: &str, package| Module {
            data_file: true,
            ..m(name, b"1", package)
        };
        assert!(write_table(&[data("x/y", false)], Tag::NONE, Endian::Little).is_err());
        assert!(write_table(&[data("/x", true)], Tag::NONE, Endian::Little).is_err());
    }

    #[test]
    fn empty_table_is_valid() {
        let bytes = write_table(&[], Tag::NONE, Endian::Little).unwrap();
        let t = Table::parse(&bytes).unwrap();
        assert_eq!(t.count, 0);
        assert!(t.digest_ok());
    }

    #[test]
    fn flipped_bytes_never_panic() {
        let bytes = write_table(
            &[m("a", b"12345", false), m("b.c", b"678", true)],
            Tag::NONE,
            Endian::Big,
        )
        .unwrap();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut c = bytes.clone();
                c[i] ^= 1 << bit;
                if let Ok(t) = Table::parse(&c) {
                    for e in t.entries() {
                        let _ = t.find(e.name);
                    }
                    // A flip after the header that still parses must break the digest.
                    if i >= HEADER_SIZE as usize {
                        assert!(!t.digest_ok(), "flip at {i} bit {bit} went unnoticed");
                    }
                }
            }
        }
    }
}
