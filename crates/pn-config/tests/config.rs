//! Behaviour of the configuration parser, one construct or error per test.

use std::path::{Path, PathBuf};

use pn_config::{Config, ConfigError, Diagnostic, ParseOptions, SettingPath, UserVars};

fn parse(text: &str) -> Config {
    Config::parse_str(text, Path::new("t.conf"), &ParseOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn errors(text: &str) -> Vec<Diagnostic> {
    match Config::parse_str(text, Path::new("t.conf"), &ParseOptions::default()) {
        Err(ConfigError::Invalid(d)) => d,
        other => panic!("expected errors, got {other:?}"),
    }
}

fn first_error(text: &str) -> (String, u32, u32, String) {
    let d = errors(text).remove(0);
    let shown = d.to_string();
    (d.message, d.location.line, d.location.column, shown)
}

fn value(c: &Config, protocol: &str, key: &str) -> Option<String> {
    c.effective(protocol)
        .get_path(&SettingPath::parse(key))
        .map(|s| s.value.to_string())
}

#[test]
fn key_value_with_comments_and_quotes() {
    let c = parse("a = b # comment\nb = \"x # y\"\nc = 'q\\'s'\n  # full comment\nd=e");
    assert_eq!(value(&c, "lmtp", "a").as_deref(), Some("b"));
    assert_eq!(value(&c, "lmtp", "b").as_deref(), Some("x # y"));
    assert_eq!(value(&c, "lmtp", "c").as_deref(), Some("q's"));
    assert_eq!(value(&c, "lmtp", "d").as_deref(), Some("e"));
}

#[test]
fn later_assignment_wins_and_location_points_at_it() {
    let c = parse("a = 1\n\n  a = 2\n");
    let s = c.global();
    let a = s.get("a").unwrap();
    assert_eq!(a.value.to_string(), "2");
    assert_eq!((a.location.line, a.location.column), (3, 3));
    assert_eq!(a.location.to_string(), "t.conf:3:3");
}

#[test]
fn line_continuation_joins_lines() {
    let c = parse("a = one \\\n   two\nb = x");
    assert_eq!(value(&c, "lmtp", "a").as_deref(), Some("one two"));
}

#[test]
fn ambiguous_hash_is_a_comment_with_a_warning() {
    let c = parse("a = b#c\n");
    assert_eq!(value(&c, "lmtp", "a").as_deref(), Some("b"));
    let w = &c.warnings()[0];
    assert_eq!(w.location.as_ref().unwrap().to_string(), "t.conf:1:6");
    assert!(w.message.starts_with("Ambiguous '#' character"));
}

#[test]
fn plugin_section_and_protocol_filter_override_global() {
    let c = parse("plugin {\n  x = global\n}\nprotocol lmtp {\n  plugin {\n    x = lmtp\n  }\n}\n");
    assert_eq!(value(&c, "lmtp", "plugin/x").as_deref(), Some("lmtp"));
    assert_eq!(value(&c, "imap", "plugin/x").as_deref(), Some("global"));
    assert_eq!(
        c.global()
            .get_path(&SettingPath::parse("plugin/x"))
            .unwrap()
            .value
            .to_string(),
        "global"
    );
}

#[test]
fn protocol_filter_wins_even_when_global_comes_later() {
    let c = parse("protocol lmtp {\n  a = filtered\n}\na = global\n");
    assert_eq!(value(&c, "lmtp", "a").as_deref(), Some("filtered"));
    assert_eq!(value(&c, "lda", "a").as_deref(), Some("global"));
}

#[test]
fn negated_protocol_filter() {
    let c = parse("protocol !imap {\n  a = not-imap\n}\n");
    assert_eq!(value(&c, "lmtp", "a").as_deref(), Some("not-imap"));
    assert_eq!(value(&c, "imap", "a"), None);
}

#[test]
fn named_and_quoted_sections_are_paths() {
    let c = parse(
        "namespace inbox {\n  mailbox \"Sent Messages\" {\n    special_use = \\Sent\n  }\n}\n",
    );
    let (path, setting) = c
        .global()
        .iter()
        .next()
        .map(|(p, s)| (p.clone(), s.clone()))
        .unwrap();
    assert_eq!(
        path.to_string(),
        "namespace/inbox/mailbox/Sent Messages/special_use"
    );
    assert_eq!(setting.value.to_string(), "\\Sent");
}

#[test]
fn variable_references_earlier_values() {
    let c = parse(
        "mail_plugins = quota\nprotocol lmtp {\n  mail_plugins = $mail_plugins notify push_notification\n}\n",
    );
    assert_eq!(
        value(&c, "lmtp", "mail_plugins").as_deref(),
        Some("quota notify push_notification")
    );
    assert!(c.effective("lmtp").push_notification_loaded());
    assert!(!c.effective("imap").push_notification_loaded());
}

#[test]
fn unset_variable_is_empty_with_a_warning_unless_self_reference() {
    let c = parse("a = $mail_plugins x\nmail_plugins = $mail_plugins y\n");
    assert_eq!(value(&c, "lmtp", "a").as_deref(), Some(" x"));
    assert_eq!(c.warnings().len(), 1);
    assert!(
        c.warnings()[0]
            .message
            .starts_with("$mail_plugins is not set")
    );
    assert_eq!(c.warnings()[0].location.as_ref().unwrap().column, 5);
}

#[test]
fn file_values_are_kept_as_references_and_read_on_use() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("driver.txt"), "ox:url=http://h/").unwrap();
    let conf = dir.path().join("dovecot.conf");
    std::fs::write(
        &conf,
        "plugin {\n  push_notification_driver = <driver.txt\n  ssl_x = </nonexistent\n}\n",
    )
    .unwrap();
    let c = Config::load(&conf).unwrap();
    let drivers = c.effective("lmtp").drivers().unwrap();
    assert_eq!(drivers[0].name, "ox");
    assert_eq!(drivers[0].args.get("url"), Some("http://h/"));
}

