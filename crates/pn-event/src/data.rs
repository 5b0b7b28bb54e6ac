use serde::{Deserialize, Serialize};

use crate::{EventName, MailFlags, MessageFields, RawValue};

/// The fields of a `MessageNew` / `MessageAppend` event (`push_notification_event_messagenew_data`
/// and its `ext` part). Each is `None` until a subscriber asked for it and the message had it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MessageData {
    /// The first `From` header, raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<RawValue>,
    /// The first `To` header, raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<RawValue>,
    /// The first `Subject` header, raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<RawValue>,
    /// UTC seconds of the `Date` header; `Some(0)` when it is missing or invalid, `None` when it
    /// was not looked up (Dovecot's `-1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<i64>,
    /// The `Date` header's offset from UTC in minutes.
    #[serde(default)]
    pub date_tz: i32,
    /// At most 200 characters of body text; `""` when the message has no text part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
    /// The message's flags at save time (`flags_set` in Dovecot when `Some`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<MailFlags>,
    /// The message's keywords at save time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keywords: Option<Vec<String>>,
    /// The first `Message-ID` header, raw, angle brackets included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<RawValue>,
    /// `mailbox@domain` of the first `From` address (`mailbox` alone without a domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_address: Option<String>,
    /// RFC 2047-decoded display name (or group name) of the first `From` address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_display_name: Option<String>,
    /// `mailbox@domain` of the first `To` address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_address: Option<String>,
    /// RFC 2047-decoded display name (or group name) of the first `To` address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_display_name: Option<String>,
    /// The subject decoded to UTF-8 (not unfolded, as in Dovecot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_utf8: Option<String>,
    /// pn's own group [`MessageFields::AUTOMATED`]: `Some` once looked up, whether or not the
    /// message has those headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated: Option<AutomatedHeaders>,
}

/// The headers that say a message was sent by a program or to many recipients, raw as
/// [`MessageData::from`] (first occurrence of each, `None` when absent). Interpreting them is
/// the subscriber's business.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AutomatedHeaders {
    /// The first `Auto-Submitted` header (RFC 3834: `no`, `auto-generated`, `auto-replied`,
    /// …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_submitted: Option<RawValue>,
    /// The first `Precedence` header (`bulk`, `list`, `junk`: a de-facto standard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precedence: Option<RawValue>,
}

impl MessageData {
    /// The field groups of `wanted` that are still unset, so a second subscriber only fills what
    /// the first did not (Dovecot's merge rule).
    pub fn missing(&self, wanted: MessageFields) -> MessageFields {
        let mut missing = MessageFields::empty();
        let checks = [
            (MessageFields::FROM, self.from.is_none()),
            (MessageFields::TO, self.to.is_none()),
            (MessageFields::SUBJECT, self.subject.is_none()),
            (MessageFields::DATE, self.date.is_none()),
            (MessageFields::SNIPPET, self.snippet.is_none()),
            (MessageFields::FLAGS, self.flags.is_none()),
            (MessageFields::KEYWORDS, self.keywords.is_none()),
            (MessageFields::MESSAGE_ID, self.message_id.is_none()),
            (MessageFields::AUTOMATED, self.automated.is_none()),
        ];
        for (field, unset) in checks {
            if unset && wanted.contains(field) {
                missing |= field;
            }
        }
        missing
    }
}

/// Where `MessageNew` / `MessageAppend` data comes from: the message's headers and body.
///
/// The engine fills `flags` and `keywords` itself from the save; an implementation fills the
/// header and body groups of `wanted` (`FROM`, `TO`, `SUBJECT`, `DATE`, `SNIPPET`,
/// `MESSAGE_ID`, and pn's `AUTOMATED`) that are still `None` in `data`. A source that cannot
/// see a group (e.g. only what a Dovecot script spooled) leaves it `None`. It must not fail: a field it cannot produce
/// stays `None`, a broken `Date` gives `Some(0)`, as in Dovecot.
pub trait MessageSource {
    /// Fills the requested header and body fields of `data`.
    fn fill(&self, wanted: MessageFields, data: &mut MessageData);
}

/// A source with no content: every header and body field stays unset.
impl MessageSource for () {
    fn fill(&self, _wanted: MessageFields, _data: &mut MessageData) {}
}

/// `FlagsSet` data (`push_notification_event_flagsset_data`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FlagsSetData {
    /// System flags newly set (never `\Recent`).
    pub flags_set: MailFlags,
    /// Keywords newly set.
    pub keywords_set: Vec<String>,
}

/// `FlagsClear` data (`push_notification_event_flagsclear_data`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FlagsClearData {
    /// System flags removed (never `\Recent`).
    pub flags_clear: MailFlags,
    /// Keywords removed.
    pub keywords_clear: Vec<String>,
    /// All flags before the last flag change (`\Recent` included); only kept for a subscriber
    /// with `store_old`, otherwise empty.
    pub flags_old: MailFlags,
    /// All keywords before the keyword change; `Some` only when a subscriber asked for
    /// `store_old`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keywords_old: Option<Vec<String>>,
}

