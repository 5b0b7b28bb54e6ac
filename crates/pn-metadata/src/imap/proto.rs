//! The small part of IMAP4rev1 (RFC 3501) and METADATA (RFC 5464) the client speaks: reading
//! one server response with its literals ([`read_response`]), parsing it ([`parse_response`]),
//! and writing strings as quoted strings or literals ([`Part`], [`push_string`]).
//!
//! The parser is pure and total (it never panics; the `imap_response` fuzz target checks that),
//! and understands only what the client needs: status responses with their response codes,
//! `CAPABILITY`, `METADATA` and continuation requests. Anything else is [`Untagged::Other`].

use std::io::{self, BufRead};

/// The largest response (all lines and literals) the client accepts: 64 MiB.
pub const MAX_RESPONSE: usize = 64 << 20;

/// A status (`OK`, `NO`, `BAD`; untagged also `PREAUTH`, `BYE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Success.
    Ok,
    /// Operational failure.
    No,
    /// Protocol error.
    Bad,
    /// Untagged greeting: already authenticated.
    Preauth,
    /// Untagged: the server closes the connection.
    Bye,
}

/// RFC 5464 `METADATA` response codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataCode {
    /// `MAXSIZE n`: a value is larger than the server allows (n bytes).
    MaxSize(u64),
    /// `TOOMANY`: the server stores no more entries.
    TooMany,
    /// `NOPRIVATE`: the server has no private entries.
    NoPrivate,
    /// `LONGENTRIES n`: entries left out of a GETMETADATA MAXSIZE answer.
    LongEntries(u64),
}

/// A response code (`[…]` after the status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// `CAPABILITY …`.
    Capability(Vec<String>),
    /// `METADATA …`.
    Metadata(MetadataCode),
    /// Any other code: its atom (upper-cased) and the rest, as sent.
    Other(String, Option<String>),
}

/// One untagged response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Untagged {
    /// `* OK|NO|BAD|PREAUTH|BYE [code] text`.
    Status {
        /// The status.
        status: Status,
        /// The response code.
        code: Option<Code>,
        /// The human-readable text.
        text: String,
    },
    /// `* CAPABILITY …`.
    Capability(Vec<String>),
    /// `* METADATA <mailbox> (<entry> <value> …)`: the values GETMETADATA asked for. An
    /// unsolicited `* METADATA <mailbox> <entry> …` (no values) is [`Untagged::Other`].
    Metadata {
        /// The mailbox as sent (modified UTF-7; `""` for the server).
        mailbox: Vec<u8>,
        /// Entry names and values (`None` for NIL).
        entries: Vec<(String, Option<Vec<u8>>)>,
    },
    /// Anything else.
    Other,
}

/// One server response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `+ …`: go on sending.
    Continuation(Vec<u8>),
    /// `* …`.
    Untagged(Untagged),
    /// `<tag> OK|NO|BAD [code] text`.
    Tagged {
        /// The command's tag.
        tag: String,
        /// The status.
        status: Status,
        /// The response code.
        code: Option<Code>,
        /// The human-readable text.
        text: String,
    },
}

/// Reads one response: a line, and when it ends with a literal announcement (`{n}`, `{n+}`,
/// `~{n}`), the literal's `n` bytes and the line that continues after it, and so on. The bytes
/// are returned as sent, CRLFs included, for [`parse_response`]. `Ok(None)` at a clean EOF.
pub fn read_response<R: BufRead>(reader: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    loop {
        let start = out.len();
        let n = read_line_limited(reader, &mut out)?;
        if n == 0 {
            if start == 0 {
                return Ok(None);
            }
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside a response",
            ));
        }
        if out.last() != Some(&b'\n') {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside a response line",
            ));
        }
        let line = trim_crlf(&out[start..]);
        let Some(len) = literal_announcement(line) else {
            return Ok(Some(out));
        };
        if len > MAX_RESPONSE.saturating_sub(out.len()) {
            return Err(too_large());
        }
        let before = out.len();
        out.resize(before + len, 0);
        reader.read_exact(&mut out[before..])?;
    }
}

fn too_large() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("server response larger than {MAX_RESPONSE} bytes"),
    )
}

