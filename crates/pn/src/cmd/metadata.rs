//! `pn mailbox metadata set|unset|get|list`: doveadm's command, same syntax, output, messages
//! and exit codes (spec §7).

mod print;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use pn_metadata::key::{internal_keys_under, parse_doveadm_key};
use pn_metadata::{AttributeType, Backend, ErrorKind, MetadataError, MetadataStore, Target};
use pn_userdb::UserDb;

pub(crate) use self::print::Formatter;
use self::print::Printer;
use crate::Cli;
use crate::exit::{EX_DATAERR, EX_NOHOST, EX_NOPERM, EX_NOUSER, EX_TEMPFAIL, EX_USAGE, Failure};

const USAGE_PREFIX: &str = "[-u <user>|-A] [-S <socket_path>] ";

/// Arguments of `pn mailbox metadata`.
#[derive(Debug, Args)]
pub(crate) struct MetadataArgs {
    /// Output formatter (doveadm's `-f`): before the command as doveadm has it
    /// (`pn -f json mailbox metadata list …`), or before or after the subcommand. Default: flow.
    #[arg(short = 'f', long = "formatter", value_enum, global = true)]
    pub(crate) formatter: Option<Formatter>,
    #[command(subcommand)]
    pub(crate) op: MetadataOp,
}

/// The four metadata commands.
#[derive(Debug, Subcommand)]
pub(crate) enum MetadataOp {
    /// Set an entry: `[-s] <mailbox> <key> <value>`.
    Set(OpArgs),
    /// Remove an entry: `[-s] <mailbox> <key>`.
    Unset(OpArgs),
    /// Print an entry's value (an empty line when it is not set): `[-s] <mailbox> <key>`.
    Get(OpArgs),
    /// List entry names: `[-s] [-p] <mailbox> [<key prefix>]`.
    List(OpArgs),
}

/// doveadm's mail command options and the positional arguments.
#[derive(Debug, Args)]
pub(crate) struct OpArgs {
    /// The user (`*` and `?` wildcards run for every matching user). Default: $USER.
    #[arg(short = 'u', long = "user", value_name = "USER")]
    user: Option<String>,
    /// Every user of the user database.
    #[arg(short = 'A', long = "all-users", conflicts_with_all = ["user", "user_file"])]
    all_users: bool,
    /// Users from this file, one per line.
    #[arg(
        short = 'F',
        long = "user-file",
        value_name = "FILE",
        conflicts_with = "user"
    )]
    user_file: Option<PathBuf>,
    /// doveadm server socket: not supported by pn (accepted for doveadm's syntax).
    #[arg(short = 'S', long = "socket-path", value_name = "SOCKET")]
    socket_path: Option<String>,
    /// Allow the empty mailbox name `""`, meaning server metadata.
    #[arg(short = 's', long = "allow-empty-mailbox-name")]
    allow_empty_mailbox_name: bool,
    /// list: print `/private` or `/shared` in front of each key.
    #[arg(short = 'p', long = "prepend-prefix")]
    prepend_prefix: bool,
    /// `<mailbox> <key> [<value>]` (list: `<mailbox> [<key prefix>]`).
    #[arg(value_name = "ARGS")]
    args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Set,
    Unset,
    Get,
    List,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Set => "set",
            Op::Unset => "unset",
            Op::Get => "get",
            Op::List => "list",
        }
    }

    fn usage(self) -> String {
        let args = match self {
            Op::Set => "[-s] <mailbox> <key> <value>",
            Op::Unset | Op::Get => "[-s] <mailbox> <key>",
            Op::List => "[-s] [-p] <mailbox> [<key prefix>]",
        };
        format!("pn mailbox metadata {} {USAGE_PREFIX}{args}", self.name())
    }

    /// doveadm's `doveadm_metadata_op_names`.
    fn attr_op(self) -> &'static str {
        match self {
            Op::Set | Op::Unset => "set attribute",
            Op::Get => "get attribute",
            Op::List => "list attribute",
        }
    }

    /// (min, max) positional arguments.
    fn arity(self) -> (usize, usize) {
        match self {
            Op::Set => (3, 3),
            Op::Unset | Op::Get => (2, 2),
            Op::List => (1, 2),
        }
    }
}

