//! The values of the MIME header fields the snippet depends on: Content-Type
//! (`type/subtype; name=value …`) and Content-Transfer-Encoding.
//!
//! Own code over [`Lexer`] with RFC 2045 token words, because how a broken value degrades is
//! observable: it decides which part is the text part and how it is decoded. Dovecot's rules:
//! - Content-Type is valid only as `type "/" subtype` followed by the end or `;` (CFWS allowed
//!   around the `/`). When the value ends or breaks right after the type, the type alone is kept
//!   as the content type; any other error keeps nothing. A broken value has no parameters.
//! - A parameter is `";" name "=" value` where the value is a token (possibly empty), a quoted
//!   string, or — Dovecot's workaround for unquoted encoded words such as `name==?utf-8?b?…?=`
//!   — the raw bytes up to the next `;` or whitespace when the value starts with `=`. A
//!   parameter that does not parse (including a value followed by a broken comment) is skipped
//!   up to the next `;` after the point where it broke; one that breaks at the end of the input
//!   ends the list.
//! - RFC 2231: a plain `name=` wins; without one, sections `name*0=`, `name*1=` … are merged
//!   (as Dovecot does) and extended values `name*=charset'lang'%XX` / `name*0*=` are decoded
//!   (Dovecot leaves those unset: a deliberate difference, see `docs/compat.md`).
//! - Content-Transfer-Encoding is its first token, parameters after a `;` ignored; anything
//!   else after the token makes the encoding unknown.

use std::borrow::Cow;

use crate::rfc822::{Lexer, WordChars};

/// The headers the body decoder uses (`message-decoder.c`): first Content-Type, last
/// Content-Transfer-Encoding.
#[derive(Debug, Clone, Default)]
pub(crate) struct Decoding {
    /// `type/subtype` as written (`None` without a Content-Type header; may be only the type,
    /// or empty, when broken).
    pub(crate) content_type: Option<Vec<u8>>,
    /// The `charset` parameter.
    pub(crate) charset: Option<Vec<u8>>,
    /// The transfer encoding.
    pub(crate) cte: Cte,
}

/// A Content-Transfer-Encoding as Dovecot classifies it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Cte {
    /// 7bit, 8bit, binary or none.
    #[default]
    Identity,
    /// quoted-printable.
    QuotedPrintable,
    /// base64.
    Base64,
    /// Anything else: the body is skipped.
    Unknown,
}

/// Classifies a Content-Transfer-Encoding value.
pub(crate) fn parse_cte(value: &[u8]) -> Cte {
    let mut lx = Lexer::new(value, WordChars::MimeToken);
    // A broken comment leaves nothing to read, which makes the encoding unknown below.
    let _ = lx.skip_cfws();
    let token = lx.word();
    if matches!(lx.peek(), Ok(Some(c)) if c != b';') {
        return Cte::Unknown;
    }
    let is = |name: &[u8]| token.eq_ignore_ascii_case(name);
    if is(b"7bit") || is(b"8bit") || is(b"binary") {
        Cte::Identity
    } else if is(b"base64") {
        Cte::Base64
    } else if is(b"quoted-printable") {
        Cte::QuotedPrintable
    } else {
        Cte::Unknown
    }
}

/// A parsed Content-Type value.
pub(crate) struct ContentType<'a> {
    /// `type/subtype` as written without CFWS; for a broken value what Dovecot keeps (the type
    /// alone, or nothing).
    pub(crate) mime_type: Cow<'a, [u8]>,
    value: &'a [u8],
    /// Where the parameters start; `None` for a broken value.
    params_at: Option<usize>,
}

impl<'a> ContentType<'a> {
    /// Parses a Content-Type value.
    pub(crate) fn parse(value: &'a [u8]) -> Self {
        let broken = |mime_type: &'a [u8]| ContentType {
            mime_type: Cow::Borrowed(mime_type),
            value,
            params_at: None,
        };
        let mut lx = Lexer::new(value, WordChars::MimeToken);
        if !matches!(lx.peek(), Ok(Some(_))) {
            return broken(b"");
        }
        let type_start = lx.offset();
        let main = lx.word();
        if main.is_empty() {
            return broken(b"");
        }
        match lx.peek() {
            Ok(Some(b'/')) => lx.bump(),
            Ok(Some(_)) => return broken(b""),
            Ok(None) | Err(_) => return broken(main),
        }
        if !matches!(lx.peek(), Ok(Some(_))) {
            return broken(b"");
        }
        let sub = lx.word();
        let end = lx.offset();
        if sub.is_empty() || !matches!(lx.peek(), Ok(None | Some(b';'))) {
            return broken(b"");
        }
        let written = &value[type_start..end];
        let mime_type = if written.len() == main.len() + 1 + sub.len() {
            Cow::Borrowed(written)
        } else {
            Cow::Owned([main, b"/", sub].concat())
        };
        ContentType {
            mime_type,
            value,
            params_at: Some(lx.offset()),
        }
    }

    /// The parameters that parse, in order; none for a broken value.
    pub(crate) fn params(&self) -> Params<'a> {
        let mut lx = Lexer::new(self.value, WordChars::MimeToken);
        lx.seek(self.params_at.unwrap_or(self.value.len()));
        Params { lx }
    }

    /// The value of the parameter called `name` (ASCII case-insensitive): the first plain
    /// `name=` one, as Dovecot; without one, the RFC 2231 form (`name*=`, `name*0=`, `name*1*=`
    /// …) merged and decoded.
    pub(crate) fn param(&self, name: &[u8]) -> Option<Cow<'a, [u8]>> {
        if let Some((_, value)) = self
            .params()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
        {
            return Some(value);
        }
        rfc2231(self.params(), name).map(Cow::Owned)
    }
}

