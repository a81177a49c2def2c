//! Target triples, as rustc and clang spell them, mapped to what the object
//! writer needs: file format, architecture, byte order, ELF flags, and the
//! default section name that lets the linker collect every table.

use std::fmt;

use object::{Architecture, BinaryFormat};

use crate::format::Endian;

/// What an object file for one target looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The triple as the user spelled it.
    pub triple: String,
    pub format: BinaryFormat,
    pub arch: Architecture,
    pub endian: Endian,
    /// ELF `e_flags` that the target's linker expects (float ABI, EABI
    /// version); a mismatch makes GNU ld refuse or warn.
    pub elf_flags: u32,
}

/// The triples `objfreeze targets` lists: each is linked by its real
/// toolchain in the test suite.
pub const SUPPORTED: &[&str] = &[
    "x86_64-unknown-linux-gnu",
    "i686-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "armv7-unknown-linux-gnueabihf",
    "riscv64gc-unknown-linux-gnu",
    "s390x-unknown-linux-gnu",
    "powerpc64le-unknown-linux-gnu",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
    "x86_64-pc-windows-msvc",
    "x86_64-pc-windows-gnu",
    "i686-pc-windows-msvc",
    "i686-pc-windows-gnu",
    "aarch64-pc-windows-msvc",
];

/// Default section names, per format. ELF: a C identifier, so GNU ld and
/// lld define `__start_objfreeze`/`__stop_objfreeze`. Mach-O: in `__TEXT`,
/// which is mapped read-only and shared. COFF: `$`-grouped, so the linker
/// sorts the `$a` start marker, every `$m` table and the `$z` end marker into
/// one `.objfrz` section, in that order.
pub const DEFAULT_SECTION_ELF: &str = "objfreeze";
pub const DEFAULT_SECTION_MACHO: &str = "__TEXT,__objfreeze";
pub const DEFAULT_SECTION_COFF: &str = ".objfrz$m";

/// Default table symbol (C name, before any platform underscore).
pub const DEFAULT_SYMBOL: &str = "objfreeze_modules";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTarget(pub String);

impl fmt::Display for UnknownTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown target `{}`; supported targets:", self.0)?;
        for t in SUPPORTED {
            write!(f, "\n    {t}")?;
        }
        write!(
            f,
            "\nshort GNU forms (aarch64-linux-gnu, x86_64-w64-mingw32, arm64-apple-macos, ...) are accepted too"
        )
    }
}

impl std::error::Error for UnknownTarget {}

impl Target {
    /// The machine objfreeze itself runs on.
    pub fn host() -> Target {
        let arch = std::env::consts::ARCH;
        let triple = match std::env::consts::OS {
            "macos" => format!("{arch}-apple-darwin"),
            "windows" => format!("{arch}-pc-windows-msvc"),
            _ => format!("{arch}-unknown-linux-gnu"),
        };
        Target::parse(&triple).expect("the host is a supported target")
    }

