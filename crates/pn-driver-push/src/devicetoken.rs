//! The `devicetoken` driver: chatmail's notification-proxy request for every device token
//! of the user when mail from someone else arrives in INBOX.
//!
//! ```text
//! push_notification_driver2 = devicetoken:url=https://notifications.delta.chat/notify
//! ```
//!
//! Arguments: `url=` (required), `debounce=` seconds between two pushes to one token
//! (default 5), `max_retries=` (default 3), `timeout_msecs=` per attempt (default 60000,
//! chatmail's connection timeout).
//!
//! The request is chatmail's: `POST <url>` whose body is the token as is, with no
//! `Content-Type`. A `404` or `410` answer means the token is gone: the outbox's caller hands
//! the item to [`crate::gone::on_gone`], which removes it.

use std::sync::Arc;

use pn_config::DriverSpec;
use pn_core::{
    Driver, DriverInitCtx, DriverInitError, DriverTxn, HttpRequest, OutboxItem, Payload,
    ProcessCtx, Subscriptions, TxnInfo,
};
use pn_event::{MailboxTxnData, MessageTxnData};
use tracing::{debug, error, warn};

use crate::args::{self, ConfigError};
use crate::{incoming, now_unix, tokens};

/// The name the driver is registered under.
pub const NAME: &str = "devicetoken";

/// `tracing` target of the driver's lines.
pub const LOG_TARGET: &str = "pn_driver_push::devicetoken";

const KNOWN_ARGS: &[&str] = &["url", "debounce", "max_retries", "timeout_msecs"];

/// The driver's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceTokenConfig {
    /// The notifier (chatmail's `https://notifications.delta.chat/notify`).
    pub url: String,
    /// At most one push per token per this many seconds.
    pub debounce_secs: u32,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Time per attempt, milliseconds.
    pub timeout_msecs: u32,
}

impl DeviceTokenConfig {
    /// Reads the arguments of a `devicetoken:` line.
    pub fn from_spec(spec: &DriverSpec) -> Result<DeviceTokenConfig, ConfigError> {
        let a = &spec.args;
        args::check_known(a, KNOWN_ARGS)?;
        Ok(DeviceTokenConfig {
            url: args::url(a)?,
            debounce_secs: args::number(a, "debounce", 5)?,
            max_retries: args::number(a, "max_retries", 3)?,
            timeout_msecs: args::number(a, "timeout_msecs", 60_000)?,
        })
    }
}

/// Creates the driver for one user.
pub fn init(ctx: &DriverInitCtx<'_>) -> Result<Box<dyn Driver>, DriverInitError> {
    let config =
        DeviceTokenConfig::from_spec(ctx.spec).map_err(|e| DriverInitError(e.to_string()))?;
    Ok(Box::new(DeviceToken {
        config: Arc::new(config),
    }))
}

/// The driver for one user.
#[derive(Debug)]
pub struct DeviceToken {
    config: Arc<DeviceTokenConfig>,
}

impl Driver for DeviceToken {
    fn begin_txn(&self, txn: &TxnInfo<'_>, subs: &mut Subscriptions) -> Option<Box<dyn DriverTxn>> {
        if !incoming::wanted(txn) {
            return None;
        }
        incoming::subscribe(subs);
        Some(Box::new(DeviceTokenTxn {
            config: Arc::clone(&self.config),
            incoming: 0,
        }))
    }
}

struct DeviceTokenTxn {
    config: Arc<DeviceTokenConfig>,
    incoming: usize,
}

impl DriverTxn for DeviceTokenTxn {
    fn process_mbox(&mut self, _ctx: &ProcessCtx<'_>, _mbox: &MailboxTxnData) {}

    fn process_msg(&mut self, ctx: &ProcessCtx<'_>, msg: &MessageTxnData) {
        if incoming::is_incoming(&ctx.user.username, msg) {
            self.incoming += 1;
        } else {
            debug!(target: LOG_TARGET, "UID {} of {}: not an incoming INBOX delivery", msg.uid, msg.mailbox);
        }
    }

    fn end_txn(&mut self, ctx: &ProcessCtx<'_>, success: bool) {
        if !success || self.incoming == 0 {
            return;
        }
        let (host, user) = (ctx.host, ctx.user);
        let mut state = match tokens::load(host, user) {
            Ok(s) => s,
            Err(e) => {
                warn!(target: LOG_TARGET, "Token set of {} unreadable, starting afresh: {e}", user.username);
                tokens::TokenState::default()
            }
        };
        let now = now_unix();
        let mut changed = match tokens::current(host, user) {
            Ok(value) => state.merge(&value, now),
            Err(e) => {
                error!(target: LOG_TARGET, "Unable to read /private/{}: {e}", tokens::DEVICETOKEN_KEY);
                false
            }
        };
        let expired = state.expire(now);
        if expired > 0 {
            debug!(target: LOG_TARGET, "Dropped {expired} token(s) older than 90 days");
            changed = true;
        }
        let due = state.due(now, self.config.debounce_secs);
        if due.len() < state.tokens.len() {
            debug!(target: LOG_TARGET, "{} token(s) pushed less than {}s ago", state.tokens.len() - due.len(), self.config.debounce_secs);
        }
        if (changed || !due.is_empty())
            && let Err(e) = tokens::store(host, user, &state)
        {
            error!(target: LOG_TARGET, "Token set of {} not saved: {e}", user.username);
        }
        for token in due {
            let item = OutboxItem::new(
                NAME,
                user.username.clone(),
                Payload::Http(HttpRequest {
                    method: "POST".to_owned(),
                    url: self.config.url.clone(),
                    headers: Vec::new(),
                    body: token.into_bytes(),
                    max_attempts: self.config.max_retries.saturating_add(1),
                    timeout_msecs: u64::from(self.config.timeout_msecs),
                    signing: None,
                }),
            );
            // The token itself is not logged: it identifies the device.
            debug!(target: LOG_TARGET, "Queueing {} for {} to {}", item.event_id, user.username, pn_config::mask_url_secrets(&self.config.url));
            if let Err(e) = ctx.outbox.enqueue(item) {
                error!(target: LOG_TARGET, "Could not queue a device push: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &str) -> Result<DeviceTokenConfig, ConfigError> {
        DeviceTokenConfig::from_spec(&pn_config::parse_driver_value(
            "push_notification_driver2",
            &format!("devicetoken:{args}"),
        ))
    }

    #[test]
    fn arguments() {
        let c = parse("url=https://notifications.delta.chat/notify").expect("config");
        assert_eq!(
            (c.debounce_secs, c.max_retries, c.timeout_msecs),
            (5, 3, 60_000)
        );
        assert_eq!(
            parse("").expect_err("no url"),
            ConfigError::Missing("argument url")
        );
        assert!(parse("url=ftp://x").is_err());
        assert!(
            parse("url=https://h/ debounce=x")
                .expect_err("nan")
                .to_string()
                .contains("debounce")
        );
        let e = parse("url=https://h/ tokn=1")
            .expect_err("typo")
            .to_string();
        assert!(e.contains("\"tokn\""), "{e}");
    }
}
