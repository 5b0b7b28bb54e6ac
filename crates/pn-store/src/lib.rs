//! pn's mail store: a Maildir++ store interchangeable with Dovecot 2.3
//! (`mail_location = maildir:~/Maildir`) that reports every change through pn-core's host API.
//!
//! # Layout and files
//!
//! INBOX is the Maildir root; the mailbox `Foo/Bär` is the folder `.Foo.B&AOQ-r` (modified
//! UTF-7, `.` as hierarchy separator). Each folder has `tmp/ new/ cur/` and Dovecot's metadata
//! files in Dovecot's formats: `dovecot-uidlist` (version 3, with UIDVALIDITY, next UID and the
//! mailbox GUID), `dovecot-keywords`, and in the root `subscriptions` and
//! `dovecot-uidvalidity`. UIDs are assigned under Dovecot's dotlock `dovecot-uidlist.lock`, so
//! pn processes, threads and Dovecot itself can deliver into one mailbox at once.
//!
//! # Durability
//!
//! A message is written to `tmp/` and fsynced, then — under the uidlist lock — renamed into
//! `new/` (or `cur/` when it has flags), the directory is fsynced and the uidlist rewritten
//! (`dovecot-uidlist.tmp` renamed over it, then fsynced). Only then does a save return. A crash
//! before the rename leaves a `tmp/` file that is ignored and removed after 36 hours; a crash
//! after it leaves a file without a UID, which the next sync numbers: nothing is lost and
//! nothing is duplicated.
//!
//! # Events
//!
//! Every operation takes an `Option<&PushUser>`. Mailbox operations call the matching
//! `PushUser::mailbox_*` after they succeeded; message operations run one [`pn_core::MailTxn`],
//! report each change (`save`, `update_flags`, `update_keywords`, `expunge`) and `commit` with
//! the assigned UIDs and the UIDVALIDITY once the change is on disk, or `rollback` when it
//! failed. Content fields of MessageNew/MessageAppend come from the [`SourceFactory`] in
//! [`StoreOptions`] (pn-message's parser in the `pn` binary).
//!
//! ```
//! use pn_store::{Maildir, NewMessage};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Maildir::open(dir.path().join("Maildir"));
//! let saved = store.deliver(None, "INBOX", &NewMessage::new(b"Subject: hi\n\nhello\n"))?;
//! assert_eq!(saved.uids, [1]);
//! let status = store.status("INBOX")?;
//! assert_eq!((status.messages, status.unseen, status.recent, status.uid_next), (1, 1, 1, 2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod append;
mod cache;
mod dotlock;
mod error;
mod filename;
mod flags;
mod folder;
mod fsutil;
mod keywords;
mod mailboxes;
mod messages;
mod name;
mod subscriptions;
mod uidlist;
mod uidvalidity;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use pn_core::{HostError, MailboxHost, MailboxStatus, UserInfo};
use pn_event::{MailFlags, MessageSource};

pub use cache::{CacheStats, StatusCache};
pub use dotlock::LockSettings;
pub use error::{ErrorKind, Result, StoreError};
pub use messages::SPOOLED_SOURCE_LIMIT;
pub use name::{SEPARATOR, mutf7_decode, mutf7_encode};
pub use uidlist::{guid_hex, parse_guid};

use folder::Folder;
use name::MailboxName;

/// Makes the [`MessageSource`] of a message's raw bytes, for MessageNew/MessageAppend fields.
///
/// The `pn` binary plugs in pn-message's parser; the default, [`NoContent`], fills nothing.
/// A plain function `fn(&[u8]) -> Box<dyn MessageSource + '_>` implements it.
pub trait SourceFactory: Send + Sync {
    /// The source for one message.
    fn source<'a>(&self, raw: &'a [u8]) -> Box<dyn MessageSource + 'a>;
}

impl<F> SourceFactory for F
where
    F: for<'a> Fn(&'a [u8]) -> Box<dyn MessageSource + 'a> + Send + Sync,
{
    fn source<'a>(&self, raw: &'a [u8]) -> Box<dyn MessageSource + 'a> {
        self(raw)
    }
}

/// A [`SourceFactory`] whose sources fill no header or body field.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoContent;

impl SourceFactory for NoContent {
    fn source<'a>(&self, _raw: &'a [u8]) -> Box<dyn MessageSource + 'a> {
        Box::new(())
    }
}

/// A point in a save where [`StoreOptions::save_hook`] is called (for crash tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveStep {
    /// The message files are written and fsynced in `tmp/`; nothing else happened.
    TmpWritten,
    /// The files were renamed into `new/`/`cur/`; the uidlist is not updated yet.
    Renamed,
}

