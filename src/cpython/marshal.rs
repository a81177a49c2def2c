//! A reader for CPython's marshal format (what follows the header of a
//! `.pyc`): marshal versions 4 and 5, code objects as laid out by CPython
//! 3.11 to 3.14. It builds an object graph rather than values, so that an
//! object marshal shared through a back-reference (`FLAG_REF` then
//! `TYPE_REF`) stays one object, with one [`ObjId`], for a later pass that
//! lays the objects out as static C structures.
//!
//! Written from the format as `Python/marshal.c` reads it; no code is taken
//! from CPython.

use anyhow::{bail, Result};

/// Index of an object in a [`Graph`].
pub type ObjId = u32;

/// Set on a type byte: the object goes into the back-reference list.
const FLAG_REF: u8 = 0x80;
/// CPython's `MAX_MARSHAL_STACK_DEPTH` outside Windows and WASI: the most
/// objects that may be open (being read) at once.
const MAX_DEPTH: usize = 2000;

/// One unmarshalled object. Children are [`ObjId`]s into the same [`Graph`].
#[derive(Debug, Clone, PartialEq)]
pub enum Obj {
    None,
    True,
    False,
    Ellipsis,
    StopIteration,
    /// `TYPE_INT`, `TYPE_INT64` and `TYPE_LONG` all become a [`Long`].
    Int(Long),
    Float(f64),
    Complex(f64, f64),
    Str(Str),
    Bytes(Vec<u8>),
    Tuple(Vec<ObjId>),
    List(Vec<ObjId>),
    /// Key/value pairs in marshal order (duplicate keys are kept as written).
    Dict(Vec<(ObjId, ObjId)>),
    /// Elements in marshal order (CPython writes them sorted by their own
    /// marshal bytes, so the order is reproducible).
    Set(Vec<ObjId>),
    FrozenSet(Vec<ObjId>),
    /// start, stop, step (`TYPE_SLICE`, marshal version 5, CPython 3.14).
    Slice(ObjId, ObjId, ObjId),
    Code(Box<Code>),
}

impl Obj {
    /// The Python type name, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Obj::None => "None",
            Obj::True | Obj::False => "bool",
            Obj::Ellipsis => "ellipsis",
            Obj::StopIteration => "StopIteration",
            Obj::Int(_) => "int",
            Obj::Float(_) => "float",
            Obj::Complex(..) => "complex",
            Obj::Str(_) => "str",
            Obj::Bytes(_) => "bytes",
            Obj::Tuple(_) => "tuple",
            Obj::List(_) => "list",
            Obj::Dict(_) => "dict",
            Obj::Set(_) => "set",
            Obj::FrozenSet(_) => "frozenset",
            Obj::Slice(..) => "slice",
            Obj::Code(_) => "code",
        }
    }
}

/// An arbitrary-precision integer: sign and magnitude.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Long {
    pub negative: bool,
    /// Little-endian base 2^32 limbs, no trailing zero limbs; zero is an
    /// empty vector with `negative == false`.
    pub magnitude: Vec<u32>,
}

impl Long {
    pub fn from_i64(v: i64) -> Long {
        let m = v.unsigned_abs();
        Long::from_limbs(v < 0, rebase([m as u32, (m >> 32) as u32], 32, 32))
    }

    /// Normalise: zero is never negative.
    fn from_limbs(negative: bool, magnitude: Vec<u32>) -> Long {
        Long {
            negative: negative && !magnitude.is_empty(),
            magnitude,
        }
    }

    pub fn to_i64(&self) -> Option<i64> {
        if self.magnitude.len() > 2 {
            return None;
        }
        let m = self
            .magnitude
            .iter()
            .rev()
            .fold(0u64, |acc, &l| acc << 32 | l as u64);
        if self.negative {
            // -2^63 is the one magnitude that fits negated but not as is.
            (m <= 1 << 63).then(|| (m as i64).wrapping_neg())
        } else {
            i64::try_from(m).ok()
        }
    }

    /// The magnitude's digits in base 2^shift (15 or 30: CPython's digit
    /// sizes), little-endian, no trailing zeros.
    pub fn digits(&self, shift: u32) -> Vec<u32> {
        assert!(
            (1..=32).contains(&shift),
            "digit shift {shift} out of range"
        );
        rebase(self.magnitude.iter().copied(), 32, shift)
    }
}

/// Re-express little-endian digits of `from` bits as digits of `to` bits
/// (both at most 32), dropping trailing zero digits.
fn rebase(src: impl IntoIterator<Item = u32>, from: u32, to: u32) -> Vec<u32> {
    let mask = (1u64 << to) - 1;
    let (mut acc, mut bits) = (0u64, 0u32);
    let mut out = Vec::new();
    for d in src {
        // bits < to <= 32 and from <= 32, so this never overflows 64 bits.
        acc |= (d as u64) << bits;
        bits += from;
        while bits >= to {
            out.push((acc & mask) as u32);
            acc >>= to;
            bits -= to;
        }
    }
    if bits > 0 {
        out.push(acc as u32);
    }
    while out.last() == Some(&0) {
        out.pop();
    }
    out
}

