//! What the driver collects during a transaction: one [`Event`] per message for MessageNew /
//! MessageAppend, and one per (event, mailbox, data) for the other message events, so that
//! flagging 300 messages at once is one push with 300 UIDs rather than 300 pushes.

use pn_event::{EventData, EventName, MailFlags, MailboxTxnData, MessageData, MessageTxnData};

/// UIDs per push; more start another push, which keeps bodies under the size limit.
pub const MAX_UIDS: usize = 500;

/// One notification-to-be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The RFC 5423 event.
    pub name: EventName,
    /// The mailbox (for a rename, the new name).
    pub mailbox: String,
    /// The mailbox's UIDVALIDITY (message events, MailboxCreate).
    pub uid_validity: Option<u32>,
    /// The messages (message events).
    pub uids: Vec<u32>,
    /// The event's own data.
    pub detail: Detail,
    /// Unseen messages in the mailbox after the transaction, when known.
    pub unseen: Option<u32>,
}

/// Event-specific data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail {
    /// Nothing beyond the mailbox and UIDs.
    None,
    /// MessageNew / MessageAppend.
    Message(Box<MessageData>),
    /// FlagsSet.
    FlagsSet {
        /// Flags set.
        flags: MailFlags,
        /// Keywords set.
        keywords: Vec<String>,
    },
    /// FlagsClear.
    FlagsClear {
        /// Flags removed.
        flags: MailFlags,
        /// Keywords removed.
        keywords: Vec<String>,
        /// All flags before the change.
        old_flags: MailFlags,
        /// All keywords before the change.
        old_keywords: Option<Vec<String>>,
    },
    /// MailboxRename.
    Rename {
        /// The name before.
        old_mailbox: String,
    },
}

impl Event {
    /// Whether the event concerns messages (and so has UIDs).
    pub fn is_message_event(&self) -> bool {
        !self.name.is_mailbox_event()
    }
}

/// Adds the events of one committed message to `events`, grouping where possible.
pub fn add_message(events: &mut Vec<Event>, msg: &MessageTxnData) {
    for data in &msg.events {
        let detail = match data {
            EventData::MessageNew(d) | EventData::MessageAppend(d) => {
                events.push(Event {
                    name: data.name(),
                    mailbox: msg.mailbox.clone(),
                    uid_validity: Some(msg.uid_validity),
                    uids: vec![msg.uid],
                    detail: Detail::Message(Box::new(d.clone())),
                    unseen: None,
                });
                continue;
            }
            EventData::FlagsSet(d) => Detail::FlagsSet {
                flags: d.flags_set,
                keywords: d.keywords_set.clone(),
            },
            EventData::FlagsClear(d) => Detail::FlagsClear {
                flags: d.flags_clear,
                keywords: d.keywords_clear.clone(),
                old_flags: d.flags_old,
                old_keywords: d.keywords_old.clone(),
            },
            _ => Detail::None,
        };
        // Dovecot reports FlagsClear (and may report FlagsSet) empty on any flag change; an
        // empty one tells a receiver nothing.
        if let Detail::FlagsSet { flags, keywords }
        | Detail::FlagsClear {
            flags, keywords, ..
        } = &detail
            && flags.is_empty()
            && keywords.is_empty()
        {
            continue;
        }
        let name = data.name();
        let group = events.iter_mut().find(|e| {
            e.name == name
                && e.mailbox == msg.mailbox
                && e.detail == detail
                && e.uid_validity == Some(msg.uid_validity)
                && e.uids.len() < MAX_UIDS
        });
        match group {
            Some(e) => e.uids.push(msg.uid),
            None => events.push(Event {
                name,
                mailbox: msg.mailbox.clone(),
                uid_validity: Some(msg.uid_validity),
                uids: vec![msg.uid],
                detail,
                unseen: None,
            }),
        }
    }
}

/// The events of one mailbox transaction.
pub fn mailbox_events(mbox: &MailboxTxnData) -> Vec<Event> {
    mbox.events
        .iter()
        .map(|data| {
            let (uid_validity, detail) = match data {
                EventData::MailboxCreate { uid_validity } => (Some(*uid_validity), Detail::None),
                EventData::MailboxRename { old_mailbox } => (
                    None,
                    Detail::Rename {
                        old_mailbox: old_mailbox.clone(),
                    },
                ),
                _ => (None, Detail::None),
            };
            Event {
                name: data.name(),
                mailbox: mbox.mailbox.clone(),
                uid_validity,
                uids: Vec::new(),
                detail,
                unseen: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pn_event::FlagsSetData;

    fn flagged(uid: u32, flags: MailFlags) -> MessageTxnData {
        MessageTxnData {
            mailbox: "INBOX".into(),
            uid,
            uid_validity: 9,
            events: vec![
                EventData::FlagsSet(FlagsSetData {
                    flags_set: flags,
                    keywords_set: vec![],
                }),
                EventData::MessageRead,
            ],
        }
    }

    #[test]
    fn groups_equal_events_and_splits_large_groups() {
        let mut events = Vec::new();
        for uid in 1..=3 {
            add_message(&mut events, &flagged(uid, MailFlags::SEEN));
        }
        add_message(
            &mut events,
            &flagged(4, MailFlags::FLAGGED | MailFlags::SEEN),
        );
        let summary: Vec<(EventName, Vec<u32>)> =
            events.iter().map(|e| (e.name, e.uids.clone())).collect();
        assert_eq!(
            summary,
            [
                (EventName::FlagsSet, vec![1, 2, 3]),
                (EventName::MessageRead, vec![1, 2, 3, 4]),
                (EventName::FlagsSet, vec![4]),
            ]
        );
        let mut empty = Vec::new();
        add_message(&mut empty, &flagged(5, MailFlags::empty()));
        assert_eq!(
            empty.len(),
            1,
            "an empty FlagsSet is dropped, MessageRead kept"
        );
        let mut many = Vec::new();
        for uid in 0..(MAX_UIDS as u32 + 1) {
            add_message(&mut many, &flagged(uid, MailFlags::SEEN));
        }
        assert_eq!(
            many.iter()
                .filter(|e| e.name == EventName::FlagsSet)
                .count(),
            2
        );
    }
}
