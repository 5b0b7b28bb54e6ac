//! `pn config check`: what Dovecot would silently do differently from what was meant.

use crate::Config;
use crate::error::Warning;
use crate::plugin::KNOWN_DRIVERS;
use crate::time::{parse_interval_secs, parse_uint};
use crate::vars::{ExpandError, UserVars, expand};
use crate::{ConfigError, DriverSpec};

impl Config {
    /// Problems that make pn (and Dovecot) not do what the configuration seems to want:
    /// parse warnings; per protocol, drivers configured while `notify` and
    /// `push_notification` are not both loaded (and the reverse); unknown driver names;
    /// OX arguments Dovecot would reject (`cache_lifetime`, `max_retries`, `timeout_msecs`).
    ///
    /// Errors (unreadable `<file` values, unknown `%` variables in driver values) are
    /// returned as `Err`.
    pub fn check(&self) -> Result<Vec<Warning>, ConfigError> {
        let mut warnings = self.warnings().to_vec();
        let mut any_driver = false;
        let mut seen: Vec<(String, u32, u32)> = Vec::new();
        for protocol in self.protocols() {
            let settings = self.effective(&protocol);
            let drivers = settings.drivers()?;
            let backends = settings.backends()?;
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
            }
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
    if spec.name.eq_ignore_ascii_case("ox") {
        if let Some(v) = spec.args.get("cache_lifetime")
            && let Err(e) = parse_interval_secs(v)
        {
            {
                warn(
                    warnings,
                    format!(
                        "{}: Failed to parse OX cache_lifetime {v}: {e} (Dovecot disables this driver)",
                        spec.name
                    ),
                );
            }
        }
        for key in ["max_retries", "timeout_msecs"] {
            if let Some(v) = spec.args.get(key)
                && let Err(e) = parse_uint(v)
            {
                {
                    warn(
                        warnings,
                        format!(
                            "{}: {key}: {e} (Dovecot silently uses its default; pn warns)",
                            spec.name
                        ),
                    );
                }
            }
        }
        if spec.args.get("url").is_none_or(str::is_empty) {
            warn(
                warnings,
                format!(
                    "{}: Driver requires the url parameter (Dovecot disables this driver)",
                    spec.name
                ),
            );
        }
    }
    Ok(())
}
