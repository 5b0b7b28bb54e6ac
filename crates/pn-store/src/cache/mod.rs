//! Mailbox status without rereading the whole folder.
//!
//! ox pushes the INBOX's unseen count with every delivery, so status runs as often as mail
//! arrives. Recounting from scratch means reading the whole uidlist and listing `new/` and
//! `cur/`: a cost that grows with the mailbox. The cache keeps, per folder, what the counts
//! are made of and rereads only what changed since the last call:
//! - the uidlist is appended to in place and replaced by rename otherwise, so the bytes past
//!   the last read are exactly the new records, and a new inode means a full reread
//!   (`uidlist_state.rs`);
//! - a directory under an inotify watch is never listed again: its events keep the counts
//!   (`watch.rs`);
//! - without a watch, a directory whose mtime is unchanged is not listed again, but only once
//!   that mtime was old enough to prove it (`dir.rs`).
//!
//! Nothing is trusted that the kernel does not confirm, so other writers (Dovecot, another
//! pn) are seen as they happen. File-name bases are kept as 64-bit hashes: a folder of a
//! million messages costs tens of megabytes, not hundreds.

mod dir;
mod uidlist_state;
mod watch;

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use dir::DirState;
use uidlist_state::UidlistState;
use watch::Watcher;

use crate::error::{Result, StoreError};
use crate::folder::{Folder, Sub};

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
    watching: bool,
    /// Made on first use (a cache that is never used costs no inotify instance); `None`
    /// inside when watching is off or inotify is unavailable.
    watcher: OnceLock<Option<Mutex<Watcher>>>,
    stats: Counters,
}

/// One folder's state, filled on first use.
type Slot = Arc<Mutex<Option<State>>>;

/// A use counter, and each folder's slot with the count at its last use.
type Folders = (u64, HashMap<PathBuf, (u64, Slot)>);

/// What a [`StatusCache`] has done so far, for monitoring how much it saves.
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
    /// Directory change events applied instead of listings.
    pub events: u64,
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
            .field("watching", &self.watching)
            .finish_non_exhaustive()
    }
}

impl Default for StatusCache {
    /// Room for [`StatusCache::DEFAULT_FOLDERS`] folders, watched where possible.
    fn default() -> StatusCache {
        StatusCache::new(StatusCache::DEFAULT_FOLDERS)
    }
}

impl StatusCache {
    /// The default capacity. A folder costs about 30 bytes per message (two hash entries per
    /// file name), so 256 folders of 10,000 messages take about 75 MB.
    pub const DEFAULT_FOLDERS: usize = 256;

    /// A cache for at most `capacity` folders (at least one), watching their directories
    /// with inotify where the file system allows.
    pub fn new(capacity: usize) -> StatusCache {
        StatusCache {
            capacity: capacity.max(1),
            folders: Mutex::new((0, HashMap::new())),
            watching: true,
            watcher: OnceLock::new(),
            stats: Counters::default(),
        }
    }

    fn watcher(&self) -> Option<&Mutex<Watcher>> {
        self.watcher
            .get_or_init(|| self.watching.then(Watcher::new).flatten().map(Mutex::new))
            .as_ref()
    }

    /// Turns inotify watching off (or back on): directories are then checked through their
    /// mtimes only.
    #[must_use]
    pub fn watching(mut self, on: bool) -> StatusCache {
        self.watching = on;
        self.watcher = OnceLock::new();
        self
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        let c = &self.stats;
        CacheStats {
            answered: c.answered.load(Ordering::Relaxed),
            uidlist_reads: c.uidlist_reads.load(Ordering::Relaxed),
            uidlist_appends: c.uidlist_appends.load(Ordering::Relaxed),
            listings: c.listings.load(Ordering::Relaxed),
            events: self.watcher.get().and_then(Option::as_ref).map_or(0, |w| {
                w.lock().unwrap_or_else(PoisonError::into_inner).events
            }),
        }
    }

