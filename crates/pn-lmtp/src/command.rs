//! The LMTP command parser: one command line (without its line ending) in, a [`Command`] or
//! the error [`Reply`] Dovecot's lib-smtp would give out. Pure and total: it never panics,
//! whatever the bytes (fuzzed in `fuzz/`).

use crate::reply::Reply;

/// The longest command line accepted, ending excluded (RFC 5321 asks for 512; paths with
/// SMTPUTF8 and parameters need more).
pub const MAX_LINE: usize = 4096;

/// `BODY=` of MAIL FROM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `BODY=7BIT`.
    SevenBit,
    /// `BODY=8BITMIME`.
    EightBitMime,
}

/// MAIL FROM parameters pn understands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailParams {
    /// `SIZE=`: the size the client announces.
    pub size: Option<u64>,
    /// `BODY=`.
    pub body: Option<Body>,
    /// `SMTPUTF8`.
    pub smtputf8: bool,
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `LHLO domain`.
    Lhlo(String),
    /// `MAIL FROM:<path> params`; the path is empty for the null sender.
    Mail {
        /// The reverse path without `<>`.
        from: String,
        /// Its parameters.
        params: MailParams,
    },
    /// `RCPT TO:<path> params` (NOTIFY is accepted and ignored).
    Rcpt {
        /// The forward path without `<>` (source routes dropped).
        to: String,
        /// RFC 3461's `ORCPT=rfc822;<address>`, xtext-decoded; other address types are
        /// ignored.
        orcpt: Option<String>,
    },
    /// `DATA`.
    Data,
    /// `BDAT size [LAST]`.
    Bdat {
        /// The chunk's size in octets.
        size: u64,
        /// Whether it is the last chunk.
        last: bool,
    },
    /// `RSET`.
    Rset,
    /// `NOOP [string]`.
    Noop,
    /// `QUIT`.
    Quit,
    /// `VRFY string`: always refused with 252.
    Vrfy,
}

fn syntax(text: &str) -> Reply {
    Reply::new(501, "5.5.4", text)
}

/// Parses one command line (no CR/LF).
pub fn parse(line: &[u8]) -> Result<Command, Reply> {
    if line.len() > MAX_LINE {
        return Err(Reply::new(500, "5.5.2", "Line too long"));
    }
    let Ok(line) = std::str::from_utf8(line) else {
        return Err(Reply::new(500, "5.5.2", "Invalid command syntax"));
    };
    if line.chars().any(|c| c.is_control() && c != '\t') {
        return Err(Reply::new(500, "5.5.2", "Invalid command syntax"));
    }
    let (verb, args) = match line.split_once(' ') {
        Some((v, a)) => (v, a),
        None => (line, ""),
    };
    let no_args = |cmd: Command| {
        if args.trim().is_empty() {
            Ok(cmd)
        } else {
            Err(syntax("Invalid parameters"))
        }
    };
    match verb.to_ascii_uppercase().as_str() {
        "LHLO" => {
            let domain = args.trim();
            if domain.is_empty() {
                Err(Reply::new(501, "", "Missing hostname"))
            } else {
                Ok(Command::Lhlo(domain.to_owned()))
            }
        }
        "MAIL" => mail(args),
        "RCPT" => rcpt(args),
        "DATA" => no_args(Command::Data),
        "BDAT" => bdat(args),
        "RSET" => no_args(Command::Rset),
        "NOOP" => Ok(Command::Noop),
        "QUIT" => no_args(Command::Quit),
        "VRFY" => Ok(Command::Vrfy),
        _ => Err(Reply::new(500, "5.5.1", "Unknown command")),
    }
}

