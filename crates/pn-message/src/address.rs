//! The first address of a From/To header, as Dovecot's `message_address_parse(..., 1, 0)` and
//! the push-notification plugin's `decode_address_header` see it.
//!
//! Own code: the plugin's output depends on Dovecot's exact recovery from broken input, which
//! mail-parser does not share. The grammar, over [`Lexer`] words of `atext` and dots:
//! - `phrase ":"` is a group: no address, the phrase is the display name;
//! - `phrase "<" [obs-route ":"] local-part ["@" domain] ">"` is a name-addr; a broken angle
//!   address keeps the parts read before the break;
//! - anything else is read as an addr-spec `local-part ["@" domain]`. Then the last comment
//!   read inside it is the display name (`a@b (Bob)`). Without a domain, words after the local
//!   part turn everything into a display name without address (`John Smith`, even the
//!   unreadable rest of a broken local part), a lone quoted local part becomes the display name
//!   (`"bob"`), and a lone unquoted one is the address (`bob`).
//!
//! A phrase joins its words (atoms glued to dots, quoted strings) with one space. A local part
//! allows any dots, but a dot must be followed directly by more of it, `@` or the end; a domain
//! allows CFWS around its dots, but every dot must sit between two atoms.

use std::borrow::Cow;

use crate::encoded_word::decode_header_utf8;
use crate::rfc822::{LexError, Lexer, WordChars};

/// The address fields the plugin derives from one header.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct FirstAddress {
    /// `mailbox@domain`, or `mailbox` when the domain is empty; `None` for a group.
    pub(crate) address: Option<Vec<u8>>,
    /// The RFC 2047-decoded display name (group name for a group); `None` when empty.
    pub(crate) display_name: Option<String>,
}

/// Parses the first address of a raw header value.
pub(crate) fn first_address(raw: &[u8]) -> FirstAddress {
    let mut lx = Lexer::new(raw, WordChars::AtextOrDot).tracking_comments();
    match lx.peek() {
        Ok(Some(_)) => parse(&mut lx).into(),
        Ok(None) | Err(_) => FirstAddress::default(),
    }
}

/// What the grammar found.
enum Parsed<'a> {
    Group { name: Cow<'a, [u8]> },
    Mailbox(Mailbox<'a>),
}

/// A mailbox's parts, each as far as it could be read.
#[derive(Default)]
struct Mailbox<'a> {
    local: Option<Cow<'a, [u8]>>,
    domain: Option<Cow<'a, [u8]>>,
    name: Option<Cow<'a, [u8]>>,
}

impl From<Parsed<'_>> for FirstAddress {
    fn from(parsed: Parsed<'_>) -> Self {
        let (address, name) = match parsed {
            Parsed::Group { name } => (None, Some(name)),
            Parsed::Mailbox(Mailbox {
                local,
                domain,
                name,
            }) => {
                let local = local.unwrap_or_default();
                let address = match domain.filter(|d| !d.is_empty()) {
                    Some(domain) => Some([&local[..], b"@", &domain[..]].concat()),
                    None => (!local.is_empty()).then(|| local.into_owned()),
                };
                (address, name)
            }
        };
        FirstAddress {
            address,
            display_name: name
                .filter(|n| !n.is_empty())
                .map(|n| decode_header_utf8(&n)),
        }
    }
}

/// Text that could not be read to its end, with what was read of it.
struct Partial<'a>(Cow<'a, [u8]>);

impl<'a> Partial<'a> {
    fn text(result: Result<Cow<'a, [u8]>, Partial<'a>>) -> Cow<'a, [u8]> {
        match result {
            Ok(text) | Err(Partial(text)) => text,
        }
    }
}

/// Text assembled from pieces of the input; copied only once a second non-empty piece comes.
#[derive(Default)]
struct Text<'a>(Cow<'a, [u8]>);

impl<'a> Text<'a> {
    fn push(&mut self, piece: Cow<'a, [u8]>) {
        if self.0.is_empty() {
            self.0 = piece;
        } else {
            self.0.to_mut().extend_from_slice(&piece);
        }
    }

    fn push_space(&mut self) {
        self.0.to_mut().push(b' ');
    }

    fn partial(self) -> Partial<'a> {
        Partial(self.0)
    }
}

fn parse<'a>(lx: &mut Lexer<'a>) -> Parsed<'a> {
    let start = lx.offset();
    if let Ok(name) = phrase(lx) {
        match lx.peek() {
            Ok(Some(b':')) => return Parsed::Group { name },
            Ok(Some(b'<')) => {
                lx.bump();
                return Parsed::Mailbox(Mailbox {
                    name: Some(name),
                    ..angle_addr(lx)
                });
            }
            _ => {}
        }
    }
    lx.seek(start);
    addr_spec(lx)
}