    // Lock order: `folders` → `watcher` → a slot. A slot's holder takes no other lock.
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
            && let Some((_, evicted)) = map.remove(&oldest)
            && let Some(w) = self.watcher.get().and_then(Option::as_ref)
        {
            w.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .unwatch(&evicted);
        }
        let slot = Arc::new(Mutex::new(None));
        map.insert(path.to_owned(), (now, Arc::clone(&slot)));
        slot
    }

    /// The folder's counts, or `None` when its uidlist does not exist yet or lists files
    /// without UIDs (the caller then runs a full sync, which assigns them).
    pub(crate) fn counts(&self, folder: &Folder<'_>) -> Result<Option<Counts>> {
        let slot = self.slot(&folder.path);
        let watched = match self.watcher() {
            Some(w) => {
                let mut w = w.lock().unwrap_or_else(PoisonError::into_inner);
                let watched = w.watch(&folder.path, &slot);
                w.drain();
                watched
            }
            None => [None, None],
        };
        let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let result = refresh(&mut guard, folder, &self.stats, watched);
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

impl State {
    fn dir_mut(&mut self, sub: Sub) -> &mut DirState {
        match sub {
            Sub::New => &mut self.new,
            Sub::Cur => &mut self.cur,
        }
    }
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
    watched: [Option<i32>; 2],
) -> Result<Option<Counts>> {
    let [new_watched, cur_watched] = watched;
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
    let scan = |sub, bases: &_, cur: Option<&DirState>, watched| {
        bump(&stats.listings);
        DirState::scan(folder, sub, bases, cur, watched)
    };
    let st = match (state.take(), uidlist) {
        // A new uidlist: watched directories are counted against it again, the others
        // listed again.
        (Some(mut s), Some(u))
            if new_watched.is_some()
                && cur_watched.is_some()
                && s.new.watched == new_watched
                && s.cur.watched == cur_watched =>
        {
            s.new.recount(&u.bases);
            s.cur.recount(&u.bases);
            s.uidlist = u;
            state.insert(s)
        }
        (_, Some(u)) => {
            let cur = scan(Sub::Cur, &u.bases, None, cur_watched)?;
            let new = scan(Sub::New, &u.bases, Some(&cur), new_watched)?;
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
            let cur_changed = s.cur.changed(folder, Sub::Cur, cur_watched)?;
            if cur_changed {
                s.cur = scan(Sub::Cur, &s.uidlist.bases, None, cur_watched)?;
            }
            if cur_changed || s.new.changed(folder, Sub::New, new_watched)? {
                s.new = scan(Sub::New, &s.uidlist.bases, Some(&s.cur), new_watched)?;
            }
            state.insert(s)
        }
        // The file vanished between the stat and the read.
        (None, None) => return Ok(None),
    };
    if st.new.has_missing() || st.cur.has_missing() {
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

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::time::{Duration, SystemTime};

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
            StatusCache::new(2).watching(false),
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

    /// What an IMAP server of another process does when a client reads a message (moves it
    /// from `new/` to `cur/` with `\Seen`), with both directories' mtimes set back to what they
    /// were, as when it happens within the same clock tick as the last listing.
    fn move_to_cur_as_seen_keeping_mtimes(root: &Path) {
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
        for (d, t) in [("new", new_t), ("cur", cur_t)] {
            File::open(root.join(d)).unwrap().set_modified(t).unwrap();
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
        move_to_cur_as_seen_keeping_mtimes(&root);
        let c = cache.counts(&folder).unwrap();
        assert_eq!(c.map(|c| (c.unseen, c.recent)), Some((2, 2)));
        assert_eq!(c, Some(counted(&plain)));
    }

    #[test]
    #[allow(clippy::print_stderr)]
    fn watched_directories_are_never_listed_again() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("Maildir");
        let (store, plain, _) = stores(&root);
        let cache = StatusCache::new(2);
        deliver(&store, 3);
        let folder = store.folder("INBOX").unwrap();
        let watchable = cache.watcher().is_some_and(|w| {
            let probe = Arc::new(Mutex::new(None));
            let mut w = w.lock().unwrap();
            let on = w.watch(&folder.path, &probe).iter().all(Option::is_some);
            w.unwatch(&probe);
            on
        });
        if !watchable {
            eprintln!("NOTICE: no inotify watches on this file system, test skipped");
            return;
        }
        assert_eq!(cache.counts(&folder).unwrap(), Some(counted(&plain)));
        let listings = cache.stats().listings;
        deliver(&store, 5);
        // Another writer moves a message to cur/ as seen, leaving both mtimes as they were:
        // the events tell what the mtimes cannot.
        move_to_cur_as_seen_keeping_mtimes(&root);
        let c = cache.counts(&folder).unwrap();
        assert_eq!(c.map(|c| (c.messages, c.unseen, c.recent)), Some((8, 7, 7)));
        assert_eq!(c, Some(counted(&plain)));
        let stats = cache.stats();
        assert_eq!(stats.listings, listings, "{stats:?}");
        assert!(stats.events >= 7, "{stats:?}");
    }
}
