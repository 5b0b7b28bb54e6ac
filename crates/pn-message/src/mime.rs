//! A lazy MIME structure scanner and Dovecot's choice of the snippet's text part.
//!
//! Own code instead of mail-parser: `MessageParser::parse` builds and decodes the whole part
//! tree up front, so its cost grows with every attachment. This scanner reads one part header at
//! a time, in document order, and the caller stops as soon as it has its part: parts after the
//! chosen text part are never looked at, and the chosen part's body is read on demand (see
//! [`BodyReader`]).
//!
//! Boundary rules follow Dovecot's `message-parser.c`: a boundary line starts with `--` at the
//! beginning of a line; the longest active boundary that is a *prefix* of the rest of the line
//! wins (the line need not match exactly); the `[CR]LF` before it belongs to the boundary;
//! `--boundary--` ends the multipart (its epilogue follows); a boundary of an outer multipart
//! also ends the inner ones. A part is MIME when it is inside a multipart or has `Mime-Version`
//! or `Content-Type`; it is a multipart only with a `boundary` parameter, and not deeper than
//! 100 levels; after 10,000 parts no boundary is recognised any more. A part whose headers
//! run into a boundary line (no empty line) has no body, so its own boundary never becomes
//! active. These rules were checked against Dovecot on generated pathological structures
//! (`crates/pn/tests/charsets_dovecot.rs`).
//!
//! The text part (`index_mail_find_first_text_mime_part`): a part without a (MIME)
//! Content-Type or with type `text` is used as is; in `multipart/alternative` the first
//! `text/plain` child wins, else the last `text/html` child, else the last other `text/*`
//! child (children that are multiparts are not searched); in any other multipart the first
//! child, searched recursively, that yields a text part. `message/rfc822` parts are never
//! searched (deviation: their inner boundaries are not tracked either, see the docs).

use std::borrow::Cow;

use memchr::memmem;

use crate::header::Headers;
use crate::mime_fields::{ContentType, Cte, Decoding, parse_cte};

const MAX_NESTED_PARTS: usize = 100;
const MAX_TOTAL_PARTS: usize = 10_000;
/// Dovecot truncates boundary parameters to 80 bytes.
const BOUNDARY_MAX_LEN: usize = 80;
const BOUNDARY_END_MAX_LEN: usize = BOUNDARY_MAX_LEN + 4;

/// What the scanner knows about one part.
#[derive(Debug, Clone, Default)]
pub(crate) struct Part {
    /// Index of the parent part.
    parent: Option<usize>,
    /// Nesting depth (root = 0).
    depth: usize,
    /// Lower-case MIME type of the bodystructure (`None` = no usable Content-Type → text).
    ct_type: Option<Vec<u8>>,
    /// Lower-case MIME subtype.
    ct_subtype: Vec<u8>,
    /// Whether the parser treats it as a multipart (has a boundary).
    multipart: bool,
    /// Where the body starts.
    pub(crate) body_start: usize,
    /// Where the body ends, once the scanner has seen it end.
    body_end: Option<usize>,
    /// The snippet decoder's view of the headers.
    pub(crate) decoding: Decoding,
}

struct Boundary {
    value: Vec<u8>,
    part: usize,
}

/// A boundary line found in the input.
struct Hit {
    /// Where the body before it ends (the `[CR]LF` before `--` belongs to the boundary).
    body_end: usize,
    /// After the boundary line's LF.
    after: usize,
    /// Index into the boundary stack.
    idx: usize,
    /// `--boundary--`.
    epilogue: bool,
}

/// Finds the boundary line (if any) that starts at `line` (which begins with `--`).
fn match_boundary(
    data: &[u8],
    line: usize,
    boundaries: &[Boundary],
) -> Option<(usize, bool, usize)> {
    let rest = data.get(line..)?;
    if rest.len() < 2 || rest[0] != b'-' || rest[1] != b'-' {
        return None;
    }
    let after_dashes = &rest[2..];
    let lf = memchr::memchr(b'\n', after_dashes);
    let mut find_size = lf.unwrap_or(after_dashes.len());
    let mut trailing_dashes = false;
    if lf.is_some() {
        if find_size > 0 && after_dashes[find_size - 1] == b'\r' {
            find_size -= 1;
        }
        if find_size > 2
            && after_dashes[find_size - 1] == b'-'
            && after_dashes[find_size - 2] == b'-'
        {
            trailing_dashes = true;
        }
    } else if find_size > BOUNDARY_END_MAX_LEN {
        find_size = BOUNDARY_END_MAX_LEN;
    }
    let text = &after_dashes[..find_size];
    let mut best: Option<usize> = None;
    for (i, b) in boundaries.iter().enumerate().rev() {
        let len = b.value.len();
        if len <= text.len()
            && text.starts_with(&b.value)
            && best.is_none_or(|bi| boundaries[bi].value.len() < len)
        {
            best = Some(i);
            if len == text.len() || (trailing_dashes && len + 2 == text.len()) {
                break;
            }
        }
    }
    let idx = best?;
    let len = boundaries[idx].value.len();
    let epilogue = after_dashes.get(len..len + 2) == Some(b"--");
    let after = lf.map_or(data.len(), |i| line + 2 + i + 1);
    Some((idx, epilogue, after))
}

