//! The body snippet, as Dovecot's `message_snippet_generate` (algorithm version 1) builds it.
//!
//! Pipeline, all streaming and stopped as soon as the snippet is full: the text part chosen by
//! [`crate::mime`] → transfer decoding ([`crate::transfer`]) → charset conversion
//! ([`crate::charset`], mail-parser's and encoding_rs's tables) → HTML to text for `text/html` and
//! `application/xhtml+xml` ([`crate::html`]) → the snippet rules below.
//!
//! Snippet rules (`message-snippet.c`): at most 200 characters; whitespace (C `isspace`) only
//! marks that a space is due before the next character, so runs collapse and leading
//! whitespace vanishes, and a due space is dropped when it would be the last character; a line
//! starting with `>` is quoted text and goes to a separate quoted snippet (at most 199
//! characters), used as `>` + text only when there is no unquoted text; NULs and UTF-8 BOMs
//! are skipped. A part whose Content-Type is not `text/*` (decoder's view) or whose transfer
//! encoding is unknown gives `""`.

use crate::charset::{Charset, incomplete_utf8_tail};
use crate::html::Html2Text;
use crate::mime::Scanner;
use crate::mime_fields::Cte;
use crate::transfer::TransferDecoder;

/// Dovecot's `BODY_SNIPPET_MAX_CHARS`.
pub const SNIPPET_MAX_CHARS: u32 = 200;

/// Raw bytes read from the message in the first step; each further step reads twice as much.
const FIRST_CHUNK: usize = 512;
/// The most raw bytes read in one step.
const MAX_CHUNK: usize = 64 * 1024;

