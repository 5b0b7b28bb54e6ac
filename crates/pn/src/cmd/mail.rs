//! What the doveadm-style mail commands (`pn mailbox …`, `pn save`, `pn flags`, `pn expunge`)
//! share: the `-u USER` option, opening the user's mail session, doveadm's exit codes and its
//! error bookkeeping, mailbox masks and the `-f` formatter.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use pn_store::{ErrorKind, StoreError};

use crate::Cli;
use crate::exit::{EX_DATAERR, EX_NOHOST, EX_NOUSER, EX_TEMPFAIL, EX_USAGE, Failure};
use crate::session::{LookupError, MailUser, Session};

/// doveadm's mail-command user option.
#[derive(Debug, Args)]
pub(crate) struct UserArg {
    /// The user (looked up in the userdb). Default: $USER.
    #[arg(short = 'u', long = "user", value_name = "USER")]
    pub(crate) user: Option<String>,
}

/// The user's mail session and the `pn(user): ` prefix of messages about it.
pub(crate) struct Opened {
    /// The user's Maildir and push user.
    pub(crate) user: MailUser,
    /// `pn(alice@example.com): `.
    pub(crate) prefix: String,
}

/// Resolves `-u`/`$USER`, looks the user up and becomes them, like doveadm's mail commands
/// (service `doveadm`): unknown users exit 67, lookup and privilege failures 75.
pub(crate) fn open(cli: &Cli, arg: &UserArg) -> Result<Opened, Failure> {
    let username = match &arg.user {
        Some(u) => u.clone(),
        None => std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                Failure::new(
                    EX_USAGE,
                    "Fatal: USER environment is missing and -u option not used",
                )
            })?,
    };
    if username.contains(['*', '?']) {
        return Err(Failure::new(
            EX_USAGE,
            "pn: user wildcards (-u '*@example.com', -A) are only supported by \
             `pn mailbox metadata`",
        ));
    }
    let prefix = format!("pn({username}): ");
    let session = Session::open(cli, "doveadm")?;
    let record = match session.lookup(&username) {
        Ok(r) => r,
        Err(LookupError::Unknown | LookupError::Invalid(_)) => {
            return Err(Failure::new(
                EX_NOUSER,
                format!("{prefix}Error: User doesn't exist"),
            ));
        }
        Err(LookupError::Failed(e)) => {
            return Err(Failure::new(
                EX_TEMPFAIL,
                format!("{prefix}Error: User lookup failed: {e}"),
            ));
        }
    };
    let user = session
        .mail_user(record)
        .map_err(|e| Failure::new(EX_TEMPFAIL, format!("{prefix}Fatal: {e}")))?;
    Ok(Opened { user, prefix })
}

/// doveadm's exit code for a storage error (`doveadm_mail_failed_error`).
pub(crate) fn exit_code(e: &StoreError) -> u8 {
    match e {
        StoreError::InvalidMailboxName { .. } => EX_USAGE,
        _ => match e.kind() {
            ErrorKind::Temporary | ErrorKind::Corrupted => EX_TEMPFAIL,
            ErrorKind::NotFound => EX_NOHOST,
            ErrorKind::Exists | ErrorKind::InvalidInput => EX_DATAERR,
        },
    }
}

/// Errors collected while a command goes on, doveadm style: every error is printed, the first
/// one's exit code wins, a temporary failure overrides.
#[derive(Default)]
pub(crate) struct Outcome {
    code: u8,
    messages: Vec<String>,
}

impl Outcome {
    /// Records a failure.
    pub(crate) fn fail(&mut self, code: u8, message: String) {
        if self.code == 0 || code == EX_TEMPFAIL {
            self.code = code;
        }
        self.messages.push(message);
    }

    /// Records a storage failure with doveadm's exit code.
    pub(crate) fn store_error(&mut self, e: &StoreError, message: String) {
        self.fail(exit_code(e), message);
    }

    /// The command's result.
    pub(crate) fn finish(self) -> Result<std::process::ExitCode, Failure> {
        let message = self.messages.join("\n");
        if self.code == 0 {
            if !message.is_empty() {
                Failure::new(0, message).report();
            }
            return Ok(std::process::ExitCode::SUCCESS);
        }
        Err(Failure::new(self.code, message))
    }
}

/// doveadm's mailbox mask match: `*` matches anything, `%` anything but the hierarchy
/// separator; INBOX matches without case.
pub(crate) fn mask_matches(name: &str, mask: &str) -> bool {
    fn go(n: &[char], m: &[char]) -> bool {
        match m.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(&n[i..], rest)),
            Some(('%', rest)) => (0..=n.len()).any(|i| !n[..i].contains(&'/') && go(&n[i..], rest)),
            Some((c, rest)) => n.first() == Some(c) && go(&n[1..], rest),
        }
    }
    let fold = |s: &str| -> Vec<char> {
        if s.eq_ignore_ascii_case("INBOX") {
            "INBOX".chars().collect()
        } else if s.len() > 6 && s[..6].eq_ignore_ascii_case("INBOX/") {
            format!("INBOX{}", &s[5..]).chars().collect()
        } else {
            s.chars().collect()
        }
    };
    go(&fold(name), &fold(mask))
}

