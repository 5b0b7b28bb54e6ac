//! `pn expunge -u USER SEARCH`: doveadm's `expunge`. The query must name a mailbox and
//! something else, as doveadm insists; each expunged message fires MessageExpunge.

use std::process::ExitCode;

use clap::Args;

use crate::Cli;
use crate::cmd::mail::{self, Outcome, UserArg};
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
    let store = &opened.user.store;
    let mut outcome = Outcome::default();
    let mailboxes = match query.mailboxes(store) {
        Ok(m) => m,
        Err(e) => {
            outcome.store_error(&e, format!("{}Error: {e}", opened.prefix));
            return outcome.finish();
        }
    };
    for mailbox in mailboxes {
        let uids = match store.messages(&mailbox) {
            Ok(msgs) => query.matching_uids(&msgs),
            Err(e) => {
                outcome.store_error(
                    &e,
                    format!(
                        "{}Error: Mailbox {mailbox}: Mailbox sync failed: {e}",
                        opened.prefix
                    ),
                );
                continue;
            }
        };
        if uids.is_empty() {
            continue;
        }
        if let Err(e) = store.expunge(Some(&opened.user.push), &mailbox, &uids) {
            outcome.store_error(
                &e,
                format!(
                    "{}Error: Mailbox {mailbox}: Expunge failed: {e}",
                    opened.prefix
                ),
            );
        }
    }
    outcome.finish()
}
