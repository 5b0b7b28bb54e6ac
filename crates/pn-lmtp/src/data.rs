//! The message body on the wire: DATA's dot-stuffing (RFC 5321 §4.5.2) and BDAT's raw
//! chunks, both turned into LF line endings the way the store keeps messages (Dovecot's
//! `mail_save_crlf = no`). Incremental: bytes go in as they arrive.

/// Where a decoder is inside a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    #[default]
    LineStart,
    Middle,
    /// A CR that may start a CRLF.
    Cr,
    /// A dot at the start of a line.
    Dot,
    /// A dot and a CR at the start of a line.
    DotCr,
}

/// Decodes DATA: removes dot-stuffing, turns CRLF into LF, finds the `.` line ending it.
#[derive(Debug, Default, Clone)]
pub struct DotDecoder {
    state: State,
}

impl DotDecoder {
    /// A decoder at the start of the message.
    pub fn new() -> DotDecoder {
        DotDecoder::default()
    }

    /// Decodes `input` into `out`. Returns `Some(n)` when the end marker was found after
    /// consuming `n` bytes (the rest belongs to the next command), `None` when all of
    /// `input` was consumed and more is needed.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Option<usize> {
        for (i, &b) in input.iter().enumerate() {
            match self.state {
                State::LineStart if b == b'.' => self.state = State::Dot,
                State::LineStart | State::Middle => self.middle(b, out),
                State::Cr => self.after_cr(b, out),
                State::Dot => match b {
                    b'\r' => self.state = State::DotCr,
                    b'\n' => {
                        self.state = State::LineStart;
                        return Some(i + 1);
                    }
                    // The stuffed dot is dropped.
                    _ => self.middle(b, out),
                },
                State::DotCr => {
                    if b == b'\n' {
                        self.state = State::LineStart;
                        return Some(i + 1);
                    }
                    self.after_cr(b, out);
                }
            }
        }
        None
    }

    fn middle(&mut self, b: u8, out: &mut Vec<u8>) {
        match b {
            b'\r' => self.state = State::Cr,
            b'\n' => {
                out.push(b'\n');
                self.state = State::LineStart;
            }
            _ => {
                out.push(b);
                self.state = State::Middle;
            }
        }
    }

    fn after_cr(&mut self, b: u8, out: &mut Vec<u8>) {
        match b {
            b'\n' => {
                out.push(b'\n');
                self.state = State::LineStart;
            }
            b'\r' => {
                out.push(b'\r');
                self.state = State::Cr;
            }
            _ => {
                out.push(b'\r');
                self.middle(b, out);
            }
        }
    }
}

/// Turns CRLF into LF across BDAT chunks (no dot-stuffing in BDAT).
#[derive(Debug, Default, Clone)]
pub struct LfConverter {
    pending_cr: bool,
}

impl LfConverter {
    /// A converter at the start of the message.
    pub fn new() -> LfConverter {
        LfConverter::default()
    }

    /// Converts `input` into `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            if self.pending_cr {
                self.pending_cr = false;
                if b == b'\n' {
                    out.push(b'\n');
                    continue;
                }
                out.push(b'\r');
            }
            if b == b'\r' {
                self.pending_cr = true;
            } else {
                out.push(b);
            }
        }
    }

    /// Ends the message: a CR left at the very end is kept.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\r');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(chunks: &[&[u8]]) -> (Vec<u8>, Option<usize>) {
        let mut d = DotDecoder::new();
        let mut out = Vec::new();
        let mut end = None;
        for c in chunks {
            end = d.feed(c, &mut out);
            if end.is_some() {
                break;
            }
        }
        (out, end)
    }

    #[test]
    fn dot_stuffing_is_removed_and_crlf_becomes_lf() {
        let (out, end) = decode(&[b"Subject: x\r\n\r\n..dot\r\n.\r\nQUIT\r\n"]);
        assert_eq!(out, b"Subject: x\n\n.dot\n");
        assert_eq!(end, Some(24));
    }

    #[test]
    fn the_end_marker_may_be_split_across_reads() {
        let (out, end) = decode(&[b"a\r", b"\n.", b"\r", b"\nrest"]);
        assert_eq!(out, b"a\n");
        assert_eq!(end, Some(1));
    }

    #[test]
    fn lone_crs_and_bare_lfs_are_kept_as_the_store_would() {
        let (out, _) = decode(&[b"a\rb\r\r\nc\n.\n"]);
        assert_eq!(out, b"a\rb\r\nc\n");
    }

    #[test]
    fn bdat_chunks_keep_dots_and_convert_crlf_across_chunks() {
        let mut c = LfConverter::new();
        let mut out = Vec::new();
        c.feed(b"a\r", &mut out);
        c.feed(b"\n.b\r", &mut out);
        c.finish(&mut out);
        assert_eq!(out, b"a\n.b\r");
    }
}
