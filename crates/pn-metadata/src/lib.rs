//! Mailbox and server METADATA (RFC 5464) for pn.
//!
//! The ox driver reads the server entry `/private/vendor/vendor.dovecot/http-notify` of each
//! user (spec §5.2); operators write it with `pn mailbox metadata` (doveadm's command). The
//! entries live in one of two backends, a closed set ([`MetadataStore`]):
//!
//! * `file` ([`FileStore`]): Dovecot's own file dictionary
//!   (`mail_attribute_dict = file:%h/dovecot-attributes`), byte for byte, with Dovecot's keys
//!   (`priv/<mailbox GUID>/…`, `shared/<mailbox GUID>/…`, server entries on INBOX under
//!   [`key::SERVER_PREFIX`]) and its lock, so pn and Dovecot can share the file. Mailbox GUIDs
//!   come from the mail store through [`MailboxGuids`].
//! * `imap` ([`imap::ImapStore`]): an RFC 5464 client (SETMETADATA/GETMETADATA) to a server
//!   such as Dovecot with `imap_metadata = yes`.
//!
//! [`host_attribute_get`] is what a `pn_core::MailboxHost::attribute_get` implementation calls.
//!
//! Architecture invariant: this crate never prints and never exits; doveadm's messages and exit
//! codes are made by the `pn` binary from [`MetadataError`] and its [`ErrorKind`].

pub mod dict;
mod error;
pub mod imap;
pub mod key;
pub mod maildir;
mod store;

pub use error::{ErrorKind, MetadataError};
pub use key::AttrType;
pub use maildir::{MailLocation, MailboxGuids, MaildirGuids};
pub use store::{DEFAULT_ATTRIBUTE_DICT, FileStore, Target};

/// A user's metadata store: the backends pn knows.
#[derive(Debug)]
pub enum MetadataStore {
    /// Dovecot's file dictionary.
    File(FileStore),
    /// A remote IMAP server.
    Imap(imap::ImapStore),
}

impl MetadataStore {
    /// The value of an entry; `Ok(None)` when it is not set.
    pub fn get(
        &self,
        target: Target<'_>,
        attr_type: AttrType,
        key: &str,
    ) -> Result<Option<Vec<u8>>, MetadataError> {
        match self {
            MetadataStore::File(f) => f.get(target, attr_type, key),
            MetadataStore::Imap(i) => i.get(target, attr_type, key),
        }
    }

    /// Sets (`Some`) or removes (`None`) an entry.
    pub fn set(
        &self,
        target: Target<'_>,
        attr_type: AttrType,
        key: &str,
        value: Option<&[u8]>,
    ) -> Result<(), MetadataError> {
        match self {
            MetadataStore::File(f) => f.set(target, attr_type, key, value),
            MetadataStore::Imap(i) => i.set(target, attr_type, key, value),
        }
    }

    /// The entries under `prefix`, relative to it.
    pub fn list(
        &self,
        target: Target<'_>,
        attr_type: AttrType,
        prefix: &str,
    ) -> Result<Vec<String>, MetadataError> {
        match self {
            MetadataStore::File(f) => f.list(target, attr_type, prefix),
            MetadataStore::Imap(i) => i.list(target, attr_type, prefix),
        }
    }
}

/// `MailboxHost::attribute_get` for a user's store: a private attribute of `mailbox`, or of the
/// server when `mailbox` is `""`. For the server, `key` may be given as the IMAP entry
/// (`vendor/vendor.dovecot/http-notify`) or as stored ([`key::OX_METADATA_KEY`]).
pub fn host_attribute_get(
    store: &MetadataStore,
    mailbox: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, MetadataError> {
    if mailbox.is_empty() {
        let bare = key.strip_prefix(key::SERVER_PREFIX).unwrap_or(key);
        store.get(Target::Server, AttrType::Private, bare)
    } else {
        store.get(Target::Mailbox(mailbox), AttrType::Private, key)
    }
}
