//! What happens after a send failed: the retry schedule, dead letters, endpoint health — and
//! the settings that tune them, in Dovecot's value syntax.

use std::time::Duration;

use crate::OutboxStoreError;

/// The outbox's rules, read from settings with [`Policy::from_settings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `pn_retry_schedule`: the delay before each retry; past the last one, the last is
    /// repeated until the item is too old.
    pub schedule: Vec<Duration>,
    /// `pn_retry_max_age`: an item older than this becomes a dead letter instead of being
    /// retried.
    pub max_age: Duration,
    /// `pn_retry_permanent_statuses`: HTTP statuses that make an item a dead letter at once.
    pub permanent: Vec<u16>,
    /// `pn_endpoint_disable_after`: an endpoint failing without a success for this long is
    /// disabled until `pn queue endpoint enable`.
    pub disable_after: Duration,
    /// `pn_endpoint_circuit_after`: consecutive failures that open an endpoint's circuit
    /// (then one probe at a time).
    pub circuit_after: u32,
    /// `pn_outbox_poll`: how often a dispatcher looks for items other processes stored.
    pub poll: Duration,
}

impl Default for Policy {
    fn default() -> Policy {
        let h = |n: u64| Duration::from_secs(n * 3600);
        Policy {
            schedule: vec![
                Duration::from_secs(5),
                Duration::from_secs(300),
                Duration::from_secs(1800),
                h(2),
                h(5),
                h(10),
                h(14),
                h(20),
                h(24),
            ],
            max_age: h(72),
            permanent: vec![400, 401, 403, 404, 410, 413],
            disable_after: h(24),
            circuit_after: 3,
            poll: Duration::from_secs(1),
        }
    }
}

impl Policy {
    /// Reads the settings through `get` (unset or empty: the default). Errors name the
    /// setting, its value and what was expected.
    pub fn from_settings(get: impl Fn(&str) -> Option<String>) -> Result<Policy, OutboxStoreError> {
        let mut p = Policy::default();
        let set = |key: &str| get(key).filter(|v| !v.trim().is_empty());
        if let Some(v) = set("pn_retry_schedule") {
            p.schedule = intervals("pn_retry_schedule", &v)?;
            if p.schedule.is_empty() {
                return Err(invalid("pn_retry_schedule", &v, "at least one interval"));
            }
        }
        if let Some(v) = set("pn_retry_max_age") {
            p.max_age = interval("pn_retry_max_age", &v)?;
        }
        if let Some(v) = set("pn_retry_permanent_statuses") {
            p.permanent = v
                .split_whitespace()
                .map(|s| match s.parse::<u16>() {
                    Ok(n) if (100..600).contains(&n) => Ok(n),
                    _ => Err(invalid(
                        "pn_retry_permanent_statuses",
                        &v,
                        "HTTP status codes (100-599) separated by spaces",
                    )),
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = set("pn_endpoint_disable_after") {
            p.disable_after = interval("pn_endpoint_disable_after", &v)?;
        }
        if let Some(v) = set("pn_endpoint_circuit_after") {
            p.circuit_after = match pn_config::time::parse_uint(v.trim()) {
                Ok(n) if n > 0 => n,
                _ => return Err(invalid("pn_endpoint_circuit_after", &v, "a number above 0")),
            };
        }
        if let Some(v) = set("pn_outbox_poll") {
            p.poll = interval("pn_outbox_poll", &v)?.max(Duration::from_millis(10));
        }
        Ok(p)
    }

    /// The delay before retry number `failures` (1 = after the first failed send), with
    /// ±20 % jitter from `random` so that items failing together do not retry together.
    pub fn delay(&self, failures: u32, random: u64) -> Duration {
        let i = (failures.max(1) as usize - 1).min(self.schedule.len().saturating_sub(1));
        let base = self
            .schedule
            .get(i)
            .copied()
            .unwrap_or(Duration::from_secs(5));
        // A factor in [0.8, 1.2).
        let permille = 800 + (random % 400);
        base.mul_f64(permille as f64 / 1000.0)
    }

    /// Whether this status ends the item at once.
    pub fn is_permanent(&self, status: Option<u16>) -> bool {
        status.is_some_and(|s| self.permanent.contains(&s))
    }
}

fn invalid(key: &'static str, value: &str, why: &str) -> OutboxStoreError {
    OutboxStoreError::Setting {
        key,
        value: value.to_owned(),
        why: why.to_owned(),
    }
}

/// One Dovecot time interval (`30 secs`, `5m`, `100ms`, `3d`).
pub fn interval(key: &'static str, value: &str) -> Result<Duration, OutboxStoreError> {
    pn_config::time::parse_interval_msecs(value.trim())
        .map(|ms| Duration::from_millis(u64::from(ms)))
        .map_err(|e| invalid(key, value, &e.to_string()))
}

/// Intervals separated by spaces; a bare number followed by a unit word (`5 mins`) is one
/// interval, as Dovecot writes them.
pub fn intervals(key: &'static str, value: &str) -> Result<Vec<Duration>, OutboxStoreError> {
    let words: Vec<&str> = value.split_whitespace().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let joined;
        let text = if w.bytes().all(|b| b.is_ascii_digit())
            && words
                .get(i + 1)
                .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_alphabetic()))
        {
            joined = format!("{w} {}", words[i + 1]);
            i += 1;
            joined.as_str()
        } else {
            w
        };
        out.push(interval(key, text)?);
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_parses_from_its_documented_text() {
        let s = intervals("k", "5s 5m 30m 2h 5h 10h 14h 20h 24h").expect("parses");
        assert_eq!(s, Policy::default().schedule);
        assert_eq!(
            intervals("k", "100ms 2 secs 1 min").expect("parses"),
            [
                Duration::from_millis(100),
                Duration::from_secs(2),
                Duration::from_secs(60)
            ]
        );
    }

    #[test]
    fn bad_settings_say_which_and_why() {
        let get = |k: &str| (k == "pn_retry_schedule").then(|| "5s soon".to_owned());
        let e = Policy::from_settings(get).expect_err("invalid");
        assert!(e.to_string().contains("pn_retry_schedule"), "{e}");
        assert!(e.to_string().contains("soon"), "{e}");
        let get = |k: &str| (k == "pn_retry_permanent_statuses").then(|| "404 abc".to_owned());
        assert!(Policy::from_settings(get).is_err());
        let get = |k: &str| (k == "pn_retry_max_age").then(|| "3d".to_owned());
        let p = Policy::from_settings(get).expect("valid");
        assert_eq!(p.max_age, Duration::from_secs(3 * 86400));
    }

    #[test]
    fn delays_follow_the_schedule_with_bounded_jitter() {
        let p = Policy {
            schedule: vec![Duration::from_secs(10), Duration::from_secs(100)],
            ..Policy::default()
        };
        for r in [0, 199, 399, 12345] {
            let d1 = p.delay(1, r);
            assert!(
                d1 >= Duration::from_secs(8) && d1 < Duration::from_secs(12),
                "{d1:?}"
            );
            let d9 = p.delay(9, r);
            assert!(
                d9 >= Duration::from_secs(80) && d9 < Duration::from_secs(120),
                "{d9:?}"
            );
        }
        assert!(p.is_permanent(Some(404)));
        assert!(!p.is_permanent(Some(503)));
        assert!(!p.is_permanent(None));
    }
}
