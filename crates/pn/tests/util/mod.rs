//! Shared by the mail-command CLI tests: a sandbox with a passwd-file userdb whose users have
//! the invoking uid/gid and homes in a temporary directory, and helpers to run `pn` and read
//! the dlog lines it printed.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub(crate) mod dovecot;
pub(crate) mod dovecot24;
pub(crate) mod outage;
pub(crate) mod raw_lmtp;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;

/// The users of every sandbox.
pub(crate) const USERS: [&str; 2] = ["alice@example.com", "bob@example.com"];

/// A temporary pn setup: configuration, passwd-file, homes.
pub(crate) struct Sandbox {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) conf: PathBuf,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl Sandbox {
    /// Users with the invoking uid/gid (`first_valid_uid = 0` so the tests also pass as root),
    /// dlog for every protocol.
    pub(crate) fn new() -> Sandbox {
        Sandbox::with("")
    }

    /// [`Sandbox::new`] with extra configuration lines.
    pub(crate) fn with(extra: &str) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let meta = std::fs::metadata(dir.path()).unwrap();
        let (uid, gid) = (meta.uid(), meta.gid());
        let sb = Sandbox {
            conf: dir.path().join("pn.conf"),
            dir,
            uid,
            gid,
        };
        sb.write_users(uid, gid);
        std::fs::write(
            &sb.conf,
            format!(
                "mail_location = maildir:~/Maildir\n\
                 mail_plugins = $mail_plugins notify push_notification\n\
                 first_valid_uid = 0\nfirst_valid_gid = 0\n{root}\
                 userdb {{\n  driver = passwd-file\n  args = username_format=%u {users}\n}}\n\
                 plugin {{\n  push_notification_driver = dlog\n}}\n\
                 pn_outbox_path = {outbox}\n{extra}",
                users = sb.dir.path().join("users").display(),
                outbox = sb.outbox_path().display(),
                // passwd-file refuses uid 0, and pn refuses to write mail as root without
                // a uid: as root, the sandbox says so.
                root = if uid == 0 {
                    "mail_uid = 0\nmail_gid = 0\n"
                } else {
                    ""
                },
            ),
        )
        .unwrap();
        sb
    }

    /// Rewrites the passwd-file with these ids (left empty for root, which passwd-file
    /// refuses: pn then runs as the invoking user).
    pub(crate) fn write_users(&self, uid: u32, gid: u32) {
        let (uid, gid) = if uid == 0 {
            (String::new(), String::new())
        } else {
            (uid.to_string(), gid.to_string())
        };
        let mut passwd = String::new();
        for u in USERS {
            passwd.push_str(&format!(
                "{u}:{{PLAIN}}pass:{uid}:{gid}::{}::\n",
                self.home(u).display()
            ));
        }
        std::fs::write(self.dir.path().join("users"), passwd).unwrap();
    }

    /// The durable outbox's database: under `home/`, which the LMTP tests hand to the
    /// server's uid.
    pub(crate) fn outbox_path(&self) -> PathBuf {
        self.dir.path().join("home/.pn-outbox/outbox.db")
    }

    pub(crate) fn home(&self, user: &str) -> PathBuf {
        self.dir.path().join("home").join(user)
    }

    pub(crate) fn maildir(&self, user: &str) -> PathBuf {
        self.home(user).join("Maildir")
    }

    /// `pn -c <conf> ARGS` with `stdin` piped in, the default log filter and no colours.
    pub(crate) fn pn(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut full = vec!["-c", self.conf.to_str().unwrap()];
        full.extend_from_slice(args);
        run_pn(&full, stdin, &[])
    }

    /// The messages in the user's folder (`""` = INBOX), as (file name, bytes).
    pub(crate) fn files(&self, user: &str, folder: &str) -> Vec<(String, Vec<u8>)> {
        let dir = if folder.is_empty() {
            self.maildir(user)
        } else {
            self.maildir(user).join(folder)
        };
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
                for e in rd.flatten() {
                    out.push((
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read(e.path()).unwrap(),
                    ));
                }
            }
        }
        out
    }
}

/// Runs `pn` with `args`, `stdin` piped in and extra environment.
pub(crate) fn run_pn(args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pn"));
    cmd.args(args)
        .env_remove("PN_CONFIG")
        .env_remove("PN_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run pn");
    let mut input = child.stdin.take().unwrap();
    if let Some(data) = stdin {
        // pn may exit before reading everything (e.g. unknown user): ignore EPIPE.
        let _ = input.write_all(data);
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// Removes ANSI colour sequences.
pub(crate) fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The dlog driver's lines on stderr, without the log prefix.
pub(crate) fn dlog(out: &Output) -> Vec<String> {
    strip_ansi(&String::from_utf8_lossy(&out.stderr))
        .lines()
        .filter_map(|l| l.split_once("pn_driver_dlog: ").map(|(_, m)| m.to_owned()))
        .collect()
}

/// stderr without colours.
pub(crate) fn stderr(out: &Output) -> String {
    strip_ansi(&String::from_utf8_lossy(&out.stderr))
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The lines of one mailbox transaction as dlog prints them.
pub(crate) fn mbox_txn(mailbox: &str, event_line: &str) -> Vec<String> {
    vec![
        "Called begin_txn push_notification plugin hook.".to_owned(),
        "Called process_mbox push_notification plugin hook.".to_owned(),
        format!("Mailbox data: Mailbox [{mailbox}]"),
        event_line.to_owned(),
        "Called end_txn push_notification plugin hook.".to_owned(),
    ]
}

/// `(uid, uidvalidity)` of each `Message data:` line.
pub(crate) fn message_data(lines: &[String], mailbox: &str) -> Vec<(u32, u32)> {
    let prefix = format!("Message data: Mailbox [{mailbox}], UID [");
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|rest| {
            let (uid, rest) = rest.split_once("], UIDVALIDITY [").unwrap();
            (
                uid.parse().unwrap(),
                rest.trim_end_matches(']').parse().unwrap(),
            )
        })
        .collect()
}

pub(crate) const INIT: &str = "Called init push_notification plugin hook.";
pub(crate) const DEINIT: &str = "Called deinit push_notification plugin hook.";
pub(crate) const CLEANUP: &str = "Called cleanup push_notification plugin hook.";

/// One request as it arrived: request line, headers in wire order, body.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) line: String,
    pub(crate) headers: Vec<String>,
    pub(crate) body: Vec<u8>,
}

/// A minimal HTTP/1.1 receiver on 127.0.0.1: answers every request with `status` and records
/// it (keep-alive connections included).
pub(crate) fn http_receiver(status: &'static str) -> (u16, mpsc::Receiver<Request>) {
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
                    let mut headers = Vec::new();
                    let mut length = 0;
                    loop {
                        let mut h = String::new();
                        reader.read_line(&mut h).unwrap();
                        let h = h.trim_end_matches(['\r', '\n']).to_owned();
                        if h.is_empty() {
                            break;
                        }
                        // Header names are case-insensitive (LuaSocket sends them lower-case).
                        if let Some((name, v)) = h.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().unwrap();
                        }
                        headers.push(h);
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
                    writer.write_all(reply.as_bytes()).unwrap();
                    let line = line.trim_end().to_owned();
                    if tx
                        .send(Request {
                            line,
                            headers,
                            body,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (port, rx)
}
