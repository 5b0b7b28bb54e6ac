//! `pn bridge` with Debian's Dovecot 2.3 (dovecot-imapd, -lmtpd, -lua… from `dovecot-core`):
//! Dovecot runs the script `pn bridge print-script` writes as its Lua push driver, `pn bridge
//! run` reads the same dovecot.conf and replays the spool through pn's drivers.
//!
//! - an IMAP session and LMTP deliveries give the webhook receiver the same pushes as the same
//!   operations on pn's own store (`pn save`, `pn deliver`, …), and the dlog driver the same
//!   lines in the same order (webhook pushes are sent in parallel, so their arrival order
//!   proves nothing);
//! - the ox requests through the bridge equal Dovecot's own ox driver's, byte for byte, for
//!   the 20 golden messages (`tests/data/ox`);
//! - with `pn_bridge_status = no` the bridge reads `unseen` from the Maildir, and METADATA set
//!   or removed over IMAP (SETMETADATA) enables or disables ox in the bridge as in Dovecot;
//! - a bridge stopped during 100 deliveries and started again sends all 100;
//! - broken spool files are moved aside with a log line and do not stop the bridge.
//!
//! Skipped with a notice when Dovecot is missing or the test is not root.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

mod bridge;
mod util;

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::Duration;

use bridge::ALICE;
use serde_json::Value;
use util::dovecot;

const LMTP: &str = "/usr/lib/dovecot/lmtp";
const LUA_PLUGIN: &str = "/usr/lib/dovecot/modules/lib22_push_notification_lua_plugin.so";
const EVENTS: &str = "FlagsClear,FlagsSet,MailboxCreate,MailboxDelete,MailboxRename,\
MailboxSubscribe,MailboxUnsubscribe,MessageAppend,MessageExpunge,MessageNew,MessageRead,MessageTrash";
const OX_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ox");

fn skip() -> bool {
    for needs in [LMTP, LUA_PLUGIN, "/usr/lib/dovecot/imap"] {
        if let Some(why) = dovecot::unavailable(needs) {
            eprintln!("skipped: {why}");
            return true;
        }
    }
    false
}

fn mail(n: &str) -> Vec<u8> {
    format!(
        "From: Bob Sender <bob@example.org>\r\nTo: {ALICE}\r\nSubject: message {n}\r\n\
         Message-ID: <{n}@example.org>\r\nDate: Tue, 1 Dec 2026 10:00:00 +0100\r\n\r\n\
         The body text of {n}.\r\n"
    )
    .into_bytes()
}

/// The webhook body without what differs between two runs or two stores: the time and the
/// UIDVALIDITY each store picks.
fn normalise(body: &[u8]) -> Value {
    let mut v: Value = serde_json::from_slice(body).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("timestamp");
    if let Some(d) = o.get_mut("data").and_then(Value::as_object_mut) {
        d.remove("uidvalidity");
    }
    v
}

/// dlog's transaction lines: per-user init/deinit differ (pn's one-shot commands and LDA's
/// raw user), and so does the UIDVALIDITY each store picks.
fn txn_lines(out: &std::process::Output) -> Vec<String> {
    util::dlog(out)
        .into_iter()
        .filter(|l| ![util::INIT, util::DEINIT, util::CLEANUP].contains(&l.as_str()))
        .map(|l| match l.split_once("UIDVALIDITY [") {
            Some((head, _)) => format!("{head}UIDVALIDITY [*]"),
            None => l,
        })
        .collect()
}

fn sorted(mut v: Vec<Value>) -> Vec<Value> {
    v.sort_by_key(|x| x.to_string());
    v
}

/// Receives until `n` requests arrived (each within 20 s).
fn receive(rx: &mpsc::Receiver<util::Request>, n: usize) -> Vec<util::Request> {
    (0..n)
        .map(|i| {
            rx.recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("only {i} of {n} requests arrived"))
        })
        .collect()
}

fn webhook(port: u16) -> String {
    format!("webhook:url=http://127.0.0.1:{port}/hook events={EVENTS} suppress=none snippet=yes")
}

