//! Which events reach an endpoint (`events=`, `mailboxes=`) and which messages are never
//! pushed (`suppress=`).

use pn_event::{EventName, MailFlags, MessageData};

use crate::automated;
use crate::config::ConfigError;

/// An endpoint's filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The RFC 5423 events it receives.
    pub events: Vec<EventName>,
    /// The mailboxes it hears about (exact names, `INBOX` in any case); `None`: all.
    pub mailboxes: Option<Vec<String>>,
}

impl Filter {
    /// Whether an event on `mailbox` passes.
    pub fn matches(&self, event: EventName, mailbox: &str) -> bool {
        self.events.contains(&event) && self.mailbox_matches(mailbox)
    }

    /// Whether `mailbox` is one the endpoint hears about.
    pub fn mailbox_matches(&self, mailbox: &str) -> bool {
        self.mailboxes.as_ref().is_none_or(|list| {
            list.iter().any(|m| {
                m == mailbox
                    || (m.eq_ignore_ascii_case("INBOX") && mailbox.eq_ignore_ascii_case("INBOX"))
            })
        })
    }
}

/// What `suppress=` keeps from being pushed (a comma-separated list, or `none`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suppress {
    /// `junk`: message events in Junk and Trash folders (by name, see [`is_junk_or_trash`],
    /// or flagged `\Junk` / `\Trash`, see [`crate::special_use`]).
    pub junk: bool,
    /// `self`: new messages whose sender is the user.
    pub self_sent: bool,
    /// `seen`: new messages that already carry `\Seen` (filed as read by a filter).
    pub seen: bool,
    /// `auto`: new messages sent by a program or in bulk (see [`automated::reason`]).
    pub auto: bool,
}

impl Suppress {
    /// Nothing suppressed.
    pub const NONE: Suppress = Suppress {
        junk: false,
        self_sent: false,
        seen: false,
        auto: false,
    };

    /// The default: `junk,seen`.
    pub const DEFAULT: Suppress = Suppress {
        junk: true,
        self_sent: false,
        seen: true,
        auto: false,
    };

    /// Parses `none` or a list of `junk`, `self`, `seen`, `auto`.
    pub fn parse(value: &str) -> Result<Suppress, ConfigError> {
        let mut s = Suppress::NONE;
        if value == "none" {
            return Ok(s);
        }
        for item in value.split(',').filter(|i| !i.is_empty()) {
            match item {
                "junk" => s.junk = true,
                "self" => s.self_sent = true,
                "seen" => s.seen = true,
                "auto" => s.auto = true,
                other => {
                    return Err(ConfigError::Invalid {
                        key: "suppress",
                        value: other.to_owned(),
                        reason: "expected none or a list of junk, self, seen, auto".to_owned(),
                    });
                }
            }
        }
        Ok(s)
    }

    /// Why a new message (MessageNew / MessageAppend) of `user` is not pushed, if it is not.
    pub fn message_reason(&self, user: &str, data: &MessageData) -> Option<&'static str> {
        if self.seen && data.flags.is_some_and(|f| f.contains(MailFlags::SEEN)) {
            return Some("already \\Seen");
        }
        if self.self_sent
            && data
                .from_address
                .as_deref()
                .is_some_and(|from| from.eq_ignore_ascii_case(user))
        {
            return Some("sent by the user");
        }
        if self.auto
            && let Some(reason) = data.automated.as_ref().and_then(automated::reason)
        {
            return Some(reason);
        }
        None
    }
}

/// The folder names treated as Junk or Trash: the last hierarchy level, compared without case.
/// These are the names mail clients and servers create (Dovecot's example namespace,
/// Outlook, Apple Mail, Thunderbird); mailboxes flagged `\Junk` / `\Trash` under other
/// names come from [`crate::special_use`].
pub const JUNK_NAMES: [&str; 8] = [
    "Junk",
    "Spam",
    "Junk E-mail",
    "Junk Email",
    "Bulk Mail",
    "Trash",
    "Deleted Items",
    "Deleted Messages",
];

/// Whether `mailbox` is a Junk or Trash folder by name (any hierarchy separator).
pub fn is_junk_or_trash(mailbox: &str) -> bool {
    let leaf = mailbox.rsplit(['/', '.']).next().unwrap_or(mailbox);
    JUNK_NAMES.iter().any(|n| n.eq_ignore_ascii_case(leaf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_filter_and_junk_names() {
        let f = Filter {
            events: vec![EventName::MessageNew],
            mailboxes: Some(vec!["INBOX".into(), "Work".into()]),
        };
        assert!(f.matches(EventName::MessageNew, "inbox"));
        assert!(f.matches(EventName::MessageNew, "Work"));
        assert!(
            !f.matches(EventName::MessageNew, "work"),
            "only INBOX ignores case"
        );
        assert!(!f.matches(EventName::FlagsSet, "INBOX"));
        assert!(is_junk_or_trash("Junk") && is_junk_or_trash("Archive/spam"));
        assert!(is_junk_or_trash("INBOX.Trash") && !is_junk_or_trash("Junkyard"));
    }

    #[test]
    fn suppression_reasons() {
        let user = "alice@example.com";
        let mut data = MessageData {
            from_address: Some("Alice@Example.com".into()),
            flags: Some(MailFlags::SEEN),
            ..MessageData::default()
        };
        assert_eq!(
            Suppress::DEFAULT.message_reason(user, &data),
            Some("already \\Seen")
        );
        assert_eq!(Suppress::NONE.message_reason(user, &data), None);
        data.flags = Some(MailFlags::empty());
        assert_eq!(Suppress::DEFAULT.message_reason(user, &data), None);
        let s = Suppress::parse("self").expect("parse");
        assert_eq!(s.message_reason(user, &data), Some("sent by the user"));
        assert!(Suppress::parse("junk,bulk").is_err());
        data.from_address = None;
        data.automated = Some(pn_event::AutomatedHeaders {
            auto_submitted: Some("auto-replied".into()),
            precedence: None,
        });
        assert_eq!(Suppress::DEFAULT.message_reason(user, &data), None);
        let auto = Suppress::parse("seen,auto").expect("parse");
        assert!(auto.auto && auto.seen && !auto.junk);
        assert_eq!(
            auto.message_reason(user, &data),
            Some("Auto-Submitted (RFC 3834)")
        );
    }
}
