//! The `imap` backend: an RFC 5464 METADATA client for a remote IMAP server (Dovecot with
//! `imap_metadata = yes`, Cyrus).
//!
//! A blocking client over `std::net::TcpStream` and rustls: implicit TLS, STARTTLS or plain
//! (plain only to a loopback address unless `pn_metadata_imap_allow_plaintext = yes`), login
//! with AUTHENTICATE PLAIN (SASL-IR when offered) or LOGIN, master-user logins in both forms
//! (`user*master` and PLAIN's authorization id). Entries are read with GETMETADATA, written
//! with SETMETADATA (NIL removes), listed with `GETMETADATA (DEPTH infinity)`. Values that
//! cannot be quoted strings go as literals (`{n+}` with LITERAL+, else synchronizing), and
//! values with NUL as `literal8` when the server has BINARY. Server metadata is the mailbox
//! `""`; mailbox names are sent in modified UTF-7.
//!
//! The session is opened on the first call and reused until the store is dropped (LOGOUT).
//! The response parser is [`proto`]; it is fuzzed by the `imap_response` target.

mod conn;
pub mod proto;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use pn_userdb::UserRecord;

use self::conn::Session;
use self::proto::{Code, MetadataCode, Part, Status, Untagged};
use crate::{AttributeType, ErrorKind, MetadataError, Target};

/// How the connection is secured (`pn_metadata_imap_ssl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// `no`: plain TCP; only to a loopback address unless plaintext is allowed.
    No,
    /// `starttls` (the default): plain TCP, then STARTTLS before login.
    Starttls,
    /// `yes` (also `imaps`): TLS from the start (port 993).
    Yes,
}

/// How to log in (`pn_metadata_imap_auth_mech`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMech {
    /// `auto` (the default): AUTHENTICATE PLAIN when the server offers it, else LOGIN.
    Auto,
    /// `plain`: AUTHENTICATE PLAIN.
    Plain,
    /// `login`: the LOGIN command.
    Login,
}

/// The `imap` backend's settings (the `pn_metadata_imap_*` settings).
#[derive(Clone)]
pub struct ImapSettings {
    /// `pn_metadata_imap_host`: host name or address.
    pub host: String,
    /// `pn_metadata_imap_port`: default 993 with `ssl = yes`, else 143.
    pub port: Option<u16>,
    /// `pn_metadata_imap_ssl`.
    pub ssl: SslMode,
    /// `pn_metadata_imap_ssl_ca_file`: PEM certificates trusted in addition to the built-in
    /// (Mozilla) roots.
    pub ssl_ca_file: Option<PathBuf>,
    /// `pn_metadata_imap_allow_plaintext`: allow `ssl = no` to a non-loopback address.
    pub allow_plaintext: bool,
    /// `pn_metadata_imap_user`: the login name, `%` variables expanded per user (default `%u`).
    pub user: String,
    /// `pn_metadata_imap_password`: the user's password, or the master user's with a master
    /// user. Not expanded.
    pub password: String,
    /// `pn_metadata_imap_master_user`: log in as this master user on behalf of the user.
    pub master_user: Option<String>,
    /// `pn_metadata_imap_master_separator`: with a master user, log in as
    /// `<user><separator><master>` (Dovecot's `auth_master_user_separator`, e.g. `*`); when
    /// unset, AUTHENTICATE PLAIN with the user as authorization id.
    pub master_separator: Option<String>,
    /// `pn_metadata_imap_auth_mech`.
    pub auth_mech: AuthMech,
    /// `pn_metadata_imap_timeout`: connect, read and write timeout (default 30 s).
    pub timeout: Duration,
}

