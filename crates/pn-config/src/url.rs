//! HTTP URLs as lib-http's `http_url_parse(url, NULL, HTTP_URL_ALLOW_USERINFO_PART)` takes
//! them, with its error texts. The one URL parser of pn: the ox driver's `url=`, the
//! dispatcher's request target, the Lua HTTP client and the masking of secrets all use it, so
//! they agree on what the host is and on when credentials are sent.

use std::fmt;

use thiserror::Error;

/// A URL lib-http would refuse. `Display` gives lib-http's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum UrlError {
    /// No scheme (a relative reference).
    #[error("Relative HTTP URL not allowed")]
    Relative,
    /// The scheme has characters a scheme cannot have.
    #[error("Invalid URI scheme")]
    InvalidScheme,
    /// A scheme other than `http` and `https`.
    #[error("Not an HTTP URL")]
    NotHttp,
    /// `http:` not followed by `//`.
    #[error("Absolute HTTP URL requires `//' after `http:'")]
    MissingSlashes,
    /// `http:///…`.
    #[error("HTTP URL does not allow empty host identifier")]
    EmptyHost,
    /// An IPv6 literal without its `]`.
    #[error("Expecting ']' at end of IP-literal")]
    UnclosedIpLiteral,
    /// `[]`.
    #[error("Empty IPv6 host address")]
    EmptyIpv6,
    /// A port that is not a number from 0 to 65535.
    #[error("Invalid port number")]
    InvalidPort,
}

/// The parts of an `http`/`https` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// `http` or `https`, lower case.
    pub scheme: String,
    /// `host[:port]` as written, without userinfo (what the `Host` header carries).
    pub authority: String,
    /// The host as written (an IPv6 literal keeps its brackets).
    pub host: String,
    /// The port, when one is written.
    pub port: Option<u16>,
    /// Path and query, `/` when empty; the fragment is dropped.
    pub path_and_query: String,
    /// Percent-decoded user of `user[:password]@`.
    user: Option<String>,
    /// Percent-decoded password of `user:password@`.
    password: Option<String>,
}

/// The password never shows in debug output.
impl fmt::Debug for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpUrl")
            .field("scheme", &self.scheme)
            .field("authority", &self.authority)
            .field("path_and_query", &self.path_and_query)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// An authority split at its userinfo: `user`, `password` (both as written) and `host[:port]`.
/// The last `@` ends the userinfo, so a password with an unencoded `@` stays whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authority<'a> {
    /// The user, when there is a userinfo.
    pub user: Option<&'a str>,
    /// The password, when the userinfo has a `:`.
    pub password: Option<&'a str>,
    /// What follows the userinfo.
    pub host_port: &'a str,
}

impl<'a> Authority<'a> {
    /// Splits `user:password@host:port`.
    pub fn split(authority: &'a str) -> Authority<'a> {
        match authority.rfind('@') {
            None => Authority {
                user: None,
                password: None,
                host_port: authority,
            },
            Some(at) => {
                let userinfo = &authority[..at];
                let (user, password) = match userinfo.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (userinfo, None),
                };
                Authority {
                    user: Some(user),
                    password,
                    host_port: &authority[at + 1..],
                }
            }
        }
    }
}

/// Where the authority of `rest` (the text after `//`) ends.
pub fn authority_end(rest: &str) -> usize {
    rest.find(['/', '?', '#']).unwrap_or(rest.len())
}

impl HttpUrl {
    /// Parses `url` with lib-http's checks and messages.
    pub fn parse(url: &str) -> Result<HttpUrl, UrlError> {
        let first_slash = url.find('/');
        let Some(colon) = url.find(':').filter(|&c| first_slash.is_none_or(|s| c < s)) else {
            return Err(UrlError::Relative);
        };
        let scheme = &url[..colon];
        if scheme.is_empty()
            || !scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return Err(UrlError::InvalidScheme);
        }
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(UrlError::NotHttp);
        }
        let Some(rest) = url[colon + 1..].strip_prefix("//") else {
            return Err(UrlError::MissingSlashes);
        };
        let end = authority_end(rest);
        let parts = Authority::split(&rest[..end]);
        let (host, port) = split_host_port(parts.host_port)?;
        let path = rest[end..].split('#').next().unwrap_or_default();
        let path_and_query = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        Ok(HttpUrl {
            scheme,
            authority: parts.host_port.to_owned(),
            host: host.to_owned(),
            port,
            path_and_query,
            user: parts.user.map(percent_decode),
            password: parts.password.map(percent_decode),
        })
    }

    /// The user of the userinfo, percent-decoded.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The password of the userinfo, percent-decoded.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The credentials lib-http sends as Basic auth: only for a non-empty user with a
    /// password (`user:password@`, the password may be empty); `user@` and `:password@`
    /// send none (`http-client-request.c`).
    pub fn basic_credentials(&self) -> Option<(&str, &str)> {
        match (self.user.as_deref(), self.password.as_deref()) {
            (Some(user), Some(password)) if !user.is_empty() => Some((user, password)),
            _ => None,
        }
    }

    /// `scheme://host[:port]`.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }

    /// The URL without userinfo and fragment: safe to log.
    pub fn without_userinfo(&self) -> String {
        format!("{}{}", self.origin(), self.path_and_query)
    }

    /// The port, or the scheme's default (80, 443).
    pub fn port_or_default(&self) -> u16 {
        self.port
            .unwrap_or(if self.scheme == "https" { 443 } else { 80 })
    }
}

