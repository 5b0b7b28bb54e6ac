//! Charset conversion to UTF-8 with Dovecot's rules (`lib-charset`, `lib/unichar.c`).
//!
//! - `us-ascii`, `ascii`, `utf-8`, `utf8` are all treated as UTF-8 (Dovecot's
//!   `charset_is_utf8`), so 8-bit bytes in a "us-ascii" part pass through when they are UTF-8.
//! - Invalid UTF-8: each run of invalid bytes becomes one U+FFFD, and a U+FFFD is never
//!   repeated (`uni_utf8_get_valid_data`).
//! - ISO-8859-1 is decoded as iconv does (0x80–0x9F are C1 controls). mail-parser maps it to
//!   windows-1252, so this is own code.
//! - Multi-byte charsets (Shift_JIS, EUC-JP, ISO-2022-JP, GB2312/GBK, GB18030, Big5, EUC-KR)
//!   are decoded by encoding_rs with glibc's differing mappings applied ([`crate::multibyte`]).
//! - Every other charset uses mail-parser's decoder tables (windows-1252 and koi8-r included;
//!   their undefined bytes give U+FFFD as iconv's EILSEQ does). An unknown charset is read as
//!   UTF-8, as Dovecot falls back to its UTF-8 "translation".

use mail_parser::decoders::charsets::map::charset_decoder;

use crate::multibyte::Multi;

const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

/// A charset the body or an encoded word is converted from.
#[derive(Clone, Copy)]
pub(crate) enum Charset {
    /// UTF-8 (or ASCII, or unknown): validated, invalid runs replaced.
    Utf8,
    /// ISO-8859-1: each byte is its code point.
    Latin1,
    /// A mail-parser decoder (single-byte table).
    Table(fn(&[u8]) -> String),
    /// A multi-byte charset (stateful: use [`Multi::decoder`] for a stream).
    Multi(Multi),
}

impl Charset {
    /// Looks a charset name up; unknown names read as UTF-8.
    pub(crate) fn lookup(name: &[u8]) -> Charset {
        Self::known(name).unwrap_or(Charset::Utf8)
    }

    /// Looks a charset name up; `None` when it is unknown.
    pub(crate) fn known(name: &[u8]) -> Option<Charset> {
        const UTF8: [&[u8]; 4] = [b"us-ascii", b"ascii", b"utf-8", b"utf8"];
        const LATIN1: [&[u8]; 9] = [
            b"iso-8859-1",
            b"iso8859-1",
            b"iso_8859-1",
            b"latin1",
            b"l1",
            b"cp819",
            b"ibm819",
            b"iso-ir-100",
            b"csisolatin1",
        ];
        if UTF8.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return Some(Charset::Utf8);
        }
        if LATIN1.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return Some(Charset::Latin1);
        }
        if name.is_empty() || name.len() > 45 {
            return None;
        }
        if let Some(m) = Multi::lookup(name) {
            return Some(Charset::Multi(m));
        }
        charset_decoder(name).map(Charset::Table)
    }

    /// Converts a whole `input` (an incomplete multi-byte character at its end is dropped) and
    /// appends valid UTF-8 to `out`.
    pub(crate) fn decode_into(self, input: &[u8], out: &mut Vec<u8>) {
        match self {
            Charset::Utf8 => push_valid_utf8(out, input),
            Charset::Latin1 => {
                for &b in input {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(char::from(b).encode_utf8(&mut buf).as_bytes());
                }
            }
            Charset::Table(f) => out.extend_from_slice(f(input).as_bytes()),
            Charset::Multi(m) => m.decode_into(input, out),
        }
    }
}

/// Appends `input` to `out`, replacing each run of invalid UTF-8 with one U+FFFD (never two in
/// a row), as Dovecot's `uni_utf8_get_valid_data`.
pub(crate) fn push_valid_utf8(out: &mut Vec<u8>, input: &[u8]) {
    if std::str::from_utf8(input).is_ok() {
        out.extend_from_slice(input);
        return;
    }
    for chunk in input.utf8_chunks() {
        out.extend_from_slice(chunk.valid().as_bytes());
        if !chunk.invalid().is_empty() && !out.ends_with(REPLACEMENT) {
            out.extend_from_slice(REPLACEMENT);
        }
    }
}

/// The length of an incomplete UTF-8 sequence at the end of `data` (0 if none), so a chunked
/// decoder can carry it to the next chunk.
pub(crate) fn incomplete_utf8_tail(data: &[u8]) -> usize {
    let n = data.len();
    for back in 1..=n.min(3) {
        let b = data[n - back];
        if b & 0xC0 == 0x80 {
            continue;
        }
        let need = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => 1,
        };
        return if need > back { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_runs_collapse_to_one_replacement() {
        let mut out = Vec::new();
        push_valid_utf8(&mut out, b"a\xff\xfe\x80b\xc3");
        assert_eq!(out, "a\u{FFFD}b\u{FFFD}".as_bytes());
    }

    #[test]
    fn latin1_is_not_windows_1252() {
        let mut out = Vec::new();
        Charset::lookup(b"ISO-8859-1").decode_into(b"\x80\xe9", &mut out);
        assert_eq!(out, "\u{80}é".as_bytes());
        out.clear();
        Charset::lookup(b"windows-1252").decode_into(b"\x80\xe9", &mut out);
        assert_eq!(out, "€é".as_bytes());
    }

    #[test]
    fn incomplete_tail_is_detected() {
        assert_eq!(incomplete_utf8_tail(b"ab\xe2\x82"), 2);
        assert_eq!(incomplete_utf8_tail("ab€".as_bytes()), 0);
        assert_eq!(incomplete_utf8_tail(b"ab\xc3"), 1);
    }
}
