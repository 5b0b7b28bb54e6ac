//! `pn mailbox …`: doveadm's mailbox commands.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::Cli;
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
}

pub(crate) fn run(cli: &Cli, args: &MailboxArgs) -> Result<ExitCode, Failure> {
    match &args.command {
        MailboxCommand::Metadata(m) => crate::cmd::metadata::run(cli, m),
    }
}