/// A Python `str` as code points.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Str {
    /// Code points; lone surrogates (U+D800..U+DFFF) can occur.
    pub chars: Vec<u32>,
    /// Marshalled as `TYPE_INTERNED`, `TYPE_ASCII_INTERNED` or
    /// `TYPE_SHORT_ASCII_INTERNED`.
    pub interned: bool,
}

impl Str {
    /// The largest code point, 0 for the empty string (this picks CPython's
    /// compact representation: 1, 2 or 4 bytes per character).
    pub fn max_char(&self) -> u32 {
        self.chars.iter().copied().max().unwrap_or(0)
    }

    pub fn is_ascii(&self) -> bool {
        self.max_char() < 0x80
    }

    /// As a Rust string, with lone surrogates replaced by U+FFFD.
    pub fn to_string_lossy(&self) -> String {
        self.chars
            .iter()
            .map(|&c| char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    }
}

/// A code object, fields in the order CPython 3.11+ marshals them.
#[derive(Debug, Clone, PartialEq)]
pub struct Code {
    pub argcount: i32,
    pub posonlyargcount: i32,
    pub kwonlyargcount: i32,
    pub stacksize: i32,
    pub flags: i32,
    /// bytes
    pub code: ObjId,
    /// tuple
    pub consts: ObjId,
    /// tuple of str
    pub names: ObjId,
    /// tuple of str
    pub localsplusnames: ObjId,
    /// bytes, one `CO_FAST_*` kind per entry of `localsplusnames`
    pub localspluskinds: ObjId,
    /// str
    pub filename: ObjId,
    /// str
    pub name: ObjId,
    /// str
    pub qualname: ObjId,
    pub firstlineno: i32,
    /// bytes
    pub linetable: ObjId,
    /// bytes
    pub exceptiontable: ObjId,
}

/// Unmarshalled objects. An object's id is smaller than its children's,
/// except where a child is a back-reference: marshal lets a tuple, list,
/// dict or set be referred to while its items are still being read, so those
/// (and only those) can form cycles, e.g. a list that contains itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    pub objs: Vec<Obj>,
    pub root: ObjId,
}

impl Graph {
    pub fn get(&self, id: ObjId) -> &Obj {
        &self.objs[id as usize]
    }
}

/// Parse marshal data (the bytes after a .pyc header). Errors (truncated
/// data, unknown type byte, bad back-reference, recursion deeper than 2000,
/// unsupported code layout) are anyhow errors saying what and at which byte
/// offset. Bytes after the root object are ignored, as `marshal.loads` does.
pub fn read(data: &[u8]) -> Result<Graph> {
    let mut r = Reader {
        data,
        pos: 0,
        objs: Vec::new(),
        refs: Vec::new(),
    };
    let root = r.parse()?;
    Ok(Graph { objs: r.objs, root })
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    objs: Vec<Obj>,
    /// marshal's back-reference list. `None` marks a slot reserved for a
    /// frozenset, code object or slice still being read: CPython only fills
    /// those in when complete, so a reference to one is invalid until then.
    refs: Vec<Option<ObjId>>,
}

/// A container, slice or code object whose children are still being read.
/// Open objects live on an explicit stack rather than the call stack, so
/// 2000 levels of nesting cost the same in any build and on any thread.
struct Open {
    id: ObjId,
    /// Its back-reference slot, if it was written with FLAG_REF.
    slot: Option<usize>,
    /// Offset of its type byte, for messages.
    at: usize,
    /// Type byte without FLAG_REF.
    ty: u8,
    /// Children so far, and how many it has (`usize::MAX` for a dict, which
    /// ends at TYPE_NULL; its children alternate key, value).
    items: Vec<ObjId>,
    want: usize,
    /// Code objects: argcount, posonlyargcount, kwonlyargcount, stacksize,
    /// flags, firstlineno (read between the 8th and 9th children).
    ints: [i32; 6],
}

/// What reading one type byte gave.
enum Step {
    Done(ObjId),
    Open(Open),
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let left = self.data.len() - self.pos;
        if n > left {
            bail!(
                "truncated marshal data: {n} bytes needed at offset {}, {left} left",
                self.pos
            );
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().unwrap())
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// A count or length, which marshal writes as a signed 32-bit int.
    fn size(&mut self) -> Result<usize> {
        let at = self.pos;
        let n = self.i32()?;
        if n < 0 {
            bail!("bad marshal data: negative size {n} at offset {at}");
        }
        Ok(n as usize)
    }

    fn push(&mut self, obj: Obj) -> Result<ObjId> {
        let id = ObjId::try_from(self.objs.len())
            .map_err(|_| anyhow::anyhow!("too many objects in marshal data"))?;
        self.objs.push(obj);
        Ok(id)
    }

