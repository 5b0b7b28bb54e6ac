//! The part of `dovecot-uidlist` the cache has read.

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use super::hash;
use crate::error::{Result, StoreError};
use crate::uidlist::{self, Uidlist};

/// The uidlist as read so far.
pub(super) struct UidlistState {
    pub(super) dev: u64,
    pub(super) ino: u64,
    /// Bytes consumed: always the end of a complete line.
    pub(super) read: u64,
    pub(super) uid_validity: u32,
    pub(super) next_uid: u32,
    /// Hashes of the bases that have a UID.
    pub(super) bases: HashSet<u64>,
}

impl UidlistState {
    /// Reads the whole file; `None` when it is gone.
    pub(super) fn load(path: &Path) -> Result<Option<UidlistState>> {
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
    pub(super) fn read_appended(
        &mut self,
        path: &Path,
        len: u64,
        appended: &mut Vec<u64>,
    ) -> Result<bool> {
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
