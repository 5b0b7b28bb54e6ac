//! Which setting has which type: one table, [`TYPED_SETTINGS`], read by
//! [`Config::check_values`] (every line of every file, filters included, and the `-o`
//! overrides) and by [`Settings::typed`], which the code that uses a value goes through.
//! Settings not in the table are text.

use crate::error::{ConfigError, Diagnostic};
use crate::mask::mask_url_secrets;
use crate::model::{SettingPath, Settings, Value};
use crate::time::{parse_interval_msecs, parse_interval_secs, parse_uint};
use crate::url::HttpUrl;
use crate::value::{
    ValueError, parse_bool, parse_enum, parse_gid, parse_octal, parse_port, parse_size, parse_uid,
};
use crate::{Config, Location};

/// The type of a setting's value, each with Dovecot's parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// `yes` / `no` ([`parse_bool`]).
    Bool,
    /// An unsigned 32-bit number ([`parse_uint`]).
    Uint,
    /// A size in bytes ([`parse_size`]).
    Size,
    /// A time interval where seconds are wanted ([`parse_interval_secs`]).
    Secs,
    /// A time interval where milliseconds are wanted ([`parse_interval_msecs`]).
    Msecs,
    /// A port number ([`parse_port`]).
    Port,
    /// An octal file mode ([`parse_octal`]).
    Octal,
    /// A uid or user name; empty means unset ([`parse_uid`]).
    Uid,
    /// A gid or group name; empty means unset ([`parse_gid`]).
    Gid,
    /// An HTTP URL; empty means unset ([`HttpUrl::parse`]).
    Url,
    /// One of these words, exactly ([`parse_enum`]).
    Enum(&'static [&'static str]),
}

impl ValueType {
    /// Parses `value` with this type's parser, keeping only whether it is valid.
    pub fn check(self, value: &str) -> Result<(), ValueError> {
        match self {
            ValueType::Bool => parse_bool(value).map(drop),
            ValueType::Uint => parse_uint(value).map(drop).map_err(Into::into),
            ValueType::Size => parse_size(value).map(drop),
            ValueType::Secs => parse_interval_secs(value).map(drop).map_err(Into::into),
            ValueType::Msecs => parse_interval_msecs(value).map(drop).map_err(Into::into),
            ValueType::Port => parse_port(value).map(drop),
            ValueType::Octal => parse_octal(value).map(drop),
            ValueType::Uid if value.is_empty() => Ok(()),
            ValueType::Uid => parse_uid(value).map(drop),
            ValueType::Gid if value.is_empty() => Ok(()),
            ValueType::Gid => parse_gid(value).map(drop),
            ValueType::Url if value.is_empty() => Ok(()),
            ValueType::Url => parse_url(value).map(drop),
            ValueType::Enum(words) => parse_enum(value, words).map(drop),
        }
    }

    /// What a valid value looks like, for the operator.
    pub fn describe(self) -> String {
        match self {
            ValueType::Bool => "yes or no".to_owned(),
            ValueType::Uint => "an unsigned number".to_owned(),
            ValueType::Size => "a size such as 512k, 10M or 1G".to_owned(),
            ValueType::Secs => "a time interval such as 30s, 5 mins or 1h".to_owned(),
            ValueType::Msecs => "a time interval such as 500ms, 30s or 5 mins".to_owned(),
            ValueType::Port => "a port number from 0 to 65535".to_owned(),
            ValueType::Octal => "an octal file mode such as 0600".to_owned(),
            ValueType::Uid => "a uid number or a user of /etc/passwd".to_owned(),
            ValueType::Gid => "a gid number or a group of /etc/group".to_owned(),
            ValueType::Url => "an http:// or https:// URL".to_owned(),
            ValueType::Enum(words) => format!("one of: {}", words.join(", ")),
        }
    }
}

/// An HTTP URL, the error carrying the URL with its password masked.
pub fn parse_url(value: &str) -> Result<HttpUrl, ValueError> {
    HttpUrl::parse(value).map_err(|source| ValueError::Url {
        url: mask_url_secrets(value),
        source,
    })
}

/// One row of [`TYPED_SETTINGS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypedSetting {
    /// The kinds of the enclosing sections, outermost first (names do not matter):
    /// `&["service", "inet_listener"]` for `service lmtp { inet_listener lmtp { port } }`.
    pub sections: &'static [&'static str],
    /// The key; `*` stands for every key of the section (2.4's `mail_plugins { name = yes }`).
    pub key: &'static str,
    /// Its type.
    pub value_type: ValueType,
}

const fn top(key: &'static str, value_type: ValueType) -> TypedSetting {
    TypedSetting {
        sections: &[],
        key,
        value_type,
    }
}

const fn within(
    sections: &'static [&'static str],
    key: &'static str,
    value_type: ValueType,
) -> TypedSetting {
    TypedSetting {
        sections,
        key,
        value_type,
    }
}

use ValueType::{Bool, Gid, Msecs, Octal, Port, Size, Uid, Uint, Url};

