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
//! * Started as another user, pn can only run as that user: a different uid is Dovecot's
//!   `setuid(…) failed` error.
//! * When neither the userdb nor the settings give a uid (pn's embedded static default), pn
//!   runs as whoever invoked it and the files are that user's.
//!
//! This must run before the process starts any thread: on Linux the id system calls change
//! the calling thread only (glibc broadcasts them to every thread; rustix does not).

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
    let uid = pick(record.uid, "mail_uid")?;
    let gid = pick(record.gid, "mail_gid")?;
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
        // No uid anywhere: stay who we are (pn's embedded default).
        return Ok(());
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