/// Merges and decodes the RFC 2231 parameter `name`: an extended value `name*=charset'lang'…`
/// (percent-encoded) or the sections `name*0`, `name*1`, … in number order up to the first
/// missing one, each of them extended when its name ends in `*`. The value's charset is not
/// applied: the parameters pn reads (`charset`, `boundary`) are ASCII.
///
/// Dovecot merges plain sections only; an extended value or section leaves the parameter
/// unset there (see `docs/compat.md`).
fn rfc2231<'a>(params: Params<'a>, name: &[u8]) -> Option<Vec<u8>> {
    let mut sections: Vec<(u32, bool, Cow<'a, [u8]>)> = Vec::new();
    let mut single: Option<Cow<'a, [u8]>> = None;
    for (key, value) in params {
        let Some(rest) = key
            .get(..name.len())
            .filter(|k| k.eq_ignore_ascii_case(name))
            .and_then(|_| key[name.len()..].strip_prefix(b"*"))
        else {
            continue;
        };
        if rest.is_empty() {
            single.get_or_insert(value);
            continue;
        }
        let (digits, extended) = match rest.strip_suffix(b"*") {
            Some(d) => (d, true),
            None => (rest, false),
        };
        let n = std::str::from_utf8(digits)
            .ok()
            .filter(|d| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|d| d.parse::<u32>().ok());
        if let Some(n) = n
            && !sections.iter().any(|(m, _, _)| *m == n)
        {
            sections.push((n, extended, value));
        }
    }
    if let Some(value) = single {
        return Some(percent_decode(strip_charset_lang(&value)));
    }
    sections.sort_by_key(|(n, _, _)| *n);
    let mut out = Vec::new();
    for (i, (n, extended, value)) in sections.iter().enumerate() {
        if *n as usize != i {
            break;
        }
        match (*extended, i) {
            (true, 0) => out.extend(percent_decode(strip_charset_lang(value))),
            (true, _) => out.extend(percent_decode(value)),
            (false, _) => out.extend_from_slice(value),
        }
    }
    (!sections.is_empty() && sections[0].0 == 0).then_some(out)
}

/// The value after `charset'language'` (the whole value when it has no two quotes).
fn strip_charset_lang(value: &[u8]) -> &[u8] {
    let mut quotes = value.iter().enumerate().filter(|(_, c)| **c == b'\'');
    match (quotes.next(), quotes.next()) {
        (Some(_), Some((second, _))) => &value[second + 1..],
        _ => value,
    }
}

/// `%XX` decoded; a broken `%` is kept.
fn percent_decode(value: &[u8]) -> Vec<u8> {
    percent_encoding::percent_decode(value).collect()
}

/// The parameters of a Content-Type value: `(name, value)` pairs.
pub(crate) struct Params<'a> {
    lx: Lexer<'a>,
}

impl<'a> Params<'a> {
    /// One parameter at its `;`; on an error the lexer stays where it broke.
    fn param(&mut self) -> Option<(&'a [u8], Cow<'a, [u8]>)> {
        let lx = &mut self.lx;
        lx.bump();
        lx.peek().ok()??;
        let name = lx.word();
        if !lx.eat(b'=').ok()? {
            return None;
        }
        let value = match lx.peek().ok()? {
            None => Cow::Borrowed(&b""[..]),
            Some(b'"') => lx.quoted().ok()?,
            Some(b'=') => {
                return Some((
                    name,
                    Cow::Borrowed(
                        lx.raw_until(|c| matches!(c, b';' | b' ' | b'\t' | b'\r' | b'\n')),
                    ),
                ));
            }
            Some(_) => Cow::Borrowed(lx.word()),
        };
        lx.skip_cfws().ok()?;
        Some((name, value))
    }
}

