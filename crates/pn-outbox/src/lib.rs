//! pn's durable outbox: a notification is stored (SQLite, WAL, `synchronous = FULL`) before
//! the delivery that caused it is acknowledged, then sent by a dispatcher — in `pn lmtp`, in
//! `pn dispatch`, or first by the `pn deliver` that stored it — until it arrives or becomes a
//! dead letter. See `docs/outbox.md` for the guarantee and the reasoning.
//!
//! * Producers: [`DurableOutbox::producer`] gives each delivery a [`Producer`] (pn-core's
//!   [`Outbox`]): `enqueue` stages, `commit` joins a **group commit** — one transaction and
//!   one fsync for every delivery committing at the same time (module `commit`).
//! * Consumers: [`DurableOutbox`] is a [`pn_dispatch::Queue`]: it leases due queue heads (one
//!   per user and endpoint, so each user's notifications to an endpoint go out in event
//!   order), and after a send applies the [`Policy`]: retry on the schedule with jitter,
//!   dead letter for permanent statuses and old items, the endpoint's circuit and disabling.
//! * Administration: [`Store`] answers `pn queue`.

mod commit;
mod error;
pub mod policy;
pub mod store;

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pn_core::{Outbox, OutboxError, OutboxId, OutboxItem};
use pn_dispatch::{Dispatcher, Leased, Outcome, Queue};
use tracing::{debug, error, info};

pub use commit::Producer;
pub use error::OutboxStoreError;
pub use policy::Policy;
pub use store::{LeasedRow, Store};

/// `tracing` target of the outbox's own lines.
pub const LOG_TARGET: &str = "pn_outbox";

/// How long a dispatcher holds a queue it is sending from. A holder that dies is noticed
/// sooner (its process is gone), so this only bounds a stuck but living process.
const LEASE: Duration = Duration::from_secs(600);

/// How often leasing also looks for queues held by processes that died.
const ORPHAN_CHECK: Duration = Duration::from_secs(2);

/// Longest wait before a queue refused by an open circuit is looked at again (a success of
/// the probe makes every queue of the endpoint due at once anyway).
const MAX_DEFER: Duration = Duration::from_secs(60);

/// Items of one queue handed out together (sent in order by one task, acked in one
/// transaction): the per-item bookkeeping would otherwise queue behind delivery commits.
const RUN: usize = 16;

type Waker = Arc<dyn Fn() + Send + Sync>;

/// In-memory view of an endpoint's health in this dispatcher.
#[derive(Debug, Default, Clone, Copy)]
struct Health {
    failures: u32,
    probing: bool,
}

/// The durable outbox of one database file, shared by every delivery of a process.
pub struct DurableOutbox {
    path: PathBuf,
    policy: Policy,
    store: Mutex<Option<Store>>,
    commits: commit::Group,
    waker: Mutex<Option<Waker>>,
    leased: Mutex<HashMap<u64, LeasedRow>>,
    health: Mutex<HashMap<String, Health>>,
    orphans_checked: Mutex<Option<Instant>>,
    random: RandomState,
}

