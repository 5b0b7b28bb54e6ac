//! A user's first delivery, Dovecot 2.3 (Debian's, on this host) next to `pn deliver`, both
//! with the dlog driver: Dovecot reports INBOX's creation (MailboxCreate) before the MessageNew,
//! and a first delivery with `-m Work` only Work's; pn must report the same events (Dovecot
//! 2.4.1 does the same, see `dovecot24.rs`). Needs root; skipped with a notice otherwise.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

mod util;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use util::dovecot::{self, DOVECOT, nobody};
use util::{dlog, run_pn, stderr};

const LDA: &str = "/usr/lib/dovecot/dovecot-lda";
const MESSAGE: &[u8] = b"From: a@example.org\nSubject: first\n\nhello\n";

/// The event lines of dlog's output, UIDVALIDITY replaced.
fn events(lines: impl Iterator<Item = String>) -> Vec<String> {
    lines
        .filter(|l| {
            l.starts_with("Mailbox data:")
                || l.starts_with("Message data:")
                || l.contains(": Mailbox was ")
        })
        .map(|l| match l.split_once(", UIDVALIDITY [") {
            Some((head, _)) => format!("{head}, UIDVALIDITY [*]"),
            None => l,
        })
        .collect()
}

/// Dovecot's dlog lines (`… Debug: <line>`) from its log.
fn dovecot_lines(log: &str) -> impl Iterator<Item = String> + '_ {
    log.lines()
        .filter_map(|l| l.split_once(": Debug: ").map(|(_, m)| m.to_owned()))
}

#[test]
fn the_first_delivery_creates_inbox_with_the_events_dovecot_23_reports() {
    if let Some(why) = dovecot::unavailable(DOVECOT) {
        eprintln!("NOTICE: {why}, skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let (uid, gid) = nobody();
    for p in [base, &base.join("home")] {
        std::fs::create_dir_all(p).unwrap();
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    }
    let mut users = String::new();
    for user in ["alice", "bob", "carol", "dave"] {
        users.push_str(&format!(
            "{user}@example.com:{{PLAIN}}x:{uid}:{gid}::{}/home/{user}::\n",
            base.display()
        ));
    }
    let users_file = base.join("users");
    std::fs::write(&users_file, users).unwrap();
    let common = format!(
        "mail_location = maildir:~/Maildir\nlda_mailbox_autocreate = yes\n\
         protocol lda {{\n  mail_plugins = $mail_plugins notify push_notification\n}}\n\
         userdb {{\n  driver = passwd-file\n  args = {}\n}}\n\
         plugin {{\n  push_notification_driver = dlog\n}}\n",
        users_file.display()
    );
    // LDA without -d: the user comes from $USER/$HOME, so no auth process is needed.
    let dovecot_conf = base.join("dovecot.conf");
    std::fs::write(
        &dovecot_conf,
        format!(
            "log_path = {}/dovecot.log\nmail_debug = yes\nmail_uid = {uid}\nmail_gid = {gid}\n\
             {common}",
            base.display()
        ),
    )
    .unwrap();
    let pn_conf = base.join("pn.conf");
    std::fs::write(&pn_conf, &common).unwrap();

    for (dovecot_user, pn_user, mailbox) in [
        ("alice", "bob@example.com", None),
        ("carol", "dave@example.com", Some("Work")),
    ] {
        let log = base.join("dovecot.log");
        let _ = std::fs::remove_file(&log);
        let home = base.join("home").join(dovecot_user);
        let mut lda = Command::new(LDA);
        lda.arg("-c")
            .arg(&dovecot_conf)
            .args(["-f", "sender@example.org"])
            .env("USER", format!("{dovecot_user}@example.com"))
            .env("HOME", &home)
            .stdin(Stdio::piped());
        if let Some(m) = mailbox {
            lda.args(["-m", m]);
        }
        // As the mail user, as a real LDA runs.
        std::os::unix::process::CommandExt::uid(&mut lda, uid);
        std::os::unix::process::CommandExt::gid(&mut lda, gid);
        let mut child = lda.spawn().unwrap();
        child.stdin.take().unwrap().write_all(MESSAGE).unwrap();
        let status = child.wait().unwrap();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(status.success(), "dovecot-lda: {status}\n{text}");
        let dovecot_events = events(dovecot_lines(&text));

        let mut args = vec![
            "-c",
            pn_conf.to_str().unwrap(),
            "deliver",
            "-d",
            pn_user,
            "-f",
            "sender@example.org",
        ];
        if let Some(m) = mailbox {
            args.extend(["-m", m]);
        }
        let out = run_pn(&args, Some(MESSAGE), &[]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let pn_events = events(dlog(&out).into_iter());

        let inbox_created = mailbox.is_none();
        assert_eq!(
            dovecot_events
                .iter()
                .any(|l| l == "Mailbox data: Mailbox [INBOX]"),
            inbox_created,
            "{dovecot_events:?}"
        );
        let folder = mailbox.unwrap_or("INBOX");
        let message = format!("Message data: Mailbox [{folder}], UID [1], UIDVALIDITY [*]");
        assert!(dovecot_events.contains(&message), "{dovecot_events:?}");
        assert_eq!(pn_events, dovecot_events);
        assert!(Path::new(&home).join("Maildir/cur").is_dir());
    }
}
