//! Interop with the real Dovecot (Debian 12's `dovecot-core`): pn's `file` backend and
//! `doveadm mailbox metadata` read each other's writes for the same user, including values with
//! tabs, newlines and non-ASCII bytes.
//!
//! Dovecot runs as this test's own child process (`dovecot -F`) with a generated configuration
//! in a temporary directory (doveadm needs its auth service for userdb lookups). The test skips
//! with a notice when `/usr/bin/doveadm` is missing or when it does not run as root (Dovecot
//! must switch to the mail user, and the test hands pn's files to that user).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use pn_metadata::{AttrType, FileStore, Target};
use pn_userdb::UserRecord;

/// The mail user's uid/gid (`nobody`/`nogroup`).
const MAIL_ID: u32 = 65534;

struct Dovecot {
    child: Child,
    conf: PathBuf,
    sandbox: PathBuf,
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn skip_reason() -> Option<&'static str> {
    if !Path::new("/usr/bin/doveadm").exists() || !Path::new("/usr/sbin/dovecot").exists() {
        return Some("/usr/bin/doveadm is missing (apt-get install dovecot-core dovecot-imapd)");
    }
    let uid = fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(1);
    if uid != 0 {
        return Some("not running as root");
    }
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn start_dovecot(sandbox: &Path) -> Dovecot {
    for d in ["run", "state", "logs", "home"] {
        fs::create_dir_all(sandbox.join(d)).expect("mkdir");
    }
    fs::set_permissions(sandbox, fs::Permissions::from_mode(0o755)).expect("chmod");
    let users = sandbox.join("users");
    let mut passwd = String::new();
    for u in ["alice@example.com", "bob@example.com"] {
        let home = sandbox.join("home").join(u);
        fs::create_dir_all(&home).expect("home");
        std::os::unix::fs::chown(&home, Some(MAIL_ID), Some(MAIL_ID)).expect("chown");
        passwd.push_str(&format!(
            "{u}:{{PLAIN}}pass:{MAIL_ID}:{MAIL_ID}::{}::\n",
            home.display()
        ));
    }
    fs::write(&users, passwd).expect("users");
    let sb = sandbox.display();
    let port = free_port();
    let conf = sandbox.join("dovecot.conf");
    fs::write(
        &conf,
        format!(
            "base_dir = {sb}/run\n\
             state_dir = {sb}/state\n\
             instance_name = pn-interop-{port}\n\
             listen = 127.0.0.1\n\
             protocols =\n\
             ssl = no\n\
             disable_plaintext_auth = no\n\
             auth_mechanisms = plain\n\
             log_path = {sb}/logs/dovecot.log\n\
             default_login_user = dovenull\n\
             default_internal_user = dovecot\n\
             mail_location = maildir:~/Maildir\n\
             imap_metadata = yes\n\
             mail_attribute_dict = file:%h/dovecot-attributes\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {users}\n}}\n\
             userdb {{\n  driver = passwd-file\n  args = username_format=%u {users}\n}}\n\
             namespace inbox {{\n  inbox = yes\n  separator = /\n}}\n",
            users = users.display()
        ),
    )
    .expect("conf");
    let child = Command::new("/usr/sbin/dovecot")
        .args(["-F", "-c"])
        .arg(&conf)
        .spawn()
        .expect("start dovecot");
    let mut dovecot = Dovecot {
        child,
        conf,
        sandbox: sandbox.to_path_buf(),
    };
    let socket = sandbox.join("run/auth-userdb");
    let start = Instant::now();
    while !socket.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "dovecot did not start"
        );
        if let Ok(Some(status)) = dovecot.child.try_wait() {
            panic!("dovecot exited: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    dovecot
}

fn doveadm(d: &Dovecot, args: &[&str]) -> Output {
    let out = Command::new("/usr/bin/doveadm")
        .arg("-c")
        .arg(&d.conf)
        .args(args)
        .output()
        .expect("doveadm");
    assert!(
        out.status.success(),
        "doveadm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn store(d: &Dovecot, user: &str) -> FileStore {
    let mut record = UserRecord::new(user);
    record.home = Some(d.sandbox.join("home").join(user));
    record.uid = Some(MAIL_ID);
    record.gid = Some(MAIL_ID);
    FileStore::for_user(&record, "file:%h/dovecot-attributes", "maildir:~/Maildir").expect("store")
}

/// Hands everything pn created to the mail user, as a pn running as that user would have.
fn chown_home(d: &Dovecot, user: &str) {
    fn walk(p: &Path) {
        std::os::unix::fs::lchown(p, Some(MAIL_ID), Some(MAIL_ID)).expect("chown");
        if p.is_dir() {
            for e in fs::read_dir(p).expect("readdir") {
                walk(&e.expect("entry").path());
            }
        }
    }
    walk(&d.sandbox.join("home").join(user));
}

const TRICKY: &str = "user=1@2\tx=y\nline two\r\u{1}ctl caf\u{e9} \u{2713}";

#[test]
fn pn_and_doveadm_read_each_others_writes() {
    if let Some(reason) = skip_reason() {
        #[allow(clippy::print_stdout)]
        {
            println!("skipping Dovecot interop test: {reason}");
        }
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = start_dovecot(dir.path());

    // pn writes first (and creates INBOX with its own uidlist); doveadm reads.
    let alice = store(&d, "alice@example.com");
    alice
        .set(
            Target::Server,
            AttrType::Private,
            "vendor/vendor.dovecot/http-notify",
            Some(b"user=11@3"),
        )
        .expect("pn set");
    alice
        .set(
            Target::Mailbox("INBOX"),
            AttrType::Shared,
            "comment",
            Some(TRICKY.as_bytes()),
        )
        .expect("pn set");
    alice
        .set(
            Target::Server,
            AttrType::Private,
            "vendor/vendor.dovecot/empty",
            Some(b""),
        )
        .expect("pn set");
    chown_home(&d, "alice@example.com");
    let u = ["-u", "alice@example.com"];
    let get = |args: &[&str]| {
        let mut all = vec!["mailbox", "metadata", "get"];
        all.extend_from_slice(&u);
        all.extend_from_slice(args);
        doveadm(&d, &all).stdout
    };
    assert_eq!(
        get(&["-s", "", "/private/vendor/vendor.dovecot/http-notify"]),
        b"user=11@3\n"
    );
    assert_eq!(
        get(&["INBOX", "/shared/comment"]),
        format!("{TRICKY}\n").into_bytes()
    );
    assert_eq!(
        get(&["-s", "", "/private/vendor/vendor.dovecot/empty"]),
        b"\n"
    );
    let list = doveadm(
        &d,
        &[
            "mailbox",
            "metadata",
            "list",
            "-u",
            "alice@example.com",
            "-s",
            "-p",
            "",
        ],
    )
    .stdout;
    let list = String::from_utf8(list).expect("utf8");
    assert!(
        list.contains("/private/vendor/vendor.dovecot/http-notify\n"),
        "{list}"
    );
    assert!(
        list.contains("/private/vendor/vendor.dovecot/empty\n"),
        "{list}"
    );

    // doveadm writes into pn's file; pn reads, and pn's entries survive.
    doveadm(
        &d,
        &[
            "mailbox",
            "metadata",
            "set",
            "-u",
            "alice@example.com",
            "-s",
            "",
            "/private/vendor/vendor.dovecot/other",
            TRICKY,
        ],
    );
    doveadm(
        &d,
        &[
            "mailbox",
            "metadata",
            "unset",
            "-u",
            "alice@example.com",
            "-s",
            "",
            "/private/vendor/vendor.dovecot/empty",
        ],
    );
    let server =
        |s: &FileStore, k: &str| s.get(Target::Server, AttrType::Private, k).expect("pn get");
    assert_eq!(
        server(&alice, "vendor/vendor.dovecot/other"),
        Some(TRICKY.as_bytes().to_vec())
    );
    assert_eq!(
        server(&alice, "vendor/vendor.dovecot/http-notify"),
        Some(b"user=11@3".to_vec())
    );
    assert_eq!(server(&alice, "vendor/vendor.dovecot/empty"), None);

    // Dovecot creates the user's INBOX and dictionary; pn finds its GUID and values.
    doveadm(
        &d,
        &[
            "mailbox",
            "metadata",
            "set",
            "-u",
            "bob@example.com",
            "-s",
            "",
            "/private/vendor/vendor.dovecot/http-notify",
            "user=22@5",
        ],
    );
    let bob = store(&d, "bob@example.com");
    assert_eq!(
        server(&bob, "vendor/vendor.dovecot/http-notify"),
        Some(b"user=22@5".to_vec())
    );
    bob.set(
        Target::Server,
        AttrType::Private,
        "vendor/vendor.dovecot/http-notify",
        Some(TRICKY.as_bytes()),
    )
    .expect("pn set");
    chown_home(&d, "bob@example.com");
    let out = doveadm(
        &d,
        &[
            "mailbox",
            "metadata",
            "get",
            "-u",
            "bob@example.com",
            "-s",
            "",
            "/private/vendor/vendor.dovecot/http-notify",
        ],
    );
    assert_eq!(out.stdout, format!("{TRICKY}\n").into_bytes());
}