fn split_host_port(host_port: &str) -> Result<(&str, Option<u16>), UrlError> {
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let Some(close) = v6.find(']') else {
            return Err(UrlError::UnclosedIpLiteral);
        };
        if close == 0 {
            return Err(UrlError::EmptyIpv6);
        }
        let after = &v6[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(UrlError::InvalidPort),
        };
        (&host_port[..close + 2], port)
    } else {
        match host_port.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::EmptyHost);
    }
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().map_err(|_| UrlError::InvalidPort)?)
        }
        Some(_) => return Err(UrlError::InvalidPort),
    };
    Ok((host, port))
}

/// Decodes `%XX` escapes; an invalid escape stays as written.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(url: &str) -> String {
        HttpUrl::parse(url).unwrap_err().to_string()
    }

    #[test]
    fn parts_of_a_full_url() {
        let u = HttpUrl::parse("HTTPS://login:p%40ss@[::1]:8443/a/b?x=1#frag").unwrap();
        assert_eq!(u.scheme, "https");
        assert_eq!(u.authority, "[::1]:8443");
        assert_eq!(u.host, "[::1]");
        assert_eq!(u.port, Some(8443));
        assert_eq!(u.path_and_query, "/a/b?x=1");
        assert_eq!(u.basic_credentials(), Some(("login", "p@ss")));
        assert_eq!(u.without_userinfo(), "https://[::1]:8443/a/b?x=1");
        assert!(!format!("{u:?}").contains("p@ss"));
        let u = HttpUrl::parse("http://h?q").unwrap();
        assert_eq!(
            (u.path_and_query.as_str(), u.port_or_default()),
            ("/?q", 80)
        );
    }

    #[test]
    fn basic_auth_only_for_user_and_password_as_lib_http() {
        let creds = |url: &str| {
            HttpUrl::parse(url)
                .unwrap()
                .basic_credentials()
                .map(|(u, p)| format!("{u}:{p}"))
        };
        assert_eq!(creds("http://u:p@h/").as_deref(), Some("u:p"));
        assert_eq!(creds("http://u:@h/").as_deref(), Some("u:"));
        assert_eq!(creds("http://u@h/"), None);
        assert_eq!(creds("http://:p@h/"), None);
        assert_eq!(creds("http://h/"), None);
        assert_eq!(creds("http://u:p@ss@h/").as_deref(), Some("u:p@ss"));
    }

    #[test]
    fn lib_http_messages() {
        assert_eq!(err("/relative"), "Relative HTTP URL not allowed");
        assert_eq!(err("not a url"), "Relative HTTP URL not allowed");
        assert_eq!(err("1http://h"), "Invalid URI scheme");
        assert_eq!(err("ftp://h/"), "Not an HTTP URL");
        assert_eq!(
            err("http:h"),
            "Absolute HTTP URL requires `//' after `http:'"
        );
        assert_eq!(
            err("http:///x"),
            "HTTP URL does not allow empty host identifier"
        );
        assert_eq!(
            err("http://"),
            "HTTP URL does not allow empty host identifier"
        );
        assert_eq!(
            err("http://u:p@/x"),
            "HTTP URL does not allow empty host identifier"
        );
        assert_eq!(err("http://[::1/"), "Expecting ']' at end of IP-literal");
        assert_eq!(err("http://[]/"), "Empty IPv6 host address");
        for port in ["x", "", "99999", "-1"] {
            assert_eq!(err(&format!("http://h:{port}/")), "Invalid port number");
        }
    }

    #[test]
    fn authority_split_keeps_what_is_written() {
        let a = Authority::split("u%20x:p:q@h:1");
        assert_eq!(a.user, Some("u%20x"));
        assert_eq!(a.password, Some("p:q"));
        assert_eq!(a.host_port, "h:1");
        assert_eq!(Authority::split("h").user, None);
        assert_eq!(Authority::split("u@h").password, None);
    }
}
