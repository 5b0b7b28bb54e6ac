//! One Maildir folder on disk: scanning `new/` and `cur/`, matching the files with
//! `dovecot-uidlist`, and changing both under the uidlist's dotlock.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use pn_event::MailFlags;

use crate::dotlock::Dotlock;
use crate::error::{Result, StoreError};
use crate::filename;
use crate::fsutil::{self, Perms};
use crate::keywords::Keywords;
use crate::name::MailboxName;
use crate::uidlist::Uidlist;
use crate::uidvalidity;
use crate::{Maildir, MessageInfo};

pub(crate) const UIDLIST: &str = "dovecot-uidlist";
pub(crate) const KEYWORDS: &str = "dovecot-keywords";
/// Dovecot deletes files in `tmp/` that were not touched for 36 hours.
const TMP_STALE: Duration = Duration::from_secs(36 * 3600);

/// `new/` or `cur/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sub {
    New,
    Cur,
}

impl Sub {
    pub(crate) fn dir(self) -> &'static str {
        match self {
            Sub::New => "new",
            Sub::Cur => "cur",
        }
    }
}

/// Where a message's file currently is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileLoc {
    pub(crate) sub: Sub,
    pub(crate) name: String,
}

/// One mailbox's directory.
pub(crate) struct Folder<'s> {
    pub(crate) store: &'s Maildir,
    pub(crate) name: MailboxName,
    pub(crate) path: PathBuf,
}

/// A folder's state read from disk: the uidlist and the files it names.
pub(crate) struct View {
    pub(crate) uidlist: Uidlist,
    pub(crate) files: HashMap<String, FileLoc>,
}

impl View {
    /// The messages with a UID and a file, in UID order.
    pub(crate) fn messages(&self, folder: &Folder<'_>, kw: &Keywords) -> Vec<MessageInfo> {
        self.uidlist
            .records
            .iter()
            .filter_map(|r| {
                let loc = self.files.get(&r.base)?;
                Some(message_info(folder, r.uid, &r.base, loc, kw))
            })
            .collect()
    }

    /// Whether some file has no UID yet.
    fn has_unassigned(&self) -> bool {
        let known: HashSet<&str> = self
            .uidlist
            .records
            .iter()
            .map(|r| r.base.as_str())
            .collect();
        self.files.keys().any(|b| !known.contains(b.as_str()))
    }
}

pub(crate) fn message_info(
    folder: &Folder<'_>,
    uid: u32,
    base: &str,
    loc: &FileLoc,
    kw: &Keywords,
) -> MessageInfo {
    let (mut flags, kw_idx) = filename::parse_flags(&loc.name);
    if loc.sub == Sub::New {
        flags |= MailFlags::RECENT;
    }
    MessageInfo {
        uid,
        flags,
        keywords: kw.names_of(&kw_idx),
        size: filename::size_field(base, 'S'),
        vsize: filename::size_field(base, 'W'),
        guid: base.to_owned(),
        path: folder.path.join(loc.sub.dir()).join(&loc.name),
    }
}

/// A folder locked for changes: the uidlist dotlock is held until [`Locked::finish`] or drop.
pub(crate) struct Locked<'f, 's> {
    pub(crate) folder: &'f Folder<'s>,
    pub(crate) view: View,
    pub(crate) keywords: Keywords,
    lock: Option<Dotlock>,
    pub(crate) dirty: bool,
}

impl<'s> Folder<'s> {
    pub(crate) fn perms(&self) -> Perms {
        Perms::of_dir(&self.path)
    }

    pub(crate) fn uidlist_path(&self) -> PathBuf {
        self.path.join(UIDLIST)
    }

    /// Whether the folder's directories exist.
    pub(crate) fn exists(&self) -> bool {
        self.path.join("cur").is_dir()
    }

