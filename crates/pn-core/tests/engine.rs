//! The transaction engine's rules (spec §1.5, §2, §3.1), driven through the host API with a
//! recording driver configured by its driver-string arguments.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use pn_core::{
    Commit, Driver, DriverInitCtx, DriverInitError, DriverRegistry, DriverTxn, EventConfig,
    HostError, MailboxHost, MailboxStatus, MemoryOutbox, ProcessCtx, PushNotifications, PushUser,
    Save, Subscriptions, TxnInfo, UserInfo,
};
use pn_event::{
    EventData, EventName, FlagsClearData, FlagsSetData, MailFlags, MailboxTxnData, MessageData,
    MessageFields, MessageSource, MessageTxnData, RawValue,
};

type Log = Arc<Mutex<Vec<String>>>;
type Seen = Arc<Mutex<Vec<(String, MessageTxnData)>>>;

/// A driver whose behaviour comes from its arguments:
/// `id=A` names it in the log, `events=FlagsSet,MessageNew` (default: all), `fields=<bits>`
/// for MessageNew/MessageAppend, `store_old`, `decline`, `fail` (init fails).
struct Recorder {
    id: String,
    events: Vec<EventName>,
    config: EventConfig,
    decline: bool,
    log: Log,
    seen: Seen,
}

struct RecorderTxn {
    id: String,
    log: Log,
    seen: Seen,
}

impl Driver for Recorder {
    fn begin_txn(&self, txn: &TxnInfo<'_>, subs: &mut Subscriptions) -> Option<Box<dyn DriverTxn>> {
        self.log
            .lock()
            .unwrap()
            .push(format!("{} begin {}", self.id, txn.mailbox));
        for e in &self.events {
            subs.subscribe(*e, self.config);
        }
        if self.decline {
            return None;
        }
        Some(Box::new(RecorderTxn {
            id: self.id.clone(),
            log: self.log.clone(),
            seen: self.seen.clone(),
        }))
    }
    fn deinit(&self, _user: &UserInfo) {
        self.log.lock().unwrap().push(format!("{} deinit", self.id));
    }
    fn cleanup(&self) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{} cleanup", self.id));
    }
}

impl DriverTxn for RecorderTxn {
    fn process_mbox(&mut self, _ctx: &ProcessCtx<'_>, mbox: &MailboxTxnData) {
        let names: Vec<_> = mbox.events.iter().map(|e| e.name().as_str()).collect();
        self.log
            .lock()
            .unwrap()
            .push(format!("{} mbox {} {:?}", self.id, mbox.mailbox, names));
    }
    fn process_msg(&mut self, _ctx: &ProcessCtx<'_>, msg: &MessageTxnData) {
        self.log.lock().unwrap().push(format!(
            "{} msg {} {}/{}",
            self.id, msg.mailbox, msg.uid, msg.uid_validity
        ));
        self.seen
            .lock()
            .unwrap()
            .push((self.id.clone(), msg.clone()));
    }
    fn end_txn(&mut self, _ctx: &ProcessCtx<'_>, success: bool) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{} end {success}", self.id));
    }
}

struct Store;

impl MailboxHost for Store {
    fn status(&self, _user: &UserInfo, mailbox: &str) -> Result<MailboxStatus, HostError> {
        match mailbox {
            "Broken" => Err(HostError::new("Mailbox doesn't exist: Broken")),
            _ => Ok(MailboxStatus {
                uid_validity: 4242,
                ..MailboxStatus::default()
            }),
        }
    }
}

struct Harness {
    pn: PushNotifications,
    log: Log,
    seen: Seen,
}

