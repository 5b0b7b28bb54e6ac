//! Push to devices: two drivers that wake mail clients instead of an open IMAP IDLE.
//!
//! * [`devicetoken`] — Delta Chat / chatmail: the tokens clients store in METADATA
//!   `/private/devicetoken` are POSTed to a notification proxy the way chatmail's relay does.
//! * [`webpush`] — RFC 8030 Web Push to the subscriptions users store in METADATA, encrypted
//!   with RFC 8291 (`aes128gcm`) and authorised with RFC 8292 VAPID.
//!
//! Both push only for mail from someone else arriving in INBOX (module `incoming`), both send
//! through the outbox, and both drop what the push service reports gone (`404`/`410`) through
//! [`gone::on_gone`], which whoever delivers the outbox calls. See docs/device-push.md.

pub mod args;
pub mod devicetoken;
pub mod gone;
pub(crate) mod incoming;
pub mod tokens;
pub mod webpush;

pub use args::ConfigError;

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
