//! Mailbox status without rereading the whole folder.
//!
//! ox pushes the INBOX's unseen count with every delivery, so status runs as often as mail
//! arrives. Recounting from scratch means reading the whole uidlist and listing `new/` and
//! `cur/`: a cost that grows with the mailbox. The cache keeps, per folder, what the counts
//! are made of and rereads only what changed since the last call:
//! - the uidlist is appended to in place and replaced by rename otherwise, so the bytes past
//!   the last read are exactly the new records, and a new inode means a full reread;
//! - a directory whose mtime is unchanged is not listed again — but only once that mtime
//!   was more than [`SETTLE`] old when it was listed, because file systems stamp with a
//!   coarse clock and a second change within the same tick leaves the mtime as it was
//!   (Dovecot applies the same rule to `new/` and `cur/`).
//!
//! Nothing is trusted that a `stat` cannot confirm, so other writers (Dovecot, another pn)
//! are seen as they happen. File-name bases are kept as 64-bit hashes: a folder of a
//! million messages costs tens of megabytes, not hundreds.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::hash::{Hash, Hasher};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::error::{Result, StoreError};
use crate::filename;
use crate::folder::{Folder, Sub};
use crate::uidlist::{self, Uidlist};

/// How old a directory's mtime must be before an unchanged mtime proves an unchanged
/// directory.
const SETTLE: Duration = Duration::from_secs(1);

/// Status counters of one folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) messages: u32,
    pub(crate) unseen: u32,
    pub(crate) recent: u32,
    pub(crate) uid_next: u32,
    pub(crate) uid_validity: u32,
}

/// Per-folder status state shared by every [`crate::Maildir`] with the same options, so a
/// long-running server (`pn lmtp`) keeps it across deliveries and users.
///
/// Holds at most a fixed number of folders; the least recently used is dropped first.
pub struct StatusCache {
    capacity: usize,
    folders: Mutex<Folders>,
    stats: Counters,
}

/// One folder's state, filled on first use.
type Slot = Arc<Mutex<Option<State>>>;

/// A use counter, and each folder's slot with the count at its last use.
type Folders = (u64, HashMap<PathBuf, (u64, Slot)>);

/// What a [`StatusCache`] has read so far, for monitoring how much it saves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Status calls answered from the cache.
    pub answered: u64,
    /// Times a uidlist was read whole (first use, or replaced by another writer).
    pub uidlist_reads: u64,
    /// Times only the records appended since the last read were read.
    pub uidlist_appends: u64,
    /// Directory listings of `new/` or `cur/`.
    pub listings: u64,
}

#[derive(Default)]
struct Counters {
    answered: AtomicU64,
    uidlist_reads: AtomicU64,
    uidlist_appends: AtomicU64,
    listings: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl std::fmt::Debug for StatusCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusCache")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl Default for StatusCache {
    /// Room for 1,024 folders.
    fn default() -> StatusCache {
        StatusCache::new(1024)
    }
}

impl StatusCache {
    /// A cache for at most `capacity` folders (at least one).
    pub fn new(capacity: usize) -> StatusCache {
        StatusCache {
            capacity: capacity.max(1),
            folders: Mutex::new((0, HashMap::new())),
            stats: Counters::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        let c = &self.stats;
        CacheStats {
            answered: c.answered.load(Ordering::Relaxed),
            uidlist_reads: c.uidlist_reads.load(Ordering::Relaxed),
            uidlist_appends: c.uidlist_appends.load(Ordering::Relaxed),
            listings: c.listings.load(Ordering::Relaxed),
        }
    }

    fn slot(&self, path: &Path) -> Slot {
        let mut guard = self.folders.lock().unwrap_or_else(PoisonError::into_inner);
        let (clock, map) = &mut *guard;
        *clock += 1;
        let now = *clock;
        if let Some((used, slot)) = map.get_mut(path) {
            *used = now;
            return Arc::clone(slot);
        }
        if map.len() >= self.capacity
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(p, _)| p.clone())
        {
            map.remove(&oldest);
        }
        let slot = Arc::new(Mutex::new(None));
        map.insert(path.to_owned(), (now, Arc::clone(&slot)));
        slot
    }

    /// The folder's counts, or `None` when its uidlist does not exist yet or lists files
    /// without UIDs (the caller then runs a full sync, which assigns them).
    pub(crate) fn counts(&self, folder: &Folder<'_>) -> Result<Option<Counts>> {
        let slot = self.slot(&folder.path);
        let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let result = refresh(&mut guard, folder, &self.stats);
        match &result {
            Ok(Some(_)) => bump(&self.stats.answered),
            Ok(None) => {}
            Err(_) => *guard = None,
        }
        result
    }
}

