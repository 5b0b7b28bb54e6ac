//! The same messages delivered over LMTP to Dovecot 2.3 (Debian's `dovecot-lmtpd`) and to
//! `pn lmtp`, both with the ox driver pointing at one test receiver: the request bodies must
//! be identical (the UIDVALIDITY aside, which each store picks itself).
//!
//! Dovecot is started by the test (`dovecot -F -c <generated conf>`, LMTP on a free loopback
//! port, base and state directories in a temporary directory), mail user `nobody`; pn runs
//! with `mail_uid`/`mail_gid` = nobody. The messages are `tests/data/ox/*.eml` (from the
//! project's golden vectors) plus one large enough to be spooled to a file. Skipped with a
//! notice when Dovecot's LMTP is not installed or the test is not root.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

mod util;

use util::dovecot::{self, Dovecot};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const LMTP: &str = "/usr/lib/dovecot/lmtp";
const ALICE: &str = "alice@example.com";
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ox");
const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/lmtp/client.py");
const KEY: &str = "/private/vendor/vendor.dovecot/http-notify";
/// Enables ox for alice (`doveadm` and `pn` take the same arguments).
const ENABLE_OX: [&str; 9] = [
    "mailbox",
    "metadata",
    "set",
    "-u",
    ALICE,
    "-s",
    "",
    KEY,
    "user=11@3",
];

