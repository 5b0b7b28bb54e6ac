//! The parsed configuration: assignments under filters and sections, and the effective
//! settings for one protocol.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::Location;

/// A `protocol` filter: `protocol lmtp { }` or `protocol !imap { }`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtocolFilter {
    /// Applies to this protocol.
    Is(String),
    /// Applies to every protocol but this one (`!name`).
    Not(String),
}

impl ProtocolFilter {
    /// Parses a `protocol` section name.
    pub fn parse(name: &str) -> ProtocolFilter {
        match name.strip_prefix('!') {
            Some(p) => ProtocolFilter::Not(p.to_owned()),
            None => ProtocolFilter::Is(name.to_owned()),
        }
    }

    /// Whether the filter applies to `protocol`.
    pub fn matches(&self, protocol: &str) -> bool {
        match self {
            ProtocolFilter::Is(p) => p == protocol,
            ProtocolFilter::Not(p) => p != protocol,
        }
    }
}

impl fmt::Display for ProtocolFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolFilter::Is(p) => f.write_str(p),
            ProtocolFilter::Not(p) => write!(f, "!{p}"),
        }
    }
}

/// The filters a setting is under. pn evaluates `protocol` only; settings under `local`,
/// `remote` or `local_name` filters are kept (and printed) but never in effect for pn.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Filter {
    /// The `protocol` filter, if any.
    pub protocol: Option<ProtocolFilter>,
    /// `local`, `remote` and `local_name` filters as `(kind, value)`.
    pub other: Vec<(String, String)>,
}

impl Filter {
    /// Whether this is the global scope (no filter at all).
    pub fn is_global(&self) -> bool {
        self.protocol.is_none() && self.other.is_empty()
    }

    /// Whether settings under this filter are in effect for `protocol` (`None`: global only).
    pub fn applies_to(&self, protocol: Option<&str>) -> bool {
        if !self.other.is_empty() {
            return false;
        }
        match (&self.protocol, protocol) {
            (None, _) => true,
            (Some(filter), Some(p)) => filter.matches(p),
            (Some(_), None) => false,
        }
    }
}

/// A section a setting is in: `plugin`, `namespace inbox`, `push_notification ox`, …
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SectionId {
    /// The section type (the word before the name).
    pub kind: String,
    /// The section name, if it has one.
    pub name: Option<String>,
}

/// A setting's full name: the sections it is in and its key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SettingPath {
    /// Enclosing sections, outermost first (filters are not part of the path).
    pub sections: Vec<SectionId>,
    /// The key.
    pub key: String,
}

impl SettingPath {
    /// A top-level key.
    pub fn top(key: impl Into<String>) -> SettingPath {
        SettingPath {
            sections: Vec::new(),
            key: key.into(),
        }
    }

    /// A key in an unnamed section (`plugin`, `mail_plugins`).
    pub fn in_section(kind: &str, key: impl Into<String>) -> SettingPath {
        SettingPath {
            sections: vec![SectionId {
                kind: kind.to_owned(),
                name: None,
            }],
            key: key.into(),
        }
    }

    /// Parses `plugin/key` or `section/name/key` as doveconf and `-o` write them: every
    /// component but the last is a section kind, optionally followed by its name when it is
    /// not the last one left. Only the forms `key`, `kind/key` and `kind/name/key` exist.
    pub fn parse(s: &str) -> SettingPath {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [kind, key] => SettingPath::in_section(kind, *key),
            [kind, name, key] => SettingPath {
                sections: vec![SectionId {
                    kind: (*kind).to_owned(),
                    name: Some((*name).to_owned()),
                }],
                key: (*key).to_owned(),
            },
            _ => SettingPath::top(s),
        }
    }
}

impl SettingPath {
    /// Whether the setting matters to pn: `mail_plugins` (both forms), `mail_location`,
    /// `mail_home`, `protocols`, `dovecot_config_version`, `push_notification*` keys, every
    /// key of `plugin { }` and of 2.4's `push_notification NAME { }` filters (with their
    /// `lua_settings { }`). A path with an
    /// empty key stands for a section start.
    pub fn is_relevant_to_pn(&self) -> bool {
        match self.sections.first() {
            None => {
                matches!(
                    self.key.as_str(),
                    "mail_plugins"
                        | "mail_location"
                        | "mail_home"
                        | "protocols"
                        | "dovecot_config_version"
                ) || self.key.starts_with("push_notification")
            }
            Some(first) => match self.sections.as_slice() {
                [_] => matches!(
                    (first.kind.as_str(), &first.name),
                    ("plugin", None) | ("mail_plugins", None) | ("push_notification", Some(_))
                ),
                // 2.4's `push_notification lua { lua_settings { … } }`.
                [_, inner] => {
                    first.kind == "push_notification"
                        && first.name.is_some()
                        && inner.kind == "lua_settings"
                        && inner.name.is_none()
                }
                _ => false,
            },
        }
    }
}

