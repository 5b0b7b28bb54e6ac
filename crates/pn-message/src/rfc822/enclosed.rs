//! The enclosed constructs of RFC 5322: quoted strings, comments and domain literals. They are
//! scanned as a whole (their end found first), then their text is unfolded.

use std::borrow::Cow;

/// How a delimited construct (quoted string, comment) ends.
pub(super) enum Delimited {
    /// Closed: `inner` is the content between the delimiters, `after` the position after the
    /// closing one.
    Closed { inner: (usize, usize), after: usize },
    /// Runs to the end of the input; `last_break` is where the text that counts ends.
    Unclosed {
        inner_start: usize,
        last_break: usize,
    },
}

/// Scans a quoted string (`open == '"'`) or comment (`open == '('`, nesting) starting at
/// `start`.
pub(super) fn scan_delimited(input: &[u8], start: usize, open: u8) -> Delimited {
    let close = if open == b'(' { b')' } else { b'"' };
    let inner_start = start + 1;
    let mut depth = 1usize;
    // Dovecot still reports the text of an unclosed construct, but only up to its last line
    // break or escape; what follows that point is lost.
    let mut last_break = inner_start;
    let mut i = inner_start;
    while let Some(&c) = input.get(i) {
        match c {
            b'\\' => match input.get(i + 1) {
                None => break,
                Some(b'\r' | b'\n' | 0) => {}
                Some(_) => {
                    last_break = i;
                    i += 1;
                }
            },
            b'\n' => last_break = i + 1,
            _ if c == close => {
                depth -= 1;
                if depth == 0 {
                    return Delimited::Closed {
                        inner: (inner_start, i),
                        after: i + 1,
                    };
                }
            }
            _ if c == open && open == b'(' => depth += 1,
            _ => {}
        }
        i += 1;
    }
    Delimited::Unclosed {
        inner_start,
        last_break,
    }
}

/// Removes folding (`LF` and a `CR` before it) and, when `unescape`, resolves `\x` (except
/// before CR, LF and NUL). Borrows when there is nothing to change.
pub(super) fn unfold(text: &[u8], unescape: bool) -> Cow<'_, [u8]> {
    let needs_work = |c: &u8| *c == b'\n' || (unescape && *c == b'\\');
    if !text.iter().any(needs_work) {
        return Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while let Some(&c) = text.get(i) {
        match c {
            b'\\' if unescape => match text.get(i + 1) {
                Some(&next) if !matches!(next, b'\r' | b'\n' | 0) => {
                    out.push(next);
                    i += 1;
                }
                _ => out.push(c),
            },
            b'\r' if text.get(i + 1) == Some(&b'\n') => i += 1,
            b'\n' => {}
            _ => out.push(c),
        }
        i += 1;
    }
    Cow::Owned(out)
}

/// Scans the domain literal at `start` (which holds `[`): the literal with its brackets,
/// folding removed and escapes kept as written, and the position after it; or the position
/// where it broke (an unescaped `[` inside, or the end of the input).
pub(super) fn scan_domain_literal(
    input: &[u8],
    start: usize,
) -> Result<(Cow<'_, [u8]>, usize), usize> {
    let mut i = start + 1;
    while let Some(&c) = input.get(i) {
        match c {
            b'[' => return Err(i),
            b']' => return Ok((unfold(&input[start..=i], false), i + 1)),
            b'\\' => match input.get(i + 1) {
                None => break,
                Some(b'\r' | b'\n' | 0) => {}
                Some(_) => i += 1,
            },
            _ => {}
        }
        i += 1;
    }
    Err(input.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfold_removes_line_breaks_and_resolves_escapes() {
        assert_eq!(
            unfold(b"a\r\n b\nc\rd", false).as_ref(),
            b"a bc\rd".as_slice()
        );
        assert_eq!(unfold(b"\\x\\\\\\\n", true).as_ref(), b"x\\\\".as_slice());
        assert_eq!(unfold(b"\\x", false).as_ref(), b"\\x".as_slice());
        assert!(matches!(unfold(b"plain", true), Cow::Borrowed(_)));
    }

    #[test]
    fn comments_nest_and_escaped_parens_do_not_count() {
        let input = b"(a (b) \\) c) rest";
        match scan_delimited(input, 0, b'(') {
            Delimited::Closed { inner, after } => {
                assert_eq!(&input[inner.0..inner.1], b"a (b) \\) c");
                assert_eq!(&input[after..], b" rest");
            }
            Delimited::Unclosed { .. } => panic!("closed"),
        }
    }
}
