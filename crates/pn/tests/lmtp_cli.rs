//! `pn lmtp` driven by a real client: Python's `smtplib.LMTP` (raw sockets for BDAT,
//! pipelining and malformed commands), from `tests/data/lmtp/client.py`. Each test starts its
//! own server on 127.0.0.1:0 (`--print-address`) in a sandbox with a passwd-file userdb.
//!
//! As root the server gets `mail_uid`/`mail_gid` = nobody and the users are nobody (pn lmtp
//! never writes mail as root); otherwise everything runs as the invoking user.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

mod util;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use util::{Sandbox, USERS};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/lmtp/client.py");
const NOBODY: u32 = 65534;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A sandbox whose users the server may write for: nobody as root, else the invoking user.
fn sandbox(extra: &str) -> Sandbox {
    let sb = Sandbox::with(extra);
    if is_root() {
        sb.write_users(NOBODY, NOBODY);
        let mut perms = std::fs::metadata(sb.dir.path()).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(sb.dir.path(), perms).unwrap();
        let home = sb.dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        std::os::unix::fs::chown(&home, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    sb
}

/// The server's uid: nobody as root.
fn server_uid(sb: &Sandbox) -> u32 {
    if is_root() { NOBODY } else { sb.uid }
}

struct Server {
    child: Child,
    address: String,
    stderr: std::sync::mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(sb: &Sandbox, args: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pn"));
        cmd.arg("-c").arg(&sb.conf);
        if is_root() {
            cmd.args(["-o", "mail_uid=65534", "-o", "mail_gid=65534"]);
        }
        cmd.args(["-o", "pn_lmtp_session_limit=50", "--log", "info"])
            .arg("lmtp")
            .args(args)
            .args(["--print-address"])
            .env_remove("PN_CONFIG")
            .env_remove("PN_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !args.iter().any(|a| a.starts_with("--listen")) {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        let mut child = cmd.spawn().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let err = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut address = String::new();
        out.read_line(&mut address).unwrap();
        let address = address.trim().to_owned();
        assert!(
            !address.is_empty(),
            "no address: {:?}",
            rx.try_iter().collect::<Vec<_>>()
        );
        Server {
            child,
            address: address.strip_prefix("unix:").unwrap_or(&address).to_owned(),
            stderr: rx,
            log: Vec::new(),
        }
    }

    fn client(&self, scenario: &str, args: &[&str]) -> serde_json::Value {
        let out = Command::new("python3")
            .arg(CLIENT)
            .arg(scenario)
            .arg(&self.address)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "client {scenario} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The log lines so far.
    fn log(&mut self) -> &[String] {
        self.log.extend(self.stderr.try_iter());
        &self.log
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("pn lmtp did not exit");
    }
}

fn message(sb: &Sandbox, name: &str, data: &[u8]) -> PathBuf {
    let p = sb.dir.path().join(name);
    std::fs::write(&p, data).unwrap();
    p
}

fn strs(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| match x {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// A stored message split into the trace headers pn put in front (`Return-Path`,
/// `Delivered-To`, `Received` with its continuation lines) and the message as sent.
fn split_trace(data: &[u8]) -> (String, Vec<u8>) {
    let mut at = 0;
    let mut in_received = false;
    while let Some(len) = data[at..].iter().position(|&b| b == b'\n') {
        let line = &data[at..at + len + 1];
        let trace = line.starts_with(b"Return-Path: ")
            || line.starts_with(b"Delivered-To: ")
            || line.starts_with(b"Received: ")
            || (in_received && line.starts_with(b"\t"));
        if !trace {
            break;
        }
        in_received = line.starts_with(b"Received: ") || (in_received && line[0] == b'\t');
        at += len + 1;
    }
    (
        String::from_utf8_lossy(&data[..at]).into_owned(),
        data[at..].to_vec(),
    )
}

/// The stored messages' trace headers and bodies, by file name order.
fn stored_with_trace(sb: &Sandbox, user: &str, folder: &str) -> Vec<(String, Vec<u8>)> {
    let mut files = sb.files(user, folder);
    files.sort();
    files.into_iter().map(|(_, d)| split_trace(&d)).collect()
}

/// The stored messages as the client sent them, by file name order (each is checked to
/// start with trace headers).
fn stored(sb: &Sandbox, user: &str, folder: &str) -> Vec<Vec<u8>> {
    stored_with_trace(sb, user, folder)
        .into_iter()
        .map(|(trace, msg)| {
            assert!(trace.starts_with("Return-Path: <"), "{trace:?}");
            assert!(trace.contains("\n\tby "), "{trace:?}");
            msg
        })
        .collect()
}

const HELLO: &[u8] = b"From: Sender <sender@example.org>\r\nSubject: hello\r\nMessage-ID: <m1@example.org>\r\n\r\nHello there.\r\n.leading dot\r\n";
const HELLO_LF: &[u8] = b"From: Sender <sender@example.org>\nSubject: hello\nMessage-ID: <m1@example.org>\n\nHello there.\n.leading dot\n";

#[test]
fn each_accepted_recipient_gets_its_own_reply_and_unknown_ones_are_refused_at_rcpt() {
    let sb = sandbox("");
    let server = Server::start(&sb, &[]);
    let msg = message(&sb, "hello.eml", HELLO);
    let out = server.client(
        "multi",
        &[msg.to_str().unwrap(), ALICE, "nobody@example.com", BOB],
    );
    assert!(out["lhlo"].as_str().unwrap().contains("PIPELINING"));
    assert_eq!(out["mail"], "250 2.1.0 OK");
    assert_eq!(
        strs(&out["rcpt"]),
        [
            "250 2.1.5 OK",
            "550 5.1.1 <nobody@example.com> User doesn't exist: nobody@example.com",
            "250 2.1.5 OK"
        ]
    );
    let data = strs(&out["data"]);
    assert_eq!(data.len(), 2);
    assert!(
        data[0].starts_with("250 2.0.0 <alice@example.com> "),
        "{data:?}"
    );
    assert!(data[0].ends_with(" Saved"));
    assert!(
        data[1].starts_with("250 2.0.0 <bob@example.com> "),
        "{data:?}"
    );
    for user in USERS {
        assert_eq!(stored(&sb, user, ""), [HELLO_LF]);
    }
}

#[test]
fn messages_get_dovecots_trace_headers() {
    let host = "lmtp.example.com";
    let sb = sandbox(&format!("hostname = {host}\n"));
    let server = Server::start(&sb, &[]);
    let msg = message(&sb, "hello.eml", HELLO);
    // One recipient: Delivered-To and Received's `for` name it.
    let out = server.client("multi", &[msg.to_str().unwrap(), ALICE]);
    assert!(strs(&out["data"])[0].ends_with("Saved"), "{out}");
    let (trace, body) = stored_with_trace(&sb, ALICE, "").remove(0);
    assert_eq!(body, HELLO_LF);
    let lines: Vec<&str> = trace.lines().collect();
    assert_eq!(lines[0], "Return-Path: <sender@example.org>", "{trace}");
    assert_eq!(lines[1], "Delivered-To: alice@example.com", "{trace}");
    assert_eq!(lines[2], "Received: from client.example ([127.0.0.1])");
    assert_eq!(lines[3], format!("\tby {host} with LMTP"));
    assert!(
        lines[4].starts_with("\tid ") && lines[4].len() > 10,
        "{trace}"
    );
    assert_eq!(lines[5], "\t(envelope-from <sender@example.org>)");
    let date = lines[6]
        .strip_prefix("\tfor <alice@example.com>; ")
        .unwrap_or_else(|| panic!("{trace}"));
    assert!(date.ends_with(" +0000") && date.contains(", "), "{date}");
    assert_eq!(lines.len(), 7, "{trace}");

    // Two recipients share one stored text: neither Delivered-To nor `for`. (File names do
    // not sort by delivery order, so the message is told apart by its trace.)
    let out = server.client("multi", &[msg.to_str().unwrap(), ALICE, BOB]);
    assert_eq!(strs(&out["data"]).len(), 2);
    for (user, stored) in [(ALICE, 2), (BOB, 1)] {
        let all = stored_with_trace(&sb, user, "");
        assert_eq!(all.len(), stored, "{user}");
        let shared: Vec<&(String, Vec<u8>)> = all
            .iter()
            .filter(|(trace, _)| !trace.contains("Delivered-To"))
            .collect();
        assert_eq!(shared.len(), 1, "{user}: {all:?}");
        let (trace, body) = shared[0];
        assert_eq!(body, HELLO_LF);
        assert!(!trace.contains("\tfor "), "{trace}");
        assert!(
            trace.contains("\t(envelope-from <sender@example.org>); "),
            "{trace}"
        );
    }
}

#[test]
fn trace_header_settings_are_honoured_and_checked() {
    let sb = sandbox("lmtp_add_received_header = no\nlmtp_hdr_delivery_address = none\n");
    let server = Server::start(&sb, &[]);
    let msg = message(&sb, "hello.eml", HELLO);
    server.client("multi", &[msg.to_str().unwrap(), ALICE]);
    let (trace, body) = stored_with_trace(&sb, ALICE, "").remove(0);
    assert_eq!(trace, "Return-Path: <sender@example.org>\n");
    assert_eq!(body, HELLO_LF);
    drop(server);

    let out = Command::new(env!("CARGO_BIN_EXE_pn"))
        .arg("-c")
        .arg(&sb.conf)
        .args(["-o", "mail_uid=65534", "-o", "mail_gid=65534"])
        .args(["-o", "lmtp_hdr_delivery_address=everyone"])
        .args(["lmtp", "--listen", "127.0.0.1:0"])
        .env_remove("PN_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pn: -o:3:27: Invalid value: everyone")
            && err.contains("lmtp_hdr_delivery_address: one of: final, none, original"),
        "{err}"
    );
}

#[test]
fn pipelined_commands_get_their_replies_in_order() {
    let sb = sandbox("");
    let server = Server::start(&sb, &[]);
    let msg = message(&sb, "hello.eml", HELLO);
    let out = server.client(
        "pipelined",
        &[msg.to_str().unwrap(), ALICE, "nobody@example.com", BOB],
    );
    let replies: Vec<String> = out["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| strs(r).last().unwrap().clone())
        .collect();
    assert_eq!(
        replies[1..],
        [
            "250 2.1.0 OK".to_owned(),
            "250 2.1.5 OK".to_owned(),
            "550 5.1.1 <nobody@example.com> User doesn't exist: nobody@example.com".to_owned(),
            "250 2.1.5 OK".to_owned(),
            "354 OK".to_owned(),
        ]
    );
    assert_eq!(out["data"].as_array().unwrap().len(), 2);
    assert_eq!(strs(&out["quit"]), ["221 2.0.0 Bye"]);
    assert_eq!(stored(&sb, ALICE, ""), [HELLO_LF]);
    assert_eq!(stored(&sb, BOB, ""), [HELLO_LF]);
}

#[test]
fn bdat_chunks_are_joined_without_dot_unstuffing() {
    let sb = sandbox("");
    let server = Server::start(&sb, &[]);
    let msg = message(&sb, "hello.eml", HELLO);
    let out = server.client("bdat", &[msg.to_str().unwrap(), ALICE, "10"]);
    let replies: Vec<String> = out
        .as_array()
        .unwrap()
        .iter()
        .map(|r| strs(r).last().unwrap().clone())
        .collect();
    assert!(
        replies[3].starts_with("250 2.0.0 Added 10 octets"),
        "{replies:?}"
    );
    let saved = &replies[replies.len() - 2];
    assert!(
        saved.starts_with("250 2.0.0 <alice@example.com> "),
        "{replies:?}"
    );
    assert_eq!(replies.last().unwrap(), "221 2.0.0 Bye");
    assert_eq!(stored(&sb, ALICE, ""), [HELLO_LF]);
}

#[test]
fn eight_bit_and_smtputf8_messages_are_stored_unchanged() {
    let sb = sandbox("");
    let server = Server::start(&sb, &[]);
    let body = "From: Jörg <jörg@example.org>\r\nSubject: Grüße aus Köln\r\n\r\nÄÖÜ 日本語\r\n";
    let msg = message(&sb, "utf8.eml", body.as_bytes());
    let out = server.client("utf8", &[msg.to_str().unwrap(), ALICE]);
    assert_eq!(out["smtputf8"], true);
    assert_eq!(out["8bitmime"], true);
    assert_eq!(out["mail"], "250 2.1.0 OK");
    assert!(
        out["rcpt_unknown"]
            .as_str()
            .unwrap()
            .starts_with("550 5.1.1 <zoë@example.com>"),
        "{out}"
    );
    assert_eq!(out["rcpt"], "250 2.1.5 OK");
    assert!(out["data"].as_str().unwrap().ends_with("Saved"));
    assert!(
        out["mail_no_utf8"]
            .as_str()
            .unwrap()
            .starts_with("553 5.6.7"),
        "{out}"
    );
    assert_eq!(
        stored(&sb, ALICE, ""),
        [body.replace("\r\n", "\n").into_bytes()]
    );
}

#[test]
fn a_30_mb_message_is_streamed_to_disk_not_held_in_memory() {
    let sb = sandbox("");
    let server = Server::start(&sb, &[]);
    let out = server.client("big", &[ALICE, "30"]);
    assert!(out["data"].as_str().unwrap().ends_with("Saved"), "{out}");
    let size = out["size"].as_u64().unwrap();
    let files = sb.files(ALICE, "");
    assert_eq!(files.len(), 1);
    let (trace, msg) = split_trace(&files[0].1);
    assert!(trace.starts_with("Return-Path: "), "{trace}");
    let lines = msg.iter().filter(|&&b| b == b'\n').count() as u64;
    assert_eq!(
        msg.len() as u64,
        size - lines,
        "CRLF stored as LF, nothing else changed"
    );
    drop((files, msg));
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(
        peak_kb < 30 * 1024,
        "peak RSS {peak_kb} kB: the message was held in memory"
    );
}

#[test]
fn malformed_commands_get_dovecots_errors_and_the_session_goes_on() {
    let sb = sandbox("");
    let server = Server::start(&sb, &[]);
    let long = format!("NOOP {}", "x".repeat(5000));
    let script = [
        "FOO bar",
        "EHLO client.example",
        "RCPT TO:<alice@example.com>",
        "DATA",
        "MAIL FROM: <a@example.org>",
        "MAIL FROM:<a@example.org",
        "MAIL FROM:<a@example.org> BODY=BINARYMIME",
        long.as_str(),
        "VRFY alice",
        "LHLO",
        "MAIL FROM:<a@example.org>",
        "MAIL FROM:<a@example.org>",
        "RCPT TO:<>",
        "RCPT TO:<alice>",
        "DATA",
        "RSET",
        "NOOP",
        "BDAT x",
    ]
    .join("\n");
    let out = server.client("script", &[&script]);
    let replies: Vec<String> = out
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|r| strs(r).join("|"))
        .collect();
    assert_eq!(
        replies,
        [
            "500 5.5.1 Unknown command",
            "500 5.5.1 Unknown command",
            "503 5.5.0 MAIL needed first",
            "503 5.5.0 MAIL needed first",
            "501 5.5.4 Invalid FROM: Unexpected whitespace before path",
            "501 5.5.4 Invalid FROM: Missing '>' at end of path",
            "555 5.5.4 Unsupported BODY= parameter value",
            "500 5.5.2 Line too long",
            "252 2.3.3 Try RCPT instead",
            "501 Missing hostname",
            "250 2.1.0 OK",
            "503 5.5.0 MAIL already given",
            "550 5.1.1 Unacceptable TO: Empty path not allowed",
            "501 5.5.4 Invalid TO: Missing domain",
            "554 5.5.0 No valid recipients",
            "250 2.0.0 OK",
            "250 2.0.0 OK",
            // The chunk's size is unknown: the stream cannot be resynchronised.
            "501 5.5.4 Invalid chunk size parameter",
        ]
    );
}

#[test]
fn a_stalled_client_is_disconnected_for_inactivity() {
    let sb2 = sandbox("pn_lmtp_idle_timeout = 1s\npn_lmtp_command_timeout = 2s\n");
    let server2 = Server::start(&sb2, &[]);
    let out = server2.client("stall", &["idle"]);
    let got = strs(&out["got"]);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("421 4.4.2 ") && got[0].ends_with("Disconnected for inactivity"));
    let after = out["closed_after"].as_f64().unwrap();
    assert!((0.5..5.0).contains(&after), "{after}");
    // In the middle of DATA the connection is closed and nothing is stored.
    let out = server2.client("stall", &["data"]);
    assert!(out["closed_after"].as_f64().unwrap() < 5.0);
    assert!(sb2.files(ALICE, "").is_empty());
}

#[test]
fn five_hundred_concurrent_sessions_are_served_within_the_session_limit() {
    let sb = sandbox("");
    let server = Server::start(&sb, &[]);
    let out = server.client("concurrent", &[ALICE, "500"]);
    let replies = strs(&out);
    let failed: Vec<&String> = replies.iter().filter(|r| !r.ends_with("Saved")).collect();
    assert!(
        failed.is_empty(),
        "{} failed, e.g. {:?}",
        failed.len(),
        failed.first()
    );
    assert_eq!(sb.files(ALICE, "").len(), 500);
    // Every message got its own UID, 1 to 500 (records are appended as Dovecot does, so the
    // header's next-UID field may lag behind the last record).
    let uidlist = std::fs::read_to_string(sb.maildir(ALICE).join("dovecot-uidlist")).unwrap();
    let mut uids: Vec<u32> = uidlist
        .lines()
        .skip(1)
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    uids.sort_unstable();
    assert_eq!(uids, (1..=500).collect::<Vec<u32>>(), "{uidlist}");
}

#[test]
fn sigterm_finishes_the_message_in_progress_and_refuses_new_sessions() {
    let sb = sandbox("");
    let mut server = Server::start(&sb, &[]);
    let pid = server.child.id().to_string();
    let out = server.client("shutdown", &[&pid]);
    assert!(
        out["idle"].as_str().unwrap().ends_with("Shutting down"),
        "{out}"
    );
    assert!(out["idle"].as_str().unwrap().starts_with("421 4.3.2 "));
    assert!(strs(&out["data"])[0].ends_with("Saved"), "{out}");
    assert!(
        out["after"].as_str().unwrap().starts_with("421 4.3.2 "),
        "{out}"
    );
    assert!(
        out["late"].is_null() || out["late"].as_str().unwrap().starts_with("refused"),
        "{out}"
    );
    assert!(server.wait_exit().success());
    assert_eq!(sb.files(ALICE, "").len(), 1);
}

#[test]
fn plus_detail_goes_to_the_detail_mailbox_when_enabled() {
    let sb = sandbox("lmtp_save_to_detail_mailbox = yes\nlda_mailbox_autocreate = yes\n");
    let server = Server::start(&sb, &[]);
    let msg = message(&sb, "hello.eml", HELLO);
    let out = server.client("multi", &[msg.to_str().unwrap(), "alice+Work@example.com"]);
    assert!(strs(&out["data"])[0].starts_with("250 2.0.0 <alice+Work@example.com> "));
    assert_eq!(stored(&sb, ALICE, ".Work"), [HELLO_LF]);
    assert!(stored(&sb, ALICE, "").is_empty());
}

#[test]
fn unix_sockets_work_too() {
    let sb = sandbox("");
    let path = sb.dir.path().join("run/lmtp");
    let server = Server::start(&sb, &["--listen", &format!("unix:{}", path.display())]);
    assert_eq!(Path::new(&server.address), path);
    let msg = message(&sb, "hello.eml", HELLO);
    let out = server.client("multi", &[msg.to_str().unwrap(), ALICE]);
    assert!(strs(&out["data"])[0].ends_with("Saved"));
}

#[test]
fn a_recipient_with_another_uid_is_refused_with_451_and_a_log_line() {
    let sb = sandbox("");
    let other = server_uid(&sb) - 1;
    let mut users = std::fs::read_to_string(sb.dir.path().join("users")).unwrap();
    users.push_str(&format!(
        "carol@example.com:{{PLAIN}}x:{other}:{other}::{}::\n",
        sb.home("carol@example.com").display()
    ));
    std::fs::write(sb.dir.path().join("users"), users).unwrap();
    let mut server = Server::start(&sb, &[]);
    let msg = message(&sb, "hello.eml", HELLO);
    let out = server.client(
        "multi",
        &[msg.to_str().unwrap(), "carol@example.com", ALICE],
    );
    assert_eq!(
        strs(&out["rcpt"])[0],
        "451 4.3.0 <carol@example.com> Temporary internal error"
    );
    assert!(strs(&out["data"])[0].ends_with("Saved"));
    std::thread::sleep(Duration::from_millis(200));
    let expected = format!("the user's uid {other} differs from the server's uid");
    assert!(
        server
            .log()
            .iter()
            .any(|l| l.contains(&expected) && l.contains("carol@example.com")),
        "{:?}",
        server.log()
    );
    assert!(!sb.home("carol@example.com").exists());
}

#[test]
fn as_root_the_server_drops_to_mail_uid_and_mail_is_owned_by_it() {
    if !is_root() {
        eprintln!("NOTICE: not root, skipping the privilege-drop test");
        return;
    }
    let sb = sandbox("");
    let mut server = Server::start(&sb, &[]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let uids = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uids.split_whitespace().skip(1).collect::<Vec<_>>(),
        ["65534"; 4]
    );
    let msg = message(&sb, "hello.eml", HELLO);
    server.client("multi", &[msg.to_str().unwrap(), ALICE]);
    let new = sb.maildir(ALICE).join("new");
    for e in std::fs::read_dir(new).unwrap().flatten() {
        assert_eq!(e.metadata().unwrap().uid(), NOBODY);
    }
    assert!(server.log().iter().any(|l| l.contains("(uid 65534)")));
    // Without mail_uid, root serves each user with their own uid: lmtp_uids.rs.
}
