//! The webhook driver end to end through the `pn` binary: every event type produced by
//! `pn deliver`, `pn save`, `pn flags`, `pn expunge`, `pn mailbox …` and `pn lmtp` arrives at a
//! real HTTP receiver that checks the signatures with the Standard Webhooks reference library
//! (PyPI `standardwebhooks`) and the bodies against docs/webhook-event.v1.schema.json with
//! PyPI `jsonschema`; ntfy and Gotify requests; filters, suppression, rate coalescing, the
//! SSRF refusal of per-user endpoints, and secrets kept out of trace logs.
//!
//! The Python tests skip (with a message naming the packages) when
//! `python3 -m pip install standardwebhooks jsonschema` has not been run.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod util;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use util::{Sandbox, http_receiver, stderr, stdout};

const ALICE: &str = "alice@example.com";
const SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/webhook-event.v1.schema.json"
);
const RECEIVER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/webhook/receiver.py"
);
/// The Standard Webhooks specification's example secret.
const NEW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// base64("second secret for rotation")
const OLD_SECRET: &str = "whsec_c2Vjb25kIHNlY3JldCBmb3Igcm90YXRpb24=";
/// base64("unrelated key"): not configured, must not verify.
const OTHER_SECRET: &str = "whsec_dW5yZWxhdGVkIGtleQ==";
const ALL_EVENTS: &str = "FlagsClear,FlagsSet,MailboxCreate,MailboxDelete,MailboxRename,\
MailboxSubscribe,MailboxUnsubscribe,MessageAppend,MessageExpunge,MessageNew,MessageRead,MessageTrash";

fn mail(from: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: Bob Sender <{from}>\r\nTo: {ALICE}\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.org>\r\nDate: Tue, 1 Dec 2026 10:00:00 +0100\r\n\r\n\
         The body text of {subject}.\r\n"
    )
    .into_bytes()
}

/// The Python receiver; `None` (after saying why) when its packages are missing.
struct PyReceiver {
    child: Child,
    port: u16,
    lines: mpsc::Receiver<Value>,
}

