//! The crate's error type.

use std::path::PathBuf;

/// Why a [`crate::Dispatcher`] could not be set up. Sending itself never fails this way: its
/// result is an [`crate::Outcome`].
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// A CA file or directory could not be read.
    #[error("{setting}: cannot read {}: {source}", path.display())]
    CaRead {
        /// `ssl_client_ca_file` or `ssl_client_ca_dir`.
        setting: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A CA file holds no usable certificate.
    #[error("{setting}: no usable certificate in {}", path.display())]
    CaEmpty {
        /// `ssl_client_ca_file` or `ssl_client_ca_dir`.
        setting: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// rustls refused the configuration.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The runtime for one-shot sending could not be created.
    #[error("cannot start the dispatch runtime: {0}")]
    Runtime(std::io::Error),
}