    /// Creates `tmp/ new/ cur/` (and the folder itself and `maildirfolder` for non-INBOX).
    /// Returns `false` when it already existed.
    pub(crate) fn create_dirs(&self) -> Result<bool> {
        fsutil::ensure_root(&self.store.root)?;
        let root_perms = Perms::of_dir(&self.store.root);
        let created = if self.name.is_inbox() {
            false
        } else {
            fsutil::mkdir(&self.path, root_perms)?
        };
        let perms = self.perms();
        let mut any = created;
        // `cur/` last: `exists` tests it, so a concurrent delivery that sees it also finds
        // `tmp/` and `new/`.
        for sub in ["tmp", "new", "cur"] {
            any |= fsutil::mkdir(&self.path.join(sub), perms)?;
        }
        if !self.name.is_inbox() {
            let marker = self.path.join("maildirfolder");
            match fsutil::create_excl(&marker, perms) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(StoreError::io("open", &marker, e)),
            }
        }
        if any {
            fsutil::fsync_dir(&self.path)?;
            if let Some(parent) = self.path.parent() {
                fsutil::fsync_dir(parent)?;
            }
        }
        Ok(any)
    }

    /// Reads the keyword table.
    pub(crate) fn read_keywords(&self) -> Result<Keywords> {
        Ok(fsutil::read_opt(&self.path.join(KEYWORDS))?
            .map(|t| Keywords::parse(&t))
            .unwrap_or_default())
    }

    /// The uidlist and whether its last line was complete; `None` when there is no file.
    fn read_uidlist(&self) -> Result<Option<(Uidlist, bool)>> {
        let path = self.uidlist_path();
        let Some(text) = fsutil::read_opt(&path)? else {
            return Ok(None);
        };
        let complete = text.is_empty() || text.ends_with('\n');
        let whole_lines = match text.rfind('\n') {
            Some(end) if !complete => &text[..=end],
            _ => text.as_str(),
        };
        Uidlist::parse(whole_lines, &path).map(|list| Some((list, complete)))
    }

    /// Lists `new/` and `cur/` by file-name base. A file seen in both (moved while we were
    /// reading) counts once, in `cur/`.
    fn scan(&self) -> Result<HashMap<String, FileLoc>> {
        let mut files = HashMap::new();
        for sub in [Sub::New, Sub::Cur] {
            self.list(sub, |name| {
                files.insert(filename::base(&name).to_owned(), FileLoc { sub, name });
            })?;
        }
        Ok(files)
    }

    /// Calls `each` with the name of every message file in `new/` or `cur/` (dot files and
    /// names that are not UTF-8 are not messages).
    pub(crate) fn list(&self, sub: Sub, mut each: impl FnMut(String)) -> Result<()> {
        let dir = self.path.join(sub.dir());
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::MailboxNotFound(self.name.vname.clone()));
            }
            Err(e) => return Err(StoreError::io("opendir", &dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io("readdir", &dir, e))?;
            if let Ok(name) = entry.file_name().into_string()
                && !name.starts_with('.')
            {
                each(name);
            }
        }
        Ok(())
    }

    /// Reads the folder without locking. When files without UIDs are found (or no uidlist
    /// exists yet), a locked sync assigns them first, as Dovecot's status does.
    pub(crate) fn view(&self) -> Result<View> {
        if let Some((uidlist, _)) = self.read_uidlist()? {
            let view = View {
                uidlist,
                files: self.scan()?,
            };
            if !view.has_unassigned() {
                return Ok(view);
            }
        }
        let locked = self.lock()?;
        let mut locked = locked;
        locked.write_uidlist()?;
        Ok(locked.into_view())
    }

    /// Takes the uidlist's dotlock, which serialises every change to the folder.
    pub(crate) fn acquire_uidlist_lock(&self) -> Result<Dotlock> {
        Dotlock::acquire(
            &self.uidlist_path(),
            &self.store.options.lock,
            self.perms(),
            &self.store.hostname,
        )
    }

    /// Locks the uidlist and syncs: reads it (or starts a new one), scans the directories,
    /// drops records whose file is gone and gives UIDs to files that have none.
    pub(crate) fn lock(&self) -> Result<Locked<'_, 's>> {
        if !self.exists() {
            return Err(StoreError::MailboxNotFound(self.name.vname.clone()));
        }
        let lock = self.acquire_uidlist_lock()?;
        let (uidlist, mut dirty) = match self.read_uidlist()? {
            // A last line without its newline is an append cut short by a crash: the file
            // is rewritten without it (its message gets a UID again below).
            Some((list, complete)) => (list, !complete),
            None => {
                let v = uidvalidity::next(&self.store.root, Perms::of_dir(&self.store.root))?;
                (Uidlist::new(v, fsutil::random_guid()?), true)
            }
        };
        let mut files = self.scan()?;
        if uidlist.records.iter().any(|r| !files.contains_key(&r.base)) {
            // A file may have moved from new/ to cur/ between the two reads: look again.
            files = self.scan()?;
        }
        let mut uidlist = uidlist;
        let before = uidlist.records.len();
        uidlist.records.retain(|r| files.contains_key(&r.base));
        dirty |= uidlist.records.len() != before;
        let known: HashSet<&str> = uidlist.records.iter().map(|r| r.base.as_str()).collect();
        let mut unassigned: Vec<String> = files
            .keys()
            .filter(|b| !known.contains(b.as_str()))
            .cloned()
            .collect();
        drop(known);
        unassigned.sort();
        for base in &unassigned {
            uidlist.assign(base);
            dirty = true;
        }
        let keywords = self.read_keywords()?;
        self.clean_tmp();
        Ok(Locked {
            folder: self,
            view: View { uidlist, files },
            keywords,
            lock: Some(lock),
            dirty,
        })
    }

    /// Removes files in `tmp/` older than 36 hours (failed deliveries), as Dovecot does.
    fn clean_tmp(&self) {
        let dir = self.path.join("tmp");
        let Ok(entries) = fs::read_dir(&dir) else {
            return;
        };
        let now = SystemTime::now();
        for e in entries.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age > TMP_STALE);
            if old {
                let _ = fs::remove_file(e.path());
            }
        }
    }

    /// Path of a file in a sub-directory.
    pub(crate) fn file_path(&self, loc: &FileLoc) -> PathBuf {
        self.path.join(loc.sub.dir()).join(&loc.name)
    }
}