/// The parsed command for one run.
struct Request {
    op: Op,
    mailbox: String,
    attr_type: AttributeType,
    key: String,
    value: Option<Vec<u8>>,
    allow_empty: bool,
    prepend_prefix: bool,
}

/// Exit code bookkeeping like doveadm's: the first error's code wins, TEMPFAIL overrides.
#[derive(Default)]
struct Outcome {
    code: u8,
    messages: Vec<String>,
}

impl Outcome {
    fn fail(&mut self, code: u8, message: String) {
        if self.code == 0 || code == EX_TEMPFAIL {
            self.code = code;
        }
        self.messages.push(message);
    }
}

pub(crate) fn run(cli: &Cli, args: &MetadataArgs) -> Result<ExitCode, Failure> {
    let (op, a) = match &args.op {
        MetadataOp::Set(a) => (Op::Set, a),
        MetadataOp::Unset(a) => (Op::Unset, a),
        MetadataOp::Get(a) => (Op::Get, a),
        MetadataOp::List(a) => (Op::List, a),
    };
    let (min, max) = op.arity();
    if a.args.len() > max {
        return Err(Failure::new(
            EX_USAGE,
            format!(
                "Error: Extraneous arguments found: {}",
                a.args[max..].join(" ")
            ),
        ));
    }
    if a.socket_path.is_some() {
        return Err(Failure::new(
            EX_USAGE,
            "pn: -S (doveadm server socket) is not supported; pn runs the command itself",
        ));
    }
    if a.prepend_prefix && op != Op::List {
        return Err(Failure::new(EX_USAGE, op.usage()));
    }
    // doveadm checks for a user before the command's own arguments.
    let env_user = std::env::var("USER").ok().filter(|u| !u.is_empty());
    if a.user.is_none() && !a.all_users && a.user_file.is_none() && env_user.is_none() {
        return Err(Failure::new(
            EX_USAGE,
            "Fatal: USER environment is missing and -u option not used",
        ));
    }
    if a.args.len() < min {
        return Err(Failure::new(EX_USAGE, op.usage()));
    }
    let (attr_type, key) = match a.args.get(1) {
        None => (AttributeType::Private, String::new()),
        Some(k) => parse_doveadm_key(k).map_err(|lower| {
            Failure::new(
                EX_USAGE,
                format!(
                    "Fatal: Invalid metadata key '{lower}': Must begin with /private or /shared"
                ),
            )
        })?,
    };
    let request = Request {
        op,
        mailbox: a.args[0].clone(),
        attr_type,
        key,
        value: match op {
            Op::Set => a.args.get(2).map(|v| v.as_bytes().to_vec()),
            _ => None,
        },
        allow_empty: a.allow_empty_mailbox_name,
        prepend_prefix: a.prepend_prefix,
    };

    let config = crate::settings::load(cli)?;
    let settings = config.effective("doveadm");
    let text = |key: &str| settings.get(key).map(|s| s.value.to_string());
    let data_dir = crate::session::data_dir(text("pn_data_dir"));
    let userdb = UserDb::from_settings(&settings, &data_dir)
        .map_err(|e| Failure::new(EX_TEMPFAIL, format!("pn: {e}")))?;
    let backend =
        Backend::from_settings(&text).map_err(|e| Failure::new(EX_TEMPFAIL, format!("pn: {e}")))?;

    // Which users.
    let single = a.user.as_deref().filter(|u| !u.contains(['*', '?']));
    let users: Vec<String> = if let Some(u) = single {
        vec![u.to_owned()]
    } else if let Some(file) = &a.user_file {
        std::fs::read_to_string(file)
            .map_err(|e| {
                Failure::new(
                    EX_TEMPFAIL,
                    format!("Error: read({}) failed: {e}", file.display()),
                )
            })?
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    } else if a.all_users || a.user.is_some() {
        let all = userdb
            .list_users()
            .map_err(|e| Failure::new(EX_TEMPFAIL, format!("Error: {e}")))?;
        match a.user.as_deref() {
            Some(pattern) => all
                .into_iter()
                .filter(|u| wildcard_match_icase(u, pattern))
                .collect(),
            None => all,
        }
    } else {
        // Checked above: $USER is set.
        env_user.into_iter().collect()
    };
    let multi = single.is_none() && (a.all_users || a.user_file.is_some() || a.user.is_some());

    let key_column = if op == Op::Get { "value" } else { "key" };
    let mut printer = Printer::new(args.formatter.unwrap_or_default(), key_column, multi);
    let mut stdout = std::io::stdout().lock();
    let mut outcome = Outcome::default();
    let write = |out: &mut std::io::StdoutLock<'_>, bytes: &[u8]| {
        // A closed stdout leaves nobody to tell.
        let _ = out.write_all(bytes);
    };
    if op != Op::Set && op != Op::Unset {
        write(&mut stdout, &printer.header());
    }
    let progress = progress_bar(a.all_users, users.len());
    for user in &users {
        progress.inc(1);
        let prefix = format!("pn({user}): ");
        let record = match userdb.lookup(user) {
            Ok(Some(r)) => r,
            Ok(None) if multi => {
                outcome
                    .messages
                    .push(format!("{prefix}Info: User no longer exists, skipping"));
                continue;
            }
            Ok(None) => {
                outcome.fail(EX_NOUSER, format!("{prefix}Error: User doesn't exist"));
                continue;
            }
            Err(e) => {
                outcome.fail(
                    EX_TEMPFAIL,
                    format!("{prefix}Error: User lookup failed: {e}"),
                );
                continue;
            }
        };
        // One user: become that user before touching their files, as the mail commands do.
        // With several users (-A, -F, a pattern) the process keeps its ids (docs/cli.md).
        if !multi {
            let switched = crate::privileges::mail_ids(&record, &settings)
                .and_then(crate::privileges::switch_to);
            if let Err(e) = switched {
                outcome.fail(EX_TEMPFAIL, format!("{prefix}Fatal: {e}"));
                continue;
            }
        }
        let store = backend.store_for(&record);
        run_user(&request, user, store, &mut printer, &mut outcome, &prefix);
        write(&mut stdout, &printer.take(false));
    }
    progress.finish_and_clear();
    write(&mut stdout, &printer.take(true));
    let _ = stdout.flush();
    drop(stdout);
    let message = outcome.messages.join("\n");
    if outcome.code == 0 {
        if !message.is_empty() {
            Failure::new(0, message).report();
        }
        return Ok(ExitCode::SUCCESS);
    }
    Err(Failure::new(outcome.code, message))
}

