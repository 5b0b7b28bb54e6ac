//! The spool directory pn-bridge.lua writes: `tmp/` (being written), `new/` (complete
//! transactions, one JSON file each) and `bad/` (entries `pn bridge` could not read, kept for
//! a human). Parsing is strict about the shape and names what is wrong, so a hand-edited or
//! truncated file is moved aside with a reason instead of being half-replayed.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use pn_core::MailboxStatus;
use pn_event::EventName;
use serde_json::Value;

/// The spool's directories.
pub(crate) struct Spool {
    root: PathBuf,
}

/// One spooled file ready to be replayed, in the order it should be.
pub(crate) struct Entry {
    pub(crate) path: PathBuf,
    /// Modification time in nanoseconds: the order across Dovecot processes.
    mtime: i128,
    name: String,
}

impl Spool {
    /// The spool under `root`; creates `tmp/`, `new/` and `bad/` when missing.
    pub(crate) fn open(root: &Path) -> std::io::Result<Spool> {
        for d in ["tmp", "new", "bad"] {
            std::fs::create_dir_all(root.join(d))?;
        }
        Ok(Spool {
            root: root.to_owned(),
        })
    }

    /// The complete transactions waiting in `new/`, oldest first.
    ///
    /// Files are ordered by modification time (written at the transaction's end), ties by
    /// name; a name holds the writer's session and a counter padded to eight digits, so one
    /// session's transactions keep their order even within one clock tick.
    pub(crate) fn pending(&self) -> std::io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(self.root.join("new"))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            // A file removed meanwhile (another bridge) is simply skipped.
            let Ok(meta) = e.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let mtime = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
            out.push(Entry {
                path: e.path(),
                mtime,
                name,
            });
        }
        out.sort_by(|a, b| (a.mtime, &a.name).cmp(&(b.mtime, &b.name)));
        Ok(out)
    }

    /// Files in `tmp/` untouched for `age`: a writer (a Dovecot process) died before it
    /// renamed them. The script writes a file in well under a second, so a minute-old one is
    /// never going to be completed.
    pub(crate) fn abandoned(&self, age: std::time::Duration) -> std::io::Result<Vec<Entry>> {
        let now = std::time::SystemTime::now();
        let mut out = Vec::new();
        for e in std::fs::read_dir(self.root.join("tmp"))? {
            let e = e?;
            let Ok(meta) = e.metadata() else { continue };
            let old = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|d| d >= age);
            if meta.is_file() && old {
                out.push(Entry {
                    path: e.path(),
                    mtime: 0,
                    name: e.file_name().to_string_lossy().into_owned(),
                });
            }
        }
        Ok(out)
    }

    /// Moves an unreadable entry to `bad/`, where it stays for inspection.
    pub(crate) fn set_aside(&self, entry: &Entry) -> std::io::Result<PathBuf> {
        let to = self.root.join("bad").join(&entry.name);
        std::fs::rename(&entry.path, &to)?;
        Ok(to)
    }
}

/// A committed transaction as Dovecot handed it to the script.
#[derive(Debug)]
pub(crate) struct SpoolTxn {
    pub(crate) user: String,
    pub(crate) service: String,
    pub(crate) session: String,
    pub(crate) events: Vec<Event>,
    /// Mailbox status after the commit, by mailbox name.
    pub(crate) status: HashMap<String, MailboxStatus>,
}

/// One event: the fields of spec §6.4.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) name: EventName,
    pub(crate) mailbox: String,
    pub(crate) mailbox_old: Option<String>,
    pub(crate) uid: u32,
    pub(crate) uid_validity: u32,
    pub(crate) flags: Vec<String>,
    pub(crate) flags_old: Vec<String>,
    pub(crate) keywords: Vec<String>,
    pub(crate) keywords_old: Vec<String>,
    pub(crate) message: Option<Message>,
}

