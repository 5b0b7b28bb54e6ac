//! The `devicetoken` driver end to end: a Delta Chat-style client stores its token with
//! SETMETADATA (Python's imaplib) on Debian's Dovecot IMAP, `pn deliver` reads Dovecot's
//! metadata dictionary and POSTs chatmail's request to a notifier stand-in; a token the
//! notifier answers `410` for is removed, self-sent mail and other folders push nothing.
//! Skipped with a notice when Dovecot is missing or the test is not root.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

mod util;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use util::dovecot::{self, DOVECOT, Dovecot};
use util::{run_pn, stderr};

const ALICE: &str = "alice@example.com";
const PASSWORD: &str = "alicepass";
const IMAP_METADATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/push/imap_metadata.py"
);

/// One request as the notifier saw it.
#[derive(Debug)]
struct Seen {
    line: String,
    headers: Vec<String>,
    body: String,
}

/// chatmail's notification proxy, standing in: `410 Gone` for tokens starting with `gone-`,
/// `200 OK` otherwise. A request is recorded before it is answered, so everything a finished
/// `pn deliver` sent is already in the channel.
fn notifier() -> (u16, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let (mut headers, mut length) = (Vec::new(), 0);
                    loop {
                        let mut h = String::new();
                        reader.read_line(&mut h).unwrap();
                        let h = h.trim_end().to_owned();
                        if h.is_empty() {
                            break;
                        }
                        if let Some((n, v)) = h.split_once(':')
                            && n.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().unwrap();
                        }
                        headers.push(h);
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    let body = String::from_utf8(body).unwrap();
                    let status = if body.starts_with("gone-") {
                        "410 Gone"
                    } else {
                        "200 OK"
                    };
                    let _ = tx.send(Seen {
                        line: line.trim_end().to_owned(),
                        headers,
                        body,
                    });
                    let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
                    if writer.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, rx)
}

struct Setup {
    _dir: tempfile::TempDir,
    dovecot: Dovecot,
    pn_conf: PathBuf,
    notifier_port: u16,
    users: PathBuf,
}