fn run_user(
    req: &Request,
    user: &str,
    store: Result<MetadataStore, MetadataError>,
    printer: &mut Printer,
    outcome: &mut Outcome,
    prefix: &str,
) {
    if req.mailbox.is_empty() && !req.allow_empty {
        outcome.fail(
            EX_USAGE,
            format!(
                "{prefix}Error: Failed to {}: mailbox name cannot be empty",
                req.op.attr_op()
            ),
        );
        return;
    }
    let target = if req.mailbox.is_empty() {
        Target::Server
    } else {
        Target::Mailbox(&req.mailbox)
    };
    let store = match store {
        Ok(s) => s,
        Err(e) => {
            let what = match req.op {
                Op::Set | Op::Unset => "open mailbox".to_owned(),
                op => op.attr_op().to_owned(),
            };
            outcome.fail(
                exit_code(&e),
                format!("{prefix}Error: Failed to {what}: {e}"),
            );
            return;
        }
    };
    match req.op {
        Op::Set | Op::Unset => {
            let result = store.set(target, req.attr_type, &req.key, req.value.as_deref());
            if let Err(e) = result {
                let what = match e {
                    MetadataError::MailboxNotFound { .. } => "open mailbox",
                    _ => "set attribute",
                };
                outcome.fail(
                    exit_code(&e),
                    format!("{prefix}Error: Failed to {what}: {e}"),
                );
            }
        }
        Op::Get => match store.get(target, req.attr_type, &req.key) {
            Ok(value) => printer.row(user, value.as_deref().unwrap_or_default()),
            Err(e) => outcome.fail(
                exit_code(&e),
                format!("{prefix}Error: Failed to get attribute: {e}"),
            ),
        },
        Op::List => {
            let full = target.stored_key(&req.key);
            let mut types = Vec::new();
            if full.is_empty() || req.attr_type == AttributeType::Private {
                types.push(AttributeType::Private);
            }
            if full.is_empty() || req.attr_type == AttributeType::Shared {
                types.push(AttributeType::Shared);
            }
            for t in types {
                let keys = match store.list(target, t, &req.key) {
                    Ok(keys) => Ok(keys),
                    Err(e) if matches!(store, MetadataStore::Imap(_)) => Err((Vec::new(), e)),
                    Err(e) => {
                        // Dovecot still lists its internal attributes, then reports the error.
                        let mailbox = target.mailbox();
                        let internal =
                            internal_keys_under(t, &full, pn_metadata::maildir::is_inbox(mailbox));
                        Err((
                            internal.into_iter().map(str::to_owned).collect::<Vec<_>>(),
                            e,
                        ))
                    }
                };
                let (keys, error) = match keys {
                    Ok(k) => (k, None),
                    Err((k, e)) => (k, Some(e)),
                };
                for k in keys {
                    if req.prepend_prefix {
                        printer.row(user, format!("{}/{k}", t.imap_prefix()).as_bytes());
                    } else {
                        printer.row(user, k.as_bytes());
                    }
                }
                if let Some(e) = error {
                    outcome.fail(
                        exit_code(&e),
                        format!(
                            "{prefix}Error: Mailbox {}: Failed to iterate mailbox attributes: {e}",
                            target.mailbox()
                        ),
                    );
                }
            }
        }
    }
}

