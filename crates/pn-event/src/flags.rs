use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

bitflags::bitflags! {
    /// IMAP system flags with Dovecot's bit values (`enum mail_flags`).
    ///
    /// `\Recent` is a session flag: Dovecot only ever shows it in the `flags` of
    /// `MessageNew` / `MessageAppend` and in `FlagsClear`'s `flags_old`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct MailFlags: u8 {
        /// `\Answered`
        const ANSWERED = 0x01;
        /// `\Flagged`
        const FLAGGED = 0x02;
        /// `\Deleted`
        const DELETED = 0x04;
        /// `\Seen`
        const SEEN = 0x08;
        /// `\Draft`
        const DRAFT = 0x10;
        /// `\Recent`
        const RECENT = 0x20;
    }
}

const FLAG_NAMES: [(MailFlags, &str); 6] = [
    (MailFlags::ANSWERED, "\\Answered"),
    (MailFlags::FLAGGED, "\\Flagged"),
    (MailFlags::DELETED, "\\Deleted"),
    (MailFlags::SEEN, "\\Seen"),
    (MailFlags::DRAFT, "\\Draft"),
    (MailFlags::RECENT, "\\Recent"),
];

/// A flag name that is not an IMAP system flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseFlagError(pub String);

impl fmt::Display for ParseFlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an IMAP system flag: {:?}", self.0)
    }
}

impl std::error::Error for ParseFlagError {}

impl MailFlags {
    /// The flags Dovecot's FlagsSet / FlagsClear can report (everything but `\Recent`).
    pub const REPORTABLE: MailFlags = MailFlags::ANSWERED
        .union(MailFlags::FLAGGED)
        .union(MailFlags::DELETED)
        .union(MailFlags::SEEN)
        .union(MailFlags::DRAFT);

    /// IMAP names of the set flags in bit order, the order Dovecot pushes them to Lua.
    pub fn imap_names(self) -> impl Iterator<Item = &'static str> {
        FLAG_NAMES
            .into_iter()
            .filter(move |(f, _)| self.contains(*f))
            .map(|(_, n)| n)
    }

    /// Parses one IMAP system flag name (case-insensitive, with the backslash).
    pub fn from_imap_name(name: &str) -> Result<MailFlags, ParseFlagError> {
        FLAG_NAMES
            .into_iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(f, _)| f)
            .ok_or_else(|| ParseFlagError(name.to_owned()))
    }
}

impl fmt::Display for MailFlags {
    /// Space-separated IMAP names, like an IMAP FLAGS list without parentheses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.imap_names().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(n)?;
        }
        Ok(())
    }
}

impl Serialize for MailFlags {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.bits().count_ones() as usize))?;
        for n in self.imap_names() {
            seq.serialize_element(n)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for MailFlags {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FlagsVisitor;
        impl<'de> Visitor<'de> for FlagsVisitor {
            type Value = MailFlags;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of IMAP system flag names")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MailFlags, A::Error> {
                let mut flags = MailFlags::empty();
                while let Some(name) = seq.next_element::<String>()? {
                    flags |= MailFlags::from_imap_name(&name).map_err(de::Error::custom)?;
                }
                Ok(flags)
            }
        }
        deserializer.deserialize_seq(FlagsVisitor)
    }
}

bitflags::bitflags! {
    /// Which fields a `MessageNew` / `MessageAppend` subscriber wants filled
    /// (`enum push_notification_event_message_flags`, plus pn's own groups above bit 7).
    ///
    /// Several subscribers merge: a field is filled when any of them asks for it. The eight
    /// groups Dovecot knows keep its bit values; [`MessageFields::DOVECOT`] is their union, what
    /// a driver that must behave exactly like Dovecot's asks for instead of `all()`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct MessageFields: u16 {
        /// `from`, `from_address`, `from_display_name`.
        const FROM = 0x01;
        /// `to`, `to_address`, `to_display_name`.
        const TO = 0x02;
        /// `subject` (raw) and its decoded form.
        const SUBJECT = 0x04;
        /// `date` and `date_tz`.
        const DATE = 0x08;
        /// The body snippet.
        const SNIPPET = 0x10;
        /// The message's flags at save time.
        const FLAGS = 0x20;
        /// The message's keywords at save time.
        const KEYWORDS = 0x40;
        /// The raw `Message-ID`.
        const MESSAGE_ID = 0x80;
        /// pn's own: the raw `Auto-Submitted` (RFC 3834) and `Precedence` headers, which say
        /// whether a message was sent automatically or in bulk. Dovecot has no such group.
        const AUTOMATED = 0x100;
    }
}

impl MessageFields {
    /// The eight groups Dovecot 2.3 fills, with its bit values (`FROM` … `MESSAGE_ID`).
    pub const DOVECOT: MessageFields = MessageFields::from_bits_retain(0xff);
}

/// Serialised as the bit value (Dovecot's for its groups), so stored subscriptions stay
/// compact.
impl Serialize for MessageFields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.bits())
    }
}

impl<'de> Deserialize<'de> for MessageFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bits = u16::deserialize(deserializer)?;
        Ok(MessageFields::from_bits_retain(bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dovecot_bit_order() {
        let all = MailFlags::all();
        let names: Vec<_> = all.imap_names().collect();
        assert_eq!(
            names,
            [
                "\\Answered",
                "\\Flagged",
                "\\Deleted",
                "\\Seen",
                "\\Draft",
                "\\Recent"
            ]
        );
        assert_eq!(
            (MailFlags::SEEN | MailFlags::RECENT).to_string(),
            "\\Seen \\Recent"
        );
    }

    #[test]
    fn serde_round_trips_as_name_list() {
        let f = MailFlags::SEEN | MailFlags::ANSWERED;
        let json = serde_json::to_string(&f).expect("serialize");
        assert_eq!(json, r#"["\\Answered","\\Seen"]"#);
        let back: MailFlags = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, f);
        assert!(serde_json::from_str::<MailFlags>(r#"["\\Bogus"]"#).is_err());
    }

    #[test]
    fn reportable_excludes_recent() {
        assert!(!MailFlags::REPORTABLE.contains(MailFlags::RECENT));
        assert_eq!(MailFlags::REPORTABLE.bits(), 0x1f);
    }

    #[test]
    fn dovecot_groups_keep_their_bits() {
        let dovecot = MessageFields::FROM
            | MessageFields::TO
            | MessageFields::SUBJECT
            | MessageFields::DATE
            | MessageFields::SNIPPET
            | MessageFields::FLAGS
            | MessageFields::KEYWORDS
            | MessageFields::MESSAGE_ID;
        assert_eq!(MessageFields::DOVECOT, dovecot);
        assert_eq!(MessageFields::DOVECOT.bits(), 0xff);
        assert!(!MessageFields::DOVECOT.contains(MessageFields::AUTOMATED));
        assert_eq!(
            MessageFields::all(),
            MessageFields::DOVECOT | MessageFields::AUTOMATED
        );
        let json = serde_json::to_string(&(MessageFields::FROM | MessageFields::AUTOMATED))
            .expect("serialize");
        assert_eq!(json, "257");
        let back: MessageFields = serde_json::from_str("255").expect("deserialize");
        assert_eq!(back, MessageFields::DOVECOT);
    }

    #[test]
    fn parse_is_case_insensitive() {
        assert_eq!(MailFlags::from_imap_name("\\seen"), Ok(MailFlags::SEEN));
        assert!(MailFlags::from_imap_name("Seen").is_err());
    }
}
