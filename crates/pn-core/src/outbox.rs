//! The outbox: where drivers put the network work a notification needs.
//!
//! Drivers never talk to the network from inside a mail transaction. They enqueue an
//! [`OutboxItem`]; a dispatcher delivers it on its own schedule, so a slow or dead endpoint
//! never delays mail and (with a durable outbox) nothing is lost. This crate has the interface
//! and an in-memory implementation; a durable one can replace it without touching a driver.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Identifies an enqueued item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OutboxId(pub u64);

/// The identity of one notification, given when it is created and kept across every retry,
/// restart and hand-over (durable outbox, JetStream): a UUIDv7, so ids sort by creation time.
/// Receivers de-duplicate on it (Standard Webhooks' `webhook-id`, NATS's `Nats-Msg-Id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub uuid::Uuid);

impl EventId {
    /// A fresh id for a notification created now.
    pub fn new() -> EventId {
        EventId(uuid::Uuid::now_v7())
    }

    /// Parses the hyphenated form [`EventId`]'s `Display` writes.
    pub fn parse(s: &str) -> Option<EventId> {
        uuid::Uuid::try_parse(s).ok().map(EventId)
    }
}

impl Default for EventId {
    fn default() -> EventId {
        EventId::new()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.as_hyphenated().fmt(f)
    }
}

/// How the dispatcher signs each attempt of a request. Signatures cover the attempt's own
/// timestamp, so they cannot be computed by the driver when it enqueues.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Signing {
    /// Standard Webhooks 1.0: the dispatcher adds `webhook-id` (the item's [`EventId`]),
    /// `webhook-timestamp` (the attempt's Unix seconds) and `webhook-signature` (one
    /// `v1,<base64 HMAC-SHA256("id.timestamp.body")>` per secret, space-separated, so a
    /// receiver holding either key verifies during a rotation).
    StandardWebhooks {
        /// The secrets, `whsec_` + base64 (the prefix is optional), newest first.
        secrets: Vec<String>,
    },
}

impl fmt::Debug for Signing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signing::StandardWebhooks { secrets } => f
                .debug_struct("StandardWebhooks")
                .field("keys", &format_args!("[{} masked]", secrets.len()))
                .finish(),
        }
    }
}

/// One HTTP request to send, exactly as the driver wants it on the wire.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// `PUT`, `POST`, …
    pub method: String,
    /// The URL, possibly with `user:password@` (never logged as is).
    pub url: String,
    /// Extra headers in the order they are to be sent.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Attempts in total before the request is given up (at least 1).
    pub max_attempts: u32,
    /// Time allowed per attempt, in milliseconds.
    pub timeout_msecs: u64,
    /// Per-attempt signing headers the dispatcher adds after `headers`, if any.
    #[serde(default)]
    pub signing: Option<Signing>,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &pn_config::mask_url_secrets(&self.url))
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .field("max_attempts", &self.max_attempts)
            .field("timeout_msecs", &self.timeout_msecs)
            .field("signing", &self.signing)
            .finish()
    }
}

/// What an item asks to be done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// Send an HTTP request.
    Http(HttpRequest),
}

/// One unit of work for the dispatcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// The notification's identity, stable across retries and restarts.
    pub event_id: EventId,
    /// The driver instance that produced it (e.g. `ox`), for routing and logs.
    pub driver: String,
    /// The user it is about.
    pub user: String,
    /// The work.
    pub payload: Payload,
}

impl OutboxItem {
    /// An item with a fresh [`EventId`].
    pub fn new(driver: impl Into<String>, user: impl Into<String>, payload: Payload) -> OutboxItem {
        OutboxItem {
            event_id: EventId::new(),
            driver: driver.into(),
            user: user.into(),
            payload,
        }
    }
}

/// Why an item could not be enqueued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboxError {
    /// The outbox is at its configured capacity.
    #[error("outbox is full ({capacity} items)")]
    Full {
        /// The capacity.
        capacity: usize,
    },
    /// The storage behind the outbox failed.
    #[error("outbox storage failed: {0}")]
    Storage(String),
}

/// Where drivers put network work. Implementations must be safe to call from any thread and
/// must not block on the network.
pub trait Outbox: Send + Sync {
    /// Accepts an item; once this returns `Ok`, delivering it is the outbox's responsibility.
    fn enqueue(&self, item: OutboxItem) -> Result<OutboxId, OutboxError>;

    /// Makes everything this handle enqueued durable, waiting for the storage's commit. The
    /// host calls it after the mail transaction committed and before it acknowledges the
    /// delivery (LMTP's `250`, `pn deliver`'s exit 0), so an acknowledged message's
    /// notifications survive a crash. Outboxes that keep nothing (memory) do nothing.
    fn commit(&self) -> Result<(), OutboxError> {
        Ok(())
    }
}

