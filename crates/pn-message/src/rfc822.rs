//! RFC 5322 / MIME lexical primitives with Dovecot's leniency (`lib-mail/rfc822-parser.c`).
//!
//! Own code, not mail-parser: the address, date and Content-Type rules Dovecot applies on top of
//! these primitives (what counts as a phrase, where a comment becomes a display name, how a
//! broken value degrades) differ from mail-parser's, and the exact degradation is observable in
//! the pushed data.
//!
//! Return values follow Dovecot: `1` = more input follows, `0` = end of input reached, `-1` =
//! syntax error. Reading past the end yields `0`, like the NUL terminator in C.

/// Character classes: 0 = not atext, 1 = atext, 2 = alnum or 8-bit, 4 = atext that is a MIME
/// tspecial (`/`, `=`, `?`).
const ATEXT: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0usize;
    while c < 256 {
        let b = c as u8;
        t[c] = if b.is_ascii_alphanumeric() || b >= 0x80 {
            2
        } else {
            match b {
                b'/' | b'=' | b'?' => 4,
                b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'^' | b'_'
                | b'`' | b'{' | b'|' | b'}' | b'~' => 1,
                _ => 0,
            }
        };
        c += 1;
    }
    t
};

/// Whether `c` is an RFC 5322 atext character (8-bit bytes included, as in Dovecot).
pub(crate) fn is_atext(c: u8) -> bool {
    ATEXT[c as usize] != 0
}

/// Whether `c` may appear in a MIME token.
fn is_token_char(c: u8) -> bool {
    ATEXT[c as usize] & 3 != 0 || c == b'.'
}

/// A cursor over a header value.
pub(crate) struct Parser<'a> {
    data: &'a [u8],
    pub(crate) pos: usize,
    /// The text of the last comment skipped, when tracked.
    pub(crate) last_comment: Option<Vec<u8>>,
}

