//! `pn`: the command-line edge of pn. Errors from the library crates become messages and exit
//! codes here and nowhere else.

mod cmd;
mod drivers;
mod exit;
mod logging;
mod metrics;
mod notify;
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

    /// Override a setting, like doveadm's `-o key=value`: wins over every line of the file,
    /// `protocol` filters included. May be repeated, before or after the command.
    #[arg(short = 'o', global = true, value_name = "KEY=VALUE", value_parser = parse_override)]
    pub(crate) overrides: Vec<(String, String)>,

    /// doveadm's output formatter, before the command (`pn -f tab mailbox metadata list …`).
    /// The doveadm-style commands also take it after their name. Default: flow.
    #[arg(short = 'f', long = "formatter", value_enum, value_name = "FORMATTER")]
    pub(crate) formatter: Option<cmd::metadata::Formatter>,

    /// Debug logging, like doveadm's `-D` (the log filter `debug`; wins over `--log`).
    #[arg(short = 'D', global = true)]
    pub(crate) debug: bool,

    /// Verbose logging, like doveadm's `-v` (pn's default filter, whatever `PN_LOG` says;
    /// `-D` and `--log` win).
    #[arg(short = 'v', global = true)]
    pub(crate) verbose: bool,

    /// Log filter in `tracing` syntax (e.g. `info`, `debug`, `pn_core=trace`). Default:
    /// `$PN_LOG`, else `info,pn_driver_dlog=debug`.
    #[arg(long = "log", global = true, value_name = "FILTER")]
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
    /// Web Push tools (`pn webpush keygen`: VAPID keys for the webpush driver).
    Webpush(cmd::webpush::WebpushArgs),
    /// Bridge a live Dovecot to pn's drivers through a spool (docs/bridge.md).
    Bridge(cmd::bridge::BridgeArgs),
    /// Print a shell completion script (bash, zsh, fish).
    Completions(cmd::generate::CompletionsArgs),
    /// Write the man pages into a directory (used by packaging).
    #[command(hide = true)]
    GenerateMan(cmd::generate::ManArgs),
    /// Send the durable outbox's notifications (for hosts that only run `pn deliver`).
    Dispatch(cmd::dispatch::DispatchArgs),
    /// Inspect and manage the durable outbox.
    Queue(cmd::queue::QueueArgs),
    /// Push tools (`pn push test -u USER`: send a test notification through each driver).
    Push(cmd::push_test::PushArgs),
    /// Send notifications from NATS JetStream (`pn_outbox = nats`, docs/scale-out.md).
    Worker(cmd::worker::WorkerArgs),
}

fn parse_override(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// doveadm's `-f` given before the command goes to the command's own formatter, unless the
/// command was given one too (the later one wins, as with doveadm's getopt).
fn push_down_formatter(cli: &mut Cli) -> Result<(), String> {
    use clap::ValueEnum;
    use cmd::mailbox::MailboxCommand;
    let Some(global) = cli.formatter else {
        return Ok(());
    };
    let name = global
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default();
    let unsupported = |what: &str| {
        Err(format!(
            "pn: -f {} is doveadm's output formatter; {what} prints no table",
            name
        ))
    };
    let mail = || {
        cmd::mail::Formatter::from_str(&name, true).map_err(|_| {
            format!(
                "pn: -f {}: this command has the formatters flow, tab and json",
                name
            )
        })
    };
    match &mut cli.command {
        Command::Mailbox(m) => match &mut m.command {
            MailboxCommand::Metadata(a) => {
                a.formatter.get_or_insert(global);
            }
            MailboxCommand::List(a) if a.formatter.is_none() => a.formatter = Some(mail()?),
            MailboxCommand::Status(a) if a.formatter.is_none() => a.formatter = Some(mail()?),
            // doveadm accepts -f for every command; these print nothing to format.
            _ => {}
        },
        Command::Queue(a) if a.formatter.is_none() => a.formatter = Some(mail()?),
        Command::Push(p) => match &mut p.command {
            cmd::push_test::PushCommand::Test(a) if a.formatter.is_none() => {
                a.formatter = Some(mail()?);
            }
            cmd::push_test::PushCommand::Test(_) => {}
        },
        Command::Save(_) | Command::Flags(_) | Command::Expunge(_) | Command::Queue(_) => {}
        Command::Deliver(_) => {
            return unsupported("deliver (dovecot-lda's -f SENDER goes after `deliver`)");
        }
        Command::Lmtp(_) => return unsupported("lmtp"),
        Command::Config(_) => return unsupported("config"),
        Command::Completions(_)
        | Command::GenerateMan(_)
        | Command::Webpush(_)
        | Command::Bridge(_)
        | Command::Dispatch(_)
        | Command::Worker(_) => {
            return unsupported("this command");
        }
    }
    Ok(())
}

/// The log filter: `-D`, else `--log`, else `-v` (pn's default), else `PN_LOG`, else the
/// default.
fn log_filter(cli: &Cli) -> Option<String> {
    if cli.debug {
        return Some("debug".to_owned());
    }
    if let Some(filter) = &cli.log {
        return Some(filter.clone());
    }
    if cli.verbose {
        return Some(logging::DEFAULT_FILTER.to_owned());
    }
    std::env::var("PN_LOG").ok().filter(|f| !f.is_empty())
}

fn main() -> ExitCode {
    // Before anything can switch ids: the data directory depends on it.
    session::started_as_root();
    let mut cli = match Cli::try_parse() {
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
    if let Err(message) = push_down_formatter(&mut cli) {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("{message}");
        }
        return ExitCode::from(exit::EX_USAGE);
    }
    if let Err(e) = logging::init(log_filter(&cli).as_deref(), cli.log_format) {
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
        Command::Webpush(args) => cmd::webpush::run(args),
        Command::Bridge(args) => cmd::bridge::run(&cli, args),
        Command::Completions(args) => cmd::generate::completions(args),
        Command::GenerateMan(args) => cmd::generate::man(args),
        Command::Dispatch(args) => cmd::dispatch::run(&cli, args),
        Command::Queue(args) => cmd::queue::run(&cli, args),
        Command::Push(args) => cmd::push_test::run(&cli, args),
        Command::Worker(args) => cmd::worker::run(&cli, args),
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
