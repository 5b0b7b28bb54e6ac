//! The driver's arguments (`push_notification_driverN = webhook:<args>`), checked when the
//! driver is configured so that `pn config check` and every user's init report the same errors.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pn_config::{DriverSpec, mask_url_secrets, time};
use pn_event::EventName;

use crate::filter::{Filter, Suppress};

/// Retries after the first attempt, unless `max_retries=` says otherwise.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Time per attempt in milliseconds, unless `timeout_msecs=` says otherwise.
pub const DEFAULT_TIMEOUT_MSECS: u32 = 5000;

/// The arguments the driver knows; anything else is a configuration error (a typo would
/// otherwise silently drop a filter or a secret).
pub const KNOWN_ARGS: [&str; 14] = [
    "url",
    "secret",
    "format",
    "token",
    "topic",
    "priority",
    "events",
    "mailboxes",
    "snippet",
    "metadata",
    "suppress",
    "rate",
    "max_retries",
    "timeout_msecs",
];

/// What an endpoint receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Standard Webhooks 1.0: signed JSON `{"type", "timestamp", "data"}` (the default).
    Standard,
    /// ntfy's JSON publish (`POST <server>/` with `topic`, `title`, `message`, …).
    Ntfy,
    /// Gotify's message API (`POST <server>/message` with an application token).
    Gotify,
}

impl Format {
    /// Parses `standard`, `ntfy` or `gotify`.
    pub fn parse(value: &str) -> Result<Format, ConfigError> {
        match value {
            "standard" => Ok(Format::Standard),
            "ntfy" => Ok(Format::Ntfy),
            "gotify" => Ok(Format::Gotify),
            other => Err(ConfigError::Invalid {
                key: "format",
                value: other.to_owned(),
                reason: "expected standard, ntfy or gotify".to_owned(),
            }),
        }
    }
}

/// One destination with its filters.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Where requests go (for Gotify the server's base URL; `/message` is appended).
    pub url: String,
    /// The body format.
    pub format: Format,
    /// Standard Webhooks secrets (`whsec_…`), newest first; empty: unsigned.
    pub secrets: Vec<String>,
    /// ntfy access token or Gotify application token.
    pub token: Option<String>,
    /// ntfy topic.
    pub topic: Option<String>,
    /// ntfy (1–5) or Gotify (0–10) priority.
    pub priority: Option<u8>,
    /// Which events and mailboxes reach this endpoint.
    pub filter: Filter,
    /// Whether MessageNew/MessageAppend bodies carry the body snippet (privacy: off unless
    /// asked).
    pub snippet: bool,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &mask_url_secrets(&self.url))
            .field("format", &self.format)
            .field("secrets", &format_args!("[{} masked]", self.secrets.len()))
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("topic", &self.topic)
            .field("priority", &self.priority)
            .field("filter", &self.filter)
            .field("snippet", &self.snippet)
            .finish()
    }
}

impl Endpoint {
    /// Checks what every endpoint needs, whoever configured it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_url(&self.url)?;
        for secret in &self.secrets {
            check_secret(secret)?;
        }
        match self.format {
            Format::Ntfy if self.topic.as_deref().is_none_or(str::is_empty) => {
                Err(ConfigError::Missing("topic (format=ntfy)"))
            }
            Format::Gotify if self.token.as_deref().is_none_or(str::is_empty) => {
                Err(ConfigError::Missing("token (format=gotify)"))
            }
            Format::Ntfy if self.priority.is_some_and(|p| !(1..=5).contains(&p)) => {
                Err(ConfigError::Invalid {
                    key: "priority",
                    value: format!("{}", self.priority.unwrap_or_default()),
                    reason: "ntfy priorities are 1 to 5".to_owned(),
                })
            }
            Format::Gotify if self.priority.is_some_and(|p| p > 10) => Err(ConfigError::Invalid {
                key: "priority",
                value: format!("{}", self.priority.unwrap_or_default()),
                reason: "Gotify priorities are 0 to 10".to_owned(),
            }),
            _ => Ok(()),
        }
    }
}

/// One webhook driver instance's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// The setting it came from (`push_notification_driver2`), which also names the rate
    /// state.
    pub key: String,
    /// The endpoint of the configuration line, if it has a `url=`.
    pub endpoint: Option<Endpoint>,
    /// Whether users' own endpoints are read from METADATA (`metadata=yes`).
    pub metadata: bool,
    /// Which messages are not pushed.
    pub suppress: Suppress,
    /// At most one push per user per this many seconds (0: no limit).
    pub rate_secs: u32,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Time per attempt, milliseconds.
    pub timeout_msecs: u32,
}