/// The scanner: parts are produced in document order, on demand.
pub(crate) struct Scanner<'a> {
    data: &'a [u8],
    /// Where scanning for the next boundary continues.
    pos: usize,
    /// Whether `pos` is at the start of a body (a boundary may start right there).
    at_body_start: bool,
    boundaries: Vec<Boundary>,
    /// Parts that are open, innermost last.
    open: Vec<usize>,
    pub(crate) parts: Vec<Part>,
    started: bool,
    /// A part produced while looking for a child of a part that had already ended: it belongs
    /// to an ancestor, whose search gets it next.
    pushed_back: Option<usize>,
}

impl<'a> Scanner<'a> {
    /// A scanner over a whole message.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Scanner {
            data,
            pos: 0,
            at_body_start: false,
            boundaries: Vec::new(),
            open: Vec::new(),
            parts: Vec::new(),
            started: false,
            pushed_back: None,
        }
    }

    /// The first boundary line of any active boundary at or after `from` (a line start when
    /// `first_line`), looking only at line starts before `limit`.
    fn find_boundary(&self, from: usize, first_line: bool, limit: usize) -> Option<Hit> {
        if self.boundaries.is_empty() || self.parts.len() >= MAX_TOTAL_PARTS {
            return None;
        }
        let data = self.data;
        if first_line
            && let Some((idx, epilogue, after)) = match_boundary(data, from, &self.boundaries)
        {
            return Some(Hit {
                body_end: from,
                after,
                idx,
                epilogue,
            });
        }
        let limit = limit.min(data.len());
        if from >= limit {
            return None;
        }
        // Every boundary line is "\n--" at a line start.
        let window = &data[from..(limit + 2).min(data.len())];
        for off in memmem::find_iter(window, b"\n--") {
            let nl = from + off;
            if nl >= limit {
                break;
            }
            if let Some((idx, epilogue, after)) = match_boundary(data, nl + 1, &self.boundaries) {
                let body_end = if nl > from && data[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                return Some(Hit {
                    body_end: body_end.max(from),
                    after,
                    idx,
                    epilogue,
                });
            }
        }
        None
    }

    /// Parses the headers of a part starting at `start`.
    fn parse_part(&mut self, start: usize, parent: Option<usize>) -> usize {
        let depth = parent.map_or(0, |p| self.parts[p].depth + 1);
        let in_multipart = parent.is_some();
        let parent_digest = parent.is_some_and(|p| {
            self.parts[p].ct_subtype == b"digest"
                && self.parts[p].ct_type.as_deref() == Some(b"multipart")
        });
        let boundaries = &self.boundaries;
        let data = self.data;
        let own_part = self.parts.len();
        let stop = move |line: usize| -> bool {
            match_boundary(data, line, boundaries)
                .is_some_and(|(idx, _, _)| boundaries[idx].part != own_part)
        };
        let mut headers = Headers::with_stop(data, start, &stop);
        let mut mime_version = false;
        let mut ct_value: Option<Vec<u8>> = None;
        let mut cte = Cte::Identity;
        for f in headers.by_ref() {
            if f.is("Mime-Version") {
                mime_version = true;
            } else if f.is("Content-Type") {
                if ct_value.is_none() {
                    ct_value = Some(f.full_value());
                }
            } else if f.is("Content-Transfer-Encoding") {
                cte = parse_cte(&f.full_value());
            }
        }
        let body_start = headers.body_start();
        // A part whose headers run into a boundary line has no body: its own boundary never
        // becomes active, so that line belongs to an enclosing multipart (as in Dovecot).
        let has_body = !headers.stopped_at_boundary();
        let is_mime = in_multipart || mime_version || ct_value.is_some();

        let mut part = Part {
            parent,
            depth,
            body_start,
            ..Part::default()
        };
        part.decoding.cte = cte;
        let mut boundary = None;
        if let Some(v) = &ct_value {
            let ct = ContentType::parse(v);
            let lower = ct.mime_type.to_ascii_lowercase();
            if is_mime {
                let (t, s) = match lower.iter().position(|&c| c == b'/') {
                    Some(i) => (lower[..i].to_vec(), lower[i + 1..].to_vec()),
                    None => (lower.clone(), Vec::new()),
                };
                part.ct_type = Some(t);
                part.ct_subtype = s;
                if lower.starts_with(b"multipart/") {
                    boundary = ct.param(b"boundary").map(|b| {
                        let mut b = b.into_owned();
                        b.truncate(BOUNDARY_MAX_LEN);
                        b
                    });
                }
            }
            part.decoding.charset = ct.param(b"charset").map(Cow::into_owned);
            part.decoding.content_type = Some(ct.mime_type.into_owned());
        }
        // Under multipart/digest a part without Content-Type is message/rfc822 for the parser,
        // but its bodystructure type stays unset, so it still counts as text (as in Dovecot).
        let _ = parent_digest;
        let id = self.parts.len();
        self.parts.push(part);
        self.open.push(id);
        if let Some(b) = boundary
            && is_mime
            && has_body
            && depth + 1 < MAX_NESTED_PARTS
        {
            self.parts[id].multipart = true;
            self.boundaries.push(Boundary { value: b, part: id });
        }
        self.pos = body_start;
        self.at_body_start = true;
        id
    }

    /// The next part in document order, or `None` at the end of the message.
    pub(crate) fn next_part(&mut self) -> Option<usize> {
        if let Some(id) = self.pushed_back.take() {
            return Some(id);
        }
        if !self.started {
            self.started = true;
            return Some(self.parse_part(0, None));
        }
        loop {
            let Some(hit) = self.find_boundary(self.pos, self.at_body_start, usize::MAX) else {
                // end of message: every open part ends here
                for id in self.open.drain(..) {
                    self.parts[id].body_end.get_or_insert(self.data.len());
                }
                self.pos = self.data.len();
                return None;
            };
            let owner = self.boundaries[hit.idx].part;
            while let Some(&top) = self.open.last() {
                if top == owner {
                    break;
                }
                self.open.pop();
                self.parts[top].body_end.get_or_insert(hit.body_end);
            }
            if hit.epilogue {
                self.boundaries.truncate(hit.idx);
                self.pos = hit.after;
                // the boundary line ended with LF, so the epilogue starts at a line start
                self.at_body_start = true;
                continue;
            }
            self.boundaries.truncate(hit.idx + 1);
            return Some(self.parse_part(hit.after, Some(owner)));
        }
    }

    /// Dovecot's first text part, or `None` when the message has none.
    pub(crate) fn find_text_part(&mut self) -> Option<usize> {
        let root = self.next_part()?;
        self.search(root)
    }

    fn is_text(&self, id: usize) -> bool {
        self.parts[id]
            .ct_type
            .as_deref()
            .is_none_or(|t| t == b"text")
    }

    /// The next child of `parent`, skipping deeper descendants.
    fn next_child(&mut self, parent: usize) -> Option<usize> {
        loop {
            let id = self.next_part()?;
            let p = self.parts[id].parent?;
            if p == parent {
                return Some(id);
            }
            // A descendant of a child: skip. Anything else means `parent` has ended.
            let mut anc = Some(p);
            let mut inside = false;
            while let Some(a) = anc {
                if a == parent {
                    inside = true;
                    break;
                }
                anc = self.parts[a].parent;
            }
            if !inside {
                self.pushed_back = Some(id);
                return None;
            }
        }
    }

    fn search(&mut self, id: usize) -> Option<usize> {
        if self.is_text(id) {
            return Some(id);
        }
        if self.parts[id].ct_type.as_deref() != Some(b"multipart") || !self.parts[id].multipart {
            return None;
        }
        if self.parts[id].ct_subtype == b"alternative" {
            let mut html = None;
            let mut other = None;
            while let Some(child) = self.next_child(id) {
                if !self.is_text(child) {
                    continue;
                }
                let c = &self.parts[child];
                if c.ct_type.is_none() || c.ct_subtype == b"plain" {
                    return Some(child);
                }
                if c.ct_subtype == b"html" {
                    html = Some(child);
                } else {
                    other = Some(child);
                }
            }
            return html.or(other);
        }
        while let Some(child) = self.next_child(id) {
            if let Some(found) = self.search(child) {
                return Some(found);
            }
        }
        None
    }

    /// A reader of the body of part `id` (which must be the last part produced).
    pub(crate) fn body_reader(self, id: usize) -> BodyReader<'a> {
        let start = self.parts[id].body_start;
        BodyReader {
            pos: start,
            end: self.parts[id].body_end,
            first_line: true,
            done: false,
            scanner: self,
        }
    }
}

