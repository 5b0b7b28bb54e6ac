//! An RFC 5322 lexer for header values, shared by the address, date and MIME field parsers.
//!
//! Own code, not mail-parser: the address, date and Content-Type rules built on it (what counts
//! as a phrase, where a comment becomes a display name, how a broken value degrades) differ from
//! mail-parser's, and the exact degradation is observable in the pushed data.
//!
//! [`Lexer`] yields typed [`Token`]s and skips CFWS (whitespace, line breaks and nested
//! comments) before each one. It is lenient where Dovecot is, and these leniencies are what the
//! grammars on top rely on:
//! - 8-bit bytes are `atext`, so UTF-8 and Latin-1 words need no encoding;
//! - the caller picks which bytes form a word ([`WordChars`]): RFC 5322 atoms, atoms glued to
//!   dots (obs-phrase and obs-local-part words such as `Jr.` or `john..doe`), or RFC 2045 MIME
//!   tokens;
//! - folding inside quoted strings, comments and domain literals is removed: an LF and a CR
//!   right before it disappear, the whitespace after them stays;
//! - `\x` in a quoted string or comment stands for `x`, except before CR, LF or NUL, where the
//!   backslash is an ordinary byte; in a domain literal the escape is kept as written;
//! - an unclosed quoted string or comment runs to the end of the input; the text up to its last
//!   line break or escape is still reported (the address recovery shows it);
//! - the text of the last comment skipped can be kept ([`Lexer::tracking_comments`]), because a
//!   comment after an addr-spec is its display name.

mod enclosed;

use std::borrow::Cow;

use enclosed::{Delimited, scan_delimited, scan_domain_literal, unfold};

/// Class bit: RFC 5322 `atext` (8-bit bytes included, as Dovecot reads them).
const ATEXT: u8 = 1;
/// Class bit: RFC 2045 token byte.
const MIME_TOKEN: u8 = 2;
/// Class bit: `.`.
const DOT: u8 = 4;
/// The class bits of each byte.
const CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        if (c as u8).is_ascii_alphanumeric() || c >= 0x80 {
            t[c] = ATEXT | MIME_TOKEN;
        }
        c += 1;
    }
    let symbols = b"!#$%&'*+-^_`{|}~";
    let mut i = 0;
    while i < symbols.len() {
        t[symbols[i] as usize] = ATEXT | MIME_TOKEN;
        i += 1;
    }
    // MIME tspecials that RFC 5322 counts as atext
    t[b'/' as usize] = ATEXT;
    t[b'=' as usize] = ATEXT;
    t[b'?' as usize] = ATEXT;
    t[b'.' as usize] = MIME_TOKEN | DOT;
    t
};

