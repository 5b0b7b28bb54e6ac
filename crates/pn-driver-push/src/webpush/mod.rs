//! The `webpush` driver: RFC 8030 Web Push to each subscription the user stored in METADATA
//! ([`subscription`]), when mail from someone else arrives in INBOX.
//!
//! ```text
//! push_notification_driver3 = webpush:subject=mailto:postmaster@example.com ttl=86400 urgency=high topic=unread
//! plugin { pn_webpush_vapid_private_key = …  pn_webpush_vapid_public_key = … }
//! ```
//!
//! The body is a small JSON document encrypted with RFC 8291 ([`ece`]); the request carries
//! `TTL`, `Urgency`, `Topic` (so the push service replaces a push the device has not fetched
//! yet by the newer one) and the RFC 8292 VAPID `Authorization` ([`vapid`]). Expired
//! subscriptions are dropped; `404`/`410` removes one through [`crate::gone::on_gone`].

pub mod ece;
pub mod subscription;
pub mod vapid;

use std::sync::Arc;

use pn_config::DriverSpec;
use pn_core::{
    Driver, DriverInitCtx, DriverInitError, DriverTxn, HttpRequest, OutboxItem, Payload,
    ProcessCtx, Subscriptions, TxnInfo,
};
use pn_event::{MailboxTxnData, MessageTxnData};
use tracing::{debug, error, warn};

use crate::args::{self, ConfigError};
use crate::{incoming, now_unix};

/// The name the driver is registered under.
pub const NAME: &str = "webpush";

/// `tracing` target of the driver's lines.
pub const LOG_TARGET: &str = "pn_driver_push::webpush";

/// Plugin setting: the VAPID private key (base64url), from `pn webpush keygen`.
pub const PRIVATE_KEY_SETTING: &str = "pn_webpush_vapid_private_key";
/// Plugin setting: the VAPID public key (base64url), from `pn webpush keygen`.
pub const PUBLIC_KEY_SETTING: &str = "pn_webpush_vapid_public_key";
/// Plugin setting: `yes` lets subscriptions use `http://` endpoints (local push services,
/// tests); push services use `https://`.
pub const ALLOW_HTTP_SETTING: &str = "pn_webpush_allow_http";

const KNOWN_ARGS: &[&str] = &[
    "subject",
    "ttl",
    "urgency",
    "topic",
    "max_retries",
    "timeout_msecs",
];

/// How long a VAPID token is valid (RFC 8292 allows up to 24 hours); it is made when the
/// push is queued, so it must outlast the retries.
const JWT_LIFETIME_SECS: u64 = 12 * 3600;

/// The driver's settings.
#[derive(Debug)]
pub struct WebPushConfig {
    /// The VAPID `sub` claim (`mailto:` or `https:` contact).
    pub subject: Option<String>,
    /// Seconds the push service keeps an undelivered push.
    pub ttl: u32,
    /// `very-low`, `low`, `normal` or `high`.
    pub urgency: String,
    /// The `Topic` (at most 32 URL-safe base64 characters).
    pub topic: String,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Time per attempt, milliseconds.
    pub timeout_msecs: u32,
    /// The VAPID key pair.
    pub key: vapid::VapidKey,
    /// Whether `http://` endpoints are allowed.
    pub allow_http: bool,
}

impl WebPushConfig {
    /// Reads the arguments of a `webpush:` line and the VAPID keys from `setting`.
    pub fn from_spec(
        spec: &DriverSpec,
        setting: &dyn Fn(&str) -> Option<String>,
    ) -> Result<WebPushConfig, ConfigError> {
        let a = &spec.args;
        args::check_known(a, KNOWN_ARGS)?;
        let urgency = a.get("urgency").unwrap_or("normal").to_owned();
        if !["very-low", "low", "normal", "high"].contains(&urgency.as_str()) {
            return Err(ConfigError::Invalid {
                key: "urgency",
                reason: "one of very-low, low, normal, high (RFC 8030 §5.3)".to_owned(),
            });
        }
        let topic = a.get("topic").unwrap_or("unread").to_owned();
        if topic.is_empty()
            || topic.len() > 32
            || !topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ConfigError::Invalid {
                key: "topic",
                reason: "1 to 32 URL-safe base64 characters (RFC 8030 §5.4)".to_owned(),
            });
        }
        let ttl = args::number(a, "ttl", 86_400)?;
        let max_retries = args::number(a, "max_retries", 3)?;
        let timeout_msecs = args::number(a, "timeout_msecs", 30_000)?;
        let private = setting(PRIVATE_KEY_SETTING).ok_or(ConfigError::Missing(
            "setting pn_webpush_vapid_private_key (make one with pn webpush keygen)",
        ))?;
        let public = setting(PUBLIC_KEY_SETTING).ok_or(ConfigError::Missing(
            "setting pn_webpush_vapid_public_key (make one with pn webpush keygen)",
        ))?;
        let key = vapid::VapidKey::from_base64url(&private, &public).map_err(|e| {
            ConfigError::Invalid {
                key: "pn_webpush_vapid_private_key",
                reason: e.to_string(),
            }
        })?;
        Ok(WebPushConfig {
            subject: a.get("subject").map(str::to_owned),
            ttl,
            urgency,
            topic,
            max_retries,
            timeout_msecs,
            key,
            allow_http: setting(ALLOW_HTTP_SETTING).is_some_and(|v| v == "yes"),
        })
    }
}

