//! Prometheus metrics of the long-running commands (`pn lmtp`, `pn dispatch`), served on
//! `pn_metrics_listen` in the OpenMetrics text format (see `docs/operations.md`).
//!
//! Conventions: one prefix `pn_`, base units (seconds), `_total` counters, label combinations
//! known in advance initialised to 0 so a rate() has a series before the first event. Labels
//! never carry user names, addresses or URLs: an endpoint is its origin
//! (`scheme://host:port`), with any userinfo cut off.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pn_dispatch::{Leased, Outcome, Queue};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// An LMTP delivery's result per recipient: `delivered` (250), `tempfail` (4xx: the MTA
/// retries), `permfail` (5xx: bounced).
const DELIVERY_RESULTS: [&str; 3] = ["delivered", "tempfail", "permfail"];

/// How a push request ended: a `2xx` answer, another HTTP status, or no answer at all
/// (connect, TLS, timeout).
const PUSH_OUTCOMES: [&str; 3] = ["success", "http_error", "connect_error"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PushLabels {
    driver: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DriverLabels {
    driver: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

type HistogramFamily = Family<DriverLabels, Histogram, fn() -> Histogram>;

fn push_histogram() -> Histogram {
    // 5 ms … ~20 s: a local receiver answers in milliseconds, lib-http's timeout is 60 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

/// Every metric of one process.
pub(crate) struct Metrics {
    registry: Registry,
    deliveries: Family<ResultLabels, Counter>,
    sessions: Counter,
    sessions_active: Gauge,
    pushes: Family<PushLabels, Counter>,
    push_seconds: HistogramFamily,
    queued: Gauge,
    oldest: Gauge<f64, AtomicU64>,
    dead: Gauge,
    endpoints: Family<EndpointLabels, Gauge>,
    /// The durable outbox whose depth is read at each scrape.
    outbox: Option<PathBuf>,
}

impl Metrics {
    /// The registry, with `drivers` (the configured driver names) pre-initialised; the LMTP
    /// metrics only for `pn lmtp`, the outbox's only with a durable `outbox`.
    pub(crate) fn new(drivers: &[String], outbox: Option<PathBuf>, lmtp: bool) -> Metrics {
        let mut registry = Registry::with_prefix("pn");
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
            })
            .set(1);
        registry.register("build_info", "pn's version (always 1)", build);
        let deliveries = Family::<ResultLabels, Counter>::default();
        for result in DELIVERY_RESULTS {
            let _ = deliveries.get_or_create(&ResultLabels { result });
        }
        let sessions = Counter::default();
        let sessions_active = Gauge::default();
        if lmtp {
            registry.register(
                "lmtp_deliveries",
                "LMTP deliveries per recipient, by result",
                deliveries.clone(),
            );
            registry.register("lmtp_sessions", "LMTP sessions accepted", sessions.clone());
            registry.register(
                "lmtp_sessions_active",
                "LMTP sessions open now",
                sessions_active.clone(),
            );
        }
        let pushes = Family::<PushLabels, Counter>::default();
        let push_seconds = HistogramFamily::new_with_constructor(push_histogram);
        for driver in drivers {
            for outcome in PUSH_OUTCOMES {
                let _ = pushes.get_or_create(&PushLabels {
                    driver: driver.clone(),
                    outcome,
                });
            }
            let _ = push_seconds.get_or_create(&DriverLabels {
                driver: driver.clone(),
            });
        }
        registry.register(
            "pushes",
            "Push requests ended, by driver and outcome (each after its retries within one attempt)",
            pushes.clone(),
        );
        registry.register_with_unit(
            "push_duration",
            "Time from taking a notification off the queue to its outcome",
            prometheus_client::registry::Unit::Seconds,
            push_seconds.clone(),
        );
        let queued = Gauge::default();
        let oldest = Gauge::<f64, AtomicU64>::default();
        let dead = Gauge::default();
        let endpoints = Family::<EndpointLabels, Gauge>::default();
        if outbox.is_some() {
            registry.register(
                "outbox_queued",
                "Notifications waiting in the durable outbox",
                queued.clone(),
            );
            registry.register_with_unit(
                "outbox_oldest_age",
                "Age of the oldest waiting notification (0 when none)",
                prometheus_client::registry::Unit::Seconds,
                oldest.clone(),
            );
            registry.register(
                "outbox_dead_letters",
                "Dead letters in the durable outbox",
                dead.clone(),
            );
            registry.register(
                "outbox_endpoint_state",
                "1 for the state (ok, failing, disabled) of each endpoint the outbox tracks (one that failed since its last success, or disabled)",
                endpoints.clone(),
            );
        }
        Metrics {
            registry,
            deliveries,
            sessions,
            sessions_active,
            pushes,
            push_seconds,
            queued,
            oldest,
            dead,
            endpoints,
            outbox,
        }
    }

    /// One LMTP delivery's reply code.
    pub(crate) fn delivery(&self, code: u16) {
        let result = match code {
            200..=299 => DELIVERY_RESULTS[0],
            400..=499 => DELIVERY_RESULTS[1],
            _ => DELIVERY_RESULTS[2],
        };
        self.deliveries
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// An LMTP session began.
    pub(crate) fn session_opened(&self) {
        self.sessions.inc();
        self.sessions_active.inc();
    }

    /// An LMTP session ended.
    pub(crate) fn session_closed(&self) {
        self.sessions_active.dec();
    }

    fn push(&self, driver: &str, outcome: Option<&Outcome>, elapsed: Duration) {
        let outcome = match outcome {
            None => PUSH_OUTCOMES[0],
            Some(o) if o.status.is_some() => PUSH_OUTCOMES[1],
            Some(_) => PUSH_OUTCOMES[2],
        };
        let driver = driver.to_owned();
        self.push_seconds
            .get_or_create(&DriverLabels {
                driver: driver.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.pushes
            .get_or_create(&PushLabels { driver, outcome })
            .inc();
    }

    /// Reads the durable outbox's depth (blocking: a database query).
    fn refresh_outbox(&self) {
        let Some(path) = &self.outbox else {
            return;
        };
        let store = match pn_outbox::store::Store::open(path) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("metrics: cannot read the outbox: {e}");
                return;
            }
        };
        match store.stats() {
            Ok(s) => {
                self.queued.set(s.queued);
                self.dead.set(s.dead);
                self.oldest
                    .set(s.oldest_ms.map_or(0.0, |ms| ms as f64 / 1000.0));
            }
            Err(e) => tracing::warn!("metrics: cannot read the outbox: {e}"),
        }
        if let Ok(rows) = store.endpoints() {
            self.endpoints.clear();
            for row in rows {
                let state = if row.disabled_ms.is_some() {
                    "disabled"
                } else if row.failures > 0 {
                    "failing"
                } else {
                    "ok"
                };
                for s in ["ok", "failing", "disabled"] {
                    self.endpoints
                        .get_or_create(&EndpointLabels {
                            endpoint: mask(&row.endpoint),
                            state: s.to_owned(),
                        })
                        .set(i64::from(s == state));
                }
            }
        }
    }

    /// The OpenMetrics text of every metric.
    pub(crate) fn render(&self) -> String {
        self.refresh_outbox();
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!("metrics: encoding failed: {e}");
        }
        out
    }
}

/// An origin with any `user:password@` removed (origins carry none, but a label must never
/// leak one).
fn mask(endpoint: &str) -> String {
    match endpoint.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://{host}"),
            None => endpoint.to_owned(),
        },
        None => endpoint.to_owned(),
    }
}

