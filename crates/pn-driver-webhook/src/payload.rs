//! Request bodies: Standard Webhooks JSON (schema `docs/webhook-event.v1.schema.json`), ntfy's
//! JSON publish and Gotify's message.

use pn_event::{EventName, MailFlags, MessageData};
use serde_json::{Map, Value, json};

use crate::event::{Detail, Event};

/// Bodies stay below this many bytes.
pub const MAX_BODY: usize = 20_000;
/// The `$id` of the published JSON Schema the standard body follows.
pub const SCHEMA_ID: &str = "https://pn.example.org/schemas/webhook-event.v1.json";

const MAX_TEXT: usize = 998;
const MAX_NAME: usize = 256;
const MAX_KEYWORDS: usize = 32;
const MAX_KEYWORD: usize = 100;

/// The Standard Webhooks `type` of an RFC 5423 event.
pub fn type_name(event: EventName) -> &'static str {
    match event {
        EventName::MessageNew => "mail.message.new",
        EventName::MessageAppend => "mail.message.append",
        EventName::MessageExpunge => "mail.message.expunge",
        EventName::MessageRead => "mail.message.read",
        EventName::MessageTrash => "mail.message.trash",
        EventName::FlagsSet => "mail.flags.set",
        EventName::FlagsClear => "mail.flags.clear",
        EventName::MailboxCreate => "mail.mailbox.create",
        EventName::MailboxDelete => "mail.mailbox.delete",
        EventName::MailboxRename => "mail.mailbox.rename",
        EventName::MailboxSubscribe => "mail.mailbox.subscribe",
        EventName::MailboxUnsubscribe => "mail.mailbox.unsubscribe",
    }
}

/// What every format needs besides the event.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The user's login name.
    pub user: &'a str,
    /// Events of this user not pushed since the previous push (rate coalescing).
    pub coalesced: u64,
    /// Whether the snippet may be sent.
    pub snippet: bool,
    /// RFC 3339 time of the event.
    pub timestamp: &'a str,
}

/// The Standard Webhooks body.
pub fn standard(event: &Event, ctx: &Context<'_>) -> Vec<u8> {
    let mut data = data(event, ctx);
    let mut body = envelope(event, ctx, &data);
    if body.len() > MAX_BODY {
        // Only pathological keyword lists or names get here: drop the free-form parts and say
        // so, rather than send something a receiver may refuse.
        for key in [
            "snippet",
            "keywords",
            "old_keywords",
            "subject",
            "to",
            "from",
        ] {
            data.remove(key);
        }
        data.insert("truncated".into(), Value::Bool(true));
        body = envelope(event, ctx, &data);
    }
    body
}

