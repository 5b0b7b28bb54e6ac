//! One request, attempt by attempt, following Dovecot's lib-http (`http-client-request.c`,
//! `http-client-connection.c`) as observed against failing endpoints:
//!
//! | what happened | lib-http | here |
//! |---|---|---|
//! | `2xx` | success | success |
//! | `408` | retried at once on a new connection while attempts remain | same |
//! | `503` + `Retry-After` ≤ attempt timeout (whole seconds) | retried after the delay, same connection | same, waiting the full delay |
//! | `503` without `Retry-After`, or longer | error | error |
//! | `3xx` (not 304) with `Location` | error `Redirect refused` | same |
//! | other status | error `<status> <reason>` | same |
//! | no response within `timeout_msecs` | retried on a new connection; finally `Request timed out (…)` | same |
//! | connection lost before a response | retried | retried |
//! | connect failed (refused, TLS) | error at once, no retry | same |
//!
//! A final status after retries gets Dovecot's suffix `(<n> retries in <s>.<ms> secs)`.
//!
//! Connections are bounded: at most [`DEFAULT_MAX_CONNECTIONS_PER_ORIGIN`] to one origin and
//! [`DEFAULT_MAX_CONNECTIONS`] in all (both configurable, see
//! [`crate::DispatchConfig`]); further requests wait without a connection, and an attempt's
//! timeout starts only when it has one.

use std::collections::HashMap;
use std::error::Error as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use pn_core::{EventId, HttpRequest};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::debug;

use crate::LOG_TARGET;
use crate::wire::{self, Target};

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// lib-http's default attempt timeout, used for `timeout_msecs` 0.
pub const DEFAULT_TIMEOUT_MSECS: u64 = 60_000;

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// A `2xx` status was received.
    pub success: bool,
    /// The final HTTP status, `None` when no response came (connect failure, timeout, …).
    pub status: Option<u16>,
    /// Dovecot's `http_response_get_message()`: `200 OK`, `408 Request Timeout (2 retries in
    /// 0.006 secs)`, `connect(127.0.0.1:1) failed: Connection refused`, `Redirect refused`, …
    pub message: String,
    /// Attempts made (requests sent or tried to send).
    pub attempts: u32,
}

/// Connections open at once to one origin unless configured otherwise. Dovecot's lib-http
/// defaults to 1 per process, but Dovecot runs one process per session; pn lmtp serves every
/// session from one process, so it allows a few.
pub const DEFAULT_MAX_CONNECTIONS_PER_ORIGIN: usize = 8;

/// Connections in use at once to all origins together unless configured otherwise (idle
/// keep-alive connections are bounded per origin, by its limit).
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;

/// One connection pool per origin, shared by every request to it.
///
/// Why the permits: hyper's pool opens a new connection for every request that finds no idle
/// one, so an endpoint that accepts and never answers would get one socket per queued push
/// until the process runs out of descriptors and mail delivery fails. An attempt holds one
/// permit of its origin and one of the whole pool while it runs; requests beyond that wait
/// for a permit in memory, without a descriptor (lib-http queues them the same way).
pub(crate) struct Pools {
    tls: Arc<rustls::ClientConfig>,
    per_origin: usize,
    total: Arc<Semaphore>,
    origins: Mutex<HashMap<String, Origin>>,
}

struct Origin {
    client: HttpClient,
    permits: Arc<Semaphore>,
}

/// What an attempt holds while it may use a connection.
struct Permits {
    _origin: OwnedSemaphorePermit,
    _total: OwnedSemaphorePermit,
}

impl Pools {
    pub(crate) fn new(tls: rustls::ClientConfig, per_origin: usize, total: usize) -> Pools {
        Pools {
            tls: Arc::new(tls),
            per_origin: per_origin.clamp(1, Semaphore::MAX_PERMITS),
            total: Arc::new(Semaphore::new(total.clamp(1, Semaphore::MAX_PERMITS))),
            origins: Mutex::new(HashMap::new()),
        }
    }

