//! Mailbox GUIDs: the interface the mail store implements, and a Maildir implementation that
//! reads (or creates) the `dovecot-uidlist` header like Dovecot does.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::MetadataError;
use crate::dict::file::{create_dir_all_0700, io_error};

/// Where a user's mailboxes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailLocation {
    /// The Maildir root (INBOX, unless `INBOX=` says otherwise).
    pub root: PathBuf,
    /// `INBOX=` path, when given.
    pub inbox: Option<PathBuf>,
    /// `CONTROL=` directory (where `dovecot-uidlist` lives), when given.
    pub control: Option<PathBuf>,
    /// `LAYOUT=fs`: folder `a/b` is the directory `a/b`, not `.a.b` (Maildir++).
    pub layout_fs: bool,
}

impl MailLocation {
    /// Parses an expanded `mail_location` (`maildir:~/Maildir[:INBOX=…][:CONTROL=…][:LAYOUT=fs]`),
    /// with `~` meaning `home`.
    pub fn parse(location: &str, home: Option<&Path>) -> Result<MailLocation, MetadataError> {
        let invalid = |why: &str| MetadataError::MailLocation {
            location: location.to_owned(),
            reason: why.to_owned(),
        };
        let Some(rest) = location.strip_prefix("maildir:") else {
            return Err(invalid(
                "pn reads mailbox GUIDs from Maildir only (maildir:…)",
            ));
        };
        let mut parts = rest.split(':');
        let tilde = |p: &str| -> Result<PathBuf, MetadataError> {
            match (p.strip_prefix('~'), home) {
                (Some(r), Some(h)) => Ok(h.join(r.trim_start_matches('/'))),
                (Some(_), None) => Err(invalid("~ is used but the user has no home directory")),
                (None, _) => Ok(PathBuf::from(p)),
            }
        };
        let root = tilde(parts.next().unwrap_or_default())?;
        let mut loc = MailLocation {
            root,
            inbox: None,
            control: None,
            layout_fs: false,
        };
        for p in parts {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            match k.to_ascii_uppercase().as_str() {
                "INBOX" => loc.inbox = Some(tilde(v)?),
                "CONTROL" => loc.control = Some(tilde(v)?),
                "LAYOUT" => loc.layout_fs = v == "fs",
                _ => {}
            }
        }
        Ok(loc)
    }

    /// The directory of `mailbox` (`INBOX` is case-insensitive; the separator is `/`).
    pub fn mailbox_dir(&self, mailbox: &str) -> PathBuf {
        if is_inbox(mailbox) {
            return self.inbox.clone().unwrap_or_else(|| self.root.clone());
        }
        if self.layout_fs {
            self.root.join(mailbox)
        } else {
            self.root.join(format!(".{}", mailbox.replace('/', ".")))
        }
    }

    fn control_dir(&self, mailbox: &str) -> PathBuf {
        match &self.control {
            None => self.mailbox_dir(mailbox),
            Some(c) if is_inbox(mailbox) => c.clone(),
            Some(c) if self.layout_fs => c.join(mailbox),
            Some(c) => c.join(format!(".{}", mailbox.replace('/', "."))),
        }
    }
}

/// Whether `name` is INBOX (case-insensitively, like Dovecot).
pub fn is_inbox(name: &str) -> bool {
    name.eq_ignore_ascii_case("INBOX")
}

/// The mail store's answer to "which GUID does this mailbox have": implemented by the mail
/// store; [`MaildirGuids`] reads Dovecot's Maildir files until then.
pub trait MailboxGuids: Send + Sync {
    /// The 16-byte GUID of `mailbox` of the user at `location`. INBOX is created when missing
    /// (Dovecot autocreates it); another missing mailbox is [`MetadataError::MailboxNotFound`].
    fn guid(&self, location: &MailLocation, mailbox: &str) -> Result<[u8; 16], MetadataError>;

    /// Whether `mailbox` exists (INBOX always does).
    fn exists(&self, location: &MailLocation, mailbox: &str) -> bool;
}

/// GUIDs from the `G<32 hex>` field of `dovecot-uidlist`'s header line (`3 V… N… G…`); a
/// mailbox without a uidlist gets a fresh one with a random GUID, as Dovecot's first sync does.
#[derive(Debug, Clone, Copy, Default)]
pub struct MaildirGuids;

impl MailboxGuids for MaildirGuids {
    fn guid(&self, location: &MailLocation, mailbox: &str) -> Result<[u8; 16], MetadataError> {
        let dir = location.mailbox_dir(mailbox);
        if is_inbox(mailbox) {
            for sub in ["cur", "new", "tmp"] {
                create_dir_all_0700(&dir.join(sub))?;
            }
        } else if !dir.is_dir() {
            return Err(MetadataError::MailboxNotFound {
                mailbox: mailbox.to_owned(),
            });
        }
        let control = location.control_dir(mailbox);
        let uidlist = control.join("dovecot-uidlist");
        if let Some(guid) = read_uidlist_guid(&uidlist)? {
            return Ok(guid);
        }
        create_dir_all_0700(&control)?;
        create_uidlist(&uidlist)
    }

    fn exists(&self, location: &MailLocation, mailbox: &str) -> bool {
        is_inbox(mailbox) || location.mailbox_dir(mailbox).is_dir()
    }
}

