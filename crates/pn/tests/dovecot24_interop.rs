//! pn next to a real Dovecot 2.4: Debian 13's packages in a chroot made by
//! `.ci/dovecot24-chroot.sh DIR`, found through `PN_DOVECOT24_ROOT=DIR`. The same captured
//! 2.4 configuration runs Dovecot (`chroot DIR /usr/sbin/dovecot -F -c CONF`, its LDA and
//! doveadm) and pn; the sandbox lives in the chroot's `/tmp` and the host reaches it at the
//! same path through a symbolic link, so both read the same files.
//!
//! Needs root (chroot, Dovecot's master); without the chroot or root the tests say so on
//! stderr and pass without checking anything.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

mod util;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use util::dovecot::free_port;
use util::dovecot24::{
    ALICE, DATA, EML, Lmtp, Sandbox24, captures, is_root, lmtp_deliver, lua_script, normalise_dump,
    normalise_uidvalidity, unescape_high_bytes,
};
use util::{Request, http_receiver, stderr};

const BOB: &str = "bob@example.com";
const ENTRY: &str = "/private/vendor/vendor.dovecot/http-notify";

/// The chroot, or why the test cannot run (printed, then the test passes unchecked).
fn chroot_root() -> Option<PathBuf> {
    let Some(root) = std::env::var_os("PN_DOVECOT24_ROOT").map(PathBuf::from) else {
        eprintln!(
            "SKIPPED: PN_DOVECOT24_ROOT is not set (make the chroot with \
             .ci/dovecot24-chroot.sh DIR)"
        );
        return None;
    };
    if !root.join("usr/sbin/dovecot").exists() {
        eprintln!("SKIPPED: no Dovecot in {}", root.display());
        return None;
    }
    if !is_root() {
        eprintln!("SKIPPED: not root (chroot and Dovecot need root)");
        return None;
    }
    Some(root)
}