impl std::fmt::Debug for ImapSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("ssl", &self.ssl)
            .field("ssl_ca_file", &self.ssl_ca_file)
            .field("allow_plaintext", &self.allow_plaintext)
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .field("master_user", &self.master_user)
            .field("master_separator", &self.master_separator)
            .field("auth_mech", &self.auth_mech)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ImapSettings {
    /// Settings for `host` with every other setting at its default.
    pub fn new(host: impl Into<String>) -> ImapSettings {
        ImapSettings {
            host: host.into(),
            port: None,
            ssl: SslMode::Starttls,
            ssl_ca_file: None,
            allow_plaintext: false,
            user: "%u".to_owned(),
            password: String::new(),
            master_user: None,
            master_separator: None,
            auth_mech: AuthMech::Auto,
            timeout: Duration::from_secs(30),
        }
    }

    /// Reads the `pn_metadata_imap_*` settings through `get` (a setting's value, `None`
    /// when unset).
    pub fn from_settings(
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ImapSettings, MetadataError> {
        let bad = |setting: &str, reason: String| MetadataError::Setting {
            setting: setting.to_owned(),
            reason,
        };
        let val = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let host = val("pn_metadata_imap_host").ok_or_else(|| {
            bad(
                "pn_metadata_imap_host",
                "must be set for pn_metadata_backend = imap".to_owned(),
            )
        })?;
        let mut s = ImapSettings::new(host.trim());
        if let Some(p) = val("pn_metadata_imap_port") {
            s.port = Some(
                p.trim()
                    .parse()
                    .map_err(|_| bad("pn_metadata_imap_port", format!("invalid port {p:?}")))?,
            );
        }
        if let Some(v) = val("pn_metadata_imap_ssl") {
            s.ssl = match v.trim().to_ascii_lowercase().as_str() {
                "no" => SslMode::No,
                "starttls" => SslMode::Starttls,
                "yes" | "imaps" => SslMode::Yes,
                other => {
                    return Err(bad(
                        "pn_metadata_imap_ssl",
                        format!("{other:?}: expected no, starttls or yes"),
                    ));
                }
            };
        }
        s.ssl_ca_file = val("pn_metadata_imap_ssl_ca_file").map(PathBuf::from);
        if let Some(v) = val("pn_metadata_imap_allow_plaintext") {
            s.allow_plaintext = match v.trim().to_ascii_lowercase().as_str() {
                "yes" => true,
                "no" => false,
                other => {
                    return Err(bad(
                        "pn_metadata_imap_allow_plaintext",
                        format!("{other:?}: expected yes or no"),
                    ));
                }
            };
        }
        if let Some(u) = val("pn_metadata_imap_user") {
            s.user = u;
        }
        s.password = get("pn_metadata_imap_password").unwrap_or_default();
        s.master_user = val("pn_metadata_imap_master_user");
        s.master_separator = val("pn_metadata_imap_master_separator");
        if let Some(v) = val("pn_metadata_imap_auth_mech") {
            s.auth_mech = match v.trim().to_ascii_lowercase().as_str() {
                "auto" => AuthMech::Auto,
                "plain" => AuthMech::Plain,
                "login" => AuthMech::Login,
                other => {
                    return Err(bad(
                        "pn_metadata_imap_auth_mech",
                        format!("{other:?}: expected auto, plain or login"),
                    ));
                }
            };
        }
        if let Some(v) = val("pn_metadata_imap_timeout") {
            let ms = pn_config::time::parse_interval_msecs(v.trim())
                .map_err(|e| bad("pn_metadata_imap_timeout", e.to_string()))?;
            if ms == 0 {
                return Err(bad("pn_metadata_imap_timeout", "must not be 0".to_owned()));
            }
            s.timeout = Duration::from_millis(u64::from(ms));
        }
        Ok(s)
    }

    /// The port: the configured one, else 993 for implicit TLS, else 143.
    pub fn port(&self) -> u16 {
        self.port
            .unwrap_or(if self.ssl == SslMode::Yes { 993 } else { 143 })
    }
}

/// The credentials of one login.
#[derive(Clone)]
pub(crate) struct Login {
    /// The authentication identity (LOGIN's user name).
    pub(crate) authcid: String,
    /// PLAIN's authorization id (master-user login).
    pub(crate) authzid: Option<String>,
    pub(crate) password: String,
}

impl Login {
    fn display_name(&self) -> String {
        match &self.authzid {
            Some(z) => format!("{z} (as {})", self.authcid),
            None => self.authcid.clone(),
        }
    }
}

/// Why the IMAP server did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// A network or TLS-level I/O error.
    #[error("IMAP {what} failed: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// TLS failed (certificate, handshake).
    #[error("IMAP TLS: {0}")]
    Tls(String),
    /// The server said something the client does not understand.
    #[error("IMAP protocol error: {0}")]
    Protocol(String),
    /// The server closed the connection.
    #[error("IMAP server closed the connection: {0}")]
    Bye(String),
    /// Plain text to a remote host without `pn_metadata_imap_allow_plaintext`.
    #[error(
        "refusing to send credentials in plain text to {host}: set pn_metadata_imap_ssl = \
         starttls or yes (or pn_metadata_imap_allow_plaintext = yes)"
    )]
    Insecure {
        /// The host.
        host: String,
    },
    /// The server lacks a capability the configuration needs.
    #[error("IMAP server does not advertise {capability}, needed for {why}")]
    MissingCapability {
        /// The capability.
        capability: String,
        /// What needs it.
        why: &'static str,
    },
    /// LOGIN is disabled (typically before STARTTLS).
    #[error("IMAP server has disabled LOGIN (LOGINDISABLED): use pn_metadata_imap_ssl")]
    LoginDisabled,
    /// Login failed.
    #[error("IMAP login as {user} failed: {text}")]
    AuthFailed {
        /// Who tried.
        user: String,
        /// The server's text.
        text: String,
    },
    /// An inconsistent configuration.
    #[error("{0}")]
    Config(String),
    /// A value larger than the server allows (`[METADATA MAXSIZE n]`).
    #[error(
        "the value is too large: the IMAP server accepts at most {max} bytes per entry (METADATA MAXSIZE)"
    )]
    MaxSize {
        /// The server's limit in bytes.
        max: u64,
    },
    /// The server stores no more entries (`[METADATA TOOMANY]`).
    #[error("the IMAP server refuses more metadata entries (METADATA TOOMANY): {0}")]
    TooMany(String),
    /// The server has no private entries (`[METADATA NOPRIVATE]`).
    #[error("the IMAP server does not support /private entries (METADATA NOPRIVATE): {0}")]
    NoPrivate(String),
    /// A value with NUL and a server without BINARY.
    #[error("the value contains NUL bytes and the IMAP server does not advertise BINARY")]
    NulWithoutBinary,
    /// Any other NO or BAD.
    #[error("IMAP {command} failed: {}{}: {text}", status_text(*status), code_text(code))]
    Refused {
        /// The command.
        command: String,
        /// NO or BAD.
        status: Status,
        /// The response code.
        code: Option<Code>,
        /// The server's text.
        text: String,
    },
}