/// A queue that counts what the dispatcher settles through it.
pub(crate) struct Observed<Q> {
    inner: Arc<Q>,
    metrics: Arc<Metrics>,
    leased_at: Mutex<HashMap<u64, Instant>>,
}

impl<Q> Observed<Q> {
    /// `inner`, observed into `metrics`.
    pub(crate) fn new(inner: Arc<Q>, metrics: Arc<Metrics>) -> Observed<Q> {
        Observed {
            inner,
            metrics,
            leased_at: Mutex::new(HashMap::new()),
        }
    }

    fn settled(&self, leased: &Leased, outcome: Option<&Outcome>) {
        let started = self
            .leased_at
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&leased.lease));
        let elapsed = started.map_or(Duration::ZERO, |s| s.elapsed());
        self.metrics.push(&leased.item.driver, outcome, elapsed);
    }
}

impl<Q: Queue> Queue for Observed<Q> {
    fn lease(&self, max: usize) -> Vec<Leased> {
        let leased = self.inner.lease(max);
        if let Ok(mut m) = self.leased_at.lock() {
            let now = Instant::now();
            for l in &leased {
                m.insert(l.lease, now);
            }
        }
        leased
    }

    fn ack(&self, leased: &Leased) {
        self.inner.ack(leased);
        self.settled(leased, None);
    }

