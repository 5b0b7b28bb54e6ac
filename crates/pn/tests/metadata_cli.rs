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
    // The invoking user's ids, so pn (which becomes the user) can write the sandbox; none for
    // root, whom passwd-file refuses (pn then keeps running as the invoking user).
    let meta = fs::metadata(sb).expect("sandbox metadata");
    let (uid, gid) = match std::os::unix::fs::MetadataExt::uid(&meta) {
        0 => (String::new(), String::new()),
        uid => (
            uid.to_string(),
            std::os::unix::fs::MetadataExt::gid(&meta).to_string(),
        ),
    };
    let mut passwd = String::new();
    for u in ["alice@example.com", "bob@example.com", "carol@example.com"] {
        passwd.push_str(&format!(
            "{u}:{{PLAIN}}pass:{uid}:{gid}::{}/home/{u}::\n",
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
             userdb {{\n  driver = passwd-file\n  args = username_format=%u {}\n}}\n{}",
            users.display(),
            root_ids()
        ),
    )
    .expect("conf");
    (dir, conf)
}

/// passwd-file refuses uid 0 and pn refuses to write as root without a uid: as root, the
/// sandbox names root explicitly.
fn root_ids() -> &'static str {
    if rustix::process::geteuid().is_root() {
        "mail_uid = 0\nmail_gid = 0\nfirst_valid_uid = 0\nfirst_valid_gid = 0\n"
    } else {
        ""
    }
}

/// Runs `pn` with doveadm's argument list exactly as captured (global options such as
/// `-f tab` first), the configuration coming from `PN_CONFIG` as doveadm's from its default
/// path.
fn pn(conf: &Path, doveadm_args: &[String]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pn"))
        .args(doveadm_args)
        .env_remove("USER")
        .env("PN_CONFIG", conf)
        .env("PN_LOG", "off")
        .output()
        .expect("run pn")
}

#[test]
fn every_captured_doveadm_run_gives_the_same_stdout_and_exit_code() {
    let (_dir, conf) = sandbox();
    let cases = cases();
    assert!(cases.len() >= 46, "parsed {} cases", cases.len());
    assert!(
        cases.iter().filter(|c| c.args[0] == "-f").count() >= 2,
        "the transcript's runs with doveadm's global -f before the command are replayed as is"
    );
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

/// A tiny RFC 5464 server on 127.0.0.1 for the `imap` backend: PLAIN login, SETMETADATA and
/// GETMETADATA with quoted strings and literals, `[METADATA MAXSIZE 64]` for larger values.
fn fake_imap_server() -> u16 {
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::{Arc, Mutex};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let store: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let mut out = conn.try_clone().expect("clone");
                let mut r = BufReader::new(conn);
                let _ = out.write_all(
                    b"* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ AUTH=PLAIN METADATA] fake\r\n",
                );
                loop {
                    // One command: lines plus `{n+}` literals.
                    let mut cmd = Vec::new();
                    loop {
                        let mut line = Vec::new();
                        if r.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
                        cmd.extend_from_slice(&line);
                        let Some(n) = text
                            .strip_suffix("+}")
                            .and_then(|t| t.rsplit_once('{'))
                            .and_then(|(_, n)| n.parse::<usize>().ok())
                        else {
                            break;
                        };
                        let mut lit = vec![0; n];
                        r.read_exact(&mut lit).expect("literal");
                        cmd.extend_from_slice(&lit);
                    }
                    let text = String::from_utf8_lossy(&cmd).into_owned();
                    let (tag, rest) = text.split_once(' ').unwrap_or((&text, ""));
                    let reply = if rest.starts_with("AUTHENTICATE") || rest.starts_with("LOGIN") {
                        format!("{tag} OK Logged in\r\n").into_bytes()
                    } else if rest.starts_with("CAPABILITY") {
                        format!("* CAPABILITY IMAP4rev1 LITERAL+ METADATA\r\n{tag} OK\r\n")
                            .into_bytes()
                    } else if rest.starts_with("LOGOUT") {
                        let _ = out.write_all(format!("* BYE\r\n{tag} OK\r\n").as_bytes());
                        return;
                    } else if let Some(args) = rest.strip_prefix("SETMETADATA ") {
                        let (mbox, list) = args.split_once(" (").expect("list");
                        let (entry, value) = list.split_once(' ').expect("entry");
                        let value = value.trim_end().strip_suffix(')').expect("close");
                        let raw = cmd_value(value);
                        match raw {
                            Some(v) if v.len() > 64 => {
                                format!("{tag} NO [METADATA MAXSIZE 64] Too large\r\n").into_bytes()
                            }
                            v => {
                                let key = format!("{mbox}{entry}");
                                let mut s = store.lock().expect("lock");
                                match v {
                                    Some(v) => s.insert(key, v),
                                    None => s.remove(&key),
                                };
                                format!("{tag} OK Setmetadata completed\r\n").into_bytes()
                            }
                        }
                    } else if let Some(args) = rest.strip_prefix("GETMETADATA ") {
                        let (mbox, list) = args.split_once(" (").expect("list");
                        let entry = list.trim_end().trim_end_matches(')');
                        let mut reply = Vec::new();
                        if let Some(v) = store.lock().expect("lock").get(&format!("{mbox}{entry}"))
                        {
                            reply.extend_from_slice(
                                format!("* METADATA {mbox} ({entry} {{{}}}\r\n", v.len())
                                    .as_bytes(),
                            );
                            reply.extend_from_slice(v);
                            reply.extend_from_slice(b")\r\n");
                        }
                        reply.extend_from_slice(
                            format!("{tag} OK Getmetadata completed\r\n").as_bytes(),
                        );
                        reply
                    } else {
                        format!("{tag} BAD unknown\r\n").into_bytes()
                    };
                    let _ = out.write_all(&reply);
                }
            });
        }
    });
    port
}

