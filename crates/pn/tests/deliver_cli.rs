//! `pn deliver`: dovecot-lda's interface, exit codes and the dlog lines of a delivery.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

mod util;

use std::io::Write;
use std::process::{Command, Stdio};

use util::{CLEANUP, DEINIT, INIT, Sandbox, dlog, message_data, run_pn, stderr};

const HELLO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/hello.eml");
const ALICE: &str = "alice@example.com";

fn deliver(sb: &Sandbox, extra: &[&str], msg: &[u8]) -> std::process::Output {
    let mut args = vec!["deliver", "-d", ALICE];
    args.extend_from_slice(extra);
    sb.pn(&args, Some(msg))
}

#[test]
fn the_readme_job_delivers_the_example_on_the_embedded_default() {
    let data = tempfile::tempdir().unwrap();
    let out = run_pn(
        &["deliver", "-d", ALICE, "-p", HELLO],
        None,
        &[("PN_DATA_DIR", data.path())],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = dlog(&out);
    let (uid, uidvalidity) = message_data(&lines, "INBOX")[0];
    assert_eq!(uid, 1);
    // As dovecot-lda: the raw mail user and the recipient both initialise the driver, only
    // the recipient's transaction runs.
    assert_eq!(
        lines,
        [
            INIT.to_owned(),
            INIT.to_owned(),
            // The first delivery creates INBOX: Dovecot 2.3.19 and 2.4.1 report it too.
            "Called begin_txn push_notification plugin hook.".to_owned(),
            "Called process_mbox push_notification plugin hook.".to_owned(),
            "Mailbox data: Mailbox [INBOX]".to_owned(),
            "MailboxCreate: Mailbox was created".to_owned(),
            "Called end_txn push_notification plugin hook.".to_owned(),
            "Called begin_txn push_notification plugin hook.".to_owned(),
            "Called process_msg push_notification plugin hook.".to_owned(),
            format!("Message data: Mailbox [INBOX], UID [1], UIDVALIDITY [{uidvalidity}]"),
            "Called end_txn push_notification plugin hook.".to_owned(),
            DEINIT.to_owned(),
            CLEANUP.to_owned(),
            DEINIT.to_owned(),
            CLEANUP.to_owned(),
        ]
    );
    assert!(stderr(&out).contains("msgid=<hello-1@example.org>: saved mail to INBOX"));
    let new = data.path().join("home").join(ALICE).join("Maildir/new");
    assert_eq!(std::fs::read_dir(new).unwrap().count(), 1);
}

#[test]
fn unknown_users_exit_67_and_store_nothing() {
    let sb = Sandbox::new();
    let out = sb.pn(
        &["deliver", "-d", "carol@example.com"],
        Some(b"Subject: x\n\nhi\n"),
    );
    assert_eq!(out.status.code(), Some(67));
    assert!(stderr(&out).contains("Unknown user"), "{}", stderr(&out));
    assert!(dlog(&out).is_empty());
}

#[test]
fn invalid_user_names_are_unknown_users_even_with_the_static_default() {
    let data = tempfile::tempdir().unwrap();
    for name in ["../escape", "a/b", "..", "", "bad user"] {
        let out = run_pn(
            &["deliver", "-d", name],
            Some(b"Subject: x\n\nhi\n"),
            &[("PN_DATA_DIR", data.path())],
        );
        assert_eq!(out.status.code(), Some(67), "{name:?}: {}", stderr(&out));
    }
    assert_eq!(
        std::fs::read_dir(data.path()).unwrap().count(),
        0,
        "nothing created"
    );
}

#[test]
fn a_missing_mailbox_falls_back_to_inbox() {
    let sb = Sandbox::new();
    let out = deliver(&sb, &["-m", "Nope"], b"Subject: x\n\nhi\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("save failed to open mailbox Nope: Mailbox doesn't exist: Nope"));
    assert!(err.contains("saved mail to INBOX"));
    assert_eq!(message_data(&dlog(&out), "INBOX").len(), 1);
    assert_eq!(sb.files(ALICE, "").len(), 1);
}

#[test]
fn autocreate_creates_and_subscribes_the_mailbox() {
    let sb = Sandbox::with("lda_mailbox_autocreate = yes\nlda_mailbox_autosubscribe = yes\n");
    let out = deliver(&sb, &["-m", "Work/Reports"], b"Subject: x\n\nhi\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = dlog(&out);
    assert!(lines.contains(&"MailboxCreate: Mailbox was created".to_owned()));
    assert!(lines.contains(&"MailboxSubscribe: Mailbox was subscribed to".to_owned()));
    assert_eq!(message_data(&lines, "Work/Reports").len(), 1, "{lines:?}");
    assert_eq!(sb.files(ALICE, ".Work.Reports").len(), 1);
    let subs = std::fs::read_to_string(sb.maildir(ALICE).join("subscriptions")).unwrap();
    assert!(subs.contains("Work\tReports"), "{subs:?}");
}

#[test]
fn an_empty_message_exits_65_and_stores_nothing() {
    let sb = Sandbox::new();
    for msg in [&b""[..], b"From someone Mon Jan  1 00:00:00 2024\n"] {
        let out = deliver(&sb, &[], msg);
        assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
        assert!(stderr(&out).contains("Empty message"));
        assert!(message_data(&dlog(&out), "INBOX").is_empty());
    }
    assert!(sb.files(ALICE, "").is_empty());
}

#[test]
fn a_message_without_a_body_separator_is_delivered_as_is() {
    let sb = Sandbox::new();
    let out = deliver(&sb, &[], b"Subject: only headers\nX-A: b");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sb.files(ALICE, "")[0].1, b"Subject: only headers\nX-A: b");
}

#[test]
fn crlf_input_is_stored_with_lf_and_an_mbox_from_line_is_dropped() {
    let sb = Sandbox::new();
    let out = deliver(
        &sb,
        &["-f", "sender@example.org"],
        b"From sender@example.org Mon Jan  1 00:00:00 2024\r\nSubject: x\r\n\r\nhi\r\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let files = sb.files(ALICE, "");
    assert_eq!(files[0].1, b"Subject: x\n\nhi\n");
    // Dovecot's size fields: S= the stored (LF) size, W= the CRLF size.
    assert!(files[0].0.contains(",S=15,W=18"), "{}", files[0].0);
}

#[test]
fn a_50_mb_message_is_delivered_whole() {
    let sb = Sandbox::new();
    let path = sb.dir.path().join("big.eml");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(b"Subject: big\n\n").unwrap();
    let line = [b'x'; 99];
    for _ in 0..(50 * 1024 * 1024 / 100) {
        f.write_all(&line).unwrap();
        f.write_all(b"\n").unwrap();
    }
    drop(f);
    let size = std::fs::metadata(&path).unwrap().len();
    let out = sb.pn(
        &["deliver", "-d", ALICE, "-p", path.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let files = sb.files(ALICE, "");
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].1.len() as u64, size);
}

#[test]
fn bad_usage_exits_64_and_a_missing_input_file_75() {
    let sb = Sandbox::new();
    let out = deliver(&sb, &["-f", "a b@c"], b"x");
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(stderr(&out).contains("Invalid -f parameter"));
    let out = deliver(&sb, &["--no-such-option"], b"x");
    assert_eq!(out.status.code(), Some(64));
    let out = deliver(&sb, &["-p", "/nonexistent/msg.eml"], b"");
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert!(stderr(&out).contains("Can't open delivery mail as raw"));
    let out = sb.pn(
        &["-o", "pn_status_cache_folders=lots", "deliver", "-d", ALICE],
        Some(b"Subject: x\n\ny\n"),
    );
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pn: -o:1:25: Invalid number lots: Not a valid number"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn concurrent_deliveries_get_uids_1_to_n_without_collision() {
    const N: usize = 8;
    let sb = Sandbox::new();
    let children: Vec<_> = (0..N)
        .map(|i| {
            let mut child = Command::new(env!("CARGO_BIN_EXE_pn"))
                .args(["-c", sb.conf.to_str().unwrap(), "deliver", "-d", ALICE])
                .env_remove("PN_LOG")
                .env("NO_COLOR", "1")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let msg = format!("Subject: message {i}\n\nbody {i}\n");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(msg.as_bytes())
                .unwrap();
            child
        })
        .collect();
    let mut uids = Vec::new();
    let mut validities = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        for (uid, v) in message_data(&dlog(&out), "INBOX") {
            uids.push(uid);
            validities.push(v);
        }
    }
    uids.sort_unstable();
    assert_eq!(uids, (1..=N as u32).collect::<Vec<_>>());
    validities.dedup();
    assert_eq!(validities.len(), 1, "one UIDVALIDITY");
    assert_eq!(sb.files(ALICE, "").len(), N);
}

#[test]
fn a_killed_delivery_leaves_nothing_visible() {
    let sb = Sandbox::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pn"))
        .args(["-c", sb.conf.to_str().unwrap(), "deliver", "-d", ALICE])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"Subject: half\n\nthe first half").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    assert!(sb.files(ALICE, "").is_empty(), "nothing in new/ or cur/");
    // The next delivery is UID 1: nothing was numbered.
    let out = deliver(&sb, &[], b"Subject: whole\n\nbody\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(message_data(&dlog(&out), "INBOX")[0].0, 1);
    assert_eq!(sb.files(ALICE, "").len(), 1);
}

#[test]
fn uids_below_first_valid_uid_are_refused_with_dovecots_error() {
    let sb = Sandbox::with("first_valid_uid = 500\n");
    sb.write_users(100, 100);
    let out = deliver(&sb, &[], b"Subject: x\n\nhi\n");
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "Mail access for users with UID 100 not permitted \
             (see first_valid_uid in config file, uid from userdb lookup)."
        ),
        "{}",
        stderr(&out)
    );
    assert!(!sb.maildir(ALICE).exists());
}

