//! Multi-byte charsets (Shift_JIS, EUC-JP, ISO-2022-JP, GB2312/GBK, GB18030, Big5, EUC-KR and
//! the three single-byte ones mail-parser has no table for: windows-874, IBM866,
//! x-mac-cyrillic), decoded with encoding_rs and
//! corrected where glibc's iconv — which Dovecot uses — maps a byte sequence to another
//! character than the WHATWG tables do.
//!
//! The corrections were found by decoding every one- and two-byte sequence with both glibc
//! 2.36's iconv and encoding_rs; Dovecot itself was run on the Shift_JIS ones
//! (`crates/pn/tests/charsets_dovecot.rs`). Only differences where glibc gives a real character
//! are followed: where glibc gives a private-use code point (Big5's ETEN rows, GB18030 0xA3A0)
//! the WHATWG character is kept. Sequences glibc rejects but the WHATWG superset decodes (CP932
//! extensions in Shift_JIS, GBK in GB2312, UHC in EUC-KR, HKSCS in Big5) are decoded; Dovecot
//! shows U+FFFD (or C1 controls) for them. Every correction is a plain code point swap, checked
//! to be unambiguous: no other sequence decodes to the WHATWG character.
//!
//! Errors: an invalid sequence gives U+FFFD as iconv's EILSEQ does in Dovecot's
//! `charset_to_utf8`, which skips only the sequence's first byte (so decoding restarts at the
//! second one) and writes a single U+FFFD for a run of them; an incomplete sequence at the very
//! end is dropped, as Dovecot drops it. ISO-2022-JP: two escape sequences in a row are
//! fine for glibc but an error for WHATWG (Python, for one, writes `ESC ( B` at the end of every
//! encoded string, so concatenated texts have them), so the first of the two is dropped.

use encoding_rs::{
    BIG5, Decoder, DecoderResult, EUC_JP, EUC_KR, Encoding, GB18030, GBK, IBM866, ISO_2022_JP,
    SHIFT_JIS, WINDOWS_874, X_MAC_CYRILLIC,
};

/// glibc's `SJIS`: JIS X 0201 Roman in the single-byte range, plus the JIS X 0208 differences.
const SJIS: &[(char, char)] = &[
    ('\u{5C}', '\u{A5}'),
    ('\u{7E}', '\u{203E}'),
    ('\u{FF5E}', '\u{301C}'),
    ('\u{2225}', '\u{2016}'),
    ('\u{FF0D}', '\u{2212}'),
    ('\u{FFE0}', '\u{A2}'),
    ('\u{FFE1}', '\u{A3}'),
    ('\u{FFE2}', '\u{AC}'),
];

/// glibc's JIS X 0208 table (EUC-JP, ISO-2022-JP) against WHATWG's (which follows CP932).
const JIS0208: &[(char, char)] = &[
    ('\u{FF5E}', '\u{301C}'),
    ('\u{2225}', '\u{2016}'),
    ('\u{FF0D}', '\u{2212}'),
    ('\u{FFE0}', '\u{A2}'),
    ('\u{FFE1}', '\u{A3}'),
    ('\u{FFE2}', '\u{AC}'),
];

/// glibc's `EUC-CN` (GB2312) against WHATWG's GBK.
const GB2312: &[(char, char)] = &[('\u{B7}', '\u{30FB}'), ('\u{2014}', '\u{2015}')];

/// glibc's GB18030 maps six two-byte codes to CJK Extension B, WHATWG to private use.
const GB18030_FIX: &[(char, char)] = &[
    ('\u{E816}', '\u{20087}'),
    ('\u{E817}', '\u{20089}'),
    ('\u{E818}', '\u{200CC}'),
    ('\u{E831}', '\u{215D7}'),
    ('\u{E83B}', '\u{2298F}'),
    ('\u{E855}', '\u{241FE}'),
];

/// glibc's `BIG5` 0xF9FE.
const BIG5_FIX: &[(char, char)] = &[('\u{FFED}', '\u{2593}')];

/// glibc's `MAC-CYRILLIC` 0xFF.
const MAC_CYRILLIC_FIX: &[(char, char)] = &[('\u{20AC}', '\u{A4}')];

