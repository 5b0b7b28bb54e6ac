use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One of the twelve RFC 5423 events Dovecot's push-notification plugin knows.
///
/// The declaration order is Dovecot's registration order (`push-notification-events-rfc5423.c`),
/// which decides the order in which handlers run and event data is created; [`EventName::ALL`]
/// and `Ord` follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventName {
    /// Flags or keywords were removed from a message (also reported, empty, on any change).
    FlagsClear,
    /// Flags or keywords were added to a message.
    FlagsSet,
    /// A mailbox was created.
    MailboxCreate,
    /// A mailbox was deleted.
    MailboxDelete,
    /// A mailbox was renamed.
    MailboxRename,
    /// A mailbox was subscribed to.
    MailboxSubscribe,
    /// A mailbox was unsubscribed from.
    MailboxUnsubscribe,
    /// A message was saved by something other than a delivery (IMAP APPEND, COPY, MOVE, …).
    MessageAppend,
    /// A message was expunged.
    MessageExpunge,
    /// A message was delivered (LDA / LMTP).
    MessageNew,
    /// A message got `\Seen`.
    MessageRead,
    /// A message got `\Deleted`.
    MessageTrash,
}

impl EventName {
    /// All events in Dovecot's registration order.
    pub const ALL: [EventName; 12] = [
        EventName::FlagsClear,
        EventName::FlagsSet,
        EventName::MailboxCreate,
        EventName::MailboxDelete,
        EventName::MailboxRename,
        EventName::MailboxSubscribe,
        EventName::MailboxUnsubscribe,
        EventName::MessageAppend,
        EventName::MessageExpunge,
        EventName::MessageNew,
        EventName::MessageRead,
        EventName::MessageTrash,
    ];

    /// The RFC 5423 name, as Dovecot spells it (`"MessageNew"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            EventName::FlagsClear => "FlagsClear",
            EventName::FlagsSet => "FlagsSet",
            EventName::MailboxCreate => "MailboxCreate",
            EventName::MailboxDelete => "MailboxDelete",
            EventName::MailboxRename => "MailboxRename",
            EventName::MailboxSubscribe => "MailboxSubscribe",
            EventName::MailboxUnsubscribe => "MailboxUnsubscribe",
            EventName::MessageAppend => "MessageAppend",
            EventName::MessageExpunge => "MessageExpunge",
            EventName::MessageNew => "MessageNew",
            EventName::MessageRead => "MessageRead",
            EventName::MessageTrash => "MessageTrash",
        }
    }

    /// The snake_case form used in Lua function names (`"message_new"` for
    /// `dovecot_lua_notify_event_message_new`).
    pub const fn snake_case(self) -> &'static str {
        match self {
            EventName::FlagsClear => "flags_clear",
            EventName::FlagsSet => "flags_set",
            EventName::MailboxCreate => "mailbox_create",
            EventName::MailboxDelete => "mailbox_delete",
            EventName::MailboxRename => "mailbox_rename",
            EventName::MailboxSubscribe => "mailbox_subscribe",
            EventName::MailboxUnsubscribe => "mailbox_unsubscribe",
            EventName::MessageAppend => "message_append",
            EventName::MessageExpunge => "message_expunge",
            EventName::MessageNew => "message_new",
            EventName::MessageRead => "message_read",
            EventName::MessageTrash => "message_trash",
        }
    }

    /// Whether the event is about a mailbox (its own transaction) rather than a message.
    pub const fn is_mailbox_event(self) -> bool {
        matches!(
            self,
            EventName::MailboxCreate
                | EventName::MailboxDelete
                | EventName::MailboxRename
                | EventName::MailboxSubscribe
                | EventName::MailboxUnsubscribe
        )
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the twelve events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEventName(pub String);

impl fmt::Display for UnknownEventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown push notification event: {}", self.0)
    }
}

impl std::error::Error for UnknownEventName {}

impl FromStr for EventName {
    type Err = UnknownEventName;

    /// Case-insensitive, as Dovecot's `strcasecmp` lookup.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventName::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownEventName(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ignores_case_like_dovecot() {
        assert_eq!("messagenew".parse(), Ok(EventName::MessageNew));
        assert_eq!("FLAGSCLEAR".parse(), Ok(EventName::FlagsClear));
        assert!("MessageNews".parse::<EventName>().is_err());
    }

    #[test]
    fn all_is_sorted_in_registration_order() {
        let mut sorted = EventName::ALL;
        sorted.sort();
        assert_eq!(sorted, EventName::ALL);
        assert_eq!(EventName::ALL[0], EventName::FlagsClear);
        assert_eq!(EventName::ALL[11], EventName::MessageTrash);
    }

    #[test]
    fn snake_case_matches_lua_function_names() {
        for e in EventName::ALL {
            let camel: String = e
                .snake_case()
                .split('_')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default()
                })
                .collect();
            assert_eq!(camel, e.as_str());
        }
    }
}
