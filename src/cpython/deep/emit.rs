//! Marshal object graphs laid out as static CPython objects, shaped by a
//! [`Layout`]: each object is a copy of the probe's template with lengths,
//! data and pointers filled in. Pointers are recorded, not written: to the
//! blob itself or to CPython's own objects (types, None/True/False/Ellipsis,
//! and the singletons inside `_PyRuntime`); the blob stores them as offsets
//! that the runtime turns into addresses at the module's first import, so
//! the object file has no relocations and pages of modules never imported
//! are never written. Bytecode is written quickened (`quicken.rs`); what
//! only the running interpreter can do (interning, hashing into
//! frozensets, code versions) is left as fixups for that same first
//! import.

use std::collections::HashMap;

use anyhow::{bail, Result};

use super::format::{
    extern_index, relr, Kind, EXTERNS, EXTERN_OFFSET_LIMIT, FIXUP_SIZE, OBJECT_ALIGN, RELOC_SIZE,
};
use super::layout::Layout;
use super::quicken::Quicken;
use crate::cpython::marshal::{Code, Graph, Long, Obj, ObjId, Str};

/// What a pointer slot points at.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// An offset in the blob.
    Own(u64),
    /// One of [`EXTERNS`] (by index) plus an offset.
    Ext(usize, u64),
}

/// A fixup (for [`Kind::Copy`], `target` is the module-relative index of
/// the fixup whose result it copies, shifted left by 4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fixup {
    pub slot: u64,
    pub target: u64,
    pub kind: Kind,
}

/// A pointer-sized slot and what it points at.
#[derive(Debug, Clone, PartialEq)]
pub struct Reloc {
    pub slot: u64,
    pub target: Target,
}

/// A module laid out: its code object, and its fixup and pointer-slot
/// records (right after its objects, so a first import reads one region).
#[derive(Debug, Clone, Copy)]
pub struct Placed {
    /// Where the module's bytes begin (its first object, maybe padded).
    pub start: u64,
    pub code: u64,
    pub fixups_at: u64,
    pub fixups: usize,
    pub relocs_at: u64,
    /// Relocation words.
    pub relocs: usize,
    /// Pointer slots those words list.
    pub pointers: usize,
}

/// An emitted object: where it is and what a slot pointing at it needs.
#[derive(Debug, Clone)]
struct Done {
    at: Target,
    fix: Option<Kind>,
}

/// The blob being built: offsets are from its first byte.
pub struct Emitter<'l> {
    l: &'l Layout,
    quicken: Quicken,
    ptr: usize,
    pub bytes: Vec<u8>,
    /// The module being emitted's pointer slots and fixups.
    relocs: Vec<Reloc>,
    fixups: Vec<Fixup>,
    /// Objects of the module being emitted (no sharing across modules:
    /// each module's first import fixes up only its own objects).
    memo: HashMap<ObjId, Option<Done>>,
    /// The fixup that interns each string of the module: later slots copy
    /// its result instead of interning again.
    interned: HashMap<u64, u64>,
    /// Each distinct interned string's number, over the whole blob: the
    /// runtime interns a number once, whichever module has it first.
    strings: HashMap<Vec<u32>, u64>,
}