/// An obs-phrase from the current position: words joined by one space. It may not start with a
/// dot; when the position holds no word, the first word is empty (and still followed by a space
/// when more words come).
fn phrase<'a>(lx: &mut Lexer<'a>) -> Result<Cow<'a, [u8]>, Partial<'a>> {
    let mut text = Text::default();
    if lx.peek_raw() == Some(b'.') {
        return Err(text.partial());
    }
    loop {
        if lx.peek_raw() == Some(b'"') {
            match lx.quoted() {
                Ok(quoted) => text.push(quoted),
                Err(LexError::UnclosedQuote { partial }) => {
                    text.push(partial);
                    return Err(text.partial());
                }
                Err(_) => return Err(text.partial()),
            }
        } else {
            text.push(Cow::Borrowed(lx.word()));
        }
        match lx.peek() {
            Ok(Some(c)) if c == b'"' || WordChars::AtextOrDot.contains(c) => text.push_space(),
            Ok(_) => return Ok(text.0),
            Err(_) => return Err(text.partial()),
        }
    }
}

/// After `<`: `[obs-route ":"] local-part ["@" domain]`, as far as it can be read.
fn angle_addr<'a>(lx: &mut Lexer<'a>) -> Mailbox<'a> {
    if lx.peek() == Ok(Some(b'@')) && skip_route(lx) && lx.peek() == Ok(Some(b':')) {
        lx.bump();
    }
    if !matches!(lx.peek(), Ok(Some(c)) if c != b'>') {
        return Mailbox::default();
    }
    let Ok(local) = local_part(lx) else {
        return Mailbox::default();
    };
    let domain = if lx.peek_raw() == Some(b'@') {
        domain(lx)
    } else {
        None
    };
    Mailbox {
        local: Some(local),
        domain,
        name: None,
    }
}

/// Skips an obs-route (`@a,@b`). `true` when it ends at something other than `@`, `false` at
/// the end of the input or at a broken domain (where the lexer then stands).
fn skip_route(lx: &mut Lexer<'_>) -> bool {
    loop {
        match lx.peek() {
            Ok(Some(b'@')) => {}
            Ok(Some(_)) => return true,
            Ok(None) | Err(_) => return false,
        }
        if domain(lx).is_none() {
            return false;
        }
        while lx.eat(b',') == Ok(true) {}
    }
}

fn addr_spec<'a>(lx: &mut Lexer<'a>) -> Parsed<'a> {
    // Only a comment inside the addr-spec names it.
    let _ = lx.take_comment();
    let quoted = lx.peek_raw() == Some(b'"');
    let local = local_part(lx);
    // Not `peek`: a local part broken at a dot stands before CFWS, and then `@` does not count.
    let with_domain = lx.peek_raw() == Some(b'@');
    let domain = if with_domain { domain(lx) } else { None };
    if let Some(comment) = lx.take_comment() {
        return Parsed::Mailbox(Mailbox {
            local: local.ok(),
            domain,
            name: Some(comment),
        });
    }
    if with_domain {
        return Parsed::Mailbox(Mailbox {
            local: local.ok(),
            domain,
            name: None,
        });
    }
    let more = Partial::text(phrase(lx));
    if !more.is_empty() {
        let read = Partial::text(local);
        return Parsed::Mailbox(Mailbox {
            name: Some(Cow::Owned([&read[..], b" ", &more[..]].concat())),
            ..Mailbox::default()
        });
    }
    Parsed::Mailbox(match local {
        Ok(local) if quoted => Mailbox {
            name: Some(local),
            ..Mailbox::default()
        },
        local => Mailbox {
            local: local.ok(),
            ..Mailbox::default()
        },
    })
}

/// A local part: a quoted string, or words of `atext` and dots.
fn local_part<'a>(lx: &mut Lexer<'a>) -> Result<Cow<'a, [u8]>, Partial<'a>> {
    if lx.peek_raw() == Some(b'"') {
        return match lx.quoted() {
            Ok(quoted) if lx.skip_cfws().is_ok() => Ok(quoted),
            Ok(quoted) => Err(Partial(quoted)),
            Err(LexError::UnclosedQuote { partial }) => Err(Partial(partial)),
            Err(_) => Err(Partial(Cow::Borrowed(b""))),
        };
    }
    let mut text = Text::default();
    loop {
        let word = lx.word();
        if word.is_empty() {
            return Err(text.partial());
        }
        text.push(Cow::Borrowed(word));
        if word.ends_with(b".") {
            // Dovecot wants the next atom right after a dot, without CFWS: `john. smith` is
            // broken, `john .smith` is `john.smith`.
            return match lx.peek_raw() {
                None | Some(b'@') => Ok(text.0),
                Some(_) => Err(text.partial()),
            };
        }
        if lx.skip_cfws().is_err() {
            return Err(text.partial());
        }
        if lx.peek_raw() != Some(b'.') {
            return Ok(text.0);
        }
    }
}