fn harness() -> Harness {
    let log: Log = Arc::default();
    let seen: Seen = Arc::default();
    let mut registry = DriverRegistry::new();
    let (l, s) = (log.clone(), seen.clone());
    registry.register("rec", move |ctx: &DriverInitCtx<'_>| {
        let args = &ctx.spec.args;
        if args.contains("fail") {
            return Err(DriverInitError("init failed on purpose".into()));
        }
        let events = match args.get("events") {
            Some(list) => list
                .split(',')
                .map(|n| n.parse().expect("event name"))
                .collect(),
            None => EventName::ALL.to_vec(),
        };
        let fields = args
            .get("fields")
            .map(|f| MessageFields::from_bits_retain(f.parse().expect("bits")))
            .unwrap_or_default();
        let id = args.get("id").unwrap_or("?").to_owned();
        l.lock().unwrap().push(format!("{id} init"));
        Ok(Box::new(Recorder {
            id,
            events,
            config: EventConfig {
                fields,
                store_old: args.contains("store_old"),
                ..EventConfig::default()
            },
            decline: args.contains("decline"),
            log: l.clone(),
            seen: s.clone(),
        }) as Box<dyn Driver>)
    });
    Harness {
        pn: PushNotifications::new(registry, Arc::new(Store), Arc::new(MemoryOutbox::new())),
        log,
        seen,
    }
}

