//! The push-notification view of the settings: plugin settings, driver lists (2.3's
//! numbered keys and 2.4's named filters), `%` expansion per user.

use std::collections::BTreeMap;

use crate::Location;
use crate::driver::{DriverSpec, driver_specs};
use crate::error::ConfigError;
use crate::model::{SectionId, Setting, Settings};
use crate::named::read_value;
use crate::vars::{UserVars, expand};

/// The drivers Dovecot 2.3.21 ships, and pn's own (matched case-insensitively).
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
        let mut specs = self.specs_from(DRIVER_ROOT, &plugin);
        specs.extend(self.named_filters(&|_, v| Ok(v.to_owned()))?);
        Ok(specs)
    }

    /// The legacy `push_notification_backend*` list, unexpanded.
    pub fn backends(&self) -> Result<Vec<DriverSpec>, ConfigError> {
        let plugin = read_all(&self.plugin_settings())?;
        Ok(self.specs_from(BACKEND_ROOT, &plugin))
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
        let mut drivers = self.specs_from(DRIVER_ROOT, &with_locations);
        drivers.extend(self.named_filters(&|(key, location), v| {
            expand(v, user).map_err(|source| ConfigError::Expand {
                key: key.to_owned(),
                location: location.clone(),
                source,
            })
        })?);
        let backends = self.specs_from(BACKEND_ROOT, &with_locations);
        Ok(UserSettings {
            plugin,
            locations,
            drivers,
            backends,
        })
    }
}

fn is_plugin_section(sections: &[SectionId]) -> bool {
    matches!(sections, [SectionId { kind, name: None }] if kind == "plugin")
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

impl Settings {
    /// The numbered 2.3 keys under `root`, marked with the configuration's Dovecot version.
    fn specs_from(
        &self,
        root: &str,
        plugin: &BTreeMap<String, (String, Location)>,
    ) -> Vec<DriverSpec> {
        let dovecot = self.dovecot_version();
        let mut specs = driver_specs(root, |key| {
            plugin
                .get(key)
                .map(|(value, location)| (value.clone(), Some(location.clone())))
        });
        for spec in &mut specs {
            spec.dovecot = dovecot;
        }
        specs
    }
}
