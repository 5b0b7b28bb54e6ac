//! The dictionary-file reader never panics, and what it writes reads back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pn_metadata::dict::{DictContents, tab_escape, tab_unescape};

fuzz_target!(|data: &[u8]| {
    let parsed = DictContents::parse(data);
    let written = parsed.to_bytes();
    let reparsed = DictContents::parse(&written);
    assert_eq!(reparsed.to_bytes(), written);
    assert_eq!(parsed.len(), reparsed.len());
    // Escaping round-trips every byte string without NUL.
    if !data.contains(&0) {
        assert_eq!(tab_unescape(&tab_escape(data)), data);
    }
});
