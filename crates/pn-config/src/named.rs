//! Dovecot 2.4's `push_notification NAME { … }` filters, mapped to driver specs equal to 2.3
//! driver strings, so the drivers see one kind of configuration.
//!
//! The settings of a filter are named three ways in 2.4 (`doveconf -n` prints the shortest):
//! the full name (`push_notification_ox_url`), without the filter's prefix (`ox_url`, as
//! Dovecot's documentation writes it) and without the driver's prefix (`url`). All three mean
//! the same here. A name with the `push_notification_` or `ox_` prefix that no driver knows is
//! an error, as in Dovecot (`Unknown setting: push_notification_lua_file`).

use crate::Location;
use crate::driver::{DriverArgs, DriverSpec};
use crate::error::ConfigError;
use crate::model::{SectionId, Setting, Settings, Value};
use crate::time::{parse_interval_msecs, parse_uint};

/// Rewrites one value of a named filter (e.g. `%` expansion); gets the key and location.
pub(crate) type Transform<'a> = dyn Fn((&str, &Location), &str) -> Result<String, ConfigError> + 'a;

/// The section kind of the filters.
const FILTER: &str = "push_notification";

/// The Lua driver's settings table (`lua_settings { key = value }`), handed to the driver as
/// `lua_settings/key=value` arguments (Dovecot's own name for such entries).
const LUA_SETTINGS: &str = "lua_settings";

/// What one setting of a named filter means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    /// `driver`: the driver's name (default: the filter's name).
    Driver,
    /// `name`: set by Dovecot from the filter's name; nothing to do.
    Name,
    /// `url` → `url=`.
    OxUrl,
    /// `cache_ttl` (milliseconds in 2.4) → `cache_lifetime=` in seconds.
    OxCacheTtl,
    /// `user_from_metadata = yes` → the flag `user_from_metadata`.
    OxUserFromMetadata,
    /// `http_client_request_timeout` → `timeout_msecs=`.
    Timeout,
    /// `http_client_request_max_attempts` N → `max_retries=N-1`.
    MaxAttempts,
    /// `lua_file` → `file=`.
    LuaFile,
    /// Any other setting (`http_client_*`, `ssl_*`, …): handed over as `key=value`.
    Other,
    /// A `push_notification_…` or `ox_…` name no driver has.
    Unknown,
}

/// The full names of the settings pn reads from a filter, with what they mean.
const KNOWN: &[(&str, Meaning)] = &[
    ("push_notification_driver", Meaning::Driver),
    ("push_notification_name", Meaning::Name),
    ("push_notification_ox_url", Meaning::OxUrl),
    ("push_notification_ox_cache_ttl", Meaning::OxCacheTtl),
    (
        "push_notification_ox_user_from_metadata",
        Meaning::OxUserFromMetadata,
    ),
    ("lua_file", Meaning::LuaFile),
    ("http_client_request_timeout", Meaning::Timeout),
    ("http_client_request_max_attempts", Meaning::MaxAttempts),
];

/// What `key` means in the filter `push_notification NAME` whose driver is `driver`.
///
/// Dovecot 2.4 looks a key up as written, then as `push_notification_KEY`, then as
/// `push_notification_NAME_KEY` (so `url` works in `push_notification ox { }` but not in
/// `push_notification ox1 { driver = ox }`). A name pn does not know is passed on unless it
/// is clearly meant for push notifications (a `push_notification_`, `ox_` or `lua_` prefix)
/// or is a single word (no Dovecot setting is): those are unknown, as in Dovecot.
fn meaning(name: &str, driver: &str, key: &str) -> Meaning {
    let candidates = [
        key.to_owned(),
        format!("push_notification_{key}"),
        format!("push_notification_{name}_{key}"),
    ];
    let found = candidates
        .iter()
        .find_map(|c| KNOWN.iter().find(|(k, _)| k == c).map(|(_, m)| *m));
    match found {
        Some(Meaning::OxUrl | Meaning::OxCacheTtl | Meaning::OxUserFromMetadata)
            if !driver.eq_ignore_ascii_case("ox") =>
        {
            Meaning::Other
        }
        Some(m) => m,
        None if !key.contains('_')
            || ["push_notification_", "ox_", "lua_"]
                .iter()
                .any(|p| key.starts_with(p)) =>
        {
            Meaning::Unknown
        }
        None => Meaning::Other,
    }
}