/// The data one event carries, tagged with its RFC 5423 name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum EventData {
    /// See [`EventName::FlagsClear`].
    FlagsClear(FlagsClearData),
    /// See [`EventName::FlagsSet`].
    FlagsSet(FlagsSetData),
    /// See [`EventName::MailboxCreate`].
    MailboxCreate {
        /// The new mailbox's UIDVALIDITY (0 when it could not be read).
        uid_validity: u32,
    },
    /// See [`EventName::MailboxDelete`].
    MailboxDelete,
    /// See [`EventName::MailboxRename`]. The transaction's mailbox is the new name.
    MailboxRename {
        /// The mailbox's name before the rename.
        old_mailbox: String,
    },
    /// See [`EventName::MailboxSubscribe`].
    MailboxSubscribe,
    /// See [`EventName::MailboxUnsubscribe`].
    MailboxUnsubscribe,
    /// See [`EventName::MessageAppend`].
    MessageAppend(MessageData),
    /// See [`EventName::MessageExpunge`].
    MessageExpunge,
    /// See [`EventName::MessageNew`].
    MessageNew(MessageData),
    /// See [`EventName::MessageRead`].
    MessageRead,
    /// See [`EventName::MessageTrash`].
    MessageTrash,
}

impl EventData {
    /// The event this data belongs to.
    pub fn name(&self) -> EventName {
        match self {
            EventData::FlagsClear(_) => EventName::FlagsClear,
            EventData::FlagsSet(_) => EventName::FlagsSet,
            EventData::MailboxCreate { .. } => EventName::MailboxCreate,
            EventData::MailboxDelete => EventName::MailboxDelete,
            EventData::MailboxRename { .. } => EventName::MailboxRename,
            EventData::MailboxSubscribe => EventName::MailboxSubscribe,
            EventData::MailboxUnsubscribe => EventName::MailboxUnsubscribe,
            EventData::MessageAppend(_) => EventName::MessageAppend,
            EventData::MessageExpunge => EventName::MessageExpunge,
            EventData::MessageNew(_) => EventName::MessageNew,
            EventData::MessageRead => EventName::MessageRead,
            EventData::MessageTrash => EventName::MessageTrash,
        }
    }
}

/// What a driver's `process_msg` sees for one message of a committed transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageTxnData {
    /// The mailbox's full UTF-8 name (Dovecot's vname).
    pub mailbox: String,
    /// The message's UID; 0 when a saved message's UID could not be resolved.
    pub uid: u32,
    /// The mailbox's UIDVALIDITY at commit.
    pub uid_validity: u32,
    /// The event data in the order it was first created. May be empty.
    pub events: Vec<EventData>,
}

impl MessageTxnData {
    /// The data of one event, if the message has it.
    pub fn event(&self, name: EventName) -> Option<&EventData> {
        self.events.iter().find(|e| e.name() == name)
    }

    /// The `MessageNew` data, if the message has it.
    pub fn message_new(&self) -> Option<&MessageData> {
        self.events.iter().find_map(|e| match e {
            EventData::MessageNew(d) => Some(d),
            _ => None,
        })
    }
}

/// What a driver's `process_mbox` sees for one mailbox event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxTxnData {
    /// The mailbox's full UTF-8 name; for a rename, the new name.
    pub mailbox: String,
    /// The event data (one entry for the mailbox events Dovecot knows).
    pub events: Vec<EventData>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_reports_only_wanted_and_unset_fields() {
        let mut d = MessageData::default();
        let wanted = MessageFields::FROM | MessageFields::SUBJECT | MessageFields::SNIPPET;
        assert_eq!(d.missing(wanted), wanted);
        d.from = Some(RawValue::from("a@b"));
        d.snippet = Some(String::new());
        assert_eq!(d.missing(wanted), MessageFields::SUBJECT);
        assert_eq!(d.missing(MessageFields::empty()), MessageFields::empty());
        assert_eq!(
            d.missing(MessageFields::AUTOMATED),
            MessageFields::AUTOMATED
        );
        d.automated = Some(AutomatedHeaders::default());
        assert_eq!(
            d.missing(MessageFields::AUTOMATED),
            MessageFields::empty(),
            "looked up, even though the message had neither header"
        );
    }

    #[test]
    fn event_data_serialises_with_its_name() {
        let e = EventData::MailboxRename {
            old_mailbox: "Old".into(),
        };
        assert_eq!(
            serde_json::to_string(&e).expect("ser"),
            r#"{"event":"MailboxRename","old_mailbox":"Old"}"#
        );
        let back: EventData = serde_json::from_str(r#"{"event":"MessageRead"}"#).expect("de");
        assert_eq!(back.name(), EventName::MessageRead);
    }

    #[test]
    fn message_new_lookup() {
        let msg = MessageTxnData {
            mailbox: "INBOX".into(),
            uid: 3,
            uid_validity: 7,
            events: vec![EventData::MessageNew(MessageData {
                snippet: Some("hi".into()),
                ..MessageData::default()
            })],
        };
        assert_eq!(
            msg.message_new().and_then(|d| d.snippet.as_deref()),
            Some("hi")
        );
        assert!(msg.event(EventName::MessageAppend).is_none());
    }
}
