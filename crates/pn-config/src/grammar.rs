//! The dovecot.conf line grammar (nom): one logical line is an `!include`, a `key = value`, a
//! section start `kind [name] {` or a section end `}`.
//!
//! Comments are stripped first, the way Dovecot's `config_parse_line()` does it: a `#` outside
//! quotes starts a comment; one not preceded by a space or tab is accepted with a warning.

use std::borrow::Cow;

use nom::bytes::complete::{tag, take_till, take_till1};
use nom::character::complete::space0;
use nom::combinator::rest;
use nom::{IResult, Parser};

/// One parsed logical line. Slices point into the parsed line, so their offsets are positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Statement<'a> {
    /// `!include PATTERN` or `!include_try PATTERN`.
    Include {
        /// `!include_try`: missing files are not an error.
        optional: bool,
        /// The glob pattern, as written.
        pattern: &'a str,
    },
    /// `key = value`.
    Assign {
        /// The setting name.
        key: &'a str,
        /// The value as written after `=` (for positions).
        raw: &'a str,
        /// The classified value.
        value: RawValue<'a>,
    },
    /// `kind {` or `kind name {`.
    SectionBegin {
        /// `plugin`, `protocol`, `service`, …
        kind: &'a str,
        /// The section name, unquoted.
        name: Option<Cow<'a, str>>,
        /// The name as written (for positions).
        name_raw: Option<&'a str>,
    },
    /// `}`.
    SectionEnd,
}

/// A value after `=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawValue<'a> {
    /// Plain or quoted text (quotes removed, escapes resolved).
    Text(Cow<'a, str>),
    /// `<path`: the value is the file's content.
    File(&'a str),
    /// `$name …`: references to earlier values, the whole text including `$`.
    Variable(&'a str),
}

/// A syntax error inside one logical line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// Byte offset in the line.
    pub(crate) offset: usize,
    /// What is wrong.
    pub(crate) message: &'static str,
    /// What would have been accepted.
    pub(crate) expected: &'static str,
}

/// The result of stripping comments and surrounding white space from a physical line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stripped<'a> {
    /// The content, trimmed (may be empty).
    pub(crate) text: &'a str,
    /// Byte offset of `text` in the physical line.
    pub(crate) start: usize,
    /// Offset of a `#` that is treated as a comment although no white space precedes it.
    pub(crate) ambiguous_hash: Option<usize>,
}

fn is_white(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Strips leading white space, a comment and trailing white space from a physical line.
pub(crate) fn strip_comment(line: &str) -> Stripped<'_> {
    let trimmed = line.trim_start_matches(is_white);
    let start = line.len() - trimmed.len();
    let bytes = trimmed.as_bytes();
    let mut end = bytes.len();
    let mut ambiguous_hash = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    if bytes[i] == b'\\' && i + 1 < bytes.len() {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= bytes.len() {
                    break;
                }
            }
            b'#' => {
                if i > 0 && !matches!(bytes[i - 1], b' ' | b'\t') {
                    ambiguous_hash = Some(start + i);
                }
                end = i;
                break;
            }
            _ => {}
        }
        i += 1;
    }
    Stripped {
        text: trimmed[..end].trim_end_matches(is_white),
        start,
        ambiguous_hash,
    }
}

/// Dovecot's `str_unescape()`: `\n`, `\r`, `\t`, and `\x` = `x` for any other character.
pub(crate) fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => break,
        }
    }
    Cow::Owned(out)
}

type PResult<'a, O> = IResult<&'a str, O>;

fn key(i: &str) -> PResult<'_, &str> {
    take_till1(|c| is_white(c) || c == '=').parse(i)
}

/// A quoted section name: `"…"` with backslash escapes.
fn quoted_name(i: &str) -> PResult<'_, &str> {
    let (body, _) = tag("\"").parse(i)?;
    let mut escaped = false;
    for (pos, c) in body.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Ok((&body[pos + 1..], &body[..pos])),
            _ => escaped = false,
        }
    }
    Err(nom::Err::Error(nom::error::Error::new(
        i,
        nom::error::ErrorKind::Char,
    )))
}

