//! Dovecot's dotlock (`file-dotlock.c` with `dotlock_use_excl = yes`).
//!
//! The lock of `<file>` is `<file>.lock`, holding `<pid>:<hostname>`. pn writes that into a
//! temporary file and hard-links it to the lock's name (what Dovecot does without
//! `dotlock_use_excl`), so the lock never exists empty; Dovecot's `O_CREAT|O_EXCL` locks are
//! honoured alike. An empty lock older than 2 seconds is stale at once. A lock is taken over when it is stale: its pid is on this host and no
//! longer runs (checked once the lock is older than 2 seconds), or neither the lock nor the
//! protected file changed for `stale_timeout`. Waiting gives up after `timeout`.
//!
//! Threads of one process share a pid, so locks held by this process are also tracked in
//! memory: another thread waits for them instead of taking them over.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{error, warn};

use crate::error::{Result, StoreError};
use crate::fsutil::{self, Perms};

/// Dovecot's `STALE_PID_CHECK_SECS`: a younger lock's pid is not checked.
const STALE_PID_CHECK: Duration = Duration::from_secs(2);

/// How long to wait for a lock and when to consider it stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockSettings {
    /// Give up waiting after this long (Dovecot's uidlist lock: 2 min + 2 s).
    pub timeout: Duration,
    /// Take over a lock when neither it nor the protected file changed for this long
    /// (Dovecot's uidlist lock: 2 min).
    pub stale_timeout: Duration,
}

impl Default for LockSettings {
    /// The uidlist lock's settings: `MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT` (120 s) and 122 s.
    fn default() -> LockSettings {
        LockSettings {
            timeout: Duration::from_secs(122),
            stale_timeout: Duration::from_secs(120),
        }
    }
}

static HELD: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
static RELEASED: Condvar = Condvar::new();

/// A held dotlock; released (the lock file removed) on drop.
#[derive(Debug)]
pub(crate) struct Dotlock {
    path: PathBuf,
    lock_path: PathBuf,
    ino: u64,
    released: bool,
}

impl Dotlock {
    /// Locks `path` by creating `path.lock`.
    pub(crate) fn acquire(
        path: &Path,
        settings: &LockSettings,
        perms: Perms,
        hostname: &str,
    ) -> Result<Dotlock> {
        let mut lock_name = path.as_os_str().to_owned();
        lock_name.push(".lock");
        let lock_path = PathBuf::from(lock_name);
        let deadline = Instant::now() + settings.timeout;
        // First wait for other threads of this process.
        {
            let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                let set = held.get_or_insert_with(HashSet::new);
                if !set.contains(&lock_path) {
                    set.insert(lock_path.clone());
                    break;
                }
                let now = Instant::now();
                if now >= deadline {
                    return Err(StoreError::LockTimeout { path: lock_path });
                }
                held = RELEASED
                    .wait_timeout(held, deadline - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        match Self::acquire_file(path, &lock_path, settings, perms, hostname, deadline) {
            Ok(ino) => Ok(Dotlock {
                path: path.to_owned(),
                lock_path,
                ino,
                released: false,
            }),
            Err(e) => {
                forget_held(&lock_path);
                Err(e)
            }
        }
    }

    fn acquire_file(
        path: &Path,
        lock_path: &Path,
        settings: &LockSettings,
        perms: Perms,
        hostname: &str,
        deadline: Instant,
    ) -> Result<u64> {
        let mut wait = Duration::from_millis(5);
        loop {
            match create_lock(lock_path, perms, hostname) {
                Ok(ino) => return Ok(ino),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    if e.kind() == io::ErrorKind::StorageFull
                        || e.kind() == io::ErrorKind::QuotaExceeded
                    {
                        error!(lock = %lock_path.display(), "Creating the dotlock failed: {e}");
                    }
                    return Err(StoreError::io("create", lock_path, e));
                }
            }
            if is_stale(path, lock_path, settings, hostname) {
                warn!(lock = %lock_path.display(), "Overriding stale dotlock");
                match fs::remove_file(lock_path) {
                    Ok(()) => continue,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(StoreError::io("unlink", lock_path, e)),
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StoreError::LockTimeout {
                    path: lock_path.to_owned(),
                });
            }
            std::thread::sleep(jitter(wait).min(deadline - now));
            wait = (wait * 2).min(Duration::from_millis(200));
        }
    }

    /// Replaces the protected file with `content` by writing it into the lock file and
    /// renaming that over the file (Dovecot's `file_dotlock_replace`), which also releases
    /// the lock.
    pub(crate) fn replace(mut self, content: &[u8]) -> Result<()> {
        let write = || -> io::Result<()> {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&self.lock_path)?;
            f.write_all(content)?;
            f.sync_all()
        };
        let res = write()
            .map_err(|e| StoreError::io("write", &self.lock_path, e))
            .and_then(|()| {
                fs::rename(&self.lock_path, &self.path)
                    .map_err(|e| StoreError::io("rename", &self.path, e))
            });
        if res.is_ok() {
            self.released = true;
            forget_held(&self.lock_path);
            if let Some(dir) = self.path.parent() {
                fsutil::fsync_dir(dir)?;
            }
        }
        res
    }

