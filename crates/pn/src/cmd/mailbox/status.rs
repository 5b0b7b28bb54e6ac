//! `pn mailbox status [-t] <fields> <mask> …`: doveadm's mailbox status.
//!
//! Fields, always printed in doveadm's order: `messages recent uidnext uidvalidity unseen
//! vsize guid` (`all` is all of them). Dovecot's `highestmodseq`, `highestpvtmodseq` and
//! `firstsaved` need its index files, which pn's store does not keep: they are refused.
//! `-t` sums `messages recent unseen vsize` over the mailboxes.

use clap::Args;
use pn_store::{MailboxLocator, StoreError, guid_hex};

use crate::cmd::mail::{self, Formatter, Opened, Outcome, Table, UserArg};
use crate::exit::{EX_USAGE, Failure};

/// doveadm's field order.
const FIELDS: [&str; 7] = [
    "messages",
    "recent",
    "uidnext",
    "uidvalidity",
    "unseen",
    "vsize",
    "guid",
];
/// Fields `-t` can sum.
const SUMMABLE: [&str; 4] = ["messages", "recent", "unseen", "vsize"];

/// `status [-t] [-f FORMATTER] <fields> <mailbox mask> …`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) user: UserArg,
    /// Print the sums over all matching mailboxes.
    #[arg(short = 't', long = "total-sum")]
    total: bool,
    /// Output formatter (doveadm's `-f`; also accepted before the command). Default: flow.
    #[arg(short = 'f', long = "formatter", value_enum)]
    pub(crate) formatter: Option<Formatter>,
    /// Space-separated status fields, or `all`.
    #[arg(value_name = "FIELDS")]
    fields: String,
    /// Mailbox masks (`*`, `%`).
    #[arg(value_name = "MASK", required = true)]
    masks: Vec<String>,
}

/// Parses the fields argument into doveadm's order.
fn parse_fields(text: &str, total: bool) -> Result<Vec<&'static str>, Failure> {
    let mut wanted = Vec::new();
    for word in text.split_whitespace() {
        if word.eq_ignore_ascii_case("all") {
            wanted.extend(if total { &SUMMABLE[..] } else { &FIELDS[..] });
            continue;
        }
        let Some(f) = FIELDS.iter().find(|f| f.eq_ignore_ascii_case(word)) else {
            return Err(Failure::new(
                EX_USAGE,
                format!("Fatal: Unknown status field: {word}"),
            ));
        };
        if total && !SUMMABLE.contains(f) {
            return Err(Failure::new(
                EX_USAGE,
                format!("Fatal: Status field {f} can't be used with -t"),
            ));
        }
        wanted.push(*f);
    }
    if wanted.is_empty() {
        return Err(Failure::new(EX_USAGE, "Fatal: No status fields"));
    }
    Ok(FIELDS.into_iter().filter(|f| wanted.contains(f)).collect())
}

pub(crate) fn run(o: &Opened, args: &StatusArgs) -> Result<std::process::ExitCode, Failure> {
    let fields = parse_fields(&args.fields, args.total)?;
    let store = &o.user.store;
    let mut outcome = Outcome::default();
    let mut names: Vec<String> = Vec::new();
    match store.list_mailboxes() {
        Ok(list) => {
            for mask in &args.masks {
                if mail::is_pattern(mask) {
                    names.extend(
                        list.iter()
                            .filter(|m| m.selectable && mail::mask_matches(&m.name, mask))
                            .map(|m| m.name.clone()),
                    );
                } else {
                    names.push(mask.clone());
                }
            }
        }
        Err(e) => outcome.store_error(&e, format!("{}Error: {e}", o.prefix)),
    }
    let mut rows = Vec::new();
    let mut sums = [0u64; 4];
    for name in names {
        match values(store, &name, &fields) {
            Ok(vals) => {
                for (f, v) in fields.iter().zip(&vals) {
                    if let Some(i) = SUMMABLE.iter().position(|s| s == f) {
                        sums[i] += v.parse::<u64>().unwrap_or(0);
                    }
                }
                let mut row = vec![name];
                row.extend(vals);
                rows.push(row);
            }
            Err(e) => outcome.store_error(
                &e,
                format!(
                    "{}Error: Mailbox {name}: Failed to lookup mailbox status: {e}",
                    o.prefix
                ),
            ),
        }
    }
    let table = if args.total {
        let row = fields
            .iter()
            .map(|f| {
                SUMMABLE
                    .iter()
                    .position(|s| s == f)
                    .map_or_else(String::new, |i| sums[i].to_string())
            })
            .collect();
        Table {
            columns: fields.clone(),
            rows: vec![row],
            bare_first: false,
        }
    } else {
        let mut columns = vec!["mailbox"];
        columns.extend(&fields);
        Table {
            columns,
            rows,
            bare_first: true,
        }
    };
    mail::print(&table.render(args.formatter.unwrap_or_default()));
    outcome.finish()
}

fn values(
    store: &pn_store::Maildir,
    mailbox: &str,
    fields: &[&str],
) -> Result<Vec<String>, StoreError> {
    let status = store.status(mailbox)?;
    let mut out = Vec::with_capacity(fields.len());
    for f in fields {
        out.push(match *f {
            "messages" => status.messages.to_string(),
            "recent" => status.recent.to_string(),
            "uidnext" => status.uid_next.to_string(),
            "uidvalidity" => status.uid_validity.to_string(),
            "unseen" => status.unseen.to_string(),
            "vsize" => store
                .messages(mailbox)?
                .iter()
                .map(|m| m.vsize.unwrap_or(0))
                .sum::<u64>()
                .to_string(),
            _ => guid_hex(&store.mailbox_guid(mailbox)?),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_come_out_in_doveadms_order() {
        assert_eq!(
            parse_fields("unseen messages", false).expect("valid"),
            ["messages", "unseen"]
        );
        assert_eq!(parse_fields("all", false).expect("valid"), FIELDS);
        assert_eq!(parse_fields("all", true).expect("valid"), SUMMABLE);
    }

    #[test]
    fn bad_fields_are_usage_errors_with_doveadms_text() {
        let e = parse_fields("messages tab", false).expect_err("unknown");
        assert_eq!(e.message, "Fatal: Unknown status field: tab");
        let e = parse_fields("uidnext", true).expect_err("not summable");
        assert_eq!(
            e.message,
            "Fatal: Status field uidnext can't be used with -t"
        );
        assert_eq!(
            parse_fields("", false).expect_err("none").message,
            "Fatal: No status fields"
        );
    }
}
