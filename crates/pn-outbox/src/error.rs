//! The crate's error type.

use std::path::PathBuf;

/// Why the durable outbox failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboxStoreError {
    /// The database could not be opened or created.
    #[error("cannot open the outbox {}: {source}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The database's directory could not be created.
    #[error("cannot create the outbox directory {}: {source}", path.display())]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A read or write failed (disk full, I/O error, corruption, locked for too long).
    #[error("outbox storage failed: {0}")]
    Sql(#[from] rusqlite::Error),
    /// The group commit this delivery joined failed (its items are not stored).
    #[error("outbox commit failed: {0}")]
    Commit(String),
    /// An item could not be encoded.
    #[error("cannot encode an outbox item: {0}")]
    Encode(serde_json::Error),
    /// A setting has an invalid value.
    #[error("Invalid setting {key} = {value:?}: {why}")]
    Setting {
        /// The setting.
        key: &'static str,
        /// Its value.
        value: String,
        /// What was expected.
        why: String,
    },
}
