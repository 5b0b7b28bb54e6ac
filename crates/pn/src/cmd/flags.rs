//! `pn flags add|remove|replace -u USER FLAGS SEARCH`: doveadm's `flags` command. Each changed
//! message fires FlagsSet / FlagsClear / MessageRead / MessageTrash through the store.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use pn_event::MailFlags;
use pn_store::FlagOp;

use crate::Cli;
use crate::cmd::mail::{self, UserArg};
use crate::cmd::search::Query;
use crate::exit::{EX_TEMPFAIL, EX_USAGE, Failure};

/// Arguments of `pn flags`.
#[derive(Debug, Args)]
pub(crate) struct FlagsArgs {
    #[command(subcommand)]
    op: FlagsOp,
}

/// How the flags change.
#[derive(Debug, Subcommand)]
enum FlagsOp {
    /// Add flags and keywords to the matching messages.
    Add(FlagsCmd),
    /// Remove flags and keywords from the matching messages.
    Remove(FlagsCmd),
    /// Make the given flags and keywords the matching messages' only ones.
    Replace(FlagsCmd),
}

/// `-u USER <flags> <search query>`.
#[derive(Debug, Args)]
struct FlagsCmd {
    #[command(flatten)]
    user: UserArg,
    /// Space-separated system flags (`\Seen`, …) and keywords, as one argument.
    #[arg(value_name = "FLAGS")]
    flags: Option<String>,
    /// The search query: `mailbox NAME`, `uid SET`, `all`, `seen`, `unseen`.
    #[arg(value_name = "SEARCH", allow_hyphen_values = true)]
    query: Vec<String>,
}

pub(crate) fn run(cli: &Cli, args: &FlagsArgs) -> Result<ExitCode, Failure> {
    let (op, name, cmd) = match &args.op {
        FlagsOp::Add(c) => (FlagOp::Add, "add", c),
        FlagsOp::Remove(c) => (FlagOp::Remove, "remove", c),
        FlagsOp::Replace(c) => (FlagOp::Replace, "replace", c),
    };
    let Some(flag_words) = cmd.flags.as_deref().filter(|_| !cmd.query.is_empty()) else {
        return Err(Failure::new(
            EX_USAGE,
            format!("pn flags {name} [-u <user>] <flags> <search query>"),
        ));
    };
    let (flags, keywords) = parse_flags(flag_words)?;
    let query = Query::parse(&cmd.query)?;
    let opened = mail::open(cli, &cmd.user)?;
    let push = &opened.user.push;
    mail::apply_to_matches(&opened, &query, "Cannot update flags", |mailbox, uids| {
        opened
            .user
            .store
            .update_flags(Some(push), mailbox, uids, op, flags, &keywords)
            .map(drop)
    })
}

/// Splits doveadm's flags argument into system flags and keywords; an unknown `\Flag` is
/// doveadm's fatal error.
fn parse_flags(words: &str) -> Result<(MailFlags, Vec<String>), Failure> {
    let mut flags = MailFlags::empty();
    let mut keywords = Vec::new();
    for word in words.split_whitespace() {
        if word.starts_with('\\') {
            match MailFlags::from_imap_name(word) {
                Ok(f) if f != MailFlags::RECENT => flags |= f,
                _ => {
                    return Err(Failure::new(
                        EX_TEMPFAIL,
                        format!("Fatal: Invalid system flag: {word}"),
                    ));
                }
            }
        } else if !keywords.contains(&word.to_owned()) {
            keywords.push(word.to_owned());
        }
    }
    Ok((flags, keywords))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_split_into_system_flags_and_keywords() {
        let (flags, keywords) = parse_flags("\\seen $Important \\Flagged todo").expect("valid");
        assert_eq!(flags, MailFlags::SEEN | MailFlags::FLAGGED);
        assert_eq!(keywords, ["$Important", "todo"]);
    }

    #[test]
    fn unknown_system_flags_are_fatal() {
        for bad in ["\\Bogus", "\\Recent"] {
            let err = parse_flags(bad).expect_err("invalid");
            assert_eq!(err.message, format!("Fatal: Invalid system flag: {bad}"));
        }
    }
}
