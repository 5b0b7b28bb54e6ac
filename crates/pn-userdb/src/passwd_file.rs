//! Dovecot's `passwd-file` userdb.
//!
//! Lines are `user:password:uid:gid:gecos:home:shell:extra_fields`. Empty lines and lines
//! starting with `#` or `:` are skipped. Extra fields are space separated; only `userdb_*`
//! fields are userdb fields (`userdb_mail=maildir:~/Maildir`), the others belong to the passdb.
//! A line without uid and gid makes the user unknown to the userdb, like Dovecot.

use std::path::{Path, PathBuf};

use crate::template::{expand, parse_gid, parse_uid};
use crate::{UserDbError, UserRecord};

/// `userdb { driver = passwd-file args = [username_format=%u] /path/%d/passwd }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdFile {
    path: String,
    username_format: String,
}

/// One parsed line.
struct Entry<'a> {
    user: &'a str,
    fields: Vec<&'a str>,
}

impl PasswdFile {
    /// A passwd-file userdb reading `path` (which may hold `%d`-style variables), users
    /// looked up by `username_format` (Dovecot's default is `%u`).
    pub fn new(path: impl Into<String>, username_format: impl Into<String>) -> PasswdFile {
        PasswdFile {
            path: path.into(),
            username_format: username_format.into(),
        }
    }

    /// Parses the `args` setting: leading `username_format=…` (and the passdb's `scheme=…`,
    /// ignored here), then the path.
    pub fn from_args(args: &str) -> Result<PasswdFile, String> {
        let mut format = "%u".to_owned();
        let mut rest = args.trim();
        loop {
            let (word, after) = rest.split_once(' ').unwrap_or((rest, ""));
            if let Some(f) = word.strip_prefix("username_format=") {
                format = f.to_owned();
            } else if word.starts_with("scheme=") {
                // passdb only
            } else {
                break;
            }
            rest = after.trim_start();
        }
        if rest.is_empty() {
            return Err("passwd-file: Missing args (the file's path)".to_owned());
        }
        Ok(PasswdFile::new(rest, format))
    }

    /// The path template.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn file_for(&self, username: &str) -> Result<PathBuf, UserDbError> {
        Ok(PathBuf::from(expand(
            "passwd-file path",
            &self.path,
            username,
            None,
        )?))
    }

    /// Looks `username` up. `Ok(None)`: not in the file (or the file does not exist), or a
    /// line without userdb information.
    pub fn lookup(&self, username: &str) -> Result<Option<UserRecord>, UserDbError> {
        let path = self.file_for(username)?;
        let key = expand("username_format", &self.username_format, username, None)?;
        let Some(text) = read(&path)? else {
            return Ok(None);
        };
        let Some(entry) = entries(&text).find(|e| e.user == key) else {
            return Ok(None);
        };
        entry_to_record(&path, username, &entry)
    }

    /// Every user name in the file, in file order (doveadm `-A`). A path with variables
    /// cannot be listed.
    pub fn list_users(&self) -> Result<Vec<String>, UserDbError> {
        if self.path.contains('%') {
            return Err(UserDbError::Config {
                section: "userdb passwd-file".to_owned(),
                message: format!(
                    "cannot list users of {} (the path has variables)",
                    self.path
                ),
            });
        }
        let path = PathBuf::from(&self.path);
        let Some(text) = read(&path)? else {
            return Ok(Vec::new());
        };
        let mut users: Vec<String> = Vec::new();
        for e in entries(&text) {
            // Lines with only passdb information are not userdb users.
            if e.fields.len() >= 2 && !users.iter().any(|u| u == e.user) {
                users.push(e.user.to_owned());
            }
        }
        Ok(users)
    }
}

fn read(path: &Path) -> Result<Option<String>, UserDbError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(UserDbError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn entries(text: &str) -> impl Iterator<Item = Entry<'_>> {
    text.lines().filter_map(|line| {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() || line.starts_with('#') || line.starts_with(':') {
            return None;
        }
        let mut parts = line.split(':');
        let user = parts.next()?;
        Some(Entry {
            user,
            // password, uid, gid, gecos, home, shell, extra…
            fields: parts.collect(),
        })
    })
}