/// Dovecot's message for a setting it does not know in the filter `push_notification NAME`.
fn unknown_setting(name: &str, key: &str) -> String {
    let mut message = format!(
        "Unknown setting: {key} (push_notification_{key} or push_notification_{name}_{key} not \
         found either."
    );
    if let Some((full, _)) = KNOWN
        .iter()
        .find(|(full, _)| full.strip_prefix("push_notification_ox_") == Some(key))
    {
        message.push_str(&format!(" Did you mean {full}?"));
    }
    message.push(')');
    message
}

impl Settings {
    /// Dovecot 2.4's `push_notification NAME { … }` filters in configuration order, as driver
    /// specs equal to 2.3 driver strings (see the module documentation and docs/config.md).
    pub(crate) fn named_filters(
        &self,
        transform: &Transform<'_>,
    ) -> Result<Vec<DriverSpec>, ConfigError> {
        let mut specs = Vec::new();
        for (sections, section_location) in self.sections() {
            let [
                SectionId {
                    kind,
                    name: Some(name),
                },
            ] = sections
            else {
                continue;
            };
            if kind != FILTER {
                continue;
            }
            specs.push(self.named_filter(sections, name, section_location, transform)?);
        }
        Ok(specs)
    }

    fn named_filter(
        &self,
        sections: &[SectionId],
        name: &str,
        section_location: &Location,
        transform: &Transform<'_>,
    ) -> Result<DriverSpec, ConfigError> {
        let mut entries: Vec<(&str, &Setting)> = self
            .iter()
            .filter(|(p, _)| p.sections == sections)
            .map(|(p, s)| (p.key.as_str(), s))
            .collect();
        entries.sort_by_key(|(_, s)| s.seq);
        let mut lua_settings: Vec<(&str, &Setting)> = self
            .iter()
            .filter(|(p, _)| {
                p.sections.len() == 2
                    && p.sections[..1] == *sections
                    && p.sections[1].kind == LUA_SETTINGS
                    && p.sections[1].name.is_none()
            })
            .map(|(p, s)| (p.key.as_str(), s))
            .collect();
        lua_settings.sort_by_key(|(_, s)| s.seq);

        // The driver first: what the other settings mean depends on it.
        let mut driver = name.to_owned();
        let mut location = section_location.clone();
        for (key, setting) in &entries {
            if meaning(name, name, key) == Meaning::Driver {
                let value = transform((key, &setting.location), &read_value(key, setting)?)?;
                if !value.is_empty() {
                    driver = value;
                }
                location = setting.location.clone();
            }
        }

        let mut args = DriverArgs::default();
        for (key, setting) in entries {
            let at = &setting.location;
            let value = transform((key, at), &read_value(key, setting)?)?;
            let invalid = |message: String| ConfigError::Setting {
                key: key.to_owned(),
                location: at.clone(),
                message,
            };
            match meaning(name, &driver, key) {
                Meaning::Driver | Meaning::Name => {}
                Meaning::OxUrl => args.insert("url", &value),
                Meaning::OxCacheTtl => {
                    let msecs =
                        parse_interval_msecs(&value).map_err(|source| ConfigError::Time {
                            key: key.to_owned(),
                            location: at.clone(),
                            source,
                        })?;
                    if msecs == 0 {
                        return Err(invalid(
                            "push_notification_ox_cache_ttl must not be 0".to_owned(),
                        ));
                    }
                    // 2.4 keeps milliseconds but then uses the number as seconds (a bug,
                    // docs/compat.md); pn keeps the meaning: whole seconds, rounded up.
                    args.insert("cache_lifetime", &format!("{}s", msecs.div_ceil(1000)));
                }
                Meaning::OxUserFromMetadata => {
                    if parse_bool(&value).map_err(invalid)? {
                        args.insert("user_from_metadata", "");
                    }
                }
                Meaning::Timeout => {
                    let msecs =
                        parse_interval_msecs(&value).map_err(|source| ConfigError::Time {
                            key: key.to_owned(),
                            location: at.clone(),
                            source,
                        })?;
                    args.insert("timeout_msecs", &msecs.to_string());
                }
                Meaning::MaxAttempts => {
                    let attempts =
                        parse_uint(&value).map_err(|e| invalid(format!("{key}: {e}")))?;
                    args.insert("max_retries", &attempts.saturating_sub(1).to_string());
                }
                Meaning::LuaFile => args.insert("file", &value),
                Meaning::Other => args.insert(key, &value),
                Meaning::Unknown => return Err(invalid(unknown_setting(name, key))),
            }
        }
        for (key, setting) in lua_settings {
            let value = transform((key, &setting.location), &read_value(key, setting)?)?;
            args.insert(&format!("{LUA_SETTINGS}/{key}"), &value);
        }

        let raw_args = args
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    k.to_owned()
                } else {
                    format!("{k}={v}")
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        Ok(DriverSpec {
            key: format!("{FILTER} {name}"),
            name: driver,
            raw_args: Some(raw_args),
            args,
            location: Some(location),
            dovecot: self.dovecot_version(),
        })
    }
}

