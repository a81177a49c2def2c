//! Anything a user may hand `inspect`/`verify`/`extract`: objects, archives,
//! fat files, executables, bare tables, or garbage. No input may panic, and
//! everything found is walked the way the commands walk it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use objfreeze::report::{render_text, FileReport, TableReport};
use objfreeze::{extract, objread};

fuzz_target!(|data: &[u8]| {
    let Ok(found) = objread::find_tables("fuzz", data) else {
        return;
    };
    let r = FileReport {
        file: "fuzz".into(),
        tables: found.iter().map(TableReport::from_found).collect(),
    };
    let _ = render_text(&r, true);
    for f in &found {
        if let Ok(t) = &f.table {
            for e in t.entries() {
                assert!(t.find(e.name).is_some());
                let _ = extract::module_path(std::path::Path::new("x"), &e, "pyc");
            }
        }
    }
});