/// `-A`'s progress bar on stderr, shown only when stderr is a terminal (hidden otherwise).
fn progress_bar(all_users: bool, len: usize) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !all_users || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(u64::try_from(len).unwrap_or(u64::MAX)),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} users {elapsed}")
    {
        bar.set_style(style);
    }
    bar
}

/// doveadm's exit code for a storage error (`doveadm-mail.c`).
fn exit_code(e: &MetadataError) -> u8 {
    match e.kind() {
        ErrorKind::Temp => EX_TEMPFAIL,
        ErrorKind::NotPossible | ErrorKind::Limit => EX_DATAERR,
        ErrorKind::Params => EX_USAGE,
        ErrorKind::Perm => EX_NOPERM,
        ErrorKind::NotFound => EX_NOHOST,
    }
}

/// doveadm's `wildcard_match_icase`: `*` any run, `?` one character, without case.
fn wildcard_match_icase(s: &str, pattern: &str) -> bool {
    let s: Vec<char> = s.to_lowercase().chars().collect();
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let (mut si, mut pi, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            si += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_doveadm() {
        assert!(wildcard_match_icase("alice@example.com", "*@example.com"));
        assert!(wildcard_match_icase("Alice@Example.com", "a?ice@*"));
        assert!(!wildcard_match_icase("bob@example.org", "*@example.com"));
    }

    #[test]
    fn usage_lines_match_doveadms_after_the_program_name() {
        assert_eq!(
            Op::Set.usage(),
            "pn mailbox metadata set [-u <user>|-A] [-S <socket_path>] [-s] <mailbox> <key> <value>"
        );
    }
}