    /// Parse a triple such as `aarch64-unknown-linux-gnu`, `aarch64-linux-gnu`,
    /// `x86_64-w64-mingw32` or `arm64-apple-macos11`.
    pub fn parse(triple: &str) -> Result<Target, UnknownTarget> {
        let unknown = || UnknownTarget(triple.to_string());
        let lower = triple.to_ascii_lowercase();
        let mut parts = lower.split('-');
        let arch_s = parts.next().unwrap_or("");
        let rest: Vec<&str> = parts.collect();
        if rest.is_empty() {
            return Err(unknown());
        }
        let has = |w: &str| rest.iter().any(|p| p.starts_with(w));
        let format = if has("apple") || has("darwin") || has("macos") {
            BinaryFormat::MachO
        } else if has("windows") || has("mingw32") || has("w64") || has("win32") {
            BinaryFormat::Coff
        } else if has("linux")
            || has("none")
            || has("elf")
            || has("freebsd")
            || has("netbsd")
            || has("android")
        {
            BinaryFormat::Elf
        } else {
            return Err(unknown());
        };
        let hard_float = rest.iter().any(|p| p.ends_with("hf"));
        use Architecture as A;
        let (arch, endian, elf_flags) = match arch_s {
            "x86_64" | "amd64" | "x64" => (A::X86_64, Endian::Little, 0),
            "i386" | "i486" | "i586" | "i686" | "x86" => (A::I386, Endian::Little, 0),
            "aarch64" | "arm64" => (A::Aarch64, Endian::Little, 0),
            // EF_ARM_EABI_VER5, plus EF_ARM_ABI_FLOAT_HARD for *hf.
            a if a.starts_with("armv7") || a == "arm" || a.starts_with("thumbv7") => (
                A::Arm,
                Endian::Little,
                0x0500_0000 | if hard_float { 0x400 } else { 0x200 },
            ),
            // EF_RISCV_RVC | EF_RISCV_FLOAT_ABI_DOUBLE: what riscv64 gcc emits for lp64d.
            a if a.starts_with("riscv64") => (A::Riscv64, Endian::Little, 0x5),
            "s390x" => (A::S390x, Endian::Big, 0),
            // ELFv2 ABI.
            "powerpc64le" | "ppc64le" => (A::PowerPc64, Endian::Little, 2),
            _ => return Err(unknown()),
        };
        let ok = match format {
            BinaryFormat::Elf => true,
            BinaryFormat::MachO => matches!(arch, A::X86_64 | A::Aarch64),
            BinaryFormat::Coff => matches!(arch, A::X86_64 | A::I386 | A::Aarch64),
            _ => false,
        };
        if !ok {
            return Err(unknown());
        }
        Ok(Target {
            triple: triple.to_string(),
            format,
            arch,
            endian,
            elf_flags: if format == BinaryFormat::Elf {
                elf_flags
            } else {
                0
            },
        })
    }

    pub fn default_section(&self) -> &'static str {
        match self.format {
            BinaryFormat::MachO => DEFAULT_SECTION_MACHO,
            BinaryFormat::Coff => DEFAULT_SECTION_COFF,
            _ => DEFAULT_SECTION_ELF,
        }
    }

    /// The largest page the target's kernels map an ELF file with: 64 KB
    /// where some kernels use pages that large, else 4 KB.
    pub fn elf_page(&self) -> u64 {
        use object::Architecture as A;
        match self.arch {
            A::Aarch64 | A::PowerPc64 | A::LoongArch64 => 65536,
            _ => 4096,
        }
    }

    /// Does the platform put `_` before C symbol names?
    pub fn leading_underscore(&self) -> bool {
        self.format == BinaryFormat::MachO
            || (self.format == BinaryFormat::Coff && self.arch == Architecture::I386)
    }

    pub fn format_name(&self) -> &'static str {
        format_name(self.format)
    }
}

pub fn format_name(f: BinaryFormat) -> &'static str {
    match f {
        BinaryFormat::Elf => "elf",
        BinaryFormat::MachO => "macho",
        BinaryFormat::Coff => "coff",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_triple_parses() {
        for t in SUPPORTED {
            Target::parse(t).unwrap();
        }
    }

    #[test]
    fn short_forms() {
        for (short, fmt, arch) in [
            (
                "aarch64-linux-gnu",
                BinaryFormat::Elf,
                Architecture::Aarch64,
            ),
            (
                "x86_64-w64-mingw32",
                BinaryFormat::Coff,
                Architecture::X86_64,
            ),
            ("i686-w64-mingw32", BinaryFormat::Coff, Architecture::I386),
            ("arm-linux-gnueabihf", BinaryFormat::Elf, Architecture::Arm),
            (
                "arm64-apple-macos11",
                BinaryFormat::MachO,
                Architecture::Aarch64,
            ),
            (
                "powerpc64le-linux-gnu",
                BinaryFormat::Elf,
                Architecture::PowerPc64,
            ),
            (
                "riscv64-linux-gnu",
                BinaryFormat::Elf,
                Architecture::Riscv64,
            ),
        ] {
            let t = Target::parse(short).unwrap();
            assert_eq!((t.format, t.arch), (fmt, arch), "{short}");
        }
        assert_eq!(
            Target::parse("s390x-linux-gnu").unwrap().endian,
            Endian::Big
        );
    }

    #[test]
    fn unknown_lists_supported() {
        let e = Target::parse("vax-dec-ultrix").unwrap_err().to_string();
        assert!(e.contains("vax-dec-ultrix") && e.contains("aarch64-apple-darwin"));
        assert!(Target::parse("x86_64").is_err());
        assert!(Target::parse("riscv64-apple-darwin").is_err());
    }
}