impl Drop for PyReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PyReceiver {
    fn start(secrets: &[&str], fail_first: u32) -> Option<PyReceiver> {
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

    fn next(&self) -> Value {
        self.lines
            .recv_timeout(Duration::from_secs(10))
            .expect("a request")
    }

    /// Requests until `done` says the last one is the final one expected.
    fn until(&self, done: impl Fn(&Value) -> bool) -> Vec<Value> {
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
fn until_subject(requests: &mpsc::Receiver<util::Request>, subject: &str) -> Vec<Value> {
    until_subject_raw(requests, subject)
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

/// [`until_subject`] with the requests as they arrived.
fn until_subject_raw(
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

fn sandbox(driver: &str) -> Sandbox {
    Sandbox::with(&format!(
        "lda_mailbox_autocreate = yes\nplugin {{\n  push_notification_driver2 = {driver}\n}}\n"
    ))
}

fn ok(out: &std::process::Output) {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
}

fn deliver(sb: &Sandbox, mailbox: &str, msg: &[u8]) -> std::process::Output {
    let out = sb.pn(&["deliver", "-d", ALICE, "-m", mailbox], Some(msg));
    ok(&out);
    out
}

/// Checks what every standard request must satisfy and returns its body.
fn check_standard(r: &Value) -> Value {
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

#[test]
fn every_event_type_verifies_with_the_reference_library_and_validates() {
    let Some(rx) = PyReceiver::start(&[NEW_SECRET, OLD_SECRET, OTHER_SECRET], 0) else {
        return;
    };
    let sb = sandbox(&format!(
        "webhook:url=http://127.0.0.1:{}/hook secret={NEW_SECRET},{OLD_SECRET} \
         events={ALL_EVENTS} suppress=none snippet=yes",
        rx.port
    ));
    deliver(&sb, "INBOX", &mail("bob@example.org", "first"));
    ok(&sb.pn(
        &["save", "-u", ALICE],
        Some(&mail("bob@example.org", "second")),
    ));
    let flags = |op: &str, f: &str| {
        ok(&sb.pn(
            &[
                "flags", op, "-u", ALICE, f, "mailbox", "INBOX", "uid", "1:2",
            ],
            None,
        ));
    };
    flags("add", "\\Seen \\Deleted $Important");
    flags("remove", "\\Seen $Important");
    ok(&sb.pn(
        &["expunge", "-u", ALICE, "mailbox", "INBOX", "uid", "2"],
        None,
    ));
    for args in [
        &["create", "Work"][..],
        &["rename", "Work", "Play"],
        &["subscribe", "Play"],
        &["unsubscribe", "Play"],
        &["delete", "Play"],
    ] {
        let mut full = vec!["mailbox", args[0], "-u", ALICE];
        full.extend_from_slice(&args[1..]);
        ok(&sb.pn(&full, None));
    }
    // The last command's event ends the list.
    let requests = rx.until(|r| r["json"]["type"] == "mail.mailbox.delete");
    let mut types: Vec<String> = Vec::new();
    for r in &requests {
        assert_eq!(r["path"], "/hook");
        let body = check_standard(r);
        let t = body["type"].as_str().unwrap().to_owned();
        let d = &body["data"];
        assert_eq!(d["user"], ALICE);
        match t.as_str() {
            "mail.message.new" => {
                assert_eq!(d["subject"], "first");
                assert_eq!(d["from"]["address"], "bob@example.org");
                assert_eq!(d["from"]["name"], "Bob Sender");
                assert_eq!(d["message_id"], "<first@example.org>");
                assert_eq!(d["date"], "2026-12-01T10:00:00+01:00");
                assert_eq!(d["snippet"], "The body text of first.");
                assert_eq!(d["unseen"], 1);
            }
            "mail.flags.set" => {
                assert_eq!(d["uids"], serde_json::json!([1, 2]), "one push for both");
                assert_eq!(d["flags"], serde_json::json!(["\\Deleted", "\\Seen"]));
                assert_eq!(d["keywords"], serde_json::json!(["$Important"]));
            }
            "mail.mailbox.rename" => {
                assert_eq!(
                    (d["old_mailbox"].as_str(), d["mailbox"].as_str()),
                    (Some("Work"), Some("Play"))
                );
            }
            _ => {}
        }
        if !types.contains(&t) {
            types.push(t);
        }
    }
    let mut all: Vec<&str> = [
        "mail.message.new",
        "mail.message.append",
        "mail.message.expunge",
        "mail.message.read",
        "mail.message.trash",
        "mail.flags.set",
        "mail.flags.clear",
        "mail.mailbox.create",
        "mail.mailbox.delete",
        "mail.mailbox.rename",
        "mail.mailbox.subscribe",
        "mail.mailbox.unsubscribe",
    ]
    .to_vec();
    all.sort_unstable();
    types.sort();
    assert_eq!(types, all, "all twelve RFC 5423 events were pushed");
    let clear = requests
        .iter()
        .map(|r| &r["json"])
        .find(|b| {
            b["type"] == "mail.flags.clear" && b["data"]["flags"] == serde_json::json!(["\\Seen"])
        })
        .expect("the FlagsClear of pn flags remove");
    assert_eq!(clear["data"]["keywords"], serde_json::json!(["$Important"]));
    assert!(
        clear["data"]["old_flags"]
            .as_array()
            .unwrap()
            .contains(&"\\Seen".into())
    );
}

#[test]
fn retries_keep_the_event_id_and_sign_each_attempt() {
    let Some(rx) = PyReceiver::start(&[NEW_SECRET, OLD_SECRET, OTHER_SECRET], 1) else {
        return;
    };
    let sb = sandbox(&format!(
        "webhook:url=http://127.0.0.1:{}/hook secret={NEW_SECRET},{OLD_SECRET} max_retries=2",
        rx.port
    ));
    deliver(&sb, "INBOX", &mail("bob@example.org", "retry"));
    let (first, second) = (rx.next(), rx.next());
    check_standard(&first);
    check_standard(&second);
    assert_eq!(
        first["headers"]["webhook-id"], second["headers"]["webhook-id"],
        "the same id on every attempt"
    );
    assert_eq!(first["body"], second["body"]);
}

/// A message with no header fields for the schema run through LMTP.
fn lmtp_send(address: &str, msg: &[u8]) -> String {
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

#[test]
fn lmtp_deliveries_push_valid_events() {
    let Some(rx) = PyReceiver::start(&[NEW_SECRET, OLD_SECRET, OTHER_SECRET], 0) else {
        return;
    };
    let sb = sandbox(&format!(
        "webhook:url=http://127.0.0.1:{}/lmtp secret={NEW_SECRET},{OLD_SECRET}",
        rx.port
    ));
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
    let reply = lmtp_send(address.trim(), &mail("bob@example.org", "via-lmtp"));
    let r = rx.next();
    let _ = child.kill();
    let _ = child.wait();
    assert!(reply.starts_with("250"), "{reply}");
    assert_eq!(r["path"], "/lmtp");
    let body = check_standard(&r);
    assert_eq!(body["type"], "mail.message.new");
    assert_eq!(body["data"]["subject"], "via-lmtp");
    assert!(
        body["data"].get("snippet").is_none(),
        "no snippet unless asked"
    );
}

#[test]
fn ntfy_and_gotify_requests_follow_their_apis() {
    let (port, requests) = http_receiver("200 OK");
    let sb = Sandbox::with(&format!(
        "lda_mailbox_autocreate = yes\nplugin {{\n  \
         push_notification_driver2 = webhook:format=ntfy url=http://127.0.0.1:{port}/ topic=mail-alice token=tk_ntfysecret123 priority=4\n  \
         push_notification_driver3 = webhook:format=gotify url=http://127.0.0.1:{port}/gotify/ token=AgotifyAppToken9 priority=8\n}}\n"
    ));
    deliver(&sb, "INBOX", &mail("bob@example.org", "Lunch?"));
    let header = |r: &util::Request, name: &str| {
        r.headers
            .iter()
            .find_map(|h| h.strip_prefix(&format!("{name}: ")).map(str::to_owned))
    };
    // The two drivers' requests may arrive in either order.
    let mut got = [
        requests.recv_timeout(Duration::from_secs(10)).unwrap(),
        requests.recv_timeout(Duration::from_secs(10)).unwrap(),
    ];
    got.sort_by(|a, b| a.line.cmp(&b.line));
    let [ntfy, gotify] = got;
    assert_eq!(
        ntfy.line, "POST / HTTP/1.1",
        "ntfy's JSON publish goes to the root URL"
    );
    assert_eq!(
        header(&ntfy, "Authorization").as_deref(),
        Some("Bearer tk_ntfysecret123")
    );
    assert_eq!(
        header(&ntfy, "Content-Type").as_deref(),
        Some("application/json")
    );
    let v: Value = serde_json::from_slice(&ntfy.body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"topic": "mail-alice", "title": "Bob Sender", "message": "Lunch?",
                           "priority": 4, "tags": ["envelope"]})
    );
    assert_eq!(gotify.line, "POST /gotify/message HTTP/1.1");
    assert_eq!(
        header(&gotify, "X-Gotify-Key").as_deref(),
        Some("AgotifyAppToken9")
    );
    assert_eq!(
        header(&gotify, "Content-Type").as_deref(),
        Some("application/json")
    );
    let v: Value = serde_json::from_slice(&gotify.body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"title": "Bob Sender", "message": "Lunch?", "priority": 8})
    );
}

#[test]
fn filters_and_suppression() {
    let (port, requests) = http_receiver("200 OK");
    let sb = sandbox(&format!(
        "webhook:url=http://127.0.0.1:{port}/ mailboxes=INBOX,Junk,Work suppress=junk,self,seen"
    ));
    deliver(&sb, "Other", &mail("bob@example.org", "other-folder"));
    deliver(&sb, "Junk", &mail("bob@example.org", "junk-folder"));
    deliver(&sb, "INBOX", &mail(ALICE, "to-myself"));
    deliver(&sb, "Work", &mail("bob@example.org", "work"));
    deliver(&sb, "INBOX", &mail("bob@example.org", "inbox"));
    // Flags are not subscribed (events= defaults to MessageNew).
    ok(&sb.pn(
        &[
            "flags", "add", "-u", ALICE, "\\Seen", "mailbox", "INBOX", "all",
        ],
        None,
    ));
    deliver(&sb, "INBOX", &mail("bob@example.org", "last"));
    let got: Vec<Value> = until_subject(&requests, "last");
    let subjects: Vec<&str> = got
        .iter()
        .map(|v| v["data"]["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["work", "inbox", "last"]);
}

#[test]
fn rate_limit_coalesces_into_the_next_push() {
    let (port, requests) = http_receiver("200 OK");
    let sb = sandbox(&format!("webhook:url=http://127.0.0.1:{port}/ rate=1h"));
    for s in ["one", "two", "three"] {
        deliver(&sb, "INBOX", &mail("bob@example.org", s));
    }
    let first = until_subject(&requests, "one");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["data"]["coalesced"], 0);
    let key = "/private/vendor/vendor.pn/webhook-rate/push_notification_driver2";
    let out = sb.pn(
        &["mailbox", "metadata", "get", "-u", ALICE, "-s", "", key],
        None,
    );
    ok(&out);
    let state = stdout(&out);
    let pending = state.split_whitespace().nth(1).expect(&state);
    assert_eq!(pending, "2", "two deliveries held back and counted");
    // The hour has passed: the admin rewinds the last push, as time would.
    ok(&sb.pn(
        &[
            "mailbox",
            "metadata",
            "set",
            "-u",
            ALICE,
            "-s",
            "",
            key,
            &format!("1 {pending}"),
        ],
        None,
    ));
    deliver(&sb, "INBOX", &mail("bob@example.org", "four"));
    let next = until_subject(&requests, "four");
    assert_eq!(next.len(), 1, "two and three were held back: {next:?}");
    let next = &next[0];
    assert_eq!(
        next["data"]["coalesced"], 2,
        "the held-back deliveries are counted"
    );
}

fn set_subscriptions(sb: &Sandbox, value: &str) {
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

#[test]
fn per_user_endpoints_on_private_addresses_are_refused_unless_allowed() {
    let (port, requests) = http_receiver("200 OK");
    let doc = format!(
        r#"{{"endpoints":[{{"url":"http://127.0.0.1:{port}/mine","secrets":["{NEW_SECRET}"],"mailboxes":["INBOX"]}}]}}"#
    );
    let sb = sandbox("webhook:metadata=yes");
    set_subscriptions(&sb, &doc);
    let out = deliver(&sb, "INBOX", &mail("bob@example.org", "refused"));
    assert!(
        stderr(&out).contains("endpoint 0: refused: loopback destination"),
        "{}",
        stderr(&out)
    );

    let sb = Sandbox::with(
        "lda_mailbox_autocreate = yes\nplugin {\n  push_notification_driver2 = webhook:metadata=yes\n  \
         pn_webhook_allow_private = yes\n}\n",
    );
    set_subscriptions(&sb, &doc);
    deliver(&sb, "Work", &mail("bob@example.org", "filtered"));
    deliver(&sb, "INBOX", &mail("bob@example.org", "allowed"));
    let got = until_subject_raw(&requests, "allowed");
    assert_eq!(
        got.len(),
        1,
        "nothing sent to loopback before it was allowed, nor for Work (the user's filter)"
    );
    let (got, v) = &got[0];
    assert_eq!(got.line, "POST /mine HTTP/1.1");
    assert!(
        got.headers
            .iter()
            .any(|h| h.to_ascii_lowercase().starts_with("webhook-signature: v1,")),
        "{:?}",
        got.headers
    );
    assert_eq!(v["data"]["subject"], "allowed");
}

#[test]
fn secrets_and_tokens_never_reach_the_log() {
    let (port, requests) = http_receiver("200 OK");
    let doc = format!(
        r#"{{"endpoints":[{{"url":"http://127.0.0.1:{port}/u","secrets":["{OLD_SECRET}"]}}]}}"#
    );
    let sb = Sandbox::with(&format!(
        "lda_mailbox_autocreate = yes\nplugin {{\n  \
         push_notification_driver2 = webhook:url=http://127.0.0.1:{port}/s secret={NEW_SECRET} metadata=yes\n  \
         push_notification_driver3 = webhook:format=gotify url=http://127.0.0.1:{port}/ token=AgotifyAppToken9\n  \
         pn_webhook_allow_private = yes\n}}\n"
    ));
    set_subscriptions(&sb, &doc);
    let out = sb.pn(
        &["--log", "trace", "deliver", "-d", ALICE, "-m", "INBOX"],
        Some(&mail("bob@example.org", "trace")),
    );
    ok(&out);
    for _ in 0..3 {
        requests
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("three requests: {}", stderr(&out)));
    }
    let log = stderr(&out);
    assert!(
        log.contains("pn_driver_webhook"),
        "trace output has the driver's lines"
    );
    for secret in [
        NEW_SECRET,
        OLD_SECRET,
        "AgotifyAppToken9",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
    let listing = sb.pn(&["config", "drivers"], None);
    ok(&listing);
    for secret in [NEW_SECRET, "AgotifyAppToken9"] {
        assert!(!stdout(&listing).contains(secret), "{}", stdout(&listing));
    }
}

#[test]
fn config_check_reports_webhook_errors_at_their_line() {
    let sb = sandbox("webhook:url=https://hooks.example.com/ evnts=MessageNew");
    let out = sb.pn(&["config", "check"], None);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    let err = stderr(&out);
    let conf = sb.conf.display().to_string();
    assert!(
        err.contains(&format!("{conf}:"))
            && err.contains(": push_notification_driver2: webhook: unknown argument \"evnts\""),
        "{err}"
    );
    let good = sandbox(&format!(
        "webhook:url=https://hooks.example.com/ secret={NEW_SECRET} events=MessageNew,FlagsSet mailboxes=INBOX,Work"
    ));
    let out = good.pn(&["config", "check"], None);
    ok(&out);
    assert!(
        !stderr(&out).contains("Unknown push notification driver"),
        "{}",
        stderr(&out)
    );
}

/// The same check with the Rust reference crate (`standardwebhooks` on crates.io), as in the
/// Rust receiver of docs/webhook.md.
#[test]
fn signatures_verify_with_the_rust_reference_crate() {
    let (port, requests) = http_receiver("200 OK");
    let sb = sandbox(&format!(
        "webhook:url=http://127.0.0.1:{port}/hook secret={NEW_SECRET},{OLD_SECRET}"
    ));
    deliver(&sb, "INBOX", &mail("bob@example.org", "rust"));
    let r = requests.recv_timeout(Duration::from_secs(10)).unwrap();
    let mut headers = http::HeaderMap::new();
    for h in &r.headers {
        let (name, value) = h.split_once(": ").unwrap();
        headers.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_str(value).unwrap(),
        );
    }
    let verify = |secret: &str, body: &[u8]| {
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(body, &headers)
            .is_ok()
    };
    assert!(verify(NEW_SECRET, &r.body), "the new key verifies");
    assert!(
        verify(OLD_SECRET, &r.body),
        "the old key verifies during the rotation"
    );
    assert!(!verify(OTHER_SECRET, &r.body), "another key does not");
    let mut tampered = r.body.clone();
    let last = tampered.len() - 2;
    tampered[last] ^= 1;
    assert!(!verify(NEW_SECRET, &tampered), "a tampered body fails");
}

/// Without its packages the receiver says what to install and exits 77, which the tests above
/// turn into a skip with that message (`python3 -S` hides site-packages).
#[test]
fn the_receiver_names_its_packages_when_they_are_missing() {
    let out = Command::new("python3")
        .args(["-S", RECEIVER, SCHEMA])
        .output()
        .expect("python3");
    assert_eq!(out.status.code(), Some(77));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.starts_with("SKIP ")
            && said.contains("python3 -m pip install standardwebhooks jsonschema"),
        "{said}"
    );
}
