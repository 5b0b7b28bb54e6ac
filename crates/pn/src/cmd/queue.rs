//! `pn queue`: the durable outbox seen and managed from the shell — `list`, `show`, `retry`,
//! `purge`, `dead`, `stats`, `endpoints`, `endpoint enable` — with doveadm's formatters.
//! URLs are shown without credentials and signing secrets never at all.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use pn_core::{OutboxItem, Payload};
use pn_outbox::Store;
use pn_outbox::store::ItemRow;

use crate::Cli;
use crate::cmd::dispatch::{OutboxMode, outbox_mode};
use crate::cmd::mail::{Formatter, Table};
use crate::exit::{EX_NOUSER, EX_TEMPFAIL, EX_USAGE, Failure};
use crate::session::Session;

mod nats;

/// Arguments of `pn queue`.
#[derive(Debug, Args)]
pub(crate) struct QueueArgs {
    /// Output formatter, as doveadm's `-f` (before the command as doveadm has it, or here;
    /// default flow).
    #[arg(
        id = "queue_formatter",
        short = 'f',
        long = "formatter",
        value_enum,
        global = true
    )]
    pub(crate) formatter: Option<Formatter>,
    #[command(subcommand)]
    op: QueueOp,
}

#[derive(Debug, Subcommand)]
enum QueueOp {
    /// Notifications waiting to be sent, in event order.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// One notification (row id or event id).
    Show {
        /// Row id or event id.
        id: String,
    },
    /// Send now: dead letters are queued again, waiting items are due at once.
    Retry {
        /// Row ids or event ids.
        ids: Vec<String>,
        /// Every item.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
    /// Delete dead letters (all, or the given ones).
    Purge {
        /// Row ids or event ids.
        ids: Vec<String>,
    },
    /// Dead letters.
    Dead {
        /// At most this many.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Counts.
    Stats,
    /// Endpoints and their health.
    Endpoints,
    /// Manage one endpoint.
    Endpoint {
        #[command(subcommand)]
        op: EndpointOp,
    },
}

#[derive(Debug, Subcommand)]
enum EndpointOp {
    /// Send to a disabled endpoint again.
    Enable {
        /// The endpoint as `pn queue endpoints` shows it (`scheme://host:port`).
        endpoint: String,
    },
}

pub(crate) fn run(cli: &Cli, args: &QueueArgs) -> Result<ExitCode, Failure> {
    let session = Session::open(cli, "lda")?;
    crate::cmd::dispatch::become_mail_user(&session, "queue")?;
    let fatal = |code: u8, e: String| Failure::new(code, format!("pn queue: {e}"));
    if let Some((cfg, _)) =
        crate::cmd::worker::nats_mode(|k| session.setting(k)).map_err(|e| fatal(EX_USAGE, e))?
    {
        let table = nats::run(&cfg, &args.op).map_err(|e| fatal(EX_TEMPFAIL, e))?;
        let mut out = std::io::stdout().lock();
        out.write_all(table.render(args.formatter.unwrap_or_default()).as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| fatal(EX_TEMPFAIL, e.to_string()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let path = match outbox_mode(|k| session.setting(k)).map_err(|e| fatal(EX_USAGE, e))? {
        OutboxMode::Memory => {
            return Err(fatal(
                EX_USAGE,
                "pn_outbox = memory: there is no durable outbox".to_owned(),
            ));
        }
        OutboxMode::Durable(path, _) => path,
    };
    let mut store = Store::open(&path).map_err(|e| fatal(EX_TEMPFAIL, e.to_string()))?;
    let db = |e: pn_outbox::OutboxStoreError| fatal(EX_TEMPFAIL, e.to_string());
    let table = match &args.op {
        QueueOp::List { limit } => items(&store.items(false, *limit).map_err(db)?),
        QueueOp::Dead { limit } => items(&store.items(true, *limit).map_err(db)?),
        QueueOp::Show { id } => match store.item(id).map_err(db)? {
            Some(row) => show(&row),
            None => return Err(fatal(EX_NOUSER, format!("{id}: no such notification"))),
        },
        QueueOp::Retry { ids, all } => {
            if ids.is_empty() && !all {
                return Err(fatal(EX_USAGE, "retry: give IDs or --all".to_owned()));
            }
            let n = store.retry((!all).then_some(ids.as_slice())).map_err(db)?;
            count("retried", n)
        }
        QueueOp::Purge { ids } => {
            let n = store
                .purge((!ids.is_empty()).then_some(ids.as_slice()))
                .map_err(db)?;
            count("purged", n)
        }
        QueueOp::Stats => {
            let s = store.stats().map_err(db)?;
            Table {
                columns: vec!["queued", "due", "dead", "oldest_secs", "disabled_endpoints"],
                rows: vec![vec![
                    s.queued.to_string(),
                    s.due.to_string(),
                    s.dead.to_string(),
                    s.oldest_ms
                        .map_or(String::new(), |m| (m / 1000).to_string()),
                    s.disabled_endpoints.to_string(),
                ]],
                bare_first: false,
            }
        }
        QueueOp::Endpoints => Table {
            columns: vec![
                "endpoint",
                "queued",
                "failures",
                "failing_since",
                "disabled_since",
                "last_error",
            ],
            rows: store
                .endpoints()
                .map_err(db)?
                .into_iter()
                .map(|e| {
                    vec![
                        e.endpoint,
                        e.queued.to_string(),
                        e.failures.to_string(),
                        time(e.failing_since_ms),
                        time(e.disabled_ms),
                        e.last_error.unwrap_or_default(),
                    ]
                })
                .collect(),
            bare_first: true,
        },
        QueueOp::Endpoint {
            op: EndpointOp::Enable { endpoint },
        } => {
            if !store.enable_endpoint(endpoint).map_err(db)? {
                return Err(fatal(EX_NOUSER, format!("{endpoint}: no such endpoint")));
            }
            count("enabled", 1)
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(table.render(args.formatter.unwrap_or_default()).as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| fatal(EX_TEMPFAIL, e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}

fn count(what: &'static str, n: usize) -> Table {
    Table {
        columns: vec![what],
        rows: vec![vec![n.to_string()]],
        bare_first: false,
    }
}

/// Milliseconds since the epoch as Unix seconds (empty when unset).
fn time(ms: Option<i64>) -> String {
    ms.map_or(String::new(), |m| (m / 1000).to_string())
}

fn items(rows: &[ItemRow]) -> Table {
    Table {
        columns: vec![
            "id",
            "event_id",
            "user",
            "driver",
            "endpoint",
            "created",
            "failures",
            "next_due",
            "last_error",
        ],
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    r.id.to_string(),
                    r.event_id.clone(),
                    r.user.clone(),
                    r.driver.clone(),
                    r.endpoint.clone(),
                    time(Some(r.created_ms)),
                    r.failures.to_string(),
                    time(r.next_due_ms),
                    r.last_error.clone().unwrap_or_default(),
                ]
            })
            .collect(),
        bare_first: false,
    }
}

fn show(r: &ItemRow) -> Table {
    let mut t = items(std::slice::from_ref(r));
    let (method, url, headers, body) = match r.item() {
        Ok(OutboxItem {
            payload: Payload::Http(req),
            ..
        }) => (
            req.method,
            pn_config::mask_url_secrets(&req.url),
            req.headers
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .join(","),
            String::from_utf8_lossy(&req.body).into_owned(),
        ),
        Err(e) => (
            String::new(),
            String::new(),
            String::new(),
            format!("unreadable: {e}"),
        ),
    };
    t.columns
        .extend(["dead_since", "method", "url", "headers", "body"]);
    if let Some(row) = t.rows.first_mut() {
        row.extend([time(r.dead_ms), method, url, headers, body]);
    }
    t
}
