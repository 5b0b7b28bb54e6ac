//! What goes on the wire: the request URL taken apart, and the header block in the order
//! Dovecot's lib-http writes it (`http-client-request.c`, spec §5.4).

use std::time::SystemTime;

use base64::Engine;

/// A request URL split the way lib-http uses it.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    /// `http` or `https`, lower case.
    pub scheme: String,
    /// `host[:port]` as written, without userinfo: the `Host` header.
    pub authority: String,
    /// Path and query (`/` when empty): the request target.
    pub path_and_query: String,
    /// Percent-decoded `user` and `password`, when the URL had `user:password@`.
    credentials: Option<(String, String)>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("scheme", &self.scheme)
            .field("authority", &self.authority)
            .field("path_and_query", &self.path_and_query)
            .field("credentials", &self.credentials.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Target {
    /// Splits an `http`/`https` URL with pn-config's URL parser (lib-http's rules, shared
    /// with the drivers and `pn config check`). `None` for anything lib-http refuses.
    pub fn parse(url: &str) -> Option<Target> {
        let url = pn_config::HttpUrl::parse(url).ok()?;
        // lib-http sends Basic auth only for a non-empty user with a password (`user:pw@`).
        let credentials = url
            .basic_credentials()
            .map(|(user, password)| (user.to_owned(), password.to_owned()));
        Some(Target {
            scheme: url.scheme,
            authority: url.authority,
            path_and_query: url.path_and_query,
            credentials,
        })
    }

    /// `scheme://host[:port]`: the key of the connection pool.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }

    /// The URL without userinfo, safe to log and to hand to the HTTP client.
    pub fn url(&self) -> String {
        format!("{}{}", self.origin(), self.path_and_query)
    }

    /// `host:port` with the scheme's default port filled in, as Dovecot prints it in
    /// `connect(...) failed` messages.
    pub fn host_port(&self) -> String {
        let has_port = match self.authority.rfind(']') {
            Some(bracket) => self.authority[bracket..].contains(':'),
            None => self.authority.contains(':'),
        };
        if has_port {
            self.authority.clone()
        } else {
            let port = if self.scheme == "https" { 443 } else { 80 };
            format!("{}:{port}", self.authority)
        }
    }

    /// The `Authorization` value, when the URL carries credentials.
    pub fn basic_auth(&self) -> Option<String> {
        self.credentials.as_ref().map(|(user, password)| {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {token}")
        })
    }
}

/// The header block of one attempt, in lib-http's order: `Host`, `Date`, `Authorization`,
/// `Content-Length`, `Connection: Keep-Alive`, then `extra` (the driver's headers) as given.
pub fn headers(
    target: &Target,
    now: SystemTime,
    body_len: usize,
    extra: &[(String, String)],
) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(5 + extra.len());
    out.push(("Host".to_owned(), target.authority.clone()));
    out.push(("Date".to_owned(), httpdate::fmt_http_date(now)));
    if let Some(auth) = target.basic_auth() {
        out.push(("Authorization".to_owned(), auth));
    }
    out.push(("Content-Length".to_owned(), body_len.to_string()));
    out.push(("Connection".to_owned(), "Keep-Alive".to_owned()));
    out.extend(extra.iter().cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_split_decoded_and_kept_out_of_the_url() {
        let t = Target::parse("http://login:p%40ss@127.0.0.1:8080/a/b?x=1#frag").expect("url");
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert_eq!(t.path_and_query, "/a/b?x=1");
        assert_eq!(t.url(), "http://127.0.0.1:8080/a/b?x=1");
        assert_eq!(t.basic_auth().as_deref(), Some("Basic bG9naW46cEBzcw=="));
        assert!(!format!("{t:?}").contains("p%40ss"));
    }

    #[test]
    fn auth_only_for_user_and_password() {
        let auth = |u: &str| Target::parse(u).expect("url").basic_auth();
        assert_eq!(
            auth("http://login:pass@h/").as_deref(),
            Some("Basic bG9naW46cGFzcw==")
        );
        assert_eq!(auth("http://login@h/"), None);
        assert_eq!(auth("http://:pass@h/"), None);
        assert_eq!(auth("http://h/"), None);
    }

    #[test]
    fn only_http_and_https() {
        assert!(Target::parse("ftp://h/").is_none());
        assert!(Target::parse("HTTPS://h").is_some());
        assert!(Target::parse("http://").is_none());
    }

    #[test]
    fn default_ports_in_host_port() {
        let hp = |u: &str| Target::parse(u).expect("url").host_port();
        assert_eq!(hp("http://h/x"), "h:80");
        assert_eq!(hp("https://h"), "h:443");
        assert_eq!(hp("http://[::1]/"), "[::1]:80");
        assert_eq!(hp("http://[::1]:81/"), "[::1]:81");
    }

    #[test]
    fn header_order_is_dovecots() {
        let t = Target::parse("http://login:pass@127.0.0.1:47901/p").expect("url");
        let h = headers(
            &t,
            SystemTime::UNIX_EPOCH,
            247,
            &[(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
        );
        let names: Vec<_> = h.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "Host",
                "Date",
                "Authorization",
                "Content-Length",
                "Connection",
                "Content-Type"
            ]
        );
        assert_eq!(h[1].1, "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(h[4].1, "Keep-Alive");
    }
}