impl Harness {
    fn user(&self, drivers: &[(&str, &str)]) -> PushUser {
        let settings: BTreeMap<String, String> = drivers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.pn.user(
            UserInfo::new("alice@example.com", "imap"),
            Arc::new(settings),
        )
    }
    fn log(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
    fn seen(&self) -> Vec<(String, MessageTxnData)> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

fn commit(uids: &[u32]) -> Commit<'_> {
    Commit {
        uid_validity: 7,
        saved_uids: uids,
    }
}

const ONE: &[(&str, &str)] = &[("push_notification_driver", "rec:id=A store_old")];

// ---------------------------------------------------------------------------------------------
// §1.5: flag and keyword changes → events, table-driven.

struct FlagCase {
    old: MailFlags,
    new: MailFlags,
    want: Vec<EventData>,
}

#[test]
fn flag_changes_give_the_events_of_the_spec_table() {
    use MailFlags as F;
    let clear = |c: MailFlags, old: MailFlags| {
        EventData::FlagsClear(FlagsClearData {
            flags_clear: c,
            keywords_clear: vec![],
            flags_old: old,
            keywords_old: Some(vec![]),
        })
    };
    let set = |s: MailFlags| {
        EventData::FlagsSet(FlagsSetData {
            flags_set: s,
            keywords_set: vec![],
        })
    };
    let cases = [
        // +\Seen: FlagsClear always (empty), FlagsSet, MessageRead.
        FlagCase {
            old: F::RECENT,
            new: F::SEEN | F::RECENT,
            want: vec![
                clear(F::empty(), F::RECENT),
                set(F::SEEN),
                EventData::MessageRead,
            ],
        },
        // +\Deleted: MessageTrash.
        FlagCase {
            old: F::empty(),
            new: F::DELETED,
            want: vec![
                clear(F::empty(), F::empty()),
                set(F::DELETED),
                EventData::MessageTrash,
            ],
        },
        // +\Answered \Flagged \Draft: FlagsSet only.
        FlagCase {
            old: F::SEEN,
            new: F::SEEN | F::ANSWERED | F::FLAGGED | F::DRAFT,
            want: vec![
                clear(F::empty(), F::SEEN),
                set(F::ANSWERED | F::FLAGGED | F::DRAFT),
            ],
        },
        // -\Seen: FlagsClear with the cleared flag; no MessageRead.
        FlagCase {
            old: F::SEEN | F::FLAGGED,
            new: F::FLAGGED,
            want: vec![clear(F::SEEN, F::SEEN | F::FLAGGED)],
        },
        // Swap: one cleared, one set.
        FlagCase {
            old: F::DRAFT,
            new: F::ANSWERED,
            want: vec![clear(F::DRAFT, F::DRAFT), set(F::ANSWERED)],
        },
        // \Recent alone never shows up in FlagsSet / FlagsClear, but FlagsClear is still created.
        FlagCase {
            old: F::empty(),
            new: F::RECENT,
            want: vec![clear(F::empty(), F::empty())],
        },
        FlagCase {
            old: F::RECENT,
            new: F::empty(),
            want: vec![clear(F::empty(), F::RECENT)],
        },
        // All at once.
        FlagCase {
            old: F::empty(),
            new: F::REPORTABLE,
            want: vec![
                clear(F::empty(), F::empty()),
                set(F::REPORTABLE),
                EventData::MessageRead,
                EventData::MessageTrash,
            ],
        },
    ];
    let h = harness();
    let user = h.user(ONE);
    for (i, case) in cases.iter().enumerate() {
        let mut t = user.begin_mail_txn("INBOX");
        t.update_flags(10, case.old, case.new);
        t.commit(&commit(&[]));
        let seen = h.seen();
        assert_eq!(seen.len(), 1, "case {i}");
        assert_eq!(
            seen[0].1.events, case.want,
            "case {i}: {:?} -> {:?}",
            case.old, case.new
        );
    }
}

#[test]
fn keyword_changes_always_create_flags_set_and_flags_clear() {
    let h = harness();
    let user = h.user(ONE);
    let kw = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut t = user.begin_mail_txn("INBOX");
    t.update_keywords(3, &kw(&["a", "b"]), &kw(&["b", "c"]));
    t.commit(&commit(&[]));
    assert_eq!(
        h.seen()[0].1.events,
        vec![
            EventData::FlagsClear(FlagsClearData {
                flags_clear: MailFlags::empty(),
                keywords_clear: kw(&["a"]),
                flags_old: MailFlags::empty(),
                keywords_old: Some(kw(&["a", "b"])),
            }),
            EventData::FlagsSet(FlagsSetData {
                flags_set: MailFlags::empty(),
                keywords_set: kw(&["c"]),
            }),
        ]
    );
    // Removal only: FlagsSet exists, empty (Lua sees it).
    let mut t = user.begin_mail_txn("INBOX");
    t.update_keywords(3, &kw(&["x"]), &[]);
    t.commit(&commit(&[]));
    let events = h.seen().remove(0).1.events;
    assert!(
        matches!(&events[1], EventData::FlagsSet(d) if d.keywords_set.is_empty() && d.flags_set.is_empty())
    );
}

#[test]
fn unchanged_flags_or_keywords_are_not_events() {
    let h = harness();
    let user = h.user(ONE);
    h.log();
    let mut t = user.begin_mail_txn("INBOX");
    t.update_flags(1, MailFlags::SEEN, MailFlags::SEEN);
    t.update_keywords(1, &["a".to_string()], &["a".to_string()]);
    t.commit(&commit(&[]));
    assert!(
        h.log().is_empty(),
        "no message event, so no driver was started"
    );
}

#[test]
fn message_read_and_trash_are_reported_once_per_transaction() {
    let h = harness();
    let user = h.user(ONE);
    let mut t = user.begin_mail_txn("INBOX");
    t.update_flags(1, MailFlags::empty(), MailFlags::SEEN);
    t.update_flags(1, MailFlags::SEEN, MailFlags::empty());
    t.update_flags(1, MailFlags::empty(), MailFlags::SEEN);
    t.commit(&commit(&[]));
    let events = h.seen().remove(0).1.events;
    let reads = events
        .iter()
        .filter(|e| e.name() == EventName::MessageRead)
        .count();
    assert_eq!(reads, 1);
    // The last flag change's old flags are what FlagsClear keeps.
    assert!(
        matches!(&events[0], EventData::FlagsClear(d) if d.flags_clear == MailFlags::SEEN && d.flags_old.is_empty())
    );
}

// ---------------------------------------------------------------------------------------------
// §2: the transaction model.

#[test]
fn drivers_start_lazily_on_the_first_message_event() {
    let h = harness();
    let user = h.user(ONE);
    assert_eq!(h.log(), ["A init"]);
    let t = user.begin_mail_txn("INBOX");
    assert!(h.log().is_empty(), "opening a transaction starts no driver");
    t.commit(&commit(&[]));
    assert!(
        h.log().is_empty(),
        "a transaction without message events calls no driver"
    );

    let mut t = user.begin_mail_txn("INBOX");
    t.expunge(5);
    assert_eq!(h.log(), ["A begin INBOX"]);
    t.expunge(6);
    assert!(h.log().is_empty(), "begin_txn runs once per transaction");
    t.commit(&commit(&[]));
    assert_eq!(
        h.log(),
        ["A msg INBOX 5/7", "A msg INBOX 6/7", "A end true"]
    );
}

#[test]
fn rollback_ends_with_failure_and_processes_nothing() {
    let h = harness();
    let user = h.user(ONE);
    h.log();
    let mut t = user.begin_mail_txn("INBOX");
    t.expunge(1);
    t.rollback();
    assert_eq!(h.log(), ["A begin INBOX", "A end false"]);
    assert!(h.seen().is_empty());

    // Dropping an unfinished transaction is a rollback too.
    {
        let mut t = user.begin_mail_txn("INBOX");
        t.expunge(1);
    }
    assert_eq!(h.log(), ["A begin INBOX", "A end false"]);
}

#[test]
fn a_declining_driver_is_left_out_of_that_transaction_only() {
    let h = harness();
    let user = h.user(&[
        ("push_notification_driver", "rec:id=A decline"),
        ("push_notification_driver2", "rec:id=B"),
    ]);
    h.log();
    let mut t = user.begin_mail_txn("INBOX");
    t.expunge(1);
    t.commit(&commit(&[]));
    assert_eq!(
        h.log(),
        [
            "A begin INBOX",
            "B begin INBOX",
            "B msg INBOX 1/7",
            "B end true"
        ]
    );
    user.mailbox_created("X");
    assert_eq!(
        h.log(),
        [
            "A begin X",
            "B begin X",
            "B mbox X [\"MailboxCreate\"]",
            "B end true"
        ]
    );
}

#[test]
fn drivers_run_in_configuration_order_everywhere() {
    let h = harness();
    let user = h.user(&[
        ("push_notification_driver", "rec:id=A"),
        ("push_notification_driver2", "rec:id=B"),
        ("push_notification_driver3", "rec:id=C"),
    ]);
    let mut t = user.begin_mail_txn("INBOX");
    t.expunge(1);
    t.expunge(2);
    t.commit(&commit(&[]));
    user.deinit();
    assert_eq!(
        h.log(),
        [
            "A init",
            "B init",
            "C init",
            "A begin INBOX",
            "B begin INBOX",
            "C begin INBOX",
            "A msg INBOX 1/7",
            "B msg INBOX 1/7",
            "C msg INBOX 1/7",
            "A msg INBOX 2/7",
            "B msg INBOX 2/7",
            "C msg INBOX 2/7",
            "A end true",
            "B end true",
            "C end true",
            "A deinit",
            "A cleanup",
            "B deinit",
            "B cleanup",
            "C deinit",
            "C cleanup",
        ]
    );
}

/// Answers the header/body fields and counts what it was asked for.
struct Content {
    asked: Mutex<Vec<MessageFields>>,
}

impl MessageSource for Content {
    fn fill(&self, wanted: MessageFields, data: &mut MessageData) {
        self.asked.lock().unwrap().push(wanted);
        if wanted.contains(MessageFields::FROM) {
            data.from = Some(RawValue::from("Bob <bob@example.org>"));
            data.from_address = Some("bob@example.org".into());
        }
        if wanted.contains(MessageFields::SUBJECT) {
            data.subject = Some(RawValue::from("Hi"));
        }
        if wanted.contains(MessageFields::DATE) {
            data.date = Some(0);
        }
    }
}

#[test]
fn delivery_is_message_new_and_everything_else_message_append() {
    let h = harness();
    let user = h.user(&[("push_notification_driver", "rec:id=A fields=255")]);
    let content = Content {
        asked: Mutex::default(),
    };
    let kw = vec!["$Label".to_string()];
    let mut t = user.begin_mail_txn("INBOX");
    t.save(&Save {
        delivery: true,
        flags: MailFlags::RECENT,
        keywords: &kw,
        content: &content,
    });
    t.save(&Save {
        delivery: false,
        flags: MailFlags::SEEN,
        keywords: &[],
        content: &content,
    });
    t.commit(&Commit {
        uid_validity: 0,
        saved_uids: &[20, 21],
    });
    let seen = h.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        (seen[0].1.uid, seen[0].1.uid_validity),
        (20, 4242),
        "UIDVALIDITY from the store when the commit has none"
    );
    let EventData::MessageNew(new) = &seen[0].1.events[0] else {
        panic!("{:?}", seen[0].1.events)
    };
    assert_eq!(new.flags, Some(MailFlags::RECENT));
    assert_eq!(new.keywords.as_deref(), Some(&kw[..]));
    assert_eq!(new.from_address.as_deref(), Some("bob@example.org"));
    assert_eq!(seen[1].1.uid, 21);
    let EventData::MessageAppend(app) = &seen[1].1.events[0] else {
        panic!("{:?}", seen[1].1.events)
    };
    assert_eq!(app.flags, Some(MailFlags::SEEN));
    // The engine fills flags and keywords itself; the content is asked for the rest only.
    let content_groups = MessageFields::DOVECOT - (MessageFields::FLAGS | MessageFields::KEYWORDS);
    assert_eq!(
        *content.asked.lock().unwrap(),
        [content_groups, content_groups]
    );
}

