//! The `imap` backend: an RFC 5464 METADATA client.

use crate::{AttrType, ErrorKind, MetadataError, Target};

/// Why the IMAP server did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// Not available in this build.
    #[error("the imap metadata backend is not implemented yet")]
    NotImplemented,
}

impl ImapError {
    /// The storage error class, for exit codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ImapError::NotImplemented => ErrorKind::NotPossible,
        }
    }
}

/// A user's metadata on a remote IMAP server.
#[derive(Debug)]
pub struct ImapStore {
    _private: (),
}

impl ImapStore {
    /// GETMETADATA.
    pub fn get(
        &self,
        _target: Target<'_>,
        _attr_type: AttrType,
        _key: &str,
    ) -> Result<Option<Vec<u8>>, MetadataError> {
        Err(ImapError::NotImplemented.into())
    }

    /// SETMETADATA.
    pub fn set(
        &self,
        _target: Target<'_>,
        _attr_type: AttrType,
        _key: &str,
        _value: Option<&[u8]>,
    ) -> Result<(), MetadataError> {
        Err(ImapError::NotImplemented.into())
    }

    /// GETMETADATA with DEPTH infinity.
    pub fn list(
        &self,
        _target: Target<'_>,
        _attr_type: AttrType,
        _prefix: &str,
    ) -> Result<Vec<String>, MetadataError> {
        Err(ImapError::NotImplemented.into())
    }
}