/// Whether a mask has wildcards.
pub(crate) fn is_pattern(mask: &str) -> bool {
    mask.contains(['*', '%'])
}

/// `-f`: doveadm's output formatters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum Formatter {
    /// `name key=value …`, one row per line (the default).
    #[default]
    Flow,
    /// A title line, then values separated by TABs.
    Tab,
    /// A JSON array of objects with string values.
    Json,
}

/// A table printed the way doveadm's formatters print it.
pub(crate) struct Table {
    /// Column names.
    pub(crate) columns: Vec<&'static str>,
    /// Rows of values, one per column.
    pub(crate) rows: Vec<Vec<String>>,
    /// In `flow`, the first column is printed bare (`INBOX messages=1`), not as `key=value`.
    pub(crate) bare_first: bool,
}

impl Table {
    /// The formatted output.
    pub(crate) fn render(&self, formatter: Formatter) -> String {
        let mut out = String::new();
        match formatter {
            Formatter::Flow => {
                for row in &self.rows {
                    let cells: Vec<String> = self
                        .columns
                        .iter()
                        .zip(row)
                        .enumerate()
                        .map(|(i, (c, v))| {
                            if i == 0 && self.bare_first {
                                v.clone()
                            } else {
                                format!("{c}={v}")
                            }
                        })
                        .collect();
                    out.push_str(&cells.join(" "));
                    out.push('\n');
                }
            }
            Formatter::Tab => {
                out.push_str(&self.columns.join("\t"));
                out.push('\n');
                for row in &self.rows {
                    out.push_str(&row.join("\t"));
                    out.push('\n');
                }
            }
            Formatter::Json => {
                let objects: Vec<String> = self
                    .rows
                    .iter()
                    .map(|row| {
                        let fields: Vec<String> = self
                            .columns
                            .iter()
                            .zip(row)
                            .map(|(c, v)| format!("{}:{}", json_string(c), json_string(v)))
                            .collect();
                        format!("{{{}}}", fields.join(","))
                    })
                    .collect();
                out.push('[');
                out.push_str(&objects.join(","));
                out.push(']');
            }
        }
        out
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes command output to stdout (a closed stdout leaves nobody to tell).
pub(crate) fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Runs `apply` on the matching UIDs of every mailbox `query` selects, doveadm style: a failure
/// in one mailbox is recorded (`what` names the operation in the message) and the others go on.
pub(crate) fn apply_to_matches(
    opened: &Opened,
    query: &crate::cmd::search::Query,
    what: &str,
    mut apply: impl FnMut(&str, &[u32]) -> Result<(), StoreError>,
) -> Result<ExitCode, Failure> {
    let store = &opened.user.store;
    let prefix = &opened.prefix;
    let mut outcome = Outcome::default();
    let mailboxes = match query.mailboxes(store) {
        Ok(m) => m,
        Err(e) => {
            outcome.store_error(&e, format!("{prefix}Error: {e}"));
            return outcome.finish();
        }
    };
    for mailbox in mailboxes {
        let uids = match store.messages(&mailbox) {
            Ok(msgs) => query.matching_uids(&msgs),
            Err(e) => {
                let text = format!("{prefix}Error: Mailbox {mailbox}: Mailbox sync failed: {e}");
                outcome.store_error(&e, text);
                continue;
            }
        };
        if uids.is_empty() {
            continue;
        }
        if let Err(e) = apply(&mailbox, &uids) {
            let text = format!("{prefix}Error: Mailbox {mailbox}: {what}: {e}");
            outcome.store_error(&e, text);
        }
    }
    outcome.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_match_like_doveadm() {
        assert!(mask_matches("Foo/Bar", "*"));
        assert!(!mask_matches("Foo/Bar", "%"));
        assert!(mask_matches("Foo/Bar", "Foo/%"));
        assert!(mask_matches("INBOX", "inbox"));
        assert!(mask_matches("Foo", "F*"));
        assert!(!mask_matches("Foo", "Bar"));
    }

    #[test]
    fn tables_render_in_doveadms_formats() {
        let t = Table {
            columns: vec!["mailbox", "messages"],
            rows: vec![vec!["INBOX".into(), "2".into()]],
            bare_first: true,
        };
        assert_eq!(t.render(Formatter::Flow), "INBOX messages=2\n");
        assert_eq!(t.render(Formatter::Tab), "mailbox\tmessages\nINBOX\t2\n");
        assert_eq!(
            t.render(Formatter::Json),
            r#"[{"mailbox":"INBOX","messages":"2"}]"#
        );
    }
}