/// The GUID in a uidlist header, `None` when the file does not exist or has none (version 1).
pub fn read_uidlist_guid(path: &Path) -> Result<Option<[u8; 16]>, MetadataError> {
    let text = match fs::File::open(path) {
        Ok(mut f) => {
            let mut buf = Vec::new();
            Read::by_ref(&mut f)
                .take(4096)
                .read_to_end(&mut buf)
                .map_err(|e| io_error("read", path, e))?;
            String::from_utf8_lossy(&buf).into_owned()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("open", path, e)),
    };
    let header = text.lines().next().unwrap_or_default();
    Ok(parse_uidlist_header_guid(header))
}

/// The `G<32 hex>` field of a uidlist header line.
pub fn parse_uidlist_header_guid(header: &str) -> Option<[u8; 16]> {
    let mut fields = header.split(' ');
    if fields.next()? != "3" {
        return None;
    }
    fields
        .find_map(|f| f.strip_prefix('G'))
        .and_then(guid_from_hex)
}

/// Parses 32 hex digits.
pub fn guid_from_hex(hex: &str) -> Option<[u8; 16]> {
    if hex.len() != 32 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// 32 lower-case hex digits, as Dovecot prints GUIDs.
pub fn guid_to_hex(guid: &[u8; 16]) -> String {
    guid.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a new `3 V<uidvalidity> N1 G<guid>` uidlist under Dovecot's `dovecot-uidlist.lock`
/// dotlock; if another process created it meanwhile, its GUID wins.
fn create_uidlist(path: &Path) -> Result<[u8; 16], MetadataError> {
    let mut lock_name = path.as_os_str().to_owned();
    lock_name.push(".lock");
    let lock_path = PathBuf::from(lock_name);
    let mut waited = 0;
    let mut lock = loop {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&lock_path)
        {
            Ok(f) => break f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && waited < 200 => {
                if let Some(guid) = read_uidlist_guid(path)? {
                    return Ok(guid);
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
                waited += 1;
            }
            Err(e) => return Err(io_error("creat", &lock_path, e)),
        }
    };
    let result = (|| {
        if let Some(guid) = read_uidlist_guid(path)? {
            return Ok(guid);
        }
        let guid = random_guid(path)?;
        let uidvalidity = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| u32::try_from(d.as_secs()).unwrap_or(1));
        let line = format!("3 V{uidvalidity} N1 G{}\n", guid_to_hex(&guid));
        lock.write_all(line.as_bytes())
            .map_err(|e| io_error("write", &lock_path, e))?;
        lock.sync_all()
            .map_err(|e| io_error("fsync", &lock_path, e))?;
        fs::rename(&lock_path, path).map_err(|e| io_error("rename", &lock_path, e))?;
        Ok(guid)
    })();
    let _ = fs::remove_file(&lock_path);
    result
}

fn random_guid(context: &Path) -> Result<[u8; 16], MetadataError> {
    let mut guid = [0u8; 16];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut guid))
        .map_err(|e| io_error("read /dev/urandom for", context, e))?;
    Ok(guid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_guid_is_read_from_the_g_field() {
        let g = parse_uidlist_header_guid("3 V1700000000 N5 G8d5a8631581b0b6b4a1d000083ecc375")
            .expect("guid");
        assert_eq!(guid_to_hex(&g), "8d5a8631581b0b6b4a1d000083ecc375");
        assert_eq!(parse_uidlist_header_guid("1 1700000000 5"), None);
        assert_eq!(parse_uidlist_header_guid("3 V1 N1 Gzz"), None);
    }

    #[test]
    fn maildir_plus_plus_and_fs_layouts_name_folders() {
        let home = Path::new("/home/a");
        let l = MailLocation::parse("maildir:~/Maildir", Some(home)).expect("loc");
        assert_eq!(l.mailbox_dir("inbox"), PathBuf::from("/home/a/Maildir"));
        assert_eq!(l.mailbox_dir("a/b"), PathBuf::from("/home/a/Maildir/.a.b"));
        let l = MailLocation::parse("maildir:~/M:LAYOUT=fs:INBOX=~/in", Some(home)).expect("loc");
        assert_eq!(l.mailbox_dir("a/b"), PathBuf::from("/home/a/M/a/b"));
        assert_eq!(l.mailbox_dir("INBOX"), PathBuf::from("/home/a/in"));
        assert!(MailLocation::parse("mbox:~/mail", Some(home)).is_err());
    }

    #[test]
    fn inbox_gets_a_uidlist_once_and_keeps_its_guid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let loc = MailLocation::parse("maildir:~/Maildir", Some(dir.path())).expect("loc");
        let g1 = MaildirGuids.guid(&loc, "INBOX").expect("guid");
        let g2 = MaildirGuids.guid(&loc, "INBOX").expect("guid");
        assert_eq!(g1, g2);
        let text = fs::read_to_string(dir.path().join("Maildir/dovecot-uidlist")).expect("uidlist");
        assert!(text.starts_with("3 V"), "{text}");
        assert!(
            text.trim_end()
                .ends_with(&format!("N1 G{}", guid_to_hex(&g1))),
            "{text}"
        );
        assert!(dir.path().join("Maildir/cur").is_dir());
    }

    #[test]
    fn missing_folder_is_not_found_and_existing_folder_gets_a_guid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let loc = MailLocation::parse("maildir:~/Maildir", Some(dir.path())).expect("loc");
        assert!(matches!(
            MaildirGuids.guid(&loc, "Work"),
            Err(MetadataError::MailboxNotFound { .. })
        ));
        fs::create_dir_all(dir.path().join("Maildir/.Work/cur")).expect("mkdir");
        assert!(MaildirGuids.guid(&loc, "Work").is_ok());
    }
}
