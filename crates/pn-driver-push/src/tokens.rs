//! The device tokens of one user, kept by pn.
//!
//! Clients store their token with `SETMETADATA "" (/private/devicetoken "<token>")`. Dovecot's
//! dictionary (and pn's own store) keeps only the last value, so one device overwrites the
//! other's token. pn therefore merges that value into a set of its own, like chatmail's
//! relay keeps a set: server METADATA `/private/vendor/vendor.pn/devicetokens`, a JSON
//! document `{"seen": "<last merged value>", "tokens": {"<token>": {"set": T, "pushed": T}}}`
//! (Unix seconds). A token is "set" when the value it appears in is first seen; a value seen
//! again unchanged does not refresh it (the dictionary does not record re-sets).

use std::collections::BTreeMap;

use pn_core::{AttributeType, HostError, MailboxHost, UserInfo};
use serde::{Deserialize, Serialize};

/// The entry clients write (relative to `/private/`, server metadata).
pub const DEVICETOKEN_KEY: &str = "devicetoken";

/// pn's token set (relative to `/private/`, server metadata).
pub const STATE_KEY: &str = "vendor/vendor.pn/devicetokens";

/// Tokens older than this are dropped (chatmail's 90 days).
pub const MAX_AGE_SECS: u64 = 90 * 24 * 3600;

/// Tokens "set" further than this in the future are invalid (chatmail's rule).
const FUTURE_SLACK_SECS: u64 = 60;

/// One token's times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TokenTimes {
    /// When the token was (last seen being) set, Unix seconds.
    pub set: u64,
    /// When it was last pushed to, Unix seconds (0: never).
    #[serde(default)]
    pub pushed: u64,
}

/// The user's token set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TokenState {
    /// The `/private/devicetoken` value last merged.
    #[serde(default)]
    pub seen: String,
    /// Token → times.
    #[serde(default)]
    pub tokens: BTreeMap<String, TokenTimes>,
}

/// The tokens in a `/private/devicetoken` value: chatmail answers lookups with its tokens
/// joined by spaces, so whitespace separates several.
pub fn split_tokens(value: &str) -> impl Iterator<Item = &str> {
    value.split_ascii_whitespace()
}

impl TokenState {
    /// Parses the stored document; an unreadable one starts afresh (the tokens come back with
    /// the client's next SETMETADATA) rather than silencing the user.
    pub fn parse(value: &[u8]) -> TokenState {
        serde_json::from_slice(value).unwrap_or_default()
    }

    /// The stored form.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Merges the current `/private/devicetoken` value; returns whether anything changed.
    pub fn merge(&mut self, current: &str, now: u64) -> bool {
        if current == self.seen {
            return false;
        }
        for token in split_tokens(current) {
            self.tokens.entry(token.to_owned()).or_default().set = now;
        }
        self.seen = current.to_owned();
        true
    }

    /// Drops tokens older than 90 days or set in the future; returns how many.
    pub fn expire(&mut self, now: u64) -> usize {
        let before = self.tokens.len();
        self.tokens.retain(|_, t| {
            t.set.saturating_add(MAX_AGE_SECS) > now
                && t.set < now.saturating_add(FUTURE_SLACK_SECS)
        });
        before - self.tokens.len()
    }

    /// The tokens to push to now — at most one push per token per `debounce` seconds — marked
    /// as pushed. A clock that went backwards allows a push.
    pub fn due(&mut self, now: u64, debounce: u32) -> Vec<String> {
        let mut due = Vec::new();
        for (token, t) in &mut self.tokens {
            if t.pushed == 0 || now < t.pushed || now - t.pushed >= u64::from(debounce) {
                t.pushed = now;
                due.push(token.clone());
            }
        }
        due
    }

    /// Removes `token`; returns whether it was there.
    pub fn remove(&mut self, token: &str) -> bool {
        self.tokens.remove(token).is_some()
    }
}

/// Reads the user's token set.
pub fn load(host: &dyn MailboxHost, user: &UserInfo) -> Result<TokenState, HostError> {
    let value = host.attribute_get_typed(user, "", AttributeType::Private, STATE_KEY)?;
    Ok(value.map(|v| TokenState::parse(&v)).unwrap_or_default())
}

/// Stores the user's token set.
pub fn store(host: &dyn MailboxHost, user: &UserInfo, state: &TokenState) -> Result<(), HostError> {
    host.attribute_set(
        user,
        "",
        AttributeType::Private,
        STATE_KEY,
        Some(state.encode().as_bytes()),
    )
}

/// The client's current `/private/devicetoken` value (`""` when unset).
pub fn current(host: &dyn MailboxHost, user: &UserInfo) -> Result<String, HostError> {
    let value = host.attribute_get_typed(user, "", AttributeType::Private, DEVICETOKEN_KEY)?;
    Ok(value
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_several_tokens_expires_and_debounces() {
        let mut s = TokenState::default();
        assert!(s.merge("tok-a", 1000));
        assert!(!s.merge("tok-a", 2000), "unchanged value: no refresh");
        assert!(s.merge("tok-b tok-c", 3000));
        assert_eq!(s.tokens.len(), 3, "an overwritten token stays");
        assert_eq!(s.tokens["tok-a"].set, 1000);
        assert_eq!(s.due(5000, 5), ["tok-a", "tok-b", "tok-c"]);
        assert!(s.due(5003, 5).is_empty(), "debounced");
        assert_eq!(s.due(5005, 5).len(), 3);
        assert_eq!(s.due(4000, 5).len(), 3, "clock went backwards");
        assert_eq!(s.expire(1000 + MAX_AGE_SECS), 1, "tok-a is 90 days old");
        assert!(!s.tokens.contains_key("tok-a"));
        s.tokens.insert(
            "future".into(),
            TokenTimes {
                set: 9_999_999,
                pushed: 0,
            },
        );
        assert_eq!(s.expire(5000), 1);
        assert!(s.remove("tok-b") && !s.remove("tok-b"));
        assert_eq!(TokenState::parse(s.encode().as_bytes()), s);
        assert_eq!(TokenState::parse(b"{"), TokenState::default());
    }
}
