//! `pn mailbox create|delete|rename|subscribe|unsubscribe|list|status`: doveadm's output,
//! messages and exit codes, and the mailbox events each command fires (through dlog).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod util;

use util::{CLEANUP, DEINIT, INIT, Sandbox, dlog, mbox_txn, stderr, stdout};

const ALICE: &str = "alice@example.com";

fn mailbox(sb: &Sandbox, args: &[&str]) -> std::process::Output {
    let mut full = vec!["mailbox", args[0], "-u", ALICE];
    full.extend_from_slice(&args[1..]);
    sb.pn(&full, None)
}

/// init, the transactions, deinit/cleanup.
fn session(txns: &[Vec<String>]) -> Vec<String> {
    let mut out = vec![INIT.to_owned()];
    for t in txns {
        out.extend(t.iter().cloned());
    }
    out.extend([DEINIT.to_owned(), CLEANUP.to_owned()]);
    out
}

#[test]
fn create_with_s_fires_mailbox_create_and_subscribe() {
    let sb = Sandbox::new();
    let out = mailbox(&sb, &["create", "-s", "Work"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        dlog(&out),
        session(&[
            mbox_txn("Work", "MailboxCreate: Mailbox was created"),
            mbox_txn("Work", "MailboxSubscribe: Mailbox was subscribed to"),
        ])
    );
    assert!(sb.maildir(ALICE).join(".Work/dovecot-uidlist").exists());
}

#[test]
fn creating_an_existing_mailbox_exits_65_with_doveadms_message() {
    let sb = Sandbox::new();
    mailbox(&sb, &["create", "Work"]);
    let out = mailbox(&sb, &["create", "Work"]);
    assert_eq!(out.status.code(), Some(65));
    assert!(stderr(&out).contains(
        "pn(alice@example.com): Error: Can't create mailbox Work: Mailbox already exists"
    ));
    assert_eq!(dlog(&out), session(&[]), "no event for a failed create");
}

#[test]
fn list_prints_one_name_per_line_and_filters_by_mask_and_subscription() {
    let sb = Sandbox::new();
    mailbox(&sb, &["create", "Work", "Archive/2024"]);
    mailbox(&sb, &["subscribe", "Work"]);
    let out = mailbox(&sb, &["list"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "INBOX\nArchive\nArchive/2024\nWork\n");
    assert_eq!(stdout(&mailbox(&sb, &["list", "A%"])), "Archive\n");
    assert_eq!(stdout(&mailbox(&sb, &["list", "-s"])), "Work\n");
    assert_eq!(
        stdout(&mailbox(&sb, &["list", "-f", "tab", "W*"])),
        "mailbox\nWork\n"
    );
}

#[test]
fn rename_with_s_moves_the_subscription() {
    let sb = Sandbox::new();
    mailbox(&sb, &["create", "-s", "Work"]);
    let out = mailbox(&sb, &["rename", "-s", "Work", "Projects"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        dlog(&out),
        session(&[
            mbox_txn(
                "Projects",
                "MailboxRename: Mailbox was renamed (old name: Work)"
            ),
            // dlog's Dovecot text for an unsubscribe.
            mbox_txn("Work", "MailboxUnsubscribe: Mailbox was subscribed to"),
            mbox_txn("Projects", "MailboxSubscribe: Mailbox was subscribed to"),
        ])
    );
    assert_eq!(stdout(&mailbox(&sb, &["list", "-s"])), "Projects\n");
}

#[test]
fn missing_mailboxes_exit_68() {
    let sb = Sandbox::new();
    for (args, message) in [
        (
            &["delete", "Nope"][..],
            "Error: Can't delete mailbox Nope: Mailbox doesn't exist: Nope",
        ),
        (
            &["rename", "Nope", "X"],
            "Error: Can't rename mailbox Nope to X: Mailbox doesn't exist: Nope",
        ),
        (
            &["status", "messages", "Nope"],
            "Error: Mailbox Nope: Failed to lookup mailbox status: Mailbox doesn't exist: Nope",
        ),
    ] {
        let out = mailbox(&sb, args);
        assert_eq!(out.status.code(), Some(68), "{args:?}");
        assert!(stderr(&out).contains(message), "{}", stderr(&out));
    }
}

#[test]
fn inbox_cannot_be_deleted_and_renaming_onto_a_mailbox_is_refused() {
    let sb = Sandbox::new();
    let out = mailbox(&sb, &["delete", "INBOX"]);
    assert_eq!(out.status.code(), Some(65));
    assert!(stderr(&out).contains("Can't delete mailbox INBOX: INBOX can't be deleted."));
    mailbox(&sb, &["create", "A", "B"]);
    let out = mailbox(&sb, &["rename", "A", "B"]);
    assert_eq!(out.status.code(), Some(65));
    assert!(stderr(&out).contains("Can't rename mailbox A to B: Target mailbox already exists"));
}

#[test]
fn delete_fires_mailbox_delete_and_r_removes_children() {
    let sb = Sandbox::new();
    mailbox(&sb, &["create", "Archive/2023", "Archive/2024"]);
    let out = mailbox(&sb, &["delete", "-r", "Archive"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        dlog(&out),
        session(&[
            mbox_txn("Archive/2024", "MailboxDelete: Mailbox was deleted"),
            mbox_txn("Archive/2023", "MailboxDelete: Mailbox was deleted"),
        ])
    );
    assert_eq!(stdout(&mailbox(&sb, &["list"])), "INBOX\n");
}

#[test]
fn unsubscribe_of_an_unsubscribed_mailbox_fires_nothing() {
    let sb = Sandbox::new();
    let out = mailbox(&sb, &["unsubscribe", "Work"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(dlog(&out), session(&[]));
}

#[test]
fn status_prints_doveadms_fields_in_doveadms_order() {
    let sb = Sandbox::new();
    sb.pn(&["deliver", "-d", ALICE], Some(b"Subject: a\n\nhello\n"));
    sb.pn(&["save", "-u", ALICE], Some(b"Subject: b\r\n\r\nhi\r\n"));
    let out = mailbox(&sb, &["status", "unseen messages uidnext", "INBOX"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "INBOX messages=2 uidnext=3 unseen=2\n");

    let out = mailbox(&sb, &["status", "all", "INBOX"]);
    let line = stdout(&out);
    let keys: Vec<&str> = line
        .split_whitespace()
        .skip(1)
        .map(|kv| kv.split_once('=').unwrap().0)
        .collect();
    assert_eq!(
        keys,
        [
            "messages",
            "recent",
            "uidnext",
            "uidvalidity",
            "unseen",
            "vsize",
            "guid"
        ]
    );
    assert!(line.contains(" vsize=39 "), "CRLF sizes (21 + 18): {line}");

    mailbox(&sb, &["create", "Work"]);
    let out = mailbox(&sb, &["status", "-f", "tab", "messages", "*"]);
    assert_eq!(stdout(&out), "mailbox\tmessages\nINBOX\t2\nWork\t0\n");
    let out = mailbox(&sb, &["status", "-t", "messages unseen", "*"]);
    assert_eq!(stdout(&out), "messages=2 unseen=2\n");
}

#[test]
fn bad_status_fields_are_usage_errors() {
    let sb = Sandbox::new();
    let out = mailbox(&sb, &["status", "bogus", "INBOX"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("Fatal: Unknown status field: bogus"));
    let out = mailbox(&sb, &["status", "-t", "uidnext", "INBOX"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("Fatal: Status field uidnext can't be used with -t"));
}

#[test]
fn unknown_users_exit_67() {
    let sb = Sandbox::new();
    let out = sb.pn(&["mailbox", "list", "-u", "carol@example.com"], None);
    assert_eq!(out.status.code(), Some(67));
    assert!(stderr(&out).contains("pn(carol@example.com): Error: User doesn't exist"));
}
