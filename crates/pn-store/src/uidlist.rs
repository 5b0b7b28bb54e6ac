//! `dovecot-uidlist`, version 3: the UIDs of a Maildir folder.
//!
//! ```text
//! 3 V1795893030 N4 Ge0d2d60624270b6b3c3f000083ecc375
//! 1 :1795893032.M858808P16383.vm,S=28,W=32
//! 2 W37 S33 :1795893032.M867458P16384.vm
//! ```
//!
//! The header holds the version, `V<uidvalidity>`, `N<next uid>`, `G<mailbox guid in hex>`
//! and possibly more `<letter><value>` fields. Each record is a UID, optional extensions
//! (`<A-Z><value>`, e.g. `W` virtual size, `S` physical size, `G` message GUID) and
//! `:<base file name>`. Dovecot appends records without rewriting the header, so the next
//! UID is the larger of `N` and the last UID + 1. Unknown header fields and extensions are
//! kept as they are.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{Result, StoreError};

/// The only version pn reads and writes.
pub(crate) const VERSION: u32 = 3;

/// One message of the uidlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) uid: u32,
    /// Extension fields as written (`W37`), in order.
    pub(crate) extensions: Vec<String>,
    /// The file name's base (without `:2,…`).
    pub(crate) base: String,
}

/// A parsed `dovecot-uidlist`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Uidlist {
    pub(crate) uid_validity: u32,
    pub(crate) next_uid: u32,
    pub(crate) guid: [u8; 16],
    /// Header fields other than V, N and G, kept as written.
    pub(crate) extra_header: Vec<String>,
    /// Records in ascending UID order.
    pub(crate) records: Vec<Record>,
}

impl Uidlist {
    /// An empty uidlist for a new mailbox.
    pub(crate) fn new(uid_validity: u32, guid: [u8; 16]) -> Uidlist {
        Uidlist {
            uid_validity,
            next_uid: 1,
            guid,
            extra_header: Vec::new(),
            records: Vec::new(),
        }
    }

    /// Parses a uidlist. `path` is only used in error messages.
    pub(crate) fn parse(text: &str, path: &Path) -> Result<Uidlist> {
        let broken = |line: usize, reason: String| StoreError::Corrupted {
            path: path.to_owned(),
            reason: format!("line {line}: {reason}"),
        };
        let mut lines = text.lines();
        let header = lines
            .next()
            .ok_or_else(|| broken(1, "empty file".to_owned()))?;
        let mut fields = header.split(' ').filter(|f| !f.is_empty());
        let version = fields.next().unwrap_or("");
        if version != "3" {
            return Err(broken(1, format!("unsupported version {version:?}")));
        }
        let mut list = Uidlist::new(0, [0; 16]);
        let mut have_guid = false;
        for field in fields {
            let Some(key) = field.chars().next() else {
                continue;
            };
            let value = &field[key.len_utf8()..];
            match key {
                'V' => {
                    list.uid_validity = value
                        .parse()
                        .map_err(|_| broken(1, format!("bad uidvalidity {value:?}")))?;
                }
                'N' => {
                    list.next_uid = value
                        .parse()
                        .map_err(|_| broken(1, format!("bad next uid {value:?}")))?;
                }
                'G' => {
                    list.guid = parse_guid(value)
                        .ok_or_else(|| broken(1, format!("bad mailbox guid {value:?}")))?;
                    have_guid = true;
                }
                _ => list.extra_header.push(field.to_owned()),
            }
        }
        if list.uid_validity == 0 || list.next_uid == 0 {
            return Err(broken(1, "missing uidvalidity or next uid".to_owned()));
        }
        if !have_guid {
            return Err(broken(1, "missing mailbox guid".to_owned()));
        }
        let mut last_uid = 0u32;
        for (i, line) in lines.enumerate() {
            let n = i + 2;
            if line.is_empty() {
                continue;
            }
            let (uid, extensions, base) = split_record(line).map_err(|reason| broken(n, reason))?;
            if uid <= last_uid {
                return Err(broken(n, format!("UIDs not ordered ({uid} <= {last_uid})")));
            }
            last_uid = uid;
            list.records.push(Record {
                uid,
                extensions: extensions.into_iter().map(str::to_owned).collect(),
                base: base.to_owned(),
            });
        }
        list.next_uid = list.next_uid.max(last_uid.saturating_add(1));
        Ok(list)
    }

    /// The file as Dovecot writes it.
    pub(crate) fn to_text(&self) -> String {
        let mut out = String::with_capacity(64 + self.records.len() * 48);
        let _ = write!(
            out,
            "{VERSION} V{} N{} G{}",
            self.uid_validity,
            self.next_uid,
            guid_hex(&self.guid)
        );
        for h in &self.extra_header {
            out.push(' ');
            out.push_str(h);
        }
        out.push('\n');
        self.records_text(0, &mut out);
        out
    }

    /// The record lines from the `from`-th record on, as Dovecot appends them to the file.
    pub(crate) fn records_text(&self, from: usize, out: &mut String) {
        for r in self.records.iter().skip(from) {
            let _ = write!(out, "{}", r.uid);
            for e in &r.extensions {
                out.push(' ');
                out.push_str(e);
            }
            out.push_str(" :");
            out.push_str(&r.base);
            out.push('\n');
        }
    }

    /// The record of a UID.
    #[cfg(test)]
    pub(crate) fn find_uid(&self, uid: u32) -> Option<&Record> {
        self.records
            .binary_search_by_key(&uid, |r| r.uid)
            .ok()
            .map(|i| &self.records[i])
    }