/// The message fields of MessageNew / MessageAppend.
#[derive(Debug, Default, Clone)]
pub(crate) struct Message {
    pub(crate) from: Vec<u8>,
    pub(crate) to: Vec<u8>,
    /// Decoded (Dovecot's Lua API has no raw subject).
    pub(crate) subject: Option<String>,
    pub(crate) message_id: Option<Vec<u8>>,
    pub(crate) snippet: Option<String>,
    pub(crate) date: i64,
    pub(crate) tz: i32,
    pub(crate) from_address: String,
    pub(crate) from_display_name: String,
    pub(crate) to_address: String,
    pub(crate) to_display_name: String,
}

/// Parses one spool file; the error says what is wrong.
pub(crate) fn parse(bytes: &[u8]) -> Result<SpoolTxn, String> {
    // Lua 5.3's utf8.len lets surrogates and over-long forms pass, which JSON refuses: such a
    // string is read with U+FFFD rather than losing the whole transaction.
    let v: Value = match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_str(&String::from_utf8_lossy(bytes)),
    }
    .map_err(|e| format!("not JSON: {e}"))?;
    let top = v.as_object().ok_or("not a JSON object")?;
    match top.get("v").and_then(Value::as_u64) {
        Some(1) => {}
        other => return Err(format!("unknown spool version {other:?}")),
    }
    let text = |k: &str| -> Result<String, String> {
        top.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("missing string field {k:?}"))
    };
    let events = top
        .get("events")
        .and_then(Value::as_array)
        .ok_or("missing array field \"events\"")?
        .iter()
        .enumerate()
        .map(|(i, e)| event(e).map_err(|why| format!("event {}: {why}", i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut status = HashMap::new();
    // An empty Lua table is written as `[]`.
    match top.get("status") {
        Some(Value::Object(m)) => {
            for (mailbox, s) in m {
                status.insert(
                    mailbox.clone(),
                    mailbox_status(s).map_err(|why| format!("status of {mailbox:?}: {why}"))?,
                );
            }
        }
        Some(Value::Array(a)) if a.is_empty() => {}
        None => {}
        Some(_) => return Err("field \"status\" is not an object".to_owned()),
    }
    Ok(SpoolTxn {
        user: text("user")?,
        service: text("service")?,
        session: text("session").unwrap_or_default(),
        events,
        status,
    })
}

fn mailbox_status(v: &Value) -> Result<MailboxStatus, String> {
    let n = |k: &str| -> Result<u32, String> {
        number(v.get(k)).ok_or_else(|| format!("missing number {k:?}"))
    };
    Ok(MailboxStatus {
        messages: n("messages")?,
        unseen: n("unseen")?,
        recent: n("recent")?,
        uid_next: n("uid_next")?,
        uid_validity: n("uid_validity")?,
    })
}

fn number(v: Option<&Value>) -> Option<u32> {
    u32::try_from(v?.as_u64()?).ok()
}

/// A string field: JSON text, or `{"hex": …}` for bytes that are not UTF-8.
fn bytes(v: Option<&Value>) -> Result<Option<Vec<u8>>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_bytes().to_vec())),
        Some(Value::Object(o)) => {
            let hex = o
                .get("hex")
                .and_then(Value::as_str)
                .ok_or("bad hex string")?;
            if hex.len() % 2 != 0 {
                return Err("odd hex string".to_owned());
            }
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|e| e.to_string()))
                .collect::<Result<Vec<u8>, _>>()
                .map(Some)
        }
        Some(_) => Err("not a string".to_owned()),
    }
}

fn text(v: Option<&Value>) -> Result<Option<String>, String> {
    Ok(bytes(v)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

fn list(v: Option<&Value>, key: &str) -> Result<Vec<String>, String> {
    match v {
        None => Ok(Vec::new()),
        // An empty Lua table is written as `[]`, but be lenient with `{}`.
        Some(Value::Object(o)) if o.is_empty() => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{key:?} holds a non-string"))
            })
            .collect(),
        Some(_) => Err(format!("{key:?} is not a list")),
    }
}