fn read_line_limited<R: BufRead>(reader: &mut R, out: &mut Vec<u8>) -> io::Result<usize> {
    let mut total = 0;
    loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(total);
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        if out.len() + chunk.len() > MAX_RESPONSE {
            return Err(too_large());
        }
        out.extend_from_slice(chunk);
        let used = chunk.len();
        reader.consume(used);
        total += used;
        if done {
            return Ok(total);
        }
    }
}

fn trim_crlf(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The length `n` when `line` ends with `{n}`, `{n+}` or `~{n}`.
fn literal_announcement(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = &inner[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Parses one response as returned by [`read_response`]. `None` when it is not a response the
/// grammar allows (the caller treats that as a protocol error).
pub fn parse_response(bytes: &[u8]) -> Option<Response> {
    let mut p = Parser { buf: bytes, pos: 0 };
    let resp = if p.eat(b"+") {
        p.eat(b" ");
        Response::Continuation(p.rest_of_line().to_vec())
    } else if p.eat(b"* ") {
        Response::Untagged(p.untagged()?)
    } else {
        let tag = p.atom()?;
        p.expect(b' ')?;
        let status = match p.atom()?.to_ascii_uppercase().as_str() {
            "OK" => Status::Ok,
            "NO" => Status::No,
            "BAD" => Status::Bad,
            _ => return None,
        };
        let (code, text) = p.resp_text();
        Response::Tagged {
            tag,
            status,
            code,
            text,
        }
    };
    Some(resp)
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn eat(&mut self, s: &[u8]) -> bool {
        if self.buf[self.pos..].starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.peek() == Some(b)).then(|| self.pos += 1)
    }

    /// The rest of the current line, without CRLF.
    fn rest_of_line(&mut self) -> &'a [u8] {
        let rest = &self.buf[self.pos..];
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        self.pos += end;
        trim_crlf(&rest[..end])
    }

    fn at_line_end(&self) -> bool {
        matches!(self.peek(), None | Some(b'\r' | b'\n'))
    }

    /// An atom (also a tag or a number): bytes up to a space, paren, bracket, quote, brace
    /// or control character.
    fn atom(&mut self) -> Option<String> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b <= b' ' || b >= 0x7f || b"()[]{\"\\".contains(&b) {
                break;
            }
            self.pos += 1;
        }
        (self.pos > start).then(|| String::from_utf8_lossy(&self.buf[start..self.pos]).into_owned())
    }

    /// An astring's atom form also allows `]`.
    fn astring_atom(&mut self) -> Option<String> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b <= b' ' || b >= 0x7f || b"(){\"\\%*".contains(&b) {
                break;
            }
            self.pos += 1;
        }
        (self.pos > start).then(|| String::from_utf8_lossy(&self.buf[start..self.pos]).into_owned())
    }

    fn number(&mut self) -> Option<u64> {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        std::str::from_utf8(&self.buf[start..self.pos])
            .ok()?
            .parse()
            .ok()
    }

    /// A quoted string or a literal (`{n}`, `{n+}`, `~{n}` then CRLF then n bytes).
    fn string(&mut self) -> Option<Vec<u8>> {
        match self.peek()? {
            b'"' => {
                self.pos += 1;
                let mut out = Vec::new();
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.pos += 1;
                            return Some(out);
                        }
                        b'\\' => {
                            self.pos += 1;
                            let c = self.peek()?;
                            if c != b'"' && c != b'\\' {
                                return None;
                            }
                            out.push(c);
                            self.pos += 1;
                        }
                        b'\r' | b'\n' => return None,
                        c => {
                            out.push(c);
                            self.pos += 1;
                        }
                    }
                }
            }
            b'{' | b'~' => {
                if self.peek() == Some(b'~') {
                    self.pos += 1;
                }
                self.expect(b'{')?;
                let n = usize::try_from(self.number()?).ok()?;
                self.eat(b"+");
                self.expect(b'}')?;
                if !self.eat(b"\r\n") {
                    self.expect(b'\n')?;
                }
                let end = self.pos.checked_add(n)?;
                let data = self.buf.get(self.pos..end)?.to_vec();
                self.pos = end;
                Some(data)
            }
            _ => None,
        }
    }

    fn nstring(&mut self) -> Option<Option<Vec<u8>>> {
        if self.buf[self.pos..]
            .get(..3)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"NIL"))
            && !self
                .buf
                .get(self.pos + 3)
                .is_some_and(|&b| b > b' ' && !b"()".contains(&b))
        {
            self.pos += 3;
            return Some(None);
        }
        self.string().map(Some)
    }

    fn astring(&mut self) -> Option<Vec<u8>> {
        match self.peek()? {
            b'"' | b'{' | b'~' => self.string(),
            _ => self.astring_atom().map(String::into_bytes),
        }
    }

    /// `[code] text` after a status.
    fn resp_text(&mut self) -> (Option<Code>, String) {
        self.eat(b" ");
        let mut code = None;
        if self.peek() == Some(b'[') {
            let save = self.pos;
            code = self.code();
            if code.is_none() {
                self.pos = save;
            } else {
                self.eat(b" ");
            }
        }
        let text = String::from_utf8_lossy(self.rest_of_line()).into_owned();
        (code, text)
    }

    fn code(&mut self) -> Option<Code> {
        self.expect(b'[')?;
        let name = self.atom()?.to_ascii_uppercase();
        let rest_start = self.pos;
        let close = self.buf[self.pos..]
            .iter()
            .take_while(|&&b| b != b'\n')
            .position(|&b| b == b']')?;
        let args = String::from_utf8_lossy(&self.buf[rest_start..rest_start + close]).into_owned();
        self.pos = rest_start + close + 1;
        let args = args.trim_start_matches(' ');
        let code = match name.as_str() {
            "CAPABILITY" => Code::Capability(words(args)),
            "METADATA" => {
                let mut it = args.split(' ');
                let what = it.next().unwrap_or_default().to_ascii_uppercase();
                let n = it.next().and_then(|n| n.parse().ok());
                match (what.as_str(), n) {
                    ("MAXSIZE", Some(n)) => Code::Metadata(MetadataCode::MaxSize(n)),
                    ("LONGENTRIES", Some(n)) => Code::Metadata(MetadataCode::LongEntries(n)),
                    ("TOOMANY", _) => Code::Metadata(MetadataCode::TooMany),
                    ("NOPRIVATE", _) => Code::Metadata(MetadataCode::NoPrivate),
                    _ => Code::Other(name, Some(args.to_owned())),
                }
            }
            _ => Code::Other(name, (!args.is_empty()).then(|| args.to_owned())),
        };
        Some(code)
    }

    fn untagged(&mut self) -> Option<Untagged> {
        let word = self.atom()?.to_ascii_uppercase();
        let status = match word.as_str() {
            "OK" => Some(Status::Ok),
            "NO" => Some(Status::No),
            "BAD" => Some(Status::Bad),
            "PREAUTH" => Some(Status::Preauth),
            "BYE" => Some(Status::Bye),
            _ => None,
        };
        if let Some(status) = status {
            let (code, text) = self.resp_text();
            return Some(Untagged::Status { status, code, text });
        }
        match word.as_str() {
            "CAPABILITY" => {
                let line = String::from_utf8_lossy(self.rest_of_line()).into_owned();
                Some(Untagged::Capability(words(&line)))
            }
            "METADATA" => Some(self.metadata().unwrap_or(Untagged::Other)),
            _ => Some(Untagged::Other),
        }
    }

    fn metadata(&mut self) -> Option<Untagged> {
        self.expect(b' ')?;
        let mailbox = self.astring()?;
        self.expect(b' ')?;
        self.expect(b'(')?;
        let mut entries = Vec::new();
        loop {
            if self.peek() == Some(b')') && entries.is_empty() {
                self.pos += 1;
                break;
            }
            let entry = String::from_utf8(self.astring()?).ok()?;
            self.expect(b' ')?;
            let value = self.nstring()?;
            entries.push((entry, value));
            match self.peek()? {
                b' ' => self.pos += 1,
                b')' => {
                    self.pos += 1;
                    break;
                }
                _ => return None,
            }
        }
        if !self.at_line_end() {
            return None;
        }
        Some(Untagged::Metadata { mailbox, entries })
    }
}

