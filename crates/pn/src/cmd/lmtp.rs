//! `pn lmtp`: an RFC 2033 LMTP server delivering into pn's store, with push notifications
//! through pn-core (see `docs/lmtp.md`). The protocol is `pn-lmtp`'s; this module is the
//! backend (userdb, privileges, store, drivers), the listeners and the process around it.
//!
//! Privileges, two modes:
//! * With `mail_uid` (a virtual-user setup), started as root it binds its listeners, then
//!   becomes `mail_uid`/`mail_gid` before it starts any thread; a recipient whose userdb uid
//!   differs from the server's is refused with `451 4.3.0` and a log line, never written as
//!   another user.
//! * Started as root without `mail_uid` (system users with their own uids in the userdb), the
//!   process stays root for its sockets, and each delivery's blocking thread takes the
//!   recipient's uid/gid for that delivery only (`privileges::ThreadIds`); the tokio threads
//!   that serve the sockets never change ids. A recipient without a uid, or one below
//!   `first_valid_uid`, is refused at RCPT with `451 4.3.0`, alone.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use pn_config::time::{parse_interval_msecs, parse_uint};
use pn_config::value::{parse_bool, parse_enum, parse_size};
use pn_core::MemoryOutbox;
use pn_lmtp::{DeliveryAddress, Listener, Server, ServerConfig, TraceSettings};
use pn_outbox::DurableOutbox;
use pn_userdb::UserRecord;

mod backend;
pub(crate) mod reload;

pub(crate) use backend::{Ids, Live, StoreBackend};

use crate::Cli;
use crate::cmd::dispatch::OutboxMode;
use crate::exit::{EX_TEMPFAIL, EX_USAGE, Failure};
use crate::metrics::Observed;
use crate::privileges;
use crate::session::{ServerOutbox, Session};

/// Arguments of `pn lmtp`.
#[derive(Debug, Args)]
pub(crate) struct LmtpArgs {
    /// Where to listen: `HOST:PORT` or `unix:PATH`. May be repeated. Default: the config's
    /// `service lmtp { inet_listener … unix_listener … }`, else 127.0.0.1:24.
    #[arg(long = "listen", value_name = "ADDRESS")]
    listen: Vec<String>,
    /// Print each bound address on stdout (one line each, e.g. `127.0.0.1:41234`) once
    /// listening; useful with port 0.
    #[arg(long)]
    print_address: bool,
}

/// Connections waiting beyond the session limit queue in the kernel (std's default is 128,
/// too few for a burst from an MTA; Linux caps it at `net.core.somaxconn`).
const BACKLOG: i32 = 1024;

/// A listener bound before privileges are dropped.
enum Bound {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener, PathBuf),
}

