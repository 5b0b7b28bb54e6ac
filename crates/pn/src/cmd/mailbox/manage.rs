//! `pn mailbox create|delete|rename|subscribe|unsubscribe`: doveadm's commands, with its
//! messages and exit codes. Each change fires its mailbox event (MailboxCreate, …).

use clap::Args;

use crate::cmd::mail::{Opened, Outcome, UserArg};
use crate::exit::Failure;

/// `create [-s] <mailbox> …`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    pub(crate) user: UserArg,
    /// Also subscribe to the new mailboxes.
    #[arg(short = 's', long = "subscriptions")]
    subscribe: bool,
    /// The mailboxes.
    #[arg(value_name = "MAILBOX", required = true)]
    mailboxes: Vec<String>,
}

/// `delete [-r] [-e] [-s] <mailbox> …`.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    #[command(flatten)]
    pub(crate) user: UserArg,
    /// Also unsubscribe the mailboxes.
    #[arg(short = 's', long = "subscriptions")]
    unsubscribe: bool,
    /// Delete the mailboxes' children too.
    #[arg(short = 'r', long = "recursive")]
    recursive: bool,
    /// Only delete empty mailboxes.
    #[arg(short = 'e', long = "require-empty")]
    require_empty: bool,
    /// The mailboxes.
    #[arg(value_name = "MAILBOX", required = true)]
    mailboxes: Vec<String>,
}

/// `rename [-s] <old name> <new name>`.
#[derive(Debug, Args)]
pub(crate) struct RenameArgs {
    #[command(flatten)]
    pub(crate) user: UserArg,
    /// Move the subscription too.
    #[arg(short = 's', long = "subscriptions")]
    subscriptions: bool,
    /// The mailbox.
    #[arg(value_name = "OLD")]
    old: String,
    /// Its new name.
    #[arg(value_name = "NEW")]
    new: String,
}

/// `subscribe|unsubscribe <mailbox> …`.
#[derive(Debug, Args)]
pub(crate) struct SubscribeArgs {
    #[command(flatten)]
    pub(crate) user: UserArg,
    /// The mailboxes.
    #[arg(value_name = "MAILBOX", required = true)]
    mailboxes: Vec<String>,
}

pub(crate) fn create(o: &Opened, args: &CreateArgs) -> Result<std::process::ExitCode, Failure> {
    let (store, push, p) = (&o.user.store, Some(&o.user.push), &o.prefix);
    let mut outcome = Outcome::default();
    for name in &args.mailboxes {
        if let Err(e) = store.create_mailbox(push, name) {
            outcome.store_error(&e, format!("{p}Error: Can't create mailbox {name}: {e}"));
            continue;
        }
        if args.subscribe
            && let Err(e) = store.set_subscribed(push, name, true)
        {
            outcome.store_error(
                &e,
                format!("{p}Error: Can't subscribe to mailbox {name}: {e}"),
            );
        }
    }
    outcome.finish()
}

pub(crate) fn delete(o: &Opened, args: &DeleteArgs) -> Result<std::process::ExitCode, Failure> {
    let (store, push, p) = (&o.user.store, Some(&o.user.push), &o.prefix);
    let mut outcome = Outcome::default();
    let mut names: Vec<String> = Vec::new();
    for name in &args.mailboxes {
        if args.recursive {
            // Children first, deepest first, like doveadm's recursive delete.
            let prefix = format!("{name}/");
            let mut children: Vec<String> = match store.list_mailboxes() {
                Ok(list) => list
                    .into_iter()
                    .filter(|m| m.selectable && m.name.starts_with(&prefix))
                    .map(|m| m.name)
                    .collect(),
                Err(e) => {
                    outcome.store_error(&e, format!("{p}Error: {e}"));
                    continue;
                }
            };
            children.sort_by(|a, b| b.cmp(a));
            let had_children = !children.is_empty();
            names.extend(children);
            // A parent that only exists through its children (Maildir++ has no directory
            // for it) is gone with them.
            if had_children && !store.mailbox_exists(name).unwrap_or(true) {
                continue;
            }
        }
        names.push(name.clone());
    }
    for name in &names {
        if args.require_empty {
            match store.status(name) {
                Ok(s) if s.messages > 0 => {
                    outcome.fail(
                        crate::exit::EX_DATAERR,
                        format!("{p}Error: Can't delete mailbox {name}: Mailbox isn't empty"),
                    );
                    continue;
                }
                _ => {}
            }
        }
        if let Err(e) = store.delete_mailbox(push, name) {
            outcome.store_error(&e, format!("{p}Error: Can't delete mailbox {name}: {e}"));
            continue;
        }
        if args.unsubscribe
            && let Err(e) = store.set_subscribed(push, name, false)
        {
            outcome.store_error(
                &e,
                format!("{p}Error: Can't unsubscribe mailbox {name}: {e}"),
            );
        }
    }
    outcome.finish()
}

pub(crate) fn rename(o: &Opened, args: &RenameArgs) -> Result<std::process::ExitCode, Failure> {
    let (store, push, p) = (&o.user.store, Some(&o.user.push), &o.prefix);
    let (old, new) = (&args.old, &args.new);
    let mut outcome = Outcome::default();
    if let Err(e) = store.rename_mailbox(push, old, new) {
        let reason = match &e {
            pn_store::StoreError::MailboxExists(_) => "Target mailbox already exists".to_owned(),
            e => e.to_string(),
        };
        outcome.store_error(
            &e,
            format!("{p}Error: Can't rename mailbox {old} to {new}: {reason}"),
        );
        return outcome.finish();
    }
    if args.subscriptions {
        if let Err(e) = store.set_subscribed(push, old, false) {
            outcome.store_error(
                &e,
                format!("{p}Error: Can't unsubscribe mailbox {old}: {e}"),
            );
        }
        if let Err(e) = store.set_subscribed(push, new, true) {
            outcome.store_error(
                &e,
                format!("{p}Error: Can't subscribe to mailbox {new}: {e}"),
            );
        }
    }
    outcome.finish()
}

pub(crate) fn subscribe(
    o: &Opened,
    args: &SubscribeArgs,
    subscribed: bool,
) -> Result<std::process::ExitCode, Failure> {
    let (store, push, p) = (&o.user.store, Some(&o.user.push), &o.prefix);
    let mut outcome = Outcome::default();
    for name in &args.mailboxes {
        if let Err(e) = store.set_subscribed(push, name, subscribed) {
            let what = if subscribed {
                "subscribe to"
            } else {
                "unsubscribe"
            };
            outcome.store_error(&e, format!("{p}Error: Can't {what} mailbox {name}: {e}"));
        }
    }
    outcome.finish()
}
