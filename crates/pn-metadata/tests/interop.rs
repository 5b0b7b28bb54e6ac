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

use pn_metadata::{AttributeType, FileStore, Target};
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
    start_dovecot_with(sandbox, "protocols =\n", None)
}

/// Starts Dovecot with `extra` configuration lines (which set `protocols`); waits for the
/// userdb socket and, when given, for `tcp_port` on 127.0.0.1 to accept connections.
fn start_dovecot_with(sandbox: &Path, extra: &str, tcp_port: Option<u16>) -> Dovecot {
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
             namespace inbox {{\n  inbox = yes\n  separator = /\n}}\n\
             {extra}",
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
    if let Some(port) = tcp_port {
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "dovecot does not listen on {port}"
            );
            if let Ok(Some(status)) = dovecot.child.try_wait() {
                panic!("dovecot exited: {status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
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
            AttributeType::Private,
            "vendor/vendor.dovecot/http-notify",
            Some(b"user=11@3"),
        )
        .expect("pn set");
    alice
        .set(
            Target::Mailbox("INBOX"),
            AttributeType::Shared,
            "comment",
            Some(TRICKY.as_bytes()),
        )
        .expect("pn set");
    alice
        .set(
            Target::Server,
            AttributeType::Private,
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
    let server = |s: &FileStore, k: &str| {
        s.get(Target::Server, AttributeType::Private, k)
            .expect("pn get")
    };
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
        AttributeType::Private,
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

/// Makes a CA and a server certificate for 127.0.0.1 with openssl; `None` without openssl.
fn make_certs(dir: &Path) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let run = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n",
    )
    .ok()?;
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ok = run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=pn test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    ]
    .concat())
        && run(&[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat())
        && run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
    ok.then(|| {
        (
            dir.join("ca.pem"),
            dir.join("server.pem"),
            dir.join("server.key"),
        )
    })
}