#[test]
fn imap_and_lmtp_session_pushes_what_pns_own_store_pushes() {
    if skip() {
        return;
    }
    // pn's own store, the same operations through the pn binary.
    let (port, rx) = util::http_receiver("200 OK");
    let sb = util::Sandbox::with(&format!(
        "lda_mailbox_autocreate = yes\nplugin {{\n  push_notification_driver2 = {}\n}}\n",
        webhook(port)
    ));
    let lines = std::cell::RefCell::new(Vec::new());
    let ok = |args: &[&str], stdin: Option<&[u8]>| {
        let out = sb.pn(args, stdin);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            util::stderr(&out)
        );
        lines.borrow_mut().extend(txn_lines(&out));
    };
    let mb = |args: &[&str]| {
        let mut full = vec!["mailbox", args[0], "-u", ALICE];
        full.extend_from_slice(&args[1..]);
        ok(&full, None);
    };
    let flags = |op: &str, f: &str, uid: &str| {
        ok(
            &["flags", op, "-u", ALICE, f, "mailbox", "INBOX", "uid", uid],
            None,
        );
    };
    mb(&["create", "Work"]);
    mb(&["create", "Folder1"]);
    mb(&["rename", "Folder1", "Folder2"]);
    mb(&["subscribe", "Folder2"]);
    mb(&["unsubscribe", "Folder2"]);
    mb(&["delete", "Folder2"]);
    ok(&["save", "-u", ALICE], Some(&mail("a")));
    ok(&["deliver", "-d", ALICE], Some(&mail("b")));
    ok(&["deliver", "-d", ALICE], Some(&mail("c")));
    flags("add", "\\Seen", "1");
    flags("add", "\\Deleted $Important", "1");
    flags("remove", "\\Seen $Important", "1");
    ok(
        &["expunge", "-u", ALICE, "mailbox", "INBOX", "uid", "1"],
        None,
    );
    // COPY is a save into the target; MOVE a save and an expunge.
    ok(&["save", "-u", ALICE, "-m", "Work"], Some(&mail("b")));
    ok(&["save", "-u", ALICE, "-m", "Work"], Some(&mail("c")));
    ok(
        &["expunge", "-u", ALICE, "mailbox", "INBOX", "uid", "3"],
        None,
    );
    let mut expected = Vec::new();
    while let Ok(r) = rx.recv_timeout(Duration::from_secs(2)) {
        expected.push(normalise(&r.body));
    }
    assert!(expected.len() >= 17, "{expected:#?}");

    // Dovecot, the same session over IMAP and LMTP, through the bridge.
    let (port, rx) = util::http_receiver("200 OK");
    let setup = bridge::start(&format!(
        "  pn_bridge_driver = dlog\n  pn_bridge_driver2 = {}\n",
        webhook(port)
    ));
    let mut imap = setup.imap();
    for c in [
        "CREATE Work",
        "CREATE Folder1",
        "RENAME Folder1 Folder2",
        "SUBSCRIBE Folder2",
        "UNSUBSCRIBE Folder2",
        "DELETE Folder2",
    ] {
        imap.ok(c);
    }
    imap.cmd("APPEND INBOX", Some(&mail("a")));
    setup.lmtp(ALICE, &mail("b"));
    setup.lmtp(ALICE, &mail("c"));
    imap.ok("SELECT INBOX");
    imap.ok("UID STORE 1 +FLAGS (\\Seen)");
    imap.ok("UID STORE 1 +FLAGS (\\Deleted $Important)");
    imap.ok("UID STORE 1 -FLAGS (\\Seen $Important)");
    imap.ok("EXPUNGE");
    imap.ok("UID COPY 2 Work");
    imap.ok("UID MOVE 3 Work");
    imap.ok("LOGOUT");
    let out = setup.bridge_once();
    assert_eq!(txn_lines(&out), lines.into_inner());
    let got: Vec<Value> = receive(&rx, expected.len())
        .iter()
        .map(|r| normalise(&r.body))
        .collect();
    assert_eq!(
        sorted(got),
        sorted(expected),
        "bridge stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    assert_eq!(setup.pending(), 0);
}

