//! Runs pn's engine with the dlog driver on a scripted mail session and prints Dovecot's dlog
//! lines: every event kind once. `cargo run -p pn --example dlog_demo`.
//!
//! This is the "crates as a library" path: a mail server creates a `PushNotifications` for the
//! process, a `PushUser` per user, and reports what it does through the host API.

use std::collections::BTreeMap;
use std::sync::Arc;

use pn_core::{
    Commit, DriverRegistry, HostError, MailboxHost, MailboxStatus, MemoryOutbox, PushNotifications,
    Save, UserInfo,
};
use pn_event::MailFlags;

/// Stands in for the mail store: answers UIDVALIDITY questions.
struct DemoStore;

impl MailboxHost for DemoStore {
    fn status(&self, _user: &UserInfo, mailbox: &str) -> Result<MailboxStatus, HostError> {
        Ok(MailboxStatus {
            uid_validity: if mailbox == "INBOX" {
                1700000000
            } else {
                1700000001
            },
            ..MailboxStatus::default()
        })
    }
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PN_LOG")
                .unwrap_or_else(|_| "info,pn_driver_dlog=debug,push_notification=debug".into()),
        )
        .init();

    let mut registry = DriverRegistry::new();
    registry.register(pn_driver_dlog::NAME, pn_driver_dlog::init);
    let pn = PushNotifications::new(registry, Arc::new(DemoStore), Arc::new(MemoryOutbox::new()));
    let settings: BTreeMap<String, String> = [(
        "push_notification_driver".to_owned(),
        "dlog:demo=yes".to_owned(),
    )]
    .into();
    let user = pn.user(
        UserInfo::new("alice@example.com", "imap"),
        Arc::new(settings),
    );

    // Mailbox events.
    user.mailbox_created("Work");
    user.mailbox_subscribed("Work", true);
    user.mailbox_renamed("Work", "Projects");
    user.mailbox_subscribed("Projects", false);

    // A delivery and an append.
    let mut t = user.begin_mail_txn("INBOX");
    t.save(&Save {
        delivery: true,
        flags: MailFlags::RECENT,
        keywords: &[],
        content: &(),
    });
    t.save(&Save {
        delivery: false,
        flags: MailFlags::SEEN,
        keywords: &[],
        content: &(),
    });
    t.commit(&Commit {
        uid_validity: 0,
        saved_uids: &[1, 2],
    });

    // Flag and keyword changes: \Seen and \Deleted set, a keyword added, \Seen cleared.
    let mut t = user.begin_mail_txn("INBOX");
    t.update_flags(
        1,
        MailFlags::RECENT,
        MailFlags::SEEN | MailFlags::DELETED | MailFlags::RECENT,
    );
    t.update_keywords(1, &[], &["$Important".to_owned()]);
    t.commit(&Commit {
        uid_validity: 0,
        saved_uids: &[],
    });
    let mut t = user.begin_mail_txn("INBOX");
    t.update_flags(2, MailFlags::SEEN, MailFlags::empty());
    t.commit(&Commit {
        uid_validity: 0,
        saved_uids: &[],
    });

    // An expunge, a rolled-back transaction (end_txn only), and the mailbox deleted.
    let mut t = user.begin_mail_txn("INBOX");
    t.expunge(1);
    t.commit(&Commit {
        uid_validity: 0,
        saved_uids: &[],
    });
    let mut t = user.begin_mail_txn("INBOX");
    t.expunge(2);
    t.rollback();
    user.mailbox_deleted("Projects");
    user.deinit();
}
