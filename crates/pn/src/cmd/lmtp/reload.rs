//! SIGHUP in `pn lmtp`: the configuration file is read again and checked; new deliveries use
//! the new settings (drivers, userdb, mail location, …), sessions already open stay connected.
//! A configuration that does not pass the check keeps the old one, with an error line.
//! Listeners, privileges, the outbox and the dispatcher's TLS settings are fixed at start:
//! changing those takes a restart (docs/operations.md).

use std::sync::Arc;

use crate::Cli;
use crate::cmd::lmtp::{Live, StoreBackend, server_config};
use crate::exit::{EX_USAGE, Failure};
use crate::session::Session;

/// Reloads on every SIGHUP; never returns unless the signal cannot be watched.
pub(crate) async fn on_sighup(cli: &Cli, backend: Arc<StoreBackend>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("pn lmtp: SIGHUP cannot be watched, reloading is off: {e}");
            return std::future::pending().await;
        }
    };
    while hup.recv().await.is_some() {
        // Reading and checking the files blocks; this worker's other tasks move elsewhere.
        match tokio::task::block_in_place(|| load(cli)) {
            Ok(live) => {
                backend.replace(live);
                tracing::info!("pn lmtp: configuration reloaded");
            }
            Err(e) => tracing::error!(
                "pn lmtp: reloading the configuration failed, keeping the old one: {}",
                e.message
            ),
        }
        crate::notify::send("READY=1");
    }
    std::future::pending().await
}

/// The configuration, loaded and checked as at start-up.
fn load(cli: &Cli) -> Result<Live, Failure> {
    let session = Session::open(cli, "lmtp")?;
    crate::cmd::config::check(session.config(), &mut String::new())?;
    server_config(&session)?;
    crate::cmd::dispatch::check(|k| session.setting(k))
        .map_err(|e| Failure::new(EX_USAGE, format!("pn: {e}")))?;
    crate::metrics::listen_address(session.setting("pn_metrics_listen"))
        .map_err(|e| Failure::new(EX_USAGE, format!("pn: {e}")))?;
    Ok(Live::new(session))
}