/// What the counts of one folder are made of.
struct State {
    uidlist: UidlistState,
    new: DirState,
    cur: DirState,
}

/// The part of the uidlist read so far.
struct UidlistState {
    dev: u64,
    ino: u64,
    /// Bytes consumed: always the end of a complete line.
    read: u64,
    uid_validity: u32,
    next_uid: u32,
    /// Hashes of the bases that have a UID.
    bases: HashSet<u64>,
}

/// One listing of `new/` or `cur/`.
struct DirState {
    mtime: SystemTime,
    /// Whether an unchanged mtime proves an unchanged directory (see [`SETTLE`]).
    settled: bool,
    /// Base hash → whether the file carries `\Seen`.
    files: HashMap<u64, bool>,
    /// Files with a UID, and the unseen ones among them.
    with_uid: u32,
    unseen: u32,
    /// Files without a UID: (base hash, seen).
    missing: Vec<(u64, bool)>,
}

fn hash(base: &str) -> u64 {
    let mut h = DefaultHasher::new();
    base.hash(&mut h);
    h.finish()
}

fn refresh(
    state: &mut Option<State>,
    folder: &Folder<'_>,
    stats: &Counters,
) -> Result<Option<Counts>> {
    let path = folder.uidlist_path();
    let md = match fs::metadata(&path) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            *state = None;
            return Ok(None);
        }
        Err(e) => return Err(StoreError::io("stat", &path, e)),
    };
    let mut reload = true;
    let mut appended = Vec::new();
    if let Some(s) = state.as_mut()
        && s.uidlist.dev == md.dev()
        && s.uidlist.ino == md.ino()
        && md.len() >= s.uidlist.read
    {
        reload = !s.uidlist.read_appended(&path, md.len(), &mut appended)?;
        if !reload && !appended.is_empty() {
            bump(&stats.uidlist_appends);
        }
    }
    let uidlist = if reload {
        bump(&stats.uidlist_reads);
        UidlistState::load(&path)?
    } else {
        None
    };
    let scan = |sub, bases: &HashSet<u64>, cur: Option<&HashMap<u64, bool>>| {
        bump(&stats.listings);
        DirState::scan(folder, sub, bases, cur)
    };
    let st = match (state.take(), uidlist) {
        (_, Some(u)) => {
            // Everything is counted against the new uidlist.
            let cur = scan(Sub::Cur, &u.bases, None)?;
            let new = scan(Sub::New, &u.bases, Some(&cur.files))?;
            state.insert(State {
                uidlist: u,
                new,
                cur,
            })
        }
        (Some(mut s), None) => {
            for h in &appended {
                s.new.assign(*h);
                s.cur.assign(*h);
            }
            let cur_changed = s.cur.changed(folder, Sub::Cur)?;
            if cur_changed {
                s.cur = scan(Sub::Cur, &s.uidlist.bases, None)?;
            }
            if cur_changed || s.new.changed(folder, Sub::New)? {
                s.new = scan(Sub::New, &s.uidlist.bases, Some(&s.cur.files))?;
            }
            state.insert(s)
        }
        // The file vanished between the stat and the read.
        (None, None) => return Ok(None),
    };
    if !st.new.missing.is_empty() || !st.cur.missing.is_empty() {
        return Ok(None);
    }
    Ok(Some(Counts {
        messages: st.new.with_uid.saturating_add(st.cur.with_uid),
        unseen: st.new.unseen.saturating_add(st.cur.unseen),
        recent: st.new.with_uid,
        uid_next: st.uidlist.next_uid,
        uid_validity: st.uidlist.uid_validity,
    }))
}

