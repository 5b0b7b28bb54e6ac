//! The trace headers put in front of every delivered message, as Dovecot's LMTP writes them:
//!
//! ```text
//! Return-Path: <sender@example.org>
//! Delivered-To: alice@example.com
//! Received: from mx.example.org ([192.0.2.1])
//!     by mail.example.com with LMTP
//!     id ovSQEIVNC2s+SQAAg+zDdQ
//!     (envelope-from <sender@example.org>)
//!     for <alice@example.com>; Sat, 28 Nov 2026 21:54:13 +0000
//! ```
//!
//! `Return-Path` always; `Delivered-To` and the `for` clause only when the transaction has
//! exactly one recipient (the message is stored once for all of them, so nothing
//! recipient-specific can be in it otherwise); `Received` unless
//! `lmtp_add_received_header = no`. Continuation lines start with a tab (shown as spaces
//! above). Lines end in LF: messages are stored with LF.

use std::fmt::Write as _;
use std::net::IpAddr;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

/// Which address `Delivered-To` and `Received`'s `for` name (`lmtp_hdr_delivery_address`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeliveryAddress {
    /// Neither is written.
    None,
    /// RCPT TO's address.
    #[default]
    Final,
    /// RCPT TO's `ORCPT` parameter; nothing when the client gave none.
    Original,
}

impl DeliveryAddress {
    /// Dovecot's setting value (`none`, `final`, `original`).
    pub fn parse(value: &str) -> Option<DeliveryAddress> {
        match value.trim().to_ascii_lowercase().as_str() {
            "none" => Some(DeliveryAddress::None),
            "final" => Some(DeliveryAddress::Final),
            "original" => Some(DeliveryAddress::Original),
            _ => None,
        }
    }
}

/// The trace-header settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceSettings {
    /// Whether `Received:` is written (`lmtp_add_received_header`).
    pub received: bool,
    /// `lmtp_hdr_delivery_address`.
    pub delivery_address: DeliveryAddress,
}

impl Default for TraceSettings {
    fn default() -> TraceSettings {
        TraceSettings {
            received: true,
            delivery_address: DeliveryAddress::Final,
        }
    }
}

/// One accepted recipient as the trace headers see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TraceRcpt<'a> {
    pub(crate) to: &'a str,
    pub(crate) orcpt: Option<&'a str>,
}

/// Everything the headers are made of.
pub(crate) struct Trace<'a> {
    pub(crate) settings: TraceSettings,
    /// The server's name (`hostname`).
    pub(crate) hostname: &'a str,
    /// LHLO's domain, if the client sent one.
    pub(crate) helo: Option<&'a str>,
    /// The client's address; `None` on a Unix socket.
    pub(crate) peer: Option<IpAddr>,
    pub(crate) id: &'a str,
    /// MAIL FROM's path, empty for the null sender.
    pub(crate) from: &'a str,
    pub(crate) rcpts: &'a [TraceRcpt<'a>],
    pub(crate) now: OffsetDateTime,
}

