//! `pn lmtp` started as root without `mail_uid` for system users with their own uids in a
//! passwd-file userdb (the common Postfix + Dovecot setup): every user's files belong to that
//! user, a uid below `first_valid_uid` is refused for that recipient alone, and no thread of
//! the server keeps a user's ids after a delivery. The ox driver's pushes (metadata read from
//! each user's `dovecot-attributes`, `unseen` from the shared status cache) arrive at a real
//! HTTP receiver. Needs root (skips with a notice otherwise).

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
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PN: &str = env!("CARGO_BIN_EXE_pn");
const ALICE: (&str, u32) = ("alice@example.com", 2001);
const BOB: (&str, u32) = ("bob@example.com", 2002);
/// Below `first_valid_uid = 1000`.
const CAROL: (&str, u32) = ("carol@example.com", 100);

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn reply(r: &mut BufReader<TcpStream>) -> String {
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "connection closed");
        if line.as_bytes().get(3) != Some(&b'-') {
            return line.trim_end().to_owned();
        }
    }
}

fn cmd(w: &mut TcpStream, r: &mut BufReader<TcpStream>, line: &str) -> String {
    w.write_all(format!("{line}\r\n").as_bytes()).unwrap();
    reply(r)
}

/// Each file and directory below `dir` with its owner.
fn owners(dir: &Path) -> Vec<(String, u32, u32)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let md = std::fs::symlink_metadata(e.path()).unwrap();
            out.push((e.path().display().to_string(), md.uid(), md.gid()));
            if md.is_dir() {
                todo.push(e.path());
            }
        }
    }
    out
}

/// The uids (real, effective, saved, fs) of every thread of `pid`.
fn thread_uids(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .filter_map(|t| {
            let status = std::fs::read_to_string(t.path().join("status")).ok()?;
            status
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        })
        .collect()
}

#[test]
fn as_root_without_mail_uid_each_user_gets_files_of_their_own_uid() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("NOTICE: not root, skipping the per-user uid LMTP test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut perms = std::fs::metadata(dir.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(dir.path(), perms).unwrap();
    let mut passwd = String::new();
    for (user, uid) in [ALICE, BOB, CAROL] {
        let home = dir.path().join("home").join(user);
        std::fs::create_dir_all(&home).unwrap();
        std::os::unix::fs::chown(&home, Some(uid), Some(uid)).unwrap();
        passwd.push_str(&format!("{user}:x:{uid}:{uid}::{}::\n", home.display()));
    }
    std::fs::write(dir.path().join("users"), passwd).unwrap();
    let (port, requests) = util::http_receiver("200 OK");
    let conf = dir.path().join("pn.conf");
    std::fs::write(
        &conf,
        format!(
            "mail_location = maildir:~/Maildir\nfirst_valid_uid = 1000\n\
             mail_plugins = $mail_plugins notify push_notification\n\
             userdb {{\n  driver = passwd-file\n  args = username_format=%u {}\n}}\n\
             plugin {{\n  push_notification_driver = dlog\n  \
             push_notification_driver2 = ox:url=http://127.0.0.1:{port}/notify\n}}\n",
            dir.path().join("users").display()
        ),
    )
    .unwrap();
    // Each user enables ox for themselves (the command writes as that user).
    for (user, _) in [ALICE, BOB] {
        let out = Command::new(PN)
            .arg("-c")
            .arg(&conf)
            .args(["mailbox", "metadata", "set", "-u", user, "-s", ""])
            .args(["/private/vendor/vendor.dovecot/http-notify", "user=1@2"])
            .env_remove("PN_CONFIG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut child = Command::new(PN)
        .arg("-c")
        .arg(&conf)
        .args(["lmtp", "--listen", "127.0.0.1:0", "--print-address"])
        .env_remove("PN_CONFIG")
        .env_remove("PN_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut address = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut address)
        .unwrap();
    let server = Server(child);
    assert!(
        !address.trim().is_empty(),
        "pn lmtp as root without mail_uid did not start"
    );

    let mut w = TcpStream::connect(address.trim()).unwrap();
    w.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut r = BufReader::new(w.try_clone().unwrap());
    reply(&mut r);
    cmd(&mut w, &mut r, "LHLO test");
    // Twice, so blocking threads are reused across users.
    for round in 0..2 {
        assert!(cmd(&mut w, &mut r, "MAIL FROM:<s@example.org>").starts_with("250"));
        let rcpts: Vec<String> = [ALICE, CAROL, BOB]
            .iter()
            .map(|(u, _)| cmd(&mut w, &mut r, &format!("RCPT TO:<{u}>")))
            .collect();
        assert!(rcpts[0].starts_with("250"), "{rcpts:?}");
        assert_eq!(
            rcpts[1], "451 4.3.0 <carol@example.com> Temporary internal error",
            "carol's uid is below first_valid_uid"
        );
        assert!(rcpts[2].starts_with("250"), "{rcpts:?}");
        assert!(cmd(&mut w, &mut r, "DATA").starts_with("354"));
        w.write_all(format!("Subject: round {round}\r\n\r\nhi\r\n.\r\n").as_bytes())
            .unwrap();
        for user in [ALICE.0, BOB.0] {
            let data = reply(&mut r);
            assert!(data.starts_with("250") && data.contains(user), "{data}");
        }
        // One push per user: the user's own uid and unseen count, read as that user.
        let n = round + 1;
        for _ in [ALICE, BOB] {
            let got = requests.recv_timeout(Duration::from_secs(10)).unwrap();
            let body = String::from_utf8_lossy(&got.body).into_owned();
            assert!(
                body.contains(&format!("\"imap-uid\":{n},"))
                    && body.ends_with(&format!("\"unseen\":{n}}}")),
                "round {round}: {body}"
            );
        }
    }
    cmd(&mut w, &mut r, "QUIT");

    for (user, uid) in [ALICE, BOB] {
        let maildir = dir.path().join("home").join(user).join("Maildir");
        assert_eq!(
            std::fs::read_dir(maildir.join("new")).unwrap().count(),
            2,
            "{user}"
        );
        let all = owners(maildir.parent().unwrap());
        assert!(all.len() > 5, "{all:?}");
        for (path, u, g) in all {
            assert_eq!((u, g), (uid, uid), "{path}");
        }
    }
    assert!(
        !dir.path()
            .join("home")
            .join(CAROL.0)
            .join("Maildir")
            .exists()
    );
    // The sockets' threads and the delivery threads are root again.
    for uids in thread_uids(server.0.id()) {
        assert_eq!(uids, "0 0 0 0");
    }
}
