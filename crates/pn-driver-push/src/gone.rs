//! What happens when a push service says a token or subscription no longer exists.
//!
//! The outbox's deliverer calls [`on_gone`] with the item and the user's mail store when the
//! final answer's status [`is_gone`]; this removes the token (from pn's token set) or the
//! subscription (from the user's METADATA). It is a plain function so any deliverer — the
//! one-shot drain of `pn deliver`, the LMTP server's dispatcher task, a persistent outbox —
//! can call it without knowing the drivers.

use pn_core::{HostError, MailboxHost, OutboxItem, Payload, UserInfo};

use crate::{devicetoken, tokens, webpush};

/// Whether an HTTP status means "this token or subscription is gone for good".
pub fn is_gone(status: Option<u16>) -> bool {
    matches!(status, Some(404 | 410))
}

/// Removes what `item` was pushed to from `user`'s METADATA. `Ok(true)` when something was
/// removed, `Ok(false)` when the item is not one of this crate's drivers' or was already
/// removed.
pub fn on_gone(
    host: &dyn MailboxHost,
    user: &UserInfo,
    item: &OutboxItem,
) -> Result<bool, HostError> {
    let Payload::Http(req) = &item.payload;
    if item.driver == devicetoken::NAME {
        let token = String::from_utf8_lossy(&req.body);
        let mut state = tokens::load(host, user)?;
        if !state.remove(&token) {
            return Ok(false);
        }
        tokens::store(host, user, &state)?;
        return Ok(true);
    }
    if item.driver == webpush::NAME {
        return webpush::subscription::remove(host, user, &req.url);
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use pn_core::{AttributeType, HttpRequest, MailboxStatus};

    use super::*;
    use crate::webpush::subscription;

    /// Server METADATA in memory: all a driver's feedback needs.
    #[derive(Default)]
    struct Attrs(Mutex<HashMap<String, Vec<u8>>>);

    impl MailboxHost for Attrs {
        fn status(&self, _: &UserInfo, _: &str) -> Result<MailboxStatus, HostError> {
            Ok(MailboxStatus::default())
        }
        fn attribute_get(
            &self,
            _: &UserInfo,
            _: &str,
            key: &str,
        ) -> Result<Option<Vec<u8>>, HostError> {
            Ok(self
                .0
                .lock()
                .map_err(|_| HostError::new("poisoned"))?
                .get(key)
                .cloned())
        }
        fn attribute_set(
            &self,
            _: &UserInfo,
            _: &str,
            _: AttributeType,
            key: &str,
            value: Option<&[u8]>,
        ) -> Result<(), HostError> {
            let mut map = self.0.lock().map_err(|_| HostError::new("poisoned"))?;
            match value {
                Some(v) => map.insert(key.to_owned(), v.to_vec()),
                None => map.remove(key),
            };
            Ok(())
        }
    }

    fn item(driver: &str, url: &str, body: &[u8]) -> OutboxItem {
        OutboxItem::new(
            driver,
            "alice",
            Payload::Http(HttpRequest {
                method: "POST".into(),
                url: url.into(),
                headers: Vec::new(),
                body: body.to_vec(),
                max_attempts: 1,
                timeout_msecs: 0,
                signing: None,
            }),
        )
    }

    #[test]
    fn removes_the_token_or_subscription_the_item_was_for() {
        let host = Attrs::default();
        let user = UserInfo::new("alice", "lmtp");
        let mut state = tokens::TokenState::default();
        state.merge("tok-a tok-b", 1);
        tokens::store(&host, &user, &state).expect("store");
        assert!(is_gone(Some(410)) && is_gone(Some(404)));
        assert!(!is_gone(Some(500)) && !is_gone(None) && !is_gone(Some(201)));

        let gone = item(devicetoken::NAME, "https://n/notify", b"tok-a");
        assert_eq!(on_gone(&host, &user, &gone), Ok(true));
        assert_eq!(on_gone(&host, &user, &gone), Ok(false), "already gone");
        let left = tokens::load(&host, &user).expect("load");
        assert_eq!(left.tokens.keys().collect::<Vec<_>>(), ["tok-b"]);

        let sub = |e: &str| subscription::Subscription {
            endpoint: e.into(),
            expiration_time: None,
            keys: subscription::Keys {
                p256dh: "BA".into(),
                auth: "AA".into(),
            },
        };
        subscription::store(&host, &user, &[sub("https://p/1"), sub("https://p/2")])
            .expect("store");
        let gone = item(webpush::NAME, "https://p/1", b"ciphertext");
        assert_eq!(on_gone(&host, &user, &gone), Ok(true));
        let value = subscription::load(&host, &user)
            .expect("load")
            .expect("some left");
        let left = subscription::parse(&value).expect("parse");
        assert_eq!(left, [sub("https://p/2")]);
        let last = item(webpush::NAME, "https://p/2", b"");
        assert_eq!(on_gone(&host, &user, &last), Ok(true));
        assert_eq!(
            subscription::load(&host, &user),
            Ok(None),
            "entry removed when empty"
        );
        assert_eq!(
            on_gone(&host, &user, &item("webhook", "https://p/2", b"")),
            Ok(false)
        );
    }
}