    fn release(&mut self) {
        if std::mem::replace(&mut self.released, true) {
            return;
        }
        match fs::metadata(&self.lock_path) {
            Ok(md) if md.ino() == self.ino => {
                if let Err(e) = fs::remove_file(&self.lock_path) {
                    warn!(lock = %self.lock_path.display(), "unlink failed: {e}");
                }
            }
            Ok(_) | Err(_) => {
                warn!(lock = %self.lock_path.display(), "dotlock was overridden while held");
            }
        }
        forget_held(&self.lock_path);
    }
}

impl Drop for Dotlock {
    fn drop(&mut self) {
        self.release();
    }
}

fn forget_held(lock_path: &Path) {
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(set) = held.as_mut() {
        set.remove(lock_path);
    }
    RELEASED.notify_all();
}

/// Creates the lock complete or not at all: the content goes into a temporary file that is
/// then hard-linked to the lock's name (the link fails when the lock exists), so a failed
/// write (a full disk) never leaves an empty lock for others to wait out. On a file system
/// without hard links, the lock is created in place and removed again when writing fails.
fn create_lock(lock_path: &Path, perms: Perms, hostname: &str) -> io::Result<u64> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let content = format!("{}:{hostname}", std::process::id());
    let dir = match lock_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = loop {
        // Dovecot's temporary-file prefix, which its Maildir code ignores.
        let name = format!(
            ".temp.{hostname}.{}.{}.lock",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let tmp = dir.join(name);
        match fsutil::create_excl(&tmp, perms) {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    };
    let (tmp, mut f) = tmp;
    let linked = f
        .write_all(content.as_bytes())
        .and_then(|()| f.metadata())
        .and_then(|md| fs::hard_link(&tmp, lock_path).map(|()| md.ino()));
    let _ = fs::remove_file(&tmp);
    match linked {
        // EPERM/EOPNOTSUPP: the file system has no hard links (vfat, some FUSE).
        Err(e)
            if e.raw_os_error() == Some(rustix::io::Errno::PERM.raw_os_error())
                || e.raw_os_error() == Some(rustix::io::Errno::OPNOTSUPP.raw_os_error()) =>
        {
            create_lock_in_place(lock_path, perms, &content)
        }
        other => other,
    }
}

fn create_lock_in_place(lock_path: &Path, perms: Perms, content: &str) -> io::Result<u64> {
    let mut f = fsutil::create_excl(lock_path, perms)?;
    match f.write_all(content.as_bytes()).and_then(|()| f.metadata()) {
        Ok(md) => Ok(md.ino()),
        Err(e) => {
            let _ = fs::remove_file(lock_path);
            Err(e)
        }
    }
}

/// A lock file nobody is going to remove: its process is gone, or nothing changed for the
/// stale timeout.
fn is_stale(path: &Path, lock_path: &Path, settings: &LockSettings, hostname: &str) -> bool {
    let Ok(md) = fs::metadata(lock_path) else {
        return false;
    };
    let now = SystemTime::now();
    let lock_mtime = md.modified().unwrap_or(now);
    let age = now.duration_since(lock_mtime).unwrap_or_default();
    // A writer fills its lock at once (pn even before the lock appears), so an empty lock
    // this old was left by one that died or could not write (a full disk).
    if age >= STALE_PID_CHECK && md.len() == 0 {
        return true;
    }
    if age >= STALE_PID_CHECK
        && let Some(pid) = local_pid(lock_path, hostname)
    {
        if pid == std::process::id() as i32 {
            // Our own pid but not held by any of our threads: left over, take it.
            return true;
        }
        return !fsutil::pid_alive(pid);
    }
    let file_mtime = fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(UNIX_EPOCH);
    let last_change = lock_mtime.max(file_mtime);
    now.duration_since(last_change).unwrap_or_default() > settings.stale_timeout
}

/// The pid in a lock file when it was written on this host.
fn local_pid(lock_path: &Path, hostname: &str) -> Option<i32> {
    let text = fs::read_to_string(lock_path).ok()?;
    let (pid, host) = text.trim_end().split_once(':')?;
    if host != hostname {
        return None;
    }
    pid.parse().ok().filter(|&p| p > 0)
}

fn jitter(base: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    base + Duration::from_micros(u64::from(nanos % 5000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn quick() -> LockSettings {
        LockSettings {
            timeout: Duration::from_millis(300),
            stale_timeout: Duration::from_secs(120),
        }
    }

    #[test]
    fn lock_file_holds_pid_and_host_and_is_removed_on_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("dovecot-uidlist");
        let lock = Dotlock::acquire(&file, &quick(), Perms::default(), "h").expect("locks");
        let text = fs::read_to_string(dir.path().join("dovecot-uidlist.lock")).expect("exists");
        assert_eq!(text, format!("{}:h", std::process::id()));
        drop(lock);
        assert!(!dir.path().join("dovecot-uidlist.lock").exists());
    }

    #[test]
    fn a_live_foreign_lock_times_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f");
        // pid 1 is alive; a fresh lock is not stale.
        fs::write(dir.path().join("f.lock"), "1:h").expect("write");
        let err = Dotlock::acquire(&file, &quick(), Perms::default(), "h").expect_err("busy");
        assert!(err.is_temporary(), "{err}");
    }

    #[test]
    fn a_lock_of_a_dead_process_is_taken_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f");
        let lock = dir.path().join("f.lock");
        fs::write(&lock, "2147483646:h").expect("write");
        let old = SystemTime::now() - Duration::from_secs(10);
        fs::File::options()
            .write(true)
            .open(&lock)
            .and_then(|f| f.set_modified(old))
            .expect("mtime");
        let held = Dotlock::acquire(&file, &quick(), Perms::default(), "h").expect("stale");
        drop(held);
    }

    #[test]
    fn an_empty_lock_left_by_a_failed_writer_is_taken_over_without_the_stale_timeout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f");
        let lock = dir.path().join("f.lock");
        fs::write(&lock, "").expect("write");
        let old = SystemTime::now() - Duration::from_secs(3);
        fs::File::options()
            .write(true)
            .open(&lock)
            .and_then(|f| f.set_modified(old))
            .expect("mtime");
        // Before: an empty lock waited for the 120 s stale timeout (here: timed out).
        let held = Dotlock::acquire(&file, &quick(), Perms::default(), "h").expect("stale");
        drop(held);
        assert!(!lock.exists());
    }

    #[test]
    fn no_temporary_file_is_left_next_to_the_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f");
        let held = Dotlock::acquire(&file, &quick(), Perms::default(), "h").expect("locks");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f.lock")]);
        drop(held);
    }

    #[test]
    fn replace_renames_the_lock_over_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("dovecot-keywords");
        let lock = Dotlock::acquire(&file, &quick(), Perms::default(), "h").expect("locks");
        lock.replace(b"0 a\n").expect("replaces");
        assert_eq!(fs::read_to_string(&file).expect("read"), "0 a\n");
        assert!(!dir.path().join("dovecot-keywords.lock").exists());
    }
}
