//! Per-user endpoints from server METADATA (`metadata=yes`): the value of
//! `/private/vendor/vendor.pn/webhook`, a JSON document set by the admin with
//! `pn mailbox metadata set -s ""` (or IMAP SETMETADATA). See docs/webhook.md.

use serde::Deserialize;

use crate::config::{ConfigError, Endpoint, Format, parse_events};
use crate::filter::Filter;
use crate::ssrf;

/// The entry, relative to `/private/` (server metadata).
pub const METADATA_KEY: &str = "vendor/vendor.pn/webhook";

/// The plugin setting that lets per-user endpoints reach loopback, private and link-local
/// addresses.
pub const ALLOW_PRIVATE_SETTING: &str = "pn_webhook_allow_private";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    endpoints: Vec<EndpointJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointJson {
    url: String,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    secrets: Vec<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    priority: Option<u8>,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    mailboxes: Option<Vec<String>>,
    #[serde(default)]
    snippet: bool,
}

/// Why a user's METADATA value gave no endpoints (the text never shows a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    /// Not the JSON document described in docs/webhook.md.
    #[error("not a webhook subscription document: {0}")]
    Json(String),
    /// Endpoint number `index` (from 0) is wrong.
    #[error("endpoint {index}: {source}")]
    Endpoint {
        /// Its position.
        index: usize,
        /// What is wrong.
        source: ConfigError,
    },
    /// Endpoint number `index` points at an internal address.
    #[error(
        "endpoint {index}: refused: {kind} destination (set {ALLOW_PRIVATE_SETTING} = yes to allow)"
    )]
    Refused {
        /// Its position.
        index: usize,
        /// `loopback`, `private`, `link-local`, `unspecified`.
        kind: &'static str,
    },
}

/// The endpoints of a METADATA value. One bad endpoint rejects the whole document, so an
/// admin's typo never silently drops a filter.
pub fn parse(value: &[u8], allow_private: bool) -> Result<Vec<Endpoint>, SubscriptionError> {
    let doc: Document =
        serde_json::from_slice(value).map_err(|e| SubscriptionError::Json(describe(&e)))?;
    let mut endpoints = Vec::with_capacity(doc.endpoints.len());
    for (index, e) in doc.endpoints.into_iter().enumerate() {
        let wrap = |source| SubscriptionError::Endpoint { index, source };
        let events = match &e.events {
            None => vec![pn_event::EventName::MessageNew],
            Some(list) => parse_events(list.iter().map(String::as_str)).map_err(wrap)?,
        };
        let endpoint = Endpoint {
            format: e
                .format
                .as_deref()
                .map_or(Ok(Format::Standard), Format::parse)
                .map_err(wrap)?,
            url: e.url,
            secrets: e.secrets,
            token: e.token,
            topic: e.topic,
            priority: e.priority,
            filter: Filter {
                events,
                mailboxes: e.mailboxes,
            },
            snippet: e.snippet,
        };
        endpoint.validate().map_err(wrap)?;
        if !allow_private && let Some(kind) = ssrf::refusal(&endpoint.url) {
            return Err(SubscriptionError::Refused { index, kind });
        }
        endpoints.push(endpoint);
    }
    Ok(endpoints)
}

/// serde_json's message without the values it may quote (a mistyped secret would otherwise
/// reach the log): names of unknown or missing fields are kept, values are not.
fn describe(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let kept = text.starts_with("unknown field") || text.starts_with("missing field");
    let what = if kept {
        text.split(" at line")
            .next()
            .unwrap_or("invalid document")
            .to_owned()
    } else {
        format!("{:?} error", e.classify()).to_lowercase()
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let doc =
            br#"{"endpoints":[{"url":"https://hooks.example.com/a","secrets":["whsec_c2Vjb25k"],
            "events":["MessageNew","FlagsSet"],"mailboxes":["INBOX"],"snippet":true},
            {"url":"https://ntfy.example.com/","format":"ntfy","topic":"mail","token":"tk_x"}]}"#;
        let eps = parse(doc, false).expect("parse");
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[0].filter.events.len(), 2);
        assert!(eps[0].snippet);
        assert_eq!(eps[1].format, Format::Ntfy);
        let local = br#"{"endpoints":[{"url":"http://127.0.0.1:9/x"}]}"#;
        assert_eq!(
            parse(local, false).expect_err("refused"),
            SubscriptionError::Refused {
                index: 0,
                kind: "loopback"
            }
        );
        assert_eq!(parse(local, true).expect("allowed").len(), 1);
        assert!(matches!(
            parse(b"{", false),
            Err(SubscriptionError::Json(_))
        ));
        let typo = br#"{"endpoints":[{"url":"https://h/","evnts":["MessageNew"]}]}"#;
        assert!(matches!(
            parse(typo, false),
            Err(SubscriptionError::Json(_))
        ));
        let wrong_type = br#"{"endpoints":[{"url":"https://h/","secrets":"whsec_c2Vjb25k"}]}"#;
        let err = parse(wrong_type, false)
            .expect_err("not an array")
            .to_string();
        assert!(!err.contains("c2Vjb25k"), "{err}");
        let typo = br#"{"endpoints":[{"url":"https://h/","evnts":[]}]}"#;
        let err = parse(typo, false).expect_err("typo").to_string();
        assert!(err.contains("unknown field `evnts`"), "{err}");
        let bad = br#"{"endpoints":[{"url":"https://h/","secrets":["whsec_s3cr*t"]}]}"#;
        let err = parse(bad, false).expect_err("bad secret").to_string();
        assert!(
            err.starts_with("endpoint 0: secret") && !err.contains("s3cr*t"),
            "{err}"
        );
    }
}
