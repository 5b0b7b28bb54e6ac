//! `pn config check`: what Dovecot would silently do differently from what was meant.

use crate::error::{Diagnostic, Warning};
use crate::mask::mask_url_secrets;
use crate::plugin::KNOWN_DRIVERS;
use crate::time::{parse_interval_secs, parse_uint};
use crate::types::parse_url;
use crate::value::{ValueError, parse_size};
use crate::vars::{ExpandError, UserVars, expand};
use crate::{Config, Location};
use crate::{ConfigError, DriverSpec};

impl Config {
    /// Problems that make pn (and Dovecot) not do what the configuration seems to want:
    /// parse warnings; per protocol, drivers configured while `notify` and
    /// `push_notification` are not both loaded (and the reverse); unknown driver names; an
    /// ox driver without `url`.
    ///
    /// Errors are returned as `Err`: unreadable `<file` values, unknown `%` variables in
    /// driver values, and every value of the wrong type, each located at its
    /// `file:line:col` ([`ConfigError::Invalid`]): the typed settings
    /// ([`Config::check_values`]) and the typed driver arguments (ox `url`,
    /// `cache_lifetime`, `max_retries`, `timeout_msecs`; lua `memory_limit`,
    /// `call_timeout_msecs`).
    pub fn check(&self) -> Result<Vec<Warning>, ConfigError> {
        let mut errors = match self.check_values() {
            Ok(()) => Vec::new(),
            Err(ConfigError::Invalid(d)) => d,
            Err(e) => return Err(e),
        };
        let mut warnings = self.warnings().to_vec();
        let mut any_driver = false;
        let mut seen: Vec<(String, u32, u32)> = Vec::new();
        for protocol in self.protocols() {
            let settings = self.effective(&protocol);
            // A wrong-typed value is reported at the value by `check_values`; the driver
            // mapping would report the same line again, less precisely.
            let (drivers, backends) = match (settings.drivers(), settings.backends()) {
                (Ok(d), Ok(b)) => (d, b),
                (Err(_), _) | (_, Err(_)) if !errors.is_empty() => {
                    return Err(ConfigError::Invalid(errors));
                }
                (Err(e), _) | (_, Err(e)) => return Err(e),
            };
            let configured = drivers.first().or(backends.first());
            let loaded = settings.push_notification_loaded();
            any_driver |= configured.is_some();
            let plugins = settings.mail_plugins().join(" ");
            match (configured, loaded) {
                (Some(spec), false) => warnings.push(Warning {
                    location: spec.location.clone(),
                    message: format!(
                        "protocol {protocol}: {} is set, but mail_plugins (\"{plugins}\") does \
                         not load both notify and push_notification, so no notifications are \
                         sent for {protocol}",
                        spec.key
                    ),
                }),
                (None, true) if protocol == "lmtp" || protocol == "lda" => {
                    warnings.push(Warning {
                        location: settings.get("mail_plugins").map(|s| s.location.clone()),
                        message: format!(
                            "protocol {protocol}: push_notification is loaded but no \
                             push_notification_driver is configured"
                        ),
                    });
                }
                _ => {}
            }
            for spec in drivers.iter().chain(&backends) {
                let id = spec
                    .location
                    .as_ref()
                    .map(|l| (l.file.display().to_string(), l.line, l.column))
                    .unwrap_or_default();
                if seen.contains(&id) {
                    continue;
                }
                seen.push(id);
                check_driver(spec, &mut warnings)?;
                errors.extend(self.check_driver_args(spec));
            }
        }
        if !errors.is_empty() {
            return Err(ConfigError::Invalid(errors));
        }
        if !any_driver {
            warnings.push(Warning {
                location: None,
                message: "no push_notification_driver is configured for any protocol".to_owned(),
            });
        }
        Ok(warnings)
    }
}

