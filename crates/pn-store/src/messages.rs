//! Message operations: save (deliver/append), copy, move, flags and keywords, expunge. Each
//! runs one pn-core mail transaction, committed after the change is durable.

use std::cell::RefCell;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use pn_core::{Commit, MailTxn, PushUser, Save};
use pn_event::{MailFlags, MessageData, MessageFields, MessageSource};

use crate::append::Appending;
use crate::error::{Result, StoreError};
use crate::filename;
use crate::folder::{self, Folder, Sub};
use crate::fsutil;
use crate::keywords::validate_keyword;
use crate::{Copied, Maildir, NewMessage, SaveKind, SaveStep, Saved};

/// A message written to `tmp/`, waiting for its UID.
struct Staged {
    tmp: PathBuf,
    /// `<base>,S=<size>,W=<vsize>`: the uidlist's file name.
    base: String,
    flags: MailFlags,
    keywords: Vec<String>,
}

/// Where a staged message comes from.
enum Input<'a> {
    Bytes(&'a NewMessage<'a>),
    /// An existing message file (copy), hard-linked when possible.
    File {
        path: &'a Path,
        flags: MailFlags,
        keywords: &'a [String],
    },
    /// A message spooled to a file by the caller (LMTP), hard-linked when possible and
    /// fsynced; its sizes are known, and at most [`SPOOLED_SOURCE_LIMIT`] bytes of it are
    /// read for content fields.
    Spooled(&'a crate::FileMessage<'a>),
}

/// How much of a spooled message is read for MessageNew content fields (headers and the
/// snippet): the memory a delivery needs stays bounded whatever the message's size.
pub const SPOOLED_SOURCE_LIMIT: u64 = 1024 * 1024;

/// Reads a message file only when a driver asks for content fields.
struct FileSource<'a> {
    path: &'a Path,
    store: &'a Maildir,
    cache: RefCell<Option<Vec<u8>>>,
    /// Read at most this many bytes (`None`: the whole file).
    limit: Option<u64>,
}

impl MessageSource for FileSource<'_> {
    fn fill(&self, wanted: MessageFields, data: &mut MessageData) {
        let mut cache = self.cache.borrow_mut();
        if cache.is_none() {
            *cache = Some(match self.limit {
                None => fs::read(self.path).unwrap_or_default(),
                Some(limit) => read_prefix(self.path, limit).unwrap_or_default(),
            });
        }
        if let Some(bytes) = cache.as_deref() {
            self.store.options.sources.source(bytes).fill(wanted, data);
        }
    }
}

impl Maildir {
    /// Delivers a message (LDA/LMTP): MessageNew. Returns once the message is on disk with
    /// its UID.
    pub fn deliver(
        &self,
        push: Option<&PushUser>,
        mailbox: &str,
        msg: &NewMessage<'_>,
    ) -> Result<Saved> {
        self.save_messages(push, mailbox, SaveKind::Delivery, std::slice::from_ref(msg))
    }

    /// Delivers a message the caller spooled to a file (LMTP): MessageNew, like
    /// [`Maildir::deliver`] without holding the message in memory. The file is hard-linked
    /// into the mailbox's `tmp/` when it is on the same file system (else copied) and
    /// fsynced; the caller's file is left in place. Its bytes are stored as they are, so
    /// they must already use LF line endings.
    pub fn deliver_file(
        &self,
        push: Option<&PushUser>,
        mailbox: &str,
        msg: &crate::FileMessage<'_>,
    ) -> Result<Saved> {
        let folder = self.existing(mailbox)?;
        if msg.size == 0 {
            return Err(StoreError::EmptyMessage);
        }
        let inputs = [Input::Spooled(msg)];
        let mut txn = push.map(|p| p.begin_mail_txn(&folder.name.vname));
        let result = self.save_inputs(&folder, &inputs, SaveKind::Delivery, txn.as_mut());
        finish_txn(txn, &result, |s| (s.uid_validity, s.uids.as_slice()));
        result
    }

    /// Appends a message (IMAP APPEND, `doveadm save`): MessageAppend.
    pub fn append(
        &self,
        push: Option<&PushUser>,
        mailbox: &str,
        msg: &NewMessage<'_>,
    ) -> Result<Saved> {
        self.save_messages(push, mailbox, SaveKind::Append, std::slice::from_ref(msg))
    }