/// Dovecot's booleans.
fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "y" | "1" | "true" => Ok(true),
        "no" | "n" | "0" | "false" => Ok(false),
        _ => Err(format!("Invalid boolean value: {value} (use yes or no)")),
    }
}

/// The value of a setting, reading a `<file` value.
pub(crate) fn read_value(key: &str, setting: &Setting) -> Result<String, ConfigError> {
    setting
        .value
        .read()
        .map_err(|source| ConfigError::ValueFile {
            key: key.to_owned(),
            path: match &setting.value {
                Value::File(path) => path.clone(),
                Value::Text(_) => Default::default(),
            },
            location: setting.location.clone(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_looked_up_as_dovecot_2_4_does() {
        for key in ["url", "ox_url", "push_notification_ox_url"] {
            assert_eq!(meaning("ox", "ox", key), Meaning::OxUrl, "{key}");
        }
        // `url` is push_notification_ox1_url in `push_notification ox1 { }`: unknown.
        assert_eq!(meaning("ox1", "ox", "url"), Meaning::Unknown);
        assert_eq!(meaning("ox1", "ox", "ox_url"), Meaning::OxUrl);
        assert_eq!(
            meaning("ox", "OX", "user_from_metadata"),
            Meaning::OxUserFromMetadata
        );
        assert_eq!(meaning("ox1", "ox", "driver"), Meaning::Driver);
        assert_eq!(meaning("x", "ox", "name"), Meaning::Name);
    }

    #[test]
    fn names_dovecot_rejects_are_unknown() {
        for key in ["push_notification_lua_file", "lua_foo", "foo", "ox_uri"] {
            assert_eq!(meaning("lua", "lua", key), Meaning::Unknown, "{key}");
        }
        assert_eq!(meaning("lua", "lua", "lua_file"), Meaning::LuaFile);
        assert_eq!(
            meaning("ox", "ox", "http_client_max_idle_time"),
            Meaning::Other
        );
        // Another driver's settings are accepted and have no effect.
        assert_eq!(meaning("lua", "lua", "ox_url"), Meaning::Other);
        assert_eq!(
            unknown_setting("ox1", "url"),
            "Unknown setting: url (push_notification_url or push_notification_ox1_url not found \
             either. Did you mean push_notification_ox_url?)"
        );
    }

    #[test]
    fn booleans_are_dovecots() {
        assert_eq!(parse_bool("YES"), Ok(true));
        assert_eq!(parse_bool("no"), Ok(false));
        assert!(parse_bool("maybe").is_err());
    }
}
