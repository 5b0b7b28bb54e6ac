//! End to end through the `pn` binary: per-user enablement set with `pn mailbox metadata set`,
//! deliveries with `pn deliver`, and the ox driver's requests arriving at a real HTTP receiver
//! on 127.0.0.1 — compared byte for byte with what Dovecot 2.3.19 sent for the same messages.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod util;

use std::time::Duration;

use util::{Sandbox, dlog, http_receiver as receiver, message_data, stderr};

const ALICE: &str = "alice@example.com";
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ox");

fn sandbox(port: u16, args: &str) -> Sandbox {
    Sandbox::with(&format!(
        "lda_mailbox_autocreate = yes\n\
         plugin {{\n  push_notification_driver2 = ox:url=http://login:pass@127.0.0.1:{port}/preliminary/http-notify/v1/notify{args}\n}}\n"
    ))
}

fn enable(sb: &Sandbox, value: &str) {
    let out = sb.pn(
        &[
            "mailbox",
            "metadata",
            "set",
            "-u",
            ALICE,
            "-s",
            "",
            "/private/vendor/vendor.dovecot/http-notify",
            value,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

fn deliver(sb: &Sandbox, mailbox: &str, eml: &str) -> std::process::Output {
    let path = format!("{DATA}/{eml}");
    let mut args = vec![
        "deliver",
        "-d",
        ALICE,
        "-f",
        "sender@example.org",
        "-p",
        &path,
    ];
    if mailbox != "INBOX" {
        args.extend(["-m", mailbox]);
    }
    let out = sb.pn(&args, None);
    assert_eq!(out.status.code(), Some(0), "{eml}: {}", stderr(&out));
    out
}

#[test]
fn deliveries_push_what_dovecot_pushed_byte_for_byte() {
    let (port, requests) = receiver("200 OK");
    let sb = sandbox(port, "");
    enable(&sb, "user=11@3");
    let expected = std::fs::read_to_string(format!("{DATA}/expected.txt")).unwrap();
    let mut checked = 0;
    for line in expected.lines().filter(|l| !l.starts_with('#')) {
        let mut fields = line.splitn(3, '\t');
        let (eml, mailbox, body) = (
            fields.next().unwrap(),
            fields.next().unwrap(),
            fields.next().unwrap(),
        );
        let out = deliver(&sb, mailbox, eml);
        let uidvalidity = message_data(&dlog(&out), mailbox)[0].1;
        if body == "-" {
            assert!(
                requests.recv_timeout(Duration::from_millis(300)).is_err(),
                "{eml}: no push for a delivery to {mailbox}"
            );
            continue;
        }
        let got = requests.recv_timeout(Duration::from_secs(10)).expect(eml);
        assert_eq!(got.line, "PUT /preliminary/http-notify/v1/notify HTTP/1.1");
        let names: Vec<&str> = got
            .headers
            .iter()
            .map(|h| h.split(':').next().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "Host",
                "Date",
                "Authorization",
                "Content-Length",
                "Connection",
                "Content-Type"
            ],
            "{eml}: headers in Dovecot's order"
        );
        assert_eq!(got.headers[2], "Authorization: Basic bG9naW46cGFzcw==");
        assert_eq!(got.headers[4], "Connection: Keep-Alive");
        assert_eq!(
            got.headers[5],
            "Content-Type: application/json; charset=utf-8"
        );
        let want = body.replace("{UIDVALIDITY}", &uidvalidity.to_string());
        assert_eq!(
            String::from_utf8_lossy(&got.body),
            want,
            "{eml}: body differs from Dovecot's"
        );
        checked += 1;
    }
    assert_eq!(checked, 19, "every captured request was compared");
}

#[test]
fn without_metadata_nothing_is_pushed_and_delivery_still_succeeds() {
    let (port, requests) = receiver("200 OK");
    let sb = sandbox(port, "");
    let out = deliver(&sb, "INBOX", "01-plain-ascii.eml");
    assert!(requests.recv_timeout(Duration::from_millis(300)).is_err());
    assert!(sb.files(ALICE, "").len() == 1, "{}", stderr(&out));
}

#[test]
fn a_failing_endpoint_never_fails_the_delivery_and_the_secret_stays_out_of_the_log() {
    let (port, requests) = receiver("500 Internal Server Error");
    let sb = sandbox(port, " max_retries=0");
    enable(&sb, "user=11@3");
    let out = deliver(&sb, "INBOX", "01-plain-ascii.eml");
    assert!(requests.recv_timeout(Duration::from_secs(10)).is_ok());
    let log = stderr(&out);
    assert!(
        log.contains("Error when sending notification: 500 Internal Server Error"),
        "{log}"
    );
    assert!(
        !log.contains("login:pass"),
        "the URL's password is never logged: {log}"
    );

    // Not even with every debug line on. (Dovecot's fire and forget: with the durable
    // outbox this push would wait behind the first one's retry, in event order.)
    let path = format!("{DATA}/01-plain-ascii.eml");
    let out = sb.pn(
        &[
            "-o",
            "pn_outbox=memory",
            "--log",
            "trace",
            "deliver",
            "-d",
            ALICE,
            "-p",
            &path,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(requests.recv_timeout(Duration::from_secs(10)).is_ok());
    let log = stderr(&out);
    assert!(
        log.contains("Sending notification"),
        "debug lines are on: {log}"
    );
    assert!(
        !log.contains("pass@"),
        "the URL's password is never logged: {log}"
    );
    assert!(
        !log.contains("bG9naW46cGFzcw"),
        "nor the Authorization header: {log}"
    );
}

#[test]
fn user_from_metadata_sends_the_metadata_user() {
    let (port, requests) = receiver("200 OK");
    let sb = sandbox(port, " user_from_metadata");
    enable(&sb, "user=11@3");
    deliver(&sb, "INBOX", "01-plain-ascii.eml");
    let got = requests.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        got.body
            .starts_with(br#"{"user":"11@3","event":"messageNew","folder":"INBOX""#),
        "{}",
        String::from_utf8_lossy(&got.body)
    );
}
