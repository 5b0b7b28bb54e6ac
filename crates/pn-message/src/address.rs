//! The first address of a From/To header, as Dovecot's `message_address_parse(..., 1, 0)` and
//! the push-notification plugin's `decode_address_header` see it.
//!
//! Own code: the plugin's output depends on Dovecot's exact recovery from broken input (a lone
//! word is a mailbox, `John Smith` without `<>` is a display name, a comment after an addr-spec
//! is the display name, a group's name is its display name); mail-parser recovers differently.

use crate::encoded_word::decode_header_utf8;
use crate::rfc822::Parser;

/// The address fields the plugin derives from one header.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct FirstAddress {
    /// `mailbox@domain`, or `mailbox` when the domain is empty; `None` for a group.
    pub(crate) address: Option<Vec<u8>>,
    /// The RFC 2047-decoded display name (group name for a group); `None` when empty.
    pub(crate) display_name: Option<String>,
}

#[derive(Default)]
struct Addr {
    mailbox: Option<Vec<u8>>,
    domain: Option<Vec<u8>>,
    name: Option<Vec<u8>>,
    invalid: bool,
}

/// Parses the first address of a raw header value.
pub(crate) fn first_address(raw: &[u8]) -> FirstAddress {
    let mut p = Parser::new(raw, true);
    if p.skip_lwsp() <= 0 {
        return FirstAddress::default();
    }
    let addr = parse_address(&mut p);
    let (address, display) = match &addr.domain {
        None => (None, addr.mailbox.as_deref()),
        Some(domain) => {
            let mailbox = addr.mailbox.as_deref().unwrap_or_default();
            let address = if !domain.is_empty() {
                let mut a = Vec::with_capacity(mailbox.len() + 1 + domain.len());
                a.extend_from_slice(mailbox);
                a.push(b'@');
                a.extend_from_slice(domain);
                Some(a)
            } else if !mailbox.is_empty() {
                Some(mailbox.to_vec())
            } else {
                None
            };
            (address, addr.name.as_deref())
        }
    };
    FirstAddress {
        address,
        display_name: display.filter(|n| !n.is_empty()).map(decode_header_utf8),
    }
}

fn parse_address(p: &mut Parser<'_>) -> Addr {
    let start = p.pos;
    if let Some(group) = parse_group_start(p) {
        return group;
    }
    p.pos = start;
    parse_mailbox(p)
}

/// `display-name ":"` — only the group's own entry matters for the first address.
fn parse_group_start(p: &mut Parser<'_>) -> Option<Addr> {
    let mut name = Vec::new();
    if p.parse_phrase(&mut name) <= 0 || p.cur() != b':' {
        return None;
    }
    Some(Addr {
        mailbox: Some(name),
        domain: None,
        name: None,
        invalid: false,
    })
}

fn parse_mailbox(p: &mut Parser<'_>) -> Addr {
    let start = p.pos;
    let mut addr = Addr::default();
    let mut ret = parse_name_addr(p, &mut addr);
    if ret < 0 {
        p.pos = start;
        addr = Addr::default();
        ret = parse_addr_spec(p, &mut addr);
        if addr.invalid && addr.name.is_none() && addr.mailbox.is_some() && addr.domain.is_none() {
            addr.name = addr.mailbox.take();
        }
    }
    if ret < 0 {
        addr.invalid = true;
    }
    // add_fixed_address
    if addr.mailbox.is_none() {
        addr.mailbox = Some(Vec::new());
    }
    if addr.domain.as_ref().is_none_or(|d| d.is_empty()) {
        addr.domain = Some(Vec::new());
    }
    addr
}

fn parse_name_addr(p: &mut Parser<'_>, addr: &mut Addr) -> i32 {
    let mut name = Vec::new();
    if p.parse_phrase(&mut name) <= 0 || p.cur() != b'<' {
        return -1;
    }
    addr.name = (!name.is_empty()).then_some(name);
    if parse_angle_addr(p, addr) < 0 {
        addr.invalid = true;
    }
    i32::from(!p.at_end())
}

fn parse_angle_addr(p: &mut Parser<'_>, addr: &mut Addr) -> i32 {
    p.pos += 1; // '<'
    if p.skip_lwsp() <= 0 {
        return -1;
    }
    if p.cur() == b'@' {
        if parse_domain_list(p) > 0 && p.cur() == b':' {
            p.pos += 1;
        } else if p.at_end() {
            return -1;
        }
        if p.skip_lwsp() <= 0 {
            return -1;
        }
    }
    if p.cur() != b'>' {
        if parse_local_part(p, addr) <= 0 {
            return -1;
        }
        if p.cur() == b'@' && parse_domain(p, addr) <= 0 {
            return -1;
        }
    }
    if p.cur() != b'>' {
        return -1;
    }
    p.pos += 1;
    p.skip_lwsp()
}

