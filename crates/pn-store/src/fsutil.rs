//! File-system helpers: Dovecot's default modes, durable writes, host name, GUIDs.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{Result, StoreError, io_err};

/// Modes for new files and directories of a mailbox (Dovecot's `mailbox_permissions`):
/// 0700/0600 by default, else taken from the existing directory (its mode, files without the
/// `x` bits), so a shared setup keeps its group bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Perms {
    pub(crate) dir_mode: u32,
    pub(crate) file_mode: u32,
}

impl Default for Perms {
    fn default() -> Perms {
        Perms {
            dir_mode: 0o700,
            file_mode: 0o600,
        }
    }
}

impl Perms {
    /// The permissions new files below `dir` get; the defaults when `dir` does not exist.
    pub(crate) fn of_dir(dir: &Path) -> Perms {
        match fs::metadata(dir) {
            Ok(md) => {
                let dir_mode = md.mode() & 0o7777;
                Perms {
                    dir_mode,
                    file_mode: dir_mode & 0o666,
                }
            }
            Err(_) => Perms::default(),
        }
    }
}

/// Creates a directory (not its parents) with a mode; `Ok(false)` if it already existed.
pub(crate) fn mkdir(path: &Path, perms: Perms) -> Result<bool> {
    match DirBuilder::new().mode(perms.dir_mode).create(path) {
        Ok(()) => {
            // The process umask may have masked bits off.
            fs::set_permissions(path, Permissions::from_mode(perms.dir_mode))
                .map_err(io_err("chmod", path))?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(StoreError::io("mkdir", path, e)),
    }
}

/// Creates the mail root and its missing parents (the home) with Dovecot's default 0700.
pub(crate) fn ensure_root(root: &Path) -> Result<()> {
    if root.is_dir() {
        return Ok(());
    }
    if let Some(parent) = root.parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(io_err("mkdir", parent))?;
    }
    mkdir(root, Perms::default()).map(|_| ())
}

/// Creates a new file exclusively (O_EXCL) with the given mode.
pub(crate) fn create_excl(path: &Path, perms: Perms) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(perms.file_mode)
        .open(path)?;
    if perms.file_mode != 0o600 {
        file.set_permissions(Permissions::from_mode(perms.file_mode))?;
    }
    Ok(file)
}

/// fsyncs a directory, so renames and new entries in it survive a crash.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync", dir))
}

/// Replaces `path` atomically: writes `tmp`, fsyncs it, renames it over `path` and fsyncs
/// the directory.
pub(crate) fn replace_file(path: &Path, tmp: &Path, content: &[u8], perms: Perms) -> Result<()> {
    let write = || -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(perms.file_mode)
            .open(tmp)?;
        f.set_permissions(Permissions::from_mode(perms.file_mode))?;
        f.write_all(content)?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(tmp);
        return Err(StoreError::io("write", tmp, e));
    }
    if let Err(e) = fs::rename(tmp, path) {
        let _ = fs::remove_file(tmp);
        return Err(StoreError::io("rename", path, e));
    }
    if let Some(dir) = path.parent() {
        fsync_dir(dir)?;
    }
    Ok(())
}

/// Appends `content` to an existing file and makes it durable (data and size).
pub(crate) fn append_file(path: &Path, content: &[u8]) -> Result<()> {
    let append = || -> io::Result<()> {
        let mut f = OpenOptions::new().append(true).open(path)?;
        f.write_all(content)?;
        f.sync_data()
    };
    append().map_err(|e| StoreError::io("append", path, e))
}

/// The file's text, `None` when it does not exist.
pub(crate) fn read_opt(path: &Path) -> Result<Option<String>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io("open", path, e)),
    }
}

/// The system's host name (Dovecot's `my_hostname`), `localhost` if it can't be read.
pub(crate) fn hostname() -> String {
    let uname = rustix::system::uname();
    let name = uname.nodename().to_string_lossy().into_owned();
    if name.is_empty() {
        "localhost".to_owned()
    } else {
        name
    }
}

/// 16 random bytes for a mailbox GUID.
pub(crate) fn random_guid() -> Result<[u8; 16]> {
    let path = Path::new("/dev/urandom");
    let mut guid = [0u8; 16];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut guid))
        .map_err(io_err("read", path))?;
    Ok(guid)
}

/// Whether a process with this pid exists (`kill(pid, 0)`).
pub(crate) fn pid_alive(pid: i32) -> bool {
    let Some(pid) = rustix::process::Pid::from_raw(pid) else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e != rustix::io::Errno::SRCH,
    }
}