/// `"@" domain` at the `@`: a domain literal or a dot-atom. On a syntax error the lexer stays
/// where the error is (an obs-route goes on from there).
fn domain<'a>(lx: &mut Lexer<'a>) -> Option<Cow<'a, [u8]>> {
    lx.bump();
    match lx.peek() {
        Ok(Some(b'[')) => {
            let literal = lx.domain_literal().ok()?;
            lx.skip_cfws().ok()?;
            Some(literal)
        }
        Ok(Some(_)) => dot_atom(lx),
        Ok(None) | Err(_) => None,
    }
}

/// Atoms separated by dots, CFWS allowed around the dots; the atoms joined by `.`.
fn dot_atom<'a>(lx: &mut Lexer<'a>) -> Option<Cow<'a, [u8]>> {
    let mut text = Text::default();
    // An atom must come first, and after every dot.
    let mut after_dot = true;
    loop {
        let start = lx.offset();
        let word = lx.word();
        for (i, &c) in word.iter().enumerate() {
            let dot = c == b'.';
            if dot && after_dot {
                lx.seek(start + i);
                return None;
            }
            after_dot = dot;
        }
        if word.is_empty() {
            return None;
        }
        text.push(Cow::Borrowed(word));
        lx.skip_cfws().ok()?;
        match (after_dot, lx.peek_raw()) {
            (true, None) => return None,
            (true, Some(_)) | (false, Some(b'.')) => {}
            (false, _) => return Some(text.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(raw: &str) -> (Option<String>, Option<String>) {
        let a = first_address(raw.as_bytes());
        (
            a.address.map(|v| String::from_utf8_lossy(&v).into_owned()),
            a.display_name,
        )
    }

    fn some(address: &str, name: &str) -> (Option<String>, Option<String>) {
        (
            (!address.is_empty()).then(|| address.into()),
            (!name.is_empty()).then(|| name.into()),
        )
    }

    #[test]
    fn name_addr() {
        assert_eq!(
            addr("\"Doe, John (Sales)\" <john.doe@example.org>"),
            some("john.doe@example.org", "Doe, John (Sales)")
        );
    }

    #[test]
    fn bare_mailbox_without_domain() {
        assert_eq!(addr("bob"), some("bob", ""));
    }

    #[test]
    fn words_without_brackets_are_a_display_name() {
        assert_eq!(addr("John Smith"), some("", "John Smith"));
    }

    #[test]
    fn comment_is_the_display_name() {
        assert_eq!(
            addr("bob@example.org (Bob Smith)"),
            some("bob@example.org", "Bob Smith")
        );
        // the last comment wins, and only comments inside the addr-spec count
        assert_eq!(addr("(x) a(one)@b (two)"), some("a@b", "two"));
    }

    #[test]
    fn group_gives_its_name_and_no_address() {
        assert_eq!(addr("Friends: a@b.c, d@e.f;"), some("", "Friends"));
        assert_eq!(
            addr("undisclosed-recipients:;"),
            some("", "undisclosed-recipients")
        );
    }

    #[test]
    fn encoded_display_name_is_decoded() {
        assert_eq!(
            addr("=?UTF-8?Q?Zo=C3=AB?= <zoe@example.org>"),
            some("zoe@example.org", "Zoë")
        );
    }

    #[test]
    fn empty_header_has_no_address() {
        assert_eq!(addr("   "), some("", ""));
        assert_eq!(addr("<>"), some("", ""));
        assert_eq!(addr("(unclosed"), some("", ""));
    }

    #[test]
    fn phrase_words_are_joined_by_one_space() {
        assert_eq!(
            addr("Dr.  J.\"R.\"Smith\r\n Jr. <j@x>"),
            some("j@x", "Dr. J. R. Smith Jr.")
        );
    }

    #[test]
    fn domain_allows_cfws_around_its_dots() {
        assert_eq!(
            addr("<a .b @ example (c) . org>"),
            some("a.b@example.org", "")
        );
        assert_eq!(addr("<a@[192.0.2.1]>"), some("a@[192.0.2.1]", ""));
    }

    #[test]
    fn broken_angle_address_keeps_what_was_read() {
        assert_eq!(addr("Bob <bob@example..org>"), some("bob", "Bob"));
        assert_eq!(addr("Bob <bob"), some("bob", "Bob"));
        assert_eq!(addr("<@route.example:bob@x>"), some("bob@x", ""));
    }

    #[test]
    fn lone_quoted_local_part_is_a_display_name() {
        assert_eq!(addr("\"bob\""), some("", "bob"));
        assert_eq!(addr("\"bob\"@x"), some("bob@x", ""));
    }

    #[test]
    fn missing_local_part_keeps_the_domain() {
        assert_eq!(addr("@example.org"), some("@example.org", ""));
    }

    #[test]
    fn a_dot_must_not_be_followed_by_space_in_a_local_part() {
        // the unreadable local part and the words after it become the display name
        assert_eq!(addr("john. smith"), some("", "john.  smith"));
        assert_eq!(addr("john .smith"), some("john.smith", ""));
    }
}