#[test]
fn imap_backend_talks_to_dovecot_imap() {
    use pn_metadata::imap::{AuthMech, ImapSettings, ImapStore, SslMode};
    use pn_metadata::{ErrorKind, MetadataError};

    if let Some(reason) = skip_reason() {
        #[allow(clippy::print_stdout)]
        {
            println!("skipping Dovecot IMAP interop test: {reason}");
        }
        return;
    }
    if !Path::new("/usr/lib/dovecot/imap").exists() {
        #[allow(clippy::print_stdout)]
        {
            println!("skipping Dovecot IMAP interop test: dovecot-imapd is not installed");
        }
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let sb = dir.path();
    fs::create_dir_all(sb.join("certs")).expect("mkdir");
    let certs = make_certs(&sb.join("certs"));
    let masters = sb.join("masters");
    fs::write(&masters, "admin:{PLAIN}masterpass\n").expect("masters");
    let (imap_port, imaps_port) = (free_port(), free_port());
    let ssl = match &certs {
        Some((_, cert, key)) => format!(
            "ssl = yes\nssl_cert = <{}\nssl_key = <{}\n",
            cert.display(),
            key.display()
        ),
        None => String::new(),
    };
    let imaps = if certs.is_some() {
        format!(
            "  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {imaps_port}\n    ssl = yes\n  }}\n"
        )
    } else {
        String::new()
    };
    let extra = format!(
        "protocols = imap\n\
         auth_master_user_separator = *\n\
         imap_literal_minus = yes\n\
         {ssl}\
         service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {imap_port}\n  }}\n{imaps}}}\n\
         passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {}\n  master = yes\n  pass = yes\n}}\n",
        masters.display()
    );
    let d = start_dovecot_with(sb, &extra, Some(imap_port));

    let mut settings = ImapSettings::new("127.0.0.1");
    settings.port = Some(imap_port);
    settings.ssl = SslMode::No;
    settings.password = "pass".to_owned();
    let alice_rec = UserRecord::new("alice@example.com");
    let alice = ImapStore::for_user(&settings, &alice_rec).expect("store");
    const NOTIFY: &str = "vendor/vendor.dovecot/http-notify";

    // Server metadata (mailbox "") and mailbox metadata through IMAP; doveadm sees them.
    alice
        .set(
            Target::Server,
            AttributeType::Private,
            NOTIFY,
            Some(b"user=11@3"),
        )
        .expect("imap set");
    assert_eq!(
        alice
            .get(Target::Server, AttributeType::Private, NOTIFY)
            .expect("imap get"),
        Some(b"user=11@3".to_vec())
    );
    alice
        .set(
            Target::Mailbox("INBOX"),
            AttributeType::Shared,
            "comment",
            Some(TRICKY.as_bytes()),
        )
        .expect("imap set tricky");
    assert_eq!(
        alice
            .get(Target::Mailbox("INBOX"), AttributeType::Shared, "comment")
            .expect("imap get"),
        Some(TRICKY.as_bytes().to_vec())
    );
    // LITERAL- only: a value over 4096 bytes needs a synchronizing literal.
    let big = "x\u{e9}\t".repeat(2000);
    alice
        .set(
            Target::Server,
            AttributeType::Private,
            "vendor/pn/big",
            Some(big.as_bytes()),
        )
        .expect("imap set big");
    let get = |user: &str, args: &[&str]| {
        let mut all = vec!["mailbox", "metadata", "get", "-u", user];
        all.extend_from_slice(args);
        doveadm(&d, &all).stdout
    };
    let alice_u = "alice@example.com";
    assert_eq!(
        get(
            alice_u,
            &["-s", "", "/private/vendor/vendor.dovecot/http-notify"]
        ),
        b"user=11@3\n"
    );
    assert_eq!(
        get(alice_u, &["INBOX", "/shared/comment"]),
        format!("{TRICKY}\n").into_bytes()
    );
    assert_eq!(
        get(alice_u, &["-s", "", "/private/vendor/pn/big"]),
        format!("{big}\n").into_bytes()
    );

    // doveadm writes, IMAP reads; listing with DEPTH infinity.
    doveadm(
        &d,
        &[
            "mailbox",
            "metadata",
            "set",
            "-u",
            alice_u,
            "-s",
            "",
            "/private/vendor/vendor.dovecot/other",
            TRICKY,
        ],
    );
    assert_eq!(
        alice
            .get(
                Target::Server,
                AttributeType::Private,
                "vendor/vendor.dovecot/other"
            )
            .expect("imap get"),
        Some(TRICKY.as_bytes().to_vec())
    );
    let keys = alice
        .list(Target::Server, AttributeType::Private, "")
        .expect("imap list");
    for k in [NOTIFY, "vendor/vendor.dovecot/other", "vendor/pn/big"] {
        assert!(keys.iter().any(|x| x == k), "{k} not in {keys:?}");
    }
    let keys = alice
        .list(
            Target::Server,
            AttributeType::Private,
            "vendor/vendor.dovecot/",
        )
        .expect("imap list");
    assert!(keys.iter().any(|x| x == "http-notify"), "{keys:?}");
    assert!(!keys.iter().any(|x| x.contains("big")), "{keys:?}");

    // Unset through IMAP: doveadm prints an empty line.
    alice
        .set(
            Target::Server,
            AttributeType::Private,
            "vendor/vendor.dovecot/other",
            None,
        )
        .expect("imap unset");
    assert_eq!(
        get(alice_u, &["-s", "", "/private/vendor/vendor.dovecot/other"]),
        b"\n"
    );
    assert_eq!(
        alice
            .get(
                Target::Server,
                AttributeType::Private,
                "vendor/vendor.dovecot/other"
            )
            .expect("imap get"),
        None
    );

    // A non-ASCII mailbox name goes as modified UTF-7.
    doveadm(&d, &["mailbox", "create", "-u", alice_u, "B\u{e4}r"]);
    alice
        .set(
            Target::Mailbox("B\u{e4}r"),
            AttributeType::Private,
            "comment",
            Some(b"caf\xc3\xa9"),
        )
        .expect("imap set on B\u{e4}r");
    assert_eq!(
        get(alice_u, &["B\u{e4}r", "/private/comment"]),
        "caf\u{e9}\n".as_bytes()
    );
    let missing = alice
        .get(Target::Mailbox("Nope"), AttributeType::Private, "comment")
        .expect_err("missing mailbox");
    assert!(
        matches!(missing, MetadataError::MailboxNotFound { .. }),
        "{missing:?}"
    );
    drop(alice);

    // Wrong password: a permission error.
    let mut wrong = settings.clone();
    wrong.password = "nope".to_owned();
    let err = ImapStore::for_user(&wrong, &alice_rec)
        .expect("store")
        .get(Target::Server, AttributeType::Private, NOTIFY)
        .expect_err("bad password");
    assert_eq!(err.kind(), ErrorKind::Perm, "{err}");

    // Master user, both forms: PLAIN with authzid, and LOGIN as bob*admin.
    let bob_rec = UserRecord::new("bob@example.com");
    let mut master = settings.clone();
    master.master_user = Some("admin".to_owned());
    master.password = "masterpass".to_owned();
    let bob = ImapStore::for_user(&master, &bob_rec).expect("store");
    bob.set(
        Target::Server,
        AttributeType::Private,
        NOTIFY,
        Some(b"user=22@5"),
    )
    .expect("master set");
    drop(bob);
    assert_eq!(
        get(
            "bob@example.com",
            &["-s", "", "/private/vendor/vendor.dovecot/http-notify"]
        ),
        b"user=22@5\n"
    );
    master.master_separator = Some("*".to_owned());
    master.auth_mech = AuthMech::Login;
    let bob = ImapStore::for_user(&master, &bob_rec).expect("store");
    assert_eq!(
        bob.get(Target::Server, AttributeType::Private, NOTIFY)
            .expect("master get"),
        Some(b"user=22@5".to_vec())
    );
    drop(bob);

    // TLS: STARTTLS and implicit TLS with the test CA; without it the certificate fails.
    if let Some((ca, _, _)) = &certs {
        let mut tls = settings.clone();
        tls.ssl = SslMode::Starttls;
        tls.ssl_ca_file = Some(ca.clone());
        let s = ImapStore::for_user(&tls, &alice_rec).expect("store");
        assert_eq!(
            s.get(Target::Server, AttributeType::Private, NOTIFY)
                .expect("starttls get"),
            Some(b"user=11@3".to_vec())
        );
        drop(s);
        tls.ssl = SslMode::Yes;
        tls.port = Some(imaps_port);
        let s = ImapStore::for_user(&tls, &alice_rec).expect("store");
        s.set(
            Target::Server,
            AttributeType::Private,
            "vendor/pn/tls",
            Some(TRICKY.as_bytes()),
        )
        .expect("imaps set");
        drop(s);
        assert_eq!(
            get(alice_u, &["-s", "", "/private/vendor/pn/tls"]),
            format!("{TRICKY}\n").into_bytes()
        );
        tls.ssl_ca_file = None;
        let err = ImapStore::for_user(&tls, &alice_rec)
            .expect("store")
            .get(Target::Server, AttributeType::Private, NOTIFY)
            .expect_err("untrusted certificate");
        assert!(err.to_string().contains("TLS"), "{err}");
    } else {
        #[allow(clippy::print_stdout)]
        {
            println!("openssl missing: TLS part of the IMAP interop test skipped");
        }
    }
}
