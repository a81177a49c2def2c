//! The deep-frozen blob: what `cbindings/cpython/fork/objfreeze_deep.h`
//! reads. One blob per table, in a writable data section, at the table's
//! symbol with `_deep` appended. All offsets are from the blob's first byte;
//! all integers are u32 in the target's byte order.
//!
//! ```text
//! header (72 bytes)
//!    0  magic          "OFZDEEP\n"
//!    8  version        1
//!   12  python_hex     PY_VERSION_HEX of the build whose layout it follows
//!   16  nmodules       module records, sorted by data_offset
//!   20  nfixups        fixup records
//!   24  modules        offset of the module records
//!   28  fixups         offset of the fixup records
//!   32  total_size     length of the blob
//!   36  reserved       0
//!   40  table_digest   the served table's BLAKE3 digest (its header's)
//! module record (24 bytes)
//!    0  data_offset    the module's marshal data in the table: the key
//!    4  code           offset of its code object
//!    8  first          its first fixup
//!   12  count          its number of fixups, run in order at first import
//!   16  state          0 at rest; written at run time (1 busy, 2 ready)
//!   20  reserved       0
//! fixup record (8 bytes)
//!    0  slot           offset of a pointer that gets the result
//!    4  target | kind  offset of a static object (16-aligned) | kind
//! ```
//! Kinds: intern the string (`_PyUnicode_InternImmortal`), make a
//! frozenset or a slice of the static tuple, or finish a code object
//! (its version number and quickened bytecode).

pub const MAGIC: &[u8; 8] = b"OFZDEEP\n";
pub const VERSION: u32 = 1;
pub const HEADER_SIZE: usize = 72;
pub const MODULE_SIZE: usize = 24;
pub const FIXUP_SIZE: usize = 8;
/// Objects start 16-aligned, which leaves the target's low 4 bits for the kind.
pub const OBJECT_ALIGN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Kind {
    Intern = 1,
    FrozenSet = 2,
    Slice = 3,
    Code = 4,
}

/// Symbol of the blob serving the table at `table_symbol`.
pub fn blob_symbol(table_symbol: &str) -> String {
    format!("{table_symbol}_deep")
}