/// Creates the driver for one user.
pub fn init(ctx: &DriverInitCtx<'_>) -> Result<Box<dyn Driver>, DriverInitError> {
    let config = WebPushConfig::from_spec(ctx.spec, &|k| ctx.env.get(k))
        .map_err(|e| DriverInitError(e.to_string()))?;
    Ok(Box::new(WebPush {
        config: Arc::new(config),
    }))
}

/// The driver for one user.
#[derive(Debug)]
pub struct WebPush {
    config: Arc<WebPushConfig>,
}

impl Driver for WebPush {
    fn begin_txn(&self, txn: &TxnInfo<'_>, subs: &mut Subscriptions) -> Option<Box<dyn DriverTxn>> {
        if !incoming::wanted(txn) {
            return None;
        }
        incoming::subscribe(subs);
        Some(Box::new(WebPushTxn {
            config: Arc::clone(&self.config),
            incoming: 0,
            last_uid: 0,
        }))
    }
}

struct WebPushTxn {
    config: Arc<WebPushConfig>,
    incoming: u32,
    last_uid: u32,
}

impl DriverTxn for WebPushTxn {
    fn process_mbox(&mut self, _ctx: &ProcessCtx<'_>, _mbox: &MailboxTxnData) {}

    fn process_msg(&mut self, ctx: &ProcessCtx<'_>, msg: &MessageTxnData) {
        if incoming::is_incoming(&ctx.user.username, msg) {
            self.incoming += 1;
            self.last_uid = self.last_uid.max(msg.uid);
        }
    }

    fn end_txn(&mut self, ctx: &ProcessCtx<'_>, success: bool) {
        if !success || self.incoming == 0 {
            return;
        }
        let (host, user) = (ctx.host, ctx.user);
        let subs = match subscription::load(host, user) {
            Ok(Some(v)) => match subscription::parse(&v) {
                Ok(s) => s,
                Err(e) => {
                    warn!(target: LOG_TARGET, "Ignoring /private/{} of {}: {e}", subscription::METADATA_KEY, user.username);
                    return;
                }
            },
            Ok(None) => return,
            Err(e) => {
                error!(target: LOG_TARGET, "Unable to read /private/{}: {e}", subscription::METADATA_KEY);
                return;
            }
        };
        let now = now_unix();
        let (live, expired): (Vec<_>, Vec<_>) = subs
            .into_iter()
            .partition(|s| !s.expired(now.saturating_mul(1000)));
        if !expired.is_empty() {
            debug!(target: LOG_TARGET, "Dropping {} expired subscription(s) of {}", expired.len(), user.username);
            if let Err(e) = subscription::store(host, user, &live) {
                error!(target: LOG_TARGET, "Subscriptions of {} not saved: {e}", user.username);
            }
        }
        let unseen = host.status(user, "INBOX").ok().map(|s| s.unseen);
        let payload = serde_json::json!({
            "type": "mail.message.new",
            "user": user.username,
            "mailbox": "INBOX",
            "uid": self.last_uid,
            "messages": self.incoming,
            "unseen": unseen,
        })
        .to_string();
        let rng = ring::rand::SystemRandom::new();
        for sub in &live {
            if let Err(e) = self.enqueue(ctx, sub, payload.as_bytes(), now, &rng) {
                warn!(target: LOG_TARGET, "Not pushing to a subscription of {}: {e}", user.username);
            }
        }
    }
}

impl WebPushTxn {
    fn enqueue(
        &self,
        ctx: &ProcessCtx<'_>,
        sub: &subscription::Subscription,
        payload: &[u8],
        now: u64,
        rng: &ring::rand::SystemRandom,
    ) -> Result<(), String> {
        let c = &self.config;
        let allowed = sub.endpoint.starts_with("https://")
            || (c.allow_http && sub.endpoint.starts_with("http://"));
        if !allowed {
            return Err(format!(
                "endpoint is not https:// (set {ALLOW_HTTP_SETTING} = yes to allow http://)"
            ));
        }
        let (p256dh, auth) = sub.key_bytes().ok_or("keys are not URL-safe base64")?;
        let body = ece::encrypt(payload, &p256dh, &auth, rng).map_err(|e| e.to_string())?;
        let authorization = c
            .key
            .authorization(&sub.endpoint, c.subject.as_deref(), now + JWT_LIFETIME_SECS)
            .map_err(|e| e.to_string())?;
        let headers = vec![
            (
                "Content-Type".to_owned(),
                "application/octet-stream".to_owned(),
            ),
            ("Content-Encoding".to_owned(), "aes128gcm".to_owned()),
            ("TTL".to_owned(), c.ttl.to_string()),
            ("Urgency".to_owned(), c.urgency.clone()),
            ("Topic".to_owned(), c.topic.clone()),
            ("Authorization".to_owned(), authorization),
        ];
        let item = OutboxItem::new(
            NAME,
            ctx.user.username.clone(),
            Payload::Http(HttpRequest {
                method: "POST".to_owned(),
                url: sub.endpoint.clone(),
                headers,
                body,
                max_attempts: c.max_retries.saturating_add(1),
                timeout_msecs: u64::from(c.timeout_msecs),
                signing: None,
            }),
        );
        debug!(target: LOG_TARGET, "Queueing {} for {} to {}", item.event_id, ctx.user.username, vapid::origin(&sub.endpoint).unwrap_or_default());
        ctx.outbox
            .enqueue(item)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
