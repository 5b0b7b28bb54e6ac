//! Reading and writing a dictionary file next to Dovecot.
//!
//! Writing follows `dict-file.c` with its default `dotlock` method: create `<path>.lock`
//! exclusively (waiting up to two minutes, and taking over a lock nobody has touched for a
//! minute), re-read the dictionary under the lock, apply the changes, write the whole file into
//! the lock file, fsync it and rename it over the dictionary, then fsync the directory. With
//! `:lock=flock` the dictionary itself is `flock`ed and `<path>.tmp` is renamed over it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::DictContents;
use crate::MetadataError;

/// Dovecot's `file_dict_dotlock_settings`: wait this long for a lock…
const LOCK_TIMEOUT: Duration = Duration::from_secs(120);
/// …and take over a lock file that has not changed for this long.
const LOCK_STALE: Duration = Duration::from_secs(60);

/// How writers exclude each other (`file:PATH[:lock=fcntl|flock]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMethod {
    /// `<path>.lock` created exclusively (Dovecot's default).
    Dotlock,
    /// `flock` on the dictionary file (`:lock=flock`).
    Flock,
}

/// One change of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DictChange {
    /// Set a key to a value.
    Set(Vec<u8>, Vec<u8>),
    /// Remove a key.
    Unset(Vec<u8>),
}

/// A dictionary file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDict {
    path: PathBuf,
    lock: LockMethod,
}

impl FileDict {
    /// A dictionary at `path`.
    pub fn new(path: impl Into<PathBuf>, lock: LockMethod) -> FileDict {
        FileDict {
            path: path.into(),
            lock,
        }
    }

    /// Parses a `mail_attribute_dict` value (`file:/path[:lock=flock]`, `%` variables already
    /// expanded).
    pub fn from_uri(uri: &str) -> Result<FileDict, MetadataError> {
        let Some(rest) = uri.strip_prefix("file:") else {
            return Err(MetadataError::UnsupportedDict(uri.to_owned()));
        };
        let (path, param) = match rest.split_once(':') {
            Some((p, param)) => (p, Some(param)),
            None => (rest, None),
        };
        let lock = match param {
            None => LockMethod::Dotlock,
            Some("lock=flock") => LockMethod::Flock,
            Some("lock=fcntl") => {
                return Err(MetadataError::UnsupportedDict(format!(
                    "{uri} (pn does not support lock=fcntl; use the default dotlock or lock=flock)"
                )));
            }
            Some(other) => {
                return Err(MetadataError::UnsupportedDict(format!(
                    "{uri} (Invalid parameter: {other})"
                )));
            }
        };
        Ok(FileDict::new(path, lock))
    }

    /// The dictionary's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current contents (empty when the file does not exist).
    pub fn load(&self) -> Result<DictContents, MetadataError> {
        match fs::read(&self.path) {
            Ok(bytes) => Ok(DictContents::parse(&bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(DictContents::default()),
            Err(e) => Err(io_error("open", &self.path, e)),
        }
    }

    /// Applies `changes` atomically under the lock and returns the new contents.
    pub fn commit(&self, changes: &[DictChange]) -> Result<DictContents, MetadataError> {
        if changes.is_empty() {
            return self.load();
        }
        if let Some(dir) = self.path.parent() {
            create_dir_all_0700(dir)?;
        }
        match self.lock {
            LockMethod::Dotlock => self.commit_dotlock(changes),
            LockMethod::Flock => self.commit_flock(changes),
        }
    }

    fn commit_dotlock(&self, changes: &[DictChange]) -> Result<DictContents, MetadataError> {
        let lock_path = with_suffix(&self.path, ".lock");
        let mut lock = create_lock(&lock_path, self.mode())?;
        let result = (|| {
            let contents = apply(self.load()?, changes);
            write_all_sync(&mut lock, &lock_path, &contents.to_bytes())?;
            fs::rename(&lock_path, &self.path).map_err(|e| io_error("rename", &lock_path, e))?;
            sync_dir(&self.path);
            Ok(contents)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&lock_path);
        }
        result
    }

    fn commit_flock(&self, changes: &[DictChange]) -> Result<DictContents, MetadataError> {
        let target = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&self.path)
            .map_err(|e| io_error("creat", &self.path, e))?;
        target
            .lock()
            .map_err(|e| io_error("flock", &self.path, e))?;
        let tmp = with_suffix(&self.path, ".tmp");
        let contents = apply(self.load()?, changes);
        let mut out = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(self.mode())
            .open(&tmp)
            .map_err(|e| io_error("creat", &tmp, e))?;
        write_all_sync(&mut out, &tmp, &contents.to_bytes())?;
        fs::rename(&tmp, &self.path).map_err(|e| io_error("rename", &tmp, e))?;
        sync_dir(&self.path);
        drop(target);
        Ok(contents)
    }

    /// The mode new contents get: the current file's, else 0600.
    fn mode(&self) -> u32 {
        fs::metadata(&self.path).map_or(0o600, |m| m.permissions().mode() & 0o7777)
    }
}

fn apply(mut contents: DictContents, changes: &[DictChange]) -> DictContents {
    for change in changes {
        match change {
            DictChange::Set(k, v) => contents.set(k, v),
            DictChange::Unset(k) => {
                contents.unset(k);
            }
        }
    }
    contents
}

/// Creates the dotlock, waiting for another holder and taking over a stale lock.
fn create_lock(lock_path: &Path, mode: u32) -> Result<File, MetadataError> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(5);
    loop {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(lock_path)
        {
            Ok(f) => {
                // create_new honours the umask; make the mode exact.
                let _ = f.set_permissions(fs::Permissions::from_mode(mode));
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if is_stale(lock_path) {
                    let _ = fs::remove_file(lock_path);
                    continue;
                }
                if start.elapsed() >= LOCK_TIMEOUT {
                    return Err(MetadataError::LockTimeout {
                        path: lock_path.to_path_buf(),
                    });
                }
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(200));
            }
            Err(e) => return Err(io_error("creat", lock_path, e)),
        }
    }
}

