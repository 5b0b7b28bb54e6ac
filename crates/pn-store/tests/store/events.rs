//! Every operation fires the spec's events with the UIDs and UIDVALIDITY the store assigned.

use pn_event::{EventData, EventName, FlagsClearData, FlagsSetData, MailFlags};
use pn_store::{ErrorKind, FlagOp, NewMessage, SaveKind};

use crate::util::{Harness, Seen, message};

#[test]
fn deliver_fires_message_new_with_the_assigned_uid_and_uidvalidity() {
    let h = Harness::new();
    let m = message(1);
    let saved = h
        .store
        .deliver(Some(&h.user), "INBOX", &NewMessage::new(&m))
        .unwrap();
    let status = h.store.status("INBOX").unwrap();
    assert_eq!(saved.uids, [1]);
    assert_eq!(saved.uid_validity, status.uid_validity);
    let seen = h.take();
    let Seen::Msg(msg) = &seen[0] else {
        panic!("{seen:?}")
    };
    assert_eq!(
        (msg.mailbox.as_str(), msg.uid, msg.uid_validity),
        ("INBOX", 1, status.uid_validity)
    );
    let new = msg.message_new().expect("MessageNew");
    // Dovecot's LDA/LMTP report a delivered message without \Recent (2.3.19 and 2.4.1).
    assert_eq!(new.flags, Some(MailFlags::empty()));
    assert_eq!(seen[1], Seen::End(true));
}

#[test]
fn append_of_several_messages_fires_message_append_for_each_uid() {
    let h = Harness::new();
    h.store.create_mailbox(None, "Work").unwrap();
    let (a, b) = (message(1), message(2));
    let kw = vec!["$Label1".to_owned()];
    let msgs = [
        NewMessage::new(&a),
        NewMessage {
            flags: MailFlags::SEEN,
            keywords: &kw,
            ..NewMessage::new(&b)
        },
    ];
    let saved = h
        .store
        .save_messages(Some(&h.user), "Work", SaveKind::Append, &msgs)
        .unwrap();
    assert_eq!(saved.uids, [1, 2]);
    let msgs = h.msgs();
    assert_eq!(msgs.iter().map(|m| m.uid).collect::<Vec<_>>(), [1, 2]);
    let EventData::MessageAppend(second) = &msgs[1].events[0] else {
        panic!("{msgs:?}")
    };
    assert_eq!(second.flags, Some(MailFlags::SEEN | MailFlags::RECENT));
    assert_eq!(second.keywords.as_deref(), Some(&kw[..]));
    let listed = h.store.messages("Work").unwrap();
    assert_eq!(listed[1].flags, MailFlags::SEEN);
    assert_eq!(listed[1].keywords, kw);
    assert_eq!(listed[0].flags, MailFlags::RECENT);
}

#[test]
fn seen_fires_flags_clear_flags_set_and_message_read_with_old_flags() {
    let h = Harness::new();
    let m = message(1);
    h.store
        .deliver(None, "INBOX", &NewMessage::new(&m))
        .unwrap();
    let v = h.store.status("INBOX").unwrap().uid_validity;
    let updates = h
        .store
        .update_flags(
            Some(&h.user),
            "INBOX",
            &[1],
            FlagOp::Add,
            MailFlags::SEEN,
            &[],
        )
        .unwrap();
    assert_eq!(updates[0].old_flags, MailFlags::RECENT);
    assert_eq!(updates[0].new_flags, MailFlags::SEEN | MailFlags::RECENT);
    let msgs = h.msgs();
    assert_eq!((msgs[0].uid, msgs[0].uid_validity), (1, v));
    assert_eq!(
        msgs[0].events,
        [
            EventData::FlagsClear(FlagsClearData {
                flags_old: MailFlags::RECENT,
                keywords_old: Some(vec![]),
                ..FlagsClearData::default()
            }),
            EventData::FlagsSet(FlagsSetData {
                flags_set: MailFlags::SEEN,
                keywords_set: vec![],
            }),
            EventData::MessageRead,
        ]
    );
    assert_eq!(h.store.status("INBOX").unwrap().unseen, 0);
}

