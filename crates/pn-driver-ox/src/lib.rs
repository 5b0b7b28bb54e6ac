//! The `ox` push-notification driver: Dovecot 2.3's HTTP push to OX App Suite-style
//! endpoints, with the same configuration, the same per-user enablement and the same requests.
//!
//! ```text
//! push_notification_driver = ox:url=https://login:pass@ox.example.com/preliminary/http-notify/v1/notify user_from_metadata
//! ```
//!
//! * [`init`] parses the arguments ([`OxConfig`], spec §5.1).
//! * `begin_txn` reads the user's server METADATA entry
//!   `/private/vendor/vendor.dovecot/http-notify` through [`pn_core::MailboxHost::attribute_get`]
//!   ([`METADATA_KEY`], cached for `cache_lifetime`), takes part only in transactions on the
//!   mailbox named exactly `INBOX` of users whose entry has a `user=`, and subscribes to
//!   `MessageNew` with From, Subject and Snippet (spec §5.2, §5.3).
//! * `process_msg` reads the mailbox's unseen count, builds the body ([`payload`]) and puts a
//!   `PUT` into the outbox (spec §5.4). The request is sent by the dispatcher (`pn-dispatch`),
//!   never from inside the mail transaction.
//!
//! Log lines are Dovecot's texts under the target [`LOG_TARGET`] (`push-notification-ox`);
//! URLs are logged with the password masked.

mod config;
mod metadata;
pub mod payload;

use std::sync::Arc;
use std::time::Duration;

use pn_core::{
    Driver, DriverInitCtx, DriverInitError, DriverTxn, EventConfig, HttpRequest, OutboxItem,
    Payload, ProcessCtx, Subscriptions, TxnInfo,
};
use pn_event::{EventName, MessageFields, MessageTxnData};
use tracing::{debug, error};

pub use config::{
    DEFAULT_CACHE_LIFETIME_SECS, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_MSECS,
    LIB_HTTP_DEFAULT_TIMEOUT_MSECS, OxConfig,
};
pub use metadata::{METADATA_KEY, user_from_value};

/// The name the driver is registered under.
pub const NAME: &str = "ox";

/// `tracing` target of the driver's lines (Dovecot's `push-notification-ox: ` prefix).
pub const LOG_TARGET: &str = "push-notification-ox";

/// The only mailbox ox watches (Dovecot's fixed `{"INBOX"}`).
pub const WATCHED_MAILBOX: &str = "INBOX";

/// The header the driver adds to each request (lib-http adds the rest).
pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// The fields ox asks for: `HDR_FROM | HDR_SUBJECT | BODY_SNIPPET`.
pub fn message_fields() -> MessageFields {
    MessageFields::FROM | MessageFields::SUBJECT | MessageFields::SNIPPET
}

/// Creates the driver for one user (Dovecot's `push_notification_driver_ox_init`). The error
/// texts are Dovecot's; the engine logs them as `ox: <text>`.
pub fn init(ctx: &DriverInitCtx<'_>) -> Result<Box<dyn Driver>, DriverInitError> {
    let config = OxConfig::from_spec(ctx.spec).map_err(DriverInitError)?;
    Ok(Box::new(Ox::new(config)))
}

/// The ox driver for one user.
#[derive(Debug)]
pub struct Ox {
    config: Arc<OxConfig>,
    cache: metadata::MetadataCache,
}

impl Ox {
    /// A driver with this configuration.
    pub fn new(config: OxConfig) -> Ox {
        Ox {
            config: Arc::new(config),
            cache: metadata::MetadataCache::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &OxConfig {
        &self.config
    }

    /// The metadata value, from the cache or the store; `None` (logged) when the user is not
    /// enabled or the lookup failed.
    fn metadata(&self, txn: &TxnInfo<'_>) -> Option<Vec<u8>> {
        let lifetime = Duration::from_secs(u64::from(self.config.cache_lifetime_secs));
        if let Some(value) = self.cache.get(&txn.user.username, lifetime) {
            return Some(value);
        }
        match txn.host.attribute_get(txn.user, "", METADATA_KEY) {
            Err(e) => {
                error!(target: LOG_TARGET, "Skipped because unable to get attribute: {e}");
                None
            }
            Ok(None) => {
                debug!(
                    target: LOG_TARGET,
                    "Skipped because not active (/private/{METADATA_KEY} METADATA not set)"
                );
                None
            }
            Ok(Some(value)) => {
                self.cache.put(&txn.user.username, value.clone());
                Some(value)
            }
        }
    }
}

impl Driver for Ox {
    fn begin_txn(&self, txn: &TxnInfo<'_>, subs: &mut Subscriptions) -> Option<Box<dyn DriverTxn>> {
        let value = self.metadata(txn)?;
        if txn.mailbox != WATCHED_MAILBOX {
            debug!(target: LOG_TARGET, "Skipped because {} is not a watched mailbox", txn.mailbox);
            return None;
        }
        let Some(user) = user_from_value(&value) else {
            error!(target: LOG_TARGET, "No user provided in config");
            return None;
        };
        debug!(target: LOG_TARGET, "User ({})", String::from_utf8_lossy(&user));
        subs.subscribe(EventName::MessageNew, EventConfig::fields(message_fields()));
        debug!(target: LOG_TARGET, "Handling MessageNew event");
        Some(Box::new(OxTxn {
            config: self.config.clone(),
            metadata_user: user,
        }))
    }
}

/// ox's part in one transaction: the `user=` of the metadata.
struct OxTxn {
    config: Arc<OxConfig>,
    metadata_user: Vec<u8>,
}

impl DriverTxn for OxTxn {
    fn process_msg(&mut self, ctx: &ProcessCtx<'_>, msg: &MessageTxnData) {
        // Always first, even without MessageNew data (Dovecot syncs the mailbox either way).
        let unseen = match ctx.host.status(ctx.user, &msg.mailbox) {
            Ok(status) => {
                debug!(
                    target: LOG_TARGET,
                    "Got status of mailbox '{}': (unseen: {})", msg.mailbox, status.unseen
                );
                Some(status.unseen)
            }
            Err(e) => {
                error!(target: LOG_TARGET, "mailbox_sync({}) failed: {e}", msg.mailbox);
                None
            }
        };
        if !payload::has_message_new(msg) {
            return;
        }
        let user: &[u8] = if self.config.user_from_metadata {
            &self.metadata_user
        } else {
            ctx.user.username.as_bytes()
        };
        let mut body = Vec::with_capacity(512);
        payload::write_message_new(&mut body, user, msg, unseen);
        debug!(target: LOG_TARGET, "Sending notification: {}", String::from_utf8_lossy(&body));
        let item = OutboxItem::new(
            NAME,
            ctx.user.username.clone(),
            Payload::Http(HttpRequest {
                method: "PUT".to_owned(),
                url: self.config.url.clone(),
                headers: vec![("Content-Type".to_owned(), CONTENT_TYPE.to_owned())],
                body,
                max_attempts: self.config.max_attempts(),
                timeout_msecs: u64::from(self.config.effective_timeout_msecs()),
                signing: None,
            }),
        );
        if let Err(e) = ctx.outbox.enqueue(item) {
            error!(target: LOG_TARGET, "Error when sending notification: {e}");
        }
    }
}
