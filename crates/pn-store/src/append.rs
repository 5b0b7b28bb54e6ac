//! Saving into a folder without reading all of it.
//!
//! Giving new messages their UIDs needs the uidlist's header (UIDVALIDITY, the next UID, the
//! mailbox GUID) and its last record, nothing else: files already in `new/` and `cur/` can be
//! left to the next full sync, as Dovecot's own save does (a "partial" uidlist sync). Reading
//! just the two ends keeps a delivery's cost the same in a mailbox of ten messages and of a
//! million; the full [`Folder::lock`] reads every record and lists both directories.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::dotlock::Dotlock;
use crate::error::{Result, StoreError};
use crate::folder::{self, Folder};
use crate::fsutil;
use crate::keywords::Keywords;
use crate::uidlist::Uidlist;

/// Files up to this size are read and parsed whole; the ends of larger ones are read.
const WHOLE: u64 = 16 * 1024;
/// How much of each end is read; a header or record line is far shorter.
const END: u64 = 4096;

/// What a save needs from the uidlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ends {
    pub(crate) uid_validity: u32,
    /// The larger of the header's `N` and the last record's UID + 1.
    pub(crate) next_uid: u32,
    pub(crate) guid: [u8; 16],
}

impl Ends {
    fn of(list: &Uidlist) -> Ends {
        Ends {
            uid_validity: list.uid_validity,
            next_uid: list.next_uid,
            guid: list.guid,
        }
    }
}

/// Reads the uidlist's ends. `None` when there is no file or its last line is incomplete
/// (an append cut short by a crash): a full sync creates or repairs it. A file whose ends
/// cannot be read is parsed whole, so corruption is reported with its line.
pub(crate) fn read_ends(path: &Path) -> Result<Option<Ends>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io("open", path, e)),
    };
    let len = file
        .metadata()
        .map_err(|e| StoreError::io("fstat", path, e))?
        .len();
    if len > WHOLE
        && let Some(ends) = ends_of_large(&file, len, path)?
    {
        return Ok(Some(ends));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.read_to_end(&mut bytes)
        .map_err(|e| StoreError::io("read", path, e))?;
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&bytes);
    Uidlist::parse(&text, path).map(|l| Some(Ends::of(&l)))
}

/// The ends from the first and last [`END`] bytes; `None` when they don't hold a whole
/// header and a whole last record (the caller then reads the file whole).
fn ends_of_large(file: &File, len: u64, path: &Path) -> Result<Option<Ends>> {
    let read_at = |offset: u64| -> Result<Vec<u8>> {
        let mut buf = vec![0; usize::try_from(END.min(len)).unwrap_or(0)];
        file.read_exact_at(&mut buf, offset)
            .map_err(|e| StoreError::io("read", path, e))?;
        Ok(buf)
    };
    let head = read_at(0)?;
    let tail = read_at(len - END.min(len))?;
    let Some(header_end) = head.iter().position(|&b| b == b'\n') else {
        return Ok(None);
    };
    let Some(body) = tail.strip_suffix(b"\n") else {
        return Ok(None);
    };
    let Some(line_start) = body.iter().rposition(|&b| b == b'\n') else {
        return Ok(None);
    };
    let last = &body[line_start + 1..];
    let uid = last
        .split(|&b| b == b' ')
        .next()
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| d.parse::<u32>().ok())
        .filter(|&u| u != 0 && u != u32::MAX);
    let Some(uid) = uid else {
        return Ok(None);
    };
    let header = String::from_utf8_lossy(&head[..=header_end]);
    let list = Uidlist::parse(&header, path)?;
    Ok(Some(Ends {
        next_uid: list.next_uid.max(uid + 1),
        ..Ends::of(&list)
    }))
}

/// A folder locked for adding messages: the uidlist's dotlock is held until
/// [`Appending::commit`] or drop.
pub(crate) struct Appending<'f, 's> {
    folder: &'f Folder<'s>,
    _lock: Option<Dotlock>,
    pub(crate) uid_validity: u32,
    next_uid: u32,
    /// Read on the first message with keywords.
    keywords: Option<Keywords>,
    /// The record lines to append.
    lines: String,
}