fn check_driver(spec: &DriverSpec, warnings: &mut Vec<Warning>) -> Result<(), ConfigError> {
    let warn = |warnings: &mut Vec<Warning>, message: String| {
        warnings.push(Warning {
            location: spec.location.clone(),
            message,
        });
    };
    if !KNOWN_DRIVERS
        .iter()
        .any(|d| d.eq_ignore_ascii_case(&spec.name))
    {
        warn(
            warnings,
            format!("Unknown push notification driver: {}", spec.name),
        );
    }
    // Unknown % variables are errors; values only a real user has are fine here.
    let probe = UserVars::new("user@example.com")
        .with_home("/home/user")
        .with_service("lmtp");
    if let Some(raw) = &spec.raw_args
        && let Err(source @ (ExpandError::Unknown(_) | ExpandError::Unterminated(_))) =
            expand(raw, &probe)
    {
        {
            return Err(ConfigError::Expand {
                key: spec.key.clone(),
                location: spec.location.clone().unwrap_or_else(|| crate::Location {
                    file: Default::default(),
                    line: 0,
                    column: 0,
                }),
                source,
            });
        }
    }
    if spec.name.eq_ignore_ascii_case("ox") && spec.args.get("url").is_none_or(str::is_empty) {
        warn(
            warnings,
            format!(
                "{}: Driver requires the url parameter (Dovecot disables this driver)",
                spec.name
            ),
        );
    }
    Ok(())
}

impl Config {
    /// The driver arguments of a 2.3 driver string that have a type, checked with the same
    /// parsers the drivers use, each error pointing at the argument. (2.4's named filters
    /// are settings of their own, which [`Config::check_values`] checks.)
    fn check_driver_args(&self, spec: &DriverSpec) -> Vec<Diagnostic> {
        if spec.key.contains(' ') {
            return Vec::new();
        }
        let name = spec.name.to_ascii_lowercase();
        let mut out = Vec::new();
        for (key, value) in spec.args.iter() {
            // Expanded per user at run time: nothing to say before.
            if value.contains('%') {
                continue;
            }
            let problem: Option<(String, String)> = match (name.as_str(), key) {
                ("ox", "url") => parse_url(value).err().map(|e| {
                    let reason = match e {
                        ValueError::Url { source, .. } => source.to_string(),
                        other => other.to_string(),
                    };
                    (
                        format!(
                            "ox: Failed to parse OX REST URL {}: {reason} (Dovecot disables \
                             this driver)",
                            mask_url_secrets(value)
                        ),
                        "an http:// or https:// URL".to_owned(),
                    )
                }),
                ("ox", "cache_lifetime") => parse_interval_secs(value).err().map(|e| {
                    (
                        format!(
                            "ox: Failed to parse OX cache_lifetime {value}: {e} (Dovecot \
                             disables this driver)"
                        ),
                        "a time interval without spaces such as 60s or 2mins".to_owned(),
                    )
                }),
                ("ox", "max_retries" | "timeout_msecs") | ("lua", "call_timeout_msecs") => {
                    parse_uint(value).err().map(|e| {
                        (
                            format!("{name}: {key}: {e}"),
                            "an unsigned number".to_owned(),
                        )
                    })
                }
                ("lua", "memory_limit") => parse_size(value).err().map(|e| {
                    (
                        format!("{name}: {key}: {e}"),
                        "a size such as 512k, 10M or 1G".to_owned(),
                    )
                }),
                _ => None,
            };
            if let Some((message, expected)) = problem {
                let (location, source_line) = self.arg_site(spec, key, value);
                out.push(Diagnostic {
                    location,
                    message,
                    expected: Some(format!("{}: {key}: {expected}", spec.key)),
                    source_line: mask_url_secrets(&source_line),
                });
            }
        }
        out
    }

    /// Where `key=value` is written in the driver string: its column on the line when it
    /// is there, else the start of the value.
    fn arg_site(&self, spec: &DriverSpec, key: &str, value: &str) -> (Location, String) {
        let Some(at) = &spec.location else {
            return (
                Location {
                    file: Default::default(),
                    line: 0,
                    column: 0,
                },
                String::new(),
            );
        };
        let Some((value_at, line)) = self.value_site(at).cloned() else {
            return (at.clone(), String::new());
        };
        let needle = format!("{key}={value}");
        let skip = usize::try_from(value_at.column.saturating_sub(1)).unwrap_or(0);
        let from = line.char_indices().nth(skip).map_or(line.len(), |(i, _)| i);
        match line[from..].find(&needle) {
            Some(i) => {
                let column = line[..from + i].chars().count() + 1;
                (
                    Location {
                        column: u32::try_from(column).unwrap_or(u32::MAX),
                        ..value_at
                    },
                    line,
                )
            }
            None => (value_at, line),
        }
    }
}
