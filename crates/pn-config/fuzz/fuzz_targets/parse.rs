//! Any input: parse (no includes), then exercise every view of the result.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pn_config::{Config, ParseOptions, UserVars};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let options = ParseOptions {
        follow_includes: false,
        ..ParseOptions::default()
    };
    let Ok(config) = Config::parse_str(&text, Path::new("fuzz.conf"), &options) else {
        return;
    };
    let printed = config.to_string();
    let again = Config::parse_str(&printed, Path::new("printed.conf"), &options);
    assert!(again.is_ok(), "printed config must parse:\n{printed}");
    for protocol in ["lmtp", "imap"] {
        let settings = config.effective(protocol);
        let _ = settings.to_string();
        let _ = settings.drivers();
        let _ = settings.for_user(&UserVars::new("u@d").with_home("/h"));
    }
    let _ = config.check();
    let _ = pn_config::time::parse_interval_secs(&text);
    let _ = pn_config::mask_url_secrets(&text);
});
