//! Group commit: every delivery committing at the same moment shares one SQLite transaction
//! and so one fsync. The first committer becomes the leader and writes everything queued
//! meanwhile; the others wait for its result. A failed transaction fails every delivery in
//! it (nothing of it is stored: SQLite rolls it back), and each answers 4xx.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use pn_core::{OutboxId, OutboxItem};
use pn_dispatch::Dispatcher;

use crate::{DurableOutbox, LeasedRow, OutboxStoreError, lock};

type Outcome = Result<Vec<LeasedRow>, String>;

#[derive(Default)]
struct Slot {
    result: Mutex<Option<Outcome>>,
    done: Condvar,
}

impl Slot {
    fn set(&self, outcome: Outcome) {
        *lock(&self.result) = Some(outcome);
        self.done.notify_all();
    }

    fn wait(&self) -> Outcome {
        let mut guard = lock(&self.result);
        loop {
            if let Some(r) = guard.take() {
                return r;
            }
            guard = self.done.wait(guard).unwrap_or_else(|p| p.into_inner());
        }
    }
}

type Pending = (Vec<OutboxItem>, Option<Duration>, Arc<Slot>);

/// The commits waiting for the leader.
#[derive(Default)]
pub(crate) struct Group {
    state: Mutex<GroupState>,
}

#[derive(Default)]
struct GroupState {
    pending: Vec<Pending>,
    leading: bool,
}

impl Group {
    fn commit(
        &self,
        outbox: &DurableOutbox,
        items: Vec<OutboxItem>,
        hold: Option<Duration>,
    ) -> Outcome {
        let slot = Arc::new(Slot::default());
        let mut state = lock(&self.state);
        state.pending.push((items, hold, Arc::clone(&slot)));
        if state.leading {
            drop(state);
            return slot.wait();
        }
        state.leading = true;
        loop {
            let batch = std::mem::take(&mut state.pending);
            if batch.is_empty() {
                state.leading = false;
                break;
            }
            drop(state);
            let (entries, slots): (Vec<_>, Vec<_>) = batch
                .into_iter()
                .map(|(items, hold, slot)| ((items, hold), slot))
                .unzip();
            match outbox.with_writer(|s| s.insert(&entries, outbox.policy.circuit_after)) {
                Ok(held) => {
                    for (slot, held) in slots.iter().zip(held) {
                        slot.set(Ok(held));
                    }
                }
                Err(e) => {
                    let text = e.to_string();
                    for slot in &slots {
                        slot.set(Err(text.clone()));
                    }
                }
            }
            state = lock(&self.state);
        }
        drop(state);
        slot.wait()
    }
}

/// One delivery's handle on the [`DurableOutbox`]: pn-core's `Outbox`. `enqueue` only stages
/// (a driver's hook never waits for a disk); `commit` makes the staged items durable with
/// everyone else's, then wakes the process's dispatcher.
pub struct Producer {
    outbox: Arc<DurableOutbox>,
    hold: Option<Duration>,
    staged: Mutex<Vec<OutboxItem>>,
    held: Mutex<Vec<LeasedRow>>,
    next: AtomicU64,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("outbox", &self.outbox)
            .finish_non_exhaustive()
    }
}

impl Producer {
    pub(crate) fn new(outbox: Arc<DurableOutbox>, hold: Option<Duration>) -> Producer {
        Producer {
            outbox,
            hold,
            staged: Mutex::new(Vec::new()),
            held: Mutex::new(Vec::new()),
            next: AtomicU64::new(0),
        }
    }

    pub(crate) fn stage(&self, item: OutboxItem) -> OutboxId {
        lock(&self.staged).push(item);
        OutboxId(self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// Items staged and not yet committed.
    pub fn staged_len(&self) -> usize {
        lock(&self.staged).len()
    }

    /// Commits what is staged (nothing to do when nothing is).
    pub fn commit_staged(&self) -> Result<(), OutboxStoreError> {
        let items = std::mem::take(&mut *lock(&self.staged));
        if items.is_empty() {
            return Ok(());
        }
        match self.outbox.commits.commit(&self.outbox, items, self.hold) {
            Ok(held) => {
                lock(&self.held).extend(held);
                self.outbox.wake();
                Ok(())
            }
            Err(text) => Err(OutboxStoreError::Commit(text)),
        }
    }

    /// Whether this producer holds committed items to send itself.
    pub fn holds_any(&self) -> bool {
        !lock(&self.held).is_empty()
    }

    /// Sends the items this producer holds (those that started a queue; see
    /// [`DurableOutbox::producer`]) for at most `wait`, recording each outcome; whatever is
    /// left goes to the dispatcher at once.
    pub fn send_held(&self, dispatcher: &Dispatcher, wait: Duration) {
        let rows = std::mem::take(&mut *lock(&self.held));
        crate::send_rows(&self.outbox, dispatcher, rows, wait);
    }
}
