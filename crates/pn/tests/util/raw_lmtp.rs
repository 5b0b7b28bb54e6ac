//! Shared by the hardening tests: a static-userdb configuration, a running `pn lmtp` and a
//! minimal raw LMTP client (std sockets), and helpers to run `pn` and list trees.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub(crate) const PN: &str = env!("CARGO_BIN_EXE_pn");
pub(crate) const HELLO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/hello.eml");

pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

pub(crate) fn pn(conf: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(PN)
        .arg("-c")
        .arg(conf)
        .args(args)
        .env_remove("PN_CONFIG")
        .env_remove("PN_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A static userdb with `home=<dir>/mail/%d/%n`, mail as the invoking user (root: explicitly
/// uid 0, which `first_valid_uid = 0` allows).
pub(crate) fn static_conf(dir: &Path, extra: &str) -> PathBuf {
    let conf = dir.join("pn.conf");
    let ids = if is_root() {
        "mail_uid = 0\nmail_gid = 0\n"
    } else {
        ""
    };
    std::fs::write(
        &conf,
        format!(
            "mail_location = maildir:~/Maildir\nfirst_valid_uid = 0\nfirst_valid_gid = 0\n{ids}\
             userdb {{\n  driver = static\n  args = home={}/mail/%d/%n\n}}\n{extra}",
            dir.display()
        ),
    )
    .unwrap();
    conf
}

/// Every path below `dir`, relative.
pub(crate) fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                todo.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A running `pn lmtp` on 127.0.0.1:0.
pub(crate) struct Lmtp {
    pub(crate) child: Child,
    pub(crate) address: String,
}

impl Drop for Lmtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Lmtp {
    pub(crate) fn start(conf: &Path, extra: &[&str]) -> Lmtp {
        let mut child = Command::new(PN)
            .arg("-c")
            .arg(conf)
            .args(extra)
            .args([
                "--log",
                "info",
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
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(!line.trim().is_empty(), "pn lmtp did not start");
        Lmtp {
            child,
            address: line.trim().to_owned(),
        }
    }

    pub(crate) fn connect(&self) -> Client {
        let s = TcpStream::connect(&self.address).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut c = Client {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        };
        c.reply();
        c.cmd("LHLO test");
        c
    }
}

/// A minimal LMTP client.
pub(crate) struct Client {
    pub(crate) r: BufReader<TcpStream>,
    pub(crate) w: TcpStream,
}

impl Client {
    /// One reply, multi-line ones joined; the last line returned.
    pub(crate) fn reply(&mut self) -> String {
        loop {
            let mut line = String::new();
            self.r.read_line(&mut line).unwrap();
            assert!(!line.is_empty(), "connection closed");
            if line.as_bytes().get(3) != Some(&b'-') {
                return line.trim_end().to_owned();
            }
        }
    }

    pub(crate) fn cmd(&mut self, line: &str) -> String {
        self.w.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        self.reply()
    }

    /// MAIL, the RCPTs, DATA when one was accepted: the RCPT replies and the DATA replies.
    pub(crate) fn transaction(
        &mut self,
        rcpts: &[&str],
        message: &[u8],
    ) -> (Vec<String>, Vec<String>) {
        assert!(
            self.cmd("MAIL FROM:<sender@example.org>")
                .starts_with("250")
        );
        let replies: Vec<String> = rcpts
            .iter()
            .map(|r| self.cmd(&format!("RCPT TO:<{r}>")))
            .collect();
        let accepted = replies.iter().filter(|r| r.starts_with("250")).count();
        if accepted == 0 {
            self.cmd("RSET");
            return (replies, Vec::new());
        }
        assert!(self.cmd("DATA").starts_with("354"));
        self.w.write_all(message).unwrap();
        self.w.write_all(b".\r\n").unwrap();
        let data = (0..accepted).map(|_| self.reply()).collect();
        (replies, data)
    }
}

pub(crate) const MESSAGE: &[u8] = b"From: a@example.org\r\nSubject: x\r\n\r\nhello\r\n";
