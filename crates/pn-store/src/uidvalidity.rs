//! UIDVALIDITY for new mailboxes, from Dovecot's `dovecot-uidvalidity` files in the mail root
//! (`mailbox-uidvalidity.c`).
//!
//! `dovecot-uidvalidity` holds the last value as 8 hex digits (no newline), and an empty file
//! `dovecot-uidvalidity.<8 hex digits>` marks it too. The next value is taken by renaming
//! that marker to the next number, which is atomic between processes; without any file the
//! current time is used.

use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Result, StoreError};
use crate::fsutil::Perms;

const NAME: &str = "dovecot-uidvalidity";
const RETRIES: usize = 10;

/// Allocates the next UIDVALIDITY in `root`.
pub(crate) fn next(root: &Path, perms: Perms) -> Result<u32> {
    let main = root.join(NAME);
    if let Some(cur) = fs::read_to_string(&main)
        .ok()
        .and_then(|t| u32::from_str_radix(t.trim(), 16).ok())
        .filter(|&v| v != 0)
        && let Some(v) = rename_next(root, cur)
    {
        write_main(&main, v, perms);
        return Ok(v);
    }
    // Rescan the markers.
    let mut max = 0u32;
    let mut min = u32::MAX;
    let entries = fs::read_dir(root).map_err(|e| StoreError::io("opendir", root, e))?;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(hex) = name
            .to_str()
            .and_then(|n| n.strip_prefix("dovecot-uidvalidity."))
        else {
            continue;
        };
        if let Ok(v) = u32::from_str_radix(hex, 16) {
            max = max.max(v);
            min = min.min(v);
        }
    }
    if max == 0 {
        let mut v = now_or_after(0);
        for _ in 0..RETRIES {
            let marker = root.join(format!("{NAME}.{v:08x}"));
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o444)
                .open(&marker)
            {
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => v = v.wrapping_add(1),
                Err(_) => break,
            }
        }
        write_main(&main, v, perms);
        return Ok(v);
    }
    if min != max {
        let _ = fs::remove_file(root.join(format!("{NAME}.{min:08x}")));
    }
    let v = rename_next(root, max).unwrap_or_else(|| now_or_after(max));
    write_main(&main, v, perms);
    Ok(v)
}

fn rename_next(root: &Path, mut cur: u32) -> Option<u32> {
    for _ in 0..RETRIES {
        let src = root.join(format!("{NAME}.{cur:08x}"));
        cur = cur.wrapping_add(1).max(1);
        let dest = root.join(format!("{NAME}.{cur:08x}"));
        match fs::rename(&src, &dest) {
            Ok(()) => return Some(cur),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(_) => return None,
        }
    }
    None
}

fn write_main(path: &Path, v: u32, perms: Perms) {
    let res = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(perms.file_mode)
        .open(path)
        .and_then(|f| {
            std::os::unix::fs::FileExt::write_all_at(&f, format!("{v:08x}").as_bytes(), 0)
        });
    if let Err(e) = res {
        tracing::error!("write({}) failed: {e}", path.display());
    }
}

fn now_or_after(prev: u32) -> u32 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(1);
    let now = u32::try_from(now).unwrap_or(u32::MAX);
    if now > prev {
        now
    } else {
        prev.wrapping_add(1).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_from_the_marker_files_and_increase() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let a = next(root, Perms::default()).expect("first");
        assert!(root.join(format!("dovecot-uidvalidity.{a:08x}")).exists());
        assert_eq!(
            fs::read_to_string(root.join("dovecot-uidvalidity")).expect("main"),
            format!("{a:08x}")
        );
        let b = next(root, Perms::default()).expect("second");
        assert_eq!(b, a + 1);
        assert!(!root.join(format!("dovecot-uidvalidity.{a:08x}")).exists());
        fs::remove_file(root.join("dovecot-uidvalidity")).expect("rm");
        assert_eq!(next(root, Perms::default()).expect("rescan"), b + 1);
    }
}
