//! `pn worker` and `pn_outbox = nats` (docs/scale-out.md): deliveries publish their
//! notifications to a JetStream stream; any number of workers on any hosts send them.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use pn_outbox::Policy;
use pn_outbox_nats::{JetStreamOutbox, NatsConfig, worker};

use crate::Cli;
use crate::exit::{EX_TEMPFAIL, EX_USAGE, Failure};
use crate::session::Session;

/// Arguments of `pn worker`.
#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {}

/// The JetStream settings when `pn_outbox = nats`, else `None`.
pub(crate) fn nats_mode(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<(NatsConfig, Policy)>, String> {
    if get("pn_outbox").as_deref().map(str::trim) != Some("nats") {
        return Ok(None);
    }
    let cfg = NatsConfig::from_settings(&get).map_err(|e| e.to_string())?;
    let policy = Policy::from_settings(&get).map_err(|e| e.to_string())?;
    Ok(Some((cfg, policy)))
}

/// Connects for a one-shot command's deliveries.
pub(crate) fn open(cfg: NatsConfig) -> Result<Arc<JetStreamOutbox>, String> {
    JetStreamOutbox::open(cfg)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

pub(crate) fn run(cli: &Cli, _args: &WorkerArgs) -> Result<ExitCode, Failure> {
    let session = Session::open(cli, "lda")?;
    let fatal = |code: u8, e: String| Failure::new(code, format!("pn worker: Fatal: {e}"));
    let Some((cfg, policy)) = nats_mode(|k| session.setting(k)).map_err(|e| fatal(EX_USAGE, e))?
    else {
        return Err(fatal(
            EX_USAGE,
            "pn worker needs pn_outbox = nats (docs/scale-out.md)".to_owned(),
        ));
    };
    let dispatcher = crate::cmd::dispatch::dispatcher(|k| session.setting(k))
        .map_err(|e| fatal(EX_TEMPFAIL, e))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| fatal(EX_TEMPFAIL, e.to_string()))?;
    let counters = Arc::new(worker::Counters::default());
    runtime
        .block_on(worker::run(
            cfg,
            policy,
            Arc::new(dispatcher),
            Arc::clone(&counters),
            crate::cmd::lmtp::signal(),
        ))
        .map_err(|e| fatal(EX_TEMPFAIL, e.to_string()))?;
    use std::sync::atomic::Ordering::Relaxed;
    tracing::info!(
        sent = counters.sent.load(Relaxed),
        retried = counters.retried.load(Relaxed),
        dead = counters.dead.load(Relaxed),
        "pn worker stopped"
    );
    Ok(ExitCode::SUCCESS)
}
