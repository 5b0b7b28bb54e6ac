//! Dropping root privileges to the mail user, as Dovecot's `mail-storage-service` does before
//! it touches a user's files.
//!
//! * The uid comes from the userdb (`uid` field), else from the `mail_uid` setting; the gid
//!   likewise (`gid`, `mail_gid`): numbers, or names from `/etc/passwd` and `/etc/group`.
//! * A uid below `first_valid_uid` (default 500) or above a non-zero `last_valid_uid` is
//!   refused with Dovecot's message; the same for gids with `first_valid_gid` (default 1) and
//!   `last_valid_gid`.
//! * Started as root, pn sets the supplementary groups to just the gid (Dovecot's default
//!   without `mail_access_groups`), then the gid, then the uid — real, effective and saved, so
//!   root cannot be regained.
//! * Started as root without any uid, pn refuses like Dovecot ("User is missing UID"), except
//!   with its embedded default userdb (no `userdb { }` configured): that writes mail as the
//!   owner of pn's data directory, or — a new or empty data directory owned by root — as the
//!   system user `pn`, else `nobody`, to whom it gives the directory ([`embedded_default_ids`]).
//! * Started as another user, pn can only run as that user: a different uid is Dovecot's
//!   `setuid(…) failed` error.
//! * When neither the userdb nor the settings give a uid and pn does not run as root, pn runs
//!   as whoever invoked it and the files are that user's.
//!
//! [`switch_to`] must run before the process starts any thread: on Linux the id system calls
//! change the calling thread only (glibc broadcasts them to every thread; rustix does not).
//! `pn lmtp` serving several uids uses exactly that: [`ThreadIds`] gives one blocking thread the
//! recipient's effective ids for one delivery and takes them back afterwards.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use pn_config::Settings;
use pn_config::ValueError;
use pn_config::time::parse_uint;
use pn_config::value::{parse_gid, parse_uid};
use pn_userdb::UserRecord;
use rustix::process::{Gid, Uid};

/// Why the process cannot become the mail user (Dovecot's fatal text; LDA and doveadm exit
/// with EX_TEMPFAIL on it).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct PrivilegeError(String);

/// pn-config's `parse_uid` or `parse_gid`.
type IdParser = fn(&str) -> Result<u32, ValueError>;

/// Which ids a user's files are accessed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MailIds {
    /// The uid, `None` to keep the process's.
    pub(crate) uid: Option<u32>,
    /// The gid, `None` to keep the process's.
    pub(crate) gid: Option<u32>,
}

/// The mail user's ids from the userdb record and the settings, checked against
/// `first_valid_uid`/`last_valid_uid` and the gid equivalents.
pub(crate) fn mail_ids(
    record: &UserRecord,
    settings: &Settings,
) -> Result<MailIds, PrivilegeError> {
    let text = |key: &str| {
        settings
            .get(key)
            .map(|s| s.value.to_string())
            .filter(|v| !v.trim().is_empty())
    };
    let number = |key: &str, default: u32| -> Result<u32, PrivilegeError> {
        match text(key) {
            None => Ok(default),
            Some(v) => parse_uint(&v).map_err(|e| PrivilegeError(format!("{key}: {e}"))),
        }
    };
    let pick = |from_userdb: Option<u32>,
                setting: &str|
     -> Result<Option<(u32, &'static str)>, PrivilegeError> {
        if let Some(id) = from_userdb {
            return Ok(Some((id, "userdb lookup")));
        }
        let (parse, source): (IdParser, _) = if setting == "mail_uid" {
            (parse_uid, "mail_uid setting")
        } else {
            (parse_gid, "mail_gid setting")
        };
        match text(setting) {
            None => Ok(None),
            Some(v) => parse(&v)
                .map(|id| Some((id, source)))
                .map_err(|e| PrivilegeError(format!("{e} (from {source})"))),
        }
    };
    let mut uid = pick(record.uid, "mail_uid")?;
    let mut gid = pick(record.gid, "mail_gid")?;
    if uid.is_none() && rustix::process::geteuid().is_root() && uses_embedded_userdb(settings) {
        let ids = embedded_default_ids(&default_data_dir(settings))?;
        uid = ids.uid.map(|u| (u, "pn's embedded default"));
        gid = gid.or(ids.gid.map(|g| (g, "pn's embedded default")));
    }
    if let Some((uid, source)) = uid {
        let (first, last) = (
            number("first_valid_uid", 500)?,
            number("last_valid_uid", 0)?,
        );
        if uid < first || (last != 0 && uid > last) {
            return Err(PrivilegeError(format!(
                "Mail access for users with UID {uid} not permitted \
                 (see first_valid_uid in config file, uid from {source})."
            )));
        }
    }
    if let Some((gid, source)) = gid {
        let (first, last) = (number("first_valid_gid", 1)?, number("last_valid_gid", 0)?);
        if gid < first || (last != 0 && gid > last) {
            return Err(PrivilegeError(format!(
                "Mail access for users with GID {gid} not permitted \
                 (see first_valid_gid in config file, gid from {source})."
            )));
        }
    }
    Ok(MailIds {
        uid: uid.map(|(id, _)| id),
        gid: gid.map(|(id, _)| id),
    })
}

