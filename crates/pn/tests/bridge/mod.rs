//! Shared by the `pn bridge` tests: Debian's Dovecot 2.3 running the script `pn bridge
//! print-script` writes, tiny IMAP and LMTP clients, and `pn bridge run` started on the same
//! dovecot.conf.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::util::dovecot::{self, Dovecot};

pub(crate) const ALICE: &str = "alice@example.com";

/// A Dovecot with IMAP and LMTP whose Lua push driver runs pn-bridge.lua, plus the spool.
pub(crate) struct Setup {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) dovecot: Dovecot,
    pub(crate) imap: u16,
    pub(crate) lmtp: u16,
    pub(crate) spool: PathBuf,
}

/// Starts Dovecot; `plugin` holds extra lines for `plugin { }` (the bridge's drivers, and
/// Dovecot's own where a test compares with them).
pub(crate) fn start(plugin: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let users = dovecot::passwd_file(base, ALICE, "x");
    let (uid, gid) = dovecot::nobody();
    let spool = base.join("spool");
    for d in ["tmp", "new"] {
        std::fs::create_dir_all(spool.join(d)).unwrap();
    }
    Command::new("chown")
        .args(["-R", &format!("{uid}:{gid}")])
        .arg(&spool)
        .status()
        .unwrap();
    let script = base.join("pn-bridge.lua");
    // The spool comes from the plugin setting, not from the script's default.
    let out = pn(None, &["bridge", "print-script"]);
    assert!(out.status.success());
    std::fs::write(&script, &out.stdout).unwrap();
    let imap = dovecot::free_port();
    let lmtp = dovecot::free_port();
    let dovecot = Dovecot::start(
        base,
        "imap lmtp",
        imap,
        &format!(
            "disable_plaintext_auth = no\nmail_location = maildir:~/Maildir\n\
             mail_attribute_dict = file:%h/dovecot-attributes\nimap_metadata = yes\n\
             mail_uid = {uid}\nmail_gid = {gid}\nhostname = lmtp.example.com\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {u}\n}}\n\
             userdb {{\n  driver = passwd-file\n  args = username_format=%u {u}\n}}\n\
             namespace inbox {{\n  inbox = yes\n  separator = /\n}}\n\
             mail_plugins = $mail_plugins notify push_notification mail_lua push_notification_lua\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {imap}\n  }}\n}}\n\
             service lmtp {{\n  inet_listener lmtp {{\n    address = 127.0.0.1\n    port = {lmtp}\n  }}\n}}\n\
             plugin {{\n  push_notification_driver = lua:file={s}\n  pn_bridge_spool = {d}\n{plugin}}}\n",
            u = users.display(),
            s = script.display(),
            d = spool.display(),
        ),
    );
    Setup {
        dir,
        dovecot,
        imap,
        lmtp,
        spool,
    }
}

impl Setup {
    /// `pn -c <Dovecot's conf> bridge run ARGS` (the spool from `pn_bridge_spool`).
    pub(crate) fn bridge(&self, extra: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pn"));
        c.arg("-c")
            .arg(&self.dovecot.conf)
            .args(["bridge", "run"])
            .args(extra)
            .env_remove("PN_CONFIG")
            .env_remove("PN_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }

    /// Replays what is spooled and exits; asserts success.
    pub(crate) fn bridge_once(&self) -> Output {
        let out = self.bridge(&["--once"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The files waiting in the spool.
    pub(crate) fn pending(&self) -> usize {
        std::fs::read_dir(self.spool.join("new")).unwrap().count()
    }

    pub(crate) fn imap(&self) -> Imap {
        Imap::login(self.imap)
    }

    /// Delivers `msg` to `rcpt` over LMTP; asserts the 250.
    pub(crate) fn lmtp(&self, rcpt: &str, msg: &[u8]) {
        lmtp_send(self.lmtp, rcpt, msg);
    }
}

/// A child process killed (if still running) and reaped when dropped.
pub(crate) struct Proc(pub(crate) std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn pn(conf: Option<&Path>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pn"));
    if let Some(conf) = conf {
        c.arg("-c").arg(conf);
    }
    c.args(args).env_remove("PN_CONFIG").output().unwrap()
}

/// A tagged IMAP client, one command at a time.
pub(crate) struct Imap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    tag: u32,
}

impl Imap {
    fn login(port: u16) -> Imap {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut imap = Imap {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
            tag: 0,
        };
        imap.line();
        imap.ok(&format!("LOGIN {ALICE} x"));
        imap
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.reader.read_line(&mut l).unwrap();
        assert!(!l.is_empty(), "IMAP connection closed");
        l
    }

    /// Sends a command (with an optional literal after it) and reads up to its tagged reply,
    /// which must be OK.
    pub(crate) fn cmd(&mut self, command: &str, literal: Option<&[u8]>) -> String {
        self.tag += 1;
        let tag = format!("a{}", self.tag);
        match literal {
            None => write!(self.writer, "{tag} {command}\r\n").unwrap(),
            Some(lit) => {
                write!(self.writer, "{tag} {command} {{{}}}\r\n", lit.len()).unwrap();
                let cont = self.line();
                assert!(cont.starts_with('+'), "{cont}");
                self.writer.write_all(lit).unwrap();
                self.writer.write_all(b"\r\n").unwrap();
            }
        }
        let mut all = String::new();
        loop {
            let l = self.line();
            all.push_str(&l);
            if let Some(rest) = l.strip_prefix(&format!("{tag} ")) {
                assert!(rest.starts_with("OK"), "{command}: {all}");
                return all;
            }
        }
    }

    pub(crate) fn ok(&mut self, command: &str) -> String {
        self.cmd(command, None)
    }
}

/// CRLF line ends and dot-stuffing for DATA.
fn data(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let body = msg.strip_suffix(b"\n").unwrap_or(msg);
    for line in body.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

pub(crate) fn lmtp_send(port: u16, rcpt: &str, msg: &[u8]) {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let reply = |r: &mut BufReader<TcpStream>| -> String {
        let mut all = String::new();
        loop {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            all.push_str(&l);
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                return all;
            }
        }
    };
    let expect = |got: String, code: &str| assert!(got.starts_with(code), "LMTP: {got}");
    expect(reply(&mut r), "220");
    for (cmd, code) in [
        ("LHLO test\r\n".to_owned(), "250"),
        ("MAIL FROM:<sender@example.org>\r\n".to_owned(), "250"),
        (format!("RCPT TO:<{rcpt}>\r\n"), "250"),
        ("DATA\r\n".to_owned(), "354"),
    ] {
        w.write_all(cmd.as_bytes()).unwrap();
        expect(reply(&mut r), code);
    }
    w.write_all(&data(msg)).unwrap();
    expect(reply(&mut r), "250");
    w.write_all(b"QUIT\r\n").unwrap();
    let mut rest = String::new();
    let _ = r.read_to_string(&mut rest);
}
