//! Mailbox GUIDs: the interface the mail store implements, and its implementation over
//! pn's mail store ([`pn_store::Maildir`]), which reads (or creates) the mailbox's
//! `dovecot-uidlist` header like Dovecot does.

use std::path::{Path, PathBuf};

use pn_store::{MailboxLocator, Maildir};

use crate::MetadataError;

/// Where a user's mailboxes are: a Maildir++ root (INBOX), as pn's mail store lays it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailLocation {
    /// The Maildir root (INBOX).
    pub root: PathBuf,
}

impl MailLocation {
    /// Parses an expanded `mail_location` (`maildir:~/Maildir[:LAYOUT=maildir++][:INDEX=…]`),
    /// with `~` meaning `home`. `INBOX=`, `CONTROL=` and `LAYOUT=fs` move the uidlists
    /// elsewhere and are refused, because pn's mail store does not support them.
    pub fn parse(location: &str, home: Option<&Path>) -> Result<MailLocation, MetadataError> {
        let invalid = |why: &str| MetadataError::MailLocation {
            location: location.to_owned(),
            reason: why.to_owned(),
        };
        let Some(rest) = location.strip_prefix("maildir:") else {
            return Err(invalid(
                "pn reads mailbox GUIDs from Maildir only (maildir:…)",
            ));
        };
        let mut parts = rest.split(':');
        let root = parts.next().unwrap_or_default();
        let root = match (root.strip_prefix('~'), home) {
            (Some(r), Some(h)) => h.join(r.trim_start_matches('/')),
            (Some(_), None) => {
                return Err(invalid("~ is used but the user has no home directory"));
            }
            (None, _) => PathBuf::from(root),
        };
        for p in parts {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            match k.to_ascii_uppercase().as_str() {
                "INBOX" | "CONTROL" => {
                    return Err(invalid(&format!(
                        "{k}= is not supported by pn's mail store (INBOX is the Maildir root)"
                    )));
                }
                "LAYOUT" if !v.eq_ignore_ascii_case("maildir++") => {
                    return Err(invalid(&format!(
                        "LAYOUT={v} is not supported by pn's mail store (Maildir++ only)"
                    )));
                }
                _ => {}
            }
        }
        Ok(MailLocation { root })
    }

    /// pn's mail store over this location.
    pub fn maildir(&self) -> Maildir {
        Maildir::open(&self.root)
    }
}

/// Whether `name` is INBOX (case-insensitively, like Dovecot).
pub fn is_inbox(name: &str) -> bool {
    name.eq_ignore_ascii_case("INBOX")
}

/// The mail store's answer to "which GUID does this mailbox have".
pub trait MailboxGuids: Send + Sync {
    /// The 16-byte GUID of `mailbox` of the user at `location`. INBOX is created when missing
    /// (Dovecot autocreates it); another missing mailbox is [`MetadataError::MailboxNotFound`].
    fn guid(&self, location: &MailLocation, mailbox: &str) -> Result<[u8; 16], MetadataError>;

    /// Whether `mailbox` exists (INBOX always does).
    fn exists(&self, location: &MailLocation, mailbox: &str) -> bool;
}

/// GUIDs from pn's mail store ([`pn_store::MailboxLocator::mailbox_guid`]): the `G<32 hex>`
/// field of the mailbox's `dovecot-uidlist`; a mailbox without a uidlist gets one with a
/// random GUID, as Dovecot's first sync does. Non-ASCII names are stored in modified UTF-7.
#[derive(Debug, Clone, Copy, Default)]
pub struct MaildirGuids;

impl MailboxGuids for MaildirGuids {
    fn guid(&self, location: &MailLocation, mailbox: &str) -> Result<[u8; 16], MetadataError> {
        location
            .maildir()
            .mailbox_guid(mailbox)
            .map_err(|e| match e {
                pn_store::StoreError::MailboxNotFound(_) => MetadataError::MailboxNotFound {
                    mailbox: mailbox.to_owned(),
                },
                e => MetadataError::Store(e),
            })
    }

    fn exists(&self, location: &MailLocation, mailbox: &str) -> bool {
        location.maildir().mailbox_exists(mailbox).unwrap_or(false)
    }
}

/// 32 lower-case hex digits, as Dovecot prints GUIDs.
pub fn guid_to_hex(guid: &[u8; 16]) -> String {
    pn_store::guid_hex(guid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_pn_store_cannot_serve_are_refused() {
        let home = Path::new("/home/a");
        let l = MailLocation::parse("maildir:~/Maildir:LAYOUT=maildir++:INDEX=/x", Some(home))
            .expect("loc");
        assert_eq!(l.root, PathBuf::from("/home/a/Maildir"));
        for bad in [
            "maildir:~/M:LAYOUT=fs",
            "maildir:~/M:INBOX=~/in",
            "maildir:~/M:CONTROL=/c",
            "mbox:~/mail",
        ] {
            assert!(MailLocation::parse(bad, Some(home)).is_err(), "{bad}");
        }
    }

    #[test]
    fn inbox_gets_a_uidlist_once_and_keeps_its_guid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let loc = MailLocation::parse("maildir:~/Maildir", Some(dir.path())).expect("loc");
        let g1 = MaildirGuids.guid(&loc, "INBOX").expect("guid");
        let g2 = MaildirGuids.guid(&loc, "inbox").expect("guid");
        assert_eq!(g1, g2);
        let text =
            std::fs::read_to_string(dir.path().join("Maildir/dovecot-uidlist")).expect("uidlist");
        assert!(text.starts_with("3 V"), "{text}");
        assert!(text.contains(&format!("G{}", guid_to_hex(&g1))), "{text}");
        assert!(dir.path().join("Maildir/cur").is_dir());
    }

    #[test]
    fn missing_folder_is_not_found_and_non_ascii_names_are_modified_utf7() {
        let dir = tempfile::tempdir().expect("tempdir");
        let loc = MailLocation::parse("maildir:~/Maildir", Some(dir.path())).expect("loc");
        assert!(matches!(
            MaildirGuids.guid(&loc, "Work"),
            Err(MetadataError::MailboxNotFound { .. })
        ));
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(dir.path().join("Maildir/.Work.B&AOQ-r").join(sub))
                .expect("mkdir");
        }
        assert!(MaildirGuids.exists(&loc, "Work/B\u{e4}r"));
        MaildirGuids.guid(&loc, "Work/B\u{e4}r").expect("guid");
        assert!(
            dir.path()
                .join("Maildir/.Work.B&AOQ-r/dovecot-uidlist")
                .is_file()
        );
    }
}