fn start() -> Option<(Setup, mpsc::Receiver<Seen>)> {
    if let Some(why) = dovecot::unavailable(DOVECOT) {
        eprintln!("NOTICE: {why}, skipping the devicetoken Dovecot test");
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
    let (notifier_port, rx) = notifier();
    let setup = Setup {
        pn_conf: base.join("pn.conf"),
        _dir: dir,
        dovecot,
        notifier_port,
        users,
    };
    setup.configure(0);
    Some((setup, rx))
}

impl Setup {
    fn configure(&self, debounce: u32) {
        std::fs::write(
            &self.pn_conf,
            format!(
                "mail_location = maildir:~/Maildir\n\
                 mail_attribute_dict = file:%h/dovecot-attributes\n\
                 mail_plugins = $mail_plugins notify push_notification\n\
                 userdb {{\n  driver = passwd-file\n  args = username_format=%u {}\n}}\n\
                 plugin {{\n  push_notification_driver = devicetoken:url=http://127.0.0.1:{}/notify \
                 debounce={debounce}\n}}\n",
                self.users.display(),
                self.notifier_port
            ),
        )
        .unwrap();
    }

    fn pn(&self, args: &[&str], stdin: Option<&[u8]>) {
        let mut full = vec!["-c", self.pn_conf.to_str().unwrap()];
        full.extend_from_slice(args);
        // The durable outbox in the sandbox, beside the users file.
        let data = self.users.parent().unwrap();
        let out = run_pn(&full, stdin, &[("PN_DATA_DIR", data)]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }

    fn deliver(&self, from: &str, mailbox: &str) {
        let msg = format!(
            "From: {from}\r\nTo: {ALICE}\r\nSubject: hi\r\nMessage-ID: <x@example.org>\r\n\r\nchat\r\n"
        );
        self.pn(
            &["deliver", "-d", ALICE, "-m", mailbox],
            Some(msg.as_bytes()),
        );
    }

    fn metadata(&self, args: &[&str]) -> String {
        let out = Command::new("python3")
            .arg(IMAP_METADATA)
            .arg(self.dovecot.port.to_string())
            .args([ALICE, PASSWORD])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.dovecot.log()
        );
        String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
    }

    fn set_token(&self, token: &str) {
        self.metadata(&["set", "/private/devicetoken", token]);
    }
}

/// The tokens POSTed by the `pn deliver` that just finished, checking each is chatmail's
/// request: `POST /notify`, the token as the body, no `Content-Type`.
fn pushed(rx: &mpsc::Receiver<Seen>) -> BTreeSet<String> {
    let mut tokens = BTreeSet::new();
    while let Ok(r) = rx.recv_timeout(Duration::from_millis(0)) {
        assert_eq!(r.line, "POST /notify HTTP/1.1");
        assert!(
            !r.headers
                .iter()
                .any(|h| h.to_ascii_lowercase().starts_with("content-type:")),
            "chatmail sends no Content-Type: {:?}",
            r.headers
        );
        assert!(
            r.headers
                .iter()
                .any(|h| h.eq_ignore_ascii_case(&format!("content-length: {}", r.body.len()))),
            "{:?}",
            r.headers
        );
        assert!(tokens.insert(r.body), "one request per token");
    }
    tokens
}

fn set(tokens: &[&str]) -> BTreeSet<String> {
    tokens.iter().map(|t| (*t).to_owned()).collect()
}

#[test]
fn tokens_set_over_dovecot_imap_are_pushed_like_chatmail() {
    let Some((s, rx)) = start() else { return };
    s.set_token("tok-one");
    s.deliver("bob@example.org", "INBOX");
    assert_eq!(pushed(&rx), set(&["tok-one"]));

    // A second device overwrites the value in Dovecot's dictionary; pn keeps both.
    s.set_token("tok-two");
    s.deliver("bob@example.org", "INBOX");
    assert_eq!(pushed(&rx), set(&["tok-one", "tok-two"]));

    // Mail the user sent themselves, and mail into another folder, wake nobody.
    s.deliver(ALICE, "INBOX");
    s.pn(&["mailbox", "create", "-u", ALICE, "Work"], None);
    s.deliver("bob@example.org", "Work");
    assert_eq!(pushed(&rx), BTreeSet::new());

    // The notifier answers 410 for this one: it is pushed once, then removed.
    s.set_token("gone-three");
    s.deliver("bob@example.org", "INBOX");
    assert_eq!(pushed(&rx), set(&["tok-one", "tok-two", "gone-three"]));
    let state: serde_json::Value =
        serde_json::from_str(&s.metadata(&["get", "/private/vendor/vendor.pn/devicetokens"]))
            .expect("pn's token set, read back through Dovecot");
    let kept: BTreeSet<String> = state["tokens"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(kept, set(&["tok-one", "tok-two"]));
    s.deliver("bob@example.org", "INBOX");
    assert_eq!(
        pushed(&rx),
        set(&["tok-one", "tok-two"]),
        "the gone token stays gone"
    );
    assert_eq!(
        s.metadata(&["get", "/private/devicetoken"]),
        "gone-three",
        "the client's own entry is left alone"
    );

    // Every token was pushed a moment ago: a long debounce holds the next push back.
    s.configure(3600);
    s.deliver("bob@example.org", "INBOX");
    assert_eq!(pushed(&rx), BTreeSet::new());
}

/// pn's own METADATA store, no Dovecot: the token set with `pn mailbox metadata set`, a
/// token older than 90 days is dropped instead of pushed.
#[test]
fn own_store_tokens_and_the_90_day_expiry() {
    let (port, rx) = notifier();
    let sb = util::Sandbox::with(&format!(
        "mail_attribute_dict = file:%h/dovecot-attributes\nplugin {{\n  \
         push_notification_driver2 = devicetoken:url=http://127.0.0.1:{port}/notify\n}}\n"
    ));
    let meta = |args: &[&str]| {
        let mut full = vec!["mailbox", "metadata"];
        full.extend_from_slice(args);
        let out = sb.pn(&full, None);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        util::stdout(&out).trim_end().to_owned()
    };
    meta(&[
        "set",
        "-u",
        ALICE,
        "-s",
        "",
        "/private/devicetoken",
        "tok-new",
    ]);
    meta(&[
        "set",
        "-u",
        ALICE,
        "-s",
        "",
        "/private/vendor/vendor.pn/devicetokens",
        r#"{"seen":"tok-old","tokens":{"tok-old":{"set":1000,"pushed":0}}}"#,
    ]);
    let msg = format!("From: bob@example.org\r\nTo: {ALICE}\r\n\r\nhi\r\n");
    let out = sb.pn(&["deliver", "-d", ALICE], Some(msg.as_bytes()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(pushed(&rx), set(&["tok-new"]));
    let state: serde_json::Value = serde_json::from_str(&meta(&[
        "get",
        "-u",
        ALICE,
        "-s",
        "",
        "/private/vendor/vendor.pn/devicetokens",
    ]))
    .unwrap();
    let kept: Vec<&String> = state["tokens"].as_object().unwrap().keys().collect();
    assert_eq!(kept, ["tok-new"], "the 90-day-old token was dropped");
    assert_eq!(state["seen"], "tok-new");
}

#[test]
fn config_check_names_a_bad_devicetoken_line() {
    let sb = util::Sandbox::with(
        "plugin {\n  push_notification_driver2 = devicetoken:debounce=soon\n}\n",
    );
    let out = sb.pn(&["config", "check"], None);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("pn.conf:")
            && err.contains("push_notification_driver2: devicetoken: missing argument url"),
        "{err}"
    );
    let sb = util::Sandbox::with(
        "plugin {\n  push_notification_driver2 = devicetoken:url=https://n.example/notify debounce=soon\n}\n",
    );
    let err = stderr(&sb.pn(&["config", "check"], None));
    assert!(
        err.contains("devicetoken: debounce: \"soon\" is not a whole number"),
        "{err}"
    );
}