    fn build(&self) -> HttpClient {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*self.tls).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Client::builder(TokioExecutor::new())
            .http1_title_case_headers(true)
            // Idle connections keep their descriptors: no more than may be busy at once.
            .pool_max_idle_per_host(self.per_origin)
            .build(https)
    }

    /// The origin's client and its permits.
    fn get(&self, origin: &str) -> (HttpClient, Arc<Semaphore>) {
        let mut origins = self.origins.lock().unwrap_or_else(|p| p.into_inner());
        let o = origins.entry(origin.to_owned()).or_insert_with(|| Origin {
            client: self.build(),
            permits: Arc::new(Semaphore::new(self.per_origin)),
        });
        (o.client.clone(), Arc::clone(&o.permits))
    }

    /// Waits for a connection slot: the origin's first, then the pool's, so that requests
    /// queued for one hanging origin never hold slots other origins could use.
    async fn permits(&self, origin: Arc<Semaphore>) -> Option<Permits> {
        let origin = origin.acquire_owned().await.ok()?;
        let total = Arc::clone(&self.total).acquire_owned().await.ok()?;
        Some(Permits {
            _origin: origin,
            _total: total,
        })
    }

    /// Drops the origin's pool so the next attempt opens a new connection (after a `408`,
    /// where lib-http closes the connection). The origin keeps its permits.
    fn renew(&self, origin: &str) {
        let fresh = self.build();
        let mut origins = self.origins.lock().unwrap_or_else(|p| p.into_inner());
        match origins.get_mut(origin) {
            Some(o) => o.client = fresh,
            None => {
                origins.insert(
                    origin.to_owned(),
                    Origin {
                        client: fresh,
                        permits: Arc::new(Semaphore::new(self.per_origin)),
                    },
                );
            }
        }
    }
}

/// What one attempt produced.
enum Attempt {
    Response {
        status: u16,
        reason: String,
        retry_after: Option<u64>,
        location: bool,
    },
    TimedOut,
    ConnectFailed(String),
    Lost(String),
}

/// Sends `req` with lib-http's attempt rules. Never panics, never returns an error: the
/// outcome says what happened.
pub(crate) async fn send(pools: &Pools, event_id: &EventId, req: &HttpRequest) -> Outcome {
    let Some(target) = Target::parse(&req.url) else {
        return Outcome {
            success: false,
            status: None,
            message: "Invalid URL".to_owned(),
            attempts: 0,
        };
    };
    let origin = target.origin();
    let timeout = Duration::from_millis(match req.timeout_msecs {
        0 => DEFAULT_TIMEOUT_MSECS,
        n => n,
    });
    let max_attempts = req.max_attempts.max(1);
    let queued = Instant::now();
    let mut first_sent: Option<Instant> = None;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let (_, slots) = pools.get(&origin);
        // The attempt timeout starts once a connection slot is ours, as lib-http starts it
        // when the request goes out on a connection; waiting in the queue has no deadline.
        let Some(permits) = pools.permits(slots).await else {
            return failure(None, "Dispatcher shut down".to_owned(), attempts - 1);
        };
        // Fetched after the wait: a 408 meanwhile may have renewed the origin's pool.
        let (client, _) = pools.get(&origin);
        let started = Instant::now();
        first_sent.get_or_insert(started);
        let result = attempt(client, &target, event_id, req, timeout).await;
        drop(permits);
        let retries_left = attempts < max_attempts;
        let retry = |why: &str| {
            debug!(target: LOG_TARGET, "request [{} {}]: Retrying (attempts={attempts}): {why}", req.method, target.url());
        };
        match result {
            Attempt::Response { status, .. } if status == 408 && retries_left => {
                retry("408");
                pools.renew(&origin);
            }
            Attempt::Response {
                status: 503,
                retry_after: Some(delay),
                ..
            } if retries_left && delay <= timeout.as_secs() => {
                retry("503 with Retry-After");
                tokio::time::sleep(Duration::from_secs(delay)).await;
            }
            Attempt::Response {
                status, location, ..
            } if status / 100 == 3 && status != 304 && location => {
                return failure(None, "Redirect refused".to_owned(), attempts);
            }
            Attempt::Response { status, reason, .. } => {
                let mut message = format!("{status} {reason}");
                if attempts > 1 {
                    let total = queued.elapsed().as_millis();
                    message.push_str(&format!(
                        " ({} retries in {}.{:03} secs)",
                        attempts - 1,
                        total / 1000,
                        total % 1000
                    ));
                }
                return Outcome {
                    success: status / 100 == 2,
                    status: Some(status),
                    message,
                    attempts,
                };
            }
            Attempt::TimedOut if retries_left => retry("timed out"),
            Attempt::TimedOut => {
                let total = queued.elapsed().as_millis();
                let sent = first_sent.map_or(0, |f| f.elapsed().as_millis());
                let mut stats = format!(
                    "Request queued {}.{:03} secs ago",
                    total / 1000,
                    total % 1000
                );
                if attempts > 1 {
                    stats.push_str(&format!(", {} times retried", attempts - 1));
                }
                stats.push_str(&format!(
                    ", {attempts} send attempts in {}.{:03} secs",
                    sent / 1000,
                    sent % 1000
                ));
                if attempts > 1 {
                    let last = started.elapsed().as_millis();
                    stats.push_str(&format!(
                        ", {}.{:03} in last attempt",
                        last / 1000,
                        last % 1000
                    ));
                }
                return failure(None, format!("Request timed out ({stats})"), attempts);
            }
            Attempt::ConnectFailed(message) => return failure(None, message, attempts),
            Attempt::Lost(why) if retries_left => retry(&why),
            Attempt::Lost(why) => {
                return failure(None, format!("Connection lost: {why}"), attempts);
            }
        }
    }
}

