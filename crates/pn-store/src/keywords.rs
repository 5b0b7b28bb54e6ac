//! `dovecot-keywords`: which keyword each file-name letter `a`..`z` stands for.
//!
//! One `<index> <name>\n` line per keyword (`0 $Label1`); index 0 is the letter `a`. Lines
//! Dovecot cannot use (no space, bad index, duplicate name) are skipped, as Dovecot does.

use crate::error::{Result, StoreError};

/// Maildir has 26 keyword letters (Dovecot's `MAILDIR_MAX_KEYWORDS`).
pub(crate) const MAX_KEYWORDS: usize = 26;

/// The keyword table of one mailbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Keywords {
    names: Vec<Option<String>>,
}

impl Keywords {
    /// Parses the file, skipping lines Dovecot skips.
    pub(crate) fn parse(text: &str) -> Keywords {
        let mut kw = Keywords::default();
        for line in text.lines() {
            let Some((idx, name)) = line.split_once(' ') else {
                continue;
            };
            let Ok(idx) = idx.parse::<usize>() else {
                continue;
            };
            if idx >= MAX_KEYWORDS || name.is_empty() || kw.index_of(name).is_some() {
                continue;
            }
            if kw.names.len() <= idx {
                kw.names.resize(idx + 1, None);
            }
            // A second line for an index is ignored (Dovecot would half-replace it).
            if kw.names[idx].is_none() {
                kw.names[idx] = Some(name.to_owned());
            }
        }
        kw
    }

    /// The file's text.
    pub(crate) fn to_text(&self) -> String {
        let mut out = String::new();
        for (i, n) in self.names.iter().enumerate() {
            if let Some(n) = n {
                out.push_str(&format!("{i} {n}\n"));
            }
        }
        out
    }

    /// The keyword of an index.
    pub(crate) fn name(&self, idx: u8) -> Option<&str> {
        self.names.get(usize::from(idx))?.as_deref()
    }

    /// The index of a keyword (names compare case-sensitively, as in Dovecot's hash).
    pub(crate) fn index_of(&self, name: &str) -> Option<u8> {
        self.names
            .iter()
            .position(|n| n.as_deref() == Some(name))
            .and_then(|i| u8::try_from(i).ok())
    }

    /// The index of a keyword, adding it in the first free slot when it is new. The `bool` is
    /// `true` when the table changed.
    pub(crate) fn get_or_add(&mut self, name: &str) -> Result<(u8, bool)> {
        if let Some(i) = self.index_of(name) {
            return Ok((i, false));
        }
        validate_keyword(name)?;
        let free = self.names.iter().position(Option::is_none);
        let idx = match free {
            Some(i) => i,
            None if self.names.len() < MAX_KEYWORDS => {
                self.names.push(None);
                self.names.len() - 1
            }
            None => {
                return Err(StoreError::InvalidKeyword {
                    keyword: name.to_owned(),
                    reason: "the mailbox already has 26 keywords, Maildir's maximum",
                });
            }
        };
        self.names[idx] = Some(name.to_owned());
        Ok((idx as u8, true))
    }

    /// Names of keyword indexes, in index order; unknown letters are left out, as Dovecot does.
    pub(crate) fn names_of(&self, idx: &[u8]) -> Vec<String> {
        idx.iter()
            .filter_map(|&i| self.name(i).map(str::to_owned))
            .collect()
    }
}

/// An IMAP keyword must be a non-empty atom that is not a system flag.
pub(crate) fn validate_keyword(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(StoreError::InvalidKeyword {
            keyword: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("keyword is empty");
    }
    if name.starts_with('\\') {
        return bad("not a system flag, and keywords can't begin with '\\'");
    }
    if name
        .bytes()
        .any(|b| b <= b' ' || b >= 0x7f || b"(){%*\"\\]".contains(&b))
    {
        return bad("keyword isn't an IMAP atom");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dovecot_written_keywords_round_trip() {
        // Written by Dovecot 2.3.19 after `doveadm flags add '\Seen $Label1 foo'` and `… bar`.
        let text = "0 $Label1\n1 foo\n2 bar\n";
        let kw = Keywords::parse(text);
        assert_eq!(kw.name(2), Some("bar"));
        assert_eq!(kw.index_of("foo"), Some(1));
        assert_eq!(kw.to_text(), text);
        assert_eq!(kw.names_of(&[0, 2, 7]), ["$Label1", "bar"]);
    }

    #[test]
    fn broken_lines_are_skipped_and_holes_are_reused() {
        let mut kw = Keywords::parse("x\n1 one\n99 far\n1 dup\n3 three\n3 one\n");
        assert_eq!(kw.to_text(), "1 one\n3 three\n");
        assert_eq!(kw.get_or_add("new").expect("room"), (0, true));
        assert_eq!(kw.get_or_add("one").expect("known"), (1, false));
        assert_eq!(kw.get_or_add("more").expect("room"), (2, true));
        assert_eq!(kw.get_or_add("last").expect("room"), (4, true));
    }

    #[test]
    fn the_27th_keyword_and_non_atoms_are_refused() {
        let mut kw = Keywords::default();
        for i in 0..26 {
            kw.get_or_add(&format!("k{i}")).expect("room");
        }
        assert!(kw.get_or_add("k26").is_err());
        for bad in ["", "a b", "\\Seen", "a(b", "ä"] {
            assert!(validate_keyword(bad).is_err(), "{bad:?}");
        }
    }
}