/// WHATWG's windows-874 turns its undefined bytes into C1 controls, glibc rejects them.
const WINDOWS_874_FIX: &[(char, char)] = &[
    ('\u{81}', '\u{FFFD}'),
    ('\u{82}', '\u{FFFD}'),
    ('\u{83}', '\u{FFFD}'),
    ('\u{84}', '\u{FFFD}'),
    ('\u{86}', '\u{FFFD}'),
    ('\u{87}', '\u{FFFD}'),
    ('\u{88}', '\u{FFFD}'),
    ('\u{89}', '\u{FFFD}'),
    ('\u{8A}', '\u{FFFD}'),
    ('\u{8B}', '\u{FFFD}'),
    ('\u{8C}', '\u{FFFD}'),
    ('\u{8D}', '\u{FFFD}'),
    ('\u{8E}', '\u{FFFD}'),
    ('\u{8F}', '\u{FFFD}'),
    ('\u{90}', '\u{FFFD}'),
    ('\u{98}', '\u{FFFD}'),
    ('\u{99}', '\u{FFFD}'),
    ('\u{9A}', '\u{FFFD}'),
    ('\u{9B}', '\u{FFFD}'),
    ('\u{9C}', '\u{FFFD}'),
    ('\u{9D}', '\u{FFFD}'),
    ('\u{9E}', '\u{FFFD}'),
    ('\u{9F}', '\u{FFFD}'),
];

/// The encodings decoded here rather than with mail-parser's tables.
const HANDLED: [&Encoding; 10] = [
    SHIFT_JIS,
    EUC_JP,
    ISO_2022_JP,
    GBK,
    GB18030,
    BIG5,
    EUC_KR,
    WINDOWS_874,
    IBM866,
    X_MAC_CYRILLIC,
];

/// A multi-byte charset: the WHATWG encoding and glibc's corrections for the name used.
#[derive(Clone, Copy)]
pub(crate) struct Multi {
    encoding: &'static Encoding,
    fixes: &'static [(char, char)],
}

impl Multi {
    /// The charset for a name, when it is one decoded here.
    pub(crate) fn lookup(name: &[u8]) -> Option<Multi> {
        // glibc names WHATWG does not know
        const ALIASES: [(&[u8], &Encoding); 9] = [
            (b"cp932", SHIFT_JIS),
            (b"eucjp", EUC_JP),
            (b"ujis", EUC_JP),
            (b"euc-cn", GBK),
            (b"euckr", EUC_KR),
            (b"cp949", EUC_KR),
            (b"uhc", EUC_KR),
            (b"mac-cyrillic", X_MAC_CYRILLIC),
            (b"maccyrillic", X_MAC_CYRILLIC),
        ];
        let encoding = ALIASES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, e)| e)
            .or_else(|| Encoding::for_label_no_replacement(name))?;
        if !HANDLED.contains(&encoding) {
            return None;
        }
        let is = |names: &[&[u8]]| names.iter().any(|n| n.eq_ignore_ascii_case(name));
        let fixes = if encoding == SHIFT_JIS {
            // CP932 / Windows-31J are Microsoft's table in glibc too, which WHATWG follows.
            if is(&[b"cp932", b"windows-31j", b"ms932"]) {
                &[]
            } else {
                SJIS
            }
        } else if encoding == EUC_JP || encoding == ISO_2022_JP {
            JIS0208
        } else if encoding == GBK {
            // "gbk", "cp936" and friends are GBK in glibc too; the GB2312 names are EUC-CN.
            if is(&[b"gb2312", b"csgb2312", b"euc-cn", b"gb_2312-80", b"chinese"]) {
                GB2312
            } else {
                &[]
            }
        } else if encoding == GB18030 {
            GB18030_FIX
        } else if encoding == BIG5 && !is(&[b"big5-hkscs"]) {
            BIG5_FIX
        } else if encoding == X_MAC_CYRILLIC {
            MAC_CYRILLIC_FIX
        } else if encoding == WINDOWS_874 {
            WINDOWS_874_FIX
        } else {
            &[]
        };
        Some(Multi { encoding, fixes })
    }

    /// A streaming decoder.
    pub(crate) fn decoder(self) -> MultiDecoder {
        MultiDecoder {
            encoding: self.encoding,
            decoder: self.encoding.new_decoder_without_bom_handling(),
            fixes: self.fixes,
            text: String::new(),
            iso2022: (self.encoding == ISO_2022_JP).then(Vec::new),
            filtered: Vec::new(),
            replaced: false,
        }
    }

    /// Decodes a whole input (an encoded word), dropping an incomplete sequence at its end.
    pub(crate) fn decode_into(self, input: &[u8], out: &mut Vec<u8>) {
        self.decoder().feed(input, out);
    }
}

