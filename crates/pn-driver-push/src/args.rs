//! Argument parsing shared by both drivers: `key=value` numbers and the unknown-argument
//! check, with errors that name the argument and never echo a value that could be a secret.

use pn_config::DriverArgs;

/// A configuration error of either driver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// An argument the driver does not know.
    #[error("unknown argument {0:?} (known: {1})")]
    Unknown(String, String),
    /// A required argument or setting is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// An argument's value is wrong.
    #[error("{key}: {reason}")]
    Invalid {
        /// The argument or setting.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

/// Refuses arguments outside `known`. A stray value without `key=` would be its own "key",
/// so only name-like keys are echoed.
pub(crate) fn check_known(args: &DriverArgs, known: &[&str]) -> Result<(), ConfigError> {
    if let Some((key, _)) = args.iter().find(|(k, _)| !known.contains(k)) {
        let name_like = key.len() <= 24
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit());
        let shown = if name_like {
            key.to_owned()
        } else {
            "(not shown: not an argument name)".to_owned()
        };
        return Err(ConfigError::Unknown(shown, known.join(", ")));
    }
    Ok(())
}

/// `key=N` as a number, `default` when absent.
pub(crate) fn number(
    args: &DriverArgs,
    key: &'static str,
    default: u32,
) -> Result<u32, ConfigError> {
    match args.get(key) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
            key,
            reason: format!("{v:?} is not a whole number"),
        }),
    }
}

/// The `url=` of a driver: `http://` or `https://` with a host.
pub(crate) fn url(args: &DriverArgs) -> Result<String, ConfigError> {
    let url = args
        .get("url")
        .ok_or(ConfigError::Missing("argument url"))?;
    check_http_url("url", url)?;
    Ok(url.to_owned())
}

/// Whether `url` is an absolute `http(s)://host…` URL.
pub(crate) fn check_http_url(key: &'static str, url: &str) -> Result<(), ConfigError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') => Ok(()),
        _ => Err(ConfigError::Invalid {
            key,
            reason: "not an http:// or https:// URL with a host".to_owned(),
        }),
    }
}