#[test]
fn missing_file_value_is_a_located_error_when_used() {
    let c = parse("plugin {\n  push_notification_driver = </nonexistent/x\n}\n");
    let e = c.effective("lmtp").drivers().unwrap_err().to_string();
    assert!(
        e.starts_with("t.conf:2:3: push_notification_driver: Can't open file /nonexistent/x:"),
        "{e}"
    );
}

#[test]
fn includes_are_relative_globbed_sorted_and_optional() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("conf.d")).unwrap();
    std::fs::write(d.join("conf.d/20-b.conf"), "b = 2\n!include sub.ext\n").unwrap();
    std::fs::write(d.join("conf.d/10-a.conf"), "a = 1\nb = 1\n").unwrap();
    std::fs::write(d.join("conf.d/sub.ext"), "c = 3\n").unwrap();
    std::fs::write(
        d.join("main.conf"),
        "!include conf.d/*.conf\n!include_try missing.conf\n",
    )
    .unwrap();
    let c = Config::load(&d.join("main.conf")).unwrap();
    assert_eq!(value(&c, "lmtp", "b").as_deref(), Some("2"));
    assert_eq!(value(&c, "lmtp", "c").as_deref(), Some("3"));
    let global = c.global();
    let loc = &global.get("c").unwrap().location;
    assert_eq!(loc.file, d.join("conf.d/sub.ext"));
    assert_eq!(c.files().len(), 4);
}

#[test]
fn include_without_match_is_an_error_at_the_pattern() {
    let (message, line, col, _) = first_error("a = 1\n!include nothing-*.conf\n");
    assert_eq!(message, "!include nothing-*.conf: No matches");
    assert_eq!((line, col), (2, 10));
}

#[test]
fn include_cycles_and_depth_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a.conf"), "!include b.conf\n").unwrap();
    std::fs::write(d.join("b.conf"), "!include a.conf\n").unwrap();
    let e = Config::load(&d.join("a.conf")).unwrap_err();
    let first = &e.diagnostics()[0];
    assert!(first.message.starts_with("Recursive include file: "), "{e}");
    assert_eq!(first.location.file, d.join("b.conf"));
    std::fs::write(d.join("self.conf"), "!include_try s*.conf\n").unwrap();
    let e = Config::load(&d.join("self.conf")).unwrap_err();
    assert!(e.to_string().contains("Recursive include file"), "{e}");
}

#[test]
fn error_format_has_position_source_line_caret_and_expectation() {
    let (message, line, col, shown) = first_error("plugin {\n  push_notification_driver dlog\n}\n");
    assert_eq!(message, "Expecting '{'");
    assert_eq!((line, col), (2, 32));
    assert_eq!(
        shown,
        "t.conf:2:32: Expecting '{'\n  |   push_notification_driver dlog\n  |                                ^ expected '{' to open the section"
    );
}

#[test]
fn missing_equals_error() {
    let (message, line, col, _) = first_error("\n\tkey\n");
    assert_eq!((message.as_str(), line, col), ("Expecting '='", 2, 5));
}

#[test]
fn garbage_after_brace() {
    let (message, line, col, _) = first_error("plugin { a = b }\n");
    assert_eq!((message.as_str(), line, col), ("Garbage after '{'", 1, 10));
}

