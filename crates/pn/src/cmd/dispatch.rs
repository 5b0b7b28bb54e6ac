//! `pn dispatch`: the durable outbox's dispatcher as a daemon, for hosts where the MTA runs
//! `pn deliver` and no `pn lmtp` sends. Also the outbox settings every command shares:
//! `pn_outbox` (`durable`, the default, or `memory`: Dovecot's fire and forget),
//! `pn_outbox_path`, the retry policy (pn-outbox's `Policy`) and `pn_deliver_push_wait`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use pn_core::OutboxItem;
use pn_dispatch::{DispatchConfig, Dispatcher, Outcome, OutcomeLog};
use pn_outbox::{DurableOutbox, Policy};

use crate::Cli;
use crate::exit::{EX_TEMPFAIL, EX_USAGE, Failure};
use crate::session::{Session, data_dir};

/// Arguments of `pn dispatch`.
#[derive(Debug, Args)]
pub(crate) struct DispatchArgs {}

/// Where notifications wait.
pub(crate) enum OutboxMode {
    /// In memory, sent once (Dovecot's behaviour).
    Memory,
    /// In the database at this path, with this policy.
    Durable(PathBuf, Policy),
}

/// `pn_deliver_push_wait`'s default.
const DEFAULT_PUSH_WAIT: Duration = Duration::from_secs(2);

/// Reads `pn_outbox`, `pn_outbox_path` and the policy. The default path is
/// `<data dir>/outbox/outbox.db`.
pub(crate) fn outbox_mode(get: impl Fn(&str) -> Option<String>) -> Result<OutboxMode, String> {
    match get("pn_outbox").as_deref().map(str::trim) {
        None | Some("" | "durable") => {}
        Some("memory") => return Ok(OutboxMode::Memory),
        Some(v) => {
            return Err(format!(
                "Invalid setting pn_outbox = {v:?}: expected durable, memory or nats"
            ));
        }
    }
    let policy = Policy::from_settings(&get).map_err(|e| e.to_string())?;
    let path = get("pn_outbox_path")
        .filter(|p| !p.trim().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| data_dir(get("pn_data_dir")).join("outbox/outbox.db"));
    Ok(OutboxMode::Durable(path, policy))
}

/// `pn_deliver_push_wait`: how long a one-shot command sends its own notifications before
/// it leaves them to the dispatcher.
pub(crate) fn push_wait(get: impl Fn(&str) -> Option<String>) -> Result<Duration, String> {
    match get("pn_deliver_push_wait").filter(|v| !v.trim().is_empty()) {
        None => Ok(DEFAULT_PUSH_WAIT),
        Some(v) => {
            pn_outbox::policy::interval("pn_deliver_push_wait", &v).map_err(|e| e.to_string())
        }
    }
}

/// Every outbox setting, checked (`pn config check`, start-up of each command).
pub(crate) fn check(get: impl Fn(&str) -> Option<String>) -> Result<(), String> {
    if crate::cmd::worker::nats_mode(&get)?.is_none() {
        outbox_mode(&get)?;
    }
    push_wait(&get)?;
    Ok(())
}

/// Logs each outcome the way the producing driver does (ox: Dovecot's
/// `push-notification-ox: ` lines).
pub(crate) fn outcome_log() -> OutcomeLog {
    Arc::new(|item: &OutboxItem, outcome: &Outcome| {
        let ox = item.driver.eq_ignore_ascii_case("ox");
        match (ox, outcome.success) {
            (true, true) => {
                tracing::debug!(target: pn_driver_ox::LOG_TARGET, user = %item.user, event_id = %item.event_id, "Notification sent successfully: {}", outcome.message);
            }
            (true, false) => {
                tracing::error!(target: pn_driver_ox::LOG_TARGET, user = %item.user, event_id = %item.event_id, "Error when sending notification: {}", outcome.message);
            }
            (false, true) => {
                tracing::debug!(target: pn_dispatch::LOG_TARGET, driver = %item.driver, user = %item.user, event_id = %item.event_id, "Notification sent successfully: {}", outcome.message);
            }
            (false, false) => {
                tracing::error!(target: pn_dispatch::LOG_TARGET, driver = %item.driver, user = %item.user, event_id = %item.event_id, "Error when sending notification: {}", outcome.message);
            }
        }
    })
}