fn words(s: &str) -> Vec<String> {
    s.split(' ')
        .filter(|w| !w.is_empty())
        .map(|w| w.trim_end_matches(['\r', '\n']).to_ascii_uppercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// A piece of a command to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Bytes sent as they are.
    Text(Vec<u8>),
    /// A literal: `{n}` (or `~{n}` when `binary`) then the bytes.
    Literal {
        /// The bytes.
        data: Vec<u8>,
        /// Send as `literal8` (RFC 3516), for values with NUL.
        binary: bool,
    },
}

/// Why a string cannot be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// It contains NUL and the server has no BINARY.
    NulWithoutBinary,
}

/// Appends `s` as a quoted string when that is possible (7-bit, no CR/LF/NUL, at most
/// 1024 bytes), else as a literal; a literal8 when it contains NUL and `binary` (the server
/// advertised BINARY) is true.
pub fn push_string(parts: &mut Vec<Part>, s: &[u8], binary: bool) -> Result<(), EncodeError> {
    if s.len() <= 1024
        && s.iter()
            .all(|&b| (0x01..0x80).contains(&b) && b != b'\r' && b != b'\n')
    {
        let mut q = Vec::with_capacity(s.len() + 2);
        q.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                q.push(b'\\');
            }
            q.push(b);
        }
        q.push(b'"');
        push_text(parts, &q);
        return Ok(());
    }
    let has_nul = s.contains(&0);
    if has_nul && !binary {
        return Err(EncodeError::NulWithoutBinary);
    }
    parts.push(Part::Literal {
        data: s.to_vec(),
        binary: has_nul,
    });
    Ok(())
}

