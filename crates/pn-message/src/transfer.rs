//! Content-Transfer-Encoding decoding for the snippet, chunk by chunk.
//!
//! Own QP/base64 decoders, not mail-parser's: Dovecot's recovery from broken input differs
//! (a broken `=XX` is kept as text, trailing whitespace on a QP line is dropped, base64 stops
//! for good at padding or the first invalid byte).

use crate::encoded_word::{b64, hex};
use crate::mime_fields::Cte;

/// Quoted-printable / base64 / identity decoding, chunk by chunk.
pub(crate) struct TransferDecoder {
    cte: Cte,
    qp: QpState,
    /// Whitespace (and CR) seen but not yet known not to be at a line end (QP).
    ws: Vec<u8>,
    b64_acc: u32,
    b64_bits: u32,
    b64_done: bool,
}

#[derive(Clone, Copy)]
enum QpState {
    Text,
    Eq,
    EqHex(u8),
    EqWs,
}

impl TransferDecoder {
    /// A decoder for `cte`.
    pub(crate) fn new(cte: Cte) -> Self {
        TransferDecoder {
            cte,
            qp: QpState::Text,
            ws: Vec::new(),
            b64_acc: 0,
            b64_bits: 0,
            b64_done: false,
        }
    }

    /// Decodes the next chunk of the body, appending to `out`.
    pub(crate) fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        match self.cte {
            Cte::Identity | Cte::Unknown => out.extend_from_slice(input),
            Cte::QuotedPrintable => self.feed_qp(input, out),
            Cte::Base64 => self.feed_base64(input, out),
        }
    }

    /// Base64; whitespace is skipped, decoding stops for good at padding or an invalid byte
    /// (Dovecot ignores the rest of the part).
    fn feed_base64(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if self.b64_done {
            return;
        }
        for &c in input {
            if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
                continue;
            }
            let Some(v) = b64(c) else {
                self.b64_done = true;
                return;
            };
            self.b64_acc = (self.b64_acc << 6) | u32::from(v);
            self.b64_bits += 6;
            if self.b64_bits >= 8 {
                self.b64_bits -= 8;
                out.push((self.b64_acc >> self.b64_bits) as u8);
                self.b64_acc &= (1 << self.b64_bits) - 1;
            }
        }
    }

    /// Quoted-printable: `=XX` bytes, `=` + optional whitespace + line end is a soft break,
    /// trailing whitespace on a line is dropped, a broken `=` sequence is kept as text.
    fn feed_qp(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut i = 0;
        while i < input.len() {
            let c = input[i];
            match self.qp {
                QpState::Text => match c {
                    b' ' | b'\t' | b'\r' => self.ws.push(c),
                    b'!'..=b'<' | b'>'..=b'~' | 0x80..=0xff => {
                        // a run of bytes that stand for themselves
                        if !self.ws.is_empty() {
                            out.extend_from_slice(&self.ws);
                            self.ws.clear();
                        }
                        let run = input[i..]
                            .iter()
                            .position(|&b| {
                                matches!(b, b'=' | b' ' | b'\t' | b'\r' | b'\n') || b < b' '
                            })
                            .unwrap_or(input.len() - i);
                        out.extend_from_slice(&input[i..i + run]);
                        i += run;
                        continue;
                    }
                    b'\n' => {
                        self.ws.clear();
                        out.push(b'\n');
                    }
                    b'=' => {
                        if !self.ws.is_empty() {
                            out.extend_from_slice(&self.ws);
                            self.ws.clear();
                        }
                        self.qp = QpState::Eq;
                    }
                    _ => {
                        if !self.ws.is_empty() {
                            out.extend_from_slice(&self.ws);
                            self.ws.clear();
                        }
                        out.push(c);
                    }
                },
                QpState::Eq => {
                    if hex(c).is_some() {
                        self.qp = QpState::EqHex(c);
                    } else if matches!(c, b' ' | b'\t' | b'\r') {
                        self.qp = QpState::EqWs;
                    } else if c == b'\n' {
                        self.qp = QpState::Text;
                    } else {
                        out.push(b'=');
                        self.qp = QpState::Text;
                        continue; // reprocess c
                    }
                }
                QpState::EqHex(h) => {
                    self.qp = QpState::Text;
                    match (hex(h), hex(c)) {
                        (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                        _ => {
                            out.push(b'=');
                            out.push(h);
                            continue; // reprocess c
                        }
                    }
                }
                QpState::EqWs => {
                    if c == b'\n' {
                        self.qp = QpState::Text;
                    } else if !matches!(c, b' ' | b'\t' | b'\r') {
                        out.push(b'=');
                        self.qp = QpState::Text;
                        continue; // reprocess c
                    }
                }
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qp_soft_breaks_and_broken_escapes() {
        let mut d = TransferDecoder::new(Cte::QuotedPrintable);
        let mut out = Vec::new();
        d.feed(b"a=3Db=\n c =\r\nd=zz e  \nf=4", &mut out);
        d.feed(b"1", &mut out);
        assert_eq!(out, b"a=b c d=zz e\nfA");
    }

    #[test]
    fn base64_stops_at_garbage() {
        let mut d = TransferDecoder::new(Cte::Base64);
        let mut out = Vec::new();
        d.feed(b"aGVs\r\nbG8=", &mut out);
        d.feed(b"aGVsbG8=", &mut out);
        assert_eq!(out, b"hello");
    }
}
