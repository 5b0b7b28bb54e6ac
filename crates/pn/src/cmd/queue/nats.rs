//! `pn queue` with `pn_outbox = nats`: `stats`, `dead` and `retry` against the JetStream
//! streams (the other operations belong to the local durable outbox).

use pn_outbox_nats::{NatsConfig, admin};

use super::{QueueOp, Table, count};

/// Runs `op` against the streams.
pub(super) fn run(cfg: &NatsConfig, op: &QueueOp) -> Result<Table, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        match op {
            QueueOp::Stats => {
                let s = admin::stats(cfg).await.map_err(|e| e.to_string())?;
                Ok(Table {
                    columns: vec!["queued", "pending", "in_flight", "redelivered", "dead"],
                    rows: vec![vec![
                        s.queued.to_string(),
                        s.pending.to_string(),
                        s.in_flight.to_string(),
                        s.redelivered.to_string(),
                        s.dead.to_string(),
                    ]],
                    bare_first: false,
                })
            }
            QueueOp::Dead { limit } => {
                let dead = admin::dead(cfg, *limit).await.map_err(|e| e.to_string())?;
                Ok(Table {
                    columns: vec!["seq", "event_id", "user", "driver", "last_error"],
                    rows: dead
                        .into_iter()
                        .map(|d| {
                            vec![
                                d.seq.to_string(),
                                d.item.event_id.to_string(),
                                d.item.user,
                                d.item.driver,
                                d.error,
                            ]
                        })
                        .collect(),
                    bare_first: false,
                })
            }
            QueueOp::Retry { ids, all } => {
                if ids.is_empty() && !all {
                    return Err("retry: give event ids or --all".to_owned());
                }
                let n = admin::retry(cfg, (!all).then_some(ids.as_slice()))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(count("retried", n))
            }
            _ => Err(
                "with pn_outbox = nats only stats, dead and retry are available \
                      (JetStream keeps the queue; docs/scale-out.md)"
                    .to_owned(),
            ),
        }
    })
}
