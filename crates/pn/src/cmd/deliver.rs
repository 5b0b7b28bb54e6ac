//! `pn deliver`: dovecot-lda's interface over pn's store. The message becomes a MessageNew
//! through pn-core; the dlog driver's lines show what was pushed.
//!
//! As Dovecot's LDA: the user is looked up (unknown: 67), the process becomes the user, a
//! "raw mail user" is created to read the message (its drivers are initialised but never
//! begin a transaction), and the message is saved to `-m MAILBOX` — falling back to INBOX when
//! that fails, unless the failure was temporary. The first delivery to INBOX creates it
//! (MailboxCreate, as Dovecot). `lda_mailbox_autocreate = yes` creates a missing mailbox
//! (MailboxCreate), `lda_mailbox_autosubscribe = yes` also subscribes it.
//! Storage failures exit 75 and leave nothing half-stored; an empty message is refused with
//! 65 (Dovecot would store it).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use pn_store::{ErrorKind, NewMessage, StoreError};

use crate::Cli;
use crate::exit::{EX_DATAERR, EX_NOUSER, EX_TEMPFAIL, EX_USAGE, Failure};
use crate::session::{LookupError, MailUser, Session};

/// Arguments of `pn deliver` (dovecot-lda's).
#[derive(Debug, Args)]
pub(crate) struct DeliverArgs {
    /// Destination user, looked up in the userdb. Default: $USER (not as root).
    #[arg(short = 'd', value_name = "USER")]
    user: Option<String>,
    /// Destination mailbox (`""` means INBOX). Falls back to INBOX when it does not exist,
    /// unless `lda_mailbox_autocreate = yes`.
    #[arg(short = 'm', value_name = "MAILBOX")]
    mailbox: Option<String>,
    /// Envelope sender.
    #[arg(short = 'f', value_name = "SENDER")]
    sender: Option<String>,
    /// Original envelope recipient.
    #[arg(short = 'a', value_name = "ADDRESS")]
    address: Option<String>,
    /// Final envelope recipient.
    #[arg(short = 'r', value_name = "ADDRESS")]
    final_address: Option<String>,
    /// Read the message from this file instead of stdin.
    #[arg(short = 'p', value_name = "FILE")]
    path: Option<PathBuf>,
    /// Write rejection reasons to stderr instead of sending a bounce (pn never sends
    /// bounces: it always does this).
    #[arg(short = 'e')]
    stderr_rejection: bool,
    /// Keep the environment (accepted for compatibility; pn does not clean it).
    #[arg(short = 'k')]
    keep_environment: bool,
}

