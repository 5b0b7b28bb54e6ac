//! doveadm's global options (`-o`, `-f`, `-c`, `-D`, `-v`) before the command, the same for
//! every command: `-o` wins over the file's lines, `protocol` filters included, for `lmtp`,
//! `deliver` and the mail commands alike; `-f` before a command is that command's formatter.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod util;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use util::{Sandbox, run_pn, stderr, stdout};

const ALICE: &str = "alice@example.com";

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Kills the server when the test ends, whatever happens.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn o_before_lmtp_wins_over_a_protocol_filter() {
    let sb = Sandbox::with("protocol lmtp {\n  login_greeting = from the file\n}\n");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pn"));
    cmd.arg("-c")
        .arg(&sb.conf)
        .args(["-o", "login_greeting=from -o"]);
    if is_root() {
        cmd.args(["-o", "mail_uid=65534", "-o", "mail_gid=65534"]);
    }
    let mut child = Child(
        cmd.args(["lmtp", "--listen", "127.0.0.1:0", "--print-address"])
            .env_remove("PN_CONFIG")
            .env("PN_LOG", "off")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut address = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut address)
        .unwrap();
    let stream = std::net::TcpStream::connect(address.trim()).unwrap();
    let mut greeting = String::new();
    BufReader::new(stream).read_line(&mut greeting).unwrap();
    assert!(
        greeting.starts_with("220 ") && greeting.trim_end().ends_with(" from -o"),
        "{greeting:?}"
    );
}

#[test]
fn o_before_deliver_wins_over_a_protocol_filter() {
    let sb = Sandbox::with("protocol lda {\n  mail_location = maildir:~/FromFile\n}\n");
    let out = sb.pn(
        &[
            "-o",
            "mail_location=maildir:~/FromO",
            "deliver",
            "-d",
            ALICE,
        ],
        Some(b"Subject: hi\n\nbody\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let new = std::fs::read_dir(sb.home(ALICE).join("FromO/new")).unwrap();
    assert_eq!(new.count(), 1);
    assert!(!sb.home(ALICE).join("FromFile").exists());
}

#[test]
fn o_before_a_mail_command_wins_over_a_protocol_filter() {
    let sb = Sandbox::with("protocol doveadm {\n  mail_location = maildir:~/FromFile\n}\n");
    let out = sb.pn(
        &[
            "-o",
            "mail_location=maildir:~/FromO",
            "mailbox",
            "create",
            "-u",
            ALICE,
            "Work",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(sb.home(ALICE).join("FromO/.Work").is_dir());
    assert!(!sb.home(ALICE).join("FromFile").exists());
}

#[test]
fn f_before_the_command_is_the_commands_formatter() {
    let sb = Sandbox::new();
    let created = sb.pn(&["mailbox", "create", "-u", ALICE, "Work"], None);
    assert_eq!(created.status.code(), Some(0), "{}", stderr(&created));
    let before = sb.pn(&["-f", "tab", "mailbox", "list", "-u", ALICE], None);
    let after = sb.pn(&["mailbox", "list", "-u", ALICE, "-f", "tab"], None);
    let flow = sb.pn(&["mailbox", "list", "-u", ALICE], None);
    assert_eq!(before.status.code(), Some(0), "{}", stderr(&before));
    assert_eq!(stdout(&before), stdout(&after));
    assert_ne!(stdout(&before), stdout(&flow), "tab has a title line");

    let json = sb.pn(
        &[
            "-f", "json", "mailbox", "status", "-u", ALICE, "messages", "Work",
        ],
        None,
    );
    assert_eq!(
        stdout(&json).trim(),
        r#"[{"mailbox":"Work","messages":"0"}]"#
    );
    // The command's own -f is given later, so it wins.
    let both = sb.pn(
        &["-f", "json", "mailbox", "list", "-u", ALICE, "-f", "tab"],
        None,
    );
    assert_eq!(stdout(&both), stdout(&after));
}

#[test]
fn f_where_nothing_is_formatted_is_refused_with_64() {
    let sb = Sandbox::new();
    let out = sb.pn(&["-f", "tab", "deliver", "-d", ALICE], Some(b"x\n"));
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("-f SENDER goes after `deliver`"));
    let out = sb.pn(&["-f", "table", "mailbox", "list", "-u", ALICE], None);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("flow, tab and json"));
}

#[test]
fn d_turns_on_debug_logging_before_or_after_the_command() {
    let sb = Sandbox::new();
    let conf = sb.conf.to_str().unwrap();
    // Without push_notification loaded the session says so at debug level.
    let run = |args: &[&str]| {
        let mut full = vec!["-c", conf, "-o", "mail_plugins="];
        full.extend_from_slice(args);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pn"));
        cmd.args(&full)
            .env_remove("PN_CONFIG")
            .env("PN_LOG", "off")
            .env("NO_COLOR", "1");
        cmd.output().unwrap()
    };
    let needle = "mail_plugins does not load notify and push_notification";
    let quiet = run(&["mailbox", "list", "-u", ALICE]);
    assert!(!stderr(&quiet).contains(needle), "{}", stderr(&quiet));
    for args in [
        &["-D", "mailbox", "list", "-u", ALICE][..],
        &["mailbox", "list", "-u", ALICE, "-D"][..],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
    // -v is accepted too (pn's default filter: info and the dlog lines).
    let out = run_pn(&["-c", conf, "-v", "config", "check"], None, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
