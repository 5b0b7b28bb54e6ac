//! Header blocks from raw bytes, as Dovecot's `message-header-parser.c` splits them and
//! `index-mail-headers.c` returns their values.
//!
//! Own code: mail-parser's raw accessor returns nothing for non-UTF-8 headers and its parsed
//! values are unfolded; Dovecot's raw value keeps folding as `\n` + the continuation line.

/// Header names longer than this are treated as values without a name.
const NAME_MAX_LEN: usize = 1000;

/// One header field: its name and the bytes of its lines.
#[derive(Clone, Copy)]
pub(crate) struct Field<'a> {
    /// The name, trailing whitespace before the colon removed; empty when the line has no
    /// colon (or an overlong name).
    pub(crate) name: &'a [u8],
    /// The first line after the colon, without its line ending.
    first: &'a [u8],
    /// The continuation lines, each with its line ending.
    rest: &'a [u8],
}

impl<'a> Field<'a> {
    /// Whether the field is called `name` (ASCII case-insensitive).
    pub(crate) fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }

    /// Dovecot's raw value: LWSP after the colon skipped, each continuation line appended after
    /// `\n` without its line ending, CR before LF dropped, NUL → U+FFFD.
    pub(crate) fn raw_value(&self) -> Vec<u8> {
        let first = skip_lwsp(self.first);
        let mut out = Vec::with_capacity(first.len() + self.rest.len());
        push_nul_replaced(&mut out, first);
        let mut rest = self.rest;
        while !rest.is_empty() {
            let (line, next) = split_line(rest);
            out.push(b'\n');
            push_nul_replaced(&mut out, line);
            rest = next;
        }
        out
    }

    /// The value for MIME parsing (folding kept; LWSP and line ends are whitespace there).
    pub(crate) fn full_value(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.first.len() + self.rest.len());
        out.extend_from_slice(self.first);
        if !self.rest.is_empty() {
            out.push(b'\n');
            out.extend_from_slice(self.rest);
        }
        out
    }
}

fn skip_lwsp(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    s
}

fn push_nul_replaced(out: &mut Vec<u8>, data: &[u8]) {
    for part in data.split(|&b| b == 0).enumerate() {
        if part.0 > 0 {
            out.extend_from_slice("\u{FFFD}".as_bytes());
        }
        out.extend_from_slice(part.1);
    }
}

/// `(line without its [CR]LF, rest after the LF)`.
fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b'\n', data) {
        Some(i) => {
            let line = &data[..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            (line, &data[i + 1..])
        }
        None => (data, &[]),
    }
}

/// Iterates the header fields of a part starting at `pos`; afterwards [`Headers::body_start`]
/// says where the body begins.
pub(crate) struct Headers<'a> {
    data: &'a [u8],
    pos: usize,
    done: bool,
    /// Called at the start of each header line: `true` when the line is a MIME boundary that
    /// ends the headers.
    stop_at: Option<&'a dyn Fn(usize) -> bool>,
    /// Whether the headers ended at such a boundary line rather than an empty line.
    stopped: bool,
}

impl<'a> Headers<'a> {
    /// Headers of the part starting at `pos` in `data`.
    pub(crate) fn new(data: &'a [u8], pos: usize) -> Self {
        Headers {
            data,
            pos,
            done: false,
            stop_at: None,
            stopped: false,
        }
    }

    /// Headers that also end at a line for which `stop_at(line_start)` is true.
    pub(crate) fn with_stop(
        data: &'a [u8],
        pos: usize,
        stop_at: &'a dyn Fn(usize) -> bool,
    ) -> Self {
        Headers {
            data,
            pos,
            done: false,
            stop_at: Some(stop_at),
            stopped: false,
        }
    }

    /// Where the body begins (valid once the iterator is exhausted).
    pub(crate) fn body_start(&self) -> usize {
        self.pos
    }

    /// Whether the headers ended at a boundary line (valid once the iterator is exhausted).
    pub(crate) fn stopped_at_boundary(&self) -> bool {
        self.stopped
    }
}

impl<'a> Iterator for Headers<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        let data = self.data;
        if self.done {
            return None;
        }
        if self.pos >= data.len() {
            self.done = true;
            self.pos = data.len();
            return None;
        }
        if let Some(stop) = self.stop_at
            && stop(self.pos)
        {
            self.done = true;
            self.stopped = true;
            return None;
        }
        let line_start = self.pos;
        let (line, _) = split_line(&data[line_start..]);
        let line_end =
            memchr::memchr(b'\n', &data[line_start..]).map_or(data.len(), |i| line_start + i + 1);
        if line.is_empty() {
            // end of headers
            self.pos = line_end;
            self.done = true;
            return None;
        }
        // continuation lines
        let mut end = line_end;
        while end < data.len() && matches!(data[end], b' ' | b'\t') {
            end = memchr::memchr(b'\n', &data[end..]).map_or(data.len(), |i| end + i + 1);
        }
        self.pos = end;
        let rest = &data[line_end..end];
        match memchr::memchr(b':', line) {
            Some(colon) => {
                let mut name = &line[..colon];
                while let [head @ .., b' ' | b'\t'] = name {
                    name = head;
                }
                if name.len() > NAME_MAX_LEN {
                    name = &[];
                }
                Some(Field {
                    name,
                    first: &line[colon + 1..],
                    rest,
                })
            }
            None => Some(Field {
                name: &[],
                first: line,
                rest,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_raw_value() {
        let msg = b"Subject: a\r\n b\r\n\tc\r\nX: y\r\n\r\nbody";
        let mut h = Headers::new(msg, 0);
        let f = h.next().expect("subject");
        assert!(f.is("subject"));
        assert_eq!(f.raw_value(), b"a\n b\n\tc");
        assert!(h.next().expect("x").is("X"));
        assert!(h.next().is_none());
        assert_eq!(&msg[h.body_start()..], b"body");
    }

    #[test]
    fn empty_first_line_keeps_the_newline() {
        let msg = b"Subject:   \n foo\n\n";
        let f = Headers::new(msg, 0).next().expect("field");
        assert_eq!(f.raw_value(), b"\n foo");
    }

    #[test]
    fn nul_becomes_replacement() {
        let f = Headers::new(b"Subject: a\0b\n\n", 0).next().expect("field");
        assert_eq!(f.raw_value(), "a\u{FFFD}b".as_bytes());
    }

    #[test]
    fn no_blank_line_means_empty_body() {
        let msg = b"Subject: x";
        let mut h = Headers::new(msg, 0);
        assert!(h.next().is_some());
        assert!(h.next().is_none());
        assert_eq!(h.body_start(), msg.len());
    }
}