    /// Read the root object and everything under it.
    fn parse(&mut self) -> Result<ObjId> {
        let mut stack: Vec<Open> = Vec::new();
        loop {
            let id = match stack.last() {
                Some(top) if self.complete(top) => {
                    let top = stack.pop().unwrap();
                    self.close(top)?
                }
                _ => {
                    let at = self.pos;
                    if at == self.data.len() {
                        bail!(
                            "truncated marshal data: object expected at offset {at}, end of data"
                        );
                    }
                    let code = self.u8()?;
                    // CPython counts the object being read as one level.
                    if stack.len() >= MAX_DEPTH {
                        bail!("marshal data nested deeper than {MAX_DEPTH} objects at offset {at}");
                    }
                    match self.start(code, at)? {
                        Step::Done(id) => id,
                        Step::Open(o) => {
                            stack.push(o);
                            continue;
                        }
                    }
                }
            };
            let Some(parent) = stack.last_mut() else {
                return Ok(id);
            };
            parent.items.push(id);
            if parent.ty == b'c' && parent.items.len() == 8 {
                parent.ints[5] = self.i32()?; // firstlineno, after qualname
            }
        }
    }

    /// Has `o` all its children? For a dict, consumes the terminator: a
    /// TYPE_NULL byte (with or without FLAG_REF) where a key is due. (CPython
    /// also ends a dict silently on a NULL value, dropping the key; that is
    /// an error here.)
    fn complete(&mut self, o: &Open) -> bool {
        if o.ty != b'{' {
            return o.items.len() == o.want;
        }
        let null = self.data.get(self.pos).map(|b| b & !FLAG_REF) == Some(b'0');
        if null && o.items.len() % 2 == 0 {
            self.pos += 1;
        }
        null && o.items.len() % 2 == 0
    }

    /// Read an object's type byte `code` (at offset `at`) and its payload:
    /// a finished object, or a container opened for its children.
    fn start(&mut self, code: u8, at: usize) -> Result<Step> {
        let ty = code & !FLAG_REF;
        // Singletons, NULL and references never enter the reference list,
        // even with FLAG_REF set (CPython ignores it for them).
        let single = match ty {
            b'N' => Some(Obj::None),
            b'T' => Some(Obj::True),
            b'F' => Some(Obj::False),
            b'.' => Some(Obj::Ellipsis),
            b'S' => Some(Obj::StopIteration),
            b'r' => {
                let n = self.i32()?;
                return match usize::try_from(n).ok().and_then(|i| self.refs.get(i)) {
                    Some(Some(id)) => Ok(Step::Done(*id)),
                    Some(None) => bail!(
                        "bad marshal data: back-reference {n} at offset {at} is to an \
                         object still being read"
                    ),
                    None => bail!(
                        "bad marshal data: back-reference {n} at offset {at}, but only {} \
                         objects are referenceable",
                        self.refs.len()
                    ),
                };
            }
            b'0' => bail!("bad marshal data: NULL object (TYPE_NULL) at offset {at}"),
            _ => None,
        };
        if let Some(obj) = single {
            return Ok(Step::Done(self.push(obj)?));
        }

        // Reserve the id and, with FLAG_REF, the reference slot before any
        // children: slots are numbered in the order of type bytes.
        let id = self.push(Obj::None)?;
        let slot = (code & FLAG_REF != 0).then(|| {
            self.refs.push(None);
            self.refs.len() - 1
        });
        let want = match ty {
            b')' => Some(self.u8()? as usize),
            b'(' | b'[' | b'<' | b'>' => Some(self.size()?),
            b'{' => Some(usize::MAX),
            b':' => Some(3),
            b'c' => Some(10),
            _ => None,
        };
        if let Some(want) = want {
            // CPython makes tuples, lists, dicts and sets referenceable
            // before reading their items (so they can contain themselves);
            // frozensets, code objects and slices only once complete.
            if matches!(ty, b'(' | b')' | b'[' | b'{' | b'<') {
                if let Some(s) = slot {
                    self.refs[s] = Some(id);
                }
            }
            let mut ints = [0; 6];
            if ty == b'c' {
                for v in &mut ints[..5] {
                    *v = self.i32()?;
                }
            }
            // Each child takes at least a byte: never trust a count beyond
            // what the remaining input could hold.
            let cap = want.min(self.data.len() - self.pos);
            return Ok(Step::Open(Open {
                id,
                slot,
                at,
                ty,
                items: Vec::with_capacity(if ty == b'{' { 0 } else { cap }),
                want,
                ints,
            }));
        }

        let obj = match ty {
            b'i' => Obj::Int(Long::from_i64(self.i32()?.into())),
            b'I' => Obj::Int(Long::from_i64(i64::from_le_bytes(self.array()?))),
            b'l' => Obj::Int(self.long()?),
            b'g' => Obj::Float(self.f64()?),
            b'y' => Obj::Complex(self.f64()?, self.f64()?),
            b'f' => Obj::Float(self.text_float()?),
            b'x' => Obj::Complex(self.text_float()?, self.text_float()?),
            b's' => {
                let n = self.size()?;
                Obj::Bytes(self.take(n)?.to_vec())
            }
            // One byte per character, taken as Latin-1 like CPython (which
            // only writes these for ASCII strings but does not check).
            b'a' | b'A' | b'z' | b'Z' => {
                let n = if matches!(ty, b'z' | b'Z') {
                    self.u8()? as usize
                } else {
                    self.size()?
                };
                let chars = self.take(n)?.iter().map(|&b| b as u32).collect();
                let interned = ty.is_ascii_uppercase();
                Obj::Str(Str { chars, interned })
            }
            b'u' | b't' => {
                let n = self.size()?;
                let start = self.pos;
                let chars = utf8_surrogatepass(self.take(n)?).map_err(|i| {
                    anyhow::anyhow!("bad marshal data: invalid UTF-8 at offset {}", start + i)
                })?;
                Obj::Str(Str {
                    chars,
                    interned: ty == b't',
                })
            }
            _ => bail!(
                "bad marshal data: unknown type byte 0x{code:02x} ({:?}) at offset {at}",
                ty as char
            ),
        };
        self.objs[id as usize] = obj;
        if let Some(s) = slot {
            self.refs[s] = Some(id);
        }
        Ok(Step::Done(id))
    }

