//! What the engine and the drivers need from the mail server that hosts them.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// The mail user a [`crate::PushUser`] belongs to (Dovecot's `mail_user`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// Login name (`alice@example.com`).
    pub username: String,
    /// Home directory, when the userdb gives one.
    pub home: Option<PathBuf>,
    /// System uid the user's files belong to.
    pub uid: Option<u32>,
    /// System gid the user's files belong to.
    pub gid: Option<u32>,
    /// The service that created the user (`lmtp`, `lda`, `imap`, `doveadm`, …).
    pub service: String,
    /// Session id, for logs and Lua.
    pub session_id: String,
    /// The autocreated "raw" user LDA/LMTP use to read incoming mail: Dovecot never starts
    /// drivers for its transactions (spec §2.3).
    pub raw_autocreated: bool,
}

impl UserInfo {
    /// A user with just a name and a service; everything else empty.
    pub fn new(username: impl Into<String>, service: impl Into<String>) -> UserInfo {
        UserInfo {
            username: username.into(),
            home: None,
            uid: None,
            gid: None,
            service: service.into(),
            session_id: String::new(),
            raw_autocreated: false,
        }
    }
}

/// A mailbox's status counters, as Dovecot's `mailbox_get_status` returns them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MailboxStatus {
    /// Number of messages.
    pub messages: u32,
    /// Messages without `\Seen`.
    pub unseen: u32,
    /// Messages with `\Recent`.
    pub recent: u32,
    /// The UID the next message will get.
    pub uid_next: u32,
    /// The mailbox's UIDVALIDITY.
    pub uid_validity: u32,
}

/// A failure of the host: the mail store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HostError {
    /// Dovecot-style text (`Mailbox doesn't exist: Foo`), shown in log lines.
    pub message: String,
}

impl HostError {
    /// A host error with this text.
    pub fn new(message: impl Into<String>) -> HostError {
        HostError {
            message: message.into(),
        }
    }
}

/// Mail-store services the engine and drivers call back into.
///
/// Implemented by the mail store. Every method may be called from any thread.
pub trait MailboxHost: Send + Sync {
    /// The current status of a mailbox (after a commit, it includes what was committed).
    fn status(&self, user: &UserInfo, mailbox: &str) -> Result<MailboxStatus, HostError>;

    /// Reads a private mailbox attribute (METADATA); `mailbox` `""` means server metadata.
    /// `Ok(None)` when it is not set. The default has no attribute store, like Dovecot without
    /// `mail_attribute_dict`.
    fn attribute_get(
        &self,
        _user: &UserInfo,
        _mailbox: &str,
        _key: &str,
    ) -> Result<Option<Vec<u8>>, HostError> {
        Err(HostError::new("Mailbox attributes not enabled"))
    }

    /// Reads a private or shared mailbox attribute; `mailbox` `""` means server metadata and
    /// `key` is relative to `/private/` or `/shared/`. The default answers private attributes
    /// through [`attribute_get`](MailboxHost::attribute_get) and has no shared ones.
    fn attribute_get_typed(
        &self,
        user: &UserInfo,
        mailbox: &str,
        attr_type: AttributeType,
        key: &str,
    ) -> Result<Option<Vec<u8>>, HostError> {
        match attr_type {
            AttributeType::Private => self.attribute_get(user, mailbox, key),
            AttributeType::Shared => Err(HostError::new("Mailbox attributes not enabled")),
        }
    }

    /// Sets (`Some`) or removes (`None`) a mailbox attribute (addressed as in
    /// [`attribute_get_typed`](MailboxHost::attribute_get_typed)). The default has no
    /// attribute store.
    fn attribute_set(
        &self,
        _user: &UserInfo,
        _mailbox: &str,
        _attr_type: AttributeType,
        _key: &str,
        _value: Option<&[u8]>,
    ) -> Result<(), HostError> {
        Err(HostError::new("Mailbox attributes not enabled"))
    }

    /// The attribute keys under `prefix`, relative to it (Dovecot's
    /// `mailbox_attribute_iter`). The default has no attribute store.
    fn attribute_list(
        &self,
        _user: &UserInfo,
        _mailbox: &str,
        _attr_type: AttributeType,
        _prefix: &str,
    ) -> Result<Vec<String>, HostError> {
        Err(HostError::new("Mailbox attributes not enabled"))
    }
}

/// Whether a METADATA entry is private to the user or shared (RFC 5464's `/private` and
/// `/shared` trees).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AttributeType {
    /// `/private/…`
    Private,
    /// `/shared/…`
    Shared,
}

impl AttributeType {
    /// The entry-name prefix in IMAP METADATA (`/private`, `/shared`).
    pub fn imap_prefix(self) -> &'static str {
        match self {
            AttributeType::Private => "/private",
            AttributeType::Shared => "/shared",
        }
    }
}

/// Plugin settings of one user, `%` variables already expanded
/// (Dovecot's `mail_user_plugin_getenv`).
pub trait PluginEnv: Send + Sync {
    /// The value of a setting, if it is set.
    fn get(&self, key: &str) -> Option<String>;

    /// Where the setting was written, for error messages that point at the config line.
    fn location(&self, _key: &str) -> Option<pn_config::Location> {
        None
    }

    /// The driver list under `root` (`push_notification_driver` or the legacy
    /// `push_notification_backend`), when the host has it ready-made — e.g. with Dovecot 2.4's
    /// `push_notification NAME { }` filters, which are not plugin settings. `None` (the
    /// default): the engine reads the numbered keys through [`PluginEnv::get`].
    fn driver_specs(&self, _root: &str) -> Option<Vec<pn_config::DriverSpec>> {
        None
    }
}

impl PluginEnv for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        BTreeMap::get(self, key).cloned()
    }
}

impl PluginEnv for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).cloned()
    }
}
