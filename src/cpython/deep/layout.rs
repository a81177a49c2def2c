//! The object layout of one CPython build, read back from the layout probe
//! (`cbindings/cpython/fork/objfreeze_layout.c`) compiled with that build's
//! compiler and flags. Nothing here knows an offset of its own: every size,
//! offset and template comes out of the probe's object file.

use anyhow::{bail, Context, Result};

use crate::format::Endian;
use crate::objread;

/// The probe's marker, at the start of its record.
pub const MARKER: &[u8; 8] = b"OFZLAYT\n";

/// The probe's values, in the order of `OBJFREEZE_LAYOUT_VALUES` in
/// objfreeze_layout.c (a test reads that list and compares).
pub const NAMES: &[&str] = &[
    "version_hex",
    "pointer_size",
    "py_debug",
    "gil_disabled",
    "trace_refs",
    "object_size",
    "ob_type",
    "ob_size",
    "gc_head_size",
    "str_ascii_size",
    "str_compact_size",
    "str_length",
    "bytes_sval",
    "tuple_items",
    "long_tag",
    "long_digits",
    "long_digit_size",
    "long_shift",
    "long_non_size_bits",
    "long_size",
    "float_value",
    "float_size",
    "complex_value",
    "complex_size",
    "code_consts",
    "code_names",
    "code_exceptiontable",
    "code_flags",
    "code_argcount",
    "code_posonlyargcount",
    "code_kwonlyargcount",
    "code_stacksize",
    "code_firstlineno",
    "code_nlocalsplus",
    "code_framesize",
    "code_nlocals",
    "code_ncellvars",
    "code_nfreevars",
    "code_localsplusnames",
    "code_localspluskinds",
    "code_filename",
    "code_name",
    "code_qualname",
    "code_linetable",
    "code_firsttraceable",
    "code_adaptive",
    "code_unit_size",
    "frame_specials",
    "op_resume",
    "op_import_name",
    "op_import_from",
    "op_extended_arg",
    "op_cache",
    "specialization",
    "op_load_const",
    "op_load_fast",
    "op_store_fast",
    "op_jump_backward",
    "op_pop_jump_if_false",
    "op_pop_jump_if_true",
    "op_pop_jump_if_none",
    "op_pop_jump_if_not_none",
    "op_load_const__load_fast",
    "op_load_fast__load_const",
    "op_load_fast__load_fast",
    "op_store_fast__load_fast",
    "op_store_fast__store_fast",
    "fast_local",
    "fast_cell",
    "fast_free",
    "rt_small_ints",
    "small_neg",
    "small_pos",
    "rt_bytes_empty",
    "rt_bytes_chars",
    "rt_bytes_char_size",
    "rt_tuple_empty",
    "rt_str_empty",
    "rt_str_ascii",
    "rt_str_ascii_size",
    "rt_str_latin1",
    "rt_str_latin1_size",
    "tmpl_base",
    "tmpl_head",
    "tmpl_str_ascii",
    "tmpl_str_ucs1",
    "tmpl_str_ucs2",
    "tmpl_str_ucs4",
    "tmpl_bytes",
    "tmpl_tuple",
    "tmpl_code",
    "tmpl_literals",
    "tmpl_literals_size",
    "tmpl_identifiers",
    "tmpl_identifiers_size",
    "rt_literals",
    "rt_identifiers",
    "tmpl_quick_warmup",
    "tmpl_quick_jump",
    "quick_counter_size",
    "str_align",
    "tmpl_size",
];

/// Which CPython object models the writer knows.
pub const SUPPORTED: &str =
    "3.12, 3.13 and 3.14 (default builds: GIL, no Py_DEBUG, no Py_TRACE_REFS)";

/// One build's layout.
#[derive(Debug, Clone)]
pub struct Layout {
    pub endian: Endian,
    values: Vec<u64>,
    templates: Vec<u8>,
    /// CPython's static strings (`_Py_ID`, `_Py_STR`) by value: their
    /// offsets in `_PyRuntime`.
    statics: std::collections::HashMap<Vec<u8>, u64>,
}

impl Layout {
    /// Read the probe out of `bytes` (an object file, archive, or anything
    /// `objread` reads), named `path` in errors.
    pub fn read(path: &str, bytes: &[u8]) -> Result<Layout> {
        let hits = objread::find_marker(path, bytes, MARKER)?;
        let rec = match hits.as_slice() {
            [one] => *one,
            [] => bail!("{path}: no objfreeze layout probe in it (compile cbindings/cpython/fork/objfreeze_layout.c with the build's CC and core CFLAGS)"),
            _ => bail!("{path}: {} layout probes in it; give the one of the build", hits.len()),
        };
        Self::parse(rec).with_context(|| format!("{path}: layout probe"))
    }

