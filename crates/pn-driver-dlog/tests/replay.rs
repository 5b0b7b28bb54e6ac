//! Replays the operations of a real Dovecot 2.3.19.1 session through pn's host API with the
//! dlog driver and compares the log lines, step by step, with what Dovecot wrote
//! (`data/dlog.log`, without the process log prefix).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use pn_core::{
    Commit, DriverRegistry, HostError, MailboxHost, MailboxStatus, MemoryOutbox, PushNotifications,
    PushUser, Save, UserInfo,
};
use pn_event::MailFlags;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

const INBOX_UIDVALIDITY: u32 = 1795889967;
const WORK_UIDVALIDITY: u32 = 1795889968;

/// The captured session's mailboxes and their UIDVALIDITY values.
struct CapturedStore;

impl MailboxHost for CapturedStore {
    fn status(&self, _user: &UserInfo, mailbox: &str) -> Result<MailboxStatus, HostError> {
        let uid_validity = match mailbox {
            "INBOX" => INBOX_UIDVALIDITY,
            "Work" => WORK_UIDVALIDITY,
            _ => 1795889960,
        };
        Ok(MailboxStatus {
            uid_validity,
            ..MailboxStatus::default()
        })
    }
}

/// Collects log lines as Dovecot would print them after `Debug: `.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

impl Capture {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().expect("capture lock"))
    }
}

struct MessageVisitor(String);

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut v = MessageVisitor(String::new());
        event.record(&mut v);
        let target = event.metadata().target();
        let line = if target.starts_with("pn_driver_dlog") {
            v.0
        } else if target == pn_core::LOG_TARGET {
            format!("push-notification: {}", v.0)
        } else {
            return;
        };
        self.0.lock().expect("capture lock").push(line);
    }
}