fn mail(args: &str) -> Result<Command, Reply> {
    let rest = strip_prefix_ci(args, "FROM:").ok_or_else(|| syntax("Invalid parameters"))?;
    if rest.starts_with(' ') {
        return Err(syntax("Invalid FROM: Unexpected whitespace before path"));
    }
    let (from, params) = path(rest).map_err(|e| syntax(&format!("Invalid FROM: {e}")))?;
    let mut out = MailParams::default();
    for p in params.split(' ').filter(|p| !p.is_empty()) {
        let (key, value) = match p.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (p, None),
        };
        match (key.to_ascii_uppercase().as_str(), value) {
            ("SIZE", Some(v)) => {
                out.size = Some(
                    v.parse()
                        .map_err(|_| syntax("Invalid SIZE= parameter: Invalid number"))?,
                );
            }
            ("BODY", Some(v)) => {
                out.body = Some(match v.to_ascii_uppercase().as_str() {
                    "7BIT" => Body::SevenBit,
                    "8BITMIME" => Body::EightBitMime,
                    _ => {
                        return Err(Reply::new(
                            555,
                            "5.5.4",
                            "Unsupported BODY= parameter value",
                        ));
                    }
                });
            }
            ("SMTPUTF8", None) => out.smtputf8 = true,
            // Accepted and ignored, as Dovecot does for DSN and AUTH.
            ("AUTH" | "RET" | "ENVID", Some(_)) => {}
            _ => {
                return Err(Reply::new(
                    555,
                    "5.5.4",
                    format!("Unsupported parameter: {key}"),
                ));
            }
        }
    }
    if !from.is_ascii() && !out.smtputf8 {
        return Err(Reply::new(
            553,
            "5.6.7",
            "Invalid FROM: Non-ASCII address requires SMTPUTF8",
        ));
    }
    Ok(Command::Mail { from, params: out })
}

fn rcpt(args: &str) -> Result<Command, Reply> {
    let rest = strip_prefix_ci(args, "TO:").ok_or_else(|| syntax("Invalid parameters"))?;
    if rest.starts_with(' ') {
        return Err(syntax("Invalid TO: Unexpected whitespace before path"));
    }
    let (to, params) = path(rest).map_err(|e| syntax(&format!("Invalid TO: {e}")))?;
    if to.is_empty() {
        return Err(Reply::new(
            550,
            "5.1.1",
            "Unacceptable TO: Empty path not allowed",
        ));
    }
    if !to.contains('@') {
        return Err(syntax("Invalid TO: Missing domain"));
    }
    let mut orcpt = None;
    for p in params.split(' ').filter(|p| !p.is_empty()) {
        let (key, value) = p.split_once('=').unwrap_or((p, ""));
        match key.to_ascii_uppercase().as_str() {
            "NOTIFY" => {}
            "ORCPT" => {
                let (kind, addr) = value
                    .split_once(';')
                    .ok_or_else(|| syntax("Invalid ORCPT parameter"))?;
                if kind.eq_ignore_ascii_case("rfc822") {
                    orcpt =
                        Some(xtext_decode(addr).ok_or_else(|| syntax("Invalid ORCPT parameter"))?);
                }
            }
            _ => {
                return Err(Reply::new(
                    555,
                    "5.5.4",
                    format!("Unsupported parameter: {key}"),
                ));
            }
        }
    }
    Ok(Command::Rcpt { to, orcpt })
}