    /// The UIDs and bases of the records whose UID is in `uids`, in UID order.
    pub(crate) fn records_of(&self, uids: &[u32]) -> Vec<(u32, String)> {
        self.records
            .iter()
            .filter(|r| uids.contains(&r.uid))
            .map(|r| (r.uid, r.base.clone()))
            .collect()
    }

    /// Appends a record with the next UID and returns that UID.
    pub(crate) fn assign(&mut self, base: &str) -> u32 {
        let uid = self.next_uid;
        self.next_uid += 1;
        self.records.push(Record {
            uid,
            extensions: Vec::new(),
            base: base.to_owned(),
        });
        uid
    }
}

/// A record line's UID, extension fields and base; why not, when it is malformed.
fn split_record(line: &str) -> std::result::Result<(u32, Vec<&str>, &str), String> {
    let (uid, rest) = line
        .split_once(' ')
        .ok_or_else(|| format!("invalid data: {line}"))?;
    let uid: u32 = uid
        .parse()
        .ok()
        .filter(|&u| u != 0 && u != u32::MAX)
        .ok_or_else(|| format!("invalid uid: {line}"))?;
    // Extension fields up to the first field starting with ':' (Dovecot's reader), so an
    // extension value may itself contain ':'.
    let mut extensions = Vec::new();
    let mut rest = rest.trim_start_matches(' ');
    while !rest.is_empty() && !rest.starts_with(':') {
        let (field, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        if field.starts_with(|c: char| c.is_ascii_uppercase()) {
            extensions.push(field);
        }
        rest = tail.trim_start_matches(' ');
    }
    let base = rest
        .strip_prefix(':')
        .ok_or_else(|| format!("invalid extended fields: {line}"))?;
    if base.is_empty() || base.contains('/') {
        return Err(format!("broken filename: {base}"));
    }
    Ok((uid, extensions, base))
}

/// A record line's UID and base, `None` when it is malformed.
pub(crate) fn parse_record(line: &str) -> Option<(u32, &str)> {
    split_record(line).ok().map(|(uid, _, base)| (uid, base))
}

/// The 32 lower-case hex digits of a GUID.
pub fn guid_hex(guid: &[u8; 16]) -> String {
    let mut s = String::with_capacity(32);
    for b in guid {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parses 32 hex digits.
pub fn parse_guid(hex: &str) -> Option<[u8; 16]> {
    if hex.len() != 32 || !hex.is_ascii() {
        return None;
    }
    let mut guid = [0u8; 16];
    for (i, b) in guid.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(guid)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by Dovecot 2.3.19: `doveadm mailbox create` then three `dovecot-lda`
    /// deliveries. The header's N was not rewritten when records were appended.
    const DOVECOT_LDA: &str = "3 V1795893030 N1 Ge0d2d60624270b6b3c3f000083ecc375\n\
        1 :1795893032.M858808P16383.vm,S=28,W=32\n\
        2 :1795893032.M867458P16384.vm,S=33,W=37\n\
        3 :1795893032.M875812P16385.vm,S=33,W=37\n";

    fn parse(text: &str) -> Result<Uidlist> {
        Uidlist::parse(text, Path::new("dovecot-uidlist"))
    }

    #[test]
    fn dovecot_written_uidlist_parses_with_next_uid_after_the_last_record() {
        let list = parse(DOVECOT_LDA).expect("parses");
        assert_eq!(list.uid_validity, 1795893030);
        assert_eq!(list.next_uid, 4);
        assert_eq!(guid_hex(&list.guid), "e0d2d60624270b6b3c3f000083ecc375");
        assert_eq!(list.records.len(), 3);
        assert_eq!(
            list.records[1].base,
            "1795893032.M867458P16384.vm,S=33,W=37"
        );
        assert_eq!(list.find_uid(3).map(|r| r.uid), Some(3));
        assert!(list.find_uid(4).is_none());
    }

    #[test]
    fn round_trip_keeps_extensions_and_unknown_header_fields() {
        let text = "3 V5 N10 G000102030405060708090a0b0c0d0e0f X1\n\
            2 W37 S33 :a.M1P2.h\n\
            7 GABC Pa:b :b.M1P2.h,S=1\n";
        let list = parse(text).expect("parses");
        assert_eq!(list.records[0].extensions, ["W37", "S33"]);
        assert_eq!(list.to_text(), text);
        let lda = parse(DOVECOT_LDA).expect("parses");
        assert_eq!(
            lda.to_text().lines().next(),
            Some("3 V1795893030 N4 Ge0d2d60624270b6b3c3f000083ecc375")
        );
        assert_eq!(parse(&lda.to_text()).expect("reparses"), lda);
    }

    #[test]
    fn assign_uses_and_advances_next_uid() {
        let mut list = parse("3 V5 N10 G000102030405060708090a0b0c0d0e0f\n").expect("parses");
        assert_eq!(list.assign("x"), 10);
        assert_eq!(list.assign("y"), 11);
        assert_eq!(list.next_uid, 12);
    }

    #[test]
    fn broken_files_are_reported_with_their_line() {
        for bad in [
            "",
            "1 V5 N1\n",
            "3 V0 N1 G000102030405060708090a0b0c0d0e0f\n",
            "3 V5 N1\n",
            "3 V5 N1 G000102030405060708090a0b0c0d0e0f\n2 :a\n1 :b\n",
            "3 V5 N1 G000102030405060708090a0b0c0d0e0f\nx :a\n",
            "3 V5 N1 G000102030405060708090a0b0c0d0e0f\n1 a\n",
            "3 V5 N1 G000102030405060708090a0b0c0d0e0f\n1 :a/b\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