/// A dispatcher with the session's TLS settings and pn's outcome log.
pub(crate) fn dispatcher(get: impl Fn(&str) -> Option<String>) -> Result<Dispatcher, String> {
    dispatcher_for(&DispatchConfig::from_settings(get))
}

/// [`dispatcher`] from settings already read.
pub(crate) fn dispatcher_for(config: &DispatchConfig) -> Result<Dispatcher, String> {
    let mut d = Dispatcher::new(config).map_err(|e| e.to_string())?;
    d.set_outcome_log(outcome_log());
    Ok(d)
}

/// Started as root, `pn dispatch` and `pn queue` become `mail_uid`/`mail_gid` (when set)
/// before they open the outbox, so the database and its WAL stay the mail user's, which every
/// `pn deliver` (running as that user) and `pn lmtp` must be able to write.
pub(crate) fn become_mail_user(session: &Session, command: &str) -> Result<(), Failure> {
    if !rustix::process::geteuid().is_root() {
        return Ok(());
    }
    let ids = session
        .mail_ids(&pn_userdb::UserRecord::new(command))
        .map_err(|e| Failure::new(EX_TEMPFAIL, format!("pn {command}: Fatal: {e}")))?;
    if ids.uid.is_none() {
        tracing::warn!(
            "pn {command} runs as root without mail_uid: the outbox's files it creates belong \
             to root"
        );
        return Ok(());
    }
    crate::session::prepare_outbox_dir(|k| session.setting(k), ids);
    crate::privileges::switch_to(ids)
        .map_err(|e| Failure::new(EX_TEMPFAIL, format!("pn {command}: Fatal: {e}")))
}

pub(crate) fn run(cli: &Cli, _args: &DispatchArgs) -> Result<ExitCode, Failure> {
    let session = Session::open(cli, "lda")?;
    // Bound before privileges are dropped, like pn lmtp's listeners.
    let metrics_listener = crate::metrics::bind_setting(&session, "dispatch")?;
    become_mail_user(&session, "dispatch")?;
    let fatal = |code: u8, e: String| Failure::new(code, format!("pn dispatch: Fatal: {e}"));
    let (path, policy) =
        match outbox_mode(|k| session.setting(k)).map_err(|e| fatal(EX_USAGE, e))? {
            OutboxMode::Memory => {
                return Err(fatal(
                    EX_USAGE,
                    "pn_outbox = memory: there is no durable outbox to send from".to_owned(),
                ));
            }
            OutboxMode::Durable(path, policy) => (path, policy),
        };
    let dispatcher = dispatcher(|k| session.setting(k)).map_err(|e| fatal(EX_TEMPFAIL, e))?;
    let outbox = Arc::new(DurableOutbox::new(path, policy));
    outbox
        .open_now()
        .map_err(|e| fatal(EX_TEMPFAIL, e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| fatal(EX_TEMPFAIL, e.to_string()))?;
    let metrics = Arc::new(crate::metrics::Metrics::new(
        &crate::metrics::driver_names(|k| session.plugin_setting(k)),
        Some(outbox.path().to_path_buf()),
        false,
    ));
    tracing::info!("pn dispatch sending from {}", outbox.path().display());
    runtime.block_on(async {
        if let Some(l) = metrics_listener {
            tokio::spawn(crate::metrics::serve(l, Arc::clone(&metrics)));
        }
        crate::notify::ready();
        let observed = Arc::new(crate::metrics::Observed::new(outbox, metrics));
        Arc::new(dispatcher)
            .run(observed, crate::cmd::lmtp::signal())
            .await;
    });
    tracing::info!("pn dispatch stopped");
    Ok(ExitCode::SUCCESS)
}
