//! The deep-frozen blob: what `cbindings/cpython/fork/objfreeze_deep.h`
//! reads. One blob per table, in a writable data section, at the table's
//! symbol with `_deep` appended. All offsets are from the blob's first byte;
//! all integers are u32 in the target's byte order, but pointer slots.
//!
//! The blob has no relocations. A pointer slot holds, until its module's
//! first import, either an offset in the blob, or `index << 24 | offset`
//! into one of [`EXTERNS`]; each module lists its slots, and the runtime
//! turns them into addresses before running the module's fixups. A module's
//! objects, fixup records and slot records lie together, in that order, so
//! its first import reads one region of the file.
//!
//! ```text
//! header (76 bytes; the module records follow, 8-aligned)
//!    0  magic          "OFZDEEP\n"
//!    8  version        6
//!   12  python_hex     PY_VERSION_HEX of the build whose layout it follows
//!   16  nmodules       module records, sorted by data_offset
//!   20  nfixups        fixup records, all modules
//!   24  nrelocs        pointer slots, all modules
//!   28  modules        offset of the module records
//!   32  total_size     length of the blob
//!   36  first_end      end of the modules laid out first (--first): with
//!                      the header and records, what every start reads;
//!                      0 if none
//!   40  nstrings       distinct strings the fixups intern, all modules
//!   44  table_digest   the served table's BLAKE3 digest (its header's)
//! module record (36 bytes)
//!    0  data_offset    the module's marshal data in the table: the key
//!    4  code           offset of its code object
//!    8  fixups         offset of its fixup records (8-aligned)
//!   12  nfixups        how many, run in order at first import
//!   16  relocs         offset of its relocation words
//!   20  nrelocs        how many words
//!   24  state          0 at rest; written at run time
//!   28  start          offset of its first byte: the module's objects,
//!                      fixup records and relocation words run from
//!                      there to the end of its relocation words
//!   32  reach          end of its subtree: the modules laid out after it
//!                      because it imports them (see `order`), read with
//!                      it at its first import; at least its own end
//! relocation words (4 bytes each): the module's pointer slots, as
//!    ELF's RELR packs relative relocations: the number of words that list
//!    slots holding blob offsets; those words; then the words that list
//!    slots holding externs. In each list, an even word is a slot's offset
//!    (the next slot is one pointer further); an odd word is a bitmap: bit
//!    i (1-31) marks the slot i - 1 pointers past that, and the next slot
//!    is 31 pointers further. No slots: no words.
//! fixup record (8 bytes)
//!    0  slot           offset of a pointer that gets the result
//!    4  target | kind  offset of a static object (16-aligned) | kind
//! ```
//! Kinds: intern the string the slot points at (`_PyUnicode_InternImmortal`;
//! target: the string's number in the blob << 4, below `nstrings`: the
//! runtime keeps what each number interned to, and a later module's equal
//! string takes that without interning again), make a
//! frozenset or a slice of the static tuple, finish a code object (its
//! version number; its bytecode is written quickened), or copy what an earlier fixup
//! of the module stored (target: that fixup's index in the module << 4): a
//! repeat of a string within the module costs no lookup at all.

pub const MAGIC: &[u8; 8] = b"OFZDEEP\n";
pub const VERSION: u32 = 6;
/// The header's u32 fields after the magic, in order; the digest follows.
pub const HEADER_WORDS: &[&str] = &[
    "version",
    "python_hex",
    "nmodules",
    "nfixups",
    "nrelocs",
    "modules",
    "total_size",
    "first_end",
    "nstrings",
];
pub const DIGEST_AT: usize = 8 + 4 * HEADER_WORDS.len();
pub const HEADER_SIZE: usize = DIGEST_AT + 32;
/// Where the module records start: after the header, 8-aligned.
pub const MODULES_AT: usize = HEADER_SIZE.next_multiple_of(8);
/// A module record's u32 fields, in order.
pub const MODULE_WORDS: &[&str] = &[
    "data_offset",
    "code",
    "fixups",
    "nfixups",
    "relocs",
    "nrelocs",
    "state",
    "start",
    "reach",
];
pub const MODULE_SIZE: usize = 4 * MODULE_WORDS.len();
/// A fixup record's u32 fields, in order.
pub const FIXUP_WORDS: &[&str] = &["slot", "target"];
pub const FIXUP_SIZE: usize = 4 * FIXUP_WORDS.len();
pub const RELOC_SIZE: usize = 4;
/// The runtime's module states (bits), for the header test.
pub const STATES: &[(&str, u32)] = &[("RELOCATED", 1), ("BUSY", 2), ("READY", 4)];
/// Objects start 16-aligned, which leaves the target's low 4 bits for the kind.
pub const OBJECT_ALIGN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Kind {
    // Values are the C header's OBJFREEZE_DEEP_* kinds.
    /// Intern the string the slot points at (`target >> 4`: its number).
    Intern = 1,
    FrozenSet = 2,
    Slice = 3,
    Code = 4,
    /// Copy the pointer an earlier fixup of the module (index `target >> 4`) stored.
    Copy = 5,
}

