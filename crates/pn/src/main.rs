//! `pn`: the command-line edge of pn. Errors from the library crates become messages and exit
//! codes here and nowhere else.

mod cmd;
mod drivers;
mod exit;
mod logging;
mod privileges;
mod session;
mod settings;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::logging::LogFormat;

/// Push notifications for mail stores, compatible with Dovecot's push-notification plugin.
#[derive(Debug, Parser)]
#[command(name = "pn", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Configuration file (dovecot.conf syntax). Without one, pn uses its embedded default.
    #[arg(
        short = 'c',
        long = "config",
        env = "PN_CONFIG",
        global = true,
        value_name = "FILE"
    )]
    pub(crate) config: Option<PathBuf>,

    /// Override a setting, like doveadm's `-o key=value`. May be repeated.
    #[arg(short = 'o', global = true, value_name = "KEY=VALUE", value_parser = parse_override)]
    pub(crate) overrides: Vec<(String, String)>,

    /// Log filter in `tracing` syntax (e.g. `info`, `debug`, `pn_core=trace`).
    #[arg(long = "log", env = "PN_LOG", global = true, value_name = "FILTER")]
    pub(crate) log: Option<String>,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub(crate) log_format: LogFormat,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Show and check the configuration.
    Config(cmd::config::ConfigArgs),
    /// doveadm-style mailbox commands.
    Mailbox(cmd::mailbox::MailboxArgs),
    /// Deliver a message like dovecot-lda (MessageNew).
    Deliver(cmd::deliver::DeliverArgs),
    /// Save (append) the message on stdin to a mailbox, like `doveadm save` (MessageAppend).
    Save(cmd::save::SaveArgs),
    /// Change message flags and keywords, like `doveadm flags`.
    Flags(cmd::flags::FlagsArgs),
    /// Expunge messages, like `doveadm expunge`.
    Expunge(cmd::expunge::ExpungeArgs),
    /// Serve LMTP (RFC 2033): deliver into the store with push notifications.
    Lmtp(cmd::lmtp::LmtpArgs),
    /// Send the durable outbox's notifications (for hosts that only run `pn deliver`).
    Dispatch(cmd::dispatch::DispatchArgs),
    /// Inspect and manage the durable outbox.
    Queue(cmd::queue::QueueArgs),
}

fn parse_override(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version are not errors; bad usage exits 64 (EX_USAGE) like doveadm,
            // not clap's default 2.
            let code = if e.use_stderr() { exit::EX_USAGE } else { 0 };
            // If stdout/stderr is closed there is nobody left to tell.
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if let Err(e) = logging::init(cli.log.as_deref(), cli.log_format) {
        // Logging is not up yet, so this is the one place that writes to stderr directly.
        #[allow(clippy::print_stderr)]
        {
            eprintln!("pn: {e}");
        }
        return ExitCode::from(exit::EX_USAGE);
    }
    let result = match &cli.command {
        Command::Config(args) => cmd::config::run(&cli, args),
        Command::Mailbox(args) => cmd::mailbox::run(&cli, args),
        Command::Deliver(args) => cmd::deliver::run(&cli, args),
        Command::Save(args) => cmd::save::run(&cli, args),
        Command::Flags(args) => cmd::flags::run(&cli, args),
        Command::Expunge(args) => cmd::expunge::run(&cli, args),
        Command::Lmtp(args) => cmd::lmtp::run(&cli, args),
        Command::Dispatch(args) => cmd::dispatch::run(&cli, args),
        Command::Queue(args) => cmd::queue::run(&cli, args),
    };
    match result {
        Ok(code) => code,
        Err(failure) => failure.report(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_needs_key_and_equals() {
        assert_eq!(parse_override("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_override("a="), Ok(("a".into(), String::new())));
        assert!(parse_override("novalue").is_err());
        assert!(parse_override("=x").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
