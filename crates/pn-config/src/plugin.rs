//! The push-notification view of the settings: plugin settings, driver lists (2.3's
//! numbered keys and 2.4's named filters), `%` expansion per user.

use std::collections::BTreeMap;

use crate::Location;
use crate::driver::{DriverArgs, DriverSpec, driver_specs};
use crate::error::ConfigError;
use crate::model::{SectionId, Setting, Settings, Value};
use crate::time::parse_interval_msecs;
use crate::vars::{UserVars, expand};

/// Rewrites one value of a named filter (e.g. `%` expansion); gets the key and location.
type Transform<'a> = dyn Fn((&str, &Location), &str) -> Result<String, ConfigError> + 'a;

/// The drivers Dovecot 2.3.21 ships, and pn's `webhook` (matched case-insensitively).
pub const KNOWN_DRIVERS: &[&str] = &["dlog", "ox", "lua", "webhook", "devicetoken", "webpush"];

/// The 2.3 driver keys and the legacy fallback (spec §3.1).
pub(crate) const DRIVER_ROOT: &str = "push_notification_driver";
pub(crate) const BACKEND_ROOT: &str = "push_notification_backend";

/// One user's push-notification settings, `%` variables expanded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserSettings {
    /// Plugin settings: top-level keys, overridden by the keys of `plugin { }`.
    pub plugin: BTreeMap<String, String>,
    /// Where each key of [`UserSettings::plugin`] was set.
    pub locations: BTreeMap<String, Location>,
    /// The driver list: `push_notification_driver`, `…driver2`, … then 2.4's
    /// `push_notification NAME { }` filters.
    pub drivers: Vec<DriverSpec>,
    /// The legacy `push_notification_backend*` list, used only when no driver loads.
    pub backends: Vec<DriverSpec>,
}

impl Settings {
    /// The raw plugin settings: top-level `push_notification*` settings (2.4 style), then
    /// every key of `plugin { }` (which wins), as Dovecot 2.3's `mail_user_plugin_getenv()`
    /// sees them. Values are not expanded.
    pub fn plugin_settings(&self) -> BTreeMap<String, &Setting> {
        let mut out = BTreeMap::new();
        for (path, setting) in self.iter() {
            if path.sections.is_empty() && path.key.starts_with("push_notification") {
                out.insert(path.key.clone(), setting);
            }
        }
        for (path, setting) in self.iter() {
            if is_plugin_section(&path.sections) {
                out.insert(path.key.clone(), setting);
            }
        }
        out
    }

    /// The drivers configured for this protocol with unexpanded values (for display and
    /// checks). `<file` values are read.
    pub fn drivers(&self) -> Result<Vec<DriverSpec>, ConfigError> {
        let plugin = read_all(&self.plugin_settings())?;
        let mut specs = specs_from(DRIVER_ROOT, &plugin);
        specs.extend(self.named_filters(&|_, v| Ok(v.to_owned()))?);
        Ok(specs)
    }

    /// The legacy `push_notification_backend*` list, unexpanded.
    pub fn backends(&self) -> Result<Vec<DriverSpec>, ConfigError> {
        let plugin = read_all(&self.plugin_settings())?;
        Ok(specs_from(BACKEND_ROOT, &plugin))
    }

    /// One user's settings: plugin settings with `%` variables expanded for `user`, and the
    /// driver lists built from the expanded values. An unknown variable in a
    /// `push_notification*` key is an error; other plugins' keys (which may use variables
    /// only Dovecot knows, such as `%{userdb:…}`) keep their text when they cannot be
    /// expanded.
    pub fn for_user(&self, user: &UserVars) -> Result<UserSettings, ConfigError> {
        let raw = read_all(&self.plugin_settings())?;
        let mut plugin = BTreeMap::new();
        let mut locations = BTreeMap::new();
        for (key, (value, location)) in &raw {
            let expanded = match expand(value, user) {
                Ok(v) => v,
                Err(_) if !key.starts_with("push_notification") => value.clone(),
                Err(source) => {
                    return Err(ConfigError::Expand {
                        key: key.clone(),
                        location: location.clone(),
                        source,
                    });
                }
            };
            plugin.insert(key.clone(), expanded);
            locations.insert(key.clone(), location.clone());
        }
        let with_locations: BTreeMap<String, (String, Location)> = plugin
            .iter()
            .filter_map(|(k, v)| {
                locations
                    .get(k)
                    .map(|l| (k.clone(), (v.clone(), l.clone())))
            })
            .collect();
        let mut drivers = specs_from(DRIVER_ROOT, &with_locations);
        drivers.extend(self.named_filters(&|(key, location), v| {
            expand(v, user).map_err(|source| ConfigError::Expand {
                key: key.to_owned(),
                location: location.clone(),
                source,
            })
        })?);
        let backends = specs_from(BACKEND_ROOT, &with_locations);
        Ok(UserSettings {
            plugin,
            locations,
            drivers,
            backends,
        })
    }