fn offset_in(line: &str, part: &str) -> usize {
    (part.as_ptr() as usize).saturating_sub(line.as_ptr() as usize)
}

fn error(line: &str, at: &str, message: &'static str, expected: &'static str) -> SyntaxError {
    SyntaxError {
        offset: offset_in(line, at),
        message,
        expected,
    }
}

/// Parses one logical line whose comments and surrounding white space are already stripped.
/// An empty line gives `Ok(None)`.
pub(crate) fn statement(line: &str) -> Result<Option<Statement<'_>>, SyntaxError> {
    if line.is_empty() {
        return Ok(None);
    }
    let Ok((i, key)) = key(line) else {
        return Err(error(
            line,
            line,
            "Expecting a setting name",
            "a setting name",
        ));
    };
    let (i, _) = ws(i);
    if key == "!include" || key == "!include_try" {
        let (_, pattern) = rest_of(i);
        if pattern.is_empty() {
            return Err(error(
                line,
                i,
                "Missing file name after include",
                "a file name or glob pattern",
            ));
        }
        return Ok(Some(Statement::Include {
            optional: key == "!include_try",
            pattern,
        }));
    }
    if let Ok((i, _)) = tag::<_, _, nom::error::Error<&str>>("=").parse(i) {
        let (value, _) = ws(i);
        return Ok(Some(Statement::Assign {
            key,
            raw: value,
            value: classify_value(value),
        }));
    }
    if key == "}" && i.is_empty() {
        return Ok(Some(Statement::SectionEnd));
    }
    if i.is_empty() {
        return Err(error(
            line,
            i,
            "Expecting '='",
            "'=' or a section start '{'",
        ));
    }
    let (i, name_raw, quoted) = if i.starts_with('{') {
        (i, None, false)
    } else if i.starts_with('"') {
        match quoted_name(i) {
            Ok((i, name)) => (i, Some(name), true),
            Err(_) => {
                return Err(error(
                    line,
                    i,
                    "Missing '\"' at the end of the section name",
                    "a closing '\"'",
                ));
            }
        }
    } else {
        let (i, name) = section_word(i);
        (i, Some(name), false)
    };
    let (i, _) = ws(i);
    let Some(after) = i.strip_prefix('{') else {
        return Err(error(line, i, "Expecting '{'", "'{' to open the section"));
    };
    if !after.is_empty() {
        return Err(error(
            line,
            ws(after).0,
            "Garbage after '{'",
            "the end of the line after '{'",
        ));
    }
    let name = name_raw.map(|n| {
        if quoted {
            unescape(n)
        } else {
            Cow::Borrowed(n)
        }
    });
    Ok(Some(Statement::SectionBegin {
        kind: key,
        name,
        name_raw,
    }))
}

fn ws(i: &str) -> (&str, &str) {
    space0::<_, nom::error::Error<&str>>(i).unwrap_or((i, ""))
}

fn rest_of(i: &str) -> (&str, &str) {
    rest::<_, nom::error::Error<&str>>(i).unwrap_or(("", i))
}

fn section_word(i: &str) -> (&str, &str) {
    take_till::<_, _, nom::error::Error<&str>>(is_white)
        .parse(i)
        .unwrap_or(("", i))
}

