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
//! * `imap` ([`imap::ImapStore`]): a blocking RFC 5464 client (SETMETADATA/GETMETADATA over
//!   TLS, STARTTLS or loopback plain text) to a server such as Dovecot with
//!   `imap_metadata = yes`.
//!
//! [`Backend::from_settings`] reads `pn_metadata_backend` (`file`, the default, or `imap`) and
//! the backend's settings; [`Backend::store_for`] makes one user's [`MetadataStore`].
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
pub use key::AttributeType;
pub use maildir::{MailLocation, MailboxGuids, MaildirGuids};
pub use store::{DEFAULT_ATTRIBUTE_DICT, FileStore, Target};

use pn_userdb::UserRecord;

/// Which backend a configuration selects (`pn_metadata_backend = file|imap`), with its
/// settings; [`Backend::store_for`] makes one user's [`MetadataStore`].
#[derive(Debug, Clone)]
pub enum Backend {
    /// `file` (the default): `mail_attribute_dict` and `mail_location`, `%` variables
    /// unexpanded.
    File {
        /// `mail_attribute_dict` (pn's default: [`DEFAULT_ATTRIBUTE_DICT`]).
        attribute_dict: String,
        /// `mail_location` (default `maildir:~/Maildir`; the userdb's `mail` wins).
        mail_location: String,
    },
    /// `imap`: the `pn_metadata_imap_*` settings.
    Imap(imap::ImapSettings),
}

impl Backend {
    /// Reads `pn_metadata_backend` and the chosen backend's settings through `get` (a
    /// setting's value, `None` when unset).
    pub fn from_settings(get: &dyn Fn(&str) -> Option<String>) -> Result<Backend, MetadataError> {
        let backend = get("pn_metadata_backend").unwrap_or_default();
        match backend.trim().to_ascii_lowercase().as_str() {
            "" | "file" => Ok(Backend::File {
                attribute_dict: get("mail_attribute_dict")
                    .unwrap_or_else(|| DEFAULT_ATTRIBUTE_DICT.to_owned()),
                mail_location: get("mail_location")
                    .filter(|l| !l.trim().is_empty())
                    .unwrap_or_else(|| "maildir:~/Maildir".to_owned()),
            }),
            "imap" => Ok(Backend::Imap(imap::ImapSettings::from_settings(get)?)),
            other => Err(MetadataError::Setting {
                setting: "pn_metadata_backend".to_owned(),
                reason: format!("unknown backend {other:?} (known: file, imap)"),
            }),
        }
    }

    /// The store of `user`. Nothing is opened yet for `imap`.
    pub fn store_for(&self, user: &UserRecord) -> Result<MetadataStore, MetadataError> {
        match self {
            Backend::File {
                attribute_dict,
                mail_location,
            } => Ok(MetadataStore::File(FileStore::for_user(
                user,
                attribute_dict,
                mail_location,
            )?)),
            Backend::Imap(settings) => Ok(MetadataStore::Imap(Box::new(
                imap::ImapStore::for_user(settings, user)?,
            ))),
        }
    }
}

/// A user's metadata store: the backends pn knows.
#[derive(Debug)]
pub enum MetadataStore {
    /// Dovecot's file dictionary.
    File(FileStore),
    /// A remote IMAP server.
    Imap(Box<imap::ImapStore>),
}

impl MetadataStore {
    /// The value of an entry; `Ok(None)` when it is not set.
    pub fn get(
        &self,
        target: Target<'_>,
        attr_type: AttributeType,
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
        attr_type: AttributeType,
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
        attr_type: AttributeType,
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
/// (`vendor/vendor.dovecot/http-notify`) or as stored, under [`key::SERVER_PREFIX`].
pub fn host_attribute_get(
    store: &MetadataStore,
    mailbox: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, MetadataError> {
    if mailbox.is_empty() {
        let bare = key.strip_prefix(key::SERVER_PREFIX).unwrap_or(key);
        store.get(Target::Server, AttributeType::Private, bare)
    } else {
        store.get(Target::Mailbox(mailbox), AttributeType::Private, key)
    }
}