/// How a [`Maildir`] behaves.
#[derive(Clone)]
pub struct StoreOptions {
    /// Waiting for and taking over the uidlist dotlock.
    pub lock: LockSettings,
    /// Host name for file names and dotlocks; the system's by default.
    pub hostname: Option<String>,
    /// Builds MessageNew/MessageAppend content sources.
    pub sources: Arc<dyn SourceFactory>,
    /// Keeps what [`Maildir::status`] read, so the next call rereads only what changed
    /// (shared by clones of these options); `None` recounts from scratch every time.
    pub status_cache: Option<Arc<StatusCache>>,
    /// Called at each [`SaveStep`]; tests use it to simulate a crash.
    #[doc(hidden)]
    pub save_hook: Option<Arc<dyn Fn(SaveStep) + Send + Sync>>,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            lock: LockSettings::default(),
            hostname: None,
            sources: Arc::new(NoContent),
            status_cache: Some(Arc::new(StatusCache::default())),
            save_hook: None,
        }
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("lock", &self.lock)
            .field("hostname", &self.hostname)
            .field("status_cache", &self.status_cache)
            .finish_non_exhaustive()
    }
}

/// One user's Maildir++ (`mail_location = maildir:<root>`).
///
/// Opening does no I/O; the root and INBOX are created on first use, like Dovecot's
/// autocreated INBOX. All methods may be called from several threads and processes at once.
#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
    options: StoreOptions,
    hostname: String,
}

/// A message to save.
#[derive(Debug, Clone, Copy)]
pub struct NewMessage<'a> {
    /// The message as received (headers, blank line, body). CRLF line endings are stored as
    /// LF, as Dovecot does.
    pub data: &'a [u8],
    /// System flags to save it with (`\Recent` is ignored: every saved message is recent).
    pub flags: MailFlags,
    /// Keywords to save it with.
    pub keywords: &'a [String],
    /// The received date (the file's mtime, IMAP's INTERNALDATE); now when `None`.
    pub received: Option<SystemTime>,
}

impl<'a> NewMessage<'a> {
    /// A message without flags or keywords, received now.
    pub fn new(data: &'a [u8]) -> NewMessage<'a> {
        NewMessage {
            data,
            flags: MailFlags::empty(),
            keywords: &[],
            received: None,
        }
    }
}

/// A message already in a file, for [`Maildir::deliver_file`].
#[derive(Debug, Clone, Copy)]
pub struct FileMessage<'a> {
    /// The file; its bytes are stored unchanged (LF line endings).
    pub path: &'a Path,
    /// Its size in bytes (the file name's `S=`).
    pub size: u64,
    /// Its size with CRLF line endings (the file name's `W=`).
    pub vsize: u64,
    /// The received date (the file's mtime); the file's own mtime when `None`.
    pub received: Option<SystemTime>,
}

/// Delivery (MessageNew) or append (MessageAppend).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveKind {
    /// LDA/LMTP delivery (`pn deliver`): MessageNew.
    Delivery,
    /// IMAP APPEND, `doveadm save`: MessageAppend.
    Append,
}

/// What a save, copy or move committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// The destination mailbox's UIDVALIDITY.
    pub uid_validity: u32,
    /// The UIDs assigned, in the order of the messages given.
    pub uids: Vec<u32>,
}

/// What a copy or move did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The source UIDs that were copied, ascending.
    pub source_uids: Vec<u32>,
    /// Their UIDs in the destination.
    pub saved: Saved,
}

/// How [`Maildir::update_flags`] changes flags (doveadm's `flags add|remove|replace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    /// Set the given flags and keywords.
    Add,
    /// Clear the given flags and keywords.
    Remove,
    /// Make the given flags and keywords the message's only ones.
    Replace,
}

/// One message whose flags or keywords changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagUpdate {
    /// The message.
    pub uid: u32,
    /// Flags before (with `\Recent` when the message is recent).
    pub old_flags: MailFlags,
    /// Flags after.
    pub new_flags: MailFlags,
    /// Keywords before, in the mailbox's keyword order.
    pub old_keywords: Vec<String>,
    /// Keywords after.
    pub new_keywords: Vec<String>,
}

/// A message as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// Its UID.
    pub uid: u32,
    /// System flags; `\Recent` while it is in `new/`.
    pub flags: MailFlags,
    /// Keywords, in the mailbox's keyword order.
    pub keywords: Vec<String>,
    /// Physical size from the file name's `S=`.
    pub size: Option<u64>,
    /// Virtual (CRLF) size from the file name's `W=`.
    pub vsize: Option<u64>,
    /// The file name's base, Dovecot's message GUID for Maildir.
    pub guid: String,
    /// The file's current path.
    pub path: PathBuf,
}

/// A mailbox as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    /// The UTF-8 name with `/` as separator.
    pub name: String,
    /// Whether it is in the subscriptions file.
    pub subscribed: bool,
    /// `false` for a parent that only exists because it has children (`\NoSelect`).
    pub selectable: bool,
}

/// Finds a mailbox's GUID (the metadata store keys `priv/<GUID>/…` by it).
pub trait MailboxLocator {
    /// The mailbox's 16-byte GUID, from its `dovecot-uidlist` header.
    fn mailbox_guid(&self, mailbox: &str) -> Result<[u8; 16]>;
}

impl Maildir {
    /// The Maildir at `root` (e.g. `~/Maildir`), with default options.
    pub fn open(root: impl Into<PathBuf>) -> Maildir {
        Maildir::with_options(root, StoreOptions::default())
    }