fn status_text(status: Status) -> &'static str {
    match status {
        Status::Ok => "OK",
        Status::No => "NO",
        Status::Bad => "BAD",
        Status::Preauth => "PREAUTH",
        Status::Bye => "BYE",
    }
}

fn code_text(code: &Option<Code>) -> String {
    match code {
        None => String::new(),
        Some(Code::Other(name, None)) => format!(" [{name}]"),
        Some(Code::Other(name, Some(args))) => format!(" [{name} {args}]"),
        Some(c) => format!(" [{c:?}]"),
    }
}

impl ImapError {
    /// The storage error class, for exit codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ImapError::Io { .. }
            | ImapError::Tls(_)
            | ImapError::Protocol(_)
            | ImapError::Bye(_) => ErrorKind::Temp,
            ImapError::Insecure { .. } | ImapError::Config(_) => ErrorKind::Params,
            ImapError::MissingCapability { .. }
            | ImapError::LoginDisabled
            | ImapError::NoPrivate(_) => ErrorKind::NotPossible,
            ImapError::AuthFailed { .. } => ErrorKind::Perm,
            ImapError::MaxSize { .. } | ImapError::TooMany(_) => ErrorKind::Limit,
            ImapError::NulWithoutBinary => ErrorKind::Params,
            ImapError::Refused { status, code, .. } => match code {
                Some(Code::Other(c, _)) => match c.as_str() {
                    "NONEXISTENT" | "TRYCREATE" => ErrorKind::NotFound,
                    "NOPERM" | "AUTHENTICATIONFAILED" | "AUTHORIZATIONFAILED" => ErrorKind::Perm,
                    "LIMIT" | "OVERQUOTA" => ErrorKind::Limit,
                    "UNAVAILABLE" | "INUSE" | "SERVERBUG" | "EXPUNGEISSUED" => ErrorKind::Temp,
                    "CANNOT" | "CONTACTADMIN" | "PRIVACYREQUIRED" => ErrorKind::NotPossible,
                    _ if *status == Status::Bad => ErrorKind::Params,
                    _ => ErrorKind::NotPossible,
                },
                _ if *status == Status::Bad => ErrorKind::Params,
                _ => ErrorKind::NotPossible,
            },
        }
    }
}

/// A user's metadata on a remote IMAP server.
pub struct ImapStore {
    settings: ImapSettings,
    login: Login,
    session: Mutex<Option<Session>>,
}