#[test]
fn message_fields_are_the_union_of_all_subscribers() {
    let h = harness();
    let from_subject = (MessageFields::FROM | MessageFields::SUBJECT).bits();
    let date = MessageFields::DATE.bits();
    let user = h.user(&[
        (
            "push_notification_driver",
            &format!("rec:id=A events=MessageNew fields={from_subject}"),
        ),
        (
            "push_notification_driver2",
            &format!("rec:id=B events=MessageNew fields={date}"),
        ),
        // dlog-like: subscribes with no fields; still sees the data the others asked for.
        ("push_notification_driver3", "rec:id=C events=MessageNew"),
    ]);
    let content = Content {
        asked: Mutex::default(),
    };
    let mut t = user.begin_mail_txn("INBOX");
    t.save(&Save {
        delivery: true,
        flags: MailFlags::empty(),
        keywords: &[],
        content: &content,
    });
    t.commit(&commit(&[1]));
    assert_eq!(
        *content.asked.lock().unwrap(),
        [MessageFields::FROM | MessageFields::SUBJECT | MessageFields::DATE],
        "the message is read once, for the union"
    );
    let seen = h.seen();
    assert_eq!(seen.len(), 3);
    for (_, msg) in &seen {
        let d = msg.message_new().expect("all drivers see MessageNew");
        assert!(d.from.is_some() && d.subject.is_some() && d.date == Some(0));
        assert!(d.snippet.is_none(), "nobody asked for the snippet");
    }
}

