//! Directory changes as the kernel reports them (inotify).
//!
//! A watched `new/` or `cur/` is never listed again: each file moved in or out arrives as an
//! event and updates the counts, so a status after a delivery costs the same with ten files
//! in `new/` as with a hundred thousand. Watches are only placed on local file systems: on
//! NFS and other shared storage the kernel does not see other machines' changes, and the
//! mtime rules apply instead. A queue overflow drops every folder's state (they are listed
//! again); a watch that goes away (directory deleted or renamed) falls back to the mtime
//! rules for that directory. A watch follows its inode, not its path, so each call compares
//! the directories' inodes with the watched ones (two `stat`s): a mailbox renamed away and
//! created anew gets new watches and a new listing.

use std::collections::HashMap;
use std::fs;
use std::mem::MaybeUninit;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::PoisonError;

use rustix::fd::OwnedFd;
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};

use super::{Slot, State, hash};
use crate::folder::Sub;

/// File systems whose changes the local kernel sees all of (`statfs` magic numbers).
const LOCAL_FILE_SYSTEMS: [u64; 11] = [
    0xEF53,      // ext2/3/4
    0x5846_5342, // xfs
    0x9123_683E, // btrfs
    0x0102_1994, // tmpfs
    0xF2F5_2010, // f2fs
    0x2FC1_2FC1, // zfs
    0xCA45_1A4E, // bcachefs
    0x794C_7630, // overlayfs
    0x3153_464A, // jfs
    0x5265_4973, // reiserfs
    0x0000_4244, // hfs
];

/// A directory as last seen: its (device, inode), and its watch if it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Known {
    id: Option<(u64, u64)>,
    wd: Option<i32>,
}

/// One inotify instance for every folder of a [`super::StatusCache`].
pub(super) struct Watcher {
    fd: OwnedFd,
    /// Watch descriptor → the folder's state, which of its directories, the folder.
    dirs: HashMap<i32, (Slot, Sub, PathBuf)>,
    /// Folder → its `new/` and `cur/` as last seen: (device, inode) and the watch on each.
    folders: HashMap<PathBuf, [Known; 2]>,
    /// Events applied so far.
    pub(super) events: u64,
}

impl Watcher {
    /// `None` when inotify is not available (the mtime rules then apply everywhere).
    pub(super) fn new() -> Option<Watcher> {
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).ok()?;
        Some(Watcher {
            fd,
            dirs: HashMap::new(),
            folders: HashMap::new(),
            events: 0,
        })
    }

    /// Watches a folder's `new/` and `cur/` (a directory already watched keeps its watch);
    /// returns each one's watch, if it has one.
    pub(super) fn watch(&mut self, folder: &Path, slot: &Slot) -> [Option<i32>; 2] {
        // A watch follows its inode: when the mailbox was renamed away and created anew, the
        // path has other directories than the ones watched. Two stats a call tell.
        let ids = [Sub::New, Sub::Cur].map(|sub| {
            fs::metadata(folder.join(sub.dir()))
                .ok()
                .map(|m| (m.dev(), m.ino()))
        });
        if let Some(known) = self.folders.get(folder).copied() {
            if known.map(|k| k.id) == ids {
                return known.map(|k| k.wd);
            }
            for wd in known.iter().filter_map(|k| k.wd) {
                self.forget(wd);
            }
        }
        let local = rustix::fs::statfs(folder).is_ok_and(|s| {
            // The field's integer type differs between architectures.
            #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
            let magic = s.f_type as u64;
            LOCAL_FILE_SYSTEMS.contains(&(magic & 0xFFFF_FFFF))
        });
        let mask = WatchFlags::CREATE
            | WatchFlags::DELETE
            | WatchFlags::MOVED_FROM
            | WatchFlags::MOVED_TO
            | WatchFlags::MOVE_SELF
            | WatchFlags::DELETE_SELF;
        let mut known = [Known { id: None, wd: None }; 2];
        for (i, sub) in [Sub::New, Sub::Cur].into_iter().enumerate() {
            known[i].id = ids[i];
            if !local || ids[i].is_none() {
                continue;
            }
            // Out of watches (fs.inotify.max_user_watches) leaves the directory unwatched.
            if let Ok(wd) = inotify::add_watch(&self.fd, folder.join(sub.dir()), mask) {
                self.dirs
                    .insert(wd, (Slot::clone(slot), sub, folder.to_owned()));
                known[i].wd = Some(wd);
            }
        }
        self.folders.insert(folder.to_owned(), known);
        known.map(|k| k.wd)
    }

    /// Stops watching a folder that left the cache.
    pub(super) fn unwatch(&mut self, slot: &Slot) {
        let wds: Vec<i32> = self
            .dirs
            .iter()
            .filter(|(_, (s, _, _))| Slot::ptr_eq(s, slot))
            .map(|(wd, _)| *wd)
            .collect();
        for wd in wds {
            self.forget(wd);
        }
    }

    /// Drops a watch, and the folder's entry so that it is watched anew on next use.
    fn forget(&mut self, wd: i32) {
        if let Some((_, _, folder)) = self.dirs.remove(&wd) {
            self.folders.remove(&folder);
        }
        let _ = inotify::remove_watch(&self.fd, wd);
    }

    /// Applies every pending event to the folders' states.
    pub(super) fn drain(&mut self) {
        let mut buf = [MaybeUninit::<u8>::uninit(); 8192];
        let mut pending = Vec::new();
        let mut reader = inotify::Reader::new(&self.fd, &mut buf);
        // Until nothing more is queued (or the descriptor broke: the mtime rules remain).
        while let Ok(e) = reader.next() {
            let name = e
                .file_name()
                .and_then(|n| n.to_str().ok())
                .map(str::to_owned);
            pending.push((e.wd(), e.events(), name));
        }
        for (wd, flags, name) in pending {
            self.events += 1;
            self.handle(wd, flags, name);
        }
    }

    fn handle(&mut self, wd: i32, flags: ReadFlags, name: Option<String>) {
        if flags.contains(ReadFlags::QUEUE_OVERFLOW) {
            // Events were lost: list everything again.
            for (slot, _, _) in self.dirs.values() {
                *slot.lock().unwrap_or_else(PoisonError::into_inner) = None;
            }
            return;
        }
        let Some((slot, sub)) = self.dirs.get(&wd).map(|(s, sub, _)| (Slot::clone(s), *sub)) else {
            return;
        };
        let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if flags.intersects(ReadFlags::IGNORED | ReadFlags::MOVE_SELF | ReadFlags::DELETE_SELF) {
            if let Some(state) = guard.as_mut() {
                state.dir_mut(sub).watched = None;
            }
            drop(guard);
            self.forget(wd);
            return;
        }
        let (Some(state), Some(name)) = (guard.as_mut(), name) else {
            return;
        };
        if !flags.contains(ReadFlags::ISDIR) && !name.starts_with('.') {
            apply(state, sub, &name, flags);
        }
    }
}

fn apply(state: &mut State, sub: Sub, name: &str, flags: ReadFlags) {
    let h = hash(crate::filename::base(name));
    let State { uidlist, new, cur } = state;
    let dir = match sub {
        Sub::New => new,
        Sub::Cur => cur,
    };
    if flags.intersects(ReadFlags::CREATE | ReadFlags::MOVED_TO) {
        dir.add(h, name, &uidlist.bases);
    } else if flags.intersects(ReadFlags::DELETE | ReadFlags::MOVED_FROM) {
        dir.remove(h);
    }
}