/// Every typed setting pn reads. Driver arguments of 2.3 driver strings (`ox:url=…
/// cache_lifetime=…`) are not settings of their own; [`Config::check`] checks them.
pub const TYPED_SETTINGS: &[TypedSetting] = &[
    // Privileges (mail-storage-service).
    top("mail_uid", Uid),
    top("mail_gid", Gid),
    top("first_valid_uid", Uint),
    top("last_valid_uid", Uint),
    top("first_valid_gid", Uint),
    top("last_valid_gid", Uint),
    // Delivery: dovecot-lda and LMTP.
    top("lda_mailbox_autocreate", Bool),
    top("lda_mailbox_autosubscribe", Bool),
    top("lmtp_save_to_detail_mailbox", Bool),
    top("lmtp_add_received_header", Bool),
    top(
        "lmtp_hdr_delivery_address",
        ValueType::Enum(&["final", "none", "original"]),
    ),
    top("lmtp_max_mail_size", Size),
    top("lmtp_max_recipients", Uint),
    top("pn_lmtp_session_limit", Uint),
    top("pn_lmtp_idle_timeout", Msecs),
    top("pn_lmtp_command_timeout", Msecs),
    top("pn_status_cache_folders", Uint),
    // Services.
    within(&["service"], "process_limit", Uint),
    within(&["service"], "client_limit", Uint),
    within(&["service", "inet_listener"], "port", Port),
    within(&["service", "unix_listener"], "mode", Octal),
    // pn-metadata (words as its reader takes them).
    top(
        "pn_metadata_backend",
        ValueType::Enum(&["", "file", "imap"]),
    ),
    top("pn_metadata_imap_port", Port),
    top(
        "pn_metadata_imap_ssl",
        ValueType::Enum(&["no", "starttls", "yes", "imaps"]),
    ),
    top(
        "pn_metadata_imap_allow_plaintext",
        ValueType::Enum(&["yes", "no"]),
    ),
    top(
        "pn_metadata_imap_auth_mech",
        ValueType::Enum(&["auto", "plain", "login"]),
    ),
    top("pn_metadata_imap_timeout", Msecs),
    // Dovecot 2.4's push_notification settings, in a named filter or global.
    within(&["push_notification"], "push_notification_ox_url", Url),
    within(
        &["push_notification"],
        "push_notification_ox_cache_ttl",
        Msecs,
    ),
    within(
        &["push_notification"],
        "push_notification_ox_user_from_metadata",
        Bool,
    ),
    within(&["push_notification"], "http_client_request_timeout", Msecs),
    within(
        &["push_notification"],
        "http_client_request_max_attempts",
        Uint,
    ),
    top("push_notification_ox_url", Url),
    top("push_notification_ox_cache_ttl", Msecs),
    top("push_notification_ox_user_from_metadata", Bool),
    // Dovecot 2.4's boolean list of plugins.
    within(&["mail_plugins"], "*", Bool),
];

/// The type of the setting at `path`, if it has one.
pub fn type_of(path: &SettingPath) -> Option<ValueType> {
    TYPED_SETTINGS
        .iter()
        .find(|t| {
            (t.key == path.key || t.key == "*")
                && t.sections.len() == path.sections.len()
                && t.sections
                    .iter()
                    .zip(&path.sections)
                    .all(|(kind, s)| *kind == s.kind)
        })
        .map(|t| t.value_type)
}

impl Config {
    /// Checks every typed value ([`TYPED_SETTINGS`]) of every line, whatever filter it is
    /// under, and of the `-o` overrides, as Dovecot refuses to start on one. The errors
    /// point at the value (`file:line:col`) and carry Dovecot's text.
    pub fn check_values(&self) -> Result<(), ConfigError> {
        let mut errors = Vec::new();
        for (i, a) in self.assignments.iter().enumerate() {
            let (Some(value_type), Value::Text(text)) = (type_of(&a.path), &a.value) else {
                continue;
            };
            if let Err(e) = value_type.check(text) {
                let (location, source_line) = self
                    .value_sites
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| (a.location.clone(), String::new()));
                errors.push(Diagnostic {
                    location,
                    message: e.to_string(),
                    expected: Some(format!("{}: {}", a.path, value_type.describe())),
                    source_line: mask_url_secrets(&source_line),
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(errors))
        }
    }

    /// Where the value of the assignment written at `location` starts, and its source line.
    pub(crate) fn value_site(&self, location: &Location) -> Option<&(Location, String)> {
        let i = self
            .assignments
            .iter()
            .position(|a| &a.location == location)?;
        self.value_sites.get(i)
    }
}

impl Settings {
    /// The value of top-level `key` parsed with `parse` (one of [`crate::value`]'s, or
    /// [`parse_url`]…): `None` when unset, the error located at the line that set it.
    pub fn typed<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> Result<T, ValueError>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(setting) = self.get(key) else {
            return Ok(None);
        };
        let text = setting.value.to_string();
        parse(&text).map(Some).map_err(|source| ConfigError::Value {
            key: key.to_owned(),
            location: setting.location.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lookup_matches_section_kinds_not_names() {
        let port = SettingPath {
            sections: vec![
                crate::SectionId {
                    kind: "service".into(),
                    name: Some("lmtp".into()),
                },
                crate::SectionId {
                    kind: "inet_listener".into(),
                    name: Some("lmtp".into()),
                },
            ],
            key: "port".into(),
        };
        assert_eq!(type_of(&port), Some(Port));
        assert_eq!(type_of(&SettingPath::top("first_valid_uid")), Some(Uint));
        assert_eq!(type_of(&SettingPath::top("port")), None);
        assert_eq!(type_of(&SettingPath::top("login_greeting")), None);
        assert_eq!(
            type_of(&SettingPath::in_section("mail_plugins", "quota")),
            Some(Bool)
        );
        assert_eq!(type_of(&SettingPath::top("*")), None);
    }

    #[test]
    fn every_type_refuses_garbage() {
        for row in TYPED_SETTINGS {
            assert!(
                row.value_type.check("PH_PLACEHOLDER x").is_err(),
                "{}",
                row.key
            );
        }
    }
}
