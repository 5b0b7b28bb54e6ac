//! End to end: pn-core's host API with the ox driver, the dispatcher and a real HTTP/1.1
//! receiver. Every request Dovecot 2.3.19 sent in the captures (`data/e2e/requests.json`) is
//! reproduced — request line, header order, Authorization, Content-Type, Content-Length and
//! the body byte for byte; Date and Host are the only values that differ by nature — and the
//! cases of `data/e2e/ox-extra.txt` send exactly what Dovecot sent (often nothing).

#[path = "../../pn-dispatch/tests/support/receiver.rs"]
mod receiver;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use pn_core::{
    Commit, DriverRegistry, HostError, MailboxHost, MailboxStatus, MemoryOutbox, PushNotifications,
    Save, UserInfo,
};
use pn_dispatch::{DispatchConfig, Dispatcher};
use pn_event::MailFlags;
use pn_message::RawMessage;
use receiver::{Behaviour, Receiver};
use serde_json::Value;

const ALICE: &str = "alice@example.com";

/// The mail store: the unseen count and UIDVALIDITY to report, and the user's METADATA.
struct Host {
    unseen: Result<u32, String>,
    uid_validity: u32,
    metadata: Option<Vec<u8>>,
    attribute_reads: AtomicUsize,
    status_reads: AtomicUsize,
}

impl Host {
    fn new(metadata: Option<&[u8]>) -> Host {
        Host {
            unseen: Ok(1),
            uid_validity: 1_795_889_745,
            metadata: metadata.map(<[u8]>::to_vec),
            attribute_reads: AtomicUsize::new(0),
            status_reads: AtomicUsize::new(0),
        }
    }
}

impl MailboxHost for Host {
    fn status(&self, _user: &UserInfo, mailbox: &str) -> Result<MailboxStatus, HostError> {
        self.status_reads.fetch_add(1, Ordering::SeqCst);
        let unseen = self.unseen.clone().map_err(HostError::new)?;
        assert_eq!(mailbox, "INBOX");
        Ok(MailboxStatus {
            unseen,
            uid_validity: self.uid_validity,
            ..MailboxStatus::default()
        })
    }

    fn attribute_get(
        &self,
        _user: &UserInfo,
        mailbox: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, HostError> {
        self.attribute_reads.fetch_add(1, Ordering::SeqCst);
        // The contract with pn_metadata::host_attribute_get: server metadata, stored key.
        assert_eq!((mailbox, key), ("", pn_driver_ox::METADATA_KEY));
        Ok(self.metadata.clone())
    }
}

fn data_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data"))
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

struct Delivery<'a> {
    driver: String,
    host: Arc<Host>,
    mailbox: &'a str,
    message: &'a [u8],
    delivery: bool,
    uid: u32,
}

/// Runs one delivery through the host API and sends what the ox driver queued, as
/// `pn deliver` does.
fn deliver(d: &Delivery<'_>) {
    let mut registry = DriverRegistry::new();
    registry.register(pn_driver_ox::NAME, pn_driver_ox::init);
    let outbox = Arc::new(MemoryOutbox::new());
    let pn = PushNotifications::new(registry, d.host.clone(), outbox.clone());
    let settings: BTreeMap<String, String> =
        [("push_notification_driver".to_owned(), d.driver.clone())].into();
    let user = pn.user(UserInfo::new(ALICE, "lda"), Arc::new(settings));
    let content = RawMessage::new(d.message);
    let mut txn = user.begin_mail_txn(d.mailbox);
    txn.save(&Save {
        delivery: d.delivery,
        flags: MailFlags::RECENT,
        keywords: &[],
        content: &content,
    });
    txn.commit(&Commit {
        uid_validity: d.host.uid_validity,
        saved_uids: &[d.uid],
    });
    user.deinit();
    let dispatcher = Dispatcher::new(&DispatchConfig {
        system_roots: false,
        ..DispatchConfig::default()
    })
    .expect("dispatcher");
    dispatcher.drain_blocking(&outbox);
}

fn plain_message() -> Vec<u8> {
    std::fs::read(data_dir().join("ox/01-plain-ascii.eml")).expect("eml")
}

fn ox_driver(receiver: &Receiver, extra: &str) -> String {
    format!("ox:url={}{extra}", receiver.ox_url())
}

