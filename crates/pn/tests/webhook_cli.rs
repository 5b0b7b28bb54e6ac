//! The webhook driver end to end through the `pn` binary, checked by parts nobody here wrote:
//! every event type produced by `pn deliver`, `pn save`, `pn flags`, `pn expunge`,
//! `pn mailbox …` and `pn lmtp` arrives at a real HTTP receiver that checks the signatures
//! with the Standard Webhooks reference library (PyPI `standardwebhooks`, and the Rust crate
//! `standardwebhooks`) and the bodies against docs/webhook-event.v1.schema.json with PyPI
//! `jsonschema`. Filters, presets and secrets are in `webhook_rules_cli.rs`.
//!
//! The Python tests skip (with a message naming the packages) when
//! `python3 -m pip install standardwebhooks jsonschema` has not been run.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod util;
mod webhook;

use std::process::Command;
use std::time::Duration;

use util::http_receiver;
use webhook::*;

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

#[test]
fn lmtp_deliveries_push_valid_events() {
    let Some(rx) = PyReceiver::start(&[NEW_SECRET, OLD_SECRET, OTHER_SECRET], 0) else {
        return;
    };
    let sb = sandbox(&format!(
        "webhook:url=http://127.0.0.1:{}/lmtp secret={NEW_SECRET},{OLD_SECRET}",
        rx.port
    ));
    let server = LmtpServer::start(&sb);
    let reply = lmtp_send(&server.address, &mail("bob@example.org", "via-lmtp"));
    let r = rx.next();
    drop(server);
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
