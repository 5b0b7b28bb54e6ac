//! Every typed setting pn reads is refused by `pn config check` when its value has the wrong
//! type, with Dovecot's text and the value's `file:line:col`; and every command refuses such
//! a configuration before it does anything. Where Dovecot 2.3 knows the setting and
//! `doveconf` is installed, its own message for the same file is compared too.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

mod util;

use std::path::Path;
use std::process::Command;

use util::{run_pn, stderr};

const DOVECONF: &str = "/usr/bin/doveconf";

/// One row: the sections around the setting (kind and name), the key, a wrong value,
/// Dovecot's message for it, and whether Dovecot 2.3's doveconf checks it at parse time.
struct Row {
    sections: &'static [(&'static str, &'static str)],
    key: &'static str,
    value: &'static str,
    message: &'static str,
    doveconf: bool,
}

const fn row(
    sections: &'static [(&'static str, &'static str)],
    key: &'static str,
    value: &'static str,
    message: &'static str,
    doveconf: bool,
) -> Row {
    Row {
        sections,
        key,
        value,
        message,
        doveconf,
    }
}

const SERVICE: &[(&str, &str)] = &[("service", "lmtp")];
const INET: &[(&str, &str)] = &[("service", "lmtp"), ("inet_listener", "lmtp")];
const UNIX: &[(&str, &str)] = &[("service", "lmtp"), ("unix_listener", "lmtp")];
const FILTER: &[(&str, &str)] = &[("push_notification", "ox")];
const PLUGINS: &[(&str, &str)] = &[("mail_plugins", "")];

/// Messages checked against Dovecot 2.3.19's `doveconf -n` (and its mail-storage-service for
/// `mail_uid`/`mail_gid`, which it resolves when a user logs in).
const ROWS: &[Row] = &[
    row(
        &[],
        "mail_uid",
        "{{ .VMAILUID }}",
        "Unknown UNIX UID user: {{ .VMAILUID }}",
        false,
    ),
    row(
        &[],
        "mail_gid",
        "PH_GID",
        "Unknown UNIX GID group: PH_GID",
        false,
    ),
    row(
        &[],
        "first_valid_uid",
        "PH_FIRST_VALID_UID",
        "Invalid number PH_FIRST_VALID_UID: Not a valid number",
        true,
    ),
    row(
        &[],
        "last_valid_uid",
        "-1",
        "Invalid number -1: Number too small",
        true,
    ),
    row(
        &[],
        "first_valid_gid",
        "99999999999",
        "Invalid number 99999999999: Number too large",
        true,
    ),
    row(
        &[],
        "last_valid_gid",
        "x",
        "Invalid number x: Not a valid number",
        true,
    ),
    row(
        &[],
        "lda_mailbox_autocreate",
        "true",
        "Invalid boolean value: true (use yes or no)",
        true,
    ),
    row(
        &[],
        "lda_mailbox_autosubscribe",
        "maybe",
        "Invalid boolean value: maybe (use yes or no)",
        true,
    ),
    row(
        &[],
        "lmtp_save_to_detail_mailbox",
        "on",
        "Invalid boolean value: on (use yes or no)",
        true,
    ),
    row(
        &[],
        "lmtp_add_received_header",
        "0",
        "Invalid boolean value: 0 (use yes or no)",
        true,
    ),
    row(
        &[],
        "lmtp_hdr_delivery_address",
        "FINAL",
        "Invalid value: FINAL",
        true,
    ),
    row(&[], "lmtp_max_mail_size", "10x", "Invalid size: 10x", false),
    row(
        &[],
        "lmtp_max_recipients",
        "1.5",
        "Invalid number 1.5: Not a valid number",
        false,
    ),
    row(
        &[],
        "pn_lmtp_session_limit",
        "ten",
        "Invalid number ten: Not a valid number",
        false,
    ),
    row(
        &[],
        "pn_lmtp_idle_timeout",
        "2",
        "Time interval '2' is missing units (add e.g. 's' for seconds)",
        false,
    ),
    row(
        &[],
        "pn_lmtp_command_timeout",
        "5 x",
        "Invalid time interval: 5 x",
        false,
    ),
    row(
        &[],
        "pn_status_cache_folders",
        "-3",
        "Invalid number -3: Number too small",
        false,
    ),
    row(
        SERVICE,
        "process_limit",
        "x",
        "Invalid number x: Not a valid number",
        true,
    ),
    row(
        SERVICE,
        "client_limit",
        "-1",
        "Invalid number -1: Number too small",
        true,
    ),
    row(INET, "port", "70000", "Invalid port number 70000", true),
    row(UNIX, "mode", "0999", "Invalid number: 0999", true),
    row(
        &[],
        "pn_metadata_backend",
        "sql",
        "Invalid value: sql",
        false,
    ),
    row(
        &[],
        "pn_metadata_imap_port",
        "imap",
        "Invalid port number imap",
        false,
    ),
    row(
        &[],
        "pn_metadata_imap_ssl",
        "tls",
        "Invalid value: tls",
        false,
    ),
    row(
        &[],
        "pn_metadata_imap_allow_plaintext",
        "true",
        "Invalid value: true",
        false,
    ),
    row(
        &[],
        "pn_metadata_imap_auth_mech",
        "cram-md5",
        "Invalid value: cram-md5",
        false,
    ),
    row(
        &[],
        "pn_metadata_imap_timeout",
        "30",
        "Time interval '30' is missing units (add e.g. 's' for seconds)",
        false,
    ),
    row(
        FILTER,
        "push_notification_ox_url",
        "ftp://u:secret@h/",
        "Invalid URL ftp://u:***@h/: Not an HTTP URL",
        false,
    ),
    row(
        FILTER,
        "push_notification_ox_cache_ttl",
        "1 day x",
        "Invalid time interval: 1 day x",
        false,
    ),
    row(
        FILTER,
        "push_notification_ox_user_from_metadata",
        "true",
        "Invalid boolean value: true (use yes or no)",
        false,
    ),
    row(
        FILTER,
        "http_client_request_timeout",
        "2",
        "Time interval '2' is missing units (add e.g. 's' for seconds)",
        false,
    ),
    row(
        FILTER,
        "http_client_request_max_attempts",
        "two",
        "Invalid number two: Not a valid number",
        false,
    ),
    row(
        &[],
        "push_notification_ox_url",
        "/relative",
        "Invalid URL /relative: Relative HTTP URL not allowed",
        false,
    ),
    row(
        &[],
        "push_notification_ox_cache_ttl",
        "60",
        "Time interval '60' is missing units (add e.g. 's' for seconds)",
        false,
    ),
    row(
        &[],
        "push_notification_ox_user_from_metadata",
        "n",
        "Invalid boolean value: n (use yes or no)",
        false,
    ),
    row(
        PLUGINS,
        "quota",
        "true",
        "Invalid boolean value: true (use yes or no)",
        false,
    ),
];