    fn parse(rec: &[u8]) -> Result<Layout> {
        if rec.len() < 16 {
            bail!("truncated");
        }
        let endian = match rec[8..12] {
            [1, 0, 0, 0] => Endian::Little,
            [0, 0, 0, 1] => Endian::Big,
            _ => bail!("byte-order word is not 1"),
        };
        let count = endian.read_u32(rec, 12) as usize;
        if count != NAMES.len() {
            bail!(
                "{count} values, but this objfreeze reads {}: the probe comes from another objfreeze version",
                NAMES.len()
            );
        }
        let end = 16 + 8 * count;
        if rec.len() < end {
            bail!("truncated");
        }
        let values: Vec<u64> = (0..count)
            .map(|i| endian.read_uint(&rec[16 + 8 * i..24 + 8 * i]))
            .collect();
        let mut l = Layout {
            endian,
            values,
            templates: Vec::new(),
            statics: Default::default(),
        };
        let (base, size) = (l.get("tmpl_base") as usize, l.get("tmpl_size") as usize);
        let Some(t) = base.checked_add(size).and_then(|e| rec.get(base..e)) else {
            bail!("templates run past the section");
        };
        l.templates = t.to_vec();
        // Every template the writer copies lies inside the probe.
        for (tmpl, len) in [
            ("tmpl_head", "object_size"),
            ("tmpl_str_ascii", "str_ascii_size"),
            ("tmpl_str_ucs1", "str_compact_size"),
            ("tmpl_str_ucs2", "str_compact_size"),
            ("tmpl_str_ucs4", "str_compact_size"),
            ("tmpl_bytes", "bytes_sval"),
            ("tmpl_tuple", "tuple_items"),
            ("tmpl_code", "code_adaptive"),
            ("tmpl_quick_warmup", "quick_counter_size"),
            ("tmpl_quick_jump", "quick_counter_size"),
        ] {
            l.template(tmpl, l.at(len))?;
        }
        l.statics = l.read_statics()?;
        Ok(l)
    }

    /// The offset in `_PyRuntime` of CPython's static string equal to the
    /// ASCII `s`, if there is one.
    pub fn static_str(&self, s: &[u8]) -> Option<u64> {
        self.statics.get(s).copied()
    }

    /// Walk the probe's copies of the literal and identifier structs: each
    /// entry a PyASCIIObject and its NUL-terminated data, aligned.
    fn read_statics(&self) -> Result<std::collections::HashMap<Vec<u8>, u64>> {
        let mut out = std::collections::HashMap::new();
        let (head, len_at, ptr) = (
            self.at("str_ascii_size"),
            self.at("str_length"),
            self.at("pointer_size"),
        );
        let align = self.at("str_align").max(1);
        for (tmpl, size, rt) in [
            ("tmpl_literals", "tmpl_literals_size", "rt_literals"),
            (
                "tmpl_identifiers",
                "tmpl_identifiers_size",
                "rt_identifiers",
            ),
        ] {
            let region = self.template(tmpl, self.at(size))?;
            let mut o = 0;
            while o + head <= region.len() {
                let n = self.endian.read_uint(&region[o + len_at..o + len_at + ptr]) as usize;
                let Some(data) = n
                    .checked_add(o + head)
                    .and_then(|end| region.get(o + head..end))
                else {
                    bail!("layout probe: static string at {o} of {tmpl} runs past it");
                };
                if n == 0 {
                    break;
                }
                out.insert(data.to_vec(), self.get(rt) + o as u64);
                o = (o + head + n + 1).next_multiple_of(align);
            }
        }
        Ok(out)
    }

    /// A value by name. Names are this module's own constants, so an
    /// unknown one is a bug here, not bad input.
    pub fn get(&self, name: &str) -> u64 {
        let i = NAMES
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("layout value {name} is not in NAMES"));
        self.values[i]
    }

    /// `get` as a usize (sizes and offsets).
    pub fn at(&self, name: &str) -> usize {
        self.get(name) as usize
    }

    /// The template object `tmpl_*` of `len` bytes.
    pub fn template(&self, name: &str, len: usize) -> Result<&[u8]> {
        let off = self.at(name);
        off.checked_add(len)
            .and_then(|end| self.templates.get(off..end))
            .with_context(|| format!("layout probe: template {name} runs past the probe"))
    }

    /// "3.14.7"-style version of the build.
    pub fn version(&self) -> String {
        let v = self.get("version_hex");
        format!("{}.{}.{}", v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff)
    }

    /// Why this build cannot be deep-frozen, or None if it can.
    pub fn unsupported(&self) -> Option<String> {
        let v = self.get("version_hex");
        let why = if !matches!(v >> 16, 0x030c..=0x030e) {
            format!("CPython {}", self.version())
        } else if self.get("gil_disabled") != 0 {
            "a free-threaded build (Py_GIL_DISABLED)".to_string()
        } else if self.get("py_debug") != 0 {
            "a debug build (Py_DEBUG)".to_string()
        } else if self.get("trace_refs") != 0 {
            "a Py_TRACE_REFS build".to_string()
        } else if !matches!(self.get("pointer_size"), 4 | 8) {
            format!("{}-byte pointers", self.get("pointer_size"))
        } else {
            return None;
        };
        Some(format!("{why}; deep freezing knows {SUPPORTED}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NAMES is the probe's list, in order.
    #[test]
    fn names_follow_the_probe() {
        let c = include_str!("../../../cbindings/cpython/fork/objfreeze_layout.c");
        let start = c.find("#define OBJFREEZE_LAYOUT_VALUES(X)").unwrap();
        let body = &c[start..];
        let body = &body[..body.find("\n\n").unwrap()];
        let names: Vec<&str> = body
            .match_indices("X(")
            .map(|(i, _)| {
                let rest = &body[i + 2..];
                &rest[..rest.find(',').unwrap()]
            })
            .collect();
        assert_eq!(names, NAMES);
    }

    #[test]
    fn damaged_probe() {
        let mut rec = MARKER.to_vec();
        rec.extend_from_slice(&1u32.to_le_bytes());
        rec.extend_from_slice(&3u32.to_le_bytes());
        let err = Layout::parse(&rec).unwrap_err().to_string();
        assert!(err.contains("another objfreeze version"), "{err}");
        rec[8] = 2;
        assert!(Layout::parse(&rec).is_err());
    }
}
