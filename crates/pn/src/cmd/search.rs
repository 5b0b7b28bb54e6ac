//! The subset of doveadm's search query pn understands: `mailbox NAME` (masks with `*` and
//! `%`), `uid SET` (IMAP sequence sets such as `1:5,7,9:*`), `all`, `seen`, `unseen`, all
//! combined with AND. Keys are case-insensitive, like doveadm's.

use pn_event::MailFlags;
use pn_store::{Maildir, MessageInfo, StoreError};

use crate::cmd::mail::{is_pattern, mask_matches};
use crate::exit::{EX_TEMPFAIL, Failure};

/// One search key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    All,
    Seen,
    Unseen,
    Uid(UidSet),
}

/// An IMAP sequence set over UIDs; `None` stands for `*` (the highest UID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UidSet(Vec<(Option<u32>, Option<u32>)>);

impl UidSet {
    /// Parses `1:5,7,9:*`.
    pub(crate) fn parse(s: &str) -> Option<UidSet> {
        let number = |p: &str| -> Option<Option<u32>> {
            if p == "*" {
                return Some(None);
            }
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse::<u32>().ok().filter(|&n| n > 0).map(Some)
        };
        let mut ranges = Vec::new();
        for part in s.split(',') {
            let range = match part.split_once(':') {
                Some((a, b)) => (number(a)?, number(b)?),
                None => {
                    let n = number(part)?;
                    (n, n)
                }
            };
            ranges.push(range);
        }
        Some(UidSet(ranges))
    }

    /// Whether `uid` is in the set, `*` being `max` (the mailbox's highest UID).
    pub(crate) fn contains(&self, uid: u32, max: u32) -> bool {
        self.0.iter().any(|&(a, b)| {
            let (a, b) = (a.unwrap_or(max), b.unwrap_or(max));
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            (lo..=hi).contains(&uid)
        })
    }
}

/// A parsed search query.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Query {
    mailboxes: Vec<String>,
    keys: Vec<Key>,
}

impl Query {
    /// Parses the query words; an unknown word is doveadm's fatal error (exit 75).
    pub(crate) fn parse(words: &[String]) -> Result<Query, Failure> {
        let fatal = |m: String| Failure::new(EX_TEMPFAIL, format!("Fatal: {m}"));
        let mut query = Query::default();
        let mut it = words.iter();
        while let Some(word) = it.next() {
            let upper = word.to_ascii_uppercase();
            let mut value = || {
                it.next().cloned().ok_or_else(|| {
                    fatal(format!(
                        "Missing parameter for search key (for search key: {upper})"
                    ))
                })
            };
            match word.to_ascii_lowercase().as_str() {
                "mailbox" => query.mailboxes.push(value()?),
                "uid" => {
                    let set = value()?;
                    let parsed = UidSet::parse(&set)
                        .ok_or_else(|| fatal("Invalid UID messageset".into()))?;
                    query.keys.push(Key::Uid(parsed));
                }
                "all" => query.keys.push(Key::All),
                "seen" => query.keys.push(Key::Seen),
                "unseen" => query.keys.push(Key::Unseen),
                _ => return Err(fatal(format!("Unknown argument {upper}"))),
            }
        }
        Ok(query)
    }

    /// Whether the query names a mailbox.
    pub(crate) fn has_mailbox(&self) -> bool {
        !self.mailboxes.is_empty()
    }

    /// Whether the query has a key other than `mailbox`.
    pub(crate) fn has_other_keys(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The mailboxes to search: those matching every `mailbox` mask, or every selectable
    /// mailbox without one. A mask without wildcards names its mailbox even when it does not
    /// exist, so the command reports that.
    pub(crate) fn mailboxes(&self, store: &Maildir) -> Result<Vec<String>, StoreError> {
        if let Some(exact) = self.mailboxes.iter().find(|m| !is_pattern(m)) {
            return Ok(if self.mailboxes.iter().all(|m| mask_matches(exact, m)) {
                vec![exact.clone()]
            } else {
                Vec::new()
            });
        }
        Ok(store
            .list_mailboxes()?
            .into_iter()
            .filter(|m| m.selectable && self.mailboxes.iter().all(|k| mask_matches(&m.name, k)))
            .map(|m| m.name)
            .collect())
    }

    /// The UIDs of the matching messages of one mailbox (`msgs` in UID order).
    pub(crate) fn matching_uids(&self, msgs: &[MessageInfo]) -> Vec<u32> {
        let max = msgs.last().map_or(0, |m| m.uid);
        msgs.iter()
            .filter(|m| {
                self.keys.iter().all(|k| match k {
                    Key::All => true,
                    Key::Seen => m.flags.contains(MailFlags::SEEN),
                    Key::Unseen => !m.flags.contains(MailFlags::SEEN),
                    Key::Uid(set) => set.contains(m.uid, max),
                })
            })
            .map(|m| m.uid)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn uid_sets_follow_imap_syntax() {
        let set = UidSet::parse("1:3,7,9:*").expect("valid");
        let inside: Vec<u32> = (1..=12).filter(|&u| set.contains(u, 12)).collect();
        assert_eq!(inside, [1, 2, 3, 7, 9, 10, 11, 12]);
        assert!(
            UidSet::parse("5:*").expect("valid").contains(3, 3),
            "*:5 reversed"
        );
        for bad in ["", "0", "1:", "a", "1,,2", "1:x"] {
            assert!(UidSet::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn keys_are_case_insensitive_and_anded() {
        let q = Query::parse(&words("MAILBOX INBOX Uid 1:2 unseen")).expect("valid");
        assert!(q.has_mailbox() && q.has_other_keys());
        assert_eq!(q.keys.len(), 2);
    }

    #[test]
    fn unknown_keys_are_doveadms_fatal_error() {
        let err = Query::parse(&words("mailbox INBOX foo")).expect_err("unknown");
        assert_eq!(err.message, "Fatal: Unknown argument FOO");
        assert_eq!(err.code, EX_TEMPFAIL);
        let err = Query::parse(&words("uid")).expect_err("missing");
        assert_eq!(
            err.message,
            "Fatal: Missing parameter for search key (for search key: UID)"
        );
    }
}
