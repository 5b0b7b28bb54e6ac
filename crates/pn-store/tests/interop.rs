//! Interop with the real Dovecot 2.3 (Debian's `dovecot-core`): pn and Dovecot serve the same
//! Maildir. Skipped, with a notice, when `/usr/bin/doveadm` is missing.
//!
//! No server is started: `doveadm` and `dovecot-lda` run with a generated config (`-c`) and
//! without `-u`, so they take the user from `$USER`/`$HOME` instead of asking the auth
//! service. Dovecot refuses mail access as root, so when the tests run as root Dovecot runs as
//! `nobody` (`mail_uid`/`mail_gid`) and the tree is handed to that user before each Dovecot
//! command (pn leaves ownership to its CLI layer).

#![allow(clippy::unwrap_used, clippy::panic, clippy::print_stderr, missing_docs)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pn_event::MailFlags;
use pn_store::{FlagOp, MailboxLocator, Maildir, NewMessage, guid_hex};

const DOVEADM: &str = "/usr/bin/doveadm";
const LDA: &str = "/usr/lib/dovecot/dovecot-lda";

struct Dovecot {
    _dir: tempfile::TempDir,
    home: PathBuf,
    conf: PathBuf,
    /// (uid, gid) Dovecot runs as when we are root.
    owner: Option<(u32, u32)>,
}

