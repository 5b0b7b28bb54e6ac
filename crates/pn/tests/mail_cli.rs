//! `pn save`, `pn flags`, `pn expunge`: doveadm's commands over pn's store, with the search
//! subset `mailbox`, `uid`, `all`, `seen`, `unseen`, and the message events they fire.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod util;

use util::{Sandbox, dlog, message_data, stderr, stdout};

const ALICE: &str = "alice@example.com";

/// A sandbox whose INBOX holds messages with UIDs 1..=n (appended with `pn save`).
fn with_messages(n: usize) -> Sandbox {
    let sb = Sandbox::new();
    for i in 1..=n {
        let msg = format!("Subject: {i}\n\nbody {i}\n");
        let out = sb.pn(&["save", "-u", ALICE], Some(msg.as_bytes()));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    sb
}

fn flags_of(sb: &Sandbox) -> Vec<String> {
    let mut names: Vec<String> = sb
        .files(ALICE, "")
        .into_iter()
        .map(|(name, _)| name.split_once(":2,").map_or("", |(_, f)| f).to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn save_appends_to_the_mailbox_and_reports_the_uid() {
    let sb = Sandbox::new();
    sb.pn(&["mailbox", "create", "-u", ALICE, "Work"], None);
    let out = sb.pn(
        &["save", "-u", ALICE, "-m", "Work"],
        Some(b"Subject: x\n\nhi\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let data = message_data(&dlog(&out), "Work");
    assert_eq!(data.len(), 1);
    assert_eq!(data[0].0, 1);
    assert_eq!(sb.files(ALICE, ".Work").len(), 1);
}

#[test]
fn save_to_a_missing_mailbox_exits_68() {
    let sb = Sandbox::new();
    let out = sb.pn(
        &["save", "-u", ALICE, "-m", "Nope"],
        Some(b"Subject: x\n\nhi\n"),
    );
    assert_eq!(out.status.code(), Some(68));
    assert!(
        stderr(&out).contains("Error: Failed to open mailbox Nope: Mailbox doesn't exist: Nope")
    );
}

#[test]
fn flags_add_fires_flags_set_and_message_read() {
    let sb = with_messages(2);
    let out = sb.pn(
        &[
            "flags",
            "add",
            "-u",
            ALICE,
            "\\Seen $Important",
            "mailbox",
            "INBOX",
            "uid",
            "1",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = dlog(&out);
    let events: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("Flags") || l.starts_with("Message"))
        .map(String::as_str)
        .collect();
    assert_eq!(message_data(&lines, "INBOX").len(), 1);
    assert_eq!(
        events[1..],
        [
            "FlagsSet: Seen flag set",
            "FlagsSet: Keyword set [$Important]",
            "MessageRead: Message was flagged as seen",
        ]
    );
    assert_eq!(flags_of(&sb), ["", "Sa"]);
}

#[test]
fn flags_remove_and_replace_fire_flags_clear_and_set() {
    let sb = with_messages(2);
    sb.pn(
        &[
            "flags",
            "add",
            "-u",
            ALICE,
            "\\Flagged todo",
            "mailbox",
            "INBOX",
            "all",
        ],
        None,
    );
    let out = sb.pn(
        &[
            "flags", "remove", "-u", ALICE, "todo", "mailbox", "INBOX", "uid", "2",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = dlog(&out);
    assert_eq!(
        message_data(&lines, "INBOX")
            .iter()
            .map(|d| d.0)
            .collect::<Vec<_>>(),
        [2]
    );
    assert!(
        lines.contains(&"FlagsClear: Keyword clear [todo]".to_owned()),
        "{lines:?}"
    );

    let out = sb.pn(
        &[
            "flags",
            "replace",
            "-u",
            ALICE,
            "\\Deleted",
            "mailbox",
            "INBOX",
            "uid",
            "1:*",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = dlog(&out);
    assert!(
        lines.contains(&"FlagsSet: Deleted flag set".to_owned()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"FlagsClear: Flagged flag cleared".to_owned()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"MessageTrash: Message was marked as deleted".to_owned()),
        "{lines:?}"
    );
    assert_eq!(flags_of(&sb), ["T", "T"]);
}

#[test]
fn the_search_subset_selects_messages() {
    let sb = with_messages(5);
    sb.pn(
        &[
            "flags", "add", "-u", ALICE, "\\Seen", "mailbox", "INBOX", "uid", "1:2,4",
        ],
        None,
    );
    let out = sb.pn(
        &[
            "flags",
            "add",
            "-u",
            ALICE,
            "\\Flagged",
            "mailbox",
            "inbox",
            "unseen",
        ],
        None,
    );
    let uids: Vec<u32> = message_data(&dlog(&out), "INBOX")
        .iter()
        .map(|d| d.0)
        .collect();
    assert_eq!(uids, [3, 5]);
    let out = sb.pn(
        &[
            "flags", "add", "-u", ALICE, "\\Draft", "MAILBOX", "INBOX", "SEEN", "UID", "2:*",
        ],
        None,
    );
    let uids: Vec<u32> = message_data(&dlog(&out), "INBOX")
        .iter()
        .map(|d| d.0)
        .collect();
    assert_eq!(uids, [2, 4]);
}

#[test]
fn expunge_fires_message_expunge_and_removes_the_files() {
    let sb = with_messages(3);
    let out = sb.pn(
        &["expunge", "-u", ALICE, "mailbox", "INBOX", "uid", "2:*"],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = dlog(&out);
    assert_eq!(
        message_data(&lines, "INBOX")
            .iter()
            .map(|d| d.0)
            .collect::<Vec<_>>(),
        [2, 3]
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| *l == "MessageExpunge: Message was expunged")
            .count(),
        2
    );
    assert_eq!(sb.files(ALICE, "").len(), 1);
    let out = sb.pn(
        &[
            "mailbox",
            "status",
            "-u",
            ALICE,
            "messages uidnext",
            "INBOX",
        ],
        None,
    );
    assert_eq!(
        stdout(&out),
        "INBOX messages=1 uidnext=4\n",
        "UIDs are never reused"
    );
}

#[test]
fn expunge_insists_on_a_mailbox_and_something_else() {
    let sb = with_messages(1);
    for (args, message) in [
        (
            &["all"][..],
            "search query must contain MAILBOX in all search branches",
        ),
        (
            &["mailbox", "INBOX"],
            "must contain something else besides MAILBOX",
        ),
    ] {
        let mut full = vec!["expunge", "-u", ALICE];
        full.extend_from_slice(args);
        let out = sb.pn(&full, None);
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        assert!(stderr(&out).contains(message), "{}", stderr(&out));
    }
    assert_eq!(sb.files(ALICE, "").len(), 1);
}

#[test]
fn bad_queries_and_flags_are_doveadms_fatal_errors() {
    let sb = with_messages(1);
    for (args, message) in [
        (
            &["flags", "add", "-u", ALICE, "\\Bogus", "all"][..],
            "Fatal: Invalid system flag: \\Bogus",
        ),
        (
            &[
                "flags", "add", "-u", ALICE, "\\Seen", "mailbox", "INBOX", "foo",
            ],
            "Fatal: Unknown argument FOO",
        ),
        (
            &["expunge", "-u", ALICE, "mailbox", "INBOX", "uid", "1:x"],
            "Fatal: Invalid UID messageset",
        ),
    ] {
        let out = sb.pn(args, None);
        assert_eq!(out.status.code(), Some(75), "{args:?}");
        assert!(stderr(&out).contains(message), "{}", stderr(&out));
    }
    let out = sb.pn(&["flags", "add", "-u", ALICE, "\\Seen"], None);
    assert_eq!(out.status.code(), Some(64));
    let out = sb.pn(
        &[
            "flags", "add", "-u", ALICE, "\\Seen", "mailbox", "Nope", "all",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(68));
    assert!(
        stderr(&out).contains("Mailbox Nope: Mailbox sync failed: Mailbox doesn't exist: Nope")
    );
}