/// `<file`, `$variables`, `"quoted"`, `'quoted'` or plain text.
fn classify_value(value: &str) -> RawValue<'_> {
    if let Some(path) = value.strip_prefix('<') {
        return RawValue::File(path);
    }
    if value.starts_with('$') {
        return RawValue::Variable(value);
    }
    // Quoted only when it starts and ends with the same quote (a lone `"` counts: Dovecot
    // then strips it to an empty value).
    match value.chars().next() {
        Some(q @ ('"' | '\'')) if value.ends_with(q) => {
            let inner = value.get(1..value.len().saturating_sub(1)).unwrap_or("");
            RawValue::Text(unescape(inner))
        }
        _ => RawValue::Text(Cow::Borrowed(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Statement<'_> {
        statement(line).unwrap().unwrap()
    }

    fn err(line: &str) -> SyntaxError {
        statement(line).unwrap_err()
    }

    #[test]
    fn key_value_plain_quoted_and_escaped() {
        assert_eq!(
            parse("a = b c"),
            Statement::Assign {
                key: "a",
                raw: "b c",
                value: RawValue::Text("b c".into())
            }
        );
        let Statement::Assign { value, .. } = parse(r#"a = "x \"y\" \\ \n""#) else {
            panic!()
        };
        assert_eq!(value, RawValue::Text("x \"y\" \\ \n".into()));
        let Statement::Assign { value, .. } = parse("a='it''s'") else {
            panic!()
        };
        assert_eq!(value, RawValue::Text("it''s".into()));
        let Statement::Assign { value, .. } = parse("a =") else {
            panic!()
        };
        assert_eq!(value, RawValue::Text("".into()));
    }

    #[test]
    fn file_and_variable_values() {
        let Statement::Assign { value, .. } = parse("ssl_cert = </etc/x.pem") else {
            panic!()
        };
        assert_eq!(value, RawValue::File("/etc/x.pem"));
        let Statement::Assign { value, .. } = parse("mail_plugins = $mail_plugins notify") else {
            panic!()
        };
        assert_eq!(value, RawValue::Variable("$mail_plugins notify"));
        let Statement::Assign { value, .. } = parse("a = \"$x\"") else {
            panic!()
        };
        assert_eq!(value, RawValue::Text("$x".into()), "quoted $ is literal");
    }

    #[test]
    fn sections_with_and_without_names() {
        assert_eq!(
            parse("plugin {"),
            Statement::SectionBegin {
                kind: "plugin",
                name: None,
                name_raw: None
            }
        );
        let Statement::SectionBegin { kind, name, .. } = parse("protocol !imap {") else {
            panic!()
        };
        assert_eq!((kind, name.as_deref()), ("protocol", Some("!imap")));
        let Statement::SectionBegin { name, .. } = parse("mailbox \"Sent Messages\" {") else {
            panic!()
        };
        assert_eq!(name.as_deref(), Some("Sent Messages"));
        assert_eq!(parse("}"), Statement::SectionEnd);
        // Like Dovecot, '{' glued to the name is part of the key, which then lacks its '='.
        assert_eq!(err("plugin{").message, "Expecting '='");
    }

    #[test]
    fn includes() {
        assert_eq!(
            parse("!include conf.d/*.conf"),
            Statement::Include {
                optional: false,
                pattern: "conf.d/*.conf"
            }
        );
        assert_eq!(
            parse("!include_try local.conf"),
            Statement::Include {
                optional: true,
                pattern: "local.conf"
            }
        );
        let e = err("!include");
        assert_eq!(
            (e.offset, e.message),
            (8, "Missing file name after include")
        );
    }

    #[test]
    fn errors_say_where_and_what_was_expected() {
        let e = err("foo");
        assert_eq!((e.offset, e.message), (3, "Expecting '='"));
        assert_eq!(e.expected, "'=' or a section start '{'");
        let e = err("service imap x {");
        assert_eq!((e.offset, e.message), (13, "Expecting '{'"));
        let e = err("plugin { x = y");
        assert_eq!((e.offset, e.message), (9, "Garbage after '{'"));
        let e = err("mailbox \"Sent {");
        assert_eq!(
            (e.offset, e.message),
            (8, "Missing '\"' at the end of the section name")
        );
        let e = err("} x");
        assert_eq!((e.offset, e.message), (3, "Expecting '{'"));
    }

    #[test]
    fn comments_are_stripped_outside_quotes() {
        assert_eq!(strip_comment("  a = b # c").text, "a = b");
        assert_eq!(strip_comment("# only").text, "");
        assert_eq!(strip_comment("a = \"b # c\" # d").text, "a = \"b # c\"");
        assert_eq!(strip_comment("a = 'b \\' # c'").text, "a = 'b \\' # c'");
        let s = strip_comment("\ta = b#c");
        assert_eq!((s.text, s.start, s.ambiguous_hash), ("a = b", 1, Some(6)));
        assert_eq!(
            strip_comment("a = \"unterminated # x").text,
            "a = \"unterminated # x"
        );
    }
}