impl<'a> Iterator for Params<'a> {
    type Item = (&'a [u8], Cow<'a, [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(c) = self.lx.peek_raw() {
            if c == b';'
                && let Some(param) = self.param()
            {
                return Some(param);
            }
            // Go on at the next `;` after where it broke (the end when it broke there).
            let rest = self.lx.rest().get(1..).unwrap_or_default();
            let skip = memchr::memchr(b';', rest).map_or(rest.len(), |i| i);
            self.lx.seek(self.lx.offset() + 1 + skip);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(value: &[u8]) -> Vec<(String, String)> {
        ContentType::parse(value)
            .params()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn content_type_and_params() {
        let ct = ContentType::parse(b" Text/Plain ; format=flowed; charset=\"ISO-8859-1\"");
        assert_eq!(&ct.mime_type[..], b"Text/Plain");
        assert!(ct.params_at.is_some());
        assert_eq!(ct.param(b"CHARSET").as_deref(), Some(&b"ISO-8859-1"[..]));
        assert_eq!(ct.param(b"boundary"), None);
    }

    #[test]
    fn cfws_around_the_slash_is_dropped() {
        let ct = ContentType::parse(b"text (x) /\r\n html;a=b");
        assert_eq!(&ct.mime_type[..], b"text/html");
        assert!(ct.params_at.is_some());
    }

    #[test]
    fn broken_content_types() {
        for (value, kept) in [
            (&b"text"[..], &b"text"[..]),
            (b"text (unclosed", b"text"),
            (b"text plain", b""),
            (b"/plain", b""),
            (b"text/", b""),
            (b"text/plain x", b""),
            (b"text/plain (", b""),
            (b"", b""),
        ] {
            let ct = ContentType::parse(value);
            assert_eq!(&ct.mime_type[..], kept, "{value:?}");
            assert!(ct.params_at.is_none(), "{value:?}");
            assert_eq!(ct.params().count(), 0);
        }
    }

    #[test]
    fn broken_parameters_are_skipped_to_the_next_semicolon() {
        assert_eq!(
            params(b"text/plain; a b=c; =x; d=\"q;r\"s; e=; f=(c)g (h)"),
            [
                ("".into(), "x".into()),
                ("d".into(), "q;r".into()),
                ("e".into(), "".into()),
                ("f".into(), "g".into())
            ]
        );
        // a value followed by a broken comment is lost, and so is everything after it
        assert_eq!(
            params(b"text/plain; a=b; c=d (x; e=f"),
            [("a".into(), "b".into())]
        );
    }

    #[test]
    fn raw_value_after_equals_sign() {
        assert_eq!(
            params(b"text/plain; name==?utf-8?b?w6k=?= x; b=c"),
            [
                ("name".into(), "=?utf-8?b?w6k=?=".into()),
                ("b".into(), "c".into())
            ]
        );
    }

    #[test]
    fn rfc2231_parameters() {
        let get = |v: &[u8], name: &[u8]| {
            ContentType::parse(v)
                .param(name)
                .map(|p| String::from_utf8_lossy(&p).into_owned())
        };
        let cases: [(&[u8], Option<&str>); 9] = [
            (
                b"text/plain; charset*0=\"iso-8859\"; charset*1=\"-15\"",
                Some("iso-8859-15"),
            ),
            (
                b"text/plain; charset*1=-15; charset*0=iso-8859",
                Some("iso-8859-15"),
            ),
            (
                b"text/plain; charset*=utf-8''iso%2D8859-15",
                Some("iso-8859-15"),
            ),
            (b"text/plain; charset*=''x", Some("x")),
            (
                b"text/plain; charset*0*=us-ascii'en'a%62; charset*1*=%63; charset*2=%64",
                Some("abc%64"),
            ),
            (b"text/plain; charset*0=a; charset*2=c", Some("a")),
            (b"text/plain; charset*1=b", None),
            (b"text/plain; charset=plain; charset*=''ext", Some("plain")),
            (b"text/plain; charset*=''ext; charset=plain", Some("plain")),
        ];
        for (value, want) in cases {
            assert_eq!(get(value, b"charset").as_deref(), want, "{value:?}");
        }
        assert_eq!(
            get(
                b"multipart/mixed; BOUNDARY*0=ab; boundary*1=cd",
                b"boundary"
            )
            .as_deref(),
            Some("abcd")
        );
        assert_eq!(
            get(
                b"text/plain; name*0*=utf-8''na%C3%AF; name*1=ve.txt",
                b"name"
            )
            .as_deref(),
            Some("naïve.txt")
        );
        assert_eq!(get(b"text/plain; charsetx*=''y", b"charset"), None);
    }

    #[test]
    fn transfer_encodings() {
        assert_eq!(parse_cte(b" Base64 "), Cte::Base64);
        assert_eq!(parse_cte(b"quoted-printable; x=y"), Cte::QuotedPrintable);
        assert_eq!(parse_cte(b"8bit (unclosed"), Cte::Identity);
        assert_eq!(parse_cte(b"7bit x"), Cte::Unknown);
        assert_eq!(parse_cte(b""), Cte::Unknown);
        assert_eq!(parse_cte(b"x-uuencode"), Cte::Unknown);
    }
}