    /// Turn a complete open object into its [`Obj`].
    fn close(&mut self, o: Open) -> Result<ObjId> {
        let obj = match o.ty {
            b'(' | b')' => Obj::Tuple(o.items),
            b'[' => Obj::List(o.items),
            b'<' => Obj::Set(o.items),
            b'>' => Obj::FrozenSet(o.items),
            b'{' => Obj::Dict(o.items.chunks_exact(2).map(|p| (p[0], p[1])).collect()),
            b':' => Obj::Slice(o.items[0], o.items[1], o.items[2]),
            b'c' => Obj::Code(Box::new(self.code(&o)?)),
            _ => unreachable!("not a container type {:?}", o.ty as char),
        };
        self.objs[o.id as usize] = obj;
        if let Some(s) = o.slot {
            self.refs[s] = Some(o.id);
        }
        Ok(o.id)
    }

    /// `TYPE_LONG`: a signed count of 15-bit digits, least significant
    /// first, each in a u16; the sign of the count is the number's.
    fn long(&mut self) -> Result<Long> {
        let at = self.pos;
        let n = self.i32()?;
        let bytes = self.take((n.unsigned_abs() as usize).saturating_mul(2))?;
        let digits: Vec<u32> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]) as u32)
            .collect();
        if digits.iter().any(|&d| d >= 1 << 15) {
            bail!("bad marshal data: long digit out of range (long at offset {at})");
        }
        if digits.last() == Some(&0) {
            bail!("bad marshal data: unnormalized long (top digit 0) at offset {at}");
        }
        Ok(Long::from_limbs(n < 0, rebase(digits, 15, 32)))
    }

    /// `TYPE_FLOAT` / `TYPE_COMPLEX` (marshal version 0): a u8 length and
    /// the number's repr.
    fn text_float(&mut self) -> Result<f64> {
        let at = self.pos;
        let n = self.u8()? as usize;
        let text = self.take(n)?;
        std::str::from_utf8(text)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "bad marshal data: float text {:?} at offset {at}",
                    String::from_utf8_lossy(text)
                )
            })
    }

    fn code(&self, o: &Open) -> Result<Code> {
        // The data: five ints, eight objects, firstlineno, two objects.
        let [argcount, posonlyargcount, kwonlyargcount, stacksize, flags, firstlineno] = o.ints;
        let [code, consts, names, localsplusnames, localspluskinds, filename, name, qualname, linetable, exceptiontable]: [ObjId; 10] =
            o.items.as_slice().try_into().unwrap();
        // Older layouts (3.10 and before) misparse into fields of the wrong
        // type, when they parse at all; catch that here rather than in
        // whoever uses the graph.
        let fields = [
            ("co_code", code, "bytes"),
            ("co_consts", consts, "tuple"),
            ("co_names", names, "tuple"),
            ("co_localsplusnames", localsplusnames, "tuple"),
            ("co_localspluskinds", localspluskinds, "bytes"),
            ("co_filename", filename, "str"),
            ("co_name", name, "str"),
            ("co_qualname", qualname, "str"),
            ("co_linetable", linetable, "bytes"),
            ("co_exceptiontable", exceptiontable, "bytes"),
        ];
        let at = o.at;
        for (field, id, want) in fields {
            let got = self.objs[id as usize].kind();
            if got != want {
                bail!(
                    "unsupported code layout (code object at offset {at}): {field} is \
                     {got}, expected {want} (not CPython 3.11+ marshal data?)"
                );
            }
        }
        if let (Obj::Tuple(names), Obj::Bytes(kinds)) = (
            &self.objs[localsplusnames as usize],
            &self.objs[localspluskinds as usize],
        ) {
            if names.len() != kinds.len() {
                bail!(
                    "unsupported code layout (code object at offset {at}): {} local \
                     names but {} kinds",
                    names.len(),
                    kinds.len()
                );
            }
        }
        Ok(Code {
            argcount,
            posonlyargcount,
            kwonlyargcount,
            stacksize,
            flags,
            code,
            consts,
            names,
            localsplusnames,
            localspluskinds,
            filename,
            name,
            qualname,
            firstlineno,
            linetable,
            exceptiontable,
        })
    }
}