/// What extern pointer slots point into, by index: `objfreeze_deep.h`
/// lists the same addresses in the same order.
pub const EXTERNS: &[&str] = &[
    "PyUnicode_Type",
    "PyBytes_Type",
    "PyTuple_Type",
    "PyLong_Type",
    "PyFloat_Type",
    "PyComplex_Type",
    "PyCode_Type",
    "_Py_NoneStruct",
    "_Py_TrueStruct",
    "_Py_FalseStruct",
    "_Py_EllipsisObject",
    "_PyRuntime",
];

/// Every kind with its C name, for the header test.
pub const KINDS: &[(&str, Kind)] = &[
    ("INTERN", Kind::Intern),
    ("FROZENSET", Kind::FrozenSet),
    ("SLICE", Kind::Slice),
    ("CODE", Kind::Code),
    ("COPY", Kind::Copy),
];

/// An extern slot's offset must fit below the index byte.
pub const EXTERN_OFFSET_LIMIT: u64 = 1 << 24;

/// Index of an extern; the names are this module's constants.
pub fn extern_index(name: &str) -> usize {
    EXTERNS
        .iter()
        .position(|e| *e == name)
        .unwrap_or_else(|| panic!("{name} is not in EXTERNS"))
}

/// The blob's section. Not `.data`: a section of its own is placed after
/// all of `.data` (ELF orphan placement), so the program's other data stays
/// together and a start touches no more pages than without the blob.
pub fn section(format: object::BinaryFormat) -> &'static str {
    match format {
        object::BinaryFormat::MachO => "__DATA,__objfreeze_dp",
        object::BinaryFormat::Coff => ".ofzdeep",
        _ => "objfreeze_deep",
    }
}

/// What a blob's section is aligned to and its size rounded up to (zeros
/// after the blob: the runtime steps over them). The blob section comes last
/// of the ELF data with file bytes, just before `.bss`; when the file part
/// of that segment ends mid-page, the kernel zeroes the rest of that page at
/// exec, and that write faults in the file around it, as far as the disk's
/// read-ahead goes (8 MB on some virtual disks: 4 MB of modules that may
/// never run). Ending on a page boundary leaves no page to zero. 64 KB where
/// kernels may use pages that large; ELF only (COFF caps section alignment,
/// and neither COFF nor Mach-O loaders zero a partial page this way).
pub fn page(target: &crate::target::Target) -> u64 {
    match target.format {
        object::BinaryFormat::Elf => target.elf_page(),
        _ => 16,
    }
}

/// Relocation words of one list (see the module docs) for the ascending,
/// pointer-aligned slot offsets `slots`, with `ptr`-byte pointers.
pub fn relr(slots: &[u64], ptr: u64) -> Vec<u64> {
    let mut words = Vec::new();
    let mut i = 0;
    while i < slots.len() {
        words.push(slots[i]);
        let mut next = slots[i] + ptr;
        i += 1;
        loop {
            let mut bits = 0u64;
            while i < slots.len() && slots[i] < next + 31 * ptr {
                bits |= 1 << ((slots[i] - next) / ptr);
                i += 1;
            }
            if bits == 0 {
                break;
            }
            words.push(bits << 1 | 1);
            next += 31 * ptr;
        }
    }
    words
}

/// The slots one list of relocation words marks (what the runtime walks).
pub fn unrelr(words: &[u64], ptr: u64) -> Vec<u64> {
    let mut slots = Vec::new();
    let mut next = 0;
    for &w in words {
        if w & 1 == 0 {
            slots.push(w);
            next = w + ptr;
        } else {
            slots.extend(
                (0..31)
                    .filter(|b| w >> (b + 1) & 1 == 1)
                    .map(|b| next + b * ptr),
            );
            next += 31 * ptr;
        }
    }
    slots
}

/// Symbol of the blob serving the table at `table_symbol`.
pub fn blob_symbol(table_symbol: &str) -> String {
    format!("{table_symbol}_deep")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relocation_words_round_trip() {
        for ptr in [4u64, 8] {
            let runs: Vec<Vec<u64>> = vec![
                vec![],
                vec![0],
                vec![ptr * 3],
                (0..100).map(|i| i * ptr).collect(),
                (0..40).map(|i| i * 3 * ptr + 16).collect(),
                vec![
                    0,
                    ptr * 31,
                    ptr * 32,
                    ptr * 33,
                    ptr * 1000,
                    ptr * 1031,
                    ptr * 1032,
                ],
            ];
            for slots in runs {
                let w = relr(&slots, ptr);
                assert_eq!(unrelr(&w, ptr), slots, "{ptr}-byte pointers, words {w:?}");
            }
        }
        // Dense slots pack 31 to a word after the first.
        let dense: Vec<u64> = (0..63).map(|i| i * 8).collect();
        assert_eq!(relr(&dense, 8).len(), 3);
    }
}