fn entry_to_record(
    path: &Path,
    username: &str,
    e: &Entry<'_>,
) -> Result<Option<UserRecord>, UserDbError> {
    let invalid = |message: String| UserDbError::InvalidEntry {
        path: path.to_path_buf(),
        user: e.user.to_owned(),
        message,
    };
    // fields[0] is the password.
    let field = |i: usize| e.fields.get(i).copied();
    let mut user = UserRecord::new(username);
    match field(1) {
        None => return Ok(None), // no userdb information
        Some("") => {}
        Some(uid) => match parse_uid(uid) {
            Some(0) | None => return Err(invalid(format!("invalid UID '{uid}'"))),
            Some(n) => user.uid = Some(n),
        },
    }
    match field(2) {
        None => return Ok(None),
        Some("") => {}
        Some(gid) => match parse_gid(gid) {
            Some(0) | None => return Err(invalid(format!("invalid GID '{gid}'"))),
            Some(n) => user.gid = Some(n),
        },
    }
    if let Some(home) = field(4).filter(|h| !h.is_empty()) {
        user.home = Some(PathBuf::from(home));
    }
    // fields[5] is the shell; the rest (re-joined with ':') holds the extra fields.
    let extra: Option<String> = match field(6) {
        None => None,
        // Old format: an empty field, then the mail location.
        Some("") => {
            let rest = e.fields.get(7..).unwrap_or_default().join(":");
            (!rest.is_empty()).then(|| format!("userdb_mail={rest}"))
        }
        Some(_) => Some(e.fields.get(6..).unwrap_or_default().join(":")),
    };
    for field in extra
        .iter()
        .flat_map(|x| x.split(' '))
        .filter(|f| !f.is_empty())
    {
        let Some(field) = field.strip_prefix("userdb_") else {
            continue;
        };
        let (key, value) = field.split_once('=').unwrap_or((field, ""));
        let home = user.home.as_ref().map(|h| h.to_string_lossy().into_owned());
        let value = expand(&format!("userdb_{key}"), value, username, home.as_deref())?;
        match key {
            "home" => user.home = Some(PathBuf::from(value)),
            "mail" => user.mail = Some(value),
            "uid" => {
                user.uid = Some(
                    parse_uid(&value).ok_or_else(|| invalid(format!("invalid uid '{value}'")))?,
                )
            }
            "gid" => {
                user.gid = Some(
                    parse_gid(&value).ok_or_else(|| invalid(format!("invalid gid '{value}'")))?,
                )
            }
            _ => user.fields.push((key.to_owned(), value)),
        }
    }
    Ok(Some(user))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(text: &str) -> (tempfile::TempDir, PasswdFile) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users");
        std::fs::write(&path, text).expect("write");
        let p =
            PasswdFile::from_args(&format!("username_format=%u {}", path.display())).expect("args");
        (dir, p)
    }

    const USERS: &str = "# comment\n\
        alice@example.com:{PLAIN}alicepass:1000:1000::/home/alice@example.com::userdb_mail=maildir:~/Maildir\n\
        bob@example.com:{PLAIN}bobpass:1001:1001::/home/bob::\n\
        passonly@example.com:{PLAIN}x\n\
        old@example.com:x:1002:1002::/home/old:/bin/false::maildir:~/Mail:LAYOUT=fs\n";

    #[test]
    fn looks_up_uid_gid_home_and_userdb_mail() {
        let (_d, p) = db(USERS);
        let u = p
            .lookup("alice@example.com")
            .expect("lookup")
            .expect("found");
        assert_eq!(u.uid, Some(1000));
        assert_eq!(u.gid, Some(1000));
        assert_eq!(u.home, Some(PathBuf::from("/home/alice@example.com")));
        assert_eq!(u.mail.as_deref(), Some("maildir:~/Maildir"));
    }

    #[test]
    fn unknown_user_is_none() {
        let (_d, p) = db(USERS);
        assert_eq!(p.lookup("nobody@example.com").expect("lookup"), None);
    }

    #[test]
    fn passdb_only_line_is_not_a_userdb_user() {
        let (_d, p) = db(USERS);
        assert_eq!(p.lookup("passonly@example.com").expect("lookup"), None);
        assert_eq!(
            p.list_users().expect("list"),
            vec!["alice@example.com", "bob@example.com", "old@example.com"]
        );
    }

    #[test]
    fn old_format_mail_field_keeps_colons() {
        let (_d, p) = db(USERS);
        let u = p.lookup("old@example.com").expect("lookup").expect("found");
        assert_eq!(u.mail.as_deref(), Some("maildir:~/Mail:LAYOUT=fs"));
    }

    #[test]
    fn username_format_n_matches_the_user_part() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("example.com");
        std::fs::write(
            &path,
            "carol:x:1003:1003::/home/carol::userdb_home=/srv/%d/%n\n",
        )
        .expect("write");
        let p = PasswdFile::from_args(&format!("username_format=%n {}/%d", dir.path().display()))
            .expect("args");
        let u = p
            .lookup("carol@example.com")
            .expect("lookup")
            .expect("found");
        assert_eq!(u.username, "carol@example.com");
        assert_eq!(u.home, Some(PathBuf::from("/srv/example.com/carol")));
    }

    #[test]
    fn uid_zero_is_rejected() {
        let (_d, p) = db("root:x:0:0::/root::\n");
        assert!(p.lookup("root").is_err());
    }

    #[test]
    fn missing_file_means_no_users() {
        let p = PasswdFile::new("/nonexistent/pn/users", "%u");
        assert_eq!(p.lookup("a").expect("lookup"), None);
        assert!(p.list_users().expect("list").is_empty());
    }
}
