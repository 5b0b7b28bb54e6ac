//! `pn_nats_*` settings and connecting.

use std::path::PathBuf;
use std::time::Duration;

use crate::NatsError;

/// Settings of `pn_outbox = nats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsConfig {
    /// `pn_nats_url`: one or more server URLs (space- or comma-separated), any node of a
    /// cluster. May carry `user:password@`; never logged with it.
    pub urls: Vec<String>,
    /// `pn_nats_credentials`: a `.creds` file (JWT + NKey seed).
    pub credentials: Option<PathBuf>,
    /// `pn_nats_tls_ca`: extra CA (PEM) to verify the servers with.
    pub tls_ca: Option<PathBuf>,
    /// `pn_nats_tls_cert` + `pn_nats_tls_key`: client certificate for mutual TLS.
    pub tls_client: Option<(PathBuf, PathBuf)>,
    /// `pn_nats_tls` = `yes`: refuse a connection without TLS (`tls://` URLs also do).
    pub tls_required: bool,
    /// `pn_nats_stream` (default `PN_OUTBOX`): the work-queue stream of notifications.
    pub stream: String,
    /// `pn_nats_subject` (default `pn.outbox`): what notifications are published on.
    pub subject: String,
    /// `pn_nats_dead_stream` (default `PN_DEAD`): dead letters, on `pn.dead.>`.
    pub dead_stream: String,
    /// `pn_nats_dead_subject` (default `pn.dead.item`).
    pub dead_subject: String,
    /// `pn_nats_consumer` (default `pn-workers`): the durable pull consumer every worker shares.
    pub consumer: String,
    /// `pn_nats_replicas` (default 3): the streams' replica count.
    pub replicas: usize,
    /// `pn_nats_allow_r1` = `yes`: accept one replica (see docs/scale-out.md: a single node
    /// does not fsync each message).
    pub allow_r1: bool,
    /// `pn_nats_ack_wait` (default 30s): a worker that neither acks nor reports progress in
    /// this time is taken for dead and its item is redelivered.
    pub ack_wait: Duration,
    /// `pn_nats_worker_concurrency` (default 64): sends one worker has in flight.
    pub concurrency: usize,
}