#[test]
fn no_message_data_when_nobody_asks_for_fields() {
    let h = harness();
    let user = h.user(&[("push_notification_driver", "rec:id=A")]);
    let mut t = user.begin_mail_txn("INBOX");
    t.save(&Save {
        delivery: true,
        flags: MailFlags::empty(),
        keywords: &[],
        content: &(),
    });
    t.commit(&commit(&[9]));
    let seen = h.seen();
    assert_eq!(seen[0].1.uid, 9);
    assert!(
        seen[0].1.events.is_empty(),
        "process_msg still runs, with no data (like dlog alone)"
    );
}

#[test]
fn unresolvable_saved_uid_is_reported_as_zero() {
    let h = harness();
    let user = h.user(ONE);
    let mut t = user.begin_mail_txn("INBOX");
    t.save(&Save {
        delivery: false,
        flags: MailFlags::empty(),
        keywords: &[],
        content: &(),
    });
    t.save(&Save {
        delivery: false,
        flags: MailFlags::empty(),
        keywords: &[],
        content: &(),
    });
    t.commit(&commit(&[30]));
    let uids: Vec<u32> = h.seen().iter().map(|(_, m)| m.uid).collect();
    assert_eq!(uids, [30, 0]);
}

#[test]
fn two_subscribers_do_not_duplicate_keywords() {
    // Dovecot runs the keyword handler once per registration and lists "x" twice
    // (docs/compat.md); pn merges the registrations.
    let h = harness();
    let user = h.user(&[
        (
            "push_notification_driver",
            "rec:id=A events=FlagsSet,FlagsClear",
        ),
        (
            "push_notification_driver2",
            "rec:id=B events=FlagsSet,FlagsClear store_old",
        ),
    ]);
    let mut t = user.begin_mail_txn("INBOX");
    t.update_keywords(1, &["old".to_string()], &["x".to_string()]);
    t.commit(&commit(&[]));
    let (_, msg) = h.seen().remove(0);
    let Some(EventData::FlagsSet(set)) = msg.event(EventName::FlagsSet) else {
        panic!()
    };
    assert_eq!(set.keywords_set, ["x"]);
    let Some(EventData::FlagsClear(clear)) = msg.event(EventName::FlagsClear) else {
        panic!()
    };
    assert_eq!(clear.keywords_clear, ["old"]);
    // A without store_old created the data first; B's store_old still gets the old keywords
    // (Dovecot would write into an unallocated array here).
    assert_eq!(
        clear.keywords_old.as_deref(),
        Some(&["old".to_string()][..])
    );
}

