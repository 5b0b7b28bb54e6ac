//! The user's Web Push subscriptions: server METADATA `/private/vendor/vendor.pn/webpush`, a
//! JSON array of the objects browsers give for `PushSubscription.toJSON()`
//! (`{"endpoint": …, "expirationTime": null | ms, "keys": {"p256dh": …, "auth": …}}`); a
//! single such object is accepted too.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use pn_core::{AttributeType, HostError, MailboxHost, UserInfo};
use serde::{Deserialize, Serialize};

/// The entry, relative to `/private/` (server metadata).
pub const METADATA_KEY: &str = "vendor/vendor.pn/webpush";

/// One subscription's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keys {
    /// The user agent's P-256 public key, base64url.
    pub p256dh: String,
    /// The 16-byte authentication secret, base64url.
    pub auth: String,
}

/// One subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// The push resource URL.
    pub endpoint: String,
    /// When the subscription ends, milliseconds since the epoch (`null`: never).
    #[serde(rename = "expirationTime", default)]
    pub expiration_time: Option<u64>,
    /// The encryption keys.
    pub keys: Keys,
}

impl Subscription {
    /// Whether it has expired at `now_ms`.
    pub fn expired(&self, now_ms: u64) -> bool {
        self.expiration_time.is_some_and(|t| t <= now_ms)
    }

    /// The decoded `(p256dh, auth)`.
    pub fn key_bytes(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        let d = |s: &str| B64.decode(s.trim_end_matches('=')).ok();
        Some((d(&self.keys.p256dh)?, d(&self.keys.auth)?))
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Document {
    Many(Vec<Subscription>),
    One(Subscription),
}

/// Parses a METADATA value.
pub fn parse(value: &[u8]) -> Result<Vec<Subscription>, String> {
    match serde_json::from_slice(value) {
        Ok(Document::Many(v)) => Ok(v),
        Ok(Document::One(s)) => Ok(vec![s]),
        // serde's text could quote a key; say only where.
        Err(e) => Err(format!(
            "not a PushSubscription JSON array (line {} column {})",
            e.line(),
            e.column()
        )),
    }
}

/// The user's subscriptions (none when unset).
pub fn load(host: &dyn MailboxHost, user: &UserInfo) -> Result<Option<Vec<u8>>, HostError> {
    host.attribute_get_typed(user, "", AttributeType::Private, METADATA_KEY)
}

/// Stores `subs` (removes the entry when empty).
pub fn store(
    host: &dyn MailboxHost,
    user: &UserInfo,
    subs: &[Subscription],
) -> Result<(), HostError> {
    let value = (!subs.is_empty()).then(|| serde_json::to_string(subs).unwrap_or_default());
    host.attribute_set(
        user,
        "",
        AttributeType::Private,
        METADATA_KEY,
        value.as_deref().map(str::as_bytes),
    )
}

/// Removes the subscription with this endpoint; returns whether it was there.
pub fn remove(host: &dyn MailboxHost, user: &UserInfo, endpoint: &str) -> Result<bool, HostError> {
    let Some(value) = load(host, user)? else {
        return Ok(false);
    };
    let Ok(mut subs) = parse(&value) else {
        return Ok(false);
    };
    let before = subs.len();
    subs.retain(|s| s.endpoint != endpoint);
    if subs.len() == before {
        return Ok(false);
    }
    store(host, user, &subs)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_json() {
        let one = br#"{"endpoint":"https://p.example/x","expirationTime":null,"keys":{"p256dh":"BAAA","auth":"AAAA"}}"#;
        let subs = parse(one).expect("one");
        assert_eq!(subs.len(), 1);
        assert!(!subs[0].expired(u64::MAX));
        let many = br#"[{"endpoint":"https://p.example/x","expirationTime":1000,"keys":{"p256dh":"BAAA","auth":"AAAA"}}]"#;
        let subs = parse(many).expect("many");
        assert!(subs[0].expired(1000) && !subs[0].expired(999));
        assert!(parse(b"{\"endpoint\":1}").is_err());
    }
}