impl fmt::Display for SettingPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.sections {
            f.write_str(&s.kind)?;
            f.write_str("/")?;
            if let Some(name) = &s.name {
                f.write_str(name)?;
                f.write_str("/")?;
            }
        }
        f.write_str(&self.key)
    }
}

/// A setting value as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Text (quotes removed, `$` references resolved).
    Text(String),
    /// `<path`: the content of this file, read when the value is used.
    File(PathBuf),
}

impl Value {
    /// The text, reading the file of a `<path` value.
    pub fn read(&self) -> std::io::Result<String> {
        match self {
            Value::Text(t) => Ok(t.clone()),
            Value::File(path) => std::fs::read_to_string(path),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(t) => f.write_str(t),
            Value::File(p) => write!(f, "<{}", p.display()),
        }
    }
}

/// One `key = value` line of the configuration, with its scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The filters it is under.
    pub filter: Filter,
    /// The sections it is in and its key.
    pub path: SettingPath,
    /// The value.
    pub value: Value,
    /// Where the key was written.
    pub location: Location,
}

/// A section start (`kind [name] {`), kept so that empty sections such as 2.4's
/// `push_notification dlog { }` are visible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionStart {
    /// The filters it is under.
    pub filter: Filter,
    /// The section and the sections it is in, outermost first.
    pub sections: Vec<SectionId>,
    /// Where it was opened.
    pub location: Location,
}

/// One setting in effect: its value and where it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The value.
    pub value: Value,
    /// Where it was set.
    pub location: Location,
    /// Order of the assignment in the configuration.
    pub(crate) seq: usize,
}

/// The settings in effect for one protocol: global values overridden by the matching
/// `protocol` filters, later lines overriding earlier ones.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    pub(crate) protocol: Option<String>,
    pub(crate) map: BTreeMap<SettingPath, Setting>,
    pub(crate) sections: Vec<(Vec<SectionId>, Location)>,
}

impl Settings {
    /// The protocol these settings are for (`None`: global settings only).
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// A top-level setting.
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.map.get(&SettingPath::top(key))
    }

    /// Any setting by its path.
    pub fn get_path(&self, path: &SettingPath) -> Option<&Setting> {
        self.map.get(path)
    }

    /// All settings in effect, ordered by path.
    pub fn iter(&self) -> impl Iterator<Item = (&SettingPath, &Setting)> {
        self.map.iter()
    }

    /// Sections in effect (opened under a matching filter), in configuration order, each once.
    pub fn sections(&self) -> impl Iterator<Item = (&[SectionId], &Location)> {
        self.sections.iter().map(|(s, l)| (s.as_slice(), l))
    }

    /// The plugins `mail_plugins` loads: the 2.3 string (split on spaces and commas) and the
    /// 2.4 boolean list `mail_plugins { name = yes|no }`.
    pub fn mail_plugins(&self) -> Vec<String> {
        let mut plugins: Vec<String> = self
            .get("mail_plugins")
            .map(|s| s.value.to_string())
            .unwrap_or_default()
            .split([' ', ','])
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        for (path, setting) in &self.map {
            if path.sections.len() == 1
                && path.sections[0].kind == "mail_plugins"
                && path.sections[0].name.is_none()
            {
                // A bad value was refused when the configuration was checked.
                let on = crate::value::parse_bool(&setting.value.to_string()).unwrap_or(false);
                plugins.retain(|p| p != &path.key);
                if on {
                    plugins.push(path.key.clone());
                }
            }
        }
        plugins
    }

    /// Whether both `notify` and `push_notification` are in [`Settings::mail_plugins`].
    pub fn push_notification_loaded(&self) -> bool {
        let plugins = self.mail_plugins();
        ["notify", "push_notification"]
            .iter()
            .all(|p| plugins.iter().any(|q| q == p))
    }
}