#[test]
fn a_bridge_stopped_during_100_deliveries_sends_all_100() {
    if skip() {
        return;
    }
    let (port, rx) = util::http_receiver("200 OK");
    let setup = bridge::start(&format!(
        "  pn_bridge_driver = webhook:url=http://127.0.0.1:{port}/hook events=MessageNew\n"
    ));
    let mut first = bridge::Proc(
        setup
            .bridge(&[])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut got = Vec::new();
    for i in 1..=100 {
        if i == 41 {
            // The bridge is running and sending, then stops while mail keeps coming.
            got.extend(receive(&rx, 1));
            let kill = std::process::Command::new("kill")
                .args(["-TERM", &first.0.id().to_string()])
                .status()
                .unwrap();
            assert!(kill.success());
            assert!(first.0.wait().unwrap().success());
        }
        setup.lmtp(ALICE, &mail(&i.to_string()));
    }
    assert!(setup.pending() > 0, "nothing was left for the second run");
    setup.bridge_once();
    let want = 100 - got.len();
    got.extend(receive(&rx, want));
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "a push was sent twice"
    );
    let uids: BTreeSet<u64> = got
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            v["data"]["uid"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(uids, (1..=100).collect::<BTreeSet<u64>>());
    assert_eq!(setup.pending(), 0);
}

#[test]
fn broken_spool_files_are_moved_aside_and_the_rest_is_replayed() {
    // No Dovecot needed: the spool is written by hand, as a damaged one would be.
    let sb = util::Sandbox::with("plugin {\n  pn_bridge_driver = dlog\n}\n");
    let spool = sb.dir.path().join("spool");
    std::fs::create_dir_all(spool.join("new")).unwrap();
    let good = format!(
        r#"{{"v":1,"user":"{ALICE}","service":"imap","session":"s","events":[{{"name":"MailboxCreate","mailbox":"Work"}}],"status":{{"Work":{{"messages":0,"recent":0,"unseen":0,"uid_next":1,"uid_validity":77}}}}}}"#
    );
    let files = [
        ("1.truncated.json", &good[..good.len() / 2]),
        ("2.good.json", good.as_str()),
        ("3.garbage.json", "\u{0}\u{1}not json at all"),
        (
            "4.unknown-user.json",
            r#"{"v":1,"user":"nobody@example.com","service":"imap","events":[]}"#,
        ),
        (
            "5.no-uid.json",
            r#"{"v":1,"user":"alice@example.com","service":"imap","events":[{"name":"MessageExpunge","mailbox":"INBOX"}]}"#,
        ),
    ];
    for (name, text) in files {
        std::fs::write(spool.join("new").join(name), text).unwrap();
    }
    // A Dovecot killed mid-write leaves its file in tmp/; a fresh one may still be written.
    std::fs::create_dir_all(spool.join("tmp")).unwrap();
    let dead = std::fs::File::create(spool.join("tmp").join("0.dead-writer")).unwrap();
    dead.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    drop(dead);
    std::fs::write(spool.join("tmp").join("9.being-written"), "{").unwrap();
    let uid = sb.uid.to_string();
    let gid = sb.gid.to_string();
    let out = sb.pn(
        &[
            "-o",
            &format!("mail_uid={uid}"),
            "-o",
            &format!("mail_gid={gid}"),
            "bridge",
            "run",
            "--once",
            "--spool",
            spool.to_str().unwrap(),
        ],
        None,
    );
    let err = util::stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        util::dlog(&out).contains(&"MailboxCreate: Mailbox was created".to_owned()),
        "{err}"
    );
    let mut bad: Vec<String> = std::fs::read_dir(spool.join("bad"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    bad.sort();
    assert_eq!(
        bad,
        [
            "0.dead-writer",
            "1.truncated.json",
            "3.garbage.json",
            "4.unknown-user.json",
            "5.no-uid.json"
        ]
    );
    for (name, why) in [
        (
            "0.dead-writer",
            "left incomplete by a writer that died mid-write",
        ),
        ("1.truncated.json", "not JSON"),
        ("3.garbage.json", "not JSON"),
        ("4.unknown-user.json", "unknown user nobody@example.com"),
        ("5.no-uid.json", "event 1: missing \"uid\""),
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("/{name}: {why}")) && l.contains("moved to")),
            "{name}: {err}"
        );
    }
    assert_eq!(std::fs::read_dir(spool.join("new")).unwrap().count(), 0);
    assert!(spool.join("tmp").join("9.being-written").exists());
}

const OX_KEY: &str = "/private/vendor/vendor.dovecot/http-notify";

/// Dovecot with its own ox driver and pn-bridge.lua, the bridge with ox; `extra` goes into
/// `plugin { }`.
fn ox_dovecot(port: u16, extra: &str) -> bridge::Setup {
    bridge::start(&format!(
        "  push_notification_driver2 = ox:url=http://127.0.0.1:{port}/dovecot/notify\n\
         \x20 pn_bridge_driver = ox:url=http://127.0.0.1:{port}/bridge/notify\n{extra}"
    ))
}

