//! RFC 2047 header decoding to UTF-8 as Dovecot's `message_header_decode_utf8`.
//!
//! Own code: mail-parser unfolds and trims while decoding, Dovecot does not. Dovecot's rules:
//! an encoded word is `=?charset?X?text?=` where only the first letter of the encoding is
//! looked at (`Q`/`B`); text between two encoded words is dropped when it is only whitespace
//! (also leading whitespace before the first word); unencoded text and text in an unknown
//! charset is validated as UTF-8 (invalid runs → one U+FFFD). Folding is kept.

use crate::charset::{Charset, push_valid_utf8};

/// Decodes a raw header value (encoded words, 8-bit bytes) to UTF-8.
pub(crate) fn decode_header_utf8(data: &[u8]) -> String {
    let mut out = Vec::with_capacity(data.len());
    let mut decoded = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    while pos + 1 < data.len() {
        if data[pos] != b'=' || data[pos + 1] != b'?' {
            pos += 1;
            continue;
        }
        if pos != start && !only_lwsp(&data[start..pos]) {
            push_valid_utf8(&mut out, &data[start..pos]);
        }
        pos += 2;
        decoded.clear();
        match decode_encoded(&data[pos..], &mut decoded) {
            None => start = pos - 2,
            Some((consumed, charset)) => {
                pos += consumed;
                if !decoded.is_empty() {
                    let cs = Charset::known(charset).unwrap_or(Charset::Utf8);
                    cs.decode_into(&decoded, &mut out);
                }
                start = pos;
            }
        }
    }
    if start < data.len() {
        push_valid_utf8(&mut out, &data[start..]);
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn only_lwsp(data: &[u8]) -> bool {
    data.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// Decodes `charset?X?text?=` (the part after `=?`). Returns the bytes consumed and the charset.
fn decode_encoded<'a>(data: &'a [u8], out: &mut Vec<u8>) -> Option<(usize, &'a [u8])> {
    let mut q = [0usize; 3];
    let mut n = 0;
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'?' {
            q[n] = i;
            n += 1;
            if n == 3 {
                break;
            }
        }
        i += 1;
    }
    if n < 3 || data.get(i + 1) != Some(&b'=') {
        return None;
    }
    let text = &data[q[1] + 1..q[2]];
    match data.get(q[0] + 1).copied() {
        Some(b'q' | b'Q') => q_decode(text, out),
        Some(b'b' | b'B') => base64_prefix(text, out),
        _ => return None,
    }
    Some((q[2] + 2, &data[..q[0]]))
}

/// RFC 2047 "Q": `_` is a space, `=XX` a byte; a broken `=` is kept.
fn q_decode(text: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'_' => out.push(b' '),
            b'=' => {
                if let (Some(h), Some(l)) = (
                    text.get(i + 1).and_then(|&c| hex(c)),
                    text.get(i + 2).and_then(|&c| hex(c)),
                ) {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                out.push(b'=');
            }
            c => out.push(c),
        }
        i += 1;
    }
}

/// The value of a hex digit.
pub(crate) fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The value of a base64 digit.
pub(crate) fn b64(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Base64 up to the first padding or invalid byte ("show what we got so far").
fn base64_prefix(text: &[u8], out: &mut Vec<u8>) {
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in text {
        let Some(v) = b64(c) else { break };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacent_words_lose_the_space_between() {
        assert_eq!(
            decode_header_utf8(
                b"=?iso-8859-1?q?=C4pfel_und_Birnen?= =?ISO-8859-1?B?ZvxyIGRpY2g=?="
            ),
            "Äpfel und Birnenfür dich"
        );
    }

    #[test]
    fn folding_is_kept_and_plain_text_validated() {
        assert_eq!(decode_header_utf8(b"a\n b \xe9"), "a\n b \u{FFFD}");
    }

    #[test]
    fn broken_word_is_left_as_text() {
        assert_eq!(
            decode_header_utf8(b"=?utf-8?x?abc?= x"),
            "=?utf-8?x?abc?= x"
        );
        assert_eq!(decode_header_utf8(b"=?utf-8?q?abc"), "=?utf-8?q?abc");
    }

    #[test]
    fn koi8_r_word() {
        assert_eq!(decode_header_utf8(b"=?koi8-r?B?8NLJ18XU?="), "Привет");
    }
}
