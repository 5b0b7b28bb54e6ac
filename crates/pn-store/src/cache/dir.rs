//! One directory's share of the counts: `new/` or `cur/`.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::hash;
use crate::error::{Result, StoreError};
use crate::filename;
use crate::folder::{Folder, Sub};

/// How old a directory's mtime must be before an unchanged mtime proves an unchanged
/// directory: file systems stamp with a coarse clock, and a second change within the same
/// tick leaves the mtime as it was (Dovecot applies the same rule to `new/` and `cur/`).
const SETTLE: Duration = Duration::from_secs(1);

/// One file as counted.
#[derive(Debug, Clone, Copy)]
struct Entry {
    seen: bool,
    /// Whether it has a UID (counted) or waits in `missing`.
    counted: bool,
}

/// A directory's files and what they add to the counts.
pub(super) struct DirState {
    mtime: SystemTime,
    /// Whether an unchanged mtime proves an unchanged directory (see [`SETTLE`]).
    settled: bool,
    /// The watch that has reported every change since the listing, if any.
    pub(super) watched: Option<i32>,
    /// Base hash → the file.
    files: HashMap<u64, Entry>,
    /// Files with a UID, and the unseen ones among them.
    pub(super) with_uid: u32,
    pub(super) unseen: u32,
    /// Base hashes of files without a UID yet.
    missing: HashSet<u64>,
}

impl DirState {
    /// Lists a directory. Files also in `cur` (moved there while we were reading) are left
    /// out of `new/`'s listing. `watched`: the watch on the directory placed before, if any.
    pub(super) fn scan(
        folder: &Folder<'_>,
        sub: Sub,
        bases: &HashSet<u64>,
        cur: Option<&DirState>,
        watched: Option<i32>,
    ) -> Result<DirState> {
        let dir = folder.path.join(sub.dir());
        let started = SystemTime::now();
        // The mtime is taken before listing: a change during the listing makes it differ
        // next time, so it is not missed.
        let mtime = dir_mtime(folder, &dir)?;
        let mut state = DirState {
            mtime,
            settled: started.duration_since(mtime).is_ok_and(|age| age > SETTLE),
            watched,
            files: HashMap::new(),
            with_uid: 0,
            unseen: 0,
            missing: HashSet::new(),
        };
        folder.list(sub, |name| {
            let h = hash(filename::base(&name));
            if !cur.is_some_and(|c| c.files.contains_key(&h)) {
                state.add(h, &name, bases);
            }
        })?;
        Ok(state)
    }

    /// Counts a file (again, if it was there under another name).
    pub(super) fn add(&mut self, h: u64, name: &str, bases: &HashSet<u64>) {
        self.remove(h);
        let entry = Entry {
            seen: filename::flag_letters(name).contains('S'),
            counted: bases.contains(&h),
        };
        if entry.counted {
            self.count(entry.seen, true);
        } else {
            self.missing.insert(h);
        }
        self.files.insert(h, entry);
    }

    /// Forgets a file.
    pub(super) fn remove(&mut self, h: u64) {
        match self.files.remove(&h) {
            Some(e) if e.counted => self.count(e.seen, false),
            Some(_) => {
                self.missing.remove(&h);
            }
            None => {}
        }
    }

    fn count(&mut self, seen: bool, add: bool) {
        let step = |n: u32| {
            if add {
                n.saturating_add(1)
            } else {
                n.saturating_sub(1)
            }
        };
        self.with_uid = step(self.with_uid);
        if !seen {
            self.unseen = step(self.unseen);
        }
    }

    /// A file without a UID got one.
    pub(super) fn assign(&mut self, h: u64) {
        if self.missing.remove(&h)
            && let Some(e) = self.files.get_mut(&h)
        {
            e.counted = true;
            let seen = e.seen;
            self.count(seen, true);
        }
    }

    /// Counts every file again against a new uidlist.
    pub(super) fn recount(&mut self, bases: &HashSet<u64>) {
        self.with_uid = 0;
        self.unseen = 0;
        self.missing.clear();
        let mut files = std::mem::take(&mut self.files);
        for (h, e) in &mut files {
            e.counted = bases.contains(h);
            if e.counted {
                self.count(e.seen, true);
            } else {
                self.missing.insert(*h);
            }
        }
        self.files = files;
    }

    /// Whether some file has no UID yet.
    pub(super) fn has_missing(&self) -> bool {
        !self.missing.is_empty()
    }

    /// Whether the directory must be listed again: without a watch, when its mtime moved or
    /// was too fresh to prove anything.
    pub(super) fn changed(
        &self,
        folder: &Folder<'_>,
        sub: Sub,
        watched: Option<i32>,
    ) -> Result<bool> {
        if watched.is_some() {
            // Another watch than the listing's came after it: what happened before it is
            // unknown.
            return Ok(watched != self.watched);
        }
        let mtime = dir_mtime(folder, &folder.path.join(sub.dir()))?;
        Ok(!self.settled || mtime != self.mtime)
    }
}

fn dir_mtime(folder: &Folder<'_>, dir: &Path) -> Result<SystemTime> {
    match fs::metadata(dir).and_then(|m| m.modified()) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(StoreError::MailboxNotFound(folder.name.vname.clone()))
        }
        Err(e) => Err(StoreError::io("stat", dir, e)),
    }
}
