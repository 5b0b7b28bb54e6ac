//! Replays the session Dovecot 2.3.19.1 ran with `push_dump.lua` (`data/lua-events.txt`)
//! through pn's host API with the lua driver and the same script, and compares, step by step,
//! every dumped argument (field, Lua type and value) and the driver's log lines.
//!
//! MessageNew/MessageAppend header and body fields come from the capture itself (a
//! `MessageSource` filled with the captured values), so this test checks the driver's Lua
//! conversion; pn-message's extraction has its own tests against the same messages.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use pn_core::{
    Commit, HostError, MailboxHost, MailboxStatus, PushNotifications, PushUser, Save, UserInfo,
};
use pn_event::{MailFlags, MessageData, MessageFields, MessageSource, RawValue};

use crate::util::{Capture, engine, user};

const INBOX_UIDVALIDITY: u32 = 1795889985;
const WORK_UIDVALIDITY: u32 = 1795889986;
const SANDBOX: &str = "$SANDBOX";

struct CapturedStore;

impl MailboxHost for CapturedStore {
    fn status(&self, _user: &UserInfo, mailbox: &str) -> Result<MailboxStatus, HostError> {
        let uid_validity = match mailbox {
            "Work" => WORK_UIDVALIDITY,
            _ => INBOX_UIDVALIDITY,
        };
        Ok(MailboxStatus {
            uid_validity,
            ..MailboxStatus::default()
        })
    }
}

/// One step of the capture: its log lines (after `lua: `) and dump lines.
#[derive(Debug, Default)]
struct Step {
    log: Vec<String>,
    dump: Vec<String>,
}

fn steps() -> BTreeMap<u32, Step> {
    let text = include_str!("data/lua-events.txt");
    let mut steps: BTreeMap<u32, Step> = BTreeMap::new();
    let mut current = None;
    let mut in_dump = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("### [") {
            if line.contains("] C:") {
                let n: u32 = rest[..2].parse().expect("step number");
                steps.entry(n).or_default();
                current = Some(n);
            }
            continue;
        }
        if line.starts_with("#   --- lua.log") {
            in_dump = false;
            continue;
        }
        if line.starts_with("#   --- lua-dump.txt") {
            in_dump = true;
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let step = steps
            .get_mut(&current.expect("lines belong to a step"))
            .expect("step");
        if in_dump {
            step.dump.push(line.to_owned());
        } else {
            let (_, text) = line.split_once("lua: ").expect("a lua log line");
            step.log.push(text.to_owned());
        }
    }
    steps
}

/// Values that differ between runs by nature.
fn normalise(line: &str) -> String {
    for key in [
        "session_id (string) = ",
        "session_create_time (number/float) = ",
    ] {
        if let Some(i) = line.find(key) {
            return format!("{}<varies>", &line[..i + key.len()]);
        }
    }
    line.to_owned()
}

/// Undoes push_dump.lua's `q()` quoting.
fn unquote(s: &str) -> Vec<u8> {
    let inner = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .expect("quoted");
    let mut out = Vec::new();
    let mut chars = inner.bytes();
    while let Some(b) = chars.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match chars.next().expect("escape") {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'x' => {
                let hex = [chars.next().expect("hex"), chars.next().expect("hex")];
                let hex = std::str::from_utf8(&hex).expect("ascii");
                out.push(u8::from_str_radix(hex, 16).expect("hex"));
            }
            other => out.push(other),
        }
    }
    out
}

/// The header and body fields of the message the step's MessageNew/MessageAppend dump shows.
fn captured_message(step: &Step, nth: usize) -> MessageData {
    let start = step
        .dump
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            l.starts_with("dovecot_lua_notify_event_message_new")
                || l.starts_with("dovecot_lua_notify_event_message_append")
        })
        .map(|(i, _)| i)
        .nth(nth)
        .expect("a message event in the step");
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    for line in step.dump[start + 1..]
        .iter()
        .take_while(|l| l.starts_with("  "))
    {
        if let Some((key, rest)) = line.trim_start().split_once(" (")
            && let Some((_, value)) = rest.split_once(") = ")
        {
            fields.insert(key.to_owned(), value.to_owned());
        }
    }
    let text = |k: &str| {
        fields
            .get(k)
            .map(|v| String::from_utf8(unquote(v)).expect("utf-8"))
            .filter(|v| !v.is_empty())
    };
    let raw = |k: &str| text(k).map(|v| RawValue::from(v.as_str()));
    let number = |k: &str| fields.get(k).map(|v| v.parse::<f64>().expect("number"));
    MessageData {
        from: raw("from"),
        to: raw("to"),
        subject: text("subject").map(|s| RawValue::from(s.as_str())),
        subject_utf8: text("subject"),
        date: number("date").map(|d| d as i64),
        date_tz: number("tz").map(|t| t as i32).unwrap_or(0),
        snippet: fields
            .get("snippet")
            .map(|v| String::from_utf8(unquote(v)).expect("utf-8")),
        message_id: raw("message_id"),
        from_address: text("from_address"),
        from_display_name: text("from_display_name"),
        to_address: text("to_address"),
        to_display_name: text("to_display_name"),
        ..MessageData::default()
    }
}

