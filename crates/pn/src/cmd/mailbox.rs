//! `pn mailbox …`: doveadm's mailbox commands.

pub(crate) mod list;
mod manage;
pub(crate) mod status;

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::Cli;
use crate::cmd::mail;
use crate::exit::Failure;

/// Arguments of `pn mailbox`.
#[derive(Debug, Args)]
pub(crate) struct MailboxArgs {
    #[command(subcommand)]
    pub(crate) command: MailboxCommand,
}

/// The `pn mailbox` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum MailboxCommand {
    /// Mailbox and server METADATA (RFC 5464), like `doveadm mailbox metadata`.
    Metadata(crate::cmd::metadata::MetadataArgs),
    /// Create mailboxes (MailboxCreate): `[-s] <mailbox> …`.
    Create(manage::CreateArgs),
    /// Delete mailboxes (MailboxDelete): `[-r] [-e] [-s] <mailbox> …`.
    Delete(manage::DeleteArgs),
    /// Rename a mailbox (MailboxRename): `[-s] <old name> <new name>`.
    Rename(manage::RenameArgs),
    /// Subscribe to mailboxes (MailboxSubscribe).
    Subscribe(manage::SubscribeArgs),
    /// Unsubscribe mailboxes (MailboxUnsubscribe).
    Unsubscribe(manage::SubscribeArgs),
    /// List mailboxes, one per line: `[-s] [<mask> …]`.
    List(list::ListArgs),
    /// Mailbox status: `[-t] <fields> <mask> …`.
    Status(status::StatusArgs),
}

pub(crate) fn run(cli: &Cli, args: &MailboxArgs) -> Result<ExitCode, Failure> {
    match &args.command {
        MailboxCommand::Metadata(m) => crate::cmd::metadata::run(cli, m),
        MailboxCommand::Create(a) => manage::create(&mail::open(cli, &a.user)?, a),
        MailboxCommand::Delete(a) => manage::delete(&mail::open(cli, &a.user)?, a),
        MailboxCommand::Rename(a) => manage::rename(&mail::open(cli, &a.user)?, a),
        MailboxCommand::Subscribe(a) => manage::subscribe(&mail::open(cli, &a.user)?, a, true),
        MailboxCommand::Unsubscribe(a) => manage::subscribe(&mail::open(cli, &a.user)?, a, false),
        MailboxCommand::List(a) => list::run(&mail::open(cli, &a.user)?, a),
        MailboxCommand::Status(a) => status::run(&mail::open(cli, &a.user)?, a),
    }
}