fn envelope(event: &Event, ctx: &Context<'_>, data: &Map<String, Value>) -> Vec<u8> {
    let v = json!({
        "type": type_name(event.name),
        "timestamp": ctx.timestamp,
        "data": data,
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

fn data(event: &Event, ctx: &Context<'_>) -> Map<String, Value> {
    let mut d = Map::new();
    d.insert("event".into(), event.name.as_str().into());
    d.insert("user".into(), ctx.user.into());
    d.insert("mailbox".into(), event.mailbox.clone().into());
    if let Some(v) = event.uid_validity {
        d.insert("uidvalidity".into(), v.into());
    }
    if event.is_message_event() {
        d.insert("uids".into(), event.uids.clone().into());
        if let [uid] = event.uids[..] {
            d.insert("uid".into(), uid.into());
        }
    }
    if let Some(n) = event.unseen {
        d.insert("unseen".into(), n.into());
    }
    d.insert("coalesced".into(), ctx.coalesced.into());
    match &event.detail {
        Detail::None => {}
        Detail::Message(m) => message(&mut d, m, ctx.snippet),
        Detail::FlagsSet { flags, keywords } => {
            d.insert("flags".into(), flag_list(*flags));
            d.insert("keywords".into(), keyword_list(keywords));
        }
        Detail::FlagsClear {
            flags,
            keywords,
            old_flags,
            old_keywords,
        } => {
            d.insert("flags".into(), flag_list(*flags));
            d.insert("keywords".into(), keyword_list(keywords));
            d.insert("old_flags".into(), flag_list(*old_flags));
            if let Some(old) = old_keywords {
                d.insert("old_keywords".into(), keyword_list(old));
            }
        }
        Detail::Rename { old_mailbox } => {
            d.insert("old_mailbox".into(), old_mailbox.clone().into());
        }
    }
    d
}

fn message(d: &mut Map<String, Value>, m: &MessageData, snippet: bool) {
    if let Some(id) = &m.message_id {
        d.insert(
            "message_id".into(),
            clip(&id.to_string_lossy(), MAX_TEXT).into(),
        );
    }
    if let Some(a) = address(m.from_address.as_deref(), m.from_display_name.as_deref()) {
        d.insert("from".into(), a);
    }
    if let Some(a) = address(m.to_address.as_deref(), m.to_display_name.as_deref()) {
        d.insert("to".into(), a);
    }
    if let Some(s) = subject(m) {
        d.insert("subject".into(), clip(&s, MAX_TEXT).into());
    }
    if let Some(date) = date(m) {
        d.insert("date".into(), date.into());
    }
    if let Some(f) = m.flags {
        d.insert("flags".into(), flag_list(f));
    }
    if let Some(k) = &m.keywords {
        d.insert("keywords".into(), keyword_list(k));
    }
    if snippet && let Some(s) = &m.snippet {
        d.insert("snippet".into(), clip(s, MAX_TEXT).into());
    }
}

fn address(addr: Option<&str>, name: Option<&str>) -> Option<Value> {
    let addr = addr.filter(|a| !a.is_empty())?;
    let mut o = Map::new();
    o.insert("address".into(), clip(addr, MAX_NAME).into());
    if let Some(n) = name.filter(|n| !n.is_empty()) {
        o.insert("name".into(), clip(n, MAX_NAME).into());
    }
    Some(Value::Object(o))
}

fn subject(m: &MessageData) -> Option<String> {
    m.subject_utf8
        .clone()
        .or_else(|| m.subject.as_ref().map(|s| s.to_string_lossy().into_owned()))
}

/// The `Date` header as RFC 3339 with its own offset; none when missing or invalid.
fn date(m: &MessageData) -> Option<String> {
    let secs = m.date.filter(|&s| s > 0)?;
    let offset = time::UtcOffset::from_whole_seconds(m.date_tz.saturating_mul(60)).ok()?;
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()?
        .to_offset(offset)
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

fn flag_list(flags: MailFlags) -> Value {
    flags.imap_names().collect::<Vec<_>>().into()
}

fn keyword_list(keywords: &[String]) -> Value {
    keywords
        .iter()
        .take(MAX_KEYWORDS)
        .map(|k| clip(k, MAX_KEYWORD))
        .collect::<Vec<_>>()
        .into()
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// A one-line title and message for the notifier presets.
fn summary(event: &Event, ctx: &Context<'_>) -> (String, String) {
    let (title, message) = match &event.detail {
        Detail::Message(m) => {
            let from = m
                .from_display_name
                .clone()
                .filter(|n| !n.is_empty())
                .or_else(|| m.from_address.clone())
                .unwrap_or_else(|| "New mail".to_owned());
            let subject = subject(m)
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| "(no subject)".to_owned());
            (from, subject)
        }
        Detail::Rename { old_mailbox } => (
            "Mailbox renamed".to_owned(),
            format!("{old_mailbox} → {}", event.mailbox),
        ),
        _ if event.is_message_event() => (
            format!("{} in {}", event.name, event.mailbox),
            format!("{} message(s)", event.uids.len()),
        ),
        _ => (event.name.as_str().to_owned(), event.mailbox.clone()),
    };
    let message = match ctx.coalesced {
        0 => message,
        n => format!("{message} (+{n} more)"),
    };
    (clip(&title, MAX_NAME), clip(&message, MAX_TEXT))
}

/// ntfy's JSON publish body.
pub fn ntfy(event: &Event, ctx: &Context<'_>, topic: &str, priority: Option<u8>) -> Vec<u8> {
    let (title, message) = summary(event, ctx);
    let mut v = json!({
        "topic": topic,
        "title": title,
        "message": message,
        "tags": ["envelope"],
    });
    if let Some(p) = priority {
        v["priority"] = p.into();
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Gotify's message body.
pub fn gotify(event: &Event, ctx: &Context<'_>, priority: Option<u8>) -> Vec<u8> {
    let (title, message) = summary(event, ctx);
    let mut v = json!({ "title": title, "message": message });
    if let Some(p) = priority {
        v["priority"] = p.into();
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pn_event::RawValue;

    fn ctx() -> Context<'static> {
        Context {
            user: "alice@example.com",
            coalesced: 2,
            snippet: false,
            timestamp: "2026-01-01T00:00:00Z",
        }
    }

    fn new_mail(subject: &str) -> Event {
        Event {
            name: EventName::MessageNew,
            mailbox: "INBOX".into(),
            uid_validity: Some(7),
            uids: vec![3],
            detail: Detail::Message(Box::new(MessageData {
                from_address: Some("bob@example.org".into()),
                from_display_name: Some("Bob".into()),
                subject_utf8: Some(subject.into()),
                message_id: Some(RawValue::from("<a@b>")),
                snippet: Some("secret text".into()),
                date: Some(1_700_000_000),
                date_tz: 60,
                flags: Some(MailFlags::empty()),
                keywords: Some(vec!["$label1".into()]),
                ..MessageData::default()
            })),
            unseen: Some(4),
        }
    }

    #[test]
    fn standard_body() {
        let body: Value = serde_json::from_slice(&standard(&new_mail("Hi"), &ctx())).expect("json");
        assert_eq!(body["type"], "mail.message.new");
        let d = &body["data"];
        assert_eq!(d["uid"], 3);
        assert_eq!(
            d["from"],
            json!({"address": "bob@example.org", "name": "Bob"})
        );
        assert_eq!(d["date"], "2023-11-14T23:13:20+01:00");
        assert_eq!(d["unseen"], 4);
        assert_eq!(d["coalesced"], 2);
        assert!(d.get("snippet").is_none(), "no snippet unless asked");
        let with = Context {
            snippet: true,
            ..ctx()
        };
        let body: Value = serde_json::from_slice(&standard(&new_mail("Hi"), &with)).expect("json");
        assert_eq!(body["data"]["snippet"], "secret text");
    }

    #[test]
    fn bodies_stay_small() {
        let mut e = new_mail(&"x".repeat(100_000));
        assert!(standard(&e, &ctx()).len() < MAX_BODY);
        e.detail = Detail::FlagsClear {
            flags: MailFlags::SEEN,
            keywords: vec!["k".repeat(5000); 5000],
            old_flags: MailFlags::SEEN,
            old_keywords: Some(vec!["k".repeat(5000); 5000]),
        };
        e.name = EventName::FlagsClear;
        e.uids = (0..crate::event::MAX_UIDS as u32)
            .map(|u| u + 4_000_000_000)
            .collect();
        e.mailbox = "m".repeat(5000);
        let body = standard(&e, &ctx());
        assert!(body.len() < MAX_BODY, "{}", body.len());
    }

    #[test]
    fn presets() {
        let v: Value =
            serde_json::from_slice(&ntfy(&new_mail(""), &ctx(), "mail", Some(4))).expect("json");
        assert_eq!(
            v,
            json!({"topic": "mail", "title": "Bob", "message": "(no subject) (+2 more)",
                   "tags": ["envelope"], "priority": 4})
        );
        let v: Value =
            serde_json::from_slice(&gotify(&new_mail("Hi"), &ctx(), None)).expect("json");
        assert_eq!(v, json!({"title": "Bob", "message": "Hi (+2 more)"}));
    }
}
