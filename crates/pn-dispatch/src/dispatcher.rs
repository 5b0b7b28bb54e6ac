//! The dispatcher: takes items out of an outbox and delivers them.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use pn_core::{MemoryOutbox, OutboxItem, Payload};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tracing::{debug, error};

use crate::attempt::{self, Outcome, Pools};
use crate::{DispatchError, LOG_TARGET, tls};

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
    log: OutcomeLog,
}

/// Logs how an item's send ended, in the producing driver's words (see
/// [`Dispatcher::set_outcome_log`]).
pub type OutcomeLog = Arc<dyn Fn(&OutboxItem, &Outcome) + Send + Sync>;

/// Sends (single items or runs of one sequence) one [`Dispatcher::run`] has in flight at
/// most; the rest wait in their queue.
pub const MAX_IN_FLIGHT: usize = 256;

/// One item a [`Queue`] handed out to be sent.
#[derive(Debug, Clone)]
pub struct Leased {
    /// The queue's own handle for it (a row id, a sequence number, …).
    pub lease: u64,
    /// The item.
    pub item: OutboxItem,
    /// Items handed out together with the same sequence must be sent one after the other in
    /// the order given, stopping at the first failure (`None`: independent).
    pub sequence: Option<u64>,
}

/// The consumer side of an outbox, as the dispatcher sees it: the memory outbox, pn-outbox's
/// durable one, later a JetStream consumer. What a failure means (retry later, dead letter,
/// forget) is the queue's decision, not the dispatcher's.
pub trait Queue: Send + Sync + 'static {
    /// Up to `max` items that are due now, each handed out once until it is acked or
    /// failed. May block (the dispatcher calls it on a blocking thread).
    fn lease(&self, max: usize) -> Vec<Leased>;
    /// The item was delivered.
    fn ack(&self, leased: &Leased);
    /// The send failed after the driver's own attempts.
    fn fail(&self, leased: &Leased, outcome: &Outcome);
    /// How one sequence of items ended (see [`Leased::sequence`]): `sent` were delivered, in
    /// order; then `failed` (if any) failed; `unsent` were not tried. The default records each
    /// with [`Queue::ack`] and [`Queue::fail`]; a queue may do it in one transaction.
    fn settle_run(&self, sent: &[Leased], failed: Option<(&Leased, &Outcome)>, unsent: &[Leased]) {
        for l in sent {
            self.ack(l);
        }
        if let Some((l, outcome)) = failed {
            self.fail(l, outcome);
        }
        let _ = unsent;
    }
    /// Registers a function to call when items were added (replacing any earlier one).
    fn set_waker(&self, waker: Arc<dyn Fn() + Send + Sync>);
    /// How often to look for due items without being woken (`None`: only when woken).
    fn poll_interval(&self) -> Option<std::time::Duration> {
        None
    }
    /// Whether [`Dispatcher::run`] sends what is still queued when it is shut down (a queue
    /// that forgets everything on exit) or leaves it for the next run (a durable one).
    fn drain_on_shutdown(&self) -> bool {
        true
    }
}

/// Fire and forget, exactly as Dovecot: every item is handed out once; failures are logged
/// by the dispatcher and then forgotten.
impl Queue for MemoryOutbox {
    fn lease(&self, max: usize) -> Vec<Leased> {
        self.take_up_to(max)
            .into_iter()
            .map(|(id, item)| Leased {
                lease: id.0,
                item,
                sequence: None,
            })
            .collect()
    }

    fn ack(&self, _leased: &Leased) {}

    fn fail(&self, _leased: &Leased, _outcome: &Outcome) {}

