//! Mailbox names: UTF-8 vnames with `/` as separator (Dovecot's default namespace with
//! `separator = /`) to Maildir++ folder names (`.Foo.B&AOQ-r`) and back.
//!
//! Each component is encoded in IMAP's modified UTF-7 (RFC 3501 §5.1.3), as Dovecot stores
//! names on disk, and components are joined with `.`, Maildir++'s hierarchy separator. A `.`
//! inside a component is refused, as Dovecot does (`Character not allowed in mailbox name`).

use crate::error::{Result, StoreError};

/// The namespace hierarchy separator of mailbox names in the API.
pub const SEPARATOR: char = '/';

/// The longest mailbox name Dovecot accepts (`MAILBOX_LIST_NAME_MAX_LENGTH`).
const MAX_NAME_LEN: usize = 4096;

/// A validated mailbox name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MailboxName {
    /// The vname as the API shows it (`INBOX` always spelled upper-case).
    pub(crate) vname: String,
    /// The Maildir++ directory name below the root (`.Foo.B&AOQ-r`), empty for INBOX.
    pub(crate) dir: String,
}

impl MailboxName {
    pub(crate) fn is_inbox(&self) -> bool {
        self.dir.is_empty()
    }

    /// Parses and validates a vname.
    pub(crate) fn parse(name: &str) -> Result<MailboxName> {
        let bad = |reason| StoreError::InvalidMailboxName {
            name: name.to_owned(),
            reason,
        };
        if name.is_empty() {
            return Err(bad("name is empty"));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(bad("name is too long"));
        }
        if name.eq_ignore_ascii_case("INBOX") {
            return Ok(MailboxName {
                vname: "INBOX".to_owned(),
                dir: String::new(),
            });
        }
        let mut vname = String::with_capacity(name.len());
        let mut dir = String::with_capacity(name.len() + 1);
        for (i, part) in name.split(SEPARATOR).enumerate() {
            if part.is_empty() {
                return Err(bad("empty hierarchy level"));
            }
            if part.contains('.') {
                return Err(bad("Character not allowed in mailbox name: '.'"));
            }
            if part.chars().any(|c| c.is_control()) {
                return Err(bad("control characters are not allowed"));
            }
            if i == 0 && part.starts_with('~') {
                return Err(bad("name must not begin with '~'"));
            }
            if i > 0 {
                vname.push(SEPARATOR);
            }
            // `INBOX/child` keeps INBOX's canonical spelling, as Dovecot does.
            if i == 0 && part.eq_ignore_ascii_case("INBOX") {
                vname.push_str("INBOX");
            } else {
                vname.push_str(part);
            }
            dir.push('.');
            dir.push_str(&mutf7_encode(
                if i == 0 && part.eq_ignore_ascii_case("INBOX") {
                    "INBOX"
                } else {
                    part
                },
            ));
        }
        Ok(MailboxName { vname, dir })
    }

    /// The vname of a Maildir++ directory name (`.Foo.B&AOQ-r` → `Foo/Bär`), or `None` when
    /// the directory is not a mailbox folder.
    pub(crate) fn from_dir(dir: &str) -> Option<MailboxName> {
        let rest = dir.strip_prefix('.')?;
        if rest.is_empty() || rest == "." {
            return None;
        }
        let mut vname = String::new();
        for (i, part) in rest.split('.').enumerate() {
            if part.is_empty() {
                return None;
            }
            if i > 0 {
                vname.push(SEPARATOR);
            }
            vname.push_str(&mutf7_decode(part)?);
        }
        Some(MailboxName {
            vname,
            dir: dir.to_owned(),
        })
    }

    /// The components of the Maildir++ name (`["Foo", "B&AOQ-r"]`), as the subscriptions
    /// file stores them.
    pub(crate) fn storage_parts(&self) -> Vec<&str> {
        if self.is_inbox() {
            vec!["INBOX"]
        } else {
            self.dir[1..].split('.').collect()
        }
    }

    /// Whether `self` is a child of `parent` (anywhere below it).
    pub(crate) fn is_child_of(&self, parent: &MailboxName) -> bool {
        !parent.is_inbox()
            && self.dir.len() > parent.dir.len() + 1
            && self.dir.starts_with(&parent.dir)
            && self.dir.as_bytes()[parent.dir.len()] == b'.'
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Encodes a string in IMAP's modified UTF-7.
pub fn mutf7_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        out.push('&');
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            let chars = chunk.len() + 1;
            for i in 0..chars {
                let idx = (n >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(B64[idx as usize]));
            }
        }
        out.push('-');
        pending.clear();
    };
    for c in s.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decodes IMAP's modified UTF-7; `None` when the input is not valid modified UTF-7.
pub fn mutf7_decode(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let end = after.find('-')?;
        let encoded = &after[..end];
        rest = &after[end + 1..];
        if encoded.is_empty() {
            out.push('&');
            continue;
        }
        let mut bits: u32 = 0;
        let mut nbits = 0;
        let mut bytes = Vec::new();
        for b in encoded.bytes() {
            let v = B64.iter().position(|&x| x == b)? as u32;
            bits = (bits << 6) | v;
            nbits += 6;
            if nbits >= 8 {
                nbits -= 8;
                bytes.push(((bits >> nbits) & 0xff) as u8);
            }
        }
        if bytes.len() % 2 != 0 {
            return None;
        }
        let units: Vec<u16> = bytes
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        out.push_str(&String::from_utf16(&units).ok()?);
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutf7_matches_what_dovecot_writes() {
        // `doveadm mailbox create 'Foo/Bär'` made `.Foo.B&AOQ-r`.
        assert_eq!(mutf7_encode("Bär"), "B&AOQ-r");
        assert_eq!(mutf7_encode("a&b"), "a&-b");
        assert_eq!(mutf7_encode("日本語"), "&ZeVnLIqe-");
        assert_eq!(mutf7_encode("😀"), "&2D3eAA-");
        for s in ["Bär", "a&b", "日本語", "😀x", "plain", "&", "ä&ö"] {
            assert_eq!(mutf7_decode(&mutf7_encode(s)).as_deref(), Some(s));
        }
        assert_eq!(mutf7_decode("&ZeVnLIqe"), None);
    }

    #[test]
    fn vnames_map_to_maildirplusplus_dirs() {
        let n = MailboxName::parse("Foo/Bär").expect("valid");
        assert_eq!(n.dir, ".Foo.B&AOQ-r");
        assert_eq!(n.storage_parts(), ["Foo", "B&AOQ-r"]);
        assert_eq!(
            MailboxName::from_dir(".Foo.B&AOQ-r").map(|n| n.vname),
            Some("Foo/Bär".into())
        );
        let inbox = MailboxName::parse("inbox").expect("valid");
        assert!(inbox.is_inbox());
        assert_eq!(inbox.vname, "INBOX");
        assert_eq!(
            MailboxName::parse("inbox/x").expect("valid").vname,
            "INBOX/x"
        );
        assert!(MailboxName::from_dir("..").is_none());
        assert!(MailboxName::from_dir("cur").is_none());
    }

    #[test]
    fn names_dovecot_refuses_are_invalid_input() {
        for bad in ["", "a.b", "a//b", "/a", "a/", "a\nb", "~x"] {
            assert!(MailboxName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn children_are_recognised_by_their_dir_prefix() {
        let p = MailboxName::parse("Foo").expect("valid");
        assert!(
            MailboxName::parse("Foo/Bar")
                .expect("valid")
                .is_child_of(&p)
        );
        assert!(!MailboxName::parse("Foobar").expect("valid").is_child_of(&p));
        assert!(!p.is_child_of(&p));
    }
}
