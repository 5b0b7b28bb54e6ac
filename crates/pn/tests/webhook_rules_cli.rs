//! The webhook driver's rules through the `pn` binary with real receivers on 127.0.0.1: ntfy
//! and Gotify requests as their APIs document them, filters, suppression, rate coalescing,
//! the SSRF refusal of per-user endpoints, secrets kept out of trace logs and `pn config`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod util;
mod webhook;

use std::time::Duration;

use serde_json::Value;
use util::{Sandbox, http_receiver, stderr, stdout};
use webhook::*;

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