impl std::fmt::Debug for DurableOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableOutbox")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its data consistent between statements.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DurableOutbox {
    /// The outbox in `path` (created on first use: opening costs nothing until something is
    /// committed or leased, so a process that never notifies never touches the file).
    pub fn new(path: impl Into<PathBuf>, policy: Policy) -> DurableOutbox {
        DurableOutbox {
            path: path.into(),
            policy,
            store: Mutex::new(None),
            commits: commit::Group::default(),
            waker: Mutex::new(None),
            leased: Mutex::new(HashMap::new()),
            health: Mutex::new(HashMap::new()),
            orphans_checked: Mutex::new(None),
            random: RandomState::new(),
        }
    }

    /// Opens the database now (a server checks it at start-up instead of at the first
    /// delivery).
    pub fn open_now(&self) -> Result<(), OutboxStoreError> {
        self.with_reader(|_| Ok(()))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A producer for one delivery. With `hold`, the items it commits that start a queue
    /// are held for that long so the producer's process can send them itself
    /// ([`Producer::send_held`]).
    pub fn producer(self: &Arc<Self>, hold: Option<Duration>) -> Producer {
        Producer::new(Arc::clone(self), hold)
    }

    /// The group commit's transactions: fsync'd (`synchronous = FULL`).
    fn with_writer<T>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, OutboxStoreError>,
    ) -> Result<T, OutboxStoreError> {
        self.with_store(true, f)
    }

    /// The dispatcher's bookkeeping (lease, ack, reschedule): not fsync'd on their own
    /// (`synchronous = NORMAL`) — the next commit's fsync covers them, since the WAL is
    /// written in order. Losing one to a power cut only means a notification is sent again.
    fn with_reader<T>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, OutboxStoreError>,
    ) -> Result<T, OutboxStoreError> {
        self.with_store(false, f)
    }

    /// One connection per process: two would contend for SQLite's write lock, whose busy
    /// handler sleeps (milliseconds at a time) instead of queueing.
    fn with_store<T>(
        &self,
        durable: bool,
        f: impl FnOnce(&mut Store) -> Result<T, OutboxStoreError>,
    ) -> Result<T, OutboxStoreError> {
        let mut guard = lock(&self.store);
        if guard.is_none() {
            *guard = Some(Store::open(&self.path)?);
        }
        match guard.as_mut() {
            Some(store) => {
                store.set_durable(durable)?;
                f(store)
            }
            None => Err(OutboxStoreError::Sql(rusqlite::Error::InvalidQuery)),
        }
    }

    fn wake(&self) {
        let waker = lock(&self.waker).clone();
        if let Some(w) = waker {
            w();
        }
    }

    fn random(&self) -> u64 {
        self.random.hash_one(Instant::now())
    }

    /// Records how a send of `row` ended: ack, or the policy's retry / dead letter, plus the
    /// endpoint's health.
    pub fn settle(&self, row: &LeasedRow, outcome: &Outcome) {
        let result = if outcome.success {
            self.with_reader(|s| s.ack(row)).map(|recovered| {
                let mut health = lock(&self.health);
                health.insert(row.endpoint.clone(), Health::default());
                if recovered {
                    info!(target: LOG_TARGET, endpoint = %row.endpoint, "endpoint recovered: sending its queued notifications");
                }
            })
        } else {
            self.record_failure(row, outcome)
        };
        if let Err(e) = result {
            error!(target: LOG_TARGET, event_id = %row.item.event_id, "cannot record the outcome of a notification (it will be sent again): {e}");
        }
    }

    fn record_failure(&self, row: &LeasedRow, outcome: &Outcome) -> Result<(), OutboxStoreError> {
        let age = store::now_ms().saturating_sub(
            self.with_reader(|s| s.item(&row.id.to_string()))?
                .map_or(0, |r| r.created_ms),
        );
        let permanent = self.policy.is_permanent(outcome.status);
        let too_old = Duration::from_millis(u64::try_from(age).unwrap_or(0)) > self.policy.max_age;
        let failures = self.with_reader(|s| s.failures(row.id))? + 1;
        let retry_in = self.policy.delay(failures, self.random());
        let failed =
            self.with_reader(|s| s.fail(row, &outcome.message, permanent || too_old, retry_in))?;
        {
            let mut health = lock(&self.health);
            let h = health.entry(row.endpoint.clone()).or_default();
            h.failures = failed.endpoint_failures;
            h.probing = false;
        }
        if failed.dead {
            let why = if permanent {
                "permanent failure"
            } else {
                "pn_retry_max_age reached"
            };
            error!(target: LOG_TARGET, event_id = %row.item.event_id, user = %row.item.user, endpoint = %row.endpoint, "notification is a dead letter ({why}): {}", outcome.message);
        } else {
            debug!(target: LOG_TARGET, event_id = %row.item.event_id, user = %row.item.user, endpoint = %row.endpoint, failures, "retrying in {retry_in:?}: {}", outcome.message);
        }
        let failing_for = store::now_ms().saturating_sub(failed.failing_since_ms);
        if Duration::from_millis(u64::try_from(failing_for).unwrap_or(0))
            >= self.policy.disable_after
        {
            self.with_reader(|s| s.disable_endpoint(&row.endpoint))?;
            error!(target: LOG_TARGET, endpoint = %row.endpoint, "endpoint disabled: failing for {}s (pn_endpoint_disable_after); its notifications wait until `pn queue endpoint enable {}`", failing_for / 1000, row.endpoint);
        }
        Ok(())
    }

    /// How many items of a queue of `endpoint` may be sent from now: a run of [`RUN`] while
    /// the circuit is closed; while open (`pn_endpoint_circuit_after` consecutive failures),
    /// one probe at a time for the whole endpoint.
    fn admit(&self, health: &mut HashMap<String, Health>, endpoint: &str) -> usize {
        let h = health.entry(endpoint.to_owned()).or_default();
        if h.failures < self.policy.circuit_after {
            return RUN;
        }
        if h.probing {
            return 0;
        }
        h.probing = true;
        1
    }

    fn lease_rows(&self, max: usize) -> Result<Vec<LeasedRow>, OutboxStoreError> {
        {
            let mut checked = lock(&self.orphans_checked);
            if checked.is_none_or(|t| t.elapsed() >= ORPHAN_CHECK) {
                *checked = Some(Instant::now());
                let n = self.with_reader(Store::release_orphans)?;
                if n > 0 {
                    info!(target: LOG_TARGET, "{n} queues held by processes that ended are due again");
                }
            }
        }
        if lock(&self.health).is_empty() {
            // A restarted dispatcher keeps the circuits it left.
            let known = self.with_reader(|s| s.endpoints())?;
            let mut health = lock(&self.health);
            for e in known {
                health.insert(
                    e.endpoint,
                    Health {
                        failures: e.failures,
                        probing: false,
                    },
                );
            }
        }
        let defer = self
            .policy
            .schedule
            .last()
            .copied()
            .unwrap_or(MAX_DEFER)
            .min(MAX_DEFER);
        let mut health = lock(&self.health);
        self.with_reader(|s| {
            s.lease(max, LEASE, self.policy.max_age, defer, |endpoint| {
                self.admit(&mut health, endpoint)
            })
        })
    }
}