/// The expected lines of each numbered step of the capture.
fn expected_steps() -> BTreeMap<u32, Vec<String>> {
    let text = include_str!("data/dlog.log");
    let mut steps: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("### [") {
            if line.contains("] C:") {
                let n: u32 = rest[..2].parse().expect("step number");
                steps.entry(n).or_default();
                current = Some(n);
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (_, text) = line.split_once(": Debug: ").expect("a debug line");
        if text.starts_with("Module loaded:") {
            continue;
        }
        // LMTP adds its own session prefix in front of the core's line.
        let text = match text.find("push-notification: ") {
            Some(i) => &text[i..],
            None => text,
        };
        let step = current.expect("lines belong to a step");
        steps.entry(step).or_default().push(text.to_owned());
    }
    steps
}

fn engine() -> PushNotifications {
    let mut registry = DriverRegistry::new();
    registry.register(pn_driver_dlog::NAME, pn_driver_dlog::init);
    PushNotifications::new(
        registry,
        Arc::new(CapturedStore),
        Arc::new(MemoryOutbox::new()),
    )
}

fn settings() -> Arc<BTreeMap<String, String>> {
    Arc::new([("push_notification_driver".to_owned(), "dlog".to_owned())].into())
}

fn user(pn: &PushNotifications, service: &str, raw: bool) -> PushUser {
    let mut info = UserInfo::new("alice@example.com", service);
    info.raw_autocreated = raw;
    pn.user(info, settings())
}

fn append(u: &PushUser, mailbox: &str, delivery: bool, flags: MailFlags, kw: &[String], uid: u32) {
    let mut t = u.begin_mail_txn(mailbox);
    t.save(&Save {
        delivery,
        flags,
        keywords: kw,
        content: &(),
    });
    t.commit(&Commit {
        uid_validity: 0,
        saved_uids: &[uid],
    });
}

fn flags(u: &PushUser, uid: u32, old: MailFlags, new: MailFlags) {
    let mut t = u.begin_mail_txn("INBOX");
    t.update_flags(uid, old, new);
    t.commit(&Commit {
        uid_validity: INBOX_UIDVALIDITY,
        saved_uids: &[],
    });
}

/// One delivery as LDA/LMTP does it: a raw autocreated user for the incoming mail and the real
/// user, both initialised; only the real user's save notifies.
fn deliver(pn: &PushNotifications, service: &str, mailbox: &str, uid: u32) {
    let raw = user(pn, service, true);
    let real = user(pn, service, false);
    append(&real, mailbox, true, MailFlags::RECENT, &[], uid);
    real.deinit();
    raw.deinit();
}

#[test]
fn dlog_lines_match_dovecot_for_every_captured_step() {
    let capture = Capture::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    let expected = expected_steps();
    let pn = engine();
    let kw = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (seen, recent) = (MailFlags::SEEN, MailFlags::RECENT);
    let (answered, flagged, deleted) =
        (MailFlags::ANSWERED, MailFlags::FLAGGED, MailFlags::DELETED);

    let mut imap: Option<PushUser> = None;
    let mut checked = 0;
    for (&step, want) in &expected {
        match step {
            1 | 11 | 24 => {}
            2 => imap = Some(user(&pn, "imap", false)),
            _ => {
                let u = imap.as_ref().expect("logged in");
                match step {
                    3 => u.mailbox_created("Folder1"),
                    4 => u.mailbox_renamed("Folder1", "Folder2"),
                    5 => u.mailbox_subscribed("Folder2", true),
                    6 => u.mailbox_subscribed("Folder2", false),
                    7 => u.mailbox_deleted("Folder2"),
                    8 => u.mailbox_created("Work"),
                    9 => append(u, "INBOX", false, recent, &[], 1),
                    10 => append(u, "INBOX", false, seen | recent, &kw(&["$Important"]), 2),
                    12 => flags(u, 1, recent, seen | recent),
                    13 => flags(u, 1, seen | recent, answered | flagged | seen | recent),
                    14 => flags(
                        u,
                        1,
                        answered | flagged | seen | recent,
                        answered | flagged | deleted | seen | recent,
                    ),
                    15 => {
                        let mut t = u.begin_mail_txn("INBOX");
                        t.update_keywords(1, &[], &kw(&["todo"]));
                        t.commit(&Commit {
                            uid_validity: INBOX_UIDVALIDITY,
                            saved_uids: &[],
                        });
                    }
                    16 => flags(
                        u,
                        1,
                        answered | flagged | deleted | seen | recent,
                        answered | flagged | deleted | recent,
                    ),
                    17 => {
                        let mut t = u.begin_mail_txn("INBOX");
                        t.update_flags(
                            1,
                            answered | flagged | deleted | recent,
                            answered | deleted | recent,
                        );
                        t.update_keywords(1, &kw(&["todo"]), &[]);
                        t.commit(&Commit {
                            uid_validity: INBOX_UIDVALIDITY,
                            saved_uids: &[],
                        });
                    }
                    18 => {
                        let mut t = u.begin_mail_txn("INBOX");
                        t.expunge(1);
                        t.commit(&Commit {
                            uid_validity: INBOX_UIDVALIDITY,
                            saved_uids: &[],
                        });
                    }
                    19 => append(u, "Work", false, seen | recent, &kw(&["$Important"]), 1),
                    20 => {
                        // MOVE: copy into Work and expunge from INBOX, each in its own
                        // transaction; both begin before either commits.
                        let mut dest = u.begin_mail_txn("Work");
                        let mut src = u.begin_mail_txn("INBOX");
                        dest.save(&Save {
                            delivery: false,
                            flags: seen,
                            keywords: &[],
                            content: &(),
                        });
                        src.expunge(2);
                        dest.commit(&Commit {
                            uid_validity: WORK_UIDVALIDITY,
                            saved_uids: &[2],
                        });
                        src.commit(&Commit {
                            uid_validity: INBOX_UIDVALIDITY,
                            saved_uids: &[],
                        });
                    }
                    21 => deliver(&pn, "lda", "INBOX", 3),
                    22 => deliver(&pn, "lmtp", "INBOX", 4),
                    23 => deliver(&pn, "lda", "Work", 3),
                    25 => imap.take().expect("logged in").deinit(),
                    other => panic!("step {other} of the capture is not replayed"),
                }
            }
        }
        assert_eq!(
            &capture.take(),
            want,
            "step [{step:02}] differs from Dovecot"
        );
        checked += 1;
    }
    assert_eq!(checked, 25, "every captured step was replayed");
}
