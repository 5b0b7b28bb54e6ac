//! SMTP replies: a code, an enhanced status code (RFC 2034) and text.

use std::fmt;

/// One reply, possibly multi-line (LHLO's capabilities).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The enhanced status code (`2.0.0`), empty for replies that have none (220, LHLO).
    pub enhanced: String,
    /// The text lines (at least one).
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply.
    pub fn new(code: u16, enhanced: &str, text: impl Into<String>) -> Reply {
        Reply {
            code,
            enhanced: enhanced.to_owned(),
            lines: vec![text.into()],
        }
    }

    /// Whether the code is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// The reply on the wire, every line ending in CRLF.
    pub fn to_wire(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            write!(f, "{}{sep}", self.code)?;
            if !self.enhanced.is_empty() {
                write!(f, "{} ", self.enhanced)?;
            }
            write!(f, "{line}\r\n")?;
        }
        if self.lines.is_empty() {
            write!(f, "{} {}\r\n", self.code, self.enhanced)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_replies_use_dashes_until_the_last_line() {
        let r = Reply {
            code: 250,
            enhanced: String::new(),
            lines: vec!["host".into(), "8BITMIME".into()],
        };
        assert_eq!(r.to_wire(), "250-host\r\n250 8BITMIME\r\n");
        assert_eq!(Reply::new(250, "2.1.0", "OK").to_wire(), "250 2.1.0 OK\r\n");
    }
}