#[test]
fn as_root_the_delivery_runs_as_the_users_uid_and_gid() {
    use std::os::unix::fs::MetadataExt;
    let sb = Sandbox::new();
    if sb.uid != 0 {
        eprintln!("NOTICE: not root, skipping the privilege switch test");
        return;
    }
    let (uid, gid) = (65534, 65534);
    sb.write_users(uid, gid);
    std::fs::create_dir_all(sb.home(ALICE)).unwrap();
    std::os::unix::fs::chown(sb.home(ALICE), Some(uid), Some(gid)).unwrap();
    // The sandbox must be traversable by the mail user.
    let mut perms = std::fs::metadata(sb.dir.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(sb.dir.path(), perms).unwrap();
    let out = deliver(&sb, &[], b"Subject: x\n\nhi\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let new = sb.maildir(ALICE).join("new");
    let file = std::fs::read_dir(&new).unwrap().next().unwrap().unwrap();
    let meta = file.metadata().unwrap();
    assert_eq!((meta.uid(), meta.gid()), (uid, gid));
    assert_eq!(meta.mode() & 0o777, 0o600, "Dovecot's default file mode");
    let dir = std::fs::metadata(sb.maildir(ALICE)).unwrap();
    assert_eq!((dir.uid(), dir.mode() & 0o777), (uid, 0o700));
}

#[test]
fn json_log_format_gives_one_json_object_per_line() {
    let data = tempfile::tempdir().unwrap();
    let out = run_pn(
        &["--log-format", "json", "deliver", "-d", ALICE, "-p", HELLO],
        None,
        &[("PN_DATA_DIR", data.path())],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let dlog: Vec<&str> = lines
        .iter()
        .filter(|v| v["target"] == "pn_driver_dlog")
        .filter_map(|v| v["fields"]["message"].as_str())
        .collect();
    assert!(
        dlog.contains(&"Called begin_txn push_notification plugin hook."),
        "{text}"
    );
    assert!(
        dlog.iter()
            .any(|m| m.starts_with("Message data: Mailbox [INBOX], UID [1]")),
        "{text}"
    );
}