pub(crate) fn run(cli: &Cli, args: &DeliverArgs) -> Result<ExitCode, Failure> {
    let sender = args
        .sender
        .as_deref()
        .map(|s| address("-f", s, true))
        .transpose()?;
    if let Some(a) = &args.address {
        address("-a", a, false)?;
    }
    if let Some(r) = &args.final_address {
        address("-r", r, false)?;
    }
    let username = match &args.user {
        Some(u) => u.clone(),
        None if rustix::process::geteuid().is_root() => {
            return Err(Failure::new(
                EX_USAGE,
                "pn: Fatal: destination user parameter (-d user) not given",
            ));
        }
        None => std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                Failure::new(
                    EX_USAGE,
                    "pn: Fatal: destination user parameter (-d user) not given",
                )
            })?,
    };
    tracing::trace!(
        stderr_rejection = args.stderr_rejection,
        keep_environment = args.keep_environment,
        "errors always go to stderr; the environment is kept"
    );
    let prefix = format!("pn({username})");
    // Dovecot's LDA parses the user name as an SMTP address before the lookup.
    // A path-like local part is an unknown user (67) instead, found by the lookup.
    if let Err(why) = pn_userdb::check_username(&username)
        && !matches!(why, pn_userdb::InvalidName::PathLike(_))
    {
        return Err(Failure::new(
            EX_USAGE,
            format!(
                "{prefix}: Fatal: Cannot obtain SMTP address from username `{username}': {why}"
            ),
        ));
    }
    let session = Session::open(cli, "lda")?;
    let record = match session.lookup(&username) {
        Ok(r) => r,
        Err(LookupError::Unknown) => {
            return Err(Failure::new(
                EX_NOUSER,
                format!("{prefix}: Error: Unknown user"),
            ));
        }
        Err(LookupError::Invalid(why)) => {
            return Err(Failure::new(
                EX_NOUSER,
                format!("{prefix}: Error: Unknown user ({why})"),
            ));
        }
        Err(LookupError::Failed(why)) => {
            return Err(Failure::new(
                EX_TEMPFAIL,
                format!("{prefix}: Fatal: User lookup failed: {why}"),
            ));
        }
    };
    let user = session
        .mail_user(record)
        .map_err(|e| Failure::new(EX_TEMPFAIL, format!("{prefix}: Fatal: {e}")))?;
    if let Some(s) = &sender {
        tracing::debug!("Envelope sender: <{s}>");
    }
    // Dovecot creates the raw user to open the incoming mail after the real one, and frees it
    // first.
    let raw_user = user.raw_user();
    let spool_dir = session
        .setting("mail_temp_dir")
        .map_or_else(std::env::temp_dir, PathBuf::from);
    let message = spool_message(args.path.as_ref(), &spool_dir)
        .map_err(|e| Failure::new(EX_TEMPFAIL, format!("{prefix}: Fatal: {e}")))?;
    let result = if message.size() == 0 {
        Err(StoreError::EmptyMessage)
    } else {
        let mailbox = args
            .mailbox
            .as_deref()
            .filter(|m| !m.is_empty())
            .unwrap_or("INBOX");
        deliver(&session, &user, mailbox, &incoming(&message))
    };
    // Exit 0 promises the notification too: it is durable before we exit (the sending,
    // for at most pn_deliver_push_wait when `user` is dropped, never changes the exit code).
    let result = match result {
        Ok(saved) => match user.commit_outbox() {
            Ok(()) => Ok(saved),
            Err(e) => {
                return Err(Failure::new(EX_TEMPFAIL, format!("{prefix}: Error: {e}")));
            }
        },
        Err(e) => Err(e),
    };
    drop(raw_user);
    drop(user);
    match result {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            let code = match e.kind() {
                ErrorKind::InvalidInput => EX_DATAERR,
                _ => EX_TEMPFAIL,
            };
            Err(Failure::new(code, format!("{prefix}: Error: {e}")))
        }
    }
}

/// A message to deliver: in memory, or spooled to a file by `pn lmtp`.
pub(crate) enum Incoming<'a> {
    /// The whole message (CRLF or LF).
    Bytes(&'a [u8]),
    /// A file with LF line endings, and its first bytes (for the Message-ID).
    File {
        /// The file and its sizes.
        file: pn_store::FileMessage<'a>,
        /// The start of the message.
        head: &'a [u8],
    },
}

/// Saves to `mailbox`, then INBOX as Dovecot's `mail_do_deliver` does; logs each attempt like
/// Dovecot's `deliver_log_format` (`msgid=<…>: saved mail to INBOX`). Shared by `pn deliver`
/// and `pn lmtp`.
pub(crate) fn deliver(
    session: &Session,
    user: &MailUser,
    mailbox: &str,
    data: &Incoming<'_>,
) -> Result<pn_store::Saved, StoreError> {
    let msgid = message_id(match data {
        Incoming::Bytes(b) => b,
        Incoming::File { head, .. } => head,
    });
    let mut result = save(session, user, mailbox, data, &msgid);
    if let Err(e) = &result
        && !e.is_temporary()
        && !matches!(e, StoreError::EmptyMessage)
        && !mailbox.eq_ignore_ascii_case("INBOX")
    {
        result = save(session, user, "INBOX", data, &msgid);
    }
    result
}