/// Decode UTF-8 allowing encoded surrogates (Python's "surrogatepass");
/// anything else invalid (overlong forms, stray continuation bytes, values
/// past U+10FFFF, truncated sequences) fails with the offending index.
fn utf8_surrogatepass(b: &[u8]) -> Result<Vec<u32>, usize> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let lead = b[i] as u32;
        // Sequence length, smallest code point it may encode, lead bits.
        let (len, min, mut c) = match lead {
            0x00..=0x7f => {
                out.push(lead);
                i += 1;
                continue;
            }
            0xc0..=0xdf => (2, 0x80, lead & 0x1f),
            0xe0..=0xef => (3, 0x800, lead & 0x0f),
            0xf0..=0xf7 => (4, 0x1_0000, lead & 0x07),
            _ => return Err(i),
        };
        for k in 1..len {
            match b.get(i + k) {
                Some(&cb) if cb & 0xc0 == 0x80 => c = c << 6 | (cb & 0x3f) as u32,
                _ => return Err(i + k),
            }
        }
        if c < min || c > 0x10_ffff {
            return Err(i);
        }
        out.push(c);
        i += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn on_ci() -> bool {
        std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
    }

    /// `/root/.pyenv/versions/<minor>.*/bin/python<minor>`, or a printed
    /// reason to skip (a failure on CI).
    fn python(minor: &str) -> Option<PathBuf> {
        let found = std::fs::read_dir("/root/.pyenv/versions")
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy().into_owned();
                n == minor || n.starts_with(&format!("{minor}."))
            })
            .map(|p| p.join("bin").join(format!("python{minor}")))
            .find(|p| p.exists());
        if found.is_none() {
            assert!(!on_ci(), "CPython {minor} is required on CI");
            eprintln!("SKIP: CPython {minor} not installed under /root/.pyenv/versions");
        }
        found
    }

    /// Run `script` with `py`; its stdout (raw bytes).
    fn run(py: &Path, script: &str) -> Vec<u8> {
        let out = Command::new(py).arg("-c").arg(script).output().unwrap();
        assert!(
            out.status.success(),
            "{} failed: {}",
            py.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// marshal.dumps of the Python expression `expr` (after `setup`).
    fn dumps(py: &Path, setup: &str, expr: &str) -> Vec<u8> {
        let script =
            format!("import marshal, sys\n{setup}\nsys.stdout.buffer.write(marshal.dumps({expr}))");
        run(py, &script)
    }

    fn string(g: &Graph, id: ObjId) -> String {
        match g.get(id) {
            Obj::Str(s) => s.to_string_lossy(),
            o => panic!("expected str, got {o:?}"),
        }
    }

    fn tuple(g: &Graph, id: ObjId) -> &[ObjId] {
        match g.get(id) {
            Obj::Tuple(v) => v,
            o => panic!("expected tuple, got {o:?}"),
        }
    }

    fn int(g: &Graph, id: ObjId) -> i64 {
        match g.get(id) {
            Obj::Int(l) => l.to_i64().unwrap(),
            o => panic!("expected int, got {o:?}"),
        }
    }

    fn codes(g: &Graph) -> Vec<&Code> {
        g.objs
            .iter()
            .filter_map(|o| match o {
                Obj::Code(c) => Some(&**c),
                _ => None,
            })
            .collect()
    }

    const SOURCE: &str = r#"
import os
NUMS = (1267650600228229401496703205376, -1180591620717411303424, 0, -1, 9223372036854775807, -9223372036854775808)  # 2**100, -2**70: too big to fold
F = 1.5
C = 2+3j
B = b"\x00bytes"
U = "\u00e9\u4e2d\U0001f600"
S = "\ud800"
def outer(a, b, /, c, *, d=1, **kw):
    x = a
    def inner(y):
        nonlocal x
        x += y
        return x + b
    return inner
class K:
    def m(self):
        return __class__
def f(v):
    return v in {1, 2, 3}, (1, "two", 3.0), -1.25
"#;

    fn check_module(g: &Graph) {
        let Obj::Code(top) = g.get(g.root) else {
            panic!("root is not code: {:?}", g.get(g.root))
        };
        assert_eq!(string(g, top.name), "<module>");
        assert_eq!(string(g, top.filename), "f.py");
        let names: Vec<String> = tuple(g, top.names).iter().map(|&n| string(g, n)).collect();
        for n in ["os", "NUMS", "F", "C", "B", "U", "S", "outer", "K", "f"] {
            assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
        }

        // Every constant of every code object, flattened one level.
        let consts: Vec<&Obj> = codes(g)
            .iter()
            .flat_map(|c| tuple(g, c.consts))
            .map(|&id| g.get(id))
            .collect();
        let nums = consts
            .iter()
            .find_map(|o| match o {
                Obj::Tuple(v) if v.len() == 6 => Some(v),
                _ => None,
            })
            .expect("NUMS tuple");
        let longs: Vec<&Long> = nums
            .iter()
            .map(|&id| match g.get(id) {
                Obj::Int(l) => l,
                o => panic!("{o:?}"),
            })
            .collect();
        // 2**100
        assert!(!longs[0].negative);
        assert_eq!(longs[0].magnitude, [0, 0, 0, 16]);
        assert_eq!(longs[0].digits(30), [0, 0, 0, 1 << 10]);
        assert_eq!(longs[0].digits(15), [0, 0, 0, 0, 0, 0, 1 << 10]);
        assert_eq!(longs[0].to_i64(), None);
        // -2**70
        assert!(longs[1].negative);
        assert_eq!(longs[1].magnitude, [0, 0, 64]);
        assert_eq!(longs[1].digits(30), [0, 0, 1 << 10]);
        assert_eq!(longs[1].to_i64(), None);
        assert_eq!(longs[2], &Long::default());
        assert_eq!(longs[2].digits(30), Vec::<u32>::new());
        let small: Vec<Option<i64>> = longs[2..].iter().map(|l| l.to_i64()).collect();
        assert_eq!(small, [Some(0), Some(-1), Some(i64::MAX), Some(i64::MIN)]);

        assert!(consts.contains(&&Obj::Float(1.5)));
        assert!(consts.contains(&&Obj::Float(-1.25)));
        assert!(consts.contains(&&Obj::Complex(2.0, 3.0)));
        assert!(consts.contains(&&Obj::Bytes(b"\x00bytes".to_vec())));
        let strs: Vec<&Str> = consts
            .iter()
            .filter_map(|o| match o {
                Obj::Str(s) => Some(s),
                _ => None,
            })
            .collect();
        let u = strs
            .iter()
            .find(|s| s.chars == [0xe9, 0x4e2d, 0x1f600])
            .expect("non-ASCII str");
        assert_eq!(u.max_char(), 0x1f600);
        assert!(!u.is_ascii());
        assert!(strs.iter().any(|s| s.chars == [0xd800]), "lone surrogate");

        // `v in {1, 2, 3}` becomes a frozenset constant.
        let fs = consts
            .iter()
            .find_map(|o| match o {
                Obj::FrozenSet(v) => Some(v),
                _ => None,
            })
            .expect("frozenset constant");
        let mut elems: Vec<i64> = fs.iter().map(|&id| int(g, id)).collect();
        elems.sort();
        assert_eq!(elems, [1, 2, 3]);
        let t = consts
            .iter()
            .find_map(|o| match o {
                Obj::Tuple(v) if v.len() == 3 => Some(v),
                _ => None,
            })
            .expect("(1, 'two', 3.0)");
        assert_eq!(int(g, t[0]), 1);
        assert_eq!(string(g, t[1]), "two");
        assert_eq!(g.get(t[2]), &Obj::Float(3.0));

        // Code objects: argument counts, cell and free variables.
        let by_name = |n: &str| {
            *codes(g)
                .iter()
                .find(|c| string(g, c.name) == n)
                .unwrap_or_else(|| panic!("no code object {n}"))
        };
        let locals = |c: &Code| -> Vec<(String, u8)> {
            let Obj::Bytes(kinds) = g.get(c.localspluskinds) else {
                panic!()
            };
            let names = tuple(g, c.localsplusnames).iter().map(|&n| string(g, n));
            names.zip(kinds.iter().copied()).collect()
        };
        let outer = by_name("outer");
        assert_eq!(
            (outer.argcount, outer.posonlyargcount, outer.kwonlyargcount),
            (3, 2, 1)
        );
        assert_ne!(outer.flags & 0x08, 0, "CO_VARKEYWORDS");
        assert_eq!(outer.firstlineno, 9);
        const CELL: u8 = 0x40;
        const FREE: u8 = 0x80;
        let ol = locals(outer);
        assert!(ol.iter().any(|(n, k)| n == "x" && k & CELL != 0), "{ol:?}");
        let inner = by_name("inner");
        assert_eq!(string(g, inner.qualname), "outer.<locals>.inner");
        let il = locals(inner);
        for v in ["x", "b"] {
            assert!(il.iter().any(|(n, k)| n == v && k & FREE != 0), "{il:?}");
        }
        let m = by_name("m");
        assert_eq!(string(g, m.qualname), "K.m");
        assert!(locals(m)
            .iter()
            .any(|(n, k)| n == "__class__" && k & FREE != 0));
        by_name("K");
        by_name("f");
        // Names shared through refs: "x" is one object across outer and inner.
        let x_id = |c: &Code| {
            *tuple(g, c.localsplusnames)
                .iter()
                .find(|&&n| string(g, n) == "x")
                .unwrap()
        };
        assert_eq!(x_id(outer), x_id(inner));
    }

    #[test]
    fn module_code_311_to_313() {
        for minor in ["3.11", "3.12", "3.13"] {
            let Some(py) = python(minor) else { continue };
            let setup = format!("src = {SOURCE:?}");
            // Rust's {:?} of a str is a valid Python string literal for this
            // source (escapes \n, \" and \\ only).
            let data = dumps(&py, &setup, "compile(src, 'f.py', 'exec')");
            let g = read(&data).unwrap_or_else(|e| panic!("{minor}: {e:#}"));
            check_module(&g);
            eprintln!("{minor}: {} bytes, {} objects", data.len(), g.objs.len());
        }
    }

    #[test]
    fn value_tree_and_sharing() {
        let Some(py) = python("3.13").or_else(|| python("3.11")) else {
            return;
        };
        let data = dumps(
            &py,
            "",
            "{'k': [1, 2.5, None, True, False, ..., StopIteration, b'x', 'a' * 300], \
              's': {3, 1, 2}, 'fs': frozenset(), 't': (), 'big': tuple(range(300))}",
        );
        let g = read(&data).unwrap();
        let Obj::Dict(pairs) = g.get(g.root) else {
            panic!("{:?}", g.get(g.root))
        };
        let get = |k: &str| pairs.iter().find(|p| string(&g, p.0) == k).unwrap().1;
        let Obj::List(l) = g.get(get("k")) else {
            panic!()
        };
        let l: Vec<&Obj> = l.iter().map(|&id| g.get(id)).collect();
        assert_eq!(l[0], &Obj::Int(Long::from_i64(1)));
        assert_eq!(
            &l[1..8],
            [
                &Obj::Float(2.5),
                &Obj::None,
                &Obj::True,
                &Obj::False,
                &Obj::Ellipsis,
                &Obj::StopIteration,
                &Obj::Bytes(b"x".to_vec())
            ]
        );
        let Obj::Str(long_ascii) = l[8] else { panic!() };
        assert_eq!(long_ascii.chars.len(), 300);
        let Obj::Set(s) = g.get(get("s")) else {
            panic!()
        };
        assert_eq!(
            s.iter().map(|&id| int(&g, id)).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(g.get(get("fs")), &Obj::FrozenSet(vec![]));
        assert_eq!(g.get(get("t")), &Obj::Tuple(vec![]));
        let big = tuple(&g, get("big"));
        assert_eq!(big.len(), 300);
        assert_eq!(int(&g, big[299]), 299);

        // A shared tuple is one object.
        let data = dumps(&py, "t = ('abc',)", "(t, t)");
        let g = read(&data).unwrap();
        let outer = tuple(&g, g.root);
        assert_eq!(outer[0], outer[1]);
        assert_eq!(string(&g, tuple(&g, outer[0])[0]), "abc");

        // A list containing itself: the ref slot is taken before the items.
        let g = read(&dumps(&py, "l = []; l.append(l)", "l")).unwrap();
        assert_eq!(g.get(g.root), &Obj::List(vec![g.root]));
    }

    #[test]
    fn hand_made() {
        // TYPE_INT, TYPE_INT64, TYPE_LONG, text float/complex, short ASCII.
        let g = read(b")\x05i\xfe\xff\xff\xffI\x00\x00\x00\x00\x00\x00\x00\x80f\x041e10x\x011\x03inf\xda\x02hi").unwrap();
        let t = tuple(&g, g.root);
        assert_eq!(int(&g, t[0]), -2);
        assert_eq!(int(&g, t[1]), i64::MIN);
        assert_eq!(g.get(t[2]), &Obj::Float(1e10));
        assert_eq!(g.get(t[3]), &Obj::Complex(1.0, f64::INFINITY));
        assert_eq!(
            g.get(t[4]),
            &Obj::Str(Str {
                chars: vec![b'h' as u32, b'i' as u32],
                interned: true
            })
        );
        // 0x7fff + 1 * 2^15 as 15-bit digits, negative count.
        let g = read(b"l\xfe\xff\xff\xff\xff\x7f\x01\x00").unwrap();
        assert_eq!(int(&g, g.root), -0xffff);
        // Slice (3.14) with its parts shared.
        let g = read(b"\xba\xe9\x01\x00\x00\x00r\x01\x00\x00\x00N").unwrap();
        let Obj::Slice(a, b, c) = *g.get(g.root) else {
            panic!()
        };
        assert_eq!((a, b), (1, 1));
        assert_eq!(g.get(c), &Obj::None);
        // Surrogatepass UTF-8; lone surrogate ED A0 80 = U+D800.
        let g = read(b"t\x07\x00\x00\x00\xc3\xa9\xed\xa0\x80a\x00").unwrap();
        let Obj::Str(s) = g.get(g.root) else { panic!() };
        assert_eq!(s.chars, [0xe9, 0xd800, b'a' as u32, 0]);
        assert!(s.interned);
        // FLAG_REF on a singleton takes no ref slot: ref 0 is the int.
        let g = read(b")\x03\xce\xe9\x07\x00\x00\x00r\x00\x00\x00\x00").unwrap();
        let t = tuple(&g, g.root);
        assert_eq!(t[1], t[2]);
        assert_eq!(int(&g, t[2]), 7);
    }

    #[test]
    fn longs() {
        for v in [
            0,
            1,
            -1,
            1 << 15,
            (1 << 30) - 1,
            1 << 30,
            i64::MAX,
            i64::MIN,
        ] {
            let l = Long::from_i64(v);
            assert_eq!(l.to_i64(), Some(v));
            // Digits in either base add up to the same magnitude.
            let m = v.unsigned_abs() as u128;
            for shift in [15, 30] {
                let sum = l
                    .digits(shift)
                    .iter()
                    .rev()
                    .fold(0u128, |a, &d| a << shift | d as u128);
                assert_eq!(sum, m, "{v} in base 2^{shift}");
            }
        }
        let big = Long {
            negative: false,
            magnitude: vec![0, 0x8000_0000],
        };
        assert_eq!(big.to_i64(), None);
        let min = Long {
            negative: true,
            ..big
        };
        assert_eq!(min.to_i64(), Some(i64::MIN));
    }

    fn err(data: &[u8]) -> String {
        format!("{:#}", read(data).unwrap_err())
    }

    #[test]
    fn errors() {
        let e = err(b"?");
        assert!(
            e.contains("unknown type byte 0x3f") && e.contains("offset 0"),
            "{e}"
        );
        let e = err(b")\x02N\x01");
        assert!(e.contains("0x01") && e.contains("offset 3"), "{e}");
        let e = err(b"");
        assert!(e.contains("truncated") && e.contains("offset 0"), "{e}");
        let e = err(b"s\x05\x00\x00\x00abc");
        assert!(e.contains("truncated") && e.contains("offset 5"), "{e}");
        let e = err(b")\x02Nr\x05\x00\x00\x00");
        assert!(
            e.contains("back-reference 5") && e.contains("offset 3"),
            "{e}"
        );
        // A frozenset may not refer to itself (CPython registers it late).
        let e = err(b"\xbe\x01\x00\x00\x00r\x00\x00\x00\x00");
        assert!(
            e.contains("still being read") && e.contains("offset 5"),
            "{e}"
        );
        let e = err(b")\x010");
        assert!(e.contains("NULL") && e.contains("offset 2"), "{e}");
        let e = err(b"u\x02\x00\x00\x00a\xff");
        assert!(e.contains("UTF-8") && e.contains("offset 6"), "{e}");
        let e = err(b"u\x02\x00\x00\x00\xc0\x80"); // overlong NUL
        assert!(e.contains("UTF-8") && e.contains("offset 5"), "{e}");
        let e = err(b"l\x01\x00\x00\x00\x00\x00");
        assert!(e.contains("unnormalized"), "{e}");
        let e = err(b"(\xff\xff\xff\xff");
        assert!(e.contains("negative size"), "{e}");

        // A code object whose fields have the wrong types.
        let code = [&b"c"[..], &[0; 20], b"NNNNNNNN", &[0; 4], b"NN"].concat();
        let e = err(&code);
        assert!(
            e.contains("unsupported code layout (code object at offset 0)")
                && e.contains("co_code is None, expected bytes"),
            "{e}"
        );

        // Nesting: 2000 open objects is CPython's limit, 2001 is too many.
        let nest = |n: usize| [b")\x01".repeat(n - 1), b"N".to_vec()].concat();
        read(&nest(2000)).unwrap();
        let e = err(&nest(2001));
        assert!(
            e.contains("deeper than 2000") && e.contains("offset 4000"),
            "{e}"
        );
    }

    #[test]
    fn truncated_and_corrupted_real_data() {
        let Some(py) = python("3.13").or_else(|| python("3.11")) else {
            return;
        };
        let setup = format!("src = {SOURCE:?}");
        let data = dumps(&py, &setup, "compile(src, 'f.py', 'exec')");
        for n in 0..data.len() {
            let e = err(&data[..n]);
            assert!(e.contains("offset"), "prefix {n}: {e}");
        }
        // Any single-byte corruption: an error or a graph, never a panic.
        for i in 0..data.len() {
            for x in [0x00, 0x80, 0xff, b'r', b'(', b'c'] {
                let mut d = data.clone();
                d[i] = x;
                let _ = read(&d);
            }
        }
    }

    #[test]
    fn older_code_layout_is_rejected() {
        let Some(py) = python("3.10") else { return };
        let data = dumps(&py, "", "compile('def f(): return 1', 'f.py', 'exec')");
        let e = err(&data);
        eprintln!("3.10 code object: {e}");
        assert!(e.contains("offset"), "{e}");
    }

    #[test]
    fn stdlib_pycs() {
        for minor in ["3.11", "3.12", "3.13"] {
            let Some(py) = python(minor) else { continue };
            let lib = py
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .join("lib")
                .join(format!("python{minor}"));
            let tag = format!(".cpython-{}", minor.replace('.', ""));
            let (mut files, mut objs) = (0, 0);
            for e in walkdir::WalkDir::new(&lib) {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy();
                if !(name.ends_with(".pyc") && name.contains(&tag)) {
                    continue;
                }
                let bytes = std::fs::read(e.path()).unwrap();
                let g = read(&bytes[16..])
                    .unwrap_or_else(|err| panic!("{}: {err:#}", e.path().display()));
                assert!(
                    matches!(g.get(g.root), Obj::Code(_)),
                    "{}",
                    e.path().display()
                );
                files += 1;
                objs += g.objs.len();
            }
            eprintln!(
                "{minor}: parsed {files} stdlib .pyc files ({objs} objects) under {}",
                lib.display()
            );
            assert!(
                files > 100,
                "{minor}: only {files} .pyc files under {}",
                lib.display()
            );
        }
    }
}
