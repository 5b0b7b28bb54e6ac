//! The event handlers of spec §1.5: which storage change records which event data.
//!
//! Each function runs the handlers of the subscribed events, in subscription order, against
//! one message's event data. Data is kept at most once per event name; a later change of the
//! same message in the same transaction updates it.

use pn_event::{
    EventData, EventName, FlagsClearData, FlagsSetData, MailFlags, MessageData, MessageFields,
};

use super::mail_txn::Save;
use crate::EventConfig;

type Subs = [(EventName, EventConfig)];

fn position(data: &[EventData], name: EventName) -> Option<usize> {
    data.iter().position(|d| d.name() == name)
}

fn get_or_create(
    data: &mut Vec<EventData>,
    name: EventName,
    make: impl FnOnce() -> EventData,
) -> &mut EventData {
    let idx = match position(data, name) {
        Some(i) => i,
        None => {
            data.push(make());
            data.len() - 1
        }
    };
    &mut data[idx]
}

fn flags_clear<'a>(data: &'a mut Vec<EventData>, config: &EventConfig) -> &'a mut FlagsClearData {
    let entry = get_or_create(data, EventName::FlagsClear, || {
        EventData::FlagsClear(FlagsClearData::default())
    });
    match entry {
        EventData::FlagsClear(d) => {
            // Always allocated when any subscriber wants the old keywords; Dovecot leaves it
            // unallocated when dlog created the data first and crashes (docs/compat.md).
            if config.store_old && d.keywords_old.is_none() {
                d.keywords_old = Some(Vec::new());
            }
            d
        }
        _ => unreachable_data(),
    }
}

fn flags_set(data: &mut Vec<EventData>) -> &mut FlagsSetData {
    match get_or_create(data, EventName::FlagsSet, || {
        EventData::FlagsSet(FlagsSetData::default())
    }) {
        EventData::FlagsSet(d) => d,
        _ => unreachable_data(),
    }
}

#[allow(clippy::panic)]
fn unreachable_data() -> ! {
    // get_or_create only returns the entry found or made for the requested name.
    unreachable!("event data stored under the wrong name")
}

/// Save or copy into the transaction's mailbox: `MessageNew` for a delivery, `MessageAppend`
/// otherwise, filled with the union of the subscribed field groups.
pub(super) fn on_save(subs: &Subs, data: &mut Vec<EventData>, save: &Save<'_>) {
    let name = if save.delivery {
        EventName::MessageNew
    } else {
        EventName::MessageAppend
    };
    for (event, config) in subs {
        if *event != name || config.fields.is_empty() {
            continue;
        }
        let entry = get_or_create(data, name, || {
            let d = MessageData::default();
            if save.delivery {
                EventData::MessageNew(d)
            } else {
                EventData::MessageAppend(d)
            }
        });
        let (EventData::MessageNew(msg) | EventData::MessageAppend(msg)) = entry else {
            unreachable_data()
        };
        fill_message(msg, config.fields, save);
    }
}

fn fill_message(msg: &mut MessageData, wanted: MessageFields, save: &Save<'_>) {
    let missing = msg.missing(wanted);
    if missing.contains(MessageFields::FLAGS) {
        msg.flags = Some(save.flags);
    }
    if missing.contains(MessageFields::KEYWORDS) {
        msg.keywords = Some(save.keywords.to_vec());
    }
    let content = missing - (MessageFields::FLAGS | MessageFields::KEYWORDS);
    if !content.is_empty() {
        save.content.fill(content, msg);
    }
}

/// Expunge: `MessageExpunge`.
pub(super) fn on_expunge(subs: &Subs, data: &mut Vec<EventData>) {
    if subs.iter().any(|(e, _)| *e == EventName::MessageExpunge)
        && position(data, EventName::MessageExpunge).is_none()
    {
        data.push(EventData::MessageExpunge);
    }
}

/// System flags changed (`old != new`): FlagsClear, FlagsSet, MessageRead, MessageTrash.
pub(super) fn on_flags(subs: &Subs, data: &mut Vec<EventData>, old: MailFlags, new: MailFlags) {
    let added = new - old;
    let removed = old - new;
    for (event, config) in subs {
        match event {
            EventName::FlagsClear => {
                // Created on every flag change, even when nothing was cleared (spec §8.12).
                let d = flags_clear(data, config);
                d.flags_clear |= removed & MailFlags::REPORTABLE;
                if config.store_old {
                    d.flags_old = old;
                }
            }
            EventName::FlagsSet => {
                let mut shown = MailFlags::ANSWERED | MailFlags::DRAFT | MailFlags::FLAGGED;
                if !config.hide_deleted {
                    shown |= MailFlags::DELETED;
                }
                if !config.hide_seen {
                    shown |= MailFlags::SEEN;
                }
                let bits = added & shown;
                if !bits.is_empty() {
                    flags_set(data).flags_set |= bits;
                }
            }
            EventName::MessageRead
                if added.contains(MailFlags::SEEN)
                    && position(data, EventName::MessageRead).is_none() =>
            {
                data.push(EventData::MessageRead);
            }
            EventName::MessageTrash
                if added.contains(MailFlags::DELETED)
                    && position(data, EventName::MessageTrash).is_none() =>
            {
                data.push(EventData::MessageTrash);
            }
            _ => {}
        }
    }
}

/// Keywords changed (`old != new`): FlagsClear and FlagsSet, both always created.
pub(super) fn on_keywords(subs: &Subs, data: &mut Vec<EventData>, old: &[String], new: &[String]) {
    for (event, config) in subs {
        match event {
            EventName::FlagsClear => {
                let d = flags_clear(data, config);
                d.keywords_clear
                    .extend(old.iter().filter(|k| !new.contains(k)).cloned());
                if let (true, Some(kw_old)) = (config.store_old, d.keywords_old.as_mut()) {
                    kw_old.extend(old.iter().cloned());
                }
            }
            EventName::FlagsSet => {
                let d = flags_set(data);
                d.keywords_set
                    .extend(new.iter().filter(|k| !old.contains(k)).cloned());
            }
            _ => {}
        }
    }
}
