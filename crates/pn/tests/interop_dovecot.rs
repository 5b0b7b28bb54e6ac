//! pn and the real Dovecot 2.3 (Debian's `dovecot-core`, `dovecot-imapd`) on the same Maildir.
//!
//! The test starts Dovecot itself (`dovecot -F -c <generated conf>`, base and state
//! directories in a temporary directory, IMAP on a free loopback port) with a passwd-file
//! userdb that pn reads too. The mail user is `nobody`: pn, started as root, switches to it
//! from the userdb, as Dovecot does. The test speaks IMAP itself over a `TcpStream`.
//! Skipped with a notice when `/usr/sbin/dovecot` is missing or the test is not root.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

mod util;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use util::dovecot::{self, DOVECOT, Dovecot};
use util::{dlog, message_data, run_pn, stderr};

const LDA: &str = "/usr/lib/dovecot/dovecot-lda";
const ALICE: &str = "alice@example.com";
const PASSWORD: &str = "alicepass";

/// Dovecot serving IMAP, and pn configured for the same users and Maildirs.
struct Interop {
    dir: tempfile::TempDir,
    pn_conf: PathBuf,
    dovecot: Dovecot,
}

fn start() -> Option<Interop> {
    if let Some(why) = dovecot::unavailable(DOVECOT) {
        eprintln!("NOTICE: {why}, skipping the Dovecot interop tests");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let users = dovecot::passwd_file(base, ALICE, PASSWORD);
    let port = dovecot::free_port();
    let u = users.display();
    let dovecot = Dovecot::start(
        base,
        "imap",
        port,
        &format!(
            "disable_plaintext_auth = no\nauth_mechanisms = plain\n\
             mail_location = maildir:~/Maildir\nimap_metadata = yes\n\
             mail_attribute_dict = file:%h/dovecot-attributes\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {u}\n}}\n\
             userdb {{\n  driver = passwd-file\n  args = username_format=%u {u}\n}}\n\
             namespace inbox {{\n  inbox = yes\n  separator = /\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    \
             port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n"
        ),
    );
    let pn_conf = base.join("pn.conf");
    std::fs::write(
        &pn_conf,
        format!(
            "mail_location = maildir:~/Maildir\n\
             mail_attribute_dict = file:%h/dovecot-attributes\n\
             mail_plugins = $mail_plugins notify push_notification\n\
             userdb {{\n  driver = passwd-file\n  args = username_format=%u {u}\n}}\n\
             plugin {{\n  push_notification_driver = dlog\n}}\n"
        ),
    )
    .unwrap();
    Some(Interop {
        dir,
        pn_conf,
        dovecot,
    })
}

impl Interop {
    fn pn(&self, args: &[&str], stdin: Option<&[u8]>) -> std::process::Output {
        let mut full = vec!["-c", self.pn_conf.to_str().unwrap()];
        full.extend_from_slice(args);
        run_pn(&full, stdin, &[])
    }

    fn lda(&self, msg: &[u8]) {
        let mut child = Command::new(LDA)
            .arg("-c")
            .arg(&self.dovecot.conf)
            .args(["-d", ALICE, "-f", "sender@example.org"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(msg).unwrap();
        let status = child.wait().unwrap();
        assert!(
            status.success(),
            "dovecot-lda failed: {status}\n{}",
            self.log()
        );
    }

    fn log(&self) -> String {
        self.dovecot.log()
    }

    fn imap(&self) -> Imap {
        let stream = TcpStream::connect(("127.0.0.1", self.dovecot.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut imap = Imap {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            tag: 0,
        };
        let mut greeting = String::new();
        imap.reader.read_line(&mut greeting).unwrap();
        assert!(greeting.starts_with("* OK"), "{greeting}");
        imap.command(&format!("LOGIN {ALICE} {PASSWORD}"));
        imap
    }
}

/// A tiny IMAP client: one command at a time, untagged lines returned.
struct Imap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    tag: u32,
}

impl Imap {
    fn command(&mut self, command: &str) -> Vec<String> {
        self.tag += 1;
        let tag = format!("a{}", self.tag);
        write!(self.writer, "{tag} {command}\r\n").unwrap();
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            assert!(
                self.reader.read_line(&mut line).unwrap() > 0,
                "connection closed"
            );
            let line = line.trim_end().to_owned();
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                assert!(rest.starts_with("OK"), "{command}: {rest}");
                return lines;
            }
            lines.push(line);
        }
    }

    /// `STATUS` counters by name.
    fn status(&mut self, mailbox: &str) -> Vec<(String, u32)> {
        let lines = self.command(&format!("STATUS {mailbox} (MESSAGES UIDNEXT UIDVALIDITY)"));
        let inner = lines[0].split_once('(').unwrap().1.trim_end_matches(')');
        inner
            .split_whitespace()
            .collect::<Vec<_>>()
            .chunks(2)
            .map(|kv| (kv[0].to_owned(), kv[1].parse().unwrap()))
            .collect()
    }

    /// `(uid, flags)` of every message of the selected mailbox.
    fn fetch_flags(&mut self) -> Vec<(u32, Vec<String>)> {
        self.command("UID FETCH 1:* (UID FLAGS)")
            .iter()
            .filter(|l| l.contains("FETCH"))
            .map(|l| {
                let uid = l.split("UID ").nth(1).unwrap();
                let uid: u32 = uid.split([' ', ')']).next().unwrap().parse().unwrap();
                let flags = l.split("FLAGS (").nth(1).unwrap();
                let flags = flags.split(')').next().unwrap();
                let mut flags: Vec<String> = flags
                    .split_whitespace()
                    .filter(|f| *f != "\\Recent")
                    .map(str::to_owned)
                    .collect();
                flags.sort();
                (uid, flags)
            })
            .collect()
    }

    fn logout(mut self) {
        self.tag += 1;
        let _ = write!(self.writer, "a{} LOGOUT\r\n", self.tag);
    }
}

fn field(status: &[(String, u32)], name: &str) -> u32 {
    status.iter().find(|(k, _)| k == name).unwrap().1
}

#[test]
fn dovecot_lists_what_pn_delivered_with_pns_uids_and_uidvalidity() {
    let Some(dovecot) = start() else { return };
    let mut reported = Vec::new();
    for i in 1..=3 {
        let msg = format!("Subject: pn {i}\nMessage-ID: <pn-{i}@example.org>\n\nbody {i}\n");
        let out = dovecot.pn(&["deliver", "-d", ALICE], Some(msg.as_bytes()));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        reported.extend(message_data(&dlog(&out), "INBOX"));
    }
    let uidvalidity = reported[0].1;
    assert_eq!(
        reported,
        [(1, uidvalidity), (2, uidvalidity), (3, uidvalidity)]
    );

    let mut imap = dovecot.imap();
    let status = imap.status("INBOX");
    assert_eq!(field(&status, "MESSAGES"), 3);
    assert_eq!(field(&status, "UIDNEXT"), 4);
    assert_eq!(field(&status, "UIDVALIDITY"), uidvalidity);
    imap.command("SELECT INBOX");
    let uids: Vec<u32> = imap.fetch_flags().iter().map(|(u, _)| *u).collect();
    assert_eq!(uids, [1, 2, 3]);
    imap.logout();

    // pn's files belong to the mail user, so Dovecot could open them.
    let maildir = dovecot.dir.path().join("home").join(ALICE).join("Maildir");
    assert_eq!(
        std::fs::metadata(maildir.join("dovecot-uidlist"))
            .unwrap()
            .uid(),
        dovecot::nobody().0
    );
}

#[test]
fn pn_appends_and_flags_after_dovecot_delivered_without_reusing_uids() {
    let Some(dovecot) = start() else { return };
    dovecot.lda(b"Subject: from dovecot\n\nhello\n");
    let out = dovecot.pn(&["save", "-u", ALICE], Some(b"Subject: from pn\n\nhi\n"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        message_data(&dlog(&out), "INBOX")[0].0,
        2,
        "after Dovecot's UID 1"
    );
    let out = dovecot.pn(
        &[
            "flags",
            "add",
            "-u",
            ALICE,
            "\\Seen $Important",
            "mailbox",
            "INBOX",
            "all",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    dovecot.lda(b"Subject: from dovecot again\n\nhello\n");

    let mut imap = dovecot.imap();
    imap.command("SELECT INBOX");
    let flags = imap.fetch_flags();
    let want = vec!["$Important".to_owned(), "\\Seen".to_owned()];
    assert_eq!(
        flags,
        [(1, want.clone()), (2, want), (3, Vec::new())],
        "no UID reused, keywords agree"
    );
    // And back: a keyword Dovecot sets is seen by pn.
    imap.command("UID STORE 3 +FLAGS (todo)");
    imap.logout();
    let out = dovecot.pn(
        &[
            "flags", "remove", "-u", ALICE, "todo", "mailbox", "INBOX", "uid", "3",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        dlog(&out).contains(&"FlagsClear: Keyword clear [todo]".to_owned()),
        "{:?}",
        dlog(&out)
    );
}

#[test]
fn doveadm_reads_the_metadata_pn_set() {
    let Some(dovecot) = start() else { return };
    let out = dovecot.pn(
        &[
            "mailbox",
            "metadata",
            "set",
            "-u",
            ALICE,
            "INBOX",
            "/private/comment",
            "set by pn",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // `pn mailbox metadata` does not switch to the mail user yet (it runs as the invoker,
    // here root): hand the files over as an operator would.
    let home = dovecot.dir.path().join("home").join(ALICE);
    let status = Command::new("chown")
        .arg("-R")
        .arg({
            let (uid, gid) = dovecot::nobody();
            format!("{uid}:{gid}")
        })
        .arg(&home)
        .status()
        .unwrap();
    assert!(status.success());
    let out = dovecot.dovecot.doveadm(&[
        "mailbox",
        "metadata",
        "get",
        "-u",
        ALICE,
        "INBOX",
        "/private/comment",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "set by pn");
}
