//! The crate's error type.

use std::path::PathBuf;

/// Dovecot's storage error classes (`enum mail_error`), which decide doveadm's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `MAIL_ERROR_TEMP`: retry later (doveadm 75).
    Temp,
    /// `MAIL_ERROR_NOTPOSSIBLE` (doveadm 65).
    NotPossible,
    /// `MAIL_ERROR_PARAMS` (doveadm 64).
    Params,
    /// `MAIL_ERROR_PERM` (doveadm 77).
    Perm,
    /// `MAIL_ERROR_NOTFOUND` (doveadm 68).
    NotFound,
    /// `MAIL_ERROR_LIMIT`: too large or too many (doveadm 65).
    Limit,
}

/// Why a metadata operation failed. `Display` gives Dovecot's text where Dovecot has one.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// The mailbox does not exist.
    #[error("Mailbox doesn't exist: {mailbox}")]
    MailboxNotFound {
        /// Its name.
        mailbox: String,
    },
    /// `mail_attribute_dict` is empty.
    #[error("Mailbox attributes not enabled")]
    NotEnabled,
    /// An internal attribute Dovecot answers itself.
    #[error("The {key} attribute cannot be changed")]
    ReadOnly {
        /// `/private/…` or `/shared/…`.
        key: String,
    },
    /// A value with a NUL byte (the file dictionary stores C strings).
    #[error("Attribute string value has NULs")]
    NulInValue,
    /// A dictionary pn cannot use.
    #[error("mail_attribute_dict: unsupported dictionary {0}")]
    UnsupportedDict(String),
    /// A setting could not be expanded or used.
    #[error("{setting}: {reason}")]
    Setting {
        /// The setting.
        setting: String,
        /// What is wrong.
        reason: String,
    },
    /// A mail location pn cannot read GUIDs from.
    #[error("mail_location {location}: {reason}")]
    MailLocation {
        /// The expanded location.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// The dictionary stayed locked for two minutes.
    #[error("file_dotlock_open({path}) failed: timed out waiting for the lock")]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
    },
    /// A file operation failed.
    #[error("{op}({path}) failed: {source}")]
    Io {
        /// The operation (`open`, `write`, `rename`, …).
        op: String,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// pn's mail store failed (reading or creating a mailbox's uidlist).
    #[error("{0}")]
    Store(#[source] pn_store::StoreError),
    /// The IMAP server refused or failed.
    #[error("{0}")]
    Imap(#[from] crate::imap::ImapError),
}

impl MetadataError {
    /// The storage error class, for exit codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            MetadataError::MailboxNotFound { .. } => ErrorKind::NotFound,
            MetadataError::NotEnabled | MetadataError::ReadOnly { .. } => ErrorKind::NotPossible,
            MetadataError::NulInValue => ErrorKind::Params,
            MetadataError::UnsupportedDict(_)
            | MetadataError::Setting { .. }
            | MetadataError::MailLocation { .. }
            | MetadataError::LockTimeout { .. } => ErrorKind::Temp,
            MetadataError::Io { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                ErrorKind::Perm
            }
            MetadataError::Io { .. } => ErrorKind::Temp,
            MetadataError::Imap(e) => e.kind(),
            MetadataError::Store(e) => match e {
                pn_store::StoreError::Io { source, .. }
                    if source.kind() == std::io::ErrorKind::PermissionDenied =>
                {
                    ErrorKind::Perm
                }
                e => match e.kind() {
                    pn_store::ErrorKind::NotFound => ErrorKind::NotFound,
                    pn_store::ErrorKind::InvalidInput => ErrorKind::Params,
                    pn_store::ErrorKind::Exists => ErrorKind::NotPossible,
                    pn_store::ErrorKind::Temporary | pn_store::ErrorKind::Corrupted => {
                        ErrorKind::Temp
                    }
                },
            },
        }
    }
}