/// The snippet of a raw message (`""` when it has no text part).
pub(crate) fn snippet(message: &[u8]) -> String {
    let mut scanner = Scanner::new(message);
    let Some(id) = scanner.find_text_part() else {
        return String::new();
    };
    let decoding = scanner.parts[id].decoding.clone();
    let is_html = match &decoding.content_type {
        None => false,
        Some(ct) => {
            let html = ct.eq_ignore_ascii_case(b"text/html")
                || ct.eq_ignore_ascii_case(b"application/xhtml+xml");
            let text = ct.len() >= 5 && ct[..5].eq_ignore_ascii_case(b"text/");
            if !html && !text {
                return String::new();
            }
            html
        }
    };
    if decoding.cte == Cte::Unknown {
        return String::new();
    }
    let charset = decoding
        .charset
        .as_deref()
        .map_or(Charset::Utf8, Charset::lookup);

    let mut body = scanner.body_reader(id);
    let mut generator = SnippetGen::new(SNIPPET_MAX_CHARS);
    let mut transfer = TransferDecoder::new(decoding.cte);
    let mut html = is_html.then(Html2Text::new);
    let mut decoded = Vec::new();
    let mut carry: Vec<u8> = Vec::new();
    let mut multi = match charset {
        Charset::Multi(m) => Some(m.decoder()),
        _ => None,
    };
    let mut utf8 = Vec::new();
    let mut text = Vec::new();
    // Small first reads: a snippet is usually full after a few hundred bytes.
    let mut chunk = FIRST_CHUNK;
    while let Some(raw) = body.next_chunk(chunk) {
        chunk = (chunk * 2).min(MAX_CHUNK);
        let fast = decoding.cte == Cte::Identity
            && matches!(charset, Charset::Utf8)
            && carry.is_empty()
            && incomplete_utf8_tail(raw) == 0
            && std::str::from_utf8(raw).is_ok();
        let input: &[u8] = if fast {
            raw
        } else {
            decoded.clear();
            decoded.append(&mut carry);
            transfer.feed(raw, &mut decoded);
            utf8.clear();
            if let Some(m) = multi.as_mut() {
                // the decoder keeps an incomplete character (and ISO-2022-JP's state) itself
                m.feed(&decoded, &mut utf8);
            } else {
                // keep what may be an incomplete character for the next round
                let keep = match charset {
                    Charset::Utf8 => incomplete_utf8_tail(&decoded),
                    _ => 0,
                };
                carry.extend_from_slice(&decoded[decoded.len() - keep..]);
                decoded.truncate(decoded.len() - keep);
                charset.decode_into(&decoded, &mut utf8);
            }
            &utf8
        };
        let more = match html.as_mut() {
            Some(h) => {
                text.clear();
                h.feed(input, &mut text);
                generator.feed(&text)
            }
            None => generator.feed(input),
        };
        if !more {
            return generator.finish();
        }
    }
    // An incomplete multi-byte character at the end is dropped, as Dovecot drops it; an
    // incomplete UTF-8 one becomes U+FFFD.
    if !carry.is_empty() {
        utf8.clear();
        charset.decode_into(&carry, &mut utf8);
        match html.as_mut() {
            Some(h) => {
                text.clear();
                h.feed(&utf8, &mut text);
                generator.feed(&text);
            }
            None => {
                generator.feed(&utf8);
            }
        }
    }
    generator.finish()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LineState {
    Newline,
    Normal,
    Quoted,
}

struct Target {
    text: Vec<u8>,
    chars_left: u32,
}

/// The snippet state machine.
pub(crate) struct SnippetGen {
    snippet: Target,
    quoted: Target,
    state: LineState,
    add_whitespace: bool,
}

fn c_isspace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn utf8_char_len(c: u8) -> usize {
    match c {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        0xF8..=0xFB => 5,
        0xFC..=0xFD => 6,
        _ => 1,
    }
}

impl SnippetGen {
    /// A generator for at most `max_chars` characters.
    pub(crate) fn new(max_chars: u32) -> Self {
        SnippetGen {
            snippet: Target {
                text: Vec::with_capacity(256),
                chars_left: max_chars,
            },
            quoted: Target {
                text: Vec::new(),
                chars_left: max_chars.saturating_sub(1),
            },
            state: LineState::Newline,
            add_whitespace: false,
        }
    }

    /// Feeds valid UTF-8 text; returns `false` once the snippet is full.
    pub(crate) fn feed(&mut self, data: &[u8]) -> bool {
        let mut i = 0;
        while i < data.len() {
            if self.state == LineState::Newline {
                if data[i] == b'>' {
                    self.state = LineState::Quoted;
                    i += 1;
                    if i >= data.len() {
                        break;
                    }
                } else {
                    self.state = LineState::Normal;
                }
            }
            if self.state == LineState::Normal {
                let c = data[i];
                if c == b' ' {
                    // the common whitespace, inline
                    if !self.snippet.text.is_empty() {
                        self.add_whitespace = true;
                    }
                    i += 1;
                    continue;
                }
                if c > b' ' && c < 0x7f {
                    // fast path: a run of printable ASCII, one character per byte
                    let run = data[i..]
                        .iter()
                        .position(|&b| b <= b' ' || b >= 0x7f)
                        .unwrap_or(data.len() - i);
                    if self.add_whitespace {
                        if self.snippet.chars_left <= 1 {
                            // no room for the space and a character: the snippet is full
                            self.snippet.chars_left = 0;
                            return false;
                        }
                        self.snippet.text.push(b' ');
                        self.snippet.chars_left -= 1;
                        self.add_whitespace = false;
                    }
                    let n = run.min(self.snippet.chars_left as usize);
                    self.snippet.text.extend_from_slice(&data[i..i + n]);
                    self.snippet.chars_left -= n as u32;
                    if self.snippet.chars_left == 0 {
                        return false;
                    }
                    i += n;
                    continue;
                }
            }
            let count = self.add_content(&data[i..]);
            if self.snippet.chars_left == 0 {
                return false;
            }
            i += count;
        }
        true
    }

    /// One character (or skipped byte) into the current target; returns the bytes consumed.
    fn add_content(&mut self, data: &[u8]) -> usize {
        if data.len() >= 3 && (data[..3] == [0xEF, 0xBB, 0xBF] || data[..3] == [0xBF, 0xBB, 0xEF]) {
            return 3;
        }
        let c = data[0];
        if c == 0 {
            return 1;
        }
        let quoted = self.state == LineState::Quoted;
        if c_isspace(c) {
            let target = if quoted { &self.quoted } else { &self.snippet };
            if !target.text.is_empty() {
                self.add_whitespace = true;
            }
            if c == b'\n' {
                self.state = LineState::Newline;
            }
            return 1;
        }
        let add_whitespace = &mut self.add_whitespace;
        let target = if quoted {
            &mut self.quoted
        } else {
            &mut self.snippet
        };
        if target.chars_left == 0 {
            return 1;
        }
        target.chars_left -= 1;
        if *add_whitespace {
            if target.chars_left == 0 {
                // no trailing space; the character itself is not added either
                return 1;
            }
            target.text.push(b' ');
            *add_whitespace = false;
            target.chars_left -= 1;
        }
        let n = utf8_char_len(c).min(data.len());
        target.text.extend_from_slice(&data[..n]);
        n
    }

    /// The snippet text.
    pub(crate) fn finish(self) -> String {
        let trim = |t: &[u8]| -> Vec<u8> {
            let start = t.iter().position(|&c| !c_isspace(c)).unwrap_or(t.len());
            t[start..].to_vec()
        };
        let out = if !self.snippet.text.is_empty() {
            trim(&self.snippet.text)
        } else if !self.quoted.text.is_empty() {
            let mut v = vec![b'>'];
            v.extend_from_slice(&trim(&self.quoted.text));
            v
        } else {
            Vec::new()
        };
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generate(text: &str) -> String {
        let mut g = SnippetGen::new(SNIPPET_MAX_CHARS);
        g.feed(text.as_bytes());
        g.finish()
    }

    #[test]
    fn whitespace_collapses_and_is_trimmed() {
        assert_eq!(generate("\n  \n\t a   b \n c  \n"), "a b c");
    }

    #[test]
    fn quoted_lines_are_skipped() {
        assert_eq!(generate("> q1\nreal\n>> q2\nmore"), "real more");
    }

    #[test]
    fn only_quoted_text_gives_marker() {
        assert_eq!(
            generate("> Only quoted line one.\n> Only quoted line two.\n"),
            ">Only quoted line one. Only quoted line two."
        );
    }

    #[test]
    fn limit_counts_characters_and_drops_trailing_space() {
        let words: Vec<String> = (1..=120).map(|i| format!("w{i:03}")).collect();
        let s = generate(&words.join(" "));
        assert_eq!(s.chars().count(), 199);
        assert!(s.ends_with("w040"));
        let s = generate(&"ä".repeat(300));
        assert_eq!(s.chars().count(), 200);
    }

    #[test]
    fn nul_and_bom_are_skipped() {
        assert_eq!(generate("\u{feff}a\0b"), "ab");
    }
}