fn is_stale(lock_path: &Path) -> bool {
    let Ok(meta) = fs::metadata(lock_path) else {
        return false;
    };
    let changed = meta.modified().unwrap_or_else(|_| SystemTime::now());
    SystemTime::now()
        .duration_since(changed)
        .is_ok_and(|age| age > LOCK_STALE)
}

fn write_all_sync(f: &mut File, path: &Path, bytes: &[u8]) -> Result<(), MetadataError> {
    f.write_all(bytes).map_err(|e| io_error("write", path, e))?;
    f.sync_all().map_err(|e| io_error("fsync", path, e))
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
}

pub(crate) fn create_dir_all_0700(dir: &Path) -> Result<(), MetadataError> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io_error("mkdir", dir, e))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

pub(crate) fn io_error(op: &str, path: &Path, source: io::Error) -> MetadataError {
    MetadataError::Io {
        op: op.to_owned(),
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_creates_the_file_and_removes_the_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dict = FileDict::new(
            dir.path().join("sub/dovecot-attributes"),
            LockMethod::Dotlock,
        );
        dict.commit(&[DictChange::Set(b"k".to_vec(), b"v\tw".to_vec())])
            .expect("commit");
        assert_eq!(fs::read(dict.path()).expect("read"), b"k\nv\x01tw\n");
        assert!(!dir.path().join("sub/dovecot-attributes.lock").exists());
        let mode = fs::metadata(dict.path())
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn flock_method_writes_the_same_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dict = FileDict::from_uri(&format!("file:{}/d:lock=flock", dir.path().display()))
            .expect("uri");
        dict.commit(&[DictChange::Set(b"a".to_vec(), b"1".to_vec())])
            .expect("commit");
        dict.commit(&[
            DictChange::Unset(b"a".to_vec()),
            DictChange::Set(b"b".to_vec(), Vec::new()),
        ])
        .expect("commit");
        assert_eq!(fs::read(dict.path()).expect("read"), b"b\n\n");
    }

    #[test]
    fn a_fresh_foreign_lock_makes_the_writer_wait_until_it_is_gone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dict = FileDict::new(dir.path().join("d"), LockMethod::Dotlock);
        let lock = dir.path().join("d.lock");
        fs::write(&lock, b"").expect("lock");
        let remover = {
            let lock = lock.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                fs::remove_file(lock).expect("unlock");
            })
        };
        let start = Instant::now();
        dict.commit(&[DictChange::Set(b"a".to_vec(), b"1".to_vec())])
            .expect("commit");
        assert!(start.elapsed() >= Duration::from_millis(250));
        remover.join().expect("join");
    }

    #[test]
    fn other_dict_drivers_and_parameters_are_refused() {
        assert!(FileDict::from_uri("redis:host=127.0.0.1").is_err());
        assert!(FileDict::from_uri("file:/x:lock=fcntl").is_err());
        assert!(FileDict::from_uri("file:/x:bogus").is_err());
        assert_eq!(
            FileDict::from_uri("file:/x").expect("uri").path(),
            Path::new("/x")
        );
    }
}