fn event(v: &Value) -> Result<Event, String> {
    let name: EventName = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or("missing \"name\"")?
        .parse()
        .map_err(|e| format!("{e}"))?;
    let mailbox = text(v.get("mailbox"))?.ok_or("missing \"mailbox\"")?;
    let mut e = Event {
        name,
        mailbox,
        mailbox_old: None,
        uid: 0,
        uid_validity: 0,
        flags: Vec::new(),
        flags_old: Vec::new(),
        keywords: Vec::new(),
        keywords_old: Vec::new(),
        message: None,
    };
    if name.is_mailbox_event() {
        if name == EventName::MailboxRename {
            e.mailbox_old = Some(text(v.get("mailbox_old"))?.ok_or("missing \"mailbox_old\"")?);
        }
        return Ok(e);
    }
    e.uid = number(v.get("uid")).ok_or("missing \"uid\"")?;
    e.uid_validity = number(v.get("uid_validity")).ok_or("missing \"uid_validity\"")?;
    e.flags = list(v.get("flags"), "flags")?;
    e.flags_old = list(v.get("flags_old"), "flags_old")?;
    e.keywords = list(v.get("keywords"), "keywords")?;
    e.keywords_old = list(v.get("keywords_old"), "keywords_old")?;
    if matches!(name, EventName::MessageNew | EventName::MessageAppend) {
        let s = |k: &str| -> Result<String, String> { Ok(text(v.get(k))?.unwrap_or_default()) };
        e.message = Some(Message {
            from: bytes(v.get("from"))?.unwrap_or_default(),
            to: bytes(v.get("to"))?.unwrap_or_default(),
            subject: text(v.get("subject"))?,
            message_id: bytes(v.get("message_id"))?,
            snippet: text(v.get("snippet"))?,
            date: v.get("date").and_then(Value::as_i64).unwrap_or(-1),
            tz: v
                .get("tz")
                .and_then(Value::as_i64)
                .and_then(|t| i32::try_from(t).ok())
                .unwrap_or(0),
            from_address: s("from_address")?,
            from_display_name: s("from_display_name")?,
            to_address: s("to_address")?,
            to_display_name: s("to_display_name")?,
        });
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_what_the_script_writes() {
        let t = parse(
            br#"{"events":[{"date":0,"flags":["\\Seen"],"from":{"hex":"ff41"},"keywords":[],"mailbox":"INBOX","name":"MessageNew","snippet":"hi","subject":"s","tz":60,"uid":2,"uid_validity":7}],"service":"lmtp","session":"x","status":{"INBOX":{"messages":1,"recent":1,"uid_next":3,"uid_validity":7,"unseen":1}},"time":1,"user":"alice","v":1}"#,
        )
        .unwrap();
        assert_eq!(t.user, "alice");
        assert_eq!(t.events[0].name, EventName::MessageNew);
        assert_eq!(t.events[0].message.as_ref().unwrap().from, b"\xffA");
        assert_eq!(t.events[0].message.as_ref().unwrap().tz, 60);
        assert_eq!(t.status["INBOX"].unseen, 1);
    }

    #[test]
    fn a_surrogate_in_a_string_does_not_lose_the_transaction() {
        let t = parse(
            b"{\"v\":1,\"user\":\"a\",\"service\":\"imap\",\"events\":[{\"name\":\"MailboxCreate\",\"mailbox\":\"x\xed\xa0\x80\"}]}",
        )
        .unwrap();
        assert_eq!(t.events[0].mailbox, "x\u{fffd}\u{fffd}\u{fffd}");
    }

    #[test]
    fn names_what_is_wrong() {
        assert!(
            parse(b"{\"v\":1,\"user\":")
                .unwrap_err()
                .starts_with("not JSON")
        );
        let e = parse(br#"{"v":1,"user":"a","service":"imap","events":[{"name":"MessageExpunge","mailbox":"INBOX"}]}"#)
            .unwrap_err();
        assert_eq!(e, "event 1: missing \"uid\"");
        let e = parse(
            br#"{"v":1,"user":"a","service":"imap","events":[{"name":"Nope","mailbox":"INBOX"}]}"#,
        )
        .unwrap_err();
        assert!(e.starts_with("event 1: "), "{e}");
    }
}