impl Queue for DurableOutbox {
    fn lease(&self, max: usize) -> Vec<Leased> {
        match self.lease_rows(max) {
            Ok(rows) => {
                let mut leased = lock(&self.leased);
                rows.into_iter()
                    .map(|row| {
                        let lease = row.id.unsigned_abs();
                        let item = row.item.clone();
                        let sequence = Some(self.random.hash_one(&row.key));
                        leased.insert(lease, row);
                        Leased {
                            lease,
                            item,
                            sequence,
                        }
                    })
                    .collect()
            }
            Err(e) => {
                error!(target: LOG_TARGET, "cannot read the outbox {}: {e}", self.path.display());
                Vec::new()
            }
        }
    }

    fn ack(&self, leased: &Leased) {
        let row = lock(&self.leased).remove(&leased.lease);
        if let Some(row) = row {
            self.settle(
                &row,
                &Outcome {
                    success: true,
                    status: Some(200),
                    message: String::new(),
                    attempts: 1,
                },
            );
        }
    }

    fn fail(&self, leased: &Leased, outcome: &Outcome) {
        let row = lock(&self.leased).remove(&leased.lease);
        if let Some(row) = row {
            self.settle(&row, outcome);
        }
    }

    fn settle_run(&self, sent: &[Leased], failed: Option<(&Leased, &Outcome)>, unsent: &[Leased]) {
        let (rows, failed) = {
            let mut leased = lock(&self.leased);
            for u in unsent {
                leased.remove(&u.lease);
            }
            let rows: Vec<LeasedRow> = sent
                .iter()
                .filter_map(|l| leased.remove(&l.lease))
                .collect();
            let failed = failed.and_then(|(l, o)| leased.remove(&l.lease).map(|row| (row, o)));
            (rows, failed)
        };
        if !rows.is_empty() {
            // Held on while the failure after them is recorded, so no one leases it between.
            match self.with_reader(|s| s.ack_all(&rows, failed.is_none())) {
                Ok(recovered) => {
                    let mut health = lock(&self.health);
                    for row in &rows {
                        health.insert(row.endpoint.clone(), Health::default());
                    }
                    for endpoint in recovered {
                        info!(target: LOG_TARGET, endpoint = %endpoint, "endpoint recovered: sending its queued notifications");
                    }
                }
                Err(e) => {
                    error!(target: LOG_TARGET, "cannot record delivered notifications (they will be sent again): {e}");
                }
            }
        }
        if let Some((row, outcome)) = failed {
            self.settle(&row, outcome);
        }
    }

