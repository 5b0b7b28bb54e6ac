//! `pn queue stats|dead|retry` against the streams.

use async_nats::jetstream;

use crate::error::js;
use crate::{NatsConfig, NatsError, decode};

/// What `pn queue stats` shows.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Messages in the outbox stream (waiting or in flight).
    pub queued: u64,
    /// Not yet delivered to any worker.
    pub pending: u64,
    /// Delivered to a worker, not yet acked.
    pub in_flight: u64,
    /// Redelivered at least once and not yet acked.
    pub redelivered: u64,
    /// Dead letters.
    pub dead: u64,
}

/// A dead letter.
#[derive(Debug, Clone)]
pub struct Dead {
    /// Its sequence in the dead-letter stream.
    pub seq: u64,
    /// The event id, user, driver.
    pub item: pn_core::OutboxItem,
    /// Why it died.
    pub error: String,
}

/// Reads the counts.
pub async fn stats(cfg: &NatsConfig) -> Result<Stats, NatsError> {
    let ctx = jetstream::new(cfg.connect().await?);
    let (mut outbox, mut dead) = crate::setup::ensure_streams(&ctx, cfg).await?;
    let mut s = Stats {
        queued: outbox.info().await.map_err(js)?.state.messages,
        dead: dead.info().await.map_err(js)?.state.messages,
        ..Stats::default()
    };
    if let Ok(mut c) = outbox
        .get_consumer::<jetstream::consumer::pull::Config>(&cfg.consumer)
        .await
    {
        let info = c.info().await.map_err(js)?;
        s.pending = info.num_pending;
        s.in_flight = info.num_ack_pending as u64;
        s.redelivered = info.num_redelivered as u64;
    }
    Ok(s)
}

/// Up to `limit` dead letters, oldest first.
pub async fn dead(cfg: &NatsConfig, limit: usize) -> Result<Vec<Dead>, NatsError> {
    let ctx = jetstream::new(cfg.connect().await?);
    let (_, mut dead) = crate::setup::ensure_streams(&ctx, cfg).await?;
    let state = dead.info().await.map_err(js)?.state.clone();
    let mut out = Vec::new();
    let mut seq = state.first_sequence;
    while seq <= state.last_sequence && out.len() < limit && state.messages > 0 {
        if let Ok(m) = dead.get_raw_message(seq).await {
            let error = m
                .headers
                .get("Pn-Error")
                .map(|v| v.to_string())
                .unwrap_or_default();
            let item = decode(&m.payload)?;
            out.push(Dead { seq, item, error });
        }
        seq += 1;
    }
    Ok(out)
}

/// Publishes every dead letter (or those with these event ids) to the outbox again and
/// removes it from the dead letters; returns how many.
pub async fn retry(cfg: &NatsConfig, ids: Option<&[String]>) -> Result<usize, NatsError> {
    let ctx = jetstream::new(cfg.connect().await?);
    let (_, dead_stream) = crate::setup::ensure_streams(&ctx, cfg).await?;
    let all = dead(cfg, usize::MAX).await?;
    let mut n = 0;
    for d in all {
        let id = d.item.event_id.to_string();
        if ids.is_some_and(|ids| !ids.contains(&id)) {
            continue;
        }
        // A fresh message id: the original may still be in the de-duplication window.
        let msg = jetstream::message::PublishMessage::build()
            .message_id(format!("{id}.retry{}", d.seq))
            .payload(crate::encode(&d.item)?.into());
        ctx.send_publish(cfg.subject.clone(), msg)
            .await
            .map_err(js)?
            .await
            .map_err(js)?;
        dead_stream.delete_message(d.seq).await.map_err(js)?;
        n += 1;
    }
    Ok(n)
}