impl<'f, 's> Appending<'f, 's> {
    /// Locks the folder's uidlist and reads its ends. A missing or damaged uidlist is
    /// created or repaired by a full sync first.
    pub(crate) fn lock(folder: &'f Folder<'s>) -> Result<Appending<'f, 's>> {
        if !folder.exists() {
            return Err(StoreError::MailboxNotFound(folder.name.vname.clone()));
        }
        let lock = folder.acquire_uidlist_lock()?;
        if let Some(ends) = read_ends(&folder.uidlist_path())? {
            return Ok(Appending::new(folder, Some(lock), ends, None));
        }
        drop(lock);
        let mut full = folder.lock()?;
        full.write_uidlist()?;
        let ends = Ends::of(&full.view.uidlist);
        let (lock, keywords) = full.into_lock();
        Ok(Appending::new(folder, lock, ends, Some(keywords)))
    }

    fn new(
        folder: &'f Folder<'s>,
        lock: Option<Dotlock>,
        ends: Ends,
        keywords: Option<Keywords>,
    ) -> Appending<'f, 's> {
        Appending {
            folder,
            _lock: lock,
            uid_validity: ends.uid_validity,
            next_uid: ends.next_uid,
            keywords,
            lines: String::new(),
        }
    }

    /// Gives the message with file-name base `base` the next UID.
    pub(crate) fn assign(&mut self, base: &str) -> Result<u32> {
        let uid = self.next_uid;
        if uid == u32::MAX {
            return Err(StoreError::Invalid(format!(
                "Mailbox {} has run out of UIDs",
                self.folder.name.vname
            )));
        }
        self.next_uid += 1;
        self.lines.push_str(&uid.to_string());
        self.lines.push_str(" :");
        self.lines.push_str(base);
        self.lines.push('\n');
        Ok(uid)
    }

    /// Keyword indexes for names, adding new names to the table.
    pub(crate) fn keyword_indexes(&mut self, names: &[String]) -> Result<Vec<u8>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let keywords = match &mut self.keywords {
            Some(k) => k,
            None => self.keywords.insert(self.folder.read_keywords()?),
        };
        folder::keyword_indexes(self.folder, keywords, names)
    }

    /// Appends the new records and makes them durable; the lock is released after.
    pub(crate) fn commit(self) -> Result<()> {
        if self.lines.is_empty() {
            return Ok(());
        }
        fsutil::append_file(&self.folder.uidlist_path(), self.lines.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> std::path::PathBuf {
        let p = dir.join("dovecot-uidlist");
        std::fs::write(&p, text).unwrap();
        p
    }

    const HEADER: &str = "3 V1795893030 N4 Ge0d2d60624270b6b3c3f000083ecc375\n";

    #[test]
    fn small_and_large_files_give_the_same_ends() {
        let dir = tempfile::tempdir().unwrap();
        let small = format!("{HEADER}1 :a\n2 W37 S33 :b\n");
        let ends = read_ends(&write(dir.path(), &small)).unwrap().unwrap();
        assert_eq!((ends.uid_validity, ends.next_uid), (1_795_893_030, 4));

        let mut large = HEADER.to_owned();
        for uid in 1..=2000 {
            large.push_str(&format!("{uid} :1795893032.M{uid}P1.vm,S=28,W=32\n"));
        }
        let ends = read_ends(&write(dir.path(), &large)).unwrap().unwrap();
        assert_eq!(ends.next_uid, 2001, "the last record's UID wins over N4");
        assert_eq!(ends.guid[0], 0xe0);
        let full = Uidlist::parse(&large, Path::new("x")).unwrap();
        assert_eq!(ends, Ends::of(&full));
    }

    #[test]
    fn a_cut_last_line_or_no_file_means_a_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_ends(&dir.path().join("none")).unwrap(), None);
        let mut large = HEADER.to_owned();
        for uid in 1..=2000 {
            large.push_str(&format!("{uid} :m{uid}\n"));
        }
        large.push_str("2001 :m20");
        assert_eq!(read_ends(&write(dir.path(), &large)).unwrap(), None);
    }

    #[test]
    fn a_broken_large_file_is_reported_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut large = HEADER.to_owned();
        for uid in 1..=2000 {
            large.push_str(&format!("{uid} :m{uid}\n"));
        }
        large.push_str("garbage\n");
        let err = read_ends(&write(dir.path(), &large)).unwrap_err();
        assert!(err.to_string().contains("line 2002"), "{err}");
    }
}