// ---------------------------------------------------------------------------------------------
// Mailbox events.

#[test]
fn mailbox_events_are_their_own_transactions() {
    let h = harness();
    let user = h.user(ONE);
    h.log();
    user.mailbox_created("New");
    user.mailbox_renamed("New", "Renamed");
    user.mailbox_subscribed("Renamed", true);
    user.mailbox_subscribed("Renamed", false);
    user.mailbox_deleted("Renamed");
    assert_eq!(
        h.log(),
        [
            "A begin New",
            "A mbox New [\"MailboxCreate\"]",
            "A end true",
            "A begin Renamed",
            "A mbox Renamed [\"MailboxRename\"]",
            "A end true",
            "A begin Renamed",
            "A mbox Renamed [\"MailboxSubscribe\"]",
            "A end true",
            "A begin Renamed",
            "A mbox Renamed [\"MailboxUnsubscribe\"]",
            "A end true",
            "A begin Renamed",
            "A mbox Renamed [\"MailboxDelete\"]",
            "A end true",
        ]
    );
}

#[test]
fn process_mbox_runs_even_without_a_subscription() {
    let h = harness();
    let user = h.user(&[("push_notification_driver", "rec:id=A events=MessageNew")]);
    h.log();
    user.mailbox_deleted("Gone");
    assert_eq!(h.log(), ["A begin Gone", "A mbox Gone []", "A end true"]);
}

// ---------------------------------------------------------------------------------------------
// §3.1: loading the driver list.

#[test]
fn driver_list_stops_at_a_gap() {
    let h = harness();
    let user = h.user(&[
        ("push_notification_driver", "rec:id=A"),
        ("push_notification_driver3", "rec:id=C"),
    ]);
    assert_eq!(user.driver_names().collect::<Vec<_>>(), ["rec"]);
}