    /// Dovecot 2.4's `push_notification NAME { … }` filters as driver specs equivalent to 2.3
    /// driver strings: the driver is `push_notification_driver` or NAME; settings map to the
    /// 2.3 arguments (`push_notification_ox_url` → `url`, `push_notification_ox_cache_ttl` →
    /// `cache_lifetime`, `push_notification_ox_user_from_metadata = yes` → the flag
    /// `user_from_metadata`, `http_client_request_timeout` → `timeout_msecs`,
    /// `http_client_request_max_attempts` N → `max_retries` N-1, `lua_file` → `file`, any other
    /// `push_notification_<driver>_<x>` → `x`, anything else unchanged).
    fn named_filters(&self, transform: &Transform<'_>) -> Result<Vec<DriverSpec>, ConfigError> {
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
            if kind != "push_notification" {
                continue;
            }
            let mut entries: Vec<(&str, &Setting)> = self
                .iter()
                .filter(|(p, _)| p.sections == sections)
                .map(|(p, s)| (p.key.as_str(), s))
                .collect();
            entries.sort_by_key(|(_, s)| s.seq);
            let mut driver = name.clone();
            let mut location = section_location.clone();
            let mut args: Vec<String> = Vec::new();
            for (key, setting) in entries {
                let value = read_value(key, setting)?;
                let value = transform((key, &setting.location), &value)?;
                if key == DRIVER_ROOT {
                    if !value.is_empty() {
                        driver = value;
                    }
                    location = setting.location.clone();
                    continue;
                }
                if let Some(arg) = map_named_setting(&driver, key, &value) {
                    args.push(arg);
                }
            }
            let raw_args = args.join(" ");
            specs.push(DriverSpec {
                key: format!("push_notification {name}"),
                name: driver,
                args: DriverArgs::parse(&raw_args),
                raw_args: Some(raw_args),
                location: Some(location),
            });
        }
        Ok(specs)
    }
}

fn map_named_setting(driver: &str, key: &str, value: &str) -> Option<String> {
    let yes = matches!(value, "yes" | "y" | "1" | "true");
    let driver = driver.to_ascii_lowercase();
    Some(match key {
        "push_notification_ox_url" => format!("url={value}"),
        "push_notification_ox_cache_ttl" => format!("cache_lifetime={value}"),
        "push_notification_ox_user_from_metadata" => {
            if !yes {
                return None;
            }
            "user_from_metadata".to_owned()
        }
        "http_client_request_timeout" => match parse_interval_msecs(value) {
            Ok(ms) => format!("timeout_msecs={ms}"),
            Err(_) => format!("timeout_msecs={value}"),
        },
        "http_client_request_max_attempts" => match value.parse::<u32>() {
            Ok(n) => format!("max_retries={}", n.saturating_sub(1)),
            Err(_) => format!("max_retries={value}"),
        },
        "lua_file" => format!("file={value}"),
        _ => {
            let prefix = format!("push_notification_{driver}_");
            match key.strip_prefix(&prefix) {
                Some(rest) => format!("{rest}={value}"),
                None => format!("{key}={value}"),
            }
        }
    })
}

fn is_plugin_section(sections: &[SectionId]) -> bool {
    matches!(sections, [SectionId { kind, name: None }] if kind == "plugin")
}

fn read_value(key: &str, setting: &Setting) -> Result<String, ConfigError> {
    setting.value.read().map_err(|source| match &setting.value {
        Value::File(path) => ConfigError::ValueFile {
            key: key.to_owned(),
            path: path.clone(),
            location: setting.location.clone(),
            source,
        },
        Value::Text(_) => ConfigError::ValueFile {
            key: key.to_owned(),
            path: Default::default(),
            location: setting.location.clone(),
            source,
        },
    })
}

/// Reads every value; only `<file` values of keys that start with `push_notification` are
/// read from disk (others, such as `ssl_cert`, stay `<path` as Dovecot leaves them).
fn read_all(
    settings: &BTreeMap<String, &Setting>,
) -> Result<BTreeMap<String, (String, Location)>, ConfigError> {
    let mut out = BTreeMap::new();
    for (key, setting) in settings {
        let value = if key.starts_with("push_notification") {
            read_value(key, setting)?
        } else {
            setting.value.to_string()
        };
        out.insert(key.clone(), (value, setting.location.clone()));
    }
    Ok(out)
}

fn specs_from(root: &str, plugin: &BTreeMap<String, (String, Location)>) -> Vec<DriverSpec> {
    driver_specs(root, |key| {
        plugin
            .get(key)
            .map(|(value, location)| (value.clone(), Some(location.clone())))
    })
}
