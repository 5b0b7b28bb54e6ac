//! Mailbox operations: create, delete, rename, subscribe, list. Each fires its mailbox event
//! after it succeeded, as Dovecot's notify plugin does.

use std::collections::BTreeSet;
use std::fs;
use std::time::{SystemTime, UNIX_EPOCH};

use pn_core::PushUser;

use crate::dotlock::{Dotlock, LockSettings};
use crate::error::{Result, StoreError};
use crate::fsutil::{self, Perms};
use crate::name::{MailboxName, SEPARATOR, mutf7_decode};
use crate::subscriptions::Subscriptions;
use crate::{MailboxInfo, Maildir};

const SUBSCRIPTIONS: &str = "subscriptions";

impl Maildir {
    /// Creates a mailbox (its folder, `maildirfolder`, and its uidlist with a new UIDVALIDITY
    /// and GUID), then fires MailboxCreate. Parents need not exist (Maildir++ has none).
    pub fn create_mailbox(&self, push: Option<&PushUser>, mailbox: &str) -> Result<()> {
        let folder = self.folder(mailbox)?;
        if folder.exists() {
            return Err(StoreError::MailboxExists(folder.name.vname.clone()));
        }
        if !folder.create_dirs()? && !folder.name.is_inbox() {
            return Err(StoreError::MailboxExists(folder.name.vname.clone()));
        }
        let mut locked = folder.lock()?;
        locked.write_uidlist()?;
        drop(locked);
        if let Some(p) = push {
            p.mailbox_created(&folder.name.vname);
        }
        Ok(())
    }

