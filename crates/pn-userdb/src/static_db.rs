//! Dovecot's `static` userdb: every user exists, with fields from templates.

use std::path::PathBuf;

use crate::template::{expand, parse_gid, parse_uid};
use crate::{UserDbError, UserRecord};

/// `userdb { driver = static args = uid=vmail gid=vmail home=/var/mail/%d/%n }`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StaticDb {
    uid: Option<String>,
    gid: Option<String>,
    home: Option<String>,
    mail: Option<String>,
    fields: Vec<(String, String)>,
}

impl StaticDb {
    /// A static userdb that only sets the home template.
    pub fn with_home(home: impl Into<String>) -> StaticDb {
        StaticDb {
            home: Some(home.into()),
            ..StaticDb::default()
        }
    }

    /// Parses the space-separated `key=value` args. `allow_all_users` is accepted (pn never
    /// asks a passdb first, so every user is allowed anyway); `uid`, `gid`, `home`, `mail`
    /// are the userdb fields, other keys are kept as extra fields.
    pub fn from_args(args: &str) -> Result<StaticDb, String> {
        let mut db = StaticDb::default();
        for arg in args.split_whitespace() {
            let (key, value) = arg.split_once('=').unwrap_or((arg, ""));
            let key = key.strip_prefix("userdb_").unwrap_or(key);
            match key {
                "allow_all_users" => {}
                "uid" => db.uid = Some(value.to_owned()),
                "gid" => db.gid = Some(value.to_owned()),
                "home" => db.home = Some(value.to_owned()),
                "mail" => db.mail = Some(value.to_owned()),
                "" => return Err(format!("invalid static userdb argument {arg:?}")),
                _ => db.fields.push((key.to_owned(), value.to_owned())),
            }
        }
        Ok(db)
    }

    /// The user `username`, with the templates expanded.
    pub fn lookup(&self, username: &str) -> Result<UserRecord, UserDbError> {
        let mut user = UserRecord::new(username);
        let id = |what: &str,
                  template: &Option<String>,
                  parse: fn(&str) -> Option<u32>|
         -> Result<Option<u32>, UserDbError> {
            let Some(t) = template else { return Ok(None) };
            let value = expand(what, t, username, None)?;
            parse(&value).map(Some).ok_or_else(|| UserDbError::Config {
                section: "userdb static".to_owned(),
                message: format!("{what}={value}: no such {what}"),
            })
        };
        user.uid = id("uid", &self.uid, parse_uid)?;
        user.gid = id("gid", &self.gid, parse_gid)?;
        if let Some(h) = &self.home {
            user.home = Some(PathBuf::from(expand("home", h, username, None)?));
        }
        let home = user.home.as_ref().map(|h| h.to_string_lossy().into_owned());
        if let Some(m) = &self.mail {
            user.mail = Some(expand("mail", m, username, home.as_deref())?);
        }
        for (k, v) in &self.fields {
            user.fields
                .push((k.clone(), expand(k, v, username, home.as_deref())?));
        }
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_template_uses_domain_and_user_part() {
        let db = StaticDb::from_args("uid=1000 gid=1000 home=/var/mail/%d/%n").expect("args");
        let u = db.lookup("alice@example.com").expect("lookup");
        assert_eq!(u.uid, Some(1000));
        assert_eq!(u.gid, Some(1000));
        assert_eq!(u.home, Some(PathBuf::from("/var/mail/example.com/alice")));
        assert_eq!(u.mail, None);
    }

    #[test]
    fn mail_and_extra_fields_are_kept() {
        let db = StaticDb::from_args(
            "allow_all_users=yes home=/h/%u mail=maildir:%h/M quota_rule=*:storage=1G",
        )
        .expect("args");
        let u = db.lookup("bob").expect("lookup");
        assert_eq!(u.mail.as_deref(), Some("maildir:/h/bob/M"));
        assert_eq!(
            u.fields,
            vec![("quota_rule".to_owned(), "*:storage=1G".to_owned())]
        );
    }

    #[test]
    fn unknown_uid_name_is_an_error() {
        let db = StaticDb::from_args("uid=no-such-user-pn").expect("args");
        assert!(db.lookup("bob").is_err());
    }
}