/// Dovecot's refusal to write a user's mail as root.
pub(crate) const MISSING_UID: &str = "User is missing UID (see mail_uid setting)";

/// The ids pn's embedded default writes mail with when it runs as root and nothing names a
/// uid: the data directory's owner when that is not root; otherwise the system user `pn`,
/// else `nobody`, after creating the data directory (or taking over an empty one owned by
/// root) for them. Said in an info log line, once per process.
pub(crate) fn embedded_default_ids(data_dir: &Path) -> Result<MailIds, PrivilegeError> {
    let fail = |what: &str, e: std::io::Error| {
        PrivilegeError(format!("{what}({}) failed: {e}", data_dir.display()))
    };
    let (uid, gid, why) = match std::fs::metadata(data_dir) {
        Ok(md) if md.uid() != 0 => (md.uid(), md.gid(), "the owner of".to_owned()),
        found => {
            let (name, uid, gid) = ["pn", "nobody"]
                .into_iter()
                .find_map(|n| system_user(n).map(|(u, g)| (n, u, g)))
                .ok_or_else(|| {
                    PrivilegeError(format!(
                        "{MISSING_UID}: pn's embedded default found no user pn or nobody to \
                         write mail as; set mail_uid and mail_gid"
                    ))
                })?;
            match found {
                Ok(_) => {
                    let empty = std::fs::read_dir(data_dir)
                        .map_err(|e| fail("opendir", e))?
                        .next()
                        .is_none();
                    if !empty {
                        return Err(PrivilegeError(format!(
                            "{MISSING_UID}: pn's data directory {} belongs to root; chown it \
                             to the user mail should be written as, or set mail_uid and \
                             mail_gid",
                            data_dir.display()
                        )));
                    }
                }
                Err(_) => {
                    std::fs::create_dir_all(data_dir).map_err(|e| fail("mkdir", e))?;
                    std::fs::set_permissions(
                        data_dir,
                        std::os::unix::fs::PermissionsExt::from_mode(0o700),
                    )
                    .map_err(|e| fail("chmod", e))?;
                }
            }
            std::os::unix::fs::chown(data_dir, Some(uid), Some(gid))
                .map_err(|e| fail("chown", e))?;
            (uid, gid, format!("system user {name}, now owning"))
        }
    };
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        tracing::info!(
            "running as root without a uid from the userdb or mail_uid: pn's embedded default \
             writes mail as uid {uid} gid {gid} ({why} {})",
            data_dir.display()
        );
    });
    Ok(MailIds {
        uid: Some(uid),
        gid: Some(gid),
    })
}

/// A system user's uid and gid from `/etc/passwd` (getpwnam for local accounts).
fn system_user(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        if f.next()? != name {
            return None;
        }
        let _password = f.next()?;
        Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
    })
}

/// Whether the settings configure no `userdb { }`, so pn's embedded static default answers.
pub(crate) fn uses_embedded_userdb(settings: &Settings) -> bool {
    !settings
        .iter()
        .any(|(p, _)| p.sections.first().is_some_and(|s| s.kind == "userdb"))
}

/// pn's data directory as the embedded default sees it (see `session::data_dir`).
pub(crate) fn default_data_dir(settings: &Settings) -> PathBuf {
    crate::session::data_dir(
        settings
            .get("pn_data_dir")
            .map(|s| s.value.to_string())
            .filter(|v| !v.is_empty()),
    )
}

/// One thread's effective ids switched to a mail user's, restored to root on drop. Only the
/// effective (and so file-system) ids change: the real and saved uid stay 0, which is what
/// lets the thread return to root, and what keeps the user's own processes from signalling
/// or tracing it meanwhile.
pub(crate) struct ThreadIds {
    groups: Vec<Gid>,
    egid: Gid,
}

impl ThreadIds {
    /// Gives the calling thread `uid`/`gid` (supplementary groups: just `gid`), the order
    /// Dovecot uses: groups, gid, uid. The thread must run as root.
    pub(crate) fn switch(uid: u32, gid: u32) -> Result<ThreadIds, PrivilegeError> {
        let saved = ThreadIds {
            groups: rustix::process::getgroups()
                .map_err(|e| PrivilegeError(format!("getgroups() failed: {e}")))?,
            egid: rustix::process::getegid(),
        };
        let gid_t = Gid::from_raw(gid);
        rustix::thread::set_thread_groups(&[gid_t])
            .map_err(|e| PrivilegeError(format!("setgroups({gid}) failed: {e}")))?;
        // From here on, dropping `saved` restores whatever was changed.
        rustix::thread::set_thread_res_gid(None, Some(gid_t), None)
            .map_err(|e| PrivilegeError(format!("setegid({gid}) failed: {e}")))?;
        rustix::thread::set_thread_res_uid(None, Some(Uid::from_raw(uid)), None)
            .map_err(|e| PrivilegeError(format!("seteuid({uid}) failed: {e}")))?;
        Ok(saved)
    }
}

