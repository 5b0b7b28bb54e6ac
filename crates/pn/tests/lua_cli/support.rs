//! A sandbox whose users run a Lua push script, `pn lmtp` with a plain LMTP client, and the
//! lua driver's log lines out of pn's JSON log.
//!
//! As root the users are nobody (pn never writes mail as root, and `pn lmtp` needs
//! `mail_uid`); otherwise everything runs as the invoking user.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::util::{Sandbox, run_pn};

pub(crate) const ALICE: &str = "alice@example.com";
const NOBODY: u32 = 65534;
pub(crate) const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A sandbox with a directory `lua/` the mail user can write (scripts and dumps), whose
/// plugin section is set with [`LuaSandbox::plugin`].
pub(crate) struct LuaSandbox {
    pub(crate) sb: Sandbox,
    conf: String,
}

impl LuaSandbox {
    pub(crate) fn new() -> LuaSandbox {
        let sb = Sandbox::new();
        let conf = std::fs::read_to_string(&sb.conf).unwrap();
        let lua = sb.dir.path().join("lua");
        std::fs::create_dir_all(&lua).unwrap();
        if is_root() {
            sb.write_users(NOBODY, NOBODY);
            std::fs::set_permissions(sb.dir.path(), std::fs::Permissions::from_mode(0o755))
                .unwrap();
            let home = sb.dir.path().join("home");
            std::fs::create_dir_all(&home).unwrap();
            for dir in [&home, &lua] {
                std::os::unix::fs::chown(dir, Some(NOBODY), Some(NOBODY)).unwrap();
            }
        }
        LuaSandbox { sb, conf }
    }

    /// Replaces the sandbox's dlog driver with `lines` (whole lines of the `plugin { }`
    /// section, each ending in a newline).
    pub(crate) fn plugin(&self, lines: &str) {
        let conf = self
            .conf
            .replace("  push_notification_driver = dlog\n", lines);
        assert!(conf.contains(lines), "the sandbox's plugin section moved");
        std::fs::write(&self.sb.conf, conf).unwrap();
    }

    /// The directory for scripts and what they write: `<sandbox>/lua`.
    pub(crate) fn lua_dir(&self) -> PathBuf {
        self.sb.dir.path().join("lua")
    }

    /// The uid the mail user runs as.
    pub(crate) fn mail_uid(&self) -> u32 {
        if is_root() { NOBODY } else { self.sb.uid }
    }

    /// The gid the mail user runs as.
    pub(crate) fn mail_gid(&self) -> u32 {
        if is_root() { NOBODY } else { self.sb.gid }
    }

    /// `pn -c CONF --log info,pn_driver_lua=debug --log-format json ARGS`.
    pub(crate) fn pn(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut full = vec![
            "-c",
            self.sb.conf.to_str().unwrap(),
            "--log",
            "info,pn_driver_lua=debug",
            "--log-format",
            "json",
        ];
        full.extend_from_slice(args);
        let out = run_pn(&full, stdin, &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "pn {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The UIDVALIDITY of one of alice's mailboxes.
    pub(crate) fn uid_validity(&self, mailbox: &str) -> u32 {
        let out = self.pn(
            &["mailbox", "status", "-u", ALICE, "uidvalidity", mailbox],
            None,
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.trim()
            .rsplit_once("uidvalidity=")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or_else(|| panic!("no uidvalidity in {text:?}"))
    }
}

/// One log line of pn's JSON log: level, target, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogLine {
    pub(crate) level: String,
    pub(crate) target: String,
    pub(crate) message: String,
}

/// The JSON log lines in `text` (other lines are ignored).
pub(crate) fn log_lines(text: &str) -> Vec<LogLine> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| LogLine {
            level: v["level"].as_str().unwrap_or_default().to_owned(),
            target: v["target"].as_str().unwrap_or_default().to_owned(),
            message: v["fields"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        })
        .collect()
}

/// The lua driver's messages at `level` (`DEBUG`, `INFO`, `ERROR`, …).
pub(crate) fn lua_messages(lines: &[LogLine], level: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.target == "pn_driver_lua" && l.level == level)
        .map(|l| l.message.clone())
        .collect()
}

/// A running `pn lmtp` on 127.0.0.1, its JSON log read by a thread.
pub(crate) struct LmtpServer {
    child: Child,
    pub(crate) address: String,
    stderr: mpsc::Receiver<String>,
    log: Vec<LogLine>,
}

impl Drop for LmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LmtpServer {
    pub(crate) fn start(sb: &LuaSandbox) -> LmtpServer {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pn"));
        cmd.arg("-c").arg(&sb.sb.conf);
        if is_root() {
            cmd.args(["-o", "mail_uid=65534", "-o", "mail_gid=65534"]);
        }
        cmd.args([
            "--log",
            "info,pn_driver_lua=debug",
            "--log-format",
            "json",
            "lmtp",
            "--listen",
            "127.0.0.1:0",
            "--print-address",
        ])
        .env_remove("PN_CONFIG")
        .env_remove("PN_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let err = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut address = String::new();
        out.read_line(&mut address).unwrap();
        let address = address.trim().to_owned();
        assert!(
            !address.is_empty(),
            "pn lmtp printed no address: {:?}",
            rx.try_iter().collect::<Vec<_>>()
        );
        LmtpServer {
            child,
            address,
            stderr: rx,
            log: Vec::new(),
        }
    }

    /// Whether the process is still running.
    pub(crate) fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Reads log lines until one satisfies `until` (or the log ends), and returns them all.
    pub(crate) fn log_until(&mut self, until: impl Fn(&LogLine) -> bool) -> Vec<LogLine> {
        let mut taken = Vec::new();
        loop {
            if let Some(i) = self.log.iter().position(&until) {
                taken.extend(self.log.drain(..=i));
                return taken;
            }
            taken.append(&mut self.log);
            match self.stderr.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => self.log.extend(log_lines(&line)),
                Err(_) => return taken,
            }
        }
    }
}

/// Reads one (possibly multi-line) reply.
fn reply(r: &mut BufReader<TcpStream>) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        assert!(r.read_line(&mut line).unwrap() > 0, "connection closed");
        all.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            return all;
        }
    }
}

/// Sends `message` from `sender@example.org` to `rcpt` and returns the DATA reply.
pub(crate) fn lmtp_deliver(address: &str, rcpt: &str, message: &[u8]) -> String {
    let stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    assert!(reply(&mut r).starts_with("220"));
    for (cmd, want) in [
        ("LHLO client.example.org".to_owned(), "250"),
        ("MAIL FROM:<sender@example.org>".to_owned(), "250"),
        (format!("RCPT TO:<{rcpt}>"), "250"),
        ("DATA".to_owned(), "354"),
    ] {
        w.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
        let got = reply(&mut r);
        assert!(got.starts_with(want), "{cmd}: {got}");
    }
    let mut data = Vec::new();
    for line in message.split_inclusive(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(b".") {
            data.push(b'.');
        }
        data.extend_from_slice(line);
        data.extend_from_slice(b"\r\n");
    }
    data.extend_from_slice(b".\r\n");
    w.write_all(&data).unwrap();
    let got = reply(&mut r);
    w.write_all(b"QUIT\r\n").unwrap();
    let mut rest = String::new();
    let _ = r.read_to_string(&mut rest);
    got
}

/// Writes a file the mail user can read into the sandbox's `lua/` directory.
pub(crate) fn write_script(sb: &LuaSandbox, name: &str, text: &str) -> PathBuf {
    let path = sb.lua_dir().join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    path
}

/// A data file of these tests.
pub(crate) fn data(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(DATA).join(path)).unwrap()
}
