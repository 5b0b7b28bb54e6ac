//! `pn_outbox = nats`: notifications are published to a NATS JetStream work-queue stream
//! (`Nats-Msg-Id` = the event id, so a re-published item is de-duplicated by the server)
//! before the delivery that caused them is acknowledged, and any number of `pn worker`
//! processes on any hosts pull them from one durable consumer and send them. See
//! `docs/scale-out.md` for the topology, guarantees and failure modes.
//!
//! * [`JetStreamOutbox`] connects, creates the streams and checks their configuration
//!   ([`setup`]); [`JetStreamOutbox::producer`] gives each delivery a pn-core
//!   [`Outbox`] whose `commit` returns once JetStream acknowledged every
//!   publish.
//! * [`worker::run`] is `pn worker`.
//! * [`admin`] answers `pn queue` against the streams.

pub mod admin;
mod codec;
mod config;
mod error;
pub mod setup;
pub mod worker;

use std::future::Future;
use std::sync::{Arc, Mutex};

use async_nats::jetstream;
use pn_core::{Outbox, OutboxError, OutboxId, OutboxItem};

pub use codec::{decode, encode};
pub use config::{NatsConfig, redact};
pub use error::NatsError;

use crate::error::js;

/// `tracing` target of this crate's lines.
pub const LOG_TARGET: &str = "pn_outbox_nats";

/// A connection to JetStream with the streams checked, shared by every delivery of a
/// process. Owns a small runtime of its own so synchronous callers (the delivery path) can
/// wait for publish acknowledgements from any thread.
pub struct JetStreamOutbox {
    config: NatsConfig,
    ctx: jetstream::Context,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for JetStreamOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamOutbox")
            .field("servers", &self.config.servers())
            .field("stream", &self.config.stream)
            .finish_non_exhaustive()
    }
}

impl JetStreamOutbox {
    /// Connects and makes sure both streams exist with the configuration pn needs.
    pub fn open(config: NatsConfig) -> Result<JetStreamOutbox, NatsError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("pn-nats")
            .enable_all()
            .build()
            .map_err(|e| NatsError::Runtime(e.to_string()))?;
        let cfg = config.clone();
        let ctx = on(&runtime, async move {
            let client = cfg.connect().await?;
            let ctx = jetstream::new(client);
            setup::ensure_streams(&ctx, &cfg).await?;
            Ok::<_, NatsError>(ctx)
        })??;
        Ok(JetStreamOutbox {
            config,
            ctx,
            runtime: Some(runtime),
        })
    }

    /// The settings.
    pub fn config(&self) -> &NatsConfig {
        &self.config
    }

    /// A producer for one delivery.
    pub fn producer(self: &Arc<Self>) -> NatsProducer {
        NatsProducer {
            outbox: Arc::clone(self),
            staged: Mutex::new(Vec::new()),
        }
    }

    /// Publishes `items` and waits until JetStream acknowledged each (stored on the
    /// stream's replicas; a duplicate of an earlier publish is acknowledged as such).
    pub fn publish(&self, items: Vec<OutboxItem>) -> Result<(), NatsError> {
        if items.is_empty() {
            return Ok(());
        }
        let ctx = self.ctx.clone();
        let subject = self.config.subject.clone();
        self.block_on(async move {
            let mut acks = Vec::with_capacity(items.len());
            for item in &items {
                let msg = jetstream::message::PublishMessage::build()
                    .message_id(item.event_id.to_string())
                    .payload(encode(item)?.into());
                acks.push(ctx.send_publish(subject.clone(), msg).await.map_err(js)?);
            }
            for ack in acks {
                ack.await.map_err(js)?;
            }
            Ok(())
        })?
    }

    /// Runs `f` on this outbox's runtime and waits for it (usable inside or outside tokio).
    pub fn block_on<T: Send + 'static>(
        &self,
        f: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, NatsError> {
        match &self.runtime {
            Some(rt) => on(rt, f),
            None => Err(NatsError::Runtime("shut down".to_owned())),
        }
    }
}

impl Drop for JetStreamOutbox {
    fn drop(&mut self) {
        // Dropping a runtime inside another one panics; shutting it down in the background
        // does not.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn on<T: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    f: impl Future<Output = T> + Send + 'static,
) -> Result<T, NatsError> {
    let (tx, rx) = std::sync::mpsc::channel();
    rt.spawn(async move {
        let _ = tx.send(f.await);
    });
    rx.recv()
        .map_err(|_| NatsError::Runtime("the NATS task ended".to_owned()))
}

/// What one delivery's drivers enqueue into: staged in memory, published by `commit`.
#[derive(Debug)]
pub struct NatsProducer {
    outbox: Arc<JetStreamOutbox>,
    staged: Mutex<Vec<OutboxItem>>,
}

impl NatsProducer {
    /// Publishes what was staged; returns once JetStream acknowledged all of it.
    pub fn commit_staged(&self) -> Result<(), NatsError> {
        let items = std::mem::take(&mut *self.staged.lock().unwrap_or_else(|p| p.into_inner()));
        let n = items.len();
        match self.outbox.publish(items.clone()) {
            Ok(()) => Ok(()),
            Err(e) => {
                // Kept, so a later commit publishes them again (the event id de-duplicates).
                let mut staged = self.staged.lock().unwrap_or_else(|p| p.into_inner());
                let later = std::mem::take(&mut *staged);
                *staged = items;
                staged.extend(later);
                tracing::debug!(target: LOG_TARGET, "{n} notifications not published: {e}");
                Err(e)
            }
        }
    }
}

impl Outbox for NatsProducer {
    fn enqueue(&self, item: OutboxItem) -> Result<OutboxId, OutboxError> {
        let mut staged = self.staged.lock().unwrap_or_else(|p| p.into_inner());
        staged.push(item);
        Ok(OutboxId(staged.len() as u64))
    }

    fn commit(&self) -> Result<(), OutboxError> {
        self.commit_staged()
            .map_err(|e| OutboxError::Storage(e.to_string()))
    }
}
