//! `pn config` end to end: the real binary, real files, exit codes.

use std::path::Path;
use std::process::{Command, Output};

fn pn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pn"))
        .args(args)
        .env_remove("PN_CONFIG")
        .output()
        .expect("run pn")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}

#[test]
fn without_a_file_the_embedded_default_is_printed() {
    let o = pn(&["config"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("push_notification_driver = dlog"), "{out}");
    assert!(out.contains("protocol lmtp {"), "{out}");
    assert!(out.contains("mail_location = maildir:~/Maildir"), "{out}");
}

#[test]
fn protocol_view_shows_effective_settings_and_plugin_state() {
    let o = pn(&["config", "-p", "lmtp"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(
        out.contains("mail_plugins = \" notify push_notification\""),
        "{out}"
    );
    assert!(out.contains("(push notifications loaded)"), "{out}");
    let imap = stdout(&pn(&["config", "-p", "imap"]));
    assert!(imap.contains("(push notifications NOT loaded)"), "{imap}");
}

#[test]
fn check_on_a_broken_file_prints_position_and_exits_64() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "broken.conf",
        "plugin {\n  push_notification_driver dlog\n}\n",
    );
    let o = pn(&["config", "check", "-c", &file]);
    assert_eq!(o.status.code(), Some(64));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{file}:2:32: Expecting '{{'")),
        "{err}"
    );
    assert!(err.contains("^ expected '{' to open the section"), "{err}");
}

#[test]
fn check_on_a_good_file_exits_0_with_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "ok.conf",
        "plugin {\n  push_notification_driver = dlog\n}\n",
    );
    let o = pn(&["config", "check", "-c", &file]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("OK (1 file, "));
    assert!(
        stderr(&o).contains("protocol lmtp: push_notification_driver is set, but mail_plugins")
    );
}

#[test]
fn missing_file_exits_66() {
    let o = pn(&["config", "check", "-c", "/nonexistent/pn.conf"]);
    assert_eq!(o.status.code(), Some(66));
    assert!(stderr(&o).contains("/nonexistent/pn.conf"));
}

#[test]
fn pn_config_environment_variable_selects_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "env.conf", "mail_location = maildir:/srv/%u\n");
    let o = Command::new(env!("CARGO_BIN_EXE_pn"))
        .args(["config"])
        .env("PN_CONFIG", &file)
        .output()
        .unwrap();
    assert!(stdout(&o).contains("mail_location = maildir:/srv/%u"));
}

#[test]
fn drivers_lists_parsed_args_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "ox.conf",
        "protocol lmtp {\n  mail_plugins = notify push_notification\n}\nplugin {\n  push_notification_driver = ox:url=https://ox:s3cret@push.example.com/x user_from_metadata\n}\n",
    );
    let o = pn(&["config", "drivers", "-p", "lmtp", "-c", &file]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("push_notification_driver ({file}:5:3)")),
        "{out}"
    );
    assert!(out.contains("driver: ox"), "{out}");
    assert!(
        out.contains("url = https://ox:***@push.example.com/x"),
        "{out}"
    );
    assert!(out.contains("user_from_metadata (flag)"), "{out}");
    assert!(!out.contains("s3cret"), "{out}");
}

#[test]
fn overrides_replace_settings() {
    let o = pn(&[
        "config",
        "drivers",
        "-o",
        "plugin/push_notification_driver=lua:file=/x.lua",
    ]);
    let out = stdout(&o);
    assert!(out.contains("driver: lua"), "{out}");
    assert!(out.contains("file = /x.lua"), "{out}");
}
