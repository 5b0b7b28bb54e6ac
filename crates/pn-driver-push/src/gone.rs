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