    /// The Maildir at `root` with options.
    pub fn with_options(root: impl Into<PathBuf>, options: StoreOptions) -> Maildir {
        let host = options.hostname.clone().unwrap_or_else(fsutil::hostname);
        Maildir {
            root: root.into(),
            hostname: filename::escape_hostname(&host),
            options,
        }
    }

    /// The root directory (INBOX).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The options.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    fn folder(&self, mailbox: &str) -> Result<Folder<'_>> {
        let name = MailboxName::parse(mailbox)?;
        let path = if name.is_inbox() {
            self.root.clone()
        } else {
            self.root.join(&name.dir)
        };
        Ok(Folder {
            store: self,
            name,
            path,
        })
    }

    /// The folder of an existing mailbox; INBOX is created when missing.
    fn existing(&self, mailbox: &str) -> Result<Folder<'_>> {
        let folder = self.folder(mailbox)?;
        if !folder.exists() {
            if folder.name.is_inbox() {
                folder.create_dirs()?;
            } else {
                return Err(StoreError::MailboxNotFound(folder.name.vname.clone()));
            }
        }
        Ok(folder)
    }

    /// Whether a mailbox exists (INBOX always does).
    pub fn mailbox_exists(&self, mailbox: &str) -> Result<bool> {
        let folder = self.folder(mailbox)?;
        Ok(folder.name.is_inbox() || folder.exists())
    }

    /// The mailbox's status counters (a sync: files without UIDs get them first).
    pub fn status(&self, mailbox: &str) -> Result<MailboxStatus> {
        let folder = self.existing(mailbox)?;
        if let Some(cache) = &self.options.status_cache
            && let Some(c) = cache.counts(&folder)?
        {
            return Ok(MailboxStatus {
                messages: c.messages,
                unseen: c.unseen,
                recent: c.recent,
                uid_next: c.uid_next,
                uid_validity: c.uid_validity,
            });
        }
        let view = folder.view()?;
        // Counted from the file names alone: no per-message values, no keyword table.
        let (mut messages, mut unseen, mut recent) = (0u32, 0u32, 0u32);
        for r in &view.uidlist.records {
            let Some(loc) = view.files.get(&r.base) else {
                continue;
            };
            messages = messages.saturating_add(1);
            if !filename::flag_letters(&loc.name).contains('S') {
                unseen = unseen.saturating_add(1);
            }
            if loc.sub == folder::Sub::New {
                recent = recent.saturating_add(1);
            }
        }
        Ok(MailboxStatus {
            messages,
            unseen,
            recent,
            uid_next: view.uidlist.next_uid,
            uid_validity: view.uidlist.uid_validity,
        })
    }

    /// The messages of a mailbox in UID order.
    pub fn messages(&self, mailbox: &str) -> Result<Vec<MessageInfo>> {
        let folder = self.existing(mailbox)?;
        let view = folder.view()?;
        Ok(view.messages(&folder, &folder.read_keywords()?))
    }

    /// The bytes of one message as stored.
    pub fn read_message(&self, mailbox: &str, uid: u32) -> Result<Vec<u8>> {
        let msg = self
            .messages(mailbox)?
            .into_iter()
            .find(|m| m.uid == uid)
            .ok_or_else(|| StoreError::Invalid(format!("No such message UID {uid}")))?;
        std::fs::read(&msg.path).map_err(|e| StoreError::io("open", &msg.path, e))
    }
}

impl MailboxLocator for Maildir {
    fn mailbox_guid(&self, mailbox: &str) -> Result<[u8; 16]> {
        let folder = self.existing(mailbox)?;
        // The header is enough; a full read only when the uidlist must be created first.
        match append::read_ends(&folder.uidlist_path())? {
            Some(ends) => Ok(ends.guid),
            None => Ok(folder.view()?.uidlist.guid),
        }
    }
}

/// The store answers the engine's and the drivers' questions (ox's `unseen`, MailboxCreate's
/// UIDVALIDITY) for the one user it belongs to; the user argument is not looked at. For a
/// process serving several users, use [`HomeMaildirs`].
impl MailboxHost for Maildir {
    fn status(&self, _user: &UserInfo, mailbox: &str) -> Result<MailboxStatus, HostError> {
        Maildir::status(self, mailbox).map_err(HostError::from)
    }
}

/// A [`MailboxHost`] for many users: each user's Maildir is `<home>/Maildir`.
#[derive(Debug, Clone, Default)]
pub struct HomeMaildirs {
    /// Options for every user's store.
    pub options: StoreOptions,
}

impl HomeMaildirs {
    /// The store of a user, `None` without a home directory.
    pub fn store(&self, user: &UserInfo) -> Option<Maildir> {
        let home = user.home.as_ref()?;
        Some(Maildir::with_options(
            home.join("Maildir"),
            self.options.clone(),
        ))
    }
}

impl MailboxHost for HomeMaildirs {
    fn status(&self, user: &UserInfo, mailbox: &str) -> Result<MailboxStatus, HostError> {
        let store = self
            .store(user)
            .ok_or_else(|| HostError::new(format!("User {} has no home", user.username)))?;
        Maildir::status(&store, mailbox).map_err(HostError::from)
    }
}
