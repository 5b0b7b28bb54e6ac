//! Dovecot 2.4's named `push_notification NAME { }` filters as driver specs, and the version a
//! configuration is written for.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;

use pn_config::{Config, ConfigError, DovecotVersion, ParseOptions, UserVars};

fn parse(text: &str) -> Config {
    Config::parse_str(text, Path::new("t.conf"), &ParseOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn dovecot_config_version_selects_2_4_for_every_driver() {
    let c = parse(
        "dovecot_config_version = 2.4.1\npush_notification_driver = dlog\n\
         push_notification lua {\n  lua_file = /x.lua\n}\n",
    );
    let s = c.effective("lmtp");
    assert_eq!(s.dovecot_version(), DovecotVersion::V2_4);
    let d = s.drivers().unwrap();
    assert_eq!(d.len(), 2);
    assert!(d.iter().all(|d| d.dovecot == DovecotVersion::V2_4));
    let c = parse("push_notification_driver = dlog\n");
    let s = c.effective("lmtp");
    assert_eq!(s.dovecot_version(), DovecotVersion::V2_3);
    assert_eq!(s.drivers().unwrap()[0].dovecot, DovecotVersion::V2_3);
}

#[test]
fn lua_settings_become_arguments_with_spaces_kept_and_variables_expanded() {
    let c = parse(
        "dovecot_config_version = 2.4.1\n\
         push_notification lua {\n  lua_file = /etc/push.lua\n  lua_settings {\n    greeting = hello world\n    who = %{user}\n  }\n}\n",
    );
    let u = c
        .user_settings("lmtp", &UserVars::new("alice@example.com"))
        .unwrap();
    let d = &u.drivers[0];
    assert_eq!(
        (d.key.as_str(), d.name.as_str()),
        ("push_notification lua", "lua")
    );
    assert_eq!(d.args.get("file"), Some("/etc/push.lua"));
    assert_eq!(d.args.get("lua_settings/greeting"), Some("hello world"));
    assert_eq!(d.args.get("lua_settings/who"), Some("alice@example.com"));
}

#[test]
fn a_rejected_setting_is_an_error_at_its_line() {
    let c = parse(
        "dovecot_config_version = 2.4.1\npush_notification ox1 {\n  driver = ox\n  url = http://h/\n}\n",
    );
    let e = c.effective("lmtp").drivers().unwrap_err();
    let ConfigError::Setting { key, location, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(key, "url");
    assert_eq!(location.to_string(), "t.conf:4:3");
    assert!(
        e.to_string()
            .starts_with("t.conf:4:3: Unknown setting: url ("),
        "{e}"
    );
}

#[test]
fn cache_ttl_milliseconds_become_whole_seconds() {
    for (ttl, lifetime) in [("60s", "60s"), ("1500ms", "2s"), ("2 min", "120s")] {
        let c = parse(&format!(
            "push_notification ox {{\n  url = http://h/\n  cache_ttl = {ttl}\n}}\n"
        ));
        let d = c.effective("lmtp").drivers().unwrap();
        assert_eq!(d[0].args.get("cache_lifetime"), Some(lifetime), "{ttl}");
    }
}