fn save(
    session: &Session,
    user: &MailUser,
    mailbox: &str,
    data: &Incoming<'_>,
    msgid: &str,
) -> Result<pn_store::Saved, StoreError> {
    let open = || -> Result<(), StoreError> {
        // A user's first delivery creates INBOX, which Dovecot (2.3 and 2.4 alike) reports as
        // MailboxCreate before the MessageNew.
        if mailbox.eq_ignore_ascii_case("INBOX") {
            match user.store.create_mailbox(Some(&user.push), "INBOX") {
                Ok(()) | Err(StoreError::MailboxExists(_)) => {}
                Err(e) => return Err(e),
            }
            return Ok(());
        }
        if user.store.mailbox_exists(mailbox)? {
            return Ok(());
        }
        if !session.flag("lda_mailbox_autocreate") {
            return Err(StoreError::MailboxNotFound(mailbox.to_owned()));
        }
        match user.store.create_mailbox(Some(&user.push), mailbox) {
            // Another delivery created it meanwhile.
            Ok(()) | Err(StoreError::MailboxExists(_)) => {}
            Err(e) => return Err(e),
        }
        if session.flag("lda_mailbox_autosubscribe") {
            user.store.set_subscribed(Some(&user.push), mailbox, true)?;
        }
        Ok(())
    };
    if let Err(e) = open() {
        tracing::info!("msgid={msgid}: save failed to open mailbox {mailbox}: {e}");
        return Err(e);
    }
    let saved = match data {
        Incoming::Bytes(b) => user
            .store
            .deliver(Some(&user.push), mailbox, &NewMessage::new(b)),
        Incoming::File { file, .. } => user.store.deliver_file(Some(&user.push), mailbox, file),
    };
    match saved {
        Ok(saved) => {
            tracing::info!("msgid={msgid}: saved mail to {mailbox}");
            tracing::debug!(
                "uid={} uidvalidity={} in {mailbox}",
                saved.uids.first().copied().unwrap_or(0),
                saved.uid_validity
            );
            Ok(saved)
        }
        Err(e) => {
            tracing::info!("msgid={msgid}: save failed to {mailbox}: {e}");
            Err(e)
        }
    }
}

/// A received message as [`deliver`] takes it.
pub(crate) fn incoming(message: &pn_lmtp::Message) -> Incoming<'_> {
    match message {
        pn_lmtp::Message::Memory(d) => Incoming::Bytes(d),
        pn_lmtp::Message::File {
            file,
            size,
            vsize,
            head,
        } => Incoming::File {
            file: pn_store::FileMessage {
                path: file.path(),
                size: *size,
                vsize: *vsize,
                received: None,
            },
            head,
        },
    }
}

/// Streams the input into a spool as `pn lmtp` does (memory up to 128 KiB, then an unnamed
/// file in `mail_temp_dir`), so a message of any size needs bounded memory: an mbox `From `
/// line at the start is dropped and CRLF becomes LF on the way, as the store wants it.
fn spool_message(path: Option<&PathBuf>, dir: &Path) -> Result<pn_lmtp::Message, String> {
    let mut input: Box<dyn Read> = match path {
        Some(p) => Box::new(std::fs::File::open(p).map_err(|e| {
            format!(
                "Can't open delivery mail as raw: open({}) failed: {e}",
                p.display()
            )
        })?),
        None => Box::new(std::io::stdin().lock()),
    };
    let what = match path {
        Some(p) => format!("read({})", p.display()),
        None => "read(stdin)".to_owned(),
    };
    let spool_failed = |e: std::io::Error| format!("Failed to spool the message: {e}");
    let mut spool = pn_lmtp::spool::Spool::new(dir, 0);
    let mut lf = ToLf::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(buf.len());
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(format!(
                    "Can't open delivery mail as raw: {what} failed: {e}"
                ));
            }
        };
        out.clear();
        lf.push(&buf[..n], &mut out);
        spool.write(&out).map_err(spool_failed)?;
    }
    out.clear();
    lf.finish(&mut out);
    spool.write(&out).map_err(spool_failed)?;
    spool.finish().map_err(spool_failed)
}

/// CRLF to LF across chunk boundaries, dropping an mbox `From ` line at the very start (as
/// Dovecot's LDA does).
#[derive(Default)]
struct ToLf {
    /// The first bytes, held until it is known whether they start with `From `.
    start: Vec<u8>,
    started: bool,
    /// Inside the `From ` line being dropped.
    skipping: bool,
    pending_cr: bool,
}