/// Called after every successful enqueue (see [`MemoryOutbox::set_waker`]).
type Waker = std::sync::Arc<dyn Fn() + Send + Sync>;

/// An in-memory FIFO outbox, optionally bounded.
#[derive(Default)]
pub struct MemoryOutbox {
    queue: Mutex<VecDeque<(OutboxId, OutboxItem)>>,
    next_id: AtomicU64,
    capacity: Option<usize>,
    waker: Mutex<Option<Waker>>,
}

impl fmt::Debug for MemoryOutbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryOutbox")
            .field("queue", &self.queue)
            .field("next_id", &self.next_id)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl MemoryOutbox {
    /// An unbounded outbox.
    pub fn new() -> MemoryOutbox {
        MemoryOutbox::default()
    }

    /// An outbox that refuses items beyond `capacity`.
    pub fn with_capacity(capacity: usize) -> MemoryOutbox {
        MemoryOutbox {
            capacity: Some(capacity),
            ..MemoryOutbox::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(OutboxId, OutboxItem)>> {
        // A panic while holding the lock cannot leave the queue half-modified (push/drain are
        // single calls), so a poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Removes and returns everything queued, oldest first.
    pub fn take_all(&self) -> Vec<(OutboxId, OutboxItem)> {
        self.lock().drain(..).collect()
    }

    /// Removes and returns up to `max` items, oldest first.
    pub fn take_up_to(&self, max: usize) -> Vec<(OutboxId, OutboxItem)> {
        let mut queue = self.lock();
        let n = max.min(queue.len());
        queue.drain(..n).collect()
    }

    /// Number of queued items.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Registers a function called after every successful [`Outbox::enqueue`] (outside the
    /// queue's lock), replacing any earlier one. A dispatcher uses it to wake up instead of
    /// polling, e.g. with `tokio::sync::Notify::notify_one`.
    pub fn set_waker(&self, waker: impl Fn() + Send + Sync + 'static) {
        *self.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(std::sync::Arc::new(waker));
    }
}

impl Outbox for MemoryOutbox {
    fn enqueue(&self, item: OutboxItem) -> Result<OutboxId, OutboxError> {
        let mut queue = self.lock();
        if let Some(capacity) = self.capacity
            && queue.len() >= capacity
        {
            return Err(OutboxError::Full { capacity });
        }
        let id = OutboxId(self.next_id.fetch_add(1, Ordering::Relaxed));
        queue.push_back((id, item));
        drop(queue);
        let waker = self.waker.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(waker) = waker {
            waker();
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: u8) -> OutboxItem {
        OutboxItem::new(
            "ox",
            "u",
            Payload::Http(HttpRequest {
                method: "PUT".into(),
                url: "http://login:secret@127.0.0.1/x".into(),
                headers: vec![],
                body: vec![n],
                max_attempts: 2,
                timeout_msecs: 2000,
                signing: Some(Signing::StandardWebhooks {
                    secrets: vec!["whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0".into()],
                }),
            }),
        )
    }

    #[test]
    fn fifo_with_increasing_ids() {
        let o = MemoryOutbox::new();
        let a = o.enqueue(item(1)).expect("enqueue");
        let b = o.enqueue(item(2)).expect("enqueue");
        assert!(a < b);
        let all = o.take_all();
        assert_eq!(all.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [a, b]);
        assert!(o.is_empty());
    }

    #[test]
    fn event_ids_are_unique_ordered_and_round_trip() {
        let a = EventId::new();
        let b = EventId::new();
        assert!(a < b);
        assert_eq!(EventId::parse(&a.to_string()), Some(a));
        let json = serde_json::to_string(&a).expect("json");
        assert_eq!(json, format!("\"{a}\""));
    }

    #[test]
    fn waker_runs_after_each_enqueue() {
        let o = MemoryOutbox::new();
        let calls = std::sync::Arc::new(AtomicU64::new(0));
        let seen = calls.clone();
        o.set_waker(move || {
            seen.fetch_add(1, Ordering::SeqCst);
        });
        o.enqueue(item(1)).expect("enqueue");
        o.enqueue(item(2)).expect("enqueue");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn bounded_outbox_refuses_when_full() {
        let o = MemoryOutbox::with_capacity(1);
        o.enqueue(item(1)).expect("first fits");
        assert_eq!(o.enqueue(item(2)), Err(OutboxError::Full { capacity: 1 }));
    }

    #[test]
    fn debug_never_shows_url_secrets() {
        let shown = format!("{:?}", item(1));
        assert!(!shown.contains("secret"), "{shown}");
        assert!(!shown.contains("whsec_"), "{shown}");
        assert!(shown.contains("http://login:***@127.0.0.1/x"), "{shown}");
    }
}
