//! RFC 2033 LMTP for pn.
//!
//! * [`command`]: the command parser (pure, fuzzed) — LHLO, MAIL FROM with `SIZE=`, `BODY=`
//!   and `SMTPUTF8`, RCPT TO, DATA, BDAT, RSET, NOOP, QUIT, VRFY — with Dovecot's lib-smtp
//!   reply texts for malformed commands.
//! * [`data`]: DATA's dot-unstuffing and BDAT's chunks, to LF line endings.
//! * [`spool`]: a message in memory up to 128 KiB, beyond that in a temporary file.
//! * [`trace`]: the `Return-Path`, `Delivered-To` and `Received` headers put in front of
//!   every message, in Dovecot's format.
//! * [`server`]: the tokio server — TCP and Unix listeners, a session limit, idle and command
//!   timeouts, pipelining, one reply per recipient after DATA, graceful shutdown — calling a
//!   [`Backend`] (on blocking threads) to check recipients and store messages.
//!
//! The crate knows nothing about users, mailboxes or push notifications: the `pn` binary's
//! backend does (`pn lmtp`, see `docs/lmtp.md`).

pub mod command;
pub mod data;
mod reply;
pub mod server;
pub mod spool;
pub mod trace;

pub use reply::Reply;
pub use server::{Backend, Envelope, Listener, Server, ServerConfig};
pub use spool::Message;
pub use trace::{DeliveryAddress, TraceSettings};