impl ToLf {
    fn push(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let held;
        let mut data = data;
        if !self.started {
            self.start.extend_from_slice(data);
            if self.start.len() < 5 && b"From ".starts_with(&self.start) {
                return;
            }
            self.started = true;
            self.skipping = self.start.starts_with(b"From ");
            held = std::mem::take(&mut self.start);
            data = &held;
        }
        if self.skipping {
            match data.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.skipping = false;
                    data = &data[i + 1..];
                }
                None => return,
            }
        }
        for &b in data {
            if std::mem::take(&mut self.pending_cr) && b != b'\n' {
                out.push(b'\r');
            }
            if b == b'\r' {
                self.pending_cr = true;
            } else {
                out.push(b);
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            // Shorter than `From `: a prefix of it is kept, only a whole `From ` line goes.
            self.started = true;
            let start = std::mem::take(&mut self.start);
            self.push(&start, out);
        }
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\r');
        }
    }
}

/// The Message-ID for the log line (`unspecified` without one), like Dovecot's `%m`.
fn message_id(data: &[u8]) -> String {
    pn_message::RawMessage::new(data)
        .first_header("Message-ID")
        .map(|v| {
            let text = v.to_string_lossy();
            let text = text.trim();
            match (text.find('<'), text.find('>')) {
                (Some(a), Some(b)) if a < b => text[a..=b].to_owned(),
                _ => text.to_owned(),
            }
        })
        .filter(|id| !id.is_empty())
        .map(|id| id.chars().take(200).collect())
        .unwrap_or_else(|| "unspecified".to_owned())
}

/// Checks an envelope address argument (`-f`, `-a`, `-r`): optional `<>`, no spaces or
/// controls; `-f` may be empty (`<>`, the null sender).
fn address(option: &str, value: &str, allow_empty: bool) -> Result<String, Failure> {
    let inner = value
        .strip_prefix('<')
        .and_then(|v| v.strip_suffix('>'))
        .unwrap_or(value);
    let invalid = |why: &str| {
        Failure::new(
            EX_USAGE,
            format!("pn: Fatal: Invalid {option} parameter: {why}"),
        )
    };
    if inner.is_empty() && !allow_empty {
        return Err(invalid("Path is empty"));
    }
    if inner
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
    {
        return Err(invalid("Invalid character in address"));
    }
    Ok(inner.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_lf(chunks: &[&[u8]]) -> Vec<u8> {
        let mut lf = ToLf::default();
        let mut out = Vec::new();
        for c in chunks {
            lf.push(c, &mut out);
        }
        lf.finish(&mut out);
        out
    }

    #[test]
    fn an_mbox_from_line_is_dropped_and_crlf_becomes_lf_across_chunks() {
        assert_eq!(
            to_lf(&[b"From a@b Mon Jan 1 00:00:00 2024\nSubject: x\n\n"]),
            b"Subject: x\n\n"
        );
        assert_eq!(to_lf(&[b"Fr", b"om a\r", b"\nS: x\r", b"\n"]), b"S: x\n");
        assert_eq!(
            to_lf(&[b"Subject: x\r\n\r\nb\rc\r"]),
            b"Subject: x\n\nb\rc\r"
        );
        assert_eq!(to_lf(&[b"Fro"]), b"Fro");
        assert_eq!(to_lf(&[b"From x"]), b"");
        assert_eq!(to_lf(&[b""]), b"");
    }

    #[test]
    fn the_log_line_names_the_message_id_or_unspecified() {
        assert_eq!(
            message_id(b"Message-ID: <a@b>\nSubject: x\n\nbody"),
            "<a@b>"
        );
        assert_eq!(message_id(b"Subject: x\n\nbody"), "unspecified");
    }

    #[test]
    fn envelope_addresses_are_checked() {
        assert!(address("-f", "<>", true).is_ok());
        assert!(address("-a", "<>", false).is_err());
        assert!(address("-f", "a b@c", true).is_err());
        assert_eq!(
            address("-a", "<alice@example.com>", false).ok(),
            Some("alice@example.com".to_owned())
        );
    }
}