/// A message whose content fields are the captured ones.
struct Captured(MessageData);

impl MessageSource for Captured {
    fn fill(&self, wanted: MessageFields, data: &mut MessageData) {
        let c = &self.0;
        let missing = data.missing(wanted);
        if missing.contains(MessageFields::FROM) {
            data.from = c.from.clone();
            data.from_address = c.from_address.clone();
            data.from_display_name = c.from_display_name.clone();
        }
        if missing.contains(MessageFields::TO) {
            data.to = c.to.clone();
            data.to_address = c.to_address.clone();
            data.to_display_name = c.to_display_name.clone();
        }
        if missing.contains(MessageFields::SUBJECT) {
            data.subject = c.subject.clone();
            data.subject_utf8 = c.subject_utf8.clone();
        }
        if missing.contains(MessageFields::DATE) {
            data.date = Some(c.date.unwrap_or(0));
            data.date_tz = c.date_tz;
        }
        if missing.contains(MessageFields::SNIPPET) {
            data.snippet = Some(c.snippet.clone().unwrap_or_default());
        }
        if missing.contains(MessageFields::MESSAGE_ID) {
            data.message_id = c.message_id.clone();
        }
    }
}

struct Session {
    pn: PushNotifications,
    script: PathBuf,
    dump: PathBuf,
    dumped: usize,
}

impl Session {
    fn user(&self, service: &str, session_id: &str) -> PushUser {
        let mut info = UserInfo::new("alice@example.com", service);
        info.home = Some(PathBuf::from(format!("{SANDBOX}/home/alice@example.com")));
        info.uid = Some(999);
        info.gid = Some(995);
        info.session_id = session_id.to_owned();
        let driver = format!("lua:file={}", self.script.display());
        user(&self.pn, info, &driver, &[])
    }

    /// What the script appended to the dump since the last call.
    fn new_dump(&mut self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.dump).unwrap_or_default();
        let new = text[self.dumped..].to_owned();
        self.dumped = text.len();
        new.lines().map(str::to_owned).collect()
    }
}

fn save(
    u: &PushUser,
    mailbox: &str,
    delivery: bool,
    flags: MailFlags,
    kw: &[String],
    content: &MessageData,
    uid: u32,
) {
    let mut t = u.begin_mail_txn(mailbox);
    t.save(&Save {
        delivery,
        flags,
        keywords: kw,
        content: &Captured(content.clone()),
    });
    t.commit(&Commit {
        uid_validity: 0,
        saved_uids: &[uid],
    });
}

fn flags(u: &PushUser, uid: u32, old: MailFlags, new: MailFlags) {
    let mut t = u.begin_mail_txn("INBOX");
    t.update_flags(uid, old, new);
    t.commit(&Commit {
        uid_validity: INBOX_UIDVALIDITY,
        saved_uids: &[],
    });
}

fn keywords(u: &PushUser, uid: u32, old: &[String], new: &[String]) {
    let mut t = u.begin_mail_txn("INBOX");
    t.update_keywords(uid, old, new);
    t.commit(&Commit {
        uid_validity: INBOX_UIDVALIDITY,
        saved_uids: &[],
    });
}

