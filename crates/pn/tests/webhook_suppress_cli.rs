//! The webhook driver's `suppress=auto` (RFC 3834 `Auto-Submitted`, `Precedence`) and
//! `suppress=junk` by SPECIAL-USE through the `pn` binary (`pn deliver`, `pn lmtp`), with a
//! real HTTP receiver on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod util;
mod webhook;

use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use util::{Sandbox, http_receiver};
use webhook::*;

/// `mail()` with extra header lines in front.
fn mail_with(headers: &str, from: &str, subject: &str) -> Vec<u8> {
    [headers.as_bytes(), &mail(from, subject)].concat()
}

/// `(path, subject, body length)` of each request until `subject` arrived `times` times.
fn until_seen(
    requests: &mpsc::Receiver<util::Request>,
    subject: &str,
    times: usize,
) -> Vec<(String, String, usize)> {
    let mut got = Vec::new();
    while got.iter().filter(|(_, s, _)| s == subject).count() < times {
        let r = requests
            .recv_timeout(Duration::from_secs(10))
            .expect(subject);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        let path = r.line.split(' ').nth(1).unwrap().to_owned();
        got.push((
            path,
            v["data"]["subject"].as_str().unwrap().to_owned(),
            r.body.len(),
        ));
    }
    got
}

fn subjects<'a>(got: &'a [(String, String, usize)], path: &str) -> Vec<&'a str> {
    got.iter()
        .filter(|(p, _, _)| p == path)
        .map(|(_, s, _)| s.as_str())
        .collect()
}

#[test]
fn automatic_mail_is_suppressed_only_when_asked() {
    let (port, requests) = http_receiver("200 OK");
    let sb = Sandbox::with(&format!(
        "lda_mailbox_autocreate = yes\nplugin {{\n  \
         push_notification_driver2 = webhook:url=http://127.0.0.1:{port}/auto suppress=auto\n  \
         push_notification_driver3 = webhook:url=http://127.0.0.1:{port}/default\n}}\n"
    ));
    let bob = "bob@example.org";
    deliver(
        &sb,
        "INBOX",
        &mail_with("Auto-Submitted: auto-replied\r\n", bob, "auto-replied"),
    );
    deliver(
        &sb,
        "INBOX",
        &mail_with("Precedence: bulk\r\n", bob, "bulk"),
    );
    deliver(
        &sb,
        "INBOX",
        &mail_with("Auto-Submitted: no\r\n", bob, "person"),
    );
    // Same header sizes; "large" carries a 3 MB attachment.
    let small = mail_with("Auto-Submitted: no\r\nMIME-Version: 1.0\r\n", bob, "small");
    deliver(&sb, "INBOX", &small);
    let attachment = "QUFB".repeat(19) + "\r\n";
    let large = format!(
        "Auto-Submitted: no\r\nMIME-Version: 1.0\r\nFrom: Bob Sender <{bob}>\r\nTo: {ALICE}\r\n\
         Subject: large\r\nMessage-ID: <large@example.org>\r\n\
         Date: Tue, 1 Dec 2026 10:00:00 +0100\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
         Content-Type: text/plain\r\n\r\nThe body text of large.\r\n--b\r\n\
         Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {}--b--\r\n",
        attachment.repeat(40_000)
    );
    assert!(large.len() > 3_000_000);
    deliver(&sb, "INBOX", large.as_bytes());
    deliver(&sb, "INBOX", &mail(bob, "last"));
    let got = until_seen(&requests, "last", 2);
    assert_eq!(
        subjects(&got, "/auto"),
        ["person", "small", "large", "last"]
    );
    assert_eq!(
        subjects(&got, "/default"),
        ["auto-replied", "bulk", "person", "small", "large", "last"],
        "without suppress=auto nothing is held back"
    );
    let size = |subject: &str| {
        got.iter()
            .find(|(p, s, _)| p == "/auto" && s == subject)
            .map(|(_, _, n)| *n)
            .unwrap()
    };
    assert_eq!(
        size("large"),
        size("small"),
        "the push does not grow with the attachment"
    );
}

#[test]
fn automatic_mail_over_lmtp_is_suppressed() {
    let (port, requests) = http_receiver("200 OK");
    let sb = sandbox(&format!(
        "webhook:url=http://127.0.0.1:{port}/lmtp suppress=auto,junk"
    ));
    let server = LmtpServer::start(&sb);
    let bob = "bob@example.org";
    let auto = mail_with("Auto-Submitted: auto-generated\r\n", bob, "lmtp-auto");
    let list = mail_with("Precedence: list\r\n", bob, "lmtp-list");
    for msg in [&auto, &list, &mail(bob, "lmtp-person")] {
        let reply = lmtp_send(&server.address, msg);
        assert!(reply.starts_with("250"), "{reply}");
    }
    let got = until_seen(&requests, "lmtp-person", 1);
    drop(server);
    assert_eq!(subjects(&got, "/lmtp"), ["lmtp-person"]);
}

#[test]
fn special_use_junk_and_trash_are_suppressed_under_any_name() {
    let (port, requests) = http_receiver("200 OK");
    let sb = Sandbox::with(&format!(
        "lda_mailbox_autocreate = yes\n\
         namespace inbox {{\n  inbox = yes\n  \
         mailbox \"Spam Folder\" {{\n    special_use = \\Junk\n  }}\n  \
         mailbox Papierkorb {{\n    special_use = \\Trash\n  }}\n  \
         mailbox Drafts {{\n    special_use = \\Drafts\n  }}\n}}\n\
         plugin {{\n  \
         push_notification_driver2 = webhook:url=http://127.0.0.1:{port}/junk\n  \
         push_notification_driver3 = webhook:url=http://127.0.0.1:{port}/none suppress=none\n}}\n"
    ));
    let bob = "bob@example.org";
    for (mailbox, subject) in [
        ("Spam Folder", "spam"),
        ("Papierkorb", "trash"),
        ("Drafts", "drafts"),
        ("Junk", "junk-by-name"),
        ("INBOX", "last"),
    ] {
        deliver(&sb, mailbox, &mail(bob, subject));
    }
    let got = until_seen(&requests, "last", 2);
    assert_eq!(subjects(&got, "/junk"), ["drafts", "last"]);
    assert_eq!(
        subjects(&got, "/none"),
        ["spam", "trash", "drafts", "junk-by-name", "last"]
    );
}
