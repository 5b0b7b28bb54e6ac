//! Whether a message was sent by a program or in bulk (`suppress=auto`): RFC 3834's
//! `Auto-Submitted` and the de-facto `Precedence` header, read from the raw values pn-message
//! hands over in [`AutomatedHeaders`].

use pn_event::{AutomatedHeaders, RawValue};

/// `Precedence` keywords that mark bulk mail (compared without case).
pub const BULK_PRECEDENCE: [&str; 3] = ["bulk", "list", "junk"];

/// Why a message counts as automatic, if it does.
///
/// RFC 3834 §2: any `Auto-Submitted` keyword other than `no` (`auto-generated`,
/// `auto-replied`, `auto-notified`, …) means the message was not written by a person. A
/// `Precedence` of `bulk`, `list` or `junk` marks mailing-list and mass mail. Comments and
/// parameters (`auto-replied; owner-email=…`) are skipped; an empty value counts as absent.
pub fn reason(headers: &AutomatedHeaders) -> Option<&'static str> {
    if let Some(keyword) = headers.auto_submitted.as_ref().and_then(first_keyword)
        && !keyword.eq_ignore_ascii_case(b"no")
    {
        return Some("Auto-Submitted (RFC 3834)");
    }
    if let Some(keyword) = headers.precedence.as_ref().and_then(first_keyword)
        && BULK_PRECEDENCE
            .iter()
            .any(|p| keyword.eq_ignore_ascii_case(p.as_bytes()))
    {
        return Some("Precedence: bulk, list or junk");
    }
    None
}

/// The first token of a structured header value: whitespace, line folding and (nested,
/// escaped) comments skipped; it ends at white space, `;` or `(`.
fn first_keyword(value: &RawValue) -> Option<&[u8]> {
    let v = value.0.as_slice();
    let mut i = 0;
    let mut depth = 0usize;
    while i < v.len() {
        match v[i] {
            b'\\' if depth > 0 => i += 1,
            b'(' => depth += 1,
            b')' if depth > 0 => depth -= 1,
            b' ' | b'\t' | b'\r' | b'\n' => {}
            _ if depth > 0 => {}
            _ => break,
        }
        i += 1;
    }
    let start = i.min(v.len());
    let end = v[start..]
        .iter()
        .position(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b';' | b'('))
        .map_or(v.len(), |n| start + n);
    (end > start).then(|| &v[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auto: Option<&str>, precedence: Option<&str>) -> AutomatedHeaders {
        AutomatedHeaders {
            auto_submitted: auto.map(RawValue::from),
            precedence: precedence.map(RawValue::from),
        }
    }

    #[test]
    fn auto_submitted_other_than_no_is_automatic() {
        for value in [
            "auto-replied",
            "Auto-Generated",
            "auto-notified; owner-email=\"a@b\"",
            "(vacation\n  reply) auto-replied",
            "\n auto-generated",
        ] {
            assert_eq!(
                reason(&headers(Some(value), None)),
                Some("Auto-Submitted (RFC 3834)"),
                "{value:?}"
            );
        }
        for value in ["no", "NO (a person)", "", "  ", "(only \\) a comment)"] {
            assert_eq!(reason(&headers(Some(value), None)), None, "{value:?}");
        }
    }

    #[test]
    fn bulk_list_and_junk_precedence_is_automatic() {
        for value in ["bulk", "List", " junk (spam)"] {
            assert_eq!(
                reason(&headers(None, Some(value))),
                Some("Precedence: bulk, list or junk"),
                "{value:?}"
            );
        }
        for value in ["first-class", "bulky", ""] {
            assert_eq!(reason(&headers(None, Some(value))), None, "{value:?}");
        }
        assert_eq!(
            reason(&headers(Some("no"), Some("list"))),
            Some("Precedence: bulk, list or junk"),
            "Auto-Submitted: no does not vouch for a list message"
        );
        assert_eq!(reason(&AutomatedHeaders::default()), None);
    }
}
