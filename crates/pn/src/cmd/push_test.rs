//! `pn push test -u USER [--driver NAME]`: a synthetic MessageNew in the user's INBOX goes
//! through pn-core's engine and the user's drivers into a memory outbox (nothing is stored,
//! nothing enters the durable outbox); each request is then sent once with pn-dispatch's
//! dispatcher and its outcome printed with doveadm's formatters. A driver that queued no
//! request (dlog, lua, ox not enabled for the user) is listed as `no request`. The exit code
//! is 75 (EX_TEMPFAIL) when any request failed.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::{Args, Subcommand};
use pn_core::{Commit, MemoryOutbox, Save};

use crate::Cli;
use crate::cmd::mail::{Formatter, Table};
use crate::exit::{EX_NOUSER, EX_TEMPFAIL, EX_USAGE, Failure};
use crate::session::{LookupError, ServerOutbox, Session};

/// Arguments of `pn push`.
#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    #[command(subcommand)]
    pub(crate) command: PushCommand,
}

/// `pn push` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum PushCommand {
    /// Send a test notification through each driver enabled for a user and print each
    /// endpoint's outcome.
    Test(PushTestArgs),
}

/// Arguments of `pn push test`.
#[derive(Debug, Args)]
pub(crate) struct PushTestArgs {
    /// The user (as the userdb knows them).
    #[arg(short = 'u', value_name = "USER")]
    user: String,
    /// Only this driver (its name in `push_notification_driver…`, e.g. `ox`).
    #[arg(long, value_name = "NAME")]
    driver: Option<String>,
    /// Output formatter, as doveadm's `-f`.
    #[arg(short = 'f', long = "formatter", value_enum, id = "push_formatter")]
    pub(crate) formatter: Option<Formatter>,
}

/// The test message: what the drivers read (From, Subject, snippet).
const MESSAGE: &[u8] = b"From: pn push test <postmaster@localhost>\r\n\
Subject: pn push test\r\n\
Message-ID: <pn-push-test@localhost>\r\n\
\r\n\
This is a test notification sent by pn push test. No message was stored.\r\n";

pub(crate) fn run(cli: &Cli, args: &PushArgs) -> Result<ExitCode, Failure> {
    let PushCommand::Test(args) = &args.command;
    let fatal = |code: u8, e: String| Failure::new(code, format!("pn push test: {e}"));
    let session = Session::open(cli, "lda")?;
    let record = match session.lookup(&args.user) {
        Ok(r) => r,
        Err(LookupError::Unknown | LookupError::Invalid(_)) => {
            return Err(fatal(EX_NOUSER, format!("{}: no such user", args.user)));
        }
        Err(LookupError::Failed(why)) => return Err(fatal(EX_TEMPFAIL, why)),
    };
    if !session.push_notification_loaded() {
        return Err(fatal(
            EX_USAGE,
            "mail_plugins does not load notify and push_notification for protocol lda: \
             deliveries send no notifications"
                .to_owned(),
        ));
    }
    let mut drivers: Vec<String> = session
        .user_settings(&record)
        .map_err(|e| fatal(EX_TEMPFAIL, e))?
        .drivers
        .into_iter()
        .map(|d| d.name)
        .collect();
    drivers.dedup();
    if let Some(only) = &args.driver {
        drivers.retain(|d| d.eq_ignore_ascii_case(only));
        if drivers.is_empty() {
            return Err(fatal(
                EX_USAGE,
                format!("no driver {only:?} is configured for {}", args.user),
            ));
        }
    }
    let outbox = Arc::new(MemoryOutbox::new());
    let user = session
        .shared_mail_user(
            record,
            &ServerOutbox::Memory(Arc::clone(&outbox)),
            "pn-push-test".to_owned(),
        )
        .map_err(|e| fatal(EX_TEMPFAIL, e))?;
    // INBOX's real status when it exists, so drivers that report counts see true ones.
    let status = user.store.status("INBOX").ok();
    let uid = status.as_ref().map_or(1, |s| s.uid_next.max(1));
    let content = pn_message::RawMessage::new(MESSAGE);
    let mut txn = user.push.begin_mail_txn("INBOX");
    txn.save(&Save {
        delivery: true,
        flags: pn_event::MailFlags::default(),
        keywords: &[],
        content: &content,
    });
    txn.commit(&Commit {
        uid_validity: status.map_or(1, |s| s.uid_validity.max(1)),
        saved_uids: &[uid],
    });
    drop(user);
    let items: Vec<pn_core::OutboxItem> = outbox
        .take_all()
        .into_iter()
        .map(|(_, i)| i)
        .filter(|i| drivers.iter().any(|d| d.eq_ignore_ascii_case(&i.driver)))
        .collect();
    let dispatcher = crate::cmd::dispatch::dispatcher(|k| session.setting(k))
        .map_err(|e| fatal(EX_TEMPFAIL, e))?;
    let mut rows = Vec::new();
    let mut failed = false;
    for item in &items {
        let started = Instant::now();
        let outcome = dispatcher
            .block_on(dispatcher.send(item))
            .map_err(|e| fatal(EX_TEMPFAIL, e.to_string()))?;
        let ms = started.elapsed().as_millis();
        failed |= !outcome.success;
        rows.push(vec![
            item.driver.clone(),
            pn_outbox::store::endpoint_of(item),
            if outcome.success { "ok" } else { "failed" }.to_owned(),
            outcome.status.map_or(String::new(), |s| s.to_string()),
            ms.to_string(),
            if outcome.success {
                String::new()
            } else {
                outcome.message.clone()
            },
        ]);
    }
    for d in &drivers {
        if !items.iter().any(|i| i.driver.eq_ignore_ascii_case(d)) {
            rows.push(vec![
                d.clone(),
                String::new(),
                "no request".to_owned(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
    }
    let table = Table {
        columns: vec![
            "driver",
            "endpoint",
            "result",
            "status",
            "latency_ms",
            "error",
        ],
        rows,
        bare_first: true,
    };
    let mut out = std::io::stdout().lock();
    out.write_all(table.render(args.formatter.unwrap_or_default()).as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| fatal(EX_TEMPFAIL, e.to_string()))?;
    Ok(if failed {
        ExitCode::from(EX_TEMPFAIL)
    } else {
        ExitCode::SUCCESS
    })
}
