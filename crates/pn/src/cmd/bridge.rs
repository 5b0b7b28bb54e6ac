//! `pn bridge`: pn's drivers and delivery for a live Dovecot (see `docs/bridge.md`).
//!
//! Dovecot runs `pn-bridge.lua` (shipped here, written out by `pn bridge print-script`) as its
//! Lua push driver; the script spools every committed transaction as one JSON file and never
//! touches the network. `pn bridge run` replays each file through pn-core for its user, with
//! the drivers of `pn_bridge_driver*`, the user from Dovecot's userdb and METADATA from
//! Dovecot's dictionary, and hands the pushes to the outbox. A file is removed only after its
//! pushes were handed over, so while the bridge is down the spool holds everything.

mod replay;
mod spool;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Args, Subcommand};
use pn_core::{MemoryOutbox, PushNotifications, UserInfo};
use pn_dispatch::{DispatchConfig, Dispatcher};
use pn_userdb::UserRecord;

use crate::Cli;
use crate::exit::{EX_TEMPFAIL, EX_USAGE, Failure};
use crate::privileges;
use crate::session::{LookupError, Session};

/// The Lua push script for Dovecot.
const SCRIPT: &str = include_str!("bridge/pn-bridge.lua");
/// The spool when neither `--spool` nor `pn_bridge_spool` names one.
const DEFAULT_SPOOL: &str = "/var/spool/pn-bridge";
/// How often `new/` is listed when it was empty.
const POLL: Duration = Duration::from_millis(100);
/// A file this old in `tmp/` was left by a writer that died mid-write.
const ABANDONED: Duration = Duration::from_secs(60);

/// Arguments of `pn bridge`.
#[derive(Debug, Args)]
pub(crate) struct BridgeArgs {
    #[command(subcommand)]
    command: BridgeCommand,
}

#[derive(Debug, Subcommand)]
enum BridgeCommand {
    /// Write the Lua push script for Dovecot's `lua` push driver to stdout.
    PrintScript {
        /// The spool directory baked into the script (Dovecot 2.3 can override it with the
        /// plugin setting `pn_bridge_spool`).
        #[arg(long, value_name = "DIR")]
        spool: Option<PathBuf>,
    },
    /// Replay the spool through pn's drivers until SIGTERM/SIGINT.
    Run {
        /// The spool directory (default: `plugin { pn_bridge_spool }`, else
        /// /var/spool/pn-bridge).
        #[arg(long, value_name = "DIR")]
        spool: Option<PathBuf>,
        /// Replay what is spooled now, send it, and exit.
        #[arg(long)]
        once: bool,
    },
}

pub(crate) fn run(cli: &Cli, args: &BridgeArgs) -> Result<ExitCode, Failure> {
    match &args.command {
        BridgeCommand::PrintScript { spool } => {
            let spool = spool
                .as_deref()
                .unwrap_or(Path::new(DEFAULT_SPOOL))
                .display()
                .to_string();
            let mut out = std::io::stdout().lock();
            // The path lands inside a Lua string literal.
            let quoted = spool
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            out.write_all(SCRIPT.replace("@PN_BRIDGE_SPOOL@", &quoted).as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| Failure::new(EX_TEMPFAIL, format!("pn bridge: {e}")))?;
            Ok(ExitCode::SUCCESS)
        }
        BridgeCommand::Run { spool, once } => serve(cli, spool.as_deref(), *once),
    }
}

fn fatal(e: impl std::fmt::Display) -> Failure {
    Failure::new(EX_TEMPFAIL, format!("pn bridge: Fatal: {e}"))
}

fn serve(cli: &Cli, spool: Option<&Path>, once: bool) -> Result<ExitCode, Failure> {
    let session = Session::open(cli, "bridge")?;
    let root = spool.map(Path::to_owned).unwrap_or_else(|| {
        PathBuf::from(
            session
                .plugin_setting("pn_bridge_spool")
                .or_else(|| session.setting("pn_bridge_spool"))
                .unwrap_or_else(|| DEFAULT_SPOOL.to_owned()),
        )
    });
    // Bound before privileges are dropped; a one-off pass serves none.
    let metrics_listener = if once {
        None
    } else {
        crate::metrics::bind_setting(&session, "bridge")?
    };
    // Like `pn lmtp`: never touch a user's files as root.
    if rustix::process::geteuid().is_root() {
        let ids = session
            .mail_ids(&UserRecord::new("bridge"))
            .map_err(fatal)?;
        if ids.uid.is_none() || ids.gid.is_none() {
            return Err(Failure::new(
                EX_USAGE,
                "pn bridge: Fatal: started as root without mail_uid and mail_gid: pn bridge \
                 never reads mail as root (set them to the virtual mail user's ids)",
            ));
        }
        privileges::switch_to(ids).map_err(fatal)?;
    }
    let spool =
        spool::Spool::open(&root).map_err(|e| fatal(format!("spool {}: {e}", root.display())))?;
    let dispatcher =
        Dispatcher::new(&DispatchConfig::from_settings(|k| session.setting(k))).map_err(fatal)?;
    let outbox = Arc::new(MemoryOutbox::new());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(fatal)?;
    let stop = Arc::new(AtomicBool::new(false));
    // Also with --once: a signal ends the pass, and what was handed over is still sent.
    {
        let stop = Arc::clone(&stop);
        runtime.spawn(async move {
            signal().await;
            stop.store(true, Ordering::SeqCst);
        });
    }
    let metrics = Arc::new(crate::metrics::Metrics::new(
        &crate::metrics::driver_names(|k| session.plugin_setting(k)),
        None,
        false,
    ));
    if let Some(l) = metrics_listener {
        runtime.spawn(crate::metrics::serve(l, Arc::clone(&metrics)));
    }
    let observed = Arc::new(crate::metrics::Observed::new(Arc::clone(&outbox), metrics));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sender = runtime.spawn(Arc::new(dispatcher).run(observed, async {
        let _ = stop_rx.await;
    }));
    if !once {
        crate::notify::ready();
    }
    tracing::info!("pn bridge replaying {}", root.display());
    let bridge = Bridge {
        session: &session,
        outbox: &outbox,
    };
    loop {
        let done = bridge.pass(&spool, &stop);
        if once || stop.load(Ordering::SeqCst) {
            break;
        }
        if done == 0 {
            std::thread::sleep(POLL);
        }
    }
    // Send what was handed over before exiting.
    let _ = stop_tx.send(());
    let _ = runtime.block_on(sender);
    tracing::info!("pn bridge stopped");
    Ok(ExitCode::SUCCESS)
}

