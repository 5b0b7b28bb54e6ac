//! HTML to text as Dovecot's `mail-html2text` (flags 0) does it for snippets.
//!
//! Own code: mail-parser's `html_to_text` collapses whitespace, decodes entities and handles
//! tags differently; the snippet must match Dovecot's bytes. Dovecot's rules:
//! - tags are dropped; after a tag (and after `</script>` / `</style>`) a space is added unless
//!   the output is empty or already ends with a space or LF; comments end without a space;
//! - `<script>`, `<style>`, comments and `<![CDATA[` … `]]>` (whose text is kept) are special;
//! - inside `<blockquote>` every tag end emits `\n>` (so the snippet treats it as quoted), and
//!   `</blockquote>` emits a line break;
//! - `&name;` (names of at most 9 bytes, case-sensitive) and `&#NNN;` / `&#xHHH;` are
//!   decoded, an unknown entity is dropped, a broken one (whitespace or too long) drops only the
//!   `&`; `&nbsp;` is U+00A0, not whitespace;
//! - input that needs more lookahead than is available at the end of the part is dropped.
//!
//! Deviation: Dovecot restarts its "output is empty" check for every decoded block it is fed
//! (about 8 KiB); here the output is continuous, which only differs by one space at a block
//! boundary.

use crate::entities::ENTITIES;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Text,
    Tag,
    TagDquoted,
    TagDquotedEscape,
    TagSquoted,
    TagSquotedEscape,
    Comment,
    CommentEnd,
    Script,
    Style,
    Cdata,
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// A streaming HTML-to-text converter.
pub(crate) struct Html2Text {
    state: State,
    quote_level: u32,
    add_newline: bool,
    /// Unparsed input waiting for more lookahead.
    pending: Vec<u8>,
    /// The last byte written, for the "add a space" rule.
    last_out: Option<u8>,
}

impl Html2Text {
    /// A converter at the start of a document.
    pub(crate) fn new() -> Self {
        Html2Text {
            state: State::Text,
            quote_level: 0,
            add_newline: false,
            pending: Vec::new(),
            last_out: None,
        }
    }

    /// Converts more input, appending text to `out`.
    pub(crate) fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if self.pending.is_empty() {
            let used = self.parse(input, out);
            self.pending.extend_from_slice(&input[used..]);
        } else {
            let mut buf = std::mem::take(&mut self.pending);
            buf.extend_from_slice(input);
            let used = self.parse(&buf, out);
            buf.drain(..used);
            self.pending = buf;
        }
    }

    fn push(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        if let Some(&last) = bytes.last() {
            out.extend_from_slice(bytes);
            self.last_out = Some(last);
        }
    }

    fn add_space(&mut self, out: &mut Vec<u8>) {
        if matches!(self.last_out, Some(c) if c != b' ' && c != b'\n') {
            self.push(out, b" ");
        }
    }

    /// Returns the number of input bytes consumed; the rest needs more lookahead.
    fn parse(&mut self, data: &[u8], out: &mut Vec<u8>) -> usize {
        let size = data.len();
        let mut i = 0;
        while i < size {
            let c = data[i];
            match self.state {
                State::Text => {
                    if c == b'<' {
                        let ret = self.parse_tag_name(&data[i + 1..]);
                        if ret == 0 {
                            return i;
                        }
                        i += ret - 1;
                    } else if c == b'&' {
                        let ret = parse_entity(&data[i + 1..], out, &mut self.last_out);
                        if ret == 0 {
                            return i;
                        }
                        i += ret - 1;
                    } else {
                        // a run of plain text
                        let run = data[i..]
                            .iter()
                            .position(|&b| b == b'<' || b == b'&')
                            .unwrap_or(size - i);
                        self.push(out, &data[i..i + run]);
                        i += run;
                        continue;
                    }
                }
                State::Tag => {
                    // skip the tag's name and attributes up to a quote or its end
                    if !matches!(c, b'"' | b'\'' | b'>') {
                        i += memchr::memchr3(b'"', b'\'', b'>', &data[i..]).unwrap_or(size - i);
                        continue;
                    }
                    if c == b'"' {
                        self.state = State::TagDquoted;
                    } else if c == b'\'' {
                        self.state = State::TagSquoted;
                    } else if c == b'>' {
                        self.state = State::Text;
                        if self.quote_level > 0 {
                            self.push(out, b"\n>");
                        } else if self.add_newline {
                            self.push(out, b"\n");
                        }
                        self.add_newline = false;
                        self.add_space(out);
                    }
                }
                State::TagDquoted => {
                    if c == b'"' {
                        self.state = State::Tag;
                    } else if c == b'\\' {
                        self.state = State::TagDquotedEscape;
                    }
                }
                State::TagDquotedEscape => self.state = State::TagDquoted,
                State::TagSquoted => {
                    if c == b'\'' {
                        self.state = State::Tag;
                    } else if c == b'\\' {
                        self.state = State::TagSquotedEscape;
                    }
                }
                State::TagSquotedEscape => self.state = State::TagSquoted,
                State::Comment => {
                    if c == b'-' {
                        if i + 1 == size {
                            return i;
                        }
                        if data[i + 1] == b'-' {
                            self.state = State::CommentEnd;
                            i += 1;
                        }
                    }
                }
                State::CommentEnd => {
                    if c == b'>' {
                        self.state = State::Text;
                    } else if !is_ws(c) {
                        self.state = State::Comment;
                    }
                }
                State::Script | State::Style => {
                    let end: &[u8] = if self.state == State::Script {
                        b"</script>"
                    } else {
                        b"</style>"
                    };
                    if c == b'<' {
                        let n = (size - i).min(end.len());
                        if data[i..i + n].eq_ignore_ascii_case(&end[..n]) {
                            if n < end.len() {
                                return i;
                            }
                            self.add_space(out);
                            self.state = State::Text;
                            i += end.len() - 1;
                        }
                    }
                }
                State::Cdata => {
                    if c == b']' {
                        let n = (size - i).min(3);
                        if data[i..i + n] == b"]]>"[..n] {
                            if n < 3 {
                                return i;
                            }
                            self.state = State::Text;
                            i += 3;
                            continue;
                        }
                    }
                    self.push(out, &[c]);
                }
            }
            i += 1;
        }
        i.min(size)
    }

    /// Looks at a tag name (`data` follows `<`). Returns how far to advance from the `<`
    /// (at least 1), or 0 when more input is needed.
    fn parse_tag_name(&mut self, data: &[u8]) -> usize {
        let size = data.len();
        let name_is = |name: &[u8]| -> bool {
            size > name.len()
                && data[..name.len()].eq_ignore_ascii_case(name)
                && (is_ws(data[name.len()]) || data[name.len()] == b'>')
        };
        if data.starts_with(b"!--") {
            self.state = State::Comment;
            return 4;
        }
        if name_is(b"script") {
            self.state = State::Script;
            return 8;
        }
        if name_is(b"style") {
            self.state = State::Style;
            return 7;
        }
        if size >= 8 && data[..8].eq_ignore_ascii_case(b"![CDATA[") {
            self.state = State::Cdata;
            return 9;
        }
        if name_is(b"blockquote") {
            self.quote_level += 1;
            self.state = State::Tag;
            return 1;
        } else if self.quote_level > 0
            && size >= 12
            && data[..12].eq_ignore_ascii_case(b"/blockquote>")
        {
            self.quote_level -= 1;
            self.add_newline = true;
            self.state = State::Tag;
            return 1;
        }
        if size < 12 && !data.iter().any(|&c| is_ws(c) || c == b'>') {
            return 0;
        }
        self.state = State::Tag;
        1
    }
}