    fn set_waker(&self, waker: Arc<dyn Fn() + Send + Sync>) {
        MemoryOutbox::set_waker(self, move || waker());
    }
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
            log: Arc::new(log_outcome),
        })
    }

    /// Replaces how outcomes are logged. The default logs `Notification sent successfully: …`
    /// at debug and `Error when sending notification: …` at error under [`LOG_TARGET`]; a host
    /// installs one that logs each driver's items under that driver's target (ox:
    /// `push-notification-ox`), which `tracing` needs as a constant.
    pub fn set_outcome_log(&mut self, log: OutcomeLog) {
        self.log = log;
    }

    /// Delivers one item with all its attempts (the driver's own rules, [`attempt`]) and logs
    /// the result through the outcome log.
    pub async fn send(&self, item: &OutboxItem) -> Outcome {
        let outcome = match &item.payload {
            Payload::Http(req) => attempt::send(&self.pools, &item.event_id, req).await,
        };
        (self.log)(item, &outcome);
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

    /// Runs until `shutdown` completes: leases due items from `queue` (woken by
    /// [`Queue::set_waker`], which this replaces, and every [`Queue::poll_interval`]), sends
    /// each independent item or sequence ([`Leased::sequence`]) in its own task, at most
    /// [`MAX_IN_FLIGHT`] at once, and reports the outcomes back ([`Queue::settle_run`]). After `shutdown` it sends what is still queued when
    /// the queue asks for that ([`Queue::drain_on_shutdown`], the memory outbox) and waits for
    /// every request in flight.
    pub async fn run<Q: Queue>(self: Arc<Self>, queue: Arc<Q>, shutdown: impl Future<Output = ()>) {
        let notify = Arc::new(Notify::new());
        let waker = notify.clone();
        queue.set_waker(Arc::new(move || waker.notify_one()));
        let poll = queue.poll_interval();
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            self.spawn_due(&queue, &mut tasks).await;
            let tick = async {
                match poll {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = notify.notified() => {}
                () = tick => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        if queue.drain_on_shutdown() {
            loop {
                let before = tasks.len();
                self.spawn_due(&queue, &mut tasks).await;
                if tasks.len() == before {
                    break;
                }
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    async fn spawn_due<Q: Queue>(self: &Arc<Self>, queue: &Arc<Q>, tasks: &mut JoinSet<()>) {
        let room = MAX_IN_FLIGHT.saturating_sub(tasks.len());
        if room == 0 {
            return;
        }
        let q = Arc::clone(queue);
        // Queues may do blocking I/O (a database): keep it off the runtime's workers.
        let leased = tokio::task::spawn_blocking(move || q.lease(room))
            .await
            .unwrap_or_default();
        // Sequences in the order leased; independent items each on their own.
        let mut runs: Vec<Vec<Leased>> = Vec::new();
        for l in leased {
            match l.sequence {
                Some(seq) => match runs
                    .iter_mut()
                    .find(|r| r.first().and_then(|f| f.sequence) == Some(seq))
                {
                    Some(run) => run.push(l),
                    None => runs.push(vec![l]),
                },
                None => runs.push(vec![l]),
            }
        }
        for run in runs {
            let me = Arc::clone(self);
            let q = Arc::clone(queue);
            tasks.spawn(async move {
                let mut sent = Vec::new();
                let mut failed = None;
                let mut items = run.into_iter();
                for l in items.by_ref() {
                    let outcome = me.send(&l.item).await;
                    if outcome.success {
                        sent.push(l);
                    } else {
                        failed = Some((l, outcome));
                        break;
                    }
                }
                let unsent: Vec<Leased> = items.collect();
                let _ = tokio::task::spawn_blocking(move || {
                    q.settle_run(&sent, failed.as_ref().map(|(l, o)| (l, o)), &unsent);
                })
                .await;
            });
        }
    }

    /// Runs `future` to completion on the dispatcher's own runtime, for one-shot processes
    /// (do not call it from inside a tokio runtime).
    pub fn block_on<F: Future>(&self, future: F) -> Result<F::Output, DispatchError> {
        Ok(self.runtime()?.block_on(future))
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
    if outcome.success {
        debug!(target: LOG_TARGET, driver = %item.driver, user = %item.user, event_id = %item.event_id, "Notification sent successfully: {}", outcome.message);
    } else {
        error!(target: LOG_TARGET, driver = %item.driver, user = %item.user, event_id = %item.event_id, "Error when sending notification: {}", outcome.message);
    }
}