fn chroot(root: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new("chroot")
        .arg(root)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(data) = stdin {
        input.write_all(data).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// Dovecot 2.4's master in the chroot, stopped with SIGTERM.
struct Dovecot24 {
    child: Child,
}

impl Dovecot24 {
    fn start(root: &Path, sb: &Sandbox24, imap_port: u16) -> Dovecot24 {
        let child = Command::new("chroot")
            .arg(root)
            .args(["/usr/sbin/dovecot", "-F", "-c"])
            .arg(&sb.conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(sb.path().join("logs/master.err")).unwrap())
            .spawn()
            .unwrap();
        let mut dovecot = Dovecot24 { child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", imap_port)).is_err() {
            let exited = dovecot.child.try_wait().unwrap();
            if exited.is_some() || Instant::now() > deadline {
                let err = std::fs::read_to_string(sb.path().join("logs/master.err"));
                panic!("Dovecot 2.4 did not start ({exited:?}): {err:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        dovecot
    }
}

impl Drop for Dovecot24 {
    fn drop(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let _ = self.child.wait();
    }
}

/// The next `n` requests.
fn take(requests: &Receiver<Request>, n: usize, what: &str) -> Vec<Request> {
    (0..n)
        .map(|_| {
            requests
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("{what}: no request arrived"))
        })
        .collect()
}

/// Request line, headers (Host and Date by name only) and body with `imap-uidvalidity`
/// normalised.
fn comparable(r: &Request) -> (String, Vec<String>, String) {
    let headers = r
        .headers
        .iter()
        .map(|h| match h.split_once(": ") {
            Some((name @ ("Host" | "Date"), _)) => name.to_owned(),
            _ => h.clone(),
        })
        .collect();
    (
        r.line.clone(),
        headers,
        normalise_uidvalidity(&String::from_utf8_lossy(&r.body)),
    )
}

/// Mail and server METADATA of `user` as Dovecot 2.4's IMAP serves them.
fn imap(port: u16, user: &str) -> serde_json::Value {
    let out = Command::new("python3")
        .arg(format!("{DATA}/imap_check.py"))
        .args(["127.0.0.1", &port.to_string(), user, "pass", ENTRY])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn dovecot_24_and_pn_push_the_same_and_dovecot_24_serves_pns_mail() {
    let Some(root) = chroot_root() else { return };
    let (http, requests) = http_receiver("200 OK");
    let (imap_port, lmtp_port) = (free_port(), free_port());
    let sb = Sandbox24::with_ports(
        "ox-user_from_metadata",
        http,
        imap_port,
        lmtp_port,
        Some(&root),
    );
    let conf = sb.conf.to_str().unwrap().to_owned();
    let _dovecot = Dovecot24::start(&root, &sb, imap_port);

    // Enablement: Dovecot's doveadm for alice, pn for bob.
    let out = chroot(
        &root,
        &[
            "/usr/bin/doveadm",
            "-c",
            &conf,
            "mailbox",
            "metadata",
            "set",
            "-u",
            ALICE,
            "-s",
            "",
            ENTRY,
            "user=11@3",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = sb.pn(
        &[
            "mailbox",
            "metadata",
            "set",
            "-u",
            BOB,
            "-s",
            "",
            ENTRY,
            "user=11@3",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let mut compared = 0;
    let mut inbox = 0;
    for cap in captures().iter().filter(|c| c.label == "lda,ufm") {
        let eml = std::fs::read(format!("{EML}/{}.eml", cap.case)).unwrap();
        let mut lda = vec![
            "/usr/lib/dovecot/dovecot-lda",
            "-c",
            &conf,
            "-d",
            ALICE,
            "-f",
            "sender@example.org",
        ];
        if cap.mailbox != "INBOX" {
            lda.extend(["-m", &cap.mailbox]);
        } else {
            inbox += 1;
        }
        let out = chroot(&root, &lda, Some(&eml));
        assert!(out.status.success(), "{}: {}", cap.case, stderr(&out));
        let dovecot = take(&requests, cap.requests.len(), &cap.case);

        let mut deliver = vec!["deliver", "-d", BOB, "-f", "sender@example.org"];
        if cap.mailbox != "INBOX" {
            deliver.extend(["-m", &cap.mailbox]);
        }
        let out = sb.pn(&deliver, Some(&eml));
        assert_eq!(out.status.code(), Some(0), "{}: {}", cap.case, stderr(&out));
        let pn = take(&requests, cap.requests.len(), &cap.case);
        for (d, p) in dovecot.iter().zip(&pn) {
            assert_eq!(comparable(p), comparable(d), "{}", cap.case);
            compared += 1;
        }
    }
    assert_eq!(compared, 19);

    // Dovecot 2.4's IMAP serves bob's Maildir and METADATA, written by pn, as it serves
    // alice's, written by itself: the same messages, byte for byte.
    let bob = imap(imap_port, BOB);
    let alice = imap(imap_port, ALICE);
    assert_eq!(bob["exists"], inbox, "{bob}");
    assert_eq!(bob["messages"].as_array().map(Vec::len), Some(inbox));
    assert_eq!(bob["messages"], alice["messages"]);
    assert_eq!(bob["metadata"], "user=11@3");
    assert_eq!(alice["metadata"], "user=11@3");
    let lda_inbox = inbox;

    // Then over LMTP: Dovecot 2.4's for alice, `pn lmtp` for bob (UIDs go on from 20).
    let server = Lmtp::start(&sb);
    let dovecot_lmtp = format!("127.0.0.1:{lmtp_port}");
    for cap in captures().iter().filter(|c| c.label == "lmtp,ufm") {
        lmtp_deliver(&dovecot_lmtp, ALICE, &cap.case, &cap.mailbox);
        let dovecot = take(&requests, cap.requests.len(), &cap.case);
        lmtp_deliver(&server.address, BOB, &cap.case, &cap.mailbox);
        let pn = take(&requests, cap.requests.len(), &cap.case);
        for (d, p) in dovecot.iter().zip(&pn) {
            assert_eq!(comparable(p), comparable(d), "{} via LMTP", cap.case);
            compared += 1;
        }
        inbox += usize::from(cap.mailbox == "INBOX");
    }
    drop(server);
    assert_eq!(compared, 38);
    assert!(
        requests.recv_timeout(Duration::from_millis(200)).is_err(),
        "no request beyond the compared ones"
    );

    // pn lmtp's messages too: the same bytes as Dovecot's LMTP stored from the message's first
    // line on (Dovecot adds trace headers above it, pn does not: docs/lmtp.md).
    let bob = imap(imap_port, BOB);
    let alice = imap(imap_port, ALICE);
    assert_eq!(bob["exists"], inbox, "{bob}");
    let unhex = |v: &serde_json::Value| -> Vec<u8> {
        let h = v.as_str().unwrap();
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    };
    let lmtp_cases = captures()
        .into_iter()
        .filter(|c| c.label == "lmtp,ufm" && c.mailbox == "INBOX");
    let mut checked = 0;
    for ((b, a), cap) in bob["messages"].as_array().unwrap()[lda_inbox..]
        .iter()
        .zip(&alice["messages"].as_array().unwrap()[lda_inbox..])
        .zip(lmtp_cases)
    {
        let eml = std::fs::read(format!("{EML}/{}.eml", cap.case)).unwrap();
        let first = eml.split(|&c| c == b'\n').next().unwrap();
        let from_first = |m: Vec<u8>| -> Vec<u8> {
            let at = m
                .windows(first.len())
                .position(|w| w == first)
                .unwrap_or_else(|| panic!("{}: first line not found", cap.case));
            m[at..].to_vec()
        };
        assert_eq!(from_first(unhex(b)), from_first(unhex(a)), "{}", cap.case);
        checked += 1;
    }
    assert_eq!(checked, inbox - lda_inbox);
}

/// The captured Lua configuration: Dovecot 2.4's LDA for alice and `pn deliver` for bob show
/// push_dump24.lua the same tables (script_init's settings, the user table, every event).
#[test]
fn dovecot_24_and_pn_give_a_lua_script_the_same_tables() {
    let Some(root) = chroot_root() else { return };
    let (imap_port, lmtp_port) = (free_port(), free_port());
    let sb = Sandbox24::with_ports("lua", 9, imap_port, lmtp_port, Some(&root));
    let conf = sb.conf.to_str().unwrap().to_owned();
    // Dovecot opens lua_file when it reads the configuration.
    let (dump_file, reset) = lua_script(&sb);
    let _dovecot = Dovecot24::start(&root, &sb, imap_port);
    let read = || String::from_utf8_lossy(&std::fs::read(&dump_file).unwrap()).into_owned();
    let mut compared = 0;
    for cap in captures().iter().filter(|c| c.label == "lda,ufm") {
        let eml = std::fs::read(format!("{EML}/{}.eml", cap.case)).unwrap();
        let mut lda = vec![
            "/usr/lib/dovecot/dovecot-lda",
            "-c",
            &conf,
            "-d",
            ALICE,
            "-f",
            "sender@example.org",
        ];
        let mut deliver = vec!["deliver", "-d", BOB, "-f", "sender@example.org"];
        if cap.mailbox != "INBOX" {
            lda.extend(["-m", &cap.mailbox]);
            deliver.extend(["-m", &cap.mailbox]);
        }
        reset();
        let out = chroot(&root, &lda, Some(&eml));
        assert!(out.status.success(), "{}: {}", cap.case, stderr(&out));
        let dovecot = normalise_dump(&unescape_high_bytes(&read()), sb.path());
        reset();
        let out = sb.pn(&deliver, Some(&eml));
        assert_eq!(out.status.code(), Some(0), "{}: {}", cap.case, stderr(&out));
        // bob's name where the dump shows the user (messages may name bob themselves).
        let mut got = read();
        for field in [
            "user_param (string) = ",
            "username (string) = ",
            "user.username=",
        ] {
            got = got.replace(&format!("{field}\"{BOB}\""), &format!("{field}\"{ALICE}\""));
        }
        let got = got.replace(&format!("/home/{BOB}\""), &format!("/home/{ALICE}\""));
        let pn = normalise_dump(&got, sb.path());
        assert!(dovecot.len() > 3, "{}: {dovecot:?}", cap.case);
        assert_eq!(pn, dovecot, "{}", cap.case);
        compared += 1;
    }
    assert_eq!(compared, 20);
}
