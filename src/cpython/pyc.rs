//! `.pyc` files: a header (magic, flags, then mtime/size or a source hash)
//! followed by marshal data. The magic's first two bytes are a little-endian
//! number that changes with each bytecode format; the next two are `\r\n`.

use anyhow::{bail, Result};

/// marshal's type byte for a code object, without and with FLAG_REF.
const TYPE_CODE: u8 = b'c';
const FLAG_REF: u8 = 0x80;

/// The interpreter tag of a `.pyc` magic: its four bytes as a little-endian
/// u32, which is what `PyImport_GetMagicNumber()` returns.
pub fn tag_of_magic(magic: [u8; 4]) -> u32 {
    u32::from_le_bytes(magic)
}

/// The four magic bytes for a tag.
pub fn magic_of_tag(tag: u32) -> [u8; 4] {
    tag.to_le_bytes()
}

/// The 3.x release a magic number belongs to, from CPython's history of
/// magic numbers (`Lib/importlib/_bootstrap_external.py`).
pub fn python_version(tag: u32) -> Option<&'static str> {
    if tag >> 16 != 0x0a0d {
        return None;
    }
    let n = tag & 0xffff;
    Some(match n {
        3360..=3379 => "3.6",
        3390..=3399 => "3.7",
        3400..=3419 => "3.8",
        3420..=3429 => "3.9",
        3430..=3449 => "3.10",
        3450..=3499 => "3.11",
        3500..=3549 => "3.12",
        3550..=3599 => "3.13",
        3600..=3649 => "3.14",
        _ => return None,
    })
}

/// Header length for a magic: 12 bytes before 3.7 (PEP 552 added the flags word), 16 after.
pub fn header_len(tag: u32) -> usize {
    if tag & 0xffff < 3390 {
        12
    } else {
        16
    }
}

/// A parsed `.pyc`: its tag and the marshal data after the header.
#[derive(Debug)]
pub struct Pyc<'a> {
    pub tag: u32,
    pub code: &'a [u8],
}

/// Split a `.pyc` into magic and marshal data, checking the header.
pub fn parse(bytes: &[u8]) -> Result<Pyc<'_>> {
    if bytes.len() < 4 {
        bail!(
            "truncated .pyc: {} bytes, too short for a magic number",
            bytes.len()
        );
    }
    let magic: [u8; 4] = bytes[..4].try_into().unwrap();
    if magic[2..] != *b"\r\n" {
        bail!("not a .pyc: bad magic number {magic:02x?} (expected two bytes then \\r\\n)");
    }
    let tag = tag_of_magic(magic);
    let hlen = header_len(tag);
    if bytes.len() <= hlen {
        bail!(
            "truncated .pyc: {} bytes, the header alone is {hlen}",
            bytes.len()
        );
    }
    if hlen == 16 {
        let flags = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
        // PEP 552: bit 0 = hash-based, bit 1 = check_source; nothing else is defined.
        if flags & !0b11 != 0 {
            bail!("bad .pyc flags {flags:#x} (PEP 552 defines only bits 0 and 1)");
        }
    }
    let code = &bytes[hlen..];
    check_code_object(code)?;
    Ok(Pyc { tag, code })
}

/// Raw marshal data given as a module must hold a code object.
pub fn check_code_object(code: &[u8]) -> Result<()> {
    match code.first() {
        Some(&b) if b & !FLAG_REF == TYPE_CODE => Ok(()),
        Some(&b) => {
            bail!("marshal data does not hold a code object (type byte {b:#04x}, expected 'c')")
        }
        None => bail!("empty bytecode"),
    }
}

/// A `.pyc` for `code`: magic, flags 0, and zero mtime and size, which an
/// unchecked sourceless import accepts.
pub fn to_pyc(tag: u32, code: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(code.len() + 16);
    out.extend_from_slice(&magic_of_tag(tag));
    out.resize(header_len(tag), 0);
    out.extend_from_slice(code);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        // 3.11's magic 3495.
        assert_eq!(
            python_version(tag_of_magic([0xa7, 0x0d, 0x0d, 0x0a])),
            Some("3.11")
        );
        assert_eq!(python_version(0x0a0d0000 | 3571), Some("3.13"));
        assert_eq!(python_version(1234), None);
    }

    #[test]
    fn header_checks() {
        let mut pyc = to_pyc(0x0a0d0da7, b"\xe3rest");
        assert_eq!(parse(&pyc).unwrap().code, b"\xe3rest");
        pyc[4] = 8;
        assert!(parse(&pyc).unwrap_err().to_string().contains("flags"));
        assert!(parse(b"abcd").unwrap_err().to_string().contains("magic"));
        assert!(parse(&to_pyc(0x0a0d0da7, b"")).is_err());
        assert!(parse(&to_pyc(0x0a0d0da7, b"N"))
            .unwrap_err()
            .to_string()
            .contains("code object"));
    }
}