fn dovecot() -> Option<Dovecot> {
    if !Path::new(DOVEADM).exists() {
        eprintln!("NOTICE: {DOVEADM} not found, skipping the Dovecot interop test");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_owned();
    let home = base.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let me = std::fs::metadata(&base).unwrap().uid();
    let owner = (me == 0).then(|| {
        let id = |flag| {
            let out = Command::new("id").args([flag, "nobody"]).output().unwrap();
            String::from_utf8(out.stdout)
                .unwrap()
                .trim()
                .parse::<u32>()
                .unwrap()
        };
        (id("-u"), id("-g"))
    });
    let mail_ids = match owner {
        Some((u, g)) => format!("mail_uid = {u}\nmail_gid = {g}\n"),
        None => String::new(),
    };
    let conf = base.join("dovecot.conf");
    std::fs::write(
        &conf,
        format!(
            "base_dir = {b}/run\nstate_dir = {b}/state\nlog_path = /dev/stderr\n\
             mail_location = maildir:{h}/Maildir\nfirst_valid_uid = 0\nfirst_valid_gid = 0\n\
             {mail_ids}ssl = no\n\
             namespace inbox {{\n  inbox = yes\n  separator = /\n}}\n\
             passdb {{\n  driver = static\n  args = nopassword=y\n}}\n\
             userdb {{\n  driver = static\n  args = home={h}\n}}\n",
            b = base.display(),
            h = home.display()
        ),
    )
    .unwrap();
    for d in ["run", "state"] {
        std::fs::create_dir_all(base.join(d)).unwrap();
    }
    if owner.is_some() {
        // `nobody` must be able to reach the home.
        Command::new("chmod")
            .arg("755")
            .arg(&base)
            .status()
            .unwrap();
    }
    Some(Dovecot {
        _dir: dir,
        home,
        conf,
        owner,
    })
}

impl Dovecot {
    fn maildir(&self) -> PathBuf {
        self.home.join("Maildir")
    }

    fn store(&self) -> Maildir {
        Maildir::open(self.maildir())
    }

    fn hand_over(&self) {
        if let Some((u, g)) = self.owner {
            let status = Command::new("chown")
                .arg("-R")
                .arg(format!("{u}:{g}"))
                .arg(&self.home)
                .status()
                .unwrap();
            assert!(status.success());
        }
    }

    fn command(&self, program: &str) -> Command {
        self.hand_over();
        let mut c = Command::new(program);
        c.env("HOME", &self.home)
            .env("USER", if self.owner.is_some() { "nobody" } else { "pn" })
            .stderr(Stdio::inherit());
        c
    }

    /// Runs doveadm with `-f tab` and returns the rows below the header, split at tabs.
    fn doveadm(&self, args: &[&str]) -> Vec<Vec<String>> {
        let out = self
            .command(DOVEADM)
            .arg("-c")
            .arg(&self.conf)
            .args(["-f", "tab"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "doveadm {args:?} failed: {out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split('\t').map(str::to_owned).collect())
            .collect()
    }

    fn lda(&self, mailbox: &str, msg: &[u8]) {
        if self.owner.is_some() {
            // dovecot-lda as root would refuse; run it as the mail user directly.
            self.hand_over();
        }
        let mut c = self.command(LDA);
        c.arg("-c")
            .arg(&self.conf)
            .args(["-f", "sender@example.org", "-m", mailbox]);
        if let Some((u, g)) = self.owner {
            use std::os::unix::process::CommandExt;
            c.uid(u).gid(g);
        }
        let mut child = c.stdin(Stdio::piped()).spawn().unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(msg).unwrap();
        assert!(child.wait().unwrap().success(), "dovecot-lda failed");
    }

    /// (uid, flags without \Recent, guid) per message, as Dovecot sees them.
    fn fetch(&self, mailbox: &str) -> Vec<(u32, String, String)> {
        self.doveadm(&["fetch", "uid flags guid", "mailbox", mailbox, "all"])
            .into_iter()
            .map(|r| {
                let flags: Vec<&str> = r[1]
                    .split(' ')
                    .filter(|f| !f.is_empty() && *f != "\\Recent")
                    .collect();
                (r[0].parse().unwrap(), flags.join(" "), r[2].clone())
            })
            .collect()
    }

    /// messages, uidnext, uidvalidity, unseen, guid.
    fn status(&self, mailbox: &str) -> Vec<String> {
        let rows = self.doveadm(&[
            "mailbox",
            "status",
            "messages uidnext uidvalidity unseen guid",
            mailbox,
        ]);
        rows[0][1..].to_vec()
    }
}

/// pn's view in the same shape as [`Dovecot::fetch`].
fn pn_fetch(store: &Maildir, mailbox: &str) -> Vec<(u32, String, String)> {
    store
        .messages(mailbox)
        .unwrap()
        .into_iter()
        .map(|m| {
            let mut flags: Vec<String> = (m.flags - MailFlags::RECENT)
                .imap_names()
                .map(str::to_owned)
                .collect();
            flags.extend(m.keywords);
            (m.uid, flags.join(" "), m.guid)
        })
        .collect()
}

fn pn_status(store: &Maildir, mailbox: &str) -> Vec<String> {
    let s = store.status(mailbox).unwrap();
    let guid = guid_hex(&store.mailbox_guid(mailbox).unwrap());
    [
        s.messages.to_string(),
        s.uid_next.to_string(),
        s.uid_validity.to_string(),
        s.unseen.to_string(),
        guid,
    ]
    .into()
}

fn msg(n: usize) -> Vec<u8> {
    format!("From: a@example.com\r\nTo: b@example.com\r\nSubject: interop {n}\r\n\r\nbody {n}\r\n")
        .into_bytes()
}

#[test]
fn dovecot_reads_what_pn_wrote() {
    let Some(dc) = dovecot() else { return };
    let store = dc.store();
    store.create_mailbox(None, "Work/Bär").unwrap();
    store.set_subscribed(None, "Work/Bär", true).unwrap();
    store.set_subscribed(None, "INBOX", true).unwrap();
    for i in 0..3 {
        store
            .deliver(None, "INBOX", &NewMessage::new(&msg(i)))
            .unwrap();
    }
    let kw = vec!["$Label1".to_owned(), "todo".to_owned()];
    store
        .append(
            None,
            "Work/Bär",
            &NewMessage {
                flags: MailFlags::SEEN | MailFlags::FLAGGED,
                keywords: &kw,
                ..NewMessage::new(&msg(9))
            },
        )
        .unwrap();
    store
        .update_flags(
            None,
            "INBOX",
            &[2],
            FlagOp::Add,
            MailFlags::SEEN | MailFlags::ANSWERED,
            &kw[1..],
        )
        .unwrap();
    store.expunge(None, "INBOX", &[3]).unwrap();

    for mailbox in ["INBOX", "Work/Bär"] {
        assert_eq!(dc.fetch(mailbox), pn_fetch(&store, mailbox), "{mailbox}");
        assert_eq!(dc.status(mailbox), pn_status(&store, mailbox), "{mailbox}");
    }
    assert_eq!(dc.fetch("INBOX")[1].1, "\\Answered \\Seen todo");
    let subscribed: Vec<String> = dc
        .doveadm(&["mailbox", "list", "-s"])
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(subscribed, ["Work/Bär", "INBOX"]);
    let listed: Vec<String> = dc
        .doveadm(&["mailbox", "list"])
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    for name in ["INBOX", "Work", "Work/Bär"] {
        assert!(listed.iter().any(|l| l == name), "{name} in {listed:?}");
    }
}

#[test]
fn pn_continues_where_dovecot_lda_left_off() {
    let Some(dc) = dovecot() else { return };
    dc.doveadm(&["mailbox", "create", "Lists"]);
    dc.lda("INBOX", &msg(1));
    dc.lda("INBOX", &msg(2));
    dc.lda("Lists", &msg(3));
    dc.doveadm(&[
        "flags",
        "add",
        "\\Seen $Label1 foo",
        "mailbox",
        "INBOX",
        "uid",
        "1",
    ]);
    dc.doveadm(&["mailbox", "subscribe", "Lists"]);

    let store = dc.store();
    assert_eq!(pn_fetch(&store, "INBOX"), dc.fetch("INBOX"));
    assert_eq!(pn_status(&store, "INBOX"), dc.status("INBOX"));
    assert_eq!(
        store.messages("INBOX").unwrap()[0].keywords,
        ["$Label1", "foo"]
    );
    assert_eq!(store.subscriptions().unwrap(), ["Lists"]);

    // pn appends, flags with a known and a new keyword: no UID reuse, keywords agree.
    let saved = store
        .append(None, "INBOX", &NewMessage::new(&msg(4)))
        .unwrap();
    assert_eq!(saved.uids, [3]);
    store
        .update_flags(
            None,
            "INBOX",
            &[2, 3],
            FlagOp::Add,
            MailFlags::FLAGGED,
            &["foo".into(), "bar".into()],
        )
        .unwrap();
    store.expunge(None, "INBOX", &[1]).unwrap();
    assert_eq!(pn_fetch(&store, "INBOX"), dc.fetch("INBOX"));
    assert_eq!(pn_status(&store, "INBOX"), dc.status("INBOX"));

    // Dovecot delivers again after pn: the next UID follows pn's.
    dc.lda("INBOX", &msg(5));
    let uids: Vec<u32> = dc.fetch("INBOX").iter().map(|m| m.0).collect();
    assert_eq!(uids, [2, 3, 4]);
    assert_eq!(pn_fetch(&store, "INBOX"), dc.fetch("INBOX"));
    let moved = store.move_messages(None, "INBOX", &[4], "Lists").unwrap();
    assert_eq!(moved.saved.uids, [2]);
    assert_eq!(pn_fetch(&store, "Lists"), dc.fetch("Lists"));
    assert_eq!(pn_status(&store, "Lists"), dc.status("Lists"));
}