/// Reads a part's body in chunks, stopping at the first boundary line of any enclosing
/// multipart — without looking further than the chunks it hands out.
pub(crate) struct BodyReader<'a> {
    scanner: Scanner<'a>,
    pos: usize,
    /// The body's end when the scanner already knows it.
    end: Option<usize>,
    first_line: bool,
    done: bool,
}

impl<'a> BodyReader<'a> {
    /// The next chunk of at most about `max` bytes (ending at a line end when possible), or
    /// `None` at the end of the body.
    pub(crate) fn next_chunk(&mut self, max: usize) -> Option<&'a [u8]> {
        if self.done {
            return None;
        }
        let data = self.scanner.data;
        let start = self.pos;
        let hard_end = self.end.unwrap_or(data.len()).min(data.len());
        if start >= hard_end {
            self.done = true;
            return None;
        }
        let limit = start.saturating_add(max).min(hard_end);
        if self.end.is_none()
            && let Some(hit) = self.scanner.find_boundary(start, self.first_line, limit)
        {
            self.done = true;
            return Some(&data[start..hit.body_end.max(start)]);
        }
        self.first_line = false;
        let mut end = limit;
        if end < hard_end {
            // end the chunk at a line feed, so the next chunk's search starts at "\n--"
            if let Some(i) = memchr::memrchr(b'\n', &data[start..end])
                && i > 0
            {
                end = start + i;
            }
        } else {
            self.done = true;
        }
        self.pos = end;
        Some(&data[start..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_part(msg: &[u8]) -> Option<Vec<u8>> {
        let mut s = Scanner::new(msg);
        let id = s.find_text_part()?;
        let mut r = s.body_reader(id);
        let mut out = Vec::new();
        while let Some(c) = r.next_chunk(16) {
            out.extend_from_slice(c);
        }
        Some(out)
    }

    #[test]
    fn plain_message_is_its_own_text_part() {
        assert_eq!(
            text_part(b"Subject: x\n\nhello\n").as_deref(),
            Some(&b"hello\n"[..])
        );
    }

    #[test]
    fn alternative_prefers_plain_even_when_later() {
        let msg = b"Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/html\n\n<p>h</p>\n--b\nContent-Type: text/plain\n\nplain\n--b--\n";
        assert_eq!(text_part(msg).as_deref(), Some(&b"plain"[..]));
    }

    #[test]
    fn nested_mixed_finds_first_text() {
        let msg = b"Content-Type: multipart/mixed; boundary=\"o\"\n\npre\n--o\nContent-Type: image/png\n\nxx\n--o\nContent-Type: multipart/related; boundary=i\n\n--i\nContent-Type: text/html\n\n<b>x</b>\n--i--\n--o--\n";
        assert_eq!(text_part(msg).as_deref(), Some(&b"<b>x</b>"[..]));
    }

    #[test]
    fn multipart_without_boundary_has_no_text() {
        assert_eq!(
            text_part(b"Content-Type: multipart/mixed\n\n--x\n\nhi\n"),
            None
        );
    }

    #[test]
    fn attachment_only_has_no_text() {
        let msg = b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/pdf\n\n%PDF\n--b--\n";
        assert_eq!(text_part(msg), None);
    }

    #[test]
    fn part_after_an_unclosed_child_multipart_is_searched() {
        // the alternative's boundary never appears; "--b" starts the next part of the outer one
        let msg = b"Content-Type: multipart/related; boundary=b\n\n--b\nContent-Type: multipart/alternative; boundary=\"b--\"\n\n--b\nContent-Type: text/html\n\n<p>h</p>\n";
        assert_eq!(text_part(msg).as_deref(), Some(&b"<p>h</p>\n"[..]));
    }

    #[test]
    fn multipart_whose_headers_end_at_a_boundary_has_no_children() {
        let msg = b"Content-Type: multipart/related; boundary=ab\n\n--ab\nContent-Type: multipart/alternative; boundary=ab\n--ab\nContent-Type: multipart/mixed; boundary=b\n\n--bx\n\ntext\n";
        assert_eq!(text_part(msg).as_deref(), Some(&b"text\n"[..]));
    }

    #[test]
    fn boundary_prefix_matches() {
        let msg = b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\nfirst\n--bXYZ\n\nsecond\n";
        assert_eq!(text_part(msg).as_deref(), Some(&b"first"[..]));
    }
}