impl<'a> Parser<'a> {
    /// A parser over `data`; `track_comments` keeps the last comment's text.
    pub(crate) fn new(data: &'a [u8], track_comments: bool) -> Self {
        Parser {
            data,
            pos: 0,
            last_comment: track_comments.then(Vec::new),
        }
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The current byte, `0` at the end.
    pub(crate) fn cur(&self) -> u8 {
        self.data.get(self.pos).copied().unwrap_or(0)
    }

    fn more(&self) -> i32 {
        i32::from(!self.at_end())
    }

    /// Skips a (nested) comment starting at `(`.
    fn skip_comment(&mut self) -> i32 {
        if let Some(c) = self.last_comment.as_mut() {
            c.clear();
        }
        let mut level = 1;
        self.pos += 1;
        let mut start = self.pos;
        while self.pos < self.data.len() {
            match self.data[self.pos] {
                b'(' => level += 1,
                b')' => {
                    level -= 1;
                    if level == 0 {
                        if let Some(c) = self.last_comment.as_mut() {
                            c.extend_from_slice(&self.data[start..self.pos]);
                        }
                        self.pos += 1;
                        return self.more();
                    }
                }
                b'\n' => {
                    if let Some(c) = self.last_comment.as_mut() {
                        let mut seg = &self.data[start..self.pos];
                        if let [rest @ .., b'\r'] = seg {
                            seg = rest;
                        }
                        c.extend_from_slice(seg);
                        start = self.pos + 1;
                    }
                }
                b'\\' => {
                    self.pos += 1;
                    if self.pos >= self.data.len() {
                        return -1;
                    }
                    if matches!(self.data[self.pos], b'\r' | b'\n' | 0) {
                        self.pos -= 1;
                    } else {
                        if let Some(c) = self.last_comment.as_mut() {
                            c.extend_from_slice(&self.data[start..self.pos - 1]);
                        }
                        start = self.pos;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        -1
    }

    /// Skips whitespace, line breaks and comments.
    pub(crate) fn skip_lwsp(&mut self) -> i32 {
        while self.pos < self.data.len() {
            match self.data[self.pos] {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'(' => {
                    if self.skip_comment() < 0 {
                        return -1;
                    }
                }
                _ => break,
            }
        }
        self.more()
    }

    /// `1*atext`, then CFWS.
    pub(crate) fn parse_atom(&mut self, out: &mut Vec<u8>) -> i32 {
        if self.at_end() || !is_atext(self.cur()) {
            return -1;
        }
        let start = self.pos;
        self.pos += 1;
        while self.pos < self.data.len() {
            if is_atext(self.data[self.pos]) {
                self.pos += 1;
                continue;
            }
            out.extend_from_slice(&self.data[start..self.pos]);
            return self.skip_lwsp();
        }
        out.extend_from_slice(&self.data[start..]);
        0
    }

    /// A dot-atom, allowing CFWS around the dots (RFC 822 compatibility).
    pub(crate) fn parse_dot_atom(&mut self, out: &mut Vec<u8>) -> i32 {
        if self.at_end() || !is_atext(self.cur()) {
            return -1;
        }
        let mut start = self.pos;
        self.pos += 1;
        while self.pos < self.data.len() {
            if is_atext(self.data[self.pos]) {
                self.pos += 1;
                continue;
            }
            if start == self.pos {
                return -1;
            }
            out.extend_from_slice(&self.data[start..self.pos]);
            let ret = self.skip_lwsp();
            if ret <= 0 {
                return ret;
            }
            if self.cur() != b'.' {
                return 1;
            }
            self.pos += 1;
            out.push(b'.');
            if self.skip_lwsp() <= 0 {
                return -1;
            }
            start = self.pos;
        }
        out.extend_from_slice(&self.data[start..]);
        0
    }

    /// A local part with lenient dots (Dovecot without `STRICT_DOTS`).
    pub(crate) fn parse_nonstrict_dot_atom(&mut self, out: &mut Vec<u8>) -> i32 {
        let mut ret = -1;
        loop {
            while self.cur() == b'.' {
                out.push(b'.');
                self.pos += 1;
                if self.at_end() {
                    return 0;
                }
                ret = 1;
            }
            if self.cur() == b'@' {
                break;
            }
            ret = self.parse_atom(out);
            if !(ret > 0 && self.cur() == b'.') {
                break;
            }
        }
        ret
    }

    /// A MIME token (atext without tspecials, plus `.`), then CFWS.
    pub(crate) fn parse_mime_token(&mut self, out: &mut Vec<u8>) -> i32 {
        let start = self.pos;
        while self.pos < self.data.len() {
            if is_token_char(self.data[self.pos]) {
                self.pos += 1;
                continue;
            }
            out.extend_from_slice(&self.data[start..self.pos]);
            return self.skip_lwsp();
        }
        out.extend_from_slice(&self.data[start..]);
        0
    }

    /// A quoted string starting at `"`: unescaped, folding removed.
    pub(crate) fn parse_quoted_string(&mut self, out: &mut Vec<u8>) -> i32 {
        self.pos += 1;
        let mut start = self.pos;
        while self.pos < self.data.len() {
            match self.data[self.pos] {
                b'"' => {
                    out.extend_from_slice(&self.data[start..self.pos]);
                    self.pos += 1;
                    return self.skip_lwsp();
                }
                b'\n' => {
                    let mut seg = &self.data[start..self.pos];
                    if let [rest @ .., b'\r'] = seg {
                        seg = rest;
                    }
                    out.extend_from_slice(seg);
                    start = self.pos + 1;
                }
                b'\\' => {
                    self.pos += 1;
                    if self.pos >= self.data.len() {
                        return -1;
                    }
                    if matches!(self.data[self.pos], b'\r' | b'\n' | 0) {
                        self.pos -= 1;
                    } else {
                        out.extend_from_slice(&self.data[start..self.pos - 1]);
                        start = self.pos;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        -1
    }

    fn parse_atom_or_dot(&mut self, out: &mut Vec<u8>) -> i32 {
        let start = self.pos;
        while self.pos < self.data.len() {
            let c = self.data[self.pos];
            if is_atext(c) || c == b'.' {
                self.pos += 1;
                continue;
            }
            out.extend_from_slice(&self.data[start..self.pos]);
            return self.skip_lwsp();
        }
        out.extend_from_slice(&self.data[start..]);
        0
    }

    /// A phrase (words joined by one space; obs-phrase dots allowed).
    pub(crate) fn parse_phrase(&mut self, out: &mut Vec<u8>) -> i32 {
        if self.at_end() {
            return 0;
        }
        if self.cur() == b'.' {
            return -1;
        }
        loop {
            let ret = if self.cur() == b'"' {
                self.parse_quoted_string(out)
            } else {
                self.parse_atom_or_dot(out)
            };
            if ret <= 0 {
                return ret;
            }
            let c = self.cur();
            if !is_atext(c) && c != b'"' && c != b'.' {
                break;
            }
            out.push(b' ');
        }
        self.skip_lwsp()
    }

    fn parse_domain_literal(&mut self, out: &mut Vec<u8>) -> i32 {
        let mut start = self.pos;
        self.pos += 1;
        while self.pos < self.data.len() {
            match self.data[self.pos] {
                b'[' => return -1,
                b']' => {
                    out.extend_from_slice(&self.data[start..=self.pos]);
                    self.pos += 1;
                    return self.skip_lwsp();
                }
                b'\n' => {
                    let mut seg = &self.data[start..self.pos];
                    if let [rest @ .., b'\r'] = seg {
                        seg = rest;
                    }
                    out.extend_from_slice(seg);
                    start = self.pos + 1;
                }
                b'\\' => {
                    self.pos += 1;
                    if self.pos >= self.data.len() {
                        return -1;
                    }
                    if matches!(self.data[self.pos], b'\r' | b'\n' | 0) {
                        out.extend_from_slice(&self.data[start..self.pos]);
                        start = self.pos;
                        self.pos -= 1;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        -1
    }

    /// `@` domain (dot-atom or domain literal).
    pub(crate) fn parse_domain(&mut self, out: &mut Vec<u8>) -> i32 {
        self.pos += 1;
        if self.skip_lwsp() <= 0 {
            return -1;
        }
        if self.cur() == b'[' {
            self.parse_domain_literal(out)
        } else {
            self.parse_dot_atom(out)
        }
    }

    /// `type/subtype` into `out`; on a syntax error `out` keeps what Dovecot keeps (possibly
    /// only the type, or nothing).
    pub(crate) fn parse_content_type(&mut self, out: &mut Vec<u8>) -> i32 {
        if self.skip_lwsp() <= 0 {
            return -1;
        }
        if self.parse_mime_token(out) <= 0 || out.is_empty() {
            return -1;
        }
        if self.cur() != b'/' {
            out.clear();
            return -1;
        }
        self.pos += 1;
        if self.skip_lwsp() <= 0 {
            out.clear();
            return -1;
        }
        out.push(b'/');
        let sub_start = out.len();
        let ret = self.parse_mime_token(out);
        if ret < 0 || out.len() == sub_start || (!self.at_end() && self.cur() != b';') {
            out.clear();
            return -1;
        }
        ret
    }

    /// One `; key=value` parameter. `0` at the end, `-1` on a syntax error, `1` otherwise.
    fn parse_content_param(&mut self, key: &mut Vec<u8>, value: &mut Vec<u8>) -> i32 {
        key.clear();
        value.clear();
        if self.at_end() {
            return 0;
        }
        if self.cur() != b';' {
            return -1;
        }
        self.pos += 1;
        if self.skip_lwsp() <= 0 {
            return -1;
        }
        if self.parse_mime_token(key) <= 0 {
            return -1;
        }
        if self.cur() != b'=' {
            return -1;
        }
        self.pos += 1;
        let mut ret = self.skip_lwsp();
        if ret <= 0 {
            // broken / no value
        } else if self.cur() == b'"' {
            ret = self.parse_quoted_string(value);
        } else if self.cur() == b'=' {
            // Dovecot's workaround for `name==?utf-8?b?...?=`.
            while let Some(&c) = self.data.get(self.pos) {
                if matches!(c, b';' | b' ' | b'\t' | b'\r' | b'\n') {
                    break;
                }
                value.push(c);
                self.pos += 1;
            }
        } else {
            ret = self.parse_mime_token(value);
        }
        if ret < 0 { -1 } else { 1 }
    }

    /// The value of the first plain (non-RFC 2231) parameter called `name`, after a
    /// successful [`Parser::parse_content_type`].
    ///
    /// Deviation: RFC 2231 continuations and `name*=` values are not merged (Dovecot merges
    /// them); such a parameter counts as absent.
    pub(crate) fn find_param(&mut self, name: &[u8]) -> Option<Vec<u8>> {
        let mut key = Vec::new();
        let mut value = Vec::new();
        loop {
            let ret = self.parse_content_param(&mut key, &mut value);
            if ret == 0 {
                return None;
            }
            if ret < 0 {
                if self.at_end() {
                    return None;
                }
                self.pos += 1;
                continue;
            }
            if !key.contains(&b'*') && key.eq_ignore_ascii_case(name) {
                return Some(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_and_params() {
        let mut p = Parser::new(
            b" Text/Plain ; format=flowed; charset=\"ISO-8859-1\"",
            false,
        );
        let mut ct = Vec::new();
        assert_eq!(p.parse_content_type(&mut ct), 1);
        assert_eq!(ct, b"Text/Plain");
        assert_eq!(
            p.find_param(b"charset").as_deref(),
            Some(&b"ISO-8859-1"[..])
        );
    }

    #[test]
    fn content_type_without_subtype_keeps_the_type() {
        let mut p = Parser::new(b"text", false);
        let mut ct = Vec::new();
        assert_eq!(p.parse_content_type(&mut ct), -1);
        assert_eq!(ct, b"text");
    }

    #[test]
    fn phrase_joins_words_and_unquotes() {
        let mut p = Parser::new(b"\"Doe, John\" Jr. (c) <x@y>", true);
        let mut out = Vec::new();
        assert_eq!(p.parse_phrase(&mut out), 1);
        assert_eq!(out, b"Doe, John Jr.");
        assert_eq!(p.cur(), b'<');
    }
}