impl Drop for ThreadIds {
    fn drop(&mut self) {
        let restored = rustix::thread::set_thread_res_uid(None, Some(Uid::ROOT), None)
            .and_then(|()| rustix::thread::set_thread_res_gid(None, Some(self.egid), None))
            .and_then(|()| rustix::thread::set_thread_groups(&self.groups));
        if let Err(e) = restored {
            // A blocking thread stuck with a user's ids would do the next user's work as
            // them: nothing may run on after this.
            tracing::error!("restoring the thread's root ids failed: {e}; aborting");
            std::process::abort();
        }
    }
}

/// Becomes the mail user: as root, groups, gid, then uid; otherwise only checks that the
/// process already runs with the wanted uid.
pub(crate) fn switch_to(ids: MailIds) -> Result<(), PrivilegeError> {
    let euid = rustix::process::geteuid();
    if !euid.is_root() {
        if let Some(uid) = ids.uid
            && uid != euid.as_raw()
        {
            return Err(PrivilegeError(format!(
                "setuid({uid}) failed with euid={}: Operation not permitted \
                 (This binary should probably be called with process user set to {uid} \
                 instead of {})",
                euid.as_raw(),
                euid.as_raw()
            )));
        }
        return Ok(());
    }
    let Some(uid) = ids.uid else {
        return Err(PrivilegeError(MISSING_UID.to_owned()));
    };
    let Some(gid) = ids.gid else {
        return Err(PrivilegeError(format!(
            "User has UID {uid} but no GID (set gid in the userdb or mail_gid)"
        )));
    };
    let gid_t = Gid::from_raw(gid);
    rustix::thread::set_thread_groups(&[gid_t])
        .map_err(|e| PrivilegeError(format!("setgroups({gid}) failed: {e}")))?;
    rustix::thread::set_thread_res_gid(gid_t, gid_t, gid_t)
        .map_err(|e| PrivilegeError(format!("setgid({gid}) failed: {e}")))?;
    let uid_t = Uid::from_raw(uid);
    rustix::thread::set_thread_res_uid(uid_t, uid_t, uid_t).map_err(|e| {
        PrivilegeError(format!(
            "setuid({uid} from userdb lookup) failed with euid=0: {e}"
        ))
    })?;
    if uid != 0 && rustix::process::geteuid().is_root() {
        return Err(PrivilegeError(
            "We couldn't drop root privileges".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Settings {
        pn_config::Config::parse_str(
            text,
            std::path::Path::new("test.conf"),
            &pn_config::ParseOptions::default(),
        )
        .expect("config")
        .effective("lda")
    }

    fn user(uid: Option<u32>, gid: Option<u32>) -> UserRecord {
        let mut r = UserRecord::new("alice@example.com");
        r.uid = uid;
        r.gid = gid;
        r
    }

    #[test]
    fn uids_below_first_valid_uid_are_refused_with_dovecots_message() {
        let err = mail_ids(&user(Some(0), Some(0)), &settings("")).expect_err("root refused");
        assert_eq!(
            err.to_string(),
            "Mail access for users with UID 0 not permitted \
             (see first_valid_uid in config file, uid from userdb lookup)."
        );
    }

    #[test]
    fn first_valid_uid_and_gid_can_be_lowered() {
        let ids = mail_ids(
            &user(Some(0), Some(0)),
            &settings("first_valid_uid = 0\nfirst_valid_gid = 0\n"),
        )
        .expect("allowed");
        assert_eq!(
            ids,
            MailIds {
                uid: Some(0),
                gid: Some(0)
            }
        );
    }

    #[test]
    fn mail_uid_is_the_fallback_and_named_as_the_source() {
        let err = mail_ids(
            &user(None, None),
            &settings("mail_uid = 10\nmail_gid = 10\n"),
        )
        .expect_err("too low");
        assert!(
            err.to_string().contains("uid from mail_uid setting"),
            "{err}"
        );
    }

    #[test]
    fn without_any_uid_the_process_ids_are_kept() {
        if rustix::process::geteuid().is_root() {
            // As root the embedded default names a user (tested through the binary).
            return;
        }
        let ids = mail_ids(&user(None, None), &settings("")).expect("ok");
        assert_eq!(
            ids,
            MailIds {
                uid: None,
                gid: None
            }
        );
    }
}
