//! User lookup the way Dovecot's userdb does it.
//!
//! A [`UserDb`] is an ordered list of backends, like the `userdb { }` sections of
//! `dovecot.conf`: the first backend that knows a user answers.
//!
//! * `passwd-file` ([`PasswdFile`]): Dovecot's
//!   `user:password:uid:gid:gecos:home:shell:extra_fields` format, `userdb_mail=…` and other
//!   `userdb_` extra fields, `username_format=%u` (or `%n`, …) and `%d`-style paths.
//! * `static` ([`StaticDb`]): every user exists, with `uid=… gid=… home=/var/mail/%d/%n`
//!   templates.
//!
//! [`UserDb::static_default`] is what pn uses without a configuration: homes under pn's data
//! directory, so a new user just works. [`UserDb::from_settings`] reads `userdb { driver = …
//! args = … }` from pn-config's settings.
//!
//! Architecture invariant: this crate reads files and nothing else; it never logs and never
//! creates anything on disk.

mod name;
mod passwd_file;
mod static_db;
mod template;

use std::path::{Path, PathBuf};

pub use name::{InvalidName, check_username};
pub use passwd_file::PasswdFile;
pub use static_db::StaticDb;

/// A user as the userdb describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The login name (`alice@example.com`).
    pub username: String,
    /// System uid the user's files belong to.
    pub uid: Option<u32>,
    /// System gid the user's files belong to.
    pub gid: Option<u32>,
    /// Home directory.
    pub home: Option<PathBuf>,
    /// Mail location (`maildir:~/Maildir`) when the userdb overrides `mail_location`
    /// (`userdb_mail=`, `mail=`).
    pub mail: Option<String>,
    /// Every other userdb field (`quota_rule`, …) in the order given, `%` variables expanded.
    pub fields: Vec<(String, String)>,
}

impl UserRecord {
    /// A record with just a name.
    pub fn new(username: impl Into<String>) -> UserRecord {
        UserRecord {
            username: username.into(),
            uid: None,
            gid: None,
            home: None,
            mail: None,
            fields: Vec::new(),
        }
    }

    /// The `%` variables of this user (for `mail_location`, `mail_attribute_dict`, …).
    pub fn vars(&self) -> pn_config::UserVars {
        let vars = pn_config::UserVars::new(self.username.clone());
        match &self.home {
            Some(h) => vars.with_home(h.to_string_lossy().into_owned()),
            None => vars,
        }
    }

    /// The user's mail location: the userdb's own, or `default` (the `mail_location`
    /// setting), with `%` variables expanded and `~/` meaning the home directory.
    pub fn mail_location(&self, default: &str) -> Result<String, UserDbError> {
        let raw = self.mail.as_deref().unwrap_or(default);
        let expanded =
            pn_config::vars::expand(raw, &self.vars()).map_err(|source| UserDbError::Expand {
                what: "mail_location".to_owned(),
                source,
            })?;
        Ok(expanded)
    }
}

/// One userdb backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserDbBackend {
    /// `driver = passwd-file`.
    PasswdFile(PasswdFile),
    /// `driver = static`.
    Static(StaticDb),
}

impl UserDbBackend {
    fn lookup(&self, username: &str) -> Result<Option<UserRecord>, UserDbError> {
        match self {
            UserDbBackend::PasswdFile(p) => p.lookup(username),
            UserDbBackend::Static(s) => s.lookup(username).map(Some),
        }
    }

    fn driver(&self) -> &'static str {
        match self {
            UserDbBackend::PasswdFile(_) => "passwd-file",
            UserDbBackend::Static(_) => "static",
        }
    }
}

/// The user database: backends asked in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDb {
    backends: Vec<UserDbBackend>,
    embedded_default: bool,
}

impl UserDb {
    /// A userdb made of these backends, asked in order.
    pub fn new(backends: Vec<UserDbBackend>) -> UserDb {
        UserDb {
            backends,
            embedded_default: false,
        }
    }