pub(crate) fn run(cli: &Cli, args: &LmtpArgs) -> Result<ExitCode, Failure> {
    raise_nofile_limit();
    let session = Session::open(cli, "lmtp")?;
    let addresses = if args.listen.is_empty() {
        configured_listeners(&session)
    } else {
        args.listen.clone()
    };
    let mut bound = Vec::new();
    for a in &addresses {
        bound.push(bind(a, &session)?);
    }
    let metrics_listener = crate::metrics::bind_setting(&session, "lmtp")?;
    // With mail_uid (one virtual-mail uid), become that user before any thread exists (the id
    // calls are per thread). Without it, stay root and give each delivery's blocking thread
    // the recipient's ids (`privileges::ThreadIds`).
    let ids = if rustix::process::geteuid().is_root() && session.setting("mail_uid").is_some() {
        let ids = session
            .mail_ids(&UserRecord::new("lmtp"))
            .map_err(|e| Failure::new(EX_TEMPFAIL, format!("pn lmtp: Fatal: {e}")))?;
        if ids.gid.is_none() {
            return Err(Failure::new(
                EX_USAGE,
                "pn lmtp: Fatal: started as root with mail_uid but without mail_gid",
            ));
        }
        crate::session::prepare_outbox_dir(|k| session.setting(k), ids);
        privileges::switch_to(ids)
            .map_err(|e| Failure::new(EX_TEMPFAIL, format!("pn lmtp: Fatal: {e}")))?;
        Ids::Process(rustix::process::geteuid().as_raw())
    } else if rustix::process::geteuid().is_root() {
        tracing::info!(
            "pn lmtp runs as root without mail_uid: each delivery runs with the recipient's \
             uid and gid from the userdb"
        );
        Ids::PerDelivery
    } else {
        Ids::Process(rustix::process::geteuid().as_raw())
    };
    let euid = rustix::process::geteuid().as_raw();
    let config = server_config(&session)?;
    let dispatcher = crate::cmd::dispatch::dispatcher(|k| session.setting(k))
        .map_err(|e| Failure::new(EX_TEMPFAIL, format!("pn lmtp: Fatal: {e}")))?;
    // Opened as the mail user, so the database and its WAL belong to that user.
    let nats = crate::cmd::worker::nats_mode(|k| session.setting(k))
        .map_err(|e| Failure::new(EX_USAGE, format!("pn lmtp: Fatal: {e}")))?;
    let outbox = if let Some((cfg, _)) = nats {
        // pn_outbox = nats: deliveries publish, `pn worker`s send (docs/scale-out.md).
        ServerOutbox::Nats(
            crate::cmd::worker::open(cfg)
                .map_err(|e| Failure::new(EX_TEMPFAIL, format!("pn lmtp: Fatal: {e}")))?,
        )
    } else {
        match crate::cmd::dispatch::outbox_mode(|k| session.setting(k))
            .map_err(|e| Failure::new(EX_USAGE, format!("pn lmtp: Fatal: {e}")))?
        {
            OutboxMode::Memory => ServerOutbox::Memory(Arc::new(MemoryOutbox::new())),
            OutboxMode::Durable(path, policy) => {
                let durable = Arc::new(DurableOutbox::new(path, policy));
                durable
                    .open_now()
                    .map_err(|e| Failure::new(EX_TEMPFAIL, format!("pn lmtp: Fatal: {e}")))?;
                ServerOutbox::Durable(durable)
            }
        }
    };
    let metrics = Arc::new(crate::metrics::Metrics::new(
        &crate::metrics::driver_names(|k| session.plugin_setting(k)),
        match &outbox {
            ServerOutbox::Durable(d) => Some(d.path().to_path_buf()),
            ServerOutbox::Memory(_) | ServerOutbox::Nats(_) => None,
        },
        true,
    ));
    let backend = Arc::new(StoreBackend {
        live: std::sync::RwLock::new(Arc::new(Live::new(session))),
        metrics: Arc::clone(&metrics),
        outbox: match &outbox {
            ServerOutbox::Memory(m) => ServerOutbox::Memory(Arc::clone(m)),
            ServerOutbox::Durable(d) => ServerOutbox::Durable(Arc::clone(d)),
            ServerOutbox::Nats(n) => ServerOutbox::Nats(Arc::clone(n)),
        },
        ids,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(EX_TEMPFAIL, format!("pn lmtp: Fatal: {e}")))?;
    runtime
        .block_on(async move {
            let mut listeners = Vec::new();
            let mut shown = Vec::new();
            for b in bound {
                match b {
                    Bound::Tcp(l) => {
                        shown.push(
                            l.local_addr()
                                .map_or_else(|_| "?".into(), |a| a.to_string()),
                        );
                        listeners.push(Listener::Tcp(tokio::net::TcpListener::from_std(l)?));
                    }
                    Bound::Unix(l, path) => {
                        shown.push(format!("unix:{}", path.display()));
                        listeners.push(Listener::Unix(tokio::net::UnixListener::from_std(l)?));
                    }
                }
            }
            for a in &shown {
                tracing::info!("pn lmtp listening on {a} (uid {euid})");
            }
            if let Some(l) = metrics_listener {
                tokio::spawn(crate::metrics::serve(l, Arc::clone(&metrics)));
            }
            if args.print_address {
                let mut out = std::io::stdout().lock();
                for a in &shown {
                    writeln!(out, "{a}")?;
                }
                out.flush()?;
            }
            crate::notify::ready();

            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let stop = async {
                let _ = stop_rx.await;
            };
            let dispatcher = match outbox {
                ServerOutbox::Memory(m) => tokio::spawn(
                    Arc::new(dispatcher)
                        .run(Arc::new(Observed::new(m, Arc::clone(&metrics))), stop),
                ),
                ServerOutbox::Durable(d) => tokio::spawn(
                    Arc::new(dispatcher)
                        .run(Arc::new(Observed::new(d, Arc::clone(&metrics))), stop),
                ),
                // Nothing to send here: the workers do.
                ServerOutbox::Nats(_) => tokio::spawn(stop),
            };
            let reload = reload::on_sighup(cli, Arc::clone(&backend));
            tokio::select! {
                () = Server::new(config, backend).serve(listeners, signal()) => {}
                () = reload => {}
            }
            crate::notify::send("STOPPING=1");
            // Every delivery is done: send what is still queued, then exit.
            let _ = stop_tx.send(());
            let _ = dispatcher.await;
            tracing::info!("pn lmtp stopped");
            Ok::<(), std::io::Error>(())
        })
        .map_err(|e| Failure::new(EX_TEMPFAIL, format!("pn lmtp: Fatal: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// Every session, spool file, mailbox and push connection takes a descriptor: use all the
/// hard limit allows (the common soft limit of 1024 is too few), as Dovecot's master does.
fn raise_nofile_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!("Could not raise the open files limit to the hard limit: {e}");
        }
    }
}

/// SIGTERM or SIGINT.
pub(crate) async fn signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {}
                _ = i.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// `service lmtp { inet_listener NAME { address port } unix_listener PATH { mode } }`.
fn configured_listeners(session: &Session) -> Vec<String> {
    let mut out = Vec::new();
    for l in session.service_listeners("lmtp") {
        out.push(l);
    }
    if out.is_empty() {
        out.push("127.0.0.1:24".to_owned());
    }
    out
}

fn bind(address: &str, session: &Session) -> Result<Bound, Failure> {
    let fail = |e: std::io::Error| {
        Failure::new(
            EX_TEMPFAIL,
            format!("pn lmtp: Fatal: listen({address}) failed: {e}"),
        )
    };
    if let Some(path) = address.strip_prefix("unix:") {
        let mut path = PathBuf::from(path);
        if path.is_relative() {
            let base = session
                .setting("base_dir")
                .unwrap_or_else(|| "/run/pn".to_owned());
            path = PathBuf::from(base).join(path);
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(fail)?;
        }
        // A socket left by an earlier run: only remove a socket, never another file.
        if let Ok(meta) = std::fs::symlink_metadata(&path)
            && std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type())
        {
            let _ = std::fs::remove_file(&path);
        }
        let l = std::os::unix::net::UnixListener::bind(&path).map_err(fail)?;
        rustix::net::listen(&l, BACKLOG).map_err(|e| fail(e.into()))?;
        l.set_nonblocking(true).map_err(fail)?;
        let mode = session.unix_listener_mode("lmtp", &path).unwrap_or(0o666);
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .map_err(fail)?;
        return Ok(Bound::Unix(l, path));
    }
    let l = std::net::TcpListener::bind(address).map_err(fail)?;
    rustix::net::listen(&l, BACKLOG).map_err(|e| fail(e.into()))?;
    l.set_nonblocking(true).map_err(fail)?;
    Ok(Bound::Tcp(l))
}

pub(crate) fn server_config(session: &Session) -> Result<ServerConfig, Failure> {
    let d = ServerConfig::default();
    // Every value goes through pn-config's parsers (Dovecot's), which also checked them when
    // the configuration was loaded: a bad value is an error there, never a silent default.
    let received = session
        .typed("lmtp_add_received_header", parse_bool)?
        .unwrap_or(d.trace.received);
    let delivery_address = match session.typed("lmtp_hdr_delivery_address", |v| {
        parse_enum(v, &["final", "none", "original"]).map(DeliveryAddress::parse)
    })? {
        Some(Some(address)) => address,
        _ => d.trace.delivery_address,
    };
    let hostname = session.setting("hostname").unwrap_or_else(|| {
        rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned()
    });
    let duration = |key: &str, default: Duration| -> Result<Duration, Failure> {
        Ok(session
            .typed(key, |v| Ok(parse_interval_msecs(v)?))?
            .map_or(default, |ms| Duration::from_millis(u64::from(ms))))
    };
    let count = |key: &str| -> Result<Option<usize>, Failure> {
        Ok(session
            .typed(key, |v| Ok(parse_uint(v)?))?
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)))
    };
    let session_limit = count("pn_lmtp_session_limit")?
        .or_else(|| session.service_limit("lmtp"))
        .unwrap_or(100);
    Ok(ServerConfig {
        hostname,
        greeting: session
            .setting("login_greeting")
            .unwrap_or_else(|| "pn ready.".to_owned()),
        max_message_size: session
            .typed("lmtp_max_mail_size", parse_size)?
            .unwrap_or(0),
        idle_timeout: duration("pn_lmtp_idle_timeout", d.idle_timeout)?,
        command_timeout: duration("pn_lmtp_command_timeout", d.command_timeout)?,
        session_limit,
        max_recipients: count("lmtp_max_recipients")?.unwrap_or(0),
        spool_dir: session
            .setting("mail_temp_dir")
            .map_or(d.spool_dir, PathBuf::from),
        trace: TraceSettings {
            received,
            delivery_address,
        },
    })
}