/// The file for one row: two lines, then the setting inside its sections. Gives the text
/// and the line and column where the value starts.
fn conf(row: &Row, value: &str) -> (String, usize, usize) {
    let mut text = String::from("# typed settings\nmail_location = maildir:~/Maildir\n");
    for (depth, (kind, name)) in row.sections.iter().enumerate() {
        let name = if name.is_empty() {
            String::new()
        } else {
            format!("{name} ")
        };
        text.push_str(&format!("{}{kind} {name}{{\n", "  ".repeat(depth)));
    }
    let indent = "  ".repeat(row.sections.len());
    text.push_str(&format!("{indent}{} = {value}\n", row.key));
    for depth in (0..row.sections.len()).rev() {
        text.push_str(&format!("{}}}\n", "  ".repeat(depth)));
    }
    (
        text,
        3 + row.sections.len(),
        indent.len() + row.key.len() + 4,
    )
}

#[test]
fn config_check_refuses_each_wrong_typed_setting_at_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.conf");
    let mut failures = Vec::new();
    for row in ROWS {
        let (text, line, column) = conf(row, row.value);
        std::fs::write(&file, text).unwrap();
        let out = run_pn(
            &["-c", file.to_str().unwrap(), "config", "check"],
            None,
            &[],
        );
        let err = stderr(&out);
        let want = format!("pn: {}:{line}:{column}: {}\n", file.display(), row.message);
        if out.status.code() != Some(64) || !err.starts_with(&want) || err.contains("secret") {
            failures.push(format!(
                "{} = {}: exit {:?}\n  want {want:?}\n  got  {err:?}",
                row.key,
                row.value,
                out.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_typed_setting_is_in_the_table_and_good_values_pass() {
    for typed in pn_config::TYPED_SETTINGS {
        assert!(
            ROWS.iter().any(|r| (r.key == typed.key || typed.key == "*")
                && r.sections
                    .iter()
                    .map(|(k, _)| *k)
                    .eq(typed.sections.iter().copied())),
            "{:?} {} has no row",
            typed.sections,
            typed.key
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.conf");
    let good = |key: &str| match key {
        "mail_uid" | "mail_gid" | "pn_metadata_imap_port" | "port" => "0",
        "mode" => "0600",
        "lmtp_hdr_delivery_address" => "final",
        "pn_metadata_backend" => "file",
        "pn_metadata_imap_ssl" => "starttls",
        "pn_metadata_imap_allow_plaintext" => "no",
        "pn_metadata_imap_auth_mech" => "plain",
        "push_notification_ox_url" => "https://u:p@push.example.com:8443/x",
        k if k.contains("timeout") || k.contains("ttl") => "1500ms",
        "lmtp_max_mail_size" => "10 MiB",
        k if k == "quota"
            || k.contains("from_metadata")
            || k.starts_with("lda_")
            || k.starts_with("lmtp_a")
            || k.starts_with("lmtp_s") =>
        {
            "Yes"
        }
        _ => "7",
    };
    for row in ROWS {
        let (text, _, _) = conf(row, good(row.key));
        std::fs::write(&file, &text).unwrap();
        let out = run_pn(
            &["-c", file.to_str().unwrap(), "config", "check"],
            None,
            &[],
        );
        assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    }
}

#[test]
fn dovecot_gives_the_same_messages() {
    if !Path::new(DOVECONF).exists() {
        eprintln!("notice: {DOVECONF} not found, skipping the comparison with Dovecot");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.conf");
    for row in ROWS.iter().filter(|r| r.doveconf) {
        let (text, line, _) = conf(row, row.value);
        std::fs::write(&file, text).unwrap();
        let out = Command::new(DOVECONF)
            .args(["-n", "-c"])
            .arg(&file)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let want = format!("line {line}: {}", row.message);
        assert!(err.contains(&want), "{}: want {want:?} in {err:?}", row.key);
    }
}

#[test]
fn every_command_refuses_a_wrong_typed_value_before_doing_anything() {
    let sb = util::Sandbox::with("first_valid_uid = PH_FIRST_VALID_UID\n");
    for args in [
        &["deliver", "-d", "alice@example.com"][..],
        &["mailbox", "create", "-u", "alice@example.com", "X"][..],
        &["lmtp", "--listen", "127.0.0.1:0"][..],
    ] {
        let out = sb.pn(args, Some(b"Subject: x\n\nx\n"));
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", stderr(&out));
        assert!(
            // The line depends on the sandbox's preamble (as root it names uid 0); the column
            // is the value's.
            stderr(&out).contains(":19: Invalid number PH_FIRST_VALID_UID: Not a valid number")
                && stderr(&out).contains("| first_valid_uid = PH_FIRST_VALID_UID"),
            "{}",
            stderr(&out)
        );
    }
    assert!(!sb.home("alice@example.com").exists());
}

#[test]
fn an_override_of_the_wrong_type_is_refused_at_its_position() {
    let sb = util::Sandbox::new();
    let out = sb.pn(
        &[
            "-o",
            "login_greeting=hi",
            "-o",
            "lda_mailbox_autocreate=true",
            "config",
            "check",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(64));
    assert!(
        stderr(&out).starts_with(
            "pn: -o:2:24: Invalid boolean value: true (use yes or no)\n  | lda_mailbox_autocreate=true"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn config_check_refuses_wrong_typed_driver_arguments_at_the_argument() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.conf");
    let cases = [
        (
            "ox:url=ftp://u:secret@h/",
            "ox: Failed to parse OX REST URL ftp://u:***@h/: Not an HTTP URL (Dovecot disables this driver)",
        ),
        (
            "ox:url=http://h/ cache_lifetime=60",
            "ox: Failed to parse OX cache_lifetime 60: Time interval '60' is missing units (add e.g. 's' for seconds) (Dovecot disables this driver)",
        ),
        (
            "ox:url=http://h/ max_retries=-1",
            "ox: max_retries: Invalid number -1: Number too small",
        ),
        (
            "ox:url=http://h/ timeout_msecs=2s",
            "ox: timeout_msecs: Invalid number 2s: Not a valid number",
        ),
        (
            "lua:file=/x.lua memory_limit=64X",
            "lua: memory_limit: Invalid size: 64X",
        ),
        (
            "lua:file=/x.lua call_timeout_msecs=1.5",
            "lua: call_timeout_msecs: Invalid number 1.5: Not a valid number",
        ),
    ];
    for (driver, message) in cases {
        let line = format!("plugin {{\n  push_notification_driver = {driver}\n}}\n");
        std::fs::write(
            &file,
            format!("mail_plugins = notify push_notification\n{line}"),
        )
        .unwrap();
        let out = run_pn(
            &["-c", file.to_str().unwrap(), "config", "check"],
            None,
            &[],
        );
        // The column of the argument: after `  push_notification_driver = ` (29 characters)
        // and the driver string before the argument.
        let arg = message
            .split_once(": ")
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        let key = if arg.starts_with("Failed to parse OX REST URL") {
            "url="
        } else if arg.starts_with("Failed to parse OX cache_lifetime") {
            "cache_lifetime="
        } else {
            arg.split(':').next().unwrap()
        };
        let column = 30 + driver.find(key).unwrap();
        let want = format!("pn: {}:3:{column}: {message}\n", file.display());
        assert_eq!(out.status.code(), Some(64), "{driver}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with(&want),
            "{driver}: want {want:?}\n got {:?}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("secret"));
    }
}