#[test]
fn unexpected_and_missing_close_brace() {
    let (message, line, col, _) = first_error("a = b\n}\n");
    assert_eq!((message.as_str(), line, col), ("Unexpected '}'", 2, 1));
    let (message, line, col, _) = first_error("x = 1\n  plugin {\n  a = b\n");
    assert_eq!((message.as_str(), line, col), ("Missing '}'", 2, 3));
}

#[test]
fn protocol_under_protocol_is_an_error() {
    let (message, line, _, _) = first_error("protocol lmtp {\n protocol imap {\n }\n}\n");
    assert_eq!(
        (message.as_str(), line),
        ("protocol must not be under protocol", 2)
    );
}

#[test]
fn unterminated_quoted_section_name() {
    let (message, line, col, _) = first_error("mailbox \"Sent {\n}\n");
    assert_eq!(
        (message.as_str(), line, col),
        ("Missing '\"' at the end of the section name", 1, 9)
    );
}

#[test]
fn several_errors_are_reported_and_capped() {
    let text = "a\n".repeat(100);
    let errs = errors(&text);
    assert_eq!(errs.len(), ParseOptions::default().max_errors);
    assert_eq!(errs[1].location.line, 2);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let text = "a {\n".repeat(10_000) + &"}\n".repeat(10_000);
    let errs = errors(&text);
    assert!(errs[0].message.starts_with("Sections nested too deeply"));
}

#[test]
fn columns_count_characters_not_bytes() {
    let (_, _, col, _) = first_error("ä = 1\nää x y\n");
    assert_eq!(col, 6);
}

#[test]
fn driver_list_stops_at_gap_and_keeps_locations() {
    let c = parse(
        "plugin {\n  push_notification_driver = dlog\n  push_notification_driver2 = OX:url=http://u:p@h/ cache_lifetime=1m\n  push_notification_driver4 = lua:file=/x.lua\n  push_notification_backend = dlog\n}\n",
    );
    let s = c.effective("lmtp");
    let d = s.drivers().unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(d[1].name, "OX");
    assert_eq!(d[1].args.get("cache_lifetime"), Some("1m"));
    assert_eq!(d[1].location.as_ref().unwrap().to_string(), "t.conf:3:3");
    assert_eq!(s.backends().unwrap().len(), 1);
}

#[test]
fn dovecot_24_named_filters_map_to_driver_specs() {
    let c = parse(
        "dovecot_config_version = 2.4.0\nmail_plugins {\n  notify = yes\n  push_notification = yes\n}\n\
         push_notification dlog {\n}\n\
         push_notification myox {\n  push_notification_driver = ox\n  push_notification_ox_url = http://h/%u\n  push_notification_ox_cache_ttl = 2 min\n  push_notification_ox_user_from_metadata = yes\n  http_client_request_max_attempts = 3\n  http_client_request_timeout = 5s\n}\n",
    );
    let s = c.effective("lmtp");
    assert!(s.push_notification_loaded());
    let d = s.drivers().unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(
        (d[0].key.as_str(), d[0].name.as_str()),
        ("push_notification dlog", "dlog")
    );
    assert_eq!(d[0].location.as_ref().unwrap().line, 6);
    assert_eq!(d[1].name, "ox");
    assert_eq!(d[1].args.get("url"), Some("http://h/%u"));
    assert_eq!(
        d[1].args.get("cache_lifetime"),
        Some("120s"),
        "2.4's cache_ttl (milliseconds) as whole seconds"
    );
    assert!(d[1].args.contains("user_from_metadata"));
    assert_eq!(d[1].args.get("max_retries"), Some("2"));
    assert_eq!(d[1].args.get("timeout_msecs"), Some("5000"));
    let u = s.for_user(&UserVars::new("bob@example.org")).unwrap();
    assert_eq!(
        u.drivers[1].args.get("url"),
        Some("http://h/bob@example.org")
    );
}

#[test]
fn mail_plugins_boolean_list_can_disable() {
    let c = parse(
        "mail_plugins = notify push_notification\nprotocol lmtp {\n  mail_plugins {\n    push_notification = no\n  }\n}\n",
    );
    assert!(c.effective("lda").push_notification_loaded());
    assert!(!c.effective("lmtp").push_notification_loaded());
}

