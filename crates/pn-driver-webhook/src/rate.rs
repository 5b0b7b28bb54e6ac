//! `rate=N`: at most one push per user per N seconds. Events in between are not sent but
//! counted; the next push carries the count in `coalesced` (standard) or `(+N more)` (ntfy,
//! Gotify). The state lives in the user's server METADATA, because pn's one-shot commands
//! (`pn deliver`) are one process per delivery.

use pn_core::{AttributeType, HostError, MailboxHost, UserInfo};

/// The state's entry under `/private/`, followed by the driver's setting name.
pub const STATE_KEY_PREFIX: &str = "vendor/vendor.pn/webhook-rate/";

/// When the user was last pushed to and how many events were held back since.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateState {
    /// Unix seconds of the last push (0: never).
    pub last_push: u64,
    /// Events held back since then.
    pub pending: u64,
}

impl RateState {
    /// Parses `"<last_push> <pending>"`; anything else is a fresh state.
    pub fn parse(value: &[u8]) -> RateState {
        let text = String::from_utf8_lossy(value);
        let mut parts = text.split_ascii_whitespace().map(str::parse::<u64>);
        match (parts.next(), parts.next()) {
            (Some(Ok(last_push)), Some(Ok(pending))) => RateState { last_push, pending },
            _ => RateState::default(),
        }
    }

    /// The stored form.
    pub fn encode(&self) -> String {
        format!("{} {}", self.last_push, self.pending)
    }

    /// Decides one event at `now`: `Some(coalesced)` when it is pushed (carrying the count of
    /// events held back before it), `None` when it is held back and counted. A clock that went
    /// backwards allows a push rather than silencing the user until it catches up.
    pub fn decide(&mut self, now: u64, rate_secs: u32) -> Option<u64> {
        let due = self.last_push == 0
            || now < self.last_push
            || now - self.last_push >= u64::from(rate_secs);
        if due {
            let coalesced = self.pending;
            *self = RateState {
                last_push: now,
                pending: 0,
            };
            Some(coalesced)
        } else {
            self.pending += 1;
            None
        }
    }
}

/// Reads the state of driver setting `key` for `user`.
pub fn load(host: &dyn MailboxHost, user: &UserInfo, key: &str) -> Result<RateState, HostError> {
    let value = host.attribute_get_typed(
        user,
        "",
        AttributeType::Private,
        &format!("{STATE_KEY_PREFIX}{key}"),
    )?;
    Ok(value.map(|v| RateState::parse(&v)).unwrap_or_default())
}

/// Stores the state.
pub fn store(
    host: &dyn MailboxHost,
    user: &UserInfo,
    key: &str,
    state: &RateState,
) -> Result<(), HostError> {
    host.attribute_set(
        user,
        "",
        AttributeType::Private,
        &format!("{STATE_KEY_PREFIX}{key}"),
        Some(state.encode().as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_back_and_counts() {
        let mut s = RateState::default();
        assert_eq!(s.decide(1000, 60), Some(0));
        assert_eq!(s.decide(1010, 60), None);
        assert_eq!(s.decide(1059, 60), None);
        assert_eq!(
            s,
            RateState {
                last_push: 1000,
                pending: 2
            }
        );
        assert_eq!(RateState::parse(s.encode().as_bytes()), s);
        assert_eq!(
            s.decide(1060, 60),
            Some(2),
            "the next push carries the count"
        );
        assert_eq!(s.decide(1061, 60), None);
        assert_eq!(s.decide(900, 60), Some(1), "clock went backwards");
        assert_eq!(RateState::parse(b"garbage"), RateState::default());
    }
}