impl<'l> Emitter<'l> {
    /// Objects start after `reserved` bytes (the header and module records).
    pub fn new(l: &'l Layout, reserved: usize) -> Result<Emitter<'l>> {
        Ok(Emitter {
            l,
            quicken: Quicken::new(l)?,
            ptr: l.at("pointer_size"),
            bytes: vec![0; reserved],
            relocs: Vec::new(),
            fixups: Vec::new(),
            memo: HashMap::new(),
            interned: HashMap::new(),
            strings: HashMap::new(),
        })
    }

    /// How many distinct strings the blob's fixups intern.
    pub fn strings(&self) -> usize {
        self.strings.len()
    }

    /// Lay out one module whose marshal data parsed to `g`. On error the
    /// area is left as it was, so the caller can keep that module marshalled.
    pub fn module(&mut self, g: &Graph) -> Result<Placed> {
        let saved = self.bytes.len();
        self.memo.clear();
        self.interned.clear();
        self.relocs.clear();
        self.fixups.clear();
        let r = (|| {
            if !matches!(g.objs[g.root as usize], Obj::Code(_)) {
                bail!("the marshal data is not a code object");
            }
            let Target::Own(code) = self.obj(g, g.root)?.at else {
                unreachable!("code objects are always emitted")
            };
            self.records(saved as u64, code)
        })();
        if r.is_err() {
            self.bytes.truncate(saved);
        }
        r
    }

    /// Write the module's pointer slots (offsets until the runtime makes
    /// them addresses), then its fixup records and relocation words.
    fn records(&mut self, start: u64, code: u64) -> Result<Placed> {
        for i in 0..self.relocs.len() {
            let Reloc { slot, target } = self.relocs[i].clone();
            let v = match target {
                Target::Own(at) => at,
                Target::Ext(i, off) => {
                    if off >= EXTERN_OFFSET_LIMIT {
                        bail!(
                            "offset {off} into {} is too large for a pointer slot",
                            EXTERNS[i]
                        );
                    }
                    ((i as u64) << 24) | off
                }
            };
            self.write_uint(slot, v, self.ptr);
        }
        let fixups_at = self.bytes.len().next_multiple_of(8) as u64;
        self.bytes.resize(fixups_at as usize, 0);
        for f in std::mem::take(&mut self.fixups).iter() {
            self.push_u32(f.slot)?;
            self.push_u32(f.target | f.kind as u64)?;
        }
        let relocs_at = self.bytes.len() as u64;
        let relocs = std::mem::take(&mut self.relocs);
        let mut lists = [Vec::new(), Vec::new()];
        for r in &relocs {
            lists[matches!(r.target, Target::Ext(..)) as usize].push(r.slot);
        }
        if !relocs.is_empty() {
            let ptr = self.ptr as u64;
            for l in &mut lists {
                l.sort_unstable();
            }
            let own = relr(&lists[0], ptr);
            self.push_u32(own.len() as u64)?;
            for w in own.into_iter().chain(relr(&lists[1], ptr)) {
                self.push_u32(w)?;
            }
        }
        Ok(Placed {
            start,
            code,
            fixups_at,
            fixups: (relocs_at - fixups_at) as usize / FIXUP_SIZE,
            relocs_at,
            relocs: (self.bytes.len() as u64 - relocs_at) as usize / RELOC_SIZE,
            pointers: relocs.len(),
        })
    }

    fn push_u32(&mut self, v: u64) -> Result<()> {
        let Ok(v) = u32::try_from(v) else {
            bail!("offset {v}: a deep-frozen blob is limited to 4 GiB");
        };
        let at = self.bytes.len() as u64;
        self.bytes.resize(self.bytes.len() + 4, 0);
        self.write_uint(at, v as u64, 4);
        Ok(())
    }

    fn obj(&mut self, g: &Graph, id: ObjId) -> Result<Done> {
        match self.memo.get(&id) {
            Some(Some(d)) => return Ok(d.clone()),
            Some(None) => bail!("object {id} contains itself"),
            None => {}
        }
        self.memo.insert(id, None);
        let d = match &g.objs[id as usize] {
            Obj::None => ext("_Py_NoneStruct", 0),
            Obj::True => ext("_Py_TrueStruct", 0),
            Obj::False => ext("_Py_FalseStruct", 0),
            Obj::Ellipsis => ext("_Py_EllipsisObject", 0),
            Obj::Int(v) => self.int(v),
            Obj::Float(f) => self.float(*f),
            Obj::Complex(re, im) => self.complex(*re, *im),
            Obj::Str(s) => self.str(s),
            Obj::Bytes(b) => self.bytes_obj(b),
            Obj::Tuple(items) if items.is_empty() => {
                ext("_PyRuntime", self.l.get("rt_tuple_empty"))
            }
            Obj::Tuple(items) => own(self.tuple(g, items)?, None),
            Obj::FrozenSet(items) => own(self.tuple(g, items)?, Some(Kind::FrozenSet)),
            Obj::Slice(a, b, c) => own(self.tuple(g, &[*a, *b, *c])?, Some(Kind::Slice)),
            Obj::Code(c) => own(self.code(g, c)?, None),
            Obj::StopIteration => bail!("StopIteration as a constant"),
            Obj::List(_) | Obj::Dict(_) | Obj::Set(_) => bail!("a mutable container as a constant"),
        };
        self.memo.insert(id, Some(d.clone()));
        Ok(d)
    }

    /// Room for an object of `size` bytes after `pre` bytes of zeros (the
    /// GC header of container types); returns the object's offset.
    fn alloc(&mut self, pre: usize, size: usize) -> u64 {
        let at = (self.bytes.len() + pre).next_multiple_of(OBJECT_ALIGN);
        self.bytes.resize(at + size, 0);
        at as u64
    }

    /// An object from template `tmpl` of `len` bytes, typed `ty`.
    fn templated(
        &mut self,
        pre: usize,
        size: usize,
        tmpl: &str,
        len: usize,
        ty: &'static str,
    ) -> Result<u64> {
        let at = self.alloc(pre, size.max(len));
        let t = self.l.template(tmpl, len)?;
        self.bytes[at as usize..at as usize + len].copy_from_slice(t);
        self.reloc(at + self.l.get("ob_type"), Target::Ext(extern_index(ty), 0));
        Ok(at)
    }

    fn reloc(&mut self, slot: u64, target: Target) {
        self.relocs.push(Reloc { slot, target });
    }

    /// Point the slot at `slot` to object `id`, with the fixup it needs.
    fn put(&mut self, g: &Graph, slot: u64, id: ObjId) -> Result<()> {
        let d = self.obj(g, id)?;
        if let (Some(mut kind), Target::Own(mut target)) = (d.fix, d.at.clone()) {
            if kind == Kind::Intern {
                match self.interned.get(&target) {
                    Some(&first) => (kind, target) = (Kind::Copy, first << 4),
                    None => {
                        self.interned.insert(target, self.fixups.len() as u64);
                        let Obj::Str(s) = &g.objs[id as usize] else {
                            unreachable!("only strings are interned")
                        };
                        let next = self.strings.len() as u64;
                        target = *self.strings.entry(s.chars.clone()).or_insert(next) << 4;
                    }
                }
            }
            self.fixups.push(Fixup { slot, target, kind });
        }
        self.reloc(slot, d.at);
        Ok(())
    }

    fn int(&mut self, v: &Long) -> Done {
        let l = self.l;
        if let Some(i) = v.to_i64() {
            let (neg, pos) = (l.get("small_neg") as i64, l.get("small_pos") as i64);
            if (-neg..pos).contains(&i) {
                let at = l.get("rt_small_ints") + (i + neg) as u64 * l.get("long_size");
                return ext("_PyRuntime", at);
            }
        }
        let digits = v.digits(l.get("long_shift") as u32);
        let dsize = l.at("long_digit_size");
        let size = l.at("long_digits") + digits.len() * dsize;
        let at = self
            .alloc_head(size.max(l.at("long_size")), "PyLong_Type")
            .expect("head template checked");
        let sign = if v.negative { 2 } else { 0 };
        let tag = ((digits.len() as u64) << l.get("long_non_size_bits")) | sign;
        self.write_uint(at + l.get("long_tag"), tag, self.ptr);
        for (i, d) in digits.iter().enumerate() {
            self.write_uint(
                at + l.get("long_digits") + (i * dsize) as u64,
                *d as u64,
                dsize,
            );
        }
        own(at, None)
    }

    /// A plain object: the bare header template, then `size` bytes in all.
    fn alloc_head(&mut self, size: usize, ty: &'static str) -> Result<u64> {
        let len = self.l.at("object_size");
        self.templated(0, size, "tmpl_head", len, ty)
    }

    fn float(&mut self, f: f64) -> Done {
        let at = self
            .alloc_head(self.l.at("float_size"), "PyFloat_Type")
            .expect("head template checked");
        self.write_uint(at + self.l.get("float_value"), f.to_bits(), 8);
        own(at, None)
    }

    fn complex(&mut self, re: f64, im: f64) -> Done {
        let at = self
            .alloc_head(self.l.at("complex_size"), "PyComplex_Type")
            .expect("head template checked");
        let v = at + self.l.get("complex_value");
        self.write_uint(v, re.to_bits(), 8);
        self.write_uint(v + 8, im.to_bits(), 8);
        own(at, None)
    }

    fn str(&mut self, s: &Str) -> Done {
        let l = self.l;
        match s.chars.as_slice() {
            // CPython's own singletons, already interned.
            [] => return ext("_PyRuntime", l.get("rt_str_empty")),
            [c] if *c < 128 => {
                return ext(
                    "_PyRuntime",
                    l.get("rt_str_ascii") + *c as u64 * l.get("rt_str_ascii_size"),
                )
            }
            [c] if *c < 256 => {
                let i = (*c - 128) as u64;
                return ext(
                    "_PyRuntime",
                    l.get("rt_str_latin1") + i * l.get("rt_str_latin1_size"),
                );
            }
            _ => {}
        }
        let max = s.max_char();
        if max < 0x80 {
            let ascii: Vec<u8> = s.chars.iter().map(|&c| c as u8).collect();
            if let Some(at) = l.static_str(&ascii) {
                // CPython's own static string: interned for good already.
                return ext("_PyRuntime", at);
            }
        }
        let (tmpl, head, width) = match max {
            0..=0x7f => ("tmpl_str_ascii", l.at("str_ascii_size"), 1),
            0x80..=0xff => ("tmpl_str_ucs1", l.at("str_compact_size"), 1),
            0x100..=0xffff => ("tmpl_str_ucs2", l.at("str_compact_size"), 2),
            _ => ("tmpl_str_ucs4", l.at("str_compact_size"), 4),
        };
        let n = s.chars.len();
        let at = self
            .templated(0, head + (n + 1) * width, tmpl, head, "PyUnicode_Type")
            .expect("string templates checked");
        self.write_uint(at + l.get("str_length"), n as u64, self.ptr);
        for (i, c) in s.chars.iter().enumerate() {
            self.write_uint(at + (head + i * width) as u64, *c as u64, width);
        }
        own(at, s.interned.then_some(Kind::Intern))
    }

    fn bytes_obj(&mut self, b: &[u8]) -> Done {
        let l = self.l;
        match b {
            [] => return ext("_PyRuntime", l.get("rt_bytes_empty")),
            [c] => {
                return ext(
                    "_PyRuntime",
                    l.get("rt_bytes_chars") + *c as u64 * l.get("rt_bytes_char_size"),
                )
            }
            _ => {}
        }
        let head = l.at("bytes_sval");
        let at = self
            .templated(0, head + b.len() + 1, "tmpl_bytes", head, "PyBytes_Type")
            .expect("bytes template checked");
        self.write_uint(at + l.get("ob_size"), b.len() as u64, self.ptr);
        let s = at as usize + head;
        self.bytes[s..s + b.len()].copy_from_slice(b);
        own(at, None)
    }

    /// A static tuple (possibly empty: frozensets and slices start as one).
    fn tuple(&mut self, g: &Graph, items: &[ObjId]) -> Result<u64> {
        let l = self.l;
        let head = l.at("tuple_items");
        let at = self.templated(
            l.at("gc_head_size"),
            head + items.len() * self.ptr,
            "tmpl_tuple",
            head,
            "PyTuple_Type",
        )?;
        self.write_uint(at + l.get("ob_size"), items.len() as u64, self.ptr);
        for (i, &id) in items.iter().enumerate() {
            self.put(g, at + (head + i * self.ptr) as u64, id)?;
        }
        Ok(at)
    }

    fn code(&mut self, g: &Graph, c: &Code) -> Result<u64> {
        let l = self.l;
        let Obj::Bytes(code) = &g.objs[c.code as usize] else {
            bail!("co_code is not bytes");
        };
        let unit = l.at("code_unit_size");
        if code.is_empty() || code.len() % unit != 0 {
            bail!("co_code of {} bytes is not whole code units", code.len());
        }
        let Obj::Tuple(names) = &g.objs[c.localsplusnames as usize] else {
            bail!("co_localsplusnames is not a tuple");
        };
        let kinds: &[u8] = match &g.objs[c.localspluskinds as usize] {
            Obj::Bytes(k) => k,
            _ => bail!("co_localspluskinds is not bytes"),
        };
        if kinds.len() != names.len() {
            bail!("{} local names but {} kinds", names.len(), kinds.len());
        }
        let head = l.at("code_adaptive");
        let at = self.templated(0, head + code.len(), "tmpl_code", head, "PyCode_Type")?;
        self.write_uint(at + l.get("ob_size"), (code.len() / unit) as u64, self.ptr);
        let s = at as usize + head;
        self.bytes[s..s + code.len()].copy_from_slice(code);
        self.quicken.apply(&mut self.bytes[s..s + code.len()]);

        // What init_code derives, derived the same way.
        let (local, cell, free) = (
            l.get("fast_local") as u8,
            l.get("fast_cell") as u8,
            l.get("fast_free") as u8,
        );
        let (mut nlocals, mut ncells, mut nfrees) = (0, 0, 0);
        for &k in kinds {
            if k & local != 0 {
                nlocals += 1;
                if k & cell != 0 {
                    ncells += 1;
                }
            } else if k & cell != 0 {
                ncells += 1;
            } else if k & free != 0 {
                nfrees += 1;
            }
        }
        let stacksize = c.stacksize.max(1);
        let nlocalsplus = names.len() as i32;
        let resume = l.get("op_resume") as u8;
        let first = code
            .chunks(unit)
            .position(|u| u[0] == resume)
            .unwrap_or(code.len() / unit);
        for (field, v) in [
            ("code_flags", c.flags),
            ("code_argcount", c.argcount),
            ("code_posonlyargcount", c.posonlyargcount),
            ("code_kwonlyargcount", c.kwonlyargcount),
            ("code_stacksize", stacksize),
            ("code_firstlineno", c.firstlineno),
            ("code_nlocalsplus", nlocalsplus),
            (
                "code_framesize",
                nlocalsplus + stacksize + l.get("frame_specials") as i32,
            ),
            ("code_nlocals", nlocals),
            ("code_ncellvars", ncells),
            ("code_nfreevars", nfrees),
            ("code_firsttraceable", first as i32),
        ] {
            self.write_uint(at + l.get(field), v as u32 as u64, 4);
        }
        for (field, id) in [
            ("code_consts", c.consts),
            ("code_names", c.names),
            ("code_exceptiontable", c.exceptiontable),
            ("code_localsplusnames", c.localsplusnames),
            ("code_localspluskinds", c.localspluskinds),
            ("code_filename", c.filename),
            ("code_name", c.name),
            ("code_qualname", c.qualname),
            ("code_linetable", c.linetable),
        ] {
            self.put(g, at + l.get(field), id)?;
        }
        self.fixups.push(Fixup {
            slot: at,
            target: at,
            kind: Kind::Code,
        });
        Ok(at)
    }

    fn write_uint(&mut self, at: u64, v: u64, width: usize) {
        let at = at as usize;
        self.l.endian.write_uint(&mut self.bytes[at..at + width], v);
    }
}

fn ext(sym: &str, off: u64) -> Done {
    Done {
        at: Target::Ext(extern_index(sym), off),
        fix: None,
    }
}

fn own(at: u64, fix: Option<Kind>) -> Done {
    Done {
        at: Target::Own(at),
        fix,
    }
}