#[test]
fn every_captured_request_is_reproduced() {
    let text = std::fs::read_to_string(data_dir().join("e2e/requests.json")).expect("json");
    let all: BTreeMap<String, Vec<Value>> = serde_json::from_str(&text).expect("parse");
    assert_eq!(all.len(), 20);
    let receiver = Receiver::start(Behaviour::ok());
    let mut expected_requests = 0;
    for (eml, captures) in &all {
        let lf = std::fs::read(data_dir().join("ox").join(eml)).expect("eml");
        for cap in captures {
            let label = format!("{eml} [{}]", cap["label"].as_str().expect("label"));
            let message = if cap["via"] == "lmtp" {
                to_crlf(&lf)
            } else {
                lf.clone()
            };
            let driver = cap["driver"]
                .as_str()
                .expect("driver")
                .replace("$HTTP_PORT", &receiver.addr.port().to_string());
            let requests = cap["requests"].as_array().expect("requests");
            // What changes between runs comes from the capture: uid, uidvalidity, unseen.
            let (uid, uid_validity, unseen, meta_user) = match requests.first() {
                Some(req) => {
                    let body: Value =
                        serde_json::from_str(req["body"].as_str().expect("body")).expect("json");
                    let user = body["user"].as_str().expect("user");
                    let meta_user = if user == ALICE { "11@3" } else { user };
                    (
                        u32::try_from(body["imap-uid"].as_u64().expect("uid")).expect("u32"),
                        u32::try_from(body["imap-uidvalidity"].as_u64().expect("uv")).expect("u32"),
                        u32::try_from(body["unseen"].as_u64().expect("unseen")).expect("u32"),
                        meta_user.to_owned(),
                    )
                }
                None => (1, 1, 1, "11@3".to_owned()),
            };
            let mut host = Host::new(Some(format!("user={meta_user}").as_bytes()));
            host.unseen = Ok(unseen);
            host.uid_validity = uid_validity;
            let before = receiver.requests().len();
            deliver(&Delivery {
                driver,
                host: Arc::new(host),
                mailbox: cap["mailbox"].as_str().expect("mailbox"),
                message: &message,
                delivery: true,
                uid,
            });
            let got = receiver.requests();
            let got = &got[before..];
            assert_eq!(got.len(), requests.len(), "{label}: number of requests");
            for (want, got) in requests.iter().zip(got) {
                expected_requests += 1;
                assert_eq!(got.request_line, want["request_line"], "{label}");
                let want_headers: Vec<&str> = want["headers"]
                    .as_array()
                    .expect("headers")
                    .iter()
                    .map(|h| h.as_str().expect("header"))
                    .collect();
                let got_headers = got.header_lines();
                assert_eq!(
                    got_headers.len(),
                    want_headers.len(),
                    "{label}: {got_headers:?}"
                );
                for (g, w) in got_headers.iter().zip(&want_headers) {
                    let name = w.split(':').next().unwrap_or_default();
                    assert!(g.starts_with(&format!("{name}: ")), "{label}: {g} vs {w}");
                    if name != "Date" && name != "Host" {
                        assert_eq!(g, w, "{label}");
                    }
                }
                assert_eq!(
                    String::from_utf8_lossy(&got.body),
                    want["body"].as_str().expect("body"),
                    "{label}: body"
                );
            }
        }
    }
    assert_eq!(expected_requests, 19 * 4);
}

#[test]
fn without_metadata_nothing_is_sent_and_nothing_cached() {
    let receiver = Receiver::start(Behaviour::ok());
    let host = Arc::new(Host::new(None));
    for _ in 0..2 {
        deliver(&Delivery {
            driver: ox_driver(&receiver, " user_from_metadata"),
            host: host.clone(),
            mailbox: "INBOX",
            message: &plain_message(),
            delivery: true,
            uid: 1,
        });
    }
    assert!(receiver.requests().is_empty());
    assert_eq!(
        host.attribute_reads.load(Ordering::SeqCst),
        2,
        "read again each time"
    );
    assert_eq!(host.status_reads.load(Ordering::SeqCst), 0);
}

#[test]
fn metadata_without_user_sends_nothing() {
    let receiver = Receiver::start(Behaviour::ok());
    deliver(&Delivery {
        driver: ox_driver(&receiver, " user_from_metadata"),
        host: Arc::new(Host::new(Some(b"foo=bar"))),
        mailbox: "INBOX",
        message: &plain_message(),
        delivery: true,
        uid: 1,
    });
    assert!(receiver.requests().is_empty());
}

