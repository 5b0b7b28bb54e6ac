//! Delivers pn's outbox: every [`OutboxItem`] a driver enqueued is sent the way Dovecot 2.3's
//! lib-http would send it.
//!
//! * **Wire format** ([`wire`]): HTTP/1.1, headers in Dovecot's order — `Host`, `Date`,
//!   `Authorization: Basic` (only for `user:password@` URLs), `Content-Length`,
//!   `Connection: Keep-Alive`, then the driver's own headers (ox: `Content-Type`). No
//!   `User-Agent`, no `Accept`, no redirects followed.
//! * **Attempts** ([`attempt`]): lib-http's rules as observed against failing endpoints — a
//!   `408` is retried at once on a new connection, a `503` with a `Retry-After` that fits into
//!   the attempt timeout after that delay, an attempt that times out on a new connection, a
//!   lost connection likewise; everything else (other statuses, connection refused, TLS
//!   failures, `3xx`) ends the request at once.
//! * **Signing** ([`signing`]): an item that asks for it gets Standard Webhooks headers,
//!   signed afresh for every attempt with the item's stable event id.
//! * **TLS** ([`tls`]): rustls (ring), the system's roots plus Dovecot's
//!   `ssl_client_ca_file` / `ssl_client_ca_dir`, where a self-signed `CA:TRUE` certificate
//!   is accepted as pinned; verification is never switched off.
//! * **Pools**: one connection pool per origin (`scheme://host:port`), so one per ox
//!   driver URL, shared by every user; connections are bounded per origin and in all
//!   ([`DispatchConfig`]), and requests beyond the bounds wait without a connection.
//!
//! A [`Dispatcher`] runs either as a task over a [`Queue`] ([`Dispatcher::run`]: the
//! [`MemoryOutbox`], fire and forget like Dovecot, or pn-outbox's durable outbox, which
//! reschedules failures and keeps dead letters) or, in a one-shot process with a memory
//! outbox, through [`Dispatcher::drain_blocking`], which returns once everything queued was
//! sent or given up. A delivery never depends on its notification.
//!
//! ```no_run
//! use pn_core::MemoryOutbox;
//! use pn_dispatch::{DispatchConfig, Dispatcher};
//!
//! let outbox = MemoryOutbox::new();
//! // ... a delivery through pn-core's host API fills the outbox ...
//! let dispatcher = Dispatcher::new(&DispatchConfig::default())?;
//! let outcomes = dispatcher.drain_blocking(&outbox);
//! # Ok::<(), pn_dispatch::DispatchError>(())
//! ```
//!
//! [`OutboxItem`]: pn_core::OutboxItem
//! [`MemoryOutbox`]: pn_core::MemoryOutbox

pub mod attempt;
mod dispatcher;
mod error;
pub mod signing;
pub mod tls;
pub mod wire;

pub use attempt::Outcome;
pub use dispatcher::{DispatchConfig, Dispatcher, Leased, MAX_IN_FLIGHT, OutcomeLog, Queue};
pub use error::DispatchError;

/// `tracing` target of the ox driver's delivery lines (Dovecot's `push-notification-ox: `).
pub const OX_LOG_TARGET: &str = "push-notification-ox";

/// `tracing` target of the dispatcher's own lines (Dovecot's `http-client` debug lines).
pub const LOG_TARGET: &str = "pn_dispatch";
