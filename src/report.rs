//! What `inspect` and `verify` say about the tables in a file, as data
//! (serialised for `--json`) and as text.

use std::fmt::Write as _;

use serde::Serialize;

use crate::format::{Table, TagKind};
use crate::objread::Found;

#[derive(Debug, Serialize)]
pub struct FileReport {
    pub file: String,
    pub tables: Vec<TableReport>,
}

#[derive(Debug, Serialize)]
pub struct TableReport {
    /// Archive member or fat slice holding the table, if any.
    pub member: Option<String>,
    pub container: &'static str,
    /// The first global symbol at the table, if the file still has symbols.
    pub symbol: Option<String>,
    pub symbols: Vec<String>,
    pub section: String,
    pub offset: u64,
    /// Why the table is unsound, if it is.
    pub error: Option<String>,
    #[serde(flatten)]
    pub body: Option<TableBody>,
}

#[derive(Debug, Serialize)]
pub struct TableBody {
    pub endian: &'static str,
    pub tag_kind: String,
    pub tag: u32,
    /// The interpreter and its tag in words.
    pub interpreter: String,
    /// What the interpreter says about its tag (see [`crate::lang::Lang::tag_fields`]).
    #[serde(flatten)]
    pub tag_fields: serde_json::Map<String, serde_json::Value>,
    pub count: u32,
    pub size: u32,
    pub digest: String,
    pub digest_ok: bool,
    pub modules: Vec<ModuleReport>,
}

#[derive(Debug, Serialize)]
pub struct ModuleReport {
    pub name: String,
    pub size: u32,
    pub package: bool,
    /// A data file (package data, metadata), not a module.
    pub data: bool,
    pub origin: Option<String>,
    pub offset: u32,
    pub blake3: String,
}

impl TableReport {
    pub fn from_found(f: &Found<'_>) -> TableReport {
        let (error, body) = match &f.table {
            Ok(t) => {
                let body = body(t);
                let err = (!body.digest_ok).then(|| {
                    "digest mismatch: the table's bytes were changed after it was written"
                        .to_string()
                });
                (err, Some(body))
            }
            Err(e) => (Some(e.to_string()), None),
        };
        TableReport {
            member: f.member.clone(),
            container: f.container,
            symbol: f.symbols.first().cloned(),
            symbols: f.symbols.clone(),
            section: f.section.clone(),
            offset: f.offset,
            error,
            body,
        }
    }

    pub fn sound(&self) -> bool {
        self.error.is_none()
    }
}

fn body(t: &Table<'_>) -> TableBody {
    let lang = TagKind::from_code(t.tag_kind_code).map(crate::langs::of);
    TableBody {
        endian: t.endian.name(),
        tag_kind: TagKind::from_code(t.tag_kind_code)
            .map(|k| k.name().to_string())
            .unwrap_or_else(|| format!("unknown({})", t.tag_kind_code)),
        tag: t.tag.value,
        interpreter: match lang {
            Some(l) => l.describe_tag(t.tag.value),
            None => format!("unknown({}) (tag {:#x})", t.tag_kind_code, t.tag.value),
        },
        tag_fields: lang
            .map(|l| l.tag_fields(t.tag.value))
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        count: t.count,
        size: t.total_size(),
        digest: hex(&t.digest()),
        digest_ok: t.digest_ok(),
        modules: t
            .entries()
            .map(|e| ModuleReport {
                name: e.name_lossy(),
                size: e.data.len() as u32,
                package: e.package(),
                data: e.is_data(),
                origin: e.origin.map(|o| String::from_utf8_lossy(o).into_owned()),
                offset: e.data_offset,
                blake3: blake3::hash(e.data).to_hex().to_string(),
            })
            .collect(),
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

/// Human-readable listing; `modules` adds one line per module.
pub fn render_text(r: &FileReport, modules: bool) -> String {
    let mut s = String::new();
    if r.tables.is_empty() {
        let _ = writeln!(s, "{}: no objfreeze tables", r.file);
    }
    for t in &r.tables {
        let wher = match &t.member {
            Some(m) => format!("{}({m})", r.file),
            None => r.file.clone(),
        };
        let _ = writeln!(
            s,
            "{wher}: table {} in section {} at offset {:#x} ({})",
            t.symbol.as_deref().unwrap_or("<no symbol>"),
            if t.section.is_empty() {
                "<none>"
            } else {
                &t.section
            },
            t.offset,
            t.container
        );
        if let Some(b) = &t.body {
            let interp = &b.interpreter;
            let data = b.modules.iter().filter(|m| m.data).count();
            let _ = writeln!(
                s,
                "  interpreter {interp}, {} modules{}, {} bytes, {}-endian, digest {}",
                b.count as usize - data,
                if data > 0 {
                    format!(", {data} data files")
                } else {
                    String::new()
                },
                b.size,
                b.endian,
                if b.digest_ok { "ok" } else { "MISMATCH" }
            );
            if modules {
                for m in &b.modules {
                    let mut flags = String::new();
                    if m.package {
                        flags.push_str(" package");
                    }
                    if m.data {
                        flags.push_str(" data");
                    }
                    if let Some(o) = &m.origin {
                        let _ = write!(flags, " alias-of={o}");
                    }
                    let _ = writeln!(
                        s,
                        "  {:<48} {:>9}  {}{flags}",
                        m.name,
                        m.size,
                        &m.blake3[..16]
                    );
                }
            }
        }
        if let Some(e) = &t.error {
            let _ = writeln!(s, "  error: {e}");
        }
    }
    s
}