/// Decodes chunk by chunk: a character split between two chunks is completed by the next one.
pub(crate) struct MultiDecoder {
    encoding: &'static Encoding,
    decoder: Decoder,
    fixes: &'static [(char, char)],
    text: String,
    /// ISO-2022-JP only: an escape sequence (or its start) at the end of the last chunk, held
    /// back until it is known whether another one follows.
    iso2022: Option<Vec<u8>>,
    filtered: Vec<u8>,
    /// Whether the last character written was U+FFFD.
    replaced: bool,
}

impl MultiDecoder {
    /// Decodes the next chunk, appending UTF-8 to `out`. Bytes of an incomplete character at
    /// the end wait for the next chunk (and are dropped if none comes).
    pub(crate) fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut filtered = std::mem::take(&mut self.filtered);
        let input = match self.iso2022.as_mut() {
            Some(pending) => {
                pending.extend_from_slice(input);
                filtered.clear();
                let keep = drop_doubled_escapes(pending, &mut filtered);
                pending.drain(..pending.len() - keep);
                &filtered[..]
            }
            None => input,
        };
        self.decode(input, out);
        self.filtered = filtered;
    }

    fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut pos = 0;
        while pos < input.len() {
            let rest = &input[pos..];
            self.text.clear();
            let need = self
                .decoder
                .max_utf8_buffer_length_without_replacement(rest.len())
                .unwrap_or(rest.len().saturating_mul(3).saturating_add(16));
            self.text.reserve(need);
            let (result, read) =
                self.decoder
                    .decode_to_string_without_replacement(rest, &mut self.text, false);
            self.write_text(out);
            match result {
                DecoderResult::InputEmpty => break,
                // (only when the size hint above was too small)
                DecoderResult::OutputFull => pos += read,
                DecoderResult::Malformed(bad, after) => {
                    self.write_char(char::REPLACEMENT_CHARACTER, out);
                    let end = (pos + read).saturating_sub(usize::from(after));
                    let from = pos;
                    pos = if self.iso2022.is_some() {
                        end
                    } else {
                        // glibc's iconv fails at the sequence's first byte, and Dovecot goes on
                        // after that byte alone: a fresh decoder (these are stateless between
                        // characters) starts again at the second one. A first byte left from the
                        // previous chunk is already gone.
                        self.decoder = self.encoding.new_decoder_without_bom_handling();
                        (end + 1).saturating_sub(usize::from(bad)).max(pos)
                    };
                    if pos == from && read == 0 && self.iso2022.is_some() {
                        // never stand still, whatever the decoder reports (the others start
                        // afresh, so they cannot report the same error twice)
                        pos += 1;
                    }
                }
            }
        }
    }

    /// Writes the decoded text with glibc's mappings.
    fn write_text(&mut self, out: &mut Vec<u8>) {
        let text = std::mem::take(&mut self.text);
        for c in text.chars() {
            let c = self
                .fixes
                .iter()
                .find(|(from, _)| *from == c)
                .map_or(c, |&(_, to)| to);
            self.write_char(c, out);
        }
        self.text = text;
    }

    /// Writes one character; U+FFFD only when the last one was not U+FFFD.
    fn write_char(&mut self, c: char, out: &mut Vec<u8>) {
        let replacement = c == char::REPLACEMENT_CHARACTER;
        if !(replacement && self.replaced) {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        self.replaced = replacement;
    }
}

