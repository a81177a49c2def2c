//! The table parser on its own: whatever it accepts must be walkable, every
//! entry findable by name, and every slice inside the table.
#![no_main]

use libfuzzer_sys::fuzz_target;
use objfreeze::format::Table;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = Table::parse(data) {
        assert!(t.bytes().len() <= data.len());
        let _ = t.digest_ok();
        let mut prev: Option<&[u8]> = None;
        for e in t.entries() {
            assert!(prev.is_none_or(|p| p < e.name));
            prev = Some(e.name);
            assert_eq!(t.find(e.name).map(|f| f.name), Some(e.name));
        }
    }
});
