//! Every request body real Dovecot 2.3.19.1 sent, reproduced byte for byte from the message:
//! `pn_message::RawMessage` fills the MessageNew data, `payload::write_message_new` writes it.
//! Only what changes between runs is taken from the capture itself: user, uid, uidvalidity,
//! unseen.

use std::path::Path;

use pn_driver_ox::payload::write_message_new;
use pn_event::{EventData, MessageData, MessageFields, MessageSource, MessageTxnData};
use pn_message::RawMessage;
use serde_json::Value;

fn data_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ox"))
}

/// The ox driver's fields: `HDR_FROM | HDR_SUBJECT | BODY_SNIPPET`.
fn ox_fields() -> MessageFields {
    MessageFields::FROM | MessageFields::SUBJECT | MessageFields::SNIPPET
}

fn to_crlf(lf: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(lf.len() + lf.len() / 16);
    for &b in lf {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

#[test]
fn every_captured_body_is_reproduced_byte_for_byte() {
    let text = std::fs::read_to_string(data_dir().join("bodies.json")).expect("bodies.json");
    let all: Value = serde_json::from_str(&text).expect("json");
    let all = all.as_object().expect("object");
    assert_eq!(all.len(), 20, "one entry per .eml");
    let mut compared = 0;
    for (eml, captures) in all {
        let lf = std::fs::read(data_dir().join(eml)).expect("eml");
        for cap in captures.as_array().expect("captures") {
            let label = cap["label"].as_str().expect("label");
            let bytes = if cap["via"] == "lmtp" {
                to_crlf(&lf)
            } else {
                lf.clone()
            };
            let mailbox = cap["mailbox"].as_str().expect("mailbox");
            let bodies = cap["bodies"].as_array().expect("bodies");
            if mailbox != "INBOX" {
                // The ox driver only watches INBOX (its begin_txn filter): no request at all.
                assert!(bodies.is_empty(), "{eml} {label}: a push for {mailbox}");
                continue;
            }
            assert_eq!(bodies.len(), 1, "{eml} {label}");
            let expected = bodies[0].as_str().expect("body");
            let parsed: Value = serde_json::from_str(expected).expect("captured body is JSON");
            let num =
                |k: &str| -> u32 { u32::try_from(parsed[k].as_u64().expect(k)).expect("u32") };

            let mut data = MessageData::default();
            RawMessage(&bytes).fill(ox_fields(), &mut data);
            let msg = MessageTxnData {
                mailbox: mailbox.to_owned(),
                uid: num("imap-uid"),
                uid_validity: num("imap-uidvalidity"),
                events: vec![EventData::MessageNew(data)],
            };
            let user = parsed["user"].as_str().expect("user");
            let unseen = parsed.get("unseen").map(|_| num("unseen"));
            let mut out = Vec::new();
            write_message_new(&mut out, user.as_bytes(), &msg, unseen);
            assert_eq!(
                String::from_utf8_lossy(&out),
                expected,
                "{eml} {label}: body differs"
            );
            assert_eq!(out, expected.as_bytes(), "{eml} {label}: bytes differ");
            compared += 1;
        }
    }
    assert_eq!(compared, 19 * 4, "every INBOX capture compared");
}

#[test]
fn the_buffer_is_reusable() {
    let msg = MessageTxnData {
        mailbox: "INBOX".into(),
        uid: 1,
        uid_validity: 2,
        events: vec![EventData::MessageNew(MessageData::default())],
    };
    let mut out = Vec::new();
    write_message_new(&mut out, b"u", &msg, Some(3));
    let first = out.clone();
    out.clear();
    write_message_new(&mut out, b"u", &msg, Some(3));
    assert_eq!(out, first);
    assert_eq!(
        out,
        br#"{"user":"u","event":"messageNew","folder":"INBOX","imap-uidvalidity":2,"imap-uid":1,"unseen":3}"#
    );
}
