//! The `webhook` push-notification driver: mail events to your own HTTP endpoints as
//! Standard Webhooks 1.0 (signed JSON), or to ntfy and Gotify, with filters, suppression,
//! rate coalescing and per-user subscriptions from METADATA.
//!
//! ```text
//! push_notification_driver2 = webhook:url=https://hooks.example.com/mail secret=whsec_… events=MessageNew,FlagsSet mailboxes=INBOX,Work
//! ```
//!
//! * [`init`] parses the arguments ([`WebhookConfig`]).
//! * `begin_txn` gathers the endpoints (the configured one and, with `metadata=yes`, the
//!   user's own from [`subscriptions::METADATA_KEY`], refused on internal addresses unless
//!   `pn_webhook_allow_private = yes`), drops Junk/Trash transactions when asked (by name
//!   or SPECIAL-USE, [`special_use`]) and subscribes to the union of the endpoints' events.
//! * `process_*` collect [`event::Event`]s; `end_txn` applies the rate limit ([`rate`]) and
//!   enqueues one request per event and endpoint. Signing is the dispatcher's
//!   ([`pn_core::Signing::StandardWebhooks`]), per attempt.
//!
//! Secrets and tokens are never logged: they travel only in the outbox item, whose `Debug`
//! masks them. See docs/webhook.md.

pub mod automated;
pub mod config;
pub mod event;
pub mod filter;
pub mod payload;
pub mod rate;
pub mod special_use;
pub mod ssrf;
pub mod subscriptions;

use std::collections::BTreeMap;
use std::sync::Arc;

use pn_core::{
    Driver, DriverInitCtx, DriverInitError, DriverTxn, EventConfig, HttpRequest, OutboxItem,
    Payload, ProcessCtx, Signing, Subscriptions, TxnInfo, TxnKind,
};
use pn_event::{EventData, EventName, MailboxTxnData, MessageFields, MessageTxnData};
use tracing::{debug, error, warn};

pub use config::{ConfigError, Endpoint, Format, WebhookConfig};

use crate::event::Event;

/// The name the driver is registered under.
pub const NAME: &str = "webhook";

/// `tracing` target of the driver's lines.
pub const LOG_TARGET: &str = "pn_driver_webhook";

/// The header fields every body may need, the snippet when an endpoint wants it and the
/// `Auto-Submitted` / `Precedence` headers only for `suppress=auto`.
fn message_fields(snippet: bool, automated: bool) -> MessageFields {
    let mut f = MessageFields::FROM
        | MessageFields::TO
        | MessageFields::SUBJECT
        | MessageFields::DATE
        | MessageFields::FLAGS
        | MessageFields::KEYWORDS
        | MessageFields::MESSAGE_ID;
    if snippet {
        f |= MessageFields::SNIPPET;
    }
    if automated {
        f |= MessageFields::AUTOMATED;
    }
    f
}

/// Creates the driver for one user.
pub fn init(ctx: &DriverInitCtx<'_>) -> Result<Box<dyn Driver>, DriverInitError> {
    let config = WebhookConfig::from_spec(ctx.spec).map_err(|e| DriverInitError(e.to_string()))?;
    let allow_private = ctx
        .env
        .get(subscriptions::ALLOW_PRIVATE_SETTING)
        .is_some_and(|v| v == "yes");
    let junk_mailboxes = ctx
        .env
        .get(special_use::SETTING)
        .map(|v| special_use::junk_or_trash(&v))
        .unwrap_or_default();
    Ok(Box::new(Webhook {
        config: Arc::new(config),
        allow_private,
        junk_mailboxes,
    }))
}

/// The webhook driver for one user.
#[derive(Debug)]
pub struct Webhook {
    config: Arc<WebhookConfig>,
    allow_private: bool,
    /// Mailboxes flagged `\Junk` or `\Trash` (SPECIAL-USE), whatever their names.
    junk_mailboxes: Vec<String>,
}

impl Webhook {
    /// A driver with this configuration.
    pub fn new(config: WebhookConfig, allow_private: bool) -> Webhook {
        Webhook {
            config: Arc::new(config),
            allow_private,
            junk_mailboxes: Vec::new(),
        }
    }

