//! A Rust mail server embedding pn, end to end: pn-store as the mailbox store, pn-metadata's
//! file dictionary for per-user enablement, pn-message for the MessageNew fields, the ox and
//! dlog drivers, and pn-dispatch delivering the outbox to a real HTTP receiver on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use pn_core::{
    DriverRegistry, HostError, MailboxHost, MailboxStatus, MemoryOutbox, Outbox, PushNotifications,
    UserInfo,
};
use pn_dispatch::{DispatchConfig, Dispatcher};
use pn_event::{MailFlags, MessageSource};
use pn_metadata::{AttributeType, Backend, MetadataStore, Target};
use pn_store::{Maildir, NewMessage, StoreOptions};
use pn_userdb::UserRecord;

const USER: &str = "alice@example.com";
const MESSAGE: &[u8] = b"From: =?UTF-8?Q?Zo=C3=AB?= <zoe@example.org>\r\n\
To: Alice <alice@example.com>\r\n\
Subject: Lunch?\r\n\
Message-ID: <lunch-1@example.org>\r\n\
\r\n\
> earlier text\r\n\
Shall we meet at noon?\r\n";

/// What the server gives the engine: status from the store, METADATA from the dictionary.
struct Host {
    store: Maildir,
    metadata: MetadataStore,
}

impl MailboxHost for Host {
    fn status(&self, _user: &UserInfo, mailbox: &str) -> Result<MailboxStatus, HostError> {
        self.store
            .status(mailbox)
            .map_err(|e| HostError::new(e.to_string()))
    }

    fn attribute_get(
        &self,
        _user: &UserInfo,
        mailbox: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, HostError> {
        pn_metadata::host_attribute_get(&self.metadata, mailbox, key)
            .map_err(|e| HostError::new(e.to_string()))
    }
}

fn content(raw: &[u8]) -> Box<dyn MessageSource + '_> {
    Box::new(pn_message::RawMessage::new(raw))
}

/// Accepts connections and returns each request body, answering 200.
fn receiver() -> (u16, mpsc::Receiver<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                continue;
            }
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim_end().is_empty() {
                    break;
                }
                if let Some(v) = header.trim_end().strip_prefix("Content-Length: ") {
                    length = v.parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            writer
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            if tx.send((request_line.trim_end().to_owned(), body)).is_err() {
                return;
            }
        }
    });
    (port, rx)
}

#[test]
fn a_delivery_into_an_embedding_server_reaches_the_endpoint() {
    let home = tempfile::tempdir().unwrap();
    let (port, requests) = receiver();

    // The server's own pieces.
    let store = Maildir::with_options(
        home.path().join("Maildir"),
        StoreOptions {
            sources: Arc::new(content as for<'a> fn(&'a [u8]) -> Box<dyn MessageSource + 'a>),
            ..StoreOptions::default()
        },
    );
    let mut record = UserRecord::new(USER);
    record.home = Some(home.path().to_path_buf());
    let metadata = Backend::File {
        attribute_dict: "file:%h/dovecot-attributes".into(),
        mail_location: "maildir:~/Maildir".into(),
    }
    .store_for(&record)
    .unwrap();
    // What `doveadm mailbox metadata set -s "" /private/vendor/vendor.dovecot/http-notify` does.
    metadata
        .set(
            Target::Server,
            AttributeType::Private,
            "vendor/vendor.dovecot/http-notify",
            Some(b"user=42"),
        )
        .unwrap();

    // pn, wired in.
    let mut registry = DriverRegistry::new();
    registry.register(pn_driver_dlog::NAME, pn_driver_dlog::init);
    registry.register(pn_driver_ox::NAME, pn_driver_ox::init);
    let outbox = Arc::new(MemoryOutbox::new());
    let pn = PushNotifications::new(
        registry,
        Arc::new(Host {
            store: store.clone(),
            metadata,
        }),
        Arc::clone(&outbox) as Arc<dyn Outbox>,
    );
    let settings: BTreeMap<String, String> = [
        ("push_notification_driver".to_owned(), "dlog".to_owned()),
        (
            "push_notification_driver2".to_owned(),
            format!("ox:url=http://127.0.0.1:{port}/notify user_from_metadata"),
        ),
    ]
    .into();
    let user = pn.user(UserInfo::new(USER, "lmtp"), Arc::new(settings));

    // A delivery to INBOX pushes; an append and a delivery to another folder do not.
    let saved = store
        .deliver(Some(&user), "INBOX", &NewMessage::new(MESSAGE))
        .unwrap();
    store.create_mailbox(Some(&user), "Work").unwrap();
    store
        .deliver(Some(&user), "Work", &NewMessage::new(MESSAGE))
        .unwrap();
    let mut seen = NewMessage::new(MESSAGE);
    seen.flags = MailFlags::SEEN;
    store.append(Some(&user), "INBOX", &seen).unwrap();
    assert_eq!(outbox.len(), 1, "only the INBOX delivery was queued");

    let outcomes = Dispatcher::new(&DispatchConfig::default())
        .unwrap()
        .drain_blocking(&outbox);
    assert_eq!(outcomes.len(), 1);
    assert!(outcomes[0].success, "{}", outcomes[0].message);

    let (line, body) = requests.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(line, "PUT /notify HTTP/1.1");
    assert_eq!(
        String::from_utf8(body).unwrap(),
        format!(
            r#"{{"user":"42","event":"messageNew","folder":"INBOX","imap-uidvalidity":{},"imap-uid":{},"from":"=?UTF-8?Q?Zo=C3=AB?= <zoe@example.org>","subject":"Lunch?","snippet":"Shall we meet at noon?","unseen":1}}"#,
            saved.uid_validity, saved.uids[0]
        )
    );
    assert!(requests.recv_timeout(Duration::from_millis(200)).is_err());
}