    /// Saves messages in one transaction: all get UIDs, or none is stored.
    pub fn save_messages(
        &self,
        push: Option<&PushUser>,
        mailbox: &str,
        kind: SaveKind,
        msgs: &[NewMessage<'_>],
    ) -> Result<Saved> {
        let folder = self.existing(mailbox)?;
        for m in msgs {
            if m.data.is_empty() {
                return Err(StoreError::EmptyMessage);
            }
            for k in m.keywords {
                validate_keyword(k)?;
            }
        }
        let inputs: Vec<Input<'_>> = msgs.iter().map(Input::Bytes).collect();
        let mut txn = push.map(|p| p.begin_mail_txn(&folder.name.vname));
        let result = self.save_inputs(&folder, &inputs, kind, txn.as_mut());
        finish_txn(txn, &result, |s| (s.uid_validity, s.uids.as_slice()));
        result
    }

    fn save_inputs(
        &self,
        folder: &Folder<'_>,
        inputs: &[Input<'_>],
        kind: SaveKind,
        txn: Option<&mut MailTxn<'_>>,
    ) -> Result<Saved> {
        let mut staged = Vec::with_capacity(inputs.len());
        let cleanup = |staged: &[Staged]| {
            for s in staged {
                let _ = fs::remove_file(&s.tmp);
            }
        };
        for input in inputs {
            match self.stage(folder, input) {
                Ok(s) => staged.push(s),
                Err(e) => {
                    cleanup(&staged);
                    return Err(e);
                }
            }
        }
        // No fsync of tmp/: the files' data is synced, and the rename into new/ or cur/ is
        // made durable by that directory's fsync; a crash before it leaves an uncommitted
        // file that nobody was told about.
        self.hook(SaveStep::TmpWritten);
        // Report the saves (Dovecot's mail_save after save_finish).
        if let Some(txn) = txn {
            for (input, s) in inputs.iter().zip(&staged) {
                let keywords = s.keywords.clone();
                let mut save = |content: &dyn MessageSource| {
                    // Dovecot's LDA and LMTP (2.3.19 and 2.4.1 alike) show a delivered
                    // message's MessageNew without `\Recent`.
                    let recent = if kind == SaveKind::Delivery {
                        MailFlags::empty()
                    } else {
                        MailFlags::RECENT
                    };
                    txn.save(&Save {
                        delivery: kind == SaveKind::Delivery,
                        flags: (s.flags & MailFlags::REPORTABLE) | recent,
                        keywords: &keywords,
                        content,
                    });
                };
                match input {
                    Input::Bytes(m) => save(&*self.options.sources.source(m.data)),
                    Input::File { path, .. } => save(&FileSource {
                        path,
                        store: self,
                        cache: RefCell::new(None),
                        limit: None,
                    }),
                    Input::Spooled(m) => save(&FileSource {
                        path: m.path,
                        store: self,
                        cache: RefCell::new(None),
                        limit: Some(SPOOLED_SOURCE_LIMIT),
                    }),
                }
            }
        }
        let res = self.commit_staged(folder, &staged);
        cleanup(&staged);
        res
    }

    fn hook(&self, step: SaveStep) {
        if let Some(h) = &self.options.save_hook {
            h(step);
        }
    }

    /// Writes (or links) one message into `tmp/` and fsyncs it.
    fn stage(&self, folder: &Folder<'_>, input: &Input<'_>) -> Result<Staged> {
        let perms = folder.perms();
        let tmp_dir = folder.path.join("tmp");
        loop {
            let base = filename::generate(&self.hostname);
            let tmp = tmp_dir.join(&base);
            let (size, vsize, flags, keywords) = match input {
                Input::Bytes(m) => {
                    let data = folder::to_lf(m.data);
                    let mut f = match fsutil::create_excl(&tmp, perms) {
                        Ok(f) => f,
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {
                            return Err(StoreError::MailboxNotFound(folder.name.vname.clone()));
                        }
                        Err(e) => return Err(StoreError::io("open", &tmp, e)),
                    };
                    let written = f
                        .write_all(&data)
                        .and_then(|()| match m.received {
                            Some(t) => f.set_modified(t),
                            None => Ok(()),
                        })
                        .and_then(|()| f.sync_all());
                    if let Err(e) = written {
                        let _ = fs::remove_file(&tmp);
                        return Err(StoreError::io("write", &tmp, e));
                    }
                    (
                        data.len() as u64,
                        folder::vsize(&data),
                        m.flags,
                        m.keywords.to_vec(),
                    )
                }
                Input::File {
                    path,
                    flags,
                    keywords,
                } => {
                    match fs::hard_link(path, &tmp) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                        Err(_) => copy_file(path, &tmp, perms)?,
                    }
                    let name = path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or_default();
                    let sizes = (
                        filename::size_field(name, 'S'),
                        filename::size_field(name, 'W'),
                    );
                    let (size, vsize) = match sizes {
                        (Some(s), Some(w)) => (s, w),
                        _ => {
                            let data =
                                fs::read(&tmp).map_err(|e| StoreError::io("read", &tmp, e))?;
                            (data.len() as u64, folder::vsize(&data))
                        }
                    };
                    (size, vsize, *flags, keywords.to_vec())
                }
                Input::Spooled(m) => {
                    match fs::hard_link(m.path, &tmp) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                        Err(e) if e.kind() == io::ErrorKind::NotFound && !tmp_dir.exists() => {
                            return Err(StoreError::MailboxNotFound(folder.name.vname.clone()));
                        }
                        Err(_) => copy_file(m.path, &tmp, perms)?,
                    }
                    // The link shares the caller's inode: make its data durable (a no-op
                    // for every recipient after the first).
                    let synced = fs::File::open(&tmp).and_then(|f| {
                        if let Some(t) = m.received {
                            f.set_modified(t)?;
                        }
                        f.sync_all()
                    });
                    if let Err(e) = synced {
                        let _ = fs::remove_file(&tmp);
                        return Err(StoreError::io("fsync", &tmp, e));
                    }
                    (m.size, m.vsize, MailFlags::empty(), Vec::new())
                }
            };
            return Ok(Staged {
                tmp,
                base: format!("{base},S={size},W={vsize}"),
                flags,
                keywords,
            });
        }
    }