    /// The same driver, also treating these mailboxes as Junk or Trash (their SPECIAL-USE).
    pub fn with_junk_mailboxes(mut self, names: Vec<String>) -> Webhook {
        self.junk_mailboxes = names;
        self
    }

    /// Whether `mailbox` is a Junk or Trash folder, by name or by SPECIAL-USE.
    pub fn is_junk_or_trash(&self, mailbox: &str) -> bool {
        filter::is_junk_or_trash(mailbox) || self.junk_mailboxes.iter().any(|m| m == mailbox)
    }

    fn endpoints(&self, txn: &TxnInfo<'_>) -> Vec<Arc<Endpoint>> {
        let mut endpoints: Vec<Arc<Endpoint>> =
            self.config.endpoint.iter().cloned().map(Arc::new).collect();
        if !self.config.metadata {
            return endpoints;
        }
        let key = subscriptions::METADATA_KEY;
        match txn.host.attribute_get(txn.user, "", key) {
            Ok(None) => debug!(target: LOG_TARGET, "No /private/{key} METADATA"),
            Err(e) => error!(target: LOG_TARGET, "Unable to read /private/{key}: {e}"),
            Ok(Some(value)) => match subscriptions::parse(&value, self.allow_private) {
                Ok(own) => endpoints.extend(own.into_iter().map(Arc::new)),
                Err(e) => warn!(
                    target: LOG_TARGET,
                    "Ignoring /private/{key} of {}: {e}", txn.user.username
                ),
            },
        }
        endpoints
    }
}

impl Driver for Webhook {
    fn begin_txn(&self, txn: &TxnInfo<'_>, subs: &mut Subscriptions) -> Option<Box<dyn DriverTxn>> {
        if txn.kind == TxnKind::Mail
            && self.config.suppress.junk
            && self.is_junk_or_trash(txn.mailbox)
        {
            debug!(target: LOG_TARGET, "Skipped: {} is a Junk or Trash folder", txn.mailbox);
            return None;
        }
        let mut endpoints = self.endpoints(txn);
        endpoints.retain(|e| e.filter.mailbox_matches(txn.mailbox));
        if endpoints.is_empty() {
            return None;
        }
        let snippet = endpoints.iter().any(|e| e.snippet);
        for name in EventName::ALL {
            if !endpoints.iter().any(|e| e.filter.events.contains(&name)) {
                continue;
            }
            let config = match name {
                EventName::MessageNew | EventName::MessageAppend => {
                    EventConfig::fields(message_fields(snippet, self.config.suppress.auto))
                }
                EventName::FlagsClear => EventConfig::store_old(),
                _ => EventConfig::default(),
            };
            subs.subscribe(name, config);
        }
        Some(Box::new(WebhookTxn {
            config: Arc::clone(&self.config),
            endpoints,
            events: Vec::new(),
        }))
    }
}

/// The driver's part in one transaction.
struct WebhookTxn {
    config: Arc<WebhookConfig>,
    endpoints: Vec<Arc<Endpoint>>,
    events: Vec<Event>,
}

impl DriverTxn for WebhookTxn {
    fn process_mbox(&mut self, _ctx: &ProcessCtx<'_>, mbox: &MailboxTxnData) {
        self.events.extend(event::mailbox_events(mbox));
    }

    fn process_msg(&mut self, ctx: &ProcessCtx<'_>, msg: &MessageTxnData) {
        let suppress = self.config.suppress;
        let user = ctx.user.username.as_str();
        let held = |e: &EventData| match e {
            EventData::MessageNew(d) | EventData::MessageAppend(d) => {
                suppress.message_reason(user, d)
            }
            _ => None,
        };
        if let Some(reason) = msg.events.iter().find_map(held) {
            debug!(target: LOG_TARGET, "Not pushing UID {} of {}: {reason}", msg.uid, msg.mailbox);
            let mut kept = msg.clone();
            kept.events.retain(|e| held(e).is_none());
            event::add_message(&mut self.events, &kept);
        } else {
            event::add_message(&mut self.events, msg);
        }
    }

