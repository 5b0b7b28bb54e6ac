//! Message extraction: the `MessageNew` / `MessageAppend` fields Dovecot fills from a message.
//!
//! [`RawMessage`] wraps the raw bytes of a message (LF or CRLF line endings) and implements
//! [`pn_event::MessageSource`]: it fills `from`, `to`, `subject`, `date`, `snippet` and
//! `message_id` (with their derived `*_address`, `*_display_name`, `subject_utf8`, `date_tz`)
//! exactly as Dovecot 2.3's push-notification plugin does, and only the groups asked for.
//! pn's own group `AUTOMATED` (raw `Auto-Submitted` and `Precedence`) is looked up in the
//! same pass over the top-level header block, never in the body.
//!
//! Architecture invariants:
//! - no I/O, no allocation proportional to the message: headers are sliced, not copied, and the
//!   body is read lazily — parts after the snippet's text part are never parsed, and the text
//!   part is decoded only until the snippet is full;
//! - never panics, whatever the input (fuzzed);
//! - mail-parser is used for what matches Dovecot (its single-byte charset tables), encoding_rs
//!   for multi-byte charsets (with glibc's differing mappings applied); everything whose
//!   observable result differs from Dovecot (raw header values, address recovery, RFC 2047
//!   whitespace, Date leniency, MIME structure, QP/base64 recovery, HTML to text, the snippet)
//!   is own code, and each module says why.
//!
//! See `docs/message-extraction.md` for the rules and the remaining deviations.

mod address;
mod charset;
mod date;
mod encoded_word;
mod entities;
mod header;
mod html;
mod mime;
mod mime_fields;
mod multibyte;
mod rfc822;
mod snippet;
mod transfer;

use pn_event::{AutomatedHeaders, MessageData, MessageFields, MessageSource, RawValue};

pub use snippet::SNIPPET_MAX_CHARS;

/// A message as raw bytes: the source of header and body fields for `MessageNew` /
/// `MessageAppend` events.
#[derive(Debug, Clone, Copy)]
pub struct RawMessage<'a>(pub &'a [u8]);

impl<'a> RawMessage<'a> {
    /// Wraps raw message bytes.
    pub fn new(bytes: &'a [u8]) -> Self {
        RawMessage(bytes)
    }

    /// The body snippet (at most [`SNIPPET_MAX_CHARS`] characters, `""` without a text part).
    pub fn snippet(&self) -> String {
        snippet::snippet(self.0)
    }

    /// The raw value of the first header called `name` (case-insensitive), as Dovecot's
    /// `mail_get_first_header` returns it: folding kept as `\n` + whitespace, CR removed, LWSP
    /// after the colon skipped, NUL → U+FFFD.
    pub fn first_header(&self, name: &str) -> Option<RawValue> {
        header::Headers::new(self.0, 0)
            .find(|f| f.is(name))
            .map(|f| RawValue(f.raw_value()))
    }
}

/// Decodes a raw header value (RFC 2047 encoded words, 8-bit bytes) to UTF-8 as Dovecot's
/// `message_header_decode_utf8`: folding kept, whitespace between encoded words dropped,
/// invalid UTF-8 runs replaced by one U+FFFD.
pub fn decode_header(raw: &[u8]) -> String {
    encoded_word::decode_header_utf8(raw)
}

/// Parses a `Date` header value as Dovecot's `message_date_parse`: `(UTC seconds, offset in
/// minutes)`, or `None` when Dovecot would report the date as 0.
pub fn parse_date(raw: &[u8]) -> Option<(i64, i32)> {
    date::parse_date(raw)
}

const HEADER_FIELDS: MessageFields = MessageFields::FROM
    .union(MessageFields::TO)
    .union(MessageFields::SUBJECT)
    .union(MessageFields::DATE)
    .union(MessageFields::MESSAGE_ID)
    .union(MessageFields::AUTOMATED);

impl MessageSource for RawMessage<'_> {
    fn fill(&self, wanted: MessageFields, data: &mut MessageData) {
        let missing = data.missing(wanted);
        if missing.intersects(HEADER_FIELDS) {
            fill_headers(self.0, missing, data);
        }
        if missing.contains(MessageFields::SNIPPET) {
            data.snippet = Some(self.snippet());
        }
    }
}

fn fill_headers(bytes: &[u8], missing: MessageFields, data: &mut MessageData) {
    let names: [(MessageFields, &str); 7] = [
        (MessageFields::FROM, "From"),
        (MessageFields::TO, "To"),
        (MessageFields::SUBJECT, "Subject"),
        (MessageFields::DATE, "Date"),
        (MessageFields::MESSAGE_ID, "Message-ID"),
        (MessageFields::AUTOMATED, "Auto-Submitted"),
        (MessageFields::AUTOMATED, "Precedence"),
    ];
    let mut found: [Option<header::Field<'_>>; 7] = [None; 7];
    let mut todo = names.iter().filter(|(f, _)| missing.contains(*f)).count();
    for field in header::Headers::new(bytes, 0) {
        for (i, (flag, name)) in names.iter().enumerate() {
            if found[i].is_none() && missing.contains(*flag) && field.is(name) {
                found[i] = Some(field);
                todo -= 1;
            }
        }
        if todo == 0 {
            break;
        }
    }
    let [
        from,
        to,
        subject,
        date,
        message_id,
        auto_submitted,
        precedence,
    ] = found;

    // (found only when the group is missing)
    if let Some(f) = from {
        let raw = f.raw_value();
        let a = address::first_address(&raw);
        data.from_address = a.address.map(lossy);
        data.from_display_name = a.display_name;
        data.from = Some(RawValue(raw));
    }
    // (found only when the group is missing)
    if let Some(f) = to {
        let raw = f.raw_value();
        let a = address::first_address(&raw);
        data.to_address = a.address.map(lossy);
        data.to_display_name = a.display_name;
        data.to = Some(RawValue(raw));
    }
    // (found only when the group is missing)
    if let Some(f) = subject {
        let raw = f.raw_value();
        data.subject_utf8 = Some(encoded_word::decode_header_utf8(&raw));
        data.subject = Some(RawValue(raw));
    }
    if missing.contains(MessageFields::DATE) {
        let parsed = date.and_then(|f| date::parse_date(&f.raw_value()));
        let (t, tz) = parsed.unwrap_or((0, 0));
        data.date = Some(t);
        data.date_tz = tz;
    }
    // (found only when the group is missing)
    if let Some(f) = message_id {
        data.message_id = Some(RawValue(f.raw_value()));
    }
    if missing.contains(MessageFields::AUTOMATED) {
        data.automated = Some(AutomatedHeaders {
            auto_submitted: auto_submitted.map(|f| RawValue(f.raw_value())),
            precedence: precedence.map(|f| RawValue(f.raw_value())),
        });
    }
}

/// Addresses are raw header bytes in Dovecot; `MessageData` holds text, so invalid UTF-8 is
/// replaced here.
fn lossy(v: Vec<u8>) -> String {
    String::from_utf8(v).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}