/// [`ox_dovecot`] with ox enabled for alice through doveadm (so the bridge reads Dovecot's
/// dictionary).
fn ox_setup(port: u16, extra: &str) -> bridge::Setup {
    let setup = ox_dovecot(port, extra);
    let set = setup.dovecot.doveadm(&[
        "mailbox",
        "metadata",
        "set",
        "-u",
        ALICE,
        "-s",
        "",
        OX_KEY,
        "user=11@3",
    ]);
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    setup
}

/// The requests of Dovecot's ox and the bridge's, each sorted: (Content-Type, body).
type OxRequests = Vec<(Option<String>, String)>;

fn split_ox(requests: Vec<util::Request>) -> (OxRequests, OxRequests) {
    let (mut dovecot, mut bridge) = (Vec::new(), Vec::new());
    for r in requests {
        let content_type = r
            .headers
            .iter()
            .find(|h| h.to_ascii_lowercase().starts_with("content-type:"))
            .cloned();
        let entry = (content_type, String::from_utf8(r.body).unwrap());
        if r.line == "PUT /dovecot/notify HTTP/1.1" {
            dovecot.push(entry);
        } else {
            assert_eq!(r.line, "PUT /bridge/notify HTTP/1.1");
            bridge.push(entry);
        }
    }
    dovecot.sort();
    bridge.sort();
    (dovecot, bridge)
}

#[test]
fn ox_through_the_bridge_sends_what_dovecots_own_ox_sends() {
    if skip() {
        return;
    }
    let (port, rx) = util::http_receiver("200 OK");
    let setup = ox_setup(port, "");
    let mut names: Vec<_> = std::fs::read_dir(OX_DATA)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 20);
    for p in &names {
        setup.lmtp(ALICE, &std::fs::read(p).unwrap());
    }
    let out = setup.bridge_once();
    let (dovecot, bridge) = split_ox(receive(&rx, 40));
    assert_eq!(dovecot.len(), 20);
    assert_eq!(
        bridge,
        dovecot,
        "bridge stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn without_status_in_dovecot_the_bridge_reads_it_from_the_maildir() {
    if skip() {
        return;
    }
    let (port, rx) = util::http_receiver("200 OK");
    let setup = ox_dovecot(port, "  pn_bridge_status = no\n");
    // Enabled over IMAP, as OX's App Suite does it.
    let mut imap = setup.imap();
    imap.ok(&format!("SETMETADATA \"\" ({OX_KEY} \"user=11@3\")"));
    for n in ["1", "2", "3"] {
        setup.lmtp(ALICE, &mail(n));
        // No status was read inside Dovecot's delivery.
        for e in std::fs::read_dir(setup.spool.join("new")).unwrap() {
            let v: Value =
                serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
            assert_eq!(v["status"], serde_json::json!([]));
        }
        // Replayed at once, the Maildir's status is the one after this delivery.
        setup.bridge_once();
    }
    let (dovecot, bridge) = split_ox(receive(&rx, 6));
    assert_eq!(dovecot.len(), 3);
    assert!(bridge.iter().any(|(_, b)| b.ends_with(",\"unseen\":3}")));
    assert_eq!(bridge, dovecot);
    // Disabled over IMAP: neither Dovecot nor the bridge sends.
    imap.ok(&format!("SETMETADATA \"\" ({OX_KEY} NIL)"));
    setup.lmtp(ALICE, &mail("4"));
    setup.bridge_once();
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err());
}

#[test]
fn print_script_writes_the_lua_script_with_the_spool() {
    let out = bridge::pn(
        None,
        &["bridge", "print-script", "--spool", "/srv/spool dir"],
    );
    assert_eq!(out.status.code(), Some(0));
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(script.contains("local DEFAULT_SPOOL = \"/srv/spool dir\"\n"));
    assert!(!script.contains("@PN_BRIDGE_SPOOL@"));
    for f in [
        "function dovecot_lua_notify_begin_txn(user)",
        "function dovecot_lua_notify_end_txn(ctx, success)",
        "function script_init(settings)",
    ] {
        assert!(script.contains(f), "{f}");
    }
    let odd = bridge::pn(None, &["bridge", "print-script", "--spool", "/a\"b\\c"]);
    assert!(
        String::from_utf8(odd.stdout)
            .unwrap()
            .contains(r#"local DEFAULT_SPOOL = "/a\"b\\c""#)
    );
    let default = bridge::pn(None, &["bridge", "print-script"]);
    assert!(
        String::from_utf8(default.stdout)
            .unwrap()
            .contains("local DEFAULT_SPOOL = \"/var/spool/pn-bridge\"\n")
    );
}
