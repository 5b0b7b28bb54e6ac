//! Creating the streams and the consumer, and checking that the server applied what pn
//! asked for: nats-server 2.9 silently drops fields introduced in 2.10+, and
//! `get_or_create` returns an existing stream whatever its configuration.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};

use crate::error::js;
use crate::{NatsConfig, NatsError};

/// The outbox stream as pn wants it: a file-backed work queue (a message is removed once a
/// worker acked it), de-duplicating publishes by `Nats-Msg-Id` for two minutes.
pub fn outbox_stream(cfg: &NatsConfig) -> stream::Config {
    stream::Config {
        name: cfg.stream.clone(),
        subjects: vec![cfg.subject.clone()],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        num_replicas: cfg.replicas,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    }
}

/// The dead-letter stream: kept until `pn queue purge`/`retry` removes them.
pub fn dead_stream(cfg: &NatsConfig) -> stream::Config {
    stream::Config {
        name: cfg.dead_stream.clone(),
        subjects: vec![format!("{}.>", dead_prefix(&cfg.dead_subject))],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        num_replicas: cfg.replicas,
        ..Default::default()
    }
}

fn dead_prefix(subject: &str) -> &str {
    subject.rsplit_once('.').map_or(subject, |(p, _)| p)
}

/// The durable pull consumer all workers share. `max_deliver` is unlimited: a work-queue
/// stream keeps a message that exhausted it, so dead-lettering is the worker's job.
pub fn worker_consumer(cfg: &NatsConfig) -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(cfg.consumer.clone()),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: cfg.ack_wait,
        max_deliver: -1,
        max_ack_pending: 10_000,
        filter_subject: cfg.subject.clone(),
        ..Default::default()
    }
}

/// Differences between what was asked and what the server echoes, for the fields pn sets.
pub fn stream_diffs(asked: &stream::Config, got: &stream::Config) -> Vec<String> {
    let mut d = Vec::new();
    let mut cmp = |field: &str, a: String, g: String| {
        if a != g {
            d.push(format!("{field}: asked {a}, server has {g}"));
        }
    };
    cmp(
        "subjects",
        format!("{:?}", asked.subjects),
        format!("{:?}", got.subjects),
    );
    cmp(
        "retention",
        format!("{:?}", asked.retention),
        format!("{:?}", got.retention),
    );
    cmp(
        "storage",
        format!("{:?}", asked.storage),
        format!("{:?}", got.storage),
    );
    cmp(
        "num_replicas",
        asked.num_replicas.to_string(),
        got.num_replicas.to_string(),
    );
    if asked.duplicate_window != Duration::ZERO {
        cmp(
            "duplicate_window",
            format!("{:?}", asked.duplicate_window),
            format!("{:?}", got.duplicate_window),
        );
    }
    d
}

/// Like [`stream_diffs`] for the consumer.
pub fn consumer_diffs(asked: &consumer::pull::Config, got: &consumer::Config) -> Vec<String> {
    let mut d = Vec::new();
    let mut cmp = |field: &str, a: String, g: String| {
        if a != g {
            d.push(format!("{field}: asked {a}, server has {g}"));
        }
    };
    cmp(
        "durable_name",
        format!("{:?}", asked.durable_name),
        format!("{:?}", got.durable_name),
    );
    cmp(
        "ack_policy",
        format!("{:?}", asked.ack_policy),
        format!("{:?}", got.ack_policy),
    );
    cmp(
        "ack_wait",
        format!("{:?}", asked.ack_wait),
        format!("{:?}", got.ack_wait),
    );
    cmp(
        "max_deliver",
        asked.max_deliver.to_string(),
        got.max_deliver.to_string(),
    );
    cmp(
        "filter_subject",
        asked.filter_subject.clone(),
        got.filter_subject.clone(),
    );
    cmp(
        "filter_subjects",
        format!("{:?}", asked.filter_subjects),
        format!("{:?}", got.filter_subjects),
    );
    d
}

fn refuse(what: &'static str, name: &str, diffs: Vec<String>) -> Result<(), NatsError> {
    if diffs.is_empty() {
        return Ok(());
    }
    Err(NatsError::ConfigMismatch {
        what,
        name: name.to_owned(),
        diffs: diffs.join("; "),
    })
}

/// Creates (or finds) a stream and checks its echoed configuration. Right after a cluster
/// started, a replicated stream cannot be placed until the peers know each other: retry
/// briefly.
async fn ensure_stream(
    ctx: &jetstream::Context,
    asked: stream::Config,
) -> Result<stream::Stream, NatsError> {
    let mut tries = 0;
    let mut stream = loop {
        match ctx.get_or_create_stream(asked.clone()).await {
            Ok(s) => break s,
            Err(e) if tries < 50 => {
                tries += 1;
                tracing::debug!(target: crate::LOG_TARGET, "stream {} not ready: {e}", asked.name);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(js(format!("stream {}: {e}", asked.name))),
        }
    };
    let info = stream.info().await.map_err(js)?;
    refuse("stream", &asked.name, stream_diffs(&asked, &info.config))?;
    Ok(stream)
}

/// The outbox and dead-letter streams, checked.
pub async fn ensure_streams(
    ctx: &jetstream::Context,
    cfg: &NatsConfig,
) -> Result<(stream::Stream, stream::Stream), NatsError> {
    let outbox = ensure_stream(ctx, outbox_stream(cfg)).await?;
    let dead = ensure_stream(ctx, dead_stream(cfg)).await?;
    Ok((outbox, dead))
}

/// The workers' consumer, checked.
pub async fn ensure_consumer(
    stream: &stream::Stream,
    cfg: &NatsConfig,
) -> Result<consumer::Consumer<consumer::pull::Config>, NatsError> {
    let asked = worker_consumer(cfg);
    let mut c: consumer::Consumer<consumer::pull::Config> = stream
        .get_or_create_consumer(&cfg.consumer, asked.clone())
        .await
        .map_err(|e| js(format!("consumer {}: {e}", cfg.consumer)))?;
    let info = c.info().await.map_err(js)?;
    refuse(
        "consumer",
        &cfg.consumer,
        consumer_diffs(&asked, &info.config),
    )?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> NatsConfig {
        NatsConfig::from_settings(|_| None).unwrap()
    }

    #[test]
    fn a_dropped_field_is_refused() {
        let asked = worker_consumer(&cfg());
        let mut echoed = consumer::IntoConsumerConfig::into_consumer_config(&asked);
        assert!(consumer_diffs(&asked, &echoed).is_empty());
        echoed.ack_wait = Duration::from_secs(30 * 60);
        let mut asked2 = asked.clone();
        asked2.ack_wait = Duration::from_secs(5);
        let d = consumer_diffs(&asked2, &echoed);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].starts_with("ack_wait"), "{d:?}");
        // 2.9 drops 2.10's filter_subjects: what it echoes has none.
        let mut multi = asked.clone();
        multi.filter_subjects = vec!["a".into(), "b".into()];
        assert!(!consumer_diffs(&multi, &echoed).is_empty());
    }

    #[test]
    fn a_stream_with_other_replicas_is_refused() {
        let asked = outbox_stream(&cfg());
        let mut got = asked.clone();
        got.num_replicas = 1;
        let d = stream_diffs(&asked, &got);
        assert!(
            d[0].contains("num_replicas: asked 3, server has 1"),
            "{d:?}"
        );
        assert_eq!(dead_stream(&cfg()).subjects, vec!["pn.dead.>".to_owned()]);
    }
}