    /// Whether this is [`UserDb::static_default`] (no `userdb { }` configured).
    pub fn is_embedded_default(&self) -> bool {
        self.embedded_default
    }

    /// pn's default: `static` with every user's home at `<data_dir>/home/<user>`.
    pub fn static_default(data_dir: &Path) -> UserDb {
        let home = format!("{}/home/%u", data_dir.display());
        UserDb {
            backends: vec![UserDbBackend::Static(StaticDb::with_home(home))],
            embedded_default: true,
        }
    }

    /// The `userdb { driver = … args = … }` sections of `settings`. Without any, the
    /// [`UserDb::static_default`] under `data_dir`.
    ///
    /// pn-config keeps one value per setting path, so two unnamed `userdb { }` sections merge;
    /// give them names (`userdb files { }`, `userdb fallback { }`) to have several.
    pub fn from_settings(
        settings: &pn_config::Settings,
        data_dir: &Path,
    ) -> Result<UserDb, UserDbError> {
        // Sections in configuration order, then their driver/args.
        let mut ids: Vec<Vec<pn_config::SectionId>> = Vec::new();
        for (sections, _) in settings.sections() {
            if sections.len() == 1
                && sections[0].kind == "userdb"
                && !ids.iter().any(|s| s == sections)
            {
                ids.push(sections.to_vec());
            }
        }
        for (path, _) in settings.iter() {
            if path.sections.len() == 1
                && path.sections[0].kind == "userdb"
                && !ids.contains(&path.sections)
            {
                ids.push(path.sections.clone());
            }
        }
        if ids.is_empty() {
            return Ok(UserDb::static_default(data_dir));
        }
        let mut backends = Vec::new();
        for sections in ids {
            let get = |key: &str| -> Result<Option<String>, UserDbError> {
                let path = pn_config::SettingPath {
                    sections: sections.clone(),
                    key: key.to_owned(),
                };
                match settings.get_path(&path) {
                    None => Ok(None),
                    Some(s) => s
                        .value
                        .read()
                        .map(Some)
                        .map_err(|source| UserDbError::Read {
                            path: PathBuf::from(s.value.to_string()),
                            source,
                        }),
                }
            };
            let name = &sections[0].name;
            let mut section = match name {
                Some(n) => format!("userdb {n}"),
                None => "userdb".to_owned(),
            };
            if let Some(location) = section_location(settings, &sections) {
                section = format!("{location}: {section}");
            }
            // 2.4: `userdb NAME { }` names its driver unless `driver =` says otherwise.
            let driver = get("driver")?
                .filter(|d| !d.is_empty())
                .or_else(|| name.clone())
                .ok_or_else(|| UserDbError::Config {
                    section: section.clone(),
                    message: "driver is missing".to_owned(),
                })?;
            let mut args = get("args")?.unwrap_or_default();
            // 2.4 style: `passwd_file_path = …`, and `fields { key = value }` for static.
            if args.is_empty() {
                if driver == "passwd-file"
                    && let Some(p) = get("passwd_file_path")?
                {
                    args = p;
                } else if driver == "static" {
                    args = fields_24(settings, &sections);
                }
            }
            backends.push(UserDb::backend(&section, &driver, &args)?);
        }
        Ok(UserDb::new(backends))
    }

    /// One backend from a driver name and its `args` string.
    pub fn backend(section: &str, driver: &str, args: &str) -> Result<UserDbBackend, UserDbError> {
        match driver {
            "passwd-file" => Ok(UserDbBackend::PasswdFile(
                PasswdFile::from_args(args).map_err(|message| UserDbError::Config {
                    section: section.to_owned(),
                    message,
                })?,
            )),
            "static" => Ok(UserDbBackend::Static(StaticDb::from_args(args).map_err(
                |message| UserDbError::Config {
                    section: section.to_owned(),
                    message,
                },
            )?)),
            other => Err(UserDbError::Config {
                section: section.to_owned(),
                message: format!(
                    "unsupported userdb driver {other:?} (pn knows passwd-file and static)"
                ),
            }),
        }
    }