impl std::fmt::Debug for ImapStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapStore")
            .field("settings", &self.settings)
            .field("login", &self.login.display_name())
            .finish_non_exhaustive()
    }
}

impl Drop for ImapStore {
    fn drop(&mut self) {
        let session = match self.session.get_mut() {
            Ok(s) => s.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(s) = session {
            s.logout();
        }
    }
}

impl ImapStore {
    /// The store of `user`: `pn_metadata_imap_user` and `pn_metadata_imap_master_user` are
    /// expanded with the user's `%` variables. No connection is made yet.
    pub fn for_user(
        settings: &ImapSettings,
        user: &UserRecord,
    ) -> Result<ImapStore, MetadataError> {
        let vars = user.vars();
        let expand = |setting: &str, v: &str| {
            pn_config::vars::expand(v, &vars).map_err(|e| MetadataError::Setting {
                setting: setting.to_owned(),
                reason: e.to_string(),
            })
        };
        let name = expand("pn_metadata_imap_user", &settings.user)?;
        let login = match &settings.master_user {
            None => Login {
                authcid: name,
                authzid: None,
                password: settings.password.clone(),
            },
            Some(m) => {
                let master = expand("pn_metadata_imap_master_user", m)?;
                match &settings.master_separator {
                    Some(sep) => Login {
                        authcid: format!("{name}{sep}{master}"),
                        authzid: None,
                        password: settings.password.clone(),
                    },
                    None => Login {
                        authcid: master,
                        authzid: Some(name),
                        password: settings.password.clone(),
                    },
                }
            }
        };
        Ok(ImapStore {
            settings: settings.clone(),
            login,
            session: Mutex::new(None),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &ImapSettings {
        &self.settings
    }

    /// Runs `f` on the (lazily opened) session; a session that failed at the transport level
    /// is dropped so the next call reconnects.
    fn with_session<T>(
        &self,
        f: impl FnOnce(&mut Session) -> Result<T, ImapError>,
    ) -> Result<T, ImapError> {
        let mut guard = match self.session.lock() {
            Ok(g) => g,
            Err(poisoned) => {
                let mut g = poisoned.into_inner();
                *g = None;
                g
            }
        };
        let session = match &mut *guard {
            Some(s) => s,
            None => guard.insert(Session::open(&self.settings, &self.login)?),
        };
        let result = f(session);
        if let Err(e) = &result
            && e.kind() == ErrorKind::Temp
            && !matches!(e, ImapError::Refused { .. })
        {
            *guard = None;
        }
        result
    }

    fn require(session: &Session, target: Target<'_>) -> Result<(), ImapError> {
        let ok = match target {
            Target::Server => session.has_cap("METADATA") || session.has_cap("METADATA-SERVER"),
            Target::Mailbox(_) => session.has_cap("METADATA"),
        };
        if ok {
            Ok(())
        } else {
            Err(ImapError::MissingCapability {
                capability: match target {
                    Target::Server => "METADATA-SERVER".to_owned(),
                    Target::Mailbox(_) => "METADATA".to_owned(),
                },
                why: "pn_metadata_backend = imap (Dovecot: imap_metadata = yes)",
            })
        }
    }

    /// GETMETADATA of one entry; `Ok(None)` when it is not set.
    pub fn get(
        &self,
        target: Target<'_>,
        attr_type: AttributeType,
        key: &str,
    ) -> Result<Option<Vec<u8>>, MetadataError> {
        let entry = entry_name(attr_type, key);
        let mut parts = vec![Part::Text(b"GETMETADATA ".to_vec())];
        push_mailbox(&mut parts, target);
        proto::push_text(&mut parts, b" (");
        push_entry(&mut parts, &entry)?;
        proto::push_text(&mut parts, b")");
        let untagged = self.run(target, &parts, "GETMETADATA")?;
        Ok(metadata_values(untagged)
            .into_iter()
            .find(|(e, _)| e.eq_ignore_ascii_case(&entry))
            .and_then(|(_, v)| v))
    }

    /// SETMETADATA of one entry: `Some` sets, `None` removes (NIL).
    pub fn set(
        &self,
        target: Target<'_>,
        attr_type: AttributeType,
        key: &str,
        value: Option<&[u8]>,
    ) -> Result<(), MetadataError> {
        let entry = entry_name(attr_type, key);
        let binary_cap = self.with_session(|s| Ok(s.has_cap("BINARY")))?;
        let mut parts = vec![Part::Text(b"SETMETADATA ".to_vec())];
        push_mailbox(&mut parts, target);
        proto::push_text(&mut parts, b" (");
        push_entry(&mut parts, &entry)?;
        proto::push_text(&mut parts, b" ");
        match value {
            None => proto::push_text(&mut parts, b"NIL"),
            Some(v) => proto::push_string(&mut parts, v, binary_cap)
                .map_err(|_| ImapError::NulWithoutBinary)?,
        }
        proto::push_text(&mut parts, b")");
        self.run(target, &parts, "SETMETADATA")?;
        Ok(())
    }

    /// The entries whose names (relative to `/private/` or `/shared/`) start with `prefix`,
    /// relative to `prefix`, in the server's order: GETMETADATA with DEPTH infinity on the
    /// hierarchy level that contains `prefix`.
    pub fn list(
        &self,
        target: Target<'_>,
        attr_type: AttributeType,
        prefix: &str,
    ) -> Result<Vec<String>, MetadataError> {
        let parent = match prefix.trim_end_matches('/').rfind('/') {
            Some(i) => &prefix[..i],
            None => "",
        };
        // Dovecot 2.3 answers nothing for the root (`/private`) of server metadata, so a
        // root listing also asks for RFC 5464's and RFC 6154's top-level entries.
        let bases: Vec<String> = if parent.is_empty() {
            ["", "vendor", "comment", "admin", "specialuse"]
                .iter()
                .map(|k| entry_name(attr_type, k))
                .collect()
        } else {
            vec![entry_name(attr_type, parent)]
        };
        let mut parts = vec![Part::Text(b"GETMETADATA (DEPTH infinity) ".to_vec())];
        push_mailbox(&mut parts, target);
        proto::push_text(&mut parts, b" (");
        for (i, base) in bases.iter().enumerate() {
            if i > 0 {
                proto::push_text(&mut parts, b" ");
            }
            push_entry(&mut parts, base)?;
        }
        proto::push_text(&mut parts, b")");
        let untagged = self.run(target, &parts, "GETMETADATA")?;
        let root = format!("{}/", attr_type.imap_prefix());
        let mut keys = Vec::new();
        for (entry, value) in metadata_values(untagged) {
            if value.is_none() {
                continue;
            }
            let Some(rel) = strip_prefix_icase(&entry, &root) else {
                continue;
            };
            let Some(rest) = strip_prefix_icase(rel, prefix) else {
                continue;
            };
            if !rest.is_empty() && !keys.iter().any(|k: &String| k == rest) {
                keys.push(rest.to_owned());
            }
        }
        Ok(keys)
    }

    fn run(
        &self,
        target: Target<'_>,
        parts: &[Part],
        command: &str,
    ) -> Result<Vec<Untagged>, MetadataError> {
        let done = self.with_session(|s| {
            Self::require(s, target)?;
            s.command(parts)
        })?;
        if done.status == Status::Ok {
            return Ok(done.untagged);
        }
        Err(refusal(target, command, done.status, done.code, done.text))
    }
}

fn refusal(
    target: Target<'_>,
    command: &str,
    status: Status,
    code: Option<Code>,
    text: String,
) -> MetadataError {
    let text = strip_timing(&text).to_owned();
    let e = match code {
        Some(Code::Metadata(MetadataCode::MaxSize(max))) => ImapError::MaxSize { max },
        Some(Code::Metadata(MetadataCode::TooMany)) => ImapError::TooMany(text),
        Some(Code::Metadata(MetadataCode::NoPrivate)) => ImapError::NoPrivate(text),
        // Dovecot 2.3 says so without [NONEXISTENT] to GETMETADATA.
        None if text.starts_with("Mailbox doesn't exist") => {
            return MetadataError::MailboxNotFound {
                mailbox: target.mailbox().to_owned(),
            };
        }
        Some(Code::Other(c, _)) if c == "NONEXISTENT" || c == "TRYCREATE" => {
            return MetadataError::MailboxNotFound {
                mailbox: target.mailbox().to_owned(),
            };
        }
        code => ImapError::Refused {
            command: command.to_owned(),
            status,
            code,
            text,
        },
    };
    e.into()
}

/// The text without Dovecot's timing suffix (` (0.001 + 0.000 secs).`).
fn strip_timing(text: &str) -> &str {
    match text.rfind(" (") {
        Some(i)
            if text.ends_with(" secs).")
                && text[i + 2..text.len() - 7]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b" .+".contains(&b)) =>
        {
            &text[..i]
        }
        _ => text,
    }
}

fn strip_prefix_icase<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// `/private/<key>`, or `/private` for the empty key.
fn entry_name(attr_type: AttributeType, key: &str) -> String {
    let key = key.trim_end_matches('/');
    if key.is_empty() {
        attr_type.imap_prefix().to_owned()
    } else {
        format!("{}/{key}", attr_type.imap_prefix())
    }
}

fn push_mailbox(parts: &mut Vec<Part>, target: Target<'_>) {
    let name = match target {
        Target::Server => String::new(),
        Target::Mailbox(m) => pn_store::mutf7_encode(m),
    };
    // Modified UTF-7 is 7-bit without NUL: always a valid astring.
    let _ = proto::push_astring(parts, name.as_bytes());
}

fn push_entry(parts: &mut Vec<Part>, entry: &str) -> Result<(), MetadataError> {
    proto::push_astring(parts, entry.as_bytes()).map_err(|_| MetadataError::NulInValue)
}

fn metadata_values(untagged: Vec<Untagged>) -> Vec<(String, Option<Vec<u8>>)> {
    untagged
        .into_iter()
        .filter_map(|u| match u {
            Untagged::Metadata { entries, .. } => Some(entries),
            _ => None,
        })
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_dovecot_style_names() {
        let get = |k: &str| -> Option<String> {
            match k {
                "pn_metadata_imap_host" => Some("imap.example.com".into()),
                "pn_metadata_imap_ssl" => Some("imaps".into()),
                "pn_metadata_imap_master_user" => Some("admin".into()),
                "pn_metadata_imap_master_separator" => Some("*".into()),
                "pn_metadata_imap_password" => Some("secret".into()),
                "pn_metadata_imap_timeout" => Some("5 secs".into()),
                _ => None,
            }
        };
        let s = ImapSettings::from_settings(&get).expect("settings");
        assert_eq!(s.ssl, SslMode::Yes);
        assert_eq!(s.port(), 993);
        assert_eq!(s.timeout, Duration::from_secs(5));
        assert!(!format!("{s:?}").contains("secret"));
        let store = ImapStore::for_user(&s, &UserRecord::new("alice@example.com")).expect("store");
        assert_eq!(store.login.authcid, "alice@example.com*admin");
        assert_eq!(store.login.authzid, None);

        let none = |_: &str| None;
        assert!(ImapSettings::from_settings(&none).is_err());
        let bad = |k: &str| match k {
            "pn_metadata_imap_host" => Some("h".to_owned()),
            "pn_metadata_imap_ssl" => Some("maybe".to_owned()),
            _ => None,
        };
        assert!(ImapSettings::from_settings(&bad).is_err());
    }

    #[test]
    fn master_user_without_separator_uses_authzid() {
        let mut s = ImapSettings::new("localhost");
        s.master_user = Some("admin".into());
        let store = ImapStore::for_user(&s, &UserRecord::new("bob")).expect("store");
        assert_eq!(store.login.authcid, "admin");
        assert_eq!(store.login.authzid.as_deref(), Some("bob"));
    }

    #[test]
    fn entry_names_and_error_kinds() {
        assert_eq!(entry_name(AttributeType::Private, ""), "/private");
        assert_eq!(
            entry_name(AttributeType::Shared, "vendor/x"),
            "/shared/vendor/x"
        );
        assert_eq!(ImapError::MaxSize { max: 10 }.kind(), ErrorKind::Limit);
        assert!(matches!(
            refusal(Target::Mailbox("X"), "GETMETADATA", Status::No, Some(Code::Other("NONEXISTENT".into(), None)), String::new()),
            MetadataError::MailboxNotFound { mailbox } if mailbox == "X"
        ));
        let e = refusal(
            Target::Server,
            "SETMETADATA",
            Status::No,
            Some(Code::Metadata(MetadataCode::MaxSize(1024))),
            "Too large".into(),
        );
        assert_eq!(e.kind(), ErrorKind::Limit);
        assert_eq!(
            strip_timing("Mailbox doesn't exist: X (0.001 + 0.000 secs)."),
            "Mailbox doesn't exist: X"
        );
        assert_eq!(strip_timing("Done (soon) secs)."), "Done (soon) secs).");
        assert!(e.to_string().contains("at most 1024 bytes"), "{e}");
    }
}