/// RFC 3461 xtext: `+XX` is the byte with hex value XX. `None` for a broken escape or a
/// result that is not UTF-8.
fn xtext_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'+' {
            let hex = [bytes.next()?, bytes.next()?];
            let hex = std::str::from_utf8(&hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

fn bdat(args: &str) -> Result<Command, Reply> {
    let mut words = args.split(' ').filter(|w| !w.is_empty());
    let size = words
        .next()
        .and_then(|w| {
            if w.bytes().all(|b| b.is_ascii_digit()) {
                w.parse().ok()
            } else {
                None
            }
        })
        .ok_or_else(|| syntax("Invalid chunk size parameter"))?;
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err(syntax("Invalid end marker parameter")),
    };
    if words.next().is_some() {
        return Err(syntax("Invalid parameters"));
    }
    Ok(Command::Bdat { size, last })
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// `<path> rest`: the address inside the brackets (source route dropped, quoted local part
/// kept as written) and the text after it.
fn path(s: &str) -> Result<(String, &str), &'static str> {
    let inner_start = s
        .strip_prefix('<')
        .ok_or("Missing '<' at beginning of path")?;
    let mut in_quote = false;
    let mut escaped = false;
    let mut end = None;
    for (i, c) in inner_start.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '>' if !in_quote => {
                end = Some(i);
                break;
            }
            ' ' | '<' if !in_quote => return Err("Invalid character in path"),
            _ => {}
        }
    }
    let end = end.ok_or("Missing '>' at end of path")?;
    let mut address = &inner_start[..end];
    let rest = &inner_start[end + 1..];
    if !rest.is_empty() && !rest.starts_with(' ') {
        return Err("Invalid character in path");
    }
    if address.starts_with('@') {
        // A source route (`@a,@b:user@domain`) is ignored, as RFC 5321 says.
        address = address
            .split_once(':')
            .map(|(_, a)| a)
            .ok_or("Invalid source route")?;
    }
    if !address.is_empty() {
        let (local, domain) = address.rsplit_once('@').unwrap_or((address, ""));
        if local.is_empty() || (address.contains('@') && domain.is_empty()) {
            return Err("Invalid address");
        }
    }
    Ok((address.to_owned(), rest.trim_start()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        parse(line.as_bytes()).expect("parses")
    }

    fn err(line: &str) -> String {
        parse(line.as_bytes()).expect_err("refused").to_wire()
    }

    #[test]
    fn verbs_are_case_insensitive() {
        assert_eq!(ok("lhlo mx.example"), Command::Lhlo("mx.example".into()));
        assert_eq!(ok("data"), Command::Data);
        assert_eq!(ok("NOOP anything"), Command::Noop);
    }

    #[test]
    fn mail_from_takes_size_body_and_smtputf8() {
        assert_eq!(
            ok("MAIL FROM:<a@b.example> SIZE=100 BODY=8BITMIME SMTPUTF8"),
            Command::Mail {
                from: "a@b.example".into(),
                params: MailParams {
                    size: Some(100),
                    body: Some(Body::EightBitMime),
                    smtputf8: true
                }
            }
        );
        assert_eq!(
            ok("MAIL FROM:<>"),
            Command::Mail {
                from: String::new(),
                params: MailParams::default()
            }
        );
    }

    #[test]
    fn malformed_paths_get_dovecots_texts() {
        assert_eq!(
            err("MAIL FROM: <a@b>"),
            "501 5.5.4 Invalid FROM: Unexpected whitespace before path\r\n"
        );
        assert_eq!(
            err("RCPT TO:<>"),
            "550 5.1.1 Unacceptable TO: Empty path not allowed\r\n"
        );
        assert_eq!(
            err("RCPT TO:<user>"),
            "501 5.5.4 Invalid TO: Missing domain\r\n"
        );
        assert_eq!(
            err("MAIL FROM:<a@b"),
            "501 5.5.4 Invalid FROM: Missing '>' at end of path\r\n"
        );
        assert_eq!(err("MAIL TO:<a@b>"), "501 5.5.4 Invalid parameters\r\n");
        assert_eq!(err("EHLO x"), "500 5.5.1 Unknown command\r\n");
        assert_eq!(
            err("MAIL FROM:<a@b> BODY=BINARYMIME"),
            "555 5.5.4 Unsupported BODY= parameter value\r\n"
        );
    }

    #[test]
    fn non_ascii_addresses_need_smtputf8() {
        assert!(err("MAIL FROM:<jörg@example.org>").starts_with("553 5.6.7"));
        assert!(matches!(
            ok("MAIL FROM:<jörg@example.org> SMTPUTF8"),
            Command::Mail { .. }
        ));
        assert_eq!(
            ok("RCPT TO:<@relay:bob@example.org> ORCPT=rfc822;bob@example.org"),
            Command::Rcpt {
                to: "bob@example.org".into(),
                orcpt: Some("bob@example.org".into())
            }
        );
        assert_eq!(
            ok("RCPT TO:<b@example.org> NOTIFY=NEVER ORCPT=rfc822;first+2Blast+3Dx@example.org"),
            Command::Rcpt {
                to: "b@example.org".into(),
                orcpt: Some("first+last=x@example.org".into())
            }
        );
        assert!(err("RCPT TO:<b@example.org> ORCPT=rfc822;a+zz@x").starts_with("501"));
        assert!(err("RCPT TO:<b@example.org> ORCPT=nosemicolon").starts_with("501"));
    }

    #[test]
    fn bdat_takes_a_size_and_last() {
        assert_eq!(
            ok("BDAT 10 LAST"),
            Command::Bdat {
                size: 10,
                last: true
            }
        );
        assert_eq!(
            ok("BDAT 0"),
            Command::Bdat {
                size: 0,
                last: false
            }
        );
        assert_eq!(err("BDAT -1"), "501 5.5.4 Invalid chunk size parameter\r\n");
        assert_eq!(
            err("BDAT 1 FIRST"),
            "501 5.5.4 Invalid end marker parameter\r\n"
        );
    }

    #[test]
    fn controls_and_long_lines_are_refused() {
        assert_eq!(err("NOOP \u{1}"), "500 5.5.2 Invalid command syntax\r\n");
        assert_eq!(
            err(&"N".repeat(MAX_LINE + 1)),
            "500 5.5.2 Line too long\r\n"
        );
    }
}
