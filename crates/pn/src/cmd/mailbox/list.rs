//! `pn mailbox list [-s] [<mask> …]`: one mailbox name per line, like doveadm.

use clap::Args;

use crate::cmd::mail::{self, Formatter, Opened, Outcome, Table, UserArg};
use crate::exit::Failure;

/// `list [-s] [-f FORMATTER] [<mailbox mask> …]`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    pub(crate) user: UserArg,
    /// Only subscribed mailboxes.
    #[arg(short = 's', long = "subscriptions")]
    subscriptions: bool,
    /// Output formatter (doveadm's `-f`; also accepted before the command). Default: flow.
    #[arg(short = 'f', long = "formatter", value_enum)]
    pub(crate) formatter: Option<Formatter>,
    /// Mailbox masks (`*` anything, `%` anything but `/`); default: all.
    #[arg(value_name = "MASK")]
    masks: Vec<String>,
}

pub(crate) fn run(o: &Opened, args: &ListArgs) -> Result<std::process::ExitCode, Failure> {
    let mut outcome = Outcome::default();
    let names: Vec<String> = if args.subscriptions {
        match o.user.store.subscriptions() {
            Ok(s) => s,
            Err(e) => {
                outcome.store_error(&e, format!("{}Error: {e}", o.prefix));
                Vec::new()
            }
        }
    } else {
        match o.user.store.list_mailboxes() {
            Ok(l) => l.into_iter().map(|m| m.name).collect(),
            Err(e) => {
                outcome.store_error(&e, format!("{}Error: {e}", o.prefix));
                Vec::new()
            }
        }
    };
    let rows = names
        .into_iter()
        .filter(|n| args.masks.is_empty() || args.masks.iter().any(|m| mail::mask_matches(n, m)))
        .map(|n| vec![n])
        .collect();
    let table = Table {
        columns: vec!["mailbox"],
        rows,
        bare_first: true,
    };
    mail::print(&table.render(args.formatter.unwrap_or_default()));
    outcome.finish()
}
