//! The JSON body of the ox driver's `PUT`, byte for byte as Dovecot 2.3 writes it
//! (`push-notification-driver-ox.c` `process_msg`, spec §5.4):
//!
//! ```text
//! {"user":"<U>","event":"messageNew","folder":"<mailbox>","imap-uidvalidity":<n>,"imap-uid":<n>[,"from":"<raw From>"][,"subject":"<raw Subject>"][,"snippet":"<snippet>"][,"unseen":<n>]}
//! ```
//!
//! Compact, no trailing newline, `"messageNew"` with a lower-case `m`, optional fields omitted
//! when missing, and Dovecot 2.3's string escaping ([`write_json_string`]). Written straight into
//! a caller-owned buffer: no allocation per field.

use pn_event::{MessageData, MessageTxnData};

/// Appends the body Dovecot's ox driver sends for a delivered message.
///
/// `user` is the user name Dovecot puts in the body (the metadata `user=` value with
/// `user_from_metadata`, the login name otherwise), `msg` gives the folder, UID, UIDVALIDITY
/// and the `MessageNew` data (`from`, `subject`, `snippet`; a message without `MessageNew`
/// data gets none of them — Dovecot sends no request then, see [`has_message_new`]), and
/// `unseen` is the mailbox's unseen count (`None` when the status lookup failed).
pub fn write_message_new(
    out: &mut Vec<u8>,
    user: &[u8],
    msg: &MessageTxnData,
    unseen: Option<u32>,
) {
    write_body(
        out,
        user,
        msg.mailbox.as_bytes(),
        msg.uid_validity,
        msg.uid,
        msg.message_new(),
        unseen,
    );
}

/// Whether Dovecot's ox driver sends a request for this message (it has `MessageNew` data).
pub fn has_message_new(msg: &MessageTxnData) -> bool {
    msg.message_new().is_some()
}

/// Appends the body from its parts (the same bytes as [`write_message_new`]).
pub fn write_body(
    out: &mut Vec<u8>,
    user: &[u8],
    folder: &[u8],
    uid_validity: u32,
    uid: u32,
    data: Option<&MessageData>,
    unseen: Option<u32>,
) {
    out.extend_from_slice(b"{\"user\":\"");
    write_json_string(out, user);
    out.extend_from_slice(b"\",\"event\":\"messageNew\",\"folder\":\"");
    write_json_string(out, folder);
    out.extend_from_slice(b"\",\"imap-uidvalidity\":");
    write_u32(out, uid_validity);
    out.extend_from_slice(b",\"imap-uid\":");
    write_u32(out, uid);
    if let Some(d) = data {
        if let Some(from) = &d.from {
            out.extend_from_slice(b",\"from\":\"");
            write_json_string(out, from.as_bytes());
            out.push(b'"');
        }
        if let Some(subject) = &d.subject {
            out.extend_from_slice(b",\"subject\":\"");
            write_json_string(out, subject.as_bytes());
            out.push(b'"');
        }
        if let Some(snippet) = &d.snippet {
            out.extend_from_slice(b",\"snippet\":\"");
            write_json_string(out, snippet.as_bytes());
            out.push(b'"');
        }
    }
    if let Some(n) = unseen {
        out.extend_from_slice(b",\"unseen\":");
        write_u32(out, n);
    }
    out.push(b'}');
}

fn write_u32(out: &mut Vec<u8>, mut n: u32) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

const HEX: &[u8; 16] = b"0123456789abcdef";
const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

/// Appends `s` escaped as Dovecot 2.3's `json_append_escaped`: `\b \f \n \r \t \" \\`, other
/// bytes below 0x20 as `\u00xx` (lower-case hex), U+2028 / U+2029 as `\u2028` / `\u2029`,
/// 0x7F and `/` unescaped, and **each byte** of an invalid UTF-8 sequence as U+FFFD.
pub fn write_json_string(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len());
    if std::str::from_utf8(s).is_ok() {
        write_valid(out, s);
        return;
    }
    for chunk in s.utf8_chunks() {
        write_valid(out, chunk.valid().as_bytes());
        for _ in chunk.invalid() {
            out.extend_from_slice(REPLACEMENT);
        }
    }
}

/// Bytes that may need escaping: controls, `"`, `\\`, and 0xE2 (the lead byte of U+2028/9).
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[0xE2] = true;
    t
};

fn write_valid(out: &mut Vec<u8>, s: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if !SPECIAL[usize::from(c)] {
            i += 1;
            continue;
        }
        let escape: &[u8] = match c {
            b'\x08' => b"\\b",
            b'\x0c' => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0xE2 => {
                // U+2028 / U+2029: E2 80 A8 / E2 80 A9
                match (s.get(i + 1), s.get(i + 2)) {
                    (Some(0x80), Some(0xA8)) => b"\\u2028",
                    (Some(0x80), Some(0xA9)) => b"\\u2029",
                    _ => {
                        i += 1;
                        continue;
                    }
                }
            }
            _ => {
                out.extend_from_slice(&s[start..i]);
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(c >> 4)],
                    HEX[usize::from(c & 15)],
                ]);
                i += 1;
                start = i;
                continue;
            }
        };
        out.extend_from_slice(&s[start..i]);
        out.extend_from_slice(escape);
        i += if c == 0xE2 { 3 } else { 1 };
        start = i;
    }
    out.extend_from_slice(&s[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use pn_event::{EventData, RawValue};

    fn escaped(s: &[u8]) -> String {
        let mut out = Vec::new();
        write_json_string(&mut out, s);
        String::from_utf8(out).expect("escaped output is UTF-8")
    }

    #[test]
    fn escapes_like_dovecot() {
        assert_eq!(escaped(b"a\"b\\c\x08\x0c\n\r\t"), r#"a\"b\\c\b\f\n\r\t"#);
        assert_eq!(escaped(b"\x01\x1f\x7f/"), "\\u0001\\u001f\x7f/");
        assert_eq!(escaped("\u{2028}x\u{2029}".as_bytes()), "\\u2028x\\u2029");
        assert_eq!(escaped("é€😀".as_bytes()), "é€😀");
    }

    #[test]
    fn each_invalid_byte_becomes_a_replacement() {
        assert_eq!(escaped(b"caf\xe9!"), "caf\u{FFFD}!");
        assert_eq!(escaped(b"\xff\xfe"), "\u{FFFD}\u{FFFD}");
        assert_eq!(escaped(b"\xe2\x82"), "\u{FFFD}\u{FFFD}");
    }

    #[test]
    fn body_field_order_and_omissions() {
        let msg = MessageTxnData {
            mailbox: "INBOX".into(),
            uid: 7,
            uid_validity: 1_795_889_745,
            events: vec![EventData::MessageNew(MessageData {
                subject: Some(RawValue::from("Hi")),
                snippet: Some(String::new()),
                ..MessageData::default()
            })],
        };
        let mut out = Vec::new();
        write_message_new(&mut out, b"u@x", &msg, None);
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            r#"{"user":"u@x","event":"messageNew","folder":"INBOX","imap-uidvalidity":1795889745,"imap-uid":7,"subject":"Hi","snippet":""}"#
        );
    }

    #[test]
    fn numbers_are_unsigned_decimal() {
        let mut out = Vec::new();
        write_u32(&mut out, 0);
        out.push(b' ');
        write_u32(&mut out, u32::MAX);
        assert_eq!(out, b"0 4294967295");
    }
}