impl NatsConfig {
    /// Reads the settings through `get`.
    pub fn from_settings(get: impl Fn(&str) -> Option<String>) -> Result<NatsConfig, NatsError> {
        let text = |key: &str| {
            get(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let path = |key: &str| text(key).map(|v| PathBuf::from(v.trim_start_matches('<')));
        let yes = |key: &'static str| -> Result<bool, NatsError> {
            match text(key).as_deref() {
                None | Some("no") => Ok(false),
                Some("yes") => Ok(true),
                Some(v) => Err(NatsError::Setting {
                    key,
                    why: format!("{v:?}: expected yes or no"),
                }),
            }
        };
        let number = |key: &'static str, default: usize| -> Result<usize, NatsError> {
            match text(key) {
                None => Ok(default),
                Some(v) => v
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or(NatsError::Setting {
                        key,
                        why: format!("{v:?}: expected a positive number"),
                    }),
            }
        };
        let urls: Vec<String> = text("pn_nats_url")
            .unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned())
            .split([' ', ',', '\t'])
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        for u in &urls {
            if !(u.starts_with("nats://") || u.starts_with("tls://")) {
                return Err(NatsError::Setting {
                    key: "pn_nats_url",
                    why: format!(
                        "{}: expected nats://HOST:PORT or tls://HOST:PORT",
                        redact(u)
                    ),
                });
            }
        }
        let tls_client = match (path("pn_nats_tls_cert"), path("pn_nats_tls_key")) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(NatsError::Setting {
                    key: "pn_nats_tls_cert",
                    why: "pn_nats_tls_cert and pn_nats_tls_key go together".to_owned(),
                });
            }
        };
        let ack_wait = match text("pn_nats_ack_wait") {
            None => Duration::from_secs(30),
            Some(v) => pn_outbox::policy::interval("pn_nats_ack_wait", &v).map_err(|e| {
                NatsError::Setting {
                    key: "pn_nats_ack_wait",
                    why: e.to_string(),
                }
            })?,
        };
        let replicas = number("pn_nats_replicas", 3)?;
        let allow_r1 = yes("pn_nats_allow_r1")?;
        if replicas == 1 && !allow_r1 {
            return Err(NatsError::Setting {
                key: "pn_nats_replicas",
                why: "1 replica: a single nats-server 2.9 does not fsync each message, so an \
                      acknowledged notification can be lost on power loss; use 3 (a cluster) \
                      or set pn_nats_allow_r1 = yes (docs/scale-out.md)"
                    .to_owned(),
            });
        }
        Ok(NatsConfig {
            urls,
            credentials: path("pn_nats_credentials"),
            tls_ca: path("pn_nats_tls_ca"),
            tls_client,
            tls_required: yes("pn_nats_tls")?,
            stream: text("pn_nats_stream").unwrap_or_else(|| "PN_OUTBOX".to_owned()),
            subject: text("pn_nats_subject").unwrap_or_else(|| "pn.outbox".to_owned()),
            dead_stream: text("pn_nats_dead_stream").unwrap_or_else(|| "PN_DEAD".to_owned()),
            dead_subject: text("pn_nats_dead_subject").unwrap_or_else(|| "pn.dead.item".to_owned()),
            consumer: text("pn_nats_consumer").unwrap_or_else(|| "pn-workers".to_owned()),
            replicas,
            allow_r1,
            ack_wait,
            concurrency: number("pn_nats_worker_concurrency", 64)?,
        })
    }

    /// The servers for messages: URLs without `user:password@`.
    pub fn servers(&self) -> String {
        self.urls
            .iter()
            .map(|u| redact(u))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Connects (retrying each server on the list).
    pub async fn connect(&self) -> Result<async_nats::Client, NatsError> {
        let fail = |why: String| NatsError::Connect {
            servers: self.servers(),
            why,
        };
        let mut opts = async_nats::ConnectOptions::new().name("pn");
        if let Some(creds) = &self.credentials {
            opts = opts
                .credentials_file(creds)
                .await
                .map_err(|e| fail(format!("{}: {e}", creds.display())))?;
        }
        if let Some(ca) = &self.tls_ca {
            opts = opts.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &self.tls_client {
            opts = opts.add_client_certificate(cert.clone(), key.clone());
        }
        if self.tls_required {
            opts = opts.require_tls(true);
        }
        let addrs: Vec<async_nats::ServerAddr> = self
            .urls
            .iter()
            .map(|u| u.parse().map_err(|e| fail(format!("{}: {e}", redact(u)))))
            .collect::<Result<_, _>>()?;
        // async-nats' errors name the server without the credentials.
        opts.connect(addrs.as_slice())
            .await
            .map_err(|e| fail(e.to_string()))
    }
}

/// `nats://user:pass@host` → `nats://***@host`.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<NatsConfig, NatsError> {
        NatsConfig::from_settings(|k| {
            pairs
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults_and_cluster_urls() {
        let c = cfg(&[("pn_nats_url", "nats://a:1, nats://u:secret@b:2")]).unwrap();
        assert_eq!(c.urls.len(), 2);
        assert_eq!(c.replicas, 3);
        assert_eq!(c.stream, "PN_OUTBOX");
        assert!(!c.servers().contains("secret"));
    }

    #[test]
    fn r1_is_refused_unless_allowed() {
        let e = cfg(&[("pn_nats_replicas", "1")]).unwrap_err().to_string();
        assert!(e.contains("pn_nats_allow_r1"), "{e}");
        assert!(cfg(&[("pn_nats_replicas", "1"), ("pn_nats_allow_r1", "yes")]).is_ok());
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e = cfg(&[("pn_nats_url", "http://x")]).unwrap_err().to_string();
        assert!(e.contains("pn_nats_url"), "{e}");
        let e = cfg(&[("pn_nats_replicas", "x")]).unwrap_err().to_string();
        assert!(e.contains("pn_nats_replicas"), "{e}");
    }
}