    /// The backends, in lookup order.
    pub fn backends(&self) -> &[UserDbBackend] {
        &self.backends
    }

    /// Looks a user up: `Ok(None)` when no backend knows them (doveadm's "User doesn't exist"),
    /// and for a name [`check_username`] refuses, which no template may turn into a path.
    pub fn lookup(&self, username: &str) -> Result<Option<UserRecord>, UserDbError> {
        if check_username(username).is_err() {
            return Ok(None);
        }
        for backend in &self.backends {
            if let Some(user) = backend.lookup(username)? {
                return Ok(Some(user));
            }
        }
        Ok(None)
    }

    /// Every user the userdb can list (doveadm's `-A`), each once, in file order. Only
    /// `passwd-file` can list users; `static` has no list and is skipped, like Dovecot's
    /// `static` userdb without `allow_all_users`. Fails when no backend can list.
    pub fn list_users(&self) -> Result<Vec<String>, UserDbError> {
        let mut users: Vec<String> = Vec::new();
        let mut listed = false;
        for backend in &self.backends {
            if let UserDbBackend::PasswdFile(p) = backend {
                listed = true;
                for u in p.list_users()? {
                    if !users.contains(&u) {
                        users.push(u);
                    }
                }
            }
        }
        if !listed {
            let drivers: Vec<&str> = self.backends.iter().map(UserDbBackend::driver).collect();
            return Err(UserDbError::CannotList {
                drivers: drivers.join(", "),
            });
        }
        Ok(users)
    }
}

/// Where the `userdb` section `sections` was opened.
fn section_location(
    settings: &pn_config::Settings,
    sections: &[pn_config::SectionId],
) -> Option<pn_config::Location> {
    settings
        .sections()
        .find(|(s, _)| *s == sections)
        .map(|(_, l)| l.clone())
        .or_else(|| {
            settings
                .iter()
                .find(|(p, _)| p.sections == sections)
                .map(|(_, s)| s.location.clone())
        })
}

/// Dovecot 2.4's `userdb static { fields { uid = vmail home = /var/mail/%{user} } }` as the
/// 2.3 `args` string.
fn fields_24(settings: &pn_config::Settings, sections: &[pn_config::SectionId]) -> String {
    settings
        .iter()
        .filter(|(p, _)| {
            p.sections.len() == 2
                && p.sections[..1] == *sections
                && p.sections[1].kind == "fields"
                && p.sections[1].name.is_none()
        })
        .map(|(p, s)| format!("{}={}", p.key, s.value))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why a userdb lookup failed (not finding a user is `Ok(None)`, not an error).
#[derive(Debug, thiserror::Error)]
pub enum UserDbError {
    /// A passwd-file could not be read.
    #[error("read({path}) failed: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A `userdb { }` section is wrong.
    #[error("{section}: {message}")]
    Config {
        /// `userdb` or `userdb NAME`.
        section: String,
        /// What is wrong.
        message: String,
    },
    /// A `%` variable in a template could not be expanded.
    #[error("cannot expand {what}: {source}")]
    Expand {
        /// Which template.
        what: String,
        /// The variable problem.
        #[source]
        source: pn_config::ExpandError,
    },
    /// A line of a passwd-file is invalid for a userdb lookup.
    #[error("{path}: user {user}: {message}")]
    InvalidEntry {
        /// The passwd-file.
        path: PathBuf,
        /// The user whose line it is.
        user: String,
        /// What is wrong.
        message: String,
    },
    /// `-A` with only userdbs that cannot list users.
    #[error("the userdb ({drivers}) cannot list users; use a passwd-file userdb or -F FILE")]
    CannotList {
        /// The configured drivers.
        drivers: String,
    },
}