impl UidlistState {
    /// Reads the whole file; `None` when it is gone.
    fn load(path: &Path) -> Result<Option<UidlistState>> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io("open", path, e)),
        };
        let md = file
            .metadata()
            .map_err(|e| StoreError::io("fstat", path, e))?;
        let mut bytes = vec![0; usize::try_from(md.len()).unwrap_or(0)];
        let n = read_full_at(&file, &mut bytes, 0).map_err(|e| StoreError::io("read", path, e))?;
        bytes.truncate(n);
        // A last line without its newline is an append in progress: read it next time.
        let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let list = Uidlist::parse(&String::from_utf8_lossy(&bytes[..whole]), path)?;
        Ok(Some(UidlistState {
            dev: md.dev(),
            ino: md.ino(),
            read: whole as u64,
            uid_validity: list.uid_validity,
            next_uid: list.next_uid,
            bases: list.records.iter().map(|r| hash(&r.base)).collect(),
        }))
    }

    /// Reads the records appended since the last read into `appended` (base hashes);
    /// `false` when what follows is not a run of well-formed records (reload instead).
    fn read_appended(&mut self, path: &Path, len: u64, appended: &mut Vec<u64>) -> Result<bool> {
        if len == self.read {
            return Ok(true);
        }
        let file = File::open(path).map_err(|e| StoreError::io("open", path, e))?;
        let mut bytes = vec![0; usize::try_from(len - self.read).unwrap_or(0)];
        let n = read_full_at(&file, &mut bytes, self.read)
            .map_err(|e| StoreError::io("read", path, e))?;
        bytes.truncate(n);
        let Some(end) = bytes.iter().rposition(|&b| b == b'\n') else {
            return Ok(true);
        };
        let Ok(text) = std::str::from_utf8(&bytes[..end]) else {
            return Ok(false);
        };
        let mut next_uid = self.next_uid;
        let start = appended.len();
        for line in text.split('\n').filter(|l| !l.is_empty()) {
            match uidlist::parse_record(line) {
                Some((uid, base)) if uid >= next_uid => {
                    next_uid = uid.saturating_add(1);
                    appended.push(hash(base));
                }
                _ => {
                    appended.truncate(start);
                    return Ok(false);
                }
            }
        }
        self.bases.extend(appended[start..].iter().copied());
        self.next_uid = next_uid;
        self.read += end as u64 + 1;
        Ok(true)
    }
}

impl DirState {
    /// Lists a directory. Files also in `cur` (moved there while we were reading) are left
    /// out of `new/`'s listing.
    fn scan(
        folder: &Folder<'_>,
        sub: Sub,
        bases: &HashSet<u64>,
        cur: Option<&HashMap<u64, bool>>,
    ) -> Result<DirState> {
        let dir = folder.path.join(sub.dir());
        let started = SystemTime::now();
        // The mtime is taken before listing: a change during the listing makes it differ
        // next time, so it is not missed.
        let mtime = dir_mtime(folder, &dir)?;
        let mut state = DirState {
            mtime,
            settled: started.duration_since(mtime).is_ok_and(|age| age > SETTLE),
            files: HashMap::new(),
            with_uid: 0,
            unseen: 0,
            missing: Vec::new(),
        };
        folder.list(sub, |name| {
            let h = hash(filename::base(&name));
            if cur.is_some_and(|c| c.contains_key(&h)) {
                return;
            }
            let seen = filename::flag_letters(&name).contains('S');
            if state.files.insert(h, seen).is_some() {
                return;
            }
            if bases.contains(&h) {
                state.count(seen);
            } else {
                state.missing.push((h, seen));
            }
        })?;
        Ok(state)
    }

    fn count(&mut self, seen: bool) {
        self.with_uid = self.with_uid.saturating_add(1);
        if !seen {
            self.unseen = self.unseen.saturating_add(1);
        }
    }

    /// A file listed without a UID got one.
    fn assign(&mut self, h: u64) {
        if let Some(i) = self.missing.iter().position(|(m, _)| *m == h) {
            let (_, seen) = self.missing.swap_remove(i);
            self.count(seen);
        }
    }

    /// Whether the directory must be listed again.
    fn changed(&self, folder: &Folder<'_>, sub: Sub) -> Result<bool> {
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

/// Reads into `buf` from `offset` until it is full or the file ends; the bytes read.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Maildir, NewMessage, StoreOptions};

    fn stores(root: &Path) -> (Maildir, Maildir, StatusCache) {
        let options = |cache| StoreOptions {
            status_cache: cache,
            ..StoreOptions::default()
        };
        (
            Maildir::with_options(root, options(None)),
            Maildir::with_options(root, options(None)),
            StatusCache::new(2),
        )
    }

    fn counted(store: &Maildir) -> Counts {
        let s = store.status("INBOX").unwrap();
        Counts {
            messages: s.messages,
            unseen: s.unseen,
            recent: s.recent,
            uid_next: s.uid_next,
            uid_validity: s.uid_validity,
        }
    }

    fn deliver(store: &Maildir, n: usize) {
        for _ in 0..n {
            store
                .deliver(None, "INBOX", &NewMessage::new(b"Subject: s\n\nb\n"))
                .unwrap();
        }
    }

    #[test]
    fn the_cache_answers_after_saves_without_a_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let (store, plain, cache) = stores(&dir.path().join("Maildir"));
        deliver(&store, 5);
        let folder = store.folder("INBOX").unwrap();
        assert_eq!(cache.counts(&folder).unwrap(), Some(counted(&plain)));
        // Appended records are read from where the last read stopped.
        deliver(&store, 3);
        let c = cache.counts(&folder).unwrap();
        assert_eq!(c, Some(counted(&plain)));
        assert_eq!(c.map(|c| (c.messages, c.uid_next)), Some((8, 9)));
        let stats = cache.stats();
        assert_eq!(
            (stats.answered, stats.uidlist_reads, stats.uidlist_appends),
            (2, 1, 1)
        );

        // Quiet directories are not listed again; the fresh new/ of a delivery is.
        let past = SystemTime::now() - Duration::from_secs(30);
        let root = dir.path().join("Maildir");
        for d in ["new", "cur"] {
            File::open(root.join(d))
                .unwrap()
                .set_modified(past)
                .unwrap();
        }
        let listings = cache.stats().listings;
        assert_eq!(cache.counts(&folder).unwrap(), Some(counted(&plain)));
        assert_eq!(
            cache.stats().listings,
            listings + 2,
            "aged: listed once more"
        );
        assert_eq!(cache.counts(&folder).unwrap(), Some(counted(&plain)));
        assert_eq!(cache.stats().listings, listings + 2, "settled: not listed");
        deliver(&store, 1);
        assert_eq!(cache.counts(&folder).unwrap(), Some(counted(&plain)));
        assert_eq!(cache.stats().listings, listings + 3, "only new/ changed");
    }