impl Locked<'_, '_> {
    /// Writes the uidlist if it changed (`dovecot-uidlist.tmp` renamed over it, as Dovecot's
    /// `maildir_uidlist_recreate`). The lock stays held.
    pub(crate) fn write_uidlist(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let path = self.folder.uidlist_path();
        let tmp = self.folder.path.join(format!("{UIDLIST}.tmp"));
        fsutil::replace_file(
            &path,
            &tmp,
            self.view.uidlist.to_text().as_bytes(),
            self.folder.perms(),
        )?;
        self.dirty = false;
        Ok(())
    }

    /// Keyword indexes for names, adding new names to the table (written at once).
    pub(crate) fn keyword_indexes(&mut self, names: &[String]) -> Result<Vec<u8>> {
        keyword_indexes(self.folder, &mut self.keywords, names)
    }

    /// Gives up the view, keeping the lock (for a save that goes on from here).
    pub(crate) fn into_lock(mut self) -> (Option<Dotlock>, Keywords) {
        (self.lock.take(), std::mem::take(&mut self.keywords))
    }

    /// Releases the lock (after writing a changed uidlist).
    pub(crate) fn finish(mut self) -> Result<View> {
        self.write_uidlist()?;
        Ok(self.into_view())
    }

    pub(crate) fn into_view(mut self) -> View {
        drop(self.lock.take());
        std::mem::replace(
            &mut self.view,
            View {
                uidlist: Uidlist::new(1, [0; 16]),
                files: HashMap::new(),
            },
        )
    }
}

/// Keyword indexes for names, adding new names to `keywords` and writing the table at once.
pub(crate) fn keyword_indexes(
    folder: &Folder<'_>,
    keywords: &mut Keywords,
    names: &[String],
) -> Result<Vec<u8>> {
    let mut idx = Vec::with_capacity(names.len());
    let mut changed = false;
    for n in names {
        let (i, added) = keywords.get_or_add(n)?;
        changed |= added;
        if !idx.contains(&i) {
            idx.push(i);
        }
    }
    if changed {
        write_keywords(folder, keywords)?;
    }
    idx.sort_unstable();
    Ok(idx)
}

/// Writes the keyword table under its own dotlock.
fn write_keywords(folder: &Folder<'_>, keywords: &Keywords) -> Result<()> {
    let path = folder.path.join(KEYWORDS);
    let settings = crate::LockSettings {
        timeout: folder.store.options.lock.timeout,
        stale_timeout: Duration::from_secs(120),
    };
    let lock = Dotlock::acquire(&path, &settings, folder.perms(), &folder.store.hostname)?;
    lock.replace(keywords.to_text().as_bytes())
}

/// Virtual size: the size with every bare LF counted as CRLF.
pub(crate) fn vsize(data: &[u8]) -> u64 {
    let mut extra = 0u64;
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' && prev != b'\r' {
            extra += 1;
        }
        prev = b;
    }
    data.len() as u64 + extra
}

/// The bytes as stored: CRLF line endings turned into LF, as Dovecot saves them with the
/// default `mail_save_crlf = no`.
pub(crate) fn to_lf(data: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !data.windows(2).any(|w| w == b"\r\n") {
        return std::borrow::Cow::Borrowed(data);
    }
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'\r' && data.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(data[i]);
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

/// Removes a path, ignoring a file that is already gone.
pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io("unlink", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_dovecots_for_crlf_and_lf_input() {
        // dovecot-lda stored a 32-byte CRLF message as 28 bytes with W=32.
        let crlf = b"From: a@b\r\nSubject: hi\r\n\r\nbody\r\n";
        let stored = to_lf(crlf);
        assert_eq!(stored.len(), 28);
        assert_eq!(vsize(&stored), 32);
        let lf = b"From: a@b\nSubject: hi2\n\nbody two\n";
        assert_eq!((to_lf(lf).len(), vsize(lf)), (33, 37));
    }
}
