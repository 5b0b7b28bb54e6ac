//! The `webpush` driver end to end through the `pn` binary with pn's own METADATA store: keys
//! from `pn webpush keygen`, subscriptions stored with `pn mailbox metadata set`, deliveries
//! through `pn deliver`. A push-service stand-in (crates/pn/tests/data/push/push_service.py)
//! decrypts every request with PyPI `http_ece` and checks its VAPID token with PyPI
//! `py-vapid`; it answers `410` for one subscription, which pn then removes. Skipped (naming
//! the packages) when `python3 -m pip install http_ece py-vapid` has not been run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

mod util;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use util::{Sandbox, stderr, stdout};

const ALICE: &str = "alice@example.com";
const SERVICE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/push/push_service.py"
);
const KEY: &str = "/private/vendor/vendor.pn/webpush";

struct PushService {
    child: Child,
    port: u16,
    subs: Vec<Value>,
    lines: mpsc::Receiver<Value>,
}

impl Drop for PushService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PushService {
    fn start(vapid_public: &str, names: &[&str]) -> Option<PushService> {
        let mut child = Command::new("python3")
            .arg(SERVICE)
            .arg(vapid_public)
            .args(names)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        if let Some(why) = first.strip_prefix("SKIP ") {
            eprintln!(
                "skipped: {}CI needs the PyPI packages http_ece and py-vapid",
                why.trim()
            );
            let _ = child.wait();
            return None;
        }
        let port = first.trim().strip_prefix("PORT ").unwrap().parse().unwrap();
        let mut subs = Vec::new();
        for _ in names {
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            subs.push(serde_json::from_str(line.trim().strip_prefix("SUB ").unwrap()).unwrap());
        }
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { return };
                if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                    return;
                }
            }
        });
        Some(PushService {
            child,
            port,
            subs,
            lines,
        })
    }

    /// The next `n` pushes.
    fn pushes(&self, n: usize) -> Vec<Value> {
        (0..n)
            .map(|_| {
                self.lines
                    .recv_timeout(Duration::from_secs(10))
                    .expect("a push")
            })
            .collect()
    }
}

fn ok(out: &std::process::Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    stdout(out)
}

fn keygen() -> (String, String) {
    let out = util::run_pn(&["webpush", "keygen"], None, &[]);
    let text = ok(&out);
    let get = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} = ")))
            .unwrap_or_else(|| panic!("{name} in {text}"))
            .to_owned()
    };
    (
        get("pn_webpush_vapid_private_key"),
        get("pn_webpush_vapid_public_key"),
    )
}

fn deliver(sb: &Sandbox, from: &str) {
    let msg = format!("From: {from}\r\nTo: {ALICE}\r\nSubject: hi\r\n\r\nbody\r\n");
    ok(&sb.pn(&["deliver", "-d", ALICE], Some(msg.as_bytes())));
}

fn endpoints(sb: &Sandbox) -> BTreeSet<String> {
    let text = ok(&sb.pn(
        &["mailbox", "metadata", "get", "-u", ALICE, "-s", "", KEY],
        None,
    ));
    let subs: Vec<Value> = serde_json::from_str(text.trim()).unwrap();
    subs.iter()
        .map(|s| {
            s["endpoint"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn names(pushes: &[Value]) -> BTreeSet<String> {
    pushes
        .iter()
        .map(|p| {
            p["path"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[test]
fn pushes_decrypt_and_verify_with_independent_libraries() {
    let (private, public) = keygen();
    let Some(svc) = PushService::start(&public, &["phone", "laptop", "gone-tablet", "expired"])
    else {
        return;
    };
    let sb = Sandbox::with(&format!(
        "mail_attribute_dict = file:%h/dovecot-attributes\n\
         plugin {{\n  push_notification_driver2 = webpush:subject=mailto:postmaster@example.com \
         ttl=600 urgency=high topic=inbox-unread\n  pn_webpush_vapid_private_key = {private}\n  \
         pn_webpush_vapid_public_key = {public}\n  pn_webpush_allow_http = yes\n}}\n"
    ));
    let mut subs = svc.subs.clone();
    subs[3]["expirationTime"] = 1000.into();
    ok(&sb.pn(
        &[
            "mailbox",
            "metadata",
            "set",
            "-u",
            ALICE,
            "-s",
            "",
            KEY,
            &Value::from(subs).to_string(),
        ],
        None,
    ));

    deliver(&sb, "bob@example.org");
    let pushes = svc.pushes(3);
    assert_eq!(
        names(&pushes),
        set(&["phone", "laptop", "gone-tablet"]),
        "not the expired one"
    );
    for p in &pushes {
        assert_eq!(p["decrypt_error"], Value::Null, "{p}");
        let body = &p["plaintext"];
        assert_eq!(body["type"], "mail.message.new");
        assert_eq!(body["user"], ALICE);
        assert_eq!(
            (body["uid"].as_u64(), body["unseen"].as_u64()),
            (Some(1), Some(1))
        );
        let h = &p["headers"];
        assert_eq!(h["content-encoding"], "aes128gcm");
        assert_eq!(h["ttl"], "600");
        assert_eq!(h["urgency"], "high");
        assert_eq!(h["topic"], "inbox-unread");
        assert_eq!(p["vapid_ok"], true, "{p}");
        assert_eq!(p["k"], public.as_str());
        let claims = &p["claims"];
        assert_eq!(claims["aud"], format!("http://127.0.0.1:{}", svc.port));
        assert_eq!(claims["sub"], "mailto:postmaster@example.com");
        let (exp, now) = (claims["exp"].as_u64().unwrap(), p["now"].as_u64().unwrap());
        assert!(
            exp > now && exp <= now + 86_400,
            "RFC 8292: at most 24 hours ({exp}, {now})"
        );
    }
    assert_eq!(
        endpoints(&sb),
        set(&["phone", "laptop"]),
        "410 removed gone-tablet, the expired one was dropped"
    );

    // Self-sent mail wakes nobody: the next push is for the message after it (UID 3).
    deliver(&sb, ALICE);
    deliver(&sb, "carol@example.org");
    let pushes = svc.pushes(2);
    assert_eq!(names(&pushes), set(&["phone", "laptop"]));
    for p in &pushes {
        assert_eq!(p["plaintext"]["uid"], 3, "{p}");
        assert_eq!(p["plaintext"]["unseen"], 3);
    }
}

#[test]
fn bad_arguments_and_missing_keys_are_named() {
    let msg = b"From: bob@example.org\r\n\r\nx\r\n";
    for (args, expected) in [
        ("urgency=now", "urgency: one of very-low, low, normal, high"),
        ("topic=a/b", "topic: 1 to 32 URL-safe base64 characters"),
        ("ttl=-1", "ttl: \"-1\" is not a whole number"),
        ("", "missing setting pn_webpush_vapid_private_key"),
    ] {
        let sb = Sandbox::with(&format!(
            "plugin {{\n  push_notification_driver2 = webpush:{args}\n}}\n"
        ));
        let out = sb.pn(&["deliver", "-d", ALICE], Some(msg));
        ok(&out);
        let err = stderr(&out);
        assert!(err.contains(expected), "{args}: {err}");
        assert!(err.contains("pn.conf:"), "points at the line: {err}");
    }
}
