//! `pn mailbox metadata` replays every doveadm run captured from Dovecot 2.3.19
//! (tests/data/doveadm-metadata.txt, see tests/data/README.md) against a passwd-file userdb in a
//! temporary sandbox: the same stdout and exit code, and doveadm's message on stderr.

use std::fs;
use std::path::Path;
use std::process::Command;

const TRANSCRIPT: &str = include_str!("data/doveadm-metadata.txt");

/// One captured doveadm run.
struct Case {
    line: String,
    args: Vec<String>,
    exit: i32,
    stdout: String,
    stderr: String,
}

/// Undoes bash's `printf %q`: `''`, backslash escapes and `$'…'`.
fn unquote_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && chars[i] == ' ' {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        let mut w = String::new();
        while i < chars.len() && chars[i] != ' ' {
            match chars[i] {
                '\\' => {
                    w.push(chars[i + 1]);
                    i += 2;
                }
                '\'' => {
                    i += 1;
                    while chars[i] != '\'' {
                        w.push(chars[i]);
                        i += 1;
                    }
                    i += 1;
                }
                '$' if chars.get(i + 1) == Some(&'\'') => {
                    i += 2;
                    while chars[i] != '\'' {
                        if chars[i] == '\\' {
                            w.push(match chars[i + 1] {
                                't' => '\t',
                                'n' => '\n',
                                c => c,
                            });
                            i += 2;
                        } else {
                            w.push(chars[i]);
                            i += 1;
                        }
                    }
                    i += 1;
                }
                c => {
                    w.push(c);
                    i += 1;
                }
            }
        }
        words.push(w);
    }
    words
}

fn cases() -> Vec<Case> {
    let lines: Vec<&str> = TRANSCRIPT.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(cmd) = lines[i].strip_prefix("$ doveadm ") else {
            i += 1;
            continue;
        };
        let exit = lines[i + 1]
            .strip_prefix("exit=")
            .expect("exit line")
            .parse()
            .expect("exit code");
        assert_eq!(lines[i + 2], "--- stdout:");
        let mut j = i + 3;
        let mut stdout = Vec::new();
        while lines[j] != "--- stderr:" {
            stdout.push(lines[j]);
            j += 1;
        }
        j += 1;
        let mut stderr = Vec::new();
        while j < lines.len() && !lines[j].is_empty() {
            stderr.push(lines[j]);
            j += 1;
        }
        out.push(Case {
            line: lines[i].to_owned(),
            args: unquote_words(cmd),
            exit,
            stdout: stdout.join("\n").trim_end_matches('\n').to_owned(),
            stderr: stderr.join("\n"),
        });
        i = j;
    }
    out
}

fn sandbox() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sb = dir.path();
    let users = sb.join("users");
    let mut passwd = String::new();
    for u in ["alice@example.com", "bob@example.com", "carol@example.com"] {
        passwd.push_str(&format!(
            "{u}:{{PLAIN}}pass:1000:1000::{}/home/{u}::\n",
            sb.display()
        ));
    }
    fs::write(&users, passwd).expect("users");
    let conf = sb.join("pn.conf");
    fs::write(
        &conf,
        format!(
            "mail_location = maildir:~/Maildir\n\
             mail_attribute_dict = file:%h/dovecot-attributes\n\
             userdb {{\n  driver = passwd-file\n  args = username_format=%u {}\n}}\n",
            users.display()
        ),
    )
    .expect("conf");
    (dir, conf)
}

fn pn(conf: &Path, doveadm_args: &[String]) -> std::process::Output {
    // doveadm's global `-f FMT` goes after the subcommand in pn.
    let mut args: Vec<String> = doveadm_args.to_vec();
    let mut formatter = Vec::new();
    if args.first().map(String::as_str) == Some("-f") {
        formatter = args.drain(..2).collect();
    }
    // mailbox metadata <op> [-f FMT] rest…
    let mut full: Vec<String> = vec!["-c".into(), conf.display().to_string()];
    full.extend(args.drain(..3));
    full.extend(formatter);
    full.extend(args);
    Command::new(env!("CARGO_BIN_EXE_pn"))
        .args(&full)
        .env_remove("USER")
        .env_remove("PN_CONFIG")
        .env("PN_LOG", "off")
        .output()
        .expect("run pn")
}

#[test]
fn every_captured_doveadm_run_gives_the_same_stdout_and_exit_code() {
    let (_dir, conf) = sandbox();
    let cases = cases();
    assert!(cases.len() >= 46, "parsed {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let out = pn(&conf, &case.args);
        let stdout = String::from_utf8_lossy(&out.stdout)
            .trim_end_matches('\n')
            .to_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let code = out.status.code().unwrap_or(-1);
        let expected_stderr: Vec<String> = case
            .stderr
            .lines()
            .map(|l| {
                l.replace("doveadm(", "pn(")
                    .replace("doveadm mailbox", "pn mailbox")
            })
            .collect();
        let stderr_ok = expected_stderr.iter().all(|l| stderr.contains(l.as_str()));
        if stdout != case.stdout || code != case.exit || !stderr_ok {
            failures.push(format!(
                "{}\n  exit: want {} got {code}\n  stdout: want {:?} got {stdout:?}\n  stderr: want {:?} got {stderr:?}",
                case.line, case.exit, case.stdout, case.stderr
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn get_of_a_missing_key_prints_an_empty_line() {
    let (_dir, conf) = sandbox();
    let out = pn(
        &conf,
        &[
            "mailbox",
            "metadata",
            "get",
            "-u",
            "bob@example.com",
            "-s",
            "",
            "/private/x",
        ]
        .map(String::from),
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"\n");
}

#[test]
fn values_with_newlines_and_non_ascii_round_trip() {
    let (_dir, conf) = sandbox();
    let value = "zeile1\nzeile2\ttab \u{e9}\u{1f600}";
    let set = pn(
        &conf,
        &[
            "mailbox",
            "metadata",
            "set",
            "-u",
            "bob@example.com",
            "INBOX",
            "/shared/x",
            value,
        ]
        .map(String::from),
    );
    assert_eq!(
        set.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let get = pn(
        &conf,
        &[
            "mailbox",
            "metadata",
            "get",
            "-u",
            "bob@example.com",
            "INBOX",
            "/shared/x",
        ]
        .map(String::from),
    );
    assert_eq!(get.stdout, format!("{value}\n").into_bytes());
}