    /// Deletes a mailbox with its messages (its children stay), then fires MailboxDelete.
    /// INBOX can't be deleted.
    pub fn delete_mailbox(&self, push: Option<&PushUser>, mailbox: &str) -> Result<()> {
        let folder = self.folder(mailbox)?;
        if folder.name.is_inbox() {
            return Err(StoreError::Invalid("INBOX can't be deleted.".to_owned()));
        }
        if !folder.exists() {
            return Err(StoreError::MailboxNotFound(folder.name.vname.clone()));
        }
        // Move it out of the way atomically, then remove it (Dovecot's DOVECOT-TRASH).
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let trash = self
            .root
            .join(format!("DOVECOT-TRASH.{}.{nanos}", std::process::id()));
        fs::rename(&folder.path, &trash).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StoreError::MailboxNotFound(folder.name.vname.clone()),
            _ => StoreError::io("rename", &folder.path, e),
        })?;
        fsutil::fsync_dir(&self.root)?;
        if let Err(e) = fs::remove_dir_all(&trash) {
            tracing::warn!("removing {} failed: {e}", trash.display());
        }
        if let Some(p) = push {
            p.mailbox_deleted(&folder.name.vname);
        }
        Ok(())
    }

    /// Renames a mailbox and its children, then fires MailboxRename (once, for the mailbox).
    /// Subscriptions are left as they are, as in Dovecot.
    pub fn rename_mailbox(&self, push: Option<&PushUser>, old: &str, new: &str) -> Result<()> {
        let from = self.folder(old)?;
        let to = self.folder(new)?;
        if from.name.is_inbox() {
            return Err(StoreError::Invalid(
                "Renaming INBOX isn't supported.".to_owned(),
            ));
        }
        if !from.exists() {
            return Err(StoreError::MailboxNotFound(from.name.vname.clone()));
        }
        if to.name.is_inbox() || to.path.exists() {
            return Err(StoreError::MailboxExists(to.name.vname.clone()));
        }
        if to.name.is_child_of(&from.name) {
            return Err(StoreError::Invalid(
                "Can't rename mailbox under its own child.".to_owned(),
            ));
        }
        let children: Vec<MailboxName> = self
            .folder_dirs()?
            .into_iter()
            .filter(|n| n.is_child_of(&from.name))
            .collect();
        fs::rename(&from.path, &to.path).map_err(|e| StoreError::io("rename", &from.path, e))?;
        for child in children {
            let new_dir = format!("{}{}", to.name.dir, &child.dir[from.name.dir.len()..]);
            let (src, dst) = (self.root.join(&child.dir), self.root.join(&new_dir));
            fs::rename(&src, &dst).map_err(|e| StoreError::io("rename", &src, e))?;
        }
        fsutil::fsync_dir(&self.root)?;
        if let Some(p) = push {
            p.mailbox_renamed(&from.name.vname, &to.name.vname);
        }
        Ok(())
    }

    /// Subscribes to (`true`) or unsubscribes from a mailbox, which need not exist. Fires
    /// MailboxSubscribe/MailboxUnsubscribe only when the subscription changed, as Dovecot
    /// does.
    pub fn set_subscribed(
        &self,
        push: Option<&PushUser>,
        mailbox: &str,
        subscribed: bool,
    ) -> Result<()> {
        let name = MailboxName::parse(mailbox)?;
        fsutil::ensure_root(&self.root)?;
        let path = self.root.join(SUBSCRIPTIONS);
        // Dovecot's SUBSCRIPTION_FILE_LOCK_TIMEOUT / _CHANGE_TIMEOUT.
        let settings = LockSettings {
            timeout: std::time::Duration::from_secs(120),
            stale_timeout: std::time::Duration::from_secs(30),
        };
        let lock = Dotlock::acquire(&path, &settings, Perms::of_dir(&self.root), &self.hostname)?;
        let mut subs = fsutil::read_opt(&path)?
            .map(|t| Subscriptions::parse(&t))
            .unwrap_or_default();
        if !subs.set(&name.storage_parts(), subscribed) {
            return Ok(());
        }
        lock.replace(subs.to_text().as_bytes())?;
        if let Some(p) = push {
            p.mailbox_subscribed(&name.vname, subscribed);
        }
        Ok(())
    }

    /// The subscribed mailbox names, in the file's order.
    pub fn subscriptions(&self) -> Result<Vec<String>> {
        let subs = fsutil::read_opt(&self.root.join(SUBSCRIPTIONS))?
            .map(|t| Subscriptions::parse(&t))
            .unwrap_or_default();
        Ok(subs
            .entries
            .iter()
            .filter_map(|parts| {
                let decoded: Option<Vec<String>> = parts.iter().map(|p| mutf7_decode(p)).collect();
                decoded.map(|d| d.join(&SEPARATOR.to_string()))
            })
            .collect())
    }

    fn folder_dirs(&self) -> Result<Vec<MailboxName>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io("opendir", &self.root, e)),
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            if !e.path().join("cur").is_dir() {
                continue;
            }
            if let Some(n) = MailboxName::from_dir(&name) {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// All mailboxes: INBOX first, then the others sorted by name, parents that only exist
    /// through their children included as not selectable.
    pub fn list_mailboxes(&self) -> Result<Vec<MailboxInfo>> {
        let subscribed: BTreeSet<String> = self.subscriptions()?.into_iter().collect();
        let existing: BTreeSet<String> = self.folder_dirs()?.into_iter().map(|n| n.vname).collect();
        let mut all: BTreeSet<String> = existing.clone();
        for name in &existing {
            let mut parent = name.as_str();
            while let Some((p, _)) = parent.rsplit_once(SEPARATOR) {
                all.insert(p.to_owned());
                parent = p;
            }
        }
        let mut out = vec![MailboxInfo {
            name: "INBOX".to_owned(),
            subscribed: subscribed.contains("INBOX"),
            selectable: true,
        }];
        for name in all {
            if name == "INBOX" {
                continue;
            }
            out.push(MailboxInfo {
                subscribed: subscribed.contains(&name),
                selectable: existing.contains(&name),
                name,
            });
        }
        Ok(out)
    }
}