/// Appends an astring: an atom when `s` is one, else as [`push_string`].
pub fn push_astring(parts: &mut Vec<Part>, s: &[u8]) -> Result<(), EncodeError> {
    let atom = !s.is_empty()
        && s.iter()
            .all(|&b| b > b' ' && b < 0x7f && !b"(){\"\\%*]".contains(&b))
        && !s.eq_ignore_ascii_case(b"NIL");
    if atom {
        push_text(parts, s);
        Ok(())
    } else {
        push_string(parts, s, false)
    }
}

/// Appends bytes to be sent as they are.
pub fn push_text(parts: &mut Vec<Part>, s: &[u8]) {
    if let Some(Part::Text(t)) = parts.last_mut() {
        t.extend_from_slice(s);
    } else {
        parts.push(Part::Text(s.to_vec()));
    }
}

/// The command as it would be sent with non-synchronizing literals (`{n+}`), for tests.
pub fn render(parts: &[Part]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        match p {
            Part::Text(t) => out.extend_from_slice(t),
            Part::Literal { data, binary } => {
                if *binary {
                    out.push(b'~');
                }
                out.extend_from_slice(format!("{{{}+}}\r\n", data.len()).as_bytes());
                out.extend_from_slice(data);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8]) -> Vec<Response> {
        let mut r = io::BufReader::new(bytes);
        let mut out = Vec::new();
        while let Some(resp) = read_response(&mut r).expect("read") {
            out.push(parse_response(&resp).expect("parse"));
        }
        out
    }

    #[test]
    fn greeting_with_capability_code() {
        let r = read_all(
            b"* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ STARTTLS AUTH=PLAIN] Dovecot ready.\r\n",
        );
        assert_eq!(
            r,
            vec![Response::Untagged(Untagged::Status {
                status: Status::Ok,
                code: Some(Code::Capability(
                    ["IMAP4REV1", "SASL-IR", "LITERAL+", "STARTTLS", "AUTH=PLAIN"]
                        .map(String::from)
                        .to_vec()
                )),
                text: "Dovecot ready.".into()
            })]
        );
    }

    #[test]
    fn metadata_with_quoted_literal_and_nil() {
        let r = read_all(
            b"* METADATA \"\" (/private/a \"x \\\"y\\\"\" /private/b {5}\r\na\tb\nc /private/c NIL)\r\n\
              * METADATA INBOX (/shared/comment ~{3}\r\n\x00\x01\x02)\r\n\
              pn1 OK [METADATA LONGENTRIES 5] Getmetadata completed.\r\n",
        );
        assert_eq!(
            r[0],
            Response::Untagged(Untagged::Metadata {
                mailbox: Vec::new(),
                entries: vec![
                    ("/private/a".into(), Some(b"x \"y\"".to_vec())),
                    ("/private/b".into(), Some(b"a\tb\nc".to_vec())),
                    ("/private/c".into(), None),
                ]
            })
        );
        assert_eq!(
            r[1],
            Response::Untagged(Untagged::Metadata {
                mailbox: b"INBOX".to_vec(),
                entries: vec![("/shared/comment".into(), Some(vec![0, 1, 2]))]
            })
        );
        assert!(matches!(
            &r[2],
            Response::Tagged { tag, status: Status::Ok, code: Some(Code::Metadata(MetadataCode::LongEntries(5))), .. } if tag == "pn1"
        ));
    }

    #[test]
    fn metadata_error_codes() {
        for (line, code) in [
            (
                &b"a NO [METADATA MAXSIZE 1024] Too large\r\n"[..],
                MetadataCode::MaxSize(1024),
            ),
            (
                b"a NO [METADATA TOOMANY] Too many\r\n",
                MetadataCode::TooMany,
            ),
            (
                b"a NO [METADATA NOPRIVATE] No private\r\n",
                MetadataCode::NoPrivate,
            ),
        ] {
            assert!(matches!(
                parse_response(line),
                Some(Response::Tagged { status: Status::No, code: Some(Code::Metadata(c)), .. }) if c == code
            ));
        }
        assert!(matches!(
            parse_response(b"a NO [NONEXISTENT] Mailbox doesn't exist: X\r\n"),
            Some(Response::Tagged { code: Some(Code::Other(c, None)), .. }) if c == "NONEXISTENT"
        ));
    }

    #[test]
    fn unsolicited_metadata_and_unknown_responses_are_other() {
        assert_eq!(
            parse_response(b"* METADATA INBOX /shared/comment /private/x\r\n"),
            Some(Response::Untagged(Untagged::Other))
        );
        assert_eq!(
            parse_response(b"* 3 EXISTS\r\n"),
            Some(Response::Untagged(Untagged::Other))
        );
        assert_eq!(
            parse_response(b"+ \r\n"),
            Some(Response::Continuation(Vec::new()))
        );
        assert_eq!(parse_response(b"a WHAT\r\n"), None);
    }

    #[test]
    fn truncated_literal_is_an_error_not_a_panic() {
        let mut r = io::BufReader::new(&b"* METADATA \"\" (/private/a {10}\r\nabc"[..]);
        assert!(read_response(&mut r).is_err());
        assert_eq!(
            parse_response(b"* METADATA \"\" (/private/a {10}\r\nabc"),
            Some(Response::Untagged(Untagged::Other))
        );
    }

    #[test]
    fn strings_are_quoted_or_literal() {
        let mut p = Vec::new();
        push_string(&mut p, b"user=1@2 \"q\" \\", false).expect("enc");
        assert_eq!(render(&p), b"\"user=1@2 \\\"q\\\" \\\\\"");
        let mut p = Vec::new();
        push_string(&mut p, "caf\u{e9}\tx\r\n".as_bytes(), false).expect("enc");
        assert_eq!(render(&p), b"{9+}\r\ncaf\xc3\xa9\tx\r\n");
        let mut p = Vec::new();
        assert_eq!(
            push_string(&mut p, b"a\0b", false),
            Err(EncodeError::NulWithoutBinary)
        );
        push_string(&mut p, b"a\0b", true).expect("enc");
        assert_eq!(render(&p), b"~{3+}\r\na\0b");
        let mut p = Vec::new();
        push_astring(&mut p, b"/private/vendor/x").expect("enc");
        push_text(&mut p, b" ");
        push_astring(&mut p, b"").expect("enc");
        push_text(&mut p, b" ");
        push_astring(&mut p, b"nil").expect("enc");
        assert_eq!(render(&p), b"/private/vendor/x \"\" \"nil\"");
    }
}