struct Bridge<'a> {
    session: &'a Session,
    outbox: &'a Arc<MemoryOutbox>,
}

impl Bridge<'_> {
    /// Replays every pending file once; returns how many were handled.
    fn pass(&self, spool: &spool::Spool, stop: &AtomicBool) -> usize {
        for entry in spool.abandoned(ABANDONED).unwrap_or_default() {
            match spool.set_aside(&entry) {
                Ok(to) => tracing::error!(
                    "pn bridge: {}: left incomplete by a writer that died mid-write; moved to {}",
                    entry.path.display(),
                    to.display()
                ),
                Err(e) => tracing::error!(
                    "pn bridge: {}: left incomplete; cannot move it aside: {e}",
                    entry.path.display()
                ),
            }
        }
        let entries = match spool.pending() {
            Ok(e) => e,
            Err(e) => {
                tracing::error!("pn bridge: cannot list the spool: {e}");
                return 0;
            }
        };
        let mut done = 0;
        for entry in entries {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            match self.entry(&entry) {
                Ok(()) => {
                    // Handed over: the outbox owns the pushes now.
                    if let Err(e) = std::fs::remove_file(&entry.path) {
                        tracing::error!("pn bridge: cannot remove {}: {e}", entry.path.display());
                    }
                    done += 1;
                }
                Err(Outcome::Bad(why)) => {
                    match spool.set_aside(&entry) {
                        Ok(to) => tracing::error!(
                            "pn bridge: {}: {why}; moved to {}",
                            entry.path.display(),
                            to.display()
                        ),
                        Err(e) => tracing::error!(
                            "pn bridge: {}: {why}; cannot move it aside: {e}",
                            entry.path.display()
                        ),
                    }
                    done += 1;
                }
                Err(Outcome::Retry(why)) => {
                    // Kept for the next pass; later files of the same user must not overtake.
                    tracing::error!("pn bridge: {}: {why}; will retry", entry.path.display());
                    break;
                }
            }
        }
        done
    }

    fn entry(&self, entry: &spool::Entry) -> Result<(), Outcome> {
        let bytes = match std::fs::read(&entry.path) {
            Ok(b) => b,
            // Removed meanwhile: nothing to do.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Outcome::Retry(e.to_string())),
        };
        let txn = spool::parse(&bytes).map_err(Outcome::Bad)?;
        let record = match self.session.lookup(&txn.user) {
            Ok(r) => r,
            Err(LookupError::Unknown) => {
                return Err(Outcome::Bad(format!("unknown user {}", txn.user)));
            }
            Err(LookupError::Invalid(why)) => return Err(Outcome::Bad(why)),
            Err(LookupError::Failed(why)) => return Err(Outcome::Retry(why)),
        };
        let settings = self
            .session
            .user_settings(&record)
            .map_err(Outcome::Retry)?;
        let metadata = pn_metadata::Backend::from_settings(&|k| self.session.setting(k))
            .and_then(|b| b.store_for(&record))
            .map_err(|e| e.to_string());
        let ids = self.session.mail_ids(&record).ok();
        let maildir = self
            .session
            .maildir_root(&record)
            .ok()
            .map(pn_store::Maildir::open);
        let host = replay::BridgeHost {
            status: txn.status.clone(),
            maildir: maildir.clone(),
            metadata,
        };
        let pn = PushNotifications::new(
            crate::drivers::registry(),
            Arc::new(host),
            Arc::clone(self.outbox) as Arc<dyn pn_core::Outbox>,
        );
        let info = UserInfo {
            username: record.username.clone(),
            home: record.home.clone(),
            uid: ids.and_then(|i| i.uid),
            gid: ids.and_then(|i| i.gid),
            service: txn.service.clone(),
            session_id: txn.session.clone(),
            raw_autocreated: false,
        };
        let push = pn.user(info, replay::env(settings));
        let reader = replay::maildir_reader(maildir);
        replay::replay(&push, &txn, &reader);
        push.deinit();
        Ok(())
    }
}

/// SIGTERM or SIGINT.
async fn signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {}
                _ = i.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// Why a spool file was not replayed.
enum Outcome {
    /// It can never be replayed: set it aside.
    Bad(String),
    /// It may work later (userdb unreadable, I/O error): keep it.
    Retry(String),
}