#[test]
fn keywords_are_set_and_cleared_with_events() {
    let h = Harness::new();
    let m = message(1);
    h.store
        .deliver(None, "INBOX", &NewMessage::new(&m))
        .unwrap();
    let kws = vec!["todo".to_owned(), "$Important".to_owned()];
    h.store
        .update_flags(
            Some(&h.user),
            "INBOX",
            &[1],
            FlagOp::Add,
            MailFlags::empty(),
            &kws,
        )
        .unwrap();
    let msgs = h.msgs();
    let set = msgs[0].event(EventName::FlagsSet).unwrap();
    assert_eq!(
        set,
        &EventData::FlagsSet(FlagsSetData {
            flags_set: MailFlags::empty(),
            keywords_set: vec!["todo".into(), "$Important".into()],
        })
    );
    h.store
        .update_flags(
            Some(&h.user),
            "INBOX",
            &[1],
            FlagOp::Remove,
            MailFlags::empty(),
            &kws[..1],
        )
        .unwrap();
    let msgs = h.msgs();
    let EventData::FlagsClear(clear) = msgs[0].event(EventName::FlagsClear).unwrap() else {
        panic!()
    };
    assert_eq!(clear.keywords_clear, ["todo"]);
    assert_eq!(
        h.store.messages("INBOX").unwrap()[0].keywords,
        ["$Important"]
    );
}

#[test]
fn deleted_then_expunge_fire_message_trash_and_message_expunge() {
    let h = Harness::new();
    let m = message(1);
    h.store
        .deliver(None, "INBOX", &NewMessage::new(&m))
        .unwrap();
    h.store
        .update_flags(
            Some(&h.user),
            "INBOX",
            &[1],
            FlagOp::Add,
            MailFlags::DELETED,
            &[],
        )
        .unwrap();
    assert!(h.msgs()[0].event(EventName::MessageTrash).is_some());
    let gone = h.store.expunge(Some(&h.user), "INBOX", &[1, 99]).unwrap();
    assert_eq!(gone, [1]);
    let msgs = h.msgs();
    assert_eq!(msgs[0].uid, 1);
    assert_eq!(msgs[0].events, [EventData::MessageExpunge]);
    let status = h.store.status("INBOX").unwrap();
    assert_eq!((status.messages, status.uid_next), (0, 2));
}

#[test]
fn copy_appends_in_the_destination_and_move_also_expunges_the_source() {
    let h = Harness::new();
    h.store.create_mailbox(None, "Archive").unwrap();
    let m = message(1);
    h.store
        .deliver(None, "INBOX", &NewMessage::new(&m))
        .unwrap();
    h.store
        .update_flags(
            None,
            "INBOX",
            &[1],
            FlagOp::Add,
            MailFlags::FLAGGED,
            &["x".into()],
        )
        .unwrap();
    let copied = h
        .store
        .copy(Some(&h.user), "INBOX", &[1], "Archive")
        .unwrap();
    assert_eq!(
        (copied.source_uids.as_slice(), copied.saved.uids.as_slice()),
        (&[1][..], &[1][..])
    );
    let seen = h.msgs();
    assert_eq!((seen[0].mailbox.as_str(), seen[0].uid), ("Archive", 1));
    let EventData::MessageAppend(d) = &seen[0].events[0] else {
        panic!("{seen:?}")
    };
    assert_eq!(d.flags, Some(MailFlags::FLAGGED | MailFlags::RECENT));
    assert_eq!(d.keywords.as_deref(), Some(&["x".to_owned()][..]));
    let archived = h.store.messages("Archive").unwrap();
    assert_eq!(archived[0].keywords, ["x"]);
    assert_eq!(
        h.store.read_message("Archive", 1).unwrap(),
        h.store.read_message("INBOX", 1).unwrap()
    );

    let moved = h
        .store
        .move_messages(Some(&h.user), "INBOX", &[1], "Archive")
        .unwrap();
    assert_eq!(moved.saved.uids, [2]);
    let seen = h.msgs();
    assert_eq!(
        seen.iter()
            .map(|m| (m.mailbox.as_str(), m.uid))
            .collect::<Vec<_>>(),
        [("Archive", 2), ("INBOX", 1)]
    );
    assert_eq!(seen[1].events, [EventData::MessageExpunge]);
    assert_eq!(h.store.status("INBOX").unwrap().messages, 0);
}

