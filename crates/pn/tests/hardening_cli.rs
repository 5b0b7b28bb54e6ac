//! The `pn` binary against hostile names, full disks, root without a uid and crashes
//! (issue 21 items 2, 3, 4, 6): what Dovecot 2.3.19 refuses pn refuses, a failed delivery
//! leaves nothing others must wait out, and nothing is written as root by accident.
//!
//! The tmpfs and ownership tests need root (`mount -t tmpfs`, `chown`); they say so and pass
//! without checking anything when not run as root.

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
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const PN: &str = env!("CARGO_BIN_EXE_pn");
const HELLO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/hello.eml");

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn pn(conf: &Path, args: &[&str], stdin: &[u8]) -> Output {
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

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A static userdb with `home=<dir>/mail/%d/%n`, mail as the invoking user (root: explicitly
/// uid 0, which `first_valid_uid = 0` allows).
fn static_conf(dir: &Path, extra: &str) -> PathBuf {
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
fn tree(dir: &Path) -> Vec<String> {
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
struct Lmtp {
    child: Child,
    address: String,
}

impl Drop for Lmtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Lmtp {
    fn start(conf: &Path, extra: &[&str]) -> Lmtp {
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

    fn connect(&self) -> Client {
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
struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    /// One reply, multi-line ones joined; the last line returned.
    fn reply(&mut self) -> String {
        loop {
            let mut line = String::new();
            self.r.read_line(&mut line).unwrap();
            assert!(!line.is_empty(), "connection closed");
            if line.as_bytes().get(3) != Some(&b'-') {
                return line.trim_end().to_owned();
            }
        }
    }

    fn cmd(&mut self, line: &str) -> String {
        self.w.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        self.reply()
    }

    /// MAIL, the RCPTs, DATA when one was accepted: the RCPT replies and the DATA replies.
    fn transaction(&mut self, rcpts: &[&str], message: &[u8]) -> (Vec<String>, Vec<String>) {
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

const MESSAGE: &[u8] = b"From: a@example.org\r\nSubject: x\r\n\r\nhello\r\n";

// ---- 21.3: names Dovecot refuses -------------------------------------------------------

#[test]
fn traversal_shaped_user_names_are_refused_by_every_command_before_any_path() {
    let dir = tempfile::tempdir().unwrap();
    let conf = static_conf(dir.path(), "");
    // LDA: Dovecot's SMTP-address errors, exit 64.
    for (name, why) in [
        ("alice@.", "Invalid domain"),
        ("alice@..", "Invalid domain"),
        ("alice@.x", "Invalid domain"),
        ("alice@example..com", "Empty sub-domain"),
        ("alice@", "Missing domain after '@'"),
    ] {
        let out = pn(&conf, &["deliver", "-d", name], MESSAGE);
        assert_eq!(out.status.code(), Some(64), "{name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!(
                "Fatal: Cannot obtain SMTP address from username `{name}': {why}"
            )),
            "{name}: {}",
            stderr(&out)
        );
    }
    // A `.`/`..` local part: Dovecot accepts it (a bug: `%n` = `..`); pn knows no such user.
    for name in ["..@example.com", ".@example.com"] {
        let out = pn(&conf, &["deliver", "-d", name], MESSAGE);
        assert_eq!(out.status.code(), Some(67), "{name}: {}", stderr(&out));
    }
    // doveadm-style commands: no such user (Dovecot's doveadm even accepts `alice@..`).
    let names = ["alice@.", "alice@..", "..@example.com", "alice@x.."];
    for name in names {
        for args in [
            &["save", "-u", name][..],
            &["mailbox", "create", "-u", name, "Box"],
            &["mailbox", "list", "-u", name],
            &["mailbox", "status", "-u", name, "messages", "INBOX"],
            &[
                "flags", "add", "-u", name, "\\Seen", "mailbox", "INBOX", "all",
            ],
            &["expunge", "-u", name, "mailbox", "INBOX", "all"],
            &["mailbox", "delete", "-u", name, "Box"],
            &["mailbox", "rename", "-u", name, "Box", "Box2"],
            &["mailbox", "subscribe", "-u", name, "Box"],
            &["mailbox", "unsubscribe", "-u", name, "Box"],
            &[
                "mailbox",
                "metadata",
                "set",
                "-u",
                name,
                "INBOX",
                "/private/x",
                "1",
            ],
            &[
                "mailbox",
                "metadata",
                "get",
                "-u",
                name,
                "INBOX",
                "/private/x",
            ],
            &[
                "mailbox",
                "metadata",
                "unset",
                "-u",
                name,
                "INBOX",
                "/private/x",
            ],
            &["mailbox", "metadata", "list", "-u", name, "INBOX"],
        ] {
            let out = pn(&conf, args, MESSAGE);
            assert_eq!(out.status.code(), Some(67), "{args:?}: {}", stderr(&out));
        }
    }
    // RCPT: Dovecot's LMTP replies.
    let server = Lmtp::start(&conf, &[]);
    let mut c = server.connect();
    let (rcpt, _) = c.transaction(
        &[
            "alice@.",
            "alice@..",
            "alice@example..com",
            "..@example.com",
        ],
        MESSAGE,
    );
    assert_eq!(
        rcpt,
        [
            "501 5.5.4 Invalid TO: Invalid domain",
            "501 5.5.4 Invalid TO: Invalid domain",
            "501 5.5.4 Invalid TO: Empty sub-domain",
            "550 5.1.1 <..@example.com> User doesn't exist: ..@example.com",
        ]
    );
    drop(server);
    // Nothing was created: not `<dir>/mail/./alice`, not `<dir>/alice` (`mail/../alice`).
    assert_eq!(tree(dir.path()), ["pn.conf"]);
}

// ---- 21.4: root without a uid ----------------------------------------------------------

#[test]
fn as_root_a_userdb_without_uid_is_refused_and_the_embedded_default_names_a_user() {
    if !is_root() {
        eprintln!("NOTICE: not root, skipping the root-without-uid test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("pn.conf");
    std::fs::write(
        &conf,
        format!(
            "userdb {{\n  driver = static\n  args = home={}/mail/%d/%n\n}}\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let out = pn(&conf, &["deliver", "-d", "alice@example.com"], MESSAGE);
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Fatal: User is missing UID (see mail_uid setting)"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("mail").exists());
    let out = pn(&conf, &["mailbox", "list", "-u", "alice@example.com"], b"");
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));

    // The README's job on the embedded default, as root: mail belongs to an unprivileged user.
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(PN)
        .args([
            "--log",
            "info",
            "deliver",
            "-d",
            "alice@example.com",
            "-p",
            HELLO,
        ])
        .env_remove("PN_CONFIG")
        .env("PN_DATA_DIR", data.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pn's embedded default writes mail as uid"),
        "{}",
        stderr(&out)
    );
    let owner = std::fs::metadata(data.path()).unwrap().uid();
    assert_ne!(owner, 0);
    let new = data.path().join("home/alice@example.com/Maildir/new");
    let files: Vec<_> = std::fs::read_dir(&new).unwrap().flatten().collect();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].metadata().unwrap().uid(), owner);
    // Again: the data directory's owner is who mail is written as.
    let out = Command::new(PN)
        .args(["deliver", "-d", "alice@example.com", "-p", HELLO])
        .env_remove("PN_CONFIG")
        .env("PN_DATA_DIR", data.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for e in std::fs::read_dir(&new).unwrap().flatten() {
        assert_eq!(e.metadata().unwrap().uid(), owner);
    }
}

// ---- 21.6: leftovers and memory --------------------------------------------------------

/// Whether the process has a file below `dir` open.
fn has_open_file_in(pid: u32, dir: &Path) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|rd| {
            rd.flatten()
                .any(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.starts_with(dir) && t != dir))
        })
        .unwrap_or(false)
}

#[test]
fn a_killed_lmtp_server_leaves_no_spool_file() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    if is_root() {
        let mut perms = std::fs::metadata(dir.path()).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(dir.path(), perms).unwrap();
    }
    let conf = static_conf(
        dir.path(),
        &format!("mail_temp_dir = {}\n", spool.display()),
    );
    let mut server = Lmtp::start(&conf, &[]);
    let mut c = server.connect();
    assert!(c.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<alice@example.com>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    // More than the 128 KiB kept in memory, and no end: the message is being spooled.
    let line = [b'x'; 1000];
    for _ in 0..400 {
        c.w.write_all(&line).unwrap();
        c.w.write_all(b"\r\n").unwrap();
    }
    let pid = server.child.id();
    let mut spooling = false;
    for _ in 0..200 {
        if has_open_file_in(pid, &spool) {
            spooling = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(spooling, "the server never opened a spool file");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert_eq!(
        tree(&spool),
        Vec::<String>::new(),
        "left in the spool directory"
    );
}

#[test]
fn pn_deliver_streams_a_100_mb_message_instead_of_holding_it() {
    if !Path::new("/usr/bin/time").exists() {
        eprintln!("NOTICE: /usr/bin/time (Debian package time) missing, skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = static_conf(dir.path(), "");
    let msg = dir.path().join("big.eml");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&msg).unwrap());
        f.write_all(b"From: a@example.org\nSubject: big\n\n")
            .unwrap();
        let line = [b'y'; 99];
        for _ in 0..1_000_000 {
            f.write_all(&line).unwrap();
            f.write_all(b"\n").unwrap();
        }
    }
    let out = Command::new("/usr/bin/time")
        .args(["-f", "maxrss_kb=%M", PN, "-c"])
        .arg(&conf)
        .args(["deliver", "-d", "alice@example.com", "-p"])
        .arg(&msg)
        .env_remove("PN_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let kb: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("maxrss_kb="))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Before: the whole message (100 MB) plus a CRLF copy. The spool keeps 128 KiB.
    assert!(kb < 40_000, "max RSS {kb} KiB for a 100 MB message");
    let new = dir.path().join("mail/example.com/alice/Maildir/new");
    let stored: Vec<_> = std::fs::read_dir(new).unwrap().flatten().collect();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].metadata().unwrap().len(),
        std::fs::metadata(&msg).unwrap().len()
    );
}

// ---- 21.2: a full disk -----------------------------------------------------------------

/// A 2 MiB tmpfs, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_owned()))
    }

    /// Fills the file system, then frees `pages` pages.
    fn fill_leaving(&self, pages: u64) {
        let filler = self.0.join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = [0u8; 4096];
        loop {
            match f.write(&chunk) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(pages * 4096) / 4096 * 4096)
            .unwrap();
    }

    fn free(&self) {
        let _ = std::fs::remove_file(self.0.join("filler"));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Runs `cmd`, killing it after `secs`: `None` when it had to be killed.
fn within(mut cmd: Command, secs: u64) -> Option<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..secs * 20 {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn lock_files(maildir: &Path) -> Vec<String> {
    tree(maildir)
        .into_iter()
        .filter(|p| p.ends_with(".lock"))
        .collect()
}

#[test]
fn a_full_disk_leaves_no_lock_for_the_next_delivery_to_wait_out() {
    if !is_root() {
        eprintln!("NOTICE: not root, skipping the full-disk test (it mounts a tmpfs)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&dir.path().join("mail")) else {
        eprintln!("NOTICE: mount -t tmpfs failed, skipping the full-disk test");
        return;
    };
    let conf = static_conf(dir.path(), "");
    let maildir = dir.path().join("mail/example.com/alice/Maildir");
    let deliver = |timeout: u64| {
        let mut cmd = Command::new(PN);
        cmd.arg("-c")
            .arg(&conf)
            .args(["deliver", "-d", "alice@example.com", "-p", HELLO])
            .env_remove("PN_CONFIG");
        within(cmd, timeout)
    };
    let first = deliver(60).expect("first delivery finished");
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let mut failures = 0;
    // With 0 to 3 pages free, some step of the delivery (message, lock, uidlist) hits ENOSPC.
    for pages in 0..4 {
        fs.fill_leaving(pages);
        // Generous, and far below the 120 s stale timeout an empty lock used to cost.
        let out = deliver(60).expect("a delivery on a full disk waited for a lock");
        if out.status.code() != Some(0) {
            failures += 1;
            assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
        }
        fs.free();
        assert_eq!(
            lock_files(&maildir),
            Vec::<String>::new(),
            "{pages} pages free"
        );
        let out = deliver(60).expect("the delivery after the disk filled waited for a lock");
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    assert!(failures > 0, "the disk never filled up");
    assert_eq!(lock_files(&maildir), Vec::<String>::new());
}

#[test]
fn a_full_disk_leaves_no_lock_for_the_next_lmtp_delivery_to_wait_out() {
    if !is_root() {
        eprintln!("NOTICE: not root, skipping the full-disk test (it mounts a tmpfs)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&dir.path().join("mail")) else {
        eprintln!("NOTICE: mount -t tmpfs failed, skipping the full-disk test");
        return;
    };
    let conf = static_conf(dir.path(), "");
    let maildir = dir.path().join("mail/example.com/alice/Maildir");
    let server = Lmtp::start(&conf, &[]);
    let mut c = server.connect();
    let (_, data) = c.transaction(&["alice@example.com"], MESSAGE);
    assert!(data[0].starts_with("250"), "{data:?}");
    let mut failures = 0;
    for pages in 0..4 {
        fs.fill_leaving(pages);
        let (_, data) = c.transaction(&["alice@example.com"], MESSAGE);
        if !data[0].starts_with("250") {
            failures += 1;
        }
        fs.free();
        assert_eq!(
            lock_files(&maildir),
            Vec::<String>::new(),
            "{pages} pages free"
        );
        // The read timeout (60 s) is far below the 120 s stale timeout.
        let (_, data) = c.transaction(&["alice@example.com"], MESSAGE);
        assert!(data[0].starts_with("250"), "{data:?}");
    }
    assert!(failures > 0, "the disk never filled up");
}
