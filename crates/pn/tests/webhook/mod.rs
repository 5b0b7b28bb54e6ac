//! Shared parts of the webhook tests: the Python receiver (reference verifier and schema
//! validator), messages, sandboxes and request helpers.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::util::{self, Sandbox, stderr};

pub(crate) const ALICE: &str = "alice@example.com";
pub(crate) const SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/webhook-event.v1.schema.json"
);
pub(crate) const RECEIVER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/webhook/receiver.py"
);
/// The Standard Webhooks specification's example secret.
pub(crate) const NEW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// base64("second secret for rotation")
pub(crate) const OLD_SECRET: &str = "whsec_c2Vjb25kIHNlY3JldCBmb3Igcm90YXRpb24=";
/// base64("unrelated key"): not configured, must not verify.
pub(crate) const OTHER_SECRET: &str = "whsec_dW5yZWxhdGVkIGtleQ==";
pub(crate) const ALL_EVENTS: &str = "FlagsClear,FlagsSet,MailboxCreate,MailboxDelete,MailboxRename,\
MailboxSubscribe,MailboxUnsubscribe,MessageAppend,MessageExpunge,MessageNew,MessageRead,MessageTrash";

pub(crate) fn mail(from: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: Bob Sender <{from}>\r\nTo: {ALICE}\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.org>\r\nDate: Tue, 1 Dec 2026 10:00:00 +0100\r\n\r\n\
         The body text of {subject}.\r\n"
    )
    .into_bytes()
}

/// The Python receiver; `None` (after saying why) when its packages are missing.
pub(crate) struct PyReceiver {
    child: Child,
    pub(crate) port: u16,
    lines: mpsc::Receiver<Value>,
}

impl Drop for PyReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PyReceiver {
    pub(crate) fn start(secrets: &[&str], fail_first: u32) -> Option<PyReceiver> {
        let mut child = Command::new("python3")
            .arg(RECEIVER)
            .arg(SCHEMA)
            .args(secrets)
            .env("FAIL_FIRST", fail_first.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        if let Some(why) = first.strip_prefix("SKIP ") {
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "skipped: {}CI needs the PyPI packages standardwebhooks and jsonschema",
                    why
                );
            }
            let _ = child.wait();
            return None;
        }
        let port = first
            .trim()
            .strip_prefix("PORT ")
            .unwrap_or_else(|| panic!("receiver said {first:?}"))
            .parse()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { return };
                if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                    return;
                }
            }
        });
        Some(PyReceiver { child, port, lines })
    }

    pub(crate) fn next(&self) -> Value {
        self.lines
            .recv_timeout(Duration::from_secs(10))
            .expect("a request")
    }

    /// Requests until `done` says the last one is the final one expected.
    pub(crate) fn until(&self, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut got = Vec::new();
        loop {
            let r = self.next();
            let last = done(&r);
            got.push(r);
            if last {
                return got;
            }
        }
    }
}

/// Requests (standard bodies) until one with this subject; the commands before it have all
/// exited, so anything they sent arrived before it.
pub(crate) fn until_subject(requests: &mpsc::Receiver<util::Request>, subject: &str) -> Vec<Value> {
    until_subject_raw(requests, subject)
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

/// [`until_subject`] with the requests as they arrived.
pub(crate) fn until_subject_raw(
    requests: &mpsc::Receiver<util::Request>,
    subject: &str,
) -> Vec<(util::Request, Value)> {
    let mut got = Vec::new();
    loop {
        let r = requests
            .recv_timeout(Duration::from_secs(10))
            .expect(subject);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        let last = v["data"]["subject"] == subject;
        got.push((r, v));
        if last {
            return got;
        }
    }
}

pub(crate) fn sandbox(driver: &str) -> Sandbox {
    Sandbox::with(&format!(
        "lda_mailbox_autocreate = yes\nplugin {{\n  push_notification_driver2 = {driver}\n}}\n"
    ))
}

pub(crate) fn ok(out: &std::process::Output) {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
}

pub(crate) fn deliver(sb: &Sandbox, mailbox: &str, msg: &[u8]) -> std::process::Output {
    let out = sb.pn(&["deliver", "-d", ALICE, "-m", mailbox], Some(msg));
    ok(&out);
    out
}

/// Checks what every standard request must satisfy and returns its body.
pub(crate) fn check_standard(r: &Value) -> Value {
    assert_eq!(r["method"], "POST");
    assert_eq!(r["headers"]["content-type"], "application/json");
    assert_eq!(r["schema_error"], Value::Null, "{}", r["body"]);
    assert_eq!(
        r["verified"],
        serde_json::json!([true, true, false]),
        "either configured key verifies, the unrelated one does not: {r}"
    );
    assert_eq!(
        r["tampered"],
        serde_json::json!([false, false, false]),
        "a tampered body never verifies"
    );
    let id = r["headers"]["webhook-id"].as_str().unwrap();
    assert!(pn_core::EventId::parse(id).is_some(), "{id}");
    r["json"].clone()
}

/// A message with no header fields for the schema run through LMTP.
pub(crate) fn lmtp_send(address: &str, msg: &[u8]) -> String {
    let mut s = TcpStream::connect(address).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut transcript = String::new();
    let mut read = |reader: &mut BufReader<TcpStream>| loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        transcript.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return line;
        }
    };
    assert!(read(&mut reader).starts_with("220"));
    for cmd in [
        "LHLO test\r\n".to_owned(),
        "MAIL FROM:<bob@example.org>\r\n".to_owned(),
        format!("RCPT TO:<{ALICE}>\r\n"),
        "DATA\r\n".to_owned(),
    ] {
        s.write_all(cmd.as_bytes()).unwrap();
        let reply = read(&mut reader);
        assert!(
            reply.starts_with('2') || reply.starts_with('3'),
            "{cmd}: {reply}"
        );
    }
    s.write_all(msg).unwrap();
    s.write_all(b".\r\n").unwrap();
    let reply = read(&mut reader);
    s.write_all(b"QUIT\r\n").unwrap();
    reply
}

pub(crate) fn set_subscriptions(sb: &Sandbox, value: &str) {
    ok(&sb.pn(
        &[
            "mailbox",
            "metadata",
            "set",
            "-u",
            ALICE,
            "-s",
            "",
            "/private/vendor/vendor.pn/webhook",
            value,
        ],
        None,
    ));
}

/// A `pn lmtp` server on 127.0.0.1 for the sandbox's users (killed on drop) and its address.
pub(crate) struct LmtpServer {
    child: Child,
    pub(crate) address: String,
}

impl Drop for LmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LmtpServer {
    pub(crate) fn start(sb: &Sandbox) -> LmtpServer {
        let root = rustix::process::geteuid().is_root();
        if root {
            // The server runs as nobody: let it write the homes.
            sb.write_users(65534, 65534);
            let home = sb.dir.path().join("home");
            std::fs::create_dir_all(&home).unwrap();
            std::os::unix::fs::chown(&home, Some(65534), Some(65534)).unwrap();
            let mut perms = std::fs::metadata(sb.dir.path()).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
            std::fs::set_permissions(sb.dir.path(), perms).unwrap();
        }
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pn"));
        cmd.arg("-c").arg(&sb.conf);
        if root {
            cmd.args(["-o", "mail_uid=65534", "-o", "mail_gid=65534"]);
        }
        let mut child = cmd
            .args(["lmtp", "--listen", "127.0.0.1:0", "--print-address"])
            .env_remove("PN_CONFIG")
            .env_remove("PN_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut address = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        LmtpServer {
            child,
            address: address.trim().to_owned(),
        }
    }
}
