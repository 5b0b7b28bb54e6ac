//! Errors of the JetStream outbox.

/// What can go wrong talking to JetStream.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// A setting is invalid.
    #[error("Invalid setting {key}: {why}")]
    Setting {
        /// The setting.
        key: &'static str,
        /// Why.
        why: String,
    },
    /// Connecting to the servers failed.
    #[error("cannot connect to NATS ({servers}): {why}")]
    Connect {
        /// The servers, without credentials.
        servers: String,
        /// Why.
        why: String,
    },
    /// A JetStream request (stream, consumer, publish, ack) failed.
    #[error("JetStream: {0}")]
    JetStream(String),
    /// The server did not apply the configuration pn asked for (nats-server 2.9 silently
    /// ignores fields introduced later; an existing stream may differ).
    #[error(
        "JetStream {what} {name:?} does not have the configuration pn needs: {diffs}. \
         Edit or delete it (nats stream/consumer edit), or use a nats-server that supports these fields"
    )]
    ConfigMismatch {
        /// `stream` or `consumer`.
        what: &'static str,
        /// Its name.
        name: String,
        /// `field: asked X, server has Y`, separated by `; `.
        diffs: String,
    },
    /// An item could not be encoded or decoded.
    #[error("cannot encode or decode a notification: {0}")]
    Codec(String),
    /// The runtime that talks to NATS could not be started or went away.
    #[error("NATS runtime: {0}")]
    Runtime(String),
}

pub(crate) fn js(e: impl std::fmt::Display) -> NatsError {
    NatsError::JetStream(e.to_string())
}