    fn end_txn(&mut self, ctx: &ProcessCtx<'_>, success: bool) {
        if !success || self.events.is_empty() {
            return;
        }
        let mut unseen: BTreeMap<String, Option<u32>> = BTreeMap::new();
        for e in self.events.iter_mut().filter(|e| e.is_message_event()) {
            let n = unseen.entry(e.mailbox.clone()).or_insert_with(|| {
                ctx.host
                    .status(ctx.user, &e.mailbox)
                    .map_err(|err| error!(target: LOG_TARGET, "Status of {}: {err}", e.mailbox))
                    .ok()
                    .map(|s| s.unseen)
            });
            e.unseen = *n;
        }
        let now = time::OffsetDateTime::now_utc();
        let timestamp = now
            .replace_nanosecond(0)
            .unwrap_or(now)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let unix = u64::try_from(now.unix_timestamp()).unwrap_or(0);
        let rate = self.config.rate_secs;
        let mut state = (rate > 0).then(|| {
            rate::load(ctx.host, ctx.user, &self.config.key)
                .map_err(|e| warn!(target: LOG_TARGET, "Rate state unreadable, not limiting: {e}"))
                .ok()
        });
        for e in &self.events {
            let targets: Vec<&Arc<Endpoint>> = self
                .endpoints
                .iter()
                .filter(|ep| ep.filter.matches(e.name, &e.mailbox))
                .collect();
            if targets.is_empty() {
                continue;
            }
            let coalesced = match &mut state {
                Some(Some(s)) => match s.decide(unix, rate) {
                    Some(c) => c,
                    None => {
                        debug!(target: LOG_TARGET, "Rate limit: {} held back ({} pending)", e.name, s.pending);
                        continue;
                    }
                },
                _ => 0,
            };
            for ep in targets {
                let pctx = payload::Context {
                    user: &ctx.user.username,
                    coalesced,
                    snippet: ep.snippet,
                    timestamp: &timestamp,
                };
                enqueue(ctx, &self.config, ep, e, &pctx);
            }
        }
        if let Some(Some(s)) = &state
            && let Err(e) = rate::store(ctx.host, ctx.user, &self.config.key, s)
        {
            error!(target: LOG_TARGET, "Rate state not saved: {e}");
        }
    }
}

fn enqueue(
    ctx: &ProcessCtx<'_>,
    config: &WebhookConfig,
    ep: &Endpoint,
    e: &Event,
    pctx: &payload::Context<'_>,
) {
    let json = ("Content-Type".to_owned(), "application/json".to_owned());
    let (url, headers, body, signing) = match ep.format {
        Format::Standard => (
            ep.url.clone(),
            vec![json],
            payload::standard(e, pctx),
            (!ep.secrets.is_empty()).then(|| Signing::StandardWebhooks {
                secrets: ep.secrets.clone(),
            }),
        ),
        Format::Ntfy => {
            let mut headers = vec![json];
            if let Some(t) = &ep.token {
                headers.push(("Authorization".to_owned(), format!("Bearer {t}")));
            }
            let topic = ep.topic.as_deref().unwrap_or_default();
            (
                ep.url.clone(),
                headers,
                payload::ntfy(e, pctx, topic, ep.priority),
                None,
            )
        }
        Format::Gotify => {
            let mut headers = vec![json];
            if let Some(t) = &ep.token {
                headers.push(("X-Gotify-Key".to_owned(), t.clone()));
            }
            let url = format!("{}/message", ep.url.trim_end_matches('/'));
            (url, headers, payload::gotify(e, pctx, ep.priority), None)
        }
    };
    let mut item = OutboxItem::new(
        NAME,
        ctx.user.username.clone(),
        Payload::Http(HttpRequest {
            method: "POST".to_owned(),
            url,
            headers,
            body,
            max_attempts: config.max_retries.saturating_add(1),
            timeout_msecs: u64::from(config.timeout_msecs),
            signing,
        }),
    );
    // Unsigned standard requests still carry the id receivers de-duplicate on.
    if ep.format == Format::Standard && ep.secrets.is_empty() {
        let Payload::Http(req) = &mut item.payload;
        req.headers
            .push(("webhook-id".to_owned(), item.event_id.to_string()));
    }
    debug!(
        target: LOG_TARGET,
        "Queueing {} ({}) for {} to {}",
        payload::type_name(e.name),
        item.event_id,
        ctx.user.username,
        pn_config::mask_url_secrets(&ep.url)
    );
    if let Err(err) = ctx.outbox.enqueue(item) {
        error!(target: LOG_TARGET, "Could not queue {}: {err}", payload::type_name(e.name));
    }
}