#[test]
fn every_captured_table_matches_dovecot_field_for_field() {
    let capture = Capture::default();
    let _guard = capture.install();
    let dir = tempfile::tempdir().expect("tempdir");
    let dump = dir.path().join("lua-dump.txt");
    let source =
        include_str!("data/push_dump.lua").replace("@DUMP_FILE@", &dump.display().to_string());
    let script = dir.path().join("push_dump.lua");
    std::fs::write(&script, source).expect("write script");
    let mut s = Session {
        pn: engine(Arc::new(CapturedStore)),
        script,
        dump,
        dumped: 0,
    };
    let expected = steps();
    let kw = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (seen, recent, answered, flagged, deleted) = (
        MailFlags::SEEN,
        MailFlags::RECENT,
        MailFlags::ANSWERED,
        MailFlags::FLAGGED,
        MailFlags::DELETED,
    );
    let none = MailFlags::empty();
    let mut imap: Option<PushUser> = None;
    let mut dumps_compared = 0;
    let mut logs_compared = 0;
    for (&n, step) in &expected {
        match n {
            1 | 11 | 37 => {}
            2 => imap = Some(s.user("imap", "IbqHOFph3sd/AAAB")),
            3..=20 => {
                let u = imap.as_ref().expect("logged in");
                match n {
                    3 => u.mailbox_created("Folder1"),
                    4 => u.mailbox_renamed("Folder1", "Folder2"),
                    5 => u.mailbox_subscribed("Folder2", true),
                    6 => u.mailbox_subscribed("Folder2", false),
                    7 => u.mailbox_deleted("Folder2"),
                    8 => u.mailbox_created("Work"),
                    9 => save(u, "INBOX", false, none, &[], &captured_message(step, 0), 1),
                    10 => save(
                        u,
                        "INBOX",
                        false,
                        seen,
                        &kw(&["$Important"]),
                        &captured_message(step, 0),
                        2,
                    ),
                    12 => flags(u, 1, recent, seen | recent),
                    13 => flags(u, 1, seen | recent, answered | flagged | seen | recent),
                    14 => flags(
                        u,
                        1,
                        answered | flagged | seen | recent,
                        answered | flagged | deleted | seen | recent,
                    ),
                    15 => keywords(u, 1, &[], &kw(&["todo"])),
                    16 => flags(
                        u,
                        1,
                        answered | flagged | deleted | seen | recent,
                        answered | flagged | deleted | recent,
                    ),
                    17 => {
                        let mut t = u.begin_mail_txn("INBOX");
                        t.update_flags(
                            1,
                            answered | flagged | deleted | recent,
                            answered | deleted | recent,
                        );
                        t.update_keywords(1, &kw(&["todo"]), &[]);
                        t.commit(&Commit {
                            uid_validity: INBOX_UIDVALIDITY,
                            saved_uids: &[],
                        });
                    }
                    18 => {
                        let mut t = u.begin_mail_txn("INBOX");
                        t.expunge(1);
                        t.commit(&Commit {
                            uid_validity: INBOX_UIDVALIDITY,
                            saved_uids: &[],
                        });
                    }
                    19 => save(
                        u,
                        "Work",
                        false,
                        seen,
                        &kw(&["$Important"]),
                        &captured_message(step, 0),
                        1,
                    ),
                    20 => {
                        // MOVE: copy into Work and expunge from INBOX, each in its own
                        // transaction; both begin before either commits.
                        let content = Captured(captured_message(step, 0));
                        let important = kw(&["$Important"]);
                        let mut dest = u.begin_mail_txn("Work");
                        let mut src = u.begin_mail_txn("INBOX");
                        dest.save(&Save {
                            delivery: false,
                            flags: seen,
                            keywords: &important,
                            content: &content,
                        });
                        src.expunge(2);
                        dest.commit(&Commit {
                            uid_validity: WORK_UIDVALIDITY,
                            saved_uids: &[2],
                        });
                        src.commit(&Commit {
                            uid_validity: INBOX_UIDVALIDITY,
                            saved_uids: &[],
                        });
                    }
                    _ => unreachable!(),
                }
            }
            21..=36 => {
                // One delivery: LDA/LMTP set up a user (a new Lua state) per delivery.
                let service = if n == 35 { "lmtp" } else { "lda" };
                let uid_line = step
                    .dump
                    .iter()
                    .rev()
                    .find(|l| l.starts_with("  uid (number/float) = "))
                    .expect("uid");
                let uid: f64 = uid_line
                    .rsplit(' ')
                    .next()
                    .expect("value")
                    .parse()
                    .expect("uid");
                let mailbox = if n == 36 { "Work" } else { "INBOX" };
                let u = s.user(service, "varies");
                save(
                    &u,
                    mailbox,
                    true,
                    none,
                    &[],
                    &captured_message(step, 0),
                    uid as u32,
                );
                u.deinit();
            }
            38 => imap.take().expect("logged in").deinit(),
            other => panic!("step {other} of the capture is not replayed"),
        }
        let got: Vec<String> = s.new_dump().iter().map(|l| normalise(l)).collect();
        let want: Vec<String> = step.dump.iter().map(|l| normalise(l)).collect();
        assert_eq!(
            got, want,
            "step [{n:02}]: dumped arguments differ from Dovecot"
        );
        dumps_compared += 1;

        let lines = capture.take();
        // Dovecot's excerpts are complete where a transaction's last line was logged (the
        // LDA runs log with less detail); "Found …" lines were left out of the capture.
        let complete = n == 2
            || step
                .log
                .iter()
                .any(|l| l == "Called dovecot_lua_notify_end_txn");
        if complete {
            let ours: Vec<String> = Capture::lua_messages(&lines, tracing::Level::DEBUG)
                .into_iter()
                .filter(|l| !l.starts_with("Found "))
                .map(|l| l.replace(&s.script.display().to_string(), "$SANDBOX/push_dump.lua"))
                .collect();
            assert_eq!(
                ours, step.log,
                "step [{n:02}]: log lines differ from Dovecot"
            );
            logs_compared += 1;
        }
        let errors = Capture::lua_messages(&lines, tracing::Level::ERROR);
        assert!(errors.is_empty(), "step [{n:02}]: errors {errors:?}");
    }
    assert_eq!(dumps_compared, 38, "every captured step was replayed");
    assert!(
        logs_compared >= 15,
        "log lines compared for {logs_compared} steps"
    );
}
