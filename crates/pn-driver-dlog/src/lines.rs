//! The per-event debug lines (each event's `debug_mbox` / `debug_msg` in Dovecot).

use std::fmt::Write;

use pn_event::{EventData, MailFlags, MessageData};

/// Flag lines in Dovecot's order, with the word each uses.
const FLAG_LINES: [(MailFlags, &str); 5] = [
    (MailFlags::ANSWERED, "Answered"),
    (MailFlags::FLAGGED, "Flagged"),
    (MailFlags::DELETED, "Deleted"),
    (MailFlags::SEEN, "Seen"),
    (MailFlags::DRAFT, "Draft"),
];

/// Calls `emit` with each line Dovecot logs for one event's data.
pub(crate) fn event_lines(event: &EventData, mut emit: impl FnMut(&str)) {
    let name = event.name();
    let mut line = String::new();
    let mut say = |args: std::fmt::Arguments<'_>| {
        line.clear();
        // Writing into a String cannot fail.
        let _ = write!(line, "{name}: {args}");
        emit(&line);
    };
    match event {
        EventData::MailboxCreate { .. } => say(format_args!("Mailbox was created")),
        EventData::MailboxDelete => say(format_args!("Mailbox was deleted")),
        EventData::MailboxRename { old_mailbox } => {
            say(format_args!(
                "Mailbox was renamed (old name: {old_mailbox})"
            ));
        }
        // Dovecot's unsubscribe line really says "subscribed"; kept for operators' greps.
        EventData::MailboxSubscribe | EventData::MailboxUnsubscribe => {
            say(format_args!("Mailbox was subscribed to"));
        }
        EventData::MessageExpunge => say(format_args!("Message was expunged")),
        EventData::MessageRead => say(format_args!("Message was flagged as seen")),
        EventData::MessageTrash => say(format_args!("Message was marked as deleted")),
        EventData::FlagsSet(d) => {
            for (flag, word) in FLAG_LINES {
                if d.flags_set.contains(flag) {
                    say(format_args!("{word} flag set"));
                }
            }
            for k in &d.keywords_set {
                say(format_args!("Keyword set [{k}]"));
            }
        }
        EventData::FlagsClear(d) => {
            for (flag, word) in FLAG_LINES {
                if d.flags_clear.contains(flag) {
                    say(format_args!("{word} flag cleared"));
                }
            }
            for k in &d.keywords_clear {
                say(format_args!("Keyword clear [{k}]"));
            }
        }
        EventData::MessageNew(m) | EventData::MessageAppend(m) => message_lines(m, say),
    }
}

fn message_lines(m: &MessageData, mut say: impl FnMut(std::fmt::Arguments<'_>)) {
    if let Some(date) = m.date {
        say(format_args!("Date [{}]", iso8601_quirk(date, m.date_tz)));
    }
    if let Some(from) = &m.from {
        say(format_args!("From [{}]", from.to_string_lossy()));
    }
    if let Some(snippet) = &m.snippet {
        say(format_args!("Snippet [{snippet}]"));
    }
    if let Some(subject) = &m.subject {
        say(format_args!("Subject [{}]", subject.to_string_lossy()));
    }
    if let Some(to) = &m.to {
        say(format_args!("To [{}]", to.to_string_lossy()));
    }
}

/// Dovecot's `iso8601_date_create_tm(gmtime(date), tz)`: the clock is UTC, not shifted by the
/// offset, but the suffix is the message's own offset.
pub(crate) fn iso8601_quirk(date: i64, tz_minutes: i32) -> String {
    let utc =
        time::OffsetDateTime::from_unix_timestamp(date).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let sign = if tz_minutes < 0 { '-' } else { '+' };
    let abs = tz_minutes.unsigned_abs();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second(),
        abs / 60,
        abs % 60
    )
}

#[cfg(test)]
mod tests {
    use pn_event::{FlagsClearData, FlagsSetData, RawValue};

    use super::*;

    fn lines(e: &EventData) -> Vec<String> {
        let mut out = Vec::new();
        event_lines(e, |l| out.push(l.to_owned()));
        out
    }

    #[test]
    fn date_keeps_utc_clock_with_message_offset() {
        // 2023-11-14T22:13:20Z, message written at +02:00.
        assert_eq!(
            iso8601_quirk(1_700_000_000, 120),
            "2023-11-14T22:13:20+02:00"
        );
        assert_eq!(iso8601_quirk(0, -330), "1970-01-01T00:00:00-05:30");
    }

    #[test]
    fn message_new_lines_in_dovecot_order() {
        let m = MessageData {
            from: Some(RawValue::from("=?UTF-8?Q?Zo=C3=AB?= <z@x>")),
            to: Some(RawValue::from("a@b")),
            subject: Some(RawValue::from("Hi")),
            date: Some(0),
            date_tz: 60,
            snippet: Some("body".into()),
            ..MessageData::default()
        };
        assert_eq!(
            lines(&EventData::MessageNew(m)),
            [
                "MessageNew: Date [1970-01-01T00:00:00+01:00]",
                "MessageNew: From [=?UTF-8?Q?Zo=C3=AB?= <z@x>]",
                "MessageNew: Snippet [body]",
                "MessageNew: Subject [Hi]",
                "MessageNew: To [a@b]",
            ]
        );
        assert!(lines(&EventData::MessageAppend(MessageData::default())).is_empty());
    }

    #[test]
    fn flag_lines_in_bit_order_then_keywords() {
        let set = EventData::FlagsSet(FlagsSetData {
            flags_set: MailFlags::all(),
            keywords_set: vec!["$A".into(), "b".into()],
        });
        assert_eq!(
            lines(&set),
            [
                "FlagsSet: Answered flag set",
                "FlagsSet: Flagged flag set",
                "FlagsSet: Deleted flag set",
                "FlagsSet: Seen flag set",
                "FlagsSet: Draft flag set",
                "FlagsSet: Keyword set [$A]",
                "FlagsSet: Keyword set [b]",
            ]
        );
        let clear = EventData::FlagsClear(FlagsClearData {
            flags_clear: MailFlags::DRAFT | MailFlags::ANSWERED,
            keywords_clear: vec!["x".into()],
            flags_old: MailFlags::all(),
            keywords_old: Some(vec!["y".into()]),
        });
        assert_eq!(
            lines(&clear),
            [
                "FlagsClear: Answered flag cleared",
                "FlagsClear: Draft flag cleared",
                "FlagsClear: Keyword clear [x]",
            ]
        );
        assert!(lines(&EventData::FlagsClear(FlagsClearData::default())).is_empty());
    }

    #[test]
    fn unsubscribe_keeps_dovecot_text() {
        assert_eq!(
            lines(&EventData::MailboxUnsubscribe),
            ["MailboxUnsubscribe: Mailbox was subscribed to"]
        );
    }
}