    fn set_waker(&self, waker: Arc<dyn Fn() + Send + Sync>) {
        *lock(&self.waker) = Some(waker);
    }

    fn poll_interval(&self) -> Option<Duration> {
        Some(self.policy.poll)
    }

    fn drain_on_shutdown(&self) -> bool {
        false
    }
}

/// Sends held rows (see [`Producer::send_held`]): per queue in order, queues in parallel,
/// for at most `wait`; what was not settled by then is released to the dispatcher.
pub(crate) fn send_rows(
    outbox: &DurableOutbox,
    dispatcher: &Dispatcher,
    rows: Vec<LeasedRow>,
    wait: Duration,
) {
    if rows.is_empty() {
        return;
    }
    let mut queues: Vec<Vec<LeasedRow>> = Vec::new();
    for row in rows {
        match queues.iter_mut().find(|q| q[0].key == row.key) {
            Some(q) => q.push(row),
            None => queues.push(vec![row]),
        }
    }
    let keys: Vec<String> = queues.iter().map(|q| q[0].key.clone()).collect();
    let work = async {
        let mut set = Vec::new();
        for queue in queues {
            set.push(async move {
                for row in queue {
                    let outcome = dispatcher.send(&row.item).await;
                    outbox.settle(&row, &outcome);
                    // A permanent failure became a dead letter and blocks nothing; any other
                    // failure keeps the rest of this queue behind it, for the dispatcher.
                    if !outcome.success && !outbox.policy.is_permanent(outcome.status) {
                        break;
                    }
                }
            });
        }
        join(set).await;
    };
    match dispatcher.block_on(async { tokio::time::timeout(wait, work).await }) {
        Ok(Ok(())) => {}
        Ok(Err(_)) => debug!(target: LOG_TARGET, "push wait over: the dispatcher sends the rest"),
        Err(e) => error!(target: LOG_TARGET, "{e}"),
    }
    if let Err(e) = outbox.with_reader(|s| s.release_mine(&keys)) {
        error!(target: LOG_TARGET, "cannot hand the notifications to the dispatcher: {e}");
    }
}

async fn join(futures: Vec<impl std::future::Future<Output = ()>>) {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for slot in &mut pinned {
            if let Some(f) = slot {
                if f.as_mut().poll(cx).is_ready() {
                    *slot = None;
                } else {
                    pending = true;
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
}

/// pn-core's producer interface over a shared [`DurableOutbox`] (see [`Producer`]).
impl Outbox for Producer {
    fn enqueue(&self, item: OutboxItem) -> Result<OutboxId, OutboxError> {
        Ok(self.stage(item))
    }

    fn commit(&self) -> Result<(), OutboxError> {
        self.commit_staged()
            .map_err(|e| OutboxError::Storage(e.to_string()))
    }
}

#[cfg(test)]
mod tests;