#[test]
fn unknown_or_failing_driver_stops_loading_but_keeps_earlier_ones() {
    let h = harness();
    let user = h.user(&[
        ("push_notification_driver", "REC:id=A"),
        ("push_notification_driver2", "nosuch:x"),
        ("push_notification_driver3", "rec:id=C"),
    ]);
    assert_eq!(
        user.driver_names().collect::<Vec<_>>(),
        ["REC"],
        "names match ignoring case"
    );
    let user = h.user(&[
        ("push_notification_driver", "rec:id=A"),
        ("push_notification_driver2", "rec:fail"),
        ("push_notification_driver3", "rec:id=C"),
    ]);
    assert_eq!(user.driver_names().count(), 1);
}

#[test]
fn legacy_backend_keys_are_used_only_when_no_driver_loaded() {
    let h = harness();
    let user = h.user(&[
        ("push_notification_driver", "rec:fail"),
        ("push_notification_backend", "rec:id=L1"),
        ("push_notification_backend2", "rec:id=L2"),
    ]);
    assert_eq!(user.driver_names().count(), 2);
    assert_eq!(h.log(), ["L1 init", "L2 init"]);
    let user = h.user(&[
        ("push_notification_driver", "rec:id=A"),
        ("push_notification_backend", "rec:id=L1"),
    ]);
    assert_eq!(user.driver_names().count(), 1);
}

#[test]
fn the_raw_delivery_user_never_starts_drivers() {
    let h = harness();
    let mut info = UserInfo::new("alice@example.com", "lmtp");
    info.raw_autocreated = true;
    let settings: BTreeMap<String, String> =
        [("push_notification_driver".to_owned(), "rec:id=R".to_owned())].into();
    let user = h.pn.user(info, Arc::new(settings));
    let mut t = user.begin_mail_txn("INBOX");
    t.expunge(1);
    t.commit(&commit(&[]));
    user.mailbox_created("X");
    user.deinit();
    assert_eq!(h.log(), ["R init", "R deinit", "R cleanup"]);
}

#[test]
fn a_driver_only_sees_events_it_subscribed_to() {
    // Dovecot shows every driver all data, which makes Lua call functions that do not exist
    // ("is not a function", docs/compat.md).
    let h = harness();
    let user = h.user(&[
        ("push_notification_driver", "rec:id=A"),
        ("push_notification_driver2", "rec:id=B events=MessageRead"),
    ]);
    let mut t = user.begin_mail_txn("INBOX");
    t.update_flags(1, MailFlags::empty(), MailFlags::SEEN);
    t.commit(&commit(&[]));
    let seen = h.seen();
    let names = |id: &str| -> Vec<EventName> {
        let (_, m) = seen.iter().find(|(d, _)| d == id).unwrap();
        m.events.iter().map(EventData::name).collect()
    };
    assert_eq!(
        names("A"),
        [
            EventName::FlagsClear,
            EventName::FlagsSet,
            EventName::MessageRead
        ]
    );
    assert_eq!(names("B"), [EventName::MessageRead]);
    h.log();
    user.mailbox_created("X");
    assert_eq!(
        h.log(),
        [
            "A begin X",
            "B begin X",
            "A mbox X [\"MailboxCreate\"]",
            "B mbox X []",
            "A end true",
            "B end true"
        ]
    );
}

#[test]
fn a_transaction_over_many_messages_keeps_one_record_per_message_in_first_touched_order() {
    let h = harness();
    let user = h.user(ONE);
    let mut t = user.begin_mail_txn("INBOX");
    let uids: Vec<u32> = (1..=40).rev().collect();
    for &uid in &uids {
        t.update_flags(uid, MailFlags::empty(), MailFlags::SEEN);
    }
    for &uid in &uids {
        t.expunge(uid);
    }
    t.commit(&commit(&[]));
    let seen = h.seen();
    assert_eq!(seen.iter().map(|(_, m)| m.uid).collect::<Vec<_>>(), uids);
    for (_, msg) in &seen {
        let names: Vec<EventName> = msg.events.iter().map(EventData::name).collect();
        assert_eq!(
            names,
            [
                EventName::FlagsClear,
                EventName::FlagsSet,
                EventName::MessageRead,
                EventName::MessageExpunge
            ]
        );
    }
}