#[test]
fn mailbox_operations_fire_mailbox_events() {
    let h = Harness::new();
    h.store.create_mailbox(Some(&h.user), "Foo/Bär").unwrap();
    h.store
        .set_subscribed(Some(&h.user), "Foo/Bär", true)
        .unwrap();
    h.store
        .set_subscribed(Some(&h.user), "Foo/Bär", true)
        .unwrap();
    h.store
        .rename_mailbox(Some(&h.user), "Foo/Bär", "Baz")
        .unwrap();
    h.store
        .set_subscribed(Some(&h.user), "Foo/Bär", false)
        .unwrap();
    h.store.delete_mailbox(Some(&h.user), "Baz").unwrap();
    let mbox: Vec<(String, Vec<EventData>)> = h
        .take()
        .into_iter()
        .filter_map(|s| match s {
            Seen::Mbox(m) => Some((m.mailbox, m.events)),
            _ => None,
        })
        .collect();
    let names: Vec<(&str, EventName)> = mbox
        .iter()
        .map(|(m, e)| (m.as_str(), e[0].name()))
        .collect();
    assert_eq!(
        names,
        [
            ("Foo/Bär", EventName::MailboxCreate),
            ("Foo/Bär", EventName::MailboxSubscribe),
            ("Baz", EventName::MailboxRename),
            ("Foo/Bär", EventName::MailboxUnsubscribe),
            ("Baz", EventName::MailboxDelete),
        ]
    );
    let EventData::MailboxCreate { uid_validity } = mbox[0].1[0] else {
        panic!()
    };
    assert_ne!(uid_validity, 0);
}

#[test]
fn a_failed_uidlist_write_rolls_back_and_stores_nothing() {
    let h = Harness::new();
    let m = message(1);
    h.store
        .deliver(None, "INBOX", &NewMessage::new(&m))
        .unwrap();
    // The uidlist can't be used: its name is taken by a directory (the real file is set
    // aside and put back afterwards).
    let root = h.store.root().to_owned();
    let (uidlist, aside) = (root.join("dovecot-uidlist"), root.join("uidlist.aside"));
    std::fs::rename(&uidlist, &aside).unwrap();
    std::fs::create_dir(&uidlist).unwrap();
    let err = h
        .store
        .deliver(Some(&h.user), "INBOX", &NewMessage::new(&m))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Temporary, "{err}");
    assert_eq!(h.take(), [Seen::End(false)]);
    std::fs::remove_dir(&uidlist).unwrap();
    std::fs::rename(&aside, &uidlist).unwrap();
    assert_eq!(h.store.status("INBOX").unwrap().messages, 1);
    assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 0);
    assert!(!root.join("dovecot-uidlist.lock").exists());
}

#[test]
fn a_lock_held_by_another_process_times_out_as_a_temporary_failure() {
    let dir = tempfile::tempdir().unwrap();
    let options = pn_store::StoreOptions {
        lock: pn_store::LockSettings {
            timeout: std::time::Duration::from_millis(300),
            ..Default::default()
        },
        ..Default::default()
    };
    let store = pn_store::Maildir::with_options(dir.path().join("Maildir"), options);
    let h = Harness::with_store(dir, store);
    let m = message(1);
    h.store
        .deliver(None, "INBOX", &NewMessage::new(&m))
        .unwrap();
    std::fs::write(h.store.root().join("dovecot-uidlist.lock"), "1:otherhost").unwrap();
    let err = h
        .store
        .deliver(Some(&h.user), "INBOX", &NewMessage::new(&m))
        .unwrap_err();
    assert!(err.is_temporary(), "{err}");
    assert_eq!(h.take(), [Seen::End(false)]);
    assert_eq!(
        std::fs::read_dir(h.store.root().join("new"))
            .unwrap()
            .count(),
        1
    );
}