/// obs-route (`@a,@b:`); the route itself is not reported.
fn parse_domain_list(p: &mut Parser<'_>) -> i32 {
    let mut scratch = Vec::new();
    loop {
        if p.at_end() {
            return 0;
        }
        if p.cur() != b'@' {
            break;
        }
        let ret = p.parse_domain(&mut scratch);
        if ret <= 0 {
            return ret;
        }
        while p.skip_lwsp() > 0 && p.cur() == b',' {
            p.pos += 1;
        }
    }
    1
}

/// Fills `mailbox`; the text parsed so far stays in `buf` (Dovecot's shared `ctx->str`).
fn parse_local_part_into(p: &mut Parser<'_>, addr: &mut Addr, buf: &mut Vec<u8>) -> i32 {
    buf.clear();
    let ret = if p.cur() == b'"' {
        p.parse_quoted_string(buf)
    } else {
        p.parse_nonstrict_dot_atom(buf)
    };
    if ret < 0 {
        return -1;
    }
    addr.mailbox = Some(buf.clone());
    ret
}

fn parse_local_part(p: &mut Parser<'_>, addr: &mut Addr) -> i32 {
    let mut buf = Vec::new();
    parse_local_part_into(p, addr, &mut buf)
}

fn parse_domain(p: &mut Parser<'_>, addr: &mut Addr) -> i32 {
    let mut buf = Vec::new();
    let ret = p.parse_domain(&mut buf);
    if ret < 0 {
        return -1;
    }
    addr.domain = Some(buf);
    ret
}

fn parse_addr_spec(p: &mut Parser<'_>, addr: &mut Addr) -> i32 {
    let mut ret2 = -2;
    if let Some(c) = p.last_comment.as_mut() {
        c.clear();
    }
    let quoted = p.cur() == b'"';
    let mut buf = Vec::new();
    let mut ret = parse_local_part_into(p, addr, &mut buf);
    if ret <= 0 {
        addr.invalid = true;
    }
    if ret != 0 && !p.at_end() && p.cur() == b'@' {
        ret2 = parse_domain(p, addr);
        if ret2 <= 0 {
            ret = ret2;
        }
    }
    let comment = p.last_comment.as_ref().filter(|c| !c.is_empty()).cloned();
    if let Some(c) = comment {
        addr.name = Some(c);
    } else if ret2 == -2 {
        buf.push(b' ');
        let before = buf.len();
        let _ = p.parse_phrase(&mut buf);
        if buf.len() != before {
            addr.mailbox = None;
            addr.name = Some(buf);
        } else if !quoted {
            addr.domain = Some(Vec::new());
        }
        addr.invalid = true;
        ret = -1;
    }
    ret
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

    #[test]
    fn name_addr() {
        assert_eq!(
            addr("\"Doe, John (Sales)\" <john.doe@example.org>"),
            (
                Some("john.doe@example.org".into()),
                Some("Doe, John (Sales)".into())
            )
        );
    }

    #[test]
    fn bare_mailbox_without_domain() {
        assert_eq!(addr("bob"), (Some("bob".into()), None));
    }

    #[test]
    fn words_without_brackets_are_a_display_name() {
        assert_eq!(addr("John Smith"), (None, Some("John Smith".into())));
    }

    #[test]
    fn comment_is_the_display_name() {
        assert_eq!(
            addr("bob@example.org (Bob Smith)"),
            (Some("bob@example.org".into()), Some("Bob Smith".into()))
        );
    }

    #[test]
    fn group_gives_its_name_and_no_address() {
        assert_eq!(
            addr("Friends: a@b.c, d@e.f;"),
            (None, Some("Friends".into()))
        );
        assert_eq!(
            addr("undisclosed-recipients:;"),
            (None, Some("undisclosed-recipients".into()))
        );
    }

    #[test]
    fn encoded_display_name_is_decoded() {
        assert_eq!(
            addr("=?UTF-8?Q?Zo=C3=AB?= <zoe@example.org>"),
            (Some("zoe@example.org".into()), Some("Zoë".into()))
        );
    }

    #[test]
    fn empty_header_has_no_address() {
        assert_eq!(addr("   "), (None, None));
        assert_eq!(addr("<>"), (None, None));
    }
}