fn failure(status: Option<u16>, message: String, attempts: u32) -> Outcome {
    Outcome {
        success: false,
        status,
        message,
        attempts,
    }
}

async fn attempt(
    client: HttpClient,
    target: &Target,
    event_id: &EventId,
    req: &HttpRequest,
    timeout: Duration,
) -> Attempt {
    let request = match build_request(target, event_id, req) {
        Ok(r) => r,
        Err(e) => return Attempt::ConnectFailed(format!("Invalid request: {e}")),
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let response = match tokio::time::timeout_at(deadline, client.request(request)).await {
        Err(_) => return Attempt::TimedOut,
        Ok(Err(e)) if e.is_connect() => {
            return Attempt::ConnectFailed(connect_error(target, &e));
        }
        Ok(Err(e)) => return Attempt::Lost(error_chain(&e)),
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    let reason = response
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
        .or_else(|| status.canonical_reason().map(str::to_owned))
        .unwrap_or_default();
    let headers = response.headers();
    let retry_after = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(retry_after_secs);
    let location = headers.contains_key(http::header::LOCATION);
    // lib-http reads and discards the payload; so do we, so that the connection can be reused.
    let _ = tokio::time::timeout_at(deadline, response.into_body().collect()).await;
    Attempt::Response {
        status: status.as_u16(),
        reason,
        retry_after,
        location,
    }
}

fn build_request(
    target: &Target,
    event_id: &EventId,
    req: &HttpRequest,
) -> Result<http::Request<Full<Bytes>>, http::Error> {
    let mut builder = http::Request::builder()
        .method(req.method.as_str())
        .uri(target.url());
    let now = SystemTime::now();
    for (name, value) in wire::headers(target, now, req.body.len(), &req.headers) {
        builder = builder.header(name, value);
    }
    if let Some(signing) = &req.signing {
        let unix = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        for (name, value) in crate::signing::headers(signing, event_id, unix, &req.body) {
            builder = builder.header(name, value);
        }
    }
    builder.body(Full::new(Bytes::from(req.body.clone())))
}

/// `Retry-After` as whole seconds from now: delta-seconds, or an HTTP-date (a date in the
/// past is 0).
fn retry_after_secs(value: &str) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .map_or(0, |d| d.as_secs()),
    )
}

/// Dovecot's `connect(<ip>:<port>) failed: <strerror>`; TLS failures name the handshake.
fn connect_error(target: &Target, e: &hyper_util::client::legacy::Error) -> String {
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            // An I/O error without an OS error number comes from the TLS layer above TCP.
            if let (None, Some(tls)) = (io.raw_os_error(), io.get_ref()) {
                return format!("SSL handshaking with {} failed: {tls}", target.host_port());
            }
            return format!("connect({}) failed: {}", target.host_port(), strerror(io));
        }
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return format!("SSL handshaking with {} failed: {tls}", target.host_port());
        }
        source = err.source();
    }
    format!("connect({}) failed: {}", target.host_port(), error_chain(e))
}

/// The C library's text for an I/O error, without Rust's ` (os error N)` suffix.
fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(err) = source {
        text.push_str(": ");
        text.push_str(&err.to_string());
        source = err.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_delta_and_date() {
        assert_eq!(retry_after_secs("1"), Some(1));
        assert_eq!(retry_after_secs(" 5 "), Some(5));
        assert_eq!(retry_after_secs("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(retry_after_secs("soon"), None);
    }

    #[test]
    fn strerror_drops_the_os_error_number() {
        let e = std::io::Error::from_raw_os_error(111);
        assert_eq!(strerror(&e), "Connection refused");
    }
}