/// Copies ISO-2022-JP bytes to `out` without each escape sequence that is directly followed by
/// another one; returns how many bytes at the end wait for more input (an escape sequence that
/// may be followed by another, or an incomplete one).
fn drop_doubled_escapes(data: &[u8], out: &mut Vec<u8>) -> usize {
    const ESC: u8 = 0x1b;
    let mut i = 0;
    while i < data.len() {
        let Some(at) = memchr::memchr(ESC, &data[i..]) else {
            out.extend_from_slice(&data[i..]);
            return 0;
        };
        out.extend_from_slice(&data[i..i + at]);
        i += at;
        // ESC ( X and ESC $ X are three bytes; anything else is left to the decoder.
        let len = match data.get(i + 1) {
            None => return data.len() - i,
            Some(b'(' | b'$') => 3,
            Some(_) => 2,
        };
        if i + len > data.len() {
            return data.len() - i;
        }
        match data.get(i + len) {
            None => return data.len() - i,
            Some(&ESC) if len == 3 => {}
            Some(_) => out.extend_from_slice(&data[i..i + len]),
        }
        i += len;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(name: &str, input: &[u8]) -> String {
        let mut out = Vec::new();
        Multi::lookup(name.as_bytes())
            .expect(name)
            .decode_into(input, &mut out);
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn shift_jis_follows_glibc() {
        assert_eq!(
            decode(
                "Shift_JIS",
                b"a\x5c\x7e\x81\x5f\x81\x60\x87\x40 x\x81\x20y\xff z\x82"
            ),
            "a¥‾＼〜① x\u{FFFD} y\u{FFFD} z"
        );
        assert_eq!(decode("cp932", b"\x5c\x7e\x81\x60"), "\\~～");
    }

    #[test]
    fn split_characters_are_joined() {
        let m = Multi::lookup(b"euc-jp").expect("euc-jp");
        let mut d = m.decoder();
        let mut out = Vec::new();
        d.feed(b"\xc6\xfc\xcb", &mut out);
        d.feed(b"\xdc", &mut out);
        assert_eq!(String::from_utf8(out).expect("UTF-8"), "日本");
    }

    #[test]
    fn invalid_sequence_split_between_chunks() {
        let m = Multi::lookup(b"shift_jis").expect("shift_jis");
        let mut d = m.decoder();
        let mut out = Vec::new();
        d.feed(b"a\x81", &mut out);
        d.feed(b" b\x82", &mut out);
        d.feed(b"\xa0c", &mut out);
        assert_eq!(String::from_utf8(out).expect("UTF-8"), "a\u{FFFD} bあc");
    }

    #[test]
    fn iso_2022_jp_state_carries_over() {
        let m = Multi::lookup(b"ISO-2022-JP").expect("iso-2022-jp");
        let mut d = m.decoder();
        let mut out = Vec::new();
        d.feed(b"\x1b$B\x46\x7c", &mut out);
        d.feed(b"\x4b\x5c\x1b(B!", &mut out);
        assert_eq!(String::from_utf8(out).expect("UTF-8"), "日本!");
    }

    #[test]
    fn repeated_escapes_and_invalid_runs() {
        let m = Multi::lookup(b"iso-2022-jp").expect("iso-2022-jp");
        let mut d = m.decoder();
        let mut out = Vec::new();
        d.feed(b"\x1b$B\x46\x7c\x1b(B", &mut out);
        d.feed(b"\x1b$B\x4b\x5c\x1b(B\x1b(B\x1b(Ba", &mut out);
        assert_eq!(String::from_utf8(out).expect("UTF-8"), "日本a");
        assert_eq!(
            decode("shift_jis", b"a\xff\xff\x81\x20b\xffc"),
            "a\u{FFFD} b\u{FFFD}c"
        );
    }

    #[test]
    fn other_charsets() {
        assert_eq!(decode("GB2312", b"\xd6\xd0\xa1\xa4\xa1\xaa"), "中・―");
        assert_eq!(decode("GBK", b"\xd6\xd0\xa1\xa4\xa1\xaa"), "中·—");
        assert_eq!(decode("Big5", b"\xa4\xa4\xf9\xfe"), "中▓");
        assert_eq!(decode("EUC-KR", b"\xc7\xd1"), "한");
        assert_eq!(decode("ks_c_5601-1987", b"\xc7\xd1"), "한");
        assert_eq!(decode("gb18030", b"\xfe\x51"), "\u{20087}");
        assert!(Multi::lookup(b"iso-8859-2").is_none());
        assert_eq!(decode("windows-874", b"\xa1\x81\x82"), "ก\u{FFFD}");
        assert_eq!(decode("x-mac-cyrillic", b"\xff"), "¤");
    }
}
