//! The dispatcher: takes items out of an outbox and delivers them.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use pn_core::{MemoryOutbox, OutboxItem, Payload};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tracing::{debug, error};

use crate::attempt::{self, Outcome, Pools};
use crate::{DispatchError, LOG_TARGET, OX_LOG_TARGET, tls};

/// Dispatcher settings: Dovecot's `ssl_client_*` settings that apply to outgoing HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchConfig {
    /// `ssl_client_ca_file`: PEM file of extra trusted CAs.
    pub ssl_client_ca_file: Option<PathBuf>,
    /// `ssl_client_ca_dir`: directory of PEM files of extra trusted CAs.
    pub ssl_client_ca_dir: Option<PathBuf>,
    /// Trust the system's CA store too (the default; tests turn it off).
    pub system_roots: bool,
    /// Connections open at once to one origin (`pn_http_client_max_parallel_connections`,
    /// default [`attempt::DEFAULT_MAX_CONNECTIONS_PER_ORIGIN`]).
    pub max_connections_per_origin: usize,
    /// Connections open at once to all origins (`pn_http_client_max_connections`, default
    /// [`attempt::DEFAULT_MAX_CONNECTIONS`]).
    pub max_connections: usize,
}

impl Default for DispatchConfig {
    fn default() -> DispatchConfig {
        DispatchConfig {
            ssl_client_ca_file: None,
            ssl_client_ca_dir: None,
            system_roots: true,
            max_connections_per_origin: attempt::DEFAULT_MAX_CONNECTIONS_PER_ORIGIN,
            max_connections: attempt::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl DispatchConfig {
    /// Reads `ssl_client_ca_file`, `ssl_client_ca_dir` and the connection limits
    /// (`pn_http_client_max_parallel_connections`, `pn_http_client_max_connections`) through
    /// `get` (e.g. the effective settings of the protocol). Empty values count as unset; a
    /// leading `<` (Dovecot's "read from file" marker) is accepted; a limit that is not a
    /// positive number is the default.
    pub fn from_settings(get: impl Fn(&str) -> Option<String>) -> DispatchConfig {
        let path = |key: &str| {
            get(key)
                .map(|v| v.trim_start_matches('<').trim().to_owned())
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let limit = |key: &str, default: usize| {
            get(key)
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|&n| n > 0)
                .unwrap_or(default)
        };
        DispatchConfig {
            ssl_client_ca_file: path("ssl_client_ca_file"),
            ssl_client_ca_dir: path("ssl_client_ca_dir"),
            system_roots: true,
            max_connections_per_origin: limit(
                "pn_http_client_max_parallel_connections",
                attempt::DEFAULT_MAX_CONNECTIONS_PER_ORIGIN,
            ),
            max_connections: limit(
                "pn_http_client_max_connections",
                attempt::DEFAULT_MAX_CONNECTIONS,
            ),
        }
    }
}

/// Delivers [`OutboxItem`]s. Holds one connection pool per origin for its whole life, so
/// keep one per process (or per configured driver URL set) and share it.
pub struct Dispatcher {
    pools: Pools,
    blocking: OnceLock<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// A dispatcher with these TLS settings. Fails only when a configured CA file or
    /// directory cannot be read.
    pub fn new(config: &DispatchConfig) -> Result<Dispatcher, DispatchError> {
        let tls = tls::client_config(
            config.ssl_client_ca_file.as_deref(),
            config.ssl_client_ca_dir.as_deref(),
            config.system_roots,
        )?;
        Ok(Dispatcher {
            pools: Pools::new(
                tls,
                config.max_connections_per_origin,
                config.max_connections,
            ),
            blocking: OnceLock::new(),
        })
    }

    /// Delivers one item with all its attempts and logs the result the way the producing
    /// driver would (ox: `Notification sent successfully: …` at debug,
    /// `Error when sending notification: …` at error, under `push-notification-ox`).
    pub async fn send(&self, item: &OutboxItem) -> Outcome {
        let outcome = match &item.payload {
            Payload::Http(req) => attempt::send(&self.pools, &item.event_id, req).await,
        };
        log_outcome(item, &outcome);
        outcome
    }

    /// For one-shot processes (`pn deliver`): sends everything queued in `outbox`, all
    /// requests in parallel, and returns when each has succeeded or been given up, in queue
    /// order. Items queued meanwhile are sent too.
    ///
    /// Uses a runtime of its own; do not call it from inside a tokio runtime (use
    /// [`Dispatcher::send`] there).
    pub fn drain_blocking(&self, outbox: &MemoryOutbox) -> Vec<Outcome> {
        if outbox.is_empty() {
            return Vec::new();
        }
        let runtime = match self.runtime() {
            Ok(rt) => rt,
            Err(e) => {
                error!(target: LOG_TARGET, "{e}");
                return Vec::new();
            }
        };
        let mut outcomes = Vec::new();
        loop {
            let items = outbox.take_all();
            if items.is_empty() {
                return outcomes;
            }
            let sends = items.iter().map(|(_, item)| self.send(item));
            outcomes.extend(runtime.block_on(join_all(sends)));
        }
    }

    /// Runs until `shutdown` completes: waits for items in `outbox` (woken by
    /// [`MemoryOutbox::set_waker`], which this replaces) and sends each in its own task.
    /// After `shutdown`, sends what is still queued and waits for every request in flight.
    pub async fn run(
        self: Arc<Self>,
        outbox: Arc<MemoryOutbox>,
        shutdown: impl Future<Output = ()>,
    ) {
        let notify = Arc::new(Notify::new());
        let waker = notify.clone();
        outbox.set_waker(move || waker.notify_one());
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            for (_, item) in outbox.take_all() {
                let me = self.clone();
                tasks.spawn(async move {
                    me.send(&item).await;
                });
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = notify.notified() => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        for (_, item) in outbox.take_all() {
            let me = self.clone();
            tasks.spawn(async move {
                me.send(&item).await;
            });
        }
        while tasks.join_next().await.is_some() {}
    }

    fn runtime(&self) -> Result<&tokio::runtime::Runtime, DispatchError> {
        if let Some(rt) = self.blocking.get() {
            return Ok(rt);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(DispatchError::Runtime)?;
        Ok(self.blocking.get_or_init(|| rt))
    }
}

/// Polls all futures concurrently on the current task and returns their outputs in order.
async fn join_all<F: Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, fut) in out.iter_mut().zip(pinned.iter_mut()) {
            if slot.is_none() {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

fn log_outcome(item: &OutboxItem, outcome: &Outcome) {
    let ox = item.driver.eq_ignore_ascii_case("ox");
    match (ox, outcome.success) {
        (true, true) => {
            debug!(target: OX_LOG_TARGET, user = %item.user, "Notification sent successfully: {}", outcome.message);
        }
        (true, false) => {
            error!(target: OX_LOG_TARGET, user = %item.user, "Error when sending notification: {}", outcome.message);
        }
        (false, true) => {
            debug!(target: LOG_TARGET, driver = %item.driver, user = %item.user, "Notification sent successfully: {}", outcome.message);
        }
        (false, false) => {
            error!(target: LOG_TARGET, driver = %item.driver, user = %item.user, "Error when sending notification: {}", outcome.message);
        }
    }
}