/// Decodes an entity (`data` follows `&`). Returns how far to advance from the `&`, or 0 when
/// more input is needed.
fn parse_entity(data: &[u8], out: &mut Vec<u8>, last_out: &mut Option<u8>) -> usize {
    let mut i = 0;
    while i < data.len() {
        if is_ws(data[i]) || i >= 10 {
            return 1; // broken entity: drop the '&'
        }
        if data[i] == b';' {
            break;
        }
        i += 1;
    }
    if i == data.len() {
        return 0;
    }
    if let Some(ch) = entity_char(&data[..i]) {
        let mut buf = [0u8; 4];
        let s = ch.encode_utf8(&mut buf).as_bytes();
        out.extend_from_slice(s);
        *last_out = s.last().copied();
    }
    i + 2
}

fn entity_char(name: &[u8]) -> Option<char> {
    // C string semantics: a NUL ends the name.
    let name = name.split(|&b| b == 0).next().unwrap_or_default();
    // the most common ones first, without a search
    let common = match name {
        b"amp" => Some('&'),
        b"nbsp" => Some('\u{a0}'),
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"quot" => Some('"'),
        _ => None,
    };
    if common.is_some() {
        return common;
    }
    if let Ok(idx) = ENTITIES.binary_search_by(|(n, _)| n.as_bytes().cmp(name)) {
        return char::from_u32(ENTITIES[idx].1);
    }
    let rest = name.strip_prefix(b"#")?;
    let hex = rest.strip_prefix(b"x").and_then(|h| parse_num(h, 16));
    let value = hex.or_else(|| parse_num(rest, 10))?;
    char::from_u32(value)
}

fn parse_num(digits: &[u8], radix: u32) -> Option<u32> {
    if digits.is_empty() {
        return None;
    }
    let mut v: u32 = 0;
    for &d in digits {
        let x = char::from(d).to_digit(radix)?;
        v = v.checked_mul(radix)?.checked_add(x)?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(html: &str) -> String {
        let mut h = Html2Text::new();
        let mut out = Vec::new();
        h.feed(html.as_bytes(), &mut out);
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn tags_become_spaces_and_entities_decode() {
        assert_eq!(
            convert("<p>Hello&nbsp;<b>bold</b> &amp; caf&eacute; &#228;&#x1F600;</p>"),
            "Hello\u{a0} bold  & café ä😀 "
        );
    }

    #[test]
    fn script_style_and_comments_are_dropped() {
        assert_eq!(
            convert("a<script>x<y</script>b<style>p{}</style>c<!-- z -->d"),
            "a b cd"
        );
    }

    #[test]
    fn unknown_and_broken_entities() {
        assert_eq!(convert("x&bogus;y &amp z &#xD800;w"), "xy amp z w");
    }

    #[test]
    fn blockquote_marks_lines_quoted() {
        assert_eq!(convert("<blockquote>q</blockquote>after"), "\n> q\nafter");
    }

    #[test]
    fn cdata_text_is_kept() {
        assert_eq!(convert("<![CDATA[a<b]]>c"), "a<bc");
    }

    #[test]
    fn split_input_waits_for_lookahead() {
        let mut h = Html2Text::new();
        let mut out = Vec::new();
        h.feed(b"a &am", &mut out);
        h.feed(b"p; <scr", &mut out);
        h.feed(b"ipt>x</script>b", &mut out);
        assert_eq!(String::from_utf8(out).expect("utf8"), "a & b");
    }
}