/// A value as the client sent it: `NIL`, `"quoted"` or `{n+}\r\n<bytes>`.
fn cmd_value(v: &str) -> Option<Vec<u8>> {
    if v == "NIL" {
        return None;
    }
    if let Some(q) = v.strip_prefix('"').and_then(|q| q.strip_suffix('"')) {
        return Some(q.replace("\\\"", "\"").replace("\\\\", "\\").into_bytes());
    }
    let (_, data) = v.split_once("}\r\n").expect("literal");
    Some(data.as_bytes().to_vec())
}

#[test]
fn imap_backend_through_the_cli() {
    let (dir, _) = sandbox();
    let port = fake_imap_server();
    let conf = dir.path().join("imap.conf");
    fs::write(
        &conf,
        format!(
            "pn_metadata_backend = imap\n\
             pn_metadata_imap_host = 127.0.0.1\n\
             pn_metadata_imap_port = {port}\n\
             pn_metadata_imap_ssl = no\n\
             pn_metadata_imap_password = pass\n\
             userdb {{\n  driver = passwd-file\n  args = username_format=%u {}\n}}\n{}",
            dir.path().join("users").display(),
            root_ids()
        ),
    )
    .expect("conf");
    let run = |args: &[&str]| {
        pn(
            &conf,
            &args.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
        )
    };
    let value = "user=11@3\ttab\nline caf\u{e9}";
    let key = "/private/vendor/vendor.dovecot/http-notify";
    let out = run(&[
        "mailbox",
        "metadata",
        "set",
        "-u",
        "alice@example.com",
        "-s",
        "",
        key,
        value,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[
        "mailbox",
        "metadata",
        "get",
        "-u",
        "alice@example.com",
        "-s",
        "",
        key,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, format!("{value}\n").into_bytes());
    // `-f` before the operation, as in doveadm's order.
    let out = run(&[
        "-f",
        "json",
        "mailbox",
        "metadata",
        "get",
        "-u",
        "alice@example.com",
        "-s",
        "",
        key,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"value\""),
        "{out:?}"
    );
    // MAXSIZE: a clear message and doveadm's "not possible" exit code.
    let big = "x".repeat(100);
    let out = run(&[
        "mailbox",
        "metadata",
        "set",
        "-u",
        "alice@example.com",
        "-s",
        "",
        key,
        &big,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{stderr}");
    assert!(stderr.contains("at most 64 bytes"), "{stderr}");
    // Unset, then get prints an empty line.
    let out = run(&[
        "mailbox",
        "metadata",
        "unset",
        "-u",
        "alice@example.com",
        "-s",
        "",
        key,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[
        "mailbox",
        "metadata",
        "get",
        "-u",
        "alice@example.com",
        "-s",
        "",
        key,
    ]);
    assert_eq!(out.stdout, b"\n");
}

#[test]
fn formatter_is_accepted_after_the_operation_too() {
    let (_dir, conf) = sandbox();
    let out = Command::new(env!("CARGO_BIN_EXE_pn"))
        .args(["-c"])
        .arg(&conf)
        .args([
            "mailbox",
            "metadata",
            "get",
            "-f",
            "tab",
            "-u",
            "bob@example.com",
            "-s",
            "",
            "/private/x",
        ])
        .env_remove("PN_CONFIG")
        .env("PN_LOG", "off")
        .output()
        .expect("run pn");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"value\n\n");
}