/// Whether `c` is whitespace between tokens (comments aside).
fn is_wsp(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Which bytes make up a [`Token::Word`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WordChars {
    /// RFC 5322 `atext`: atoms, as in dates.
    Atext,
    /// `atext` and `.`: the words of obs-phrase and obs-local-part, as in addresses.
    AtextOrDot,
    /// RFC 2045 `token`: `atext` without the tspecials `/`, `=` and `?`, plus `.`.
    MimeToken,
}

impl WordChars {
    /// Whether `c` belongs to a word.
    pub(crate) fn contains(self, c: u8) -> bool {
        CLASSES[usize::from(c)] & self.mask() != 0
    }

    fn mask(self) -> u8 {
        match self {
            WordChars::Atext => ATEXT,
            WordChars::AtextOrDot => ATEXT | DOT,
            WordChars::MimeToken => MIME_TOKEN,
        }
    }
}

/// One lexical token of a header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    /// A run of word bytes (see [`WordChars`]).
    Word(&'a [u8]),
    /// A quoted string's content: escapes resolved, folding removed.
    Quoted(Cow<'a, [u8]>),
    /// Any other single byte (`<`, `@`, `,`, `;`, …).
    Special(u8),
}

/// Why lexing stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LexError<'a> {
    /// A comment is not closed before the end of the input.
    UnclosedComment,
    /// A quoted string is not closed before the end of the input; `partial` is its text up to
    /// its last line break or escape.
    UnclosedQuote {
        /// The text before the last line break or escape.
        partial: Cow<'a, [u8]>,
    },
    /// A domain literal is not closed, or contains an unescaped `[`.
    BadDomainLiteral,
}

/// A cursor over one header value that produces [`Token`]s.
///
/// CFWS before a token is skipped when the token (or a [`Lexer::peek`] at it) is asked for, not
/// after the previous one: a grammar that must see the byte right after a token (a local part's
/// trailing dot) can, and a comment is only read once the grammar gets that far.
pub(crate) struct Lexer<'a> {
    input: &'a [u8],
    pos: usize,
    words: WordChars,
    comments: Comments<'a>,
}

/// What the lexer remembers of the comments it skips.
enum Comments<'a> {
    Ignored,
    /// The text of the last one, if any.
    Tracked(Option<Cow<'a, [u8]>>),
}

impl<'a> Lexer<'a> {
    /// A lexer over `input` whose words are made of `words`.
    pub(crate) fn new(input: &'a [u8], words: WordChars) -> Self {
        Lexer {
            input,
            pos: 0,
            words,
            comments: Comments::Ignored,
        }
    }

    /// The same lexer, keeping the text of the last comment skipped (see
    /// [`Lexer::take_comment`]).
    pub(crate) fn tracking_comments(mut self) -> Self {
        self.comments = Comments::Tracked(None);
        self
    }

    /// The current position in the input.
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    /// Moves to `offset` (clamped to the input).
    pub(crate) fn seek(&mut self, offset: usize) {
        self.pos = offset.min(self.input.len());
    }

    /// The input after the current position.
    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.input[self.pos..]
    }

    /// The byte at the current position, without skipping CFWS.
    pub(crate) fn peek_raw(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    /// Consumes one byte (one already looked at with a peek).
    pub(crate) fn bump(&mut self) {
        self.seek(self.pos + 1);
    }

    /// Skips whitespace, line breaks and comments. An unclosed comment consumes the rest of the
    /// input.
    pub(crate) fn skip_cfws(&mut self) -> Result<(), LexError<'a>> {
        while let Some(c) = self.peek_raw() {
            if is_wsp(c) {
                self.pos += 1;
            } else if c == b'(' {
                self.skip_comment()?;
            } else {
                break;
            }
        }
        Ok(())
    }

    fn skip_comment(&mut self) -> Result<(), LexError<'a>> {
        let (text, result) = match scan_delimited(self.input, self.pos, b'(') {
            Delimited::Closed {
                inner: (from, to),
                after,
            } => {
                self.pos = after;
                (&self.input[from..to], Ok(()))
            }
            Delimited::Unclosed {
                inner_start,
                last_break,
            } => {
                self.pos = self.input.len();
                (
                    &self.input[inner_start..last_break],
                    Err(LexError::UnclosedComment),
                )
            }
        };
        if let Comments::Tracked(last) = &mut self.comments {
            *last = Some(unfold(text, true));
        }
        result
    }

    /// Skips CFWS and returns the next byte without consuming it (`None` at the end).
    pub(crate) fn peek(&mut self) -> Result<Option<u8>, LexError<'a>> {
        self.skip_cfws()?;
        Ok(self.peek_raw())
    }

    /// Skips CFWS and consumes `c` when it comes next.
    pub(crate) fn eat(&mut self, c: u8) -> Result<bool, LexError<'a>> {
        let found = self.peek()? == Some(c);
        if found {
            self.bump();
        }
        Ok(found)
    }

    /// The (possibly empty) run of word bytes at the current position, without skipping CFWS.
    pub(crate) fn word(&mut self) -> &'a [u8] {
        let rest = self.rest();
        let mask = self.words.mask();
        let len = rest
            .iter()
            .position(|&c| CLASSES[usize::from(c)] & mask == 0)
            .unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    /// The quoted string at the current position (which holds `"`); an unclosed one consumes
    /// the rest of the input.
    pub(crate) fn quoted(&mut self) -> Result<Cow<'a, [u8]>, LexError<'a>> {
        match scan_delimited(self.input, self.pos, b'"') {
            Delimited::Closed {
                inner: (from, to),
                after,
            } => {
                self.pos = after;
                Ok(unfold(&self.input[from..to], true))
            }
            Delimited::Unclosed {
                inner_start,
                last_break,
            } => {
                self.pos = self.input.len();
                Err(LexError::UnclosedQuote {
                    partial: unfold(&self.input[inner_start..last_break], true),
                })
            }
        }
    }

    /// The domain literal at the current position (which holds `[`), brackets included, folding
    /// removed and escapes kept. On an unescaped `[` inside, the lexer stops at that `[`; an
    /// unclosed literal consumes the rest of the input.
    pub(crate) fn domain_literal(&mut self) -> Result<Cow<'a, [u8]>, LexError<'a>> {
        match scan_domain_literal(self.input, self.pos) {
            Ok((literal, after)) => {
                self.pos = after;
                Ok(literal)
            }
            Err(stop) => {
                self.pos = stop;
                Err(LexError::BadDomainLiteral)
            }
        }
    }

    /// The raw bytes up to (not including) the first one for which `stop` holds.
    pub(crate) fn raw_until(&mut self, stop: impl Fn(u8) -> bool) -> &'a [u8] {
        let rest = self.rest();
        let len = rest.iter().position(|&c| stop(c)).unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    /// Takes the text of the last comment skipped since the previous call (or since tracking
    /// started), if it is not empty.
    pub(crate) fn take_comment(&mut self) -> Option<Cow<'a, [u8]>> {
        match &mut self.comments {
            Comments::Tracked(last) => last.take().filter(|c| !c.is_empty()),
            Comments::Ignored => None,
        }
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Result<Token<'a>, LexError<'a>>;

    /// Skips CFWS, then lexes one token; `None` at the end of the input.
    fn next(&mut self) -> Option<Self::Item> {
        let c = match self.peek() {
            Ok(c) => c?,
            Err(e) => return Some(Err(e)),
        };
        Some(if self.words.contains(c) {
            Ok(Token::Word(self.word()))
        } else if c == b'"' {
            self.quoted().map(Token::Quoted)
        } else {
            self.bump();
            Ok(Token::Special(c))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(input: &[u8], words: WordChars) -> Vec<Result<Token<'_>, LexError<'_>>> {
        Lexer::new(input, words).collect()
    }

    #[test]
    fn byte_classes() {
        let words =
            |chars: WordChars| -> Vec<u8> { (0..=255u8).filter(|&c| chars.contains(c)).collect() };
        let ascii_atext: Vec<u8> = words(WordChars::Atext)
            .into_iter()
            .filter(u8::is_ascii)
            .collect();
        assert_eq!(
            ascii_atext,
            b"!#$%&'*+-/0123456789=?ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`abcdefghijklmnopqrstuvwxyz{|}~"
        );
        assert_eq!(words(WordChars::Atext).len(), ascii_atext.len() + 128);
        let mime: Vec<u8> = words(WordChars::MimeToken);
        assert!(mime.contains(&b'.') && !mime.contains(&b'/') && !mime.contains(&b'='));
        assert_eq!(mime.len(), ascii_atext.len() + 128 - 3 + 1);
        assert!(WordChars::AtextOrDot.contains(b'.') && !WordChars::Atext.contains(b'.'));
    }

    #[test]
    fn cfws_between_tokens_is_skipped() {
        assert_eq!(
            tokens(b" Mon (the (first)) ,\r\n\t1", WordChars::Atext),
            [
                Ok(Token::Word(b"Mon")),
                Ok(Token::Special(b',')),
                Ok(Token::Word(b"1"))
            ]
        );
    }

    #[test]
    fn word_chars_decide_where_words_end() {
        let input = b"text/plain.x=1";
        assert_eq!(
            tokens(input, WordChars::Atext),
            [
                Ok(Token::Word(b"text/plain")),
                Ok(Token::Special(b'.')),
                Ok(Token::Word(b"x=1"))
            ]
        );
        assert_eq!(
            tokens(input, WordChars::MimeToken),
            [
                Ok(Token::Word(b"text")),
                Ok(Token::Special(b'/')),
                Ok(Token::Word(b"plain.x")),
                Ok(Token::Special(b'=')),
                Ok(Token::Word(b"1"))
            ]
        );
        assert_eq!(
            tokens(b"J\xf6rg Jr.", WordChars::AtextOrDot),
            [Ok(Token::Word(b"J\xf6rg")), Ok(Token::Word(b"Jr."))]
        );
    }

    #[test]
    fn quoted_strings_are_unescaped_and_unfolded() {
        assert_eq!(
            tokens(b"\"a\\\"b\r\n c\\\r\n\"", WordChars::Atext),
            [Ok(Token::Quoted(Cow::Owned(b"a\"b c\\".to_vec())))]
        );
        let plain = tokens(b"\"no escapes\"", WordChars::Atext);
        assert!(matches!(
            plain[..],
            [Ok(Token::Quoted(Cow::Borrowed(b"no escapes")))]
        ));
    }

    #[test]
    fn unclosed_quote_keeps_the_text_before_its_last_break() {
        assert_eq!(
            tokens(b"\"one\n two", WordChars::Atext),
            [Err(LexError::UnclosedQuote {
                partial: Cow::Borrowed(b"one")
            })]
        );
        assert_eq!(
            tokens(b"\"a\\", WordChars::Atext),
            [Err(LexError::UnclosedQuote {
                partial: Cow::Borrowed(b"")
            })]
        );
    }

    #[test]
    fn last_comment_is_tracked_even_when_unclosed() {
        let mut lx = Lexer::new(b"a (one) (t\\)wo) b (x\ny", WordChars::Atext).tracking_comments();
        assert_eq!(lx.next(), Some(Ok(Token::Word(b"a"))));
        assert_eq!(lx.next(), Some(Ok(Token::Word(b"b"))));
        assert_eq!(lx.take_comment().as_deref(), Some(&b"t)wo"[..]));
        assert_eq!(lx.take_comment(), None);
        assert_eq!(lx.next(), Some(Err(LexError::UnclosedComment)));
        assert_eq!(lx.take_comment().as_deref(), Some(&b"x"[..]));
        assert_eq!(lx.next(), None);
    }

    #[test]
    fn domain_literals_keep_escapes_and_stop_at_a_nested_bracket() {
        let mut lx = Lexer::new(b"[1.2\\]\n .3]x", WordChars::AtextOrDot);
        assert_eq!(lx.domain_literal().as_deref(), Ok(&b"[1.2\\] .3]"[..]));
        assert_eq!(lx.rest(), b"x");
        let mut lx = Lexer::new(b"[a[b]", WordChars::AtextOrDot);
        assert_eq!(lx.domain_literal(), Err(LexError::BadDomainLiteral));
        assert_eq!(lx.rest(), b"[b]");
    }

    #[test]
    fn peek_skips_cfws_but_peek_raw_does_not() {
        let mut lx = Lexer::new(b". (c) @", WordChars::Atext);
        lx.bump();
        assert_eq!(lx.peek_raw(), Some(b' '));
        assert_eq!(lx.peek(), Ok(Some(b'@')));
        assert_eq!(lx.eat(b'@'), Ok(true));
        assert_eq!(lx.peek(), Ok(None));
    }
}
