//! Where a message goes while it arrives: memory up to a threshold, then a temporary file in
//! the spool directory (Dovecot's `mail_temp_dir`), so a session's memory stays bounded
//! whatever the message's size.
//!
//! The file has no name (`O_TMPFILE`; where the file system lacks it, it is unlinked right
//! after creation), so nothing is left behind when the process is killed. It is reached
//! through `/proc/self/fd/N` ([`SpoolFile::path`]), which the store can open, copy or
//! hard-link like any path.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// A spooled message's unnamed file.
#[derive(Debug)]
pub struct SpoolFile {
    file: File,
    path: PathBuf,
}

impl SpoolFile {
    /// An unnamed file in `dir`. Readable by everyone: it has no name anyone else could
    /// open, and a delivery thread running with a recipient's uid must read it through
    /// `/proc/self/fd` (whose access checks admit only this process).
    fn create(dir: &Path) -> io::Result<SpoolFile> {
        let file = tempfile::tempfile_in(dir)?;
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
        let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        Ok(SpoolFile { file, path })
    }

    /// A path opening the file, valid in this process while `self` lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file.
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// A message kept in memory up to this many bytes (Dovecot's LMTP keeps up to 128 KiB).
pub const MEMORY_LIMIT: usize = 128 * 1024;

/// How many leading bytes of a spooled message are kept in memory for its headers.
pub const HEAD_LIMIT: usize = 64 * 1024;

/// A received message, LF line endings, ready to be delivered.
#[derive(Debug)]
pub enum Message {
    /// A small message, held whole.
    Memory(Vec<u8>),
    /// A large message in a temporary file, removed when this is dropped.
    File {
        /// The file.
        file: SpoolFile,
        /// Its size.
        size: u64,
        /// Its size with CRLF line endings.
        vsize: u64,
        /// Its first [`HEAD_LIMIT`] bytes.
        head: Vec<u8>,
    },
}

impl Message {
    /// The size in bytes (LF line endings).
    pub fn size(&self) -> u64 {
        match self {
            Message::Memory(d) => d.len() as u64,
            Message::File { size, .. } => *size,
        }
    }

    /// The start of the message: all of it in memory, or the first [`HEAD_LIMIT`] bytes.
    pub fn head(&self) -> &[u8] {
        match self {
            Message::Memory(d) => d,
            Message::File { head, .. } => head,
        }
    }

    /// The file of a spooled message.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Message::Memory(_) => None,
            Message::File { file, .. } => Some(file.path()),
        }
    }
}

/// Collects a message's decoded bytes.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    memory: Vec<u8>,
    file: Option<(io::BufWriter<File>, PathBuf)>,
    head: Vec<u8>,
    size: u64,
    vsize_extra: u64,
    last: u8,
    /// Set once the limit was passed: the rest is counted, not kept.
    max_size: u64,
    overflow: bool,
}

impl Spool {
    /// An empty spool writing large messages to `dir`; `max_size` 0 means unlimited.
    pub fn new(dir: &Path, max_size: u64) -> Spool {
        Spool {
            dir: dir.to_owned(),
            memory: Vec::new(),
            file: None,
            head: Vec::new(),
            size: 0,
            vsize_extra: 0,
            last: 0,
            max_size,
            overflow: false,
        }
    }

    /// Whether more than `max_size` bytes arrived.
    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    /// Appends decoded bytes.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let mut prev = self.last;
        for &b in data {
            if b == b'\n' && prev != b'\r' {
                self.vsize_extra += 1;
            }
            prev = b;
        }
        self.last = prev;
        self.size += data.len() as u64;
        if self.max_size != 0 && self.size > self.max_size {
            self.overflow = true;
            self.memory = Vec::new();
            self.file = None;
            return Ok(());
        }
        if let Some((f, _)) = &mut self.file {
            return f.write_all(data);
        }
        if self.memory.len() + data.len() <= MEMORY_LIMIT {
            self.memory.extend_from_slice(data);
            return Ok(());
        }
        let SpoolFile { file, path } = SpoolFile::create(&self.dir)?;
        let mut w = io::BufWriter::with_capacity(64 * 1024, file);
        w.write_all(&self.memory)?;
        w.write_all(data)?;
        self.head = std::mem::take(&mut self.memory);
        self.head.truncate(HEAD_LIMIT);
        self.file = Some((w, path));
        Ok(())
    }

    /// The whole message. The file's data is flushed, not fsynced: the store fsyncs what it
    /// links.
    pub fn finish(self) -> io::Result<Message> {
        match self.file {
            None => Ok(Message::Memory(self.memory)),
            Some((w, path)) => {
                let file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
                Ok(Message::File {
                    file: SpoolFile { file, path },
                    size: self.size,
                    vsize: self.size + self.vsize_extra,
                    head: self.head,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_messages_stay_in_memory_and_large_ones_go_to_a_file() {
        let dir = tempfile::tempdir().expect("dir");
        let mut s = Spool::new(dir.path(), 0);
        s.write(b"a\n").expect("write");
        assert!(matches!(s.finish().expect("finish"), Message::Memory(d) if d == b"a\n"));
        let mut s = Spool::new(dir.path(), 0);
        let line = vec![b'x'; 1023];
        for _ in 0..200 {
            s.write(&line).expect("write");
            s.write(b"\n").expect("write");
        }
        let m = s.finish().expect("finish");
        let Message::File {
            size,
            vsize,
            ref head,
            ..
        } = m
        else {
            panic!("not spooled")
        };
        assert_eq!((size, vsize), (204_800, 205_000));
        assert_eq!(head.len(), HEAD_LIMIT);
        assert_eq!(
            std::fs::metadata(m.path().expect("path"))
                .expect("meta")
                .len(),
            size
        );
        // The file has no name: nothing is left in the spool directory, even on a crash.
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
    }

    #[test]
    fn the_size_limit_drops_the_data_but_counts_it() {
        let dir = tempfile::tempdir().expect("dir");
        let mut s = Spool::new(dir.path(), 4);
        s.write(b"hello\n").expect("write");
        assert!(s.overflowed());
    }
}