#[test]
fn user_settings_expand_variables_and_keep_locations() {
    let c = parse(
        "push_notification_driver = dlog\nplugin {\n  push_notification_driver2 = ox:url=http://h/%n?d=%{domain}&h=%h\n  quota = dict:%{userdb:quota}\n}\n",
    );
    let u = c
        .user_settings(
            "lmtp",
            &UserVars::new("alice@example.com").with_home("/home/alice"),
        )
        .unwrap();
    assert_eq!(
        u.plugin["push_notification_driver2"],
        "ox:url=http://h/alice?d=example.com&h=/home/alice"
    );
    assert_eq!(
        u.plugin["quota"], "dict:%{userdb:quota}",
        "other plugins keep unknown variables"
    );
    assert_eq!(u.locations["push_notification_driver"].line, 1);
    assert_eq!(u.drivers.len(), 2);
    assert_eq!(
        u.drivers[1].args.get("url"),
        Some("http://h/alice?d=example.com&h=/home/alice")
    );
}

#[test]
fn unknown_variable_in_driver_is_a_located_error() {
    let c = parse("plugin {\n  push_notification_driver = ox:url=http://h/%{nope}\n}\n");
    let e = c
        .user_settings("lmtp", &UserVars::new("a"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("t.conf:2:3: push_notification_driver: unknown variable %{nope}"),
        "{e}"
    );
    assert!(c.check().is_err());
}

#[test]
fn check_warns_when_configured_but_not_loaded() {
    let c = parse("plugin {\n  push_notification_driver = dlog\n}\n");
    let w = c.check().unwrap();
    let m: Vec<String> = w.iter().map(|w| w.to_string()).collect();
    assert!(
        m[0].starts_with(
            "t.conf:2:3: protocol lmtp: push_notification_driver is set, but mail_plugins"
        ),
        "{m:?}"
    );
}

#[test]
fn check_refuses_bad_ox_arguments_with_dovecot_messages_at_their_column() {
    let c = parse(
        "mail_plugins = notify push_notification\nplugin {\n  push_notification_driver = ox:url=http://h/ cache_lifetime=60 max_retries=x\n  push_notification_driver2 = foo\n}\n",
    );
    let e = c.check().unwrap_err();
    let d: Vec<String> = e
        .diagnostics()
        .iter()
        .map(|d| format!("{}: {}", d.location, d.message))
        .collect();
    assert_eq!(
        d,
        [
            "t.conf:3:47: ox: Failed to parse OX cache_lifetime 60: Time interval '60' is \
             missing units (add e.g. 's' for seconds) (Dovecot disables this driver)",
            "t.conf:3:65: ox: max_retries: Invalid number x: Not a valid number",
        ]
    );
}

#[test]
fn embedded_default_loads_dlog_for_lmtp_and_lda() {
    let c = Config::embedded_default().unwrap();
    for p in ["lmtp", "lda"] {
        let s = c.effective(p);
        assert!(s.push_notification_loaded());
        assert_eq!(s.drivers().unwrap()[0].name, "dlog");
        assert_eq!(
            s.get("mail_location").unwrap().value.to_string(),
            "maildir:~/Maildir"
        );
    }
    assert!(!c.effective("imap").push_notification_loaded());
    assert!(c.check().unwrap().is_empty(), "{:?}", c.check());
}

#[test]
fn overrides_apply_last() {
    let mut c = Config::embedded_default().unwrap();
    c.apply_overrides(&[(
        "plugin/push_notification_driver".into(),
        "ox:url=http://x/".into(),
    )]);
    let d = c.effective("lmtp").drivers().unwrap();
    assert_eq!(d[0].name, "ox");
    assert_eq!(d[0].location.as_ref().unwrap().file, PathBuf::from("-o"));
}

#[test]
fn printed_config_parses_to_the_same_settings() {
    let text = "a = \" x\"\nb = 'y # z'\nprotocol !imap {\n  plugin {\n    k = \"v\\\\\"\n  }\n}\nnamespace \"a b\" {\n}\npush_notification dlog {\n}\n";
    let c = parse(text);
    let again = parse(&c.to_string());
    for p in ["lmtp", "imap"] {
        assert_eq!(strip(&c, p), strip(&again, p));
    }
    assert_eq!(again.effective("lmtp").drivers().unwrap().len(), 1);
}

fn strip(c: &Config, p: &str) -> Vec<(String, String)> {
    c.effective(p)
        .iter()
        .map(|(k, s)| (k.to_string(), s.value.to_string()))
        .collect()
}

#[test]
fn section_name_equals_sign_survives_printing() {
    // Found by the fuzz target: `kind "=" {` printed as `kind = {` became an assignment.
    let c = parse("x \"=\" {\n  a = 1\n}\n");
    let again = parse(&c.to_string());
    assert_eq!(strip(&c, "lmtp"), strip(&again, "lmtp"));
}