/// A configuration error; the text names the argument and what is wrong, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// An argument the driver does not know.
    #[error("unknown argument {0:?} (known: {known})", known = KNOWN_ARGS.join(", "))]
    Unknown(String),
    /// A required argument is missing.
    #[error("missing argument {0}")]
    Missing(&'static str),
    /// An argument's value is wrong.
    #[error("{key}={value}: {reason}")]
    Invalid {
        /// The argument.
        key: &'static str,
        /// Its value (masked where it could hold a secret).
        value: String,
        /// Why.
        reason: String,
    },
    /// A Standard Webhooks secret that is not base64 (the text never shows it).
    #[error("secret: not a Standard Webhooks secret (whsec_ followed by base64)")]
    BadSecret,
}

impl WebhookConfig {
    /// Parses a driver line's arguments.
    pub fn from_spec(spec: &DriverSpec) -> Result<WebhookConfig, ConfigError> {
        let args = &spec.args;
        if let Some((key, _)) = args.iter().find(|(k, _)| !KNOWN_ARGS.contains(k)) {
            // A stray secret without `key=` would be its own "key": only name-like keys are
            // echoed.
            let name_like = key.len() <= 24
                && key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
                && !key.starts_with("whsec_");
            return Err(ConfigError::Unknown(if name_like {
                key.to_owned()
            } else {
                "(not shown: not an argument name)".to_owned()
            }));
        }
        let metadata = match args.get("metadata") {
            None => false,
            Some(v) => yes_no("metadata", v)?,
        };
        let events = match args.get("events") {
            None => vec![EventName::MessageNew],
            Some(v) => parse_events(v.split(','))?,
        };
        let mailboxes = args.get("mailboxes").map(|v| {
            v.split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect()
        });
        let endpoint = match args.get("url") {
            None if metadata => None,
            None => return Err(ConfigError::Missing("url (or metadata=yes)")),
            Some(url) => {
                let endpoint = Endpoint {
                    url: url.to_owned(),
                    format: args
                        .get("format")
                        .map_or(Ok(Format::Standard), Format::parse)?,
                    secrets: args
                        .get("secret")
                        .map(|v| {
                            v.split(',')
                                .filter(|s| !s.is_empty())
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default(),
                    token: args.get("token").map(str::to_owned),
                    topic: args.get("topic").map(str::to_owned),
                    priority: args.get("priority").map(parse_priority).transpose()?,
                    filter: Filter { events, mailboxes },
                    snippet: args
                        .get("snippet")
                        .map_or(Ok(false), |v| yes_no("snippet", v))?,
                };
                endpoint.validate()?;
                Some(endpoint)
            }
        };
        let suppress = args
            .get("suppress")
            .map_or(Ok(Suppress::DEFAULT), Suppress::parse)?;
        let rate_secs = match args.get("rate") {
            None => 0,
            Some(v) => time::parse_interval_secs(v).map_err(|e| ConfigError::Invalid {
                key: "rate",
                value: v.to_owned(),
                reason: e.to_string(),
            })?,
        };
        Ok(WebhookConfig {
            key: spec.key.clone(),
            endpoint,
            metadata,
            suppress,
            rate_secs,
            max_retries: uint(spec, "max_retries", DEFAULT_MAX_RETRIES)?,
            timeout_msecs: uint(spec, "timeout_msecs", DEFAULT_TIMEOUT_MSECS)?,
        })
    }
}

/// Parses a comma-separated list of RFC 5423 event names.
pub fn parse_events<'a>(
    names: impl Iterator<Item = &'a str>,
) -> Result<Vec<EventName>, ConfigError> {
    let mut events = Vec::new();
    for name in names.filter(|n| !n.is_empty()) {
        let event = EventName::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| ConfigError::Invalid {
                key: "events",
                value: name.to_owned(),
                reason: "not one of the twelve RFC 5423 events (MessageNew, FlagsSet, …)"
                    .to_owned(),
            })?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    if events.is_empty() {
        return Err(ConfigError::Missing("events (an empty list)"));
    }
    Ok(events)
}

fn parse_priority(value: &str) -> Result<u8, ConfigError> {
    value.parse().map_err(|_| ConfigError::Invalid {
        key: "priority",
        value: value.to_owned(),
        reason: "not a number from 0 to 10".to_owned(),
    })
}

fn yes_no(key: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value {
        "yes" | "" => Ok(true),
        "no" => Ok(false),
        other => Err(ConfigError::Invalid {
            key,
            value: other.to_owned(),
            reason: "expected yes or no".to_owned(),
        }),
    }
}

fn uint(spec: &DriverSpec, key: &'static str, default: u32) -> Result<u32, ConfigError> {
    match spec.args.get(key) {
        None => Ok(default),
        Some(v) => time::parse_uint(v).map_err(|e| ConfigError::Invalid {
            key,
            value: v.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// An `http://` or `https://` URL with a host.
pub(crate) fn check_url(url: &str) -> Result<(), ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid {
        key: "url",
        value: mask_url_secrets(url),
        reason: reason.to_owned(),
    };
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(|| invalid("not an http:// or https:// URL"))?;
    if crate::ssrf::host_of(rest).is_empty() {
        return Err(invalid("no host"));
    }
    if url
        .chars()
        .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
    {
        return Err(invalid("contains white space"));
    }
    Ok(())
}

/// `whsec_` (optional) followed by base64 of at least one byte, as the reference libraries
/// accept.
pub(crate) fn check_secret(secret: &str) -> Result<(), ConfigError> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    match STANDARD.decode(b64) {
        Ok(key) if !key.is_empty() => Ok(()),
        _ => Err(ConfigError::BadSecret),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &str) -> Result<WebhookConfig, ConfigError> {
        WebhookConfig::from_spec(&pn_config::parse_driver_value(
            "push_notification_driver2",
            &format!("webhook:{args}"),
        ))
    }

    #[test]
    fn defaults() {
        let c = parse("url=https://h/x").expect("config");
        let e = c.endpoint.expect("endpoint");
        assert_eq!(e.format, Format::Standard);
        assert_eq!(e.filter.events, [EventName::MessageNew]);
        assert_eq!(e.filter.mailboxes, None);
        assert!(!e.snippet && e.secrets.is_empty());
        assert_eq!((c.rate_secs, c.max_retries, c.timeout_msecs), (0, 3, 5000));
        assert_eq!(c.suppress, Suppress::DEFAULT);
        assert!(!c.metadata);
    }

    #[test]
    fn full_line() {
        let c = parse(
            "url=https://h/x secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw,whsec_c2Vjb25k \
             events=MessageNew,flagsset mailboxes=INBOX,Work snippet=yes rate=30s suppress=none",
        )
        .expect("config");
        let e = c.endpoint.expect("endpoint");
        assert_eq!(e.secrets.len(), 2);
        assert_eq!(
            e.filter.events,
            [EventName::MessageNew, EventName::FlagsSet]
        );
        assert_eq!(
            e.filter.mailboxes,
            Some(vec!["INBOX".into(), "Work".into()])
        );
        assert!(e.snippet);
        assert_eq!(c.rate_secs, 30);
        assert_eq!(c.suppress, Suppress::NONE);
    }

    #[test]
    fn errors_name_the_argument_and_hide_secrets() {
        let err = |args: &str| parse(args).expect_err(args).to_string();
        assert_eq!(err(""), "missing argument url (or metadata=yes)");
        assert!(err("url=https://h/ evnts=MessageNew").starts_with("unknown argument \"evnts\""));
        let stray = err("url=https://h/ whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert!(!stray.contains("MfKQ9r8"), "{stray}");
        assert_eq!(
            err("url=https://h/ events=MessageNu"),
            "events=MessageNu: not one of the twelve RFC 5423 events (MessageNew, FlagsSet, …)"
        );
        assert_eq!(
            err("url=ftp://u:pw@h/"),
            "url=ftp://u:***@h/: not an http:// or https:// URL"
        );
        let bad = err("url=https://h/ secret=whsec_not*base64");
        assert!(!bad.contains("not*base64"), "{bad}");
        assert_eq!(
            err("url=https://h/ format=ntfy"),
            "missing argument topic (format=ntfy)"
        );
        assert_eq!(
            err("url=https://h/ format=gotify"),
            "missing argument token (format=gotify)"
        );
        assert_eq!(
            err("url=https://h/ rate=3x"),
            "rate=3x: Invalid time interval: 3x"
        );
        assert_eq!(
            err("url=https://h/ snippet=maybe"),
            "snippet=maybe: expected yes or no"
        );
        assert!(
            parse("metadata=yes")
                .expect("metadata only")
                .endpoint
                .is_none()
        );
        let debug = format!(
            "{:?}",
            parse("url=https://h/ format=gotify token=SeCrEt").expect("ok")
        );
        assert!(!debug.contains("SeCrEt"), "{debug}");
    }
}