    /// Under the uidlist lock: moves the staged files into place and gives them UIDs. On
    /// failure the moved files are removed again, so a failed save stores nothing. Only the
    /// uidlist's ends are read (see [`Appending`]): the cost does not grow with the mailbox.
    fn commit_staged(&self, folder: &Folder<'_>, staged: &[Staged]) -> Result<Saved> {
        let mut appending = Appending::lock(folder)?;
        let mut placed: Vec<(PathBuf, &str)> = Vec::with_capacity(staged.len());
        let undo = |placed: &[(PathBuf, &str)]| {
            for (p, _) in placed {
                let _ = fs::remove_file(p);
            }
        };
        let mut dirs_used = [false, false];
        for s in staged {
            let kw = match appending.keyword_indexes(&s.keywords) {
                Ok(k) => k,
                Err(e) => {
                    undo(&placed);
                    return Err(e);
                }
            };
            let (name, in_new) = filename::for_save(&s.base, s.flags, &kw);
            let sub = if in_new { Sub::New } else { Sub::Cur };
            dirs_used[usize::from(!in_new)] = true;
            let dest = folder.path.join(sub.dir()).join(&name);
            if let Err(e) = fs::rename(&s.tmp, &dest) {
                undo(&placed);
                return Err(StoreError::io("rename", &dest, e));
            }
            placed.push((dest, &s.base));
        }
        for (used, sub) in dirs_used.iter().zip(["new", "cur"]) {
            if *used && let Err(e) = fsutil::fsync_dir(&folder.path.join(sub)) {
                undo(&placed);
                return Err(e);
            }
        }
        self.hook(SaveStep::Renamed);
        let mut uids = Vec::with_capacity(placed.len());
        for (_, base) in &placed {
            match appending.assign(base) {
                Ok(uid) => uids.push(uid),
                Err(e) => {
                    undo(&placed);
                    return Err(e);
                }
            }
        }
        let uid_validity = appending.uid_validity;
        if let Err(e) = appending.commit() {
            undo(&placed);
            return Err(e);
        }
        Ok(Saved { uid_validity, uids })
    }

    /// Copies messages into another mailbox (hard links when possible), keeping their flags
    /// and keywords: MessageAppend in the destination.
    pub fn copy(
        &self,
        push: Option<&PushUser>,
        source: &str,
        uids: &[u32],
        dest: &str,
    ) -> Result<Copied> {
        let src = self.existing(source)?;
        let dst = self.existing(dest)?;
        let kw = src.read_keywords()?;
        let view = src.view()?;
        let msgs: Vec<_> = view
            .messages(&src, &kw)
            .into_iter()
            .filter(|m| uids.contains(&m.uid))
            .collect();
        let inputs: Vec<Input<'_>> = msgs
            .iter()
            .map(|m| Input::File {
                path: &m.path,
                flags: m.flags & MailFlags::REPORTABLE,
                keywords: &m.keywords,
            })
            .collect();
        let mut txn = push.map(|p| p.begin_mail_txn(&dst.name.vname));
        let result = if inputs.is_empty() {
            Ok(Saved {
                uid_validity: dst.view()?.uidlist.uid_validity,
                uids: Vec::new(),
            })
        } else {
            self.save_inputs(&dst, &inputs, SaveKind::Append, txn.as_mut())
        };
        finish_txn(txn, &result, |s| (s.uid_validity, s.uids.as_slice()));
        Ok(Copied {
            source_uids: msgs.iter().map(|m| m.uid).collect(),
            saved: result?,
        })
    }

    /// Moves messages: a copy (MessageAppend in the destination) and then an expunge
    /// (MessageExpunge in the source), two transactions like Dovecot's MOVE.
    pub fn move_messages(
        &self,
        push: Option<&PushUser>,
        source: &str,
        uids: &[u32],
        dest: &str,
    ) -> Result<Copied> {
        let copied = self.copy(push, source, uids, dest)?;
        self.expunge(push, source, &copied.source_uids)?;
        Ok(copied)
    }

