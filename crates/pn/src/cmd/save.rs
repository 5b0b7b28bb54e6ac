//! `pn save -u USER [-m MAILBOX]`: doveadm's `save`, an append of the message on stdin
//! (MessageAppend), as opposed to `pn deliver` (MessageNew).

use std::io::Read;
use std::process::ExitCode;

use clap::Args;
use pn_store::NewMessage;

use crate::Cli;
use crate::cmd::mail::{self, UserArg};
use crate::exit::{EX_TEMPFAIL, Failure};

/// Arguments of `pn save`.
#[derive(Debug, Args)]
pub(crate) struct SaveArgs {
    #[command(flatten)]
    user: UserArg,
    /// The mailbox to save into.
    #[arg(
        short = 'm',
        long = "mailbox",
        value_name = "MAILBOX",
        default_value = "INBOX"
    )]
    mailbox: String,
}

pub(crate) fn run(cli: &Cli, args: &SaveArgs) -> Result<ExitCode, Failure> {
    let opened = mail::open(cli, &args.user)?;
    let mut data = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut data)
        .map_err(|e| {
            Failure::new(
                EX_TEMPFAIL,
                format!("{}Error: read(stdin) failed: {e}", opened.prefix),
            )
        })?;
    let store = &opened.user.store;
    let open = store.mailbox_exists(&args.mailbox).and_then(|exists| {
        if exists {
            Ok(())
        } else {
            Err(pn_store::StoreError::MailboxNotFound(args.mailbox.clone()))
        }
    });
    if let Err(e) = open {
        return Err(Failure::new(
            mail::exit_code(&e),
            format!(
                "{}Error: Failed to open mailbox {}: {e}",
                opened.prefix, args.mailbox
            ),
        ));
    }
    match store.append(
        Some(&opened.user.push),
        &args.mailbox,
        &NewMessage::new(&data),
    ) {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => Err(Failure::new(
            mail::exit_code(&e),
            format!(
                "{}Error: Saving failed to mailbox {}: {e}",
                opened.prefix, args.mailbox
            ),
        )),
    }
}
