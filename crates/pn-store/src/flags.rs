//! Flag and keyword changes: files are renamed to their new `:2,<flags>` under the uidlist
//! lock, and FlagsSet / FlagsClear / MessageRead / MessageTrash are reported with the old and
//! new values.

use std::fs;
use std::path::PathBuf;

use pn_core::PushUser;
use pn_event::MailFlags;

use crate::error::{Result, StoreError};
use crate::filename;
use crate::folder::{FileLoc, Locked, Sub};
use crate::fsutil;
use crate::keywords::validate_keyword;
use crate::messages::finish_txn;
use crate::{FlagOp, FlagUpdate, Maildir};

impl Maildir {
    /// Changes flags and keywords of the messages with these UIDs (missing UIDs are skipped):
    /// FlagsSet / FlagsClear / MessageRead / MessageTrash with old and new values. Returns
    /// the messages that changed.
    pub fn update_flags(
        &self,
        push: Option<&PushUser>,
        mailbox: &str,
        uids: &[u32],
        op: FlagOp,
        flags: MailFlags,
        keywords: &[String],
    ) -> Result<Vec<FlagUpdate>> {
        let folder = self.existing(mailbox)?;
        let flags = flags & MailFlags::REPORTABLE;
        if op != FlagOp::Remove {
            for k in keywords {
                validate_keyword(k)?;
            }
        }
        let mut txn = push.map(|p| p.begin_mail_txn(&folder.name.vname));
        let result = (|| -> Result<(u32, Vec<FlagUpdate>)> {
            let mut locked = folder.lock()?;
            let given = if op == FlagOp::Remove {
                let mut idx: Vec<u8> = keywords
                    .iter()
                    .filter_map(|k| locked.keywords.index_of(k))
                    .collect();
                idx.sort_unstable();
                idx
            } else {
                locked.keyword_indexes(keywords)?
            };
            let updates = apply_flags(&mut locked, uids, op, flags, &given)?;
            let uid_validity = locked.view.uidlist.uid_validity;
            drop(locked.finish()?);
            Ok((uid_validity, updates))
        })();
        if let (Some(txn), Ok((_, updates))) = (txn.as_mut(), &result) {
            for u in updates {
                txn.update_flags(u.uid, u.old_flags, u.new_flags);
                txn.update_keywords(u.uid, &u.old_keywords, &u.new_keywords);
            }
        }
        finish_txn(txn, &result, |(v, _)| (*v, &[][..]));
        result.map(|(_, u)| u)
    }
}

/// Applies a flag change to the selected messages by renaming their files; on failure the
/// renames done so far are undone.
fn apply_flags(
    locked: &mut Locked<'_, '_>,
    uids: &[u32],
    op: FlagOp,
    flags: MailFlags,
    given: &[u8],
) -> Result<Vec<FlagUpdate>> {
    let folder = locked.folder;
    let mut renamed: Vec<(PathBuf, PathBuf, String, FileLoc)> = Vec::new();
    let mut updates = Vec::new();
    let records = locked.view.uidlist.records_of(uids);
    let undo = |renamed: &[(PathBuf, PathBuf, String, FileLoc)]| {
        for (old, new, _, _) in renamed.iter().rev() {
            let _ = fs::rename(new, old);
        }
    };
    for (uid, base) in records {
        let Some(loc) = locked.view.files.get(&base).cloned() else {
            continue;
        };
        let (old_flags, old_kw) = filename::parse_flags(&loc.name);
        let (new_flags, new_kw): (MailFlags, Vec<u8>) = match op {
            FlagOp::Add => {
                let mut k = old_kw.clone();
                k.extend(given.iter().filter(|i| !old_kw.contains(i)));
                k.sort_unstable();
                (old_flags | flags, k)
            }
            FlagOp::Remove => (
                old_flags - flags,
                old_kw
                    .iter()
                    .copied()
                    .filter(|i| !given.contains(i))
                    .collect(),
            ),
            FlagOp::Replace => (flags, given.to_vec()),
        };
        let recent = if loc.sub == Sub::New {
            MailFlags::RECENT
        } else {
            MailFlags::empty()
        };
        if old_flags == new_flags && old_kw == new_kw {
            continue;
        }
        let new_name = filename::with_flags(&loc.name, new_flags, &new_kw);
        let old_path = folder.file_path(&loc);
        let new_loc = FileLoc {
            sub: loc.sub,
            name: new_name,
        };
        let new_path = folder.file_path(&new_loc);
        if new_path != old_path
            && let Err(e) = fs::rename(&old_path, &new_path)
        {
            undo(&renamed);
            return Err(StoreError::io("rename", &old_path, e));
        }
        renamed.push((old_path, new_path, base.clone(), new_loc));
        updates.push(FlagUpdate {
            uid,
            old_flags: old_flags | recent,
            new_flags: new_flags | recent,
            old_keywords: locked.keywords.names_of(&old_kw),
            new_keywords: locked.keywords.names_of(&new_kw),
        });
    }
    for sub in ["new", "cur"] {
        if let Err(e) = fsutil::fsync_dir(&folder.path.join(sub)) {
            undo(&renamed);
            return Err(e);
        }
    }
    for (_, _, base, loc) in renamed {
        locked.view.files.insert(base, loc);
    }
    Ok(updates)
}
