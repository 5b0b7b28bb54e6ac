//! `pn worker`: pulls notifications from the shared durable consumer, sends each with the
//! driver's own attempts ([`Dispatcher::send`]), acks on success, NAKs with the retry
//! schedule's delay on failure, and moves permanent failures and items older than
//! `pn_retry_max_age` to the dead-letter stream.
//!
//! Endpoint health (pn-outbox's circuit breaker) is not shared between workers: each
//! worker's NAK delays follow the item's delivery count, which JetStream keeps for all of
//! them (docs/scale-out.md).

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind};
use futures_util::StreamExt;
use pn_dispatch::Dispatcher;
use pn_outbox::Policy;
use tokio::sync::Semaphore;
use tracing::{debug, error, info, warn};

use crate::error::js;
use crate::{LOG_TARGET, NatsConfig, NatsError, decode, setup};

/// Counts of one worker's run.
#[derive(Debug, Default)]
pub struct Counters {
    /// Delivered and acked.
    pub sent: AtomicU64,
    /// Failed and NAKed for a retry.
    pub retried: AtomicU64,
    /// Moved to the dead letters.
    pub dead: AtomicU64,
}

/// Runs a worker until `shutdown` completes; sends in flight then finish and are acked.
/// What it pulled but did not start is redelivered to other workers after `pn_nats_ack_wait`.
pub async fn run(
    cfg: NatsConfig,
    policy: Policy,
    dispatcher: Arc<Dispatcher>,
    counters: Arc<Counters>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NatsError> {
    let client = cfg.connect().await?;
    let ctx = jetstream::new(client);
    let (outbox, _dead) = setup::ensure_streams(&ctx, &cfg).await?;
    let consumer = setup::ensure_consumer(&outbox, &cfg).await?;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(cfg.concurrency)
        .heartbeat(Duration::from_secs(5))
        .expires(Duration::from_secs(30))
        .messages()
        .await
        .map_err(js)?;
    info!(target: LOG_TARGET, servers = %cfg.servers(), stream = %cfg.stream, consumer = %cfg.consumer, "pn worker pulling");
    let permits = Arc::new(Semaphore::new(cfg.concurrency));
    let shared = Arc::new(Shared {
        cfg,
        policy,
        dispatcher,
        ctx,
        counters,
        random: RandomState::new(),
    });
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let next = tokio::select! {
            () = &mut shutdown => break,
            m = messages.next() => m,
        };
        match next {
            Some(Ok(msg)) => {
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    shared.handle(msg).await;
                    drop(permit);
                });
            }
            Some(Err(e)) => {
                // Missed heartbeats, a server restart: the stream re-subscribes by itself.
                warn!(target: LOG_TARGET, "pulling: {e}");
            }
            None => {
                return Err(NatsError::JetStream(
                    "the consumer's message stream ended".to_owned(),
                ));
            }
        }
    }
    // Wait for the sends in flight.
    let all = u32::try_from(shared.cfg.concurrency).unwrap_or(u32::MAX);
    let _ = permits.acquire_many(all).await;
    Ok(())
}

struct Shared {
    cfg: NatsConfig,
    policy: Policy,
    dispatcher: Arc<Dispatcher>,
    ctx: jetstream::Context,
    counters: Arc<Counters>,
    random: RandomState,
}

impl Shared {
    async fn handle(&self, msg: jetstream::Message) {
        let delivered = msg.info().map(|i| i.delivered).unwrap_or(1);
        let item = match decode(&msg.payload) {
            Ok(item) => item,
            Err(e) => {
                self.dead_letter(&msg, &e.to_string(), None).await;
                return;
            }
        };
        let age = event_age(&item.event_id);
        if age > self.policy.max_age {
            error!(target: LOG_TARGET, event_id = %item.event_id, user = %item.user, "notification is a dead letter (pn_retry_max_age reached)");
            self.dead_letter(&msg, "pn_retry_max_age reached", None)
                .await;
            return;
        }
        // Tell JetStream this worker is alive while a slow send runs, so the item is not
        // redelivered to another worker meanwhile.
        let outcome = {
            let send = self.dispatcher.send(&item);
            tokio::pin!(send);
            let mut tick = tokio::time::interval(self.cfg.ack_wait / 3);
            tick.tick().await;
            loop {
                tokio::select! {
                    o = &mut send => break o,
                    _ = tick.tick() => {
                        let _ = msg.ack_with(AckKind::Progress).await;
                    }
                }
            }
        };
        if outcome.success {
            match msg.ack().await {
                Ok(()) => {
                    self.counters.sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    warn!(target: LOG_TARGET, event_id = %item.event_id, "ack failed (it will be sent again): {e}");
                }
            }
            return;
        }
        let too_old = event_age(&item.event_id) > self.policy.max_age;
        if self.policy.is_permanent(outcome.status) || too_old {
            let why = if too_old {
                "pn_retry_max_age reached"
            } else {
                "permanent failure"
            };
            error!(target: LOG_TARGET, event_id = %item.event_id, user = %item.user, "notification is a dead letter ({why}): {}", outcome.message);
            self.dead_letter(&msg, &outcome.message, outcome.status)
                .await;
            return;
        }
        let failures = u32::try_from(delivered).unwrap_or(u32::MAX);
        let delay = self
            .policy
            .delay(failures, self.random.hash_one(Instant::now()));
        debug!(target: LOG_TARGET, event_id = %item.event_id, failures, "retrying in {delay:?}: {}", outcome.message);
        self.counters.retried.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = msg.ack_with(AckKind::Nak(Some(delay))).await {
            warn!(target: LOG_TARGET, event_id = %item.event_id, "nak failed (redelivered after pn_nats_ack_wait): {e}");
        }
    }

    /// Publishes the message to the dead-letter stream, then removes it from the outbox
    /// stream (a work-queue stream keeps what exhausted `max_deliver`, so this is ours).
    async fn dead_letter(&self, msg: &jetstream::Message, why: &str, status: Option<u16>) {
        let mut headers = HeaderMap::new();
        let one_line: String = why
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        headers.insert("Pn-Error", one_line.as_str());
        if let Some(s) = status {
            headers.insert("Pn-Status", s.to_string().as_str());
        }
        let published = async {
            self.ctx
                .publish_with_headers(self.cfg.dead_subject.clone(), headers, msg.payload.clone())
                .await
                .map_err(js)?
                .await
                .map_err(js)
        };
        match published.await {
            Ok(_) => {
                self.counters.dead.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = msg.ack_with(AckKind::Term).await {
                    warn!(target: LOG_TARGET, "removing a dead letter from the outbox: {e}");
                }
            }
            Err(e) => {
                error!(target: LOG_TARGET, "cannot store a dead letter (retried later): {e}");
                let _ = msg
                    .ack_with(AckKind::Nak(Some(Duration::from_secs(60))))
                    .await;
            }
        }
    }
}

/// How old a notification is: its event id is a UUIDv7, which carries its creation time.
fn event_age(id: &pn_core::EventId) -> Duration {
    let Some(ts) = id.0.get_timestamp() else {
        return Duration::ZERO;
    };
    let (secs, nanos) = ts.to_unix();
    let created = SystemTime::UNIX_EPOCH + Duration::new(secs, nanos);
    SystemTime::now()
        .duration_since(created)
        .unwrap_or(Duration::ZERO)
}