    fn fail(&self, leased: &Leased, outcome: &Outcome) {
        self.inner.fail(leased, outcome);
        self.settled(leased, Some(outcome));
    }

    fn set_waker(&self, waker: Arc<dyn Fn() + Send + Sync>) {
        self.inner.set_waker(waker);
    }

    fn poll_interval(&self) -> Option<Duration> {
        self.inner.poll_interval()
    }

    fn drain_on_shutdown(&self) -> bool {
        self.inner.drain_on_shutdown()
    }
}

/// `pn_metrics_listen`: `None` when empty (the default: metrics are off).
pub(crate) fn listen_address(setting: Option<String>) -> Result<Option<SocketAddr>, String> {
    let Some(v) = setting
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    let addr: SocketAddr = v.parse().map_err(|_| {
        format!("Invalid setting pn_metrics_listen = {v:?}: expected IP:PORT, e.g. 127.0.0.1:9180")
    })?;
    if !addr.ip().is_loopback() {
        tracing::warn!(
            "pn_metrics_listen = {addr} is not a loopback address: anyone who reaches it can read the metrics"
        );
    }
    Ok(Some(addr))
}

/// The driver names configured (`push_notification_driver`, `…2`, …): `ox:url=…` → `ox`.
pub(crate) fn driver_names(get: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let mut names = Vec::new();
    for i in 1..=32 {
        let key = if i == 1 {
            "push_notification_driver".to_owned()
        } else {
            format!("push_notification_driver{i}")
        };
        let Some(line) = get(&key) else {
            continue;
        };
        let name = line.split(':').next().unwrap_or("").trim().to_owned();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Binds `pn_metrics_listen` when set (before privileges are dropped, like the listeners).
pub(crate) fn bind_setting(
    session: &crate::session::Session,
    command: &str,
) -> Result<Option<std::net::TcpListener>, crate::exit::Failure> {
    let Some(addr) = listen_address(session.setting("pn_metrics_listen")).map_err(|e| {
        crate::exit::Failure::new(crate::exit::EX_USAGE, format!("pn {command}: Fatal: {e}"))
    })?
    else {
        return Ok(None);
    };
    let l = bind(addr).map_err(|e| {
        crate::exit::Failure::new(
            crate::exit::EX_TEMPFAIL,
            format!("pn {command}: Fatal: listen({addr}) failed (pn_metrics_listen): {e}"),
        )
    })?;
    if let Ok(a) = l.local_addr() {
        tracing::info!("pn {command} serving metrics on http://{a}/metrics");
    }
    Ok(Some(l))
}

/// Binds `addr` (before privileges are dropped) for [`serve`].
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Answers `GET /metrics` until the runtime ends.
pub(crate) async fn serve(listener: std::net::TcpListener, metrics: Arc<Metrics>) {
    use http_body_util::Full;
    use hyper::body::{Bytes, Incoming};
    use hyper::{Request, Response};
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("metrics: {e}");
            return;
        }
    };
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("metrics: accept() failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let metrics = Arc::clone(&metrics);
                async move {
                    let mut response = if req.uri().path() == "/metrics" {
                        let body = tokio::task::spawn_blocking(move || metrics.render())
                            .await
                            .unwrap_or_default();
                        let mut r = Response::new(Full::new(Bytes::from(body)));
                        if let Ok(v) = hyper::header::HeaderValue::from_str(
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        ) {
                            r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
                        }
                        r
                    } else {
                        Response::new(Full::new(Bytes::from_static(b"see /metrics\n")))
                    };
                    if req.uri().path() != "/metrics" {
                        *response.status_mut() = hyper::StatusCode::NOT_FOUND;
                    }
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_userinfo() {
        assert_eq!(mask("https://u:p@h:443"), "https://h:443");
        assert_eq!(mask("http://h:80"), "http://h:80");
    }

    #[test]
    fn listen_default_off() {
        assert_eq!(listen_address(None), Ok(None));
        assert_eq!(listen_address(Some(" ".into())), Ok(None));
        assert!(listen_address(Some("nope".into())).is_err());
    }
}
