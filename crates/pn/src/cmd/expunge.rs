//! `pn expunge -u USER SEARCH`: doveadm's `expunge`. The query must name a mailbox and
//! something else, as doveadm insists; each expunged message fires MessageExpunge.

use std::process::ExitCode;

use clap::Args;

use crate::Cli;
use crate::cmd::mail::{self, UserArg};
use crate::cmd::search::Query;
use crate::exit::{EX_USAGE, Failure};

/// Arguments of `pn expunge`.
#[derive(Debug, Args)]
pub(crate) struct ExpungeArgs {
    #[command(flatten)]
    user: UserArg,
    /// The search query: `mailbox NAME` and `uid SET`, `all`, `seen`, `unseen`.
    #[arg(value_name = "SEARCH", allow_hyphen_values = true)]
    query: Vec<String>,
}

pub(crate) fn run(cli: &Cli, args: &ExpungeArgs) -> Result<ExitCode, Failure> {
    if args.query.is_empty() {
        return Err(Failure::new(
            EX_USAGE,
            "pn expunge [-u <user>] <search query>",
        ));
    }
    let query = Query::parse(&args.query)?;
    if !query.has_mailbox() {
        return Err(Failure::new(
            EX_USAGE,
            "Fatal: expunge: To avoid accidents, search query must contain MAILBOX in all \
             search branches",
        ));
    }
    if !query.has_other_keys() {
        return Err(Failure::new(
            EX_USAGE,
            "Fatal: expunge: To avoid accidents, each branch in search query must contain \
             something else besides MAILBOX (e.g. just add \"all\" if you want everything)",
        ));
    }
    let opened = mail::open(cli, &args.user)?;
    let push = &opened.user.push;
    mail::apply_to_matches(&opened, &query, "Expunge failed", |mailbox, uids| {
        opened
            .user
            .store
            .expunge(Some(push), mailbox, uids)
            .map(drop)
    })
}