    #[test]
    fn a_record_appended_by_another_writer_completes_a_settled_listing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("Maildir");
        let (store, plain, cache) = stores(&root);
        deliver(&store, 1);
        let folder = store.folder("INBOX").unwrap();
        // A file in cur/ that no record names yet, in a directory quiet for a while.
        fs::write(
            root.join("cur/1700000000.M9P9.other:2,S"),
            "Subject: x\n\n\n",
        )
        .unwrap();
        let past = SystemTime::now() - Duration::from_secs(30);
        for d in ["new", "cur"] {
            File::open(root.join(d))
                .unwrap()
                .set_modified(past)
                .unwrap();
        }
        assert_eq!(cache.counts(&folder).unwrap(), None);
        // The other writer appends its record (as Dovecot does after its rename).
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(root.join("dovecot-uidlist"))
            .unwrap();
        std::io::Write::write_all(&mut f, b"2 :1700000000.M9P9.other\n").unwrap();
        drop(f);
        let listings = cache.stats().listings;
        let c = cache.counts(&folder).unwrap();
        assert_eq!(cache.stats().listings, listings, "nothing listed again");
        assert_eq!(
            c.map(|c| (c.messages, c.unseen, c.uid_next)),
            Some((2, 1, 3))
        );
        assert_eq!(c, Some(counted(&plain)));
    }

    #[test]
    fn files_without_uids_send_status_to_a_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("Maildir");
        let (store, plain, cache) = stores(&root);
        deliver(&store, 2);
        fs::write(root.join("new/1700000000.M1P1.other"), "Subject: x\n\n\n").unwrap();
        let folder = store.folder("INBOX").unwrap();
        assert_eq!(cache.counts(&folder).unwrap(), None);
        // The full sync gives it a UID; the cache then answers again.
        assert_eq!(counted(&plain).messages, 3);
        assert_eq!(cache.counts(&folder).unwrap(), Some(counted(&plain)));
    }

    #[test]
    fn a_change_that_keeps_a_fresh_mtime_is_still_seen() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("Maildir");
        let (store, plain, cache) = stores(&root);
        deliver(&store, 3);
        let folder = store.folder("INBOX").unwrap();
        assert_eq!(cache.counts(&folder).unwrap().map(|c| c.unseen), Some(3));
        // Another writer moves a message to cur/ as seen within the same clock tick as the
        // last listing: neither directory's mtime changes.
        let mtime = |d: &str| fs::metadata(root.join(d)).unwrap().modified().unwrap();
        let (new_t, cur_t) = (mtime("new"), mtime("cur"));
        let name = fs::read_dir(root.join("new"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .file_name()
            .into_string()
            .unwrap();
        fs::rename(
            root.join("new").join(&name),
            root.join("cur").join(format!("{name}:2,S")),
        )
        .unwrap();
        File::open(root.join("new"))
            .unwrap()
            .set_modified(new_t)
            .unwrap();
        File::open(root.join("cur"))
            .unwrap()
            .set_modified(cur_t)
            .unwrap();
        let c = cache.counts(&folder).unwrap();
        assert_eq!(c.map(|c| (c.unseen, c.recent)), Some((2, 2)));
        assert_eq!(c, Some(counted(&plain)));
    }
}