    /// Expunges the messages with these UIDs (missing UIDs are skipped): MessageExpunge.
    /// Returns the UIDs expunged. When removing a file fails, the ones removed before stay
    /// expunged and are reported; the error is returned after that commit.
    pub fn expunge(
        &self,
        push: Option<&PushUser>,
        mailbox: &str,
        uids: &[u32],
    ) -> Result<Vec<u32>> {
        let folder = self.existing(mailbox)?;
        let mut txn = push.map(|p| p.begin_mail_txn(&folder.name.vname));
        let mut locked = match folder.lock() {
            Ok(l) => l,
            Err(e) => {
                if let Some(t) = txn {
                    t.rollback();
                }
                return Err(e);
            }
        };
        let mut done = Vec::new();
        let mut failure = None;
        let targets = locked.view.uidlist.records_of(uids);
        let mut dirs = [false, false];
        for (uid, base) in targets {
            let Some(loc) = locked.view.files.get(&base).cloned() else {
                continue;
            };
            let path = folder.file_path(&loc);
            if let Err(e) = folder::remove_if_exists(&path) {
                failure = Some(e);
                break;
            }
            dirs[usize::from(loc.sub == Sub::Cur)] = true;
            locked.view.files.remove(&base);
            locked.view.uidlist.records.retain(|r| r.uid != uid);
            locked.dirty = true;
            done.push(uid);
        }
        for (used, sub) in dirs.iter().zip(["new", "cur"]) {
            if *used && let Err(e) = fsutil::fsync_dir(&folder.path.join(sub)) {
                failure.get_or_insert(e);
            }
        }
        let uid_validity = locked.view.uidlist.uid_validity;
        // The files are gone whatever happens to the uidlist: a later sync drops them.
        let written = locked.finish();
        if let Some(txn) = txn.as_mut() {
            for uid in &done {
                txn.expunge(*uid);
            }
        }
        if let Some(txn) = txn {
            if done.is_empty() && (failure.is_some() || written.is_err()) {
                txn.rollback();
            } else {
                txn.commit(&Commit {
                    uid_validity,
                    saved_uids: &[],
                });
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        written?;
        Ok(done)
    }
}

/// Commits the push transaction with what the storage committed, or rolls it back.
pub(crate) fn finish_txn<T>(
    txn: Option<MailTxn<'_>>,
    result: &Result<T>,
    commit: impl FnOnce(&T) -> (u32, &[u32]),
) {
    let Some(txn) = txn else { return };
    match result {
        Ok(v) => {
            let (uid_validity, saved_uids) = commit(v);
            txn.commit(&Commit {
                uid_validity,
                saved_uids,
            });
        }
        Err(_) => txn.rollback(),
    }
}

fn copy_file(src: &Path, dst: &Path, perms: fsutil::Perms) -> Result<()> {
    // Streamed, so copying a large message needs no memory of its size.
    let mut from = fs::File::open(src).map_err(|e| StoreError::io("open", src, e))?;
    let mut f = fsutil::create_excl(dst, perms).map_err(|e| StoreError::io("open", dst, e))?;
    let copied = io::copy(&mut from, &mut f)
        .and_then(|_| f.flush())
        .and_then(|()| f.sync_all());
    if let Err(e) = copied {
        let _ = fs::remove_file(dst);
        return Err(StoreError::io("write", dst, e));
    }
    Ok(())
}

/// The first `limit` bytes of a file.
fn read_prefix(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut data = Vec::new();
    fs::File::open(path)?.take(limit).read_to_end(&mut data)?;
    Ok(data)
}

#[cfg(test)]
mod spooled_tests {
    use super::*;
    use crate::FileMessage;

    #[test]
    fn a_spooled_file_is_delivered_by_link_and_left_in_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Maildir::open(dir.path().join("Maildir"));
        let spool = dir.path().join("spooled");
        let data = b"Subject: big\n\nbody\n";
        fs::write(&spool, data).expect("write");
        let msg = FileMessage {
            path: &spool,
            size: data.len() as u64,
            vsize: folder::vsize(data),
            received: None,
        };
        let first = store.deliver_file(None, "INBOX", &msg).expect("first");
        let second = store.deliver_file(None, "INBOX", &msg).expect("second");
        assert_eq!((first.uids, second.uids), (vec![1], vec![2]));
        assert!(spool.exists());
        assert_eq!(store.read_message("INBOX", 2).expect("read"), data);
        let info = &store.messages("INBOX").expect("list")[0];
        assert_eq!((info.size, info.vsize), (Some(19), Some(22)));
    }
}
