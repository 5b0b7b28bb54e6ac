//! The global command-line interface: version, usage errors, log options.

use std::process::Command;

fn pn(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pn"))
        .args(args)
        .env_remove("PN_CONFIG")
        .env_remove("PN_LOG")
        .output()
        .expect("run pn")
}

#[test]
fn version_prints_name_and_version() {
    let out = pn(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("pn {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_64_like_doveadm() {
    for args in [&["no-such-command"][..], &["-o", "novalue", "config"], &[]] {
        let out = pn(args);
        assert_eq!(out.status.code(), Some(64), "pn {args:?}");
        assert!(!out.stderr.is_empty(), "pn {args:?} explains the problem");
    }
}

#[test]
fn an_invalid_log_filter_is_a_usage_error() {
    let out = pn(&["--log", "pn_core=loud", "config"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid log filter"));
}

#[test]
fn help_is_not_an_error() {
    let out = pn(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for option in ["--config", "-o", "--log", "--log-format"] {
        assert!(text.contains(option), "help mentions {option}");
    }
}