impl Trace<'_> {
    /// The header block, each line ending in LF.
    pub(crate) fn headers(&self) -> String {
        let mut out = String::with_capacity(320);
        let _ = writeln!(out, "Return-Path: <{}>", self.from);
        let rcpt = match (self.rcpts, self.settings.delivery_address) {
            ([one], DeliveryAddress::Final) => Some(one.to),
            ([one], DeliveryAddress::Original) => one.orcpt,
            _ => None,
        };
        if let Some(to) = rcpt {
            let _ = writeln!(out, "Delivered-To: {to}");
        }
        if !self.settings.received {
            return out;
        }
        let peer = self.peer.map(|ip| match ip {
            IpAddr::V4(v4) => format!("[{v4}]"),
            IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
        });
        out.push_str("Received: from ");
        match (self.helo, &peer) {
            (Some(helo), Some(p)) => {
                let _ = write!(out, "{helo} ({p})");
            }
            (Some(helo), None) => out.push_str(helo),
            (None, Some(p)) => out.push_str(p),
            (None, None) => out.push_str("localhost"),
        }
        let _ = write!(
            out,
            "\n\tby {} with LMTP\n\tid {}\n\t(envelope-from <{}>)",
            self.hostname, self.id, self.from
        );
        if let Some(to) = rcpt {
            let _ = write!(out, "\n\tfor <{to}>");
        }
        // RFC 2822 formatting of a valid UTC time cannot fail; the fallback keeps the
        // header well-formed regardless.
        let date = self
            .now
            .format(&Rfc2822)
            .unwrap_or_else(|_| "Thu, 01 Jan 1970 00:00:00 +0000".to_owned());
        let _ = writeln!(out, "; {date}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace<'a>(rcpts: &'a [TraceRcpt<'a>], settings: TraceSettings) -> Trace<'a> {
        Trace {
            settings,
            hostname: "lmtp.example.com",
            helo: Some("mx.example.org"),
            peer: Some(IpAddr::from([127, 0, 0, 1])),
            id: "ovSQEIVNC2s+SQAAg+zDdQ",
            from: "sender@example.org",
            rcpts,
            now: OffsetDateTime::from_unix_timestamp(1_795_902_853).unwrap(),
        }
    }

    const ALICE: TraceRcpt<'static> = TraceRcpt {
        to: "alice@example.com",
        orcpt: Some("a@old.example"),
    };
    const BOB: TraceRcpt<'static> = TraceRcpt {
        to: "bob@example.com",
        orcpt: None,
    };

    #[test]
    fn one_recipient_gets_delivered_to_and_for() {
        // The shape Debian's Dovecot 2.3.19 wrote for the same transaction.
        assert_eq!(
            trace(&[ALICE], TraceSettings::default()).headers(),
            "Return-Path: <sender@example.org>\n\
             Delivered-To: alice@example.com\n\
             Received: from mx.example.org ([127.0.0.1])\n\
             \tby lmtp.example.com with LMTP\n\
             \tid ovSQEIVNC2s+SQAAg+zDdQ\n\
             \t(envelope-from <sender@example.org>)\n\
             \tfor <alice@example.com>; Sat, 28 Nov 2026 21:54:13 +0000\n"
        );
    }

    #[test]
    fn several_recipients_get_neither() {
        let h = trace(&[ALICE, BOB], TraceSettings::default()).headers();
        assert!(!h.contains("Delivered-To"), "{h}");
        assert!(
            h.ends_with(
                "\t(envelope-from <sender@example.org>); Sat, 28 Nov 2026 21:54:13 +0000\n"
            ),
            "{h}"
        );
    }

    #[test]
    fn settings_choose_the_address_and_the_received_header() {
        let original = TraceSettings {
            received: false,
            delivery_address: DeliveryAddress::Original,
        };
        assert_eq!(
            trace(&[ALICE], original).headers(),
            "Return-Path: <sender@example.org>\nDelivered-To: a@old.example\n"
        );
        assert_eq!(
            trace(&[BOB], original).headers(),
            "Return-Path: <sender@example.org>\n"
        );
        let none = TraceSettings {
            received: true,
            delivery_address: DeliveryAddress::None,
        };
        let h = trace(&[ALICE], none).headers();
        assert!(!h.contains("Delivered-To") && !h.contains("for <"), "{h}");
        assert_eq!(
            DeliveryAddress::parse(" Original"),
            Some(DeliveryAddress::Original)
        );
        assert_eq!(DeliveryAddress::parse("all"), None);
    }

    #[test]
    fn null_sender_unix_socket_and_ipv6_peers() {
        let mut t = trace(&[BOB], TraceSettings::default());
        t.from = "";
        t.peer = None;
        let h = t.headers();
        assert!(h.starts_with("Return-Path: <>\n"), "{h}");
        assert!(h.contains("Received: from mx.example.org\n\tby "), "{h}");
        assert!(h.contains("(envelope-from <>)"), "{h}");
        t.peer = Some("2001:db8::1".parse().unwrap());
        t.helo = None;
        assert!(
            t.headers()
                .contains("Received: from [IPv6:2001:db8::1]\n\tby "),
            "{}",
            t.headers()
        );
    }
}
