//! The store's error type.

use std::io;
use std::path::{Path, PathBuf};

/// What kind of failure an error is, so the CLI can pick an exit code without matching on
/// every variant (Dovecot's `enum mail_error`, reduced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Try again later: disk full, quota, lock timeout, I/O trouble (`EX_TEMPFAIL`, 75).
    Temporary,
    /// The mailbox (or message) does not exist.
    NotFound,
    /// The mailbox already exists.
    Exists,
    /// The request itself is wrong: bad mailbox name, empty message, bad keyword.
    InvalidInput,
    /// The files on disk are not what Dovecot writes and could not be repaired.
    Corrupted,
}

/// A mail-store failure, with the context a user needs.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A system call on a path failed.
    #[error("{op}({}) failed: {source}", path.display())]
    Io {
        /// The operation (`open`, `rename`, `fsync`, …), named like Dovecot's log lines.
        op: &'static str,
        /// The path it was applied to.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The mailbox does not exist (Dovecot: `Mailbox doesn't exist: NAME`).
    #[error("Mailbox doesn't exist: {0}")]
    MailboxNotFound(String),
    /// The mailbox already exists.
    #[error("Mailbox already exists: {0}")]
    MailboxExists(String),
    /// A mailbox name Dovecot would refuse.
    #[error("Invalid mailbox name {name:?}: {reason}")]
    InvalidMailboxName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An empty message cannot be saved.
    #[error("Empty message")]
    EmptyMessage,
    /// A keyword that is not an IMAP atom, or one too many for Maildir's 26 letters.
    #[error("Invalid keyword {keyword:?}: {reason}")]
    InvalidKeyword {
        /// The keyword as given.
        keyword: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// Something else about the request is invalid (e.g. renaming INBOX).
    #[error("{0}")]
    Invalid(String),
    /// A lock could not be taken in time (Dovecot: `Timeout while waiting for lock`).
    #[error("Timeout while waiting for lock: {}", path.display())]
    LockTimeout {
        /// The dotlock's path.
        path: PathBuf,
    },
    /// A metadata file is broken beyond what the store repairs.
    #[error("Broken file {}: {reason}", path.display())]
    Corrupted {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line when known.
        reason: String,
    },
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// The kind of failure, for exit codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Io { source, .. } => match source.kind() {
                io::ErrorKind::NotFound => ErrorKind::NotFound,
                _ => ErrorKind::Temporary,
            },
            StoreError::MailboxNotFound(_) => ErrorKind::NotFound,
            StoreError::MailboxExists(_) => ErrorKind::Exists,
            StoreError::InvalidMailboxName { .. }
            | StoreError::EmptyMessage
            | StoreError::InvalidKeyword { .. }
            | StoreError::Invalid(_) => ErrorKind::InvalidInput,
            StoreError::LockTimeout { .. } => ErrorKind::Temporary,
            StoreError::Corrupted { .. } => ErrorKind::Corrupted,
        }
    }

    /// Whether retrying later may succeed (the CLI's exit code 75).
    pub fn is_temporary(&self) -> bool {
        self.kind() == ErrorKind::Temporary
    }

    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> StoreError {
        StoreError::Io {
            op,
            path: path.to_owned(),
            source,
        }
    }
}

/// `map_err` helper: `file.sync_all().map_err(io_err("fsync", &path))`.
pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |e| StoreError::io(op, path, e)
}

impl From<StoreError> for pn_core::HostError {
    fn from(e: StoreError) -> pn_core::HostError {
        pn_core::HostError::new(e.to_string())
    }
}
