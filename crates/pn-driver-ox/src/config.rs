//! The driver's arguments (`push_notification_driver = ox:<args>`, spec §5.1), parsed with
//! Dovecot's rules and messages.

use pn_config::{DriverSpec, HttpUrl, UrlError, mask_url_secrets, time};
use tracing::warn;

use crate::LOG_TARGET;

/// `DEFAULT_CACHE_LIFETIME_SECS`.
pub const DEFAULT_CACHE_LIFETIME_SECS: u32 = 60;
/// `DEFAULT_RETRY_COUNT`.
pub const DEFAULT_MAX_RETRIES: u32 = 1;
/// `DEFAULT_TIMEOUT_MSECS`.
pub const DEFAULT_TIMEOUT_MSECS: u32 = 2000;
/// lib-http's request timeout when `timeout_msecs=0`.
pub const LIB_HTTP_DEFAULT_TIMEOUT_MSECS: u32 = 60_000;

/// One ox driver instance's settings.
#[derive(Clone, PartialEq, Eq)]
pub struct OxConfig {
    /// The endpoint, possibly with `user:password@` (never logged as is).
    pub url: String,
    /// How long a metadata value is reused, in seconds (0: never).
    pub cache_lifetime_secs: u32,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Time per attempt, milliseconds (as configured; 0 means lib-http's 60000).
    pub timeout_msecs: u32,
    /// Put the metadata's `user=` into the body instead of the login name.
    pub user_from_metadata: bool,
}

impl std::fmt::Debug for OxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OxConfig")
            .field("url", &mask_url_secrets(&self.url))
            .field("cache_lifetime_secs", &self.cache_lifetime_secs)
            .field("max_retries", &self.max_retries)
            .field("timeout_msecs", &self.timeout_msecs)
            .field("user_from_metadata", &self.user_from_metadata)
            .finish()
    }
}

impl OxConfig {
    /// Parses the arguments as Dovecot's `push_notification_driver_ox_init` does. The error is
    /// Dovecot's text; where Dovecot silently falls back to a default (`max_retries`,
    /// `timeout_msecs`), pn does too but logs a warning naming the config location.
    pub fn from_spec(spec: &DriverSpec) -> Result<OxConfig, String> {
        let args = &spec.args;
        let Some(url) = args.get("url") else {
            return Err("Driver requires the url parameter".to_owned());
        };
        if let Err(e) = check_url(url) {
            return Err(format!(
                "Failed to parse OX REST URL {}: {e}",
                mask_url_secrets(url)
            ));
        }
        let user_from_metadata = args.contains("user_from_metadata");
        tracing::debug!(target: LOG_TARGET, "Using URL {}", mask_url_secrets(url));

        let cache_lifetime_secs = match args.get("cache_lifetime") {
            None => DEFAULT_CACHE_LIFETIME_SECS,
            Some(v) => time::parse_interval_secs(v)
                .map_err(|e| format!("Failed to parse OX cache_lifetime {v}: {e}"))?,
        };
        let max_retries = uint_or_default(spec, "max_retries", DEFAULT_MAX_RETRIES);
        let timeout_msecs = uint_or_default(spec, "timeout_msecs", DEFAULT_TIMEOUT_MSECS);
        tracing::debug!(target: LOG_TARGET, "Using cache lifetime: {cache_lifetime_secs}");
        Ok(OxConfig {
            url: url.to_owned(),
            cache_lifetime_secs,
            max_retries,
            timeout_msecs,
            user_from_metadata,
        })
    }

    /// Attempts in total (`max_retries + 1`, saturating).
    pub fn max_attempts(&self) -> u32 {
        self.max_retries.saturating_add(1)
    }

    /// The effective per-attempt timeout (0 → lib-http's 60000 ms).
    pub fn effective_timeout_msecs(&self) -> u32 {
        match self.timeout_msecs {
            0 => LIB_HTTP_DEFAULT_TIMEOUT_MSECS,
            n => n,
        }
    }
}

fn uint_or_default(spec: &DriverSpec, key: &str, default: u32) -> u32 {
    let Some(value) = spec.args.get(key) else {
        return default;
    };
    match time::parse_uint(value) {
        Ok(n) => n,
        Err(e) => {
            let location = spec
                .location
                .as_ref()
                .map(|l| format!("{l}: "))
                .unwrap_or_default();
            warn!(
                target: LOG_TARGET,
                "{location}{}: ignoring {key}={value} ({e}); using the default {default} (Dovecot ignores it silently)",
                spec.key
            );
            default
        }
    }
}

/// lib-http's `http_url_parse(url, NULL, HTTP_URL_ALLOW_USERINFO_PART)`: pn-config's URL
/// parser, the one the dispatcher and `pn config check` use too.
pub(crate) fn check_url(url: &str) -> Result<(), UrlError> {
    HttpUrl::parse(url).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &str) -> Result<OxConfig, String> {
        OxConfig::from_spec(&pn_config::parse_driver_value(
            "push_notification_driver",
            &format!("ox:{args}"),
        ))
    }

    #[test]
    fn defaults_and_presence_flag() {
        let c = parse("url=http://h/x user_from_metadata=no").expect("config");
        assert_eq!(c.cache_lifetime_secs, 60);
        assert_eq!((c.max_retries, c.max_attempts()), (1, 2));
        assert_eq!((c.timeout_msecs, c.effective_timeout_msecs()), (2000, 2000));
        assert!(c.user_from_metadata, "presence alone turns it on");
        let c = parse("url=http://h/x timeout_msecs=0 max_retries=x cache_lifetime=2mins")
            .expect("config");
        assert_eq!(c.effective_timeout_msecs(), 60_000);
        assert_eq!(c.max_retries, 1, "a bad value falls back to the default");
        assert_eq!(c.cache_lifetime_secs, 120);
        assert!(!c.user_from_metadata);
    }

    #[test]
    fn init_errors_are_dovecots_and_hide_the_password() {
        assert_eq!(parse("").unwrap_err(), "Driver requires the url parameter");
        assert_eq!(
            parse("url=ftp://login:secret@h/").unwrap_err(),
            "Failed to parse OX REST URL ftp://login:***@h/: Not an HTTP URL"
        );
        assert_eq!(
            parse("url=http://h/ cache_lifetime=5x").unwrap_err(),
            "Failed to parse OX cache_lifetime 5x: Invalid time interval: 5x"
        );
        assert!(!format!("{:?}", parse("url=http://u:secret@h/").expect("ok")).contains("secret"));
    }

    #[test]
    fn url_checks_use_lib_https_messages() {
        let check = |url: &str| check_url(url).map_err(|e| e.to_string());
        assert_eq!(check("http://login:pass@127.0.0.1:8080/x"), Ok(()));
        assert_eq!(check("HTTPS://h"), Ok(()));
        assert_eq!(check("http://[::1]:80/"), Ok(()));
        let err = |url: &str| check(url).unwrap_err();
        assert_eq!(err("ftp://h/"), "Not an HTTP URL");
        assert_eq!(err("/relative"), "Relative HTTP URL not allowed");
        assert_eq!(err("h/x"), "Relative HTTP URL not allowed");
        assert_eq!(
            err("http:h"),
            "Absolute HTTP URL requires `//' after `http:'"
        );
        assert_eq!(
            err("http:///x"),
            "HTTP URL does not allow empty host identifier"
        );
        assert_eq!(err("http://h:x/"), "Invalid port number");
        assert_eq!(err("http://h:99999/"), "Invalid port number");
        assert_eq!(err("1http://h"), "Invalid URI scheme");
    }
}