#[test]
fn the_last_of_several_users_wins() {
    let receiver = Receiver::start(Behaviour::ok());
    let mut host = Host::new(Some(b"x=1\tuser=22@5\tuser=33@7"));
    host.unseen = Ok(2);
    host.uid_validity = 1_795_889_809;
    deliver(&Delivery {
        driver: ox_driver(&receiver, " user_from_metadata"),
        host: Arc::new(host),
        mailbox: "INBOX",
        message: &plain_message(),
        delivery: true,
        uid: 2,
    });
    let reqs = receiver.requests();
    assert_eq!(reqs.len(), 1);
    // The body Dovecot sent in ox-extra.txt's scenario.
    assert_eq!(
        String::from_utf8_lossy(&reqs[0].body),
        r#"{"user":"33@7","event":"messageNew","folder":"INBOX","imap-uidvalidity":1795889809,"imap-uid":2,"from":"Bob Sender <bob.sender@example.org>","subject":"Plain ASCII hello","snippet":"Hello Alice, this is a plain ASCII message body. Bye","unseen":2}"#
    );
}

#[test]
fn user_from_metadata_off_sends_the_login_name() {
    let receiver = Receiver::start(Behaviour::ok());
    deliver(&Delivery {
        driver: ox_driver(&receiver, ""),
        host: Arc::new(Host::new(Some(b"user=11@3"))),
        mailbox: "INBOX",
        message: &plain_message(),
        delivery: true,
        uid: 1,
    });
    let reqs = receiver.requests();
    assert_eq!(reqs.len(), 1);
    assert!(reqs[0].body.starts_with(br#"{"user":"alice@example.com","#));
}

#[test]
fn delivery_to_another_folder_sends_nothing() {
    let receiver = Receiver::start(Behaviour::ok());
    let host = Arc::new(Host::new(Some(b"user=11@3")));
    deliver(&Delivery {
        driver: ox_driver(&receiver, " user_from_metadata"),
        host: host.clone(),
        mailbox: "Work",
        message: &plain_message(),
        delivery: true,
        uid: 1,
    });
    assert!(receiver.requests().is_empty());
    assert_eq!(
        host.attribute_reads.load(Ordering::SeqCst),
        1,
        "metadata is read first"
    );
}

#[test]
fn imap_append_reads_the_status_but_sends_nothing() {
    let receiver = Receiver::start(Behaviour::ok());
    let host = Arc::new(Host::new(Some(b"user=11@3")));
    deliver(&Delivery {
        driver: ox_driver(&receiver, " user_from_metadata"),
        host: host.clone(),
        mailbox: "INBOX",
        message: &plain_message(),
        delivery: false,
        uid: 21,
    });
    assert!(receiver.requests().is_empty());
    assert_eq!(
        host.status_reads.load(Ordering::SeqCst),
        1,
        "Got status of mailbox 'INBOX'"
    );
}

#[test]
fn url_without_userinfo_sends_no_authorization() {
    let receiver = Receiver::start(Behaviour::ok());
    deliver(&Delivery {
        driver: format!(
            "ox:url=http://{}/preliminary/http-notify/v1/notify",
            receiver.addr
        ),
        host: Arc::new(Host::new(Some(b"user=11@3"))),
        mailbox: "INBOX",
        message: &plain_message(),
        delivery: true,
        uid: 1,
    });
    let reqs = receiver.requests();
    assert_eq!(reqs.len(), 1);
    let names: Vec<_> = reqs[0].headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "Host",
            "Date",
            "Content-Length",
            "Connection",
            "Content-Type"
        ]
    );
}

#[test]
fn failed_status_omits_unseen() {
    let receiver = Receiver::start(Behaviour::ok());
    let mut host = Host::new(Some(b"user=11@3"));
    host.unseen = Err("Mailbox doesn't exist: INBOX".to_owned());
    deliver(&Delivery {
        driver: ox_driver(&receiver, " user_from_metadata"),
        host: Arc::new(host),
        mailbox: "INBOX",
        message: &plain_message(),
        delivery: true,
        uid: 1,
    });
    let reqs = receiver.requests();
    assert_eq!(reqs.len(), 1);
    assert!(
        reqs[0]
            .body
            .ends_with(br#""snippet":"Hello Alice, this is a plain ASCII message body. Bye"}"#)
    );
}

#[test]
fn a_failing_endpoint_never_fails_the_delivery() {
    let receiver = Receiver::start(Behaviour::status(500, "Internal Server Error"));
    deliver(&Delivery {
        driver: ox_driver(&receiver, " max_retries=2 timeout_msecs=500"),
        host: Arc::new(Host::new(Some(b"user=11@3"))),
        mailbox: "INBOX",
        message: &plain_message(),
        delivery: true,
        uid: 1,
    });
    assert_eq!(receiver.requests().len(), 1, "500: one attempt");
}