fn common(users: &Path, http: u16) -> String {
    format!(
        "mail_location = maildir:~/Maildir\n\
         mail_attribute_dict = file:%h/dovecot-attributes\nimap_metadata = yes\n\
         hostname = lmtp.example.com\nrecipient_delimiter = +\n\
         lmtp_save_to_detail_mailbox = yes\nlda_mailbox_autocreate = yes\n\
         userdb {{\n  driver = passwd-file\n  args = username_format=%u {u}\n}}\n\
         protocol lmtp {{\n  mail_plugins = $mail_plugins notify push_notification\n}}\n\
         plugin {{\n  push_notification_driver = ox:url=http://127.0.0.1:{http}/preliminary/http-notify/v1/notify\n}}\n",
        u = users.display()
    )
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_dovecot(base: &Path, http: u16) -> Dovecot {
    let users = dovecot::passwd_file(base, ALICE, "x");
    let port = dovecot::free_port();
    let dovecot = Dovecot::start(
        base,
        "lmtp",
        port,
        &format!(
            "passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {u}\n}}\n\
             namespace inbox {{\n  inbox = yes\n  separator = /\n}}\n\
             service lmtp {{\n  inet_listener lmtp {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n}}\n{c}",
            u = users.display(),
            c = common(&users, http)
        ),
    );
    // doveadm asks the running Dovecot's auth for the user.
    let doveadm = dovecot.doveadm(&ENABLE_OX);
    assert!(
        doveadm.status.success(),
        "{}",
        String::from_utf8_lossy(&doveadm.stderr)
    );
    dovecot
}

fn start_pn(base: &Path, http: u16) -> (Proc, String) {
    let users = dovecot::passwd_file(base, ALICE, "x");
    let conf = base.join("pn.conf");
    let (uid, gid) = dovecot::nobody();
    std::fs::write(
        &conf,
        format!(
            "mail_uid = {uid}\nmail_gid = {gid}\n{}",
            common(&users, http)
        ),
    )
    .unwrap();
    let pn = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pn"))
            .arg("-c")
            .arg(&conf)
            .args(args)
            .env("PN_DATA_DIR", base)
            .env_remove("PN_CONFIG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // `pn mailbox metadata` runs as the invoker: hand the file to the mail user after.
    pn(&ENABLE_OX);
    let chown = Command::new("chown")
        .args(["-R", &format!("{uid}:{gid}")])
        .arg(base.join("home"))
        .status()
        .unwrap();
    assert!(chown.success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_pn"))
        .arg("-c")
        .arg(&conf)
        .args(["lmtp", "--listen", "127.0.0.1:0", "--print-address"])
        .env("PN_DATA_DIR", base)
        .env_remove("PN_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (Proc(child), line.trim().to_owned())
}

/// The messages: the ox golden inputs and a 300 KB one that is spooled to a file.
fn messages(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out: Vec<(PathBuf, String)> = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(DATA)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    names.sort();
    for p in names {
        // 14 goes to the Work folder through +detail.
        let rcpt = if p.to_string_lossy().contains("14-to-work") {
            "alice+Work@example.com"
        } else {
            ALICE
        };
        out.push((p, rcpt.to_owned()));
    }
    let mut big =
        b"From: Big <big@example.org>\nSubject: large\n\nFirst line of a large one.\n".to_vec();
    while big.len() < 300_000 {
        big.extend_from_slice(
            b"0123456789 abcdefghijklmnopqrstuvwxyz 0123456789 abcdefghijklmnopqrstuvwxyz\n",
        );
    }
    let p = dir.join("big.eml");
    std::fs::write(&p, big).unwrap();
    out.push((p, ALICE.to_owned()));
    out
}

/// Delivers every message with smtplib and returns the request bodies in order.
fn deliver_all(
    address: &str,
    msgs: &[(PathBuf, String)],
    rx: &mpsc::Receiver<util::Request>,
) -> Vec<String> {
    let mut bodies = Vec::new();
    for (path, rcpt) in msgs {
        let out = Command::new("python3")
            .arg(CLIENT)
            .args(["multi", address])
            .arg(path)
            .arg(rcpt)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && text.contains("Saved"),
            "{}: {text}",
            path.display()
        );
        // Each delivery's push (if any) arrives before the next one is sent.
        match rx.recv_timeout(Duration::from_secs(3)) {
            Ok(r) => bodies.push(normalise(&String::from_utf8_lossy(&r.body))),
            Err(_) => bodies.push("-".to_owned()),
        }
    }
    bodies
}

/// The RCPT reply for an unknown user.
fn unknown_rcpt(address: &str, msg: &Path) -> String {
    let out = Command::new("python3")
        .arg(CLIENT)
        .args(["multi", address])
        .arg(msg)
        .arg("nobody@example.com")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["rcpt"][0].as_str().unwrap().to_owned()
}

/// The UIDVALIDITY replaced by a placeholder.
fn normalise(body: &str) -> String {
    let key = "\"imap-uidvalidity\":";
    match body.find(key) {
        Some(i) => {
            let rest = &body[i + key.len()..];
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            format!("{}{key}{{UIDVALIDITY}}{}", &body[..i], &rest[end..])
        }
        None => body.to_owned(),
    }
}

#[test]
fn dovecot_and_pn_lmtp_push_identical_ox_bodies() {
    if let Some(why) = dovecot::unavailable(LMTP) {
        eprintln!("NOTICE: {why} (dovecot-lmtpd), skipping the LMTP comparison");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let msgs = messages(dir.path());
    let (http, rx) = util::http_receiver("200 OK");

    let dovecot_base = dir.path().join("dovecot");
    std::fs::create_dir_all(&dovecot_base).unwrap();
    let dovecot = start_dovecot(&dovecot_base, http);
    let dovecot_address = format!("127.0.0.1:{}", dovecot.port);
    let from_dovecot = deliver_all(&dovecot_address, &msgs, &rx);
    let dovecot_unknown = unknown_rcpt(&dovecot_address, &msgs[0].0);
    drop(dovecot);

    let pn_base = dir.path().join("pn");
    std::fs::create_dir_all(&pn_base).unwrap();
    let (_pn, address) = start_pn(&pn_base, http);
    let from_pn = deliver_all(&address, &msgs, &rx);
    assert_eq!(unknown_rcpt(&address, &msgs[0].0), dovecot_unknown);

    assert!(
        from_dovecot.iter().filter(|b| *b != "-").count() >= 15,
        "{from_dovecot:#?}"
    );
    for ((path, _), (d, p)) in msgs.iter().zip(from_dovecot.iter().zip(&from_pn)) {
        assert_eq!(
            p,
            d,
            "{}: pn's ox body differs from Dovecot's",
            path.display()
        );
    }
    // The stored messages are the same bytes too, trace headers included, apart from the
    // transaction id and the date in `Received:`.
    let file = |base: &Path| {
        let new = base.join("home").join(ALICE).join("Maildir/new");
        // The largest: the spooled one.
        let largest = std::fs::read_dir(new)
            .unwrap()
            .flatten()
            .max_by_key(|e| e.metadata().unwrap().len())
            .unwrap();
        normalize_trace(&std::fs::read(largest.path()).unwrap())
    };
    let (d, p) = (file(&dovecot_base), file(&pn_base));
    assert!(
        d.starts_with(b"Return-Path: <"),
        "{}",
        String::from_utf8_lossy(&d)
    );
    assert!(
        d == p,
        "{}\n---\n{}",
        String::from_utf8_lossy(&d[..d.len().min(600)]),
        String::from_utf8_lossy(&p[..p.len().min(600)])
    );
}

/// The message with `Received:`'s `id` line and date replaced by placeholders: the two
/// values each server picks itself.
fn normalize_trace(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut in_received = false;
    let mut in_header = true;
    for line in data.split_inclusive(|&b| b == b'\n') {
        if in_header && line.starts_with(b"Received: ") {
            in_received = true;
        } else if !line.starts_with(b"\t") {
            in_received = false;
        }
        if line == b"\n" {
            in_header = false;
        }
        if in_received && line.starts_with(b"\tid ") {
            out.extend_from_slice(b"\tid ID\n");
        } else if in_received && let Some(at) = line.windows(2).rposition(|w| w == b"; ") {
            out.extend_from_slice(&line[..at]);
            out.extend_from_slice(b"; DATE\n");
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}