#[test]
fn invalid_input_is_refused_before_any_event() {
    let h = Harness::new();
    let err = h
        .store
        .deliver(Some(&h.user), "INBOX", &NewMessage::new(b""))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let m = message(1);
    let err = h
        .store
        .deliver(Some(&h.user), "No/Such", &NewMessage::new(&m))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = h.store.create_mailbox(Some(&h.user), "a.b").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    h.store.create_mailbox(None, "X").unwrap();
    assert_eq!(
        h.store.create_mailbox(None, "X").unwrap_err().kind(),
        ErrorKind::Exists
    );
    assert_eq!(
        h.store
            .rename_mailbox(None, "INBOX", "Y")
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    assert!(h.take().is_empty());
}

#[test]
fn status_counts_unseen_and_recent() {
    let h = Harness::new();
    let m = message(1);
    for _ in 0..3 {
        h.store
            .deliver(None, "INBOX", &NewMessage::new(&m))
            .unwrap();
    }
    h.store
        .append(
            None,
            "INBOX",
            &NewMessage {
                flags: MailFlags::SEEN,
                ..NewMessage::new(&m)
            },
        )
        .unwrap();
    let s = h.store.status("INBOX").unwrap();
    assert_eq!((s.messages, s.unseen, s.recent, s.uid_next), (4, 3, 3, 5));
    use pn_core::MailboxHost;
    let user = pn_core::UserInfo::new("alice", "imap");
    assert_eq!(MailboxHost::status(&h.store, &user, "INBOX").unwrap(), s);
    use pn_store::MailboxLocator;
    let guid = h.store.mailbox_guid("INBOX").unwrap();
    let header = std::fs::read_to_string(h.store.root().join("dovecot-uidlist")).unwrap();
    assert!(
        header.contains(&format!(" G{}", pn_store::guid_hex(&guid))),
        "{header}"
    );
}

#[test]
fn deliveries_append_to_the_uidlist_like_dovecot() {
    use std::os::unix::fs::MetadataExt;
    let h = Harness::new();
    let uidlist = h.store.root().join("dovecot-uidlist");
    h.store
        .deliver(None, "INBOX", &NewMessage::new(&message(1)))
        .unwrap();
    let inode = std::fs::metadata(&uidlist).unwrap().ino();
    let saved = h
        .store
        .deliver(None, "INBOX", &NewMessage::new(&message(2)))
        .unwrap();
    assert_eq!(saved.uids, [2]);
    assert_eq!(
        std::fs::metadata(&uidlist).unwrap().ino(),
        inode,
        "the second delivery appended to the same file"
    );
    let text = std::fs::read_to_string(&uidlist).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.lines().nth(2).unwrap().starts_with("2 :"), "{text}");
}

#[test]
fn an_append_cut_short_by_a_crash_is_repaired() {
    let h = Harness::new();
    let uidlist = h.store.root().join("dovecot-uidlist");
    h.store
        .deliver(None, "INBOX", &NewMessage::new(&message(1)))
        .unwrap();
    // A crash in the middle of an append leaves a last line without its newline.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&uidlist)
        .unwrap();
    std::io::Write::write_all(&mut f, b"2 :1700000000.M1P1.cut").unwrap();
    drop(f);
    let saved = h
        .store
        .deliver(None, "INBOX", &NewMessage::new(&message(2)))
        .unwrap();
    assert_eq!(saved.uids, [2]);
    let text = std::fs::read_to_string(&uidlist).unwrap();
    assert!(text.ends_with('\n'), "{text}");
    assert!(!text.contains(".cut"), "the partial line is gone: {text}");
    assert_eq!(h.store.status("INBOX").unwrap().messages, 2);
}
